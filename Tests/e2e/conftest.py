"""Fixtures for the end-to-end tests of relay, agent and demo-app.

Binaries come from $H2T_BIN (`swift build --show-bin-path`), defaulting to
.build/debug. Every process a fixture starts is stopped by PID when the
fixture ends; on a failure the stderr tails of the processes that logged
during the test are attached to the report.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

import cluster
from cluster import REPO, Processes


@pytest.fixture(scope="session")
def bins() -> Path:
    path = Path(os.environ.get("H2T_BIN") or REPO / ".build" / "debug")
    missing = [b for b in ("relay", "agent", "demo-app") if not (path / b).is_file()]
    if missing:
        pytest.fail(f"missing binaries in {path}: {', '.join(missing)} "
                    "(run `swift build` and set H2T_BIN=$(swift build --show-bin-path))")
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    subprocess.run([str(REPO / "Tools" / "gen-pki"), str(out), "--tenants", "acme,globex"],
                   check=True, capture_output=True, timeout=60)
    return out


@pytest.fixture(scope="session")
def logdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def session_procs(bins, pki, logdir):
    procs = Processes(bins, pki, logdir)
    yield procs
    procs.stop_all()


@pytest.fixture(scope="module")
def module_procs(bins, pki, logdir):
    procs = Processes(bins, pki, logdir)
    yield procs
    procs.stop_all()


@pytest.fixture
def procs(bins, pki, logdir):
    procs = Processes(bins, pki, logdir)
    yield procs
    procs.stop_all()


@pytest.fixture(scope="session")
def demo_app(session_procs):
    """One demo-app for the whole session; it is stateless."""
    return session_procs.demo_app()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    item.stash[_started] = time.time()
    yield


_started = pytest.StashKey[float]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    since = item.stash.get(_started, 0) - 1
    for proc in cluster.ALL:
        try:
            if proc.log.stat().st_mtime < since:
                continue
            report.sections.append((f"{proc.name} pid {proc.pid} stderr (tail)",
                                    proc.stderr_tail(60)))
        except OSError:
            pass

"""Settings from flags, H2TUNNEL_* variables and JSON or YAML config files (issue 15,
item 5 and acceptance e).

- A relay and an agent started from YAML files (relative paths taken from the file's
  folder) plus H2TUNNEL_* variables serve a browser end to end; a flag beats a variable.
- Bad configuration (unknown key, wrong type, missing file, unreadable key file, value out
  of range) stops the start with exit 64 and one line on stderr naming the key.
- `relay run --help` and `agent run --help` list every setting with its variable.
"""

import os
import re
import subprocess

import pytest

from cluster import AGENT_HOST, RELAY_HOST, TENANT_DOMAIN, Relay, curl

RELAY_SETTINGS = ["config", "listen", "hostname", "cert", "key", "agent-hostname", "agent-ca", "tenant-domain",
                  "admin-listen", "client-hello-timeout", "ping-interval", "ping-timeout", "grace-period",
                  "tcp-keepalive", "send-timeout", "max-tunnels-per-address", "agent-connection-streams", "threads",
                  "log-level", "log-format", "signing-key", "public-port", "agent-deny-fingerprint", "agent-deny-file",
                  "max-agent-connections-per-tenant", "proxy-protocol-from", "store",
                  "instance-name"]
AGENT_SETTINGS = ["config", "relay", "relay-hostname", "relay-ca", "cert", "key", "tenant-cert", "tenant-key",
                  "tenant-name", "upstream", "relay-public-key", "relay-url", "session-lifetime", "admin-listen",
                  "reconnect-base", "reconnect-max", "ping-interval", "ping-timeout", "grace-period", "tcp-keepalive",
                  "send-timeout", "handshake-timeout", "idle-timeout", "uplink-pacing", "threads", "log-level", "log-format"]


def variable(name: str) -> str:
    return "H2TUNNEL_" + name.upper().replace("-", "_")


def environment(**settings) -> dict:
    """This process's environment without any H2TUNNEL_* of its own, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("H2TUNNEL_")}
    env.update({variable(k.replace("_", "-")): str(v) for k, v in settings.items()})
    return env


def linked_pki(pki, folder):
    """The PKI under `folder`, so a config file there can name it relatively."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pki").symlink_to(pki)
    return folder


def relay_yaml(folder, **extra) -> str:
    lines = ["# relay.yaml: keys are the flags' names", 'listen: "127.0.0.1:0"', f"hostname: {RELAY_HOST}",
             "cert: pki/relay.pem", "key: pki/relay.key", f"agent-hostname: {AGENT_HOST}",
             "agent-ca: pki/agent-ca.pem", "ping-interval: 5"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in extra.items()]
    path = folder / "relay.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run_relay(bins, *args, env=None) -> subprocess.CompletedProcess:
    """A relay that must refuse to start: its exit and stderr."""
    return subprocess.run([str(bins / "relay"), "run", *map(str, args)], capture_output=True, text=True,
                          timeout=30, env=env or environment(), stdin=subprocess.DEVNULL)


def refused(result: subprocess.CompletedProcess, *names: str) -> str:
    """The one stderr line of a refused start, which must name each of `names`."""
    assert result.returncode == 64, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    assert "relay ready" not in result.stdout and "agent started" not in result.stdout
    return lines[0]


def test_yaml_files_and_variables_serve_end_to_end(procs, pki, demo_app, tmp_path):
    folder = linked_pki(pki, tmp_path / "etc")
    # tenant-domain and the admin port only from the environment.
    env = environment(tenant_domain=TENANT_DOMAIN, admin_listen="127.0.0.1:0")
    proc = procs.start("relay", [procs.bins / "relay", "run", "--config", relay_yaml(folder)], env=env)
    m = proc.wait_line(r"^relay ready public=127\.0\.0\.1:(\d+) admin=127\.0\.0\.1:(\d+)$")
    relay = Relay(proc, int(m.group(1)), int(m.group(2)))

    agent_yaml = folder / "agent.yaml"
    agent_yaml.write_text("\n".join([
        f'relay: "127.0.0.1:{relay.port}"', f"relay-hostname: {AGENT_HOST}", "relay-ca: pki/ca.pem",
        "cert: pki/tenants/acme/agent.pem", "key: pki/tenants/acme/agent.key",
        "tenant-cert: pki/tenants/acme/tenant.pem", "tenant-key: pki/tenants/acme/tenant.key",
        "reconnect-base: 0.1", "reconnect-max: 1", "upstream: tcp://127.0.0.1:1"]) + "\n")
    # The upstream in the file is wrong on purpose: the variable wins, and the flag wins over both.
    agent_env = environment(upstream="tcp://127.0.0.1:2", config=str(agent_yaml))
    agent = procs.start("agent-acme", [procs.bins / "agent", "run", "--upstream", demo_app.upstream,
                                       "--admin-listen", "127.0.0.1:0"], env=agent_env)
    relay.wait_agent("acme", proc=agent)
    done = curl(pki, relay)
    assert done.returncode == 0 and b"Hello from the demo app" in done.stdout, done.stderr


def test_variable_beats_file_and_flag_beats_variable(bins, pki, tmp_path):
    folder = linked_pki(pki, tmp_path / "etc")
    config = relay_yaml(folder, tenant_domain=TENANT_DOMAIN, admin_listen="off", threads=2)
    # The file's threads=2 is fine; the variable's 0 is not, so the variable was read...
    line = refused(run_relay(bins, "--config", config, env=environment(threads=0)), "H2TUNNEL_THREADS", "--threads")
    assert "must be between 1 and 1024, got 0" in line
    # ...and a flag's value wins over it: a bad flag is named, the variable is not read.
    line = refused(run_relay(bins, "--config", config, "--threads", "2000", env=environment(threads=0)), "--threads")
    assert line.startswith("Error: --threads must be between 1 and 1024, got 2000"), line


@pytest.mark.parametrize("content,names", [
    ('{"lisen": "127.0.0.1:0"}', ["unknown key 'lisen'"]),
    ('{"ping-interval": "soon"}', ["'ping-interval' must be a number", "--ping-interval", "H2TUNNEL_PING_INTERVAL"]),
    ('{"listen": ["127.0.0.1:0"]}', ["'listen' must be a string", "--listen"]),
    ('{"grace-period": -1}', ["'grace-period' must be between 0 and 86400, got -1", "H2TUNNEL_GRACE_PERIOD"]),
])
def test_bad_json_file_is_one_line_naming_the_key(bins, pki, tmp_path, content, names):
    config = tmp_path / "relay.json"
    config.write_text(content)
    refused(run_relay(bins, "--config", config), f"config file {config}", *names)


@pytest.mark.parametrize("content,names", [
    ("listen: 127.0.0.1:0\nlisen: x\n", ["unknown key 'lisen'"]),
    ("tenant-domain:\n  name: x\n", ["'tenant-domain' must be a string, not a mapping"]),
    ("max-agent-connections-per-tenant: 2.5\n", ["'max-agent-connections-per-tenant' must be a whole number"]),
])
def test_bad_yaml_file_is_one_line_naming_the_key(bins, tmp_path, content, names):
    config = tmp_path / "relay.yml"
    config.write_text(content)
    refused(run_relay(bins, "--config", config), f"config file {config}", *names)


def test_missing_config_file(bins, tmp_path):
    missing = tmp_path / "nowhere.yaml"
    refused(run_relay(bins, "--config", missing), f"cannot read config file {missing}")
    refused(run_relay(bins, env=environment(config=missing)), f"cannot read config file {missing}")


def test_unreadable_key_file_is_named(bins, pki, tmp_path):
    folder = linked_pki(pki, tmp_path / "etc")
    (folder / "keys").mkdir()
    # A directory opens but does not read (as root, whom a chmod 000 would not stop).
    config = relay_yaml(folder, tenant_domain=TENANT_DOMAIN, admin_listen="off")
    text = open(config).read().replace("key: pki/relay.key", "key: keys")
    open(config, "w").write(text)
    line = refused(run_relay(bins, "--config", config), f"config file {config}", "'key' cannot read",
                   str(folder / "keys"), "--key", "H2TUNNEL_KEY")
    assert "Is a directory" in line, line
    # From a variable, a missing agent key is named by the variable.
    result = subprocess.run([str(bins / "agent"), "run", "--relay", "127.0.0.1:9", "--relay-hostname", AGENT_HOST,
                             "--relay-ca", pki / "ca.pem", "--cert", pki / "tenants/acme/agent.pem",
                             "--upstream", "tcp://127.0.0.1:9", "--tenant-cert", pki / "tenants/acme/tenant.pem",
                             "--tenant-key", pki / "tenants/acme/tenant.key"],
                            capture_output=True, text=True, timeout=30,
                            env=environment(key=tmp_path / "missing.key"))
    line = refused(result, "H2TUNNEL_KEY cannot read", str(tmp_path / "missing.key"), "--key")
    if os.geteuid() != 0:
        locked = tmp_path / "locked.key"
        locked.write_text("x")
        locked.chmod(0)
        refused(run_relay(bins, "--config", config, "--key", locked), "--key cannot read", "Permission denied")


@pytest.mark.parametrize("binary,settings", [("relay", RELAY_SETTINGS), ("agent", AGENT_SETTINGS)])
def test_help_lists_every_setting_with_its_variable(bins, binary, settings):
    result = subprocess.run([str(bins / binary), "run", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result
    listed = re.findall(r"^  --([a-z0-9-]+) \S+(?:  \((H2TUNNEL_[A-Z0-9_]+)\))?$", result.stdout, re.M)
    names = [name for name, _ in listed]
    assert sorted(names) == sorted(settings), result.stdout
    for name, var in listed:
        # A long placeholder puts the variable on the next line.
        shown = var or re.search(rf"^  --{name} .*\n\s+\((H2TUNNEL_[A-Z0-9_]+)\)", result.stdout, re.M).group(1)
        assert shown == variable(name), (name, shown)
    assert "(default 127.0.0.1:909" in result.stdout and "0.1 to 3600" in result.stdout

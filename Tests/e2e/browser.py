"""Headless Chromium for the browser tests, driven by Selenium through Debian's
chromedriver.

Each Browser has a fresh profile (--user-data-dir), so no cookie, HSTS entry or
cache leaks between tests, and trusts exactly the dev certificates it is given:
--ignore-certificate-errors-spki-list takes the base64 SHA-256 of each leaf
certificate's SubjectPublicKeyInfo (Chromium honours it only together with
--user-data-dir). No CA is added to any trust store. `*.localhost` resolves to
loopback inside Chromium, so no DNS or hosts entry is needed.

Every step can be kept as a screenshot in the artifacts directory
($H2T_ARTIFACTS, default <repo>/test-artifacts/).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cluster import REPO, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def artifacts_dir() -> Path:
    """$H2T_ARTIFACTS, else <repo>/test-artifacts, else (a read-only checkout)
    a folder under the system's temp directory."""
    if configured := os.environ.get("H2T_ARTIFACTS"):
        return Path(configured)
    path = REPO / "test-artifacts"
    try:
        path.mkdir(exist_ok=True)
        return path
    except OSError:
        return Path(tempfile.gettempdir()) / "h2t-test-artifacts"


def spki_sha256(cert_pem: Path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo DER)) of a PEM certificate: the form
    --ignore-certificate-errors-spki-list wants. openssl is in Tools/setup's list."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert_pem), "-noout", "-pubkey"],
                         check=True, capture_output=True, timeout=30).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, capture_output=True, timeout=30).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def dev_certificates(pki: Path) -> list[Path]:
    """The certificates browsers meet in the dev PKI: the relay site's and every
    tenant's (not the CA, which would trust anything it signs)."""
    return [pki / "relay.pem", *sorted((pki / "tenants").glob("*/tenant.pem"))]


def missing() -> str | None:
    """Why browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (bash Tools/setup installs chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (bash Tools/setup installs it from PyPI)"
    return None


class Browser:
    """One headless Chromium with its own profile; `shot` saves numbered
    screenshots under artifacts/<name>/."""

    def __init__(self, name: str, trusted: list[Path], width: int = 1280, height: int = 900,
                 phone: bool = False, network_log: bool = False):
        """`phone` emulates a 390x844 touch screen at 3x (a current mid-size phone),
        so the page's viewport meta and narrow-screen CSS are what is seen.
        `network_log` keeps Chromium's DevTools network events for `network_events`."""
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.dir = artifacts_dir() / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.profile = tempfile.mkdtemp(prefix="h2t-chromium-")
        self.steps = 0
        self.events: list[dict] = []
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update"):
            options.add_argument(arg)
        if phone:
            options.add_experimental_option("mobileEmulation", {
                "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0, "touch": True}})
        if network_log:
            options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        if trusted:
            spkis = ",".join(spki_sha256(p) for p in trusted)
            options.add_argument(f"--ignore-certificate-errors-spki-list={spkis}")
        # Explicit driver path: Selenium Manager must not try to download anything.
        service = Service(executable_path=CHROMEDRIVER, log_output=str(self.dir / "chromedriver.log"))
        try:
            self.driver = webdriver.Chrome(options=options, service=service)
        except Exception:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_page_load_timeout(30)

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc):
        self.quit()

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def get(self, url: str):
        self.driver.get(url)

    def shot(self, step: str) -> Path:
        """Saves a screenshot of the current page as NN-step.png."""
        self.steps += 1
        slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        path = self.dir / f"{self.steps:02d}-{slug}.png"
        self.driver.save_screenshot(str(path))
        return path

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def next_hop_protocol(self) -> str:
        """The ALPN protocol of the current document's response ("h2", "http/1.1")."""
        return self.js("return performance.getEntriesByType('navigation')[0].nextHopProtocol")

    def network_events(self, method: str) -> list[dict]:
        """The params of every DevTools event named `method` so far (e.g.
        "Network.webSocketHandshakeResponseReceived"); needs `network_log`."""
        import json
        for entry in self.driver.get_log("performance"):  # only entries since the last call
            self.events.append(json.loads(entry["message"])["message"])
        return [e.get("params", {}) for e in self.events if e.get("method") == method]

    def is_certificate_error(self) -> bool:
        """Chromium's interstitial for an untrusted certificate."""
        title = self.driver.title or ""
        return "Privacy error" in title or "ERR_CERT" in (self.driver.page_source or "")

    def find(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_css(self, css: str, timeout: float = 15):
        """The first element matching `css`, polling until it exists."""
        return wait_until(lambda: (self.find_all(css) or [None])[0], timeout, f"element {css}", 0.1)

    def wait_url(self, pattern: str, timeout: float = 15) -> str:
        rx = re.compile(pattern)
        return wait_until(lambda: rx.search(self.driver.current_url) and self.driver.current_url,
                          timeout, f"URL matching /{pattern}/ (at {self.driver.current_url})", 0.1)

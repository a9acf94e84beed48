"""The browser harness itself: a real headless Chromium trusts exactly the dev
certificates given by SPKI hash (and nothing without them), loads the relay's
own site and a tenant's app through the tunnel (tcp:// mode), and runs the
app's live script under its CSP. Screenshots go to the artifacts directory."""

from __future__ import annotations

import pytest

import browser
from cluster import RELAY_HOST

pytestmark = pytest.mark.skipif(bool(browser.missing()), reason=browser.missing() or "")


@pytest.fixture(scope="module")
def setup(module_procs):
    app = module_procs.demo_app()
    relay = module_procs.relay()
    module_procs.agent(relay, app.upstream)
    return relay


def test_chromium_trusts_the_dev_certificates_by_spki(setup, pki):
    relay = setup
    with browser.Browser("browser-tls-trusted", browser.dev_certificates(pki)) as b:
        b.get(f"https://{RELAY_HOST}:{relay.port}/")
        b.shot("relay site")
        assert not b.is_certificate_error(), b.driver.title
        assert b.js("return location.protocol") == "https:"
        assert b.js("return performance.getEntriesByType('navigation')[0].responseStatus") > 0

        b.get(relay.url("acme", "/app"))
        table = b.wait_css("#ledgers")
        assert "Business account" in table.text
        # The live element is fed by /app/static/live.js over SSE: a script file,
        # allowed by the page's CSP (script-src 'self'), through the tunnel.
        live = b.find("#live")
        first = int(browser.wait_until(lambda: int(live.get_attribute("data-event-id")) or None,
                                       15, "a first live event", 0.1))
        b.shot("tenant app with a live update")
        browser.wait_until(lambda: int(live.get_attribute("data-event-id")) > first,
                           15, "a second live event", 0.1)
        assert live.get_attribute("data-state") == "live"
        assert "Live" in b.find("#live-text").text
        b.shot("tenant app after another live update")


def test_chromium_refuses_the_dev_certificates_without_the_flag(setup):
    relay = setup
    with browser.Browser("browser-tls-untrusted", []) as b:
        b.get(relay.url("acme", "/app"))
        b.shot("certificate refused")
        assert b.is_certificate_error(), b.driver.title
        assert not b.find_all("#ledgers")


def test_app_pages_fit_a_phone_screen(setup, pki):
    relay = setup
    with browser.Browser("browser-phone", browser.dev_certificates(pki), phone=True) as b:
        for path, element in (("/app", "#ledgers"), ("/app/ledgers/1930", "#vouchers")):
            b.get(relay.url("acme", path))
            b.wait_css(element)
            assert b.js("return window.innerWidth") < 500, "phone emulation is not in effect"
            # Nothing wider than the screen: tables scroll inside their card, not the page.
            assert b.js("return document.documentElement.scrollWidth <= window.innerWidth"), path
            b.shot(f"phone {path}")

"""Acceptance (a) of issue 13: a real headless Chromium signs in at the relay,
sees its companies (acme online, globex offline), opens acme, gets the ledger
pages served by demo-app through the acme agent in http:// mode over HTTP/2,
sees the live element update over SSE, signs out of the app and of the relay,
and lands on sign-in. A screenshot per step goes to the artifacts directory
(test-artifacts/browser-signin/ by default).

Element ids and URLs are the shared contract's (relay site: #signin,
#signin-submit, #companies, li.company[data-tenant][data-status], a.open,
#signout, #signout-submit; app: #ledgers, #user, #live, #signout-link)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import browser
from cluster import RELAY_HOST, TENANT_DOMAIN, wait_until

USER, PASSWORD = "alice", "correct horse battery staple"


def flags_missing(bins) -> str | None:
    """Why the sign-in pieces are not there yet, from the binaries' own help."""
    relay = subprocess.run([str(bins / "relay"), "run", "--help"], capture_output=True, timeout=30)
    agent = subprocess.run([str(bins / "agent"), "run", "--help"], capture_output=True, timeout=30)
    if b"--signing-key" not in relay.stdout + relay.stderr:
        return "relay run has no --signing-key yet (relay site not built in)"
    if b"--relay-public-key" not in agent.stdout + agent.stderr:
        return "agent run has no --relay-public-key yet (http:// mode not built in)"
    return None


def relay_cli(bins, *args, stdin: bytes = b"") -> str:
    result = subprocess.run([str(bins / "relay"), *map(str, args)], input=stdin,
                            capture_output=True, timeout=60)
    assert result.returncode == 0, f"relay {' '.join(map(str, args))}: {result.stderr.decode()}"
    return result.stdout.decode()


@pytest.fixture(scope="module")
def site(bins, pki, module_procs, tmp_path_factory):
    """A relay with a store and a signing key; alice may open acme (online: an
    http:// agent in front of demo-app) and globex (offline: no agent)."""
    if why := browser.missing() or flags_missing(bins):
        pytest.skip(why)
    store = tmp_path_factory.mktemp("signin") / "relay.sqlite"
    relay_cli(bins, "user", "add", USER, "--store", store, stdin=f"{PASSWORD}\n".encode())
    relay_cli(bins, "tenant", "add", "acme", "--name", "Acme Corporation", "--store", store)
    relay_cli(bins, "tenant", "add", "globex", "--name", "Globex", "--store", store)
    relay_cli(bins, "grant", USER, "acme", "--store", store)
    relay_cli(bins, "grant", USER, "globex", "--store", store)
    app = module_procs.demo_app()
    relay = module_procs.relay(extra=["--store", store, "--signing-key", pki / "signing.key"])
    module_procs.agent(relay, f"http://127.0.0.1:{app.port}", "acme", extra=[
        "--relay-public-key", pki / "signing.pub",
        "--relay-url", f"https://{RELAY_HOST}:{relay.port}"])
    return relay


def company(b: browser.Browser, tenant: str):
    return b.find(f'#companies li.company[data-tenant="{tenant}"]')


def sign_in(b: browser.Browser, relay_site: str):
    b.get(relay_site + "/signin")
    b.find('#signin input[name="username"]').send_keys(USER)
    b.find('#signin input[name="password"]').send_keys(PASSWORD)
    b.find("#signin-submit").click()
    b.wait_css("#companies")


def test_sign_in_open_a_company_see_live_data_over_h2_and_sign_out(site, pki):
    relay = site
    relay_site = f"https://{RELAY_HOST}:{relay.port}"
    tenant_origin = f"https://acme.{TENANT_DOMAIN}:{relay.port}"
    with browser.Browser("browser-signin", browser.dev_certificates(pki)) as b:
        # 1. The relay's site sends a stranger to sign-in.
        b.get(relay_site + "/")
        b.wait_css("#signin")
        assert b.driver.current_url.startswith(relay_site + "/signin"), b.driver.current_url
        b.find('#signin input[name="username"]').send_keys(USER)
        b.find('#signin input[name="password"]').send_keys(PASSWORD)
        b.shot("sign-in form filled")

        # 2. Signed in: the companies, acme online, globex offline.
        b.find("#signin-submit").click()
        b.wait_css("#companies")
        assert b.driver.current_url.rstrip("/") == relay_site, b.driver.current_url
        assert not b.find_all("#error")
        assert company(b, "acme").get_attribute("data-status") == "online"
        assert company(b, "globex").get_attribute("data-status") == "offline"
        assert "Acme Corporation" in company(b, "acme").text
        assert "Globex" in company(b, "globex").text
        b.shot("companies acme online globex offline")

        # 3. Open acme: relay ticket → agent session → demo-app's ledger pages,
        #    over HTTP/2 from the browser to the agent.
        company(b, "acme").find_element("css selector", "a.open").click()
        b.wait_css("#ledgers")
        assert b.driver.current_url == tenant_origin + "/app", b.driver.current_url
        assert b.next_hop_protocol() == "h2"
        assert "Business account" in b.find("#ledgers").text
        assert b.find("#user").text == USER  # X-Forwarded-User, set by the agent
        cookies = {c["name"]: c for c in b.driver.get_cookies()}
        session = cookies.get("__Host-h2t-session")
        assert session and session["secure"] and session["httpOnly"], cookies
        # What the app received, asked from the page itself (same origin, the session cookie).
        who = json.loads(b.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/api/whoami').then(r => r.text()).then(done, e => done(JSON.stringify({error: String(e)})));
        """))
        assert who["x-forwarded-user"] == USER and who["x-forwarded-proto"] == "https", who
        assert "h2t-session" not in (who["cookie"] or ""), "the session cookie must not reach the app"
        b.shot("acme ledgers through the agent over h2")

        # 4. The live element updates from /api/events (SSE through the agent).
        live = b.find("#live")
        first = wait_until(lambda: int(live.get_attribute("data-event-id") or 0) or None,
                           20, "a first live event", 0.1)
        wait_until(lambda: int(live.get_attribute("data-event-id") or 0) > first,
                   20, "a later live event", 0.1)
        assert live.get_attribute("data-state") == "live"
        assert re.search(r"Live · update \d+", b.find("#live-text").text)
        b.shot("live element updated")

        # 5. Book a voucher with the page's form (a POST through the agent with
        #    the session): it is listed; then one through the JSON API, which
        #    the live element counts without a reload.
        booked_before = int(live.get_attribute("data-vouchers"))
        form = b.find("#voucher-form")
        form.find_element("css selector", 'input[name="text"]').send_keys("Printer paper")
        form.find_element("css selector", 'input[name="amount"]').send_keys("49.90")
        b.shot("voucher form filled")
        b.find("#voucher-submit").click()
        url = b.wait_url(r"/app#recent-vouchers-\d+$")
        row = b.find("#" + url.rsplit("#", 1)[1])
        assert "Printer paper" in row.text and "49.90" in row.text
        live = b.find("#live")
        wait_until(lambda: int(live.get_attribute("data-vouchers") or 0) == booked_before + 1,
                   20, "the live element to count the new voucher", 0.1)
        b.shot("voucher booked")
        # Booked through the JSON API without reloading: only the event stream
        # can tell this page, so the count moving is the live update.
        status = b.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/api/vouchers', {method: 'POST', headers: {'Content-Type': 'application/json'},
                body: JSON.stringify({date: '2026-12-06', text: 'Coffee for the office',
                    lines: [{ledger: '5010', amount: 1850}, {ledger: '1930', amount: -1850}]})})
              .then(r => done(r.status), e => done(String(e)));
        """)
        assert status == 201, status
        wait_until(lambda: int(live.get_attribute("data-vouchers") or 0) == booked_before + 2,
                   20, "the live element to count the voucher booked through the API", 0.1)
        b.js("window.scrollTo(0, 0)")
        b.shot("live element counts the api voucher without a reload")

        # 6. A ledger page, navigated inside the app.
        b.find('#ledgers a[href="/app/ledgers/1930"]').click()
        b.wait_css("#vouchers")
        assert "Business account" in b.driver.title
        b.shot("ledger 1930 vouchers")

        # 7. Sign out of the app: the agent drops the session and sends the
        #    browser back to the relay's site, still signed in there.
        b.find("#signout-link").click()
        b.wait_css("#companies")
        assert b.driver.current_url.startswith(relay_site), b.driver.current_url
        b.shot("back at the relay after signing out of acme")

        # 8. Sign out of the relay: sign-in again.
        b.find("#signout-submit").click()
        b.wait_css("#signin")
        assert b.driver.current_url.startswith(relay_site + "/signin"), b.driver.current_url
        b.shot("signed out at sign-in")

        # 9. The app is closed now: its page leads to the relay's sign-in.
        b.get(tenant_origin + "/app")
        b.wait_css("#signin")
        assert b.driver.current_url.startswith(relay_site + "/signin"), b.driver.current_url
        assert not b.find_all("#ledgers")
        b.shot("acme after sign-out asks to sign in")


#: Opens a WebSocket to the page's own origin, echoes a text and a binary
#: message through it, and reports what came back (or the error).
WS_ECHO = """
const done = arguments[arguments.length - 1];
const ws = new WebSocket(`wss://${location.host}/ws/echo`);
ws.binaryType = "arraybuffer";
const got = [];
ws.onopen = () => { ws.send("grüß dich"); ws.send(new Uint8Array([0, 1, 2, 255]).buffer); };
ws.onmessage = (e) => {
  got.push(typeof e.data === "string" ? e.data : Array.from(new Uint8Array(e.data)));
  if (got.length === 2) { ws.close(1000); done({got}); }
};
ws.onerror = () => done({error: "websocket error", got});
setTimeout(() => done({error: "timeout", got}), 15000);
"""


def test_signed_in_page_echoes_over_websocket_and_offline_company_says_so(site, pki):
    """Chromium's own WebSocket through the agent, as RFC 8441 extended CONNECT
    on the page's HTTP/2 connection (the agent offers SETTINGS_ENABLE_CONNECT_PROTOCOL),
    to demo-app's /ws/echo; and the relay's answer for a company whose agent is
    not connected."""
    relay = site
    relay_site = f"https://{RELAY_HOST}:{relay.port}"
    with browser.Browser("browser-websocket", browser.dev_certificates(pki), network_log=True) as b:
        sign_in(b, relay_site)
        company(b, "acme").find_element("css selector", "a.open").click()
        b.wait_css("#ledgers")
        b.driver.set_script_timeout(20)
        result = b.driver.execute_async_script(WS_ECHO)
        assert result == {"got": ["grüß dich", [0, 1, 2, 255]]}, result
        # RFC 8441 on the page's h2 connection, not an HTTP/1.1 Upgrade: Chromium
        # reports status 200 (not 101) and sends no Sec-WebSocket-Key (§5).
        responses = b.network_events("Network.webSocketHandshakeResponseReceived")
        assert len(responses) == 1, responses
        assert responses[0]["response"]["status"] == 200, responses
        assert "Sec-WebSocket-Key" not in responses[0]["response"].get("requestHeaders", {}), responses
        b.shot("acme page after a websocket echo")

        b.get(relay_site + "/")
        b.wait_css("#companies")
        company(b, "globex").find_element("css selector", "a.open").click()
        status = b.js("return performance.getEntriesByType('navigation')[0].responseStatus")
        b.shot("globex offline")
        assert status == 503, status
        assert "offline" in b.driver.page_source.lower()


def test_the_whole_flow_fits_a_phone_screen(site, pki):
    """Sign-in, companies and the app on an emulated phone: nothing wider than
    the screen (tables scroll in their cards, forms wrap)."""
    relay = site
    relay_site = f"https://{RELAY_HOST}:{relay.port}"

    def fits() -> bool:
        return b.js("return document.documentElement.scrollWidth <= window.innerWidth")

    with browser.Browser("browser-signin-phone", browser.dev_certificates(pki), phone=True) as b:
        b.get(relay_site + "/")
        b.wait_css("#signin")
        assert b.js("return window.innerWidth") < 500, "phone emulation is not in effect"
        assert fits(), "sign-in"
        b.shot("phone sign-in")
        b.find('#signin input[name="username"]').send_keys(USER)
        b.find('#signin input[name="password"]').send_keys(PASSWORD)
        b.find("#signin-submit").click()
        b.wait_css("#companies")
        assert fits(), "companies"
        b.shot("phone companies")
        company(b, "acme").find_element("css selector", "a.open").click()
        b.wait_css("#ledgers")
        assert fits(), "app"
        b.shot("phone acme ledgers")

"""http:// mode (issue 13, items 5 and 6): tickets, sessions and the reverse proxy.

Tickets are minted here as the relay mints them (Ed25519, dev PKI signing.key);
the agent's front answers on the tenant host inside the browser's TLS.
"""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import http_front as hf
from cluster import TENANT_DOMAIN

HOST = f"acme.{TENANT_DOMAIN}"


@pytest.fixture(scope="module")
def setup(module_procs):
    relay, agent, app = hf.start_front(module_procs)
    return module_procs.pki, relay, agent, app


def redeem(pki, relay, ticket: str, r: str = "/"):
    out = hf.curl(pki, relay, f"/.h2tunnel/ticket?t={ticket}&r={r}", "-i")
    return hf.head_and_body(out.stdout)


def whoami(pki, relay, cookie: str | None, *args, path: str = "/headers"):
    extra = ["-H", f"Cookie: {hf.COOKIE}={cookie}"] if cookie else []
    out = hf.curl(pki, relay, path, "-i", *extra, *args)
    return hf.head_and_body(out.stdout)


def test_ticket_sets_cookie_and_requests_reach_the_app(setup):
    pki, relay, agent, _ = setup
    status, headers, _ = redeem(pki, relay, hf.mint(pki / "signing.key", user="alice"), r="/headers?x=1")
    assert status == 303
    assert headers["location"] == ["/headers?x=1"]
    cookie = headers["set-cookie"][0]
    for attribute in ("Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age=28800"):
        assert attribute in cookie, cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    status, _, body = whoami(pki, relay, value)
    assert status == 200
    seen = json.loads(body)["headers"]
    assert seen["x-forwarded-user"] == ["alice"]
    assert seen["x-forwarded-proto"] == ["https"]
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["host"] == [f"{HOST}:{relay.port}"]
    assert "cookie" not in seen, "the session cookie must not reach the app"
    assert agent.proc.wait_stderr(r"signed in.*user=alice")


@pytest.mark.parametrize("version,expected", [("--http1.1", "1.1"), ("--http2", "2")])
def test_both_http_versions_by_alpn(setup, version, expected):
    pki, relay, _, _ = setup
    cookie = hf.sign_in(pki, relay)
    out = hf.curl(pki, relay, "/headers", version, "-H", f"Cookie: {hf.COOKIE}={cookie}",
                  "-o", "/dev/null", "-w", "%{http_version} %{response_code}")
    assert out.stdout.decode() == f"{expected} 200", out.stderr


def test_no_session_redirects_to_the_relay_with_the_return_url(setup):
    pki, relay, _, _ = setup
    status, headers, _ = whoami(pki, relay, None, path="/a/b?c=d%20e")
    assert status == 302
    assert headers["location"] == [f"{hf.relay_url(relay)}/open/acme?r=/a/b%3Fc%3Dd%2520e"]


def test_no_session_on_a_post_is_401(setup):
    pki, relay, _, _ = setup
    status, _, body = whoami(pki, relay, None, "-X", "POST", "--data", "x=1", path="/sha256")
    assert status == 401
    assert b"Not signed in" in body


@pytest.mark.parametrize("case,reason,text", [
    ("expired", "expired", b"expired"),
    ("forged", "bad-signature", b"not issued by the relay"),
    ("other-tenant", "wrong-audience", b"another company"),
    ("garbage", "malformed", b"damaged"),
])
def test_refused_tickets(setup, case, reason, text):
    pki, relay, agent, _ = setup
    key = pki / "signing.key"
    ticket = {
        "expired": lambda: hf.mint(key, issued=time.time() - 120),
        "forged": lambda: hf.mint(None, key=Ed25519PrivateKey.generate()),
        "other-tenant": lambda: hf.mint(key, host=f"globex.{TENANT_DOMAIN}"),
        "garbage": lambda: "not.a.jwt",
    }[case]()
    status, headers, body = redeem(pki, relay, ticket)
    assert status == 403
    assert "set-cookie" not in headers
    assert text in body
    assert f'<a id="next" href="{hf.relay_url(relay)}/">'.encode() in body
    assert agent.proc.wait_stderr(rf"ticket refused.*reason={reason}")


def test_replayed_ticket_is_refused(setup):
    pki, relay, agent, _ = setup
    ticket = hf.mint(pki / "signing.key")
    assert redeem(pki, relay, ticket)[0] == 303
    status, headers, body = redeem(pki, relay, ticket)
    assert status == 403
    assert "set-cookie" not in headers
    assert b"already used" in body
    assert agent.proc.wait_stderr(r"ticket refused.*reason=replayed")


@pytest.mark.parametrize("target,landing", [
    ("/x/y?z=1", "/x/y?z=1"), ("//evil.example/", "/"), ("/\\evil.example", "/"), ("https://evil.example/", "/"),
])
def test_return_path_is_local_only(setup, target, landing):
    pki, relay, _, _ = setup
    from urllib.parse import quote
    status, headers, _ = redeem(pki, relay, hf.mint(pki / "signing.key"), r=quote(target, safe=""))
    assert status == 303
    assert headers["location"] == [landing]


def test_tampered_cookie_is_no_session(setup):
    pki, relay, _, _ = setup
    cookie = hf.sign_in(pki, relay, user="alice")
    header, payload, signature = cookie.split(".")
    claims = json.loads(hf.base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged = f"{header}.{hf.b64url(json.dumps(claims).encode())}.{signature}"
    status, headers, _ = whoami(pki, relay, forged)
    assert status == 302
    assert headers["location"][0].startswith(f"{hf.relay_url(relay)}/open/acme?r=")


def test_browser_sent_forwarding_headers_are_stripped(setup):
    pki, relay, _, _ = setup
    cookie = hf.sign_in(pki, relay, user="alice")
    # HTTP/1.1: over HTTP/2 curl itself drops Connection (RFC 9113 §8.2.2).
    status, _, body = whoami(pki, relay, cookie, "--http1.1", "-H", "X-Forwarded-User: admin", "-H", "X-Forwarded-For: 10.9.9.9",
                             "-H", "X-Forwarded-Proto: http", "-H", "Forwarded: for=10.9.9.9",
                             "-H", "Connection: X-Secret", "-H", "X-Secret: 1",
                             "-H", f"Cookie: theme=dark; {hf.COOKIE}={cookie}; lang=en")
    assert status == 200
    seen = json.loads(body)["headers"]
    assert seen["x-forwarded-user"] == ["alice"]
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["https"]
    assert "forwarded" not in seen
    assert "x-secret" not in seen, "a header Connection lists is hop-by-hop (RFC 9110 §7.6.1)"
    assert seen["cookie"] == ["theme=dark; lang=en"]


def test_sign_out_clears_the_cookie(setup):
    pki, relay, _, _ = setup
    cookie = hf.sign_in(pki, relay)
    status, headers, _ = whoami(pki, relay, cookie, "-X", "POST", path="/.h2tunnel/signout")
    assert status == 303
    assert headers["location"] == [f"{hf.relay_url(relay)}/"]
    assert any(c.startswith(f"{hf.COOKIE}=;") and "Max-Age=0" in c for c in headers["set-cookie"])


@pytest.mark.parametrize("version", ["--http1.1", "--http2"])
def test_head_keeps_the_apps_content_length(setup, version):
    pki, relay, _, _ = setup
    cookie = hf.sign_in(pki, relay)
    out = hf.curl(pki, relay, "/bytes/12345", "-I", version, "-H", f"Cookie: {hf.COOKIE}={cookie}")
    assert out.returncode == 0, out.stderr
    status, headers, body = hf.head_and_body(out.stdout)
    assert status == 200
    assert headers["content-length"] == ["12345"]
    assert body == b""

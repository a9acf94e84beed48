"""demo-app on its own: the endpoints other tests and the demo rely on
(/api/whoami, /api/events, /ws/echo) and the ledger example (JSON API and
pages), against a real socket. Its own demo-app, because these tests book
vouchers."""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import time

import pytest

import wsclient
from cluster import wait_until


@pytest.fixture(scope="module")
def app(module_procs):
    return module_procs.demo_app()


def request(app, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_root_keeps_its_greeting(app):
    status, _, body = request(app, "GET", "/", headers={"X-Forwarded-User": "alice"})
    assert status == 200 and body.startswith(b"Hello from the demo app\n")
    assert b"X-Forwarded-User: alice\n" in body


def test_whoami_reports_the_forwarding_headers_and_null_when_absent(app):
    status, headers, body = request(app, "GET", "/api/whoami", headers={
        "X-Forwarded-User": "alice", "X-Forwarded-For": "192.0.2.7"})
    assert status == 200 and headers["content-type"] == "application/json"
    who = json.loads(body)
    assert who["x-forwarded-user"] == "alice"
    assert who["x-forwarded-for"] == "192.0.2.7"
    assert who["x-forwarded-proto"] is None and who["cookie"] is None


def test_whoami_shows_a_repeated_header_as_a_list(app):
    """A browser-sent copy that an agent failed to strip would show up this way."""
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    conn.putrequest("GET", "/api/whoami")
    conn.putheader("X-Forwarded-User", "mallory")
    conn.putheader("X-Forwarded-User", "alice")
    conn.endheaders()
    assert json.loads(conn.getresponse().read())["x-forwarded-user"] == "mallory, alice"
    conn.close()


def read_event(sock_file) -> dict:
    """One SSE event's fields (id, data) from a text stream, up to its blank line."""
    fields = {}
    while True:
        line = sock_file.readline()
        assert line, "event stream ended"
        line = line.rstrip(b"\r\n").decode()
        if not line:
            if fields:
                return fields
            continue
        name, _, value = line.partition(":")
        fields[name] = value.lstrip(" ")


def test_events_arrive_one_a_second_each_flushed(app):
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as sock:
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: app\r\nLast-Event-ID: 41\r\n\r\n")
        stream = sock.makefile("rb")
        status = stream.readline()
        assert status.startswith(b"HTTP/1.1 200"), status
        head = b""
        while (line := stream.readline()) not in (b"\r\n", b""):
            head += line.lower()
        assert b"content-type: text/event-stream" in head
        assert b"transfer-encoding: chunked" in head
        # Raw chunked framing: a size line, then the event, so read events by lines
        # and skip the chunk-size lines (hex digits alone on a line).
        events, arrivals = [], []
        while len(events) < 3:
            line = stream.readline()
            assert line, "stream ended early"
            if re.fullmatch(rb"[0-9a-f]+\r\n", line):
                continue
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
                arrivals.append(time.monotonic())
        assert [e["id"] for e in events] == [42, 43, 44]
        assert all(isinstance(e["vouchers"], int) for e in events)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        assert all(0.5 < g < 2.5 for g in gaps), gaps


def test_event_stream_ends_when_the_client_leaves(app):
    ended = re.compile(r"event stream ended, client left after (\d+) events")
    before = len(ended.findall(app.proc.stderr_text()))
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as sock:
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: app\r\n\r\n")
        seen = b""
        while b"data: " not in seen:
            chunk = sock.recv(4096)
            assert chunk, "stream ended before its first event"
            seen += chunk
    wait_until(lambda: len(ended.findall(app.proc.stderr_text())) > before, 10,
               "demo-app to end the event stream")
    assert int(ended.findall(app.proc.stderr_text())[-1]) >= 1


def test_ws_echo_text_binary_fragments_ping_and_close(app):
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as sock:
        ws = wsclient.WebSocket.connect(sock, "app")
        ws.send(wsclient.TEXT, "grüß dich".encode())
        assert ws.recv() == (wsclient.TEXT, True, "grüß dich".encode())
        big = bytes(range(256)) * 400  # 100 KiB, larger than NIO's default frame limit
        ws.send(wsclient.BINARY, big)
        assert ws.recv() == (wsclient.BINARY, True, big)
        ws.send(wsclient.TEXT, b"frag", fin=False)
        ws.send(wsclient.CONTINUATION, b"ment", fin=True)
        assert ws.recv() == (wsclient.TEXT, False, b"frag")
        assert ws.recv() == (wsclient.CONTINUATION, True, b"ment")
        ws.send(wsclient.PING, b"are you there")
        assert ws.recv() == (wsclient.PONG, True, b"are you there")
        opcode, _, payload = ws.close(1000)
        assert opcode == wsclient.CLOSE and struct.unpack("!H", payload[:2])[0] == 1000
        assert sock.recv(1) == b"", "server must close the TCP connection after the close"


def test_ws_echo_without_upgrade_is_426(app):
    status, headers, _ = request(app, "GET", "/ws/echo")
    assert status == 426 and headers["upgrade"] == "websocket"


def test_ledgers_list_and_one_ledger_with_vouchers(app):
    status, _, body = request(app, "GET", "/api/ledgers")
    listing = json.loads(body)
    assert status == 200 and listing["company"]
    ids = [l["id"] for l in listing["ledgers"]]
    assert "1930" in ids
    # Double entry: the balances of all ledgers sum to zero.
    assert sum(l["balance"] for l in listing["ledgers"]) == 0
    status, _, body = request(app, "GET", "/api/ledgers/1930")
    assert status == 200 and json.loads(body)["name"] == "Business account"
    status, _, body = request(app, "GET", "/api/ledgers/1930/vouchers")
    vouchers = json.loads(body)["vouchers"]
    assert status == 200 and vouchers
    assert all(any(line["ledger"] == "1930" for line in v["lines"]) for v in vouchers)
    assert request(app, "GET", "/api/ledgers/9999")[0] == 404
    assert request(app, "GET", "/api/ledgers/9999/vouchers")[0] == 404


def post_voucher(app, payload, content_type="application/json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request(app, "POST", "/api/vouchers", body, {"Content-Type": content_type})


def test_post_voucher_books_it_and_moves_balances(app):
    before = json.loads(request(app, "GET", "/api/ledgers/6212")[2])["balance"]
    status, headers, body = post_voucher(app, {
        "date": "2026-12-05", "text": "  Mobile plan  ",
        "lines": [{"ledger": "6212", "amount": 19900}, {"ledger": "1930", "amount": -19900}]})
    assert status == 201, body
    voucher = json.loads(body)
    assert voucher["text"] == "Mobile plan" and headers["location"] == f"/api/vouchers/{voucher['id']}"
    assert json.loads(request(app, "GET", headers["location"])[2]) == voucher
    assert json.loads(request(app, "GET", "/api/ledgers/6212")[2])["balance"] == before + 19900


@pytest.mark.parametrize("payload, reason", [
    ({"date": "2026-02-29", "text": "x", "lines": [{"ledger": "1930", "amount": 1}, {"ledger": "3010", "amount": -1}]}, "date"),
    ({"date": "2026-12-05", "text": " ", "lines": [{"ledger": "1930", "amount": 1}, {"ledger": "3010", "amount": -1}]}, "text"),
    ({"date": "2026-12-05", "text": "x", "lines": [{"ledger": "1930", "amount": 5}]}, "2 to"),
    ({"date": "2026-12-05", "text": "x", "lines": [{"ledger": "1930", "amount": 5}, {"ledger": "3010", "amount": -4}]}, "sum to zero"),
    ({"date": "2026-12-05", "text": "x", "lines": [{"ledger": "0000", "amount": 1}, {"ledger": "3010", "amount": -1}]}, "unknown ledger"),
    ({"date": "2026-12-05", "text": "x", "lines": [{"ledger": "1930", "amount": 0}, {"ledger": "3010", "amount": 0}]}, "zero"),
    ({"date": "2026-12-05", "lines": []}, "expected"),
    (b"{not json", "expected"),
])
def test_post_invalid_voucher_is_400_with_a_reason(app, payload, reason):
    status, _, body = post_voucher(app, payload)
    assert status == 400 and reason in json.loads(body)["error"]


def test_post_voucher_needs_json_and_a_small_body(app):
    assert post_voucher(app, b"date=2026-12-05", "application/x-www-form-urlencoded")[0] == 415
    assert post_voucher(app, b"{" + b" " * 20000 + b"}")[0] == 413


def test_app_page_shows_ledgers_user_live_element_and_signout(app):
    status, headers, body = request(app, "GET", "/app", headers={"X-Forwarded-User": "<alice>"})
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "<script>" not in page and " style=" not in page, "no inline code under the CSP"
    assert 'id="user">&lt;alice&gt;</strong>' in page
    assert 'id="live"' in page and 'href="/.h2tunnel/signout"' in page
    assert 'data-ledger="1930"' in page
    for asset, kind in (("/app/static/live.js", "text/javascript"), ("/app/static/app.css", "text/css")):
        status, headers, body = request(app, "GET", asset)
        assert status == 200 and headers["content-type"].startswith(kind) and body


def test_voucher_text_is_escaped_on_the_page(app):
    status, _, _ = post_voucher(app, {
        "date": "2026-12-05", "text": "<img src=x onerror=alert(1)>",
        "lines": [{"ledger": "5010", "amount": 100}, {"ledger": "1930", "amount": -100}]})
    assert status == 201
    page = request(app, "GET", "/app/ledgers/5010")[2].decode()
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
    assert request(app, "GET", "/app/ledgers/0000")[0] == 404


def test_root_sends_browsers_to_the_pages_and_keeps_the_greeting_for_others(app):
    status, headers, _ = request(app, "GET", "/", headers={
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"})
    assert status == 303 and headers["location"] == "/app"
    status, _, body = request(app, "GET", "/", headers={"Accept": "*/*"})
    assert status == 200 and body.startswith(b"Hello from the demo app\n")


def post_form(app, fields: dict):
    from urllib.parse import urlencode
    return request(app, "POST", "/app/vouchers", urlencode(fields).encode(),
                   {"Content-Type": "application/x-www-form-urlencoded"})


def test_the_form_books_a_voucher_and_redirects_to_it(app):
    status, headers, _ = post_form(app, {"date": "2026-12-05", "text": "Desk lamp & bulbs",
                                         "debit": "5010", "credit": "1930", "amount": "1,234.5"})
    assert status == 303
    m = re.fullmatch(r"/app#recent-vouchers-(\d+)", headers["location"])
    assert m, headers["location"]
    voucher = json.loads(request(app, "GET", f"/api/vouchers/{m.group(1)}")[2])
    assert voucher["text"] == "Desk lamp & bulbs"
    assert voucher["lines"] == [{"ledger": "5010", "amount": 123450}, {"ledger": "1930", "amount": -123450}]
    page = request(app, "GET", "/app")[2].decode()
    assert f'id="recent-vouchers-{m.group(1)}"' in page and "Desk lamp &amp; bulbs" in page


@pytest.mark.parametrize("fields, reason", [
    ({"amount": "12.345"}, "at most two decimals"),
    ({"amount": "-5"}, "positive number"),
    ({"debit": "1930"}, "different ledgers"),
    ({"date": "2026-13-01"}, "calendar date"),
    ({"debit": "<b>"}, "unknown ledger"),
])
def test_the_form_refuses_bad_input_keeping_what_was_typed(app, fields, reason):
    typed = {"date": "2026-12-05", "text": "<script>x</script>", "debit": "6212",
             "credit": "1930", "amount": "10.00", **fields}
    status, _, body = post_form(app, typed)
    page = body.decode()
    assert status == 400 and 'id="form-error"' in page and reason in page, page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page

#!/usr/bin/env python3
"""replay.py: replay the reference transcripts against the server under test.

    python3 replay.py --port 18001 --ping300-port 18005 --maxbuf-port 18003 [--path /socket.io/]
                      [--cors-port P --cookie-port P --py-port P --py-star-port P]

--port          server with default options               (transcripts recorded on 17001)
--ping300-port  server with --ping-interval 300 only      (recorded on 17002)
--maxbuf-port   server with --max-payload 1000            (recorded on 17003)
--cors-port     sio --cors-mode js --cors-allowed-origins https://example.com (17004)
--cookie-port   sio --cookie io                           (recorded on 17005)
--py-port       sio with python-socketio's default CORS   (17101, python-socketio 5.7.2)
--py-star-port  sio --cors-allowed-origins '*'            (17102, python-socketio 5.7.2)
A transcript whose server is not given is not run (run.sh --ref gives no
--py-* ports: the JS reference server has no python CORS semantics).

py_* transcripts were captured from python-socketio 5.7.2 on aiohttp, whose
framing is not ours (Server header, no keep-alive, a handshake without
maxPayload and another key order). They are compared on what the CORS
behaviour decides: status line, the headers in order without Date, Server,
Connection, Keep-Alive and cache-control, the body exactly, except that a
handshake body is compared as JSON without maxPayload (and its
Content-Length is then not compared). The recorded port in Origin values is
replaced by the server's port, in the request and in the expected reply.

js_gzip_* bodies are compared decompressed (the compressed bytes may differ).

Transcripts: $SIO_FIXTURES (the fixtures dir or its reference/ subdir), else
<repo root>/tests/fixtures/reference. Each *.http file is one request
followed by the server's response bytes. For each one the state the request
needs is set up first (handshake, Socket.IO connect, pending GET, upgrade...),
the fresh sid and the port are substituted into the recorded request, and the
response is compared with the recorded one after normalising Date values and
sids: status line, header names and values in order, body as framed.

Prints "ok - file" / "not ok - file: first difference", then "N passed, N failed".
"""
import argparse
import glob
import os
import re
import socket
import sys
import time
import json
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import (  # noqa: E402
    Conn, Pending, WireError, eio_q, get, handshake, post, split_payload, ws_open,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

# Transcripts not replayed yet (none left).
LATER = []

# Where sio answers differently on purpose: the bytes it sends instead, and
# why (docs/RELIABILITY.md). The JS server reads a body over
# maxHttpBufferSize to its end before its 413; sio refuses it from the
# Content-Length and closes, so that a client cannot make it read 1 GB.
DIFFERS = {
    "js_err_post_oversize.http":
        b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
}

# recorded Host port -> server kind
RECORDED_PORTS = {17001: "default", 17002: "ping300", 17003: "maxbuf1000", 17004: "cors",
                  17005: "cookie", 17101: "py", 17102: "pystar"}

SID_RE = re.compile(rb'"sid":"[A-Za-z0-9_-]{20}"')
REQ_SID_RE = re.compile(rb"([?&]sid=)([A-Za-z0-9_-]{20})")
HOST_RE = re.compile(rb"\r\nHost: 127\.0\.0\.1:\d+\r\n")
# The echo plugin emits "auth" right after a Socket.IO connect; the recorded
# server did not. The harness removes that one packet (see strip_auth).
AUTH_PACKET = b'\x1e42["auth",{}]'
UNKNOWN_SID = b"AAAAAAAAAAAAAAAAAAAA"


class ReplayError(Exception):
    pass


def fixtures_dir():
    env = os.environ.get("SIO_FIXTURES")
    cands = []
    if env:
        cands += [os.path.join(env, "reference"), env]
    cands.append(os.path.join(REPO, "tests", "fixtures", "reference"))
    for c in cands:
        if glob.glob(os.path.join(c, "*.http")):
            return os.path.normpath(c)
    raise SystemExit(f"replay: no transcripts found (tried {cands}); set SIO_FIXTURES")


def split_transcript(data):
    """(request bytes, response bytes) of one .http file."""
    i = data.index(b"\r\n\r\n") + 4
    head = data[:i]
    m = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
    n = int(m.group(1)) if m else 0
    return data[:i + n], data[i + n:]


def recorded_port(req):
    m = re.search(rb"\r\nHost: 127\.0\.0\.1:(\d+)\r\n", req)
    return int(m.group(1)) if m else None


def prepare(req, port, sid=None):
    req = re.sub(rb"127\.0\.0\.1:1710[12]\b", f"127.0.0.1:{port}".encode(), req)
    req = HOST_RE.sub(f"\r\nHost: 127.0.0.1:{port}\r\n".encode(), req, count=1)
    if sid is not None:
        def sub(m):
            return m.group(1) + (m.group(2) if m.group(2) == UNKNOWN_SID else sid.encode())
        req = REQ_SID_RE.sub(sub, req, count=1)
    return req


def method_of(req):
    return req.split(b" ", 1)[0].decode()


def read_reply(conn, name, method, timeout=3.0):
    """The server's reply, as framed. js_err_ws_* hold everything until TCP close."""
    if name.startswith("js_err_ws_") and method == "GET" and conn_is_upgrade(conn):
        deadline = time.monotonic() + timeout
        try:
            while True:
                conn._fill(deadline)
        except WireError:  # EOF: the expected end
            return conn.buf
        except (socket.timeout, TimeoutError):
            return conn.buf + f"<<no TCP close within {timeout} s>>".encode()
    return conn.read_response(timeout, method).raw


def conn_is_upgrade(conn):
    return getattr(conn, "upgrade", False)


def exchange(port, name, req, timeout=3.0):
    c = Conn(port, timeout)
    c.upgrade = b"\r\nUpgrade: websocket\r\n" in req
    try:
        c.send(req)
        return read_reply(c, name, method_of(req), timeout)
    finally:
        c.close()


class Sent:
    """A recorded request sent now, its reply read later."""

    def __init__(self, port, name, req):
        self.c = Conn(port)
        self.c.upgrade = b"\r\nUpgrade: websocket\r\n" in req
        self.name, self.req = name, req
        self.c.send(req)

    def reply(self, timeout=3.0):
        try:
            return read_reply(self.c, self.name, method_of(self.req), timeout)
        finally:
            self.c.close()


# ---- session set-up helpers ----

def connected(port, path):
    """Handshake + Socket.IO connect to "/" + drain the replies (connect reply and the auth emit)."""
    sid = handshake(port, path)["sid"]
    r = post(port, path, sid, "40")
    if r.body != b"ok":
        raise ReplayError(f"set-up POST 40 failed: {r!r}")
    seen = []
    deadline = time.monotonic() + 3
    while not (any(p.startswith("40{") for p in seen) and any(p.startswith('42["auth"') for p in seen)):
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReplayError(f"set-up: no connect reply and auth event within 3 s: {seen!r}")
        r = get(port, path, sid, timeout=left)
        if r.status != 200:
            raise ReplayError(f"set-up GET failed: {r!r}")
        seen += split_payload(r.body)
    return sid


def upgrade(port, path, sid):
    c, _ = ws_open(port, eio_q(path, sid, "websocket"))
    c.ws_send_text("2probe")
    op, p = c.ws_recv(3)
    if (op, p) != (1, b"3probe"):
        raise ReplayError(f"set-up: expected 3probe, got {op} {p!r}")
    c.ws_send_text("5")
    return c


# ---- recipes: (name, port, path, recorded request) -> (actual reply, strip_auth) ----

def r_stateless(name, port, path, req):
    return exchange(port, name, prepare(req, port))


def r_handshake(name, port, path, req):
    sid = handshake(port, path)["sid"]
    return exchange(port, name, prepare(req, port, sid))


def r_connected(name, port, path, req):
    sid = connected(port, path)
    return exchange(port, name, prepare(req, port, sid))


def r_connect_reply(name, port, path, req):
    sid = handshake(port, path)["sid"]
    if post(port, path, sid, "40").body != b"ok":
        raise ReplayError("set-up POST 40 failed")
    time.sleep(0.2)
    return exchange(port, name, prepare(req, port, sid))


def r_after_post(body):
    def r(name, port, path, req):
        sid = connected(port, path)
        rp = post(port, path, sid, body)
        if rp.body != b"ok":
            raise ReplayError(f"set-up POST failed: {rp!r}")
        time.sleep(0.2)  # let the server produce all of its replies
        return exchange(port, name, prepare(req, port, sid))
    return r


def r_longpoll_message(name, port, path, req):
    sid = connected(port, path)
    s = Sent(port, name, prepare(req, port, sid))
    time.sleep(0.3)
    if post(port, path, sid, '42["message","hello"]').body != b"ok":
        raise ReplayError("set-up POST failed")
    return s.reply()


def r_second_get(name, port, path, req):
    sid = connected(port, path)
    first = Pending(port, "GET", eio_q(path, sid))
    time.sleep(0.1)
    try:
        return exchange(port, name, prepare(req, port, sid))
    finally:
        try:
            first.result(2)
        except Exception:
            first.close()


def r_second_get_first(name, port, path, req):
    sid = connected(port, path)
    s = Sent(port, name, prepare(req, port, sid))
    time.sleep(0.1)
    get(port, path, sid)
    return s.reply()


def r_after_upgrade(name, port, path, req):
    sid = connected(port, path)
    c = upgrade(port, path, sid)
    try:
        time.sleep(0.1)
        return exchange(port, name, prepare(req, port, sid))
    finally:
        c.close()


def r_pending_noop(name, port, path, req):
    sid = connected(port, path)
    s = Sent(port, name, prepare(req, port, sid))
    time.sleep(0.05)
    c, _ = ws_open(port, eio_q(path, sid, "websocket"))
    try:
        c.ws_send_text("2probe")
        op, p = c.ws_recv(3)
        if (op, p) != (1, b"3probe"):
            raise ReplayError(f"set-up: expected 3probe, got {op} {p!r}")
        return s.reply()
    finally:
        c.close()


def r_longpoll_ping(name, port, path, req):
    sid = handshake(port, path)["sid"]
    return exchange(port, name, prepare(req, port, sid), timeout=2.0)


def r_post_pong(name, port, path, req):
    sid = handshake(port, path)["sid"]
    r = get(port, path, sid, timeout=2.0)
    if r.body != b"2":
        raise ReplayError(f"set-up: expected ping, got {r!r}")
    return exchange(port, name, prepare(req, port, sid))


RECIPES = {
    # default server (17001)
    "js_err_eio3.http": r_stateless,
    "js_err_eio_abc.http": r_stateless,
    "js_err_missing_eio.http": r_stateless,
    "js_err_missing_transport.http": r_stateless,
    "js_err_options_no_cors.http": r_stateless,
    "js_err_post_no_sid.http": r_stateless,
    "js_err_put_no_sid.http": r_stateless,
    "js_err_transport_abc.http": r_stateless,
    "js_err_unknown_sid.http": r_stateless,
    "js_err_post_unknown_sid.http": r_stateless,
    "js_err_ws_transport_via_get.http": r_stateless,
    "js_err_ws_eio3.http": r_stateless,
    "js_err_ws_transport_abc.http": r_stateless,
    "js_err_ws_unknown_sid.http": r_stateless,
    "js_ws_upgrade.http": r_stateless,
    "js_ws_upgrade_deflate_offered.http": r_stateless,
    "js_polling_handshake.http": r_stateless,
    "js_polling_handshake_t.http": r_stateless,
    "js_err_protocol_mismatch.http": r_handshake,
    "js_err_transport_mismatch.http": r_handshake,
    "js_err_put_with_sid.http": r_handshake,
    "js_polling_post_one.http": r_handshake,
    "js_err_post_octet_stream.http": r_connected,
    "js_polling_binary_post.http": r_connected,
    "js_polling_post_two.http": r_connected,
    "js_upgrade_ws_101.http": r_connected,
    "js_polling_get_connect_reply.http": r_connect_reply,
    "js_polling_binary_ack_get.http": r_after_post('451-2["echo",{"_placeholder":true,"num":0}]\x1ebAQID'),
    "js_polling_binary_event_get.http": r_after_post('451-["message",{"_placeholder":true,"num":0}]\x1ebAAH/'),
    "js_polling_get_two_packets.http": r_after_post('42["message","hi"]\x1e421["echo","x",1]'),
    "js_polling_longpoll_message.http": r_longpoll_message,
    "js_err_second_get.http": r_second_get,
    "js_err_second_get_first_get.http": r_second_get_first,
    "js_err_polling_after_upgrade.http": r_after_upgrade,
    "js_upgrade_pending_get_noop.http": r_pending_noop,
    # ping300 server (17002)
    "js_polling_handshake_ping300.http": r_stateless,
    "js_polling_longpoll_ping.http": r_longpoll_ping,
    "js_polling_post_pong.http": r_post_pong,
    # maxbuf1000 server (17003)
    "js_polling_handshake_maxbuf1000.http": r_stateless,
    "js_polling_post_exactly_maxbuf.http": r_connected,
    "js_err_post_oversize.http": r_connected,
    # HTTP compression, default server (17001): the GET gets an ack of n+7 bytes
    "js_gzip_1023_not_compressed.http": r_after_post('421["echo","' + "x" * 1016 + '"]'),
    "js_gzip_1024_compressed.http": r_after_post('421["echo","' + "x" * 1017 + '"]'),
    "js_gzip_2000_compressed.http": r_after_post('421["echo","' + "x" * 1993 + '"]'),
    "js_gzip_2000_deflate_only.http": r_after_post('421["echo","' + "x" * 1993 + '"]'),
    "js_gzip_2000_identity.http": r_after_post('421["echo","' + "x" * 1993 + '"]'),
    "js_gzip_2000_no_accept_encoding.http": r_after_post('421["echo","' + "x" * 1993 + '"]'),
    # JS cors server (17004)
    "js_cors_preflight.http": r_stateless,
    "js_cors_preflight_no_acrh.http": r_stateless,
    "js_cors_get_origin_match.http": r_stateless,
    "js_cors_get_origin_other.http": r_stateless,
    "js_cors_get_no_origin.http": r_stateless,
    "js_cors_err_unknown_sid.http": r_stateless,
    "js_cors_ws_upgrade.http": r_stateless,
    "js_cors_post_origin_match.http": r_handshake,
    # cookie server (17005)
    "js_cookie_handshake.http": r_stateless,
    "js_cookie_ws_upgrade.http": r_stateless,
    "js_cookie_post_with_sid.http": r_handshake,
    "js_cookie_get_with_sid.http": r_connect_reply,
    # python-socketio servers (17101 default, 17102 cors_allowed_origins='*')
    "py_origin_absent.http": r_stateless,
    "py_origin_match.http": r_stateless,
    "py_origin_mismatch.http": r_stateless,
    "py_origin_mismatch_port.http": r_stateless,
    "py_origin_mismatch_scheme.http": r_stateless,
    "py_origin_mismatch_ws.http": r_stateless,
    "py_preflight_default.http": r_stateless,
    "py_cors_star_no_origin.http": r_stateless,
    "py_cors_star_other_origin.http": r_stateless,
    "py_cors_star_preflight.http": r_stateless,
}
STRIP_AUTH = {"js_polling_get_connect_reply.http", "js_cookie_get_with_sid.http"}


# ---- comparison ----

def normalise(raw, strip_auth=False):
    """(status line, [header lines], body as framed) with Date and sids normalised."""
    if b"\r\n\r\n" in raw:
        i = raw.index(b"\r\n\r\n")
        head, body = raw[:i], raw[i + 4:]
    else:
        head, body = raw, b""
    lines = head.decode("latin-1").split("\r\n")
    status, headers = lines[0], lines[1:]
    if strip_auth and AUTH_PACKET in body:
        body = body.replace(AUTH_PACKET, b"", 1)
        headers = [f"Content-Length: {len(body)}" if h.lower().startswith("content-length:") else h
                   for h in headers]
    body = SID_RE.sub(b'"sid":"<SID>"', body)
    headers = ["Date: <DATE>" if h.lower().startswith("date:") else h for h in headers]
    headers = [re.sub(r"^(Set-Cookie: [^=]+=)[A-Za-z0-9_-]{20};", r"\1<SID>;", h) for h in headers]
    return status, headers, body


def dechunk(body):
    out = b""
    while body:
        n, rest = body.split(b"\r\n", 1)
        n = int(n, 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2:]
    return out


def decompressed(norm):
    """A compressed reply with its body dechunked and decompressed."""
    status, headers, body = norm
    enc = next((h.split(":", 1)[1].strip() for h in headers
                if h.lower().startswith("content-encoding:")), None)
    if enc in ("gzip", "deflate") and any(h.lower() == "transfer-encoding: chunked" for h in headers):
        body = zlib.decompress(dechunk(body), 47 if enc == "gzip" else 15)
    return status, headers, body


PY_DROP = ("date:", "server:", "connection:", "keep-alive:", "cache-control:")


def py_normalise(norm):
    """See the top comment: python-socketio framing differs from ours."""
    status, headers, body = norm
    headers = [h for h in headers if not h.lower().startswith(PY_DROP)]
    if body.startswith(b"0{"):
        o = json.loads(body[1:])
        o.pop("maxPayload", None)
        body = b"0" + json.dumps(o, sort_keys=True).encode()
        headers = ["Content-Length: <LEN>" if h.lower().startswith("content-length:") else h
                   for h in headers]
    return status, headers, body


def first_difference(expected, actual):
    es, eh, eb = expected
    as_, ah, ab = actual
    if es != as_:
        return f"status line: expected {es!r}, got {as_!r}"
    for i in range(max(len(eh), len(ah))):
        e = eh[i] if i < len(eh) else None
        a = ah[i] if i < len(ah) else None
        if e != a:
            return f"header {i + 1}: expected {e!r}, got {a!r}"
    if eb != ab:
        n = next((i for i in range(min(len(eb), len(ab))) if eb[i] != ab[i]), min(len(eb), len(ab)))
        return (f"body differs at byte {n} (expected {len(eb)} bytes, got {len(ab)}): "
                f"expected {eb[max(0, n - 10):n + 40]!r}, got {ab[max(0, n - 10):n + 40]!r}")
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, help="default-options server")
    ap.add_argument("--ping300-port", type=int, help="server with --ping-interval 300")
    ap.add_argument("--maxbuf-port", type=int, help="server with --max-payload 1000")
    ap.add_argument("--cors-port", type=int, help="sio --cors-mode js --cors-allowed-origins https://example.com")
    ap.add_argument("--cookie-port", type=int, help="server with the io cookie")
    ap.add_argument("--py-port", type=int, help="sio with the default (python) CORS policy")
    ap.add_argument("--py-star-port", type=int, help="sio --cors-allowed-origins '*'")
    ap.add_argument("--path", default="/socket.io/")
    ap.add_argument("--only", nargs="*", help="replay only these files")
    a = ap.parse_args()
    ports = {"default": a.port, "ping300": a.ping300_port, "maxbuf1000": a.maxbuf_port,
             "cors": a.cors_port, "cookie": a.cookie_port, "py": a.py_port, "pystar": a.py_star_port}
    d = fixtures_dir()
    passed = failed = 0
    for fpath in sorted(glob.glob(os.path.join(d, "*.http"))):
        name = os.path.basename(fpath)
        if name in LATER:
            continue
        if a.only and name not in a.only:
            continue
        data = open(fpath, "rb").read()
        req, expected_raw = split_transcript(data)
        kind = RECORDED_PORTS.get(recorded_port(req))
        recipe = RECIPES.get(name)
        if recipe is None or kind is None:
            failed += 1
            print(f"not ok - {name}: no replay recipe for this transcript", flush=True)
            continue
        port = ports[kind]
        if not port:
            print(f"# skip - {name}: no {kind} server in this run", flush=True)
            continue
        try:
            actual_raw = recipe(name, port, a.path, req)
            if name.startswith("py_"):
                expected_raw = re.sub(rb"127\.0\.0\.1:1710[12]\b", f"127.0.0.1:{port}".encode(),
                                      expected_raw)
            if name in DIFFERS:
                expected_raw = DIFFERS[name]
            expected = decompressed(normalise(expected_raw))
            actual = decompressed(normalise(actual_raw, strip_auth=(name in STRIP_AUTH)))
            if name.startswith("py_"):
                expected, actual = py_normalise(expected), py_normalise(actual)
            diff = first_difference(expected, actual)
        except (ReplayError, WireError) as e:
            diff = f"{type(e).__name__}: {e}"
        except (socket.timeout, TimeoutError):
            diff = "timed out waiting for the reply"
        except (OSError, ValueError, KeyError) as e:
            diff = f"{type(e).__name__}: {e}"
        if diff is None:
            passed += 1
            print(f"ok - {name}", flush=True)
        else:
            failed += 1
            print(f"not ok - {name}: {diff}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

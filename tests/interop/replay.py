#!/usr/bin/env python3
"""replay.py: replay the reference transcripts against the server under test.

    python3 replay.py --port 18001 --ping300-port 18005 --maxbuf-port 18003 [--path /socket.io/]

--port          server with default options               (transcripts recorded on 17001)
--ping300-port  server with --ping-interval 300 only      (recorded on 17002)
--maxbuf-port   server with --max-payload 1000            (recorded on 17003)
A transcript whose server is not given is not run.

Transcripts: $SIO_FIXTURES (the fixtures dir or its reference/ subdir), else
<repo root>/../shared/fixtures/reference. Each *.http file is one request
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import (  # noqa: E402
    Conn, Pending, WireError, eio_q, get, handshake, post, split_payload, ws_open,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

# Transcripts of features that come with a later issue (CORS, the io cookie,
# HTTP compression) and of the python-socketio server: not replayed here yet.
LATER = [
    "js_cookie_get_with_sid.http",
    "js_cookie_handshake.http",
    "js_cookie_post_with_sid.http",
    "js_cookie_ws_upgrade.http",
    "js_cors_err_unknown_sid.http",
    "js_cors_get_no_origin.http",
    "js_cors_get_origin_match.http",
    "js_cors_get_origin_other.http",
    "js_cors_post_origin_match.http",
    "js_cors_preflight.http",
    "js_cors_preflight_no_acrh.http",
    "js_cors_ws_upgrade.http",
    "js_gzip_1023_not_compressed.http",
    "js_gzip_1024_compressed.http",
    "js_gzip_2000_compressed.http",
    "js_gzip_2000_deflate_only.http",
    "js_gzip_2000_identity.http",
    "js_gzip_2000_no_accept_encoding.http",
    "py_cors_star_no_origin.http",
    "py_cors_star_other_origin.http",
    "py_cors_star_preflight.http",
    "py_origin_absent.http",
    "py_origin_match.http",
    "py_origin_mismatch.http",
    "py_origin_mismatch_port.http",
    "py_origin_mismatch_scheme.http",
    "py_origin_mismatch_ws.http",
    "py_preflight_default.http",
]

# recorded Host port -> server kind
RECORDED_PORTS = {17001: "default", 17002: "ping300", 17003: "maxbuf1000"}

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
    cands.append(os.path.join(REPO, "..", "shared", "fixtures", "reference"))
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
}


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
    ap.add_argument("--path", default="/socket.io/")
    ap.add_argument("--only", nargs="*", help="replay only these files")
    a = ap.parse_args()
    ports = {"default": a.port, "ping300": a.ping300_port, "maxbuf1000": a.maxbuf_port}
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
            continue  # that server is not part of this run
        try:
            actual_raw = recipe(name, port, a.path, req)
            diff = first_difference(normalise(expected_raw),
                                    normalise(actual_raw, strip_auth=(name == "js_polling_get_connect_reply.http")))
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

#!/usr/bin/env python3
"""raw_test.py: malformed and edge-case traffic on raw sockets (stdlib only).

    python3 raw_test.py --port 18001 --ping-port 18002 --maxbuf-port 18003
                        [--eio-port 18004] [--path /socket.io/] [--eio-path /engine.io/]

--port         server with default options
--ping-port    server with --ping-interval 300 --ping-timeout 200
--maxbuf-port  server with --max-payload 1000
--eio-port     server with a raw Engine.IO echo on --eio-path (optional)

Expectations are the JS reference server's (socket.io 4.8.4), see
tests/fixtures/reference. Prints "ok - name" / "not ok - name: reason" per
check, then "N passed, N failed"; exits 1 when a check failed.
"""
import argparse
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import (  # noqa: E402
    Conn, Pending, WireError, WS_ACCEPT, eio_q, get, handshake, post,
    request, sio_polling_session, split_payload, ws_open, ws_session,
)

passed = 0
failed = 0

ERR = {
    0: {"code": 0, "message": "Transport unknown"},
    1: {"code": 1, "message": "Session ID unknown"},
    2: {"code": 2, "message": "Bad handshake method"},
    3: {"code": 3, "message": "Bad request"},
    5: {"code": 5, "message": "Unsupported protocol version"},
}


class CheckError(Exception):
    pass


def eq(actual, expected, what):
    if actual != expected:
        raise CheckError(f"{what}: expected {expected!r}, got {actual!r}")


def true(cond, what):
    if not cond:
        raise CheckError(what)


def run_check(name, fn, timeout=10.0):
    global passed, failed
    result = {}

    def target():
        try:
            fn()
            result["ok"] = True
        except CheckError as e:
            result["err"] = str(e)
        except (socket.timeout, TimeoutError) as e:
            result["err"] = f"socket timeout ({e})"
        except Exception as e:
            result["err"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        result = {"err": f"timed out after {timeout} s"}
    if result.get("ok"):
        passed += 1
        print(f"ok - {name}", flush=True)
    else:
        failed += 1
        print(f"not ok - {name}: {str(result.get('err')).splitlines()[0]}", flush=True)


def expect_json_error(r, code, what=""):
    eq(r.status, 400, f"{what} status")
    eq(r.header("Content-Type"), "application/json", f"{what} Content-Type")
    try:
        body = r.json()
    except ValueError:
        raise CheckError(f"{what} body is not JSON: {r.body!r}") from None
    eq(body, ERR[code], f"{what} body")


def wait_session_gone(port, path, sid, pending=None, bound=2.0):
    """Poll until GET on sid gets 400 code 1 (bounded). A pending GET, when
    given, must be answered 200 ending with the close packet "1"."""
    deadline = time.monotonic() + bound
    if pending is not None:
        packets = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckError(f"pending GET not answered within {bound} s")
            try:
                r = pending.result(left)
            except (socket.timeout, TimeoutError):
                raise CheckError(f"pending GET not answered within {bound} s") from None
            if r.status == 400:
                raise CheckError(f"pending GET answered {r.status_line!r} {r.body!r}, expected 200 with close packet 1")
            eq(r.status, 200, "pending GET status")
            packets += split_payload(r.body)
            if packets and packets[-1] == "1":
                break
            pending = Pending(port, "GET", eio_q(path, sid))
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckError(f"session {sid} still open after {bound} s")
        try:
            r = get(port, path, sid, timeout=left)
        except (socket.timeout, TimeoutError):
            raise CheckError(f"session {sid} still open after {bound} s (GET long-polled)") from None
        if r.status == 400:
            expect_json_error(r, 1, "GET on closed session")
            return
        eq(r.status, 200, "GET status")


def ws_wait_closed(c, bound):
    """Read frames until a close frame or EOF; returns (seconds, close payload or None, frames seen)."""
    t0 = time.monotonic()
    deadline = t0 + bound
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckError(f"WebSocket still open after {bound} s (frames: {seen[:5]!r})")
        try:
            op, p = c.ws_recv(left)
        except WireError:
            return time.monotonic() - t0, None, seen
        except (socket.timeout, TimeoutError):
            continue
        if op == 8:
            return time.monotonic() - t0, p, seen
        seen.append((op, p))


def ws_ack(c, payload, expect, timeout=3.0, answer_pings=True):
    """Send a text frame and read until the expected text frame comes."""
    c.ws_send_text(payload)
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise CheckError(f"no {expect!r} within {timeout} s (got {seen!r})")
        op, p = c.ws_recv(left)
        if op == 1 and p == b"2" and answer_pings:
            c.ws_send_text("3")
            continue
        if op == 1 and p == expect.encode():
            return
        seen.append((op, p))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18001)
    ap.add_argument("--ping-port", type=int)
    ap.add_argument("--maxbuf-port", type=int)
    ap.add_argument("--eio-port", type=int)
    ap.add_argument("--path", default="/socket.io/")
    ap.add_argument("--eio-path", default="/engine.io/")
    ap.add_argument("--ping-interval", type=int, default=300)
    ap.add_argument("--ping-timeout", type=int, default=200)
    ap.add_argument("--max-payload", type=int, default=1000)
    a = ap.parse_args()
    P, path = a.port, a.path

    # ---- healthy clients, connected first and checked last ----
    healthy = {}

    def t_healthy_start():
        c, hs, seen = ws_session(P, path)
        healthy["ws"] = c
        sid, packets = sio_polling_session(P, path)
        healthy["poll"] = sid
        true(any(p.startswith("40{") for p in packets), f"no connect reply: {packets!r}")
    run_check("healthy clients connect (WebSocket and polling)", t_healthy_start)

    def t_refused_message_data():
        # the exact CONNECT_ERROR bytes socket.io 4.x sends for
        # next(Object.assign(new Error("bad token"), {data: {...}}))
        sid, packets = sio_polling_session(
            P, path, '40{"refuse":"bad token","data":{"code":7,"l":[1,"x"]}}', expect_auth=False)
        true('44{"message":"bad token","data":{"code":7,"l":[1,"x"]}}' in packets,
             f"no CONNECT_ERROR with message and data: {packets!r}")
    run_check("refusal with a message and data: exact CONNECT_ERROR bytes", t_refused_message_data)

    # ---- malformed HTTP ----
    def raw_http(data, what):
        c = Conn(P)
        try:
            c.send(data)
            r = c.read_response(3)
            eq(r.status, 400, f"{what}: status")
            true(c.wait_eof(2), f"{what}: connection not closed after the 400")
        finally:
            c.close()

    run_check("garbage request line -> 400 and close",
              lambda: raw_http(b"GARBAGE\r\n\r\n", "garbage"))
    run_check("header line without colon -> 400 and close",
              lambda: raw_http(b"GET " + eio_q(path).encode() + b" HTTP/1.1\r\nbad header line\r\n\r\n", "bad header"))
    run_check("binary junk -> 400 and close",
              lambda: raw_http(b"\x00\x01\x02\xff\xfe\r\n\r\n", "junk"))
    run_check("unsupported HTTP version -> 400 and close",
              lambda: raw_http(b"GET " + eio_q(path).encode() + b" HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/9.9"))
    run_check("bad Content-Length -> 400 and close",
              lambda: raw_http(b"POST " + eio_q(path).encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "Content-Length abc"))

    def t_alive():
        hs = handshake(P, path)
        eq(len(hs["sid"]), 20, "sid length")
    run_check("server still handshakes after malformed HTTP", t_alive)

    # ---- bad Engine.IO requests ----
    def t_eio_err(method, target, code, body=None):
        def f():
            r = request(P, method, target, body=body)
            expect_json_error(r, code, f"{method} {target}")
        return f

    run_check("missing EIO -> 400 code 5", t_eio_err("GET", f"{path}?transport=polling", 5))
    run_check("EIO=3 -> 400 code 5", t_eio_err("GET", eio_q(path, eio="3"), 5))
    run_check("EIO=abc -> 400 code 5", t_eio_err("GET", eio_q(path, eio="abc"), 5))
    run_check("missing transport -> 400 code 0", t_eio_err("GET", f"{path}?EIO=4", 0))
    run_check("transport=abc -> 400 code 0", t_eio_err("GET", eio_q(path, transport="abc"), 0))
    run_check("unknown sid GET -> 400 code 1", t_eio_err("GET", eio_q(path, "AAAAAAAAAAAAAAAAAAAA"), 1))
    run_check("unknown sid POST -> 400 code 1", t_eio_err("POST", eio_q(path, "AAAAAAAAAAAAAAAAAAAA"), 1, body="40"))
    run_check("POST without sid -> 400 code 2", t_eio_err("POST", eio_q(path), 2, body="40"))
    run_check("PUT without sid -> 400 code 2", t_eio_err("PUT", eio_q(path), 2, body="40"))
    run_check("plain GET transport=websocket -> 400 code 3", t_eio_err("GET", eio_q(path, transport="websocket"), 3))

    def t_ws_unknown_sid():
        c = Conn(P)
        try:
            c.send((f"GET {eio_q(path, 'AAAAAAAAAAAAAAAAAAAA', 'websocket')} HTTP/1.1\r\nHost: 127.0.0.1:{P}\r\n"
                    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
            r = c.read_response(3)
            eq(r.raw, b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\n"
                      b"Content-Length: 18\r\n\r\nSession ID unknown", "raw reply")
            true(c.wait_eof(2), "connection not closed")
        finally:
            c.close()
    run_check("WS upgrade with unknown sid -> raw 400 Session ID unknown", t_ws_unknown_sid)

    # ---- bad packets in a POST body: the session is closed ----
    def bad_post(body, what):
        def f():
            sid, _ = sio_polling_session(P, path)
            pend = Pending(P, "GET", eio_q(path, sid))
            time.sleep(0.05)
            r = post(P, path, sid, body)
            true(r.status in (200, 400), f"POST status {r.status_line!r}")
            wait_session_gone(P, path, sid, pending=pend, bound=2.0)
        return f

    for body, what in [("9", "unknown Engine.IO type 9"),
                       ("", "empty body"),
                       ("4hello\x1e\x1e41", "empty packet in a payload")]:
        run_check(f"bad Engine.IO packet ({what}) closes the session", bad_post(body, what))
    for body, what in [("4{", "4{"),
                       ('42["message"', "unterminated JSON"),
                       ("49", "unknown Socket.IO type 9"),
                       ('42{"a":1}', "event data not an array"),
                       ("42[]", "event without a name")]:
        run_check(f"bad Socket.IO packet ({what}) closes the session", bad_post(body, what))

    def bad_ws(payload, what):
        def f():
            c, _, _ = ws_session(P, path)
            try:
                c.ws_send_text(payload)
                ws_wait_closed(c, 2.0)
            finally:
                c.close()
        return f
    run_check("bad Socket.IO packet over WebSocket (unterminated JSON) closes it", bad_ws('42["message"', "json"))
    run_check("bad Engine.IO packet over WebSocket (type 9) closes it", bad_ws("9", "eio"))

    # ---- second concurrent poll ----
    def t_second_poll():
        sid, _ = sio_polling_session(P, path)
        first = Pending(P, "GET", eio_q(path, sid))
        time.sleep(0.1)
        r2 = get(P, path, sid, timeout=3)
        eq(r2.status, 400, "second GET status")
        eq(r2.body, b"", "second GET body")
        r1 = first.result(3)
        eq((r1.status, r1.body), (200, b"1"), "first GET")
        wait_session_gone(P, path, sid, bound=2.0)
    run_check("second concurrent poll: first gets 1, second 400, session gone", t_second_poll)

    # ---- PUT with a sid ----
    def t_put_sid():
        hs = handshake(P, path)
        r = request(P, "PUT", eio_q(path, hs["sid"]), body="40")
        eq(r.status, 500, "PUT status")
        eq(r.body, b"", "PUT body")
    run_check("PUT with a valid sid -> 500 empty", t_put_sid)

    # ---- probe upgrade ----
    def t_probe():
        sid, _ = sio_polling_session(P, path)
        pend = Pending(P, "GET", eio_q(path, sid))
        time.sleep(0.05)
        c, r101 = ws_open(P, eio_q(path, sid, "websocket"))
        try:
            eq(r101.header("Sec-WebSocket-Accept"), WS_ACCEPT, "Sec-WebSocket-Accept")
            c.ws_send_text("2probe")
            op, p = c.ws_recv(3)
            eq((op, p), (1, b"3probe"), "probe reply")
            t0 = time.monotonic()
            r = pend.result(2)
            eq((r.status, r.body), (200, b"6"), "pending GET after 2probe")
            true(time.monotonic() - t0 < 1.0, "noop took more than 1 s")
            c.ws_send_text("5")
            ws_ack(c, '421["echo","after-upgrade"]', '431["after-upgrade"]')
            expect_json_error(get(P, path, sid), 3, "polling GET after upgrade")
            expect_json_error(post(P, path, sid, '42["message","x"]'), 3, "polling POST after upgrade")
            ws_ack(c, '422["echo","still"]', '432["still"]')
        finally:
            c.close()
    run_check("probe upgrade: 2probe/3probe, pending GET gets 6, 5, polling then code 3", t_probe)

    def t_ws_mismatch():
        hs = handshake(P, path)
        expect_json_error(request(P, "GET", eio_q(path, hs["sid"], "websocket")), 3, "plain GET ws with polling sid")
        expect_json_error(request(P, "GET", eio_q(path, hs["sid"], eio="3")), 3, "EIO=3 GET with v4 sid")
    run_check("transport/protocol mismatch on an existing sid -> code 3", t_ws_mismatch)

    # ---- WebSocket framing ----
    def t_unmasked():
        c, _, _ = ws_session(P, path)
        try:
            c.ws_send(0x1, '421["echo",1]', mask=False)
            dt, payload, _ = ws_wait_closed(c, 2.0)
            true(payload is not None, "no close frame before EOF")
            eq(payload[:2], b"\x03\xea", "close code (1002)")
            true(c.wait_eof(2), "TCP not closed after close 1002")
        finally:
            c.close()
    run_check("unmasked client frame -> close 1002", t_unmasked)

    def t_fragmented():
        c, _, _ = ws_session(P, path)
        try:
            msg = '421["echo","frag"]'
            c.ws_send(0x1, msg[:5], fin=False)
            c.ws_send(0x9, b"pp")                       # a ping between fragments
            c.ws_send(0x0, msg[5:12], fin=False)
            c.ws_send(0x0, msg[12:], fin=True)
            deadline = time.monotonic() + 3
            got_pong = got_ack = False
            while not (got_pong and got_ack):
                op, p = c.ws_recv(max(0.05, deadline - time.monotonic()))
                if op == 0xA:
                    eq(p, b"pp", "pong payload")
                    got_pong = True
                elif op == 1 and p == b'431["frag"]':
                    got_ack = True
        finally:
            c.close()
    run_check("fragmented text frame with a ping in between", t_fragmented)

    # RFC 6455 rules checked by sio itself on top of wslay's frame layer:
    # each bad frame gets a close frame with the right code, then TCP closes.
    def ws_refused(frames, code, what):
        def t():
            c, _, _ = ws_session(P, path)
            try:
                for f in frames:
                    c.ws_send(*f[:2], **(f[2] if len(f) > 2 else {}))
                dt, payload, _ = ws_wait_closed(c, 2.0)
                true(payload is not None, "no close frame before EOF")
                eq(payload[:2], code.to_bytes(2, "big"), f"close code ({code})")
                true(c.wait_eof(2), f"TCP not closed after close {code}")
            finally:
                c.close()
        run_check(f"{what} -> close {code}", t)

    ws_refused([(0x1, b'42["message","\xff"]')], 1007, "text message with invalid UTF-8")
    ws_refused([(0x1, b'42["message","\xed\xa0\x80"]')], 1007, "text message with a UTF-16 surrogate")
    ws_refused([(0x1, b'42["message","\xc3', {"fin": False}), (0x0, b'"]')], 1007,
               "UTF-8 sequence cut between fragments, never completed")
    ws_refused([(0x1, b'421["echo",1]', {"rsv": 4})], 1002, "RSV1 set without an extension")
    ws_refused([(0x3, b"x")], 1002, "reserved opcode 3")
    ws_refused([(0x0, b"x")], 1002, "continuation frame with no message started")
    ws_refused([(0x1, b"42", {"fin": False}), (0x1, b"x")], 1002, "new text frame inside a fragmented message")
    ws_refused([(0x9, b"p", {"fin": False})], 1002, "fragmented ping")
    ws_refused([(0x9, b"p" * 126)], 1002, "ping with 126 bytes")
    ws_refused([(0x8, b"\x03")], 1002, "close frame with a 1-byte payload")
    ws_refused([(0x8, b"\x03\xed")], 1002, "close code 1005 sent by the peer")
    ws_refused([(0x8, b"\x03\xe8\xff")], 1007, "close reason that is not UTF-8")
    ws_refused([(0x8, b"\x0f\xa0bye")], 4000, "close 4000 is answered with 4000")

    def t_utf8_split_ok():
        c, _, _ = ws_session(P, path)
        try:
            msg = '421["echo","h\u00e9 \u20ac \U0001f600"]'.encode()
            cut = msg.index(b"\xe2") + 1      # inside the euro sign
            c.ws_send(0x1, msg[:cut], fin=False)
            c.ws_send(0x0, msg[cut:], fin=True)
            deadline = time.monotonic() + 3
            while True:
                op, p = c.ws_recv(max(0.05, deadline - time.monotonic()))
                if op == 1 and p.startswith(b"431"):
                    eq(p, '431["h\u00e9 \u20ac \U0001f600"]'.encode(), "ack of multi-byte text")
                    break
        finally:
            c.close()
    run_check("UTF-8 sequence split between fragments is accepted", t_utf8_split_ok)

    if a.maxbuf_port:
        M = a.maxbuf_port
        n = a.max_payload

        def t_post_oversize():
            sid, _ = sio_polling_session(M, path)
            fill = n - len('42["message",""]')
            r = post(M, path, sid, '42["message","' + "x" * fill + '"]')
            eq((r.status, r.body), (200, b"ok"), f"POST of exactly {n} bytes")
            r = get(M, path, sid)
            eq(r.status, 200, "GET after max-size POST")
            true(r.body.startswith(b'42["message-back","xxx'), f"message-back: {r.body[:40]!r}")
            r = post(M, path, sid, '42["message","' + "x" * (fill + 1) + '"]')
            eq(r.status, 413, f"POST of {n + 1} bytes status")
            eq(r.body, b"", "413 body")
            r = post(M, path, sid, '421["echo","after-413"]')
            eq((r.status, r.body), (200, b"ok"), "POST after 413")
            r = get(M, path, sid)
            eq(r.body, b'431["after-413"]', "ack after 413")
        run_check("oversize POST -> 413, exact size ok, session survives", t_post_oversize)

        def t_ws_oversize():
            c, _, _ = ws_session(M, path)
            try:
                fill = n - len('42["message",""]')
                c.ws_send_text('42["message","' + "x" * fill + '"]')
                deadline = time.monotonic() + 3
                while True:
                    op, p = c.ws_recv(max(0.05, deadline - time.monotonic()))
                    if op == 1 and p.startswith(b'42["message-back"'):
                        break
                c.ws_send_text('42["message","' + "x" * (fill + 1) + '"]')
                dt, payload, seen = ws_wait_closed(c, 2.0)
                true(payload is not None, "no close frame before EOF")
                eq(payload, b"\x03\xf1", "close frame payload (1009, no reason)")
                true(c.wait_eof(2), "TCP not closed after close 1009")
            finally:
                c.close()
        run_check("oversize WS frame -> close 1009", t_ws_oversize)

    if a.ping_port:
        PP = a.ping_port
        bound_ms = a.ping_interval + a.ping_timeout + 1000

        def t_ws_ping_timeout():
            c, hs, _ = ws_session(PP, path)
            t0 = time.monotonic()
            try:
                eq(hs["pingInterval"], a.ping_interval, "pingInterval")
                eq(hs["pingTimeout"], a.ping_timeout, "pingTimeout")
                while True:  # skip the "auth" event
                    op, p = c.ws_recv(2)
                    if not (op == 1 and p.startswith(b"42")):
                        break
                eq((op, p), (1, b"2"), "first frame after connect (auth event aside)")
                tp = time.monotonic() - t0
                true(tp < (a.ping_interval + 500) / 1000, f"ping after {tp:.3f} s")
                dt, payload, seen = ws_wait_closed(c, bound_ms / 1000)
                total = time.monotonic() - t0
                true(total >= a.ping_interval / 1000, f"closed after {total:.3f} s")
                true(total <= bound_ms / 1000, f"closed after {total:.3f} s > {bound_ms} ms")
                true(not any(f == (1, b"2") for f in seen[1:]), "server kept pinging")
            finally:
                c.close()
        run_check("server closes a WebSocket that never answers pings", t_ws_ping_timeout)

        def t_ws_ping_answered():
            c, hs, _ = ws_session(PP, path)
            try:
                t_end = time.monotonic() + 1.2
                pings = 0
                while time.monotonic() < t_end:
                    try:
                        op, p = c.ws_recv(max(0.05, t_end - time.monotonic()))
                    except (socket.timeout, TimeoutError):
                        break
                    if op == 8:
                        raise CheckError("server closed although pings were answered")
                    if (op, p) == (1, b"2"):
                        pings += 1
                        c.ws_send_text("3")
                true(pings >= 3, f"only {pings} pings in 1.2 s")
                ws_ack(c, '421["echo","alive"]', '431["alive"]')
            finally:
                c.close()
        run_check("WebSocket that answers pings stays open", t_ws_ping_answered)

        def t_poll_ping_timeout():
            hs = handshake(PP, path)
            sid = hs["sid"]
            t0 = time.monotonic()
            r = get(PP, path, sid, timeout=2)
            eq((r.status, r.body), (200, b"2"), "long-poll answered with ping")
            # no pong: the session must go away within interval+timeout+margin
            wait_session_gone(PP, path, sid, bound=bound_ms / 1000)
            total = time.monotonic() - t0
            true(total <= (bound_ms + 500) / 1000, f"closed after {total:.3f} s")
        run_check("server closes a polling session that never answers pings", t_poll_ping_timeout)

    if a.eio_port:
        E, ep = a.eio_port, a.eio_path

        def t_eio_polling():
            hs = handshake(E, ep)
            sid = hs["sid"]
            r = post(E, ep, sid, "4hello ✓\x1ebAQID")
            eq((r.status, r.body), (200, b"ok"), "POST")
            got = []
            deadline = time.monotonic() + 3
            while len(got) < 2:
                r = get(E, ep, sid, timeout=max(0.1, deadline - time.monotonic()))
                eq(r.status, 200, "GET status")
                got += split_payload(r.body)
            eq(got, ["4hello ✓", "bAQID"], "echoed packets")
        run_check("raw engine.io echo over polling (text and binary)", t_eio_polling)

        def t_eio_ws():
            c, _ = ws_open(E, eio_q(ep, transport="websocket"))
            try:
                op, p = c.ws_recv(3)
                true(op == 1 and p.startswith(b"0{"), f"open packet: {p!r}")
                c.ws_send_text("4hi")
                eq(c.ws_recv(3), (1, b"4hi"), "text echo")
                c.ws_send(0x2, b"\x00\x01\xff")
                eq(c.ws_recv(3), (2, b"\x00\x01\xff"), "binary echo")
            finally:
                c.close()
        run_check("raw engine.io echo over WebSocket (text and binary)", t_eio_ws)

    # ---- the healthy clients still work ----
    def t_healthy_end():
        c = healthy.get("ws")
        true(c is not None, "healthy WebSocket client never connected")
        ws_ack(c, '4299["echo","still-alive"]', '4399["still-alive"]')
        sid = healthy.get("poll")
        true(sid is not None, "healthy polling client never connected")
        r = post(P, path, sid, '4298["echo","still-alive"]')
        eq((r.status, r.body), (200, b"ok"), "healthy POST")
        packets = []
        deadline = time.monotonic() + 3
        while '4398["still-alive"]' not in packets:
            r = get(P, path, sid, timeout=max(0.1, deadline - time.monotonic()))
            eq(r.status, 200, "healthy GET status")
            for p in split_payload(r.body):
                if p == "2":
                    post(P, path, sid, "3")
                packets.append(p)
        c.close()
    run_check("healthy clients still work at the end", t_healthy_end)

    print(f"{passed} passed, {failed} failed", flush=True)
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()

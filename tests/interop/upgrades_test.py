#!/usr/bin/env python3
"""upgrades_test.py: `sio server --no-allow-upgrades` (engine.io's
allowUpgrades: false), with the standard library only.

    python3 upgrades_test.py --port 18013

Checks that the polling handshake advertises "upgrades":[] and that a
WebSocket request carrying the sid of a polling session is refused with the
JS server's 400 "Bad request" (error code 3). Prints "ok - name" /
"not ok - name: reason", then "N passed, N failed".
"""
import argparse
import base64
import json
import os
import socket
import sys

HOST = "127.0.0.1"


def http(port, raw):
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and b"content-length:" in head.lower():
                n = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(body) >= n:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def handshake(port):
    head, body = http(port, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n"
                      b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head.split("\r\n")[0]
    assert body[:1] == b"0", body
    return json.loads(body[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    passed = failed = 0

    def check(name, fn):
        nonlocal passed, failed
        try:
            fn()
            print(f"ok - {name}")
            passed += 1
        except Exception as e:  # noqa: BLE001 - report any failure
            print(f"not ok - {name}: {e!r}")
            failed += 1

    def no_upgrades_advertised():
        o = handshake(args.port)
        assert o["upgrades"] == [], o

    def ws_with_polling_sid_refused():
        sid = handshake(args.port)["sid"]
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /socket.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head, body = http(args.port, req.encode())
        assert head.startswith("HTTP/1.1 400"), head.split("\r\n")[0]
        assert body == b"Bad request", body

    def direct_ws_still_works():
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        with socket.create_connection((HOST, args.port), timeout=5) as s:
            s.sendall(req.encode())
            data = s.recv(4096)
        assert data.startswith(b"HTTP/1.1 101"), data[:40]

    check("handshake advertises \"upgrades\":[]", no_upgrades_advertised)
    check("WebSocket with a polling sid: 400 Bad request (code 3)", ws_with_polling_sid_refused)
    check("a direct WebSocket connection still works", direct_ws_still_works)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

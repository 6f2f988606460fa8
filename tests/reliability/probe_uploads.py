"""Issue 17, item 3: unauthenticated or oversized uploads must be cheap to refuse.

All servers run with --io-threads 2 (the issue saw answers depend on the
I/O thread).

  unknown sid uploads  300 connections each send a polling POST for a
                       made-up sid with Content-Length 999999 and all of the
                       body but its last 999 bytes (so a server that buffers
                       bodies holds ~1 MB per connection). Expect: every one
                       answered 400 {"code":1,"message":"Session ID unknown"}
                       while its body is incomplete, peak RSS under 150 MB.
  unknown sid, small   16 small POSTs with different made-up sids (they
                       name different I/O threads): the same 400 answer.
  oversized length     --max-payload 100000: 4 POSTs (real sids) announce
                       Content-Length 10000000 and send no body. Expect 413
                       at once (within 3 s, before any body) and the
                       connection closed.
  chunked, 1-byte      8 POSTs (real sids, so both threads) send a 500 KB
                       body as 1-byte chunks (Transfer-Encoding: chunked,
                       3 MB on the wire). With the default --max-payload
                       (1000000) the body is under the limit: expect 200 on
                       every thread (today one thread counts the chunk
                       framing and answers 413); with --max-payload 100000
                       expect 413 on every thread.

Nothing here needs a new flag; --before runs the same probes.
"""
import selectors
import socket
import time

import rel
from rel import wire

R = rel.Report()
rel.raise_nofile()
UNKNOWN = b'{"code":1,"message":"Session ID unknown"}'


def parse(rx):
    """(status, body) once a whole response is in rx, else None."""
    i = rx.find(b"\r\n\r\n")
    if i < 0:
        return None
    head = rx[:i].decode("latin-1").split("\r\n")
    try:
        status = int(head[0].split()[1])
    except (IndexError, ValueError):
        status = 0
    cl = 0
    chunked = False
    for h in head[1:]:
        k, _, v = h.partition(":")
        if k.strip().lower() == "content-length":
            cl = int(v.strip() or 0)
        if k.strip().lower() == "transfer-encoding" and "chunked" in v.lower():
            chunked = True
    body = rx[i + 4:]
    if chunked:
        out, j = b"", 0
        while True:
            e = body.find(b"\r\n", j)
            if e < 0:
                return None
            n = int(body[j:e] or b"0", 16)
            if n == 0:
                return status, out
            if len(body) < e + 2 + n + 2:
                return None
            out += body[e + 2:e + 2 + n]
            j = e + 2 + n + 2
    if len(body) < cl:
        return None
    return status, body[:cl]


class Upload:
    def __init__(self, port, data):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3)
        self.sock.setblocking(False)
        self.data = memoryview(data)
        self.off = 0
        self.rx = b""
        self.resp = None        # (status, body)
        self.resp_at_off = None  # how much of the request was sent when the answer came
        self.err = None
        self.eof = False


def stream(uploads, timeout=40, idle=3):
    """Send every upload concurrently while reading answers; stops when all are
    answered or closed, after `idle` seconds with nothing to send and nothing
    received, or after `timeout`."""
    sel = selectors.DefaultSelector()
    for u in uploads:
        sel.register(u.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, u)
    end = time.monotonic() + timeout
    last_activity = time.monotonic()
    while sel.get_map() and time.monotonic() < end:
        events = sel.select(0.2)
        if events:
            last_activity = time.monotonic()
        elif time.monotonic() - last_activity > idle:
            break
        for key, mask in events:
            u = key.data
            if mask & selectors.EVENT_READ:
                try:
                    d = u.sock.recv(65536)
                except OSError as e:
                    d, u.err = b"", e
                if d:
                    u.rx += d
                    if u.resp is None:
                        u.resp = parse(u.rx)
                        if u.resp is not None:
                            u.resp_at_off = u.off
                            sel.unregister(u.sock)
                            continue
                else:
                    u.eof = True
                    if u.resp is None:
                        u.resp = parse(u.rx)
                    sel.unregister(u.sock)
                    continue
            if mask & selectors.EVENT_WRITE:
                try:
                    n = u.sock.send(u.data[u.off:u.off + 262144])
                    u.off += n
                except BlockingIOError:
                    pass
                except OSError as e:
                    u.err = e
                    sel.modify(u.sock, selectors.EVENT_READ, u)
                    continue
                if u.off >= len(u.data):
                    sel.modify(u.sock, selectors.EVENT_READ, u)
    sel.close()


def head(port, sid, extra):
    lines = [f"POST {wire.eio_q('/socket.io/', sid)} HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Content-Type: text/plain;charset=UTF-8"] + extra
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def made_up_sid(i):
    # 20 characters like a real sid; the varying head and tail name different threads
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return alphabet[i % 64] + "madeupsidmadeupsi" + alphabet[(i * 7) % 64] + alphabet[(i * 13) % 64]


def summary(uploads):
    counts = {}
    for u in uploads:
        k = str(u.resp[0]) if u.resp else ("reset" if u.err else ("closed" if u.eof else "no answer"))
        counts[k] = counts.get(k, 0) + 1
    return ", ".join(f"{n} x {k}" for k, n in sorted(counts.items()))


def unknown_sid_uploads():
    with rel.Server("echo", ["--io-threads", "2"]) as srv:
        base = srv.rss_mb()
        body = b"4" + b"z" * (999_000 - 1)    # all but the last 999 bytes of 999,999
        ups = [Upload(srv.port, head(srv.port, made_up_sid(i), ["Content-Length: 999999"]) + body)
               for i in range(300)]
        t0 = time.monotonic()
        stream(ups, timeout=40, idle=3)
        took = time.monotonic() - t0
        mem = srv.mem_figure()
        peak = srv.peak_mb()
        right = sum(1 for u in ups if u.resp and u.resp[0] == 400 and u.resp[1] == UNKNOWN)
        sent_mb = sum(u.off for u in ups) / 1e6
        early = sum(1 for u in ups if u.resp and u.resp_at_off is not None and u.resp_at_off < len(u.data))
        for u in ups:
            u.sock.close()
        R.check(srv.killed_at_mb is None and peak < 150 and right == 300,
                f"unknown sid uploads: 300 x 999,999-byte POSTs held open: {mem} (bound 150 MB, "
                f"{base:.0f} MB before), {sent_mb:.0f} MB sent in {took:.1f} s, answers: {summary(ups)}; "
                f"{right} the 'Session ID unknown' 400, {early} before their body was all sent")


def unknown_sid_small():
    with rel.Server("echo", ["--io-threads", "2"]) as srv:
        answers = []
        for i in range(16):
            r = wire.request(srv.port, "POST", wire.eio_q("/socket.io/", made_up_sid(i * 5 + 1)), body="40")
            answers.append((r.status, r.body))
        right = sum(1 for a in answers if a == (400, UNKNOWN))
        other = {f"{s} {b[:60]!r}" for s, b in answers if (s, b) != (400, UNKNOWN)}
        R.check(right == 16, f"unknown sid, small POSTs on 2 I/O threads: {right}/16 get 400 Session ID unknown"
                + (f"; other: {sorted(other)}" if other else ""))


def sessions(port, n):
    return [wire.handshake(port, "/socket.io/")["sid"] for _ in range(n)]


def oversized_length():
    with rel.Server("echo", ["--io-threads", "2", "--max-payload", "100000"]) as srv:
        results = []
        for sid in sessions(srv.port, 4):
            c = wire.Conn(srv.port, timeout=3)
            c.send(head(srv.port, sid, ["Content-Length: 10000000"]))
            t0 = time.monotonic()
            try:
                r = c.read_response(3, "POST")
                closed = r.eof or rel.socket_closed(c.sock, 2)
                results.append((r.status, closed, time.monotonic() - t0))
            except (OSError, wire.WireError) as e:
                results.append((type(e).__name__, False, time.monotonic() - t0))
            c.close()
        ok = all(s == 413 and closed for s, closed, _ in results)
        R.check(ok, "oversized Content-Length 10,000,000 (max-payload 100000), no body sent: "
                + ", ".join(f"{s}{' +close' if closed else ''} after {t:.1f} s" for s, closed, t in results))


def chunked_one_byte(max_payload, expect):
    flags = ["--io-threads", "2"] + (["--max-payload", str(max_payload)] if max_payload else [])
    with rel.Server("echo", flags) as srv:
        payload = b"4" + b"a" * 499_999
        chunks = b"".join(b"1\r\n" + payload[i:i + 1] + b"\r\n" for i in range(len(payload))) + b"0\r\n\r\n"
        ups = [Upload(srv.port, head(srv.port, sid, ["Transfer-Encoding: chunked"]) + chunks)
               for sid in sessions(srv.port, 8)]
        stream(ups, timeout=30, idle=3)
        n = sum(1 for u in ups if u.resp and u.resp[0] == expect)
        mb = sum(u.off for u in ups) / 1e6
        for u in ups:
            u.sock.close()
        R.check(n == 8, f"chunked 500 KB body as 1-byte chunks (max-payload {max_payload or '1000000 (default)'}), "
                f"8 sessions on 2 I/O threads: {summary(ups)} (expect 8 x {expect}; {mb:.1f} MB of chunks sent)")


R.guarded("unknown sid uploads", unknown_sid_uploads)
R.guarded("unknown sid, small", unknown_sid_small)
R.guarded("oversized length", oversized_length)
R.guarded("chunked, under the limit", lambda: chunked_one_byte(0, 200))
R.guarded("chunked, over the limit", lambda: chunked_one_byte(100000, 413))
R.exit()

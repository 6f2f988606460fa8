#!/usr/bin/python3
"""py_client.py: interop checks with python-socketio's Client (Debian 5.7.2).

    /usr/bin/python3 py_client.py --url http://127.0.0.1:18001 \
        --ping-url http://127.0.0.1:18002 [--path socket.io]

--url       server with default options
--ping-url  server started with --ping-interval 300 --ping-timeout 200

Prints "ok - name" / "not ok - name: reason" per check, then
"N passed, N failed"; exits 1 when a check failed.
"""
import argparse
import os
import queue
import sys
import threading
import time

import socketio

UNICODE = "héllo wörld ✓ 日本語 😀"

passed = 0
failed = 0


class CheckError(Exception):
    pass


def check_eq(actual, expected, what):
    if actual != expected:
        raise CheckError(f"{what}: expected {expected!r}, got {actual!r}")


def check_true(cond, what):
    if not cond:
        raise CheckError(what)


class Ctx:
    """Tracks clients made by a check so they are disconnected afterwards."""

    def __init__(self):
        self.clients = []

    def client(self, **kw):
        c = socketio.Client(reconnection=False, **kw)
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients:
            try:
                c.disconnect()
            except Exception:
                pass


def run_check(name, fn, timeout=8.0):
    """Run fn(ctx) in a thread with its own timeout."""
    global passed, failed
    ctx = Ctx()
    result = {}

    def target():
        try:
            fn(ctx)
            result["ok"] = True
        except CheckError as e:
            result["err"] = str(e)
        except Exception as e:  # anything unexpected is a failure too
            result["err"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        result = {"err": f"timed out after {timeout} s"}
    closer = threading.Thread(target=ctx.close, daemon=True)
    closer.start()
    closer.join(3)
    if result.get("ok"):
        passed += 1
        print(f"ok - {name}", flush=True)
    else:
        failed += 1
        msg = str(result.get("err")).splitlines()[0] if result.get("err") else "failed"
        print(f"not ok - {name}: {msg}", flush=True)


class Recorder:
    """Collects events per (namespace, event) into queues."""

    def __init__(self, client, namespaces=("/",), events=("auth", "message-back", "bcast", "ping-me")):
        self.q = {}
        for ns in namespaces:
            for ev in list(events) + ["connect_error", "disconnect"]:
                qq = queue.Queue()
                self.q[(ns, ev)] = qq
                client.on(ev, self._handler(qq), namespace=ns)

    @staticmethod
    def _handler(qq):
        def h(*args):
            qq.put(args)
        return h

    def get(self, event, ns="/", timeout=3.0):
        try:
            return self.q[(ns, event)].get(timeout=timeout)
        except queue.Empty:
            raise CheckError(f'no "{event}" on {ns} within {timeout} s') from None

    def empty(self, event, ns="/"):
        return self.q[(ns, event)].empty()


def connect(c, url, mode, path, **kw):
    kw.setdefault("namespaces", ["/"])
    kw.setdefault("wait_timeout", 5)
    c.connect(url, transports=mode, socketio_path=path, **kw)


# python-socketio 5.7 keeps waiting wait_timeout after a connect_error (it
# waits until no more namespace events come), so refusals use a short one.
REFUSE_WAIT = 1.0


def suite(args, mode_name, mode):
    p = f"[{mode_name}] "
    url, path = args.url, args.path

    def t_connect(ctx):
        c = ctx.client()
        r = Recorder(c)
        connect(c, url, mode, path, auth={"token": "abc", "n": 1})
        check_eq(r.get("auth"), ({"token": "abc", "n": 1},), "auth payload")
        check_true(c.get_sid("/"), "no socket sid")
        expect = mode[0] if mode else "websocket"
        check_eq(c.transport(), expect, "transport")
    run_check(p + "connect to / and receive auth emit", t_connect)

    def t_noauth(ctx):
        c = ctx.client()
        r = Recorder(c)
        connect(c, url, mode, path)
        check_eq(r.get("auth"), ({},), "auth payload")
    run_check(p + "connect without auth gets {}", t_noauth)

    def t_message(ctx):
        c = ctx.client()
        r = Recorder(c)
        connect(c, url, mode, path)
        c.emit("message", ("hi", 42, {"k": UNICODE}))
        check_eq(r.get("message-back"), ("hi", 42, {"k": UNICODE}), "message-back args")
    run_check(p + "emit without ack: message -> message-back", t_message)

    def t_other(ctx):
        c = ctx.client()
        r = Recorder(c)
        connect(c, url, mode, path)
        c.emit("ping-me", ([1, 2], "x"))
        check_eq(r.get("ping-me"), ([1, 2], "x"), "event args")
    run_check(p + "other event without ack is emitted back", t_other)

    def t_call(ctx):
        c = ctx.client()
        connect(c, url, mode, path)
        data = ["a", 1, 2.5, True, None, {"x": [1, 2, {"y": "z"}], "u": UNICODE}, [1, "two", [3]], UNICODE]
        res = c.call("echo", tuple(data), timeout=3)
        check_eq(list(res), data, "ack args")
        check_eq(c.call("echo", "single", timeout=3), "single", "single-arg ack")
        res = c.call("message-with-ack", ("m", {"n": 1}), timeout=3)
        check_eq(list(res), ["m", {"n": 1}], "message-with-ack args")
        # an emit with a callback (no blocking) gets its ack too
        got = queue.Queue()
        c.emit("echo", (7, "seven"), callback=lambda *a: got.put(a))
        try:
            check_eq(got.get(timeout=3), (7, "seven"), "callback args")
        except queue.Empty:
            raise CheckError("no ack callback within 3 s") from None
    run_check(p + "emit with ack: call() echo with several args", t_call)

    def t_bin_ack(ctx):
        c = ctx.client()
        connect(c, url, mode, path)
        b1 = bytes([1, 2, 3])
        b2 = bytes([0, 255, 128, 10, 13, 0x1e])
        big = bytes([0xab]) * 5000
        res = c.call("echo", ("txt", b1, {"nested": b2, "list": [big]}), timeout=3)
        check_eq(len(res), 3, "ack arg count")
        check_eq(res[0], "txt", "text arg")
        check_true(isinstance(res[1], bytes), f"arg 1 is not bytes: {res[1]!r}")
        check_eq(res[1], b1, "arg 1 bytes")
        check_eq(res[2]["nested"], b2, "nested bytes")
        check_true(res[2]["list"][0] == big, "5000-byte buffer differs")
    run_check(p + "binary ack: bytes come back as equal bytes", t_bin_ack)

    def t_bin_event(ctx):
        c = ctx.client()
        r = Recorder(c)
        connect(c, url, mode, path)
        c.emit("message", (bytes([0, 1, 255]), "after"))
        got = r.get("message-back")
        check_eq(got, (bytes([0, 1, 255]), "after"), "message-back args")
    run_check(p + "binary event: message with bytes -> message-back bytes", t_bin_event)

    def t_two_ns(ctx):
        c = ctx.client()
        r = Recorder(c, namespaces=("/", "/custom"))
        connect(c, url, mode, path, namespaces=["/", "/custom"], auth={"who": "both"})
        check_eq(r.get("auth", "/"), ({"who": "both"},), "auth on /")
        check_eq(r.get("auth", "/custom"), ({"who": "both"},), "auth on /custom")
        s1, s2 = c.get_sid("/"), c.get_sid("/custom")
        check_true(s1 and s2 and s1 != s2, f"namespace sids {s1!r} {s2!r}")
        check_true(c.eio.sid and c.eio.sid not in (s1, s2), "engine sid equals a namespace sid")
        check_eq(c.call("echo", ("c", 1), namespace="/custom", timeout=3), ("c", 1), "ack on /custom")
        check_eq(c.call("echo", ("r", 2), namespace="/", timeout=3), ("r", 2), "ack on /")
        c.emit("message", "to-custom", namespace="/custom")
        check_eq(r.get("message-back", "/custom"), ("to-custom",), "message-back on /custom")
        time.sleep(0.1)
        check_true(r.empty("message-back", "/"), "message-back leaked to /")
    run_check(p + "two namespaces on one connection", t_two_ns)

    def t_refused(ctx):
        refusal = {"reason": "nope", "code": 42, "list": [1, "x"]}
        c = ctx.client()
        r = Recorder(c)
        try:
            connect(c, url, mode, path, auth={"refuse": refusal}, wait_timeout=REFUSE_WAIT)
        except socketio.exceptions.ConnectionError:
            pass
        else:
            raise CheckError("connect() succeeded")
        (data,) = r.get("connect_error", timeout=1)
        check_true(isinstance(data, dict), f"connect_error data is not a dict: {data!r}")
        check_eq(data.get("data"), refusal, "connect_error data['data']")
        check_true(not c.connected, "client connected")
    run_check(p + "refused connection carries the data", t_refused)

    def t_refused_custom(ctx):
        c = ctx.client()
        r = Recorder(c, namespaces=("/custom",))
        try:
            connect(c, url, mode, path, namespaces=["/custom"], auth={"refuse": {"why": "custom"}}, wait_timeout=REFUSE_WAIT)
        except socketio.exceptions.ConnectionError:
            pass
        else:
            raise CheckError("connect() succeeded")
        (data,) = r.get("connect_error", "/custom", timeout=1)
        check_eq(data.get("data") if isinstance(data, dict) else data, {"why": "custom"}, "data on /custom")
    run_check(p + "refused connection on /custom carries the data", t_refused_custom)

    def t_bad_ns(ctx):
        c = ctx.client()
        r = Recorder(c, namespaces=("/nope",))
        try:
            connect(c, url, mode, path, namespaces=["/nope"], wait_timeout=REFUSE_WAIT)
        except socketio.exceptions.ConnectionError:
            pass
        else:
            raise CheckError("connect() succeeded")
        (data,) = r.get("connect_error", "/nope", timeout=1)
        msg = data.get("message") if isinstance(data, dict) else data
        check_eq(msg, "Invalid namespace", "connect_error message")
    run_check(p + "unknown namespace gives Invalid namespace", t_bad_ns)

    def t_bcast(ctx):
        c1, c2 = ctx.client(), ctx.client()
        r1, r2 = Recorder(c1), Recorder(c2)
        connect(c1, url, mode, path)
        connect(c2, url, mode, path)
        c1.call("echo", 0, timeout=3)
        c2.call("echo", 0, timeout=3)
        c1.emit("bcast", ("hello all", {"n": 7}))
        check_eq(r1.get("bcast"), ("hello all", {"n": 7}), "sender got")
        check_eq(r2.get("bcast"), ("hello all", {"n": 7}), "other client got")
    run_check(p + "bcast reaches both clients", t_bcast)

    if args.ping_url:
        def t_idle(ctx):
            c = ctx.client()
            r = Recorder(c)
            connect(c, args.ping_url, mode, path)
            time.sleep(1.5)
            check_true(r.empty("disconnect"), "disconnect fired while idle")
            check_true(c.connected, "not connected after idle")
            check_eq(c.call("echo", "alive", timeout=3), "alive", "ack after idle")
        run_check(p + "idle connection survives several ping intervals", t_idle)

        def t_drop(ctx):
            c = ctx.client()
            r = Recorder(c)
            connect(c, args.ping_url, mode, path)
            eio = c.eio
            orig = eio._send_packet
            dropped = []

            def send(pkt):
                if pkt.packet_type == 3:  # engine.io PONG
                    dropped.append(pkt)
                    return
                return orig(pkt)
            eio._send_packet = send
            t0 = time.monotonic()
            bound = (args.ping_interval + args.ping_timeout + 1000) / 1000.0
            r.get("disconnect", timeout=bound)
            dt = time.monotonic() - t0
            check_true(dropped, "no ping arrived to drop")
            check_true(dt >= args.ping_interval / 1000.0, f"closed after {dt:.3f} s, before one ping interval")
        run_check(p + "server drops a client that stops answering pings", t_drop)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:18001")
    ap.add_argument("--ping-url")
    ap.add_argument("--path", default="/socket.io/")
    ap.add_argument("--ping-interval", type=int, default=300)
    ap.add_argument("--ping-timeout", type=int, default=200)
    args = ap.parse_args()
    args.path = args.path.strip("/")
    for name, mode in (("polling", ["polling"]), ("websocket", ["websocket"]), ("upgrade", None)):
        suite(args, name, mode)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.stdout.flush()
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()

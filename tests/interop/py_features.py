#!/usr/bin/python3
"""py_features.py: the plugin-author features of issue 4 with python-socketio's
Client (Debian 5.7.2) against `sio server --plugin demo4.so`; the python
counterpart of features_client.mjs (plugins/demo4/demo4.c lists the events).

    /usr/bin/python3 py_features.py --url http://127.0.0.1:18010

The server must run with its default HTTP compression (gzip/deflate of
polling bodies of 1024 bytes or more).

Prints "ok - name" / "not ok - name: reason" per check, then
"N passed, N failed"; exits 1 when a check failed.
"""
import argparse
import queue
import sys
import threading
import time

import requests
import socketio

URL = "http://127.0.0.1:18010"
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
    """Clients made by a check, disconnected afterwards."""

    def __init__(self):
        self.clients = []

    def client(self, namespaces=("/",), transports=("websocket",), http_session=None):
        kw = {"http_session": http_session} if http_session is not None else {}
        c = socketio.Client(reconnection=False, **kw)
        self.clients.append(c)
        c.rec = Recorder(c, namespaces)
        c.connect(URL, transports=list(transports), namespaces=list(namespaces), wait_timeout=5)
        return c

    def close(self):
        for c in self.clients:
            try:
                c.disconnect()
            except Exception:
                pass


class Recorder:
    """Every event (catch-all) and disconnect per namespace, into queues.

    python-socketio runs each incoming event on its own thread, so events
    that arrive together may be recorded in any order."""

    def __init__(self, client, namespaces):
        self.q = {}
        self.client = client
        for ns in namespaces:
            client.on("*", self._any(ns), namespace=ns)
            client.on("disconnect", self._disc(ns), namespace=ns)

    def _queue(self, ns, ev):
        return self.q.setdefault((ns, ev), queue.Queue())

    def _any(self, ns):
        def h(event, *args):
            self._queue(ns, event).put(args)
        return h

    def _disc(self, ns):
        def h(*args):       # 5.7 passes no reason
            self._queue(ns, "disconnect").put(args)
        return h

    def get(self, event, ns="/", timeout=3.0):
        try:
            return self._queue(ns, event).get(timeout=timeout)
        except queue.Empty:
            raise CheckError(f'no "{event}" on {ns} within {timeout} s') from None

    def drain(self, event, ns="/"):
        out, qq = [], self._queue(ns, event)
        while True:
            try:
                out.append(qq.get_nowait())
            except queue.Empty:
                return out


def call(c, event, *args, ns="/", timeout=3):
    try:
        return c.call(event, args if len(args) != 1 else args[0], namespace=ns, timeout=timeout)
    except socketio.exceptions.TimeoutError:
        raise CheckError(f'no ack for "{event}" on {ns} within {timeout} s') from None


def run_check(name, fn, timeout=10.0):
    global passed, failed
    ctx = Ctx()
    result = {}

    def target():
        try:
            fn(ctx)
            result["ok"] = True
        except CheckError as e:
            result["err"] = str(e)
        except Exception as e:
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


def sid(c, ns="/"):
    return c.get_sid(namespace=ns)


# --- rooms, skip_sid, except ---------------------------------------------

def three(ctx):
    a, b, c = ctx.client(), ctx.client(), ctx.client()
    check_eq(call(a, "join", "r1"), [sid(a), "r1"], "a rooms")
    call(b, "join", "r1")
    call(b, "join", "r2")
    call(c, "join", "r2")
    check_eq(call(c, "join", "rx"), [sid(c), "r2", "rx"], "c rooms")
    return a, b, c


def got(c, ev="x"):
    return sorted(args[0] for args in c.rec.drain(ev))


def t_rooms_skip_sid(ctx):
    a, b, c = three(ctx)
    check_eq(call(a, "emit", {"to": sid(b), "event": "x", "args": ["sid"]}), True, "emit ack")
    call(a, "emit", {"to": "r1", "event": "x", "args": ["room"]})
    call(a, "emit", {"skip": sid(a), "event": "x", "args": ["skip-one"]})
    call(a, "emit", {"skip": [sid(a), sid(c)], "event": "x", "args": ["skip-list"]})
    call(a, "emit", {"self": False, "event": "x", "args": ["skip-self"]})
    call(a, "emit", {"to": "r2", "skip": sid(b), "event": "x", "args": ["room-skip"]})
    time.sleep(0.3)
    check_eq(got(a), sorted(["room"]), "a got")
    check_eq(got(b), sorted(["sid", "room", "skip-one", "skip-list", "skip-self"]), "b got")
    check_eq(got(c), sorted(["skip-one", "skip-self", "room-skip"]), "c got")


def t_rooms_except(ctx):
    a, b, c = three(ctx)
    call(a, "emit", {"to": ["r1", "r2"], "except": ["rx"], "event": "x", "args": ["r12-rx"]})
    call(a, "emit", {"to": ["r1", "r2"], "event": "x", "args": ["r12"]})
    call(a, "emit", {"except": "r1", "event": "x", "args": ["all-r1"]})
    call(a, "emit", {"to": ["r2", "rx"], "except": ["r1"], "event": "x", "args": ["r2x-r1"]})
    time.sleep(0.3)
    check_eq(got(a), sorted(["r12-rx", "r12"]), "a got")
    check_eq(got(b), sorted(["r12-rx", "r12"]), "b got")
    check_eq(got(c), sorted(["r12", "all-r1", "r2x-r1"]), "c got")


def t_rooms_leave_close(ctx):
    a, b = ctx.client(), ctx.client()
    check_eq(call(a, "join_sid", sid(b), "club"), [sid(b), "club"], "b joined by a")
    check_eq(call(a, "rooms", sid(b)), [sid(b), "club"], "rooms(b)")
    check_eq(call(b, "leave", "club"), [sid(b)], "b left")
    call(a, "join_sid", sid(b), "club")
    check_eq(call(a, "close", "club"), True, "close")
    check_eq(call(a, "rooms", sid(b)), [sid(b)], "rooms after close")
    call(a, "emit", {"to": "club", "event": "x", "args": ["closed"]})
    time.sleep(0.2)
    check_eq(got(b), [], "b after close")


# --- acks -------------------------------------------------------------------

def t_server_call(ctx):
    a = ctx.client()
    a.on("ping_me", lambda x: {"pong": x})
    check_eq(call(a, "call", {"event": "ping_me", "args": [7], "timeout": 2000}), True, "call ack")
    check_eq(a.rec.get("call_result"), ("ok", [{"pong": 7}]), "answered")
    # a tuple is several ack arguments
    a.on("pair", lambda: (1, "two"))
    call(a, "call", {"event": "pair", "args": [], "timeout": 2000})
    check_eq(a.rec.get("call_result"), ("ok", [1, "two"]), "two ack args")
    # python-socketio 5.7 always acks (an empty ack when the handler returns
    # None), so "not answering" is answering after the timeout
    a.on("slow", lambda: (time.sleep(0.8), "late")[1])
    call(a, "call", {"event": "slow", "args": [], "timeout": 200})
    check_eq(a.rec.get("call_result"), ("timeout",), "timed out")
    time.sleep(0.8)     # the late ack arrives and must be ignored
    check_eq(a.rec.drain("call_result"), [], "nothing after the timeout")
    check_eq(call(a, "rooms"), [sid(a)], "still served after a late ack")


def t_task_call(ctx):
    a = ctx.client()
    a.on("q", lambda x: x + 1)
    call(a, "task_call", {"event": "q", "args": [1], "timeout": 2000})
    check_eq(a.rec.get("task_call_result"), ("ok", [2]), "answered")
    a.on("slow", lambda: (time.sleep(0.8), "late")[1])
    call(a, "task_call", {"event": "slow", "args": [], "timeout": 200})
    check_eq(a.rec.get("task_call_result"), ("timeout",), "timed out")


def t_emit_callback(ctx):
    a = ctx.client()
    box = queue.Queue()
    a.emit("join", "r9", callback=lambda *args: box.put(args))
    try:
        check_eq(box.get(timeout=3), ([sid(a), "r9"],), "join callback")
    except queue.Empty:
        raise CheckError("no callback within 3 s") from None
    a.emit("whatever", (1, {"k": [None, 2.5]}), callback=lambda *args: box.put(args))
    check_eq(box.get(timeout=3), (["any", "whatever", "/", 1, {"k": [None, 2.5]}],), "tuple args")
    check_eq(call(a, "bin"), (b"\x01\x02\x03", {"nested": b"\xff"}, 3), "binary ack")
    a.emit("send", ("hello", {"n": 1}))
    check_eq(a.rec.get("message"), ("hello", {"n": 1}), "send() is 'message'")


# --- sessions ---------------------------------------------------------------

def t_sessions(ctx):
    a = ctx.client(namespaces=("/", "/zzz"))
    check_eq(call(a, "sess_set", {"user": "ann"}), {"user": "ann"}, "set")
    check_eq(call(a, "sess_set", {"n": 2}), {"user": "ann", "n": 2}, "merge")
    check_eq(call(a, "rooms"), [sid(a)], "another event between")
    check_eq(call(a, "sess_get"), {"user": "ann", "n": 2}, "get")
    check_eq(call(a, "sess_get", ns="/zzz"), {}, "other namespace")
    old = sid(a)
    a.disconnect()
    # 5.7's disconnect() does not wait for the old read loop, which would
    # tear down the next connection of the same Client when it ends late
    task = getattr(a.eio, "read_loop_task", None)
    if task is not None:
        task.join(3)
    a.connect(URL, transports=["websocket"], namespaces=["/"], wait_timeout=5)
    check_true(sid(a) and sid(a) != old, f"a new sid after reconnect ({old} -> {sid(a)})")
    check_eq(call(a, "sess_get"), {}, "after reconnect")


# --- catch-alls and namespaces ---------------------------------------------

def t_catch_all(ctx):
    nss = ("/", "/zzz", "/rooms/kitchen")
    a = ctx.client(namespaces=nss)
    check_eq(call(a, "whatever", 1, "two"), ["any", "whatever", "/", 1, "two"], "catch-all event")
    check_eq(call(a, "hi", ns="/zzz"), ["any", "hi", "/zzz"], "catch-all namespace")
    check_eq(call(a, "hey", 3, ns="/rooms/kitchen"), ["any", "hey", "/rooms/kitchen", 3],
             "pattern namespace")
    k = sid(a, "/rooms/kitchen")
    check_true(k and k != sid(a), "own sid per namespace")
    check_eq(call(a, "join", "k", ns="/rooms/kitchen"), [k, "k"], "pattern nsp handlers")
    # the client's own catch-all gets what the server emits, per namespace
    call(a, "emit", {"to": sid(a, "/zzz"), "event": "zz", "args": [1, "b"]}, ns="/zzz")
    check_eq(a.rec.get("zz", ns="/zzz"), (1, "b"), "client catch-all on /zzz")
    check_eq(a.rec.drain("zz"), [], "nothing on / from /zzz")


def t_namespace_refused(ctx):
    # demo4 serves "/", "/rooms/*" and "*": "/rooms" alone is the catch-all
    a = ctx.client(namespaces=("/rooms",))
    check_eq(call(a, "x", ns="/rooms"), ["any", "x", "/rooms"], "'/rooms' is the catch-all")


# --- server-side disconnect ---------------------------------------------------

def t_server_disconnect(ctx):
    a, b = ctx.client(), ctx.client()
    bsid = sid(b)
    check_eq(call(a, "kick", {"sid": bsid}), True, "kick")
    check_eq(b.rec.get("disconnect"), (), "b's disconnect handler (no reason in 5.7)")
    deadline = time.time() + 2
    while b.connected and time.time() < deadline:
        time.sleep(0.05)
    check_true(not b.connected, "b.connected is False after the server disconnect")
    check_eq(b.namespaces, {}, "b has no namespaces left")
    time.sleep(0.1)
    check_eq(call(a, "reason", bsid), "server disconnect", "server-side reason")
    # python-socketio 5.7's websocket transport writes the DISCONNECT packet
    # after its close frame (a client race: the server sees "transport
    # close"); over polling the packet goes out in the last POST
    c = ctx.client(transports=("polling",))
    csid = sid(c)
    c.disconnect()
    reason, deadline = None, time.time() + 3
    while reason is None and time.time() < deadline:
        time.sleep(0.1)
        reason = call(a, "reason", csid)
    check_eq(reason, "client disconnect", "client disconnect reason")


def t_kick_self_namespace(ctx):
    a = ctx.client(namespaces=("/", "/zzz"))
    zsid = sid(a, "/zzz")
    a.emit("kick", {}, namespace="/zzz")      # the sender's /zzz only
    check_eq(a.rec.get("disconnect", ns="/zzz"), (), "/zzz disconnect handler")
    time.sleep(0.2)
    check_true(a.connected, "still connected on /")
    check_eq(list(a.namespaces), ["/"], "namespaces left")
    check_eq(call(a, "rooms"), [sid(a)], "/ still served")
    check_eq(call(a, "reason", zsid), "server disconnect", "server-side reason for /zzz")


def t_kick_whole(ctx):
    a = ctx.client(namespaces=("/", "/zzz"))
    a.emit("kick", {"whole": True})
    check_eq(a.rec.get("disconnect"), (), "/ disconnect handler")
    check_eq(a.rec.get("disconnect", ns="/zzz"), (), "/zzz disconnect handler")
    deadline = time.time() + 2
    while a.connected and time.time() < deadline:
        time.sleep(0.05)
    check_true(not a.connected, "not connected")


# --- HTTP compression of polling responses ----------------------------------

def t_compressed_polling(encoding):
    def t(ctx):
        seen = []
        s = requests.Session()
        s.headers["Accept-Encoding"] = encoding
        s.hooks["response"].append(
            lambda r, *a, **k: seen.append((r.request.method, r.headers.get("Content-Encoding"))))
        a = ctx.client(transports=("polling",), http_session=s)
        payload = ("é✓ sio " * 700)[:4096]
        check_eq(call(a, "echo", payload, timeout=5), ["any", "echo", "/", payload],
                 "4 KB echo over polling")
        small = call(a, "small")
        check_eq(small, ["any", "small", "/"], "small echo")
        enc = [e for m, e in seen if m == "GET" and e]
        want = None if encoding == "identity" else encoding
        if want:
            check_true(want in enc, f"a GET answered with Content-Encoding {want} ({seen})")
        check_true(all(e == want for e in enc), f"only {want} seen ({seen})")
        check_eq(a.transport(), "polling", "transport")
    return t


def main():
    global URL
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default=URL)
    URL = ap.parse_args().url
    run_check("rooms and skip_sid (one, a list, the sender) with three clients", t_rooms_skip_sid)
    run_check("broadcast to several rooms with except", t_rooms_except)
    run_check("join another sid, rooms(sid), leave, close_room", t_rooms_leave_close)
    run_check("server call() answered (one and two args) and timing out", t_server_call)
    run_check("blocking call() from a task: answered and timing out", t_task_call)
    run_check("emit with callback; tuple args; binary ack; send()", t_emit_callback)
    run_check("sessions kept across events, per namespace, gone after reconnect", t_sessions)
    run_check("catch-all events and namespaces, pattern namespace, client catch-all",
              t_catch_all)
    run_check("a namespace outside the pattern goes to the catch-all", t_namespace_refused)
    run_check("server-side disconnect seen by the client; reasons on the server",
              t_server_disconnect)
    run_check("server disconnect of one namespace leaves the others", t_kick_self_namespace)
    run_check("server disconnect of the whole client", t_kick_whole)
    run_check("gzip polling response decoded by the client", t_compressed_polling("gzip"))
    run_check("deflate polling response decoded by the client", t_compressed_polling("deflate"))
    run_check("no Content-Encoding for Accept-Encoding: identity",
              t_compressed_polling("identity"))
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

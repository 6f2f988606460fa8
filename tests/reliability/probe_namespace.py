"""Issue 17, item 6: an event for a namespace the client has not joined.

The JS server closes the client's connection on such a packet (its Client
finds no socket for the namespace and calls close()); today's sio ignores
it silently, so a confused or hostile client can keep sending into the void.

  not joined, ws       echo plugin (namespaces "/" and "/custom"): a client
                       joined to "/" only sends `42/custom,["echo",1]` over
                       its WebSocket. Expect the server to close the whole
                       Engine.IO connection (within 3 s).
  unknown nsp, ws      the same with `42/nope,["x"]` (no such namespace).
  not joined, polling  the same packet POSTed by a polling client joined to
                       "/": afterwards the session is gone (a GET gets a
                       close packet "1" or 400, within 3 s).
  joined still works   a client joined to "/" and "/custom" gets its acks on
                       both (the rule must not hit joined namespaces).

Nothing here needs a new flag; --before runs the same probes.
"""
import time

import rel
from rel import wire

R = rel.Report()


def ws_case(label, packet):
    with rel.Server("echo") as srv:
        c, _, _ = rel.sio_ws(srv.port)
        c.ws_send_text(packet)
        t0 = time.monotonic()
        closed = rel.socket_closed(c.sock, 3)
        took = time.monotonic() - t0
        c.close()
        R.check(closed, f"{label}: {packet!r} from a client joined to '/' only: connection "
                + (f"closed after {took:.2f} s" if closed else "still open after 3 s"))


def polling_case():
    with rel.Server("echo") as srv:
        sid, _ = wire.sio_polling_session(srv.port, "/socket.io/")
        r = wire.post(srv.port, "/socket.io/", sid, '42/custom,["echo",1]')
        post = f"{r.status} {r.body[:40]!r}"
        outcome = None
        deadline = time.monotonic() + 3
        while outcome is None and time.monotonic() < deadline:
            try:
                g = wire.get(srv.port, "/socket.io/", sid, timeout=max(0.2, deadline - time.monotonic()))
            except (OSError, wire.WireError):
                break    # a long-poll held until the deadline: the session lives
            if g.status == 400:
                outcome = "GET 400"
            elif g.status == 200 and "1" in wire.split_payload(g.body):
                outcome = "close packet"
        R.check(outcome is not None, f"not joined, polling: POST {post}; then the session "
                + (f"is closed ({outcome})" if outcome else "still lives 3 s later"))


def joined_works():
    with rel.Server("echo") as srv:
        c, _, _ = rel.sio_ws(srv.port)
        c.ws_send_text("40/custom,")
        rel.ws_wait_packet(c, "40/custom,", 3)
        c.ws_send_text('421["echo","a"]')
        a = rel.ws_wait_packet(c, "431", 3)
        c.ws_send_text('42/custom,2["echo","b"]')
        b = rel.ws_wait_packet(c, "43/custom,2", 3)
        c.close()
        R.check(a == b'431["a"]' and b == b'43/custom,2["b"]',
                f"joined still works: acks on '/' {a!r} and '/custom' {b!r}")


R.guarded("not joined, ws", lambda: ws_case("not joined, ws", '42/custom,["echo",1]'))
R.guarded("unknown nsp, ws", lambda: ws_case("unknown nsp, ws", '42/nope,["x"]'))
R.guarded("not joined, polling", polling_case)
R.guarded("joined still works", joined_works)
R.exit()

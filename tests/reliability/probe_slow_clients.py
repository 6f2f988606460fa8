"""Issue 17, item 1: clients that never read must not hold unbounded memory.

  slow room reader  demo4 plugin; a member of room "r" with a 4 KiB receive
                    buffer never reads while another client has 64 KiB
                    events emitted to "r" (demo4's `emit`; at most 15 s /
                    12000 messages). Expect: peak RSS under 200 MB, the
                    reader's connection closed by the server
                    (--max-client-buffer 4 MiB), "slow client" in the info
                    log, the sender still answered, and the reason the
                    plugin's on_disconnect got for the reader (demo4's
                    `reason`) "transport error".
  ping flood        echo plugin; a client floods 125-byte WebSocket pings
                    (at most 10 s) and never reads its pongs. Expect: peak
                    RSS under 200 MB, the flooder disconnected.
  close timeout     echo plugin with --ping-interval/--ping-timeout 1000; a
                    client that never reads has ~7 MB of echoes queued and
                    answers no ping: after the ping timeout its connection
                    closes but cannot drain; --close-timeout 1000 must
                    force-close it (its fd leaves the server within 10 s).

--before omits --max-client-buffer/--close-timeout (today's server has
neither); the memory guard of rel.py bounds what today's server may take.
"""
import json
import socket
import time

import rel
from rel import wire

R = rel.Report()
MiB = 1 << 20
RSS_BOUND_MB = 200


def slow_room_reader():
    flags = rel.new_flags("--max-client-buffer", str(4 * MiB), "--close-timeout", "2000")
    with rel.Server("demo4", flags, log_level="info") as srv:
        reader, _, seen = rel.sio_ws(srv.port, expect_auth=False, rcvbuf=4096)
        reader_sid = next(json.loads(p[2:])["sid"] for op, p in seen if p.startswith(b"40{"))
        reader.ws_send_text('421["join","r"]')
        rel.ws_wait_packet(reader, "431")
        sender, _, _ = rel.sio_ws(srv.port, expect_auth=False)
        base_fds = srv.nfds()
        base_rss = srv.rss_mb()

        # the sender waits for an ack every 8th message: the server is never
        # behind on the sender's input, so what grows is the reader's output
        text = "x" * 65536
        frame = rel.masked_frame(1, '42["emit",{"to":"r","event":"big","args":["' + text + '"]}]')
        t0 = time.monotonic()
        sent = 0
        closed_after = None
        send_error = None
        while sent < 12000 and time.monotonic() - t0 < 15 and srv.alive():
            try:
                sender.sock.settimeout(10)
                if sent % 8 == 7:
                    sender.sock.sendall(rel.masked_frame(
                        1, f'42{sent}["emit",{{"to":"r","event":"big","args":["{text}"]}}]'))
                    rel.ws_wait_packet(sender, f"43{sent}[", 10)
                else:
                    sender.sock.sendall(frame)
            except (OSError, wire.WireError) as e:
                send_error = e
                break
            sent += 1
            if closed_after is None and sent % 8 == 0:
                n = srv.nfds()
                if n is not None and base_fds is not None and n < base_fds:
                    closed_after = time.monotonic() - t0
            # a second more once the reader is gone: the room's emits go on
            if closed_after is not None and time.monotonic() - t0 > closed_after + 1:
                break
        flood_s = time.monotonic() - t0
        mem = srv.mem_figure()
        peak = srv.peak_mb()
        alive = srv.alive() and srv.killed_at_mb is None
        # a server the guard killed closes every connection: not a disconnect
        reader_closed = alive and rel.socket_closed(reader.sock, 5) and srv.alive()
        slow_logged = any("slow client" in ln for ln in srv.stderr_lines())
        sender_ok = False
        reason = None
        if alive and send_error is None:
            sender.ws_send_text(f'429["reason","{reader_sid}"]')
            try:
                ack = rel.ws_wait_packet(sender, "439", 5)
                sender_ok = True
                reason = json.loads(ack[3:])[0]
            except (OSError, wire.WireError, ValueError, IndexError):
                pass
        reader.close()
        sender.close()
        when = f"after {closed_after:.1f} s" if closed_after is not None else "(fd not seen closing)"
        R.check(srv.killed_at_mb is None and peak < RSS_BOUND_MB and reader_closed,
                f"slow room reader: {mem} (bound {RSS_BOUND_MB} MB, {base_rss:.0f} MB before), "
                f"{sent} x 64 KiB sent in {flood_s:.1f} s, reader "
                f"{'disconnected ' + when if reader_closed else 'not disconnected'}")
        R.check(slow_logged, f"slow room reader: 'slow client' in the info log: {slow_logged}")
        R.check(sender_ok, f"slow room reader: the sender stays connected and gets an ack: {sender_ok}"
                + (f" (send failed: {send_error})" if send_error else ""))
        R.check(reason == "transport error",
                f"slow room reader: the reader's disconnect reason (plugin on_disconnect): {reason!r}")


def ping_flood():
    flags = rel.new_flags("--max-client-buffer", str(4 * MiB))
    with rel.Server("echo", flags, log_level="info") as srv:
        c, _, _ = rel.sio_ws(srv.port, rcvbuf=4096)
        base_rss = srv.rss_mb()
        batch = rel.masked_frame(0x9, b"p" * 125) * 500
        t0 = time.monotonic()
        pings = 0
        outcome = "still connected after the flood"
        disconnected = False
        while time.monotonic() - t0 < 10 and srv.alive():
            try:
                c.sock.settimeout(3)
                c.sock.sendall(batch)
            except (BrokenPipeError, ConnectionResetError) as e:
                outcome = f"disconnected after {time.monotonic() - t0:.1f} s ({type(e).__name__})"
                disconnected = True
                break
            except (socket.timeout, TimeoutError):
                outcome = f"server stopped reading after {time.monotonic() - t0:.1f} s"
                break
            pings += 500
        if not disconnected and srv.alive() and rel.socket_closed(c.sock, 5):
            outcome = f"disconnected (seen at EOF {time.monotonic() - t0:.1f} s)"
            disconnected = True
        if srv.killed_at_mb is not None or not srv.alive():
            # the guard's SIGKILL resets the connection too: not a disconnect
            outcome = f"server gone after {time.monotonic() - t0:.1f} s"
            disconnected = False
        c.close()
        mem = srv.mem_figure()
        peak = srv.peak_mb()
        slow_logged = any("slow client" in ln for ln in srv.stderr_lines())
        R.check(srv.killed_at_mb is None and peak < RSS_BOUND_MB and disconnected,
                f"ping flood: {mem} (bound {RSS_BOUND_MB} MB, {base_rss:.0f} MB before), "
                f"{pings} pings of 125 B sent, {outcome}, 'slow client' logged: {slow_logged}")
        ok = srv.alive() and rel.echo_works(srv.port)
        R.check(ok, f"ping flood: a new client echoes afterwards: {ok}"
                + ("" if srv.alive() else " (the server is gone)"))


def close_timeout():
    flags = ["--ping-interval", "1000", "--ping-timeout", "1000"] + \
        rel.new_flags("--close-timeout", "1000", "--max-client-buffer", str(64 * MiB))
    with rel.Server("echo", flags) as srv:
        base_fds = srv.nfds()
        c, _, _ = rel.sio_ws(srv.port, rcvbuf=4096)
        frame = rel.masked_frame(1, '42["message","' + "y" * 900_000 + '"]')
        c.sock.settimeout(10)
        for _ in range(8):
            c.sock.sendall(frame)
        t0 = time.monotonic()
        gone = None
        while time.monotonic() - t0 < 10:
            n = srv.nfds()
            if n is not None and base_fds is not None and n <= base_fds:
                gone = time.monotonic() - t0
                break
            time.sleep(0.1)
        c.close()
        R.check(gone is not None,
                "close timeout: a non-reading client with ~7 MB queued and no pongs: "
                + (f"connection force-closed {gone:.1f} s after its last send"
                   if gone is not None else "connection still open 10 s after its last send")
                + f" ({srv.mem_figure()})")


R.guarded("slow room reader", slow_room_reader)
R.guarded("ping flood", ping_flood)
R.guarded("close timeout", close_timeout)
R.exit()

"""Issue 17, item 2: running out of file descriptors must not make the server spin.

  fd limit raised   under `prlimit --nofile=256:4096` the server's soft
                    limit (/proc/PID/limits) becomes its hard limit.
  fd exhaustion     under `prlimit --nofile=1024:1024` (soft = hard, nothing
                    to raise) with --max-connections 5000 (so that the cap
                    does not hide EMFILE), 3000 loopback connections are
                    opened and held 5 s. Reported: the server's CPU time over
                    the flood (utime+stime from /proc/PID/stat) against the
                    flood's wall time, its stderr lines (info level). Expect:
                    CPU time below half the wall time (today it spins on
                    whatever the cores give it; a paused accept uses ~0),
                    at most 50 log lines, and once the flood's connections
                    are closed a new client connects and echoes.
  max connections   --max-connections 20: 30 polling handshakes held on
                    their own connections; the extra ones get HTTP 503 and
                    the connection closed; a WebSocket upgrade while full
                    gets 503 too; after they close a client echoes again.

--before leaves out --max-connections.
"""
import json
import errno
import os
import re
import socket
import time

import rel
from rel import wire

R = rel.Report()
rel.raise_nofile()


def limits_of(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return soft, hard
    return None, None


def fd_limit_raised():
    with rel.Server("echo", prefix=["prlimit", "--nofile=256:4096", "--"], log_level="info") as srv:
        soft, hard = limits_of(srv.pid)
        logged = [ln for ln in srv.stderr_lines() if re.search(r"\b4096\b", ln) and re.search(r"\b256\b", ln)]
        R.check(soft == "4096",
                f"fd limit: started with soft 256 / hard 4096, the server runs with soft {soft} / hard {hard}; "
                f"a log line names both: {bool(logged)}")


def fd_exhaustion():
    flags = rel.new_flags("--max-connections", "5000")
    with rel.Server("echo", flags, prefix=["prlimit", "--nofile=1024:1024", "--"], log_level="info") as srv:
        lines0 = len(srv.stderr_lines())
        cpu0 = srv.cpu_s()
        t0 = time.monotonic()
        socks = []
        refused = 0
        for _ in range(3000):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex(("127.0.0.1", srv.port))
            if rc not in (0, errno.EINPROGRESS):
                refused += 1
            socks.append(s)
        open_s = time.monotonic() - t0
        time.sleep(5)
        wall = time.monotonic() - t0
        cpu1 = srv.cpu_s()
        lines = srv.stderr_lines()
        flood_lines = len(lines) - lines0
        emfile_lines = sum(1 for ln in lines if "Too many open files" in ln or "EMFILE" in ln)
        fds = srv.nfds()
        for s in socks:
            s.close()
        cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else float("nan")
        R.check(cpu < wall / 2,
                f"fd exhaustion: server CPU {cpu:.2f} s over a {wall:.1f} s flood of 3000 connections "
                f"(opened in {open_s:.1f} s, {refused} refused at once; server held {fds} fds; bound: half the wall time)")
        R.check(flood_lines <= 50,
                f"fd exhaustion: {flood_lines} stderr lines during the flood ({emfile_lines} about EMFILE; bound 50)")
        # the server may pause accepting for a moment after EMFILE: retry a few times
        ok = False
        err = ""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and srv.alive():
            try:
                ok = rel.echo_works(srv.port)
                if ok:
                    break
            except (OSError, wire.WireError) as e:
                err = f"{type(e).__name__}: {e}"
            time.sleep(0.5)
        R.check(ok, f"fd exhaustion: after the flood's connections close a new client echoes: {ok} {err}")


def max_connections():
    flags = rel.new_flags("--max-connections", "20")
    with rel.Server("echo", flags) as srv:
        conns = []
        statuses = []
        sids = []
        closed_503 = 0
        for _ in range(30):
            try:
                c = wire.Conn(srv.port, timeout=3)
                conns.append(c)
                c.send(wire.build_request(srv.port, "GET", wire.eio_q("/socket.io/")))
                r = c.read_response(3)
                statuses.append(r.status)
                if r.status == 200:
                    sids.append(json.loads(r.body[1:])["sid"])
                if r.status == 503 and (r.eof or rel.socket_closed(c.sock, 3)):
                    closed_503 += 1
            except (OSError, wire.WireError) as e:
                statuses.append(type(e).__name__)
        n200 = statuses.count(200)
        n503 = statuses.count(503)
        ws_status = None
        try:
            c = wire.Conn(srv.port, timeout=3)
            conns.append(c)
            c.send(wire.build_request(srv.port, "GET", wire.eio_q("/socket.io/", transport="websocket"),
                                      list(wire.WS_UPGRADE_HEADERS)))
            ws_status = c.read_response(3).status
        except (OSError, wire.WireError) as e:
            ws_status = type(e).__name__
        other = sorted({str(s) for s in statuses if s not in (200, 503)})
        R.check(n200 <= 21 and n503 >= 9 and closed_503 == n503,
                f"max connections 20: 30 held handshakes got {n200} x 200, {n503} x 503 "
                f"({closed_503} of them closed){', other: ' + ','.join(other) if other else ''}")
        R.check(ws_status == 503, f"max connections 20: a WebSocket upgrade while full gets {ws_status}")
        for c in conns:
            c.close()
        # a polling session outlives its TCP connection until the ping
        # timeout, and --max-connections counts sessions too: the clients
        # leave as socket.io-client does, with a close packet
        for sid in sids:
            try:
                wire.post(srv.port, "/socket.io/", sid, "1", timeout=3)
            except (OSError, wire.WireError):
                pass
        ok = False
        deadline = time.monotonic() + 5
        while not ok and time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                ok = rel.echo_works(srv.port)
            except (OSError, wire.WireError):
                pass
        R.check(ok, f"max connections 20: once they close a new client echoes: {ok}")


R.guarded("fd limit", fd_limit_raised)
R.guarded("fd exhaustion", fd_exhaustion)
R.guarded("max connections", max_connections)
R.exit()

"""rel.py: what every reliability probe shares (stdlib only).

- Server: starts `sio server` on a free loopback port with the probe's flags,
  waits for its "listening on" line, and watches its memory from a thread:
  a server whose RSS passes the guard (SIO_REL_RSS_GUARD_MB, default 1024) is
  killed with SIGKILL, so that a probe of today's unbounded behaviour cannot
  take the machine's memory; the figure is then reported as "killed at N MB".
- rss/peak/cpu/fd figures from /proc/PID.
- Report: prints "ok - ..." / "not ok - ..." lines; run.sh counts them.
- BEFORE: true with --before, the mode that omits the flags today's server
  does not know (an unknown flag makes it exit 2), so the figures show
  today's behaviour.
"""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "interop"))
import wire  # noqa: E402  (tests/interop/wire.py: raw HTTP and WebSocket)

SIO_BIN = os.environ.get("SIO_BIN", os.path.join(ROOT, "build", "tools", "sio"))
PLUGIN_DIR = os.environ.get("SIO_PLUGIN_DIR", os.path.join(ROOT, "build", "plugins"))
GUARD_MB = int(os.environ.get("SIO_REL_RSS_GUARD_MB", "1024"))
BEFORE = "--before" in sys.argv[1:]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def record_pid(pid):
    """Tell run.sh about a process this probe started ("PID STARTTIME" in
    $SIO_REL_PIDFILE): should the probe be killed by its time limit, run.sh
    stops what it left, and the start time keeps it from hitting a reused PID."""
    path = os.environ.get("SIO_REL_PIDFILE")
    if not path:
        return
    try:
        with open(f"/proc/{pid}/stat") as f:
            start = f.read().rsplit(")", 1)[1].split()[19]
        with open(path, "a") as f:
            f.write(f"{pid} {start}\n")
    except (OSError, IndexError):
        pass


def _on_term(signum, frame):
    # run.sh's `timeout` sends SIGTERM: unwind so that every Server's
    # __exit__ stops its process
    raise SystemExit(f"terminated by signal {signum}")


signal.signal(signal.SIGTERM, _on_term)


def plugin(name):
    return os.path.join(PLUGIN_DIR, name, name + ".so")


def new_flags(*flags):
    """Flags of the issue-17 interface: left out in --before mode."""
    return [] if BEFORE else list(flags)


def raise_nofile():
    """The probes open thousands of sockets: take the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class Server:
    """One `sio server` process on 127.0.0.1 with an OS-chosen port."""

    def __init__(self, plugin_name, flags=(), prefix=(), log_level=None, start_timeout=10):
        self.dir = tempfile.mkdtemp(prefix="sio-rel.")
        self.out_path = os.path.join(self.dir, "stdout")
        self.err_path = os.path.join(self.dir, "stderr")
        args = list(prefix) + [SIO_BIN, "server", "--plugin", plugin(plugin_name),
                               "--host", "127.0.0.1", "--port", "0", "--cors-mode", "js"]
        if log_level:
            args += ["--log-level", log_level]
        args += list(flags)
        self.args = args
        self.killed_at_mb = None     # set when the memory guard fired
        self.peak_seen_kb = 0        # highest VmRSS the watcher saw
        self._stop = threading.Event()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        record_pid(self.pid)
        self.port = self._wait_listening(start_timeout)
        self._watch = threading.Thread(target=self._watcher, daemon=True)
        self._watch.start()

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out_path) as f:
                for line in f:
                    if line.startswith("listening on http://"):
                        hostport = line.split("//", 1)[1].split("/", 1)[0]
                        return int(hostport.rsplit(":", 1)[1])
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        # the first lines say why (an unknown option is followed by the usage)
        err = " | ".join(self.stderr().splitlines()[:2])[:300]
        self.stop()
        raise RuntimeError(f"server did not start (rc {self.proc.returncode}): {err}")

    def _watcher(self):
        # 20 ms: at the 350 MB/s growth of the issue this overshoots the guard by ~7 MB
        while not self._stop.is_set() and self.proc.poll() is None:
            kb = _status_kb(self.pid, "VmRSS")
            if kb is not None:
                self.peak_seen_kb = max(self.peak_seen_kb, kb)
                if kb > GUARD_MB * 1024:
                    self.killed_at_mb = kb // 1024
                    try:
                        os.kill(self.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    return
            time.sleep(0.02)

    def alive(self):
        # a SIGKILLed server with a big heap takes a moment to be reaped
        return self.killed_at_mb is None and self.proc.poll() is None

    def rss_mb(self):
        kb = _status_kb(self.pid, "VmRSS")
        return None if kb is None else kb / 1024

    def peak_mb(self):
        """VmHWM while the process lives; the watcher's figure once it is gone."""
        kb = _status_kb(self.pid, "VmHWM")
        if kb is None:
            kb = self.peak_seen_kb
        return max(kb, self.peak_seen_kb) / 1024

    def cpu_s(self):
        """utime + stime in seconds (all threads)."""
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            return None

    def nfds(self):
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return None

    def stderr(self):
        try:
            with open(self.err_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stderr_lines(self):
        return self.stderr().splitlines()

    def stop(self):
        self._stop.set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for p in (self.out_path, self.err_path):
            try:
                os.unlink(p)
            except OSError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def mem_figure(self):
        """'peak RSS N MB' or 'killed by the guard at N MB'."""
        if self.killed_at_mb is not None:
            return f"RSS passed the {GUARD_MB} MB guard (killed at {self.killed_at_mb} MB)"
        return f"peak RSS {self.peak_mb():.0f} MB"


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, text):
        if ok:
            self.passed += 1
            print(f"ok - {text}", flush=True)
        else:
            self.failed += 1
            print(f"not ok - {text}", flush=True)
        return ok

    def info(self, text):
        print(f"# {text}", flush=True)

    def guarded(self, name, fn):
        """Run one check function; an exception is a failed check, not a dead probe."""
        try:
            fn()
        except Exception as e:  # a probe keeps going to its next check
            self.check(False, f"{name}: {type(e).__name__}: {e}")

    def exit(self):
        sys.exit(1 if self.failed else 0)


# ---- small client helpers ----

def sio_ws(port, connect="40", expect_auth=True, rcvbuf=None):
    """A Socket.IO client over a direct WebSocket (wire.ws_session); with
    rcvbuf, the socket's receive buffer is made small before connecting so
    that a client that stops reading stops the server's writes quickly."""
    if rcvbuf is None:
        return wire.ws_session(port, "/socket.io/", connect, expect_auth)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(3)
    s.connect((wire.HOST, port))
    c = wire.Conn.__new__(wire.Conn)
    c.port, c.sock, c.buf, c.eof = port, s, b"", False
    c.send(wire.build_request(port, "GET", wire.eio_q("/socket.io/", transport="websocket"),
                              list(wire.WS_UPGRADE_HEADERS)))
    r = c.read_response(3)
    if r.status != 101:
        raise wire.WireError(f"expected 101, got {r.status_line}")
    op, p = c.ws_recv()
    hs = json.loads(p[1:].decode())
    seen = []
    if connect:
        c.ws_send_text(connect)
        deadline = time.monotonic() + 3
        while not wire._connected([q.decode(errors="replace") for o, q in seen if o == 1], expect_auth):
            seen.append(c.ws_recv(max(0.05, deadline - time.monotonic())))
    return c, hs, seen


def ws_wait_packet(c, prefix, timeout=3.0):
    """Read text frames until one starts with prefix (answers Engine.IO pings)."""
    deadline = time.monotonic() + timeout
    while True:
        op, p = c.ws_recv(max(0.01, deadline - time.monotonic()))
        if op == 1 and p == b"2":
            c.ws_send_text("3")
            continue
        if op == 1 and p.startswith(prefix.encode() if isinstance(prefix, str) else prefix):
            return p


def echo_works(port, timeout=3.0):
    """A fresh client connects (WebSocket), sends an acked echo and gets its ack."""
    c, _, _ = wire.ws_session(port, "/socket.io/")
    try:
        c.ws_send_text('4277["echo","still-alive"]')
        p = ws_wait_packet(c, "4377", timeout)
        return p == b'4377["still-alive"]'
    finally:
        c.close()


def masked_frame(opcode, payload):
    """A masked client frame built once (wire.ws_frame masks byte by byte in
    Python, too slow to call per message in a flood)."""
    return wire.ws_frame(opcode, payload.encode() if isinstance(payload, str) else payload)


def socket_closed(sock, timeout):
    """True when the peer closed or reset within timeout (pending data discarded)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            d = sock.recv(1 << 20)
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True
        if not d:
            return True

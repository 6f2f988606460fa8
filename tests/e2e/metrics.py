#!/usr/bin/python3
"""metrics.py: GET /metrics (issue 14, docs/ADMIN.md "Metrics").

Starts sio with --metrics (embedded: on the gateway's port; then on
--metrics-port) and in split mode (hub and worker with --metrics-port, a
gateway with --metrics), parses every answer with the Prometheus text
parser of python3-prometheus-client, and checks that the counters move as a
python-socketio client connects, sends events, joins a room and leaves.
Prints "ok - ..." lines and "N passed, N failed".
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import socketio
from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("SIO_BUILD", os.path.join(ROOT, "build"))
SIO = os.environ.get("SIO_BIN", os.path.join(BUILD, "tools", "sio"))
ECHO = os.path.join(BUILD, "plugins", "echo", "echo.so")

passed = failed = 0
procs = []


def check(cond, what, detail=None):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok - {what}")
    else:
        failed += 1
        print(f"not ok - {what}" + (f" ({detail!r})" if detail is not None else ""))


def start(args, want=r"listening on http://127\.0\.0\.1:(\d+)"):
    """Start sio ARGS; return (process, the numbers that the patterns of
    want captured, in want's order; empty when not all were seen)."""
    p = subprocess.Popen([SIO] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(p)
    pats = want if isinstance(want, list) else [want]
    found = {}
    deadline = time.monotonic() + 10
    while len(found) < len(pats) and time.monotonic() < deadline:
        line = p.stdout.readline()      # the process prints its lines at start
        if not line:
            break
        for i, pat in enumerate(pats):
            m = re.search(pat, line)
            if m and i not in found:
                found[i] = int(m.group(1))
    return p, [found[i] for i in range(len(pats))] if len(found) == len(pats) else []


def scrape(port):
    """{(name, labels as a sorted tuple): value} of GET /metrics, parsed;
    plus the families' types."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        ctype = r.headers.get("Content-Type", "")
        text = r.read().decode()
    vals, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            vals[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return vals, types, ctype


def v(vals, name, **labels):
    return vals.get((name, tuple(sorted(labels.items()))), 0)


def traffic(port, nsp="/"):
    """A python-socketio client: connect (polling, then websocket), 5
    events, a room join via the echo plugin's bcast, disconnect."""
    c = socketio.Client(reconnection=False)
    got = []
    c.on("message-back", lambda *a: got.append(a), namespace=nsp)
    c.connect(f"http://127.0.0.1:{port}", namespaces=[nsp], wait_timeout=5)
    for i in range(5):
        c.emit("message", i, namespace=nsp)
    deadline = time.monotonic() + 5
    while len(got) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    return c, got


def main():
    # --- embedded, on the gateway's port ---
    _, ports = start(["server", "--plugin", ECHO, "--port", "0", "--io-threads", "2", "--metrics"])
    if not ports:
        check(False, "sio server --metrics starts")
        return
    port = ports[0]
    before, types, ctype = scrape(port)
    check(ctype.startswith("text/plain") and "0.0.4" in ctype,
          "GET /metrics answers text/plain; version=0.0.4", ctype)
    want_types = {"sio_connections": "gauge", "sio_sockets": "gauge", "sio_rooms": "gauge",
                  "sio_packets": "counter", "sio_bytes": "counter", "sio_connects": "counter",
                  "sio_disconnects": "counter", "sio_bus_roundtrip_seconds": "histogram",
                  "sio_worker_queue_depth": "gauge", "sio_errors": "counter",
                  "sio_hub_events": "counter", "sio_worker_events": "counter"}
    missing = {k: types.get(k) for k, t in want_types.items() if types.get(k) != t}
    check(not missing, "the text parses and has every family with its type "
          "(connections, sockets, rooms, packets, bytes, connects, disconnects, bus round trip, "
          "worker queue, errors, hub, worker)", missing)
    c, got = traffic(port)
    check(len(got) == 5, "a python-socketio client connects and gets its 5 answers", len(got))
    mid, _, _ = scrape(port)
    check(v(mid, "sio_connections", transport="websocket") == 1,
          "sio_connections{transport=websocket} is 1 with the client connected (upgraded)",
          v(mid, "sio_connections", transport="websocket"))
    check(v(mid, "sio_sockets", namespace="/") == 1, "sio_sockets{namespace=/} is 1",
          v(mid, "sio_sockets", namespace="/"))
    check(v(mid, "sio_connects_total", result="accepted") - v(before, "sio_connects_total", result="accepted") == 1,
          "sio_connects_total{result=accepted} moved by 1")
    pin = v(mid, "sio_packets_total", direction="in") - v(before, "sio_packets_total", direction="in")
    pout = v(mid, "sio_packets_total", direction="out") - v(before, "sio_packets_total", direction="out")
    check(pin >= 6 and pout >= 6, "sio_packets_total in and out moved (connect + 5 events each way)",
          (pin, pout))
    bin_ = v(mid, "sio_bytes_total", direction="in") - v(before, "sio_bytes_total", direction="in")
    check(bin_ > 5 * len('42["message",0]') - 5, "sio_bytes_total{direction=in} moved by the events' bytes", bin_)
    check(v(mid, "sio_bus_roundtrip_seconds_count") >= 1 and
          v(mid, "sio_bus_roundtrip_seconds_bucket", le="+Inf") == v(mid, "sio_bus_roundtrip_seconds_count"),
          "the bus round-trip histogram counted the connect (+Inf bucket = count)")
    check(v(mid, "sio_hub_events_total") >= 6 and v(mid, "sio_worker_events_total") >= 5,
          "the embedded hub and worker counters moved",
          (v(mid, "sio_hub_events_total"), v(mid, "sio_worker_events_total")))
    c.disconnect()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        after, _, _ = scrape(port)
        if v(after, "sio_sockets", namespace="/") == 0 and v(after, "sio_connections", transport="websocket") == 0:
            break
        time.sleep(0.1)
    # the client's namespace DISCONNECT and its transport closing race:
    # either reason may be the one counted, once
    reasons = {k[1][0][1]: val for k, val in after.items() if k[0] == "sio_disconnects_total"}
    check(v(after, "sio_sockets", namespace="/") == 0 and sum(reasons.values()) == 1 and
          reasons.get("client namespace disconnect", 0) + reasons.get("transport close", 0) == 1,
          "after the client leaves: sio_sockets 0, one sio_disconnects_total (client namespace "
          "disconnect or transport close)", (v(after, "sio_sockets", namespace="/"), reasons))
    procs[-1].terminate()
    procs[-1].wait(5)

    # --- embedded, on --metrics-port ---
    _, ports = start(["server", "--plugin", ECHO, "--port", "0", "--io-threads", "1", "--metrics-port", "0"],
                     want=[r"listening on http://127\.0\.0\.1:(\d+)", r"metrics on http://127\.0\.0\.1:(\d+)"])
    if len(ports) == 2:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/metrics", timeout=5)
            on_gw = True
        except urllib.error.HTTPError as e:
            on_gw = e.code != 404
        c, _ = traffic(ports[0])
        m, _, _ = scrape(ports[1])
        check(not on_gw and v(m, "sio_connects_total", result="accepted") == 1,
              "--metrics-port serves /metrics on its own port (not on the gateway's)")
        c.disconnect()
    else:
        check(False, "sio server --metrics-port starts", ports)
    procs[-1].terminate()
    procs[-1].wait(5)

    # --- split: each process its own ---
    with tempfile.TemporaryDirectory() as w:
        bus = f"ipc://{w}/bus"
        _, hp = start(["hub", "--bind", bus, "--metrics-port", "0"],
                      want=r"metrics on http://127\.0\.0\.1:(\d+)")
        _, wp = start(["worker", "--hub", bus, "--plugin", ECHO, "--metrics-port", "0"],
                      want=r"metrics on http://127\.0\.0\.1:(\d+)")
        _, gp = start(["gateway", "--hub", bus, "--port", "0", "--io-threads", "1", "--metrics"])
        if hp and wp and gp:
            time.sleep(0.5)
            c, got = traffic(gp[0])
            hm, ht, _ = scrape(hp[0])
            wm, wt, _ = scrape(wp[0])
            gm, gt, _ = scrape(gp[0])
            check(len(got) == 5 and v(gm, "sio_connects_total", result="accepted") == 1 and
                  "sio_hub_events" not in gt,
                  "split: the gateway exports its own metrics (no hub's)")
            check(v(hm, "sio_hub_events_total") >= 6 and v(hm, "sio_hub_workers") >= 1 and
                  "sio_connections" not in ht,
                  "split: sio hub --metrics-port exports the hub's", v(hm, "sio_hub_events_total"))
            check(v(wm, "sio_worker_events_total") == 5 and "sio_hub_events" not in wt,
                  "split: sio worker --metrics-port exports the worker's", v(wm, "sio_worker_events_total"))
            c.disconnect()
        else:
            check(False, "split: hub, worker and gateway start with metrics", (hp, wp, gp))
        for p in procs[-3:]:
            p.terminate()
        for p in procs[-3:]:
            p.wait(10)

    # bad flag values are refused clearly
    r = subprocess.run([SIO, "server", "--plugin", ECHO, "--metrics-port", "x"], capture_output=True,
                       text=True, timeout=10)
    check(r.returncode != 0 and "bad --metrics-port 'x'" in r.stderr,
          "a bad --metrics-port is refused and named", r.stderr.strip())


try:
    main()
except Exception as e:  # a crash is a failure, not a silent pass
    check(False, f"the test ran to its end ({e!r})")
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

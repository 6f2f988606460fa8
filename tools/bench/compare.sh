#!/usr/bin/env bash
# compare.sh: sio against the reference Socket.IO servers, same machine, same run.
#
#   bash tools/bench/compare.sh [OUTDIR]        (default OUTDIR: $TMPDIR/sio-bench)
#
# Servers, each with the echo plugin's handlers:
#   sio     `sio server --plugin echo.so` (SIO_BUILD, default ./build)
#   js      npm socket.io 4.x (tools/bench/peers/js-server.js, node_modules of
#           tests/interop, installed with npm when missing)
#   jsn     the same with ws's optional native helpers bufferutil and
#           utf-8-validate, as socket.io's docs recommend for production
#           (installed with npm into OUTDIR/jsnative, found through NODE_PATH):
#           the JS anchor of the ratios
#   (js and jsn answer a plain emit of "echo" with an "echo" event, as sio's
#   echo plugin does; py cannot tell an emit with ack from one without, so it
#   has no plain-emit row)
#   py      Debian python3-socketio on aiohttp (tools/bench/peers/py-server.py)
#   split   `sio hub` + `sio worker` + `sio gateway` processes over ipc:// (when
#           `sio hub` exists); CPU and RSS are the three processes summed
# Scenarios (a fresh server for each), the load generator `sio bench`:
#   echo      ECHO_CLIENTS x ECHO_INFLIGHT emits of 64 B with ack, SECONDS_RUN s
#   echo-plain  the same with plain emits, each answered by an emit back
#   echo64k   BIG_CLIENTS x BIG_INFLIGHT emits of 64 KiB text with ack
#   broadcast BCAST_CLIENTS receivers, BCAST_INFLIGHT broadcasts in flight
#   connect   IDLE_CLIENTS connections held idle IDLE_SECONDS: RSS per connection
#   tls-echo, tls-echo64k  echo and echo64k over wss:// (a self-signed
#             certificate made with openssl in OUTDIR; sio --tls-cert, JS
#             through node's https module; `sio bench --tls`); TLS=0 skips them
# The server runs on core SERVER_CPU (default 0), the load generator on
# BENCH_CPU (default 1), both with taskset. Then (UNPINNED=1, the default)
# the echo, echo64k and broadcast scenarios again with nothing pinned, for
# `sio server --io-threads 1`, `--io-threads 2` and the JS server: sio may
# use both cores there, and shares them with the load generator (the JS
# server uses one). Writes OUTDIR/results.jsonl,
# OUTDIR/table.txt and OUTDIR/compare.png (gnuplot); prints the table with
# the ratios sio/JS and sio/Python. Not part of CI (tests/e2e/bench_smoke.sh is).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIO_BUILD:-$ROOT/build}
OUT=${1:-${TMPDIR:-/tmp}/sio-bench}
SECONDS_RUN=${SECONDS_RUN:-10}
ECHO_CLIENTS=${ECHO_CLIENTS:-100} ECHO_INFLIGHT=${ECHO_INFLIGHT:-10}
BIG_CLIENTS=${BIG_CLIENTS:-20} BIG_INFLIGHT=${BIG_INFLIGHT:-4}
BCAST_CLIENTS=${BCAST_CLIENTS:-1000} BCAST_INFLIGHT=${BCAST_INFLIGHT:-10}
IDLE_CLIENTS=${IDLE_CLIENTS:-5000} IDLE_SECONDS=${IDLE_SECONDS:-5}
SERVER_CPU=${SERVER_CPU:-0} BENCH_CPU=${BENCH_CPU:-1}
SERVERS=${SERVERS:-sio jsn js py split}
UNPINNED=${UNPINNED:-1}
TLS=${TLS:-1}
UNPINNED_SERVERS=${UNPINNED_SERVERS:-sio-t1 sio-t2 jsn}
PIN=1       # 0 while the unpinned rows run
PY=/usr/bin/python3
SIO=$BUILD/tools/sio

need() { command -v "$1" >/dev/null 2>&1 || { echo "compare.sh: $1 not found ($2)" >&2; exit 2; }; }
need taskset "apt-get install util-linux"
need node "apt-get install nodejs"
need gnuplot "apt-get install gnuplot-nox (tools/dev.sh setup installs it)"
[[ -x $SIO ]] || { echo "compare.sh: $SIO not built (meson setup build && ninja -C build, or set SIO_BUILD)" >&2; exit 2; }
$PY -c 'import socketio, aiohttp' 2>/dev/null || { echo "compare.sh: $PY lacks python3-socketio/python3-aiohttp" >&2; exit 2; }
if [[ ! -d $ROOT/tests/interop/node_modules/socket.io ]]; then
  (cd "$ROOT/tests/interop" && npm install --no-audit --no-fund >/dev/null)
fi
mkdir -p "$OUT"
: >"$OUT/results.jsonl"
JSN=$OUT/jsnative/node_modules
TLSARGS=()   # set around the TLS rows: the servers' certificate flags
if [[ $TLS == 1 ]]; then
  need openssl "apt-get install openssl"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -keyout "$OUT/tls-key.pem" -out "$OUT/tls-cert.pem" >/dev/null 2>&1
fi
if [[ " $SERVERS $UNPINNED_SERVERS " == *" jsn "* && ! -d $JSN/bufferutil ]]; then
  mkdir -p "$OUT/jsnative"
  (cd "$OUT/jsnative" && npm install --no-audit --no-fund --loglevel=error bufferutil@4 utf-8-validate@6 >/dev/null) ||
    { echo "compare.sh: npm install bufferutil utf-8-validate failed" >&2; exit 2; }
fi

spids=()   # the server's processes: the gateway (or the only one) first
stop_server() {
  local p
  for p in "${spids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${spids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  spids=()
}
trap stop_server EXIT

pin() {  # pin CPU CMD... &: CMD on core CPU (anywhere in the unpinned rows); the
         # exec keeps $! the server's own pid (CPU and RSS are read from it)
  local cpu=$1; shift
  if [[ $PIN == 1 ]]; then exec taskset -c "$cpu" "$@"; else exec "$@"; fi
}

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {  # start_server NAME PORT: sets spids, waits for "listening"
  local name=$1 port=$2 log=$OUT/server-$1.log
  case $name in
    split)  # hub, worker and gateway processes over ipc://, all on the server core
      local bus; bus=ipc://$(mktemp -d)/bus
      pin "$SERVER_CPU" "$SIO" hub --bind "$bus" --log-level warn >"$OUT/server-split-hub.log" 2>&1 &
      spids+=($!)
      pin "$SERVER_CPU" "$SIO" worker --hub "$bus" --plugin "$BUILD/plugins/echo/echo.so" \
        --log-level warn >"$OUT/server-split-worker.log" 2>&1 &
      spids+=($!)
      pin "$SERVER_CPU" "$SIO" gateway --hub "$bus" --port "$port" --log-level warn >"$log" 2>&1 &
      spids=($! "${spids[@]}") ;;
    sio) pin "$SERVER_CPU" "$SIO" server --plugin "$BUILD/plugins/echo/echo.so" \
           --port "$port" --log-level warn "${TLSARGS[@]}" >"$log" 2>&1 & ;;
    sio-t*) pin "$SERVER_CPU" "$SIO" server --plugin "$BUILD/plugins/echo/echo.so" \
           --io-threads "${name#sio-t}" --port "$port" --log-level warn >"$log" 2>&1 & ;;
    js)  WS_NO_BUFFER_UTIL=1 WS_NO_UTF_8_VALIDATE=1 \
           pin "$SERVER_CPU" node "$ROOT/tools/bench/peers/js-server.js" --port "$port" >"$log" 2>&1 & ;;
    jsn) NODE_PATH=$JSN pin "$SERVER_CPU" node "$ROOT/tools/bench/peers/js-server.js" --port "$port" \
           "${TLSARGS[@]}" >"$log" 2>&1 & ;;
    py)  pin "$SERVER_CPU" $PY "$ROOT/tools/bench/peers/py-server.py" --port "$port" >"$log" 2>&1 & ;;
  esac
  [[ $name == split ]] || spids=($!)
  for _ in $(seq 100); do
    if grep -q listening "$log" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "compare.sh: $name did not start:" >&2; tail -5 "$log" >&2
  return 1
}

run() {  # run SERVER TAG SCENARIO ARGS...
  local server=$1 tag=$2 sc=$3; shift 3
  local port; port=$(free_port)
  start_server "$server" "$port" || { stop_server; return 0; }
  echo "== $server $tag" >&2
  local line p pids=()
  for p in "${spids[@]}"; do pids+=(--server-pid "$p"); done
  line=$( (pin "$BENCH_CPU" "$SIO" bench "$sc" --port "$port" "${pids[@]}" "$@" \
         2>"$OUT/bench-$server-$tag.log") | tail -1) || true
  stop_server
  if [[ $line == \{* ]]; then
    echo "{\"server\":\"$server\",\"tag\":\"$tag\",\"result\":$line}" >>"$OUT/results.jsonl"
    echo "   $line" >&2
  else
    echo "   no result (see $OUT/bench-$server-$tag.log)" >&2
  fi
}

for server in $SERVERS; do
  if [[ $server == split ]] && ! "$SIO" hub --help >/dev/null 2>&1; then
    echo "compare.sh: note: no 'sio hub' command: split deployment skipped" >&2
    continue
  fi
  run "$server" echo echo --clients "$ECHO_CLIENTS" --inflight "$ECHO_INFLIGHT" --size 64 --seconds "$SECONDS_RUN"
  [[ $server == py ]] ||
    run "$server" echo-plain echo --no-ack --clients "$ECHO_CLIENTS" --inflight "$ECHO_INFLIGHT" --size 64 \
      --seconds "$SECONDS_RUN"
  run "$server" echo64k echo --clients "$BIG_CLIENTS" --inflight "$BIG_INFLIGHT" --size 65536 --seconds "$SECONDS_RUN"
  run "$server" broadcast broadcast --clients "$BCAST_CLIENTS" --inflight "$BCAST_INFLIGHT" --seconds "$SECONDS_RUN"
  run "$server" connect connect --clients "$IDLE_CLIENTS" --seconds "$IDLE_SECONDS" --concurrency 200
done

if [[ $TLS == 1 ]]; then
  TLSARGS=(--tls-cert "$OUT/tls-cert.pem" --tls-key "$OUT/tls-key.pem")
  for server in sio jsn; do
    run "$server" tls-echo echo --tls --clients "$ECHO_CLIENTS" --inflight "$ECHO_INFLIGHT" --size 64 \
      --seconds "$SECONDS_RUN"
    run "$server" tls-echo64k echo --tls --clients "$BIG_CLIENTS" --inflight "$BIG_INFLIGHT" \
      --size 65536 --seconds "$SECONDS_RUN"
  done
  TLSARGS=()
fi

if [[ $UNPINNED == 1 ]]; then
  PIN=0
  for server in $UNPINNED_SERVERS; do
    run "$server" u-echo echo --clients "$ECHO_CLIENTS" --inflight "$ECHO_INFLIGHT" --size 64 --seconds "$SECONDS_RUN"
    run "$server" u-echo64k echo --clients "$BIG_CLIENTS" --inflight "$BIG_INFLIGHT" --size 65536 --seconds "$SECONDS_RUN"
    run "$server" u-broadcast broadcast --clients "$BCAST_CLIENTS" --inflight "$BCAST_INFLIGHT" --seconds "$SECONDS_RUN"
  done
  PIN=1
fi

# table, ratios and gnuplot data
$PY - "$OUT" <<'EOF'
import json, sys, os
out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "results.jsonl")) if l.strip()]
r = {(x["server"], x["tag"]): x["result"] for x in rows}
servers = [s for s in ("sio", "split", "jsn", "js", "py") if any(k[0] == s for k in r)]
def get(s, t, k):
    v = r.get((s, t), {}).get(k)
    return v
lines = []
# jsn (JS with ws's native helpers) is the anchor; js is the plain install
hdr = (f"{'scenario':<22}" + "".join(f"{s:>12}" for s in servers) +
       f"{'sio/jsn':>9}{'sio/js':>9}{'sio/py':>9}{'split/sio':>10}")
lines.append(hdr)
def row(label, tag, key, fmt, better_low=False):
    vals = [get(s, tag, key) for s in servers]
    cells = "".join(f"{(fmt.format(v) if v is not None else '-'):>12}" for v in vals)
    def ratio(o, a_srv="sio"):
        if a_srv != "sio":
            a, b = get(a_srv, tag, key), get("sio", tag, key)
        else:
            a, b = get("sio", tag, key), get(o, tag, key)
        if a is None or b is None or a == 0 or b == 0: return "-"
        return f"{a / b:.2f}"
    lines.append(f"{label:<22}{cells}{ratio('jsn'):>9}{ratio('js'):>9}{ratio('py'):>9}"
                 f"{ratio('sio', 'split'):>10}")
row("echo 64B msgs/s", "echo", "rate", "{:.0f}")
row("echo 64B p99 us", "echo", "p99_us", "{:.0f}")
row("echo 64B plain msgs/s", "echo-plain", "rate", "{:.0f}")
row("echo 64B plain p99 us", "echo-plain", "p99_us", "{:.0f}")
row("echo 64KiB msgs/s", "echo64k", "rate", "{:.0f}")
row("echo 64KiB p99 us", "echo64k", "p99_us", "{:.0f}")
row("bcast deliveries/s", "broadcast", "rate", "{:.0f}")
row("bcast p99 us", "broadcast", "p99_us", "{:.0f}")
row("connect conns/s", "connect", "connect_rate", "{:.0f}")
row("RSS/idle conn bytes", "connect", "rss_per_conn_bytes", "{:.0f}")
row("echo server CPU %", "echo", "server_cpu_pct", "{:.0f}")
row("echo bench CPU %", "echo", "bench_cpu_pct", "{:.0f}")
row("TLS echo 64B msgs/s", "tls-echo", "rate", "{:.0f}")
row("TLS echo 64B p99 us", "tls-echo", "p99_us", "{:.0f}")
row("TLS echo 64KiB msgs/s", "tls-echo64k", "rate", "{:.0f}")
row("TLS echo 64KiB p99 us", "tls-echo64k", "p99_us", "{:.0f}")
row("echo srv us/msg", "echo", "server_us_per_msg", "{:.2f}")
row("bcast bench CPU %", "broadcast", "bench_cpu_pct", "{:.0f}")
userv = [s for s in ("sio-t1", "sio-t2", "jsn", "js") if (s, "u-echo") in r]
ujs = "jsn" if "jsn" in userv else "js"
if userv:
    lines.append("")
    lines.append("unpinned: server and load generator share both cores")
    lines.append(f"{'scenario':<22}" + "".join(f"{s:>12}" for s in userv) +
                 f"{'t1/' + ujs:>9}{'t2/' + ujs:>9}")
    for label, tag, key, fmt in (("echo 64B msgs/s", "u-echo", "rate", "{:.0f}"),
                                 ("echo 64B p99 us", "u-echo", "p99_us", "{:.0f}"),
                                 ("echo 64KiB msgs/s", "u-echo64k", "rate", "{:.0f}"),
                                 ("echo 64KiB p99 us", "u-echo64k", "p99_us", "{:.0f}"),
                                 ("bcast deliveries/s", "u-broadcast", "rate", "{:.0f}"),
                                 ("echo server CPU %", "u-echo", "server_cpu_pct", "{:.0f}"),
                                 ("echo bench CPU %", "u-echo", "bench_cpu_pct", "{:.0f}"),
                                 ("echo64k server CPU %", "u-echo64k", "server_cpu_pct", "{:.0f}")):
        vals = [get(s, tag, key) for s in userv]
        cells = "".join(f"{(fmt.format(v) if v is not None else '-'):>12}" for v in vals)
        def ur(a):
            x, y = get(a, tag, key), get(ujs, tag, key)
            return f"{x / y:.2f}" if x and y else "-"
        lines.append(f"{label:<22}{cells}{ur('sio-t1'):>9}{ur('sio-t2'):>9}")
errs = [(k, v["errors"] + v.get("failed", 0)) for k, v in r.items() if v.get("errors") or v.get("failed")]
if errs:
    lines.append("errors/failures: " + ", ".join(f"{k[0]}/{k[1]}={n}" for k, n in errs))
text = "\n".join(lines)
print(text)
open(os.path.join(out, "table.txt"), "w").write(text + "\n")
with open(os.path.join(out, "plot.dat"), "w") as f:
    f.write("# server echo echo64k broadcast echo_p99 echo64k_p99 bcast_p99 rss\n")
    for s in servers:
        vals = [get(s, "echo", "rate"), get(s, "echo64k", "rate"), get(s, "broadcast", "rate"),
                get(s, "echo", "p99_us"), get(s, "echo64k", "p99_us"), get(s, "broadcast", "p99_us"),
                get(s, "connect", "rss_per_conn_bytes")]
        f.write(s + " " + " ".join(str(v if v is not None else 0) for v in vals) + "\n")
EOF

gnuplot <<EOF
set terminal pngcairo size 1400,900 font "DejaVu Sans,11" noenhanced
set output "$OUT/compare.png"
set multiplot layout 2,3 title "sio vs socket.io (JS) vs python-socketio: same machine, server and load generator pinned to one core each"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.8
set grid ytics
set key off
set yrange [0:*]
set title "echo 64 B: acked msgs/s"
plot "$OUT/plot.dat" using 2:xtic(1) lc rgb "#3a7bd5"
set title "echo 64 KiB: acked msgs/s"
plot "$OUT/plot.dat" using 3:xtic(1) lc rgb "#3a7bd5"
set title "broadcast to $BCAST_CLIENTS: deliveries/s"
plot "$OUT/plot.dat" using 4:xtic(1) lc rgb "#3a7bd5"
set title "p99 latency, ms (lower is better)"
set key top left
plot "$OUT/plot.dat" using (\$5/1000):xtic(1) title "echo 64 B" lc rgb "#d5573a", \
     "" using (\$7/1000) title "broadcast" lc rgb "#7a3ad5"
set key off
set title "echo 64 KiB p99, ms (lower is better)"
plot "$OUT/plot.dat" using (\$6/1000):xtic(1) lc rgb "#e8a33d"
set title "server RSS per idle connection, KiB"
plot "$OUT/plot.dat" using (\$8/1024):xtic(1) lc rgb "#3ad57a"
unset multiplot
EOF
echo "wrote $OUT/results.jsonl $OUT/table.txt $OUT/compare.png" >&2

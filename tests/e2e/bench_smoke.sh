#!/usr/bin/env bash
# bench_smoke.sh: `sio bench` runs each scenario for a few seconds against
# `sio server` with the echo plugin; checks the JSON result line parses and
# shows no error or failure and a non-zero rate (also over TLS, --tls). No
# wall-clock thresholds.
# Prints "ok - ..." lines and "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIO_BUILD:-$ROOT/build}
SECS=${BENCH_SMOKE_SECONDS:-5}
PY=/usr/bin/python3
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
pass=0 fail=0
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/tools/sio" server --plugin "$BUILD/plugins/echo/echo.so" --port "$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done

check() {  # check NAME RATE_KEY SCENARIO ARGS...
  local name=$1 key=$2 sc=$3; shift 3
  timeout $((SECS + 60)) "$BUILD/tools/sio" bench "$sc" --port "$port" --server-pid "$pid" \
    --seconds "$SECS" "$@" >"$work/$name.out" 2>"$work/$name.err"
  echo "exit $?" >>"$work/$name.out"
  local verdict
  verdict=$($PY - "$work/$name.out" "$key" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
key = sys.argv[2]
try:
    r = json.loads(lines[-2])
except Exception as e:
    print(f"no JSON result line: {e}: {lines[-3:]}"); sys.exit()
bad = []
if lines[-1] != "exit 0": bad.append(lines[-1])
if r.get("errors") != 0: bad.append(f"errors={r.get('errors')}")
if r.get("failed") != 0: bad.append(f"failed={r.get('failed')}")
if r.get("connected") != r.get("clients"): bad.append(f"connected={r.get('connected')}/{r.get('clients')}")
if not r.get("complete"): bad.append("not complete")
if not (r.get(key) or 0) > 0: bad.append(f"{key}={r.get(key)}")
if "server_cpu_pct" not in r or "bench_cpu_pct" not in r: bad.append("no CPU figures")
print("ok" if not bad else " ".join(bad))
EOF
)
  if [[ $verdict == ok ]]; then echo "ok - $name"; pass=$((pass + 1));
  else echo "not ok - $name: $verdict | $(tail -2 "$work/$name.err" | tr '\n' '|')"; fail=$((fail + 1)); fi
}

check "bench connect: 200 connections, idle, RSS per connection" rss_per_conn_bytes \
  connect --clients 200 --concurrency 50
check "bench echo: 20 clients x 4 in flight x 64 B with ack" rate echo --clients 20 --inflight 4 --size 64
check "bench echo: 4 clients x 2 in flight x 64 KiB text" rate echo --clients 4 --inflight 2 --size 65536
check "bench broadcast: 50 receivers, 4 in flight" rate broadcast --clients 50 --inflight 4
check "bench echo over 2 processes (--procs)" rate echo --clients 20 --inflight 2 --procs 2
check "bench echo over HTTP long-polling" rate echo --clients 10 --inflight 4 --transport polling
check "bench broadcast over HTTP long-polling" rate broadcast --clients 20 --inflight 4 --transport polling
# --tls: the same server over TLS (a self-signed certificate made here)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/k.pem" \
  -out "$work/c.pem" -days 2 -subj /CN=localhost >"$work/openssl.log" 2>&1
plain_pid=$pid
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/tools/sio" server --plugin "$BUILD/plugins/echo/echo.so" --port "$port" \
  --tls-cert "$work/c.pem" --tls-key "$work/k.pem" >"$work/tls-server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/tls-server.log" && break; sleep 0.1; done
check "bench echo over TLS (--tls, wss)" rate echo --clients 20 --inflight 4 --tls
kill "$plain_pid" 2>/dev/null
"$BUILD/tools/sio" bench echo --tls --transport polling >"$work/tlspoll.out" 2>&1
if [[ $? == 2 ]] && grep -q "websocket transport" "$work/tlspoll.out"; then
  echo "ok - bench: --tls with polling is a usage error"; pass=$((pass + 1))
else
  echo "not ok - bench: --tls with polling: $(head -c 200 "$work/tlspoll.out")"; fail=$((fail + 1))
fi
"$BUILD/tools/sio" bench nosuch >"$work/bad.out" 2>&1
if [[ $? == 2 ]] && grep -q "unknown scenario" "$work/bad.out"; then
  echo "ok - bench: unknown scenario is a usage error"; pass=$((pass + 1))
else
  echo "not ok - bench: unknown scenario: $(head -c 200 "$work/bad.out")"; fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]

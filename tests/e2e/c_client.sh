#!/usr/bin/env bash
# c_client.sh: sio's own C clients (the docs/CLIENT.md example programs,
# built by meson) against `sio server` with the echo plugin.
# Prints "ok - ..." lines and "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIO_BUILD:-$ROOT/build}
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
pass=0 fail=0
check() {  # check NAME FILE REGEX
  if grep -Eq "$3" "$2"; then echo "ok - $1"; pass=$((pass + 1));
  else echo "not ok - $1: no line matching /$3/ in: $(tr '\n' '|' < "$2" | head -c 300)"; fail=$((fail + 1)); fi
}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/tools/sio" server --plugin "$BUILD/plugins/echo/echo.so" --port "$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done
url=http://127.0.0.1:$port
timeout 20 "$BUILD/tests/unit/client/example-simple" "$url" >"$work/simple.log" 2>&1
echo "exit $?" >>"$work/simple.log"
check "simple client: connects" "$work/simple.log" '^sid [A-Za-z0-9_-]{20} over (polling|websocket)$'
check "simple client: call() returns the ack" "$work/simple.log" '^ack: \["ping",1\]$'
check "simple client: receive() gets the server's events" "$work/simple.log" '^event message-back \["ping",1\]$'
check "simple client: exits cleanly" "$work/simple.log" '^exit 0$'
timeout 20 "$BUILD/tests/unit/client/example-client" "$url" >"$work/client.log" 2>&1
echo "exit $?" >>"$work/client.log"
check "event client: connect handler runs" "$work/client.log" '^connected to / as [A-Za-z0-9_-]{20}'
check "event client: server emit reaches the handler" "$work/client.log" '^/ auth \[\{"token":"secret"\}\]$'
check "event client: ack with a binary argument" "$work/client.log" '^ack: \["hello",'
check "event client: disconnect reason" "$work/client.log" 'disconnected from /: client disconnect'
check "event client: exits cleanly" "$work/client.log" '^exit 0$'
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]

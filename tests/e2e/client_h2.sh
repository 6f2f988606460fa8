#!/usr/bin/env bash
# client_h2.sh: the C client's polling over HTTP/2 (docs/CLIENT.md
# "HTTP/2") with `sio client` against `sio server --tls-cert/--tls-key`
# (a test CA made with the openssl CLI in a temp dir). A TCP relay
# (tcp_count.py) between them counts the client's connections; the
# server's debug log shows each HTTP/2 connection ("HOST:PORT: HTTP/2").
# With a 300 ms ping interval a 2.5 s session makes over a dozen polling
# requests (8 are asked for): over HTTP/2 they share one connection, with --http1.1 each
# has its own. Also: the upgrade to WebSocket after polling over h2, an
# HTTP error over h2, and the npm socket.io server on node's https module
# (ALPN http/1.1 only) where nothing changes.
# SIO_BUILD=build-asan runs it against the ASan build.
# Prints "ok - ..." lines and "N passed, N failed"; exit 1 on a failure.
set -u
source "$(dirname "$0")/lib.sh"
E2E=$ROOT/tests/e2e
count() {  # count NAME GOT OP WANT (OP: -eq -ge ...)
  if [ "$2" "-$3" "$4" ]; then ok "$1"; else notok "$1" "got $2, want $3 $4"; fi
}
wait_line() {  # wait_line FILE REGEX: up to 10 s
  for _ in $(seq 100); do grep -Eaq -- "$2" "$1" && return 0; sleep 0.1; done
  return 1
}

cd "$work" || exit 1
test_ca server

"$SIO" server --plugin "$ECHO" --port 0 --io-threads 1 --tls-cert server.pem --tls-key server.key \
  --ping-interval 300 --log-level debug >server.log 2>&1 &
pids+=($!)
wait_line server.log '^listening on https://' || notok "server starts" "$(tr '\n' '|' <server.log)"
sport=$(sed -n 's|^listening on https://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' server.log)

# relay RUN: a counting relay to the server for one client run; sets rport
relay() {
  python3 "$E2E/tcp_count.py" "$2" >"relay-$1.log" 2>&1 &
  pids+=($!)
  wait_line "relay-$1.log" '^listening on ' || notok "relay $1 starts" "$(cat "relay-$1.log")"
  rport=$(sed -n 's/^listening on //p' "relay-$1.log")
}
h2lines() { grep -ac ': HTTP/2$' server.log; }
# a 2 s session: pings every 300 ms (a POST each), then an emit with an ack
session() {  # session RUN URL ARGS...
  local run=$1 url=$2
  shift 2
  { sleep 2; echo '?echo "'"$run"'"'; sleep 0.5; } |
    timeout 20 "$SIO" client "$url" --ca ca.pem --engineio-log-level trace "$@" >"$run.out" 2>&1
  echo "exit $?" >>"$run.out"
}

# ---- HTTP/2 ----
before=$(h2lines)
relay h2 "$sport"
session h2 "https://127.0.0.1:$rport" --transports polling
check "polling over h2: the emit's ack comes back" h2.out '^ack / echo \["h2"\]$'
check "... the client exits 0" h2.out '^exit 0$'
check "... the client says ALPN picked h2" h2.out 'ALPN h2: polling over HTTP/2'
streams=$(grep -aEc 'HTTP/2 stream [0-9]+: (GET|POST)' h2.out)
count "... at least 8 polling requests, each an HTTP/2 stream" "$streams" ge 8
count "... on one TCP connection (the relay's count)" "$(grep -ac '^connection' relay-h2.log)" eq 1
count "... which the server took as HTTP/2 (its debug log)" "$(($(h2lines) - before))" eq 1

# ---- --http1.1 against the same server ----
before=$(h2lines)
relay h1 "$sport"
session h1 "https://127.0.0.1:$rport" --transports polling --http1.1
check "--http1.1: the emit's ack comes back" h1.out '^ack / echo \["h1"\]$'
count "... no HTTP/2 connection at the server" "$(($(h2lines) - before))" eq 0
count "... a TCP connection per polling request (8 or more)" "$(grep -ac '^connection' relay-h1.log)" ge 8

# ---- polling over h2, then the upgrade (the WebSocket is HTTP/1.1) ----
before=$(h2lines)
relay up "$sport"
session up "https://127.0.0.1:$rport"
check "upgrade: the emit's ack comes back" up.out '^ack / echo \["up"\]$'
check "... over the WebSocket" up.out 'upgraded to WebSocket'
check "... the HTTP/2 connection is released after the upgrade" up.out 'HTTP/2 connection 0x[0-9a-f]+ released'
count "... two TCP connections: HTTP/2 polling and the WebSocket" "$(grep -ac '^connection' relay-up.log)" eq 2
count "... one of them HTTP/2 at the server" "$(($(h2lines) - before))" eq 1

# ---- an HTTP error over h2 is reported as over HTTP/1.1 ----
timeout 20 "$SIO" client "https://127.0.0.1:$sport" --ca ca.pem --transports polling --path /nope/ \
  --no-reconnect --call echo '"x"' >err.out 2>&1
echo "exit $?" >>err.out
check "a 404 over h2: the client says so" err.out 'HTTP 404 from the server'
check "... and exits 1" err.out '^exit 1$'

# ---- the npm socket.io server on node's https (ALPN http/1.1 only) ----
node "$ROOT/tests/unit/client/peer-server.js" --tls "$work" >js.log 2>&1 &
pids+=($!)
wait_line js.log '^listening on https://' || notok "the JS server starts" "$(tr '\n' '|' <js.log)"
jport=$(sed -n 's|^listening on https://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' js.log)
session js "https://127.0.0.1:$jport" --transports polling
check "JS server over https: the emit's ack comes back" js.out '^ack / echo \["js"\]$'
check "... polling over HTTP/1.1 (no h2 in its ALPN)" js.out 'ALPN (http/1\.1|none): polling over HTTP/1\.1'

# ---- sanitizers (the ASan build): nothing from the clients or the server ----
kill -TERM "${pids[0]}" 2>/dev/null
wait "${pids[0]}" 2>/dev/null
if grep -aE 'ERROR: (Address|Leak)Sanitizer|runtime error' ./*.out server.log >san.out; then
  notok "no sanitizer report from sio client or sio server" "$(head -5 san.out | tr '\n' '|')"
else
  ok "no sanitizer report from sio client or sio server"
fi

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]

#!/usr/bin/env bash
# admin.sh: the Admin UI protocol (issue 14, docs/ADMIN.md). One client
# script, tests/interop/admin_client.mjs, logs in to /admin and checks every
# event and action against:
#   - the JS reference (tests/interop/ref-server.js --admin: socket.io 4 with
#     instrument() of npm @socket.io/admin-ui), default, readonly, production;
#   - sio server (embedded): a plain password on one I/O thread, a bcrypt
#     hash on two I/O threads (the threads only meet on the bus), readonly,
#     production, and credentials from --config;
#   - sio split: hub + worker + two gateways over ipc://, the admin socket on
#     one gateway and the test client on the other;
# and that sio and the reference pass the same checks. Also: --admin with no
# password is refused at start, --admin-no-auth warns. Prints "ok - ..." and
# "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIO_BUILD:-$ROOT/build}
SIO=${SIO_BIN:-$BUILD/tools/sio}
ECHO_SO=$BUILD/plugins/echo/echo.so
INTEROP=$ROOT/tests/interop
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
passed=0 failed=0
ok()  { passed=$((passed + 1)); echo "ok - $*"; }
bad() { failed=$((failed + 1)); echo "not ok - $*"; }

# start NAME CMD...: run CMD (stdout+stderr to $work/NAME.log) and wait for
# its "listening on http://HOST:PORT/" line; sets PORT (empty: did not start)
start() {
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
  PORT=
  for _ in $(seq 1 100); do
    PORT=$(grep -om1 'listening on http://127.0.0.1:[0-9]*' "$work/$name.log" 2>/dev/null | sed 's/.*://')
    [[ -n $PORT ]] && return 0
    sleep 0.1
  done
  echo "# $name did not start:"; sed 's/^/#   /' "$work/$name.log" | tail -5
}
stop_last() { local p=${pids[-1]}; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; unset 'pids[-1]'; }

# client NAME URL [args...]: run the admin client, count its lines, keep them
client() {
  local name=$1; shift
  (cd "$INTEROP" && timeout 90 node admin_client.mjs "$@" --label "$name") >"$work/$name.out" 2>&1
  grep -E '^(not )?ok - ' "$work/$name.out"
  local p f
  p=$(grep -c '^ok - ' "$work/$name.out"); f=$(grep -c '^not ok - ' "$work/$name.out")
  passed=$((passed + p)); failed=$((failed + f))
  if ! grep -qE '^[0-9]+ passed, 0 failed' "$work/$name.out"; then
    bad "$name: the client script ended cleanly"; tail -5 "$work/$name.out" | sed 's/^/#   /'
  fi
}
# same A B: both runs passed the same checks
same() {
  if diff <(sed -n "s/^\(not \)\?ok - $1: //p" "$work/$1.out") \
          <(sed -n "s/^\(not \)\?ok - $2: //p" "$work/$2.out") >"$work/diff" &&
     [[ $(grep -c '^not ok' "$work/$1.out" "$work/$2.out" | awk -F: '{s += $2} END {print s}') == 0 ]]; then
    ok "$1 and $2 pass the same checks"
  else
    bad "$1 and $2 pass the same checks"; sed 's/^/#   /' "$work/diff" | head -10
  fi
}

export SIO_ADMIN_USER=admin SIO_ADMIN_PASSWORD=s3cret
HASH='$2b$04$sAJNCpW4Ct.PlgYVak0bz.pCpwY.TX28XVOW5ctUh0KBB..11HagO'    # bcrypt of s3cret

# --- the JS reference ---
for mode in default readonly production; do
  extra=()
  [[ $mode == readonly ]] && extra=(--admin-readonly)
  [[ $mode == production ]] && extra=(--admin-mode production)
  cargs=()
  [[ $mode == readonly ]] && cargs=(--readonly)
  [[ $mode == production ]] && cargs=(--production)
  start "js-$mode" node "$INTEROP/ref-server.js" --port 0 --admin "${extra[@]}"
  [[ -n $PORT ]] && client "js-$mode" "http://127.0.0.1:$PORT" "${cargs[@]}" || bad "js-$mode: ref server starts"
  stop_last
done

# --- sio server ---
run_sio() {  # run_sio NAME CLIENT-ARGS -- SERVER-ARGS
  local name=$1; shift
  local cargs=()
  while [[ $1 != -- ]]; do cargs+=("$1"); shift; done; shift
  # SRV_PASS: the server's SIO_ADMIN_PASSWORD when not the client's
  start "$name" env SIO_ADMIN_PASSWORD="${SRV_PASS:-$SIO_ADMIN_PASSWORD}" \
    "$SIO" server --plugin "$ECHO_SO" --port 0 --admin "$@"
  if [[ -n $PORT ]]; then client "$name" "http://127.0.0.1:$PORT" "${cargs[@]}"
  else bad "$name: sio server starts"; fi
  stop_last
}
run_sio sio-default -- --io-threads 1
same js-default sio-default
SRV_PASS=$HASH
run_sio sio-bcrypt-2threads -- --io-threads 2
SRV_PASS=
same js-default sio-bcrypt-2threads
run_sio sio-readonly --readonly -- --io-threads 1 --admin-readonly
same js-readonly sio-readonly
run_sio sio-production --production -- --io-threads 1 --admin-mode production
same js-production sio-production
printf '{"admin": true, "admin-user": "cfguser", "admin-password": "%s"}\n' "$HASH" >"$work/admin.json"
SIO_ADMIN_USER=cfguser run_sio sio-config -- --io-threads 1 --config "$work/admin.json"
same js-default sio-config

# --- sio split: hub, worker, two gateways ---
bus="ipc://$work/bus"
"$SIO" hub --bind "$bus" >"$work/hub.log" 2>&1 & pids+=($!)
"$SIO" worker --hub "$bus" --plugin "$ECHO_SO" >"$work/worker.log" 2>&1 & pids+=($!)
start gw1 "$SIO" gateway --hub "$bus" --port 0 --io-threads 1 --admin; p1=$PORT
start gw2 "$SIO" gateway --hub "$bus" --port 0 --io-threads 1 --admin; p2=$PORT
if [[ -n $p1 && -n $p2 ]]; then
  client sio-split "http://127.0.0.1:$p1" --second "http://127.0.0.1:$p2"
  same js-default sio-split
else
  bad "split: the gateways start"
fi
stop_last; stop_last; stop_last; stop_last

# --- start-up checks ---
out=$(SIO_ADMIN_PASSWORD= timeout 10 "$SIO" server --plugin "$ECHO_SO" --port 0 --admin 2>&1)
rc=$?
if [[ $rc -ne 0 && $out == *"--admin needs a password"* ]]; then
  ok "--admin without a password does not start and says why"
else bad "--admin without a password does not start and says why ($rc: $out)"; fi
start noauth "$SIO" server --plugin "$ECHO_SO" --port 0 --io-threads 1 --admin --admin-no-auth
if [[ -n $PORT ]] && grep -q "NO authentication" "$work/noauth.log"; then
  ok "--admin-no-auth starts and logs a warning"
else bad "--admin-no-auth starts and logs a warning"; fi
stop_last

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]

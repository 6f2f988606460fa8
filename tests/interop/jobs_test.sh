#!/usr/bin/env bash
# jobs_test.sh: "emit from a Celery worker when the job is done", end to end
# (issue 8, docs/JOBS.md).
#
#   bash tests/interop/jobs_test.sh
#
# Starts Debian redis-server on a free loopback port (no persistence),
# `sio server --plugin jobs.so --bridge redis://127.0.0.1:P` and a Celery
# worker (tests/interop/jobs/tasks.py, Debian python3-celery, solo pool).
# jobs/client.mjs (npm socket.io-client) emits start_job, gets the job id in
# the ack, then job_done from the Celery task; a second client gets nothing.
# Also checks the task message sio wrote on the list as Celery reads it.
# Stops everything by PID. Prints "ok - ..." lines and "N passed, N failed".
#
#   SIO_BIN (default build/tools/sio), SIO_PLUGIN_DIR (default build/plugins)
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
SIO_BIN="${SIO_BIN:-$ROOT/build/tools/sio}"
SIO_PLUGIN_DIR="${SIO_PLUGIN_DIR:-$ROOT/build/plugins}"
SIO_BIN=$(realpath -m "$SIO_BIN")
PLUGIN=$(realpath -m "$SIO_PLUGIN_DIR/jobs/jobs.so")
LOG="$(mktemp -d /tmp/sio-jobs.XXXXXX)"
PIDS=()
PASSED=0
FAILED=0

ok() {  # ok COND_STATUS WHAT
    if [ "$1" = 0 ]; then PASSED=$((PASSED + 1)); echo "ok - $2"
    else FAILED=$((FAILED + 1)); echo "not ok - $2"; fi
}

cleanup() {
    local pid i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[$i]}
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    PIDS=()
}
finish() {
    cleanup
    # sanitizer builds (SIO_BIN from build-asan): reports appear at exit
    if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG"/*.err >/dev/null 2>&1; then
        FAILED=$((FAILED + 1)); echo "not ok - sanitizer report in the server's stderr"
        grep -hE -A5 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LOG"/*.err | head -40 >&2
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ] && rm -rf "$LOG"
    [ "$FAILED" = 0 ]
}
trap 'finish; exit $?' EXIT
trap 'exit 1' INT TERM

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

probe() {  # probe PORT: emit start_job {n: 1} on /jobs, print the ack as JSON
    (cd "$HERE/jobs" && node --input-type=module -e "
import { io } from 'socket.io-client';
const s = io('http://127.0.0.1:$1/jobs', { transports: ['websocket'], reconnection: false });
s.on('connect', async () => { const a = await s.timeout(5000).emitWithAck('start_job', {n: 1}); console.log(JSON.stringify(a)); s.close(); process.exit(0); });
s.on('connect_error', () => { console.log('{}'); process.exit(1); });
setTimeout(() => process.exit(1), 8000);
")
}

start_sio() {  # start_sio LOGNAME ARGS...: start sio server, wait for "listening"; sets SPORT
    local name=$1; shift
    SPORT=$(free_port)
    "$SIO_BIN" server --plugin "$PLUGIN" --port "$SPORT" "$@" \
        >"$LOG/$name.out" 2>"$LOG/$name.err" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        grep -q '^listening' "$LOG/$name.out" 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$LOG/$name.err" >&2
    return 1
}

if [ ! -f "$PLUGIN" ]; then
    ok 1 "jobs plugin built ($PLUGIN; needs libhiredis-dev)"
    exit 1
fi
if ! "$PY" -c 'import celery, socketio' 2>/dev/null; then
    ok 1 "python3-celery and python3-socketio installed"
    exit 1
fi

RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no >"$LOG/redis.log" 2>&1 &
PIDS+=($!)
RURL="redis://127.0.0.1:$RPORT"
up=1
for _ in $(seq 1 100); do
    if [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ]; then up=0; break; fi
    sleep 0.05
done
ok $up "redis-server on 127.0.0.1:$RPORT"
[ $up = 0 ] || exit 1

SIO_JOBS_BROKER="$RURL/0" start_sio sio --bridge "$RURL"
up=$?
ok $up "sio server --plugin jobs.so --bridge $RURL"
[ $up = 0 ] || exit 1
# the bridge has subscribed to python-socketio's channel
sub=1
for _ in $(seq 1 100); do
    n=$(redis-cli -p "$RPORT" pubsub numsub socketio 2>/dev/null | sed -n 2p)
    if [ "${n:-0}" -ge 1 ]; then sub=0; break; fi
    sleep 0.1
done
ok $sub "the bridge subscribed to channel socketio"

# The message the plugin writes, read back before any worker runs (it stays
# on the list until the worker below starts): kombu's envelope, Celery's
# protocol 2 headers and the base64 JSON body [args, kwargs, embed].
probe "$SPORT" >"$LOG/probe.out" 2>&1
PROBE_ID=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("job_id",""))' "$LOG/probe.out" 2>/dev/null)
"$PY" - "$RPORT" "$PROBE_ID" >"$LOG/check.out" 2>&1 <<'EOF'
import base64, json, sys
import redis
port, job = int(sys.argv[1]), sys.argv[2]
msgs = redis.Redis(port=port).lrange('celery', 0, -1)
assert len(msgs) == 1, msgs
m = json.loads(msgs[0])
h, p = m['headers'], m['properties']
assert m['content-type'] == 'application/json' and m['content-encoding'] == 'utf-8'
assert p['body_encoding'] == 'base64' and p['delivery_info'] == {'exchange': '', 'routing_key': 'celery'}
assert h['task'] == 'jobs.run' and h['id'] == job == h['root_id'] == p['correlation_id'], (h, job)
assert h['lang'] == 'py' and h['parent_id'] is None and h['group'] is None
args, kwargs, embed = json.loads(base64.b64decode(m['body']))
assert len(args) == 3 and args[1] == '/jobs' and args[2] == {'n': 1} and kwargs == {}, args
assert embed == {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}
print('ok')
EOF
[ "$(cat "$LOG/check.out")" = ok ]
ok $? "start_job puts a Celery protocol 2 message on list 'celery' (job ${PROBE_ID:-none})"
[ "$(cat "$LOG/check.out")" = ok ] || cat "$LOG/probe.out" "$LOG/check.out" >&2

(cd "$HERE/jobs" && SIO_JOBS_BROKER="$RURL/0" exec "$PY" -m celery -A tasks worker \
    --pool=solo --concurrency=1 --without-gossip --without-mingle --without-heartbeat \
    -l warning) >"$LOG/celery.log" 2>&1 &
CELERY_PID=$!
PIDS+=($CELERY_PID)

# the worker consumes the probe's job first (its job_done goes to a socket
# that is gone), then the client's
out=$(timeout 30 node "$HERE/jobs/client.mjs" "http://127.0.0.1:$SPORT" 2>&1)
printf '%s\n' "$out" | grep -E '^(not )?ok - '
PASSED=$((PASSED + $(printf '%s\n' "$out" | grep -c '^ok - ')))
FAILED=$((FAILED + $(printf '%s\n' "$out" | grep -c '^not ok - ')))
if ! printf '%s\n' "$out" | grep -q '^ok - job_done from'; then
    FAILED=$((FAILED + 1)); echo "not ok - client finished"
    printf '%s\n' "$out" | tail -5 >&2; tail -20 "$LOG/celery.log" >&2
fi
n=$(redis-cli -p "$RPORT" llen celery)
[ "$n" = 0 ]
ok $? "the worker consumed every job (queue length $n)"
grep -q 'Traceback\|ERROR' "$LOG/celery.log"
r=$((!$?))
ok $r "the Celery worker logged no errors"
[ $r = 0 ] || tail -20 "$LOG/celery.log" >&2

# a broker nobody listens on: the ack says so, the server keeps serving
DEAD=$(free_port)
SIO_JOBS_BROKER="redis://127.0.0.1:$DEAD/0" start_sio dead
ok $? "sio server with SIO_JOBS_BROKER on a closed port"
a=$(probe "$SPORT" 2>&1)
[ "$a" = '{"error":"cannot reach the job broker"}' ]
ok $? "start_job acks an error when the broker is down: $a"
a=$(probe "$SPORT" 2>&1)
[ "$a" = '{"error":"cannot reach the job broker"}' ]
ok $? "and again (the server still serves)"

#!/usr/bin/env bash
# run.sh: run the interop suites against sio (default) or the JS reference server.
#
#   bash tests/interop/run.sh [--ref]
#
# Starts the servers the suites need on free loopback ports (from
# SIO_INTEROP_BASE_PORT, default 18001), waits for their "listening" line,
# runs js_client.mjs, py_client.py, raw_test.py and replay.py (with sio also
# features_client.mjs, py_features.py, chat_client.mjs, upgrades_test.py,
# io_threads.mjs and static_test.py, which starts its own servers), stops the
# servers by PID and prints one "N passed, N failed" line summing all suites.
#
#   sio:   $SIO_BIN (build/tools/sio) server --plugin $SIO_PLUGIN_DIR/echo/echo.so ...
#   --ref: node tests/interop/ref-server.js (socket.io 4.8.4 with the same handlers)
#
# Servers: default options; --ping-interval 300 --ping-timeout 200;
# --max-payload 1000; --engineio-path /engine.io/; --ping-interval 300 (for
# the ping300 transcripts, recorded with the default pingTimeout). With sio
# these run with --cors-mode js (no CORS, as the JS server's default) and
# replay.py also gets sio-only servers for the js_cors_*, js_cookie_* and
# py_* transcripts: cors (--cors-mode js --cors-allowed-origins
# https://example.com), cookie (--cookie io), py (python-socketio's default
# same-origin policy) and pystar (--cors-allowed-origins '*').
# ref-server.js has none of these options, so --ref replays skip them.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

MODE=sio
for arg in "$@"; do
    case "$arg" in
        --ref) MODE=ref ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

SIO_BIN="${SIO_BIN:-$ROOT/build/tools/sio}"
SIO_PLUGIN_DIR="${SIO_PLUGIN_DIR:-$ROOT/build/plugins}"
BASE_PORT="${SIO_INTEROP_BASE_PORT:-18001}"
START_TIMEOUT=10      # seconds to wait for a "listening" line
SUITE_TIMEOUT=100     # seconds per suite

LOGDIR="$(mktemp -d /tmp/sio-interop.XXXXXX)"
PIDS=()

stop_servers() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "run.sh: server pid $pid ignored SIGTERM, killing it" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    done
    PIDS=()
}
cleanup() {
    stop_servers
    rm -rf "$LOGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v node >/dev/null; then echo "run.sh: node not found" >&2; exit 1; fi
if [ ! -d "$HERE/node_modules/socket.io-client" ] || [ ! -d "$HERE/node_modules/socket.io" ]; then
    echo "# installing npm packages in tests/interop" >&2
    (cd "$HERE" && timeout 300 npm ci --no-audit --no-fund >&2) || { echo "run.sh: npm ci failed" >&2; exit 1; }
fi

if [ "$MODE" = sio ]; then
    if [ ! -x "$SIO_BIN" ]; then echo "run.sh: $SIO_BIN not found (build first, or use --ref)" >&2; exit 1; fi
    if [ ! -f "$SIO_PLUGIN_DIR/echo/echo.so" ]; then echo "run.sh: $SIO_PLUGIN_DIR/echo/echo.so not found" >&2; exit 1; fi
    SERVER=("$SIO_BIN" server --plugin "$SIO_PLUGIN_DIR/echo/echo.so")
else
    SERVER=(node "$HERE/ref-server.js" server --plugin echo)
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

NEXT_PORT=$BASE_PORT
# start_server NAME ARGS... ; sets PORT_<NAME>
start_server() {
    local name="$1"; shift
    local port=$NEXT_PORT
    while port_in_use "$port"; do port=$((port + 1)); done
    NEXT_PORT=$((port + 1))
    local out="$LOGDIR/$name.out" err="$LOGDIR/$name.err"
    "${SERVER[@]}" --host 127.0.0.1 --port "$port" "$@" >"$out" 2>"$err" &
    local pid=$!
    PIDS+=("$pid")
    local waited=0
    while ! grep -q "^listening on http://" "$out" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "run.sh: server $name exited before listening; stderr:" >&2
            tail -n 20 "$err" >&2
            exit 1
        fi
        if [ "$waited" -ge $((START_TIMEOUT * 10)) ]; then
            echo "run.sh: server $name printed no listening line within ${START_TIMEOUT}s; stderr:" >&2
            tail -n 20 "$err" >&2
            exit 1
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    local line actual
    line="$(grep -m1 "^listening on http://" "$out")"
    actual="$(printf '%s\n' "$line" | sed -E 's#^listening on http://[^:/]+:([0-9]+).*#\1#')"
    printf -v "PORT_$name" '%s' "${actual:-$port}"
    echo "# $MODE server $name: pid $pid, $line"
}

# sio's own default is python-socketio's CORS policy; the JS transcripts
# and suites expect the JS server's (no CORS headers at all).
JS=()
[ "$MODE" = sio ] && JS=(--cors-mode js)

start_server default "${JS[@]}"
start_server ping --ping-interval 300 --ping-timeout 200 "${JS[@]}"
start_server maxbuf --max-payload 1000 "${JS[@]}"
start_server eio --engineio-path /engine.io/ "${JS[@]}"
start_server ping300 --ping-interval 300 "${JS[@]}"
EXTRA_REPLAY=()
if [ "$MODE" = sio ]; then
    start_server cors --cors-mode js --cors-allowed-origins https://example.com
    start_server cookie --cors-mode js --cookie io
    start_server py
    start_server pystar --cors-allowed-origins '*'
    EXTRA_REPLAY=(--cors-port "$PORT_cors" --cookie-port "$PORT_cookie" --py-port "$PORT_py"
                  --py-star-port "$PORT_pystar")
fi

U="http://127.0.0.1"
TOTAL_PASS=0
TOTAL_FAIL=0

# run_suite NAME CMD... : prints the suite's lines, adds its counts
run_suite() {
    local name="$1"; shift
    local log="$LOGDIR/suite-$name.log"
    echo "# --- $name"
    timeout -k 5 "$SUITE_TIMEOUT" "$@" >"$log" 2>"$log.err"
    local rc=$?
    grep -v -E '^[0-9]+ passed, [0-9]+ failed$' "$log"
    local summary
    summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)"
    if [ -z "$summary" ]; then
        echo "not ok - $name: suite ended without a summary (exit $rc)"
        sed 's/^/#   /' "$log.err" | tail -n 20
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
        echo "$name: 0 passed, 1 failed"
        return
    fi
    local p f
    p="${summary%% passed*}"
    f="${summary#*passed, }"; f="${f%% failed*}"
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name: exit code $rc"
        sed 's/^/#   /' "$log.err" | tail -n 20
        f=1
    fi
    TOTAL_PASS=$((TOTAL_PASS + p))
    TOTAL_FAIL=$((TOTAL_FAIL + f))
    echo "$name: $p passed, $f failed"
}

run_suite js_client node "$HERE/js_client.mjs" --url "$U:$PORT_default" --ping-url "$U:$PORT_ping" \
    --eio-url "$U:$PORT_eio" --ping-interval 300 --ping-timeout 200
run_suite py_client "$PY" "$HERE/py_client.py" --url "$U:$PORT_default" --ping-url "$U:$PORT_ping" \
    --ping-interval 300 --ping-timeout 200
run_suite raw_test "$PY" "$HERE/raw_test.py" --port "$PORT_default" --ping-port "$PORT_ping" \
    --maxbuf-port "$PORT_maxbuf" --eio-port "$PORT_eio" --ping-interval 300 --ping-timeout 200 --max-payload 1000
run_suite replay "$PY" "$HERE/replay.py" --port "$PORT_default" --ping300-port "$PORT_ping300" \
    --maxbuf-port "$PORT_maxbuf" "${EXTRA_REPLAY[@]}"

# --- plugin-author features (issue 4): a demo4 server of its own, sio only
if [ "$MODE" = sio ]; then
    if [ -f "$SIO_PLUGIN_DIR/demo4/demo4.so" ]; then
        SERVER=("$SIO_BIN" server --plugin "$SIO_PLUGIN_DIR/demo4/demo4.so")
        start_server features
        run_suite features node "$HERE/features_client.mjs" --url "$U:$PORT_features"
    else
        echo "not ok - features: $SIO_PLUGIN_DIR/demo4/demo4.so not found"
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
    fi
fi

# --- the same features with python-socketio (and gzip/deflate polling), sio only
if [ "$MODE" = sio ] && [ -f "$SIO_PLUGIN_DIR/demo4/demo4.so" ]; then
    SERVER=("$SIO_BIN" server --plugin "$SIO_PLUGIN_DIR/demo4/demo4.so")
    start_server pyfeatures
    run_suite py_features "$PY" "$HERE/py_features.py" --url "$U:$PORT_pyfeatures"
fi

# --- chat rooms (issue 4): a chat server of its own, sio only
if [ "$MODE" = sio ]; then
    if [ -f "$SIO_PLUGIN_DIR/chat/chat.so" ]; then
        SERVER=("$SIO_BIN" server --plugin "$SIO_PLUGIN_DIR/chat/chat.so")
        start_server chat
        run_suite chat node "$HERE/chat_client.mjs" --url "$U:$PORT_chat"
    else
        echo "not ok - chat: $SIO_PLUGIN_DIR/chat/chat.so not found"
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
    fi
fi

# --- --no-allow-upgrades (issue 4), sio only; SERVER is still a sio one
if [ "$MODE" = sio ]; then
    SERVER=("$SIO_BIN" server --plugin "$SIO_PLUGIN_DIR/echo/echo.so")
    start_server noupgrades --no-allow-upgrades
    run_suite upgrades "$PY" "$HERE/upgrades_test.py" --port "$PORT_noupgrades"
fi

# --- --io-threads 4 (issue 7): handover of connections between the
# gateway's I/O threads, sio only; the test reads the server's debug log
if [ "$MODE" = sio ]; then
    SERVER=("$SIO_BIN" server --plugin "$SIO_PLUGIN_DIR/echo/echo.so")
    start_server iothreads --io-threads 4 --log-level debug --cors-mode js \
        --static-file "/files/one.json=$HERE/package.json"
    run_suite io_threads node "$HERE/io_threads.mjs" --url "$U:$PORT_iothreads" --threads 4 \
        --log "$LOGDIR/iothreads.err" --static "/files/one.json=$HERE/package.json"
fi

# --- static files, traversal, --upstream (issue 4), sio only: the test
# makes its own files and upstream and starts its own sio servers
if [ "$MODE" = sio ]; then
    run_suite static "$PY" "$HERE/static_test.py" --sio "$SIO_BIN" \
        --plugin "$SIO_PLUGIN_DIR/echo/echo.so"
fi

# --- the servers' own logs: with a sanitizer build (interop-asan), a report
# that a server printed (also at exit: LeakSanitizer) fails the run here,
# since the suites above only see what the clients see
if [ "$MODE" = sio ]; then
    stop_servers
    reports="$(grep -l -a -E 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error: ' \
        "$LOGDIR"/*.err 2>/dev/null)"
    if [ -z "$reports" ]; then
        echo "ok - no sanitizer report in the servers' logs"
        TOTAL_PASS=$((TOTAL_PASS + 1))
    else
        for f in $reports; do
            echo "not ok - sanitizer report in $(basename "$f"):"
            grep -a -E -A 12 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error: ' "$f" |
                head -n 40 | sed 's/^/#   /'
        done
        TOTAL_FAIL=$((TOTAL_FAIL + 1))
    fi
fi

echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]

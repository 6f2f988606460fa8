#!/usr/bin/env bash
# kafka_test.sh: the kafka:// bridge (issue 8) against python-socketio's KafkaManager.
#
#   bash tests/interop/kafka_test.sh
#
# The broker is librdkafka's mock cluster (build/adapters/sio-kafka-mock,
# built when librdkafka-dev is installed; topic "socketio", 1 partition).
# Starts `sio server --plugin chat.so --bridge kafka://BOOTSTRAP`, connects
# three npm socket.io-client sockets a, b, c to "/" (a and b join room r1
# through the chat plugin's `join`), then emits with Debian python3-socketio
# 5.7.2's write-only KafkaManager (python3-kafka): to a room, to the whole
# namespace, with skip_sid, several arguments (a tuple); produces the
# captured fixture py572_kafka_emit.pickle verbatim and a malicious pickle
# (it would create a file under Python's pickle.loads): the pickle is
# rejected, nothing runs and the server keeps serving. Each client must get
# exactly the expected events. Stops everything by PID; prints "ok - ..."
# lines and "N passed, N failed".
#
#   SIO_BIN (build/tools/sio), SIO_PLUGIN_DIR (build/plugins),
#   SIO_KAFKA_MOCK (build/adapters/sio-kafka-mock)
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
SIO_BIN="${SIO_BIN:-$ROOT/build/tools/sio}"
SIO_PLUGIN_DIR="${SIO_PLUGIN_DIR:-$ROOT/build/plugins}"
MOCK="${SIO_KAFKA_MOCK:-$(dirname "$(dirname "$SIO_BIN")")/adapters/sio-kafka-mock}"
FIXTURE="${SIO_FIXTURES:-$ROOT/tests/fixtures}/interop/py572_kafka_emit.pickle"

PASSED=0
FAILED=0
ok() {    # ok COND_STATUS DESCRIPTION
    if [ "$1" = 0 ]; then PASSED=$((PASSED + 1)); echo "ok - $2"
    else FAILED=$((FAILED + 1)); echo "not ok - $2"; fi
}
finish() { echo "$PASSED passed, $FAILED failed"; [ "$FAILED" = 0 ]; exit $?; }

LOGDIR="$(mktemp -d /tmp/sio-kafka.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$LOGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_grep() {   # wait_grep FILE ERE SECONDS
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        grep -Eq -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

for f in "$SIO_BIN" "$MOCK" "$SIO_PLUGIN_DIR/chat/chat.so"; do
    if [ ! -e "$f" ]; then
        echo "kafka_test: $f not found (build with librdkafka-dev installed)"
        FAILED=1; finish
    fi
done
if ! "$PY" -c 'import kafka, socketio' 2>/dev/null; then
    echo "kafka_test: python3-kafka / python3-socketio missing"; FAILED=1; finish
fi
if [ ! -d "$HERE/node_modules/socket.io-client" ]; then
    (cd "$HERE" && timeout 300 npm ci --no-audit --no-fund >&2) || { echo "kafka_test: npm ci failed"; FAILED=1; finish; }
fi

# --- the broker: a mock cluster; its stdin is a fifo held open by us
mkfifo "$LOGDIR/mock.in"
"$MOCK" <"$LOGDIR/mock.in" >"$LOGDIR/mock.out" 2>"$LOGDIR/mock.err" &
PIDS+=($!)
exec {MOCKIN}>"$LOGDIR/mock.in"
wait_grep "$LOGDIR/mock.out" '^bootstrap ' 10
ok $? "librdkafka mock cluster starts"
BS=$(awk '/^bootstrap /{print $2; exit}' "$LOGDIR/mock.out")
[ -n "$BS" ] || finish

# --- sio with the bridge
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SIO_BIN" server --plugin "$SIO_PLUGIN_DIR/chat/chat.so" --port "$PORT" \
    --bridge "kafka://$BS" --log-level info >"$LOGDIR/server.out" 2>"$LOGDIR/server.err" &
SERVER=$!
PIDS+=($SERVER)
wait_grep "$LOGDIR/server.out" '^listening on' 10
ok $? "sio server --bridge kafka://$BS starts"
wait_grep "$LOGDIR/server.err" "consuming 1 partition of topic 'socketio'" 15
ok $? "the bridge consumes topic socketio (all partitions, from the end, no group)"

# --- three socket.io-client sockets; a and b in room r1
CLIENT_JS='
const { io } = require("socket.io-client");
const url = process.argv[1];
const sids = {}; let ready = 0;
const done = () => { if (++ready === 3) console.log(`READY ${sids.a} ${sids.b} ${sids.c}`); };
for (const n of ["a", "b", "c"]) {
  const s = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  s.onAny((ev, ...args) => { if (ev.startsWith("k_")) console.log(`EV ${n} ${ev} ${JSON.stringify(args)}`); });
  s.on("disconnect", (why) => console.log(`DISC ${n} ${why}`));
  s.on("connect", () => {
    sids[n] = s.id;
    if (n === "c") done();
    else s.emit("join", "r1", (ok) => { if (!ok) console.log(`JOINFAIL ${n}`); done(); });
  });
}
setTimeout(() => process.exit(3), 120000);
'
(cd "$HERE" && exec node -e "$CLIENT_JS" "http://127.0.0.1:$PORT") >"$LOGDIR/client.out" 2>"$LOGDIR/client.err" &
PIDS+=($!)
wait_grep "$LOGDIR/client.out" '^READY ' 15
ok $? "three socket.io-client sockets connected, a and b joined r1"
read -r _ SID_A SID_B SID_C < <(grep '^READY ' "$LOGDIR/client.out")

# --- the emitter: python-socketio 5.7.2's KafkaManager, and raw producers
cat >"$LOGDIR/emit.py" <<'EOF'
import os, pickle, sys
import kafka, socketio
bs, what = sys.argv[1], sys.argv[2]
if what == 'emit':                      # emit EVENT DATA_REPR ROOM|- SKIP|-
    ev, data, room, skip = sys.argv[3], eval(sys.argv[4]), sys.argv[5], sys.argv[6]
    m = socketio.KafkaManager(url='kafka://' + bs, write_only=True)
    m.emit(ev, data, namespace='/', room=None if room == '-' else room,
           skip_sid=None if skip == '-' else skip)
else:                                   # raw FILE | evil MARKER: produce bytes as KafkaManager does
    if what == 'evil':
        class Evil:
            def __reduce__(self):
                return (os.system, ('touch ' + sys.argv[3],))
        body = pickle.dumps({'method': 'emit', 'event': 'k_evil', 'data': Evil(),
                             'namespace': '/', 'room': None, 'skip_sid': None, 'callback': None})
    else:
        body = open(sys.argv[3], 'rb').read()
    p = kafka.KafkaProducer(bootstrap_servers=[bs])
    p.send('socketio', value=body)
    p.flush()
    p.close()
EOF
emit() { timeout 30 "$PY" "$LOGDIR/emit.py" "$BS" "$@" >>"$LOGDIR/emit.log" 2>&1; }
got() { grep -c -- "^EV $1 $2 " "$LOGDIR/client.out"; }

emit emit k_room "{'id': 7}" r1 -
wait_grep "$LOGDIR/client.out" '^EV a k_room \[\{"id":7\}\]' 10 &&
    wait_grep "$LOGDIR/client.out" '^EV b k_room \[\{"id":7\}\]' 5
ok $? "KafkaManager.emit(room='r1') reaches a and b"

emit emit k_all "'hello'" - -
wait_grep "$LOGDIR/client.out" '^EV a k_all \["hello"\]' 10 &&
    wait_grep "$LOGDIR/client.out" '^EV b k_all ' 5 && wait_grep "$LOGDIR/client.out" '^EV c k_all ' 5
ok $? "KafkaManager.emit() to the whole namespace reaches a, b and c"

emit emit k_skip "[1, 2]" - "$SID_A"
wait_grep "$LOGDIR/client.out" '^EV b k_skip \[\[1,2\]\]' 10 && wait_grep "$LOGDIR/client.out" '^EV c k_skip ' 5
ok $? "KafkaManager.emit(skip_sid=a) reaches b and c"

emit emit k_multi "('x', 2, None)" r1 "$SID_B"
wait_grep "$LOGDIR/client.out" '^EV a k_multi \["x",2,null\]' 10
ok $? "a tuple is several arguments (room r1, skip_sid=b)"

# the captured KafkaManager message (room 'someSid' in /jobs: nobody here)
if [ -f "$FIXTURE" ]; then
    emit raw "$FIXTURE"
    ok $? "the fixture py572_kafka_emit.pickle is produced verbatim"
else
    ok 1 "missing fixture $FIXTURE (set SIO_FIXTURES or restore tests/fixtures)"
fi

MARKER="$LOGDIR/pwned"
emit evil "$MARKER"
wait_grep "$LOGDIR/server.err" 'message rejected: .*(GLOBAL|REDUCE)' 10
ok $? "a malicious pickle is rejected (logged: opcode refused)"

emit emit k_after "{'still': True}" - -
wait_grep "$LOGDIR/client.out" '^EV a k_after \[\{"still":true\}\]' 10 &&
    wait_grep "$LOGDIR/client.out" '^EV b k_after ' 5 && wait_grep "$LOGDIR/client.out" '^EV c k_after ' 5
ok $? "the server keeps serving after the malicious pickle"
[ ! -e "$MARKER" ]
ok $? "nothing ran: the malicious pickle's command did not execute"

sleep 0.3
expected='a k_after
a k_all
a k_multi
a k_room
b k_after
b k_all
b k_room
b k_skip
c k_after
c k_all
c k_skip'
actual=$(awk '/^EV /{print $2, $3}' "$LOGDIR/client.out" | sort)
[ "$actual" = "$expected" ]
ok $? "each client got exactly the expected events, once each"
if [ "$actual" != "$expected" ]; then
    echo "# expected:"; echo "$expected" | sed 's/^/#   /'
    echo "# got:"; echo "$actual" | sed 's/^/#   /'
fi
! grep -q '^DISC ' "$LOGDIR/client.out"
ok $? "no client was disconnected"

# --- clean stop: the bridge thread ends with the server
kill -TERM "$SERVER"
rc=124
for _ in $(seq 1 100); do
    if ! kill -0 "$SERVER" 2>/dev/null; then wait "$SERVER"; rc=$?; break; fi
    sleep 0.1
done
[ "$rc" = 0 ]
ok $? "sio server with a kafka bridge exits 0 on SIGTERM (rc $rc)"
N_IN=7
grep -Eq "in $N_IN, delivered $((N_IN - 1)), ignored 0, rejected 1" "$LOGDIR/server.err"
ok $? "bridge counters: in $N_IN, delivered $((N_IN - 1)), rejected 1"
if [ "$FAILED" != 0 ]; then
    echo "# server stderr (tail):"; tail -20 "$LOGDIR/server.err" | sed 's/^/#   /'
    echo "# emit log (tail):"; tail -10 "$LOGDIR/emit.log" | sed 's/^/#   /'
fi
exec {MOCKIN}>&-
finish

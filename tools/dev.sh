#!/usr/bin/env bash
# dev.sh: set up a Debian machine, build sio, run it or run every test.
#
#   tools/dev.sh run     install, build, start `sio server` with the chat plugin on :5000
#   tools/dev.sh test    install, build (normal, ASan+UBSan, fuzz), run every suite;
#                        the last line is "N passed, N failed"
#   tools/dev.sh soak    install, build the ASan build, run a mixed-traffic soak against it
#                        (SOAK_SECONDS, default 600); prints RSS min/max and ASan's verdict
#   tools/dev.sh setup   only install packages (apt, npm)
#   tools/dev.sh build   only configure and build ./build
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

APT_PACKAGES=(
  build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
  libevent-dev libnghttp2-dev libwslay-dev libmsgpack-dev libjansson-dev
  libzmq3-dev libssl-dev libcriterion-dev libhttp-parser-dev zlib1g-dev
  nodejs npm python3 python3-socketio python3-aiohttp python3-websocket
  python3-requests python3-msgpack python3-zmq valgrind chromium
  redis-server libhiredis-dev python3-redis python3-kombu gnuplot-nox
  python3-celery
  rabbitmq-server librabbitmq-dev
  librdkafka-dev python3-kafka
  libcrypt-dev            # crypt(3): the Admin UI's bcrypt password hashes (docs/ADMIN.md)
  python3-prometheus-client   # its text-format parser checks GET /metrics (docs/ADMIN.md)
)

log() { printf '== [%ds] %s\n' "$SECONDS" "$*" >&2; }

setup() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    # nodejs/npm may come from elsewhere on the image; accept a working binary
    case $p in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm)    command -v npm  >/dev/null 2>&1 && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # npm install when node_modules is missing or older than the package files
  if [[ -f tests/interop/package.json &&
        ( ! -f tests/interop/node_modules/.package-lock.json ||
          tests/interop/package.json -nt tests/interop/node_modules/.package-lock.json ||
          tests/interop/package-lock.json -nt tests/interop/node_modules/.package-lock.json ) ]]; then
    log "npm install (tests/interop)"
    (cd tests/interop && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  fi
}

quiet() {  # run a command; show its output only when it fails
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" | tail -60 >&2
    log "FAILED: $*"
    return 1
  fi
}

configure() {  # configure DIR [meson args...]
  local dir=$1; shift
  if [[ ! -f $dir/build.ninja ]]; then
    quiet meson setup "$dir" "$@"
  fi
}

build() {
  configure build
  quiet ninja -C build
}

run() {
  setup
  build
  local port=${PORT:-5000}
  log "sio server on http://127.0.0.1:$port/ (chat plugin, demo page at /); Ctrl-C stops it"
  # the demo page, and the socket.io client bundle from npm (not committed)
  exec build/tools/sio server --plugin build/plugins/chat/chat.so --port "$port" \
    --static /=plugins/chat/www \
    --static /socket.io-client/=tests/interop/node_modules/socket.io-client/dist "$@"
}

# --- test: every suite adds to these totals ---
PASSED=0
FAILED=0
count_meson() {  # count_meson NAME DIR [meson test args]
  local name=$1 dir=$2; shift 2
  local out rc=0
  out=$(meson test -C "$dir" --print-errorlogs "$@" 2>&1) || rc=$?
  printf '%s\n' "$out" | grep -E '^ *[0-9]+/[0-9]+ ' | awk '!seen[$0]++' || true
  # count criterion tests (each program prints a Synthesis line), and a
  # program that died before printing one as one failure
  local prog_fail to ok fail
  prog_fail=$(printf '%s\n' "$out" | awk '/^Fail:/{print $2}')
  to=$(printf '%s\n' "$out" | awk '/^Timeout:/{print $2}')
  prog_fail=$(( ${prog_fail:-0} + ${to:-0} ))
  read -r ok fail < <(grep -ho 'Synthesis: Tested: [0-9]* | Passing: [0-9]* | Failing: [0-9]* | Crashing: [0-9]*' \
      "$dir/meson-logs/testlog.txt" 2>/dev/null |
    awk '{p += $6; f += $9 + $12} END {print p + 0, f + 0}')
  if (( prog_fail > fail )); then fail=$prog_fail; fi
  if (( rc != 0 && fail == 0 )); then fail=1; printf '%s\n' "$out" | tail -30; fi
  if (( ok == 0 && fail == 0 )); then fail=1; log "$name: ran no test"; fi
  if (( fail > 0 )); then printf '%s\n' "$out" | sed -n '/stdout:/,/^==/p' | head -100; fi
  log "$name: $ok passed, $fail failed"
  PASSED=$((PASSED + ok)); FAILED=$((FAILED + fail))
}

count_suite() {  # count_suite NAME CMD...: a script printing "N passed, N failed" last
  local name=$1; shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  printf '%s\n' "$out"
  local last p f
  last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
  p=$(printf '%s' "$last" | awk '{print $1}'); f=$(printf '%s' "$last" | awk '{print $3}')
  p=${p:-0}; f=${f:-0}
  if (( rc != 0 && f == 0 )); then f=1; fi
  # a suite that found nothing to check has not passed
  if (( p == 0 && f == 0 )); then f=1; log "$name: ran no check"; fi
  log "$name: $p passed, $f failed"
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
}

fuzz() {
  local dir=build-fuzz
  CC=clang configure $dir -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false -Dtests=false
  quiet ninja -C $dir
  local secs=${FUZZ_SECONDS:-20} res
  res=$(mktemp -d)
  # one target per core at a time; each writes its verdict to $res
  local running=0 cores
  cores=$(nproc 2>/dev/null || echo 2)
  for t in tests/fuzz/corpus/*/; do
    t=$(basename "$t")
    (
      bin=$dir/tests/fuzz/fuzz-$t
      work=$(mktemp -d)
      cp -r "tests/fuzz/corpus/$t/." "$work/"
      if "$bin" -max_total_time="$secs" -seed=1 -print_final_stats=0 "$work" >"$work.log" 2>&1; then
        log "fuzz-$t: clean for ${secs}s ($(grep -o 'exec/s: [0-9]*' "$work.log" | tail -1))"
        echo pass >"$res/$t"
      else
        tail -40 "$work.log"
        log "fuzz-$t: FAILED"
        echo fail >"$res/$t"
      fi
      rm -rf "$work" "$work.log"
    ) &
    running=$((running + 1))
    if (( running >= cores )); then wait -n || true; running=$((running - 1)); fi
  done
  wait || true
  for t in tests/fuzz/corpus/*/; do
    t=$(basename "$t")
    if [[ $(cat "$res/$t" 2>/dev/null) == pass ]]; then PASSED=$((PASSED + 1))
    else log "fuzz-$t: no verdict"; FAILED=$((FAILED + 1)); fi
  done
  rm -rf "$res"
}

# Suites that mostly wait (on servers, timeouts, brokers) run in two lanes
# at once; each lane's suites pick their own ports. A lane adds its counts
# to the file it is given.
lane() {  # lane FILE SUITE-FUNCTION...
  local file=$1; shift
  PASSED=0; FAILED=0
  local f
  for f in "$@"; do "$f"; done
  echo "$PASSED $FAILED" >"$file"
}
suite_interop()      { count_suite interop bash tests/interop/run.sh; }
suite_interop_asan() {
  count_suite interop-asan env SIO_BIN=build-asan/tools/sio SIO_PLUGIN_DIR=build-asan/plugins \
    SIO_INTEROP_BASE_PORT=18101 ASAN_OPTIONS=detect_leaks=1 bash tests/interop/run.sh
}
suite_out_of_tree()  { count_suite out-of-tree bash tests/e2e/out_of_tree.sh; }
suite_c_client()     { count_suite c-client bash tests/e2e/c_client.sh; }
suite_config()       { count_suite config bash tests/e2e/config.sh; }
suite_browser()      { count_suite browser node tests/e2e/browser_chat.mjs; }
suite_split()        { count_suite split bash tests/e2e/split.sh; }
suite_client_cmd()   { count_suite client-cmd bash tests/e2e/client_cmd.sh; }
suite_doc_examples() { count_suite doc-examples bash tests/e2e/doc_examples.sh; }
suite_bench_smoke()  { count_suite bench-smoke bash tests/e2e/bench_smoke.sh; }
suite_bridge()       { count_suite bridge /usr/bin/python3 tests/interop/bridge_test.py build; }
suite_federation()   { count_suite federation /usr/bin/python3 tests/interop/federation_test.py build; }
suite_node_adapter() { count_suite node-adapter node tests/interop/node_adapter_test.mjs build; }
suite_jobs()         { count_suite jobs bash tests/interop/jobs_test.sh; }
suite_amqp()         { count_suite amqp /usr/bin/python3 tests/interop/amqp_test.py build; }
suite_kafka()        { count_suite kafka bash tests/interop/kafka_test.sh; }
suite_tls()          { count_suite tls bash tests/e2e/tls.sh; }
suite_layers()       { count_suite layers /usr/bin/python3 tests/e2e/layers.py; }
suite_h2()           { count_suite h2 bash tests/e2e/h2.sh; }
suite_client_h2()    { count_suite client-h2 bash tests/e2e/client_h2.sh; }
suite_admin()        { count_suite admin bash tests/e2e/admin.sh; }
suite_metrics()      { count_suite metrics /usr/bin/python3 tests/e2e/metrics.py; }
suite_admin_ui()     { count_suite admin-ui node tests/e2e/admin_ui.mjs; }

self_contained() {  # no tracked file may read a path outside the repository
  local hits
  hits=$(git ls-files -z 2>/dev/null | grep -zv '^tools/dev.sh$' |
         xargs -0 grep -IlE '\.\./shared|/work/' 2>/dev/null || true)
  if [[ -n $hits ]]; then
    printf 'these files refer to a path outside the repository:\n%s\n' "$hits" >&2
    log "self-contained: 0 passed, 1 failed"
    FAILED=$((FAILED + 1))
  else
    log "self-contained: 1 passed, 0 failed"
    PASSED=$((PASSED + 1))
  fi
}

test_all() {
  # a setup or build step that fails still ends the run with the summary line
  set -E
  trap 'log "a setup/build step failed"; echo "$PASSED passed, $((FAILED + 1)) failed"; exit 1' ERR
  setup
  self_contained
  log "build (gcc)"
  build
  count_meson unit build
  log "build (clang)"
  CC=clang configure build-clang
  quiet ninja -C build-clang
  log "build (ASan+UBSan)"
  configure build-asan -Db_sanitize=address,undefined -Db_lundef=false
  quiet ninja -C build-asan
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp \
    count_meson unit-asan build-asan
  fuzz
  local la lb
  la=$(mktemp); lb=$(mktemp)
  # the AMQP suites each start a rabbitmq node: they share a lane
  lane "$la" suite_interop suite_out_of_tree suite_c_client suite_config suite_browser suite_admin_ui \
       suite_client_cmd suite_doc_examples suite_bench_smoke suite_jobs suite_kafka suite_tls suite_h2 \
       suite_client_h2 suite_layers &
  local pa=$!
  lane "$lb" suite_interop_asan suite_split suite_bridge suite_federation suite_node_adapter \
       suite_amqp suite_admin suite_metrics &
  local pb=$!
  wait $pa || true
  wait $pb || true
  local p f
  for r in "$la" "$lb"; do
    read -r p f <"$r" || { p=0; f=1; log "a lane ended without its counts"; }
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
  done
  rm -f "$la" "$lb"
  # memory and CPU figures are read with nothing else running
  count_suite reliability bash tests/reliability/run.sh
  trap - ERR
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED == 0 ]]
}

# --- soak: the ASan build under mixed traffic for SOAK_SECONDS (not part of test) ---
soak() {
  setup
  log "build (ASan+UBSan)"
  configure build-asan -Db_sanitize=address,undefined -Db_lundef=false
  quiet ninja -C build-asan
  local secs=${SOAK_SECONDS:-600} dir pid port t0 i
  dir=$(mktemp -d /tmp/sio-soak.XXXXXX)
  # demo4: acks for any event, rooms, emits to a room and to everyone;
  # two workers and two I/O threads so that handovers are exercised too
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp \
    build-asan/tools/sio server --plugin build-asan/plugins/demo4/demo4.so --host 127.0.0.1 \
      --port 0 --workers 2 --io-threads 2 --cors-mode js --log-level info >"$dir/server.out" 2>"$dir/server.err" &
  pid=$!
  for i in $(seq 1 300); do
    grep -q '^listening on http://' "$dir/server.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  port=$(sed -nE 's#^listening on http://[^:/]+:([0-9]+).*#\1#p' "$dir/server.out" | head -1)
  if [[ -z $port ]]; then
    tail -20 "$dir/server.err" >&2
    kill -KILL "$pid" 2>/dev/null || true
    log "soak: the server did not start"
    return 1
  fi
  log "soak: ${secs}s against build-asan (pid $pid, port $port); files in $dir"
  # several client processes, python-socketio and socket.io-client: each
  # transport, and churning short sessions
  local cpids=() clients=(py:polling py:websocket py:churn js:upgrade js:polling js:churn) c
  for i in "${!clients[@]}"; do
    c=${clients[$i]}
    if [[ ${c%%:*} == py ]]; then
      set -- /usr/bin/python3 tests/reliability/soak_client.py
    else
      set -- node tests/reliability/soak_client.mjs
    fi
    timeout $((secs + 120)) "$@" --url "http://127.0.0.1:$port" --mode "${c#*:}" --seconds "$secs" \
      --seed $((i + 1)) >"$dir/client-$i.out" 2>"$dir/client-$i.err" &
    cpids+=($!)
  done
  # RSS every 10 s: seconds-since-start and VmRSS in kB
  t0=$SECONDS
  while (( SECONDS - t0 < secs )) && kill -0 "$pid" 2>/dev/null; do
    printf '%d %s\n' $((SECONDS - t0)) "$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null)" >>"$dir/rss.txt"
    sleep 10
  done
  local crc=0
  for i in "${cpids[@]}"; do wait "$i" || crc=1; done
  printf '%d %s\n' $((SECONDS - t0)) "$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null)" >>"$dir/rss.txt"
  local alive=yes src=0
  kill -0 "$pid" 2>/dev/null || alive=no
  kill -TERM "$pid" 2>/dev/null || true
  # ASan's leak check runs at exit: give it time
  for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || src=$?
  local reports
  reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$dir/server.err" || true)
  awk 'NF == 2 && $2 != "" {if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2; n++}
       END {printf "== soak: RSS over %d samples: min %.1f MB, max %.1f MB\n", n, min / 1024, max / 1024}' "$dir/rss.txt" >&2
  for i in "${!clients[@]}"; do
    log "soak: client ${clients[$i]}: $(tail -1 "$dir/client-$i.out" 2>/dev/null)"
    if [[ -s $dir/client-$i.err ]]; then sed 's/^/    /' "$dir/client-$i.err" | tail -5 >&2; fi
  done
  # what the server said about the sessions it closed (info level): the
  # first place to look when a client reports an error
  if (( crc != 0 )); then
    grep -a -E 'slow client|timeout|refused|disconnect' "$dir/server.err" | tail -10 | sed 's/^/    server: /' >&2
  fi
  if (( reports > 0 )); then
    grep -E -A30 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$dir/server.err" | head -80 >&2
    log "soak: ASan/UBSan: $reports report(s) (server exit $src); see $dir/server.err"
  else
    log "soak: ASan/UBSan: clean (server alive at the end: $alive, exit $src)"
  fi
  log "soak: RSS samples in $dir/rss.txt"
  if [[ $reports == 0 && $alive == yes && $crc == 0 ]]; then
    log "soak: passed"
  else
    log "soak: FAILED (sanitizer reports: $reports, server alive: $alive, a client failed: $crc)"
    return 1
  fi
}

case ${1:-} in
  setup) setup ;;
  build) setup; build ;;
  run) shift; run "$@" ;;
  test) test_all ;;
  soak) soak ;;
  *) echo "usage: tools/dev.sh run|test|soak|setup|build" >&2; exit 2 ;;
esac

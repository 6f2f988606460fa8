#!/usr/bin/env bash
# run.sh: the reliability probes of issue 17 against `sio server`.
#
#   bash tests/reliability/run.sh [--before] [PROBE...]
#
# Each probe (tests/reliability/probe_*.py, see README.md) starts its own
# servers on 127.0.0.1 with the flags it needs, measures RSS, CPU time, log
# lines and what clients see, and prints "ok - ..." / "not ok - ..." lines
# with the figures. run.sh gives each probe a hard time limit, stops what a
# killed probe left running (by the PIDs it recorded), and ends with
# "N passed, N failed" (exit 1 when anything failed).
#
#   --before   omit the flags today's server does not know (it would exit 2
#              on them), to record today's figures (docs/reliability-before.txt)
#   PROBE      run only these (slow_clients fd_limit uploads fairness namespace)
#
# Environment: SIO_BIN (build/tools/sio), SIO_PLUGIN_DIR (build/plugins),
# SIO_REL_RSS_GUARD_MB (1024: a server whose RSS passes it is killed and
# that is reported as its figure).
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

export SIO_BIN="${SIO_BIN:-$ROOT/build/tools/sio}"
export SIO_PLUGIN_DIR="${SIO_PLUGIN_DIR:-$ROOT/build/plugins}"

MODE=()
PROBES=()
for arg in "$@"; do
    case "$arg" in
        --before) MODE=(--before) ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "run.sh: unknown argument $arg" >&2; exit 2 ;;
        *) PROBES+=("$arg") ;;
    esac
done
# probe and its time limit in seconds (each normally takes a quarter of it)
ALL=(slow_clients:100 fd_limit:60 uploads:100 fairness:150 namespace:45)

if [ ! -x "$SIO_BIN" ]; then echo "run.sh: $SIO_BIN not found (build first)" >&2; exit 1; fi
for p in echo demo4; do
    if [ ! -f "$SIO_PLUGIN_DIR/$p/$p.so" ]; then echo "run.sh: $SIO_PLUGIN_DIR/$p/$p.so not found" >&2; exit 1; fi
done

WORK="$(mktemp -d /tmp/sio-rel.XXXXXX)"
PASSED=0
FAILED=0

stop_leftovers() {  # stop what a probe recorded in its pid file and left running
    local pidfile=$1 pid start now
    [ -f "$pidfile" ] || return 0
    while read -r pid start; do
        now=$(awk '{sub(/.*\) /, ""); print $20}' "/proc/$pid/stat" 2>/dev/null) || continue
        [ "$now" = "$start" ] || continue       # gone, or the PID was reused
        kill -TERM "$pid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null
    done < "$pidfile"
}

cleanup() {
    local f
    for f in "$WORK"/*.pids; do stop_leftovers "$f"; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "# reliability: ${SIO_BIN#"$ROOT"/}${MODE:+ (--before: no issue-17 flags)}, $(date -u +%Y-%m-%dT%H:%MZ)"
for entry in "${ALL[@]}"; do
    name=${entry%%:*}
    limit=${entry##*:}
    if ((${#PROBES[@]})) && [[ " ${PROBES[*]} " != *" $name "* ]]; then continue; fi
    out="$WORK/$name.out"
    pidfile="$WORK/$name.pids"
    t0=$(date +%s)
    SIO_REL_PIDFILE="$pidfile" timeout --kill-after=10 "$limit" \
        "$PY" "$HERE/probe_$name.py" "${MODE[@]}" >"$out" 2>"$WORK/$name.err"
    rc=$?
    stop_leftovers "$pidfile"
    cat "$out"
    ok=$(grep -c '^ok - ' "$out")
    bad=$(grep -c '^not ok - ' "$out")
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "not ok - $name: killed by its ${limit} s time limit"
        bad=$((bad + 1))
    elif [ "$rc" != 0 ] && [ "$bad" = 0 ]; then
        echo "not ok - $name: exited $rc; stderr:"
        tail -20 "$WORK/$name.err" | sed 's/^/#   /'
        bad=$((bad + 1))
    fi
    echo "# $name: $ok passed, $bad failed in $(( $(date +%s) - t0 )) s"
    PASSED=$((PASSED + ok))
    FAILED=$((FAILED + bad))
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]

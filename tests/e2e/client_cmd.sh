#!/usr/bin/env bash
# client_cmd.sh: the `sio client` command (tools/client_cmd.c) against
# `sio server` with the echo plugin: emit + ack, receiving events, stdin
# lines, refusal, bad flags (exit 2), connection refused (exit 1).
# Prints "ok - ..." lines and "N passed, N failed".
set -u
source "$(dirname "$0")/lib.sh"
start "$work/server.log" || notok "server starts" "$(tr '\n' '|' <"$work/server.log")"
url=http://127.0.0.1:$port

timeout 20 "$SIO" client "$url" --auth '{"token":"t1"}' --call echo '"hi"' 2 '{"a":[1]}' \
  >"$work/call.out" 2>"$work/call.err"
status "--call exits 0 after the ack" $? 0
check "--call prints the ack" "$work/call.out" '^ack / echo \["hi",2,\{"a":\[1\]\}\]$'
check "receives the server's event (auth)" "$work/call.out" '^/ auth \[\{"token":"t1"\}\]$'
check "connect line on stderr" "$work/call.err" '^connected / sid=[A-Za-z0-9_-]{20} transport=(polling|websocket)$'

timeout 20 "$SIO" client "$url" --namespace /custom --transports websocket --emit message '"x"' \
  >"$work/emit.out" 2>"$work/emit.err"
status "--emit exits 0" $? 0
check "--emit over websocket on /custom: the event back" "$work/emit.out" '^/custom message-back \["x"\]$'
check "--emit: transport websocket" "$work/emit.err" 'transport=websocket'

printf 'message "a" 1\n?echo [1,2]\n/custom hello {"x":true}\n' |
  timeout 20 "$SIO" client "$url" --namespace / --namespace /custom >"$work/stdin.out" 2>"$work/stdin.err"
status "stdin mode exits 0 on EOF" $? 0
check "stdin line emitted, event printed" "$work/stdin.out" '^/ message-back \["a",1\]$'
check "stdin '?event' gets its ack" "$work/stdin.out" '^ack / echo \[\[1,2\]\]$'
check "stdin '/nsp event' on the second namespace" "$work/stdin.out" '^/custom hello \[\{"x":true\}\]$'
check "disconnect line on stderr" "$work/stdin.err" '^disconnected /custom: client disconnect$'

timeout 20 "$SIO" client "$url" --auth '{"refuse":"no entry"}' </dev/null >"$work/refuse.out" 2>"$work/refuse.err"
status "refused namespace exits 1" $? 1
check "refusal: one clear line" "$work/refuse.err" '^sio client: namespace / refused: no entry$'

timeout 20 "$SIO" client "$url" --bogus >"$work/bad.out" 2>"$work/bad.err"
status "bad flag exits 2" $? 2
check "bad flag: one-line error" "$work/bad.err" "^sio client: unknown option '--bogus'$"
check "bad flag: usage" "$work/bad.err" '^usage: sio client URL'
timeout 20 "$SIO" client "$url" --transports carrier-pigeon >/dev/null 2>&1
status "bad --transports exits 2" $? 2
timeout 20 "$SIO" client >/dev/null 2>&1
status "missing URL exits 2" $? 2

dead=$(free_port)
timeout 20 "$SIO" client "http://127.0.0.1:$dead" </dev/null >"$work/dead.out" 2>"$work/dead.err"
status "connection refused exits 1" $? 1
check "connection refused: one clear line" "$work/dead.err" "^sio client: cannot connect to http://127.0.0.1:$dead: .*Connection refused$"
lines=$(wc -l < "$work/dead.err")
status "connection refused: exactly one line" "$lines" 1

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]

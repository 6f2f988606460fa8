#!/usr/bin/env bash
# h2.sh: HTTP/2 at the gateway (docs/SERVER.md "HTTP/2") against `sio
# server` with the echo plugin: ALPN h2 on a TLS port (a test CA and
# certificate made with the openssl CLI in a temp dir), h2c by prior
# knowledge and by `Upgrade: h2c` on a plain port, HTTP/1.1 unchanged
# beside them. Clients: curl (--http2, --http1.1, --http2-prior-knowledge),
# openssl s_client (ALPN), node's http2 module (h2_ws.mjs: polling and
# RFC 8441 WebSockets on one connection), hostile clients (h2_attack.py)
# while node keeps exchanging, GOAWAY on SIGTERM, and headless Chromium on
# the https chat page (h2_browser.mjs).
# SIO_BUILD=build-asan runs it against the ASan build.
# Prints "ok - ..." lines and "N passed, N failed"; exit 1 on a failure.
set -u
source "$(dirname "$0")/lib.sh"
E2E=$ROOT/tests/e2e
# the node steps' summary lines become our counts
run_counted() {  # run_counted LOG CMD...: its ok/not ok lines count here
  local log=$1 l
  shift
  "$@" >"$log.out" 2>&1
  while IFS= read -r l; do
    case $l in
      "ok - "*) ok "${l#ok - }" ;;
      "not ok - "*) fail=$((fail + 1)); echo "$l" ;;
    esac
  done <"$log.out"
  grep -Eq '^[0-9]+ passed, 0 failed$' "$log.out" || notok "$log ran to its end" "$(tail -3 "$log.out" | tr '\n' '|')"
}

# ---- a test CA and the server's certificate ----
cd "$work" || exit 1
test_ca leaf
hs='/socket.io/?EIO=4&transport=polling'

# ---- TLS: ALPN h2 and http/1.1 ----
# one I/O thread: curl makes a connection per command, and an HTTP/2
# connection's sessions live on its own thread (docs/SERVER.md)
start "$work/tls.log" --io-threads 1 --tls-cert leaf.pem --tls-key leaf.key ||
  notok "TLS server starts" "$(tr '\n' '|' <"$work/tls.log")"
pt=$port
curl -s --http2 --cacert ca.pem -w '\n%{http_version}\n' "https://127.0.0.1:$pt$hs" >c1.out 2>&1
check "curl --http2 over TLS: handshake JSON" c1.out '^0\{"sid":"[A-Za-z0-9_-]{20}"'
same "curl --http2 over TLS negotiates HTTP/2 (ALPN h2)" "$(tail -1 c1.out)" 2
curl -s --http1.1 --cacert ca.pem -w '\n%{http_version}\n' "https://127.0.0.1:$pt$hs" >c2.out 2>&1
check "curl --http1.1 over TLS: handshake JSON" c2.out '^0\{"sid":"[A-Za-z0-9_-]{20}"'
same "curl --http1.1 over TLS stays HTTP/1.1" "$(tail -1 c2.out)" 1.1
openssl s_client -connect "127.0.0.1:$pt" -alpn h2,http/1.1 </dev/null >alpn1.out 2>&1
check "s_client -alpn h2,http/1.1: h2 chosen" alpn1.out 'ALPN protocol: h2$'
openssl s_client -connect "127.0.0.1:$pt" -alpn http/1.1,h2 </dev/null >alpn2.out 2>&1
check "s_client -alpn http/1.1,h2: h2 still (the server's preference)" alpn2.out 'ALPN protocol: h2$'
openssl s_client -connect "127.0.0.1:$pt" -alpn http/1.1 </dev/null >alpn3.out 2>&1
check "s_client -alpn http/1.1: http/1.1" alpn3.out 'ALPN protocol: http/1\.1'

# an Engine.IO polling session over h2 with curl: handshake, POST, GET
sid=$(curl -s --http2 --cacert ca.pem "https://127.0.0.1:$pt$hs" | sed -n 's/^0{"sid":"\([^"]*\)".*/\1/p')
curl -s --http2 --cacert ca.pem -H 'Content-Type: text/plain;charset=UTF-8' --data-binary 40 \
  -w '\n%{http_version} %{http_code}\n' "https://127.0.0.1:$pt$hs&sid=$sid" >post.out 2>&1
check "curl --http2 POST 40 to the session: ok" post.out '^ok$'
check "... answered 200 over HTTP/2" post.out '^2 200$'
curl -s --http2 --cacert ca.pem --compressed "https://127.0.0.1:$pt$hs&sid=$sid" >get.out 2>&1
check "curl --http2 GET: the CONNECT reply and the auth event" get.out '^40\{"sid":"[A-Za-z0-9_-]{20}"\}.42\["auth",\{\}\]$'
# static files and 404 go the same way
curl -s --http2 --cacert ca.pem -o /dev/null -w '%{http_version} %{http_code}\n' \
  "https://127.0.0.1:$pt/nothing-here" >nf.out 2>&1
check "curl --http2 for an unknown URL: 404 over HTTP/2" nf.out '^2 404$'
curl -s --http2 --cacert ca.pem -H 'Origin: https://elsewhere.test' -o /dev/null \
  -w '%{http_code}\n' "https://127.0.0.1:$pt$hs" >cors.out 2>&1
check "a foreign Origin is refused over HTTP/2 as over HTTP/1.1 (400)" cors.out '^400$'
curl -s --http2 --cacert ca.pem -H 'Origin: https://127.0.0.1:'"$pt" -o /dev/null \
  -w '%{http_code}\n' "https://127.0.0.1:$pt$hs" >cors2.out 2>&1
check "the page's own https Origin is accepted" cors2.out '^200$'

# ---- plain port: h2c ----
start "$work/plain.log" --io-threads 1 || notok "plain server starts" "$(tr '\n' '|' <"$work/plain.log")"
pp=$port
curl -s --http2-prior-knowledge -w '\n%{http_version}\n' "http://127.0.0.1:$pp$hs" >h2c1.out 2>&1
check "curl --http2-prior-knowledge: handshake JSON" h2c1.out '^0\{"sid":"[A-Za-z0-9_-]{20}"'
same "... over HTTP/2" "$(tail -1 h2c1.out)" 2
curl -sv --http2 -w '\n%{http_version}\n' "http://127.0.0.1:$pp$hs" >h2c2.out 2>&1
check "curl --http2 on a plain port: 101 to h2c" h2c2.out '^< HTTP/1\.1 101 Switching Protocols'
check "... then the handshake as stream 1 over HTTP/2" h2c2.out '^< HTTP/2 200'
same "... negotiated version" "$(tail -1 h2c2.out)" 2
curl -s --http1.1 -w '\n%{http_version}\n' "http://127.0.0.1:$pp$hs" >h11.out 2>&1
same "curl --http1.1 on the plain port stays HTTP/1.1" "$(tail -1 h11.out)" 1.1
printf 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n' | timeout 5 python3 -c '
import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=4)
s.sendall(sys.stdin.buffer.read()); print(s.recv(200).split(b"\r\n")[0].decode())' "$pp" >badpri.out 2>&1
check "a broken preface is an HTTP/1.1 request: 400" badpri.out '^HTTP/1\.1 400'

# compression and upstream forwarding over h2c, as over HTTP/1.1
big=$(head -c 3000 /dev/zero | tr '\0' a)
sid=$(curl -s --http2-prior-knowledge "http://127.0.0.1:$pp$hs" | sed -n 's/^0{"sid":"\([^"]*\)".*/\1/p')
curl -s --http2-prior-knowledge -H 'Content-Type: text/plain' --data-binary 40 "http://127.0.0.1:$pp$hs&sid=$sid" >/dev/null
curl -s --http2-prior-knowledge "http://127.0.0.1:$pp$hs&sid=$sid" >/dev/null
curl -s --http2-prior-knowledge -H 'Content-Type: text/plain' --data-binary "42[\"big\",\"$big\"]" \
  "http://127.0.0.1:$pp$hs&sid=$sid" >/dev/null
curl -s --http2-prior-knowledge -H 'Accept-Encoding: gzip' -D gz.head -o gz.body "http://127.0.0.1:$pp$hs&sid=$sid"
check "a 3 KB polling response over h2c is gzipped" gz.head '^content-encoding: gzip'
gzip -dc <gz.body >gz.txt 2>&1
check "... and decodes to the event" gz.txt "^42\[\"big\",\"a{3000}\"\]$"
mkdir -p up && echo "from upstream" >up/x.txt
(cd up && exec python3 -m http.server 0 --bind 127.0.0.1 >../up.log 2>&1) &
pids+=($!)
for _ in $(seq 50); do up=$(sed -n 's/.*port \([0-9]*\).*/\1/p' up.log | head -1); [[ -n $up ]] && break; sleep 0.1; done
start "$work/upst.log" --io-threads 1 --upstream "http://127.0.0.1:$up" ||
  notok "server with --upstream starts" "$(tr '\n' '|' <"$work/upst.log")"
curl -s --http2-prior-knowledge -w '%{http_version} %{http_code}\n' "http://127.0.0.1:$port/x.txt" >up.out 2>&1
check "--upstream: a request over h2c is forwarded" up.out '^from upstream$'
check "... and answered over HTTP/2" up.out '^2 200$'

# ---- 4 I/O threads: curl's connections land on any thread; a request on
# an HTTP/2 connection for another thread's session is served there ----
start "$work/mt.log" --io-threads 4 --log-level debug || notok "4-thread server starts" "$(tr '\n' '|' <"$work/mt.log")"
pm=$port
good=0
for i in 1 2 3 4 5 6; do
  sid=$(curl -s --http2-prior-knowledge "http://127.0.0.1:$pm$hs" | sed -n 's/^0{"sid":"\([^"]*\)".*/\1/p')
  a=$(curl -s --http2-prior-knowledge -H 'Content-Type: text/plain' --data-binary 40 "http://127.0.0.1:$pm$hs&sid=$sid")
  b=$(curl -s --http2-prior-knowledge "http://127.0.0.1:$pm$hs&sid=$sid")
  [[ $a == ok && $b == 40\{\"sid\"* ]] && good=$((good + 1))
done
same "6 polling sessions over separate h2c connections on 4 threads" "$good" 6
check "... some of their requests were served by the owning thread" mt.log 'HTTP/2 request for [A-Za-z0-9_-]{20} served by thread [0-3]$'
# a long-poll parked on the owner and given up by the client: the owner sees
# its connection close, and the session ends as over HTTP/1.1 (the JS server's
# "poll connection closed prematurely")
sid=$(curl -s --http2-prior-knowledge "http://127.0.0.1:$pm$hs" | sed -n 's/^0{"sid":"\([^"]*\)".*/\1/p')
curl -s --http2-prior-knowledge -H 'Content-Type: text/plain' --data-binary 40 "http://127.0.0.1:$pm$hs&sid=$sid" >/dev/null
curl -s --http2-prior-knowledge "http://127.0.0.1:$pm$hs&sid=$sid" >/dev/null
curl -s --max-time 1 --http2-prior-knowledge "http://127.0.0.1:$pm$hs&sid=$sid" >/dev/null
curl -s --max-time 5 --http2-prior-knowledge "http://127.0.0.1:$pm$hs&sid=$sid" >after.out 2>&1
check "a long-poll given up over h2c ends its session on the owner (as over HTTP/1.1)" after.out '^\{"code":1,"message":"Session ID unknown"\}$'

# ---- node's http2: polling + RFC 8441 WebSockets on one connection ----
run_counted tls-node node "$E2E/h2_ws.mjs" "https://127.0.0.1:$pt"
run_counted h2c-node node "$E2E/h2_ws.mjs" "http://127.0.0.1:$pp"

# ---- hostile clients, each cut off while node keeps chatting ----
start "$work/att.log" || notok "server for the attacks starts" "$(tr '\n' '|' <"$work/att.log")"
pa=$port pida=$pid
node "$E2E/h2_ws.mjs" "http://127.0.0.1:$pa" >bystander1.out 2>&1 &
by=$!
att() {  # att MODE REGEX [--tls PORT]
  local m=$1 re=$2 p=${4:-$pa}
  timeout 60 python3 "$E2E/h2_attack.py" "$m" 127.0.0.1 "$p" ${3:-} >"att-$m.out" 2>&1
  check "$5" "att-$m.out" "$re"
}
att rapid-reset '^closed' "" "" "rapid reset (5000 HEADERS+RST_STREAM): the connection is closed"
att few-resets '^open$' "" "" "100 resets stay under the limit: the connection stays"
att continuation '^closed' "" "" "CONTINUATION flood: closed"
att hpack-bomb '^closed goaway=11$' "" "" "HPACK bomb (one 4 KB header referenced 5000 times): GOAWAY ENHANCE_YOUR_CALM"
att ping-flood '^closed' "" "" "PING flood of a client that never reads: closed"
att settings-flood '^closed' "" "" "SETTINGS flood of a client that never reads: closed"
att bad-frame '^closed goaway=6$' "" "" "a PING of the wrong size: GOAWAY FRAME_SIZE_ERROR"
att garbage '^closed$' "" "" "garbage instead of a preface: closed"
att streams '^refused=1 answered=0$' "" "" "101 open streams: the 101st is refused (max 100)"
att ok '^refused=0 answered=1$' "" "" "a good client after all that is served"
wait "$by"
check "node exchanged over h2c all along the attacks" bystander1.out '^17 passed, 0 failed$'
timeout 60 python3 "$E2E/h2_attack.py" garbage 127.0.0.1 "$pt" --tls >tls-garbage.out 2>&1
check "TLS with ALPN h2 and garbage instead of the preface: closed" tls-garbage.out '^closed$'
timeout 60 python3 "$E2E/h2_attack.py" rapid-reset 127.0.0.1 "$pt" --tls >tls-rr.out 2>&1
check "rapid reset over TLS: closed" tls-rr.out '^closed'
run_counted tls-after node "$E2E/h2_ws.mjs" "https://127.0.0.1:$pt"

# ---- GOAWAY on SIGTERM ----
timeout 20 python3 "$E2E/h2_attack.py" wait-goaway 127.0.0.1 "$pa" >goaway.out 2>&1 &
gw=$!
sleep 1
kill -TERM "$pida"
wait "$gw"
check "SIGTERM: an idle HTTP/2 client gets GOAWAY NO_ERROR" goaway.out '^closed goaway=0$'

# ---- Chromium on the https chat page ----
run_counted browser node "$E2E/h2_browser.mjs" "$work/leaf.pem" "$work/leaf.key"

echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]

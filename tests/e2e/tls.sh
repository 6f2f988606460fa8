#!/usr/bin/env bash
# tls.sh: the gateway's TLS (docs/SERVER.md "TLS") against `sio server`
# with the echo plugin. A CA (root + intermediate) and the certificates are
# made with the openssl CLI in a temp dir. Clients: curl, openssl s_client,
# npm socket.io-client (tests/interop/node_modules, `ca` option),
# python-socketio (/usr/bin/python3, a requests session's verify) and
# `sio client` (--ca, --insecure, --cert/--key). Covers the chain, ALPN,
# SNI, SIGHUP reload with an open wss connection, client certificates,
# TLS garbage and a stalled handshake beside a working client, TLS
# connections handed over between I/O threads (tls_handover.py), and bad
# files (exit 1 naming the file).
# SIO_BUILD=build-asan runs it against the ASan build.
# Prints "ok - ..." lines and "N passed, N failed"; exit 1 on a failure.
set -u
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3

# ---- certificates ----
cd "$work" || exit 1
ossl() { openssl "$@" >>"$work/openssl.log" 2>&1; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
# sign NAME CA_NAME SUBJECT EXT: NAME.pem signed by CA_NAME
sign() {
  key "$1.key"
  ossl req -new -key "$1.key" -subj "$3" -out "$1.csr"
  printf '%s\n' "$4" >"$1.ext"
  ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem"
}
key root.key
ossl req -x509 -new -key root.key -subj /CN=sio-test-root -days 2 -out root.pem \
  -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign
sign inter root /CN=sio-test-intermediate \
  $'basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign'
leaf_ext=$'basicConstraints=CA:false\nextendedKeyUsage=serverAuth'
sign leaf inter "/O=first/CN=localhost" "$leaf_ext"$'\nsubjectAltName=DNS:localhost,DNS:a.test,IP:127.0.0.1'
cat leaf.pem inter.pem >server.pem      # the chain after the leaf
sign b inter /CN=b.test "$leaf_ext"$'\nsubjectAltName=DNS:b.test'
cat b.pem inter.pem >b-chain.pem
sign client root /CN=sio-test-client $'basicConstraints=CA:false\nextendedKeyUsage=clientAuth'
sign other inter /CN=other "$leaf_ext"$'\nsubjectAltName=DNS:localhost'
if [[ ! -s server.pem || ! -s b-chain.pem || ! -s client.pem ]]; then
  echo "not ok - certificates: $(tail -5 openssl.log | tr '\n' '|')"
  echo "0 passed, 1 failed"
  exit 1
fi
cp server.pem cur.pem; cp leaf.key cur.key   # the files the server reloads

# ---- the server: chain, SNI ----
start "$work/s1.log" --tls-cert cur.pem --tls-key cur.key --tls-sni b.test=b-chain.pem:b.key ||
  notok "server starts with --tls-cert" "$(tr '\n' '|' <"$work/s1.log")"
p1=$port pid1=$pid
check "listening line says https" "$work/s1.log" "^listening on https://127\.0\.0\.1:$p1/socket\.io/$"
hs='/socket.io/?EIO=4&transport=polling'

curl -s --http1.1 --cacert root.pem "https://127.0.0.1:$p1$hs" >curl.out 2>&1
check "curl --http1.1 --cacert: handshake JSON over TLS (chain after the leaf)" curl.out '^0\{"sid":"[A-Za-z0-9_-]{20}","upgrades":\["websocket"\]'
curl -s --http1.1 --cacert root.pem --resolve "b.test:$p1:127.0.0.1" "https://b.test:$p1$hs" >curl-b.out 2>&1
check "curl --resolve b.test: the SNI certificate verifies" curl-b.out '^0\{"sid"'
curl -s --http1.1 --cacert root.pem --resolve "a.test:$p1:127.0.0.1" "https://a.test:$p1$hs" >curl-a.out 2>&1
check "curl --resolve a.test: the default certificate" curl-a.out '^0\{"sid"'
subject() {  # subject SERVERNAME PORT: the served leaf's subject
  openssl s_client -connect "127.0.0.1:$2" -servername "$1" </dev/null 2>/dev/null |
    openssl x509 -noout -subject 2>/dev/null
}
subject b.test "$p1" >sni-b.out
check "s_client -servername b.test: CN=b.test" sni-b.out 'CN ?= ?b\.test'
subject a.test "$p1" >sni-a.out
check "s_client -servername a.test: the default (CN=localhost)" sni-a.out 'CN ?= ?localhost'
openssl s_client -connect "127.0.0.1:$p1" -alpn h2,http/1.1 </dev/null >alpn.out 2>&1
check "ALPN: h2 chosen from h2,http/1.1 (HTTP/2: tests/e2e/h2.sh)" alpn.out 'ALPN protocol: h2$'
openssl s_client -connect "127.0.0.1:$p1" -alpn spdy/3,http/1.1 </dev/null >alpn11.out 2>&1
check "ALPN: http/1.1 chosen from spdy/3,http/1.1" alpn11.out 'ALPN protocol: http/1\.1'
openssl s_client -connect "127.0.0.1:$p1" -tls1_1 </dev/null >tls11.out 2>&1
if grep -q 'Cipher is (NONE)\|alert\|error' tls11.out; then ok "TLS 1.1 refused"
else notok "TLS 1.1 refused" "$(tr '\n' '|' <tls11.out | head -c 300)"; fi

openssl s_client -connect "127.0.0.1:$p1" -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256 </dev/null \
  >tls12.out 2>&1
check "TLS 1.2 with ECDHE + AES-GCM accepted" tls12.out 'Cipher is ECDHE-ECDSA-AES128-GCM-SHA256'
openssl s_client -connect "127.0.0.1:$p1" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA </dev/null \
  >tls12cbc.out 2>&1
check "TLS 1.2 CBC cipher refused (AEAD only)" tls12cbc.out 'alert handshake failure'


# ---- clients ----
for tr in polling websocket; do
  timeout 30 node "$ROOT/tests/e2e/tls_client.mjs" "https://127.0.0.1:$p1" root.pem "$tr" >"node-$tr.out" 2>&1
  check "socket.io-client (npm) over https $tr with the CA" "node-$tr.out" "^ack $tr hi$"
  timeout 30 "$PY" "$ROOT/tests/e2e/tls_py.py" "https://localhost:$p1" root.pem "$tr" >"py-$tr.out" 2>&1
  check "python-socketio over https $tr with the CA" "py-$tr.out" "^ack $tr hi$"
  timeout 20 "$SIO" client "https://127.0.0.1:$p1" --ca root.pem --transports "$tr" --call echo '"c"' \
    >"sioc-$tr.out" 2>&1
  check "sio client --ca over $tr" "sioc-$tr.out" '^ack / echo \["c"\]$'
done
timeout 20 "$SIO" client "https://127.0.0.1:$p1" --insecure --call echo '"i"' >insecure.out 2>&1
check "sio client --insecure" insecure.out '^ack / echo \["i"\]$'
timeout 20 "$SIO" client "https://127.0.0.1:$p1" --call echo '"n"' >noca.out 2>&1
status "sio client without the CA exits 1" $? 1
check "sio client without the CA: verify failed" noca.out 'certificate verify failed'

# ---- garbage and a stalled handshake beside a working client ----
"$PY" - "$p1" >garbage.out 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
stalled = socket.create_connection(("127.0.0.1", port))
stalled.sendall(b"\x16\x03\x01\x02")            # half a record header, then nothing
junk = socket.create_connection(("127.0.0.1", port))
junk.settimeout(20)
junk.sendall(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
got = b""
try:
    while True:
        d = junk.recv(4096)
        if not d:
            break
        got += d
    print("garbage closed%s" % ("" if b"HTTP/1.1" not in got else " after an HTTP answer"), flush=True)
except ConnectionResetError:
    print("garbage closed", flush=True)
except socket.timeout:
    print("garbage still open", flush=True)
print("stalled open", flush=True)
time.sleep(3)       # the stalled one stays while the next client chats
stalled.close()
EOF
gpid=$!
for _ in $(seq 100); do grep -q stalled garbage.out && break; sleep 0.1; done
check "plain HTTP on the TLS port: closed, no HTTP answer" garbage.out '^garbage closed$'
timeout 20 "$SIO" client "https://127.0.0.1:$p1" --ca root.pem --transports websocket \
  --call echo '"beside"' >beside.out 2>&1
check "a client chats while a handshake is stalled" beside.out '^ack / echo \["beside"\]$'
wait "$gpid" 2>/dev/null

# ---- SIGHUP reload: new connections get the new cert, an open wss stays ----
timeout 60 node "$ROOT/tests/e2e/tls_client.mjs" "https://127.0.0.1:$p1" root.pem websocket \
  "$work/go" >hold.out 2>&1 &
hpid=$!
for _ in $(seq 100); do grep -q '^ready' hold.out && break; sleep 0.1; done
check "wss connection open before the reload" hold.out '^ready$'
sign new inter "/O=reloaded/CN=localhost" "$leaf_ext"$'\nsubjectAltName=DNS:localhost,IP:127.0.0.1'
cat new.pem inter.pem >cur.pem.tmp && mv cur.pem.tmp cur.pem && cp new.key cur.key
kill -HUP "$pid1"
for _ in $(seq 100); do subject localhost "$p1" >reload.out; grep -q reloaded reload.out && break; sleep 0.1; done
check "after SIGHUP a new connection sees the new certificate" reload.out 'O ?= ?reloaded'
curl -s --http1.1 --cacert root.pem "https://127.0.0.1:$p1$hs" >curl-new.out 2>&1
check "after SIGHUP curl verifies the new chain" curl-new.out '^0\{"sid"'
touch "$work/go"
wait "$hpid"
check "the wss connection made before the reload still works" hold.out '^ack2 websocket again same-connection$'
printf 'garbage\n' >cur.pem
kill -HUP "$pid1"
for _ in $(seq 100); do grep -q 'SIGHUP:' s1.log && break; sleep 0.1; done
check "a bad file on SIGHUP is reported, naming it" s1.log 'SIGHUP: tls: certificate cur\.pem: .*(no start line|PEM)'
curl -s --http1.1 --cacert root.pem "https://127.0.0.1:$p1$hs" >curl-keep.out 2>&1
check "after a failed reload the previous certificate still serves" curl-keep.out '^0\{"sid"'
kill "$pid1"; wait "$pid1" 2>/dev/null
status "server exits 0 on SIGTERM" $? 0

# ---- I/O threads: TLS connections handed over with their SSL state ----
start "$work/s3.log" --io-threads 4 --log-level debug --tls-cert server.pem --tls-key leaf.key ||
  notok "server starts with --io-threads 4 and TLS" "$(tr '\n' '|' <"$work/s3.log")"
p3=$port pid3=$pid
check "TLS with 4 I/O threads" s3.log 'listening on .*\(4 I/O threads, TLS\)'
timeout 120 "$PY" "$ROOT/tests/e2e/tls_handover.py" "$p3" root.pem >handover.out 2>&1
check "sessions on several threads" handover.out '^ok sessions on threads [A-D]{2,}$'
check "polling on new TLS connections reaches the owner thread" handover.out '^ok every session polled'
check "one keep-alive TLS connection changes threads with its SSL" handover.out '^ok one keep-alive TLS connection'
check "the debug log shows TLS handovers" s3.log 'handed over to thread [0-3] \(TLS\)'
for tr in polling websocket; do
  timeout 30 node "$ROOT/tests/e2e/tls_client.mjs" "https://127.0.0.1:$p3" root.pem "$tr" >"node3-$tr.out" 2>&1
  check "socket.io-client over $tr with 4 I/O threads" "node3-$tr.out" "^ack $tr hi$"
done
kill "$pid3"; wait "$pid3" 2>/dev/null
status "the 4-thread TLS server exits 0 on SIGTERM" $? 0

# ---- client certificates (flags from --config) ----
printf '{"tls-cert": "server.pem", "tls-key": "leaf.key", "tls-client-ca": "root.pem"}\n' >mtls.json
start "$work/s2.log" --config mtls.json ||
  notok "server starts with --tls-client-ca from --config" "$(tr '\n' '|' <"$work/s2.log")"
p2=$port pid2=$pid
curl -s --http1.1 --cacert root.pem "https://127.0.0.1:$p2$hs" >nocert.out 2>&1
status "no client certificate: refused" "$(grep -c '"sid"' nocert.out)" 0
curl -s --http1.1 --cacert root.pem --cert client.pem --key client.key "https://127.0.0.1:$p2$hs" \
  >withcert.out 2>&1
check "with a client certificate: served" withcert.out '^0\{"sid"'
curl -s --http1.1 --cacert root.pem --cert other.pem --key other.key "https://127.0.0.1:$p2$hs" \
  >othercert.out 2>&1
status "a certificate from another CA: refused" "$(grep -c '"sid"' othercert.out)" 0
timeout 20 "$SIO" client "https://127.0.0.1:$p2" --ca root.pem --cert client.pem --key client.key \
  --call echo '"m"' >sioc-mtls.out 2>&1
check "sio client --cert/--key with a required client certificate" sioc-mtls.out '^ack / echo \["m"\]$'
kill "$pid2"; wait "$pid2" 2>/dev/null
status "client-certificate server exits 0 on SIGTERM" $? 0

# ---- bad files: exit 1, the file named ----
bad() {  # bad NAME REGEX ARGS...
  local name=$1 re=$2; shift 2
  timeout 20 "$SIO" server --plugin "$ECHO" --port "$(free_port)" "$@" >bad.out 2>&1
  local rc=$?
  if [[ $rc == 1 ]] && grep -Eq -- "$re" bad.out; then ok "$name"
  else notok "$name" "exit $rc: $(tr '\n' '|' <bad.out | head -c 300)"; fi
}
bad "missing certificate file: exit 1, named" 'tls: certificate nope\.pem: .*(No such file|system lib|BIO)' \
  --tls-cert nope.pem --tls-key leaf.key
printf 'not a pem\n' >junk.pem
bad "garbage certificate file: exit 1, named" 'tls: certificate junk\.pem: .*no start line' \
  --tls-cert junk.pem --tls-key leaf.key
bad "key of another certificate: exit 1, named" 'tls: key b\.key: .*(mismatch|values)' \
  --tls-cert server.pem --tls-key b.key
bad "bad SNI certificate: exit 1, named" 'tls: certificate junk\.pem' \
  --tls-cert server.pem --tls-key leaf.key --tls-sni x.test=junk.pem:leaf.key
bad "bad client CA: exit 1, named" 'tls: client CA junk\.pem' \
  --tls-cert server.pem --tls-key leaf.key --tls-client-ca junk.pem
timeout 20 "$SIO" server --plugin "$ECHO" --tls-cert server.pem >bad2.out 2>&1
status "--tls-cert without --tls-key: exit 2" $? 2

# an ASan/UBSan build (SIO_BUILD=build-asan) reports into the logs
if grep -lE 'Sanitizer|runtime error' "$work"/*.log "$work"/*.out >sanitizer.out 2>/dev/null; then
  notok "no sanitizer report" "in $(tr '\n' ' ' <sanitizer.out)"
else
  ok "no sanitizer report in the server and client logs"
fi

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]

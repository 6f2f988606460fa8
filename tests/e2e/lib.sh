# lib.sh: what the e2e shell suites share (sourced, after `set -u`):
#   ROOT, BUILD (SIO_BUILD, default ./build), SIO, ECHO, a temp dir $work
#   removed at exit with every pid in pids[] killed; TAP-like counting:
#   ok NAME, notok NAME WHY, check NAME FILE REGEX, status NAME GOT WANT,
#   same NAME GOT WANT; free_port; start LOG ARGS... (`sio server` with the
#   echo plugin in the background, waits for its listening line; sets port
#   and pid); test_ca LEAF (a test CA ca.pem/ca.key and a certificate
#   LEAF.pem/LEAF.key for localhost and 127.0.0.1 signed by it, in $work,
#   made with the openssl CLI; exits with a "not ok" if openssl fails);
#   finish (prints "N passed, N failed", exits 1 on a failure).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$(cd "${SIO_BUILD:-$ROOT/build}" && pwd)
SIO=$BUILD/tools/sio
ECHO=$BUILD/plugins/echo/echo.so
work=$(mktemp -d)
pids=()
e2e_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap e2e_cleanup EXIT
pass=0 fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
notok() { echo "not ok - $1: $2"; fail=$((fail + 1)); }
check() {  # check NAME FILE REGEX
  if grep -Eaq -- "$3" "$2"; then ok "$1"
  else notok "$1" "no line matching /$3/ in: $(tr '\n' '|' < "$2" | head -c 400)"; fi
}
status() {  # status NAME GOT WANT (exit statuses)
  if [[ $2 == "$3" ]]; then ok "$1"; else notok "$1" "exit $2, want $3"; fi
}
same() {  # same NAME GOT WANT
  if [[ $2 == "$3" ]]; then ok "$1"; else notok "$1" "got '$2', want '$3'"; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() {  # start LOG ARGS...: sio server in the background; sets port, pid
  local log=$1; shift
  port=$(free_port)
  "$SIO" server --plugin "$ECHO" --port "$port" "$@" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do grep -q '^listening' "$log" && return 0; sleep 0.1; done
  return 1
}
test_ca() {  # test_ca LEAF
  local leaf=$1
  ossl() { openssl "$@" >>"$work/openssl.log" 2>&1; }
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key"
  ossl req -x509 -new -key "$work/ca.key" -subj /CN=sio-test-ca -days 2 -out "$work/ca.pem" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/$leaf.key"
  ossl req -new -key "$work/$leaf.key" -subj /CN=localhost -out "$work/$leaf.csr"
  printf 'basicConstraints=CA:false\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' \
    >"$work/$leaf.ext"
  ossl x509 -req -in "$work/$leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/$leaf.ext" -out "$work/$leaf.pem"
  if [[ ! -s $work/$leaf.pem ]]; then
    echo "not ok - certificates: $(tail -5 "$work/openssl.log" | tr '\n' '|')"
    echo "0 passed, 1 failed"
    exit 1
  fi
}
finish() {
  echo "$pass passed, $fail failed"
  [[ $fail == 0 ]]
  exit $?
}

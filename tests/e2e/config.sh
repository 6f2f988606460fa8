#!/usr/bin/env bash
# config.sh: `sio server --config FILE` (tools/config.c): errors naming the
# key (exit 2), a config that sets many flags (checked on a live server with
# curl), and command-line flags overriding the file.
# Prints "ok - ..." lines and "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${SIO_BUILD:-$ROOT/build}" && pwd)
SIO=$BUILD/tools/sio
ECHO_SO=$BUILD/plugins/echo/echo.so
work=$(mktemp -d)
pid=
stop() { if [[ -n $pid ]]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=; fi; }
cleanup() { stop; rm -rf "$work"; }
trap cleanup EXIT
pass=0 fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
nok() { echo "not ok - $1: $2"; fail=$((fail + 1)); }

# expect_err NAME JSON REGEX: the server refuses the config, exit 2, stderr matches
expect_err() {
  printf '%s' "$2" >"$work/c.json"
  local out rc
  out=$(cd "$work" && timeout 10 "$SIO" server --config c.json 2>&1 >/dev/null); rc=$?
  if [[ $rc == 2 ]] && grep -Eq "$3" <<<"$out"; then ok "$1"
  else nok "$1" "exit $rc, stderr: $(head -c 300 <<<"$out")"; fi
}

# start NAME ARGS...: start a server, wait for its listening line; sets url
start() {
  local name=$1; shift
  (cd "$work" && exec "$SIO" server "$@") >"$work/$name.out" 2>"$work/$name.err" &
  pid=$!
  for _ in $(seq 100); do grep -q '^listening on' "$work/$name.out" && break
    kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  url=$(sed -n 's/^listening on \(http:\/\/[^/]*\).*/\1/p' "$work/$name.out")
  if [[ -z $url ]]; then nok "$name: server starts" "$(head -c 300 "$work/$name.err")"; return 1; fi
  ok "$name: server starts ($(head -1 "$work/$name.out"))"
}

# check NAME CMD... : the command succeeds
check() { local name=$1; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else nok "$name" "failed: $*"; fi; }
C() { curl -s --max-time 5 "$@"; }

mkdir -p "$work/www" "$work/other"
echo '<p>www</p>' >"$work/www/index.html"
echo '<p>home</p>' >"$work/www/home.html"
echo '<p>other</p>' >"$work/other/index.html"
echo 'readme' >"$work/readme.md"

# --- errors name the key
expect_err "unknown key is an error naming it" '{"prot": 5000}' \
  "^sio server: c\.json: key 'prot' is unknown$"
expect_err "wrong type (port: true)" '{"port": true}' \
  "^sio server: c\.json: key 'port' must be a string or a number$"
expect_err "wrong type (allow-upgrades: \"yes\")" '{"allow-upgrades": "yes"}' \
  "^sio server: c\.json: key 'allow-upgrades' must be true or false$"
expect_err "wrong type (plugin: {})" '{"plugin": {}}' \
  "^sio server: c\.json: key 'plugin' must be a string or a number or an array of them$"
expect_err "wrong item type (static-file: {\"/x\": 1})" '{"static-file": {"/x": 1}}' \
  "key 'static-file': '/x' must be a string or \{\"file\""
expect_err "io-threads over 64" '{"plugin": "x.so", "io-threads": 65}' "bad --io-threads '65'"
expect_err "wrong item type (transports: [1])" '{"transports": [1]}' \
  "key 'transports': item 0 must be a string$"
expect_err "\"config\" is not a key" '{"config": "x.json"}' "key 'config' is unknown"
expect_err "\"help\" is not a key" '{"help": true}' "key 'help' is unknown"
expect_err "the top level must be an object" '[1]' "c\.json: the top level must be an object"
expect_err "bad JSON says where" '{"port": }' "c\.json: line 1 column [0-9]+:"
expect_err "duplicate key refused" '{"port": 1, "port": 2}' "c\.json: .*duplicate"
expect_err "a bad value is checked like the flag's" '{"plugin": "x.so", "port": 70000}' \
  "bad --port '70000'"
out=$(timeout 10 "$SIO" server --config "$work/missing.json" 2>&1); rc=$?
if [[ $rc == 2 ]] && grep -q "missing.json" <<<"$out"; then ok "a missing file: exit 2 naming it"
else nok "a missing file" "exit $rc: $out"; fi
if "$SIO" server --help | grep -q -- '--config FILE'; then ok "--help lists --config"
else nok "--help lists --config" "not listed"; fi

# --- a config that says many flags
cat >"$work/full.json" <<EOF
{
  "plugin": ["$ECHO_SO"],
  "host": "127.0.0.1",
  "port": 0,
  "path": "/rt/",
  "ping-interval": 4000,
  "max-payload": 5000,
  "transports": ["polling", "websocket"],
  "allow-upgrades": false,
  "cors-allowed-origins": ["https://a.example", "https://b.example"],
  "cors-credentials": false,
  "cookie": "io",
  "compression-threshold": 2048,
  "no-http-compression": false,
  "static": {"/": "www"},
  "static-file": {"/readme": {"file": "readme.md", "content-type": "text/markdown"},
                  "/plain": "readme.md"},
  "static-default-file": "home.html",
  "io-threads": 3,
  "log-level": "warn",
  "socketio-log-level": "error"
}
EOF
if start full --config full.json; then
  check "path from the file (/rt/)" grep -q '^listening on http://127.0.0.1:[0-9]*/rt/$' "$work/full.out"
  hs=$(C -i "$url/rt/?EIO=4&transport=polling")
  check "ping-interval, max-payload, allow-upgrades: false" \
    grep -q '"upgrades":\[\],"pingInterval":4000,"pingTimeout":20000,"maxPayload":5000' <<<"$hs"
  check "cookie: io" grep -qi '^Set-Cookie: io=' <<<"$hs"
  hs=$(C -i -H 'Origin: https://b.example' "$url/rt/?EIO=4&transport=polling")
  check "cors-allowed-origins list: b.example allowed" \
    grep -qi '^Access-Control-Allow-Origin: https://b.example' <<<"$hs"
  check "cors-credentials: false" bash -c "! grep -qi 'Access-Control-Allow-Credentials' <<<'$hs'"
  check "cors: c.example refused (400)" grep -q '^HTTP/1.1 400' \
    <<<"$(C -i -H 'Origin: https://c.example' "$url/rt/?EIO=4&transport=polling")"
  check "static {\"/\": \"www\"} with static-default-file home.html" \
    grep -q '<p>home</p>' <<<"$(C "$url/")"
  hs=$(C -i "$url/readme")
  check "static-file with content-type" grep -qi '^Content-Type: text/markdown' <<<"$hs"
  check "static-file as a string (by extension)" grep -qi '^Content-Type: application/octet-stream' \
    <<<"$(C -i "$url/plain")"
  # a sid's 17th character names its I/O thread (A, B, C); 12 handshakes reach 2 or more
  owners=$(for _ in $(seq 12); do C "$url/rt/?EIO=4&transport=polling" | cut -c26; done | sort -u | tr -d '\n')
  check "io-threads: 3 (sids of threads '$owners')" bash -c "[[ '$owners' =~ ^[ABC]{2,3}$ ]]"
  stop
fi

# --- the command line wins
if start override --config=full.json --path /cli/ --allow-upgrades --static /=other \
    --static-default-file index.html --cors-allowed-origins '*'; then
  check "--path on the command line wins" grep -q '/cli/$' "$work/override.out"
  hs=$(C -i -H 'Origin: https://z.example' "$url/cli/?EIO=4&transport=polling")
  check "--allow-upgrades wins over \"allow-upgrades\": false" grep -q '"upgrades":\["websocket"\]' <<<"$hs"
  check "--cors-allowed-origins '*' wins" grep -qi '^Access-Control-Allow-Origin: https://z.example' <<<"$hs"
  check "--static replaces the file's static list" grep -q '<p>other</p>' <<<"$(C "$url/")"
  check "other keys of the file still apply (static-file)" grep -qi '^Content-Type: text/markdown' \
    <<<"$(C -i "$url/readme")"
  stop
fi
cat >"$work/plug.json" <<EOF
{"plugin": "$work/no-such-plugin.so", "port": 1}
EOF
if start cliplugin --config plug.json --port 0 --plugin "$ECHO_SO"; then
  check "--port 0 wins over \"port\": 1; --plugin replaces the file's (missing) plugin" grep -q '^listening on' "$work/cliplugin.out"
  stop
fi

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]

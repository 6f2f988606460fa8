#!/usr/bin/env bash
# out_of_tree.sh: a plugin author's path, end to end. Build the echo plugin
# outside the tree with `pkg-config --cflags --libs sio` (as docs/PLUGINS.md
# says), run `sio server` with it, and talk to it with the official JS client.
# Prints "ok - ..." lines and "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIO_BUILD:-$ROOT/build}
work=$(mktemp -d)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
pass=0 fail=0
ok() { echo "ok - $1"; pass=$((pass + 1)); }
bad() { echo "not ok - $1"; fail=$((fail + 1)); }

cp "$ROOT/plugins/echo/echo.c" "$work/"
if (cd "$work" && PKG_CONFIG_PATH=$BUILD/meson-uninstalled \
      cc -std=c11 -Wall -Werror -shared -fPIC -o echo.so echo.c \
      $(PKG_CONFIG_PATH=$BUILD/meson-uninstalled pkg-config --cflags --libs sio)) 2>"$work/cc.log"; then
  ok "echo plugin builds out of tree with pkg-config"
else
  bad "echo plugin builds out of tree with pkg-config: $(head -3 "$work/cc.log")"
  echo "$pass passed, $fail failed"; exit 1
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BUILD/tools/sio" server --plugin "$work/echo.so" --port "$port" >"$work/out.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/out.log" && break; sleep 0.1; done
if grep -q listening "$work/out.log"; then ok "sio server loads the out-of-tree plugin"; else bad "server did not start: $(head -3 "$work/out.log")"; fi

if NODE_PATH=$ROOT/tests/interop/node_modules timeout 10 node -e '
const { io } = require("socket.io-client");
const s = io(process.argv[1], { reconnection: false });
s.on("connect", () => s.emit("echo", "hi", { n: 1 }, (...r) => {
  const good = JSON.stringify(r) === JSON.stringify(["hi", { n: 1 }]);
  s.close(); process.exit(good ? 0 : 1);
}));
s.on("connect_error", (e) => { console.error(e.message); process.exit(1); });
' "http://127.0.0.1:$port"; then
  ok "JS client gets the ack from the out-of-tree plugin"
else
  bad "JS client gets the ack from the out-of-tree plugin"
fi
# ---- installing into a private prefix (issue 18) ----
# A build of its own with --prefix under $work, installed there: the
# installed sio must find libsio without LD_LIBRARY_PATH (install RPATH),
# the library file must carry the soname's number, and the installed
# sio.pc alone must link an event-driven (libevent) client.
prefix=$work/p
if (cd "$ROOT" && meson setup "$work/B" --prefix="$prefix" -Dtests=false >"$work/setup.log" 2>&1 &&
    ninja -C "$work/B" -j2 >"$work/ninja.log" 2>&1 &&
    meson install -C "$work/B" >"$work/install.log" 2>&1); then
  ok "meson setup --prefix, ninja, meson install into a private prefix"
else
  bad "install into a private prefix: $(tail -3 "$work"/setup.log "$work"/ninja.log "$work"/install.log 2>/dev/null)"
  echo "$pass passed, $fail failed"; exit 1
fi
if env -u LD_LIBRARY_PATH "$prefix/bin/sio" help >"$work/help.log" 2>&1 && grep -q "usage: sio" "$work/help.log"; then
  ok "installed sio runs from the prefix (finds libsio by its RUNPATH)"
else
  bad "installed sio runs from the prefix: $(head -2 "$work/help.log")"
fi
libfile=$(cd "$prefix" && ls lib*/*/libsio.so.*.*.* lib*/libsio.so.*.*.* 2>/dev/null | head -1)
soname=$(readelf -d "$prefix/$libfile" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [[ -n $soname && $(basename "$libfile") == "$soname".* ]]; then
  ok "library file $(basename "$libfile") carries its soname $soname"
else
  bad "library file '$libfile' and soname '$soname' disagree"
fi
pcdir=$(dirname "$prefix/$libfile")/pkgconfig
if grep -q '^Requires:.*libevent' "$pcdir/sio.pc" &&
   cc -std=c11 -Wall -Werror -o "$work/example-client" "$ROOT/tests/unit/client/example-client.c" \
      $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs sio) 2>"$work/cc2.log"; then
  ok "an event-driven client links with the installed pkg-config --libs sio alone"
else
  bad "event-driven client with the installed sio.pc: $(head -3 "$work/cc2.log")"
fi

# ---- only include/sio is public (issue 18) ----
# Every name libsio exports is a sio_ name declared in include/sio; and
# there are exports at all (an empty list must not pass).
decl=$(cat "$ROOT"/include/sio/*.h | grep -oE '\bsio_[a-z0-9_]+\b' | sort -u)
exports=$(nm -D --defined-only "$prefix/$libfile" | awk '{print $3}' | sort -u)
stray=$(comm -23 <(echo "$exports") <(echo "$decl") | tr '\n' ' ')
if [[ -z $stray ]] && grep -qx sio_emit <<<"$exports" && grep -qx sio_client_new <<<"$exports"; then
  ok "libsio exports only names declared in include/sio ($(wc -l <<<"$exports") names)"
else
  bad "libsio exports names not in include/sio: ${stray:-none, but sio_emit/sio_client_new missing}"
fi
# With only pkg-config's flags (installed and uninstalled), internal
# headers are out of reach, by any spelling; a public one is in reach.
printf '#include <sio/plugin.h>\nint f(void);\nint f(void) { return SIO_ACCEPT; }\n' >"$work/pub.c"
reach() {   # reach PKG_CONFIG_PATH FILE -> 0 when FILE compiles
  (cd "$work" && cc -std=c11 -c -o /dev/null "$2" $(PKG_CONFIG_PATH=$1 pkg-config --cflags sio)) 2>/dev/null
}
for pc in "$pcdir" "$BUILD/meson-uninstalled"; do
  which=$([[ $pc == "$pcdir" ]] && echo installed || echo uninstalled)
  if reach "$pc" "$work/pub.c"; then ok "$which sio.pc: <sio/plugin.h> compiles"; else bad "$which sio.pc: <sio/plugin.h> does not compile"; fi
  leaked=
  for h in buf.h base/buf.h bus.h core/worker_ctx.h proto/sio.h proto/sio.h ws/ws.h \
           gateway/gw.h client/engine.h http/http1.h sio-config.h; do
    printf '#include "%s"\n' "$h" >"$work/int.c"
    reach "$pc" "$work/int.c" && leaked+="$h "
  done
  if [[ -z $leaked ]]; then
    ok "$which sio.pc: no internal header is reachable"
  else
    bad "$which sio.pc: internal headers reachable: $leaked"
  fi
done

echo "$pass passed, $fail failed"
[[ $fail == 0 ]]

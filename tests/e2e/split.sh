#!/usr/bin/env bash
# split.sh: sio as separate processes (issue 6): hub + 2 gateways + 2 workers
# over ipc:// in a temp dir, a CURVE tcp:// bus, hot reload, worker failure,
# graceful gateway stop, `sio emit` and the Python emitter of docs/BUS.md.
# Builds tests/e2e/split_plugin.c out of tree (VERSION 1 and 2), then runs
# tests/e2e/split.mjs, which prints "ok - ..." lines and "N passed, N failed".
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIO_BUILD:-$ROOT/build}
export SIO_BIN=${SIO_BIN:-$BUILD/tools/sio}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pc() { PKG_CONFIG_PATH=$BUILD/meson-uninstalled pkg-config "$@"; }
for v in 1 2; do
  if ! cc -std=c11 -Wall -Werror -shared -fPIC -DVERSION=$v -o "$work/split-v$v.so" \
       "$ROOT/tests/e2e/split_plugin.c" $(pc --cflags --libs sio) 2>"$work/cc.log"; then
    echo "not ok - test plugin builds: $(head -3 "$work/cc.log")"
    echo "0 passed, 1 failed"; exit 1
  fi
done
# A plugin whose ABI is wrong, for the failed-reload case: a descriptor with abi 99.
cat >"$work/bad.c" <<'C'
#include <sio/plugin.h>
SIO_EXPORT const struct sio_plugin sio_plugin_v1 = { .abi = 99, .size = sizeof(struct sio_plugin), .name = "bad" };
C
cc -std=c11 -shared -fPIC -o "$work/bad.so" "$work/bad.c" $(pc --cflags sio) 2>>"$work/cc.log" || true
cd "$ROOT/tests/interop" && SPLIT_WORK=$work PYTHON=${PYTHON:-/usr/bin/python3} \
  timeout 240 node "$ROOT/tests/e2e/split.mjs"

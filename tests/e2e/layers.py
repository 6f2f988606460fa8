#!/usr/bin/env python3
"""layers.py: every source file includes only headers of its own layer or
of the layers below it (docs/ARCHITECTURE.md "Layers"), by the layer-named
include paths ("base/buf.h", "proto/envelope.h", ...). Prints one ok/not ok
line per layer and the usual summary; exit 1 on any violation."""
import os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# layer -> the layers (folders) its files may include, besides itself and
# the public headers <sio/...>
ALLOWED = {
    "base": [],
    "proto": ["base"],
    "core": ["base", "proto"],
    "edge": ["base", "proto"],
    "client": ["base", "proto"],
    "adapters": ["base", "proto"],
    "plugins": [],
    "tools": ["base", "proto", "core", "edge", "client", "adapters", "tools"],
}
files = subprocess.run(["git", "ls-files", "*.c", "*.h"], cwd=ROOT, capture_output=True,
                       text=True).stdout.split()
bad = {layer: [] for layer in ALLOWED}
counted = {layer: 0 for layer in ALLOWED}
for f in files:
    layer = f.split("/")[0]
    if layer not in ALLOWED:
        continue
    counted[layer] += 1
    text = open(os.path.join(ROOT, f), encoding="utf-8", errors="replace").read()
    for m in re.finditer(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
        inc = m.group(1)
        if inc == "sio-config.h" or inc.startswith("sio/"):
            continue
        top = inc.split("/")[0] if "/" in inc else None
        if top is None:
            bad[layer].append("%s: \"%s\" names no layer" % (f, inc))
        elif top != layer and top not in ALLOWED[layer]:
            bad[layer].append("%s: \"%s\" is a layer above or beside %s" % (f, inc, layer))
passed = failed = 0
for layer in ALLOWED:
    if bad[layer]:
        failed += 1
        print("not ok - %s (%d files): %s" % (layer, counted[layer], "; ".join(bad[layer][:8])))
    else:
        passed += 1
        print("ok - %s (%d files) includes only %s" % (
            layer, counted[layer], ", ".join([layer] + ALLOWED[layer]) + " and <sio/...>"))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)

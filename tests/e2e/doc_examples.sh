#!/usr/bin/env bash
# doc_examples.sh: every code example of README.md and docs/*.md is compiled,
# checked or run, so that the docs cannot go stale (docs/TESTING.md, "Doc
# examples", describes the markers). A fenced block with a language must be
# preceded by a marker line:
#
#   <!-- test: KIND [ARG] -->     the block is tested as KIND
#   <!-- untested: REASON -->     the block is not tested, and why
#
# Kinds: c-plugin, c-plugin-run REGEX, c-program [FILE], c-fragment SKELETON,
# excerpt FILE, sh, flags, python, js, json, config.
# Also: every `sio CMD --flag` in any block (marked or not) must be listed by
# `sio CMD --help`. Prints "ok - ..." / "not ok - ..." lines and
# "N passed, N failed" last; exits non-zero on failure.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${SIO_BUILD:-${SIO_BUILD_DIR:-$ROOT/build}}" 2>/dev/null && pwd) || {
  echo "not ok - build directory ${SIO_BUILD:-${SIO_BUILD_DIR:-$ROOT/build}} not found"
  echo "0 passed, 1 failed"; exit 1; }
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
exec "$PY" - "$ROOT" "$BUILD" <<'PYEOF'
import os, re, shlex, subprocess, sys, tempfile, time, glob

ROOT, BUILD = sys.argv[1], sys.argv[2]
SIO = os.path.join(BUILD, "tools", "sio")
ENV = dict(os.environ, PKG_CONFIG_PATH=os.path.join(BUILD, "meson-uninstalled"))
CFLAGS = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror"]
COMMANDS = ["server", "hub", "gateway", "worker", "emit", "bridge", "client", "bench", "keygen"]
work = tempfile.mkdtemp(prefix="sio-doc-examples.")
passed = failed = 0


def ok(cond, what, why=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok - " + what, flush=True)
    else:
        failed += 1
        why = " ".join(why.split())[:400]
        print("not ok - " + what + (": " + why if why else ""), flush=True)


def run(cmd, timeout=60, **kw):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV, **kw)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        return 124, "timed out"


def pkg(*mods, what=("--cflags", "--libs")):
    rc, out = run(["pkg-config", *what, *mods])
    if rc != 0:
        raise RuntimeError(out)
    return shlex.split(out)


def pkg_cflags(*mods):
    return pkg(*mods, what=("--cflags",))


# --- the fenced blocks and their markers ---------------------------------
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
MARK = re.compile(r"^\s*<!--\s*(test|untested):\s*(.*?)\s*-->\s*$")


def blocks(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        body = "\n".join(l[len(indent):] if l.startswith(indent) else l
                         for l in lines[i + 1:j]) + "\n"
        mark = MARK.match(lines[i - 1]) if i > 0 else None
        yield start + 1, lang, mark.groups() if mark else None, body
        i = j + 1


DOCS = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))

# --- skeletons for fragments ----------------------------------------------
SKELETONS = {
    # the body of an event handler of a plugin (ctx and args given)
    "handler": ("#include <sio/plugin.h>\n"
                "static json_t *on_x(struct sio_ctx *ctx, json_t *args)\n{\n",
                "    return NULL;\n}\n"
                "SIO_PLUGIN(.name = \"doc\", .events = SIO_EVENTS({ \"x\", on_x }));\n"),
    # handler prototypes: they must fit the descriptor's fields
    "handlers": ("#include <sio/plugin.h>\n",
                 "SIO_PLUGIN(.name = \"doc\", .on_connect = on_connect,\n"
                 "           .on_disconnect = on_disconnect, .on_raw = on_raw,\n"
                 "           .events = SIO_EVENTS({ \"x\", on_event }));\n"),
    # statements of a client program: these names exist
    "client": ("#include <event2/event.h>\n#include <sio/client.h>\n"
               "static json_t *on_chat(sio_client *c, const char *nsp, const char *event,\n"
               "                       json_t *args, bool want_ack, void *ud) { return NULL; }\n"
               "static void on_ack(sio_client *c, int status, json_t *args, void *ud) {}\n"
               "static void on_connect(sio_client *c, const char *nsp, void *ud) {}\n"
               "static void on_connect_error(sio_client *c, const char *nsp, json_t *data,\n"
               "                             void *ud) {}\n"
               "static void on_disconnect(sio_client *c, const char *nsp, const char *reason,\n"
               "                          void *ud) {}\n"
               "void doc_example(struct event_base *base, json_t *args, json_t *auth, void *ud);\n"
               "void doc_example(struct event_base *base, json_t *args, json_t *auth, void *ud)\n{\n"
               "    sio_client *c = NULL;\n    sio_simple *s = NULL;\n"
               "    struct sio_client_opts opts;\n    {\n",
               "    }\n    (void)c; (void)s; (void)opts;\n"
               "    (void)on_chat; (void)on_ack; (void)on_connect; (void)on_connect_error;\n"
               "    (void)on_disconnect;\n}\n"),
}


def compile_c(name, src, kind):
    c = os.path.join(work, name + ".c")
    open(c, "w").write(src)
    if kind == "plugin":
        out = os.path.join(work, name + ".so")
        cmd = ["cc", *CFLAGS, "-shared", "-fPIC", "-o", out, c, *pkg("sio")]
    elif kind == "program":
        out = os.path.join(work, name)
        cmd = ["cc", *CFLAGS, "-o", out, c, *pkg("sio", "libevent")]
    else:
        out = os.path.join(work, name + ".o")
        cmd = ["cc", *CFLAGS, "-c", "-o", out, c, *pkg_cflags("sio", "libevent")]
    rc, log = run(cmd)
    return (out if rc == 0 else None), log


def code_lines(text):
    """Lines without comments and spacing, for excerpt comparison."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for l in text.split("\n"):
        l = re.sub(r"(^|\s)(//|#)\s.*$", "", l) if not l.lstrip().startswith("#include") else l
        l = " ".join(l.split())
        if l and l != "...":
            out.append(l)
    return out


def run_plugin(so, regex, name, base):
    """Start sio server --port 0 with the plugin, emit once, look for regex in its log."""
    log = os.path.join(work, base + ".log")
    with open(log, "w") as err:
        p = subprocess.Popen([SIO, "server", "--plugin", so, "--port", "0", "--log-level", "info"],
                             stdout=subprocess.PIPE, stderr=err, text=True, env=ENV)
    try:
        line = p.stdout.readline().strip()
        m = re.match(r"^listening on http://127\.0\.0\.1:(\d+)/socket\.io/$", line)
        ok(m and int(m.group(1)) > 0, name + ": --port 0 picks a port, named on the listening line",
           repr(line))
        if not m:
            return
        run([SIO, "client", "http://127.0.0.1:%s" % m.group(1), "--emit", "hello", '"doc"'],
            timeout=15, stdin=subprocess.DEVNULL)
        time.sleep(0.2)
        text = open(log).read()
        ok(re.search(regex, text, re.M), name + ": the server log has /%s/" % regex, text[-300:])
    finally:
        p.terminate()
        p.wait(10)


def check_block(doc, line, lang, mark, body):
    rel = os.path.relpath(doc, ROOT)
    name = "%s:%d" % (rel, line)
    base = re.sub(r"[^A-Za-z0-9]+", "_", name)
    if mark is None:
        if lang:
            ok(False, name + " (```%s) has a <!-- test: ... --> or <!-- untested: ... --> marker" % lang)
        return
    what, arg = mark
    if what == "untested":
        ok(bool(arg), name + " untested: " + arg, "no reason given")
        return
    kind, _, arg = arg.partition(" ")
    arg = arg.strip()
    if kind == "c-plugin":
        so, log = compile_c(base, body, "plugin")
        ok(so, name + ": plugin compiles out of tree (pkg-config sio)", log)
    elif kind == "c-plugin-run":
        so, log = compile_c(base, body, "plugin")
        ok(so, name + ": plugin compiles out of tree (pkg-config sio)", log)
        if so:
            run_plugin(so, arg, name, base)
    elif kind == "c-program":
        exe, log = compile_c(base, body, "program")
        ok(exe, name + ": program compiles and links (pkg-config sio libevent)", log)
        if arg:
            same = open(os.path.join(ROOT, arg)).read() == body
            ok(same, name + ": is " + arg + " verbatim", "the block and the file differ")
    elif kind == "c-fragment":
        if arg not in SKELETONS:
            ok(False, name + ": unknown skeleton '%s'" % arg)
            return
        head, tail = SKELETONS[arg]
        obj, log = compile_c(base, head + body + tail, "object")
        ok(obj, name + ": fragment compiles in the '%s' skeleton" % arg, log)
    elif kind == "excerpt":
        path = os.path.join(ROOT, arg)
        have = set(code_lines(open(path).read())) if os.path.exists(path) else set()
        missing = [l for l in code_lines(body) if l not in have]
        ok(os.path.exists(path) and not missing, name + ": every code line is in " + arg,
           "missing: %r" % missing[:3])
    elif kind == "sh":
        rc, log = run(["bash", "-n"], input=body)
        ok(rc == 0, name + ": shell syntax (bash -n)", log)
    elif kind == "flags":
        pass    # the flag check below runs on every block
    elif kind == "python":
        f = os.path.join(work, base + ".py")
        open(f, "w").write(body)
        rc, log = run(["/usr/bin/python3", "-m", "py_compile", f])
        ok(rc == 0, name + ": python compiles (py_compile)", log)
    elif kind == "js":
        f = os.path.join(work, base + ".mjs")
        open(f, "w").write(body)
        rc, log = run(["node", "--check", f])
        ok(rc == 0, name + ": JavaScript syntax (node --check)", log)
    elif kind in ("json", "config"):
        import json
        try:
            obj = json.loads(body)
            ok(True, name + ": valid JSON")
        except ValueError as e:
            ok(False, name + ": valid JSON", str(e))
            return
        if kind == "config":
            bad = [k for k in obj if not re.search(r"(^|\s)--%s\b" % re.escape(k), HELP["server"])]
            ok(not bad, name + ": every key is a `sio server` flag", "not flags: %r" % bad)
    else:
        ok(False, name + ": unknown test kind '%s'" % kind)


# --- flags: `sio CMD --flag` must be in `sio CMD --help` -------------------
HELP = {}
for cmd in COMMANDS:
    rc, out = run([SIO, cmd, "--help"])
    HELP[cmd] = out
SIO_CMD = re.compile(r"(?:^|[\s/=])sio\s+(%s)\b" % "|".join(COMMANDS))


def check_flags(doc, line, body):
    name = "%s:%d" % (os.path.relpath(doc, ROOT), line)
    text = re.sub(r"\\\n", " ", body)
    seen, bad = 0, []
    for l in text.split("\n"):
        for m in SIO_CMD.finditer(l):
            cmd = m.group(1)
            rest = re.split(r"\s[;&|#]|\s&&|[;)]\s|`|$", l[m.end():])[0]
            for tok in re.findall(r"(?:^|\s)(--[a-z][a-z0-9-]*)", rest):
                seen += 1
                if not re.search(r"(^|[\s(\[|])%s\b(?!-)" % re.escape(tok), HELP[cmd]):
                    bad.append("sio %s %s" % (cmd, tok))
    if seen:
        ok(not bad, name + ": %d `sio ...` flags are in each command's --help" % seen,
           "not in --help: %s" % ", ".join(sorted(set(bad))))


ok(all(HELP[c] for c in COMMANDS) and os.access(SIO, os.X_OK), "sio CMD --help for every command")
for doc in DOCS:
    for line, lang, mark, body in blocks(doc):
        try:
            check_block(doc, line, lang, mark, body)
        except Exception as e:     # a broken check is a failure, not a crash
            ok(False, "%s:%d: %s" % (os.path.relpath(doc, ROOT), line, type(e).__name__), str(e))
        check_flags(doc, line, body)



# --- docs/SERVER.md "logging": per-topic levels do what the flags table says
def server_log(*flags):
    log = os.path.join(work, "levels.log")
    with open(log, "w") as err:
        p = subprocess.Popen([SIO, "server", "--plugin", os.path.join(BUILD, "plugins", "echo", "echo.so"),
                              "--port", "0", *flags], stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        m = re.match(r"^listening on (http://[^/]+)/", p.stdout.readline())
        if m:
            run([SIO, "client", m.group(1), "--emit", "echo", "1"], timeout=15, stdin=subprocess.DEVNULL)
            time.sleep(0.2)
    finally:
        p.terminate()
        p.wait(10)
    return re.findall(r"^\S+ ([EWIDT]) (\S+):", open(log).read(), re.M)


lines = server_log("--engineio-log-level", "debug")
ok(("D", "edge.eio") in lines and not [t for l, t in lines if not t.startswith(("edge.eio", "edge.ws"))],
   "--engineio-log-level debug: debug lines of edge.eio, nothing from other topics at the default warn",
   repr(sorted(set(lines))))
lines = server_log("--log-level", "debug", "--engineio-log-level", "error", "--socketio-log-level", "error")
ok([t for l, t in lines if l == "D" and not t.startswith(("edge.eio", "edge.ws", "edge.sio"))] and not [t for l, t in lines if t.startswith(("edge.eio", "edge.ws", "edge.sio"))],
   "--log-level debug --engineio-log-level error --socketio-log-level error: other topics at debug, "
   "edge.eio/edge.ws/edge.sio quiet", repr(sorted(set(lines))))

subprocess.run(["rm", "-rf", work])
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PYEOF

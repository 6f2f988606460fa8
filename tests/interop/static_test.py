#!/usr/bin/env python3
"""static_test.py: static files (python-socketio's static_files rules), path
traversal attempts and forwarding to an upstream HTTP application, against
live `sio server` processes this script starts (issue 4).

    python3 tests/interop/static_test.py --sio build/tools/sio \
        --plugin build/plugins/echo/echo.so

It builds a temp dir (files, a symlink inside, symlinks pointing outside),
starts a stdlib http.server upstream on a free loopback port, then:
  A: --static /s=www --static-file /=page.html --static-file /data=blob.dat:text/plain
     --static-file /logo=logo.png --static-file /colon=a:b.txt --upstream UPSTREAM
  B: --static /=www --static-default-file home.html   (no upstream)
Raw HTTP/1.1 over sockets; prints "ok - ..." / "not ok - ..." lines and
"N passed, N failed". Every step is bounded by socket timeouts.
"""
import argparse
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

PASS = 0
FAIL = 0
SECRET = b"TOPSECRET-outside-the-mount"


def check(name, cond, detail=""):
    global PASS, FAIL
    if cond:
        PASS += 1
        print(f"ok - {name}")
    else:
        FAIL += 1
        print(f"not ok - {name}: {detail}")
    sys.stdout.flush()


def request(port, method, target, headers=None, body=b""):
    """One raw request (Connection: close); returns (status, headers, body)."""
    hs = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    hs.update(headers or {})
    if body or method in ("POST", "PUT"):
        hs["Content-Length"] = str(len(body))
    raw = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs.items())
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw.encode("latin-1") + b"\r\n" + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        rest = out
    return status, hdrs, rest


class Upstream(http.server.BaseHTTPRequestHandler):
    """Echoes the request as JSON; /status/N answers N."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        m = re.match(r"^/status/(\d{3})", self.path)
        code = int(m.group(1)) if m else (201 if self.command == "POST" else 200)
        out = json.dumps({
            "method": self.command, "path": self.path, "body": body.decode("latin-1"),
            "headers": {k.lower(): v for k, v in self.headers.items()},
        }).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", "yes")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = answer


def start_sio(args, extra, logdir, name):
    out = open(os.path.join(logdir, name + ".out"), "w+")
    err = open(os.path.join(logdir, name + ".err"), "w+")
    p = subprocess.Popen([args.sio, "server", "--plugin", args.plugin, "--host", "127.0.0.1",
                          "--port", "0"] + extra, stdout=out, stderr=err)
    deadline = time.time() + 10
    while time.time() < deadline:
        out.seek(0)
        m = re.search(r"^listening on http://127\.0\.0\.1:(\d+)/", out.read(), re.M)
        if m:
            return p, int(m.group(1))
        if p.poll() is not None:
            break
        time.sleep(0.05)
    err.seek(0)
    p.kill()
    raise SystemExit(f"sio server {name} did not start: {err.read()[-2000:]}")


def make_tree(root):
    www = os.path.join(root, "www")
    outside = os.path.join(root, "outside")
    os.makedirs(os.path.join(www, "sub"))
    os.makedirs(outside)
    files = {
        "index.html": b"<p>index</p>", "home.html": b"<p>home</p>", "a.html": b"<p>a</p>",
        "a.css": b"p{}", "a.js": b"var a;", "a.json": b"{}", "a.jpg": b"\xff\xd8jpg",
        "a.png": b"\x89PNG", "a.gif": b"GIF89a", "a.txt": b"text", "a.bin": b"\x00\x01",
        "noext": b"no extension", "sub/index.html": b"<p>sub index</p>",
        "sub/home.html": b"<p>sub home</p>",
    }
    for name, data in files.items():
        with open(os.path.join(www, name), "wb") as f:
            f.write(data)
    with open(os.path.join(outside, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.symlink("a.txt", os.path.join(www, "inlink.txt"))
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(www, "link.txt"))
    os.symlink(outside, os.path.join(www, "linkdir"))
    for name, data in (("page.html", b"<p>page</p>"), ("blob.dat", b"blob"),
                       ("logo.png", b"\x89PNGlogo"), ("a:b.txt", b"colon")):
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    return files


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sio", required=True)
    ap.add_argument("--plugin", required=True)
    args = ap.parse_args()

    root = tempfile.mkdtemp(prefix="sio-static-")
    procs = []
    upstream = None
    try:
        files = make_tree(root)
        upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        upstream.daemon_threads = True
        up_port = upstream.server_address[1]
        threading.Thread(target=upstream.serve_forever, daemon=True).start()

        j = lambda name: os.path.join(root, name)  # noqa: E731
        pa, a = start_sio(args, ["--static", "/s=" + j("www"),
                                 "--static-file", "/=" + j("page.html"),
                                 "--static-file", "/data=" + j("blob.dat") + ":text/plain",
                                 "--static-file", "/logo=" + j("logo.png"),
                                 "--static-file", "/colon=" + j("a:b.txt"),
                                 "--upstream", f"http://127.0.0.1:{up_port}"], root, "A")
        procs.append(pa)
        pb, b = start_sio(args, ["--static", "/=" + j("www"),
                                 "--static-default-file", "home.html"], root, "B")
        procs.append(pb)

        # --- URL -> file, URL -> file with a content type
        st, h, body = request(a, "GET", "/")
        check("URL -> file: / serves page.html as text/html",
              st == 200 and body == b"<p>page</p>" and h.get("content-type") == "text/html",
              f"{st} {h} {body[:80]!r}")
        st, h, body = request(a, "GET", "/data")
        check("URL -> file with an explicit content type (text/plain)",
              st == 200 and body == b"blob" and h.get("content-type") == "text/plain",
              f"{st} {h} {body[:80]!r}")
        st, h, body = request(a, "GET", "/logo")
        check("URL -> file: content type by the file's extension (image/png)",
              st == 200 and body == b"\x89PNGlogo" and h.get("content-type") == "image/png",
              f"{st} {h}")
        st, h, body = request(a, "GET", "/colon")
        check("URL -> file whose name holds ':' (not a content type)",
              st == 200 and body == b"colon" and h.get("content-type") == "text/plain",
              f"{st} {h} {body[:80]!r}")
        st, h, body = request(a, "HEAD", "/data")
        check("HEAD of a file URL: headers, Content-Length, no body",
              st == 200 and h.get("content-length") == "4" and body == b"", f"{st} {h} {body!r}")

        # --- URL prefix -> directory, content types
        types = {"a.html": "text/html", "a.css": "text/css", "a.js": "application/javascript",
                 "a.json": "application/json", "a.jpg": "image/jpeg", "a.png": "image/png",
                 "a.gif": "image/gif", "a.txt": "text/plain", "a.bin": "application/octet-stream",
                 "noext": "application/octet-stream"}
        for name, ctype in types.items():
            st, h, body = request(a, "GET", "/s/" + name)
            check(f"directory mount: /s/{name} is {ctype}",
                  st == 200 and body == files[name] and h.get("content-type") == ctype,
                  f"{st} {h.get('content-type')} {body[:40]!r}")
        st, h, body = request(a, "GET", "/s/inlink.txt")
        check("a symlink that stays inside the folder is served",
              st == 200 and body == b"text", f"{st} {body[:40]!r}")

        # --- default files
        st, h, body = request(a, "GET", "/s/")
        check("/s/ serves index.html by default", st == 200 and body == b"<p>index</p>",
              f"{st} {body[:40]!r}")
        st, h, body = request(a, "GET", "/s/sub/")
        check("/s/sub/ serves sub/index.html", st == 200 and body == b"<p>sub index</p>",
              f"{st} {body[:40]!r}")
        st, h, body = request(b, "GET", "/")
        check("--static-default-file home.html: / serves home.html",
              st == 200 and body == b"<p>home</p>" and h.get("content-type") == "text/html",
              f"{st} {h} {body[:40]!r}")
        st, h, body = request(b, "GET", "/sub/")
        check("--static-default-file home.html: /sub/ serves sub/home.html",
              st == 200 and body == b"<p>sub home</p>", f"{st} {body[:40]!r}")
        st, h, body = request(b, "GET", "/nothing.txt")
        check("no upstream: a missing file is 404", st == 404, f"{st} {body[:80]!r}")

        # --- traversal: never the outside file
        attacks = ["/../outside/secret.txt", "/%2e%2e/outside/secret.txt",
                   "/%2E%2E/outside/secret.txt", "/..%2foutside%2fsecret.txt",
                   "/%2e%2e%2foutside%2fsecret.txt", "/sub/../../outside/secret.txt",
                   "/sub/%2e%2e/%2e%2e/outside/secret.txt", "/link.txt", "/linkdir/secret.txt",
                   "/%252e%252e/outside/secret.txt", "/a.txt%00.html", "/.%2e/outside/secret.txt"]
        for path in attacks:
            st, h, body = request(b, "GET", path)
            check(f"traversal {path} (mount /): 404, nothing from outside",
                  st == 404 and SECRET not in body, f"{st} {body[:80]!r}")
            st, h, body = request(a, "GET", "/s" + path)
            # with an upstream, a file the mount refuses goes on to the upstream
            check(f"traversal /s{path} (mount /s, upstream): not served from outside",
                  SECRET not in body and (st == 404 or h.get("x-upstream") == "yes"),
                  f"{st} {body[:80]!r}")

        # --- precedence: Socket.IO path, then static files, then upstream
        st, h, body = request(a, "GET", "/socket.io/?EIO=4&transport=polling")
        check("the Socket.IO path wins over the upstream",
              st == 200 and body.startswith(b"0{") and "x-upstream" not in h, f"{st} {body[:60]!r}")
        st, h, body = request(a, "GET", "/s/a.txt")
        check("a static file wins over the upstream", st == 200 and "x-upstream" not in h,
              f"{st} {h}")
        st, h, body = request(a, "GET", "/s/missing.txt")
        check("a missing static file goes on to the upstream (python's rule)",
              st == 200 and h.get("x-upstream") == "yes", f"{st} {h}")

        # --- forwarding
        st, h, body = request(a, "GET", "/api/items?q=1&r=two", {"X-Test": "forwarded"})
        js = json.loads(body) if st == 200 and h.get("x-upstream") == "yes" else {}
        check("GET forwarded: method, path and query",
              js.get("method") == "GET" and js.get("path") == "/api/items?q=1&r=two", f"{st} {body[:200]!r}")
        hd = js.get("headers", {})
        check("GET forwarded: request headers kept", hd.get("x-test") == "forwarded", str(hd))
        check("GET forwarded: X-Forwarded-For and Via added",
              hd.get("x-forwarded-for") == "127.0.0.1" and "sio" in hd.get("via", ""), str(hd))
        check("response: upstream headers back, Via added",
              h.get("content-type") == "application/json" and "sio" in h.get("via", ""), str(h))
        st, h, body = request(a, "POST", "/api/echo", {"Content-Type": "text/plain"},
                              b"hello=world")
        js = json.loads(body) if h.get("x-upstream") == "yes" else {}
        check("POST forwarded: status 201 and body back",
              st == 201 and js.get("method") == "POST" and js.get("body") == "hello=world",
              f"{st} {body[:200]!r}")
        big = b"x" * 200000
        st, h, body = request(a, "POST", "/api/big", {}, big)
        js = json.loads(body) if h.get("x-upstream") == "yes" else {}
        check("POST of 200000 bytes forwarded whole", st == 201 and len(js.get("body", "")) == 200000,
              f"{st} {len(body)}")
        st, h, body = request(a, "POST", "/api/huge", {}, b"y" * 1000001)
        check("POST over --max-payload (1000000): 413, not forwarded",
              st == 413 and "x-upstream" not in h, f"{st} {h}")
        st, h, body = request(a, "PUT", "/s/a.txt", {}, b"put")
        js = json.loads(body) if h.get("x-upstream") == "yes" else {}
        check("PUT under a static mount goes to the upstream", js.get("method") == "PUT", f"{st} {body[:100]!r}")
        st, h, body = request(a, "HEAD", "/api/head")
        check("HEAD forwarded: upstream Content-Length, no body",
              st == 200 and int(h.get("content-length", "0")) > 0 and body == b"", f"{st} {h} {body!r}")
        st, h, body = request(a, "GET", "/status/418")
        check("upstream status passes through (418)", st == 418 and h.get("x-upstream") == "yes",
              f"{st} {h}")
        st, h, body = request(a, "GET", "/api/x", {"Connection": "keep-alive"})
        check("request on a keep-alive connection answered", st == 200, f"{st}")

        # --- upstream down
        upstream.shutdown()
        upstream.server_close()
        upstream = None
        st, h, body = request(a, "GET", "/api/items")
        check("upstream down: 502 with a clear body",
              st == 502 and b"upstream" in body and b"unreachable" in body, f"{st} {body[:200]!r}")
        st, h, body = request(a, "GET", "/s/a.txt")
        check("upstream down: static files still served", st == 200 and body == b"text", f"{st}")
    finally:
        if upstream:
            upstream.shutdown()
            upstream.server_close()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                rc = p.wait(timeout=5)
                check(f"sio server pid {p.pid} exits 0 on SIGTERM", rc == 0, f"exit {rc}")
            except subprocess.TimeoutExpired:
                p.kill()
                check(f"sio server pid {p.pid} exits on SIGTERM", False, "killed")
        shutil.rmtree(root, ignore_errors=True)
    print(f"{PASS} passed, {FAIL} failed")
    return 0 if FAIL == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

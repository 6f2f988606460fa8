# tls_handover.py: TLS connections handed over between the gateway's I/O
# threads (tests/e2e/tls.sh, against `sio server --io-threads 4`).
#   python3 tls_handover.py PORT CA.pem
# Sessions are made on new TLS connections (any thread); then each is
# polled (GET and POST) on new connections, which the kernel gives to any
# thread, and on one keep-alive TLS connection shared by all sessions, so
# that one open TLS connection changes threads several times with its SSL
# state. Prints "ok ..." lines, or "error ..." and exits 1.
import json
import socket
import ssl
import sys

port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    return ctx.wrap_socket(s, server_hostname="localhost")


def request(conn, method, query, body=b"", close=False):
    head = "%s /socket.io/?EIO=4&transport=polling%s HTTP/1.1\r\nHost: localhost\r\n" % (method, query)
    if body:
        head += "Content-Type: text/plain\r\nContent-Length: %d\r\n" % len(body)
    if close:
        head += "Connection: close\r\n"
    conn.sendall(head.encode() + b"\r\n" + body)
    f = conn.makefile("rb")
    status = f.readline()
    length, chunked = None, False
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
        if k.lower() == "transfer-encoding" and "chunked" in v:
            chunked = True
    data = b""
    if chunked:
        while True:
            n = int(f.readline().split(b";")[0], 16)
            if n == 0:
                f.readline()
                break
            data += f.read(n)
            f.readline()
    elif length is not None:
        data = f.read(length)
    return status.split()[1].decode(), data.decode()


def fail(msg):
    print("error " + msg, flush=True)
    sys.exit(1)


sids = []
for i in range(12):
    c = connect()
    st, body = request(c, "GET", "", close=True)
    c.close()
    if st != "200" or not body.startswith("0{"):
        fail("handshake %s %r" % (st, body))
    sid = json.loads(body[1:])["sid"]
    sids.append(sid)
    c = connect()
    st, body = request(c, "POST", "&sid=" + sid, b"40", close=True)
    c.close()
    if st != "200" or body != "ok":
        fail("connect POST %s %r" % (st, body))
threads = sorted({s[16] for s in sids})
print("ok sessions on threads %s" % "".join(threads), flush=True)

# each session: its CONNECT answer and an event's ack, on new connections
for sid in sids:
    c = connect()
    st, body = request(c, "GET", "&sid=" + sid, close=True)
    c.close()
    if st != "200" or not body.startswith("40{"):
        fail("GET after connect %s %r" % (st, body))
    c = connect()
    st, body = request(c, "POST", "&sid=" + sid, b'421["echo","x"]', close=True)
    c.close()
    if st != "200":
        fail("POST event %s %r" % (st, body))
    c = connect()
    st, body = request(c, "GET", "&sid=" + sid, close=True)
    c.close()
    if st != "200" or body != '431["x"]':
        fail("ack on a new connection %s %r" % (st, body))
print("ok every session polled on new TLS connections", flush=True)

# one keep-alive TLS connection for all sessions, two rounds
keep = connect()
for rnd in range(2):
    for n, sid in enumerate(sids):
        st, body = request(keep, "POST", "&sid=" + sid, ('42%d["echo","k%d"]' % (n, rnd)).encode())
        if st != "200" or body != "ok":
            fail("keep-alive POST %s %r" % (st, body))
        st, body = request(keep, "GET", "&sid=" + sid)
        if st != "200" or body != '43%d["k%d"]' % (n, rnd):
            fail("keep-alive ack %s %r (session %d, round %d)" % (st, body, n, rnd))
keep.close()
print("ok one keep-alive TLS connection served every session, twice", flush=True)

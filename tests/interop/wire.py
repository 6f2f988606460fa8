"""wire.py: a tiny raw HTTP/1.1 + WebSocket client on plain sockets (stdlib only).

Shared by raw_test.py and replay.py. Requests are written byte for byte the
way the reference transcripts were captured (tests/fixtures/reference): the
request line, Host, the extra headers, then for a body Content-Type
text/plain;charset=UTF-8 and Content-Length. Client WebSocket frames are
masked with the fixed key 37 fa 21 3d.
"""
import json
import socket
import struct
import time

MASK_KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
WS_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
WS_UPGRADE_HEADERS = [
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", WS_KEY),
]
HOST = "127.0.0.1"


class WireError(Exception):
    pass


def build_request(port, method, target, headers=(), body=None, content_type="text/plain;charset=UTF-8"):
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}:{port}"]
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        if content_type:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Response:
    def __init__(self, status_line, headers, body, raw, eof):
        self.status_line = status_line
        parts = status_line.split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        self.headers = headers          # list of (name, value) in order
        self.body = body                # de-chunked body bytes
        self.raw = raw                  # everything as received
        self.eof = eof                  # the server closed the connection after it

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return f"<Response {self.status_line!r} body={self.body[:80]!r}>"


class Conn:
    """One TCP connection with a read buffer."""

    def __init__(self, port, timeout=3.0):
        self.port = port
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline):
        if self.eof:
            raise WireError("connection closed by server")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out")
        self.sock.settimeout(remaining)
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            raise WireError("connection closed by server")
        self.buf += d

    def read_until(self, marker, deadline):
        while marker not in self.buf:
            self._fill(deadline)
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self, deadline):
        try:
            while True:
                self._fill(deadline)
        except WireError:
            pass
        out, self.buf = self.buf, b""
        return out

    def wait_eof(self, timeout):
        """True when the server closes the connection within timeout (data is discarded)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
                self.buf = b""
        except WireError:
            return True
        except (socket.timeout, TimeoutError):
            return False

    def read_response(self, timeout=3.0, method="GET"):
        deadline = time.monotonic() + timeout
        head = self.read_until(b"\r\n\r\n", deadline)
        lines = head[:-4].decode("latin-1").split("\r\n")
        status_line = lines[0]
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.append((k, v.strip()))
        resp = Response(status_line, headers, b"", head, False)
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        raw = head
        body = b""
        if resp.status == 101 or method == "HEAD" or resp.status in (204, 304):
            pass
        elif "chunked" in te:
            while True:
                size_line = self.read_until(b"\r\n", deadline)
                raw += size_line
                size = int(size_line.strip().split(b";")[0], 16)
                chunk = self.read_exact(size + 2, deadline)
                raw += chunk
                if size == 0:
                    break
                body += chunk[:-2]
        elif cl is not None:
            body = self.read_exact(int(cl), deadline)
            raw += body
        else:
            body = self.read_to_eof(deadline)
            raw += body
        resp.body, resp.raw = body, raw
        resp.eof = self.eof
        return resp

    # ---- WebSocket ----
    def ws_send(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        if isinstance(payload, str):
            payload = payload.encode()
        self.send(ws_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv))

    def ws_send_text(self, text):
        self.ws_send(0x1, text)

    def ws_recv(self, timeout=3.0):
        """One frame: (opcode, payload). Raises WireError on EOF, socket.timeout on timeout."""
        deadline = time.monotonic() + timeout
        h = self.read_exact(2, deadline)
        opcode = h[0] & 0x0F
        n = h[1] & 0x7F
        masked = h[1] & 0x80
        if n == 126:
            n = struct.unpack(">H", self.read_exact(2, deadline))[0]
        elif n == 127:
            n = struct.unpack(">Q", self.read_exact(8, deadline))[0]
        key = self.read_exact(4, deadline) if masked else None
        payload = self.read_exact(n, deadline)
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return opcode, payload


def ws_frame(opcode, payload, fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = bytes([b0, mbit | n])
    elif n < 65536:
        hdr = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        hdr = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask:
        masked = bytes(b ^ MASK_KEY[i % 4] for i, b in enumerate(payload))
        return hdr + MASK_KEY + masked
    return hdr + payload


def request(port, method, target, headers=(), body=None, timeout=3.0, content_type="text/plain;charset=UTF-8"):
    """One request on a fresh connection; returns the Response."""
    c = Conn(port, timeout)
    try:
        c.send(build_request(port, method, target, headers, body, content_type))
        return c.read_response(timeout, method)
    finally:
        c.close()


class Pending:
    """A request sent now whose response is read later (a long-poll GET)."""

    def __init__(self, port, method, target, headers=(), body=None):
        self.conn = Conn(port)
        self.method = method
        self.conn.send(build_request(port, method, target, headers, body))

    def result(self, timeout=3.0):
        try:
            return self.conn.read_response(timeout, self.method)
        finally:
            self.conn.close()

    def close(self):
        self.conn.close()


def ws_open(port, target, extra_headers=(), timeout=3.0):
    """Open a WebSocket; returns (conn, 101 response). Raises WireError if not 101."""
    c = Conn(port, timeout)
    c.send(build_request(port, "GET", target, list(WS_UPGRADE_HEADERS) + list(extra_headers)))
    r = c.read_response(timeout)
    if r.status != 101:
        c.close()
        raise WireError(f"expected 101, got {r.status_line!r} {r.body[:80]!r}")
    return c, r


# ---- Engine.IO / Socket.IO helpers ----

def eio_q(path, sid=None, transport="polling", eio="4"):
    q = f"{path}?EIO={eio}&transport={transport}"
    if sid:
        q += f"&sid={sid}"
    return q


def split_payload(body):
    return body.decode().split("\x1e") if body else []


def handshake(port, path):
    r = request(port, "GET", eio_q(path))
    if r.status != 200 or not r.body.startswith(b"0{"):
        raise WireError(f"handshake failed: {r!r}")
    return json.loads(r.body[1:].decode())


def post(port, path, sid, body, timeout=3.0):
    return request(port, "POST", eio_q(path, sid), body=body, timeout=timeout)


def get(port, path, sid, timeout=3.0):
    return request(port, "GET", eio_q(path, sid), timeout=timeout)


def _connected(packets, expect_auth):
    """The connect reply (and, for the echo plugin, its "auth" emit) has come."""
    if any(p.startswith("44") for p in packets):
        return True
    if not any(p.startswith("40{") for p in packets):
        return False
    return not expect_auth or any(p.startswith('42["auth"') for p in packets)


def sio_polling_session(port, path, connect_packet="40", expect_auth=True):
    """Handshake + Socket.IO connect over polling; returns (sid, packets received).

    Reads until the connect reply and, with expect_auth, the echo plugin's
    "auth" emit that follows it have both come, so that no reply of the
    connect is left for a later GET."""
    hs = handshake(port, path)
    sid = hs["sid"]
    r = post(port, path, sid, connect_packet)
    if r.status != 200 or r.body != b"ok":
        raise WireError(f"POST {connect_packet} failed: {r!r}")
    packets = []
    deadline = time.monotonic() + 3
    while not _connected(packets, expect_auth):
        r = get(port, path, sid, timeout=max(0.1, deadline - time.monotonic()))
        if r.status != 200:
            raise WireError(f"GET after connect failed: {r!r}")
        packets += split_payload(r.body)
    return sid, packets


def ws_session(port, path, connect_packet="40", expect_auth=True):
    """Direct WebSocket + Socket.IO connect; returns (conn, open dict, [frames after open]).

    Like sio_polling_session, reads until the connect reply (and the "auth"
    emit with expect_auth) have come."""
    c, _ = ws_open(port, eio_q(path, transport="websocket"))
    op, p = c.ws_recv()
    if op != 1 or not p.startswith(b"0{"):
        raise WireError(f"expected open packet, got {op} {p!r}")
    hs = json.loads(p[1:].decode())
    seen = []
    if connect_packet:
        c.ws_send_text(connect_packet)
        deadline = time.monotonic() + 3
        while not _connected([p.decode(errors="replace") for op, p in seen if op == 1], expect_auth):
            op, p = c.ws_recv(max(0.05, deadline - time.monotonic()))
            seen.append((op, p))
    return c, hs, seen

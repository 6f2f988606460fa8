// h2_ws.mjs: Engine.IO / Socket.IO over one HTTP/2 connection with node's
// http2 module, against a running `sio server --plugin echo.so`:
//
//   node tests/e2e/h2_ws.mjs URL      (https://127.0.0.1:PORT or http://... for h2c)
//
// Checks that the server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, then
// on that one connection: a polling session (handshake, a long-poll GET
// parked on its stream and answered when a POST on another stream brings
// the CONNECT, an event with ack), its upgrade to a WebSocket over an
// extended CONNECT stream (RFC 8441: 2probe/3probe/5), and a second
// session that is a WebSocket from the start (open, CONNECT, an event with
// ack, binary-free), the WebSocket frames written by hand (masked).
// Prints "ok - ..." / "not ok - ...", then "N passed, N failed".
// Bounded: gives up after 20 s.
import http2 from "node:http2";
import { randomBytes } from "node:crypto";

const url = process.argv[2];
let passed = 0, failed = 0;
const ok = (name) => { console.log(`ok - ${name}`); passed++; };
const notOk = (name, why) => { console.log(`not ok - ${name}: ${why}`); failed++; };
const check = (name, cond, why) => (cond ? ok(name) : notOk(name, why));
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
setTimeout(() => { notOk("finished in time", "20 s passed"); finish(); }, 20000).unref();

const session = http2.connect(url, { rejectUnauthorized: false });
session.on("error", (e) => { notOk("session", e.message); finish(); });

function request(headers, body) {
  return new Promise((res, rej) => {
    const st = session.request(headers);
    const chunks = [];
    let head;
    st.on("response", (h) => { head = h; });
    st.on("data", (d) => chunks.push(d));
    st.on("end", () => res({ head, body: Buffer.concat(chunks).toString() }));
    st.on("error", rej);
    st.end(body);
  });
}

// ---- WebSocket frames (RFC 6455) over a stream ----
function frame(text) {
  const payload = Buffer.from(text);
  const mask = randomBytes(4);
  let head;
  if (payload.length < 126) head = Buffer.from([0x81, 0x80 | payload.length]);
  else {
    head = Buffer.alloc(4);
    head[0] = 0x81; head[1] = 0x80 | 126; head.writeUInt16BE(payload.length, 2);
  }
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, masked]);
}

// Text messages of a tunnel stream, in order, as promises.
function wsReader(st) {
  let buf = Buffer.alloc(0);
  const queue = [], waiters = [];
  st.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) break;
      let len = buf[1] & 0x7f, off = 2;
      if (len === 126) { if (buf.length < 4) break; len = buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (buf.length < 10) break; len = Number(buf.readBigUInt64BE(2)); off = 10; }
      if (buf.length < off + len) break;
      const msg = buf.subarray(off, off + len).toString();
      buf = buf.subarray(off + len);
      if (waiters.length) waiters.shift()(msg); else queue.push(msg);
    }
  });
  return () => new Promise((res) => (queue.length ? res(queue.shift()) : waiters.push(res)));
}

// The next message that is not a ping (answered) or noop.
async function nextMsg(read, st) {
  for (;;) {
    const m = await read();
    if (m === "2") { st.write(frame("3")); continue; }
    if (m === "6") continue;
    return m;
  }
}

function connectWs(path) {
  return new Promise((res, rej) => {
    const st = session.request({
      ":method": "CONNECT", ":protocol": "websocket", ":path": path,
      "sec-websocket-version": "13",
    });
    st.on("response", (h) => res({ st, status: h[":status"] }));
    st.on("error", rej);
  });
}

const P = "/socket.io/?EIO=4";
try {
  const settings = await new Promise((res) => {
    if (session.remoteSettings && session.remoteSettings.enableConnectProtocol !== undefined &&
        session.remoteSettings.enableConnectProtocol) res(session.remoteSettings);
    else session.once("remoteSettings", res);
  });
  check("server advertises SETTINGS_ENABLE_CONNECT_PROTOCOL", settings.enableConnectProtocol === true,
        JSON.stringify(settings));
  check("server limits concurrent streams to 100", settings.maxConcurrentStreams === 100,
        JSON.stringify(settings));

  // ---- polling over h2 ----
  const hs = await request({ ":method": "GET", ":path": `${P}&transport=polling` });
  check("polling handshake over h2: 200 with an open packet", hs.head[":status"] === 200 &&
        hs.body.startsWith("0{"), `${hs.head[":status"]} ${hs.body}`);
  const sid = JSON.parse(hs.body.slice(1)).sid;
  const poll = `${P}&transport=polling&sid=${sid}`;
  // a long-poll parked on its stream, answered when the POST below lands
  const parked = request({ ":method": "GET", ":path": poll });
  await new Promise((r) => setTimeout(r, 200));
  const post = await request({ ":method": "POST", ":path": poll,
                               "content-type": "text/plain;charset=UTF-8" }, "40");
  check("POST over h2 answered ok", post.head[":status"] === 200 && post.body === "ok",
        `${post.head[":status"]} ${post.body}`);
  const got = await parked;
  check("parked GET answered on its stream with the CONNECT reply",
        got.body.startsWith("40{\"sid\":"), got.body);
  await request({ ":method": "POST", ":path": poll, "content-type": "text/plain" },
                "421[\"echo\",\"over h2\"]");
  let acked = "";
  for (let i = 0; i < 5 && !acked.includes("431"); i++)
    acked += (await request({ ":method": "GET", ":path": poll })).body;
  check("event with ack over h2 polling", acked.includes("431[\"over h2\"]"), acked);

  // ---- upgrade of that session to a WebSocket over h2 ----
  const up = await connectWs(`${P}&transport=websocket&sid=${sid}`);
  check("extended CONNECT for the polling sid: 200", up.status === 200, String(up.status));
  const uread = wsReader(up.st);
  const pending = request({ ":method": "GET", ":path": poll });   // parked during the upgrade
  up.st.write(frame("2probe"));
  check("probe answered over the tunnel", (await uread()) === "3probe", "no 3probe");
  up.st.write(frame("5"));
  const released = await pending;
  check("the parked GET is released by the upgrade", released.body === "6", released.body);
  up.st.write(frame("422[\"echo\",\"upgraded\"]"));
  const a2 = await nextMsg(uread, up.st);
  check("event with ack over the upgraded WebSocket", a2 === "432[\"upgraded\"]", a2);

  // ---- a WebSocket from the start ----
  const ws = await connectWs(`${P}&transport=websocket`);
  check("extended CONNECT without sid: 200", ws.status === 200, String(ws.status));
  const read = wsReader(ws.st);
  const open = await read();
  check("open packet over the tunnel", open.startsWith("0{\"sid\":"), open);
  ws.st.write(frame("40"));
  const conn = await nextMsg(read, ws.st);
  check("Socket.IO CONNECT answered", conn.startsWith("40{\"sid\":"), conn);
  const auth = await nextMsg(read, ws.st);
  check("the echo plugin's auth event arrives", auth.startsWith("42[\"auth\""), auth);
  ws.st.write(frame("427[\"hello\",{\"n\":1}]"));
  const ack = await nextMsg(read, ws.st);
  check("event with ack over the tunnel", ack === "437[{\"n\":1}]", ack);
  // 50 messages of 3 KB each way: past the 64 KB stream window, which the
  // server must reopen as its WebSocket layer takes the bytes
  const big = "b".repeat(3000);
  for (let i = 0; i < 50; i++) ws.st.write(frame(`42["bulk${i}","${big}"]`));
  let echoed = 0;
  for (let i = 0; i < 50; i++) {
    const m = await nextMsg(read, ws.st);
    if (m === `42["bulk${i}","${big}"]`) echoed++;
  }
  check("150 KB through the tunnel and back (flow-control windows reopen)", echoed === 50,
        `${echoed} of 50 echoed in order`);
  // a bad path for the extended CONNECT
  const bad = await connectWs("/nowhere");
  check("extended CONNECT outside the Engine.IO path: 404", bad.status === 404, String(bad.status));
  ws.st.close();
  up.st.close();
} catch (e) {
  notOk("exchange", e.stack || String(e));
}
session.close();
finish();

// io_threads.mjs: the gateway's I/O threads (`--io-threads N`) and the
// handover of connections between them, against a sio server started with
//
//   sio server --plugin echo.so --io-threads 4 --log-level debug --cors-mode js \
//              --static-file /files/one.txt=FILE
//
//   node io_threads.mjs --url http://127.0.0.1:PORT --threads 4 --log SERVER-STDERR
//                       --static /files/one.txt=FILE
//
// A session belongs to the thread that made it (its sid says which: the
// 17th character, 'A' + thread); SO_REUSEPORT hands each new TCP connection
// to any thread, so polling requests (a new connection each, often) and
// WebSocket upgrades must reach the owner through a handover. Checked with
// socket.io-client (50 polling-only + 50 upgrading clients: acked emits, a
// broadcast from each received by all exactly once) and with raw HTTP
// (many connections for one session, pipelined requests for sessions of
// every thread behind a static file, unknown sids of every thread), and
// in the server's debug log ("handed over to thread N").
//
// Prints "ok - name" / "not ok - name: reason", then "N passed, N failed".
import { io } from "socket.io-client";
import net from "node:net";
import { readFileSync } from "node:fs";
import { isDeepStrictEqual, inspect } from "node:util";

const o = { url: "http://127.0.0.1:18020", threads: 4, log: null, static: null };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i], v = () => argv[++i];
  if (a === "--url") o.url = v();
  else if (a === "--threads") o.threads = Number(v());
  else if (a === "--log") o.log = v();
  else if (a === "--static") o.static = v();
  else { console.error(`io_threads: unknown argument ${a}`); process.exit(2); }
}
const { hostname: HOST, port: PORT } = new URL(o.url);

let passed = 0, failed = 0;
const show = (x) => inspect(x, { depth: 6, breakLength: 200 });
class CheckError extends Error {}
function eq(a, e, what) {
  if (!isDeepStrictEqual(a, e)) throw new CheckError(`${what}: expected ${show(e)}, got ${show(a)}`);
}
function assert(c, msg) { if (!c) throw new CheckError(msg); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function check(name, fn, timeoutMs = 20000) {
  let timer;
  try {
    await Promise.race([fn(), new Promise((_, rej) => {
      timer = setTimeout(() => rej(new CheckError(`timed out after ${timeoutMs} ms`)), timeoutMs);
    })]);
    console.log(`ok - ${name}`); passed++;
  } catch (e) {
    console.log(`not ok - ${name}: ${e instanceof CheckError ? e.message : e.stack || e}`); failed++;
  } finally {
    clearTimeout(timer);
  }
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const owner = (sid) => B64.indexOf(sid[16]);

// ---------- raw HTTP/1.1 over one TCP connection ----------

// A connection that collects responses in order (Content-Length or chunked).
function rawConn() {
  const sock = net.connect(Number(PORT), HOST);
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0), closed = false;
  const waiters = [];
  const pump = () => {
    while (waiters.length) {
      const r = parseResp(buf);
      if (!r) break;
      buf = buf.subarray(r.used);
      waiters.shift().res(r);
    }
    if (closed) while (waiters.length) waiters.shift().rej(new CheckError("connection closed"));
  };
  sock.on("data", (d) => { buf = Buffer.concat([buf, d]); pump(); });
  sock.on("close", () => { closed = true; pump(); });
  sock.on("error", () => {});
  const ready = new Promise((res, rej) => { sock.once("connect", res); sock.once("error", rej); });
  return {
    ready,
    send: (s) => sock.write(s),
    next: () => new Promise((res, rej) => { waiters.push({ res, rej }); pump(); }),
    close: () => sock.destroy(),
  };
}

function parseResp(buf) {
  const he = buf.indexOf("\r\n\r\n");
  if (he < 0) return null;
  const head = buf.subarray(0, he).toString("latin1");
  const status = Number(head.split(" ")[1]);
  const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
  let p = he + 4;
  if (cl) {
    const n = Number(cl[1]);
    if (buf.length < p + n) return null;
    return { status, head, body: buf.subarray(p, p + n).toString("latin1"), used: p + n };
  }
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    const parts = [];
    for (;;) {
      const le = buf.indexOf("\r\n", p);
      if (le < 0) return null;
      const n = parseInt(buf.subarray(p, le).toString("latin1"), 16);
      if (buf.length < le + 2 + n + 2) return null;
      parts.push(buf.subarray(le + 2, le + 2 + n));
      p = le + 2 + n + 2;
      if (n === 0) break;
    }
    return { status, head, body: Buffer.concat(parts).toString("latin1"), used: p };
  }
  return { status, head, body: "", used: p };
}

const EIO = "/socket.io/?EIO=4&transport=polling";
const getReq = (url) => `GET ${url} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\n\r\n`;
const postReq = (url, body) =>
  `POST ${url} HTTP/1.1\r\nHost: ${HOST}:${PORT}\r\nContent-Type: text/plain;charset=UTF-8\r\n` +
  `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

async function oneRequest(req) {
  const c = rawConn();
  await c.ready;
  c.send(req);
  try { return await c.next(); } finally { c.close(); }
}

async function handshake() {
  const r = await oneRequest(getReq(EIO));
  eq(r.status, 200, "handshake status");
  const sid = JSON.parse(r.body.slice(1)).sid;
  assert(/^[A-Za-z0-9_-]{20}$/.test(sid), `sid ${sid}`);
  return sid;
}

// one session per thread (handshakes land on threads at random)
async function sessionsOfEveryThread() {
  const by = new Map();
  for (let i = 0; i < 400 && by.size < o.threads; i++) {
    const sid = await handshake();
    if (!by.has(owner(sid))) by.set(owner(sid), sid);
  }
  return by;
}

const handedOver = () => {
  if (!o.log) return [];
  return readFileSync(o.log, "latin1").split("\n").filter((l) => / handed over to thread \d+$/.test(l));
};

// ---------- checks ----------

await check(`sids name the ${o.threads} threads`, async () => {
  const by = await sessionsOfEveryThread();
  eq([...by.keys()].sort(), [...Array(o.threads).keys()], "owner threads seen");
});

await check("many TCP connections for one polling session: every request reaches its owner", async () => {
  const sid = await handshake();
  const before = handedOver().length;
  for (let i = 0; i < 24; i++) {
    // a new connection each time: the kernel picks the thread
    const r = await oneRequest(postReq(`${EIO}&sid=${sid}`, "6"));
    eq([r.status, r.body], [200, "ok"], `POST ${i}`);
  }
  // the session still works: a message, then the long-poll GET gets it back
  const c = rawConn();
  await c.ready;
  c.send(postReq(`${EIO}&sid=${sid}`, "40"));
  eq((await c.next()).body, "ok", "POST 40");
  c.send(getReq(`${EIO}&sid=${sid}`));
  const g = await c.next();
  eq(g.status, 200, "GET status");
  assert(/(^|\x1e)40\{"sid":"[A-Za-z0-9_-]{20}"\}/.test(g.body), `GET body ${show(g.body)}`);
  c.close();
  if (o.log) {
    const mine = handedOver().slice(before).filter((l) => l.includes(` for ${sid} (`));
    assert(mine.length > 0, "no 'handed over' line for this sid in the server log");
    for (const l of mine)
      assert(l.endsWith(` handed over to thread ${owner(sid)}`), `wrong owner in: ${l}`);
  }
});

await check("pipelined requests for every thread's sessions behind a static file", async () => {
  const by = await sessionsOfEveryThread();
  eq(by.size, o.threads, "sessions of every thread");
  const [url, file] = o.static.split("=");
  const content = readFileSync(file, "latin1");
  const c = rawConn();
  await c.ready;
  // each answer a thread gives before handing the connection over may still
  // be unwritten: it travels with the connection, in order
  let req = getReq(url), want = [[200, content]];
  for (const sid of by.values()) {
    req += postReq(`${EIO}&sid=${sid}`, "6") + getReq(url);
    want.push([200, "ok"], [200, content]);
  }
  c.send(req);
  const got = [];
  for (let i = 0; i < want.length; i++) {
    const r = await c.next();
    got.push([r.status, r.body]);
  }
  eq(got, want, "responses in order");
  if (o.log) {
    // the static file answered before a handover was still in the output
    await sleep(100);
    const carried = handedOver().filter((l) => /, [1-9]\d* unwritten\)/.test(l));
    assert(carried.length > 0, "no handover carried unwritten output");
  }
  // a second round on the same connection, now living on some thread
  c.send([...by.values()].map((sid) => postReq(`${EIO}&sid=${sid}`, "6")).join(""));
  for (const sid of by.values()) eq((await c.next()).body, "ok", `again ${sid}`);
  c.close();
});

await check("an unknown sid of any thread: 400 Session ID unknown, as with one thread", async () => {
  for (let t = 0; t <= o.threads; t++) {   // t == threads: owned by none
    const sid = "AAAAAAAAAAAAAAAA" + B64[t] + "AAA";
    const r = await oneRequest(getReq(`${EIO}&sid=${sid}`));
    eq([r.status, r.body], [400, '{"code":1,"message":"Session ID unknown"}'], `sid of thread ${t}`);
  }
});

const N_POLL = 50, N_UP = 50;
await check(`${N_POLL} polling-only + ${N_UP} upgrading socket.io clients: acks and broadcasts once`, async () => {
  const clients = [];
  const mk = (i, transports) => {
    const s = io(o.url, { forceNew: true, reconnection: false, transports });
    const got = new Map();
    s.on("bcast", (tok) => got.set(tok, (got.get(tok) || 0) + 1));
    clients.push({ i, s, got, polling: transports.length === 1 });
    return new Promise((res, rej) => { s.once("connect", res); s.once("connect_error", rej); });
  };
  try {
    const ups = [];
    for (let i = 0; i < N_POLL + N_UP; i++)
      ups.push(mk(i, i < N_POLL ? ["polling"] : ["polling", "websocket"]));
    await Promise.all(ups);
    // let the upgrades finish
    for (let k = 0; k < 100; k++) {
      if (clients.every((c) => c.polling || c.s.io.engine.transport.name === "websocket")) break;
      await sleep(50);
    }
    for (const c of clients)
      eq(c.s.io.engine.transport.name, c.polling ? "polling" : "websocket", `client ${c.i} transport`);
    await Promise.all(clients.map(async (c) => {
      for (let k = 0; k < 5; k++)
        eq(await c.s.timeout(5000).emitWithAck("echo", { c: c.i, k, pad: "x".repeat(k * 10) }),
           { c: c.i, k, pad: "x".repeat(k * 10) }, `client ${c.i} ack ${k}`);
    }));
    await Promise.all(clients.map((c) => c.s.timeout(5000).emitWithAck("bcast", `t${c.i}`)));
    const total = clients.length;
    for (let k = 0; k < 200; k++) {
      if (clients.every((c) => c.got.size === total)) break;
      await sleep(50);
    }
    await sleep(300);   // a duplicate would arrive by now
    for (const c of clients) {
      eq(c.got.size, total, `client ${c.i}: distinct broadcasts`);
      for (const [tok, n] of c.got) eq(n, 1, `client ${c.i}: copies of ${tok}`);
    }
  } finally {
    for (const c of clients) c.s.disconnect();
  }
}, 60000);

await check("the server log shows handovers", async () => {
  if (!o.log) throw new CheckError("no --log given");
  const lines = handedOver();
  assert(lines.length > 0, "no 'handed over to thread' line");
  const log = readFileSync(o.log, "latin1");
  assert(log.includes(`(${o.threads} I/O threads)`), `no "(${o.threads} I/O threads)" in the listening line`);
  console.log(`# ${lines.length} handovers logged`);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

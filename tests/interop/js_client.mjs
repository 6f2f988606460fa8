// js_client.mjs: interop checks with the official socket.io-client 4.x.
//
//   node js_client.mjs --url http://127.0.0.1:18001 --ping-url http://127.0.0.1:18002
//                      [--eio-url http://127.0.0.1:18004] [--path /socket.io/]
//                      [--eio-path /engine.io/] [--ping-interval 300] [--ping-timeout 200]
//
// --url       server with default options
// --ping-url  server started with --ping-interval 300 --ping-timeout 200
// --eio-url   server with a raw Engine.IO echo on --eio-path (optional)
//
// Prints "ok - name" / "not ok - name: reason" per check, then
// "N passed, N failed"; exits 1 when a check failed.
import { io, Manager } from "socket.io-client";
import { Socket as EioSocket } from "engine.io-client";
import { isDeepStrictEqual, inspect } from "node:util";

function parseArgs(argv) {
  const o = {
    url: "http://127.0.0.1:18001",
    pingUrl: null,
    eioUrl: null,
    path: "/socket.io/",
    eioPath: "/engine.io/",
    pingInterval: 300,
    pingTimeout: 200,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === "--url") o.url = v();
    else if (a === "--ping-url") o.pingUrl = v();
    else if (a === "--eio-url") o.eioUrl = v();
    else if (a === "--path") o.path = v();
    else if (a === "--eio-path") o.eioPath = v();
    else if (a === "--ping-interval") o.pingInterval = Number(v());
    else if (a === "--ping-timeout") o.pingTimeout = Number(v());
    else { console.error(`js_client: unknown argument ${a}`); process.exit(2); }
  }
  return o;
}
const opts = parseArgs(process.argv.slice(2));

let passed = 0, failed = 0;
const show = (x) => inspect(x, { depth: 6, breakLength: Infinity });

class CheckError extends Error {}
function assert(cond, msg) { if (!cond) throw new CheckError(msg); }
function assertEq(actual, expected, what) {
  if (!isDeepStrictEqual(actual, expected))
    throw new CheckError(`${what}: expected ${show(expected)}, got ${show(actual)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Run one check with its own timeout; sockets registered with ctx.track() are
// closed afterwards whatever happened.
async function check(name, fn, timeoutMs = 5000) {
  const tracked = [];
  const ctx = { track: (s) => { tracked.push(s); return s; } };
  let timer;
  try {
    await Promise.race([
      fn(ctx),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new CheckError(`timed out after ${timeoutMs} ms`)), timeoutMs); }),
    ]);
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    const msg = e instanceof CheckError ? e.message : (e && e.stack) || String(e);
    console.log(`not ok - ${name}: ${String(msg).split("\n")[0]}`);
  } finally {
    clearTimeout(timer);
    for (const s of tracked) { try { s.disconnect ? s.disconnect() : s.close(); } catch {} }
  }
}

// Wait for one event; resolves with its argument list.
function once(emitter, event, ms, what) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { emitter.off(event, h); reject(new CheckError(`no "${event}" within ${ms} ms${what ? " (" + what + ")" : ""}`)); }, ms);
    const h = (...args) => { clearTimeout(t); resolve(args); };
    emitter.once(event, h);
  });
}

// Emit with an ack request; resolves with all ack arguments.
function emitAck(socket, event, args, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new CheckError(`no ack for "${event}" within ${ms} ms`)), ms);
    socket.emit(event, ...args, (...res) => { clearTimeout(t); resolve(res); });
  });
}

// Connect a socket; resolves after "connect", rejects on connect_error.
function connected(socket, ms = 3000) {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    const t = setTimeout(() => reject(new CheckError(`not connected within ${ms} ms`)), ms);
    socket.once("connect", () => { clearTimeout(t); resolve(socket); });
    socket.once("connect_error", (e) => { clearTimeout(t); reject(new CheckError(`connect_error: ${e.message} ${show(e.data)}`)); });
  });
}

function connectErr(socket, ms = 3000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new CheckError(`no connect_error within ${ms} ms`)), ms);
    socket.once("connect", () => { clearTimeout(t); reject(new CheckError("connected, expected connect_error")); });
    socket.once("connect_error", (e) => { clearTimeout(t); resolve(e); });
  });
}

const MODES = [
  { name: "polling", transports: ["polling"] },
  { name: "websocket", transports: ["websocket"] },
  { name: "upgrade", transports: undefined },
];

function clientOpts(mode, extra = {}) {
  const o = { path: opts.path, forceNew: true, reconnection: false, timeout: 4000, ...extra };
  if (mode.transports) o.transports = mode.transports;
  return o;
}

const UNICODE = "héllo wörld ✓ 日本語 😀";
const ECHO_ARGS = ["a", 1, 2.5, true, null, { x: [1, 2, { y: "z" }], u: UNICODE }, [1, "two", [3]], UNICODE];

async function waitUpgraded(socket, ms = 3000) {
  const eng = socket.io.engine;
  if (eng.transport.name === "websocket") return;
  await once(eng, "upgrade", ms, "engine upgrade");
  assertEq(eng.transport.name, "websocket", "transport after upgrade");
}

async function suite(mode) {
  const p = `[${mode.name}] `;
  const url = opts.url;

  await check(p + "connect to / and receive auth emit", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode, { auth: { token: "abc", n: 1 } })));
    const authP = once(s, "auth", 3000);
    await connected(s);
    const [a] = await authP;
    assertEq(a, { token: "abc", n: 1 }, "auth payload");
    assert(typeof s.id === "string" && s.id.length > 0, "socket id missing");
    if (mode.transports) assertEq(s.io.engine.transport.name, mode.transports[0], "transport");
    else await waitUpgraded(s);
  });

  await check(p + "connect without auth gets {}", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode)));
    const authP = once(s, "auth", 3000);
    await connected(s);
    const [a] = await authP;
    assertEq(a, {}, "auth payload");
  });

  await check(p + "emit without ack: message -> message-back", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode)));
    await connected(s);
    if (!mode.transports) await waitUpgraded(s);
    const back = once(s, "message-back", 3000);
    s.emit("message", "hi", 42, { k: UNICODE });
    assertEq(await back, ["hi", 42, { k: UNICODE }], "message-back args");
  });

  await check(p + "other event without ack is emitted back", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode)));
    await connected(s);
    const back = once(s, "ping-me", 3000);
    s.emit("ping-me", [1, 2], "x");
    assertEq(await back, [[1, 2], "x"], "event args");
  });

  await check(p + "emit with ack: echo with several args", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode)));
    await connected(s);
    assertEq(await emitAck(s, "echo", ECHO_ARGS), ECHO_ARGS, "ack args");
    assertEq(await emitAck(s, "message-with-ack", ["m", { n: 1 }]), ["m", { n: 1 }], "message-with-ack args");
    assertEq(await emitAck(s, "echo", []), [], "ack with no args");
    // several acks in flight at once come back to the right callbacks
    const many = await Promise.all([...Array(20).keys()].map((i) => emitAck(s, "echo", [i, `v${i}`])));
    many.forEach((r, i) => assertEq(r, [i, `v${i}`], `concurrent ack ${i}`));
  });

  await check(p + "binary ack: Buffers come back as equal Buffers", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode)));
    await connected(s);
    if (!mode.transports) await waitUpgraded(s);
    const b1 = Buffer.from([1, 2, 3]);
    const b2 = Buffer.from([0, 255, 128, 10, 13, 0x1e]);
    const big = Buffer.alloc(5000, 0xab);
    const res = await emitAck(s, "echo", ["txt", b1, { nested: b2, list: [big] }]);
    assertEq(res.length, 3, "ack arg count");
    assertEq(res[0], "txt", "text arg");
    assert(Buffer.isBuffer(res[1]), `arg 1 is not a Buffer: ${show(res[1])}`);
    assert(res[1].equals(b1), `arg 1 bytes differ: ${show(res[1])}`);
    assert(Buffer.isBuffer(res[2].nested) && res[2].nested.equals(b2), `nested bytes differ: ${show(res[2].nested)}`);
    assert(Buffer.isBuffer(res[2].list[0]) && res[2].list[0].equals(big), "5000-byte buffer differs");
  });

  await check(p + "large arguments: 300 KB of text and 200 KB of bytes come back exactly", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode)));
    await connected(s);
    if (!mode.transports) await waitUpgraded(s);
    // long strings take the workers' fast path unless they hold escapes:
    // one plain, one with quotes/backslashes/newlines, one multibyte
    const plain = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(3000);
    const escaped = 'say "hi"\\ then\n'.repeat(5000);
    const multi = "h\u00e9 \u20ac \u{1F600} ".repeat(8000);
    const bytes = Buffer.alloc(200000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 255;
    const res = await emitAck(s, "echo", [plain, { k: escaped, l: [multi] }, bytes], 10000);
    assertEq(res.length, 3, "ack arg count");
    assert(res[0] === plain, "plain text differs");
    assert(res[1].k === escaped, "escaped text differs");
    assert(res[1].l[0] === multi, "multibyte text differs");
    assert(Buffer.isBuffer(res[2]) && res[2].equals(bytes), "200 KB buffer differs");
  });

  await check(p + "binary event: message with Buffer -> message-back Buffer", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode)));
    await connected(s);
    const back = once(s, "message-back", 3000);
    const b = Buffer.from([0, 1, 255]);
    s.emit("message", b, "after");
    const r = await back;
    assertEq(r.length, 2, "arg count");
    assert(Buffer.isBuffer(r[0]) && r[0].equals(b), `bytes differ: ${show(r[0])}`);
    assertEq(r[1], "after", "second arg");
  });

  await check(p + "two namespaces share one engine", async (ctx) => {
    const m = new Manager(url, clientOpts(mode));
    const s1 = ctx.track(m.socket("/", { auth: { who: "root" } }));
    const s2 = ctx.track(m.socket("/custom", { auth: { who: "custom" } }));
    const a1 = once(s1, "auth", 3000, "/"), a2 = once(s2, "auth", 3000, "/custom");
    s1.connect(); s2.connect();
    await Promise.all([connected(s1), connected(s2)]);
    assertEq(await a1, [{ who: "root" }], "auth on /");
    assertEq(await a2, [{ who: "custom" }], "auth on /custom");
    assert(s1.io === s2.io, "sockets do not share the Manager");
    assert(s1.io.engine && s1.io.engine.id, "no engine id");
    assertEq(s2.io.engine.id, s1.io.engine.id, "engine id");
    assert(s1.id !== s2.id, "namespace sockets have the same sid");
    assertEq(await emitAck(s2, "echo", ["c", 1]), ["c", 1], "ack on /custom");
    assertEq(await emitAck(s1, "echo", ["r", 2]), ["r", 2], "ack on /");
    const back = once(s2, "message-back", 3000);
    const wrong = [];
    s1.on("message-back", (...a) => wrong.push(a));
    s2.emit("message", "to-custom");
    assertEq(await back, ["to-custom"], "message-back on /custom");
    await sleep(100);
    assertEq(wrong, [], "message-back leaked to /");
    // leaving one namespace keeps the other working
    s2.disconnect();
    assertEq(await emitAck(s1, "echo", ["still"]), ["still"], "ack on / after leaving /custom");
  });

  await check(p + "refused connection carries err.data", async (ctx) => {
    const refusal = { reason: "nope", code: 42, list: [1, "x"] };
    const s = ctx.track(io(url, clientOpts(mode, { auth: { refuse: refusal } })));
    const e = await connectErr(s);
    assertEq(e.data, refusal, "err.data");
    assert(!s.connected, "socket connected");
    const m = new Manager(url, clientOpts(mode));
    const c = ctx.track(m.socket("/custom", { auth: { refuse: { why: "custom" } } }));
    c.connect();
    const e2 = await connectErr(c);
    assertEq(e2.data, { why: "custom" }, "err.data on /custom");
  });

  await check(p + "refused with a message and data (err.message, err.data)", async (ctx) => {
    const data = { code: 7, hint: ["renew", null], ok: false };
    const s = ctx.track(io(url, clientOpts(mode, { auth: { refuse: "bad token", data } })));
    const e = await connectErr(s);
    assertEq(e.message, "bad token", "err.message");
    assertEq(e.data, data, "err.data");
    assert(!s.connected, "socket connected");
  });

  await check(p + "refused with a string value", async (ctx) => {
    const s = ctx.track(io(url, clientOpts(mode, { auth: { refuse: "go away" } })));
    const e = await connectErr(s);
    // sio_refuse() sends {"message": data} for a string; err.data also accepted
    assert(e.data === "go away" || e.message === "go away",
      `neither err.data nor err.message is "go away": message=${show(e.message)} data=${show(e.data)}`);
  });

  await check(p + "unknown namespace gives Invalid namespace", async (ctx) => {
    const m = new Manager(url, clientOpts(mode));
    const ok = ctx.track(m.socket("/"));
    const bad = ctx.track(m.socket("/nope"));
    ok.connect(); bad.connect();
    const e = await connectErr(bad);
    assertEq(e.message, "Invalid namespace", "err.message");
    await connected(ok);
    assertEq(await emitAck(ok, "echo", [1]), [1], "ack on / after the refusal");
  });

  await check(p + "bcast reaches both clients", async (ctx) => {
    const c1 = ctx.track(io(url, clientOpts(mode)));
    const c2 = ctx.track(io(url, clientOpts(mode)));
    await Promise.all([connected(c1), connected(c2)]);
    // make sure both sockets are fully joined server-side
    await Promise.all([emitAck(c1, "echo", [0]), emitAck(c2, "echo", [0])]);
    const r1 = once(c1, "bcast", 3000, "sender"), r2 = once(c2, "bcast", 3000, "other");
    c1.emit("bcast", "hello all", { n: 7 });
    assertEq(await r1, ["hello all", { n: 7 }], "sender got");
    assertEq(await r2, ["hello all", { n: 7 }], "other client got");
  });

  if (opts.pingUrl) {
    const interval = opts.pingInterval, timeout = opts.pingTimeout;
    await check(p + "idle connection survives several ping intervals", async (ctx) => {
      const s = ctx.track(io(opts.pingUrl, clientOpts(mode)));
      await connected(s);
      let disc = null;
      s.on("disconnect", (r) => { disc = r; });
      let pings = 0;
      s.io.on("ping", () => { pings++; });
      await sleep(1500);
      assertEq(disc, null, "disconnect reason");
      assert(pings >= 3, `only ${pings} pings in 1.5 s with pingInterval ${interval}`);
      assertEq(await emitAck(s, "echo", ["alive"]), ["alive"], "ack after idle");
      assert(s.connected, "not connected");
    }, 6000);

    await check(p + "server drops a client that stops answering pings", async (ctx) => {
      const s = ctx.track(io(opts.pingUrl, clientOpts(mode)));
      await connected(s);
      if (!mode.transports) await waitUpgraded(s);
      const eng = s.io.engine;
      let dropped = 0;
      // engine.io-client 6.6 sends its pongs through _sendPacket (older: sendPacket)
      const name = typeof eng._sendPacket === "function" ? "_sendPacket" : "sendPacket";
      const orig = eng[name];
      eng[name] = function (type, ...rest) {
        if (type === "pong") { dropped++; return; }
        return orig.call(this, type, ...rest);
      };
      const t0 = Date.now();
      const bound = interval + timeout + 1000;
      const [reason] = await once(s, "disconnect", bound, `interval+timeout+1000 = ${bound} ms`);
      const dt = Date.now() - t0;
      assert(dropped >= 1, "no ping arrived to drop");
      assert(reason !== "io client disconnect", `client closed: ${reason}`);
      assert(reason !== "ping timeout", "client-side ping timeout: the server stopped pinging instead of closing");
      assert(dt >= interval, `closed after ${dt} ms, before one ping interval`);
    }, 5000);
  }
}

async function eioSuite() {
  if (!opts.eioUrl) return;
  for (const mode of MODES) {
    await check(`[${mode.name}] raw engine.io echo (text and binary)`, async (ctx) => {
      const o = { path: opts.eioPath };
      if (mode.transports) o.transports = mode.transports;
      const s = ctx.track(new EioSocket(opts.eioUrl, o));
      await once(s, "open", 3000);
      const msgs = [];
      const waiters = [];
      s.on("message", (d) => { msgs.push(d); const w = waiters.shift(); if (w) w(); });
      const next = () => new Promise((res, rej) => {
        if (msgs.length) return res(msgs.shift());
        const t = setTimeout(() => rej(new CheckError("no echo within 3000 ms")), 3000);
        waiters.push(() => { clearTimeout(t); res(msgs.shift()); });
      });
      s.send("hello " + UNICODE);
      assertEq(await next(), "hello " + UNICODE, "text echo");
      const bin = Buffer.from([0, 1, 2, 250, 255]);
      s.send(bin);
      const r = await next();
      const rb = Buffer.isBuffer(r) ? r : r instanceof ArrayBuffer ? Buffer.from(r) : null;
      assert(rb && rb.equals(bin), `binary echo differs: ${show(r)}`);
    });
  }
}

for (const mode of MODES) await suite(mode);
await eioSuite();

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

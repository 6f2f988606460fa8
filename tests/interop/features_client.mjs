// features_client.mjs: plugin-author features of issue 4 end to end with
// socket.io-client 4.x against `sio server --plugin demo4.so`
// (plugins/demo4/demo4.c says what each event does).
//
//   node features_client.mjs --url http://127.0.0.1:18010
//
// Prints "ok - name" / "not ok - name: reason", then "N passed, N failed".
import { io } from "socket.io-client";
import { Fetch } from "engine.io-client";
import { isDeepStrictEqual, inspect } from "node:util";

let url = "http://127.0.0.1:18010";
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--url") url = argv[++i];
  else { console.error(`features_client: unknown argument ${argv[i]}`); process.exit(2); }
}

let passed = 0, failed = 0;
const show = (x) => inspect(x, { depth: 6, breakLength: Infinity });
class CheckError extends Error {}
function assert(c, m) { if (!c) throw new CheckError(m); }
function eq(a, e, what) {
  if (!isDeepStrictEqual(a, e)) throw new CheckError(`${what}: expected ${show(e)}, got ${show(a)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function check(name, fn, timeoutMs = 5000) {
  const socks = [];
  const conn = async (nsp = "/", o = {}) => {
    const s = io(url + nsp, { forceNew: true, transports: ["websocket"], reconnection: false, ...o });
    socks.push(s);
    await new Promise((res, rej) => { s.once("connect", res); s.once("connect_error", rej); });
    return s;
  };
  let timer;
  try {
    await Promise.race([fn(conn), new Promise((_, rej) => {
      timer = setTimeout(() => rej(new CheckError(`timed out after ${timeoutMs} ms`)), timeoutMs);
    })]);
    console.log(`ok - ${name}`); passed++;
  } catch (e) {
    console.log(`not ok - ${name}: ${e instanceof CheckError ? e.message : e.stack || e}`); failed++;
  } finally {
    clearTimeout(timer);
    for (const s of socks) s.disconnect();
  }
}

const call = (s, ev, ...args) => s.timeout(3000).emitWithAck(ev, ...args);
// Collect `ev` events on s.
function collect(s, ev) { const got = []; s.on(ev, (...a) => got.push(a)); return got; }
function next(s, ev, ms = 2000) {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new CheckError(`no '${ev}' within ${ms} ms`)), ms);
    s.once(ev, (...a) => { clearTimeout(t); res(a); });
  });
}

await check("emit to one sid, a room, rooms with except, skip_sid list, whole namespace", async (conn) => {
  const [a, b, c] = [await conn(), await conn(), await conn()];
  const ga = collect(a, "x"), gb = collect(b, "x"), gc = collect(c, "x");
  eq(await call(a, "join", "r1"), [a.id, "r1"], "a rooms");
  await call(b, "join", "r1"); await call(b, "join", "r2");
  await call(c, "join", "r2"); await call(c, "join", "rx");
  await call(a, "emit", { to: b.id, event: "x", args: ["sid"] });
  await call(a, "emit", { to: "r1", event: "x", args: ["room"] });
  await call(a, "emit", { to: ["r1", "r2"], except: ["rx"], event: "x", args: ["rooms-except"] });
  await call(a, "emit", { skip: [a.id, c.id], event: "x", args: ["skip-list"] });
  await call(a, "emit", { self: false, event: "x", args: ["skip-self"] });
  await call(a, "emit", { event: "x", args: ["all"] });
  await sleep(200);
  eq(ga, [["room"], ["rooms-except"], ["all"]], "a got");
  eq(gb, [["sid"], ["room"], ["rooms-except"], ["skip-list"], ["skip-self"], ["all"]], "b got");
  eq(gc, [["skip-self"], ["all"]], "c got");
});

await check("data: any JSON value, several arguments, binary; send() is 'message'", async (conn) => {
  const a = await conn();
  const gx = collect(a, "v"), gm = collect(a, "message");
  await call(a, "emit", { to: a.id, event: "v", args: [[1, 2], { k: null }, "s", 1.5, true] });
  await call(a, "emit", { to: a.id, event: "v", args: 42 });
  await call(a, "send", "hello", { n: 1 });
  const bin = await call(a, "bin");
  await sleep(150);
  eq(gx, [[[1, 2], { k: null }, "s", 1.5, true], [42]], "values");
  eq(gm, [["hello", { n: 1 }]], "message");
  assert(Buffer.isBuffer(bin) && bin.equals(Buffer.from([1, 2, 3])), `binary ack: ${show(bin)}`);
});

await check("emit from a timer and from a background task", async (conn) => {
  const a = await conn(), b = await conn();
  await call(b, "join", "tt");
  const p1 = next(b, "from_timer"), p2 = next(b, "from_task");
  eq(await call(a, "timer", { ms: 100, to: "tt", event: "from_timer", args: ["t"] }), true, "timer ack");
  eq(await call(a, "task", { ms: 100, to: "tt", event: "from_task", args: ["k"] }), true, "task ack");
  eq(await p1, ["t"], "timer emit");
  eq(await p2, ["k"], "task emit");
});

await check("rooms for another sid, rooms(sid), leave, close_room", async (conn) => {
  const a = await conn(), b = await conn();
  eq(await call(a, "join_sid", b.id, "club"), [b.id, "club"], "b joined by a");
  const gb = collect(b, "y");
  await call(a, "emit", { to: "club", event: "y", args: [1] });
  eq(await call(a, "rooms", b.id), [b.id, "club"], "rooms(b)");
  eq(await call(a, "leave_sid", b.id, "club"), [b.id], "b left");
  await call(a, "join_sid", b.id, "club");
  eq(await call(a, "close", "club"), true, "close");
  eq(await call(a, "rooms", b.id), [b.id], "rooms after close");
  await call(a, "emit", { to: "club", event: "y", args: [2] });
  await sleep(150);
  eq(gb, [[1]], "b got");
});

await check("emit with ack callback: answered, and timing out", async (conn) => {
  const a = await conn();
  a.on("ping_me", (x, cb) => cb({ pong: x }));
  const r1 = next(a, "call_result");
  await call(a, "call", { event: "ping_me", args: [7], timeout: 2000 });
  eq(await r1, ["ok", [{ pong: 7 }]], "answered");
  a.on("silent", () => {});
  const r2 = next(a, "call_result");
  await call(a, "call", { event: "silent", args: [], timeout: 200 });
  eq(await r2, ["timeout"], "timed out");
});

await check("blocking call() from a task: answered and timing out", async (conn) => {
  const a = await conn();
  a.on("q", (x, cb) => cb(x + 1));
  const r1 = next(a, "task_call_result");
  await call(a, "task_call", { event: "q", args: [1], timeout: 2000 });
  eq(await r1, ["ok", [2]], "answered");
  a.on("silent", () => {});
  const r2 = next(a, "task_call_result");
  await call(a, "task_call", { event: "silent", args: [], timeout: 200 });
  eq(await r2, ["timeout"], "timed out");
});

await check("server disconnect of another sid; reasons reach on_disconnect", async (conn) => {
  const a = await conn(), b = await conn();
  const bsid = b.id;
  const gone = next(b, "disconnect");
  eq(await call(a, "kick", { sid: bsid }), true, "kick");
  eq((await gone)[0], "io server disconnect", "client reason");
  await sleep(100);
  eq(await call(a, "reason", bsid), "server disconnect", "server-side reason");
  const c = await conn(); const csid = c.id;
  c.disconnect();
  await sleep(200);
  eq(await call(a, "reason", csid), "client disconnect", "client disconnect reason");
});

await check("disconnect the whole client (every namespace)", async (conn) => {
  const a = await conn();
  const m = a.io;  // same manager: a second namespace on one connection
  const other = m.socket("/other");
  await new Promise((r) => other.once("connect", r));
  const g1 = next(a, "disconnect"), g2 = next(other, "disconnect");
  a.emit("kick", { whole: true });    // no ack: the client is gone first
  const [r1] = await g1, [r2] = await g2;
  assert(r1 === "io server disconnect" || r1 === "transport close", `main reason ${r1}`);
  assert(r2 === "io server disconnect" || r2 === "transport close", `other reason ${r2}`);
  other.disconnect();
});

await check("catch-all events and namespaces; pattern namespace", async (conn) => {
  const a = await conn();
  eq(await call(a, "whatever", 1, "two"), ["any", "whatever", "/", 1, "two"], "catch-all event");
  const z = await conn("/zzz");
  eq(await call(z, "hi"), ["any", "hi", "/zzz", ], "catch-all namespace");
  const r = await conn("/rooms/kitchen");
  eq(r.nsp, "/rooms/kitchen", "client namespace");
  eq(await call(r, "hey", 3), ["any", "hey", "/rooms/kitchen", 3], "pattern namespace");
  eq(await call(r, "join", "k"), [r.id, "k"], "pattern nsp handlers");
});

await check("sessions kept across events, separate per namespace, gone after reconnect", async (conn) => {
  const a = await conn();
  eq(await call(a, "sess_set", { user: "ann" }), { user: "ann" }, "set");
  eq(await call(a, "sess_set", { n: 2 }), { user: "ann", n: 2 }, "merge");
  eq(await call(a, "sess_get"), { user: "ann", n: 2 }, "get");
  const o = await conn("/zzz");
  eq(await call(o, "sess_get"), {}, "other namespace");
  a.disconnect();
  const b = await conn();
  eq(await call(b, "sess_get"), {}, "new socket");
});

// Deferred acks (issue 18): the handler returns at once, the ack comes later.
await check("deferred ack answered from a timer reaches emitWithAck, once", async (conn) => {
  const a = await conn();
  const again = next(a, "defer_again");
  eq(await call(a, "defer", { via: "timer", ms: 150, args: ["late", { n: 1 }] }), "late",
     "first ack argument");
  eq(await again, [-1015], "a second answer of the token is refused with SIO_ERR_ANSWERED");
});

await check("deferred ack answered from a background task", async (conn) => {
  const a = await conn();
  const r = await a.timeout(3000).emitWithAck("defer", { via: "task", ms: 100, args: [1, 2] });
  eq(r, 1, "ack");
});

await check("deferred ack answered in an ack callback (cb(await emitWithAck)), with the session", async (conn) => {
  const a = await conn();
  await call(a, "sess_set", { user: "ann" });
  a.on("question", (x, cb) => cb(x * 2));
  const r = await new Promise((res) => a.emit("defer_call", { event: "question", args: [21] },
                                               (...args) => res(args)));
  eq(r, [[42], { user: "ann" }], "ack arguments: [the client's answer, its session]");
});

await check("a kept token is released when its socket leaves", async (conn) => {
  const a = await conn(), b = await conn();
  const tok = next(a, "token");
  a.emit("defer_keep", () => {});
  const [token] = await tok;
  assert(Number.isInteger(token) && token > 0, `token ${token}`);
  const sid = a.id;
  a.disconnect();
  // wait until the worker has seen the disconnect (on_disconnect recorded it)
  while ((await call(b, "reason", sid)) === null) await sleep(20);
  eq(await call(b, "answer", { token, args: [1] }), -1015, "answer after the disconnect");
});

// HTTP compression: polling over fetch() (Node's fetch sends Accept-Encoding
// and decodes gzip/deflate; the default XHR transport of Node sends none).
// A wrapped fetch records each response's Content-Encoding.
const seenEnc = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (...a) => {
  const r = await realFetch(...a);
  seenEnc.push(r.headers.get("content-encoding"));
  return r;
};
for (const enc of ["gzip", "deflate"]) {
  await check(`${enc} polling response (4 KB echo) decoded by the JS client`, async (conn) => {
    seenEnc.length = 0;
    const a = await conn("/", { transports: [Fetch], upgrade: false,
                                extraHeaders: { "Accept-Encoding": enc } });
    const big = "é✓ sio ".repeat(700).slice(0, 4096);
    eq(await call(a, "echo", big), ["any", "echo", "/", big], "echo");
    eq(a.io.engine.transport.name, "polling", "transport");
    assert(seenEnc.includes(enc), `no ${enc} response among ${JSON.stringify(seenEnc)}`);
  });
}
globalThis.fetch = realFetch;

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

// chat_client.mjs: the rooms of plugins/chat end to end with socket.io-client
// 4.x against `sio server --plugin chat.so` (plugins/chat/chat.c lists the
// events).
//
//   node chat_client.mjs --url http://127.0.0.1:18012
//
// Prints "ok - name" / "not ok - name: reason", then "N passed, N failed".
import { io } from "socket.io-client";
import { isDeepStrictEqual, inspect } from "node:util";

let url = "http://127.0.0.1:18012";
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--url") url = argv[++i];
  else { console.error(`chat_client: unknown argument ${argv[i]}`); process.exit(2); }
}

let passed = 0, failed = 0;
const show = (x) => inspect(x, { depth: 6, breakLength: Infinity });
class CheckError extends Error {}
function eq(a, e, what) {
  if (!isDeepStrictEqual(a, e)) throw new CheckError(`${what}: expected ${show(e)}, got ${show(a)}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function check(name, fn, timeoutMs = 5000) {
  const socks = [];
  const conn = async () => {
    const s = io(url, { forceNew: true, transports: ["websocket"], reconnection: false });
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
function collect(s, ev) { const got = []; s.on(ev, (...a) => got.push(a)); return got; }

// a, b in r1; c in no room.
async function three(conn) {
  const [a, b, c] = [await conn(), await conn(), await conn()];
  const chat = [collect(a, "chat"), collect(b, "chat"), collect(c, "chat")];
  const joined = [collect(a, "joined"), collect(b, "joined"), collect(c, "joined")];
  eq(await call(a, "join", "r1"), true, "a join ack");
  eq(await call(b, "join", "r1"), true, "b join ack");
  return { a, b, c, chat, joined };
}

await check("join acks true and `joined` reaches the room only", async (conn) => {
  const { a, b, joined } = await three(conn);
  await sleep(200);
  eq(joined[0], [[{ room: "r1", sid: a.id }], [{ room: "r1", sid: b.id }]], "a got");
  eq(joined[1], [[{ room: "r1", sid: b.id }]], "b got");
  eq(joined[2], [], "c got");
});

await check("say to r1 reaches the other member only (not the sender, not outsiders)", async (conn) => {
  const { a, chat } = await three(conn);
  eq(await call(a, "say", { room: "r1", text: "hi r1" }), true, "say ack");
  await sleep(300);
  eq(chat[0], [], "sender");
  eq(chat[1], [["hi r1", "r1"]], "other member");
  eq(chat[2], [], "outsider");
});

await check("rooms acks the own sid and r1", async (conn) => {
  const { a, c } = await three(conn);
  eq(await call(a, "rooms"), [a.id, "r1"], "a rooms");
  eq(await call(c, "rooms"), [c.id], "c rooms");
});

await check("leave acks true; a left member gets no more say", async (conn) => {
  const { a, b, chat } = await three(conn);
  eq(await call(b, "leave", "r1"), true, "leave ack");
  eq(await call(b, "rooms"), [b.id], "b rooms after leave");
  eq(await call(a, "say", { room: "r1", text: "anyone?" }), true, "say ack");
  await sleep(300);
  eq(chat[1], [], "b after leave");
});

await check("bad arguments ack false", async (conn) => {
  const a = await conn();
  eq(await call(a, "join", ""), false, "join ''");
  eq(await call(a, "join", 5), false, "join 5");
  eq(await call(a, "say", { text: "no room" }), false, "say without room");
});

await check("plain chat still reaches all three, the sender included", async (conn) => {
  const { a, chat } = await three(conn);
  a.emit("chat", "hello all");
  await sleep(300);
  for (let i = 0; i < 3; i++) eq(chat[i], [["hello all"]], `client ${i}`);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

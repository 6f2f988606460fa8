// soak_client.mjs: a socket.io-client 4.x process of `tools/dev.sh soak`,
// the JS counterpart of soak_client.py (same sessions against demo4.so).
//
//   node tests/reliability/soak_client.mjs --url URL --mode polling|websocket|upgrade|churn --seconds N
//
// The last stdout line is a JSON object of counts; exit 1 when a session
// failed or an ack was missing or wrong.
import { createRequire } from "node:module";
import { isDeepStrictEqual } from "node:util";

// socket.io-client is installed under tests/interop (its package.json)
const require = createRequire(new URL("../interop/package.json", import.meta.url));
const { io } = require("socket.io-client");

let url = "", mode = "", seconds = 0, seed = 1;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--url") url = argv[++i];
  else if (argv[i] === "--mode") mode = argv[++i];
  else if (argv[i] === "--seconds") seconds = Number(argv[++i]);
  else if (argv[i] === "--seed") seed = Number(argv[++i]);
  else { console.error(`soak_client: unknown argument ${argv[i]}`); process.exit(2); }
}
const TRANSPORTS = { polling: ["polling"], websocket: ["websocket"], upgrade: ["polling", "websocket"] };
if (!url || !(mode in TRANSPORTS || mode === "churn") || !(seconds > 0)) {
  console.error("usage: soak_client.mjs --url URL --mode polling|websocket|upgrade|churn --seconds N");
  process.exit(2);
}

// a small seeded generator, so that two runs with one seed do the same
let state = seed >>> 0 || 1;
const rand = (n) => { state = (state * 1103515245 + 12345) >>> 0; return (state >>> 8) % n; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const stats = { mode, client: "js", sessions: 0, acks: 0, wrong_acks: 0, ack_timeouts: 0,
                room_msgs: 0, send_msgs: 0, errors: 0 };
const end = Date.now() + seconds * 1000;

function connect(transports) {
  return new Promise((resolve, reject) => {
    const s = io(url, { forceNew: true, transports, reconnection: false, timeout: 10000 });
    s.on("room_msg", () => stats.room_msgs++);
    s.on("message", () => stats.send_msgs++);
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => { s.close(); reject(e); });
  });
}

let n = 0;
while (Date.now() < end) {
  n++;
  const m = mode === "churn" ? ["polling", "websocket", "upgrade"][n % 3] : mode;
  let s = null;
  try {
    s = await connect(TRANSPORTS[m]);
    stats.sessions++;
    const room = `room${rand(4)}`;
    await s.timeout(10000).emitWithAck("join", room);
    const count = mode === "churn" ? rand(4) : 20 + rand(180);
    for (let i = 0; i < count && Date.now() < end; i++) {
      const data = { i, pad: "x".repeat([10, 1000, 20000][rand(3)]) };
      let r;
      try {
        r = await s.timeout(10000).emitWithAck("echo", data);
      } catch {
        stats.ack_timeouts++;
        continue;
      }
      // demo4 acks any other event with ["any", event, namespace, args...]
      if (isDeepStrictEqual(r, ["any", "echo", "/", data])) stats.acks++;
      else stats.wrong_acks++;
      if (i % 10 === 0) s.emit("emit", { to: room, event: "room_msg", args: [i] });
      if (i % 50 === 0) s.emit("send", [i]);
      await sleep(5);
    }
    s.disconnect();
  } catch (e) {
    stats.errors++;
    console.error(`session ${n} (${m}): ${e && e.message}`);
    if (s) s.close();
    await sleep(500);
  }
}
console.log(JSON.stringify(stats));
process.exit(stats.errors || stats.ack_timeouts || stats.wrong_acks ? 1 : 0);

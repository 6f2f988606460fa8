// tls_client.mjs: socket.io-client 4.x over https polling or wss, the CA
// given as the `ca` option (tests/e2e/tls.sh).
//
//   node tls_client.mjs URL CA.pem TRANSPORT [WAITFILE]
//
// Connects, calls "echo" and prints "ack TRANSPORT VALUE". With WAITFILE it
// then prints "ready", waits until WAITFILE exists, calls "echo" again on
// the same connection and prints "ack2 TRANSPORT VALUE same-connection".
// Exits 1 with "error ..." on a connect error or a disconnect.
import { createRequire } from "node:module";
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";

// socket.io-client from tests/interop/node_modules (npm install there)
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const { io } = createRequire(path.join(ROOT, "tests/interop/package.json"))("socket.io-client");

const [url, caFile, transport, waitFile] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const s = io(url, {
  forceNew: true, reconnection: false, transports: [transport],
  ca: readFileSync(caFile), timeout: 10000,
});
s.on("connect_error", (e) => { console.log(`error connect: ${e.message}`); process.exit(1); });
s.on("disconnect", (r) => { console.log(`error disconnect: ${r}`); process.exit(1); });
s.on("connect", async () => {
  const id = s.id;
  const a = await s.timeout(10000).emitWithAck("echo", "hi");
  console.log(`ack ${s.io.engine.transport.name} ${a}`);
  if (waitFile) {
    console.log("ready");
    while (!existsSync(waitFile)) await sleep(50);
    const b = await s.timeout(10000).emitWithAck("echo", "again");
    console.log(`ack2 ${s.io.engine.transport.name} ${b} ${s.id === id ? "same-connection" : "new-connection"}`);
  }
  s.off("disconnect");
  s.close();
  process.exit(0);
});

#!/usr/bin/env node
// js-server.js: the npm socket.io 4.x server with the echo plugin's handlers,
// for tools/bench/compare.sh (tests/interop/ref-server.js without the
// interop-only options). Node modules come from tests/interop/node_modules.
//
//   node js-server.js [--host 127.0.0.1] [--port 5000] [--redis redis://HOST:PORT]
//                     [--tls-cert CERT.pem --tls-key KEY.pem]
//
// --tls-cert/--tls-key: serve https/wss (node's https module), for the TLS
// rows of compare.sh.
// --redis: with @socket.io/redis-adapter (classic), for a fleet of servers
// on one Redis (tools/bench/fleet.sh).
//
// Namespace "/": an event with an ack request is acked with its own
// arguments; "bcast" goes to the whole namespace (sender included);
// "message" comes back as "message-back"; any other event comes back under
// its own name. On connect it emits "auth" with the auth object.
// Prints "listening on http://HOST:PORT/socket.io/"; stops on SIGTERM.
"use strict";
const path = require("path");
const http = require("http");
const https = require("https");
const fs = require("fs");
const { Server } = require(path.join(__dirname, "../../../tests/interop/node_modules/socket.io"));

let host = "127.0.0.1", port = 5000, redisUrl = null, tlsCert = null, tlsKey = null;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === "--host") host = process.argv[++i];
  else if (process.argv[i] === "--port") port = Number(process.argv[++i]);
  else if (process.argv[i] === "--redis") redisUrl = process.argv[++i];
  else if (process.argv[i] === "--tls-cert") tlsCert = process.argv[++i];
  else if (process.argv[i] === "--tls-key") tlsKey = process.argv[++i];
  else { console.error(`js-server: unknown argument ${process.argv[i]}`); process.exit(2); }
}

const httpServer = tlsCert
  ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) })
  : http.createServer();
const io = new Server(httpServer, { maxHttpBufferSize: 1e6, transports: ["polling", "websocket"] });
const nsp = io.of("/");
nsp.on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth || {});
  socket.onAny((event, ...args) => {
    const ack = args.length && typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (event === "bcast") nsp.emit("bcast", ...args);
    else if (event === "message") socket.emit("message-back", ...args);
    else if (!ack) socket.emit(event, ...args);
    if (ack) ack(...args);
  });
});
async function listen() {
  if (redisUrl) {
    const mods = path.join(__dirname, "../../../tests/interop/node_modules");
    const { createClient } = require(path.join(mods, "redis"));
    const { createAdapter } = require(path.join(mods, "@socket.io/redis-adapter"));
    const pub = createClient({ url: redisUrl }), sub = pub.duplicate();
    await Promise.all([pub.connect(), sub.connect()]);
    io.adapter(createAdapter(pub, sub));
  }
  httpServer.listen(port, host, () => {
    process.stdout.write(`listening on ${tlsCert ? "https" : "http"}://${host}:` +
                         `${httpServer.address().port}/socket.io/\n`);
  });
}
listen();
function stop() { io.close(); httpServer.close(); setTimeout(() => process.exit(0), 200).unref(); }
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

#!/usr/bin/env node
// peer-server.js: extra server behaviours the client tests need that the
// shared tests/interop/ref-server.js does not have (it uses that
// directory's node_modules).
// Usage: node peer-server.js [--port P] [--tls DIR [--require-client-cert]
//                            [--server-cert NAME]]
// Prints "listening on http://127.0.0.1:PORT/socket.io/" when ready (https
// with --tls: DIR holds server.pem, server.key (or NAME.pem/.key) and ca.pem; with
// --require-client-cert only clients with a certificate signed by ca.pem
// get through the TLS handshake).
//   "disconnect-me"   -> the server disconnects this socket
//   "ask-me" (args)   -> server emits "question" with args and an ack
//                        callback; the client's ack comes back as "answer"
//   with an ack       -> acked with its own arguments
"use strict";
const path = require("path");
const fs = require("fs");
const http = require("http");
const https = require("https");
const { Server } = require(path.join(__dirname, "../../interop/node_modules/socket.io"));

let port = Number(process.env.PORT || 0);
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++)
  if (argv[i] === "--port") port = Number(argv[++i]);
const tlsIdx = argv.indexOf("--tls");
const tlsDir = tlsIdx >= 0 ? argv[tlsIdx + 1] : null;
const requireCert = argv.includes("--require-client-cert");
const nameIdx = argv.indexOf("--server-cert");
const certName = nameIdx >= 0 ? argv[nameIdx + 1] : "server";

const httpServer = tlsDir
  ? https.createServer({
      key: fs.readFileSync(path.join(tlsDir, certName + ".key")),
      cert: fs.readFileSync(path.join(tlsDir, certName + ".pem")),
      ca: fs.readFileSync(path.join(tlsDir, "ca.pem")),
      requestCert: requireCert,
      rejectUnauthorized: requireCert,
    })
  : http.createServer();
const io = new Server(httpServer, {});
io.on("connection", (socket) => {
  socket.onAny((event, ...args) => {
    const ack = args.length && typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) return ack(...args);
    if (event === "disconnect-me") return socket.disconnect(true);
    if (event === "ask-me")
      return socket.emit("question", ...args, (...answer) => socket.emit("answer", ...answer));
  });
});
httpServer.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening on ${tlsDir ? "https" : "http"}://127.0.0.1:${httpServer.address().port}/socket.io/\n`);
});
const stop = () => { io.close(); httpServer.close(); setTimeout(() => process.exit(0), 100).unref(); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

#!/usr/bin/env node
// peer-server.js: extra server behaviours the client tests need that the
// shared tests/interop/ref-server.js does not have (it uses that
// directory's node_modules).
// Usage: node peer-server.js [--port P] [--tls DIR [--require-client-cert]
//                            [--server-cert NAME]] [--sticky]
// Prints "listening on http://127.0.0.1:PORT/socket.io/" when ready (https
// with --tls: DIR holds server.pem, server.key (or NAME.pem/.key) and ca.pem; with
// --require-client-cert only clients with a certificate signed by ca.pem
// get through the TLS handshake).
//   "disconnect-me"   -> the server disconnects this socket
//   "ask-me" (args)   -> server emits "question" with args and an ack
//                        callback; the client's ack comes back as "answer"
//   with an ack       -> acked with its own arguments
// --sticky: acts as a sticky-session load balancer: the handshake sets the
// cookies "lb=node-7" and "other=x"; any later request (polling or the
// WebSocket upgrade) without "lb=node-7" in its Cookie header gets 400
// "sticky cookie missing"; "cookies" (ack) answers with the Cookie header
// of the last request after the handshake (a poll or the upgrade).
// --h2 (with --tls): node's http2.createSecureServer with allowHTTP1, so
// ALPN offers h2 and http/1.1; "http" (ack) answers {version: the HTTP
// version of the last polling request, connections: TCP connections
// accepted so far, header: its X-Sio-Test header}.
// --stall: no Engine.IO request is ever answered (the client's timeouts).
"use strict";
const path = require("path");
const fs = require("fs");
const http = require("http");
const http2 = require("http2");
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

const h2 = argv.includes("--h2");
const httpServer = tlsDir && h2
  ? http2.createSecureServer({
      key: fs.readFileSync(path.join(tlsDir, certName + ".key")),
      cert: fs.readFileSync(path.join(tlsDir, certName + ".pem")),
      allowHTTP1: true,
    })
  : tlsDir
  ? https.createServer({
      key: fs.readFileSync(path.join(tlsDir, certName + ".key")),
      cert: fs.readFileSync(path.join(tlsDir, certName + ".pem")),
      ca: fs.readFileSync(path.join(tlsDir, "ca.pem")),
      requestCert: requireCert,
      rejectUnauthorized: requireCert,
    })
  : http.createServer();
const io = new Server(httpServer, {});
const lastCookie = new Map();   // engine sid -> Cookie of its last request
const lastReq = new Map();      // engine sid -> {version, header} of its last polling request
let connections = 0;
if (argv.includes("--stall"))
  io.engine.use(() => {});
httpServer.on(tlsDir ? "secureConnection" : "connection", () => connections++);
io.engine.use((req, res, next) => {
  const u = new URL(req.url, "http://x");
  const sid = u.searchParams.get("sid");
  if (sid && u.searchParams.get("transport") === "polling")
    lastReq.set(sid, { version: req.httpVersion, header: req.headers["x-sio-test"] || null });
  next();
});
if (argv.includes("--sticky"))
  io.engine.use((req, res, next) => {
    const sid = new URL(req.url, "http://x").searchParams.get("sid");
    if (!sid) {
      res.setHeader("Set-Cookie", ["lb=node-7; Path=/; HttpOnly", "other=x; Path=/"]);
      return next();
    }
    const jar = (req.headers.cookie || "").split(/;\s*/);
    if (!jar.includes("lb=node-7")) {
      res.writeHead(400, { "Content-Type": "text/plain" });
      return res.end("sticky cookie missing");
    }
    lastCookie.set(sid, req.headers.cookie);
    next();
  });
io.on("connection", (socket) => {
  socket.onAny((event, ...args) => {
    const ack = args.length && typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack && event === "cookies") return ack(lastCookie.get(socket.conn.id) || "");
    if (ack && event === "http")
      return ack({ ...(lastReq.get(socket.conn.id) || {}), connections });
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

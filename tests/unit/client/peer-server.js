#!/usr/bin/env node
// peer-server.js: extra server behaviours the client tests need that the
// shared tests/interop/ref-server.js does not have (it uses that
// directory's node_modules). Usage: node peer-server.js [--port P]
// Prints "listening on http://127.0.0.1:PORT/socket.io/" when ready.
//   "disconnect-me"   -> the server disconnects this socket
//   "ask-me" (args)   -> server emits "question" with args and an ack
//                        callback; the client's ack comes back as "answer"
//   with an ack       -> acked with its own arguments
"use strict";
const path = require("path");
const http = require("http");
const { Server } = require(path.join(__dirname, "../../interop/node_modules/socket.io"));

let port = Number(process.env.PORT || 0);
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++)
  if (argv[i] === "--port") port = Number(argv[++i]);

const httpServer = http.createServer();
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
  process.stdout.write(`listening on http://127.0.0.1:${httpServer.address().port}/socket.io/\n`);
});
const stop = () => { io.close(); httpServer.close(); setTimeout(() => process.exit(0), 100).unref(); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

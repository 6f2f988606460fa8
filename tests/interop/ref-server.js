#!/usr/bin/env node
// ref-server.js: the JS reference server for the interop tests.
//
// It runs the official socket.io 4.x server with handlers that behave like
// sio's echo plugin, and takes the same command line as `sio server`:
//
//   node ref-server.js [server] [--plugin X] [--host 127.0.0.1] [--port P]
//        [--path /socket.io/] [--engineio-path /engine.io/]
//        [--ping-interval MS] [--ping-timeout MS] [--max-payload BYTES]
//        [--transports polling,websocket]
//
// Environment variables PORT, PING_INTERVAL, PING_TIMEOUT, MAX_PAYLOAD,
// TRANSPORTS are used when the flag is absent. When ready it prints
// "listening on http://HOST:PORT/socket.io/" and it stops on SIGTERM/SIGINT.
//
// Echo semantics (namespaces "/" and "/custom"):
//   connect: auth has key "refuse" -> refused with that value as the error
//            data (a string value becomes the error message, like sio_refuse);
//            with a key "data" too, "refuse" is the message and "data" the
//            error's data (like sio_refuse_with);
//            otherwise accepted and "auth" is emitted with the auth object.
//   any event with an ack request -> acked with its own arguments
//   "message"  -> "message-back" to the sender, same args
//   "bcast"    -> emitted to the whole namespace (sender included)
//   other      -> emitted back to the sender under its own name
// On --engineio-path a raw Engine.IO server echoes every message.
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function parseArgs(argv) {
  const o = {
    host: "127.0.0.1",
    port: Number(process.env.PORT || 0),
    path: "/socket.io/",
    engineioPath: null,
    pingInterval: process.env.PING_INTERVAL ? Number(process.env.PING_INTERVAL) : 25000,
    pingTimeout: process.env.PING_TIMEOUT ? Number(process.env.PING_TIMEOUT) : 20000,
    maxPayload: process.env.MAX_PAYLOAD ? Number(process.env.MAX_PAYLOAD) : 1e6,
    transports: (process.env.TRANSPORTS || "polling,websocket").split(","),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const key = eq > 0 ? a.slice(0, eq) : a;
    const val = () => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
    switch (key) {
      case "server": break;
      case "--plugin": val(); break;
      case "--host": o.host = val(); break;
      case "--port": o.port = Number(val()); break;
      case "--path": o.path = val(); break;
      case "--engineio-path": o.engineioPath = val(); break;
      case "--ping-interval": o.pingInterval = Number(val()); break;
      case "--ping-timeout": o.pingTimeout = Number(val()); break;
      case "--max-payload": o.maxPayload = Number(val()); break;
      case "--transports": o.transports = val().split(","); break;
      case "--io-threads": case "--log-level": val(); break;
      // Admin UI: instrument() of npm @socket.io/admin-ui, credentials from
      // SIO_ADMIN_USER / SIO_ADMIN_PASSWORD as for sio
      case "--admin": o.admin = true; break;
      case "--admin-namespace": o.adminNamespace = val(); break;
      case "--admin-readonly": o.adminReadonly = true; break;
      case "--admin-no-auth": o.adminNoAuth = true; break;
      case "--admin-mode": o.adminMode = val(); break;
      default:
        console.error(`ref-server: unknown argument ${a}`);
        process.exit(2);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const httpServer = http.createServer();

const io = new Server(httpServer, {
  path: opts.path.replace(/\/$/, ""),
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  maxHttpBufferSize: opts.maxPayload,
  transports: opts.transports,
});

function setup(nsp) {
  nsp.use((socket, next) => {
    const auth = socket.handshake.auth || {};
    if (auth && typeof auth === "object" && Object.prototype.hasOwnProperty.call(auth, "refuse")) {
      const v = auth.refuse;
      let err;
      if (typeof v === "string") {
        err = new Error(v);
        if (Object.prototype.hasOwnProperty.call(auth, "data")) err.data = auth.data;
      } else {
        err = new Error("Connection rejected by server");
        err.data = v;
      }
      return next(err);
    }
    next();
  });
  nsp.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth || {});
    socket.onAny((event, ...args) => {
      const ack = args.length && typeof args[args.length - 1] === "function" ? args.pop() : null;
      if (ack) {
        ack(...args);
        return;
      }
      if (event === "message") socket.emit("message-back", ...args);
      else if (event === "bcast") nsp.emit("bcast", ...args);
      else socket.emit(event, ...args);
    });
  });
}
setup(io.of("/"));
setup(io.of("/custom"));

if (opts.admin) {
  const { instrument } = require("@socket.io/admin-ui");
  const bcrypt = require("bcryptjs");
  const pass = process.env.SIO_ADMIN_PASSWORD || "";
  instrument(io, {
    namespaceName: opts.adminNamespace || "/admin",
    readonly: !!opts.adminReadonly,
    mode: opts.adminMode || "development",
    auth: opts.adminNoAuth ? false : {
      type: "basic",
      username: process.env.SIO_ADMIN_USER || "admin",
      password: /^\$2[aby]\$/.test(pass) ? pass : bcrypt.hashSync(pass, 4),
    },
  });
}

let eioServer = null;
if (opts.engineioPath) {
  const engine = require("engine.io");
  eioServer = engine.attach(httpServer, {
    path: opts.engineioPath.replace(/\/$/, ""),
    pingInterval: opts.pingInterval,
    pingTimeout: opts.pingTimeout,
    maxHttpBufferSize: opts.maxPayload,
    transports: opts.transports,
  });
  eioServer.on("connection", (socket) => {
    socket.on("message", (data) => socket.send(data));
  });
}

httpServer.listen(opts.port, opts.host, () => {
  const addr = httpServer.address();
  process.stdout.write(`listening on http://${opts.host}:${addr.port}${opts.path}\n`);
});

function stop() {
  io.close();
  if (eioServer) eioServer.close();
  httpServer.close();
  setTimeout(() => process.exit(0), 200).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

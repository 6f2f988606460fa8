// admin_client.mjs: logs in to the Admin UI namespace of a server as the
// Admin UI does, and checks every event and action of the protocol of npm
// @socket.io/admin-ui 0.5 (the JS server's instrument()).
//
//   node admin_client.mjs URL [--readonly] [--production] [--label NAME]
//                        [--second URL]
//
// URL is the server's base (http://127.0.0.1:PORT); credentials come from
// SIO_ADMIN_USER (default admin) and SIO_ADMIN_PASSWORD. --second URL: a
// second gateway of the same deployment: the test client connects there, so
// the admin socket only sees it through the bus, and the reconnect with
// the session id goes there too. The same script runs
// against sio and against ref-server.js --admin (the JS reference). Prints
// "ok - ..." / "not ok - ..." lines and "N passed, N failed"; exit 1 on a
// failure. Every wait is bounded.
import { io } from "socket.io-client";

const args = process.argv.slice(2);
const base = args[0];
const readonly = args.includes("--readonly");
const production = args.includes("--production");
const li = args.indexOf("--label");
const label = li > 0 ? args[li + 1] : "sio";
const si = args.indexOf("--second");
const clientBase = si > 0 ? args[si + 1] : base;
const user = process.env.SIO_ADMIN_USER || "admin";
const password = process.env.SIO_ADMIN_PASSWORD || "";
const NSP = "/admin";

let passed = 0, failed = 0;
function check(cond, what, detail) {
  if (cond) { passed++; console.log(`ok - ${label}: ${what}`); }
  else { failed++; console.log(`not ok - ${label}: ${what}${detail !== undefined ? " (" + JSON.stringify(detail) + ")" : ""}`); }
}

// A socket whose every event is logged, so a wait may look back.
function logged(sock) {
  sock.log = [];
  sock.waiters = [];
  sock.onAny((ev, ...a) => {
    sock.log.push([ev, ...a]);
    for (const w of [...sock.waiters]) if (w.test([ev, ...a])) w.done([ev, ...a]);
  });
  return sock;
}
// The first event (logged or to come) for which pred holds, or null after ms.
function waitFor(sock, ev, pred = () => true, ms = 4000) {
  const test = (e) => e[0] === ev && pred(...e.slice(1));
  const found = sock.log.find(test);
  if (found) return Promise.resolve(found);
  return new Promise((resolve) => {
    const w = { test, done: (e) => { clearTimeout(tm); sock.waiters.splice(sock.waiters.indexOf(w), 1); resolve(e); } };
    const tm = setTimeout(() => { sock.waiters.splice(sock.waiters.indexOf(w), 1); resolve(null); }, ms);
    sock.waiters.push(w);
  });
}
function connectResult(sock, ms = 5000) {
  return new Promise((resolve) => {
    const tm = setTimeout(() => resolve({ timeout: true }), ms);
    sock.once("connect", () => { clearTimeout(tm); resolve({ ok: true }); });
    sock.once("connect_error", (e) => { clearTimeout(tm); resolve({ error: e.message }); });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const opts = (auth) => ({ auth, reconnection: false, forceNew: true, timeout: 5000 });

async function main() {
  // wrong password: CONNECT_ERROR "invalid credentials"
  const bad = io(base + NSP, opts({ username: user, password: password + "x" }));
  const br = await connectResult(bad);
  check(br.error === "invalid credentials", "a wrong password gets CONNECT_ERROR 'invalid credentials'", br);
  bad.close();

  const admin = logged(io(base + NSP, opts({ username: user, password })));
  const ar = await connectResult(admin);
  check(ar.ok, "the right password connects", ar);
  if (!ar.ok) return;
  const session = await waitFor(admin, "session");
  check(session && typeof session[1] === "string" && session[1].length > 0, "a `session` event gives a session id", session);
  const config = await waitFor(admin, "config");
  const want = readonly ? [] : ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"];
  want.push("AGGREGATED_EVENTS");
  if (!production) want.push("ALL_EVENTS");
  check(config && JSON.stringify(config[1]) === JSON.stringify({ supportedFeatures: want }),
        "`config` lists the supported features", config && config[1]);
  if (!production) {
    const all = await waitFor(admin, "all_sockets");
    check(all && Array.isArray(all[1]) && all[1].some((s) => s.id === admin.id && s.nsp === NSP),
          "`all_sockets` lists the sockets (the admin socket included)", all && all[1].length);
  } else {
    await sleep(1000);
    check(!admin.log.some((e) => e[0] === "all_sockets"), "production mode sends no `all_sockets`");
  }
  const stats = await waitFor(admin, "server_stats", () => true, 5000);
  const st = stats && stats[1];
  check(st && typeof st.serverId === "string" && typeof st.hostname === "string" &&
        typeof st.pid === "number" && typeof st.uptime === "number" &&
        typeof st.clientsCount === "number" && typeof st.pollingClientsCount === "number" &&
        Array.isArray(st.aggregatedEvents) && Array.isArray(st.namespaces) &&
        st.namespaces.every((n) => typeof n.name === "string" && typeof n.socketsCount === "number"),
        "`server_stats` has serverId, hostname, pid, uptime, counts, aggregatedEvents, namespaces", st);

  // a client: polling first, then the upgrade
  const client = logged(io(clientBase, { reconnection: false, forceNew: true, transports: ["polling", "websocket"] }));
  const cr = await connectResult(client);
  check(cr.ok, "a test client connects", cr);
  const cid = client.id;
  if (!production) {
    const sc = await waitFor(admin, "socket_connected", (s) => s.id === cid);
    const s = sc && sc[1];
    check(s && s.nsp === "/" && typeof s.clientId === "string" &&
          (s.transport === "polling" || s.transport === "websocket") &&
          s.handshake && typeof s.handshake.address === "string" && s.handshake.headers &&
          s.handshake.query && s.handshake.query.EIO === "4" && typeof s.handshake.issued === "number" &&
          s.handshake.secure === false && typeof s.handshake.time === "string" &&
          typeof s.handshake.url === "string" && s.handshake.url.includes("EIO=4") &&
          s.handshake.xdomain === false && Array.isArray(s.rooms) && s.rooms.includes(cid) &&
          typeof sc[2] === "string" && !isNaN(Date.parse(sc[2])),
          "`socket_connected` describes the client (id, nsp, transport, handshake, rooms) with a date", sc);
    const rj = await waitFor(admin, "room_joined", (n, r, id) => n === "/" && r === cid && id === cid);
    check(rj, "`room_joined` for the client's own room");
    // the UI learns of the upgrade: a socket_updated, or (sio, when the
    // upgrade finished before the worker answered the CONNECT) a
    // socket_connected that already says websocket
    const up = s && s.transport === "websocket" ? [null, { nsp: "/" }]
      : await waitFor(admin, "socket_updated", (u) => u.id === cid && u.transport === "websocket");
    check(up && up[1].nsp === "/", "the admin learns that the client upgraded to websocket", up);
    client.emit("hello", 1, "two");
    const er = await waitFor(admin, "event_received", (n, id) => n === "/" && id === cid);
    check(er && JSON.stringify(er[3]) === JSON.stringify(["hello", 1, "two"]) && !isNaN(Date.parse(er[4])),
          "`event_received` has the client's event and arguments", er);
    client.emit("message", "m1");
    const es = await waitFor(admin, "event_sent", (n, id, a) => n === "/" && id === cid && a[0] === "message-back");
    check(es && JSON.stringify(es[3]) === JSON.stringify(["message-back", "m1"]),
          "`event_sent` has the server's emit to the client", es);
  } else {
    client.emit("hello", 1);
    await sleep(1500);
    check(!admin.log.some((e) => ["socket_connected", "event_received", "room_joined"].includes(e[0])),
          "production mode sends no per-socket events", admin.log.map((e) => e[0]));
  }

  // actions
  admin.emit("join", "/", "room1", cid);
  if (readonly || production) {
    await sleep(1000);
  }
  if (!readonly && !production) {
    const rj = await waitFor(admin, "room_joined", (n, r, id) => n === "/" && r === "room1" && id === cid);
    check(rj, "action `join` puts the client in room1 (`room_joined`)");
  }
  admin.emit("emit", "/", "room1", "notice", "hi", 2);
  const got = await waitFor(client, "notice", () => true, readonly ? 1000 : 4000);
  if (readonly)
    check(!got, "readonly: action `join` + `emit` do nothing (the client got no event)");
  else
    check(got && JSON.stringify(got.slice(1)) === JSON.stringify(["hi", 2]),
          "action `emit` to room1 reaches the client", got);
  if (!readonly && !production) {
    admin.emit("leave", "/", "room1", cid);
    const rl = await waitFor(admin, "room_left", (n, r, id) => n === "/" && r === "room1" && id === cid);
    check(rl, "action `leave` takes the client out of room1 (`room_left`)");
  }

  // a later reconnect with the session id
  if (session) {
    // with --second: on the other gateway, which never saw the login
    const again = io(clientBase + NSP, opts({ sessionId: session[1] }));
    const rr = await connectResult(again);
    check(rr.ok, "reconnecting with auth.sessionId succeeds", rr);
    again.close();
    const forged = io(base + NSP, opts({ sessionId: "0123456789abcdef0123456789abcdef0123456789abcdef" }));
    const fr = await connectResult(forged);
    check(fr.error === "invalid credentials", "a made-up sessionId is refused", fr);
    forged.close();
  }

  // _disconnect
  const discP = new Promise((resolve) => {
    const tm = setTimeout(() => resolve(null), readonly ? 1000 : 4000);
    client.once("disconnect", (r) => { clearTimeout(tm); resolve(r); });
  });
  admin.emit("_disconnect", "/", false, cid);
  const reason = await discP;
  if (readonly) {
    check(reason === null, "readonly: action `_disconnect` does nothing", reason);
  } else {
    check(reason === "io server disconnect", "action `_disconnect` disconnects the client (io server disconnect)", reason);
    if (!production) {
      const sd = await waitFor(admin, "socket_disconnected", (n, id) => n === "/" && id === cid);
      check(sd && sd[3] === "server namespace disconnect" && !isNaN(Date.parse(sd[4])),
            "`socket_disconnected` with the reason", sd);
    }
  }
  client.close();
  admin.close();
}

const guard = setTimeout(() => { console.log(`not ok - ${label}: the script timed out`); failed++; done(); }, 60000);
function done() {
  clearTimeout(guard);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main().then(done, (e) => { console.log(`not ok - ${label}: ${e.stack}`); failed++; done(); });

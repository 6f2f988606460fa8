// node_adapter_test.mjs: a mixed fleet of a JS socket.io 4.x server with
// @socket.io/redis-adapter (classic) and a sio server whose bridge speaks
// the adapter's format (--bridge 'redis://...?format=node-adapter&publish=1'),
// on one redis-server (issue 19; docs/BRIDGES.md "Node adapter fleets").
//
// Two clients on each server: broadcasts from either side reach all four
// exactly once, room broadcasts reach the members only, room requests
// (socketsJoin, disconnectSockets) cross over, and the JS requests that
// wait for answers (fetchSockets, allRooms, serverSideEmit with an ack,
// broadcast with acks) return: sio is not counted as a server.
//
// Prints "ok - ..." lines and "N passed, N failed" last.
// usage: node tests/interop/node_adapter_test.mjs [BUILD_DIR]
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { io as connect } from 'socket.io-client';

const here = path.dirname(fileURLToPath(import.meta.url));
const build = path.resolve(process.argv[2] || path.join(here, '..', '..', 'build'));
const SIO = path.join(build, 'tools', 'sio');
const CHAT = path.join(build, 'plugins', 'chat', 'chat.so');
let passed = 0, failed = 0;
const procs = [];
const ok = (cond, what) => {
  if (cond) { passed++; console.log('ok - ' + what); } else { failed++; console.log('not ok - ' + what); }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function waitFor(pred, ms = 20000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await sleep(50);
  }
  return false;
}

// a guard against a hang: a JS request that waited for sio would wait the
// adapter's requestsTimeout (set to 10 minutes below), far beyond this
function guard(p, ms = 60000) {
  return Promise.race([p.then((v) => ({ v }), (e) => ({ e })),
                       sleep(ms).then(() => ({ hung: true }))]);
}

class Client {
  constructor(url, name) {
    this.name = name;
    this.got = [];
    this.waiters = [];
    this.s = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    this.s.onAny((ev, ...args) => {
      this.got.push([ev, args]);
      for (const w of this.waiters.slice()) w();
    });
    this.disconnected = new Promise((r) => this.s.on('disconnect', r));
  }
  ready() {
    return new Promise((resolve, reject) => {
      if (this.s.connected) return resolve();
      this.s.once('connect', resolve);
      this.s.once('connect_error', reject);
    });
  }
  get sid() { return this.s.id; }
  count(ev, pred = () => true) { return this.got.filter(([e, a]) => e === ev && pred(a)).length; }
  // wait until an event matching has arrived (it stays in got)
  wait(ev, pred = () => true, ms = 10000) {
    return new Promise((resolve) => {
      const check = () => {
        if (this.count(ev, pred) > 0) { done(); resolve(true); }
      };
      const t = setTimeout(() => { done(); resolve(false); }, ms);
      const done = () => { clearTimeout(t); this.waiters = this.waiters.filter((w) => w !== check); };
      this.waiters.push(check);
      check();
    });
  }
  call(ev, arg) { return this.s.timeout(10000).emitWithAck(ev, arg); }
}

const eqArgs = (want) => (a) => JSON.stringify(a) === JSON.stringify(want);

async function main() {
  // redis-server
  const rport = await freePort();
  const rp = spawn('redis-server', ['--port', String(rport), '--bind', '127.0.0.1', '--save', '',
                                    '--appendonly', 'no'], { stdio: 'ignore' });
  procs.push(rp);
  const redisUrl = `redis://127.0.0.1:${rport}`;
  const admin = createClient({ url: redisUrl });
  admin.on('error', () => {});
  await waitFor(async () => { try { await admin.connect(); return true; } catch { return false; } });

  // the JS server: socket.io 4 + @socket.io/redis-adapter, the chat plugin's events
  const pub = createClient({ url: redisUrl }), sub = pub.duplicate();
  pub.on('error', () => {}); sub.on('error', () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const http = createServer();
  const jsio = new Server(http, { adapter: createAdapter(pub, sub, { requestsTimeout: 600000 }) });
  const jsPort = await freePort();
  await new Promise((r) => http.listen(jsPort, '127.0.0.1', r));
  let serverSide = [];
  jsio.on('serverSideEmit-test', (...a) => serverSide.push(a));
  jsio.on('connection', (s) => {
    s.on('chat', (text) => jsio.emit('chat', text));
    s.on('join', (room, ack) => { s.join(room); ack(true); });
    s.on('say', ({ room, text }) => s.to(room).emit('chat', text, room));
  });

  // the sio server
  const sport = await freePort();
  const logf = path.join(os.tmpdir(), `sio-node-adapter-${process.pid}.log`);
  const logfd = fs.openSync(logf, 'w');
  const sp = spawn(SIO, ['server', '--plugin', CHAT, '--host', '127.0.0.1', '--port', String(sport),
                         '--bridge', `${redisUrl}?format=node-adapter&publish=1`, '--log-level', 'info'],
                   { stdio: ['ignore', 'pipe', logfd] });
  procs.push(sp);
  const listening = await new Promise((resolve) => {
    let buf = '';
    sp.stdout.on('data', (d) => { buf += d; if (buf.includes('listening')) resolve(true); });
    sp.on('exit', () => resolve(false));
  });
  ok(listening, 'sio server with --bridge ...?format=node-adapter&publish=1 started');

  const j1 = new Client(`http://127.0.0.1:${jsPort}`, 'j1'), j2 = new Client(`http://127.0.0.1:${jsPort}`, 'j2');
  const s1 = new Client(`http://127.0.0.1:${sport}`, 's1'), s2 = new Client(`http://127.0.0.1:${sport}`, 's2');
  const everyone = [j1, j2, s1, s2];
  await Promise.all(everyone.map((c) => c.ready()));

  // the bridge subscribes and its publisher's SUB joins the hub: warm up both ways
  let n = 0;
  const warm = async (from, to) => waitFor(async () => {
    const tag = `warm-${n++}`;
    from.s.emit('chat', tag);
    return to.wait('chat', eqArgs([tag]), 500);
  }, 30000);
  ok(await warm(s1, j1) && await warm(j1, s1), 'broadcasts pass both ways (warm-up)');
  const reset = async () => {
    // a broadcast from each side seen by all: what was sent before has arrived
    for (const from of [j1, s1]) {
      const tag = `settle-${n++}`;
      from.s.emit('chat', tag);
      for (const c of everyone) await c.wait('chat', eqArgs([tag]));
    }
  };
  await reset();
  for (const c of everyone) c.got = [];

  // broadcasts, exactly once
  s1.s.emit('chat', 'from-sio');
  j2.s.emit('chat', 'from-js');
  let all = true;
  for (const c of everyone)
    all = all && await c.wait('chat', eqArgs(['from-sio'])) && await c.wait('chat', eqArgs(['from-js']));
  ok(all, 'a broadcast made on sio and one made on the JS server reach the clients of both');
  await reset();
  ok(everyone.every((c) => c.count('chat', eqArgs(['from-sio'])) === 1 &&
                           c.count('chat', eqArgs(['from-js'])) === 1),
     '... each exactly once (our own uid is skipped, nothing is published back)');

  // rooms: j1 and s1 in "r"
  ok(await j1.call('join', 'r') === true && await s1.call('join', 'r') === true, 'j1 (JS) and s1 (sio) join room r');
  for (const c of everyone) c.got = [];
  s2.s.emit('say', { room: 'r', text: 'to-r-from-sio' });
  j2.s.emit('say', { room: 'r', text: 'to-r-from-js' });
  ok(await j1.wait('chat', eqArgs(['to-r-from-sio', 'r'])) && await s1.wait('chat', eqArgs(['to-r-from-sio', 'r'])),
     'a room broadcast made on sio reaches the members on both servers');
  ok(await j1.wait('chat', eqArgs(['to-r-from-js', 'r'])) && await s1.wait('chat', eqArgs(['to-r-from-js', 'r'])),
     'a room broadcast made on the JS server reaches the members on both servers');
  await reset();
  ok(j2.count('chat', (a) => a[1] === 'r') === 0 && s2.count('chat', (a) => a[1] === 'r') === 0 &&
     j1.count('chat', (a) => a[1] === 'r') === 2 && s1.count('chat', (a) => a[1] === 'r') === 2,
     '... once each, and not to the non-members');

  // one socket by sid, from JS to a sio client
  jsio.to(s2.sid).emit('direct', 'to-s2');
  ok(await s2.wait('direct', eqArgs(['to-s2'])), 'an emit from JS to the sid of a sio client reaches it');
  await reset();
  ok(s1.count('direct') === 0 && j1.count('direct') === 0 && j2.count('direct') === 0 && s2.count('direct') === 1,
     '... only it, once');

  // sio is not counted as a server: the JS requests that wait for answers return
  const numsub = await admin.sendCommand(['PUBSUB', 'NUMSUB', 'socket.io-request#/#']);
  ok(Number(numsub[1]) === 1, `PUBSUB NUMSUB socket.io-request#/# counts the JS server only (${numsub[1]})`);
  let r = await guard(jsio.fetchSockets());
  ok(r.v && r.v.length === 2, `fetchSockets() returns the JS server's sockets (${r.hung ? 'hung' : r.e || r.v.length})`);
  r = await guard(jsio.of('/').adapter.allRooms());
  ok(r.v && r.v.has('r'), 'allRooms() returns');
  r = await guard(jsio.serverSideEmitWithAck('serverSideEmit-test', 1));
  ok(r.v && Array.isArray(r.v) && r.v.length === 0,
     `serverSideEmitWithAck() returns (no other JS server: ${JSON.stringify(r.v || String(r.e) || 'hung')})`);
  for (const c of everyone) c.got = [];
  for (const c of [j1, j2]) c.s.on('withack', (x, cb) => cb(x * 2));
  r = await guard(new Promise((resolve, reject) =>
    jsio.timeout(600000).emit('withack', 21, (err, res) => (err ? reject(err) : resolve(res)))));
  ok(r.v && r.v.length === 2 && r.v.every((x) => x === 42),
     `a broadcast with acks returns the JS clients' acks (${JSON.stringify(r.v || r.e || 'hung')})`);
  ok(await s1.wait('withack', eqArgs([21])) && await s2.wait('withack', eqArgs([21])),
     '... and reaches the sio clients (without an ack)');

  // room requests from JS act on the sio clients
  jsio.in('r').socketsJoin('r2');
  await sleep(0);
  ok(await waitFor(async () => {
    const tag = `r2-${n++}`;
    jsio.to('r2').emit('in-r2', tag);
    return s1.wait('in-r2', eqArgs([tag]), 500);
  }), 'socketsJoin from JS: the sio member of r joins r2 too');
  await reset();
  ok(s2.count('in-r2') === 0, '... and only it');
  jsio.in(s2.sid).disconnectSockets(true);
  ok(await guard(s2.disconnected, 20000).then((x) => !x.hung), 'disconnectSockets(true) from JS disconnects the sio client');

  for (const c of everyone) c.s.close();
  sp.kill('SIGTERM');
  await new Promise((r) => sp.on('exit', r));
  const log = fs.readFileSync(logf, 'utf8');
  fs.unlinkSync(logf);
  const m = /bridge\.redis: .*stopped: in (\d+), delivered (\d+), ignored (\d+), rejected (\d+), own (\d+)/.exec(log);
  ok(m && Number(m[5]) > 0 && Number(m[4]) === 0,
     `the bridge skipped its own messages and rejected none (${m ? m[0].replace(/^.*stopped: /, '') : 'no counters'})`);
  jsio.close();
  await Promise.all([pub.quit(), sub.quit(), admin.quit()]).catch(() => {});
}

try {
  await main();
} catch (e) {
  failed++;
  console.log('not ok - ' + (e && e.stack || e));
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

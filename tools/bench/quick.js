// quick.js: a small side-by-side throughput check with the official client.
//   node tools/bench/quick.js URL [clients=50] [inflight=10] [seconds=5] [server-pid]
// N socket.io-client connections over WebSocket each keep W "echo" emits
// with ack in flight for T seconds; prints acked messages per second.
// (The real load generator is `sio bench`, a later issue; this one is
// bounded by the Node client itself, so it understates a fast server.)
'use strict';
const path = require('path');
const { io } = require(path.join(__dirname, '../../tests/interop/node_modules/socket.io-client'));

const [url, nc = '50', w = '10', secs = '5', spid] = process.argv.slice(2);
const fs = require('fs');
function cpuSecs(pid) {   // utime + stime of a process, in seconds
  if (!pid) return 0;
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (+v[11] + +v[12]) / 100;
}
if (!url) { console.error('usage: quick.js URL [clients] [inflight] [seconds]'); process.exit(2); }
const N = +nc, W = +w, T = +secs * 1000;
let acked = 0, errors = 0, ready = 0, running = false;
const socks = [];
const payload = { text: 'x'.repeat(64), n: 1 };

function pump(s) {
  if (!running) return;
  s.emit('echo', payload, () => { acked++; pump(s); });
}

for (let i = 0; i < N; i++) {
  const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  s.on('connect_error', () => { errors++; });
  s.on('connect', () => { if (++ready === N) start(); });
  socks.push(s);
}
const guard = setTimeout(() => { console.error('not all clients connected'); process.exit(1); }, 10000);

function start() {
  clearTimeout(guard);
  running = true;
  const t0 = Date.now();
  const c0 = cpuSecs(spid), me0 = process.cpuUsage();
  for (const s of socks) for (let j = 0; j < W; j++) pump(s);
  setTimeout(() => {
    running = false;
    const dt = (Date.now() - t0) / 1000;
    const scpu = cpuSecs(spid) - c0, me = process.cpuUsage(me0);
    console.log(JSON.stringify({ url, clients: N, inflight: W, seconds: dt,
                                 acked, rate: Math.round(acked / dt), errors,
                                 server_cpu_pct: spid ? Math.round(100 * scpu / dt) : undefined,
                                 server_us_per_msg: spid ? +(1e6 * scpu / acked).toFixed(2) : undefined,
                                 client_cpu_pct: Math.round((me.user + me.system) / 1e4 / dt) }));
    for (const s of socks) s.close();
    setTimeout(() => process.exit(0), 100);
  }, T);
}

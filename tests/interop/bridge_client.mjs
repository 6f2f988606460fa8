// bridge_client.mjs: helper of bridge_test.py. Reads JSON commands on stdin,
// drives socket.io-client sockets and an @socket.io/redis-emitter, and prints
// one JSON line per thing that happens. Binary arguments print as {"$bin": hex}.
import { io } from 'socket.io-client';
import { Emitter } from '@socket.io/redis-emitter';
import { createClient } from 'redis';
import readline from 'node:readline';

const [url, redisUrl] = process.argv.slice(2);
const socks = {};
let emitter = null, redis = null;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const enc = (v) => {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v))
    return { $bin: Buffer.from(v.buffer ? v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) : v).toString('hex') };
  if (Array.isArray(v)) return v.map(enc);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
  return v;
};
const dec = (v) => {
  if (v && typeof v === 'object' && !Array.isArray(v) && '$bin' in v) return Buffer.from(v.$bin, 'hex');
  if (Array.isArray(v)) return v.map(dec);
  return v;
};

async function getEmitter() {
  if (!emitter) {
    redis = createClient({ url: redisUrl });
    redis.on('error', () => {});
    await redis.connect();
    emitter = new Emitter(redis);
  }
  return emitter;
}

async function handle(c) {
  switch (c.op) {
  case 'connect': {
    const s = io(url + c.nsp, { transports: ['websocket'], forceNew: true, reconnection: false });
    socks[c.name] = s;
    s.on('connect', () => out({ ev: 'connected', name: c.name, sid: s.id }));
    s.on('disconnect', (why) => out({ ev: 'disconnected', name: c.name, why }));
    s.onAny((event, ...args) => out({ ev: 'event', name: c.name, event, args: enc(args) }));
    break;
  }
  case 'join':
    socks[c.name].emit('join', c.room, (rooms) => out({ ev: 'joined', name: c.name, rooms }));
    break;
  case 'remit': {
    let e = (await getEmitter()).of(c.nsp);
    if (c.to) e = e.to(c.to);
    if (c.except) e = e.except(c.except);
    e.emit(c.event, ...dec(c.args));
    out({ ev: 'done', id: c.id });
    break;
  }
  case 'rjoin': {
    let e = (await getEmitter()).of(c.nsp);
    if (c.in) e = e.in(c.in);
    e.socketsJoin(c.rooms);
    out({ ev: 'done', id: c.id });
    break;
  }
  case 'rdisconnect': {
    let e = (await getEmitter()).of(c.nsp);
    if (c.in) e = e.in(c.in);
    e.disconnectSockets(true);
    out({ ev: 'done', id: c.id });
    break;
  }
  case 'quit':
    for (const s of Object.values(socks)) s.close();
    if (redis) await redis.quit().catch(() => {});
    process.exit(0);
  }
}

readline.createInterface({ input: process.stdin }).on('line', (l) => {
  handle(JSON.parse(l)).catch((e) => out({ ev: 'error', message: String(e) }));
});
setTimeout(() => process.exit(3), 120000).unref();

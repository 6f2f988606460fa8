// client.mjs: helper of jobs_test.sh. Connects two socket.io-client sockets
// to URL/jobs; A emits start_job {n: 3} with an ack and waits for job_done
// with the acked job id; B must not receive it. Prints "ok - ..." /
// "not ok - ..." lines. usage: node client.mjs URL
import { io } from 'socket.io-client';

const url = process.argv[2];
const opts = { transports: ['websocket'], forceNew: true, reconnection: false };
let failed = 0;
const ok = (c, what) => { if (!c) failed++; console.log((c ? 'ok - ' : 'not ok - ') + what); };
const connect = (s) => new Promise((res, rej) => {
  s.on('connect', res);
  s.on('connect_error', rej);
});
const timeout = (ms) => new Promise((res) => setTimeout(() => res(null), ms));

const a = io(url + '/jobs', opts), b = io(url + '/jobs', opts);
const bGot = [];
b.on('job_done', (m) => bGot.push(m));
try {
  await Promise.race([Promise.all([connect(a), connect(b)]), timeout(5000).then(() => { throw new Error('connect timeout'); })]);
  ok(true, 'two clients connected to /jobs');
  const done = new Promise((res) => a.on('job_done', res));
  const ack = await Promise.race([a.emitWithAck('start_job', { n: 3 }), timeout(5000)]);
  const id = ack && ack.job_id;
  ok(typeof id === 'string' && /^[0-9a-f-]{36}$/.test(id), 'start_job acks a job id: ' + JSON.stringify(ack));
  const m = await Promise.race([done, timeout(20000)]);
  ok(m && m.job_id === id, 'job_done from the Celery task reaches the client: ' + JSON.stringify(m));
  ok(m && m.result === 6, 'job_done carries the result (n=3 -> 6)');
  await timeout(500);
  ok(bGot.length === 0, 'the other client does not receive job_done');
} catch (e) {
  ok(false, 'client: ' + e.message);
}
a.close(); b.close();
process.exit(failed ? 1 : 0);

#!/usr/bin/python3
"""fleet.py: broadcast to N clients spread over K servers on one Redis
(docs/PERFORMANCE.md "Fleets on one Redis").

For each K and each implementation it starts a redis-server on a free
loopback port and K servers with the echo plugin's handlers:

* sio: `sio server --plugin echo.so --bridge 'redis://...?format=node-adapter&publish=1'`
  (FORMAT=json: python-socketio's JSON format instead);
* js: tools/bench/peers/js-server.js --redis (socket.io 4 + @socket.io/redis-adapter);

then one `sio bench broadcast --ports P1,P2,..` whose N clients connect
round robin to the K servers: one sender (client 0, on the first server)
keeps --inflight broadcasts in flight, paced by the last client (on
another server), so the window bounds what the remote servers have not
delivered yet. Every delivery to every client counts. Prints one JSON
line per run and a table of ratios.

usage: fleet.py [BUILD_DIR] [--clients N] [--seconds T] [--fleets 1,2,3] [--inflight W]
"""
import json, os, signal, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
args = sys.argv[1:]
BUILD = os.path.abspath(args.pop(0) if args and not args[0].startswith('--') else os.path.join(ROOT, 'build'))
opt = dict(clients=1000, seconds=10, fleets='2,3', inflight=10)
while args:
    k = args.pop(0).lstrip('-')
    opt[k] = type(opt[k])(args.pop(0))
SIO = os.path.join(BUILD, 'tools', 'sio')
ECHO = os.path.join(BUILD, 'plugins', 'echo', 'echo.so')
FORMAT = os.environ.get('FORMAT', 'node-adapter')


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run(impl, k):
    procs, logs = [], []
    rport = free_port()
    redis = subprocess.Popen(['redis-server', '--port', str(rport), '--bind', '127.0.0.1',
                              '--save', '', '--appendonly', 'no'], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        servers = []
        for i in range(k):
            port = free_port()
            log = tempfile.NamedTemporaryFile(prefix='sio-fleet-', delete=False)
            logs.append(log.name)
            if impl == 'sio':
                cmd = [SIO, 'server', '--plugin', ECHO, '--host', '127.0.0.1', '--port', str(port),
                       '--log-level', 'info', '--bridge',
                       'redis://127.0.0.1:%d?format=%s&publish=1' % (rport, FORMAT)]
            else:
                cmd = ['node', os.path.join(HERE, 'peers', 'js-server.js'), '--port', str(port),
                       '--redis', 'redis://127.0.0.1:%d' % rport]
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
            procs.append(p)
            if 'listening' not in p.stdout.readline():
                raise RuntimeError('%s server did not start' % impl)
            servers.append((port, p.pid))
        time.sleep(1.5)     # bridges subscribed, publishers' SUB joined
        cmd = [SIO, 'bench', 'broadcast', '--ports', ','.join(str(p) for p, _ in servers),
               '--clients', str(opt['clients']), '--inflight', str(opt['inflight']),
               '--seconds', str(opt['seconds'])]
        for _, pid in servers:
            cmd += ['--server-pid', str(pid)]
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=opt['seconds'] + 120).stdout
        res = json.loads(out.strip().splitlines()[-1])
    finally:
        for p in procs:
            stop(p)
        stop(redis)
    dropped = 0
    for name in logs:
        with open(name) as f:
            for line in f:
                if 'stopped: seen' in line:
                    part = line.split('dropped (queue full) ')[1]
                    dropped += int(part.split(',')[0])
                    dropped += int(line.split('dropped (broker down) ')[1].split(',')[0])
        os.unlink(name)
    r = dict(impl=impl, k=k, rate=res['rate'], p50_us=res['p50_us'], p99_us=res['p99_us'],
             connected=res['connected'], errors=res['errors'],
             server_cpu=res.get('server_cpu_pct', 0), bench_cpu=res.get('bench_cpu_pct', 0),
             dropped=dropped)
    print(json.dumps(r), flush=True)
    return r


rows = {}
for k in [int(x) for x in opt['fleets'].split(',')]:
    for impl in ('sio', 'js'):
        rows[(impl, k)] = run(impl, k)
print('\n%-34s %12s %12s %8s' % ('scenario (%d clients)' % opt['clients'], 'sio', 'js', 'sio/js'))
for k in sorted({k for _, k in rows}):
    s, j = rows[('sio', k)], rows[('js', k)]
    print('%-34s %12.0f %12.0f %8.2f' % ('%d servers: deliveries/s' % k, s['rate'], j['rate'],
                                         s['rate'] / j['rate'] if j['rate'] else 0))
    print('%-34s %12.0f %12.0f %8.2f' % ('%d servers: p99 us' % k, s['p99_us'],
                                         j['p99_us'], s['p99_us'] / j['p99_us'] if j['p99_us'] else 0))

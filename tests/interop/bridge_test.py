#!/usr/bin/python3
"""bridge_test.py: the Redis bridge (issue 8) against real peers.

Starts Debian redis-server on a free loopback port and
`sio server --plugin demo4.so --bridge redis://127.0.0.1:P`, connects npm
socket.io-client sockets (bridge_client.mjs), then publishes with the real
emitters: python-socketio 5.7.2's write-only RedisManager (pickles), the
JSON form of python-socketio 5.14+ (redis-py PUBLISH), and npm
@socket.io/redis-emitter. Also: a malicious pickle is rejected and the
server keeps serving; redis-server restarted mid-test and the bridge
resumes. Prints "ok - ..." lines and "N passed, N failed".

usage: bridge_test.py BUILD_DIR   (run from anywhere; needs tests/interop/node_modules)
"""
import json, os, pickle, queue, socket, subprocess, sys, tempfile, threading, time

import redis
import socketio

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..', 'build'))
SIO = os.path.join(BUILD, 'tools', 'sio')
PLUGIN = os.path.join(BUILD, 'plugins', 'demo4', 'demo4.so')
NSP = '/jobs'
passed = failed = 0
procs = []


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print('ok - ' + what, flush=True)
    else:
        failed += 1
        print('not ok - ' + what, flush=True)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start_redis(port):
    p = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                          '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redis.Redis(host='127.0.0.1', port=port)
    for _ in range(100):
        try:
            r.ping()
            return p
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError('redis-server did not start')


def stop(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def bridge_subscribed(r, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            if r.pubsub_numsub('socketio')[0][1] >= 1 and r.pubsub_numpat() >= 3:
                return True
        except redis.exceptions.ConnectionError:
            pass
        time.sleep(0.1)
    return False


class Client:
    """The node helper: commands in, JSON lines out (read by a thread)."""
    def __init__(self, url, redis_url):
        self.p = subprocess.Popen(['node', os.path.join(HERE, 'bridge_client.mjs'), url, redis_url],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE)
        procs.append(self.p)
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.seen = []      # every line, in order

    def _read(self):
        for line in self.p.stdout:
            try:
                self.q.put(json.loads(line))
            except ValueError:
                pass

    def send(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + '\n')
        self.p.stdin.flush()

    def wait(self, pred, timeout=10):
        for m in self.seen:
            if pred(m):
                self.seen.remove(m)
                return m
        end = time.time() + timeout
        while time.time() < end:
            try:
                m = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            if pred(m):
                return m
            self.seen.append(m)
        return None

    def event(self, name, event, timeout=10):
        return self.wait(lambda m: m.get('ev') == 'event' and m['name'] == name and
                         m['event'] == event, timeout)

    def got(self, name, event):
        """True when an event already arrived (no wait)."""
        while not self.q.empty():
            self.seen.append(self.q.get())
        return any(m.get('ev') == 'event' and m['name'] == name and m['event'] == event
                   for m in self.seen)


def split_mode(rurl, r):
    """sio hub + worker + gateway over ipc://, and `sio bridge --hub`."""
    with tempfile.TemporaryDirectory() as tmp:
        bus = 'ipc://%s/bus' % tmp
        gport = free_port()
        hub = subprocess.Popen([SIO, 'hub', '--bind', bus], stdout=subprocess.DEVNULL)
        procs.append(hub)
        time.sleep(0.3)
        wrk = subprocess.Popen([SIO, 'worker', '--hub', bus, '--plugin', PLUGIN],
                               stdout=subprocess.DEVNULL)
        gw = subprocess.Popen([SIO, 'gateway', '--hub', bus, '--port', str(gport)],
                              stdout=subprocess.PIPE, text=True)
        br = subprocess.Popen([SIO, 'bridge', '--hub', bus + '-workers', rurl + '/socketio'],
                              stdout=subprocess.PIPE, text=True)
        procs.extend([wrk, gw, br])
        gw.stdout.readline()
        ok(br.stdout.readline().startswith('bridging'), 'sio bridge --hub ENDPOINT URL starts')
        time.sleep(0.3)
        # two subscribers now: the embedded bridge and this one
        end = time.time() + 10
        while time.time() < end and r.pubsub_numsub('socketio')[0][1] < 2:
            time.sleep(0.1)
        c = Client('http://127.0.0.1:%d' % gport, rurl)
        c.send(op='connect', name='s', nsp=NSP)
        ok(c.wait(lambda m: m.get('ev') == 'connected'), 'a client connects to the split gateway')
        mgr = socketio.RedisManager(rurl, write_only=True)
        got = None
        for _ in range(20):     # the worker may take a moment to say HELLO
            mgr.emit('split_ev', {'k': 1}, namespace=NSP)
            got = c.event('s', 'split_ev', 0.5)
            if got:
                break
        ok(got and got['args'] == [{'k': 1}], 'sio bridge (its own process) delivers to a split gateway')
        c.send(op='quit')
        br.terminate()
        ok(br.wait(10) == 0, 'sio bridge exits 0 on SIGTERM')
        for p in (gw, wrk, hub):
            stop(p)


def main():
    if not os.access(SIO, os.X_OK) or not os.path.exists(PLUGIN):
        print('bridge_test: build first (%s, %s)' % (SIO, PLUGIN))
        return 2
    rport, sport = free_port(), free_port()
    rurl = 'redis://127.0.0.1:%d' % rport
    red = start_redis(rport)
    srv = subprocess.Popen([SIO, 'server', '--plugin', PLUGIN, '--port', str(sport),
                            '--bridge', rurl, '--log-level', 'info'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(srv)
    errlog = []
    threading.Thread(target=lambda: errlog.extend(srv.stderr), daemon=True).start()
    try:
        line = srv.stdout.readline()
        ok(line.startswith('listening on'), 'sio server --bridge starts')
        r = redis.Redis(host='127.0.0.1', port=rport)
        ok(bridge_subscribed(r), 'the bridge subscribes to "socketio" and psubscribes socket.io#* and kombu\'s channel')

        c = Client('http://127.0.0.1:%d' % sport, rurl)
        sids = {}
        for n in ('a', 'b', 'c'):
            c.send(op='connect', name=n, nsp=NSP)
        for n in ('a', 'b', 'c'):
            m = c.wait(lambda m, n=n: m.get('ev') == 'connected' and m['name'] == n)
            sids[n] = m and m['sid']
        ok(all(sids.values()), 'three socket.io-client sockets connected to /jobs')
        for n in ('a', 'b'):
            c.send(op='join', name=n, room='r1')
            c.wait(lambda m, n=n: m.get('ev') == 'joined' and m['name'] == n)

        marker_no = [0]

        def marker():
            """A broadcast after the message under test: once every socket
            has it, anything the test message would have sent has arrived."""
            marker_no[0] += 1
            ev = 'marker%d' % marker_no[0]
            mgr.emit(ev, None, namespace=NSP)
            return all(c.event(n, ev) for n in ('a', 'b', 'c'))

        # --- python-socketio 5.7.2 (pickles) ---
        mgr = socketio.RedisManager(rurl, write_only=True)
        mgr.emit('py_room', {'x': 1}, room='r1', namespace=NSP)
        ea, eb = c.event('a', 'py_room'), c.event('b', 'py_room')
        ok(ea and eb and ea['args'] == [{'x': 1}] and marker() and not c.got('c', 'py_room'),
           'python-socketio 5.7.2 RedisManager.emit to a room')
        mgr.emit('py_all', ('t', 2, b'\x00\xff'), namespace=NSP)
        got = [c.event(n, 'py_all') for n in ('a', 'b', 'c')]
        ok(all(got) and got[2]['args'] == ['t', 2, {'$bin': '00ff'}],
           'python-socketio 5.7.2: whole namespace, a tuple is several arguments, bytes are binary')
        mgr.emit('py_skip', 'hi', room='r1', skip_sid=sids['a'], namespace=NSP)
        ok(c.event('b', 'py_skip') and marker() and not c.got('a', 'py_skip'),
           'python-socketio 5.7.2: skip_sid')

        # --- python-socketio 5.14+ JSON form ---
        def pub_json(d):
            r.publish('socketio', json.dumps(d))
        pub_json({'method': 'emit', 'event': 'js_room', 'data': ['a', 1], 'binary': False,
                  'namespace': NSP, 'room': ['r1'], 'skip_sid': None, 'callback': None,
                  'host_id': '0123456789abcdef0123456789abcdef'})
        ea, eb = c.event('a', 'js_room'), c.event('b', 'js_room')
        ok(ea and eb and ea['args'] == ['a', 1] and marker() and not c.got('c', 'js_room'),
           'JSON (5.15+): emit to a list of rooms, data is the argument list')
        pub_json({'method': 'emit', 'event': 'js_bin', 'binary': True, 'namespace': NSP,
                  'data': [[{'blob': {'_placeholder': True, 'num': 0}}], 'AAH/'],
                  'room': None, 'skip_sid': [sids['b']], 'callback': None})
        ec = c.event('c', 'js_bin')
        ok(ec and ec['args'] == [{'blob': {'$bin': '0001ff'}}] and marker() and
           not c.got('b', 'js_bin'), 'JSON (5.14.2+): binary attachments, skip_sid as a list')
        pub_json({'method': 'enter_room', 'sid': sids['c'], 'room': 'r2', 'namespace': NSP})
        pub_json({'method': 'emit', 'event': 'js_r2', 'data': [7], 'namespace': NSP, 'room': 'r2'})
        ok(c.event('c', 'js_r2') and marker() and not c.got('a', 'js_r2'),
           'JSON: enter_room then emit to that room')

        # --- python-socketio 5.7.2 KombuManager over Redis (kombu envelope) ---
        km = socketio.KombuManager(rurl + '/0', write_only=True)
        km.emit('kombu_room', {'k': 2}, room='r1', namespace=NSP)
        ea = c.event('a', 'kombu_room')
        ok(ea and ea['args'] == [{'k': 2}] and c.event('b', 'kombu_room') and marker() and
           not c.got('c', 'kombu_room'), 'python-socketio 5.7.2 KombuManager (redis://) emit to a room')

        # --- @socket.io/redis-emitter ---
        c.send(op='remit', id=1, nsp=NSP, to='r1', event='node_room', args=['n', {'$bin': '0102'}])
        eb = c.event('b', 'node_room')
        ok(eb and eb['args'] == ['n', {'$bin': '0102'}] and c.event('a', 'node_room') and
           marker() and not c.got('c', 'node_room'), '@socket.io/redis-emitter: to a room, binary')
        c.send(op='remit', id=2, nsp=NSP, event='node_all', args=[1, 'x'])
        ok(all(c.event(n, 'node_all') for n in ('a', 'b', 'c')), '@socket.io/redis-emitter: broadcast')
        c.send(op='remit', id=3, nsp=NSP, to='r1', **{'except': sids['a']}, event='node_exc', args=[])
        ok(c.event('b', 'node_exc') and marker() and not c.got('a', 'node_exc'),
           '@socket.io/redis-emitter: except')
        c.send(op='rjoin', id=4, nsp=NSP, **{'in': sids['c']}, rooms=['r3'])
        c.wait(lambda m: m.get('ev') == 'done' and m.get('id') == 4)
        marker()    # the join has been applied once the marker arrives
        c.send(op='remit', id=5, nsp=NSP, to='r3', event='node_r3', args=[3])
        ok(c.event('c', 'node_r3') and marker() and not c.got('a', 'node_r3'),
           '@socket.io/redis-emitter: socketsJoin then emit to that room')

        # --- a malicious pickle ---
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, 'python-ran')
            target = os.path.join(tmp, 'sio-ran')

            class Evil:
                def __init__(self, path):
                    self.path = path

                def __reduce__(self):
                    return (os.system, ('touch ' + self.path,))
            # prove the bytes are dangerous: Python's own unpickler runs them
            # (in a child process, on a path of our own)
            subprocess.run([sys.executable, '-c', 'import pickle,sys; pickle.loads(sys.stdin.buffer.read())'],
                           input=pickle.dumps(Evil(probe)), check=False)
            ok(os.path.exists(probe), 'the malicious pickle runs a command under pickle.loads')
            evil = pickle.dumps({'method': 'emit', 'event': 'evil', 'data': Evil(target),
                                 'namespace': NSP, 'room': None, 'skip_sid': None})
            r.publish('socketio', evil)
            ok(marker() and not os.path.exists(target) and not c.got('a', 'evil'),
               'a malicious pickle is rejected, nothing runs, the server keeps serving')
        time.sleep(0.2)
        ok(any('rejected' in l and 'STACK_GLOBAL' in l for l in errlog),
           'the rejection is logged in one line')

        # --- redis-server restarted mid-test ---
        stop(red)
        time.sleep(0.5)
        red = start_redis(rport)
        ok(bridge_subscribed(r, 30), 'redis-server restarted: the bridge reconnects and resubscribes')
        mgr = socketio.RedisManager(rurl, write_only=True)
        mgr.emit('after_restart', 1, namespace=NSP)
        ok(all(c.event(n, 'after_restart') for n in ('a', 'b', 'c')), 'emits reach clients after the restart')

        # --- disconnect (python) ---
        mgr.disconnect(sids['c'], namespace=NSP)
        m = c.wait(lambda m: m.get('ev') == 'disconnected' and m['name'] == 'c')
        ok(m and m['why'] == 'io server disconnect', 'python-socketio: disconnect a sid')
        c.send(op='quit')
        split_mode(rurl, r)
    finally:
        for p in procs:
            stop(p)
        stop(red)
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
"""federation_test.py: deployments that share broadcasts through a broker
(issue 19: bridges publish as well as listen; docs/BRIDGES.md "Publishing").

Starts its own redis-server on a free loopback port, then:

* two `sio server --plugin chat.so --bridge redis://... --bridge-publish`
  (A and B), with python-socketio clients on each: broadcasts made on one
  reach the clients of both exactly once, room emits reach only the room's
  members on both, an emit to one sid made on B reaches the socket on A;
* a mixed fleet: Debian python-socketio 5.7.2 AsyncServer with
  AsyncRedisManager (aiohttp) and a sio server publishing pickles
  (`?format=pickle`) on one Redis: broadcasts from either reach the clients
  of both;
* redis-server restarted mid-traffic: the publisher reconnects, and the
  counters logged at stop show what was dropped while Redis was down.

Prints "ok - ..." lines and "N passed, N failed" last.

usage: federation_test.py BUILD_DIR [redis|kafka|amqp ...]   (default: all three)
"""
import os, queue, re, signal, socket, subprocess, sys, tempfile, threading, time

import redis
import socketio

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..', 'build'))
SIO = os.path.join(BUILD, 'tools', 'sio')
CHAT = os.path.join(BUILD, 'plugins', 'chat', 'chat.so')
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
    while True:
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        p = s.getsockname()[1]
        s.close()
        if not 5000 <= p <= 5100:
            return p


def start_redis(port):
    p = subprocess.Popen(['redis-server', '--port', str(port), '--bind', '127.0.0.1',
                          '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    r = redis.Redis(host='127.0.0.1', port=port)
    for _ in range(200):
        try:
            r.ping()
            return p
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError('redis-server did not start')


def stop(p, sig=signal.SIGTERM):
    if p and p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Server:
    """sio server; its stderr (the log) is kept in a file."""
    def __init__(self, bridge, extra=()):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix='sio-fed-', suffix='.log', delete=False)
        self.p = subprocess.Popen([SIO, 'server', '--plugin', CHAT, '--host', '127.0.0.1',
                                   '--port', str(self.port), '--bridge', bridge,
                                   '--log-level', 'info', *extra],
                                  stdout=subprocess.PIPE, stderr=self.log, text=True)
        procs.append(self.p)
        line = self.p.stdout.readline()
        if 'listening' not in line:
            raise RuntimeError('sio server did not start: ' + line)
        self.url = 'http://127.0.0.1:%d' % self.port

    def stop(self):
        stop(self.p)
        with open(self.log.name) as f:
            text = f.read()
        os.unlink(self.log.name)
        return text


class Client:
    """A python-socketio client that records every event it gets."""
    def __init__(self, url):
        self.q = queue.Queue()
        self.got = []
        self.c = socketio.Client(reconnection=False)
        self.c.on('*', lambda ev, *args: self.q.put((ev, list(args))))
        self.c.connect(url, transports=['websocket'], wait_timeout=10)
        self.sid = self.c.get_sid()

    def chat(self, text):
        self.c.emit('chat', text)
        return True

    def call(self, ev, *args):
        return self.c.call(ev, args[0] if len(args) == 1 else args, timeout=10)

    def wait(self, ev, pred=lambda a: True, timeout=10):
        """The first (ev, args) matching; what does not match is kept."""
        for i, (e, a) in enumerate(self.got):
            if e == ev and pred(a):
                return self.got.pop(i)[1]
        end = time.time() + timeout
        while time.time() < end:
            try:
                e, a = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                break
            if e == ev and pred(a):
                return a
            self.got.append((e, a))
        return None

    def count(self, ev, pred=lambda a: True):
        """How many matching events arrived (after draining what is queued)."""
        while True:
            try:
                self.got.append(self.q.get_nowait())
            except queue.Empty:
                break
        return sum(1 for e, a in self.got if e == ev and pred(a))

    def close(self):
        try:
            self.c.disconnect()
        except Exception:
            pass


def numsub(r, channel='socketio'):
    try:
        return r.pubsub_numsub(channel)[0][1]
    except redis.exceptions.ConnectionError:
        return 0


def wait_for(pred, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def settle(clients, tag):
    """A broadcast round trip that every client has seen: what was sent
    before it on the same paths has arrived (used before counting)."""
    clients[0].chat('settle-' + tag)
    for c in clients:
        c.wait('chat', lambda a: a == ['settle-' + tag])


def federation(url, name, r=None):
    A = Server(url, ['--bridge-publish'])
    B = Server(url, ['--bridge-publish'])
    if r is not None:
        ok(wait_for(lambda: numsub(r) >= 2), '%s: ' % name + 'both deployments subscribed to Redis')
    a1, a2 = Client(A.url), Client(A.url)
    b1, b2 = Client(B.url), Client(B.url)
    everyone = [a1, a2, b1, b2]
    # the SUB of each publisher joins the hub's PUB asynchronously: wait
    # until a broadcast from each side is seen on the other
    ok(wait_for(lambda: (b1.chat('warm-b') and a1.wait('chat', lambda a: a == ['warm-b'], 1)
                         is not None), 30)
       and wait_for(lambda: (a1.chat('warm-a') and b1.wait('chat', lambda a: a == ['warm-a'], 1)
                             is not None), 30),
       '%s: ' % name + 'publishers ready on A and B')
    for c in everyone:
        c.got.clear()
        while not c.q.empty():
            c.q.get_nowait()

    b1.chat('from-b')
    ok(all(c.wait('chat', lambda a: a == ['from-b']) is not None for c in everyone),
       '%s: ' % name + 'a broadcast made by a plugin on B reaches the clients of A and B')
    a2.chat('from-a')
    ok(all(c.wait('chat', lambda a: a == ['from-a']) is not None for c in everyone),
       '%s: ' % name + 'a broadcast made on A reaches the clients of A and B')
    settle([b2] + everyone[:3], 'once')
    settle([a1, a2, b1, b2], 'once2')
    ok(all(c.count('chat', lambda a: a in (['from-a'], ['from-b'])) == 0 for c in everyone),
       '%s: ' % name + 'each broadcast arrives exactly once (no echo, no loop)')

    # rooms: a1 (A) and b1 (B) in "r"; a2 and b2 not
    ok(a1.call('join', 'r') is True and b1.call('join', 'r') is True, '%s: ' % name + 'join on A and B')
    a1.wait('joined'), b1.wait('joined')
    b1.call('say', {'room': 'r', 'text': 'to-r'})
    ok(a1.wait('chat', lambda a: a == ['to-r', 'r']) is not None,
       '%s: ' % name + 'a room emit from B reaches the member on A')
    settle([a1, a2, b1, b2], 'room')
    ok(a2.count('chat', lambda a: a == ['to-r', 'r']) == 0 and
       b2.count('chat', lambda a: a == ['to-r', 'r']) == 0 and
       b1.count('chat', lambda a: a == ['to-r', 'r']) == 0 and
       a1.count('chat', lambda a: a == ['to-r', 'r']) == 0,
       '%s: ' % name + '... and no one else (not the sender, skip_sid across deployments)')

    # an emit to one sid, made on B, for a socket on A
    ok(b2.call('tell', {'to': a2.sid, 'text': 'psst'}) is True, '%s: ' % name + 'tell on B acked')
    ok(a2.wait('told', lambda a: a == ['psst', b2.sid]) is not None,
       '%s: ' % name + 'an emit to a sid made on B reaches the socket on A')
    settle([a1, a2, b1, b2], 'tell')
    ok(a2.count('told') == 0 and a1.count('told') == 0 and b1.count('told') == 0
       and b2.count('told') == 0, '%s: ' % name + '... once, and only that socket')

    return A, B, [a1, a2, b1, b2]


def close_all(A, B, clients):
    for c in clients:
        c.close()
    for S in (A, B):
        log = S.stop()
        m = re.search(r'stopped: seen \d+, published (\d+).*', log)
        ok(m is not None and int(m.group(1)) >= 1, 'counters at stop: ' + (m.group(0) if m else '?'))


def restart(rport, A, B, clients, rp):
    a1, a2, b1, b2 = clients
    stop(rp)
    for i in range(5):
        a1.chat('while-down-%d' % i)
    for i in range(5):
        a2.wait('chat', lambda a: a == ['while-down-%d' % i])
    rp = start_redis(rport)
    r = redis.Redis(host='127.0.0.1', port=rport)
    ok(wait_for(lambda: numsub(r) >= 2, 30), 'restart: both bridges subscribed again')
    ok(wait_for(lambda: (a1.chat('back') and b1.wait('chat', lambda a: a == ['back'], 1)
                         is not None), 30),
       'restart: A publishes again after Redis came back, B delivers')
    logA = A.stop()
    logB = B.stop()
    m = re.search(r'stopped: seen (\d+), published (\d+), skipped (\d+), dropped \(queue full\) '
                  r'(\d+), dropped \(broker down\) (\d+), errors (\d+), reconnects (\d+)', logA)
    ok(m is not None and int(m.group(5)) >= 1 and int(m.group(7)) >= 1,
       'restart: A\'s counters show the drops while Redis was down and a reconnect (%s)'
       % (m.group(0) if m else 'no counters in the log'))
    m = re.search(r'stopped: in (\d+), delivered (\d+), ignored (\d+), rejected (\d+), own (\d+)', logB)
    ok(m is not None and int(m.group(5)) >= 1,
       'restart: B skipped its own messages on receipt (%s)' % (m.group(0) if m else 'no counters'))
    for c in clients:
        c.close()
    return rp


PY_SERVER = r'''
import asyncio, sys
from aiohttp import web
import socketio
mgr = socketio.AsyncRedisManager(sys.argv[2])
sio = socketio.AsyncServer(client_manager=mgr, async_mode='aiohttp')
@sio.on('chat')
async def chat(sid, data):
    await sio.emit('chat', data)
    return True
app = web.Application()
sio.attach(app)
web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=lambda *a: print('listening', flush=True))
'''


def mixed(rport):
    r = redis.Redis(host='127.0.0.1', port=rport)
    url = 'redis://127.0.0.1:%d?format=pickle&publish=1' % rport
    S = Server(url)
    pport = free_port()
    P = subprocess.Popen(['/usr/bin/python3', '-c', PY_SERVER, str(pport),
                          'redis://127.0.0.1:%d/0' % rport],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(P)
    ok('listening' in P.stdout.readline(), 'mixed: python-socketio 5.7.2 AsyncServer + AsyncRedisManager up')
    ok(wait_for(lambda: numsub(r) >= 1), 'mixed: sio subscribed')
    s1 = Client(S.url)
    p1 = Client('http://127.0.0.1:%d' % pport)
    ok(wait_for(lambda: (s1.chat('warm') and p1.wait('chat', lambda a: a == ['warm'], 1)
                         is not None), 30),
       'mixed: a broadcast from sio reaches the python-socketio server\'s client (pickle)')
    p1.chat('from-py')
    ok(s1.wait('chat', lambda a: a == ['from-py']) is not None and
       p1.wait('chat', lambda a: a == ['from-py']) is not None,
       'mixed: a broadcast from python-socketio 5.7.2 reaches the clients of both')
    s1.chat({'n': 1, 'list': [1, 2.5, None, True], 's': 'é'})
    ok(p1.wait('chat', lambda a: a == [{'n': 1, 'list': [1, 2.5, None, True], 's': 'é'}]) is not None,
       'mixed: structured arguments survive the pickle writer')
    settle([s1, p1], 'mixed')
    ok(s1.count('chat', lambda a: a == ['from-py']) == 0 and
       p1.count('chat', lambda a: a == ['from-py']) == 0,
       'mixed: exactly once on both')
    s1.close()
    p1.close()
    stop(P)
    S.stop()


def run_redis():
    rport = free_port()
    rp = start_redis(rport)
    r = redis.Redis(host='127.0.0.1', port=rport)
    A, B, clients = federation('redis://127.0.0.1:%d' % rport, 'redis', r)
    # Redis restarted mid-traffic: what A publishes meanwhile is dropped and counted
    rp = restart(rport, A, B, clients, rp)
    mixed(rport)
    stop(rp)


def run_kafka():
    mock = os.path.join(BUILD, 'adapters', 'sio-kafka-mock')
    if not os.path.exists(mock):
        ok(False, 'kafka: %s not built (librdkafka-dev)' % mock)
        return
    m = subprocess.Popen([mock], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    procs.append(m)
    line = m.stdout.readline()
    ok(line.startswith('bootstrap '), 'kafka: librdkafka mock cluster up')
    A, B, clients = federation('kafka://' + line.split()[1], 'kafka')
    close_all(A, B, clients)
    m.stdin.close()
    stop(m)


def run_amqp():
    sys.path.insert(0, HERE)
    import amqp_test
    if not os.path.exists(amqp_test.RABBIT):
        ok(False, 'amqp: rabbitmq-server is not installed')
        return
    tmp = tempfile.mkdtemp(prefix='sio-fed-amqp.')
    rabbit = amqp_test.Rabbit(tmp)
    try:
        ok(rabbit.start(timeout=240), 'amqp: rabbitmq-server up on 127.0.0.1')
        A, B, clients = federation('amqp://guest:guest@127.0.0.1:%d//' % rabbit.port, 'amqp')
        close_all(A, B, clients)
    finally:
        rabbit.stop()
        subprocess.run(['rm', '-rf', tmp])


def main():
    which = sys.argv[2:] or ['redis', 'kafka', 'amqp']
    try:
        for w in which:
            {'redis': run_redis, 'kafka': run_kafka, 'amqp': run_amqp}[w]()
    except Exception as e:  # a crash is a failure, not a hang
        import traceback
        traceback.print_exc()
        ok(False, 'unexpected error: %r' % e)
    finally:
        for p in procs:
            stop(p)
    print('%d passed, %d failed' % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()

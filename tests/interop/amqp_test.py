#!/usr/bin/python3
"""amqp_test.py: the amqp:// bridge (issue 8) against a real RabbitMQ.

Starts Debian's rabbitmq-server by hand (no systemd): its own epmd on
127.0.0.1, the node, its AMQP listener and its distribution port on
127.0.0.1 at free ports, every file in a temporary directory. Then
`sio server --plugin chat.so --bridge amqp://guest:guest@127.0.0.1:P//`,
npm socket.io-client sockets (bridge_client.mjs) that join a room with the
chat plugin's `join`, and python-socketio 5.7.2's write-only KombuManager
(Debian python3-socketio + python3-kombu) emitting to the room, to the
namespace and with skip_sid; the JSON body of python-socketio 5.14+ and a
malicious pickle published with kombu; the broker restarted and the bridge
resuming. Everything is stopped by PID. Prints "ok - ..." lines and
"N passed, N failed".

usage: amqp_test.py [BUILD_DIR]   (SIO_BIN / SIO_PLUGIN_DIR override)
"""
import json, os, queue, shutil, signal, socket, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..', 'build'))
SIO = os.environ.get('SIO_BIN') or os.path.join(BUILD, 'tools', 'sio')
PLUGIN = os.path.join(os.environ.get('SIO_PLUGIN_DIR') or os.path.join(BUILD, 'plugins'),
                      'chat', 'chat.so')
RABBIT = '/usr/lib/rabbitmq/bin/rabbitmq-server'
passed = failed = 0


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


def port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), 0.2).close()
        return True
    except OSError:
        return False


def stop(p, timeout=10):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Rabbit:
    """epmd + rabbitmq-server on loopback, state in a temp dir."""
    def __init__(self, tmp):
        self.dir = tmp
        self.epmd_port, self.port, self.dist_port = free_port(), free_port(), free_port()
        self.epmd = self.wrapper = None
        home = os.path.join(tmp, 'home')
        for d in ('home', 'mnesia', 'log'):
            os.makedirs(os.path.join(tmp, d), exist_ok=True)
        with open(os.path.join(tmp, 'rabbitmq.conf'), 'w') as f:
            f.write('listeners.tcp.1 = 127.0.0.1:%d\nloopback_users = none\n' % self.port)
        open(os.path.join(tmp, 'enabled_plugins'), 'w').write('[].\n')
        self.env = dict(os.environ, HOME=home, ERL_EPMD_ADDRESS='127.0.0.1',
                        ERL_EPMD_PORT=str(self.epmd_port),
                        RABBITMQ_NODENAME='sio-test@localhost', RABBITMQ_USE_LONGNAME='false',
                        RABBITMQ_NODE_IP_ADDRESS='127.0.0.1', RABBITMQ_NODE_PORT=str(self.port),
                        RABBITMQ_DIST_PORT=str(self.dist_port),
                        RABBITMQ_MNESIA_BASE=os.path.join(tmp, 'mnesia'),
                        RABBITMQ_LOG_BASE=os.path.join(tmp, 'log'),
                        RABBITMQ_CONFIG_FILE=os.path.join(tmp, 'rabbitmq'),
                        RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(tmp, 'advanced.config'),
                        RABBITMQ_CONF_ENV_FILE=os.path.join(tmp, 'rabbitmq-env.conf'),
                        RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(tmp, 'enabled_plugins'),
                        RABBITMQ_PID_FILE=os.path.join(tmp, 'rabbit.pid'),
                        RABBITMQ_SERVER_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}')

    def start(self, timeout=60):
        if not self.epmd:
            self.epmd = subprocess.Popen(['epmd', '-address', '127.0.0.1', '-port',
                                          str(self.epmd_port)], env=self.env)
        pidf = self.env['RABBITMQ_PID_FILE']
        if os.path.exists(pidf):
            os.unlink(pidf)
        log = open(os.path.join(self.dir, 'server.out'), 'a')
        self.wrapper = subprocess.Popen([RABBIT], env=self.env, stdout=log, stderr=log,
                                        cwd=self.dir)
        end = time.time() + timeout
        while time.time() < end:
            if port_open(self.port):
                return True
            if self.wrapper.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def beam_pid(self):
        try:
            return int(open(self.env['RABBITMQ_PID_FILE']).read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop_node(self):
        pid = self.beam_pid()
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.wrapper:
            try:
                self.wrapper.wait(20)
            except subprocess.TimeoutExpired:
                if pid:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                stop(self.wrapper)
        self.wrapper = None

    def stop(self):
        self.stop_node()
        stop(self.epmd)
        self.epmd = None


class Client:
    """bridge_client.mjs: socket.io-client sockets driven by JSON lines."""
    def __init__(self, url):
        self.p = subprocess.Popen(['node', os.path.join(HERE, 'bridge_client.mjs'), url,
                                   'redis://127.0.0.1:1'],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE)
        self.q = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

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

    def quit(self):
        try:
            self.send(op='quit')
            self.p.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            stop(self.p)


class Log:
    """The server's stderr, collected by a thread; wait for a line."""
    def __init__(self, stream):
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()

    def count(self, s):
        with self.cv:
            return sum(s in l for l in self.lines)

    def wait_count(self, s, n, timeout):
        end = time.time() + timeout
        with self.cv:
            while sum(s in l for l in self.lines) < n:
                left = end - time.time()
                if left <= 0:
                    return False
                self.cv.wait(left)
        return True


def publish_raw(url, body, content_type, content_encoding):
    """A body on the 'socketio' exchange as kombu publishes it."""
    import kombu
    with kombu.Connection(url) as conn:
        ex = kombu.Exchange('socketio', type='fanout', durable=False)
        prod = conn.Producer(exchange=ex)
        prod.publish(body, content_type=content_type, content_encoding=content_encoding,
                     declare=[ex])


def main():
    if not os.access(SIO, os.X_OK) or not os.path.exists(PLUGIN):
        print('amqp_test: build first (%s, %s)' % (SIO, PLUGIN))
        return 2
    if not os.path.exists(RABBIT) or not shutil.which('epmd'):
        print('amqp_test: rabbitmq-server is not installed (apt-get install rabbitmq-server)')
        return 2
    import socketio
    tmp = tempfile.mkdtemp(prefix='sio-amqp-')
    rabbit = Rabbit(tmp)
    srv = c = None
    try:
        t0 = time.time()
        up = rabbit.start()
        ok(up, 'rabbitmq-server starts on 127.0.0.1 (%.1f s)' % (time.time() - t0))
        if not up:
            sys.stdout.write(open(os.path.join(tmp, 'server.out')).read()[-2000:])
            return 1
        aurl = 'amqp://guest:guest@127.0.0.1:%d//' % rabbit.port
        sport = free_port()
        srv = subprocess.Popen([SIO, 'server', '--plugin', PLUGIN, '--port', str(sport),
                                '--bridge', aurl, '--log-level', 'debug'],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        log = Log(srv.stderr)
        ok(srv.stdout.readline().startswith('listening on'), 'sio server --bridge amqp://... starts')
        ok(log.wait_count('consuming exchange', 1, 20),
           'the bridge declares its queue, binds it to exchange "socketio" and consumes')

        c = Client('http://127.0.0.1:%d' % sport)
        sids = {}
        for n in ('a', 'b', 'c'):
            c.send(op='connect', name=n, nsp='/')
        for n in ('a', 'b', 'c'):
            m = c.wait(lambda m, n=n: m.get('ev') == 'connected' and m['name'] == n)
            sids[n] = m and m['sid']
        ok(all(sids.values()), 'three socket.io-client sockets connected')
        for n in ('a', 'b'):
            c.send(op='join', name=n, room='r1')
        ok(all(c.wait(lambda m, n=n: m.get('ev') == 'joined' and m['name'] == n)
               for n in ('a', 'b')), 'a and b join room r1 (chat plugin "join")')

        mgr = socketio.KombuManager(aurl, write_only=True)
        mgr.emit('to_room', {'id': 7}, room='r1', namespace='/')
        ga, gb = c.event('a', 'to_room'), c.event('b', 'to_room')
        ok(ga and gb and ga['args'] == [{'id': 7}] and gb['args'] == [{'id': 7}],
           'KombuManager.emit(room=r1) reaches a and b with the dict')
        ok(not c.event('c', 'to_room', 0.5), '... and not c')

        mgr.emit('to_all', ('x', 1, None), namespace='/')
        got = [c.event(n, 'to_all') for n in ('a', 'b', 'c')]
        ok(all(g and g['args'] == ['x', 1, None] for g in got),
           'KombuManager.emit(tuple) to the namespace: every client, the tuple as arguments')

        mgr.emit('skip', 'hi', namespace='/', skip_sid=sids['b'])
        ga, gc = c.event('a', 'skip'), c.event('c', 'skip')
        ok(ga and gc and ga['args'] == ['hi'], 'KombuManager.emit(skip_sid=b) reaches a and c')
        ok(not c.event('b', 'skip', 0.5), '... and not b')

        body = json.dumps({'method': 'emit', 'event': 'from_json', 'data': [{'v': 2}],
                           'binary': False, 'namespace': '/', 'room': sids['c'],
                           'skip_sid': None, 'callback': None, 'host_id': '0' * 32})
        publish_raw(aurl, body, 'text/plain', 'utf-8')
        gc = c.event('c', 'from_json')
        ok(gc and gc['args'] == [{'v': 2}],
           'python-socketio 5.14+ JSON body (text/plain) to one sid reaches it')

        marker = os.path.join(tmp, 'pwned')
        evil = b"cos\nsystem\n(S'touch " + marker.encode() + b"'\ntR."
        rej0 = log.count('rejected')
        publish_raw(aurl, evil, 'application/data', 'binary')
        ok(log.wait_count('rejected', rej0 + 1, 10) and not os.path.exists(marker),
           'a pickle that would call os.system is rejected (logged) and nothing runs')
        mgr.emit('after_evil', 1, namespace='/')
        ok(c.event('a', 'after_evil'), 'the server keeps serving after it')

        n_consuming = log.count('consuming exchange')
        rabbit.stop_node()
        ok(not port_open(rabbit.port), 'rabbitmq-server stopped')
        t0 = time.time()
        up = rabbit.start()
        ok(up, 'rabbitmq-server restarted (%.1f s)' % (time.time() - t0))
        ok(log.wait_count('consuming exchange', n_consuming + 1, 30),
           'the bridge reconnects and declares its queue again')
        mgr2 = socketio.KombuManager(aurl, write_only=True)
        mgr2.emit('resumed', {'ok': True}, room='r1', namespace='/')
        ga = c.event('a', 'resumed')
        ok(ga and ga['args'] == [{'ok': True}], 'after the restart, emits reach the room again')
        ok(srv.poll() is None, 'sio server still running')
    finally:
        if c:
            c.quit()
        if srv:
            srv.send_signal(signal.SIGTERM)
            try:
                rc = srv.wait(10)
                ok(rc == 0, 'sio server exits 0 on SIGTERM')
            except subprocess.TimeoutExpired:
                ok(False, 'sio server exits on SIGTERM')
                stop(srv)
        rabbit.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

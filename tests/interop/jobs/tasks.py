"""tasks.py: the Celery side of the jobs example (docs/JOBS.md).

sio's jobs plugin (plugins/jobs) sends the task `jobs.run` with the
arguments (sid, namespace, payload) when a client emits `start_job`. The
task does its work, then emits `job_done` to that client through
python-socketio's write-only RedisManager; `sio server --bridge redis://...`
delivers it.

    SIO_JOBS_BROKER=redis://127.0.0.1:6379/0 \
        python3 -m celery -A tasks worker --pool=solo -l info

Environment: SIO_JOBS_BROKER (Celery's broker, default
redis://127.0.0.1:6379/0), SIO_JOBS_SOCKETIO (the Redis that
`sio server --bridge` listens to, default the broker).
"""
import os
import time

import socketio
from celery import Celery

BROKER = os.environ.get('SIO_JOBS_BROKER', 'redis://127.0.0.1:6379/0')
SOCKETIO = os.environ.get('SIO_JOBS_SOCKETIO', BROKER)

app = Celery('jobs', broker=BROKER)
app.conf.task_ignore_result = True

_mgr = None


def manager():
    """One write-only manager per worker process (it only publishes)."""
    global _mgr
    if _mgr is None:
        _mgr = socketio.RedisManager(SOCKETIO, write_only=True)
    return _mgr


@app.task(name='jobs.run', bind=True)
def run(self, sid, namespace, payload):
    n = payload.get('n', 1) if isinstance(payload, dict) else 1
    time.sleep(0.2)                     # the "work"
    result = {'job_id': self.request.id, 'result': sum(range(int(n) + 1))}
    # python-socketio 5.7.2 (Debian) names the target room=; later
    # versions accept both room= and to=.
    manager().emit('job_done', result, room=sid, namespace=namespace)
    return result

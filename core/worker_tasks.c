/* worker_tasks.c: background tasks (sio_task_start): a thread each, with
 * a host whose commands go through its shard's queue. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <sio/sio.h>
#include "core/worker.h"
#include "core/worker_int.h"
#include "base/buf.h"
#include "base/map.h"
#include "core/plugin_loader.h"
#include "proto/sio.h"
#include "proto/text.h"
#include "base/vec.h"


/* ---- background tasks ---- */

bool sio__worker_stopping(struct sio__shard *sh)
{
    return atomic_load(&sh->w->stopping);
}

static void *task_main(void *arg)
{
    struct task *t = arg;
    t->fn(&t->host, t->ud);
    zmq_close(t->host.push);
    t->host.push = NULL;
    sio_buf_clear(&t->host.env_buf);
    sio_buf_clear(&t->host.json_buf);
    return NULL;
}

int sio__task_start(struct sio_host *h, sio_task_fn fn, void *ud)
{
    struct sio__shard *sh = h->sh;
    struct sio_worker *w = sh->w;
    if (!fn)
        return -EINVAL;
    if (atomic_load(&w->stopping))
        return SIO_ERR_CLOSED;
    struct task *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->w = w;
    t->fn = fn;
    t->ud = ud;
    t->host.sh = sh;
    t->host.task = true;
    sio_buf_init(&t->host.env_buf);
    sio_buf_init(&t->host.json_buf);
    /* a zmq socket may move to another thread with a full memory barrier
     * (thread creation is one) */
    t->host.push = zmq_socket(w->zctx, ZMQ_PUSH);
    if (!t->host.push || zmq_connect(t->host.push, sh->queue_ep) < 0) {
        if (t->host.push)
            zmq_close(t->host.push);
        free(t);
        return -errno;
    }
    int hwm = 0;
    zmq_setsockopt(t->host.push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    pthread_mutex_lock(&w->mu);
    int rc = pthread_create(&t->thread, NULL, task_main, t);
    if (rc == 0) {
        t->next = w->tasks;
        w->tasks = t;
    }
    pthread_mutex_unlock(&w->mu);
    if (rc != 0) {
        zmq_close(t->host.push);
        free(t);
        return -rc;
    }
    return 0;
}

void wk_tasks_join(struct sio_worker *w)
{
    atomic_store(&w->stopping, true);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        struct task *t = w->tasks;
        if (t)
            w->tasks = t->next;
        pthread_mutex_unlock(&w->mu);
        if (!t)
            return;
        pthread_join(t->thread, NULL);
        free(t);
    }
}

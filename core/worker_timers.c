/* worker_timers.c: each shard's timers, a binary min-heap run by its loop
 * (sio_timer_start / sio_timer_stop in <sio/plugin.h>). */
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

SIO_LOG_TOPIC_STATIC(topic, "core.worker");

/* ---- timers: a binary min-heap per shard ---- */

static void heap_swap(struct timer *a, struct timer *b)
{
    struct timer t = *a;
    *a = *b;
    *b = t;
}

static void heap_up(struct timer *v, size_t i)
{
    while (i > 0 && v[(i - 1) / 2].due > v[i].due) {
        heap_swap(&v[(i - 1) / 2], &v[i]);
        i = (i - 1) / 2;
    }
}

static void heap_down(struct timer *v, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && v[l].due < v[m].due)
            m = l;
        if (r < n && v[r].due < v[m].due)
            m = r;
        if (m == i)
            return;
        heap_swap(&v[m], &v[i]);
        i = m;
    }
}

static int heap_push(struct sio__shard *sh, const struct timer *t)
{
    if (SIO_VEC_ROOM(sh->timers, sh->ntimers, sh->timers_cap, 16) < 0)
        return -ENOMEM;
    sh->timers[sh->ntimers] = *t;
    heap_up(sh->timers, sh->ntimers++);
    return 0;
}

static void heap_remove(struct sio__shard *sh, size_t i)
{
    sh->timers[i] = sh->timers[--sh->ntimers];
    if (i < sh->ntimers) {
        heap_up(sh->timers, i);
        heap_down(sh->timers, sh->ntimers, i);
    }
}


SIO_EXPORT int64_t sio_timer_start(sio_host *h, unsigned ms, bool repeat, sio_timer_fn cb, void *ud)
{
    if (!h || h->task || !cb || (repeat && ms == 0))
        return -EINVAL;
    struct sio__shard *sh = h->sh;
    struct timer t = { .due = wk_now_ms() + ms, .id = ++sh->next_timer_id,
                       .interval = repeat ? ms : 0, .cb = cb, .ud = ud };
    int rc = heap_push(sh, &t);
    return rc < 0 ? rc : t.id;
}

SIO_EXPORT int sio_timer_stop(sio_host *h, int64_t id)
{
    if (!h || h->task)
        return -EINVAL;
    struct sio__shard *sh = h->sh;
    if (id == sh->running_timer && !sh->running_stopped) {
        sh->running_stopped = true;
        return 0;
    }
    for (size_t i = 0; i < sh->ntimers; i++)
        if (sh->timers[i].id == id) {
            heap_remove(sh, i);
            return 0;
        }
    return -ENOENT;
}

/* Run due timers; returns ms until the next one (or max_wait). */
long wk_run_timers(struct sio__shard *sh, long max_wait)
{
    for (int guard = 0; guard < 1024 && sh->ntimers; guard++) {
        uint64_t now = wk_now_ms();
        if (sh->timers[0].due > now)
            break;
        struct timer t = sh->timers[0];
        heap_remove(sh, 0);
        sh->running_timer = t.id;
        sh->running_stopped = false;
        t.cb(&sh->host, t.ud);
        sh->running_timer = 0;
        if (t.interval && !sh->running_stopped) {
            t.due = now + t.interval;
            if (heap_push(sh, &t) < 0)
                sio_log_warn(topic, "shard %u: timer %lld lost", sh->index, (long long)t.id);
        }
    }
    if (!sh->ntimers)
        return max_wait;
    uint64_t now = wk_now_ms();
    long d = sh->timers[0].due > now ? (long)(sh->timers[0].due - now) : 0;
    return d < max_wait ? d : max_wait;
}

/* worker.c: the worker runtime: loads plugins, runs shard threads that
 * receive events from the hub and call the plugins' handlers.
 *
 * Owns: the loaded plugins (for the worker's life) and, per shard, a DEALER
 * to the hub, a control PAIR, the map of connected sockets (nsp, sid) ->
 * (gw, plugin) and reusable encode buffers. The hub keeps a socket sticky to
 * one shard, so its handlers run on one thread, in arrival order.
 *
 * Also owns, per shard, a timer heap run by the shard's loop and a PULL
 * queue through which background tasks send commands and post closures;
 * per worker (under one mutex), the mirror of room membership, the
 * pending server-to-client acks and the running tasks.
 *
 * Commands produced while on_connect runs (emits, room joins) are held back
 * and sent after CONNECT_OK (dropped on a refusal): the gateway must know
 * the socket is connected before anything addresses it.
 *
 * This file: the worker's and the shards' lifecycle, their bus sockets and
 * loop (core/zloop.c), metrics. The rest of the worker: worker_dispatch.c
 * (events to handlers), worker_timers.c, worker_rooms.c (room and session
 * mirrors), worker_acks.c (deferred and pending acks), worker_tasks.c,
 * worker_reload.c; their shared state is in worker_int.h.
 */
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
#include "core/zloop.h"
#include "base/buf.h"
#include "base/map.h"
#include "core/plugin_loader.h"
#include "proto/sio.h"
#include "proto/text.h"
#include "base/vec.h"

SIO_LOG_TOPIC_STATIC(topic, "core.worker");

#define HEARTBEAT_MS 1000

static const struct sio_plugin *plugin_desc(const struct sio_worker *w, size_t i)
{
    return __atomic_load_n(&w->plugins[i].desc, __ATOMIC_ACQUIRE);
}

uint64_t wk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int nsp_match(const char *p, const char *nsp)
{
    size_t pl = strlen(p), nl = strlen(nsp);
    if (strcmp(p, nsp) == 0)
        return 3;
    if (nl == 0 || pl == 0)
        return 0;
    if (pl == 1 && p[0] == '*')
        return 1;
    if (p[pl - 1] == '*' && nl >= pl - 1 && memcmp(p, nsp, pl - 1) == 0)
        return 2;
    return 0;
}

/* The plugin serving nsp: exact name, then a pattern, then "*". */
const struct sio_plugin *wk_find_plugin(struct sio_worker *w, const char *nsp)
{
    const struct sio_plugin *best = NULL;
    int bestq = 0;
    for (size_t i = 0; i < w->nplugins; i++) {
        const struct sio_plugin *d = plugin_desc(w, i);
        const char *p;
        for (size_t k = 0; (p = sio__plugin_nsp(d, k)); k++) {
            int q = nsp_match(p, nsp);
            if (q > bestq) {
                bestq = q;
                best = d;
            }
        }
    }
    return best;
}

const struct sio_plugin *wk_find_raw_plugin(struct sio_worker *w)
{
    for (size_t i = 0; i < w->nplugins; i++) {
        const struct sio_plugin *d = plugin_desc(w, i);
        if (SIO_PLUGIN_HAS(d, on_raw) && d->on_raw)
            return d;
    }
    return NULL;
}

/* Send the batch of commands queued for one topic: [topic, envelope] when
 * it holds one, else [topic, batch]. The hub republishes either as it is. */
void wk_flush(struct sio__shard *sh)
{
    if (!sh->out.n)
        return;
    const void *p;
    size_t len;
    sio_bus_batch_frame(&sh->out, &p, &len);
    sh->sends++;
    if (zmq_send(sh->dealer, sh->out_topic, sh->out_tlen, ZMQ_SNDMORE) < 0 ||
        zmq_send(sh->dealer, p, len, 0) < 0)
        sio_log_warn(topic, "shard %u: send failed: %s (%zu commands dropped)", sh->index,
                     zmq_strerror(errno), sh->out.n);
    sio_bus_batch_reset(&sh->out);
}

int wk_send_frames(struct sio__shard *sh, const void *t, size_t tlen, const void *e, size_t elen)
{
    wk_flush(sh);       /* what was queued before goes first */
    sh->sends++;
    if (t && zmq_send(sh->dealer, t, tlen, ZMQ_SNDMORE) < 0)
        return -errno;
    if (zmq_send(sh->dealer, e, elen, 0) < 0)
        return -errno;
    return 0;
}

int sio__shard_send(struct sio__shard *sh, const char *topic_s, const struct sio_env *env)
{
    sio_buf_reset(&sh->env_buf);
    int rc = sio_env_encode(env, &sh->env_buf);
    if (rc < 0)
        return rc;
    size_t tlen = strlen(topic_s);
    if (sh->deferring) {
        struct deferred *d = malloc(sizeof *d + tlen + sh->env_buf.len);
        if (!d)
            return -ENOMEM;
        d->next = NULL;
        d->tlen = tlen;
        d->elen = sh->env_buf.len;
        memcpy(d->bytes, topic_s, tlen);
        memcpy(d->bytes + tlen, sh->env_buf.data, sh->env_buf.len);
        *sh->dq_tail = d;
        sh->dq_tail = &d->next;
        return 0;
    }
    if (sh->env_buf.len < SIO_BUS_ZEROCOPY_MIN && tlen <= sizeof sh->out_topic) {
        /* one batch per run of commands for the same topic: a command for
         * another topic sends the batch first, so the order holds */
        if (sh->out.n && (tlen != sh->out_tlen || memcmp(topic_s, sh->out_topic, tlen) != 0))
            wk_flush(sh);
        if (sio_bus_batch_add(&sh->out, sh->env_buf.data, sh->env_buf.len) == 0) {
            memcpy(sh->out_topic, topic_s, tlen);
            sh->out_tlen = tlen;
            sh->sends++;
            if (sh->out.buf.len >= SIO_BUS_BATCH_MAX)
                wk_flush(sh);
            return 0;
        }
    }
    /* a large envelope's buffer goes to zmq as it is (no copy) */
    wk_flush(sh);
    sh->sends++;
    if (zmq_send(sh->dealer, topic_s, tlen, ZMQ_SNDMORE) < 0)
        return -errno;
    return sio_bus_send_buf(sh->dealer, &sh->env_buf, 0);
}

struct sio_ctx *sio__shard_ack_ctx(struct sio__shard *sh)
{
    return sh->ack_ctx;
}

struct sio_host *sio__shard_host(struct sio__shard *sh)
{
    return &sh->host;
}

struct sio_buf *sio__host_json_buf(struct sio_host *h)
{
    return h->task ? &h->json_buf : &h->sh->json_buf;
}

int sio__host_send(struct sio_host *h, const char *topic_s, const struct sio_env *env)
{
    if (!h->task)
        return sio__shard_send(h->sh, topic_s, env);
    sio_buf_reset(&h->env_buf);
    int rc = sio_env_encode(env, &h->env_buf);
    if (rc < 0)
        return rc;
    if (zmq_send(h->push, topic_s, strlen(topic_s), ZMQ_SNDMORE) < 0 ||
        zmq_send(h->push, h->env_buf.data, h->env_buf.len, 0) < 0)
        return -errno;
    return 0;
}

struct post {
    void (*fn)(struct sio_host *, void *);
    void *arg;
};

int sio__host_post(struct sio_host *h, void (*fn)(struct sio_host *, void *), void *arg)
{
    if (!h->task) {
        fn(h, arg);
        return 0;
    }
    struct post p = { fn, arg };
    if (zmq_send(h->push, &p, sizeof p, 0) < 0)
        return -errno;
    return 0;
}


void wk_deferred_flush(struct sio__shard *sh, bool send)
{
    struct deferred *d = sh->dq;
    while (d) {
        struct deferred *next = d->next;
        if (send && wk_send_frames(sh, d->bytes, d->tlen, d->bytes + d->tlen, d->elen) < 0)
            sio_log_warn(topic, "shard %u: send failed: %s", sh->index, zmq_strerror(errno));
        free(d);
        d = next;
    }
    sh->dq = NULL;
    sh->dq_tail = &sh->dq;
}

int wk_send_control(struct sio__shard *sh, enum sio_env_kind kind)
{
    struct sio_env env;
    sio_env_init(&env, kind);
    struct sio_str *rooms = NULL;
    size_t n = 0;
    if (kind == SIO_ENV_HELLO) {
        struct sio_worker *w = sh->w;
        size_t cap = 1;
        for (size_t i = 0; i < w->nplugins; i++)
            for (size_t k = 0; sio__plugin_nsp(plugin_desc(w, i), k); k++)
                cap++;
        rooms = calloc(cap, sizeof *rooms);
        if (!rooms)
            return -ENOMEM;
        bool raw = false;
        for (size_t i = 0; i < w->nplugins; i++) {
            const struct sio_plugin *d = plugin_desc(w, i);
            const char *p;
            for (size_t k = 0; (p = sio__plugin_nsp(d, k)); k++)
                rooms[n++] = (struct sio_str){ p, strlen(p) };
            if (SIO_PLUGIN_HAS(d, on_raw) && d->on_raw)
                raw = true;
        }
        if (raw)
            rooms[n++] = (struct sio_str){ "", 0 };
        env.rooms = rooms;
        env.nrooms = n;
    }
    sio_buf_reset(&sh->env_buf);
    int rc = sio_env_encode(&env, &sh->env_buf);
    free(rooms);
    if (rc < 0)
        return rc;
    return wk_send_frames(sh, NULL, 0, sh->env_buf.data, sh->env_buf.len);
}


static bool drain_queue(struct sio__shard *sh)
{
    for (int i = 0; i < 256; i++) {
        zmq_msg_t a, b;
        zmq_msg_init(&a);
        if (zmq_msg_recv(&a, sh->queue, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&a);
            return true;
        }
        if (!zmq_msg_more(&a)) {
            struct post p;
            if (zmq_msg_size(&a) == sizeof p) {
                memcpy(&p, zmq_msg_data(&a), sizeof p);
                p.fn(&sh->host, p.arg);
            }
            zmq_msg_close(&a);
            continue;
        }
        zmq_msg_init(&b);
        if (zmq_msg_recv(&b, sh->queue, 0) >= 0 && !zmq_msg_more(&b))
            wk_send_frames(sh, zmq_msg_data(&a), zmq_msg_size(&a), zmq_msg_data(&b), zmq_msg_size(&b));
        zmq_msg_close(&a);
        zmq_msg_close(&b);
    }
    return false;
}

/* One event from the hub; false when none is ready (EAGAIN). */
static void handle_one(void *arg, const void *env, size_t len)
{
    wk_handle(arg, env, len);
}

static bool recv_and_handle(struct sio__shard *sh)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sh->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return false;
    }
    bool more = zmq_msg_more(&m);
    /* an event, or the hub's events for us of one pass (docs/BUS.md 2.4) */
    const char *why;
    if (sio_bus_envelopes_each(zmq_msg_data(&m), zmq_msg_size(&m), handle_one, sh, &why) < 0)
        sio_log_debug(topic, "shard %u: bad batch from the hub dropped: %s", sh->index, why);
    zmq_msg_close(&m);
    while (more) {     /* events are one frame; skip anything else */
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sh->dealer, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return true;
}

/* Graceful stop: the hub has our BYE and routes nothing new here; finish
 * what it sent before it (until 200 ms pass without a message, at most
 * drain_ms), so no event already queued for this shard is dropped. */
static void drain_after_bye(struct sio__shard *sh)
{
    uint64_t end = wk_now_ms() + sh->w->drain_ms;
    zmq_pollitem_t it = { sh->dealer, 0, ZMQ_POLLIN, 0 };
    while (wk_now_ms() < end) {
        int rc = zmq_poll(&it, 1, 200);
        if (rc <= 0 && !(rc < 0 && errno == EINTR))
            break;
        if (it.revents & ZMQ_POLLIN)
            recv_and_handle(sh);
        wk_flush(sh);
    }
    drain_queue(sh);
    wk_flush(sh);
}

/* One pass of a shard's loop (zloop.h): the heartbeat, due timers, the
 * queue of tasks' commands, then a bounded batch from the dealer. The
 * loop sleeps only after the queue and then the dealer answered EAGAIN
 * with nothing sent on the dealer since (a send may consume the command
 * that would have woken us; ZMQ_FD is edge-triggered). */
static int shard_pass(void *arg, long *wait_ms)
{
    struct sio__shard *sh = arg;
    int r = SIO_ZLOOP_IDLE;
    uint64_t now = wk_now_ms();
    if (now >= sh->next_hb) {
        wk_send_control(sh, SIO_ENV_HEARTBEAT);
        sh->next_hb = now + HEARTBEAT_MS;
        r |= SIO_ZLOOP_CHECK_CTL;
    }
    long wait = wk_run_timers(sh, (long)(sh->next_hb - now));
    bool idle = drain_queue(sh);
    int i;
    for (i = 0; i < 64; i++) {
        if (recv_and_handle(sh))
            continue;
        if (!sh->out.n)
            break;
        /* send the pass's commands, then receive again: the loop may
         * sleep only after a receive said EAGAIN (zloop.h) */
        wk_flush(sh);
    }
    if (i == 64)
        idle = false;
    if (sh->out.n) {
        wk_flush(sh);
        idle = false;
    }
    unsigned long sent = sh->sends;
    if (!idle)
        return r | SIO_ZLOOP_BUSY;
    if (sh->ntimers) {
        wait = wk_run_timers(sh, wait);
        if (sh->sends != sent)
            return r | SIO_ZLOOP_BUSY;
    }
    *wait_ms = wait;
    return r;
}

static void *shard_main(void *arg)
{
    struct sio__shard *sh = arg;
    char name[32];
    snprintf(name, sizeof name, "shard %u", sh->index);
    char tname[16];
    snprintf(tname, sizeof tname, "sio-shard-%u", sh->index % 100000u);
    pthread_setname_np(pthread_self(), tname);         /* for top -H, perf */
    sh->next_hb = wk_now_ms() + HEARTBEAT_MS;
    const struct sio_zloop l = {
        .socks = { sh->ctl_thread, sh->dealer, sh->queue }, .nsocks = 3,
        .pass = shard_pass, .ud = sh, .log = topic, .name = name,
    };
    sio_zloop_run(&l);
    wk_send_control(sh, SIO_ENV_BYE);
    if (sh->w->drain_ms)
        drain_after_bye(sh);
    return NULL;
}

static void shard_close(struct sio__shard *sh)
{
    void **socks[] = { &sh->dealer, &sh->ctl_main, &sh->ctl_thread, &sh->queue };
    for (size_t i = 0; i < 4; i++)
        if (*socks[i]) {
            zmq_close(*socks[i]);
            *socks[i] = NULL;
        }
    wk_deferred_flush(sh, false);
    wk_sockmap_clear(&sh->socks);
    sio_buf_clear(&sh->env_buf);
    sio_bus_batch_clear(&sh->out);
    sio_buf_clear(&sh->json_buf);
    free(sh->timers);
    sh->timers = NULL;
    sh->ntimers = sh->timers_cap = 0;
}

static void *mksock(void *zctx, int type)
{
    void *s = zmq_socket(zctx, type);
    if (s) {
        int zero = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    }
    return s;
}

static int shard_start(struct sio_worker *w, struct sio__shard *sh, const char *endpoint,
                       char *err, size_t errlen)
{
    sh->w = w;
    sh->host.sh = sh;
    sh->dq_tail = &sh->dq;
    sio_buf_init(&sh->env_buf);
    sio_bus_batch_init(&sh->out);
    sio_buf_init(&sh->json_buf);
    sh->dealer = mksock(w->zctx, ZMQ_DEALER);
    sh->ctl_main = mksock(w->zctx, ZMQ_PAIR);
    sh->ctl_thread = mksock(w->zctx, ZMQ_PAIR);
    sh->queue = mksock(w->zctx, ZMQ_PULL);
    if (!sh->dealer || !sh->ctl_main || !sh->ctl_thread || !sh->queue) {
        snprintf(err, errlen, "worker: cannot create sockets: %s", zmq_strerror(errno));
        return -errno;
    }
    int hwm = 0;    /* commands are never dropped */
    zmq_setsockopt(sh->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sh->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (sio_bus_secure(sh->dealer, w->curve, 0) < 0) {
        snprintf(err, errlen, "worker: CURVE keys: %s", zmq_strerror(errno));
        return -errno;
    }
    if (zmq_connect(sh->dealer, endpoint) < 0) {
        snprintf(err, errlen, "worker: cannot connect to %s: %s", endpoint, zmq_strerror(errno));
        return -errno;
    }
    char ctl[80];
    snprintf(ctl, sizeof ctl, "inproc://sio-worker-ctl-%p", (void *)sh);
    snprintf(sh->queue_ep, sizeof sh->queue_ep, "inproc://sio-worker-q-%p", (void *)sh);
    int rcvhwm = 0;
    zmq_setsockopt(sh->queue, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    if (zmq_bind(sh->ctl_thread, ctl) < 0 || zmq_connect(sh->ctl_main, ctl) < 0 ||
        zmq_bind(sh->queue, sh->queue_ep) < 0) {
        snprintf(err, errlen, "worker: control socket: %s", zmq_strerror(errno));
        return -errno;
    }
    /* HELLO before the thread starts, so the hub knows this shard as soon as
     * sio_worker_new() returns (queued if the hub is not bound yet). */
    int rc = wk_send_control(sh, SIO_ENV_HELLO);
    if (rc < 0) {
        snprintf(err, errlen, "worker: cannot register with the hub: %s", sio_strerror(rc));
        return rc;
    }
    rc = pthread_create(&sh->thread, NULL, shard_main, sh);
    if (rc != 0) {
        snprintf(err, errlen, "worker: cannot start thread: %s", strerror(rc));
        return -rc;
    }
    sh->started = true;
    return 0;
}

void sio_worker_destroy(sio_worker **w_p)
{
    if (!w_p || !*w_p)
        return;
    struct sio_worker *w = *w_p;
    *w_p = NULL;
    wk_tasks_join(w);      /* tasks may still post to running shards */
    for (unsigned i = 0; i < w->nshards; i++) {
        struct sio__shard *sh = &w->shards[i];
        if (sh->started) {
            zmq_send(sh->ctl_main, "STOP", 4, 0);
            pthread_join(sh->thread, NULL);
        }
        shard_close(sh);
    }
    free(w->shards);
    wk_pending_clear(w);
    while (w->dacks) {
        struct dack *d = w->dacks;
        w->dacks = d->next;
        wk_dack_free(d);
    }
    json_decref(w->sessions);
    json_decref(w->rooms);
    pthread_mutex_destroy(&w->mu);
    for (size_t i = w->nplugins; i-- > 0;)
        sio__plugin_close(&w->plugins[i]);
    free(w->plugins);
    for (size_t i = w->nretired; i-- > 0;)
        sio__plugin_close(&w->retired[i]);
    free(w->retired);
    for (size_t i = 0; w->paths && i < w->nplugins_given; i++)
        free(w->paths[i]);
    free(w->paths);
    free(w);
}

int sio_worker_new(sio_worker **out, const struct sio_worker_cfg *cfg, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->zmq_ctx || !cfg->hub_endpoint) {
        snprintf(err, errlen, "worker: missing zmq context or hub endpoint");
        return -EINVAL;
    }
    if (cfg->nplugins == 0) {
        snprintf(err, errlen, "worker: no plugin to load");
        return -EINVAL;
    }
    struct sio_worker *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "worker: out of memory");
        return -ENOMEM;
    }
    w->zctx = cfg->zmq_ctx;
    w->curve = cfg->curve;
    w->drain_ms = cfg->drain_ms;
    pthread_mutex_init(&w->mu, NULL);
    w->rooms = json_object();
    w->sessions = json_object();
    w->next_ack_id = 1;
    w->plugins = calloc(cfg->nplugins, sizeof *w->plugins);
    unsigned nshards = cfg->threads ? cfg->threads : 1;
    w->shards = calloc(nshards, sizeof *w->shards);
    int rc = -ENOMEM;
    w->paths = calloc(cfg->nplugins, sizeof *w->paths);
    if (!w->plugins || !w->shards || !w->rooms || !w->sessions || !w->paths) {
        snprintf(err, errlen, "worker: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->nplugins; i++) {
        w->paths[i] = strdup(cfg->plugin_paths[i]);
        if (!w->paths[i]) {
            snprintf(err, errlen, "worker: out of memory");
            goto fail;
        }
        w->nplugins_given++;
    }
    for (size_t i = 0; i < cfg->nplugins; i++) {
        rc = sio__plugin_open(cfg->plugin_paths[i], &w->plugins[i], err, errlen);
        if (rc < 0)
            goto fail;
        w->nplugins++;
    }
    for (unsigned i = 0; i < nshards; i++) {
        w->shards[i].index = i;
        w->nshards++;
        rc = shard_start(w, &w->shards[i], cfg->hub_endpoint, err, errlen);
        if (rc < 0)
            goto fail;
    }
    *out = w;
    return 0;
fail:
    sio_worker_destroy(&w);
    return rc < 0 ? rc : -EIO;
}


int sio_worker_metrics(sio_worker *w, struct sio_buf *b)
{
    atomic_store(&w->timing, true);
    uint64_t ev = 0, us = 0;
    for (unsigned i = 0; w->shards && i < w->nshards; i++) {
        ev += atomic_load_explicit(&w->shards[i].st_events, memory_order_relaxed);
        us += atomic_load_explicit(&w->shards[i].st_handler_us, memory_order_relaxed);
    }
    char t[512];
    int n = snprintf(t, sizeof t,
        "# HELP sio_worker_events_total client events handled by plugins\n"
        "# TYPE sio_worker_events_total counter\nsio_worker_events_total %llu\n"
        "# HELP sio_worker_handler_seconds_total time spent in event handlers\n"
        "# TYPE sio_worker_handler_seconds_total counter\nsio_worker_handler_seconds_total %.6f\n"
        "# HELP sio_worker_shards shard threads\n# TYPE sio_worker_shards gauge\n"
        "sio_worker_shards %u\n", (unsigned long long)ev, (double)us / 1e6, w->nshards);
    if (n < 0 || (size_t)n >= sizeof t)
        return -EINVAL;
    return sio_buf_append(b, t, (size_t)n);
}

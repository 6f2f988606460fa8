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
#include "worker.h"
#include "zloop.h"
#include "buf.h"
#include "worker_ctx.h"
#include "map.h"
#include "plugin_loader.h"
#include "proto/sio.h"
#include "proto/text.h"
#include "vec.h"

SIO_LOG_TOPIC_STATIC(topic, "core.worker");

#define HEARTBEAT_MS 1000

/* ---- connected sockets: "nsp\0sid" -> struct wsock (core/map.h) ---- */

struct wsock {
    char *key;              /* nsp '\0' sid */
    size_t klen;
    char *nsp, *sid, *gw;   /* NUL-terminated (point into key / own gw) */
    const struct sio_plugin *plugin;
    unsigned gen;           /* plugin generation s->plugin was looked up in */
    json_t *session;        /* user session (sio_session_get), or NULL */
    char bytes[];           /* key, then gw: one allocation per socket */
};

static void wsock_free(struct wsock *s)
{
    if (!s)
        return;
    json_decref(s->session);
    free(s);
}

static struct wsock *sockmap_get(struct sio_map *m, const void *k, size_t klen)
{
    return sio_map_get(m, k, klen);
}

/* Insert s (the map owns it from now on; a re-sent CONNECT replaces and
 * frees the previous record). 0 or -ENOMEM (s is then still the caller's). */
static int sockmap_put(struct sio_map *m, struct wsock *s)
{
    struct sio_map_ent *e = sio_map_find(m, s->key, s->klen);
    if (e) {
        wsock_free(e->val);
        e->val = s;
        return 0;
    }
    return sio_map_put(m, s->key, s->klen, s);
}

static void sockmap_del(struct sio_map *m, const void *k, size_t klen)
{
    wsock_free(sio_map_del(m, k, klen));
}

static bool free_one(struct sio_map_ent *e, void *ud)
{
    (void)ud;
    wsock_free(e->val);
    return true;
}

static void sockmap_clear(struct sio_map *m)
{
    sio_map_sweep(m, free_one, NULL);
    sio_map_clear(m);
}

/* Build the socket record from envelope strings. */
static struct wsock *wsock_new(const struct sio_str *nsp, const struct sio_str *sid,
                               const struct sio_str *gw, const struct sio_plugin *plugin)
{
    size_t klen = nsp->len + 1 + sid->len;
    struct wsock *s = calloc(1, sizeof *s + klen + 1 + gw->len + 1);
    if (!s)
        return NULL;
    s->klen = klen;
    s->key = s->bytes;
    s->gw = s->bytes + klen + 1;
    if (gw->len)
        memcpy(s->gw, gw->p, gw->len);
    if (nsp->len)
        memcpy(s->key, nsp->p, nsp->len);
    s->key[nsp->len] = '\0';
    if (sid->len)
        memcpy(s->key + nsp->len + 1, sid->p, sid->len);
    s->key[s->klen] = '\0';
    s->nsp = s->key;
    s->sid = s->key + nsp->len + 1;
    s->plugin = plugin;
    return s;
}

/* ---- worker and shards ---- */

struct deferred {
    struct deferred *next;
    size_t tlen, elen;
    unsigned char bytes[];  /* topic then envelope */
};

struct timer {
    uint64_t due;
    int64_t id;
    unsigned interval;      /* repeat period, 0: one shot */
    sio_timer_fn cb;
    void *ud;
};

struct sio__shard {
    uint64_t next_hb;           /* ms: the next HEARTBEAT to the hub (loop thread) */
    struct sio_worker *w;
    struct sio_host host;       /* this shard's host (sio_ctx_host) */
    unsigned index;
    _Atomic uint64_t st_events, st_handler_us;  /* metrics; written by this shard only */
    pthread_t thread;
    bool started;
    void *dealer;
    void *ctl_main, *ctl_thread;
    struct sio_map socks;
    struct sio_buf env_buf;     /* envelope encoding, reused */
    struct sio_buf json_buf;    /* JSON text, reused */
    bool deferring;             /* inside on_connect */
    struct deferred *dq, **dq_tail;
    void *queue;                /* PULL: tasks' commands and posts */
    unsigned long sends;        /* sends on the dealer (see shard_main) */
    char queue_ep[64];
    struct timer *timers;       /* min-heap by due */
    size_t ntimers, timers_cap;
    int64_t next_timer_id;
    int64_t running_timer;      /* id of the timer whose cb runs, 0 = none */
    bool running_stopped;       /* ... and it stopped itself */
};

struct pending {                /* a server-to-client ack awaited */
    struct pending *next;
    int64_t id;
    char *nsp, *sid;
    sio_ack_cb cb;
    void *ud;
    struct sio__shard *timer_sh;
    int64_t timer_id;
};

struct dack {                   /* a deferred ack (sio_ack_defer) not answered yet */
    struct dack *next;
    int64_t token;
    int64_t ack_id;             /* the client's ack id */
    char *gw, *nsp, *sid;
};

struct task {
    struct task *next;
    pthread_t thread;
    struct sio_worker *w;
    struct sio_host host;
    sio_task_fn fn;
    void *ud;
};

struct sio_worker {
    void *zctx;
    struct sio_loaded_plugin *plugins;
    size_t nplugins;
    struct sio__shard *shards;
    unsigned nshards;
    pthread_mutex_t mu;         /* rooms, pending, tasks */
    json_t *rooms;              /* "nsp\x01sid" -> [sid, room...], or true: own room only */
    struct pending *pending;
    int64_t next_ack_id;
    json_t *sessions;           /* "nsp\x01sid" -> session as last saved (sio_session_of) */
    struct dack *dacks;         /* deferred acks not answered yet */
    int64_t next_token;
    struct task *tasks;
    atomic_bool stopping;
    /* hot reload: descriptors are swapped with atomic stores (plugins[i].desc
     * is read by shards with atomic loads); replaced handles wait in
     * retired[] until destroy, so running handlers keep their code */
    char **paths;               /* the files given, for reloads */
    struct sio_loaded_plugin *retired;
    size_t nretired;
    atomic_uint gen;
    unsigned drain_ms;
    size_t nplugins_given;
    const struct sio_bus_curve *curve;
    atomic_bool timing;         /* a scrape asked: time the handlers too */
};

#define SHARD_ADD(sh, f, n) atomic_store_explicit(&(sh)->f, \
    atomic_load_explicit(&(sh)->f, memory_order_relaxed) + (n), memory_order_relaxed)

static const struct sio_plugin *plugin_desc(const struct sio_worker *w, size_t i)
{
    return __atomic_load_n(&w->plugins[i].desc, __ATOMIC_ACQUIRE);
}

static uint64_t now_ms(void)
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
static const struct sio_plugin *find_plugin(struct sio_worker *w, const char *nsp)
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

static const struct sio_plugin *find_raw_plugin(struct sio_worker *w)
{
    for (size_t i = 0; i < w->nplugins; i++) {
        const struct sio_plugin *d = plugin_desc(w, i);
        if (SIO_PLUGIN_HAS(d, on_raw) && d->on_raw)
            return d;
    }
    return NULL;
}

static int send_frames(struct sio__shard *sh, const void *t, size_t tlen, const void *e, size_t elen)
{
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
    /* a large envelope's buffer goes to zmq as it is (no copy) */
    sh->sends++;
    if (zmq_send(sh->dealer, topic_s, tlen, ZMQ_SNDMORE) < 0)
        return -errno;
    return sio_bus_send_buf(sh->dealer, &sh->env_buf, 0);
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

static uint64_t now_ms(void);

SIO_EXPORT int64_t sio_timer_start(sio_host *h, unsigned ms, bool repeat, sio_timer_fn cb, void *ud)
{
    if (!h || h->task || !cb || (repeat && ms == 0))
        return -EINVAL;
    struct sio__shard *sh = h->sh;
    struct timer t = { .due = now_ms() + ms, .id = ++sh->next_timer_id,
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
static long run_timers(struct sio__shard *sh, long max_wait)
{
    for (int guard = 0; guard < 1024 && sh->ntimers; guard++) {
        uint64_t now = now_ms();
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
    uint64_t now = now_ms();
    long d = sh->timers[0].due > now ? (long)(sh->timers[0].due - now) : 0;
    return d < max_wait ? d : max_wait;
}

/* ---- rooms mirror ---- */

static char *sock_key(const char *nsp, const char *sid)
{
    size_t nl = strlen(nsp), sl = strlen(sid);
    char *k = malloc(nl + sl + 2);
    if (k) {
        memcpy(k, nsp, nl);
        k[nl] = '\x01';
        memcpy(k + nl + 1, sid, sl + 1);
    }
    return k;
}

static void rooms_add_sock(struct sio_worker *w, const char *nsp, const char *sid)
{
    char *k = sock_key(nsp, sid);
    if (!k)
        return;
    pthread_mutex_lock(&w->mu);
    /* true: connected, in its own room only (no array kept for the many
     * sockets that join nothing: the mirror costs them one entry) */
    if (!json_object_get(w->rooms, k))
        json_object_set_new_nocheck(w->rooms, k, json_true());
    pthread_mutex_unlock(&w->mu);
    free(k);
}

static void rooms_del_sock(struct sio_worker *w, const char *nsp, const char *sid)
{
    char *k = sock_key(nsp, sid);
    if (!k)
        return;
    pthread_mutex_lock(&w->mu);
    json_object_del(w->rooms, k);
    json_object_del(w->sessions, k);
    pthread_mutex_unlock(&w->mu);
    free(k);
}

static size_t array_find(json_t *a, const char *room)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (strcmp(json_string_value(json_array_get(a, i)), room) == 0)
            return i;
    return (size_t)-1;
}

int sio__rooms_update(struct sio__shard *sh, const char *nsp, const char *sid,
                      const char *room, bool join)
{
    struct sio_worker *w = sh->w;
    char *k = sock_key(nsp, sid);
    if (!k)
        return -ENOMEM;
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    json_t *a = json_object_get(w->rooms, k);
    if (json_is_true(a) && join && strcmp(room, sid) != 0) {
        json_t *b = json_pack("[s,s]", sid, room);
        rc = b && json_object_set_new_nocheck(w->rooms, k, b) == 0 ? 0 : -ENOMEM;
    } else if (json_is_array(a)) {
        size_t i = array_find(a, room);
        if (join && i == (size_t)-1) {
            rc = json_array_append_new(a, json_string_nocheck(room)) < 0 ? -ENOMEM : 0;
        } else if (!join && i != (size_t)-1 && i != 0) {
            json_array_remove(a, i);
            if (json_array_size(a) == 1)
                json_object_set_new_nocheck(w->rooms, k, json_true());
        }
    }
    pthread_mutex_unlock(&w->mu);
    free(k);
    return rc;
}

void sio__rooms_close(struct sio__shard *sh, const char *nsp, const char *room)
{
    struct sio_worker *w = sh->w;
    size_t nl = strlen(nsp);
    const char *key;
    json_t *a;
    pthread_mutex_lock(&w->mu);
    json_object_foreach(w->rooms, key, a) {
        if (strncmp(key, nsp, nl) != 0 || key[nl] != '\x01')
            continue;
        if (!json_is_array(a))
            continue;
        size_t i = array_find(a, room);
        if (i != (size_t)-1 && i != 0)
            json_array_remove(a, i);
    }
    pthread_mutex_unlock(&w->mu);
}

json_t *sio__rooms_get(struct sio__shard *sh, const char *nsp, const char *sid)
{
    struct sio_worker *w = sh->w;
    char *k = sock_key(nsp, sid);
    if (!k)
        return NULL;
    pthread_mutex_lock(&w->mu);
    json_t *v = json_object_get(w->rooms, k);
    json_t *a = json_is_true(v) ? json_pack("[s]", sid) : json_deep_copy(v);
    pthread_mutex_unlock(&w->mu);
    free(k);
    return a;
}

/* ---- the session mirror: a copy of each socket's saved session, so that
 * sio_session_of() answers on any thread ---- */

int sio__session_mirror(struct sio__shard *sh, const char *nsp, const char *sid,
                        const json_t *session)
{
    struct sio_worker *w = sh->w;
    char *k = sock_key(nsp, sid);
    json_t *copy = session ? json_deep_copy(session) : NULL;
    if (!k || (session && !copy)) {
        free(k);
        json_decref(copy);
        return -ENOMEM;
    }
    pthread_mutex_lock(&w->mu);
    int rc = copy ? json_object_set_new_nocheck(w->sessions, k, copy) : json_object_del(w->sessions, k);
    pthread_mutex_unlock(&w->mu);
    free(k);
    return rc < 0 && copy ? -ENOMEM : 0;
}

json_t *sio__session_copy(struct sio__shard *sh, const char *nsp, const char *sid)
{
    struct sio_worker *w = sh->w;
    char *k = sock_key(nsp, sid);
    if (!k)
        return NULL;
    pthread_mutex_lock(&w->mu);
    json_t *rooms = json_object_get(w->rooms, k);
    json_t *sess = json_object_get(w->sessions, k);
    /* a connected socket without a saved session has an empty one */
    json_t *copy = sess ? json_deep_copy(sess) : rooms ? json_object() : NULL;
    pthread_mutex_unlock(&w->mu);
    free(k);
    return copy;
}

/* ---- deferred acks (sio_ack_defer) ---- */

static void dack_free(struct dack *d)
{
    if (!d)
        return;
    free(d->gw);
    free(d->nsp);
    free(d->sid);
    free(d);
}

int64_t sio__ack_defer(struct sio_ctx *ctx)
{
    if (ctx->ack_id < 0)
        return SIO_ERR_PROTO;
    if (ctx->acked)
        return -EALREADY;
    struct sio_worker *w = ctx->shard->w;
    struct dack *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->gw = strdup(ctx->gw);
    d->nsp = strdup(ctx->nsp);
    d->sid = strdup(ctx->sid);
    if (!d->gw || !d->nsp || !d->sid) {
        dack_free(d);
        return -ENOMEM;
    }
    d->ack_id = ctx->ack_id;
    pthread_mutex_lock(&w->mu);
    d->token = ++w->next_token;
    d->next = w->dacks;
    w->dacks = d;
    pthread_mutex_unlock(&w->mu);
    ctx->acked = true;      /* no automatic ack when the handler returns */
    return d->token;
}

int sio__ack_token_answer(struct sio_host *h, int64_t token, json_t *args)
{
    struct sio_worker *w = h->sh->w;
    struct dack *d = NULL;
    pthread_mutex_lock(&w->mu);
    int64_t issued = w->next_token;
    for (struct dack **pp = &w->dacks; *pp; pp = &(*pp)->next)
        if ((*pp)->token == token) {
            d = *pp;
            *pp = d->next;
            break;
        }
    pthread_mutex_unlock(&w->mu);
    if (!d)
        return token > 0 && token <= issued ? SIO_ERR_ANSWERED : -EINVAL;
    int rc = sio__send_ack(h, d->gw, d->nsp, d->sid, d->ack_id, args);
    dack_free(d);
    return rc;
}

/* The socket left: its unanswered tokens are released (an answer after
 * this gets SIO_ERR_ANSWERED, as a second answer does). */
static void dacks_closed(struct sio_worker *w, const char *nsp, const char *sid)
{
    struct dack *done = NULL;
    pthread_mutex_lock(&w->mu);
    for (struct dack **pp = &w->dacks; *pp;) {
        struct dack *d = *pp;
        if (strcmp(d->nsp, nsp) == 0 && strcmp(d->sid, sid) == 0) {
            *pp = d->next;
            d->next = done;
            done = d;
        } else {
            pp = &d->next;
        }
    }
    pthread_mutex_unlock(&w->mu);
    while (done) {
        struct dack *d = done;
        done = d->next;
        dack_free(d);
    }
}

/* ---- pending server-to-client acks ---- */

static void pending_free(struct pending *p)
{
    free(p->nsp);
    free(p->sid);
    free(p);
}

/* Unlink the pending ack id (and, when nsp/sid are given, only if it is
 * theirs). */
static struct pending *pending_take(struct sio_worker *w, int64_t id, const char *nsp,
                                    size_t nl, const char *sid, size_t sl)
{
    pthread_mutex_lock(&w->mu);
    struct pending **pp = &w->pending, *p = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            if (nsp && (strlen((*pp)->nsp) != nl || memcmp((*pp)->nsp, nsp, nl) != 0 ||
                        strlen((*pp)->sid) != sl || memcmp((*pp)->sid, sid, sl) != 0))
                break;
            p = *pp;
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&w->mu);
    return p;
}

static void pending_stop_timer(struct sio__shard *sh, struct pending *p)
{
    if (p->timer_id && p->timer_sh == sh)
        sio_timer_stop(&sh->host, p->timer_id);
}

static void ack_timeout(sio_host *h, void *ud)
{
    int64_t id = (int64_t)(intptr_t)ud;
    struct pending *p = pending_take(h->sh->w, id, NULL, 0, NULL, 0);
    if (!p)
        return;
    p->cb(h, p->nsp, p->sid, SIO_ERR_TIMEOUT, NULL, p->ud);
    pending_free(p);
}

int sio__ack_register(struct sio_host *h, const char *nsp, const char *sid, unsigned timeout_ms,
                      sio_ack_cb cb, void *ud, int64_t *id)
{
    if (h->task)
        return -EINVAL;
    struct sio__shard *sh = h->sh;
    struct sio_worker *w = sh->w;
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->nsp = strdup(nsp);
    p->sid = strdup(sid);
    if (!p->nsp || !p->sid) {
        pending_free(p);
        return -ENOMEM;
    }
    p->cb = cb;
    p->ud = ud;
    pthread_mutex_lock(&w->mu);
    p->id = w->next_ack_id++;
    if (w->next_ack_id > ((int64_t)1 << 52))
        w->next_ack_id = 0;
    pthread_mutex_unlock(&w->mu);
    if (timeout_ms) {
        int64_t t = sio_timer_start(h, timeout_ms, false, ack_timeout, (void *)(intptr_t)p->id);
        if (t < 0) {
            pending_free(p);
            return (int)t;
        }
        p->timer_sh = sh;
        p->timer_id = t;
    }
    pthread_mutex_lock(&w->mu);
    p->next = w->pending;
    w->pending = p;
    pthread_mutex_unlock(&w->mu);
    *id = p->id;
    return 0;
}

void sio__ack_cancel(struct sio_host *h, int64_t id)
{
    struct pending *p = pending_take(h->sh->w, id, NULL, 0, NULL, 0);
    if (p) {
        pending_stop_timer(h->sh, p);
        pending_free(p);
    }
}

/* The socket left: every ack it owed ends with SIO_ERR_CLOSED. */
static void pending_closed(struct sio__shard *sh, const char *nsp, const char *sid)
{
    struct sio_worker *w = sh->w;
    struct pending *done = NULL;
    pthread_mutex_lock(&w->mu);
    for (struct pending **pp = &w->pending; *pp;) {
        struct pending *p = *pp;
        if (strcmp(p->nsp, nsp) == 0 && strcmp(p->sid, sid) == 0) {
            *pp = p->next;
            p->next = done;
            done = p;
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&w->mu);
    while (done) {
        struct pending *p = done;
        done = p->next;
        pending_stop_timer(sh, p);
        p->cb(&sh->host, p->nsp, p->sid, SIO_ERR_CLOSED, NULL, p->ud);
        pending_free(p);
    }
}

static void pending_clear(struct sio_worker *w)
{
    while (w->pending) {
        struct pending *p = w->pending;
        w->pending = p->next;
        pending_free(p);
    }
}

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

static void tasks_join(struct sio_worker *w)
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

static void deferred_flush(struct sio__shard *sh, bool send)
{
    struct deferred *d = sh->dq;
    while (d) {
        struct deferred *next = d->next;
        if (send && send_frames(sh, d->bytes, d->tlen, d->bytes + d->tlen, d->elen) < 0)
            sio_log_warn(topic, "shard %u: send failed: %s", sh->index, zmq_strerror(errno));
        free(d);
        d = next;
    }
    sh->dq = NULL;
    sh->dq_tail = &sh->dq;
}

static int send_control(struct sio__shard *sh, enum sio_env_kind kind)
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
    return send_frames(sh, NULL, 0, sh->env_buf.data, sh->env_buf.len);
}

/* ---- JSON helpers shared with host.c ---- */

int sio__env_set_json(struct sio_buf *jb, struct sio_env *env, json_t *v,
                      json_t **holder, struct sio_bins *bins)
{
    memset(bins, 0, sizeof *bins);
    *holder = sio_json_deconstruct(v, bins);
    if (!*holder)
        return -ENOMEM;
    sio_buf_reset(jb);
    if (sio_json_dump(jb, *holder) < 0) {
        sio__env_json_release(env, holder, bins);
        return -ENOMEM;
    }
    env->data.p = (const char *)jb->data;
    env->data.len = jb->len;
    env->bins = NULL;
    env->nbins = 0;
    if (bins->n) {
        env->bins = calloc(bins->n, sizeof *env->bins);
        if (!env->bins) {
            sio__env_json_release(env, holder, bins);
            return -ENOMEM;
        }
        for (size_t i = 0; i < bins->n; i++)
            env->bins[i] = (struct sio_env_bin){ bins->v[i].data, bins->v[i].len };
        env->nbins = bins->n;
    }
    return 0;
}

void sio__env_json_release(struct sio_env *env, json_t **holder, struct sio_bins *bins)
{
    free(env->bins);
    env->bins = NULL;
    env->nbins = 0;
    sio_bins_clear(bins);
    json_decref(*holder);
    *holder = NULL;
}

int sio__ctx_send_ack(struct sio_ctx *ctx, json_t *args)
{
    int rc = sio__send_ack(sio__shard_host(ctx->shard), ctx->gw, ctx->nsp, ctx->sid,
                           ctx->ack_id, args);
    ctx->acked = true;
    return rc;
}

int sio__send_ack(struct sio_host *h, const char *gw, const char *nsp, const char *sid,
                  int64_t ack_id, json_t *args)
{
    json_t *arr;
    if (!args)
        arr = json_array();
    else if (json_is_array(args))
        arr = json_incref(args);
    else {
        arr = json_array();
        if (arr)
            json_array_append(arr, args);
    }
    if (!arr)
        return -ENOMEM;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_ACK);
    env.gw = (struct sio_str){ gw, strlen(gw) };
    env.nsp = (struct sio_str){ nsp, strlen(nsp) };
    env.sid = (struct sio_str){ sid, strlen(sid) };
    env.id = ack_id;
    json_t *holder;
    struct sio_bins bins;
    int rc = sio__env_set_json(sio__host_json_buf(h), &env, arr, &holder, &bins);
    json_decref(arr);
    if (rc < 0)
        return rc;
    rc = sio__host_send(h, gw, &env);
    sio__env_json_release(&env, &holder, &bins);
    return rc;
}

/* ---- event handling ---- */

static void ctx_init(struct sio_ctx *ctx, struct sio__shard *sh, struct wsock *s)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->shard = sh;
    ctx->plugin = s->plugin;
    ctx->nsp = s->nsp;
    ctx->sid = s->sid;
    ctx->gw = s->gw;
    ctx->ack_id = -1;
    ctx->session = s->nsp[0] ? &s->session : NULL;
}

static void send_simple(struct sio__shard *sh, enum sio_env_kind kind, const struct wsock *s,
                        const char *data, bool close_conn, const char *reason)
{
    struct sio_env env;
    sio_env_init(&env, kind);
    env.gw = (struct sio_str){ s->gw, strlen(s->gw) };
    env.nsp = (struct sio_str){ s->nsp, strlen(s->nsp) };
    env.sid = (struct sio_str){ s->sid, strlen(s->sid) };
    if (data)
        env.data = (struct sio_str){ data, strlen(data) };
    env.close_conn = close_conn;
    if (reason)
        env.reason = (struct sio_str){ reason, strlen(reason) };
    if (sio__shard_send(sh, s->gw, &env) < 0)
        sio_log_warn(topic, "shard %u: cannot send %s", sh->index, sio_env_kind_name(kind));
}

/* Tell the hub to drop the route of a socket this shard refused: no
 * DISCONNECT will ever come for it. A 1-frame control envelope of kind
 * DISCONNECT (worker -> hub), not forwarded anywhere. */
static void forget_route(struct sio__shard *sh, const struct wsock *s)
{
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_DISCONNECT);
    env.gw = (struct sio_str){ s->gw, strlen(s->gw) };
    env.nsp = (struct sio_str){ s->nsp, strlen(s->nsp) };
    env.sid = (struct sio_str){ s->sid, strlen(s->sid) };
    sio_buf_reset(&sh->env_buf);
    if (sio_env_encode(&env, &sh->env_buf) == 0)
        send_frames(sh, NULL, 0, sh->env_buf.data, sh->env_buf.len);
}

static void on_connect_env(struct sio__shard *sh, const struct sio_env *env)
{
    struct sio_worker *w = sh->w;
    char *nspz = strndup(env->nsp.p ? env->nsp.p : "", env->nsp.len);
    if (!nspz)
        return;
    const struct sio_plugin *plugin = find_plugin(w, nspz);
    free(nspz);
    struct wsock *s = wsock_new(&env->nsp, &env->sid, &env->gw, plugin);
    if (!s)
        return;
    if (!plugin) {
        /* the hub routed it here, but no plugin serves it (should not happen) */
        send_simple(sh, SIO_ENV_CONNECT_ERR, s, "{\"message\":\"Invalid namespace\"}", false, NULL);
        forget_route(sh, s);
        wsock_free(s);
        return;
    }

    /* environ: NUL-terminated copies of the envelope strings */
    size_t nh = env->nheaders;
    char **hn = calloc(nh ? nh : 1, sizeof *hn);
    char **hv = calloc(nh ? nh : 1, sizeof *hv);
    char *query = strndup(env->query.p ? env->query.p : "", env->query.len);
    char *remote = strndup(env->remote.p ? env->remote.p : "", env->remote.len);
    json_t *auth = NULL;
    if (!hn || !hv || !query || !remote)
        goto out;
    for (size_t i = 0; i < nh; i++) {
        const struct sio_str *n = &env->headers[2 * i], *v = &env->headers[2 * i + 1];
        hn[i] = strndup(n->p ? n->p : "", n->len);
        hv[i] = strndup(v->p ? v->p : "", v->len);
    }
    struct sio_environ environ_ = {
        .remote_addr = remote, .query = query, .nheaders = nh,
        .header_names = (const char *const *)hn, .header_values = (const char *const *)hv,
    };
    if (env->data.len) {
        json_error_t jerr;
        auth = json_loadb(env->data.p, env->data.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (auth && !json_is_object(auth)) {
            json_decref(auth);
            auth = NULL;
        }
    }

    if (env->session.len) {
        json_error_t jerr;
        s->session = json_loadb(env->session.p, env->session.len, 0, &jerr);
        if (s->session && !json_is_object(s->session)) {
            json_decref(s->session);
            s->session = NULL;
        }
    }
    rooms_add_sock(w, s->nsp, s->sid);
    if (s->session)
        sio__session_mirror(sh, s->nsp, s->sid, s->session);
    struct sio_ctx ctx;
    ctx_init(&ctx, sh, s);
    int rc = SIO_ACCEPT;
    sh->deferring = true;
    if (plugin->on_connect)
        rc = plugin->on_connect(&ctx, &environ_, auth);
    sh->deferring = false;
    if (rc == SIO_ACCEPT && !ctx.refused) {
        send_simple(sh, SIO_ENV_CONNECT_OK, s, NULL, false, NULL);
        deferred_flush(sh, true);
        sio_log_debug(topic, "shard %u: %s connected to %s", sh->index, ctx.sid, ctx.nsp);
        if (sockmap_put(&sh->socks, s) < 0)     /* ctx.sid/nsp point into s */
            wsock_free(s);
        s = NULL;
    } else {
        deferred_flush(sh, false);
        json_t *payload;
        if (ctx.refuse_message)
            payload = ctx.refuse_data
                ? json_pack("{s:s,s:O}", "message", ctx.refuse_message, "data", ctx.refuse_data)
                : json_pack("{s:s}", "message", ctx.refuse_message);
        else if (ctx.refuse_data && json_is_string(ctx.refuse_data))
            payload = json_pack("{s:O}", "message", ctx.refuse_data);
        else if (ctx.refuse_data)
            payload = json_pack("{s:s,s:O}", "message", "Connection rejected by server",
                                "data", ctx.refuse_data);
        else
            payload = json_pack("{s:s}", "message", "Connection rejected by server");
        struct sio_buf *jb = &sh->json_buf;
        sio_buf_reset(jb);
        if (payload && sio_json_dump(jb, payload) == 0 && sio_buf_append_byte(jb, 0) == 0)
            send_simple(sh, SIO_ENV_CONNECT_ERR, s, (const char *)jb->data, false, NULL);
        json_decref(payload);
        rooms_del_sock(w, s->nsp, s->sid);
        forget_route(sh, s);
        sio_log_debug(topic, "shard %u: %s refused on %s", sh->index, ctx.sid, ctx.nsp);
    }
    json_decref(ctx.refuse_data);
    free(ctx.refuse_message);
out:
    json_decref(auth);
    for (size_t i = 0; hn && hv && i < nh; i++) {
        free(hn[i]);
        free(hv[i]);
    }
    free(hn);
    free(hv);
    free(query);
    free(remote);
    wsock_free(s);
}

/* The socket an event is for; one re-routed here after a failover is
 * adopted without on_connect. */
static struct wsock *lookup_sock(struct sio__shard *sh, const struct sio_env *env, bool adopt)
{
    size_t klen = env->nsp.len + 1 + env->sid.len;
    char stackkey[512];
    char *key = klen <= sizeof stackkey ? stackkey : malloc(klen);
    if (!key)
        return NULL;
    if (env->nsp.len)
        memcpy(key, env->nsp.p, env->nsp.len);
    key[env->nsp.len] = '\0';
    if (env->sid.len)
        memcpy(key + env->nsp.len + 1, env->sid.p, env->sid.len);
    struct wsock *s = sockmap_get(&sh->socks, key, klen);
    if (key != stackkey)
        free(key);
    unsigned gen = atomic_load(&sh->w->gen);
    if (s && s->gen != gen) {
        /* plugins were reloaded: this event runs the new code */
        const struct sio_plugin *p = find_plugin(sh->w, s->nsp);
        if (p)
            s->plugin = p;
        s->gen = gen;
    }
    if (s || !adopt)
        return s;
    char *nspz = strndup(env->nsp.p ? env->nsp.p : "", env->nsp.len);
    if (!nspz)
        return NULL;
    const struct sio_plugin *plugin = find_plugin(sh->w, nspz);
    free(nspz);
    if (!plugin)
        return NULL;
    s = wsock_new(&env->nsp, &env->sid, &env->gw, plugin);
    if (s && env->session.len) {
        /* the gateway sends the last saved session with each event */
        json_error_t jerr;
        s->session = json_loadb(env->session.p, env->session.len, 0, &jerr);
        if (s->session && !json_is_object(s->session)) {
            json_decref(s->session);
            s->session = NULL;
        }
    }
    if (s && sockmap_put(&sh->socks, s) < 0) {
        wsock_free(s);
        s = NULL;
    }
    if (s) {
        rooms_add_sock(sh->w, s->nsp, s->sid);
        if (s->session)
            sio__session_mirror(sh, s->nsp, s->sid, s->session);
        sio_log_info(topic, "shard %u: adopted socket %s on %s", sh->index, s->sid, s->nsp);
    }
    return s;
}

static sio_event_fn find_handler(const struct sio_plugin *p, const char *name)
{
    if (!p->events)
        return NULL;
    for (const struct sio_event_handler *h = p->events; h->name; h++)
        if (strcmp(h->name, name) == 0)
            return h->fn;
    if (strcmp(name, "connect") == 0 || strcmp(name, "disconnect") == 0)
        return NULL;
    for (const struct sio_event_handler *h = p->events; h->name; h++)
        if (strcmp(h->name, "*") == 0)
            return h->fn;
    return NULL;
}

static void on_event_env(struct sio__shard *sh, const struct sio_env *env)
{
    struct wsock *s = lookup_sock(sh, env, true);
    if (!s) {
        sio_log_debug(topic, "shard %u: event for an unknown socket dropped", sh->index);
        return;
    }
    json_error_t jerr;
    json_t *data = env->data.len ? sio_json_loadb(env->data.p, env->data.len, JSON_ALLOW_NUL, &jerr) : NULL;
    /* JavaScript numbers beyond int64 (1e20 is sent as 100000000000000000000)
     * are valid JSON: read them as doubles rather than drop the client. */
    if (!data && env->data.len && json_error_code(&jerr) == json_error_numeric_overflow)
        data = sio_json_loadb(env->data.p, env->data.len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
    struct sio_bin stackbins[8];
    struct sio_bin *bins = stackbins;
    if (!data || !json_is_array(data) || json_array_size(data) == 0 ||
        !json_is_string(json_array_get(data, 0)))
        goto proto_error;
    if (env->nbins) {
        if (env->nbins > 8) {
            bins = calloc(env->nbins, sizeof *bins);
            if (!bins)
                goto out;
        }
        for (size_t i = 0; i < env->nbins; i++)
            bins[i] = (struct sio_bin){ env->bins[i].p, env->bins[i].len };
    }
    if (sio_packet_reconstruct(data, bins, env->nbins) < 0)
        goto proto_error;

    const char *name = json_string_value(json_array_get(data, 0));
    sio_event_fn fn = find_handler(s->plugin, name);
    if (!fn) {
        sio_log_debug(topic, "shard %u: no handler for '%s' on %s", sh->index, name, s->nsp);
        goto out;
    }
    json_t *args = json_array();
    if (!args)
        goto out;
    for (size_t i = 1; i < json_array_size(data); i++)
        json_array_append(args, json_array_get(data, i));
    struct sio_ctx ctx;
    ctx_init(&ctx, sh, s);
    ctx.event = name;
    ctx.ack_id = env->id;
    json_t *ret = fn(&ctx, args);
    if (ctx.ack_id >= 0 && !ctx.acked)
        sio__ctx_send_ack(&ctx, ret);
    json_decref(ret);
    json_decref(args);
    goto out;

proto_error:
    sio_log_debug(topic, "shard %u: malformed event from %s on %s, closing", sh->index, s->sid, s->nsp);
    /* reason "transport error": the gateway closes the engine session as
     * for its own protocol errors (docs/BUS.md) */
    send_simple(sh, SIO_ENV_DISCONNECT_CMD, s, NULL, true, "transport error");
out:
    if (bins != stackbins)
        free(bins);
    json_decref(data);
}

static void on_disconnect_env(struct sio__shard *sh, const struct sio_env *env)
{
    struct wsock *s = lookup_sock(sh, env, false);
    if (!s)
        return;
    const struct sio_plugin *p = s->plugin;
    /* before on_disconnect: an answer from then on is refused */
    dacks_closed(sh->w, s->nsp, s->sid);
    if (p->on_disconnect) {
        char *reason = strndup(env->reason.p ? env->reason.p : "client disconnect",
                               env->reason.p ? env->reason.len : strlen("client disconnect"));
        struct sio_ctx ctx;
        ctx_init(&ctx, sh, s);
        p->on_disconnect(&ctx, reason ? reason : "client disconnect");
        free(reason);
    }
    pending_closed(sh, s->nsp, s->sid);
    rooms_del_sock(sh->w, s->nsp, s->sid);
    sio_log_debug(topic, "shard %u: %s left %s", sh->index, s->sid, s->nsp);
    sockmap_del(&sh->socks, s->key, s->klen);
}

/* The client answered a server emit that carried an id. */
static void on_client_ack_env(struct sio__shard *sh, const struct sio_env *env)
{
    if (env->id < 0 || !env->nsp.p || !env->sid.p)
        return;
    struct pending *p = pending_take(sh->w, env->id, env->nsp.p, env->nsp.len,
                                     env->sid.p, env->sid.len);
    if (!p) {
        sio_log_debug(topic, "shard %u: client ack id=%lld with no pending call (late?)",
                      sh->index, (long long)env->id);
        return;
    }
    pending_stop_timer(sh, p);
    json_error_t jerr;
    json_t *data = env->data.len ? sio_json_loadb(env->data.p, env->data.len, JSON_ALLOW_NUL, &jerr)
                                 : json_array();
    if (data && !json_is_array(data)) {
        json_decref(data);
        data = NULL;
    }
    if (data && env->nbins) {
        struct sio_bin *bins = calloc(env->nbins, sizeof *bins);
        for (size_t i = 0; bins && i < env->nbins; i++)
            bins[i] = (struct sio_bin){ env->bins[i].p, env->bins[i].len };
        if (!bins || sio_packet_reconstruct(data, bins, env->nbins) < 0) {
            json_decref(data);
            data = NULL;
        }
        free(bins);
    }
    p->cb(&sh->host, p->nsp, p->sid, data ? 0 : SIO_ERR_PROTO, data, p->ud);
    json_decref(data);
    pending_free(p);
}

static void on_raw_env(struct sio__shard *sh, const struct sio_env *env)
{
    const struct sio_plugin *p = find_raw_plugin(sh->w);
    if (!p)
        return;
    struct sio_str empty = { "", 0 };
    struct wsock *s = wsock_new(&empty, &env->sid, &env->gw, p);
    if (!s)
        return;
    struct sio_ctx ctx;
    ctx_init(&ctx, sh, s);
    p->on_raw(&ctx, env->data.p ? env->data.p : "", env->data.len, env->binary);
    wsock_free(s);
}

/* The hub lost gateway env->gw: its sockets are gone, as if each had
 * disconnected with "transport close"; their routes go too. */
static void gateway_gone(struct sio__shard *sh, const struct sio_env *env)
{
    if (env->gw.len != SIO_GW_ID_LEN)
        return;
    size_t n = 0, it;
    for (struct sio_map_ent *e = sio_map_next(&sh->socks, NULL, &it); e;
         e = sio_map_next(&sh->socks, e, &it)) {
        const struct wsock *s = e->val;
        n += strlen(s->gw) == SIO_GW_ID_LEN && memcmp(s->gw, env->gw.p, SIO_GW_ID_LEN) == 0;
    }
    if (!n)
        return;
    struct sio_env *gone = calloc(n, sizeof *gone);
    if (!gone)
        return;
    size_t k = 0;
    for (struct sio_map_ent *e = sio_map_next(&sh->socks, NULL, &it); e && k < n;
         e = sio_map_next(&sh->socks, e, &it)) {
        const struct wsock *s = e->val;
        if (strlen(s->gw) == SIO_GW_ID_LEN && memcmp(s->gw, env->gw.p, SIO_GW_ID_LEN) == 0) {
            /* copies: on_disconnect_env frees the socket */
            sio_env_init(&gone[k], SIO_ENV_DISCONNECT);
            gone[k].gw = (struct sio_str){ strdup(s->gw), SIO_GW_ID_LEN };
            gone[k].nsp = (struct sio_str){ strdup(s->nsp), strlen(s->nsp) };
            gone[k].sid = (struct sio_str){ strdup(s->sid), strlen(s->sid) };
            gone[k].reason = (struct sio_str){ "transport close", 15 };
            k++;
        }
    }
    for (size_t i = 0; i < k; i++) {
        if (gone[i].gw.p && gone[i].nsp.p && gone[i].sid.p) {
            struct wsock tmp = { .gw = (char *)gone[i].gw.p, .nsp = (char *)gone[i].nsp.p,
                                 .sid = (char *)gone[i].sid.p };
            on_disconnect_env(sh, &gone[i]);
            forget_route(sh, &tmp);
        }
        free((char *)gone[i].gw.p);
        free((char *)gone[i].nsp.p);
        free((char *)gone[i].sid.p);
    }
    free(gone);
    sio_log_info(topic, "shard %u: gateway %.*s gone, %zu sockets dropped", sh->index,
                 (int)SIO_GW_ID_LEN, env->gw.p, k);
}

static void handle(struct sio__shard *sh, const void *buf, size_t len)
{
    struct sio_env env;
    int rc = sio_env_decode(buf, len, &env);
    if (rc < 0) {
        sio_log_debug(topic, "shard %u: bad envelope: %s", sh->index, sio_strerror(rc));
        return;
    }
    sio_log_trace(topic, "shard %u: %s %.*s %.*s", sh->index, sio_env_kind_name(env.kind),
                  (int)env.nsp.len, env.nsp.p ? env.nsp.p : "",
                  (int)env.sid.len, env.sid.p ? env.sid.p : "");
    /* Raw Engine.IO sessions (nsp "") announce their opening and closing so
     * that the hub can route them; there is no Socket.IO socket to track. */
    if (env.nsp.len == 0 && (env.kind == SIO_ENV_CONNECT || env.kind == SIO_ENV_DISCONNECT)) {
        sio_env_clear(&env);
        return;
    }
    switch ((int)env.kind) {
    case SIO_ENV_CONNECT:
        if (env.session.p) {
            /* a takeover: the socket's worker died and its gateway sends
             * it again with the session; adopt it, no on_connect. The
             * CONNECT_OK does not reach the client (connected all along):
             * it tells the gateway that the socket has a worker again, which
             * ends its hold deadline (docs/BUS.md 4.4) */
            struct wsock *s = lookup_sock(sh, &env, true);
            if (s)
                send_simple(sh, SIO_ENV_CONNECT_OK, s, NULL, false, NULL);
            else
                sio_log_warn(topic, "shard %u: cannot adopt a socket of %.*s", sh->index,
                             (int)env.nsp.len, env.nsp.p ? env.nsp.p : "");
            break;
        }
        on_connect_env(sh, &env);
        break;
    case SIO_ENV_EVENT: {
        /* metrics: this shard's own counters (one writer, no locked
         * instruction); handlers are timed once a scrape asked for it */
        bool timing = atomic_load_explicit(&sh->w->timing, memory_order_relaxed);
        struct timespec t0, t1;
        if (timing)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        on_event_env(sh, &env);
        SHARD_ADD(sh, st_events, 1);
        if (timing) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            SHARD_ADD(sh, st_handler_us, (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000 +
                                                    (t1.tv_nsec - t0.tv_nsec) / 1000));
        }
        if (env.confirm > 0 && env.gw.len == SIO_GW_ID_LEN) {
            /* after the handler's commands, on the same pipe: the gateway
             * may forget the events up to this one (at-least-once) */
            struct sio_env done;
            sio_env_init(&done, SIO_ENV_EVENT_DONE);
            done.gw = env.gw;
            done.nsp = env.nsp;
            done.sid = env.sid;
            done.confirm = env.confirm;
            char gw[SIO_GW_ID_LEN + 1];
            memcpy(gw, env.gw.p, SIO_GW_ID_LEN);
            gw[SIO_GW_ID_LEN] = 0;
            if (sio__shard_send(sh, gw, &done) < 0)
                sio_log_warn(topic, "shard %u: cannot send EVENT_DONE", sh->index);
        }
        break;
    }
    case SIO_ENV_DISCONNECT:
        on_disconnect_env(sh, &env);
        break;
    case SIO_ENV_RAW:
        on_raw_env(sh, &env);
        break;
    case SIO_ENV_CLIENT_ACK:
        on_client_ack_env(sh, &env);
        break;
    case SIO_ENV_GATEWAY_GONE:
        gateway_gone(sh, &env);
        break;
    case SIO_ENV_HELLO:
        /* the hub does not know us (it restarted): register again */
        sio_log_info(topic, "shard %u: the hub asks us to register", sh->index);
        send_control(sh, SIO_ENV_HELLO);
        break;
    default:
        sio_log_debug(topic, "shard %u: unexpected %s", sh->index, sio_env_kind_name(env.kind));
    }
    sio_env_clear(&env);
}

/* Tasks' commands [topic, envelope] are forwarded to the hub; a one-frame
 * struct post is run here. */
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
            send_frames(sh, zmq_msg_data(&a), zmq_msg_size(&a), zmq_msg_data(&b), zmq_msg_size(&b));
        zmq_msg_close(&a);
        zmq_msg_close(&b);
    }
    return false;
}

/* One event from the hub; false when none is ready (EAGAIN). */
static bool recv_and_handle(struct sio__shard *sh)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sh->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        return false;
    }
    bool more = zmq_msg_more(&m);
    handle(sh, zmq_msg_data(&m), zmq_msg_size(&m));
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
    uint64_t end = now_ms() + sh->w->drain_ms;
    zmq_pollitem_t it = { sh->dealer, 0, ZMQ_POLLIN, 0 };
    while (now_ms() < end) {
        int rc = zmq_poll(&it, 1, 200);
        if (rc <= 0 && !(rc < 0 && errno == EINTR))
            break;
        if (it.revents & ZMQ_POLLIN)
            recv_and_handle(sh);
    }
    drain_queue(sh);
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
    uint64_t now = now_ms();
    if (now >= sh->next_hb) {
        send_control(sh, SIO_ENV_HEARTBEAT);
        sh->next_hb = now + HEARTBEAT_MS;
        r |= SIO_ZLOOP_CHECK_CTL;
    }
    long wait = run_timers(sh, (long)(sh->next_hb - now));
    bool idle = drain_queue(sh);
    int i;
    for (i = 0; i < 64 && recv_and_handle(sh); i++)
        ;
    if (i == 64)
        idle = false;
    unsigned long sent = sh->sends;
    if (!idle)
        return r | SIO_ZLOOP_BUSY;
    if (sh->ntimers) {
        wait = run_timers(sh, wait);
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
    sh->next_hb = now_ms() + HEARTBEAT_MS;
    const struct sio_zloop l = {
        .socks = { sh->ctl_thread, sh->dealer, sh->queue }, .nsocks = 3,
        .pass = shard_pass, .ud = sh, .log = topic, .name = name,
    };
    sio_zloop_run(&l);
    send_control(sh, SIO_ENV_BYE);
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
    deferred_flush(sh, false);
    sockmap_clear(&sh->socks);
    sio_buf_clear(&sh->env_buf);
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
    int rc = send_control(sh, SIO_ENV_HELLO);
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
    tasks_join(w);      /* tasks may still post to running shards */
    for (unsigned i = 0; i < w->nshards; i++) {
        struct sio__shard *sh = &w->shards[i];
        if (sh->started) {
            zmq_send(sh->ctl_main, "STOP", 4, 0);
            pthread_join(sh->thread, NULL);
        }
        shard_close(sh);
    }
    free(w->shards);
    pending_clear(w);
    while (w->dacks) {
        struct dack *d = w->dacks;
        w->dacks = d->next;
        dack_free(d);
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

/* ---- hot reload ---- */

/* Copy src to a fresh temporary file (dlopen() returns the already loaded
 * object for a path it has seen, even when the file changed). */
static int copy_to_temp(const char *src, char *out, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    snprintf(out, cap, "%s/sio-reload-XXXXXX.so", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(out, 3);
    if (fd < 0)
        return -errno;
    FILE *in = fopen(src, "rb");
    int rc = 0;
    if (!in)
        rc = -errno;
    char buf[65536];
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (write(fd, buf, n) != (ssize_t)n)
            rc = -EIO;
    if (!rc && in && ferror(in))
        rc = -EIO;
    if (in)
        fclose(in);
    if (close(fd) < 0 && !rc)
        rc = -errno;
    if (rc)
        unlink(out);
    return rc;
}

int sio_worker_reload(sio_worker *w, char *err, size_t errlen)
{
    if (!w)
        return -EINVAL;
    size_t n = w->nplugins;
    struct sio_loaded_plugin *fresh = calloc(n ? n : 1, sizeof *fresh);
    struct sio_loaded_plugin *ret = realloc(w->retired, (w->nretired + n) * sizeof *ret);
    if (!fresh || !ret) {
        free(fresh);
        snprintf(err, errlen, "reload: out of memory");
        return -ENOMEM;
    }
    w->retired = ret;
    int rc = 0;
    size_t opened = 0;
    for (; opened < n; opened++) {
        char tmp[PATH_MAX];
        rc = copy_to_temp(w->paths[opened], tmp, sizeof tmp);
        if (rc < 0) {
            snprintf(err, errlen, "%s: cannot copy for reload: %s", w->paths[opened], strerror(-rc));
            break;
        }
        char why[512];
        rc = sio__plugin_open(tmp, &fresh[opened], why, sizeof why);
        unlink(tmp);    /* the mapping stays; the name is not needed */
        if (rc < 0) {
            /* name the file the user gave, not our temporary copy */
            const char *colon = strstr(why, ": ");
            snprintf(err, errlen, "%s%s", w->paths[opened], colon ? colon : ": cannot load");
            break;
        }
        /* the namespaces served are registered with the hub: keep them */
        const struct sio_plugin *o = w->plugins[opened].desc, *d = fresh[opened].desc;
        for (size_t k = 0; !rc; k++) {
            const char *a = sio__plugin_nsp(o, k), *b = sio__plugin_nsp(d, k);
            if (!a && !b)
                break;
            if (!a || !b || strcmp(a, b) != 0) {
                snprintf(err, errlen, "%s: the new file serves other namespaces "
                         "(restart the worker to change them)", w->paths[opened]);
                rc = -EINVAL;
            }
        }
        if (rc < 0) {
            opened++;
            break;
        }
    }
    if (rc < 0) {
        for (size_t i = opened; i-- > 0;)
            if (fresh[i].dl)
                sio__plugin_close(&fresh[i]);
        free(fresh);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        w->retired[w->nretired] = w->plugins[i];    /* dl + path stay ours */
        /* The descriptor is read by shards: publish with a release store. */
        __atomic_store_n(&w->plugins[i].desc, fresh[i].desc, __ATOMIC_RELEASE);
        w->plugins[i].dl = fresh[i].dl;
        w->plugins[i].path = fresh[i].path;
        w->nretired++;
    }
    atomic_fetch_add(&w->gen, 1);
    free(fresh);
    return 0;
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

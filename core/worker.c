/* worker.c: the worker runtime: loads plugins, runs shard threads that
 * receive events from the hub and call the plugins' handlers.
 *
 * Owns: the loaded plugins (for the worker's life) and, per shard, a DEALER
 * to the hub, a control PAIR, the map of connected sockets (nsp, sid) ->
 * (gw, plugin) and reusable encode buffers. The hub keeps a socket sticky to
 * one shard, so its handlers run on one thread, in arrival order.
 *
 * Commands produced while on_connect runs (emits, room joins) are held back
 * and sent after CONNECT_OK (dropped on a refusal): the gateway must know
 * the socket is connected before anything addresses it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>
#include <sio/sio.h>
#include "worker.h"
#include "worker_ctx.h"
#include "plugin_loader.h"
#include "proto/sio.h"

SIO_LOG_TOPIC_STATIC(topic, "core.worker");

#define HEARTBEAT_MS 1000

/* ---- connected sockets: a string-keyed hash map (chained) ---- */

struct wsock {
    struct wsock *next;
    uint64_t h;
    char *key;              /* nsp '\0' sid */
    size_t klen;
    char *nsp, *sid, *gw;   /* NUL-terminated (point into key / own gw) */
    const struct sio_plugin *plugin;
};

struct sockmap {
    struct wsock **b;
    size_t nb, n;
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;    /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static struct wsock **sockmap_slot(struct sockmap *m, const void *k, size_t klen, uint64_t h)
{
    if (!m->nb)
        return NULL;
    struct wsock **pp = &m->b[h & (m->nb - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->h == h && (*pp)->klen == klen && memcmp((*pp)->key, k, klen) == 0)
            return pp;
    return pp;
}

static void wsock_free(struct wsock *s)
{
    if (!s)
        return;
    free(s->key);
    free(s->gw);
    free(s);
}

static struct wsock *sockmap_get(struct sockmap *m, const void *k, size_t klen)
{
    struct wsock **pp = sockmap_slot(m, k, klen, hash_bytes(k, klen));
    return pp ? *pp : NULL;
}

static int sockmap_put(struct sockmap *m, struct wsock *s)
{
    if (m->n + 1 > m->nb) {
        size_t nb = m->nb ? m->nb * 2 : 64;
        struct wsock **b = calloc(nb, sizeof *b);
        if (!b)
            return -ENOMEM;
        for (size_t i = 0; i < m->nb; i++) {
            struct wsock *e = m->b[i];
            while (e) {
                struct wsock *next = e->next;
                e->next = b[e->h & (nb - 1)];
                b[e->h & (nb - 1)] = e;
                e = next;
            }
        }
        free(m->b);
        m->b = b;
        m->nb = nb;
    }
    s->h = hash_bytes(s->key, s->klen);
    struct wsock **pp = sockmap_slot(m, s->key, s->klen, s->h);
    if (*pp) {      /* replace (a re-sent CONNECT) */
        s->next = (*pp)->next;
        wsock_free(*pp);
        *pp = s;
        return 0;
    }
    s->next = NULL;
    *pp = s;
    m->n++;
    return 0;
}

static void sockmap_del(struct sockmap *m, const void *k, size_t klen)
{
    struct wsock **pp = sockmap_slot(m, k, klen, hash_bytes(k, klen));
    if (pp && *pp) {
        struct wsock *e = *pp;
        *pp = e->next;
        wsock_free(e);
        m->n--;
    }
}

static void sockmap_clear(struct sockmap *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        struct wsock *e = m->b[i];
        while (e) {
            struct wsock *next = e->next;
            wsock_free(e);
            e = next;
        }
    }
    free(m->b);
    m->b = NULL;
    m->nb = m->n = 0;
}

/* Build the socket record from envelope strings. */
static struct wsock *wsock_new(const struct sio_str *nsp, const struct sio_str *sid,
                               const struct sio_str *gw, const struct sio_plugin *plugin)
{
    struct wsock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->klen = nsp->len + 1 + sid->len;
    s->key = malloc(s->klen + 1);
    s->gw = strndup(gw->p ? gw->p : "", gw->len);
    if (!s->key || !s->gw) {
        wsock_free(s);
        return NULL;
    }
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

struct sio__shard {
    struct sio_worker *w;
    unsigned index;
    pthread_t thread;
    bool started;
    void *dealer;
    void *ctl_main, *ctl_thread;
    struct sockmap socks;
    struct sio_buf env_buf;     /* envelope encoding, reused */
    struct sio_buf json_buf;    /* JSON text, reused */
    bool deferring;             /* inside on_connect */
    struct deferred *dq, **dq_tail;
};

struct sio_worker {
    void *zctx;
    struct sio_loaded_plugin *plugins;
    size_t nplugins;
    struct sio__shard *shards;
    unsigned nshards;
};

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
        const struct sio_plugin *d = w->plugins[i].desc;
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
        const struct sio_plugin *d = w->plugins[i].desc;
        if (SIO_PLUGIN_HAS(d, on_raw) && d->on_raw)
            return d;
    }
    return NULL;
}

static int send_frames(struct sio__shard *sh, const void *t, size_t tlen, const void *e, size_t elen)
{
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
    return send_frames(sh, topic_s, tlen, sh->env_buf.data, sh->env_buf.len);
}

struct sio_buf *sio__shard_json_buf(struct sio__shard *sh)
{
    return &sh->json_buf;
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
            for (size_t k = 0; sio__plugin_nsp(w->plugins[i].desc, k); k++)
                cap++;
        rooms = calloc(cap, sizeof *rooms);
        if (!rooms)
            return -ENOMEM;
        bool raw = false;
        for (size_t i = 0; i < w->nplugins; i++) {
            const struct sio_plugin *d = w->plugins[i].desc;
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

int sio__env_set_json(struct sio__shard *sh, struct sio_env *env, json_t *v,
                      json_t **holder, struct sio_bins *bins)
{
    memset(bins, 0, sizeof *bins);
    *holder = sio_json_deconstruct(v, bins);
    if (!*holder)
        return -ENOMEM;
    struct sio_buf *jb = &sh->json_buf;
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
    env.gw = (struct sio_str){ ctx->gw, strlen(ctx->gw) };
    env.nsp = (struct sio_str){ ctx->nsp, strlen(ctx->nsp) };
    env.sid = (struct sio_str){ ctx->sid, strlen(ctx->sid) };
    env.id = ctx->ack_id;
    json_t *holder;
    struct sio_bins bins;
    int rc = sio__env_set_json(ctx->shard, &env, arr, &holder, &bins);
    json_decref(arr);
    if (rc < 0)
        return rc;
    rc = sio__shard_send(ctx->shard, ctx->gw, &env);
    sio__env_json_release(&env, &holder, &bins);
    ctx->acked = true;
    return rc;
}

/* ---- event handling ---- */

static void ctx_init(struct sio_ctx *ctx, struct sio__shard *sh, const struct wsock *s)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->shard = sh;
    ctx->plugin = s->plugin;
    ctx->nsp = s->nsp;
    ctx->sid = s->sid;
    ctx->gw = s->gw;
    ctx->ack_id = -1;
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
        if (sockmap_put(&sh->socks, s) < 0)
            wsock_free(s);
        s = NULL;
        sio_log_debug(topic, "shard %u: %s connected to %s", sh->index, ctx.sid, ctx.nsp);
    } else {
        deferred_flush(sh, false);
        json_t *payload;
        if (ctx.refuse_data && json_is_string(ctx.refuse_data))
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
        forget_route(sh, s);
        sio_log_debug(topic, "shard %u: %s refused on %s", sh->index, ctx.sid, ctx.nsp);
    }
    json_decref(ctx.refuse_data);
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
    if (s && sockmap_put(&sh->socks, s) < 0) {
        wsock_free(s);
        s = NULL;
    }
    if (s)
        sio_log_info(topic, "shard %u: adopted socket %s on %s", sh->index, s->sid, s->nsp);
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
    json_t *data = env->data.len ? json_loadb(env->data.p, env->data.len, JSON_ALLOW_NUL, &jerr) : NULL;
    /* JavaScript numbers beyond int64 (1e20 is sent as 100000000000000000000)
     * are valid JSON: read them as doubles rather than drop the client. */
    if (!data && env->data.len && json_error_code(&jerr) == json_error_numeric_overflow)
        data = json_loadb(env->data.p, env->data.len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
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
    if (p->on_disconnect) {
        char *reason = strndup(env->reason.p ? env->reason.p : "client disconnect",
                               env->reason.p ? env->reason.len : strlen("client disconnect"));
        struct sio_ctx ctx;
        ctx_init(&ctx, sh, s);
        p->on_disconnect(&ctx, reason ? reason : "client disconnect");
        free(reason);
    }
    sio_log_debug(topic, "shard %u: %s left %s", sh->index, s->sid, s->nsp);
    sockmap_del(&sh->socks, s->key, s->klen);
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
        on_connect_env(sh, &env);
        break;
    case SIO_ENV_EVENT:
        on_event_env(sh, &env);
        break;
    case SIO_ENV_DISCONNECT:
        on_disconnect_env(sh, &env);
        break;
    case SIO_ENV_RAW:
        on_raw_env(sh, &env);
        break;
    case SIO_ENV_CLIENT_ACK:
        /* Server-to-client call() arrives with its issue: this is where the
         * pending call (sid, id) will be looked up and its callback run. */
        sio_log_debug(topic, "shard %u: client ack id=%lld ignored (no pending calls)",
                      sh->index, (long long)env.id);
        break;
    default:
        sio_log_debug(topic, "shard %u: unexpected %s", sh->index, sio_env_kind_name(env.kind));
    }
    sio_env_clear(&env);
}

static void *shard_main(void *arg)
{
    struct sio__shard *sh = arg;
    zmq_pollitem_t items[] = {
        { sh->ctl_thread, 0, ZMQ_POLLIN, 0 },
        { sh->dealer, 0, ZMQ_POLLIN, 0 },
    };
    uint64_t next_hb = now_ms() + HEARTBEAT_MS;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= next_hb) {
            send_control(sh, SIO_ENV_HEARTBEAT);
            next_hb = now + HEARTBEAT_MS;
        }
        int rc = zmq_poll(items, 2, (long)(next_hb - now));
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            sio_log_error(topic, "shard %u: zmq_poll: %s", sh->index, zmq_strerror(errno));
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            break;
        if (!(items[1].revents & ZMQ_POLLIN))
            continue;
        for (int i = 0; i < 64; i++) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sh->dealer, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
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
        }
    }
    send_control(sh, SIO_ENV_BYE);
    return NULL;
}

static void shard_close(struct sio__shard *sh)
{
    void **socks[] = { &sh->dealer, &sh->ctl_main, &sh->ctl_thread };
    for (size_t i = 0; i < 3; i++)
        if (*socks[i]) {
            zmq_close(*socks[i]);
            *socks[i] = NULL;
        }
    deferred_flush(sh, false);
    sockmap_clear(&sh->socks);
    sio_buf_clear(&sh->env_buf);
    sio_buf_clear(&sh->json_buf);
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
    sh->dq_tail = &sh->dq;
    sio_buf_init(&sh->env_buf);
    sio_buf_init(&sh->json_buf);
    sh->dealer = mksock(w->zctx, ZMQ_DEALER);
    sh->ctl_main = mksock(w->zctx, ZMQ_PAIR);
    sh->ctl_thread = mksock(w->zctx, ZMQ_PAIR);
    if (!sh->dealer || !sh->ctl_main || !sh->ctl_thread) {
        snprintf(err, errlen, "worker: cannot create sockets: %s", zmq_strerror(errno));
        return -errno;
    }
    int hwm = 0;    /* commands are never dropped */
    zmq_setsockopt(sh->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sh->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect(sh->dealer, endpoint) < 0) {
        snprintf(err, errlen, "worker: cannot connect to %s: %s", endpoint, zmq_strerror(errno));
        return -errno;
    }
    char ctl[80];
    snprintf(ctl, sizeof ctl, "inproc://sio-worker-ctl-%p", (void *)sh);
    if (zmq_bind(sh->ctl_thread, ctl) < 0 || zmq_connect(sh->ctl_main, ctl) < 0) {
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
    for (unsigned i = 0; i < w->nshards; i++) {
        struct sio__shard *sh = &w->shards[i];
        if (sh->started) {
            zmq_send(sh->ctl_main, "STOP", 4, 0);
            pthread_join(sh->thread, NULL);
        }
        shard_close(sh);
    }
    free(w->shards);
    for (size_t i = w->nplugins; i-- > 0;)
        sio__plugin_close(&w->plugins[i]);
    free(w->plugins);
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
    w->plugins = calloc(cfg->nplugins, sizeof *w->plugins);
    unsigned nshards = cfg->threads ? cfg->threads : 1;
    w->shards = calloc(nshards, sizeof *w->shards);
    int rc = -ENOMEM;
    if (!w->plugins || !w->shards) {
        snprintf(err, errlen, "worker: out of memory");
        goto fail;
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

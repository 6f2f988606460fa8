/* worker_dispatch.c: a shard's connected sockets and what it does with
 * each envelope from the hub: CONNECT (on_connect, refusals, adoption after a
 * takeover), EVENT (handlers, acks), client ACKs, DISCONNECT, RAW, a
 * gateway gone (worker_int.h). */
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

/* ---- connected sockets: "nsp\0sid" -> struct wsock (base/map.h) ---- */

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

void wk_sockmap_clear(struct sio_map *m)
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
        wk_send_frames(sh, NULL, 0, sh->env_buf.data, sh->env_buf.len);
}

static void on_connect_env(struct sio__shard *sh, const struct sio_env *env)
{
    struct sio_worker *w = sh->w;
    char *nspz = strndup(env->nsp.p ? env->nsp.p : "", env->nsp.len);
    if (!nspz)
        return;
    const struct sio_plugin *plugin = wk_find_plugin(w, nspz);
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
    wk_rooms_add_sock(w, s->nsp, s->sid);
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
        wk_deferred_flush(sh, true);
        sio_log_debug(topic, "shard %u: %s connected to %s", sh->index, ctx.sid, ctx.nsp);
        if (sockmap_put(&sh->socks, s) < 0)     /* ctx.sid/nsp point into s */
            wsock_free(s);
        s = NULL;
    } else {
        wk_deferred_flush(sh, false);
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
        wk_rooms_del_sock(w, s->nsp, s->sid);
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
        const struct sio_plugin *p = wk_find_plugin(sh->w, s->nsp);
        if (p)
            s->plugin = p;
        s->gen = gen;
    }
    if (s || !adopt)
        return s;
    char *nspz = strndup(env->nsp.p ? env->nsp.p : "", env->nsp.len);
    if (!nspz)
        return NULL;
    const struct sio_plugin *plugin = wk_find_plugin(sh->w, nspz);
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
        wk_rooms_add_sock(sh->w, s->nsp, s->sid);
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
    wk_dacks_closed(sh->w, s->nsp, s->sid);
    if (p->on_disconnect) {
        char *reason = strndup(env->reason.p ? env->reason.p : "client disconnect",
                               env->reason.p ? env->reason.len : strlen("client disconnect"));
        struct sio_ctx ctx;
        ctx_init(&ctx, sh, s);
        p->on_disconnect(&ctx, reason ? reason : "client disconnect");
        free(reason);
    }
    wk_pending_closed(sh, s->nsp, s->sid);
    wk_rooms_del_sock(sh->w, s->nsp, s->sid);
    sio_log_debug(topic, "shard %u: %s left %s", sh->index, s->sid, s->nsp);
    sockmap_del(&sh->socks, s->key, s->klen);
}

/* The client answered a server emit that carried an id. */
static void on_client_ack_env(struct sio__shard *sh, const struct sio_env *env)
{
    if (env->id < 0 || !env->nsp.p || !env->sid.p)
        return;
    struct pending *p = wk_pending_take(sh->w, env->id, env->nsp.p, env->nsp.len,
                                     env->sid.p, env->sid.len);
    if (!p) {
        sio_log_debug(topic, "shard %u: client ack id=%lld with no pending call (late?)",
                      sh->index, (long long)env->id);
        return;
    }
    wk_pending_stop_timer(sh, p);
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
    /* the acking socket's ctx, for sio_ack_ctx() during the callback */
    struct wsock *s = lookup_sock(sh, env, false);
    struct sio_ctx ctx;
    if (s) {
        ctx_init(&ctx, sh, s);
        sh->ack_ctx = &ctx;
    }
    p->cb(&sh->host, p->nsp, p->sid, data ? 0 : SIO_ERR_PROTO, data, p->ud);
    sh->ack_ctx = NULL;
    json_decref(data);
    wk_pending_free(p);
}

static void on_raw_env(struct sio__shard *sh, const struct sio_env *env)
{
    const struct sio_plugin *p = wk_find_raw_plugin(sh->w);
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

void wk_handle(struct sio__shard *sh, const void *buf, size_t len)
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
        wk_send_control(sh, SIO_ENV_HELLO);
        break;
    default:
        sio_log_debug(topic, "shard %u: unexpected %s", sh->index, sio_env_kind_name(env.kind));
    }
    sio_env_clear(&env);
}

/* Tasks' commands [topic, envelope] are forwarded to the hub; a one-frame
 * struct post is run here. */

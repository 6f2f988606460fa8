/* fakegw.h: a fake gateway for the hub and worker tests: a DEALER on the
 * hub's events endpoint and a SUB on its commands, plus a hub and a worker
 * on one zmq context (header-only, test code). */
#ifndef SIO_TEST_FAKEGW_H
#define SIO_TEST_FAKEGW_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include <jansson.h>
#include "proto/batch.h"
#include "proto/bus.h"
#include "proto/envelope.h"
#include "core/hub.h"
#include "core/worker.h"

#define FGW_ID "gw000001"

struct fgw {
    void *zctx;
    sio_hub *hub;
    sio_worker *worker;
    void *dealer, *sub;
    struct sio_bus_endpoints ep;
    /* last received command */
    zmq_msg_t topic_msg, env_msg;
    bool have, open;            /* env decoded; the two messages held */
    struct sio_bus_batch_reader br;     /* env_msg is a batch: its next item */
    bool in_batch;
    unsigned batches;           /* batch frames received (docs/BUS.md 2.4) */
    char topic[64];
    struct sio_env env;
};

static inline char *fgw_plugin_path(const char *rel)
{
    const char *dir = getenv("SIO_PLUGIN_DIR");
    cr_assert_not_null(dir, "SIO_PLUGIN_DIR is not set (run through meson test)");
    char *p = NULL;
    cr_assert_geq(asprintf(&p, "%s/%s", dir, rel), 0);
    return p;
}

static inline char *fgw_build_path(const char *rel)
{
    const char *dir = getenv("SIO_BUILD_DIR");
    cr_assert_not_null(dir, "SIO_BUILD_DIR is not set (run through meson test)");
    char *p = NULL;
    cr_assert_geq(asprintf(&p, "%s/%s", dir, rel), 0);
    return p;
}

/* Start a hub, a worker with the given plugins and threads, and the fake
 * gateway. */
static inline void fgw_start(struct fgw *f, const char *const *plugins, size_t n, unsigned threads)
{
    memset(f, 0, sizeof *f);
    f->zctx = zmq_ctx_new();
    cr_assert_not_null(f->zctx);
    f->ep = (struct sio_bus_endpoints){ SIO_BUS_INPROC_EVENTS, SIO_BUS_INPROC_COMMANDS,
                                        SIO_BUS_INPROC_WORKERS };
    char err[512] = "";
    struct sio_hub_cfg hc = { .zmq_ctx = f->zctx, .ep = f->ep, .worker_timeout_ms = 3000 };
    cr_assert_eq(sio_hub_new(&f->hub, &hc, err, sizeof err), 0, "hub: %s", err);
    if (n) {
        struct sio_worker_cfg wc = { .zmq_ctx = f->zctx, .hub_endpoint = f->ep.workers,
                                     .plugin_paths = plugins, .nplugins = n, .threads = threads };
        cr_assert_eq(sio_worker_new(&f->worker, &wc, err, sizeof err), 0, "worker: %s", err);
    }
    int zero = 0;
    f->dealer = zmq_socket(f->zctx, ZMQ_DEALER);
    f->sub = zmq_socket(f->zctx, ZMQ_SUB);
    zmq_setsockopt(f->dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(f->sub, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq(zmq_connect(f->dealer, f->ep.events), 0);
    cr_assert_eq(zmq_setsockopt(f->sub, ZMQ_SUBSCRIBE, FGW_ID, strlen(FGW_ID)), 0);
    cr_assert_eq(zmq_setsockopt(f->sub, ZMQ_SUBSCRIBE, "*", 1), 0);
    cr_assert_eq(zmq_connect(f->sub, f->ep.commands), 0);
    /* let the worker's HELLO and our subscriptions reach the hub */
    usleep(150 * 1000);
}

static inline void fgw_release(struct fgw *f)
{
    if (f->have) {
        sio_env_clear(&f->env);
        f->have = false;
    }
}

static inline void fgw_release_msgs(struct fgw *f)
{
    fgw_release(f);
    if (f->open) {
        zmq_msg_close(&f->topic_msg);
        zmq_msg_close(&f->env_msg);
        f->open = false;
    }
    f->in_batch = false;
}

static inline void fgw_stop(struct fgw *f)
{
    fgw_release_msgs(f);
    zmq_close(f->dealer);
    zmq_close(f->sub);
    sio_worker_destroy(&f->worker);
    sio_hub_destroy(&f->hub);
    zmq_ctx_term(f->zctx);
}

/* Send an event envelope as a gateway does: [route, envelope]. */
static inline void fgw_send(struct fgw *f, const struct sio_env *env)
{
    char route[2048];
    int rl = sio_bus_route_make(route, sizeof route, env->kind, env->nsp.p, env->nsp.len,
                                env->sid.p, env->sid.len);
    cr_assert_gt(rl, 0);
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(env, &b), 0);
    cr_assert_eq(zmq_send(f->dealer, route, (size_t)rl, ZMQ_SNDMORE), rl);
    cr_assert_eq(zmq_send(f->dealer, b.data, b.len, 0), (int)b.len);
    sio_buf_clear(&b);
}

#define S(x) ((struct sio_str){ (x), strlen(x) })

/* An event of this fake gateway: kind, nsp, sid, id (-1: none), data. */
static inline struct sio_env fgw_env(enum sio_env_kind kind, const char *nsp, const char *sid,
                                     int64_t id, const char *data)
{
    struct sio_env e;
    sio_env_init(&e, kind);
    e.gw = S(FGW_ID);
    e.nsp = S(nsp);
    e.sid = S(sid);
    e.id = id;
    if (data)
        e.data = S(data);
    return e;
}

static inline void fgw_send_kind(struct fgw *f, enum sio_env_kind kind, const char *nsp,
                                 const char *sid, int64_t id, const char *data)
{
    struct sio_env e = fgw_env(kind, nsp, sid, id, data);
    fgw_send(f, &e);
}

/* Receive the next command within timeout_ms (the next item of a batch
 * first); false on timeout. */
static inline bool fgw_recv(struct fgw *f, int timeout_ms)
{
    fgw_release(f);
    const void *item;
    size_t len;
    if (f->in_batch && sio_bus_batch_next(&f->br, &item, &len)) {
        cr_assert_eq(sio_env_decode(item, len, &f->env), 0);
        f->have = true;
        return true;
    }
    fgw_release_msgs(f);
    zmq_pollitem_t it = { f->sub, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return false;
    zmq_msg_init(&f->topic_msg);
    zmq_msg_init(&f->env_msg);
    cr_assert_geq(zmq_msg_recv(&f->topic_msg, f->sub, 0), 0);
    cr_assert(zmq_msg_more(&f->topic_msg));
    cr_assert_geq(zmq_msg_recv(&f->env_msg, f->sub, 0), 0);
    size_t tl = zmq_msg_size(&f->topic_msg);
    cr_assert_lt(tl, sizeof f->topic);
    memcpy(f->topic, zmq_msg_data(&f->topic_msg), tl);
    f->topic[tl] = '\0';
    f->open = true;
    if (sio_bus_is_batch(zmq_msg_data(&f->env_msg), zmq_msg_size(&f->env_msg))) {
        const char *why = "";
        cr_assert_gt(sio_bus_batch_open(&f->br, zmq_msg_data(&f->env_msg),
                                        zmq_msg_size(&f->env_msg), SIO_BUS_BATCH_ENVELOPES, &why),
                     1, "bad batch: %s", why);
        f->in_batch = true;
        f->batches++;
        cr_assert(sio_bus_batch_next(&f->br, &item, &len));
        cr_assert_eq(sio_env_decode(item, len, &f->env), 0);
    } else {
        cr_assert_eq(sio_env_decode(zmq_msg_data(&f->env_msg), zmq_msg_size(&f->env_msg),
                                    &f->env), 0);
    }
    f->have = true;
    return true;
}

/* Receive the next command and check its kind. */
static inline struct sio_env *fgw_expect(struct fgw *f, enum sio_env_kind kind)
{
    cr_assert(fgw_recv(f, 3000), "timed out waiting for %s", sio_env_kind_name(kind));
    cr_assert_eq(f->env.kind, kind, "got %s, expected %s", sio_env_kind_name(f->env.kind),
                 sio_env_kind_name(kind));
    return &f->env;
}

static inline bool fgw_str_eq(struct sio_str s, const char *want)
{
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.p, want, s.len) == 0);
}

/* The envelope's data as JSON (a new reference). */
static inline json_t *fgw_json(const struct sio_env *e)
{
    json_error_t jerr;
    json_t *v = json_loadb(e->data.p, e->data.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(v, "bad JSON '%.*s': %s", (int)e->data.len, e->data.p, jerr.text);
    return v;
}

static inline void fgw_assert_json(const struct sio_env *e, const char *want)
{
    json_error_t jerr;
    json_t *w = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(w, "bad expected JSON: %s", want);
    json_t *got = fgw_json(e);
    cr_assert(json_equal(got, w), "got %.*s, want %s", (int)e->data.len, e->data.p, want);
    json_decref(got);
    json_decref(w);
}

#endif

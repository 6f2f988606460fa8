/* emitter.c: external emitters (include/sio/emitter.h, docs/BUS.md 2.3).
 *
 * Owns: its own zmq context and one DEALER connected to the hub's workers
 * endpoint, and the encode buffers. Each command goes out as
 * [topic "*", envelope, request id] and the call waits for the hub's
 * [request id, "ok" | "error: ..."]; answers to earlier requests that timed
 * out are skipped by id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <zmq.h>
#include <sio/emitter.h>
#include "base/buf.h"
#include "proto/bus.h"
#include "proto/envelope.h"

#define EMITTER_DEFAULT_TIMEOUT_MS 5000
#define EMITTER_MAX_LIST 1024

struct sio_emitter {
    void *zctx;
    void *dealer;
    char *nsp;
    unsigned timeout_ms;
    unsigned long long next_req;
    struct sio_buf enc;
    char err[256];
};

SIO_EXPORT int sio_emitter_new(sio_emitter **out, const struct sio_emitter_cfg *cfg_in)
{
    *out = NULL;
    if (!cfg_in)
        return -EINVAL;
    /* only the fields the caller's struct has; the rest stay 0 (defaults) */
    struct sio_emitter_cfg cfgv = { 0 };
    size_t n = cfg_in->size ? cfg_in->size : offsetof(struct sio_emitter_cfg, curve_secret_key) +
                                             sizeof cfg_in->curve_secret_key;
    memcpy(&cfgv, cfg_in, n < sizeof cfgv ? n : sizeof cfgv);
    const struct sio_emitter_cfg *cfg = &cfgv;
    if (!cfg->endpoint)
        return -EINVAL;
    bool curve = cfg->curve_server_key || cfg->curve_public_key || cfg->curve_secret_key;
    if (curve && (!cfg->curve_server_key || !cfg->curve_public_key || !cfg->curve_secret_key ||
                  strlen(cfg->curve_server_key) != 40 || strlen(cfg->curve_public_key) != 40 ||
                  strlen(cfg->curve_secret_key) != 40))
        return -EINVAL;
    struct sio_emitter *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    sio_buf_init(&e->enc);
    e->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : EMITTER_DEFAULT_TIMEOUT_MS;
    e->nsp = strdup(cfg->nsp ? cfg->nsp : "/");
    e->zctx = zmq_ctx_new();
    int rc = -ENOMEM;
    if (!e->nsp || !e->zctx)
        goto fail;
    e->dealer = zmq_socket(e->zctx, ZMQ_DEALER);
    if (!e->dealer)
        goto fail_errno;
    int linger = (int)e->timeout_ms;
    zmq_setsockopt(e->dealer, ZMQ_LINGER, &linger, sizeof linger);
    if (curve) {
        struct sio_bus_curve k;
        memcpy(k.server_key, cfg->curve_server_key, 41);
        memcpy(k.public_key, cfg->curve_public_key, 41);
        memcpy(k.secret_key, cfg->curve_secret_key, 41);
        if (sio_bus_secure(e->dealer, &k, 0) < 0)
            goto fail_errno;
    }
    if (zmq_connect(e->dealer, cfg->endpoint) < 0)
        goto fail_errno;
    /* start request ids at a random point: a reconnecting emitter never
     * mistakes an old answer for a new one */
    sio_random_id((char *)&e->next_req, sizeof e->next_req);
    *out = e;
    return 0;
fail_errno:
    rc = errno ? -errno : -EIO;
fail:
    sio_emitter_destroy(&e);
    return rc;
}

SIO_EXPORT void sio_emitter_destroy(sio_emitter **e_p)
{
    if (!e_p || !*e_p)
        return;
    struct sio_emitter *e = *e_p;
    *e_p = NULL;
    if (e->dealer) {
        int zero = 0;   /* every call already waited for its answer */
        zmq_setsockopt(e->dealer, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(e->dealer);
    }
    if (e->zctx)
        zmq_ctx_term(e->zctx);
    sio_buf_clear(&e->enc);
    free(e->nsp);
    free(e);
}

SIO_EXPORT const char *sio_emitter_error(const sio_emitter *e)
{
    return e && e->err[0] ? e->err : "";
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send env as [*, env, request id] and wait for its answer. */
static int send_and_wait(struct sio_emitter *e, const struct sio_env *env)
{
    sio_buf_reset(&e->enc);
    int rc = sio_env_encode(env, &e->enc);
    if (rc < 0) {
        snprintf(e->err, sizeof e->err, "cannot encode the envelope");
        return rc;
    }
    char req[24];
    int rl = snprintf(req, sizeof req, "%llx", e->next_req++);
    if (zmq_send(e->dealer, SIO_BUS_ALL_TOPIC, 1, ZMQ_SNDMORE) < 0 ||
        zmq_send(e->dealer, e->enc.data, e->enc.len, ZMQ_SNDMORE) < 0 ||
        zmq_send(e->dealer, req, (size_t)rl, 0) < 0) {
        snprintf(e->err, sizeof e->err, "send: %s", zmq_strerror(errno));
        return -errno;
    }
    long long end = now_ms() + e->timeout_ms;
    for (;;) {
        long long left = end - now_ms();
        if (left <= 0)
            break;
        zmq_pollitem_t it = { e->dealer, 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll(&it, 1, (long)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        char id[64], status[200];
        int il = zmq_recv(e->dealer, id, sizeof id, 0);
        int more = 0;
        size_t ml = sizeof more;
        zmq_getsockopt(e->dealer, ZMQ_RCVMORE, &more, &ml);
        int sl = more ? zmq_recv(e->dealer, status, sizeof status - 1, 0) : -1;
        for (;;) {      /* skip any further frames */
            zmq_getsockopt(e->dealer, ZMQ_RCVMORE, &more, &ml);
            if (!more)
                break;
            char skip[1];
            zmq_recv(e->dealer, skip, 1, 0);
        }
        if (il != rl || memcmp(id, req, (size_t)rl) != 0 || sl < 0)
            continue;   /* an answer to an earlier request, or not an answer */
        if (sl > (int)sizeof status - 1)
            sl = (int)sizeof status - 1;
        status[sl] = 0;
        if (strcmp(status, "ok") == 0) {
            e->err[0] = 0;
            return 0;
        }
        snprintf(e->err, sizeof e->err, "hub refused the command: %s", status);
        return -EPERM;
    }
    snprintf(e->err, sizeof e->err, "no answer from the hub within %u ms", e->timeout_ms);
    return SIO_ERR_TIMEOUT;
}

static struct sio_str str_of(const char *s)
{
    return (struct sio_str){ s, s ? strlen(s) : 0 };
}

/* Fill list out (cap EMITTER_MAX_LIST) from n C strings. */
static int strs(struct sio_str *out, const char *const *in, size_t n)
{
    if (n > EMITTER_MAX_LIST || (n && !in))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!in[i])
            return -EINVAL;
        out[i] = str_of(in[i]);
    }
    return 0;
}

struct target {
    struct sio_str rooms[EMITTER_MAX_LIST], xr[EMITTER_MAX_LIST], xs[EMITTER_MAX_LIST];
    struct sio_str r2[EMITTER_MAX_LIST];
};

/* Fill out from an optional single string and a NULL-terminated list. */
static int strs_of(struct sio_str *out, size_t *n, const char *one, const char *const *list)
{
    *n = 0;
    if (one)
        out[(*n)++] = str_of(one);
    for (size_t i = 0; list && list[i]; i++) {
        if (*n == EMITTER_MAX_LIST)
            return -EINVAL;
        out[(*n)++] = str_of(list[i]);
    }
    return 0;
}

static int set_target(struct sio_emitter *e, struct sio_env *env, struct target *t,
                      const struct sio_to *to)
{
    static const struct sio_to all;
    if (!to)
        to = &all;
    env->nsp = str_of(to->nsp ? to->nsp : e->nsp);
    size_t nr, nxr, nxs;
    if (strs_of(t->rooms, &nr, to->room, to->rooms) < 0 ||
        strs_of(t->xr, &nxr, NULL, to->except_rooms) < 0 ||
        strs_of(t->xs, &nxs, to->skip_sid, to->skip_sids) < 0)
        return -EINVAL;
    env->rooms = nr ? t->rooms : NULL;
    env->nrooms = nr;
    env->except_rooms = nxr ? t->xr : NULL;
    env->nexcept_rooms = nxr;
    env->except_sids = nxs ? t->xs : NULL;
    env->nexcept_sids = nxs;
    return 0;
}

SIO_EXPORT int sio_emitter_emit(sio_emitter *e, const struct sio_emitter_to *to, const char *event,
                                const char *args_json, const struct sio_emitter_bin *bins,
                                size_t nbins)
{
    if (!e || !event || (nbins && !bins) || nbins > EMITTER_MAX_LIST)
        return -EINVAL;
    json_error_t jerr;
    json_t *args = args_json ? json_loads(args_json, JSON_DECODE_ANY, &jerr) : json_array();
    if (!args || !json_is_array(args)) {
        snprintf(e->err, sizeof e->err, "arguments are not a JSON array");
        json_decref(args);
        return -EINVAL;
    }
    int rc = json_array_insert_new(args, 0, json_string(event));
    char *data = rc == 0 ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(args);
    if (!data) {
        snprintf(e->err, sizeof e->err, "cannot encode the arguments");
        return -ENOMEM;
    }
    struct target *t = malloc(sizeof *t);
    struct sio_env_bin *eb = nbins ? calloc(nbins, sizeof *eb) : NULL;
    rc = -ENOMEM;
    if (!t || (nbins && !eb))
        goto out;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    rc = set_target(e, &env, t, to);
    if (rc < 0) {
        snprintf(e->err, sizeof e->err, "bad target");
        goto out;
    }
    env.data = str_of(data);
    for (size_t i = 0; i < nbins; i++)
        eb[i] = (struct sio_env_bin){ bins[i].data, bins[i].len };
    env.bins = eb;
    env.nbins = nbins;
    rc = send_and_wait(e, &env);
out:
    free(eb);
    free(t);
    free(data);
    return rc;
}

static int rooms_cmd(struct sio_emitter *e, int kind, const struct sio_emitter_to *to,
                     const char *const *rooms, size_t nrooms)
{
    if (!e || !nrooms)
        return -EINVAL;
    struct target *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    struct sio_env env;
    sio_env_init(&env, kind);
    int rc = set_target(e, &env, t, to);
    if (rc == 0)
        rc = strs(t->r2, rooms, nrooms);
    if (rc == 0) {
        env.rooms2 = t->r2;
        env.nrooms2 = nrooms;
        rc = send_and_wait(e, &env);
    } else
        snprintf(e->err, sizeof e->err, "bad target or rooms");
    free(t);
    return rc;
}

SIO_EXPORT int sio_emitter_join(sio_emitter *e, const struct sio_emitter_to *to,
                                const char *const *rooms, size_t nrooms)
{
    return rooms_cmd(e, SIO_ENV_JOIN, to, rooms, nrooms);
}

SIO_EXPORT int sio_emitter_leave(sio_emitter *e, const struct sio_emitter_to *to,
                                 const char *const *rooms, size_t nrooms)
{
    return rooms_cmd(e, SIO_ENV_LEAVE, to, rooms, nrooms);
}

SIO_EXPORT int sio_emitter_close_room(sio_emitter *e, const char *nsp, const char *room)
{
    if (!e || !room)
        return -EINVAL;
    struct sio_str r = str_of(room);
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_CLOSE_ROOM);
    env.nsp = str_of(nsp ? nsp : e->nsp);
    env.rooms = &r;
    env.nrooms = 1;
    return send_and_wait(e, &env);
}

SIO_EXPORT int sio_emitter_disconnect(sio_emitter *e, const struct sio_emitter_to *to,
                                      bool close_conn)
{
    if (!e)
        return -EINVAL;
    struct target *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_DISCONNECT_CMD);
    int rc = set_target(e, &env, t, to);
    env.close_conn = close_conn;
    if (rc == 0)
        rc = send_and_wait(e, &env);
    free(t);
    return rc;
}

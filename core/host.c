/* host.c: the host API of <sio/plugin.h>, called by handlers on worker
 * shard threads.
 *
 * Every call turns into one bus command, encoded once into the shard's
 * reusable buffers and sent to the hub as [topic, envelope]: topic is the
 * socket's gateway id for commands about the current socket and "*" for
 * room and namespace broadcasts (any gateway may hold members).
 *
 * The sio_host forms work from timers and tasks too: a task's commands go
 * through its shard's queue (worker.c), and what needs shard state
 * (pending acks, timers) is posted to that shard.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sio/sio.h>
#include <sio/plugin.h>
#include "proto/bus.h"
#include "core/worker_ctx.h"
#include "proto/sio.h"

SIO_LOG_TOPIC_STATIC(topic, "core.host");

#define STR(s) ((struct sio_str){ (s), strlen(s) })

static void env_for_socket(struct sio_env *env, enum sio_env_kind kind, const struct sio_ctx *ctx)
{
    sio_env_init(env, kind);
    env->gw = STR(ctx->gw);
    env->nsp = STR(ctx->nsp);
    env->sid = STR(ctx->sid);
}

SIO_EXPORT const char *sio_ctx_sid(const struct sio_ctx *ctx) { return ctx->sid; }
SIO_EXPORT const char *sio_ctx_nsp(const struct sio_ctx *ctx) { return ctx->nsp; }
SIO_EXPORT const char *sio_ctx_event(const struct sio_ctx *ctx) { return ctx->event; }
SIO_EXPORT bool sio_ctx_wants_ack(const struct sio_ctx *ctx) { return ctx->ack_id >= 0; }

SIO_EXPORT int sio_refuse(struct sio_ctx *ctx, json_t *data)
{
    return sio_refuse_with(ctx, NULL, data);
}

SIO_EXPORT int sio_refuse_with(struct sio_ctx *ctx, const char *message, json_t *data)
{
    char *m = message ? strdup(message) : NULL;
    if (message && !m)
        return SIO_REFUSE;  /* refused all the same, with the default message */
    /* our own reference: the payload is made after on_connect returns */
    json_t *d = json_incref(data);
    free(ctx->refuse_message);
    json_decref(ctx->refuse_data);
    ctx->refuse_message = m;
    ctx->refuse_data = d;
    ctx->refused = true;
    return SIO_REFUSE;
}

SIO_EXPORT int sio_ack(struct sio_ctx *ctx, json_t *args)
{
    if (ctx->ack_id < 0)
        return SIO_ERR_PROTO;
    if (ctx->acked)
        return 0;
    return sio__ctx_send_ack(ctx, args);
}

SIO_EXPORT sio_ack_token sio_ack_defer(struct sio_ctx *ctx)
{
    return sio__ack_defer(ctx);
}

SIO_EXPORT int sio_ack_token_send(sio_host *h, sio_ack_token token, json_t *args)
{
    if (!h)
        return -EINVAL;
    return sio__ack_token_answer(h, token, args);
}

static size_t count_list(const char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    return n;
}

static void fill_list(struct sio_str *out, size_t *n, const char *const *l)
{
    for (size_t i = 0; l && l[i]; i++)
        out[(*n)++] = STR(l[i]);
}

/* Emit ["event", ...args] to the target of env (rooms etc. already set). */
static int emit_packet_h(struct sio_host *h, struct sio_env *env, const char *topic_s,
                         const char *event, json_t *args)
{
    if (!event)
        return -EINVAL;
    json_t *arr = json_array();
    if (!arr || json_array_append_new(arr, json_string(event)) < 0) {
        json_decref(arr);
        return -ENOMEM;
    }
    if (args && json_is_array(args))
        json_array_extend(arr, args);
    else if (args)
        json_array_append(arr, args);
    json_t *holder;
    struct sio_bins bins;
    int rc = sio__env_set_json(sio__host_json_buf(h), env, arr, &holder, &bins);
    json_decref(arr);
    if (rc < 0)
        return rc;
    rc = sio__host_send(h, topic_s, env);
    sio__env_json_release(env, &holder, &bins);
    if (rc < 0)
        sio_log_warn(topic, "emit '%s' failed: %s", event, sio_strerror(rc));
    return rc;
}

static int emit_packet(struct sio_ctx *ctx, struct sio_env *env, const char *topic_s,
                       const char *event, json_t *args)
{
    return emit_packet_h(sio__shard_host(ctx->shard), env, topic_s, event, args);
}

static int emit_opts(struct sio_host *h, const char *nsp, const char *self_sid,
                     const struct sio_emit_opts *opts, const char *event, json_t *args,
                     bool vol);

SIO_EXPORT int sio_emit(struct sio_ctx *ctx, const struct sio_emit_opts *opts,
                     const char *event, json_t *args)
{
    return emit_opts(sio__shard_host(ctx->shard), opts && opts->nsp ? opts->nsp : ctx->nsp,
                     ctx->sid, opts, event, args, false);
}

SIO_EXPORT int sio_emit_volatile(struct sio_ctx *ctx, const struct sio_emit_opts *opts,
                              const char *event, json_t *args)
{
    return emit_opts(sio__shard_host(ctx->shard), opts && opts->nsp ? opts->nsp : ctx->nsp,
                     ctx->sid, opts, event, args, true);
}

static int emit_opts(struct sio_host *h, const char *nsp, const char *self_sid,
                     const struct sio_emit_opts *opts, const char *event, json_t *args,
                     bool vol)
{
    static const struct sio_emit_opts none;
    if (!opts)
        opts = &none;
    if (!nsp)
        return -EINVAL;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = STR(nsp);
    env.volatile_ = vol;

    size_t nrooms = (opts->room ? 1 : 0) + count_list(opts->rooms);
    size_t nsk = (opts->skip_sid ? 1 : 0) + count_list(opts->skip_sids) + (opts->skip_self ? 1 : 0);
    size_t nex = count_list(opts->except_rooms);
    struct sio_str *lists = calloc(nrooms + nsk + nex + 1, sizeof *lists);
    if (!lists)
        return -ENOMEM;
    struct sio_str *rooms = lists, *skips = lists + nrooms, *excepts = skips + nsk;
    size_t n = 0;
    if (opts->room)
        rooms[n++] = STR(opts->room);
    fill_list(rooms, &n, opts->rooms);
    env.rooms = nrooms ? rooms : NULL;
    env.nrooms = n;
    n = 0;
    if (opts->skip_sid)
        skips[n++] = STR(opts->skip_sid);
    fill_list(skips, &n, opts->skip_sids);
    if (opts->skip_self && self_sid)
        skips[n++] = STR(self_sid);
    env.except_sids = n ? skips : NULL;
    env.nexcept_sids = n;
    n = 0;
    fill_list(excepts, &n, opts->except_rooms);
    env.except_rooms = n ? excepts : NULL;
    env.nexcept_rooms = n;

    int rc = emit_packet_h(h, &env, SIO_BUS_ALL_TOPIC, event, args);
    free(lists);
    return rc;
}

SIO_EXPORT int sio_emit_back(struct sio_ctx *ctx, const char *event, json_t *args)
{
    struct sio_env env;
    env_for_socket(&env, SIO_ENV_EMIT, ctx);
    /* every socket is in the room named by its own sid */
    struct sio_str room = STR(ctx->sid);
    env.rooms = &room;
    env.nrooms = 1;
    return emit_packet(ctx, &env, ctx->gw, event, args);
}

SIO_EXPORT int sio_send(struct sio_ctx *ctx, const struct sio_emit_opts *opts, json_t *args)
{
    return sio_emit(ctx, opts, "message", args);
}

static int room_cmd(struct sio_ctx *ctx, enum sio_env_kind kind, const char *room)
{
    if (!room)
        return -EINVAL;
    struct sio_env env;
    env_for_socket(&env, kind, ctx);
    struct sio_str r = STR(room);
    env.rooms2 = &r;
    env.nrooms2 = 1;
    sio__rooms_update(ctx->shard, ctx->nsp, ctx->sid, room, kind == SIO_ENV_JOIN);
    return sio__shard_send(ctx->shard, ctx->gw, &env);
}

/* JOIN/LEAVE for any sid: the gateway is unknown, so topic "*". */
static int room_cmd_sid(struct sio_host *h, enum sio_env_kind kind, const char *nsp,
                        const char *sid, const char *room)
{
    if (!h || !nsp || !sid || !room)
        return -EINVAL;
    struct sio_env env;
    sio_env_init(&env, kind);
    env.nsp = STR(nsp);
    env.sid = STR(sid);
    struct sio_str r = STR(room);
    env.rooms2 = &r;
    env.nrooms2 = 1;
    sio__rooms_update(h->sh, nsp, sid, room, kind == SIO_ENV_JOIN);
    return sio__host_send(h, SIO_BUS_ALL_TOPIC, &env);
}

SIO_EXPORT int sio_enter_room(struct sio_ctx *ctx, const char *room)
{
    return room_cmd(ctx, SIO_ENV_JOIN, room);
}

SIO_EXPORT int sio_leave_room(struct sio_ctx *ctx, const char *room)
{
    return room_cmd(ctx, SIO_ENV_LEAVE, room);
}

SIO_EXPORT int sio_close_room(struct sio_ctx *ctx, const char *room)
{
    return sio_close_room_ns(sio__shard_host(ctx->shard), ctx->nsp, room);
}

SIO_EXPORT int sio_disconnect(struct sio_ctx *ctx)
{
    struct sio_env env;
    env_for_socket(&env, SIO_ENV_DISCONNECT_CMD, ctx);
    return sio__shard_send(ctx->shard, ctx->gw, &env);
}

SIO_EXPORT int sio_raw_send(struct sio_ctx *ctx, const void *data, size_t len, bool binary)
{
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_RAW_SEND);
    env.gw = STR(ctx->gw);
    env.nsp = STR("");
    env.sid = STR(ctx->sid);
    env.data = (struct sio_str){ len ? data : "", len };
    env.binary = binary;
    return sio__shard_send(ctx->shard, ctx->gw, &env);
}

/* ---- host forms (issue 4) ---- */

SIO_EXPORT sio_host *sio_ctx_host(struct sio_ctx *ctx)
{
    return sio__shard_host(ctx->shard);
}

SIO_EXPORT int sio_emit_ns(sio_host *h, const char *nsp, const struct sio_emit_opts *opts,
                        const char *event, json_t *args)
{
    if (!h)
        return -EINVAL;
    return emit_opts(h, nsp, NULL, opts, event, args, false);
}

SIO_EXPORT int sio_send_ns(sio_host *h, const char *nsp, const struct sio_emit_opts *opts,
                        json_t *args)
{
    return sio_emit_ns(h, nsp, opts, "message", args);
}

SIO_EXPORT int sio_enter_room_sid(sio_host *h, const char *nsp, const char *sid, const char *room)
{
    return room_cmd_sid(h, SIO_ENV_JOIN, nsp, sid, room);
}

SIO_EXPORT int sio_leave_room_sid(sio_host *h, const char *nsp, const char *sid, const char *room)
{
    return room_cmd_sid(h, SIO_ENV_LEAVE, nsp, sid, room);
}

SIO_EXPORT int sio_close_room_ns(sio_host *h, const char *nsp, const char *room)
{
    if (!h || !nsp || !room)
        return -EINVAL;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_CLOSE_ROOM);
    env.nsp = STR(nsp);
    struct sio_str r = STR(room);
    env.rooms = &r;
    env.nrooms = 1;
    sio__rooms_close(h->sh, nsp, room);
    return sio__host_send(h, SIO_BUS_ALL_TOPIC, &env);
}

SIO_EXPORT json_t *sio_rooms(sio_host *h, const char *nsp, const char *sid)
{
    if (!h || !nsp || !sid)
        return NULL;
    return sio__rooms_get(h->sh, nsp, sid);
}

SIO_EXPORT int sio_disconnect_ns(sio_host *h, const char *nsp, const char *sid, bool whole_client)
{
    if (!h || !nsp || !sid)
        return -EINVAL;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_DISCONNECT_CMD);
    env.nsp = STR(nsp);
    env.sid = STR(sid);
    env.close_conn = whole_client;
    return sio__host_send(h, SIO_BUS_ALL_TOPIC, &env);
}

SIO_EXPORT int sio_disconnect_sid(struct sio_ctx *ctx, const char *sid, bool whole_client)
{
    return sio_disconnect_ns(sio__shard_host(ctx->shard), ctx->nsp, sid ? sid : ctx->sid,
                             whole_client);
}

/* emit with ack: registered and sent on a shard (posted there from a task) */
struct ack_req {
    char *nsp, *sid, *event;
    json_t *args;
    unsigned timeout_ms;
    sio_ack_cb cb;
    void *ud;
};

static int ack_emit_now(struct sio_host *h, const char *nsp, const char *sid, const char *event,
                        json_t *args, unsigned timeout_ms, sio_ack_cb cb, void *ud)
{
    int64_t id;
    int rc = sio__ack_register(h, nsp, sid, timeout_ms, cb, ud, &id);
    if (rc < 0)
        return rc;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = STR(nsp);
    env.sid = STR(sid);
    env.id = id;
    rc = emit_packet_h(h, &env, SIO_BUS_ALL_TOPIC, event, args);
    if (rc < 0)
        sio__ack_cancel(h, id);
    return rc;
}

static void ack_req_free(struct ack_req *r)
{
    free(r->nsp);
    free(r->sid);
    free(r->event);
    json_decref(r->args);
    free(r);
}

static void ack_req_run(struct sio_host *h, void *arg)
{
    struct ack_req *r = arg;
    int rc = ack_emit_now(h, r->nsp, r->sid, r->event, r->args, r->timeout_ms, r->cb, r->ud);
    if (rc < 0)
        r->cb(h, r->nsp, r->sid, rc, NULL, r->ud);
    ack_req_free(r);
}

SIO_EXPORT int sio_emit_with_ack_ns(sio_host *h, const char *nsp, const char *sid,
                                 const char *event, json_t *args, unsigned timeout_ms,
                                 sio_ack_cb cb, void *ud)
{
    if (!h || !nsp || !sid || !event || !cb)
        return -EINVAL;
    if (!h->task)
        return ack_emit_now(h, nsp, sid, event, args, timeout_ms, cb, ud);
    struct ack_req *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->nsp = strdup(nsp);
    r->sid = strdup(sid);
    r->event = strdup(event);
    /* a deep copy: the task's values must not be shared with the shard */
    r->args = args ? sio_json_deep_copy(args) : NULL;
    r->timeout_ms = timeout_ms;
    r->cb = cb;
    r->ud = ud;
    if (!r->nsp || !r->sid || !r->event || (args && !r->args)) {
        ack_req_free(r);
        return -ENOMEM;
    }
    int rc = sio__host_post(h, ack_req_run, r);
    if (rc < 0)
        ack_req_free(r);
    return rc;
}

SIO_EXPORT int sio_emit_with_ack(struct sio_ctx *ctx, const char *sid, const char *event,
                              json_t *args, unsigned timeout_ms, sio_ack_cb cb, void *ud)
{
    return sio_emit_with_ack_ns(sio__shard_host(ctx->shard), ctx->nsp, sid ? sid : ctx->sid,
                                event, args, timeout_ms, cb, ud);
}

struct call_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
    json_t *result;     /* a copy made on the shard: not shared across threads */
};

static void call_done(sio_host *h, const char *nsp, const char *sid, int status, json_t *args,
                      void *ud)
{
    (void)h; (void)nsp; (void)sid;
    struct call_wait *cw = ud;
    json_t *copy = args ? sio_json_deep_copy(args) : NULL;   /* keeps binary values */
    pthread_mutex_lock(&cw->mu);
    cw->status = status;
    cw->result = copy;
    cw->done = true;
    pthread_cond_signal(&cw->cv);
    pthread_mutex_unlock(&cw->mu);
}

SIO_EXPORT int sio_call(sio_host *h, const char *nsp, const char *sid, const char *event,
                     json_t *args, unsigned timeout_ms, json_t **out)
{
    if (out)
        *out = NULL;
    if (!h)
        return -EINVAL;
    if (!h->task)
        return -EDEADLK;
    if (timeout_ms == 0)
        return -EINVAL;     /* the shard's timer bounds the wait */
    struct call_wait cw = { .done = false };
    pthread_mutex_init(&cw.mu, NULL);
    pthread_cond_init(&cw.cv, NULL);
    int rc = sio_emit_with_ack_ns(h, nsp, sid, event, args, timeout_ms, call_done, &cw);
    if (rc == 0) {
        pthread_mutex_lock(&cw.mu);
        while (!cw.done)
            pthread_cond_wait(&cw.cv, &cw.mu);
        pthread_mutex_unlock(&cw.mu);
        rc = cw.status;
        if (rc == 0 && out)
            *out = cw.result;
        else
            json_decref(cw.result);
    }
    pthread_cond_destroy(&cw.cv);
    pthread_mutex_destroy(&cw.mu);
    return rc;
}

SIO_EXPORT json_t *sio_session_get(struct sio_ctx *ctx)
{
    if (!ctx->session)
        return NULL;
    if (!*ctx->session)
        *ctx->session = json_object();
    return *ctx->session;
}

SIO_EXPORT int sio_session_save(struct sio_ctx *ctx)
{
    json_t *sess = sio_session_get(ctx);
    if (!sess)
        return -EINVAL;
    char *text = json_dumps(sess, JSON_COMPACT);
    if (!text)
        return -ENOMEM;
    struct sio_env env;
    env_for_socket(&env, SIO_ENV_SESSION, ctx);
    env.session = STR(text);
    int rc = sio__shard_send(ctx->shard, ctx->gw, &env);
    free(text);
    if (rc == 0)
        rc = sio__session_mirror(ctx->shard, ctx->nsp, ctx->sid, sess);
    return rc;
}

SIO_EXPORT struct sio_ctx *sio_ack_ctx(sio_host *h)
{
    return h && !h->task && h->sh ? sio__shard_ack_ctx(h->sh) : NULL;
}

SIO_EXPORT json_t *sio_session_of(sio_host *h, const char *nsp, const char *sid)
{
    if (!h || !nsp || !sid)
        return NULL;
    return sio__session_copy(h->sh, nsp, sid);
}

SIO_EXPORT int sio_task_start(sio_host *h, sio_task_fn fn, void *ud)
{
    if (!h)
        return -EINVAL;
    return sio__task_start(h, fn, ud);
}

SIO_EXPORT bool sio_task_stopping(sio_host *h)
{
    return !h || sio__worker_stopping(h->sh);
}

SIO_EXPORT void sio_sleep(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
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

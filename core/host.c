/* host.c: the host API of <sio/plugin.h>, called by handlers on worker
 * shard threads.
 *
 * Every call turns into one bus command, encoded once into the shard's
 * reusable buffers and sent to the hub as [topic, envelope]: topic is the
 * socket's gateway id for commands about the current socket and "*" for
 * room and namespace broadcasts (any gateway may hold members).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sio/sio.h>
#include <sio/plugin.h>
#include "bus.h"
#include "worker_ctx.h"
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

SIO_API const char *sio_ctx_sid(const struct sio_ctx *ctx) { return ctx->sid; }
SIO_API const char *sio_ctx_nsp(const struct sio_ctx *ctx) { return ctx->nsp; }
SIO_API const char *sio_ctx_event(const struct sio_ctx *ctx) { return ctx->event; }
SIO_API bool sio_ctx_wants_ack(const struct sio_ctx *ctx) { return ctx->ack_id >= 0; }

SIO_API int sio_refuse(struct sio_ctx *ctx, json_t *data)
{
    json_decref(ctx->refuse_data);
    ctx->refuse_data = data;
    ctx->refused = true;
    return SIO_REFUSE;
}

SIO_API int sio_ack(struct sio_ctx *ctx, json_t *args)
{
    if (ctx->ack_id < 0)
        return SIO_ERR_PROTO;
    if (ctx->acked)
        return 0;
    return sio__ctx_send_ack(ctx, args);
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
static int emit_packet(struct sio_ctx *ctx, struct sio_env *env, const char *topic_s,
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
    int rc = sio__env_set_json(ctx->shard, env, arr, &holder, &bins);
    json_decref(arr);
    if (rc < 0)
        return rc;
    rc = sio__shard_send(ctx->shard, topic_s, env);
    sio__env_json_release(env, &holder, &bins);
    if (rc < 0)
        sio_log_warn(topic, "emit '%s' failed: %s", event, sio_strerror(rc));
    return rc;
}

SIO_API int sio_emit(struct sio_ctx *ctx, const struct sio_emit_opts *opts,
                     const char *event, json_t *args)
{
    static const struct sio_emit_opts none;
    if (!opts)
        opts = &none;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = STR(opts->nsp ? opts->nsp : ctx->nsp);

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
    if (opts->skip_self && ctx->sid)
        skips[n++] = STR(ctx->sid);
    env.except_sids = n ? skips : NULL;
    env.nexcept_sids = n;
    n = 0;
    fill_list(excepts, &n, opts->except_rooms);
    env.except_rooms = n ? excepts : NULL;
    env.nexcept_rooms = n;

    int rc = emit_packet(ctx, &env, SIO_BUS_ALL_TOPIC, event, args);
    free(lists);
    return rc;
}

SIO_API int sio_emit_back(struct sio_ctx *ctx, const char *event, json_t *args)
{
    struct sio_env env;
    env_for_socket(&env, SIO_ENV_EMIT, ctx);
    /* every socket is in the room named by its own sid */
    struct sio_str room = STR(ctx->sid);
    env.rooms = &room;
    env.nrooms = 1;
    return emit_packet(ctx, &env, ctx->gw, event, args);
}

SIO_API int sio_send(struct sio_ctx *ctx, const struct sio_emit_opts *opts, json_t *args)
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
    return sio__shard_send(ctx->shard, ctx->gw, &env);
}

SIO_API int sio_enter_room(struct sio_ctx *ctx, const char *room)
{
    return room_cmd(ctx, SIO_ENV_JOIN, room);
}

SIO_API int sio_leave_room(struct sio_ctx *ctx, const char *room)
{
    return room_cmd(ctx, SIO_ENV_LEAVE, room);
}

SIO_API int sio_close_room(struct sio_ctx *ctx, const char *room)
{
    if (!room)
        return -EINVAL;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_CLOSE_ROOM);
    env.nsp = STR(ctx->nsp);
    struct sio_str r = STR(room);
    env.rooms = &r;
    env.nrooms = 1;
    return sio__shard_send(ctx->shard, SIO_BUS_ALL_TOPIC, &env);
}

SIO_API int sio_disconnect(struct sio_ctx *ctx)
{
    struct sio_env env;
    env_for_socket(&env, SIO_ENV_DISCONNECT_CMD, ctx);
    return sio__shard_send(ctx->shard, ctx->gw, &env);
}

SIO_API int sio_raw_send(struct sio_ctx *ctx, const void *data, size_t len, bool binary)
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

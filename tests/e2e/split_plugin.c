/* split_plugin.c: the plugin of tests/e2e/split.sh, built twice (VERSION 1
 * and 2) to test hot reload. Namespace "/":
 *  - `join` ROOM: enter ROOM; ack true
 *  - `ver`: ack VERSION
 *  - `work` N: ack N (a stream of acked events); the session counts "gaps",
 *    events that arrive ahead of the next expected one (max + 1), and
 *    "dups", events at or below the largest seen (re-deliveries)
 *  - `gaps`: ack [gaps, max]; `stats`: ack [gaps, max, dups]
 *  - `bcast` ROOM EVENT: emit EVENT to ROOM from the worker; ack true
 *  - `sess_set` V / `sess_get`: the user session's "v"
 *  - `reason` SID: ack the disconnect reason this worker saw for SID, or null
 */
#include <pthread.h>
#include <sio/plugin.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *reasons;     /* sid -> reason */

static void on_disconnect(struct sio_ctx *ctx, const char *reason)
{
    pthread_mutex_lock(&mu);
    if (!reasons)
        reasons = json_object();
    json_object_set_new(reasons, sio_ctx_sid(ctx), json_string(reason));
    pthread_mutex_unlock(&mu);
}

static void on_unload(void)
{
    json_decref(reasons);
    reasons = NULL;
}

static json_t *on_reason(struct sio_ctx *ctx, json_t *args)
{
    pthread_mutex_lock(&mu);
    json_t *r = json_object_get(reasons, json_string_value(json_array_get(args, 0)));
    r = r ? json_incref(r) : json_null();
    pthread_mutex_unlock(&mu);
    return r;
}

#ifndef VERSION
#define VERSION 1
#endif

static json_t *on_join(struct sio_ctx *ctx, json_t *args)
{
    return json_boolean(sio_enter_room(ctx, json_string_value(json_array_get(args, 0))) == 0);
}

static json_t *on_ver(struct sio_ctx *ctx, json_t *args)
{
    return json_integer(VERSION);
}

static json_t *on_work(struct sio_ctx *ctx, json_t *args)
{
    json_t *s = sio_session_get(ctx);
    json_int_t v = json_integer_value(json_array_get(args, 0));
    json_t *m = json_object_get(s, "max");
    json_int_t max = m ? json_integer_value(m) : -1;
    if (v > max + 1)
        json_object_set_new(s, "gaps", json_integer(json_integer_value(json_object_get(s, "gaps")) + 1));
    if (v <= max)
        json_object_set_new(s, "dups", json_integer(json_integer_value(json_object_get(s, "dups")) + 1));
    if (v > max)
        json_object_set_new(s, "max", json_integer(v));
    sio_session_save(ctx);
    return json_incref(json_array_get(args, 0));
}

static json_t *on_gaps(struct sio_ctx *ctx, json_t *args)
{
    json_t *s = sio_session_get(ctx);
    return json_pack("[[IO]]", json_integer_value(json_object_get(s, "gaps")),
                     json_object_get(s, "max") ? json_object_get(s, "max") : json_null());
}

static json_t *on_stats(struct sio_ctx *ctx, json_t *args)
{
    json_t *s = sio_session_get(ctx);
    return json_pack("[[IOI]]", json_integer_value(json_object_get(s, "gaps")),
                     json_object_get(s, "max") ? json_object_get(s, "max") : json_null(),
                     json_integer_value(json_object_get(s, "dups")));
}

static json_t *on_bcast(struct sio_ctx *ctx, json_t *args)
{
    const char *room = json_string_value(json_array_get(args, 0));
    const char *ev = json_string_value(json_array_get(args, 1));
    if (!room || !ev)
        return json_false();
    json_t *a = json_pack("[s]", "from-worker");
    int rc = sio_emit(ctx, &(struct sio_emit_opts){ .room = room }, ev, a);
    json_decref(a);
    return json_boolean(rc == 0);
}

static json_t *on_sess_set(struct sio_ctx *ctx, json_t *args)
{
    json_t *s = sio_session_get(ctx);
    if (!s)
        return json_false();
    json_object_set(s, "v", json_array_get(args, 0));
    return json_boolean(sio_session_save(ctx) == 0);
}

static json_t *on_sess_get(struct sio_ctx *ctx, json_t *args)
{
    json_t *s = sio_session_get(ctx);
    json_t *v = s ? json_object_get(s, "v") : NULL;
    return v ? json_incref(v) : json_null();
}

/* the length of a string argument: an event of any size, answered small */
static json_t *on_size(struct sio_ctx *ctx, json_t *args)
{
    (void)ctx;
    return json_integer((json_int_t)json_string_length(json_array_get(args, 0)));
}

SIO_PLUGIN(.name = "split", .nsp = "/", .on_disconnect = on_disconnect, .on_unload = on_unload,
           .events = SIO_EVENTS({ "join", on_join }, { "ver", on_ver }, { "work", on_work },
                                { "bcast", on_bcast }, { "sess_set", on_sess_set },
                                { "sess_get", on_sess_get }, { "gaps", on_gaps },
                                { "stats", on_stats }, { "reason", on_reason },
                                { "size", on_size }));

/* echo.c: the echo plugin, the worked example of docs/PLUGINS.md and the
 * peer of the interop tests.
 *
 * Namespaces "/" and "/custom":
 *  - connect: an auth object with a key "refuse" is refused with that value
 *    as data, or, when it also has a key "data", with "refuse" as the
 *    message and "data" as the data; anyone else is accepted and gets `auth` with the auth payload
 *    (or {} when none);
 *  - `message` comes back to the sender as `message-back`;
 *  - an event sent with an ack request is acked with its own arguments;
 *  - `bcast` goes to every client of the namespace, the sender included;
 *  - any other event comes back to the sender under its own name.
 * Raw Engine.IO messages (--engineio-path) are echoed as they came.
 * Binary arguments stay binary throughout.
 */
#include <sio/plugin.h>

static int on_connect(struct sio_ctx *ctx, const struct sio_environ *env, json_t *auth)
{
    (void)env;
    json_t *refuse = json_object_get(auth, "refuse");    /* NULL-safe */
    json_t *data = json_object_get(auth, "data");
    if (json_is_string(refuse) && data)     /* python: ConnectionRefusedError(msg, data) */
        return sio_refuse_with(ctx, json_string_value(refuse), data);
    if (refuse)
        return sio_refuse(ctx, refuse);   /* borrowed, as every json_t */
    json_t *args = auth ? json_pack("[O]", auth) : json_pack("[{}]");   /* one argument */
    sio_emit_back(ctx, "auth", args);
    json_decref(args);
    return SIO_ACCEPT;
}

/* The return value is the ack, sent only when the client asked for one. */
static json_t *on_message(struct sio_ctx *ctx, json_t *args)
{
    sio_emit_back(ctx, "message-back", args);
    return json_incref(args);
}

static json_t *on_bcast(struct sio_ctx *ctx, json_t *args)
{
    sio_emit(ctx, NULL, "bcast", args);     /* NULL opts: the whole namespace */
    return json_incref(args);
}

static json_t *on_any(struct sio_ctx *ctx, json_t *args)
{
    if (sio_ctx_wants_ack(ctx))
        return json_incref(args);   /* "echo", "message-with-ack", ... */
    sio_emit_back(ctx, sio_ctx_event(ctx), args);
    return NULL;
}

static void on_raw(struct sio_ctx *ctx, const void *data, size_t len, bool binary)
{
    sio_raw_send(ctx, data, len, binary);
}

SIO_PLUGIN(.name = "echo",
           .nsps = SIO_NSPS("/", "/custom"),
           .on_connect = on_connect,
           .events = SIO_EVENTS({ "message", on_message },
                                { "bcast", on_bcast },
                                { "*", on_any }),
           .on_raw = on_raw);

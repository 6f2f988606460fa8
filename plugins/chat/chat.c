/* chat.c: a minimal chat room on namespace "/".
 *
 * A new client gets `welcome` (its sid); `chat` (one argument, the message)
 * is broadcast as `chat` to everyone in the namespace, the sender included.
 */
#include <sio/plugin.h>

static int on_connect(struct sio_ctx *ctx, const struct sio_environ *env, json_t *auth)
{
    (void)env;
    (void)auth;
    json_t *args = json_pack("[{s:s}]", "sid", sio_ctx_sid(ctx));
    sio_emit_back(ctx, "welcome", args);
    json_decref(args);
    return SIO_ACCEPT;
}

static json_t *on_chat(struct sio_ctx *ctx, json_t *args)
{
    sio_emit(ctx, NULL, "chat", args);
    return NULL;
}

SIO_PLUGIN(.name = "chat", .nsp = "/", .on_connect = on_connect,
           .events = SIO_EVENTS({ "chat", on_chat }));

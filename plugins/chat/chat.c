/* chat.c: a minimal chat with rooms on namespace "/".
 *
 * A new client gets `welcome` (its sid). Events:
 *   chat TEXT          broadcast as `chat` to everyone, the sender included
 *   join ROOM          enter ROOM; acks true, then `joined` {room, sid} to ROOM
 *   leave ROOM         leave ROOM; acks true
 *   say {room, text}   `chat` TEXT, ROOM to the members of ROOM but the sender
 *   rooms              acks the sender's rooms (its sid first)
 *   tell {to, text}    `told` TEXT, FROM to the one socket whose sid is TO (on
 *                      this server, or on another deployment through a
 *                      publishing bridge); acks true
 * A bad argument (ROOM not a non-empty string) acks false.
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

/* A room name: a non-empty string. */
static const char *room_of(json_t *v)
{
    const char *r = json_string_value(v);
    return r && *r ? r : NULL;
}

static json_t *on_join(struct sio_ctx *ctx, json_t *args)
{
    const char *room = room_of(json_array_get(args, 0));
    if (!room || sio_enter_room(ctx, room) < 0)
        return json_false();
    json_t *joined = json_pack("[{s:s,s:s}]", "room", room, "sid", sio_ctx_sid(ctx));
    const struct sio_emit_opts to = { .room = room };
    sio_emit(ctx, &to, "joined", joined);
    json_decref(joined);
    return json_true();
}

static json_t *on_leave(struct sio_ctx *ctx, json_t *args)
{
    const char *room = room_of(json_array_get(args, 0));
    if (!room || sio_leave_room(ctx, room) < 0)
        return json_false();
    return json_true();
}

static json_t *on_say(struct sio_ctx *ctx, json_t *args)
{
    json_t *m = json_array_get(args, 0);
    const char *room = room_of(json_object_get(m, "room"));
    json_t *text = json_object_get(m, "text");
    if (!room || !text)
        return json_false();
    json_t *out = json_pack("[Os]", text, room);
    const struct sio_emit_opts to = { .room = room, .skip_self = true };
    int rc = out ? sio_emit(ctx, &to, "chat", out) : -1;
    json_decref(out);
    return json_boolean(rc == 0);
}

static json_t *on_tell(struct sio_ctx *ctx, json_t *args)
{
    json_t *m = json_array_get(args, 0);
    const char *to = room_of(json_object_get(m, "to"));
    json_t *text = json_object_get(m, "text");
    if (!to || !text)
        return json_false();
    json_t *out = json_pack("[Os]", text, sio_ctx_sid(ctx));
    const struct sio_emit_opts opts = { .room = to };   /* every socket is in its sid's room */
    int rc = out ? sio_emit(ctx, &opts, "told", out) : -1;
    json_decref(out);
    return json_boolean(rc == 0);
}

static json_t *on_rooms(struct sio_ctx *ctx, json_t *args)
{
    (void)args;
    json_t *rooms = sio_rooms(sio_ctx_host(ctx), sio_ctx_nsp(ctx), sio_ctx_sid(ctx));
    if (!rooms)
        rooms = json_array();
    return json_pack("[o]", rooms);     /* one ack argument: the array */
}

SIO_PLUGIN(.name = "chat", .nsp = "/", .on_connect = on_connect,
           .events = SIO_EVENTS({ "chat", on_chat }, { "join", on_join }, { "leave", on_leave },
                                { "tell", on_tell },
                                { "say", on_say }, { "rooms", on_rooms }));

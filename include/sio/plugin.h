/* plugin.h: the plugin ABI (version 1) and the host API for handlers.
 *
 * A plugin is a shared object exporting one descriptor, made with
 * SIO_PLUGIN(...). The worker dlopen()s it, checks .abi and .size, and calls
 * its handlers on worker threads. Handlers for one socket (namespace, sid)
 * always run on the same thread, one at a time, in the order the client sent
 * its packets; handlers of different sockets may run concurrently on other
 * threads, so plugin globals need locks (or per-socket state in sessions).
 *
 *   #include <sio/plugin.h>
 *   static json_t *on_echo(struct sio_ctx *ctx, json_t *args)
 *   {
 *       return json_incref(args);            // ack with the same arguments
 *   }
 *   SIO_PLUGIN(.name = "echo", .nsp = "/",
 *              .events = SIO_EVENTS({ "echo", on_echo }));
 *
 * Build out of tree:  cc -shared -fPIC -o echo.so echo.c $(pkg-config --cflags --libs sio)
 *
 * Reference counting, one rule: every json_t crosses the API borrowed.
 * Handlers and callbacks receive borrowed values (valid until they
 * return; incref or copy to keep one). Every host call that takes a
 * json_t borrows it: the caller still owns it and decrefs it as usual
 * (the host takes its own reference or copy when it needs one later).
 * The only values that move are return values: an event handler's ack,
 * and the host calls documented as returning "a new reference" or "a new
 * copy" (sio_rooms, sio_session_of, sio_call's *out), which the caller
 * decrefs. (Before issue 18, sio_refuse() stole its data; it borrows now,
 * so `sio_refuse(ctx, json_pack(...))` leaks one value: keep the value
 * and decref it, or pass a borrowed one.)
 */
#ifndef SIO_PLUGIN_H
#define SIO_PLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sio/sio.h>
#include <sio/msg.h>

#define SIO_PLUGIN_ABI 1

struct sio_ctx;     /* the socket a handler runs for; valid until it returns */

/* What the client's HTTP request carried when it connected. Borrowed. */
struct sio_environ {
    const char *remote_addr;        /* "ip:port" */
    const char *query;              /* raw query string of the request */
    size_t nheaders;
    const char *const *header_names;    /* lower-case */
    const char *const *header_values;
};

/* Return values of on_connect. */
enum { SIO_ACCEPT = 0, SIO_REFUSE = 1 };

/* Connect: return SIO_ACCEPT, SIO_REFUSE (refused with no data), or the
 * result of sio_refuse(ctx, data) or sio_refuse_with(ctx, message, data). auth is the client's auth object or NULL
 * when it sent none (borrowed). */
typedef int (*sio_connect_fn)(struct sio_ctx *ctx, const struct sio_environ *env,
                              json_t *auth);
/* Disconnect: reason as python-socketio names it: "client disconnect",
 * "server disconnect", "ping timeout", "transport close", "transport error". */
typedef void (*sio_disconnect_fn)(struct sio_ctx *ctx, const char *reason);
/* Event: args is the array of arguments after the event name (borrowed;
 * binary values per <sio/msg.h>). Return NULL, or a new reference that
 * becomes the ack: an array is the list of ack arguments, any other value a
 * single argument. When the client asked for an ack and the handler neither
 * returned a value nor called sio_ack(), an empty ack is sent (as
 * python-socketio does). */
typedef json_t *(*sio_event_fn)(struct sio_ctx *ctx, json_t *args);
/* A raw Engine.IO message on the --engineio-path service. */
typedef void (*sio_raw_fn)(struct sio_ctx *ctx, const void *data, size_t len, bool binary);

struct sio_event_handler {
    const char *name;       /* event name, or "*" for every event without a handler */
    sio_event_fn fn;
};

/* The descriptor. Only grows at the end; the host reads a field only when
 * .size covers it. */
struct sio_plugin {
    uint32_t abi;           /* SIO_PLUGIN_ABI */
    uint32_t size;          /* sizeof(struct sio_plugin) */
    const char *name;
    const char *nsp;        /* namespace served: "/chat"; a trailing star matches any suffix ("*" alone: any namespace); NULL = "/" */
    const char *const *nsps;    /* or several (NULL-terminated); used when nsp is NULL */
    sio_connect_fn on_connect;  /* NULL = accept everyone */
    sio_disconnect_fn on_disconnect;
    const struct sio_event_handler *events;    /* SIO_EVENTS(...) */
    sio_raw_fn on_raw;      /* raw Engine.IO messages (the plugin serves --engineio-path) */
    int  (*on_load)(void);  /* once per process before any handler; non-zero refuses the load */
    void (*on_unload)(void);
};

#define SIO_EVENTS(...) \
    ((const struct sio_event_handler[]){ __VA_ARGS__, { NULL, NULL } })
#define SIO_NSPS(...) ((const char *const[]){ __VA_ARGS__, NULL })

#define SIO_PLUGIN_SYMBOL "sio_plugin_v1"
#define SIO_PLUGIN(...) \
    SIO_EXPORT const struct sio_plugin sio_plugin_v1 = { \
        .abi = SIO_PLUGIN_ABI, .size = sizeof(struct sio_plugin), __VA_ARGS__ }

/* ---- the host API (functions of libsio; call them from handlers) ---- */

SIO_EXPORT const char *sio_ctx_sid(const struct sio_ctx *ctx);     /* Socket.IO sid */
SIO_EXPORT const char *sio_ctx_nsp(const struct sio_ctx *ctx);     /* the namespace */
SIO_EXPORT const char *sio_ctx_event(const struct sio_ctx *ctx);   /* event name (catch-all), else NULL */
SIO_EXPORT bool sio_ctx_wants_ack(const struct sio_ctx *ctx);     /* the client asked for an ack */

/* Refuse a connection: the client gets CONNECT_ERROR
 * {"message":"Connection rejected by server","data":data}, or with
 * data a string, {"message":data}. Borrows data (may be NULL). Returns
 * SIO_REFUSE, for use as on_connect's return value. From on_connect only. */
SIO_EXPORT int sio_refuse(struct sio_ctx *ctx, json_t *data);
/* since 1 (issue 18): refuse with a message and data, as python-socketio's
 * ConnectionRefusedError('bad token', data) and JS's next(err) with
 * err.data: CONNECT_ERROR {"message":message,"data":data} (no "data" key
 * when data is NULL; message NULL: as sio_refuse()). The JS client's
 * connect_error then has err.message == message and err.data == data.
 * Borrows both. Returns SIO_REFUSE. */
SIO_EXPORT int sio_refuse_with(struct sio_ctx *ctx, const char *message, json_t *data);

/* Ack the current event explicitly with args (array of arguments or NULL;
 * borrowed). At most once; later acks and the return value are ignored.
 * 0, or SIO_ERR_PROTO when the client asked for no ack. */
SIO_EXPORT int sio_ack(struct sio_ctx *ctx, json_t *args);

/* A handle a plugin may keep (a host pointer, see below). */
typedef struct sio_host sio_host;

/* since 1 (issue 18): a deferred ack. A handler that can answer only
 * after an asynchronous step (a timer, a task, an ack of another client:
 * JS `cb(await other.emitWithAck(...))`, python's `return await
 * sio.call(...)`) takes a token and returns; no ack is sent when it
 * returns. Later, from any timer, task or callback of the same worker,
 * sio_ack_token_send() sends the ack with args (as sio_ack(); borrowed).
 *
 * sio_ack_defer: in an event handler only; a token > 0, or SIO_ERR_PROTO
 * when the client asked for no ack, -EALREADY when the event was acked
 * already, -ENOMEM. The token is a plain number: copy it anywhere.
 * sio_ack_token_send: 0 (the ack is sent), SIO_ERR_ANSWERED when the
 * token was answered before or released because its socket disconnected
 * (the worker forgets unanswered tokens on disconnect; nothing is
 * leaked), -EINVAL for a token this worker never gave, or < 0 when the
 * send failed (the token is used up all the same). Thread-safe on any
 * host of the worker. */
typedef int64_t sio_ack_token;
SIO_EXPORT sio_ack_token sio_ack_defer(struct sio_ctx *ctx);
SIO_EXPORT int sio_ack_token_send(sio_host *h, sio_ack_token token, json_t *args);

/* The recipients of an emit: struct sio_to of <sio/sio.h> (room, rooms,
 * skip_sid, skip_sids, except_rooms, skip_self, nsp), the same type as the
 * emitter's struct sio_emitter_to. */
#define sio_emit_opts sio_to

/* Emit event with args (array of arguments, or NULL for none; borrowed).
 * opts NULL or with no room(s): every socket of the namespace. Returns 0 or
 * a negative error. The packet is encoded once for all recipients. */
SIO_EXPORT int sio_emit(struct sio_ctx *ctx, const struct sio_emit_opts *opts,
                     const char *event, json_t *args);
/* since 1 (issue 17): sio_emit() as JS `socket.volatile.emit()`: a
 * recipient that cannot take the packet now (its WebSocket has output
 * waiting, its polling client has no long-poll pending) does not get it.
 * For data a client may miss (positions, ticks), so that a slow client
 * never queues them. */
SIO_EXPORT int sio_emit_volatile(struct sio_ctx *ctx, const struct sio_emit_opts *opts,
                              const char *event, json_t *args);
/* Emit to the current socket only. */
SIO_EXPORT int sio_emit_back(struct sio_ctx *ctx, const char *event, json_t *args);
/* Same as event "message" (python-socketio's send). */
SIO_EXPORT int sio_send(struct sio_ctx *ctx, const struct sio_emit_opts *opts, json_t *args);

/* Rooms of the current socket. */
SIO_EXPORT int sio_enter_room(struct sio_ctx *ctx, const char *room);
SIO_EXPORT int sio_leave_room(struct sio_ctx *ctx, const char *room);
SIO_EXPORT int sio_close_room(struct sio_ctx *ctx, const char *room);

/* Disconnect the current socket from its namespace (reason "server
 * disconnect" for both sides). */
SIO_EXPORT int sio_disconnect(struct sio_ctx *ctx);

/* Send a raw Engine.IO message to the current engine session (on_raw). */
SIO_EXPORT int sio_raw_send(struct sio_ctx *ctx, const void *data, size_t len, bool binary);

/* ---- since 1 (issue 4): calls beyond the current socket ----
 *
 * A sio_host is the worker seen from some thread: the shard a handler or
 * timer runs on, or a background task. Handlers get theirs with
 * sio_ctx_host(); timer and task callbacks are given one. A host is valid
 * while the callback it was given to runs (a task's, for the task's life)
 * and must only be used on that thread. Every call below is safe on any
 * host; an emit from a task is sent by the shard that started the task,
 * in the order the task made it. */

SIO_EXPORT sio_host *sio_ctx_host(struct sio_ctx *ctx);

/* Emit to namespace nsp (opts->nsp is ignored; opts->skip_self has no
 * socket to skip). args as sio_emit(): an array is the argument list, any
 * other value one argument (wrap an array to send it as one argument). */
SIO_EXPORT int sio_emit_ns(sio_host *h, const char *nsp, const struct sio_emit_opts *opts,
                        const char *event, json_t *args);
SIO_EXPORT int sio_send_ns(sio_host *h, const char *nsp, const struct sio_emit_opts *opts,
                        json_t *args);

/* Rooms of any socket of nsp. The worker keeps a mirror of the rooms it
 * put each socket in (plus the room named by its sid), so sio_rooms()
 * answers without asking the gateway; rooms joined by an external emitter
 * are not in it. */
SIO_EXPORT int sio_enter_room_sid(sio_host *h, const char *nsp, const char *sid, const char *room);
SIO_EXPORT int sio_leave_room_sid(sio_host *h, const char *nsp, const char *sid, const char *room);
SIO_EXPORT int sio_close_room_ns(sio_host *h, const char *nsp, const char *room);
/* A new array of the socket's rooms, its sid first; NULL when the socket
 * is not connected to this worker. */
SIO_EXPORT json_t *sio_rooms(sio_host *h, const char *nsp, const char *sid);

/* Disconnect sid from the ctx's namespace (whole_client: also close its
 * Engine.IO connection, i.e. every namespace). on_disconnect then runs with
 * reason "server disconnect". */
SIO_EXPORT int sio_disconnect_sid(struct sio_ctx *ctx, const char *sid, bool whole_client);
SIO_EXPORT int sio_disconnect_ns(sio_host *h, const char *nsp, const char *sid, bool whole_client);

/* Server-to-client emit with an ack callback. The callback gets the
 * socket as (h, nsp, sid), enough for every host call of this section, for
 * sio_session_of(), and for answering a deferred ack (sio_ack_token_send).
 * status is 0 with args the
 * client's ack arguments (an array, borrowed), SIO_ERR_TIMEOUT when no ack
 * came within timeout_ms (0 = wait forever), or SIO_ERR_CLOSED when the
 * socket disconnected first; args is NULL then. cb runs exactly once, on a
 * shard thread: the acking socket's, or for a timeout the caller's.
 *
 * There is no blocking sio_call() for handlers: a handler runs on its
 * shard's only thread, which is also the thread that would receive the
 * ack, so waiting there would deadlock the shard (and stall every socket
 * on it). Use the callback, or sio_call() from a task. */
typedef void (*sio_ack_cb)(sio_host *h, const char *nsp, const char *sid, int status,
                           json_t *args, void *ud);
SIO_EXPORT int sio_emit_with_ack(struct sio_ctx *ctx, const char *sid, const char *event,
                              json_t *args, unsigned timeout_ms, sio_ack_cb cb, void *ud);
SIO_EXPORT int sio_emit_with_ack_ns(sio_host *h, const char *nsp, const char *sid,
                                 const char *event, json_t *args, unsigned timeout_ms,
                                 sio_ack_cb cb, void *ud);
/* since 1 (issue 18): inside an ack callback run for the client's answer
 * (status 0 or a malformed answer), the acking socket's ctx, as an event
 * handler gets it: sio_emit_back, rooms, sio_session_get/save,
 * sio_ack_defer... work on it until the callback returns (do not keep it).
 * NULL in a callback for a timeout or a closed socket, and outside ack
 * callbacks. */
SIO_EXPORT struct sio_ctx *sio_ack_ctx(sio_host *h);
/* Blocking call, from a task only (-EDEADLK on a shard): *out gets a new
 * reference to the ack arguments. 0, SIO_ERR_TIMEOUT, SIO_ERR_CLOSED or < 0. */
SIO_EXPORT int sio_call(sio_host *h, const char *nsp, const char *sid, const char *event,
                     json_t *args, unsigned timeout_ms, json_t **out);

/* User session of the current socket: an object (borrowed) the handler may
 * change, kept by the worker for the socket's life and freed on disconnect.
 * sio_session_save() sends it to the gateway (SESSION), which hands it back
 * when the socket is connected to a worker again. */
SIO_EXPORT json_t *sio_session_get(struct sio_ctx *ctx);
SIO_EXPORT int sio_session_save(struct sio_ctx *ctx);
/* Scoped form: SIO_WITH_SESSION(ctx, s) { json_object_set_new(s, ...); }
 * saves when the block ends (do not leave the block with break/return). */
#define SIO_WITH_SESSION(ctx, s) \
    for (json_t *s = sio_session_get(ctx), *s##_once_ = s; s##_once_; \
         s##_once_ = NULL, sio_session_save(ctx))
/* since 1 (issue 18): the session of any socket of nsp by sid, from any
 * host (handler, timer, task, ack callback), as python-socketio's
 * get_session(sid): a new copy (decref it) of the session as last saved
 * with sio_session_save() or restored when the socket connected, {} for a
 * connected socket without one, NULL when sid is not connected to this
 * worker. Changing the copy changes nothing; save from the socket's own
 * handler. */
SIO_EXPORT json_t *sio_session_of(sio_host *h, const char *nsp, const char *sid);

/* Timers run on the loop of the shard whose host starts them, between
 * events (a slow timer delays that shard's sockets only). From a shard
 * host only (-EINVAL from a task). Returns a timer id > 0 or < 0. */
typedef void (*sio_timer_fn)(sio_host *h, void *ud);
SIO_EXPORT int64_t sio_timer_start(sio_host *h, unsigned ms, bool repeat, sio_timer_fn cb, void *ud);
/* 0, or -ENOENT when it already ran (one-shot) or was stopped. */
SIO_EXPORT int sio_timer_stop(sio_host *h, int64_t id);

/* Background task: fn runs on its own thread with its own host and may
 * block (sio_sleep, sio_call). It should return soon after
 * sio_task_stopping() turns true: the worker waits for every task when it
 * stops. 0 or < 0. */
typedef void (*sio_task_fn)(sio_host *h, void *ud);
SIO_EXPORT int sio_task_start(sio_host *h, sio_task_fn fn, void *ud);
SIO_EXPORT bool sio_task_stopping(sio_host *h);
/* Sleep ms milliseconds (tasks; in a handler it stalls the shard). */
SIO_EXPORT void sio_sleep(unsigned ms);

#endif

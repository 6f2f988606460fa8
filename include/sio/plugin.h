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
 * Reference counting: handlers receive borrowed jansson values (valid until
 * they return). Host calls that take json_t say whether they borrow or steal.
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

#define SIO_API __attribute__((visibility("default")))

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
 * result of sio_refuse(ctx, data). auth is the client's auth object or NULL
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
    __attribute__((visibility("default"))) const struct sio_plugin sio_plugin_v1 = { \
        .abi = SIO_PLUGIN_ABI, .size = sizeof(struct sio_plugin), __VA_ARGS__ }

/* ---- the host API (functions of libsio; call them from handlers) ---- */

SIO_API const char *sio_ctx_sid(const struct sio_ctx *ctx);     /* Socket.IO sid */
SIO_API const char *sio_ctx_nsp(const struct sio_ctx *ctx);     /* the namespace */
SIO_API const char *sio_ctx_event(const struct sio_ctx *ctx);   /* event name (catch-all), else NULL */
SIO_API bool sio_ctx_wants_ack(const struct sio_ctx *ctx);     /* the client asked for an ack */

/* Refuse a connection: the client gets CONNECT_ERROR
 * {"message":"Connection rejected by server","data":data}, or with
 * data a string, {"message":data}. Steals data (may be NULL). Returns
 * SIO_REFUSE, for use as on_connect's return value. */
SIO_API int sio_refuse(struct sio_ctx *ctx, json_t *data);

/* Ack the current event explicitly with args (array of arguments or NULL;
 * borrowed). At most once; later acks and the return value are ignored.
 * 0, or SIO_ERR_PROTO when the client asked for no ack. */
SIO_API int sio_ack(struct sio_ctx *ctx, json_t *args);

struct sio_emit_opts {
    const char *room;               /* one room or sid (python-socketio's to=) */
    const char *const *rooms;       /* several (NULL-terminated) */
    const char *skip_sid;           /* exclude one sid */
    const char *const *skip_sids;   /* exclude several (NULL-terminated) */
    const char *const *except_rooms;/* exclude members of these rooms */
    bool skip_self;                 /* exclude the current socket */
    const char *nsp;                /* target namespace; NULL = ctx's */
};

/* Emit event with args (array of arguments, or NULL for none; borrowed).
 * opts NULL or with no room(s): every socket of the namespace. Returns 0 or
 * a negative error. The packet is encoded once for all recipients. */
SIO_API int sio_emit(struct sio_ctx *ctx, const struct sio_emit_opts *opts,
                     const char *event, json_t *args);
/* Emit to the current socket only. */
SIO_API int sio_emit_back(struct sio_ctx *ctx, const char *event, json_t *args);
/* Same as event "message" (python-socketio's send). */
SIO_API int sio_send(struct sio_ctx *ctx, const struct sio_emit_opts *opts, json_t *args);

/* Rooms of the current socket. */
SIO_API int sio_enter_room(struct sio_ctx *ctx, const char *room);
SIO_API int sio_leave_room(struct sio_ctx *ctx, const char *room);
SIO_API int sio_close_room(struct sio_ctx *ctx, const char *room);

/* Disconnect the current socket from its namespace (reason "server
 * disconnect" for both sides). */
SIO_API int sio_disconnect(struct sio_ctx *ctx);

/* Send a raw Engine.IO message to the current engine session (on_raw). */
SIO_API int sio_raw_send(struct sio_ctx *ctx, const void *data, size_t len, bool binary);

#endif

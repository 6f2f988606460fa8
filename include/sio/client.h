/* client.h: Socket.IO v5 / Engine.IO v4 clients.
 *
 * Two clients, as python-socketio has:
 *
 *  - the event-driven client (sio_client_*) runs on the caller's libevent
 *    event_base: register handlers, connect, emit; everything happens in
 *    callbacks on the loop thread. Every sio_client_* function must be
 *    called on that thread.
 *  - the simple client (sio_simple_*) runs its own loop thread and offers
 *    blocking calls: connect, emit, call, receive, disconnect. One sio_simple
 *    may be used from any one thread at a time.
 *
 * Arguments are jansson values; a binary value (see <sio/msg.h>,
 * sio_binary_new()/sio_binary_get()) may sit anywhere inside them and is
 * sent as a Socket.IO binary attachment. Received attachments arrive as
 * binary values.
 *
 * Transports: long-polling, WebSocket, polling then upgrade to WebSocket
 * (the default, as the JS and Python clients), or WebSocket only.
 *
 * Errors follow <sio/error.h>: 0 ok, < 0 a negative errno or SIO_ERR_*.
 *
 * SIGPIPE: a write to a connection the server already closed raises it.
 * The simple client's loop thread blocks it; an application running the
 * event-driven client should ignore or block it (docs/CLIENT.md).
 */
#ifndef SIO_CLIENT_H
#define SIO_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sio/sio.h>
#include <sio/msg.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/* Transport selection (a bit set). Both bits: polling then upgrade. */
enum sio_transport {
    SIO_TRANSPORT_POLLING   = 1 << 0,
    SIO_TRANSPORT_WEBSOCKET = 1 << 1,
    SIO_TRANSPORT_DEFAULT   = SIO_TRANSPORT_POLLING | SIO_TRANSPORT_WEBSOCKET,
};

/* Disconnect reasons passed to on_disconnect (compare with strcmp). */
#define SIO_REASON_CLIENT_DISCONNECT "client disconnect"
#define SIO_REASON_SERVER_DISCONNECT "server disconnect"
#define SIO_REASON_PING_TIMEOUT      "ping timeout"
#define SIO_REASON_TRANSPORT_CLOSE   "transport close"
#define SIO_REASON_TRANSPORT_ERROR   "transport error"

/* Client options. Fill with sio_client_opts_init() and change what you
 * need; the strings are copied by sio_client_new().
 *
 * Room to grow (issue 18): the struct only grows at the end, and .size
 * (set by sio_client_opts_init() to the sizeof this program was built
 * with) tells the library which fields the caller has; a field beyond it
 * takes its default. size 0 means the fields up to tls_key_file (a struct
 * filled without sio_client_opts_init()). */
struct sio_client_opts {
    uint32_t size;              /* sizeof(struct sio_client_opts); see above */
    unsigned transports;        /* enum sio_transport bits; default both */
    const char *path;           /* default "/socket.io/" */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    bool reconnection;          /* default true */
    unsigned reconnection_attempts;     /* 0 = infinite (default) */
    unsigned reconnection_delay_ms;     /* default 1000 */
    unsigned reconnection_delay_max_ms; /* default 5000 */
    double randomization_factor;        /* default 0.5: delay * (1 +- 0.5 * rand) */
    unsigned connect_timeout_ms;        /* TCP + handshake; default 20000 */
    size_t max_payload;         /* largest Engine.IO message/payload accepted
                                   from the server; default 100 MB */
    /* TLS (https/wss URLs; OpenSSL). The server's certificate chain and
     * its name (the URL's host: DNS name, or IP address) are verified
     * unless tls_no_verify; SNI is sent for DNS names. The files are read
     * at the first https/wss connect (errors: sio_client_connect() returns
     * -EINVAL and sio_client_last_error() says which file and why). A
     * failed verification is reported as "certificate verify failed: ...". */
    bool tls_no_verify;         /* default false: server certificates are verified */
    const char *tls_ca_file;    /* PEM CA bundle; NULL = system default */
    const char *tls_cert_file;  /* client certificate chain (PEM), or NULL */
    const char *tls_key_file;   /* client key (PEM); NULL = in tls_cert_file */
    /* since issue 15: https polling offers ALPN "h2,http/1.1"; when the
     * server picks h2, every polling request is a stream of one HTTP/2
     * connection (docs/CLIENT.md "HTTP/2"). true offers http/1.1 only.
     * WebSocket connections are HTTP/1.1 either way. */
    bool no_h2;                 /* default false */
};

/* Set every field of opts to its default, and opts->size. */
SIO_EXPORT void sio_client_opts_init(struct sio_client_opts *opts);

typedef struct sio_client sio_client;

/* An event handler. nsp and event are borrowed; args is the (possibly
 * empty) JSON array of arguments, borrowed until the handler returns
 * (json_incref() it to keep it). When the server asked for an ack
 * (want_ack), the return value becomes it: NULL sends an empty ack, an
 * array is sent as the argument list, any other value as the single
 * argument. The returned value is a new reference the client consumes
 * (also when no ack was asked for). */
typedef json_t *(*sio_client_event_fn)(sio_client *c, const char *nsp,
                                       const char *event, json_t *args,
                                       bool want_ack, void *ud);

/* Called when the namespace is connected (again, after a reconnection). */
typedef void (*sio_client_connect_fn)(sio_client *c, const char *nsp, void *ud);
/* The server refused the namespace (or the connection failed): data is
 * what the server sent ({"message": ..., "data": ...} from the JS server,
 * or a string / object from python-socketio), or {"message": "..."} for a
 * local failure. Borrowed. */
typedef void (*sio_client_connect_error_fn)(sio_client *c, const char *nsp,
                                            json_t *data, void *ud);
/* The namespace was disconnected; reason is one of SIO_REASON_*. */
typedef void (*sio_client_disconnect_fn)(sio_client *c, const char *nsp,
                                         const char *reason, void *ud);
/* An ack arrived (status 0, args the ack's JSON array, borrowed) or did
 * not: status SIO_ERR_TIMEOUT, or SIO_ERR_CLOSED when the namespace was
 * disconnected first (args NULL). Called exactly once. */
typedef void (*sio_client_ack_fn)(sio_client *c, int status, json_t *args, void *ud);

/* A namespace's connection handlers, the counterpart of python-socketio's
 * ClientNamespace. Any callback may be NULL. */
struct sio_client_namespace {
    const char *nsp;                 /* "/chat"; "*" is not allowed here */
    sio_client_connect_fn on_connect;
    sio_client_connect_error_fn on_connect_error;
    sio_client_disconnect_fn on_disconnect;
    void *ud;
};

/* Create a client bound to base (borrowed; it must outlive the client).
 * opts may be NULL for the defaults. Loop thread. 0 or -ENOMEM/-EINVAL. */
SIO_EXPORT int sio_client_new(sio_client **out, struct event_base *base,
                              const struct sio_client_opts *opts);

/* Destroy the client: closes the connection without calling handlers and
 * fails nothing (pending ack callbacks are dropped). NULL-safe; sets
 * *self_p = NULL. Never call it from inside one of the client's callbacks
 * (call sio_client_disconnect() there, destroy after the loop returns). */
SIO_EXPORT void sio_client_destroy(sio_client **self_p);

/* Register an event handler. nsp "*" catches every namespace, event "*"
 * every event; the most specific handler wins (nsp+event, nsp+"*",
 * "*"+event, "*"+"*"). Registering the same pair again replaces it. */
SIO_EXPORT int sio_client_on(sio_client *c, const char *nsp, const char *event,
                             sio_client_event_fn fn, void *ud);

/* Register a namespace's connect/connect_error/disconnect handlers (the
 * struct is copied). Connect handlers are never called for catch-alls. */
SIO_EXPORT int sio_client_on_namespace(sio_client *c,
                                       const struct sio_client_namespace *h);

/* Connect to url ("http://host:port", https, ws or wss; the query string,
 * if any, is sent with the handshake; the path comes from opts->path).
 * namespaces: NULL-terminated list, or NULL for "/" plus every namespace
 * that has handlers. auth (borrowed, may be NULL) is sent with every
 * namespace CONNECT, also on reconnection. Asynchronous: the result is
 * reported to on_connect / on_connect_error. Returns 0, -EINVAL (bad url,
 * or a TLS file that cannot be loaded: see sio_client_last_error()),
 * -EALREADY (already connected or connecting) or -ENOMEM. */
SIO_EXPORT int sio_client_connect(sio_client *c, const char *url,
                                  const char *const *namespaces, json_t *auth);

/* Emit event with args (a JSON array, borrowed, or NULL for none) on nsp
 * (NULL = "/"). Returns 0, SIO_ERR_CLOSED when nsp is not connected,
 * -EINVAL or -ENOMEM. */
SIO_EXPORT int sio_client_emit(sio_client *c, const char *nsp, const char *event,
                               json_t *args);

/* Emit and ask for an ack: cb is called once with the ack or with
 * SIO_ERR_TIMEOUT after timeout_ms (0 = no timeout) or SIO_ERR_CLOSED. On
 * a non-zero return cb is never called. */
SIO_EXPORT int sio_client_emit_ack(sio_client *c, const char *nsp, const char *event,
                                   json_t *args, sio_client_ack_fn cb, void *ud,
                                   unsigned timeout_ms);

/* Leave every namespace and close the connection; on_disconnect runs with
 * "client disconnect" for every namespace connected or still connecting
 * (also before the Engine.IO handshake finished, and between it and the
 * server's CONNECT reply: a reply arriving after this is ignored, so no
 * on_connect follows). No reconnection follows. Safe inside callbacks. */
SIO_EXPORT void sio_client_disconnect(sio_client *c);

/* True while namespace nsp (NULL = "/") is connected. */
SIO_EXPORT bool sio_client_connected(const sio_client *c, const char *nsp);
/* The namespace's sid, or NULL when not connected. Borrowed. */
SIO_EXPORT const char *sio_client_sid(const sio_client *c, const char *nsp);
/* "polling", "websocket", or NULL when there is no connection. */
SIO_EXPORT const char *sio_client_transport(const sio_client *c);

/* The last connection error in words ("" when none): why a connect
 * failed or the connection was lost. Borrowed until the next call. */
SIO_EXPORT const char *sio_client_last_error(const sio_client *c);

/* Run the loop until the client is disconnected for good (after its own
 * disconnect, a server disconnect, a failed connect or once reconnection
 * gives up). Returns 0, or -1 when the loop has nothing left to do. */
SIO_EXPORT int sio_client_wait(sio_client *c);
/* since issue 18: the same for n clients on one event_base: returns when
 * every one of them is disconnected for good. 0, -1 as above, or -EINVAL
 * (n == 0, or clients on different bases). */
SIO_EXPORT int sio_client_wait_all(sio_client *const *clients, size_t n);

/* since issue 18: fn(c, attempts, ud) runs once when the client gives up
 * reconnecting (opts.reconnection_attempts tried; the JS Manager's
 * "reconnect_failed"); sio_client_wait() returns after it. NULL clears. */
SIO_EXPORT void sio_client_on_reconnect_failed(sio_client *c,
                                               void (*fn)(sio_client *c, unsigned attempts,
                                                          void *ud),
                                               void *ud);

/* Call fn(c, ud) after delay_ms on the client's loop (a background task /
 * sleep). Returns a task id > 0 (since issue 18; before, 0), -EINVAL or
 * -ENOMEM. A task that has not run yet is cancelled by
 * sio_client_cancel_task() or sio_client_destroy(). */
SIO_EXPORT int64_t sio_client_start_task(sio_client *c, unsigned delay_ms,
                                         void (*fn)(sio_client *c, void *ud), void *ud);
/* Cancel task id: 0, or -ENOENT when it already ran or was cancelled. */
SIO_EXPORT int sio_client_cancel_task(sio_client *c, int64_t id);

/* ---- simple (blocking) client ----------------------------------------- */

typedef struct sio_simple sio_simple;

struct sio_simple_opts {
    const char *nsp;            /* default "/" */
    unsigned transports;        /* 0 = SIO_TRANSPORT_DEFAULT */
    json_t *auth;               /* borrowed; may be NULL */
    unsigned wait_timeout_ms;   /* connect wait; 0 = 5000 */
    const struct sio_client_opts *client;  /* advanced options; may be NULL */
};

/* Connect and wait until the namespace is connected or refused. On
 * refusal returns SIO_ERR_CLOSED and, when error_data is not NULL, sets it
 * to the server's data (new reference). Other errors: SIO_ERR_TIMEOUT,
 * -EINVAL, -ENOMEM. On error *out is NULL. Any thread. */
SIO_EXPORT int sio_simple_connect(sio_simple **out, const char *url,
                                  const struct sio_simple_opts *opts,
                                  json_t **error_data);

/* The namespace sid / transport name (copied into the sio_simple; valid
 * until the next call on it). NULL when not connected. */
SIO_EXPORT const char *sio_simple_sid(sio_simple *s);
SIO_EXPORT const char *sio_simple_transport(sio_simple *s);

/* Emit event with args (array, borrowed, or NULL). 0 or SIO_ERR_CLOSED. */
SIO_EXPORT int sio_simple_emit(sio_simple *s, const char *event, json_t *args);

/* Emit and wait for the ack: *result receives the ack's argument array (new
 * reference). 0, SIO_ERR_TIMEOUT, SIO_ERR_CLOSED. */
SIO_EXPORT int sio_simple_call(sio_simple *s, const char *event, json_t *args,
                               unsigned timeout_ms, json_t **result);

/* Wait for the next event from the server: *event (malloc'd, free() it)
 * and *args (new reference, an array). Returns 0, SIO_ERR_TIMEOUT when
 * nothing came within timeout_ms (0 = wait forever), SIO_ERR_CLOSED
 * when disconnected for good and no event is left. */
SIO_EXPORT int sio_simple_receive(sio_simple *s, char **event, json_t **args,
                                  unsigned timeout_ms);

/* True while connected (false during a reconnection). */
SIO_EXPORT bool sio_simple_connected(sio_simple *s);

/* Disconnect, stop the thread, free everything. NULL-safe; sets *self_p. */
SIO_EXPORT void sio_simple_disconnect(sio_simple **self_p);

#ifdef __cplusplus
}
#endif

#endif

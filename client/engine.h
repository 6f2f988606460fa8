/* engine.h: the Engine.IO v4 client transport (internal to client/).
 *
 * One sio_eng is one Engine.IO session on the caller's event_base: the
 * polling handshake or a WebSocket-only open, long-polling GET/POST,
 * the 2probe/3probe/5 upgrade to WebSocket, answering pings and the ping
 * timeout. HTTP/1.1 responses are parsed with http_parser, HTTP/2 (https
 * polling when the server's ALPN picks h2) is nghttp2's client session,
 * WebSocket frames are wslay's (client mode); the packets proto/eio.c's.
 *
 * Every callback runs from the loop; on_close runs from its own event (a
 * fresh stack), once, after which the engine does nothing but wait for
 * sio_eng_destroy(), which may be called from on_close itself.
 */
#ifndef SIO_CLIENT_ENGINE_H
#define SIO_CLIENT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "proto/eio.h"

struct sio_eng;

struct sio_eng_cfg {
    const char *host;           /* without brackets */
    unsigned port;
    const char *path;           /* "/socket.io/" */
    const char *query;          /* extra query (no '?'), or NULL */
    const char *const *headers; /* NULL-terminated "Name: value", or NULL */
    unsigned transports;        /* enum sio_transport bits */
    unsigned connect_timeout_ms;
    size_t max_payload;
    /* TLS: an SSL_CTX (borrowed, outlives the engine) makes every socket
     * https/wss; NULL = plain TCP. The server name is checked against
     * host (DNS name or IP address) unless tls_no_verify. */
    struct ssl_ctx_st *ssl_ctx;
    bool tls_no_verify;
    /* https polling offers ALPN "h2,http/1.1" and, when the server picks
     * h2, sends every polling request as a stream of one HTTP/2
     * connection; no_h2 offers http/1.1 only. */
    bool no_h2;
};

struct sio_eng_cbs {
    void (*on_open)(void *ud, const struct sio_eio_open *hs);
    void (*on_message)(void *ud, bool binary, const uint8_t *data, size_t len);
    void (*on_upgrade)(void *ud);                 /* now on WebSocket; may be NULL */
    /* reason: one of the SIO_REASON_* strings; detail: human text */
    void (*on_close)(void *ud, const char *reason, const char *detail);
};

/* Start connecting. The cfg strings are copied. 0 or -ENOMEM. */
int sio__eng_new(struct sio_eng **out, struct event_base *base,
                 const struct sio_eng_cfg *cfg, const struct sio_eng_cbs *cbs,
                 void *ud);
/* Queue one MESSAGE. 0 or SIO_ERR_CLOSED / -ENOMEM. */
int sio__eng_send(struct sio_eng *e, bool binary, const void *data, size_t len);
/* Close gracefully (close packet, flush); on_close follows with
 * "client disconnect". Safe inside callbacks. */
void sio__eng_close(struct sio_eng *e);
/* End the session now with "transport error" and detail (bad input seen
 * by the layer above). Safe inside callbacks. */
void sio__eng_abort(struct sio_eng *e, const char *detail);
/* Free now (no callback). NULL-safe. Not from inside engine callbacks
 * other than on_close. */
void sio__eng_destroy(struct sio_eng **e_p);
/* "polling" / "websocket" */
const char *sio__eng_transport(const struct sio_eng *e);
const char *sio__eng_sid(const struct sio_eng *e);

/* client.c internals used by simple.c */
struct sio_client;
/* True when the client is neither connected nor connecting/reconnecting. */
bool sio_client__finished(const struct sio_client *c);

#endif

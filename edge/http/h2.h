/* h2.h: one HTTP/2 server connection on a bufferevent, with nghttp2's
 * server session (internal).
 *
 * Owns the bufferevent, the nghttp2 session and its streams. Each request
 * stream becomes an exchange (http1.h, sio_http_exchange_new): the owner
 * gets the same struct sio_http_req and answers with the same
 * sio_http_reply*() calls as for HTTP/1.1, at once or later (a long-poll
 * parked on its stream); h2.c maps the reply to HEADERS + DATA (the
 * connection-specific headers dropped) and sends it as the flow-control
 * windows allow. An extended CONNECT (RFC 8441, `:protocol`) is delivered
 * with req->protocol set; sio_http_conn_tunnel() answers it and gives the
 * stream's DATA both ways as one end of a bufferevent pair, for the
 * WebSocket frame layer (ws.c).
 *
 * Entry points: ALPN "h2" and the connection preface of h2c with prior
 * knowledge hand over an HTTP/1.1 connection's bufferevent (the preface
 * still in its input); an HTTP/1.1 `Upgrade: h2c` request is answered 101
 * by the owner and becomes stream 1 (sio_h2_conn_new's upgrade).
 *
 * Limits (docs/SERVER.md "HTTP/2"): SETTINGS_MAX_CONCURRENT_STREAMS,
 * a header list bound per request (past it the connection is closed with
 * GOAWAY ENHANCE_YOUR_CALM, as HTTP/1.1 closes after a 431), nghttp2's
 * bounds on SETTINGS entries, queued PING/SETTINGS acks, CONTINUATION
 * frames per header block and the rate of streams reset by the client
 * (rapid reset), the request body bound (413), a deadline for each
 * request to arrive whole and an idle timeout while no stream is open.
 * Loop thread only.
 */
#ifndef SIO_EDGE_H2_H
#define SIO_EDGE_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/bufferevent.h>
#include "edge/http/http1.h"

struct sio_h2_conn;

struct sio_h2_limits {
    uint32_t max_streams;       /* concurrent streams; 0 = 100 */
    size_t max_header_list;     /* decoded header bytes of one request (RFC 7541
                                 * sizes: name + value + 32 each); 0 = 16 KiB */
    size_t max_body;            /* request body; larger ones get 413 */
    size_t max_tunnel_out;      /* bytes a tunnel may queue for a slow client
                                 * before its stream is reset; 0 = 4 MiB */
    unsigned idle_timeout_ms;   /* no stream open this long: GOAWAY; 0 = 30000 */
    unsigned close_timeout_ms;  /* output drain on close; 0 = 5000 */
    unsigned request_timeout_ms;    /* a request's headers and body must be in
                                     * within this; else RST_STREAM; 0 = 30000 */
};

struct sio_h2_cbs {
    /* A request stream is complete: the ud of its exchange (NULL refuses
     * the stream with RST_STREAM REFUSED_STREAM). */
    void *(*on_stream)(struct sio_h2_conn *h, void *ud);
    /* For every exchange: on_request and on_close are used. */
    struct sio_http_cbs http;
    /* The connection is gone (every exchange closed before); h is freed
     * right after. Not called after sio_h2_conn_abort(). */
    void (*on_close)(struct sio_h2_conn *h, void *ud);
};

/* The upgrade of an HTTP/1.1 request (Upgrade: h2c): the owner has
 * written the 101; req becomes stream 1 (copied). */
struct sio_h2_upgrade {
    const struct sio_http_req *req;
    const char *settings;       /* the HTTP2-Settings header (base64url) */
};

/* Takes bev (freed with the connection; its input may hold the preface
 * already). Returns NULL on error (bev freed; -EINVAL in *err for a bad
 * HTTP2-Settings). */
struct sio_h2_conn *sio_h2_conn_new(struct bufferevent *bev, const struct sio_h2_limits *lim,
                                    const struct sio_h2_cbs *cbs, void *ud,
                                    const struct sio_h2_upgrade *up);
/* GOAWAY (NO_ERROR): no new stream is accepted, the open ones finish,
 * then the connection closes. */
void sio_h2_conn_goaway(struct sio_h2_conn *h);
/* Free now, without on_close (thread shutdown; not from h's callbacks).
 * Every exchange's on_close runs. */
void sio_h2_conn_abort(struct sio_h2_conn *h);

#endif

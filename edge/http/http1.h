/* http1.h: one HTTP/1.1 server connection on a bufferevent (internal).
 *
 * Owns the bufferevent and an http_parser. Requests are delivered one at a
 * time through on_request; the connection stays "busy" (further pipelined
 * input is kept unparsed) until the owner answers with sio_http_reply*(),
 * which may happen later (long-polling) from any callback of the same
 * event loop. Handles keep-alive ("Connection: keep-alive",
 * "Keep-Alive: timeout=5" as Node), the idle and header timeouts, and the
 * header/URL/body limits (400/414/431 then close). An upgrade request is
 * delivered like any other; the owner then either replies (error) or takes
 * the bufferevent with sio_http_conn_detach() (WebSocket).
 *
 * Bodies: a Content-Length over max_body is answered 413 and the
 * connection closed as soon as the headers are in, before any body byte is
 * read; a chunked body is cut the same way when it passes max_body. With
 * an on_headers callback the owner sees the request line and headers
 * first and may have the body read but not kept (a POST for an unknown
 * session costs no memory), or give the connection away.
 *
 * Handover between loops (the gateway's --io-threads): with
 * sio_http_limits.keep_raw the connection keeps the head of the request
 * being parsed as it was received, so that on_headers can give the whole
 * connection to another loop with sio_http_conn_handoff() (its fd, those
 * bytes and everything after them not read yet, and the output not yet
 * written) before the body is read; that loop makes a new connection with
 * sio_http_conn_adopt(), which parses the same bytes again as if it had
 * just read them. No body is ever copied for a handover.
 *
 * All functions run on the loop's thread.
 */
#ifndef SIO_EDGE_HTTP1_H
#define SIO_EDGE_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include "base/buf.h"

struct sio_http_conn;

struct sio_http_hdr {
    const char *name;       /* lower-cased, NUL-terminated */
    size_t name_len;
    const char *value;      /* NUL-terminated */
    size_t value_len;
};

struct sio_http_req {
    int method;             /* enum http_method */
    const char *method_name;
    const char *url;        /* NUL-terminated */
    size_t url_len;
    const char *path;       /* url up to '?', not NUL-terminated */
    size_t path_len;
    const char *query;      /* after '?', NUL-terminated ("" when none) */
    size_t query_len;
    const struct sio_http_hdr *hdrs;
    size_t nhdrs;
    const uint8_t *body;    /* NUL-terminated copy; writable by the owner */
    size_t body_len;
    bool body_discarded;    /* on_headers asked for SIO_HTTP_BODY_DISCARD: body_len 0 */
    bool upgrade;           /* Upgrade header seen (http_parser's upgrade) */
    bool keep_alive;
    const char *scheme;     /* "https" over TLS (HTTP/2: :scheme); NULL = "http" */
    const char *protocol;   /* HTTP/2 extended CONNECT (RFC 8441): the :protocol
                             * pseudo-header ("websocket"); NULL otherwise */
};

struct sio_http_limits {
    size_t max_header_bytes;    /* request line + headers; default 16 KiB */
    size_t max_url;             /* default 8 KiB */
    size_t max_body;            /* larger bodies are refused 413, the connection closed */
    unsigned header_timeout_ms; /* default 30000 */
    unsigned idle_timeout_ms;   /* keep-alive idle; default 5000 */
    unsigned close_timeout_ms;  /* a close waits this long for the output to
                                 * drain, then TCP is cut; default 5000 */
    bool keep_raw;              /* keep the current request's head for
                                 * sio_http_conn_handoff() */
    bool https;                 /* the requests came over TLS elsewhere
                                 * (req->scheme "https"; gateway.c's HTTP/2
                                 * requests served by another thread) */
};

/* What on_headers wants done with the body. */
enum sio_http_body_action {
    SIO_HTTP_BODY_KEEP = 0,     /* buffer it (up to max_body) for on_request */
    SIO_HTTP_BODY_DISCARD = 1,  /* read it, keep nothing (req->body_discarded) */
    SIO_HTTP_BODY_REFUSE = 2,   /* do not wait for it: on_request comes now (body
                                 * empty, body_discarded), the reply closes the
                                 * connection, what the client still sends is dropped */
};

struct sio_http_cbs {
    /* A complete request. req is valid until the reply (or detach/close). */
    void (*on_request)(struct sio_http_conn *c, struct sio_http_req *req, void *ud);
    /* The connection is going away (peer closed, error, timeout, or after
     * sio_http_conn_close). c is freed right after; not called after detach. */
    void (*on_close)(struct sio_http_conn *c, void *ud);
    /* Optional, before the body: req has the request line and headers (body
     * NULL). May hand the connection over (sio_http_conn_handoff) or abort
     * it; else returns an enum sio_http_body_action. on_request follows. */
    int (*on_headers)(struct sio_http_conn *c, struct sio_http_req *req, void *ud);
    /* Optional: the client speaks HTTP/2 (ALPN "h2" on TLS, or the HTTP/2
     * connection preface as its first bytes). The owner takes the
     * bufferevent with sio_http_conn_detach() (the preface is still in its
     * input) or the connection goes on as HTTP/1.1 (and fails to parse). */
    void (*on_h2)(struct sio_http_conn *c, void *ud);
};

/* An exchange: one request and its reply carried by something other than
 * an HTTP/1.1 connection (an HTTP/2 stream, h2.c). The owner of a request
 * handles it exactly as one from HTTP/1.1 (same struct sio_http_req, same
 * sio_http_reply*() calls); each reply reaches the carrier as the HTTP/1.1
 * message it would have been ("HTTP/1.1 <status>\r\n" header lines
 * "\r\n", then maybe body bytes: the carrier maps it to its own framing,
 * dropping the connection-specific headers) plus a body moved out of an
 * evbuffer, never chunk-encoded. */
struct sio_http_xops {
    /* head: the reply's head, maybe followed by body bytes; body: more body
     * (NULL or moved out). Both are the carrier's to drain. */
    void (*respond)(void *impl, struct evbuffer *head, struct evbuffer *body);
    /* sio_http_conn_close() before any reply: drop the exchange */
    void (*cancel)(void *impl);
    /* sio_http_conn_tunnel(): answer head (no body) and give the stream's
     * bytes both ways as a bufferevent; NULL when it cannot */
    struct bufferevent *(*tunnel)(void *impl, struct evbuffer *head);
};

/* A new exchange for impl (loop thread); NULL on ENOMEM. cbs.on_request
 * and cbs.on_close are used. */
struct sio_http_conn *sio_http_exchange_new(const struct sio_http_xops *ops, void *impl,
                                            const struct sio_http_cbs *cbs, void *ud);
/* Deliver the exchange's request (on_request runs now). req must stay
 * valid until the reply or sio_http_exchange_free(). */
void sio_http_exchange_request(struct sio_http_conn *c, struct sio_http_req *req);
/* The carrier is gone: on_close runs (unless tunnelled) and c is freed
 * (once its own callbacks have returned); impl is not used again. */
void sio_http_exchange_free(struct sio_http_conn *c);
/* true for an exchange (not an HTTP/1.1 connection) */
bool sio_http_is_exchange(const struct sio_http_conn *c);
/* Answer the current request with status and the header lines pre, and
 * turn it into a byte tunnel (RFC 8441's WebSocket over an HTTP/2
 * stream): returns the bufferevent of the tunnel (the caller's, freed with
 * sio_tls_bev_free()); c is freed as by sio_http_conn_detach (no on_close).
 * Exchanges only; NULL (c unchanged) otherwise or on error. */
struct bufferevent *sio_http_conn_tunnel(struct sio_http_conn *c, const char *status,
                                         const char *pre);

/* Takes bev (freed with the connection). Returns NULL on ENOMEM (bev is
 * then freed). */
struct sio_http_conn *sio_http_conn_new(struct bufferevent *bev,
                                        const struct sio_http_limits *lim,
                                        const struct sio_http_cbs *cbs, void *ud);
/* Close now (pending output is flushed first). on_close is called. */
void sio_http_conn_close(struct sio_http_conn *c);
/* Free now without flushing (shutdown; not from c's own callbacks). */
void sio_http_conn_abort(struct sio_http_conn *c);
/* Hand the bufferevent (with any bytes after the request still in its
 * input) to the caller; c is freed (deferred if inside its callback), no
 * on_close. The bufferevent callbacks are cleared. */
struct bufferevent *sio_http_conn_detach(struct sio_http_conn *c);
bool sio_http_conn_busy(const struct sio_http_conn *c);

/* Give the connection up for another loop; only from on_headers. Appends
 * to in the current request's head as received, then the input not parsed
 * yet (its body, pipelined requests), and to out the output not yet
 * written (an earlier reply); c's buffers are emptied here, on its own
 * thread. Returns the socket, which c will never touch again (not even
 * close); c is freed (deferred, no on_close). *tls is set to the SSL of
 * a TLS connection (an OpenSSL bufferevent made without
 * BEV_OPT_CLOSE_ON_FREE), which the caller then owns too, else NULL; the
 * caller must not let another thread use it before the libevent callback
 * that called on_headers has returned. Errors leave c as it was:
 * -EINVAL (keep_raw off, or not inside on_headers), -EMSGSIZE (the head
 * was too big to keep), -ENOMEM. */
int sio_http_conn_handoff(struct sio_http_conn *c, struct sio_buf *in, struct sio_buf *out,
                          void **tls);

/* sio_http_conn_new() for a connection given up by another loop: out is
 * queued for writing first, in is parsed as if just read (from a deferred
 * callback, so that the caller holds the returned connection before any
 * on_request). Copies in and out. Takes bev; NULL on ENOMEM (bev freed). */
struct sio_http_conn *sio_http_conn_adopt(struct bufferevent *bev,
                                          const struct sio_http_limits *lim,
                                          const struct sio_http_cbs *cbs, void *ud,
                                          const struct sio_buf *in, const struct sio_buf *out);

/* Header lookup (name in lower case). NULL when absent. */
const struct sio_http_hdr *sio_http_header(const struct sio_http_req *req, const char *name);
/* The next element of a comma-separated header value (RFC 9110 5.6.1),
 * from *p on: true with [*s, *e) the element without the whitespace
 * around it and *p past it; false when only separators are left. */
bool sio_http_list_next(const char **p, const char **s, const char **e);
/* Header name (lower case) lists tok, compared without case
 * ("Connection: keep-alive, Upgrade" has "upgrade"). */
bool sio_http_header_has_token(const struct sio_http_req *req, const char *name, const char *tok);

/* Reply to the current request:
 *   "HTTP/1.1 <status>\r\n" <pre> "Date: ..\r\nConnection: keep-alive\r\n
 *   Keep-Alive: timeout=5\r\n" ["Transfer-Encoding: chunked\r\n"] "\r\n" body
 * pre holds complete header lines (e.g. Content-Type, Content-Length).
 * chunked: body goes in one chunk (none when empty) plus the last chunk. */
void sio_http_reply(struct sio_http_conn *c, const char *status, const char *pre,
                    bool chunked, const void *body, size_t len);
/* Same with a Content-Length body moved out of an evbuffer (no copy). The
 * Content-Length header is written after pre_ct and before post_cl. */
void sio_http_reply_evbuf(struct sio_http_conn *c, const char *status,
                          const char *pre_ct, const char *post_cl, struct evbuffer *body);
/* Same with a chunked body moved out of an evbuffer (one chunk, then the
 * last chunk); pre as for sio_http_reply. */
void sio_http_reply_chunked_evbuf(struct sio_http_conn *c, const char *status, const char *pre,
                                  struct evbuffer *body);
/* Extra header lines (each "Name: value\r\n") for the reply to the current
 * request (copied; dropped after that reply): lead goes right after the
 * status line, after_ct right after a leading Content-Type line of pre
 * (else before pre). Used for the CORS headers. Returns 0 or -ENOMEM. */
int sio_http_set_extra(struct sio_http_conn *c, const char *lead, size_t lead_len,
                       const char *after_ct, size_t after_ct_len);
/* Raw bytes then close (WebSocket handshake errors). */
void sio_http_reply_raw_close(struct sio_http_conn *c, const char *raw, size_t len);

/* RFC 7231 date of now, cached per second (per thread). */
const char *sio_http_date(void);

#endif

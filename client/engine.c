/* engine.c: the Engine.IO v4 client transport (see engine.h).
 *
 * Owns the session's sockets: one bufferevent per HTTP request (the long
 * poll GET and the POST each have their own connection, so a GET held by
 * the server never blocks a send) and one for the WebSocket. Every
 * bufferevent defers its callbacks, so no callback ever runs nested inside
 * our own calls and a request can be freed at the end of its callback.
 *
 * Failures go through fail(): it records the first reason and schedules
 * close_ev, which frees the I/O and calls on_close from a clean stack.
 *
 * TLS (cfg.ssl_ctx set): every socket is a bufferevent_openssl over a new
 * SSL with SNI and the host name/IP check; bev_error() turns a failed
 * handshake into "certificate verify failed: ..." / "TLS error: ...".
 *
 * HTTP/2 (https polling, unless cfg.no_h2): the first polling request's
 * connection offers ALPN "h2,http/1.1" and waits for the TLS handshake
 * before it writes anything. When the server picks h2 it becomes a struct
 * h2conn (nghttp2 client session) and every polling request after it is
 * a stream on it: the long-poll GET and the POST run side by side on the
 * one connection. Otherwise the request goes out as HTTP/1.1 on that
 * socket and the engine stays on HTTP/1.1 (alpn = ALPN_H1). A GOAWAY
 * retires the connection: its open streams finish, a stream it refused is
 * sent again on a new connection. An h2conn is freed only from its own
 * bufferevent callbacks (after nghttp2 returned) or by free_io(), never
 * from inside an nghttp2 callback.
 */
#include "client/engine.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <arpa/inet.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>
#include <sio/client.h>
#include "base/buf.h"
#include "sio-config.h"
#include "base/vec.h"

SIO_LOG_TOPIC_STATIC(topic, "client.eio");

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define CLOSE_GRACE_MS 2000

enum req_kind { REQ_HANDSHAKE, REQ_GET, REQ_POST };
enum eng_state { E_CONNECTING, E_OPEN, E_CLOSING, E_CLOSED };
/* what the server's ALPN answer says about polling over https */
enum alpn_state { ALPN_UNKNOWN, ALPN_H1, ALPN_H2 };

/* ALPN lists (RFC 7301 wire format) */
#define ALPN_H2_H1 "\x02h2\x08http/1.1"
#define ALPN_ONLY_H1 "\x08http/1.1"

/* An HTTP response being parsed (polling requests and the WS handshake). */
struct resp {
    http_parser p;
    struct sio_buf body;
    struct sio_buf field, value;
    bool in_value;
    bool complete;
    bool too_big;
    size_t max_body;
    char accept[64];            /* Sec-WebSocket-Accept */
    struct sio_eng *jar;        /* keep its Set-Cookie in this engine; NULL = ignore */
};

struct h2conn;

struct http_req {
    struct sio_eng *eng;
    enum req_kind kind;
    struct bufferevent *bev;    /* HTTP/1.1: its own connection */
    struct resp r;
    /* HTTP/2: the connection (bev NULL), waiting for its ALPN answer
     * while stream_id is 0; the request's own timeout (the connection is
     * shared); the POST body for the data provider; the :status */
    struct h2conn *h2;
    int32_t stream_id;
    struct event *timer;
    uint8_t *body;
    size_t body_len, body_off;
    unsigned status;
    unsigned retries;           /* times a refused stream was sent again */
    bool end_stream;            /* the response's END_STREAM arrived */
};

/* One HTTP/2 connection of the engine (see the top comment). */
struct h2conn {
    struct sio_eng *eng;
    struct h2conn *next;
    struct bufferevent *bev;
    nghttp2_session *ng;        /* NULL while the TLS handshake runs */
    unsigned nstreams;          /* submitted and not closed */
    unsigned depth;             /* inside nghttp2: do not send, do not free */
    bool closing;               /* GOAWAY sent or received: no new streams */
    bool dead;                  /* the socket failed or ended */
    bool eof;                   /* the server closed: read what is left, write nothing
                                   (a write would raise SIGPIPE in the application) */
};

struct ws {
    struct sio_eng *eng;
    struct bufferevent *bev;
    struct resp r;
    wslay_event_context_ptr ctx;
    char key[32];
    bool probe;                 /* opened as an upgrade probe */
    bool open;                  /* 101 verified */
    bool peer_closed;
};

struct out_pkt {
    enum sio_eio_type type;
    bool binary;
    uint8_t *data;
    size_t len;
};

struct sio_eng {
    struct event_base *base;
    struct sio_eng_cfg cfg;
    char **headers;
    struct sio_eng_cbs cbs;
    void *ud;
    enum eng_state state;
    struct sio_eio_open hs;
    bool have_sid;
    bool ws_active;             /* the current transport is WebSocket */
    bool upgrading;             /* 3probe received: pausing polling */
    struct http_req *get, *post;
    enum alpn_state alpn;
    struct h2conn *h2s;         /* HTTP/2 connections, the usable one first */
    struct ws *ws;
    struct out_pkt *q;
    size_t qn, qcap;
    struct event *ping_timer;
    struct event *close_ev;
    struct event *grace_timer;
    const char *close_reason;
    char close_detail[256];
    unsigned long reqno;
    /* cookies of the server's polling responses ("name=value" each, one
     * per name), sent back on every request and the WebSocket upgrade:
     * a sticky-session load balancer needs its cookie on each */
    char **cookies;
    size_t ncookies;
};

static void fail(struct sio_eng *e, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void flush(struct sio_eng *e);
static void ws_free(struct ws *w);
static void deliver(struct sio_eng *e, const struct sio_eio_packet *pkt, bool from_ws);

/* ---- cookies ----------------------------------------------------------- */

static bool cookie_deletes(const char *attrs)
{
    /* "Max-Age=0" (or negative) asks the client to drop the cookie */
    for (const char *a = attrs; a && *a; a = strchr(a, ';') ? strchr(a, ';') + 1 : NULL) {
        while (*a == ' ' || *a == '\t')
            a++;
        if (strncasecmp(a, "max-age=", 8) == 0 && (a[8] == '0' || a[8] == '-'))
            return true;
    }
    return false;
}

/* One Set-Cookie header: keep its name=value (replacing a cookie of that
 * name). The attributes (Path, Domain, Expires, Secure, ...) are not
 * applied: every cookie goes back to the one server of this engine. */
static void jar_set(struct sio_eng *e, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    const char *semi = strchr(v, ';');
    size_t n = semi ? (size_t)(semi - v) : strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    const char *eq = memchr(v, '=', n);
    if (!eq || eq == v || n > 4096 || memchr(v, '\r', n) || memchr(v, '\n', n))
        return;
    size_t nl = (size_t)(eq - v);
    size_t i = 0;
    for (; i < e->ncookies; i++)
        if (strncmp(e->cookies[i], v, nl) == 0 && e->cookies[i][nl] == '=')
            break;
    if (cookie_deletes(semi)) {
        if (i < e->ncookies) {
            free(e->cookies[i]);
            e->cookies[i] = e->cookies[--e->ncookies];
        }
        return;
    }
    char *c = strndup(v, n);
    if (!c)
        return;
    if (i < e->ncookies) {
        free(e->cookies[i]);
        e->cookies[i] = c;
        return;
    }
    char **nc = e->ncookies < 64 ? realloc(e->cookies, (e->ncookies + 1) * sizeof *nc) : NULL;
    if (!nc) {
        free(c);
        return;
    }
    e->cookies = nc;
    e->cookies[e->ncookies++] = c;
}

/* ---- HTTP response parsing (http_parser callbacks) ------------------- */

static void resp_end_header(struct resp *r)
{
    if (!r->in_value)
        return;
    sio_buf_append_byte(&r->field, 0);
    sio_buf_append_byte(&r->value, 0);
    if (r->field.data && r->value.data &&
        strcasecmp((char *)r->field.data, "sec-websocket-accept") == 0)
        snprintf(r->accept, sizeof r->accept, "%s", (char *)r->value.data);
    if (r->jar && r->field.data && r->value.data &&
        strcasecmp((char *)r->field.data, "set-cookie") == 0)
        jar_set(r->jar, (char *)r->value.data);
    sio_buf_reset(&r->field);
    sio_buf_reset(&r->value);
    r->in_value = false;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct resp *r = p->data;
    resp_end_header(r);
    return sio_buf_append(&r->field, at, len) < 0 || r->field.len > 8192;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct resp *r = p->data;
    r->in_value = true;
    return sio_buf_append(&r->value, at, len) < 0 || r->value.len > 8192;
}

static int on_headers_complete(http_parser *p)
{
    resp_end_header(p->data);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct resp *r = p->data;
    if (r->body.len + len > r->max_body) {
        r->too_big = true;
        return 1;
    }
    return sio_buf_append(&r->body, at, len) < 0;
}

static int on_message_complete(http_parser *p)
{
    struct resp *r = p->data;
    r->complete = true;
    return 1;   /* stop: anything after is not ours (WebSocket data) */
}

static const http_parser_settings resp_settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void resp_init(struct resp *r, size_t max_body)
{
    memset(r, 0, sizeof *r);
    http_parser_init(&r->p, HTTP_RESPONSE);
    r->p.data = r;
    r->max_body = max_body;
}

static void resp_clear(struct resp *r)
{
    sio_buf_clear(&r->body);
    sio_buf_clear(&r->field);
    sio_buf_clear(&r->value);
}

/* Feed the bufferevent's input to the parser. Consumes only what the
 * parser used. Returns 0, or -1 on a parse error. */
static int resp_feed(struct resp *r, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    if (len == 0 || r->complete)
        return 0;
    const char *data = (const char *)evbuffer_pullup(in, -1);
    size_t n = http_parser_execute(&r->p, &resp_settings, data, len);
    if (r->complete) {
        /* http_parser counts the byte it stopped on as parsed */
        evbuffer_drain(in, n);
        return 0;
    }
    evbuffer_drain(in, n);
    return HTTP_PARSER_ERRNO(&r->p) != HPE_OK ? -1 : 0;
}

/* ---- request text ------------------------------------------------------ */

static int append_host(struct sio_buf *b, const struct sio_eng_cfg *cfg)
{
    if (strchr(cfg->host, ':'))
        return sio_buf_printf(b, "Host: [%s]:%u\r\n", cfg->host, cfg->port);
    return sio_buf_printf(b, "Host: %s:%u\r\n", cfg->host, cfg->port);
}

/* The request target: path?EIO=4&transport=...&t=...[&sid=...][&query] */
static int append_target(struct sio_eng *e, struct sio_buf *b, const char *transport)
{
    int rc = sio_buf_printf(b, "%s?EIO=4&transport=%s&t=%lx%lx", e->cfg.path, transport,
                            (unsigned long)random() & 0xffffff, ++e->reqno);
    if (e->have_sid)
        rc |= sio_buf_printf(b, "&sid=%s", e->hs.sid);
    if (e->cfg.query && *e->cfg.query)
        rc |= sio_buf_printf(b, "&%s", e->cfg.query);
    return rc;
}

static int build_request(struct sio_eng *e, struct sio_buf *b, const char *method,
                         const char *transport, const char *extra_headers,
                         const void *body, size_t body_len)
{
    int rc = 0;
    rc |= sio_buf_printf(b, "%s ", method);
    rc |= append_target(e, b, transport);
    rc |= sio_buf_append_str(b, " HTTP/1.1\r\n");
    rc |= append_host(b, &e->cfg);
    rc |= sio_buf_append_str(b, "User-Agent: sio-client/" SIO_VERSION "\r\nAccept: */*\r\n");
    bool cookies_sent = e->ncookies == 0;
    for (char **h = e->headers; h && *h; h++) {
        if (!cookies_sent && strncasecmp(*h, "cookie:", 7) == 0) {
            /* the application's Cookie header, then ours: one header */
            rc |= sio_buf_append_str(b, *h);
            for (size_t i = 0; i < e->ncookies; i++)
                rc |= sio_buf_printf(b, "; %s", e->cookies[i]);
            rc |= sio_buf_append_str(b, "\r\n");
            cookies_sent = true;
            continue;
        }
        rc |= sio_buf_printf(b, "%s\r\n", *h);
    }
    for (size_t i = 0; !cookies_sent && i < e->ncookies; i++)
        rc |= sio_buf_printf(b, "%s%s%s", i ? "; " : "Cookie: ", e->cookies[i],
                             i + 1 == e->ncookies ? "\r\n" : "");
    if (extra_headers)
        rc |= sio_buf_append_str(b, extra_headers);
    if (body)
        rc |= sio_buf_printf(b, "Content-Type: text/plain;charset=UTF-8\r\n"
                             "Content-Length: %zu\r\n", body_len);
    rc |= sio_buf_append_str(b, "\r\n");
    if (body)
        rc |= sio_buf_append(b, body, body_len);
    return rc ? -ENOMEM : 0;
}

static void set_timeouts(struct bufferevent *bev, unsigned ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    bufferevent_set_timeouts(bev, ms ? &tv : NULL, ms ? &tv : NULL);
}

/* A TLS session for one connection: SNI, the name check for host, and the
 * ALPN list offered (wire format, NULL for none). */
static SSL *tls_new(struct sio_eng *e, const char *alpn)
{
    SSL *ssl = SSL_new(e->cfg.ssl_ctx);
    if (!ssl)
        return NULL;
    /* SSL_set_alpn_protos returns 0 on success */
    if (alpn && SSL_set_alpn_protos(ssl, (const unsigned char *)alpn,
                                    (unsigned)strlen(alpn)) != 0)
        goto fail;
    unsigned char addr[16];
    bool is_ip = inet_pton(AF_INET, e->cfg.host, addr) == 1 ||
                 inet_pton(AF_INET6, e->cfg.host, addr) == 1;
    if (!is_ip && SSL_set_tlsext_host_name(ssl, e->cfg.host) != 1)
        goto fail;
    if (!e->cfg.tls_no_verify) {
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), e->cfg.host)
                       : SSL_set1_host(ssl, e->cfg.host);
        if (ok != 1)
            goto fail;
    }
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}

/* A connection to the server with rd/wr/ev as its callbacks; req (the
 * first bytes to send) may be NULL; alpn is the list a TLS connection
 * offers. */
static struct bufferevent *open_socket(struct sio_eng *e, bufferevent_data_cb rd,
                                       bufferevent_data_cb wr, bufferevent_event_cb ev,
                                       void *arg, const struct sio_buf *req, const char *alpn)
{
    struct bufferevent *bev;
    int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    if (e->cfg.ssl_ctx) {
        SSL *ssl = tls_new(e, alpn);
        if (!ssl)
            return NULL;
        /* frees ssl on failure too (BEV_OPT_CLOSE_ON_FREE) */
        bev = bufferevent_openssl_socket_new(e->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             opts);
        if (bev)
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(e->base, -1, opts);
    }
    if (!bev)
        return NULL;
    bufferevent_setcb(bev, rd, wr, ev, arg);
    if ((req && bufferevent_write(bev, req->data, req->len) < 0) ||
        bufferevent_enable(bev, EV_READ | EV_WRITE) < 0 ||
        bufferevent_socket_connect_hostname(bev, NULL, AF_UNSPEC, e->cfg.host,
                                            (int)e->cfg.port) < 0) {
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

/* Why bev failed, in words: the certificate check, another TLS error, or
 * the socket error. */
static const char *bev_error(struct sio_eng *e, struct bufferevent *bev, char *buf,
                             size_t len)
{
    SSL *ssl = e->cfg.ssl_ctx ? bufferevent_openssl_get_ssl(bev) : NULL;
    unsigned long err = 0, last;
    while ((last = bufferevent_get_openssl_error(bev)))
        if (!err)
            err = last;     /* the first one queued is the most specific */
    if (ssl && !e->cfg.tls_no_verify) {
        long vr = SSL_get_verify_result(ssl);
        if (vr != X509_V_OK) {
            snprintf(buf, len, "certificate verify failed: %s",
                     X509_verify_cert_error_string(vr));
            return buf;
        }
    }
    if (ssl) {
        if (err) {
            char txt[200];
            ERR_error_string_n(err, txt, sizeof txt);
            const char *reason = ERR_reason_error_string(err);
            snprintf(buf, len, "TLS error: %s", reason ? reason : txt);
            return buf;
        }
    }
    int se = EVUTIL_SOCKET_ERROR();
    if (ssl && se == 0) {
        snprintf(buf, len, "TLS error: connection closed during the handshake");
        return buf;
    }
    snprintf(buf, len, "%s", evutil_socket_error_to_string(se));
    return buf;
}

/* ---- polling ------------------------------------------------------------ */

static void h2_send(struct h2conn *h);
static int h2_attach(struct sio_eng *e, struct http_req *r);
static void req_read_cb(struct bufferevent *bev, void *arg);
static void req_event_cb(struct bufferevent *bev, short what, void *arg);

static void req_free(struct http_req *r)
{
    if (!r)
        return;
    if (r->bev)
        bufferevent_free(r->bev);
    if (r->h2 && r->stream_id && r->h2->ng && !r->h2->dead) {
        /* its stream is still open: forget it and cancel it */
        nghttp2_session_set_stream_user_data(r->h2->ng, r->stream_id, NULL);
        nghttp2_submit_rst_stream(r->h2->ng, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
        h2_send(r->h2);
    }
    if (r->timer)
        event_free(r->timer);
    free(r->body);
    resp_clear(&r->r);
    free(r);
}

static unsigned req_timeout_ms(const struct sio_eng *e, enum req_kind kind)
{
    if (kind == REQ_GET)        /* the server holds it up to pingInterval */
        return e->hs.ping_interval_ms + e->hs.ping_timeout_ms + 5000;
    return e->cfg.connect_timeout_ms;
}

/* Send r as HTTP/1.1: on bev (a connected socket handed over, whose
 * callbacks become r's; freed on failure) or on a new connection when bev
 * is NULL. 0 or -ENOMEM. */
static int h1_go(struct http_req *r, struct bufferevent *bev)
{
    struct sio_eng *e = r->eng;
    struct sio_buf b = SIO_BUF_INIT;
    if (build_request(e, &b, r->kind == REQ_POST ? "POST" : "GET", "polling", NULL,
                      r->kind == REQ_POST ? (r->body ? r->body : (uint8_t *)"") : NULL,
                      r->body_len) < 0)
        goto fail;
    if (bev) {
        bufferevent_setcb(bev, req_read_cb, NULL, req_event_cb, r);
        if (bufferevent_write(bev, b.data, b.len) < 0)
            goto fail;
    } else {
        bev = open_socket(e, req_read_cb, NULL, req_event_cb, r, &b,
                          e->cfg.ssl_ctx ? ALPN_ONLY_H1 : NULL);
        if (!bev)
            goto fail;
    }
    sio_buf_clear(&b);
    r->bev = bev;
    if (r->timer) {             /* HTTP/1.1 times out on its own socket */
        event_free(r->timer);
        r->timer = NULL;
    }
    set_timeouts(r->bev, req_timeout_ms(e, r->kind));
    return 0;
fail:
    sio_buf_clear(&b);
    if (bev)
        bufferevent_free(bev);
    return -ENOMEM;
}

static void req_timer_cb(evutil_socket_t fd, short what, void *arg);

static void req_detach(struct http_req *r);

static struct http_req *req_start(struct sio_eng *e, enum req_kind kind,
                                  const void *body, size_t body_len)
{
    struct http_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->eng = e;
    r->kind = kind;
    resp_init(&r->r, e->cfg.max_payload);
    r->r.jar = e;
    if (body_len) {
        if (!(r->body = malloc(body_len)))
            goto fail;
        memcpy(r->body, body, body_len);
        r->body_len = body_len;
    }
    sio_log_trace(topic, "%p: %s %s", (void *)e, kind == REQ_POST ? "POST" : "GET",
                  kind == REQ_HANDSHAKE ? "handshake" : "");
    if (e->cfg.ssl_ctx && !e->cfg.no_h2 && e->alpn != ALPN_H1) {
        /* HTTP/2, or the first request that learns whether it is */
        r->timer = evtimer_new(e->base, req_timer_cb, r);
        if (!r->timer || h2_attach(e, r) < 0)
            goto fail;
        unsigned ms = req_timeout_ms(e, kind);
        struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
        if (ms)
            evtimer_add(r->timer, &tv);
        return r;
    }
    if (h1_go(r, NULL) < 0)
        goto fail;
    return r;
fail:
    req_free(r);
    return NULL;
}

static int payload_packet(const struct sio_eio_packet *pkt, void *ud)
{
    struct sio_eng *e = ud;
    if (e->state == E_CLOSED)
        return 1;
    deliver(e, pkt, false);
    return 0;
}

static void on_handshake(struct sio_eng *e, struct sio_eio_packet *first);

static int handshake_first(const struct sio_eio_packet *pkt, void *ud)
{
    struct sio_eng *e = ud;
    if (e->have_sid)
        return payload_packet(pkt, ud);
    on_handshake(e, (struct sio_eio_packet *)pkt);
    return e->state == E_CLOSED;
}

static void start_get(struct sio_eng *e);
static void check_pause(struct sio_eng *e);

static void req_detach(struct http_req *r)
{
    if (r->kind == REQ_POST)
        r->eng->post = NULL;
    else
        r->eng->get = NULL;
}

static void req_done(struct http_req *r)
{
    struct sio_eng *e = r->eng;
    req_detach(r);
    if (e->state == E_CLOSED)
        return;
    unsigned status = r->h2 ? r->status : r->r.p.status_code;
    if (status != 200) {
        sio_buf_append_byte(&r->r.body, 0);
        fail(e, SIO_REASON_TRANSPORT_ERROR, "HTTP %u from the server%s%.200s", status,
             r->r.body.len > 1 ? ": " : "", (char *)r->r.body.data);
        return;
    }
    if (r->kind == REQ_POST) {
        if (e->state == E_CLOSING && e->qn == 0)
            fail(e, SIO_REASON_CLIENT_DISCONNECT, "closed");
        else if (e->upgrading)
            check_pause(e);
        else
            flush(e);
        return;
    }
    if (r->r.body.len == 0) {
        fail(e, SIO_REASON_TRANSPORT_ERROR, "empty polling response");
        return;
    }
    int rc = sio_eio_decode_payload(r->r.body.data, r->r.body.len, 0,
                                    r->kind == REQ_HANDSHAKE ? handshake_first
                                                             : payload_packet, e);
    if (rc < 0) {
        fail(e, SIO_REASON_TRANSPORT_ERROR, "bad polling payload: %s", sio_strerror(rc));
        return;
    }
    if (e->state == E_CLOSED)
        return;
    if (r->kind == REQ_HANDSHAKE && !e->have_sid) {
        fail(e, SIO_REASON_TRANSPORT_ERROR, "wrong handshake: no open packet");
        return;
    }
    if (e->upgrading)
        check_pause(e);
    else if (!e->ws_active && e->state != E_CLOSED)
        start_get(e);
}

static void req_read_cb(struct bufferevent *bev, void *arg)
{
    struct http_req *r = arg;
    if (resp_feed(&r->r, bufferevent_get_input(bev)) < 0) {
        struct sio_eng *e = r->eng;
        req_detach(r);
        fail(e, SIO_REASON_TRANSPORT_ERROR, "%s", r->r.too_big
             ? "polling response over max_payload" : "malformed HTTP response");
        req_free(r);
        return;
    }
    if (r->r.complete) {
        req_done(r);
        req_free(r);
    }
}

static void req_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct http_req *r = arg;
    struct sio_eng *e = r->eng;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if ((what & BEV_EVENT_EOF) && !r->r.complete) {
        resp_feed(&r->r, bufferevent_get_input(bev));
        if (!r->r.complete)     /* body delimited by EOF */
            http_parser_execute(&r->r.p, &resp_settings, NULL, 0);
    }
    if (r->r.complete) {
        req_done(r);
        req_free(r);
        return;
    }
    req_detach(r);
    if (what & BEV_EVENT_TIMEOUT)
        fail(e, SIO_REASON_TRANSPORT_ERROR, "HTTP request timed out");
    else if (what & BEV_EVENT_ERROR) {
        char why[256];
        fail(e, SIO_REASON_TRANSPORT_ERROR, "connection to %s:%u failed: %s", e->cfg.host,
             e->cfg.port, bev_error(e, bev, why, sizeof why));
    }
    else
        fail(e, SIO_REASON_TRANSPORT_CLOSE, "the server closed the connection");
    req_free(r);
}

/* ---- polling over HTTP/2 ----------------------------------------------- */

static void req_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http_req *r = arg;
    struct sio_eng *e = r->eng;
    req_detach(r);
    fail(e, SIO_REASON_TRANSPORT_ERROR, "HTTP request timed out");
    req_free(r);
}

/* The engine's requests still waiting for or running on h. */
static bool h2_in_use(const struct h2conn *h)
{
    const struct sio_eng *e = h->eng;
    return h->nstreams || (e->get && e->get->h2 == h) || (e->post && e->post->h2 == h);
}

static void h2_free(struct h2conn *h)
{
    if (h->ng)
        nghttp2_session_del(h->ng);
    if (h->bev)
        bufferevent_free(h->bev);
    free(h);
}

/* Free h once it is retired (GOAWAY either way, or its socket is gone)
 * and no request needs it. Only from h's own callbacks, outside nghttp2. */
static void h2_tidy(struct h2conn *h)
{
    if (h->depth || !(h->closing || h->dead) || h2_in_use(h))
        return;
    if (!h->dead && h->bev && evbuffer_get_length(bufferevent_get_output(h->bev)))
        return;                 /* our GOAWAY first: h2_write_cb comes back */
    for (struct h2conn **p = &h->eng->h2s; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    sio_log_debug(topic, "%p: HTTP/2 connection %p released", (void *)h->eng, (void *)h);
    h2_free(h);
}

/* The connection cannot go on: a request on it fails the engine. */
static void h2_failed(struct h2conn *h, const char *reason, const char *why)
{
    if (h->dead)
        return;
    h->dead = true;
    if (h->bev)
        bufferevent_disable(h->bev, EV_READ | EV_WRITE);
    if (h2_in_use(h))
        fail(h->eng, reason, "%s", why);
}

/* Write what nghttp2 has to send. Not while inside nghttp2 (depth): the
 * outermost caller sends when it gets control back. */
static void h2_send(struct h2conn *h)
{
    if (!h->ng || h->dead || h->eof || h->depth)
        return;
    h->depth++;
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->ng, &data);
        if (n < 0) {
            char why[128];
            snprintf(why, sizeof why, "HTTP/2: %s", nghttp2_strerror((int)n));
            h2_failed(h, SIO_REASON_TRANSPORT_ERROR, why);
            break;
        }
        if (n == 0)
            break;
        if (bufferevent_write(h->bev, data, (size_t)n) < 0) {
            h2_failed(h, SIO_REASON_TRANSPORT_ERROR, "out of memory");
            break;
        }
    }
    h->depth--;
}

static bool hop_header(const char *name)
{
    /* connection-specific fields have no place in HTTP/2 (RFC 9113 8.2.2);
     * the Host is :authority */
    static const char *const hop[] = { "connection", "keep-alive", "proxy-connection",
                                       "transfer-encoding", "upgrade", "te", "host",
                                       "http2-settings" };
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        if (strcmp(name, hop[i]) == 0)
            return true;
    return false;
}

static ssize_t h2_body_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct http_req *r = nghttp2_session_get_stream_user_data(ng, id);
    if (!r)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    size_t n = r->body_len - r->body_off;
    if (n > len)
        n = len;
    if (n)
        memcpy(buf, r->body + r->body_off, n);
    r->body_off += n;
    if (r->body_off == r->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(nm, val, vlen) \
    (nghttp2_nv){ (uint8_t *)(nm), (uint8_t *)(val), strlen(nm), (vlen), NGHTTP2_NV_FLAG_NONE }

/* Submit r as a stream of h: the same target, cookies and headers as the
 * HTTP/1.1 request (names in lower case, connection-specific ones left
 * out). 0 or -ENOMEM. */
static int h2_submit(struct h2conn *h, struct http_req *r)
{
    struct sio_eng *e = h->eng;
    size_t nh = 0;
    while (e->headers && e->headers[nh])
        nh++;
    struct sio_buf target = SIO_BUF_INIT, auth = SIO_BUF_INIT, cookie = SIO_BUF_INIT;
    char clen[24];
    nghttp2_nv *nv = calloc(nh + 10, sizeof *nv);
    char **copies = calloc(nh + 1, sizeof *copies);
    int rc = -ENOMEM;
    if (!nv || !copies)
        goto out;
    int err = append_target(e, &target, "polling");
    err |= strchr(e->cfg.host, ':') ? sio_buf_printf(&auth, "[%s]:%u", e->cfg.host, e->cfg.port)
                                    : sio_buf_printf(&auth, "%s:%u", e->cfg.host, e->cfg.port);
    if (err)
        goto out;
    size_t n = 0;
    nv[n++] = NV(":method", r->kind == REQ_POST ? "POST" : "GET",
                 r->kind == REQ_POST ? 4u : 3u);
    nv[n++] = NV(":scheme", "https", 5);
    nv[n++] = NV(":authority", auth.data, auth.len);
    nv[n++] = NV(":path", target.data, target.len);
    nv[n++] = NV("user-agent", "sio-client/" SIO_VERSION, strlen("sio-client/" SIO_VERSION));
    nv[n++] = NV("accept", "*/*", 3);
    const char *app_cookie = NULL;
    for (size_t i = 0; i < nh; i++) {
        char *c = copies[i] = strdup(e->headers[i]);
        if (!c)
            goto out;
        char *colon = strchr(c, ':');
        if (!colon || colon == c)
            continue;
        *colon = 0;
        for (char *q = c; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcmp(c, "cookie") == 0)
            app_cookie = v;
        else if (!hop_header(c))
            nv[n++] = NV(c, v, strlen(v));
    }
    /* the application's cookie first, then the jar's: one header */
    if (app_cookie)
        err |= sio_buf_append_str(&cookie, app_cookie);
    for (size_t i = 0; i < e->ncookies; i++)
        err |= sio_buf_printf(&cookie, "%s%s", cookie.len ? "; " : "", e->cookies[i]);
    if (err)
        goto out;
    if (cookie.len)
        nv[n++] = NV("cookie", cookie.data, cookie.len);
    nghttp2_data_provider dp = { .read_callback = h2_body_read };
    if (r->kind == REQ_POST) {
        snprintf(clen, sizeof clen, "%zu", r->body_len);
        nv[n++] = NV("content-type", "text/plain;charset=UTF-8", 24);
        nv[n++] = NV("content-length", clen, strlen(clen));
    }
    int32_t id = nghttp2_submit_request(h->ng, NULL, nv, n, r->kind == REQ_POST ? &dp : NULL, r);
    if (id < 0)
        goto out;
    r->stream_id = id;
    h->nstreams++;
    sio_log_trace(topic, "%p: HTTP/2 stream %d: %s", (void *)e, id,
                  r->kind == REQ_POST ? "POST" : "GET");
    rc = 0;
out:
    for (size_t i = 0; copies && i < nh; i++)
        free(copies[i]);
    free(copies);
    free(nv);
    sio_buf_clear(&target);
    sio_buf_clear(&auth);
    sio_buf_clear(&cookie);
    if (rc == 0)
        h2_send(h);
    return rc;
}

/* A response header: the status and the cookies matter. */
static int h2_on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                        size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags,
                        void *ud)
{
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct http_req *r = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!r)
        return 0;
    if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
        unsigned st = 0;
        for (size_t i = 0; i < vlen && i < 3 && value[i] >= '0' && value[i] <= '9'; i++)
            st = st * 10 + (unsigned)(value[i] - '0');
        if (st >= 200)          /* not an interim 1xx */
            r->status = st;
    } else if (nlen == 10 && memcmp(name, "set-cookie", 10) == 0 && vlen <= 8192) {
        char *v = strndup((const char *)value, vlen);
        if (v)
            jar_set(r->eng, v);
        free(v);
    }
    return 0;
}

static int h2_on_data(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                      size_t len, void *ud)
{
    struct http_req *r = nghttp2_session_get_stream_user_data(ng, id);
    if (!r || r->r.too_big)
        return 0;
    if (r->r.body.len + len > r->r.max_body) {
        r->r.too_big = true;
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        return 0;
    }
    return sio_buf_append(&r->r.body, data, len) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int h2_on_frame(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct h2conn *h = ud;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        /* streams up to last_stream_id finish; later ones are refused
         * (h2_on_close sends them again on a new connection) */
        sio_log_debug(topic, "%p: GOAWAY (%s, last stream %d)", (void *)h->eng,
                      nghttp2_http2_strerror(f->goaway.error_code), f->goaway.last_stream_id);
        h->closing = true;
        return 0;
    }
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) &&
        (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct http_req *r = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
        if (r)
            r->end_stream = true;
    }
    return 0;
}

static int h2_on_close(nghttp2_session *ng, int32_t id, uint32_t code, void *ud)
{
    struct h2conn *h = ud;
    if (h->nstreams)
        h->nstreams--;
    struct http_req *r = nghttp2_session_get_stream_user_data(ng, id);
    if (!r)
        return 0;
    struct sio_eng *e = r->eng;
    r->stream_id = 0;
    if (r->end_stream && r->status && !r->r.too_big) {
        req_done(r);
        req_free(r);
        return 0;
    }
    if (code == NGHTTP2_REFUSED_STREAM && !r->status && e->state != E_CLOSED &&
        r->retries < 3) {
        /* not processed (RFC 9113 8.7): send it again, on a new connection
         * if this one is going away */
        sio_log_debug(topic, "%p: HTTP/2 stream %d refused, sending it again", (void *)e, id);
        bool post = r->kind == REQ_POST;
        struct http_req *again = req_start(e, r->kind, r->body, r->body_len);
        if (again)
            again->retries = r->retries + 1;
        if (post ? e->post == r : e->get == r) {
            if (post)
                e->post = again;
            else
                e->get = again;
        } else {
            req_free(again);
            again = NULL;
        }
        req_free(r);
        if (!again)
            fail(e, SIO_REASON_TRANSPORT_ERROR, "out of memory");
        return 0;
    }
    req_detach(r);
    if (r->r.too_big)
        fail(e, SIO_REASON_TRANSPORT_ERROR, "polling response over max_payload");
    else
        fail(e, SIO_REASON_TRANSPORT_ERROR, "HTTP/2 stream reset by the server (%s)",
             nghttp2_http2_strerror(code));
    req_free(r);
    return 0;
}

/* Feed what arrived to nghttp2. */
static void h2_recv(struct h2conn *h)
{
    struct evbuffer *in = bufferevent_get_input(h->bev);
    h->depth++;
    while (!h->dead && evbuffer_get_length(in)) {
        size_t len = evbuffer_get_contiguous_space(in);
        const uint8_t *data = evbuffer_pullup(in, (ev_ssize_t)len);
        ssize_t n = nghttp2_session_mem_recv(h->ng, data, len);
        if (n < 0) {
            char why[128];
            snprintf(why, sizeof why, "HTTP/2: %s", nghttp2_strerror((int)n));
            h2_failed(h, SIO_REASON_TRANSPORT_ERROR, why);
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    h->depth--;
    h2_send(h);
}

static void h2_read_cb(struct bufferevent *bev, void *arg)
{
    struct h2conn *h = arg;
    if (h->ng)                  /* else h2_connected() reads what came first */
        h2_recv(h);
    h2_tidy(h);
}

static void h2_write_cb(struct bufferevent *bev, void *arg)
{
    h2_tidy(arg);               /* a GOAWAY of ours went out */
}

/* The TLS handshake is done: HTTP/2 if the server picked h2, otherwise
 * the engine's polling is HTTP/1.1 from now on and the first waiting
 * request takes this socket. */
static void h2_connected(struct h2conn *h)
{
    struct sio_eng *e = h->eng;
    const unsigned char *p = NULL;
    unsigned plen = 0;
    SSL *ssl = bufferevent_openssl_get_ssl(h->bev);
    if (ssl)
        SSL_get0_alpn_selected(ssl, &p, &plen);
    struct http_req *waiting[2] = { e->get, e->post };
    if (plen != 2 || memcmp(p, "h2", 2) != 0) {
        sio_log_debug(topic, "%p: ALPN %.*s: polling over HTTP/1.1", (void *)e,
                      plen ? (int)plen : 4, plen ? (const char *)p : "none");
        e->alpn = ALPN_H1;
        h->dead = true;
        struct bufferevent *bev = h->bev;
        h->bev = NULL;
        for (int i = 0; i < 2; i++) {
            struct http_req *r = waiting[i];
            if (!r || r->h2 != h)
                continue;
            r->h2 = NULL;
            int rc = h1_go(r, bev);
            bev = NULL;         /* r's now (freed if it failed); the others get their own */
            if (rc < 0) {
                fail(e, SIO_REASON_TRANSPORT_ERROR, "out of memory");
                break;
            }
        }
        if (bev)
            bufferevent_free(bev);
        return;
    }
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) {
        h2_failed(h, SIO_REASON_TRANSPORT_ERROR, "out of memory");
        return;
    }
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_close);
    int rc = nghttp2_session_client_new(&h->ng, cbs, h);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) {
        h->ng = NULL;
        h2_failed(h, SIO_REASON_TRANSPORT_ERROR, "out of memory");
        return;
    }
    /* no server push; a 1 MiB window so a big polling response is not
     * held up by WINDOW_UPDATE round trips */
    nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
                                    { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 } };
    nghttp2_submit_settings(h->ng, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(h->ng, NGHTTP2_FLAG_NONE, 0, 1 << 20);
    e->alpn = ALPN_H2;
    set_timeouts(h->bev, 0);    /* each request has its own timer */
    /* A server that goes away without close_notify: OpenSSL would answer
     * with a fatal alert, written to a socket whose peer is gone (SIGPIPE
     * in an application that does not ignore it). HTTP/2 frames its
     * responses (END_STREAM), so a truncation cannot pass unnoticed. */
    if (ssl)
        SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
    sio_log_debug(topic, "%p: ALPN h2: polling over HTTP/2 (connection %p)", (void *)e,
                  (void *)h);
    for (int i = 0; i < 2; i++)
        if (waiting[i] && waiting[i]->h2 == h && !waiting[i]->stream_id &&
            h2_submit(h, waiting[i]) < 0) {
            fail(e, SIO_REASON_TRANSPORT_ERROR, "out of memory");
            return;
        }
    if (evbuffer_get_length(bufferevent_get_input(h->bev)))
        h2_recv(h);             /* the server's SETTINGS came before this event */
    h2_send(h);
}

static void h2_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct h2conn *h = arg;
    struct sio_eng *e = h->eng;
    if (what & BEV_EVENT_CONNECTED) {
        if (!h->ng)
            h2_connected(h);
        h2_tidy(h);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        h->eof = true;
    if ((what & BEV_EVENT_EOF) && h->ng)
        h2_recv(h);             /* the last frames before the close */
    char why[300];
    const char *reason = SIO_REASON_TRANSPORT_ERROR;
    if (what & BEV_EVENT_TIMEOUT) {
        snprintf(why, sizeof why, "HTTP request timed out");
    } else if (what & BEV_EVENT_ERROR) {
        char err[256];
        snprintf(why, sizeof why, "connection to %s:%u failed: %s", e->cfg.host, e->cfg.port,
                 bev_error(e, bev, err, sizeof err));
    } else {
        reason = SIO_REASON_TRANSPORT_CLOSE;
        snprintf(why, sizeof why, "the server closed the connection");
    }
    h2_failed(h, reason, why);
    h2_tidy(h);
}

/* Put r on the engine's usable HTTP/2 connection, or on a new one that
 * offers ALPN h2 (r waits for the handshake there). 0 or -ENOMEM. */
static int h2_attach(struct sio_eng *e, struct http_req *r)
{
    struct h2conn *h = e->h2s;
    while (h && (h->closing || h->dead))
        h = h->next;
    if (!h) {
        if (!(h = calloc(1, sizeof *h)))
            return -ENOMEM;
        h->eng = e;
        h->bev = open_socket(e, h2_read_cb, h2_write_cb, h2_event_cb, h, NULL, ALPN_H2_H1);
        if (!h->bev) {
            free(h);
            return -ENOMEM;
        }
        set_timeouts(h->bev, e->cfg.connect_timeout_ms);
        h->next = e->h2s;
        e->h2s = h;
    }
    r->h2 = h;
    return h->ng ? h2_submit(h, r) : 0;
}

/* The session is on WebSocket: the HTTP/2 connections have nothing left
 * to do. GOAWAY, and each goes once its output is out (h2_write_cb). */
static void h2_retire_all(struct sio_eng *e)
{
    for (struct h2conn *h = e->h2s; h; h = h->next) {
        if (h->closing || h->dead || !h->ng)
            continue;
        h->closing = true;
        nghttp2_submit_goaway(h->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(h->ng), NGHTTP2_NO_ERROR,
                              NULL, 0);
        h2_send(h);
    }
}

static void start_get(struct sio_eng *e)
{
    if (e->get || e->state != E_OPEN || e->ws_active || e->upgrading)
        return;
    e->get = req_start(e, REQ_GET, NULL, 0);
    if (!e->get)
        fail(e, SIO_REASON_TRANSPORT_ERROR, "out of memory");
}

/* ---- WebSocket --------------------------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                          int flags, void *ud)
{
    struct ws *w = ud;
    int n = evbuffer_remove(bufferevent_get_input(w->bev), buf, len);
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    return n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                          int flags, void *ud)
{
    struct ws *w = ud;
    if (bufferevent_write(w->bev, data, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int ws_genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void ws_drop_probe(struct sio_eng *e, const char *why);

static void ws_on_msg(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    struct ws *w = ud;
    struct sio_eng *e = w->eng;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        w->peer_closed = true;
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return;
    if (e->state == E_CLOSED)
        return;
    struct sio_eio_packet pkt;
    int rc = sio_eio_decode_frame(arg->msg, arg->msg_length,
                                  arg->opcode == WSLAY_BINARY_FRAME, &pkt);
    if (rc < 0) {
        fail(e, SIO_REASON_TRANSPORT_ERROR, "bad WebSocket packet: %s", sio_strerror(rc));
        return;
    }
    if (w->probe && !e->ws_active) {
        if (pkt.type == SIO_EIO_PONG && pkt.len == 5 && memcmp(pkt.data, "probe", 5) == 0) {
            sio_log_debug(topic, "%p: probe answered, pausing polling", (void *)e);
            e->upgrading = true;
            check_pause(e);
        } else {
            sio_log_debug(topic, "%p: unexpected packet during probe", (void *)e);
        }
        return;
    }
    if (!e->have_sid) {
        if (pkt.type != SIO_EIO_OPEN) {
            fail(e, SIO_REASON_TRANSPORT_ERROR, "wrong handshake: first packet type %d",
                 (int)pkt.type);
            return;
        }
        on_handshake(e, &pkt);
        return;
    }
    deliver(e, &pkt, true);
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .genmask_callback = ws_genmask_cb,
    .on_msg_recv_callback = ws_on_msg,
};

static int ws_check_accept(struct ws *w)
{
    char src[sizeof w->key + sizeof WS_GUID];
    unsigned char md[SHA_DIGEST_LENGTH];
    snprintf(src, sizeof src, "%s%s", w->key, WS_GUID);
    SHA1((const unsigned char *)src, strlen(src), md);
    struct sio_buf b = SIO_BUF_INIT;
    int ok = sio_buf_append_base64(&b, md, sizeof md) == 0 &&
             sio_buf_append_byte(&b, 0) == 0 &&
             strcmp((char *)b.data, w->r.accept) == 0;
    sio_buf_clear(&b);
    return ok ? 0 : -1;
}

/* A WebSocket problem: fatal on the active transport (or when connecting
 * WebSocket-only), just the end of the probe otherwise. */
static void ws_error(struct ws *w, const char *reason, const char *detail)
{
    struct sio_eng *e = w->eng;
    if (e->ws_active || !w->probe)
        fail(e, reason, "WebSocket: %s", detail);
    else
        ws_drop_probe(e, detail);
}

static void ws_pump(struct ws *w)
{
    struct sio_eng *e = w->eng;
    if (wslay_event_recv(w->ctx) != 0) {
        ws_error(w, SIO_REASON_TRANSPORT_ERROR, "bad frame or oversize message");
        return;
    }
    if (e->ws != w)
        return;
    if (wslay_event_send(w->ctx) != 0) {
        ws_error(w, SIO_REASON_TRANSPORT_ERROR, "send failed");
        return;
    }
    if (w->peer_closed && !wslay_event_want_write(w->ctx) && e->state != E_CLOSED) {
        if (e->state == E_CLOSING)
            fail(e, SIO_REASON_CLIENT_DISCONNECT, "closed");
        else
            ws_error(w, SIO_REASON_TRANSPORT_CLOSE, "closed by the server");
    }
}

static void ws_read_cb(struct bufferevent *bev, void *arg)
{
    struct ws *w = arg;
    struct sio_eng *e = w->eng;
    if (!w->open) {
        if (resp_feed(&w->r, bufferevent_get_input(bev)) < 0) {
            ws_error(w, SIO_REASON_TRANSPORT_ERROR, "malformed HTTP response");
            return;
        }
        if (!w->r.complete)
            return;
        if (w->r.p.status_code != 101 || !w->r.p.upgrade) {
            char d[96];
            snprintf(d, sizeof d, "handshake refused (HTTP %u)", w->r.p.status_code);
            ws_error(w, SIO_REASON_TRANSPORT_ERROR, d);
            return;
        }
        if (ws_check_accept(w) < 0) {
            ws_error(w, SIO_REASON_TRANSPORT_ERROR, "wrong Sec-WebSocket-Accept");
            return;
        }
        w->open = true;
        set_timeouts(bev, w->probe ? e->cfg.connect_timeout_ms : 0);
        sio_log_debug(topic, "%p: WebSocket open%s", (void *)e, w->probe ? " (probe)" : "");
        if (w->probe) {
            struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)"2probe", 6 };
            wslay_event_queue_msg(w->ctx, &m);
        }
    }
    ws_pump(w);
}

static void ws_write_cb(struct bufferevent *bev, void *arg)
{
    struct ws *w = arg;
    struct sio_eng *e = w->eng;
    if (e->state == E_CLOSING && e->ws_active && wslay_event_get_close_sent(w->ctx) &&
        !wslay_event_want_write(w->ctx))
        fail(e, SIO_REASON_CLIENT_DISCONNECT, "closed");
}

static void ws_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct ws *w = arg;
    struct sio_eng *e = w->eng;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (e->state == E_CLOSING && e->ws_active) {
        fail(e, SIO_REASON_CLIENT_DISCONNECT, "closed");
        return;
    }
    if (what & BEV_EVENT_TIMEOUT)
        ws_error(w, SIO_REASON_TRANSPORT_ERROR, "timed out");
    else if (what & BEV_EVENT_ERROR) {
        char why[256];
        ws_error(w, SIO_REASON_TRANSPORT_ERROR, bev_error(e, bev, why, sizeof why));
    }
    else
        ws_error(w, SIO_REASON_TRANSPORT_CLOSE, "connection closed by the server");
}

static void ws_free(struct ws *w)
{
    if (!w)
        return;
    if (w->ctx)
        wslay_event_context_free(w->ctx);
    if (w->bev)
        bufferevent_free(w->bev);
    resp_clear(&w->r);
    free(w);
}

static int ws_start(struct sio_eng *e, bool probe)
{
    struct ws *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->eng = e;
    w->probe = probe;
    resp_init(&w->r, 4096);
    uint8_t raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1)
        goto fail;
    struct sio_buf k = SIO_BUF_INIT;
    if (sio_buf_append_base64(&k, raw, sizeof raw) < 0) {
        sio_buf_clear(&k);
        goto fail;
    }
    snprintf(w->key, sizeof w->key, "%.*s", (int)k.len, (char *)k.data);
    sio_buf_clear(&k);
    if (wslay_event_context_client_init(&w->ctx, &ws_callbacks, w) != 0)
        goto fail;
    wslay_event_config_set_max_recv_msg_length(w->ctx, e->cfg.max_payload);
    char hdrs[256];
    snprintf(hdrs, sizeof hdrs, "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", w->key);
    struct sio_buf b = SIO_BUF_INIT;
    if (build_request(e, &b, "GET", "websocket", hdrs, NULL, 0) < 0) {
        sio_buf_clear(&b);
        goto fail;
    }
    /* the WebSocket is an HTTP/1.1 Upgrade: never h2 on its connection */
    w->bev = open_socket(e, ws_read_cb, ws_write_cb, ws_event_cb, w, &b, ALPN_ONLY_H1);
    sio_buf_clear(&b);
    if (!w->bev)
        goto fail;
    set_timeouts(w->bev, e->cfg.connect_timeout_ms);
    e->ws = w;
    return 0;
fail:
    ws_free(w);
    return -ENOMEM;
}

/* The probe failed before the switch: keep polling. Freed from a deferred
 * event because we may be inside the probe's own callbacks. */
static void ws_drop_cb(evutil_socket_t fd, short what, void *arg)
{
    ws_free(arg);
}

static void ws_drop_probe(struct sio_eng *e, const char *why)
{
    struct ws *w = e->ws;
    sio_log_debug(topic, "%p: upgrade failed (%s), staying on polling", (void *)e, why);
    e->ws = NULL;
    bufferevent_disable(w->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(w->bev, NULL, NULL, NULL, NULL);
    if (event_base_once(e->base, -1, EV_TIMEOUT, ws_drop_cb, w, NULL) < 0)
        ws_free(w);     /* only reachable outside its callbacks in practice */
    if (e->upgrading) {
        e->upgrading = false;
        start_get(e);
        flush(e);
    }
}

static void check_pause(struct sio_eng *e)
{
    if (!e->upgrading || e->get || e->post || !e->ws || e->state != E_OPEN)
        return;
    struct wslay_event_msg m = { WSLAY_TEXT_FRAME, (const uint8_t *)"5", 1 };
    if (wslay_event_queue_msg(e->ws->ctx, &m) != 0) {
        fail(e, SIO_REASON_TRANSPORT_ERROR, "WebSocket queue failed");
        return;
    }
    e->upgrading = false;
    e->ws_active = true;
    set_timeouts(e->ws->bev, 0);
    h2_retire_all(e);
    sio_log_debug(topic, "%p: upgraded to WebSocket", (void *)e);
    flush(e);
    if (e->state == E_OPEN && wslay_event_send(e->ws->ctx) != 0) {  /* "5" alone */
        fail(e, SIO_REASON_TRANSPORT_ERROR, "WebSocket send failed");
        return;
    }
    if (e->cbs.on_upgrade)
        e->cbs.on_upgrade(e->ud);
}

/* ---- packets ------------------------------------------------------------ */

static void ping_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_eng *e = arg;
    fail(e, SIO_REASON_PING_TIMEOUT, "no ping from the server within %u ms",
         e->hs.ping_interval_ms + e->hs.ping_timeout_ms);
}

static void arm_ping_timer(struct sio_eng *e)
{
    unsigned ms = e->hs.ping_interval_ms + e->hs.ping_timeout_ms;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_add(e->ping_timer, &tv);
}

static int enqueue(struct sio_eng *e, enum sio_eio_type type, bool binary,
                   const void *data, size_t len)
{
    if (SIO_VEC_ROOM(e->q, e->qn, e->qcap, 16) < 0)
        return -ENOMEM;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    e->q[e->qn++] = (struct out_pkt){ type, binary, copy, len };
    return 0;
}

static void queue_clear(struct sio_eng *e)
{
    for (size_t i = 0; i < e->qn; i++)
        free(e->q[i].data);
    e->qn = 0;
}

static void flush(struct sio_eng *e)
{
    if (e->qn == 0 || e->state == E_CLOSED || !e->have_sid)
        return;
    if (e->ws_active) {
        struct sio_buf b = SIO_BUF_INIT;
        for (size_t i = 0; i < e->qn; i++) {
            struct out_pkt *p = &e->q[i];
            sio_buf_reset(&b);
            struct wslay_event_msg m;
            if (sio_eio_encode_frame(&b, p->type, p->binary, p->data, p->len) < 0)
                goto nomem;
            m.opcode = p->binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME;
            m.msg = b.data;
            m.msg_length = b.len;
            if (wslay_event_queue_msg(e->ws->ctx, &m) != 0)  /* copies */
                goto nomem;
        }
        sio_buf_clear(&b);
        queue_clear(e);
        if (e->state == E_CLOSING)
            wslay_event_queue_close(e->ws->ctx, WSLAY_CODE_NORMAL_CLOSURE, NULL, 0);
        if (wslay_event_send(e->ws->ctx) != 0)
            fail(e, SIO_REASON_TRANSPORT_ERROR, "WebSocket send failed");
        return;
nomem:
        sio_buf_clear(&b);
        fail(e, SIO_REASON_TRANSPORT_ERROR, "out of memory");
        return;
    }
    if (e->post || e->upgrading)
        return;
    struct sio_buf b = SIO_BUF_INIT;
    for (size_t i = 0; i < e->qn; i++) {
        struct out_pkt *p = &e->q[i];
        if (sio_eio_encode_payload(&b, p->type, p->binary, p->data, p->len) < 0) {
            sio_buf_clear(&b);
            fail(e, SIO_REASON_TRANSPORT_ERROR, "out of memory");
            return;
        }
    }
    queue_clear(e);
    e->post = req_start(e, REQ_POST, b.data, b.len);
    sio_buf_clear(&b);
    if (!e->post)
        fail(e, SIO_REASON_TRANSPORT_ERROR, "out of memory");
}

static void on_handshake(struct sio_eng *e, struct sio_eio_packet *first)
{
    if (first->type != SIO_EIO_OPEN) {
        fail(e, SIO_REASON_TRANSPORT_ERROR, "wrong handshake: first packet type %d",
             (int)first->type);
        return;
    }
    int rc = sio_eio_parse_open(first->data, first->len, &e->hs);
    if (rc < 0 || !e->hs.sid[0] || e->hs.ping_interval_ms == 0) {
        fail(e, SIO_REASON_TRANSPORT_ERROR, "wrong handshake: %s",
             rc < 0 ? sio_strerror(rc) : "missing sid or pingInterval");
        return;
    }
    e->have_sid = true;
    e->state = E_OPEN;
    if (e->ws && !e->ws->probe) {
        e->ws_active = true;
        set_timeouts(e->ws->bev, 0);
    }
    sio_log_debug(topic, "%p: open sid=%s transport=%s pingInterval=%u pingTimeout=%u",
                  (void *)e, e->hs.sid, e->ws_active ? "websocket" : "polling",
                  e->hs.ping_interval_ms, e->hs.ping_timeout_ms);
    arm_ping_timer(e);
    e->cbs.on_open(e->ud, &e->hs);
    if (e->state != E_OPEN)
        return;
    if (!e->ws_active && e->hs.upgrade_websocket &&
        (e->cfg.transports & SIO_TRANSPORT_WEBSOCKET) && !e->ws) {
        if (ws_start(e, true) < 0)
            sio_log_debug(topic, "%p: cannot start the upgrade probe", (void *)e);
    }
    flush(e);
}

static void deliver(struct sio_eng *e, const struct sio_eio_packet *pkt, bool from_ws)
{
    if (e->state == E_CLOSED)
        return;
    switch (pkt->type) {
    case SIO_EIO_PING:
        arm_ping_timer(e);
        if (e->state == E_OPEN) {
            enqueue(e, SIO_EIO_PONG, false, pkt->data, pkt->len);
            flush(e);
        }
        break;
    case SIO_EIO_CLOSE:
        fail(e, SIO_REASON_TRANSPORT_CLOSE, "the server closed the session");
        break;
    case SIO_EIO_MESSAGE:
        if (e->state == E_OPEN || e->state == E_CLOSING)
            e->cbs.on_message(e->ud, pkt->binary, pkt->data, pkt->len);
        break;
    case SIO_EIO_OPEN:
        fail(e, SIO_REASON_TRANSPORT_ERROR, "unexpected open packet");
        break;
    default:        /* pong, upgrade, noop */
        break;
    }
}

/* ---- lifecycle ---------------------------------------------------------- */

static void free_io(struct sio_eng *e)
{
    /* the requests first, without touching their HTTP/2 streams: the
     * sessions go right after */
    struct http_req *reqs[2] = { e->get, e->post };
    e->get = e->post = NULL;
    for (int i = 0; i < 2; i++) {
        if (reqs[i])
            reqs[i]->h2 = NULL;
        req_free(reqs[i]);
    }
    while (e->h2s) {
        struct h2conn *h = e->h2s;
        e->h2s = h->next;
        h2_free(h);
    }
    ws_free(e->ws);
    e->ws = NULL;
    if (e->ping_timer)
        event_del(e->ping_timer);
    if (e->grace_timer)
        event_del(e->grace_timer);
    queue_clear(e);
}

static void close_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_eng *e = arg;
    free_io(e);
    sio_log_debug(topic, "%p: closed: %s (%s)", (void *)e, e->close_reason, e->close_detail);
    e->cbs.on_close(e->ud, e->close_reason, e->close_detail);   /* may destroy e */
}

static void fail(struct sio_eng *e, const char *reason, const char *fmt, ...)
{
    if (e->state == E_CLOSED)
        return;
    if (e->state == E_CLOSING)
        reason = SIO_REASON_CLIENT_DISCONNECT;
    e->state = E_CLOSED;
    e->close_reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->close_detail, sizeof e->close_detail, fmt, ap);
    va_end(ap);
    if (e->ping_timer)
        event_del(e->ping_timer);
    event_active(e->close_ev, EV_TIMEOUT, 0);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
    fail(arg, SIO_REASON_CLIENT_DISCONNECT, "closed (flush timed out)");
}

void sio__eng_close(struct sio_eng *e)
{
    if (e->state == E_CLOSED || e->state == E_CLOSING)
        return;
    if (e->state == E_CONNECTING) {
        fail(e, SIO_REASON_CLIENT_DISCONNECT, "closed before open");
        return;
    }
    e->state = E_CLOSING;
    event_del(e->ping_timer);
    struct timeval tv = { CLOSE_GRACE_MS / 1000, (CLOSE_GRACE_MS % 1000) * 1000 };
    event_add(e->grace_timer, &tv);
    if (!e->ws_active && e->ws) {     /* abandon a probe in progress */
        ws_free(e->ws);
        e->ws = NULL;
        e->upgrading = false;
    }
    if (enqueue(e, SIO_EIO_CLOSE, false, NULL, 0) < 0) {
        fail(e, SIO_REASON_CLIENT_DISCONNECT, "closed");
        return;
    }
    flush(e);
}

void sio__eng_abort(struct sio_eng *e, const char *detail)
{
    fail(e, SIO_REASON_TRANSPORT_ERROR, "%s", detail);
}

int sio__eng_send(struct sio_eng *e, bool binary, const void *data, size_t len)
{
    if (e->state != E_OPEN)
        return SIO_ERR_CLOSED;
    int rc = enqueue(e, SIO_EIO_MESSAGE, binary, data, len);
    if (rc < 0)
        return rc;
    flush(e);
    return 0;
}

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

void sio__eng_destroy(struct sio_eng **e_p)
{
    struct sio_eng *e = *e_p;
    if (!e)
        return;
    *e_p = NULL;
    free_io(e);
    free(e->q);
    if (e->ping_timer)
        event_free(e->ping_timer);
    if (e->close_ev)
        event_free(e->close_ev);
    if (e->grace_timer)
        event_free(e->grace_timer);
    for (char **h = e->headers; h && *h; h++)
        free(*h);
    free(e->headers);
    for (size_t i = 0; i < e->ncookies; i++)
        free(e->cookies[i]);
    free(e->cookies);
    free((char *)e->cfg.host);
    free((char *)e->cfg.path);
    free((char *)e->cfg.query);
    free(e);
}

int sio__eng_new(struct sio_eng **out, struct event_base *base,
                 const struct sio_eng_cfg *cfg, const struct sio_eng_cbs *cbs, void *ud)
{
    *out = NULL;
    struct sio_eng *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->base = base;
    e->cbs = *cbs;
    e->ud = ud;
    e->cfg = *cfg;
    e->cfg.host = dupstr(cfg->host);
    e->cfg.path = dupstr(cfg->path);
    e->cfg.query = dupstr(cfg->query);
    e->cfg.headers = NULL;
    size_t nh = 0;
    while (cfg->headers && cfg->headers[nh])
        nh++;
    e->headers = calloc(nh + 1, sizeof *e->headers);
    e->ping_timer = evtimer_new(base, ping_timeout_cb, e);
    e->close_ev = event_new(base, -1, 0, close_cb, e);
    e->grace_timer = evtimer_new(base, grace_cb, e);
    if (!e->cfg.host || !e->cfg.path || (cfg->query && !e->cfg.query) || !e->headers ||
        !e->ping_timer || !e->close_ev || !e->grace_timer)
        goto fail;
    for (size_t i = 0; i < nh; i++)
        if (!(e->headers[i] = strdup(cfg->headers[i])))
            goto fail;
    e->state = E_CONNECTING;
    int rc;
    if (cfg->transports & SIO_TRANSPORT_POLLING) {
        e->get = req_start(e, REQ_HANDSHAKE, NULL, 0);
        rc = e->get ? 0 : -ENOMEM;
    } else {
        rc = ws_start(e, false);
    }
    if (rc < 0)
        goto fail;
    *out = e;
    return 0;
fail:
    sio__eng_destroy(&e);
    return -ENOMEM;
}

const char *sio__eng_transport(const struct sio_eng *e)
{
    return e->ws_active ? "websocket" : "polling";
}

const char *sio__eng_sid(const struct sio_eng *e)
{
    return e->have_sid ? e->hs.sid : NULL;
}

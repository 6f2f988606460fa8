/* http1.c: HTTP/1.1 server connection glue over http_parser (see http1.h).
 *
 * Parsing: input bytes are fed to http_parser straight from the
 * bufferevent's input chunks; the URL and header bytes are copied into one
 * per-request arena (sio_buf) and indexed by offsets, since the arena may
 * move while it grows. on_message_complete pauses the parser, so a
 * pipelined request stays in the input until the current one is answered.
 *
 * keep_raw: every http_parser_execute() call stops at the end of a message
 * (the pause), so the bytes it consumed since the last delivered request
 * are exactly that request as received (leading empty lines included);
 * they are copied to c->raw before the input is drained, and that copy
 * plus the input still buffered is the stream from the request on.
 */
#include "edge/http/http1.h"
#include "edge/http/tls.h"
#include <event2/bufferevent_ssl.h>

#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <http_parser.h>
#include <sys/socket.h>
#include <sio/log.h>
#include "base/buf.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.http");

#define MAX_HDRS 128

struct hdr_off {
    size_t name_off, name_len, val_off, val_len;
};

struct sio_http_conn {
    struct bufferevent *bev;
    http_parser parser;
    struct sio_http_limits lim;
    struct sio_http_cbs cbs;
    void *ud;
    struct event *timer;
    struct sio_buf arena;       /* url, then header names/values */
    struct sio_buf body;
    struct sio_buf xlead;       /* extra header lines: first (sio_http_set_extra) */
    struct sio_buf xct;         /* extra header lines: after Content-Type */
    struct sio_buf raw;         /* keep_raw: the current request as received */
    bool raw_lost;              /* keep_raw: it grew over the bound, not kept */
    size_t url_off, url_len;
    struct hdr_off hoff[MAX_HDRS];
    size_t nhdrs;
    bool in_value;              /* last header callback was a value */
    size_t header_bytes;
    int error;                  /* HTTP status to answer on a parse error */
    bool too_many_hdrs;
    struct sio_http_hdr hdrs[MAX_HDRS];
    struct sio_http_req req;
    bool busy;                  /* request delivered, not yet answered */
    bool at_headers;            /* paused after the headers, on_headers to run */
    bool hdrs_done;             /* on_headers ran for the current request */
    bool discard_body;          /* read the body, keep none of it */
    size_t body_seen;           /* body bytes of the current request, kept or not */
    bool closing;               /* close after output is flushed */
    bool linger;                /* ... then read and drop what the peer still sends */
    bool lingering;             /* doing that: our side is shut down */
    size_t lingered;            /* bytes dropped so far */
    bool detached;
    bool dead;                  /* free when the outermost callback returns */
    int depth;                  /* callback nesting */
    bool h2_checked;            /* on_h2: the first bytes are not HTTP/2's */
    /* an exchange (sio_http_exchange_new): no bufferevent, no parser */
    const struct sio_http_xops *xops;
    void *ximpl;                /* NULL once the carrier is gone */
};

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);

const char *sio_http_date(void)
{
    static _Thread_local char buf[40];
    static _Thread_local time_t last;
    time_t now = time(NULL);
    if (now != last || !buf[0]) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

static void arm_timer(struct sio_http_conn *c, unsigned ms)
{
    if (!ms) {
        evtimer_del(c->timer);
        return;
    }
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(c->timer, &tv);
}

static void conn_free(struct sio_http_conn *c)
{
    if (!c->detached) {
        if (c->cbs.on_close)
            c->cbs.on_close(c, c->ud);
        /* a bufferevent with no socket is one end of a pair (gateway.c's
         * requests from another thread): its other end learns of the close
         * from an EOF */
        if (c->bev && bufferevent_getfd(c->bev) < 0)
            bufferevent_flush(c->bev, EV_WRITE, BEV_FINISHED);
        if (c->bev)
            sio_tls_bev_free(c->bev);
    }
    if (c->timer)
        event_free(c->timer);
    sio_buf_clear(&c->arena);
    sio_buf_clear(&c->body);
    sio_buf_clear(&c->xlead);
    sio_buf_clear(&c->xct);
    sio_buf_clear(&c->raw);
    free(c);
}

/* Called at the end of every entry point: frees a dead connection once no
 * callback of ours is on the stack. Not inlined: gcc -O3 inlines the inner
 * calls into the outer one and, not seeing that depth stays above zero
 * there, reports a use after free that cannot happen (-Werror breaks a
 * release build). */
__attribute__((noinline))
static void conn_leave(struct sio_http_conn *c)
{
    if (--c->depth == 0 && c->dead)
        conn_free(c);
}

static void conn_kill(struct sio_http_conn *c)
{
    c->dead = true;
    if (!c->detached && c->bev)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
}

/* Bytes a refused client may still send before we stop reading them, and
 * for how long (ms). */
#define LINGER_BYTES (2u << 20)
#define LINGER_MS 2000

/* Everything to write is written: close, or first (a refusal sent while
 * the client may still be sending its body) shut our side and read what
 * comes until EOF, so that the kernel does not answer that data with a
 * reset that would destroy the refusal before the client reads it. */
static void close_output_done(struct sio_http_conn *c)
{
    if (!c->linger || c->lingering) {
        conn_kill(c);
        return;
    }
    c->lingering = true;
    shutdown(bufferevent_getfd(c->bev), SHUT_WR);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_enable(c->bev, EV_READ);
    arm_timer(c, LINGER_MS);
}

void sio_http_conn_close(struct sio_http_conn *c)
{
    if (c->dead || c->closing)
        return;
    c->closing = true;
    if (c->xops) {
        bool busy = c->busy;
        c->busy = false;
        c->depth++;
        if (busy && c->ximpl)
            c->xops->cancel(c->ximpl);
        conn_leave(c);
        return;
    }
    c->depth++;
    bufferevent_disable(c->bev, EV_READ);
    /* a peer that does not read gets close_timeout_ms to take the output */
    arm_timer(c, c->lim.close_timeout_ms);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        close_output_done(c);
    conn_leave(c);
}

void sio_http_conn_abort(struct sio_http_conn *c)
{
    if (c->xops) {
        sio_http_conn_close(c);
        return;
    }
    c->depth++;
    conn_kill(c);
    conn_leave(c);
}

struct bufferevent *sio_http_conn_detach(struct sio_http_conn *c)
{
    struct bufferevent *bev = c->bev;
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    c->detached = true;
    c->dead = true;
    if (c->depth == 0)
        conn_free(c);
    return bev;
}

bool sio_http_conn_busy(const struct sio_http_conn *c)
{
    return c->busy;
}

const struct sio_http_hdr *sio_http_header(const struct sio_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->nhdrs; i++)
        if (strcmp(req->hdrs[i].name, name) == 0)
            return &req->hdrs[i];
    return NULL;
}

bool sio_http_list_next(const char **p, const char **s, const char **e)
{
    const char *q = *p;
    while (*q == ' ' || *q == '\t' || *q == ',')
        q++;
    if (!*q) {
        *p = q;
        return false;
    }
    *s = q;
    while (*q && *q != ',')
        q++;
    *p = q;
    while (q > *s && (q[-1] == ' ' || q[-1] == '\t'))
        q--;
    *e = q;
    return true;
}

bool sio_http_header_has_token(const struct sio_http_req *req, const char *name, const char *tok)
{
    const struct sio_http_hdr *h = sio_http_header(req, name);
    if (!h)
        return false;
    size_t tl = strlen(tok);
    const char *p = h->value, *s, *e;
    while (sio_http_list_next(&p, &s, &e))
        if ((size_t)(e - s) == tl && strncasecmp(s, tok, tl) == 0)
            return true;
    return false;
}

/* --- parser callbacks --- */

static int count_header(struct sio_http_conn *c, size_t n)
{
    c->header_bytes += n;
    if (c->header_bytes > c->lim.max_header_bytes) {
        c->error = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct sio_http_conn *c = p->data;
    sio_buf_reset(&c->arena);
    sio_buf_reset(&c->body);
    c->url_off = c->url_len = 0;
    c->nhdrs = 0;
    c->in_value = false;
    c->header_bytes = 0;
    c->too_many_hdrs = false;
    c->hdrs_done = false;
    c->discard_body = false;
    c->body_seen = 0;
    memset(&c->req, 0, sizeof c->req);
    arm_timer(c, c->lim.header_timeout_ms);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct sio_http_conn *c = p->data;
    if (count_header(c, len) < 0)
        return -1;
    c->url_len += len;
    if (c->url_len > c->lim.max_url) {
        c->error = 414;
        return -1;
    }
    return sio_buf_append(&c->arena, at, len) < 0 ? -1 : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct sio_http_conn *c = p->data;
    if (count_header(c, len) < 0)
        return -1;
    if (c->nhdrs == 0 || c->in_value) {
        if (c->nhdrs == 0 && !c->in_value && c->arena.len == c->url_len) {
            /* NUL after the URL */
            if (sio_buf_append_byte(&c->arena, 0) < 0)
                return -1;
        } else if (sio_buf_append_byte(&c->arena, 0) < 0) {
            return -1;
        }
        if (c->nhdrs == MAX_HDRS) {
            c->error = 431;
            return -1;
        }
        struct hdr_off *h = &c->hoff[c->nhdrs++];
        h->name_off = c->arena.len;
        h->name_len = 0;
        h->val_off = 0;
        h->val_len = 0;
        c->in_value = false;
    }
    struct hdr_off *h = &c->hoff[c->nhdrs - 1];
    h->name_len += len;
    for (size_t i = 0; i < len; i++)
        if (sio_buf_append_byte(&c->arena, (uint8_t)tolower((unsigned char)at[i])) < 0)
            return -1;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct sio_http_conn *c = p->data;
    if (count_header(c, len) < 0)
        return -1;
    if (c->nhdrs == 0)
        return -1;
    struct hdr_off *h = &c->hoff[c->nhdrs - 1];
    if (!c->in_value) {
        if (sio_buf_append_byte(&c->arena, 0) < 0)
            return -1;
        h->val_off = c->arena.len;
        c->in_value = true;
    }
    h->val_len += len;
    return sio_buf_append(&c->arena, at, len) < 0 ? -1 : 0;
}

/* The request line and headers into c->req (no body yet). */
static int fill_req(struct sio_http_conn *c, http_parser *p)
{
    struct sio_http_req *r = &c->req;
    char *a = (char *)c->arena.data;
    if (!a) {
        if (sio_buf_append_byte(&c->arena, 0) < 0)
            return -1;
        a = (char *)c->arena.data;
    }
    a[c->url_len] = 0;
    r->method = p->method;
    r->method_name = http_method_str(p->method);
    r->url = a;
    r->url_len = c->url_len;
    char *q = memchr(a, '?', c->url_len);
    r->path = a;
    r->path_len = q ? (size_t)(q - a) : c->url_len;
    r->query = q ? q + 1 : a + c->url_len;
    r->query_len = q ? c->url_len - (size_t)(q + 1 - a) : 0;
    for (size_t i = 0; i < c->nhdrs; i++) {
        struct hdr_off *h = &c->hoff[i];
        c->hdrs[i].name = a + h->name_off;
        c->hdrs[i].name_len = h->name_len;
        c->hdrs[i].value = h->val_off ? a + h->val_off : "";
        c->hdrs[i].value_len = h->val_len;
    }
    /* NUL-terminate the header pieces: every piece is followed by a byte
     * that was appended as 0 before the next piece began, or the final
     * NUL from on_headers_complete. */
    r->hdrs = c->hdrs;
    r->nhdrs = c->nhdrs;
    r->upgrade = p->upgrade;
    r->scheme = c->lim.https || bufferevent_openssl_get_ssl(c->bev) ? "https" : NULL;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct sio_http_conn *c = p->data;
    /* Node accepts HTTP/1.0, 1.1 and (oddly) 2.0 on its HTTP/1 parser and
     * answers anything else 400 + close; so do we. */
    if (!((p->http_major == 1 && p->http_minor <= 1) ||
          (p->http_major == 2 && p->http_minor == 0)))
        return -1;
    if (sio_buf_append_byte(&c->arena, 0) < 0)    /* NUL after the last piece */
        return -1;
    /* refused from its headers: the body is not read at all */
    if (p->content_length != ULLONG_MAX && p->content_length > c->lim.max_body) {
        c->error = 413;
        return -1;
    }
    if (c->cbs.on_headers) {
        if (fill_req(c, p) < 0)
            return -1;
        c->at_headers = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct sio_http_conn *c = p->data;
    /* a chunked body stops at the limit, kept or not */
    if (c->body_seen + len > c->lim.max_body) {
        c->error = 413;
        return -1;
    }
    c->body_seen += len;
    if (c->discard_body)
        return 0;
    return sio_buf_append(&c->body, at, len) < 0 ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
    struct sio_http_conn *c = p->data;
    struct sio_http_req *r = &c->req;
    if (fill_req(c, p) < 0)
        return -1;
    if (sio_buf_reserve(&c->body, 0) < 0)
        return -1;
    c->body.data[c->body.len] = 0;
    r->body = c->body.data;
    r->body_len = c->body.len;
    r->body_discarded = c->discard_body;
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    c->busy = true;
    evtimer_del(c->timer);
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void send_error_close(struct sio_http_conn *c, int code)
{
    const char *st = code == 431 ? "431 Request Header Fields Too Large"
                   : code == 414 ? "414 URI Too Long"
                   : code == 413 ? "413 Payload Too Large" : "400 Bad Request";
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        st);
    c->linger = true;
    sio_http_conn_close(c);
}

/* keep_raw: the bound of one request's head as received (the header limit,
 * and room for the empty lines a client may send first). */
static size_t raw_max(const struct sio_http_conn *c)
{
    return c->lim.max_header_bytes + 65536;
}

static void keep_raw(struct sio_http_conn *c, const void *p, size_t n)
{
    if (c->raw_lost || n == 0)
        return;
    if (c->raw.len + n > raw_max(c) || sio_buf_append(&c->raw, p, n) < 0) {
        c->raw_lost = true;
        sio_buf_clear(&c->raw);
    }
}

/* The delivered request's bytes are no longer needed: the next ones start
 * a new request (a big buffer is not kept for an idle connection). */
static void raw_done(struct sio_http_conn *c)
{
    if (c->raw.cap > 65536)
        sio_buf_clear(&c->raw);
    else
        sio_buf_reset(&c->raw);
    c->raw_lost = false;
}

/* Feed buffered input to the parser until it pauses, needs more, fails or
 * the connection changes hands. */
static void conn_parse(struct sio_http_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->busy && !c->dead && !c->closing && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t n = http_parser_execute(&c->parser, &settings, v.iov_base, v.iov_len);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e != HPE_OK && e != HPE_PAUSED) {
            sio_log_debug(topic, "%p: bad request: %s", (void *)c, http_errno_name(e));
            evbuffer_drain(in, evbuffer_get_length(in));
            send_error_close(c, c->error ? c->error : 400);
            return;
        }
        /* only the head is kept: a connection changes hands at its headers,
         * before any body byte is read */
        if (c->lim.keep_raw && !c->hdrs_done)
            keep_raw(c, v.iov_base, n);
        evbuffer_drain(in, n);
        if (c->at_headers) {
            c->depth++;
            int act = c->cbs.on_headers(c, &c->req, c->ud);
            c->at_headers = false;
            bool gone = c->dead;
            conn_leave(c);
            if (gone)
                return;
            c->hdrs_done = true;
            c->discard_body = act != SIO_HTTP_BODY_KEEP;
            if (c->lim.keep_raw)
                raw_done(c);
            if (act == SIO_HTTP_BODY_REFUSE) {
                /* answered from its head; the parser stays where it is */
                c->req.body = (const uint8_t *)"";
                c->req.body_len = 0;
                c->req.body_discarded = true;
                c->req.keep_alive = false;
                c->linger = true;
                c->busy = true;
                evtimer_del(c->timer);
                c->depth++;
                c->cbs.on_request(c, &c->req, c->ud);
                conn_leave(c);
                return;
            }
            http_parser_pause(&c->parser, 0);
            continue;
        }
        if (c->busy) {
            c->depth++;
            c->cbs.on_request(c, &c->req, c->ud);
            bool gone = c->dead;
            conn_leave(c);
            if (gone)
                return;
            if (c->lim.keep_raw && !c->hdrs_done)
                raw_done(c);
        } else if (n < v.iov_len) {
            /* upgrade without a complete message? treat as bad */
            send_error_close(c, 400);
            return;
        }
    }
}

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* Before the first request: is this HTTP/2 (ALPN h2, or the connection
 * preface of h2c with prior knowledge)? true: on_h2 was called, or more
 * bytes are needed to tell. */
static bool check_h2(struct sio_http_conn *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    if (ssl) {
        const unsigned char *alpn = NULL;
        unsigned alpnl = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alpnl);
        c->h2_checked = true;
        if (alpnl == 2 && memcmp(alpn, "h2", 2) == 0) {
            c->cbs.on_h2(c, c->ud);
            return true;
        }
        return false;
    }
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t n = evbuffer_get_length(in), want = sizeof h2_preface - 1;
    char head[sizeof h2_preface];
    size_t k = n < want ? n : want;
    if (evbuffer_copyout(in, head, k) != (ev_ssize_t)k || memcmp(head, h2_preface, k) != 0) {
        c->h2_checked = true;
        return false;
    }
    if (k < want)
        return true;
    c->h2_checked = true;
    c->cbs.on_h2(c, c->ud);
    return true;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct sio_http_conn *c = arg;
    c->depth++;
    if (!c->h2_checked && c->cbs.on_h2 && check_h2(c)) {
        conn_leave(c);
        return;
    }
    if (c->lingering) {
        struct evbuffer *in = bufferevent_get_input(bev);
        c->lingered += evbuffer_get_length(in);
        evbuffer_drain(in, evbuffer_get_length(in));
        if (c->lingered > LINGER_BYTES)
            conn_kill(c);
    } else if (c->busy) {
        /* waiting for our reply: keep the bytes, but bound them */
        if (evbuffer_get_length(bufferevent_get_input(bev)) > (1u << 20))
            sio_http_conn_close(c);
    } else {
        conn_parse(c);
    }
    conn_leave(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct sio_http_conn *c = arg;
    if (c->closing && !c->dead && !c->lingering) {
        c->depth++;
        close_output_done(c);
        conn_leave(c);
    }
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct sio_http_conn *c = arg;
    c->depth++;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_kill(c);
    conn_leave(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_http_conn *c = arg;
    c->depth++;
    sio_log_debug(topic, "%p: timeout", (void *)c);
    conn_kill(c);
    conn_leave(c);
}

struct sio_http_conn *sio_http_conn_new(struct bufferevent *bev,
                                        const struct sio_http_limits *lim,
                                        const struct sio_http_cbs *cbs, void *ud)
{
    struct sio_http_conn *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->timer = evtimer_new(bufferevent_get_base(bev), conn_timer_cb, c);
    if (!c->timer)
        goto fail_c;
    c->bev = bev;
    c->lim = *lim;
    if (!c->lim.max_header_bytes) c->lim.max_header_bytes = 16384;
    if (!c->lim.max_url) c->lim.max_url = 8192;
    if (!c->lim.header_timeout_ms) c->lim.header_timeout_ms = 30000;
    if (!c->lim.idle_timeout_ms) c->lim.idle_timeout_ms = 5000;
    if (!c->lim.close_timeout_ms) c->lim.close_timeout_ms = 5000;
    c->cbs = *cbs;
    c->ud = ud;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    sio_buf_init(&c->arena);
    sio_buf_init(&c->body);
    sio_buf_init(&c->xlead);
    sio_buf_init(&c->xct);
    sio_buf_init(&c->raw);
    bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    arm_timer(c, c->lim.header_timeout_ms);
    return c;
fail_c:
    free(c);
fail:
    sio_tls_bev_free(bev);
    return NULL;
}

struct sio_http_conn *sio_http_conn_adopt(struct bufferevent *bev,
                                          const struct sio_http_limits *lim,
                                          const struct sio_http_cbs *cbs, void *ud,
                                          const struct sio_buf *in, const struct sio_buf *out)
{
    /* before the callbacks exist: nothing runs until the loop does. The
     * input's end belongs to the bufferevent (frozen); its front is ours,
     * and these bytes come before any it reads. */
    if ((out->len && evbuffer_add(bufferevent_get_output(bev), out->data, out->len) < 0) ||
        (in->len && evbuffer_prepend(bufferevent_get_input(bev), in->data, in->len) < 0)) {
        sio_tls_bev_free(bev);
        return NULL;
    }
    struct sio_http_conn *c = sio_http_conn_new(bev, lim, cbs, ud);
    if (c && in->len)
        bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    return c;
}

/* Append a copy of b's bytes to out (b keeps them). evbuffer_copyout()
 * refuses the output buffer of a bufferevent (its start is frozen); a peek
 * does not. 0 or -ENOMEM. */
static int copy_evbuf(struct evbuffer *b, struct sio_buf *out)
{
    int n = evbuffer_peek(b, -1, NULL, NULL, 0);
    if (n <= 0)
        return 0;
    struct evbuffer_iovec stackv[16];
    struct evbuffer_iovec *v = n <= 16 ? stackv : malloc((size_t)n * sizeof *v);
    if (!v || sio_buf_reserve(out, evbuffer_get_length(b)) < 0) {
        if (v != stackv)
            free(v);
        return -ENOMEM;
    }
    n = evbuffer_peek(b, -1, NULL, v, n);
    for (int i = 0; i < n; i++)
        sio_buf_append(out, v[i].iov_base, v[i].iov_len);     /* reserved: cannot fail */
    if (v != stackv)
        free(v);
    return 0;
}

int sio_http_conn_handoff(struct sio_http_conn *c, struct sio_buf *in, struct sio_buf *out,
                          void **tls)
{
    *tls = NULL;
    if (!c->lim.keep_raw || !c->at_headers || c->dead || c->closing || c->depth == 0)
        return -EINVAL;
    if (c->raw_lost)
        return -EMSGSIZE;
    size_t in0 = in->len, out0 = out->len;
    /* copies, never the evbuffer chains: an earlier reply may reference
     * memory of this thread (shared packets), released by its cleanup
     * callback when the bufferevent is freed below, on this thread */
    if (sio_buf_append(in, c->raw.data, c->raw.len) < 0 ||
        copy_evbuf(bufferevent_get_input(c->bev), in) < 0 ||
        copy_evbuf(bufferevent_get_output(c->bev), out) < 0) {
        in->len = in0;
        out->len = out0;
        return -ENOMEM;
    }
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    if (ssl) {
        /* not bufferevent_setfd(): on an OpenSSL bufferevent it resets the
         * SSL. Made without BEV_OPT_CLOSE_ON_FREE, the bufferevent frees
         * neither the SSL nor the socket; its events go when it is
         * finalized, at the latest when the libevent callback we are in
         * returns (the caller hands it on only after that) */
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
        *tls = ssl;
    } else {
        /* the bufferevent forgets the socket (its events are deleted now,
         * on this thread), so freeing it does not close it */
        bufferevent_setfd(c->bev, -1);
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
    evtimer_del(c->timer);
    c->busy = false;
    c->at_headers = false;
    c->detached = true;     /* no on_close, no bufferevent_free in conn_free */
    c->dead = true;         /* freed when on_request returns (depth > 0) */
    return (int)fd;
}

/* After a reply: close, or get ready for the next request. */
static void finish(struct sio_http_conn *c, bool keep)
{
    c->busy = false;
    sio_buf_reset(&c->xlead);
    sio_buf_reset(&c->xct);
    if (c->body.cap > 65536)    /* an idle connection keeps no big body buffer */
        sio_buf_clear(&c->body);
    if (!keep) {
        sio_http_conn_close(c);
        return;
    }
    http_parser_pause(&c->parser, 0);
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (evbuffer_get_length(in) > 0) {
        arm_timer(c, c->lim.header_timeout_ms);
        bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    } else {
        arm_timer(c, c->lim.idle_timeout_ms);
    }
}

int sio_http_set_extra(struct sio_http_conn *c, const char *lead, size_t lead_len,
                       const char *after_ct, size_t after_ct_len)
{
    sio_buf_reset(&c->xlead);
    sio_buf_reset(&c->xct);
    if (sio_buf_append(&c->xlead, lead, lead_len) < 0 ||
        sio_buf_append(&c->xct, after_ct, after_ct_len) < 0)
        return -ENOMEM;
    return 0;
}

/* Status line, the extra lead lines, pre (with the after-Content-Type
 * lines placed after its first line when that is Content-Type, else
 * first), Content-Length when cl >= 0, post, then Date and Connection. */
static void write_head(struct sio_http_conn *c, struct evbuffer *out, const char *status,
                       const char *pre, long long cl, const char *post)
{
    evbuffer_add_printf(out, "HTTP/1.1 %s\r\n", status);
    if (c->xlead.len)
        evbuffer_add(out, c->xlead.data, c->xlead.len);
    if (strncmp(pre, "Content-Type:", 13) == 0) {
        const char *eol = strstr(pre, "\r\n");
        size_t n = eol ? (size_t)(eol + 2 - pre) : strlen(pre);
        evbuffer_add(out, pre, n);
        pre += n;
    }
    if (c->xct.len)
        evbuffer_add(out, c->xct.data, c->xct.len);
    evbuffer_add(out, pre, strlen(pre));
    if (cl >= 0)
        evbuffer_add_printf(out, "Content-Length: %lld\r\n", cl);
    evbuffer_add_printf(out, "%sDate: %s\r\n%s", post, sio_http_date(),
                        c->req.keep_alive ? "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                                          : "Connection: close\r\n");
}

/* An exchange's reply: the head as HTTP/1.1 would write it, then the
 * body (inline bytes, or moved out of bodybuf), to the carrier. */
static void x_reply(struct sio_http_conn *c, const char *status, const char *pre, long long cl,
                    const char *post, const void *body, size_t len, struct evbuffer *bodybuf)
{
    struct evbuffer *head = evbuffer_new();
    c->busy = false;
    /* the carrier may end its stream (and free c) inside respond */
    c->depth++;
    if (head) {
        write_head(c, head, status, pre, cl, post);
        evbuffer_add(head, "\r\n", 2);
        if (len)
            evbuffer_add(head, body, len);
        if (c->ximpl)
            c->xops->respond(c->ximpl, head, bodybuf);
        evbuffer_free(head);
    } else if (c->ximpl) {
        c->xops->cancel(c->ximpl);
    }
    if (bodybuf)
        evbuffer_drain(bodybuf, evbuffer_get_length(bodybuf));
    sio_buf_reset(&c->xlead);
    sio_buf_reset(&c->xct);
    conn_leave(c);
}

void sio_http_reply(struct sio_http_conn *c, const char *status, const char *pre,
                    bool chunked, const void *body, size_t len)
{
    if (!c->busy || c->dead || c->closing)
        return;
    if (c->xops) {
        x_reply(c, status, pre, -1, "", body, len, NULL);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    write_head(c, out, status, pre, -1, "");
    if (chunked) {
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n\r\n", 30);
        if (len) {
            evbuffer_add_printf(out, "%zx\r\n", len);
            evbuffer_add(out, body, len);
            evbuffer_add(out, "\r\n", 2);
        }
        evbuffer_add(out, "0\r\n\r\n", 5);
    } else {
        evbuffer_add(out, "\r\n", 2);
        if (len)
            evbuffer_add(out, body, len);
    }
    finish(c, c->req.keep_alive);
}

void sio_http_reply_evbuf(struct sio_http_conn *c, const char *status,
                          const char *pre_ct, const char *post_cl, struct evbuffer *body)
{
    if (!c->busy || c->dead || c->closing) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    if (c->xops) {
        x_reply(c, status, pre_ct, (long long)evbuffer_get_length(body), post_cl, NULL, 0, body);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    write_head(c, out, status, pre_ct, (long long)evbuffer_get_length(body), post_cl);
    evbuffer_add(out, "\r\n", 2);
    evbuffer_add_buffer(out, body);
    finish(c, c->req.keep_alive);
}

void sio_http_reply_chunked_evbuf(struct sio_http_conn *c, const char *status, const char *pre,
                                  struct evbuffer *body)
{
    if (!c->busy || c->dead || c->closing) {
        evbuffer_drain(body, evbuffer_get_length(body));
        return;
    }
    if (c->xops) {
        x_reply(c, status, pre, -1, "", NULL, 0, body);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    write_head(c, out, status, pre, -1, "");
    evbuffer_add(out, "Transfer-Encoding: chunked\r\n\r\n", 30);
    size_t len = evbuffer_get_length(body);
    if (len) {
        evbuffer_add_printf(out, "%zx\r\n", len);
        evbuffer_add_buffer(out, body);
        evbuffer_add(out, "\r\n", 2);
    }
    evbuffer_add(out, "0\r\n\r\n", 5);
    finish(c, c->req.keep_alive);
}

void sio_http_reply_raw_close(struct sio_http_conn *c, const char *raw, size_t len)
{
    if (c->dead || c->closing)
        return;
    if (c->xops) {
        /* the carrier ends the stream, not the connection it shares */
        struct evbuffer *head = evbuffer_new();
        c->busy = false;
        c->depth++;
        if (head && evbuffer_add(head, raw, len) == 0 && c->ximpl)
            c->xops->respond(c->ximpl, head, NULL);
        else if (c->ximpl)
            c->xops->cancel(c->ximpl);
        if (head)
            evbuffer_free(head);
        conn_leave(c);
        return;
    }
    evbuffer_add(bufferevent_get_output(c->bev), raw, len);
    c->busy = false;
    sio_http_conn_close(c);
}

/* ---------- exchanges (http1.h) ---------- */

struct sio_http_conn *sio_http_exchange_new(const struct sio_http_xops *ops, void *impl,
                                            const struct sio_http_cbs *cbs, void *ud)
{
    struct sio_http_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->xops = ops;
    c->ximpl = impl;
    c->cbs = *cbs;
    c->cbs.on_headers = NULL;
    c->cbs.on_h2 = NULL;
    c->ud = ud;
    c->h2_checked = true;
    sio_buf_init(&c->arena);
    sio_buf_init(&c->body);
    sio_buf_init(&c->xlead);
    sio_buf_init(&c->xct);
    sio_buf_init(&c->raw);
    return c;
}

void sio_http_exchange_request(struct sio_http_conn *c, struct sio_http_req *req)
{
    if (c->dead || c->busy)
        return;
    c->req = *req;
    c->busy = true;
    c->depth++;
    c->cbs.on_request(c, &c->req, c->ud);
    conn_leave(c);
}

void sio_http_exchange_free(struct sio_http_conn *c)
{
    c->ximpl = NULL;
    c->busy = false;
    c->depth++;
    c->dead = true;
    conn_leave(c);
}

bool sio_http_is_exchange(const struct sio_http_conn *c)
{
    return c->xops != NULL;
}

struct bufferevent *sio_http_conn_tunnel(struct sio_http_conn *c, const char *status,
                                         const char *pre)
{
    if (!c->xops || !c->ximpl || !c->busy || c->dead)
        return NULL;
    struct evbuffer *head = evbuffer_new();
    if (!head)
        return NULL;
    write_head(c, head, status, pre, -1, "");
    evbuffer_add(head, "\r\n", 2);
    c->depth++;
    struct bufferevent *bev = c->xops->tunnel(c->ximpl, head);
    evbuffer_free(head);
    if (bev) {
        c->busy = false;
        c->ximpl = NULL;
        c->detached = true;
        c->dead = true;
    }
    conn_leave(c);
    return bev;
}

/* h2.c: HTTP/2 server connections over nghttp2 (see h2.h).
 *
 * nghttp2 parses and frames; this file moves bytes between it and the
 * bufferevent, keeps each request's headers and body, and turns each
 * exchange's reply (an HTTP/1.1 message, http1.h) back into a response:
 * http_parser reads the head, the body goes out through a data provider.
 *
 * Reentrancy: nghttp2_session_send() must not run inside nghttp2's own
 * callbacks, and a reply may come from inside one (on_request runs from
 * on_frame_recv). send_now() therefore only marks the connection while
 * nghttp2 is on the stack; whoever called nghttp2 sends on return. A
 * reply (or cancel, or tunnel) is sent from the loop (send_soon), so
 * that the stream, and with it the exchange, never ends inside the
 * owner's sio_http_reply*() call.
 * Freeing follows http1.c: marked dead, freed when the outermost entry
 * point returns.
 */
#include "edge/http/h2.h"
#include "edge/http/tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <sio/log.h>
#include "base/buf.h"
#include "base/vec.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.h2");

/* past this much unsent output, nghttp2 waits (send_cb says WOULDBLOCK) */
#define OUT_HIGH (256u << 10)

struct hoff {
    size_t n, nl, v, vl;        /* name and value offsets in the arena */
};

struct h2_stream {
    struct h2_stream *prev, *next;
    struct sio_h2_conn *c;
    int32_t id;
    struct sio_buf arena;       /* NUL-terminated names and values */
    struct hoff *ho;
    size_t nho, hocap;
    size_t hbytes;              /* header list size so far */
    struct sio_buf body;
    struct event *req_ev;       /* the request must be complete by then */
    bool too_big;               /* the body passed max_body: 413 */
    bool delivered;
    bool head;                  /* a HEAD request: no body in the reply */
    struct sio_http_hdr *hdrs;
    struct sio_http_req req;
    struct sio_http_conn *x;    /* its exchange, once delivered */
    struct evbuffer *out;       /* response body not yet sent */
    bool responded;
    /* tunnel (RFC 8441) */
    struct bufferevent *mine;   /* our end of the pair; NULL: not a tunnel */
    bool deferred;              /* its data provider waits for bytes */
    bool tunnel_eof;            /* the WebSocket side is gone */
    size_t unacked;             /* DATA bytes not yet taken by the WebSocket:
                                 * the stream's window opens as it takes them */
};

struct sio_h2_conn {
    struct bufferevent *bev;
    nghttp2_session *ng;
    struct sio_h2_limits lim;
    struct sio_h2_cbs cbs;
    void *ud;
    struct h2_stream *streams;
    size_t nstreams;
    struct event *timer;
    struct event *send_ev;      /* a send asked for while nghttp2 was busy */
    int in_ng;                  /* nghttp2 calls on the stack */
    bool send_pending;
    int depth;
    bool dead;
    bool closing;               /* GOAWAY sent: close when done */
    bool aborted;               /* no on_close */
    bool broken;                /* nghttp2 refused the input: closing */
};

static void conn_leave(struct sio_h2_conn *c);
static void send_now(struct sio_h2_conn *c);
static void send_soon(struct sio_h2_conn *c);

/* ---------- streams ---------- */

static void stream_free(struct h2_stream *s)
{
    struct sio_h2_conn *c = s->c;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    c->nstreams--;
    if (s->req_ev)
        event_free(s->req_ev);
    if (s->mine) {
        /* the WebSocket on the other end sees an EOF and closes */
        bufferevent_flush(s->mine, EV_WRITE, BEV_FINISHED);
        bufferevent_free(s->mine);
    }
    if (s->x)
        sio_http_exchange_free(s->x);
    if (s->out)
        evbuffer_free(s->out);
    sio_buf_clear(&s->arena);
    sio_buf_clear(&s->body);
    free(s->ho);
    free(s->hdrs);
    free(s);
}

/* A request still incomplete after request_timeout_ms (a client that
 * sends its headers or body slowly, holding a stream slot): reset. */
static void req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2_stream *s = arg;
    struct sio_h2_conn *c = s->c;
    sio_log_debug(topic, "%p: stream %d: request incomplete in time, reset", (void *)c, s->id);
    nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    c->depth++;
    send_now(c);
    conn_leave(c);
}

static struct h2_stream *stream_new(struct sio_h2_conn *c, int32_t id)
{
    struct h2_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->req_ev = evtimer_new(bufferevent_get_base(c->bev), req_timeout_cb, s);
    if (!s->req_ev) {
        free(s);
        return NULL;
    }
    struct timeval tv = { c->lim.request_timeout_ms / 1000,
                          (c->lim.request_timeout_ms % 1000) * 1000 };
    evtimer_add(s->req_ev, &tv);
    s->c = c;
    s->id = id;
    sio_buf_init(&s->arena);
    sio_buf_init(&s->body);
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    c->nstreams++;
    evtimer_del(c->timer);
    return s;
}

static int stream_add_header(struct h2_stream *s, const char *n, size_t nl, const char *v,
                             size_t vl)
{
    if (SIO_VEC_ROOM(s->ho, s->nho, s->hocap, 16) < 0)
        return -ENOMEM;
    struct hoff *h = &s->ho[s->nho];
    h->n = s->arena.len;
    h->nl = nl;
    if (sio_buf_append(&s->arena, n, nl) < 0 || sio_buf_append_byte(&s->arena, 0) < 0)
        return -ENOMEM;
    h->v = s->arena.len;
    h->vl = vl;
    if (sio_buf_append(&s->arena, v, vl) < 0 || sio_buf_append_byte(&s->arena, 0) < 0)
        return -ENOMEM;
    s->nho++;
    return 0;
}

static const char *pseudo(const struct h2_stream *s, const char *name, size_t *len)
{
    const char *a = (const char *)s->arena.data;
    for (size_t i = 0; i < s->nho; i++)
        if (strcmp(a + s->ho[i].n, name) == 0) {
            if (len)
                *len = s->ho[i].vl;
            return a + s->ho[i].v;
        }
    return NULL;
}

static int method_of(const char *name)
{
    for (int m = 0; m < 64; m++) {
        const char *n = http_method_str((enum http_method)m);
        if (!n || strcmp(n, "<unknown>") == 0)
            break;
        if (strcmp(n, name) == 0)
            return m;
    }
    return -1;
}

/* The request of s into s->req (headers kept in s->arena). */
static int stream_build(struct h2_stream *s)
{
    size_t pathl = 0;
    const char *method = pseudo(s, ":method", NULL);
    const char *path = pseudo(s, ":path", &pathl);
    const char *auth = pseudo(s, ":authority", NULL);
    const char *proto = pseudo(s, ":protocol", NULL);
    if (!method || !path)
        return -EINVAL;
    int m = method_of(method);
    if (m < 0)
        return -EINVAL;
    s->hdrs = calloc(s->nho + 1, sizeof *s->hdrs);
    if (!s->hdrs)
        return -ENOMEM;
    const char *a = (const char *)s->arena.data;
    size_t n = 0;
    bool host = false;
    for (size_t i = 0; i < s->nho; i++) {
        const char *name = a + s->ho[i].n;
        if (name[0] == ':')
            continue;
        if (strcmp(name, "host") == 0)
            host = true;
        s->hdrs[n++] = (struct sio_http_hdr){ name, s->ho[i].nl, a + s->ho[i].v, s->ho[i].vl };
    }
    /* the Host of HTTP/1.1 is :authority here (CORS compares it) */
    if (!host && auth)
        s->hdrs[n++] = (struct sio_http_hdr){ "host", 4, auth, strlen(auth) };
    if (sio_buf_reserve(&s->body, 1) < 0)
        return -ENOMEM;
    s->body.data[s->body.len] = 0;
    struct sio_http_req *r = &s->req;
    memset(r, 0, sizeof *r);
    r->method = m;
    r->method_name = method;
    r->url = path;
    r->url_len = pathl;
    const char *q = memchr(path, '?', pathl);
    r->path = path;
    r->path_len = q ? (size_t)(q - path) : pathl;
    r->query = q ? q + 1 : path + pathl;
    r->query_len = q ? pathl - (size_t)(q + 1 - path) : 0;
    r->hdrs = s->hdrs;
    r->nhdrs = n;
    r->body = s->body.data;
    r->body_len = s->body.len;
    r->keep_alive = true;
    r->protocol = proto;
    r->scheme = pseudo(s, ":scheme", NULL);
    s->head = m == HTTP_HEAD;
    return 0;
}

static const struct sio_http_xops xops;

/* The request is complete: to the owner, as an exchange. */
static void stream_deliver(struct h2_stream *s)
{
    struct sio_h2_conn *c = s->c;
    if (s->delivered)
        return;
    s->delivered = true;
    evtimer_del(s->req_ev);
    if (s->too_big) {
        static const nghttp2_nv nv[] = {
            { (uint8_t *)":status", (uint8_t *)"413", 7, 3, NGHTTP2_NV_FLAG_NONE },
            { (uint8_t *)"content-length", (uint8_t *)"0", 14, 1, NGHTTP2_NV_FLAG_NONE },
        };
        s->responded = true;
        nghttp2_submit_response(c->ng, s->id, nv, 2, NULL);
        return;
    }
    int rc = stream_build(s);
    void *sud = rc == 0 && !c->closing ? c->cbs.on_stream(c, c->ud) : NULL;
    if (sud)
        s->x = sio_http_exchange_new(&xops, s, &c->cbs.http, sud);
    if (!s->x) {
        if (sud && c->cbs.http.on_close)
            c->cbs.http.on_close(NULL, sud);
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id,
                                  rc == -EINVAL ? NGHTTP2_PROTOCOL_ERROR
                                                : NGHTTP2_REFUSED_STREAM);
        return;
    }
    sio_http_exchange_request(s->x, &s->req);
}

/* ---------- replies (http1.h's exchange) ---------- */

struct resp {
    nghttp2_nv nv[96];
    size_t n;
    char status[4];
    struct evbuffer *body;
    bool skip_body;
    bool bad;
};

static int rp_field(http_parser *p, const char *at, size_t len)
{
    struct resp *r = p->data;
    if (r->n == sizeof r->nv / sizeof r->nv[0]) {
        r->bad = true;
        return -1;
    }
    /* the head was pulled up into one piece: each field comes whole */
    for (size_t i = 0; i < len; i++)
        ((char *)at)[i] = (char)tolower((unsigned char)at[i]);
    r->nv[r->n++] = (nghttp2_nv){ (uint8_t *)at, (uint8_t *)"", len, 0, NGHTTP2_NV_FLAG_NONE };
    return 0;
}

static int rp_value(http_parser *p, const char *at, size_t len)
{
    struct resp *r = p->data;
    if (!r->n)
        return -1;
    r->nv[r->n - 1].value = (uint8_t *)at;
    r->nv[r->n - 1].valuelen = len;
    return 0;
}

static int rp_headers_done(http_parser *p)
{
    struct resp *r = p->data;
    snprintf(r->status, sizeof r->status, "%03u", p->status_code % 1000);
    return r->skip_body ? 1 : 0;
}

static int rp_body(http_parser *p, const char *at, size_t len)
{
    struct resp *r = p->data;
    return evbuffer_add(r->body, at, len) < 0 ? -1 : 0;
}

static const http_parser_settings rp_settings = {
    .on_header_field = rp_field,
    .on_header_value = rp_value,
    .on_headers_complete = rp_headers_done,
    .on_body = rp_body,
};

/* HTTP/2 forbids the connection-specific fields (RFC 9113 8.2.2) */
static bool conn_specific(const nghttp2_nv *nv)
{
    static const char *const names[] = { "connection", "keep-alive", "proxy-connection",
                                         "transfer-encoding", "upgrade" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (nv->namelen == strlen(names[i]) && memcmp(nv->name, names[i], nv->namelen) == 0)
            return true;
    return false;
}

static ssize_t data_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    struct h2_stream *s = src->ptr;
    struct evbuffer *b = s->mine ? bufferevent_get_input(s->mine) : s->out;
    int n = evbuffer_remove(b, buf, len);
    if (n < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    if (!s->mine) {
        if (evbuffer_get_length(b) == 0)
            *flags |= NGHTTP2_DATA_FLAG_EOF;
        return n;
    }
    if (n > 0)
        return n;
    if (s->tunnel_eof) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        return 0;
    }
    s->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
}

/* Parse head (an HTTP/1.1 response head, maybe with body bytes) into
 * name/value pairs; 0 or -1. */
static int parse_head(struct h2_stream *s, struct evbuffer *head, struct resp *r)
{
    size_t hl = evbuffer_get_length(head);
    char *p = (char *)evbuffer_pullup(head, -1);
    if (!p)
        return -1;
    http_parser hp;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = r;
    r->skip_body = s->head;
    size_t n = http_parser_execute(&hp, &rp_settings, p, hl);
    enum http_errno e = HTTP_PARSER_ERRNO(&hp);
    if (r->bad || !r->status[0] || (e != HPE_OK && n < hl && !r->skip_body))
        return -1;
    return 0;
}

static void x_respond(void *impl, struct evbuffer *head, struct evbuffer *body)
{
    struct h2_stream *s = impl;
    struct sio_h2_conn *c = s->c;
    if (s->responded)
        return;
    s->responded = true;
    s->out = evbuffer_new();
    struct resp r = { .n = 0, .body = s->out };
    if (!s->out || parse_head(s, head, &r) < 0) {
        sio_log_debug(topic, "%p: stream %d: reply not understood", (void *)c, s->id);
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
        send_soon(c);
        return;
    }
    nghttp2_nv nv[97];
    size_t k = 0;
    nv[k++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)r.status, 7, 3,
                            NGHTTP2_NV_FLAG_NONE };
    for (size_t i = 0; i < r.n; i++)
        if (!conn_specific(&r.nv[i]))
            nv[k++] = r.nv[i];
    if (body && !s->head)
        evbuffer_add_buffer(s->out, body);
    if (s->head)
        evbuffer_drain(s->out, evbuffer_get_length(s->out));
    nghttp2_data_provider dp = { .source.ptr = s, .read_callback = data_read };
    int rc = nghttp2_submit_response(c->ng, s->id, nv, k,
                                     evbuffer_get_length(s->out) ? &dp : NULL);
    if (rc < 0)
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
    send_soon(c);
}

static void x_cancel(void *impl)
{
    struct h2_stream *s = impl;
    if (s->responded)
        return;
    s->responded = true;
    nghttp2_submit_rst_stream(s->c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    send_soon(s->c);
}

static void tunnel_read_cb(struct bufferevent *bev, void *arg)
{
    struct h2_stream *s = arg;
    struct sio_h2_conn *c = s->c;
    size_t max = c->lim.max_tunnel_out;
    if (evbuffer_get_length(bufferevent_get_input(bev)) > max) {
        /* the client does not take what its WebSocket is sent */
        sio_log_debug(topic, "%p: stream %d: %zu bytes unsent, reset", (void *)c, s->id,
                      evbuffer_get_length(bufferevent_get_input(bev)));
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
    } else if (s->deferred) {
        s->deferred = false;
        nghttp2_session_resume_data(c->ng, s->id);
    }
    c->depth++;
    send_now(c);
    conn_leave(c);
}

/* The WebSocket took what the client sent: open the stream's window. */
static void tunnel_write_cb(struct bufferevent *bev, void *arg)
{
    struct h2_stream *s = arg;
    struct sio_h2_conn *c = s->c;
    if (!s->unacked)
        return;
    nghttp2_session_consume_stream(c->ng, s->id, s->unacked);
    s->unacked = 0;
    c->depth++;
    send_now(c);
    conn_leave(c);
}

static void tunnel_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct h2_stream *s = arg;
    struct sio_h2_conn *c = s->c;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) || s->tunnel_eof)
        return;
    s->tunnel_eof = true;
    if (s->deferred) {
        s->deferred = false;
        nghttp2_session_resume_data(c->ng, s->id);
    }
    c->depth++;
    send_now(c);
    conn_leave(c);
}

static struct bufferevent *x_tunnel(void *impl, struct evbuffer *head)
{
    struct h2_stream *s = impl;
    struct sio_h2_conn *c = s->c;
    if (s->responded || s->mine)
        return NULL;
    struct resp r = { .n = 0 };
    r.body = evbuffer_new();
    int prc = r.body ? parse_head(s, head, &r) : -1;
    if (r.body)
        evbuffer_free(r.body);
    if (prc < 0)
        return NULL;
    struct bufferevent *pair[2];
    if (bufferevent_pair_new(bufferevent_get_base(c->bev), BEV_OPT_DEFER_CALLBACKS, pair) < 0)
        return NULL;
    nghttp2_nv nv[97];
    size_t k = 0;
    nv[k++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)r.status, 7, 3,
                            NGHTTP2_NV_FLAG_NONE };
    for (size_t i = 0; i < r.n; i++)
        if (!conn_specific(&r.nv[i]) && !(r.nv[i].namelen == 14 &&
                                          memcmp(r.nv[i].name, "content-length", 14) == 0))
            nv[k++] = r.nv[i];
    nghttp2_data_provider dp = { .source.ptr = s, .read_callback = data_read };
    s->mine = pair[0];
    if (nghttp2_submit_response(c->ng, s->id, nv, k, &dp) < 0) {
        s->mine = NULL;
        bufferevent_free(pair[0]);
        bufferevent_free(pair[1]);
        return NULL;
    }
    s->responded = true;
    s->x = NULL;        /* the exchange is freed by the caller's http1.c */
    bufferevent_setcb(s->mine, tunnel_read_cb, tunnel_write_cb, tunnel_event_cb, s);
    bufferevent_enable(s->mine, EV_READ | EV_WRITE);
    send_soon(c);
    return pair[1];
}

static const struct sio_http_xops xops = { x_respond, x_cancel, x_tunnel };

/* ---------- nghttp2 callbacks ---------- */

static ssize_t send_cb(nghttp2_session *ng, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    struct sio_h2_conn *c = ud;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) >= OUT_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (evbuffer_add(out, data, len) < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static int begin_headers_cb(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct sio_h2_conn *c = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct h2_stream *s = stream_new(c, f->hd.stream_id);
    if (!s)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    nghttp2_session_set_stream_user_data(ng, f->hd.stream_id, s);
    return 0;
}

static int header_cb(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud)
{
    struct sio_h2_conn *c = ud;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s || s->delivered)
        return 0;   /* trailers: not used */
    s->hbytes += namelen + valuelen + 32;
    if (s->hbytes > c->lim.max_header_list) {
        /* as HTTP/1.1 closes after its 431: an HPACK bomb costs its sender
         * the connection, not us the memory */
        sio_log_debug(topic, "%p: stream %d: header list over %zu bytes", (void *)c,
                      f->hd.stream_id, c->lim.max_header_list);
        nghttp2_session_terminate_session(ng, NGHTTP2_ENHANCE_YOUR_CALM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (stream_add_header(s, (const char *)name, namelen, (const char *)value, valuelen) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int data_chunk_cb(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *ud)
{
    struct sio_h2_conn *c = ud;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);
    /* flow control by hand (no_auto_window_update): the connection's
     * window reopens at once, a stream's when its bytes are taken */
    nghttp2_session_consume_connection(ng, len);
    if (s && s->mine && !s->tunnel_eof) {
        /* the WebSocket side reads them from the pair; a paused one (its
         * event rate) does not, and the client runs out of window */
        if (bufferevent_write(s->mine, data, len) < 0)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        s->unacked += len;
        return 0;
    }
    nghttp2_session_consume_stream(ng, id, len);
    if (!s || s->mine)
        return 0;
    if (s->delivered || s->too_big)
        return 0;
    if (s->body.len + len > c->lim.max_body) {
        s->too_big = true;
        sio_buf_clear(&s->body);
        return 0;
    }
    return sio_buf_append(&s->body, data, len) < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int frame_recv_cb(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s)
        return 0;
    bool end = f->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (s->delivered)
            break;
        /* an extended CONNECT is answered before its stream ends */
        if (end || (pseudo(s, ":protocol", NULL) && f->headers.cat == NGHTTP2_HCAT_REQUEST))
            stream_deliver(s);
        break;
    case NGHTTP2_DATA:
        if (end && s->mine)
            bufferevent_flush(s->mine, EV_WRITE, BEV_FINISHED);     /* the client is done */
        else if (end)
            stream_deliver(s);
        break;
    default:
        break;
    }
    return 0;
}

static int frame_send_cb(nghttp2_session *ng, const nghttp2_frame *f, void *ud)
{
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    /* a tunnel whose WebSocket is gone has sent its END_STREAM: done */
    if (s && s->mine && f->hd.type == NGHTTP2_DATA && (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_NO_ERROR);
    return 0;
}

static int stream_close_cb(nghttp2_session *ng, int32_t id, uint32_t err, void *ud)
{
    struct sio_h2_conn *c = ud;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s)
        return 0;
    nghttp2_session_set_stream_user_data(ng, id, NULL);
    stream_free(s);
    if (c->nstreams == 0 && !c->dead) {
        unsigned ms = c->closing ? c->lim.close_timeout_ms : c->lim.idle_timeout_ms;
        struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
        evtimer_add(c->timer, &tv);
    }
    return 0;
}

/* ---------- the connection ---------- */

static void conn_free(struct sio_h2_conn *c)
{
    while (c->streams) {
        struct h2_stream *s = c->streams;
        if (s->id && c->ng)
            nghttp2_session_set_stream_user_data(c->ng, s->id, NULL);
        stream_free(s);
    }
    if (!c->aborted && c->cbs.on_close)
        c->cbs.on_close(c, c->ud);
    nghttp2_session_del(c->ng);
    event_free(c->timer);
    event_free(c->send_ev);
    sio_tls_bev_free(c->bev);
    free(c);
}

__attribute__((noinline))
static void conn_leave(struct sio_h2_conn *c)
{
    if (--c->depth == 0 && c->dead)
        conn_free(c);
}

static void conn_kill(struct sio_h2_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
}

/* Closing and nothing left to write: done. */
static void check_done(struct sio_h2_conn *c)
{
    if (c->dead)
        return;
    bool out_empty = evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) && out_empty)
        conn_kill(c);
}

static void send_now(struct sio_h2_conn *c)
{
    if (c->dead)
        return;
    if (c->in_ng) {
        c->send_pending = true;
        return;
    }
    c->send_pending = false;
    c->in_ng++;
    int rc = nghttp2_session_send(c->ng);
    c->in_ng--;
    if (rc < 0) {
        sio_log_debug(topic, "%p: send: %s", (void *)c, nghttp2_strerror(rc));
        conn_kill(c);
        return;
    }
    if (c->send_pending)    /* a reply made by a callback of that send */
        event_active(c->send_ev, EV_WRITE, 0);
    check_done(c);
}

/* A reply from the owner: sent from the loop, never inside the owner's
 * call, which must not see its exchange freed (the stream may end in the
 * send) before it returns, as with HTTP/1.1. */
static void send_soon(struct sio_h2_conn *c)
{
    if (!c->dead)
        event_active(c->send_ev, EV_WRITE, 0);
}

static void send_ev_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_h2_conn *c = arg;
    c->depth++;
    send_now(c);
    conn_leave(c);
}

static void recv_input(struct sio_h2_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->dead && evbuffer_get_length(in)) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        c->in_ng++;
        ssize_t n = nghttp2_session_mem_recv(c->ng, v.iov_base, v.iov_len);
        c->in_ng--;
        if (n < 0) {
            /* a bad preface (garbage), a flood nghttp2 stopped, a broken
             * frame: it has queued its GOAWAY when it could */
            sio_log_debug(topic, "%p: %s", (void *)c, nghttp2_strerror((int)n));
            evbuffer_drain(in, evbuffer_get_length(in));
            c->closing = true;
            c->broken = true;
            bufferevent_disable(c->bev, EV_READ);
            break;
        }
        evbuffer_drain(in, (size_t)n);
    }
    send_now(c);
    if (c->broken && !c->dead) {
        /* the output (a GOAWAY) gets close_timeout_ms to drain */
        struct timeval tv = { c->lim.close_timeout_ms / 1000,
                              (c->lim.close_timeout_ms % 1000) * 1000 };
        evtimer_add(c->timer, &tv);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_kill(c);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct sio_h2_conn *c = arg;
    c->depth++;
    recv_input(c);
    conn_leave(c);
}

static void write_cb(struct bufferevent *bev, void *arg)
{
    struct sio_h2_conn *c = arg;
    c->depth++;
    if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
        !nghttp2_session_want_write(c->ng))
        conn_kill(c);
    else
        send_now(c);
    conn_leave(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct sio_h2_conn *c = arg;
    c->depth++;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_kill(c);
    conn_leave(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_h2_conn *c = arg;
    c->depth++;
    if (c->closing || c->nstreams) {
        conn_kill(c);       /* the close deadline */
    } else {
        sio_log_debug(topic, "%p: idle, GOAWAY", (void *)c);
        sio_h2_conn_goaway(c);
    }
    conn_leave(c);
}

void sio_h2_conn_goaway(struct sio_h2_conn *c)
{
    if (c->dead || c->closing)
        return;
    c->closing = true;
    c->depth++;
    nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(c->ng), NGHTTP2_NO_ERROR,
                          NULL, 0);
    /* open streams may finish; new ones are refused */
    send_now(c);
    if (!c->nstreams && !c->dead) {
        struct timeval tv = { c->lim.close_timeout_ms / 1000,
                              (c->lim.close_timeout_ms % 1000) * 1000 };
        evtimer_add(c->timer, &tv);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_kill(c);
    }
    conn_leave(c);
}

void sio_h2_conn_abort(struct sio_h2_conn *c)
{
    c->aborted = true;
    c->depth++;
    conn_kill(c);
    conn_leave(c);
}

/* base64url (RFC 4648 5, padding optional) into out; length or -1. */
static int b64url_decode(const char *in, uint8_t *out, size_t outcap)
{
    size_t n = strlen(in);
    if (n > 4 * (outcap / 3))
        return -1;
    char *t = malloc(n + 4);
    if (!t)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = in[i];
        if (ch == '=')
            break;
        t[k++] = ch == '-' ? '+' : ch == '_' ? '/' : ch;
    }
    size_t pad = (4 - k % 4) % 4;
    if (pad == 3) {
        free(t);
        return -1;
    }
    for (size_t i = 0; i < pad; i++)
        t[k++] = '=';
    int len = k ? EVP_DecodeBlock(out, (const unsigned char *)t, (int)k) : 0;
    free(t);
    if (len < 0)
        return -1;
    return len - (int)pad;
}

/* stream 1 of an upgrade: the HTTP/1.1 request, copied */
static int upgrade_stream(struct sio_h2_conn *c, const struct sio_h2_upgrade *up)
{
    uint8_t settings[256];
    int sl = b64url_decode(up->settings, settings, sizeof settings);
    if (sl < 0 || sl % 6)
        return -EINVAL;
    const struct sio_http_req *req = up->req;
    struct h2_stream *s = stream_new(c, 1);
    if (!s)
        return -ENOMEM;
    if (nghttp2_session_upgrade2(c->ng, settings, (size_t)sl, req->method == HTTP_HEAD, s) < 0)
        return -EINVAL;     /* s is freed with c */
    const char *m = req->method_name ? req->method_name : "GET";
    if (stream_add_header(s, ":method", 7, m, strlen(m)) < 0 ||
        stream_add_header(s, ":path", 5, req->url, req->url_len) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < req->nhdrs; i++)
        if (stream_add_header(s, req->hdrs[i].name, req->hdrs[i].name_len, req->hdrs[i].value,
                              req->hdrs[i].value_len) < 0)
            return -ENOMEM;
    if (req->body_len && sio_buf_append(&s->body, req->body, req->body_len) < 0)
        return -ENOMEM;
    stream_deliver(s);
    return 0;
}

struct sio_h2_conn *sio_h2_conn_new(struct bufferevent *bev, const struct sio_h2_limits *lim,
                                    const struct sio_h2_cbs *cbs, void *ud,
                                    const struct sio_h2_upgrade *up)
{
    nghttp2_session_callbacks *ncb = NULL;
    nghttp2_option *opt = NULL;
    struct sio_h2_conn *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->bev = bev;
    c->lim = *lim;
    if (!c->lim.max_streams) c->lim.max_streams = 100;
    if (!c->lim.max_header_list) c->lim.max_header_list = 16384;
    if (!c->lim.max_tunnel_out) c->lim.max_tunnel_out = 4u << 20;
    if (!c->lim.idle_timeout_ms) c->lim.idle_timeout_ms = 30000;
    if (!c->lim.close_timeout_ms) c->lim.close_timeout_ms = 5000;
    if (!c->lim.request_timeout_ms) c->lim.request_timeout_ms = 30000;
    c->cbs = *cbs;
    c->ud = ud;
    struct event_base *base = bufferevent_get_base(bev);
    c->timer = evtimer_new(base, timer_cb, c);
    c->send_ev = event_new(base, -1, 0, send_ev_cb, c);
    if (!c->timer || !c->send_ev)
        goto fail_c;
    if (nghttp2_session_callbacks_new(&ncb) != 0 || nghttp2_option_new(&opt) != 0)
        goto fail_c;
    nghttp2_session_callbacks_set_send_callback(ncb, send_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(ncb, begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(ncb, header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(ncb, data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(ncb, frame_recv_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(ncb, frame_send_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(ncb, stream_close_cb);
    /* the attacks nghttp2 bounds itself (docs/SERVER.md "HTTP/2 limits") */
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_stream_reset_rate_limit(opt, 200, 50);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int rc = nghttp2_session_server_new2(&c->ng, ncb, c, opt);
    nghttp2_session_callbacks_del(ncb);
    nghttp2_option_del(opt);
    ncb = NULL;
    opt = NULL;
    if (rc != 0)
        goto fail_c;
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, c->lim.max_streams },
        { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)c->lim.max_header_list },
        { NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1 },
    };
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
        goto fail_c;
    bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    if (up && upgrade_stream(c, up) < 0) {
        c->aborted = true;
        conn_free(c);
        return NULL;
    }
    if (!c->nstreams) {
        struct timeval tv = { c->lim.idle_timeout_ms / 1000,
                              (c->lim.idle_timeout_ms % 1000) * 1000 };
        evtimer_add(c->timer, &tv);
    }
    /* our SETTINGS, and the preface that may be in already, from the loop
     * (the caller holds c before any callback) */
    event_active(c->send_ev, EV_WRITE, 0);
    if (evbuffer_get_length(bufferevent_get_input(bev)))
        bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    return c;
fail_c:
    if (ncb)
        nghttp2_session_callbacks_del(ncb);
    if (opt)
        nghttp2_option_del(opt);
    if (c->ng)
        nghttp2_session_del(c->ng);
    if (c->timer)
        event_free(c->timer);
    if (c->send_ev)
        event_free(c->send_ev);
    free(c);
fail:
    sio_tls_bev_free(bev);
    return NULL;
}

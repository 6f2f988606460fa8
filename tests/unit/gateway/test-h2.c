/* test-h2.c: edge/http/h2.c and the exchange boundary of http1.c.
 *
 * The HTTP/2 tests drive a server connection (sio_h2_conn_new on one end
 * of a bufferevent pair) with nghttp2's client session on the other end,
 * pumping bytes through the loop. */
#include <criterion/criterion.h>
#include <string.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include "edge/http/http1.h"
#include "edge/http/h2.h"

/* ---------- the exchange boundary, with a fake carrier ---------- */

static char got_head[1024];
static char got_body[256];
static int responds, closes, cancels;

static void fx_respond(void *impl, struct evbuffer *head, struct evbuffer *body)
{
    size_t n = evbuffer_get_length(head);
    evbuffer_remove(head, got_head, n < sizeof got_head - 1 ? n : sizeof got_head - 1);
    got_head[n < sizeof got_head - 1 ? n : sizeof got_head - 1] = 0;
    got_body[0] = 0;
    if (body) {
        size_t b = evbuffer_get_length(body);
        evbuffer_remove(body, got_body, b < sizeof got_body - 1 ? b : sizeof got_body - 1);
        got_body[b < sizeof got_body - 1 ? b : sizeof got_body - 1] = 0;
    }
    responds++;
}
static void fx_cancel(void *impl) { cancels++; }
static struct bufferevent *fx_tunnel(void *impl, struct evbuffer *head) { return NULL; }
static const struct sio_http_xops fx = { fx_respond, fx_cancel, fx_tunnel };
static int carrier;     /* the fake carrier's impl pointer */

static int mode;
static void fx_on_request(struct sio_http_conn *c, struct sio_http_req *req, void *ud)
{
    if (mode == 0) {
        sio_http_set_extra(c, "X-Lead: 1\r\n", 11, "X-Ct: 2\r\n", 9);
        sio_http_reply(c, "200 OK", "Content-Type: text/plain\r\nX-Pre: 3\r\n", true, "body!", 5);
    } else if (mode == 1) {
        static const char raw[] = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\nno";
        sio_http_reply_raw_close(c, raw, sizeof raw - 1);
    } else if (mode == 2) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, "moved", 5);
        sio_http_reply_chunked_evbuf(c, "200 OK", "Content-Encoding: gzip\r\n", b);
        evbuffer_free(b);
    }
    /* mode 3: parked, answered by the test */
}
static void fx_on_close(struct sio_http_conn *c, void *ud) { closes++; }

Test(exchange, reply_reaches_the_carrier_as_http1_without_chunking)
{
    static const struct sio_http_cbs cbs = { fx_on_request, fx_on_close, NULL, NULL };
    struct sio_http_req req = { .method = HTTP_GET, .url = "/", .url_len = 1, .keep_alive = true };
    responds = closes = 0;
    mode = 0;
    struct sio_http_conn *c = sio_http_exchange_new(&fx, &carrier, &cbs, NULL);
    cr_assert(c && sio_http_is_exchange(c));
    sio_http_exchange_request(c, &req);
    cr_assert_eq(responds, 1);
    /* the CORS lines where HTTP/1.1 puts them, the body inline, no chunks */
    cr_assert(strncmp(got_head, "HTTP/1.1 200 OK\r\nX-Lead: 1\r\nContent-Type: text/plain\r\n"
                                "X-Ct: 2\r\nX-Pre: 3\r\n", 73) == 0, "%s", got_head);
    cr_assert_null(strstr(got_head, "Transfer-Encoding"), "%s", got_head);
    cr_assert(strstr(got_head, "\r\n\r\nbody!") != NULL, "%s", got_head);
    cr_assert(!sio_http_conn_busy(c));
    sio_http_exchange_free(c);
    cr_assert_eq(closes, 1);
}

Test(exchange, raw_and_evbuf_replies)
{
    static const struct sio_http_cbs cbs = { fx_on_request, fx_on_close, NULL, NULL };
    struct sio_http_req req = { .method = HTTP_GET, .url = "/", .url_len = 1, .keep_alive = true };
    responds = closes = 0;
    mode = 1;
    struct sio_http_conn *c = sio_http_exchange_new(&fx, &carrier, &cbs, NULL);
    sio_http_exchange_request(c, &req);
    cr_assert_str_eq(got_head, "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\n\r\nno");
    sio_http_exchange_free(c);
    mode = 2;
    c = sio_http_exchange_new(&fx, &carrier, &cbs, NULL);
    sio_http_exchange_request(c, &req);
    cr_assert(strstr(got_head, "Content-Encoding: gzip\r\n") != NULL, "%s", got_head);
    cr_assert_str_eq(got_body, "moved");
    sio_http_exchange_free(c);
    cr_assert_eq(closes, 2);
    cr_assert_eq(responds, 2);
}

Test(exchange, close_before_reply_cancels_and_tunnel_needs_a_carrier)
{
    static const struct sio_http_cbs cbs = { fx_on_request, fx_on_close, NULL, NULL };
    struct sio_http_req req = { .method = HTTP_GET, .url = "/", .url_len = 1, .keep_alive = true };
    cancels = closes = 0;
    mode = 3;
    struct sio_http_conn *c = sio_http_exchange_new(&fx, &carrier, &cbs, NULL);
    sio_http_exchange_request(c, &req);
    cr_assert(sio_http_conn_busy(c));
    /* the carrier cannot tunnel: NULL, and c is unchanged */
    cr_assert_null(sio_http_conn_tunnel(c, "200 OK", ""));
    cr_assert(sio_http_conn_busy(c));
    sio_http_conn_close(c);
    cr_assert_eq(cancels, 1);
    sio_http_exchange_free(c);
    cr_assert_eq(closes, 1);
}

/* ---------- a real HTTP/2 connection ---------- */

struct client {
    nghttp2_session *ng;
    struct bufferevent *bev;     /* our end of the pair */
    char status[8];
    char protocol_ok;
    char body[512];
    size_t blen;
    bool closed;
    uint32_t goaway;
    bool got_goaway;
};

static ssize_t c_send(nghttp2_session *s, const uint8_t *d, size_t n, int f, void *ud)
{
    struct client *cl = ud;
    bufferevent_write(cl->bev, d, n);
    return (ssize_t)n;
}
static int c_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *n, size_t nl,
                    const uint8_t *v, size_t vl, uint8_t fl, void *ud)
{
    struct client *cl = ud;
    if (nl == 7 && memcmp(n, ":status", 7) == 0)
        snprintf(cl->status, sizeof cl->status, "%.*s", (int)vl, v);
    return 0;
}
static int c_data(nghttp2_session *s, uint8_t fl, int32_t id, const uint8_t *d, size_t n, void *ud)
{
    struct client *cl = ud;
    if (cl->blen + n < sizeof cl->body) {
        memcpy(cl->body + cl->blen, d, n);
        cl->blen += n;
    }
    return 0;
}
static int c_close(nghttp2_session *s, int32_t id, uint32_t e, void *ud)
{
    ((struct client *)ud)->closed = true;
    return 0;
}
static int c_frame(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    struct client *cl = ud;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        cl->got_goaway = true;
        cl->goaway = f->goaway.error_code;
    }
    return 0;
}

static void c_read(struct bufferevent *bev, void *arg)
{
    struct client *cl = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    uint8_t *p = evbuffer_pullup(in, -1);
    nghttp2_session_mem_recv(cl->ng, p, n);
    evbuffer_drain(in, n);
    nghttp2_session_send(cl->ng);
}

static struct event_base *base;
static struct sio_http_conn *parked;
static struct sio_http_req *parked_req;
static int srv_closed, conn_closed;

static void *s_on_stream(struct sio_h2_conn *h, void *ud) { return (void *)1; }
static void s_on_request(struct sio_http_conn *c, struct sio_http_req *req, void *ud)
{
    if (req->path_len == 4 && memcmp(req->path, "/now", 4) == 0) {
        char b[128];
        const struct sio_http_hdr *host = sio_http_header(req, "host");
        int n = snprintf(b, sizeof b, "%s %s host=%s", req->method_name, req->url,
                         host ? host->value : "-");
        char pre[64];
        snprintf(pre, sizeof pre, "Content-Type: text/plain\r\nContent-Length: %d\r\n", n);
        sio_http_reply(c, "200 OK", pre, false, b, (size_t)n);
        return;
    }
    parked = c;     /* a long-poll: answered later */
    parked_req = req;
}
static void s_on_close(struct sio_http_conn *c, void *ud)
{
    srv_closed++;
    if (c == parked)
        parked = NULL;
}
static void s_conn_close(struct sio_h2_conn *h, void *ud) { conn_closed++; }

static void pump(void)
{
    for (int i = 0; i < 50; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static unsigned req_timeout_ms;

static struct sio_h2_conn *setup(struct client *cl)
{
    memset(cl, 0, sizeof *cl);
    base = event_base_new();
    struct bufferevent *pair[2];
    cr_assert_eq(bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair), 0);
    cl->bev = pair[1];
    bufferevent_setcb(cl->bev, c_read, NULL, NULL, cl);
    bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, c_send);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_frame);
    nghttp2_session_client_new(&cl->ng, cb, cl);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(cl->ng, NGHTTP2_FLAG_NONE, NULL, 0);
    nghttp2_session_send(cl->ng);
    static const struct sio_h2_cbs cbs = { s_on_stream, { s_on_request, s_on_close, NULL, NULL },
                                           s_conn_close };
    struct sio_h2_limits lim = { .max_body = 1000, .request_timeout_ms = req_timeout_ms };
    parked = NULL;
    srv_closed = conn_closed = 0;
    struct sio_h2_conn *h = sio_h2_conn_new(pair[0], &lim, &cbs, NULL, NULL);
    cr_assert_not_null(h);
    pump();
    return h;
}

static int32_t get(struct client *cl, const char *path)
{
    const nghttp2_nv nv[] = {
        { (uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0 },
        { (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 },
        { (uint8_t *)":authority", (uint8_t *)"example.test", 10, 12, 0 },
        { (uint8_t *)":path", (uint8_t *)path, 5, strlen(path), 0 },
    };
    int32_t id = nghttp2_submit_request(cl->ng, NULL, nv, 4, NULL, NULL);
    nghttp2_session_send(cl->ng);
    pump();
    return id;
}

static void teardown(struct client *cl, struct sio_h2_conn *h)
{
    if (h)
        sio_h2_conn_abort(h);
    nghttp2_session_del(cl->ng);
    bufferevent_free(cl->bev);
    event_base_free(base);
}

Test(h2, request_answered_at_once_with_host_from_authority)
{
    struct client cl;
    struct sio_h2_conn *h = setup(&cl);
    cr_assert_eq(nghttp2_session_get_remote_settings(cl.ng, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL), 1);
    cr_assert_eq(nghttp2_session_get_remote_settings(cl.ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 100);
    get(&cl, "/now?x=1");
    cr_assert_str_eq(cl.status, "200");
    cr_assert_eq(cl.blen, strlen("GET /now?x=1 host=example.test"));
    cr_assert(memcmp(cl.body, "GET /now?x=1 host=example.test", cl.blen) == 0);
    cr_assert(cl.closed);
    cr_assert_eq(srv_closed, 1);    /* the exchange went with its stream */
    teardown(&cl, h);
}

Test(h2, long_poll_parked_then_answered_on_its_stream)
{
    struct client cl;
    struct sio_h2_conn *h = setup(&cl);
    get(&cl, "/poll");
    cr_assert_not_null(parked);
    cr_assert_str_eq(cl.status, "");    /* nothing yet */
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "late", 4);
    sio_http_reply_evbuf(parked, "200 OK", "Content-Type: text/plain\r\n", "", b);
    evbuffer_free(b);
    pump();
    cr_assert_str_eq(cl.status, "200");
    cr_assert_eq(cl.blen, 4);
    cr_assert(memcmp(cl.body, "late", 4) == 0);
    teardown(&cl, h);
}

Test(h2, reset_stream_closes_its_exchange_and_goaway_is_sent)
{
    struct client cl;
    struct sio_h2_conn *h = setup(&cl);
    int32_t id = get(&cl, "/poll");
    cr_assert_not_null(parked);
    nghttp2_submit_rst_stream(cl.ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    nghttp2_session_send(cl.ng);
    pump();
    cr_assert_null(parked, "the parked exchange's on_close ran");
    sio_h2_conn_goaway(h);
    pump();
    cr_assert(cl.got_goaway);
    cr_assert_eq(cl.goaway, NGHTTP2_NO_ERROR);
    cr_assert_eq(conn_closed, 1, "an idle connection closes after its GOAWAY");
    teardown(&cl, NULL);
}

Test(h2, a_request_that_never_completes_is_reset)
{
    struct client cl;
    req_timeout_ms = 100;
    struct sio_h2_conn *h = setup(&cl);
    req_timeout_ms = 0;
    const nghttp2_nv nv[] = {
        { (uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0 },
        { (uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0 },
        { (uint8_t *)":authority", (uint8_t *)"example.test", 10, 12, 0 },
        { (uint8_t *)":path", (uint8_t *)"/slow", 5, 5, 0 },
    };
    /* headers, then a body that never comes: the stream holds a slot */
    nghttp2_submit_headers(cl.ng, NGHTTP2_FLAG_NONE, -1, NULL, nv, 4, NULL);
    nghttp2_session_send(cl.ng);
    pump();
    cr_assert(!cl.closed);
    struct timeval tv = { 1, 0 };
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    cr_assert(cl.closed, "the server reset the incomplete request");
    cr_assert_null(parked, "never delivered");
    teardown(&cl, h);
}

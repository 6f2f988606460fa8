/* gateway.c: the gateway's I/O threads: listeners, HTTP routing of the
 * Engine.IO endpoints (handshake, polling, WebSocket upgrade, the exact
 * JS error responses), the handover of connections between threads and
 * the bus sockets; ids and bus sends are in bus.c (see gateway.h, gw.h, bus.h).
 *
 * Bus I/O, per thread: a DEALER to ep.events (2 frames [route, envelope])
 * and a SUB to ep.commands subscribed to the thread's id and "*". The SUB's ZMQ_FD is
 * edge-triggered: the read event drains with ZMQ_DONTWAIT until EAGAIN (the
 * failed receive processes the pending commands, as ZMQ_EVENTS would). We never receive on the DEALER, so sends on it do
 * not steal the SUB's notifications.
 */
#include <errno.h>
#include <sched.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/bufferevent_ssl.h>
#include <event2/thread.h>
#include <http_parser.h>
#include <zmq.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"
#include "proto/eio.h"
#include "proto/sio.h"
#include "edge/http/compress.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.gateway");

static void bus_drain(struct gw_thread *t)
{
    if (t->bus_busy)
        return;     /* a command handler is running; the outer loop drains */
    t->bus_busy = true;
    for (;;) {
        zmq_msg_t tp, m;
        zmq_msg_init(&tp);
        if (zmq_msg_recv(&tp, t->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tp);
            /* EAGAIN: the receive already processed the socket's pending
             * commands and retried, as ZMQ_EVENTS would; the FD is armed */
            break;
        }
        bool more = zmq_msg_more(&tp);
        zmq_msg_init(&m);
        if (!more || zmq_msg_recv(&m, t->sub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tp);
            zmq_msg_close(&m);
            continue;
        }
        while (zmq_msg_more(&m)) {      /* skip extra frames */
            zmq_msg_t x;
            zmq_msg_init(&x);
            int r = zmq_msg_recv(&x, t->sub, ZMQ_DONTWAIT);
            bool xm = r >= 0 && zmq_msg_more(&x);
            zmq_msg_close(&x);
            if (!xm)
                break;
        }
        size_t tl = zmq_msg_size(&tp);
        const char *td = zmq_msg_data(&tp);
        bool mine = (tl == SIO_GW_ID_LEN && memcmp(td, t->id, SIO_GW_ID_LEN) == 0) ||
                    (tl == 1 && td[0] == '*');
        if (mine) {
            struct sio_env env;
            int r = sio_env_decode(zmq_msg_data(&m), zmq_msg_size(&m), &env);
            if (r == 0 && env.kind == SIO_ENV_ADMIN) {
                gw_admin_command(t, &env);
                sio_env_clear(&env);
            } else if (r == 0) {
                gw_sio_command(t, &env);
                sio_env_clear(&env);
            } else {
                sio_log_debug(topic, "bad envelope from hub: %s", sio_strerror(r));
            }
        }
        zmq_msg_close(&tp);
        zmq_msg_close(&m);
    }
    t->bus_busy = false;
}

static void sub_cb(evutil_socket_t fd, short what, void *arg)
{
    bus_drain(arg);
}

/* ---------- connections ---------- */

static void conn_unlink(struct gw_conn *c)
{
    if (c->h2) {            /* its streams go first (each unlinks itself) */
        struct sio_h2_conn *h2 = c->h2;
        c->h2 = NULL;
        sio_h2_conn_abort(h2);
    }
    if (c->counted)
        gw_limits_closed(c->t, c->ip);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->t->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void xforward_cancel(struct gw_conn *c);

static void http_on_close(struct sio_http_conn *h, void *ud)
{
    struct gw_conn *c = ud;
    if (c->xid)
        xforward_cancel(c);
    gw_session_conn_closed(c);
    gw_session_post_gone(c);
    sio_upstream_detach(&c->up);
    c->http = NULL;
    conn_unlink(c);
}

/* ---------- HTTP/2 (h2.h) ----------
 * An HTTP/2 connection stays on the thread that accepted it: its streams
 * carry requests for many sessions, and a session it made (its polling
 * handshake) belongs to this thread, so the session's later requests on
 * the same connection are served here. A request on it for a session of
 * another thread (a second connection of the same client, landed
 * elsewhere) is sent to that thread ("forwarded requests" below). */

static void h2_on_close(struct sio_h2_conn *h, void *ud)
{
    struct gw_conn *c = ud;
    c->h2 = NULL;
    conn_unlink(c);
}

/* A request stream: a gw_conn of its own, as an HTTP/1.1 connection with
 * one request (not counted: its TCP connection is). */
static void *h2_on_stream(struct sio_h2_conn *h, void *ud)
{
    struct gw_conn *p = ud;
    struct gw_thread *t = p->t;
    struct gw_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->t = t;
    c->stream = true;
    c->refuse = p->refuse;
    memcpy(c->remote, p->remote, sizeof c->remote);
    memcpy(c->ip, p->ip, sizeof c->ip);
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    return c;
}

static void on_request(struct sio_http_conn *h, struct sio_http_req *req, void *ud);

static void h2_limits(const struct sio_gateway_cfg *cfg, struct sio_h2_limits *lim)
{
    *lim = (struct sio_h2_limits){ .max_body = cfg->max_payload,
                                   .max_tunnel_out = cfg->max_client_buffer,
                                   .close_timeout_ms = cfg->close_timeout_ms };
}

static const struct sio_h2_cbs h2cbs = { h2_on_stream, { on_request, http_on_close, NULL, NULL },
                                         h2_on_close };

/* ALPN h2 or the h2c preface: the connection becomes HTTP/2. */
static void on_h2(struct sio_http_conn *h, void *ud)
{
    struct gw_conn *c = ud;
    struct bufferevent *bev = sio_http_conn_detach(h);
    c->http = NULL;
    struct sio_h2_limits lim;
    h2_limits(&c->t->gw->cfg, &lim);
    sio_log_debug(topic, "%s: HTTP/2", c->remote);
    c->h2 = sio_h2_conn_new(bev, &lim, &h2cbs, c, NULL);
    if (!c->h2)
        conn_unlink(c);
    else if (c->refuse)     /* over a connection limit: no stream is taken */
        sio_h2_conn_goaway(c->h2);
}

/* An HTTP/1.1 request with Upgrade: h2c (plain TCP only, RFC 7540 3.2):
 * 101, then the request is stream 1 of the new HTTP/2 connection. */
static void upgrade_h2c(struct gw_conn *c, struct sio_http_req *req,
                        const struct sio_http_hdr *settings)
{
    struct bufferevent *bev = sio_http_conn_detach(c->http);
    c->http = NULL;
    static const char sw[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                             "Upgrade: h2c\r\n\r\n";
    evbuffer_add(bufferevent_get_output(bev), sw, sizeof sw - 1);
    struct sio_h2_limits lim;
    h2_limits(&c->t->gw->cfg, &lim);
    struct sio_h2_upgrade up = { req, settings->value };
    sio_log_debug(topic, "%s: upgrade to h2c", c->remote);
    c->h2 = sio_h2_conn_new(bev, &lim, &h2cbs, c, &up);
    if (!c->h2)
        conn_unlink(c);
}

static void ws_on_message(struct sio_ws *ws, bool binary, const uint8_t *data, size_t len, void *ud)
{
    gw_session_ws_message(ud, binary, data, len);
}

static void ws_on_close(struct sio_ws *ws, void *ud)
{
    struct gw_conn *c = ud;
    gw_session_ws_closed(c);
    c->ws = NULL;
    conn_unlink(c);
}

static bool qparam(const struct sio_http_req *req, const char *name, const char **v, size_t *vl)
{
    size_t nl = strlen(name);
    const char *p = req->query, *end = req->query + req->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            *v = p + nl + 1;
            *vl = (size_t)(e - p) - nl - 1;
            return true;
        }
        if ((size_t)(e - p) == nl && memcmp(p, name, nl) == 0) {
            *v = e;
            *vl = 0;
            return true;
        }
        p = e + 1;
    }
    return false;
}

static bool streq(const char *p, size_t n, const char *s)
{
    return p && strlen(s) == n && memcmp(p, s, n) == 0;
}

static const char *const err_msgs[] = {
    "Transport unknown", "Session ID unknown", "Bad handshake method", "Bad request",
    "Forbidden", "Unsupported protocol version",
};

static void json_err(struct gw_conn *c, int code)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, err_msgs[code]);
    sio_http_reply(c->http, "400 Bad Request", "Content-Type: application/json\r\n", true,
                   body, (size_t)n);
}

static void ws_err(struct gw_conn *c, const char *msg)
{
    char raw[256];
    int n = snprintf(raw, sizeof raw,
                     "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\n"
                     "Content-Length: %zu\r\n\r\n%s", strlen(msg), msg);
    sio_http_reply_raw_close(c->http, raw, (size_t)n);
}

/* Over a limit (limits.c): the answer, then close. A WebSocket upgrade
 * gets the same (a refused upgrade). */
static void refuse(struct gw_conn *c, int status)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n"
                               "Retry-After: 1\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 20\r\n\r\nToo many connections";
    static const char many[] = "HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\n"
                               "Retry-After: 1\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 38\r\n\r\nToo many connections from this address";
    sio_log_debug(topic, "%s: refused (%d)", c->remote, status);
    if (status == 429)
        sio_http_reply_raw_close(c->http, many, sizeof many - 1);
    else
        sio_http_reply_raw_close(c->http, busy, sizeof busy - 1);
}

static bool header_has_token(const struct sio_http_req *req, const char *name, const char *tok)
{
    const struct sio_http_hdr *h = sio_http_header(req, name);
    if (!h)
        return false;
    size_t tl = strlen(tok);
    const char *p = h->value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *s = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if ((size_t)(e - s) == tl && strncasecmp(s, tok, tl) == 0)
            return true;
    }
    return false;
}

static void handle_upgrade(struct gw_conn *c, struct sio_http_req *req,
                           const struct gw_session_ops *ops,
                           const char *eio, size_t eiol, bool has_eio,
                           const char *tr, size_t trl, const char *sid, size_t sidl, bool has_sid)
{
    struct gw_thread *t = c->t;
    const struct sio_gateway_cfg *cfg = &t->gw->cfg;
    /* RFC 8441: an extended CONNECT on an HTTP/2 stream, no key, 200 */
    bool h2 = req->protocol != NULL;
    bool ws_ok = !cfg->no_websocket, poll_ok = !cfg->no_polling;
    bool is_ws = streq(tr, trl, "websocket"), is_poll = streq(tr, trl, "polling");
    bool bad_eio = false;
    if (!((is_ws && ws_ok) || (is_poll && poll_ok))) {
        ws_err(c, "Transport unknown");
        return;
    }
    struct gw_session *s = NULL;
    if (has_sid) {
        s = sio_map_get(&t->sessions, sid, sidl);
        if (!s || s->closed || s->ops != ops) {
            ws_err(c, "Session ID unknown");
            return;
        }
        if (!has_eio || !streq(eio, eiol, "4")) {
            ws_err(c, "Bad request");
            return;
        }
        /* --no-allow-upgrades: a polling session stays a polling session */
        if (cfg->no_upgrades) {
            ws_err(c, "Bad request");
            return;
        }
    } else {
        if (req->method != (h2 ? HTTP_CONNECT : HTTP_GET)) {
            ws_err(c, "Bad handshake method");
            return;
        }
        /* The JS server answers a valid upgrade with EIO other than 4 with
         * a 101 and then the plain-text 400 inside the upgraded stream; we
         * do the same (below, once the upgrade headers are checked). */
        if (!has_eio || !streq(eio, eiol, "4"))
            bad_eio = true;
    }
    if (!is_ws) {
        ws_err(c, "Bad request");
        return;
    }
    const struct sio_http_hdr *key = sio_http_header(req, "sec-websocket-key");
    const struct sio_http_hdr *ver = sio_http_header(req, "sec-websocket-version");
    if (h2 ? req->method != HTTP_CONNECT
           : (req->method != HTTP_GET || !header_has_token(req, "upgrade", "websocket") ||
              !header_has_token(req, "connection", "upgrade"))) {
        ws_err(c, "Bad request");
        return;
    }
    if (!h2 && (!key || !sio_ws_key_valid(key->value, key->value_len))) {
        ws_err(c, "Missing or invalid Sec-WebSocket-Key header");
        return;
    }
    if (!ver || strcmp(ver->value, "13") != 0) {
        ws_err(c, "Missing or invalid Sec-WebSocket-Version header");
        return;
    }
    if (!s && !bad_eio) {
        int st = gw_limits_handshake(t, c->ip);
        if (st) {
            refuse(c, st);
            return;
        }
    }
    if (h2 && bad_eio) {
        ws_err(c, "Unsupported protocol version");
        return;
    }
    char accept[29] = "";
    if (!h2)
        sio_ws_accept_key(key->value, key->value_len, accept);
    if (bad_eio) {
        static const char msg[] = "Unsupported protocol version";
        char quirk[512];
        int n = snprintf(quirk, sizeof quirk,
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                         "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-type: text/html\r\n"
                         "Content-Length: %zu\r\n\r\n%s", accept, sizeof msg - 1, msg);
        sio_http_reply_raw_close(c->http, quirk, (size_t)n);
        return;
    }
    struct sio_http_conn *h = c->http;
    struct bufferevent *bev;
    if (h2) {
        /* the CORS lines are on the exchange already (cors_request) */
        bev = sio_http_conn_tunnel(h, "200 OK", "");
        if (!bev) {
            sio_http_reply(h, "500 Internal Server Error", "", true, NULL, 0);
            return;
        }
        c->http = NULL;
        sio_log_debug(topic, "%s: WebSocket over HTTP/2 (RFC 8441)", c->remote);
    } else {
        bev = sio_http_conn_detach(h);
        c->http = NULL;
        /* the JS `cors` option also puts its headers on the 101 (python does not) */
        struct evbuffer *bout = bufferevent_get_output(bev);
        evbuffer_add_printf(bout, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
        if (t->xlead.len)
            evbuffer_add(bout, t->xlead.data, t->xlead.len);
        evbuffer_add(bout, "\r\n", 2);
    }
    static const struct sio_ws_cbs wcbs = { ws_on_message, ws_on_close };
    /* A session made by this request must copy the environ before the
     * request memory goes away with the detached HTTP connection; the
     * detach is deferred while we are inside its callback, so req is
     * still valid here. */
    if (!s)
        s = gw_session_new(t, ops, req, c->remote);
    c->ws = sio_ws_new(bev, cfg->max_payload, &wcbs, c);
    if (c->ws)
        sio_ws_set_limits(c->ws, cfg->max_client_buffer, cfg->close_timeout_ms);
    if (!c->ws) {
        if (!has_sid && s)
            gw_session_close(s, "transport error");
        conn_unlink(c);
        return;
    }
    if (!s) {
        sio_ws_close(c->ws, 1011);
        return;
    }
    if (has_sid) {
        if (s->ws_transport || s->probe || s->ws) {
            /* a second WebSocket for an upgraded (or upgrading) session */
            sio_ws_close(c->ws, 0);
            return;
        }
        s->probe = c;
        c->sess = s;
        return;
    }
    s->ws_transport = true;
    if (GW_METRICS(t))
        GW_M_ADD(t, ws_sessions, 1);
    s->ws = c;
    c->sess = s;
    gw_session_send_open(s, false);
    gw_session_start(s);
}

/* python-engineio's refusal body: the message as a JSON string
 * (json.dumps, so non-ASCII bytes are \u escapes). */
static void origin_refused(struct gw_conn *c, const char *origin)
{
    struct sio_buf *b = &c->t->scratch;
    sio_buf_reset(b);
    sio_buf_append_byte(b, '"');
    for (const unsigned char *p = (const unsigned char *)origin; *p; p++) {
        if (*p == '"' || *p == '\\')
            sio_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            sio_buf_printf(b, "\\u%04x", *p);
        else
            sio_buf_append_byte(b, *p);
    }
    sio_buf_append_str(b, " is not an accepted origin.\"");
    char pre[96];
    snprintf(pre, sizeof pre, "Content-Type: text/plain\r\nContent-Length: %zu\r\n", b->len);
    sio_http_reply(c->http, "400 Bad Request", pre, false, b->data, b->len);
}

/* The CORS policy for a request to an Engine.IO path: true when it has
 * been answered (refused origin or preflight); else its CORS headers are
 * attached to whatever reply follows (t->xlead also feeds a 101). */
static bool cors_request(struct gw_conn *c, struct sio_http_req *req)
{
    struct gw_thread *t = c->t;
    struct sio_gateway *gw = t->gw;
    sio_buf_reset(&t->xlead);
    sio_buf_reset(&t->xct);
    enum sio_cors_verdict v = sio_cors_check(&gw->cors, req, &t->xlead, &t->xct);
    if ((t->xlead.len || t->xct.len) &&
        sio_http_set_extra(c->http, (const char *)t->xlead.data, t->xlead.len,
                           (const char *)t->xct.data, t->xct.len) < 0) {
        sio_http_reply(c->http, "500 Internal Server Error", "", true, NULL, 0);
        return true;
    }
    if (v == SIO_CORS_REJECT) {
        const struct sio_http_hdr *o = sio_http_header(req, "origin");
        sio_log_debug(topic, "%s: origin %s refused", c->remote, o ? o->value : "");
        origin_refused(c, o ? o->value : "");
        return true;
    }
    if (v == SIO_CORS_PREFLIGHT) {
        if (gw->cors.mode == SIO_CORS_JS)
            sio_http_reply(c->http, "204 No Content", "Content-Length: 0\r\n", false, NULL, 0);
        else
            sio_http_reply(c->http, "200 OK", "Content-Type: text/plain\r\nContent-Length: 2\r\n",
                           false, "OK", 2);
        return true;
    }
    return false;
}

/* ---------- handover between I/O threads (gw.h) ---------- */

/* A connection on its way to another thread; owned by the inbox it is in,
 * then by the thread that takes it (which closes fd unless adopted). */
struct gw_handoff {
    struct gw_handoff *next;
    int fd;
    SSL *ssl;               /* a TLS connection's state (owned with fd) */
    unsigned owner;         /* the thread it goes to */
    char remote[64];
    char ip[48];
    bool counted;           /* still in the connection counts */
    struct sio_buf in;      /* the request's head as received, then the rest */
    struct sio_buf out;     /* output not yet written */
    /* not a connection but a forwarded HTTP/2 request (fd -1): */
    uint8_t kind;           /* HO_* */
    uint64_t xid;
    unsigned from;          /* the thread that forwarded it */
    bool https;
};

enum { HO_CONN = 0, HO_XREQ, HO_XREPLY, HO_XCANCEL };

static void handoff_free(struct gw_handoff *ho)
{
    if (ho->ssl)
        SSL_free(ho->ssl);
    if (ho->fd >= 0)
        close(ho->fd);
    sio_buf_clear(&ho->in);
    sio_buf_clear(&ho->out);
    free(ho);
}

/* Into o's inbox (any thread). */
static void post_handoff(struct gw_thread *o, struct gw_handoff *ho)
{
    pthread_mutex_lock(&o->inbox_lock);
    *o->inbox_tail = ho;
    o->inbox_tail = &ho->next;
    pthread_mutex_unlock(&o->inbox_lock);
    event_active(o->inbox_ev, EV_READ, 0);
}

/* A request for sid (on_headers, nothing answered yet): when another
 * thread owns it, give that thread the connection and return true (c is
 * then gone). A sid no thread owns stays here and gets the usual answer. */
static bool handover(struct gw_conn *c, const char *sid, size_t sidl)
{
    struct gw_thread *t = c->t;
    struct sio_gateway *gw = t->gw;
    int owner = gw_sid_owner(sid, sidl, gw->nth);
    if (owner < 0 || (unsigned)owner == t->idx)
        return false;
    struct gw_thread *o = &gw->th[owner];
    struct gw_handoff *ho = calloc(1, sizeof *ho);
    int fd = -ENOMEM;
    void *ssl = NULL;
    if (ho) {
        sio_buf_init(&ho->in);
        sio_buf_init(&ho->out);
        fd = sio_http_conn_handoff(c->http, &ho->in, &ho->out, &ssl);
    }
    if (fd < 0) {
        if (ho) {
            ho->fd = -1;
            handoff_free(ho);
        }
        /* keep it here: the owner's sid is unknown to this thread, which
         * answers as for any unknown sid */
        return false;
    }
    ho->fd = fd;
    ho->ssl = ssl;
    ho->owner = (unsigned)owner;
    memcpy(ho->remote, c->remote, sizeof ho->remote);
    memcpy(ho->ip, c->ip, sizeof ho->ip);
    ho->counted = c->counted;
    c->counted = false;     /* the owner's connection carries the count */
    c->http = NULL;     /* freed by http1 once on_request returns */
    conn_unlink(c);
    sio_log_debug(topic, "%s: request for %.*s (%zu bytes read, %zu unwritten) handed over to "
                  "thread %d%s", ho->remote, (int)sidl, sid, ho->in.len, ho->out.len, owner,
                  ho->ssl ? " (TLS)" : "");
    if (ho->ssl) {
        /* we are inside libevent's read callback of the SSL bufferevent:
         * the owner gets the SSL once that has returned (outbox_cb) */
        ho->next = t->outbox;
        t->outbox = ho;
        event_active(t->outbox_ev, EV_READ, 0);
        return true;
    }
    post_handoff(o, ho);
    return true;
}

/* TLS connections handed over from this thread: libevent is done with
 * their SSL and their events are deleted; on to their owners. */
static void outbox_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_thread *t = arg;
    struct gw_handoff *ho = t->outbox;
    t->outbox = NULL;
    while (ho) {
        struct gw_handoff *next = ho->next;
        ho->next = NULL;
        post_handoff(&t->gw->th[ho->owner], ho);
        ho = next;
    }
}

static void conn_start(struct gw_thread *t, int fd, const char *remote, const char *ip,
                       int refused, const struct gw_handoff *ho);

/* ---------- forwarded requests (HTTP/2 for another thread's session) ----------
 * An HTTP/2 connection cannot change threads as an HTTP/1.1 one does (its
 * other streams stay). A request on it for a session of another thread
 * goes there instead, as the HTTP/1.1 request it would have been (with
 * Connection: close), through that thread's inbox (HO_XREQ); the owner
 * runs it through its own HTTP/1.1 parser on one end of a bufferevent
 * pair, so it is handled there exactly as any request, and sends the
 * reply's bytes back (HO_XREPLY) when its connection closes. The
 * requesting thread answers its stream with them (sio_http_reply_raw_close
 * of an exchange: head and body, whatever the owner wrote). A stream that
 * closes first cancels (HO_XCANCEL): the owner closes its side, as when an
 * HTTP/1.1 client goes away. Not for WebSockets (an RFC 8441 CONNECT for
 * another thread's session gets "Session ID unknown"). */

struct gw_xserve {
    struct gw_thread *t;
    unsigned from;
    uint64_t xid;
    struct bufferevent *mine;   /* our end; the HTTP/1.1 connection has the other */
    struct sio_buf resp;
};

static void xkey(char k[12], unsigned from, uint64_t xid)
{
    uint32_t f = from;
    memcpy(k, &f, 4);
    memcpy(k + 4, &xid, 8);
}

static struct gw_handoff *xmsg(uint8_t kind, unsigned owner, unsigned from, uint64_t xid)
{
    struct gw_handoff *ho = calloc(1, sizeof *ho);
    if (!ho)
        return NULL;
    ho->fd = -1;
    ho->kind = kind;
    ho->owner = owner;
    ho->from = from;
    ho->xid = xid;
    sio_buf_init(&ho->in);
    sio_buf_init(&ho->out);
    return ho;
}

/* The stream of c waits no more (it closed): tell the owner. */
static void xforward_cancel(struct gw_conn *c)
{
    struct gw_thread *t = c->t;
    sio_map_del(&t->xwait, (const char *)&c->xid, sizeof c->xid);
    if (!t->stopping) {
        struct gw_handoff *ho = xmsg(HO_XCANCEL, c->xowner, t->idx, c->xid);
        if (ho)
            post_handoff(&t->gw->th[c->xowner], ho);
    }
    c->xid = 0;
}

static bool hop_header(const struct sio_http_hdr *h)
{
    static const char *const names[] = { "connection", "content-length", "transfer-encoding",
                                         "keep-alive", "upgrade", "te", "http2-settings" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(h->name, names[i]) == 0)
            return true;
    return false;
}

/* An HTTP/2 request for sid (nothing answered yet): when another thread
 * owns it, send it there and return true (the stream waits for the reply). */
static bool xforward(struct gw_conn *c, const struct sio_http_req *req, const char *sid, size_t sidl)
{
    struct gw_thread *t = c->t;
    struct sio_gateway *gw = t->gw;
    int owner = gw_sid_owner(sid, sidl, gw->nth);
    if (owner < 0 || (unsigned)owner == t->idx || req->protocol)
        return false;
    uint64_t xid = ++t->xnext;
    struct gw_handoff *ho = xmsg(HO_XREQ, (unsigned)owner, t->idx, xid);
    if (!ho)
        return false;
    memcpy(ho->remote, c->remote, sizeof ho->remote);
    memcpy(ho->ip, c->ip, sizeof ho->ip);
    ho->https = req->scheme && strcmp(req->scheme, "https") == 0;
    struct sio_buf *b = &ho->in;
    int rc = sio_buf_printf(b, "%s %.*s HTTP/1.1\r\n", req->method_name, (int)req->url_len, req->url);
    for (size_t i = 0; rc >= 0 && i < req->nhdrs; i++) {
        const struct sio_http_hdr *h = &req->hdrs[i];
        if (hop_header(h))
            continue;
        rc = sio_buf_printf(b, "%s: %s\r\n", h->name, h->value);
    }
    if (rc >= 0)
        rc = sio_buf_printf(b, "Connection: close\r\nContent-Length: %zu\r\n\r\n", req->body_len);
    if (rc >= 0 && req->body_len)
        rc = sio_buf_append(b, req->body, req->body_len);
    if (rc < 0 || sio_map_put(&t->xwait, (const char *)&xid, sizeof xid, c) < 0) {
        handoff_free(ho);
        return false;
    }
    c->xid = xid;
    c->xowner = (unsigned)owner;
    sio_log_debug(topic, "%s: HTTP/2 request for %.*s served by thread %d", c->remote, (int)sidl,
                  sid, owner);
    post_handoff(&gw->th[owner], ho);
    return true;
}

static void xserve_free(struct gw_xserve *x, bool reply)
{
    char k[12];
    xkey(k, x->from, x->xid);
    sio_map_del(&x->t->xserve, k, sizeof k);
    if (reply && !x->t->stopping) {
        struct gw_handoff *ho = xmsg(HO_XREPLY, x->from, x->t->idx, x->xid);
        if (ho) {
            ho->in = x->resp;       /* moved */
            sio_buf_init(&x->resp);
            post_handoff(&x->t->gw->th[x->from], ho);
        }
    }
    /* the HTTP/1.1 side sees an EOF (a client gone) */
    bufferevent_flush(x->mine, EV_WRITE, BEV_FINISHED);
    bufferevent_free(x->mine);
    sio_buf_clear(&x->resp);
    free(x);
}

/* The reply's bytes so far; false when x was freed (too big). */
static bool xs_take(struct gw_xserve *x, struct bufferevent *bev)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    size_t max = 4 * x->t->gw->cfg.max_payload + (1u << 20);
    if (x->resp.len + n > max || sio_buf_reserve(&x->resp, n) < 0) {
        sio_buf_reset(&x->resp);        /* an empty reply: the stream is reset */
        xserve_free(x, true);
        return false;
    }
    evbuffer_remove(in, x->resp.data + x->resp.len, n);
    x->resp.len += n;
    return true;
}

static void xs_read(struct bufferevent *bev, void *arg)
{
    xs_take(arg, bev);
}

/* The HTTP/1.1 side closed after its reply: send it back. */
static void xs_event(struct bufferevent *bev, short what, void *arg)
{
    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && xs_take(arg, bev))
        xserve_free(arg, true);
}

static void xserve_conn(struct gw_thread *t, struct bufferevent *bev, const char *remote,
                        const char *ip, bool https);

/* The owner's side of HO_XREQ. */
static void xserve_start(struct gw_thread *t, struct gw_handoff *ho)
{
    struct gw_xserve *x = calloc(1, sizeof *x);
    struct bufferevent *pair[2] = { NULL, NULL };
    char k[12];
    xkey(k, ho->from, ho->xid);
    if (!x || bufferevent_pair_new(t->base, BEV_OPT_DEFER_CALLBACKS, pair) < 0)
        goto fail;
    x->t = t;
    x->from = ho->from;
    x->xid = ho->xid;
    x->mine = pair[0];
    sio_buf_init(&x->resp);
    if (sio_map_put(&t->xserve, k, sizeof k, x) < 0)
        goto fail_pair;
    bufferevent_setcb(x->mine, xs_read, NULL, xs_event, x);
    bufferevent_enable(x->mine, EV_READ | EV_WRITE);
    evbuffer_add(bufferevent_get_output(x->mine), ho->in.data, ho->in.len);
    xserve_conn(t, pair[1], ho->remote, ho->ip, ho->https);
    return;
fail_pair:
    bufferevent_free(pair[0]);
    bufferevent_free(pair[1]);
fail:
    free(x);
    struct gw_handoff *r = xmsg(HO_XREPLY, ho->from, t->idx, ho->xid);   /* empty: failed */
    if (r)
        post_handoff(&t->gw->th[ho->from], r);
}

/* The requesting side of HO_XREPLY: answer the stream (if still there). */
static void xreply(struct gw_thread *t, struct gw_handoff *ho)
{
    struct gw_conn *c = sio_map_del(&t->xwait, (const char *)&ho->xid, sizeof ho->xid);
    if (!c)
        return;
    c->xid = 0;
    if (!c->http)
        return;
    if (ho->in.len)
        sio_http_reply_raw_close(c->http, (const char *)ho->in.data, ho->in.len);
    else
        sio_http_conn_close(c->http);
}

/* The owner's side: adopt every connection in the inbox. */
static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_thread *t = arg;
    pthread_mutex_lock(&t->inbox_lock);
    struct gw_handoff *ho = t->inbox;
    t->inbox = NULL;
    t->inbox_tail = &t->inbox;
    pthread_mutex_unlock(&t->inbox_lock);
    while (ho) {
        struct gw_handoff *next = ho->next;
        if (ho->kind != HO_CONN) {
            if (t->stopping) {
                /* nothing: the requesting thread stops too */
            } else if (ho->kind == HO_XREQ) {
                xserve_start(t, ho);
            } else if (ho->kind == HO_XREPLY) {
                xreply(t, ho);
            } else {
                char k[12];
                xkey(k, ho->from, ho->xid);
                struct gw_xserve *x = sio_map_get(&t->xserve, k, sizeof k);
                if (x)
                    xserve_free(x, false);
            }
        } else if (!t->stopping) {
            conn_start(t, ho->fd, ho->remote, ho->ip, ho->counted ? 0 : -1, ho);
            ho->fd = -1;    /* the connection has them now (freed on failure) */
            ho->ssl = NULL;
        } else if (ho->counted) {
            gw_limits_closed(t, ho->ip);
        }
        handoff_free(ho);
        ho = next;
    }
}

/* Which Engine.IO service req is for: 0 the Socket.IO path, 1 the raw
 * Engine.IO path (--engineio-path), -1 neither. */
static int eio_service(const struct sio_gateway *gw, const struct sio_http_req *req)
{
    size_t pl = strlen(gw->path);
    if (req->path_len >= pl && memcmp(req->path, gw->path, pl) == 0)
        return 0;
    if (gw->engineio_path) {
        size_t el = strlen(gw->engineio_path);
        if (req->path_len >= el && memcmp(req->path, gw->engineio_path, el) == 0)
            return 1;
    }
    return -1;
}

/* The request's head, before its body is read: a request for another
 * thread's session changes threads now (the owner reads the body, so no
 * copy of it is made and every thread answers alike), and a POST to an
 * unknown session has its body read but not kept. */
static int on_headers(struct sio_http_conn *h, struct sio_http_req *req, void *ud)
{
    struct gw_conn *c = ud;
    struct gw_thread *t = c->t;
    struct sio_gateway *gw = t->gw;
    if (c->refuse)
        return SIO_HTTP_BODY_DISCARD;
    const char *sid;
    size_t sidl;
    if (eio_service(gw, req) < 0 || !qparam(req, "sid", &sid, &sidl) || sidl == 0)
        return SIO_HTTP_BODY_KEEP;
    if (gw->nth > 1 && handover(c, sid, sidl))
        return SIO_HTTP_BODY_DISCARD;   /* c is gone */
    struct gw_session *s = sio_map_get(&t->sessions, sid, sidl);
    if (s && !s->closed)
        return SIO_HTTP_BODY_KEEP;
    /* an unknown session: a small body is read and dropped, so that the
     * answer is the JS server's to the byte (keep-alive); a big or chunked
     * one is answered at once and the connection closed */
    const struct sio_http_hdr *cl = sio_http_header(req, "content-length");
    if (cl && strtoull(cl->value, NULL, 10) <= 65536)
        return SIO_HTTP_BODY_DISCARD;
    return sio_http_header(req, "transfer-encoding") || cl ? SIO_HTTP_BODY_REFUSE
                                                          : SIO_HTTP_BODY_DISCARD;
}

static void on_request(struct sio_http_conn *h, struct sio_http_req *req, void *ud)
{
    struct gw_conn *c = ud;
    struct gw_thread *t = c->t;
    struct sio_gateway *gw = t->gw;
    c->http = h;    /* an HTTP/2 stream's gw_conn meets its exchange here */
    if (c->refuse) {
        refuse(c, c->refuse);
        return;
    }
    const struct sio_http_hdr *h2set;
    if (req->upgrade && !gw->tls && !sio_http_is_exchange(h) && req->body_len == 0 &&
        header_has_token(req, "upgrade", "h2c") && !header_has_token(req, "upgrade", "websocket") &&
        (h2set = sio_http_header(req, "http2-settings")) != NULL) {
        upgrade_h2c(c, req, h2set);
        return;
    }
    int service = eio_service(gw, req);
    const struct gw_session_ops *ops = service == 1 ? &gw_raw_ops : &gw_sio_ops;
    if (service < 0 && gw->cfg.metrics && !gw->cfg.metrics_elsewhere && !req->upgrade && req->path_len == 8 &&
        memcmp(req->path, "/metrics", 8) == 0) {
        struct sio_buf b;
        sio_buf_init(&b);
        if (sio_gateway_metrics(gw, &b) == 0) {
            char pre[128];
            snprintf(pre, sizeof pre, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                     "Content-Length: %zu\r\n", b.len);
            sio_http_reply(h, "200 OK", pre, false, b.data, b.len);
        } else {
            sio_http_reply(h, "500 Internal Server Error", "Content-Length: 0\r\n", false, "", 0);
        }
        sio_buf_clear(&b);
        return;
    }
    if (service < 0) {
        static const char nf[] = "Not Found";
        const struct sio_static *m = req->upgrade ? NULL
                                   : sio_static_match(gw->statics, gw->nstatics, req);
        if (m && !gw->upstream) {
            sio_static_serve(m, h, req);
            return;
        }
        if (m && sio_static_try(m, h, req))
            return;
        if (gw->upstream && !req->upgrade) {
            sio_upstream_forward(gw->upstream, t->base, h, req, c->remote, &c->up);
            return;
        }
        if (req->upgrade) {
            static const char r404[] = "HTTP/1.1 404 Not Found\r\nConnection: close\r\n"
                                       "Content-Length: 0\r\n\r\n";
            sio_http_reply_raw_close(h, r404, sizeof r404 - 1);
            return;
        }
        sio_http_reply(h, "404 Not Found", "Content-Type: text/plain\r\nContent-Length: 9\r\n",
                       false, nf, 9);
        return;
    }
    const char *eio = NULL, *tr = NULL, *sid = NULL;
    size_t eiol = 0, trl = 0, sidl = 0;
    bool has_eio = qparam(req, "EIO", &eio, &eiol);
    bool has_tr = qparam(req, "transport", &tr, &trl);
    bool has_sid = qparam(req, "sid", &sid, &sidl) && sidl > 0;
    if (has_sid && gw->nth > 1 && sio_http_is_exchange(h) && xforward(c, req, sid, sidl))
        return;     /* another thread's session: answered from there */
    if (!has_tr)
        tr = NULL;
    c->enc = SIO_ENC_IDENTITY;
    if (cors_request(c, req))
        return;
    if ((req->upgrade && header_has_token(req, "upgrade", "websocket")) ||
        (req->protocol && strcmp(req->protocol, "websocket") == 0)) {
        handle_upgrade(c, req, ops, eio, eiol, has_eio, tr, trl, sid, sidl, has_sid);
        return;
    }
    const struct sio_gateway_cfg *cfg = &gw->cfg;
    bool is_ws = streq(tr, trl, "websocket"), is_poll = streq(tr, trl, "polling");
    if (!((is_ws && !cfg->no_websocket) || (is_poll && !cfg->no_polling))) {
        json_err(c, 0);
        return;
    }
    if (has_sid) {
        struct gw_session *s = sio_map_get(&t->sessions, sid, sidl);
        if (!s || s->closed || s->ops != ops) {
            json_err(c, 1);
            return;
        }
        if (!has_eio || !streq(eio, eiol, "4") || is_ws || s->ws_transport) {
            json_err(c, 3);
            return;
        }
        if (req->method == HTTP_GET) {
            if (!cfg->no_compression)
                c->enc = (uint8_t)sio_http_accept_encoding(req);
            gw_session_poll_get(s, c);
        }
        else if (req->method == HTTP_POST)
            gw_session_poll_post(s, c, req);
        else
            sio_http_reply(h, "500 Internal Server Error", "", true, NULL, 0);
        return;
    }
    if (req->method != HTTP_GET) {
        json_err(c, 2);
        return;
    }
    if (is_ws) {
        json_err(c, 3);
        return;
    }
    if (!has_eio || !streq(eio, eiol, "4")) {
        json_err(c, 5);
        return;
    }
    int st = gw_limits_handshake(t, c->ip);
    if (st) {
        refuse(c, st);
        return;
    }
    struct gw_session *s = gw_session_new(t, ops, req, c->remote);
    if (!s) {
        sio_http_reply(h, "500 Internal Server Error", "", true, NULL, 0);
        return;
    }
    struct sio_buf *b = &t->scratch;
    sio_buf_reset(b);
    bool upgrades = !cfg->no_websocket && !cfg->no_upgrades;
    sio_eio_encode_open(b, s->sid, upgrades, cfg->ping_interval_ms, cfg->ping_timeout_ms,
                        cfg->max_payload);
    char pre[256];
    int pn = snprintf(pre, sizeof pre, "Content-Type: text/plain; charset=UTF-8\r\n"
                                       "Content-Length: %zu\r\ncache-control: no-store\r\n", b->len);
    if (gw->cookie)
        snprintf(pre + pn, sizeof pre - (size_t)pn,
                 "Set-Cookie: %s=%s; Path=/; HttpOnly; SameSite=Lax\r\n", gw->cookie, s->sid);
    sio_http_reply(h, "200 OK", pre, false, b->data, b->len);
    gw_session_start(s);
}

static const struct sio_http_cbs hcbs = { on_request, http_on_close, on_headers, on_h2 };

/* A forwarded HTTP/2 request's connection: HTTP/1.1 on a pair end (not
 * counted: its TCP connection is, on the requesting thread). */
static void xserve_conn(struct gw_thread *t, struct bufferevent *bev, const char *remote,
                        const char *ip, bool https)
{
    struct gw_conn *c = calloc(1, sizeof *c);
    if (!c) {
        bufferevent_free(bev);      /* the pair's other end sees nothing: */
        return;                     /* its request stays unanswered until cancelled */
    }
    c->t = t;
    snprintf(c->remote, sizeof c->remote, "%s", remote);
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    const struct sio_gateway_cfg *cfg = &t->gw->cfg;
    struct sio_http_limits lim = { .max_body = cfg->max_payload, .https = https,
                                   .close_timeout_ms = cfg->close_timeout_ms };
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    c->http = sio_http_conn_new(bev, &lim, &hcbs, c);
    if (!c->http)
        conn_unlink(c);
}

/* A new HTTP connection on fd (closed on failure): accepted here, or
 * handed over by another thread (ho: its bytes). refused: 0 when it is
 * in the connection counts, -1 when not (and not refused), else the HTTP
 * status it gets for its request. */
static void conn_start(struct gw_thread *t, int fd, const char *remote, const char *ip,
                       int refused, const struct gw_handoff *ho)
{
    struct gw_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        if (refused == 0)
            gw_limits_closed(t, ip);
        return;
    }
    c->t = t;
    c->counted = refused == 0;
    c->refuse = refused > 0 ? (uint16_t)refused : 0;
    snprintf(c->remote, sizeof c->remote, "%s", remote);
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    struct bufferevent *bev;
    if (t->gw->tls) {
        /* the handshake runs inside the bufferevent; a client that sends
         * no handshake, a broken one or none in time (the header timeout
         * below counts from here) is closed like a bad HTTP client. A
         * connection handed over brings its SSL, open. No
         * BEV_OPT_CLOSE_ON_FREE: ssl and fd stay ours, so that the
         * connection can change threads; sio_tls_bev_free() frees them */
        SSL *ssl = ho ? ho->ssl : sio_tls_ssl_new(t->gw->tls);
        bev = ssl ? bufferevent_openssl_socket_new(t->base, fd, ssl,
                                                   ho ? BUFFEREVENT_SSL_OPEN
                                                      : BUFFEREVENT_SSL_ACCEPTING, 0)
                  : NULL;
        if (ssl && !bev)
            SSL_free(ssl);
    } else {
        bev = bufferevent_socket_new(t->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev) {
        close(fd);
        if (c->counted)
            gw_limits_closed(t, ip);
        free(c);
        return;
    }
    const struct sio_gateway_cfg *cfg = &t->gw->cfg;
    struct sio_http_limits lim = { .max_body = cfg->max_payload,
                                   .keep_raw = t->gw->nth > 1,
                                   .close_timeout_ms = cfg->close_timeout_ms,
                                   /* a refused client gets little time to ask */
                                   .header_timeout_ms = c->refuse ? 2000 : 0 };
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
    c->http = ho ? sio_http_conn_adopt(bev, &lim, &hcbs, c, &ho->in, &ho->out)
                 : sio_http_conn_new(bev, &lim, &hcbs, c);
    if (!c->http)
        conn_unlink(c);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct gw_thread *t = arg;
    if (t->stopping) {
        close(fd);
        return;
    }
    char remote[64] = "";
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(remote, sizeof remote, "%s:%u", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(remote, sizeof remote, "[%s]:%u", ip, port);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evutil_make_socket_nonblocking(fd);
    conn_start(t, fd, remote, ip, gw_limits_accept(t, ip), NULL);
}

/* ---------- thread ---------- */

/* GOAWAY to every HTTP/2 connection of t; true when there was one. An
 * idle one may close (and leave the list) at once: the next connection is
 * taken first, and it is never one of c's streams (those are made after
 * c, so they come before it in the list). */
static bool h2_goaway_all(struct gw_thread *t)
{
    bool any = false;
    for (struct gw_conn *c = t->conns, *next; c; c = next) {
        next = c->next;
        if (c->h2) {
            any = true;
            sio_h2_conn_goaway(c->h2);
        }
    }
    return any;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_thread *t = arg;
    /* HTTP/2 clients are told (GOAWAY NO_ERROR) before their connections
     * close: the loop runs 100 ms more to write it */
    if (h2_goaway_all(t)) {
        struct timeval tv = { 0, 100000 };
        event_base_loopexit(t->base, &tv);
        return;
    }
    event_base_loopbreak(t->base);
}

/* The hub forgets a gateway it has not heard from (its sockets are dropped
 * at the workers): a HEARTBEAT event, route [33, "", gw id], every second. */
static void hb_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_thread *t = arg;
    if (t->idx == 0)
        gw_limits_sweep(t->gw);
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_HEARTBEAT);
    env.gw = (struct sio_str){ t->id, SIO_GW_ID_LEN };
    env.nsp = (struct sio_str){ "", 0 };
    env.sid = env.gw;
    gw_bus_send(t, &env);
    if (t->nhold)
        gw_sio_hold_check(t);
    if (t->gw->cfg.admin)
        gw_admin_tick(t);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_session_reap(arg);
}

static void *thread_main(void *arg)
{
    struct gw_thread *t = arg;
    char name[16];
    snprintf(name, sizeof name, "sio-gw-%u", t->idx);
    pthread_setname_np(pthread_self(), name);   /* for top -H, perf */
    /* OpenSSL writes to the socket with write(): a peer that reset the
     * connection would kill the process with SIGPIPE. Blocked here, the
     * write fails with EPIPE instead (the signal stays pending on this
     * thread, never delivered), whatever the application does with it. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    event_active(t->sub_ev, EV_READ, 0);    /* the FD is edge-triggered: drain once */
    hb_cb(-1, 0, t);                        /* the hub learns of us at once */
    event_base_dispatch(t->base);
    t->stopping = true;
    for (int i = 0; i < t->nlis; i++)
        evconnlistener_free(t->lis[i]);
    t->nlis = 0;
    /* close every session, then every connection; the sessions are listed
     * first, as closing one takes it out of the map (restarting a walk of
     * the map after each would be quadratic: 4 s for 100,000 sessions) */
    size_t ns = t->sessions.n, k = 0, it = 0;
    struct gw_session **all = malloc((ns ? ns : 1) * sizeof *all);
    struct sio_map_ent *e = NULL;
    if (all) {
        while (k < ns && (e = sio_map_next(&t->sessions, e, &it)) != NULL)
            all[k++] = e->val;
        for (size_t i = 0; i < k; i++)
            gw_session_close(all[i], "transport close");
        free(all);
    }
    it = 0;
    while ((e = sio_map_next(&t->sessions, NULL, &it)) != NULL)   /* out of memory above */
        gw_session_close(e->val, "transport close");
    while (t->conns) {
        struct gw_conn *c = t->conns;
        if (c->stream && c->http) {
            /* an HTTP/2 request: its connection frees it, and with it */
            struct gw_conn *p = c->next;
            while (p && !p->h2)
                p = p->next;
            if (p) {
                conn_unlink(p);
                continue;
            }
            sio_http_exchange_free(c->http);    /* no connection: cannot be */
            continue;
        }
        if (c->http)
            sio_http_conn_abort(c->http);
        else if (c->ws)
            sio_ws_abort(c->ws);
        else
            conn_unlink(c);
    }
    gw_session_reap(t);
    gw_admin_thread_clear(t);
    gw_nsps_clear(t);
    while (t->outbox) {         /* handed over, not sent on: closed */
        struct gw_handoff *ho = t->outbox;
        t->outbox = ho->next;
        if (ho->counted)
            gw_limits_closed(t, ho->ip);
        handoff_free(ho);
    }
    /* requests of other threads served here: their connections are gone */
    struct sio_map_ent *xe;
    it = 0;
    while ((xe = sio_map_next(&t->xserve, NULL, &it)) != NULL) {
        it = 0;
        xserve_free(xe->val, false);
    }
    sio_tls_reap_all();         /* the SSLs of the connections closed above */
    return NULL;
}

static void thread_clear(struct gw_thread *t)
{
    for (int i = 0; i < t->nlis; i++)
        evconnlistener_free(t->lis[i]);
    t->nlis = 0;
    struct event *evs[] = { t->sub_ev, t->stop_ev, t->reap_ev, t->hb_ev, t->inbox_ev, t->drain_ev,
                            t->accept_ev, t->outbox_ev };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (t->dealer)
        zmq_close(t->dealer);
    if (t->sub)
        zmq_close(t->sub);
    while (t->pkt_free) {
        struct gw_pkt *p = t->pkt_free;
        t->pkt_free = p->next_free;
        sio_buf_clear(&p->data);
        sio_buf_clear(&p->ws);
        sio_buf_clear(&p->poll);
        free(p);
    }
    sio_ws_framer_destroy(&t->framer);
    if (t->pollout)
        evbuffer_free(t->pollout);
    if (t->zout)
        evbuffer_free(t->zout);
    sio_buf_clear(&t->xlead);
    sio_buf_clear(&t->xct);
    sio_map_clear(&t->sessions);
    sio_map_clear(&t->nsps);
    sio_map_clear(&t->xwait);
    sio_map_clear(&t->xserve);
    sio_buf_clear(&t->envbuf);
    sio_buf_clear(&t->scratch);
    /* handed over after this thread stopped: closed */
    while (t->inbox) {
        struct gw_handoff *ho = t->inbox;
        t->inbox = ho->next;
        handoff_free(ho);
    }
    if (t->inbox_lock_ok)
        pthread_mutex_destroy(&t->inbox_lock);
    if (t->base)
        event_base_free(t->base);
}

/* Thread idx's loop and scratch state (its bus sockets come later). */
static int thread_init(struct sio_gateway *gw, struct gw_thread *t, unsigned idx)
{
    t->gw = gw;
    t->idx = idx;
    sio_random_id(t->id, SIO_GW_ID_LEN);
    t->id[SIO_GW_ID_LEN] = 0;
    sio_map_init(&t->sessions);
    sio_map_init(&t->xwait);
    sio_map_init(&t->xserve);
    sio_map_init(&t->nsps);
    sio_buf_init(&t->envbuf);
    sio_buf_init(&t->scratch);
    sio_buf_init(&t->xlead);
    sio_buf_init(&t->xct);
    t->inbox_tail = &t->inbox;
    atomic_init(&t->drain_left, -1);
    if (pthread_mutex_init(&t->inbox_lock, NULL) != 0)
        return -ENOMEM;
    t->inbox_lock_ok = true;
    t->base = event_base_new();
    t->framer = sio_ws_framer_new();
    t->pollout = evbuffer_new();
    t->zout = evbuffer_new();
    if (!t->base || !t->framer || !t->pollout || !t->zout)
        return -ENOMEM;
    return 0;
}

/* Thread t's DEALER and SUB (subscribed to its own id and "*") and its
 * events. */
static int thread_bus(struct gw_thread *t, const struct sio_gateway_cfg *cfg, char *err, size_t errlen)
{
    int zero = 0;
    t->dealer = zmq_socket(cfg->zmq_ctx, ZMQ_DEALER);
    t->sub = zmq_socket(cfg->zmq_ctx, ZMQ_SUB);
    if (!t->dealer || !t->sub) {
        snprintf(err, errlen, "gateway: zmq_socket: %s", zmq_strerror(zmq_errno()));
        return -EINVAL;
    }
    zmq_setsockopt(t->dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(t->sub, ZMQ_LINGER, &zero, sizeof zero);
    /* No high-water marks on the bus: a busy hub or gateway queues rather
     * than dropping events or commands (docs/ARCHITECTURE.md). */
    zmq_setsockopt(t->dealer, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(t->sub, ZMQ_RCVHWM, &zero, sizeof zero);
    if (sio_bus_secure(t->dealer, cfg->ep.curve, 0) < 0 ||
        sio_bus_secure(t->sub, cfg->ep.curve, 0) < 0) {
        snprintf(err, errlen, "gateway: CURVE keys: %s", zmq_strerror(zmq_errno()));
        return -EINVAL;
    }
    if (zmq_connect(t->dealer, cfg->ep.events) < 0) {
        snprintf(err, errlen, "%s: %s", cfg->ep.events, zmq_strerror(zmq_errno()));
        return -EINVAL;
    }
    if (zmq_setsockopt(t->sub, ZMQ_SUBSCRIBE, t->id, SIO_GW_ID_LEN) < 0 ||
        zmq_setsockopt(t->sub, ZMQ_SUBSCRIBE, SIO_BUS_ALL_TOPIC, 1) < 0 ||
        zmq_connect(t->sub, cfg->ep.commands) < 0) {
        snprintf(err, errlen, "%s: %s", cfg->ep.commands, zmq_strerror(zmq_errno()));
        return -EINVAL;
    }
    int fd;
    size_t fdl = sizeof fd;
    if (zmq_getsockopt(t->sub, ZMQ_FD, &fd, &fdl) < 0)
        return -EINVAL;
    t->sub_ev = event_new(t->base, fd, EV_READ | EV_PERSIST, sub_cb, t);
    t->stop_ev = event_new(t->base, -1, 0, stop_cb, t);
    t->reap_ev = event_new(t->base, -1, 0, reap_cb, t);
    t->hb_ev = event_new(t->base, -1, EV_PERSIST, hb_cb, t);
    t->inbox_ev = event_new(t->base, -1, 0, inbox_cb, t);
    t->outbox_ev = event_new(t->base, -1, 0, outbox_cb, t);
    const struct timeval hb_tv = { 1, 0 };
    if (!t->sub_ev || !t->stop_ev || !t->reap_ev || !t->hb_ev || !t->inbox_ev || !t->outbox_ev ||
        event_add(t->sub_ev, NULL) < 0 || event_add(t->hb_ev, &hb_tv) < 0)
        return -ENOMEM;
    return 0;
}

/* A socket bound to ai (listening when do_listen). Returns it or -errno. */
static int open_socket(const struct addrinfo *ai, bool reuseport, bool do_listen)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, e = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || (do_listen && listen(fd, 511) < 0))
        e = errno;
    if (e) {
        close(fd);
        return -e;
    }
    return fd;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void set_port(struct addrinfo *ai, uint16_t port)
{
    if (ai->ai_family == AF_INET)
        ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons(port);
}

/* For each address of the host (at most 4): one listening socket per
 * thread. With several threads they share the port with SO_REUSEPORT, and
 * the kernel spreads new connections over them. */
static int bind_listeners(struct sio_gateway *gw, char *err, size_t errlen)
{
    const char *host = gw->host;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", gw->cfg.port);
    int r = getaddrinfo(host, portstr, &hints, &res);
    if (r != 0) {
        snprintf(err, errlen, "%s:%u: %s", host, gw->cfg.port, gai_strerror(r));
        return -EINVAL;
    }
    bool multi = gw->nth > 1;
    uint16_t port = gw->cfg.port;
    int firsterr = 0, naddr = 0;
    char ebuf[256] = "";
    for (struct addrinfo *ai = res; ai && naddr < 4; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        char ip[INET6_ADDRSTRLEN] = "";
        void *a = ai->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                           : (void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        inet_ntop(ai->ai_family, a, ip, sizeof ip);
        set_port(ai, port);
        int fds[GW_MAX_THREADS];
        unsigned n = 0;
        int e = 0;
        if (multi) {
            /* SO_REUSEPORT would also let another process of this user
             * share the port unnoticed: a probe bound without it first
             * fails as one socket would ("Address already in use"), and
             * gives port 0 its number for every thread. */
            int probe = open_socket(ai, false, false);
            if (probe < 0) {
                e = probe;
            } else {
                if (port == 0) {
                    port = bound_port(probe);
                    set_port(ai, port);
                }
                close(probe);
            }
        }
        for (; e == 0 && n < gw->nth; n++) {
            int fd = open_socket(ai, multi, true);
            if (fd < 0) {
                e = fd;
                break;
            }
            fds[n] = fd;
            if (port == 0) {
                port = bound_port(fd);
                set_port(ai, port);
            }
        }
        struct evconnlistener *ls[GW_MAX_THREADS];
        unsigned nl = 0;
        for (; e == 0 && nl < gw->nth; nl++) {
            struct gw_thread *t = &gw->th[nl];
            ls[nl] = evconnlistener_new(t->base, accept_cb, t, LEV_OPT_CLOSE_ON_FREE, -1, fds[nl]);
            if (!ls[nl])
                e = -ENOMEM;
            else
                evconnlistener_set_error_cb(ls[nl], gw_accept_error);
        }
        if (e) {
            for (unsigned i = 0; i < n; i++) {
                if (i < nl && ls[i])
                    evconnlistener_free(ls[i]);     /* closes fds[i] */
                else
                    close(fds[i]);
            }
            if (!firsterr) {
                firsterr = e;
                snprintf(ebuf, sizeof ebuf, "%s:%u: %s", ip, port, strerror(-e));
            }
            /* "localhost" -> ::1 may be unavailable; a later address may work */
            if (e == -EADDRINUSE)
                break;
            continue;
        }
        for (unsigned i = 0; i < gw->nth; i++)
            gw->th[i].lis[gw->th[i].nlis++] = ls[i];
        naddr++;
    }
    freeaddrinfo(res);
    if (naddr == 0 || firsterr == -EADDRINUSE) {
        snprintf(err, errlen, "%s", ebuf[0] ? ebuf : "no address to listen on");
        return firsterr ? firsterr : -EINVAL;
    }
    gw->port = port;
    return 0;
}

static int http_cfg_init(struct sio_gateway *gw, const struct sio_gateway_cfg *cfg,
                         char *err, size_t errlen)
{
    gw->cfg.cors_allowed_origins = NULL;
    gw->cfg.cookie = NULL;
    gw->cfg.statics = NULL;
    gw->cfg.nstatics = 0;
    if (sio_cors_init(&gw->cors, (int)cfg->cors_mode, cfg->cors_allowed_origins,
                      !cfg->no_cors_credentials) < 0)
        goto nomem;
    if (cfg->cookie && !(gw->cookie = strdup(cfg->cookie)))
        goto nomem;
    if (cfg->nstatics) {
        gw->statics = calloc(cfg->nstatics, sizeof *gw->statics);
        if (!gw->statics)
            goto nomem;
        for (size_t i = 0; i < cfg->nstatics; i++) {
            const struct sio_static_mount *sm = &cfg->statics[i];
            int r = sm->file ? sio_static_init_file(&gw->statics[gw->nstatics], sm->prefix,
                                                    sm->file, sm->content_type, err, errlen)
                             : sio_static_init(&gw->statics[gw->nstatics], sm->prefix, sm->dir,
                                               err, errlen);
            if (r < 0)
                return r;
            gw->nstatics++;
            if (cfg->static_default_file && (r = sio_static_set_default_file(
                    &gw->statics[i], cfg->static_default_file, err, errlen)) < 0)
                return r;
        }
    }
    gw->cfg.static_default_file = NULL;
    gw->cfg.upstream = NULL;
    if (cfg->tls_cert || cfg->tls_key) {
        struct sio_tls_sni *sni = NULL;
        if (cfg->ntls_sni && !(sni = calloc(cfg->ntls_sni, sizeof *sni)))
            goto nomem;
        for (size_t i = 0; i < cfg->ntls_sni; i++)
            sni[i] = (struct sio_tls_sni){ cfg->tls_sni[i].host, cfg->tls_sni[i].cert,
                                           cfg->tls_sni[i].key };
        const struct sio_tls_cfg tc = { .cert = cfg->tls_cert, .key = cfg->tls_key,
            .client_ca = cfg->tls_client_ca, .sni = sni, .nsni = cfg->ntls_sni };
        int r = sio_tls_new(&gw->tls, &tc, err, errlen);
        free(sni);
        if (r < 0)
            return r;
    }
    gw->cfg.tls_cert = gw->cfg.tls_key = gw->cfg.tls_client_ca = NULL;
    gw->cfg.tls_sni = NULL;
    if (cfg->upstream) {
        gw->upstream = calloc(1, sizeof *gw->upstream);
        if (!gw->upstream)
            goto nomem;
        int r = sio_upstream_init(gw->upstream, cfg->upstream, err, errlen);
        if (r < 0) {
            free(gw->upstream);
            gw->upstream = NULL;
            return r;
        }
    }
    return 0;
nomem:
    snprintf(err, errlen, "gateway: out of memory");
    return -ENOMEM;
}

static void http_cfg_clear(struct sio_gateway *gw)
{
    sio_cors_clear(&gw->cors);
    free(gw->cookie);
    for (size_t i = 0; i < gw->nstatics; i++)
        sio_static_clear(&gw->statics[i]);
    free(gw->statics);
    if (gw->upstream)
        sio_upstream_clear(gw->upstream);
    free(gw->upstream);
    sio_tls_free(&gw->tls);
}

static void use_threads_once(void)
{
    evthread_use_pthreads();
}


/* Stop and join every started thread. */
static void stop_threads(struct sio_gateway *gw)
{
    for (unsigned i = 0; i < gw->nth; i++)
        if (gw->th[i].started)
            event_active(gw->th[i].stop_ev, EV_TIMEOUT, 0);
    for (unsigned i = 0; i < gw->nth; i++)
        if (gw->th[i].started) {
            pthread_join(gw->th[i].thread, NULL);
            gw->th[i].started = false;
        }
}

static void gateway_free(struct sio_gateway *gw)
{
    /* only once no thread runs: a thread may hand a connection to any other */
    for (unsigned i = 0; gw->th && i < gw->nth; i++)
        thread_clear(&gw->th[i]);
    free(gw->th);
    gw_limits_clear(gw);
    http_cfg_clear(gw);
    gw_admin_clear(gw);
    gw_metrics_clear(gw);
    free(gw->host);
    free(gw->path);
    free(gw->engineio_path);
    free(gw);
}

int sio_gateway_new(sio_gateway **out, const struct sio_gateway_cfg *cfg, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, use_threads_once);
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    *out = NULL;
    if (!cfg || !cfg->zmq_ctx || !cfg->ep.events || !cfg->ep.commands) {
        snprintf(err, errlen, "gateway: zmq context and bus endpoints are required");
        return -EINVAL;
    }
    if (cfg->io_threads > GW_MAX_THREADS) {
        snprintf(err, errlen, "gateway: %u I/O threads (at most %d)", cfg->io_threads,
                 GW_MAX_THREADS);
        return -EINVAL;
    }
    struct sio_gateway *gw = calloc(1, sizeof *gw);
    if (!gw)
        return -ENOMEM;
    int r = -ENOMEM;
    gw->cfg = *cfg;
    gw->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
    gw->path = strdup(cfg->path ? cfg->path : "/socket.io/");
    gw->engineio_path = cfg->engineio_path ? strdup(cfg->engineio_path) : NULL;
    if (!gw->host || !gw->path || (cfg->engineio_path && !gw->engineio_path))
        goto fail;
    if (!gw->cfg.ping_interval_ms) gw->cfg.ping_interval_ms = 25000;
    if (!gw->cfg.ping_timeout_ms) gw->cfg.ping_timeout_ms = 20000;
    if (!gw->cfg.max_payload) gw->cfg.max_payload = 1000000;
    if (!gw->cfg.compression_threshold) gw->cfg.compression_threshold = 1024;
    if (!gw->cfg.hold_timeout_ms) gw->cfg.hold_timeout_ms = 30000;
    if (!gw->cfg.hold_max_events) gw->cfg.hold_max_events = 10000;
    if (!gw->cfg.hold_max_bytes) gw->cfg.hold_max_bytes = 16u << 20;
    gw->cfg.host = gw->host;
    gw->cfg.path = gw->path;
    gw->cfg.engineio_path = gw->engineio_path;
    unsigned nth = cfg->io_threads;
    if (nth == 0) {
        /* the cores this process may run on (taskset, cgroup cpusets),
         * not every core of the machine */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
            cores = CPU_COUNT(&set);
        nth = cores < 1 ? 1 : cores > GW_MAX_THREADS ? GW_MAX_THREADS : (unsigned)cores;
    }
    gw->cfg.io_threads = nth;
    gw->th = calloc(nth, sizeof *gw->th);
    if (!gw->th)
        goto fail;
    gw->nth = nth;
    gw_limits_init(gw);
    for (unsigned i = 0; i < nth; i++)
        if ((r = thread_init(gw, &gw->th[i], i)) < 0)
            goto fail;
    r = http_cfg_init(gw, cfg, err, errlen);
    if (r < 0)
        goto fail;
    gw_metrics_init(gw);
    r = gw_admin_init(gw, err, errlen);
    if (r < 0)
        goto fail;
    r = bind_listeners(gw, err, errlen);
    if (r < 0)
        goto fail;
    for (unsigned i = 0; i < nth; i++)
        if ((r = thread_bus(&gw->th[i], cfg, err, errlen)) < 0)
            goto fail;
    for (unsigned i = 0; i < nth; i++) {
        struct gw_thread *t = &gw->th[i];
        if (pthread_create(&t->thread, NULL, thread_main, t) != 0) {
            snprintf(err, errlen, "gateway: cannot start thread");
            r = -EAGAIN;
            stop_threads(gw);
            goto fail;
        }
        t->started = true;
    }
    gw->started = true;
    char ids[GW_MAX_THREADS * (SIO_GW_ID_LEN + 1)];
    size_t il = 0;
    for (unsigned i = 0; i < nth; i++) {
        memcpy(ids + il, gw->th[i].id, SIO_GW_ID_LEN);
        il += SIO_GW_ID_LEN;
        ids[il++] = i + 1 < nth ? ',' : 0;
    }
    sio_log_info(topic, "gateway %s listening on %s:%u%s (%u I/O thread%s%s)", ids, gw->host,
                 gw->port, gw->path, nth, nth == 1 ? "" : "s", gw->tls ? ", TLS" : "");
    *out = gw;
    return 0;
fail:
    if (!err[0] && r == -ENOMEM)
        snprintf(err, errlen, "gateway: out of memory");
    gateway_free(gw);
    return r;
}

/* ---------- graceful stop ---------- */

/* On each thread: the first call stops its listeners and disconnects its
 * sockets; then it counts its sessions every 50 ms until none is left. */
static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_thread *t = arg;
    if (!t->drain_started) {
        t->drain_started = true;
        for (int i = 0; i < t->nlis; i++)
            evconnlistener_disable(t->lis[i]);
        /* one DISCONNECT_CMD per namespace: the packet "1" reaches every
         * socket, the workers see "server disconnect" */
        size_t nn = t->nsps.n, k = 0, it = 0;
        char **names = calloc(nn ? nn : 1, sizeof *names);
        struct sio_map_ent *e = NULL;
        while (names && k < nn && (e = sio_map_next(&t->nsps, e, &it)) != NULL)
            names[k++] = strndup(e->key, e->klen);
        for (size_t i = 0; i < k; i++) {
            if (!names[i])
                continue;
            struct sio_env env;
            sio_env_init(&env, SIO_ENV_DISCONNECT_CMD);
            env.nsp = (struct sio_str){ names[i], strlen(names[i]) };
            gw_sio_command(t, &env);
            free(names[i]);
        }
        free(names);
        /* HTTP/2 clients: GOAWAY, no new streams; the open ones finish */
        h2_goaway_all(t);
        sio_log_info(topic, "gateway %s draining: %zu sessions", t->id, t->sessions.n);
    }
    atomic_store(&t->drain_left, (int)t->sessions.n);
    if (t->sessions.n) {
        struct timeval tv = { 0, 50000 };
        event_add(t->drain_ev, &tv);
    }
}

int sio_gateway_drain(sio_gateway *gw, unsigned timeout_ms)
{
    if (!gw || !gw->started || gw->draining)
        return -EINVAL;
    for (unsigned i = 0; i < gw->nth; i++) {
        struct gw_thread *t = &gw->th[i];
        if (!t->drain_ev && !(t->drain_ev = evtimer_new(t->base, drain_cb, t)))
            return -ENOMEM;     /* the ones made are kept for a retry */
    }
    gw->draining = true;
    for (unsigned i = 0; i < gw->nth; i++)
        event_active(gw->th[i].drain_ev, EV_TIMEOUT, 0);
    for (unsigned waited = 0;; waited += 20) {
        int left = 0;
        for (unsigned i = 0; i < gw->nth; i++) {
            int l = atomic_load(&gw->th[i].drain_left);
            left += l < 0 ? 1 : l;      /* not checked yet */
        }
        if (left == 0 || waited >= timeout_ms)
            return left;
        struct timespec ts = { 0, 20 * 1000000 };
        nanosleep(&ts, NULL);
    }
}

uint16_t sio_gateway_port(const sio_gateway *gw)
{
    return gw->port;
}

int sio_gateway_tls_reload(sio_gateway *gw, char *err, size_t errlen)
{
    if (!gw->tls) {
        snprintf(err, errlen, "TLS is off");
        return -EINVAL;
    }
    return sio_tls_reload(gw->tls, err, errlen);
}

void sio_gateway_destroy(sio_gateway **gw_p)
{
    struct sio_gateway *gw = gw_p ? *gw_p : NULL;
    if (!gw)
        return;
    stop_threads(gw);
    gateway_free(gw);
    *gw_p = NULL;
}

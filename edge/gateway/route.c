/* route.c: the gateway's HTTP routing: what a parsed request becomes.
 * The Engine.IO endpoints (handshake, polling GET and POST, the WebSocket
 * upgrade, HTTP/1.1 or RFC 8441 over HTTP/2, the exact JS error
 * responses), CORS, the h2c upgrade and ALPN h2, and the other routes:
 * /metrics, static mounts, the upstream. A request for another thread's
 * session goes there first (handover.c). gw_http_cbs are the callbacks
 * of every HTTP connection (conn.c, gw_conn_start) and forwarded request
 * (handover.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <http_parser.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"
#include "proto/eio.h"
#include "proto/sio.h"
#include "edge/http/compress.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.gateway");

static void http_on_close(struct sio_http_conn *h, void *ud)
{
    struct gw_conn *c = ud;
    if (c->xid)
        gw_xforward_cancel(c);
    gw_session_conn_closed(c);
    gw_session_post_gone(c);
    sio_upstream_detach(&c->up);
    c->http = NULL;
    gw_conn_unlink(c);
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
    gw_conn_unlink(c);
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
    c->stream = true;
    c->refuse = p->refuse;
    memcpy(c->remote, p->remote, sizeof c->remote);
    memcpy(c->ip, p->ip, sizeof c->ip);
    gw_conn_link(t, c);
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
        gw_conn_unlink(c);
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
        gw_conn_unlink(c);
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
    gw_conn_unlink(c);
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
           : (req->method != HTTP_GET || !sio_http_header_has_token(req, "upgrade", "websocket") ||
              !sio_http_header_has_token(req, "connection", "upgrade"))) {
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
        gw_conn_unlink(c);
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
    if (gw->nth > 1 && gw_handover(c, sid, sidl))
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
        sio_http_header_has_token(req, "upgrade", "h2c") && !sio_http_header_has_token(req, "upgrade", "websocket") &&
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
    if (has_sid && gw->nth > 1 && sio_http_is_exchange(h) && gw_xforward(c, req, sid, sidl))
        return;     /* another thread's session: answered from there */
    if (!has_tr)
        tr = NULL;
    c->enc = SIO_ENC_IDENTITY;
    if (cors_request(c, req))
        return;
    if ((req->upgrade && sio_http_header_has_token(req, "upgrade", "websocket")) ||
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

const struct sio_http_cbs gw_http_cbs = { on_request, http_on_close, on_headers, on_h2 };

/* session.c: Engine.IO v4 sessions: polling (long-poll GET, POST),
 * WebSocket, the polling -> WebSocket upgrade (2probe/3probe/5), heartbeats
 * and the shared outgoing packets (gw_pkt).
 *
 * A session is owned by its thread's sessions map. Connections point at it
 * (gw_conn.sess) and it points back at its pending GET, its WebSocket and
 * its probe; gw_session_close() cuts those links, closes the transports and
 * moves the session to the thread's dead list, freed from a deferred event
 * so that no callback on the stack still holds it.
 *
 * What a session's messages become is its kind's (struct gw_session_ops,
 * chosen by gw_session_new's caller): the Socket.IO layer (socket.c,
 * gw_sio_ops) or the raw Engine.IO service (raw.c, gw_raw_ops). This file
 * calls no Socket.IO function by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"
#include "edge/http/compress.h"
#include "proto/eio.h"
#include "base/vec.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.eio");

/* ---------- shared packets ---------- */

struct gw_pkt *gw_pkt_new(struct gw_thread *t, int type, bool binary)
{
    struct gw_pkt *p = t->pkt_free;
    if (p) {
        t->pkt_free = p->next_free;
        t->npkt_free--;
    } else {
        p = calloc(1, sizeof *p);
        if (!p)
            return NULL;
    }
    p->t = t;
    p->refs = 1;
    p->type = type;
    p->binary = binary;
    sio_buf_reset(&p->data);
    sio_buf_reset(&p->ws);
    sio_buf_reset(&p->poll);
    p->next_free = NULL;
    return p;
}

void gw_pkt_unref(struct gw_pkt *p)
{
    if (!p || --p->refs > 0)
        return;
    struct gw_thread *t = p->t;
    if (t->npkt_free < 256 && p->data.cap <= 65536 && p->ws.cap <= 65536 && p->poll.cap <= 65536) {
        p->next_free = t->pkt_free;
        t->pkt_free = p;
        t->npkt_free++;
        return;
    }
    sio_buf_clear(&p->data);
    sio_buf_clear(&p->ws);
    sio_buf_clear(&p->poll);
    free(p);
}

static void pkt_ref_cleanup(const void *data, size_t len, void *arg)
{
    gw_pkt_unref(arg);
}

static int pkt_ws(struct gw_pkt *p)
{
    if (p->ws.len)
        return 0;
    struct sio_buf *sc = &p->t->scratch;
    sio_buf_reset(sc);
    if (sio_eio_encode_frame(sc, (enum sio_eio_type)p->type, p->binary, p->data.data, p->data.len) < 0)
        return -ENOMEM;
    return sio_ws_frame(&p->ws, p->binary, sc->data, sc->len);
}

static int pkt_poll(struct gw_pkt *p)
{
    if (p->poll.len)
        return 0;
    return sio_eio_encode_payload(&p->poll, (enum sio_eio_type)p->type, p->binary,
                                  p->data.data, p->data.len);
}

/* ---------- helpers ---------- */

void gw_conn_reply_type(struct gw_conn *c, char type)
{
    char body[1] = { type };
    if (c->http)
        sio_http_reply(c->http, "200 OK",
                       "Content-Type: text/plain; charset=UTF-8\r\nContent-Length: 1\r\n"
                       "cache-control: no-store\r\n", false, body, 1);
}

static void post_ok(struct gw_conn *c)
{
    if (c->http)
        sio_http_reply(c->http, "200 OK", "Content-Type: text/html\r\nContent-Length: 2\r\n"
                                          "cache-control: no-store\r\n", false, "ok", 2);
}

static void release_get(struct gw_session *s, char type)
{
    struct gw_conn *c = s->get;
    if (!c)
        return;
    s->get = NULL;
    c->sess = NULL;
    gw_conn_reply_type(c, type);
}

static void arm(struct event *ev, unsigned ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(ev, &tv);
}

static void ws_write_pkt(struct gw_session *s, struct gw_conn *c, struct gw_pkt *p)
{
    if (!c->ws || pkt_ws(p) < 0)
        return;
    p->refs++;
    sio_ws_write_framed(c->ws, p->ws.data, p->ws.len, pkt_ref_cleanup, p);
}

/* A polling data response: compressed (chunked, no Content-Length, as
 * the JS server) when the GET accepted it and the body is big enough. */
static void poll_reply(struct gw_thread *t, struct gw_conn *c, struct evbuffer *out)
{
    const struct sio_gateway_cfg *cfg = &t->gw->cfg;
    const char *name = sio_http_enc_name((enum sio_http_enc)c->enc);
    if (name && evbuffer_get_length(out) >= cfg->compression_threshold &&
        sio_http_compress((enum sio_http_enc)c->enc, out, t->zout) == 0) {
        char pre[128];
        snprintf(pre, sizeof pre, "Content-Type: text/plain; charset=UTF-8\r\n"
                                  "Content-Encoding: %s\r\ncache-control: no-store\r\n", name);
        sio_http_reply_chunked_evbuf(c->http, "200 OK", pre, t->zout);
        evbuffer_drain(t->zout, evbuffer_get_length(t->zout));
        return;
    }
    sio_http_reply_evbuf(c->http, "200 OK", "Content-Type: text/plain; charset=UTF-8\r\n",
                         "cache-control: no-store\r\n", out);
}

static void flush_poll(struct gw_session *s)
{
    struct gw_conn *c = s->get;
    if (!c || !s->qn || s->upgrading)
        return;
    struct evbuffer *out = s->t->pollout;
    for (size_t i = 0; i < s->qn; i++) {
        struct gw_pkt *p = s->q[i];
        if (pkt_poll(p) == 0) {
            if (evbuffer_get_length(out))
                evbuffer_add(out, "\x1e", 1);
            p->refs++;
            evbuffer_add_reference(out, p->poll.data, p->poll.len, pkt_ref_cleanup, p);
        }
        gw_pkt_unref(p);
    }
    s->qn = 0;
    s->qbytes = 0;
    s->get = NULL;
    c->sess = NULL;
    if (c->http)
        poll_reply(s->t, c, out);
    evbuffer_drain(out, evbuffer_get_length(out));
}

static void flush_ws_queue(struct gw_session *s)
{
    for (size_t i = 0; i < s->qn; i++) {
        ws_write_pkt(s, s->ws, s->q[i]);
        gw_pkt_unref(s->q[i]);
    }
    s->qn = 0;
    s->qbytes = 0;
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_session *s = arg;
    if (s->overflow) {
        gw_session_close(s, "transport error");
        return;
    }
    flush_poll(s);
}

/* The client left more than max_client_buffer bytes unread: dropped. The
 * close is deferred (flush_ev), as the caller may be walking a broadcast's
 * recipients; nothing more is queued meanwhile. */
static void count_slow_client(struct gw_session *s)
{
    unsigned long long n = atomic_fetch_add(&s->t->gw->st_slow, 1) + 1;
    sio_log_info(topic, "%s: slow client (%.*s): more than %zu bytes unread: disconnected "
                 "(%llu so far)", s->sid, (int)s->remote.len, s->remote.p,
                 s->t->gw->cfg.max_client_buffer, n);
}

static void slow_client(struct gw_session *s)
{
    if (s->overflow)
        return;
    s->overflow = true;
    count_slow_client(s);
    for (size_t i = 0; i < s->qn; i++)
        gw_pkt_unref(s->q[i]);
    s->qn = 0;
    s->qbytes = 0;
    event_active(s->flush_ev, EV_TIMEOUT, 0);
}

void gw_session_send(struct gw_session *s, struct gw_pkt *p)
{
    if (s->closed || s->overflow || !p)
        return;
    if (s->t->admin_watch) {
        s->t->admin_agg[GW_AGG_POUT]++;
        s->t->admin_agg[GW_AGG_BOUT] += p->data.len;
    }
    if (GW_METRICS(s->t)) {
        GW_M_ADD(s->t, pkt_out, 1);
        GW_M_ADD(s->t, bytes_out, p->data.len);
    }
    if (s->ws_transport && s->ws) {
        ws_write_pkt(s, s->ws, p);
        return;
    }
    /* a polling client that stops asking (or a WebSocket being upgraded
     * to that does not finish) cannot make the queue grow past the cap */
    size_t most = s->t->gw->cfg.max_client_buffer;
    if (most && s->qbytes + p->data.len > most) {
        slow_client(s);
        return;
    }
    if (SIO_VEC_ROOM(s->q, s->qn, s->qcap, 8) < 0)
        return;
    p->refs++;
    s->q[s->qn++] = p;
    s->qbytes += p->data.len;
    /* deferred, so that the packets of one batch (a packet and its
     * attachments, or several commands) share one polling response */
    if (s->get && !s->upgrading)
        event_active(s->flush_ev, EV_TIMEOUT, 0);
}

bool gw_session_writable(const struct gw_session *s)
{
    if (s->closed || s->overflow)
        return false;
    if (s->ws_transport && s->ws)
        return s->ws->ws && sio_ws_writable(s->ws->ws);
    return s->get && !s->upgrading && !s->qn;
}

void gw_session_send_text(struct gw_session *s, int type, const char *data, size_t len)
{
    struct gw_pkt *p = gw_pkt_new(s->t, type, false);
    if (!p)
        return;
    if (len)
        sio_buf_append(&p->data, data, len);
    gw_session_send(s, p);
    gw_pkt_unref(p);
}

void gw_session_send_open(struct gw_session *s, bool upgrades)
{
    const struct sio_gateway_cfg *cfg = &s->t->gw->cfg;
    struct sio_buf *sc = &s->t->scratch;
    sio_buf_reset(sc);
    sio_eio_encode_open(sc, s->sid, upgrades, cfg->ping_interval_ms, cfg->ping_timeout_ms,
                        cfg->max_payload);
    if (sc->len < 1)
        return;
    struct gw_pkt *p = gw_pkt_new(s->t, SIO_EIO_OPEN, false);
    if (!p)
        return;
    sio_buf_append(&p->data, sc->data + 1, sc->len - 1);
    gw_session_send(s, p);
    gw_pkt_unref(p);
}

/* ---------- lifecycle ---------- */

static void ping_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_session *s = arg;
    const struct sio_gateway_cfg *cfg = &s->t->gw->cfg;
    if (s->awaiting_pong) {
        sio_log_debug(topic, "%s: ping timeout", s->sid);
        gw_session_close(s, "ping timeout");
        return;
    }
    s->awaiting_pong = true;
    gw_session_send_text(s, SIO_EIO_PING, NULL, 0);
    arm(s->ping_ev, cfg->ping_timeout_ms);
}

static void rate_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_session *s = arg;
    s->rate_paused = false;
    gw_session_resume(s);
}

/* A window pause whose confirmations never come (events lost with a hub
 * that restarted) must not stop the client for good. */
#define WINDOW_WAIT_MS 60000

static bool window_open(const struct gw_session *s)
{
    return !s->ops->window_open || s->ops->window_open(s);
}

static void win_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_session *s = arg;
    sio_log_warn(topic, "%s: no EVENT_DONE for %d ms: reading the client again", s->sid,
                 WINDOW_WAIT_MS);
    if (s->ops->window_forget)
        s->ops->window_forget(s);
    gw_session_resume(s);
}

void gw_session_pause(struct gw_session *s)
{
    if (s->closed)
        return;
    if (!s->rate_paused && !window_open(s) &&
        (s->win_ev || (s->win_ev = evtimer_new(s->t->base, win_cb, s))) &&
        !evtimer_pending(s->win_ev, NULL))
        arm(s->win_ev, WINDOW_WAIT_MS);
    if (s->paused)
        return;
    s->paused = true;
    if (s->ws && s->ws->ws)
        sio_ws_pause(s->ws->ws, true);
}

void gw_session_resume(struct gw_session *s)
{
    if (!s->paused || s->closed || s->rate_paused || !window_open(s))
        return;
    s->paused = false;
    if (s->win_ev)
        evtimer_del(s->win_ev);
    if (s->ws && s->ws->ws)
        sio_ws_pause(s->ws->ws, false);
    if (s->post) {
        struct gw_conn *c = s->post;
        s->post = NULL;
        c->post_of = NULL;
        post_ok(c);
    }
}

void gw_session_post_gone(struct gw_conn *c)
{
    if (c->post_of) {
        c->post_of->post = NULL;
        c->post_of = NULL;
    }
}

/* One more message from the client: over cfg.max_events_per_sec it is
 * not read until its bucket has a token again. */
static void rate_check(struct gw_session *s)
{
    unsigned rate = s->t->gw->cfg.max_events_per_sec;
    unsigned wait = rate ? gw_bucket_take(&s->events, rate, gw_now_ms(), true) : 0;
    if (!wait || s->rate_paused)
        return;
    if (!s->rate_ev && !(s->rate_ev = evtimer_new(s->t->base, rate_cb, s)))
        return;
    s->rate_paused = true;
    gw_session_pause(s);
    arm(s->rate_ev, wait);
}

struct gw_session *gw_session_new(struct gw_thread *t, const struct gw_session_ops *ops,
                                  const struct sio_http_req *req, const char *remote)
{
    /* the ping timer and the flush event live in the same allocation */
    size_t evsz = (event_get_struct_event_size() + 15) & ~(size_t)15;
    struct gw_session *s = calloc(1, ((sizeof *s + 15) & ~(size_t)15) + 2 * evsz);
    if (!s)
        return NULL;
    s->t = t;
    s->ops = ops;
    do
        gw_make_sid(s->sid, t->idx);
    while (sio_map_get(&t->sessions, s->sid, GW_SID_LEN));
    s->ping_ev = (struct event *)((char *)s + ((sizeof *s + 15) & ~(size_t)15));
    s->flush_ev = (struct event *)((char *)s->ping_ev + evsz);
    evtimer_assign(s->ping_ev, t->base, ping_cb, s);
    event_assign(s->flush_ev, t->base, -1, 0, flush_cb, s);
    sio_buf_init(&s->env_arena);
    sio_buf_init(&s->bin.text);
    sio_buf_init(&s->bin.bins);
    /* environ: copy the request's query, headers and remote address into
     * one arena */
    size_t nh = req->nhdrs;
    s->headers = calloc(nh ? nh * 2 : 1, sizeof *s->headers);
    if (!s->headers)
        goto fail;
    size_t *offs = calloc(nh * 2 + 1, sizeof *offs);
    if (!offs)
        goto fail;
    int r = sio_buf_append(&s->env_arena, req->query, req->query_len);
    for (size_t i = 0; i < nh && r == 0; i++) {
        offs[2 * i] = s->env_arena.len;
        r = sio_buf_append(&s->env_arena, req->hdrs[i].name, req->hdrs[i].name_len);
        offs[2 * i + 1] = s->env_arena.len;
        if (r == 0)
            r = sio_buf_append(&s->env_arena, req->hdrs[i].value, req->hdrs[i].value_len);
    }
    size_t remote_at = s->env_arena.len, remote_len = strlen(remote);
    if (r == 0)
        r = sio_buf_append(&s->env_arena, remote, remote_len);
    if (r == 0 && !s->env_arena.data)
        r = sio_buf_reserve(&s->env_arena, 1);
    sio_buf_fit(&s->env_arena);     /* kept as long as the session */
    if (r < 0) {
        free(offs);
        goto fail;
    }
    const char *a = (const char *)s->env_arena.data;
    s->query.p = a;
    s->query.len = req->query_len;
    s->remote.p = a + remote_at;
    s->remote.len = remote_len;
    for (size_t i = 0; i < nh; i++) {
        s->headers[2 * i].p = a + offs[2 * i];
        s->headers[2 * i].len = req->hdrs[i].name_len;
        s->headers[2 * i + 1].p = a + offs[2 * i + 1];
        s->headers[2 * i + 1].len = req->hdrs[i].value_len;
    }
    s->nheaders = nh;
    free(offs);
    if (sio_map_put(&t->sessions, s->sid, GW_SID_LEN, s) < 0)
        goto fail;
    atomic_fetch_add(&t->gw->nsessions, 1);
    if (t->gw->cfg.admin) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s->issued = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        t->admin_agg[GW_AGG_CONN]++;
    }
    sio_log_debug(topic, "%s: open (%s)", s->sid, ops->name);
    return s;
fail:
    free(s->headers);
    sio_buf_clear(&s->env_arena);
    free(s);
    return NULL;
}

void gw_session_joined(struct gw_session *s)
{
    if (s->conn_ev) {
        event_free(s->conn_ev);
        s->conn_ev = NULL;
    }
}

void gw_session_start(struct gw_session *s)
{
    arm(s->ping_ev, s->t->gw->cfg.ping_interval_ms);
    s->ops->on_open(s);
}

void gw_session_close(struct gw_session *s, const char *reason)
{
    if (s->closed)
        return;
    s->closed = true;
    struct gw_thread *t = s->t;
    sio_log_debug(topic, "%s: close (%s)", s->sid, reason);
    s->ops->on_close(s, reason);
    if (s->get && s->qn)
        flush_poll(s);      /* e.g. a server disconnect's 41 goes out first */
    release_get(s, '1');
    if (s->ws) {
        struct gw_conn *c = s->ws;
        s->ws = NULL;
        c->sess = NULL;
        if (c->ws)
            sio_ws_close(c->ws, 0);
    }
    if (s->probe) {
        struct gw_conn *c = s->probe;
        s->probe = NULL;
        c->sess = NULL;
        if (c->ws)
            sio_ws_close(c->ws, 0);
    }
    evtimer_del(s->ping_ev);
    event_del(s->flush_ev);
    for (size_t i = 0; i < s->qn; i++)
        gw_pkt_unref(s->q[i]);
    s->qn = 0;
    s->qbytes = 0;
    if (s->conn_ev)
        evtimer_del(s->conn_ev);
    if (s->rate_ev)
        evtimer_del(s->rate_ev);
    if (s->win_ev)
        evtimer_del(s->win_ev);
    if (s->post) {
        struct gw_conn *pc = s->post;
        s->post = NULL;
        pc->post_of = NULL;
        post_ok(pc);
    }
    sio_map_del(&t->sessions, s->sid, GW_SID_LEN);
    s->next_dead = t->dead;
    t->dead = s;
    if (!t->stopping)
        event_active(t->reap_ev, EV_TIMEOUT, 0);
}

void gw_session_reap(struct gw_thread *t)
{
    while (t->dead) {
        struct gw_session *s = t->dead;
        t->dead = s->next_dead;
        event_del(s->ping_ev);
        event_del(s->flush_ev);
        if (s->conn_ev)
            event_free(s->conn_ev);
        if (s->rate_ev)
            event_free(s->rate_ev);
        if (s->win_ev)
            event_free(s->win_ev);
        atomic_fetch_sub(&t->gw->nsessions, 1);
        if (t->admin_watch)
            t->admin_agg[GW_AGG_DISC]++;
        if (GW_METRICS(t) && s->ws_transport)
            GW_M_ADD(t, ws_sessions, -1);
        free(s->q);
        free(s->headers);
        sio_buf_clear(&s->env_arena);
        sio_buf_clear(&s->bin.text);
        sio_buf_clear(&s->bin.bins);
        free(s->bin.offs);
        free(s);
    }
}

/* ---------- incoming ---------- */

void gw_session_on_packet(struct gw_session *s, int type, bool binary, const uint8_t *data, size_t len)
{
    if (s->closed)
        return;
    if (s->t->admin_watch && type == SIO_EIO_MESSAGE) {
        s->t->admin_agg[GW_AGG_PIN]++;
        s->t->admin_agg[GW_AGG_BIN] += len;
    }
    if (GW_METRICS(s->t)) {
        GW_M_ADD(s->t, pkt_in, 1);
        GW_M_ADD(s->t, bytes_in, len);
    }
    switch (type) {
    case SIO_EIO_PONG:
        if (s->awaiting_pong) {
            s->awaiting_pong = false;
            arm(s->ping_ev, s->t->gw->cfg.ping_interval_ms);
        }
        break;
    case SIO_EIO_PING:      /* v4 clients never ping */
        sio_log_debug(topic, "%s: ping from client", s->sid);
        gw_session_close(s, "transport error");
        break;
    case SIO_EIO_MESSAGE:
        rate_check(s);
        s->ops->on_message(s, binary, data, len);
        break;
    case SIO_EIO_CLOSE:
        release_get(s, '6');
        gw_session_close(s, "client disconnect");
        break;
    default:
        break;
    }
}

void gw_session_poll_get(struct gw_session *s, struct gw_conn *c)
{
    if (s->get) {
        /* a second concurrent GET: the JS server answers it 400 and closes
         * the session, which answers the first one with a close packet */
        sio_http_reply(c->http, "400 Bad Request", "", true, NULL, 0);
        gw_session_close(s, "transport error");
        return;
    }
    if (s->upgrading || s->probe) {
        if (s->upgrading) {
            gw_conn_reply_type(c, '6');
            return;
        }
    }
    s->get = c;
    c->sess = s;
    if (s->qn)
        flush_poll(s);
}

struct post_ctx {
    struct gw_session *s;
};

static int post_packet(const struct sio_eio_packet *pkt, void *ud)
{
    struct gw_session *s = ud;
    gw_session_on_packet(s, (int)pkt->type, pkt->binary, pkt->data, pkt->len);
    return s->closed ? 1 : 0;
}

void gw_session_poll_post(struct gw_session *s, struct gw_conn *c, struct sio_http_req *req)
{
    struct sio_http_conn *h = c->http;
    const struct sio_http_hdr *ct = sio_http_header(req, "content-type");
    if (ct && strncasecmp(ct->value, "application/octet-stream", 24) == 0) {
        sio_http_reply(h, "400 Bad Request", "", true, NULL, 0);
        gw_session_close(s, "transport error");
        return;
    }
    int r = sio_eio_decode_payload((uint8_t *)req->body, req->body_len, 0, post_packet, s);
    if (r < 0) {
        sio_log_debug(topic, "%s: bad payload: %s", s->sid, sio_strerror(r));
        gw_session_close(s, "transport error");
    }
    if (s->paused && !s->closed) {
        /* the client sends its next POST after this reply: holding it
         * is how a polling client is "not read" */
        if (s->post) {
            struct gw_conn *old = s->post;
            old->post_of = NULL;
            post_ok(old);
        }
        s->post = c;
        c->post_of = s;
        return;
    }
    post_ok(c);
}

void gw_session_ws_message(struct gw_conn *c, bool binary, const uint8_t *data, size_t len)
{
    struct gw_session *s = c->sess;
    if (!s || s->closed)
        return;
    struct sio_eio_packet pkt;
    int r = sio_eio_decode_frame(data, len, binary, &pkt);
    if (c == s->probe) {
        if (r == 0 && pkt.type == SIO_EIO_PING && !pkt.binary && pkt.len == 5 &&
            memcmp(pkt.data, "probe", 5) == 0 && !s->upgrading) {
            sio_ws_send(c->ws, false, "3probe", 6);
            s->upgrading = true;
            release_get(s, '6');
        } else if (r == 0 && pkt.type == SIO_EIO_UPGRADE && s->upgrading) {
            s->probe = NULL;
            s->ws = c;
            s->ws_transport = true;
            s->upgrading = false;
            release_get(s, '6');
            if (s->t->admin_watch)
                gw_admin_upgraded(s);
            if (GW_METRICS(s->t))
                GW_M_ADD(s->t, ws_sessions, 1);
            flush_ws_queue(s);
            if (s->paused)
                sio_ws_pause(c->ws, true);
            sio_log_debug(topic, "%s: upgraded to websocket", s->sid);
        } else {
            sio_log_debug(topic, "%s: bad upgrade packet", s->sid);
            s->probe = NULL;
            s->upgrading = false;
            c->sess = NULL;
            sio_ws_close(c->ws, 0);
            if (s->qn && s->get)
                event_active(s->flush_ev, EV_TIMEOUT, 0);
        }
        return;
    }
    if (c != s->ws)
        return;
    if (r < 0) {
        sio_log_debug(topic, "%s: bad frame: %s", s->sid, sio_strerror(r));
        gw_session_close(s, "transport error");
        return;
    }
    gw_session_on_packet(s, (int)pkt.type, pkt.binary, pkt.data, pkt.len);
}

void gw_session_ws_closed(struct gw_conn *c)
{
    struct gw_session *s = c->sess;
    c->sess = NULL;
    if (!s)
        return;
    if (c == s->probe) {
        s->probe = NULL;
        s->upgrading = false;
        if (s->qn && s->get)
            event_active(s->flush_ev, EV_TIMEOUT, 0);
    } else if (c == s->ws) {
        s->ws = NULL;
        if (c->ws && sio_ws_overflowed(c->ws)) {
            count_slow_client(s);
            gw_session_close(s, "transport error");
        } else {
            gw_session_close(s, "transport close");
        }
    }
}

void gw_session_conn_closed(struct gw_conn *c)
{
    struct gw_session *s = c->sess;
    c->sess = NULL;
    if (s && s->get == c) {
        /* as the JS server: a pending GET closed by the client ends the
         * session ("poll connection closed prematurely") */
        s->get = NULL;
        gw_session_close(s, "transport close");
    }
}

/* socket.c: the Socket.IO v5 layer of the gateway: sockets per namespace,
 * packets from clients (headers only; JSON args are forwarded as text) and
 * commands from the hub (connect replies, emits, acks, rooms, disconnects,
 * raw sends).
 *
 * A broadcast is encoded once into shared gw_pkt objects (the packet and
 * one per attachment); each transport kind frames it once and every
 * recipient references the same bytes (session.c).
 *
 * Disconnect reasons sent to workers: "client disconnect" (41 or an
 * Engine.IO close packet), "transport close" (connection lost), "ping
 * timeout", "transport error" (protocol errors), "server disconnect"
 * (DISCONNECT_CMD).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"
#include "proto/eio.h"
#include "proto/sio.h"
#include "base/vec.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.sio");

/* ---------- namespaces and sockets ---------- */

static struct gw_nsp *nsp_get(struct gw_thread *t, const char *name, size_t len, bool create)
{
    struct gw_nsp *n = sio_map_get(&t->nsps, name, len);
    if (n || !create)
        return n;
    n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->t = t;
    n->name = strndup(name, len);
    n->name_len = len;
    sio_map_init(&n->socks);
    sio_map_init(&n->rooms);
    if (!n->name || sio_map_put(&t->nsps, name, len, n) < 0) {
        free(n->name);
        free(n);
        return NULL;
    }
    return n;
}

static void nsp_free(struct gw_nsp *n)
{
    size_t i = 0;
    for (struct sio_map_ent *e = sio_map_next(&n->rooms, NULL, &i); e; e = sio_map_next(&n->rooms, e, &i))
        gw_room_free(e->val);
    sio_map_clear(&n->rooms);
    sio_map_clear(&n->socks);
    free(n->name);
    free(n);
}

void gw_nsps_clear(struct gw_thread *t)
{
    size_t i = 0;
    for (struct sio_map_ent *e = sio_map_next(&t->nsps, NULL, &i); e; e = sio_map_next(&t->nsps, e, &i))
        nsp_free(e->val);
    sio_map_clear(&t->nsps);
    free(t->sel);
    t->sel = NULL;
    t->selcap = t->nsel = 0;
}

/* ---------- at-least-once: events kept until their worker confirms ---------- */

struct gw_pending {
    struct gw_pending *next;
    int64_t seq;
    size_t rlen, elen;
    unsigned char bytes[];      /* route frame, then envelope frame */
};


static void pending_drop(struct gw_sock *k)
{
    struct gw_pending *p = k->pend;
    k->pend = p->next;
    k->npend--;
    k->pend_bytes -= p->rlen + p->elen;
    free(p);
}

static void pending_clear(struct gw_sock *k)
{
    while (k->pend)
        pending_drop(k);
    k->pend_tail = &k->pend;
}

/* Keep a copy of the frames of the event just sent (t->envbuf). False when
 * it cannot be kept: the socket is past its bounds, or out of memory. */
static bool pending_keep(struct gw_thread *t, struct gw_sock *k, const struct sio_env *env)
{
    const struct sio_gateway_cfg *cfg = &t->gw->cfg;
    char route[1 + SIO_MAX_NSP_LEN + 1 + 128];
    int rl = sio_bus_route_make(route, sizeof route, (int)env->kind, env->nsp.p, env->nsp.len,
                                env->sid.p, env->sid.len);
    if (rl < 0)
        return false;
    size_t sz = (size_t)rl + t->envbuf.len;
    if (k->npend >= cfg->hold_max_events || sz > cfg->hold_max_bytes - k->pend_bytes ||
        k->pend_bytes > cfg->hold_max_bytes)
        return false;
    struct gw_pending *p = malloc(sizeof *p + sz);
    if (!p)
        return false;
    p->next = NULL;
    p->seq = env->confirm;
    p->rlen = (size_t)rl;
    p->elen = t->envbuf.len;
    memcpy(p->bytes, route, (size_t)rl);
    memcpy(p->bytes + rl, t->envbuf.data, t->envbuf.len);
    if (!k->pend_tail)
        k->pend_tail = &k->pend;
    *k->pend_tail = p;
    k->pend_tail = &p->next;
    k->npend++;
    k->pend_bytes += sz;
    return true;
}

static void pending_done(struct gw_sock *k, int64_t upto)
{
    while (k->pend && k->pend->seq <= upto)
        pending_drop(k);
    if (!k->pend)
        k->pend_tail = &k->pend;
}

static void env_sock(struct gw_sock *k, struct sio_env *env, enum sio_env_kind kind)
{
    sio_env_init(env, kind);
    env->gw.p = k->sess->t->id;
    env->gw.len = SIO_GW_ID_LEN;
    env->nsp.p = k->nsp->name;
    env->nsp.len = k->nsp->name_len;
    env->sid.p = k->sid;
    env->sid.len = GW_SID_LEN;
}

static struct gw_sock *sess_sock(struct gw_session *s, const char *nsp, size_t len)
{
    for (struct gw_sock *k = s->socks; k; k = k->next_in_sess)
        if (k->nsp->name_len == len && memcmp(k->nsp->name, nsp, len) == 0)
            return k;
    return NULL;
}

/* Remove a socket; with a reason, tell the workers. */
static void sock_remove(struct gw_sock *k, const char *reason)
{
    struct gw_thread *t = k->sess->t;
    if (t->admin_watch && k->connected)
        gw_admin_sock_disconnected(k, reason ? reason : "server namespace disconnect");
    if (GW_METRICS(t)) {
        if (k->connected) {
            gw_metrics_nsp(t, k->nsp, -1);
            gw_metrics_disconnect(t, reason);
        }
        if (k->seq > k->done)
            GW_M_ADD(t, inflight, -(uint64_t)(k->seq - k->done));
    }
    if (reason && !k->admin) {
        struct sio_env env;
        env_sock(k, &env, SIO_ENV_DISCONNECT);
        env.reason.p = reason;
        env.reason.len = strlen(reason);
        gw_bus_send(t, &env);
    }
    gw_room_leave_all(k);
    if (t->admin_watch && k->connected)
        gw_admin_room(k, k->sid, GW_SID_LEN, false);
    struct gw_nsp *n = k->nsp;
    sio_map_del(&n->socks, k->sid, GW_SID_LEN);
    for (struct gw_sock **pp = &k->sess->socks; *pp; pp = &(*pp)->next_in_sess)
        if (*pp == k) {
            *pp = k->next_in_sess;
            break;
        }
    sio_buf_clear(&k->session_blob);
    pending_clear(k);
    struct gw_session *s = k->sess;
    if (k->hold_since)
        t->nhold--;
    free(k);
    if (n->socks.n == 0) {
        sio_map_del(&t->nsps, n->name, n->name_len);
        nsp_free(n);
    }
    if (s->paused && !s->closed)
        gw_session_resume(s);
}

static void send_simple(struct gw_sock *k, enum sio_packet_type type, const char *json, size_t jl);

/* Give up on a socket whose events can no longer be delivered at least
 * once: a DISCONNECT packet for its namespace (the client sees "io server
 * disconnect" and its pending acks fail at once; a CONNECT_ERROR is only
 * meant for a connecting socket, and the JS client would drop the socket
 * without a "disconnect" event and leave its acks to time out), then the
 * worker side hears "server disconnect" (the hub drops the route of a
 * socket awaiting takeover). Frees k. */
static void sock_give_up(struct gw_sock *k, const char *why)
{
    sio_log_warn(topic, "socket %s on %s: %s: disconnected, %zu held events released", k->sid,
                 k->nsp->name, why, k->npend);
    send_simple(k, SIO_PKT_DISCONNECT, NULL, 0);
    sock_remove(k, "server disconnect");
}

void gw_sio_hold_check(struct gw_thread *t)
{
    const struct sio_gateway_cfg *cfg = &t->gw->cfg;
    uint64_t now = gw_now_ms();
    char why[96];
    snprintf(why, sizeof why, "no worker took it over within %u ms (hold timeout)",
             cfg->hold_timeout_ms);
    /* sock_remove may free a namespace or its map entries: collect first */
    struct gw_sock **v = NULL;
    size_t nv = 0, cap = 0;
    size_t i = 0;
    for (struct sio_map_ent *e = sio_map_next(&t->nsps, NULL, &i); e; e = sio_map_next(&t->nsps, e, &i)) {
        struct gw_nsp *n = e->val;
        size_t j = 0;
        for (struct sio_map_ent *f = sio_map_next(&n->socks, NULL, &j); f;
             f = sio_map_next(&n->socks, f, &j)) {
            struct gw_sock *k = f->val;
            if (!k->hold_since || now - k->hold_since < cfg->hold_timeout_ms)
                continue;
            if (SIO_VEC_ROOM(v, nv, cap, 16) < 0)
                break;
            v[nv++] = k;
        }
    }
    for (size_t x = 0; x < nv; x++)
        sock_give_up(v[x], why);
    free(v);
}

static void sio_session_close(struct gw_session *s, const char *reason)
{
    while (s->socks)
        sock_remove(s->socks, reason);
    s->bin.active = false;
}

/* ---------- packets from the client ---------- */

static void proto_error(struct gw_session *s, int err)
{
    if (GW_METRICS(s->t))
        GW_M_ADD(s->t, proto_errors, 1);
    sio_log_debug(topic, "%s: bad packet: %s", s->sid, sio_strerror(err));
    gw_session_close(s, "transport error");
}

static void on_connect(struct gw_session *s, const struct sio_packet_hdr *h)
{
    if (sess_sock(s, h->nsp, h->nsp_len)) {
        sio_log_debug(topic, "%s: duplicate connect to %.*s", s->sid, (int)h->nsp_len, h->nsp);
        return;
    }
    struct gw_nsp *n = nsp_get(s->t, h->nsp, h->nsp_len, true);
    struct gw_sock *k = n ? calloc(1, sizeof *k) : NULL;
    if (!k)
        return;
    k->sess = s;
    k->nsp = n;
    do
        gw_make_sid(k->sid, s->t->idx);
    while (sio_map_get(&n->socks, k->sid, GW_SID_LEN));
    sio_buf_init(&k->session_blob);
    if (sio_map_put(&n->socks, k->sid, GW_SID_LEN, k) < 0) {
        free(k);
        return;
    }
    k->next_in_sess = s->socks;
    s->socks = k;
    if (s->t->gw->cfg.admin && gw_admin_nsp(s->t->gw, h->nsp, h->nsp_len)) {
        gw_admin_connect(k, h->data, h->data_len);
        return;
    }
    struct sio_env env;
    env_sock(k, &env, SIO_ENV_CONNECT);
    if (h->data_len) {
        env.data.p = h->data;
        env.data.len = h->data_len;
    }
    env.headers = s->headers;
    env.nheaders = s->nheaders;
    env.query = s->query;
    env.remote = s->remote;
    if (GW_METRICS(s->t))
        k->connect_us = gw_now_us();
    gw_bus_send(s->t, &env);
}

static void dispatch(struct gw_session *s, const struct sio_packet_hdr *h,
                     const struct sio_env_bin *bins, size_t nbins)
{
    struct gw_sock *k = sess_sock(s, h->nsp, h->nsp_len);
    if (!k || !k->connected) {
        /* as the JS server: a packet for a namespace the client has not
         * joined ends the whole connection */
        sio_log_debug(topic, "%s: packet for unconnected namespace %.*s: closing", s->sid,
                      (int)h->nsp_len, h->nsp);
        gw_session_close(s, "transport error");
        return;
    }
    struct sio_env env;
    bool ev = h->type == SIO_PKT_EVENT || h->type == SIO_PKT_BINARY_EVENT;
    if (k->admin) {
        if (ev)
            gw_admin_on_event(k, h->data, h->data_len);
        return;
    }
    if (s->t->admin_watch && ev)
        gw_admin_event(k, h->data, h->data_len, false);
    env_sock(k, &env, ev ? SIO_ENV_EVENT : SIO_ENV_CLIENT_ACK);
    env.id = h->id;
    env.data.p = h->data;
    env.data.len = h->data_len;
    env.bins = (struct sio_env_bin *)bins;
    env.nbins = nbins;
    /* the last SESSION blob rides along, so that a worker adopting the
     * socket after its worker died restores the user session (BUS.md) */
    if (k->session_blob.len)
        env.session = (struct sio_str){ (const char *)k->session_blob.data, k->session_blob.len };
    const struct sio_gateway_cfg *cfg = &s->t->gw->cfg;
    bool keep = ev && cfg->at_least_once;
    if (ev) {
        /* Every event is numbered. With at-least-once each one asks for an
         * EVENT_DONE; else every quarter window does, which is enough to
         * bound what one socket has queued at its worker: a client that
         * sends faster than its handlers run is not read until they catch
         * up, so it cannot delay other sockets' events without bound. */
        k->seq++;
        if (GW_METRICS(s->t))
            GW_M_ADD(s->t, inflight, 1);
        unsigned step = cfg->inflight_max / 4 ? cfg->inflight_max / 4 : 1;
        if (keep || k->seq % step == 0)
            env.confirm = k->seq;
    }
    /* kept: the copy is taken from t->envbuf, which a large envelope sent
     * without a copy would have given away */
    bool sent = true;
    if (keep)
        sent = gw_bus_send_kept(s->t, &env);
    else
        gw_bus_send(s->t, &env);
    if (keep && sent && !pending_keep(s->t, k, &env)) {
        char why[128];
        snprintf(why, sizeof why, "more than %zu unconfirmed events or %zu bytes (hold bounds)",
                 s->t->gw->cfg.hold_max_events, s->t->gw->cfg.hold_max_bytes);
        sock_give_up(k, why);     /* at-least-once cannot hold: say so (frees k) */
        return;
    }
    if (ev && k->seq - k->done >= (int64_t)cfg->inflight_max)
        gw_session_pause(s);
}

static void window_forget(struct gw_session *s)
{
    for (struct gw_sock *k = s->socks; k; k = k->next_in_sess)
        k->done = k->seq;
}

static bool window_open(const struct gw_session *s)
{
    int64_t w = (int64_t)s->t->gw->cfg.inflight_max;
    for (const struct gw_sock *k = s->socks; k; k = k->next_in_sess)
        if (k->seq - k->done >= w)
            return false;
    return true;
}

static void bin_reset(struct gw_session *s)
{
    s->bin.active = false;
    sio_buf_clear(&s->bin.text);
    sio_buf_clear(&s->bin.bins);
    free(s->bin.offs);
    s->bin.offs = NULL;
    s->bin.have = s->bin.want = 0;
}

static void bin_complete(struct gw_session *s)
{
    struct sio_packet_hdr h;
    const struct sio_gateway_cfg *cfg = &s->t->gw->cfg;
    int r = sio_packet_parse_header((const char *)s->bin.text.data, s->bin.text.len,
                                    cfg->max_payload, &h);
    if (r < 0) {
        bin_reset(s);
        proto_error(s, r);
        return;
    }
    size_t *offs = s->bin.offs;
    struct sio_env_bin stackv[64];
    struct sio_env_bin *v = s->bin.want <= 64 ? stackv : calloc(s->bin.want, sizeof *v);
    if (v) {
        for (unsigned i = 0; i < s->bin.want; i++) {
            v[i].p = s->bin.bins.data + offs[i];
            v[i].len = offs[i + 1] - offs[i];
        }
        dispatch(s, &h, v, s->bin.want);
        if (v != stackv)
            free(v);
    }
    bin_reset(s);
}

static void sio_on_message(struct gw_session *s, bool binary, const uint8_t *data, size_t len)
{
    const struct sio_gateway_cfg *cfg = &s->t->gw->cfg;
    if (s->bin.active) {
        if (!binary) {
            bin_reset(s);
            proto_error(s, SIO_ERR_ATTACH);
            return;
        }
        size_t *offs = s->bin.offs;
        /* one packet's attachments together obey max_payload, or a client
         * could make the gateway buffer N x max_payload bytes */
        if (len > cfg->max_payload - s->bin.bins.len) {
            bin_reset(s);
            proto_error(s, SIO_ERR_TOOBIG);
            return;
        }
        if (sio_buf_append(&s->bin.bins, data, len) < 0) {
            bin_reset(s);
            gw_session_close(s, "transport error");
            return;
        }
        offs[++s->bin.have] = s->bin.bins.len;
        if (s->bin.have == s->bin.want)
            bin_complete(s);
        return;
    }
    if (binary) {
        proto_error(s, SIO_ERR_ATTACH);
        return;
    }
    struct sio_packet_hdr h;
    int r = sio_packet_parse_header((const char *)data, len, cfg->max_payload, &h);
    if (r < 0) {
        proto_error(s, r);
        return;
    }
    switch (h.type) {
    case SIO_PKT_CONNECT:
        on_connect(s, &h);
        break;
    case SIO_PKT_DISCONNECT: {
        struct gw_sock *k = sess_sock(s, h.nsp, h.nsp_len);
        if (k)
            sock_remove(k, "client disconnect");
        break;
    }
    case SIO_PKT_EVENT:
    case SIO_PKT_ACK:
        dispatch(s, &h, NULL, 0);
        break;
    case SIO_PKT_BINARY_EVENT:
    case SIO_PKT_BINARY_ACK:
        if (h.attachments == 0) {
            dispatch(s, &h, NULL, 0);
            break;
        }
        if (h.attachments > SIO_MAX_ATTACHMENTS) {
            proto_error(s, SIO_ERR_ATTACH);
            break;
        }
        bin_reset(s);
        s->bin.offs = calloc(h.attachments + 1, sizeof *s->bin.offs);
        if (!s->bin.offs) {
            gw_session_close(s, "transport error");
            break;
        }
        if (sio_buf_append(&s->bin.text, data, len) < 0) {
            bin_reset(s);
            gw_session_close(s, "transport error");
            break;
        }
        s->bin.active = true;
        s->bin.want = h.attachments;
        s->bin.offs[0] = 0;
        break;
    default:
        proto_error(s, SIO_ERR_TYPE);
        break;
    }
}

/* JS's connectTimeout: a client that joins no namespace in time is gone. */
static void conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_session *s = arg;
    for (struct gw_sock *k = s->socks; k; k = k->next_in_sess)
        if (k->connected)
            return;
    atomic_fetch_add(&s->t->gw->st_conn_to, 1);
    sio_log_debug(topic, "%s: no namespace joined in %u ms: closing", s->sid,
                  s->t->gw->cfg.connect_timeout_ms);
    gw_session_close(s, "transport close");
}

/* The handshake was answered: the connect timeout's timer lives until a
 * namespace is joined (gw_session_joined). */
static void sio_open(struct gw_session *s)
{
    unsigned ms = s->t->gw->cfg.connect_timeout_ms;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    if ((s->conn_ev = evtimer_new(s->t->base, conn_timeout_cb, s)))
        evtimer_add(s->conn_ev, &tv);
}

const struct gw_session_ops gw_sio_ops = {
    .name = "socket.io",
    .on_open = sio_open,
    .on_message = sio_on_message,
    .on_close = sio_session_close,
    .window_open = window_open,
    .window_forget = window_forget,
};

void gw_sock_send_simple(struct gw_sock *k, int type, const char *json, size_t jl)
{
    send_simple(k, (enum sio_packet_type)type, json, jl);
}

void gw_sock_remove(struct gw_sock *k, const char *reason)
{
    sock_remove(k, reason);
}

/* ---------- commands from the hub ---------- */

static bool streq(const struct sio_str *a, const char *b, size_t bl)
{
    return a->len == bl && (bl == 0 || memcmp(a->p, b, bl) == 0);
}

static struct gw_sock *find_sock(struct gw_nsp *n, const struct sio_str *sid)
{
    if (!n || !sid->p)
        return NULL;
    return sio_map_get(&n->socks, sid->p, sid->len);
}

/* Mark the members of a room (or the socket whose sid is the room name). */
typedef void (*sock_fn)(struct gw_thread *t, struct gw_sock *k);

static void each_in_room(struct gw_thread *t, struct gw_nsp *n, const struct sio_str *room, sock_fn fn)
{
    struct gw_room *r = gw_room_get(n, room->p ? room->p : "", room->len, false);
    if (r) {
        size_t i = 0;
        for (struct sio_map_ent *e = sio_map_next(&r->members, NULL, &i); e;
             e = sio_map_next(&r->members, e, &i))
            fn(t, e->val);
    } else {
        struct gw_sock *k = find_sock(n, room);
        if (k)
            fn(t, k);
    }
}

static void mark_excl(struct gw_thread *t, struct gw_sock *k)
{
    k->excl = t->gen;
}

static void add_sel(struct gw_thread *t, struct gw_sock *k)
{
    if (k->excl == t->gen || k->mark == t->gen || !k->connected)
        return;
    k->mark = t->gen;
    if (SIO_VEC_ROOM(t->sel, t->nsel, t->selcap, 64) < 0)
        return;
    t->sel[t->nsel++] = k;
}

/* Select the target sockets of a command into t->sel: the socket sid when
 * given, else the union of rooms, else the whole namespace; minus
 * except_rooms and except_sids. Only connected sockets. */
static void select_socks(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    t->nsel = 0;
    if (!n)
        return;
    if (++t->gen == 0)
        t->gen = 1;
    for (size_t i = 0; i < env->nexcept_rooms; i++)
        each_in_room(t, n, &env->except_rooms[i], mark_excl);
    for (size_t i = 0; i < env->nexcept_sids; i++) {
        struct gw_sock *k = find_sock(n, &env->except_sids[i]);
        if (k)
            k->excl = t->gen;
    }
    if (env->sid.p) {
        /* a sid (even an empty one, which matches nothing) targets one
         * socket: never widen it to the whole namespace */
        struct gw_sock *k = env->sid.len ? find_sock(n, &env->sid) : NULL;
        if (k)
            add_sel(t, k);
    } else if (env->nrooms) {
        for (size_t i = 0; i < env->nrooms; i++)
            each_in_room(t, n, &env->rooms[i], add_sel);
    } else {
        size_t i = 0;
        for (struct sio_map_ent *e = sio_map_next(&n->socks, NULL, &i); e;
             e = sio_map_next(&n->socks, e, &i))
            add_sel(t, e->val);
    }
}

/* Encode a Socket.IO packet once: the text packet and one per attachment.
 * Returns the count of pkts in out (0 on failure). */
static size_t encode_pkts(struct gw_thread *t, struct gw_pkt **out, size_t cap,
                          enum sio_packet_type type, const char *nsp, size_t nsp_len,
                          int64_t id, const struct sio_env *env)
{
    size_t nb = env->nbins;
    if (nb + 1 > cap)
        return 0;
    struct gw_pkt *p = gw_pkt_new(t, SIO_EIO_MESSAGE, false);
    if (!p)
        return 0;
    if (sio_packet_encode(&p->data, type, nsp, nsp_len, id, (unsigned)nb,
                          env->data.p, env->data.len) < 0) {
        gw_pkt_unref(p);
        return 0;
    }
    out[0] = p;
    size_t n = 1;
    for (size_t i = 0; i < nb; i++) {
        struct gw_pkt *b = gw_pkt_new(t, SIO_EIO_MESSAGE, true);
        if (!b)
            break;
        sio_buf_append(&b->data, env->bins[i].p, env->bins[i].len);
        out[n++] = b;
    }
    if (n != nb + 1) {
        for (size_t i = 0; i < n; i++)
            gw_pkt_unref(out[i]);
        return 0;
    }
    return n;
}

static void send_pkts(struct gw_sock *k, struct gw_pkt **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gw_session_send(k->sess, v[i]);
}

static void unref_pkts(struct gw_pkt **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        gw_pkt_unref(v[i]);
}

static void emit(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env, bool ack)
{
    struct gw_pkt *stackv[16], **v = stackv;
    size_t cap = 16;
    if (env->nbins + 1 > cap) {
        cap = env->nbins + 1;
        v = calloc(cap, sizeof *v);
        if (!v)
            return;
    }
    enum sio_packet_type type = ack ? (env->nbins ? SIO_PKT_BINARY_ACK : SIO_PKT_ACK)
                                    : (env->nbins ? SIO_PKT_BINARY_EVENT : SIO_PKT_EVENT);
    if (ack) {
        struct gw_sock *k = find_sock(n, &env->sid);
        if (k && k->connected) {
            size_t np = encode_pkts(t, v, cap, type, n->name, n->name_len, env->id, env);
            send_pkts(k, v, np);
            unref_pkts(v, np);
        }
    } else {
        select_socks(t, n, env);
        if (t->admin_watch && env->sid.p && t->nsel == 1 && !t->sel[0]->admin)
            gw_admin_event(t->sel[0], env->data.p, env->data.len, true);
        if (t->nsel) {
            size_t np = encode_pkts(t, v, cap, type, n->name, n->name_len, env->id, env);
            for (size_t i = 0; i < t->nsel; i++)
                if (!env->volatile_ || gw_session_writable(t->sel[i]->sess))
                    send_pkts(t->sel[i], v, np);
            unref_pkts(v, np);
        }
    }
    if (v != stackv)
        free(v);
}

static void send_simple(struct gw_sock *k, enum sio_packet_type type, const char *json, size_t jl)
{
    struct gw_thread *t = k->sess->t;
    struct gw_pkt *p = gw_pkt_new(t, SIO_EIO_MESSAGE, false);
    if (!p)
        return;
    if (sio_packet_encode(&p->data, type, k->nsp->name, k->nsp->name_len, -1, 0, json, jl) == 0)
        gw_session_send(k->sess, p);
    gw_pkt_unref(p);
}

/* ---------- commands from the hub ----------
 * One function per command kind, called by gw_sio_command (the table
 * below) with the command's namespace on this thread; RAW_SEND names an
 * engine session and gets none. */

static void cmd_raw_send(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    struct gw_session *s = env->sid.p ? sio_map_get(&t->sessions, env->sid.p, env->sid.len) : NULL;
    if (!s || s->closed)
        return;
    struct gw_pkt *p = gw_pkt_new(t, SIO_EIO_MESSAGE, env->binary);
    if (!p)
        return;
    if (env->data.len)
        sio_buf_append(&p->data, env->data.p, env->data.len);
    gw_session_send(s, p);
    gw_pkt_unref(p);
}

static void cmd_event_done(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    struct gw_sock *k = find_sock(n, &env->sid);
    if (!k)
        return;
    pending_done(k, env->confirm);
    if (env->confirm > k->done) {
        if (GW_METRICS(t))
            GW_M_ADD(t, inflight, -(uint64_t)(env->confirm - k->done));
        k->done = env->confirm;
    }
    if (k->sess->paused)
        gw_session_resume(k->sess);
}

/* The worker of these sockets died: send each one again (CONNECT with its
 * session: the new worker adopts it without on_connect), then its
 * unconfirmed events, oldest first; the hub holds back their events until
 * this CONNECT. */
static void cmd_takeover(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    for (size_t i = 0; i < env->nrooms; i++) {
        struct gw_sock *k = find_sock(n, &env->rooms[i]);
        if (!k || !k->connected)
            continue;
        if (!k->hold_since) {
            /* the deadline counts from the first TAKEOVER: a re-sent
             * one (a worker registered) does not extend it */
            k->hold_since = gw_now_ms();
            t->nhold++;
        }
        struct sio_env c;
        env_sock(k, &c, SIO_ENV_CONNECT);
        c.session = k->session_blob.len
            ? (struct sio_str){ (const char *)k->session_blob.data, k->session_blob.len }
            : (struct sio_str){ "{}", 2 };
        gw_bus_send(t, &c);
        size_t nre = 0;
        for (struct gw_pending *p = k->pend; p; p = p->next, nre++)
            gw_bus_frames(t, p->bytes, p->rlen, p->bytes + p->rlen, p->elen);
        sio_log_info(topic, "takeover of %s on %s: %zu events sent again", k->sid, n->name, nre);
    }
}

static void cmd_connect_ok(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    struct gw_sock *k = find_sock(n, &env->sid);
    if (k && k->connected && k->hold_since) {
        /* a worker adopted the socket after a TAKEOVER */
        sio_log_info(topic, "socket %s on %s taken over after %llu ms", k->sid, n->name,
                     (unsigned long long)(gw_now_ms() - k->hold_since));
        k->hold_since = 0;
        t->nhold--;
    }
    if (!k || k->connected)
        return;
    k->connected = true;
    gw_session_joined(k->sess);
    char json[48];
    int jl = snprintf(json, sizeof json, "{\"sid\":\"%s\"}", k->sid);
    send_simple(k, SIO_PKT_CONNECT, json, (size_t)jl);
    if (t->admin_watch)
        gw_admin_sock_connected(k);
    if (GW_METRICS(t)) {
        GW_M_ADD(t, connects, 1);
        gw_metrics_nsp(t, n, 1);
        if (k->connect_us)
            gw_metrics_rtt(t, k->connect_us);
    }
}

static void cmd_connect_err(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    struct gw_sock *k = find_sock(n, &env->sid);
    if (!k || k->connected)
        return;
    if (GW_METRICS(t)) {
        GW_M_ADD(t, refused, 1);
        if (k->connect_us)
            gw_metrics_rtt(t, k->connect_us);
    }
    send_simple(k, SIO_PKT_CONNECT_ERROR, env->data.p, env->data.len);
    sock_remove(k, NULL);
}

static void cmd_emit(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    emit(t, n, env, false);
}

static void cmd_ack(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    emit(t, n, env, true);
}

/* JOIN and LEAVE: the selected sockets join (leave) rooms2. */
static void cmd_rooms(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    select_socks(t, n, env);
    for (size_t i = 0; i < t->nsel; i++)
        for (size_t j = 0; j < env->nrooms2; j++) {
            const struct sio_str *r = &env->rooms2[j];
            if (env->kind == SIO_ENV_JOIN)
                gw_room_join(t->sel[i], r->p ? r->p : "", r->len);
            else
                gw_room_leave(t->sel[i], r->p ? r->p : "", r->len);
        }
}

static void cmd_close_room(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    for (size_t j = 0; j < env->nrooms; j++) {
        struct sio_env sel;
        sio_env_init(&sel, SIO_ENV_JOIN);
        sel.rooms = (struct sio_str *)&env->rooms[j];
        sel.nrooms = 1;
        select_socks(t, n, &sel);
        for (size_t i = 0; i < t->nsel; i++)
            gw_room_leave(t->sel[i], env->rooms[j].p ? env->rooms[j].p : "", env->rooms[j].len);
    }
}

static void cmd_disconnect(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    select_socks(t, n, env);
    /* closing a session or removing a socket may free n and change the
     * selection: work on a copy of the selected sockets' sessions (one
     * socket per session in a namespace; closing is idempotent) */
    size_t ns = t->nsel;
    struct gw_session **sess = calloc(ns ? ns : 1, sizeof *sess);
    if (!sess)
        return;
    for (size_t i = 0; i < ns; i++)
        sess[i] = t->sel[i]->sess;
    if (env->close_conn && env->reason.len == 15 &&
        memcmp(env->reason.p, "transport error", 15) == 0) {
        /* a worker found a malformed packet: close the sessions as the
         * gateway does for its own protocol errors (no 41; a waiting
         * GET gets the close packet) */
        for (size_t i = 0; i < ns; i++)
            gw_session_close(sess[i], "transport error");
        free(sess);
        return;
    }
    /* every selected socket is in namespace n: one DISCONNECT packet,
     * encoded once, queued to each of them */
    struct gw_pkt *dp = ns ? gw_pkt_new(t, SIO_EIO_MESSAGE, false) : NULL;
    if (dp && sio_packet_encode(&dp->data, SIO_PKT_DISCONNECT, n->name, n->name_len, -1, 0,
                                NULL, 0) < 0) {
        gw_pkt_unref(dp);
        dp = NULL;
    }
    if (dp) {
        for (size_t i = 0; i < ns; i++)
            gw_session_send(sess[i], dp);
        gw_pkt_unref(dp);
    }
    for (size_t i = 0; i < ns; i++)
        sock_remove(t->sel[i], "server disconnect");
    if (env->close_conn)
        for (size_t i = 0; i < ns; i++)
            gw_session_close(sess[i], "server disconnect");
    free(sess);
}

static void cmd_session(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env)
{
    struct gw_sock *k = find_sock(n, &env->sid);
    if (k) {
        sio_buf_reset(&k->session_blob);
        sio_buf_append(&k->session_blob, env->session.p, env->session.len);
    }
}

typedef void (*cmd_fn)(struct gw_thread *t, struct gw_nsp *n, const struct sio_env *env);

static const cmd_fn cmds[] = {
    [SIO_ENV_EMIT] = cmd_emit,
    [SIO_ENV_ACK] = cmd_ack,
    [SIO_ENV_JOIN] = cmd_rooms,
    [SIO_ENV_LEAVE] = cmd_rooms,
    [SIO_ENV_CLOSE_ROOM] = cmd_close_room,
    [SIO_ENV_DISCONNECT_CMD] = cmd_disconnect,
    [SIO_ENV_CONNECT_OK] = cmd_connect_ok,
    [SIO_ENV_CONNECT_ERR] = cmd_connect_err,
    [SIO_ENV_SESSION] = cmd_session,
    [SIO_ENV_RAW_SEND] = cmd_raw_send,
    [SIO_ENV_EVENT_DONE] = cmd_event_done,
    [SIO_ENV_TAKEOVER] = cmd_takeover,
};

void gw_sio_command(struct gw_thread *t, const struct sio_env *env)
{
    if (env->kind == SIO_ENV_RAW_SEND) {
        cmd_raw_send(t, NULL, env);
        return;
    }
    /* a connect reply for a socket of another gateway (a broadcast) */
    if (env->gw.p && env->gw.len && !streq(&env->gw, t->id, SIO_GW_ID_LEN) &&
        (env->kind == SIO_ENV_CONNECT_OK || env->kind == SIO_ENV_CONNECT_ERR))
        return;
    struct gw_nsp *n = env->nsp.p ? sio_map_get(&t->nsps, env->nsp.p, env->nsp.len) : NULL;
    if (!n)
        return;
    unsigned kind = (unsigned)env->kind;
    cmd_fn fn = kind < sizeof cmds / sizeof cmds[0] ? cmds[kind] : NULL;
    if (fn)
        fn(t, n, env);
    else
        sio_log_debug(topic, "ignored command %s", sio_env_kind_name((int)env->kind));
}

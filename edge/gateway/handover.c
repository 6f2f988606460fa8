/* handover.c: connections and requests changing I/O threads (gw.h,
 * "Handover"). An HTTP/1.1 connection whose request names another
 * thread's session moves there whole (gw_handover); an HTTP/2 request for
 * one is served there and its reply's bytes come back (gw_xforward,
 * "forwarded requests" below). Each thread's inbox is the only state of
 * it another thread touches.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.gateway");

/* ---------- connections (HTTP/1.1) ---------- */

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
bool gw_handover(struct gw_conn *c, const char *sid, size_t sidl)
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
    gw_conn_unlink(c);
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
void gw_handover_outbox_cb(evutil_socket_t fd, short what, void *arg)
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
void gw_xforward_cancel(struct gw_conn *c)
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
bool gw_xforward(struct gw_conn *c, const struct sio_http_req *req, const char *sid, size_t sidl)
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
    snprintf(c->remote, sizeof c->remote, "%s", remote);
    snprintf(c->ip, sizeof c->ip, "%s", ip);
    const struct sio_gateway_cfg *cfg = &t->gw->cfg;
    struct sio_http_limits lim = { .max_body = cfg->max_payload, .https = https,
                                   .close_timeout_ms = cfg->close_timeout_ms };
    gw_conn_link(t, c);
    c->http = sio_http_conn_new(bev, &lim, &gw_http_cbs, c);
    if (!c->http)
        gw_conn_unlink(c);
}


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
void gw_handover_inbox_cb(evutil_socket_t fd, short what, void *arg)
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
            gw_conn_start(t, ho->fd, ho->remote, ho->ip, ho->counted ? 0 : -1, ho);
            ho->fd = -1;    /* the connection has them now (freed on failure) */
            ho->ssl = NULL;
        } else if (ho->counted) {
            gw_limits_closed(t, ho->ip);
        }
        handoff_free(ho);
        ho = next;
    }
}

void gw_handover_stop(struct gw_thread *t)
{
    while (t->outbox) {         /* handed over, not sent on: closed */
        struct gw_handoff *ho = t->outbox;
        t->outbox = ho->next;
        if (ho->counted)
            gw_limits_closed(t, ho->ip);
        handoff_free(ho);
    }
    /* requests of other threads served here: their connections are gone */
    struct sio_map_ent *xe;
    size_t it = 0;
    while ((xe = sio_map_next(&t->xserve, NULL, &it)) != NULL) {
        it = 0;
        xserve_free(xe->val, false);
    }
}

void gw_handover_clear(struct gw_thread *t)
{
    /* handed over after this thread stopped: closed */
    while (t->inbox) {
        struct gw_handoff *ho = t->inbox;
        t->inbox = ho->next;
        handoff_free(ho);
    }
}

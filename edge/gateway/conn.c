/* conn.c: the connections of an I/O thread (struct gw_conn, t->conns):
 * a new one on an accepted or handed-over fd (plain or TLS, its HTTP
 * callbacks route.c's gw_http_cbs), the list, and the end of one (its
 * HTTP/2 streams, the connection counts of limits.c). Used by the
 * listener (gateway.c), the routing (route.c) and the handover
 * (handover.c); calls none of them by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"

void gw_conn_link(struct gw_thread *t, struct gw_conn *c)
{
    c->t = t;
    c->next = t->conns;
    if (t->conns)
        t->conns->prev = c;
    t->conns = c;
}

void gw_conn_unlink(struct gw_conn *c)
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

/* A new HTTP connection on fd (closed on failure): accepted here, or
 * handed over by another thread (ho: its bytes). refused: 0 when it is
 * in the connection counts, -1 when not (and not refused), else the HTTP
 * status it gets for its request. */
void gw_conn_start(struct gw_thread *t, int fd, const char *remote, const char *ip,
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
    gw_conn_link(t, c);
    c->http = ho ? sio_http_conn_adopt(bev, &lim, &gw_http_cbs, c, &ho->in, &ho->out)
                 : sio_http_conn_new(bev, &lim, &gw_http_cbs, c);
    if (!c->http)
        gw_conn_unlink(c);
}

/* gateway.c: the gateway's listener and I/O threads: binding the
 * listening sockets, accepting connections (the limits' hookup, limits.c),
 * each thread's start, loop and stop, the bus receive (commands from the
 * hub, to socket.c and admin.c), heartbeats, and the drain of a graceful
 * stop (see gateway.h, gw.h, bus.h). A connection's start and end are
 * conn.c's, what a parsed request becomes route.c's, connections
 * changing threads handover.c's, ids and bus sends bus.c's.
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

/* One command (an envelope) from the hub. */
static void bus_command(void *arg, const void *data, size_t len)
{
    struct gw_thread *t = arg;
    struct sio_env env;
    int r = sio_env_decode(data, len, &env);
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
        /* a command, or a worker's commands of one pass (docs/BUS.md 2.4) */
        const char *why;
        if (mine && sio_bus_envelopes_each(zmq_msg_data(&m), zmq_msg_size(&m), bus_command, t,
                                           &why) < 0)
            sio_log_debug(topic, "bad batch from hub dropped: %s", why);
        zmq_msg_close(&tp);
        zmq_msg_close(&m);
    }
    t->bus_busy = false;
}

static void sub_cb(evutil_socket_t fd, short what, void *arg)
{
    bus_drain(arg);
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
    gw_conn_start(t, fd, remote, ip, gw_limits_accept(t, ip), NULL);
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
                gw_conn_unlink(p);
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
            gw_conn_unlink(c);
    }
    gw_session_reap(t);
    gw_bus_flush(t);            /* the DISCONNECTs of the sessions closed above */
    gw_admin_thread_clear(t);
    gw_nsps_clear(t);
    gw_handover_stop(t);
    sio_tls_reap_all();         /* the SSLs of the connections closed above */
    return NULL;
}

static void thread_clear(struct gw_thread *t)
{
    for (int i = 0; i < t->nlis; i++)
        evconnlistener_free(t->lis[i]);
    t->nlis = 0;
    struct event *evs[] = { t->sub_ev, t->stop_ev, t->reap_ev, t->hb_ev, t->inbox_ev, t->drain_ev,
                            t->accept_ev, t->outbox_ev, t->busq_ev };
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
    sio_bus_batch_clear(&t->busq);
    sio_buf_clear(&t->scratch);
    gw_handover_clear(t);
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
    sio_bus_batch_init(&t->busq);
    sio_buf_init(&t->scratch);
    sio_buf_init(&t->xlead);
    sio_buf_init(&t->xct);
    t->inbox_tail = &t->inbox;
    atomic_init(&t->drain_left, -1);
    if (pthread_mutex_init(&t->inbox_lock, NULL) != 0)
        return -ENOMEM;
    t->inbox_lock_ok = true;
    t->base = event_base_new();
    t->pollout = evbuffer_new();
    t->zout = evbuffer_new();
    if (!t->base || !t->pollout || !t->zout)
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
    t->inbox_ev = event_new(t->base, -1, 0, gw_handover_inbox_cb, t);
    t->outbox_ev = event_new(t->base, -1, 0, gw_handover_outbox_cb, t);
    t->busq_ev = event_new(t->base, -1, 0, gw_bus_flush_cb, t);
    const struct timeval hb_tv = { 1, 0 };
    if (!t->sub_ev || !t->stop_ev || !t->reap_ev || !t->hb_ev || !t->inbox_ev || !t->outbox_ev ||
        !t->busq_ev ||
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

/* limits.c: the gateway's admission limits (docs/RELIABILITY.md): the
 * open-files limit, connections per gateway and per client address,
 * handshakes per address and second, the accept backoff when the process
 * runs out of file descriptors, and the token buckets behind the rates.
 *
 * Counts that span the I/O threads (connections, sessions, the per-address
 * table) are shared: atomics, and one mutex for the address table, taken
 * once per accepted connection, per close and per handshake, never per
 * message. The table exists only while a per-address limit is set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <event2/listener.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.gateway");

/* fds kept for the bus, the log, plugins' files and static files */
#define FD_RESERVE 128
/* an accept that failed for want of fds waits this long before the next */
#define ACCEPT_BACKOFF_MS 100

uint64_t gw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned gw_bucket_take(struct gw_bucket *b, unsigned rate, uint64_t now, bool debt)
{
    /* burst = one second's worth; starts full */
    if (!b->last) {
        b->tokens = rate;
        b->last = now;
    }
    b->tokens += (double)(now - b->last) * rate / 1000.0;
    if (b->tokens > rate)
        b->tokens = rate;
    b->last = now;
    if (b->tokens < 1 && !debt)     /* refused: costs nothing */
        return (unsigned)((1 - b->tokens) * 1000.0 / rate) + 1;
    b->tokens -= 1;
    if (b->tokens >= 0)
        return 0;
    return (unsigned)(-b->tokens * 1000.0 / rate) + 1;
}

/* ---- the open-files limit and the default connection limit ---- */

void gw_limits_init(struct sio_gateway *gw)
{
    struct rlimit rl;
    rlim_t soft = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        soft = rl.rlim_cur;
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t was = rl.rlim_cur;
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
                soft = rl.rlim_cur;
                sio_log_info(topic, "open files limit raised from %llu to the hard limit %llu",
                             (unsigned long long)was, (unsigned long long)rl.rlim_max);
            } else {
                sio_log_warn(topic, "open files limit %llu (hard %llu): cannot raise it: %s",
                             (unsigned long long)was, (unsigned long long)rl.rlim_max,
                             strerror(errno));
            }
        } else {
            sio_log_info(topic, "open files limit %llu (hard %llu)",
                         (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
        }
    }
    if (!gw->cfg.max_connections) {
        rlim_t reserve = FD_RESERVE + 8 * (rlim_t)gw->nth;
        rlim_t n = soft > reserve + 16 ? soft - reserve : 16;
        gw->cfg.max_connections = n > 1000000000 ? 1000000000u : (unsigned)n;
    }
    if (!gw->cfg.max_client_buffer)
        gw->cfg.max_client_buffer = (size_t)4 << 20;
    if (gw->cfg.max_client_buffer == SIZE_MAX)
        gw->cfg.max_client_buffer = 0;      /* the frame layer's "no cap" */
    if (!gw->cfg.close_timeout_ms)
        gw->cfg.close_timeout_ms = 5000;
    if (!gw->cfg.connect_timeout_ms)
        gw->cfg.connect_timeout_ms = 45000;
    if (!gw->cfg.inflight_max)
        gw->cfg.inflight_max = 256;
    sio_map_init(&gw->ips);
    gw->ips_on = gw->cfg.max_conns_per_ip || gw->cfg.max_handshakes_per_ip;
    if (gw->ips_on && pthread_mutex_init(&gw->ip_lock, NULL) != 0) {
        sio_log_warn(topic, "per-address limits off: no mutex");
        gw->ips_on = false;
        gw->cfg.max_conns_per_ip = gw->cfg.max_handshakes_per_ip = 0;
    }
}

static bool ip_free(struct sio_map_ent *e, void *ud)
{
    free(e->val);
    return true;
}

void gw_limits_clear(struct sio_gateway *gw)
{
    if (gw->ips_on) {
        sio_map_sweep(&gw->ips, ip_free, NULL);
        pthread_mutex_destroy(&gw->ip_lock);
    }
    sio_map_clear(&gw->ips);
}

/* ---- per address ---- */

struct gw_ip {
    unsigned conns;
    struct gw_bucket hs;        /* handshakes */
};

/* The entry of ip, made when absent (NULL on ENOMEM). Under ip_lock. */
static struct gw_ip *ip_get(struct sio_gateway *gw, const char *ip)
{
    size_t l = strlen(ip);
    struct gw_ip *e = sio_map_get(&gw->ips, ip, l);
    if (e)
        return e;
    e = calloc(1, sizeof *e);
    if (e && sio_map_put(&gw->ips, ip, l, e) < 0) {
        free(e);
        e = NULL;
    }
    return e;
}

int gw_limits_accept(struct gw_thread *t, const char *ip)
{
    struct sio_gateway *gw = t->gw;
    if (atomic_load(&gw->nconns) >= gw->cfg.max_connections) {
        atomic_fetch_add(&gw->st_busy, 1);
        return 503;
    }
    if (gw->cfg.max_conns_per_ip) {
        pthread_mutex_lock(&gw->ip_lock);
        struct gw_ip *e = ip_get(gw, ip);
        int r = 0;
        if (!e || e->conns >= gw->cfg.max_conns_per_ip)
            r = 429;
        else
            e->conns++;
        pthread_mutex_unlock(&gw->ip_lock);
        if (r) {
            atomic_fetch_add(&gw->st_ip, 1);
            return r;
        }
    }
    atomic_fetch_add(&gw->nconns, 1);
    return 0;
}

void gw_limits_closed(struct gw_thread *t, const char *ip)
{
    struct sio_gateway *gw = t->gw;
    atomic_fetch_sub(&gw->nconns, 1);
    if (gw->cfg.max_conns_per_ip) {
        pthread_mutex_lock(&gw->ip_lock);
        struct gw_ip *e = sio_map_get(&gw->ips, ip, strlen(ip));
        if (e && e->conns)
            e->conns--;
        pthread_mutex_unlock(&gw->ip_lock);
    }
}

int gw_limits_handshake(struct gw_thread *t, const char *ip)
{
    struct sio_gateway *gw = t->gw;
    if (atomic_load(&gw->nsessions) >= gw->cfg.max_connections) {
        atomic_fetch_add(&gw->st_busy, 1);
        return 503;
    }
    if (gw->cfg.max_handshakes_per_ip) {
        pthread_mutex_lock(&gw->ip_lock);
        struct gw_ip *e = ip_get(gw, ip);
        unsigned wait = e ? gw_bucket_take(&e->hs, gw->cfg.max_handshakes_per_ip, gw_now_ms(), false) : 1;
        pthread_mutex_unlock(&gw->ip_lock);
        if (wait) {
            atomic_fetch_add(&gw->st_ip, 1);
            return 429;
        }
    }
    return 0;
}

static bool ip_idle(struct sio_map_ent *e, void *ud)
{
    struct gw_ip *ip = e->val;
    uint64_t now = *(const uint64_t *)ud;
    /* no connection, and its handshake bucket would be full again */
    if (ip->conns || (ip->hs.last && now - ip->hs.last < 1000))
        return false;
    free(ip);
    return true;
}

void gw_limits_sweep(struct sio_gateway *gw)
{
    if (!gw->ips_on)
        return;
    uint64_t now = gw_now_ms();
    pthread_mutex_lock(&gw->ip_lock);
    sio_map_sweep(&gw->ips, ip_idle, &now);
    pthread_mutex_unlock(&gw->ip_lock);
}

/* ---- accept errors ---- */

static void accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gw_thread *t = arg;
    if (t->stopping || t->drain_started)
        return;
    for (int i = 0; i < t->nlis; i++)
        evconnlistener_enable(t->lis[i]);
}

/* accept() failed. Out of fds (or kernel memory) the listening socket stays
 * readable, so retrying at once would spin: accepting pauses briefly, and
 * the log says so once per second with a count. */
void gw_accept_error(struct evconnlistener *l, void *arg)
{
    struct gw_thread *t = arg;
    int e = EVUTIL_SOCKET_ERROR();
    atomic_fetch_add(&t->gw->st_accept_err, 1);
    if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM)
        return;     /* ECONNABORTED and the like: that one client only */
    for (int i = 0; i < t->nlis; i++)
        evconnlistener_disable(t->lis[i]);
    if (!t->accept_ev)
        t->accept_ev = evtimer_new(t->base, accept_resume_cb, t);
    struct timeval tv = { 0, ACCEPT_BACKOFF_MS * 1000 };
    if (!t->accept_ev || evtimer_add(t->accept_ev, &tv) < 0)
        accept_resume_cb(-1, 0, t);
    t->accept_fails++;
    uint64_t now = gw_now_ms();
    if (now - t->accept_logged >= 1000) {
        sio_log_warn(topic, "accept: %s (%llu times since the last report); accepting "
                     "paused %d ms at a time", strerror(e), t->accept_fails, ACCEPT_BACKOFF_MS);
        t->accept_logged = now;
        t->accept_fails = 0;
    }
}

void sio_gateway_stats(const sio_gateway *gw, struct sio_gateway_stats *out)
{
    struct sio_gateway *g = (struct sio_gateway *)gw;
    memset(out, 0, sizeof *out);
    out->slow_clients = atomic_load(&g->st_slow);
    out->refused_busy = atomic_load(&g->st_busy);
    out->refused_ip = atomic_load(&g->st_ip);
    out->accept_errors = atomic_load(&g->st_accept_err);
    out->connect_timeouts = atomic_load(&g->st_conn_to);
    out->connections = atomic_load(&g->nconns);
}

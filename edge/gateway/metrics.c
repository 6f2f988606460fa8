/* metrics.c: the gateway's Prometheus metrics (docs/ADMIN.md "Metrics").
 *
 * Each I/O thread counts in its own struct gw_metrics (gw.h): only the
 * owner writes, with a relaxed load and store, so counting costs what a
 * plain increment does; GET /metrics (any thread) sums the threads with
 * relaxed loads. Sockets per namespace are the one count kept for the whole
 * gateway, under a mutex, changed on connect and disconnect only. Nothing
 * is counted unless cfg.metrics is set.
 *
 * Owns: the namespace count map.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"

/* bus round trip buckets (seconds): CONNECT sent -> CONNECT_OK/ERR back */
static const double rtt_le[GW_RTT_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                               0.05, 0.1, 0.25, 1.0 };
static const char *const reason_names[GW_NREASONS] = {
    "client namespace disconnect", "server namespace disconnect", "transport close",
    "ping timeout", "transport error", "other" };

uint64_t gw_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void gw_metrics_init(struct sio_gateway *gw)
{
    sio_map_init(&gw->nsp_counts);
    gw->nsp_lock_ok = pthread_mutex_init(&gw->nsp_lock, NULL) == 0;
}

void gw_metrics_clear(struct sio_gateway *gw)
{
    sio_map_clear(&gw->nsp_counts);
    if (gw->nsp_lock_ok)
        pthread_mutex_destroy(&gw->nsp_lock);
    gw->nsp_lock_ok = false;
}

void gw_metrics_nsp(struct gw_thread *t, const struct gw_nsp *n, int delta)
{
    struct sio_gateway *gw = t->gw;
    if (!gw->nsp_lock_ok)
        return;
    pthread_mutex_lock(&gw->nsp_lock);
    uintptr_t c = (uintptr_t)sio_map_get(&gw->nsp_counts, n->name, n->name_len);
    c += (uintptr_t)(intptr_t)delta;
    /* a namespace that had sockets stays listed (with 0) */
    sio_map_put(&gw->nsp_counts, n->name, n->name_len, (void *)c);
    pthread_mutex_unlock(&gw->nsp_lock);
}

void gw_metrics_disconnect(struct gw_thread *t, const char *reason)
{
    int i = GW_R_OTHER;
    if (!reason || !strcmp(reason, "server disconnect"))
        i = GW_R_SERVER;
    else if (!strcmp(reason, "client disconnect"))
        i = GW_R_CLIENT;
    else if (!strcmp(reason, "transport close"))
        i = GW_R_TRANSPORT_CLOSE;
    else if (!strcmp(reason, "ping timeout"))
        i = GW_R_PING_TIMEOUT;
    else if (!strcmp(reason, "transport error"))
        i = GW_R_TRANSPORT_ERROR;
    GW_M_ADD(t, disc[i], 1);
}

void gw_metrics_rtt(struct gw_thread *t, uint64_t start_us)
{
    uint64_t us = gw_now_us() - start_us;
    int b = 0;
    while (b < GW_RTT_BUCKETS && (double)us / 1e6 > rtt_le[b])
        b++;
    GW_M_ADD(t, rtt[b], 1);
    GW_M_ADD(t, rtt_sum_us, us);
    GW_M_ADD(t, rtt_n, 1);
}

/* ---------- rendering ---------- */

__attribute__((format(printf, 2, 3)))
static int out(struct sio_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    return sio_buf_append(b, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int head(struct sio_buf *b, const char *name, const char *type, const char *help)
{
    return out(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: \, " and newline escaped. */
static int label(struct sio_buf *b, const char *p, size_t n)
{
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (p[i] == '\\' || p[i] == '"')
            r = sio_buf_append(b, "\\", 1);
        if (r == 0)
            r = p[i] == '\n' ? sio_buf_append(b, "\\n", 2) : sio_buf_append(b, &p[i], 1);
    }
    return r;
}

#define SUM(field) sum_field(gw, offsetof(struct gw_metrics, field))
static uint64_t sum_field(const struct sio_gateway *gw, size_t off)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < gw->nth; i++)
        s += atomic_load_explicit((_Atomic uint64_t *)((char *)&gw->th[i].m + off),
                                  memory_order_relaxed);
    return s;
}

int sio_gateway_metrics(sio_gateway *gw, struct sio_buf *b)
{
    int r = 0;
    uint64_t sessions = atomic_load(&gw->nsessions), ws = SUM(ws_sessions);
    r |= head(b, "sio_connections", "gauge", "Engine.IO sessions open now, by transport");
    r |= out(b, "sio_connections{transport=\"polling\"} %" PRId64 "\n",
             (int64_t)sessions - (int64_t)ws);
    r |= out(b, "sio_connections{transport=\"websocket\"} %" PRId64 "\n", (int64_t)ws);
    r |= head(b, "sio_tcp_connections", "gauge", "TCP connections open now");
    r |= out(b, "sio_tcp_connections %llu\n", (unsigned long long)atomic_load(&gw->nconns));
    r |= head(b, "sio_sockets", "gauge", "Socket.IO sockets connected now, by namespace");
    if (gw->nsp_lock_ok) {
        pthread_mutex_lock(&gw->nsp_lock);
        size_t i = 0;
        for (struct sio_map_ent *e = sio_map_next(&gw->nsp_counts, NULL, &i); e;
             e = sio_map_next(&gw->nsp_counts, e, &i)) {
            r |= out(b, "sio_sockets{namespace=\"");
            r |= label(b, e->key, e->klen);
            r |= out(b, "\"} %" PRIdPTR "\n", (intptr_t)(uintptr_t)e->val);
        }
        pthread_mutex_unlock(&gw->nsp_lock);
    }
    r |= head(b, "sio_rooms", "gauge", "rooms with members now (every namespace)");
    r |= out(b, "sio_rooms %" PRId64 "\n", (int64_t)SUM(rooms));
    r |= head(b, "sio_packets_total", "counter", "Engine.IO packets, by direction");
    r |= out(b, "sio_packets_total{direction=\"in\"} %" PRIu64 "\n", SUM(pkt_in));
    r |= out(b, "sio_packets_total{direction=\"out\"} %" PRIu64 "\n", SUM(pkt_out));
    r |= head(b, "sio_bytes_total", "counter", "Engine.IO packet payload bytes, by direction");
    r |= out(b, "sio_bytes_total{direction=\"in\"} %" PRIu64 "\n", SUM(bytes_in));
    r |= out(b, "sio_bytes_total{direction=\"out\"} %" PRIu64 "\n", SUM(bytes_out));
    r |= head(b, "sio_connects_total", "counter", "namespace connects, by result");
    r |= out(b, "sio_connects_total{result=\"accepted\"} %" PRIu64 "\n", SUM(connects));
    r |= out(b, "sio_connects_total{result=\"refused\"} %" PRIu64 "\n", SUM(refused));
    r |= head(b, "sio_disconnects_total", "counter", "namespace disconnects, by reason");
    for (int i = 0; i < GW_NREASONS; i++)
        r |= out(b, "sio_disconnects_total{reason=\"%s\"} %" PRIu64 "\n", reason_names[i],
                 sum_field(gw, offsetof(struct gw_metrics, disc) + (size_t)i * sizeof gw->th[0].m.disc[0]));
    r |= head(b, "sio_bus_roundtrip_seconds", "histogram",
              "bus round trip: a CONNECT from the gateway to its worker's answer back");
    uint64_t cum = 0;
    for (int i = 0; i <= GW_RTT_BUCKETS; i++) {
        cum += sum_field(gw, offsetof(struct gw_metrics, rtt) + (size_t)i * sizeof gw->th[0].m.rtt[0]);
        if (i < GW_RTT_BUCKETS)
            r |= out(b, "sio_bus_roundtrip_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", rtt_le[i], cum);
        else
            r |= out(b, "sio_bus_roundtrip_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    }
    r |= out(b, "sio_bus_roundtrip_seconds_sum %.6f\n", (double)SUM(rtt_sum_us) / 1e6);
    r |= out(b, "sio_bus_roundtrip_seconds_count %" PRIu64 "\n", SUM(rtt_n));
    r |= head(b, "sio_worker_queue_depth", "gauge",
              "client events sent to workers and not yet confirmed handled (an upper bound: "
              "workers confirm every --max-inflight-events/4 events)");
    r |= out(b, "sio_worker_queue_depth %" PRId64 "\n", (int64_t)SUM(inflight));
    struct sio_gateway_stats st;
    sio_gateway_stats(gw, &st);
    r |= head(b, "sio_errors_total", "counter", "errors, by kind");
    r |= out(b, "sio_errors_total{kind=\"protocol\"} %" PRIu64 "\n", SUM(proto_errors));
    r |= out(b, "sio_errors_total{kind=\"slow_client\"} %llu\n", st.slow_clients);
    r |= out(b, "sio_errors_total{kind=\"refused_busy\"} %llu\n", st.refused_busy);
    r |= out(b, "sio_errors_total{kind=\"refused_per_ip\"} %llu\n", st.refused_ip);
    r |= out(b, "sio_errors_total{kind=\"accept\"} %llu\n", st.accept_errors);
    r |= out(b, "sio_errors_total{kind=\"connect_timeout\"} %llu\n", st.connect_timeouts);
    if (r == 0 && gw->cfg.metrics_extra)
        gw->cfg.metrics_extra(b, gw->cfg.metrics_ud);
    return r ? -ENOMEM : 0;
}

/* bus.c: the gateway's ids and its sends on the bus, used by every part
 * of the gateway (the listener, the sessions, the sockets, the Admin UI)
 * and calling none of them: sids (engine and socket) that name the I/O
 * thread owning them, and the envelopes a thread sends to the hub on its
 * DEALER (gw.h, struct gw_thread). Receiving (the SUB) is the thread's
 * loop, gateway.c.
 */
#include <string.h>
#include <zmq.h>
#include <sio/sio.h>
#include "base/random.h"
#include "proto/sio.h"
#include "edge/gateway/gw.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.gateway");

/* ---------- ids ---------- */

static const char sid_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/* the sid character naming the owner thread: the first of the counter's
 * four, so the 96 random bits stay whole */
#define SID_OWNER_POS 16

void gw_make_sid(char out[GW_SID_LEN + 1], unsigned owner)
{
    /* As the JS server's base64id: 12 random bytes + a 3-byte counter,
     * base64 with '-' and '_' (always 20 chars, no padding); then the
     * counter's top 6 bits give way to the owner thread. */
    static unsigned counter;
    const char *a = sid_alphabet;
    uint8_t b[15];
    sio_random_bytes(b, 12);     /* never a guessable sid */
    unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    b[12] = (uint8_t)(n >> 16);
    b[13] = (uint8_t)(n >> 8);
    b[14] = (uint8_t)n;
    char *d = out;
    for (int i = 0; i < 15; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
        *d++ = a[v >> 18 & 63];
        *d++ = a[v >> 12 & 63];
        *d++ = a[v >> 6 & 63];
        *d++ = a[v & 63];
    }
    *d = 0;
    out[SID_OWNER_POS] = a[owner & 63];
}

int gw_sid_owner(const char *sid, size_t len, unsigned nth)
{
    if (len != GW_SID_LEN)
        return -1;
    char ch = sid[SID_OWNER_POS];
    int i = ch >= 'A' && ch <= 'Z' ? ch - 'A'
          : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
          : ch >= '0' && ch <= '9' ? ch - '0' + 52
          : ch == '-' ? 62 : ch == '_' ? 63 : -1;
    return i >= 0 && (unsigned)i < nth ? i : -1;
}

/* ---------- bus ---------- */

/* The envelopes of one pass go to the hub as one batch frame (docs/BUS.md
 * 2.4): [0xc1, batch of route/envelope pairs]. A pass that sends only one
 * sends it as the plain [route, envelope], and a large envelope (sent
 * without a copy) goes alone after the batch, so the order holds. */

static void send_failed(const char *what)
{
    sio_log_warn(topic, "bus send failed: %s (%s dropped)", zmq_strerror(zmq_errno()), what);
}

void gw_bus_flush(struct gw_thread *t)
{
    struct sio_bus_batch *q = &t->busq;
    if (!q->n)
        return;
    const void *r, *e;
    size_t rl, el;
    int rc;
    if (q->n == 2) {
        sio_bus_batch_item(q, 0, &r, &rl);
        sio_bus_batch_item(q, 1, &e, &el);
        rc = zmq_send(t->dealer, r, rl, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
             zmq_send(t->dealer, e, el, ZMQ_DONTWAIT) < 0;
    } else {
        static const uint8_t batch_route = SIO_BUS_BATCH;
        rc = zmq_send(t->dealer, &batch_route, 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
             zmq_send(t->dealer, q->buf.data, q->buf.len, ZMQ_DONTWAIT) < 0;
    }
    if (rc)
        send_failed(q->n == 2 ? "event" : "batch of events");
    sio_bus_batch_reset(q);
}

void gw_bus_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    gw_bus_flush(arg);
}

/* Queue [route, envelope]; zc: the envelope's own buffer, given to zmq
 * without a copy when it is large (NULL: env is borrowed, copied). */
static void bus_out(struct gw_thread *t, const void *route, size_t rl, const void *env,
                    size_t el, struct sio_buf *zc)
{
    if (el < SIO_BUS_ZEROCOPY_MIN && sio_bus_batch_add_pair(&t->busq, route, rl, env, el) == 0) {
        if (t->busq.buf.len >= SIO_BUS_BATCH_MAX)
            gw_bus_flush(t);
        else if (t->busq.n == 2 && t->busq_ev)
            event_active(t->busq_ev, EV_TIMEOUT, 0);
        return;
    }
    gw_bus_flush(t);
    if (zmq_send(t->dealer, route, rl, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        (zc ? sio_bus_send_buf(t->dealer, zc, ZMQ_DONTWAIT) < 0
            : zmq_send(t->dealer, env, el, ZMQ_DONTWAIT) < 0))
        send_failed("event");
}

void gw_bus_frames(struct gw_thread *t, const void *route, size_t rlen, const void *env,
                   size_t elen)
{
    bus_out(t, route, rlen, env, elen, NULL);
}

/* keep: t->envbuf must still hold the envelope afterwards, so a large one
 * is copied to zmq instead of handed over. */
static bool bus_send(struct gw_thread *t, const struct sio_env *env, bool keep)
{
    char route[1 + SIO_MAX_NSP_LEN + 1 + 128];
    int rl = sio_bus_route_make(route, sizeof route, (int)env->kind,
                                env->nsp.p ? env->nsp.p : "", env->nsp.len,
                                env->sid.p ? env->sid.p : "", env->sid.len);
    if (rl < 0) {
        sio_log_debug(topic, "route too long");
        return false;
    }
    sio_buf_reset(&t->envbuf);
    if (sio_env_encode(env, &t->envbuf) < 0) {
        sio_log_warn(topic, "envelope encode failed (kind %d)", (int)env->kind);
        return false;
    }
    bus_out(t, route, (size_t)rl, t->envbuf.data, t->envbuf.len, keep ? NULL : &t->envbuf);
    return true;
}

void gw_bus_send(struct gw_thread *t, const struct sio_env *env)
{
    bus_send(t, env, false);
}

bool gw_bus_send_kept(struct gw_thread *t, const struct sio_env *env)
{
    return bus_send(t, env, true);
}

void gw_bus_relay(struct gw_thread *t, const char *tp, const struct sio_env *env)
{
    char route[1 + 1 + SIO_GW_ID_LEN + 1];
    int rl = sio_bus_route_make(route, sizeof route, SIO_ENV_ADMIN, "", 0, tp, strlen(tp));
    sio_buf_reset(&t->envbuf);
    if (rl < 0 || sio_env_encode(env, &t->envbuf) < 0) {
        sio_log_warn(topic, "admin relay encode failed (kind %d)", (int)env->kind);
        return;
    }
    bus_out(t, route, (size_t)rl, t->envbuf.data, t->envbuf.len, &t->envbuf);
}

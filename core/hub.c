/* hub.c: the ZeroMQ broker between gateways and workers (see bus.h, hub.h).
 *
 * One thread polls three sockets bound by sio_hub_new(): the gateways'
 * ROUTER ("events"), the workers' ROUTER ("workers") and a PAIR control
 * socket used only to stop the thread; the PUB ("commands") is write-only.
 *
 * Owns: the worker table (routing id, namespaces served, last message time)
 * and the sticky map (nsp, sid) -> worker (raw sessions: nsp "" and the
 * engine sid). A route goes when the gateway's DISCONNECT is forwarded, or
 * when a worker that refused the CONNECT sends a 1-frame DISCONNECT back.
 * Worker slots are never reused for another routing id, so a sticky entry
 * can hold a slot index; an entry pointing at a dead worker is re-routed on
 * the socket's next event, or, when no worker serves its namespace, waits
 * for takeover (SLOT_TAKEOVER) like the sockets of a worker found dead.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>
#include <sio/sio.h>
#include "core/hub.h"
#include "base/buf.h"
#include "base/map.h"
#include "proto/batch.h"
#include "proto/envelope.h"
#include "core/zloop.h"
#include "base/vec.h"

SIO_LOG_TOPIC_STATIC(topic, "core.hub");

#define HUB_DEFAULT_TIMEOUT_MS 5000
#define HUB_TICK_MS 250
/* While no worker is alive (the hub just started, or every worker is
 * restarting), a CONNECT is held this long for one to register, rather than
 * refused as an unknown namespace; at most HUB_HOLD_MAX of them. */
#define HUB_HOLD_MS 5000
#define HUB_HOLD_MAX 10000
#define ROUTING_ID_MAX 256
/* sticky value of a socket whose worker died: its events are dropped until
 * its gateway sends it again (TAKEOVER, then CONNECT with sess) to a live
 * worker; while none serves its namespace it stays so, and the next worker
 * to register for it gets it (retake()) */
#define SLOT_TAKEOVER ((size_t)-1)

/* sticky routes: "nsp\0sid" -> worker slot, stored in the map's void *
 * (slot_val / val_slot); SLOT_TAKEOVER marks a socket awaiting takeover */
static void *slot_val(size_t slot) { return (void *)(uintptr_t)(slot + 1); }
static size_t val_slot(const void *v) { return (size_t)(uintptr_t)v - 1; }

/* ---- the hub ---- */

struct hub_worker {
    unsigned char rid[ROUTING_ID_MAX];  /* ZeroMQ routing id on the workers ROUTER */
    size_t rid_len;
    char **nsps;            /* namespaces and patterns served; "" = raw */
    size_t nnsps;
    uint64_t last_seen;     /* ms, monotonic */
    bool alive;
    /* the events for it of this pass, sent as one batch frame after the
     * gateways' messages are drained (flush_worker) */
    struct sio_bus_batch out;
};

struct hub_gateway {
    char id[SIO_GW_ID_LEN];
    uint64_t last_seen;     /* ms, monotonic: its last HEARTBEAT */
};

struct sio_hub {
    uint64_t next_tick;         /* ms: the next expiry/stats tick (loop thread) */
    void *zctx;
    struct hub_gateway *gws;    /* gateways that heartbeat */
    size_t ngws, capgws;
    void *events, *commands, *workers;
    void *ctl_main, *ctl_thread;
    pthread_t thread;
    bool started;
    unsigned timeout_ms;

    struct hub_worker *w;
    size_t nw, capw;
    size_t rr;              /* round-robin cursor */
    struct sio_map sticky;     /* nsp + NUL + sid -> worker slot */
    struct sio_buf enc;     /* reusable encode buffer */
    struct hub_held *held, **held_tail;     /* CONNECTs waiting for a worker */
    size_t nheld;
    /* metrics (sio_hub_metrics): written by the hub thread only */
    _Atomic uint64_t st_events, st_routed, st_commands, st_admin;
    _Atomic uint64_t st_workers, st_gateways, st_held, st_sockets;
};

#define HUB_ADD(h, f, n) atomic_store_explicit(&(h)->f, \
    atomic_load_explicit(&(h)->f, memory_order_relaxed) + (n), memory_order_relaxed)

/* A CONNECT held while no worker is alive: its route and envelope frames. */
struct hub_held {
    struct hub_held *next;
    uint64_t at;
    size_t rlen, elen;
    uint8_t bytes[];        /* route, then envelope */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void worker_free_nsps(struct hub_worker *w)
{
    for (size_t i = 0; i < w->nnsps; i++)
        free(w->nsps[i]);
    free(w->nsps);
    w->nsps = NULL;
    w->nnsps = 0;
}

static struct hub_worker *worker_find(struct sio_hub *h, const void *rid, size_t len)
{
    for (size_t i = 0; i < h->nw; i++)
        if (h->w[i].rid_len == len && memcmp(h->w[i].rid, rid, len) == 0)
            return &h->w[i];
    return NULL;
}

/* Match quality of pattern p for nsp: 3 exact, 2 trailing-'*' prefix, 1 "*",
 * 0 none. Raw ("") only matches raw. */
static int nsp_match(const char *p, const char *nsp, size_t nsp_len)
{
    size_t pl = strlen(p);
    if (pl == nsp_len && memcmp(p, nsp, nsp_len) == 0)
        return 3;
    if (nsp_len == 0 || pl == 0)
        return 0;
    if (pl == 1 && p[0] == '*')
        return 1;
    if (p[pl - 1] == '*' && nsp_len >= pl - 1 && memcmp(p, nsp, pl - 1) == 0)
        return 2;
    return 0;
}

static int worker_serves(const struct hub_worker *w, const char *nsp, size_t nsp_len)
{
    int best = 0;
    for (size_t i = 0; i < w->nnsps; i++) {
        int q = nsp_match(w->nsps[i], nsp, nsp_len);
        if (q > best)
            best = q;
    }
    return best;
}

/* Pick a live worker for nsp: best match class first, round-robin inside it.
 * Returns a slot index or -1. */
static long pick_worker(struct sio_hub *h, const char *nsp, size_t nsp_len)
{
    int best = 0;
    for (size_t i = 0; i < h->nw; i++) {
        if (!h->w[i].alive)
            continue;
        int q = worker_serves(&h->w[i], nsp, nsp_len);
        if (q > best)
            best = q;
    }
    if (!best)
        return -1;
    for (size_t k = 0; k < h->nw; k++) {
        size_t i = (h->rr + k) % h->nw;
        if (h->w[i].alive && worker_serves(&h->w[i], nsp, nsp_len) == best) {
            h->rr = i + 1;
            return (long)i;
        }
    }
    return -1;
}

static void publish(struct sio_hub *h, const void *topic_p, size_t tlen,
                    const void *env, size_t elen);

/* One TAKEOVER for (nsp, sid) on "*": its gateway sends the socket again. */
static void publish_takeover(struct sio_hub *h, const char *nsp, size_t nsp_len, const char *sid,
                             size_t sid_len)
{
    struct sio_str s = { sid, sid_len };
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_TAKEOVER);
    env.nsp = (struct sio_str){ nsp, nsp_len };
    env.rooms = &s;
    env.nrooms = 1;
    sio_buf_reset(&h->enc);
    if (sio_env_encode(&env, &h->enc) == 0)
        publish(h, SIO_BUS_ALL_TOPIC, 1, h->enc.data, h->enc.len);
}

struct takeover_walk {
    struct sio_hub *h;
    size_t slot;
    size_t n;
};

/* sio_map_sweep callback of takeover(): true drops the route */
static bool takeover_one(struct sio_map_ent *e, void *ud)
{
    struct takeover_walk *tw = ud;
    if (val_slot(e->val) != tw->slot)
        return false;
    const char *nsp = e->key;
    size_t nsp_len = strnlen(e->key, e->klen);
    if (nsp_len == 0 || nsp_len >= e->klen)
        return true;    /* a raw session: no takeover, re-routed on its next message */
    e->val = slot_val(SLOT_TAKEOVER);
    publish_takeover(tw->h, nsp, nsp_len, e->key + nsp_len + 1, e->klen - nsp_len - 1);
    tw->n++;
    return false;
}

/* Worker slot died: hold back the events of each of its sockets and ask the
 * gateways to send the sockets again (docs/BUS.md, TAKEOVER). */
static void takeover(struct sio_hub *h, size_t slot)
{
    struct takeover_walk tw = { h, slot, 0 };
    sio_map_sweep(&h->sticky, takeover_one, &tw);
    if (tw.n)
        sio_log_warn(topic, "worker %zu: %zu sockets to take over", slot, tw.n);
}

struct retake_walk {
    struct sio_hub *h;
    const struct hub_worker *w;
    size_t n;
};

static bool retake_one(struct sio_map_ent *e, void *ud)
{
    struct retake_walk *rw = ud;
    if (val_slot(e->val) != SLOT_TAKEOVER)
        return false;
    size_t nsp_len = strnlen(e->key, e->klen);
    if (nsp_len == 0 || nsp_len >= e->klen || !worker_serves(rw->w, e->key, nsp_len))
        return false;
    publish_takeover(rw->h, e->key, nsp_len, e->key + nsp_len + 1, e->klen - nsp_len - 1);
    rw->n++;
    return false;
}

/* A worker is alive (it registered, or came back after a stall): the
 * sockets of its namespaces still awaiting takeover were dropped at their
 * first TAKEOVER (no worker could adopt them), so ask their gateways
 * again. Each gateway then sends CONNECT with sess and every unconfirmed
 * event, oldest first; a gateway that gave up on a socket (its hold time
 * passed) has sent DISCONNECT, which removed the entry. Two registrations
 * close together (a worker's shards) may ask twice: the second CONNECT goes
 * to the adopting worker and its events are handled again (at least once). */
static void retake(struct sio_hub *h, const struct hub_worker *w)
{
    struct retake_walk rw = { h, w, 0 };
    sio_map_sweep(&h->sticky, retake_one, &rw);
    if (rw.n)
        sio_log_warn(topic, "worker %zu: %zu held sockets to take over", (size_t)(w - h->w), rw.n);
}

static int send_to_worker(struct sio_hub *h, struct hub_worker *w, zmq_msg_t *env);

/* A gateway's HEARTBEAT (route [33, "", gw id]). */
static void gateway_seen(struct sio_hub *h, const char *id, size_t len)
{
    if (len != SIO_GW_ID_LEN)
        return;
    for (size_t i = 0; i < h->ngws; i++)
        if (memcmp(h->gws[i].id, id, SIO_GW_ID_LEN) == 0) {
            h->gws[i].last_seen = now_ms();
            return;
        }
    if (SIO_VEC_ROOM(h->gws, h->ngws, h->capgws, 8) < 0)
        return;
    memcpy(h->gws[h->ngws].id, id, SIO_GW_ID_LEN);
    h->gws[h->ngws++].last_seen = now_ms();
    sio_log_info(topic, "gateway %.*s joined", (int)SIO_GW_ID_LEN, id);
}

/* A gateway went silent: every worker drops its sockets (on_disconnect with
 * "transport close"), and their routes go with the workers' 1-frame
 * DISCONNECTs. */
static void expire_gateways(struct sio_hub *h)
{
    uint64_t now = now_ms();
    for (size_t i = 0; i < h->ngws;) {
        if (now - h->gws[i].last_seen <= h->timeout_ms) {
            i++;
            continue;
        }
        sio_log_warn(topic, "gateway %.*s: no heartbeat for %u ms, its sockets are dropped",
                     (int)SIO_GW_ID_LEN, h->gws[i].id, h->timeout_ms);
        struct sio_env env;
        sio_env_init(&env, SIO_ENV_GATEWAY_GONE);
        env.gw = (struct sio_str){ h->gws[i].id, SIO_GW_ID_LEN };
        sio_buf_reset(&h->enc);
        if (sio_env_encode(&env, &h->enc) == 0)
            for (size_t k = 0; k < h->nw; k++) {
                zmq_msg_t m;
                if (!h->w[k].alive || zmq_msg_init_size(&m, h->enc.len) < 0)
                    continue;
                memcpy(zmq_msg_data(&m), h->enc.data, h->enc.len);
                if (send_to_worker(h, &h->w[k], &m) < 0)
                    zmq_msg_close(&m);
            }
        h->gws[i] = h->gws[--h->ngws];
    }
}

static void expire_workers(struct sio_hub *h)
{
    uint64_t now = now_ms();
    for (size_t i = 0; i < h->nw; i++) {
        struct hub_worker *w = &h->w[i];
        if (w->alive && now - w->last_seen > h->timeout_ms) {
            w->alive = false;
            sio_log_warn(topic, "worker %zu: no message for %u ms, marked dead", i, h->timeout_ms);
            takeover(h, i);
        }
    }
}

/* Send the worker what is queued for it: its one event as [rid, envelope],
 * or [rid, batch]. A worker whose pipe is gone (ROUTER_MANDATORY) is
 * marked dead and its sockets taken over: the gateways send the queued
 * events again. */
static void flush_worker(struct sio_hub *h, size_t slot)
{
    struct hub_worker *w = &h->w[slot];
    if (!w->out.n)
        return;
    const void *p;
    size_t len;
    sio_bus_batch_frame(&w->out, &p, &len);
    int rc = 0;
    if (zmq_send(h->workers, w->rid, w->rid_len, ZMQ_SNDMORE) < 0 ||
        zmq_send(h->workers, p, len, 0) < 0)
        rc = -errno;
    sio_bus_batch_reset(&w->out);
    if (rc < 0 && w->alive) {
        sio_log_warn(topic, "worker %zu unreachable (%s), marked dead", slot, sio_strerror(rc));
        w->alive = false;
        takeover(h, slot);
    }
}

static void flush_workers(struct sio_hub *h)
{
    for (size_t i = 0; i < h->nw; i++)
        flush_worker(h, i);
}

/* Send [rid, envelope] to a worker, after what is queued for it; the
 * envelope message is consumed on success. */
static int send_to_worker(struct sio_hub *h, struct hub_worker *w, zmq_msg_t *env)
{
    flush_worker(h, (size_t)(w - h->w));
    if (zmq_send(h->workers, w->rid, w->rid_len, ZMQ_SNDMORE) < 0)
        return -errno;
    if (zmq_msg_send(env, h->workers, 0) < 0)
        return -errno;
    return 0;
}

static void publish(struct sio_hub *h, const void *topic_p, size_t tlen,
                    const void *env, size_t elen)
{
    if (zmq_send(h->commands, topic_p, tlen, ZMQ_SNDMORE) < 0 ||
        zmq_send(h->commands, env, elen, 0) < 0)
        sio_log_warn(topic, "publish failed: %s", zmq_strerror(errno));
}

/* Answer a CONNECT nobody serves, straight to its gateway. */
static void refuse_namespace(struct sio_hub *h, const void *envp, size_t envlen)
{
    struct sio_env in;
    int rc = sio_env_decode(envp, envlen, &in);
    if (rc < 0) {
        sio_log_debug(topic, "CONNECT with bad envelope: %s", sio_strerror(rc));
        return;
    }
    struct sio_env out;
    sio_env_init(&out, SIO_ENV_CONNECT_ERR);
    static const char msg[] = "{\"message\":\"Invalid namespace\"}";
    out.gw = in.gw;
    out.nsp = in.nsp;
    out.sid = in.sid;
    out.data.p = msg;
    out.data.len = sizeof msg - 1;
    sio_buf_reset(&h->enc);
    if (in.gw.len && sio_env_encode(&out, &h->enc) == 0)
        publish(h, in.gw.p, in.gw.len, h->enc.data, h->enc.len);
    else
        sio_log_debug(topic, "cannot answer CONNECT for an unserved namespace");
    sio_env_clear(&in);
}

/* The sticky key of a socket: nsp NUL sid (raw sessions, nsp "", cannot
 * collide with namespace sockets, whose nsp is never empty). Its length, or
 * 0 when nsp or sid is too long. */
#define KEY_MAX (1024 + 1 + 256)
static size_t route_key(char key[KEY_MAX], const char *nsp, size_t nsp_len, const char *sid,
                        size_t sid_len)
{
    if (nsp_len > 1024 || sid_len > 256)
        return 0;
    if (nsp_len)
        memcpy(key, nsp, nsp_len);
    key[nsp_len] = '\0';
    if (sid_len)
        memcpy(key + nsp_len + 1, sid, sid_len);
    return nsp_len + 1 + sid_len;
}

static bool any_worker_alive(const struct sio_hub *h)
{
    for (size_t i = 0; i < h->nw; i++)
        if (h->w[i].alive)
            return true;
    return false;
}

static int hold_connect(struct sio_hub *h, const void *route, size_t rl, const void *env,
                        size_t el)
{
    if (h->nheld >= HUB_HOLD_MAX)
        return -ENOSPC;
    struct hub_held *c = malloc(sizeof *c + rl + el);
    if (!c)
        return -ENOMEM;
    c->next = NULL;
    c->at = now_ms();
    c->rlen = rl;
    c->elen = el;
    memcpy(c->bytes, route, rl);
    memcpy(c->bytes + rl, env, el);
    *h->held_tail = c;
    h->held_tail = &c->next;
    h->nheld++;
    return 0;
}

/* Route the held CONNECTs a worker now serves; refuse the ones held too
 * long (all of them when flush is set: the hub stops). */
static void release_held(struct sio_hub *h, bool flush)
{
    uint64_t now = now_ms();
    struct hub_held **pp = &h->held;
    while (*pp) {
        struct hub_held *c = *pp;
        int kind;
        const char *nsp, *sid;
        size_t nsp_len, sid_len;
        long slot = -1;
        if (sio_bus_route_parse((const char *)c->bytes, c->rlen, &kind, &nsp, &nsp_len, &sid,
                                &sid_len) == 0 && !flush)
            slot = pick_worker(h, nsp, nsp_len);
        if (slot < 0 && !flush && now - c->at < HUB_HOLD_MS) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        h->nheld--;
        zmq_msg_t env;
        char key[KEY_MAX];
        size_t klen = slot >= 0 ? route_key(key, nsp, nsp_len, sid, sid_len) : 0;
        if (klen) {
            if (sio_map_put(&h->sticky, key, klen, slot_val((size_t)slot)) < 0 ||
                zmq_msg_init_size(&env, c->elen) < 0) {
                sio_log_error(topic, "out of memory");
            } else {
                memcpy(zmq_msg_data(&env), c->bytes + c->rlen, c->elen);
                if (send_to_worker(h, &h->w[slot], &env) < 0)
                    sio_log_warn(topic, "held CONNECT lost: worker %ld unreachable", slot);
                zmq_msg_close(&env);
            }
        } else if (!flush) {
            refuse_namespace(h, c->bytes + c->rlen, c->elen);
        }
        free(c);
    }
    h->held_tail = pp;      /* the link after the last one kept */
}

static void route_event(struct sio_hub *h, const void *route, size_t rlen, const void *envp,
                        size_t envlen, zmq_msg_t *envmsg);

/* One message from a gateway: [rid, route, envelope], or [rid, 0xc1,
 * batch of route/envelope pairs] (docs/BUS.md 2.4); false when none is
 * ready (EAGAIN). */
static bool on_gateway(struct sio_hub *h)
{
    zmq_msg_t part[3];
    int n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, h->events, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            if (!n)
                return false;
            break;
        }
        more = zmq_msg_more(&m);
        if (n < 3)
            part[n++] = m;
        else
            zmq_msg_close(&m);
    }
    if (n != 3) {
        sio_log_debug(topic, "gateway message with %d frames dropped", n);
        goto out;
    }
    if (zmq_msg_size(&part[1]) == 1 && *(uint8_t *)zmq_msg_data(&part[1]) == SIO_BUS_BATCH) {
        struct sio_bus_batch_reader br;
        const char *why;
        if (sio_bus_batch_open(&br, zmq_msg_data(&part[2]), zmq_msg_size(&part[2]),
                               SIO_BUS_BATCH_ROUTED, &why) < 0) {
            sio_log_debug(topic, "bad batch from a gateway dropped: %s", why);
            goto out;
        }
        const void *r, *e;
        size_t rl, el;
        while (sio_bus_batch_next(&br, &r, &rl) && sio_bus_batch_next(&br, &e, &el))
            route_event(h, r, rl, e, el, NULL);
        goto out;
    }
    route_event(h, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), zmq_msg_data(&part[2]),
                zmq_msg_size(&part[2]), &part[2]);
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
    return true;
}

/* Hand an event to worker slot: queued for the pass's batch, or, for a
 * CONNECT (which may go to another worker when this one is gone) and a
 * large envelope (envmsg: forwarded without a copy), sent now after what
 * is queued. 0, or -errno when the worker cannot be reached now. */
static int deliver(struct sio_hub *h, long slot, int kind, const void *envp, size_t envlen,
                   zmq_msg_t *envmsg)
{
    struct hub_worker *w = &h->w[slot];
    if (kind != SIO_ENV_CONNECT && !(envmsg && envlen >= SIO_BUS_ZEROCOPY_MIN) &&
        sio_bus_batch_add(&w->out, envp, envlen) == 0) {
        if (w->out.buf.len >= SIO_BUS_BATCH_MAX)
            flush_worker(h, (size_t)slot);
        return 0;
    }
    zmq_msg_t copy;
    if (!envmsg) {
        if (zmq_msg_init_size(&copy, envlen) < 0)
            return -ENOMEM;
        memcpy(zmq_msg_data(&copy), envp, envlen);
    }
    int rc = send_to_worker(h, w, envmsg ? envmsg : &copy);
    if (!envmsg)
        zmq_msg_close(&copy);
    return rc;
}

/* One event [route, envelope] from a gateway: route it (sticky), or hold,
 * refuse or drop it. envmsg: the envelope's own message, or NULL (an item
 * of a batch). */
static void route_event(struct sio_hub *h, const void *route, size_t rlen, const void *envp,
                        size_t envlen, zmq_msg_t *envmsg)
{
    int kind;
    const char *nsp, *sid;
    size_t nsp_len, sid_len;
    if (sio_bus_route_parse(route, rlen, &kind, &nsp, &nsp_len, &sid, &sid_len) < 0) {
        sio_log_debug(topic, "bad route header dropped");
        return;
    }
    if (kind == SIO_ENV_HEARTBEAT) {
        gateway_seen(h, sid, sid_len);
        return;
    }
    if (kind == SIO_ENV_ADMIN) {
        HUB_ADD(h, st_admin, 1);
        /* Admin UI traffic between gateways (docs/ADMIN.md): republish the
         * envelope untouched on the topic the route names ("*" or one
         * gateway id) */
        if ((sid_len == 1 && sid[0] == '*') || sid_len == SIO_GW_ID_LEN)
            publish(h, sid, sid_len, envp, envlen);
        else
            sio_log_debug(topic, "admin relay with a bad topic dropped");
        return;
    }
    HUB_ADD(h, st_events, 1);
    char key[KEY_MAX];
    size_t klen = route_key(key, nsp, nsp_len, sid, sid_len);
    if (!klen) {
        sio_log_debug(topic, "oversized nsp/sid dropped");
        return;
    }

    struct sio_map_ent *e = sio_map_find(&h->sticky, key, klen);
    if (e && val_slot(e->val) == SLOT_TAKEOVER && kind != SIO_ENV_CONNECT) {
        /* its gateway sends it again, then these events, in order */
        if (kind == SIO_ENV_DISCONNECT)
            sio_map_del(&h->sticky, key, klen);
        sio_log_debug(topic, "%s of a socket awaiting takeover dropped", sio_env_kind_name(kind));
        return;
    }
    long slot = e && val_slot(e->val) != SLOT_TAKEOVER ? (long)val_slot(e->val) : -1;
    if (slot >= 0 && !h->w[slot].alive)
        slot = -1;
    if (slot < 0) {
        if (kind == SIO_ENV_DISCONNECT) {
            /* nobody holds this socket: nothing to tell */
            if (e)
                sio_map_del(&h->sticky, key, klen);
            sio_log_debug(topic, "DISCONNECT for an unrouted socket dropped");
            return;
        }
        slot = pick_worker(h, nsp, nsp_len);
        if (slot < 0 && e && nsp_len > 0 && kind != SIO_ENV_CONNECT) {
            /* its worker left (BYE) and none serves the namespace now: this
             * event is dropped, so the socket must be sent again with its
             * unconfirmed events before any later one is routed */
            e->val = slot_val(SLOT_TAKEOVER);
            publish_takeover(h, nsp, nsp_len, sid, sid_len);
            sio_log_warn(topic, "socket '%.*s' of '%.*s' has no live worker: to take over",
                         (int)sid_len, sid, (int)nsp_len, nsp);
            return;
        }
        if (slot < 0 && e && val_slot(e->val) == SLOT_TAKEOVER) {
            /* a takeover CONNECT nobody can adopt: not held like a new
             * socket's, since the events behind it are dropped; the socket
             * stays awaiting takeover until a worker registers (retake) */
            sio_log_debug(topic, "socket '%.*s' of '%.*s' waits for a worker", (int)sid_len, sid,
                          (int)nsp_len, nsp);
            return;
        }
        if (slot < 0) {
            if (kind == SIO_ENV_CONNECT && nsp_len > 0 && !any_worker_alive(h) &&
                hold_connect(h, route, rlen, envp, envlen) == 0)
                sio_log_debug(topic, "CONNECT to '%.*s' held: no worker is alive yet",
                              (int)nsp_len, nsp);
            else if (kind == SIO_ENV_CONNECT && nsp_len > 0)
                refuse_namespace(h, envp, envlen);
            else
                sio_log_debug(topic, "%s for an unserved namespace '%.*s' dropped",
                              sio_env_kind_name(kind), (int)nsp_len, nsp);
            return;
        }
        if (e)
            sio_log_info(topic, "socket '%.*s' re-routed to worker %ld", (int)sid_len, sid, slot);
        if (sio_map_put(&h->sticky, key, klen, slot_val((size_t)slot)) < 0) {
            sio_log_error(topic, "out of memory");
            return;
        }
    }
    int rc = deliver(h, slot, kind, envp, envlen, envmsg);
    for (int tries = 0; rc < 0 && tries < 8; tries++) {
        /* The worker's pipe is gone (ROUTER_MANDATORY; nothing was sent):
         * mark it dead and take its sockets over. A CONNECT goes to
         * another worker now; other events are sent again by the gateway
         * after the TAKEOVER. */
        sio_log_warn(topic, "worker %ld unreachable (%s), marked dead", slot, sio_strerror(rc));
        h->w[slot].alive = false;
        takeover(h, (size_t)slot);
        if (kind != SIO_ENV_CONNECT) {
            if (kind == SIO_ENV_DISCONNECT)
                sio_map_del(&h->sticky, key, klen);
            return;
        }
        slot = pick_worker(h, nsp, nsp_len);
        if (slot < 0 || sio_map_put(&h->sticky, key, klen, slot_val((size_t)slot)) < 0)
            break;
        sio_log_info(topic, "socket '%.*s' re-routed to worker %ld", (int)sid_len, sid, slot);
        rc = deliver(h, slot, kind, envp, envlen, envmsg);
    }
    if (rc == 0)
        HUB_ADD(h, st_routed, 1);
    if (kind == SIO_ENV_DISCONNECT)
        sio_map_del(&h->sticky, key, klen);
}

static void on_hello(struct sio_hub *h, const void *rid, size_t rid_len, const struct sio_env *env)
{
    struct hub_worker *w = worker_find(h, rid, rid_len);
    if (!w) {
        if (SIO_VEC_ROOM(h->w, h->nw, h->capw, 8) < 0)
            return;
        w = &h->w[h->nw++];
        memset(w, 0, sizeof *w);
        memcpy(w->rid, rid, rid_len);
        w->rid_len = rid_len;
    }
    worker_free_nsps(w);
    w->nsps = calloc(env->nrooms ? env->nrooms : 1, sizeof *w->nsps);
    if (!w->nsps)
        return;
    for (size_t i = 0; i < env->nrooms; i++) {
        w->nsps[i] = strndup(env->rooms[i].p ? env->rooms[i].p : "", env->rooms[i].len);
        if (!w->nsps[i])
            break;
        w->nnsps++;
    }
    w->alive = true;
    w->last_seen = now_ms();
    sio_log_info(topic, "worker %zu registered with %zu namespaces", (size_t)(w - h->w), w->nnsps);
    retake(h, w);
}

static void drop_route(struct sio_hub *h, const struct sio_env *env)
{
    char key[KEY_MAX];
    size_t klen = route_key(key, env->nsp.p, env->nsp.len, env->sid.p, env->sid.len);
    if (klen)
        sio_map_del(&h->sticky, key, klen);
}

/* An emitter's command [topic, envelope, request id]: check it, publish
 * it, and answer [request id, "ok" | "error: ..."] on the DEALER
 * (docs/BUS.md 2.3). */
static void emitter_command(struct sio_hub *h, zmq_msg_t *part)
{
    const char *why = NULL;
    size_t tl = zmq_msg_size(&part[1]);
    const char *tp = zmq_msg_data(&part[1]);
    struct sio_env env;
    int rc = sio_env_decode(zmq_msg_data(&part[2]), zmq_msg_size(&part[2]), &env);
    if (rc < 0)
        why = sio_strerror(rc);
    else {
        if (env.kind < SIO_ENV_EMIT || env.kind > SIO_ENV_RAW_SEND)
            why = "not a command kind (16-25)";
        else if (!env.nsp.p)
            why = "missing nsp";
        sio_env_clear(&env);
    }
    if (!why && !(tl == 1 && tp[0] == '*') && tl != SIO_GW_ID_LEN)
        why = "bad topic (\"*\" or a gateway id)";
    if (!why && (zmq_msg_send(&part[1], h->commands, ZMQ_SNDMORE) < 0 ||
                 zmq_msg_send(&part[2], h->commands, 0) < 0))
        why = zmq_strerror(errno);
    char reply[160];
    if (why)
        snprintf(reply, sizeof reply, "error: %s", why);
    else
        snprintf(reply, sizeof reply, "ok");
    if (zmq_send(h->workers, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]), ZMQ_SNDMORE) < 0 ||
        zmq_send(h->workers, zmq_msg_data(&part[3]), zmq_msg_size(&part[3]), ZMQ_SNDMORE) < 0 ||
        zmq_send(h->workers, reply, strlen(reply), 0) < 0)
        sio_log_debug(topic, "cannot answer an emitter: %s", zmq_strerror(errno));
}

/* Ask a peer we do not know (the hub restarted, or the peer reconnected
 * with a new routing id) to register again: a 1-frame HELLO envelope. */
static void request_hello(struct sio_hub *h, const void *rid, size_t rid_len)
{
    struct hub_worker *w = worker_find(h, rid, rid_len);
    if (w)
        flush_worker(h, (size_t)(w - h->w));
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_HELLO);
    sio_buf_reset(&h->enc);
    if (sio_env_encode(&env, &h->enc) < 0)
        return;
    if (zmq_send(h->workers, rid, rid_len, ZMQ_SNDMORE) < 0 ||
        zmq_send(h->workers, h->enc.data, h->enc.len, 0) < 0)
        sio_log_debug(topic, "cannot ask a worker to register: %s", zmq_strerror(errno));
}

/* One message from a worker: [rid, envelope] (control), [rid, topic,
 * envelope] (a command to republish) or [rid, topic, envelope, request id]
 * (an emitter's command that wants an answer). */
static bool on_worker(struct sio_hub *h)
{
    zmq_msg_t part[4];
    int n = 0;
    int more = 1;
    bool extra = false;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, h->workers, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            if (!n)
                return false;
            break;
        }
        more = zmq_msg_more(&m);
        if (n < 4)
            part[n++] = m;
        else {
            extra = true;
            zmq_msg_close(&m);
        }
    }
    if (n == 4 && !extra && zmq_msg_size(&part[3]) > 0 && zmq_msg_size(&part[3]) <= 64 &&
        zmq_msg_size(&part[0]) <= ROUTING_ID_MAX) {
        emitter_command(h, part);
        goto out;
    }
    if (n == 4)
        goto out;
    if (n < 2 || zmq_msg_size(&part[0]) > ROUTING_ID_MAX)
        goto out;
    const void *rid = zmq_msg_data(&part[0]);
    size_t rid_len = zmq_msg_size(&part[0]);
    struct hub_worker *w = worker_find(h, rid, rid_len);
    if (w) {
        w->last_seen = now_ms();
        if (!w->alive && w->nnsps) {
            sio_log_info(topic, "worker %zu is back", (size_t)(w - h->w));
            w->alive = true;
            retake(h, w);
        }
    }
    if (n == 3) {
        /* a command, or a shard's batch of them (docs/BUS.md 2.4): counted
         * one by one, published as they are */
        struct sio_bus_batch_reader br;
        long items = sio_bus_is_batch(zmq_msg_data(&part[2]), zmq_msg_size(&part[2]))
            ? sio_bus_batch_open(&br, zmq_msg_data(&part[2]), zmq_msg_size(&part[2]),
                                 SIO_BUS_BATCH_ENVELOPES, NULL)
            : 1;
        HUB_ADD(h, st_commands, items > 0 ? (uint64_t)items : 1);
        if (zmq_msg_send(&part[1], h->commands, ZMQ_SNDMORE) < 0 ||
            zmq_msg_send(&part[2], h->commands, 0) < 0)
            sio_log_warn(topic, "publish failed: %s", zmq_strerror(errno));
        goto out;
    }
    struct sio_env env;
    int rc = sio_env_decode(zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), &env);
    if (rc < 0) {
        sio_log_debug(topic, "bad worker envelope: %s", sio_strerror(rc));
        goto out;
    }
    switch ((int)env.kind) {
    case SIO_ENV_HELLO:
        on_hello(h, rid, rid_len, &env);
        if (h->held)
            release_held(h, false);
        break;
    case SIO_ENV_HEARTBEAT:
        if (!w || !w->nnsps)
            request_hello(h, rid, rid_len);
        break;
    case SIO_ENV_DISCONNECT:
        /* the worker refused the socket's CONNECT: drop its route */
        drop_route(h, &env);
        break;
    case SIO_ENV_BYE:
        if (w) {
            w->alive = false;
            worker_free_nsps(w);
            sio_log_info(topic, "worker %zu left", (size_t)(w - h->w));
        }
        break;
    default:
        sio_log_debug(topic, "unexpected %s from a worker", sio_env_kind_name(env.kind));
    }
    sio_env_clear(&env);
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&part[i]);
    return true;
}

/* One pass of the hub's loop (zloop.h): a bounded batch from the gateways,
 * then from the workers (drained last, so nothing is sent on it between
 * its EAGAIN and the poll()), then the tick. */
static int hub_pass(void *arg, long *wait_ms)
{
    struct sio_hub *h = arg;
    int busy = SIO_ZLOOP_IDLE;
    int i;
    for (i = 0; i < 64 && on_gateway(h); i++)
        ;
    if (i == 64)
        busy = SIO_ZLOOP_BUSY;
    flush_workers(h);
    for (i = 0; i < 64 && on_worker(h); i++)
        ;
    if (i == 64)
        busy = SIO_ZLOOP_BUSY;
    uint64_t now = now_ms();
    if (now >= h->next_tick) {
        expire_workers(h);
        expire_gateways(h);
        size_t alive = 0;
        for (size_t x = 0; x < h->nw; x++)
            alive += h->w[x].alive;
        atomic_store_explicit(&h->st_workers, alive, memory_order_relaxed);
        atomic_store_explicit(&h->st_gateways, h->ngws, memory_order_relaxed);
        atomic_store_explicit(&h->st_held, h->nheld, memory_order_relaxed);
        atomic_store_explicit(&h->st_sockets, h->sticky.n, memory_order_relaxed);
        if (h->held)
            release_held(h, false);
        h->next_tick = now + HUB_TICK_MS;
        /* expiry may have sent on the workers socket: drain it again */
        return SIO_ZLOOP_BUSY | SIO_ZLOOP_CHECK_CTL;
    }
    *wait_ms = (long)(h->next_tick - now);
    return busy;
}

static void *hub_main(void *arg)
{
    struct sio_hub *h = arg;
    pthread_setname_np(pthread_self(), "sio-hub");     /* for top -H, perf */
    h->next_tick = now_ms() + HUB_TICK_MS;
    const struct sio_zloop l = {
        .socks = { h->ctl_thread, h->events, h->workers }, .nsocks = 3,
        .pass = hub_pass, .ud = h, .log = topic, .name = "hub",
    };
    sio_zloop_run(&l);
    return NULL;
}

static void *mksock(struct sio_hub *h, int type)
{
    void *s = zmq_socket(h->zctx, type);
    if (s) {
        int zero = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    }
    return s;
}

static void close_sockets(struct sio_hub *h)
{
    void **socks[] = { &h->events, &h->commands, &h->workers, &h->ctl_main, &h->ctl_thread };
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++)
        if (*socks[i]) {
            zmq_close(*socks[i]);
            *socks[i] = NULL;
        }
}

int sio_hub_new(sio_hub **out, const struct sio_hub_cfg *cfg, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->zmq_ctx || !cfg->ep.events || !cfg->ep.commands || !cfg->ep.workers) {
        snprintf(err, errlen, "hub: missing zmq context or endpoint");
        return -EINVAL;
    }
    struct sio_hub *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, errlen, "hub: out of memory");
        return -ENOMEM;
    }
    h->zctx = cfg->zmq_ctx;
    h->timeout_ms = cfg->worker_timeout_ms ? cfg->worker_timeout_ms : HUB_DEFAULT_TIMEOUT_MS;
    sio_buf_init(&h->enc);
    h->held_tail = &h->held;
    int rc;
    const char *what = "socket";
    h->events = mksock(h, ZMQ_ROUTER);
    h->commands = mksock(h, ZMQ_PUB);
    h->workers = mksock(h, ZMQ_ROUTER);
    h->ctl_main = mksock(h, ZMQ_PAIR);
    h->ctl_thread = mksock(h, ZMQ_PAIR);
    if (!h->events || !h->commands || !h->workers || !h->ctl_main || !h->ctl_thread)
        goto fail;
    int one = 1;
    zmq_setsockopt(h->workers, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    /* Never drop commands or events silently: no high-water marks. */
    int hwm = 0;
    zmq_setsockopt(h->commands, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(h->workers, ZMQ_SNDHWM, &hwm, sizeof hwm);
    what = "CURVE keys";
    if (sio_bus_secure(h->events, cfg->ep.curve, 1) < 0 ||
        sio_bus_secure(h->commands, cfg->ep.curve, 1) < 0 ||
        sio_bus_secure(h->workers, cfg->ep.curve, 1) < 0)
        goto fail;
    what = cfg->ep.events;
    if (zmq_bind(h->events, cfg->ep.events) < 0)
        goto fail;
    what = cfg->ep.commands;
    if (zmq_bind(h->commands, cfg->ep.commands) < 0)
        goto fail;
    what = cfg->ep.workers;
    if (zmq_bind(h->workers, cfg->ep.workers) < 0)
        goto fail;
    char ctl[64];
    snprintf(ctl, sizeof ctl, "inproc://sio-hub-ctl-%p", (void *)h);
    what = ctl;
    if (zmq_bind(h->ctl_thread, ctl) < 0 || zmq_connect(h->ctl_main, ctl) < 0)
        goto fail;
    /* pthread_create is a full barrier: the thread may use the sockets
     * created here from now on, and only the thread does until the join. */
    rc = pthread_create(&h->thread, NULL, hub_main, h);
    if (rc != 0) {
        snprintf(err, errlen, "hub: cannot start thread: %s", strerror(rc));
        close_sockets(h);
        sio_buf_clear(&h->enc);
        free(h);
        return -rc;
    }
    h->started = true;
    *out = h;
    return 0;
fail:
    rc = -errno;
    snprintf(err, errlen, "hub: cannot bind %s: %s", what, zmq_strerror(errno));
    close_sockets(h);
    sio_buf_clear(&h->enc);
    free(h);
    return rc ? rc : -EIO;
}

void sio_hub_destroy(sio_hub **hub_p)
{
    if (!hub_p || !*hub_p)
        return;
    struct sio_hub *h = *hub_p;
    *hub_p = NULL;
    if (h->started) {
        zmq_send(h->ctl_main, "STOP", 4, 0);
        pthread_join(h->thread, NULL);
    }
    release_held(h, true);
    close_sockets(h);
    for (size_t i = 0; i < h->nw; i++) {
        worker_free_nsps(&h->w[i]);
        sio_bus_batch_clear(&h->w[i].out);
    }
    free(h->w);
    sio_map_clear(&h->sticky);
    sio_buf_clear(&h->enc);
    free(h->gws);
    free(h);
}

int sio_hub_metrics(sio_hub *h, struct sio_buf *b)
{
    char t[2048];
    int n = snprintf(t, sizeof t,
        "# HELP sio_hub_events_total client events (connect, event, ack, disconnect) from gateways\n"
        "# TYPE sio_hub_events_total counter\nsio_hub_events_total %llu\n"
        "# HELP sio_hub_routed_total client events handed to a worker\n"
        "# TYPE sio_hub_routed_total counter\nsio_hub_routed_total %llu\n"
        "# HELP sio_hub_commands_total commands from workers republished to gateways\n"
        "# TYPE sio_hub_commands_total counter\nsio_hub_commands_total %llu\n"
        "# HELP sio_hub_admin_total Admin UI messages relayed between gateways\n"
        "# TYPE sio_hub_admin_total counter\nsio_hub_admin_total %llu\n"
        "# HELP sio_hub_workers workers alive\n# TYPE sio_hub_workers gauge\nsio_hub_workers %llu\n"
        "# HELP sio_hub_gateways gateways heartbeating\n"
        "# TYPE sio_hub_gateways gauge\nsio_hub_gateways %llu\n"
        "# HELP sio_hub_held_connects CONNECTs waiting for a worker\n"
        "# TYPE sio_hub_held_connects gauge\nsio_hub_held_connects %llu\n"
        "# HELP sio_hub_routes sockets with a sticky worker\n"
        "# TYPE sio_hub_routes gauge\nsio_hub_routes %llu\n",
        (unsigned long long)atomic_load(&h->st_events), (unsigned long long)atomic_load(&h->st_routed),
        (unsigned long long)atomic_load(&h->st_commands), (unsigned long long)atomic_load(&h->st_admin),
        (unsigned long long)atomic_load(&h->st_workers), (unsigned long long)atomic_load(&h->st_gateways),
        (unsigned long long)atomic_load(&h->st_held), (unsigned long long)atomic_load(&h->st_sockets));
    if (n < 0 || (size_t)n >= sizeof t)
        return -EINVAL;
    return sio_buf_append(b, t, (size_t)n);
}

/* test-hub.c: the hub's routing, with a fake gateway and either fake
 * workers (raw DEALERs speaking the bus) or the real worker with plugins. */
#include "fakegw.h"
#include <sio/error.h>

/* A fake worker: a DEALER on the workers endpoint. */
static void *fake_worker(struct fgw *f, const char *const *nsps)
{
    void *d = zmq_socket(f->zctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq(zmq_connect(d, f->ep.workers), 0);
    struct sio_str rooms[8];
    size_t n = 0;
    for (; nsps[n]; n++)
        rooms[n] = S(nsps[n]);
    struct sio_env e;
    sio_env_init(&e, SIO_ENV_HELLO);
    e.rooms = rooms;
    e.nrooms = n;
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(&e, &b), 0);
    cr_assert_eq(zmq_send(d, b.data, b.len, 0), (int)b.len);
    sio_buf_clear(&b);
    usleep(50 * 1000);
    return d;
}

/* The batch a fake worker is reading (one fake worker at a time does). */
static struct {
    void *d;
    zmq_msg_t m;
    struct sio_bus_batch_reader br;
} wb;
static unsigned worker_batches;     /* batch frames the fake workers got */

/* Receive one event on a fake worker (the next item of a batch first);
 * returns the decoded kind and sid. */
static bool worker_recv(void *d, int timeout_ms, int *kind, char *sid, size_t sidcap,
                        struct sio_buf *raw)
{
    const void *p = NULL;
    size_t len = 0;
    if (wb.d == d && !sio_bus_batch_next(&wb.br, &p, &len)) {
        zmq_msg_close(&wb.m);
        wb.d = NULL;
    }
    if (!p) {
        zmq_pollitem_t it = { d, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, timeout_ms) <= 0)
            return false;
        if (wb.d)
            zmq_msg_close(&wb.m);
        wb.d = NULL;
        zmq_msg_init(&wb.m);
        cr_assert_geq(zmq_msg_recv(&wb.m, d, 0), 0);
        cr_assert_not(zmq_msg_more(&wb.m), "events are one frame");
        wb.d = d;
        p = zmq_msg_data(&wb.m);
        len = zmq_msg_size(&wb.m);
        if (sio_bus_is_batch(p, len)) {
            cr_assert_gt(sio_bus_batch_open(&wb.br, p, len, SIO_BUS_BATCH_ENVELOPES, NULL), 1,
                         "a batch holds more than one event");
            worker_batches++;
            cr_assert(sio_bus_batch_next(&wb.br, &p, &len));
        } else {
            wb.br.p = wb.br.end = NULL;      /* no more items */
        }
    }
    struct sio_env e;
    cr_assert_eq(sio_env_decode(p, len, &e), 0);
    *kind = e.kind;
    snprintf(sid, sidcap, "%.*s", (int)e.sid.len, e.sid.p);
    if (raw) {
        sio_buf_reset(raw);
        sio_buf_append(raw, p, len);
    }
    sio_env_clear(&e);
    return true;
}

static void worker_close(void *d)
{
    if (wb.d == d) {
        zmq_msg_close(&wb.m);
        wb.d = NULL;
    }
    zmq_close(d);
}

/* Append the event (kind, nsp, sid, id, data) to a gateway's batch as its
 * route and envelope pair. */
static void batch_event(struct sio_bus_batch *b, enum sio_env_kind kind, const char *nsp,
                        const char *sid, int64_t id, const char *data)
{
    struct sio_env e = fgw_env(kind, nsp, sid, id, data);
    char route[256];
    int rl = sio_bus_route_make(route, sizeof route, kind, nsp, strlen(nsp), sid, strlen(sid));
    cr_assert_gt(rl, 0);
    struct sio_buf env = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(&e, &env), 0);
    cr_assert_eq(sio_bus_batch_add_pair(b, route, (size_t)rl, env.data, env.len), 0);
    sio_buf_clear(&env);
}

/* Send raw bytes as a gateway's batch message [c1, bytes]. */
static void send_batch(struct fgw *f, const void *p, size_t len)
{
    const uint8_t mark = SIO_BUS_BATCH;
    cr_assert_eq(zmq_send(f->dealer, &mark, 1, ZMQ_SNDMORE), 1);
    cr_assert_eq(zmq_send(f->dealer, p, len, 0), (int)len);
}

Test(hub, unknown_namespace_is_refused_by_the_hub)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w = fake_worker(&f, (const char *const[]){ "/", NULL });
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/nope", "s1", -1, NULL);
    struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(e->sid, "s1"));
    cr_assert(fgw_str_eq(e->nsp, "/nope"));
    cr_assert(fgw_str_eq(e->gw, FGW_ID));
    fgw_assert_json(e, "{\"message\":\"Invalid namespace\"}");
    worker_close(w);
    fgw_stop(&f);
}

/* A gateway can come up before any worker (split deployment): its first
 * CONNECTs wait for a worker instead of failing. */
Test(hub, connect_waits_for_the_first_worker)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "early", -1, NULL);
    cr_assert_not(fgw_recv(&f, 500), "refused while no worker had registered yet");
    void *w = fake_worker(&f, (const char *const[]){ "/", NULL });
    int kind;
    char sid[64];
    cr_assert(worker_recv(w, 2000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_CONNECT);
    cr_assert_str_eq(sid, "early");
    /* and it sticks to that worker */
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "early", -1, "[\"x\"]");
    cr_assert(worker_recv(w, 2000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_EVENT);
    worker_close(w);
    fgw_stop(&f);
}

Test(hub, connect_held_too_long_is_refused)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "s1", -1, NULL);
    cr_assert_not(fgw_recv(&f, 4000), "refused before the hold time");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);   /* at 5 s */
    cr_assert(fgw_str_eq(e->sid, "s1"));
    fgw_assert_json(e, "{\"message\":\"Invalid namespace\"}");
    fgw_stop(&f);
}

Test(hub, forwards_envelopes_untouched_and_republishes_commands)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w = fake_worker(&f, (const char *const[]){ "/a", NULL });

    struct sio_env e;
    sio_env_init(&e, SIO_ENV_CONNECT);
    e.gw = S(FGW_ID);
    e.nsp = S("/a");
    e.sid = S("s1");
    e.data = S("{\"token\":1}");
    struct sio_buf sent = SIO_BUF_INIT, got = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(&e, &sent), 0);
    fgw_send(&f, &e);
    int kind;
    char sid[64];
    cr_assert(worker_recv(w, 2000, &kind, sid, sizeof sid, &got));
    cr_assert_eq(kind, SIO_ENV_CONNECT);
    cr_assert_eq(got.len, sent.len);
    cr_assert_eq(memcmp(got.data, sent.data, sent.len), 0);

    /* a 2-frame command goes out on PUB byte for byte */
    cr_assert_eq(zmq_send(w, FGW_ID, strlen(FGW_ID), ZMQ_SNDMORE), (int)strlen(FGW_ID));
    cr_assert_eq(zmq_send(w, sent.data, sent.len, 0), (int)sent.len);
    cr_assert(fgw_recv(&f, 2000));
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert_eq(zmq_msg_size(&f.env_msg), sent.len);
    cr_assert_eq(memcmp(zmq_msg_data(&f.env_msg), sent.data, sent.len), 0);

    sio_buf_clear(&sent);
    sio_buf_clear(&got);
    worker_close(w);
    fgw_stop(&f);
}

Test(hub, namespace_matching_prefers_exact_then_pattern_then_star)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *star = fake_worker(&f, (const char *const[]){ "*", NULL });
    void *pat = fake_worker(&f, (const char *const[]){ "/chat*", NULL });
    void *exact = fake_worker(&f, (const char *const[]){ "/chat/main", NULL });
    int kind;
    char sid[64];

    fgw_send_kind(&f, SIO_ENV_CONNECT, "/chat/main", "a", -1, NULL);
    cr_assert(worker_recv(exact, 2000, &kind, sid, sizeof sid, NULL));
    cr_assert_str_eq(sid, "a");
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/chat/other", "b", -1, NULL);
    cr_assert(worker_recv(pat, 2000, &kind, sid, sizeof sid, NULL));
    cr_assert_str_eq(sid, "b");
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/elsewhere", "c", -1, NULL);
    cr_assert(worker_recv(star, 2000, &kind, sid, sizeof sid, NULL));
    cr_assert_str_eq(sid, "c");
    /* raw (nsp "") is not served by "*" */
    fgw_send_kind(&f, SIO_ENV_RAW, "", "e1", -1, "hi");
    cr_assert_not(worker_recv(star, 200, &kind, sid, sizeof sid, NULL));
    cr_assert_not(worker_recv(pat, 10, &kind, sid, sizeof sid, NULL));
    cr_assert_not(worker_recv(exact, 10, &kind, sid, sizeof sid, NULL));

    zmq_close(star);
    zmq_close(pat);
    zmq_close(exact);
    fgw_stop(&f);
}

Test(hub, sticky_round_robin_and_removed_after_disconnect)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w[2] = {
        fake_worker(&f, (const char *const[]){ "/", NULL }),
        fake_worker(&f, (const char *const[]){ "/", NULL }),
    };
    int kind;
    char sid[64];
    int owner[4];
    const char *sids[4] = { "s0", "s1", "s2", "s3" };
    for (int i = 0; i < 4; i++) {
        fgw_send_kind(&f, SIO_ENV_CONNECT, "/", sids[i], -1, NULL);
        owner[i] = -1;
        for (int k = 0; k < 2 && owner[i] < 0; k++)
            if (worker_recv(w[k], 300, &kind, sid, sizeof sid, NULL)) {
                cr_assert_str_eq(sid, sids[i]);
                owner[i] = k;
            }
        cr_assert_geq(owner[i], 0);
    }
    /* round robin: both workers got two sockets */
    cr_assert_eq(owner[0] + owner[1] + owner[2] + owner[3], 2);
    cr_assert_neq(owner[0], owner[1]);
    for (int round = 0; round < 5; round++)
        for (int i = 0; i < 4; i++) {
            fgw_send_kind(&f, SIO_ENV_EVENT, "/", sids[i], -1, "[\"x\"]");
            cr_assert(worker_recv(w[owner[i]], 1000, &kind, sid, sizeof sid, NULL));
            cr_assert_eq(kind, SIO_ENV_EVENT);
            cr_assert_str_eq(sid, sids[i]);
        }
    fgw_send_kind(&f, SIO_ENV_DISCONNECT, "/", "s0", -1, NULL);
    cr_assert(worker_recv(w[owner[0]], 1000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_DISCONNECT);
    zmq_close(w[0]);
    zmq_close(w[1]);
    fgw_stop(&f);
}

Test(hub, dead_worker_is_skipped)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);  /* worker_timeout_ms = 3000 */
    void *w = fake_worker(&f, (const char *const[]){ "/", NULL });
    int kind;
    char sid[64];
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "s1", -1, NULL);
    cr_assert(worker_recv(w, 1000, &kind, sid, sizeof sid, NULL));
    /* no heartbeat: after the timeout (3 s) the namespace has no live
     * worker and its socket is to be taken over: the gateways are told
     * (docs/BUS.md) */
    cr_assert(fgw_recv(&f, 8000), "no TAKEOVER within 8 s");
    cr_assert_eq(f.env.kind, SIO_ENV_TAKEOVER, "got %s", sio_env_kind_name(f.env.kind));
    struct sio_env *e = &f.env;
    cr_assert_str_eq(f.topic, "*");
    cr_assert(e->nrooms == 1 && fgw_str_eq(e->rooms[0], "s1") && fgw_str_eq(e->nsp, "/"));
    /* no worker is alive now: a new CONNECT is held (then refused after
     * 5 s, see connect_held_too_long_is_refused) */
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "s2", -1, NULL);
    cr_assert_not(fgw_recv(&f, 300), "a CONNECT was answered while no worker is alive");
    /* the old socket's events are dropped, not crashed on */
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "s1", -1, "[\"x\"]");
    cr_assert_not(worker_recv(w, 200, &kind, sid, sizeof sid, NULL));
    worker_close(w);
    fgw_stop(&f);
}

Test(hub, routes_to_real_worker_shards_sticky_and_in_order)
{
    char *seq = fgw_build_path("tests/unit/core/plugin-seq.so");
    struct fgw f;
    fgw_start(&f, (const char *const[]){ seq }, 1, 2);
    enum { NS = 6, NE = 30 };
    char sids[NS][8];
    for (int i = 0; i < NS; i++) {
        snprintf(sids[i], sizeof sids[i], "k%d", i);
        fgw_send_kind(&f, SIO_ENV_CONNECT, "/seq", sids[i], -1, NULL);
        struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_OK);
        cr_assert(fgw_str_eq(e->sid, sids[i]));
    }
    for (int n = 0; n < NE; n++)
        for (int i = 0; i < NS; i++) {
            char data[64];
            snprintf(data, sizeof data, "[\"seq\",%d]", n);
            fgw_send_kind(&f, SIO_ENV_EVENT, "/seq", sids[i], n, data);
        }
    int next[NS] = { 0 }, tag[NS] = { 0 };
    bool tags_seen[64] = { false };
    for (int k = 0; k < NS * NE; k++) {
        struct sio_env *e = fgw_expect(&f, SIO_ENV_ACK);
        int i = -1;
        for (int j = 0; j < NS; j++)
            if (fgw_str_eq(e->sid, sids[j]))
                i = j;
        cr_assert_geq(i, 0);
        json_t *a = fgw_json(e);
        int n = (int)json_integer_value(json_array_get(a, 0));
        int t = (int)json_integer_value(json_array_get(a, 1));
        json_decref(a);
        cr_assert_eq(n, next[i], "socket %d: ack %d out of order (want %d)", i, n, next[i]);
        cr_assert_eq(e->id, n);
        next[i]++;
        if (!tag[i])
            tag[i] = t;
        cr_assert_eq(t, tag[i], "socket %d moved between shards", i);
        cr_assert_lt(t, 64);
        tags_seen[t] = true;
    }
    int ntags = 0;
    for (int t = 0; t < 64; t++)
        ntags += tags_seen[t];
    cr_assert_eq(ntags, 2, "both shards should have sockets");
    fgw_stop(&f);
    free(seq);
}

Test(hub, pattern_namespace_served_by_plugin)
{
    char *seq = fgw_build_path("tests/unit/core/plugin-seq.so");
    struct fgw f;
    fgw_start(&f, (const char *const[]){ seq }, 1, 1);
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/pattern/x", "p1", -1, NULL);
    fgw_expect(&f, SIO_ENV_CONNECT_OK);
    fgw_send_kind(&f, SIO_ENV_EVENT, "/pattern/x", "p1", 0, "[\"nsp\"]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_ACK);
    fgw_assert_json(e, "[\"/pattern/x\"]");
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/other", "p2", -1, NULL);
    e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);
    fgw_assert_json(e, "{\"message\":\"Invalid namespace\"}");
    fgw_stop(&f);
    free(seq);
}

Test(hub, worker_can_drop_a_refused_route)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w[2] = {
        fake_worker(&f, (const char *const[]){ "/", NULL }),
        fake_worker(&f, (const char *const[]){ "/", NULL }),
    };
    int kind, first = -1;
    char sid[64];
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "r1", -1, NULL);
    for (int k = 0; k < 2 && first < 0; k++)
        if (worker_recv(w[k], 300, &kind, sid, sizeof sid, NULL))
            first = k;
    cr_assert_geq(first, 0);
    /* sticky while routed: a re-sent CONNECT goes to the same worker */
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "r1", -1, NULL);
    cr_assert(worker_recv(w[first], 1000, &kind, sid, sizeof sid, NULL));
    /* the worker refuses and drops the route (1-frame DISCONNECT) */
    struct sio_env e;
    sio_env_init(&e, SIO_ENV_DISCONNECT);
    e.gw = S(FGW_ID);
    e.nsp = S("/");
    e.sid = S("r1");
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(&e, &b), 0);
    cr_assert_eq(zmq_send(w[first], b.data, b.len, 0), (int)b.len);
    sio_buf_clear(&b);
    usleep(50 * 1000);
    /* round robin now picks the other worker */
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "r1", -1, NULL);
    cr_assert(worker_recv(w[1 - first], 1000, &kind, sid, sizeof sid, NULL));
    zmq_close(w[0]);
    zmq_close(w[1]);
    fgw_stop(&f);
}

/* A 1-frame control envelope (HEARTBEAT, BYE) from a fake worker. */
static void worker_control(void *d, enum sio_env_kind kind)
{
    struct sio_env e;
    sio_env_init(&e, kind);
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(&e, &b), 0);
    cr_assert_eq(zmq_send(d, b.data, b.len, 0), (int)b.len);
    sio_buf_clear(&b);
    usleep(50 * 1000);
}

/* What a gateway sends for a TAKEOVER: CONNECT with the session. */
static void takeover_connect(struct fgw *f, const char *sid)
{
    struct sio_env e;
    sio_env_init(&e, SIO_ENV_CONNECT);
    e.gw = S(FGW_ID);
    e.nsp = S("/");
    e.sid = S(sid);
    e.session = S("{}");
    fgw_send(f, &e);
}

static void expect_takeover(struct fgw *f, const char *sid)
{
    struct sio_env *e = fgw_expect(f, SIO_ENV_TAKEOVER);
    cr_assert_str_eq(f->topic, "*");
    cr_assert(e->nrooms == 1 && fgw_str_eq(e->rooms[0], sid) && fgw_str_eq(e->nsp, "/"));
}

/* The only worker dies: the gateway's answer to the TAKEOVER finds no
 * worker and is dropped (not held: the events behind it are dropped too),
 * and when a worker registers the hub publishes TAKEOVER again, so that
 * the gateway sends the socket and all its unconfirmed events to it. */
Test(hub, takeover_is_published_again_when_a_worker_registers)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w1 = fake_worker(&f, (const char *const[]){ "/", NULL });
    int kind;
    char sid[64];
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "s1", -1, NULL);
    cr_assert(worker_recv(w1, 1000, &kind, sid, sizeof sid, NULL));
    zmq_close(w1);                  /* kill -9: its pipe goes away */
    usleep(100 * 1000);
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "s1", -1, "[\"lost-in-pipe\"]");
    expect_takeover(&f, "s1");
    takeover_connect(&f, "s1");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "s1", -1, "[\"held\"]");
    cr_assert_not(fgw_recv(&f, 300), "a takeover CONNECT was answered while no worker is alive");

    void *w2 = fake_worker(&f, (const char *const[]){ "/", NULL });
    expect_takeover(&f, "s1");
    cr_assert_not(worker_recv(w2, 300, &kind, sid, sizeof sid, NULL),
                  "the dropped takeover CONNECT reached the new worker");
    takeover_connect(&f, "s1");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "s1", -1, "[\"again\"]");
    cr_assert(worker_recv(w2, 1000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_CONNECT);
    cr_assert_str_eq(sid, "s1");
    cr_assert(worker_recv(w2, 1000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_EVENT);
    /* adopted: no further TAKEOVER when yet another worker registers */
    void *w3 = fake_worker(&f, (const char *const[]){ "/", NULL });
    cr_assert_not(fgw_recv(&f, 300), "TAKEOVER for an adopted socket");
    zmq_close(w2);
    zmq_close(w3);
    fgw_stop(&f);
}

/* Only the namespaces the registering worker serves are asked again. */
Test(hub, takeover_again_only_for_the_namespaces_served)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w1 = fake_worker(&f, (const char *const[]){ "/", NULL });
    int kind;
    char sid[64];
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "s1", -1, NULL);
    cr_assert(worker_recv(w1, 1000, &kind, sid, sizeof sid, NULL));
    zmq_close(w1);
    usleep(100 * 1000);
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "s1", -1, "[\"x\"]");
    expect_takeover(&f, "s1");
    void *other = fake_worker(&f, (const char *const[]){ "/other", NULL });
    cr_assert_not(fgw_recv(&f, 300), "TAKEOVER for a worker of another namespace");
    void *w2 = fake_worker(&f, (const char *const[]){ "*", NULL });
    expect_takeover(&f, "s1");
    zmq_close(other);
    zmq_close(w2);
    fgw_stop(&f);
}

/* A worker marked dead for silence that speaks again gets the sockets
 * still awaiting takeover. */
Test(hub, takeover_again_when_a_silent_worker_is_back)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);  /* worker_timeout_ms = 3000 */
    void *w = fake_worker(&f, (const char *const[]){ "/", NULL });
    int kind;
    char sid[64];
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "s1", -1, NULL);
    cr_assert(worker_recv(w, 1000, &kind, sid, sizeof sid, NULL));
    cr_assert(fgw_recv(&f, 5000), "no TAKEOVER after the worker timeout");
    cr_assert_eq(f.env.kind, SIO_ENV_TAKEOVER);
    worker_control(w, SIO_ENV_HEARTBEAT);
    expect_takeover(&f, "s1");
    takeover_connect(&f, "s1");
    cr_assert(worker_recv(w, 1000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_CONNECT);
    worker_close(w);
    fgw_stop(&f);
}

/* The only worker left (BYE): the next event of its socket finds no live
 * worker; rather than drop it (a later event would be confirmed past it),
 * the hub puts the socket to takeover. */
Test(hub, socket_of_a_worker_that_left_is_taken_over_when_none_is_alive)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w1 = fake_worker(&f, (const char *const[]){ "/", NULL });
    int kind;
    char sid[64];
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "s1", -1, NULL);
    cr_assert(worker_recv(w1, 1000, &kind, sid, sizeof sid, NULL));
    worker_control(w1, SIO_ENV_BYE);
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "s1", -1, "[\"x\"]");
    expect_takeover(&f, "s1");
    cr_assert_not(worker_recv(w1, 200, &kind, sid, sizeof sid, NULL));
    void *w2 = fake_worker(&f, (const char *const[]){ "/", NULL });
    expect_takeover(&f, "s1");
    takeover_connect(&f, "s1");
    cr_assert(worker_recv(w2, 1000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_CONNECT);
    zmq_close(w1);
    zmq_close(w2);
    fgw_stop(&f);
}

/* Admin UI traffic (docs/BUS.md 4.5): a route of kind ADMIN makes the hub
 * publish the envelope, byte for byte, on the topic the route names; it
 * never reaches a worker, and a bad topic is dropped. */
static void send_admin(struct fgw *f, const char *tp, const struct sio_env *env, struct sio_buf *b)
{
    char route[64];
    int rl = sio_bus_route_make(route, sizeof route, SIO_ENV_ADMIN, "", 0, tp, strlen(tp));
    cr_assert_gt(rl, 0);
    sio_buf_reset(b);
    cr_assert_eq(sio_env_encode(env, b), 0);
    cr_assert_eq(zmq_send(f->dealer, route, (size_t)rl, ZMQ_SNDMORE), rl);
    cr_assert_eq(zmq_send(f->dealer, b->data, b->len, 0), (int)b->len);
}

Test(hub, admin_route_is_republished_on_its_topic_untouched)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w = fake_worker(&f, (const char *const[]){ "*", NULL });
    struct sio_buf b = SIO_BUF_INIT;
    struct sio_env e;
    sio_env_init(&e, SIO_ENV_EMIT);             /* a note for the admin sockets */
    e.nsp = S("/admin");
    e.data = S("[\"server_stats\",{}]");
    send_admin(&f, "*", &e, &b);
    cr_assert(fgw_recv(&f, 2000), "the relayed note reached the gateways");
    cr_assert_str_eq(f.topic, "*");
    cr_assert_eq(zmq_msg_size(&f.env_msg), b.len);
    cr_assert_eq(memcmp(zmq_msg_data(&f.env_msg), b.data, b.len), 0, "published untouched");
    sio_env_init(&e, SIO_ENV_ADMIN);            /* an answer to one gateway */
    e.gw = S(FGW_ID);
    e.reason = S("socks");
    e.data = S("[]");
    send_admin(&f, FGW_ID, &e, &b);
    struct sio_env *got = fgw_expect(&f, SIO_ENV_ADMIN);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(got->reason, "socks"));
    send_admin(&f, "not-a-topic", &e, &b);      /* neither "*" nor a gateway id */
    cr_assert_not(fgw_recv(&f, 300), "a bad topic is dropped");
    int kind;
    char sid[64];
    cr_assert_not(worker_recv(w, 300, &kind, sid, sizeof sid, NULL), "no admin traffic to workers");
    sio_buf_clear(&b);
    worker_close(w);
    fgw_stop(&f);
}

Test(hub, gateway_batch_is_routed_pair_by_pair_and_reaches_the_worker_as_one_batch)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w = fake_worker(&f, (const char *const[]){ "/a", NULL });
    struct sio_bus_batch b;
    sio_bus_batch_init(&b);
    batch_event(&b, SIO_ENV_CONNECT, "/a", "s1", -1, "{}");
    send_batch(&f, b.buf.data, b.buf.len);
    int kind;
    char sid[64];
    cr_assert(worker_recv(w, 2000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_CONNECT);
    cr_assert_str_eq(sid, "s1");

    /* three events, an unserved namespace's CONNECT (answered by the hub)
     * and an admin relay in one message: the worker gets the events in
     * order, in one batch frame */
    sio_bus_batch_reset(&b);
    batch_event(&b, SIO_ENV_EVENT, "/a", "s1", -1, "[\"x\",1]");
    batch_event(&b, SIO_ENV_CONNECT, "/nobody", "s2", -1, "{}");
    batch_event(&b, SIO_ENV_EVENT, "/a", "s1", -1, "[\"x\",2]");
    batch_event(&b, SIO_ENV_DISCONNECT, "/a", "s1", -1, NULL);
    struct sio_env note;
    sio_env_init(&note, SIO_ENV_EMIT);
    note.nsp = S("/admin");
    note.data = S("[\"server_stats\",{}]");
    struct sio_buf ne = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(&note, &ne), 0);
    char route[64];
    int rl = sio_bus_route_make(route, sizeof route, SIO_ENV_ADMIN, "", 0, "*", 1);
    cr_assert_eq(sio_bus_batch_add_pair(&b, route, (size_t)rl, ne.data, ne.len), 0);
    unsigned before = worker_batches;
    send_batch(&f, b.buf.data, b.buf.len);
    struct sio_buf raw = SIO_BUF_INIT;
    const char *want[] = { "[\"x\",1]", "[\"x\",2]" };
    for (int i = 0; i < 2; i++) {
        cr_assert(worker_recv(w, 2000, &kind, sid, sizeof sid, &raw));
        cr_assert_eq(kind, SIO_ENV_EVENT);
        struct sio_env e;
        cr_assert_eq(sio_env_decode(raw.data, raw.len, &e), 0);
        cr_assert(fgw_str_eq(e.data, want[i]), "event %d out of order", i);
        sio_env_clear(&e);
    }
    cr_assert(worker_recv(w, 2000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_DISCONNECT);
    cr_assert_eq(worker_batches, before + 1, "the three events came in one batch frame");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);
    cr_assert(fgw_str_eq(e->sid, "s2"));
    e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert_str_eq(f.topic, "*");
    cr_assert(fgw_str_eq(e->nsp, "/admin"));
    sio_buf_clear(&ne);
    sio_buf_clear(&raw);
    sio_bus_batch_clear(&b);
    worker_close(w);
    fgw_stop(&f);
}

Test(hub, malformed_gateway_batches_are_dropped_and_the_hub_goes_on)
{
    struct fgw f;
    fgw_start(&f, NULL, 0, 0);
    void *w = fake_worker(&f, (const char *const[]){ "/a", NULL });
    struct sio_bus_batch b;
    sio_bus_batch_init(&b);
    batch_event(&b, SIO_ENV_CONNECT, "/a", "bad", -1, "{}");
    send_batch(&f, b.buf.data, b.buf.len - 1);             /* length past the end */
    send_batch(&f, b.buf.data, 3);                         /* inside a length */
    send_batch(&f, b.buf.data, 1);                         /* empty */
    uint8_t odd[64];                                       /* a route without envelope */
    size_t rlen = ((size_t)b.buf.data[3] << 8) | b.buf.data[4];
    memcpy(odd, b.buf.data, 5 + rlen);
    send_batch(&f, odd, 5 + rlen);
    static const uint8_t notenv[] = { 0xc1, 0, 0, 0, 3, 0x01, 0x2f, 0x00, 0, 0, 0, 1, 0x92 };
    send_batch(&f, notenv, sizeof notenv);                 /* the envelope is an array */
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/a", "good", -1, "{}");
    int kind;
    char sid[64];
    cr_assert(worker_recv(w, 2000, &kind, sid, sizeof sid, NULL));
    cr_assert_eq(kind, SIO_ENV_CONNECT);
    cr_assert_str_eq(sid, "good", "only the good CONNECT is routed");
    cr_assert_not(worker_recv(w, 300, &kind, sid, sizeof sid, NULL));
    sio_bus_batch_clear(&b);
    worker_close(w);
    fgw_stop(&f);
}

Test(hub, real_worker_answers_a_batch_in_order_with_batches)
{
    char *seq = fgw_build_path("tests/unit/core/plugin-seq.so");
    struct fgw f;
    fgw_start(&f, (const char *const[]){ seq }, 1, 1);
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/seq", "k1", -1, NULL);
    fgw_expect(&f, SIO_ENV_CONNECT_OK);
    enum { NE = 40 };
    struct sio_bus_batch b;
    sio_bus_batch_init(&b);
    for (int n = 0; n < NE; n++) {
        char data[64];
        snprintf(data, sizeof data, "[\"seq\",%d]", n);
        batch_event(&b, SIO_ENV_EVENT, "/seq", "k1", n, data);
    }
    unsigned before = f.batches;
    send_batch(&f, b.buf.data, b.buf.len);
    for (int n = 0; n < NE; n++) {
        struct sio_env *e = fgw_expect(&f, SIO_ENV_ACK);
        cr_assert_eq(e->id, n, "ack %d out of order", n);
    }
    cr_assert_gt(f.batches, before, "the shard answered the batch with a batch");
    cr_assert_not(fgw_recv(&f, 200));
    sio_bus_batch_clear(&b);
    fgw_stop(&f);
    free(seq);
}

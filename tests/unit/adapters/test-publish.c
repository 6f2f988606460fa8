/* test-publish.c: the publishing half of the bridges (issue 19).
 *
 * - the data-only pickle writer (adapters/pickle_write.c): its output reads
 *   back through the restricted decoder (adapters/pickle.c) and through
 *   Python's own pickle.loads (/usr/bin/python3), and the python-socketio
 *   5.7.2 fixtures written again are equal to the originals for Python;
 * - bus commands -> python-socketio manager messages (publish_msg.c), in
 *   JSON and pickle, and back to the same commands (bridge_msg.c); our own
 *   host id is skipped, commands with "org" are never published;
 * - the publisher (publish.c): a broker that does not answer does not block
 *   the hub's PUB socket; the bounded queue drops and counts.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include <sio/error.h>
#include <sio/msg.h>
#include "adapters/bridge.h"
#include "base/buf.h"
#include "proto/bus.h"
#include "adapters/pickle.h"
#include "fixture.h"

#define S(lit) ((struct sio_str){ lit, sizeof lit - 1 })

/* ---- the pickle writer ---- */

static void encode_ok(struct sio_pickle *pk, struct sio_buf *out)
{
    sio_buf_init(out);
    cr_assert_eq(sio_pickle_encode(pk, out), 0);
    cr_assert_gt(out->len, 3);
    cr_assert_eq(out->data[0], 0x80);
    cr_assert_eq(out->data[out->len - 1], '.');
}

/* Python reads bytes and finds them == to the literal want (tuples are
 * tuples, bytes are bytes); the exit status says. */
static bool python_equal(const void *buf, size_t len, const char *want)
{
    char path[] = "/tmp/sio-pickle-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, buf, len), (ssize_t)len);
    close(fd);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import ast, pickle, sys\n"
             "v = pickle.load(open(sys.argv[1], \"rb\"))\n"
             "w = ast.literal_eval(sys.argv[2])\n"
             "def same(a, b):\n"
             "    if type(a) is not type(b): return False\n"
             "    if isinstance(a, dict): return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)\n"
             "    if isinstance(a, (list, tuple)): return len(a) == len(b) and all(map(same, a, b))\n"
             "    return a == b\n"
             "sys.exit(0 if same(v, w) else print(repr(v)) or 1)' %s \"%s\"", path, want);
    int rc = system(cmd);
    unlink(path);
    return rc == 0;
}

static json_t *bin(const char *p, size_t n)
{
    return sio_binary_new(p, n);
}

Test(pickle_write, every_type_round_trips_through_both_decoders)
{
    struct sio_pickle pk = { 0 };
    char big[300];
    memset(big, 'x', sizeof big);
    json_t *t0 = json_array(), *t1 = json_pack("[i]", 1), *t2 = json_pack("[s,n]", "a"),
           *t3 = json_pack("[b,b,i]", 1, 0, -1), *t5 = json_pack("[i,i,i,i,i]", 1, 2, 3, 4, 5);
    json_t *v = json_pack("{s:n, s:b, s:b, s:[I,I,I,I,I,I,I,I,I,I,I], s:[f,f,f], s:s, s:s%, s:o, "
                          "s:o, s:[], s:{}, s:[o,o,o,o,o], s:{s:[{s:[i]}]}}",
                          "none", "t", 1, "f", 0,
                          "ints", (json_int_t)0, (json_int_t)255, (json_int_t)256,
                          (json_int_t)65535, (json_int_t)65536, (json_int_t)-1,
                          (json_int_t)INT32_MIN, (json_int_t)INT32_MAX + 1,
                          (json_int_t)INT64_MAX, (json_int_t)INT64_MIN, (json_int_t)-129,
                          "floats", 1.5, -0.25, 1e300,
                          "s", "h\xc3\xa9llo", "long", big, sizeof big,
                          "b", bin("\x00\x01\xff", 3), "bb", bin(big, sizeof big),
                          "el", "ed", "tuples", t0, t1, t2, t3, t5,
                          "nest", "a", "b", 7);
    cr_assert_not_null(v);
    pk.value = v;
    cr_assert_eq(sio_pickle_mark_tuple(&pk, t0), 0);
    cr_assert_eq(sio_pickle_mark_tuple(&pk, t1), 0);
    cr_assert_eq(sio_pickle_mark_tuple(&pk, t2), 0);
    cr_assert_eq(sio_pickle_mark_tuple(&pk, t3), 0);
    cr_assert_eq(sio_pickle_mark_tuple(&pk, t5), 0);
    struct sio_buf out;
    encode_ok(&pk, &out);

    /* the restricted decoder gives the same value, tuples as tuples */
    struct sio_pickle back;
    char err[256];
    cr_assert_eq(sio_pickle_decode(out.data, out.len, NULL, &back, err, sizeof err), 0, "%s", err);
    cr_assert(sio_json_equal(back.value, v));
    json_t *bt = json_object_get(back.value, "tuples");
    for (size_t i = 0; i < 5; i++)
        cr_assert(sio_pickle_is_tuple(&back, json_array_get(bt, i)), "tuple %zu", i);
    cr_assert_not(sio_pickle_is_tuple(&back, json_object_get(back.value, "ints")));
    sio_pickle_clear(&back);

    /* and Python's pickle.loads */
    char want[4096];
    snprintf(want, sizeof want,
             "{'none': None, 't': True, 'f': False, 'ints': [0, 255, 256, 65535, 65536, -1, "
             "-2147483648, 2147483648, 9223372036854775807, -9223372036854775808, -129], "
             "'floats': [1.5, -0.25, 1e300], 's': 'h\\u00e9llo', 'long': '%.*s', "
             "'b': b'\\x00\\x01\\xff', 'bb': b'%.*s', 'el': [], 'ed': {}, "
             "'tuples': [(), (1,), ('a', None), (True, False, -1), (1, 2, 3, 4, 5)], "
             "'nest': {'a': [{'b': [7]}]}}",
             (int)sizeof big, big, (int)sizeof big, big);
    cr_assert(python_equal(out.data, out.len, want), "python read something else");
    sio_buf_clear(&out);
    sio_pickle_clear(&pk);
}

Test(pickle_write, refuses_what_neither_side_reads)
{
    struct sio_pickle pk = { .value = json_real(0) };
    struct sio_buf out = SIO_BUF_INIT;
    json_decref(pk.value);
    double inf = 1e308 * 10;
    pk.value = json_pack("{s:f}", "x", inf);
    if (pk.value) {     /* jansson may refuse the infinity itself */
        cr_assert_eq(sio_pickle_encode(&pk, &out), -EINVAL);
        cr_assert_eq(out.len, 0);
    }
    sio_pickle_clear(&pk);
    /* deeper than the decoder's limit */
    json_t *v = json_array();
    for (int i = 0; i < SIO_PICKLE_MAX_DEPTH + 2; i++)
        v = json_pack("[o]", v);
    pk.value = v;
    cr_assert_eq(sio_pickle_encode(&pk, &out), -EINVAL);
    cr_assert_eq(out.len, 0);
    sio_pickle_clear(&pk);
    sio_buf_clear(&out);
}

Test(pickle_write, py572_fixtures_written_again_are_equal_for_python)
{
    static const char *const names[] = {
        "py572_redis_emit_room.pickle", "py572_redis_emit_to_kwarg_ignored.pickle",
        "py572_redis_emit_tuple_bytes_skipsid.pickle", "py572_redis_disconnect.pickle",
        "py572_redis_close_room.pickle", "py572_redis_emit_with_callback.pickle",
        "py572_redis_callback.pickle",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t len;
        unsigned char *b = fixture(names[i], &len);
        struct sio_pickle pk;
        cr_assert_eq(sio_pickle_decode(b, len, NULL, &pk, NULL, 0), 0);
        struct sio_buf out;
        encode_ok(&pk, &out);
        /* python: pickle.loads(original) == pickle.loads(ours), types included */
        char a[] = "/tmp/sio-pk-a-XXXXXX", c[] = "/tmp/sio-pk-b-XXXXXX";
        int fa = mkstemp(a), fc = mkstemp(c);
        cr_assert(fa >= 0 && fc >= 0);
        cr_assert_eq(write(fa, b, len), (ssize_t)len);
        cr_assert_eq(write(fc, out.data, out.len), (ssize_t)out.len);
        close(fa);
        close(fc);
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import pickle, sys\n"
                 "x, y = (pickle.load(open(p, \"rb\")) for p in sys.argv[1:])\n"
                 "sys.exit(0 if x == y and repr(x) == repr(y) else 1)' %s %s", a, c);
        cr_assert_eq(system(cmd), 0, "%s differs for python", names[i]);
        unlink(a);
        unlink(c);
        sio_buf_clear(&out);
        sio_pickle_clear(&pk);
        free(b);
    }
}

/* ---- bus command -> python-socketio messages -> bus command ---- */

#define MAXMSG 8

struct msgs {
    struct sio_buf m[MAXMSG];
    size_t n;
};

static int keep(void *ud, const void *msg, size_t len)
{
    struct msgs *s = ud;
    cr_assert_lt(s->n, MAXMSG);
    sio_buf_init(&s->m[s->n]);
    cr_assert_eq(sio_buf_append(&s->m[s->n], msg, len), 0);
    s->n++;
    return 0;
}

static void msgs_clear(struct msgs *s)
{
    for (size_t i = 0; i < s->n; i++)
        sio_buf_clear(&s->m[i]);
    s->n = 0;
}

static void json_is(const struct sio_buf *b, const char *want)
{
    json_t *got = json_loadb((const char *)b->data, b->len, 0, NULL);
    json_t *w = json_loads(want, 0, NULL);
    cr_assert_not_null(got, "not JSON: %.*s", (int)b->len, b->data);
    cr_assert_not_null(w, "bad want %s", want);
    cr_assert(json_equal(got, w), "got %.*s, want %s", (int)b->len, b->data, want);
    json_decref(got);
    json_decref(w);
}

#define HID "0123456789abcdef0123456789abcdef"

Test(publish, emit_to_rooms_json_is_what_python_socketio_main_publishes)
{
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    struct sio_str rooms[] = { S("r1"), S("r2") }, xs[] = { S("sidX") };
    env.nsp = S("/jobs");
    env.data = S("[\"multi\",\"a\",1]");
    env.rooms = rooms;
    env.nrooms = 2;
    env.except_sids = xs;
    env.nexcept_sids = 1;
    struct msgs s = { 0 };
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_JSON, keep, &s, NULL, 0), 1);
    /* tests/fixtures/interop/pymain_redis_emit_multiargs_rooms_skipsid.json */
    size_t len;
    unsigned char *fx = fixture("pymain_redis_emit_multiargs_rooms_skipsid.json", &len);
    fx[len] = 0;
    json_is(&s.m[0], (const char *)fx);
    free(fx);
    msgs_clear(&s);
}

Test(publish, emit_binary_json_and_pickle)
{
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    struct sio_env_bin bins[] = { { (const uint8_t *)"\x00\x01\xff", 3 } };
    env.nsp = S("/");
    env.data = S("[\"bin\",{\"blob\":{\"_placeholder\":true,\"num\":0}}]");
    env.bins = bins;
    env.nbins = 1;
    struct msgs s = { 0 };
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_JSON, keep, &s, NULL, 0), 1);
    size_t len;
    unsigned char *fx = fixture("pymain_redis_emit_binary.json", &len);
    fx[len] = 0;
    json_is(&s.m[0], (const char *)fx);
    free(fx);
    msgs_clear(&s);

    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_PICKLE, keep, &s, NULL, 0), 1);
    cr_assert(python_equal(s.m[0].data, s.m[0].len,
                           "{'method': 'emit', 'event': 'bin', 'data': {'blob': b'\\x00\\x01\\xff'}, "
                           "'namespace': '/', 'room': None, 'skip_sid': None, 'callback': None, "
                           "'host_id': '" HID "'}"));
    msgs_clear(&s);

    /* several arguments: a tuple, as 5.7.2 sends them; none: None */
    env.bins = NULL;
    env.nbins = 0;
    env.data = S("[\"multi\",\"a\",1,[2]]");
    struct sio_str sid = S("someSid");
    env.sid = sid;
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_PICKLE, keep, &s, NULL, 0), 1);
    cr_assert(python_equal(s.m[0].data, s.m[0].len,
                           "{'method': 'emit', 'event': 'multi', 'data': ('a', 1, [2]), "
                           "'namespace': '/', 'room': 'someSid', 'skip_sid': None, "
                           "'callback': None, 'host_id': '" HID "'}"));
    msgs_clear(&s);
    env.data = S("[\"none\"]");
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_PICKLE, keep, &s, NULL, 0), 1);
    cr_assert(python_equal(s.m[0].data, s.m[0].len,
                           "{'method': 'emit', 'event': 'none', 'data': None, "
                           "'namespace': '/', 'room': 'someSid', 'skip_sid': None, "
                           "'callback': None, 'host_id': '" HID "'}"));
    msgs_clear(&s);
}

Test(publish, room_commands)
{
    struct sio_env env;
    struct msgs s = { 0 };
    struct sio_str r2[] = { S("roomA"), S("roomB") };
    sio_env_init(&env, SIO_ENV_JOIN);
    env.nsp = S("/jobs");
    env.sid = S("someSid");
    env.rooms2 = r2;
    env.nrooms2 = 2;
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_JSON, keep, &s, NULL, 0), 2);
    size_t len;
    unsigned char *fx = fixture("pymain_redis_enter_room.json", &len);
    fx[len] = 0;
    json_is(&s.m[0], (const char *)fx);
    free(fx);
    json_is(&s.m[1], "{\"method\":\"enter_room\",\"sid\":\"someSid\",\"room\":\"roomB\","
                     "\"namespace\":\"/jobs\",\"host_id\":\"" HID "\"}");
    msgs_clear(&s);

    sio_env_init(&env, SIO_ENV_CLOSE_ROOM);
    env.nsp = S("/jobs");
    env.rooms = r2;
    env.nrooms = 1;
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_JSON, keep, &s, NULL, 0), 1);
    fx = fixture("pymain_redis_close_room.json", &len);
    fx[len] = 0;
    json_is(&s.m[0], (const char *)fx);
    free(fx);
    msgs_clear(&s);

    sio_env_init(&env, SIO_ENV_DISCONNECT_CMD);
    env.nsp = S("/jobs");
    env.sid = S("someSid");
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_PICKLE, keep, &s, NULL, 0), 1);
    cr_assert(python_equal(s.m[0].data, s.m[0].len,
                           "{'method': 'disconnect', 'sid': 'someSid', 'namespace': '/jobs', "
                           "'host_id': '" HID "'}"));
    msgs_clear(&s);

    /* brought in from a broker: never published again */
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = S("/");
    env.data = S("[\"x\"]");
    env.origin = S("");
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_JSON, keep, &s, NULL, 0), 0);
    /* kinds that are not broadcasts */
    sio_env_init(&env, SIO_ENV_TAKEOVER);
    env.nsp = S("/");
    cr_assert_eq(sio_bridge_py_publish(&env, HID, SIO_BRIDGE_JSON, keep, &s, NULL, 0), 0);
    cr_assert_eq(s.n, 0);
}

/* commands captured on the receiving side */
#include "capture.h"

static bool str_eq(const struct sio_str *a, const struct sio_str *b)
{
    return (!a->p && !b->p) ||
           (a->p && b->p && a->len == b->len && memcmp(a->p, b->p, a->len) == 0);
}

static bool list_eq(const struct sio_str *a, size_t na, const struct sio_str *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!str_eq(&a[i], &b[i]))
            return false;
    return true;
}

/* publish env in fmt, read it back as another deployment: the same command */
static void round_trip(const struct sio_env *env, enum sio_bridge_format fmt)
{
    struct msgs s = { 0 };
    struct cmds c = { 0 };
    cr_assert_eq(sio_bridge_py_publish(env, HID, fmt, keep, &s, NULL, 0), 1);
    bool own = true;
    char err[256];
    int rc = sio_bridge_py_message_rx(s.m[0].data, s.m[0].len, "another-host", &own, capture,
                                      &c, err, sizeof err);
    cr_assert_eq(rc, 1, "%d %s", rc, err);
    cr_assert_not(own);
    const struct sio_env *e = &c.env[0];
    cr_assert_eq(e->kind, env->kind);
    cr_assert(str_eq(&e->nsp, &env->nsp));
    const struct sio_str hid = S(HID);
    cr_assert(str_eq(&e->origin, &hid), "org is the sender's host id");
    if (env->kind == SIO_ENV_EMIT && env->sid.p) {  /* room = sid */
        cr_assert(list_eq(e->rooms, e->nrooms, &env->sid, 1));
    } else {
        cr_assert(str_eq(&e->sid, &env->sid));
        cr_assert(list_eq(e->rooms, e->nrooms, env->rooms, env->nrooms));
    }
    cr_assert(list_eq(e->except_rooms, e->nexcept_rooms, env->except_rooms, env->nexcept_rooms));
    cr_assert(list_eq(e->except_sids, e->nexcept_sids, env->except_sids, env->nexcept_sids));
    cr_assert(list_eq(e->rooms2, e->nrooms2, env->rooms2, env->nrooms2));
    cr_assert_eq(e->close_conn, env->close_conn);
    if (env->kind == SIO_ENV_EMIT) {
        json_t *a = json_loadb(e->data.p, e->data.len, 0, NULL);
        json_t *b = json_loadb(env->data.p, env->data.len, 0, NULL);
        cr_assert(json_equal(a, b), "data %.*s", (int)e->data.len, e->data.p);
        json_decref(a);
        json_decref(b);
        cr_assert_eq(e->nbins, env->nbins);
        for (size_t i = 0; i < e->nbins; i++)
            cr_assert(e->bins[i].len == env->bins[i].len &&
                      memcmp(e->bins[i].p, env->bins[i].p, e->bins[i].len) == 0);
    }
    /* and as the deployment that published it: skipped */
    cmds_clear(&c);
    rc = sio_bridge_py_message_rx(s.m[0].data, s.m[0].len, HID, &own, capture, &c, NULL, 0);
    cr_assert_eq(rc, 0);
    cr_assert(own);
    cr_assert_eq(c.n, 0);
    msgs_clear(&s);
}

Test(publish, every_command_round_trips_between_deployments)
{
    struct sio_str rooms[] = { S("r1"), S("r2") }, xr[] = { S("muted") }, xs[] = { S("s1"), S("s2") };
    struct sio_str r2[] = { S("new") };
    struct sio_env_bin bins[] = { { (const uint8_t *)"\x00\xff", 2 } };
    for (int f = 0; f < 2; f++) {
        enum sio_bridge_format fmt = f ? SIO_BRIDGE_PICKLE : SIO_BRIDGE_JSON;
        struct sio_env env;
        sio_env_init(&env, SIO_ENV_EMIT);
        env.nsp = S("/chat");
        env.data = S("[\"ev\",{\"k\":[1,2.5,null,true,\"s\"]}]");
        round_trip(&env, fmt);                     /* the whole namespace */
        env.rooms = rooms;
        env.nrooms = 2;
        env.except_rooms = xr;
        env.nexcept_rooms = 1;
        env.except_sids = xs;
        env.nexcept_sids = 2;
        round_trip(&env, fmt);                     /* rooms, minus rooms and sids */
        env.data = S("[\"ev\",{\"_placeholder\":true,\"num\":0},\"x\"]");
        env.bins = bins;
        env.nbins = 1;
        round_trip(&env, fmt);                     /* binary */
        sio_env_init(&env, SIO_ENV_EMIT);
        env.nsp = S("/");
        env.sid = S("abc");
        env.data = S("[\"one\",[1]]");
        round_trip(&env, fmt);                     /* one sid */

        sio_env_init(&env, SIO_ENV_JOIN);
        env.nsp = S("/");
        env.rooms = rooms;
        env.nrooms = 1;
        env.except_rooms = xr;
        env.nexcept_rooms = 1;
        env.rooms2 = r2;
        env.nrooms2 = 1;
        round_trip(&env, fmt);                     /* sockets of r1 but muted join "new" */
        env.kind = SIO_ENV_LEAVE;
        round_trip(&env, fmt);
        sio_env_init(&env, SIO_ENV_LEAVE);
        env.nsp = S("/");
        env.sid = S("abc");
        env.rooms2 = r2;
        env.nrooms2 = 1;
        round_trip(&env, fmt);                     /* leave_room of one sid */
        sio_env_init(&env, SIO_ENV_DISCONNECT_CMD);
        env.nsp = S("/");
        env.rooms = rooms;
        env.nrooms = 2;
        env.close_conn = true;
        round_trip(&env, fmt);                     /* disconnect the sockets of r1, r2 */
        sio_env_init(&env, SIO_ENV_DISCONNECT_CMD);
        env.nsp = S("/");
        env.sid = S("abc");
        env.close_conn = true;
        round_trip(&env, fmt);
        sio_env_init(&env, SIO_ENV_CLOSE_ROOM);
        env.nsp = S("/");
        env.rooms = rooms;
        env.nrooms = 1;
        round_trip(&env, fmt);
    }
}

Test(publish, callbacks_are_not_taken_for_our_own)
{
    /* a "callback" addressed to this host is still ignored, not counted as own */
    size_t len;
    unsigned char *b = fixture("pymain_redis_callback.json", &len);
    struct cmds c = { 0 };
    bool own = true;
    cr_assert_eq(sio_bridge_py_message_rx(b, len, "fedcba9876543210fedcba9876543210", &own,
                                          capture, &c, NULL, 0), 0);
    cr_assert_not(own);
    cr_assert_eq(c.n, 0);
    free(b);
}

/* ---- the publisher: bounded, never blocking the hub ---- */

struct slow {
    atomic_int release;     /* the "broker" answers once this is 1 */
    atomic_int sent;
};

static int slow_connect(void *ud, char *err, size_t errlen)
{
    (void)ud; (void)err; (void)errlen;
    return 0;
}

static int slow_send(void *ud, const void *msg, size_t len)
{
    struct slow *s = ud;
    (void)msg; (void)len;
    while (!atomic_load(&s->release))
        usleep(1000);
    atomic_fetch_add(&s->sent, 1);
    return 0;
}

static void slow_disconnect(void *ud)
{
    (void)ud;
}

Test(publisher, a_stuck_broker_fills_the_bounded_queue_and_drops_are_counted, .timeout = 60)
{
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    cr_assert_eq(zmq_bind(pub, "inproc://test-publisher"), 0);
    static const struct sio_bridge_pub_ops ops = { slow_connect, slow_send, slow_disconnect };
    struct slow s = { 0 };
    const struct sio_bridge_pub_cfg cfg = { .commands_endpoint = "inproc://test-publisher",
        .host_id = HID, .queue_max = 10, .name = "test" };
    sio_bridge_pub *p;
    char err[256];
    cr_assert_eq(sio__bridge_pub_start(&p, ctx, &cfg, &ops, &s, err, sizeof err), 0, "%s", err);

    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = S("/");
    env.data = S("[\"x\"]");
    struct sio_buf enc = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(&env, &enc), 0);
    struct sio_bridge_pub_stats st;
    /* the SUB joins asynchronously: send until the publisher has seen some */
    unsigned sent = 0;
    do {
        cr_assert_eq(zmq_send(pub, "*", 1, ZMQ_SNDMORE | ZMQ_DONTWAIT), 1);
        cr_assert_eq(zmq_send(pub, enc.data, enc.len, ZMQ_DONTWAIT), (int)enc.len);
        sent++;
        usleep(1000);
        sio__bridge_pub_get_stats(p, &st);
    } while (st.seen < 50);
    /* the broker is stuck: one message at most is with it, 10 in the queue,
     * the rest dropped and counted; the PUB above never waited (DONTWAIT) */
    cr_assert_geq(st.dropped_full, st.seen - 11);
    cr_assert_eq(st.published, 0);
    atomic_store(&s.release, 1);
    do {
        usleep(1000);
        sio__bridge_pub_get_stats(p, &st);
    } while (st.published + st.dropped_full < st.seen);
    cr_assert_leq(st.published, 11);
    cr_assert_eq((uint64_t)atomic_load(&s.sent), st.published);
    sio__bridge_pub_stop(&p);
    cr_assert_null(p);
    sio_buf_clear(&enc);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    (void)sent;
}

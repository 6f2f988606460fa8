/* test-bridge.c: python-socketio and socket.io emitter messages, byte for
 * byte as the real emitters published them (fixtures), turned into bus
 * commands (adapters/bridge_msg.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sio/error.h>
#include "adapters/bridge.h"
#include "base/buf.h"
#include "proto/bus.h"
#include "fixture.h"

#define MAXOUT 4

struct sink {
    struct sio_buf raw[MAXOUT];
    struct sio_env env[MAXOUT];
    size_t n;
};

static int capture(void *ud, const char *topic, const struct sio_env *env)
{
    struct sink *s = ud;
    cr_assert_str_eq(topic, SIO_BUS_ALL_TOPIC);
    cr_assert_lt(s->n, MAXOUT);
    sio_buf_init(&s->raw[s->n]);
    cr_assert_eq(sio_env_encode(env, &s->raw[s->n]), 0);
    s->n++;
    return 0;
}

/* decode what was captured (checks it is a valid envelope too) */
static void finish(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        cr_assert_eq(sio_env_decode(s->raw[i].data, s->raw[i].len, &s->env[i]), 0);
}

static void sink_clear(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++) {
        sio_env_clear(&s->env[i]);
        sio_buf_clear(&s->raw[i]);
    }
    s->n = 0;
}

static void eq(const struct sio_str *s, const char *want)
{
    cr_assert_not_null(s->p, "absent, want '%s'", want);
    cr_assert(s->len == strlen(want) && memcmp(s->p, want, s->len) == 0,
              "got '%.*s', want '%s'", (int)s->len, s->p, want);
}

static void list_eq(const struct sio_str *a, size_t n, const char *const *want)
{
    size_t k = 0;
    while (want && want[k])
        k++;
    cr_assert_eq(n, k, "list of %zu, want %zu", n, k);
    for (size_t i = 0; i < k; i++)
        eq(&a[i], want[i]);
}

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })

static int py(const char *name, struct sink *s)
{
    size_t len;
    unsigned char *b = fixture(name, &len);
    char err[256];
    int rc = sio_bridge_py_message(b, len, capture, s, err, sizeof err);
    free(b);
    finish(s);
    return rc;
}

static int node(const char *name, const char *channel, struct sink *s)
{
    size_t len;
    unsigned char *b = fixture(name, &len);
    char err[256];
    int rc = sio_bridge_node_message(channel, strlen(channel), b, len, capture, s,
                                     err, sizeof err);
    cr_assert_geq(rc, 0, "%s: %d %s", name, rc, err);
    free(b);
    finish(s);
    return rc;
}

Test(bridge_py, py572_emit_room)
{
    struct sink s = { 0 };
    cr_assert_eq(py("py572_redis_emit_room.pickle", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_EMIT);
    eq(&s.env[0].nsp, "/jobs");
    eq(&s.env[0].data, "[\"job_done\",{\"id\":7}]");
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("someSid"));
    cr_assert_eq(s.env[0].nexcept_sids, 0);
    cr_assert_eq(s.env[0].id, -1);
    sink_clear(&s);
}

Test(bridge_py, py572_to_kwarg_broadcasts)
{
    struct sink s = { 0 };
    cr_assert_eq(py("py572_redis_emit_to_kwarg_ignored.pickle", &s), 1);
    cr_assert_eq(s.env[0].nrooms, 0);
    eq(&s.env[0].nsp, "/jobs");
    sink_clear(&s);
}

Test(bridge_py, py572_tuple_is_several_arguments_bytes_binary_skip_sid)
{
    struct sink s = { 0 };
    cr_assert_eq(py("py572_redis_emit_tuple_bytes_skipsid.pickle", &s), 1);
    eq(&s.env[0].data, "[\"multi\",\"a\",1,{\"_placeholder\":true,\"num\":0}]");
    cr_assert_eq(s.env[0].nbins, 1);
    cr_assert_eq(s.env[0].bins[0].len, 3);
    cr_assert_eq(memcmp(s.env[0].bins[0].p, "\x00\x01\xff", 3), 0);
    list_eq(s.env[0].except_sids, s.env[0].nexcept_sids, L("sidX"));
    sink_clear(&s);
}

Test(bridge_py, py572_disconnect_close_room_callback)
{
    struct sink s = { 0 };
    cr_assert_eq(py("py572_redis_disconnect.pickle", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_DISCONNECT_CMD);
    eq(&s.env[0].sid, "someSid");
    eq(&s.env[0].nsp, "/jobs");
    cr_assert_not(s.env[0].close_conn);
    sink_clear(&s);
    cr_assert_eq(py("py572_redis_close_room.pickle", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_CLOSE_ROOM);
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("roomA"));
    sink_clear(&s);
    cr_assert_eq(py("py572_redis_emit_with_callback.pickle", &s), 1);
    eq(&s.env[0].data, "[\"ask\",{\"q\":1}]");
    cr_assert_eq(s.env[0].id, -1);     /* callbacks are not supported */
    sink_clear(&s);
    cr_assert_eq(py("py572_redis_callback.pickle", &s), 0);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(py("py572_kafka_emit.pickle", &s), 1);
    sink_clear(&s);
}

Test(bridge_py, kombu_envelope_over_redis)
{
    struct sink s = { 0 };
    cr_assert_eq(py("py572_kombu_over_redis_emit.json", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_EMIT);
    eq(&s.env[0].nsp, "/jobs");
    eq(&s.env[0].data, "[\"job_done\",{\"id\":7}]");
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("someSid"));
    sink_clear(&s);
    /* one level only: a kombu envelope inside a kombu envelope is refused */
    static const char inner[] = "{\"body\":\"eyJib2R5IjoiZUE9PSIsInByb3BlcnRpZXMiOnsiYm9keV9lbmNvZGluZyI6ImJhc2U2NCJ9fQ==\","
                                "\"properties\":{\"body_encoding\":\"base64\"}}";
    cr_assert_lt(sio_bridge_py_message(inner, sizeof inner - 1, capture, &s, NULL, 0), 0);
    cr_assert_eq(s.n, 0);
}

Test(bridge_py, json_emit_forms)
{
    struct sink s = { 0 };
    cr_assert_eq(py("pymain_redis_emit_to.json", &s), 1);
    eq(&s.env[0].data, "[\"job_done\",{\"id\":7}]");
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("someSid"));
    sink_clear(&s);
    cr_assert_eq(py("pymain_redis_emit_multiargs_rooms_skipsid.json", &s), 1);
    eq(&s.env[0].data, "[\"multi\",\"a\",1]");
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("r1", "r2"));
    list_eq(s.env[0].except_sids, s.env[0].nexcept_sids, L("sidX"));
    sink_clear(&s);
    cr_assert_eq(py("pymain_redis_emit_binary.json", &s), 1);
    eq(&s.env[0].nsp, "/");
    eq(&s.env[0].data, "[\"bin\",{\"blob\":{\"_placeholder\":true,\"num\":0}}]");
    cr_assert_eq(s.env[0].nbins, 1);
    cr_assert_eq(memcmp(s.env[0].bins[0].p, "\x00\x01\xff", 3), 0);
    sink_clear(&s);
    cr_assert_eq(py("pymain_redis_emit_with_callback.json", &s), 1);
    sink_clear(&s);
    cr_assert_eq(py("pymain_redis_callback.json", &s), 0);
}

Test(bridge_py, json_rooms_and_disconnect)
{
    struct sink s = { 0 };
    cr_assert_eq(py("pymain_redis_enter_room.json", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_JOIN);
    eq(&s.env[0].sid, "someSid");
    list_eq(s.env[0].rooms2, s.env[0].nrooms2, L("roomA"));
    sink_clear(&s);
    cr_assert_eq(py("pymain_redis_leave_room.json", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_LEAVE);
    list_eq(s.env[0].rooms2, s.env[0].nrooms2, L("roomA"));
    sink_clear(&s);
    cr_assert_eq(py("pymain_redis_close_room.json", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_CLOSE_ROOM);
    sink_clear(&s);
    cr_assert_eq(py("pymain_redis_disconnect.json", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_DISCONNECT_CMD);
    eq(&s.env[0].sid, "someSid");
    sink_clear(&s);
}

Test(bridge_py, rejected)
{
    static const char *const bad[] = {
        "", "garbage", "[1,2]", "{\"method\":\"emit\"}", "{\"method\":\"disconnect\"}",
        "{\"method\":\"emit\",\"event\":\"x\",\"room\":5}",
        "{\"method\":\"emit\",\"event\":\"x\",\"binary\":true,\"data\":[[{\"_placeholder\":true,\"num\":1}],\"AA==\"]}",
        "{\"method\":\"emit\",\"event\":\"x\",\"binary\":true,\"data\":[[1],\"!!\"]}",
        "{\"method\":\"emit\",\"event\":\"x\",\"namespace\":3}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct sink s = { 0 };
        char err[256];
        cr_assert_lt(sio_bridge_py_message(bad[i], strlen(bad[i]), capture, &s, err, sizeof err),
                     0, "accepted %s", bad[i]);
        cr_assert_eq(s.n, 0);
    }
    /* the malicious pickle of test-pickle.c: refused with -EPERM, nothing sent */
    static const unsigned char evil[] =
        "\x80\x04\x95\x36\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94"
        "\x93\x94\x8c\x1btouch /tmp/sio-pickle-pwned\x94\x85\x94R\x94.";
    struct sink s = { 0 };
    cr_assert_eq(sio_bridge_py_message(evil, sizeof evil - 1, capture, &s, NULL, 0), -EPERM);
    cr_assert_eq(s.n, 0);
}

Test(bridge_node, emitter_emits)
{
    struct sink s = { 0 };
    cr_assert_eq(node("node_emitter_emit_to_one_room.msgpack", "socket.io#/jobs#someSid#", &s), 1);
    eq(&s.env[0].nsp, "/jobs");
    eq(&s.env[0].data, "[\"job_done\",{\"id\":7}]");
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("someSid"));
    sink_clear(&s);
    cr_assert_eq(node("node_emitter_emit_broadcast_multiargs.msgpack", "socket.io#/#", &s), 1);
    eq(&s.env[0].nsp, "/");
    eq(&s.env[0].data, "[\"hello\",\"world\",1,null,true,1.5]");
    cr_assert_eq(s.env[0].nrooms, 0);
    sink_clear(&s);
    cr_assert_eq(node("node_emitter_emit_rooms_except_flags_binary.msgpack", "socket.io#/#", &s), 1);
    eq(&s.env[0].data, "[\"multi\",{\"_placeholder\":true,\"num\":0},{\"nested\":[1,2]}]");
    cr_assert_eq(s.env[0].nbins, 1);
    cr_assert_eq(memcmp(s.env[0].bins[0].p, "\x00\x01\xff", 3), 0);
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("r1", "r2"));
    list_eq(s.env[0].except_rooms, s.env[0].nexcept_rooms, L("r3"));
    sink_clear(&s);
}

Test(bridge_node, emitter_requests)
{
    struct sink s = { 0 };
    cr_assert_eq(node("node_emitter_sockets_join.json", "socket.io-request#/jobs#", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_JOIN);
    eq(&s.env[0].nsp, "/jobs");
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("roomA"));
    list_eq(s.env[0].rooms2, s.env[0].nrooms2, L("roomB", "roomC"));
    sink_clear(&s);
    cr_assert_eq(node("node_emitter_sockets_leave.json", "socket.io-request#/jobs#", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_LEAVE);
    cr_assert_eq(s.env[0].nrooms, 0);
    list_eq(s.env[0].rooms2, s.env[0].nrooms2, L("roomB"));
    sink_clear(&s);
    cr_assert_eq(node("node_emitter_disconnect_sockets.json", "socket.io-request#/jobs#", &s), 1);
    cr_assert_eq(s.env[0].kind, SIO_ENV_DISCONNECT_CMD);
    cr_assert(s.env[0].close_conn);
    list_eq(s.env[0].except_rooms, s.env[0].nexcept_rooms, L("vip"));
    sink_clear(&s);
    cr_assert_eq(node("node_emitter_server_side_emit.json", "socket.io-request#/jobs#", &s), 0);
}

Test(bridge_node, classic_adapter_messages)
{
    struct sink s = { 0 };
    cr_assert_eq(node("node_adapter_01_broadcast.msgpack", "socket.io#/#", &s), 1);
    eq(&s.env[0].data, "[\"hello\",1]");
    sink_clear(&s);
    cr_assert_eq(node("node_adapter_02_broadcast_one_room_except.msgpack", "socket.io#/#room1#", &s), 1);
    list_eq(s.env[0].rooms, s.env[0].nrooms, L("room1"));
    list_eq(s.env[0].except_rooms, s.env[0].nexcept_rooms, L("room2"));
    sink_clear(&s);
    cr_assert_eq(node("node_adapter_03_broadcast_binary.msgpack", "socket.io#/#", &s), 1);
    cr_assert_geq(s.env[0].nbins, 1);
    sink_clear(&s);
    cr_assert_eq(node("node_adapter_04_fetch_sockets_request.json", "socket.io-request#/#", &s), 0);
    cr_assert_eq(node("node_adapter_06_sockets_join.json", "socket.io-request#/#", &s), 1);
    list_eq(s.env[0].rooms2, s.env[0].nrooms2, L("room9"));
    sink_clear(&s);
    cr_assert_eq(node("node_adapter_07_server_side_emit.json", "socket.io-request#/#", &s), 0);
    cr_assert_eq(node("node_adapter_08_server_side_emit_ack_request.json", "socket.io-request#/#", &s), 0);
    /* a broadcast with acks: delivered without them */
    cr_assert_eq(node("node_adapter_10_broadcast_with_ack_request.msgpack", "socket.io-request#/#", &s), 1);
    eq(&s.env[0].data, "[\"withack\",3]");
    cr_assert_eq(s.env[0].id, -1);
    sink_clear(&s);
    cr_assert_eq(node("node_adapter_12_disconnect_sockets.json", "socket.io-request#/#", &s), 1);
    cr_assert(s.env[0].close_conn);
    sink_clear(&s);
}

Test(bridge_node, rejected)
{
    static const struct { const char *ch, *b; size_t len; } bad[] = {
        { "socket.io#/#", "", 0 },
        { "socket.io#/#", "\xc1", 1 },
        { "socket.io#/#", "\xdd\xff\xff\xff\xff", 5 },          /* array of 2^32-1 */
        { "socket.io#/#", "\x93\xa1x\x80\x80", 5 },              /* packet without type */
        { "socket.io#/#", "\x93\xa1x\x81\xa4type\x02\x80", 10 },  /* no data */
        { "socket.io#/#", "\x92\xa1x\x81\xa4type\x02" "extra", 14 }, /* bytes after */
        { "other#/#", "{}", 2 },
        { "socket.io#", "{}", 2 },
        { "socket.io-request#/#", "{bad", 4 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct sink s = { 0 };
        cr_assert_lt(sio_bridge_node_message(bad[i].ch, strlen(bad[i].ch), bad[i].b, bad[i].len,
                                             capture, &s, NULL, 0), 0, "case %zu", i);
        cr_assert_eq(s.n, 0);
    }
}

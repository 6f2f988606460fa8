/* test-node.c: sio's broadcasts in the format of @socket.io/redis-adapter
 * 8.3.0 (adapters/publish_node.c), checked byte for byte against what the
 * real adapter published (fixtures node_adapter_*), and read back by
 * another deployment (adapters/bridge_msg.c) but not by the one that
 * published them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "adapters/bridge.h"
#include "base/buf.h"
#include "proto/bus.h"
#include "fixture.h"

#define MAXMSG 4
#define S(s) ((struct sio_str){ (s), sizeof(s) - 1 })
#define UID "H9m3OP"    /* the uid of the adapter that made the fixtures */

struct msgs {
    struct sio_buf m[MAXMSG];
    char ch[MAXMSG][128];
    size_t n;
};

static int keep(void *ud, const char *channel, const void *msg, size_t len)
{
    struct msgs *s = ud;
    cr_assert_lt(s->n, MAXMSG);
    cr_assert_lt(strlen(channel), sizeof s->ch[0]);
    strcpy(s->ch[s->n], channel);
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

static void same_as_fixture(const struct sio_buf *b, const char *name)
{
    size_t len;
    unsigned char *want = fixture(name, &len);
    cr_assert(b->len == len && memcmp(b->data, want, len) == 0,
              "%s: %zu bytes written, the adapter wrote %zu", name, b->len, len);
    free(want);
}

static void publish_one(const struct sio_env *env, struct msgs *s)
{
    char err[256] = "";
    int rc = sio_bridge_node_publish(env, UID, keep, s, err, sizeof err);
    cr_assert_eq(rc, 1, "%d %s", rc, err);
    cr_assert_eq(s->n, 1);
}

Test(node_publish, broadcast_is_byte_for_byte_the_adapters)
{
    struct msgs s = { 0 };
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = S("/");
    env.data = S("[\"hello\",1]");
    publish_one(&env, &s);
    cr_assert_str_eq(s.ch[0], "socket.io#/#");
    same_as_fixture(&s.m[0], "node_adapter_01_broadcast.msgpack");
    msgs_clear(&s);
}

Test(node_publish, one_room_except_goes_to_the_rooms_channel)
{
    struct msgs s = { 0 };
    struct sio_str rooms[] = { S("room1") }, xr[] = { S("room2") };
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = S("/");
    env.data = S("[\"ev\",{\"a\":1}]");
    env.rooms = rooms;
    env.nrooms = 1;
    env.except_rooms = xr;
    env.nexcept_rooms = 1;
    publish_one(&env, &s);
    cr_assert_str_eq(s.ch[0], "socket.io#/#room1#");
    same_as_fixture(&s.m[0], "node_adapter_02_broadcast_one_room_except.msgpack");
    msgs_clear(&s);
}

Test(node_publish, binary_argument_is_msgpack_bin)
{
    struct msgs s = { 0 };
    struct sio_env_bin bin = { (const uint8_t *)"\x00\x01\xff", 3 };
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = S("/");
    env.data = S("[\"bin\",{\"_placeholder\":true,\"num\":0}]");
    env.bins = &bin;
    env.nbins = 1;
    publish_one(&env, &s);
    same_as_fixture(&s.m[0], "node_adapter_03_broadcast_binary.msgpack");
    msgs_clear(&s);
}

Test(node_publish, room_requests_are_the_adapters_json)
{
    struct msgs s = { 0 };
    struct sio_str rooms[] = { S("room1") }, r2[] = { S("room9") };
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_JOIN);
    env.nsp = S("/");
    env.rooms = rooms;
    env.nrooms = 1;
    env.rooms2 = r2;
    env.nrooms2 = 1;
    publish_one(&env, &s);
    cr_assert_str_eq(s.ch[0], "socket.io-request#/#");
    same_as_fixture(&s.m[0], "node_adapter_06_sockets_join.json");
    msgs_clear(&s);

    sio_env_init(&env, SIO_ENV_DISCONNECT_CMD);
    env.nsp = S("/");
    env.close_conn = true;
    publish_one(&env, &s);
    same_as_fixture(&s.m[0], "node_adapter_12_disconnect_sockets.json");
    msgs_clear(&s);

    /* close_room: the sockets of each room leave it */
    struct sio_str cr[] = { S("a"), S("b") };
    sio_env_init(&env, SIO_ENV_CLOSE_ROOM);
    env.nsp = S("/jobs");
    env.rooms = cr;
    env.nrooms = 2;
    cr_assert_eq(sio_bridge_node_publish(&env, UID, keep, &s, NULL, 0), 2);
    cr_assert_str_eq(s.ch[1], "socket.io-request#/jobs#");
    cr_assert_eq(s.m[1].len, strlen("{\"uid\":\"H9m3OP\",\"type\":3,\"opts\":{\"rooms\":[\"b\"],"
                                    "\"except\":[]},\"rooms\":[\"b\"]}"));
    cr_assert(memcmp(s.m[1].data, "{\"uid\":\"H9m3OP\",\"type\":3,\"opts\":{\"rooms\":[\"b\"],"
                                  "\"except\":[]},\"rooms\":[\"b\"]}", s.m[1].len) == 0);
    msgs_clear(&s);
}

Test(node_publish, nothing_that_came_from_a_broker)
{
    struct msgs s = { 0 };
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = S("/");
    env.data = S("[\"hello\",1]");
    env.origin = S("");
    cr_assert_eq(sio_bridge_node_publish(&env, UID, keep, &s, NULL, 0), 0);
    sio_env_init(&env, SIO_ENV_TAKEOVER);
    env.nsp = S("/");
    cr_assert_eq(sio_bridge_node_publish(&env, UID, keep, &s, NULL, 0), 0);
    cr_assert_eq(s.n, 0);
}

/* ---- read back ---- */
#include "capture.h"

static bool seq(const struct sio_str *a, const char *b)
{
    return a->p && a->len == strlen(b) && memcmp(a->p, b, a->len) == 0;
}

Test(node_publish, another_deployment_reads_it_the_publisher_skips_it)
{
    struct msgs s = { 0 };
    struct cmds c = { 0 };
    struct sio_str xs[] = { S("sidX") };
    struct sio_env_bin bin = { (const uint8_t *)"\x00\x01\xff", 3 };
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = S("/chat");
    env.sid = S("someSid");
    env.data = S("[\"m\",\"x\",-5,1.5,null,true,{\"b\":{\"_placeholder\":true,\"num\":0}}]");
    env.bins = &bin;
    env.nbins = 1;
    env.except_sids = xs;
    env.nexcept_sids = 1;
    publish_one(&env, &s);
    cr_assert_str_eq(s.ch[0], "socket.io#/chat#someSid#");
    bool own = true;
    char err[256] = "";
    int rc = sio_bridge_node_message_rx(s.ch[0], strlen(s.ch[0]), s.m[0].data, s.m[0].len,
                                        "another", &own, capture, &c, err, sizeof err);
    cr_assert_eq(rc, 1, "%d %s", rc, err);
    cr_assert_not(own);
    const struct sio_env *e = &c.env[0];
    cr_assert_eq(e->kind, SIO_ENV_EMIT);
    cr_assert(seq(&e->nsp, "/chat"));
    cr_assert(e->nrooms == 1 && seq(&e->rooms[0], "someSid"));
    cr_assert(e->nexcept_rooms == 1 && seq(&e->except_rooms[0], "sidX"));
    cr_assert(seq(&e->origin, ""), "received commands are never published again");
    cr_assert(seq(&e->data, "[\"m\",\"x\",-5,1.5,null,true,{\"b\":{\"_placeholder\":true,\"num\":0}}]"),
              "%.*s", (int)e->data.len, e->data.p);
    cr_assert(e->nbins == 1 && e->bins[0].len == 3 && memcmp(e->bins[0].p, "\x00\x01\xff", 3) == 0);
    cmds_clear(&c);

    rc = sio_bridge_node_message_rx(s.ch[0], strlen(s.ch[0]), s.m[0].data, s.m[0].len, UID,
                                    &own, capture, &c, NULL, 0);
    cr_assert_eq(rc, 0);
    cr_assert(own);
    cr_assert_eq(c.n, 0);
    msgs_clear(&s);

    /* a request of ours is skipped too */
    struct sio_str r2[] = { S("r") };
    sio_env_init(&env, SIO_ENV_LEAVE);
    env.nsp = S("/");
    env.sid = S("someSid");
    env.rooms2 = r2;
    env.nrooms2 = 1;
    publish_one(&env, &s);
    rc = sio_bridge_node_message_rx(s.ch[0], strlen(s.ch[0]), s.m[0].data, s.m[0].len, UID,
                                    &own, capture, &c, NULL, 0);
    cr_assert(rc == 0 && own && c.n == 0);
    rc = sio_bridge_node_message_rx(s.ch[0], strlen(s.ch[0]), s.m[0].data, s.m[0].len, "x",
                                    &own, capture, &c, NULL, 0);
    cr_assert_eq(rc, 1);
    cr_assert_eq(c.env[0].kind, SIO_ENV_LEAVE);
    cr_assert(c.env[0].nrooms == 1 && seq(&c.env[0].rooms[0], "someSid"));
    cr_assert(c.env[0].nrooms2 == 1 && seq(&c.env[0].rooms2[0], "r"));
    cmds_clear(&c);
    msgs_clear(&s);
}

Test(node_publish, answers_between_js_servers_are_not_ours)
{
    struct cmds c = { 0 };
    static const char *const names[] = {
        "node_adapter_05_fetch_sockets_response.json",
        "node_adapter_09_server_side_emit_ack_response.json",
        "node_adapter_11_broadcast_client_count_response.json",
    };
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        unsigned char *b = fixture(names[i], &len);
        cr_assert_eq(sio_bridge_node_message_rx("socket.io-response#/#", 21, b, len, "me",
                                                NULL, capture, &c, NULL, 0), 0);
        free(b);
    }
    cr_assert_eq(c.n, 0);
}

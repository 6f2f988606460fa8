/* test-features.c: the issue-4 host API (plugins/demo4) behind a real hub
 * and the fake gateway: emits from handlers, timers and tasks, the rooms
 * mirror, server-to-client acks (answer, timeout, disconnect), sessions. */
#include "fakegw.h"
#include <sio/error.h>

static struct fgw f;
static char *path;

static void setup(void)
{
    path = fgw_plugin_path("demo4/demo4.so");
    fgw_start(&f, (const char *const[]){ path }, 1, 2);
}

static void teardown(void)
{
    fgw_stop(&f);
    free(path);
}

TestSuite(features, .init = setup, .fini = teardown, .timeout = 20);

static void connect(const char *nsp, const char *sid)
{
    fgw_send_kind(&f, SIO_ENV_CONNECT, nsp, sid, -1, NULL);
    struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_OK);
    cr_assert(fgw_str_eq(e->sid, sid));
}

/* Send an event with ack id and expect the ACK's data. */
static void ask(const char *nsp, const char *sid, int64_t id, const char *data, const char *want)
{
    fgw_send_kind(&f, SIO_ENV_EVENT, nsp, sid, id, data);
    struct sio_env *e = fgw_expect(&f, SIO_ENV_ACK);
    cr_assert_eq(e->id, id);
    fgw_assert_json(e, want);
}

Test(features, emit_opts_become_envelope_selection)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 1,
                  "[\"emit\",{\"to\":[\"r1\",\"r2\"],\"except\":[\"rx\"],\"skip\":\"b\","
                  "\"self\":false,\"event\":\"x\",\"args\":[1,\"two\"]}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert_str_eq(f.topic, "*");
    cr_assert_eq(e->nrooms, 2);
    cr_assert(fgw_str_eq(e->rooms[1], "r2"));
    cr_assert_eq(e->nexcept_rooms, 1);
    cr_assert_eq(e->nexcept_sids, 2);
    cr_assert(fgw_str_eq(e->except_sids[0], "b"));
    cr_assert(fgw_str_eq(e->except_sids[1], "a"));
    fgw_assert_json(e, "[\"x\",1,\"two\"]");
    fgw_expect(&f, SIO_ENV_ACK);
}

Test(features, timer_and_task_emit)
{
    connect("/", "a");
    ask("/", "a", 1, "[\"timer\",{\"ms\":50,\"to\":\"r\",\"event\":\"t\",\"args\":[1]}]", "[true]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert(fgw_str_eq(e->rooms[0], "r"));
    fgw_assert_json(e, "[\"t\",1]");
    ask("/", "a", 2, "[\"task\",{\"ms\":20,\"event\":\"k\",\"args\":[2]}]", "[true]");
    e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert_eq(e->nrooms, 0);
    fgw_assert_json(e, "[\"k\",2]");
}

Test(features, rooms_mirror)
{
    connect("/", "a");
    connect("/", "b");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 1, "[\"join_sid\",\"b\",\"club\"]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_JOIN);
    cr_assert_str_eq(f.topic, "*");
    cr_assert(fgw_str_eq(e->sid, "b"));
    cr_assert(fgw_str_eq(e->rooms2[0], "club"));
    e = fgw_expect(&f, SIO_ENV_ACK);
    fgw_assert_json(e, "[[\"b\",\"club\"]]");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 2, "[\"close\",\"club\"]");
    fgw_expect(&f, SIO_ENV_CLOSE_ROOM);
    fgw_expect(&f, SIO_ENV_ACK);
    ask("/", "a", 3, "[\"rooms\",\"b\"]", "[[\"b\"]]");
    fgw_send_kind(&f, SIO_ENV_DISCONNECT, "/", "b", -1, NULL);
    /* b's DISCONNECT may be handled by another shard than a's query: ask
     * until the mirror has forgotten b (bounded) */
    bool gone = false;
    for (int64_t id = 4; id < 204 && !gone; id++) {
        fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", id, "[\"rooms\",\"b\"]");
        struct sio_env *ack = fgw_expect(&f, SIO_ENV_ACK);
        json_t *got = fgw_json(ack);
        gone = json_is_null(json_array_get(got, 0));
        json_decref(got);
        if (!gone)
            usleep(10000);
    }
    cr_assert(gone, "rooms(b) still answered 2 s after b disconnected");
}

/* the emit with an id, for the call tests */
static int64_t expect_call(const char *sid)
{
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert(fgw_str_eq(e->sid, sid));
    cr_assert_geq(e->id, 0);
    int64_t id = e->id;
    fgw_expect(&f, SIO_ENV_ACK);
    return id;
}

static void expect_result(const char *want)
{
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    fgw_assert_json(e, want);
}

Test(features, call_answered_timeout_and_closed)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 1, "[\"call\",{\"event\":\"q\",\"timeout\":2000}]");
    int64_t id = expect_call("a");
    fgw_send_kind(&f, SIO_ENV_CLIENT_ACK, "/", "a", id, "[\"yes\"]");
    expect_result("[\"call_result\",\"ok\",[\"yes\"]]");
    /* a second ack with the same id is ignored */
    fgw_send_kind(&f, SIO_ENV_CLIENT_ACK, "/", "a", id, "[\"again\"]");
    cr_assert_not(fgw_recv(&f, 200));

    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 2, "[\"call\",{\"event\":\"q\",\"timeout\":100}]");
    id = expect_call("a");
    expect_result("[\"call_result\",\"timeout\"]");
    fgw_send_kind(&f, SIO_ENV_CLIENT_ACK, "/", "a", id, "[\"late\"]");
    cr_assert_not(fgw_recv(&f, 200));

    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 3, "[\"call\",{\"event\":\"q\",\"timeout\":0}]");
    expect_call("a");
    fgw_send_kind(&f, SIO_ENV_DISCONNECT, "/", "a", -1, NULL);
    expect_result("[\"call_result\",\"closed\"]");
}

Test(features, session_saved_and_restored)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 1, "[\"sess_set\",{\"u\":1}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_SESSION);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(e->session, "{\"u\":1}"));
    fgw_expect(&f, SIO_ENV_ACK);
    /* a CONNECT carrying the blob (worker takeover) restores it; the
     * socket is adopted without on_connect; the CONNECT_OK only tells the
     * gateway that the socket has a worker again (it ends the hold) */
    struct sio_env c;
    sio_env_init(&c, SIO_ENV_CONNECT);
    c.gw = S(FGW_ID);
    c.nsp = S("/");
    c.sid = S("b");
    c.session = S("{\"u\":2}");
    fgw_send(&f, &c);
    e = fgw_expect(&f, SIO_ENV_CONNECT_OK);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(e->sid, "b"));
    ask("/", "b", 1, "[\"sess_get\"]", "[{\"u\":2}]");
}

Test(features, disconnect_other_sid_and_reason)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 1, "[\"kick\",{\"sid\":\"b\",\"whole\":true}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_DISCONNECT_CMD);
    cr_assert_str_eq(f.topic, "*");
    cr_assert(fgw_str_eq(e->sid, "b"));
    cr_assert(e->close_conn);
    fgw_expect(&f, SIO_ENV_ACK);
}

Test(features, catch_all_namespace_and_pattern)
{
    connect("/zzz", "a");
    ask("/zzz", "a", 1, "[\"hi\",1]", "[[\"any\",\"hi\",\"/zzz\",1]]");
    connect("/rooms/k", "b");
    ask("/rooms/k", "b", 1, "[\"hey\"]", "[[\"any\",\"hey\",\"/rooms/k\"]]");
}

/* ---- issue 18: deferred acks, sio_session_of, refusal with message and data ---- */

Test(features, deferred_ack_from_a_timer_is_sent_once)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 5,
                  "[\"defer\",{\"via\":\"timer\",\"ms\":50,\"args\":[\"late\",2]}]");
    /* the handler returned without an ack: the first ACK is the timer's */
    struct sio_env *e = fgw_expect(&f, SIO_ENV_ACK);
    cr_assert_eq(e->id, 5);
    cr_assert_str_eq(f.topic, FGW_ID);
    fgw_assert_json(e, "[\"late\",2]");
    /* the timer's second answer was refused, and sent nothing */
    e = fgw_expect(&f, SIO_ENV_EMIT);
    char want[64];
    snprintf(want, sizeof want, "[\"defer_again\",%d]", SIO_ERR_ANSWERED);
    fgw_assert_json(e, want);
    cr_assert_not(fgw_recv(&f, 200));
}

Test(features, deferred_ack_from_a_task)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 6,
                  "[\"defer\",{\"via\":\"task\",\"ms\":30,\"args\":[{\"k\":true}]}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_ACK);
    cr_assert_eq(e->id, 6);
    fgw_assert_json(e, "[{\"k\":true}]");
}

Test(features, deferred_ack_answered_by_an_ack_callback_with_the_session)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 1, "[\"sess_set\",{\"user\":\"ann\"}]");
    fgw_expect(&f, SIO_ENV_SESSION);
    fgw_expect(&f, SIO_ENV_ACK);
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 7, "[\"defer_call\",{\"event\":\"q\"}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert_geq(e->id, 0);
    int64_t id = e->id;
    fgw_send_kind(&f, SIO_ENV_CLIENT_ACK, "/", "a", id, "[\"yes\"]");
    e = fgw_expect(&f, SIO_ENV_ACK);
    cr_assert_eq(e->id, 7);
    fgw_assert_json(e, "[[\"yes\"],{\"user\":\"ann\"}]");
}

Test(features, unanswered_token_is_released_on_disconnect)
{
    connect("/", "a");
    connect("/", "b");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 3, "[\"defer_keep\"]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    json_t *got = fgw_json(e);
    json_int_t token = json_integer_value(json_array_get(got, 1));
    json_decref(got);
    cr_assert_gt(token, 0);
    fgw_send_kind(&f, SIO_ENV_DISCONNECT, "/", "a", -1, NULL);
    /* b may be on the other shard: wait until a's on_disconnect ran (its
     * tokens are released before it) by asking b for a's reason */
    bool gone = false;
    for (int64_t i = 100; i < 2100 && !gone; i++) {
        fgw_send_kind(&f, SIO_ENV_EVENT, "/", "b", i, "[\"reason\",\"a\"]");
        struct sio_env *r = fgw_expect(&f, SIO_ENV_ACK);
        cr_assert_eq(r->id, i);
        json_t *got_r = fgw_json(r);
        gone = json_is_string(json_array_get(got_r, 0));
        json_decref(got_r);
    }
    cr_assert(gone, "a's disconnect never reached its handler");
    char data[128], want[32];
    snprintf(data, sizeof data, "[\"answer\",{\"token\":%lld,\"args\":[1]}]", (long long)token);
    snprintf(want, sizeof want, "[%d]", SIO_ERR_ANSWERED);
    ask("/", "b", 1, data, want);
    /* a token never given */
    snprintf(want, sizeof want, "[%d]", -EINVAL);
    ask("/", "b", 2, "[\"answer\",{\"token\":987654321}]", want);
    /* no ACK ever went to a */
    cr_assert_not(fgw_recv(&f, 200));
}

Test(features, ack_callback_gets_the_sockets_ctx)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 5, "[\"ask_ctx\",{\"event\":\"q\"}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    int64_t id = e->id;
    cr_assert_geq(id, 0);
    fgw_expect(&f, SIO_ENV_ACK);    /* ask_ctx's own ack: true */
    fgw_send_kind(&f, SIO_ENV_CLIENT_ACK, "/", "a", id, "[\"yes\",2]");
    /* in the callback: the session saved through the ctx, then an emit back */
    e = fgw_expect(&f, SIO_ENV_SESSION);
    cr_assert(fgw_str_eq(e->sid, "a"));
    cr_assert(strstr(e->session.p ? e->session.p : "", "answered"), "%.*s", (int)e->session.len,
              e->session.p);
    e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert_eq(e->nrooms, 1);
    cr_assert(fgw_str_eq(e->rooms[0], "a"), "emitted back to the acking socket");
    fgw_assert_json(e, "[\"ack_ctx\",\"yes\",2]");
}

Test(features, ack_callback_for_a_timeout_has_no_ctx)
{
    connect("/", "a");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a", 6, "[\"ask_ctx\",{\"event\":\"q\",\"timeout\":50}]");
    fgw_expect(&f, SIO_ENV_EMIT);
    fgw_expect(&f, SIO_ENV_ACK);
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);    /* no answer: the timeout */
    fgw_assert_json(e, "[\"ack_ctx\",\"no ctx\"]");
}

Test(features, session_of_a_socket_without_one_is_empty)
{
    connect("/", "b");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "b", 4, "[\"defer_call\",{\"event\":\"q\"}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    fgw_send_kind(&f, SIO_ENV_CLIENT_ACK, "/", "b", e->id, "[]");
    e = fgw_expect(&f, SIO_ENV_ACK);
    cr_assert_eq(e->id, 4);
    fgw_assert_json(e, "[[],{}]");
}

Test(features, refusal_with_message_and_data)
{
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "a", -1,
                  "{\"refuse\":\"bad token\",\"data\":{\"code\":7,\"retry\":false}}");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);
    cr_assert(fgw_str_eq(e->sid, "a"));
    json_error_t jerr;
    json_t *got = json_loadb(e->data.p, e->data.len, 0, &jerr);
    json_t *want = json_pack("{s:s,s:{s:i,s:b}}", "message", "bad token", "data",
                             "code", 7, "retry", 0);
    cr_assert(json_equal(got, want), "got %.*s", (int)e->data.len, e->data.p);
    json_decref(got);
    json_decref(want);
    /* without data: no "data" key */
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "b", -1, "{\"refuse\":\"go away\"}");
    e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);
    cr_assert(fgw_str_eq(e->data, "{\"message\":\"go away\"}"), "got %.*s",
              (int)e->data.len, e->data.p);
}

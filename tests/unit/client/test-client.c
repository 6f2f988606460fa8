/* test-client.c: the event-driven client (client/client.c, engine.c)
 * against the real npm socket.io 4.x server (tests/interop/ref-server.js,
 * peer-server.js) and a fake server for bad input. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sio/client.h>
#include "peer.h"

#define REF "tests/interop/ref-server.js"
#define EXTRA "tests/unit/client/peer-server.js"

struct ctx {
    struct event_base *base;
    sio_client *c;
    struct event *tick;
    int connects, connect_errors, disconnects, acks, events;
    char reason[64];
    char last_event[64];
    char last_nsp[64];
    json_t *last_args;      /* of the last event */
    json_t *ack_args;
    int ack_status;
    json_t *err_data;
};

static void tick_cb(evutil_socket_t fd, short w, void *a) { }

static void ctx_init(struct ctx *x, const struct sio_client_opts *o)
{
    memset(x, 0, sizeof *x);
    if (getenv("SIO_TEST_LOG"))
        sio_log_set_level(sio_log_level_parse(getenv("SIO_TEST_LOG")));
    x->base = event_base_new();
    cr_assert(x->base);
    x->tick = event_new(x->base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = { 0, 10000 };
    event_add(x->tick, &tv);
    cr_assert_eq(sio_client_new(&x->c, x->base, o), 0);
}

static void ctx_fini(struct ctx *x)
{
    sio_client_destroy(&x->c);
    event_free(x->tick);
    event_base_free(x->base);
    json_decref(x->last_args);
    json_decref(x->ack_args);
    json_decref(x->err_data);
}

static long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000L + tv.tv_usec / 1000;
}

#define RUN_UNTIL(x, cond, ms) do { \
        long end_ = now_ms() + (ms); \
        while (!(cond) && now_ms() < end_) \
            event_base_loop((x)->base, EVLOOP_ONCE); \
    } while (0)

static void on_connect(sio_client *c, const char *nsp, void *ud)
{
    struct ctx *x = ud;
    x->connects++;
    snprintf(x->last_nsp, sizeof x->last_nsp, "%s", nsp);
}

static void on_connect_error(sio_client *c, const char *nsp, json_t *data, void *ud)
{
    struct ctx *x = ud;
    x->connect_errors++;
    json_decref(x->err_data);
    x->err_data = json_incref(data);
}

static void on_disconnect(sio_client *c, const char *nsp, const char *reason, void *ud)
{
    struct ctx *x = ud;
    x->disconnects++;
    snprintf(x->reason, sizeof x->reason, "%s", reason);
}

static json_t *on_event(sio_client *c, const char *nsp, const char *event, json_t *args,
                        bool want_ack, void *ud)
{
    struct ctx *x = ud;
    x->events++;
    snprintf(x->last_event, sizeof x->last_event, "%s", event);
    snprintf(x->last_nsp, sizeof x->last_nsp, "%s", nsp);
    json_decref(x->last_args);
    x->last_args = json_incref(args);
    if (want_ack)
        return json_pack("[s,i]", "answer", 42);
    return NULL;
}

static void on_ack(sio_client *c, int status, json_t *args, void *ud)
{
    struct ctx *x = ud;
    x->acks++;
    x->ack_status = status;
    json_decref(x->ack_args);
    x->ack_args = args ? json_incref(args) : NULL;
}

static void watch(struct ctx *x, const char *nsp)
{
    struct sio_client_namespace h = { .nsp = nsp, .on_connect = on_connect,
        .on_connect_error = on_connect_error, .on_disconnect = on_disconnect, .ud = x };
    cr_assert_eq(sio_client_on_namespace(x->c, &h), 0);
}

static void basic(unsigned transports, bool expect_ws)
{
    if (!peer_available())
        cr_skip_test("node or tests/interop/node_modules missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.transports = transports;
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    sio_client_on(x.c, "/", "*", on_event, &x);
    json_t *auth = json_pack("{s:s}", "token", "abc");
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, auth), 0);
    json_decref(auth);
    RUN_UNTIL(&x, x.connects == 1 && x.events == 1, 5000);
    cr_assert_eq(x.connects, 1, "%s", sio_client_last_error(x.c));
    cr_assert_not_null(sio_client_sid(x.c, "/"));
    cr_assert_str_eq(x.last_event, "auth");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(x.last_args, 0),
                                                       "token")), "abc");
    if (expect_ws)
        RUN_UNTIL(&x, sio_client_transport(x.c) &&
                      strcmp(sio_client_transport(x.c), "websocket") == 0, 3000);
    cr_assert_str_eq(sio_client_transport(x.c), expect_ws ? "websocket" : "polling");

    json_t *args = json_pack("[s,i,{s:b}]", "hi", 7, "x", 1);
    cr_assert_eq(sio_client_emit(x.c, "/", "message", args), 0);
    RUN_UNTIL(&x, x.events == 2, 5000);
    cr_assert_str_eq(x.last_event, "message-back");
    cr_assert(json_equal(x.last_args, args));

    cr_assert_eq(sio_client_emit_ack(x.c, "/", "echo", args, on_ack, &x, 5000), 0);
    RUN_UNTIL(&x, x.acks == 1, 5000);
    cr_assert_eq(x.ack_status, 0);
    cr_assert(json_equal(x.ack_args, args));

    /* a burst, to cross polling POST batching and the upgrade */
    for (int i = 0; i < 20; i++)
        cr_assert_eq(sio_client_emit(x.c, "/", "burst", args), 0);
    RUN_UNTIL(&x, x.events == 22, 5000);
    cr_assert_eq(x.events, 22);
    json_decref(args);

    sio_client_disconnect(x.c);
    cr_assert_eq(x.disconnects, 1);
    cr_assert_str_eq(x.reason, SIO_REASON_CLIENT_DISCONNECT);
    long t0 = now_ms();
    cr_assert_eq(sio_client_wait(x.c), 0);
    cr_assert_lt(now_ms() - t0, 3000);
    ctx_fini(&x);
    peer_stop(&p);
}

/* A sticky-session load balancer (peer-server.js --sticky) sets cookies on
 * the handshake and refuses every later request without its cookie: the
 * client keeps them and sends them on each polling request and on the
 * WebSocket upgrade. */
static void sticky(unsigned transports, bool expect_ws, bool app_cookie)
{
    if (!peer_available())
        cr_skip_test("node or tests/interop/node_modules missing");
    struct peer p;
    const char *args[] = { "--sticky", NULL };
    cr_assert_eq(peer_start(&p, EXTRA, 0, args), 0);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.transports = transports;
    const char *hdrs[] = { "Cookie: app=1", NULL };
    if (app_cookie)
        o.headers = hdrs;
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects == 1, 5000);
    cr_assert_eq(x.connects, 1, "%s", sio_client_last_error(x.c));
    if (expect_ws)
        RUN_UNTIL(&x, sio_client_transport(x.c) &&
                      strcmp(sio_client_transport(x.c), "websocket") == 0, 3000);
    cr_assert_str_eq(sio_client_transport(x.c), expect_ws ? "websocket" : "polling");
    /* several polling round trips (or frames on the upgraded WebSocket) */
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(sio_client_emit_ack(x.c, "/", "cookies", NULL, on_ack, &x, 5000), 0);
        RUN_UNTIL(&x, x.acks == i, 5000);
        cr_assert_eq(x.acks, i, "%s", sio_client_last_error(x.c));
    }
    cr_assert_eq(x.ack_status, 0);
    /* the handshake request had none; the upgrade / the later polls had both */
    const char *sent = json_string_value(json_array_get(x.ack_args, 0));
    cr_assert_not_null(sent);
    cr_assert(strstr(sent, "lb=node-7") && strstr(sent, "other=x"), "Cookie: %s", sent);
    if (app_cookie)     /* one Cookie header: the application's value first */
        cr_assert(strncmp(sent, "app=1; ", 7) == 0, "Cookie: %s", sent);
    cr_assert_eq(x.disconnects, 0, "%s", x.reason);
    ctx_fini(&x);
    peer_stop(&p);
}

Test(client, sticky_cookies_polling, .timeout = 30) { sticky(SIO_TRANSPORT_POLLING, false, false); }
Test(client, sticky_cookies_upgrade, .timeout = 30) { sticky(SIO_TRANSPORT_DEFAULT, true, false); }
Test(client, sticky_cookies_with_app_cookie, .timeout = 30)
{
    sticky(SIO_TRANSPORT_DEFAULT, true, true);
}

Test(client, polling, .timeout = 30) { basic(SIO_TRANSPORT_POLLING, false); }
Test(client, websocket, .timeout = 30) { basic(SIO_TRANSPORT_WEBSOCKET, true); }
Test(client, upgrade, .timeout = 30) { basic(SIO_TRANSPORT_DEFAULT, true); }

static void binary(unsigned transports)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.transports = transports;
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    sio_client_on(x.c, "/", "bin", on_event, &x);
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects == 1, 5000);
    cr_assert_eq(x.connects, 1);
    uint8_t raw[300];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)i;
    json_t *args = json_pack("[o,{s:o,s:i},s]", sio_binary_new(raw, sizeof raw), "inner",
                             sio_binary_new("\0\x1e\xff", 3), "n", 1, "text");
    cr_assert_eq(sio_client_emit(x.c, "/", "bin", args), 0);
    RUN_UNTIL(&x, x.events == 1, 5000);
    cr_assert_eq(x.events, 1);
    const void *d;
    size_t len;
    cr_assert(sio_binary_get(json_array_get(x.last_args, 0), &d, &len));
    cr_assert_eq(len, sizeof raw);
    cr_assert_eq(memcmp(d, raw, len), 0);
    cr_assert(sio_binary_get(json_object_get(json_array_get(x.last_args, 1), "inner"), &d, &len));
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(d, "\0\x1e\xff", 3), 0);
    cr_assert_str_eq(json_string_value(json_array_get(x.last_args, 2)), "text");
    /* binary ack */
    cr_assert_eq(sio_client_emit_ack(x.c, "/", "bin", args, on_ack, &x, 5000), 0);
    RUN_UNTIL(&x, x.acks == 1, 5000);
    cr_assert_eq(x.ack_status, 0);
    cr_assert(sio_binary_get(json_array_get(x.ack_args, 0), &d, &len));
    cr_assert_eq(len, sizeof raw);
    json_decref(args);
    sio_client_disconnect(x.c);
    sio_client_wait(x.c);
    ctx_fini(&x);
    peer_stop(&p);
}

Test(client, binary_polling, .timeout = 30) { binary(SIO_TRANSPORT_POLLING); }
Test(client, binary_websocket, .timeout = 30) { binary(SIO_TRANSPORT_WEBSOCKET); }

Test(client, two_namespaces_and_catchall, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct ctx x;
    ctx_init(&x, NULL);
    watch(&x, "/");
    watch(&x, "/custom");
    sio_client_on(x.c, "*", "*", on_event, &x);      /* catch-all nsp and event */
    const char *nss[] = { "/", "/custom", NULL };
    cr_assert_eq(sio_client_connect(x.c, p.url, nss, NULL), 0);
    RUN_UNTIL(&x, x.connects == 2 && x.events == 2, 5000);
    cr_assert_eq(x.connects, 2);
    cr_assert(sio_client_connected(x.c, "/custom"));
    cr_assert_str_neq(sio_client_sid(x.c, "/"), sio_client_sid(x.c, "/custom"));
    json_t *args = json_pack("[s]", "to-custom");
    cr_assert_eq(sio_client_emit(x.c, "/custom", "hello", args), 0);
    RUN_UNTIL(&x, x.events == 3, 5000);
    cr_assert_str_eq(x.last_nsp, "/custom");
    cr_assert_str_eq(x.last_event, "hello");
    cr_assert(json_equal(x.last_args, args));
    json_decref(args);
    sio_client_disconnect(x.c);
    cr_assert_eq(x.disconnects, 2);
    sio_client_wait(x.c);
    ctx_fini(&x);
    peer_stop(&p);
}

Test(client, refused_with_data, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct ctx x;
    ctx_init(&x, NULL);
    watch(&x, "/");
    json_t *auth = json_pack("{s:{s:i}}", "refuse", "code", 42);
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, auth), 0);
    json_decref(auth);
    RUN_UNTIL(&x, x.connect_errors == 1, 5000);
    cr_assert_eq(x.connect_errors, 1);
    cr_assert_eq(x.connects, 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(x.err_data, "data"),
                                                    "code")), 42);
    long t0 = now_ms();
    cr_assert_eq(sio_client_wait(x.c), 0);       /* gives up: no reconnection */
    cr_assert_lt(now_ms() - t0, 3000);
    ctx_fini(&x);
    peer_stop(&p);
}

Test(client, server_acks_and_disconnect, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, EXTRA, 0, NULL), 0);
    struct ctx x;
    ctx_init(&x, NULL);
    watch(&x, "/");
    sio_client_on(x.c, "/", "*", on_event, &x);
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects == 1, 5000);
    cr_assert_eq(x.connects, 1);
    json_t *args = json_pack("[i]", 5);
    sio_client_emit(x.c, "/", "ask-me", args);
    json_decref(args);
    /* "question" (handler returns ["answer", 42] as the ack), then "answer" */
    RUN_UNTIL(&x, x.events == 2, 5000);
    cr_assert_str_eq(x.last_event, "answer");
    json_t *want = json_pack("[s,i]", "answer", 42);
    cr_assert(json_equal(x.last_args, want));
    json_decref(want);
    sio_client_emit(x.c, "/", "disconnect-me", NULL);
    RUN_UNTIL(&x, x.disconnects == 1, 5000);
    cr_assert_str_eq(x.reason, SIO_REASON_SERVER_DISCONNECT);
    long t0 = now_ms();
    cr_assert_eq(sio_client_wait(x.c), 0);
    cr_assert_lt(now_ms() - t0, 3000);
    cr_assert_eq(x.connects, 1);            /* no reconnection */
    ctx_fini(&x);
    peer_stop(&p);
}

Test(client, ack_timeout, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct ctx x;
    ctx_init(&x, NULL);
    watch(&x, "/");
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects == 1, 5000);
    kill(p.pid, SIGSTOP);      /* nobody answers */
    cr_assert_eq(sio_client_emit_ack(x.c, "/", "echo", NULL, on_ack, &x, 300), 0);
    RUN_UNTIL(&x, x.acks == 1, 3000);
    cr_assert_eq(x.ack_status, SIO_ERR_TIMEOUT);
    kill(p.pid, SIGCONT);
    sio_client_disconnect(x.c);
    sio_client_wait(x.c);
    ctx_fini(&x);
    peer_stop(&p);
}

Test(client, ping_timeout, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    const char *args[] = { "--ping-interval", "300", "--ping-timeout", "200", NULL };
    cr_assert_eq(peer_start(&p, REF, 0, args), 0);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.reconnection = false;
    o.transports = SIO_TRANSPORT_WEBSOCKET;
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects == 1, 5000);
    /* pings are answered: still connected after several intervals */
    RUN_UNTIL(&x, false, 1200);
    cr_assert_eq(x.disconnects, 0);
    kill(p.pid, SIGSTOP);
    RUN_UNTIL(&x, x.disconnects == 1, 3000);
    cr_assert_eq(x.disconnects, 1);
    cr_assert_str_eq(x.reason, SIO_REASON_PING_TIMEOUT);
    cr_assert_eq(sio_client_wait(x.c), 0);
    ctx_fini(&x);
    peer_kill(&p);
}

static void reconnect(unsigned transports)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    unsigned port = p.port;
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.transports = transports;
    o.reconnection_delay_ms = 100;
    o.reconnection_delay_max_ms = 400;
    o.reconnection_attempts = 50;
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects == 1, 5000);
    cr_assert_eq(x.connects, 1);
    if (transports & SIO_TRANSPORT_WEBSOCKET)
        RUN_UNTIL(&x, sio_client_transport(x.c) &&
                      strcmp(sio_client_transport(x.c), "websocket") == 0, 3000);
    peer_kill(&p);
    RUN_UNTIL(&x, x.disconnects == 1, 5000);
    cr_assert_eq(x.disconnects, 1);
    cr_assert(strcmp(x.reason, SIO_REASON_TRANSPORT_CLOSE) == 0 ||
              strcmp(x.reason, SIO_REASON_TRANSPORT_ERROR) == 0, "reason %s", x.reason);
    RUN_UNTIL(&x, false, 500);      /* a failed attempt or two */
    cr_assert_eq(peer_start(&p, REF, port, NULL), 0);
    RUN_UNTIL(&x, x.connects == 2, 8000);
    cr_assert_eq(x.connects, 2, "%s", sio_client_last_error(x.c));
    cr_assert(sio_client_connected(x.c, "/"));
    sio_client_disconnect(x.c);
    sio_client_wait(x.c);
    ctx_fini(&x);
    peer_stop(&p);
}

Test(client, reconnect_websocket, .timeout = 40) { reconnect(SIO_TRANSPORT_DEFAULT); }
Test(client, reconnect_polling, .timeout = 40) { reconnect(SIO_TRANSPORT_POLLING); }

Test(client, connection_refused, .timeout = 20)
{
    struct peer p;
    unsigned port = 1;
    struct fake *f = fake_start((const char *const[]){ "", NULL }, &port);
    fake_stop(f);       /* a port nobody listens on any more */
    (void)p;
    struct ctx x;
    ctx_init(&x, NULL);
    watch(&x, "/");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    cr_assert_eq(sio_client_connect(x.c, url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connect_errors == 1, 5000);
    cr_assert_eq(x.connect_errors, 1);
    cr_assert_not_null(strstr(json_string_value(json_object_get(x.err_data, "message")),
                              "failed"));
    cr_assert_eq(sio_client_wait(x.c), 0);
    ctx_fini(&x);
}

static void bad_server(const char *const *resp, const char *expect)
{
    unsigned port;
    struct fake *f = fake_start(resp, &port);
    cr_assert_not_null(f);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.reconnection = false;
    o.transports = SIO_TRANSPORT_POLLING;
    o.max_payload = 1000;
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    cr_assert_eq(sio_client_connect(x.c, url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connect_errors + x.disconnects == 1, 5000);
    cr_assert_eq(x.connect_errors + x.disconnects, 1);
    cr_assert_not_null(strstr(sio_client_last_error(x.c), expect), "got: %s",
                       sio_client_last_error(x.c));
    cr_assert_eq(sio_client_wait(x.c), 0);
    ctx_fini(&x);
    fake_stop(f);
}

#define OPEN_PKT "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"
#define RESP(body) "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " \
    body "\r\n\r\n"

Test(client, bad_handshake, .timeout = 20)
{
    bad_server((const char *const[]){ RESP("5") "hello", NULL }, "unknown packet type");
    bad_server((const char *const[]){ RESP("2") "40", NULL }, "handshake");
}

Test(client, bad_http, .timeout = 20)
{
    bad_server((const char *const[]){ "garbage\r\n\r\n", NULL }, "HTTP");
}

Test(client, http_error_status, .timeout = 20)
{
    bad_server((const char *const[]){
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 29\r\n\r\n"
        "{\"code\":0,\"message\":\"nope\"}  ", NULL }, "400");
}

Test(client, bad_packet_after_open, .timeout = 20)
{
    char open[512];
    snprintf(open, sizeof open, RESP("%zu") "%s", strlen(OPEN_PKT), OPEN_PKT);
    bad_server((const char *const[]){ open, RESP("5") "42[1x", NULL },
               "bad packet");
}

Test(client, oversize_payload, .timeout = 20)
{
    static char big[3000];
    int n = snprintf(big, sizeof big, RESP("2000"));
    memset(big + n, 'x', 2000);
    big[n] = '4';
    bad_server((const char *const[]){ big, NULL }, "max_payload");
}

/* ---- issue 18: disconnect while connecting, giving up, several clients, tasks ---- */

static json_t *leave_on_event(sio_client *c, const char *nsp, const char *event, json_t *args,
                              bool want_ack, void *ud)
{
    struct ctx *x = ud;
    x->events++;
    sio_client_disconnect(c);
    return NULL;
}

/* The server's CONNECT reply is already on its way (here: in the same
 * polling payload, right after an event whose handler disconnects) when
 * the client disconnects: no on_connect, no reconnection. */
Test(client, disconnect_between_open_and_connect_reply, .timeout = 30)
{
    char open[512], pay[256];
    snprintf(open, sizeof open, RESP("%zu") "%s", strlen(OPEN_PKT), OPEN_PKT);
    const char *body = "42[\"hi\"]\x1e" "40{\"sid\":\"s1\"}";
    snprintf(pay, sizeof pay, RESP("%zu") "%s", strlen(body), body);
    unsigned port;
    struct fake *f = fake_start((const char *const[]){ open, pay, NULL }, &port);
    cr_assert_not_null(f);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.transports = SIO_TRANSPORT_POLLING;
    o.reconnection_delay_ms = 10;
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    cr_assert_eq(sio_client_on(x.c, "/", "hi", leave_on_event, &x), 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    cr_assert_eq(sio_client_connect(x.c, url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.events == 1, 5000);
    cr_assert_eq(x.events, 1);
    cr_assert_eq(x.disconnects, 1);
    cr_assert_str_eq(x.reason, SIO_REASON_CLIENT_DISCONNECT);
    cr_assert_eq(sio_client_wait(x.c), 0);
    RUN_UNTIL(&x, x.connects > 0 || x.events > 1, 300);
    cr_assert_eq(x.connects, 0, "on_connect after sio_client_disconnect()");
    cr_assert_eq(x.events, 1, "reconnected after sio_client_disconnect()");
    cr_assert_not(sio_client_connected(x.c, "/"));
    ctx_fini(&x);
    fake_stop(f);
}

Test(client, disconnect_before_open_calls_on_disconnect, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct ctx x;
    ctx_init(&x, NULL);
    watch(&x, "/");
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    sio_client_disconnect(x.c);       /* no loop turn yet: nothing is open */
    cr_assert_eq(x.disconnects, 1);
    cr_assert_str_eq(x.reason, SIO_REASON_CLIENT_DISCONNECT);
    cr_assert_eq(sio_client_wait(x.c), 0);
    RUN_UNTIL(&x, x.connects > 0, 500);
    cr_assert_eq(x.connects, 0);
    ctx_fini(&x);
    peer_stop(&p);
}

static void gave_up(sio_client *c, unsigned attempts, void *ud)
{
    int *n = ud;
    n[0]++;
    n[1] = (int)attempts;
}

Test(client, reconnect_failed_callback, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.reconnection_delay_ms = 20;
    o.reconnection_delay_max_ms = 40;
    o.reconnection_attempts = 2;
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    int n[2] = { 0, 0 };
    sio_client_on_reconnect_failed(x.c, gave_up, n);
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects == 1, 5000);
    cr_assert_eq(x.connects, 1);
    peer_kill(&p);
    cr_assert_eq(sio_client_wait(x.c), 0);  /* returns once it gave up */
    cr_assert_eq(n[0], 1, "the give-up callback ran %d times", n[0]);
    cr_assert_eq(n[1], 2);
    cr_assert_eq(x.disconnects, 1);
    ctx_fini(&x);
}

static void set_flag(sio_client *c, void *ud) { *(int *)ud = 1; }
static void leave(sio_client *c, void *ud) { sio_client_disconnect(c); }

Test(client, wait_all_and_task_cancel, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct ctx x;
    ctx_init(&x, NULL);
    watch(&x, "/");
    sio_client *c2;
    cr_assert_eq(sio_client_new(&c2, x.base, NULL), 0);
    struct sio_client_namespace h = { .nsp = "/", .on_connect = on_connect,
        .on_disconnect = on_disconnect, .ud = &x };
    cr_assert_eq(sio_client_on_namespace(c2, &h), 0);
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    cr_assert_eq(sio_client_connect(c2, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects == 2, 5000);
    cr_assert_eq(x.connects, 2);
    int flag = 0;
    int64_t t = sio_client_start_task(x.c, 50, set_flag, &flag);
    cr_assert_gt(t, 0);
    cr_assert_eq(sio_client_cancel_task(x.c, t), 0);
    cr_assert_eq(sio_client_cancel_task(x.c, t), -ENOENT);
    cr_assert_gt(sio_client_start_task(x.c, 100, leave, NULL), 0);
    cr_assert_gt(sio_client_start_task(c2, 300, leave, NULL), 0);
    sio_client *both[] = { x.c, c2 };
    cr_assert_eq(sio_client_wait_all(both, 2), 0);
    cr_assert_eq(x.disconnects, 2, "wait_all returned with a client still connected");
    cr_assert_not(sio_client_connected(c2, "/"));
    RUN_UNTIL(&x, flag, 200);
    cr_assert_eq(flag, 0, "a cancelled task ran");
    /* a task never run is freed by destroy (ASan) */
    cr_assert_gt(sio_client_start_task(c2, 60000, set_flag, &flag), 0);
    sio_client_destroy(&c2);
    ctx_fini(&x);
    peer_stop(&p);
}

/* Options of an older program (a smaller .size): the fields it does not
 * have take their defaults, whatever the bytes beyond say. */
Test(client, opts_size_limits_the_fields_read, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    cr_assert_eq(o.size, sizeof o);
    o.reconnection = false;
    o.connect_timeout_ms = 1000;     /* the server never answers a wrong path */
    o.path = "/not-socket.io/";
    o.size = offsetof(struct sio_client_opts, path);    /* path is beyond it */
    struct ctx x;
    ctx_init(&x, &o);
    watch(&x, "/");
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects + x.connect_errors == 1, 5000);
    cr_assert_eq(x.connects, 1, "the default path was not used: %s", sio_client_last_error(x.c));
    sio_client_disconnect(x.c);
    ctx_fini(&x);
    /* the same path within .size is used (and is wrong for this server) */
    o.size = sizeof o;
    ctx_init(&x, &o);
    watch(&x, "/");
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, NULL), 0);
    RUN_UNTIL(&x, x.connects + x.connect_errors == 1, 5000);
    cr_assert_eq(x.connect_errors, 1);
    ctx_fini(&x);
    peer_stop(&p);
}

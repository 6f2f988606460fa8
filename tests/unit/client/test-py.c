/* test-py.c: the event-driven and simple clients (client/) against
 * python-socketio (Debian python3-socketio 5.7 on aiohttp, /usr/bin/python3,
 * tests/unit/client/py-peer-server.py) over polling, WebSocket and upgrade:
 * events both ways, acks, binary, two namespaces, refusal with data,
 * server disconnect. python-socketio sends what its connect handler emits
 * before the CONNECT reply; the client copes. */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sio/client.h>
#include "peer.h"

#define PY "tests/unit/client/py-peer-server.py"

struct ctx {
    struct event_base *base;
    struct event *tick;
    sio_client *c;
    int connects, connect_errors, disconnects, events, acks;
    char reason[64], last_event[64], last_nsp[64];
    json_t *last_args, *ack_args, *err_data;
    int ack_status;
};

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

static void tick_cb(evutil_socket_t fd, short w, void *a) { }

static void on_connect(sio_client *c, const char *nsp, void *ud) { ((struct ctx *)ud)->connects++; }

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

static void start(struct ctx *x, struct peer *p, unsigned transports, const char *const *nss)
{
    if (!py_peer_available())
        cr_skip_test("/usr/bin/python3 with socketio + aiohttp missing");
    cr_assert_eq(peer_start(p, PY, 0, NULL), 0);
    memset(x, 0, sizeof *x);
    if (getenv("SIO_TEST_LOG"))
        sio_log_set_level(sio_log_level_parse(getenv("SIO_TEST_LOG")));
    x->base = event_base_new();
    x->tick = event_new(x->base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = { 0, 10000 };
    event_add(x->tick, &tv);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.transports = transports;
    o.reconnection = false;
    cr_assert_eq(sio_client_new(&x->c, x->base, &o), 0);
    for (size_t i = 0; nss[i]; i++) {
        struct sio_client_namespace h = { .nsp = nss[i], .on_connect = on_connect,
            .on_connect_error = on_connect_error, .on_disconnect = on_disconnect, .ud = x };
        cr_assert_eq(sio_client_on_namespace(x->c, &h), 0);
    }
    sio_client_on(x->c, "*", "*", on_event, x);
}

static void finish(struct ctx *x, struct peer *p)
{
    sio_client_disconnect(x->c);
    cr_assert_eq(sio_client_wait(x->c), 0);
    sio_client_destroy(&x->c);
    event_free(x->tick);
    event_base_free(x->base);
    json_decref(x->last_args);
    json_decref(x->ack_args);
    json_decref(x->err_data);
    peer_stop(p);
}

static void events(unsigned transports)
{
    struct ctx x;
    struct peer p;
    const char *nss[] = { "/", "/custom", NULL };
    start(&x, &p, transports, nss);
    json_t *auth = json_pack("{s:s}", "token", "py");
    cr_assert_eq(sio_client_connect(x.c, p.url, nss, auth), 0);
    json_decref(auth);
    /* "auth" on both namespaces, sent before the CONNECT replies */
    RUN_UNTIL(&x, x.connects == 2 && x.events == 2, 5000);
    cr_assert_eq(x.connects, 2, "%s", sio_client_last_error(x.c));
    cr_assert_eq(x.events, 2);
    cr_assert_str_eq(x.last_event, "auth");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(x.last_args, 0),
                                                       "token")), "py");
    cr_assert_str_neq(sio_client_sid(x.c, "/"), sio_client_sid(x.c, "/custom"));
    if (transports & SIO_TRANSPORT_WEBSOCKET)
        RUN_UNTIL(&x, strcmp(sio_client_transport(x.c), "websocket") == 0, 3000);
    cr_assert_str_eq(sio_client_transport(x.c),
                     transports & SIO_TRANSPORT_WEBSOCKET ? "websocket" : "polling");

    json_t *args = json_pack("[s,i,{s:b}]", "hi", 7, "x", 1);
    cr_assert_eq(sio_client_emit(x.c, "/", "message", args), 0);
    RUN_UNTIL(&x, x.events == 3, 5000);
    cr_assert_str_eq(x.last_event, "message-back");
    cr_assert(json_equal(x.last_args, args));

    cr_assert_eq(sio_client_emit(x.c, "/custom", "hello", args), 0);
    RUN_UNTIL(&x, x.events == 4, 5000);
    cr_assert_str_eq(x.last_nsp, "/custom");
    cr_assert_str_eq(x.last_event, "hello");
    cr_assert(json_equal(x.last_args, args));

    cr_assert_eq(sio_client_emit_ack(x.c, "/custom", "echo", args, on_ack, &x, 5000), 0);
    RUN_UNTIL(&x, x.acks == 1, 5000);
    cr_assert_eq(x.ack_status, 0);
    cr_assert(json_equal(x.ack_args, args));
    json_decref(args);

    /* binary both ways, event and ack */
    uint8_t raw[300];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)i;
    json_t *bargs = json_pack("[o,s]", sio_binary_new(raw, sizeof raw), "text");
    cr_assert_eq(sio_client_emit(x.c, "/", "bin", bargs), 0);
    RUN_UNTIL(&x, x.events == 5, 5000);
    cr_assert_str_eq(x.last_event, "bin");
    const void *d;
    size_t len;
    cr_assert(sio_binary_get(json_array_get(x.last_args, 0), &d, &len));
    cr_assert_eq(len, sizeof raw);
    cr_assert_eq(memcmp(d, raw, len), 0);
    cr_assert_str_eq(json_string_value(json_array_get(x.last_args, 1)), "text");
    cr_assert_eq(sio_client_emit_ack(x.c, "/", "echo", bargs, on_ack, &x, 5000), 0);
    RUN_UNTIL(&x, x.acks == 2, 5000);
    cr_assert_eq(x.ack_status, 0);
    cr_assert(sio_binary_get(json_array_get(x.ack_args, 0), &d, &len));
    cr_assert_eq(len, sizeof raw);
    cr_assert_eq(memcmp(d, raw, len), 0);
    json_decref(bargs);

    /* the server disconnects one namespace */
    cr_assert_eq(sio_client_emit(x.c, "/custom", "disconnect-me", NULL), 0);
    RUN_UNTIL(&x, x.disconnects == 1, 5000);
    cr_assert_str_eq(x.reason, SIO_REASON_SERVER_DISCONNECT);
    cr_assert(sio_client_connected(x.c, "/"));
    finish(&x, &p);
}

Test(py, events_polling, .timeout = 40) { events(SIO_TRANSPORT_POLLING); }
Test(py, events_websocket, .timeout = 40) { events(SIO_TRANSPORT_WEBSOCKET); }
Test(py, events_upgrade, .timeout = 40) { events(SIO_TRANSPORT_DEFAULT); }

static void refused(unsigned transports)
{
    struct ctx x;
    struct peer p;
    const char *nss[] = { "/", NULL };
    start(&x, &p, transports, nss);
    json_t *auth = json_pack("{s:{s:i}}", "refuse", "code", 42);
    cr_assert_eq(sio_client_connect(x.c, p.url, NULL, auth), 0);
    json_decref(auth);
    RUN_UNTIL(&x, x.connect_errors == 1, 5000);
    cr_assert_eq(x.connect_errors, 1);
    cr_assert_eq(x.connects, 0);
    cr_assert_str_eq(json_string_value(json_object_get(x.err_data, "message")), "refused");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(x.err_data, "data"),
                                                    "code")), 42);
    long t0 = now_ms();
    cr_assert_eq(sio_client_wait(x.c), 0);
    cr_assert_lt(now_ms() - t0, 3000);
    finish(&x, &p);
}

Test(py, refused_polling, .timeout = 30) { refused(SIO_TRANSPORT_POLLING); }
Test(py, refused_websocket, .timeout = 30) { refused(SIO_TRANSPORT_WEBSOCKET); }

static bool bin_args_ok(json_t *v)
{
    const void *d;
    size_t len;
    return json_array_size(v) == 2 && json_string_value(json_array_get(v, 0)) &&
           strcmp(json_string_value(json_array_get(v, 0)), "x") == 0 &&
           sio_binary_get(json_array_get(v, 1), &d, &len) && len == 2 &&
           memcmp(d, "\x01\x02", 2) == 0;
}

static void simple(unsigned transports, const char *nsp)
{
    if (!py_peer_available())
        cr_skip_test("/usr/bin/python3 with socketio + aiohttp missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, PY, 0, NULL), 0);
    json_t *auth = json_pack("{s:i}", "user", 3);
    struct sio_simple_opts o = { .nsp = nsp, .transports = transports, .auth = auth,
                                 .wait_timeout_ms = 5000 };
    sio_simple *s;
    cr_assert_eq(sio_simple_connect(&s, p.url, &o, NULL), 0);
    json_decref(auth);
    char *ev;
    json_t *args;
    cr_assert_eq(sio_simple_receive(s, &ev, &args, 5000), 0);
    cr_assert_str_eq(ev, "auth");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(args, 0), "user")), 3);
    free(ev);
    json_decref(args);
    json_t *a = json_pack("[s,o]", "x", sio_binary_new("\x01\x02", 2)), *res;
    cr_assert_eq(sio_simple_call(s, "echo", a, 5000, &res), 0);
    cr_assert(bin_args_ok(res));
    json_decref(res);
    cr_assert_eq(sio_simple_emit(s, "message", a), 0);
    cr_assert_eq(sio_simple_receive(s, &ev, &args, 5000), 0);
    cr_assert_str_eq(ev, "message-back");
    cr_assert(bin_args_ok(args));
    free(ev);
    json_decref(args);
    json_decref(a);
    if (transports == SIO_TRANSPORT_WEBSOCKET)
        cr_assert_str_eq(sio_simple_transport(s), "websocket");
    if (transports == SIO_TRANSPORT_POLLING)
        cr_assert_str_eq(sio_simple_transport(s), "polling");
    sio_simple_disconnect(&s);

    /* refusal with data */
    auth = json_pack("{s:s}", "refuse", "go away");
    o.auth = auth;
    json_t *err = NULL;
    cr_assert_eq(sio_simple_connect(&s, p.url, &o, &err), SIO_ERR_CLOSED);
    cr_assert_str_eq(json_string_value(json_object_get(err, "message")), "go away");
    json_decref(err);
    json_decref(auth);
    peer_stop(&p);
}

Test(py, simple_polling, .timeout = 30) { simple(SIO_TRANSPORT_POLLING, NULL); }
Test(py, simple_websocket, .timeout = 30) { simple(SIO_TRANSPORT_WEBSOCKET, "/custom"); }
Test(py, simple_upgrade, .timeout = 30) { simple(0, "/"); }

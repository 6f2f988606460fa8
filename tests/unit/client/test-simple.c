/* test-simple.c: the blocking client (client/simple.c) against the
 * npm socket.io 4.x server (tests/interop/ref-server.js). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sio/client.h>
#include "peer.h"

#define REF "tests/interop/ref-server.js"

static bool bin_args_ok(json_t *v)
{
    const void *d;
    size_t len;
    return json_array_size(v) == 2 &&
           strcmp(json_string_value(json_array_get(v, 0)), "x") == 0 &&
           sio_binary_get(json_array_get(v, 1), &d, &len) && len == 2 &&
           memcmp(d, "\x01\x02", 2) == 0;
}

static void simple(unsigned transports, const char *nsp)
{
    if (!peer_available())
        cr_skip_test("node or tests/interop/node_modules missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    json_t *auth = json_pack("{s:i}", "user", 3);
    struct sio_simple_opts o = { .nsp = nsp, .transports = transports, .auth = auth,
                                 .wait_timeout_ms = 5000 };
    sio_simple *s;
    cr_assert_eq(sio_simple_connect(&s, p.url, &o, NULL), 0);
    json_decref(auth);
    cr_assert_not_null(sio_simple_sid(s));
    cr_assert_not_null(sio_simple_transport(s));
    if (transports == SIO_TRANSPORT_WEBSOCKET)
        cr_assert_str_eq(sio_simple_transport(s), "websocket");
    if (transports == SIO_TRANSPORT_POLLING)
        cr_assert_str_eq(sio_simple_transport(s), "polling");

    char *ev;
    json_t *args;
    cr_assert_eq(sio_simple_receive(s, &ev, &args, 5000), 0);
    cr_assert_str_eq(ev, "auth");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(args, 0), "user")), 3);
    free(ev);
    json_decref(args);

    json_t *a = json_pack("[s,o]", "x", sio_binary_new("\x01\x02", 2));
    json_t *res;
    cr_assert_eq(sio_simple_call(s, "echo", a, 5000, &res), 0);
    /* json_equal() cannot compare binary values (their key starts with NUL) */
    cr_assert(bin_args_ok(res));
    json_decref(res);

    cr_assert_eq(sio_simple_emit(s, "message", a), 0);
    cr_assert_eq(sio_simple_receive(s, &ev, &args, 5000), 0);
    cr_assert_str_eq(ev, "message-back");
    cr_assert(bin_args_ok(args));
    free(ev);
    json_decref(args);
    json_decref(a);

    cr_assert_eq(sio_simple_receive(s, &ev, &args, 200), SIO_ERR_TIMEOUT);
    cr_assert_null(ev);
    sio_simple_disconnect(&s);
    cr_assert_null(s);
    peer_stop(&p);
}

Test(simple, polling, .timeout = 30) { simple(SIO_TRANSPORT_POLLING, NULL); }
Test(simple, websocket, .timeout = 30) { simple(SIO_TRANSPORT_WEBSOCKET, "/custom"); }
Test(simple, upgrade, .timeout = 30) { simple(0, "/"); }

Test(simple, call_timeout_and_refusal, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    cr_assert_eq(peer_start(&p, REF, 0, NULL), 0);
    json_t *auth = json_pack("{s:s}", "refuse", "go away");
    struct sio_simple_opts o = { .auth = auth };
    sio_simple *s;
    json_t *err = NULL;
    cr_assert_eq(sio_simple_connect(&s, p.url, &o, &err), SIO_ERR_CLOSED);
    cr_assert_null(s);
    cr_assert_str_eq(json_string_value(json_object_get(err, "message")), "go away");
    json_decref(err);
    json_decref(auth);

    cr_assert_eq(sio_simple_connect(&s, p.url, NULL, NULL), 0);
    kill(p.pid, SIGSTOP);
    json_t *res;
    cr_assert_eq(sio_simple_call(s, "echo", NULL, 300, &res), SIO_ERR_TIMEOUT);
    cr_assert_null(res);
    kill(p.pid, SIGCONT);
    sio_simple_disconnect(&s);
    peer_stop(&p);
}

/* test-tls.c: https/wss in the clients (client/engine.c, client.c)
 * against the npm socket.io server on node's https.createServer
 * (peer-server.js --tls), with a CA, a server certificate (for localhost
 * and 127.0.0.1) and a client certificate made by the openssl CLI in a
 * temporary directory; HTTP/2 polling (h2_*) against the same server on
 * node's http2.createSecureServer with allowHTTP1 (peer-server.js --h2). */
#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <sio/client.h>
#include "peer.h"

#define EXTRA "tests/unit/client/peer-server.js"

static char dir[64];

/* The test PKI: ca.pem/key, server.pem/key (localhost, 127.0.0.1),
 * client.pem/key, other.pem/key (for other.invalid only). Returns false
 * when openssl is missing or fails. */
static bool make_pki(void)
{
    snprintf(dir, sizeof dir, "/tmp/sio-tls-XXXXXX");
    if (!mkdtemp(dir))
        return false;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
        "cd %s && exec >/dev/null 2>&1 && K='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes' && "
        "openssl req -x509 $K -keyout ca.key -out ca.pem -days 2 -subj /CN=sio-test-ca "
        "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign && "
        "openssl req $K -keyout server.key -out server.csr -subj /CN=localhost && "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "  -days 2 -extfile server.ext -out server.pem && "
        "openssl req $K -keyout client.key -out client.csr -subj /CN=sio-test-client && "
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext && "
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "  -days 2 -extfile client.ext -out client.pem && "
        "openssl req $K -keyout other.key -out other.csr -subj /CN=other.invalid && "
        "printf 'subjectAltName=DNS:other.invalid\\n' > other.ext && "
        "openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "  -days 2 -extfile other.ext -out other.pem", dir);
    return system(cmd) == 0;
}

static void pki_init(void)
{
    cr_assert(make_pki(), "openssl CLI failed");
}

static void rm_pki(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(tls, .init = pki_init, .fini = rm_pki);

static char *pki(const char *name)
{
    static char paths[4][128];
    static int i;
    char *p = paths[i++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static long now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1000L + tv.tv_usec / 1000;
}

struct ctx {
    int connects, errors, acks;
    json_t *ack_args;
};

static void on_connect(sio_client *c, const char *nsp, void *ud) { ((struct ctx *)ud)->connects++; }
static void on_error(sio_client *c, const char *nsp, json_t *d, void *ud) { ((struct ctx *)ud)->errors++; }
static void on_ack(sio_client *c, int status, json_t *args, void *ud)
{
    struct ctx *x = ud;
    x->acks++;
    if (status == 0)
        x->ack_args = json_incref(args);
}

static void tick_cb(evutil_socket_t fd, short w, void *a) { }

/* Connect with o over TLS; when expect_ok, emit with an ack and check it
 * comes back; otherwise check last_error contains expect. */
static void run_cert(const struct sio_client_opts *o, bool require_cert,
                     const char *server_cert, const char *expect)
{
    if (!peer_available())
        cr_skip_test("node or tests/interop/node_modules missing");
    struct peer p;
    const char *args[] = { "--tls", dir, "--server-cert", server_cert,
                           require_cert ? "--require-client-cert" : NULL, NULL };
    cr_assert_eq(peer_start(&p, EXTRA, 0, args), 0);
    cr_assert_eq(strncmp(p.url, "https://", 8), 0);
    if (getenv("SIO_TEST_LOG"))
        sio_log_set_level(sio_log_level_parse(getenv("SIO_TEST_LOG")));
    struct event_base *base = event_base_new();
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = { 0, 10000 };
    event_add(tick, &tv);
    sio_client *c;
    cr_assert_eq(sio_client_new(&c, base, o), 0);
    struct ctx x = { 0 };
    struct sio_client_namespace h = { .nsp = "/", .on_connect = on_connect,
                                      .on_connect_error = on_error, .ud = &x };
    sio_client_on_namespace(c, &h);
    cr_assert_eq(sio_client_connect(c, p.url, NULL, NULL), 0, "%s", sio_client_last_error(c));
    long end = now_ms() + 8000;
    while (x.connects + x.errors == 0 && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    if (!expect) {
        cr_assert_eq(x.connects, 1, "%s", sio_client_last_error(c));
        if (o->transports & SIO_TRANSPORT_WEBSOCKET) {
            end = now_ms() + 3000;
            while (strcmp(sio_client_transport(c), "websocket") != 0 && now_ms() < end)
                event_base_loop(base, EVLOOP_ONCE);
            cr_assert_str_eq(sio_client_transport(c), "websocket");
        }
        json_t *a = json_pack("[s,o]", "over tls", sio_binary_new("\x01\x02\x03", 3));
        cr_assert_eq(sio_client_emit_ack(c, "/", "echo", a, on_ack, &x, 5000), 0);
        end = now_ms() + 5000;
        while (!x.acks && now_ms() < end)
            event_base_loop(base, EVLOOP_ONCE);
        cr_assert_not_null(x.ack_args);
        cr_assert_str_eq(json_string_value(json_array_get(x.ack_args, 0)), "over tls");
        json_decref(a);
        json_decref(x.ack_args);
        sio_client_disconnect(c);
    } else {
        cr_assert_eq(x.errors, 1);
        cr_assert_not_null(strstr(sio_client_last_error(c), expect), "last_error: %s",
                           sio_client_last_error(c));
    }
    cr_assert_eq(sio_client_wait(c), 0);
    sio_client_destroy(&c);
    event_free(tick);
    event_base_free(base);
    peer_stop(&p);
}

static void run(const struct sio_client_opts *o, bool require_cert, const char *expect)
{
    run_cert(o, require_cert, "server", expect);
}

static void opts(struct sio_client_opts *o, unsigned transports)
{
    sio_client_opts_init(o);
    o->transports = transports;
    o->reconnection = false;
}

static void verify_ok(unsigned transports)
{
    struct sio_client_opts o;
    opts(&o, transports);
    o.tls_ca_file = pki("ca.pem");
    run(&o, false, NULL);
}

Test(tls, verify_with_ca_polling, .timeout = 30) { verify_ok(SIO_TRANSPORT_POLLING); }
Test(tls, verify_with_ca_websocket, .timeout = 30) { verify_ok(SIO_TRANSPORT_WEBSOCKET); }
Test(tls, verify_with_ca_upgrade, .timeout = 30) { verify_ok(SIO_TRANSPORT_DEFAULT); }

Test(tls, verify_without_ca_fails, .timeout = 30)
{
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_POLLING);
    run(&o, false, "certificate verify failed: ");
}

Test(tls, verify_without_ca_fails_websocket, .timeout = 30)
{
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_WEBSOCKET);
    run(&o, false, "certificate verify failed: ");
}

Test(tls, hostname_mismatch_fails, .timeout = 30)
{
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_DEFAULT);
    o.tls_ca_file = pki("ca.pem");
    run_cert(&o, false, "other", "certificate verify failed: ");
}

Test(tls, hostname_mismatch_no_verify_works, .timeout = 30)
{
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_DEFAULT);
    o.tls_no_verify = true;
    run_cert(&o, false, "other", NULL);
}

Test(tls, no_verify_works, .timeout = 30)
{
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_DEFAULT);
    o.tls_no_verify = true;
    run(&o, false, NULL);
}

Test(tls, client_cert_accepted, .timeout = 30)
{
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_DEFAULT);
    o.tls_ca_file = pki("ca.pem");
    o.tls_cert_file = pki("client.pem");
    o.tls_key_file = pki("client.key");
    run(&o, true, NULL);
}

Test(tls, client_cert_missing_refused, .timeout = 30)
{
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_POLLING);
    o.tls_ca_file = pki("ca.pem");
    run(&o, true, "TLS error");
}

Test(tls, bad_ca_file, .timeout = 10)
{
    struct event_base *base = event_base_new();
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_POLLING);
    o.tls_ca_file = "/nonexistent/ca.pem";
    sio_client *c;
    cr_assert_eq(sio_client_new(&c, base, &o), 0);
    cr_assert_eq(sio_client_connect(c, "https://127.0.0.1:1", NULL, NULL), -EINVAL);
    cr_assert_not_null(strstr(sio_client_last_error(c), "/nonexistent/ca.pem"), "%s",
                       sio_client_last_error(c));
    sio_client_destroy(&c);
    event_base_free(base);
}

Test(tls, simple_client, .timeout = 30)
{
    if (!peer_available())
        cr_skip_test("node missing");
    struct peer p;
    const char *args[] = { "--tls", dir, NULL };
    cr_assert_eq(peer_start(&p, EXTRA, 0, args), 0);
    struct sio_client_opts co;
    sio_client_opts_init(&co);
    co.tls_ca_file = pki("ca.pem");
    struct sio_simple_opts so = { .client = &co, .wait_timeout_ms = 5000 };
    sio_simple *s;
    cr_assert_eq(sio_simple_connect(&s, p.url, &so, NULL), 0);
    json_t *a = json_pack("[i]", 7), *res;
    cr_assert_eq(sio_simple_call(s, "echo", a, 5000, &res), 0);
    cr_assert(json_equal(res, a));
    json_decref(res);
    json_decref(a);
    sio_simple_disconnect(&s);
    /* and refused without the CA */
    json_t *err = NULL;
    co.tls_ca_file = NULL;
    co.reconnection = false;
    cr_assert_eq(sio_simple_connect(&s, p.url, &so, &err), SIO_ERR_CLOSED);
    cr_assert_not_null(strstr(json_string_value(json_object_get(err, "message")),
                              "certificate verify failed"), "%s",
                       json_string_value(json_object_get(err, "message")));
    json_decref(err);
    peer_stop(&p);
}

/* ---- HTTP/2 polling (docs/CLIENT.md "HTTP/2") ------------------------- */

static json_t *h2_ack;

static void on_h2_ack(sio_client *c, int status, json_t *args, void *ud)
{
    (*(int *)ud)++;
    if (status == 0)
        h2_ack = json_incref(json_array_get(args, 0));
}

/* Emit event with an ack and run the loop until it comes; returns its
 * first argument (a new reference). */
static json_t *h2_call(struct event_base *base, sio_client *c, const char *event)
{
    int got = 0;
    h2_ack = NULL;
    json_t *args = json_pack("[s]", event);
    cr_assert_eq(sio_client_emit_ack(c, "/", event, args, on_h2_ack, &got, 5000), 0);
    json_decref(args);
    long end = now_ms() + 6000;
    while (!got && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    cr_assert_not_null(h2_ack, "no ack for %s: %s", event, sio_client_last_error(c));
    return h2_ack;
}

/* The npm socket.io server on node's http2 secure server (ALPN h2 and
 * http/1.1) as a sticky-session load balancer (peer-server.js --tls --h2
 * --sticky): the client's polling requests, handshake included, carry
 * the balancer's cookies with the application's Cookie and its extra
 * header; over HTTP/2 they all share one TCP connection, with no_h2 each
 * request has its own HTTP/1.1 connection. */
static void h2_polling(bool no_h2, unsigned transports)
{
    cr_assert(peer_available(), "node or tests/interop/node_modules missing");
    struct peer p;
    const char *args[] = { "--tls", dir, "--h2", "--sticky", NULL };
    cr_assert_eq(peer_start(&p, EXTRA, 0, args), 0);
    if (getenv("SIO_TEST_LOG"))
        sio_log_set_level(sio_log_level_parse(getenv("SIO_TEST_LOG")));
    struct event_base *base = event_base_new();
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = { 0, 10000 };
    event_add(tick, &tv);
    struct sio_client_opts o;
    opts(&o, transports);
    o.tls_ca_file = pki("ca.pem");
    o.no_h2 = no_h2;
    const char *const headers[] = { "X-Sio-Test: yes", "Cookie: app=1", NULL };
    o.headers = headers;
    sio_client *c;
    cr_assert_eq(sio_client_new(&c, base, &o), 0);
    struct ctx x = { 0 };
    struct sio_client_namespace h = { .nsp = "/", .on_connect = on_connect,
                                      .on_connect_error = on_error, .ud = &x };
    sio_client_on_namespace(c, &h);
    cr_assert_eq(sio_client_connect(c, p.url, NULL, NULL), 0, "%s", sio_client_last_error(c));
    long end = now_ms() + 8000;
    while (x.connects + x.errors == 0 && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    cr_assert_eq(x.connects, 1, "%s", sio_client_last_error(c));
    if (transports & SIO_TRANSPORT_WEBSOCKET) {
        end = now_ms() + 3000;
        while (strcmp(sio_client_transport(c), "websocket") != 0 && now_ms() < end)
            event_base_loop(base, EVLOOP_ONCE);
        cr_assert_str_eq(sio_client_transport(c), "websocket");
    }
    /* several round trips: each a POST and a long-poll answer */
    for (int i = 0; i < 3; i++)
        json_decref(h2_call(base, c, "echo"));
    json_t *cookies = h2_call(base, c, "cookies");
    json_t *http = h2_call(base, c, "http");
    if (transports == SIO_TRANSPORT_POLLING)
        cr_assert_str_eq(json_string_value(cookies), "app=1; lb=node-7; other=x");
    cr_assert_str_eq(json_string_value(json_object_get(http, "header")), "yes");
    cr_assert_str_eq(json_string_value(json_object_get(http, "version")), no_h2 ? "1.1" : "2.0");
    json_int_t conns = json_integer_value(json_object_get(http, "connections"));
    if (!no_h2)         /* every request so far, handshake included */
        cr_assert_eq(conns, transports & SIO_TRANSPORT_WEBSOCKET ? 2 : 1,
                     "%d TCP connections", (int)conns);
    else                /* a connection per request */
        cr_assert_gt(conns, 8, "%d TCP connections", (int)conns);
    json_decref(cookies);
    json_decref(http);
    sio_client_disconnect(c);
    cr_assert_eq(sio_client_wait(c), 0);
    sio_client_destroy(&c);
    event_free(tick);
    event_base_free(base);
    peer_stop(&p);
}

Test(tls, h2_polling_one_connection_cookies_headers, .timeout = 30)
{
    h2_polling(false, SIO_TRANSPORT_POLLING);
}

Test(tls, h2_server_no_h2_option_stays_http1, .timeout = 30)
{
    h2_polling(true, SIO_TRANSPORT_POLLING);
}

Test(tls, h2_polling_then_websocket_upgrade, .timeout = 30)
{
    h2_polling(false, SIO_TRANSPORT_DEFAULT);
}

/* The HTTP/2 server dies with the long-poll open on its connection: the
 * client sees the connection go ("transport close"/"transport error"),
 * reconnects as over HTTP/1.1 once the server is back on the same port,
 * and polls over HTTP/2 again on one new connection. */
Test(tls, h2_reconnect_after_server_restart, .timeout = 40)
{
    cr_assert(peer_available(), "node or tests/interop/node_modules missing");
    struct peer p;
    const char *args[] = { "--tls", dir, "--h2", NULL };
    cr_assert_eq(peer_start(&p, EXTRA, 0, args), 0);
    unsigned port = p.port;
    struct event_base *base = event_base_new();
    struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
    struct timeval tv = { 0, 10000 };
    event_add(tick, &tv);
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    o.transports = SIO_TRANSPORT_POLLING;
    o.tls_ca_file = pki("ca.pem");
    o.reconnection_delay_ms = 100;
    o.reconnection_delay_max_ms = 400;
    o.reconnection_attempts = 50;
    sio_client *c;
    cr_assert_eq(sio_client_new(&c, base, &o), 0);
    struct ctx x = { 0 };
    struct sio_client_namespace h = { .nsp = "/", .on_connect = on_connect,
                                      .on_connect_error = on_error, .ud = &x };
    sio_client_on_namespace(c, &h);
    cr_assert_eq(sio_client_connect(c, p.url, NULL, NULL), 0, "%s", sio_client_last_error(c));
    long end = now_ms() + 8000;
    while (!sio_client_connected(c, "/") && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    json_t *http = h2_call(base, c, "http");
    cr_assert_str_eq(json_string_value(json_object_get(http, "version")), "2.0");
    json_decref(http);
    peer_kill(&p);
    end = now_ms() + 5000;
    while (sio_client_connected(c, "/") && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    cr_assert(!sio_client_connected(c, "/"), "still connected after the server died");
    cr_assert_not_null(strstr(sio_client_last_error(c), "the server closed the connection"),
                       "last_error: %s", sio_client_last_error(c));
    cr_assert_eq(peer_start(&p, EXTRA, port, args), 0);
    end = now_ms() + 8000;
    while (!sio_client_connected(c, "/") && now_ms() < end)
        event_base_loop(base, EVLOOP_ONCE);
    cr_assert(sio_client_connected(c, "/"), "no reconnection: %s", sio_client_last_error(c));
    cr_assert_eq(x.connects, 2);
    http = h2_call(base, c, "http");
    cr_assert_str_eq(json_string_value(json_object_get(http, "version")), "2.0");
    cr_assert_eq(json_integer_value(json_object_get(http, "connections")), 1);
    json_decref(http);
    sio_client_disconnect(c);
    cr_assert_eq(sio_client_wait(c), 0);
    sio_client_destroy(&c);
    event_free(tick);
    event_base_free(base);
    peer_stop(&p);
}

/* A server on HTTP/2 that never answers: the handshake request times out
 * after connect_timeout_ms with the same error as over HTTP/1.1. */
Test(tls, h2_request_timeout, .timeout = 30)
{
    cr_assert(peer_available(), "node or tests/interop/node_modules missing");
    struct peer p;
    const char *args[] = { "--tls", dir, "--h2", "--stall", NULL };
    cr_assert_eq(peer_start(&p, EXTRA, 0, args), 0);
    struct event_base *base = event_base_new();
    struct sio_client_opts o;
    opts(&o, SIO_TRANSPORT_POLLING);
    o.tls_ca_file = pki("ca.pem");
    o.connect_timeout_ms = 700;
    sio_client *c;
    cr_assert_eq(sio_client_new(&c, base, &o), 0);
    struct ctx x = { 0 };
    struct sio_client_namespace h = { .nsp = "/", .on_connect = on_connect,
                                      .on_connect_error = on_error, .ud = &x };
    sio_client_on_namespace(c, &h);
    cr_assert_eq(sio_client_connect(c, p.url, NULL, NULL), 0, "%s", sio_client_last_error(c));
    cr_assert_eq(sio_client_wait(c), 0);
    cr_assert_eq(x.connects, 0);
    cr_assert_eq(x.errors, 1);
    cr_assert_not_null(strstr(sio_client_last_error(c), "HTTP request timed out"),
                       "last_error: %s", sio_client_last_error(c));
    sio_client_destroy(&c);
    event_base_free(base);
    peer_stop(&p);
}

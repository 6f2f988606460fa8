/* test-gateway.c: the gateway over raw TCP against a fake hub.
 *
 * The fake hub (ROUTER on ep.events, PUB on ep.commands, its own thread)
 * answers CONNECT with CONNECT_OK (CONNECT_ERR for "/refused"), an EVENT
 * with an ack id with an ACK of the same args minus the event name, and a
 * few events drive commands: "join" (JOIN room), "toroom" (EMIT to a room),
 * "bcast" (EMIT to the namespace), "kick" (DISCONNECT_CMD). Client frames
 * are masked with the fixtures' key 37 fa 21 3d.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zmq.h>
#include "edge/gateway/gateway.h"
#include "proto/envelope.h"
#include "proto/batch.h"
#include "proto/bus.h"
#include <sio/log.h>

#define EV_EP "inproc://t-events"
#define CMD_EP "inproc://t-commands"

static void *zctx;
static void *hub_router, *hub_pub;
static pthread_t hub_thread;
static volatile int hub_stop;
static sio_gateway *gw;
static uint16_t port;
static unsigned io_threads;    /* cfg.io_threads of start(); 0 = one per core */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last_reason[64];
static int ndisconnect;

/* Wait until the fake hub has seen a DISCONNECT with reason want (and, when
 * n > 0, n DISCONNECTs in all), for at most 5 s: the gateway sends it
 * asynchronously, after the client's side of the close. */
static bool disconnect_seen(const char *want, int n)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&lock);
        bool ok = strcmp(last_reason, want) == 0 && (n <= 0 || ndisconnect == n);
        pthread_mutex_unlock(&lock);
        if (ok)
            return true;
        usleep(10000);
    }
    return false;
}
static volatile bool hub_no_done;  /* the fake worker never confirms events */

/* ---------- fake hub ---------- */

static void publish(const char *topic, struct sio_env *env)
{
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_env_encode(env, &b), 0);
    zmq_send(hub_pub, topic, strlen(topic), ZMQ_SNDMORE);
    zmq_send(hub_pub, b.data, b.len, 0);
    sio_buf_clear(&b);
}

/* Event "batch": three EMITs to the sender in one batch frame (docs/BUS.md
 * 2.4), then malformed batches (dropped), then a lone EMIT "after". */
static void publish_batch(const char *topic, const struct sio_env *ev)
{
    struct sio_bus_batch b;
    sio_bus_batch_init(&b);
    struct sio_buf e = SIO_BUF_INIT;
    struct sio_env r;
    char data[32];
    for (int i = 1; i <= 3; i++) {
        sio_env_init(&r, SIO_ENV_EMIT);
        r.nsp = ev->nsp;
        r.sid = ev->sid;
        snprintf(data, sizeof data, "[\"b\",%d]", i);
        r.data = (struct sio_str){ data, strlen(data) };
        sio_buf_reset(&e);
        cr_assert_eq(sio_env_encode(&r, &e), 0);
        cr_assert_eq(sio_bus_batch_add(&b, e.data, e.len), 0);
    }
    zmq_send(hub_pub, topic, strlen(topic), ZMQ_SNDMORE);
    zmq_send(hub_pub, b.buf.data, b.buf.len, 0);
    zmq_send(hub_pub, topic, strlen(topic), ZMQ_SNDMORE);    /* length past the end */
    zmq_send(hub_pub, b.buf.data, b.buf.len - 1, 0);
    zmq_send(hub_pub, topic, strlen(topic), ZMQ_SNDMORE);    /* empty */
    zmq_send(hub_pub, b.buf.data, 1, 0);
    static const uint8_t notenv[] = { 0xc1, 0, 0, 0, 2, 0x92, 0x01 };
    zmq_send(hub_pub, topic, strlen(topic), ZMQ_SNDMORE);    /* an array, not a map */
    zmq_send(hub_pub, notenv, sizeof notenv, 0);
    sio_env_init(&r, SIO_ENV_EMIT);
    r.nsp = ev->nsp;
    r.sid = ev->sid;
    r.data = (struct sio_str){ "[\"after\"]", 9 };
    publish(topic, &r);
    sio_buf_clear(&e);
    sio_bus_batch_clear(&b);
}

static char *args_json(const struct sio_env *ev, size_t skip, char **first)
{
    json_t *a = json_loadb(ev->data.p, ev->data.len, 0, NULL);
    if (!a)
        return NULL;
    if (first) {
        json_t *f = json_array_get(a, 1);
        *first = f && json_is_string(f) ? strdup(json_string_value(f)) : NULL;
    }
    for (size_t i = 0; i < skip; i++)
        json_array_remove(a, 0);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}

static void hub_handle(struct sio_env *ev)
{
    char gwid[16] = "";
    snprintf(gwid, sizeof gwid, "%.*s", (int)ev->gw.len, ev->gw.p);
    struct sio_env r;
    if (ev->kind == SIO_ENV_CONNECT && ev->nsp.len) {
        bool refuse = ev->nsp.len == 8 && memcmp(ev->nsp.p, "/refused", 8) == 0;
        sio_env_init(&r, refuse ? SIO_ENV_CONNECT_ERR : SIO_ENV_CONNECT_OK);
        r.gw = ev->gw;
        r.nsp = ev->nsp;
        r.sid = ev->sid;
        if (refuse) {
            r.data.p = "{\"message\":\"Invalid namespace\"}";
            r.data.len = strlen(r.data.p);
        }
        publish(gwid, &r);
    } else if (ev->kind == SIO_ENV_RAW) {
        sio_env_init(&r, SIO_ENV_RAW_SEND);
        r.nsp = ev->nsp;
        r.sid = ev->sid;
        r.binary = ev->binary;
        r.data = ev->data;
        publish(gwid, &r);
    } else if (ev->kind == SIO_ENV_DISCONNECT) {
        pthread_mutex_lock(&lock);
        snprintf(last_reason, sizeof last_reason, "%.*s", (int)ev->reason.len, ev->reason.p);
        ndisconnect++;
        pthread_mutex_unlock(&lock);
    } else if (ev->kind == SIO_ENV_EVENT) {
        json_t *a = json_loadb(ev->data.p, ev->data.len, 0, NULL);
        const char *name = a ? json_string_value(json_array_get(a, 0)) : NULL;
        char *arg1 = NULL;
        char *rest = args_json(ev, 1, &arg1);
        struct sio_str room = { arg1, arg1 ? strlen(arg1) : 0 };
        if (name && strcmp(name, "join") == 0) {
            sio_env_init(&r, SIO_ENV_JOIN);
            r.nsp = ev->nsp;
            r.sid = ev->sid;
            r.rooms2 = &room;
            r.nrooms2 = 1;
            publish(gwid, &r);
        } else if (name && strcmp(name, "batch") == 0) {
            publish_batch(gwid, ev);
        } else if (name && (strcmp(name, "toroom") == 0 || strcmp(name, "bcast") == 0 ||
                            strcmp(name, "vbcast") == 0)) {
            sio_env_init(&r, SIO_ENV_EMIT);
            r.nsp = ev->nsp;
            char data[256];
            snprintf(data, sizeof data, "[\"%s-back\",\"hi\"]", name);
            r.data.p = data;
            r.data.len = strlen(data);
            if (name[0] == 't') {
                r.rooms = &room;
                r.nrooms = 1;
            }
            r.bins = ev->bins;
            r.nbins = ev->nbins;
            r.volatile_ = name[0] == 'v';
            publish("*", &r);
        } else if (name && strcmp(name, "kick") == 0) {
            sio_env_init(&r, SIO_ENV_DISCONNECT_CMD);
            r.nsp = ev->nsp;
            r.sid = ev->sid;
            publish(gwid, &r);
        } else if (ev->id >= 0 && rest) {
            sio_env_init(&r, SIO_ENV_ACK);
            r.nsp = ev->nsp;
            r.sid = ev->sid;
            r.id = ev->id;
            r.data.p = rest;
            r.data.len = strlen(rest);
            r.bins = ev->bins;
            r.nbins = ev->nbins;
            publish(gwid, &r);
        }
        free(rest);
        free(arg1);
        json_decref(a);
        if (ev->confirm > 0 && !hub_no_done) {     /* as a worker: handled */
            sio_env_init(&r, SIO_ENV_EVENT_DONE);
            r.gw = ev->gw;
            r.nsp = ev->nsp;
            r.sid = ev->sid;
            r.confirm = ev->confirm;
            publish(gwid, &r);
        }
    }
}

static void *hub_main(void *arg)
{
    while (!hub_stop) {
        zmq_pollitem_t it = { hub_router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&it, 1, 20) <= 0)
            continue;
        zmq_msg_t f[3];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, hub_router, 0) < 0)
                break;
            more = zmq_msg_more(&m);
            if (n < 3)
                f[n++] = m;
            else
                zmq_msg_close(&m);
        }
        if (n == 3 && zmq_msg_size(&f[1]) == 1 &&
            *(const uint8_t *)zmq_msg_data(&f[1]) == SIO_BUS_BATCH) {
            /* [0xc1, route/envelope pairs] (docs/BUS.md 2.4) */
            struct sio_bus_batch_reader br;
            const void *r, *e;
            size_t rl, el;
            if (sio_bus_batch_open(&br, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]),
                                   SIO_BUS_BATCH_ROUTED, NULL) > 0)
                while (sio_bus_batch_next(&br, &r, &rl) && sio_bus_batch_next(&br, &e, &el)) {
                    struct sio_env ev;
                    if (sio_env_decode(e, el, &ev) == 0) {
                        hub_handle(&ev);
                        sio_env_clear(&ev);
                    }
                }
        } else if (n == 3) {
            struct sio_env ev;
            if (sio_env_decode(zmq_msg_data(&f[2]), zmq_msg_size(&f[2]), &ev) == 0) {
                hub_handle(&ev);
                sio_env_clear(&ev);
            }
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    return NULL;
}

/* limits for the next start() (zero: the defaults) */
static struct sio_gateway_cfg limits;

static void start(size_t max_payload, unsigned ping_ms, unsigned timeout_ms)
{
    if (getenv("GW_DEBUG"))
        sio_log_set_level(SIO_LOG_DEBUG);
    zctx = zmq_ctx_new();
    hub_router = zmq_socket(zctx, ZMQ_ROUTER);
    hub_pub = zmq_socket(zctx, ZMQ_PUB);
    cr_assert_eq(zmq_bind(hub_router, EV_EP), 0);
    cr_assert_eq(zmq_bind(hub_pub, CMD_EP), 0);
    hub_stop = 0;
    pthread_create(&hub_thread, NULL, hub_main, NULL);
    struct sio_gateway_cfg cfg = {
        .zmq_ctx = zctx, .ep = { EV_EP, CMD_EP, NULL }, .host = "127.0.0.1", .port = 0,
        .max_payload = max_payload, .ping_interval_ms = ping_ms, .ping_timeout_ms = timeout_ms,
        .engineio_path = "/engine.io/", .io_threads = io_threads,
        .max_client_buffer = limits.max_client_buffer, .close_timeout_ms = limits.close_timeout_ms,
        .max_connections = limits.max_connections, .max_conns_per_ip = limits.max_conns_per_ip,
        .max_handshakes_per_ip = limits.max_handshakes_per_ip,
        .max_events_per_sec = limits.max_events_per_sec,
        .connect_timeout_ms = limits.connect_timeout_ms, .inflight_max = limits.inflight_max,
    };
    memset(&limits, 0, sizeof limits);
    char err[256];
    int r = sio_gateway_new(&gw, &cfg, err, sizeof err);
    cr_assert_eq(r, 0, "gateway: %s", err);
    port = sio_gateway_port(gw);
    cr_assert_neq(port, 0);
    usleep(50000);  /* SUB subscription reaches the PUB */
}

static void stop(void)
{
    sio_gateway_destroy(&gw);
    cr_assert_null(gw);
    hub_stop = 1;
    pthread_join(hub_thread, NULL);
    zmq_close(hub_router);
    zmq_close(hub_pub);
    zmq_ctx_term(zctx);
}

/* ---------- raw TCP helpers ---------- */

static int tcp(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = { 3, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void sendall(int fd, const void *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        cr_assert_gt(w, 0);
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

struct resp {
    char raw[65536];
    size_t len;
    int status;
    char *body;        /* into raw (dechunked copy for chunked) */
    size_t body_len;
    char dech[8192];
};

/* Read one HTTP response (Content-Length, chunked, or until EOF). */
static void read_resp(int fd, struct resp *r)
{
    memset(r, 0, sizeof *r);
    char *he = NULL;
    for (;;) {
        if (r->len) {
            r->raw[r->len] = 0;
            he = strstr(r->raw, "\r\n\r\n");
            if (he) {
                size_t hl = (size_t)(he + 4 - r->raw);
                char *cl = strcasestr(r->raw, "\r\nContent-Length: ");
                if (cl && cl < he) {
                    size_t n = strtoul(cl + 18, NULL, 10);
                    if (r->len >= hl + n) {
                        r->body = r->raw + hl;
                        r->body_len = n;
                        r->len = hl + n;
                        break;
                    }
                } else if (strstr(r->raw, "Transfer-Encoding: chunked") &&
                           strstr(he, "\r\n0\r\n\r\n")) {
                    char *p = he + 4;
                    size_t o = 0;
                    for (;;) {
                        size_t n = strtoul(p, &p, 16);
                        p += 2;
                        if (!n)
                            break;
                        memcpy(r->dech + o, p, n);
                        o += n;
                        p += n + 2;
                    }
                    r->body = r->dech;
                    r->body_len = o;
                    break;
                } else if (!strstr(r->raw, "Transfer-Encoding") && !cl && strstr(r->raw, " 101 ")) {
                    r->len = hl;
                    break;
                }
            }
        }
        ssize_t n = recv(fd, r->raw + r->len, sizeof r->raw - 1 - r->len, 0);
        if (n <= 0)
            break;
        r->len += (size_t)n;
    }
    r->raw[r->len] = 0;
    sscanf(r->raw, "HTTP/1.1 %d", &r->status);
}

static void request(const char *method, const char *url, const char *body, size_t blen,
                    struct resp *r)
{
    int fd = tcp();
    char req[4096];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, url);
    if (body)
        n += snprintf(req + n, sizeof req - (size_t)n,
                      "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n", blen);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    sendall(fd, req, (size_t)n);
    if (body)
        sendall(fd, body, blen);
    read_resp(fd, r);
    close(fd);
}

static void handshake(char sid[21])
{
    struct resp r;
    request("GET", "/socket.io/?EIO=4&transport=polling", NULL, 0, &r);
    cr_assert_eq(r.status, 200, "%s", r.raw);
    cr_assert(r.body_len > 9 && memcmp(r.body, "0{\"sid\":\"", 9) == 0);
    memcpy(sid, r.body + 9, 20);
    sid[20] = 0;
}

static void post(const char *sid, const char *body, size_t len)
{
    char url[128];
    snprintf(url, sizeof url, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
    struct resp r;
    request("POST", url, body, len, &r);
    cr_assert_eq(r.status, 200, "%s", r.raw);
    cr_assert_eq(r.body_len, 2);
    cr_assert(memcmp(r.body, "ok", 2) == 0);
}

static void get(const char *sid, struct resp *r)
{
    char url[128];
    snprintf(url, sizeof url, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
    request("GET", url, NULL, 0, r);
}

/* Mask the Date value so responses compare with the fixtures. */
static void mask_date(char *s)
{
    char *d = strstr(s, "\r\nDate: ");
    if (d)
        memset(d + 8, 'X', 29);
}

static char *fixture(const char *name, size_t *len)
{
    const char *dir = getenv("SIO_FIXTURES");
    char path[512];
    snprintf(path, sizeof path, "%s/reference/%s", dir ? dir : "tests/fixtures", name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "fixture %s", path);
    char *buf = calloc(1, 65536);
    *len = fread(buf, 1, 65535, f);
    fclose(f);
    return buf;
}

/* Send the fixture's request, compare the response byte for byte (Date
 * masked). */
static void check_fixture(const char *name)
{
    size_t len;
    char *fx = fixture(name, &len);
    char *he = strstr(fx, "\r\n\r\n");
    size_t reql = (size_t)(he + 4 - fx);
    char *cl = strstr(fx, "Content-Length: ");
    if (cl && cl < he)
        reql += strtoul(cl + 16, NULL, 10);
    int fd = tcp();
    sendall(fd, fx, reql);
    struct resp r;
    read_resp(fd, &r);
    close(fd);
    char *want = fx + reql;
    mask_date(want);
    mask_date(r.raw);
    cr_assert_str_eq(r.raw, want, "%s", name);
    free(fx);
}

/* ---------- WebSocket helpers ---------- */

static int ws_open(const char *url, struct resp *r)
{
    int fd = tcp();
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                     url);
    sendall(fd, req, (size_t)n);
    /* byte by byte: frames may follow the 101 in the same segment */
    memset(r, 0, sizeof *r);
    while (r->len < 4 || memcmp(r->raw + r->len - 4, "\r\n\r\n", 4) != 0) {
        if (recv(fd, r->raw + r->len, 1, 0) != 1)
            break;
        r->len++;
    }
    r->raw[r->len] = 0;
    sscanf(r->raw, "HTTP/1.1 %d", &r->status);
    return fd;
}

static void ws_send(int fd, int opcode, const void *data, size_t len, bool mask)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    uint8_t *f = malloc(len + 14);
    size_t h = 0;
    f[h++] = (uint8_t)(0x80 | opcode);
    uint8_t mb = mask ? 0x80 : 0;
    if (len < 126) {
        f[h++] = (uint8_t)(mb | len);
    } else if (len < 65536) {
        f[h++] = mb | 126;
        f[h++] = (uint8_t)(len >> 8);
        f[h++] = (uint8_t)len;
    } else {
        f[h++] = mb | 127;
        for (int i = 7; i >= 0; i--)
            f[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(f + h, key, 4);
        h += 4;
    }
    for (size_t i = 0; i < len; i++)
        f[h + i] = ((const uint8_t *)data)[i] ^ (mask ? key[i & 3] : 0);
    sendall(fd, f, h + len);
    free(f);
}

static void recvn(int fd, void *p, size_t n)
{
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        cr_assert_gt(r, 0, "recv: eof/timeout");
        p = (char *)p + r;
        n -= (size_t)r;
    }
}

/* Read one frame; returns the payload length; opcode out. */
static size_t ws_recv(int fd, int *opcode, uint8_t *buf, size_t cap)
{
    uint8_t h[2];
    recvn(fd, h, 2);
    *opcode = h[0] & 0x0f;
    cr_assert_eq(h[1] & 0x80, 0, "server frames are unmasked");
    size_t len = h[1] & 0x7f;
    if (len == 126) {
        uint8_t e[2];
        recvn(fd, e, 2);
        len = (size_t)e[0] << 8 | e[1];
    } else if (len == 127) {
        uint8_t e[8];
        recvn(fd, e, 8);
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | e[i];
    }
    cr_assert_leq(len, cap);
    recvn(fd, buf, len);
    buf[len] = 0;
    return len;
}

static void ws_expect_text(int fd, const char *want)
{
    uint8_t buf[4096];
    int op;
    size_t n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 1, "opcode %d", op);
    cr_assert_eq(n, strlen(want), "got %s want %s", buf, want);
    cr_assert_str_eq((char *)buf, want);
}

static void ws_expect_prefix(int fd, const char *want, size_t total)
{
    uint8_t buf[4096];
    int op;
    size_t n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 1);
    cr_assert(strncmp((char *)buf, want, strlen(want)) == 0, "got %s", buf);
    if (total)
        cr_assert_eq(n, total, "got %s", buf);
}

static bool eof_soon(int fd)
{
    char c;
    ssize_t n;
    while ((n = recv(fd, &c, 1, 0)) > 0)
        ;
    return n == 0;
}

static const char ws101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/* ---------- tests ---------- */

TestSuite(gateway, .fini = stop);

Test(gateway, polling_handshake_headers)
{
    start(0, 0, 0);
    struct resp r;
    request("GET", "/socket.io/?EIO=4&transport=polling&t=xyz", NULL, 0, &r);
    mask_date(r.raw);
    char want[512];
    snprintf(want, sizeof want,
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 118\r\n"
             "cache-control: no-store\r\nDate: XXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n"
             "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"
             "0{\"sid\":\"%.20s\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
             "\"pingTimeout\":20000,\"maxPayload\":1000000}", r.body + 9);
    cr_assert_str_eq(r.raw, want);
    /* sids are 20 chars of base64url, distinct */
    char a[21], b[21];
    handshake(a);
    handshake(b);
    cr_assert_str_neq(a, b);
    for (int i = 0; i < 20; i++)
        cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
}

Test(gateway, polling_connect_event_ack)
{
    start(0, 0, 0);
    char sid[21];
    handshake(sid);
    post(sid, "40", 2);
    struct resp r;
    get(sid, &r);
    cr_assert_eq(r.body_len, 32, "%s", r.raw);
    cr_assert(memcmp(r.body, "40{\"sid\":\"", 10) == 0);
    cr_assert(memcmp(r.body + 10, sid, 20) != 0, "socket sid differs from engine sid");
    mask_date(r.raw);
    cr_assert(strstr(r.raw, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                            "Content-Length: 32\r\ncache-control: no-store\r\nDate: ") == r.raw);
    /* two packets in one POST; the ack comes back */
    post(sid, "42[\"nothing\",\"hi\"]\x1e" "421[\"echo\",\"x\",1]", 36);
    get(sid, &r);
    cr_assert_eq(r.body_len, 10, "%s", r.raw);
    cr_assert(memcmp(r.body, "431[\"x\",1]", 10) == 0, "%s", r.body);
    /* connect to /custom with auth, refused namespace */
    post(sid, "40/custom,{\"token\":\"abc\"}\x1e" "40/refused,", 37);
    get(sid, &r);
    cr_assert(strstr(r.body, "40/custom,{\"sid\":\""), "%s", r.body);
    if (!strstr(r.body, "44/refused,")) {
        struct resp r2;
        get(sid, &r2);
        cr_assert(strstr(r2.body, "44/refused,{\"message\":\"Invalid namespace\"}"), "%s", r2.body);
    } else {
        cr_assert(strstr(r.body, "\x1e" "44/refused,{\"message\":\"Invalid namespace\"}"), "%s", r.body);
    }
    /* client disconnect of / */
    post(sid, "41", 2);
    cr_assert(disconnect_seen("client disconnect", 0), "last reason: %s", last_reason);
}

Test(gateway, polling_longpoll_and_binary)
{
    start(0, 0, 0);
    char sid[21];
    handshake(sid);
    post(sid, "40", 2);
    struct resp r;
    get(sid, &r);
    /* pending GET answered by a later POST's ack */
    int fd = tcp();
    char req[256];
    int n = snprintf(req, sizeof req, "GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
                                      "Host: x\r\n\r\n", sid);
    sendall(fd, req, (size_t)n);
    usleep(100000);
    post(sid, "451-2[\"echo\",{\"_placeholder\":true,\"num\":0}]\x1e" "bAQID", 49);
    read_resp(fd, &r);
    close(fd);
    cr_assert_eq(r.status, 200);
    const char want[] = "461-2[{\"_placeholder\":true,\"num\":0}]\x1e" "bAQID";
    cr_assert_eq(r.body_len, sizeof want - 1, "%.*s", (int)r.body_len, r.body);
    cr_assert(memcmp(r.body, want, sizeof want - 1) == 0);
}

Test(gateway, error_fixtures)
{
    start(0, 0, 0);
    check_fixture("js_err_missing_eio.http");
    check_fixture("js_err_eio3.http");
    check_fixture("js_err_eio_abc.http");
    check_fixture("js_err_missing_transport.http");
    check_fixture("js_err_transport_abc.http");
    check_fixture("js_err_unknown_sid.http");
    check_fixture("js_err_post_unknown_sid.http");
    check_fixture("js_err_post_no_sid.http");
    check_fixture("js_err_put_no_sid.http");
    check_fixture("js_err_options_no_cors.http");
    check_fixture("js_err_ws_transport_via_get.http");
    check_fixture("js_err_ws_unknown_sid.http");
    check_fixture("js_err_ws_transport_abc.http");
    struct resp r;
    request("GET", "/other", NULL, 0, &r);
    cr_assert_eq(r.status, 404);
}

Test(gateway, session_errors)
{
    start(1000, 0, 0);
    char sid[21], url[128];
    handshake(sid);
    snprintf(url, sizeof url, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
    struct resp r;
    /* exactly max_payload is fine, one more is 413 and the session stays */
    post(sid, "40", 2);
    get(sid, &r);       /* the CONNECT answer */
    char body[1002];
    memset(body, 'x', sizeof body);
    memcpy(body, "42[\"message\",\"", 14);
    memcpy(body + 998, "\"]", 2);
    post(sid, body, 1000);
    memcpy(body + 998, "x\"]", 3);
    request("POST", url, body, 1001, &r);
    mask_date(r.raw);
    /* refused from its Content-Length, before the body is read (unlike
     * the JS server, which reads it all first) */
    cr_assert_str_eq(r.raw, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n"
                            "Connection: close\r\n\r\n");
    /* PUT with sid: 500 */
    request("PUT", url, "40", 2, &r);
    cr_assert_eq(r.status, 500, "%s", r.raw);
    cr_assert(strstr(r.raw, "\r\n\r\n0\r\n\r\n"));
    /* transport mismatch / protocol mismatch: code 3 */
    char u2[128];
    snprintf(u2, sizeof u2, "/socket.io/?EIO=4&transport=websocket&sid=%s", sid);
    request("GET", u2, NULL, 0, &r);
    cr_assert(strstr(r.raw, "{\"code\":3,\"message\":\"Bad request\"}"), "%s", r.raw);
    snprintf(u2, sizeof u2, "/socket.io/?EIO=3&transport=polling&sid=%s", sid);
    request("GET", u2, NULL, 0, &r);
    cr_assert(strstr(r.raw, "{\"code\":3,\"message\":\"Bad request\"}"), "%s", r.raw);
    /* second concurrent GET: first gets 1, second 400 */
    int fd = tcp();
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", url);
    sendall(fd, req, (size_t)n);
    usleep(100000);
    request("GET", url, NULL, 0, &r);
    mask_date(r.raw);
    cr_assert_str_eq(r.raw, "HTTP/1.1 400 Bad Request\r\nDate: XXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n"
                            "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    read_resp(fd, &r);
    close(fd);
    cr_assert_eq(r.body_len, 1);
    cr_assert_eq(r.body[0], '1');
    request("GET", url, NULL, 0, &r);
    cr_assert(strstr(r.raw, "{\"code\":1,"), "%s", r.raw);
    /* octet-stream POST closes the session */
    handshake(sid);
    snprintf(url, sizeof url, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
    fd = tcp();
    n = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                                  "Content-Length: 4\r\n\r\n\x04\x01\x02\x03", url);
    sendall(fd, req, (size_t)n);
    read_resp(fd, &r);
    close(fd);
    cr_assert_eq(r.status, 400);
    cr_assert(strstr(r.raw, "\r\n\r\n0\r\n\r\n"));
    request("GET", url, NULL, 0, &r);
    cr_assert(strstr(r.raw, "{\"code\":1,"), "%s", r.raw);
    /* close packet while a GET waits: that GET gets 6 */
    handshake(sid);
    snprintf(url, sizeof url, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
    fd = tcp();
    n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", url);
    sendall(fd, req, (size_t)n);
    usleep(100000);
    post(sid, "1", 1);
    read_resp(fd, &r);
    close(fd);
    cr_assert_eq(r.body_len, 1);
    cr_assert_eq(r.body[0], '6');
}

Test(gateway, keep_alive_two_requests)
{
    start(0, 0, 0);
    int fd = tcp();
    const char req[] = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
    sendall(fd, req, sizeof req - 1);
    static char all[8192];
    size_t len = 0;
    while (len < 2 * 308 - 10) {
        ssize_t n = recv(fd, all + len, sizeof all - 1 - len, 0);
        cr_assert_gt(n, 0);
        len += (size_t)n;
    }
    all[len] = 0;
    char *second = strstr(all + 10, "HTTP/1.1 200 OK\r\n");
    cr_assert_not_null(second, "%s", all);
    cr_assert(strstr(second, "0{\"sid\":"));
    /* malformed request: 400 and close */
    struct resp r;
    usleep(50000);
    sendall(fd, "BLAH\x01 / HTTP/1.1\r\n\r\n", 20);
    read_resp(fd, &r);
    cr_assert_eq(r.status, 400);
    close(fd);
}

Test(gateway, websocket_session)
{
    start(0, 0, 0);
    struct resp r;
    int fd = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    cr_assert_str_eq(r.raw, ws101);
    ws_expect_prefix(fd, "0{\"sid\":\"", 107);
    ws_send(fd, 1, "40", 2, true);
    ws_expect_prefix(fd, "40{\"sid\":\"", 32);
    ws_send(fd, 1, "40/custom,{\"token\":\"abc\"}", 25, true);
    ws_expect_prefix(fd, "40/custom,{\"sid\":\"", 40);
    ws_send(fd, 1, "421[\"echo\",\"hello\",1]", 21, true);
    ws_expect_text(fd, "431[\"hello\",1]");
    ws_send(fd, 1, "42/custom,7[\"echo\",{\"a\":1}]", 27, true);
    ws_expect_text(fd, "43/custom,7[{\"a\":1}]");
    /* binary ack with one attachment */
    const char *bev = "451-3[\"echo\",{\"_placeholder\":true,\"num\":0}]";
    ws_send(fd, 1, bev, strlen(bev), true);
    ws_send(fd, 2, "\x01\x02\x03", 3, true);
    ws_expect_text(fd, "461-3[{\"_placeholder\":true,\"num\":0}]");
    uint8_t buf[64];
    int op;
    size_t n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 2);
    cr_assert_eq(n, 3);
    cr_assert(memcmp(buf, "\x01\x02\x03", 3) == 0);
    /* fragmented text message */
    uint8_t frag1[] = { 0x01, 0x80 | 4, 0x37, 0xfa, 0x21, 0x3d };
    uint8_t frag2[] = { 0x80, 0x80 | 13, 0x37, 0xfa, 0x21, 0x3d };
    const char *msg = "421[\"echo\",\"frag\",2]";   /* 4 + 13 = 17... */
    (void)msg;
    const char *p1 = "421[", *p2 = "\"echo\",\"fr\"]";
    uint8_t out[64];
    memcpy(out, frag1, 6);
    for (int i = 0; i < 4; i++)
        out[6 + i] = (uint8_t)p1[i] ^ frag1[2 + (i & 3)];
    sendall(fd, out, 10);
    frag2[1] = (uint8_t)(0x80 | strlen(p2));
    memcpy(out, frag2, 6);
    for (size_t i = 0; i < strlen(p2); i++)
        out[6 + i] = (uint8_t)p2[i] ^ frag2[2 + (i & 3)];
    sendall(fd, out, 6 + strlen(p2));
    ws_expect_text(fd, "431[\"fr\"]");
    /* WS ping control frame -> pong */
    ws_send(fd, 9, "hb", 2, true);
    n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 10);
    cr_assert_eq(n, 2);
    /* namespace disconnect, then close 1000 echoed */
    ws_send(fd, 1, "41/custom,", 10, true);
    ws_send(fd, 8, "\x03\xe8", 2, true);
    n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 8);
    cr_assert_eq(n, 2);
    cr_assert_eq(buf[0], 0x03);
    cr_assert_eq(buf[1], 0xe8);
    cr_assert(eof_soon(fd));
    close(fd);
    cr_assert(disconnect_seen("transport close", 2), "last reason: %s, %d disconnects",
              last_reason, (int)ndisconnect);
}

Test(gateway, websocket_oversize_and_unmasked)
{
    start(1000, 0, 0);
    struct resp r;
    int fd = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    cr_assert_str_eq(r.raw, ws101);
    ws_expect_prefix(fd, "0{\"sid\":\"", 104);
    ws_send(fd, 1, "40", 2, true);
    ws_expect_prefix(fd, "40{\"sid\":\"", 32);
    char body[1001];
    memset(body, 'x', sizeof body);
    memcpy(body, "421[\"echo\",\"", 12);
    memcpy(body + 997, "\",1]", 4);
    ws_send(fd, 1, body, 1001, true);   /* over by one */
    uint8_t buf[64];
    int op;
    size_t n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 8);
    cr_assert_eq(n, 2);
    cr_assert_eq(buf[0], 0x03);
    cr_assert_eq(buf[1], 0xf1);
    cr_assert(eof_soon(fd));
    close(fd);
    /* unmasked client frame -> 1002 */
    fd = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    ws_expect_prefix(fd, "0{\"sid\":\"", 104);
    ws_send(fd, 1, "40", 2, false);
    n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 8);
    cr_assert_eq(buf[0], 0x03);
    cr_assert_eq(buf[1], 0xea);
    cr_assert(eof_soon(fd));
    close(fd);
    /* a bad Engine.IO packet closes the session */
    fd = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    ws_expect_prefix(fd, "0{\"sid\":\"", 104);
    ws_send(fd, 1, "9zz", 3, true);
    n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 8);
    cr_assert(eof_soon(fd));
    close(fd);
}

Test(gateway, upgrade_probe)
{
    start(0, 0, 0);
    char sid[21], url[128];
    handshake(sid);
    post(sid, "40", 2);
    struct resp r;
    get(sid, &r);
    cr_assert_eq(r.body_len, 32);
    /* pending GET A */
    int a = tcp();
    char req[256];
    int n = snprintf(req, sizeof req, "GET /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
                                      "Host: x\r\n\r\n", sid);
    sendall(a, req, (size_t)n);
    usleep(50000);
    snprintf(url, sizeof url, "/socket.io/?EIO=4&transport=websocket&sid=%s", sid);
    int fd = ws_open(url, &r);
    cr_assert_str_eq(r.raw, ws101);
    ws_send(fd, 1, "2probe", 6, true);
    ws_expect_text(fd, "3probe");
    read_resp(a, &r);
    close(a);
    cr_assert_eq(r.body_len, 1);
    cr_assert_eq(r.body[0], '6');
    ws_send(fd, 1, "5", 1, true);
    ws_send(fd, 1, "421[\"echo\",\"after-upgrade\"]", 27, true);
    ws_expect_text(fd, "431[\"after-upgrade\"]");
    get(sid, &r);
    cr_assert(strstr(r.raw, "{\"code\":3,\"message\":\"Bad request\"}"), "%s", r.raw);
    /* a second WebSocket for the upgraded sid is accepted then closed */
    int fd2 = ws_open(url, &r);
    cr_assert_str_eq(r.raw, ws101);
    uint8_t buf[64];
    int op;
    ws_recv(fd2, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 8);
    close(fd2);
    /* the first one still works */
    ws_send(fd, 1, "421[\"echo\",\"still\"]", 19, true);
    ws_expect_text(fd, "431[\"still\"]");
    close(fd);
}

Test(gateway, heartbeat)
{
    start(0, 300, 200);
    char sid[21];
    handshake(sid);
    struct resp r;
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    get(sid, &r);
    gettimeofday(&t1, NULL);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
    cr_assert_eq(r.body_len, 1);
    cr_assert_eq(r.body[0], '2');
    cr_assert(ms >= 200 && ms < 600, "ping after %ld ms", ms);
    post(sid, "3", 1);
    get(sid, &r);
    cr_assert_eq(r.body[0], '2');
    /* no pong: the session is closed after ping_timeout */
    usleep(400000);
    get(sid, &r);
    cr_assert(strstr(r.raw, "{\"code\":1,"), "%s", r.raw);
    /* over WebSocket: 2 after the interval, 3 keeps it alive */
    int fd = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    ws_expect_prefix(fd, "0{\"sid\":\"", 0);
    ws_send(fd, 1, "40", 2, true);
    ws_expect_prefix(fd, "40{", 0);
    ws_expect_text(fd, "2");
    ws_send(fd, 1, "3", 1, true);
    ws_expect_text(fd, "2");
    /* no pong: closed */
    uint8_t buf[64];
    int op;
    ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 8);
    close(fd);
    cr_assert(disconnect_seen("ping timeout", 0), "last reason: %s", last_reason);
}

Test(gateway, rooms_broadcast_kick)
{
    start(0, 0, 0);
    struct resp r;
    int c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
        ws_expect_prefix(c[i], "0{", 0);
        ws_send(c[i], 1, "40", 2, true);
        ws_expect_prefix(c[i], "40{", 0);
    }
    ws_send(c[0], 1, "42[\"join\",\"r1\"]", 15, true);
    ws_send(c[1], 1, "42[\"join\",\"r1\"]", 15, true);
    usleep(100000);
    ws_send(c[2], 1, "42[\"toroom\",\"r1\"]", 17, true);
    ws_expect_text(c[0], "42[\"toroom-back\",\"hi\"]");
    ws_expect_text(c[1], "42[\"toroom-back\",\"hi\"]");
    /* broadcast with a binary attachment to the whole namespace */
    const char *b = "451-[\"bcast\",{\"_placeholder\":true,\"num\":0}]";
    ws_send(c[2], 1, b, strlen(b), true);
    ws_send(c[2], 2, "\xaa", 1, true);
    for (int i = 0; i < 3; i++) {
        ws_expect_text(c[i], "451-[\"bcast-back\",\"hi\"]");
        uint8_t buf[16];
        int op;
        size_t n = ws_recv(c[i], &op, buf, sizeof buf - 1);
        cr_assert_eq(op, 2);
        cr_assert_eq(n, 1);
        cr_assert_eq(buf[0], 0xaa);
    }
    /* server-side disconnect */
    ws_send(c[1], 1, "42[\"kick\"]", 10, true);
    ws_expect_text(c[1], "41");
    cr_assert(disconnect_seen("server disconnect", 0), "last reason: %s", last_reason);
    ws_send(c[2], 1, "42[\"toroom\",\"r1\"]", 17, true);
    ws_expect_text(c[0], "42[\"toroom-back\",\"hi\"]");
    for (int i = 0; i < 3; i++)
        close(c[i]);
}

Test(gateway, commands_in_a_batch_frame_arrive_in_order_and_bad_batches_are_dropped)
{
    start(0, 0, 0);
    struct resp r;
    int c = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    ws_expect_prefix(c, "0{", 0);
    ws_send(c, 1, "40", 2, true);
    ws_expect_prefix(c, "40{", 0);
    ws_send(c, 1, "42[\"batch\"]", 11, true);
    ws_expect_text(c, "42[\"b\",1]");
    ws_expect_text(c, "42[\"b\",2]");
    ws_expect_text(c, "42[\"b\",3]");
    ws_expect_text(c, "42[\"after\"]");
    /* the gateway still works: a second round */
    ws_send(c, 1, "42[\"batch\"]", 11, true);
    ws_expect_text(c, "42[\"b\",1]");
    close(c);
}

Test(gateway, bind_in_use)
{
    start(0, 0, 0);
    struct sio_gateway_cfg cfg = {
        .zmq_ctx = zctx, .ep = { EV_EP, CMD_EP, NULL }, .host = "127.0.0.1", .port = port,
    };
    sio_gateway *g2 = NULL;
    char err[256];
    int rc = sio_gateway_new(&g2, &cfg, err, sizeof err);
    cr_assert_lt(rc, 0);
    cr_assert_null(g2);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u: Address already in use", port);
    cr_assert_str_eq(err, want);
}

Test(gateway, raw_engineio_path)
{
    start(0, 0, 0);
    struct resp r;
    int fd = ws_open("/engine.io/?EIO=4&transport=websocket", &r);
    cr_assert_str_eq(r.raw, ws101);
    ws_expect_prefix(fd, "0{\"sid\":\"", 107);
    ws_send(fd, 1, "4hello", 6, true);
    ws_expect_text(fd, "4hello");
    ws_send(fd, 2, "\x01\x02", 2, true);
    uint8_t buf[16];
    int op;
    size_t n = ws_recv(fd, &op, buf, sizeof buf - 1);
    cr_assert_eq(op, 2);
    cr_assert_eq(n, 2);
    cr_assert_eq(buf[1], 2);
    /* Socket.IO packets are not interpreted there */
    ws_send(fd, 1, "40", 2, true);
    ws_expect_text(fd, "40");
    close(fd);
    bool one = false;
    for (int i = 0; i < 500 && !one; i++) {     /* the DISCONNECT comes asynchronously */
        pthread_mutex_lock(&lock);
        one = ndisconnect == 1;
        pthread_mutex_unlock(&lock);
        if (!one)
            usleep(10000);
    }
    cr_assert(one, "%d disconnects", ndisconnect);
    /* polling on the raw path */
    request("GET", "/engine.io/?EIO=4&transport=polling", NULL, 0, &r);
    cr_assert_eq(r.status, 200);
    char sid[21];
    memcpy(sid, r.body + 9, 20);
    sid[20] = 0;
    char url[128];
    snprintf(url, sizeof url, "/engine.io/?EIO=4&transport=polling&sid=%s", sid);
    request("POST", url, "4abc\x1e" "bAQID", 10, &r);
    cr_assert_eq(r.status, 200);
    usleep(50000);
    request("GET", url, NULL, 0, &r);
    cr_assert_eq(r.body_len, 10, "%s", r.raw);
    cr_assert(memcmp(r.body, "4abc\x1e" "bAQID", 10) == 0);
    /* a socket.io sid is unknown on the raw path */
    snprintf(url, sizeof url, "/socket.io/?EIO=4&transport=polling&sid=%s", sid);
    request("GET", url, NULL, 0, &r);
    cr_assert(strstr(r.raw, "{\"code\":1,"), "%s", r.raw);
}

/* --io-threads: the sid's 17th character names the owner thread; a
 * request that reaches another thread is handed over with its connection,
 * with the pipelined requests behind it and any answer not yet written. */
Test(gateway, io_threads_handover)
{
    io_threads = 3;
    start(0, 0, 0);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char sids[3][21] = { "", "", "" };
    int have = 0;
    for (int i = 0; i < 300 && have < 3; i++) {
        char sid[21];
        handshake(sid);
        const char *o = strchr(b64, sid[16]);
        cr_assert(o && o - b64 < 3, "owner of %s", sid);
        if (!sids[o - b64][0]) {
            memcpy(sids[o - b64], sid, 21);
            have++;
        }
    }
    io_threads = 0;
    cr_assert_eq(have, 3, "handshakes did not reach every thread");
    /* one connection, six pipelined POSTs over every thread's sessions */
    static char req[8192];
    size_t n = 0;
    for (int k = 0; k < 6; k++)
        n += (size_t)snprintf(req + n, sizeof req - n,
                              "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
                              "Host: x\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\n6",
                              sids[k % 3]);
    int fd = tcp();
    sendall(fd, req, n);
    static char all[16384];
    size_t len = 0;
    int oks = 0;
    while (oks < 6) {
        ssize_t m = recv(fd, all + len, sizeof all - 1 - len, 0);
        cr_assert_gt(m, 0, "after %d answers: %s", oks, all);
        len += (size_t)m;
        all[len] = 0;
        oks = 0;
        for (const char *p = all; (p = strstr(p, "\r\n\r\nok")) != NULL; p += 6)
            oks++;
    }
    cr_assert_null(strstr(all, "HTTP/1.1 4"), "%s", all);
    cr_assert_null(strstr(all, "HTTP/1.1 5"), "%s", all);
    close(fd);
    /* an unknown sid, whichever thread it names: the one-thread answer */
    for (int t = 0; t < 4; t++) {
        char url[128];
        snprintf(url, sizeof url, "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAA%cAAA",
                 b64[t]);
        struct resp r;
        request("GET", url, NULL, 0, &r);
        cr_assert_eq(r.status, 400);
        static const char want[] = "{\"code\":1,\"message\":\"Session ID unknown\"}";
        cr_assert_eq(r.body_len, sizeof want - 1);
        cr_assert(memcmp(r.body, want, sizeof want - 1) == 0, "%s", r.raw);
    }
}

/* ---------- limits (docs/RELIABILITY.md) ---------- */

Test(gateway, event_for_unjoined_namespace_closes)
{
    start(0, 0, 0);
    char sid[21];
    handshake(sid);
    post(sid, "40", 2);
    struct resp r;
    get(sid, &r);
    /* as the JS server: the whole connection goes, not only the packet */
    post(sid, "42/custom,5[\"echo\",1]", 21);
    get(sid, &r);
    cr_assert(r.status == 400 || (r.body_len >= 1 && r.body[0] == '1'), "%s", r.raw);
    cr_assert(disconnect_seen("transport error", 0), "last reason: %s", last_reason);
}

Test(gateway, body_limits_from_headers)
{
    start(1000, 0, 0);
    char sid[21];
    handshake(sid);
    /* Content-Length over the limit: 413 and close with no body byte sent */
    int fd = tcp();
    char req[512];
    int n = snprintf(req, sizeof req, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
                     "Host: x\r\nContent-Length: 5000000\r\n\r\n", sid);
    sendall(fd, req, (size_t)n);
    struct resp r;
    read_resp(fd, &r);
    cr_assert_eq(r.status, 413, "%s", r.raw);
    cr_assert(strstr(r.raw, "Connection: close"), "%s", r.raw);
    close(fd);
    /* a chunked body is cut at the limit: 2000 bytes in 1-byte chunks */
    fd = tcp();
    n = snprintf(req, sizeof req, "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
                 "Host: x\r\nTransfer-Encoding: chunked\r\n\r\n", sid);
    sendall(fd, req, (size_t)n);
    for (int i = 0; i < 2000; i++) {
        if (send(fd, "1\r\nx\r\n", 6, MSG_NOSIGNAL) < 0)
            break;      /* refused and closed already */
    }
    read_resp(fd, &r);
    cr_assert_eq(r.status, 413, "%s", r.raw);
    close(fd);
    /* the session is still there */
    post(sid, "40", 2);
    /* an unknown sid: 400 after the body was read, not kept, keep-alive */
    char body[900];
    memset(body, 'x', sizeof body);
    request("POST", "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA", body,
            sizeof body, &r);
    cr_assert_eq(r.status, 400, "%s", r.raw);
    cr_assert(strstr(r.raw, "Session ID unknown"), "%s", r.raw);
    cr_assert(strstr(r.raw, "Connection: keep-alive"), "%s", r.raw);
}

Test(gateway, max_connections_503)
{
    limits.max_connections = 2;
    start(0, 0, 0);
    int a = tcp(), b = tcp();
    usleep(50000);
    struct resp r;
    request("GET", "/socket.io/?EIO=4&transport=polling", NULL, 0, &r);
    cr_assert_eq(r.status, 503, "%s", r.raw);
    cr_assert(strstr(r.raw, "Too many connections"), "%s", r.raw);
    close(a);
    close(b);
    usleep(100000);
    char sid[21];
    handshake(sid);     /* room again */
}

Test(gateway, per_ip_limits_429)
{
    limits.max_conns_per_ip = 2;
    limits.max_handshakes_per_ip = 3;
    start(0, 0, 0);
    int a = tcp(), b = tcp();
    usleep(50000);
    struct resp r;
    request("GET", "/socket.io/?EIO=4&transport=polling", NULL, 0, &r);
    cr_assert_eq(r.status, 429, "%s", r.raw);
    close(a);
    close(b);
    usleep(100000);
    /* three handshakes a second from one address, the fourth is refused */
    char sid[21];
    for (int i = 0; i < 3; i++)
        handshake(sid);
    request("GET", "/socket.io/?EIO=4&transport=polling", NULL, 0, &r);
    cr_assert_eq(r.status, 429, "%s", r.raw);
    usleep(1100000);
    handshake(sid);
}

Test(gateway, connect_timeout)
{
    limits.connect_timeout_ms = 200;
    start(0, 0, 0);
    char joined[21], idle[21];
    handshake(joined);
    post(joined, "40", 2);
    handshake(idle);
    usleep(400000);
    struct resp r;
    get(idle, &r);
    cr_assert_eq(r.status, 400, "the idle session is gone: %s", r.raw);
    get(joined, &r);
    cr_assert_eq(r.status, 200, "the joined one stays: %s", r.raw);
}

Test(gateway, websocket_output_cap)
{
    limits.max_client_buffer = 64 * 1024;
    start(0, 0, 0);
    struct resp r;
    int fd = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    int small = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    /* 125-byte pings, never a read: the pongs pile up, then the server cuts
     * the connection instead of keeping them */
    uint8_t ping[125];
    memset(ping, 'p', sizeof ping);
    struct timeval tv = { 0, 200000 };
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    bool cut = false;
    for (int i = 0; i < 200000 && !cut; i++) {
        uint8_t f[4 + 2 + 125] = { 0x89, 0x80 | 125, 1, 2, 3, 4 };
        for (int j = 0; j < 125; j++)
            f[6 + j] = ping[j] ^ f[2 + j % 4];
        if (send(fd, f, sizeof f, MSG_NOSIGNAL) <= 0)
            cut = true;
    }
    cr_assert(cut, "the server kept reading a client that never reads");
    close(fd);
    /* others are served */
    char sid[21];
    handshake(sid);
}

Test(gateway, polling_queue_cap)
{
    limits.max_client_buffer = 4096;
    start(0, 0, 0);
    char a[21], b[21];
    handshake(a);
    post(a, "40", 2);
    handshake(b);
    post(b, "40", 2);
    struct resp r;
    get(a, &r);     /* CONNECT answers */
    get(b, &r);
    post(a, "42[\"join\",\"r\"]", 14);
    /* b asks, a never does: broadcasts to the room pile up for a only */
    char ev[64];
    for (int i = 0; i < 400; i++) {
        int n = snprintf(ev, sizeof ev, "42[\"toroom\",\"r\"]");
        post(b, ev, (size_t)n);
    }
    usleep(100000);
    get(a, &r);
    cr_assert(r.status == 400 || (r.body_len >= 1 && r.body[0] == '1'),
              "a slow polling client is dropped: %.200s", r.raw);
    cr_assert(disconnect_seen("transport error", 0), "last reason: %s", last_reason);
    post(b, "3", 1);    /* b is still served */
}

Test(gateway, inflight_window_pauses_reading)
{
    /* the fake hub never confirms: after the window, nothing more is read */
    limits.inflight_max = 8;
    hub_no_done = true;
    start(0, 0, 0);
    struct resp r;
    int fd = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    ws_expect_prefix(fd, "0{", 0);
    ws_send(fd, 1, "40", 2, true);
    ws_expect_prefix(fd, "40{", 0);
    for (int i = 0; i < 20; i++)
        ws_send(fd, 1, "42[\"nothing\"]", 13, true);
    usleep(200000);
    /* an acked echo after the 20 is not answered while the window is shut */
    ws_send(fd, 1, "421[\"echo\",\"x\"]", 15, true);
    struct timeval tv = { 0, 300000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t buf[64];
    int op = -1;
    ssize_t got = recv(fd, buf, sizeof buf, MSG_PEEK);
    hub_no_done = false;
    cr_assert_leq(got, 0, "answered although the window was full (op %d)", op);
    close(fd);
}

Test(gateway, volatile_emit_skips_clients_not_ready)
{
    start(0, 0, 0);
    struct resp r;
    /* a reads its WebSocket: it is ready, it gets the volatile emit */
    int a = ws_open("/socket.io/?EIO=4&transport=websocket", &r);
    ws_expect_prefix(a, "0{", 0);
    ws_send(a, 1, "40", 2, true);
    ws_expect_prefix(a, "40{", 0);
    /* c polls, but has no GET pending: it is not ready, it misses it */
    char b[21], c[21];
    handshake(b);
    post(b, "40", 2);
    get(b, &r);
    handshake(c);
    post(c, "40", 2);
    get(c, &r);
    post(b, "42[\"vbcast\"]", 12);
    ws_expect_text(a, "42[\"vbcast-back\",\"hi\"]");
    post(b, "42[\"bcast\"]", 11);
    ws_expect_text(a, "42[\"bcast-back\",\"hi\"]");
    get(c, &r);
    cr_assert_eq(r.body_len, 21, "only the plain emit: %s", r.raw);
    cr_assert(memcmp(r.body, "42[\"bcast-back\",\"hi\"]", 21) == 0, "%s", r.raw);
    close(a);
}

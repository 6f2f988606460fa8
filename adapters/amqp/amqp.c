/* amqp.c: the AMQP bridge (rabbitmq-c), python-socketio's KombuManager and
 * AioPikaManager on RabbitMQ.
 *
 * Those managers publish each message to a fanout exchange named after
 * their channel ("socketio"; non-durable, not auto-delete) and every server
 * reads it through its own queue bound to that exchange (kombu: a
 * non-durable queue "flask-socketio.<uuid>" with x-expires 300 s). The
 * body is a pickle (5.7.2: content type application/data, encoding
 * binary; aio-pika: no content type) or JSON (5.14+: text/plain, utf-8):
 * sio_bridge_py_message() tells them apart and turns them into bus
 * commands.
 *
 * One thread per bridge owns the rabbitmq-c connection (blocking, with
 * timeouts) and a zmq DEALER connected to the hub's "workers" endpoint. It
 * declares the exchange with kombu's arguments (falling back to a passive
 * declaration if someone declared it otherwise), declares its own queue
 * "sio-bridge.<random>" (non-durable, x-expires 300 s, so that a short
 * connection loss loses nothing), binds, consumes with acks, and sends
 * [topic, envelope] to the hub without blocking (a full queue counts the
 * message as rejected). When the broker goes away it reconnects with
 * backoff (100 ms doubling to 5 s) and declares everything again.
 * Stopping sets a flag that the thread polls every 200 ms. Start, stop,
 * counters and publishing's queue are transport.c's and publish.c's.
 */
#include "adapters/transport.h"
#include "proto/bus.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>
#include <sio/error.h>
#include <sio/log.h>
#include "base/buf.h"

SIO_LOG_TOPIC_STATIC(topic, "bridge.amqp");

#define STATS_EVERY_S 60
#define POLL_MS 200
#define TIMEOUT_S 5
#define HEARTBEAT_S 30
#define QUEUE_EXPIRES_MS 300000     /* as KombuManager / AioPikaManager */
#define MAX_BODY (16u << 20)

struct amqp_bridge {
    struct sio_bridge_base base;    /* first: transport.c's part */
    char host[256];
    int port;
    char user[128], password[128], vhost[128];
    char exchange[128];
    char queue[160];
    unsigned backoff_ms;
    time_t last_stats;
    /* publishing: a connection of its own, used on the publisher's sender thread */
    amqp_connection_state_t pconn;
    amqp_channel_t pch;
};

#define URL_FORM "amqp://[user[:password]@]host[:port][/vhost][?exchange=NAME&queue=NAME]"

static int pct_decode(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c == '%') {
            char hex[3];
            char *end;
            if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2]))
                return -1;
            hex[0] = s[i + 1], hex[1] = s[i + 2], hex[2] = 0;
            c = (unsigned)strtoul(hex, &end, 16);
            if (end != hex + 2)
                return -1;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return -1;
        dst[o++] = (char)c;
    }
    dst[o] = 0;
    return 0;
}

static int set_str(char *dst, size_t cap, const char *s, size_t n)
{
    return pct_decode(dst, cap, s, n);
}

/* kombu's forms: "amqp://guest:guest@host:5672//" is vhost "/", and so are
 * "amqp://host" and "amqp://host/"; "amqp://host/v" is vhost "v". */
static int parse_url(struct amqp_bridge *b, const char *url, char *err, size_t errlen)
{
    const char *p = url;
    if (strncmp(p, "amqp://", 7) != 0)
        goto bad;
    p += 7;
    snprintf(b->user, sizeof b->user, "guest");
    snprintf(b->password, sizeof b->password, "guest");
    snprintf(b->vhost, sizeof b->vhost, "/");
    snprintf(b->exchange, sizeof b->exchange, "socketio");
    b->port = 5672;
    size_t auth_len = strcspn(p, "/?");
    const char *at = memchr(p, '@', auth_len);
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (set_str(b->user, sizeof b->user, p, (size_t)((colon ? colon : at) - p)) < 0)
            goto bad;
        if (colon && set_str(b->password, sizeof b->password, colon + 1,
                             (size_t)(at - colon - 1)) < 0)
            goto bad;
        p = at + 1;
    }
    if (sio__bridge_parse_hostport(&p, "/?", b->host, sizeof b->host, &b->port) < 0)
        goto bad;
    if (*p == '/') {
        p++;
        size_t vl = strcspn(p, "?");
        if (vl > 0 && set_str(b->vhost, sizeof b->vhost, p, vl) < 0)
            goto bad;
        p += vl;
    }
    if (*p == '?') {
        p++;
        while (*p) {
            size_t kl = strcspn(p, "=&");
            if (p[kl] != '=')
                goto bad;
            const char *v = p + kl + 1;
            size_t vl = strcspn(v, "&");
            if ((kl == 8 && strncmp(p, "exchange", 8) == 0) ||
                (kl == 7 && strncmp(p, "channel", 7) == 0)) {
                if (vl == 0 || set_str(b->exchange, sizeof b->exchange, v, vl) < 0)
                    goto bad;
            } else if (kl == 5 && strncmp(p, "queue", 5) == 0) {
                if (vl == 0 || set_str(b->queue, sizeof b->queue, v, vl) < 0)
                    goto bad;
            } else {
                goto bad;
            }
            p = v + vl;
            if (*p == '&')
                p++;
        }
    } else if (*p) {
        goto bad;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad bridge url '%s' (" URL_FORM ")", url);
    return -EINVAL;
}

static void on_body(struct amqp_bridge *b, const amqp_envelope_t *e)
{
    char what[96] = "python-socketio (no content type)";
    const amqp_basic_properties_t *pr = &e->message.properties;
    if ((pr->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG) && pr->content_type.len < 64)
        snprintf(what, sizeof what, "python-socketio (%.*s)", (int)pr->content_type.len,
                 (const char *)pr->content_type.bytes);
    if (e->message.body.len > MAX_BODY) {
        char why[64];
        snprintf(why, sizeof why, "body of %zu bytes", e->message.body.len);
        sio__bridge_reject(&b->base, what, why);
        return;
    }
    sio__bridge_py_in(&b->base, e->message.body.bytes, e->message.body.len, what);
}

static bool rpc_ok(struct amqp_bridge *b, amqp_rpc_reply_t r, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return true;
    case AMQP_RESPONSE_NONE:
        sio_log_info(topic, "%s:%d: %s: no reply", b->host, b->port, what);
        return false;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        sio_log_info(topic, "%s:%d: %s: %s", b->host, b->port, what,
                     amqp_error_string2(r.library_error));
        return false;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            const amqp_connection_close_t *m = r.reply.decoded;
            sio_log_error(topic, "%s:%d: %s: connection closed by the broker: %u %.*s", b->host,
                          b->port, what, m->reply_code, (int)m->reply_text.len,
                          (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            const amqp_channel_close_t *m = r.reply.decoded;
            sio_log_warn(topic, "%s:%d: %s: channel closed by the broker: %u %.*s", b->host,
                         b->port, what, m->reply_code, (int)m->reply_text.len,
                         (const char *)m->reply_text.bytes);
        } else {
            sio_log_error(topic, "%s:%d: %s: broker error (method 0x%08x)", b->host, b->port,
                          what, (unsigned)r.reply.id);
        }
        return false;
    }
    return false;
}

/* Open, log in, declare, bind, consume. Returns the channel used, 0 on failure. */
static amqp_channel_t setup(struct amqp_bridge *b, amqp_connection_state_t conn)
{
    struct timeval tmo = { TIMEOUT_S, 0 };
    amqp_socket_t *s = amqp_tcp_socket_new(conn);
    if (!s) {
        sio_log_error(topic, "out of memory");
        return 0;
    }
    amqp_set_handshake_timeout(conn, &tmo);
    amqp_set_rpc_timeout(conn, &tmo);
    int st = amqp_socket_open_noblock(s, b->host, b->port, &tmo);
    if (st != AMQP_STATUS_OK) {
        sio_log_info(topic, "%s:%d: cannot connect: %s", b->host, b->port, amqp_error_string2(st));
        return 0;
    }
    if (!rpc_ok(b, amqp_login(conn, b->vhost, 0, AMQP_DEFAULT_FRAME_SIZE, HEARTBEAT_S,
                              AMQP_SASL_METHOD_PLAIN, b->user, b->password), "login"))
        return 0;
    amqp_channel_t ch = 1;
    amqp_channel_open(conn, ch);
    if (!rpc_ok(b, amqp_get_rpc_reply(conn), "channel.open"))
        return 0;
    amqp_bytes_t ex = amqp_cstring_bytes(b->exchange);
    /* KombuManager: Exchange(channel, type='fanout', durable=False); aio-pika alike. */
    amqp_exchange_declare(conn, ch, ex, amqp_cstring_bytes("fanout"), 0, 0, 0, 0, amqp_empty_table);
    if (!rpc_ok(b, amqp_get_rpc_reply(conn), "exchange.declare")) {
        /* Declared with other arguments (the channel is closed): use it as it is. */
        ch = 2;
        amqp_channel_open(conn, ch);
        if (!rpc_ok(b, amqp_get_rpc_reply(conn), "channel.open"))
            return 0;
        amqp_exchange_declare(conn, ch, ex, amqp_cstring_bytes("fanout"), 1, 0, 0, 0,
                              amqp_empty_table);
        if (!rpc_ok(b, amqp_get_rpc_reply(conn), "exchange.declare (passive)"))
            return 0;
    }
    amqp_table_entry_t qarg = { .key = amqp_cstring_bytes("x-expires"),
                                .value = { .kind = AMQP_FIELD_KIND_I32,
                                           .value = { .i32 = QUEUE_EXPIRES_MS } } };
    amqp_table_t qargs = { .num_entries = 1, .entries = &qarg };
    amqp_bytes_t q = amqp_cstring_bytes(b->queue);
    amqp_queue_declare(conn, ch, q, 0, 0, 0, 0, qargs);
    if (!rpc_ok(b, amqp_get_rpc_reply(conn), "queue.declare"))
        return 0;
    amqp_queue_bind(conn, ch, q, ex, amqp_cstring_bytes(""), amqp_empty_table);
    if (!rpc_ok(b, amqp_get_rpc_reply(conn), "queue.bind"))
        return 0;
    amqp_basic_qos(conn, ch, 0, 64, 0);
    if (!rpc_ok(b, amqp_get_rpc_reply(conn), "basic.qos"))
        return 0;
    amqp_basic_consume(conn, ch, q, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (!rpc_ok(b, amqp_get_rpc_reply(conn), "basic.consume"))
        return 0;
    return ch;
}

static void log_stats(struct amqp_bridge *b)
{
    time_t now = time(NULL);
    if (now - b->last_stats < STATS_EVERY_S)
        return;
    b->last_stats = now;
    sio__bridge_log_stats(&b->base, "", true);
}

/* Consume until the connection fails or we are stopped. true: close it cleanly. */
static bool consume(struct amqp_bridge *b, amqp_connection_state_t conn, amqp_channel_t ch)
{
    while (!atomic_load(&b->base.stopping)) {
        log_stats(b);
        amqp_envelope_t e;
        struct timeval tv = { 0, POLL_MS * 1000 };
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &e, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            on_body(b, &e);
            int st = amqp_basic_ack(conn, e.channel, e.delivery_tag, 0);
            amqp_destroy_envelope(&e);
            if (st != AMQP_STATUS_OK) {
                sio_log_warn(topic, "%s:%d: ack: %s", b->host, b->port, amqp_error_string2(st));
                return false;
            }
            continue;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
            /* A frame other than a delivery: read it; a close ends this connection. */
            amqp_frame_t f;
            struct timeval ftv = { TIMEOUT_S, 0 };
            if (amqp_simple_wait_frame_noblock(conn, &f, &ftv) != AMQP_STATUS_OK)
                return false;
            if (f.frame_type == AMQP_FRAME_METHOD &&
                (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                 f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
                sio_log_warn(topic, "%s:%d: closed by the broker", b->host, b->port);
                return false;
            }
            (void)ch;
            continue;
        }
        sio_log_warn(topic, "%s:%d: connection lost: %s", b->host, b->port,
                     r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                         ? amqp_error_string2(r.library_error) : "broker error");
        return false;
    }
    return true;
}

static void *run(void *arg)
{
    struct amqp_bridge *b = arg;
    bool ever = false;
    while (!atomic_load(&b->base.stopping)) {
        amqp_connection_state_t conn = amqp_new_connection();
        if (!conn) {
            sio__bridge_sleep(&b->base, SIO_BRIDGE_BACKOFF_MAX_MS);
            continue;
        }
        amqp_channel_t ch = setup(b, conn);
        bool clean = false;
        if (ch) {
            sio_log_info(topic, "%s:%d: consuming exchange '%s' through queue '%s'", b->host,
                         b->port, b->exchange, b->queue);
            if (ever)
                atomic_fetch_add(&b->base.reconnects, 1);
            ever = true;
            b->backoff_ms = SIO_BRIDGE_BACKOFF_MIN_MS;
            clean = consume(b, conn, ch);
        }
        if (clean)
            amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(conn);
        if (atomic_load(&b->base.stopping))
            break;
        unsigned ms = sio__bridge_backoff(&b->backoff_ms);
        sio_log_debug(topic, "%s:%d: reconnecting in %u ms", b->host, b->port, ms);
        sio__bridge_sleep(&b->base, ms);
    }
    return NULL;
}

/* ---- publishing (on the publisher's sender thread) ---- */

static void pub_disconnect(void *ud)
{
    struct amqp_bridge *b = ud;
    if (!b->pconn)
        return;
    if (b->pch)
        amqp_connection_close(b->pconn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(b->pconn);
    b->pconn = NULL;
    b->pch = 0;
}

static int pub_connect(void *ud, char *err, size_t errlen)
{
    struct amqp_bridge *b = ud;
    struct timeval tmo = { TIMEOUT_S, 0 };
    pub_disconnect(b);
    if (!(b->pconn = amqp_new_connection()))
        return -ENOMEM;
    amqp_socket_t *s = amqp_tcp_socket_new(b->pconn);
    if (!s)
        return -ENOMEM;
    amqp_set_handshake_timeout(b->pconn, &tmo);
    amqp_set_rpc_timeout(b->pconn, &tmo);
    int st = amqp_socket_open_noblock(s, b->host, b->port, &tmo);
    if (st != AMQP_STATUS_OK) {
        snprintf(err, errlen, "%s", amqp_error_string2(st));
        return -EIO;
    }
    /* no heartbeats: this connection is written to only when there is
     * something to publish; a dead broker shows as a failed write */
    if (!rpc_ok(b, amqp_login(b->pconn, b->vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
                              AMQP_SASL_METHOD_PLAIN, b->user, b->password), "login (publish)"))
        return -EIO;
    amqp_bytes_t ex = amqp_cstring_bytes(b->exchange);
    amqp_channel_open(b->pconn, 1);
    if (!rpc_ok(b, amqp_get_rpc_reply(b->pconn), "channel.open (publish)"))
        return -EIO;
    b->pch = 1;
    amqp_exchange_declare(b->pconn, 1, ex, amqp_cstring_bytes("fanout"), 0, 0, 0, 0,
                          amqp_empty_table);
    if (!rpc_ok(b, amqp_get_rpc_reply(b->pconn), "exchange.declare (publish)")) {
        /* declared otherwise by someone: publish to it as it is */
        amqp_channel_open(b->pconn, 2);
        if (!rpc_ok(b, amqp_get_rpc_reply(b->pconn), "channel.open (publish)"))
            return -EIO;
        b->pch = 2;
    }
    return 0;
}

static int pub_send(void *ud, const void *msg, size_t len)
{
    struct amqp_bridge *b = ud;
    /* as KombuManager: 5.7.2 pickles are application/data + binary, the
     * JSON of 5.14+ text/plain + utf-8; persistent delivery mode */
    bool pk = b->base.format == SIO_BRIDGE_PICKLE;
    amqp_basic_properties_t pr = {
        ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                  AMQP_BASIC_DELIVERY_MODE_FLAG,
        .content_type = amqp_cstring_bytes(pk ? "application/data" : "text/plain"),
        .content_encoding = amqp_cstring_bytes(pk ? "binary" : "utf-8"),
        .delivery_mode = 2,
    };
    amqp_bytes_t body = { .len = len, .bytes = (void *)msg };
    int st = amqp_basic_publish(b->pconn, b->pch, amqp_cstring_bytes(b->exchange),
                                amqp_cstring_bytes(""), 0, 0, &pr, body);
    return st == AMQP_STATUS_OK ? 0 : -EIO;
}

static const struct sio_bridge_pub_ops pub_ops = {
    .connect = pub_connect, .send = pub_send, .disconnect = pub_disconnect,
};

static void close_bridge(struct sio_bridge_base *base)
{
    pub_disconnect(base);
}

static int open_bridge(struct sio_bridge_base *base, const char *url, char *err, size_t errlen)
{
    struct amqp_bridge *b = (struct amqp_bridge *)base;
    base->log = topic;
    b->backoff_ms = SIO_BRIDGE_BACKOFF_MIN_MS;
    b->last_stats = time(NULL);
    int rc = parse_url(b, url, err, errlen);
    if (rc < 0)
        return rc;
    if (!b->queue[0]) {
        char id[17];
        sio_random_id(id, 16);
        id[16] = 0;
        snprintf(b->queue, sizeof b->queue, "sio-bridge.%s", id);
    }
    snprintf(base->name, sizeof base->name, "amqp://%s:%d vhost '%s' exchange '%s'", b->host,
             b->port, b->vhost, b->exchange);
    return 0;
}

const struct sio_bridge_transport sio__bridge_amqp = {
    .scheme = "amqp", .size = sizeof(struct amqp_bridge),
    .open = open_bridge, .run = run, .close = close_bridge, .pub = &pub_ops,
};

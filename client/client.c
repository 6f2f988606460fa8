/* client.c: the event-driven Socket.IO client (see <sio/client.h>).
 *
 * Owns the handler tables, the namespaces of the current connection, the
 * pending acks and the reconnection timer; the Engine.IO session below is
 * an engine.c sio_eng, replaced by a new one on every (re)connection.
 * Socket.IO packets are decoded and encoded by proto/sio.c.
 * For https/wss it also owns the OpenSSL SSL_CTX (made at the first TLS
 * connect from the tls_* options), shared by every socket of the engine.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <event2/event.h>
#include <http_parser.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sio/client.h>
#include "base/buf.h"
#include "proto/bus.h"
#include "client/engine.h"
#include "proto/sio.h"

SIO_LOG_TOPIC_STATIC(topic, "client.sio");

struct handler {
    char *nsp, *event;
    sio_client_event_fn fn;
    void *ud;
    struct handler *next;
};

struct nsp_handlers {
    struct sio_client_namespace h;      /* h.nsp owned */
    struct nsp_handlers *next;
};

enum ns_state { NS_IDLE, NS_CONNECTING, NS_CONNECTED };

struct ns {
    char *name;
    enum ns_state state;
    char sid[64];
};

struct pending_ack {
    struct sio_client *c;
    char *nsp;
    int64_t id;
    sio_client_ack_fn cb;
    void *ud;
    struct event *timer;
    struct pending_ack *next;
};

struct att {
    uint8_t *data;
    size_t len;
};

enum c_state { C_IDLE, C_CONNECTING, C_CONNECTED, C_RECONNECT_WAIT, C_DISCONNECTING,
               C_DISCONNECTED };

struct sio_client {
    struct event_base *base;
    struct sio_client_opts opts;
    char *path;
    char **headers;
    char *tls_ca_file, *tls_cert_file, *tls_key_file;
    SSL_CTX *ssl_ctx;
    bool tls;                   /* the current URL is https/wss */
    struct handler *handlers;
    struct nsp_handlers *nsph;
    /* the connection */
    char *host, *query;
    unsigned port;
    struct ns *ns;
    size_t nns;
    json_t *auth;
    struct sio_eng *eng;
    enum c_state state;
    bool ever_connected;        /* some namespace connected in this session */
    unsigned attempts;
    struct event *reconnect_timer;
    void (*on_reconnect_failed)(sio_client *c, unsigned attempts, void *ud);
    void *reconnect_failed_ud;
    struct task *tasks;         /* sio_client_start_task(), not run yet */
    int64_t next_task_id;
    int64_t next_id;
    struct pending_ack *acks;
    /* a binary packet waiting for its attachments */
    struct sio_packet bpkt;
    bool bactive;
    struct att *atts;
    unsigned natts;
    char last_error[256];
};

static const struct sio_eng_cbs eng_cbs;
static void task_free(struct task *t);

struct task {
    struct task *next;
    sio_client *c;
    int64_t id;
    struct event *ev;
    void (*fn)(sio_client *c, void *ud);
    void *ud;
};

SIO_EXPORT void sio_client_opts_init(struct sio_client_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->transports = SIO_TRANSPORT_DEFAULT;
    o->path = "/socket.io/";
    o->reconnection = true;
    o->reconnection_delay_ms = 1000;
    o->reconnection_delay_max_ms = 5000;
    o->randomization_factor = 0.5;
    o->connect_timeout_ms = 20000;
    o->max_payload = 100u * 1000 * 1000;
}

static const char *nsp_or_root(const char *nsp)
{
    return nsp && *nsp ? nsp : "/";
}

/* ---- lookups ------------------------------------------------------------ */

static struct ns *find_ns(sio_client *c, const char *nsp)
{
    for (size_t i = 0; i < c->nns; i++)
        if (strcmp(c->ns[i].name, nsp) == 0)
            return &c->ns[i];
    return NULL;
}

static const struct sio_client_namespace *find_nsph(const sio_client *c, const char *nsp)
{
    for (struct nsp_handlers *h = c->nsph; h; h = h->next)
        if (strcmp(h->h.nsp, nsp) == 0)
            return &h->h;
    return NULL;
}

static struct handler *find_exact(const sio_client *c, const char *nsp, const char *ev)
{
    for (struct handler *h = c->handlers; h; h = h->next)
        if (strcmp(h->nsp, nsp) == 0 && strcmp(h->event, ev) == 0)
            return h;
    return NULL;
}

static struct handler *find_handler(const sio_client *c, const char *nsp, const char *ev)
{
    struct handler *h;
    if ((h = find_exact(c, nsp, ev)) || (h = find_exact(c, nsp, "*")) ||
        (h = find_exact(c, "*", ev)) || (h = find_exact(c, "*", "*")))
        return h;
    return NULL;
}

/* ---- sending ------------------------------------------------------------ */

/* Encode and send one packet with data (may hold binary values). */
static int send_packet(sio_client *c, enum sio_packet_type type, const char *nsp,
                       int64_t id, json_t *data)
{
    if (!c->eng)
        return SIO_ERR_CLOSED;
    struct sio_bins bins = { 0 };
    struct sio_buf json = SIO_BUF_INIT, pkt = SIO_BUF_INIT;
    json_t *dec = NULL;
    int rc = -ENOMEM;
    if (data) {
        dec = sio_json_deconstruct(data, &bins);
        if (!dec || sio_json_dump(&json, dec) < 0)
            goto out;
    }
    if (bins.n) {
        if (type == SIO_PKT_EVENT)
            type = SIO_PKT_BINARY_EVENT;
        else if (type == SIO_PKT_ACK)
            type = SIO_PKT_BINARY_ACK;
    }
    if (sio_packet_encode(&pkt, type, nsp, strlen(nsp), id, (unsigned)bins.n,
                          (const char *)json.data, json.len) < 0)
        goto out;
    sio_log_trace(topic, "%p: send %.*s", (void *)c, (int)(pkt.len > 200 ? 200 : pkt.len),
                  (char *)pkt.data);
    rc = sio__eng_send(c->eng, false, pkt.data, pkt.len);
    for (size_t i = 0; rc == 0 && i < bins.n; i++)
        rc = sio__eng_send(c->eng, true, bins.v[i].data, bins.v[i].len);
out:
    json_decref(dec);
    sio_bins_clear(&bins);
    sio_buf_clear(&json);
    sio_buf_clear(&pkt);
    return rc;
}

static json_t *event_data(const char *event, json_t *args)
{
    json_t *data = json_array();
    if (!data || json_array_append_new(data, json_string(event)) < 0)
        goto fail;
    if (args && json_is_array(args)) {
        if (json_array_extend(data, args) < 0)
            goto fail;
    } else if (args) {
        if (json_array_append(data, args) < 0)
            goto fail;
    }
    return data;
fail:
    json_decref(data);
    return NULL;
}

/* ---- acks --------------------------------------------------------------- */

static void ack_free(struct pending_ack *a)
{
    if (a->timer)
        event_free(a->timer);
    free(a->nsp);
    free(a);
}

static struct pending_ack *ack_take(sio_client *c, const char *nsp, int64_t id)
{
    for (struct pending_ack **pp = &c->acks; *pp; pp = &(*pp)->next) {
        struct pending_ack *a = *pp;
        if (a->id == id && (!nsp || strcmp(a->nsp, nsp) == 0)) {
            *pp = a->next;
            return a;
        }
    }
    return NULL;
}

static void ack_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pending_ack *a = arg;
    sio_client *c = a->c;
    struct pending_ack *t = ack_take(c, a->nsp, a->id);
    if (!t)
        return;
    t->cb(c, SIO_ERR_TIMEOUT, NULL, t->ud);
    ack_free(t);
}

/* Fail the pending acks of nsp (NULL = all) with SIO_ERR_CLOSED. */
static void fail_acks(sio_client *c, const char *nsp)
{
    struct pending_ack *failed = NULL, **pp = &c->acks;
    while (*pp) {
        struct pending_ack *a = *pp;
        if (!nsp || strcmp(a->nsp, nsp) == 0) {
            *pp = a->next;
            a->next = failed;
            failed = a;
        } else {
            pp = &a->next;
        }
    }
    while (failed) {
        struct pending_ack *a = failed;
        failed = a->next;
        a->cb(c, SIO_ERR_CLOSED, NULL, a->ud);
        ack_free(a);
    }
}

/* ---- receiving ---------------------------------------------------------- */

static void abort_conn(sio_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void abort_conn(sio_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
    va_end(ap);
    sio_log_error(topic, "%p: %s", (void *)c, c->last_error);
    if (c->eng)
        sio__eng_abort(c->eng, c->last_error);
}

static bool any_ns_alive(const sio_client *c)
{
    for (size_t i = 0; i < c->nns; i++)
        if (c->ns[i].state != NS_IDLE)
            return true;
    return false;
}

/* Every namespace is gone by the server's will: close, no reconnection. */
static void maybe_close_all(sio_client *c)
{
    if (any_ns_alive(c) || !c->eng)
        return;
    c->state = C_DISCONNECTING;
    sio__eng_close(c->eng);
}

static void on_event_packet(sio_client *c, struct ns *ns, struct sio_packet *p)
{
    const char *event = json_string_value(json_array_get(p->data, 0));
    json_t *args = json_array();
    if (!args)
        return;
    for (size_t i = 1; i < json_array_size(p->data); i++)
        json_array_append(args, json_array_get(p->data, i));
    struct handler *h = find_handler(c, ns->name, event);
    json_t *ret = NULL;
    if (h) {
        ret = h->fn(c, ns->name, event, args, p->id >= 0, h->ud);
    } else {
        sio_log_debug(topic, "%p: no handler for %s %s", (void *)c, ns->name, event);
    }
    if (p->id >= 0 && c->eng && ns->state == NS_CONNECTED) {
        json_t *ackdata;
        if (!ret)
            ackdata = json_array();
        else if (json_is_array(ret))
            ackdata = json_incref(ret);
        else
            ackdata = json_pack("[O]", ret);
        if (ackdata)
            send_packet(c, SIO_PKT_ACK, ns->name, p->id, ackdata);
        json_decref(ackdata);
    }
    json_decref(ret);
    json_decref(args);
}

static void dispatch(sio_client *c, struct sio_packet *p)
{
    struct ns *ns = find_ns(c, p->nsp);
    if (!ns) {
        sio_log_debug(topic, "%p: packet for unknown namespace %s", (void *)c, p->nsp);
        return;
    }
    const struct sio_client_namespace *nh = find_nsph(c, ns->name);
    switch (p->type) {
    case SIO_PKT_CONNECT: {
        /* a CONNECT reply after sio_client_disconnect() (which set the
         * namespace idle) is stale: no on_connect, and the client must not
         * look connected, or the engine's close would reconnect */
        if (ns->state != NS_CONNECTING || c->state == C_DISCONNECTING ||
            c->state == C_DISCONNECTED)
            return;
        const char *sid = json_string_value(json_object_get(p->data, "sid"));
        snprintf(ns->sid, sizeof ns->sid, "%s", sid ? sid : "");
        ns->state = NS_CONNECTED;
        c->state = C_CONNECTED;
        c->ever_connected = true;
        c->attempts = 0;
        sio_log_debug(topic, "%p: namespace %s connected sid=%s", (void *)c, ns->name, ns->sid);
        if (nh && nh->on_connect)
            nh->on_connect(c, ns->name, nh->ud);
        break;
    }
    case SIO_PKT_CONNECT_ERROR:
        ns->state = NS_IDLE;
        sio_log_debug(topic, "%p: namespace %s refused", (void *)c, ns->name);
        if (nh && nh->on_connect_error)
            nh->on_connect_error(c, ns->name, p->data, nh->ud);
        maybe_close_all(c);
        break;
    case SIO_PKT_DISCONNECT:
        if (ns->state == NS_IDLE)
            return;
        ns->state = NS_IDLE;
        ns->sid[0] = 0;
        fail_acks(c, ns->name);
        if (nh && nh->on_disconnect)
            nh->on_disconnect(c, ns->name, SIO_REASON_SERVER_DISCONNECT, nh->ud);
        maybe_close_all(c);
        break;
    case SIO_PKT_EVENT:
    case SIO_PKT_BINARY_EVENT:
        /* python-socketio sends what its connect handler emits before the
         * CONNECT reply: accept events while connecting too */
        if (ns->state != NS_IDLE)
            on_event_packet(c, ns, p);
        break;
    case SIO_PKT_ACK:
    case SIO_PKT_BINARY_ACK: {
        struct pending_ack *a = ack_take(c, ns->name, p->id);
        if (!a) {
            sio_log_debug(topic, "%p: ack %lld unknown", (void *)c, (long long)p->id);
            return;
        }
        a->cb(c, 0, p->data, a->ud);
        ack_free(a);
        break;
    }
    }
}

static void binary_reset(sio_client *c)
{
    for (unsigned i = 0; i < c->natts; i++)
        free(c->atts[i].data);
    free(c->atts);
    c->atts = NULL;
    c->natts = 0;
    if (c->bactive)
        sio_packet_clear(&c->bpkt);
    c->bactive = false;
}

static void binary_complete(sio_client *c)
{
    struct sio_bin *bins = calloc(c->natts ? c->natts : 1, sizeof *bins);
    if (!bins) {
        abort_conn(c, "out of memory");
        return;
    }
    for (unsigned i = 0; i < c->natts; i++)
        bins[i] = (struct sio_bin){ c->atts[i].data, c->atts[i].len };
    int rc = sio_packet_reconstruct(c->bpkt.data, bins, c->natts);
    free(bins);
    if (rc < 0) {
        abort_conn(c, "bad binary packet from the server: %s", sio_strerror(rc));
        binary_reset(c);
        return;
    }
    struct sio_packet p = c->bpkt;
    c->bactive = false;
    binary_reset(c);
    dispatch(c, &p);
    sio_packet_clear(&p);
}

static void eng_message(void *ud, bool binary, const uint8_t *data, size_t len)
{
    sio_client *c = ud;
    if (binary) {
        if (!c->bactive) {
            abort_conn(c, "unexpected binary message from the server");
            return;
        }
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy) {
            abort_conn(c, "out of memory");
            return;
        }
        memcpy(copy, data, len);
        c->atts[c->natts++] = (struct att){ copy, len };
        if (c->natts == c->bpkt.attachments)
            binary_complete(c);
        return;
    }
    if (c->bactive) {
        abort_conn(c, "text packet while %u attachments were expected",
                   c->bpkt.attachments - c->natts);
        binary_reset(c);
        return;
    }
    struct sio_packet p;
    int rc = sio_packet_decode((const char *)data, len, c->opts.max_payload, &p);
    if (rc < 0) {
        abort_conn(c, "bad packet from the server: %s: %.80s", sio_strerror(rc),
                   (const char *)data);
        return;
    }
    sio_log_trace(topic, "%p: recv %.*s", (void *)c, (int)(len > 200 ? 200 : len), data);
    if ((p.type == SIO_PKT_BINARY_EVENT || p.type == SIO_PKT_BINARY_ACK) && p.attachments) {
        c->atts = calloc(p.attachments, sizeof *c->atts);
        if (!c->atts) {
            sio_packet_clear(&p);
            abort_conn(c, "out of memory");
            return;
        }
        c->bpkt = p;
        c->bactive = true;
        return;
    }
    dispatch(c, &p);
    sio_packet_clear(&p);
}

/* ---- connection lifecycle ----------------------------------------------- */

static void send_connects(sio_client *c)
{
    for (size_t i = 0; i < c->nns; i++) {
        json_t *auth = json_is_object(c->auth) ? c->auth : NULL;
        if (send_packet(c, SIO_PKT_CONNECT, c->ns[i].name, -1, auth) < 0)
            abort_conn(c, "cannot send CONNECT");
    }
}

static void eng_open(void *ud, const struct sio_eio_open *hs)
{
    sio_client *c = ud;
    send_connects(c);
}

static int start_engine(sio_client *c)
{
    for (size_t i = 0; i < c->nns; i++)
        c->ns[i].state = NS_CONNECTING;
    struct sio_eng_cfg cfg = {
        .host = c->host, .port = c->port, .path = c->path, .query = c->query,
        .headers = (const char *const *)c->headers, .transports = c->opts.transports,
        .connect_timeout_ms = c->opts.connect_timeout_ms,
        .max_payload = c->opts.max_payload,
        .ssl_ctx = c->tls ? c->ssl_ctx : NULL, .tls_no_verify = c->opts.tls_no_verify,
        .no_h2 = c->opts.no_h2,
    };
    return sio__eng_new(&c->eng, c->base, &cfg, &eng_cbs, c);
}

static unsigned backoff_ms(sio_client *c)
{
    double d = c->opts.reconnection_delay_ms;
    for (unsigned i = 0; i < c->attempts && d < c->opts.reconnection_delay_max_ms; i++)
        d *= 2;
    if (d > c->opts.reconnection_delay_max_ms)
        d = c->opts.reconnection_delay_max_ms;
    double f = c->opts.randomization_factor;
    if (f > 0) {
        uint32_t u;
        sio_random_bytes(&u, sizeof u);     /* random() is never seeded: clients would move in step */
        double r = (double)u / (double)UINT32_MAX;          /* 0..1 */
        d *= 1.0 + f * (2.0 * r - 1.0);
    }
    return d < 0 ? 0 : (unsigned)d;
}

static void schedule_reconnect(sio_client *c)
{
    if (c->opts.reconnection_attempts && c->attempts >= c->opts.reconnection_attempts) {
        sio_log_info(topic, "%p: giving up after %u reconnection attempts", (void *)c,
                     c->attempts);
        c->state = C_DISCONNECTED;
        if (c->on_reconnect_failed)
            c->on_reconnect_failed(c, c->attempts, c->reconnect_failed_ud);
        return;
    }
    unsigned ms = backoff_ms(c);
    c->attempts++;
    c->state = C_RECONNECT_WAIT;
    sio_log_info(topic, "%p: reconnecting in %u ms (attempt %u)", (void *)c, ms, c->attempts);
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_add(c->reconnect_timer, &tv);
}

static void reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    sio_client *c = arg;
    if (c->state != C_RECONNECT_WAIT)
        return;
    c->state = C_CONNECTING;
    if (start_engine(c) < 0)
        schedule_reconnect(c);
}

static void eng_close(void *ud, const char *reason, const char *detail)
{
    sio_client *c = ud;
    /* reason is a static string; detail lives in the engine */
    if (strcmp(reason, SIO_REASON_CLIENT_DISCONNECT) != 0)
        snprintf(c->last_error, sizeof c->last_error, "%s: %s", reason, detail);
    sio_log_debug(topic, "%p: engine closed: %s (%s)", (void *)c, reason, detail);
    sio__eng_destroy(&c->eng);      /* allowed from on_close */
    binary_reset(c);
    enum c_state was = c->state;
    if (was == C_DISCONNECTING || was == C_DISCONNECTED) {
        c->state = C_DISCONNECTED;
        fail_acks(c, NULL);
        return;
    }
    bool reconnect = c->opts.reconnection && c->ever_connected;
    c->state = reconnect ? C_RECONNECT_WAIT : C_DISCONNECTED;
    fail_acks(c, NULL);
    for (size_t i = 0; i < c->nns; i++) {
        struct ns *ns = &c->ns[i];
        enum ns_state st = ns->state;
        ns->state = NS_IDLE;
        ns->sid[0] = 0;
        const struct sio_client_namespace *nh = find_nsph(c, ns->name);
        if (st == NS_CONNECTED && nh && nh->on_disconnect) {
            nh->on_disconnect(c, ns->name, reason, nh->ud);
        } else if (st == NS_CONNECTING && !c->ever_connected && nh &&
                   nh->on_connect_error) {
            json_t *err = json_pack("{s:s}", "message", c->last_error);
            nh->on_connect_error(c, ns->name, err, nh->ud);
            json_decref(err);
        }
    }
    if (reconnect && c->state == C_RECONNECT_WAIT)
        schedule_reconnect(c);
}

static void eng_upgrade(void *ud)
{
    sio_log_debug(topic, "%p: transport is now websocket", ud);
}

static const struct sio_eng_cbs eng_cbs = {
    .on_open = eng_open,
    .on_message = eng_message,
    .on_upgrade = eng_upgrade,
    .on_close = eng_close,
};

/* ---- public API --------------------------------------------------------- */

static char **copy_strv(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = calloc(n + 1, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(out[i] = strdup(v[i]))) {
            for (size_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static void free_strv(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

SIO_EXPORT int sio_client_new(sio_client **out, struct event_base *base,
                              const struct sio_client_opts *opts)
{
    *out = NULL;
    if (!base)
        return -EINVAL;
    sio_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->base = base;
    sio_client_opts_init(&c->opts);
    if (opts) {
        /* only the fields the caller's struct has (see .size) */
        size_t n = opts->size ? opts->size : offsetof(struct sio_client_opts, tls_key_file) +
                                             sizeof opts->tls_key_file;
        if (n > sizeof c->opts)
            n = sizeof c->opts;
        memcpy(&c->opts, opts, n);
        c->opts.size = sizeof c->opts;
    }
    if (!c->opts.transports)
        c->opts.transports = SIO_TRANSPORT_DEFAULT;
    if (!c->opts.max_payload)
        c->opts.max_payload = 100u * 1000 * 1000;
    if (!c->opts.connect_timeout_ms)
        c->opts.connect_timeout_ms = 20000;
    c->path = strdup(c->opts.path && *c->opts.path ? c->opts.path : "/socket.io/");
    c->headers = copy_strv(c->opts.headers);
    c->opts.path = NULL;
    c->opts.headers = NULL;
    c->tls_ca_file = c->opts.tls_ca_file ? strdup(c->opts.tls_ca_file) : NULL;
    c->tls_cert_file = c->opts.tls_cert_file ? strdup(c->opts.tls_cert_file) : NULL;
    c->tls_key_file = c->opts.tls_key_file ? strdup(c->opts.tls_key_file) : NULL;
    bool tls_nomem = (c->opts.tls_ca_file && !c->tls_ca_file) ||
                     (c->opts.tls_cert_file && !c->tls_cert_file) ||
                     (c->opts.tls_key_file && !c->tls_key_file);
    c->opts.tls_ca_file = c->opts.tls_cert_file = c->opts.tls_key_file = NULL;
    c->reconnect_timer = evtimer_new(base, reconnect_cb, c);
    if (!c->path || !c->headers || !c->reconnect_timer || tls_nomem) {
        sio_client_destroy(&c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

static void clear_conn(sio_client *c)
{
    for (size_t i = 0; i < c->nns; i++)
        free(c->ns[i].name);
    free(c->ns);
    c->ns = NULL;
    c->nns = 0;
    free(c->host);
    free(c->query);
    c->host = c->query = NULL;
    json_decref(c->auth);
    c->auth = NULL;
}

SIO_EXPORT void sio_client_destroy(sio_client **self_p)
{
    sio_client *c = *self_p;
    if (!c)
        return;
    *self_p = NULL;
    sio__eng_destroy(&c->eng);
    while (c->acks) {
        struct pending_ack *a = c->acks;
        c->acks = a->next;
        ack_free(a);
    }
    binary_reset(c);
    clear_conn(c);
    while (c->handlers) {
        struct handler *h = c->handlers;
        c->handlers = h->next;
        free(h->nsp);
        free(h->event);
        free(h);
    }
    while (c->nsph) {
        struct nsp_handlers *h = c->nsph;
        c->nsph = h->next;
        free((char *)h->h.nsp);
        free(h);
    }
    if (c->reconnect_timer)
        event_free(c->reconnect_timer);
    while (c->tasks) {          /* tasks that have not run are cancelled */
        struct task *t = c->tasks;
        c->tasks = t->next;
        task_free(t);
    }
    free(c->path);
    free_strv(c->headers);
    free(c->tls_ca_file);
    free(c->tls_cert_file);
    free(c->tls_key_file);
    SSL_CTX_free(c->ssl_ctx);
    free(c);
}

SIO_EXPORT int sio_client_on(sio_client *c, const char *nsp, const char *event,
                             sio_client_event_fn fn, void *ud)
{
    if (!event || !fn)
        return -EINVAL;
    nsp = nsp_or_root(nsp);
    struct handler *h = find_exact(c, nsp, event);
    if (h) {
        h->fn = fn;
        h->ud = ud;
        return 0;
    }
    h = calloc(1, sizeof *h);
    if (!h || !(h->nsp = strdup(nsp)) || !(h->event = strdup(event))) {
        if (h)
            free(h->nsp);
        free(h);
        return -ENOMEM;
    }
    h->fn = fn;
    h->ud = ud;
    h->next = c->handlers;
    c->handlers = h;
    return 0;
}

SIO_EXPORT int sio_client_on_namespace(sio_client *c, const struct sio_client_namespace *nh)
{
    const char *nsp = nsp_or_root(nh->nsp);
    if (strcmp(nsp, "*") == 0 || nsp[0] != '/')
        return -EINVAL;
    for (struct nsp_handlers *h = c->nsph; h; h = h->next) {
        if (strcmp(h->h.nsp, nsp) == 0) {
            const char *keep = h->h.nsp;
            h->h = *nh;
            h->h.nsp = keep;
            return 0;
        }
    }
    struct nsp_handlers *h = calloc(1, sizeof *h);
    char *name = strdup(nsp);
    if (!h || !name) {
        free(h);
        free(name);
        return -ENOMEM;
    }
    h->h = *nh;
    h->h.nsp = name;
    h->next = c->nsph;
    c->nsph = h;
    return 0;
}

static int add_ns(sio_client *c, const char *name)
{
    if (name[0] != '/' || strlen(name) > SIO_MAX_NSP_LEN)
        return -EINVAL;
    if (find_ns(c, name))
        return 0;
    struct ns *v = realloc(c->ns, (c->nns + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    c->ns = v;
    memset(&v[c->nns], 0, sizeof *v);
    if (!(v[c->nns].name = strdup(name)))
        return -ENOMEM;
    c->nns++;
    return 0;
}

/* Record an OpenSSL failure as last_error: what we tried, and why. */
static void tls_error(sio_client *c, const char *what, const char *file)
{
    unsigned long err = ERR_get_error();
    const char *why = err ? ERR_reason_error_string(err) : NULL;
    char txt[160];
    if (file && access(file, R_OK) < 0) {
        why = strerror(errno);
    } else if (err && !why) {
        ERR_error_string_n(err, txt, sizeof txt);
        why = txt;
    }
    snprintf(c->last_error, sizeof c->last_error, "TLS: %s%s%s: %s", what,
             file ? " " : "", file ? file : "", why ? why : "failed");
    ERR_clear_error();
}

/* The SSL_CTX for https/wss, made once from the tls_* options. 0 or
 * -EINVAL (a file cannot be loaded; last_error says which and why). */
static int tls_setup(sio_client *c)
{
    if (c->ssl_ctx)
        return 0;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        tls_error(c, "cannot create the context", NULL);
        return -ENOMEM;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (c->opts.tls_no_verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (c->tls_ca_file) {
            if (SSL_CTX_load_verify_locations(ctx, c->tls_ca_file, NULL) != 1) {
                tls_error(c, "cannot load the CA file", c->tls_ca_file);
                goto fail;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            tls_error(c, "cannot load the system CA certificates", NULL);
            goto fail;
        }
    }
    if (c->tls_cert_file || c->tls_key_file) {
        const char *cert = c->tls_cert_file, *key = c->tls_key_file ? c->tls_key_file : cert;
        if (!cert) {
            snprintf(c->last_error, sizeof c->last_error,
                     "TLS: a client key needs a client certificate (tls_cert_file)");
            goto fail;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
            tls_error(c, "cannot load the client certificate", cert);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            tls_error(c, "cannot load the client key", key);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            tls_error(c, "the client key does not match the certificate", key);
            goto fail;
        }
    }
    c->ssl_ctx = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return -EINVAL;
}

static int parse_url(sio_client *c, const char *url)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 ||
        !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
        return -EINVAL;
    const char *schema = url + u.field_data[UF_SCHEMA].off;
    size_t slen = u.field_data[UF_SCHEMA].len;
    bool tls;
    if ((slen == 4 && strncasecmp(schema, "http", 4) == 0) ||
        (slen == 2 && strncasecmp(schema, "ws", 2) == 0))
        tls = false;
    else if ((slen == 5 && strncasecmp(schema, "https", 5) == 0) ||
             (slen == 3 && strncasecmp(schema, "wss", 3) == 0))
        tls = true;
    else
        return -EINVAL;
    c->tls = tls;
    c->port = (u.field_set & (1 << UF_PORT)) ? u.port : (tls ? 443 : 80);
    c->host = strndup(url + u.field_data[UF_HOST].off, u.field_data[UF_HOST].len);
    if (u.field_set & (1 << UF_QUERY))
        c->query = strndup(url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    if (!c->host || ((u.field_set & (1 << UF_QUERY)) && !c->query))
        return -ENOMEM;
    return 0;
}

SIO_EXPORT int sio_client_connect(sio_client *c, const char *url,
                                  const char *const *namespaces, json_t *auth)
{
    if (!url)
        return -EINVAL;
    if (c->state != C_IDLE && c->state != C_DISCONNECTED)
        return -EALREADY;
    clear_conn(c);
    c->last_error[0] = 0;
    int rc = parse_url(c, url);
    if (rc < 0)
        goto fail;
    if (c->tls && (rc = tls_setup(c)) < 0)
        goto fail;
    if (namespaces) {
        for (size_t i = 0; namespaces[i]; i++)
            if ((rc = add_ns(c, namespaces[i])) < 0)
                goto fail;
    } else {
        if ((rc = add_ns(c, "/")) < 0)
            goto fail;
        for (struct nsp_handlers *h = c->nsph; h; h = h->next)
            if ((rc = add_ns(c, h->h.nsp)) < 0)
                goto fail;
        for (struct handler *h = c->handlers; h; h = h->next)
            if (strcmp(h->nsp, "*") != 0 && (rc = add_ns(c, h->nsp)) < 0)
                goto fail;
    }
    if (c->nns == 0) {
        rc = -EINVAL;
        goto fail;
    }
    c->auth = auth ? json_incref(auth) : NULL;
    c->ever_connected = false;
    c->attempts = 0;
    c->state = C_CONNECTING;
    if ((rc = start_engine(c)) < 0) {
        c->state = C_DISCONNECTED;
        goto fail;
    }
    return 0;
fail:
    clear_conn(c);
    return rc;
}

SIO_EXPORT int sio_client_emit(sio_client *c, const char *nsp, const char *event,
                               json_t *args)
{
    return sio_client_emit_ack(c, nsp, event, args, NULL, NULL, 0);
}

SIO_EXPORT int sio_client_emit_ack(sio_client *c, const char *nsp, const char *event,
                                   json_t *args, sio_client_ack_fn cb, void *ud,
                                   unsigned timeout_ms)
{
    if (!event)
        return -EINVAL;
    nsp = nsp_or_root(nsp);
    struct ns *ns = find_ns(c, nsp);
    if (!ns || ns->state != NS_CONNECTED || !c->eng)
        return SIO_ERR_CLOSED;
    json_t *data = event_data(event, args);
    if (!data)
        return -ENOMEM;
    int64_t id = -1;
    struct pending_ack *a = NULL;
    if (cb) {
        a = calloc(1, sizeof *a);
        if (!a || !(a->nsp = strdup(nsp)) ||
            !(a->timer = evtimer_new(c->base, ack_timeout_cb, a))) {
            if (a)
                free(a->nsp);
            free(a);
            json_decref(data);
            return -ENOMEM;
        }
        id = a->id = c->next_id++;
        if (c->next_id > (int64_t)1 << 52)
            c->next_id = 0;
        a->c = c;
        a->cb = cb;
        a->ud = ud;
    }
    int rc = send_packet(c, SIO_PKT_EVENT, nsp, id, data);
    json_decref(data);
    if (rc < 0) {
        if (a)
            ack_free(a);
        return rc;
    }
    if (a) {
        a->next = c->acks;
        c->acks = a;
        if (timeout_ms) {
            struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
            event_add(a->timer, &tv);
        }
    }
    return 0;
}

SIO_EXPORT void sio_client_disconnect(sio_client *c)
{
    switch (c->state) {
    case C_IDLE:
    case C_DISCONNECTED:
    case C_DISCONNECTING:
        return;
    case C_RECONNECT_WAIT:
        event_del(c->reconnect_timer);
        c->state = C_DISCONNECTED;
        return;
    default:
        break;
    }
    c->state = C_DISCONNECTING;
    for (size_t i = 0; i < c->nns; i++) {
        struct ns *ns = &c->ns[i];
        if (ns->state == NS_CONNECTED)
            send_packet(c, SIO_PKT_DISCONNECT, ns->name, -1, NULL);
    }
    fail_acks(c, NULL);
    for (size_t i = 0; i < c->nns; i++) {
        struct ns *ns = &c->ns[i];
        enum ns_state st = ns->state;
        ns->state = NS_IDLE;
        ns->sid[0] = 0;
        const struct sio_client_namespace *nh = find_nsph(c, ns->name);
        /* connecting too (before or after the Engine.IO open): the
         * connect the caller started ends here, and says so */
        if (st != NS_IDLE && nh && nh->on_disconnect)
            nh->on_disconnect(c, ns->name, SIO_REASON_CLIENT_DISCONNECT, nh->ud);
    }
    if (c->eng)
        sio__eng_close(c->eng);
    else
        c->state = C_DISCONNECTED;
}

SIO_EXPORT bool sio_client_connected(const sio_client *c, const char *nsp)
{
    const struct ns *ns = find_ns((sio_client *)c, nsp_or_root(nsp));
    return ns && ns->state == NS_CONNECTED;
}

SIO_EXPORT const char *sio_client_sid(const sio_client *c, const char *nsp)
{
    const struct ns *ns = find_ns((sio_client *)c, nsp_or_root(nsp));
    return ns && ns->state == NS_CONNECTED ? ns->sid : NULL;
}

SIO_EXPORT const char *sio_client_transport(const sio_client *c)
{
    return c->eng && sio__eng_sid(c->eng) ? sio__eng_transport(c->eng) : NULL;
}

SIO_EXPORT const char *sio_client_last_error(const sio_client *c)
{
    return c->last_error;
}

bool sio_client__finished(const sio_client *c)
{
    return c->state == C_IDLE || c->state == C_DISCONNECTED;
}

SIO_EXPORT int sio_client_wait(sio_client *c)
{
    return sio_client_wait_all(&c, 1);
}

SIO_EXPORT int sio_client_wait_all(sio_client *const *clients, size_t n)
{
    if (!clients || !n)
        return -EINVAL;
    for (size_t i = 1; i < n; i++)
        if (clients[i]->base != clients[0]->base)
            return -EINVAL;
    for (;;) {
        size_t busy = 0;
        for (size_t i = 0; i < n; i++)
            busy += !sio_client__finished(clients[i]);
        if (!busy)
            return 0;
        int rc = event_base_loop(clients[0]->base, EVLOOP_ONCE);
        if (rc < 0 || rc == 1)
            return -1;
    }
}

SIO_EXPORT void sio_client_on_reconnect_failed(sio_client *c,
                                               void (*fn)(sio_client *c, unsigned attempts,
                                                          void *ud),
                                               void *ud)
{
    c->on_reconnect_failed = fn;
    c->reconnect_failed_ud = ud;
}

static struct task *task_unlink(sio_client *c, int64_t id)
{
    for (struct task **pp = &c->tasks; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            struct task *t = *pp;
            *pp = t->next;
            return t;
        }
    return NULL;
}

static void task_free(struct task *t)
{
    event_free(t->ev);
    free(t);
}

static void task_cb(evutil_socket_t fd, short what, void *arg)
{
    struct task *t = arg;
    sio_client *c = t->c;
    task_unlink(c, t->id);
    void (*fn)(sio_client *, void *) = t->fn;
    void *ud = t->ud;
    task_free(t);           /* before fn: fn may destroy the client */
    fn(c, ud);
}

SIO_EXPORT int64_t sio_client_start_task(sio_client *c, unsigned delay_ms,
                                         void (*fn)(sio_client *c, void *ud), void *ud)
{
    if (!c || !fn)
        return -EINVAL;
    struct task *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->ev = evtimer_new(c->base, task_cb, t);
    if (!t->ev) {
        free(t);
        return -ENOMEM;
    }
    t->c = c;
    t->fn = fn;
    t->ud = ud;
    t->id = ++c->next_task_id;
    struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
    if (evtimer_add(t->ev, &tv) < 0) {
        task_free(t);
        return -ENOMEM;
    }
    t->next = c->tasks;
    c->tasks = t;
    return t->id;
}

SIO_EXPORT int sio_client_cancel_task(sio_client *c, int64_t id)
{
    struct task *t = c ? task_unlink(c, id) : NULL;
    if (!t)
        return -ENOENT;
    task_free(t);
    return 0;
}

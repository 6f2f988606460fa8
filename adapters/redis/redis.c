/* redis.c: the Redis bridge (hiredis, asynchronous on libevent).
 *
 * One thread per bridge owns an event_base, the hiredis connection and a
 * zmq DEALER connected to the hub's "workers" endpoint. It SUBSCRIBEs to
 * python-socketio's channel and PSUBSCRIBEs to "/[0-9]*.<channel>" (kombu's
 * fanout channels: KombuManager over Redis), "socket.io#*" and
 * "socket.io-request#*" (@socket.io/redis-emitter), turns each message into
 * bus commands (bridge_msg.c) and sends them [topic, envelope] without
 * blocking (a full queue counts the message as rejected). When Redis goes
 * away it reconnects with backoff (100 ms doubling to 5 s) and subscribes
 * again. sio_bridge_stop() wakes the thread through a pipe.
 */
#include "bridge.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include <sio/error.h>
#include <sio/log.h>
#include "buf.h"

SIO_LOG_TOPIC_STATIC(topic, "bridge.redis");

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define STATS_EVERY_S 60

struct sio_bridge {
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct event *wake_ev, *retry_ev, *stats_ev;
    int wake[2];
    redisAsyncContext *ac;
    struct sio_bridge_hub hub;      /* the link to the hub */
    char host[256];
    int port;
    char password[256];
    char channel[256];
    char kombu[300];      /* kombu's fanout channels: "/<db>.<channel>" */
    unsigned backoff_ms;
    bool stopping;
    bool subscribed;
    atomic_uint_fast64_t in, delivered, ignored, rejected, reconnects, own;
    uint64_t last_in;
    char host_id[64];               /* this deployment's ("" when not given) */
    redisContext *pc;               /* publishing: its own connection (sender thread) */
    sio_bridge_pub *pub;            /* NULL when the bridge only listens */
};

static int parse_url(struct sio_bridge *b, const char *url, char *err, size_t errlen)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        snprintf(err, errlen, "bad bridge url '%s' (redis://[:password@]host[:port][/channel])", url);
        return -EINVAL;
    }
    p += 8;
    snprintf(b->channel, sizeof b->channel, "socketio");
    b->port = 6379;
    const char *at = strchr(p, '@');
    const char *slash = strchr(p, '/');
    if (at && (!slash || at < slash)) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if ((size_t)(at - pw) >= sizeof b->password)
            goto bad;
        memcpy(b->password, pw, (size_t)(at - pw));
        b->password[at - pw] = 0;
        p = at + 1;
    }
    if (sio__bridge_parse_hostport(&p, "/", b->host, sizeof b->host, &b->port) < 0)
        goto bad;
    if (*p == '/' && p[1]) {
        p++;
        if (strspn(p, "0123456789") != strlen(p)) {    /* digits: a db, pub/sub ignores it */
            if (strlen(p) >= sizeof b->channel || strpbrk(p, " \r\n"))
                goto bad;
            snprintf(b->channel, sizeof b->channel, "%s", p);
        }
    } else if (*p && strcmp(p, "/") != 0) {
        goto bad;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad bridge url '%s' (redis://[:password@]host[:port][/channel])", url);
    return -EINVAL;
}

static void count(struct sio_bridge *b, int rc, const char *what, const char *err)
{
    if (rc == 0 && what == NULL) {
        atomic_fetch_add(&b->own, 1);
    } else if (rc > 0) {
        atomic_fetch_add(&b->delivered, 1);
    } else if (rc == 0) {
        atomic_fetch_add(&b->ignored, 1);
    } else {
        atomic_fetch_add(&b->rejected, 1);
        if (rc == -EPERM)
            sio_log_warn(topic, "%s message rejected: %s", what, err);
        else
            sio_log_debug(topic, "%s message rejected: %s", what, err[0] ? err : sio_strerror(rc));
    }
}

static void on_message(redisAsyncContext *ac, void *r, void *priv)
{
    struct sio_bridge *b = priv;
    redisReply *rep = r;
    char err[256] = "";
    (void)ac;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = rep->element[0]->str;
    bool kombu = strcmp(kind, "pmessage") == 0 && rep->elements >= 4 &&
                 rep->element[1]->type == REDIS_REPLY_STRING &&
                 strcmp(rep->element[1]->str, b->kombu) == 0 &&
                 rep->element[3]->type == REDIS_REPLY_STRING;
    if (kombu) {
        atomic_fetch_add(&b->in, 1);
        bool own = false;
        int rc = sio_bridge_py_message_rx(rep->element[3]->str, rep->element[3]->len,
                                          b->host_id, &own, sio__bridge_hub_send, &b->hub,
                                          err, sizeof err);
        count(b, rc, own ? NULL : "python-socketio (kombu)", err);
    } else if (strcmp(kind, "message") == 0 && rep->element[2]->type == REDIS_REPLY_STRING) {
        atomic_fetch_add(&b->in, 1);
        bool own = false;
        int rc = sio_bridge_py_message_rx(rep->element[2]->str, rep->element[2]->len,
                                          b->host_id, &own, sio__bridge_hub_send, &b->hub,
                                          err, sizeof err);
        count(b, rc, own ? NULL : "python-socketio", err);
    } else if (strcmp(kind, "pmessage") == 0 && rep->elements >= 4 &&
               rep->element[2]->type == REDIS_REPLY_STRING &&
               rep->element[3]->type == REDIS_REPLY_STRING) {
        atomic_fetch_add(&b->in, 1);
        bool own = false;
        int rc = sio_bridge_node_message_rx(rep->element[2]->str, rep->element[2]->len,
                                            rep->element[3]->str, rep->element[3]->len,
                                            b->host_id, &own, sio__bridge_hub_send, &b->hub,
                                            err, sizeof err);
        count(b, rc, own ? NULL : "socket.io", err);
    } else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
        sio_log_info(topic, "%s:%d: %s %s", b->host, b->port, kind,
                     rep->element[1]->type == REDIS_REPLY_STRING ? rep->element[1]->str : "?");
    }
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *rep = r;
    struct sio_bridge *b = priv;
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        sio_log_error(topic, "%s:%d: AUTH failed: %s", b->host, b->port, rep->str);
        redisAsyncDisconnect(ac);   /* on_disconnect schedules a retry with backoff */
    }
}

static void schedule_retry(struct sio_bridge *b)
{
    if (b->stopping)
        return;
    struct timeval tv = { b->backoff_ms / 1000, (b->backoff_ms % 1000) * 1000 };
    sio_log_debug(topic, "%s:%d: reconnecting in %u ms", b->host, b->port, b->backoff_ms);
    evtimer_add(b->retry_ev, &tv);
    b->backoff_ms = b->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b->backoff_ms * 2;
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct sio_bridge *b = cac->data;
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    if (status != REDIS_OK) {
        sio_log_info(topic, "%s:%d: cannot connect: %s", b->host, b->port, cac->errstr);
        b->ac = NULL;   /* hiredis frees it */
        schedule_retry(b);
        return;
    }
    sio_log_info(topic, "%s:%d: connected", b->host, b->port);
    b->backoff_ms = BACKOFF_MIN_MS;
    if (b->password[0])
        redisAsyncCommand(ac, on_auth, b, "AUTH %s", b->password);
    redisAsyncCommand(ac, on_message, b, "SUBSCRIBE %s", b->channel);
    redisAsyncCommand(ac, on_message, b, "PSUBSCRIBE %s %s %s", "socket.io#*", "socket.io-request#*",
                      b->kombu);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    struct sio_bridge *b = cac->data;
    b->ac = NULL;   /* hiredis frees it after this callback */
    if (b->stopping)
        return;
    sio_log_warn(topic, "%s:%d: connection lost%s%s", b->host, b->port,
                 status != REDIS_OK ? ": " : "", status != REDIS_OK ? cac->errstr : "");
    atomic_fetch_add(&b->reconnects, 1);
    schedule_retry(b);
}

static void do_connect(evutil_socket_t fd, short what, void *arg)
{
    struct sio_bridge *b = arg;
    (void)fd; (void)what;
    if (b->stopping)
        return;
    redisAsyncContext *ac = redisAsyncConnect(b->host, b->port);
    if (!ac || ac->err) {
        sio_log_info(topic, "%s:%d: cannot connect: %s", b->host, b->port,
                     ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(b);
        return;
    }
    ac->data = b;
    redisLibeventAttach(ac, b->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    b->ac = ac;
}

static void log_stats(struct sio_bridge *b, const char *when)
{
    sio_log_info(topic, "%s:%d: %sin %llu, delivered %llu, ignored %llu, rejected %llu, "
                 "own %llu, reconnects %llu", b->host, b->port, when,
                 (unsigned long long)atomic_load(&b->in),
                 (unsigned long long)atomic_load(&b->delivered),
                 (unsigned long long)atomic_load(&b->ignored),
                 (unsigned long long)atomic_load(&b->rejected),
                 (unsigned long long)atomic_load(&b->own),
                 (unsigned long long)atomic_load(&b->reconnects));
}

/* ---- publishing: a synchronous connection on the publisher's sender
 * thread (PUBLISH cannot go on the subscribed connection) ---- */

static void pub_disconnect(void *ud)
{
    struct sio_bridge *b = ud;
    if (b->pc)
        redisFree(b->pc);
    b->pc = NULL;
}

static int pub_connect(void *ud, char *err, size_t errlen)
{
    struct sio_bridge *b = ud;
    struct timeval tmo = { 2, 0 };
    pub_disconnect(b);
    b->pc = redisConnectWithTimeout(b->host, b->port, tmo);
    if (!b->pc || b->pc->err) {
        snprintf(err, errlen, "%s", b->pc ? b->pc->errstr : "out of memory");
        return -EIO;
    }
    redisSetTimeout(b->pc, tmo);
    if (b->password[0]) {
        redisReply *r = redisCommand(b->pc, "AUTH %s", b->password);
        bool ok = r && r->type != REDIS_REPLY_ERROR;
        if (!ok)
            snprintf(err, errlen, "AUTH failed: %s", r ? r->str : b->pc->errstr);
        if (r)
            freeReplyObject(r);
        if (!ok)
            return -EACCES;
    }
    return 0;
}

static int pub_send(void *ud, const void *msg, size_t len)
{
    struct sio_bridge *b = ud;
    redisReply *r = redisCommand(b->pc, "PUBLISH %s %b", b->channel, msg, len);
    if (!r)
        return -EIO;    /* the connection is lost (or timed out) */
    freeReplyObject(r);
    return 0;
}

static int pub_send_to(void *ud, const char *channel, const void *msg, size_t len)
{
    struct sio_bridge *b = ud;
    redisReply *r = redisCommand(b->pc, "PUBLISH %s %b", channel, msg, len);
    if (!r)
        return -EIO;
    freeReplyObject(r);
    return 0;
}

static const struct sio_bridge_pub_ops pub_ops = {
    .connect = pub_connect, .send = pub_send, .disconnect = pub_disconnect,
    .send_to = pub_send_to,
};

static void on_stats(evutil_socket_t fd, short what, void *arg)
{
    struct sio_bridge *b = arg;
    (void)fd; (void)what;
    uint64_t in = atomic_load(&b->in);
    if (in != b->last_in)
        log_stats(b, "");
    b->last_in = in;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct sio_bridge *b = arg;
    char c;
    (void)what;
    while (read(fd, &c, 1) > 0)
        ;
    b->stopping = true;
    if (b->ac) {
        redisAsyncContext *ac = b->ac;
        b->ac = NULL;
        redisAsyncFree(ac);
    }
    event_base_loopbreak(b->base);
}

static void *run(void *arg)
{
    struct sio_bridge *b = arg;
    do_connect(-1, 0, b);
    event_base_dispatch(b->base);
    return NULL;
}

static void destroy(struct sio_bridge *b)
{
    sio__bridge_pub_stop(&b->pub);
    pub_disconnect(b);
    if (b->ac)
        redisAsyncFree(b->ac);
    if (b->wake_ev)
        event_free(b->wake_ev);
    if (b->retry_ev)
        event_free(b->retry_ev);
    if (b->stats_ev)
        event_free(b->stats_ev);
    if (b->base)
        event_base_free(b->base);
    if (b->wake[0] >= 0)
        close(b->wake[0]);
    if (b->wake[1] >= 0)
        close(b->wake[1]);
    sio__bridge_hub_close(&b->hub);
    free(b);
}

int sio_bridge_start(sio_bridge **out, void *zmq_ctx, const char *hub_endpoint,
                     const char *url, const struct sio_bridge_opts *opts,
                     char *err, size_t errlen)
{
    *out = NULL;
    struct sio_bridge *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->wake[0] = b->wake[1] = -1;
    b->backoff_ms = BACKOFF_MIN_MS;
    int rc = parse_url(b, url, err, errlen);
    if (rc < 0)
        goto fail;
    snprintf(b->kombu, sizeof b->kombu, "/[0-9]*.%s", b->channel);
    if (opts && opts->host_id)
        snprintf(b->host_id, sizeof b->host_id, "%s", opts->host_id);
    rc = -ENOMEM;
    if (pipe2(b->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        rc = -errno;
        snprintf(err, errlen, "bridge: pipe: %s", strerror(errno));
        goto fail;
    }
    if ((rc = sio__bridge_hub_open(&b->hub, zmq_ctx, hub_endpoint, err, errlen)) < 0)
        goto fail;
    if (!(b->base = event_base_new()) ||
        !(b->wake_ev = event_new(b->base, b->wake[0], EV_READ | EV_PERSIST, on_wake, b)) ||
        !(b->retry_ev = evtimer_new(b->base, do_connect, b)) ||
        !(b->stats_ev = event_new(b->base, -1, EV_PERSIST, on_stats, b))) {
        snprintf(err, errlen, "bridge: out of memory");
        goto fail;
    }
    struct timeval every = { STATS_EVERY_S, 0 };
    event_add(b->wake_ev, NULL);
    event_add(b->stats_ev, &every);
    if ((rc = -pthread_create(&b->thread, NULL, run, b)) < 0) {
        snprintf(err, errlen, "bridge: cannot start a thread");
        goto fail;
    }
    b->started = true;
    if (opts && opts->publish) {
        char name[600];
        snprintf(name, sizeof name, "redis://%s:%d channel '%s'", b->host, b->port, b->channel);
        const struct sio_bridge_pub_cfg pc = {
            .commands_endpoint = opts->commands_endpoint, .host_id = b->host_id,
            .format = opts->format, .name = name,
        };
        if ((rc = sio__bridge_pub_start(&b->pub, zmq_ctx, &pc, &pub_ops, b, err, errlen)) < 0) {
            sio_bridge_stop(&b);
            return rc;
        }
    }
    sio_log_info(topic, "bridge redis://%s:%d channel '%s' -> %s", b->host, b->port,
                 b->channel, hub_endpoint);
    *out = b;
    return 0;
fail:
    destroy(b);
    return rc;
}

void sio_bridge_stop(sio_bridge **b_p)
{
    struct sio_bridge *b = b_p ? *b_p : NULL;
    if (!b)
        return;
    *b_p = NULL;
    if (b->started) {
        char c = 1;
        while (write(b->wake[1], &c, 1) < 0 && errno == EINTR)
            ;
        pthread_join(b->thread, NULL);
    }
    sio__bridge_pub_stop(&b->pub);
    log_stats(b, "stopped: ");
    destroy(b);
}

void sio_bridge_get_stats(sio_bridge *b, struct sio_bridge_stats *out)
{
    *out = (struct sio_bridge_stats){
        .in = atomic_load(&b->in), .delivered = atomic_load(&b->delivered),
        .ignored = atomic_load(&b->ignored), .rejected = atomic_load(&b->rejected),
        .reconnects = atomic_load(&b->reconnects), .own = atomic_load(&b->own),
    };
    if (b->pub)
        sio__bridge_pub_get_stats(b->pub, &out->pub);
}

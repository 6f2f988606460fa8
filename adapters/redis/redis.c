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
 * again. Stopping wakes the thread through a pipe. Start, stop, counters
 * and publishing's queue are transport.c's and publish.c's.
 */
#include "adapters/transport.h"

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
#include "base/buf.h"

SIO_LOG_TOPIC_STATIC(topic, "bridge.redis");

#define STATS_EVERY_S 60
#define URL_FORM "redis://[:password@]host[:port][/channel]"

struct rbridge {
    struct sio_bridge_base base;    /* first: transport.c's part */
    struct event_base *evb;
    struct event *wake_ev, *retry_ev, *stats_ev;
    int wake[2];
    redisAsyncContext *ac;
    char host[256];
    int port;
    char password[256];
    char channel[256];
    char kombu[300];      /* kombu's fanout channels: "/<db>.<channel>" */
    unsigned backoff_ms;
    redisContext *pc;               /* publishing: its own connection (sender thread) */
};

static bool stopping(struct rbridge *b)
{
    return atomic_load(&b->base.stopping);
}

static int parse_url(struct rbridge *b, const char *url, char *err, size_t errlen)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        goto bad;
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
    snprintf(err, errlen, "bad bridge url '%s' (" URL_FORM ")", url);
    return -EINVAL;
}

static void on_message(redisAsyncContext *ac, void *r, void *priv)
{
    struct rbridge *b = priv;
    redisReply *rep = r;
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
        sio__bridge_py_in(&b->base, rep->element[3]->str, rep->element[3]->len,
                          "python-socketio (kombu)");
    } else if (strcmp(kind, "message") == 0 && rep->element[2]->type == REDIS_REPLY_STRING) {
        sio__bridge_py_in(&b->base, rep->element[2]->str, rep->element[2]->len, "python-socketio");
    } else if (strcmp(kind, "pmessage") == 0 && rep->elements >= 4 &&
               rep->element[2]->type == REDIS_REPLY_STRING &&
               rep->element[3]->type == REDIS_REPLY_STRING) {
        sio__bridge_node_in(&b->base, rep->element[2]->str, rep->element[2]->len,
                            rep->element[3]->str, rep->element[3]->len);
    } else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
        sio_log_info(topic, "%s:%d: %s %s", b->host, b->port, kind,
                     rep->element[1]->type == REDIS_REPLY_STRING ? rep->element[1]->str : "?");
    }
}

static void on_auth(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *rep = r;
    struct rbridge *b = priv;
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        sio_log_error(topic, "%s:%d: AUTH failed: %s", b->host, b->port, rep->str);
        redisAsyncDisconnect(ac);   /* on_disconnect schedules a retry with backoff */
    }
}

static void schedule_retry(struct rbridge *b)
{
    if (stopping(b))
        return;
    unsigned ms = sio__bridge_backoff(&b->backoff_ms);
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    sio_log_debug(topic, "%s:%d: reconnecting in %u ms", b->host, b->port, ms);
    evtimer_add(b->retry_ev, &tv);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    struct rbridge *b = cac->data;
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    if (status != REDIS_OK) {
        sio_log_info(topic, "%s:%d: cannot connect: %s", b->host, b->port, cac->errstr);
        b->ac = NULL;   /* hiredis frees it */
        schedule_retry(b);
        return;
    }
    sio_log_info(topic, "%s:%d: connected", b->host, b->port);
    b->backoff_ms = SIO_BRIDGE_BACKOFF_MIN_MS;
    if (b->password[0])
        redisAsyncCommand(ac, on_auth, b, "AUTH %s", b->password);
    redisAsyncCommand(ac, on_message, b, "SUBSCRIBE %s", b->channel);
    redisAsyncCommand(ac, on_message, b, "PSUBSCRIBE %s %s %s", "socket.io#*", "socket.io-request#*",
                      b->kombu);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    struct rbridge *b = cac->data;
    b->ac = NULL;   /* hiredis frees it after this callback */
    if (stopping(b))
        return;
    sio_log_warn(topic, "%s:%d: connection lost%s%s", b->host, b->port,
                 status != REDIS_OK ? ": " : "", status != REDIS_OK ? cac->errstr : "");
    atomic_fetch_add(&b->base.reconnects, 1);
    schedule_retry(b);
}

static void do_connect(evutil_socket_t fd, short what, void *arg)
{
    struct rbridge *b = arg;
    (void)fd; (void)what;
    if (stopping(b))
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
    redisLibeventAttach(ac, b->evb);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    b->ac = ac;
}

/* ---- publishing: a synchronous connection on the publisher's sender
 * thread (PUBLISH cannot go on the subscribed connection) ---- */

static void pub_disconnect(void *ud)
{
    struct rbridge *b = ud;
    if (b->pc)
        redisFree(b->pc);
    b->pc = NULL;
}

static int pub_connect(void *ud, char *err, size_t errlen)
{
    struct rbridge *b = ud;
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
    struct rbridge *b = ud;
    redisReply *r = redisCommand(b->pc, "PUBLISH %s %b", b->channel, msg, len);
    if (!r)
        return -EIO;    /* the connection is lost (or timed out) */
    freeReplyObject(r);
    return 0;
}

static int pub_send_to(void *ud, const char *channel, const void *msg, size_t len)
{
    struct rbridge *b = ud;
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
    struct rbridge *b = arg;
    (void)fd; (void)what;
    sio__bridge_log_stats(&b->base, "", true);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct rbridge *b = arg;
    char c;
    (void)what;
    while (read(fd, &c, 1) > 0)
        ;
    if (b->ac) {
        redisAsyncContext *ac = b->ac;
        b->ac = NULL;
        redisAsyncFree(ac);
    }
    event_base_loopbreak(b->evb);
}

static void *run(void *arg)
{
    struct rbridge *b = arg;
    do_connect(-1, 0, b);
    event_base_dispatch(b->evb);
    return NULL;
}

static void wake(struct sio_bridge_base *base)
{
    struct rbridge *b = (struct rbridge *)base;
    char c = 1;
    while (write(b->wake[1], &c, 1) < 0 && errno == EINTR)
        ;
}

static void close_bridge(struct sio_bridge_base *base)
{
    struct rbridge *b = (struct rbridge *)base;
    pub_disconnect(b);
    if (b->ac)
        redisAsyncFree(b->ac);
    if (b->wake_ev)
        event_free(b->wake_ev);
    if (b->retry_ev)
        event_free(b->retry_ev);
    if (b->stats_ev)
        event_free(b->stats_ev);
    if (b->evb)
        event_base_free(b->evb);
    if (b->wake[0] >= 0)
        close(b->wake[0]);
    if (b->wake[1] >= 0)
        close(b->wake[1]);
}

static int open_bridge(struct sio_bridge_base *base, const char *url, char *err, size_t errlen)
{
    struct rbridge *b = (struct rbridge *)base;
    base->log = topic;
    b->wake[0] = b->wake[1] = -1;
    b->backoff_ms = SIO_BRIDGE_BACKOFF_MIN_MS;
    int rc = parse_url(b, url, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(b->kombu, sizeof b->kombu, "/[0-9]*.%s", b->channel);
    snprintf(base->name, sizeof base->name, "redis://%s:%d channel '%s'", b->host, b->port,
             b->channel);
    if (pipe2(b->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        rc = -errno;
        snprintf(err, errlen, "bridge: pipe: %s", strerror(errno));
        return rc;
    }
    if (!(b->evb = event_base_new()) ||
        !(b->wake_ev = event_new(b->evb, b->wake[0], EV_READ | EV_PERSIST, on_wake, b)) ||
        !(b->retry_ev = evtimer_new(b->evb, do_connect, b)) ||
        !(b->stats_ev = event_new(b->evb, -1, EV_PERSIST, on_stats, b))) {
        snprintf(err, errlen, "bridge: out of memory");
        return -ENOMEM;
    }
    struct timeval every = { STATS_EVERY_S, 0 };
    event_add(b->wake_ev, NULL);
    event_add(b->stats_ev, &every);
    return 0;
}

const struct sio_bridge_transport sio__bridge_redis = {
    .scheme = "redis", .size = sizeof(struct rbridge), .node_format = true,
    .open = open_bridge, .run = run, .wake = wake, .close = close_bridge, .pub = &pub_ops,
};

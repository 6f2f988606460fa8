/* publish.c: the publishing half of a bridge (see bridge.h).
 *
 * Two threads per publishing bridge. The reader subscribes to "*" on the
 * hub's commands endpoint, turns each command into python-socketio manager
 * messages (publish_msg.c) and appends them to a bounded queue; when the
 * queue is full the message is dropped and counted, so a slow broker never
 * makes the hub's PUB socket (and so the gateways) wait. The sender takes
 * messages off the queue and hands them to the transport (ops), which
 * blocks with its own timeouts; it reconnects with backoff, and what it
 * takes off the queue while the broker is unreachable is dropped and
 * counted. The queue owns its messages; the publisher owns the queue, the
 * SUB socket and both threads.
 */
#include "adapters/bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <sio/log.h>
#include "proto/bus.h"
#include "proto/batch.h"

SIO_LOG_TOPIC_STATIC(topic, "bridge.publish");

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define QUEUE_DEFAULT 10000
#define POLL_MS 200

struct item {
    struct item *next;
    size_t len;
    size_t choff;               /* format NODE: data holds "channel\0" then the message */
    unsigned char data[];
};

struct sio_bridge_pub {
    const struct sio_bridge_pub_ops *ops;
    void *ud;
    void *sub;
    char host_id[64];
    char name[640];
    enum sio_bridge_format format;
    pthread_t reader, sender;
    bool reader_started, sender_started;
    atomic_bool stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct item *head, *tail;   /* the queue, under mu */
    size_t qlen, qmax;
    atomic_uint_fast64_t seen, published, skipped, dropped_full, dropped_down, errors,
        reconnects;
};

void sio_bridge_host_id(char buf[33])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {   /* no entropy source: time and pid, still unique enough */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
            for (size_t i = got; i < sizeof r; i++, x = x * 6364136223846793005u + 1)
                r[i] = (unsigned char)(x >> 56);
            break;
        }
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(buf + 2 * i, 3, "%02x", r[i]);
}

/* reader: a message made by the translation goes to the queue, or is dropped */
static int enqueue_ch(void *ud, const char *channel, const void *msg, size_t len)
{
    struct sio_bridge_pub *p = ud;
    size_t choff = channel ? strlen(channel) + 1 : 0;
    struct item *it = malloc(sizeof *it + choff + len);
    if (!it)
        return -ENOMEM;
    it->next = NULL;
    it->len = len;
    it->choff = choff;
    if (choff)
        memcpy(it->data, channel, choff);
    memcpy(it->data + choff, msg, len);
    pthread_mutex_lock(&p->mu);
    if (p->qlen >= p->qmax) {
        pthread_mutex_unlock(&p->mu);
        free(it);
        if (atomic_fetch_add(&p->dropped_full, 1) % 1000 == 0)
            sio_log_warn(topic, "%s: queue full (%zu messages): dropping", p->name, p->qmax);
        return 0;   /* counted; not an error of the translation */
    }
    if (p->tail)
        p->tail->next = it;
    else
        p->head = it;
    p->tail = it;
    p->qlen++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

static int enqueue(void *ud, const void *msg, size_t len)
{
    return enqueue_ch(ud, NULL, msg, len);
}

/* One command seen on the commands endpoint: published to the broker
 * unless it came from one (org) or is not for it. */
static void publish_one(void *arg, const void *data, size_t len)
{
    struct sio_bridge_pub *p = arg;
    char err[256];
    struct sio_env env;
    atomic_fetch_add(&p->seen, 1);
    if (sio_env_decode(data, len, &env) == 0) {
        int rc = p->format == SIO_BRIDGE_NODE
                 ? sio_bridge_node_publish(&env, p->host_id, enqueue_ch, p, err, sizeof err)
                 : sio_bridge_py_publish(&env, p->host_id, p->format, enqueue, p, err,
                                         sizeof err);
        if (rc == 0)
            atomic_fetch_add(&p->skipped, 1);
        else if (rc < 0) {
            atomic_fetch_add(&p->errors, 1);
            sio_log_debug(topic, "%s: %s not published: %s", p->name,
                          sio_env_kind_name(env.kind), err);
        }
        sio_env_clear(&env);
    } else {
        atomic_fetch_add(&p->errors, 1);
    }
}

static void *reader(void *arg)
{
    struct sio_bridge_pub *p = arg;
    zmq_msg_t fr[2];
    while (!atomic_load(&p->stopping)) {
        zmq_pollitem_t it = { .socket = p->sub, .events = ZMQ_POLLIN };
        if (zmq_poll(&it, 1, POLL_MS) <= 0)
            continue;
        /* [topic, envelope]; read every frame of the message */
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, p->sub, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            if (n < 2)
                fr[n++] = m;
            else
                zmq_msg_close(&m);
        }
        /* a command, or a worker's commands of one pass (docs/BUS.md 2.4) */
        const char *why;
        if (n == 2 && sio_bus_envelopes_each(zmq_msg_data(&fr[1]), zmq_msg_size(&fr[1]),
                                             publish_one, p, &why) < 0) {
            atomic_fetch_add(&p->errors, 1);
            sio_log_debug(topic, "%s: bad batch dropped: %s", p->name, why);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&fr[i]);
    }
    return NULL;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *sender(void *arg)
{
    struct sio_bridge_pub *p = arg;
    bool connected = false, ever = false;
    unsigned backoff = BACKOFF_MIN_MS;
    uint64_t next_try = 0;
    char err[256];
    for (;;) {
        if (!connected && now_ms() >= next_try && !atomic_load(&p->stopping)) {
            err[0] = 0;
            if (p->ops->connect(p->ud, err, sizeof err) == 0) {
                connected = true;
                backoff = BACKOFF_MIN_MS;
                if (ever)
                    atomic_fetch_add(&p->reconnects, 1);
                ever = true;
                sio_log_info(topic, "%s: publishing", p->name);
            } else {
                p->ops->disconnect(p->ud);
                sio_log_info(topic, "%s: cannot connect to publish%s%s (retry in %u ms)",
                             p->name, err[0] ? ": " : "", err, backoff);
                next_try = now_ms() + backoff;
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            }
        }
        pthread_mutex_lock(&p->mu);
        while (!p->head && !atomic_load(&p->stopping)) {
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            uint64_t wait = connected ? 1000 : (next_try > now_ms() ? next_try - now_ms() : 0);
            if (wait == 0)
                break;
            dl.tv_sec += (time_t)(wait / 1000);
            dl.tv_nsec += (long)(wait % 1000) * 1000000;
            if (dl.tv_nsec >= 1000000000) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000;
            }
            if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
                break;
        }
        struct item *it = p->head;
        if (it) {
            p->head = it->next;
            if (!p->head)
                p->tail = NULL;
            p->qlen--;
        }
        pthread_mutex_unlock(&p->mu);
        if (!it) {
            if (atomic_load(&p->stopping))
                break;
            continue;
        }
        if (!connected && now_ms() >= next_try && !atomic_load(&p->stopping)) {
            /* the broker may be back: try before dropping */
            err[0] = 0;
            if (p->ops->connect(p->ud, err, sizeof err) == 0) {
                connected = true;
                backoff = BACKOFF_MIN_MS;
                atomic_fetch_add(&p->reconnects, ever);
                ever = true;
                sio_log_info(topic, "%s: publishing", p->name);
            } else {
                p->ops->disconnect(p->ud);
                next_try = now_ms() + backoff;
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            }
        }
        int sent = !connected ? -1
                   : it->choff ? p->ops->send_to(p->ud, (const char *)it->data,
                                                 it->data + it->choff, it->len)
                               : p->ops->send(p->ud, it->data, it->len);
        if (sent == 0) {
            atomic_fetch_add(&p->published, 1);
        } else {
            atomic_fetch_add(&p->dropped_down, 1);
            if (connected) {
                sio_log_warn(topic, "%s: publish failed: connection lost", p->name);
                p->ops->disconnect(p->ud);
                connected = false;
                next_try = now_ms();    /* once at once, then with backoff */
            }
        }
        free(it);
    }
    if (connected)
        p->ops->disconnect(p->ud);
    return NULL;
}

void sio__bridge_pub_get_stats(sio_bridge_pub *p, struct sio_bridge_pub_stats *out)
{
    *out = (struct sio_bridge_pub_stats){
        .seen = atomic_load(&p->seen), .published = atomic_load(&p->published),
        .skipped = atomic_load(&p->skipped), .dropped_full = atomic_load(&p->dropped_full),
        .dropped_down = atomic_load(&p->dropped_down), .errors = atomic_load(&p->errors),
        .reconnects = atomic_load(&p->reconnects),
    };
}

static void destroy(struct sio_bridge_pub *p)
{
    while (p->head) {
        struct item *it = p->head;
        p->head = it->next;
        free(it);
    }
    if (p->sub)
        zmq_close(p->sub);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int sio__bridge_pub_start(sio_bridge_pub **out, void *zmq_ctx,
                          const struct sio_bridge_pub_cfg *cfg,
                          const struct sio_bridge_pub_ops *ops, void *ud,
                          char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->commands_endpoint || !cfg->host_id || !cfg->host_id[0]) {
        snprintf(err, errlen, "bridge: publishing needs the hub's commands endpoint and a host id");
        return -EINVAL;
    }
    if (cfg->format == SIO_BRIDGE_NODE && !ops->send_to) {
        snprintf(err, errlen, "bridge: format node-adapter is for redis:// bridges only");
        return -EINVAL;
    }
    struct sio_bridge_pub *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->ops = ops;
    p->ud = ud;
    p->format = cfg->format;
    p->qmax = cfg->queue_max ? cfg->queue_max : QUEUE_DEFAULT;
    snprintf(p->host_id, sizeof p->host_id, "%s", cfg->host_id);
    snprintf(p->name, sizeof p->name, "%s", cfg->name ? cfg->name : "bridge");
    int linger = 0, hwm = 100000;
    p->sub = zmq_socket(zmq_ctx, ZMQ_SUB);
    if (!p->sub || zmq_setsockopt(p->sub, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(p->sub, ZMQ_RCVHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(p->sub, ZMQ_SUBSCRIBE, SIO_BUS_ALL_TOPIC, 1) < 0 ||
        zmq_connect(p->sub, cfg->commands_endpoint) < 0) {
        int rc = -zmq_errno();
        snprintf(err, errlen, "bridge: cannot subscribe to the hub at %s: %s",
                 cfg->commands_endpoint, zmq_strerror(-rc));
        destroy(p);
        return rc;
    }
    if (pthread_create(&p->sender, NULL, sender, p) != 0) {
        snprintf(err, errlen, "bridge: cannot start a thread");
        destroy(p);
        return -EAGAIN;
    }
    p->sender_started = true;
    if (pthread_create(&p->reader, NULL, reader, p) != 0) {
        snprintf(err, errlen, "bridge: cannot start a thread");
        sio__bridge_pub_stop(&p);
        return -EAGAIN;
    }
    p->reader_started = true;
    sio_log_info(topic, "%s: publishing this deployment's broadcasts as host %s (%s)",
                 p->name, p->host_id, p->format == SIO_BRIDGE_PICKLE ? "pickle"
                 : p->format == SIO_BRIDGE_NODE ? "node-adapter" : "json");
    *out = p;
    return 0;
}

void sio__bridge_pub_stop(sio_bridge_pub **pp)
{
    struct sio_bridge_pub *p = pp ? *pp : NULL;
    if (!p)
        return;
    *pp = NULL;
    atomic_store(&p->stopping, true);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->reader_started)
        pthread_join(p->reader, NULL);
    if (p->sender_started)
        pthread_join(p->sender, NULL);
    struct sio_bridge_pub_stats s;
    sio__bridge_pub_get_stats(p, &s);
    sio_log_info(topic, "%s: stopped: seen %llu, published %llu, skipped %llu, "
                 "dropped (queue full) %llu, dropped (broker down) %llu, errors %llu, "
                 "reconnects %llu",
                 p->name, (unsigned long long)s.seen, (unsigned long long)s.published,
                 (unsigned long long)s.skipped, (unsigned long long)s.dropped_full,
                 (unsigned long long)(s.dropped_down + p->qlen), (unsigned long long)s.errors,
                 (unsigned long long)s.reconnects);
    destroy(p);
}

/* kafka.c: the Kafka bridge (librdkafka), python-socketio's KafkaManager.
 *
 * KafkaManager publishes pickle.dumps(message) on topic "socketio" (its
 * channel) and every server reads every message: its kafka-python
 * KafkaConsumer has no group_id, so it takes all partitions and starts at
 * the end. This bridge does the same with librdkafka's simple consumer: no
 * group.id, no commits; it reads the topic's metadata, starts each
 * partition at its high watermark (partitions that appear later, or a topic
 * created after the bridge started, from their beginning), and refreshes
 * the metadata every few seconds for new partitions. Each value goes
 * through sio_bridge_py_message() (bridge_msg.c) and the commands are sent
 * [topic, envelope] to the hub's "workers" endpoint without blocking.
 * Connections, reconnects and backoff belong to librdkafka. One thread per
 * bridge; stop sets a flag and wakes the queue. Start, stop, counters and
 * publishing's queue are transport.c's and publish.c's.
 *
 * URL: kafka://host:port[,host:port...][/topic]  (kafka:// alone is
 * localhost:9092, as in python-socketio).
 */
#include "adapters/transport.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
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

SIO_LOG_TOPIC_STATIC(topic, "bridge.kafka");

#define REFRESH_MS 5000         /* metadata refresh (new partitions) */
#define RETRY_MS 1000           /* while the topic or a watermark is missing */
#define MD_TIMEOUT_MS 1000
#define POLL_MS 100
#define STATS_EVERY_MS 60000
#define MAX_PARTITIONS 4096

struct kbridge {
    struct sio_bridge_base base;    /* first: transport.c's part */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *q;
    char brokers[1024];
    char topic[256];
    bool *running;              /* per partition id: consuming */
    int nrunning;               /* size of running[] */
    bool baseline;              /* a first metadata answer was seen */
    bool down;                  /* all brokers down was reported */
    /* publishing: a producer, used on the publisher's sender thread */
    rd_kafka_t *prod;
    atomic_uint_fast64_t undelivered;   /* produced, then not delivered (librdkafka gave up) */
};

static const char usage[] = "kafka://host:port[,host:port...][/topic]";

static int parse_url(struct kbridge *b, const char *url, char *err, size_t errlen)
{
    if (strncmp(url, "kafka://", 8) != 0)
        goto bad;
    const char *p = url + 8;
    size_t hl = strcspn(p, "/");
    if (hl >= sizeof b->brokers)
        goto bad;
    if (hl == 0) {
        snprintf(b->brokers, sizeof b->brokers, "localhost:9092");
    } else {
        memcpy(b->brokers, p, hl);
        b->brokers[hl] = 0;
        if (strpbrk(b->brokers, " \t\r\n@") || b->brokers[0] == ',' || b->brokers[hl - 1] == ',' ||
            strstr(b->brokers, ",,"))
            goto bad;
    }
    p += hl;
    snprintf(b->topic, sizeof b->topic, "socketio");
    if (*p == '/' && p[1]) {
        p++;
        /* Kafka topic names: [a-zA-Z0-9._-], at most 249 characters */
        size_t tl = strlen(p);
        if (tl > 249 || strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789._-") != tl)
            goto bad;
        snprintf(b->topic, sizeof b->topic, "%s", p);
    } else if (*p && strcmp(p, "/") != 0) {
        goto bad;
    }
    return 0;
bad:
    snprintf(err, errlen, "bad bridge url '%s' (%s)", url, usage);
    return -EINVAL;
}

static void on_message(struct kbridge *b, const rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            sio_log_debug(topic, "%s [%d]: %s", b->topic, (int)m->partition,
                          rd_kafka_message_errstr(m));
        return;
    }
    char what[300];
    snprintf(what, sizeof what, "%s [%d] offset %lld:", b->topic, (int)m->partition,
             (long long)m->offset);
    sio__bridge_py_in(&b->base, m->payload ? m->payload : "", m->len, what);
}

/* Reads the topic's partitions and starts those not consumed yet. Returns
 * true when everything known is running (the next refresh can wait). */
static bool refresh(struct kbridge *b)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(b->rk, 0, b->rkt, &md, MD_TIMEOUT_MS);
    if (e) {
        sio_log_debug(topic, "%s: metadata: %s", b->brokers, rd_kafka_err2str(e));
        return false;
    }
    bool first = !b->baseline, done = true;
    b->baseline = true;
    b->down = false;
    const struct rd_kafka_metadata_topic *t = NULL;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, b->topic) == 0)
            t = &md->topics[i];
    if (!t || t->err || t->partition_cnt == 0) {
        if (first)
            sio_log_info(topic, "%s: topic '%s' does not exist yet (%s); waiting for it",
                         b->brokers, b->topic,
                         t && t->err ? rd_kafka_err2str(t->err) : "no partitions");
        rd_kafka_metadata_destroy(md);
        return false;
    }
    int started = 0;
    for (int i = 0; i < t->partition_cnt; i++) {
        int32_t id = t->partitions[i].id;
        if (atomic_load(&b->base.stopping)) {
            done = false;
            break;
        }
        if (id < 0 || id >= MAX_PARTITIONS)
            continue;
        if (id >= b->nrunning) {
            bool *r = realloc(b->running, (size_t)(id + 1) * sizeof *r);
            if (!r) {
                done = false;
                break;
            }
            memset(r + b->nrunning, 0, (size_t)(id + 1 - b->nrunning) * sizeof *r);
            b->running = r;
            b->nrunning = id + 1;
        }
        if (b->running[id])
            continue;
        /* Partitions of the first answer start at their end, as KafkaManager's
         * consumer does; later ones hold only messages sent since we started. */
        int64_t start = RD_KAFKA_OFFSET_BEGINNING;
        if (first) {
            int64_t lo, hi;
            rd_kafka_resp_err_t we = rd_kafka_query_watermark_offsets(b->rk, b->topic, id, &lo,
                                                                      &hi, MD_TIMEOUT_MS);
            if (we) {
                sio_log_debug(topic, "%s [%d]: watermarks: %s", b->topic, (int)id,
                              rd_kafka_err2str(we));
                done = false;
                b->baseline = false;    /* try again as a first answer */
                continue;
            }
            start = hi;
        }
        if (rd_kafka_consume_start_queue(b->rkt, id, start, b->q) < 0) {
            sio_log_warn(topic, "%s [%d]: cannot start: %s", b->topic, (int)id,
                         rd_kafka_err2str(rd_kafka_last_error()));
            done = false;
            continue;
        }
        b->running[id] = true;
        started++;
    }
    if (started)
        sio_log_info(topic, "%s: consuming %d partition%s of topic '%s' (%s)", b->brokers,
                     started, started == 1 ? "" : "s", b->topic,
                     first ? "from the end" : "new partitions, from the beginning");
    rd_kafka_metadata_destroy(md);
    return done;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *run(void *arg)
{
    struct kbridge *b = arg;
    uint64_t next_refresh = 0, next_stats = now_ms() + STATS_EVERY_MS;
    while (!atomic_load(&b->base.stopping)) {
        uint64_t now = now_ms();
        if (now >= next_refresh) {
            bool done = refresh(b);
            next_refresh = now_ms() + (done ? REFRESH_MS : RETRY_MS);
        }
        if (now >= next_stats) {
            sio__bridge_log_stats(&b->base, "", true);
            next_stats = now + STATS_EVERY_MS;
        }
        rd_kafka_poll(b->rk, 0);        /* error and log callbacks */
        rd_kafka_message_t *m = rd_kafka_consume_queue(b->q, POLL_MS);
        while (m) {
            on_message(b, m);
            rd_kafka_message_destroy(m);
            if (atomic_load(&b->base.stopping))
                break;
            m = rd_kafka_consume_queue(b->q, 0);
        }
    }
    for (int i = 0; i < b->nrunning; i++)
        if (b->running[i])
            rd_kafka_consume_stop(b->rkt, i);
    return NULL;
}

static void on_error(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    struct kbridge *b = opaque;
    (void)rk;
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        if (!b->down)
            sio_log_warn(topic, "%s: all brokers down (%s); librdkafka retries", b->brokers, reason);
        b->down = true;
        atomic_fetch_add(&b->base.reconnects, 1);
    } else {
        sio_log_debug(topic, "%s: %s: %s", b->brokers, rd_kafka_err2name((rd_kafka_resp_err_t)e),
                      reason);
    }
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    sio_log_debug(topic, "librdkafka %s: %s", fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    if (rd_kafka_conf_set(conf, k, v, err, errlen) != RD_KAFKA_CONF_OK)
        return -EINVAL;
    return 0;
}

/* ---- publishing: KafkaManager sends each message to the topic, no key ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kbridge *b = opaque;
    (void)rk;
    if (m->err) {
        if (atomic_fetch_add(&b->undelivered, 1) % 1000 == 0)
            sio_log_warn(topic, "%s: publish not delivered: %s", b->brokers,
                         rd_kafka_err2str(m->err));
    }
}

static int pub_connect(void *ud, char *err, size_t errlen)
{
    struct kbridge *b = ud;
    if (b->prod)
        return 0;   /* librdkafka reconnects by itself */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return -ENOMEM;
    rd_kafka_conf_set_opaque(conf, b);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    if (conf_set(conf, "bootstrap.servers", b->brokers, err, errlen) < 0 ||
        conf_set(conf, "client.id", "sio-bridge-publish", err, errlen) < 0 ||
        conf_set(conf, "linger.ms", "5", err, errlen) < 0 ||
        /* bounded: what librdkafka keeps for a broker that is away */
        conf_set(conf, "queue.buffering.max.messages", "10000", err, errlen) < 0 ||
        conf_set(conf, "message.timeout.ms", "30000", err, errlen) < 0 ||
        conf_set(conf, "reconnect.backoff.ms", "100", err, errlen) < 0 ||
        conf_set(conf, "reconnect.backoff.max.ms", "5000", err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return -EINVAL;
    }
    b->prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!b->prod) {
        rd_kafka_conf_destroy(conf);
        return -EINVAL;
    }
    return 0;
}

static int pub_send(void *ud, const void *msg, size_t len)
{
    struct kbridge *b = ud;
    rd_kafka_resp_err_t e = rd_kafka_producev(b->prod, RD_KAFKA_V_TOPIC(b->topic),
                                              RD_KAFKA_V_VALUE((void *)msg, len),
                                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                              RD_KAFKA_V_END);
    rd_kafka_poll(b->prod, 0);      /* delivery reports */
    return e ? -EAGAIN : 0;         /* a full producer queue: dropped and counted */
}

static void pub_disconnect(void *ud)
{
    (void)ud;   /* the producer stays: librdkafka reconnects; freed at stop */
}

static const struct sio_bridge_pub_ops pub_ops = {
    .connect = pub_connect, .send = pub_send, .disconnect = pub_disconnect,
};

static void wake(struct sio_bridge_base *base)
{
    struct kbridge *b = (struct kbridge *)base;
    rd_kafka_queue_yield(b->q);
}

static void close_bridge(struct sio_bridge_base *base)
{
    struct kbridge *b = (struct kbridge *)base;
    if (b->prod) {
        rd_kafka_flush(b->prod, 2000);
        uint64_t n = atomic_load(&b->undelivered);
        if (n)
            sio_log_warn(topic, "%s: %llu published messages were not delivered", base->name,
                         (unsigned long long)n);
        rd_kafka_destroy(b->prod);
    }
    if (b->q)
        rd_kafka_queue_destroy(b->q);
    if (b->rkt)
        rd_kafka_topic_destroy(b->rkt);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    free(b->running);
}

static int open_bridge(struct sio_bridge_base *base, const char *url, char *err, size_t errlen)
{
    struct kbridge *b = (struct kbridge *)base;
    base->log = topic;
    int rc = parse_url(b, url, err, errlen);
    if (rc < 0)
        return rc;
    snprintf(base->name, sizeof base->name, "kafka://%s topic '%s'", b->brokers, b->topic);
    char kerr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return -ENOMEM;
    rd_kafka_conf_set_opaque(conf, b);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    /* no group.id: no group membership and nothing committed */
    if (conf_set(conf, "bootstrap.servers", b->brokers, kerr, sizeof kerr) < 0 ||
        conf_set(conf, "client.id", "sio-bridge", kerr, sizeof kerr) < 0 ||
        conf_set(conf, "enable.partition.eof", "false", kerr, sizeof kerr) < 0 ||
        conf_set(conf, "auto.offset.reset", "latest", kerr, sizeof kerr) < 0 ||
        conf_set(conf, "reconnect.backoff.ms", "100", kerr, sizeof kerr) < 0 ||
        conf_set(conf, "reconnect.backoff.max.ms", "5000", kerr, sizeof kerr) < 0) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "bridge %s: %s", url, kerr);
        return -EINVAL;
    }
    b->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!b->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "bridge %s: %s", url, kerr);
        return -EINVAL;
    }
    if (!(b->rkt = rd_kafka_topic_new(b->rk, b->topic, NULL)) ||
        !(b->q = rd_kafka_queue_new(b->rk))) {
        snprintf(err, errlen, "bridge %s: cannot set up the consumer", url);
        return -ENOMEM;
    }
    return 0;
}

const struct sio_bridge_transport sio__bridge_kafka = {
    .scheme = "kafka", .size = sizeof(struct kbridge),
    .open = open_bridge, .run = run, .wake = wake, .close = close_bridge, .pub = &pub_ops,
};

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
 * bridge; stop sets a flag and wakes the queue.
 *
 * URL: kafka://host:port[,host:port...][/topic]  (kafka:// alone is
 * localhost:9092, as in python-socketio).
 */
#include "bridge.h"
#include "dispatch.h"

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
#include "buf.h"

SIO_LOG_TOPIC_STATIC(topic, "bridge.kafka");

#define REFRESH_MS 5000         /* metadata refresh (new partitions) */
#define RETRY_MS 1000           /* while the topic or a watermark is missing */
#define MD_TIMEOUT_MS 1000
#define POLL_MS 100
#define STATS_EVERY_MS 60000
#define MAX_PARTITIONS 4096

struct kbridge {
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *q;
    struct sio_bridge_hub hub;      /* the link to the hub */
    char brokers[1024];
    char topic[256];
    bool *running;              /* per partition id: consuming */
    int nrunning;               /* size of running[] */
    bool baseline;              /* a first metadata answer was seen */
    bool down;                  /* all brokers down was reported */
    atomic_uint_fast64_t in, delivered, ignored, rejected, reconnects, own;
    uint64_t last_in;
    char host_id[64];               /* this deployment's ("" when not given) */
    /* publishing: a producer, used on the publisher's sender thread */
    sio_bridge_pub *pub;
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
    char err[256] = "";
    atomic_fetch_add(&b->in, 1);
    bool own = false;
    int rc = sio_bridge_py_message_rx(m->payload ? m->payload : "", m->len, b->host_id, &own,
                                      sio__bridge_hub_send, &b->hub, err, sizeof err);
    if (own) {
        atomic_fetch_add(&b->own, 1);
    } else if (rc > 0) {
        atomic_fetch_add(&b->delivered, 1);
    } else if (rc == 0) {
        atomic_fetch_add(&b->ignored, 1);
    } else {
        atomic_fetch_add(&b->rejected, 1);
        if (rc == -EPERM)
            sio_log_warn(topic, "%s [%d] offset %lld: message rejected: %s", b->topic,
                         (int)m->partition, (long long)m->offset, err);
        else
            sio_log_debug(topic, "%s [%d] offset %lld: message rejected: %s", b->topic,
                          (int)m->partition, (long long)m->offset,
                          err[0] ? err : sio_strerror(rc));
    }
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
        if (atomic_load(&b->stopping)) {
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

static void log_stats(struct kbridge *b)
{
    uint64_t in = atomic_load(&b->in);
    if (in != b->last_in)
        sio_log_info(topic, "%s/%s: in %llu, delivered %llu, ignored %llu, rejected %llu, "
                     "own %llu, undelivered %llu",
                     b->brokers, b->topic, (unsigned long long)in,
                     (unsigned long long)atomic_load(&b->delivered),
                     (unsigned long long)atomic_load(&b->ignored),
                     (unsigned long long)atomic_load(&b->rejected),
                     (unsigned long long)atomic_load(&b->own),
                     (unsigned long long)atomic_load(&b->undelivered));
    b->last_in = in;
}

static void *run(void *arg)
{
    struct kbridge *b = arg;
    uint64_t next_refresh = 0, next_stats = now_ms() + STATS_EVERY_MS;
    while (!atomic_load(&b->stopping)) {
        uint64_t now = now_ms();
        if (now >= next_refresh) {
            bool done = refresh(b);
            next_refresh = now_ms() + (done ? REFRESH_MS : RETRY_MS);
        }
        if (now >= next_stats) {
            log_stats(b);
            next_stats = now + STATS_EVERY_MS;
        }
        rd_kafka_poll(b->rk, 0);        /* error and log callbacks */
        rd_kafka_message_t *m = rd_kafka_consume_queue(b->q, POLL_MS);
        while (m) {
            on_message(b, m);
            rd_kafka_message_destroy(m);
            if (atomic_load(&b->stopping))
                break;
            m = rd_kafka_consume_queue(b->q, 0);
        }
    }
    for (int i = 0; i < b->nrunning; i++)
        if (b->running[i])
            rd_kafka_consume_stop(b->rkt, i);
    log_stats(b);
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
        atomic_fetch_add(&b->reconnects, 1);
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

static void destroy(struct kbridge *b)
{
    sio__bridge_pub_stop(&b->pub);
    if (b->prod) {
        rd_kafka_flush(b->prod, 2000);
        rd_kafka_destroy(b->prod);
    }
    if (b->q)
        rd_kafka_queue_destroy(b->q);
    if (b->rkt)
        rd_kafka_topic_destroy(b->rkt);
    if (b->rk)
        rd_kafka_destroy(b->rk);
    sio__bridge_hub_close(&b->hub);
    free(b->running);
    free(b);
}


int sio__bridge_kafka_start(void **impl, void *zmq_ctx, const char *hub_endpoint,
                            const char *url, const struct sio_bridge_opts *opts,
                            char *err, size_t errlen)
{
    *impl = NULL;
    struct kbridge *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    if (opts && opts->host_id)
        snprintf(b->host_id, sizeof b->host_id, "%s", opts->host_id);
    int rc = parse_url(b, url, err, errlen);
    if (rc < 0)
        goto fail;
    if ((rc = sio__bridge_hub_open(&b->hub, zmq_ctx, hub_endpoint, err, errlen)) < 0)
        goto fail;
    char kerr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        rc = -ENOMEM;
        goto fail;
    }
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
        rc = -EINVAL;
        goto fail;
    }
    b->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!b->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "bridge %s: %s", url, kerr);
        rc = -EINVAL;
        goto fail;
    }
    rc = -ENOMEM;
    if (!(b->rkt = rd_kafka_topic_new(b->rk, b->topic, NULL)) ||
        !(b->q = rd_kafka_queue_new(b->rk))) {
        snprintf(err, errlen, "bridge %s: cannot set up the consumer", url);
        goto fail;
    }
    if ((rc = -pthread_create(&b->thread, NULL, run, b)) < 0) {
        snprintf(err, errlen, "bridge: cannot start a thread");
        goto fail;
    }
    b->started = true;
    if (opts && opts->publish) {
        char name[1400];
        snprintf(name, sizeof name, "kafka://%s topic '%s'", b->brokers, b->topic);
        const struct sio_bridge_pub_cfg pc = {
            .commands_endpoint = opts->commands_endpoint, .host_id = b->host_id,
            .format = opts->format, .name = name,
        };
        if ((rc = sio__bridge_pub_start(&b->pub, zmq_ctx, &pc, &pub_ops, b, err, errlen)) < 0) {
            sio__bridge_kafka_stop((void **)&b);
            return rc;
        }
    }
    sio_log_info(topic, "bridge kafka://%s topic '%s' -> %s", b->brokers, b->topic, hub_endpoint);
    *impl = b;
    return 0;
fail:
    destroy(b);
    return rc;
}

void sio__bridge_kafka_stop(void **impl)
{
    struct kbridge *b = impl ? *impl : NULL;
    if (!b)
        return;
    *impl = NULL;
    if (b->started) {
        atomic_store(&b->stopping, true);
        rd_kafka_queue_yield(b->q);
        pthread_join(b->thread, NULL);
    }
    destroy(b);
}

void sio__bridge_kafka_stats(void *impl, struct sio_bridge_stats *out)
{
    struct kbridge *b = impl;
    *out = (struct sio_bridge_stats){
        .in = atomic_load(&b->in), .delivered = atomic_load(&b->delivered),
        .ignored = atomic_load(&b->ignored), .rejected = atomic_load(&b->rejected),
        .reconnects = atomic_load(&b->reconnects), .own = atomic_load(&b->own),
    };
    if (b->pub)
        sio__bridge_pub_get_stats(b->pub, &out->pub);
}

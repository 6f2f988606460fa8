/* transport.h: what a broker transport is, and what every transport shares.
 *
 * A transport (redis/redis.c, amqp/amqp.c, kafka/kafka.c) is one table of
 * methods, struct sio_bridge_transport, and a struct of its own that starts
 * with a struct sio_bridge_base. transport.c does the rest for all of them:
 * it picks the transport by the URL's scheme, allocates the struct, opens
 * the link to the hub, runs the transport's thread, starts the publisher,
 * counts messages, logs the counters, stops and frees.
 *
 * Adding a broker: write adapters/<name>/<name>.c defining
 * `const struct sio_bridge_transport sio__bridge_<name>`, add X(<name>) to
 * SIO_BRIDGE_TRANSPORTS below and the file to adapters/meson.build
 * (docs/BRIDGES.md "Adding a broker").
 */
#ifndef SIO_ADAPTERS_TRANSPORT_H
#define SIO_ADAPTERS_TRANSPORT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sio/log.h>
#include "adapters/bridge.h"

/* Every transport, in the order schemes are tried. */
#define SIO_BRIDGE_TRANSPORTS(X) X(redis) X(amqp) X(kafka)

struct sio_bridge_base;

struct sio_bridge_transport {
    const char *scheme;     /* "redis" for redis:// URLs */
    size_t size;            /* of the transport's struct (a struct sio_bridge_base first) */
    bool node_format;       /* can publish format=node-adapter (needs pub->send_to) */
    /* Parse url (sio's own options already removed) and make what the
     * thread needs; set base->name (for the logs) and base->log. Called
     * once, before the thread starts. 0, or < 0 with err set; close() is
     * called either way. */
    int   (*open)(struct sio_bridge_base *b, const char *url, char *err, size_t errlen);
    /* The bridge's thread (arg: the struct). Returns once
     * atomic_load(&base->stopping) is true, at the latest after wake(). */
    void *(*run)(void *arg);
    /* Make run() see stopping now (NULL: run() polls the flag often). */
    void  (*wake)(struct sio_bridge_base *b);
    /* Free what open() made (the thread has ended, or never started). */
    void  (*close)(struct sio_bridge_base *b);
    /* Publishing (called on the publisher's sender thread, ud = the
     * struct); NULL when the transport cannot publish. */
    const struct sio_bridge_pub_ops *pub;
};

struct sio_bridge_base {
    const struct sio_bridge_transport *tp;
    struct sio_log_topic *log;      /* the transport's topic, e.g. "bridge.redis" */
    char name[1400];                /* "redis://127.0.0.1:6379 channel 'socketio'" */
    char host_id[64];               /* this deployment's ("" when not given) */
    struct sio_bridge_hub hub;      /* the link to the hub (used by run's thread only) */
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    atomic_uint_fast64_t in, delivered, ignored, rejected, reconnects, own;
    uint64_t last_in;               /* in at the last counters line */
    sio_bridge_pub *pub;            /* NULL when the bridge only listens */
    enum sio_bridge_format format;  /* what publishing writes */
};

#define SIO_BRIDGE_DECLARE(name) extern const struct sio_bridge_transport sio__bridge_##name;
SIO_BRIDGE_TRANSPORTS(SIO_BRIDGE_DECLARE)
#undef SIO_BRIDGE_DECLARE

/* Reconnect delays: 100 ms doubling to 5 s. */
#define SIO_BRIDGE_BACKOFF_MIN_MS 100u
#define SIO_BRIDGE_BACKOFF_MAX_MS 5000u
/* The delay to wait now; *ms becomes the next one. */
unsigned sio__bridge_backoff(unsigned *ms);

/* Sleep ms, waking early when the bridge is stopped. false: stopped. */
bool sio__bridge_sleep(struct sio_bridge_base *b, unsigned ms);

/* One python-socketio manager message received (what names it in the
 * logs, e.g. "python-socketio (kombu)"): translated, sent to the hub,
 * counted. Returns what sio_bridge_py_message_rx() returned. */
int  sio__bridge_py_in(struct sio_bridge_base *b, const void *buf, size_t len, const char *what);
/* The same for a @socket.io/redis-emitter message on channel. */
int  sio__bridge_node_in(struct sio_bridge_base *b, const char *channel, size_t chlen,
                         const void *buf, size_t len);
/* Count a message the transport rejected before translation (e.g. too big). */
void sio__bridge_reject(struct sio_bridge_base *b, const char *what, const char *why);

/* Log the counters ("when" prefixes them, e.g. "stopped: "); only_changed:
 * not when nothing came in since the last line. */
void sio__bridge_log_stats(struct sio_bridge_base *b, const char *when, bool only_changed);

#endif

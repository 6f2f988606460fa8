/* bridge.h: bridges from external brokers to the bus (issue 8).
 *
 * A bridge subscribes to a broker in the wire formats of the existing
 * ecosystem and turns each message into bus commands (docs/BUS.md) that it
 * sends, as an external emitter does, to the hub's "workers" endpoint with
 * topic "*". docs/BRIDGES.md lists what is understood.
 *
 * The translation (sio_bridge_py_message, sio_bridge_node_message) has no
 * I/O and is shared by every transport (transport.h); dispatch.h starts a
 * bridge by its URL.
 */
#ifndef SIO_ADAPTERS_BRIDGE_H
#define SIO_ADAPTERS_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"
#include "proto/envelope.h"

/* Receives each command made from a message. env (and the strings it
 * points to) is borrowed until the call returns. 0, or < 0 to stop. */
typedef int (*sio_bridge_send_fn)(void *ud, const char *topic, const struct sio_env *env);

/* One python-socketio manager message (a pickle from 5.7.2, JSON from
 * 5.14+), bare or in kombu's envelope (KombuManager over Redis: a JSON
 * object whose base64 "body" is the message). Returns the number of commands sent (> 0), 0 when the message is
 * valid but carries nothing for us (e.g. method "callback"), < 0 when it is
 * rejected (err says why): -EPERM for a pickle that would build objects,
 * SIO_ERR_PROTO / SIO_ERR_JSON / SIO_ERR_SHAPE / SIO_ERR_ATTACH for
 * malformed ones, or the error of send. */
int sio_bridge_py_message(const void *buf, size_t len, sio_bridge_send_fn send, void *ud,
                          char *err, size_t errlen);

/* One @socket.io/redis-emitter (or classic @socket.io/redis-adapter)
 * message, on channel "socket.io#<nsp>#[<room>#]" (msgpack [uid, packet,
 * opts]) or "socket.io-request#<nsp>#" (JSON requests: sockets join,
 * leave, disconnect). Returns as sio_bridge_py_message(). */
int sio_bridge_node_message(const char *channel, size_t chlen, const void *buf, size_t len,
                            sio_bridge_send_fn send, void *ud, char *err, size_t errlen);

/* As sio_bridge_py_message(), for a deployment whose host id is self_id
 * (NULL: none): a message carrying that host_id is one this deployment
 * published; it is not delivered again (returns 0, *own = true). Every
 * command made carries "org" (the message's host_id, "" when it has none)
 * so that no bridge publishes it back (docs/BUS.md). */
int sio_bridge_py_message_rx(const void *buf, size_t len, const char *self_id, bool *own,
                             sio_bridge_send_fn send, void *ud, char *err, size_t errlen);

/* ---- publishing (docs/BRIDGES.md "Publishing") ---- */

enum sio_bridge_format {
    SIO_BRIDGE_JSON = 0,    /* python-socketio >= 5.14 */
    SIO_BRIDGE_PICKLE,      /* python-socketio <= 5.13 (Debian's 5.7.2) */
    SIO_BRIDGE_NODE,        /* @socket.io/redis-adapter (classic), Redis only */
};

/* Receives each message made by sio_bridge_py_publish(); msg is borrowed
 * until the call returns. 0, or < 0 to stop. */
typedef int (*sio_bridge_out_fn)(void *ud, const void *msg, size_t len);

/* Turn one bus command (seen on the hub's "*" topic) into python-socketio
 * manager messages tagged with host_id, in fmt (publish_msg.c). Returns
 * the number of messages made (0: nothing to publish: a command that came
 * from a broker (it has "org"), or a kind that is not published), or < 0
 * (err set). */
int sio_bridge_py_publish(const struct sio_env *env, const char *host_id,
                          enum sio_bridge_format fmt, sio_bridge_out_fn out, void *ud,
                          char *err, size_t errlen);

/* Receives each message made by sio_bridge_node_publish(): the Redis
 * channel to publish it on and the message, both borrowed. 0 or < 0. */
typedef int (*sio_bridge_out_ch_fn)(void *ud, const char *channel, const void *msg, size_t len);

/* Turn one bus command into @socket.io/redis-adapter 8.x messages tagged
 * with uid (publish_node.c): an EMIT becomes msgpack [uid, packet{type 2,
 * data, nsp}, opts{rooms, except, flags}] on "socket.io#<nsp>#" (or
 * "socket.io#<nsp>#<room>#" for one room); JOIN / LEAVE / DISCONNECT_CMD /
 * CLOSE_ROOM become the adapter's JSON requests (types 2, 3, 4) on
 * "socket.io-request#<nsp>#". Returns as sio_bridge_py_publish(). */
int sio_bridge_node_publish(const struct sio_env *env, const char *uid, sio_bridge_out_ch_fn out,
                            void *ud, char *err, size_t errlen);

/* As sio_bridge_node_message(), for a deployment that publishes with uid
 * self_uid (NULL: none): a message or request carrying that uid is ours
 * and is skipped (returns 0, *own = true). */
int sio_bridge_node_message_rx(const char *channel, size_t chlen, const void *buf, size_t len,
                               const char *self_uid, bool *own, sio_bridge_send_fn send,
                               void *ud, char *err, size_t errlen);

/* What a transport does to publish, called on the publisher's sender
 * thread only (adapters/publish.c). */
struct sio_bridge_pub_ops {
    int  (*connect)(void *ud, char *err, size_t errlen);   /* 0 or < 0 */
    int  (*send)(void *ud, const void *msg, size_t len);   /* 0, or < 0: link lost */
    void (*disconnect)(void *ud);                          /* NULL-safe state */
    /* publish on a channel of the message's own (format SIO_BRIDGE_NODE);
     * NULL when the transport has no such thing */
    int  (*send_to)(void *ud, const char *channel, const void *msg, size_t len);
};

struct sio_bridge_pub_cfg {
    const char *commands_endpoint;  /* the hub's commands (PUB) endpoint */
    const char *host_id;            /* this deployment's */
    enum sio_bridge_format format;
    size_t queue_max;               /* messages waiting for the broker (0: 10000) */
    const char *name;               /* for the logs, e.g. "redis 127.0.0.1:6379" */
};

struct sio_bridge_pub_stats {
    uint64_t seen;          /* commands read from the hub */
    uint64_t published;     /* messages the broker took */
    uint64_t skipped;       /* commands not published (from a broker, or not a broadcast) */
    uint64_t dropped_full;  /* messages dropped: the queue was full (slow broker) */
    uint64_t dropped_down;  /* messages dropped: the broker was unreachable */
    uint64_t errors;        /* commands that could not be translated */
    uint64_t reconnects;    /* connections made after a loss */
};

typedef struct sio_bridge_pub sio_bridge_pub;

/* Start the publisher: a reader thread (SUB "*" on the commands endpoint,
 * translation, a bounded queue that drops and counts when full: the hub,
 * and so the gateways, never wait for it) and a sender thread (ops, with
 * reconnects and backoff 100 ms doubling to 5 s; what it takes from the
 * queue while the broker is unreachable is dropped and counted). ops and
 * ud must outlive the publisher. 0 or < 0 (err set). */
int  sio__bridge_pub_start(sio_bridge_pub **out, void *zmq_ctx,
                           const struct sio_bridge_pub_cfg *cfg,
                           const struct sio_bridge_pub_ops *ops, void *ud,
                           char *err, size_t errlen);
/* Stop both threads, log the counters, free; NULL-safe. */
void sio__bridge_pub_stop(sio_bridge_pub **p);
void sio__bridge_pub_get_stats(sio_bridge_pub *p, struct sio_bridge_pub_stats *out);

/* Options every transport takes (dispatch.c fills them from the URL and
 * the command line). */
struct sio_bridge_opts {
    bool publish;                   /* also publish this deployment's broadcasts */
    enum sio_bridge_format format;  /* what to publish */
    const char *commands_endpoint;  /* needed when publish */
    const char *host_id;            /* this deployment's host id (32 hex digits) */
};

/* A new random host id: 32 lower-case hex digits, as python-socketio's
 * uuid4().hex. buf has room for 33 bytes. */
void sio_bridge_host_id(char buf[33]);

struct sio_bridge_stats {
    uint64_t in;        /* messages received */
    uint64_t delivered; /* messages turned into commands for the hub */
    uint64_t ignored;   /* valid messages with nothing to do */
    uint64_t rejected;  /* malformed or refused messages, and failed sends */
    uint64_t reconnects;
    uint64_t own;       /* messages this deployment published, skipped on receipt */
    struct sio_bridge_pub_stats pub;    /* all 0 when the bridge does not publish */
};

/* The link every bridge transport has to the hub: a DEALER on the hub's
 * workers endpoint and a reusable encode buffer (adapters/hub_link.c). */
struct sio_bridge_hub {
    void *zsock;
    struct sio_buf enc;
};

/* Connect to the hub. 0, or a negative errno with err set. */
int  sio__bridge_hub_open(struct sio_bridge_hub *h, void *zmq_ctx, const char *hub_endpoint,
                          char *err, size_t errlen);
/* A sio_bridge_send_fn (ud = the struct sio_bridge_hub): encode env and
 * send [topic, envelope] without blocking. 0 or a negative errno. */
int  sio__bridge_hub_send(void *ud, const char *topic, const struct sio_env *env);
void sio__bridge_hub_close(struct sio_bridge_hub *h);

/* Parse "host[:port]" or "[v6]:port" at *p (a URL's authority after any
 * user info), stopping at a character of stop (e.g. "/?"). host gets the
 * host ("127.0.0.1" when empty), *port the port when one is given (1-65535;
 * left alone otherwise); *p moves past what was read. 0 or -EINVAL. */
int  sio__bridge_parse_hostport(const char **p, const char *stop, char *host, size_t hostcap,
                                int *port);

/* Format a message into err (when given) and return code: the one way the
 * message translators (bridge_msg.c, publish_msg.c, publish_node.c) fail. */
__attribute__((format(printf, 4, 5)))
int sio__bridge_failf(char *err, size_t errlen, int code, const char *fmt, ...);

#endif

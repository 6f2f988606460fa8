/* bridge.h: bridges from external brokers to the bus (issue 8).
 *
 * A bridge subscribes to a broker in the wire formats of the existing
 * ecosystem and turns each message into bus commands (docs/BUS.md) that it
 * sends, as an external emitter does, to the hub's "workers" endpoint with
 * topic "*". docs/BRIDGES.md lists what is understood.
 *
 * The translation (sio_bridge_py_message, sio_bridge_node_message) has no
 * I/O and is shared by every transport; sio_bridge_start() runs one Redis
 * bridge (hiredis on libevent) in its own thread.
 */
#ifndef SIO_ADAPTERS_BRIDGE_H
#define SIO_ADAPTERS_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "envelope.h"

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

struct sio_bridge_stats {
    uint64_t in;        /* messages received */
    uint64_t delivered; /* messages turned into commands for the hub */
    uint64_t ignored;   /* valid messages with nothing to do */
    uint64_t rejected;  /* malformed or refused messages, and failed sends */
    uint64_t reconnects;
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

typedef struct sio_bridge sio_bridge;

/* Start a bridge thread for url ("redis://[:password@]host[:port][/channel]";
 * a path of digits is a database number, which pub/sub ignores; default
 * channel "socketio"), sending to hub_endpoint on zmq_ctx. Returns when
 * the thread runs (the broker may still be unreachable: it retries with
 * backoff). 0, -EINVAL (bad url, err set), -ENOTSUP (built without
 * hiredis), -ENOMEM. */
int sio_bridge_start(sio_bridge **out, void *zmq_ctx, const char *hub_endpoint,
                     const char *url, char *err, size_t errlen);
/* Stop the thread, close everything; NULL-safe, sets *b_p = NULL. */
void sio_bridge_stop(sio_bridge **b_p);
void sio_bridge_get_stats(sio_bridge *b, struct sio_bridge_stats *out);

#endif

/* bus.h: the ZeroMQ bus topology shared by gateway, hub and worker (internal).
 *
 * Sockets (one hub; any number of gateways and workers):
 *
 *   (any of the messages below may be a batch frame of several, batch.h)
 *   gateway DEALER  --connect-->  hub ROUTER  "events" endpoint
 *       gateway -> hub: 2 frames [route, envelope]
 *         route = 1 byte kind (enum sio_env_kind) + nsp + '\0' + sid
 *         (lets the hub route without decoding the envelope; the envelope
 *         frame is forwarded to the worker untouched)
 *   gateway SUB     --connect-->  hub PUB    "commands" endpoint
 *       hub -> gateway: 2 frames [topic, envelope]
 *         topic = the gateway id (SIO_GW_ID_LEN chars) for commands that
 *         target sockets of one gateway, "*" for every gateway.
 *         Gateways subscribe to their id and to "*".
 *   worker DEALER   --connect-->  hub ROUTER "workers" endpoint
 *       worker -> hub: HELLO / HEARTBEAT / BYE: 1 frame [envelope]
 *                      commands:               2 frames [topic, envelope]
 *                      (topic as above; the hub republishes both frames
 *                      on PUB without decoding them)
 *       hub -> worker: events: 1 frame [envelope] (as the gateway sent it)
 *
 * Routing (hub): a CONNECT goes to a live worker that serves the namespace
 * (exact name first, then patterns with a trailing '*', then "*"), chosen
 * round-robin; the (nsp, sid) -> worker choice is kept until the socket's
 * DISCONNECT, so one socket's events are handled in order by one worker.
 * RAW messages (nsp "") go to a worker whose plugin has on_raw, sticky per
 * engine sid. A CONNECT for a namespace no worker serves is answered by the
 * hub itself with CONNECT_ERR {"message":"Invalid namespace"}.
 *
 * In embedded mode (sio server) the endpoints are inproc:// on one shared
 * zmq context; split roles use ipc:// or tcp://.
 */
#ifndef SIO_CORE_BUS_H
#define SIO_CORE_BUS_H

#include <stddef.h>
#include "base/random.h"   /* sio_random_id, used with the bus ids */
#include <stdint.h>

#define SIO_GW_ID_LEN 8
#define SIO_BUS_ALL_TOPIC "*"

#define SIO_BUS_INPROC_EVENTS   "inproc://sio-hub-events"
#define SIO_BUS_INPROC_COMMANDS "inproc://sio-hub-commands"
#define SIO_BUS_INPROC_WORKERS  "inproc://sio-hub-workers"

/* ZeroMQ CURVE keys, Z85 text (40 characters each). The hub uses secret
 * (it is the CURVE server); a peer uses public + secret and the hub's
 * server_key. */
struct sio_bus_curve {
    char public_key[41];
    char secret_key[41];
    char server_key[41];    /* peers only: the hub's public key */
};

struct sio_bus_endpoints {
    const char *events;     /* hub ROUTER for gateways */
    const char *commands;   /* hub PUB for gateways */
    const char *workers;    /* hub ROUTER for workers */
    const struct sio_bus_curve *curve;  /* NULL: no CURVE (inproc, ipc, --insecure-bus) */
};

/* Make sock a CURVE server (hub) or client (peer) with the keys of curve,
 * before its bind/connect. NULL curve: nothing to do. 0 or -errno. */
int sio_bus_secure(void *sock, const struct sio_bus_curve *curve, int as_server);

/* zmq_send() the bytes of b with flags. From SIO_BUS_ZEROCOPY_MIN bytes the
 * storage itself is handed to zmq (freed by zmq once sent) and b is left
 * empty: no copy of a large message; smaller ones are copied as usual.
 * 0 or -errno. */
#define SIO_BUS_ZEROCOPY_MIN 16384
struct sio_buf;
int sio_bus_send_buf(void *sock, struct sio_buf *b, int flags);

/* Build the 2-frame route header for an event. Returns its length (at most
 * cap) or -EINVAL when it does not fit. */
int sio_bus_route_make(char *out, size_t cap, int kind, const char *nsp, size_t nsp_len,
                       const char *sid, size_t sid_len);
/* Split a route header. Pointers borrow from buf; 0 or -EINVAL. */
int sio_bus_route_parse(const char *buf, size_t len, int *kind,
                        const char **nsp, size_t *nsp_len,
                        const char **sid, size_t *sid_len);

#endif

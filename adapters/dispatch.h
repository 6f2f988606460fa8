/* dispatch.h: start the bridge that a URL's scheme names.
 *
 *   redis://  adapters/redis  (python-socketio RedisManager, socket.io redis-emitter)
 *   amqp://   adapters/amqp   (python-socketio KombuManager / AioPikaManager)
 *   kafka://  adapters/kafka  (python-socketio KafkaManager)
 *
 * A transport built without its library answers -ENOTSUP with a message
 * (transport_none.c). Adding a broker: transport.h.
 */
#ifndef SIO_ADAPTERS_DISPATCH_H
#define SIO_ADAPTERS_DISPATCH_H

#include <stddef.h>
#include "adapters/bridge.h"

/* A running bridge of any scheme (adapters/transport.h). */
typedef struct sio_bridge_base sio_bridge_any;

/* Start a bridge for url: the transport its scheme names (transport.h
 * SIO_BRIDGE_TRANSPORTS) in a thread of its own, sending to hub_endpoint on
 * zmq_ctx. Returns when the thread runs (the broker may still be
 * unreachable: the transport retries with backoff). 0, -EINVAL (bad or
 * unknown url, err set), -ENOTSUP (built without the transport's library,
 * err set), -ENOMEM.
 *
 * url may end in ?publish=1 (or 0) and format=json|pickle|node-adapter
 * (sio's own query options, removed before the transport sees the url);
 * opts gives the defaults (publish: --bridge-publish), the hub's commands
 * endpoint and the deployment's host id (NULL or "": a random one per
 * bridge). */
int  sio_bridge_any_start(sio_bridge_any **out, void *zmq_ctx, const char *hub_endpoint,
                          const char *url, const struct sio_bridge_opts *opts,
                          char *err, size_t errlen);
/* The counters of a running bridge. */
void sio_bridge_any_get_stats(sio_bridge_any *b, struct sio_bridge_stats *out);
/* Stop the thread (and the publisher), log the counters, free; NULL-safe,
 * sets *b_p = NULL. */
void sio_bridge_any_stop(sio_bridge_any **b_p);

#endif

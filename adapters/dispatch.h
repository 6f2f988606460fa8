/* dispatch.h: start the bridge that a URL's scheme names.
 *
 *   redis://  adapters/redis  (python-socketio RedisManager, socket.io redis-emitter)
 *   amqp://   adapters/amqp   (python-socketio KombuManager / AioPikaManager)
 *   kafka://  adapters/kafka  (python-socketio KafkaManager)
 *
 * A transport built without its library answers -ENOTSUP with a message.
 */
#ifndef SIO_ADAPTERS_DISPATCH_H
#define SIO_ADAPTERS_DISPATCH_H

#include <stddef.h>
#include "bridge.h"

typedef struct sio_bridge_any sio_bridge_any;

/* As sio_bridge_start(), for any supported scheme; -EINVAL (err set) for an
 * unknown one. */
/* url may end in ?publish=1 (or 0) and format=json|pickle (sio's own query
 * options, removed before the transport sees the url); opts gives the
 * defaults (publish: --bridge-publish), the hub's commands endpoint and the
 * deployment's host id (NULL or "": a random one per bridge). */
int  sio_bridge_any_start(sio_bridge_any **out, void *zmq_ctx, const char *hub_endpoint,
                          const char *url, const struct sio_bridge_opts *opts,
                          char *err, size_t errlen);
/* The counters of a running bridge (any scheme). */
void sio_bridge_any_get_stats(sio_bridge_any *b, struct sio_bridge_stats *out);
void sio_bridge_any_stop(sio_bridge_any **b_p);

/* The transports' entry points (one pair per scheme; impl is opaque). */
int  sio__bridge_amqp_start(void **impl, void *zmq_ctx, const char *hub_endpoint,
                            const char *url, const struct sio_bridge_opts *opts,
                            char *err, size_t errlen);
void sio__bridge_amqp_stop(void **impl);
void sio__bridge_amqp_stats(void *impl, struct sio_bridge_stats *out);
int  sio__bridge_kafka_start(void **impl, void *zmq_ctx, const char *hub_endpoint,
                             const char *url, const struct sio_bridge_opts *opts,
                             char *err, size_t errlen);
void sio__bridge_kafka_stop(void **impl);
void sio__bridge_kafka_stats(void *impl, struct sio_bridge_stats *out);

#endif

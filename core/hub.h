/* hub.h: the ZeroMQ broker between gateways and workers (see bus.h).
 *
 * sio_hub_new() binds the endpoints and starts the hub thread; it returns
 * once the sockets are bound (inproc binds must precede connects).
 * sio_hub_destroy() stops the thread and waits for it.
 */
#ifndef SIO_CORE_HUB_H
#define SIO_CORE_HUB_H

#include "proto/bus.h"

typedef struct sio_hub sio_hub;

struct sio_hub_cfg {
    void *zmq_ctx;                      /* shared context (required for inproc) */
    struct sio_bus_endpoints ep;
    unsigned worker_timeout_ms;         /* 0 = default (5000) */
};

/* 0, or a negative errno with a message in err (errlen bytes). */
int  sio_hub_new(sio_hub **out, const struct sio_hub_cfg *cfg, char *err, size_t errlen);
void sio_hub_destroy(sio_hub **hub_p);
/* The hub's counters in the Prometheus text format, appended to b (any
 * thread). 0 or -ENOMEM. */
struct sio_buf;
int  sio_hub_metrics(sio_hub *h, struct sio_buf *b);

#endif

/* worker.h: the worker runtime: loads plugins and runs their handlers.
 *
 * A worker has `threads` shards; each shard is one thread with its own
 * DEALER to the hub, registered as a separate worker for every namespace of
 * the loaded plugins. The hub keeps a socket sticky to one shard, so a
 * socket's handlers run on one thread, in order.
 */
#ifndef SIO_CORE_WORKER_H
#define SIO_CORE_WORKER_H

#include <stddef.h>
#include "proto/bus.h"

typedef struct sio_worker sio_worker;

struct sio_worker_cfg {
    void *zmq_ctx;
    const char *hub_endpoint;           /* the hub's "workers" endpoint */
    const char *const *plugin_paths;    /* .so files */
    size_t nplugins;
    unsigned threads;                   /* shards; 0 = 1 */
    const struct sio_bus_curve *curve;  /* CURVE keys for the hub connection; NULL = none */
    unsigned drain_ms;                  /* on destroy: BYE first, then keep handling events
                                         * already queued for up to this long (0 = stop now) */
};

/* Loads every plugin (a failure names the file and the reason in err and
 * returns a negative error), then starts the shard threads. */
int  sio_worker_new(sio_worker **out, const struct sio_worker_cfg *cfg, char *err, size_t errlen);
void sio_worker_destroy(sio_worker **w_p);
/* The worker's counters in the Prometheus text format, appended to b (any
 * thread). 0 or -ENOMEM. */
struct sio_buf;
int  sio_worker_metrics(sio_worker *w, struct sio_buf *b);

/* Hot reload (calling thread: the one that made the worker, never a shard).
 * Each plugin file is copied to a temporary path (dlopen caches by path),
 * opened and checked (ABI, size, on_load); only when every file loads are
 * the new descriptors published: events that start afterwards run the new
 * code, handlers already running finish on the old code, whose .so stays
 * mapped until sio_worker_destroy(). A failure keeps the old plugins and
 * says why in err. The namespaces served are those of the first load.
 * Returns 0 or a negative error. */
int  sio_worker_reload(sio_worker *w, char *err, size_t errlen);

#endif

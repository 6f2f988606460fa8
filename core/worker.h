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
#include "bus.h"

#pragma GCC visibility push(default)

typedef struct sio_worker sio_worker;

struct sio_worker_cfg {
    void *zmq_ctx;
    const char *hub_endpoint;           /* the hub's "workers" endpoint */
    const char *const *plugin_paths;    /* .so files */
    size_t nplugins;
    unsigned threads;                   /* shards; 0 = 1 */
};

/* Loads every plugin (a failure names the file and the reason in err and
 * returns a negative error), then starts the shard threads. */
int  sio_worker_new(sio_worker **out, const struct sio_worker_cfg *cfg, char *err, size_t errlen);
void sio_worker_destroy(sio_worker **w_p);

#pragma GCC visibility pop

#endif

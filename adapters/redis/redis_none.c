/* redis_none.c: sio_bridge_* when sio is built without hiredis
 * (-Dredis=disabled or libhiredis-dev missing). */
#include "bridge.h"

#include <errno.h>
#include <stdio.h>

int sio_bridge_start(sio_bridge **out, void *zmq_ctx, const char *hub_endpoint,
                     const char *url, const struct sio_bridge_opts *opts,
                     char *err, size_t errlen)
{
    (void)zmq_ctx; (void)hub_endpoint; (void)opts;
    *out = NULL;
    snprintf(err, errlen, "bridge '%s': this sio was built without hiredis (-Dredis)", url);
    return -ENOTSUP;
}

void sio_bridge_stop(sio_bridge **b_p)
{
    if (b_p)
        *b_p = NULL;
}

void sio_bridge_get_stats(sio_bridge *b, struct sio_bridge_stats *out)
{
    (void)b;
    *out = (struct sio_bridge_stats){ 0 };
}

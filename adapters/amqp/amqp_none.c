/* amqp_none.c: the amqp:// bridge when sio is built without rabbitmq-c (librabbitmq-dev). */
#include <errno.h>
#include <stdio.h>
#include "dispatch.h"

int sio__bridge_amqp_start(void **impl, void *zmq_ctx, const char *hub_endpoint,
                           const char *url, char *err, size_t errlen)
{
    (void)zmq_ctx;
    (void)hub_endpoint;
    *impl = NULL;
    snprintf(err, errlen, "%s: sio was built without rabbitmq-c (librabbitmq-dev) (meson feature 'amqp')", url);
    return -ENOTSUP;
}

void sio__bridge_amqp_stop(void **impl)
{
    *impl = NULL;
}

void sio__bridge_amqp_stats(void *impl, struct sio_bridge_stats *out)
{
    (void)impl;
    (void)out;
}

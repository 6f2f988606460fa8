/* kafka_none.c: the kafka:// bridge when sio is built without librdkafka (librdkafka-dev). */
#include <errno.h>
#include <stdio.h>
#include "dispatch.h"

int sio__bridge_kafka_start(void **impl, void *zmq_ctx, const char *hub_endpoint,
                           const char *url, char *err, size_t errlen)
{
    (void)zmq_ctx;
    (void)hub_endpoint;
    *impl = NULL;
    snprintf(err, errlen, "%s: sio was built without librdkafka (librdkafka-dev) (meson feature 'kafka')", url);
    return -ENOTSUP;
}

void sio__bridge_kafka_stop(void **impl)
{
    *impl = NULL;
}

void sio__bridge_kafka_stats(void *impl, struct sio_bridge_stats *out)
{
    (void)impl;
    (void)out;
}

/* transport_none.c: the amqp:// and kafka:// entry points of a sio built
 * without rabbitmq-c or librdkafka: they refuse with a message naming the
 * missing library and the meson feature that enables it. */
#include <errno.h>
#include <stdio.h>
#include "dispatch.h"

#define SIO_BRIDGE_NONE(kind, lib)                                                      \
    int sio__bridge_##kind##_start(void **impl, void *zmq_ctx, const char *hub_endpoint, \
                                   const char *url, const struct sio_bridge_opts *opts, \
                                   char *err, size_t errlen)                            \
    {                                                                                   \
        (void)zmq_ctx;                                                                  \
        (void)opts;                                                                     \
        (void)hub_endpoint;                                                             \
        *impl = NULL;                                                                   \
        snprintf(err, errlen, "%s: sio was built without " lib " (meson feature '"     \
                 #kind "')", url);                                                      \
        return -ENOTSUP;                                                                \
    }                                                                                   \
    void sio__bridge_##kind##_stop(void **impl) { *impl = NULL; }                       \
    void sio__bridge_##kind##_stats(void *impl, struct sio_bridge_stats *out)           \
    {                                                                                   \
        (void)impl;                                                                     \
        (void)out;                                                                      \
    }

#ifndef SIO_HAVE_AMQP
SIO_BRIDGE_NONE(amqp, "rabbitmq-c (librabbitmq-dev)")
#endif
#ifndef SIO_HAVE_KAFKA
SIO_BRIDGE_NONE(kafka, "librdkafka (librdkafka-dev)")
#endif

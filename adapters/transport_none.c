/* transport_none.c: the transports of a sio built without their library
 * (hiredis, rabbitmq-c, librdkafka): their scheme is known, and starting
 * one refuses with a message naming the missing library and the meson
 * feature that enables it. */
#include <errno.h>
#include <stdio.h>
#include "adapters/transport.h"

__attribute__((unused)) static void close_none(struct sio_bridge_base *b)
{
    (void)b;
}

#define SIO_BRIDGE_NONE(name, lib)                                                            \
    static int open_##name(struct sio_bridge_base *b, const char *url, char *err,             \
                           size_t errlen)                                                     \
    {                                                                                         \
        (void)b;                                                                              \
        snprintf(err, errlen, "%s: sio was built without " lib " (meson feature '" #name "')", \
                 url);                                                                        \
        return -ENOTSUP;                                                                      \
    }                                                                                         \
    const struct sio_bridge_transport sio__bridge_##name = {                                  \
        .scheme = #name, .size = sizeof(struct sio_bridge_base),  \
        .open = open_##name, .close = close_none,                                             \
    };

#ifndef SIO_HAVE_REDIS
SIO_BRIDGE_NONE(redis, "hiredis (libhiredis-dev)")
#endif
#ifndef SIO_HAVE_AMQP
SIO_BRIDGE_NONE(amqp, "rabbitmq-c (librabbitmq-dev)")
#endif
#ifndef SIO_HAVE_KAFKA
SIO_BRIDGE_NONE(kafka, "librdkafka (librdkafka-dev)")
#endif

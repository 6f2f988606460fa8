/* dispatch.c: pick the bridge transport by URL scheme (see dispatch.h). */
#include "dispatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_REDIS, K_AMQP, K_KAFKA };

struct sio_bridge_any {
    enum kind kind;
    void *impl;
};

static bool has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

int sio_bridge_any_start(sio_bridge_any **out, void *zmq_ctx, const char *hub_endpoint,
                         const char *url, char *err, size_t errlen)
{
    *out = NULL;
    struct sio_bridge_any *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    int r;
    if (has_scheme(url, "redis")) {
        b->kind = K_REDIS;
        r = sio_bridge_start((sio_bridge **)&b->impl, zmq_ctx, hub_endpoint, url, err, errlen);
    } else if (has_scheme(url, "amqp")) {
        b->kind = K_AMQP;
        r = sio__bridge_amqp_start(&b->impl, zmq_ctx, hub_endpoint, url, err, errlen);
    } else if (has_scheme(url, "kafka")) {
        b->kind = K_KAFKA;
        r = sio__bridge_kafka_start(&b->impl, zmq_ctx, hub_endpoint, url, err, errlen);
    } else {
        snprintf(err, errlen, "%s: unknown bridge scheme (redis://, amqp:// or kafka://)", url);
        r = -EINVAL;
    }
    if (r < 0) {
        free(b);
        return r;
    }
    *out = b;
    return 0;
}

void sio_bridge_any_stop(sio_bridge_any **b_p)
{
    struct sio_bridge_any *b = *b_p;
    if (!b)
        return;
    switch (b->kind) {
    case K_REDIS: sio_bridge_stop((sio_bridge **)&b->impl); break;
    case K_AMQP:  sio__bridge_amqp_stop(&b->impl); break;
    case K_KAFKA: sio__bridge_kafka_stop(&b->impl); break;
    }
    free(b);
    *b_p = NULL;
}

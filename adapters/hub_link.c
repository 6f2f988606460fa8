/* hub_link.c: what every bridge transport shares: the link to the hub and
 * the host:port part of its URL (see bridge.h). */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>
#include "adapters/bridge.h"

int sio__bridge_hub_open(struct sio_bridge_hub *h, void *zmq_ctx, const char *hub_endpoint,
                         char *err, size_t errlen)
{
    sio_buf_init(&h->enc);
    h->zsock = zmq_socket(zmq_ctx, ZMQ_DEALER);
    int linger = 1000;      /* let queued commands out at stop, but never hang */
    if (!h->zsock || zmq_setsockopt(h->zsock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_connect(h->zsock, hub_endpoint) < 0) {
        int rc = -zmq_errno();
        snprintf(err, errlen, "bridge: cannot connect to the hub at %s: %s", hub_endpoint,
                 zmq_strerror(-rc));
        sio__bridge_hub_close(h);
        return rc;
    }
    return 0;
}

int sio__bridge_hub_send(void *ud, const char *topic, const struct sio_env *env)
{
    struct sio_bridge_hub *h = ud;
    sio_buf_reset(&h->enc);
    int rc = sio_env_encode(env, &h->enc);
    if (rc < 0)
        return rc;
    /* never block the bridge's broker loop: a full pipe is a counted rejection */
    if (zmq_send(h->zsock, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(h->zsock, h->enc.data, h->enc.len, ZMQ_DONTWAIT) < 0)
        return -zmq_errno();
    return 0;
}

void sio__bridge_hub_close(struct sio_bridge_hub *h)
{
    if (h->zsock)
        zmq_close(h->zsock);
    h->zsock = NULL;
    sio_buf_clear(&h->enc);
}

int sio__bridge_parse_hostport(const char **pp, const char *stop, char *host, size_t hostcap,
                               int *port)
{
    const char *p = *pp;
    size_t hl;
    if (*p == '[') {
        const char *rb = strchr(p, ']');
        if (!rb)
            return -EINVAL;
        hl = (size_t)(rb - p - 1);
        if (hl >= hostcap)
            return -EINVAL;
        memcpy(host, p + 1, hl);
        p = rb + 1;
    } else {
        char stops[16];
        snprintf(stops, sizeof stops, ":%s", stop);
        hl = strcspn(p, stops);
        if (hl >= hostcap)
            return -EINVAL;
        memcpy(host, p, hl);
        p += hl;
    }
    host[hl] = 0;
    if (!host[0])
        snprintf(host, hostcap, "127.0.0.1");
    if (*p == ':') {
        const char *digits = ++p;
        char *end;
        long v = strtol(digits, &end, 10);
        if (end == digits || v < 1 || v > 65535 || (*end && !strchr(stop, *end)))
            return -EINVAL;
        *port = (int)v;
        p = end;
    }
    *pp = p;
    return 0;
}

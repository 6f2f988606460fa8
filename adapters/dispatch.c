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

/* Take sio's own options (publish=, format=) out of url's query into o;
 * the rest of the url is copied to out. 0 or -EINVAL (err set). */
static int strip_options(const char *url, char *out, size_t cap, struct sio_bridge_opts *o,
                         char *err, size_t errlen)
{
    const char *q = strchr(url, '?');
    size_t n = q ? (size_t)(q - url) : strlen(url);
    if (n >= cap)
        goto toolong;
    memcpy(out, url, n);
    out[n] = 0;
    if (!q)
        return 0;
    const char *p = q + 1;
    bool first = true;
    while (*p) {
        size_t l = strcspn(p, "&");
        if ((l == 9 && !strncmp(p, "publish=1", 9)) || (l == 12 && !strncmp(p, "publish=true", 12))) {
            o->publish = true;
        } else if ((l == 9 && !strncmp(p, "publish=0", 9)) ||
                   (l == 13 && !strncmp(p, "publish=false", 13))) {
            o->publish = false;
        } else if (l == 11 && !strncmp(p, "format=json", 11)) {
            o->format = SIO_BRIDGE_JSON;
        } else if (l == 13 && !strncmp(p, "format=pickle", 13)) {
            o->format = SIO_BRIDGE_PICKLE;
        } else if (l == 19 && !strncmp(p, "format=node-adapter", 19)) {
            o->format = SIO_BRIDGE_NODE;
        } else if ((l >= 8 && !strncmp(p, "publish=", 8)) || (l >= 7 && !strncmp(p, "format=", 7))) {
            snprintf(err, errlen, "%s: bad '%.*s' (publish=0|1, format=json|pickle|node-adapter)", url,
                     (int)l, p);
            return -EINVAL;
        } else {
            if (n + l + 2 >= cap)
                goto toolong;
            out[n++] = first ? '?' : '&';
            memcpy(out + n, p, l);
            n += l;
            out[n] = 0;
            first = false;
        }
        p += l;
        if (*p == '&')
            p++;
    }
    return 0;
toolong:
    snprintf(err, errlen, "bridge url too long");
    return -EINVAL;
}

int sio_bridge_any_start(sio_bridge_any **out, void *zmq_ctx, const char *hub_endpoint,
                         const char *url, const struct sio_bridge_opts *opts,
                         char *err, size_t errlen)
{
    *out = NULL;
    struct sio_bridge_opts o = opts ? *opts : (struct sio_bridge_opts){ 0 };
    char hid[33];
    if (!o.host_id || !o.host_id[0]) {
        sio_bridge_host_id(hid);
        o.host_id = hid;
    }
    char clean[2048];
    int r = strip_options(url, clean, sizeof clean, &o, err, errlen);
    if (r < 0)
        return r;
    if (o.publish && !o.commands_endpoint) {
        snprintf(err, errlen, "%s: publishing needs the hub's commands endpoint", url);
        return -EINVAL;
    }
    if (o.format == SIO_BRIDGE_NODE && !has_scheme(clean, "redis")) {
        snprintf(err, errlen, "%s: format=node-adapter is for redis:// bridges only", url);
        return -EINVAL;
    }
    struct sio_bridge_any *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    if (has_scheme(clean, "redis")) {
        b->kind = K_REDIS;
        r = sio_bridge_start((sio_bridge **)&b->impl, zmq_ctx, hub_endpoint, clean, &o, err,
                             errlen);
    } else if (has_scheme(clean, "amqp")) {
        b->kind = K_AMQP;
        r = sio__bridge_amqp_start(&b->impl, zmq_ctx, hub_endpoint, clean, &o, err, errlen);
    } else if (has_scheme(clean, "kafka")) {
        b->kind = K_KAFKA;
        r = sio__bridge_kafka_start(&b->impl, zmq_ctx, hub_endpoint, clean, &o, err, errlen);
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

void sio_bridge_any_get_stats(sio_bridge_any *b, struct sio_bridge_stats *out)
{
    *out = (struct sio_bridge_stats){ 0 };
    if (!b)
        return;
    switch (b->kind) {
    case K_REDIS: sio_bridge_get_stats(b->impl, out); break;
    case K_AMQP:  sio__bridge_amqp_stats(b->impl, out); break;
    case K_KAFKA: sio__bridge_kafka_stats(b->impl, out); break;
    }
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

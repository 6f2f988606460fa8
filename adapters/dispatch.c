/* dispatch.c: pick the bridge transport by URL scheme and run it: the
 * start, stop and counters every transport shares (dispatch.h,
 * transport.h). */
#include "adapters/dispatch.h"
#include "adapters/transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/log.h>

SIO_LOG_TOPIC_STATIC(topic, "bridge");

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

static const struct sio_bridge_transport *const transports[] = {
#define SIO_BRIDGE_ENTRY(name) &sio__bridge_##name,
    SIO_BRIDGE_TRANSPORTS(SIO_BRIDGE_ENTRY)
#undef SIO_BRIDGE_ENTRY
};

static const struct sio_bridge_transport *find(const char *url)
{
    for (size_t i = 0; i < sizeof transports / sizeof *transports; i++)
        if (has_scheme(url, transports[i]->scheme))
            return transports[i];
    return NULL;
}

/* Free b, whatever state start() left it in. */
static void destroy(struct sio_bridge_base *b)
{
    sio__bridge_pub_stop(&b->pub);
    b->tp->close(b);
    sio__bridge_hub_close(&b->hub);
    free(b);
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
    const struct sio_bridge_transport *tp = find(clean);
    if (!tp) {
        char schemes[128] = "";
        for (size_t i = 0, n = 0; i < sizeof transports / sizeof *transports; i++)
            n += (size_t)snprintf(schemes + n, n < sizeof schemes ? sizeof schemes - n : 0, "%s%s://",
                                  i ? ", " : "", transports[i]->scheme);
        snprintf(err, errlen, "%s: unknown bridge scheme (%s)", url, schemes);
        return -EINVAL;
    }
    if (o.publish && !o.commands_endpoint) {
        snprintf(err, errlen, "%s: publishing needs the hub's commands endpoint", url);
        return -EINVAL;
    }
    if (o.publish && !tp->pub) {
        snprintf(err, errlen, "%s: %s:// bridges cannot publish", url, tp->scheme);
        return -EINVAL;
    }
    if (o.format == SIO_BRIDGE_NODE && !tp->node_format) {
        snprintf(err, errlen, "%s: format=node-adapter is for redis:// bridges only", url);
        return -EINVAL;
    }
    struct sio_bridge_base *b = calloc(1, tp->size);
    if (!b)
        return -ENOMEM;
    b->tp = tp;
    b->log = topic;     /* open() sets the transport's own */
    snprintf(b->host_id, sizeof b->host_id, "%s", o.host_id);
    b->format = o.format;
    snprintf(b->name, sizeof b->name, "%.1000s", clean);
    if ((r = tp->open(b, clean, err, errlen)) < 0 ||
        (r = sio__bridge_hub_open(&b->hub, zmq_ctx, hub_endpoint, err, errlen)) < 0)
        goto fail;
    if ((r = -pthread_create(&b->thread, NULL, tp->run, b)) < 0) {
        snprintf(err, errlen, "bridge %s: cannot start a thread", b->name);
        goto fail;
    }
    b->started = true;
    if (o.publish) {
        const struct sio_bridge_pub_cfg pc = {
            .commands_endpoint = o.commands_endpoint, .host_id = b->host_id,
            .format = o.format, .name = b->name,
        };
        if ((r = sio__bridge_pub_start(&b->pub, zmq_ctx, &pc, tp->pub, b, err, errlen)) < 0) {
            sio_bridge_any_stop(&b);
            return r;
        }
    }
    sio_log_info(b->log, "bridge %s -> %s%s", b->name, hub_endpoint,
                 o.publish ? " (and publishing)" : "");
    *out = b;
    return 0;
fail:
    destroy(b);
    return r;
}

void sio_bridge_any_get_stats(sio_bridge_any *b, struct sio_bridge_stats *out)
{
    if (!b) {
        *out = (struct sio_bridge_stats){ 0 };
        return;
    }
    *out = (struct sio_bridge_stats){
        .in = atomic_load(&b->in), .delivered = atomic_load(&b->delivered),
        .ignored = atomic_load(&b->ignored), .rejected = atomic_load(&b->rejected),
        .reconnects = atomic_load(&b->reconnects), .own = atomic_load(&b->own),
    };
    if (b->pub)
        sio__bridge_pub_get_stats(b->pub, &out->pub);
}

void sio_bridge_any_stop(sio_bridge_any **b_p)
{
    struct sio_bridge_base *b = *b_p;
    if (!b)
        return;
    *b_p = NULL;
    if (b->started) {
        atomic_store(&b->stopping, true);
        if (b->tp->wake)
            b->tp->wake(b);
        pthread_join(b->thread, NULL);
    }
    sio__bridge_pub_stop(&b->pub);
    sio__bridge_log_stats(b, "stopped: ", false);
    destroy(b);
}

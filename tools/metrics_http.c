/* metrics_http.c: the --metrics-port listener (metrics_http.h).
 * Owns: its event_base, evhttp and thread. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include "base/buf.h"
#include "tools/metrics_http.h"

struct sio_metrics_http {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    bool started;
    sio_metrics_render_fn fn;
    void *ud;
};

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct sio_metrics_http *m = arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
        evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evhttp_send_error(req, 405, "Method Not Allowed");
        return;
    }
    struct sio_buf b;
    sio_buf_init(&b);
    struct evbuffer *body = evbuffer_new();
    if (!body || m->fn(&b, m->ud) < 0 || evbuffer_add(body, b.data ? (void *)b.data : "", b.len) < 0) {
        evhttp_send_error(req, 500, "Internal Server Error");
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/plain; version=0.0.4; charset=utf-8");
        evhttp_send_reply(req, 200, "OK", body);
    }
    if (body)
        evbuffer_free(body);
    sio_buf_clear(&b);
}

static void *run(void *arg)
{
    struct sio_metrics_http *m = arg;
    event_base_dispatch(m->base);
    return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void threads_once(void)
{
    evthread_use_pthreads();
}

int sio_metrics_http_start(sio_metrics_http **out, const char *host, uint16_t port,
                           sio_metrics_render_fn fn, void *ud, uint16_t *bound,
                           char *err, size_t errlen)
{
    pthread_once(&once, threads_once);
    struct sio_metrics_http *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "metrics: out of memory");
        return -ENOMEM;
    }
    m->fn = fn;
    m->ud = ud;
    m->base = event_base_new();
    m->http = m->base ? evhttp_new(m->base) : NULL;
    if (!m->http) {
        snprintf(err, errlen, "metrics: out of memory");
        goto fail;
    }
    evhttp_set_cb(m->http, "/metrics", on_metrics, m);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(m->http, host, port);
    if (!bs) {
        snprintf(err, errlen, "--metrics-port %s:%u: cannot listen (%s)", host, (unsigned)port,
                 strerror(errno));
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    uint16_t p = port;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0)
        p = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    if (bound)
        *bound = p;
    if (pthread_create(&m->thread, NULL, run, m) != 0) {
        snprintf(err, errlen, "metrics: cannot start its thread");
        goto fail;
    }
    m->started = true;
    *out = m;
    return 0;
fail:
    if (m->http)
        evhttp_free(m->http);
    if (m->base)
        event_base_free(m->base);
    free(m);
    return -EINVAL;
}

void sio_metrics_http_stop(sio_metrics_http **p)
{
    struct sio_metrics_http *m = p ? *p : NULL;
    if (!m)
        return;
    if (m->started) {
        event_base_loopbreak(m->base);
        pthread_join(m->thread, NULL);
    }
    evhttp_free(m->http);
    event_base_free(m->base);
    free(m);
    *p = NULL;
}

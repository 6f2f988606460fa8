/* metrics_http.h: GET /metrics on a port of its own (--metrics-port), for
 * every role: one thread running libevent's evhttp on 127.0.0.1 (or the
 * host given); each request renders the text anew through fn. */
#ifndef SIO_TOOLS_METRICS_HTTP_H
#define SIO_TOOLS_METRICS_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct sio_buf;
typedef int (*sio_metrics_render_fn)(struct sio_buf *out, void *ud);
typedef struct sio_metrics_http sio_metrics_http;

/* Bind host:port (port 0 picks one; *bound gets it) and start serving.
 * 0, or < 0 with err set. */
int  sio_metrics_http_start(sio_metrics_http **out, const char *host, uint16_t port,
                            sio_metrics_render_fn fn, void *ud, uint16_t *bound,
                            char *err, size_t errlen);
/* Stop and join; NULL-safe, sets *p = NULL. */
void sio_metrics_http_stop(sio_metrics_http **p);

#endif

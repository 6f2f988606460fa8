/* upstream.h: forward HTTP requests to an upstream HTTP application
 * (internal), the C counterpart of python-socketio's WSGIApp(sio, other_app).
 *
 * The gateway sends every request that is neither Engine.IO nor a static
 * file here. One forwarded request = one libevent evhttp client connection
 * to the upstream (freed by libevent when the request ends), on the loop of
 * the client connection. Forwarded: the method, path and query, the headers
 * except the hop-by-hop ones, the body; added: X-Forwarded-For (appended),
 * X-Forwarded-Proto, X-Forwarded-Host, Via. The upstream's status, headers
 * (less the hop-by-hop ones, plus Via) and body come back. Failures: 502
 * (cannot connect, reset, response over SIO_UPSTREAM_MAX_BODY), 504 (no
 * complete response within SIO_UPSTREAM_TIMEOUT_S), 413 (request body over
 * the gateway's max payload), 501 (a method evhttp cannot send).
 * Runs on the loop thread of the connection.
 */
#ifndef SIO_EDGE_UPSTREAM_H
#define SIO_EDGE_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "edge/http/http1.h"

#define SIO_UPSTREAM_TIMEOUT_S      30
#define SIO_UPSTREAM_MAX_BODY       (16u << 20)     /* response body bytes */
#define SIO_UPSTREAM_MAX_HEADERS    (64u << 10)     /* response header bytes */

struct sio_upstream {
    char *url;              /* as configured, for messages */
    char *host;             /* host name or address (no brackets) */
    uint16_t port;
};

/* One request in flight (opaque). */
struct sio_upstream_req;

/* Parse url: "http://HOST[:PORT][/]" (port 80 by default, IPv6 in
 * brackets). Returns 0, or -EINVAL with err set. */
int  sio_upstream_init(struct sio_upstream *u, const char *url, char *err, size_t errlen);
void sio_upstream_clear(struct sio_upstream *u);

/* Forward req (answered later on c). client_ip is the peer address for
 * X-Forwarded-For. *pending is set to the request in flight and reset to
 * NULL when c has been answered; u must outlive it. */
void sio_upstream_forward(const struct sio_upstream *u, struct event_base *base,
                          struct sio_http_conn *c, const struct sio_http_req *req,
                          const char *client_ip, struct sio_upstream_req **pending);
/* c is going away: the request still runs to its end (bounded by the
 * timeout) but its answer is dropped. NULL-safe; sets *pending = NULL. */
void sio_upstream_detach(struct sio_upstream_req **pending);

#endif

/* cors.h: cross-origin policy of the Engine.IO endpoints (internal).
 *
 * Two behaviours (docs/SERVER.md):
 *  - SIO_CORS_PYTHON, python-socketio 5.7.2: an Origin that is not allowed
 *    is refused (400); allowed origins are echoed in
 *    Access-Control-Allow-Origin; the CORS headers follow Content-Type.
 *  - SIO_CORS_JS, socket.io 4.8.4's `cors` option (the `cors` npm package):
 *    nothing is refused; ACAO / Vary / ACAC lead every response; OPTIONS is
 *    a 204 preflight.
 * SIO_CORS_OFF (and either mode with CORS turned off) adds nothing.
 * Pure functions, no I/O: any thread.
 */
#ifndef SIO_EDGE_CORS_H
#define SIO_EDGE_CORS_H

#include <stdbool.h>
#include <stddef.h>
#include "base/buf.h"
#include "edge/http/http1.h"

struct sio_cors {
    int mode;               /* enum sio_cors_mode (gateway.h) */
    bool off;               /* python's cors_allowed_origins=[] / js without origins */
    bool same_origin;       /* python default: scheme://Host of the request */
    bool any;               /* "*" */
    char **origins;         /* explicit list */
    size_t norigins;
    bool credentials;
};

enum sio_cors_verdict {
    SIO_CORS_PASS = 0,      /* go on; headers to add are in the out buffers */
    SIO_CORS_REJECT,        /* python: answer 400 "<origin> is not an accepted origin." */
    SIO_CORS_PREFLIGHT,     /* OPTIONS: answer the preflight now */
};

/* list: NULL (python: same origin; js: CORS off), "" (CORS off), "*", or
 * comma-separated origins. Returns 0 or -ENOMEM. */
int  sio_cors_init(struct sio_cors *c, int mode, const char *list, bool credentials);
void sio_cors_clear(struct sio_cors *c);

/* Decide for one request to an Engine.IO path. lead gets header lines that
 * go first (js), after_ct lines that go right after Content-Type (python),
 * both as "Name: value\r\n"... (buffers are appended to, not reset). */
enum sio_cors_verdict sio_cors_check(const struct sio_cors *c, const struct sio_http_req *req,
                                     struct sio_buf *lead, struct sio_buf *after_ct);

#endif

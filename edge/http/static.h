/* static.h: static files under URL prefixes (internal).
 *
 * A mount maps a URL prefix to a directory. GET and HEAD only; a path that
 * ends in '/' or names a directory serves its index.html; percent-escapes
 * are decoded; a ".." segment, a NUL, or a file whose realpath is outside
 * the directory (symlinks included) is refused 404 like a missing file.
 * Runs on the loop thread of the connection.
 */
#ifndef SIO_EDGE_STATIC_H
#define SIO_EDGE_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include "http1.h"

struct sio_static {
    char *prefix;           /* URL prefix, starts with '/' */
    size_t prefix_len;
    char *root;             /* realpath of the directory */
};

/* Resolve dir (must be a directory). Returns 0, or < 0 with err set. */
int  sio_static_init(struct sio_static *m, const char *prefix, const char *dir,
                     char *err, size_t errlen);
void sio_static_clear(struct sio_static *m);

/* The mount (longest prefix) whose prefix the request path falls under, or
 * NULL. */
const struct sio_static *sio_static_match(const struct sio_static *m, size_t n,
                                          const struct sio_http_req *req);
/* Answer req from mount m (200, 404 or 405). */
void sio_static_serve(const struct sio_static *m, struct sio_http_conn *c,
                      const struct sio_http_req *req);

/* Content-Type for a file name, by extension. */
const char *sio_static_content_type(const char *name);

#endif

/* static.h: static files under URL prefixes (internal), with the rules of
 * python-socketio's static_files.
 *
 * A mount maps a URL prefix to a directory, or one exact URL to one file
 * (with an optional explicit Content-Type); an exact file URL wins over a
 * directory prefix. GET and HEAD only; a path that ends in '/' or names a
 * directory serves its default file (index.html unless set); percent-escapes
 * are decoded; a ".." segment, a NUL, or a file whose realpath is outside
 * the directory (symlinks included) is refused 404 like a missing file.
 * Runs on the loop thread of the connection.
 */
#ifndef SIO_EDGE_STATIC_H
#define SIO_EDGE_STATIC_H

#include <stdbool.h>
#include <stddef.h>
#include "edge/http/http1.h"

struct sio_static {
    char *prefix;           /* URL prefix, starts with '/' */
    size_t prefix_len;
    char *root;             /* realpath of the directory (NULL for a file) */
    char *file;             /* file mount: realpath of the file, else NULL */
    char *ctype;            /* file mount: its Content-Type, else NULL */
    char *index;            /* default file name; NULL = "index.html" */
};

/* Resolve dir (must be a directory). Returns 0, or < 0 with err set. */
int  sio_static_init(struct sio_static *m, const char *prefix, const char *dir,
                     char *err, size_t errlen);
/* A file mount: exactly url serves file (must be a regular file), with
 * Content-Type ctype (NULL: by the file's extension). */
int  sio_static_init_file(struct sio_static *m, const char *url, const char *file,
                          const char *ctype, char *err, size_t errlen);
/* The file a directory URL serves (a plain name: no '/', not "." or ".."). */
int  sio_static_set_default_file(struct sio_static *m, const char *name, char *err, size_t errlen);
void sio_static_clear(struct sio_static *m);

/* The file mount of exactly this path, else the directory mount (longest
 * prefix) whose prefix the request path falls under, or
 * NULL. */
const struct sio_static *sio_static_match(const struct sio_static *m, size_t n,
                                          const struct sio_http_req *req);
/* Answer req from mount m (200, 404 or 405). */
void sio_static_serve(const struct sio_static *m, struct sio_http_conn *c,
                      const struct sio_http_req *req);
/* Answer a GET or HEAD of an existing file (200, or 500) and return true;
 * else (other method, missing or refused file) no reply and false, so the
 * request can go on to the upstream application, as python-socketio does. */
bool sio_static_try(const struct sio_static *m, struct sio_http_conn *c,
                    const struct sio_http_req *req);

/* Content-Type for a file name, by extension. */
const char *sio_static_content_type(const char *name);

#endif

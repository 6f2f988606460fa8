/* compress.h: HTTP response compression (gzip / deflate with zlib; internal).
 * Pure functions, any thread. */
#ifndef SIO_EDGE_COMPRESS_H
#define SIO_EDGE_COMPRESS_H

#include <stddef.h>
#include <event2/buffer.h>
#include "edge/http/http1.h"

enum sio_http_enc { SIO_ENC_IDENTITY = 0, SIO_ENC_GZIP, SIO_ENC_DEFLATE };

/* The encoding to use for a request's Accept-Encoding: gzip when accepted
 * (q > 0, or "*"), else deflate, else identity. */
enum sio_http_enc sio_http_accept_encoding(const struct sio_http_req *req);
/* "gzip" / "deflate" (NULL for identity). */
const char *sio_http_enc_name(enum sio_http_enc enc);
/* Compress all of in into out (in is drained). deflate is zlib-wrapped
 * (RFC 1950), as Node's zlib.createDeflate. Returns 0, or -ENOMEM / -EIO
 * (in is then left as it was). */
int sio_http_compress(enum sio_http_enc enc, struct evbuffer *in, struct evbuffer *out);

#endif

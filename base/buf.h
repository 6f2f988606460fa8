/* buf.h: a growable byte buffer (internal).
 *
 * Owns its storage. Used by the codecs and the envelope to encode into
 * reusable memory: sio_buf_reset() keeps the allocation, so a connection or
 * a bus thread can encode packet after packet without allocating.
 */
#ifndef SIO_CORE_BUF_H
#define SIO_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Internal API (not exported from libsio, not installed): linked statically into
 * libsio, the sio tools and the tests. */
struct sio_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

#define SIO_BUF_INIT { NULL, 0, 0 }

void sio_buf_init(struct sio_buf *b);
void sio_buf_clear(struct sio_buf *b);                  /* frees storage */
static inline void sio_buf_reset(struct sio_buf *b) { b->len = 0; }
/* Make room for at least n more bytes. 0 or -ENOMEM. */
int  sio_buf_reserve(struct sio_buf *b, size_t n);
/* Give back the room past the bytes (and their NUL): for a buffer that is
 * kept long and no longer grows. */
void sio_buf_fit(struct sio_buf *b);
int  sio__buf_append_slow(struct sio_buf *b, const void *p, size_t n);
/* Inline while the bytes fit (msgpack packs field by field through it). */
static inline int sio_buf_append(struct sio_buf *b, const void *p, size_t n)
{
    if (b->cap - b->len <= n)       /* keep one byte for a NUL */
        return sio__buf_append_slow(b, p, n);
    if (n)
        __builtin_memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}
int  sio_buf_append_str(struct sio_buf *b, const char *s);
int  sio_buf_append_byte(struct sio_buf *b, uint8_t c);
/* Append v in decimal (no printf: this runs per packet). */
int  sio_buf_append_u64(struct sio_buf *b, uint64_t v);
int  sio_buf_printf(struct sio_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append the base64 (standard alphabet, padded) of p[0..n). */
int  sio_buf_append_base64(struct sio_buf *b, const void *p, size_t n);
/* Decode standard base64 from in[0..n) into out (may alias in: the output
 * is never longer than the input). Returns the decoded length or
 * SIO_ERR_BASE64. */
long sio_base64_decode(const char *in, size_t n, uint8_t *out);
/* Take the storage out of b (NUL-terminated; caller frees with free()). */
char *sio_buf_steal(struct sio_buf *b, size_t *len);

#endif

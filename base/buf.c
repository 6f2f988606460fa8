/* buf.c: growable byte buffer and base64 (see buf.h). */
#include "base/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>

void sio_buf_init(struct sio_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void sio_buf_clear(struct sio_buf *b)
{
    free(b->data);
    sio_buf_init(b);
}

void sio_buf_fit(struct sio_buf *b)
{
    if (!b->data || b->cap <= b->len + 1)
        return;
    uint8_t *p = realloc(b->data, b->len + 1);
    if (p) {
        b->data = p;
        b->cap = b->len + 1;
    }
}

int sio_buf_reserve(struct sio_buf *b, size_t n)
{
    if (b->cap - b->len > n)        /* keep one byte for a NUL */
        return 0;
    size_t want = b->len + n + 1;
    if (want < b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int sio__buf_append_slow(struct sio_buf *b, const void *p, size_t n)
{
    if (sio_buf_reserve(b, n) < 0)
        return -ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int sio_buf_append_str(struct sio_buf *b, const char *s)
{
    return sio_buf_append(b, s, strlen(s));
}

int sio_buf_append_u64(struct sio_buf *b, uint64_t v)
{
    char d[20];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sio_buf_append(b, d + i, sizeof d - i);
}

int sio_buf_append_byte(struct sio_buf *b, uint8_t c)
{
    return sio_buf_append(b, &c, 1);
}

int sio_buf_printf(struct sio_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if (sio_buf_reserve(b, (size_t)n) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sio_buf_append_base64(struct sio_buf *b, const void *p, size_t n)
{
    const uint8_t *s = p;
    size_t out = (n + 2) / 3 * 4;
    if (sio_buf_reserve(b, out) < 0)
        return -ENOMEM;
    char *d = (char *)b->data + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *d++ = b64chars[v >> 18 & 63];
        *d++ = b64chars[v >> 12 & 63];
        *d++ = b64chars[v >> 6 & 63];
        *d++ = b64chars[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        *d++ = b64chars[v >> 18 & 63];
        *d++ = b64chars[v >> 12 & 63];
        *d++ = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        *d++ = '=';
    }
    b->len += out;
    b->data[b->len] = 0;
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;    /* accept url-safe too */
    if (c == '/' || c == '_') return 63;
    return -1;
}

long sio_base64_decode(const char *in, size_t n, uint8_t *out)
{
    /* Strip padding; then 4k, 4k+2 or 4k+3 symbols are valid. */
    size_t pad = 0;
    while (n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (n % 4 == 1 || (pad && (n + pad) % 4 != 0))
        return SIO_ERR_BASE64;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return SIO_ERR_BASE64;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);  /* o <= i: safe in place */
        }
    }
    return (long)o;
}

char *sio_buf_steal(struct sio_buf *b, size_t *len)
{
    if (sio_buf_reserve(b, 0) < 0)
        return NULL;
    char *p = (char *)b->data;
    p[b->len] = 0;
    if (len)
        *len = b->len;
    sio_buf_init(b);
    return p;
}

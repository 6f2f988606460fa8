/* compress.c: HTTP response compression (see compress.h). */
#include "edge/http/compress.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* q-value of one Accept-Encoding element ("gzip;q=0.5"): 1 when absent. */
static double qvalue(const char *params, size_t n)
{
    const char *p = params;
    const char *end = params + n;
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
            return strtod(p + 2, NULL);
        while (p < end && *p != ';')
            p++;
    }
    return 1.0;
}

enum sio_http_enc sio_http_accept_encoding(const struct sio_http_req *req)
{
    const struct sio_http_hdr *h = sio_http_header(req, "accept-encoding");
    if (!h)
        return SIO_ENC_IDENTITY;
    bool gzip = false, deflate = false, star = false;
    const char *p = h->value, *s, *e;
    while (sio_http_list_next(&p, &s, &e)) {
        size_t len = (size_t)(e - s);
        size_t tl = strcspn(s, ";, \t");
        if (tl > len)
            tl = len;
        if (tl == 0)
            continue;
        bool ok = qvalue(s + tl, len - tl) > 0;
        if (tl == 4 && strncasecmp(s, "gzip", 4) == 0)
            gzip = ok;
        else if (tl == 7 && strncasecmp(s, "deflate", 7) == 0)
            deflate = ok;
        else if (tl == 1 && *s == '*')
            star = ok;
    }
    if (gzip || star)
        return SIO_ENC_GZIP;
    return deflate ? SIO_ENC_DEFLATE : SIO_ENC_IDENTITY;
}

const char *sio_http_enc_name(enum sio_http_enc enc)
{
    return enc == SIO_ENC_GZIP ? "gzip" : enc == SIO_ENC_DEFLATE ? "deflate" : NULL;
}

int sio_http_compress(enum sio_http_enc enc, struct evbuffer *in, struct evbuffer *out)
{
    if (enc == SIO_ENC_IDENTITY) {
        evbuffer_add_buffer(out, in);
        return 0;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, enc == SIO_ENC_GZIP ? 15 + 16 : 15, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t inlen = evbuffer_get_length(in);
    /* one contiguous input; polling bodies are bounded by max_payload */
    unsigned char *src = evbuffer_pullup(in, -1);
    if (inlen && !src) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    uLong bound = deflateBound(&z, (uLong)inlen);
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)bound, &v, 1) < 1) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = src;
    z.avail_in = (uInt)inlen;
    z.next_out = v.iov_base;
    z.avail_out = (uInt)v.iov_len;
    int r = deflate(&z, Z_FINISH);
    size_t produced = v.iov_len - z.avail_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END)
        return -EIO;
    v.iov_len = produced;
    if (evbuffer_commit_space(out, &v, 1) < 0)
        return -ENOMEM;
    evbuffer_drain(in, inlen);
    return 0;
}

/* batch.c: the bus's batch frame, writer and reader (batch.h, docs/BUS.md
 * 2.4). Owns no state beyond the writer's buffer.
 */
#include "proto/batch.h"

#include <errno.h>
#include <string.h>

void sio_bus_batch_init(struct sio_bus_batch *b)
{
    sio_buf_init(&b->buf);
    b->n = 0;
}

void sio_bus_batch_clear(struct sio_bus_batch *b)
{
    sio_buf_clear(&b->buf);
    b->n = 0;
}

static void put_len(uint8_t *d, size_t len)
{
    d[0] = (uint8_t)(len >> 24);
    d[1] = (uint8_t)(len >> 16);
    d[2] = (uint8_t)(len >> 8);
    d[3] = (uint8_t)len;
}

static size_t get_len(const uint8_t *d)
{
    return (size_t)d[0] << 24 | (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3];
}

/* Append items without a check of their sizes (done by the callers). */
static int add(struct sio_bus_batch *b, const void *const *p, const size_t *len, size_t n)
{
    size_t need = b->buf.len ? 0 : 1;
    for (size_t i = 0; i < n; i++)
        need += 4 + len[i];
    if (sio_buf_reserve(&b->buf, need) < 0)
        return -ENOMEM;
    uint8_t *d = b->buf.data + b->buf.len;
    if (!b->buf.len)
        *d++ = SIO_BUS_BATCH;
    for (size_t i = 0; i < n; i++) {
        put_len(d, len[i]);
        if (len[i])
            memcpy(d + 4, p[i], len[i]);
        d += 4 + len[i];
    }
    b->buf.len += need;
    b->n += n;
    return 0;
}

int sio_bus_batch_add(struct sio_bus_batch *b, const void *p, size_t len)
{
    if (len > UINT32_MAX || (!p && len))
        return -EINVAL;
    return add(b, &p, &len, 1);
}

int sio_bus_batch_add_pair(struct sio_bus_batch *b, const void *route, size_t rlen,
                           const void *env, size_t elen)
{
    if (rlen > UINT32_MAX || elen > UINT32_MAX || (!route && rlen) || (!env && elen))
        return -EINVAL;
    const void *p[2] = { route, env };
    size_t len[2] = { rlen, elen };
    return add(b, p, len, 2);
}

void sio_bus_batch_item(const struct sio_bus_batch *b, size_t i, const void **p, size_t *len)
{
    const uint8_t *d = b->buf.data + 1;
    for (size_t k = 0; k < i; k++)
        d += 4 + get_len(d);
    *len = get_len(d);
    *p = d + 4;
}

void sio_bus_batch_frame(const struct sio_bus_batch *b, const void **p, size_t *len)
{
    if (b->n == 1) {
        sio_bus_batch_item(b, 0, p, len);
    } else {
        *p = b->buf.data;
        *len = b->buf.len;
    }
}

static bool starts_map(const uint8_t *p, size_t len)
{
    return len > 0 && ((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf);
}

long sio_bus_batch_open(struct sio_bus_batch_reader *r, const void *data, size_t len,
                        enum sio_bus_batch_form form, const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    if (!data || !sio_bus_is_batch(data, len)) {
        *why = "not a batch";
        return -EINVAL;
    }
    const uint8_t *p = (const uint8_t *)data + 1, *end = (const uint8_t *)data + len;
    long n = 0;
    while (p < end) {
        if ((size_t)(end - p) < 4) {
            *why = "truncated item length";
            return -EINVAL;
        }
        size_t il = get_len(p);
        p += 4;
        if (il > (size_t)(end - p)) {
            *why = "item length past the end";
            return -EINVAL;
        }
        bool env = form == SIO_BUS_BATCH_ENVELOPES || (n & 1);
        if (env && !starts_map(p, il)) {
            *why = "item is not an envelope";
            return -EINVAL;
        }
        p += il;
        n++;
    }
    if (!n) {
        *why = "empty batch";
        return -EINVAL;
    }
    if (form == SIO_BUS_BATCH_ROUTED && (n & 1)) {
        *why = "route without its envelope";
        return -EINVAL;
    }
    r->p = (const uint8_t *)data + 1;
    r->end = end;
    return n;
}

bool sio_bus_batch_next(struct sio_bus_batch_reader *r, const void **p, size_t *len)
{
    if (r->p >= r->end)
        return false;
    *len = get_len(r->p);
    *p = r->p + 4;
    r->p += 4 + *len;
    return true;
}

int sio_bus_envelopes_each(const void *data, size_t len,
                           void (*fn)(void *ud, const void *env, size_t env_len), void *ud,
                           const char **why)
{
    if (!sio_bus_is_batch(data, len)) {
        fn(ud, data, len);
        return 0;
    }
    struct sio_bus_batch_reader br;
    if (sio_bus_batch_open(&br, data, len, SIO_BUS_BATCH_ENVELOPES, why) < 0)
        return -EINVAL;
    const void *p;
    size_t n;
    while (sio_bus_batch_next(&br, &p, &n))
        fn(ud, p, n);
    return 0;
}

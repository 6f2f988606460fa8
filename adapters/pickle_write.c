/* pickle_write.c: a data-only pickle writer (see pickle.h).
 *
 * Writes protocol 4 opcodes for plain values, the same subset the
 * restricted decoder (pickle.c) accepts: no frames, no memo, nothing that
 * names a class or a function. Owns nothing beyond one call.
 */
#include "adapters/pickle.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sio/msg.h>
#include "base/buf.h"

struct wr {
    const struct sio_pickle *pk;
    struct sio_buf *out;
    int err;
};

static void put(struct wr *w, const void *p, size_t n)
{
    if (!w->err && sio_buf_append(w->out, p, n) < 0)
        w->err = -ENOMEM;
}

static void op(struct wr *w, uint8_t c)
{
    put(w, &c, 1);
}

static void le(struct wr *w, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, n);
}

/* SHORT_BINUNICODE / BINUNICODE / BINUNICODE8, or the BYTES forms */
static void sized(struct wr *w, const void *p, size_t n, bool bytes)
{
    if (n < 256) {
        op(w, bytes ? 'C' : 0x8c);
        le(w, n, 1);
    } else if (n <= UINT32_MAX) {
        op(w, bytes ? 'B' : 'X');
        le(w, n, 4);
    } else {
        op(w, bytes ? 0x8e : 0x8d);
        le(w, n, 8);
    }
    put(w, p, n);
}

static void integer(struct wr *w, json_int_t v)
{
    if (v >= 0 && v < 256) {
        op(w, 'K');
        le(w, (uint64_t)v, 1);
    } else if (v >= 0 && v < 65536) {
        op(w, 'M');
        le(w, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        op(w, 'J');
        le(w, (uint64_t)(uint32_t)(int32_t)v, 4);
    } else {
        /* LONG1: two's complement, little-endian, as few bytes as keep the sign */
        unsigned n = 8;
        uint64_t u = (uint64_t)v;
        while (n > 1) {
            uint8_t top = (uint8_t)(u >> (8 * (n - 1)));
            uint8_t next_sign = (uint8_t)(u >> (8 * (n - 2))) & 0x80;
            if ((top == 0 && !next_sign) || (top == 0xff && next_sign))
                n--;
            else
                break;
        }
        op(w, 0x8a);
        le(w, n, 1);
        le(w, u, n);
    }
}

static void value(struct wr *w, const json_t *v, unsigned depth);

static void items(struct wr *w, const json_t *a, unsigned depth)
{
    size_t i;
    const json_t *e;
    json_array_foreach(a, i, e)
        value(w, e, depth + 1);
}

static void value(struct wr *w, const json_t *v, unsigned depth)
{
    const void *bp;
    size_t bl;
    if (w->err)
        return;
    if (!v || json_is_null(v)) {
        op(w, 'N');
    } else if (json_is_true(v)) {
        op(w, 0x88);
    } else if (json_is_false(v)) {
        op(w, 0x89);
    } else if (json_is_integer(v)) {
        integer(w, json_integer_value(v));
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d)) {
            w->err = -EINVAL;
            return;
        }
        uint64_t u;
        memcpy(&u, &d, sizeof u);
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(u >> (56 - 8 * i));    /* BINFLOAT is big-endian */
        op(w, 'G');
        put(w, b, 8);
    } else if (json_is_string(v)) {
        sized(w, json_string_value(v), json_string_length(v), false);
    } else if (sio_binary_get(v, &bp, &bl)) {
        sized(w, bl ? bp : "", bl, true);
    } else if (depth >= SIO_PICKLE_MAX_DEPTH) {
        w->err = -EINVAL;
    } else if (json_is_array(v) && sio_pickle_is_tuple(w->pk, v)) {
        size_t n = json_array_size(v);
        if (n == 0) {
            op(w, ')');
        } else if (n <= 3) {
            items(w, v, depth);
            op(w, (uint8_t)(0x85 + n - 1));     /* TUPLE1..3 */
        } else {
            op(w, '(');
            items(w, v, depth);
            op(w, 't');
        }
    } else if (json_is_array(v)) {
        op(w, ']');
        if (json_array_size(v)) {
            op(w, '(');
            items(w, v, depth);
            op(w, 'e');     /* APPENDS */
        }
    } else if (json_is_object(v)) {
        op(w, '}');
        if (json_object_size(v)) {
            const char *k;
            const json_t *e;
            op(w, '(');
            json_object_foreach((json_t *)v, k, e) {
                sized(w, k, strlen(k), false);
                value(w, e, depth + 1);
            }
            op(w, 'u');     /* SETITEMS */
        }
    } else {
        w->err = -EINVAL;
    }
}

int sio_pickle_encode(const struct sio_pickle *p, struct sio_buf *out)
{
    if (!p || !out)
        return -EINVAL;
    struct wr w = { .pk = p, .out = out };
    size_t start = out->len;
    op(&w, 0x80);           /* PROTO 4 */
    op(&w, 4);
    value(&w, p->value, 0);
    op(&w, '.');            /* STOP */
    if (w.err)
        out->len = start;
    return w.err;
}

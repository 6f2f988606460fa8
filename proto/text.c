/* text.c: fast UTF-8 validation and the long-string fast path in front of
 * jansson's loader (see text.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "proto/text.h"
#include "base/vec.h"

size_t sio_json_fast_min = 32;

/* The length of the valid multi-byte sequence at p[0..n), 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (c == 0xE0)
            lo = 0xA0;          /* overlong */
        else if (c == 0xED)
            hi = 0x9F;          /* surrogates */
        return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (c == 0xF0)
            lo = 0x90;          /* overlong */
        else if (c == 0xF4)
            hi = 0x8F;          /* above U+10FFFF */
        return n >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
               (p[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

bool sio_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (i + 32 <= n) {  /* 32 ASCII bytes at a time */
            sio_v16 either = sio_v16_load(p + i) | sio_v16_load(p + i + 16);
            if (!sio_v16_any((sio_v16)(either >= 0x80))) {
                i += 32;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/* ---- the loader's fast path ---- */

struct cut {
    size_t start, end;      /* content bytes [start, end); buf[end] is '"' */
};

struct scan {
    struct cut *cuts;
    size_t n, cap;
    bool has_u1;            /* the text holds the escape \u0001 */
};

/* From p[i], just after a string's opening quote: the index of its closing
 * quote (or n when unterminated). *plain: no escape, no control character,
 * valid UTF-8. */
static size_t scan_string(const uint8_t *p, size_t n, size_t i, bool *plain, bool *has_u1)
{
    bool ok = true;
    while (i < n) {
        while (i + 16 <= n) {
            sio_v16 v = sio_v16_load(p + i);
            if (sio_v16_any(sio_json_special(v) | (sio_v16)(v >= 0x80)))
                break;
            i += 16;
        }
        if (i >= n)
            break;
        uint8_t c = p[i];
        if (c == '"') {
            *plain = ok;
            return i;
        }
        if (c == '\\') {
            ok = false;
            if (n - i >= 6 && memcmp(p + i + 1, "u0001", 5) == 0)
                *has_u1 = true;
            i += 2;
        } else if (c < 0x20) {
            ok = false;
            i++;
        } else if (c >= 0x80) {
            size_t k = ok ? utf8_seq(p + i, n - i) : 0;
            if (!k) {
                ok = false;
                k = 1;
            }
            i += k;
        } else {
            i++;
        }
    }
    *plain = false;
    return n;
}

static int scan_text(const uint8_t *p, size_t n, struct scan *sc)
{
    size_t i = 0;
    while (i < n) {
        const uint8_t *q = memchr(p + i, '"', n - i);
        if (!q)
            break;
        size_t s = (size_t)(q - p) + 1;
        bool plain;
        size_t e = scan_string(p, n, s, &plain, &sc->has_u1);
        if (e >= n)
            break;
        if (plain && e - s >= sio_json_fast_min) {
            size_t k = e + 1;
            while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\n' || p[k] == '\r'))
                k++;
            if (k >= n || p[k] != ':') {    /* keys stay jansson's */
                if (SIO_VEC_ROOM(sc->cuts, sc->n, sc->cap, 8) < 0)
                    return -ENOMEM;
                sc->cuts[sc->n++] = (struct cut){ s, e };
            }
        }
        i = e + 1;
    }
    return 0;
}

/* The cut index a marker value stands for, or -1. */
static long marker_index(const json_t *v, size_t ncuts)
{
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len < 2 || len > 21 || s[0] != '\x01')
        return -1;
    size_t idx = 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        idx = idx * 10 + (size_t)(s[i] - '0');
    }
    return idx < ncuts ? (long)idx : -1;
}

static json_t *cut_string(const char *buf, const struct cut *c)
{
    return json_stringn_nocheck(buf + c->start, c->end - c->start);
}

static int restore(json_t *v, const char *buf, const struct scan *sc)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *e = json_array_get(v, i);
            long k = marker_index(e, sc->n);
            if (k >= 0) {
                if (json_array_set_new(v, i, cut_string(buf, &sc->cuts[k])) < 0)
                    return -ENOMEM;
            } else if (restore(e, buf, sc) < 0) {
                return -ENOMEM;
            }
        }
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
            json_t *e = json_object_iter_value(it);
            long k = marker_index(e, sc->n);
            if (k >= 0) {
                if (json_object_iter_set_new(v, it, cut_string(buf, &sc->cuts[k])) < 0)
                    return -ENOMEM;
            } else if (restore(e, buf, sc) < 0) {
                return -ENOMEM;
            }
        }
    }
    return 0;
}

static json_t *no_memory(json_error_t *err)
{
    if (err) {
        memset(err, 0, sizeof *err);
        snprintf(err->text, sizeof err->text, "out of memory");
        err->text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_out_of_memory;
    }
    return NULL;
}

json_t *sio_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    if (sio_json_fast_min == SIZE_MAX || len / 2 < sio_json_fast_min ||
        (flags & JSON_DISABLE_EOF_CHECK))
        return json_loadb(buf, len, flags, err);
    struct scan sc = { 0 };
    if (scan_text((const uint8_t *)buf, len, &sc) < 0) {
        free(sc.cuts);
        return no_memory(err);
    }
    if (!sc.n || sc.has_u1) {
        free(sc.cuts);
        return json_loadb(buf, len, flags, err);
    }
    /* the text with each cut replaced by \u0001<index> */
    struct sio_buf t = SIO_BUF_INIT;
    size_t from = 0;
    int r = 0;
    for (size_t i = 0; i < sc.n && r == 0; i++) {
        r = sio_buf_append(&t, buf + from, sc.cuts[i].start - from);
        if (r == 0)
            r = sio_buf_append(&t, "\\u0001", 6);
        if (r == 0)
            r = sio_buf_append_u64(&t, i);
        from = sc.cuts[i].end;
    }
    if (r == 0)
        r = sio_buf_append(&t, buf + from, len - from);
    json_t *root = NULL;
    if (r == 0) {
        root = json_loadb((const char *)t.data, t.len, flags, err);
        long k = marker_index(root, sc.n);
        if (k >= 0) {
            json_decref(root);
            root = cut_string(buf, &sc.cuts[k]);
            if (!root)
                r = -ENOMEM;
        } else if (root && restore(root, buf, &sc) < 0) {
            json_decref(root);
            root = NULL;
            r = -ENOMEM;
        }
    }
    sio_buf_clear(&t);
    free(sc.cuts);
    return r < 0 ? no_memory(err) : root;
}

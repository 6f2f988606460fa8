/* pickle.c: restricted pickle decoder (plain data only). See pickle.h.
 *
 * Owns nothing beyond one call: a value stack (with marks), the memo and a
 * set of the arrays that were tuples. Every read is bounds-checked against
 * the input; every value made is counted against max_nodes.
 */
#include "adapters/pickle.h"
#include "base/vec.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>
#include <sio/msg.h>

struct slot {
    json_t *v;          /* NULL for a MARK */
    unsigned depth;     /* container nesting of v (scalars 0) */
};

struct dec {
    const uint8_t *p;
    size_t len, off;
    struct slot *stk;
    size_t n, cap;
    json_t **memo;
    size_t nmemo;
    size_t nodes;
    size_t max_depth, max_nodes;
    json_t *tuples;
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct dec *d, int code, const char *fmt, ...)
{
    if (d->err && d->errlen) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(d->err, d->errlen, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < d->errlen)
            snprintf(d->err + k, d->errlen - (size_t)k, " (at byte %zu)", d->off);
    }
    return code;
}

static bool need(struct dec *d, size_t n)
{
    return n <= d->len - d->off;
}

static uint64_t rd_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int count_node(struct dec *d)
{
    if (++d->nodes > d->max_nodes)
        return fail(d, SIO_ERR_TOOBIG, "pickle: more than %zu values", d->max_nodes);
    return 0;
}

/* Push v (owned; NULL means allocation failure). A MARK is pushed with
 * mark = true and v NULL. */
static int push(struct dec *d, json_t *v, unsigned depth, bool mark)
{
    if (!v && !mark)
        return -ENOMEM;
    int r = count_node(d);
    if (r == 0 && depth > d->max_depth)
        r = fail(d, SIO_ERR_TOOBIG, "pickle: nested deeper than %zu", d->max_depth);
    if (r == 0 && SIO_VEC_ROOM(d->stk, d->n, d->cap, 32) < 0)
        r = -ENOMEM;
    if (r < 0) {
        json_decref(v);
        return r;
    }
    d->stk[d->n++] = (struct slot){ .v = v, .depth = depth };
    return 0;
}

static bool is_binary(const json_t *v)
{
    return sio_binary_get(v, NULL, NULL);
}

static bool is_container(const json_t *v)
{
    return json_is_array(v) || (json_is_object(v) && !is_binary(v));
}

static int mark_tuple(struct dec *d, json_t *arr)
{
    char key[2 * sizeof(void *) + 4];
    snprintf(key, sizeof key, "%p", (void *)arr);
    /* the set holds a reference, so the address is never reused meanwhile */
    return json_object_set(d->tuples, key, arr) == 0 ? 0 : -ENOMEM;
}

static bool tuple_in(json_t *set, const json_t *v)
{
    char key[2 * sizeof(void *) + 4];
    snprintf(key, sizeof key, "%p", (const void *)v);
    return json_object_get(set, key) != NULL;
}

/* Deep copy of a memo entry (containers copied, scalars shared), counted
 * and depth-checked. */
static int copy(struct dec *d, json_t *v, unsigned level, json_t **out, unsigned *depth)
{
    *out = NULL;
    *depth = 0;
    if (!is_container(v)) {
        *out = json_incref(v);
        return 0;
    }
    if (level >= d->max_depth)
        return fail(d, SIO_ERR_TOOBIG, "pickle: nested deeper than %zu", d->max_depth);
    int r;
    unsigned cd, maxd = 0;
    json_t *c, *res = json_is_array(v) ? json_array() : json_object();
    if (!res)
        return -ENOMEM;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if ((r = count_node(d)) < 0 || (r = copy(d, e, level + 1, &c, &cd)) < 0)
                goto bad;
            if (json_array_append_new(res, c) < 0) {
                r = -ENOMEM;
                goto bad;
            }
            maxd = cd > maxd ? cd : maxd;
        }
        if (tuple_in(d->tuples, v) && (r = mark_tuple(d, res)) < 0)
            goto bad;
    } else {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            if ((r = count_node(d)) < 0 || (r = copy(d, e, level + 1, &c, &cd)) < 0)
                goto bad;
            if (json_object_set_new(res, k, c) < 0) {
                r = -ENOMEM;
                goto bad;
            }
            maxd = cd > maxd ? cd : maxd;
        }
    }
    *out = res;
    *depth = maxd + 1;
    return 0;
bad:
    json_decref(res);
    return r;
}

/* Index of the topmost MARK, or -1. */
static long find_mark(const struct dec *d)
{
    for (size_t i = d->n; i-- > 0;)
        if (!d->stk[i].v)
            return (long)i;
    return -1;
}

/* Top n slots must be values (no MARK between). */
static bool top_values(const struct dec *d, size_t n)
{
    if (d->n < n)
        return false;
    for (size_t i = d->n - n; i < d->n; i++)
        if (!d->stk[i].v)
            return false;
    return true;
}

/* Build an array (a tuple when tuple) from slots [from, d->n), replacing
 * them (and the MARK at from - 1 when mark) with the array. */
static int build_seq(struct dec *d, size_t from, bool mark, bool tuple)
{
    json_t *a = json_array();
    if (!a)
        return -ENOMEM;
    unsigned maxd = 0;
    for (size_t i = from; i < d->n; i++) {
        if (json_array_append(a, d->stk[i].v) < 0) {
            json_decref(a);
            return -ENOMEM;
        }
        maxd = d->stk[i].depth > maxd ? d->stk[i].depth : maxd;
    }
    if (tuple && mark_tuple(d, a) < 0) {
        json_decref(a);
        return -ENOMEM;
    }
    for (size_t i = from; i < d->n; i++)
        json_decref(d->stk[i].v);
    d->n = mark ? from - 1 : from;
    d->nodes--;     /* push() counts the array again */
    return push(d, a, maxd + 1, false);
}

static int set_items(struct dec *d, struct slot *dict, size_t from)
{
    if (!json_is_object(dict->v) || is_binary(dict->v))
        return fail(d, SIO_ERR_PROTO, "pickle: SETITEM(S) on a non-dict");
    if ((d->n - from) % 2)
        return fail(d, SIO_ERR_PROTO, "pickle: odd number of dict items");
    for (size_t i = from; i < d->n; i += 2) {
        json_t *k = d->stk[i].v;
        if (!json_is_string(k) || strlen(json_string_value(k)) != json_string_length(k))
            return fail(d, SIO_ERR_PROTO, "pickle: dict key is not a str (or holds NUL)");
        if (d->stk[i + 1].depth + 1 > d->max_depth)
            return fail(d, SIO_ERR_TOOBIG, "pickle: nested deeper than %zu", d->max_depth);
        if (json_object_set(dict->v, json_string_value(k), d->stk[i + 1].v) < 0)
            return -ENOMEM;
        if (d->stk[i + 1].depth + 1 > dict->depth)
            dict->depth = d->stk[i + 1].depth + 1;
    }
    return 0;
}

static int append_items(struct dec *d, struct slot *list, size_t from)
{
    if (!json_is_array(list->v) || tuple_in(d->tuples, list->v))
        return fail(d, SIO_ERR_PROTO, "pickle: APPEND(S) on a non-list");
    for (size_t i = from; i < d->n; i++) {
        if (d->stk[i].depth + 1 > d->max_depth)
            return fail(d, SIO_ERR_TOOBIG, "pickle: nested deeper than %zu", d->max_depth);
        if (json_array_append(list->v, d->stk[i].v) < 0)
            return -ENOMEM;
        if (d->stk[i].depth + 1 > list->depth)
            list->depth = d->stk[i].depth + 1;
    }
    return 0;
}

static void drop_from(struct dec *d, size_t from)
{
    for (size_t i = from; i < d->n; i++)
        json_decref(d->stk[i].v);
    d->n = from;
}

static int memo_put(struct dec *d, uint64_t idx)
{
    if (!top_values(d, 1))
        return fail(d, SIO_ERR_PROTO, "pickle: memo put with an empty stack");
    if (idx >= d->max_nodes)
        return fail(d, SIO_ERR_TOOBIG, "pickle: memo index %llu too large",
                    (unsigned long long)idx);
    if (idx >= d->nmemo) {
        json_t **nm = realloc(d->memo, (size_t)(idx + 1) * sizeof *nm);
        if (!nm)
            return -ENOMEM;
        memset(nm + d->nmemo, 0, (size_t)(idx + 1 - d->nmemo) * sizeof *nm);
        d->memo = nm;
        d->nmemo = (size_t)idx + 1;
    }
    json_decref(d->memo[idx]);
    d->memo[idx] = json_incref(d->stk[d->n - 1].v);
    return 0;
}

static int memo_get(struct dec *d, uint64_t idx)
{
    if (idx >= d->nmemo || !d->memo[idx])
        return fail(d, SIO_ERR_PROTO, "pickle: memo get of unknown index %llu",
                    (unsigned long long)idx);
    json_t *c;
    unsigned depth;
    int r = copy(d, d->memo[idx], 0, &c, &depth);
    if (r < 0)
        return r;
    return push(d, c, depth, false);
}

static const char *forbidden_name(uint8_t op)
{
    switch (op) {
    case 'c': return "GLOBAL";
    case 0x93: return "STACK_GLOBAL";
    case 'R': return "REDUCE";
    case 'b': return "BUILD";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    default: return NULL;
    }
}

static int push_str(struct dec *d, unsigned lenbytes)
{
    if (!need(d, lenbytes))
        return fail(d, SIO_ERR_PROTO, "pickle: truncated");
    uint64_t n = rd_le(d->p + d->off, lenbytes);
    d->off += lenbytes;
    if (!need(d, n))
        return fail(d, SIO_ERR_PROTO, "pickle: str of %llu bytes past the end",
                    (unsigned long long)n);
    json_t *s = json_stringn((const char *)d->p + d->off, (size_t)n);
    if (!s)
        return fail(d, SIO_ERR_PROTO, "pickle: str is not valid UTF-8");
    d->off += n;
    return push(d, s, 0, false);
}

static int push_bytes(struct dec *d, unsigned lenbytes)
{
    if (!need(d, lenbytes))
        return fail(d, SIO_ERR_PROTO, "pickle: truncated");
    uint64_t n = rd_le(d->p + d->off, lenbytes);
    d->off += lenbytes;
    if (!need(d, n))
        return fail(d, SIO_ERR_PROTO, "pickle: bytes of %llu past the end",
                    (unsigned long long)n);
    json_t *b = sio_binary_new(d->p + d->off, (size_t)n);
    d->off += n;
    return push(d, b, 0, false);
}

static int push_int(struct dec *d, unsigned n, bool is_signed)
{
    if (!need(d, n))
        return fail(d, SIO_ERR_PROTO, "pickle: truncated");
    uint64_t u = rd_le(d->p + d->off, n);
    d->off += n;
    int64_t v;
    if (is_signed && n < 8 && n > 0 && (u >> (8 * n - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * n);   /* sign-extend */
    memcpy(&v, &u, sizeof v);
    return push(d, json_integer(v), 0, false);
}

static int step(struct dec *d, bool *stop)
{
    uint8_t op = d->p[d->off++];
    long m;
    int r;
    switch (op) {
    case 0x80:  /* PROTO */
        if (!need(d, 1))
            return fail(d, SIO_ERR_PROTO, "pickle: truncated");
        if (d->p[d->off] > 5)
            return fail(d, SIO_ERR_PROTO, "pickle: protocol %u", d->p[d->off]);
        d->off++;
        return 0;
    case 0x95:  /* FRAME */
        if (!need(d, 8))
            return fail(d, SIO_ERR_PROTO, "pickle: truncated");
        if (rd_le(d->p + d->off, 8) > d->len - d->off - 8)
            return fail(d, SIO_ERR_PROTO, "pickle: frame past the end");
        d->off += 8;
        return 0;
    case '.':   /* STOP */
        if (d->n != 1 || !d->stk[0].v)
            return fail(d, SIO_ERR_PROTO, "pickle: STOP with %zu values on the stack", d->n);
        if (d->off != d->len)
            return fail(d, SIO_ERR_PROTO, "pickle: %zu bytes after STOP", d->len - d->off);
        *stop = true;
        return 0;
    case '(':   /* MARK */
        return push(d, NULL, 0, true);
    case '}': return push(d, json_object(), 1, false);
    case ']': return push(d, json_array(), 1, false);
    case ')':   /* EMPTY_TUPLE */
        return build_seq(d, d->n, false, true);
    case 0x85: case 0x86: case 0x87: {  /* TUPLE1..3 */
        size_t k = (size_t)(op - 0x84);
        if (!top_values(d, k))
            return fail(d, SIO_ERR_PROTO, "pickle: TUPLE%zu on a short stack", k);
        return build_seq(d, d->n - k, false, true);
    }
    case 't': case 'l':     /* TUPLE, LIST */
        if ((m = find_mark(d)) < 0)
            return fail(d, SIO_ERR_PROTO, "pickle: %c without MARK", op);
        return build_seq(d, (size_t)m + 1, true, op == 't');
    case 'd': { /* DICT */
        if ((m = find_mark(d)) < 0)
            return fail(d, SIO_ERR_PROTO, "pickle: DICT without MARK");
        /* reuse the MARK slot for the new dict */
        struct slot tmp = { .v = json_object(), .depth = 1 };
        if (!tmp.v)
            return -ENOMEM;
        if ((r = set_items(d, &tmp, (size_t)m + 1)) < 0) {
            json_decref(tmp.v);
            return r;
        }
        drop_from(d, (size_t)m);
        return push(d, tmp.v, tmp.depth, false);
    }
    case 's':   /* SETITEM */
        if (!top_values(d, 3))
            return fail(d, SIO_ERR_PROTO, "pickle: SETITEM on a short stack");
        if ((r = set_items(d, &d->stk[d->n - 3], d->n - 2)) < 0)
            return r;
        drop_from(d, d->n - 2);
        return 0;
    case 'u':   /* SETITEMS */
        if ((m = find_mark(d)) < 1 || !d->stk[m - 1].v)
            return fail(d, SIO_ERR_PROTO, "pickle: SETITEMS without MARK or dict");
        if ((r = set_items(d, &d->stk[m - 1], (size_t)m + 1)) < 0)
            return r;
        drop_from(d, (size_t)m);
        return 0;
    case 'a':   /* APPEND */
        if (!top_values(d, 2))
            return fail(d, SIO_ERR_PROTO, "pickle: APPEND on a short stack");
        if ((r = append_items(d, &d->stk[d->n - 2], d->n - 1)) < 0)
            return r;
        drop_from(d, d->n - 1);
        return 0;
    case 'e':   /* APPENDS */
        if ((m = find_mark(d)) < 1 || !d->stk[m - 1].v)
            return fail(d, SIO_ERR_PROTO, "pickle: APPENDS without MARK or list");
        if ((r = append_items(d, &d->stk[m - 1], (size_t)m + 1)) < 0)
            return r;
        drop_from(d, (size_t)m);
        return 0;
    case 0x8c: return push_str(d, 1);  /* SHORT_BINUNICODE */
    case 'X':  return push_str(d, 4);  /* BINUNICODE */
    case 0x8d: return push_str(d, 8);  /* BINUNICODE8 */
    case 'C':  return push_bytes(d, 1);    /* SHORT_BINBYTES */
    case 'B':  return push_bytes(d, 4);    /* BINBYTES */
    case 0x8e: return push_bytes(d, 8);    /* BINBYTES8 */
    case 'J':  return push_int(d, 4, true);    /* BININT */
    case 'K':  return push_int(d, 1, false);   /* BININT1 */
    case 'M':  return push_int(d, 2, false);   /* BININT2 */
    case 0x8a: {    /* LONG1 */
        if (!need(d, 1))
            return fail(d, SIO_ERR_PROTO, "pickle: truncated");
        unsigned n = d->p[d->off++];
        if (n > 8)
            return fail(d, SIO_ERR_TOOBIG, "pickle: integer of %u bytes (max 8)", n);
        return push_int(d, n, true);
    }
    case 'G': { /* BINFLOAT, big-endian IEEE 754 */
        if (!need(d, 8))
            return fail(d, SIO_ERR_PROTO, "pickle: truncated");
        uint64_t u = 0;
        for (unsigned i = 0; i < 8; i++)
            u = u << 8 | d->p[d->off + i];
        d->off += 8;
        double f;
        memcpy(&f, &u, sizeof f);
        if (!isfinite(f))
            return fail(d, SIO_ERR_PROTO, "pickle: float is not finite");
        return push(d, json_real(f), 0, false);
    }
    case 'N':  return push(d, json_null(), 0, false);
    case 0x88: return push(d, json_true(), 0, false);
    case 0x89: return push(d, json_false(), 0, false);
    case 0x94: return memo_put(d, d->nmemo);    /* MEMOIZE */
    case 'q': case 'r': case 'h': case 'j': {
        unsigned n = op == 'q' || op == 'h' ? 1 : 4;
        if (!need(d, n))
            return fail(d, SIO_ERR_PROTO, "pickle: truncated");
        uint64_t idx = rd_le(d->p + d->off, n);
        d->off += n;
        return op == 'q' || op == 'r' ? memo_put(d, idx) : memo_get(d, idx);
    }
    default: {
        const char *name = forbidden_name(op);
        d->off--;
        if (name)
            return fail(d, -EPERM, "pickle: refused opcode %s (would build objects or call code)",
                        name);
        return fail(d, -EPERM, "pickle: opcode 0x%02x not allowed", op);
    }
    }
}

int sio_pickle_decode(const void *buf, size_t len, const struct sio_pickle_limits *lim,
                      struct sio_pickle *out, char *err, size_t errlen)
{
    struct dec d = {
        .p = buf, .len = len, .err = err, .errlen = errlen,
        .max_depth = lim && lim->max_depth ? lim->max_depth : SIO_PICKLE_MAX_DEPTH,
        .max_nodes = lim && lim->max_nodes ? lim->max_nodes : SIO_PICKLE_MAX_NODES,
    };
    size_t max_len = lim && lim->max_len ? lim->max_len : SIO_PICKLE_MAX_LEN;
    int r = 0;
    bool stop = false;

    out->value = NULL;
    out->tuples = NULL;
    if (err && errlen)
        err[0] = 0;
    if (len > max_len)
        return fail(&d, SIO_ERR_TOOBIG, "pickle: %zu bytes (max %zu)", len, max_len);
    if (!buf && len)
        return -EINVAL;
    d.tuples = json_object();
    if (!d.tuples)
        return -ENOMEM;
    while (r == 0 && !stop) {
        if (d.off >= d.len)
            r = fail(&d, SIO_ERR_PROTO, "pickle: no STOP");
        else
            r = step(&d, &stop);
    }
    if (r == 0) {
        out->value = d.stk[0].v;
        out->tuples = d.tuples;
        d.n = 0;
    } else {
        json_decref(d.tuples);
    }
    drop_from(&d, 0);
    free(d.stk);
    for (size_t i = 0; i < d.nmemo; i++)
        json_decref(d.memo[i]);
    free(d.memo);
    return r;
}

bool sio_pickle_is_tuple(const struct sio_pickle *p, const json_t *v)
{
    return p && p->tuples && json_is_array(v) && tuple_in(p->tuples, v);
}

void sio_pickle_clear(struct sio_pickle *p)
{
    if (!p)
        return;
    json_decref(p->value);
    json_decref(p->tuples);
    p->value = NULL;
    p->tuples = NULL;
}

int sio_pickle_mark_tuple(struct sio_pickle *p, json_t *arr)
{
    if (!p || !json_is_array(arr))
        return -EINVAL;
    if (!p->tuples && !(p->tuples = json_object()))
        return -ENOMEM;
    char key[2 * sizeof(void *) + 4];
    snprintf(key, sizeof key, "%p", (void *)arr);
    return json_object_set(p->tuples, key, arr) == 0 ? 0 : -ENOMEM;
}

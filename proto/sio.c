/* sio.c: the Socket.IO v5 packet codec (see sio.h).
 *
 * Owns nothing: header parsing borrows the caller's buffer, full decoding
 * returns jansson values the caller owns. The JSON writer is ours (not
 * json_dumpb) because the bytes must match JS JSON.stringify: numbers in
 * their shortest round-trip form ("0.1", "1e+21", 1.0 as "1"), lower-case
 * \u escapes, '/' and UTF-8 unescaped, keys in insertion order.
 */
#include "proto/sio.h"
#include "proto/text.h"
#include "base/vec.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/sio.h>
#include <sio/msg.h>

SIO_LOG_TOPIC_STATIC(topic, "edge.sio");

#define ACKID_MAX_DIGITS 18
#define ACKID_MAX        ((INT64_C(1) << 53) - 1)   /* JS Number.MAX_SAFE_INTEGER */
#define JSON_MAX_DEPTH   4096   /* jansson parses at most 2048 deep */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_binary_type(enum sio_packet_type t)
{
    return t == SIO_PKT_BINARY_EVENT || t == SIO_PKT_BINARY_ACK;
}

/* A namespace without its '/' ("4custom,{}") looks like text running to a
 * ',' before anything that can start data or an ack id. */
static bool looks_like_bare_nsp(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == ',')
            return i > 0;
        if (c == '[' || c == '{' || c == '"' || is_digit(c))
            return false;
    }
    return false;
}

static int parse_header(const char *buf, size_t len, size_t max_len,
                        struct sio_packet_hdr *out)
{
    if (max_len && len > max_len)
        return SIO_ERR_TOOBIG;
    if (len == 0)
        return SIO_ERR_PROTO;
    if (buf[0] < '0' || buf[0] > '6')
        return SIO_ERR_TYPE;
    out->type = (enum sio_packet_type)(buf[0] - '0');
    size_t i = 1;

    if (is_binary_type(out->type)) {
        size_t start = i;
        unsigned n = 0;
        while (i < len && is_digit(buf[i])) {
            n = n * 10 + (unsigned)(buf[i] - '0');
            if (n > SIO_MAX_ATTACHMENTS)
                return SIO_ERR_ATTACH;
            i++;
        }
        if (i == start || i == len || buf[i] != '-')
            return SIO_ERR_ATTACH;
        i++;
        out->attachments = n;
    }

    if (i < len && buf[i] == '/') {
        const char *comma = memchr(buf + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - buf) : len;
        if (end - i > SIO_MAX_NSP_LEN || memchr(buf + i, '\0', end - i))
            return SIO_ERR_NSP;
        out->nsp = buf + i;
        out->nsp_len = end - i;
        i = comma ? end + 1 : len;
    } else if (looks_like_bare_nsp(buf + i, len - i)) {
        return SIO_ERR_NSP;
    }

    if (i < len && is_digit(buf[i])) {
        size_t start = i;
        int64_t id = 0;
        while (i < len && is_digit(buf[i])) {
            if (i - start >= ACKID_MAX_DIGITS)
                return SIO_ERR_ACKID;
            id = id * 10 + (buf[i] - '0');
            i++;
        }
        if (i < len && buf[i] == '-')
            return SIO_ERR_ATTACH;  /* "21-[...]": a count on a non-binary type */
        if (id > ACKID_MAX)
            return SIO_ERR_ACKID;
        out->id = id;
    }

    switch (out->type) {
    case SIO_PKT_CONNECT:
    case SIO_PKT_DISCONNECT:
    case SIO_PKT_CONNECT_ERROR:
        if (out->id >= 0)
            return SIO_ERR_ACKID;
        break;
    case SIO_PKT_ACK:
    case SIO_PKT_BINARY_ACK:
        if (out->id < 0)
            return SIO_ERR_ACKID;   /* an ack for nothing */
        break;
    default:
        break;
    }

    out->data = buf + i;
    out->data_len = len - i;
    char first = out->data_len ? out->data[0] : 0;
    switch (out->type) {
    case SIO_PKT_DISCONNECT:
        if (out->data_len)
            return SIO_ERR_SHAPE;
        break;
    case SIO_PKT_CONNECT:
        if (out->data_len && first != '{')
            return SIO_ERR_SHAPE;
        break;
    case SIO_PKT_CONNECT_ERROR:
        if (first != '{' && first != '"')
            return SIO_ERR_SHAPE;
        break;
    default:
        if (first != '[')
            return SIO_ERR_SHAPE;
        break;
    }
    return 0;
}

int sio_packet_parse_header(const char *buf, size_t len, size_t max_len,
                                       struct sio_packet_hdr *out)
{
    *out = (struct sio_packet_hdr){ .nsp = "/", .nsp_len = 1, .id = -1 };
    int r = parse_header(buf, len, max_len, out);
    if (r < 0) {
        sio_log_debug(topic, "bad packet header (%s), len=%zu: %.*s", sio_strerror(r),
                      len, (int)(len < 64 ? len : 64), buf);
        *out = (struct sio_packet_hdr){ .nsp = "/", .nsp_len = 1, .id = -1 };
    }
    return r;
}

static int check_shape(enum sio_packet_type type, const json_t *data)
{
    switch (type) {
    case SIO_PKT_CONNECT:
        return !data || json_is_object(data) ? 0 : SIO_ERR_SHAPE;
    case SIO_PKT_DISCONNECT:
        return data ? SIO_ERR_SHAPE : 0;
    case SIO_PKT_CONNECT_ERROR:
        return json_is_object(data) || json_is_string(data) ? 0 : SIO_ERR_SHAPE;
    case SIO_PKT_EVENT:
    case SIO_PKT_BINARY_EVENT:
        return json_is_array(data) && json_is_string(json_array_get(data, 0))
                   ? 0 : SIO_ERR_SHAPE;
    case SIO_PKT_ACK:
    case SIO_PKT_BINARY_ACK:
        return json_is_array(data) ? 0 : SIO_ERR_SHAPE;
    }
    return SIO_ERR_TYPE;
}

void sio_packet_clear(struct sio_packet *p)
{
    free(p->nsp);
    json_decref(p->data);
    *p = (struct sio_packet){ .id = -1 };
}

int sio_packet_decode(const char *buf, size_t len, size_t max_len,
                                 struct sio_packet *out)
{
    *out = (struct sio_packet){ .id = -1 };
    struct sio_packet_hdr h;
    int r = sio_packet_parse_header(buf, len, max_len, &h);
    if (r < 0)
        return r;

    json_t *data = NULL;
    if (h.data_len) {
        json_error_t jerr;
        size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
        data = sio_json_loadb(h.data, h.data_len, flags, &jerr);
        /* JS numbers are doubles: JSON.stringify(1e20) is a 21-digit
         * integer that jansson's int64 cannot hold. Accept the packet as JS
         * does, with its numbers as reals. */
        if (!data && json_error_code(&jerr) == json_error_numeric_overflow)
            data = sio_json_loadb(h.data, h.data_len, flags | JSON_DECODE_INT_AS_REAL, &jerr);
        if (!data) {
            sio_log_debug(topic, "bad packet JSON: %s at %d", jerr.text, jerr.position);
            return SIO_ERR_JSON;
        }
    }
    r = check_shape(h.type, data);
    if (r < 0) {
        sio_log_debug(topic, "packet type %d: data of the wrong shape", (int)h.type);
        json_decref(data);
        return r;
    }
    char *nsp = strndup(h.nsp, h.nsp_len);
    if (!nsp) {
        json_decref(data);
        return -ENOMEM;
    }
    *out = (struct sio_packet){ .type = h.type, .nsp = nsp, .id = h.id,
                                .attachments = h.attachments, .data = data };
    return 0;
}

/* --- placeholders -------------------------------------------------------- */

/* 1 when v is {"_placeholder":true,...} (JS only tests _placeholder === true). */
static bool is_placeholder(const json_t *v)
{
    return json_is_object(v) && json_is_true(json_object_get(v, "_placeholder"));
}

/* A placeholder's "num" as an index. It is normally an integer, but a
 * packet that also holds a number beyond int64 is decoded with every number
 * as a real (see sio_packet_decode), so an integral real counts too. */
static bool placeholder_num(const json_t *v, json_int_t *out)
{
    const json_t *num = json_object_get(v, "num");
    if (json_is_integer(num)) {
        *out = json_integer_value(num);
        return true;
    }
    if (json_is_real(num)) {
        double d = json_real_value(num);
        if (d >= 0 && d < 9007199254740992.0 && d == (double)(json_int_t)d) {
            *out = (json_int_t)d;
            return true;
        }
    }
    return false;
}

/* Pass 1 of reconstruct: check every placeholder, count references. */
static int check_placeholders(const json_t *v, size_t nbins, uint8_t *seen, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return SIO_ERR_ATTACH;
    if (is_placeholder(v)) {
        json_int_t n;
        if (!placeholder_num(v, &n))
            return SIO_ERR_ATTACH;
        if (n < 0 || (uint64_t)n >= nbins)
            return SIO_ERR_ATTACH;
        seen[n] = 1;
        return 0;
    }
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            int r = check_placeholders(e, nbins, seen, depth + 1);
            if (r < 0)
                return r;
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            int r = check_placeholders(e, nbins, seen, depth + 1);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

/* Pass 2: turn each placeholder object into a binary value in place (a
 * binary value is an object too, see <sio/msg.h>), so the parent needs no
 * update and a top-level placeholder works as well. */
static int fill_placeholders(json_t *v, const struct sio_bin *bins)
{
    if (is_placeholder(v)) {
        json_int_t n = 0;
        placeholder_num(v, &n);     /* checked in pass 1 */
        const struct sio_bin *b = &bins[n];
        json_t *s = json_stringn_nocheck(b->len ? (const char *)b->data : "", b->len);
        if (!s)
            return -ENOMEM;
        json_object_clear(v);
        return json_object_setn_new_nocheck(v, SIO_BINARY_KEY, SIO_BINARY_KEY_LEN, s) < 0 ? -ENOMEM : 0;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            int r = fill_placeholders(e, bins);
            if (r < 0)
                return r;
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            int r = fill_placeholders(e, bins);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

int sio_packet_reconstruct(json_t *data, const struct sio_bin *bins, size_t nbins)
{
    if (nbins > SIO_MAX_ATTACHMENTS)
        return SIO_ERR_ATTACH;
    if (!data)
        return nbins ? SIO_ERR_ATTACH : 0;
    uint8_t seen[SIO_MAX_ATTACHMENTS];
    memset(seen, 0, nbins);
    int r = check_placeholders(data, nbins, seen, 0);
    if (r < 0)
        return r;
    for (size_t i = 0; i < nbins; i++)
        if (!seen[i])
            return SIO_ERR_ATTACH;
    return fill_placeholders(data, bins);
}

void sio_bins_clear(struct sio_bins *b)
{
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

static int bins_push(struct sio_bins *b, const void *data, size_t len)
{
    if (SIO_VEC_ROOM(b->v, b->n, b->cap, 4) < 0)
        return -ENOMEM;
    b->v[b->n++] = (struct sio_bin){ .data = data, .len = len };
    return 0;
}

/* 1 if v holds a binary value, 0 if not, < 0 when too deep (a cycle). */
static int has_binary(const json_t *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return -ELOOP;
    if (sio_binary_get(v, NULL, NULL))
        return 1;
    if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            int r = has_binary(e, depth + 1);
            if (r)
                return r;
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            int r = has_binary(e, depth + 1);
            if (r)
                return r;
        }
    }
    return 0;
}

static json_t *deconstruct(json_t *v, struct sio_bins *bins)
{
    const void *p;
    size_t n;
    if (sio_binary_get(v, &p, &n)) {
        size_t num = bins->n;
        if (bins_push(bins, p, n) < 0)
            return NULL;
        json_t *o = json_object();
        if (!o || json_object_set_new_nocheck(o, "_placeholder", json_true()) < 0 ||
            json_object_set_new_nocheck(o, "num", json_integer((json_int_t)num)) < 0) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        if (!a)
            return NULL;
        json_array_foreach(v, i, e) {
            if (json_array_append_new(a, deconstruct(e, bins)) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        size_t klen;
        json_t *e;
        if (!o)
            return NULL;
        json_object_keylen_foreach(v, k, klen, e) {
            if (json_object_setn_new_nocheck(o, k, klen, deconstruct(e, bins)) < 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    return json_incref(v);  /* scalars are shared */
}

json_t *sio_json_deconstruct(json_t *data, struct sio_bins *bins)
{
    bins->n = 0;
    if (!data)
        return NULL;
    int r = has_binary(data, 0);
    if (r < 0)
        return NULL;
    if (r == 0)
        return json_incref(data);
    json_t *copy = deconstruct(data, bins);
    if (!copy)
        bins->n = 0;
    return copy;
}

/* --- encoding ------------------------------------------------------------ */

int sio_packet_encode(struct sio_buf *out, enum sio_packet_type type,
                                 const char *nsp, size_t nsp_len, int64_t id,
                                 unsigned attachments, const char *json_text, size_t json_len)
{
    if ((unsigned)type > SIO_PKT_BINARY_ACK || (attachments && !is_binary_type(type)))
        return -EINVAL;
    if (!nsp) {
        nsp = "/";
        nsp_len = 1;
    }
    size_t before = out->len;
    int r = sio_buf_append_byte(out, (uint8_t)('0' + type));
    if (r == 0 && is_binary_type(type)) {
        r = sio_buf_append_u64(out, attachments);
        if (r == 0)
            r = sio_buf_append_byte(out, '-');
    }
    if (r == 0 && !(nsp_len == 1 && nsp[0] == '/')) {
        r = sio_buf_append(out, nsp, nsp_len);
        if (r == 0)
            r = sio_buf_append_byte(out, ',');
    }
    if (r == 0 && id >= 0)
        r = sio_buf_append_u64(out, (uint64_t)id);
    if (r == 0 && json_text && json_len)
        r = sio_buf_append(out, json_text, json_len);
    if (r < 0)
        out->len = before;
    return r;
}

/* --- JSON writer (JS JSON.stringify bytes) --------------------------------- */

static int dump_string(struct sio_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (sio_buf_reserve(out, n + 2) < 0)
        return -ENOMEM;
    if (sio_buf_append_byte(out, '"') < 0)
        return -ENOMEM;
    size_t run = 0;     /* bytes copied as they are, appended in one go */
    for (size_t i = 0; i < n; i++) {
        while (i + 16 <= n && !sio_json_block_special((const uint8_t *)s + i)) {
            i += 16;    /* sixteen plain bytes at a time */
            run += 16;
        }
        if (i == n)
            break;
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        switch (c) {
        case '"':  esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c >= 0x20) {
                run++;
                continue;
            }
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            break;
        }
        if (sio_buf_append(out, s + i - run, run) < 0 ||
            (esc ? sio_buf_append_str(out, esc) : sio_buf_append(out, u, 6)) < 0)
            return -ENOMEM;
        run = 0;
    }
    if (sio_buf_append(out, s + n - run, run) < 0 || sio_buf_append_byte(out, '"') < 0)
        return -ENOMEM;
    return 0;
}

/* ECMAScript Number::toString(10) for a finite double: the shortest digits
 * that read back as d, placed as JS places them. */
static int dump_real(struct sio_buf *out, double d)
{
    if (!isfinite(d))
        return sio_buf_append_str(out, "null");     /* as JSON.stringify */
    if (d == 0)
        return sio_buf_append_byte(out, '0');       /* -0 too */
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* tmp is [-]D[.DDD]e[+-]XX; the decimal separator may be locale's. */
    char digits[20];
    int k = 0;
    const char *p = tmp;
    bool neg = *p == '-';
    if (neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (is_digit(*p) && k < (int)sizeof(digits))
            digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;
    int e10 = *p == 'e' ? atoi(p + 1) : 0;
    int n = e10 + 1;    /* the decimal point goes after n digits */

    struct sio_buf *b = out;
    int r = neg ? sio_buf_append_byte(b, '-') : 0;
    if (r < 0)
        return r;
    if (k <= n && n <= 21) {
        r = sio_buf_append(b, digits, (size_t)k);
        for (int i = k; r == 0 && i < n; i++)
            r = sio_buf_append_byte(b, '0');
    } else if (0 < n && n <= 21) {
        r = sio_buf_append(b, digits, (size_t)n);
        if (r == 0)
            r = sio_buf_append_byte(b, '.');
        if (r == 0)
            r = sio_buf_append(b, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        r = sio_buf_append(b, "0.", 2);
        for (int i = 0; r == 0 && i < -n; i++)
            r = sio_buf_append_byte(b, '0');
        if (r == 0)
            r = sio_buf_append(b, digits, (size_t)k);
    } else {
        r = sio_buf_append_byte(b, (uint8_t)digits[0]);
        if (r == 0 && k > 1) {
            r = sio_buf_append_byte(b, '.');
            if (r == 0)
                r = sio_buf_append(b, digits + 1, (size_t)(k - 1));
        }
        if (r == 0)
            r = sio_buf_printf(b, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
    return r;
}

static int dump(struct sio_buf *out, const json_t *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return -ELOOP;
    switch (json_typeof(v)) {
    case JSON_NULL:
        return sio_buf_append_str(out, "null");
    case JSON_TRUE:
        return sio_buf_append_str(out, "true");
    case JSON_FALSE:
        return sio_buf_append_str(out, "false");
    case JSON_INTEGER:
        return sio_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return dump_real(out, json_real_value(v));
    case JSON_STRING:
        return dump_string(out, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        size_t i;
        const json_t *e;
        if (sio_buf_append_byte(out, '[') < 0)
            return -ENOMEM;
        json_array_foreach(v, i, e) {
            if (i && sio_buf_append_byte(out, ',') < 0)
                return -ENOMEM;
            int r = dump(out, e, depth + 1);
            if (r < 0)
                return r;
        }
        return sio_buf_append_byte(out, ']');
    }
    case JSON_OBJECT: {
        if (sio_binary_get(v, NULL, NULL))
            return -EINVAL;     /* deconstruct first */
        const char *k;
        size_t klen;
        const json_t *e;
        bool first = true;
        if (sio_buf_append_byte(out, '{') < 0)
            return -ENOMEM;
        json_object_keylen_foreach((json_t *)v, k, klen, e) {
            int r = first ? 0 : sio_buf_append_byte(out, ',');
            if (r == 0)
                r = dump_string(out, k, klen);
            if (r == 0)
                r = sio_buf_append_byte(out, ':');
            if (r == 0)
                r = dump(out, e, depth + 1);
            if (r < 0)
                return r;
            first = false;
        }
        return sio_buf_append_byte(out, '}');
    }
    }
    return -EINVAL;
}

int sio_json_dump(struct sio_buf *out, const json_t *data)
{
    if (!data)
        return -EINVAL;
    size_t before = out->len;
    int r = dump(out, data, 0);
    if (r < 0) {
        out->len = before;
        if (out->data)
            out->data[before] = 0;
    }
    return r;
}

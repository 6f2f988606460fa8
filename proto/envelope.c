/* envelope.c: the msgpack codec of the bus envelope (see envelope.h and
 * docs/BUS.md, which documents every key byte by byte).
 *
 * Encoding writes one map holding only the fields that are set. Decoding
 * borrows every string and binary from the caller's buffer and owns one
 * allocation, env->priv, that holds all the decoded arrays (rooms, headers,
 * bins...); sio_env_clear() frees it.
 *
 * Thread-safe: no global state.
 */
#include "proto/envelope.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include <sio/error.h>

/* Nesting limit for any envelope, unknown keys included. msgpack-c fails
 * past 32 levels with the same code as out-of-memory, so we stop earlier
 * and keep -ENOMEM meaning memory. */
#define ENV_MAX_DEPTH 16

enum env_key {
    K_V, K_K, K_GW, K_NSP, K_SID, K_ID, K_DATA, K_BINS, K_BIN, K_CC, K_WHY,
    K_ROOMS, K_XR, K_XS, K_R2, K_HDR, K_Q, K_RA, K_SESS, K_TS, K_CF, K_ORG, K_VO,
    K_COUNT
};

#define KEY(id, name) [id] = { name, sizeof name - 1 }
static const struct {
    const char *s;
    size_t n;
} keys[K_COUNT] = {
    KEY(K_V, "v"),       KEY(K_K, "k"),       KEY(K_GW, "gw"),      KEY(K_NSP, "nsp"),
    KEY(K_SID, "sid"),   KEY(K_ID, "id"),     KEY(K_DATA, "data"),  KEY(K_BINS, "bins"),
    KEY(K_BIN, "bin"),   KEY(K_CC, "cc"),     KEY(K_WHY, "why"),    KEY(K_ROOMS, "rooms"),
    KEY(K_XR, "xr"),     KEY(K_XS, "xs"),     KEY(K_R2, "r2"),      KEY(K_HDR, "hdr"),
    KEY(K_Q, "q"),       KEY(K_RA, "ra"),     KEY(K_SESS, "sess"),  KEY(K_TS, "ts"),
    KEY(K_CF, "cf"),     KEY(K_ORG, "org"),   KEY(K_VO, "vo"),
};
#undef KEY

const char *sio_env_kind_name(int kind)
{
    switch (kind) {
    case SIO_ENV_CONNECT:        return "connect";
    case SIO_ENV_EVENT:          return "event";
    case SIO_ENV_CLIENT_ACK:     return "client_ack";
    case SIO_ENV_DISCONNECT:     return "disconnect";
    case SIO_ENV_RAW:            return "raw";
    case SIO_ENV_EMIT:           return "emit";
    case SIO_ENV_ACK:            return "ack";
    case SIO_ENV_JOIN:           return "join";
    case SIO_ENV_LEAVE:          return "leave";
    case SIO_ENV_CLOSE_ROOM:     return "close_room";
    case SIO_ENV_DISCONNECT_CMD: return "disconnect_cmd";
    case SIO_ENV_CONNECT_OK:     return "connect_ok";
    case SIO_ENV_CONNECT_ERR:    return "connect_err";
    case SIO_ENV_SESSION:        return "session";
    case SIO_ENV_RAW_SEND:       return "raw_send";
    case SIO_ENV_EVENT_DONE:     return "event_done";
    case SIO_ENV_TAKEOVER:       return "takeover";
    case SIO_ENV_ADMIN:          return "admin";
    case SIO_ENV_HELLO:          return "hello";
    case SIO_ENV_HEARTBEAT:      return "heartbeat";
    case SIO_ENV_BYE:            return "bye";
    case SIO_ENV_GATEWAY_GONE:   return "gateway_gone";
    default:                     return "?";
    }
}

static bool kind_known(uint64_t kind)
{
    return kind <= 255 && strcmp(sio_env_kind_name((int)kind), "?") != 0;
}

void sio_env_init(struct sio_env *env, enum sio_env_kind kind)
{
    memset(env, 0, sizeof(*env));
    env->version = SIO_ENV_VERSION;
    env->kind = kind;
    env->id = -1;
}

void sio_env_clear(struct sio_env *env)
{
    /* Only priv is ours: on an envelope built for encoding the arrays are
     * the caller's and priv is NULL. */
    free(env->priv);
    sio_env_init(env, 0);
}

/* ---- encoding ---------------------------------------------------------- */

struct enc {
    struct sio_buf *out;
    int err;
    msgpack_packer pk;
};

/* msgpack-c ignores the callback's result in some integer paths, so the
 * first failure is remembered here rather than trusted to propagate. */
static int enc_write(void *data, const char *buf, size_t len)
{
    struct enc *e = data;
    if (e->err)
        return -1;
    if (sio_buf_append(e->out, buf, len) < 0) {
        e->err = -ENOMEM;
        return -1;
    }
    return 0;
}

static bool str_valid(const struct sio_str *s)
{
    return (s->p || s->len == 0) && s->len <= UINT32_MAX;
}

static bool list_valid(const struct sio_str *a, size_t n)
{
    if (n > SIO_ENV_MAX_LIST || (n && !a))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!str_valid(&a[i]))
            return false;
    return true;
}

/* Tables made once from keys[]: each key as msgpack-c writes it (a str
 * header and the name), so that encoding a key is one append instead of two
 * calls through the packer; and, per name length, the keys of that length
 * (ending with -1), so that decoding compares only those. */
#define KEY_MAX_LEN 5
static struct {
    char b[8];
    uint8_t n;
} key_bytes[K_COUNT];
static int8_t keys_by_len[KEY_MAX_LEN + 1][K_COUNT + 1];
static pthread_once_t key_tables_once = PTHREAD_ONCE_INIT;

static int key_bytes_write(void *data, const char *buf, size_t len)
{
    size_t k = (size_t)(uintptr_t)data;
    if (key_bytes[k].n + len > sizeof key_bytes[k].b)
        return -1;
    memcpy(key_bytes[k].b + key_bytes[k].n, buf, len);
    key_bytes[k].n = (uint8_t)(key_bytes[k].n + len);
    return 0;
}

static void key_tables_make(void)
{
    size_t fill[KEY_MAX_LEN + 1] = { 0 };
    for (size_t k = 0; k < K_COUNT; k++) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, (void *)(uintptr_t)k, key_bytes_write);
        msgpack_pack_str(&pk, keys[k].n);
        msgpack_pack_str_body(&pk, keys[k].s, keys[k].n);
        keys_by_len[keys[k].n][fill[keys[k].n]++] = (int8_t)k;
    }
    for (size_t n = 0; n <= KEY_MAX_LEN; n++)
        keys_by_len[n][fill[n]] = -1;
}

static void put_key(struct enc *e, enum env_key k)
{
    if (!e->err && sio_buf_append(e->out, key_bytes[k].b, key_bytes[k].n) < 0)
        e->err = -ENOMEM;
}

static void put_str(struct enc *e, const struct sio_str *s)
{
    msgpack_pack_str(&e->pk, s->len);
    if (s->len)
        msgpack_pack_str_body(&e->pk, s->p, s->len);
}

static void put_bin(struct enc *e, const void *p, size_t len)
{
    msgpack_pack_bin(&e->pk, len);
    if (len)
        msgpack_pack_bin_body(&e->pk, p, len);
}

static void put_str_field(struct enc *e, enum env_key k, const struct sio_str *s)
{
    if (!s->p)
        return;
    put_key(e, k);
    put_str(e, s);
}

static void put_list(struct enc *e, enum env_key k, const struct sio_str *a, size_t n)
{
    if (!n)
        return;
    put_key(e, k);
    msgpack_pack_array(&e->pk, n);
    for (size_t i = 0; i < n; i++)
        put_str(e, &a[i]);
}

int sio_env_encode(const struct sio_env *env, struct sio_buf *out)
{
    if (!env || !out || !kind_known((uint64_t)env->kind))
        return -EINVAL;
    const struct sio_str *strs[] = {
        &env->gw, &env->nsp, &env->sid, &env->data, &env->reason,
        &env->query, &env->remote, &env->session,
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (!str_valid(strs[i]))
            return -EINVAL;
    if (!list_valid(env->rooms, env->nrooms) ||
        !list_valid(env->except_rooms, env->nexcept_rooms) ||
        !list_valid(env->except_sids, env->nexcept_sids) ||
        !list_valid(env->rooms2, env->nrooms2) ||
        env->nheaders > SIO_ENV_MAX_LIST / 2 ||
        !list_valid(env->headers, 2 * env->nheaders))
        return -EINVAL;
    if (env->nbins > SIO_ENV_MAX_LIST || (env->nbins && !env->bins))
        return -EINVAL;
    for (size_t i = 0; i < env->nbins; i++)
        if ((!env->bins[i].p && env->bins[i].len) || env->bins[i].len > UINT32_MAX)
            return -EINVAL;

    size_t n = 2;   /* v, k */
    n += !!env->gw.p + !!env->nsp.p + !!env->sid.p + (env->id >= 0) + !!env->data.p;
    n += !!env->nbins + env->binary + env->close_conn + env->volatile_ + !!env->reason.p;
    n += !!env->nrooms + !!env->nexcept_rooms + !!env->nexcept_sids + !!env->nrooms2;
    n += !!env->nheaders + !!env->query.p + !!env->remote.p + !!env->session.p;
    n += env->ts != 0;
    n += env->confirm > 0;
    n += !!env->origin.p;

    /* one allocation for a large envelope rather than a doubling series */
    size_t big = env->data.len + env->session.len;
    for (size_t i = 0; i < env->nbins; i++)
        big += env->bins[i].len;
    if (big > 4096 && sio_buf_reserve(out, big + 512) < 0)
        return -ENOMEM;
    (void)pthread_once(&key_tables_once, key_tables_make);
    struct enc e = { .out = out, .err = 0 };
    size_t start = out->len;
    msgpack_packer_init(&e.pk, &e, enc_write);

    msgpack_pack_map(&e.pk, n);
    put_key(&e, K_V);
    msgpack_pack_uint32(&e.pk, SIO_ENV_VERSION);
    put_key(&e, K_K);
    msgpack_pack_uint32(&e.pk, (uint32_t)env->kind);
    put_str_field(&e, K_GW, &env->gw);
    put_str_field(&e, K_NSP, &env->nsp);
    put_str_field(&e, K_SID, &env->sid);
    if (env->id >= 0) {
        put_key(&e, K_ID);
        msgpack_pack_int64(&e.pk, env->id);
    }
    if (env->data.p) {
        put_key(&e, K_DATA);
        /* A binary raw message is not text: keep it a msgpack bin so that
         * decoders in other languages give bytes, not a broken string. */
        if (env->binary && (env->kind == SIO_ENV_RAW || env->kind == SIO_ENV_RAW_SEND))
            put_bin(&e, env->data.p, env->data.len);
        else
            put_str(&e, &env->data);
    }
    if (env->nbins) {
        put_key(&e, K_BINS);
        msgpack_pack_array(&e.pk, env->nbins);
        for (size_t i = 0; i < env->nbins; i++)
            put_bin(&e, env->bins[i].p, env->bins[i].len);
    }
    if (env->binary) {
        put_key(&e, K_BIN);
        msgpack_pack_true(&e.pk);
    }
    if (env->close_conn) {
        put_key(&e, K_CC);
        msgpack_pack_true(&e.pk);
    }
    if (env->volatile_) {
        put_key(&e, K_VO);
        msgpack_pack_true(&e.pk);
    }
    put_str_field(&e, K_WHY, &env->reason);
    put_list(&e, K_ROOMS, env->rooms, env->nrooms);
    put_list(&e, K_XR, env->except_rooms, env->nexcept_rooms);
    put_list(&e, K_XS, env->except_sids, env->nexcept_sids);
    put_list(&e, K_R2, env->rooms2, env->nrooms2);
    put_list(&e, K_HDR, env->headers, 2 * env->nheaders);
    put_str_field(&e, K_Q, &env->query);
    put_str_field(&e, K_RA, &env->remote);
    if (env->session.p) {
        put_key(&e, K_SESS);
        put_bin(&e, env->session.p, env->session.len);
    }
    if (env->ts != 0) {
        put_key(&e, K_TS);
        msgpack_pack_int64(&e.pk, env->ts);
    }
    if (env->confirm > 0) {
        put_key(&e, K_CF);
        msgpack_pack_int64(&e.pk, env->confirm);
    }
    put_str_field(&e, K_ORG, &env->origin);

    if (e.err) {
        out->len = start;   /* leave no half envelope behind */
        return e.err;
    }
    return 0;
}

/* ---- decoding ---------------------------------------------------------- */

static bool rd_be(const uint8_t *p, size_t len, size_t *off, unsigned n, uint64_t *v)
{
    if (len - *off < n)
        return false;
    uint64_t x = 0;
    for (unsigned i = 0; i < n; i++)
        x = (x << 8) | p[*off + i];
    *off += n;
    *v = x;
    return true;
}

/* Check that p[0..len) is exactly one well-formed msgpack object, nested at
 * most ENV_MAX_DEPTH deep, whose every declared length fits in the bytes
 * that are left. msgpack-c allocates an array's or map's element storage
 * as soon as it reads the header, before it knows the elements exist: a
 * 5-byte "array of 4 billion" would ask for ~100 GB. Since every element
 * takes at least one byte, holding the count of objects still expected to
 * the bytes still unread bounds msgpack's allocations by the input size. */
static bool scan(const uint8_t *p, size_t len)
{
    uint64_t left[ENV_MAX_DEPTH + 1];   /* items left in each open container */
    int depth = 0;
    uint64_t pending = 1;               /* objects still expected, all levels */
    size_t off = 0;

    left[0] = 1;
    while (pending) {
        while (left[depth] == 0)
            depth--;
        if (off >= len || pending > len - off)
            return false;
        uint8_t c = p[off++];
        left[depth]--;
        pending--;

        uint64_t skip = 0, items = 0, v;
        if (c <= 0x7f || c >= 0xe0) {
            /* fixint */
        } else if (c <= 0x8f) {
            items = 2u * (c & 0x0fu);
        } else if (c <= 0x9f) {
            items = c & 0x0fu;
        } else if (c <= 0xbf) {
            skip = c & 0x1fu;
        } else {
            switch (c) {
            case 0xc0: case 0xc2: case 0xc3: break;             /* nil, bool */
            case 0xc4: case 0xd9:                               /* bin8, str8 */
                if (!rd_be(p, len, &off, 1, &skip)) return false;
                break;
            case 0xc5: case 0xda:
                if (!rd_be(p, len, &off, 2, &skip)) return false;
                break;
            case 0xc6: case 0xdb:
                if (!rd_be(p, len, &off, 4, &skip)) return false;
                break;
            case 0xc7: case 0xc8: case 0xc9:                    /* ext8/16/32 */
                if (!rd_be(p, len, &off, 1u << (c - 0xc7), &v)) return false;
                skip = v + 1;                                   /* + type byte */
                break;
            case 0xca: skip = 4; break;                         /* float32 */
            case 0xcb: skip = 8; break;                         /* float64 */
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext */
                skip = 1 + (1u << (c - 0xd4));
                break;
            case 0xdc:
                if (!rd_be(p, len, &off, 2, &items)) return false;
                break;
            case 0xdd:
                if (!rd_be(p, len, &off, 4, &items)) return false;
                break;
            case 0xde:
                if (!rd_be(p, len, &off, 2, &v)) return false;
                items = 2 * v;
                break;
            case 0xdf:
                if (!rd_be(p, len, &off, 4, &v)) return false;
                items = 2 * v;
                break;
            default:                                            /* 0xc1 */
                return false;
            }
        }
        if (skip > len - off)
            return false;
        off += skip;
        if (items) {
            if (depth == ENV_MAX_DEPTH)
                return false;
            left[++depth] = items;
            pending += items;   /* <= len + 2^33: no overflow */
        }
    }
    return off == len;
}

static bool is_nil(const msgpack_object *o)
{
    return !o || o->type == MSGPACK_OBJECT_NIL;
}

static bool get_str(const msgpack_object *o, struct sio_str *s, bool bin_ok)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        s->p = o->via.str.ptr;
        s->len = o->via.str.size;
    } else if (bin_ok && o->type == MSGPACK_OBJECT_BIN) {
        s->p = o->via.bin.ptr;
        s->len = o->via.bin.size;
    } else {
        return false;
    }
    /* "" must read as present: never leave p NULL. */
    if (!s->p)
        s->p = "";
    return true;
}

static bool get_str_field(const msgpack_object *o, struct sio_str *s, bool bin_ok)
{
    return is_nil(o) || get_str(o, s, bin_ok);
}

static bool get_bool_field(const msgpack_object *o, bool *b)
{
    if (is_nil(o))
        return true;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return false;
    *b = o->via.boolean;
    return true;
}

/* Number of entries of an optional array field, or -1 when it is not an
 * array (or nil) or is too long. */
static long list_len(const msgpack_object *o)
{
    if (is_nil(o))
        return 0;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size > SIO_ENV_MAX_LIST)
        return -1;
    return (long)o->via.array.size;
}

static bool get_list(const msgpack_object *o, struct sio_str **next, struct sio_str **out,
                     size_t *n)
{
    if (is_nil(o) || o->via.array.size == 0)
        return true;
    struct sio_str *a = *next;
    for (uint32_t i = 0; i < o->via.array.size; i++)
        if (!get_str(&o->via.array.ptr[i], &a[i], false))
            return false;
    *out = a;
    *n = o->via.array.size;
    *next += o->via.array.size;
    return true;
}

/* The key named p[0..n), or -1: only the keys of that length are compared
 * (the names are 1 to 5 bytes). */
static int key_index(const char *p, size_t n)
{
    (void)pthread_once(&key_tables_once, key_tables_make);
    if (n == 0 || n >= KEY_MAX_LEN + 1)
        return -1;
    for (const int8_t *k = keys_by_len[n]; *k >= 0; k++)
        if (memcmp(keys[*k].s, p, n) == 0)
            return *k;
    return -1;
}

static int from_object(const msgpack_object *root, struct sio_env *env)
{
    const msgpack_object *f[K_COUNT] = { 0 };

    if (root->type != MSGPACK_OBJECT_MAP)
        return SIO_ERR_ENVELOPE;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            return SIO_ERR_ENVELOPE;
        int k = key_index(kv->key.via.str.ptr, kv->key.via.str.size);
        if (k >= 0) {
            if (f[k])
                return SIO_ERR_ENVELOPE;   /* duplicate key */
            f[k] = &kv->val;
        }
        /* unknown keys: skipped */
    }

    /* The version first: another version may give known keys other types. */
    if (is_nil(f[K_V]) || f[K_V]->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        f[K_V]->via.u64 != SIO_ENV_VERSION)
        return SIO_ERR_VERSION;
    env->version = SIO_ENV_VERSION;

    if (is_nil(f[K_K]) || f[K_K]->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        !kind_known(f[K_K]->via.u64))
        return SIO_ERR_ENVELOPE;
    env->kind = (enum sio_env_kind)f[K_K]->via.u64;

    if (!get_str_field(f[K_GW], &env->gw, false) ||
        !get_str_field(f[K_NSP], &env->nsp, false) ||
        !get_str_field(f[K_SID], &env->sid, false) ||
        !get_str_field(f[K_DATA], &env->data, true) ||
        !get_str_field(f[K_WHY], &env->reason, false) ||
        !get_str_field(f[K_Q], &env->query, false) ||
        !get_str_field(f[K_RA], &env->remote, false) ||
        !get_str_field(f[K_SESS], &env->session, true) ||
        !get_str_field(f[K_ORG], &env->origin, false) ||
        !get_bool_field(f[K_BIN], &env->binary) ||
        !get_bool_field(f[K_VO], &env->volatile_) ||
        !get_bool_field(f[K_CC], &env->close_conn))
        return SIO_ERR_ENVELOPE;

    if (!is_nil(f[K_ID])) {
        if (f[K_ID]->type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[K_ID]->via.u64 > INT64_MAX)
            return SIO_ERR_ENVELOPE;
        env->id = (int64_t)f[K_ID]->via.u64;
    }
    if (!is_nil(f[K_CF])) {
        if (f[K_CF]->type != MSGPACK_OBJECT_POSITIVE_INTEGER || f[K_CF]->via.u64 > INT64_MAX)
            return SIO_ERR_ENVELOPE;
        env->confirm = (int64_t)f[K_CF]->via.u64;
    }
    if (!is_nil(f[K_TS])) {
        if (f[K_TS]->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            env->ts = f[K_TS]->via.i64;
        else if (f[K_TS]->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                 f[K_TS]->via.u64 <= INT64_MAX)
            env->ts = (int64_t)f[K_TS]->via.u64;
        else
            return SIO_ERR_ENVELOPE;
    }

    /* All arrays share one allocation (env->priv). */
    static const enum env_key lists[] = { K_ROOMS, K_XR, K_XS, K_R2, K_HDR };
    size_t nstr = 0;
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        long n = list_len(f[lists[i]]);
        if (n < 0)
            return SIO_ERR_ENVELOPE;
        nstr += (size_t)n;
    }
    long nbins = list_len(f[K_BINS]);
    if (nbins < 0)
        return SIO_ERR_ENVELOPE;
    if (!is_nil(f[K_HDR]) && f[K_HDR]->via.array.size % 2)
        return SIO_ERR_ENVELOPE;    /* name without a value */
    if (nstr + (size_t)nbins == 0)
        return 0;

    /* struct sio_env_bin and struct sio_str have the same layout and
     * alignment, so one array of sio_str serves both. */
    _Static_assert(sizeof(struct sio_env_bin) == sizeof(struct sio_str),
                   "bin and str entries share storage");
    struct sio_str *mem = calloc(nstr + (size_t)nbins, sizeof(struct sio_str));
    if (!mem)
        return -ENOMEM;
    env->priv = mem;

    struct sio_env_bin *bins = (struct sio_env_bin *)mem;
    for (long i = 0; i < nbins; i++) {
        const msgpack_object *b = &f[K_BINS]->via.array.ptr[i];
        if (b->type != MSGPACK_OBJECT_BIN)
            return SIO_ERR_ENVELOPE;
        /* an empty bin may come back with a NULL pointer */
        bins[i].p = b->via.bin.ptr ? (const uint8_t *)b->via.bin.ptr : (const uint8_t *)"";
        bins[i].len = b->via.bin.size;
    }
    if (nbins) {
        env->bins = bins;
        env->nbins = (size_t)nbins;
    }
    struct sio_str *next = mem + nbins;
    size_t nhdr = 0;
    if (!get_list(f[K_ROOMS], &next, &env->rooms, &env->nrooms) ||
        !get_list(f[K_XR], &next, &env->except_rooms, &env->nexcept_rooms) ||
        !get_list(f[K_XS], &next, &env->except_sids, &env->nexcept_sids) ||
        !get_list(f[K_R2], &next, &env->rooms2, &env->nrooms2) ||
        !get_list(f[K_HDR], &next, &env->headers, &nhdr))
        return SIO_ERR_ENVELOPE;
    env->nheaders = nhdr / 2;
    return 0;
}

int sio_env_decode(const void *buf, size_t len, struct sio_env *env)
{
    sio_env_init(env, 0);
    if (!buf || !len || !scan(buf, len))
        return SIO_ERR_ENVELOPE;

    /* msgpack_unpack() points str/bin objects into buf (no copy); only
     * the array and map element tables live in the zone, and those are
     * copied out before it is freed. A small first chunk (msgpack_unpack_next
     * would malloc 8 KiB per envelope) holds an envelope's tables. */
    msgpack_zone zone;
    if (!msgpack_zone_init(&zone, 1024))
        return -ENOMEM;
    msgpack_object root;
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack(buf, len, &off, &zone, &root);
    int rc;
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        rc = -ENOMEM;
    else if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        rc = SIO_ERR_ENVELOPE;
    else
        rc = from_object(&root, env);
    msgpack_zone_destroy(&zone);
    if (rc < 0)
        sio_env_clear(env);
    return rc;
}

/* bridge_msg.c: translate ecosystem broker messages into bus commands.
 *
 * python-socketio manager messages (pickle or JSON dicts with "method") and
 * @socket.io/redis-emitter messages (msgpack [uid, packet, opts] and JSON
 * requests) become EMIT / JOIN / LEAVE / CLOSE_ROOM / DISCONNECT_CMD
 * envelopes, always with topic "*": a gateway that does not hold a sid
 * ignores a command for it. No I/O; owns nothing beyond one call.
 */
#include "adapters/bridge.h"

#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>
#include <sio/log.h>
#include <sio/msg.h>
#include "base/buf.h"
#include "proto/bus.h"
#include "adapters/pickle.h"
#include "proto/sio.h"

SIO_LOG_TOPIC_STATIC(topic, "bridge");

#define MAX_ROOMS 4096
#define MAX_DEPTH 32

int sio__bridge_failf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static struct sio_str str_of(const json_t *s)
{
    return (struct sio_str){ json_string_value(s), json_string_length(s) };
}

/* A selector list: null/absent (*n = 0, *out = NULL), one str, or an array
 * of str. *out is allocated (free it); the strings borrow from v. */
static int str_list(const json_t *v, struct sio_str **out, size_t *n)
{
    *n = 0;
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    size_t cnt = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_string(v) && (!json_is_array(v) || cnt > MAX_ROOMS))
        return SIO_ERR_SHAPE;
    if (cnt == 0)
        return 0;
    struct sio_str *a = calloc(cnt, sizeof *a);
    if (!a)
        return -ENOMEM;
    if (json_is_string(v)) {
        a[0] = str_of(v);
    } else {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (!json_is_string(e)) {
                free(a);
                return SIO_ERR_SHAPE;
            }
            a[i] = str_of(e);
        }
    }
    *out = a;
    *n = cnt;
    return 0;
}

struct sel {
    const json_t *sid;      /* a str, or NULL */
    const json_t *rooms, *xr, *xs, *r2;
};

/* Send one command of kind with the selection sel; for EMIT, args is the
 * argument array (event name first, may hold binary values). */
/* The "org" of every command a bridge sends: the host id of the message,
 * or "" when it has none (docs/BUS.md). Set by the callers of send_cmd(). */
static __thread struct sio_str cur_origin;
/* This deployment's host id (messages carrying it are ours: skipped) and
 * whether the message being read was one; set by the public entry points. */
static __thread const char *cur_self;
static __thread bool cur_own;

static int send_cmd(enum sio_env_kind kind, const char *nsp, size_t nsp_len,
                    const struct sel *sel, json_t *args, bool close_conn,
                    sio_bridge_send_fn send, void *ud, char *err, size_t errlen)
{
    struct sio_bins bins = { 0 };
    struct sio_buf text = SIO_BUF_INIT;
    struct sio_env env;
    json_t *ph = NULL;
    int rc;

    sio_env_init(&env, kind);
    env.nsp = (struct sio_str){ nsp, nsp_len };
    env.close_conn = close_conn;
    env.origin = cur_origin.p ? cur_origin : (struct sio_str){ "", 0 };
    if (sel->sid)
        env.sid = str_of(sel->sid);
    if ((rc = str_list(sel->rooms, &env.rooms, &env.nrooms)) < 0 ||
        (rc = str_list(sel->xr, &env.except_rooms, &env.nexcept_rooms)) < 0 ||
        (rc = str_list(sel->xs, &env.except_sids, &env.nexcept_sids)) < 0 ||
        (rc = str_list(sel->r2, &env.rooms2, &env.nrooms2)) < 0) {
        if (rc != -ENOMEM)
            rc = sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "rooms: not a str or a list of str");
        goto out;
    }
    if (args) {
        ph = sio_json_deconstruct(args, &bins);
        if (!ph) {
            rc = sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "arguments nested too deep");
            goto out;
        }
        if (sio_json_dump(&text, ph) < 0) {
            rc = sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "arguments cannot be serialized");
            goto out;
        }
        env.data = (struct sio_str){ (const char *)text.data, text.len };
        if (bins.n) {
            env.bins = calloc(bins.n, sizeof *env.bins);
            if (!env.bins) {
                rc = -ENOMEM;
                goto out;
            }
            for (size_t i = 0; i < bins.n; i++)
                env.bins[i] = (struct sio_env_bin){ bins.v[i].data, bins.v[i].len };
            env.nbins = bins.n;
        }
    }
    rc = send(ud, SIO_BUS_ALL_TOPIC, &env);
    if (rc < 0)
        sio__bridge_failf(err, errlen, rc, "cannot send to the hub");
    else
        rc = 1;
out:
    free(env.bins);
    free(env.rooms);
    free(env.except_rooms);
    free(env.except_sids);
    free(env.rooms2);
    json_decref(ph);
    sio_bins_clear(&bins);
    sio_buf_clear(&text);
    return rc;
}

/* ---- python-socketio ---------------------------------------------------- */

/* JSON "binary": true form: data = [args with placeholders, base64 att...].
 * Returns args with the binary values put back (new reference) or NULL. */
static json_t *py_binary_args(const json_t *data)
{
    if (!json_is_array(data) || json_array_size(data) < 1 ||
        !json_is_array(json_array_get(data, 0)) || json_array_size(data) - 1 > 4096)
        return NULL;
    size_t n = json_array_size(data) - 1;
    struct sio_bin *bins = calloc(n ? n : 1, sizeof *bins);
    uint8_t **bufs = calloc(n ? n : 1, sizeof *bufs);
    json_t *args = NULL;
    if (!bins || !bufs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(data, i + 1);
        if (!json_is_string(s))
            goto out;
        bufs[i] = malloc(json_string_length(s) + 1);
        if (!bufs[i])
            goto out;
        long k = sio_base64_decode(json_string_value(s), json_string_length(s), bufs[i]);
        if (k < 0)
            goto out;
        bins[i] = (struct sio_bin){ bufs[i], (size_t)k };
    }
    args = sio_json_deep_copy(json_array_get(data, 0));
    if (args && sio_packet_reconstruct(args, bins, n) < 0) {
        json_decref(args);
        args = NULL;
    }
out:
    for (size_t i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(bins);
    return args;
}

static int py_dispatch(json_t *msg, const struct sio_pickle *pk, sio_bridge_send_fn send,
                       void *ud, char *err, size_t errlen)
{
    if (!json_is_object(msg) || sio_binary_get(msg, NULL, NULL))
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "python: message is not a dict");
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (!method)
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "python: no method");
    const json_t *nspv = json_object_get(msg, "namespace");
    if (nspv && !json_is_null(nspv) && !json_is_string(nspv))
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "python: namespace is not a str");
    const char *nsp = json_is_string(nspv) ? json_string_value(nspv) : "/";
    size_t nsp_len = json_is_string(nspv) ? json_string_length(nspv) : 1;
    struct sel sel = { 0 };
    int rc;

    if (strcmp(method, "callback") == 0) {
        sio_log_debug(topic, "python: method 'callback' ignored");
        return 0;
    }
    const json_t *hid = json_object_get(msg, "host_id");
    if (json_is_string(hid)) {
        if (cur_self && strcmp(json_string_value(hid), cur_self) == 0) {
            cur_own = true;     /* we published it: delivered here already */
            return 0;
        }
        cur_origin = str_of(hid);
    }

    if (strcmp(method, "emit") == 0) {
        const json_t *ev = json_object_get(msg, "event");
        const json_t *data = json_object_get(msg, "data");
        if (!json_is_string(ev))
            return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "python emit: event is not a str");
        json_t *args = json_array();
        json_t *extra = NULL;
        if (!args || json_array_append(args, (json_t *)ev) < 0) {
            json_decref(args);
            return -ENOMEM;
        }
        if (!pk && json_is_true(json_object_get(msg, "binary"))) {
            /* 5.14.2+: [args with placeholders, base64 attachments...] */
            extra = py_binary_args(data);
            if (!extra) {
                json_decref(args);
                return sio__bridge_failf(err, errlen, SIO_ERR_ATTACH, "python emit: bad binary data");
            }
            rc = json_array_extend(args, extra);
        } else if (!data || json_is_null(data)) {
            rc = 0;     /* no arguments */
        } else if (pk ? sio_pickle_is_tuple(pk, data) : json_is_array(data)) {
            /* 5.7.2: a tuple is several arguments; 5.15+: always a list */
            rc = json_array_extend(args, (json_t *)data);
        } else {
            rc = json_array_append(args, (json_t *)data);
        }
        json_decref(extra);
        if (rc < 0) {
            json_decref(args);
            return -ENOMEM;
        }
        const json_t *cb = json_object_get(msg, "callback");
        if (cb && !json_is_null(cb))
            sio_log_debug(topic, "python emit '%s': ack callbacks are not supported, "
                          "emitting without one", json_string_value(ev));
        sel.rooms = json_object_get(msg, "room");
        sel.xs = json_object_get(msg, "skip_sid");
        sel.xr = json_object_get(msg, "except_rooms");     /* sio's own key */
        rc = send_cmd(SIO_ENV_EMIT, nsp, nsp_len, &sel, args, false, send, ud, err, errlen);
        json_decref(args);
        return rc;
    }
    if (strcmp(method, "disconnect") == 0 || strcmp(method, "enter_room") == 0 ||
        strcmp(method, "leave_room") == 0) {
        sel.sid = json_object_get(msg, "sid");
        if (!json_is_string(sel.sid))
            return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "python %s: sid is not a str", method);
        if (method[0] == 'd')
            return send_cmd(SIO_ENV_DISCONNECT_CMD, nsp, nsp_len, &sel, NULL,
                            json_is_true(json_object_get(msg, "close")), send, ud, err, errlen);
        sel.r2 = json_object_get(msg, "room");
        if (!json_is_string(sel.r2))
            return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "python %s: room is not a str", method);
        return send_cmd(method[0] == 'e' ? SIO_ENV_JOIN : SIO_ENV_LEAVE, nsp, nsp_len, &sel,
                        NULL, false, send, ud, err, errlen);
    }
    if (strcmp(method, "close_room") == 0) {
        sel.rooms = json_object_get(msg, "room");
        if (!json_is_string(sel.rooms))
            return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "python close_room: room is not a str");
        return send_cmd(SIO_ENV_CLOSE_ROOM, nsp, nsp_len, &sel, NULL, false,
                        send, ud, err, errlen);
    }
    if (strncmp(method, "sio_sockets_", 12) == 0) {
        /* sio's own: sockets selected by rooms / excepts (publish_msg.c) */
        const char *what = method + 12;
        enum sio_env_kind kind = strcmp(what, "join") == 0 ? SIO_ENV_JOIN
                               : strcmp(what, "leave") == 0 ? SIO_ENV_LEAVE
                               : strcmp(what, "disconnect") == 0 ? SIO_ENV_DISCONNECT_CMD : 0;
        if (kind) {
            sel.sid = json_object_get(msg, "sid");
            if (sel.sid && !json_is_null(sel.sid) && !json_is_string(sel.sid))
                return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "%s: sid is not a str", method);
            if (json_is_null(sel.sid))
                sel.sid = NULL;
            sel.rooms = json_object_get(msg, "room");
            sel.xr = json_object_get(msg, "except_rooms");
            sel.xs = json_object_get(msg, "skip_sid");
            if (kind != SIO_ENV_DISCONNECT_CMD) {
                sel.r2 = json_object_get(msg, "rooms");
                if (!json_is_array(sel.r2) || json_array_size(sel.r2) == 0)
                    return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "%s: no rooms", method);
            }
            return send_cmd(kind, nsp, nsp_len, &sel, NULL,
                            json_is_true(json_object_get(msg, "close")), send, ud, err, errlen);
        }
    }
    /* any method of a later version: nothing for the gateways */
    sio_log_debug(topic, "python: method '%s' ignored", method);
    return 0;
}

static int py_message(const void *buf, size_t len, bool outer, sio_bridge_send_fn send,
                      void *ud, char *err, size_t errlen);

/* kombu's envelope (KombuManager over Redis publishes on "/<db>.<channel>"):
 * {"body": base64, "properties": {"body_encoding": "base64"}, ...}; the
 * body is the manager's pickle or JSON. */
static int kombu_body(json_t *msg, sio_bridge_send_fn send, void *ud, char *err,
                      size_t errlen)
{
    const json_t *body = json_object_get(msg, "body");
    const char *enc = json_string_value(json_object_get(json_object_get(msg, "properties"),
                                                        "body_encoding"));
    if (!json_is_string(body) || !enc || strcmp(enc, "base64") != 0)
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "kombu: body is not base64");
    size_t n = json_string_length(body);
    uint8_t *raw = malloc(n + 1);
    if (!raw)
        return -ENOMEM;
    long k = sio_base64_decode(json_string_value(body), n, raw);
    int rc = k > 0 ? py_message(raw, (size_t)k, false, send, ud, err, errlen)
                   : sio__bridge_failf(err, errlen, SIO_ERR_BASE64, "kombu: bad base64 body");
    free(raw);
    return rc;
}

int sio_bridge_py_message(const void *buf, size_t len, sio_bridge_send_fn send, void *ud,
                          char *err, size_t errlen)
{
    return sio_bridge_py_message_rx(buf, len, NULL, NULL, send, ud, err, errlen);
}

int sio_bridge_py_message_rx(const void *buf, size_t len, const char *self_id, bool *own,
                             sio_bridge_send_fn send, void *ud, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    cur_self = self_id && self_id[0] ? self_id : NULL;
    cur_own = false;
    cur_origin = (struct sio_str){ NULL, 0 };
    int rc = py_message(buf, len, true, send, ud, err, errlen);
    if (own)
        *own = cur_own;
    cur_self = NULL;
    cur_origin = (struct sio_str){ NULL, 0 };
    return rc;
}

static int py_message(const void *buf, size_t len, bool outer, sio_bridge_send_fn send,
                      void *ud, char *err, size_t errlen)
{
    const uint8_t *p = buf;
    int rc;
    if (len == 0)
        return sio__bridge_failf(err, errlen, SIO_ERR_PROTO, "python: empty message");
    if (p[0] == 0x80) {
        struct sio_pickle pk;
        if ((rc = sio_pickle_decode(buf, len, NULL, &pk, err, errlen)) < 0)
            return rc;
        rc = py_dispatch(pk.value, &pk, send, ud, err, errlen);
        sio_pickle_clear(&pk);
        return rc;
    }
    json_error_t je;
    json_t *msg = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!msg)
        return sio__bridge_failf(err, errlen, SIO_ERR_JSON, "python: neither a pickle nor JSON: %s", je.text);
    if (outer && !json_object_get(msg, "method") && json_object_get(msg, "body"))
        rc = kombu_body(msg, send, ud, err, errlen);
    else
        rc = py_dispatch(msg, NULL, send, ud, err, errlen);
    json_decref(msg);
    return rc;
}

/* ---- @socket.io/redis-emitter / classic redis-adapter ------------------ */

/* Bounds pre-check before msgpack-c (which would allocate a declared count
 * before noticing the bytes are missing): every count fits in what is
 * left, nesting at most MAX_DEPTH, exactly one value. */
static bool mp_rd(const uint8_t *p, size_t len, size_t *off, unsigned n, uint64_t *v)
{
    if (len - *off < n)
        return false;
    *v = 0;
    for (unsigned i = 0; i < n; i++)
        *v = *v << 8 | p[(*off)++];
    return true;
}

static bool mp_scan(const uint8_t *p, size_t len, size_t *off, unsigned depth)
{
    uint64_t n = 0, items = 0;
    bool ok = true;
    if (*off >= len || depth > MAX_DEPTH)
        return false;
    uint8_t b = p[(*off)++];
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return true;
    if ((b & 0xe0) == 0xa0)
        n = b & 0x1f;
    else if ((b & 0xf0) == 0x90)
        items = b & 0x0f;
    else if ((b & 0xf0) == 0x80)
        items = 2u * (b & 0x0f);
    else switch (b) {
    case 0xc4: case 0xd9: ok = mp_rd(p, len, off, 1, &n); break;
    case 0xc5: case 0xda: ok = mp_rd(p, len, off, 2, &n); break;
    case 0xc6: case 0xdb: ok = mp_rd(p, len, off, 4, &n); break;
    case 0xcc: case 0xd0: n = 1; break;
    case 0xcd: case 0xd1: n = 2; break;
    case 0xca: case 0xce: case 0xd2: n = 4; break;
    case 0xcb: case 0xcf: case 0xd3: n = 8; break;
    case 0xdc: ok = mp_rd(p, len, off, 2, &items); break;
    case 0xdd: ok = mp_rd(p, len, off, 4, &items); break;
    case 0xde: ok = mp_rd(p, len, off, 2, &items); items *= 2; break;
    case 0xdf: ok = mp_rd(p, len, off, 4, &items); items *= 2; break;
    default: ok = false;    /* ext types and 0xc1 */
    }
    if (!ok)
        return false;
    if (n > len - *off || items > len - *off)
        return false;
    *off += n;
    for (uint64_t i = 0; i < items; i++)
        if (!mp_scan(p, len, off, depth + 1))
            return false;
    return true;
}

static json_t *mp_to_json(const msgpack_object *o)
{
    json_t *v;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: return json_stringn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: return sio_binary_new(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY:
        if (!(v = json_array()))
            return NULL;
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (json_array_append_new(v, mp_to_json(&o->via.array.ptr[i])) < 0) {
                json_decref(v);
                return NULL;
            }
        return v;
    case MSGPACK_OBJECT_MAP:
        if (!(v = json_object()))
            return NULL;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char key[256];
            if (k->type != MSGPACK_OBJECT_STR || k->via.str.size >= sizeof key ||
                memchr(k->via.str.ptr, 0, k->via.str.size)) {
                json_decref(v);
                return NULL;
            }
            memcpy(key, k->via.str.ptr, k->via.str.size);
            key[k->via.str.size] = 0;
            if (json_object_set_new(v, key, mp_to_json(&o->via.map.ptr[i].val)) < 0) {
                json_decref(v);
                return NULL;
            }
        }
        return v;
    default:
        return NULL;
    }
}

static json_t *mp_decode(const void *buf, size_t len)
{
    size_t off = 0;
    if (!mp_scan(buf, len, &off, 0) || off != len)
        return NULL;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    off = 0;
    json_t *v = NULL;
    if (msgpack_unpack_next(&u, buf, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len)
        v = mp_to_json(&u.data);
    msgpack_unpacked_destroy(&u);
    return v;
}

static bool prefix(const char *s, size_t len, const char *pre, size_t *rest)
{
    size_t n = strlen(pre);
    if (len < n || memcmp(s, pre, n) != 0)
        return false;
    *rest = n;
    return true;
}

static int node_emit(json_t *m, const char *nsp, size_t nsp_len, sio_bridge_send_fn send,
                     void *ud, char *err, size_t errlen)
{
    if (!json_is_array(m) || json_array_size(m) < 2)
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "node: not [uid, packet, opts]");
    json_t *pkt = json_array_get(m, 1), *opts = json_array_get(m, 2);
    json_t *type = json_object_get(pkt, "type");
    json_t *data = json_object_get(pkt, "data");
    json_t *pnsp = json_object_get(pkt, "nsp");
    if (!json_is_integer(type))
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "node: packet without a type");
    if (json_integer_value(type) != 2 && json_integer_value(type) != 5) {
        sio_log_debug(topic, "node: packet type %lld ignored",
                      (long long)json_integer_value(type));
        return 0;
    }
    if (!json_is_array(data) || !json_is_string(json_array_get(data, 0)))
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "node: event without a name");
    if (json_is_string(pnsp)) {
        nsp = json_string_value(pnsp);
        nsp_len = json_string_length(pnsp);
    }
    if (opts && !json_is_object(opts) && !json_is_null(opts))
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "node: opts is not a map");
    const json_t *flags = json_object_get(opts, "flags");
    if (json_is_true(json_object_get(flags, "local")))
        return 0;   /* meant for the emitting server only */
    struct sel sel = { .rooms = json_object_get(opts, "rooms"),
                       .xr = json_object_get(opts, "except") };
    return send_cmd(SIO_ENV_EMIT, nsp, nsp_len, &sel, data, false, send, ud, err, errlen);
}

static int node_request(json_t *m, const char *nsp, size_t nsp_len, sio_bridge_send_fn send,
                        void *ud, char *err, size_t errlen)
{
    json_t *type = json_object_get(m, "type");
    if (!json_is_object(m) || !json_is_integer(type))
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "node request: no type");
    json_t *opts = json_object_get(m, "opts");
    struct sel sel = { .rooms = json_object_get(opts, "rooms"),
                       .xr = json_object_get(opts, "except"),
                       .r2 = json_object_get(m, "rooms") };
    switch (json_integer_value(type)) {
    case 2: /* REMOTE_JOIN */
    case 3: /* REMOTE_LEAVE */
        if (!sel.r2)
            return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "node request: no rooms");
        return send_cmd(json_integer_value(type) == 2 ? SIO_ENV_JOIN : SIO_ENV_LEAVE,
                        nsp, nsp_len, &sel, NULL, false, send, ud, err, errlen);
    case 4: /* REMOTE_DISCONNECT */
        sel.r2 = NULL;
        return send_cmd(SIO_ENV_DISCONNECT_CMD, nsp, nsp_len, &sel, NULL,
                        json_is_true(json_object_get(m, "close")), send, ud, err, errlen);
    default:
        /* server-side emit (6) and the requests that wait for answers
         * (fetchSockets, broadcast with ack ...): we are not counted as a
         * server (PSUBSCRIBE is not in PUBSUB NUMSUB), so nobody waits */
        sio_log_debug(topic, "node request type %lld ignored",
                      (long long)json_integer_value(type));
        return 0;
    }
}

/* the uid of a node message: [uid, packet, opts] or {"uid": ...} */
static const char *node_uid(const json_t *m)
{
    const json_t *u = json_is_array(m) ? json_array_get(m, 0) : json_object_get(m, "uid");
    return json_string_value(u);
}

static int node_message(const char *channel, size_t chlen, const void *buf, size_t len,
                        sio_bridge_send_fn send, void *ud, char *err, size_t errlen)
{
    size_t off;
    bool request;
    int rc;
    if (err && errlen)
        err[0] = 0;
    if (prefix(channel, chlen, "socket.io#", &off))
        request = false;
    else if (prefix(channel, chlen, "socket.io-request#", &off))
        request = true;
    else if (prefix(channel, chlen, "socket.io-response#", &off))
        return 0;   /* answers between JS servers */
    else
        return sio__bridge_failf(err, errlen, SIO_ERR_PROTO, "node: unknown channel");
    const char *nsp = channel + off;
    const char *end = memchr(nsp, '#', chlen - off);
    if (!end || end == nsp)
        return sio__bridge_failf(err, errlen, SIO_ERR_PROTO, "node: no namespace in the channel");
    size_t nsp_len = (size_t)(end - nsp);
    if (len == 0)
        return sio__bridge_failf(err, errlen, SIO_ERR_PROTO, "node: empty message");
    json_t *m;
    if (((const uint8_t *)buf)[0] == '{') {
        json_error_t je;
        m = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!m)
            return sio__bridge_failf(err, errlen, SIO_ERR_JSON, "node: bad JSON: %s", je.text);
    } else {
        m = mp_decode(buf, len);
        if (!m)
            return sio__bridge_failf(err, errlen, SIO_ERR_PROTO, "node: bad msgpack");
    }
    const char *uid = node_uid(m);
    if (cur_self && cur_self[0] && uid && strcmp(uid, cur_self) == 0) {
        cur_own = true;     /* ours, back from Redis */
        json_decref(m);
        return 0;
    }
    if (request && json_is_object(m) && json_object_get(m, "packet")) {
        /* a broadcast with acks (type 7): delivered as a plain broadcast.
         * The acks cannot travel back, and the adapter does not wait for
         * us: it counts servers with PUBSUB NUMSUB, which does not count
         * our PSUBSCRIBE */
        json_t *as = json_pack("[sOO?]", uid ? uid : "", json_object_get(m, "packet"),
                               json_object_get(m, "opts"));
        rc = as ? node_emit(as, nsp, nsp_len, send, ud, err, errlen) : -ENOMEM;
        json_decref(as);
    } else if (request) {
        rc = node_request(m, nsp, nsp_len, send, ud, err, errlen);
    } else {
        rc = node_emit(m, nsp, nsp_len, send, ud, err, errlen);
    }
    json_decref(m);
    return rc;
}

int sio_bridge_node_message(const char *channel, size_t chlen, const void *buf, size_t len,
                            sio_bridge_send_fn send, void *ud, char *err, size_t errlen)
{
    cur_self = NULL;
    return node_message(channel, chlen, buf, len, send, ud, err, errlen);
}

int sio_bridge_node_message_rx(const char *channel, size_t chlen, const void *buf, size_t len,
                               const char *self_uid, bool *own, sio_bridge_send_fn send,
                               void *ud, char *err, size_t errlen)
{
    cur_self = self_uid;
    cur_own = false;
    int rc = node_message(channel, chlen, buf, len, send, ud, err, errlen);
    cur_self = NULL;
    if (own)
        *own = cur_own;
    return rc;
}

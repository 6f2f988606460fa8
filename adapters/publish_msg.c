/* publish_msg.c: bus commands -> python-socketio manager messages (the
 * publishing half of a bridge, docs/BRIDGES.md "Publishing").
 *
 * A command that started in this deployment (an EMIT, JOIN, LEAVE,
 * CLOSE_ROOM or DISCONNECT_CMD seen on the hub's "*" topic, without "org")
 * becomes one or more messages in the format python-socketio's pub/sub
 * managers publish: JSON as 5.14+ writes it, or a data-only pickle as 5.7.2
 * writes it. What that format cannot say (sockets selected by room for a
 * join/leave/disconnect, except-rooms, closing the whole connection) is
 * carried in keys and methods python-socketio ignores; a sio deployment
 * reads them (bridge_msg.c). No I/O; owns nothing beyond one call.
 */
#include "adapters/bridge.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>
#include <sio/msg.h>
#include "base/buf.h"
#include "adapters/pickle.h"
#include "proto/sio.h"


static json_t *jstr(const struct sio_str *s)
{
    return json_stringn(s->p ? s->p : "", s->p ? s->len : 0);
}

/* null, one str, or a list of str (python-socketio's room / skip_sid) */
static json_t *one_or_list(const struct sio_str *v, size_t n, bool always_list)
{
    if (n == 0)
        return always_list ? json_array() : json_null();
    if (n == 1 && !always_list)
        return jstr(&v[0]);
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, jstr(&v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

struct out {
    enum sio_bridge_format fmt;
    sio_bridge_out_fn fn;
    void *ud;
    struct sio_buf buf;
    struct sio_pickle pk;   /* pickle: the tuples to write as tuples */
    int n;                  /* messages written */
};

static int set(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

/* serialize msg (consumed) and hand it to the sink */
static int emit_msg(struct out *o, json_t *msg, char *err, size_t errlen)
{
    int rc;
    if (!msg)
        return -ENOMEM;
    sio_buf_reset(&o->buf);
    if (o->fmt == SIO_BRIDGE_PICKLE) {
        o->pk.value = msg;
        rc = sio_pickle_encode(&o->pk, &o->buf);
        o->pk.value = NULL;
        if (rc < 0)
            rc = sio__bridge_failf(err, errlen, rc, "cannot write the pickle");
    } else {
        char *s = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
        rc = s ? sio_buf_append_str(&o->buf, s) : -ENOMEM;
        free(s);
    }
    json_decref(msg);
    if (rc < 0)
        return rc;
    rc = o->fn(o->ud, o->buf.data, o->buf.len);
    if (rc < 0)
        return sio__bridge_failf(err, errlen, rc, "cannot queue the message");
    o->n++;
    return 0;
}

static json_t *base(const char *method)
{
    json_t *m = json_object();
    if (m && set(m, "method", json_string(method)) < 0) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* EMIT: event name and arguments from data (+ bins) */
static int pub_emit(struct out *o, const struct sio_env *env, const char *host_id, char *err,
                    size_t errlen)
{
    json_error_t je;
    json_t *arr = json_loadb(env->data.p ? env->data.p : "", env->data.len, 0, &je);
    json_t *msg = NULL, *args = NULL, *data = NULL;
    int rc;
    if (!json_is_array(arr) || !json_is_string(json_array_get(arr, 0))) {
        json_decref(arr);
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "emit: data is not [event, ...]");
    }
    json_t *event = json_incref(json_array_get(arr, 0));
    json_array_remove(arr, 0);
    args = arr;
    bool binary = env->nbins > 0;
    if (o->fmt == SIO_BRIDGE_PICKLE) {
        if (binary) {
            struct sio_bin *bins = calloc(env->nbins, sizeof *bins);
            if (!bins) {
                rc = -ENOMEM;
                goto out;
            }
            for (size_t i = 0; i < env->nbins; i++)
                bins[i] = (struct sio_bin){ env->bins[i].p, env->bins[i].len };
            rc = sio_packet_reconstruct(args, bins, env->nbins);
            free(bins);
            if (rc < 0) {
                rc = sio__bridge_failf(err, errlen, rc, "emit: bad attachments");
                goto out;
            }
        }
        /* 5.7.2: no argument is None, one is itself, several a tuple */
        size_t n = json_array_size(args);
        if (n == 0) {
            data = json_null();
        } else if (n == 1) {
            data = json_incref(json_array_get(args, 0));
        } else {
            data = json_incref(args);
            if ((rc = sio_pickle_mark_tuple(&o->pk, data)) < 0)
                goto out;
        }
    } else if (binary) {
        /* 5.14.2+: [args with placeholders, base64 attachments...] */
        data = json_array();
        if (!data || json_array_append(data, args) < 0) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < env->nbins; i++) {
            struct sio_buf b64 = SIO_BUF_INIT;
            rc = sio_buf_append_base64(&b64, env->bins[i].p, env->bins[i].len);
            json_t *s = rc < 0 ? NULL : json_stringn((const char *)b64.data, b64.len);
            sio_buf_clear(&b64);
            if (json_array_append_new(data, s) < 0) {
                rc = -ENOMEM;
                goto out;
            }
        }
    } else {
        data = json_incref(args);
    }
    rc = -ENOMEM;
    msg = base("emit");
    if (!msg || set(msg, "event", json_incref(event)) < 0 ||
        set(msg, "data", json_incref(data)) < 0 ||
        (o->fmt == SIO_BRIDGE_JSON && set(msg, "binary", json_boolean(binary)) < 0) ||
        set(msg, "namespace", jstr(&env->nsp)) < 0 ||
        set(msg, "room", env->sid.p ? jstr(&env->sid)
                                    : one_or_list(env->rooms, env->nrooms, false)) < 0 ||
        set(msg, "skip_sid", one_or_list(env->except_sids, env->nexcept_sids, false)) < 0 ||
        set(msg, "callback", json_null()) < 0 ||
        set(msg, "host_id", json_string(host_id)) < 0 ||
        (env->nexcept_rooms &&
         set(msg, "except_rooms", one_or_list(env->except_rooms, env->nexcept_rooms, true)) < 0))
        goto out;
    rc = emit_msg(o, msg, err, errlen);
    msg = NULL;
out:
    json_decref(msg);
    json_decref(event);
    json_decref(args);
    json_decref(data);
    return rc;
}

/* JOIN / LEAVE / DISCONNECT_CMD of sockets selected by rooms (or by sid with
 * excepts): sio's own methods, which python-socketio ignores */
static int pub_select(struct out *o, const char *method, const struct sio_env *env,
                      const char *host_id, char *err, size_t errlen)
{
    json_t *msg = base(method);
    if (!msg || set(msg, "namespace", jstr(&env->nsp)) < 0 ||
        set(msg, "sid", env->sid.p ? jstr(&env->sid) : json_null()) < 0 ||
        set(msg, "room", one_or_list(env->rooms, env->nrooms, true)) < 0 ||
        set(msg, "except_rooms", one_or_list(env->except_rooms, env->nexcept_rooms, true)) < 0 ||
        set(msg, "skip_sid", one_or_list(env->except_sids, env->nexcept_sids, true)) < 0 ||
        (env->kind != SIO_ENV_DISCONNECT_CMD &&
         set(msg, "rooms", one_or_list(env->rooms2, env->nrooms2, true)) < 0) ||
        (env->kind == SIO_ENV_DISCONNECT_CMD &&
         set(msg, "close", json_boolean(env->close_conn)) < 0) ||
        set(msg, "host_id", json_string(host_id)) < 0) {
        json_decref(msg);
        return -ENOMEM;
    }
    return emit_msg(o, msg, err, errlen);
}

static int publish(struct out *o, const struct sio_env *env, const char *host_id, char *err,
                   size_t errlen)
{
    bool by_sid = env->sid.p && !env->nrooms && !env->nexcept_rooms && !env->nexcept_sids;
    json_t *msg;
    switch (env->kind) {
    case SIO_ENV_EMIT:
        return pub_emit(o, env, host_id, err, errlen);
    case SIO_ENV_JOIN:
    case SIO_ENV_LEAVE:
        if (!env->nrooms2)
            return 0;
        if (!by_sid)
            return pub_select(o, env->kind == SIO_ENV_JOIN ? "sio_sockets_join"
                                                           : "sio_sockets_leave",
                              env, host_id, err, errlen);
        /* python-socketio 5.14+: one enter_room / leave_room per room */
        for (size_t i = 0; i < env->nrooms2; i++) {
            msg = base(env->kind == SIO_ENV_JOIN ? "enter_room" : "leave_room");
            if (!msg || set(msg, "sid", jstr(&env->sid)) < 0 ||
                set(msg, "room", jstr(&env->rooms2[i])) < 0 ||
                set(msg, "namespace", jstr(&env->nsp)) < 0 ||
                set(msg, "host_id", json_string(host_id)) < 0) {
                json_decref(msg);
                return -ENOMEM;
            }
            int rc = emit_msg(o, msg, err, errlen);
            if (rc < 0)
                return rc;
        }
        return 0;
    case SIO_ENV_DISCONNECT_CMD:
        if (!by_sid)
            return pub_select(o, "sio_sockets_disconnect", env, host_id, err, errlen);
        msg = base("disconnect");
        if (!msg || set(msg, "sid", jstr(&env->sid)) < 0 ||
            set(msg, "namespace", jstr(&env->nsp)) < 0 ||
            set(msg, "host_id", json_string(host_id)) < 0 ||
            (env->close_conn && set(msg, "close", json_true()) < 0)) {
            json_decref(msg);
            return -ENOMEM;
        }
        return emit_msg(o, msg, err, errlen);
    case SIO_ENV_CLOSE_ROOM:
        for (size_t i = 0; i < env->nrooms; i++) {
            msg = base("close_room");
            if (!msg || set(msg, "room", jstr(&env->rooms[i])) < 0 ||
                set(msg, "namespace", jstr(&env->nsp)) < 0 ||
                set(msg, "host_id", json_string(host_id)) < 0) {
                json_decref(msg);
                return -ENOMEM;
            }
            int rc = emit_msg(o, msg, err, errlen);
            if (rc < 0)
                return rc;
        }
        return 0;
    default:
        return 0;
    }
}

int sio_bridge_py_publish(const struct sio_env *env, const char *host_id,
                          enum sio_bridge_format fmt, sio_bridge_out_fn fn, void *ud,
                          char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    /* brought in by a bridge: it came from a broker, never send it back */
    if (env->origin.p || !env->nsp.p)
        return 0;
    struct out o = { .fmt = fmt, .fn = fn, .ud = ud, .buf = SIO_BUF_INIT };
    int rc = publish(&o, env, host_id, err, errlen);
    sio_pickle_clear(&o.pk);
    sio_buf_clear(&o.buf);
    return rc < 0 ? rc : o.n;
}

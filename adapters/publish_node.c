/* publish_node.c: bus commands -> @socket.io/redis-adapter 8.x messages
 * (the publishing half of a bridge in format "node-adapter",
 * docs/BRIDGES.md "Node adapter fleets").
 *
 * The classic adapter publishes a broadcast as msgpack [uid, packet, opts]
 * on "socket.io#<nsp>#" ("socket.io#<nsp>#<room>#" when it goes to exactly
 * one room) and its room requests as JSON on "socket.io-request#<nsp>#".
 * This file writes the same shapes, key order included, so a JS server
 * with the adapter delivers what a sio deployment broadcasts. No I/O; owns
 * nothing beyond one call.
 */
#include "adapters/bridge.h"

#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>
#include <sio/msg.h>
#include "base/buf.h"
#include "proto/sio.h"

#define NODE_PREFIX "socket.io"
#define MAX_DEPTH 32


/* ---- msgpack, as notepack.io writes it (msgpack-c picks the same
 * smallest forms for str, bin and integers) ---- */

static int pk_str(msgpack_packer *pk, const char *s, size_t n)
{
    if (msgpack_pack_str(pk, n) < 0)
        return -ENOMEM;
    return n && msgpack_pack_str_body(pk, s, n) < 0 ? -ENOMEM : 0;
}

static int pk_cstr(msgpack_packer *pk, const char *s)
{
    return pk_str(pk, s, strlen(s));
}

static int pk_json(msgpack_packer *pk, const json_t *v, unsigned depth)
{
    const void *bp;
    size_t bl;
    int rc = 0;
    if (depth > MAX_DEPTH)
        return SIO_ERR_SHAPE;
    if (sio_binary_get(v, &bp, &bl)) {
        if (msgpack_pack_bin(pk, bl) < 0 || (bl && msgpack_pack_bin_body(pk, bp, bl) < 0))
            return -ENOMEM;
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_NULL: rc = msgpack_pack_nil(pk); break;
    case JSON_TRUE: rc = msgpack_pack_true(pk); break;
    case JSON_FALSE: rc = msgpack_pack_false(pk); break;
    case JSON_INTEGER: rc = msgpack_pack_int64(pk, json_integer_value(v)); break;
    case JSON_REAL: rc = msgpack_pack_double(pk, json_real_value(v)); break;
    case JSON_STRING: return pk_str(pk, json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        if (msgpack_pack_array(pk, json_array_size(v)) < 0)
            return -ENOMEM;
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((rc = pk_json(pk, json_array_get(v, i), depth + 1)) < 0)
                return rc;
        return 0;
    case JSON_OBJECT: {
        const char *k;
        const json_t *x;
        if (msgpack_pack_map(pk, json_object_size(v)) < 0)
            return -ENOMEM;
        json_object_foreach((json_t *)v, k, x) {
            if ((rc = pk_cstr(pk, k)) < 0 || (rc = pk_json(pk, x, depth + 1)) < 0)
                return rc;
        }
        return 0;
    }
    }
    return rc < 0 ? -ENOMEM : 0;
}

static int pk_list(msgpack_packer *pk, const struct sio_str *a, size_t n,
                   const struct sio_str *b, size_t nb)
{
    int rc;
    if (msgpack_pack_array(pk, n + nb) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((rc = pk_str(pk, a[i].p, a[i].len)) < 0)
            return rc;
    for (size_t i = 0; i < nb; i++)
        if ((rc = pk_str(pk, b[i].p, b[i].len)) < 0)
            return rc;
    return 0;
}

/* "socket.io#<nsp>#" (+ "<room>#") or "socket.io-request#<nsp>#" */
static int channel(struct sio_buf *ch, const char *kind, const struct sio_str *nsp,
                   const struct sio_str *room)
{
    sio_buf_reset(ch);
    if (sio_buf_append_str(ch, kind) < 0 || sio_buf_append(ch, nsp->p, nsp->len) < 0 ||
        sio_buf_append_str(ch, "#") < 0 ||
        (room && (sio_buf_append(ch, room->p, room->len) < 0 ||
                  sio_buf_append_str(ch, "#") < 0)) ||
        sio_buf_append(ch, "", 1) < 0)
        return -ENOMEM;
    return 0;
}

/* EMIT: [uid, {type: 2, data: [event, ...args], nsp}, {rooms, except, flags: {}}] */
static int node_emit(const struct sio_env *env, const char *uid, sio_bridge_out_ch_fn out,
                     void *ud, struct sio_buf *ch, char *err, size_t errlen)
{
    json_error_t je;
    json_t *args = json_loadb(env->data.p ? env->data.p : "", env->data.len, 0, &je);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;
    if (!json_is_array(args) || !json_is_string(json_array_get(args, 0))) {
        json_decref(args);
        return sio__bridge_failf(err, errlen, SIO_ERR_SHAPE, "emit: data is not [event, ...]");
    }
    if (env->nbins) {
        struct sio_bin *bins = calloc(env->nbins, sizeof *bins);
        if (!bins) {
            json_decref(args);
            return -ENOMEM;
        }
        for (size_t i = 0; i < env->nbins; i++)
            bins[i] = (struct sio_bin){ env->bins[i].p, env->bins[i].len };
        rc = sio_packet_reconstruct(args, bins, env->nbins);
        free(bins);
        if (rc < 0) {
            json_decref(args);
            return sio__bridge_failf(err, errlen, rc, "emit: bad attachments");
        }
    }
    /* an emit to one sid goes to the room named by the sid */
    const struct sio_str *rooms = env->sid.p ? &env->sid : env->rooms;
    size_t nrooms = env->sid.p ? 1 : env->nrooms;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    rc = -ENOMEM;
    if (msgpack_pack_array(&pk, 3) < 0 || pk_cstr(&pk, uid) < 0 ||
        msgpack_pack_map(&pk, 3) < 0 ||
        pk_cstr(&pk, "type") < 0 || msgpack_pack_int(&pk, 2) < 0 ||
        pk_cstr(&pk, "data") < 0)
        goto out;
    if ((rc = pk_json(&pk, args, 0)) < 0) {
        rc = sio__bridge_failf(err, errlen, rc, "emit: arguments cannot be written");
        goto out;
    }
    rc = -ENOMEM;
    if (pk_cstr(&pk, "nsp") < 0 || pk_str(&pk, env->nsp.p, env->nsp.len) < 0 ||
        msgpack_pack_map(&pk, 3) < 0 ||
        pk_cstr(&pk, "rooms") < 0 || pk_list(&pk, rooms, nrooms, NULL, 0) < 0 ||
        pk_cstr(&pk, "except") < 0 ||
        pk_list(&pk, env->except_rooms, env->nexcept_rooms, env->except_sids,
                env->nexcept_sids) < 0 ||
        pk_cstr(&pk, "flags") < 0 || msgpack_pack_map(&pk, 0) < 0)
        goto out;
    if ((rc = channel(ch, NODE_PREFIX "#", &env->nsp, nrooms == 1 ? &rooms[0] : NULL)) < 0)
        goto out;
    rc = out(ud, (const char *)ch->data, sb.data, sb.size);
    if (rc < 0)
        rc = sio__bridge_failf(err, errlen, rc, "cannot queue the message");
    else
        rc = 1;
out:
    msgpack_sbuffer_destroy(&sb);
    json_decref(args);
    return rc;
}

static json_t *jlist(const struct sio_str *a, size_t n, const struct sio_str *b, size_t nb)
{
    json_t *l = json_array();
    for (size_t i = 0; l && i < n + nb; i++) {
        const struct sio_str *s = i < n ? &a[i] : &b[i - n];
        if (json_array_append_new(l, json_stringn(s->p ? s->p : "", s->p ? s->len : 0)) < 0) {
            json_decref(l);
            return NULL;
        }
    }
    return l;
}

static int set(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

/* the adapter's room requests: {"uid", "type", "opts": {"rooms", "except"}, "rooms" | "close"} */
static int node_request(const struct sio_env *env, const char *uid, int type,
                        const struct sio_str *sel, size_t nsel, const struct sio_str *r2,
                        size_t nr2, sio_bridge_out_ch_fn out, void *ud, struct sio_buf *ch,
                        char *err, size_t errlen)
{
    json_t *m = json_object(), *opts = json_object();
    int rc = -ENOMEM;
    if (!m || !opts || set(m, "uid", json_string(uid)) < 0 ||
        set(m, "type", json_integer(type)) < 0 ||
        set(opts, "rooms", jlist(sel, nsel, NULL, 0)) < 0 ||
        set(opts, "except", jlist(env->except_rooms, env->nexcept_rooms, env->except_sids,
                                  env->nexcept_sids)) < 0 ||
        set(m, "opts", json_incref(opts)) < 0 ||
        (type == 4 ? set(m, "close", json_boolean(env->close_conn))
                   : set(m, "rooms", jlist(r2, nr2, NULL, 0))) < 0)
        goto out;
    char *s = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s)
        goto out;
    if ((rc = channel(ch, NODE_PREFIX "-request#", &env->nsp, NULL)) == 0) {
        rc = out(ud, (const char *)ch->data, s, strlen(s));
        rc = rc < 0 ? sio__bridge_failf(err, errlen, rc, "cannot queue the message") : 1;
    }
    free(s);
out:
    json_decref(opts);
    json_decref(m);
    return rc;
}

int sio_bridge_node_publish(const struct sio_env *env, const char *uid, sio_bridge_out_ch_fn out,
                            void *ud, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    /* brought in by a bridge: it came from a broker, never send it back */
    if (env->origin.p || !env->nsp.p)
        return 0;
    struct sio_buf ch = SIO_BUF_INIT;
    const struct sio_str *sel = env->sid.p ? &env->sid : env->rooms;
    size_t nsel = env->sid.p ? 1 : env->nrooms;
    int rc = 0, n = 0;
    switch (env->kind) {
    case SIO_ENV_EMIT:
        rc = node_emit(env, uid, out, ud, &ch, err, errlen);
        break;
    case SIO_ENV_JOIN:
    case SIO_ENV_LEAVE:
        if (env->nrooms2)
            rc = node_request(env, uid, env->kind == SIO_ENV_JOIN ? 2 : 3, sel, nsel,
                              env->rooms2, env->nrooms2, out, ud, &ch, err, errlen);
        break;
    case SIO_ENV_DISCONNECT_CMD:
        rc = node_request(env, uid, 4, sel, nsel, NULL, 0, out, ud, &ch, err, errlen);
        break;
    case SIO_ENV_CLOSE_ROOM:
        /* the adapter has no close_room: the sockets of the room leave it */
        for (size_t i = 0; i < env->nrooms && rc >= 0; i++, n += rc > 0)
            rc = node_request(env, uid, 3, &env->rooms[i], 1, &env->rooms[i], 1, out, ud, &ch,
                              err, errlen);
        sio_buf_clear(&ch);
        return rc < 0 ? rc : n;
    default:
        break;
    }
    sio_buf_clear(&ch);
    return rc;
}

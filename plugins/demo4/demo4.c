/* demo4.c: exercises the plugin-author features of issue 4, for the
 * feature tests (tests/unit/core/test-features.c, tests/interop/
 * features_client.mjs). Not an example to deploy: any client can drive it.
 *
 * Namespaces "/", "/rooms/<anything>" and "*" (every other namespace).
 * Events (arguments in brackets; "ack" = the value acked):
 *  - emit {to, skip, except, self, event, args}: sio_emit with those opts
 *    (to/skip: a string or a list; self false skips the sender); ack true
 *  - send [args]: sio_send to the whole namespace; ack true
 *  - timer {ms, to, event, args}: the same emit from a one-shot timer
 *  - task {ms, to, event, args}: the same emit from a background task that
 *    sleeps ms first
 *  - join/leave [room]: the sender; ack its rooms
 *  - join_sid/leave_sid [sid, room]: another socket; ack that socket's rooms
 *  - close [room]: close_room; ack true
 *  - rooms [sid]: ack rooms(sid) (null when unknown)
 *  - call {event, args, timeout}: emit to the sender with an ack callback;
 *    the outcome comes back as `call_result` ["ok", args] or ["timeout"]
 *  - task_call {event, args, timeout}: the same, with blocking sio_call()
 *    on a task; `task_call_result`
 *  - kick {sid, whole}: disconnect sid (default: the sender)
 *  - sess_set {k: v ...}: merge into the session and save; ack the session
 *  - sess_get: ack the session
 *  - reason [sid]: ack the reason on_disconnect got for sid (or null)
 *  - bin: ack [binary 01 02 03, {"nested": binary ff}, 3]
 *  - defer {via, ms, args}: a deferred ack (issue 18): the handler takes a
 *    token and returns; the ack is args, sent after ms from a timer (via
 *    "timer") or a task (via "task"). The timer then answers the token a
 *    second time and emits `defer_again` [status of that answer].
 *  - defer_call {event, args}: defers, asks the sender `event` with an ack
 *    callback, and acks [the sender's answer, sio_session_of(sender)]
 *  - defer_keep: defers and never answers; emits `token` [token]
 *  - answer {token, args}: answers a token kept by defer_keep; ack the status
 *  - anything else: ack one argument ["any", event, namespace, args...]
 * Connect: auth {"refuse": message, "data": value} is refused with
 * sio_refuse_with(message, data).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sio/plugin.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *reasons;     /* sid -> on_disconnect reason */

static int on_load(void)
{
    reasons = json_object();
    return reasons ? 0 : -1;
}

static void on_unload(void)
{
    json_decref(reasons);
    reasons = NULL;
}

/* A NULL-terminated list from a string or an array of strings (borrowed
 * strings; free the array). */
static const char **str_list(json_t *v)
{
    size_t n = json_is_array(v) ? json_array_size(v) : json_is_string(v) ? 1 : 0;
    if (!n)
        return NULL;
    const char **l = calloc(n + 1, sizeof *l);
    if (!l)
        return NULL;
    if (json_is_string(v))
        l[0] = json_string_value(v);
    else
        for (size_t i = 0; i < n; i++)
            l[i] = json_string_value(json_array_get(v, i));
    return l;
}

/* An emit described by a JSON object, kept for a timer or task. */
struct job {
    char *nsp;
    json_t *spec;
};

static int do_emit(sio_host *h, const char *nsp, const char *self_sid, json_t *spec)
{
    const char **to = str_list(json_object_get(spec, "to"));
    const char **skip = str_list(json_object_get(spec, "skip"));
    const char **except = str_list(json_object_get(spec, "except"));
    json_t *self = json_object_get(spec, "self");
    const char *skips_with_self[64] = { 0 };
    size_t n = 0;
    for (size_t i = 0; skip && skip[i] && n < 62; i++)
        skips_with_self[n++] = skip[i];
    if (json_is_false(self) && self_sid)
        skips_with_self[n++] = self_sid;
    struct sio_emit_opts o = { .rooms = to, .skip_sids = n ? skips_with_self : NULL,
                               .except_rooms = except };
    const char *ev = json_string_value(json_object_get(spec, "event"));
    int rc = sio_emit_ns(h, nsp, &o, ev ? ev : "message", json_object_get(spec, "args"));
    free(to);
    free(skip);
    free(except);
    return rc;
}

static json_t *first(json_t *args) { return json_array_get(args, 0); }

static json_t *on_emit(struct sio_ctx *ctx, json_t *args)
{
    int rc = do_emit(sio_ctx_host(ctx), sio_ctx_nsp(ctx), sio_ctx_sid(ctx), first(args));
    return json_boolean(rc == 0);
}

static json_t *on_send(struct sio_ctx *ctx, json_t *args)
{
    return json_boolean(sio_send(ctx, NULL, args) == 0);
}

static struct job *job_new(struct sio_ctx *ctx, json_t *spec)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->nsp = strdup(sio_ctx_nsp(ctx));
    j->spec = sio_json_deep_copy(spec);
    if (!j->nsp || !j->spec) {
        free(j->nsp);
        json_decref(j->spec);
        free(j);
        return NULL;
    }
    return j;
}

static void job_free(struct job *j)
{
    free(j->nsp);
    json_decref(j->spec);
    free(j);
}

static void timer_fire(sio_host *h, void *ud)
{
    struct job *j = ud;
    do_emit(h, j->nsp, NULL, j->spec);
    job_free(j);
}

static json_t *on_timer(struct sio_ctx *ctx, json_t *args)
{
    struct job *j = job_new(ctx, first(args));
    if (!j)
        return json_false();
    json_int_t ms = json_integer_value(json_object_get(j->spec, "ms"));
    if (sio_timer_start(sio_ctx_host(ctx), (unsigned)ms, false, timer_fire, j) < 0) {
        job_free(j);
        return json_false();
    }
    return json_true();
}

static void task_run(sio_host *h, void *ud)
{
    struct job *j = ud;
    json_int_t ms = json_integer_value(json_object_get(j->spec, "ms"));
    if (ms > 0)
        sio_sleep((unsigned)ms);
    if (!sio_task_stopping(h))
        do_emit(h, j->nsp, NULL, j->spec);
    job_free(j);
}

static json_t *on_task(struct sio_ctx *ctx, json_t *args)
{
    struct job *j = job_new(ctx, first(args));
    if (!j)
        return json_false();
    if (sio_task_start(sio_ctx_host(ctx), task_run, j) < 0) {
        job_free(j);
        return json_false();
    }
    return json_true();
}

static json_t *on_join(struct sio_ctx *ctx, json_t *args)
{
    sio_enter_room(ctx, json_string_value(first(args)));
    return json_pack("[o]", sio_rooms(sio_ctx_host(ctx), sio_ctx_nsp(ctx), sio_ctx_sid(ctx)));
}

static json_t *on_leave(struct sio_ctx *ctx, json_t *args)
{
    sio_leave_room(ctx, json_string_value(first(args)));
    return json_pack("[o]", sio_rooms(sio_ctx_host(ctx), sio_ctx_nsp(ctx), sio_ctx_sid(ctx)));
}

static json_t *room_sid(struct sio_ctx *ctx, json_t *args, bool join)
{
    const char *sid = json_string_value(json_array_get(args, 0));
    const char *room = json_string_value(json_array_get(args, 1));
    sio_host *h = sio_ctx_host(ctx);
    if (join)
        sio_enter_room_sid(h, sio_ctx_nsp(ctx), sid, room);
    else
        sio_leave_room_sid(h, sio_ctx_nsp(ctx), sid, room);
    json_t *r = sio_rooms(h, sio_ctx_nsp(ctx), sid ? sid : "");
    return r ? json_pack("[o]", r) : json_pack("[n]");
}

static json_t *on_join_sid(struct sio_ctx *ctx, json_t *args) { return room_sid(ctx, args, true); }
static json_t *on_leave_sid(struct sio_ctx *ctx, json_t *args) { return room_sid(ctx, args, false); }

static json_t *on_close(struct sio_ctx *ctx, json_t *args)
{
    return json_boolean(sio_close_room(ctx, json_string_value(first(args))) == 0);
}

static json_t *on_rooms(struct sio_ctx *ctx, json_t *args)
{
    const char *sid = json_string_value(first(args));
    json_t *r = sio_rooms(sio_ctx_host(ctx), sio_ctx_nsp(ctx), sid ? sid : sio_ctx_sid(ctx));
    return r ? json_pack("[o]", r) : json_pack("[n]");   /* one argument */
}

static void call_cb(sio_host *h, const char *nsp, const char *sid, int status, json_t *args,
                    void *ud)
{
    const char *event = ud;
    json_t *out = status == 0 ? json_pack("[sO]", "ok", args)
                : json_pack("[s]", status == SIO_ERR_TIMEOUT ? "timeout" : "closed");
    sio_emit_ns(h, nsp, &(struct sio_emit_opts){ .room = sid }, event, out);
    json_decref(out);
}

static json_t *on_call(struct sio_ctx *ctx, json_t *args)
{
    json_t *spec = first(args);
    const char *ev = json_string_value(json_object_get(spec, "event"));
    json_int_t to = json_integer_value(json_object_get(spec, "timeout"));
    int rc = sio_emit_with_ack(ctx, NULL, ev ? ev : "ping", json_object_get(spec, "args"),
                               (unsigned)to, call_cb, "call_result");
    return json_boolean(rc == 0);
}

struct call_job {
    char *nsp, *sid;
    json_t *spec;
};

static void task_call_run(sio_host *h, void *ud)
{
    struct call_job *j = ud;
    const char *ev = json_string_value(json_object_get(j->spec, "event"));
    json_int_t to = json_integer_value(json_object_get(j->spec, "timeout"));
    json_t *res = NULL;
    int rc = sio_call(h, j->nsp, j->sid, ev ? ev : "ping", json_object_get(j->spec, "args"),
                      (unsigned)(to > 0 ? to : 1000), &res);
    json_t *out = rc == 0 ? json_pack("[sO]", "ok", res)
                : json_pack("[s]", rc == SIO_ERR_TIMEOUT ? "timeout" : "closed");
    sio_emit_ns(h, j->nsp, &(struct sio_emit_opts){ .room = j->sid }, "task_call_result", out);
    json_decref(out);
    json_decref(res);
    free(j->nsp);
    free(j->sid);
    json_decref(j->spec);
    free(j);
}

static json_t *on_task_call(struct sio_ctx *ctx, json_t *args)
{
    struct call_job *j = calloc(1, sizeof *j);
    if (!j)
        return json_false();
    j->nsp = strdup(sio_ctx_nsp(ctx));
    j->sid = strdup(sio_ctx_sid(ctx));
    j->spec = sio_json_deep_copy(first(args));
    if (!j->nsp || !j->sid || !j->spec || sio_task_start(sio_ctx_host(ctx), task_call_run, j) < 0) {
        free(j->nsp);
        free(j->sid);
        json_decref(j->spec);
        free(j);
        return json_false();
    }
    return json_true();
}

static json_t *on_kick(struct sio_ctx *ctx, json_t *args)
{
    json_t *spec = first(args);
    const char *sid = json_string_value(json_object_get(spec, "sid"));
    return json_boolean(sio_disconnect_sid(ctx, sid, json_is_true(json_object_get(spec, "whole"))) == 0);
}

static json_t *on_sess_set(struct sio_ctx *ctx, json_t *args)
{
    json_t *copy = NULL;
    SIO_WITH_SESSION(ctx, s) {
        json_object_update(s, first(args));
        copy = sio_json_deep_copy(s);
    }
    return copy ? json_pack("[o]", copy) : NULL;
}

static json_t *on_sess_get(struct sio_ctx *ctx, json_t *args)
{
    (void)args;
    return json_pack("[O]", sio_session_get(ctx));
}

static json_t *on_reason(struct sio_ctx *ctx, json_t *args)
{
    (void)ctx;
    const char *sid = json_string_value(first(args));
    pthread_mutex_lock(&mu);
    json_t *r = json_incref(json_object_get(reasons, sid ? sid : ""));
    pthread_mutex_unlock(&mu);
    return r ? json_pack("[o]", r) : json_pack("[n]");
}

static json_t *on_bin(struct sio_ctx *ctx, json_t *args)
{
    (void)ctx; (void)args;
    return json_pack("[o{so}i]", sio_binary_new("\x01\x02\x03", 3),
                     "nested", sio_binary_new("\xff", 1), 3);
}

/* ---- deferred acks (issue 18) ---- */

struct later {
    char *nsp, *sid;
    sio_ack_token token;
    json_t *args;
    unsigned ms;
};

static void later_free(struct later *l)
{
    free(l->nsp);
    free(l->sid);
    json_decref(l->args);
    free(l);
}

static struct later *later_new(struct sio_ctx *ctx, json_t *spec)
{
    struct later *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->nsp = strdup(sio_ctx_nsp(ctx));
    l->sid = strdup(sio_ctx_sid(ctx));
    json_t *a = json_object_get(spec, "args");
    l->args = a ? sio_json_deep_copy(a) : json_array();
    l->ms = (unsigned)json_integer_value(json_object_get(spec, "ms"));
    if (!l->nsp || !l->sid || !l->args) {
        later_free(l);
        return NULL;
    }
    return l;
}

static void later_timer(sio_host *h, void *ud)
{
    struct later *l = ud;
    sio_ack_token_send(h, l->token, l->args);
    int again = sio_ack_token_send(h, l->token, l->args);     /* refused */
    json_t *st = json_pack("[i]", again);
    sio_emit_ns(h, l->nsp, &(struct sio_emit_opts){ .room = l->sid }, "defer_again", st);
    json_decref(st);
    later_free(l);
}

static void later_task(sio_host *h, void *ud)
{
    struct later *l = ud;
    sio_sleep(l->ms);
    sio_ack_token_send(h, l->token, l->args);
    later_free(l);
}

static json_t *on_defer(struct sio_ctx *ctx, json_t *args)
{
    json_t *spec = first(args);
    struct later *l = later_new(ctx, spec);
    if (!l)
        return json_false();
    l->token = sio_ack_defer(ctx);
    if (l->token < 0) {
        later_free(l);
        return json_false();
    }
    sio_host *h = sio_ctx_host(ctx);
    const char *via = json_string_value(json_object_get(spec, "via"));
    int rc = via && strcmp(via, "task") == 0 ? sio_task_start(h, later_task, l)
           : (int)(sio_timer_start(h, l->ms, false, later_timer, l) < 0 ? -1 : 0);
    if (rc < 0) {
        sio_ack_token_send(h, l->token, json_false());
        later_free(l);
    }
    return NULL;
}

static void defer_call_cb(sio_host *h, const char *nsp, const char *sid, int status,
                          json_t *args, void *ud)
{
    sio_ack_token token = (sio_ack_token)(intptr_t)ud;
    json_t *sess = sio_session_of(h, nsp, sid);
    json_t *ack = json_pack("[oo]", status == 0 ? json_incref(args) : json_string(sio_strerror(status)),
                            sess ? sess : json_null());
    sio_ack_token_send(h, token, ack);
    json_decref(ack);
}

static json_t *on_defer_call(struct sio_ctx *ctx, json_t *args)
{
    json_t *spec = first(args);
    const char *ev = json_string_value(json_object_get(spec, "event"));
    sio_ack_token token = sio_ack_defer(ctx);
    if (token < 0)
        return json_false();
    if (sio_emit_with_ack(ctx, NULL, ev ? ev : "ping", json_object_get(spec, "args"), 3000,
                          defer_call_cb, (void *)(intptr_t)token) < 0)
        sio_ack_token_send(sio_ctx_host(ctx), token, json_false());
    return NULL;
}

/* ask_ctx {event, timeout}: asks the sender `event` with an ack; the ack
 * callback takes the socket's ctx (sio_ack_ctx), emits "ack_ctx" back with
 * the answer and saves it in the session as "answered"; without a ctx (a
 * timeout) it emits "ack_ctx" ["no ctx"] to the sid. */
static void ask_ctx_cb(sio_host *h, const char *nsp, const char *sid, int status, json_t *args,
                       void *ud)
{
    (void)ud;
    struct sio_ctx *c = sio_ack_ctx(h);
    if (!c) {
        json_t *out = json_pack("[s]", "no ctx");
        sio_emit_ns(h, nsp, &(struct sio_emit_opts){ .room = sid }, "ack_ctx", out);
        json_decref(out);
        return;
    }
    json_object_set(sio_session_get(c), "answered", args);
    sio_session_save(c);
    sio_emit_back(c, "ack_ctx", args);
}

static json_t *on_ask_ctx(struct sio_ctx *ctx, json_t *args)
{
    json_t *spec = first(args);
    const char *ev = json_string_value(json_object_get(spec, "event"));
    json_int_t to = json_integer_value(json_object_get(spec, "timeout"));
    return json_boolean(sio_emit_with_ack(ctx, NULL, ev ? ev : "q", NULL, (unsigned)to,
                                          ask_ctx_cb, NULL) == 0);
}

static json_t *on_defer_keep(struct sio_ctx *ctx, json_t *args)
{
    (void)args;
    json_t *t = json_pack("[I]", (json_int_t)sio_ack_defer(ctx));
    sio_emit_back(ctx, "token", t);
    json_decref(t);
    return NULL;
}

static json_t *on_answer(struct sio_ctx *ctx, json_t *args)
{
    json_t *spec = first(args);
    sio_ack_token token = json_integer_value(json_object_get(spec, "token"));
    return json_pack("[i]", sio_ack_token_send(sio_ctx_host(ctx), token,
                                               json_object_get(spec, "args")));
}

static int on_connect(struct sio_ctx *ctx, const struct sio_environ *env, json_t *auth)
{
    (void)env;
    const char *msg = json_string_value(json_object_get(auth, "refuse"));
    if (msg)
        return sio_refuse_with(ctx, msg, json_object_get(auth, "data"));
    return SIO_ACCEPT;
}

static json_t *on_any(struct sio_ctx *ctx, json_t *args)
{
    json_t *r = json_pack("[sss]", "any", sio_ctx_event(ctx), sio_ctx_nsp(ctx));
    json_array_extend(r, args);
    return json_pack("[o]", r);     /* one ack argument: the array */
}

static void on_disconnect(struct sio_ctx *ctx, const char *reason)
{
    pthread_mutex_lock(&mu);
    json_object_set_new(reasons, sio_ctx_sid(ctx), json_string(reason));
    pthread_mutex_unlock(&mu);
}

SIO_PLUGIN(.name = "demo4",
           .nsps = SIO_NSPS("/", "/rooms/*", "*"),
           .on_connect = on_connect,
           .on_disconnect = on_disconnect,
           .on_load = on_load,
           .on_unload = on_unload,
           .events = SIO_EVENTS({ "emit", on_emit }, { "send", on_send },
                                { "timer", on_timer }, { "task", on_task },
                                { "join", on_join }, { "leave", on_leave },
                                { "join_sid", on_join_sid }, { "leave_sid", on_leave_sid },
                                { "close", on_close }, { "rooms", on_rooms },
                                { "call", on_call }, { "task_call", on_task_call },
                                { "kick", on_kick }, { "sess_set", on_sess_set },
                                { "sess_get", on_sess_get }, { "reason", on_reason },
                                { "bin", on_bin }, { "defer", on_defer },
                                { "defer_call", on_defer_call }, { "ask_ctx", on_ask_ctx }, { "defer_keep", on_defer_keep },
                                { "answer", on_answer }, { "*", on_any }));

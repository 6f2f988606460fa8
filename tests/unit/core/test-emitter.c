/* test-emitter.c: the external emitter (include/sio/emitter.h) against a
 * real hub over ipc://, as `sio emit` and a user's program use it: what
 * reaches the gateways for each call, and the errors a caller sees. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include <sio/emitter.h>
#include <sio/error.h>
#include "proto/bus.h"
#include "proto/envelope.h"
#include "core/hub.h"

struct rig {
    char dir[64], events[96], commands[96], workers[96];
    void *zctx, *sub;
    sio_hub *hub;
    sio_emitter *em;
    zmq_msg_t topic, body;
    bool have;
    struct sio_env env;
};

static void rig_start(struct rig *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/sio-emitter-XXXXXX");
    cr_assert_not_null(mkdtemp(r->dir));
    snprintf(r->events, sizeof r->events, "ipc://%s/events", r->dir);
    snprintf(r->commands, sizeof r->commands, "ipc://%s/commands", r->dir);
    snprintf(r->workers, sizeof r->workers, "ipc://%s/workers", r->dir);
    r->zctx = zmq_ctx_new();
    char err[256] = "";
    struct sio_hub_cfg hc = { .zmq_ctx = r->zctx,
                              .ep = { r->events, r->commands, r->workers, NULL } };
    cr_assert_eq(sio_hub_new(&r->hub, &hc, err, sizeof err), 0, "hub: %s", err);
    r->sub = zmq_socket(r->zctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(r->sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(r->sub, ZMQ_SUBSCRIBE, "", 0);
    cr_assert_eq(zmq_connect(r->sub, r->commands), 0);
    struct sio_emitter_cfg ec = { .size = sizeof ec, .endpoint = r->workers, .timeout_ms = 3000 };
    cr_assert_eq(sio_emitter_new(&r->em, &ec), 0);
}

static void rig_release(struct rig *r)
{
    if (r->have) {
        sio_env_clear(&r->env);
        zmq_msg_close(&r->topic);
        zmq_msg_close(&r->body);
        r->have = false;
    }
}

static void rig_stop(struct rig *r)
{
    rig_release(r);
    sio_emitter_destroy(&r->em);
    zmq_close(r->sub);
    sio_hub_destroy(&r->hub);
    zmq_ctx_term(r->zctx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
    cr_assert_eq(system(cmd), 0);
}

/* The next command the hub published for the gateways (a SUB may join
 * after the first publications: calls are retried until one is seen). */
static bool rig_recv(struct rig *r, int timeout_ms)
{
    rig_release(r);
    zmq_pollitem_t it = { r->sub, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return false;
    zmq_msg_init(&r->topic);
    zmq_msg_init(&r->body);
    cr_assert_geq(zmq_msg_recv(&r->topic, r->sub, 0), 0);
    cr_assert(zmq_msg_more(&r->topic));
    cr_assert_geq(zmq_msg_recv(&r->body, r->sub, 0), 0);
    cr_assert_eq(sio_env_decode(zmq_msg_data(&r->body), zmq_msg_size(&r->body), &r->env), 0);
    r->have = true;
    return true;
}

static bool str_is(struct sio_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* Emit until the subscriber sees something (the SUB's connection races
 * the first publications), then return that command. */
#define SEEN(r, call)                                         \
    do {                                                      \
        bool seen_ = false;                                   \
        for (int try_ = 0; try_ < 50 && !seen_; try_++) {     \
            cr_assert_eq((call), 0, "%s", sio_emitter_error((r)->em)); \
            seen_ = rig_recv((r), 100);                       \
        }                                                     \
        cr_assert(seen_, "the hub published nothing");        \
    } while (0)

Test(emitter, emit_to_the_whole_namespace_reaches_every_gateway)
{
    struct rig r;
    rig_start(&r);
    SEEN(&r, sio_emitter_emit(r.em, NULL, "news", "[1,{\"a\":\"b\"}]", NULL, 0));
    cr_assert_eq(r.env.kind, SIO_ENV_EMIT);
    cr_assert_eq(zmq_msg_size(&r.topic), 1);
    cr_assert_eq(memcmp(zmq_msg_data(&r.topic), "*", 1), 0, "a broadcast goes to topic *");
    cr_assert(str_is(r.env.nsp, "/"));
    cr_assert(str_is(r.env.data, "[\"news\",1,{\"a\":\"b\"}]"), "%.*s", (int)r.env.data.len,
              r.env.data.p);
    cr_assert_eq(r.env.nrooms, 0, "no rooms: the whole namespace");
    cr_assert_eq(r.env.id, -1, "an emitter never asks for an ack");
    rig_stop(&r);
}

Test(emitter, rooms_excepts_namespace_and_binary)
{
    struct rig r;
    rig_start(&r);
    const char *rooms[] = { "a", "b", NULL }, *xr[] = { "muted", NULL }, *xs[] = { "s2", NULL };
    struct sio_to to = { .nsp = "/chat", .room = "lobby", .rooms = rooms, .except_rooms = xr,
                         .skip_sid = "s1", .skip_sids = xs };
    struct sio_emitter_bin bin = { "\x00\x01\xff", 3 };
    SEEN(&r, sio_emitter_emit(r.em, &to, "pic",
                              "[{\"_placeholder\":true,\"num\":0}]", &bin, 1));
    cr_assert(str_is(r.env.nsp, "/chat"));
    cr_assert_eq(r.env.nrooms, 3);
    cr_assert(str_is(r.env.rooms[0], "lobby"));
    cr_assert(str_is(r.env.rooms[1], "a"));
    cr_assert(str_is(r.env.rooms[2], "b"));
    cr_assert_eq(r.env.nexcept_rooms, 1);
    cr_assert(str_is(r.env.except_rooms[0], "muted"));
    cr_assert_eq(r.env.nexcept_sids, 2);
    cr_assert(str_is(r.env.except_sids[0], "s1"));
    cr_assert(str_is(r.env.except_sids[1], "s2"));
    cr_assert_eq(r.env.nbins, 1);
    cr_assert_eq(r.env.bins[0].len, 3);
    cr_assert_eq(memcmp(r.env.bins[0].p, "\x00\x01\xff", 3), 0, "binary bytes arrive intact");
    rig_stop(&r);
}

Test(emitter, join_leave_close_room_and_disconnect_commands)
{
    struct rig r;
    rig_start(&r);
    const char *rooms[] = { "r1", "r2" };
    struct sio_to sid = { .room = "sidA" };
    SEEN(&r, sio_emitter_join(r.em, &sid, rooms, 2));
    cr_assert_eq(r.env.kind, SIO_ENV_JOIN);
    cr_assert(str_is(r.env.rooms[0], "sidA"), "the selection: a sid is a room of one");
    cr_assert_eq(r.env.nrooms2, 2);
    cr_assert(str_is(r.env.rooms2[1], "r2"));
    cr_assert_eq(sio_emitter_leave(r.em, &sid, rooms, 1), 0);
    cr_assert(rig_recv(&r, 2000));
    cr_assert_eq(r.env.kind, SIO_ENV_LEAVE);
    cr_assert_eq(r.env.nrooms2, 1);
    cr_assert_eq(sio_emitter_close_room(r.em, "/chat", "r1"), 0);
    cr_assert(rig_recv(&r, 2000));
    cr_assert_eq(r.env.kind, SIO_ENV_CLOSE_ROOM);
    cr_assert(str_is(r.env.nsp, "/chat"));
    cr_assert(str_is(r.env.rooms[0], "r1"));
    cr_assert_eq(sio_emitter_disconnect(r.em, &sid, true), 0);
    cr_assert(rig_recv(&r, 2000));
    cr_assert_eq(r.env.kind, SIO_ENV_DISCONNECT_CMD);
    cr_assert(r.env.close_conn, "close_conn travels with the command");
    rig_stop(&r);
}

Test(emitter, bad_arguments_are_refused_before_anything_is_sent)
{
    struct rig r;
    rig_start(&r);
    cr_assert_eq(sio_emitter_emit(r.em, NULL, "e", "{\"not\":\"an array\"}", NULL, 0), -EINVAL);
    cr_assert(strstr(sio_emitter_error(r.em), "JSON array"), "%s", sio_emitter_error(r.em));
    cr_assert_eq(sio_emitter_emit(r.em, NULL, "e", "[1,", NULL, 0), -EINVAL);
    cr_assert_eq(sio_emitter_emit(r.em, NULL, NULL, "[]", NULL, 0), -EINVAL, "no event name");
    cr_assert_eq(sio_emitter_join(r.em, NULL, NULL, 0), -EINVAL, "no rooms to join");
    cr_assert_eq(sio_emitter_close_room(r.em, NULL, NULL), -EINVAL);
    cr_assert_not(rig_recv(&r, 300), "nothing was published");
    rig_stop(&r);
}

Test(emitter, no_hub_is_a_timeout_with_a_message)
{
    char dir[] = "/tmp/sio-emitter-XXXXXX", ep[96];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ep, sizeof ep, "ipc://%s/nobody", dir);
    sio_emitter *em = NULL;
    struct sio_emitter_cfg ec = { .endpoint = ep, .timeout_ms = 300 };  /* size 0: accepted */
    cr_assert_eq(sio_emitter_new(&em, &ec), 0);
    cr_assert_eq(sio_emitter_emit(em, NULL, "e", NULL, NULL, 0), SIO_ERR_TIMEOUT);
    cr_assert(strstr(sio_emitter_error(em), "300 ms"), "%s", sio_emitter_error(em));
    sio_emitter_destroy(&em);
    cr_assert_null(em);
    sio_emitter_destroy(&em);   /* NULL-safe */
    rmdir(dir);
}

/* worker_ctx.h: worker internals shared by worker.c and host.c (internal).
 *
 * A shard is one worker thread with its own DEALER to the hub. struct
 * sio_ctx is what a handler's ctx points at: it lives on the shard's stack
 * for the duration of one handler call.
 */
#ifndef SIO_CORE_WORKER_CTX_H
#define SIO_CORE_WORKER_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <sio/plugin.h>
#include "base/buf.h"
#include "proto/envelope.h"

struct sio__shard;

struct sio_ctx {
    struct sio__shard *shard;
    const struct sio_plugin *plugin;
    const char *nsp;            /* NUL-terminated, valid during the call */
    const char *sid;
    const char *gw;
    const char *event;          /* event handlers only, else NULL */
    int64_t ack_id;             /* -1: the client asked for no ack */
    bool acked;                 /* an ack was sent for this event */
    json_t *refuse_data;        /* on_connect: what sio_refuse() was given (a reference of ours) */
    char *refuse_message;       /* on_connect: sio_refuse_with()'s message (a copy) */
    bool refused;               /* sio_refuse() was called */
    json_t **session;           /* the socket's session slot (NULL: raw) */
};

/* A thread's view of the worker (sio_host in <sio/plugin.h>): a shard's
 * own, embedded in it, or a task's, which sends through its shard's queue
 * with its own buffers and PUSH socket. */
struct sio_host {
    struct sio__shard *sh;
    bool task;
    void *push;                 /* task: PUSH to the shard's queue */
    struct sio_buf env_buf, json_buf;   /* task: encoding buffers */
};

struct sio_host *sio__shard_host(struct sio__shard *sh);
/* The acking socket's ctx while an ack callback for a client's answer runs
 * on sh, else NULL (sio_ack_ctx). */
struct sio_ctx *sio__shard_ack_ctx(struct sio__shard *sh);

/* Send a command [topic, env] from any host (a task's goes through its
 * shard's queue). 0 or < 0. */
int sio__host_send(struct sio_host *h, const char *topic, const struct sio_env *env);
struct sio_buf *sio__host_json_buf(struct sio_host *h);

/* Run fn(shard host, arg) on the host's shard thread (now if h is a shard's
 * host). 0 or < 0 (then fn does not run). */
int sio__host_post(struct sio_host *h, void (*fn)(struct sio_host *, void *), void *arg);

/* The worker's mirror of room membership (thread-safe). op: 1 join,
 * 0 leave. */
int sio__rooms_update(struct sio__shard *sh, const char *nsp, const char *sid,
                      const char *room, bool join);
void sio__rooms_close(struct sio__shard *sh, const char *nsp, const char *room);
json_t *sio__rooms_get(struct sio__shard *sh, const char *nsp, const char *sid);

/* Register a pending ack for (nsp, sid) on a shard host; its timeout timer
 * runs on that shard. Sets *id. 0 or < 0. */
int sio__ack_register(struct sio_host *h, const char *nsp, const char *sid, unsigned timeout_ms,
                      sio_ack_cb cb, void *ud, int64_t *id);
void sio__ack_cancel(struct sio_host *h, int64_t id);

bool sio__worker_stopping(struct sio__shard *sh);
int  sio__task_start(struct sio_host *h, sio_task_fn fn, void *ud);

/* Encode env and send it as a command [topic, envelope] from the ctx's
 * shard (deferred while on_connect runs, see worker.c). 0 or < 0. */
int sio__shard_send(struct sio__shard *sh, const char *topic, const struct sio_env *env);

/* Per-shard scratch buffer for JSON text (reset by the user). */

/* Send an ACK for ctx's current event with args (array, other value = one
 * argument, NULL = none). Borrowed. 0 or < 0. */
int sio__ctx_send_ack(struct sio_ctx *ctx, json_t *args);
/* The same for any socket and ack id, from any host. */
int sio__send_ack(struct sio_host *h, const char *gw, const char *nsp, const char *sid,
                  int64_t ack_id, json_t *args);

/* Deferred acks (sio_ack_defer in <sio/plugin.h>): a token > 0 or < 0;
 * the answer sends the ACK once and forgets the token. */
int64_t sio__ack_defer(struct sio_ctx *ctx);
int sio__ack_token_answer(struct sio_host *h, int64_t token, json_t *args);

/* The session mirror (thread-safe): set (session NULL: forget) and a new
 * copy (NULL when the socket is unknown). */
int sio__session_mirror(struct sio__shard *sh, const char *nsp, const char *sid,
                        const json_t *session);
json_t *sio__session_copy(struct sio__shard *sh, const char *nsp, const char *sid);

/* Fill env.data/bins from a JSON value, deconstructing binary values.
 * The data text lives in the shard's JSON buffer, *holder keeps the
 * deconstructed copy alive and *bins the attachments until the envelope
 * is encoded; release both with sio__ctx_json_release(). */
struct sio_bins;
int  sio__env_set_json(struct sio_buf *jb, struct sio_env *env, json_t *v,
                       json_t **holder, struct sio_bins *bins);
void sio__env_json_release(struct sio_env *env, json_t **holder, struct sio_bins *bins);

#endif

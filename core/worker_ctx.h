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
#include "buf.h"
#include "envelope.h"

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
    json_t *refuse_data;        /* on_connect: what sio_refuse() was given */
    bool refused;               /* sio_refuse() was called */
};

/* Encode env and send it as a command [topic, envelope] from the ctx's
 * shard (deferred while on_connect runs, see worker.c). 0 or < 0. */
int sio__shard_send(struct sio__shard *sh, const char *topic, const struct sio_env *env);

/* Per-shard scratch buffer for JSON text (reset by the user). */
struct sio_buf *sio__shard_json_buf(struct sio__shard *sh);

/* Send an ACK for ctx's current event with args (array, other value = one
 * argument, NULL = none). Borrowed. 0 or < 0. */
int sio__ctx_send_ack(struct sio_ctx *ctx, json_t *args);

/* Fill env.data/bins from a JSON value, deconstructing binary values.
 * The data text lives in the shard's JSON buffer, *holder keeps the
 * deconstructed copy alive and *bins the attachments until the envelope
 * is encoded; release both with sio__ctx_json_release(). */
struct sio_bins;
int  sio__env_set_json(struct sio__shard *sh, struct sio_env *env, json_t *v,
                       json_t **holder, struct sio_bins *bins);
void sio__env_json_release(struct sio_env *env, json_t **holder, struct sio_bins *bins);

#endif

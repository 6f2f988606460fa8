/* worker_acks.c: deferred acks (sio_ack_defer: a token answered later,
 * released on disconnect) and pending server-to-client acks (with their
 * timeout timers). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <sio/sio.h>
#include "core/worker.h"
#include "core/worker_int.h"
#include "base/buf.h"
#include "base/map.h"
#include "core/plugin_loader.h"
#include "proto/sio.h"
#include "proto/text.h"
#include "base/vec.h"


/* ---- deferred acks (sio_ack_defer) ---- */

void wk_dack_free(struct dack *d)
{
    if (!d)
        return;
    free(d->gw);
    free(d->nsp);
    free(d->sid);
    free(d);
}

int64_t sio__ack_defer(struct sio_ctx *ctx)
{
    if (ctx->ack_id < 0)
        return SIO_ERR_PROTO;
    if (ctx->acked)
        return -EALREADY;
    struct sio_worker *w = ctx->shard->w;
    struct dack *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->gw = strdup(ctx->gw);
    d->nsp = strdup(ctx->nsp);
    d->sid = strdup(ctx->sid);
    if (!d->gw || !d->nsp || !d->sid) {
        wk_dack_free(d);
        return -ENOMEM;
    }
    d->ack_id = ctx->ack_id;
    pthread_mutex_lock(&w->mu);
    d->token = ++w->next_token;
    d->next = w->dacks;
    w->dacks = d;
    pthread_mutex_unlock(&w->mu);
    ctx->acked = true;      /* no automatic ack when the handler returns */
    return d->token;
}

int sio__ack_token_answer(struct sio_host *h, int64_t token, json_t *args)
{
    struct sio_worker *w = h->sh->w;
    struct dack *d = NULL;
    pthread_mutex_lock(&w->mu);
    int64_t issued = w->next_token;
    for (struct dack **pp = &w->dacks; *pp; pp = &(*pp)->next)
        if ((*pp)->token == token) {
            d = *pp;
            *pp = d->next;
            break;
        }
    pthread_mutex_unlock(&w->mu);
    if (!d)
        return token > 0 && token <= issued ? SIO_ERR_ANSWERED : -EINVAL;
    int rc = sio__send_ack(h, d->gw, d->nsp, d->sid, d->ack_id, args);
    wk_dack_free(d);
    return rc;
}

/* The socket left: its unanswered tokens are released (an answer after
 * this gets SIO_ERR_ANSWERED, as a second answer does). */
void wk_dacks_closed(struct sio_worker *w, const char *nsp, const char *sid)
{
    struct dack *done = NULL;
    pthread_mutex_lock(&w->mu);
    for (struct dack **pp = &w->dacks; *pp;) {
        struct dack *d = *pp;
        if (strcmp(d->nsp, nsp) == 0 && strcmp(d->sid, sid) == 0) {
            *pp = d->next;
            d->next = done;
            done = d;
        } else {
            pp = &d->next;
        }
    }
    pthread_mutex_unlock(&w->mu);
    while (done) {
        struct dack *d = done;
        done = d->next;
        wk_dack_free(d);
    }
}

/* ---- pending server-to-client acks ---- */

void wk_pending_free(struct pending *p)
{
    free(p->nsp);
    free(p->sid);
    free(p);
}

/* Unlink the pending ack id (and, when nsp/sid are given, only if it is
 * theirs). */
struct pending *wk_pending_take(struct sio_worker *w, int64_t id, const char *nsp,
                                    size_t nl, const char *sid, size_t sl)
{
    pthread_mutex_lock(&w->mu);
    struct pending **pp = &w->pending, *p = NULL;
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            if (nsp && (strlen((*pp)->nsp) != nl || memcmp((*pp)->nsp, nsp, nl) != 0 ||
                        strlen((*pp)->sid) != sl || memcmp((*pp)->sid, sid, sl) != 0))
                break;
            p = *pp;
            *pp = p->next;
            break;
        }
    pthread_mutex_unlock(&w->mu);
    return p;
}

void wk_pending_stop_timer(struct sio__shard *sh, struct pending *p)
{
    if (p->timer_id && p->timer_sh == sh)
        sio_timer_stop(&sh->host, p->timer_id);
}

static void ack_timeout(sio_host *h, void *ud)
{
    int64_t id = (int64_t)(intptr_t)ud;
    struct pending *p = wk_pending_take(h->sh->w, id, NULL, 0, NULL, 0);
    if (!p)
        return;
    p->cb(h, p->nsp, p->sid, SIO_ERR_TIMEOUT, NULL, p->ud);
    wk_pending_free(p);
}

int sio__ack_register(struct sio_host *h, const char *nsp, const char *sid, unsigned timeout_ms,
                      sio_ack_cb cb, void *ud, int64_t *id)
{
    if (h->task)
        return -EINVAL;
    struct sio__shard *sh = h->sh;
    struct sio_worker *w = sh->w;
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->nsp = strdup(nsp);
    p->sid = strdup(sid);
    if (!p->nsp || !p->sid) {
        wk_pending_free(p);
        return -ENOMEM;
    }
    p->cb = cb;
    p->ud = ud;
    pthread_mutex_lock(&w->mu);
    p->id = w->next_ack_id++;
    if (w->next_ack_id > ((int64_t)1 << 52))
        w->next_ack_id = 0;
    pthread_mutex_unlock(&w->mu);
    if (timeout_ms) {
        int64_t t = sio_timer_start(h, timeout_ms, false, ack_timeout, (void *)(intptr_t)p->id);
        if (t < 0) {
            wk_pending_free(p);
            return (int)t;
        }
        p->timer_sh = sh;
        p->timer_id = t;
    }
    pthread_mutex_lock(&w->mu);
    p->next = w->pending;
    w->pending = p;
    pthread_mutex_unlock(&w->mu);
    *id = p->id;
    return 0;
}

void sio__ack_cancel(struct sio_host *h, int64_t id)
{
    struct pending *p = wk_pending_take(h->sh->w, id, NULL, 0, NULL, 0);
    if (p) {
        wk_pending_stop_timer(h->sh, p);
        wk_pending_free(p);
    }
}

/* The socket left: every ack it owed ends with SIO_ERR_CLOSED. */
void wk_pending_closed(struct sio__shard *sh, const char *nsp, const char *sid)
{
    struct sio_worker *w = sh->w;
    struct pending *done = NULL;
    pthread_mutex_lock(&w->mu);
    for (struct pending **pp = &w->pending; *pp;) {
        struct pending *p = *pp;
        if (strcmp(p->nsp, nsp) == 0 && strcmp(p->sid, sid) == 0) {
            *pp = p->next;
            p->next = done;
            done = p;
        } else {
            pp = &p->next;
        }
    }
    pthread_mutex_unlock(&w->mu);
    while (done) {
        struct pending *p = done;
        done = p->next;
        wk_pending_stop_timer(sh, p);
        p->cb(&sh->host, p->nsp, p->sid, SIO_ERR_CLOSED, NULL, p->ud);
        wk_pending_free(p);
    }
}

void wk_pending_clear(struct sio_worker *w)
{
    while (w->pending) {
        struct pending *p = w->pending;
        w->pending = p->next;
        wk_pending_free(p);
    }
}

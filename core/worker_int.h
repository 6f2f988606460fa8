/* worker_int.h: the worker's state, shared by its files (internal):
 * worker.c (lifecycle, bus, loop), worker_dispatch.c, worker_timers.c,
 * worker_rooms.c, worker_acks.c, worker_tasks.c, worker_reload.c. */
#ifndef SIO_CORE_WORKER_INT_H
#define SIO_CORE_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <sio/plugin.h>
#include "base/buf.h"
#include "base/map.h"
#include "proto/batch.h"
#include "proto/envelope.h"
#include "core/plugin_loader.h"
#include "core/worker_ctx.h"


struct deferred {
    struct deferred *next;
    size_t tlen, elen;
    unsigned char bytes[];  /* topic then envelope */
};

struct timer {
    uint64_t due;
    int64_t id;
    unsigned interval;      /* repeat period, 0: one shot */
    sio_timer_fn cb;
    void *ud;
};

struct sio__shard {
    struct sio_ctx *ack_ctx;     /* during an ack callback for a client's answer (sio_ack_ctx) */
    uint64_t next_hb;           /* ms: the next HEARTBEAT to the hub (loop thread) */
    struct sio_worker *w;
    struct sio_host host;       /* this shard's host (sio_ctx_host) */
    unsigned index;
    _Atomic uint64_t st_events, st_handler_us;  /* metrics; written by this shard only */
    pthread_t thread;
    bool started;
    void *dealer;
    void *ctl_main, *ctl_thread;
    struct sio_map socks;
    struct sio_buf env_buf;     /* envelope encoding, reused */
    /* commands of this pass for one topic, sent as one batch frame when
     * the topic changes or the pass ends (wk_flush; docs/BUS.md 2.4) */
    struct sio_bus_batch out;
    char out_topic[16];
    size_t out_tlen;
    struct sio_buf json_buf;    /* JSON text, reused */
    bool deferring;             /* inside on_connect */
    struct deferred *dq, **dq_tail;
    void *queue;                /* PULL: tasks' commands and posts */
    unsigned long sends;        /* sends on the dealer (see shard_main) */
    char queue_ep[64];
    struct timer *timers;       /* min-heap by due */
    size_t ntimers, timers_cap;
    int64_t next_timer_id;
    int64_t running_timer;      /* id of the timer whose cb runs, 0 = none */
    bool running_stopped;       /* ... and it stopped itself */
};

struct pending {                /* a server-to-client ack awaited */
    struct pending *next;
    int64_t id;
    char *nsp, *sid;
    sio_ack_cb cb;
    void *ud;
    struct sio__shard *timer_sh;
    int64_t timer_id;
};

struct dack {                   /* a deferred ack (sio_ack_defer) not answered yet */
    struct dack *next;
    int64_t token;
    int64_t ack_id;             /* the client's ack id */
    char *gw, *nsp, *sid;
};

struct task {
    struct task *next;
    pthread_t thread;
    struct sio_worker *w;
    struct sio_host host;
    sio_task_fn fn;
    void *ud;
};

struct sio_worker {
    void *zctx;
    struct sio_loaded_plugin *plugins;
    size_t nplugins;
    struct sio__shard *shards;
    unsigned nshards;
    pthread_mutex_t mu;         /* rooms, pending, tasks */
    json_t *rooms;              /* "nsp\x01sid" -> [sid, room...], or true: own room only */
    struct pending *pending;
    int64_t next_ack_id;
    json_t *sessions;           /* "nsp\x01sid" -> session as last saved (sio_session_of) */
    struct dack *dacks;         /* deferred acks not answered yet */
    int64_t next_token;
    struct task *tasks;
    atomic_bool stopping;
    /* hot reload: descriptors are swapped with atomic stores (plugins[i].desc
     * is read by shards with atomic loads); replaced handles wait in
     * retired[] until destroy, so running handlers keep their code */
    char **paths;               /* the files given, for reloads */
    struct sio_loaded_plugin *retired;
    size_t nretired;
    atomic_uint gen;
    unsigned drain_ms;
    size_t nplugins_given;
    const struct sio_bus_curve *curve;
    atomic_bool timing;         /* a scrape asked: time the handlers too */
};

#define SHARD_ADD(sh, f, n) atomic_store_explicit(&(sh)->f, \
    atomic_load_explicit(&(sh)->f, memory_order_relaxed) + (n), memory_order_relaxed)

uint64_t wk_now_ms(void);
const struct sio_plugin *wk_find_plugin(struct sio_worker *w, const char *nsp);
const struct sio_plugin *wk_find_raw_plugin(struct sio_worker *w);
int wk_send_frames(struct sio__shard *sh, const void *t, size_t tlen, const void *e, size_t elen);
void wk_flush(struct sio__shard *sh);
void wk_deferred_flush(struct sio__shard *sh, bool send);
int wk_send_control(struct sio__shard *sh, enum sio_env_kind kind);
void wk_sockmap_clear(struct sio_map *m);
void wk_handle(struct sio__shard *sh, const void *buf, size_t len);
long wk_run_timers(struct sio__shard *sh, long max_wait);
void wk_rooms_add_sock(struct sio_worker *w, const char *nsp, const char *sid);
void wk_rooms_del_sock(struct sio_worker *w, const char *nsp, const char *sid);
void wk_dack_free(struct dack *d);
void wk_dacks_closed(struct sio_worker *w, const char *nsp, const char *sid);
void wk_pending_free(struct pending *p);
struct pending *wk_pending_take(struct sio_worker *w, int64_t id, const char *nsp,
                                    size_t nl, const char *sid, size_t sl);
void wk_pending_stop_timer(struct sio__shard *sh, struct pending *p);
void wk_pending_closed(struct sio__shard *sh, const char *nsp, const char *sid);
void wk_pending_clear(struct sio_worker *w);
void wk_tasks_join(struct sio_worker *w);

#endif

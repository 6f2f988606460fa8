/* worker_rooms.c: the worker's mirrors, shared by its shards under the
 * worker's mutex: room membership (sio_rooms) and each socket's saved
 * session (sio_session_of). */
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


/* ---- rooms mirror ---- */

static char *sock_key(const char *nsp, const char *sid)
{
    size_t nl = strlen(nsp), sl = strlen(sid);
    char *k = malloc(nl + sl + 2);
    if (k) {
        memcpy(k, nsp, nl);
        k[nl] = '\x01';
        memcpy(k + nl + 1, sid, sl + 1);
    }
    return k;
}

void wk_rooms_add_sock(struct sio_worker *w, const char *nsp, const char *sid)
{
    char *k = sock_key(nsp, sid);
    if (!k)
        return;
    pthread_mutex_lock(&w->mu);
    /* true: connected, in its own room only (no array kept for the many
     * sockets that join nothing: the mirror costs them one entry) */
    if (!json_object_get(w->rooms, k))
        json_object_set_new_nocheck(w->rooms, k, json_true());
    pthread_mutex_unlock(&w->mu);
    free(k);
}

void wk_rooms_del_sock(struct sio_worker *w, const char *nsp, const char *sid)
{
    char *k = sock_key(nsp, sid);
    if (!k)
        return;
    pthread_mutex_lock(&w->mu);
    json_object_del(w->rooms, k);
    json_object_del(w->sessions, k);
    pthread_mutex_unlock(&w->mu);
    free(k);
}

static size_t array_find(json_t *a, const char *room)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (strcmp(json_string_value(json_array_get(a, i)), room) == 0)
            return i;
    return (size_t)-1;
}

int sio__rooms_update(struct sio__shard *sh, const char *nsp, const char *sid,
                      const char *room, bool join)
{
    struct sio_worker *w = sh->w;
    char *k = sock_key(nsp, sid);
    if (!k)
        return -ENOMEM;
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    json_t *a = json_object_get(w->rooms, k);
    if (json_is_true(a) && join && strcmp(room, sid) != 0) {
        json_t *b = json_pack("[s,s]", sid, room);
        rc = b && json_object_set_new_nocheck(w->rooms, k, b) == 0 ? 0 : -ENOMEM;
    } else if (json_is_array(a)) {
        size_t i = array_find(a, room);
        if (join && i == (size_t)-1) {
            rc = json_array_append_new(a, json_string_nocheck(room)) < 0 ? -ENOMEM : 0;
        } else if (!join && i != (size_t)-1 && i != 0) {
            json_array_remove(a, i);
            if (json_array_size(a) == 1)
                json_object_set_new_nocheck(w->rooms, k, json_true());
        }
    }
    pthread_mutex_unlock(&w->mu);
    free(k);
    return rc;
}

void sio__rooms_close(struct sio__shard *sh, const char *nsp, const char *room)
{
    struct sio_worker *w = sh->w;
    size_t nl = strlen(nsp);
    const char *key;
    json_t *a;
    pthread_mutex_lock(&w->mu);
    json_object_foreach(w->rooms, key, a) {
        if (strncmp(key, nsp, nl) != 0 || key[nl] != '\x01')
            continue;
        if (!json_is_array(a))
            continue;
        size_t i = array_find(a, room);
        if (i != (size_t)-1 && i != 0)
            json_array_remove(a, i);
    }
    pthread_mutex_unlock(&w->mu);
}

json_t *sio__rooms_get(struct sio__shard *sh, const char *nsp, const char *sid)
{
    struct sio_worker *w = sh->w;
    char *k = sock_key(nsp, sid);
    if (!k)
        return NULL;
    pthread_mutex_lock(&w->mu);
    json_t *v = json_object_get(w->rooms, k);
    json_t *a = json_is_true(v) ? json_pack("[s]", sid) : json_deep_copy(v);
    pthread_mutex_unlock(&w->mu);
    free(k);
    return a;
}

/* ---- the session mirror: a copy of each socket's saved session, so that
 * sio_session_of() answers on any thread ---- */

int sio__session_mirror(struct sio__shard *sh, const char *nsp, const char *sid,
                        const json_t *session)
{
    struct sio_worker *w = sh->w;
    char *k = sock_key(nsp, sid);
    json_t *copy = session ? json_deep_copy(session) : NULL;
    if (!k || (session && !copy)) {
        free(k);
        json_decref(copy);
        return -ENOMEM;
    }
    pthread_mutex_lock(&w->mu);
    int rc = copy ? json_object_set_new_nocheck(w->sessions, k, copy) : json_object_del(w->sessions, k);
    pthread_mutex_unlock(&w->mu);
    free(k);
    return rc < 0 && copy ? -ENOMEM : 0;
}

json_t *sio__session_copy(struct sio__shard *sh, const char *nsp, const char *sid)
{
    struct sio_worker *w = sh->w;
    char *k = sock_key(nsp, sid);
    if (!k)
        return NULL;
    pthread_mutex_lock(&w->mu);
    json_t *rooms = json_object_get(w->rooms, k);
    json_t *sess = json_object_get(w->sessions, k);
    /* a connected socket without a saved session has an empty one */
    json_t *copy = sess ? json_deep_copy(sess) : rooms ? json_object() : NULL;
    pthread_mutex_unlock(&w->mu);
    free(k);
    return copy;
}

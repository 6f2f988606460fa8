/* map.h: a small chained hash map from byte strings to pointers (internal).
 *
 * Keys are copied into the entries (with a NUL after them); values are
 * borrowed: the map never frees them. Used by the gateway (sockets, rooms,
 * sessions), the hub (sticky routes) and the worker (connected sockets).
 * Not thread-safe: each map belongs to one thread.
 */
#ifndef SIO_CORE_MAP_H
#define SIO_CORE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sio_map_ent {
    struct sio_map_ent *next;
    void *val;
    uint32_t hash;
    size_t klen;
    char key[];
};

struct sio_map {
    struct sio_map_ent **b;
    size_t nb, n;
};

void  sio_map_init(struct sio_map *m);
void  sio_map_clear(struct sio_map *m);            /* values not freed */
void *sio_map_get(const struct sio_map *m, const char *k, size_t klen);
/* The entry of k (its val may be changed in place), or NULL. */
struct sio_map_ent *sio_map_find(const struct sio_map *m, const char *k, size_t klen);
/* Insert or replace; 0 or -ENOMEM. */
int   sio_map_put(struct sio_map *m, const char *k, size_t klen, void *v);
/* Remove k; returns its value (NULL when absent). */
void *sio_map_del(struct sio_map *m, const char *k, size_t klen);
/* iterate: for (e = sio_map_next(m, NULL, &i); e; e = sio_map_next(m, e, &i));
 * do not delete while iterating (use sio_map_sweep) */
struct sio_map_ent *sio_map_next(const struct sio_map *m, struct sio_map_ent *e, size_t *i);
/* Call fn on every entry; those for which it returns true are removed
 * (their values are not freed: fn may free them before returning true). */
void  sio_map_sweep(struct sio_map *m, bool (*fn)(struct sio_map_ent *e, void *ud), void *ud);

#endif

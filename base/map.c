/* map.c: a small chained hash map from byte strings to pointers (map.h). */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "base/map.h"

static uint32_t hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u;               /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    return h;
}

void sio_map_init(struct sio_map *m)
{
    m->b = NULL;
    m->nb = m->n = 0;
}

void sio_map_clear(struct sio_map *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        struct sio_map_ent *e = m->b[i];
        while (e) {
            struct sio_map_ent *nx = e->next;
            free(e);
            e = nx;
        }
    }
    free(m->b);
    sio_map_init(m);
}

struct sio_map_ent *sio_map_find(const struct sio_map *m, const char *k, size_t klen)
{
    if (!m->nb)
        return NULL;
    uint32_t h = hash(k, klen);
    for (struct sio_map_ent *e = m->b[h & (m->nb - 1)]; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, k, klen) == 0)
            return e;
    return NULL;
}

void *sio_map_get(const struct sio_map *m, const char *k, size_t klen)
{
    struct sio_map_ent *e = sio_map_find(m, k, klen);
    return e ? e->val : NULL;
}

static int grow(struct sio_map *m)
{
    size_t nb = m->nb ? m->nb * 2 : 16;
    struct sio_map_ent **b = calloc(nb, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        struct sio_map_ent *e = m->b[i];
        while (e) {
            struct sio_map_ent *nx = e->next;
            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = nx;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
    return 0;
}

int sio_map_put(struct sio_map *m, const char *k, size_t klen, void *v)
{
    if (m->n >= m->nb && grow(m) < 0)
        return -ENOMEM;
    uint32_t h = hash(k, klen);
    struct sio_map_ent **pp = &m->b[h & (m->nb - 1)];
    for (struct sio_map_ent *e = *pp; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, k, klen) == 0) {
            e->val = v;
            return 0;
        }
    struct sio_map_ent *e = malloc(sizeof *e + klen + 1);
    if (!e)
        return -ENOMEM;
    e->hash = h;
    e->klen = klen;
    memcpy(e->key, k, klen);
    e->key[klen] = 0;
    e->val = v;
    e->next = *pp;
    *pp = e;
    m->n++;
    return 0;
}

void *sio_map_del(struct sio_map *m, const char *k, size_t klen)
{
    if (!m->nb)
        return NULL;
    uint32_t h = hash(k, klen);
    for (struct sio_map_ent **pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
        struct sio_map_ent *e = *pp;
        if (e->hash == h && e->klen == klen && memcmp(e->key, k, klen) == 0) {
            void *v = e->val;
            *pp = e->next;
            free(e);
            m->n--;
            return v;
        }
    }
    return NULL;
}

struct sio_map_ent *sio_map_next(const struct sio_map *m, struct sio_map_ent *e, size_t *i)
{
    if (e && e->next)
        return e->next;
    size_t j = e ? *i + 1 : 0;
    for (; j < m->nb; j++)
        if (m->b[j]) {
            *i = j;
            return m->b[j];
        }
    return NULL;
}

void sio_map_sweep(struct sio_map *m, bool (*fn)(struct sio_map_ent *e, void *ud), void *ud)
{
    for (size_t i = 0; i < m->nb; i++) {
        for (struct sio_map_ent **pp = &m->b[i]; *pp;) {
            struct sio_map_ent *e = *pp;
            if (fn(e, ud)) {
                *pp = e->next;
                free(e);
                m->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

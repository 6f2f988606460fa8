/* map.c: a small chained hash map from byte strings to pointers (gw.h).
 * Keys are copied into the entries; values are borrowed. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include "gw.h"

static uint32_t hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u;               /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    return h;
}

void gw_map_init(struct gw_map *m)
{
    m->b = NULL;
    m->nb = m->n = 0;
}

void gw_map_clear(struct gw_map *m)
{
    for (size_t i = 0; i < m->nb; i++) {
        struct gw_map_ent *e = m->b[i];
        while (e) {
            struct gw_map_ent *nx = e->next;
            free(e);
            e = nx;
        }
    }
    free(m->b);
    gw_map_init(m);
}

void *gw_map_get(const struct gw_map *m, const char *k, size_t klen)
{
    if (!m->nb)
        return NULL;
    uint32_t h = hash(k, klen);
    for (struct gw_map_ent *e = m->b[h & (m->nb - 1)]; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, k, klen) == 0)
            return e->val;
    return NULL;
}

static int grow(struct gw_map *m)
{
    size_t nb = m->nb ? m->nb * 2 : 16;
    struct gw_map_ent **b = calloc(nb, sizeof *b);
    if (!b)
        return -ENOMEM;
    for (size_t i = 0; i < m->nb; i++) {
        struct gw_map_ent *e = m->b[i];
        while (e) {
            struct gw_map_ent *nx = e->next;
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

int gw_map_put(struct gw_map *m, const char *k, size_t klen, void *v)
{
    if (m->n >= m->nb && grow(m) < 0)
        return -ENOMEM;
    uint32_t h = hash(k, klen);
    struct gw_map_ent **pp = &m->b[h & (m->nb - 1)];
    for (struct gw_map_ent *e = *pp; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, k, klen) == 0) {
            e->val = v;
            return 0;
        }
    struct gw_map_ent *e = malloc(sizeof *e + klen + 1);
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

void *gw_map_del(struct gw_map *m, const char *k, size_t klen)
{
    if (!m->nb)
        return NULL;
    uint32_t h = hash(k, klen);
    for (struct gw_map_ent **pp = &m->b[h & (m->nb - 1)]; *pp; pp = &(*pp)->next) {
        struct gw_map_ent *e = *pp;
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

struct gw_map_ent *gw_map_next(const struct gw_map *m, struct gw_map_ent *e, size_t *i)
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

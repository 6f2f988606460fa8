/* vec.h: room in a grow-by-doubling array (internal).
 *
 *   struct item *v; size_t n, cap;
 *   if (SIO_VEC_ROOM(v, n, cap, 16) < 0)
 *       return -ENOMEM;
 *   v[n++] = x;
 *
 * SIO_VEC_ROOM makes room for one more element after the first n: when the
 * array is full it doubles cap (first: the first capacity) and reallocs.
 * On failure the array and cap are unchanged.
 */
#ifndef SIO_CORE_VEC_H
#define SIO_CORE_VEC_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

static inline int sio__vec_grow(void **arr, size_t *cap, size_t elem, size_t first)
{
    size_t nc = *cap ? *cap * 2 : first;
    if (nc <= *cap || nc > SIZE_MAX / elem)
        return -ENOMEM;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

#define SIO_VEC_ROOM(arr, n, cap, first) \
    ((n) < (cap) ? 0 : sio__vec_grow((void **)&(arr), &(cap), sizeof *(arr), (first)))

#endif

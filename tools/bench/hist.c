/* hist.c: merge and quantiles of struct sio_hist (see hist.h). */
#include "tools/bench/hist.h"

#include <math.h>

void sio_hist_merge(struct sio_hist *a, const struct sio_hist *b)
{
    for (unsigned i = 0; i < SIO_HIST_N; i++)
        a->n[i] += b->n[i];
    a->count += b->count;
    if (b->max > a->max)
        a->max = b->max;
}

static uint64_t bucket_mid(unsigned idx)
{
    if (idx < (1u << SIO_HIST_SUB))
        return idx;
    unsigned k = idx - (1u << SIO_HIST_SUB);
    unsigned g = k / SIO_HIST_HALF, s = k % SIO_HIST_HALF;
    unsigned sh = g + 1;
    uint64_t low = (uint64_t)(SIO_HIST_HALF + s) << sh;
    return low + ((uint64_t)1 << sh) / 2;
}

uint64_t sio_hist_quantile(const struct sio_hist *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->count);
    if (want < 1)
        want = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < SIO_HIST_N; i++) {
        seen += h->n[i];
        if (seen >= want) {
            uint64_t v = bucket_mid(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

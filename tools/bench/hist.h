/* hist.h: a log-bucketed latency histogram (HdrHistogram-like) with fixed,
 * bounded memory: values below 128 are exact, above that each power of two
 * is split into 64 buckets (under 1.6% relative error). Plain counters, so
 * histograms of several processes merge by adding them. */
#ifndef SIO_BENCH_HIST_H
#define SIO_BENCH_HIST_H

#include <stdint.h>

#define SIO_HIST_SUB  7
#define SIO_HIST_HALF (1u << (SIO_HIST_SUB - 1))
#define SIO_HIST_N    ((1u << SIO_HIST_SUB) + (64 - SIO_HIST_SUB) * SIO_HIST_HALF)

struct sio_hist {
    uint64_t count;
    uint64_t max;
    uint64_t n[SIO_HIST_N];
};

static inline unsigned sio_hist_index(uint64_t v)
{
    if (v < (1u << SIO_HIST_SUB))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned sh = msb - (SIO_HIST_SUB - 1);
    return (1u << SIO_HIST_SUB) + (msb - SIO_HIST_SUB) * SIO_HIST_HALF +
           (unsigned)((v >> sh) & (SIO_HIST_HALF - 1));
}

static inline void sio_hist_add(struct sio_hist *h, uint64_t v)
{
    h->n[sio_hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

/* a + b into a */
void sio_hist_merge(struct sio_hist *a, const struct sio_hist *b);
/* the value at quantile q (0..1): the middle of its bucket, at most max */
uint64_t sio_hist_quantile(const struct sio_hist *h, double q);

#endif

/* batch.h: the bus's batch frame (internal; docs/BUS.md 2.4).
 *
 * One ZeroMQ frame that carries several items, so that what a thread sends
 * to one destination during one pass of its loop costs one bus message and
 * one wake-up instead of one per envelope:
 *
 *   byte 0         0xc1 (SIO_BUS_BATCH: a byte msgpack never uses, so a
 *                  batch cannot be taken for an envelope, whose first byte
 *                  starts a map, 0x80-0x8f, 0xde or 0xdf)
 *   then per item  4 bytes: its length, unsigned, big-endian
 *                  that many bytes
 *
 * Items are envelopes (hub -> worker, worker -> hub -> gateway), or, from a
 * gateway to the hub, pairs of items: a route header (bus.h) then its
 * envelope. A batch holds at least one item (two for pairs).
 *
 * The writer owns one growing buffer, reset (not freed) after each send, so
 * the steady path does not allocate. The reader borrows the frame's bytes
 * and checks the whole frame before it yields the first item: a malformed
 * batch is refused as a whole, never half handled.
 */
#ifndef SIO_PROTO_BATCH_H
#define SIO_PROTO_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

#define SIO_BUS_BATCH 0xc1
/* A sender sends its batch once it holds this many bytes, without waiting
 * for the end of its pass. */
#define SIO_BUS_BATCH_MAX 65536

/* ---- writer ---- */

struct sio_bus_batch {
    struct sio_buf buf;     /* 0xc1, then the items */
    size_t n;               /* items */
};

void sio_bus_batch_init(struct sio_bus_batch *b);
/* Free the buffer. */
void sio_bus_batch_clear(struct sio_bus_batch *b);
/* Forget the items, keep the buffer. */
static inline void sio_bus_batch_reset(struct sio_bus_batch *b) { b->buf.len = 0; b->n = 0; }
/* Append one item (copied). 0, -EINVAL (longer than 4 GiB - 1) or -ENOMEM
 * (nothing appended). */
int sio_bus_batch_add(struct sio_bus_batch *b, const void *p, size_t len);
/* Append a route header and its envelope as two items. 0, -EINVAL or
 * -ENOMEM (neither appended). */
int sio_bus_batch_add_pair(struct sio_bus_batch *b, const void *route, size_t rlen,
                           const void *env, size_t elen);
/* The i-th item of b (i < b->n), borrowed from b until it changes. Lets a
 * sender with one item (two for pairs) send them as plain frames. */
void sio_bus_batch_item(const struct sio_bus_batch *b, size_t i, const void **p, size_t *len);
/* The frame that carries what b holds: its item when it holds one (sent as
 * the plain frame), else the whole batch. b must hold at least one item. */
void sio_bus_batch_frame(const struct sio_bus_batch *b, const void **p, size_t *len);

/* ---- reader ---- */

enum sio_bus_batch_form {
    SIO_BUS_BATCH_ENVELOPES,    /* every item is an envelope */
    SIO_BUS_BATCH_ROUTED,       /* route, envelope, route, envelope ... */
};

struct sio_bus_batch_reader {
    const uint8_t *p, *end;
};

static inline bool sio_bus_is_batch(const void *data, size_t len)
{
    return len > 0 && *(const uint8_t *)data == SIO_BUS_BATCH;
}
/* Check the frame data[0..len) as a batch of the given form. Returns the
 * number of items (> 0), or -EINVAL with *why set: not a batch, empty, a
 * truncated length, a length past the end, an odd number of items for
 * ROUTED, or an envelope item that does not start a msgpack map. */
/* Call fn(ud, envelope, length) for each envelope a frame carries: the
 * frame itself when it is not a batch, else each item of the batch, in
 * order. 0; or -EINVAL with *why set when the batch is malformed (checked
 * whole first, so fn is never called for part of it). */
int sio_bus_envelopes_each(const void *data, size_t len,
                           void (*fn)(void *ud, const void *env, size_t env_len), void *ud,
                           const char **why);
long sio_bus_batch_open(struct sio_bus_batch_reader *r, const void *data, size_t len,
                        enum sio_bus_batch_form form, const char **why);
/* The next item of an opened batch: true and *p, *len (borrowed from the
 * frame), or false at the end. */
bool sio_bus_batch_next(struct sio_bus_batch_reader *r, const void **p, size_t *len);

#endif

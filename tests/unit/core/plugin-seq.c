/* plugin-seq.c: reports which shard thread ran each event (routing tests).
 * Serves "/seq" and the pattern "/pat*". Event `seq` (n) acks with
 * [n, shard tag], the tag being a number per worker thread. */
#include <pthread.h>
#include <sio/plugin.h>

static int next_tag = 1;
static __thread int my_tag;

static json_t *on_seq(struct sio_ctx *ctx, json_t *args)
{
    (void)ctx;
    if (!my_tag)
        my_tag = __atomic_fetch_add(&next_tag, 1, __ATOMIC_RELAXED);
    return json_pack("[Oi]", json_array_get(args, 0), my_tag);
}

static json_t *on_nsp(struct sio_ctx *ctx, json_t *args)
{
    (void)args;
    return json_pack("[s]", sio_ctx_nsp(ctx));
}

SIO_PLUGIN(.name = "seq", .nsps = SIO_NSPS("/seq", "/pat*"),
           .events = SIO_EVENTS({ "seq", on_seq }, { "nsp", on_nsp }));

/* test-batch.c: the bus's batch frame: what the writer builds the reader
 * gives back item by item, byte for byte as docs/BUS.md 2.4 shows, and
 * every malformed batch is refused whole. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "proto/batch.h"
#include "proto/bus.h"
#include "proto/envelope.h"

static void encode(struct sio_buf *b, enum sio_env_kind kind, const char *sid)
{
    struct sio_env env;
    sio_env_init(&env, kind);
    env.nsp = (struct sio_str){ "/", 1 };
    env.sid = (struct sio_str){ sid, strlen(sid) };
    sio_buf_reset(b);
    cr_assert_eq(sio_env_encode(&env, b), 0);
}

Test(batch, envelopes_come_back_in_order)
{
    struct sio_bus_batch w;
    sio_bus_batch_init(&w);
    struct sio_buf e = SIO_BUF_INIT;
    const char *sids[] = { "a", "bb", "ccc" };
    for (int round = 0; round < 2; round++) {       /* the buffer is reused */
        sio_bus_batch_reset(&w);
        for (int i = 0; i < 3; i++) {
            encode(&e, SIO_ENV_EVENT, sids[i]);
            cr_assert_eq(sio_bus_batch_add(&w, e.data, e.len), 0);
        }
        cr_assert_eq(w.n, 3);
        cr_assert_eq(w.buf.data[0], 0xc1);
        struct sio_bus_batch_reader r;
        const char *why = NULL;
        cr_assert_eq(sio_bus_batch_open(&r, w.buf.data, w.buf.len, SIO_BUS_BATCH_ENVELOPES, &why), 3);
        const void *p;
        size_t len;
        for (int i = 0; i < 3; i++) {
            cr_assert(sio_bus_batch_next(&r, &p, &len));
            struct sio_env env;
            cr_assert_eq(sio_env_decode(p, len, &env), 0);
            cr_assert_eq(env.kind, SIO_ENV_EVENT);
            cr_assert_eq(env.sid.len, strlen(sids[i]));
            cr_assert_eq(memcmp(env.sid.p, sids[i], env.sid.len), 0);
            sio_env_clear(&env);
            const void *q;
            size_t ql;
            sio_bus_batch_item(&w, (size_t)i, &q, &ql);
            cr_assert_eq(q, p);
            cr_assert_eq(ql, len);
        }
        cr_assert_not(sio_bus_batch_next(&r, &p, &len));
    }
    sio_buf_clear(&e);
    sio_bus_batch_clear(&w);
}

Test(batch, bytes_as_documented)
{
    /* docs/BUS.md 2.4: two items, "\x81\xa1v\x01" ({"v":1}) and the same */
    struct sio_bus_batch w;
    sio_bus_batch_init(&w);
    static const uint8_t item[] = { 0x81, 0xa1, 0x76, 0x01 };
    cr_assert_eq(sio_bus_batch_add(&w, item, sizeof item), 0);
    cr_assert_eq(sio_bus_batch_add(&w, item, sizeof item), 0);
    static const uint8_t want[] = { 0xc1, 0, 0, 0, 4, 0x81, 0xa1, 0x76, 0x01,
                                    0, 0, 0, 4, 0x81, 0xa1, 0x76, 0x01 };
    cr_assert_eq(w.buf.len, sizeof want);
    cr_assert_eq(memcmp(w.buf.data, want, sizeof want), 0);
    sio_bus_batch_clear(&w);
}

Test(batch, routed_pairs)
{
    struct sio_bus_batch w;
    sio_bus_batch_init(&w);
    struct sio_buf e = SIO_BUF_INIT;
    char route[64];
    int rl = sio_bus_route_make(route, sizeof route, SIO_ENV_EVENT, "/chat", 5, "abc", 3);
    cr_assert_gt(rl, 0);
    encode(&e, SIO_ENV_EVENT, "abc");
    cr_assert_eq(sio_bus_batch_add_pair(&w, route, (size_t)rl, e.data, e.len), 0);
    cr_assert_eq(sio_bus_batch_add_pair(&w, route, (size_t)rl, e.data, e.len), 0);
    struct sio_bus_batch_reader r;
    cr_assert_eq(sio_bus_batch_open(&r, w.buf.data, w.buf.len, SIO_BUS_BATCH_ROUTED, NULL), 4);
    /* a routed batch is not a batch of envelopes: its routes are not maps */
    const char *why = NULL;
    cr_assert_eq(sio_bus_batch_open(&r, w.buf.data, w.buf.len, SIO_BUS_BATCH_ENVELOPES, &why),
                 -EINVAL);
    cr_assert_str_eq(why, "item is not an envelope");
    cr_assert_eq(sio_bus_batch_open(&r, w.buf.data, w.buf.len, SIO_BUS_BATCH_ROUTED, NULL), 4);
    const void *p;
    size_t len;
    for (int i = 0; i < 2; i++) {
        cr_assert(sio_bus_batch_next(&r, &p, &len));
        int kind;
        const char *nsp, *sid;
        size_t nl, sl;
        cr_assert_eq(sio_bus_route_parse(p, len, &kind, &nsp, &nl, &sid, &sl), 0);
        cr_assert_eq(kind, SIO_ENV_EVENT);
        cr_assert_eq(nl, 5);
        cr_assert(sio_bus_batch_next(&r, &p, &len));
        cr_assert_eq(len, e.len);
        cr_assert_eq(memcmp(p, e.data, len), 0);
    }
    cr_assert_not(sio_bus_batch_next(&r, &p, &len));
    sio_buf_clear(&e);
    sio_bus_batch_clear(&w);
}

static const char *refused(const void *data, size_t len, enum sio_bus_batch_form form)
{
    struct sio_bus_batch_reader r;
    const char *why = NULL;
    cr_assert_eq(sio_bus_batch_open(&r, data, len, form, &why), -EINVAL);
    cr_assert_not_null(why);
    return why;
}

Test(batch, malformed_batches_are_refused)
{
    static const uint8_t empty[] = { 0xc1 };
    cr_assert_str_eq(refused(empty, sizeof empty, SIO_BUS_BATCH_ENVELOPES), "empty batch");
    static const uint8_t trunc_len[] = { 0xc1, 0, 0, 0, 1, 0x80, 0, 0 };
    cr_assert_str_eq(refused(trunc_len, sizeof trunc_len, SIO_BUS_BATCH_ENVELOPES),
                     "truncated item length");
    static const uint8_t past_end[] = { 0xc1, 0, 0, 0, 9, 0x81, 0xa1, 0x76, 0x01 };
    cr_assert_str_eq(refused(past_end, sizeof past_end, SIO_BUS_BATCH_ENVELOPES),
                     "item length past the end");
    static const uint8_t huge[] = { 0xc1, 0xff, 0xff, 0xff, 0xff, 0x80 };
    cr_assert_str_eq(refused(huge, sizeof huge, SIO_BUS_BATCH_ENVELOPES),
                     "item length past the end");
    static const uint8_t not_env[] = { 0xc1, 0, 0, 0, 2, 0x92, 0x01 };     /* an array */
    cr_assert_str_eq(refused(not_env, sizeof not_env, SIO_BUS_BATCH_ENVELOPES),
                     "item is not an envelope");
    static const uint8_t zero_len[] = { 0xc1, 0, 0, 0, 0 };
    cr_assert_str_eq(refused(zero_len, sizeof zero_len, SIO_BUS_BATCH_ENVELOPES),
                     "item is not an envelope");
    static const uint8_t odd[] = { 0xc1, 0, 0, 0, 3, 0x02, 0x2f, 0x00 };
    cr_assert_str_eq(refused(odd, sizeof odd, SIO_BUS_BATCH_ROUTED), "route without its envelope");
    static const uint8_t envelope[] = { 0x81, 0xa1, 0x76, 0x01 };         /* a plain envelope */
    cr_assert_str_eq(refused(envelope, sizeof envelope, SIO_BUS_BATCH_ENVELOPES), "not a batch");
    cr_assert_str_eq(refused(NULL, 0, SIO_BUS_BATCH_ENVELOPES), "not a batch");
    cr_assert_not(sio_bus_is_batch(envelope, sizeof envelope));
    cr_assert(sio_bus_is_batch(empty, sizeof empty));
}

Test(batch, writer_refuses_bad_arguments)
{
    struct sio_bus_batch w;
    sio_bus_batch_init(&w);
    cr_assert_eq(sio_bus_batch_add(&w, NULL, 3), -EINVAL);
    cr_assert_eq(sio_bus_batch_add_pair(&w, "x", 1, NULL, 2), -EINVAL);
    cr_assert_eq(w.n, 0);
    cr_assert_eq(w.buf.len, 0);
    sio_bus_batch_clear(&w);
}

struct seen {
    int n;
    char sids[4][8];
};

static void collect(void *ud, const void *p, size_t len)
{
    struct seen *s = ud;
    struct sio_env env;
    cr_assert_eq(sio_env_decode(p, len, &env), 0);
    cr_assert_lt(s->n, 4);
    snprintf(s->sids[s->n++], sizeof s->sids[0], "%.*s", (int)env.sid.len, env.sid.p);
    sio_env_clear(&env);
}

/* What the gateways, the shards and the publishing bridge read: a plain
 * envelope is one, a batch gives its envelopes in order, and a broken batch
 * gives none and says why. */
Test(batch, envelopes_each_reads_plain_and_batched_frames)
{
    struct sio_buf e = SIO_BUF_INIT;
    struct seen s = { 0 };
    const char *why = NULL;
    encode(&e, SIO_ENV_ACK, "solo");
    cr_assert_eq(sio_bus_envelopes_each(e.data, e.len, collect, &s, &why), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.sids[0], "solo");

    struct sio_bus_batch w;
    sio_bus_batch_init(&w);
    const char *sids[] = { "x", "yy", "zzz" };
    for (int i = 0; i < 3; i++) {
        encode(&e, SIO_ENV_ACK, sids[i]);
        cr_assert_eq(sio_bus_batch_add(&w, e.data, e.len), 0);
    }
    memset(&s, 0, sizeof s);
    cr_assert_eq(sio_bus_envelopes_each(w.buf.data, w.buf.len, collect, &s, &why), 0);
    cr_assert_eq(s.n, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(s.sids[i], sids[i]);

    memset(&s, 0, sizeof s);
    cr_assert_eq(sio_bus_envelopes_each(w.buf.data, w.buf.len - 1, collect, &s, &why), -EINVAL);
    cr_assert_eq(s.n, 0, "no envelope of a broken batch is handled");
    cr_assert_not_null(why);
    sio_bus_batch_clear(&w);
    sio_buf_clear(&e);
}

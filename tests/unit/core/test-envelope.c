/* test-envelope.c: the bus envelope codec (proto/envelope.c), including the
 * exact bytes that docs/BUS.md shows and envelopes packed by hand with
 * msgpack's own API, as a Python or Node.js emitter would. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include "proto/envelope.h"
#include <sio/error.h>

#define S(lit) ((struct sio_str){ (lit), sizeof(lit) - 1 })

static const enum sio_env_kind all_kinds[] = {
    SIO_ENV_CONNECT, SIO_ENV_EVENT, SIO_ENV_CLIENT_ACK, SIO_ENV_DISCONNECT, SIO_ENV_RAW,
    SIO_ENV_EMIT, SIO_ENV_ACK, SIO_ENV_JOIN, SIO_ENV_LEAVE, SIO_ENV_CLOSE_ROOM,
    SIO_ENV_DISCONNECT_CMD, SIO_ENV_CONNECT_OK, SIO_ENV_CONNECT_ERR, SIO_ENV_SESSION,
    SIO_ENV_RAW_SEND, SIO_ENV_HELLO, SIO_ENV_HEARTBEAT, SIO_ENV_BYE,
    SIO_ENV_EVENT_DONE, SIO_ENV_TAKEOVER, SIO_ENV_GATEWAY_GONE,
};
#define NKINDS (sizeof(all_kinds) / sizeof(all_kinds[0]))

static void assert_str(struct sio_str s, const char *want, size_t len)
{
    cr_assert_not_null(s.p);
    cr_assert_eq(s.len, len, "length %zu, want %zu", s.len, len);
    cr_assert_eq(memcmp(s.p, want, len), 0);
}
#define ASSERT_STR(s, lit) assert_str((s), (lit), sizeof(lit) - 1)

static void assert_same_str(struct sio_str a, struct sio_str b)
{
    cr_assert_eq(a.p == NULL, b.p == NULL);
    if (a.p)
        assert_str(a, b.p, b.len);
}

static void assert_same_list(const struct sio_str *a, size_t na, const struct sio_str *b, size_t nb)
{
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_same_str(a[i], b[i]);
}

/* Every field set, bytes 0x00 and 0xff in the binaries. */
static struct sio_str full_rooms[] = { { "r1", 2 }, { "r2", 2 }, { "", 0 } };
static struct sio_str full_xr[] = { { "muted", 5 } };
static struct sio_str full_xs[] = { { "s1", 2 }, { "s2", 2 } };
static struct sio_str full_r2[] = { { "new", 3 } };
static struct sio_str full_hdr[] = { { "host", 4 }, { "a", 1 }, { "cookie", 6 }, { "b=c", 3 } };
static const uint8_t bin0[] = { 0x00, 0xff, 0x00, 0x7f, 0x80, 0xff };
static const uint8_t bin2[] = { 0xff };
static struct sio_env_bin full_bins[] = {
    { bin0, sizeof(bin0) }, { (const uint8_t *)"", 0 }, { bin2, 1 },
};

static void fill_full(struct sio_env *e, enum sio_env_kind kind)
{
    sio_env_init(e, kind);
    e->gw = S("gw123456");
    e->nsp = S("/chat");
    e->sid = S("sid-1");
    e->id = 42;
    e->data = S("[\"a\",{\"_placeholder\":true,\"num\":0},\"\\u0000\"]");
    e->bins = full_bins;
    e->nbins = 3;
    e->binary = true;
    e->close_conn = true;
    e->volatile_ = true;
    e->reason = S("server namespace disconnect");
    e->rooms = full_rooms;
    e->nrooms = 3;
    e->except_rooms = full_xr;
    e->nexcept_rooms = 1;
    e->except_sids = full_xs;
    e->nexcept_sids = 2;
    e->rooms2 = full_r2;
    e->nrooms2 = 1;
    e->headers = full_hdr;
    e->nheaders = 2;
    e->query = S("EIO=4&transport=polling");
    e->remote = S("127.0.0.1:5555");
    e->session = (struct sio_str){ "\x00\x01\xff", 3 };
    e->ts = 1700000000123;
    e->confirm = 42;
    e->origin = S("0123456789abcdef0123456789abcdef");
}

static void assert_same_env(const struct sio_env *a, const struct sio_env *b)
{
    cr_assert_eq(a->version, (uint32_t)SIO_ENV_VERSION);
    cr_assert_eq(a->kind, b->kind);
    assert_same_str(a->gw, b->gw);
    assert_same_str(a->nsp, b->nsp);
    assert_same_str(a->sid, b->sid);
    cr_assert_eq(a->id, b->id);
    assert_same_str(a->data, b->data);
    cr_assert_eq(a->nbins, b->nbins);
    for (size_t i = 0; i < a->nbins; i++) {
        cr_assert_eq(a->bins[i].len, b->bins[i].len);
        cr_assert_not_null(a->bins[i].p);
        cr_assert_eq(memcmp(a->bins[i].p, b->bins[i].p, b->bins[i].len), 0);
    }
    cr_assert_eq(a->binary, b->binary);
    cr_assert_eq(a->close_conn, b->close_conn);
    cr_assert_eq(a->volatile_, b->volatile_);
    assert_same_str(a->reason, b->reason);
    assert_same_list(a->rooms, a->nrooms, b->rooms, b->nrooms);
    assert_same_list(a->except_rooms, a->nexcept_rooms, b->except_rooms, b->nexcept_rooms);
    assert_same_list(a->except_sids, a->nexcept_sids, b->except_sids, b->nexcept_sids);
    assert_same_list(a->rooms2, a->nrooms2, b->rooms2, b->nrooms2);
    assert_same_list(a->headers, 2 * a->nheaders, b->headers, 2 * b->nheaders);
    assert_same_str(a->query, b->query);
    assert_same_str(a->remote, b->remote);
    assert_same_str(a->session, b->session);
    cr_assert_eq(a->ts, b->ts);
    cr_assert_eq(a->confirm, b->confirm);
    assert_same_str(a->origin, b->origin);
}

/* Decode from an exact-size heap copy so that ASan sees any over-read. */
static int decode_copy(const void *p, size_t len, struct sio_env *env, void **copy)
{
    *copy = malloc(len ? len : 1);
    cr_assert_not_null(*copy);
    if (len)
        memcpy(*copy, p, len);
    return sio_env_decode(*copy, len, env);
}

static int decode_bytes(const void *p, size_t len)
{
    struct sio_env env;
    void *copy;
    int rc = decode_copy(p, len, &env, &copy);
    sio_env_clear(&env);
    free(copy);
    return rc;
}

Test(envelope, kind_names_are_lowercase)
{
    cr_assert_str_eq(sio_env_kind_name(SIO_ENV_EMIT), "emit");
    cr_assert_str_eq(sio_env_kind_name(SIO_ENV_CLIENT_ACK), "client_ack");
    cr_assert_str_eq(sio_env_kind_name(SIO_ENV_DISCONNECT), "disconnect");
    cr_assert_str_eq(sio_env_kind_name(SIO_ENV_DISCONNECT_CMD), "disconnect_cmd");
    cr_assert_str_eq(sio_env_kind_name(SIO_ENV_CONNECT_ERR), "connect_err");
    cr_assert_str_eq(sio_env_kind_name(SIO_ENV_HEARTBEAT), "heartbeat");
    cr_assert_str_eq(sio_env_kind_name(0), "?");
    cr_assert_str_eq(sio_env_kind_name(6), "?");
    cr_assert_str_eq(sio_env_kind_name(-1), "?");
    for (size_t i = 0; i < NKINDS; i++) {
        const char *n = sio_env_kind_name(all_kinds[i]);
        cr_assert_neq(strcmp(n, "?"), 0);
        for (const char *c = n; *c; c++)
            cr_assert((*c >= 'a' && *c <= 'z') || *c == '_', "%s", n);
        for (size_t j = 0; j < i; j++)
            cr_assert_neq(strcmp(n, sio_env_kind_name(all_kinds[j])), 0, "%s twice", n);
    }
}

Test(envelope, init_sets_version_and_no_id)
{
    struct sio_env e;
    memset(&e, 0x5a, sizeof(e));
    sio_env_init(&e, SIO_ENV_ACK);
    cr_assert_eq(e.version, (uint32_t)SIO_ENV_VERSION);
    cr_assert_eq(e.kind, SIO_ENV_ACK);
    cr_assert_eq(e.id, -1);
    cr_assert_null(e.nsp.p);
    cr_assert_null(e.rooms);
    cr_assert_null(e.priv);
    cr_assert_eq(e.ts, 0);
}

Test(envelope, every_kind_round_trips_every_field)
{
    for (size_t i = 0; i < NKINDS; i++) {
        struct sio_env in, out;
        struct sio_buf b = SIO_BUF_INIT;
        fill_full(&in, all_kinds[i]);
        cr_assert_eq(sio_env_encode(&in, &b), 0, "%s", sio_env_kind_name(all_kinds[i]));
        cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0, "%s", sio_env_kind_name(in.kind));
        assert_same_env(&out, &in);
        sio_env_clear(&out);
        sio_buf_clear(&b);
    }
}

Test(envelope, every_kind_round_trips_with_no_field)
{
    for (size_t i = 0; i < NKINDS; i++) {
        struct sio_env in, out;
        struct sio_buf b = SIO_BUF_INIT;
        sio_env_init(&in, all_kinds[i]);
        cr_assert_eq(sio_env_encode(&in, &b), 0);
        /* map of 2: "v" 1, "k" kind */
        const uint8_t want[] = { 0x82, 0xa1, 'v', 0x01, 0xa1, 'k', (uint8_t)all_kinds[i] };
        cr_assert_eq(b.len, sizeof(want));
        cr_assert_eq(memcmp(b.data, want, sizeof(want)), 0);
        cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
        assert_same_env(&out, &in);
        cr_assert_null(out.priv);
        sio_env_clear(&out);
        sio_buf_clear(&b);
    }
}

Test(envelope, id_zero_large_and_negative_ts_round_trip)
{
    int64_t ids[] = { 0, 1, 127, 128, 65535, 65536, INT64_MAX };
    int64_t tss[] = { -1, -129, INT64_MIN, 1, INT64_MAX };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct sio_env in, out;
        struct sio_buf b = SIO_BUF_INIT;
        sio_env_init(&in, SIO_ENV_ACK);
        in.id = ids[i];
        in.ts = tss[i % 5];
        cr_assert_eq(sio_env_encode(&in, &b), 0);
        cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
        cr_assert_eq(out.id, ids[i]);
        cr_assert_eq(out.ts, tss[i % 5]);
        sio_env_clear(&out);
        sio_buf_clear(&b);
    }
}

Test(envelope, empty_strings_are_present_not_absent)
{
    struct sio_env in, out;
    struct sio_buf b = SIO_BUF_INIT;
    sio_env_init(&in, SIO_ENV_RAW);
    in.nsp = (struct sio_str){ "", 0 };
    in.sid = (struct sio_str){ NULL, 0 };
    in.data = S("");
    cr_assert_eq(sio_env_encode(&in, &b), 0);
    cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
    cr_assert_not_null(out.nsp.p);
    cr_assert_eq(out.nsp.len, 0);
    cr_assert_not_null(out.data.p);
    cr_assert_null(out.sid.p);
    sio_env_clear(&out);
    sio_buf_clear(&b);
}

Test(envelope, org_empty_is_present_and_a_bin_is_refused)
{
    struct sio_env in, out;
    struct sio_buf b = SIO_BUF_INIT;
    sio_env_init(&in, SIO_ENV_EMIT);
    in.nsp = S("/");
    in.data = S("[\"x\"]");
    in.origin = (struct sio_str){ "", 0 };      /* from a broker, host id unknown */
    cr_assert_eq(sio_env_encode(&in, &b), 0);
    cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
    cr_assert_not_null(out.origin.p);
    cr_assert_eq(out.origin.len, 0);
    sio_env_clear(&out);
    /* {"v":1,"k":16,"nsp":"/","org":<bin "x">} */
    static const uint8_t bad[] = { 0x84, 0xa1, 'v', 1, 0xa1, 'k', 0x10, 0xa3, 'n', 's', 'p',
                                   0xa1, '/', 0xa3, 'o', 'r', 'g', 0xc4, 1, 'x' };
    cr_assert_eq(sio_env_decode(bad, sizeof bad, &out), SIO_ERR_ENVELOPE);
    sio_buf_clear(&b);
}

/* The worked example of docs/BUS.md, byte for byte. */
static const uint8_t doc_emit[] = {
    0x85,
    0xa1, 'v', 0x01,
    0xa1, 'k', 0x10,
    0xa3, 'n', 's', 'p', 0xa1, '/',
    0xa4, 'd', 'a', 't', 'a',
    0xad, '[', '"', 'c', 'h', 'a', 't', '"', ',', '"', 'h', 'i', '"', ']',
    0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xa5, 'l', 'o', 'b', 'b', 'y',
};

Test(envelope, doc_worked_example_bytes)
{
    struct sio_env e;
    struct sio_buf b = SIO_BUF_INIT;
    struct sio_str lobby = S("lobby");
    sio_env_init(&e, SIO_ENV_EMIT);
    e.nsp = S("/");
    e.data = S("[\"chat\",\"hi\"]");
    e.rooms = &lobby;
    e.nrooms = 1;
    cr_assert_eq(sio_env_encode(&e, &b), 0);
    cr_assert_eq(b.len, sizeof(doc_emit));
    cr_assert_eq(memcmp(b.data, doc_emit, sizeof(doc_emit)), 0);
    sio_buf_clear(&b);
}

Test(envelope, decoded_strings_borrow_the_input)
{
    struct sio_env in, out;
    struct sio_buf b = SIO_BUF_INIT;
    fill_full(&in, SIO_ENV_CONNECT);
    cr_assert_eq(sio_env_encode(&in, &b), 0);
    cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
    const char *lo = (const char *)b.data, *hi = lo + b.len;
#define INSIDE(s) cr_assert((s).p >= lo && (s).p + (s).len <= hi, #s " is not borrowed")
    INSIDE(out.gw); INSIDE(out.nsp); INSIDE(out.sid); INSIDE(out.data); INSIDE(out.reason);
    INSIDE(out.query); INSIDE(out.remote); INSIDE(out.session);
    for (size_t i = 0; i < out.nrooms; i++) INSIDE(out.rooms[i]);
    for (size_t i = 0; i < 2 * out.nheaders; i++) INSIDE(out.headers[i]);
    for (size_t i = 0; i < out.nbins; i++)
        cr_assert((const char *)out.bins[i].p >= lo &&
                  (const char *)out.bins[i].p + out.bins[i].len <= hi);
#undef INSIDE
    /* the arrays themselves are ours, not the buffer's */
    cr_assert_not_null(out.priv);
    cr_assert((const char *)out.rooms < lo || (const char *)out.rooms >= hi);
    /* a write to the buffer shows through: nothing was copied */
    ((char *)b.data)[out.nsp.p - lo + 1] = 'X';
    ASSERT_STR(out.nsp, "/Xhat");
    sio_env_clear(&out);
    cr_assert_null(out.rooms);
    cr_assert_null(out.priv);
    sio_buf_clear(&b);
}

Test(envelope, binary_attachments_keep_every_byte)
{
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    uint8_t big[70000];
    memset(big, 0xff, sizeof(big));
    big[0] = 0;
    big[sizeof(big) - 1] = 0;
    struct sio_env_bin bins[] = { { all, 256 }, { big, sizeof(big) }, { (const uint8_t *)"\0", 1 } };
    struct sio_env in, out;
    struct sio_buf b = SIO_BUF_INIT;
    sio_env_init(&in, SIO_ENV_EMIT);
    in.nsp = S("/");
    in.data = S("[\"file\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1},"
                "{\"_placeholder\":true,\"num\":2}]");
    in.bins = bins;
    in.nbins = 3;
    cr_assert_eq(sio_env_encode(&in, &b), 0);
    cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
    cr_assert_eq(out.nbins, 3);
    cr_assert_eq(out.bins[0].len, 256);
    cr_assert_eq(memcmp(out.bins[0].p, all, 256), 0);
    cr_assert_eq(out.bins[1].len, sizeof(big));
    cr_assert_eq(memcmp(out.bins[1].p, big, sizeof(big)), 0);
    cr_assert_eq(out.bins[2].len, 1);
    cr_assert_eq(out.bins[2].p[0], 0);
    sio_env_clear(&out);
    sio_buf_clear(&b);
}

Test(envelope, raw_binary_data_is_a_msgpack_bin)
{
    struct sio_env in, out;
    struct sio_buf b = SIO_BUF_INIT;
    sio_env_init(&in, SIO_ENV_RAW_SEND);
    in.nsp = S("");
    in.sid = S("engine-sid");
    in.data = (struct sio_str){ "\xff\x00\xfe", 3 };
    in.binary = true;
    cr_assert_eq(sio_env_encode(&in, &b), 0);
    const uint8_t want[] = { 0xa4, 'd', 'a', 't', 'a', 0xc4, 0x03, 0xff, 0x00, 0xfe };
    cr_assert_not_null(memmem(b.data, b.len, want, sizeof(want)));
    cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
    cr_assert(out.binary);
    assert_str(out.data, "\xff\x00\xfe", 3);
    sio_env_clear(&out);
    sio_buf_clear(&b);
}

Test(envelope, encode_appends_to_the_buffer)
{
    struct sio_env in, out;
    struct sio_buf b = SIO_BUF_INIT;
    sio_buf_append(&b, "xyz", 3);
    sio_env_init(&in, SIO_ENV_HELLO);
    struct sio_str nsps[] = { S("/"), S("/chat"), S("/admin*") };
    in.rooms = nsps;
    in.nrooms = 3;
    cr_assert_eq(sio_env_encode(&in, &b), 0);
    cr_assert_eq(memcmp(b.data, "xyz", 3), 0);
    cr_assert_eq(sio_env_decode(b.data + 3, b.len - 3, &out), 0);
    cr_assert_eq(out.nrooms, 3);
    ASSERT_STR(out.rooms[2], "/admin*");
    sio_env_clear(&out);
    sio_buf_clear(&b);
}

Test(envelope, encode_rejects_what_decode_would)
{
    struct sio_env e;
    struct sio_buf b = SIO_BUF_INIT;
    sio_buf_append(&b, "keep", 4);

    sio_env_init(&e, 0);
    cr_assert_eq(sio_env_encode(&e, &b), -EINVAL);
    sio_env_init(&e, (enum sio_env_kind)99);
    cr_assert_eq(sio_env_encode(&e, &b), -EINVAL);

    sio_env_init(&e, SIO_ENV_EMIT);
    e.nsp = (struct sio_str){ NULL, 3 };
    cr_assert_eq(sio_env_encode(&e, &b), -EINVAL);

    sio_env_init(&e, SIO_ENV_EMIT);
    e.nrooms = 1;
    cr_assert_eq(sio_env_encode(&e, &b), -EINVAL);

    sio_env_init(&e, SIO_ENV_EMIT);
    e.nbins = 1;
    cr_assert_eq(sio_env_encode(&e, &b), -EINVAL);

    struct sio_str *many = calloc(SIO_ENV_MAX_LIST + 1, sizeof(*many));
    sio_env_init(&e, SIO_ENV_JOIN);
    e.rooms2 = many;
    e.nrooms2 = SIO_ENV_MAX_LIST + 1;
    cr_assert_eq(sio_env_encode(&e, &b), -EINVAL);
    e.headers = many;
    e.nrooms2 = 0;
    e.nheaders = SIO_ENV_MAX_LIST / 2 + 1;
    cr_assert_eq(sio_env_encode(&e, &b), -EINVAL);
    free(many);

    cr_assert_eq(b.len, 4, "a failed encode must not leave bytes behind");
    sio_buf_clear(&b);
}

Test(envelope, max_list_is_accepted_one_more_is_not)
{
    struct sio_str *many = calloc(SIO_ENV_MAX_LIST, sizeof(*many));
    struct sio_env in, out;
    struct sio_buf b = SIO_BUF_INIT;
    sio_env_init(&in, SIO_ENV_LEAVE);
    in.rooms = many;
    in.nrooms = SIO_ENV_MAX_LIST;
    cr_assert_eq(sio_env_encode(&in, &b), 0);
    cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
    cr_assert_eq(out.nrooms, SIO_ENV_MAX_LIST);
    sio_env_clear(&out);
    free(many);

    /* one more, packed by hand: "rooms" array32 of 65537 empty strings */
    const uint8_t head[] = { 0x83, 0xa1, 'v', 0x01, 0xa1, 'k', 0x13,
                             0xa5, 'r', 'o', 'o', 'm', 's', 0xdd, 0x00, 0x01, 0x00, 0x01 };
    sio_buf_reset(&b);
    sio_buf_append(&b, head, sizeof(head));
    for (int i = 0; i < SIO_ENV_MAX_LIST + 1; i++)
        sio_buf_append_byte(&b, 0xa0);
    cr_assert_eq(decode_bytes(b.data, b.len), SIO_ERR_ENVELOPE);
    /* same for bins */
    const uint8_t headb[] = { 0x83, 0xa1, 'v', 0x01, 0xa1, 'k', 0x10,
                              0xa4, 'b', 'i', 'n', 's', 0xdd, 0x00, 0x01, 0x00, 0x01 };
    sio_buf_reset(&b);
    sio_buf_append(&b, headb, sizeof(headb));
    for (int i = 0; i < SIO_ENV_MAX_LIST + 1; i++)
        sio_buf_append(&b, "\xc4\x00", 2);
    cr_assert_eq(decode_bytes(b.data, b.len), SIO_ERR_ENVELOPE);
    sio_buf_clear(&b);
}

Test(envelope, every_truncation_is_rejected)
{
    for (size_t k = 0; k < NKINDS; k += 5) {
        struct sio_env in;
        struct sio_buf b = SIO_BUF_INIT;
        fill_full(&in, all_kinds[k]);
        cr_assert_eq(sio_env_encode(&in, &b), 0);
        for (size_t n = 0; n < b.len; n++)
            cr_assert_eq(decode_bytes(b.data, n), SIO_ERR_ENVELOPE, "prefix %zu of %zu", n, b.len);
        cr_assert_eq(decode_bytes(b.data, b.len), 0);
        /* and one byte too many */
        sio_buf_append_byte(&b, 0xc0);
        cr_assert_eq(decode_bytes(b.data, b.len), SIO_ERR_ENVELOPE);
        sio_buf_clear(&b);
    }
    cr_assert_eq(sio_env_decode(NULL, 0, &(struct sio_env){ 0 }), SIO_ERR_ENVELOPE);
}

Test(envelope, not_a_map_is_rejected)
{
    static const struct { const char *b; size_t n; } cases[] = {
        { "\x91\x01", 2 },          /* [1] */
        { "\x01", 1 },              /* 1 */
        { "\xa1v", 2 },             /* "v" */
        { "\xc0", 1 },              /* nil */
        { "\xc3", 1 },              /* true */
        { "\xc4\x01v", 3 },         /* bin */
        { "\xc1", 1 },              /* reserved */
        { "\x92\xa1v\x01", 4 },     /* ["v", 1] */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(decode_bytes(cases[i].b, cases[i].n), SIO_ERR_ENVELOPE, "case %zu", i);
}

/* An envelope {"v":1,"k":16,<key>:<value bytes>}. */
static size_t with_key(uint8_t *out, const char *key, const void *val, size_t vlen)
{
    size_t n = 0, kl = strlen(key);
    const uint8_t head[] = { 0x83, 0xa1, 'v', 0x01, 0xa1, 'k', 0x10 };
    memcpy(out, head, sizeof(head));
    n += sizeof(head);
    out[n++] = (uint8_t)(0xa0 | kl);
    memcpy(out + n, key, kl);
    n += kl;
    memcpy(out + n, val, vlen);
    return n + vlen;
}

static int decode_with_key(const char *key, const void *val, size_t vlen)
{
    uint8_t buf[256];
    return decode_bytes(buf, with_key(buf, key, val, vlen));
}
#define DKEY(key, lit) decode_with_key((key), (lit), sizeof(lit) - 1)

Test(envelope, version_is_checked_first)
{
    /* missing */
    cr_assert_eq(decode_bytes("\x81\xa1k\x10", 4), SIO_ERR_VERSION);
    cr_assert_eq(decode_bytes("\x80", 1), SIO_ERR_VERSION);
    /* unsupported or not the integer 1 */
    static const char *bad[] = { "\x02", "\x00", "\xff", "\xa1\x31", "\xc0", "\xc3",
                                 "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", "\xcd\x01\x01" };
    static const size_t badlen[] = { 1, 1, 1, 2, 1, 1, 9, 3 };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t buf[32];
        size_t n = 0;
        buf[n++] = 0x82;
        buf[n++] = 0xa1; buf[n++] = 'v';
        memcpy(buf + n, bad[i], badlen[i]);
        n += badlen[i];
        buf[n++] = 0xa1; buf[n++] = 'k'; buf[n++] = 0x10;
        cr_assert_eq(decode_bytes(buf, n), SIO_ERR_VERSION, "case %zu", i);
    }
    /* a version 2 envelope may change the types of known keys: still VERSION */
    cr_assert_eq(decode_bytes("\x83\xa1v\x02\xa1k\xa4" "emit\xa3nsp\x01", 16), SIO_ERR_VERSION);
    /* v uint8-encoded 1 is still 1 */
    cr_assert_eq(decode_bytes("\x82\xa1v\xcc\x01\xa1k\x10", 8), 0);
}

Test(envelope, kind_must_be_known)
{
    cr_assert_eq(decode_bytes("\x81\xa1v\x01", 4), SIO_ERR_ENVELOPE);         /* missing */
    cr_assert_eq(decode_bytes("\x82\xa1v\x01\xa1k\xc0", 7), SIO_ERR_ENVELOPE); /* nil */
    cr_assert_eq(decode_bytes("\x82\xa1v\x01\xa1k\x00", 7), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes("\x82\xa1v\x01\xa1k\x06", 7), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes("\x82\xa1v\x01\xa1k\x63", 7), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes("\x82\xa1v\x01\xa1k\xf0", 7), SIO_ERR_ENVELOPE); /* -16 */
    cr_assert_eq(decode_bytes("\x82\xa1v\x01\xa1k\xcd\x01\x10", 9), SIO_ERR_ENVELOPE); /* 272 */
    cr_assert_eq(decode_bytes("\x82\xa1v\x01\xa1k\xa2" "16", 9), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes("\x82\xa1v\x01\xa1k\x10", 7), 0);
}

Test(envelope, wrong_types_for_known_keys_are_rejected)
{
    static const struct { const char *key; const char *val; size_t n; } cases[] = {
        { "gw", "\x01", 1 }, { "gw", "\xc4\x01g", 3 }, { "gw", "\xc3", 1 }, { "gw", "\x90", 1 },
        { "nsp", "\xc4\x01/", 3 }, { "nsp", "\x80", 1 },
        { "sid", "\x01", 1 }, { "sid", "\xcb\0\0\0\0\0\0\0\0", 9 },
        { "id", "\xa1\x31", 2 }, { "id", "\xff", 1 }, { "id", "\xd0\x80", 2 }, { "id", "\xc3", 1 },
        { "id", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9 }, { "id", "\xca\0\0\0\0", 5 },
        { "data", "\x01", 1 }, { "data", "\x91\xa1x", 3 }, { "data", "\x80", 1 },
        { "bins", "\xc4\x01x", 3 }, { "bins", "\x91\xa1x", 3 }, { "bins", "\x91\x01", 2 },
        { "bins", "\x92\xc4\x00\xc0", 4 }, { "bins", "\x80", 1 },
        { "bin", "\x01", 1 }, { "bin", "\xa4true", 5 },
        { "cc", "\x00", 1 }, { "cc", "\x91\xc3", 2 },
        { "why", "\x01", 1 }, { "why", "\xc4\x01x", 3 },
        { "rooms", "\xa5lobby", 6 }, { "rooms", "\x91\x01", 2 }, { "rooms", "\x91\xc4\x01x", 4 },
        { "rooms", "\x92\xa1x\xc0", 4 }, { "rooms", "\x81\xa1x\xa1y", 5 },
        { "xr", "\x91\x01", 2 }, { "xs", "\x91\x01", 2 }, { "r2", "\x91\x01", 2 },
        { "xs", "\xa1x", 2 },
        { "hdr", "\x91\xa1x", 3 }, { "hdr", "\x92\x01\x02", 3 }, { "hdr", "\x81\xa1x\xa1y", 5 },
        { "q", "\x01", 1 }, { "ra", "\xc3", 1 }, { "sess", "\x01", 1 }, { "sess", "\x90", 1 },
        { "ts", "\xa1\x31", 2 }, { "ts", "\xcb\0\0\0\0\0\0\0\0", 9 },
        { "ts", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(decode_with_key(cases[i].key, cases[i].val, cases[i].n), SIO_ERR_ENVELOPE,
                     "%s case %zu", cases[i].key, i);
}

Test(envelope, data_and_session_accept_bin_too)
{
    uint8_t buf[64];
    struct sio_env env;
    size_t n = with_key(buf, "data", "\xc4\x04[1,2", 6);
    buf[n - 1] = ']';
    cr_assert_eq(sio_env_decode(buf, n, &env), 0);
    ASSERT_STR(env.data, "[1,]");
    sio_env_clear(&env);
    n = with_key(buf, "sess", "\xc4\x02\x00\xff", 4);
    cr_assert_eq(sio_env_decode(buf, n, &env), 0);
    assert_str(env.session, "\x00\xff", 2);
    sio_env_clear(&env);
    n = with_key(buf, "sess", "\xa2{}", 3);
    cr_assert_eq(sio_env_decode(buf, n, &env), 0);
    ASSERT_STR(env.session, "{}");
    sio_env_clear(&env);
}

Test(envelope, nil_means_absent)
{
    static const char *keys[] = { "gw", "nsp", "sid", "id", "data", "bins", "bin", "cc", "why",
                                  "rooms", "xr", "xs", "r2", "hdr", "q", "ra", "sess", "ts" };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        uint8_t buf[64];
        struct sio_env env;
        size_t n = with_key(buf, keys[i], "\xc0", 1);
        cr_assert_eq(sio_env_decode(buf, n, &env), 0, "%s", keys[i]);
        cr_assert_null(env.nsp.p);
        cr_assert_null(env.rooms);
        cr_assert_null(env.bins);
        cr_assert_eq(env.id, -1);
        cr_assert_eq(env.ts, 0);
        cr_assert(!env.binary);
        cr_assert_null(env.priv);
        sio_env_clear(&env);
    }
}

Test(envelope, empty_arrays_decode_as_absent)
{
    struct sio_env env;
    uint8_t buf[64];
    size_t n = with_key(buf, "rooms", "\x90", 1);
    cr_assert_eq(sio_env_decode(buf, n, &env), 0);
    cr_assert_null(env.rooms);
    cr_assert_eq(env.nrooms, 0);
    sio_env_clear(&env);
    n = with_key(buf, "hdr", "\xdc\x00\x00", 3);
    cr_assert_eq(sio_env_decode(buf, n, &env), 0);
    cr_assert_eq(env.nheaders, 0);
    sio_env_clear(&env);
}

Test(envelope, huge_declared_lengths_are_rejected)
{
    static const struct { const char *key; const char *val; size_t n; } cases[] = {
        { "rooms", "\xdd\xff\xff\xff\xff", 5 },
        { "rooms", "\xdd\xff\xff\xff\xff\xa0\xa0\xa0\xa0", 9 },
        { "rooms", "\xdc\xff\xff\xa0", 4 },
        { "bins", "\x91\xc6\xff\xff\xff\xff", 6 },
        { "bins", "\xdd\x7f\xff\xff\xff\xc4\x00", 7 },
        { "data", "\xdb\xff\xff\xff\xff", 5 },
        { "data", "\xda\xff\xff" "abc", 6 },
        { "data", "\xd9\xff" "abc", 5 },
        { "sess", "\xc6\xff\xff\xff\xff", 5 },
        { "zz", "\xdf\xff\xff\xff\xff", 5 },                 /* unknown key: still checked */
        { "zz", "\xde\xff\xff\x01\x01", 5 },
        { "zz", "\x91\x91\x91\xdd\xff\xff\xff\xff", 8 },
        { "zz", "\xc9\xff\xff\xff\xff\x01", 6 },
        { "zz", "\xc8\xff\xff\x01", 4 },
        { "zz", "\xd8\x01", 2 },                             /* fixext16 cut short */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(decode_with_key(cases[i].key, cases[i].val, cases[i].n), SIO_ERR_ENVELOPE,
                     "%s case %zu", cases[i].key, i);
    /* the top-level map itself */
    cr_assert_eq(decode_bytes("\xdf\xff\xff\xff\xff\xa1v\x01", 8), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes("\xde\xff\xff\xa1v\x01\xa1k\x10", 9), SIO_ERR_ENVELOPE);
}

Test(envelope, unknown_keys_are_skipped)
{
    /* {"v":1,"k":16,"nsp":"/","future":{"a":[1,2.5,nil,true,ext,bin]},"x":-1,"nsp2":"z"} */
    const uint8_t buf[] = {
        0x87, 0xa1, 'v', 0x01, 0xa1, 'k', 0x10, 0xa3, 'n', 's', 'p', 0xa1, '/',
        0xa6, 'f', 'u', 't', 'u', 'r', 'e',
        0x81, 0xa1, 'a', 0x96, 0x01, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0xc0, 0xc3,
        0xd6, 0x05, 1, 2, 3, 4, 0xc4, 0x01, 0xff,
        0xa1, 'x', 0xff,
        0xa4, 'n', 's', 'p', '2', 0xa1, 'z',
        0xd9, 0x03, 'l', 'o', 'n', 0x80,    /* str8 key, empty map */
    };
    struct sio_env env;
    void *copy;
    cr_assert_eq(decode_copy(buf, sizeof(buf), &env, &copy), 0);
    cr_assert_eq(env.kind, SIO_ENV_EMIT);
    ASSERT_STR(env.nsp, "/");
    cr_assert_null(env.priv);
    sio_env_clear(&env);
    free(copy);
    /* an unknown key may repeat; a known one may not */
    cr_assert_eq(decode_bytes("\x84\xa1v\x01\xa1k\x10\xa1z\x01\xa1z\x02", 13), 0);
    cr_assert_eq(decode_bytes("\x84\xa1v\x01\xa1k\x10\xa1q\xa0\xa1q\xa0", 13), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes("\x83\xa1v\x01\xa1k\x10\xa1v\x01", 10), SIO_ERR_ENVELOPE);
}

Test(envelope, keys_must_be_strings)
{
    cr_assert_eq(decode_bytes("\x83\xa1v\x01\xa1k\x10\x01\x01", 9), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes("\x83\xa1v\x01\xa1k\x10\xc4\x01z\x01", 11), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes("\x82\xc4\x01v\x01\xa1k\x10", 8), SIO_ERR_ENVELOPE);
}

Test(envelope, nesting_is_bounded)
{
    uint8_t buf[128];
    uint8_t val[64];
    /* root map + 15 arrays = 16 levels: fine */
    memset(val, 0x91, 15);
    val[15] = 0x01;
    cr_assert_eq(decode_bytes(buf, with_key(buf, "zz", val, 16)), 0);
    /* one more: rejected, as is anything msgpack-c could not hold */
    memset(val, 0x91, 16);
    val[16] = 0x01;
    cr_assert_eq(decode_bytes(buf, with_key(buf, "zz", val, 17)), SIO_ERR_ENVELOPE);
    memset(val, 0x91, 40);
    val[40] = 0x01;
    cr_assert_eq(decode_bytes(buf, with_key(buf, "zz", val, 41)), SIO_ERR_ENVELOPE);
}

Test(envelope, reserved_byte_anywhere_is_rejected)
{
    cr_assert_eq(DKEY("zz", "\x92\x01\xc1"), SIO_ERR_ENVELOPE);
    cr_assert_eq(DKEY("zz", "\x01"), 0);
}

Test(envelope, errors_leave_env_cleared)
{
    /* rooms fine, then bins with a str: fails after the arrays were made */
    const uint8_t buf[] = { 0x84, 0xa1, 'v', 0x01, 0xa1, 'k', 0x10,
                            0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xa1, 'a',
                            0xa4, 'b', 'i', 'n', 's', 0x91, 0xa1, 'x' };
    struct sio_env env;
    memset(&env, 0xaa, sizeof(env));    /* decode needs no initialized env */
    cr_assert_eq(sio_env_decode(buf, sizeof(buf), &env), SIO_ERR_ENVELOPE);
    cr_assert_null(env.priv);
    cr_assert_null(env.rooms);
    cr_assert_eq(env.nrooms, 0);
    cr_assert_null(env.nsp.p);
    cr_assert_eq(env.id, -1);
    sio_env_clear(&env);
}

Test(envelope, clear_is_idempotent_and_leaves_callers_arrays_alone)
{
    struct sio_env e;
    sio_env_init(&e, SIO_ENV_EMIT);
    sio_env_clear(&e);
    sio_env_clear(&e);

    /* an envelope built for encoding: its arrays are the caller's */
    struct sio_str rooms[] = { S("a"), S("b") };
    fill_full(&e, SIO_ENV_JOIN);
    e.rooms = rooms;
    e.nrooms = 2;
    sio_env_clear(&e);
    ASSERT_STR(rooms[1], "b");
    cr_assert_null(e.rooms);

    struct sio_buf b = SIO_BUF_INIT;
    fill_full(&e, SIO_ENV_JOIN);
    cr_assert_eq(sio_env_encode(&e, &b), 0);
    cr_assert_eq(sio_env_decode(b.data, b.len, &e), 0);
    sio_env_clear(&e);
    sio_env_clear(&e);
    sio_buf_clear(&b);
}

static int sbuf_write(void *data, const char *buf, size_t len)
{
    return msgpack_sbuffer_write(data, buf, len);
}

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* What a program in another language following docs/BUS.md sends: its own
 * key order, ints in whatever width its library picks, an extra key. */
Test(envelope, decodes_an_envelope_packed_by_hand)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, sbuf_write);

    msgpack_pack_map(&pk, 9);
    pack_s(&pk, "data");
    pack_s(&pk, "[\"file\",{\"_placeholder\":true,\"num\":0}]");
    pack_s(&pk, "k");
    msgpack_pack_uint16(&pk, SIO_ENV_EMIT);         /* 0xcd 0x00 0x10 */
    pack_s(&pk, "rooms");
    msgpack_pack_array(&pk, 2);
    pack_s(&pk, "lobby");
    pack_s(&pk, "vip");
    pack_s(&pk, "nsp");
    pack_s(&pk, "/chat");
    pack_s(&pk, "bins");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "\x00\xff\x10", 3);
    pack_s(&pk, "xs");
    msgpack_pack_array(&pk, 1);
    pack_s(&pk, "sid-skip");
    pack_s(&pk, "origin");                          /* unknown: ignored */
    pack_s(&pk, "celery-task-42");
    pack_s(&pk, "ts");
    msgpack_pack_int64(&pk, 1700000000000);
    pack_s(&pk, "v");
    msgpack_pack_int32(&pk, 1);

    struct sio_env env;
    cr_assert_eq(sio_env_decode(sb.data, sb.size, &env), 0);
    cr_assert_eq(env.kind, SIO_ENV_EMIT);
    ASSERT_STR(env.nsp, "/chat");
    ASSERT_STR(env.data, "[\"file\",{\"_placeholder\":true,\"num\":0}]");
    cr_assert_eq(env.nrooms, 2);
    ASSERT_STR(env.rooms[0], "lobby");
    ASSERT_STR(env.rooms[1], "vip");
    cr_assert_eq(env.nexcept_sids, 1);
    ASSERT_STR(env.except_sids[0], "sid-skip");
    cr_assert_eq(env.nbins, 1);
    cr_assert_eq(env.bins[0].len, 3);
    cr_assert_eq(memcmp(env.bins[0].p, "\x00\xff\x10", 3), 0);
    cr_assert_eq(env.ts, 1700000000000);
    cr_assert_eq(env.id, -1);
    cr_assert_null(env.gw.p);

    /* and the same envelope re-encoded by us decodes to the same fields */
    struct sio_buf b = SIO_BUF_INIT;
    struct sio_env again;
    cr_assert_eq(sio_env_encode(&env, &b), 0);
    cr_assert_eq(sio_env_decode(b.data, b.len, &again), 0);
    assert_same_env(&again, &env);
    sio_env_clear(&again);
    sio_env_clear(&env);
    sio_buf_clear(&b);
    msgpack_sbuffer_destroy(&sb);
}

/* The fuzz seeds are packed by python3-msgpack from docs/BUS.md's tables
 * (tests/fuzz/gen-envelope-corpus.py): every one must decode. */
Test(envelope, python_packed_seeds_decode)
{
    const char *src = getenv("SIO_SOURCE_DIR");
    if (!src)
        cr_skip_test("SIO_SOURCE_DIR not set");
    static const struct { const char *name; enum sio_env_kind kind; } seeds[] = {
        { "emit-room", SIO_ENV_EMIT }, { "connect", SIO_ENV_CONNECT },
        { "event-bin", SIO_ENV_EVENT }, { "join", SIO_ENV_JOIN },
        { "disconnect-cmd", SIO_ENV_DISCONNECT_CMD }, { "raw-send", SIO_ENV_RAW_SEND },
        { "hello", SIO_ENV_HELLO }, { "session", SIO_ENV_SESSION },
        { "connect-err", SIO_ENV_CONNECT_ERR }, { "unknown-keys", SIO_ENV_ACK },
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/envelope/%s.msgpack", src,
                 seeds[i].name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        uint8_t buf[1024];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        struct sio_env env;
        cr_assert_eq(sio_env_decode(buf, n, &env), 0, "%s", seeds[i].name);
        cr_assert_eq(env.kind, seeds[i].kind, "%s", seeds[i].name);
        if (i == 0)
            cr_assert(n == sizeof(doc_emit) && memcmp(buf, doc_emit, n) == 0,
                      "python packs the doc example differently");
        if (seeds[i].kind == SIO_ENV_EVENT) {
            cr_assert_eq(env.nbins, 2);
            cr_assert_eq(memcmp(env.bins[0].p, "\x00\xff\x00\xff", 4), 0);
            cr_assert_eq(env.id, 7);
        }
        if (seeds[i].kind == SIO_ENV_RAW_SEND) {
            cr_assert(env.binary);
            assert_str(env.data, "\x01\x02\xff", 3);
        }
        sio_env_clear(&env);
    }
}

Test(envelope, confirm_is_cf_and_refused_when_not_a_positive_int)
{
    struct sio_env in, out;
    struct sio_buf b = SIO_BUF_INIT;
    sio_env_init(&in, SIO_ENV_EVENT_DONE);
    in.confirm = INT64_MAX;
    cr_assert_eq(sio_env_encode(&in, &b), 0);
    cr_assert_eq(sio_env_decode(b.data, b.len, &out), 0);
    cr_assert_eq(out.confirm, INT64_MAX);
    sio_env_clear(&out);
    sio_buf_clear(&b);
    /* {"v":1,"k":26,"cf":-1} and {"v":1,"k":26,"cf":"1"} */
    const uint8_t neg[] = { 0x83, 0xa1, 'v', 0x01, 0xa1, 'k', 26, 0xa2, 'c', 'f', 0xff };
    const uint8_t str[] = { 0x83, 0xa1, 'v', 0x01, 0xa1, 'k', 26, 0xa2, 'c', 'f', 0xa1, '1' };
    cr_assert_eq(decode_bytes(neg, sizeof neg), SIO_ERR_ENVELOPE);
    cr_assert_eq(decode_bytes(str, sizeof str), SIO_ERR_ENVELOPE);
}

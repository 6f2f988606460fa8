/* test-sio.c: the Socket.IO v5 codec (proto/sio.c), with the JS
 * reference server's captured packets. Strings below are whole Engine.IO
 * messages as on the wire ("4" + Socket.IO packet) where they come from the
 * fixtures; sio_hdr()/sio_dec() strip the Engine.IO type through eio.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>
#include <sio/msg.h>
#include "proto/eio.h"
#include "proto/sio.h"

/* --- helpers -------------------------------------------------------------- */

/* The Socket.IO part of an Engine.IO message frame. */
static void eio_msg(const char *frame, const char **p, size_t *n)
{
    struct sio_eio_packet e;
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)frame, strlen(frame), false, &e), 0);
    cr_assert_eq(e.type, SIO_EIO_MESSAGE, "%s", frame);
    *p = (const char *)e.data;
    *n = e.len;
}

static int sio_hdr(const char *frame, struct sio_packet_hdr *h)
{
    const char *p;
    size_t n;
    eio_msg(frame, &p, &n);
    return sio_packet_parse_header(p, n, 0, h);
}

static int sio_dec(const char *frame, struct sio_packet *pkt)
{
    const char *p;
    size_t n;
    eio_msg(frame, &p, &n);
    return sio_packet_decode(p, n, 0, pkt);
}

static char *dump(const json_t *v)
{
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_json_dump(&b, v), 0);
    return sio_buf_steal(&b, NULL);
}

static void assert_dump(const json_t *v, const char *want)
{
    char *s = dump(v);
    cr_assert_str_eq(s, want);
    free(s);
}

static void assert_binary(const json_t *v, const void *data, size_t len)
{
    const void *p;
    size_t n;
    cr_assert(sio_binary_get(v, &p, &n), "not a binary value");
    cr_assert_eq(n, len);
    cr_assert_eq(memcmp(p, data, len), 0);
}

/* --- header parse --------------------------------------------------------- */

struct hdr_case {
    const char *frame;
    int err;
    enum sio_packet_type type;
    const char *nsp;
    int64_t id;
    unsigned attachments;
    const char *data;
};

static const struct hdr_case good[] = {
    /* js_ws_session.txt, js_upgrade_probe.txt, js_polling_*.http */
    { "40", 0, SIO_PKT_CONNECT, "/", -1, 0, "" },
    { "40{\"sid\":\"LRu2-y0qEKC4PlcaAAAO\"}", 0, SIO_PKT_CONNECT, "/", -1, 0, "{\"sid\":\"LRu2-y0qEKC4PlcaAAAO\"}" },
    { "40/custom,{\"token\":\"abc\"}", 0, SIO_PKT_CONNECT, "/custom", -1, 0, "{\"token\":\"abc\"}" },
    { "40/custom,{\"sid\":\"UZwZPQ5NOfbs-q7GAAAP\"}", 0, SIO_PKT_CONNECT, "/custom", -1, 0, "{\"sid\":\"UZwZPQ5NOfbs-q7GAAAP\"}" },
    { "40/custom,", 0, SIO_PKT_CONNECT, "/custom", -1, 0, "" },
    { "40/custom", 0, SIO_PKT_CONNECT, "/custom", -1, 0, "" },
    { "41", 0, SIO_PKT_DISCONNECT, "/", -1, 0, "" },
    { "41/custom,", 0, SIO_PKT_DISCONNECT, "/custom", -1, 0, "" },
    { "41/custom", 0, SIO_PKT_DISCONNECT, "/custom", -1, 0, "" },
    { "421[\"echo\",\"hello\",1]", 0, SIO_PKT_EVENT, "/", 1, 0, "[\"echo\",\"hello\",1]" },
    { "42[\"message\",\"hi\"]", 0, SIO_PKT_EVENT, "/", -1, 0, "[\"message\",\"hi\"]" },
    { "42/custom,7[\"echo\",{\"a\":1}]", 0, SIO_PKT_EVENT, "/custom", 7, 0, "[\"echo\",{\"a\":1}]" },
    { "431[\"hello\",1]", 0, SIO_PKT_ACK, "/", 1, 0, "[\"hello\",1]" },
    { "431[\"x\",1]", 0, SIO_PKT_ACK, "/", 1, 0, "[\"x\",1]" },
    { "43/custom,7[{\"a\":1}]", 0, SIO_PKT_ACK, "/custom", 7, 0, "[{\"a\":1}]" },
    { "43/custom,7[]", 0, SIO_PKT_ACK, "/custom", 7, 0, "[]" },
    { "44{\"message\":\"Invalid namespace\"}", 0, SIO_PKT_CONNECT_ERROR, "/", -1, 0, "{\"message\":\"Invalid namespace\"}" },
    { "44/x,\"not authorized\"", 0, SIO_PKT_CONNECT_ERROR, "/x", -1, 0, "\"not authorized\"" },
    { "451-3[\"echo\",{\"_placeholder\":true,\"num\":0}]", 0, SIO_PKT_BINARY_EVENT, "/", 3, 1, "[\"echo\",{\"_placeholder\":true,\"num\":0}]" },
    { "451-[\"message\",{\"_placeholder\":true,\"num\":0}]", 0, SIO_PKT_BINARY_EVENT, "/", -1, 1, "[\"message\",{\"_placeholder\":true,\"num\":0}]" },
    { "452-/custom,9[\"echo\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", 0, SIO_PKT_BINARY_EVENT, "/custom", 9, 2,
      "[\"echo\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]" },
    { "450-[\"x\"]", 0, SIO_PKT_BINARY_EVENT, "/", -1, 0, "[\"x\"]" },
    { "461-3[{\"_placeholder\":true,\"num\":0}]", 0, SIO_PKT_BINARY_ACK, "/", 3, 1, "[{\"_placeholder\":true,\"num\":0}]" },
    { "461-2[{\"_placeholder\":true,\"num\":0}]", 0, SIO_PKT_BINARY_ACK, "/", 2, 1, "[{\"_placeholder\":true,\"num\":0}]" },
    { "462-/custom,9[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]", 0, SIO_PKT_BINARY_ACK, "/custom", 9, 2,
      "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]" },
    { "421000[\"a\"]", 0, SIO_PKT_EVENT, "/", 1000, 0, "[\"a\"]" },
    { "42007[\"a\"]", 0, SIO_PKT_EVENT, "/", 7, 0, "[\"a\"]" },
    { "429007199254740991[\"a\"]", 0, SIO_PKT_EVENT, "/", 9007199254740991, 0, "[\"a\"]" },
    { "451000-[\"a\"]", 0, SIO_PKT_BINARY_EVENT, "/", -1, 1000, "[\"a\"]" },
    { "42/,[\"a\"]", 0, SIO_PKT_EVENT, "/", -1, 0, "[\"a\"]" },
    { "42/a/b?c=d,[\"a\"]", 0, SIO_PKT_EVENT, "/a/b?c=d", -1, 0, "[\"a\"]" },
    { "42[\"no shape check of later bytes\"", 0, SIO_PKT_EVENT, "/", -1, 0, "[\"no shape check of later bytes\"" },
};

Test(sio_header, reference_packets)
{
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const struct hdr_case *c = &good[i];
        struct sio_packet_hdr h;
        int r = sio_hdr(c->frame, &h);
        cr_assert_eq(r, 0, "%s: %d (%s)", c->frame, r, sio_strerror(r));
        cr_assert_eq(h.type, c->type, "%s", c->frame);
        cr_assert_eq(h.nsp_len, strlen(c->nsp), "%s", c->frame);
        cr_assert_eq(memcmp(h.nsp, c->nsp, h.nsp_len), 0, "%s", c->frame);
        cr_assert_eq(h.id, c->id, "%s: id %lld", c->frame, (long long)h.id);
        cr_assert_eq(h.attachments, c->attachments, "%s", c->frame);
        cr_assert_eq(h.data_len, strlen(c->data), "%s", c->frame);
        cr_assert_eq(memcmp(h.data, c->data, h.data_len), 0, "%s", c->frame);
    }
}

static const struct { const char *pkt; int err; } bad[] = {
    { "", SIO_ERR_PROTO },
    { "7", SIO_ERR_TYPE },
    { "9[\"a\"]", SIO_ERR_TYPE },
    { "x", SIO_ERR_TYPE },
    { "/", SIO_ERR_TYPE },
    { "-1", SIO_ERR_TYPE },
    /* namespace */
    { "0custom,{}", SIO_ERR_NSP },
    { "2custom,[\"a\"]", SIO_ERR_NSP },
    { "1custom,", SIO_ERR_NSP },
    { "51-custom,[\"a\"]", SIO_ERR_NSP },
    { "2/a\0b,[\"a\"]", SIO_ERR_NSP },   /* length given below: embedded NUL */
    /* ack id */
    { "2123456789012345678[\"a\"]", SIO_ERR_ACKID },     /* 19 digits */
    { "29007199254740992[\"a\"]", SIO_ERR_ACKID },       /* 2^53 */
    { "299999999999999999[\"a\"]", SIO_ERR_ACKID },      /* 18 digits, > 2^53 */
    { "01{}", SIO_ERR_ACKID },
    { "01", SIO_ERR_ACKID },
    { "0/custom,1", SIO_ERR_ACKID },
    { "11", SIO_ERR_ACKID },
    { "1/custom,1", SIO_ERR_ACKID },
    { "41\"x\"", SIO_ERR_ACKID },
    { "41{}", SIO_ERR_ACKID },
    { "3[\"a\"]", SIO_ERR_ACKID },                      /* an ack needs an id */
    { "3/custom,[]", SIO_ERR_ACKID },
    { "61-[{\"_placeholder\":true,\"num\":0}]", SIO_ERR_ACKID },
    /* attachments */
    { "21-[\"a\"]", SIO_ERR_ATTACH },
    { "31-1[\"a\"]", SIO_ERR_ATTACH },
    { "2/custom,1-[\"a\"]", SIO_ERR_ATTACH },
    { "01-{}", SIO_ERR_ATTACH },
    { "5[\"a\"]", SIO_ERR_ATTACH },
    { "5-[\"a\"]", SIO_ERR_ATTACH },
    { "51[\"a\"]", SIO_ERR_ATTACH },
    { "51", SIO_ERR_ATTACH },
    { "5", SIO_ERR_ATTACH },
    { "61/custom,1[]", SIO_ERR_ATTACH },
    { "51001-[\"a\"]", SIO_ERR_ATTACH },
    { "599999999999999999999999-[\"a\"]", SIO_ERR_ATTACH },
    { "51-2-[\"a\"]", SIO_ERR_ATTACH },
    /* shape by first byte */
    { "1{}", SIO_ERR_SHAPE },
    { "1/custom,{}", SIO_ERR_SHAPE },
    { "1/custom,x", SIO_ERR_SHAPE },
    { "0[]", SIO_ERR_SHAPE },
    { "0\"x\"", SIO_ERR_SHAPE },
    { "0 {}", SIO_ERR_SHAPE },
    { "2", SIO_ERR_SHAPE },
    { "2{}", SIO_ERR_SHAPE },
    { "2\"a\"", SIO_ERR_SHAPE },
    { "2 [\"a\"]", SIO_ERR_SHAPE },
    { "2/custom,", SIO_ERR_SHAPE },
    { "21", SIO_ERR_SHAPE },
    { "31", SIO_ERR_SHAPE },
    { "31{}", SIO_ERR_SHAPE },
    { "4", SIO_ERR_SHAPE },
    { "4[]", SIO_ERR_SHAPE },
    { "41", SIO_ERR_ACKID },
    { "51-{}", SIO_ERR_SHAPE },
    { "61-1", SIO_ERR_SHAPE },
    { "2abc", SIO_ERR_SHAPE },
    { "2/a[\"b\"]", SIO_ERR_SHAPE },    /* the namespace runs to the end: no data */
};

static size_t bad_len(size_t i)
{
    /* the one case with an embedded NUL */
    return strcmp(bad[i].pkt, "2/a") == 0 ? sizeof("2/a\0b,[\"a\"]") - 1 : strlen(bad[i].pkt);
}

Test(sio_header, rejects)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sio_packet_hdr h;
        size_t len = bad_len(i);
        /* a copy of exactly len bytes so that ASan sees any overread */
        char *p = malloc(len ? len : 1);
        memcpy(p, bad[i].pkt, len);
        int r = sio_packet_parse_header(p, len, 0, &h);
        cr_assert_eq(r, bad[i].err, "case %zu \"%s\": got %d (%s), want %s", i, bad[i].pkt,
                     r, sio_strerror(r), sio_strerror(bad[i].err));
        cr_assert_eq(h.id, -1);
        cr_assert_eq(h.nsp_len, 1);
        struct sio_packet pkt;
        cr_assert_eq(sio_packet_decode(p, len, 0, &pkt), bad[i].err, "decode case %zu", i);
        cr_assert_null(pkt.nsp);
        cr_assert_null(pkt.data);
        free(p);
    }
}

Test(sio_header, every_prefix_of_good_packets_is_safe)
{
    /* Truncations must never read past len (ASan) and never succeed with garbage. */
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *s = good[i].frame + 1;
        size_t n = strlen(s);
        for (size_t k = 0; k <= n; k++) {
            char *p = malloc(k ? k : 1);
            memcpy(p, s, k);
            struct sio_packet_hdr h;
            struct sio_packet pkt;
            (void)sio_packet_parse_header(p, k, 0, &h);
            if (sio_packet_decode(p, k, 0, &pkt) == 0)
                sio_packet_clear(&pkt);
            free(p);
        }
    }
}

Test(sio_header, max_len)
{
    struct sio_packet_hdr h;
    const char *s = "2[\"abc\"]";
    cr_assert_eq(sio_packet_parse_header(s, 8, 8, &h), 0);
    cr_assert_eq(sio_packet_parse_header(s, 8, 7, &h), SIO_ERR_TOOBIG);
    cr_assert_eq(sio_packet_parse_header(s, 8, 0, &h), 0);
    struct sio_packet p;
    cr_assert_eq(sio_packet_decode(s, 8, 7, &p), SIO_ERR_TOOBIG);
    cr_assert_null(p.data);
}

Test(sio_header, namespace_length_limit)
{
    char buf[SIO_MAX_NSP_LEN + 16];
    buf[0] = '2';
    buf[1] = '/';
    memset(buf + 2, 'a', SIO_MAX_NSP_LEN - 1);
    size_t n = 1 + SIO_MAX_NSP_LEN;
    memcpy(buf + n, ",[\"a\"]", 6);
    struct sio_packet_hdr h;
    cr_assert_eq(sio_packet_parse_header(buf, n + 6, 0, &h), 0);
    cr_assert_eq(h.nsp_len, SIO_MAX_NSP_LEN);
    buf[n] = 'a';
    memcpy(buf + n + 1, ",[\"a\"]", 6);
    cr_assert_eq(sio_packet_parse_header(buf, n + 7, 0, &h), SIO_ERR_NSP);
}

/* --- full decode ------------------------------------------------------------ */

Test(sio_decode, every_type)
{
    struct sio_packet p;
    cr_assert_eq(sio_dec("40", &p), 0);
    cr_assert_eq(p.type, SIO_PKT_CONNECT);
    cr_assert_str_eq(p.nsp, "/");
    cr_assert_null(p.data);
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("40/custom,{\"token\":\"abc\"}", &p), 0);
    cr_assert_str_eq(p.nsp, "/custom");
    cr_assert_str_eq(json_string_value(json_object_get(p.data, "token")), "abc");
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("41/custom,", &p), 0);
    cr_assert_eq(p.type, SIO_PKT_DISCONNECT);
    cr_assert_str_eq(p.nsp, "/custom");
    cr_assert_null(p.data);
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("42/custom,7[\"echo\",{\"a\":1}]", &p), 0);
    cr_assert_eq(p.type, SIO_PKT_EVENT);
    cr_assert_eq(p.id, 7);
    cr_assert_eq(json_array_size(p.data), 2);
    assert_dump(p.data, "[\"echo\",{\"a\":1}]");
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("431[\"x\",1]", &p), 0);
    cr_assert_eq(p.type, SIO_PKT_ACK);
    cr_assert_eq(p.id, 1);
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("43/custom,7[]", &p), 0);
    cr_assert_eq(json_array_size(p.data), 0);
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("44{\"message\":\"Invalid namespace\"}", &p), 0);
    cr_assert_eq(p.type, SIO_PKT_CONNECT_ERROR);
    cr_assert(json_is_object(p.data));
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("44/x,\"nope\"", &p), 0);
    cr_assert_str_eq(json_string_value(p.data), "nope");
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("451-3[\"echo\",{\"_placeholder\":true,\"num\":0}]", &p), 0);
    cr_assert_eq(p.type, SIO_PKT_BINARY_EVENT);
    cr_assert_eq(p.attachments, 1);
    cr_assert_eq(p.id, 3);
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("461-3[{\"_placeholder\":true,\"num\":0}]", &p), 0);
    cr_assert_eq(p.type, SIO_PKT_BINARY_ACK);
    cr_assert_eq(p.attachments, 1);
    cr_assert_eq(p.id, 3);
    sio_packet_clear(&p);
    sio_packet_clear(&p);   /* twice is fine */
}

Test(sio_decode, json_and_shape_errors)
{
    static const struct { const char *pkt; int err; } cases[] = {
        { "0{", SIO_ERR_JSON },
        { "0{}x", SIO_ERR_JSON },
        { "0{\"a\":1,}", SIO_ERR_JSON },
        { "2[\"a\"", SIO_ERR_JSON },
        { "2[\"a\"]]", SIO_ERR_JSON },
        { "2[\"a\",]", SIO_ERR_JSON },
        { "2[\"a\xff\"]", SIO_ERR_JSON },
        { "2[\"a\",NaN]", SIO_ERR_JSON },
        { "2[\"a\",'b']", SIO_ERR_JSON },
        { "3[1,2", SIO_ERR_ACKID },         /* header first */
        { "31[1,2", SIO_ERR_JSON },
        { "4{\"a\"}", SIO_ERR_JSON },
        { "4\"abc", SIO_ERR_JSON },
        { "51-[\"a\",{\"_placeholder\":true,\"num\":0}", SIO_ERR_JSON },
        { "2[]", SIO_ERR_SHAPE },
        { "2[1]", SIO_ERR_SHAPE },
        { "2[null,\"a\"]", SIO_ERR_SHAPE },
        { "2[[\"a\"]]", SIO_ERR_SHAPE },
        { "2[{\"a\":1}]", SIO_ERR_SHAPE },
        { "51-[]", SIO_ERR_SHAPE },
        { "51-[{\"_placeholder\":true,\"num\":0}]", SIO_ERR_SHAPE },
        { "4{}", 0 },
        { "4\"\"", 0 },
        { "0{}", 0 },
        { "31[]", 0 },
        { "61-1[{\"_placeholder\":true,\"num\":0}]", 0 },
        { "2[\"\"]", 0 },
        { "2[\"a\\u0000b\",1.5e300,-0,true,false,null]", 0 },
        { "2[\"a\"]  \n", 0 },             /* JSON.parse allows trailing white space */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sio_packet p;
        size_t len = strlen(cases[i].pkt);
        char *buf = malloc(len);
        memcpy(buf, cases[i].pkt, len);
        int r = sio_packet_decode(buf, len, 0, &p);
        cr_assert_eq(r, cases[i].err, "case %zu %s: got %d (%s)", i, cases[i].pkt, r,
                     sio_strerror(r));
        if (r == 0) {
            cr_assert_not_null(p.nsp);
            sio_packet_clear(&p);
        } else {
            cr_assert_null(p.nsp);
            cr_assert_null(p.data);
            cr_assert_eq(p.id, -1);
        }
        free(buf);
    }
}

Test(sio_decode, nesting_limit_is_a_json_error)
{
    size_t depth = 100000;
    char *s = malloc(depth + 8);
    s[0] = '2';
    s[1] = '[';
    s[2] = '"';
    s[3] = 'a';
    s[4] = '"';
    s[5] = ',';
    memset(s + 6, '[', depth);
    struct sio_packet p;
    cr_assert_eq(sio_packet_decode(s, depth + 6, 0, &p), SIO_ERR_JSON);
    free(s);
}

/* --- binary: reconstruct ---------------------------------------------------- */

Test(sio_binary, reconstruct_reference_one_attachment)
{
    struct sio_packet p;
    cr_assert_eq(sio_dec("451-3[\"echo\",{\"_placeholder\":true,\"num\":0}]", &p), 0);
    struct sio_bin bins[] = { { (const uint8_t *)"\x01\x02\x03", 3 } };
    cr_assert_eq(sio_packet_reconstruct(p.data, bins, 1), 0);
    cr_assert_str_eq(json_string_value(json_array_get(p.data, 0)), "echo");
    assert_binary(json_array_get(p.data, 1), "\x01\x02\x03", 3);
    sio_packet_clear(&p);
}

Test(sio_binary, reconstruct_reference_two_attachments_nested)
{
    struct sio_packet p;
    cr_assert_eq(sio_dec("452-/custom,9[\"echo\",{\"_placeholder\":true,\"num\":0},"
                         "{\"_placeholder\":true,\"num\":1}]", &p), 0);
    struct sio_bin bins[] = { { (const uint8_t *)"\xaa", 1 }, { (const uint8_t *)"\xbb\xcc", 2 } };
    cr_assert_eq(sio_packet_reconstruct(p.data, bins, 2), 0);
    assert_binary(json_array_get(p.data, 1), "\xaa", 1);
    assert_binary(json_array_get(p.data, 2), "\xbb\xcc", 2);
    sio_packet_clear(&p);

    cr_assert_eq(sio_dec("452-[\"x\",{\"a\":[1,{\"b\":{\"_placeholder\":true,\"num\":1}}]},"
                         "{\"_placeholder\":true,\"num\":0,\"extra\":1}]", &p), 0);
    cr_assert_eq(sio_packet_reconstruct(p.data, bins, 2), 0);
    json_t *b = json_object_get(json_array_get(json_object_get(json_array_get(p.data, 1), "a"), 1), "b");
    assert_binary(b, "\xbb\xcc", 2);
    assert_binary(json_array_get(p.data, 2), "\xaa", 1);
    sio_packet_clear(&p);
}

Test(sio_binary, reconstruct_same_num_twice_and_empty_attachment)
{
    json_t *d = json_loads("[\"x\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":0}]", 0, NULL);
    struct sio_bin bins[] = { { NULL, 0 } };
    cr_assert_eq(sio_packet_reconstruct(d, bins, 1), 0);
    assert_binary(json_array_get(d, 1), "", 0);
    assert_binary(json_array_get(d, 2), "", 0);
    json_decref(d);
}

Test(sio_binary, reconstruct_top_level_placeholder_in_place)
{
    json_t *d = json_loads("{\"_placeholder\":true,\"num\":0}", 0, NULL);
    struct sio_bin bins[] = { { (const uint8_t *)"\0z", 2 } };
    cr_assert_eq(sio_packet_reconstruct(d, bins, 1), 0);
    assert_binary(d, "\0z", 2);
    json_decref(d);
}

Test(sio_binary, reconstruct_rejects)
{
    static const struct { const char *json; size_t nbins; } cases[] = {
        { "[\"x\",{\"_placeholder\":true,\"num\":1}]", 1 },        /* out of range */
        { "[\"x\",{\"_placeholder\":true,\"num\":-1}]", 1 },
        { "[\"x\",{\"_placeholder\":true,\"num\":0}]", 0 },
        { "[\"x\",{\"_placeholder\":true,\"num\":0}]", 2 },        /* #1 unreferenced */
        { "[\"x\"]", 1 },
        { "[\"x\",{\"_placeholder\":true,\"num\":0.5}]", 1 },      /* not integral (0.0 is fine, as in JS) */
        { "[\"x\",{\"_placeholder\":true,\"num\":\"0\"}]", 1 },
        { "[\"x\",{\"_placeholder\":true}]", 1 },
        { "[\"x\",{\"_placeholder\":true,\"num\":9223372036854775807}]", 1 },
    };
    struct sio_bin bins[2] = { { (const uint8_t *)"a", 1 }, { (const uint8_t *)"b", 1 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *d = json_loads(cases[i].json, 0, NULL);
        cr_assert_not_null(d);
        char *before = dump(d);
        cr_assert_eq(sio_packet_reconstruct(d, bins, cases[i].nbins), SIO_ERR_ATTACH, "case %zu", i);
        assert_dump(d, before);     /* left untouched */
        free(before);
        json_decref(d);
    }
    cr_assert_eq(sio_packet_reconstruct(NULL, bins, 1), SIO_ERR_ATTACH);
    cr_assert_eq(sio_packet_reconstruct(NULL, bins, 0), 0);
    json_t *d = json_loads("[\"x\"]", 0, NULL);
    cr_assert_eq(sio_packet_reconstruct(d, bins, SIO_MAX_ATTACHMENTS + 1), SIO_ERR_ATTACH);
    json_decref(d);
}

Test(sio_binary, not_a_placeholder_when_not_true)
{
    json_t *d = json_loads("[\"x\",{\"_placeholder\":1,\"num\":0},{\"_placeholder\":\"true\",\"num\":0}]", 0, NULL);
    cr_assert_eq(sio_packet_reconstruct(d, NULL, 0), 0);
    assert_dump(d, "[\"x\",{\"_placeholder\":1,\"num\":0},{\"_placeholder\":\"true\",\"num\":0}]");
    json_decref(d);
}

/* --- binary: deconstruct + encode --------------------------------------------- */

Test(sio_binary, deconstruct_without_binary_returns_same)
{
    json_t *d = json_loads("[\"message-back\",\"hi\",{\"a\":[1,2]}]", 0, NULL);
    struct sio_bins bins = { 0 };
    json_t *c = sio_json_deconstruct(d, &bins);
    cr_assert_eq(c, d);
    cr_assert_eq(bins.n, 0);
    json_decref(c);
    json_decref(d);
    sio_bins_clear(&bins);
}

Test(sio_binary, deconstruct_encode_matches_reference_binary_ack)
{
    /* The JS server answered 451-3["echo",<01 02 03>] with 461-3[<placeholder 0>] + 01 02 03. */
    json_t *args = json_pack("[o]", sio_binary_new("\x01\x02\x03", 3));
    struct sio_bins bins = { 0 };
    json_t *c = sio_json_deconstruct(args, &bins);
    cr_assert_not_null(c);
    cr_assert_neq(c, args);
    cr_assert_eq(bins.n, 1);
    cr_assert_eq(bins.v[0].len, 3);
    cr_assert_eq(memcmp(bins.v[0].data, "\x01\x02\x03", 3), 0);
    struct sio_buf js = SIO_BUF_INIT, pkt = SIO_BUF_INIT, frame = SIO_BUF_INIT;
    cr_assert_eq(sio_json_dump(&js, c), 0);
    cr_assert_eq(sio_packet_encode(&pkt, SIO_PKT_BINARY_ACK, "/", 1, 3, (unsigned)bins.n,
                                   (char *)js.data, js.len), 0);
    cr_assert_eq(sio_eio_encode_frame(&frame, SIO_EIO_MESSAGE, false, pkt.data, pkt.len), 0);
    cr_assert_str_eq((char *)frame.data, "461-3[{\"_placeholder\":true,\"num\":0}]");
    /* the source still holds the binary value */
    assert_binary(json_array_get(args, 0), "\x01\x02\x03", 3);
    sio_buf_clear(&js);
    sio_buf_clear(&pkt);
    sio_buf_clear(&frame);
    json_decref(c);
    json_decref(args);
    sio_bins_clear(&bins);
}

Test(sio_binary, deconstruct_order_is_depth_first)
{
    json_t *args = json_pack("[s, {s:o, s:[i, o]}, o]", "echo",
                             "k", sio_binary_new("A", 1),
                             "l", 1, sio_binary_new("B", 1),
                             sio_binary_new("CC", 2));
    struct sio_bins bins = { 0 };
    json_t *c = sio_json_deconstruct(args, &bins);
    cr_assert_eq(bins.n, 3);
    cr_assert_eq(memcmp(bins.v[0].data, "A", 1), 0);
    cr_assert_eq(memcmp(bins.v[1].data, "B", 1), 0);
    cr_assert_eq(memcmp(bins.v[2].data, "CC", 2), 0);
    assert_dump(c, "[\"echo\",{\"k\":{\"_placeholder\":true,\"num\":0},\"l\":[1,"
                   "{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,\"num\":2}]");

    /* and back: reconstruct a decoded copy with those attachments */
    struct sio_buf js = SIO_BUF_INIT, pkt = SIO_BUF_INIT;
    sio_json_dump(&js, c);
    cr_assert_eq(sio_packet_encode(&pkt, SIO_PKT_BINARY_EVENT, "/custom", 7, 9, 3,
                                   (char *)js.data, js.len), 0);
    struct sio_packet p;
    cr_assert_eq(sio_packet_decode((char *)pkt.data, pkt.len, 0, &p), 0);
    cr_assert_eq(p.attachments, 3);
    cr_assert_eq(sio_packet_reconstruct(p.data, bins.v, bins.n), 0);
    cr_assert(sio_json_equal(p.data, args));

    /* reusing bins starts from zero */
    json_t *c2 = sio_json_deconstruct(args, &bins);
    cr_assert_eq(bins.n, 3);
    json_decref(c2);

    sio_packet_clear(&p);
    sio_buf_clear(&js);
    sio_buf_clear(&pkt);
    json_decref(c);
    json_decref(args);
    sio_bins_clear(&bins);
    cr_assert_null(bins.v);
}

Test(sio_binary, many_attachments_grow_bins)
{
    json_t *args = json_array();
    json_array_append_new(args, json_string("many"));
    for (int i = 0; i < 100; i++)
        json_array_append_new(args, sio_binary_new(&i, sizeof(i)));
    struct sio_bins bins = { 0 };
    json_t *c = sio_json_deconstruct(args, &bins);
    cr_assert_eq(bins.n, 100);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(memcmp(bins.v[i].data, &i, sizeof(i)), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(c, 100), "num")), 99);
    json_decref(c);
    json_decref(args);
    sio_bins_clear(&bins);
}

Test(sio_binary, dump_refuses_binary_values)
{
    json_t *args = json_pack("[s,o]", "x", sio_binary_new("a", 1));
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_buf_append_str(&b, "keep"), 0);
    cr_assert_eq(sio_json_dump(&b, args), -EINVAL);
    cr_assert_str_eq((char *)b.data, "keep");
    cr_assert_eq(sio_json_dump(&b, NULL), -EINVAL);
    sio_buf_clear(&b);
    json_decref(args);
}

/* --- encode --------------------------------------------------------------------- */

Test(sio_encode, every_type_and_option)
{
    static const struct {
        enum sio_packet_type type;
        const char *nsp;
        int64_t id;
        unsigned att;
        const char *json;
        const char *want;
    } cases[] = {
        { SIO_PKT_CONNECT, "/", -1, 0, "{\"sid\":\"LRu2-y0qEKC4PlcaAAAO\"}", "0{\"sid\":\"LRu2-y0qEKC4PlcaAAAO\"}" },
        { SIO_PKT_CONNECT, "/custom", -1, 0, "{\"sid\":\"UZwZPQ5NOfbs-q7GAAAP\"}", "0/custom,{\"sid\":\"UZwZPQ5NOfbs-q7GAAAP\"}" },
        { SIO_PKT_CONNECT, "/", -1, 0, NULL, "0" },
        { SIO_PKT_CONNECT, NULL, -1, 0, NULL, "0" },
        { SIO_PKT_DISCONNECT, "/custom", -1, 0, NULL, "1/custom," },
        { SIO_PKT_DISCONNECT, "/", -1, 0, "", "1" },
        { SIO_PKT_EVENT, "/", -1, 0, "[\"message-back\",\"hi\"]", "2[\"message-back\",\"hi\"]" },
        { SIO_PKT_EVENT, "/custom", 7, 0, "[\"echo\",{\"a\":1}]", "2/custom,7[\"echo\",{\"a\":1}]" },
        { SIO_PKT_ACK, "/", 1, 0, "[\"hello\",1]", "31[\"hello\",1]" },
        { SIO_PKT_ACK, "/custom", 7, 0, "[{\"a\":1}]", "3/custom,7[{\"a\":1}]" },
        { SIO_PKT_CONNECT_ERROR, "/", -1, 0, "{\"message\":\"Invalid namespace\"}", "4{\"message\":\"Invalid namespace\"}" },
        { SIO_PKT_BINARY_EVENT, "/", -1, 1, "[\"message-back\",{\"_placeholder\":true,\"num\":0}]",
          "51-[\"message-back\",{\"_placeholder\":true,\"num\":0}]" },
        { SIO_PKT_BINARY_ACK, "/custom", 9, 2, "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
          "62-/custom,9[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]" },
        { SIO_PKT_BINARY_EVENT, "/", 9007199254740991, 0, "[\"x\"]", "50-9007199254740991[\"x\"]" },
    };
    struct sio_buf b = SIO_BUF_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sio_buf_reset(&b);
        const char *nsp = cases[i].nsp;
        const char *js = cases[i].json;
        cr_assert_eq(sio_packet_encode(&b, cases[i].type, nsp, nsp ? strlen(nsp) : 0, cases[i].id,
                                       cases[i].att, js, js ? strlen(js) : 0), 0);
        cr_assert_eq(b.len, strlen(cases[i].want));
        cr_assert_str_eq((char *)b.data, cases[i].want);
        /* round trip through the header parser and the decoder */
        struct sio_packet_hdr h;
        cr_assert_eq(sio_packet_parse_header((char *)b.data, b.len, 0, &h), 0, "case %zu", i);
        cr_assert_eq(h.type, cases[i].type);
        cr_assert_eq(h.id, cases[i].id);
        cr_assert_eq(h.attachments, cases[i].att);
        struct sio_packet p;
        cr_assert_eq(sio_packet_decode((char *)b.data, b.len, 0, &p), 0);
        cr_assert_str_eq(p.nsp, nsp ? nsp : "/");
        if (js && *js) {
            char *again = dump(p.data);
            cr_assert_str_eq(again, js);
            free(again);
        }
        sio_packet_clear(&p);
    }
    sio_buf_clear(&b);
}

Test(sio_encode, rejects_and_appends)
{
    struct sio_buf b = SIO_BUF_INIT;
    sio_buf_append_str(&b, "x");
    cr_assert_eq(sio_packet_encode(&b, (enum sio_packet_type)7, "/", 1, -1, 0, NULL, 0), -EINVAL);
    cr_assert_eq(sio_packet_encode(&b, SIO_PKT_EVENT, "/", 1, -1, 1, "[\"a\"]", 5), -EINVAL);
    cr_assert_eq(b.len, 1);
    cr_assert_eq(sio_packet_encode(&b, SIO_PKT_EVENT, "/a,b", 2, -1, 0, "[\"a\"]", 5), 0);
    cr_assert_str_eq((char *)b.data, "x2/a,[\"a\"]");   /* nsp_len is honoured */
    sio_buf_clear(&b);
}

/* --- JSON dump: the bytes of JS JSON.stringify ------------------------------------ */

static void assert_real(double d, const char *want)
{
    json_t *v = json_real(d);
    assert_dump(v, want);
    json_decref(v);
}

Test(sio_json, numbers_like_js)
{
    /* expected values are node's JSON.stringify output */
    assert_real(0.1, "0.1");
    assert_real(1.5, "1.5");
    assert_real(-2.25, "-2.25");
    assert_real(3.14, "3.14");
    assert_real(1.0, "1");
    assert_real(100.0, "100");
    assert_real(-0.0, "0");
    assert_real(0.1 + 0.2, "0.30000000000000004");
    assert_real(1e21, "1e+21");
    assert_real(1e20, "100000000000000000000");
    assert_real(123456789012345680000.0, "123456789012345680000");
    assert_real(1.5e-7, "1.5e-7");
    assert_real(0.000001, "0.000001");
    assert_real(0.0000012345, "0.0000012345");
    assert_real(1e-7, "1e-7");
    assert_real(5e-324, "5e-324");
    assert_real(1.7976931348623157e308, "1.7976931348623157e+308");
    assert_real(2.5e25, "2.5e+25");
    assert_real(9007199254740993.0, "9007199254740992");
    assert_real(1.0 / 3.0, "0.3333333333333333");
    assert_real(-1e-10, "-1e-10");
    assert_real(123.456, "123.456");

    json_t *v = json_pack("[I,I,i]", (json_int_t)9007199254740991LL, (json_int_t)-42, 0);
    assert_dump(v, "[9007199254740991,-42,0]");
    json_decref(v);
}

Test(sio_json, numbers_from_the_wire_re_dump_like_js)
{
    static const struct { const char *in, *out; } cases[] = {
        { "[1.0,2.50,1e3,1E-3,-0.0,0.1,1e21,12e-1]", "[1,2.5,1000,0.001,0,0.1,1e+21,1.2]" },
        { "[ 1 , 2 ]", "[1,2]" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *v = json_loads(cases[i].in, 0, NULL);
        assert_dump(v, cases[i].out);
        json_decref(v);
    }
}

Test(sio_json, strings_like_js)
{
    json_t *v = json_pack("[s,s,s,s]", "a/b", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80",
                          "q\"b\\s\b\f\n\r\t", "\x01\x1f\x7f");
    assert_dump(v, "[\"a/b\",\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\","
                   "\"q\\\"b\\\\s\\b\\f\\n\\r\\t\",\"\\u0001\\u001f\x7f\"]");
    json_decref(v);
    v = json_stringn("a\0b", 3);
    assert_dump(v, "\"a\\u0000b\"");
    json_decref(v);
    v = json_string("");
    assert_dump(v, "\"\"");
    json_decref(v);
}

Test(sio_json, objects_keep_insertion_order_and_scalars)
{
    json_t *v = json_object();
    json_object_set_new(v, "zeta", json_true());
    json_object_set_new(v, "alpha", json_false());
    json_object_set_new(v, "mid/dle", json_null());
    json_object_set_new(v, "k\"ey", json_array());
    json_object_set_new(v, "o", json_object());
    json_object_setn_new(v, "n\0ul", 4, json_integer(1));
    assert_dump(v, "{\"zeta\":true,\"alpha\":false,\"mid/dle\":null,\"k\\\"ey\":[],\"o\":{},"
                   "\"n\\u0000ul\":1}");
    json_decref(v);

    const char *wire = "{\"sid\":\"x\",\"b\":[1,{\"c\":\"d\",\"a\":[]}],\"a\":\"\xc3\xa9\"}";
    v = json_loads(wire, 0, NULL);
    assert_dump(v, wire);
    json_decref(v);
}

Test(sio_json, dump_refuses_cycles)
{
    /* jansson refuses a direct self-reference, not an indirect one */
    json_t *a = json_array(), *o = json_object();
    json_array_append(a, o);
    json_object_set(o, "a", a);
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_lt(sio_json_dump(&b, a), 0);
    cr_assert_eq(b.len, 0);
    struct sio_bins bins = { 0 };
    cr_assert_null(sio_json_deconstruct(a, &bins));
    json_object_clear(o);
    json_decref(o);
    json_decref(a);
    sio_buf_clear(&b);
}

Test(sio_decode, integers_beyond_int64_read_as_js_does)
{
    /* JSON.stringify(1e20) === "100000000000000000000" */
    struct sio_packet p;
    const char *s = "2[\"big\",100000000000000000000,7]";
    cr_assert_eq(sio_packet_decode(s, strlen(s), 0, &p), 0);
    cr_assert_eq(json_number_value(json_array_get(p.data, 1)), 1e20);
    cr_assert_eq(json_number_value(json_array_get(p.data, 2)), 7);
    assert_dump(p.data, "[\"big\",100000000000000000000,7]");
    sio_packet_clear(&p);
    s = "2[\"huge\",1e999]";
    cr_assert_eq(sio_packet_decode(s, strlen(s), 0, &p), SIO_ERR_JSON);
}

Test(sio_binary, deep_copy_keeps_binary_values)
{
    /* jansson's json_deep_copy() turns a binary value into a plain object;
     * sio_json_deep_copy() must not (emits from tasks and call() results
     * cross threads as copies) */
    json_t *args = json_pack("[s, {s:o}, o]", "x", "k", sio_binary_new("\x00\x01\xff", 3),
                             sio_binary_new("", 0));
    json_t *c = sio_json_deep_copy(args);
    cr_assert_not_null(c);
    cr_assert(c != args);
    const void *p;
    size_t n = 9;
    cr_assert(sio_binary_get(json_object_get(json_array_get(c, 1), "k"), &p, &n));
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(p, "\x00\x01\xff", 3), 0);
    cr_assert(sio_binary_get(json_array_get(c, 2), NULL, &n));
    cr_assert_eq(n, 0);
    cr_assert(sio_json_equal(c, args));
    json_decref(c);
    json_decref(args);
}

/* test-eio.c: the Engine.IO v4 codec (proto/eio.c), against the JS
 * reference server's captured bytes where there are some. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>
#include "proto/eio.h"

/* --- helpers -------------------------------------------------------------- */

#define MAX_PKTS 16

struct collected {
    size_t n;
    struct sio_eio_packet p[MAX_PKTS];
    int stop_at;        /* return 42 from the callback for packet #stop_at (1-based) */
};

static int collect(const struct sio_eio_packet *pkt, void *ud)
{
    struct collected *c = ud;
    cr_assert_lt(c->n, MAX_PKTS);
    c->p[c->n++] = *pkt;
    return (int)c->n == c->stop_at ? 42 : 0;
}

static void assert_pkt(const struct sio_eio_packet *p, enum sio_eio_type type, bool binary,
                       const void *data, size_t len)
{
    cr_assert_eq(p->type, type);
    cr_assert_eq(p->binary, binary);
    cr_assert_eq(p->len, len, "len %zu, want %zu", p->len, len);
    cr_assert_eq(memcmp(p->data, data, len), 0);
}

/* The request (request = true) or response body of a captured *.http
 * exchange. Caller frees. */
static char *fixture_http_body(const char *name, bool request, size_t *len)
{
    const char *dir = getenv("SIO_FIXTURES");
    cr_assert_not_null(dir, "SIO_FIXTURES not set");
    char path[1024];
    snprintf(path, sizeof(path), "%s/reference/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    static char raw[65536];
    size_t n = fread(raw, 1, sizeof(raw) - 1, f);
    fclose(f);
    raw[n] = 0;
    char *req_body = strstr(raw, "\r\n\r\n");
    cr_assert_not_null(req_body);
    req_body += 4;
    char *start, *end;
    if (request) {
        /* the request body (Content-Length bytes) runs up to the response */
        start = req_body;
        end = strstr(start, "HTTP/1.1 ");
    } else {
        char *r = strstr(req_body, "HTTP/1.1 ");
        cr_assert_not_null(r);
        start = strstr(r, "\r\n\r\n");
        cr_assert_not_null(start);
        start += 4;
        end = raw + n;
    }
    cr_assert_not_null(end);
    *len = (size_t)(end - start);
    char *copy = malloc(*len + 1);
    memcpy(copy, start, *len);
    copy[*len] = 0;
    return copy;
}

static char *fixture_body(const char *name, size_t *len)
{
    return fixture_http_body(name, false, len);
}

/* --- WebSocket frames ------------------------------------------------------- */

Test(eio_frame, every_text_type)
{
    const char *types = "0123456";
    for (int t = 0; t < 7; t++) {
        uint8_t frame[8] = { (uint8_t)types[t], 'a', 'b' };
        struct sio_eio_packet p;
        cr_assert_eq(sio_eio_decode_frame(frame, 3, false, &p), 0);
        assert_pkt(&p, (enum sio_eio_type)t, false, "ab", 2);
        cr_assert_eq(sio_eio_decode_frame(frame, 1, false, &p), 0);
        cr_assert_eq(p.len, 0);
    }
}

Test(eio_frame, reference_frames)
{
    struct sio_eio_packet p;
    const char *probe = "2probe";
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)probe, 6, false, &p), 0);
    assert_pkt(&p, SIO_EIO_PING, false, "probe", 5);
    const char *ev = "451-3[\"echo\",{\"_placeholder\":true,\"num\":0}]";
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)ev, strlen(ev), false, &p), 0);
    assert_pkt(&p, SIO_EIO_MESSAGE, false, ev + 1, strlen(ev) - 1);
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)"5", 1, false, &p), 0);
    assert_pkt(&p, SIO_EIO_UPGRADE, false, "", 0);
}

Test(eio_frame, binary_frame_is_raw_message)
{
    /* js_ws_session.txt: attachment frame 82 03 01 02 03, no 'b' nor '4' prefix */
    const uint8_t bin[] = { 0x01, 0x02, 0x03 };
    struct sio_eio_packet p;
    cr_assert_eq(sio_eio_decode_frame(bin, 3, true, &p), 0);
    assert_pkt(&p, SIO_EIO_MESSAGE, true, bin, 3);
    cr_assert_eq(sio_eio_decode_frame(bin, 0, true, &p), 0);
    cr_assert_eq(p.len, 0);
    cr_assert(p.binary);
}

Test(eio_frame, rejects)
{
    struct sio_eio_packet p;
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)"", 0, false, &p), SIO_ERR_PROTO);
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)"7", 1, false, &p), SIO_ERR_TYPE);
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)"/x", 2, false, &p), SIO_ERR_TYPE);
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)"bAQID", 5, false, &p), SIO_ERR_TYPE);
    cr_assert_eq(sio_eio_decode_frame((const uint8_t *)"x", 1, false, &p), SIO_ERR_TYPE);
}

Test(eio_frame, encode)
{
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_eio_encode_frame(&b, SIO_EIO_PONG, false, "probe", 5), 0);
    cr_assert_str_eq((char *)b.data, "3probe");
    sio_buf_reset(&b);
    cr_assert_eq(sio_eio_encode_frame(&b, SIO_EIO_NOOP, false, NULL, 0), 0);
    cr_assert_str_eq((char *)b.data, "6");
    sio_buf_reset(&b);
    cr_assert_eq(sio_eio_encode_frame(&b, SIO_EIO_MESSAGE, true, "\x00\x01\xff", 3), 0);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "\x00\x01\xff", 3), 0);
    sio_buf_reset(&b);
    cr_assert_eq(sio_eio_encode_frame(&b, SIO_EIO_PING, true, "x", 1), -EINVAL);
    cr_assert_eq(sio_eio_encode_frame(&b, (enum sio_eio_type)7, false, "x", 1), -EINVAL);
    cr_assert_eq(b.len, 0);
    sio_buf_clear(&b);
}

Test(eio_frame, round_trip_every_type)
{
    struct sio_buf b = SIO_BUF_INIT;
    for (int t = SIO_EIO_OPEN; t <= SIO_EIO_NOOP; t++) {
        sio_buf_reset(&b);
        cr_assert_eq(sio_eio_encode_frame(&b, (enum sio_eio_type)t, false, "hé", 3), 0);
        struct sio_eio_packet p;
        cr_assert_eq(sio_eio_decode_frame(b.data, b.len, false, &p), 0);
        assert_pkt(&p, (enum sio_eio_type)t, false, "hé", 3);
    }
    sio_buf_clear(&b);
}

/* --- polling payloads ------------------------------------------------------- */

Test(eio_payload, two_text_packets_from_reference_post)
{
    /* js_polling_post_two.http body */
    char body[] = "42[\"message\",\"hi\"]\x1e" "421[\"echo\",\"x\",1]";
    struct collected c = { 0 };
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)body, strlen(body), 0, collect, &c), 0);
    cr_assert_eq(c.n, 2);
    assert_pkt(&c.p[0], SIO_EIO_MESSAGE, false, "2[\"message\",\"hi\"]", 17);
    assert_pkt(&c.p[1], SIO_EIO_MESSAGE, false, "21[\"echo\",\"x\",1]", 16);
}

Test(eio_payload, binary_in_reference_post)
{
    size_t len;
    char *body = fixture_http_body("js_polling_binary_post.http", true, &len);
    cr_assert_eq(len, 49);
    struct collected c = { 0 };
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)body, len, 0, collect, &c), 0);
    cr_assert_eq(c.n, 2);
    const char *ev = "51-2[\"echo\",{\"_placeholder\":true,\"num\":0}]";
    assert_pkt(&c.p[0], SIO_EIO_MESSAGE, false, ev, strlen(ev));
    assert_pkt(&c.p[1], SIO_EIO_MESSAGE, true, "\x01\x02\x03", 3);
    free(body);
}

Test(eio_payload, reference_get_bodies_round_trip)
{
    /* Every captured polling GET body re-encodes to the same bytes. */
    const char *files[] = {
        "js_polling_get_two_packets.http", "js_polling_binary_ack_get.http",
        "js_polling_binary_event_get.http", "js_polling_handshake.http",
        "js_polling_get_connect_reply.http", "js_polling_longpoll_ping.http",
        "js_upgrade_pending_get_noop.http",
    };
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t len;
        char *body = fixture_body(files[f], &len);
        char *orig = strndup(body, len);
        struct collected c = { 0 };
        cr_assert_eq(sio_eio_decode_payload((uint8_t *)body, len, 0, collect, &c), 0,
                     "%s", files[f]);
        struct sio_buf b = SIO_BUF_INIT;
        for (size_t i = 0; i < c.n; i++)
            cr_assert_eq(sio_eio_encode_payload(&b, c.p[i].type, c.p[i].binary,
                                                c.p[i].data, c.p[i].len), 0);
        cr_assert_eq(b.len, len, "%s", files[f]);
        cr_assert_eq(memcmp(b.data, orig, len), 0, "%s", files[f]);
        sio_buf_clear(&b);
        free(orig);
        free(body);
    }
}

Test(eio_payload, encode_joins_with_rs_and_base64)
{
    struct sio_buf b = SIO_BUF_INIT;
    const char *ev = "61-2[{\"_placeholder\":true,\"num\":0}]";
    cr_assert_eq(sio_eio_encode_payload(&b, SIO_EIO_MESSAGE, false, ev, strlen(ev)), 0);
    cr_assert_eq(sio_eio_encode_payload(&b, SIO_EIO_MESSAGE, true, "\x01\x02\x03", 3), 0);
    cr_assert_str_eq((char *)b.data, "461-2[{\"_placeholder\":true,\"num\":0}]\x1e" "bAQID");
    sio_buf_reset(&b);
    cr_assert_eq(sio_eio_encode_payload(&b, SIO_EIO_NOOP, false, NULL, 0), 0);
    cr_assert_str_eq((char *)b.data, "6");
    cr_assert_eq(sio_eio_encode_payload(&b, SIO_EIO_MESSAGE, true, "", 0), 0);
    cr_assert_str_eq((char *)b.data, "6\x1e" "b");
    cr_assert_eq(sio_eio_encode_payload(&b, SIO_EIO_PING, true, "x", 1), -EINVAL);
    cr_assert_eq(b.len, 3);
    sio_buf_clear(&b);
}

Test(eio_payload, every_type_and_empty_binary)
{
    char body[] = "0\x1e" "1\x1e" "2\x1e" "3probe\x1e" "4x\x1e" "5\x1e" "6\x1e" "b";
    struct collected c = { 0 };
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)body, sizeof(body) - 1, 0, collect, &c), 0);
    cr_assert_eq(c.n, 8);
    for (int t = 0; t < 7; t++)
        cr_assert_eq(c.p[t].type, (enum sio_eio_type)t);
    assert_pkt(&c.p[3], SIO_EIO_PONG, false, "probe", 5);
    assert_pkt(&c.p[7], SIO_EIO_MESSAGE, true, "", 0);
}

Test(eio_payload, rejects_empty_and_empty_packets)
{
    struct collected c = { 0 };
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)"", 0, 0, collect, &c), SIO_ERR_PROTO);
    cr_assert_eq(c.n, 0);

    char mid[] = "4a\x1e\x1e" "4b";
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)mid, 5, 0, collect, &c), SIO_ERR_PROTO);
    cr_assert_eq(c.n, 1);   /* packets before the bad one were delivered */

    char trail[] = "4a\x1e";
    c.n = 0;
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)trail, 3, 0, collect, &c), SIO_ERR_PROTO);
    cr_assert_eq(c.n, 1);

    char lead[] = "\x1e" "4a";
    c.n = 0;
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)lead, 3, 0, collect, &c), SIO_ERR_PROTO);
    cr_assert_eq(c.n, 0);
}

Test(eio_payload, rejects_bad_type_and_base64)
{
    struct collected c = { 0 };
    char t[] = "4a\x1e" "9x";
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)t, 5, 0, collect, &c), SIO_ERR_TYPE);
    cr_assert_eq(c.n, 1);
    char b1[] = "bA";
    c.n = 0;
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)b1, 2, 0, collect, &c), SIO_ERR_BASE64);
    char b2[] = "bAQ$D";
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)b2, 5, 0, collect, &c), SIO_ERR_BASE64);
    char b3[] = "bAQID\x1e" "bA!==";
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)b3, 11, 0, collect, &c), SIO_ERR_BASE64);
    cr_assert_eq(c.n, 1);
    assert_pkt(&c.p[0], SIO_EIO_MESSAGE, true, "\x01\x02\x03", 3);
}

Test(eio_payload, max_packets_delivers_nothing_when_over)
{
    char body[] = "2\x1e" "2\x1e" "2";
    struct collected c = { 0 };
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)body, 5, 2, collect, &c), SIO_ERR_TOOBIG);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)body, 5, 3, collect, &c), 0);
    cr_assert_eq(c.n, 3);
    c.n = 0;
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)"2", 1, 1, collect, &c), 0);
    cr_assert_eq(c.n, 1);
}

Test(eio_payload, callback_stops_with_its_value)
{
    char body[] = "2\x1e" "3\x1e" "4x";
    struct collected c = { .stop_at = 2 };
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)body, 6, 0, collect, &c), 42);
    cr_assert_eq(c.n, 2);
}

Test(eio_payload, never_reads_past_len)
{
    /* The byte after len is a separator and a valid packet: not ours. */
    char body[] = "4ab\x1e" "4cd";
    struct collected c = { 0 };
    cr_assert_eq(sio_eio_decode_payload((uint8_t *)body, 3, 0, collect, &c), 0);
    cr_assert_eq(c.n, 1);
    assert_pkt(&c.p[0], SIO_EIO_MESSAGE, false, "ab", 2);
}

/* --- handshake -------------------------------------------------------------- */

Test(eio_open, encode_matches_js_exactly)
{
    struct sio_buf b = SIO_BUF_INIT;
    cr_assert_eq(sio_eio_encode_open(&b, "kaGe9WaP4hSEmP0HAAAb", true, 25000, 20000, 1000000), 0);
    size_t len;
    char *body = fixture_body("js_polling_handshake.http", &len);
    cr_assert_eq(b.len, len);
    cr_assert_eq(memcmp(b.data, body, len), 0, "%s\n%s", (char *)b.data, body);
    free(body);

    sio_buf_reset(&b);
    cr_assert_eq(sio_eio_encode_open(&b, "v6H1kkQGK2N-dkWnAAAk", false, 25000, 20000, 1000000), 0);
    cr_assert_str_eq((char *)b.data,
                     "0{\"sid\":\"v6H1kkQGK2N-dkWnAAAk\",\"upgrades\":[],\"pingInterval\":25000,"
                     "\"pingTimeout\":20000,\"maxPayload\":1000000}");
    sio_buf_reset(&b);
    cr_assert_eq(sio_eio_encode_open(&b, "a\"b", true, 1, 1, 1), -EINVAL);
    cr_assert_eq(sio_eio_encode_open(&b, "", true, 1, 1, 1), -EINVAL);
    cr_assert_eq(b.len, 0);
    sio_buf_clear(&b);
}

Test(eio_open, encode_options_from_reference)
{
    const char *files[] = { "js_polling_handshake_ping300.http", "js_polling_handshake_maxbuf1000.http" };
    unsigned interval[] = { 300, 25000 };
    size_t maxp[] = { 1000000, 1000 };
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *body = fixture_body(files[i], &len);
        struct sio_eio_open o;
        cr_assert_eq(sio_eio_parse_open((uint8_t *)body, len, &o), 0);
        cr_assert_eq(o.ping_interval_ms, interval[i]);
        cr_assert_eq(o.max_payload, maxp[i]);
        struct sio_buf b = SIO_BUF_INIT;
        cr_assert_eq(sio_eio_encode_open(&b, o.sid, o.upgrade_websocket, o.ping_interval_ms,
                                         o.ping_timeout_ms, o.max_payload), 0);
        cr_assert_eq(b.len, len);
        cr_assert_eq(memcmp(b.data, body, len), 0);
        sio_buf_clear(&b);
        free(body);
    }
}

Test(eio_open, parse_js_handshake_fixture)
{
    size_t len;
    char *body = fixture_body("js_polling_handshake.http", &len);
    struct sio_eio_packet p;
    cr_assert_eq(sio_eio_decode_frame((uint8_t *)body, len, false, &p), 0);
    cr_assert_eq(p.type, SIO_EIO_OPEN);
    struct sio_eio_open o;
    cr_assert_eq(sio_eio_parse_open(p.data, p.len, &o), 0);
    cr_assert_str_eq(o.sid, "kaGe9WaP4hSEmP0HAAAb");
    cr_assert(o.upgrade_websocket);
    cr_assert_eq(o.ping_interval_ms, 25000);
    cr_assert_eq(o.ping_timeout_ms, 20000);
    cr_assert_eq(o.max_payload, 1000000);
    /* with the type digit too */
    cr_assert_eq(sio_eio_parse_open((uint8_t *)body, len, &o), 0);
    cr_assert_str_eq(o.sid, "kaGe9WaP4hSEmP0HAAAb");
    free(body);
}

Test(eio_open, parse_python_57_handshake_fixture)
{
    size_t len;
    char *body = fixture_body("py_origin_match.http", &len);
    struct sio_eio_open o;
    cr_assert_eq(sio_eio_parse_open((uint8_t *)body + 1, len - 1, &o), 0);
    cr_assert_str_eq(o.sid, "jkub_n02bEgl09_oAAAC");
    cr_assert(o.upgrade_websocket);
    cr_assert_eq(o.ping_interval_ms, 25000);
    cr_assert_eq(o.ping_timeout_ms, 20000);
    cr_assert_eq(o.max_payload, 0);
    free(body);
}

Test(eio_open, parse_ws_open_without_upgrades)
{
    const char *s = "{\"sid\":\"v6H1kkQGK2N-dkWnAAAk\",\"upgrades\":[],\"pingInterval\":25000,"
                    "\"pingTimeout\":20000,\"maxPayload\":1000000}";
    struct sio_eio_open o;
    cr_assert_eq(sio_eio_parse_open((const uint8_t *)s, strlen(s), &o), 0);
    cr_assert_not(o.upgrade_websocket);
    cr_assert_str_eq(o.sid, "v6H1kkQGK2N-dkWnAAAk");
}

Test(eio_open, parse_rejects)
{
    struct {
        const char *s;
        int err;
    } cases[] = {
        { "", SIO_ERR_PROTO },
        { "0", SIO_ERR_PROTO },
        { "[1]", SIO_ERR_PROTO },
        { "{\"sid\":", SIO_ERR_JSON },
        { "{\"sid\":\"a\"} x", SIO_ERR_JSON },
        { "{\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":1,\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"a\",\"upgrades\":[],\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"a\",\"upgrades\":[],\"pingInterval\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"a\",\"upgrades\":[],\"pingInterval\":-1,\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"a\",\"upgrades\":[],\"pingInterval\":1.5,\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"a\",\"upgrades\":[],\"pingInterval\":99999999999,\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"a\",\"upgrades\":\"websocket\",\"pingInterval\":1,\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"a\",\"upgrades\":[1],\"pingInterval\":1,\"pingTimeout\":1}", SIO_ERR_PROTO },
        { "{\"sid\":\"a\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1,\"maxPayload\":\"1\"}", SIO_ERR_PROTO },
        { "{\"sid\":\"0123456789012345678901234567890123456789012345678901234567890123\","
          "\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1}", SIO_ERR_PROTO },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sio_eio_open o;
        memset(&o, 0x55, sizeof(o));
        int r = sio_eio_parse_open((const uint8_t *)cases[i].s, strlen(cases[i].s), &o);
        cr_assert_eq(r, cases[i].err, "case %zu (%s): got %d", i, cases[i].s, r);
        cr_assert_eq(o.sid[0], 0);
        cr_assert_eq(o.ping_interval_ms, 0);
    }
}

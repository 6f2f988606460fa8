/* test-ws.c: the gateway's WebSocket layer (edge/ws/ws.c) as a client sees
 * it over a real socket: what a frame sequence delivers, what goes back,
 * and the close codes of RFC 6455 for what is malformed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "edge/ws/ws.h"

struct peer {
    struct event_base *base;
    int fd;                 /* the client's end */
    struct sio_ws *ws;
    int messages;
    bool binary;
    uint8_t msg[70000];
    size_t msg_len;
    bool closed;
};

static void on_message(struct sio_ws *ws, bool binary, const uint8_t *data, size_t len, void *ud)
{
    struct peer *p = ud;
    (void)ws;
    p->messages++;
    p->binary = binary;
    p->msg_len = len < sizeof p->msg ? len : sizeof p->msg;
    memcpy(p->msg, data, p->msg_len);
}

static void on_close(struct sio_ws *ws, void *ud)
{
    struct peer *p = ud;
    (void)ws;
    p->closed = true;
    p->ws = NULL;
}

static const struct sio_ws_cbs cbs = { on_message, on_close };

static void peer_open(struct peer *p, size_t max_msg)
{
    memset(p, 0, sizeof *p);
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evutil_make_socket_nonblocking(sv[0]);
    p->fd = sv[1];
    p->base = event_base_new();
    struct bufferevent *bev = bufferevent_socket_new(p->base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    p->ws = sio_ws_new(bev, max_msg, &cbs, p);
    cr_assert_not_null(p->ws);
}

static void peer_close(struct peer *p)
{
    if (p->ws)
        sio_ws_abort(p->ws);
    close(p->fd);
    event_base_free(p->base);
}

/* Run the loop until nothing is left to do right now (a few turns). */
static void spin(struct peer *p)
{
    for (int i = 0; i < 20; i++)
        event_base_loop(p->base, EVLOOP_NONBLOCK);
}

/* A client frame: FIN/RSV/opcode byte, then masked payload. */
static size_t frame(uint8_t *out, uint8_t b0, bool mask, const void *data, size_t len)
{
    static const uint8_t key[4] = { 0x12, 0x34, 0x56, 0x78 };
    size_t n = 0;
    out[n++] = b0;
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = m | (uint8_t)len;
    } else if (len < 65536) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[n + i] = ((const uint8_t *)data)[i] ^ (mask ? key[i % 4] : 0);
    return n + len;
}

static void put(struct peer *p, uint8_t b0, bool mask, const void *data, size_t len)
{
    static uint8_t buf[70020];
    size_t n = frame(buf, b0, mask, data, len);
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(p->fd, buf + off, n - off);
        if (w < 0 && errno == EAGAIN) {
            spin(p);
            continue;
        }
        cr_assert(w > 0);
        off += (size_t)w;
    }
}

/* What the server wrote back, up to cap bytes. */
static size_t got(struct peer *p, uint8_t *out, size_t cap)
{
    spin(p);
    size_t n = 0;
    for (;;) {
        ssize_t r = recv(p->fd, out + n, cap - n, MSG_DONTWAIT);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    return n;
}

/* The close code of the close frame the server sent (0: none sent). */
static int close_code(struct peer *p)
{
    uint8_t b[256];
    size_t n = got(p, b, sizeof b);
    for (size_t i = 0; i + 1 < n;) {
        size_t len = b[i + 1] & 0x7f, hdr = 2;
        if ((b[i] & 0x0f) == 8)
            return len >= 2 && i + 4 <= n ? b[i + 2] << 8 | b[i + 3] : 1005;
        i += hdr + len;
    }
    return 0;
}

Test(ws, rfc6455_accept_key_and_key_check)
{
    char out[29];
    sio_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
    cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    cr_assert(sio_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
    cr_assert_not(sio_ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23), "23 characters");
    cr_assert_not(sio_ws_key_valid("dGhlIHNhbXBsZSBub25jZ!==", 24), "not base64");
}

Test(ws, masked_text_is_delivered_and_a_reply_is_framed_unmasked)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x81, true, "42[\"hi\"]", 8);
    spin(&p);
    cr_assert_eq(p.messages, 1);
    cr_assert_not(p.binary);
    cr_assert_eq(p.msg_len, 8);
    cr_assert_eq(memcmp(p.msg, "42[\"hi\"]", 8), 0);
    cr_assert_eq(sio_ws_send(p.ws, false, "3", 1), 0);
    uint8_t b[16];
    size_t n = got(&p, b, sizeof b);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(b, "\x81\x01" "3", 3), 0, "FIN+text, no mask bit, length 1");
    peer_close(&p);
}

Test(ws, lengths_126_and_127_forms)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    static uint8_t big[66000];
    memset(big, 'x', sizeof big);
    put(&p, 0x82, true, big, 300);
    spin(&p);
    cr_assert_eq(p.messages, 1);
    cr_assert(p.binary);
    cr_assert_eq(p.msg_len, 300);
    put(&p, 0x82, true, big, sizeof big);
    spin(&p);
    cr_assert_eq(p.messages, 2);
    cr_assert_eq(p.msg_len, sizeof big);
    cr_assert_eq(p.msg[sizeof big - 1], 'x');
    cr_assert_eq(sio_ws_send(p.ws, true, big, 300), 0);
    static uint8_t b[400];
    size_t n = got(&p, b, sizeof b);
    cr_assert_eq(n, 304);
    cr_assert_eq(memcmp(b, "\x82\x7e\x01\x2c", 4), 0, "binary, 16-bit length 300");
    peer_close(&p);
}

Test(ws, fragments_are_joined_and_a_ping_between_them_is_answered)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x01, true, "hel", 3);     /* text, not FIN */
    put(&p, 0x89, true, "p!", 2);      /* ping in the middle */
    put(&p, 0x00, true, "lo ", 3);     /* continuation */
    put(&p, 0x80, true, "you", 3);     /* continuation, FIN */
    spin(&p);
    cr_assert_eq(p.messages, 1, "one message for four frames");
    cr_assert_eq(p.msg_len, 9);
    cr_assert_eq(memcmp(p.msg, "hello you", 9), 0);
    uint8_t b[16];
    size_t n = got(&p, b, sizeof b);
    cr_assert_eq(n, 4);
    cr_assert_eq(memcmp(b, "\x8a\x02p!", 4), 0, "a pong with the ping's payload");
    peer_close(&p);
}

Test(ws, a_close_frame_is_answered_with_its_code)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x88, true, "\x03\xe8" "bye", 5);
    cr_assert_eq(close_code(&p), 1000);
    spin(&p);
    cr_assert(p.closed, "the connection ends after the close handshake");
    peer_close(&p);
}

Test(ws, unmasked_client_frame_is_1002)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x81, false, "hi", 2);
    cr_assert_eq(close_code(&p), 1002);
    cr_assert_eq(p.messages, 0);
    peer_close(&p);
}

Test(ws, rsv_bits_without_extension_are_1002)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0xc1, true, "hi", 2);      /* RSV1: no permessage-deflate was agreed */
    cr_assert_eq(close_code(&p), 1002);
    cr_assert_eq(p.messages, 0);
    peer_close(&p);
}

Test(ws, continuation_without_a_start_is_1002)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x80, true, "x", 1);
    cr_assert_eq(close_code(&p), 1002);
    peer_close(&p);
}

Test(ws, new_message_inside_a_fragmented_one_is_1002)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x01, true, "a", 1);
    put(&p, 0x81, true, "b", 1);
    cr_assert_eq(close_code(&p), 1002);
    cr_assert_eq(p.messages, 0);
    peer_close(&p);
}

Test(ws, fragmented_or_long_control_frames_are_1002)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x09, true, "p", 1);       /* ping without FIN */
    cr_assert_eq(close_code(&p), 1002);
    peer_close(&p);
    peer_open(&p, 1 << 20);
    static uint8_t big[126];
    put(&p, 0x89, true, big, sizeof big);
    cr_assert_eq(close_code(&p), 1002, "a control frame carries at most 125 bytes");
    peer_close(&p);
}

Test(ws, unknown_opcode_is_1002)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x83, true, "x", 1);
    cr_assert_eq(close_code(&p), 1002);
    peer_close(&p);
}

Test(ws, invalid_utf8_text_is_1007_even_across_fragments)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x81, true, "\xc3\x28", 2);
    cr_assert_eq(close_code(&p), 1007);
    cr_assert_eq(p.messages, 0);
    peer_close(&p);
    /* a character split between two fragments is valid */
    peer_open(&p, 1 << 20);
    put(&p, 0x01, true, "\xc3", 1);
    put(&p, 0x80, true, "\xa9", 1);
    spin(&p);
    cr_assert_eq(p.messages, 1);
    cr_assert_eq(memcmp(p.msg, "\xc3\xa9", 2), 0);
    peer_close(&p);
}

Test(ws, bad_close_codes_and_reasons)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    put(&p, 0x88, true, "\x03\xed", 2);    /* 1005 may not be sent */
    cr_assert_eq(close_code(&p), 1002);
    peer_close(&p);
    peer_open(&p, 1 << 20);
    put(&p, 0x88, true, "\x03\xe8\xff", 3);
    cr_assert_eq(close_code(&p), 1007, "a close reason must be UTF-8");
    peer_close(&p);
    peer_open(&p, 1 << 20);
    put(&p, 0x88, true, "", 0);
    cr_assert_eq(close_code(&p), 1005, "a close without a code is answered without one");
    peer_close(&p);
}

Test(ws, message_over_the_limit_is_1009)
{
    struct peer p;
    peer_open(&p, 100);
    static uint8_t big[101];
    put(&p, 0x82, true, big, 100);
    spin(&p);
    cr_assert_eq(p.messages, 1, "exactly the limit is accepted");
    put(&p, 0x82, true, big, sizeof big);
    cr_assert_eq(close_code(&p), 1009);
    cr_assert_eq(p.messages, 1);
    peer_close(&p);
    /* the limit holds for a message made of small fragments too */
    peer_open(&p, 100);
    for (int i = 0; i < 3; i++)
        put(&p, 0x02 * (i == 0), true, big, 40);
    cr_assert_eq(close_code(&p), 1009);
    cr_assert_eq(p.messages, 0);
    peer_close(&p);
}

Test(ws, frames_split_into_single_bytes_still_parse)
{
    struct peer p;
    peer_open(&p, 1 << 20);
    uint8_t buf[64];
    size_t n = frame(buf, 0x81, true, "byte by byte", 12);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(write(p.fd, buf + i, 1), 1);
        spin(&p);
    }
    cr_assert_eq(p.messages, 1);
    cr_assert_eq(memcmp(p.msg, "byte by byte", 12), 0);
    peer_close(&p);
}

Test(ws, a_frame_made_once_for_many_recipients)
{
    struct sio_buf out = SIO_BUF_INIT;
    cr_assert_eq(sio_ws_frame(&out, false, "42[\"news\"]", 10), 0);
    cr_assert_eq(out.len, 12);
    cr_assert_eq(memcmp(out.data, "\x81\x0a" "42[\"news\"]", 12), 0);
    static uint8_t big[300];
    sio_buf_reset(&out);
    cr_assert_eq(sio_ws_frame(&out, true, big, sizeof big), 0);
    cr_assert_eq(out.len, 304);
    cr_assert_eq(memcmp(out.data, "\x82\x7e\x01\x2c", 4), 0, "binary, 16-bit length 300");
    sio_buf_clear(&out);
}

/* fuzz-eio-payload.c: libFuzzer target for the Engine.IO codec (eio.c).
 *
 * The input is a polling payload (decoded in place, then re-encoded and
 * decoded again: the packets must survive), a WebSocket frame, and an open
 * packet for sio_eio_parse_open(). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>
#include "proto/eio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PKTS 256

struct pkts {
    size_t n;
    struct sio_eio_packet p[MAX_PKTS];
};

static int collect(const struct sio_eio_packet *pkt, void *ud)
{
    struct pkts *c = ud;
    if (pkt->type > SIO_EIO_NOOP || (pkt->binary && pkt->type != SIO_EIO_MESSAGE))
        abort();
    c->p[c->n++] = *pkt;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy so that ASan sees any read past the end */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);

    struct pkts *a = calloc(1, sizeof(*a));
    struct pkts *b = calloc(1, sizeof(*b));
    struct sio_buf out = SIO_BUF_INIT;
    if (!a || !b)
        goto done;
    int r = sio_eio_decode_payload(buf, size, MAX_PKTS, collect, a);
    if (r == 0) {
        for (size_t i = 0; i < a->n; i++)
            if (a->p[i].data < buf || a->p[i].data + a->p[i].len > buf + size ||
                sio_eio_encode_payload(&out, a->p[i].type, a->p[i].binary,
                                       a->p[i].data, a->p[i].len) != 0)
                abort();
        /* Text packets cannot contain 0x1e (it split them), so the
         * re-encoded payload must give the same packets back. */
        if (sio_eio_decode_payload(out.data, out.len, MAX_PKTS, collect, b) != 0 ||
            b->n != a->n)
            abort();
        for (size_t i = 0; i < a->n; i++)
            if (a->p[i].type != b->p[i].type || a->p[i].binary != b->p[i].binary ||
                a->p[i].len != b->p[i].len ||
                memcmp(a->p[i].data, b->p[i].data, a->p[i].len) != 0)
                abort();
    } else if (r != SIO_ERR_PROTO && r != SIO_ERR_TYPE && r != SIO_ERR_BASE64 &&
               r != SIO_ERR_TOOBIG) {
        abort();
    }

    /* the original bytes as WebSocket frames, text and binary */
    memcpy(buf, data, size);
    struct sio_eio_packet p;
    if (sio_eio_decode_frame(buf, size, false, &p) == 0) {
        sio_buf_reset(&out);
        if (sio_eio_encode_frame(&out, p.type, false, p.data, p.len) != 0 || out.len != size ||
            memcmp(out.data, data, size) != 0)
            abort();
    }
    if (sio_eio_decode_frame(buf, size, true, &p) != 0 || p.len != size)
        abort();

    struct sio_eio_open o;
    if (sio_eio_parse_open(buf, size, &o) == 0) {
        sio_buf_reset(&out);
        if (strlen(o.sid) == 0 || strlen(o.sid) >= sizeof(o.sid))
            abort();
        (void)sio_eio_encode_open(&out, o.sid, o.upgrade_websocket, o.ping_interval_ms,
                                  o.ping_timeout_ms, o.max_payload);
    }
done:
    sio_buf_clear(&out);
    free(a);
    free(b);
    free(buf);
    return 0;
}

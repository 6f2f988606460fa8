/* fuzz-ws-frame.c: libFuzzer target for the gateway's own WebSocket frame
 * header parser and unmasking (edge/ws/frame.c), each checked against a
 * byte-by-byte definition from RFC 6455 section 5.2:
 * - sio_ws_hdr_parse() on every prefix of the input: 0 exactly when the
 *   prefix is too short, -1 exactly for a length not in its shortest form
 *   or with the top bit set, otherwise the right fields and length;
 * - sio_ws_unmask() at every alignment and key offset equals XOR with
 *   key[(off + i) % 4], and returns the next offset;
 * - sio_ws_hdr_write() followed by sio_ws_hdr_parse() gives back the
 *   opcode and length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "edge/ws/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The definition: header length, or 0 (short) / -1 (malformed). */
static int ref_parse(const uint8_t *p, size_t n, uint64_t *len)
{
    if (n < 2)
        return 0;
    size_t hl = 2, l7 = p[1] & 127;
    uint64_t v = l7;
    if (l7 == 126) {
        if (n < 4)
            return 0;
        v = (uint64_t)p[2] * 256 + p[3];
        hl = 4;
        if (v <= 125)
            return -1;
    } else if (l7 == 127) {
        if (n < 10)
            return 0;
        v = 0;
        for (int i = 2; i < 10; i++)
            v = v * 256 + p[i];
        hl = 10;
        if (p[2] & 0x80 || v <= 65535)
            return -1;
    }
    if (p[1] & 0x80)
        hl += 4;
    if (n < hl)
        return 0;
    *len = v;
    return (int)hl;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t n = 0; n <= size && n <= SIO_WS_HDR_MAX + 1; n++) {
        struct sio_ws_hdr h;
        uint64_t rlen = 0;
        int got = sio_ws_hdr_parse(data, n, &h), want = ref_parse(data, n, &rlen);
        if (got != want)
            abort();
        if (got > 0) {
            if (h.len != rlen || h.fin != (data[0] >> 7) || h.opcode != (data[0] & 15) ||
                h.rsv != ((data[0] >> 4) & 7) || h.masked != (data[1] >> 7))
                abort();
            if (h.masked && memcmp(h.mask, data + got - 4, 4) != 0)
                abort();
        }
    }
    if (size >= 5) {
        const uint8_t *key = data;
        unsigned off = data[4] & 3;
        size_t n = size - 5;
        uint8_t *buf = malloc(n + 8), *want = malloc(n + 8);
        if (!buf || !want)
            abort();
        for (size_t shift = 0; shift < 8; shift++) {      /* every alignment */
            memcpy(buf + shift, data + 5, n);
            for (size_t i = 0; i < n; i++)
                want[i] = data[5 + i] ^ key[(off + i) & 3];
            if (sio_ws_unmask(buf + shift, n, key, off) != ((off + n) & 3) ||
                memcmp(buf + shift, want, n) != 0)
                abort();
        }
        free(buf);
        free(want);
        uint64_t len = 0;
        for (int i = 0; i < 8 && i < (int)size; i++)
            len = len << 8 | data[i];
        len >>= data[0] & 63;
        len &= ~(1ull << 63);
        uint8_t hb[SIO_WS_HDR_MAX];
        size_t hl = sio_ws_hdr_write(hb, data[1] & 15, len);
        struct sio_ws_hdr h;
        if (sio_ws_hdr_parse(hb, hl, &h) != (int)hl || h.len != len || h.opcode != (data[1] & 15) ||
            !h.fin || h.masked || h.rsv)
            abort();
    }
    return 0;
}

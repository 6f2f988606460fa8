/* frame.c: WebSocket frame headers and unmasking (see frame.h). */
#include "edge/ws/frame.h"

#include <string.h>

int sio_ws_hdr_parse(const uint8_t *p, size_t n, struct sio_ws_hdr *h)
{
    if (n < 2)
        return 0;
    h->fin = p[0] >> 7;
    h->rsv = (uint8_t)(p[0] >> 4 & 7);
    h->opcode = p[0] & 15;
    h->masked = p[1] >> 7;
    uint64_t len = p[1] & 127;
    size_t hl = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        hl = 4;
        if (len < 126)
            return -1;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        hl = 10;
        if (len >> 63 || len < 65536)
            return -1;
    }
    if (h->masked) {
        if (n < hl + 4)
            return 0;
        memcpy(h->mask, p + hl, 4);
        hl += 4;
    } else {
        memset(h->mask, 0, 4);
    }
    h->len = len;
    return (int)hl;
}

unsigned sio_ws_unmask(uint8_t *p, size_t n, const uint8_t key[4], unsigned off)
{
    size_t i = 0;
    /* bytes up to an 8-byte boundary, then eight at a time with the key
     * turned to start where the boundary falls, then the rest */
    while (i < n && ((uintptr_t)(p + i) & 7)) {
        p[i] ^= key[(off + i) & 3];
        i++;
    }
    if (n - i >= 8) {
        uint8_t k8[8];
        for (unsigned j = 0; j < 8; j++)
            k8[j] = key[(off + i + j) & 3];
        uint64_t k;
        memcpy(&k, k8, 8);
        for (; i + 8 <= n; i += 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            v ^= k;
            memcpy(p + i, &v, 8);
        }
    }
    for (; i < n; i++)
        p[i] ^= key[(off + i) & 3];
    return (unsigned)((off + n) & 3);
}

size_t sio_ws_hdr_write(uint8_t h[10], unsigned opcode, uint64_t len)
{
    h[0] = (uint8_t)(0x80 | (opcode & 15));
    if (len < 126) {
        h[1] = (uint8_t)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

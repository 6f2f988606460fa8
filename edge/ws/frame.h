/* frame.h: WebSocket frame headers and unmasking (RFC 6455 section 5.2),
 * written for the gateway's hot path (internal).
 *
 * The gateway's receive path parses frame headers and unmasks payloads
 * itself, in place and eight bytes at a time, instead of through wslay's
 * frame layer, which copies each byte through its own buffer and unmasks
 * one byte per iteration (DESIGN.md allows this; docs/PERFORMANCE.md has
 * the profile). wslay stays for the client. The rules above the frame
 * (opcodes, fragmentation, control frames, close codes, UTF-8) are ws.c's.
 * tests/fuzz/fuzz-ws-frame.c checks both functions against byte-by-byte
 * definitions.
 */
#ifndef SIO_EDGE_WS_FRAME_H
#define SIO_EDGE_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


struct sio_ws_hdr {
    bool fin;
    uint8_t rsv;        /* the three RSV bits, RSV1 highest */
    uint8_t opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t len;       /* payload length */
};

/* The longest header: 2 + 8 (64-bit length) + 4 (masking key). */
#define SIO_WS_HDR_MAX 14

/* Parse the frame header at p (n bytes there). Returns the header's length
 * (2 to 14) with *h filled, 0 when more bytes are needed, or -1 when the
 * header is malformed: a length not in its shortest form, or a 64-bit
 * length with its top bit set. */
int sio_ws_hdr_parse(const uint8_t *p, size_t n, struct sio_ws_hdr *h);

/* XOR n bytes at p, in place, with the masking key, whose byte `off` (0-3)
 * applies to p[0]. Returns the key offset for the byte after p[n - 1]. */
unsigned sio_ws_unmask(uint8_t *p, size_t n, const uint8_t key[4], unsigned off);

/* Write an unmasked (server) frame header with FIN set for a payload of len
 * bytes. Returns its length (2, 4 or 10). */
size_t sio_ws_hdr_write(uint8_t h[10], unsigned opcode, uint64_t len);


#endif

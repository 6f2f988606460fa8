/* eio.h: the Engine.IO v4 packet and payload codec (no I/O).
 *
 * Shared by the gateway and the client. Decoding never reads past the given
 * buffer and never allocates; it reports precise errors (SIO_ERR_*).
 *
 * Packet types are the ASCII digits '0'..'6' on the wire. Over WebSocket one
 * frame is one packet (a binary frame is a binary MESSAGE with no type
 * byte). Over polling a payload is packets joined by 0x1e; a binary message
 * is "b" + base64.
 *
 * EIO=3 (length-prefixed payloads) is not implemented; enum sio_eio_version
 * and the version argument keep room for it.
 */
#ifndef SIO_PROTO_EIO_H
#define SIO_PROTO_EIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

/* Internal API (not exported from libsio, not installed): linked statically into
 * libsio, the sio tools and the tests. */
enum sio_eio_type {
    SIO_EIO_OPEN = 0, SIO_EIO_CLOSE = 1, SIO_EIO_PING = 2, SIO_EIO_PONG = 3,
    SIO_EIO_MESSAGE = 4, SIO_EIO_UPGRADE = 5, SIO_EIO_NOOP = 6,
};

enum sio_eio_version { SIO_EIO_V4 = 4, SIO_EIO_V3 = 3 /* reserved */ };

#define SIO_EIO_RS 0x1e   /* record separator between polling packets */

struct sio_eio_packet {
    enum sio_eio_type type;
    bool binary;            /* binary MESSAGE: data is raw bytes */
    const uint8_t *data;    /* payload after the type byte; borrowed */
    size_t len;
};

/* Decode one packet from a WebSocket frame. binary_frame: the frame's opcode
 * was 0x2 (the whole frame is a binary message). Returns 0 or SIO_ERR_PROTO
 * (empty text frame) / SIO_ERR_TYPE (unknown type byte). */
int sio_eio_decode_frame(const uint8_t *buf, size_t len, bool binary_frame,
                         struct sio_eio_packet *out);

/* Callback for each packet of a polling payload; return non-zero to stop
 * (that value is then returned by sio_eio_decode_payload). */
typedef int (*sio_eio_packet_fn)(const struct sio_eio_packet *pkt, void *ud);

/* Decode a polling payload in place (base64 binary is decoded into buf
 * itself, which is why it is not const). Calls fn for each packet in order.
 * An empty payload, an empty packet, an unknown type or bad base64 is an
 * error (SIO_ERR_PROTO/TYPE/BASE64); packets before the bad one have
 * already been delivered. max_packets bounds the count (0 = no bound):
 * more is SIO_ERR_TOOBIG, found before any packet is delivered. */
int sio_eio_decode_payload(uint8_t *buf, size_t len, size_t max_packets,
                           sio_eio_packet_fn fn, void *ud);

/* Encode one packet for a WebSocket frame: text packets get the type digit;
 * a binary MESSAGE is the raw bytes (send it in a binary frame). Appends to
 * out. 0, -EINVAL (unknown type, binary on a type other than MESSAGE) or
 * -ENOMEM. */
int sio_eio_encode_frame(struct sio_buf *out, enum sio_eio_type type,
                         bool binary, const void *data, size_t len);

/* Append one packet to a polling payload (adds the 0x1e separator when out
 * is not empty; binary as "b"+base64). 0, -EINVAL (as above) or -ENOMEM. */
int sio_eio_encode_payload(struct sio_buf *out, enum sio_eio_type type,
                           bool binary, const void *data, size_t len);

/* The handshake body: 0{"sid":..,"upgrades":[..],"pingInterval":..,
 * "pingTimeout":..,"maxPayload":..} exactly as the JS server orders it
 * ("upgrades":[] when upgrades_websocket is false). Appends the packet (with
 * its '0' type digit) to out. 0, -EINVAL (sid empty, 64 bytes or more, or
 * with a character JSON would escape) or -ENOMEM. */
int sio_eio_encode_open(struct sio_buf *out, const char *sid,
                        bool upgrades_websocket, unsigned ping_interval_ms,
                        unsigned ping_timeout_ms, size_t max_payload);

/* Parse an open packet's JSON (client side): data/len is the packet's data,
 * or the whole packet with its '0' type digit. Keys in any order (python-
 * socketio 5.7 sends pingTimeout first and no maxPayload). sid (1..63
 * bytes) is copied into out->sid. 0, SIO_ERR_JSON (not JSON) or
 * SIO_ERR_PROTO (not an object, sid missing or too long, pingInterval or
 * pingTimeout missing or not an unsigned int, upgrades not an array of
 * strings, maxPayload not a non-negative integer); on error *out is zeroed. */
struct sio_eio_open {
    char sid[64];
    bool upgrade_websocket;
    unsigned ping_interval_ms;
    unsigned ping_timeout_ms;
    size_t max_payload;      /* 0 when absent (python-socketio 5.7) */
};
int sio_eio_parse_open(const uint8_t *data, size_t len, struct sio_eio_open *out);

#endif

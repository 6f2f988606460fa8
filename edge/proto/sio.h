/* sio.h (proto): the Socket.IO v5 packet codec (no I/O).
 *
 * A Socket.IO packet rides in one Engine.IO MESSAGE:
 *   <type digit>[<attachments>-][<nsp>,][<ack id>][<JSON data>]
 * followed, for BINARY_EVENT/BINARY_ACK, by <attachments> binary messages.
 *
 * Two decoding depths:
 *  - sio_packet_parse_header(): what the gateway needs. Validates the header
 *    (type, attachment count, namespace, ack id) and that the data looks like
 *    the right shape by its first byte, without parsing the JSON. O(header).
 *  - sio_packet_decode(): full decode with jansson (workers and the client):
 *    strict shape checks per type (EVENT data is a non-empty array with a
 *    string first; ACK data an array; CONNECT data absent or an object;
 *    CONNECT_ERROR an object or string; DISCONNECT no data).
 *
 * Binary: the codec turns placeholders into binary values (see <sio/msg.h>)
 * on decode (sio_packet_reconstruct) and back on encode
 * (sio_json_deconstruct).
 *
 * Encoding once for many recipients: sio_packet_encode() produces the packet
 * text into a sio_buf the caller keeps and hands to every recipient.
 */
#ifndef SIO_PROTO_SIO_H
#define SIO_PROTO_SIO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

/* Internal API: exported from libsio for the sio tools and tests, not installed. */
#pragma GCC visibility push(default)

enum sio_packet_type {
    SIO_PKT_CONNECT = 0, SIO_PKT_DISCONNECT = 1, SIO_PKT_EVENT = 2,
    SIO_PKT_ACK = 3, SIO_PKT_CONNECT_ERROR = 4, SIO_PKT_BINARY_EVENT = 5,
    SIO_PKT_BINARY_ACK = 6,
};

#define SIO_MAX_ATTACHMENTS 1000    /* refuse more than this many in one packet */
#define SIO_MAX_NSP_LEN     1024

struct sio_packet_hdr {
    enum sio_packet_type type;
    const char *nsp;        /* borrowed from the input; "/" when absent */
    size_t nsp_len;
    int64_t id;             /* ack id, -1 when absent */
    unsigned attachments;   /* binary messages that follow (BINARY_*) */
    const char *data;       /* JSON text after the header, borrowed; may be empty */
    size_t data_len;
};

/* Validate and split a packet's header. buf/len is the Engine.IO message
 * payload (text). max_len (0 = none) bounds len (SIO_ERR_TOOBIG). Errors:
 * SIO_ERR_TYPE, SIO_ERR_NSP (not starting with '/', or no ',' after it
 * when data follows... see eio.c), SIO_ERR_ACKID (overflow, or on a type
 * that takes none), SIO_ERR_ATTACH, SIO_ERR_SHAPE (first data byte wrong
 * for the type, or data where none is allowed). */
int sio_packet_parse_header(const char *buf, size_t len, size_t max_len,
                            struct sio_packet_hdr *out);

/* A fully decoded packet. Owns data (a new reference or NULL). */
struct sio_packet {
    enum sio_packet_type type;
    char *nsp;              /* malloc'd, NUL-terminated */
    int64_t id;             /* -1 when absent */
    unsigned attachments;
    json_t *data;           /* NULL when the packet has none */
};

/* Full decode: header, then JSON with jansson and the per-type shape
 * checks. For BINARY_* packets data still holds placeholders; call
 * sio_packet_reconstruct() once the attachments have arrived. On error
 * *out is left cleared. */
int sio_packet_decode(const char *buf, size_t len, size_t max_len,
                      struct sio_packet *out);
void sio_packet_clear(struct sio_packet *p);

struct sio_bin {
    const uint8_t *data;
    size_t len;
};

/* Replace every {"_placeholder":true,"num":N} in data (in place, recursive)
 * with a binary value holding a copy of bins[N]. Every N must be < nbins
 * and every attachment must be referenced: otherwise SIO_ERR_ATTACH. */
int sio_packet_reconstruct(json_t *data, const struct sio_bin *bins, size_t nbins);

/* Attachments collected by sio_json_deconstruct(): borrowed pointers into
 * the binary values of the source json. */
struct sio_bins {
    struct sio_bin *v;
    size_t n, cap;
};
void sio_bins_clear(struct sio_bins *b);

/* Return a deep copy of data in which each binary value is replaced by a
 * placeholder {"_placeholder":true,"num":N}, N in order of a depth-first
 * walk; bins receives the attachments (borrowed from data, which must
 * outlive bins). Returns NULL on allocation failure. When data holds no
 * binary value, returns a new reference to data itself and bins->n == 0. */
json_t *sio_json_deconstruct(json_t *data, struct sio_bins *bins);

/* Append the packet text to out (no Engine.IO type digit):
 *   type, "<n>-" when attachments > 0, "<nsp>," when nsp is not "/",
 *   the ack id when id >= 0, then json_text (may be NULL/empty).
 * json_text is already-serialized JSON (the bus carries JSON text). */
int sio_packet_encode(struct sio_buf *out, enum sio_packet_type type,
                      const char *nsp, size_t nsp_len, int64_t id,
                      unsigned attachments, const char *json_text, size_t json_len);

/* Serialize data compactly as the JS client/server do (no spaces,
 * JSON_COMPACT, keys in insertion order) and append to out. */
int sio_json_dump(struct sio_buf *out, const json_t *data);

#pragma GCC visibility pop

#endif

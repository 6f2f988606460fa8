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
#include "base/buf.h"

/* Internal API (not exported from libsio, not installed): linked statically into
 * libsio, the sio tools and the tests. */
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
 * payload (text, without the Engine.IO '4'); never read past len. The
 * namespace runs from a '/' right after the type (and attachment count) to
 * the first ',' or the end. max_len (0 = none) bounds len. On error *out is
 * reset (nsp "/", id -1). Errors:
 *   SIO_ERR_PROTO   empty packet
 *   SIO_ERR_TOOBIG  len > max_len
 *   SIO_ERR_TYPE    type not '0'..'6'
 *   SIO_ERR_ATTACH  BINARY_* without "<digits>-", a count over
 *                   SIO_MAX_ATTACHMENTS, or "<n>-" on another type
 *   SIO_ERR_NSP     a namespace without its '/' ("2chat,[..]"), longer
 *                   than SIO_MAX_NSP_LEN, or holding a NUL byte
 *   SIO_ERR_ACKID   over 18 digits or 2^53 - 1, an id on CONNECT,
 *                   DISCONNECT or CONNECT_ERROR, or none on ACK/BINARY_ACK
 *   SIO_ERR_SHAPE   by the first data byte: '[' for EVENT, ACK and BINARY_*,
 *                   '{' or nothing for CONNECT, '{' or '"' for
 *                   CONNECT_ERROR, nothing for DISCONNECT. */
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
 * *out is left cleared. Numbers: integers that fit int64 are jansson
 * integers; when one does not (JS sends 1e20 as 100000000000000000000), the
 * packet is accepted as JS accepts it, with all its numbers as reals, so
 * read numbers with json_number_value(). Errors: those of
 * sio_packet_parse_header(), SIO_ERR_JSON, SIO_ERR_SHAPE, -ENOMEM. */
int sio_packet_decode(const char *buf, size_t len, size_t max_len,
                      struct sio_packet *out);
void sio_packet_clear(struct sio_packet *p);

struct sio_bin {
    const uint8_t *data;
    size_t len;
};

/* Replace every {"_placeholder":true,"num":N} in data (in place, recursive)
 * with a binary value holding a copy of bins[N]. Every N must be an integer
 * < nbins and every attachment must be referenced (one may be referenced
 * twice, as JS allows): otherwise SIO_ERR_ATTACH and data is untouched.
 * A placeholder object is turned into the binary value itself, so data may
 * be one. 0, SIO_ERR_ATTACH or -ENOMEM. */
int sio_packet_reconstruct(json_t *data, const struct sio_bin *bins, size_t nbins);

/* Attachments collected by sio_json_deconstruct(): borrowed pointers into
 * the binary values of the source json. */
struct sio_bins {
    struct sio_bin *v;
    size_t n, cap;
};
void sio_bins_clear(struct sio_bins *b);

/* Return a copy of data in which each binary value is replaced by a
 * placeholder {"_placeholder":true,"num":N}, N in order of a depth-first
 * walk (object keys in insertion order, as JS); bins receives the
 * attachments (borrowed from data, which must outlive bins). Arrays and
 * objects are copied, scalars shared. bins->n is reset first (its storage
 * is reused). Returns NULL on allocation failure, when data is NULL or
 * nested deeper than 4096 (a cycle). When data holds no binary value,
 * returns a new reference to data itself and bins->n == 0. */
json_t *sio_json_deconstruct(json_t *data, struct sio_bins *bins);

/* Append the packet text to out (no Engine.IO type digit):
 *   type, "<n>-" for BINARY_* types (also when n is 0, so that it parses
 *   back), "<nsp>," when nsp is not "/" (NULL means "/"), the ack id when
 *   id >= 0, then json_text (may be NULL/empty).
 * json_text is already-serialized JSON (the bus carries JSON text); it is
 * not checked. 0, -EINVAL (unknown type, attachments on a non-binary type)
 * or -ENOMEM; out is unchanged on error. */
int sio_packet_encode(struct sio_buf *out, enum sio_packet_type type,
                      const char *nsp, size_t nsp_len, int64_t id,
                      unsigned attachments, const char *json_text, size_t json_len);

/* Serialize data and append to out, byte for byte as JS JSON.stringify:
 * no spaces, keys in insertion order, '/' and non-ASCII UTF-8 as they are,
 * control characters as lower-case \u00XX, numbers in their shortest
 * round-trip form (1.0 -> 1, 0.1 -> 0.1, 1e21 -> 1e+21). Binary values are
 * refused (-EINVAL: sio_json_deconstruct() first), as are data NULL and
 * nesting over 4096 (-ELOOP). 0 or < 0; out is unchanged on error. */
int sio_json_dump(struct sio_buf *out, const json_t *data);

#endif

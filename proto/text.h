/* text.h (proto): fast checks over large text, shared by the gateway's
 * WebSocket layer, the codecs and the workers (no I/O).
 *
 * - sio_utf8_valid(): strict UTF-8 (RFC 3629: no overlong forms, no
 *   surrogates, nothing above U+10FFFF), 32 ASCII bytes per step.
 * - sio_json_loadb(): jansson's json_loadb() for Socket.IO argument text,
 *   with a fast path for long strings. jansson's lexer handles every byte
 *   through several function calls (about 10 ns a byte: 670 us for one
 *   64 KiB string, 0.45 of the 0.95 us it takes for
 *   ["echo","<64 bytes>"]). Before calling it on a large text, the string literals
 *   of at least sio_json_fast_min bytes (32) that hold no escape, no control
 *   character and only valid UTF-8 are cut out and replaced by short
 *   marker strings ("\u0001" + their index); jansson parses the rest (all
 *   structure, numbers, keys and every string with an escape stays its
 *   job), then each marker value is replaced by a string made from the cut
 *   bytes. The result is the same tree json_loadb() gives (the unit test
 *   and the fuzz target "json-load" compare both on every input). A text
 *   that already contains the bytes \u0001 is left to jansson whole, so a
 *   marker can never be confused with a peer's string.
 */
#ifndef SIO_PROTO_TEXT_H
#define SIO_PROTO_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sixteen bytes as one vector (GCC/clang vector extensions: SSE2 on x86-64,
 * NEON on arm64, plain code elsewhere). */
typedef uint8_t sio_v16 __attribute__((vector_size(16)));

static inline sio_v16 sio_v16_load(const void *p)
{
    sio_v16 v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

/* True when some lane of m (0 or all ones per lane) is set. */
static inline bool sio_v16_any(sio_v16 m)
{
    uint64_t a, b;
    __builtin_memcpy(&a, &m, 8);
    __builtin_memcpy(&b, (const uint8_t *)&m + 8, 8);
    return (a | b) != 0;
}

/* The lanes of v holding what a JSON string must escape: a control
 * character (< 0x20), '"' or '\\'. */
static inline sio_v16 sio_json_special(sio_v16 v)
{
    return (sio_v16)((v < 0x20) | (v == '"') | (v == '\\'));
}

/* True when one of the sixteen bytes at p must be escaped in JSON. */
static inline bool sio_json_block_special(const uint8_t *p)
{
    return sio_v16_any(sio_json_special(sio_v16_load(p)));
}

bool sio_utf8_valid(const uint8_t *p, size_t n);

/* Same contract as json_loadb(buf, len, flags, err). Texts shorter than
 * 2 * sio_json_fast_min go straight to json_loadb(), as does any call with
 * JSON_DISABLE_EOF_CHECK. On an error, err describes the text jansson saw
 * (positions may differ from the input's). */
json_t *sio_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err);

/* String literals at least this long take the fast path (default 32).
 * Process-wide, for tests and the fuzz target: 1 sends every plain string
 * through it, SIZE_MAX turns it off. */
extern size_t sio_json_fast_min;

#endif

/* text.h (proto): fast checks over large text, shared by the gateway's
 * WebSocket layer, the codecs and the workers (no I/O).
 *
 * - sio_utf8_valid(): strict UTF-8 (RFC 3629: no overlong forms, no
 *   surrogates, nothing above U+10FFFF), eight ASCII bytes per step.
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

#pragma GCC visibility push(default)

/* Nonzero when one of the eight bytes of w (any byte order) is a control
 * character (< 0x20), '"' or '\\': what a JSON string must escape. */
static inline uint64_t sio_json_word_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
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

#pragma GCC visibility pop

#endif

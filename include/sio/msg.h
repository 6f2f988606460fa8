/* msg.h: binary values inside jansson arguments.
 *
 * Socket.IO arguments are JSON plus binary attachments. In sio, a binary
 * value is a jansson object made by sio_binary_new(): it can sit anywhere in
 * an argument array or object, be copied (json_incref) into an emit, and is
 * turned into a {"_placeholder":true,"num":N} attachment when encoded. On
 * receive, placeholders are turned back into binary values before a handler
 * or client callback sees the arguments.
 *
 * Representation (stable, part of the ABI): an object with exactly one key,
 * SIO_BINARY_KEY (SIO_BINARY_KEY_LEN bytes, starting with a NUL byte so
 * that no JSON text received from a peer can spell it: jansson refuses NUL
 * in object keys), whose value is a jansson string made with
 * json_stringn_nocheck() holding the raw bytes. Use the functions below.
 */
#ifndef SIO_MSG_H
#define SIO_MSG_H

#include <sio/export.h>

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SIO_BINARY_KEY "\0sio_binary"
#define SIO_BINARY_KEY_LEN 11

/* A new binary value holding a copy of len bytes at data (data may be NULL
 * when len is 0). Returns a new reference, NULL on allocation failure. */
SIO_EXPORT
json_t *sio_binary_new(const void *data, size_t len);

/* True when v is a binary value. When it is and data/len are not NULL, they
 * receive a pointer to the bytes (borrowed, valid while v lives) and the
 * length. */
SIO_EXPORT
bool sio_binary_get(const json_t *v, const void **data, size_t *len);

/* A deep copy that keeps binary values binary (jansson's json_deep_copy()
 * turns them into plain objects: it copies keys as C strings). A new
 * reference, NULL on allocation failure. */
SIO_EXPORT
json_t *sio_json_deep_copy(const json_t *v);

/* Deep equality that understands binary values (jansson's json_equal()
 * cannot compare them: it looks keys up as C strings). */
SIO_EXPORT
bool sio_json_equal(const json_t *a, const json_t *b);

#endif

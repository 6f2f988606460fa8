/* pickle.h: a restricted pickle decoder (plain data only) into jansson.
 *
 * python-socketio's managers (5.7.2, Debian's) publish pickle.dumps(dict).
 * A real unpickler runs code named by the pickle (GLOBAL + REDUCE ...), so
 * anyone able to publish on the channel could run commands on the reader.
 * This decoder is written by hand on purpose and accepts only the opcodes
 * that build plain data:
 *
 *   PROTO FRAME STOP MARK
 *   EMPTY_DICT DICT SETITEM SETITEMS   EMPTY_LIST LIST APPEND APPENDS
 *   EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3
 *   SHORT_BINUNICODE BINUNICODE BINUNICODE8
 *   SHORT_BINBYTES BINBYTES BINBYTES8
 *   BININT BININT1 BININT2 LONG1 (up to 8 bytes) BINFLOAT (finite)
 *   NONE NEWTRUE NEWFALSE
 *   MEMOIZE BINPUT LONG_BINPUT BINGET LONG_BINGET
 *
 * Every other opcode (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ,
 * NEWOBJ, NEWOBJ_EX, PERSID, BINPERSID, EXT1/2/4, the text protocol-0
 * forms, sets, bytearrays, out-of-band buffers ...) rejects the whole
 * message: nothing is ever looked up, imported or called.
 *
 * Mapping: dict -> object (keys must be str without NUL), list and tuple
 * -> array (tuples are recorded, see sio_pickle_is_tuple(): python-socketio
 * 5.7.2 sends a tuple of several arguments), str -> string (valid UTF-8),
 * bytes -> binary value (<sio/msg.h>), int -> integer (int64), float ->
 * real, None/True/False -> null/true/false.
 *
 * A memo get of a list/dict/tuple yields a deep copy (so no cycle can be
 * built); copies count against max_nodes, so "billion laughs" pickles are
 * refused. Bounds: every length is checked against the input, nesting
 * against max_depth, values made against max_nodes.
 */
#ifndef SIO_ADAPTERS_PICKLE_H
#define SIO_ADAPTERS_PICKLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SIO_PICKLE_MAX_DEPTH 32
#define SIO_PICKLE_MAX_NODES 100000
#define SIO_PICKLE_MAX_LEN   (16u << 20)

struct sio_pickle_limits {
    size_t max_depth;   /* containers nested at most this deep (0: default) */
    size_t max_nodes;   /* values created, copies included (0: default) */
    size_t max_len;     /* input bytes (0: default) */
};

struct sio_pickle {
    json_t *value;      /* the decoded value (owned) */
    json_t *tuples;     /* private: the arrays that were tuples */
};

/* Decode one pickle that fills buf exactly (up to its STOP). lim may be
 * NULL. On success out->value holds the value; release with
 * sio_pickle_clear(). Errors (out is left cleared; err gets one line):
 *   -EPERM          an opcode outside the allowed set (e.g. GLOBAL, REDUCE)
 *   SIO_ERR_PROTO   malformed: truncated, bad UTF-8, stack misuse, bytes after STOP
 *   SIO_ERR_TOOBIG  over a limit
 *   -ENOMEM */
int sio_pickle_decode(const void *buf, size_t len, const struct sio_pickle_limits *lim,
                      struct sio_pickle *out, char *err, size_t errlen);

/* True when v (an array inside out->value) was a pickled tuple. */
bool sio_pickle_is_tuple(const struct sio_pickle *p, const json_t *v);

void sio_pickle_clear(struct sio_pickle *p);

/* ---- the writer (adapters/pickle_write.c) ----
 *
 * Data only, as the decoder reads: object -> dict (str keys), array -> list,
 * or tuple when marked with sio_pickle_mark_tuple(), string -> str, binary
 * value (<sio/msg.h>) -> bytes, integer -> int, real -> float (finite),
 * true/false/null -> True/False/None. Protocol 4 without frames or memo:
 * PROTO, the value, STOP. What python's pickle.loads() and
 * sio_pickle_decode() both read. */

/* Record that arr (an array inside p->value, or about to be) is a tuple;
 * the set holds a reference to arr. 0, -EINVAL or -ENOMEM. */
int sio_pickle_mark_tuple(struct sio_pickle *p, json_t *arr);

/* Append the pickle of p->value (tuples as marked in p) to out. 0, -EINVAL
 * (NaN or infinity, a dict key that is not a str, nesting deeper than
 * SIO_PICKLE_MAX_DEPTH) or -ENOMEM; on error out is as it was. */
struct sio_buf;
int sio_pickle_encode(const struct sio_pickle *p, struct sio_buf *out);

#endif

/* ws.h: a server-side WebSocket connection on a bufferevent.
 *
 * Owns the bufferevent handed over after the 101 response and, while a
 * message arrives in pieces, the buffer it is assembled in; an idle
 * connection holds none. Frame headers are parsed and payloads unmasked by
 * frame.c (eight bytes at a time, in place); ws.c applies RFC 6455 on top
 * (masking, RSV bits, opcodes,
 * fragmentation, control frames, close codes, UTF-8 of text messages via
 * sio_utf8_valid -> 1007, the max message size -> 1009, anything else
 * malformed -> 1002), answers pings and close frames. Data messages are
 * delivered whole. Outgoing frames are framed here (sio_ws_send) or written
 * as bytes already framed once for many recipients by sio_ws_frame
 * (sio_ws_write_framed). Output is written once per loop iteration, EV_WRITE
 * is armed only when the socket is full.
 *
 * Loop thread only. The connection is freed after on_close returns.
 */
#ifndef SIO_EDGE_WS_H
#define SIO_EDGE_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include "base/buf.h"

/* Internal API (not exported from libsio, not installed): linked statically into
 * libsio, the sio tools and the tests. */
struct sio_ws;

struct sio_ws_cbs {
    void (*on_message)(struct sio_ws *ws, bool binary, const uint8_t *data, size_t len, void *ud);
    /* The TCP connection is gone; ws is freed after this returns. */
    void (*on_close)(struct sio_ws *ws, void *ud);
};

/* Compute Sec-WebSocket-Accept for key (28 chars + NUL into out). */
void sio_ws_accept_key(const char *key, size_t key_len, char out[29]);
/* True when key is base64 of 16 bytes (24 chars, "==" padding). */
bool sio_ws_key_valid(const char *key, size_t key_len);

/* Takes bev; bytes already in its input are processed on the next loop
 * turn. max_msg: larger messages are refused with close 1009. NULL on
 * ENOMEM (bev freed). */
struct sio_ws *sio_ws_new(struct bufferevent *bev, size_t max_msg,
                          const struct sio_ws_cbs *cbs, void *ud);
void sio_ws_set_ud(struct sio_ws *ws, void *ud);
/* Queue one text/binary message (copied). */
int  sio_ws_send(struct sio_ws *ws, bool binary, const void *data, size_t len);
/* Write a complete frame by reference; cleanup(data, len, arg) runs when
 * the bytes have been sent or dropped. */
int  sio_ws_write_framed(struct sio_ws *ws, const void *frame, size_t len,
                         evbuffer_ref_cleanup_cb cleanup, void *arg);
/* Send a close frame (code 0: no payload), then close TCP once flushed. */
void sio_ws_close(struct sio_ws *ws, uint16_t code);
/* Free now (shutdown; not from ws's own callbacks). on_close runs. */
void sio_ws_abort(struct sio_ws *ws);
bool sio_ws_closing(const struct sio_ws *ws);
/* Output bounds (default: none). When more than max_out bytes (control
 * frames included) wait for a peer that does not read, the connection is
 * dropped at once, without a close frame, and freed from a deferred event
 * (on_close runs then; sio_ws_overflowed() tells why). A close waits at
 * most close_ms for its output to drain, then the TCP connection is cut. */
void sio_ws_set_limits(struct sio_ws *ws, size_t max_out, unsigned close_ms);
bool sio_ws_overflowed(const struct sio_ws *ws);
/* The peer takes what we write: the socket was not found full and less
 * than 64 KiB wait (volatile packets are skipped otherwise). */
bool sio_ws_writable(const struct sio_ws *ws);
/* Stop reading the peer (frames already received wait too; TCP pushes
 * back) or read it again. */
void sio_ws_pause(struct sio_ws *ws, bool pause);

/* Append a whole unmasked (server) frame of data to out, to be written to
 * many recipients with sio_ws_write_framed. 0 or -ENOMEM. */
int  sio_ws_frame(struct sio_buf *out, bool binary, const void *data, size_t len);

#endif

/* ws.c: a server WebSocket connection on a bufferevent (see ws.h). */
#include "edge/ws/ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <event2/event.h>
#include <event2/bufferevent_ssl.h>
#include <sio/log.h>
#include "proto/text.h"
#include "edge/http/tls.h"
#include "edge/ws/frame.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.ws");

/* Frames shorter than this are copied into the output, longer ones referenced. */
#define SIO_WS_COPY_MAX 512

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9, OP_PONG = 10 };

/* Writes: the bufferevent's EV_WRITE stays disabled while the socket takes
 * what we write, so appending to the output arms nothing. Whatever appends
 * marks the connection (ws_mark): its flush event, in the storage after the
 * struct, is made active (no syscall) and runs once per loop iteration after
 * the callbacks already active, writing everything queued meanwhile with one
 * evbuffer_write. Only when the socket is full is EV_WRITE enabled (the
 * bufferevent then writes), and it is disabled again once the output is
 * empty: no epoll_ctl per write. Over TLS (an OpenSSL bufferevent) the
 * bytes must go through SSL_write: the flush enables EV_WRITE and the
 * bufferevent writes, as when the socket is full.
 *
 * Reads: frame headers are parsed and payloads unmasked here (frame.c,
 * eight bytes at a time), straight from the bufferevent's input: a whole
 * unfragmented message that is all in the input is unmasked in place there
 * and delivered without a copy; a fragmented or partly received one is
 * copied, unmasked, into ws->msg as it comes. The rules of RFC 6455 (masking,
 * opcodes, fragmentation, control frames, close codes, UTF-8 of text
 * messages, the size limit) are checked here too, a text message's UTF-8
 * eight bytes at a time (sio_utf8_valid). */
struct sio_ws {
    struct bufferevent *bev;
    struct sio_ws_cbs cbs;
    void *ud;
    bool closing;       /* close TCP once output is flushed */
    bool dead;
    bool flush_pending; /* flush event active */
    bool write_armed;   /* EV_WRITE enabled: the socket was full */
    bool tls;           /* the bufferevent writes itself: an OpenSSL one (it
                         * encrypts), or one with no socket (the tunnel of a
                         * WebSocket over an HTTP/2 stream, RFC 8441) */
    bool in_frame;      /* a frame's payload is being received */
    bool frag;          /* inside a fragmented data message */
    uint8_t op;         /* opcode of the frame being received */
    uint8_t msg_op;     /* OP_TEXT / OP_BINARY of the message being assembled */
    bool fin;
    int depth;
    size_t max_msg;
    uint64_t left;      /* payload bytes of the current frame still to come */
    uint8_t mask[4];    /* the current frame's masking key */
    unsigned moff;      /* where in the key its next payload byte is */
    struct sio_buf msg; /* the data message being assembled */
    struct event *flush_ev;
    size_t max_out;     /* output bytes allowed to wait for the peer; 0 = no cap */
    unsigned close_ms;  /* a close waits this long for the output to drain; 0 = forever */
    bool overflowed;    /* closed because the output passed max_out */
    bool paused;        /* sio_ws_pause(): input is left unread */
    struct event *close_ev; /* the close deadline, made when a close waits */
};

/* The message buffer exists only while a message is being assembled from
 * pieces: an idle connection holds none. */
static void ws_idle(struct sio_ws *ws)
{
    if (!ws->in_frame && !ws->frag && ws->msg.data)
        sio_buf_clear(&ws->msg);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sio_ws_accept_key(const char *key, size_t key_len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[20];
    unsigned char tmp[128 + sizeof guid];
    if (key_len > 128)
        key_len = 128;
    memcpy(tmp, key, key_len);
    memcpy(tmp + key_len, guid, sizeof guid - 1);
    SHA1(tmp, key_len + sizeof guid - 1, md);
    char *d = out;
    for (int i = 0; i < 21; i += 3) {
        uint32_t v = (uint32_t)md[i] << 16 | (i + 1 < 20 ? (uint32_t)md[i + 1] << 8 : 0) |
                     (i + 2 < 20 ? md[i + 2] : 0);
        *d++ = b64[v >> 18 & 63];
        *d++ = b64[v >> 12 & 63];
        *d++ = i + 1 < 20 ? b64[v >> 6 & 63] : '=';
        *d++ = i + 2 < 20 ? b64[v & 63] : '=';
    }
    *d = 0;
}

bool sio_ws_key_valid(const char *key, size_t key_len)
{
    if (key_len != 24 || key[22] != '=' || key[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!strchr(b64, key[i]) || !key[i])
            return false;
    return true;
}

static void ws_free(struct sio_ws *ws)
{
    if (ws->cbs.on_close)
        ws->cbs.on_close(ws, ws->ud);
    event_del(ws->flush_ev);
    if (ws->close_ev)
        event_free(ws->close_ev);
    sio_buf_clear(&ws->msg);
    /* a tunnel's other end learns of the close from an EOF */
    if (bufferevent_getfd(ws->bev) < 0)
        bufferevent_flush(ws->bev, EV_WRITE, BEV_FINISHED);
    sio_tls_bev_free(ws->bev);
    free(ws);
}

static void ws_leave(struct sio_ws *ws)
{
    if (--ws->depth == 0 && ws->dead)
        ws_free(ws);
}

static void ws_kill(struct sio_ws *ws)
{
    if (ws->dead)
        return;
    ws->dead = true;
    bufferevent_disable(ws->bev, EV_READ | EV_WRITE);
}

/* Output was appended: write it at the end of this loop iteration. */
static void ws_mark(struct sio_ws *ws)
{
    if (ws->flush_pending || ws->write_armed || ws->dead)
        return;
    ws->flush_pending = true;
    event_active(ws->flush_ev, EV_WRITE, 0);
}

/* Close TCP now or once the output is flushed. */
static void close_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_ws *ws = arg;
    sio_log_debug(topic, "%p: close deadline passed with %zu bytes unsent", (void *)ws,
                  evbuffer_get_length(bufferevent_get_output(ws->bev)));
    ws->depth++;
    ws_kill(ws);
    ws_leave(ws);
}

static void ws_shutdown(struct sio_ws *ws)
{
    ws->closing = true;
    bufferevent_disable(ws->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(ws->bev)) == 0) {
        ws_kill(ws);
        return;
    }
    ws_mark(ws);
    /* a peer that stopped reading would hold its output (and the
     * connection) for ever: give the close a deadline */
    if (ws->close_ms && !ws->close_ev) {
        ws->close_ev = evtimer_new(bufferevent_get_base(ws->bev), close_deadline_cb, ws);
        struct timeval tv = { ws->close_ms / 1000, (ws->close_ms % 1000) * 1000 };
        if (!ws->close_ev || evtimer_add(ws->close_ev, &tv) < 0)
            ws_kill(ws);
    }
}

/* Output was appended: a peer that does not read cannot make it grow past
 * max_out. The connection is dropped without a close frame (it could not
 * be delivered) and freed from the flush event, since the caller may be in
 * the middle of a broadcast that must not see its session go. */
static bool ws_check_out(struct sio_ws *ws)
{
    size_t n = evbuffer_get_length(bufferevent_get_output(ws->bev));
    if (!ws->max_out || n <= ws->max_out || ws->dead)
        return true;
    sio_log_debug(topic, "%p: %zu bytes of output waiting (limit %zu): dropped", (void *)ws, n,
                  ws->max_out);
    ws->overflowed = true;
    ws_kill(ws);
    if (!ws->flush_pending) {
        ws->flush_pending = true;
        event_active(ws->flush_ev, EV_WRITE, 0);
    }
    return false;
}

static void ws_write_now(struct sio_ws *ws)
{
    struct evbuffer *out = bufferevent_get_output(ws->bev);
    if (ws->tls) {
        /* the bytes go through SSL_write: the bufferevent writes them
         * once EV_WRITE is on, and ws_write_cb turns it off when done */
        if (evbuffer_get_length(out)) {
            ws->write_armed = true;
            bufferevent_enable(ws->bev, EV_WRITE);
        } else if (ws->closing) {
            ws_kill(ws);
        }
        return;
    }
    evutil_socket_t fd = bufferevent_getfd(ws->bev);
    size_t left = evbuffer_get_length(out);
    /* a few writes at most (one writev takes up to 128 chains) */
    for (int i = 0; i < 4 && left; i++) {
        /* a socket bufferevent keeps its output's start frozen outside its
         * own write callback */
        evbuffer_unfreeze(out, 1);
        int n = evbuffer_write(out, fd);
        evbuffer_freeze(out, 1);
        if (n < 0) {
            int e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
                break;
            sio_log_debug(topic, "%p: write failed: %s", (void *)ws, strerror(e));
            ws_kill(ws);
            return;
        }
        size_t now = evbuffer_get_length(out);
        if (n == 0 || now + (size_t)n < left)
            break;      /* the socket took less than offered: it is full */
        left = now;
    }
    if (evbuffer_get_length(out)) {
        ws->write_armed = true;
        bufferevent_enable(ws->bev, EV_WRITE);
    } else if (ws->closing) {
        ws_kill(ws);
    }
}

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_ws *ws = arg;
    ws->flush_pending = false;
    if (ws->dead && ws->depth == 0) {    /* ws_check_out() dropped it */
        ws->depth++;
        ws_leave(ws);
        return;
    }
    if (ws->dead || ws->write_armed)
        return;
    ws->depth++;
    ws_write_now(ws);
    ws_leave(ws);
}

static int ws_put_frame(struct sio_ws *ws, int opcode, const void *data, size_t len);

/* Send a close frame (code 0: none), stop reading, close TCP once flushed. */
static void ws_send_close(struct sio_ws *ws, uint16_t code)
{
    if (ws->closing || ws->dead)
        return;
    uint8_t p[2] = { (uint8_t)(code >> 8), (uint8_t)code };
    if (ws_put_frame(ws, OP_CLOSE, p, code ? 2 : 0) < 0) {
        ws_kill(ws);
        return;
    }
    ws_shutdown(ws);
}

static bool close_code_valid(uint16_t c)
{
    return (c >= 1000 && c <= 1011 && c != 1004 && c != 1005 && c != 1006) ||
           (c >= 3000 && c <= 4999);
}

/* A whole control frame arrived (its payload unmasked at p). */
static void on_control(struct sio_ws *ws, const uint8_t *p, size_t len)
{
    if (ws->op == OP_PING) {
        if (ws_put_frame(ws, OP_PONG, p, len) < 0)
            ws_kill(ws);
    } else if (ws->op == OP_CLOSE) {
        /* answer with the peer's code (none when it sent none), 1002 for a
         * bad code, 1007 for a reason that is not UTF-8 */
        uint16_t code = 0;
        if (len == 1) {
            code = 1002;
        } else if (len >= 2) {
            code = (uint16_t)(p[0] << 8 | p[1]);
            if (!close_code_valid(code))
                code = 1002;
            else if (!sio_utf8_valid(p + 2, len - 2))
                code = 1007;
        }
        ws_send_close(ws, code);
    }
}

/* The header of a new frame: 0, or the close code to answer with. */
static uint16_t frame_start(struct sio_ws *ws, const struct sio_ws_hdr *h)
{
    uint64_t len = h->len;
    ws->left = len;
    ws->op = h->opcode;
    ws->fin = h->fin;
    memcpy(ws->mask, h->mask, 4);
    ws->moff = 0;
    if (h->rsv || !h->masked)
        return 1002;    /* no extension negotiated; clients must mask */
    switch (h->opcode) {
    case OP_CONT:
        if (!ws->frag)
            return 1002;
        break;
    case OP_TEXT:
    case OP_BINARY:
        if (ws->frag)
            return 1002;
        ws->msg_op = h->opcode;
        sio_buf_reset(&ws->msg);
        break;
    case OP_CLOSE:
    case OP_PING:
    case OP_PONG:
        if (!h->fin || len > 125)
            return 1002;
        return 0;
    default:
        return 1002;
    }
    if (len > ws->max_msg || ws->msg.len + len > ws->max_msg)
        return 1009;
    ws->frag = !h->fin;
    return 0;
}

/* Deliver a whole data message. */
static void deliver(struct sio_ws *ws, bool binary, const uint8_t *data, size_t len)
{
    if (!binary && !sio_utf8_valid(data, len)) {
        sio_log_debug(topic, "%p: text message is not UTF-8", (void *)ws);
        ws_send_close(ws, 1007);
        return;
    }
    if (ws->cbs.on_message)
        ws->cbs.on_message(ws, binary, data ? data : (const uint8_t *)"", len, ws->ud);
}

static void ws_recv(struct sio_ws *ws)
{
    struct evbuffer *in = bufferevent_get_input(ws->bev);
    while (!ws->closing && !ws->dead && !ws->paused) {
        size_t avail = evbuffer_get_length(in);
        if (!ws->in_frame) {
            uint8_t hb[SIO_WS_HDR_MAX];
            ev_ssize_t got = evbuffer_copyout(in, hb, avail < sizeof hb ? avail : sizeof hb);
            struct sio_ws_hdr h;
            int hl = got > 0 ? sio_ws_hdr_parse(hb, (size_t)got, &h) : 0;
            if (hl == 0)
                return;
            uint16_t code = hl < 0 ? 1002 : frame_start(ws, &h);
            if (code) {
                sio_log_debug(topic, "%p: frame refused (close %u)", (void *)ws, (unsigned)code);
                ws_send_close(ws, code);
                return;
            }
            bool control = ws->op >= OP_CLOSE;
            if (control && avail - (size_t)hl < h.len)
                return;     /* at most 139 bytes: wait for all of them */
            if (control || (h.fin && ws->op != OP_CONT && avail - (size_t)hl >= h.len)) {
                /* a control frame, or a whole message, all here: unmask it
                 * where it is */
                size_t total = (size_t)hl + (size_t)h.len;
                uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)total);
                if (!p) {
                    ws_kill(ws);
                    return;
                }
                sio_ws_unmask(p + hl, (size_t)h.len, h.mask, 0);
                if (control)
                    on_control(ws, p + hl, (size_t)h.len);
                else
                    deliver(ws, ws->op == OP_BINARY, p + hl, (size_t)h.len);
                evbuffer_drain(in, total);
                continue;
            }
            evbuffer_drain(in, (size_t)hl);
            avail -= (size_t)hl;
            ws->in_frame = true;
            if (sio_buf_reserve(&ws->msg, (size_t)h.len) < 0) {
                ws_send_close(ws, 1011);
                return;
            }
        }
        /* a data frame's payload as it comes, into the message */
        size_t n = avail < ws->left ? avail : (size_t)ws->left;
        if (n == 0 && ws->left)
            return;
        uint8_t *dst = ws->msg.data + ws->msg.len;
        ws->msg.len += n;
        if (n && evbuffer_remove(in, dst, n) != (int)n) {
            ws_kill(ws);
            return;
        }
        ws->moff = sio_ws_unmask(dst, n, ws->mask, ws->moff);
        ws->left -= n;
        if (ws->left)
            return;
        ws->in_frame = false;
        if (ws->fin) {
            deliver(ws, ws->msg_op == OP_BINARY, ws->msg.data, ws->msg.len);
            sio_buf_reset(&ws->msg);
        }
    }
}

static void ws_read_cb(struct bufferevent *bev, void *arg)
{
    struct sio_ws *ws = arg;
    ws->depth++;
    if (!ws->closing && !ws->dead && !ws->paused)
        ws_recv(ws);
    if (!ws->dead && ws->closing)
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    ws_idle(ws);
    ws_leave(ws);
}

/* The output is empty again after the socket was full. */
static void ws_write_cb(struct bufferevent *bev, void *arg)
{
    struct sio_ws *ws = arg;
    if (ws->write_armed) {
        ws->write_armed = false;
        bufferevent_disable(bev, EV_WRITE);
    }
    if (ws->closing && !ws->dead) {
        ws->depth++;
        ws_kill(ws);
        ws_leave(ws);
    }
}

static void ws_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct sio_ws *ws = arg;
    ws->depth++;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        ws_kill(ws);
    ws_leave(ws);
}

struct sio_ws *sio_ws_new(struct bufferevent *bev, size_t max_msg,
                          const struct sio_ws_cbs *cbs, void *ud)
{
    struct sio_ws *ws = calloc(1, sizeof *ws + event_get_struct_event_size() + 16);
    if (!ws) {
        sio_tls_bev_free(bev);
        return NULL;
    }
    ws->max_msg = max_msg;
    ws->bev = bev;
    ws->cbs = *cbs;
    ws->ud = ud;
    ws->tls = bufferevent_openssl_get_ssl(bev) != NULL || bufferevent_getfd(bev) < 0;
    /* the event's storage follows the struct, 16-byte aligned */
    uintptr_t at = ((uintptr_t)(ws + 1) + 15) & ~(uintptr_t)15;
    ws->flush_ev = (struct event *)at;
    event_assign(ws->flush_ev, bufferevent_get_base(bev), -1, 0, flush_cb, ws);
    bufferevent_setcb(bev, ws_read_cb, ws_write_cb, ws_event_cb, ws);
    bufferevent_disable(bev, EV_WRITE);
    bufferevent_enable(bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        ws_mark(ws);    /* the 101 response */
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        bufferevent_trigger(bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    return ws;
}

void sio_ws_set_ud(struct sio_ws *ws, void *ud)
{
    ws->ud = ud;
}

bool sio_ws_closing(const struct sio_ws *ws)
{
    return ws->closing || ws->dead;
}

/* A whole unmasked server frame straight into the output. */
static int ws_put_frame(struct sio_ws *ws, int opcode, const void *data, size_t len)
{
    uint8_t h[10];
    size_t hl = sio_ws_hdr_write(h, (unsigned)opcode, len);
    struct evbuffer *out = bufferevent_get_output(ws->bev);
    if (evbuffer_add(out, h, hl) < 0 || (len && evbuffer_add(out, data, len) < 0))
        return -ENOMEM;
    if (!ws_check_out(ws))
        return -EPIPE;
    ws_mark(ws);
    return 0;
}

int sio_ws_send(struct sio_ws *ws, bool binary, const void *data, size_t len)
{
    if (sio_ws_closing(ws))
        return -EPIPE;
    return ws_put_frame(ws, binary ? OP_BINARY : OP_TEXT, data, len) < 0
               ? -EPIPE : 0;
}

int sio_ws_write_framed(struct sio_ws *ws, const void *frame, size_t len,
                        evbuffer_ref_cleanup_cb cleanup, void *arg)
{
    if (sio_ws_closing(ws)) {
        cleanup(frame, len, arg);
        return -EPIPE;
    }
    struct evbuffer *out = bufferevent_get_output(ws->bev);
    /* A small frame is copied (into the output's last chain, no allocation
     * most of the time); a reference costs a chain malloc per recipient. */
    if (len < SIO_WS_COPY_MAX) {
        int rc = evbuffer_add(out, frame, len);
        cleanup(frame, len, arg);
        if (rc < 0)
            return -ENOMEM;
    } else if (evbuffer_add_reference(out, frame, len, cleanup, arg) < 0) {
        cleanup(frame, len, arg);
        return -ENOMEM;
    }
    if (!ws_check_out(ws))
        return -EPIPE;
    ws_mark(ws);
    return 0;
}

void sio_ws_pause(struct sio_ws *ws, bool pause)
{
    if (ws->paused == pause || ws->dead || ws->closing)
        return;
    ws->paused = pause;
    if (pause) {
        bufferevent_disable(ws->bev, EV_READ);
        return;
    }
    bufferevent_enable(ws->bev, EV_READ);
    /* frames already read wait in the input: parse them now, not when
     * more bytes come */
    if (evbuffer_get_length(bufferevent_get_input(ws->bev)) > 0)
        bufferevent_trigger(ws->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void sio_ws_set_limits(struct sio_ws *ws, size_t max_out, unsigned close_ms)
{
    ws->max_out = max_out;
    ws->close_ms = close_ms;
}

bool sio_ws_writable(const struct sio_ws *ws)
{
    return !ws->dead && !ws->closing && !ws->write_armed &&
           evbuffer_get_length(bufferevent_get_output(ws->bev)) < 65536;
}

bool sio_ws_overflowed(const struct sio_ws *ws)
{
    return ws->overflowed;
}

void sio_ws_abort(struct sio_ws *ws)
{
    ws->depth++;
    ws_kill(ws);
    ws_leave(ws);
}

void sio_ws_close(struct sio_ws *ws, uint16_t code)
{
    if (ws->dead || ws->closing)
        return;
    ws->depth++;
    /* do not wait for the peer's close frame */
    ws_send_close(ws, code);
    ws_leave(ws);
}

/* --- framing once --- */

int sio_ws_frame(struct sio_buf *out, bool binary, const void *data, size_t len)
{
    uint8_t h[10];
    size_t hl = sio_ws_hdr_write(h, binary ? OP_BINARY : OP_TEXT, len);
    if (sio_buf_reserve(out, hl + len) < 0)
        return -ENOMEM;
    sio_buf_append(out, h, hl);
    sio_buf_append(out, data, len);
    return 0;
}

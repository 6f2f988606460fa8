/* ws.c: wslay glue on a bufferevent (see ws.h). */
#include "ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>
#include <event2/event.h>
#include <sio/log.h>

SIO_LOG_TOPIC_STATIC(topic, "edge.ws");

/* Frames shorter than this are copied into the output, longer ones referenced. */
#define SIO_WS_COPY_MAX 512

/* Writes: the bufferevent's EV_WRITE stays disabled while the socket takes
 * what we write, so appending to the output arms nothing. Whatever appends
 * marks the connection (ws_mark): its flush event, in the storage after the
 * struct, is made active (no syscall) and runs once per loop iteration after
 * the callbacks already active, writing everything queued meanwhile with one
 * evbuffer_write. Only when the socket is full is EV_WRITE enabled (the
 * bufferevent then writes), and it is disabled again once the output is
 * empty: no epoll_ctl per write. */
struct sio_ws {
    struct bufferevent *bev;
    wslay_event_context_ptr ctx;
    struct sio_ws_cbs cbs;
    void *ud;
    bool closing;       /* close TCP once output is flushed */
    bool dead;
    bool flush_pending; /* flush event active */
    bool write_armed;   /* EV_WRITE enabled: the socket was full */
    bool frag;          /* inside a fragmented data message */
    int depth;
    size_t max_msg;
    uint64_t fed;       /* bytes handed to wslay since ctx was made */
    uint64_t framed;    /* bytes of the complete frames among them */
    uint64_t cur;       /* size of the frame being received */
    struct event *flush_ev;
};

/* wslay's event context (with its frame context: two 4 KiB buffers, about
 * 8.5 KiB) exists only while a frame is being received or a close is under
 * way: it is made when bytes arrive (or a close is queued) and freed when the
 * input ended on a frame boundary outside a fragmented message, with nothing
 * queued. Data frames are sent without it (see ws_put_frame), so an idle
 * connection holds none. */
static void on_frame_start(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *ud)
{
    struct sio_ws *ws = ud;
    uint64_t len = arg->payload_length;
    /* client frames are masked (4 bytes) and use the shortest length form
     * (the frame layer rejects others) */
    ws->cur = 2 + 4 + len + (len < 126 ? 0 : len < 65536 ? 2 : 8);
    if (!wslay_is_ctrl_frame(arg->opcode))
        ws->frag = !arg->fin;
}

static void on_frame_end(wslay_event_context_ptr ctx, void *ud)
{
    struct sio_ws *ws = ud;
    ws->framed += ws->cur;
    ws->cur = 0;
}

static void on_msg_recv(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                        void *ud);
static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud);
static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud);

static int ws_ctx(struct sio_ws *ws)
{
    if (ws->ctx)
        return 0;
    static const struct wslay_event_callbacks wcb = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .on_msg_recv_callback = on_msg_recv,
        .on_frame_recv_start_callback = on_frame_start,
        .on_frame_recv_end_callback = on_frame_end,
    };
    if (wslay_event_context_server_init(&ws->ctx, &wcb, ws) != 0) {
        ws->ctx = NULL;
        return -1;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->max_msg);
    ws->fed = ws->framed = ws->cur = 0;
    ws->frag = false;
    return 0;
}

/* Free the context when it holds no state worth keeping. */
static void ws_ctx_idle(struct sio_ws *ws)
{
    if (ws->ctx && !ws->closing && !ws->dead && !ws->frag && ws->fed == ws->framed &&
        wslay_event_get_read_enabled(ws->ctx) && wslay_event_get_write_enabled(ws->ctx) &&
        !wslay_event_want_write(ws->ctx) && wslay_event_get_queued_msg_count(ws->ctx) == 0 &&
        !wslay_event_get_close_received(ws->ctx) && !wslay_event_get_close_sent(ws->ctx) &&
        evbuffer_get_length(bufferevent_get_input(ws->bev)) == 0) {
        wslay_event_context_free(ws->ctx);
        ws->ctx = NULL;
    }
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
    if (ws->ctx)
        wslay_event_context_free(ws->ctx);
    bufferevent_free(ws->bev);
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
static void ws_shutdown(struct sio_ws *ws)
{
    ws->closing = true;
    bufferevent_disable(ws->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(ws->bev)) == 0)
        ws_kill(ws);
    else
        ws_mark(ws);
}

static void ws_write_now(struct sio_ws *ws)
{
    struct evbuffer *out = bufferevent_get_output(ws->bev);
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
    if (ws->dead || ws->write_armed)
        return;
    ws->depth++;
    ws_write_now(ws);
    ws_leave(ws);
}

static void ws_flush(struct sio_ws *ws)
{
    if (ws->dead || !ws->ctx)
        return;
    if (wslay_event_want_write(ws->ctx) && wslay_event_send(ws->ctx) < 0) {
        ws_kill(ws);
        return;
    }
    if (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx))
        ws_shutdown(ws);
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct sio_ws *ws = ud;
    int n = evbuffer_remove(bufferevent_get_input(ws->bev), buf, len);
    if (n <= 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    ws->fed += (uint64_t)n;
    return n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    struct sio_ws *ws = ud;
    if (evbuffer_add(bufferevent_get_output(ws->bev), data, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    ws_mark(ws);
    return (ssize_t)len;
}

static void on_msg_recv(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                        void *ud)
{
    struct sio_ws *ws = ud;
    if (wslay_is_ctrl_frame(arg->opcode) || ws->closing || ws->dead)
        return;
    if (ws->cbs.on_message)
        ws->cbs.on_message(ws, arg->opcode == WSLAY_BINARY_FRAME, arg->msg, arg->msg_length, ws->ud);
}

static void ws_read_cb(struct bufferevent *bev, void *arg)
{
    struct sio_ws *ws = arg;
    ws->depth++;
    if (!ws->closing && !ws->dead && ws_ctx(ws) < 0)
        ws_kill(ws);
    if (!ws->closing && !ws->dead && wslay_event_want_read(ws->ctx)) {
        if (wslay_event_recv(ws->ctx) < 0) {
            sio_log_debug(topic, "%p: recv failed", (void *)ws);
            ws_kill(ws);
        }
    }
    if (!ws->dead && !ws->closing)
        ws_flush(ws);
    if (!ws->dead && ws->ctx && !wslay_event_want_read(ws->ctx))
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    ws_ctx_idle(ws);
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
        bufferevent_free(bev);
        return NULL;
    }
    ws->max_msg = max_msg;
    ws->bev = bev;
    ws->cbs = *cbs;
    ws->ud = ud;
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
    return ws->closing || ws->dead || (ws->ctx && !wslay_event_want_read(ws->ctx));
}

/* A whole unmasked server frame straight into the output. wslay's queue is
 * always empty between calls (its send callback never blocks), so frames
 * cannot interleave with its own. */
static int ws_put_frame(struct sio_ws *ws, int opcode, const void *data, size_t len)
{
    uint8_t h[10];
    size_t hl;
    h[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[1] = (uint8_t)len;
        hl = 2;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    struct evbuffer *out = bufferevent_get_output(ws->bev);
    if (evbuffer_add(out, h, hl) < 0 || (len && evbuffer_add(out, data, len) < 0))
        return -ENOMEM;
    ws_mark(ws);
    return 0;
}

int sio_ws_send(struct sio_ws *ws, bool binary, const void *data, size_t len)
{
    if (sio_ws_closing(ws))
        return -EPIPE;
    if (ws->ctx && wslay_event_want_write(ws->ctx)) {
        ws->depth++;
        ws_flush(ws);
        ws_leave(ws);
        if (sio_ws_closing(ws))
            return -EPIPE;
    }
    return ws_put_frame(ws, binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len) < 0
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
    ws_mark(ws);
    return 0;
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
    if (ws_ctx(ws) < 0) {
        ws_kill(ws);
        ws_leave(ws);
        return;
    }
    wslay_event_queue_close(ws->ctx, code, NULL, 0);
    if (wslay_event_want_write(ws->ctx))
        wslay_event_send(ws->ctx);
    /* do not wait for the peer's close frame */
    ws_shutdown(ws);
    ws_leave(ws);
}

/* --- framing once --- */

struct sio_ws_framer {
    wslay_frame_context_ptr ctx;
    struct sio_buf *out;
};

static ssize_t framer_send(const uint8_t *data, size_t len, int flags, void *ud)
{
    struct sio_ws_framer *f = ud;
    if (sio_buf_append(f->out, data, len) < 0)
        return -1;
    return (ssize_t)len;
}

static ssize_t framer_recv(uint8_t *buf, size_t len, int flags, void *ud)
{
    return -1;
}

static int framer_genmask(uint8_t *buf, size_t len, void *ud)
{
    memset(buf, 0, len);
    return 0;
}

struct sio_ws_framer *sio_ws_framer_new(void)
{
    struct sio_ws_framer *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    static const struct wslay_frame_callbacks cb = { framer_send, framer_recv, framer_genmask };
    if (wslay_frame_context_init(&f->ctx, &cb, f) != 0) {
        free(f);
        return NULL;
    }
    return f;
}

void sio_ws_framer_destroy(struct sio_ws_framer **f_p)
{
    struct sio_ws_framer *f = *f_p;
    if (!f)
        return;
    wslay_frame_context_free(f->ctx);
    free(f);
    *f_p = NULL;
}

int sio_ws_frame(struct sio_ws_framer *f, struct sio_buf *out, bool binary,
                 const void *data, size_t len)
{
    f->out = out;
    struct wslay_frame_iocb io = {
        .fin = 1, .rsv = 0, .opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
        .payload_length = len, .mask = 0, .data = data, .data_length = len,
    };
    size_t sent = 0;
    do {
        ssize_t r = wslay_frame_send(f->ctx, &io);
        if (r < 0)
            return -ENOMEM;
        sent += (size_t)r;
        io.data = (const uint8_t *)data + sent;
        io.data_length = len - sent;
    } while (sent < len);
    return 0;
}

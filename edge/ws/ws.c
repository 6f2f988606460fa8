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

struct sio_ws {
    struct bufferevent *bev;
    wslay_event_context_ptr ctx;
    struct sio_ws_cbs cbs;
    void *ud;
    bool closing;       /* close TCP once output is flushed */
    bool dead;
    int depth;
};

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

/* Close TCP now or once the output is flushed. */
static void ws_shutdown(struct sio_ws *ws)
{
    ws->closing = true;
    bufferevent_disable(ws->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(ws->bev)) == 0)
        ws_kill(ws);
}

static void ws_flush(struct sio_ws *ws)
{
    if (ws->dead)
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
    if (!ws->closing && !ws->dead && wslay_event_want_read(ws->ctx)) {
        if (wslay_event_recv(ws->ctx) < 0) {
            sio_log_debug(topic, "%p: recv failed", (void *)ws);
            ws_kill(ws);
        }
    }
    if (!ws->dead && !ws->closing)
        ws_flush(ws);
    if (!ws->dead && !wslay_event_want_read(ws->ctx))
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    ws_leave(ws);
}

static void ws_write_cb(struct bufferevent *bev, void *arg)
{
    struct sio_ws *ws = arg;
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
    struct sio_ws *ws = calloc(1, sizeof *ws);
    if (!ws) {
        bufferevent_free(bev);
        return NULL;
    }
    static const struct wslay_event_callbacks wcb = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .on_msg_recv_callback = on_msg_recv,
    };
    if (wslay_event_context_server_init(&ws->ctx, &wcb, ws) != 0) {
        free(ws);
        bufferevent_free(bev);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_msg);
    ws->bev = bev;
    ws->cbs = *cbs;
    ws->ud = ud;
    bufferevent_setcb(bev, ws_read_cb, ws_write_cb, ws_event_cb, ws);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
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
    return ws->closing || ws->dead || !wslay_event_want_read(ws->ctx);
}

int sio_ws_send(struct sio_ws *ws, bool binary, const void *data, size_t len)
{
    if (sio_ws_closing(ws))
        return -EPIPE;
    struct wslay_event_msg m = { binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME, data, len };
    if (wslay_event_queue_msg(ws->ctx, &m) != 0)
        return -EPIPE;
    ws->depth++;
    ws_flush(ws);
    ws_leave(ws);
    return 0;
}

int sio_ws_write_framed(struct sio_ws *ws, const void *frame, size_t len,
                        evbuffer_ref_cleanup_cb cleanup, void *arg)
{
    if (sio_ws_closing(ws)) {
        cleanup(frame, len, arg);
        return -EPIPE;
    }
    if (evbuffer_add_reference(bufferevent_get_output(ws->bev), frame, len, cleanup, arg) < 0) {
        cleanup(frame, len, arg);
        return -ENOMEM;
    }
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

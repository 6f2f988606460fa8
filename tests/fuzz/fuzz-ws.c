/* fuzz-ws.c: libFuzzer target for the gateway's WebSocket receive path
 * (edge/ws/ws.c on wslay's frame layer).
 *
 * The input is what a client writes after the upgrade: raw frame bytes.
 * They go through a real socketpair into a sio_ws on an event loop; the
 * server's answers (pongs, close frames) are read and dropped. A delivered
 * message must respect the size limit, and a text message must be UTF-8;
 * the connection must end cleanly (no leak, no use after free). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "proto/text.h"
#include "edge/ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSG 4096

struct state {
    bool closed;
    size_t messages;
};

static void on_message(struct sio_ws *ws, bool binary, const uint8_t *p, size_t len, void *ud)
{
    struct state *st = ud;
    if (len > MAX_MSG || (!binary && !sio_utf8_valid(p, len)))
        abort();
    /* what the gateway does with a bad packet: close the connection */
    if (++st->messages % 3 == 0)
        sio_ws_close(ws, 1000);
    else if (st->messages % 5 == 0)
        sio_ws_send(ws, binary, p, len);
}

static void on_close(struct sio_ws *ws, void *ud)
{
    struct state *st = ud;
    st->closed = true;
}

static void drain(int fd)
{
    char buf[8192];
    while (read(fd, buf, sizeof buf) > 0) {
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_base *base;
    if (!base && !(base = event_base_new()))
        abort();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
        abort();
    struct bufferevent *bev = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        abort();
    struct state st = { 0 };
    static const struct sio_ws_cbs cbs = { on_message, on_close };
    struct sio_ws *ws = sio_ws_new(bev, MAX_MSG, &cbs, &st);
    if (!ws)
        abort();
    size_t off = 0;
    for (int round = 0; round < 64 && !st.closed; round++) {
        if (off < size) {
            ssize_t n = write(sv[1], data + off, size - off);
            if (n > 0)
                off += (size_t)n;
        } else if (off == size) {
            shutdown(sv[1], SHUT_WR);     /* EOF: the client is gone */
            off++;
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        drain(sv[1]);
    }
    if (!st.closed)
        sio_ws_abort(ws);
    event_base_loop(base, EVLOOP_NONBLOCK);     /* the flush event, if any */
    close(sv[1]);
    return 0;
}

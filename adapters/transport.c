/* transport.c: what every bridge transport shares (see transport.h): the
 * counting of received messages, the counters line, backoff and sleeping. */
#include "adapters/transport.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <sio/error.h>

unsigned sio__bridge_backoff(unsigned *ms)
{
    unsigned now = *ms < SIO_BRIDGE_BACKOFF_MIN_MS ? SIO_BRIDGE_BACKOFF_MIN_MS : *ms;
    *ms = now * 2 > SIO_BRIDGE_BACKOFF_MAX_MS ? SIO_BRIDGE_BACKOFF_MAX_MS : now * 2;
    return now;
}

bool sio__bridge_sleep(struct sio_bridge_base *b, unsigned ms)
{
    while (ms > 0 && !atomic_load(&b->stopping)) {
        unsigned step = ms < 50 ? ms : 50;
        struct timespec ts = { 0, (long)step * 1000000L };
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !atomic_load(&b->stopping);
}

static void count(struct sio_bridge_base *b, int rc, bool own, const char *what, const char *err)
{
    if (own) {
        atomic_fetch_add(&b->own, 1);
    } else if (rc > 0) {
        atomic_fetch_add(&b->delivered, 1);
    } else if (rc == 0) {
        atomic_fetch_add(&b->ignored, 1);
    } else {
        atomic_fetch_add(&b->rejected, 1);
        /* a pickle that would build objects is worth a warning: someone
         * may be trying code execution through the broker */
        if (rc == -EPERM)
            sio_log_warn(b->log, "%s message rejected: %s", what, err);
        else
            sio_log_debug(b->log, "%s message rejected: %s", what,
                          err[0] ? err : sio_strerror(rc));
    }
}

int sio__bridge_py_in(struct sio_bridge_base *b, const void *buf, size_t len, const char *what)
{
    char err[256] = "";
    bool own = false;
    atomic_fetch_add(&b->in, 1);
    int rc = sio_bridge_py_message_rx(buf, len, b->host_id, &own, sio__bridge_hub_send, &b->hub,
                                      err, sizeof err);
    count(b, rc, own, what, err);
    return rc;
}

int sio__bridge_node_in(struct sio_bridge_base *b, const char *channel, size_t chlen,
                        const void *buf, size_t len)
{
    char err[256] = "";
    bool own = false;
    atomic_fetch_add(&b->in, 1);
    int rc = sio_bridge_node_message_rx(channel, chlen, buf, len, b->host_id, &own,
                                        sio__bridge_hub_send, &b->hub, err, sizeof err);
    count(b, rc, own, "socket.io", err);
    return rc;
}

void sio__bridge_reject(struct sio_bridge_base *b, const char *what, const char *why)
{
    atomic_fetch_add(&b->in, 1);
    count(b, -E2BIG, false, what, why);
}

void sio__bridge_log_stats(struct sio_bridge_base *b, const char *when, bool only_changed)
{
    uint64_t in = atomic_load(&b->in);
    if (only_changed && in == b->last_in)
        return;
    b->last_in = in;
    sio_log_info(b->log, "%s: %sin %llu, delivered %llu, ignored %llu, rejected %llu, own %llu, "
                 "reconnects %llu", b->name, when, (unsigned long long)in,
                 (unsigned long long)atomic_load(&b->delivered),
                 (unsigned long long)atomic_load(&b->ignored),
                 (unsigned long long)atomic_load(&b->rejected),
                 (unsigned long long)atomic_load(&b->own),
                 (unsigned long long)atomic_load(&b->reconnects));
}

/* zloop.h: the thread loop the hub and the worker shards share (internal).
 *
 * Each wake-up drains every ready message with ZMQ_DONTWAIT (the caller's
 * pass(), in bounded batches per socket so one side cannot starve another)
 * and then sleeps in one poll() on the sockets' ZMQ_FDs, instead of a
 * zmq_poll() (two poll() calls and a ZMQ_EVENTS per socket) per wake-up and
 * a ZMQ_EVENTS per message. ZMQ_FD is edge-triggered: sleeping on it is
 * safe only when each socket's last operation was a receive that failed
 * with EAGAIN, which pass() guarantees when it reports itself idle. A
 * message on the control socket (socks[0], a PAIR from the owning thread)
 * stops the loop.
 */
#ifndef SIO_CORE_ZLOOP_H
#define SIO_CORE_ZLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <sio/log.h>

/* What pass() returns (bits). */
enum {
    SIO_ZLOOP_IDLE = 0,         /* every socket said EAGAIN: sleep up to *wait_ms */
    SIO_ZLOOP_BUSY = 1,         /* more may be ready: run pass() again at once */
    SIO_ZLOOP_CHECK_CTL = 2,    /* look at the control socket before the next pass */
};

struct sio_zloop {
    void *socks[4];             /* socks[0]: the control PAIR; then what pass() reads */
    size_t nsocks;
    /* One pass over the ready messages and due timers; *wait_ms: how long
     * the thread may sleep when idle (the next timer). */
    int  (*pass)(void *ud, long *wait_ms);
    void *ud;
    struct sio_log_topic *log;
    const char *name;           /* for the log, e.g. "hub" or "shard 0" */
};

/* Run until a message arrives on socks[0] (0) or a socket fails (-1,
 * logged). */
int sio_zloop_run(const struct sio_zloop *l);

#endif

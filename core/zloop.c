/* zloop.c: the thread loop of the hub and the worker shards (zloop.h). */
#include "core/zloop.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <zmq.h>

int sio_zloop_run(const struct sio_zloop *l)
{
    struct pollfd pfd[4];
    size_t n = l->nsocks < 4 ? l->nsocks : 4;
    for (size_t i = 0; i < n; i++) {
        int fd = -1;
        size_t sz = sizeof fd;
        if (zmq_getsockopt(l->socks[i], ZMQ_FD, &fd, &sz) < 0) {
            sio_log_error(l->log, "%s: ZMQ_FD: %s", l->name, zmq_strerror(errno));
            return -1;
        }
        pfd[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
    }
    bool check_ctl = true;
    for (;;) {
        if (check_ctl) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            int r = zmq_msg_recv(&m, l->socks[0], ZMQ_DONTWAIT);
            zmq_msg_close(&m);
            if (r >= 0)
                return 0;
            check_ctl = false;
        }
        long wait = -1;
        int r = l->pass(l->ud, &wait);
        if (r & SIO_ZLOOP_CHECK_CTL)
            check_ctl = true;
        if (r & SIO_ZLOOP_BUSY)
            continue;
        /* Let the threads that feed us run first (they often share our
         * core): what they send meanwhile is taken in one wake-up, not one
         * wake-up (and context switch) per message. */
        sched_yield();
        int rc = poll(pfd, (nfds_t)n, wait > (long)1 << 30 ? 1 << 30 : (int)wait);
        if (rc < 0 && errno != EINTR) {
            sio_log_error(l->log, "%s: poll: %s", l->name, strerror(errno));
            return -1;
        }
        if (rc > 0 && (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)))
            check_ctl = true;
    }
}

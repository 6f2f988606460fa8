/* bus.c: the small helpers of the bus topology (see bus.h, docs/BUS.md):
 * the route header of gateway events and random ids. Owns no state.
 */
#include "proto/bus.h"
#include "base/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <zmq.h>
#include "proto/envelope.h"

static bool route_kind_ok(int kind)
{
    return kind > 0 && kind <= 255 && strcmp(sio_env_kind_name(kind), "?") != 0;
}

int sio_bus_route_make(char *out, size_t cap, int kind, const char *nsp, size_t nsp_len,
                       const char *sid, size_t sid_len)
{
    if (!route_kind_ok(kind) || (!nsp && nsp_len) || (!sid && sid_len))
        return -EINVAL;
    /* the first NUL ends the namespace, so the namespace cannot hold one */
    if (nsp_len && memchr(nsp, '\0', nsp_len))
        return -EINVAL;
    if (nsp_len > INT_MAX - 2 || sid_len > (size_t)INT_MAX - 2 - nsp_len)
        return -EINVAL;
    size_t n = 1 + nsp_len + 1 + sid_len;
    if (!out || n > cap)
        return -EINVAL;
    out[0] = (char)(unsigned char)kind;
    if (nsp_len)
        memcpy(out + 1, nsp, nsp_len);
    out[1 + nsp_len] = '\0';
    if (sid_len)
        memcpy(out + 2 + nsp_len, sid, sid_len);
    return (int)n;
}

int sio_bus_route_parse(const char *buf, size_t len, int *kind,
                        const char **nsp, size_t *nsp_len,
                        const char **sid, size_t *sid_len)
{
    if (!buf || len < 2)
        return -EINVAL;
    int k = (unsigned char)buf[0];
    if (!route_kind_ok(k))
        return -EINVAL;
    const char *nul = memchr(buf + 1, '\0', len - 1);
    if (!nul)
        return -EINVAL;
    *kind = k;
    *nsp = buf + 1;
    *nsp_len = (size_t)(nul - (buf + 1));
    *sid = nul + 1;
    *sid_len = len - (size_t)(nul + 1 - buf);
    return 0;
}

int sio_bus_secure(void *sock, const struct sio_bus_curve *curve, int as_server)
{
    if (!curve)
        return 0;
    int one = 1;
    if (as_server) {
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) < 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, curve->secret_key, 40) < 0)
            return -errno;
        return 0;
    }
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, curve->server_key, 40) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, curve->public_key, 40) < 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, curve->secret_key, 40) < 0)
        return -errno;
    return 0;
}

static void free_sent(void *data, void *hint)
{
    free(data);
}

int sio_bus_send_buf(void *sock, struct sio_buf *b, int flags)
{
    if (b->len < SIO_BUS_ZEROCOPY_MIN)
        return zmq_send(sock, b->data, b->len, flags) < 0 ? -zmq_errno() : 0;
    zmq_msg_t m;
    size_t len = b->len;
    void *data = sio_buf_steal(b, &len);
    if (!data)
        return -ENOMEM;
    if (zmq_msg_init_data(&m, data, len, free_sent, NULL) < 0) {
        free(data);
        return -zmq_errno();
    }
    if (zmq_msg_send(&m, sock, flags) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&m);      /* frees data */
        return -e;
    }
    return 0;
}

/* random.c: unguessable bytes and ids (random.h). */
#include "base/random.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

/* Fill p with n random bytes: getrandom(2), or /dev/urandom where the
 * kernel lacks it. Ids must not be guessable (a sid names a client), so
 * with no randomness at all we abort rather than hand out weak ids. */
void sio_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        p += r;
        n -= (size_t)r;
    }
    if (!n)
        return;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        abort();
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            abort();
        p += r;
        n -= (size_t)r;
    }
    close(fd);
}

void sio_random_id(char *out, size_t len)
{
    /* 64 symbols: the low 6 bits of a random byte pick one without bias */
    static const char alphabet[64] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    unsigned char rnd[64];
    while (len) {
        size_t n = len < sizeof(rnd) ? len : sizeof(rnd);
        sio_random_bytes(rnd, n);
        for (size_t i = 0; i < n; i++)
            out[i] = alphabet[rnd[i] & 63];
        out += n;
        len -= n;
    }
}

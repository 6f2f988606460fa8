/* random.h: unguessable bytes and ids, for sids, tokens and queue names
 * (internal). */
#ifndef SIO_BASE_RANDOM_H
#define SIO_BASE_RANDOM_H

#include <stddef.h>

/* Fill buf with n unpredictable bytes (getrandom, else /dev/urandom; aborts
 * rather than return guessable bytes). */
void sio_random_bytes(void *buf, size_t n);

/* Fill out with len random characters of [A-Za-z0-9_-] (getrandom). */
void sio_random_id(char *out, size_t len);

#endif

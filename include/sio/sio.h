/* sio.h: umbrella header and version of libsio.
 *
 * sio is a Socket.IO (v5) / Engine.IO (v4) server and client framework in C.
 * Plugin authors include <sio/plugin.h>, client programs <sio/client.h>.
 */
#ifndef SIO_SIO_H
#define SIO_SIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sio/export.h>

#include <sio/error.h>
#include <sio/log.h>

/* The library's version string, e.g. "0.1.0". Thread-safe; never NULL. */
SIO_EXPORT const char *sio_version(void);

#endif

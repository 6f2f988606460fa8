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

/* Who an emit or a room / disconnect command is for: python-socketio's
 * to= / skip_sid=, JS's to() / except(). One type for plugins
 * (sio_emit(), where it is spelled struct sio_emit_opts) and for the
 * emitter (sio_emitter_emit(), spelled struct sio_emitter_to). Lists are
 * NULL-terminated; every field may be NULL / false. No room and no rooms:
 * every socket of the namespace. (issue 18) */
struct sio_to {
    const char *room;               /* one room, or one sid (a sid is a room of one socket) */
    const char *const *rooms;       /* several */
    const char *skip_sid;           /* minus one socket */
    const char *const *skip_sids;   /* minus several */
    const char *const *except_rooms;/* minus the members of these rooms */
    bool skip_self;                 /* plugins: minus the current socket (emitter: unused) */
    const char *nsp;                /* the namespace; NULL = the ctx's / the emitter's */
};

/* The library's version string, e.g. "0.1.0". Thread-safe; never NULL. */
SIO_EXPORT const char *sio_version(void);

#endif

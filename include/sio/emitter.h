/* emitter.h: emit to Socket.IO clients from any process, through the hub.
 *
 * An emitter connects a ZeroMQ DEALER to the hub's "workers" endpoint and
 * sends commands (docs/BUS.md 2.3): events to one socket, to rooms or to a
 * whole namespace (minus except rooms and except sids), room joins and
 * leaves, room closing, disconnects. It is write-only like python-socketio's
 * write_only managers: clients' acks cannot reach it.
 *
 * Every call waits until the hub accepted the command (published it to the
 * gateways) or refused it, or until the timeout: 0 means the hub accepted
 * it; it does not mean a client received it.
 *
 * An emitter is not thread-safe: use one per thread.
 */
#ifndef SIO_EMITTER_H
#define SIO_EMITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sio/sio.h>

typedef struct sio_emitter sio_emitter;

/* Room to grow (issue 18): the struct only grows at the end; .size is
 * sizeof(struct sio_emitter_cfg) as the caller was built, and a field
 * beyond it takes its default. 0 (a designated initializer without it)
 * means the fields up to curve_secret_key. */
struct sio_emitter_cfg {
    uint32_t size;              /* sizeof(struct sio_emitter_cfg), or 0 (see above) */
    const char *endpoint;       /* the hub's workers endpoint, e.g. ipc:///run/sio-workers */
    const char *nsp;            /* default namespace; NULL = "/" */
    unsigned timeout_ms;        /* wait for the hub's answer; 0 = 5000 */
    /* CURVE (tcp:// buses): Z85 keys, 40 characters; all NULL = none */
    const char *curve_server_key;
    const char *curve_public_key;
    const char *curve_secret_key;
};

/* Who a command is for: struct sio_to of <sio/sio.h>, the type plugins
 * use for sio_emit() (.room: a room or one sid; .rooms, .except_rooms,
 * .skip_sids: NULL-terminated lists of at most 1024; .skip_self unused).
 * NULL or zero = every socket of the emitter's namespace. Since issue 18;
 * before, this struct had counted lists (.sid, .nrooms, .except_sids). */
#define sio_emitter_to sio_to

struct sio_emitter_bin {
    const void *data;
    size_t len;
};

/* Connect (ZeroMQ connects lazily: an unreachable hub shows as a timeout
 * of the first command). 0 or a negative error; *out is NULL on error. */
SIO_EXPORT int  sio_emitter_new(sio_emitter **out, const struct sio_emitter_cfg *cfg);
/* NULL-safe; sets *e_p = NULL. */
SIO_EXPORT void sio_emitter_destroy(sio_emitter **e_p);

/* Emit event to `to` (NULL = the whole namespace). args_json is the JSON
 * text of the argument array ("[1,{\"a\":2}]"; NULL = no arguments); a
 * binary argument is the placeholder {"_placeholder":true,"num":N} for
 * bins[N]. 0 once the hub accepted it; SIO_ERR_TIMEOUT without an answer;
 * -EPERM when the hub refused it (sio_emitter_error() says why); -EINVAL
 * for bad arguments (args_json not a JSON array...). */
SIO_EXPORT int sio_emitter_emit(sio_emitter *e, const struct sio_emitter_to *to, const char *event,
                                const char *args_json, const struct sio_emitter_bin *bins,
                                size_t nbins);
/* The selected sockets join (leave) each of rooms. Same returns. */
SIO_EXPORT int sio_emitter_join(sio_emitter *e, const struct sio_emitter_to *to,
                                const char *const *rooms, size_t nrooms);
SIO_EXPORT int sio_emitter_leave(sio_emitter *e, const struct sio_emitter_to *to,
                                 const char *const *rooms, size_t nrooms);
/* Every socket of nsp (NULL = the emitter's) leaves room. */
SIO_EXPORT int sio_emitter_close_room(sio_emitter *e, const char *nsp, const char *room);
/* Disconnect the selected sockets from their namespace; close_conn also
 * closes each such client's whole connection. */
SIO_EXPORT int sio_emitter_disconnect(sio_emitter *e, const struct sio_emitter_to *to,
                                      bool close_conn);
/* Why the last call failed (the hub's words or ours); never NULL. */
SIO_EXPORT const char *sio_emitter_error(const sio_emitter *e);

#endif

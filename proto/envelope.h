/* envelope.h: the bus envelope (msgpack), version 1.
 *
 * Every message on the bus is one ZeroMQ frame holding one msgpack map with
 * short string keys (docs/BUS.md documents each byte). Messages published
 * by the hub to gateways are two frames: a topic (the gateway id, or "*"
 * for every gateway) and the envelope.
 *
 * Decoding borrows: strings and binaries in struct sio_env point into the
 * buffer given to sio_env_decode(), which must outlive the struct. Arrays
 * (rooms, headers, bins) are allocated and freed by sio_env_clear().
 */
#ifndef SIO_CORE_ENVELOPE_H
#define SIO_CORE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

/* Internal API (not exported from libsio, not installed): linked statically into
 * libsio, the sio tools and the tests. */
#define SIO_ENV_VERSION 1
#define SIO_ENV_MAX_LIST 65536     /* max entries in any array */

enum sio_env_kind {
    /* events: gateway -> hub -> worker */
    SIO_ENV_CONNECT        = 1,  /* a socket asks to join nsp */
    SIO_ENV_EVENT          = 2,  /* client event (id >= 0: client wants an ack) */
    SIO_ENV_CLIENT_ACK     = 3,  /* client's ack of a server call (id) */
    SIO_ENV_DISCONNECT     = 4,  /* socket left nsp (reason) */
    SIO_ENV_RAW            = 5,  /* raw Engine.IO message (nsp ""; sid = engine sid) */
    /* commands: worker/emitter -> hub -> gateway(s) */
    SIO_ENV_EMIT           = 16, /* event to rooms (none = whole nsp), minus excepts; id >= 0 asks for an ack (one sid only) */
    SIO_ENV_ACK            = 17, /* server's ack of a client event (sid, id) */
    SIO_ENV_JOIN           = 18, /* sockets selected by sid/rooms join rooms2 */
    SIO_ENV_LEAVE          = 19, /* sockets selected by sid/rooms leave rooms2 */
    SIO_ENV_CLOSE_ROOM     = 20, /* every socket leaves rooms */
    SIO_ENV_DISCONNECT_CMD = 21, /* disconnect selected sockets (close_conn: whole client) */
    SIO_ENV_CONNECT_OK     = 22, /* accept a CONNECT */
    SIO_ENV_CONNECT_ERR    = 23, /* refuse a CONNECT; data = JSON of the CONNECT_ERROR payload */
    SIO_ENV_SESSION        = 24, /* store the user session blob for (nsp, sid) */
    SIO_ENV_RAW_SEND       = 25, /* raw Engine.IO message to engine sid */
    SIO_ENV_EVENT_DONE     = 26, /* worker -> gateway: events of (nsp, sid) up to confirm handled */
    SIO_ENV_TAKEOVER       = 27, /* hub -> gateways: sockets rooms (sids) of nsp lost their worker */
    SIO_ENV_ADMIN          = 28, /* gateway -> hub -> gateways: Admin UI traffic (reason = what);
                                  * as a route kind: republish the envelope on topic sid */
    /* control: worker <-> hub */
    SIO_ENV_HELLO          = 32, /* worker registers: rooms = namespaces served */
    SIO_ENV_HEARTBEAT      = 33,
    SIO_ENV_BYE            = 34, /* worker leaving */
    SIO_ENV_GATEWAY_GONE   = 35, /* hub -> worker: gateway gw stopped heartbeating */
};

struct sio_str {
    const char *p;          /* not NUL-terminated; NULL when absent */
    size_t len;
};

struct sio_env_bin {
    const uint8_t *p;
    size_t len;
};

struct sio_env {
    uint32_t version;       /* SIO_ENV_VERSION on encode */
    enum sio_env_kind kind;
    struct sio_str gw;      /* gateway id that owns sid */
    struct sio_str nsp;     /* namespace, e.g. "/" or "/chat"; "" for RAW */
    struct sio_str sid;     /* Socket.IO sid (engine sid for RAW*) */
    int64_t id;             /* ack id; -1 when absent */
    struct sio_str data;    /* JSON text: event array, ack array, auth, error */
    struct sio_env_bin *bins;   /* binary attachments (placeholders in data) */
    size_t nbins;
    bool binary;            /* RAW/RAW_SEND: data is a binary message */
    bool close_conn;        /* DISCONNECT_CMD: close the whole client */
    bool volatile_;         /* "vo", EMIT: a recipient not ready to take it now
                             * (output waiting, no pending long-poll) skips it */
    struct sio_str reason;  /* DISCONNECT reason, e.g. "client namespace disconnect" */
    struct sio_str *rooms;  /* EMIT/JOIN/LEAVE/DISCONNECT_CMD target rooms; HELLO namespaces */
    size_t nrooms;
    struct sio_str *except_rooms;
    size_t nexcept_rooms;
    struct sio_str *except_sids;
    size_t nexcept_sids;
    struct sio_str *rooms2; /* JOIN/LEAVE: rooms to join or leave */
    size_t nrooms2;
    /* CONNECT environ */
    struct sio_str *headers;    /* name, value, name, value ... (2*nheaders) */
    size_t nheaders;
    struct sio_str query;       /* raw query string */
    struct sio_str remote;      /* "ip:port" */
    struct sio_str session;     /* CONNECT (worker takeover) and SESSION: blob */
    int64_t ts;                 /* optional timestamp (ms), 0 when absent */
    int64_t confirm;            /* "cf": EVENT: its sequence number, the gateway wants an
                                 * EVENT_DONE; EVENT_DONE: the last handled; 0 = absent */
    struct sio_str origin;      /* "org": a command a bridge brought in from a broker: the
                                 * host id of the deployment it came from ("" if unknown);
                                 * bridges never publish such a command again */
    /* Private to envelope.c: the one allocation holding the arrays made by
     * sio_env_decode() (NULL otherwise), freed by sio_env_clear(). Do not
     * copy a decoded struct and clear both copies. */
    void *priv;
};

/* Zero env and set version and id = -1. */
void sio_env_init(struct sio_env *env, enum sio_env_kind kind);

/* Free the arrays made by sio_env_decode() (not the borrowed bytes) and
 * leave env as sio_env_init(env, 0) does. Safe to call twice, and on an
 * envelope filled by hand for encoding (its arrays are not touched). */
void sio_env_clear(struct sio_env *env);

/* Append the msgpack encoding of env to out. 0 or -ENOMEM/-EINVAL. */
int sio_env_encode(const struct sio_env *env, struct sio_buf *out);

/* Decode one envelope. Unknown keys are skipped (forward compatible);
 * a missing or unsupported "v" is SIO_ERR_VERSION; anything malformed is
 * SIO_ERR_ENVELOPE; -ENOMEM. On error env is cleared. env is output only
 * (it need not be initialized): sio_env_clear() an envelope decoded before
 * decoding into it again, or its arrays leak. */
int sio_env_decode(const void *buf, size_t len, struct sio_env *env);

/* Human-readable name of a kind ("emit", "connect", ...), or "?". */
const char *sio_env_kind_name(int kind);

#endif

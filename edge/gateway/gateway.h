/* gateway.h: the Engine.IO / Socket.IO edge (HTTP/1.1 polling + WebSocket).
 *
 * sio_gateway_new() binds the listening sockets (so "port in use" is
 * reported to the caller), connects to the hub and starts the gateway's I/O
 * threads (cfg.io_threads, each one a gateway of its own on the bus; see
 * gw.h). sio_gateway_destroy() stops them and waits.
 */
#ifndef SIO_GATEWAY_H
#define SIO_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/bus.h"

typedef struct sio_gateway sio_gateway;
struct sio_buf;

/* Cross-origin behaviour (docs/SERVER.md). The zero value adds no CORS
 * headers and refuses no Origin (the JS server without `cors`); `sio
 * server` defaults to SIO_CORS_PYTHON. */
enum sio_cors_mode {
    SIO_CORS_OFF = 0,
    SIO_CORS_PYTHON,        /* python-socketio: same-origin by default, 400 otherwise */
    SIO_CORS_JS,            /* socket.io's `cors` option: fixed headers, 204 preflight */
};

/* One --static mount: URL prefix -> directory; or one --static-file: URL
 * (exactly) -> file, when file is set (dir is then unused). */
struct sio_static_mount {
    const char *prefix;     /* starts with '/' */
    const char *dir;
    const char *file;       /* a file mount */
    const char *content_type;   /* file mount: NULL = by extension */
};

struct sio_gateway_cfg {
    void *zmq_ctx;
    struct sio_bus_endpoints ep;        /* events + commands are used */
    const char *host;                   /* default "127.0.0.1"; "::" / "0.0.0.0" / "localhost" */
    uint16_t port;                      /* default 5000; 0 = pick (see sio_gateway_port) */
    const char *path;                   /* default "/socket.io/" */
    const char *engineio_path;          /* raw Engine.IO service; NULL = off */
    unsigned ping_interval_ms;          /* default 25000 */
    unsigned ping_timeout_ms;           /* default 20000 */
    size_t max_payload;                 /* default 1000000 */
    bool no_polling;                    /* transports: polling off */
    bool no_websocket;                  /* transports: websocket off */
    /* HTTP configuration (all copied by sio_gateway_new) */
    enum sio_cors_mode cors_mode;
    const char *cors_allowed_origins;   /* NULL: python same origin / js off; "" off; "*"; "a,b" */
    bool no_cors_credentials;           /* credentials are on unless set */
    const char *cookie;                 /* Set-Cookie name on the polling handshake; NULL = none */
    bool no_compression;                /* gzip/deflate of polling responses off */
    size_t compression_threshold;       /* compress bodies >= this; 0 = 1024 */
    const struct sio_static_mount *statics;
    size_t nstatics;
    bool at_least_once;                 /* keep each event until its worker confirms it
                                         * (EVENT_DONE); re-send after a TAKEOVER */
    /* at_least_once bounds (docs/BUS.md 4.4): a socket whose worker is gone
     * and that no worker adopted within hold_timeout_ms of the first
     * TAKEOVER, or that has more unconfirmed events than hold_max_events /
     * hold_max_bytes, is disconnected from its namespace */
    unsigned hold_timeout_ms;           /* 0 = 30000 */
    size_t hold_max_events;             /* per socket; 0 = 10000 */
    size_t hold_max_bytes;              /* per socket; 0 = 16 MiB */
    bool no_upgrades;                   /* allowUpgrades off: handshake says "upgrades":[],
                                         * a WebSocket for a polling sid gets 400 "Bad request" */
    const char *static_default_file;    /* served for a directory URL; NULL = "index.html" */
    const char *upstream;               /* "http://HOST:PORT": forward other requests; NULL = 404 */
    unsigned io_threads;                /* I/O threads, at most 64; 0 = the online cores */
    /* Limits (docs/RELIABILITY.md). 0 picks the default. */
    size_t max_client_buffer;           /* output bytes one client may leave unread; past
                                         * it the client is dropped; 0 = 4 MiB,
                                         * SIZE_MAX = no cap */
    unsigned close_timeout_ms;          /* a closing connection's output may take this
                                         * long to drain, then TCP is cut; 0 = 5000 */
    unsigned max_connections;           /* TCP connections (and Engine.IO sessions) of the
                                         * whole gateway; more get 503; 0 = the fd limit
                                         * less a reserve */
    unsigned max_conns_per_ip;          /* per client address; more get 429; 0 = no limit */
    unsigned max_handshakes_per_ip;     /* new sessions per second per address; 0 = no limit */
    unsigned max_events_per_sec;        /* Socket.IO packets per second per client; over
                                         * it the client is not read until its bucket
                                         * refills; 0 = no limit */
    unsigned connect_timeout_ms;        /* a session that joins no namespace in this time
                                         * is closed; 0 = 45000 */
    unsigned inflight_max;              /* events of one socket a worker may hold unhandled
                                         * before the gateway stops reading that client;
                                         * 0 = 256 */
    /* TLS (docs/SERVER.md "TLS"): on when tls_cert is set. Files are read
     * by sio_gateway_new (errors name the file) and again by
     * sio_gateway_tls_reload. A TLS connection handed over between I/O
     * threads takes its SSL along. */
    const char *tls_cert;               /* PEM: the leaf, then its chain */
    const char *tls_key;                /* PEM private key */
    const char *tls_client_ca;          /* require client certificates from this CA */
    const struct sio_gateway_sni *tls_sni;  /* more certificates, by SNI name */
    size_t ntls_sni;
    /* Admin UI instrumentation (docs/ADMIN.md): the gateway itself serves
     * the admin namespace; every gateway of the deployment feeds it over the
     * bus. Off unless admin is set. */
    bool admin;
    const char *admin_nsp;              /* NULL = "/admin" */
    const char *admin_user;             /* NULL = "admin" */
    const char *admin_password;         /* plain, or a bcrypt hash ($2a$/$2b$/$2y$) */
    bool admin_no_auth;                 /* no credentials asked (warned about) */
    bool admin_readonly;                /* no actions advertised; refused */
    bool admin_production;              /* aggregated data only (no per-socket events) */
    /* Prometheus metrics (docs/ADMIN.md): GET /metrics on the gateway's
     * port; metrics_extra (optional) appends more families to the text */
    bool metrics;
    bool metrics_elsewhere;             /* count, but GET /metrics is served elsewhere
                                         * (--metrics-port): the gateway's port has none */
    void (*metrics_extra)(struct sio_buf *out, void *ud);
    void *metrics_ud;
};

/* The gateway's metrics in the Prometheus text format, appended to out
 * (any thread). 0 or -ENOMEM. */
int sio_gateway_metrics(sio_gateway *gw, struct sio_buf *out);

/* One --tls-sni HOST=CERT:KEY. */
struct sio_gateway_sni {
    const char *host;
    const char *cert;
    const char *key;
};

/* Counters of the limits above, for the whole gateway (any thread). */
struct sio_gateway_stats {
    unsigned long long slow_clients;    /* dropped: output over max_client_buffer */
    unsigned long long refused_busy;    /* 503: over max_connections */
    unsigned long long refused_ip;      /* 429: per-address limits */
    unsigned long long accept_errors;   /* accept() failed (EMFILE, ENFILE, ...) */
    unsigned long long connect_timeouts;
    unsigned long long connections;     /* open TCP connections now */
};
void sio_gateway_stats(const sio_gateway *gw, struct sio_gateway_stats *out);

int  sio_gateway_new(sio_gateway **out, const struct sio_gateway_cfg *cfg, char *err, size_t errlen);
/* The bound TCP port (useful with port 0). */
uint16_t sio_gateway_port(const sio_gateway *gw);
/* Read the TLS certificate and key files again; new connections use them,
 * open ones keep theirs. Any thread. 0, or <0 with err set (the old files
 * stay in use); -EINVAL also when TLS is off. */
int  sio_gateway_tls_reload(sio_gateway *gw, char *err, size_t errlen);
void sio_gateway_destroy(sio_gateway **gw_p);

/* Graceful stop, before sio_gateway_destroy() (any thread but the
 * gateway's I/O threads): stop accepting connections on every I/O thread,
 * disconnect every socket from its namespace (the client sees "io server
 * disconnect" and may reconnect to another gateway; the workers get
 * DISCONNECT "server disconnect"), then
 * wait up to timeout_ms for the clients to close their sessions. Returns
 * the number of Engine.IO sessions still open (0: drained). Call once. */
int  sio_gateway_drain(sio_gateway *gw, unsigned timeout_ms);

#endif

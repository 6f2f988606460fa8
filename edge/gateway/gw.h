/* gw.h: the gateway's internal types, shared by its parts: gateway.c
 * (listener and I/O threads, bus receive, drain), conn.c (a connection's
 * start, list and end), route.c (HTTP routing), handover.c (connections
 * changing threads), bus.c (ids, bus sends), session.c (Engine.IO
 * sessions), socket.c (Socket.IO sockets and hub commands), raw.c (the
 * raw Engine.IO service), room.c (rooms), limits.c, metrics.c and
 * admin.c. Calls by name go one way: listener -> handover -> conn;
 * routing -> handover, conn, sessions; sessions -> their kind (through
 * struct gw_session_ops) -> bus.c. Callback tables (gw_http_cbs,
 * sio_ws_cbs, the inbox events) are how the lower parts reach back.
 *
 * Everything hangs off struct gw_thread: the state of one I/O thread
 * (event_base, listeners, bus sockets, sessions, namespaces). The gateway
 * runs cfg.io_threads of them; each has its own listening sockets on the
 * same address (SO_REUSEPORT, so the kernel spreads new connections over
 * them), its own gateway id, DEALER and SUB on the bus (to the hub each
 * thread is a gateway of its own: commands for its sockets reach only it,
 * broadcasts reach every thread once). Nothing of a thread is touched by
 * another one, except its inbox (below) and, read-only, the shared
 * configuration in struct sio_gateway.
 *
 * Handover: a session belongs to the thread that made it, and its sid says
 * which (gw_sid_owner). A polling client opens several TCP connections per
 * session and the kernel may give any of them to any thread: a thread that
 * parses a request for another thread's sid gives the whole connection to
 * the owner (the fd, the request's bytes as received, anything pipelined,
 * any output not yet written) through the owner's inbox, and the owner
 * parses those bytes again on a new connection (handover.c, gw_handover()).
 * An HTTP/2 connection never changes threads (its other streams stay):
 * a request on it for another thread's sid goes to the owner alone, as
 * HTTP/1.1 bytes, and the reply's bytes come back (handover.c, gw_xforward()).
 */
#ifndef SIO_EDGE_GW_H
#define SIO_EDGE_GW_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include "base/buf.h"
#include "proto/bus.h"
#include "proto/batch.h"
#include "proto/envelope.h"
#include "edge/gateway/gateway.h"
#include "edge/http/http1.h"
#include "edge/http/h2.h"
#include "edge/http/cors.h"
#include "edge/http/static.h"
#include "edge/http/upstream.h"
#include "edge/http/tls.h"
#include "edge/ws/ws.h"
#include "base/map.h"

#define GW_SID_LEN 20
/* at most this many I/O threads: a sid names its owner in one of the 64
 * characters of its alphabet */
#define GW_MAX_THREADS 64

/* ---- a shared, refcounted outgoing Engine.IO packet (session.c) ----
 * Encoded once; framed lazily once per transport kind, then the same bytes
 * are referenced by every recipient's output (evbuffer_add_reference). */
struct gw_pkt {
    struct gw_thread *t;
    unsigned refs;
    int type;               /* enum sio_eio_type */
    bool binary;
    struct sio_buf data;    /* payload after the type digit */
    struct sio_buf ws;      /* WebSocket frame, when used */
    struct sio_buf poll;    /* polling piece (no separator), when used */
    struct gw_pkt *next_free;
};
struct gw_pkt *gw_pkt_new(struct gw_thread *t, int type, bool binary);
void gw_pkt_unref(struct gw_pkt *p);

struct gw_conn;
struct gw_sock;
struct gw_session;

/* ---- a token bucket (limits.c) ---- */
struct gw_bucket {
    double tokens;
    uint64_t last;          /* ms, monotonic; 0 = new (full) */
};

/* ---- what a kind of session does with it (session.c calls these) ----
 * The Engine.IO session knows nothing of what its messages carry: the
 * router picks the kind when it makes the session (gw_session_new), as
 * the WebSocket layer takes its sio_ws_cbs. */
struct gw_session_ops {
    const char *name;       /* in logs: "socket.io", "raw" */
    /* the handshake was answered (gw_session_start) */
    void (*on_open)(struct gw_session *s);
    /* an Engine.IO MESSAGE packet's payload */
    void (*on_message)(struct gw_session *s, bool binary, const uint8_t *data, size_t len);
    /* the session closes (before its transports do): called once */
    void (*on_close)(struct gw_session *s, const char *reason);
    /* true when the client may be read again after a window pause;
     * NULL: the kind has no in-flight window */
    bool (*window_open)(const struct gw_session *s);
    /* give up waiting for the confirmations of events in flight */
    void (*window_forget)(struct gw_session *s);
};
extern const struct gw_session_ops gw_sio_ops;  /* socket.c: Socket.IO */
extern const struct gw_session_ops gw_raw_ops;  /* raw.c: engineio_path service */

/* ---- Engine.IO session (session.c) ---- */
struct gw_session {
    char sid[GW_SID_LEN + 1];
    struct gw_thread *t;
    const struct gw_session_ops *ops;   /* its kind */
    bool ws_transport;      /* current transport is WebSocket */
    bool upgrading;         /* 2probe received on probe, waiting for 5 */
    bool closed;
    struct gw_conn *get;    /* pending polling GET */
    struct gw_conn *ws;     /* active WebSocket */
    struct gw_conn *probe;  /* WebSocket being upgraded to */
    struct gw_pkt **q;      /* queued for the next GET (or after the upgrade) */
    size_t qn, qcap;
    struct event *ping_ev;
    bool awaiting_pong;
    struct event *flush_ev;
    size_t qbytes;          /* bytes of the packets in q */
    bool overflow;          /* over max_client_buffer: closing (flush_ev) */
    struct event *conn_ev;  /* connect timeout (Socket.IO sessions), until a join */
    struct event *rate_ev;  /* end of an event-rate pause, made when first needed */
    struct event *win_ev;   /* deadline of an in-flight-window pause, made when needed */
    struct gw_bucket events;    /* cfg.max_events_per_sec */
    bool paused;            /* not read: over its event rate or its in-flight window */
    bool rate_paused;       /* ... for the rate: rate_ev resumes it */
    struct gw_conn *post;   /* a POST whose reply waits for the pause to end */
    /* CONNECT environ */
    struct sio_buf env_arena;
    struct sio_str *headers;    /* name, value pairs (2*nheaders) */
    size_t nheaders;
    struct sio_str query;
    struct sio_str remote;      /* "ip:port" of the client (in env_arena) */
    int64_t issued;             /* wall clock ms of the handshake (Admin UI) */
    /* Socket.IO */
    struct gw_sock *socks;      /* list through next_in_sess */
    struct {                    /* a BINARY_* packet collecting attachments; an
                                 * idle session holds no memory here */
        bool active;
        struct sio_buf text;    /* the packet text */
        unsigned want;
        struct sio_buf bins;    /* concatenated attachment bytes */
        size_t *offs;           /* want + 1 offsets into bins, made per packet */
        unsigned have;
    } bin;
    struct gw_session *next_dead;
};

/* ---- one TCP connection (conn.c) ---- */
struct gw_conn {
    struct gw_conn *prev, *next;
    struct gw_thread *t;
    struct sio_http_conn *http;
    struct sio_ws *ws;
    struct gw_session *sess;    /* WS: its session; HTTP: session of the pending GET */
    uint8_t enc;                /* enum sio_http_enc for the current polling GET */
    char remote[64];
    char ip[48];                /* remote without the port: the per-address key */
    uint16_t refuse;            /* 503 or 429: answer the request with it, close */
    bool counted;               /* in the connection counts (limits.c) */
    struct gw_session *post_of; /* the session whose reply to this POST is held */
    struct sio_upstream_req *up;    /* request forwarded upstream, in flight */
    /* HTTP/2 (route.c): a connection that speaks it has h2 and no http;
     * each of its request streams gets a gw_conn of its own (stream set;
     * in t->conns, before its connection's, not in the counts), whose
     * http is the stream's exchange, then maybe its ws (RFC 8441) */
    struct sio_h2_conn *h2;
    bool stream;
    uint64_t xid;               /* an HTTP/2 request served by thread xowner
                                 * (handover.c "forwarded requests"); 0: none */
    unsigned xowner;
};

/* ---- Socket.IO (socket.c, room.c) ---- */
struct gw_room {
    char *name;
    size_t name_len;            /* names are bytes: may hold a NUL */
    struct sio_map members;      /* sid -> gw_sock */
};

struct gw_nsp {
    struct gw_thread *t;
    char *name;
    size_t name_len;
    struct sio_map socks;        /* sid -> gw_sock */
    struct sio_map rooms;        /* name -> gw_room */
};

struct gw_sock {
    char sid[GW_SID_LEN + 1];
    struct gw_session *sess;
    struct gw_nsp *nsp;
    bool connected;             /* CONNECT_OK seen */
    bool admin;                 /* of the admin namespace: served here (admin.c) */
    uint64_t connect_us;        /* when its CONNECT went to the hub (metrics) */
    struct gw_sock *next_in_sess;
    struct gw_room **rooms;
    size_t nrooms, roomcap;
    unsigned mark, excl;        /* broadcast dedup generations */
    struct sio_buf session_blob;
    /* at-least-once (cfg.at_least_once): events sent but not yet confirmed
     * by an EVENT_DONE, oldest first, re-sent after a TAKEOVER */
    struct gw_pending *pend, **pend_tail;
    size_t npend, pend_bytes;
    int64_t seq;                /* last event sequence number */
    int64_t done;               /* last one a worker confirmed (EVENT_DONE) */
    uint64_t hold_since;        /* ms (monotonic) of the first TAKEOVER not yet
                                 * answered by a CONNECT_OK; 0: has a worker */
};

/* ---- a connection or request changing threads (handover.c) ---- */
/* A connection on its way to another thread; owned by the inbox it is in,
 * then by the thread that takes it (which closes fd unless adopted). */
struct gw_handoff {
    struct gw_handoff *next;
    int fd;
    SSL *ssl;               /* a TLS connection's state (owned with fd) */
    unsigned owner;         /* the thread it goes to */
    char remote[64];
    char ip[48];
    bool counted;           /* still in the connection counts */
    struct sio_buf in;      /* the request's head as received, then the rest */
    struct sio_buf out;     /* output not yet written */
    /* not a connection but a forwarded HTTP/2 request (fd -1): */
    uint8_t kind;           /* HO_* */
    uint64_t xid;
    unsigned from;          /* the thread that forwarded it */
    bool https;
};

enum { HO_CONN = 0, HO_XREQ, HO_XREPLY, HO_XCANCEL };

/* ---- Prometheus counters of one thread (metrics.c) ----
 * Written by the owning thread only (a relaxed load and store, no locked
 * instruction), read by any thread that renders GET /metrics. Gauges are
 * kept as wrapping sums of +1/-1. */
enum { GW_R_CLIENT, GW_R_SERVER, GW_R_TRANSPORT_CLOSE, GW_R_PING_TIMEOUT, GW_R_TRANSPORT_ERROR,
       GW_R_OTHER, GW_NREASONS };
#define GW_RTT_BUCKETS 10
struct gw_metrics {
    _Atomic uint64_t ws_sessions;       /* gauge: sessions on WebSocket */
    _Atomic uint64_t pkt_in, pkt_out, bytes_in, bytes_out;
    _Atomic uint64_t connects, refused;
    _Atomic uint64_t disc[GW_NREASONS];
    _Atomic uint64_t rooms;             /* gauge */
    _Atomic uint64_t inflight;          /* gauge: events sent to workers, not confirmed */
    _Atomic uint64_t rtt[GW_RTT_BUCKETS + 1], rtt_sum_us, rtt_n;
    _Atomic uint64_t proto_errors;
};
#define GW_M_ADD(t, f, n) \
    atomic_store_explicit(&(t)->m.f, atomic_load_explicit(&(t)->m.f, memory_order_relaxed) + \
                          (uint64_t)(n), memory_order_relaxed)
#define GW_METRICS(t) ((t)->gw->cfg.metrics)

struct gw_thread {
    struct sio_gateway *gw;
    unsigned idx;               /* in gw->th; written into its sids */
    char id[SIO_GW_ID_LEN + 1]; /* its gateway id on the bus */
    pthread_t thread;
    bool started;
    struct event_base *base;
    struct evconnlistener *lis[4];
    int nlis;
    struct event *stop_ev;
    struct event *reap_ev;
    struct event *hb_ev;        /* HEARTBEAT to the hub every second */
    void *dealer, *sub;
    struct event *sub_ev;
    struct sio_buf envbuf;      /* envelope encoding scratch */
    /* what this thread sends the hub during one pass of its loop, sent as
     * one batch frame by busq_ev at the end of the pass (bus.c) */
    struct sio_bus_batch busq;
    struct event *busq_ev;
    struct sio_buf scratch;
    struct sio_map sessions;     /* engine sid -> gw_session */
    struct sio_map nsps;         /* name -> gw_nsp */
    struct gw_conn *conns;
    struct gw_session *dead;    /* closed sessions, freed by reap_ev */
    struct gw_pkt *pkt_free;
    size_t npkt_free;
    struct evbuffer *pollout;   /* polling response body being assembled */
    struct evbuffer *zout;      /* its compressed form */
    struct sio_buf xlead, xct;  /* CORS header lines of the current request */
    unsigned gen;
    struct gw_sock **sel;       /* sockets selected by a command */
    size_t nsel, selcap;
    bool bus_busy;
    bool stopping;
    size_t nhold;               /* sockets with hold_since set */
    /* connections handed over by other threads, taken by inbox_ev */
    pthread_mutex_t inbox_lock;
    bool inbox_lock_ok;
    struct gw_handoff *inbox, **inbox_tail;
    struct event *inbox_ev;
    /* TLS connections given up by this thread, sent on by outbox_ev once
     * libevent has left their SSL (this thread only) */
    struct gw_handoff *outbox;
    struct event *outbox_ev;
    /* HTTP/2 requests for another thread's session (handover.c) */
    struct sio_map xwait;       /* xid -> gw_conn: ours, waiting for the reply */
    struct sio_map xserve;      /* (from thread, xid) -> gw_xserve: others', served here */
    uint64_t xnext;
    /* sio_gateway_drain() */
    struct event *drain_ev;
    bool drain_started;         /* this thread only */
    _Atomic int drain_left;     /* sessions still open; -1 until the first check */
    /* Admin UI (admin.c): while some admin socket of the deployment is
     * connected (its gateway says so on the bus every second), admin_watch
     * is set and this thread reports its sockets' changes */
    bool admin_watch;
    uint64_t admin_watch_until;     /* ms, monotonic */
    unsigned admin_ticks;
    struct gw_admin_query *admin_q; /* all_sockets being collected */
    unsigned long long admin_agg[6];    /* aggregated events since the last server_stats */
    struct gw_bucket admin_logins;      /* password checks per second (bcrypt is slow) */
    struct gw_metrics m;
    /* accept() out of fds (limits.c) */
    struct event *accept_ev;
    unsigned long long accept_fails;
    uint64_t accept_logged;
};

struct sio_gateway {
    struct sio_gateway_cfg cfg;
    char *host, *path, *engineio_path;
    struct sio_cors cors;
    char *cookie;
    char *cors_origins;
    struct sio_static *statics;
    size_t nstatics;
    struct sio_upstream *upstream;  /* NULL: none */
    struct sio_tls *tls;            /* NULL: plain TCP */
    uint16_t port;
    struct gw_thread *th;           /* the I/O threads */
    unsigned nth;
    bool started;                   /* every thread runs */
    bool draining;                  /* sio_gateway_drain() was called */
    /* limits.c: counts over every thread */
    _Atomic unsigned long long nconns, nsessions;
    _Atomic unsigned long long st_slow, st_busy, st_ip, st_accept_err, st_conn_to;
    /* Admin UI (admin.c) */
    char *admin_nsp, *admin_user, *admin_password;
    unsigned char admin_key[32];    /* signs session ids */
    int64_t started_ms;             /* wall clock, for uptime */
    pthread_mutex_t nsp_lock;       /* metrics: sockets per namespace, every thread */
    bool nsp_lock_ok;
    struct sio_map nsp_counts;      /* name -> (void *)(uintptr_t)count */
    bool ips_on;                    /* a per-address limit is set: ips is used */
    pthread_mutex_t ip_lock;
    struct sio_map ips;             /* address -> struct gw_ip */
};

/* bus.c: ids and the bus sends (calls no other part of the gateway) */
/* An envelope to the hub on t's DEALER (dropped, with a log line, when
 * the route or the envelope cannot be made or the send fails). */
void gw_bus_send(struct gw_thread *t, const struct sio_env *env);
/* The same, and t->envbuf still holds the encoded envelope afterwards (for
 * a copy kept until the worker confirms it). False when nothing was sent. */
bool gw_bus_send_kept(struct gw_thread *t, const struct sio_env *env);
/* Have the hub publish env to topic ("*" or a gateway id) (SIO_ENV_ADMIN route). */
void gw_bus_relay(struct gw_thread *t, const char *topic, const struct sio_env *env);
/* Send the frames [route, envelope] as they are (an event kept for a
 * takeover), in order with gw_bus_send's. */
void gw_bus_frames(struct gw_thread *t, const void *route, size_t rlen, const void *env,
                   size_t elen);
/* Send what t queued for the hub now (busq_ev does at the end of a pass). */
void gw_bus_flush(struct gw_thread *t);
void gw_bus_flush_cb(evutil_socket_t fd, short what, void *arg);
/* A fresh sid (engine or socket) of thread owner. */
void gw_make_sid(char out[GW_SID_LEN + 1], unsigned owner);
/* The thread that made sid, or -1 (not one of ours: wrong length or owner
 * out of range). */
int  gw_sid_owner(const char *sid, size_t len, unsigned nth);

/* conn.c: the connections of a thread (t->conns) */
/* Into t's list (sets c->t). */
void gw_conn_link(struct gw_thread *t, struct gw_conn *c);
/* Out of the list and the connection counts; aborts its HTTP/2 streams;
 * frees c. */
void gw_conn_unlink(struct gw_conn *c);
/* A new HTTP connection on fd (closed on failure): accepted here, or
 * handed over by another thread (ho: its bytes, its SSL). refused: 0 when
 * it is in the connection counts, -1 when not (and not refused), else the
 * HTTP status it gets for its request. */
void gw_conn_start(struct gw_thread *t, int fd, const char *remote, const char *ip,
                   int refused, const struct gw_handoff *ho);

/* route.c: the callbacks of every HTTP connection (and HTTP/2 stream) */
extern const struct sio_http_cbs gw_http_cbs;

/* handover.c */
/* A request for sid (its head parsed, nothing answered): when another
 * thread owns sid, give that thread the connection and return true (c is
 * then gone). */
bool gw_handover(struct gw_conn *c, const char *sid, size_t sidl);
/* An HTTP/2 request for sid: when another thread owns it, send it there
 * and return true (the stream waits for the reply). */
bool gw_xforward(struct gw_conn *c, const struct sio_http_req *req, const char *sid, size_t sidl);
/* The stream of c waits no more (it closed): tell the owner. */
void gw_xforward_cancel(struct gw_conn *c);
/* t->inbox_ev and t->outbox_ev */
void gw_handover_inbox_cb(evutil_socket_t fd, short what, void *arg);
void gw_handover_outbox_cb(evutil_socket_t fd, short what, void *arg);
/* The thread stops: what it handed over but had not sent on is closed,
 * and the requests it served for others. */
void gw_handover_stop(struct gw_thread *t);
/* What reached the inbox after the thread stopped: closed. */
void gw_handover_clear(struct gw_thread *t);

/* limits.c */
uint64_t gw_now_ms(void);
/* Take a token (rate per second, burst one second's worth): 0, or the ms
 * until one is there. debt: the token is taken anyway (what it paid for
 * happens regardless), and the wait covers the debt; else a refusal costs
 * no token. */
unsigned gw_bucket_take(struct gw_bucket *b, unsigned rate, uint64_t now, bool debt);
void gw_limits_init(struct sio_gateway *gw);    /* fd limit, defaults */
void gw_limits_clear(struct sio_gateway *gw);
/* A new connection from ip: 0 (counted) or the HTTP status to refuse it. */
int  gw_limits_accept(struct gw_thread *t, const char *ip);
void gw_limits_closed(struct gw_thread *t, const char *ip);
/* A new Engine.IO session from ip: 0 or the HTTP status to refuse it. */
int  gw_limits_handshake(struct gw_thread *t, const char *ip);
void gw_limits_sweep(struct sio_gateway *gw);
struct evconnlistener;
void gw_accept_error(struct evconnlistener *l, void *arg);

/* session.c */
struct gw_session *gw_session_new(struct gw_thread *t, const struct gw_session_ops *ops,
                                  const struct sio_http_req *req, const char *remote);
void gw_session_send(struct gw_session *s, struct gw_pkt *p);   /* takes no ref */
/* The client can take a packet at once (a volatile emit is skipped when
 * not): its WebSocket is not backed up, or its long-poll is pending. */
bool gw_session_writable(const struct gw_session *s);
void gw_session_send_text(struct gw_session *s, int type, const char *data, size_t len);
void gw_session_close(struct gw_session *s, const char *reason);
void gw_session_on_packet(struct gw_session *s, int type, bool binary, const uint8_t *data, size_t len);
void gw_session_start(struct gw_session *s);
/* A namespace was joined: the connect timeout is over (its timer freed). */
void gw_session_joined(struct gw_session *s);
void gw_session_reap(struct gw_thread *t);
/* HTTP polling */
void gw_session_poll_get(struct gw_session *s, struct gw_conn *c);
void gw_session_poll_post(struct gw_session *s, struct gw_conn *c, struct sio_http_req *req);
/* WebSocket attach (direct or probe) */
void gw_session_ws_message(struct gw_conn *c, bool binary, const uint8_t *data, size_t len);
void gw_session_ws_closed(struct gw_conn *c);
void gw_session_conn_closed(struct gw_conn *c);
void gw_session_send_open(struct gw_session *s, bool upgrades);
/* Stop reading the client (its in-flight window is full) / read it again. */
void gw_session_pause(struct gw_session *s);
void gw_session_resume(struct gw_session *s);
/* A POST connection closed before its held reply. */
void gw_session_post_gone(struct gw_conn *c);
/* Answer a pending GET with one packet type digit ('1' close, '6' noop). */
void gw_conn_reply_type(struct gw_conn *c, char type);

/* socket.c (and gw_sio_ops above) */
void gw_sio_command(struct gw_thread *t, const struct sio_env *env);
void gw_nsps_clear(struct gw_thread *t);
/* Disconnect the sockets held past cfg.hold_timeout_ms (every second). */
void gw_sio_hold_check(struct gw_thread *t);

/* socket.c, for admin.c */
void gw_sock_send_simple(struct gw_sock *k, int type, const char *json, size_t jl);
void gw_sock_remove(struct gw_sock *k, const char *reason);

/* admin.c: the Admin UI namespace (docs/ADMIN.md) */
enum { GW_AGG_CONN, GW_AGG_DISC, GW_AGG_PIN, GW_AGG_POUT, GW_AGG_BIN, GW_AGG_BOUT };
int  gw_admin_init(struct sio_gateway *gw, char *err, size_t errlen);
void gw_admin_clear(struct sio_gateway *gw);
void gw_admin_thread_clear(struct gw_thread *t);
bool gw_admin_nsp(const struct sio_gateway *gw, const char *nsp, size_t len);
/* A CONNECT to the admin namespace (k is new, not connected): accepted or
 * refused here; may free k. */
void gw_admin_connect(struct gw_sock *k, const char *auth, size_t len);
/* An event of an admin socket (an action of the UI). */
void gw_admin_on_event(struct gw_sock *k, const char *data, size_t len);
/* SIO_ENV_ADMIN from the bus. */
void gw_admin_command(struct gw_thread *t, const struct sio_env *env);
void gw_admin_tick(struct gw_thread *t);        /* every second */
/* Changes reported while t->admin_watch (callers test it: the cost when off) */
void gw_admin_sock_connected(struct gw_sock *k);
void gw_admin_sock_disconnected(struct gw_sock *k, const char *reason);
void gw_admin_upgraded(struct gw_session *s);
void gw_admin_room(struct gw_sock *k, const char *room, size_t len, bool joined);
void gw_admin_event(struct gw_sock *k, const char *data, size_t len, bool sent);

/* metrics.c */
void gw_metrics_init(struct sio_gateway *gw);
void gw_metrics_clear(struct sio_gateway *gw);
void gw_metrics_nsp(struct gw_thread *t, const struct gw_nsp *n, int delta);
void gw_metrics_disconnect(struct gw_thread *t, const char *reason);
void gw_metrics_rtt(struct gw_thread *t, uint64_t start_us);
uint64_t gw_now_us(void);

/* room.c */
struct gw_room *gw_room_get(struct gw_nsp *n, const char *name, size_t len, bool create);
int  gw_room_join(struct gw_sock *s, const char *name, size_t len);
void gw_room_leave(struct gw_sock *s, const char *name, size_t len);
void gw_room_leave_all(struct gw_sock *s);
void gw_room_free(struct gw_room *r);

#endif

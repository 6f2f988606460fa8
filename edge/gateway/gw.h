/* gw.h: the gateway's internal types, shared by gateway.c (thread, listener,
 * HTTP routing, bus), session.c (Engine.IO sessions), socket.c (Socket.IO
 * sockets and hub commands), room.c (rooms) and map.c (string maps).
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
 * parses those bytes again on a new connection (gateway.c, handover()).
 * An HTTP/2 connection never changes threads (its other streams stay):
 * a request on it for another thread's sid goes to the owner alone, as
 * HTTP/1.1 bytes, and the reply's bytes come back (gateway.c, xforward()).
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
#include "buf.h"
#include "bus.h"
#include "envelope.h"
#include "gateway.h"
#include "http/http1.h"
#include "http/h2.h"
#include "http/cors.h"
#include "http/static.h"
#include "http/upstream.h"
#include "http/tls.h"
#include "ws/ws.h"
#include "map.h"

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

/* ---- a token bucket (limits.c) ---- */
struct gw_bucket {
    double tokens;
    uint64_t last;          /* ms, monotonic; 0 = new (full) */
};

/* ---- Engine.IO session (session.c) ---- */
struct gw_session {
    char sid[GW_SID_LEN + 1];
    struct gw_thread *t;
    bool raw;               /* engineio_path service: no Socket.IO layer */
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
    struct event *conn_ev;  /* connect timeout (Socket.IO sessions) */
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
    char remote[64];
    /* Socket.IO */
    struct gw_sock *socks;      /* list through next_in_sess */
    struct {                    /* a BINARY_* packet collecting attachments */
        bool active;
        struct sio_buf text;    /* the packet text */
        unsigned want;
        struct sio_buf bins;    /* concatenated attachment bytes */
        size_t offs[64 + 1];
        size_t *offv;           /* offsets when want > 64 */
        unsigned have;
    } bin;
    struct gw_session *next_dead;
};

/* ---- one TCP connection (gateway.c) ---- */
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
    /* HTTP/2 (gateway.c): a connection that speaks it has h2 and no http;
     * each of its request streams gets a gw_conn of its own (stream set;
     * in t->conns, before its connection's, not in the counts), whose
     * http is the stream's exchange, then maybe its ws (RFC 8441) */
    struct sio_h2_conn *h2;
    bool stream;
    uint64_t xid;               /* an HTTP/2 request served by thread xowner
                                 * (gateway.c "forwarded requests"); 0: none */
    unsigned xowner;
};

/* ---- Socket.IO (socket.c, room.c) ---- */
struct gw_room {
    char *name;
    size_t name_len;            /* names are bytes: may hold a NUL */
    struct sio_map members;      /* sid -> gw_sock */
};

struct gw_nsp {
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

struct gw_handoff;

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
    struct sio_buf scratch;
    struct sio_map sessions;     /* engine sid -> gw_session */
    struct sio_map nsps;         /* name -> gw_nsp */
    struct gw_conn *conns;
    struct gw_session *dead;    /* closed sessions, freed by reap_ev */
    struct gw_pkt *pkt_free;
    size_t npkt_free;
    struct sio_ws_framer *framer;
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
    /* HTTP/2 requests for another thread's session (gateway.c) */
    struct sio_map xwait;       /* xid -> gw_conn: ours, waiting for the reply */
    struct sio_map xserve;      /* (from thread, xid) -> gw_xserve: others', served here */
    uint64_t xnext;
    /* sio_gateway_drain() */
    struct event *drain_ev;
    bool drain_started;         /* this thread only */
    _Atomic int drain_left;     /* sessions still open; -1 until the first check */
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
    bool ips_on;                    /* a per-address limit is set: ips is used */
    pthread_mutex_t ip_lock;
    struct sio_map ips;             /* address -> struct gw_ip */
};

/* gateway.c */
void gw_bus_send(struct gw_thread *t, const struct sio_env *env);
/* A fresh sid (engine or socket) of thread owner. */
void gw_make_sid(char out[GW_SID_LEN + 1], unsigned owner);
/* The thread that made sid, or -1 (not one of ours: wrong length or owner
 * out of range). */
int  gw_sid_owner(const char *sid, size_t len, unsigned nth);

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
struct gw_session *gw_session_new(struct gw_thread *t, bool raw, const struct sio_http_req *req,
                                  const char *remote);
void gw_session_send(struct gw_session *s, struct gw_pkt *p);   /* takes no ref */
/* The client can take a packet at once (a volatile emit is skipped when
 * not): its WebSocket is not backed up, or its long-poll is pending. */
bool gw_session_writable(const struct gw_session *s);
void gw_session_send_text(struct gw_session *s, int type, const char *data, size_t len);
void gw_session_close(struct gw_session *s, const char *reason);
void gw_session_on_packet(struct gw_session *s, int type, bool binary, const uint8_t *data, size_t len);
void gw_session_start(struct gw_session *s);
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

/* socket.c */
/* true when every socket of s has room in its in-flight window */
bool gw_sio_window_open(const struct gw_session *s);
/* Give up waiting for the confirmations of s's events in flight. */
void gw_sio_window_forget(struct gw_session *s);
void gw_sio_on_message(struct gw_session *s, bool binary, const uint8_t *data, size_t len);
void gw_sio_session_closed(struct gw_session *s, const char *reason);
void gw_sio_command(struct gw_thread *t, const struct sio_env *env);
void gw_nsps_clear(struct gw_thread *t);
/* Disconnect the sockets held past cfg.hold_timeout_ms (every second). */
void gw_sio_hold_check(struct gw_thread *t);

/* room.c */
struct gw_room *gw_room_get(struct gw_nsp *n, const char *name, size_t len, bool create);
int  gw_room_join(struct gw_sock *s, const char *name, size_t len);
void gw_room_leave(struct gw_sock *s, const char *name, size_t len);
void gw_room_leave_all(struct gw_sock *s);
void gw_room_free(struct gw_room *r);

#endif

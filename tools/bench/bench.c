/* bench.c: `sio bench`, a Socket.IO v5 load generator over WebSocket.
 *
 *   sio bench connect|echo|broadcast [--host H] [--port P] [--clients N] ...
 *
 * The parent forks --procs children and splits the connections between
 * them. Each child runs its share on its own libevent loop over raw
 * non-blocking sockets (with --tls, OpenSSL on them: SSL_read until it
 * wants more, SSL_write per chunk): one read of up to 64 KiB per wake-up, everything it
 * triggers queued in the connection's evbuffer and written once with
 * writev (evbuffer_write) at the end of the wake-up. WebSocket framing is
 * wslay's frame layer in client mode (masked); only the first bytes of each
 * message are kept (enough for the Engine.IO / Socket.IO header, an ack id
 * or a timestamp), the rest is counted, not copied.
 *
 * Children publish their counters and latency histograms (hist.h) in one
 * shared anonymous mapping. The parent prints the live line on stderr,
 * starts the measurement once every child has connected, reads the
 * server's CPU time and RSS from /proc/PID, and prints one JSON line on
 * stdout. Every phase has a deadline; the run always ends by itself.
 *
 * Owns: the children (killed by pid if they overrun), their sockets.
 */
#include "tools/bench/bench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/ssl.h>
#include <wslay/wslay.h>

#include "tools/bench/hist.h"

enum scenario { SC_CONNECT, SC_ECHO, SC_BROADCAST };
static const char *const scenario_names[] = { "connect", "echo", "broadcast" };

struct opts {
    enum scenario sc;
    const char *host;
    unsigned port;
    const char *path;
    unsigned clients, inflight, size, procs, concurrency;
    double seconds, connect_timeout;
    int server_pids[8];         /* --server-pid, repeatable: figures are summed */
    unsigned nservers;
    bool spread_src;
    bool polling;               /* --transport polling */
    bool noack;                 /* --no-ack: echo with plain emits, answered by an event */
    bool tls;                   /* --tls: wss:// (no certificate check) */
    unsigned ports[8];          /* --ports: connection i goes to ports[i % nports] */
    unsigned nports;
};

/* ---- shared between the parent and the children ---- */

struct child_stats {
    _Atomic uint64_t connected, failed, msgs, errors;
    _Atomic int ready;          /* every connection attempt has ended */
    _Atomic int finished;
    uint64_t cpu_us;            /* own CPU during the measurement */
    uint64_t mismatched;        /* acks whose length was not the echo's */
    struct sio_hist hist;
};

struct shared {
    _Atomic int64_t go_ns;      /* measurement start (CLOCK_MONOTONIC), 0 = not yet */
    _Atomic int64_t end_ns;
    struct child_stats c[];
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- a child: connections on one loop ---- */

enum conn_state { ST_IDLE, ST_CONNECTING, ST_HTTP, ST_EIO_OPEN, ST_NSP, ST_READY, ST_DEAD };

#define HEAD_MAX 256

struct child;

struct conn {
    struct child *ch;
    int fd;
    unsigned idx;               /* index in this child */
    uint8_t state;
    bool want_write;
    bool in_msg;
    uint8_t opcode;             /* of the message being read */
    struct event *rev, *wev;
    struct evbuffer *out;
    wslay_frame_context_ptr fr;
    const uint8_t *in;          /* bytes for the frame layer's recv callback */
    size_t inlen;
    uint64_t frame_off;         /* payload bytes of the current frame so far */
    uint64_t msglen;
    size_t headlen;
    uint8_t head[HEAD_MAX];     /* HTTP response, then each message's first bytes */
    int64_t *tsend;             /* echo: send time per in-flight slot */
    uint64_t sent, got;         /* echo --no-ack: emits sent, echoes received (FIFO) */
    unsigned inflight;          /* broadcast sender: bcasts not yet back */
    struct hsock *hs;           /* polling: [0] long-poll GETs, [1] POSTs */
    SSL *ssl;                   /* --tls */
    bool tls_hs;                /* the TLS handshake is under way */
    struct evbuffer *pq;        /* polling: packets for the next POST */
    char sid[64];
};

/* polling: one HTTP/1.1 keep-alive connection, one request at a time */
struct hsock {
    struct conn *c;
    int fd;
    bool post, connected, busy, want_write;
    long body_len;              /* -1: reading the response head */
    struct event *rev, *wev;
    struct evbuffer *in, *out;
};

struct child {
    const struct opts *o;
    struct child_stats *st;
    struct shared *sh;
    unsigned id, first, count;  /* global index of the first connection, how many */
    struct event_base *base;
    struct event *tick;
    struct conn *conns;
    unsigned launched, pending, done;
    int64_t connect_deadline, start_ns, end_ns, now;
    bool started, stopping;
    uint64_t rng;
    struct sockaddr_in addr;
    char request[512];
    size_t request_len;
    SSL_CTX *tls;               /* --tls */
    uint8_t *payload;           /* echo: the JSON after "42<id>": ["echo","xxx"] */
    size_t payload_len;
    uint8_t rbuf[65536];
};

static void conn_fail(struct conn *c);
static void flush_conn(struct conn *c);
static void post_kick(struct conn *c);
static void hs_flush(struct hsock *h);
static void hs_close(struct hsock *h);
static int hs_connect(struct hsock *h);

static void count_error(struct child *ch)
{
    atomic_fetch_add_explicit(&ch->st->errors, 1, memory_order_relaxed);
}

static ssize_t fr_send(const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)flags;
    struct conn *c = ud;
    if (evbuffer_add(c->out, data, len) < 0)
        return -1;
    return (ssize_t)len;
}

static ssize_t fr_recv(uint8_t *buf, size_t len, int flags, void *ud)
{
    (void)flags;
    struct conn *c = ud;
    if (!c->inlen)
        return -1;      /* the frame layer reports WSLAY_ERR_WANT_READ */
    size_t n = len < c->inlen ? len : c->inlen;
    memcpy(buf, c->in, n);
    c->in += n;
    c->inlen -= n;
    return (ssize_t)n;
}

static int fr_genmask(uint8_t *buf, size_t len, void *ud)
{
    struct conn *c = ud;
    uint64_t x = c->ch->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->ch->rng = x;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(x >> (8 * (i % 8)));
    return 0;
}

/* Queue one text frame made of a then b. */
static int send_text2(struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    struct wslay_frame_iocb io = {
        .fin = 1, .opcode = WSLAY_TEXT_FRAME, .mask = 1,
        .payload_length = alen + blen, .data = a, .data_length = alen,
    };
    size_t sent = 0;
    while (sent < alen) {
        ssize_t r = wslay_frame_send(c->fr, &io);
        if (r < 0)
            return -1;
        sent += (size_t)r;
        io.data = (const uint8_t *)a + sent;
        io.data_length = alen - sent;
    }
    sent = 0;
    while (sent < blen) {
        io.data = (const uint8_t *)b + sent;
        io.data_length = blen - sent;
        ssize_t r = wslay_frame_send(c->fr, &io);
        if (r < 0)
            return -1;
        sent += (size_t)r;
    }
    return 0;
}

/* One Engine.IO text packet: a WebSocket frame, or the next POST's payload. */
static int send_pkt(struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    if (!c->ch->o->polling)
        return send_text2(c, a, alen, b, blen);
    if ((evbuffer_get_length(c->pq) && evbuffer_add(c->pq, "\x1e", 1) < 0) ||
        evbuffer_add(c->pq, a, alen) < 0 || (blen && evbuffer_add(c->pq, b, blen) < 0))
        return -1;
    return 0;
}

static int send_text(struct conn *c, const char *s)
{
    return send_pkt(c, s, strlen(s), NULL, 0);
}

/* An emit of "echo" with ack id `id` in slot; with --no-ack a plain emit,
 * in the next slot of the connection's FIFO. */
static void send_echo(struct conn *c, unsigned slot, uint64_t id)
{
    char hdr[32];
    int n;
    if (c->ch->o->noack) {
        slot = (unsigned)(c->sent++ % c->ch->o->inflight);
        n = snprintf(hdr, sizeof hdr, "42");
    } else {
        n = snprintf(hdr, sizeof hdr, "42%" PRIu64, id);
    }
    c->tsend[slot] = c->ch->now;
    if (send_pkt(c, hdr, (size_t)n, c->ch->payload, c->ch->payload_len) < 0)
        conn_fail(c);
}

static void send_bcast(struct conn *c)
{
    char msg[64];
    snprintf(msg, sizeof msg, "42[\"bcast\",{\"t\":%" PRId64 "}]", now_ns());
    c->inflight++;
    if (send_text(c, msg) < 0)
        conn_fail(c);
}

static void launch_more(struct child *ch);

/* A connection attempt has ended (ready or failed). */
static void attempt_done(struct child *ch)
{
    ch->pending--;
    ch->done++;
    if (ch->done == ch->count)
        atomic_store(&ch->st->ready, 1);
    else
        launch_more(ch);
}

static void conn_fail(struct conn *c)
{
    struct child *ch = c->ch;
    if (c->state == ST_DEAD)
        return;
    bool attempting = c->state != ST_READY && c->state != ST_IDLE;
    c->state = ST_DEAD;
    if (c->rev)
        event_del(c->rev);
    if (c->wev)
        event_del(c->wev);
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    for (int i = 0; c->hs && i < 2; i++) {
        struct hsock *h = &c->hs[i];
        if (h->rev)
            event_del(h->rev);
        if (h->wev)
            event_del(h->wev);
        if (h->fd >= 0)
            close(h->fd);
        h->fd = -1;
    }
    if (ch->stopping)
        return;
    if (attempting) {
        atomic_fetch_add_explicit(&ch->st->failed, 1, memory_order_relaxed);
        attempt_done(ch);
    } else {
        atomic_fetch_add_explicit(&ch->st->connected, (uint64_t)-1, memory_order_relaxed);
        count_error(ch);
    }
}

static bool is_sender(const struct conn *c)
{
    return c->ch->o->sc == SC_BROADCAST && c->ch->first + c->idx == 0;
}

/* broadcast over --ports: the last client (on another server than the
 * sender) paces the sender, so the window bounds what the remote servers
 * have not delivered yet */
static bool is_pacer(const struct conn *c)
{
    return c->ch->o->nports > 1 && c->ch->first + c->idx == c->ch->o->clients - 1;
}

static void on_ready(struct conn *c)
{
    struct child *ch = c->ch;
    c->state = ST_READY;
    atomic_fetch_add_explicit(&ch->st->connected, 1, memory_order_relaxed);
    attempt_done(ch);
}

static void on_ack(struct conn *c)
{
    struct child *ch = c->ch;
    const char *p = (const char *)c->head + 2, *e = (const char *)c->head + c->headlen;
    uint64_t id = 0;
    size_t digits = 0;
    while (p < e && *p >= '0' && *p <= '9') {
        id = id * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    unsigned w = ch->o->inflight;
    if (!digits || !c->tsend) {
        count_error(ch);
        return;
    }
    unsigned slot = (unsigned)(id % w);
    /* ack text = "43<id>" + the emit's arguments without "echo", */
    if (c->msglen != 2 + digits + ch->payload_len - 7)
        ch->st->mismatched++;
    if (ch->started && c->tsend[slot] >= ch->start_ns && ch->now <= ch->end_ns) {
        atomic_fetch_add_explicit(&ch->st->msgs, 1, memory_order_relaxed);
        sio_hist_add(&ch->st->hist, (uint64_t)(ch->now - c->tsend[slot]));
    }
    if (ch->started && !ch->stopping && ch->now < ch->end_ns)
        send_echo(c, slot, id + w);
}

/* --no-ack: the server emitted "echo" back; a socket's events come back
 * in the order they were sent. */
static void on_echo_event(struct conn *c)
{
    struct child *ch = c->ch;
    if (!c->tsend || c->got == c->sent) {
        count_error(ch);
        return;
    }
    unsigned slot = (unsigned)(c->got++ % ch->o->inflight);
    if (c->msglen != 2 + ch->payload_len)
        ch->st->mismatched++;
    if (ch->started && c->tsend[slot] >= ch->start_ns && ch->now <= ch->end_ns) {
        atomic_fetch_add_explicit(&ch->st->msgs, 1, memory_order_relaxed);
        sio_hist_add(&ch->st->hist, (uint64_t)(ch->now - c->tsend[slot]));
    }
    if (ch->started && !ch->stopping && ch->now < ch->end_ns)
        send_echo(c, 0, 0);
}

static void on_bcast(struct conn *c)
{
    struct child *ch = c->ch;
    const char *h = (const char *)c->head;
    const char *t = memmem(h, c->headlen, "\"t\":", 4);
    if (!t) {
        count_error(ch);
        return;
    }
    int64_t ts = strtoll(t + 4, NULL, 10);
    if (ch->started && ts >= ch->start_ns && ch->now <= ch->end_ns) {
        atomic_fetch_add_explicit(&ch->st->msgs, 1, memory_order_relaxed);
        int64_t lat = ch->now - ts;     /* CLOCK_MONOTONIC is system-wide */
        sio_hist_add(&ch->st->hist, lat > 0 ? (uint64_t)lat : 0);
    }
    struct conn *s = ch->o->nports > 1 ? (is_pacer(c) ? &ch->conns[0] : NULL)
                                        : (is_sender(c) ? c : NULL);
    if (s && s->inflight) {
        s->inflight--;
        if (ch->started && !ch->stopping && ch->now < ch->end_ns) {
            send_bcast(s);
            if (s != c && s->state != ST_DEAD)
                flush_conn(s);
        }
    }
}

/* One whole message: c->head holds its first bytes, c->msglen its length. */
static void on_message(struct conn *c)
{
    struct child *ch = c->ch;
    const uint8_t *h = c->head;
    size_t n = c->headlen;
    if (c->opcode == WSLAY_CONNECTION_CLOSE) {
        conn_fail(c);
        return;
    }
    if (c->opcode == WSLAY_PING) {
        struct wslay_frame_iocb io = { .fin = 1, .opcode = WSLAY_PONG, .mask = 1,
                                       .payload_length = n, .data = h, .data_length = n };
        if (wslay_frame_send(c->fr, &io) < 0)
            conn_fail(c);
        return;
    }
    if (c->opcode != WSLAY_TEXT_FRAME || n == 0) {
        if (c->opcode != WSLAY_PONG)
            count_error(ch);
        return;
    }
    switch (h[0]) {
    case '0':                                   /* Engine.IO open */
        if (c->state == ST_EIO_OPEN) {
            c->state = ST_NSP;
            if (send_text(c, "40") < 0)
                conn_fail(c);
        }
        return;
    case '2':                                   /* ping */
        if (send_text(c, "3") < 0)
            conn_fail(c);
        return;
    case '1':
        conn_fail(c);
        return;
    case '6':
        return;
    case '4':
        break;
    default:
        count_error(ch);
        return;
    }
    if (n < 2) {
        count_error(ch);
        return;
    }
    switch (h[1]) {
    case '0':
        if (c->state == ST_NSP)
            on_ready(c);
        return;
    case '4':                                   /* CONNECT_ERROR */
        conn_fail(c);
        return;
    case '3':
        on_ack(c);
        return;
    case '2':
        if (n >= 9 && memcmp(h + 2, "[\"bcast\"", 8) == 0)
            on_bcast(c);
        else if (ch->o->noack && n >= 9 && memcmp(h + 2, "[\"echo\"", 7) == 0)
            on_echo_event(c);
        return;                                 /* "auth" and others */
    default:
        return;
    }
}

/* Run the frame layer over c->in / c->inlen. */
static void feed(struct conn *c)
{
    while (c->state != ST_DEAD) {
        struct wslay_frame_iocb io;
        memset(&io, 0, sizeof io);
        ssize_t r = wslay_frame_recv(c->fr, &io);
        if (r == WSLAY_ERR_WANT_READ)
            return;
        if (r < 0) {
            count_error(c->ch);
            conn_fail(c);
            return;
        }
        if (!c->in_msg) {
            c->in_msg = true;
            c->opcode = io.opcode;
            c->msglen = 0;
            c->headlen = 0;
        }
        size_t take = io.data_length;
        if (c->headlen < HEAD_MAX) {
            size_t room = HEAD_MAX - c->headlen;
            size_t k = take < room ? take : room;
            memcpy(c->head + c->headlen, io.data, k);
            c->headlen += k;
        }
        c->msglen += take;
        c->frame_off += take;
        if (c->frame_off >= io.payload_length) {
            c->frame_off = 0;
            if (io.fin) {
                c->in_msg = false;
                on_message(c);
            }
        }
    }
}

static void on_http(struct conn *c)
{
    /* c->in holds fresh bytes; collect the response head */
    while (c->inlen && c->headlen < HEAD_MAX) {
        c->head[c->headlen++] = *c->in++;
        c->inlen--;
        if (c->headlen >= 4 && memcmp(c->head + c->headlen - 4, "\r\n\r\n", 4) == 0) {
            if (c->headlen < 12 || memcmp(c->head + 9, "101", 3) != 0) {
                conn_fail(c);
                return;
            }
            c->headlen = 0;
            c->state = ST_EIO_OPEN;
            feed(c);
            return;
        }
    }
    if (c->headlen >= HEAD_MAX)
        conn_fail(c);
}

static void tls_step(struct conn *c);

/* Bytes read (plain or decrypted) through the HTTP head or the frames. */
static void on_bytes(struct conn *c, size_t r)
{
    struct child *ch = c->ch;
    ch->now = now_ns();
    c->in = ch->rbuf;
    c->inlen = r;
    if (c->state == ST_HTTP)
        on_http(c);
    else
        feed(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    struct child *ch = c->ch;
    if (c->tls_hs) {
        tls_step(c);
        return;
    }
    if (c->ssl) {
        /* everything OpenSSL has, not just one record: it may hold more
         * than the socket says */
        while (c->state != ST_DEAD) {
            int r = SSL_read(c->ssl, ch->rbuf, (int)sizeof ch->rbuf);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    break;
                conn_fail(c);
                return;
            }
            on_bytes(c, (size_t)r);
        }
        if (c->state != ST_DEAD)
            flush_conn(c);
        return;
    }
    ssize_t r = read(fd, ch->rbuf, sizeof ch->rbuf);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_fail(c);
        return;
    }
    on_bytes(c, (size_t)r);
    if (c->state != ST_DEAD)
        flush_conn(c);
}

/* --tls: drive the client handshake; once done, the queued request goes. */
static void tls_step(struct conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->tls_hs = false;
        flush_conn(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        if (c->want_write)
            event_del(c->wev);
        c->want_write = false;
    } else if (e == SSL_ERROR_WANT_WRITE) {
        if (!c->want_write)
            event_add(c->wev, NULL);
        c->want_write = true;
    } else {
        conn_fail(c);
    }
}

static void flush_conn(struct conn *c)
{
    if (c->hs) {
        post_kick(c);
        hs_flush(&c->hs[0]);
        if (c->state != ST_DEAD)
            hs_flush(&c->hs[1]);
        return;
    }
    if (c->tls_hs)
        return;
    while (evbuffer_get_length(c->out)) {
        int n;
        if (c->ssl) {
            struct evbuffer_iovec v;
            if (evbuffer_peek(c->out, -1, NULL, &v, 1) < 1)
                break;
            n = SSL_write(c->ssl, v.iov_base, (int)(v.iov_len > INT32_MAX ? INT32_MAX : v.iov_len));
            if (n <= 0) {
                int e = SSL_get_error(c->ssl, n);
                if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
                    break;
                conn_fail(c);
                return;
            }
            evbuffer_drain(c->out, (size_t)n);
            continue;
        }
        n = evbuffer_write(c->out, c->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            conn_fail(c);
            return;
        }
        if (n == 0)
            break;
    }
    bool more = evbuffer_get_length(c->out) > 0;
    if (more && !c->want_write)
        event_add(c->wev, NULL);
    else if (!more && c->want_write)
        event_del(c->wev);
    c->want_write = more;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            conn_fail(c);
            return;
        }
        event_del(c->wev);
        c->want_write = false;
        c->state = ST_HTTP;
        c->headlen = 0;
        evbuffer_add(c->out, c->ch->request, c->ch->request_len);
        event_add(c->rev, NULL);
        if (c->ch->tls) {
            c->ssl = SSL_new(c->ch->tls);
            if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
                conn_fail(c);
                return;
            }
            SSL_set_tlsext_host_name(c->ssl, c->ch->o->host);
            SSL_set_connect_state(c->ssl);
            c->tls_hs = true;
            tls_step(c);
            return;
        }
    } else if (c->tls_hs) {
        tls_step(c);
        return;
    }
    flush_conn(c);
}

/* A non-blocking TCP socket, connecting; -1 on failure. slot: the index of
 * this socket among the child's (for the source address). */
static int make_socket(struct child *ch, unsigned slot)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (ch->o->spread_src) {
        /* past ~28k connections one source address runs out of ports */
        struct sockaddr_in src = { .sin_family = AF_INET };
        unsigned g = (ch->first + slot / (ch->o->polling ? 2u : 1u)) * (ch->o->polling ? 2u : 1u) +
                     slot % (ch->o->polling ? 2u : 1u);
        src.sin_addr.s_addr = htonl(0x7f000000u | (2u + g / 20000u));
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in to = ch->addr;
    if (ch->o->nports)
        to.sin_port = htons((uint16_t)ch->o->ports[(ch->first + slot) % ch->o->nports]);
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- polling transport: a GET connection and a POST connection ---- */

static void hs_flush(struct hsock *h)
{
    if (h->fd < 0 || !h->connected)
        return;
    while (evbuffer_get_length(h->out)) {
        int n = evbuffer_write(h->out, h->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            conn_fail(h->c);
            return;
        }
        if (n == 0)
            break;
    }
    bool more = evbuffer_get_length(h->out) > 0;
    if (more && !h->want_write)
        event_add(h->wev, NULL);
    else if (!more && h->want_write)
        event_del(h->wev);
    h->want_write = more;
}

/* A GET: the handshake (no sid yet) or the next long poll. */
static void hs_get(struct hsock *h)
{
    struct conn *c = h->c;
    const struct opts *o = c->ch->o;
    h->busy = true;
    evbuffer_add_printf(h->out, "GET %s?EIO=4&transport=polling%s%s HTTP/1.1\r\nHost: %s:%u\r\n\r\n",
                        o->path, c->sid[0] ? "&sid=" : "", c->sid, o->host, o->port);
}

/* Send the queued packets in one POST when none is outstanding. */
static void post_kick(struct conn *c)
{
    struct hsock *h = &c->hs[1];
    size_t len = evbuffer_get_length(c->pq);
    if (!len || h->busy || !c->sid[0] || c->state == ST_DEAD)
        return;
    if (h->fd < 0 && hs_connect(h) < 0) {       /* the server closed it while idle */
        conn_fail(c);
        return;
    }
    if (!h->connected)
        return;
    h->busy = true;
    evbuffer_add_printf(h->out, "POST %s?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: %s:%u\r\n"
                        "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n\r\n",
                        c->ch->o->path, c->sid, c->ch->o->host, c->ch->o->port, len);
    evbuffer_add_buffer(h->out, c->pq);
}

/* A GET response's payload: packets separated by 0x1e. */
static void on_payload(struct conn *c, const uint8_t *p, size_t len)
{
    if (c->state == ST_EIO_OPEN) {          /* the handshake: 0{"sid":"..",...} */
        const uint8_t *k = memmem(p, len, "\"sid\":\"", 7);
        size_t n = 0;
        if (k && len && p[0] == '0') {
            k += 7;
            while (k + n < p + len && k[n] != '"' && n < sizeof c->sid - 1)
                n++;
        }
        if (!n) {
            conn_fail(c);
            return;
        }
        memcpy(c->sid, k, n);
        c->sid[n] = 0;
        c->state = ST_NSP;
        send_text(c, "40");
        return;
    }
    while (len && c->state != ST_DEAD) {
        const uint8_t *e = memchr(p, 0x1e, len);
        size_t n = e ? (size_t)(e - p) : len;
        c->opcode = WSLAY_TEXT_FRAME;
        c->msglen = n;
        c->headlen = n < HEAD_MAX ? n : HEAD_MAX;
        memcpy(c->head, p, c->headlen);
        on_message(c);
        if (!e)
            break;
        p += n + 1;
        len -= n + 1;
    }
}

/* Parse the responses in h->in. */
static void hs_responses(struct hsock *h)
{
    struct conn *c = h->c;
    for (;;) {
        if (h->body_len < 0) {
            struct evbuffer_ptr end = evbuffer_search(h->in, "\r\n\r\n", 4, NULL);
            if (end.pos < 0) {
                if (evbuffer_get_length(h->in) > 8192)
                    conn_fail(c);
                return;
            }
            size_t hl = (size_t)end.pos + 4;
            char *head = (char *)evbuffer_pullup(h->in, (ssize_t)hl);
            if (hl < 12 || memcmp(head + 9, "200", 3) != 0) {
                conn_fail(c);
                return;
            }
            const char *cl = NULL;
            for (size_t i = 0; i + 15 < hl; i++)
                if ((head[i] == '\n') && strncasecmp(head + i + 1, "content-length:", 15) == 0) {
                    cl = head + i + 16;
                    break;
                }
            if (!cl) {
                conn_fail(c);
                return;
            }
            h->body_len = strtol(cl, NULL, 10);
            evbuffer_drain(h->in, hl);
        }
        if (evbuffer_get_length(h->in) < (size_t)h->body_len)
            return;
        uint8_t *body = evbuffer_pullup(h->in, h->body_len);
        size_t len = (size_t)h->body_len;
        h->busy = false;
        if (!h->post) {
            on_payload(c, body, len);
            if (c->state != ST_DEAD && !c->ch->stopping)
                hs_get(h);      /* the next long poll */
        } else if (len != 2 || strncasecmp((const char *)body, "ok", 2) != 0) {
            /* "ok" (sio, JS) or "OK" (python-engineio) */
            count_error(c->ch);
        }
        if (c->state == ST_DEAD)
            return;
        evbuffer_drain(h->in, len);
        h->body_len = -1;
    }
}

static void hs_on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct hsock *h = arg;
    struct conn *c = h->c;
    int r = evbuffer_read(h->in, fd, 65536);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r == 0 && !h->busy && !evbuffer_get_length(h->in)) {
            /* an idle keep-alive connection closed by the server: open
             * another one when there is something to send */
            hs_close(h);
            return;
        }
        conn_fail(c);
        return;
    }
    c->ch->now = now_ns();
    hs_responses(h);
    if (c->state != ST_DEAD)
        flush_conn(c);
}

static void hs_on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct hsock *h = arg;
    struct conn *c = h->c;
    if (!h->connected) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            conn_fail(c);
            return;
        }
        h->connected = true;
        event_del(h->wev);
        h->want_write = false;
        event_add(h->rev, NULL);
        if (!h->post) {
            c->state = ST_EIO_OPEN;
            hs_get(h);          /* the handshake */
        }
    }
    flush_conn(c);
}

/* Open h's TCP connection; 0 or -1. */
static int hs_connect(struct hsock *h)
{
    struct conn *c = h->c;
    struct child *ch = c->ch;
    h->body_len = -1;
    h->connected = h->busy = false;
    h->fd = make_socket(ch, c->idx * 2 + (h->post ? 1u : 0u));
    if (h->fd < 0)
        return -1;
    h->rev = event_new(ch->base, h->fd, EV_READ | EV_PERSIST, hs_on_read, h);
    h->wev = event_new(ch->base, h->fd, EV_WRITE | EV_PERSIST, hs_on_write, h);
    if (!h->rev || !h->wev)
        return -1;
    event_add(h->wev, NULL);
    h->want_write = true;
    return 0;
}

static void hs_close(struct hsock *h)
{
    if (h->rev)
        event_free(h->rev);
    if (h->wev)
        event_free(h->wev);
    h->rev = h->wev = NULL;
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    h->connected = h->busy = h->want_write = false;
    evbuffer_drain(h->out, evbuffer_get_length(h->out));
}

static void open_polling(struct child *ch, struct conn *c)
{
    (void)ch;
    c->state = ST_CONNECTING;
    for (int i = 0; i < 2; i++) {
        struct hsock *h = &c->hs[i];
        h->c = c;
        h->post = i == 1;
        if (hs_connect(h) < 0) {
            conn_fail(c);
            return;
        }
    }
}

static void open_conn(struct child *ch, struct conn *c)
{
    if (ch->o->polling) {
        open_polling(ch, c);
        return;
    }
    c->state = ST_CONNECTING;
    c->fd = make_socket(ch, c->idx);
    if (c->fd < 0) {
        conn_fail(c);
        return;
    }
    c->rev = event_new(ch->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(ch->base, c->fd, EV_WRITE | EV_PERSIST, on_write, c);
    if (!c->rev || !c->wev) {
        conn_fail(c);
        return;
    }
    event_add(c->wev, NULL);
    c->want_write = true;
}

static void launch_more(struct child *ch)
{
    unsigned conc = ch->o->concurrency / ch->o->procs;
    if (conc < 1)
        conc = 1;
    while (ch->pending < conc && ch->launched < ch->count && !ch->stopping) {
        struct conn *c = &ch->conns[ch->launched++];
        ch->pending++;
        open_conn(ch, c);
    }
}

static void start_measure(struct child *ch)
{
    ch->started = true;
    ch->now = now_ns();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    ch->st->cpu_us = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                     (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
    for (unsigned i = 0; i < ch->count; i++) {
        struct conn *c = &ch->conns[i];
        if (c->state != ST_READY)
            continue;
        if (ch->o->sc == SC_ECHO) {
            for (unsigned s = 0; s < ch->o->inflight; s++)
                send_echo(c, s, s);
        } else if (is_sender(c)) {
            for (unsigned s = 0; s < ch->o->inflight; s++)
                send_bcast(c);
        } else {
            continue;
        }
        if (c->state != ST_DEAD)
            flush_conn(c);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct child *ch = arg;
    int64_t t = now_ns();
    if (!atomic_load(&ch->st->ready) && t > ch->connect_deadline) {
        /* give up on the attempts still running */
        for (unsigned i = 0; i < ch->count; i++) {
            struct conn *c = &ch->conns[i];
            if (c->state != ST_READY && c->state != ST_DEAD && c->state != ST_IDLE)
                conn_fail(c);
        }
        while (ch->launched < ch->count) {      /* never started: failed too */
            ch->launched++;
            ch->done++;
            atomic_fetch_add_explicit(&ch->st->failed, 1, memory_order_relaxed);
        }
        atomic_store(&ch->st->ready, 1);
    }
    int64_t go = atomic_load(&ch->sh->go_ns);
    if (!ch->started && go && t >= go) {
        ch->start_ns = go;
        ch->end_ns = atomic_load(&ch->sh->end_ns);
        start_measure(ch);
    }
    if (ch->started && t >= ch->end_ns) {
        ch->stopping = true;
        event_base_loopbreak(ch->base);
    }
}

static int run_child(const struct opts *o, struct shared *sh, unsigned id)
{
    struct child *ch = calloc(1, sizeof *ch);
    if (!ch)
        return 1;
    ch->o = o;
    ch->sh = sh;
    ch->id = id;
    ch->st = &sh->c[id];
    unsigned per = o->clients / o->procs, extra = o->clients % o->procs;
    ch->count = per + (id < extra);
    ch->first = id * per + (id < extra ? id : extra);
    ch->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 17) ^ (uint64_t)now_ns();

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ch->addr.sin_family = AF_INET;
    ch->addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &ch->addr.sin_addr) != 1) {
        fprintf(stderr, "sio bench: --host must be an IPv4 address\n");
        return 1;
    }
    int n = snprintf(ch->request, sizeof ch->request,
                     "GET %s?EIO=4&transport=websocket HTTP/1.1\r\n"
                     "Host: %s:%u\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: c2lvLWJlbmNoLWtleS0wMQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     o->path, o->host, o->port);
    ch->request_len = (size_t)n;
    if (o->sc == SC_ECHO) {
        ch->payload_len = o->size + 11;     /* ["echo","<size x>"] */
        ch->payload = malloc(ch->payload_len);
        if (!ch->payload)
            return 1;
        memcpy(ch->payload, "[\"echo\",\"", 9);
        memset(ch->payload + 9, 'x', o->size);
        memcpy(ch->payload + 9 + o->size, "\"]", 2);
    }
    if (o->tls) {
        /* a load generator: no certificate check, a session per connection */
        ch->tls = SSL_CTX_new(TLS_client_method());
        if (!ch->tls)
            return 1;
        SSL_CTX_set_min_proto_version(ch->tls, TLS1_2_VERSION);
        SSL_CTX_set_verify(ch->tls, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_mode(ch->tls, SSL_MODE_ENABLE_PARTIAL_WRITE);
        static const unsigned char alpn[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(ch->tls, alpn, sizeof alpn - 1);
    }
    ch->base = event_base_new();
    ch->conns = calloc(ch->count ? ch->count : 1, sizeof *ch->conns);
    if (!ch->base || !ch->conns)
        return 1;
    static const struct wslay_frame_callbacks cbs = { fr_send, fr_recv, fr_genmask };
    for (unsigned i = 0; i < ch->count; i++) {
        struct conn *c = &ch->conns[i];
        c->ch = ch;
        c->idx = i;
        c->fd = -1;
        c->out = evbuffer_new();
        if (!c->out || wslay_frame_context_init(&c->fr, &cbs, c) != 0)
            return 1;
        if (o->sc == SC_ECHO && !(c->tsend = calloc(o->inflight, sizeof *c->tsend)))
            return 1;
        if (o->polling) {
            c->hs = calloc(2, sizeof *c->hs);
            c->pq = evbuffer_new();
            if (!c->hs || !c->pq)
                return 1;
            for (int k = 0; k < 2; k++) {
                c->hs[k].fd = -1;
                c->hs[k].in = evbuffer_new();
                c->hs[k].out = evbuffer_new();
                if (!c->hs[k].in || !c->hs[k].out)
                    return 1;
            }
        }
    }
    ch->connect_deadline = now_ns() + (int64_t)(o->connect_timeout * 1e9);
    if (ch->count == 0)
        atomic_store(&ch->st->ready, 1);
    ch->tick = event_new(ch->base, -1, EV_PERSIST, on_tick, ch);
    struct timeval tv = { 0, 5000 };
    event_add(ch->tick, &tv);
    launch_more(ch);
    event_base_dispatch(ch->base);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t cpu = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
                   (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
    ch->st->cpu_us = ch->started ? cpu - ch->st->cpu_us : 0;
    atomic_store(&ch->st->finished, 1);
    /* the kernel closes the sockets; freeing 18k connections one by one
     * would only add to the run time */
    return 0;
}

/* ---- the parent ---- */

static bool proc_cpu(int pid, double *secs)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    unsigned long ut = 0, stt = 0;
    /* after ") ": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2)
        return false;
    *secs = (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
    return true;
}

static long proc_rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* CPU seconds and RSS of every --server-pid, summed; -1 when one is gone */
static void servers_cpu(const struct opts *o, double *secs)
{
    *secs = 0;
    for (unsigned i = 0; i < o->nservers; i++) {
        double v = 0;
        proc_cpu(o->server_pids[i], &v);
        *secs += v;
    }
}

static long servers_rss_kb(const struct opts *o)
{
    long sum = 0;
    for (unsigned i = 0; i < o->nservers; i++) {
        long kb = proc_rss_kb(o->server_pids[i]);
        if (kb < 0) {
            fprintf(stderr, "sio bench: no process %d\n", o->server_pids[i]);
            return -1;
        }
        sum += kb;
    }
    return o->nservers ? sum : -1;
}

struct totals {
    uint64_t connected, failed, msgs, errors;
    unsigned ready, finished;
};

static void sum(const struct opts *o, struct shared *sh, struct totals *t)
{
    memset(t, 0, sizeof *t);
    for (unsigned i = 0; i < o->procs; i++) {
        struct child_stats *c = &sh->c[i];
        t->connected += atomic_load(&c->connected);
        t->failed += atomic_load(&c->failed);
        t->msgs += atomic_load(&c->msgs);
        t->errors += atomic_load(&c->errors);
        t->ready += (unsigned)atomic_load(&c->ready);
        t->finished += (unsigned)atomic_load(&c->finished);
    }
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sio bench connect|echo|broadcast [options]\n"
        "\n"
        "A Socket.IO v5 load generator over WebSocket (Engine.IO v4). Prints a live\n"
        "line on stderr and one JSON result line on stdout; stops by itself.\n"
        "\n"
        "  connect     open --clients connections (at most --concurrency at once),\n"
        "              report connections/s, hold them idle --seconds\n"
        "  echo        --clients clients keep --inflight emits with ack of --size\n"
        "              bytes in flight; acked msgs/s and latency p50/p99/p99.9\n"
        "  broadcast   --clients receivers; one of them emits `bcast` (a timestamp)\n"
        "              with --inflight broadcasts in flight; deliveries/s, latency\n"
        "\n"
        "options:\n"
        "  --host ADDR            server IPv4 address (default 127.0.0.1)\n"
        "  --port PORT            (default 5000)\n"
        "  --path PATH            Socket.IO path (default /socket.io/)\n"
        "  --clients N            connections (default 100, at most 100000)\n"
        "  --inflight W           emits (echo) / broadcasts in flight (default 10)\n"
        "  --size S               echo payload bytes (default 64)\n"
        "  --no-ack               echo: plain emits, each answered by an `echo` event from\n"
        "                         the server (the default asks for an ack)\n"
        "  --seconds T            measurement or idle hold (default 10)\n"
        "  --procs P              split the connections over P processes (default:\n"
        "                         one per 15,000 connections)\n"
        "  --concurrency C        connection attempts at once (default 200)\n"
        "  --connect-timeout T    seconds for all connections (default 60)\n"
        "  --server-pid PID       report the server's CPU and RSS from /proc\n"
        "                         (repeatable: the processes' figures are summed)\n"
        "  --spread-src           bind sources over 127.0.0.2.. (automatic past 25,000)\n"
        "  --ports P1,P2,...      spread the clients over several servers (a fleet on one\n"
        "                         broker): client i connects to the i-th port, round robin;\n"
        "                         broadcast: the last client paces the sender's window\n"
        "  --transport T          websocket (default) or polling (HTTP long-polling:\n"
        "                         two connections per client, one POST in flight)\n"
        "  --tls                  wss:// (TLS 1.2+, ALPN http/1.1, no certificate check);\n"
        "                         websocket transport only\n");
}

static bool num_arg(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < min || v > max || isnan(v))
        return false;
    *out = v;
    return true;
}

int sio_cmd_bench(int argc, char **argv)
{
    struct opts o = {
        .host = "127.0.0.1", .port = 5000, .path = "/socket.io/", .clients = 100,
        .inflight = 10, .size = 64, .seconds = 10, .procs = 0, .concurrency = 200,
        .connect_timeout = 60,
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    bool found = false;
    for (int i = 0; i < 3; i++)
        if (strcmp(argv[1], scenario_names[i]) == 0) {
            o.sc = (enum scenario)i;
            found = true;
        }
    if (!found) {
        fprintf(stderr, "sio bench: unknown scenario '%s' (connect, echo or broadcast)\n", argv[1]);
        return 2;
    }
    static const struct option lopts[] = {
        { "host", required_argument, NULL, 'h' },
        { "port", required_argument, NULL, 'p' },
        { "path", required_argument, NULL, 'P' },
        { "clients", required_argument, NULL, 'n' },
        { "inflight", required_argument, NULL, 'w' },
        { "size", required_argument, NULL, 's' },
        { "seconds", required_argument, NULL, 't' },
        { "procs", required_argument, NULL, 'j' },
        { "concurrency", required_argument, NULL, 'c' },
        { "connect-timeout", required_argument, NULL, 'T' },
        { "server-pid", required_argument, NULL, 'S' },
        { "spread-src", no_argument, NULL, 'x' },
        { "transport", required_argument, NULL, 'X' },
        { "ports", required_argument, NULL, 'L' },
        { "no-ack", no_argument, NULL, 'A' },
        { "tls", no_argument, NULL, 'Y' },
        { "help", no_argument, NULL, '?' },
        { NULL, 0, NULL, 0 },
    };
    opterr = 0;
    optind = 2;
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, ":", lopts, NULL)) != -1) {
        const char *name = NULL;
        double lo = 1, hi = 0;
        switch (ch) {
        case 'h': o.host = optarg; continue;
        case 'P':
            if (optarg[0] != '/') {
                fprintf(stderr, "sio bench: bad --path '%s' (must start with '/')\n", optarg);
                return 2;
            }
            o.path = optarg;
            continue;
        case 'x': o.spread_src = true; continue;
        case 'A': o.noack = true; continue;
        case 'Y': o.tls = true; continue;
        case 'L':
            for (const char *q = optarg; *q; ) {
                char *e;
                unsigned long pv = strtoul(q, &e, 10);
                if (e == q || pv < 1 || pv > 65535 || o.nports == 8 || (*e && *e != ',')) {
                    fprintf(stderr, "sio bench: bad --ports '%s' (up to 8, comma-separated)\n",
                            optarg);
                    return 2;
                }
                o.ports[o.nports++] = (unsigned)pv;
                q = *e ? e + 1 : e;
            }
            continue;
        case 'X':
            if (strcmp(optarg, "polling") == 0) {
                o.polling = true;
            } else if (strcmp(optarg, "websocket") != 0) {
                fprintf(stderr, "sio bench: bad --transport '%s' (websocket or polling)\n", optarg);
                return 2;
            }
            continue;
        case 'p': name = "--port"; hi = 65535; break;
        case 'n': name = "--clients"; hi = 100000; break;
        case 'w': name = "--inflight"; hi = 10000; break;
        case 's': name = "--size"; lo = 0; hi = 16 << 20; break;
        case 't': name = "--seconds"; lo = 0.1; hi = 3600; break;
        case 'j': name = "--procs"; hi = 64; break;
        case 'c': name = "--concurrency"; hi = 100000; break;
        case 'T': name = "--connect-timeout"; lo = 0.1; hi = 3600; break;
        case 'S': name = "--server-pid"; hi = 1 << 30; break;
        default:
            fprintf(stderr, "sio bench: bad option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
        if (!num_arg(optarg, lo, hi, &v)) {
            fprintf(stderr, "sio bench: bad %s '%s' (%g-%g)\n", name, optarg, lo, hi);
            return 2;
        }
        switch (ch) {
        case 'p': o.port = (unsigned)v; break;
        case 'n': o.clients = (unsigned)v; break;
        case 'w': o.inflight = (unsigned)v; break;
        case 's': o.size = (unsigned)v; break;
        case 't': o.seconds = v; break;
        case 'j': o.procs = (unsigned)v; break;
        case 'c': o.concurrency = (unsigned)v; break;
        case 'T': o.connect_timeout = v; break;
        case 'S':
            if (o.nservers == 8) {
                fprintf(stderr, "sio bench: at most 8 --server-pid\n");
                return 2;
            }
            o.server_pids[o.nservers++] = (int)v;
            break;
        default: break;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sio bench: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o.tls && o.polling) {
        fprintf(stderr, "sio bench: --tls is for the websocket transport\n");
        return 2;
    }
    if (o.nports && (o.polling || o.procs > 1 || o.clients > 15000)) {
        fprintf(stderr, "sio bench: --ports is for websocket, one process (15000 clients)\n");
        return 2;
    }
    if (!o.procs)
        o.procs = (o.clients * (o.polling ? 2 : 1) + 14999) / 15000;
    if (o.procs > o.clients)
        o.procs = o.clients;
    if (o.clients > 25000)
        o.spread_src = true;

    size_t shlen = sizeof(struct shared) + o.procs * sizeof(struct child_stats);
    struct shared *sh = mmap(NULL, shlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("sio bench: mmap");
        return 1;
    }
    long rss0 = servers_rss_kb(&o);
    if (o.nservers && rss0 < 0)
        return 2;
    fflush(NULL);
    int64_t t0 = now_ns();
    pid_t *pids = calloc(o.procs, sizeof *pids);
    if (!pids)
        return 1;
    for (unsigned i = 0; i < o.procs; i++) {
        pids[i] = fork();
        if (pids[i] < 0) {
            perror("sio bench: fork");
            for (unsigned k = 0; k < i; k++)
                kill(pids[k], SIGKILL);
            return 1;
        }
        if (pids[i] == 0)
            _exit(run_child(&o, sh, i));
    }

    bool tty = isatty(2);
    struct totals t;
    int64_t connected_at = 0, go = 0, end = 0, last_print = t0;
    uint64_t last_msgs = 0;
    double scpu0 = 0, scpu1 = 0;
    int64_t hard_end = t0 + (int64_t)((o.connect_timeout + o.seconds + 10) * 1e9);
    for (;;) {
        usleep(5000);
        int64_t n = now_ns();
        sum(&o, sh, &t);
        if (!connected_at && t.ready == o.procs) {
            connected_at = n;
            go = n + 20000000;          /* 20 ms: every child sees it at once */
            end = go + (int64_t)(o.seconds * 1e9);
            atomic_store(&sh->end_ns, end);
            atomic_store(&sh->go_ns, go);
            servers_cpu(&o, &scpu0);
        }
        if (n - last_print >= 1000000000) {
            double el = (double)(n - t0) / 1e9;
            double rate = (double)(t.msgs - last_msgs) * 1e9 / (double)(n - last_print);
            if (o.sc == SC_CONNECT)
                rate = (double)t.connected;
            fprintf(stderr, "%sbench %s: %5.1fs connected %" PRIu64 "/%u failed %" PRIu64
                    " %s %.0f%s errors %" PRIu64 "%s",
                    tty ? "\r" : "", scenario_names[o.sc], el, t.connected, o.clients,
                    t.failed, o.sc == SC_BROADCAST ? "deliveries" : o.sc == SC_ECHO ? "acked" : "open",
                    rate, o.sc == SC_CONNECT ? "" : "/s", t.errors, tty ? "   " : "\n");
            last_print = n;
            last_msgs = t.msgs;
        }
        if (go && n >= end && (t.finished == o.procs || n > end + 5000000000LL))
            break;
        if (n > hard_end)
            break;
    }
    if (tty)
        fputc('\n', stderr);
    long rss1 = -1;
    if (o.nservers) {
        servers_cpu(&o, &scpu1);
        rss1 = servers_rss_kb(&o);
    }
    /* children overrunning their deadline are killed */
    for (unsigned i = 0; i < o.procs; i++) {
        if (!atomic_load(&sh->c[i].finished))
            kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
    }
    sum(&o, sh, &t);
    struct sio_hist *h = calloc(1, sizeof *h);
    if (!h)
        return 1;
    uint64_t cpu_us = 0, mismatched = 0;
    for (unsigned i = 0; i < o.procs; i++) {
        sio_hist_merge(h, &sh->c[i].hist);
        cpu_us += sh->c[i].cpu_us;
        mismatched += sh->c[i].mismatched;
    }
    uint64_t errors = t.errors + mismatched;
    bool complete = go && t.finished == o.procs;
    double secs = o.seconds;
    double csecs = connected_at ? (double)(connected_at - t0) / 1e9 : 0;
    double rate = (double)t.msgs / secs;

    printf("{\"scenario\":\"%s\",\"transport\":\"%s\",%s\"clients\":%u,\"procs\":%u,",
           scenario_names[o.sc], o.polling ? "polling" : "websocket", o.tls ? "\"tls\":true," : "",
           o.clients, o.procs);
    if (o.sc != SC_CONNECT)
        printf("\"inflight\":%u,", o.inflight);
    if (o.sc == SC_ECHO)
        printf("\"size\":%u,\"ack\":%s,", o.size, o.noack ? "false" : "true");
    printf("\"seconds\":%.3f,\"connected\":%" PRIu64 ",\"failed\":%" PRIu64
           ",\"connect_seconds\":%.3f,\"connect_rate\":%.1f,",
           secs, t.connected, t.failed, csecs, csecs > 0 ? (double)t.connected / csecs : 0.0);
    if (o.sc != SC_CONNECT) {
        printf("\"msgs\":%" PRIu64 ",\"rate\":%.1f,", t.msgs, rate);
        printf("\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,",
               (double)sio_hist_quantile(h, 0.5) / 1e3, (double)sio_hist_quantile(h, 0.99) / 1e3,
               (double)sio_hist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3);
    }
    printf("\"errors\":%" PRIu64 ",\"mismatched\":%" PRIu64 ",\"complete\":%s,", errors,
           mismatched, complete ? "true" : "false");
    printf("\"bench_cpu_pct\":%.1f", (double)cpu_us / 1e4 / secs);
    if (o.nservers) {
        printf(",\"server_pid\":%d,\"server_processes\":%u,\"server_cpu_pct\":%.1f,"
               "\"server_rss_kb_before\":%ld,\"server_rss_kb\":%ld", o.server_pids[0], o.nservers,
               100.0 * (scpu1 - scpu0) / secs, rss0, rss1);
        if (o.sc == SC_CONNECT && t.connected && rss1 >= 0)
            printf(",\"rss_per_conn_bytes\":%.0f",
                   (double)(rss1 - rss0) * 1024.0 / (double)t.connected);
        if (o.sc != SC_CONNECT && t.msgs)
            printf(",\"server_us_per_msg\":%.2f", 1e6 * (scpu1 - scpu0) / (double)t.msgs);
    }
    printf("}\n");
    fflush(stdout);
    free(h);
    free(pids);
    munmap(sh, shlen);
    return complete && errors == 0 && t.failed == 0 ? 0 : 1;
}

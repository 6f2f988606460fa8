/* client_cmd.c: `sio client URL`: a command-line Socket.IO client for
 * debugging (like wscat), on the event-driven client of <sio/client.h>.
 *
 * Prints every received event as one stdout line "NSP EVENT JSON-ARGS"
 * (binary values as {"$binary": "BASE64"}), acks as "ack NSP EVENT
 * JSON-ARGS", and connect / disconnect / refusal lines on stderr. Lines
 * read from stdin are emitted: "[/NSP] [?]EVENT [JSON...]" ('?' asks for
 * an ack). On stdin EOF or Ctrl-C it lingers briefly, then disconnects.
 * --emit / --call send one event and exit.
 *
 * Owns the event_base, the client, the stdin reader and the signal events.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <sio/client.h>
#include <sio/sio.h>
#include "tools/client_cmd.h"
#include "base/buf.h"
#include "base/vec.h"
#include "tools/opts.h"

#define MAX_LIST 32
#define LINGER_MS 300           /* after EOF / an ack: events still in flight */
#define EMIT_WAIT_MS 1000       /* --emit: how long to wait for an ack */

struct cli {
    struct event_base *base;
    sio_client *c;
    const char *url;
    const char *nsps[MAX_LIST + 1];
    size_t nnsps;
    /* --emit / --call */
    const char *one_event;
    json_t *one_args;
    bool one_call;
    unsigned timeout_ms;
    bool one_sent;
    /* stdin */
    struct event *in_ev;
    char *line;
    size_t len, cap;
    bool eof;
    json_t *queued;             /* lines read before the first connect */
    unsigned pending_acks;
    struct event *linger;
    struct event *sigint, *sigterm;
    unsigned nsigs;
    bool ever_connected;
    bool settled[MAX_LIST];     /* the namespace connected or was refused once */
    bool ready;                 /* every namespace settled: stdin lines go out */
    bool failed;                /* exit 1 */
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sio client URL [options]\n"
        "  URL                       http://, https://, ws:// or wss://HOST:PORT[?query]\n"
        "  --namespace NSP           connect NSP (repeatable; default /)\n"
        "  --transports LIST         polling, websocket or both (default polling,websocket:\n"
        "                            polling then upgrade)\n"
        "  --path PATH               Socket.IO path (default /socket.io/)\n"
        "  --auth JSON               auth object sent with each namespace CONNECT\n"
        "  --header 'NAME: VALUE'    extra HTTP header (repeatable)\n"
        "  --ca FILE                 verify the server with this PEM CA bundle\n"
        "  --insecure                do not verify the server's certificate\n"
        "  --cert FILE --key FILE    client certificate and key (PEM)\n"
        "  --http1.1                 https polling over HTTP/1.1 only (default: HTTP/2\n"
        "                            when the server's ALPN picks h2)\n"
        "  --emit EVENT [JSON...]    emit on the first namespace, print the ack if one\n"
        "                            comes within a second, then exit\n"
        "  --call EVENT [JSON...]    emit, wait for the ack (--timeout), print it, exit\n"
        "                            (exit 1 without an ack)\n"
        "  --timeout MS              --call ack wait (default 5000)\n"
        "  --no-reconnect            do not reconnect after a lost connection\n"
        "  --log-level LEVEL         error|warn|info|debug|trace (default warn)\n"
        "  --engineio-log-level LEVEL  Engine.IO layer (topic client.eio)\n"
        "  --socketio-log-level LEVEL  Socket.IO layer (topics client.sio, client.simple)\n"
        "  --help                    show this help\n"
        "Received events: stdout lines 'NSP EVENT JSON-ARGS'; acks 'ack NSP EVENT JSON-ARGS'.\n"
        "Stdin lines '[/NSP] [?]EVENT [JSON...]' are emitted ('?': ask for an ack).\n"
        "Exit status: 0 ok, 1 connection error, 2 bad usage.\n");
}

#define bad_usage(...) sio_opt_fail("client", usage, __VA_ARGS__)

/* ---- printing ----------------------------------------------------------- */

/* A copy of v with binary values as {"$binary": "BASE64"}. New reference. */
static json_t *printable(json_t *v)
{
    const void *d;
    size_t n;
    if (sio_binary_get(v, &d, &n)) {
        struct sio_buf b = SIO_BUF_INIT;
        json_t *r = sio_buf_append_base64(&b, d, n) == 0
                        ? json_pack("{s:s}", "$binary", n ? (char *)b.data : "") : NULL;
        sio_buf_clear(&b);
        return r;
    }
    if (json_is_array(v)) {
        json_t *r = json_array();
        for (size_t i = 0; r && i < json_array_size(v); i++)
            json_array_append_new(r, printable(json_array_get(v, i)));
        return r;
    }
    if (json_is_object(v)) {
        json_t *r = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
            json_object_set_new(r, k, printable(x));
        return r;
    }
    return json_incref(v);
}

static void print_args(FILE *f, const char *prefix, const char *nsp, const char *event,
                       json_t *args)
{
    json_t *p = args ? printable(args) : NULL;
    char *text = p ? json_dumps(p, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    fprintf(f, "%s%s %s %s\n", prefix, nsp, event, text ? text : "[]");
    fflush(f);
    free(text);
    json_decref(p);
}

/* ---- client callbacks ----------------------------------------------------- */

static void maybe_finish(struct cli *x);

static json_t *on_event(sio_client *c, const char *nsp, const char *event, json_t *args,
                        bool want_ack, void *ud)
{
    print_args(stdout, "", nsp, event, args);
    return NULL;        /* an empty ack when the server asked for one */
}

struct ack_ctx {
    struct cli *x;
    char *nsp, *event;
    bool call;          /* the --call: exit 1 without it */
    bool one;           /* the --emit / --call */
};

static void linger_start(struct cli *x, unsigned ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    event_add(x->linger, &tv);
}

static void on_ack(sio_client *c, int status, json_t *args, void *ud)
{
    struct ack_ctx *a = ud;
    struct cli *x = a->x;
    if (status == 0) {
        print_args(stdout, "ack ", a->nsp, a->event, args);
    } else if (a->call || !a->one) {
        fprintf(stderr, "sio client: no ack for %s %s: %s\n", a->nsp, a->event,
                sio_strerror(status));
        if (a->call)
            x->failed = true;
    }
    x->pending_acks--;
    if (a->one)
        linger_start(x, status == 0 ? LINGER_MS : 0);
    else
        maybe_finish(x);
    free(a->nsp);
    free(a->event);
    free(a);
}

/* Emit event with args on nsp (ack: ask for one; one: the --emit/--call). */
static void send_event(struct cli *x, const char *nsp, const char *event, json_t *args,
                       bool ack, bool one)
{
    int rc;
    if (ack) {
        struct ack_ctx *a = calloc(1, sizeof *a);
        if (!a || !(a->nsp = strdup(nsp)) || !(a->event = strdup(event))) {
            if (a)
                free(a->nsp);
            free(a);
            fprintf(stderr, "sio client: out of memory\n");
            return;
        }
        a->x = x;
        a->call = one && x->one_call;
        a->one = one;
        unsigned tmo = one && !x->one_call ? EMIT_WAIT_MS : x->timeout_ms;
        rc = sio_client_emit_ack(x->c, nsp, event, args, on_ack, a, tmo);
        if (rc == 0) {
            x->pending_acks++;
        } else {
            free(a->nsp);
            free(a->event);
            free(a);
        }
    } else {
        rc = sio_client_emit(x->c, nsp, event, args);
    }
    if (rc < 0)
        fprintf(stderr, "sio client: cannot emit %s on %s: %s\n", event, nsp,
                sio_strerror(rc));
}

/* "[/NSP] [?]EVENT [JSON...]": parse and send (or queue until connected). */
static void handle_line(struct cli *x, char *line)
{
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || *p == '#')
        return;
    const char *nsp = x->nsps[0];
    if (*p == '/') {
        nsp = p;
        p += strcspn(p, " \t");
        if (*p)
            *p++ = 0;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    bool ack = *p == '?';
    if (ack)
        p++;
    char *event = p;
    p += strcspn(p, " \t");
    if (*p)
        *p++ = 0;
    if (!*event) {
        fprintf(stderr, "sio client: no event name in the line\n");
        return;
    }
    json_t *args = json_array();
    while (args) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        json_error_t err;
        json_t *v = json_loadb(p, strlen(p), JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &err);
        if (!v) {
            fprintf(stderr, "sio client: bad JSON argument at '%.40s': %s\n", p, err.text);
            json_decref(args);
            return;
        }
        json_array_append_new(args, v);
        p += err.position;
    }
    if (!args)
        return;
    send_event(x, nsp, event, args, ack, false);
    json_decref(args);
}

static void flush_queued(struct cli *x)
{
    if (!x->queued)
        return;
    for (size_t i = 0; i < json_array_size(x->queued); i++) {
        char *l = strdup(json_string_value(json_array_get(x->queued, i)));
        if (l)
            handle_line(x, l);
        free(l);
    }
    json_decref(x->queued);
    x->queued = NULL;
}

/* Mark nsp settled; once all are, send the lines read so far. */
static void settle(struct cli *x, const char *nsp)
{
    bool all = true;
    for (size_t i = 0; i < x->nnsps; i++) {
        if (strcmp(x->nsps[i], nsp) == 0)
            x->settled[i] = true;
        all = all && x->settled[i];
    }
    if (!all || x->ready)
        return;
    x->ready = true;
    flush_queued(x);
    maybe_finish(x);
}

static void on_connect(sio_client *c, const char *nsp, void *ud)
{
    struct cli *x = ud;
    fprintf(stderr, "connected %s sid=%s transport=%s\n", nsp, sio_client_sid(c, nsp),
            sio_client_transport(c));
    x->ever_connected = true;
    if (strcmp(nsp, x->nsps[0]) == 0 && x->one_event && !x->one_sent) {
        x->one_sent = true;
        send_event(x, nsp, x->one_event, x->one_args, true, true);
    }
    settle(x, nsp);
}

static void on_connect_error(sio_client *c, const char *nsp, json_t *data, void *ud)
{
    struct cli *x = ud;
    const char *msg = json_string_value(json_object_get(data, "message"));
    if (!x->ever_connected && !x->failed) {
        x->failed = true;
        if (msg && strcmp(msg, sio_client_last_error(c)) == 0) {
            fprintf(stderr, "sio client: cannot connect to %s: %s\n", x->url, msg);
        } else if (msg && json_object_size(data) == 1) {
            fprintf(stderr, "sio client: namespace %s refused: %s\n", nsp, msg);
        } else {
            char *t = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
            fprintf(stderr, "sio client: namespace %s refused: %s\n", nsp, t ? t : "?");
            free(t);
        }
        sio_client_disconnect(c);
    } else {
        char *t = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
        fprintf(stderr, "connect_error %s %s\n", nsp, t ? t : "?");
        free(t);
        settle(x, nsp);
    }
}

static void on_disconnect(sio_client *c, const char *nsp, const char *reason, void *ud)
{
    fprintf(stderr, "disconnected %s: %s\n", nsp, reason);
}

/* ---- stdin, signals, ending ---------------------------------------------- */

static void linger_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cli *x = arg;
    sio_client_disconnect(x->c);
}

/* Stdin is done (or the one event was handled): leave once acks are in. */
static void maybe_finish(struct cli *x)
{
    if (x->one_event || !x->eof || x->pending_acks || x->queued)
        return;
    if (!x->ready)
        return;                 /* lines wait for the connection */
    if (!event_pending(x->linger, EV_TIMEOUT, NULL))
        linger_start(x, LINGER_MS);
}

static int take_input(struct cli *x, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (SIO_VEC_ROOM(x->line, x->len + 1, x->cap, 256) < 0)
                return -ENOMEM;
            x->line[x->len++] = buf[i];
            continue;
        }
        if (!x->line)
            continue;
        x->line[x->len] = 0;
        if (x->len && x->line[x->len - 1] == '\r')
            x->line[x->len - 1] = 0;
        x->len = 0;
        if (x->ready && !x->queued) {
            handle_line(x, x->line);
        } else {
            if (!x->queued)
                x->queued = json_array();
            json_array_append_new(x->queued, json_string(x->line));
        }
    }
    return 0;
}

static void input_eof(struct cli *x)
{
    if (x->len) {
        if (take_input(x, "\n", 1) < 0)
            fprintf(stderr, "sio client: out of memory\n");
    }
    x->eof = true;
    if (x->in_ev)
        event_del(x->in_ev);
    maybe_finish(x);
}

static void stdin_cb(evutil_socket_t fd, short what, void *arg)
{
    struct cli *x = arg;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        input_eof(x);
        return;
    }
    if (take_input(x, buf, (size_t)n) < 0)
        fprintf(stderr, "sio client: out of memory\n");
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct cli *x = arg;
    if (++x->nsigs > 1)
        exit(x->failed ? 1 : 0);
    sio_client_disconnect(x->c);
}

/* ---- options -------------------------------------------------------------- */

/* Parse JSON arguments argv[*i+1...] up to the next "--flag". */
static int take_json_args(int argc, char **argv, int *i, json_t **out)
{
    json_t *args = json_array();
    if (!args)
        return -ENOMEM;
    while (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
        json_error_t err;
        json_t *v = json_loads(argv[*i + 1], JSON_DECODE_ANY, &err);
        if (!v) {
            json_decref(args);
            return bad_usage("bad JSON argument '%s': %s", argv[*i + 1], err.text);
        }
        json_array_append_new(args, v);
        (*i)++;
    }
    *out = args;
    return 0;
}

int sio_cmd_client(int argc, char **argv)
{
    struct cli x = { .timeout_ms = 5000 };
    struct sio_client_opts o;
    sio_client_opts_init(&o);
    const char *headers[MAX_LIST + 1] = { 0 };
    char *hdr_store[MAX_LIST] = { 0 };
    size_t nh = 0;
    json_t *auth = NULL;
    int log_level = -1, eio_level = -1, sio_level = -1, status = 2;

    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (x.url) {
                status = bad_usage("unexpected argument '%s'", a);
                goto out;
            }
            x.url = a;
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            status = 0;
            goto out;
        }
        if (strcmp(a, "--insecure") == 0) {
            o.tls_no_verify = true;
            continue;
        }
        if (strcmp(a, "--http1.1") == 0) {
            o.no_h2 = true;
            continue;
        }
        if (strcmp(a, "--no-reconnect") == 0) {
            o.reconnection = false;
            continue;
        }
        if (strcmp(a, "--emit") == 0 || strcmp(a, "--call") == 0) {
            if (x.one_event) {
                status = bad_usage("only one --emit or --call");
                goto out;
            }
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
                status = bad_usage("%s needs an event name", a);
                goto out;
            }
            x.one_call = a[2] == 'c';
            x.one_event = argv[++i];
            if ((status = take_json_args(argc, argv, &i, &x.one_args)) != 0)
                goto out;
            status = 2;
            continue;
        }
        static const char *const valued[] = { "--namespace", "--transports", "--path",
            "--auth", "--header", "--ca", "--cert", "--key", "--timeout", "--log-level",
            "--engineio-log-level", "--socketio-log-level", NULL };
        size_t k;
        for (k = 0; valued[k] && strcmp(a, valued[k]) != 0; k++)
            ;
        if (!valued[k]) {
            status = bad_usage("unknown option '%s'", a);
            goto out;
        }
        if (i + 1 >= argc) {
            status = bad_usage("%s needs a value", a);
            goto out;
        }
        char *v = argv[++i];
        if (strcmp(a, "--namespace") == 0) {
            if (v[0] != '/' || x.nnsps == MAX_LIST) {
                status = bad_usage("bad --namespace '%s' (starts with '/', at most %d)", v,
                                   MAX_LIST);
                goto out;
            }
            x.nsps[x.nnsps++] = v;
        } else if (strcmp(a, "--transports") == 0) {
            unsigned t = 0;
            char *copy = strdup(v), *save = NULL;
            for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
                 tok = strtok_r(NULL, ",", &save)) {
                if (strcmp(tok, "polling") == 0)
                    t |= SIO_TRANSPORT_POLLING;
                else if (strcmp(tok, "websocket") == 0)
                    t |= SIO_TRANSPORT_WEBSOCKET;
                else
                    t = ~0u;
            }
            free(copy);
            if (t == 0 || t == ~0u) {
                status = bad_usage("bad --transports '%s' (polling, websocket or both)", v);
                goto out;
            }
            o.transports = t;
        } else if (strcmp(a, "--path") == 0) {
            if (v[0] != '/') {
                status = bad_usage("bad --path '%s' (must start with '/')", v);
                goto out;
            }
            o.path = v;
        } else if (strcmp(a, "--auth") == 0) {
            json_error_t err;
            json_decref(auth);
            auth = json_loads(v, 0, &err);
            if (!json_is_object(auth)) {
                status = bad_usage("bad --auth '%s' (a JSON object)", v);
                goto out;
            }
        } else if (strcmp(a, "--header") == 0) {
            char *colon = strchr(v, ':');
            if (!colon || colon == v || nh == MAX_LIST || strpbrk(v, "\r\n")) {
                status = bad_usage("bad --header '%s' (NAME: VALUE, at most %d)", v, MAX_LIST);
                goto out;
            }
            const char *val = colon + 1;
            while (*val == ' ')
                val++;
            size_t len = (size_t)(colon - v) + strlen(val) + 3;
            if (!(hdr_store[nh] = malloc(len))) {
                status = 1;
                goto out;
            }
            snprintf(hdr_store[nh], len, "%.*s: %s", (int)(colon - v), v, val);
            headers[nh] = hdr_store[nh];
            nh++;
            o.headers = headers;
        } else if (strcmp(a, "--ca") == 0) {
            o.tls_ca_file = v;
        } else if (strcmp(a, "--cert") == 0) {
            o.tls_cert_file = v;
        } else if (strcmp(a, "--key") == 0) {
            o.tls_key_file = v;
        } else if (strcmp(a, "--timeout") == 0) {
            unsigned long long ms;
            if (!sio_opt_num(v, 1, 86400000, &ms)) {
                status = bad_usage("bad --timeout '%s' (milliseconds > 0)", v);
                goto out;
            }
            x.timeout_ms = (unsigned)ms;
        } else if (strcmp(a, "--log-level") == 0) {
            if ((status = sio_opt_level("client", usage, a, v, &log_level)) != 0)
                goto out;
        } else if (strcmp(a, "--engineio-log-level") == 0) {
            if ((status = sio_opt_level("client", usage, a, v, &eio_level)) != 0)
                goto out;
        } else {
            if ((status = sio_opt_level("client", usage, a, v, &sio_level)) != 0)
                goto out;
        }
        status = 2;
    }
    if (!x.url) {
        status = bad_usage("missing URL");
        goto out;
    }
    if (o.tls_key_file && !o.tls_cert_file) {
        status = bad_usage("--key needs --cert");
        goto out;
    }
    if (x.nnsps == 0)
        x.nsps[x.nnsps++] = "/";
    sio_log_set_level(log_level >= 0 ? (enum sio_log_level)log_level : SIO_LOG_WARN);
    if (eio_level >= 0)
        sio_log_set_topic_level("client.eio", (enum sio_log_level)eio_level);
    if (sio_level >= 0) {
        sio_log_set_topic_level("client.sio", (enum sio_log_level)sio_level);
        sio_log_set_topic_level("client.simple", (enum sio_log_level)sio_level);
    }

    status = 1;
    signal(SIGPIPE, SIG_IGN);
    if (!(x.base = event_base_new()) || sio_client_new(&x.c, x.base, &o) < 0) {
        fprintf(stderr, "sio client: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < x.nnsps; i++) {
        struct sio_client_namespace h = { .nsp = x.nsps[i], .on_connect = on_connect,
            .on_connect_error = on_connect_error, .on_disconnect = on_disconnect, .ud = &x };
        sio_client_on_namespace(x.c, &h);
    }
    sio_client_on(x.c, "*", "*", on_event, &x);
    x.linger = evtimer_new(x.base, linger_cb, &x);
    x.sigint = evsignal_new(x.base, SIGINT, signal_cb, &x);
    x.sigterm = evsignal_new(x.base, SIGTERM, signal_cb, &x);
    if (!x.linger || !x.sigint || !x.sigterm || event_add(x.sigint, NULL) < 0 ||
        event_add(x.sigterm, NULL) < 0) {
        fprintf(stderr, "sio client: out of memory\n");
        goto out;
    }
    struct stat st;
    bool pollable = fstat(0, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
                                            isatty(0));
    if (!x.one_event) {
        /* a regular file or /dev/null cannot be polled: read it now */
        if (pollable)
            x.in_ev = event_new(x.base, 0, EV_READ | EV_PERSIST, stdin_cb, &x);
        if (!x.in_ev || event_add(x.in_ev, NULL) < 0) {
            if (x.in_ev)
                event_free(x.in_ev);
            x.in_ev = NULL;
            char buf[4096];
            ssize_t n;
            while ((n = read(0, buf, sizeof buf)) > 0)
                take_input(&x, buf, (size_t)n);
            input_eof(&x);
        }
    }
    x.nsps[x.nnsps] = NULL;
    int rc = sio_client_connect(x.c, x.url, x.nsps, auth);
    if (rc < 0) {
        const char *why = sio_client_last_error(x.c);
        fprintf(stderr, "sio client: cannot connect to %s: %s\n", x.url,
                *why ? why : rc == -EINVAL ? "bad URL" : sio_strerror(rc));
        goto out;
    }
    sio_client_wait(x.c);
    status = x.failed ? 1 : 0;
out:
    if (x.c)
        sio_client_destroy(&x.c);
    if (x.in_ev)
        event_free(x.in_ev);
    if (x.linger)
        event_free(x.linger);
    if (x.sigint)
        event_free(x.sigint);
    if (x.sigterm)
        event_free(x.sigterm);
    if (x.base)
        event_base_free(x.base);
    for (size_t i = 0; i < nh; i++)
        free(hdr_store[i]);
    json_decref(auth);
    json_decref(x.one_args);
    json_decref(x.queued);
    free(x.line);
    return status;
}

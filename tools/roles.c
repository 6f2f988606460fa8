/* roles.c: the split roles of sio as separate processes (docs/DEPLOY.md):
 * `sio hub`, `sio gateway`, `sio worker`, plus `sio emit` and `sio keygen`.
 *
 * Bus endpoints: either three comma-separated endpoints EVENTS,COMMANDS,
 * WORKERS, or one BASE from which the three are derived:
 *   ipc://PATH          -> ipc://PATH-events, ipc://PATH-commands, ipc://PATH-workers
 *   tcp://HOST:PORT     -> tcp://HOST:PORT, tcp://HOST:PORT+1, tcp://HOST:PORT+2
 * ipc:// sockets are created 0600 (umask while binding, then chmod). A tcp://
 * bus needs CURVE keys (--curve-secret, and --curve-allow on the hub or
 * --curve-server-key on peers) unless --insecure-bus is given.
 *
 * Owns, per process: the zmq context, the role objects and, in the hub, the
 * ZAP handler thread that checks CURVE client keys against the allowed list.
 * Exit status: 0 after SIGINT/SIGTERM, 1 when something cannot start, 2 on
 * bad usage (sio emit: 1 when the hub did not accept the message).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <zmq.h>
#include <sio/sio.h>
#include <sio/emitter.h>
#include "proto/bus.h"
#include "core/hub.h"
#include "core/worker.h"
#include "edge/gateway/gateway.h"
#include "tools/server.h"
#include "tools/roles.h"
#include "base/buf.h"
#include "tools/metrics_http.h"
#include "tools/opts.h"

SIO_LOG_TOPIC_STATIC(topic, "tools.roles");

#define MAX_PLUGINS 64
#define MAX_ALLOWED 1024

/* sio CMD: message, then a pointer to --help; exit status 2 */
#define usage_err(cmd, ...) sio_opt_fail(cmd, NULL, __VA_ARGS__)

/* ---- endpoints ---- */

struct endpoints {
    char ev[512], cmd[512], wk[512];
    struct sio_bus_endpoints ep;
};

/* Parse EVENTS,COMMANDS,WORKERS or a BASE (see the top comment). */
static int parse_endpoints(const char *spec, struct endpoints *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *c1 = strchr(spec, ',');
    if (c1) {
        const char *c2 = strchr(c1 + 1, ',');
        if (!c2 || strchr(c2 + 1, ',')) {
            snprintf(err, errlen, "'%s': give one base endpoint or three, comma-separated", spec);
            return -EINVAL;
        }
        snprintf(out->ev, sizeof out->ev, "%.*s", (int)(c1 - spec), spec);
        snprintf(out->cmd, sizeof out->cmd, "%.*s", (int)(c2 - c1 - 1), c1 + 1);
        snprintf(out->wk, sizeof out->wk, "%s", c2 + 1);
    } else if (strncmp(spec, "ipc://", 6) == 0 && spec[6]) {
        snprintf(out->ev, sizeof out->ev, "%s-events", spec);
        snprintf(out->cmd, sizeof out->cmd, "%s-commands", spec);
        snprintf(out->wk, sizeof out->wk, "%s-workers", spec);
    } else if (strncmp(spec, "tcp://", 6) == 0) {
        const char *colon = strrchr(spec + 6, ':');
        char *end;
        errno = 0;
        unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
        if (!colon || errno || *end || colon[1] == 0 || port == 0 || port > 65533) {
            snprintf(err, errlen, "'%s': a tcp base needs a port (1-65533)", spec);
            return -EINVAL;
        }
        int hl = (int)(colon - spec);
        snprintf(out->ev, sizeof out->ev, "%.*s:%lu", hl, spec, port);
        snprintf(out->cmd, sizeof out->cmd, "%.*s:%lu", hl, spec, port + 1);
        snprintf(out->wk, sizeof out->wk, "%.*s:%lu", hl, spec, port + 2);
    } else {
        snprintf(err, errlen, "'%s': not an ipc:// or tcp:// endpoint", spec);
        return -EINVAL;
    }
    const char *all[] = { out->ev, out->cmd, out->wk };
    for (int i = 0; i < 3; i++)
        if (strncmp(all[i], "ipc://", 6) != 0 && strncmp(all[i], "tcp://", 6) != 0) {
            snprintf(err, errlen, "'%.400s': not an ipc:// or tcp:// endpoint", all[i]);
            return -EINVAL;
        }
    out->ep = (struct sio_bus_endpoints){ .events = out->ev, .commands = out->cmd,
                                          .workers = out->wk };
    return 0;
}

static bool any_tcp(const struct endpoints *e)
{
    return strncmp(e->ev, "tcp://", 6) == 0 || strncmp(e->cmd, "tcp://", 6) == 0 ||
           strncmp(e->wk, "tcp://", 6) == 0;
}

/* ---- keys ---- */

/* Read the first Z85 key (40 characters) of a text file. */
static int read_key(const char *path, char out[41], char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char line[256];
    int rc = -EINVAL;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (n == 0 || line[0] == '#')
            continue;
        uint8_t raw[32];
        if (n == 40 && zmq_z85_decode(raw, line)) {
            memcpy(out, line, 41);
            rc = 0;
        }
        break;
    }
    fclose(f);
    if (rc < 0)
        snprintf(err, errlen, "%s: no Z85 key (40 characters) on its first line", path);
    return rc;
}

struct curve_opts {
    const char *secret, *server_key, *allow;
    bool insecure;
};

/* Fill k from the options of a peer (public key derived from the secret). */
static int peer_curve(const struct curve_opts *o, struct sio_bus_curve *k, char *err, size_t errlen)
{
    if (!o->secret || !o->server_key) {
        snprintf(err, errlen, "a CURVE peer needs --curve-secret and --curve-server-key");
        return -EINVAL;
    }
    int rc = read_key(o->secret, k->secret_key, err, errlen);
    if (rc == 0)
        rc = read_key(o->server_key, k->server_key, err, errlen);
    if (rc == 0 && zmq_curve_public(k->public_key, k->secret_key) < 0) {
        snprintf(err, errlen, "%s: cannot derive the public key: %s", o->secret, zmq_strerror(errno));
        rc = -EINVAL;
    }
    return rc;
}

/* Decide whether a role uses CURVE: keys given -> yes; tcp without keys ->
 * refused unless --insecure-bus (warned); ipc -> no. 1 curve, 0 plain, <0. */
static int curve_decide(const char *cmd, const struct endpoints *e, const struct curve_opts *o,
                        bool hub)
{
    bool keys = o->secret || o->server_key || o->allow;
    if (keys && o->insecure) {
        usage_err(cmd, "--insecure-bus and CURVE keys exclude each other");
        return -EINVAL;
    }
    if (keys)
        return 1;
    if (!any_tcp(e))
        return 0;
    if (!o->insecure) {
        fprintf(stderr, "sio %s: a tcp:// bus needs CURVE keys (%s) or --insecure-bus\n", cmd,
                hub ? "--curve-secret and --curve-allow" : "--curve-secret and --curve-server-key");
        return -EPERM;
    }
    sio_log_warn(topic, "--insecure-bus: the tcp bus is neither authenticated nor encrypted");
    fprintf(stderr, "sio %s: warning: --insecure-bus: the tcp bus is neither authenticated "
            "nor encrypted\n", cmd);
    return 0;
}

/* ---- the hub's ZAP handler ---- */

struct zap {
    void *zctx;
    void *rep;
    pthread_t thread;
    bool started;
    char (*allowed)[41];
    size_t nallowed;
};

static int allow_add(struct zap *z, const char *path, char *err, size_t errlen)
{
    if (z->nallowed == MAX_ALLOWED) {
        snprintf(err, errlen, "too many allowed keys (at most %d)", MAX_ALLOWED);
        return -E2BIG;
    }
    char key[41];
    int rc = read_key(path, key, err, errlen);
    if (rc < 0)
        return rc;
    memcpy(z->allowed[z->nallowed++], key, 41);
    return 0;
}

/* --curve-allow DIR (every *.pub file in it) or FILE (one key per line). */
static int allow_load(struct zap *z, const char *spec, char *err, size_t errlen)
{
    z->allowed = calloc(MAX_ALLOWED, sizeof *z->allowed);
    if (!z->allowed)
        return -ENOMEM;
    struct stat st;
    if (stat(spec, &st) < 0) {
        snprintf(err, errlen, "%s: %s", spec, strerror(errno));
        return -errno;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(spec);
        if (!d) {
            snprintf(err, errlen, "%s: %s", spec, strerror(errno));
            return -errno;
        }
        struct dirent *de;
        int rc = 0;
        while (rc == 0 && (de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);
            if (n < 5 || strcmp(de->d_name + n - 4, ".pub") != 0)
                continue;
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", spec, de->d_name);
            rc = allow_add(z, p, err, errlen);
        }
        closedir(d);
        return rc;
    }
    FILE *f = fopen(spec, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", spec, strerror(errno));
        return -errno;
    }
    char line[256];
    while (fgets(line, sizeof line, f) && z->nallowed < MAX_ALLOWED) {
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        uint8_t raw[32];
        if (n == 40 && zmq_z85_decode(raw, line))
            memcpy(z->allowed[z->nallowed++], line, 41);
    }
    fclose(f);
    return 0;
}

/* RFC 27 (ZAP 1.0): [version, request id, domain, address, identity,
 * mechanism, credentials...] -> [version, request id, status, text, user,
 * metadata]. A CURVE client is allowed when its public key is listed. */
static void *zap_main(void *arg)
{
    struct zap *z = arg;
    for (;;) {
        zmq_msg_t part[8];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, z->rep, 0) < 0) {
                zmq_msg_close(&m);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&part[i]);
                /* the context is shutting down: the socket is ours to close */
                zmq_close(z->rep);
                return NULL;
            }
            more = zmq_msg_more(&m);
            if (n < 8)
                part[n++] = m;
            else
                zmq_msg_close(&m);
        }
        const char *status = "400", *text = "unknown key";
        char key[41] = "?";
        if (n >= 7 && zmq_msg_size(&part[5]) == 5 && memcmp(zmq_msg_data(&part[5]), "CURVE", 5) == 0 &&
            zmq_msg_size(&part[6]) == 32) {
            zmq_z85_encode(key, zmq_msg_data(&part[6]), 32);
            for (size_t i = 0; i < z->nallowed; i++)
                if (memcmp(z->allowed[i], key, 40) == 0) {
                    status = "200";
                    text = "OK";
                    break;
                }
        }
        if (status[0] != '2')
            sio_log_warn(topic, "bus peer with key %s refused", key);
        if (n >= 2) {
            zmq_send(z->rep, "1.0", 3, ZMQ_SNDMORE);
            zmq_msg_send(&part[1], z->rep, ZMQ_SNDMORE);
            zmq_send(z->rep, status, 3, ZMQ_SNDMORE);
            zmq_send(z->rep, text, strlen(text), ZMQ_SNDMORE);
            zmq_send(z->rep, key, status[0] == '2' ? 40 : 0, ZMQ_SNDMORE);
            zmq_send(z->rep, "", 0, 0);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
    }
}

static int zap_start(struct zap *z, void *zctx, char *err, size_t errlen)
{
    z->zctx = zctx;
    z->rep = zmq_socket(zctx, ZMQ_REP);
    if (!z->rep || zmq_bind(z->rep, "inproc://zeromq.zap.01") < 0) {
        snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(errno));
        return -errno;
    }
    int zero = 0;
    zmq_setsockopt(z->rep, ZMQ_LINGER, &zero, sizeof zero);
    int rc = pthread_create(&z->thread, NULL, zap_main, z);
    if (rc) {
        snprintf(err, errlen, "ZAP handler: %s", strerror(rc));
        return -rc;
    }
    z->started = true;
    return 0;
}

/* ---- signals ---- */

static void block_signals(sigset_t *set, bool hup)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    if (hup)
        sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* chmod 0600 the socket files of ipc:// endpoints (the umask already made
 * them so; this also covers a umask the process could not set). */
static void ipc_private(const struct endpoints *e)
{
    const char *all[] = { e->ev, e->cmd, e->wk };
    for (int i = 0; i < 3; i++)
        if (strncmp(all[i], "ipc://", 6) == 0 && all[i][6] != '@')
            chmod(all[i] + 6, 0600);
}

/* ---- sio hub ---- */

enum {
    OPT_BIND = 300, OPT_HUB, OPT_PLUGIN, OPT_WORKERS, OPT_LOG, OPT_TIMEOUT, OPT_SECRET, OPT_ALLOW,
    OPT_SERVER_KEY, OPT_INSECURE, OPT_HELP, OPT_NSP, OPT_TO, OPT_ROOM, OPT_EXCEPT, OPT_EXCEPT_SID,
    OPT_METRICS_PORT = 400,
};

/* --metrics-port of the hub and worker roles */
static bool metrics_port_parse(const char *s, int *out)
{
    unsigned long long v;
    if (!sio_opt_num(s, 0, 65535, &v))
        return false;
    *out = (int)v;
    return true;
}

static int metrics_start(sio_metrics_http **mh, int port, sio_metrics_render_fn fn, void *ud,
                         char *err, size_t errlen)
{
    uint16_t bound = 0;
    int r = sio_metrics_http_start(mh, "127.0.0.1", (uint16_t)port, fn, ud, &bound, err, errlen);
    if (r == 0)
        printf("metrics on http://127.0.0.1:%u/metrics\n", (unsigned)bound);
    return r;
}

static int render_hub(struct sio_buf *b, void *ud)
{
    return sio_hub_metrics(ud, b);
}

static int render_worker(struct sio_buf *b, void *ud)
{
    return sio_worker_metrics(ud, b);
}

static void hub_usage(FILE *f)
{
    fprintf(f,
        "usage: sio hub --bind ENDPOINTS [options]\n"
        "\n"
        "Run the hub: gateways and workers (and emitters) connect to it.\n"
        "ENDPOINTS is EVENTS,COMMANDS,WORKERS or one base:\n"
        "  ipc:///run/sio/bus    -> ipc:///run/sio/bus-events, -commands, -workers (0600)\n"
        "  tcp://0.0.0.0:7000    -> ports 7000 (events), 7001 (commands), 7002 (workers)\n"
        "\n"
        "options:\n"
        "  --worker-timeout MS   a silent worker is dead after MS (default 5000)\n"
        "  --curve-secret FILE   the hub's CURVE secret key (sio keygen)\n"
        "  --curve-allow DIR|FILE  allowed peer public keys (*.pub files, or one per line)\n"
        "  --insecure-bus        allow a tcp:// bus without CURVE (logged as a warning)\n"
        "  --metrics-port PORT   serve GET /metrics (Prometheus) on 127.0.0.1:PORT (0: pick)\n"
        "  --log-level LEVEL     error|warn|info|debug|trace (default warn)\n");
}

int sio_cmd_hub(int argc, char **argv)
{
    static const struct option opts[] = {
        { "bind", required_argument, NULL, OPT_BIND },
        { "worker-timeout", required_argument, NULL, OPT_TIMEOUT },
        { "metrics-port", required_argument, NULL, OPT_METRICS_PORT },
        { "curve-secret", required_argument, NULL, OPT_SECRET },
        { "curve-allow", required_argument, NULL, OPT_ALLOW },
        { "insecure-bus", no_argument, NULL, OPT_INSECURE },
        { "log-level", required_argument, NULL, OPT_LOG },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    const char *bind = NULL;
    int mport = -1;
    sio_metrics_http *mh = NULL;
    struct curve_opts co = { 0 };
    unsigned timeout = 0;
    sio_opt_begin(1);
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case OPT_BIND: bind = optarg; break;
        case OPT_METRICS_PORT:
            if (!metrics_port_parse(optarg, &mport))
                return usage_err("hub", "bad --metrics-port '%s' (0-65535)", optarg);
            break;
        case OPT_SECRET: co.secret = optarg; break;
        case OPT_ALLOW: co.allow = optarg; break;
        case OPT_INSECURE: co.insecure = true; break;
        case OPT_TIMEOUT: {
            unsigned long long v;
            if (!sio_opt_num(optarg, 1, 3600000, &v))
                return usage_err("hub", "bad --worker-timeout '%s' (ms, 1-3600000)", optarg);
            timeout = (unsigned)v;
            break;
        }
        case OPT_LOG: {
            int l;
            if (sio_opt_level("hub", NULL, "--log-level", optarg, &l))
                return 2;
            sio_log_set_level((enum sio_log_level)l);
            break;
        }
        case OPT_HELP: hub_usage(stdout); return 0;
        default: return sio_opt_getopt_fail("hub", NULL, c, argv);
        }
    }
    if (optind < argc)
        return usage_err("hub", "unexpected argument '%s'", argv[optind]);
    if (!bind)
        return usage_err("hub", "--bind is required");
    char err[512] = "";
    struct endpoints e;
    if (parse_endpoints(bind, &e, err, sizeof err) < 0)
        return usage_err("hub", "%s", err);
    if (co.server_key)
        return usage_err("hub", "--curve-server-key is for peers");
    int cur = curve_decide("hub", &e, &co, true);
    if (cur < 0)
        return cur == -EINVAL ? 2 : 1;
    if (cur && (!co.secret || !co.allow))
        return usage_err("hub", "CURVE needs --curve-secret and --curve-allow");

    sigset_t set;
    block_signals(&set, false);
    int status = 1;
    sio_hub *hub = NULL;
    struct zap zap = { 0 };
    struct sio_bus_curve keys;
    void *zctx = zmq_ctx_new();
    if (!zctx) {
        fprintf(stderr, "sio hub: zmq context: %s\n", zmq_strerror(errno));
        return 1;
    }
    if (cur) {
        memset(&keys, 0, sizeof keys);
        if (read_key(co.secret, keys.secret_key, err, sizeof err) < 0 ||
            allow_load(&zap, co.allow, err, sizeof err) < 0 ||
            zap_start(&zap, zctx, err, sizeof err) < 0)
            goto out;
        if (zap.nallowed == 0)
            sio_log_warn(topic, "%s: no allowed key: every peer will be refused", co.allow);
        e.ep.curve = &keys;
    }
    struct sio_hub_cfg hcfg = { .zmq_ctx = zctx, .ep = e.ep, .worker_timeout_ms = timeout };
    mode_t old = umask(0077);   /* ipc:// socket files: 0600 */
    int rc = sio_hub_new(&hub, &hcfg, err, sizeof err);
    umask(old);
    if (rc < 0)
        goto out;
    ipc_private(&e);
    printf("hub: events %s commands %s workers %s%s\n", e.ev, e.cmd, e.wk, cur ? " (CURVE)" : "");
    if (mport >= 0 && metrics_start(&mh, mport, render_hub, hub, err, sizeof err) < 0)
        goto out;
    fflush(stdout);
    int sig;
    while (sigwait(&set, &sig) != 0)
        ;
    sio_log_info(topic, "signal %d: stopping", sig);
    status = 0;
out:
    if (status)
        fprintf(stderr, "sio hub: %s\n", err[0] ? err : "cannot start");
    sio_metrics_http_stop(&mh);
    sio_hub_destroy(&hub);
    /* the ZAP thread's blocking recv fails with ETERM; it closes its socket */
    zmq_ctx_shutdown(zctx);
    if (zap.started)
        pthread_join(zap.thread, NULL);
    else if (zap.rep)
        zmq_close(zap.rep);
    zmq_ctx_term(zctx);
    free(zap.allowed);
    return status;
}

/* ---- sio worker ---- */

static void worker_usage(FILE *f)
{
    fprintf(f,
        "usage: sio worker --hub ENDPOINTS --plugin PATH.so [--plugin PATH.so ...] [options]\n"
        "\n"
        "Run handler plugins for the hub at ENDPOINTS (as for sio hub --bind).\n"
        "SIGHUP reloads the plugins (a file that fails to load keeps the old code);\n"
        "SIGTERM finishes the events already routed here, says BYE, exits.\n"
        "\n"
        "options:\n"
        "  --workers N               shards (threads), each a worker of the hub (default 1)\n"
        "  --curve-secret FILE       this peer's CURVE secret key (sio keygen)\n"
        "  --curve-server-key FILE   the hub's public key\n"
        "  --insecure-bus            allow a tcp:// bus without CURVE\n"
        "  --metrics-port PORT       serve GET /metrics (Prometheus) on 127.0.0.1:PORT (0: pick)\n"
        "  --log-level LEVEL         error|warn|info|debug|trace (default warn)\n");
}

int sio_cmd_worker(int argc, char **argv)
{
    static const struct option opts[] = {
        { "hub", required_argument, NULL, OPT_HUB },
        { "plugin", required_argument, NULL, OPT_PLUGIN },
        { "workers", required_argument, NULL, OPT_WORKERS },
        { "curve-secret", required_argument, NULL, OPT_SECRET },
        { "curve-server-key", required_argument, NULL, OPT_SERVER_KEY },
        { "insecure-bus", no_argument, NULL, OPT_INSECURE },
        { "log-level", required_argument, NULL, OPT_LOG },
        { "metrics-port", required_argument, NULL, OPT_METRICS_PORT },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    int mport = -1;
    sio_metrics_http *mh = NULL;
    const char *hubspec = NULL;
    const char *plugins[MAX_PLUGINS];
    size_t nplugins = 0;
    unsigned threads = 1;
    struct curve_opts co = { 0 };
    sio_opt_begin(1);
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case OPT_HUB: hubspec = optarg; break;
        case OPT_METRICS_PORT:
            if (!metrics_port_parse(optarg, &mport))
                return usage_err("worker", "bad --metrics-port '%s' (0-65535)", optarg);
            break;
        case OPT_PLUGIN:
            if (nplugins == MAX_PLUGINS)
                return usage_err("worker", "too many --plugin (at most %d)", MAX_PLUGINS);
            plugins[nplugins++] = optarg;
            break;
        case OPT_WORKERS: {
            unsigned long long v;
            if (!sio_opt_num(optarg, 1, 1024, &v))
                return usage_err("worker", "bad --workers '%s' (1-1024)", optarg);
            threads = (unsigned)v;
            break;
        }
        case OPT_SECRET: co.secret = optarg; break;
        case OPT_SERVER_KEY: co.server_key = optarg; break;
        case OPT_INSECURE: co.insecure = true; break;
        case OPT_LOG: {
            int l;
            if (sio_opt_level("worker", NULL, "--log-level", optarg, &l))
                return 2;
            sio_log_set_level((enum sio_log_level)l);
            break;
        }
        case OPT_HELP: worker_usage(stdout); return 0;
        default: return sio_opt_getopt_fail("worker", NULL, c, argv);
        }
    }
    if (optind < argc)
        return usage_err("worker", "unexpected argument '%s'", argv[optind]);
    if (!hubspec || !nplugins)
        return usage_err("worker", "--hub and at least one --plugin are required");
    char err[512] = "";
    struct endpoints e;
    if (parse_endpoints(hubspec, &e, err, sizeof err) < 0)
        return usage_err("worker", "%s", err);
    int cur = curve_decide("worker", &e, &co, false);
    if (cur < 0)
        return cur == -EINVAL ? 2 : 1;
    struct sio_bus_curve keys;
    memset(&keys, 0, sizeof keys);
    if (cur && peer_curve(&co, &keys, err, sizeof err) < 0) {
        fprintf(stderr, "sio worker: %s\n", err);
        return 1;
    }

    sigset_t set;
    block_signals(&set, true);
    void *zctx = zmq_ctx_new();
    if (!zctx)
        return 1;
    sio_worker *w = NULL;
    struct sio_worker_cfg wcfg = {
        .zmq_ctx = zctx, .hub_endpoint = e.wk, .plugin_paths = plugins, .nplugins = nplugins,
        .threads = threads, .curve = cur ? &keys : NULL, .drain_ms = 5000,
    };
    int status = 1;
    if (sio_worker_new(&w, &wcfg, err, sizeof err) < 0) {
        fprintf(stderr, "sio worker: %s\n", err);
        goto out;
    }
    printf("worker: %zu plugins, %u shards, hub %s\n", nplugins, threads, e.wk);
    if (mport >= 0 && metrics_start(&mh, mport, render_worker, w, err, sizeof err) < 0) {
        fprintf(stderr, "sio worker: %s\n", err);
        goto out;
    }
    fflush(stdout);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig != SIGHUP) {
            sio_log_info(topic, "signal %d: finishing in-flight events, then BYE", sig);
            break;
        }
        if (sio_worker_reload(w, err, sizeof err) == 0) {
            sio_log_info(topic, "SIGHUP: plugins reloaded");
            printf("worker: plugins reloaded\n");
        } else {
            sio_log_error(topic, "SIGHUP: reload failed, the old plugins keep serving: %s", err);
            printf("worker: reload failed, the old plugins keep serving: %s\n", err);
        }
        fflush(stdout);
    }
    status = 0;
out:
    sio_metrics_http_stop(&mh);
    sio_worker_destroy(&w);
    zmq_ctx_term(zctx);
    return status;
}

/* ---- sio gateway ---- */

static void gateway_stop(sio_gateway *gw, int sig)
{
    (void)sig;
    int left = sio_gateway_drain(gw, 5000);
    if (left > 0)
        sio_log_warn(topic, "drain: %d sessions still open after 5000 ms, closing them", left);
}

/* A decimal in [1, max] for a `sio gateway` flag; false when it is not. */
static bool gateway_num(const char *s, unsigned long long max, unsigned long long *out)
{
    return sio_opt_num(s, 1, max, out);
}

int sio_cmd_gateway(int argc, char **argv)
{
    /* Take our own flags out of argv; the rest are `sio server`'s. */
    const char *hubspec = NULL;
    const char *hold[3] = { NULL, NULL, NULL };     /* timeout, max events, max bytes */
    struct curve_opts co = { 0 };
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return 1;
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "--help") == 0) {
            printf("usage: sio gateway --hub ENDPOINTS [sio server options, without --plugin]\n"
                   "  [--curve-secret FILE --curve-server-key FILE | --insecure-bus]\n"
                   "  [--hold-timeout MS] [--hold-max-events N] [--hold-max-bytes N]\n"
                   "ENDPOINTS as for sio hub --bind. SIGTERM: stop accepting, disconnect every\n"
                   "client (\"io server disconnect\"), wait up to 5 s for them to leave, exit.\n"
                   "A socket whose worker died is held (its unconfirmed events kept) until a\n"
                   "worker adopts it: at most --hold-timeout MS (default 30000), at most\n"
                   "--hold-max-events (default 10000) and --hold-max-bytes (default 16777216)\n"
                   "unconfirmed events per socket; past that it is disconnected (docs/DEPLOY.md).\n\n");
            free(rest);
            return sio_cmd_server(2, (char *[]){ argv[0], (char *)"--help", NULL });
        }
        if (strcmp(a, "--insecure-bus") == 0) {
            co.insecure = true;
            continue;
        }
        if (strcmp(a, "--hub") == 0)
            dst = &hubspec;
        else if (strcmp(a, "--curve-secret") == 0)
            dst = &co.secret;
        else if (strcmp(a, "--curve-server-key") == 0)
            dst = &co.server_key;
        else if (strcmp(a, "--hold-timeout") == 0)
            dst = &hold[0];
        else if (strcmp(a, "--hold-max-events") == 0)
            dst = &hold[1];
        else if (strcmp(a, "--hold-max-bytes") == 0)
            dst = &hold[2];
        else if (strncmp(a, "--hub=", 6) == 0) {
            hubspec = a + 6;
            continue;
        }
        if (dst) {
            if (i + 1 >= argc) {
                free(rest);
                return usage_err("gateway", "%s needs a value", a);
            }
            *dst = argv[++i];
            continue;
        }
        if (strcmp(a, "--plugin") == 0 || strncmp(a, "--plugin=", 9) == 0) {
            free(rest);
            return usage_err("gateway", "--plugin belongs to sio worker");
        }
        rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    int status = 2;
    char err[512] = "";
    struct endpoints e;
    if (!hubspec) {
        usage_err("gateway", "--hub is required");
        goto done;
    }
    if (parse_endpoints(hubspec, &e, err, sizeof err) < 0) {
        usage_err("gateway", "%s", err);
        goto done;
    }
    static const char *const hold_flag[3] = { "--hold-timeout", "--hold-max-events",
                                              "--hold-max-bytes" };
    static const char *const hold_what[3] = { "ms, 1-3600000", "events, 1-100000000",
                                              "bytes, 1-1099511627776" };
    static const unsigned long long hold_max[3] = { 3600000, 100000000, 1ull << 40 };
    unsigned long long hv[3] = { 0, 0, 0 };
    for (int i = 0; i < 3; i++)
        if (hold[i] && (!gateway_num(hold[i], hold_max[i], &hv[i]) || hv[i] > SIZE_MAX)) {
            usage_err("gateway", "bad %s '%s' (%s)", hold_flag[i], hold[i], hold_what[i]);
            goto done;
        }
    int cur = curve_decide("gateway", &e, &co, false);
    if (cur < 0) {
        status = cur == -EINVAL ? 2 : 1;
        goto done;
    }
    struct sio_bus_curve keys;
    memset(&keys, 0, sizeof keys);
    if (cur) {
        if (peer_curve(&co, &keys, err, sizeof err) < 0) {
            fprintf(stderr, "sio gateway: %s\n", err);
            status = 1;
            goto done;
        }
        e.ep.curve = &keys;
    }
    void *zctx = zmq_ctx_new();
    if (!zctx) {
        status = 1;
        goto done;
    }
    struct sio_server_role role = { .zmq_ctx = zctx, .ep = e.ep, .on_stop = gateway_stop };
    role.hold_timeout_ms = (unsigned)hv[0];
    role.hold_max_events = (size_t)hv[1];
    role.hold_max_bytes = (size_t)hv[2];
    status = sio_server_run_gateway(nrest, rest, &role);
    zmq_ctx_term(zctx);
done:
    free(rest);
    return status;
}

/* ---- sio emit ---- */

static void emit_usage(FILE *f)
{
    fprintf(f,
        "usage: sio emit --hub ENDPOINTS [--namespace /x] [--to SID | --room R ...]\n"
        "                [--except R ...] [--except-sid SID ...] EVENT [JSON-ARG ...]\n"
        "\n"
        "Send one event to connected clients through the hub. ENDPOINTS as for\n"
        "sio hub --bind (one base, or three endpoints of which the third, the\n"
        "workers endpoint, is used). Each JSON-ARG is one argument; a word that is\n"
        "not JSON is sent as a string. Exits 0 only when the hub accepted the\n"
        "message, 1 when it refused it or did not answer (--timeout MS, default 5000).\n"
        "\n"
        "  --curve-secret FILE --curve-server-key FILE | --insecure-bus   (tcp://)\n");
}

int sio_cmd_emit(int argc, char **argv)
{
    static const struct option opts[] = {
        { "hub", required_argument, NULL, OPT_HUB },
        { "namespace", required_argument, NULL, OPT_NSP },
        { "to", required_argument, NULL, OPT_TO },
        { "room", required_argument, NULL, OPT_ROOM },
        { "except", required_argument, NULL, OPT_EXCEPT },
        { "except-sid", required_argument, NULL, OPT_EXCEPT_SID },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "curve-secret", required_argument, NULL, OPT_SECRET },
        { "curve-server-key", required_argument, NULL, OPT_SERVER_KEY },
        { "insecure-bus", no_argument, NULL, OPT_INSECURE },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    const char *hubspec = NULL, *nsp = "/", *to = NULL;
    const char *rooms[65], *xr[65], *xs[65];
    size_t nrooms = 0, nxr = 0, nxs = 0;
    unsigned timeout = 5000;
    struct curve_opts co = { 0 };
    sio_opt_begin(1);
    int c;
    /* '+': stop at the first non-option (the event), so JSON args that
     * start with '-' (negative numbers) stay arguments */
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        switch (c) {
        case OPT_HUB: hubspec = optarg; break;
        case OPT_NSP:
            if (optarg[0] != '/')
                return usage_err("emit", "bad --namespace '%s' (starts with '/')", optarg);
            nsp = optarg;
            break;
        case OPT_TO: to = optarg; break;
        case OPT_ROOM:
        case OPT_EXCEPT:
        case OPT_EXCEPT_SID: {
            const char **l = c == OPT_ROOM ? rooms : c == OPT_EXCEPT ? xr : xs;
            size_t *n = c == OPT_ROOM ? &nrooms : c == OPT_EXCEPT ? &nxr : &nxs;
            if (*n == 64)
                return usage_err("emit", "too many %s (at most 64)", argv[optind - 2]);
            l[(*n)++] = optarg;
            break;
        }
        case OPT_TIMEOUT: {
            unsigned long long v;
            if (!sio_opt_num(optarg, 1, 600000, &v))
                return usage_err("emit", "bad --timeout '%s' (ms)", optarg);
            timeout = (unsigned)v;
            break;
        }
        case OPT_SECRET: co.secret = optarg; break;
        case OPT_SERVER_KEY: co.server_key = optarg; break;
        case OPT_INSECURE: co.insecure = true; break;
        case OPT_HELP: emit_usage(stdout); return 0;
        default: return sio_opt_getopt_fail("emit", NULL, c, argv);
        }
    }
    if (!hubspec)
        return usage_err("emit", "--hub is required");
    if (optind >= argc)
        return usage_err("emit", "the EVENT is missing");
    if (to && nrooms)
        return usage_err("emit", "--to and --room exclude each other");
    char err[512] = "";
    struct endpoints e;
    if (parse_endpoints(hubspec, &e, err, sizeof err) < 0)
        return usage_err("emit", "%s", err);
    int cur = curve_decide("emit", &e, &co, false);
    if (cur < 0)
        return cur == -EINVAL ? 2 : 1;
    struct sio_bus_curve keys;
    memset(&keys, 0, sizeof keys);
    if (cur && peer_curve(&co, &keys, err, sizeof err) < 0) {
        fprintf(stderr, "sio emit: %s\n", err);
        return 1;
    }
    const char *event = argv[optind++];
    json_t *args = json_array();
    for (; optind < argc; optind++) {
        json_error_t jerr;
        json_t *v = json_loads(argv[optind], JSON_DECODE_ANY, &jerr);
        json_array_append_new(args, v ? v : json_string(argv[optind]));
    }
    char *args_json = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    struct sio_emitter_cfg ecfg = {
        .endpoint = e.wk, .nsp = nsp, .timeout_ms = timeout,
        .curve_server_key = cur ? keys.server_key : NULL,
        .curve_public_key = cur ? keys.public_key : NULL,
        .curve_secret_key = cur ? keys.secret_key : NULL,
    };
    sio_emitter *em = NULL;
    int rc = sio_emitter_new(&em, &ecfg);
    if (rc == 0) {
        rooms[nrooms] = xr[nxr] = xs[nxs] = NULL;   /* NULL-terminated lists */
        struct sio_to t = {
            .room = to, .rooms = nrooms ? rooms : NULL,
            .except_rooms = nxr ? xr : NULL, .skip_sids = nxs ? xs : NULL,
        };
        rc = sio_emitter_emit(em, &t, event, args_json, NULL, 0);
        if (rc < 0)
            fprintf(stderr, "sio emit: %s\n", sio_emitter_error(em));
    } else
        fprintf(stderr, "sio emit: %s: %s\n", e.wk, strerror(-rc));
    sio_emitter_destroy(&em);
    free(args_json);
    return rc == 0 ? 0 : 1;
}

/* ---- sio keygen ---- */

int sio_cmd_keygen(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                "usage: sio keygen OUT\n"
                "Write a CURVE key pair: OUT.key (secret, mode 0600) and OUT.pub (public),\n"
                "each one line of Z85 text.\n");
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) < 0) {
        fprintf(stderr, "sio keygen: %s (libzmq without CURVE?)\n", zmq_strerror(errno));
        return 1;
    }
    char p[PATH_MAX];
    const char *paths[2] = { NULL, NULL };
    char pk[PATH_MAX], sk[PATH_MAX];
    snprintf(sk, sizeof sk, "%s.key", argv[1]);
    snprintf(pk, sizeof pk, "%s.pub", argv[1]);
    paths[0] = sk;
    paths[1] = pk;
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s", paths[i]);
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, i == 0 ? 0600 : 0644);
        if (fd < 0) {
            fprintf(stderr, "sio keygen: %s: %s\n", p, strerror(errno));
            return 1;
        }
        char line[48];
        int n = snprintf(line, sizeof line, "%s\n", i == 0 ? sec : pub);
        if (write(fd, line, (size_t)n) != n || close(fd) < 0) {
            fprintf(stderr, "sio keygen: %s: %s\n", p, strerror(errno));
            return 1;
        }
    }
    printf("%s\n", pub);
    return 0;
}

/* server.c: `sio server`: gateway + hub + worker shards in one process
 * (embedded mode), connected over inproc:// endpoints of one zmq context.
 *
 * Exit status: 0 after SIGINT/SIGTERM, 1 when something cannot start (a
 * plugin, the port), 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>
#include <sio/sio.h>
#include "proto/bus.h"
#include "core/hub.h"
#include "core/worker.h"
#include "edge/gateway/gateway.h"
#include "tools/server.h"
#include "tools/config.h"
#include "adapters/dispatch.h"
#include "base/buf.h"
#include "tools/metrics_http.h"
#include "tools/opts.h"

SIO_LOG_TOPIC_STATIC(topic, "tools.server");

#define MAX_PLUGINS 64
#define MAX_STATICS 32
#define MAX_BRIDGES 8
#define MAX_SNI 32

static void server_usage(FILE *f)
{
    fprintf(f,
        "usage: sio server --plugin PATH.so [--plugin PATH.so ...] [options]\n"
        "\n"
        "Run a Socket.IO server: gateway, hub and worker threads in one process.\n"
        "\n"
        "options:\n"
        "  --plugin PATH.so          load a handler plugin (repeatable, at least one)\n"
        "  --host HOST               address to listen on (default 127.0.0.1)\n"
        "  --port PORT               TCP port (default 5000)\n"
        "  --path PATH               Socket.IO path (default /socket.io/)\n"
        "  --engineio-path PATH      serve raw Engine.IO at PATH (default off)\n"
        "  --ping-interval MS        Engine.IO ping interval (default 25000)\n"
        "  --ping-timeout MS         Engine.IO ping timeout (default 20000)\n"
        "  --max-payload BYTES       largest accepted message (default 1000000)\n"
        "  --transports LIST         polling,websocket or a subset (default both)\n"
        "  --workers N               worker threads (default 1)\n"
        "  --io-threads N            gateway I/O threads, at most 64 (default 0: one per core)\n"
        "  --log-level LEVEL         error|warn|info|debug|trace (default warn)\n"
        "  --engineio-log-level LEVEL  level of the Engine.IO topics (edge.eio, edge.ws)\n"
        "  --socketio-log-level LEVEL  level of the Socket.IO topics (edge.sio)\n"
        "  --allow-upgrades          advertise and accept polling -> websocket upgrades (default)\n"
        "  --no-allow-upgrades       handshake says \"upgrades\":[]; upgrade requests get 400\n"
        "\n"
        "HTTP options (docs/SERVER.md):\n"
        "  --cors-allowed-origins L  allowed Origins: one, a comma-separated list, '*' (any),\n"
        "                            or '' (no CORS handling); default: same origin only\n"
        "  --no-cors-credentials     no Access-Control-Allow-Credentials: true\n"
        "  --cors-credentials        send it (default)\n"
        "  --cors-mode MODE          python (default) or js (socket.io's `cors` option)\n"
        "  --cookie NAME             Set-Cookie NAME=<sid> on the polling handshake\n"
        "  --no-http-compression     no gzip/deflate of polling responses\n"
        "                            (alias --no-compression)\n"
        "  --compression-threshold N compress polling bodies of N bytes or more (default 1024)\n"
        "  --static PREFIX=DIR       serve files of DIR under URL PREFIX (repeatable)\n"
        "  --static-file URL=FILE[:TYPE]  serve FILE at exactly URL, as Content-Type TYPE\n"
        "                            (default: by extension); repeatable\n"
        "  --static-default-file NAME  file a directory URL serves (default index.html)\n"
        "  --upstream http://HOST:PORT  forward every other request to this HTTP app\n"
        "\n"
        "TLS options (docs/SERVER.md \"TLS\"):\n"
        "  --tls-cert FILE           serve HTTPS/WSS with this PEM certificate (chain after\n"
        "                            the leaf); needs --tls-key; reloaded on SIGHUP\n"
        "  --tls-key FILE            the certificate's PEM private key\n"
        "  --tls-sni HOST=CERT:KEY   another certificate for SNI name HOST (repeatable)\n"
        "  --tls-client-ca FILE      require a client certificate signed by this PEM CA\n"
        "  --config FILE             read flags from a JSON file; command-line flags win\n"
        "  --bridge URL              relay python-socketio / socket.io emitters from a broker:\n"
        "                            redis://HOST[:PORT][/CHANNEL], amqp://USER:PASS@HOST[:PORT]/VHOST,\n"
        "                            kafka://HOST:PORT[/TOPIC] (repeatable; docs/BRIDGES.md)\n"
        "                            URL options: ?publish=1 (this bridge publishes),\n"
        "                            ?format=pickle (publish for python-socketio <= 5.13)\n"
        "  --bridge-publish          every --bridge also publishes this deployment's\n"
        "                            broadcasts (python-socketio manager format, JSON)\n"
        "\n"
        "Limits (docs/RELIABILITY.md):\n"
        "  --max-client-buffer BYTES output a client may leave unread before it is dropped\n"
        "                            (default 4194304)\n"
        "  --close-timeout MS        a closing connection's output may take this long to\n"
        "                            drain, then TCP is cut (default 5000)\n"
        "  --max-connections N       connections and sessions of this gateway; more get 503\n"
        "                            (default: the open files limit less 128)\n"
        "  --max-conns-per-ip N      connections per client address; more get 429 (default 0: off)\n"
        "  --max-handshakes-per-ip-per-second N  new sessions per address and second; more\n"
        "                            get 429 (default 0: off)\n"
        "  --max-events-per-second N packets per client and second; over it the client is not\n"
        "                            read until it is under again (default 0: off)\n"
        "  --connect-timeout MS      a client that joins no namespace in time is closed\n"
        "                            (default 45000)\n"
        "  --max-inflight-events N   events of one socket waiting for its handler before the\n"
        "                            client is not read (default 256)\n"
        "\n"
        "Admin UI (docs/ADMIN.md):\n"
        "  --admin                   serve the Socket.IO Admin UI protocol (default off);\n"
        "                            credentials from SIO_ADMIN_USER (default admin) and\n"
        "                            SIO_ADMIN_PASSWORD (plain or a bcrypt $2a$/$2b$ hash)\n"
        "  --admin-namespace NSP     its namespace (default /admin)\n"
        "  --admin-user NAME         the user name (overrides SIO_ADMIN_USER)\n"
        "  --admin-password PASS     the password or bcrypt hash (overrides SIO_ADMIN_PASSWORD;\n"
        "                            prefer the environment or --config: argv is public)\n"
        "  --admin-no-auth           no credentials asked (logs a warning)\n"
        "  --admin-readonly          advertise no actions and refuse them\n"
        "  --admin-mode MODE         development (default: every event) or production\n"
        "                            (aggregated data only)\n"
        "  --admin-ui PREFIX         serve the UI itself under URL PREFIX, e.g. /admin-ui/\n"
        "  --admin-ui-dir DIR        the UI's files: the ui/dist folder of npm\n"
        "                            @socket.io/admin-ui (default SIO_ADMIN_UI_DIR, then\n"
        "                            ./node_modules/@socket.io/admin-ui/ui/dist)\n"
        "\n"
        "Metrics (docs/ADMIN.md):\n"
        "  --metrics                 serve GET /metrics (Prometheus text format) on the\n"
        "                            gateway's port\n"
        "  --metrics-port PORT       serve it on this port of --host instead (0: pick one)\n"
        "  --help                    show this help\n");
}

#define bad_usage(...) sio_opt_fail("server", server_usage, __VA_ARGS__)

static bool parse_transports(const char *s, bool *polling, bool *websocket)
{
    *polling = *websocket = false;
    char *dup = strdup(s);
    if (!dup)
        return false;
    bool ok = true;
    char *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strcmp(t, "polling") == 0)
            *polling = true;
        else if (strcmp(t, "websocket") == 0)
            *websocket = true;
        else
            ok = false;
    }
    free(dup);
    return ok && (*polling || *websocket);
}

enum {
    OPT_PLUGIN = 256, OPT_HOST, OPT_PORT, OPT_PATH, OPT_EIO_PATH, OPT_PING_INTERVAL,
    OPT_PING_TIMEOUT, OPT_MAX_PAYLOAD, OPT_TRANSPORTS, OPT_WORKERS, OPT_LOG_LEVEL, OPT_HELP,
    /* HTTP options */
    OPT_CORS_ORIGINS, OPT_CORS_CRED, OPT_NO_CORS_CRED, OPT_CORS_MODE, OPT_COOKIE,
    OPT_NO_COMPRESSION, OPT_COMPRESSION_THRESHOLD, OPT_STATIC,
    OPT_STATIC_FILE, OPT_STATIC_DEFAULT, OPT_UPSTREAM, OPT_CONFIG,
    OPT_ALLOW_UPGRADES, OPT_NO_ALLOW_UPGRADES, OPT_EIO_LOG_LEVEL, OPT_SIO_LOG_LEVEL,
    OPT_BRIDGE, OPT_IO_THREADS, OPT_BRIDGE_PUBLISH,
    OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_SNI, OPT_TLS_CLIENT_CA,
    OPT_ADMIN, OPT_ADMIN_NSP, OPT_ADMIN_USER, OPT_ADMIN_PASSWORD, OPT_ADMIN_NO_AUTH,
    OPT_ADMIN_READONLY, OPT_ADMIN_MODE, OPT_ADMIN_UI, OPT_ADMIN_UI_DIR,
    OPT_METRICS, OPT_METRICS_PORT,
    OPT_LIMIT,          /* one of limit_opts (docs/RELIABILITY.md) */
};

/* The numeric limits: flag, field of the gateway config, range, unit. */
struct limit_opt {
    const char *name;
    size_t off;
    bool is_size;               /* size_t field, else unsigned */
    unsigned long long min, max;
    const char *what;
};
/* one line per limit: X(flag, field, is_size, min, max, what) */
#define SIO_LIMITS(X) \
    X("max-client-buffer", max_client_buffer, true, 1024, SIZE_MAX, "bytes >= 1024") \
    X("close-timeout", close_timeout_ms, false, 1, UINT_MAX, "milliseconds > 0") \
    X("max-connections", max_connections, false, 1, UINT_MAX, "a count > 0") \
    X("max-conns-per-ip", max_conns_per_ip, false, 0, UINT_MAX, "a count; 0 = no limit") \
    X("max-handshakes-per-ip-per-second", max_handshakes_per_ip, false, 0, UINT_MAX, \
      "a count; 0 = no limit") \
    X("max-events-per-second", max_events_per_sec, false, 0, UINT_MAX, "a count; 0 = no limit") \
    X("connect-timeout", connect_timeout_ms, false, 1, UINT_MAX, "milliseconds > 0") \
    X("max-inflight-events", inflight_max, false, 1, 1000000, "1-1000000")
#define LIMIT_OPT(n, f, sz, lo, hi, w) { n, offsetof(struct sio_gateway_cfg, f), sz, lo, hi, w },
static const struct limit_opt limit_opts[] = { SIO_LIMITS(LIMIT_OPT) };
#define NLIMITS (sizeof limit_opts / sizeof limit_opts[0])

/* --engineio-log-level / --socketio-log-level: topic prefixes of each layer
 * (python-socketio's engineio_logger / logger). */
static const char *const eio_log_topics[] = { "edge.eio", "edge.ws", NULL };
static const char *const sio_log_topics[] = { "edge.sio", NULL };

/* A cookie name is an RFC 6265 token. */
static bool cookie_name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s))
            return false;
    return true;
}

/* Set by sio_server_run_gateway() (tools/roles.c): run only the gateway,
 * against the role's zmq context and hub endpoints; --plugin not needed. */
static const struct sio_server_role *role;

int sio_server_run_gateway(int argc, char **argv, const struct sio_server_role *r)
{
    role = r;
    int rc = sio_cmd_server(argc, argv);
    role = NULL;
    return rc;
}

/* The embedded parts whose metrics follow the gateway's. */
struct server_metrics {
    sio_hub *hub;
    sio_worker *worker;
    sio_bridge_any **br;
    size_t nbr;
};

static void metrics_extra(struct sio_buf *b, void *ud)
{
    struct server_metrics *m = ud;
    if (m->hub)
        sio_hub_metrics(m->hub, b);
    if (m->worker)
        sio_worker_metrics(m->worker, b);
    if (!m->nbr)
        return;
    static const struct { const char *name, *help; size_t off; } f[] = {
        { "sio_bridge_in_total", "messages received from the broker",
          offsetof(struct sio_bridge_stats, in) },
        { "sio_bridge_delivered_total", "broker messages turned into commands",
          offsetof(struct sio_bridge_stats, delivered) },
        { "sio_bridge_rejected_total", "malformed or refused broker messages",
          offsetof(struct sio_bridge_stats, rejected) },
        { "sio_bridge_reconnects_total", "broker reconnections",
          offsetof(struct sio_bridge_stats, reconnects) },
        { "sio_bridge_published_total", "broadcasts published to the broker",
          offsetof(struct sio_bridge_stats, pub.published) },
        { "sio_bridge_dropped_total", "broadcasts dropped (queue full or broker down)",
          offsetof(struct sio_bridge_stats, pub.dropped_full) },
    };
    for (size_t k = 0; k < sizeof f / sizeof *f; k++) {
        char line[256];
        int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s counter\n", f[k].name,
                         f[k].help, f[k].name);
        sio_buf_append(b, line, (size_t)n);
        for (size_t i = 0; i < m->nbr; i++) {
            struct sio_bridge_stats st;
            sio_bridge_any_get_stats(m->br[i], &st);
            uint64_t v = *(const uint64_t *)((const char *)&st + f[k].off);
            if (f[k].off == offsetof(struct sio_bridge_stats, pub.dropped_full))
                v += st.pub.dropped_down;
            n = snprintf(line, sizeof line, "%s{bridge=\"%zu\"} %llu\n", f[k].name, i,
                         (unsigned long long)v);
            sio_buf_append(b, line, (size_t)n);
        }
    }
}

static int render_gateway(struct sio_buf *b, void *ud)
{
    return sio_gateway_metrics(ud, b);
}

static const struct option server_opts[] = {
    { "plugin", required_argument, NULL, OPT_PLUGIN },
    { "host", required_argument, NULL, OPT_HOST },
    { "port", required_argument, NULL, OPT_PORT },
    { "path", required_argument, NULL, OPT_PATH },
    { "engineio-path", required_argument, NULL, OPT_EIO_PATH },
    { "ping-interval", required_argument, NULL, OPT_PING_INTERVAL },
    { "ping-timeout", required_argument, NULL, OPT_PING_TIMEOUT },
    { "max-payload", required_argument, NULL, OPT_MAX_PAYLOAD },
    { "transports", required_argument, NULL, OPT_TRANSPORTS },
    { "workers", required_argument, NULL, OPT_WORKERS },
    { "io-threads", required_argument, NULL, OPT_IO_THREADS },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "help", no_argument, NULL, OPT_HELP },
    { "cors-allowed-origins", required_argument, NULL, OPT_CORS_ORIGINS },
    { "cors-credentials", no_argument, NULL, OPT_CORS_CRED },
    { "no-cors-credentials", no_argument, NULL, OPT_NO_CORS_CRED },
    { "cors-mode", required_argument, NULL, OPT_CORS_MODE },
    { "cookie", required_argument, NULL, OPT_COOKIE },
    { "no-compression", no_argument, NULL, OPT_NO_COMPRESSION },
    { "no-http-compression", no_argument, NULL, OPT_NO_COMPRESSION },
    { "allow-upgrades", no_argument, NULL, OPT_ALLOW_UPGRADES },
    { "no-allow-upgrades", no_argument, NULL, OPT_NO_ALLOW_UPGRADES },
    { "engineio-log-level", required_argument, NULL, OPT_EIO_LOG_LEVEL },
    { "socketio-log-level", required_argument, NULL, OPT_SIO_LOG_LEVEL },
    { "compression-threshold", required_argument, NULL, OPT_COMPRESSION_THRESHOLD },
    { "static", required_argument, NULL, OPT_STATIC },
    { "static-file", required_argument, NULL, OPT_STATIC_FILE },
    { "static-default-file", required_argument, NULL, OPT_STATIC_DEFAULT },
    { "upstream", required_argument, NULL, OPT_UPSTREAM },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "bridge", required_argument, NULL, OPT_BRIDGE },
    { "bridge-publish", no_argument, NULL, OPT_BRIDGE_PUBLISH },
    { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
    { "tls-key", required_argument, NULL, OPT_TLS_KEY },
    { "tls-sni", required_argument, NULL, OPT_TLS_SNI },
    { "tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA },
    { "admin", no_argument, NULL, OPT_ADMIN },
    { "admin-namespace", required_argument, NULL, OPT_ADMIN_NSP },
    { "admin-user", required_argument, NULL, OPT_ADMIN_USER },
    { "admin-password", required_argument, NULL, OPT_ADMIN_PASSWORD },
    { "admin-no-auth", no_argument, NULL, OPT_ADMIN_NO_AUTH },
    { "admin-readonly", no_argument, NULL, OPT_ADMIN_READONLY },
    { "admin-mode", required_argument, NULL, OPT_ADMIN_MODE },
    { "admin-ui", required_argument, NULL, OPT_ADMIN_UI },
    { "admin-ui-dir", required_argument, NULL, OPT_ADMIN_UI_DIR },
    { "metrics", no_argument, NULL, OPT_METRICS },
    { "metrics-port", required_argument, NULL, OPT_METRICS_PORT },
#define LIMIT_GETOPT(n, f, sz, lo, hi, w) { n, required_argument, NULL, OPT_LIMIT },
    SIO_LIMITS(LIMIT_GETOPT)
    { NULL, 0, NULL, 0 },
};

/* What the command line (and --config) of `sio server` says. */
struct server_args {
    const char *plugins[MAX_PLUGINS];
    size_t nplugins;
    const char *bridges[MAX_BRIDGES];
    size_t nbridges;
    bool bridge_publish;
    struct sio_gateway_cfg gcfg;
    struct sio_static_mount statics[MAX_STATICS];
    struct sio_gateway_sni snis[MAX_SNI];
    unsigned workers;
    const char *admin_ui, *admin_ui_dir;
    int metrics_port;
    int log_level, eio_level, sio_level;
};

/* Step 1: read the options into a. Returns -1 to go on, or the exit
 * status (0 after --help, 2 for bad usage). */
static int parse_args(struct server_args *a, int argc, char **argv)
{
    *a = (struct server_args){
        .gcfg = {
            .host = "127.0.0.1", .port = 5000, .path = "/socket.io/", .engineio_path = NULL,
            .ping_interval_ms = 25000, .ping_timeout_ms = 20000, .max_payload = 1000000,
            .cors_mode = SIO_CORS_PYTHON, .compression_threshold = 1024,
        },
        .workers = 1, .metrics_port = -1, .log_level = -1, .eio_level = -1, .sio_level = -1,
    };
    /* the --tls-sni values split in place (one run per process) */
    static char sni_text[MAX_SNI][4096];
    char *eq;
    unsigned long long v;
    bool polling, websocket;

    /* --config FILE: its flags go first, so the command line's win */
    static const char *const cfg_rep[] = { "plugin", "static", "static-file", "bridge",
                                           "tls-sni", NULL };
    static const char *const cfg_maps[] = { "static", "static-file", "tls-sni", NULL };
    static const char *const cfg_lists[] = { "transports", "cors-allowed-origins", NULL };
    static const char *const cfg_excl[] = { "help", "config", NULL };
    const struct sio_config_spec cspec = { .cmd = "sio server", .opts = server_opts,
        .repeatable = cfg_rep, .maps = cfg_maps, .lists = cfg_lists, .excluded = cfg_excl };
    char **cargv;
    int cargc, crc = sio_config_argv(&cspec, argc, argv, &cargc, &cargv);
    if (crc)
        return crc;
    if (cargv) {
        argc = cargc;
        argv = cargv;
    }

    sio_opt_begin(1);
    int c;
    /* leading ':' so a missing argument is ':' and an unknown flag '?' */
    int li = -1;
    while ((c = getopt_long(argc, argv, ":", server_opts, &li)) != -1) {
        switch (c) {
        case OPT_PLUGIN:
            if (!*optarg)
                return bad_usage("--plugin needs a path");
            if (a->nplugins == MAX_PLUGINS)
                return bad_usage("too many --plugin (at most 64)");
            a->plugins[a->nplugins++] = optarg;
            break;
        case OPT_HOST:
            if (!*optarg)
                return bad_usage("--host needs an address");
            a->gcfg.host = optarg;
            break;
        case OPT_PORT:
            if (!sio_opt_num(optarg, 0, 65535, &v))
                return bad_usage("bad --port '%s' (0-65535)", optarg);
            a->gcfg.port = (uint16_t)v;
            break;
        case OPT_PATH:
            if (optarg[0] != '/')
                return bad_usage("bad --path '%s' (must start with '/')", optarg);
            a->gcfg.path = optarg;
            break;
        case OPT_EIO_PATH:
            if (optarg[0] != '/')
                return bad_usage("bad --engineio-path '%s' (must start with '/')", optarg);
            a->gcfg.engineio_path = optarg;
            break;
        case OPT_PING_INTERVAL:
            if (!sio_opt_num(optarg, 1, UINT_MAX, &v))
                return bad_usage("bad --ping-interval '%s' (milliseconds > 0)", optarg);
            a->gcfg.ping_interval_ms = (unsigned)v;
            break;
        case OPT_PING_TIMEOUT:
            if (!sio_opt_num(optarg, 1, UINT_MAX, &v))
                return bad_usage("bad --ping-timeout '%s' (milliseconds > 0)", optarg);
            a->gcfg.ping_timeout_ms = (unsigned)v;
            break;
        case OPT_MAX_PAYLOAD:
            if (!sio_opt_num(optarg, 1, SIZE_MAX, &v))
                return bad_usage("bad --max-payload '%s' (bytes > 0)", optarg);
            a->gcfg.max_payload = (size_t)v;
            break;
        case OPT_TRANSPORTS:
            if (!parse_transports(optarg, &polling, &websocket))
                return bad_usage("bad --transports '%s' (polling, websocket or both, comma-separated)", optarg);
            a->gcfg.no_polling = !polling;
            a->gcfg.no_websocket = !websocket;
            break;
        case OPT_WORKERS:
            if (!sio_opt_num(optarg, 1, 1024, &v))
                return bad_usage("bad --workers '%s' (1-1024)", optarg);
            a->workers = (unsigned)v;
            break;
        case OPT_IO_THREADS:
            if (!sio_opt_num(optarg, 0, 64, &v))
                return bad_usage("bad --io-threads '%s' (0-64; 0 = one per core)", optarg);
            a->gcfg.io_threads = (unsigned)v;
            break;
        case OPT_LOG_LEVEL:
            if (sio_opt_level("server", server_usage, "--log-level", optarg, &a->log_level))
                return 2;
            break;
        case OPT_EIO_LOG_LEVEL:
            if (sio_opt_level("server", server_usage, "--engineio-log-level", optarg,
                              &a->eio_level))
                return 2;
            break;
        case OPT_SIO_LOG_LEVEL:
            if (sio_opt_level("server", server_usage, "--socketio-log-level", optarg,
                              &a->sio_level))
                return 2;
            break;
        case OPT_ALLOW_UPGRADES:
        case OPT_NO_ALLOW_UPGRADES:
            a->gcfg.no_upgrades = c == OPT_NO_ALLOW_UPGRADES;
            break;
        case OPT_HELP:
            server_usage(stdout);
            return 0;
        case OPT_LIMIT: {
            const struct limit_opt *lo = limit_opts;
            while (strcmp(lo->name, server_opts[li].name) != 0)    /* the table made opts */
                lo++;
            if (!sio_opt_num(optarg, lo->min, lo->max, &v))
                return bad_usage("bad --%s '%s' (%s)", lo->name, optarg, lo->what);
            char *f = (char *)&a->gcfg + lo->off;
            if (lo->is_size)
                *(size_t *)f = (size_t)v;
            else
                *(unsigned *)f = (unsigned)v;
            break;
        }
        /* HTTP options */
        case OPT_CORS_ORIGINS:
            a->gcfg.cors_allowed_origins = optarg;
            break;
        case OPT_CORS_CRED:
        case OPT_NO_CORS_CRED:
            a->gcfg.no_cors_credentials = c == OPT_NO_CORS_CRED;
            break;
        case OPT_CORS_MODE:
            if (strcmp(optarg, "python") == 0)
                a->gcfg.cors_mode = SIO_CORS_PYTHON;
            else if (strcmp(optarg, "js") == 0)
                a->gcfg.cors_mode = SIO_CORS_JS;
            else
                return bad_usage("bad --cors-mode '%s' (python or js)", optarg);
            break;
        case OPT_COOKIE:
            if (!cookie_name_ok(optarg))
                return bad_usage("bad --cookie '%s' (a cookie name token, at most 64 chars)", optarg);
            a->gcfg.cookie = optarg;
            break;
        case OPT_NO_COMPRESSION:
            a->gcfg.no_compression = true;
            break;
        case OPT_COMPRESSION_THRESHOLD:
            if (!sio_opt_num(optarg, 1, SIZE_MAX, &v))
                return bad_usage("bad --compression-threshold '%s' (bytes > 0)", optarg);
            a->gcfg.compression_threshold = (size_t)v;
            break;
        case OPT_STATIC:
            eq = strchr(optarg, '=');
            if (optarg[0] != '/' || !eq || !eq[1])
                return bad_usage("bad --static '%s' (URLPREFIX=DIR, the prefix starting with '/')", optarg);
            if (a->gcfg.nstatics == MAX_STATICS)
                return bad_usage("too many --static (at most %d)", MAX_STATICS);
            *eq = 0;    /* argv is ours to split */
            a->statics[a->gcfg.nstatics++] = (struct sio_static_mount){ .prefix = optarg, .dir = eq + 1 };
            a->gcfg.statics = a->statics;
            break;
        case OPT_STATIC_FILE: {
            struct sio_static_mount sm = { 0 };
            if (!sio_config_split_static_file(optarg, &sm.prefix, &sm.file, &sm.content_type))
                return bad_usage("bad --static-file '%s' (URL=FILE[:CONTENT-TYPE], the URL starting with '/')", optarg);
            if (a->gcfg.nstatics == MAX_STATICS)
                return bad_usage("too many --static and --static-file (at most %d)", MAX_STATICS);
            a->statics[a->gcfg.nstatics++] = sm;
            a->gcfg.statics = a->statics;
            break;
        }
        case OPT_STATIC_DEFAULT:
            if (!*optarg || strchr(optarg, '/') || !strcmp(optarg, ".") || !strcmp(optarg, ".."))
                return bad_usage("bad --static-default-file '%s' (a file name, no '/')", optarg);
            a->gcfg.static_default_file = optarg;
            break;
        case OPT_UPSTREAM:
            if (strncmp(optarg, "http://", 7) != 0 || !optarg[7])
                return bad_usage("bad --upstream '%s' (http://HOST:PORT)", optarg);
            a->gcfg.upstream = optarg;
            break;
        case OPT_BRIDGE:
            if (a->nbridges == MAX_BRIDGES)
                return bad_usage("too many --bridge (at most %d)", MAX_BRIDGES);
            a->bridges[a->nbridges++] = optarg;
            break;
        case OPT_BRIDGE_PUBLISH:
            a->bridge_publish = true;
            break;
        case OPT_TLS_CERT:
            a->gcfg.tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            a->gcfg.tls_key = optarg;
            break;
        case OPT_TLS_CLIENT_CA:
            a->gcfg.tls_client_ca = optarg;
            break;
        case OPT_TLS_SNI: {
            /* HOST=CERT:KEY (the last ':' splits, so CERT may hold one) */
            if (a->gcfg.ntls_sni == MAX_SNI)
                return bad_usage("too many --tls-sni (at most %d)", MAX_SNI);
            char *d = sni_text[a->gcfg.ntls_sni];
            if (strlen(optarg) >= sizeof sni_text[0])
                return bad_usage("--tls-sni '%s' is too long", optarg);
            strcpy(d, optarg);
            char *e = strchr(d, '='), *k = e ? strrchr(e + 1, ':') : NULL;
            if (!e || e == d || !k || k == e + 1 || !k[1])
                return bad_usage("bad --tls-sni '%s' (HOST=CERT:KEY)", optarg);
            *e = *k = 0;
            a->snis[a->gcfg.ntls_sni++] = (struct sio_gateway_sni){ d, e + 1, k + 1 };
            a->gcfg.tls_sni = a->snis;
            break;
        }
        case OPT_ADMIN:
            a->gcfg.admin = true;
            break;
        case OPT_ADMIN_NSP:
            if (optarg[0] != '/')
                return bad_usage("bad --admin-namespace '%s' (must start with '/')", optarg);
            a->gcfg.admin_nsp = optarg;
            break;
        case OPT_ADMIN_USER:
            if (!*optarg)
                return bad_usage("--admin-user needs a name");
            a->gcfg.admin_user = optarg;
            break;
        case OPT_ADMIN_PASSWORD:
            a->gcfg.admin_password = optarg;
            break;
        case OPT_ADMIN_NO_AUTH:
            a->gcfg.admin_no_auth = true;
            break;
        case OPT_ADMIN_READONLY:
            a->gcfg.admin_readonly = true;
            break;
        case OPT_ADMIN_MODE:
            if (strcmp(optarg, "development") && strcmp(optarg, "production"))
                return bad_usage("bad --admin-mode '%s' (development or production)", optarg);
            a->gcfg.admin_production = !strcmp(optarg, "production");
            break;
        case OPT_ADMIN_UI:
            if (optarg[0] != '/')
                return bad_usage("bad --admin-ui '%s' (a URL prefix starting with '/')", optarg);
            a->admin_ui = optarg;
            break;
        case OPT_ADMIN_UI_DIR:
            if (!*optarg)
                return bad_usage("--admin-ui-dir needs a directory");
            a->admin_ui_dir = optarg;
            break;
        case OPT_METRICS:
            a->gcfg.metrics = true;
            break;
        case OPT_METRICS_PORT:
            if (!sio_opt_num(optarg, 0, 65535, &v))
                return bad_usage("bad --metrics-port '%s' (0-65535)", optarg);
            a->metrics_port = (int)v;
            a->gcfg.metrics = a->gcfg.metrics_elsewhere = true;
            break;
        case OPT_CONFIG:    /* read by sio_config_argv() above */
            break;
        default:
            return sio_opt_getopt_fail("server", server_usage, c, argv);
        }
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    if (a->nplugins == 0 && !role)
        return bad_usage("at least one --plugin is required");
    if (!a->gcfg.tls_cert != !a->gcfg.tls_key)
        return bad_usage("--tls-cert and --tls-key go together");
    if (!a->gcfg.tls_cert && (a->gcfg.ntls_sni || a->gcfg.tls_client_ca))
        return bad_usage("--tls-sni and --tls-client-ca need --tls-cert and --tls-key");
    return -1;
}

/* Step 2: the log levels the options ask for. */
static void apply_log_levels(const struct server_args *a)
{
    if (a->log_level >= 0)
        sio_log_set_level((enum sio_log_level)a->log_level);
    for (size_t i = 0; a->eio_level >= 0 && eio_log_topics[i]; i++)
        sio_log_set_topic_level(eio_log_topics[i], (enum sio_log_level)a->eio_level);
    for (size_t i = 0; a->sio_level >= 0 && sio_log_topics[i]; i++)
        sio_log_set_topic_level(sio_log_topics[i], (enum sio_log_level)a->sio_level);
}

/* Step 3: the Admin UI's files (npm @socket.io/admin-ui's ui/dist) as a
 * static mount, and the admin credentials from the environment unless a
 * flag (or --config) gives them. -1 to go on, or 2 (bad usage). */
static int admin_setup(struct server_args *a)
{
    struct sio_gateway_cfg *g = &a->gcfg;
    if (g->admin) {
        if (!g->admin_user && getenv("SIO_ADMIN_USER") && *getenv("SIO_ADMIN_USER"))
            g->admin_user = getenv("SIO_ADMIN_USER");
        if (!g->admin_password && getenv("SIO_ADMIN_PASSWORD"))
            g->admin_password = getenv("SIO_ADMIN_PASSWORD");
    }
    if (!a->admin_ui)
        return -1;
    static const char *const guesses[] = {
        "node_modules/@socket.io/admin-ui/ui/dist",
        "tests/interop/node_modules/@socket.io/admin-ui/ui/dist", NULL };
    if (!a->admin_ui_dir)
        a->admin_ui_dir = getenv("SIO_ADMIN_UI_DIR");
    for (size_t i = 0; !a->admin_ui_dir && guesses[i]; i++) {
        char f[256];
        snprintf(f, sizeof f, "%s/index.html", guesses[i]);
        if (access(f, R_OK) == 0)
            a->admin_ui_dir = guesses[i];
    }
    if (!a->admin_ui_dir)
        return bad_usage("--admin-ui %s: where is the UI? pass --admin-ui-dir DIR (the ui/dist "
                         "folder of npm @socket.io/admin-ui) or set SIO_ADMIN_UI_DIR", a->admin_ui);
    if (g->nstatics == MAX_STATICS)
        return bad_usage("too many --static and --static-file (at most %d)", MAX_STATICS);
    a->statics[g->nstatics++] = (struct sio_static_mount){ .prefix = a->admin_ui,
                                                           .dir = a->admin_ui_dir };
    g->statics = a->statics;
    return -1;
}

/* What runs, stopped in reverse order by stop_all(). */
struct server_run {
    void *zctx;
    sio_hub *hub;
    sio_worker *worker;
    sio_bridge_any *br[MAX_BRIDGES];
    size_t nbr;
    sio_gateway *gw;
    sio_metrics_http *mhttp;
    struct server_metrics smx;
};

static const struct sio_bus_endpoints inproc_ep = {
    .events = SIO_BUS_INPROC_EVENTS,
    .commands = SIO_BUS_INPROC_COMMANDS,
    .workers = SIO_BUS_INPROC_WORKERS,
};

/* Step 4 (embedded only): the hub, the worker with the plugins, the
 * bridges. 0 or -1 (err set). */
static int start_core(struct server_run *r, const struct server_args *a, char *err, size_t errlen)
{
    struct sio_hub_cfg hcfg = { .zmq_ctx = r->zctx, .ep = inproc_ep };
    if (sio_hub_new(&r->hub, &hcfg, err, errlen) < 0)
        return -1;
    struct sio_worker_cfg wcfg = {
        .zmq_ctx = r->zctx, .hub_endpoint = inproc_ep.workers,
        .plugin_paths = a->plugins, .nplugins = a->nplugins, .threads = a->workers,
    };
    if (sio_worker_new(&r->worker, &wcfg, err, errlen) < 0)
        return -1;
    /* one host id for the deployment: what its bridges publish carries it,
     * and what comes back with it is skipped (docs/BRIDGES.md) */
    char host_id[33];
    sio_bridge_host_id(host_id);
    const struct sio_bridge_opts bopts = { .publish = a->bridge_publish,
        .commands_endpoint = inproc_ep.commands, .host_id = host_id };
    if (a->nbridges)
        sio_log_info(topic, "bridges: host id %s", host_id);
    for (; r->nbr < a->nbridges; r->nbr++)
        if (sio_bridge_any_start(&r->br[r->nbr], r->zctx, inproc_ep.workers, a->bridges[r->nbr],
                                 &bopts, err, errlen) < 0)
            return -1;
    return 0;
}

/* Step 5: the gateway (and its metrics port) on the embedded bus or the
 * split role's. 0 or -1 (err set). */
static int start_gateway(struct server_run *r, struct server_args *a, char *err, size_t errlen)
{
    struct sio_gateway_cfg *g = &a->gcfg;
    g->zmq_ctx = r->zctx;
    g->ep = role ? role->ep : inproc_ep;
    g->at_least_once = role != NULL;    /* split roles: a worker may die alone */
    if (role) {
        g->hold_timeout_ms = role->hold_timeout_ms;
        g->hold_max_events = role->hold_max_events;
        g->hold_max_bytes = role->hold_max_bytes;
    }
    if (g->metrics) {
        /* the embedded hub, worker and bridges follow the gateway's metrics */
        r->smx = (struct server_metrics){ .hub = r->hub, .worker = r->worker, .br = r->br,
                                          .nbr = r->nbr };
        g->metrics_extra = metrics_extra;
        g->metrics_ud = &r->smx;
    }
    if (sio_gateway_new(&r->gw, g, err, errlen) < 0)
        return -1;
    if (a->metrics_port >= 0) {
        uint16_t mp = 0;
        if (sio_metrics_http_start(&r->mhttp, g->host, (uint16_t)a->metrics_port, render_gateway,
                                   r->gw, &mp, err, errlen) < 0)
            return -1;
        printf("metrics on http://%s:%u/metrics\n", g->host, (unsigned)mp);
    }
    bool v6 = strchr(g->host, ':') != NULL;
    char url[512];
    snprintf(url, sizeof url, "%s://%s%s%s:%u%s", g->tls_cert ? "https" : "http",
             v6 ? "[" : "", g->host, v6 ? "]" : "", (unsigned)sio_gateway_port(r->gw), g->path);
    sio_log_info(topic, "listening on %s", url);
    printf("listening on %s\n", url);
    fflush(stdout);
    return 0;
}

/* Step 6: wait for SIGINT or SIGTERM (returned); SIGHUP reloads the TLS
 * certificates: new connections get the new files, open ones keep theirs. */
static int wait_for_stop(const sigset_t *stop, sio_gateway *gw)
{
    char err[512];
    int sig = 0;
    for (;;) {
        if (sigwait(stop, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            return sig;
        if (sio_gateway_tls_reload(gw, err, sizeof err) < 0) {
            sio_log_error(topic, "SIGHUP: %s (the previous certificates stay in use)", err);
            fprintf(stderr, "sio server: SIGHUP: %s (the previous certificates stay in use)\n",
                    err);
        } else {
            sio_log_info(topic, "SIGHUP: TLS certificates reloaded");
        }
    }
}

/* Step 7: stop and free everything, in reverse order. */
static void stop_all(struct server_run *r)
{
    sio_metrics_http_stop(&r->mhttp);
    for (size_t i = 0; i < r->nbr; i++)
        sio_bridge_any_stop(&r->br[i]);
    sio_gateway_destroy(&r->gw);
    sio_worker_destroy(&r->worker);
    sio_hub_destroy(&r->hub);
    if (!role && r->zctx)
        zmq_ctx_term(r->zctx);
}

int sio_cmd_server(int argc, char **argv)
{
    static struct server_args a;    /* the gateway keeps pointers into it */
    int rc = parse_args(&a, argc, argv);
    if (rc >= 0)
        return rc;
    apply_log_levels(&a);
    if ((rc = admin_setup(&a)) >= 0)
        return rc;

    /* Block the stop signals before any thread exists (zmq's included), so
     * every thread inherits the mask and only sigwait() sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (a.gcfg.tls_cert)
        sigaddset(&stop, SIGHUP);   /* reload the certificates */
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct server_run r = { .zctx = role ? role->zmq_ctx : zmq_ctx_new() };
    if (!r.zctx) {
        fprintf(stderr, "sio server: cannot create the zmq context: %s\n", zmq_strerror(errno));
        return 1;
    }
    char err[512] = "";
    int status = 1;
    if ((role || start_core(&r, &a, err, sizeof err) == 0) &&
        start_gateway(&r, &a, err, sizeof err) == 0) {
        int sig = wait_for_stop(&stop, r.gw);
        sio_log_info(topic, "signal %d: stopping", sig);
        if (role && role->on_stop)
            role->on_stop(r.gw, sig);
        status = 0;
    } else {
        fprintf(stderr, "sio server: %s\n", err[0] ? err : "cannot start");
    }
    stop_all(&r);
    return status;
}

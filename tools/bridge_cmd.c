/* bridge_cmd.c: `sio bridge --hub ENDPOINT URL...`: run Redis bridges as a
 * process of their own, sending to a hub's "workers" endpoint (ipc:// or
 * tcp://), until SIGINT/SIGTERM. Exit status: 0 after a signal, 1 when a
 * bridge cannot start, 2 on bad usage. docs/BRIDGES.md. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>
#include <sio/sio.h>
#include "adapters/dispatch.h"
#include "tools/bridge_cmd.h"
#include "tools/opts.h"

SIO_LOG_TOPIC_STATIC(topic, "tools.bridge");

#define MAX_BRIDGES 16

static void bridge_usage(FILE *f)
{
    fprintf(f,
        "usage: sio bridge --hub ENDPOINT [--publish [--commands ENDPOINT]] [--log-level L] URL...\n"
        "\n"
        "Relay messages published by python-socketio managers (RedisManager,\n"
        "pickle or JSON) and @socket.io/redis-emitter to the clients of a sio hub.\n"
        "\n"
        "  --hub ENDPOINT     the hub's workers endpoint (ipc://... or tcp://...)\n"
        "  --publish          also publish the hub's broadcasts to every URL\n"
        "                     (python-socketio manager format; URL option ?publish=1\n"
        "                     for one URL, ?format=pickle for python-socketio <= 5.13)\n"
        "  --commands ENDPOINT  the hub's commands endpoint, needed to publish (default:\n"
        "                     derived from --hub: ...-workers -> ...-commands, tcp port - 1)\n"
        "  --log-level L      error|warn|info|debug|trace\n"
        "  URL                redis://[:password@]host[:port][/channel]\n"
        "                     amqp://[user[:pass]@]host[:port][/vhost][?exchange=NAME]\n"
        "                     kafka://host:port[,host:port...][/topic]\n"
        "                     (channel default 'socketio'; a number is a db, ignored)\n"
        "\n"
        "The bridge logs its counters (in, delivered, ignored, rejected) every minute.\n"
        "In one process, use `sio server --bridge URL` instead.\n");
}

int sio_cmd_bridge(int argc, char **argv)
{
    static const struct option opts[] = {
        { "hub", required_argument, NULL, 'H' },
        { "log-level", required_argument, NULL, 'l' },
        { "publish", no_argument, NULL, 'P' },
        { "commands", required_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *hub = NULL, *commands = NULL;
    bool publish = false;
    int c;
    sio_opt_begin(1);
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            hub = optarg;
            break;
        case 'P':
            publish = true;
            break;
        case 'C':
            commands = optarg;
            break;
        case 'l': {
            int l;
            if (sio_opt_level("bridge", bridge_usage, "--log-level", optarg, &l))
                return 2;
            sio_log_set_level((enum sio_log_level)l);
            break;
        }
        case 'h':
            bridge_usage(stdout);
            return 0;
        default:
            return sio_opt_getopt_fail("bridge", bridge_usage, c, argv);
        }
    }
    int n = argc - optind;
    if (!hub || n < 1 || n > MAX_BRIDGES) {
        fprintf(stderr, "sio bridge: need --hub ENDPOINT and 1 to %d URLs\n", MAX_BRIDGES);
        bridge_usage(stderr);
        return 2;
    }

    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    void *zctx = zmq_ctx_new();
    if (!zctx) {
        fprintf(stderr, "sio bridge: cannot create the zmq context\n");
        return 1;
    }
    sio_bridge_any *br[MAX_BRIDGES] = { 0 };
    int status = 0;
    char err[512];
    /* the commands endpoint from the workers one (tools/roles.c derives
     * both from one base: ipc://B-workers / ipc://B-commands, tcp ports +2 / +1) */
    char cmd_ep[1024] = "";
    size_t hl = strlen(hub);
    const char *colon = strrchr(hub, ':');
    if (commands) {
        snprintf(cmd_ep, sizeof cmd_ep, "%s", commands);
    } else if (hl > 8 && strcmp(hub + hl - 8, "-workers") == 0 && hl < sizeof cmd_ep - 10) {
        snprintf(cmd_ep, sizeof cmd_ep, "%.*s-commands", (int)(hl - 8), hub);
    } else if (strncmp(hub, "tcp://", 6) == 0 && colon && atoi(colon + 1) > 1) {
        snprintf(cmd_ep, sizeof cmd_ep, "%.*s:%d", (int)(colon - hub), hub, atoi(colon + 1) - 1);
    }
    char host_id[33];
    sio_bridge_host_id(host_id);
    const struct sio_bridge_opts bopts = { .publish = publish,
        .commands_endpoint = cmd_ep[0] ? cmd_ep : NULL, .host_id = host_id };
    for (int i = 0; i < n; i++) {
        if (sio_bridge_any_start(&br[i], zctx, hub, argv[optind + i], &bopts, err, sizeof err) < 0) {
            fprintf(stderr, "sio bridge: %s\n", err);
            status = 1;
            break;
        }
    }
    if (status == 0) {
        printf("bridging %d url(s) to %s\n", n, hub);
        fflush(stdout);
        int sig = 0;
        while (sigwait(&stop, &sig) != 0)
            ;
        sio_log_info(topic, "signal %d: stopping", sig);
    }
    for (int i = 0; i < n; i++)
        sio_bridge_any_stop(&br[i]);
    zmq_ctx_term(zctx);
    return status;
}

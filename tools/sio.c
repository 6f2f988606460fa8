/* sio.c: the multi-call command. `sio <subcommand> [flags]`. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sio/sio.h>
#include "tools/server.h"
#include "tools/roles.h"
#include "tools/bench/bench.h"
#include "tools/client_cmd.h"
#include "tools/bridge_cmd.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sio <command> [options]\n"
        "\n"
        "commands:\n"
        "  server      run a Socket.IO server with handler plugins (sio server --help)\n"
        "  client URL  connect to a Socket.IO server, print its events, emit stdin lines\n"
        "              (sio client --help)\n"
        "  bench       a Socket.IO load generator (sio bench --help)\n"
        "  bridge      relay Redis/AMQP/Kafka emitters to a hub (sio bridge --help)\n"
        "  hub         run the hub of a split deployment (sio hub --help)\n"
        "  gateway     run a gateway against a hub (sio gateway --help)\n"
        "  worker      run handler plugins against a hub; SIGHUP reloads (sio worker --help)\n"
        "  emit        emit an event to clients through a hub (sio emit --help)\n"
        "  keygen OUT  write a CURVE key pair for a tcp:// bus\n"
        "  help        show this help\n"
        "  --version   print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "sio: missing command\n");
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    /* Messages up to the max payload (1 MB) are allocated and freed at a
     * high rate. With glibc's defaults a free that leaves more than 128 KiB
     * at the top of an arena gives it back to the kernel, and the next
     * message faults the pages in again (13 % of a 64 KiB echo in the
     * profile, docs/PERFORMANCE.md); buffers below 4 MiB come from the
     * arenas, not from a fresh mmap. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("sio %s\n", sio_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "server") == 0)
        return sio_cmd_server(argc - 1, argv + 1);
    if (strcmp(cmd, "hub") == 0)
        return sio_cmd_hub(argc - 1, argv + 1);
    if (strcmp(cmd, "gateway") == 0)
        return sio_cmd_gateway(argc - 1, argv + 1);
    if (strcmp(cmd, "worker") == 0)
        return sio_cmd_worker(argc - 1, argv + 1);
    if (strcmp(cmd, "emit") == 0)
        return sio_cmd_emit(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return sio_cmd_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return sio_cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "client") == 0)
        return sio_cmd_client(argc - 1, argv + 1);
    if (strcmp(cmd, "bridge") == 0)
        return sio_cmd_bridge(argc - 1, argv + 1);
    fprintf(stderr, "sio: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

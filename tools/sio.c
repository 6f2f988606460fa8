/* sio.c: the multi-call command. `sio <subcommand> [flags]`. */
#include <stdio.h>
#include <string.h>
#include <sio/sio.h>
#include "server.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sio <command> [options]\n"
        "\n"
        "commands:\n"
        "  server      run a Socket.IO server with handler plugins (sio server --help)\n"
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
    fprintf(stderr, "sio: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}

/* server.h: the `sio server` subcommand (tools/server.c). */
#ifndef SIO_TOOLS_SERVER_H
#define SIO_TOOLS_SERVER_H

/* argv[0] is "server". Returns the process exit status. */
int sio_cmd_server(int argc, char **argv);

/* `sio gateway` (tools/roles.c): the server's flags, gateway only. */
#include "proto/bus.h"
#include "edge/gateway/gateway.h"
struct sio_server_role {
    void *zmq_ctx;                      /* owned by the caller */
    struct sio_bus_endpoints ep;        /* the hub's events + commands */
    /* on SIGINT/SIGTERM, before the gateway is destroyed (may be NULL) */
    void (*on_stop)(sio_gateway *gw, int sig);
    /* --hold-timeout, --hold-max-events, --hold-max-bytes; 0 = default */
    unsigned hold_timeout_ms;
    size_t hold_max_events, hold_max_bytes;
};
/* Parse argv as `sio server` does (without requiring --plugin) and run the
 * gateway alone against role->ep. Returns the exit status. */
int sio_server_run_gateway(int argc, char **argv, const struct sio_server_role *role);

#endif

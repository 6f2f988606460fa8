/* server.h: the `sio server` subcommand (tools/server.c). */
#ifndef SIO_TOOLS_SERVER_H
#define SIO_TOOLS_SERVER_H

/* argv[0] is "server". Returns the process exit status. */
int sio_cmd_server(int argc, char **argv);

#endif

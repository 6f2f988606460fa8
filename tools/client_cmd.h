/* client_cmd.h: the `sio client` subcommand (tools/client_cmd.c). */
#ifndef SIO_TOOLS_CLIENT_CMD_H
#define SIO_TOOLS_CLIENT_CMD_H

/* argv[0] is "client". Returns the process exit status: 0 ok, 1 the
 * connection failed (or a --call got no ack), 2 bad usage. */
int sio_cmd_client(int argc, char **argv);

#endif

/* roles.h: the split-role subcommands (tools/roles.c). Each takes argv with
 * argv[0] = the subcommand and returns the process exit status. */
#ifndef SIO_TOOLS_ROLES_H
#define SIO_TOOLS_ROLES_H

int sio_cmd_hub(int argc, char **argv);
int sio_cmd_gateway(int argc, char **argv);
int sio_cmd_worker(int argc, char **argv);
int sio_cmd_emit(int argc, char **argv);
int sio_cmd_keygen(int argc, char **argv);

#endif

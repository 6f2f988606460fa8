/* bridge_cmd.h: `sio bridge` (tools/bridge_cmd.c). */
#ifndef SIO_TOOLS_BRIDGE_CMD_H
#define SIO_TOOLS_BRIDGE_CMD_H

int sio_cmd_bridge(int argc, char **argv);

#endif

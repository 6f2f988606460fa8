/* plugin-badabi.c: a plugin descriptor claiming ABI 2 (loader test). */
#include <sio/plugin.h>

__attribute__((visibility("default"))) const struct sio_plugin sio_plugin_v1 = {
    .abi = SIO_PLUGIN_ABI + 1, .size = sizeof(struct sio_plugin), .name = "badabi",
};

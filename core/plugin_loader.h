/* plugin_loader.h: open, check and close plugin shared objects (internal).
 *
 * sio__plugin_open() dlopen()s a .so (RTLD_NOW | RTLD_LOCAL), finds its
 * "sio_plugin_v1" descriptor, checks .abi and .size and calls on_load.
 * Errors name the file and say exactly what was wrong.
 */
#ifndef SIO_CORE_PLUGIN_LOADER_H
#define SIO_CORE_PLUGIN_LOADER_H

#include <stddef.h>
#include <sio/plugin.h>

struct sio_loaded_plugin {
    void *dl;                       /* dlopen handle */
    const struct sio_plugin *desc;  /* borrowed from the .so */
    char *path;                     /* malloc'd copy */
};

/* True when the descriptor (of size d->size) covers field f. */
#define SIO_PLUGIN_HAS(d, f) \
    ((d)->size >= offsetof(struct sio_plugin, f) + sizeof(((struct sio_plugin *)0)->f))

/* Open path into out. 0, or a negative error (-ENOENT, SIO_ERR_ABI, ...) with
 * "<path>: <reason>" in err. */
int  sio__plugin_open(const char *path, struct sio_loaded_plugin *out, char *err, size_t errlen);
/* Call on_unload and dlclose. NULL-safe; clears *lp. */
void sio__plugin_close(struct sio_loaded_plugin *lp);

/* The namespaces a plugin serves (nsp, else nsps, else "/"), one by one:
 * returns the i-th or NULL past the end. */
const char *sio__plugin_nsp(const struct sio_plugin *d, size_t i);

#endif

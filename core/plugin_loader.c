/* plugin_loader.c: open, check and close plugin shared objects.
 *
 * The descriptor is checked before anything in it is used: the major ABI
 * must match exactly and .size must cover every field of ABI 1 up to the
 * handlers; fields added later are read only when .size covers them
 * (SIO_PLUGIN_HAS).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sio/sio.h>
#include "core/plugin_loader.h"
#include "sio-config.h"

SIO_LOG_TOPIC_STATIC(topic, "core.plugin");

/* The smallest descriptor this host accepts: everything before on_raw. */
#define MIN_SIZE offsetof(struct sio_plugin, on_raw)

#define STR_(x) #x
#define STR(x) STR_(x)

/* A plugin built out of tree (pkg-config --libs sio) needs libsio.so.1
 * and has no RUNPATH, while this program has every host call in itself
 * (linked statically, exported with --export-dynamic) and may not have
 * libsio loaded at all. Load it once through the program's own RUNPATH:
 * the plugin's dependency is then met by the loaded copy, and its host
 * calls still bind to the program's functions, which come first in the
 * global scope (RTLD_LOCAL: libsio's copies interpose nothing). Kept
 * loaded for the life of the process. */
static void preload_libsio(void)
{
    if (!dlopen("libsio.so." STR(SIO_ABI_MAJOR), RTLD_NOW | RTLD_LOCAL))
        sio_log_debug(topic, "libsio.so.%d not preloaded: %s", SIO_ABI_MAJOR, dlerror());
}

int sio__plugin_open(const char *path, struct sio_loaded_plugin *out, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, preload_libsio);
    memset(out, 0, sizeof *out);
    /* dlopen() searches the library path for a bare name: a plugin given
     * as "echo.so" means the file in the current directory. */
    char local[4096];
    const char *open_path = path;
    if (!strchr(path, '/') && snprintf(local, sizeof local, "./%s", path) < (int)sizeof local)
        open_path = local;
    dlerror();
    void *dl = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        snprintf(err, errlen, "%s: cannot open: %s", path, e ? e : "unknown error");
        return -ENOENT;
    }
    const struct sio_plugin *d = dlsym(dl, SIO_PLUGIN_SYMBOL);
    if (!d) {
        snprintf(err, errlen, "%s: no %s symbol (not a sio plugin?)", path, SIO_PLUGIN_SYMBOL);
        dlclose(dl);
        return SIO_ERR_ABI;
    }
    if (d->abi != SIO_PLUGIN_ABI) {
        snprintf(err, errlen, "%s: built for plugin ABI %u, this worker speaks %d",
                 path, (unsigned)d->abi, SIO_PLUGIN_ABI);
        dlclose(dl);
        return SIO_ERR_ABI;
    }
    if (d->size < MIN_SIZE) {
        snprintf(err, errlen, "%s: plugin descriptor is %u bytes, ABI %d needs at least %zu",
                 path, (unsigned)d->size, SIO_PLUGIN_ABI, (size_t)MIN_SIZE);
        dlclose(dl);
        return SIO_ERR_ABI;
    }
    char *p = strdup(path);
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", path);
        dlclose(dl);
        return -ENOMEM;
    }
    if (SIO_PLUGIN_HAS(d, on_load) && d->on_load) {
        int rc = d->on_load();
        if (rc != 0) {
            snprintf(err, errlen, "%s: on_load refused the load (%d)", path, rc);
            free(p);
            dlclose(dl);
            return SIO_ERR_CALLBACK;
        }
    }
    out->dl = dl;
    out->desc = d;
    out->path = p;
    sio_log_info(topic, "%s: loaded plugin '%s'", path, d->name ? d->name : "?");
    return 0;
}

void sio__plugin_close(struct sio_loaded_plugin *lp)
{
    if (!lp || !lp->dl)
        return;
    if (SIO_PLUGIN_HAS(lp->desc, on_unload) && lp->desc->on_unload)
        lp->desc->on_unload();
    dlclose(lp->dl);
    free(lp->path);
    memset(lp, 0, sizeof *lp);
}

const char *sio__plugin_nsp(const struct sio_plugin *d, size_t i)
{
    if (d->nsp)
        return i == 0 ? d->nsp : NULL;
    if (d->nsps)
        return d->nsps[i];
    return i == 0 ? "/" : NULL;
}

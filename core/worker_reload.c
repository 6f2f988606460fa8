/* worker_reload.c: hot reload of the plugins (sio_worker_reload, SIGHUP):
 * new descriptors swapped in atomically, old handles kept until destroy. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <sio/sio.h>
#include "core/worker.h"
#include "core/worker_int.h"
#include "base/buf.h"
#include "base/map.h"
#include "core/plugin_loader.h"
#include "proto/sio.h"
#include "proto/text.h"
#include "base/vec.h"


/* ---- hot reload ---- */

/* Copy src to a fresh temporary file (dlopen() returns the already loaded
 * object for a path it has seen, even when the file changed). */
static int copy_to_temp(const char *src, char *out, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    snprintf(out, cap, "%s/sio-reload-XXXXXX.so", dir && *dir ? dir : "/tmp");
    int fd = mkstemps(out, 3);
    if (fd < 0)
        return -errno;
    FILE *in = fopen(src, "rb");
    int rc = 0;
    if (!in)
        rc = -errno;
    char buf[65536];
    size_t n;
    while (!rc && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (write(fd, buf, n) != (ssize_t)n)
            rc = -EIO;
    if (!rc && in && ferror(in))
        rc = -EIO;
    if (in)
        fclose(in);
    if (close(fd) < 0 && !rc)
        rc = -errno;
    if (rc)
        unlink(out);
    return rc;
}

int sio_worker_reload(sio_worker *w, char *err, size_t errlen)
{
    if (!w)
        return -EINVAL;
    size_t n = w->nplugins;
    struct sio_loaded_plugin *fresh = calloc(n ? n : 1, sizeof *fresh);
    struct sio_loaded_plugin *ret = realloc(w->retired, (w->nretired + n) * sizeof *ret);
    if (!fresh || !ret) {
        free(fresh);
        snprintf(err, errlen, "reload: out of memory");
        return -ENOMEM;
    }
    w->retired = ret;
    int rc = 0;
    size_t opened = 0;
    for (; opened < n; opened++) {
        char tmp[PATH_MAX];
        rc = copy_to_temp(w->paths[opened], tmp, sizeof tmp);
        if (rc < 0) {
            snprintf(err, errlen, "%s: cannot copy for reload: %s", w->paths[opened], strerror(-rc));
            break;
        }
        char why[512];
        rc = sio__plugin_open(tmp, &fresh[opened], why, sizeof why);
        unlink(tmp);    /* the mapping stays; the name is not needed */
        if (rc < 0) {
            /* name the file the user gave, not our temporary copy */
            const char *colon = strstr(why, ": ");
            snprintf(err, errlen, "%s%s", w->paths[opened], colon ? colon : ": cannot load");
            break;
        }
        /* the namespaces served are registered with the hub: keep them */
        const struct sio_plugin *o = w->plugins[opened].desc, *d = fresh[opened].desc;
        for (size_t k = 0; !rc; k++) {
            const char *a = sio__plugin_nsp(o, k), *b = sio__plugin_nsp(d, k);
            if (!a && !b)
                break;
            if (!a || !b || strcmp(a, b) != 0) {
                snprintf(err, errlen, "%s: the new file serves other namespaces "
                         "(restart the worker to change them)", w->paths[opened]);
                rc = -EINVAL;
            }
        }
        if (rc < 0) {
            opened++;
            break;
        }
    }
    if (rc < 0) {
        for (size_t i = opened; i-- > 0;)
            if (fresh[i].dl)
                sio__plugin_close(&fresh[i]);
        free(fresh);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        w->retired[w->nretired] = w->plugins[i];    /* dl + path stay ours */
        /* The descriptor is read by shards: publish with a release store. */
        __atomic_store_n(&w->plugins[i].desc, fresh[i].desc, __ATOMIC_RELEASE);
        w->plugins[i].dl = fresh[i].dl;
        w->plugins[i].path = fresh[i].path;
        w->nretired++;
    }
    atomic_fetch_add(&w->gen, 1);
    free(fresh);
    return 0;
}

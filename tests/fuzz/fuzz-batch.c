/* fuzz-batch.c: libFuzzer target for the bus's batch reader (proto/batch.h).
 *
 * Any input is read as both forms. Whatever opens must yield exactly the
 * counted items, each inside the input, and writing those items again must
 * give the input back byte for byte. Each item goes on to its decoder (the
 * envelope, or the route header) as the hub and the workers do. Seeds:
 * tests/fuzz/corpus/batch/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proto/batch.h"
#include "proto/bus.h"
#include "proto/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *copy, size_t size, enum sio_bus_batch_form form)
{
    struct sio_bus_batch_reader r;
    long n = sio_bus_batch_open(&r, copy, size, form, NULL);
    if (n < 0)
        return;
    struct sio_bus_batch w;
    sio_bus_batch_init(&w);
    const void *p;
    size_t len;
    long k = 0;
    while (sio_bus_batch_next(&r, &p, &len)) {
        if ((const uint8_t *)p < copy || (const uint8_t *)p + len > copy + size)
            abort();
        if (sio_bus_batch_add(&w, p, len) != 0)
            abort();
        if (form == SIO_BUS_BATCH_ENVELOPES || (k & 1)) {
            struct sio_env env;
            sio_env_decode(p, len, &env);
            sio_env_clear(&env);
        } else {
            int kind;
            const char *nsp, *sid;
            size_t nl, sl;
            sio_bus_route_parse(p, len, &kind, &nsp, &nl, &sid, &sl);
        }
        k++;
    }
    if (k != n || (size_t)w.n != (size_t)n || w.buf.len != size || memcmp(w.buf.data, copy, size))
        abort();
    sio_bus_batch_clear(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that ASan catches any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    check(copy, size, SIO_BUS_BATCH_ENVELOPES);
    check(copy, size, SIO_BUS_BATCH_ROUTED);
    free(copy);
    return 0;
}

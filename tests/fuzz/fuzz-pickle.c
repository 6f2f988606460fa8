/* fuzz-pickle.c: libFuzzer target for the restricted pickle decoder and the
 * python-socketio message translation built on it (adapters/).
 *
 * Whatever decodes must be a tree that serializes (no cycle, bounded);
 * any input goes through sio_bridge_py_message() with a sink that encodes
 * and decodes each envelope. Seeds: tests/fuzz/corpus/pickle/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "adapters/bridge.h"
#include "base/buf.h"
#include "adapters/pickle.h"
#include "proto/sio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int sink(void *ud, const char *topic, const struct sio_env *env)
{
    struct sio_buf b = SIO_BUF_INIT;
    struct sio_env again;
    (void)ud; (void)topic;
    if (sio_env_encode(env, &b) != 0 || sio_env_decode(b.data, b.len, &again) != 0)
        abort();
    sio_env_clear(&again);
    sio_buf_clear(&b);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    struct sio_pickle pk;
    if (sio_pickle_decode(copy, size, NULL, &pk, NULL, 0) == 0) {
        struct sio_bins bins = { 0 };
        json_t *ph = sio_json_deconstruct(pk.value, &bins);
        if (!ph)
            abort();    /* depth is bounded far below the 4096 of deconstruct */
        struct sio_buf out = SIO_BUF_INIT;
        int rc = sio_json_dump(&out, ph);
        (void)rc;      /* may refuse a real that JSON cannot carry */
        sio_buf_clear(&out);
        json_decref(ph);
        sio_bins_clear(&bins);
        sio_pickle_clear(&pk);
    }
    char err[256];
    sio_bridge_py_message(copy, size, sink, NULL, err, sizeof err);
    free(copy);
    return 0;
}

/* fuzz-envelope.c: libFuzzer target for the bus envelope decoder.
 *
 * Whatever decodes must re-encode, and the re-encoding must decode to the
 * same kind and fields. Seeds: tests/fuzz/corpus/envelope/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "proto/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_str(struct sio_str a, struct sio_str b)
{
    if ((a.p == NULL) != (b.p == NULL) || a.len != b.len || (a.len && memcmp(a.p, b.p, a.len)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that ASan catches any read past the end */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);

    struct sio_env env, again;
    if (sio_env_decode(copy, size, &env) == 0) {
        struct sio_buf b = SIO_BUF_INIT;
        if (sio_env_encode(&env, &b) != 0)
            abort();
        if (sio_env_decode(b.data, b.len, &again) != 0)
            abort();
        if (again.kind != env.kind || again.id != env.id || again.ts != env.ts ||
            again.nbins != env.nbins || again.nrooms != env.nrooms ||
            again.nheaders != env.nheaders || again.close_conn != env.close_conn)
            abort();
        same_str(again.nsp, env.nsp);
        same_str(again.sid, env.sid);
        same_str(again.data, env.data);
        for (size_t i = 0; i < env.nrooms; i++)
            same_str(again.rooms[i], env.rooms[i]);
        sio_env_clear(&again);
        sio_buf_clear(&b);
    }
    sio_env_clear(&env);
    sio_env_clear(&env);
    free(copy);
    return 0;
}

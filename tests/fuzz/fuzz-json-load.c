/* fuzz-json-load.c: libFuzzer target for sio_json_loadb() (text.c).
 *
 * The input is JSON text as a peer sends it. The long-string fast path
 * (every plain string cut out, sio_json_fast_min = 1) and jansson alone
 * must agree: both fail, or both give equal trees. */
#include <stdint.h>
#include <stdlib.h>
#include <sio/msg.h>
#include "proto/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_error_t e;
    sio_json_fast_min = 1;
    json_t *fast = sio_json_loadb((const char *)data, size, flags, &e);
    json_t *slow = json_loadb((const char *)data, size, flags, &e);
    if ((fast == NULL) != (slow == NULL) || (fast && !sio_json_equal(fast, slow)))
        abort();
    json_decref(fast);
    json_decref(slow);
    return 0;
}

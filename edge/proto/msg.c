/* msg.c: binary values inside jansson arguments (see <sio/msg.h>). */
#include <string.h>
#include <sio/sio.h>
#include <sio/msg.h>

SIO_EXPORT json_t *sio_binary_new(const void *data, size_t len)
{
    json_t *s = json_stringn_nocheck(len ? data : "", len);
    if (!s)
        return NULL;
    json_t *o = json_object();
    if (!o) {
        json_decref(s);
        return NULL;
    }
    if (json_object_set_new_nocheck(o, SIO_BINARY_KEY, s) < 0) {  /* s consumed */
        json_decref(o);
        return NULL;
    }
    return o;
}

SIO_EXPORT bool sio_binary_get(const json_t *v, const void **data, size_t *len)
{
    if (!json_is_object(v) || json_object_size(v) != 1)
        return false;
    json_t *s = json_object_get(v, SIO_BINARY_KEY);
    if (!json_is_string(s))
        return false;
    if (data)
        *data = json_string_value(s);
    if (len)
        *len = json_string_length(s);
    return true;
}

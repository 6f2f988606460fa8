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
    if (json_object_setn_new_nocheck(o, SIO_BINARY_KEY, SIO_BINARY_KEY_LEN, s) < 0) {  /* s consumed */
        json_decref(o);
        return NULL;
    }
    return o;
}

SIO_EXPORT bool sio_binary_get(const json_t *v, const void **data, size_t *len)
{
    if (!json_is_object(v) || json_object_size(v) != 1)
        return false;
    json_t *s = json_object_getn(v, SIO_BINARY_KEY, SIO_BINARY_KEY_LEN);
    if (!json_is_string(s))
        return false;
    if (data)
        *data = json_string_value(s);
    if (len)
        *len = json_string_length(s);
    return true;
}

SIO_EXPORT bool sio_json_equal(const json_t *a, const json_t *b)
{
    if (a == b)
        return true;
    if (!a || !b || json_typeof(a) != json_typeof(b))
        return false;
    const void *pa, *pb;
    size_t la, lb;
    bool ba = sio_binary_get(a, &pa, &la), bb = sio_binary_get(b, &pb, &lb);
    if (ba || bb)
        return ba && bb && la == lb && (la == 0 || memcmp(pa, pb, la) == 0);
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!sio_json_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        size_t kl;
        json_t *v;
        json_object_keylen_foreach((json_t *)a, k, kl, v) {
            if (!sio_json_equal(v, json_object_getn(b, k, kl)))
                return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

SIO_EXPORT json_t *sio_json_deep_copy(const json_t *v)
{
    const void *p;
    size_t n;
    if (!v)
        return NULL;
    if (sio_binary_get(v, &p, &n))
        return sio_binary_new(p, n);
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < json_array_size(v); i++)
            if (json_array_append_new(a, sio_json_deep_copy(json_array_get(v, i))) < 0) {
                json_decref(a);
                a = NULL;
            }
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        size_t kl;
        json_t *e;
        json_object_keylen_foreach((json_t *)v, k, kl, e) {
            if (!o)
                break;
            if (json_object_setn_new_nocheck(o, k, kl, sio_json_deep_copy(e)) < 0) {
                json_decref(o);
                o = NULL;
            }
        }
        return o;
    }
    return json_deep_copy(v);   /* scalars */
}

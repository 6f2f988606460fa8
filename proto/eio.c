/* eio.c: the Engine.IO v4 packet and payload codec (see eio.h).
 *
 * Owns nothing. Decoders borrow the caller's buffer (polling payloads are
 * base64-decoded in place); encoders append to the caller's sio_buf.
 */
#include "proto/eio.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>
#include <sio/sio.h>

SIO_LOG_TOPIC_STATIC(topic, "edge.eio");

static int decode_text(const uint8_t *p, size_t len, struct sio_eio_packet *out)
{
    if (len == 0)
        return SIO_ERR_PROTO;
    if (p[0] < '0' || p[0] > '6')
        return SIO_ERR_TYPE;
    *out = (struct sio_eio_packet){
        .type = (enum sio_eio_type)(p[0] - '0'),
        .data = p + 1,
        .len = len - 1,
    };
    return 0;
}

int sio_eio_decode_frame(const uint8_t *buf, size_t len, bool binary_frame,
                                    struct sio_eio_packet *out)
{
    if (binary_frame) {
        *out = (struct sio_eio_packet){ .type = SIO_EIO_MESSAGE, .binary = true,
                                        .data = buf, .len = len };
        return 0;
    }
    int r = decode_text(buf, len, out);
    if (r < 0)
        sio_log_debug(topic, "bad frame (%s), len=%zu", sio_strerror(r), len);
    return r;
}

int sio_eio_decode_payload(uint8_t *buf, size_t len, size_t max_packets,
                                      sio_eio_packet_fn fn, void *ud)
{
    if (len == 0)
        return SIO_ERR_PROTO;
    /* Count first so that an over-long payload delivers nothing. */
    if (max_packets) {
        size_t n = 1;
        for (const uint8_t *p = buf; (p = memchr(p, SIO_EIO_RS, len - (size_t)(p - buf)));
             p++)
            if (++n > max_packets)
                return SIO_ERR_TOOBIG;
    }
    size_t pos = 0;
    for (;;) {
        const uint8_t *rs = memchr(buf + pos, SIO_EIO_RS, len - pos);
        size_t end = rs ? (size_t)(rs - buf) : len;
        uint8_t *p = buf + pos;
        size_t n = end - pos;
        struct sio_eio_packet pkt;
        int r;
        if (n > 0 && p[0] == 'b') {
            long m = sio_base64_decode((const char *)p + 1, n - 1, p + 1);
            if (m < 0) {
                r = SIO_ERR_BASE64;
            } else {
                pkt = (struct sio_eio_packet){ .type = SIO_EIO_MESSAGE, .binary = true,
                                               .data = p + 1, .len = (size_t)m };
                r = 0;
            }
        } else {
            r = decode_text(p, n, &pkt);
        }
        if (r < 0) {
            sio_log_debug(topic, "bad polling packet (%s) at %zu", sio_strerror(r), pos);
            return r;
        }
        r = fn(&pkt, ud);
        if (r)
            return r;
        if (!rs)
            return 0;
        pos = end + 1;
    }
}

int sio_eio_encode_frame(struct sio_buf *out, enum sio_eio_type type,
                                    bool binary, const void *data, size_t len)
{
    if ((unsigned)type > SIO_EIO_NOOP || (binary && type != SIO_EIO_MESSAGE))
        return -EINVAL;
    size_t before = out->len;
    int r = binary ? 0 : sio_buf_append_byte(out, (uint8_t)('0' + type));
    if (r == 0)
        r = sio_buf_append(out, data, len);
    if (r < 0)
        out->len = before;
    return r;
}

int sio_eio_encode_payload(struct sio_buf *out, enum sio_eio_type type,
                                      bool binary, const void *data, size_t len)
{
    if ((unsigned)type > SIO_EIO_NOOP || (binary && type != SIO_EIO_MESSAGE))
        return -EINVAL;
    size_t before = out->len;
    int r = out->len ? sio_buf_append_byte(out, SIO_EIO_RS) : 0;
    if (r == 0)
        r = sio_buf_append_byte(out, binary ? 'b' : (uint8_t)('0' + type));
    if (r == 0)
        r = binary ? sio_buf_append_base64(out, data, len) : sio_buf_append(out, data, len);
    if (r < 0)
        out->len = before;
    return r;
}

int sio_eio_encode_open(struct sio_buf *out, const char *sid,
                                   bool upgrades_websocket, unsigned ping_interval_ms,
                                   unsigned ping_timeout_ms, size_t max_payload)
{
    /* Our sids are base64url; refuse anything that would need escaping. */
    size_t n = strlen(sid);
    if (n == 0 || n >= sizeof(((struct sio_eio_open *)0)->sid))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)sid[i] < 0x20 || sid[i] == '"' || sid[i] == '\\')
            return -EINVAL;
    size_t before = out->len;
    int r = sio_buf_printf(out,
                           "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,"
                           "\"pingTimeout\":%u,\"maxPayload\":%zu}",
                           sid, upgrades_websocket ? "\"websocket\"" : "",
                           ping_interval_ms, ping_timeout_ms, max_payload);
    if (r < 0)
        out->len = before;
    return r;
}

static int get_uint(const json_t *o, const char *key, bool required, json_int_t max,
                    json_int_t *v)
{
    const json_t *j = json_object_get(o, key);
    if (!j) {
        *v = 0;
        return required ? SIO_ERR_PROTO : 0;
    }
    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > max)
        return SIO_ERR_PROTO;
    *v = json_integer_value(j);
    return 0;
}

int sio_eio_parse_open(const uint8_t *data, size_t len, struct sio_eio_open *out)
{
    memset(out, 0, sizeof(*out));
    if (len > 0 && data[0] == '0') {    /* accept the packet with its type digit */
        data++;
        len--;
    }
    if (len == 0 || data[0] != '{')
        return SIO_ERR_PROTO;
    json_error_t jerr;
    json_t *o = json_loadb((const char *)data, len, 0, &jerr);
    if (!o)
        return SIO_ERR_JSON;

    int r = SIO_ERR_PROTO;
    const json_t *sid = json_object_get(o, "sid");
    const json_t *upgrades = json_object_get(o, "upgrades");
    json_int_t interval, timeout, maxp;
    if (!json_is_string(sid) || json_string_length(sid) == 0 ||
        json_string_length(sid) >= sizeof(out->sid) ||
        strlen(json_string_value(sid)) != json_string_length(sid))
        goto out;
    if (upgrades && !json_is_array(upgrades))
        goto out;
    if (get_uint(o, "pingInterval", true, UINT_MAX, &interval) < 0 ||
        get_uint(o, "pingTimeout", true, UINT_MAX, &timeout) < 0 ||
        get_uint(o, "maxPayload", false, LLONG_MAX, &maxp) < 0)
        goto out;

    size_t i;
    const json_t *u;
    json_array_foreach(upgrades, i, u) {
        if (!json_is_string(u))
            goto out;
        if (strcmp(json_string_value(u), "websocket") == 0)
            out->upgrade_websocket = true;
    }
    memcpy(out->sid, json_string_value(sid), json_string_length(sid) + 1);
    out->ping_interval_ms = (unsigned)interval;
    out->ping_timeout_ms = (unsigned)timeout;
    out->max_payload = (size_t)maxp;
    r = 0;
out:
    json_decref(o);
    if (r < 0)
        memset(out, 0, sizeof(*out));
    return r;
}

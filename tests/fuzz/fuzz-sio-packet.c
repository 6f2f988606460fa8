/* fuzz-sio-packet.c: libFuzzer target for the Socket.IO codec (sio.c).
 *
 * Input: <packet text> [0x1e <attachment>]... The packet text goes through
 * the header parser and the full decoder (they must agree); a decoded
 * packet is reconstructed with the attachments, deconstructed, dumped,
 * encoded, decoded and reconstructed again, and must come back equal. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sio/error.h>
#include <sio/msg.h>
#include "proto/sio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BINS 64

/* Equal as JS values: numbers by value (1.0 dumps as 1 and reads back as
 * an integer), everything else as json_equal. */
static bool same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)a, k, klen, v) {
            json_t *w = json_object_getn(b, k, klen);
            if (!w || !same(v, w))
                return false;
        }
        return true;
    }
    return json_equal(a, b);
}

static void round_trip(const struct sio_packet *p, bool reconstructed)
{
    struct sio_bins bins = { 0 };
    struct sio_buf js = SIO_BUF_INIT, pkt = SIO_BUF_INIT;
    struct sio_packet q;
    json_t *copy = sio_json_deconstruct(p->data, &bins);
    if (!copy)
        abort();
    if (sio_json_dump(&js, copy) != 0)
        abort();
    enum sio_packet_type type = p->type;
    if (bins.n && type == SIO_PKT_EVENT)
        type = SIO_PKT_BINARY_EVENT;
    else if (bins.n && type == SIO_PKT_ACK)
        type = SIO_PKT_BINARY_ACK;
    /* A non-binary packet whose JSON spells a placeholder is ambiguous once
     * re-encoded: only dump it. */
    if ((bins.n && !reconstructed) || bins.n > SIO_MAX_ATTACHMENTS)
        goto done;
    if (!bins.n && (type == SIO_PKT_BINARY_EVENT || type == SIO_PKT_BINARY_ACK) &&
        p->attachments)
        goto done;
    if (sio_packet_encode(&pkt, type, p->nsp, strlen(p->nsp), p->id, (unsigned)bins.n,
                          (const char *)js.data, js.len) != 0)
        abort();
    if (sio_packet_decode((const char *)pkt.data, pkt.len, 0, &q) != 0)
        abort();
    if (q.type != type || strcmp(q.nsp, p->nsp) != 0 || q.id != p->id ||
        q.attachments != bins.n)
        abort();
    if (bins.n && sio_packet_reconstruct(q.data, bins.v, bins.n) != 0)
        abort();
    if ((q.data == NULL) != (p->data == NULL) || (q.data && !same(q.data, p->data)))
        abort();
    sio_packet_clear(&q);
done:
    json_decref(copy);
    sio_bins_clear(&bins);
    sio_buf_clear(&js);
    sio_buf_clear(&pkt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *rs = memchr(data, 0x1e, size);
    size_t len = rs ? (size_t)(rs - data) : size;
    /* an exact-size copy so that ASan sees any read past the end */
    char *text = malloc(len ? len : 1);
    if (!text)
        return 0;
    memcpy(text, data, len);

    struct sio_bin bins[MAX_BINS];
    size_t nbins = 0;
    for (const uint8_t *p = rs; p && nbins < MAX_BINS;) {
        const uint8_t *start = p + 1;
        const uint8_t *next = memchr(start, 0x1e, size - (size_t)(start - data));
        size_t n = next ? (size_t)(next - start) : size - (size_t)(start - data);
        bins[nbins++] = (struct sio_bin){ .data = start, .len = n };
        p = next;
    }

    struct sio_packet_hdr h;
    int rh = sio_packet_parse_header(text, len, 0, &h);
    if (rh == 0 && (h.data + h.data_len != text + len || h.nsp_len == 0 || h.nsp[0] != '/'))
        abort();
    if (len > 1 && sio_packet_parse_header(text, len, len - 1, &h) != SIO_ERR_TOOBIG)
        abort();

    struct sio_packet p;
    int rd = sio_packet_decode(text, len, 0, &p);
    if (rh != 0 && rd != rh)
        abort();        /* the decoder reports the header's error */
    if (rh == 0 && rd != 0 && rd != SIO_ERR_JSON && rd != SIO_ERR_SHAPE && rd != -ENOMEM)
        abort();
    if (rd == 0) {
        bool binary = p.type == SIO_PKT_BINARY_EVENT || p.type == SIO_PKT_BINARY_ACK;
        bool reconstructed = false;
        if (binary) {
            /* The gateway hands over exactly p.attachments binaries; with
             * fewer in the input, still exercise the error paths. */
            size_t n = nbins < p.attachments ? nbins : p.attachments;
            int r = sio_packet_reconstruct(p.data, bins, n);
            if (r != 0 && r != SIO_ERR_ATTACH && r != -ENOMEM)
                abort();
            reconstructed = r == 0 && n == p.attachments;
        }
        if (p.data && (!binary || reconstructed))
            round_trip(&p, binary);
        sio_packet_clear(&p);
    }
    free(text);
    return 0;
}

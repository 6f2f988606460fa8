/* test-buf.c: the growable buffer and base64 used by the polling codec. */
#include <criterion/criterion.h>
#include <string.h>
#include "base/buf.h"
#include <sio/error.h>

Test(buf, append_keeps_bytes_and_nul)
{
    struct sio_buf b = SIO_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(sio_buf_append(&b, "ab", 2), 0);
    cr_assert_eq(b.len, 2000);
    cr_assert_eq(b.data[b.len], 0);
    cr_assert_eq(memcmp(b.data + 1998, "ab", 2), 0);
    sio_buf_clear(&b);
    cr_assert_null(b.data);
}

Test(buf, base64_matches_reference_bytes)
{
    /* From the JS server's polling transcript: 01 02 03 -> "AQID", 00 01 ff -> "AAH/" */
    struct sio_buf b = SIO_BUF_INIT;
    sio_buf_append_base64(&b, "\x01\x02\x03", 3);
    cr_assert_str_eq((char *)b.data, "AQID");
    sio_buf_reset(&b);
    sio_buf_append_base64(&b, "\x00\x01\xff", 3);
    cr_assert_str_eq((char *)b.data, "AAH/");
    sio_buf_reset(&b);
    sio_buf_append_base64(&b, "a", 1);
    cr_assert_str_eq((char *)b.data, "YQ==");
    sio_buf_clear(&b);
}

Test(buf, base64_decode_in_place_and_rejects_garbage)
{
    char s[] = "AAH/";
    long n = sio_base64_decode(s, 4, (uint8_t *)s);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(s, "\x00\x01\xff", 3), 0);
    char t[] = "YQ==";
    cr_assert_eq(sio_base64_decode(t, 4, (uint8_t *)t), 1);
    cr_assert_eq(t[0], 'a');
    cr_assert_eq(sio_base64_decode("A", 1, (uint8_t[4]){0}), SIO_ERR_BASE64);
    cr_assert_eq(sio_base64_decode("AB$D", 4, (uint8_t[4]){0}), SIO_ERR_BASE64);
    cr_assert_eq(sio_base64_decode("", 0, (uint8_t[1]){0}), 0);
}

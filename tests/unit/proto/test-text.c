/* test-text.c: the fast UTF-8 check and the long-string path of
 * sio_json_loadb() give what a careful byte-by-byte reading gives. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sio/msg.h>
#include "proto/sio.h"
#include "proto/text.h"
#include "base/buf.h"

static bool valid(const char *s)
{
    return sio_utf8_valid((const uint8_t *)s, strlen(s));
}

Test(text, utf8_accepts_every_form)
{
    cr_assert(valid(""));
    cr_assert(valid("plain ascii, longer than sixteen bytes to take the fast path"));
    cr_assert(valid("h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));          /* é € 😀 */
    cr_assert(valid("\xed\x9f\xbf"));                                       /* U+D7FF */
    cr_assert(valid("\xee\x80\x80"));                                       /* U+E000 */
    cr_assert(valid("\xf4\x8f\xbf\xbf"));                                   /* U+10FFFF */
    cr_assert(valid("0123456789abcdef0123456789abcdef\xc3\xa9"));           /* after a fast run */
}

Test(text, utf8_refuses_what_rfc3629_forbids)
{
    cr_assert_not(valid("\xff"));
    cr_assert_not(valid("\x80"));                        /* lone continuation */
    cr_assert_not(valid("\xc0\xaf"));                    /* overlong '/' */
    cr_assert_not(valid("\xe0\x80\xaf"));                /* overlong, 3 bytes */
    cr_assert_not(valid("\xf0\x80\x80\xaf"));            /* overlong, 4 bytes */
    cr_assert_not(valid("\xed\xa0\x80"));                /* surrogate U+D800 */
    cr_assert_not(valid("\xf4\x90\x80\x80"));            /* U+110000 */
    cr_assert_not(valid("abc\xe2\x82"));                 /* cut at the end */
    cr_assert_not(valid("0123456789abcdef0123456789abcde\xc3"));
}

/* The fast path on and off must give equal trees. */
static void same_both_ways(const char *text, size_t flags)
{
    json_error_t e1, e2;
    size_t saved = sio_json_fast_min;
    sio_json_fast_min = 1;
    json_t *fast = sio_json_loadb(text, strlen(text), flags, &e1);
    sio_json_fast_min = SIZE_MAX;
    json_t *slow = sio_json_loadb(text, strlen(text), flags, &e2);
    sio_json_fast_min = saved;
    cr_assert((fast == NULL) == (slow == NULL), "%s: fast %p slow %p (%s / %s)", text,
              (void *)fast, (void *)slow, e1.text, e2.text);
    if (fast)
        cr_assert(sio_json_equal(fast, slow), "%s: trees differ", text);
    else
        cr_assert_eq(json_error_code(&e1), json_error_code(&e2), "%s: error codes differ", text);
    json_decref(fast);
    json_decref(slow);
}

Test(text, fast_path_gives_jansson_trees)
{
    const char *ok[] = {
        "[\"echo\",\"a long plain string\"]",
        "[\"e\",{\"key\":\"value\",\"k2\" : \"v2\",\"n\":[1,2.5,\"x\",null,true]}]",
        "\"top level string\"",
        "[\"esc\",\"with \\\"quotes\\\" and \\\\ and \\n\",\"plain\"]",
        "[\"utf8\",\"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]",
        "[\"dup\",{\"a\":\"first\",\"a\":\"second\"}]",
        "[\"nested\",[[[\"deep\"]]],{\"o\":{\"p\":\"q\"}}]",
        "[\"marker-like\",\"\\u0001 0\",\"x\"]",    /* has \u0001: left to jansson whole */
        "[\"nul\",\"a\\u0000b\",\"c\"]",
        "[ \"spaces\" , \"around\" ]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        same_both_ways(ok[i], JSON_DECODE_ANY | JSON_ALLOW_NUL);
}

Test(text, fast_path_keeps_jansson_errors)
{
    const char *bad[] = {
        "[\"echo\",\"unterminated]",
        "[\"ctrl\",\"a\tb\"]",                 /* raw tab inside a string */
        "[\"bad utf8\",\"\xff\"]",
        "[\"e\" \"missing comma\"]",
        "{\"a\" \"b\"}",
        "[\"trailing\",\"x\"] junk",
        "[\"bad escape\",\"\\q\"]",
        "\"only a string\"",               /* without JSON_DECODE_ANY */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        same_both_ways(bad[i], i == 7 ? 0 : JSON_DECODE_ANY);
}

Test(text, a_64k_string_arrives_whole)
{
    size_t n = 65536;
    char *text = malloc(n + 32);
    cr_assert_not_null(text);
    strcpy(text, "[\"echo\",\"");
    size_t o = strlen(text);
    for (size_t i = 0; i < n; i++)
        text[o + i] = (char)('a' + i % 26);
    strcpy(text + o + n, "\",{\"k\":1}]");
    json_error_t err;
    json_t *v = sio_json_loadb(text, strlen(text), JSON_ALLOW_NUL, &err);
    cr_assert_not_null(v, "%s", err.text);
    json_t *s = json_array_get(v, 1);
    cr_assert(json_is_string(s));
    cr_assert_eq(json_string_length(s), n);
    cr_assert_eq(memcmp(json_string_value(s), text + o, n), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(v, 2), "k")), 1);
    json_decref(v);
    free(text);
}

/* A special byte at every offset around the 16- and 32-byte steps of the
 * scanners: the fast path, jansson and the writer agree. */
Test(text, special_bytes_at_every_offset)
{
    static const char *const specials[] = { "\\\"", "\\\\", "\\n", "\\u0007", "\xc3\xa9",
                                            "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff" };
    for (size_t k = 0; k < sizeof specials / sizeof *specials; k++) {
        for (size_t at = 0; at < 70; at++) {
            char text[256];
            char body[128];
            memset(body, 'x', sizeof body);
            size_t sl = strlen(specials[k]);
            memcpy(body + at, specials[k], sl);
            int n = snprintf(text, sizeof text, "[\"e\",\"%.*s\",1]", (int)(at + sl + 40), body);
            cr_assert(n > 0 && (size_t)n < sizeof text);
            same_both_ways(text, JSON_ALLOW_NUL);
            json_error_t err;
            json_t *v = sio_json_loadb(text, strlen(text), JSON_ALLOW_NUL, &err);
            if (!v)
                continue;       /* the invalid UTF-8 case: refused by both */
            struct sio_buf out = SIO_BUF_INIT;
            cr_assert_eq(sio_json_dump(&out, v), 0);
            json_t *back = json_loadb((const char *)out.data, out.len, JSON_ALLOW_NUL, &err);
            cr_assert_not_null(back, "dump of %s does not parse: %s", text, err.text);
            cr_assert(sio_json_equal(v, back), "dump of %s reads back different", text);
            json_decref(back);
            json_decref(v);
            sio_buf_clear(&out);
        }
    }
}

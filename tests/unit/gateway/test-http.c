/* test-http.c: edge/http/cors.c, compress.c and static.c's pure parts. */
#include <criterion/criterion.h>
#include <string.h>
#include <zlib.h>
#include <http_parser.h>
#include "edge/gateway/gateway.h"
#include "edge/http/cors.h"
#include "edge/http/compress.h"
#include "edge/http/static.h"
#include "edge/http/upstream.h"

static struct sio_http_hdr hdrs[8];

/* A request with header pairs name, value, ..., NULL. */
static struct sio_http_req mkreq(int method, ...)
{
    struct sio_http_req r = { .method = method, .hdrs = hdrs };
    va_list ap;
    va_start(ap, method);
    const char *n;
    while ((n = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        hdrs[r.nhdrs++] = (struct sio_http_hdr){ n, strlen(n), v, strlen(v) };
    }
    va_end(ap);
    return r;
}

static enum sio_cors_verdict check(int mode, const char *list, struct sio_http_req *r,
                                   char *lead, char *ct)
{
    struct sio_cors c;
    cr_assert_eq(sio_cors_init(&c, mode, list, true), 0);
    struct sio_buf a, b;
    sio_buf_init(&a);
    sio_buf_init(&b);
    enum sio_cors_verdict v = sio_cors_check(&c, r, &a, &b);
    snprintf(lead, 512, "%.*s", (int)a.len, a.data ? (char *)a.data : "");
    snprintf(ct, 512, "%.*s", (int)b.len, b.data ? (char *)b.data : "");
    sio_buf_clear(&a);
    sio_buf_clear(&b);
    sio_cors_clear(&c);
    return v;
}

Test(http, cors_python_same_origin)
{
    char lead[512], ct[512];
    struct sio_http_req r = mkreq(HTTP_GET, "host", "127.0.0.1:5000", "origin", "http://127.0.0.1:5000", NULL);
    cr_assert_eq(check(SIO_CORS_PYTHON, NULL, &r, lead, ct), SIO_CORS_PASS);
    cr_assert_str_eq(lead, "");
    cr_assert_str_eq(ct, "Access-Control-Allow-Origin: http://127.0.0.1:5000\r\n"
                         "Access-Control-Allow-Credentials: true\r\n");
    r = mkreq(HTTP_GET, "host", "127.0.0.1:5000", "origin", "https://127.0.0.1:5000", NULL);
    cr_assert_eq(check(SIO_CORS_PYTHON, NULL, &r, lead, ct), SIO_CORS_REJECT);
    cr_assert_str_eq(ct, "Access-Control-Allow-Credentials: true\r\n");
    r = mkreq(HTTP_GET, "host", "127.0.0.1:5000", NULL);
    cr_assert_eq(check(SIO_CORS_PYTHON, NULL, &r, lead, ct), SIO_CORS_PASS);
    cr_assert_str_eq(ct, "Access-Control-Allow-Credentials: true\r\n");
    /* over TLS the request's scheme is https: an https page is same-origin */
    r = mkreq(HTTP_GET, "host", "127.0.0.1:5000", "origin", "https://127.0.0.1:5000", NULL);
    r.scheme = "https";
    cr_assert_eq(check(SIO_CORS_PYTHON, NULL, &r, lead, ct), SIO_CORS_PASS);
    r = mkreq(HTTP_GET, "host", "127.0.0.1:5000", "origin", "https://elsewhere:5000", NULL);
    r.scheme = "https";
    cr_assert_eq(check(SIO_CORS_PYTHON, NULL, &r, lead, ct), SIO_CORS_REJECT);
    /* behind a proxy */
    r = mkreq(HTTP_GET, "host", "127.0.0.1:5000", "x-forwarded-proto", "https",
              "x-forwarded-host", "chat.example, x", "origin", "https://chat.example", NULL);
    cr_assert_eq(check(SIO_CORS_PYTHON, NULL, &r, lead, ct), SIO_CORS_PASS);
}

Test(http, cors_python_lists_and_preflight)
{
    char lead[512], ct[512];
    struct sio_http_req r = mkreq(HTTP_OPTIONS, "host", "h", "origin", "https://b.example",
                                  "access-control-request-headers", "content-type", NULL);
    cr_assert_eq(check(SIO_CORS_PYTHON, "https://a.example, https://b.example", &r, lead, ct),
                 SIO_CORS_PREFLIGHT);
    cr_assert_str_eq(ct, "Access-Control-Allow-Origin: https://b.example\r\n"
                         "Access-Control-Allow-Methods: OPTIONS, GET, POST\r\n"
                         "Access-Control-Allow-Headers: content-type\r\n"
                         "Access-Control-Allow-Credentials: true\r\n");
    r = mkreq(HTTP_GET, "host", "h", "origin", "https://c.example", NULL);
    cr_assert_eq(check(SIO_CORS_PYTHON, "https://a.example,https://b.example", &r, lead, ct),
                 SIO_CORS_REJECT);
    cr_assert_eq(check(SIO_CORS_PYTHON, "*", &r, lead, ct), SIO_CORS_PASS);
    cr_assert(strstr(ct, "Access-Control-Allow-Origin: https://c.example\r\n"));
    cr_assert_eq(check(SIO_CORS_PYTHON, "", &r, lead, ct), SIO_CORS_PASS);
    cr_assert_str_eq(ct, "");
}

Test(http, cors_js)
{
    char lead[512], ct[512];
    struct sio_http_req r = mkreq(HTTP_GET, "origin", "https://evil.example", NULL);
    cr_assert_eq(check(SIO_CORS_JS, "https://example.com", &r, lead, ct), SIO_CORS_PASS);
    cr_assert_str_eq(lead, "Access-Control-Allow-Origin: https://example.com\r\nVary: Origin\r\n"
                           "Access-Control-Allow-Credentials: true\r\n");
    cr_assert_str_eq(ct, "");
    r = mkreq(HTTP_OPTIONS, "origin", "https://example.com", NULL);
    cr_assert_eq(check(SIO_CORS_JS, "https://example.com", &r, lead, ct), SIO_CORS_PREFLIGHT);
    cr_assert_str_eq(lead, "Access-Control-Allow-Origin: https://example.com\r\n"
                           "Vary: Origin, Access-Control-Request-Headers\r\n"
                           "Access-Control-Allow-Credentials: true\r\n"
                           "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
    /* js without origins: CORS off, OPTIONS goes on to the Engine.IO error */
    cr_assert_eq(check(SIO_CORS_JS, NULL, &r, lead, ct), SIO_CORS_PASS);
    cr_assert_str_eq(lead, "");
}

Test(http, header_lists)
{
    /* "Connection: keep-alive, Upgrade" is an upgrade (the WebSocket and
     * h2c upgrades are found in any order, case or spacing) */
    struct sio_http_req r = mkreq(HTTP_GET, "connection", " keep-alive ,\tUpgrade\t,,", NULL);
    cr_assert(sio_http_header_has_token(&r, "connection", "upgrade"));
    cr_assert(sio_http_header_has_token(&r, "connection", "keep-alive"));
    cr_assert_not(sio_http_header_has_token(&r, "connection", "close"));
    cr_assert_not(sio_http_header_has_token(&r, "connection", "upgrad"));
    cr_assert_not(sio_http_header_has_token(&r, "upgrade", "websocket"));
    r = mkreq(HTTP_GET, "connection", "upgraded", NULL);
    cr_assert_not(sio_http_header_has_token(&r, "connection", "upgrade"));
    const char *p = " a , b c\t,,", *s, *e;
    cr_assert(sio_http_list_next(&p, &s, &e));
    cr_assert_eq(e - s, 1);
    cr_assert_eq(*s, 'a');
    cr_assert(sio_http_list_next(&p, &s, &e));
    cr_assert_eq(e - s, 3);
    cr_assert_eq(strncmp(s, "b c", 3), 0);
    cr_assert_not(sio_http_list_next(&p, &s, &e));
}

Test(http, accept_encoding)
{
    struct sio_http_req r = mkreq(HTTP_GET, "accept-encoding", "gzip, deflate", NULL);
    cr_assert_eq(sio_http_accept_encoding(&r), SIO_ENC_GZIP);
    r = mkreq(HTTP_GET, "accept-encoding", "deflate", NULL);
    cr_assert_eq(sio_http_accept_encoding(&r), SIO_ENC_DEFLATE);
    r = mkreq(HTTP_GET, "accept-encoding", "gzip;q=0, deflate;q=0.5", NULL);
    cr_assert_eq(sio_http_accept_encoding(&r), SIO_ENC_DEFLATE);
    r = mkreq(HTTP_GET, "accept-encoding", "identity", NULL);
    cr_assert_eq(sio_http_accept_encoding(&r), SIO_ENC_IDENTITY);
    r = mkreq(HTTP_GET, "accept-encoding", "br, *", NULL);
    cr_assert_eq(sio_http_accept_encoding(&r), SIO_ENC_GZIP);
    r = mkreq(HTTP_GET, NULL);
    cr_assert_eq(sio_http_accept_encoding(&r), SIO_ENC_IDENTITY);
}

Test(http, compress_roundtrip)
{
    char src[3000];
    memset(src, 'x', sizeof src);
    for (int enc = SIO_ENC_GZIP; enc <= SIO_ENC_DEFLATE; enc++) {
        struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
        evbuffer_add(in, src, sizeof src);
        cr_assert_eq(sio_http_compress((enum sio_http_enc)enc, in, out), 0);
        cr_assert_eq(evbuffer_get_length(in), 0);
        size_t zl = evbuffer_get_length(out);
        unsigned char *z = evbuffer_pullup(out, -1);
        if (enc == SIO_ENC_GZIP)
            cr_assert(z[0] == 0x1f && z[1] == 0x8b);
        else
            cr_assert(z[0] == 0x78);
        char back[4000];
        z_stream s = { 0 };
        inflateInit2(&s, enc == SIO_ENC_GZIP ? 31 : 15);
        s.next_in = z;
        s.avail_in = (uInt)zl;
        s.next_out = (unsigned char *)back;
        s.avail_out = sizeof back;
        cr_assert_eq(inflate(&s, Z_FINISH), Z_STREAM_END);
        cr_assert_eq(s.total_out, sizeof src);
        cr_assert(memcmp(back, src, sizeof src) == 0);
        inflateEnd(&s);
        evbuffer_free(in);
        evbuffer_free(out);
    }
}

Test(http, static_types_and_match)
{
    cr_assert_str_eq(sio_static_content_type("/a/index.html"), "text/html");
    cr_assert_str_eq(sio_static_content_type("x.JS"), "application/javascript");
    cr_assert_str_eq(sio_static_content_type("x.png"), "image/png");
    cr_assert_str_eq(sio_static_content_type("d.v/noext"), "application/octet-stream");
    struct sio_static m[2];
    char err[256];
    cr_assert_eq(sio_static_init(&m[0], "/", "/tmp", err, sizeof err), 0);
    cr_assert_eq(sio_static_init(&m[1], "/docs", "/tmp", err, sizeof err), 0);
    struct sio_static bad;
    cr_assert_lt(sio_static_init(&bad, "/x", "/nonexistent-dir-of-test", err, sizeof err), 0);
    cr_assert_lt(sio_static_init(&bad, "x", "/tmp", err, sizeof err), 0);
    struct sio_http_req r = mkreq(HTTP_GET, NULL);
    r.path = "/docs/a.html";
    r.path_len = strlen(r.path);
    cr_assert_eq(sio_static_match(m, 2, &r), &m[1]);
    r.path = "/docsx";
    r.path_len = strlen(r.path);
    cr_assert_eq(sio_static_match(m, 2, &r), &m[0]);
    cr_assert_eq(sio_static_match(m + 1, 1, &r), NULL);
    sio_static_clear(&m[0]);
    sio_static_clear(&m[1]);
}

Test(http, static_file_mounts_and_default_file)
{
    char err[256];
    struct sio_static m[3];
    cr_assert_eq(sio_static_init(&m[0], "/", "/tmp", err, sizeof err), 0);
    cr_assert_eq(sio_static_init_file(&m[1], "/", "/etc/passwd", NULL, err, sizeof err), 0);
    cr_assert_str_eq(m[1].ctype, "application/octet-stream");
    cr_assert_eq(sio_static_init_file(&m[2], "/x.json", "/etc/passwd", "text/plain", err,
                                      sizeof err), 0);
    cr_assert_str_eq(m[2].ctype, "text/plain");
    struct sio_static bad;
    cr_assert_lt(sio_static_init_file(&bad, "/d", "/tmp", NULL, err, sizeof err), 0);
    cr_assert(strstr(err, "not a regular file"));
    cr_assert_lt(sio_static_init_file(&bad, "/d", "/nonexistent-file-of-test", NULL, err,
                                      sizeof err), 0);
    cr_assert_lt(sio_static_init_file(&bad, "d", "/etc/passwd", NULL, err, sizeof err), 0);
    cr_assert_lt(sio_static_init_file(&bad, "/d", "/etc/passwd", "a\r\nb", err, sizeof err), 0);
    /* an exact file URL wins over a directory prefix; only exactly */
    struct sio_http_req r = mkreq(HTTP_GET, NULL);
    r.path = "/";
    r.path_len = 1;
    cr_assert_eq(sio_static_match(m, 3, &r), &m[1]);
    r.path = "/x.json";
    r.path_len = strlen(r.path);
    cr_assert_eq(sio_static_match(m, 3, &r), &m[2]);
    r.path = "/x.json/more";
    r.path_len = strlen(r.path);
    cr_assert_eq(sio_static_match(m, 3, &r), &m[0]);
    cr_assert_eq(sio_static_match(m + 1, 2, &r), NULL);
    cr_assert_eq(sio_static_set_default_file(&m[0], "home.html", err, sizeof err), 0);
    cr_assert_str_eq(m[0].index, "home.html");
    cr_assert_lt(sio_static_set_default_file(&m[0], "a/b.html", err, sizeof err), 0);
    cr_assert_lt(sio_static_set_default_file(&m[0], "..", err, sizeof err), 0);
    cr_assert_lt(sio_static_set_default_file(&m[0], "", err, sizeof err), 0);
    for (int i = 0; i < 3; i++)
        sio_static_clear(&m[i]);
}

Test(http, upstream_url)
{
    struct sio_upstream u;
    char err[256];
    cr_assert_eq(sio_upstream_init(&u, "http://127.0.0.1:8080", err, sizeof err), 0);
    cr_assert_str_eq(u.host, "127.0.0.1");
    cr_assert_eq(u.port, 8080);
    sio_upstream_clear(&u);
    cr_assert_eq(sio_upstream_init(&u, "http://[::1]:9000/", err, sizeof err), 0);
    cr_assert_str_eq(u.host, "::1");
    cr_assert_eq(u.port, 9000);
    sio_upstream_clear(&u);
    cr_assert_eq(sio_upstream_init(&u, "http://localhost", err, sizeof err), 0);
    cr_assert_eq(u.port, 80);
    sio_upstream_clear(&u);
    static const char *const bad[] = {
        "https://127.0.0.1:1", "http://", "127.0.0.1:80", "http://h:1/app", "http://h:1/?q",
        "http://u@h:1", "http://h:0", "http://h:70000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_lt(sio_upstream_init(&u, bad[i], err, sizeof err), 0, "%s", bad[i]);
        cr_assert(strstr(err, "bad upstream"), "%s: %s", bad[i], err);
    }
}

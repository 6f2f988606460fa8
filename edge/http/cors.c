/* cors.c: cross-origin policy of the Engine.IO endpoints (see cors.h). */
#include "edge/http/cors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <http_parser.h>
#include "edge/gateway/gateway.h"

static char *trimdup(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

int sio_cors_init(struct sio_cors *c, int mode, const char *list, bool credentials)
{
    memset(c, 0, sizeof *c);
    c->mode = mode;
    c->credentials = credentials;
    if (mode == SIO_CORS_OFF || (list && !*list) || (mode == SIO_CORS_JS && !list)) {
        c->off = true;
        return 0;
    }
    if (!list) {
        c->same_origin = true;
        return 0;
    }
    if (strcmp(list, "*") == 0) {
        c->any = true;
        return 0;
    }
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char *o = trimdup(p, n);
        char **v = o ? realloc(c->origins, (c->norigins + 1) * sizeof *v) : NULL;
        if (!v) {
            free(o);
            sio_cors_clear(c);
            return -ENOMEM;
        }
        c->origins = v;
        if (*o)
            c->origins[c->norigins++] = o;
        else
            free(o);
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

void sio_cors_clear(struct sio_cors *c)
{
    for (size_t i = 0; i < c->norigins; i++)
        free(c->origins[i]);
    free(c->origins);
    c->origins = NULL;
    c->norigins = 0;
}

static bool in_list(const struct sio_cors *c, const char *origin)
{
    for (size_t i = 0; i < c->norigins; i++)
        if (strcmp(c->origins[i], origin) == 0)
            return true;
    return false;
}

/* First comma-separated element of a header value, trimmed. */
static size_t first_elem(const char *v, const char **start)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strcspn(v, ",");
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *start = v;
    return n;
}

static bool origin_is(const char *origin, const char *scheme, size_t sl, const char *host, size_t hl)
{
    size_t ol = strlen(origin);
    return ol == sl + 3 + hl && memcmp(origin, scheme, sl) == 0 &&
           memcmp(origin + sl, "://", 3) == 0 && memcmp(origin + sl + 3, host, hl) == 0;
}

/* python-engineio's default: the request's own scheme://Host, and the
 * X-Forwarded-Proto / X-Forwarded-Host variant when a proxy sent one. */
static bool same_origin(const struct sio_http_req *req, const char *origin)
{
    const struct sio_http_hdr *host = sio_http_header(req, "host");
    if (!host)
        return false;
    /* the request's scheme: https over TLS (python-engineio's url_scheme);
     * http too, as before TLS existed (websocket-client sends an http
     * Origin for wss) */
    if (origin_is(origin, "http", 4, host->value, host->value_len) ||
        (req->scheme && origin_is(origin, req->scheme, strlen(req->scheme), host->value,
                                  host->value_len)))
        return true;
    const struct sio_http_hdr *xp = sio_http_header(req, "x-forwarded-proto");
    const struct sio_http_hdr *xh = sio_http_header(req, "x-forwarded-host");
    if (!xp && !xh)
        return false;
    const char *s = "http", *h = host->value;
    size_t sl = 4, hl = host->value_len;
    if (xp)
        sl = first_elem(xp->value, &s);
    if (xh)
        hl = first_elem(xh->value, &h);
    return origin_is(origin, s, sl, h, hl);
}

static void python_headers(const struct sio_cors *c, const struct sio_http_req *req,
                           const char *origin, bool allowed, struct sio_buf *out)
{
    if (origin && *origin && allowed)
        sio_buf_printf(out, "Access-Control-Allow-Origin: %s\r\n", origin);
    if (req->method == HTTP_OPTIONS)
        sio_buf_append_str(out, "Access-Control-Allow-Methods: OPTIONS, GET, POST\r\n");
    const struct sio_http_hdr *acrh = sio_http_header(req, "access-control-request-headers");
    if (acrh)
        sio_buf_printf(out, "Access-Control-Allow-Headers: %s\r\n", acrh->value);
    if (c->credentials)
        sio_buf_append_str(out, "Access-Control-Allow-Credentials: true\r\n");
}

static enum sio_cors_verdict python_check(const struct sio_cors *c, const struct sio_http_req *req,
                                          struct sio_buf *after_ct)
{
    const struct sio_http_hdr *oh = sio_http_header(req, "origin");
    const char *origin = oh ? oh->value : NULL;
    bool allowed = true;
    if (origin && *origin) {
        if (c->same_origin)
            allowed = same_origin(req, origin);
        else if (!c->any)
            allowed = in_list(c, origin);
    }
    python_headers(c, req, origin, allowed, after_ct);
    if (!allowed)
        return SIO_CORS_REJECT;
    return req->method == HTTP_OPTIONS ? SIO_CORS_PREFLIGHT : SIO_CORS_PASS;
}

/* As the `cors` package: a single origin is sent as configured, a list
 * reflects a listed Origin (else no ACAO), "*" is sent literally. */
static enum sio_cors_verdict js_check(const struct sio_cors *c, const struct sio_http_req *req,
                                      struct sio_buf *lead)
{
    const struct sio_http_hdr *oh = sio_http_header(req, "origin");
    bool preflight = req->method == HTTP_OPTIONS;
    bool vary_origin = true;
    if (c->any) {
        sio_buf_append_str(lead, "Access-Control-Allow-Origin: *\r\n");
        vary_origin = false;
    } else if (c->norigins == 1) {
        sio_buf_printf(lead, "Access-Control-Allow-Origin: %s\r\n", c->origins[0]);
    } else if (oh && in_list(c, oh->value)) {
        sio_buf_printf(lead, "Access-Control-Allow-Origin: %s\r\n", oh->value);
    }
    if (preflight)
        sio_buf_append_str(lead, vary_origin ? "Vary: Origin, Access-Control-Request-Headers\r\n"
                                             : "Vary: Access-Control-Request-Headers\r\n");
    else if (vary_origin)
        sio_buf_append_str(lead, "Vary: Origin\r\n");
    if (c->credentials)
        sio_buf_append_str(lead, "Access-Control-Allow-Credentials: true\r\n");
    if (!preflight)
        return SIO_CORS_PASS;
    sio_buf_append_str(lead, "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
    const struct sio_http_hdr *acrh = sio_http_header(req, "access-control-request-headers");
    if (acrh)
        sio_buf_printf(lead, "Access-Control-Allow-Headers: %s\r\n", acrh->value);
    return SIO_CORS_PREFLIGHT;
}

enum sio_cors_verdict sio_cors_check(const struct sio_cors *c, const struct sio_http_req *req,
                                     struct sio_buf *lead, struct sio_buf *after_ct)
{
    if (c->off) {
        /* python answers OPTIONS "OK" even with CORS handling off */
        return c->mode == SIO_CORS_PYTHON && req->method == HTTP_OPTIONS ? SIO_CORS_PREFLIGHT
                                                                         : SIO_CORS_PASS;
    }
    if (c->mode == SIO_CORS_JS)
        return js_check(c, req, lead);
    return python_check(c, req, after_ct);
}

/* upstream.c: forward HTTP requests to an upstream application (see
 * upstream.h). The HTTP client is libevent's evhttp. */
#include "edge/http/upstream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <http_parser.h>
#include <sio/log.h>

SIO_LOG_TOPIC_STATIC(topic, "edge.upstream");

#define VIA "1.1 sio"

struct sio_upstream_req {
    const struct sio_upstream *u;
    struct sio_http_conn *c;            /* NULL once detached */
    struct sio_upstream_req **pending;  /* the owner's pointer to us */
    struct evhttp_connection *conn;
    struct event_base *base;
    bool head;
    enum evhttp_request_error err;
    bool failed;
};

int sio_upstream_init(struct sio_upstream *u, const char *url, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    int port = uri ? evhttp_uri_get_port(uri) : -1;
    if (!uri || !scheme || strcasecmp(scheme, "http") != 0 || !host || !*host ||
        (path && *path && strcmp(path, "/") != 0) || evhttp_uri_get_query(uri) ||
        evhttp_uri_get_userinfo(uri) || port == 0 || port > 65535) {
        snprintf(err, errlen, "bad upstream '%s' (http://HOST[:PORT])", url);
        if (uri)
            evhttp_uri_free(uri);
        return -EINVAL;
    }
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host++;
        hl -= 2;
    }
    u->url = strdup(url);
    u->host = strndup(host, hl);
    u->port = port < 0 ? 80 : (uint16_t)port;
    evhttp_uri_free(uri);
    if (!u->url || !u->host) {
        sio_upstream_clear(u);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

void sio_upstream_clear(struct sio_upstream *u)
{
    free(u->url);
    free(u->host);
    memset(u, 0, sizeof *u);
}

static bool hop_by_hop(const char *name)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "trailers",
        "transfer-encoding", "upgrade", "content-length", "expect", "proxy-authenticate",
        "proxy-authorization",
    };
    for (size_t i = 0; i < sizeof hop / sizeof hop[0]; i++)
        if (strcasecmp(name, hop[i]) == 0)
            return true;
    return false;
}

/* A header named by a token of the request's Connection header is hop-by-hop too. */
static bool in_connection(const char *conn, const char *name)
{
    size_t nl = strlen(name);
    for (const char *s = conn; s && *s;) {
        s += strspn(s, " \t,");
        size_t n = strcspn(s, " \t,");
        if (n == nl && n && strncasecmp(s, name, n) == 0)
            return true;
        s += n;
    }
    return false;
}

static bool clean_value(const char *v)
{
    return !strpbrk(v, "\r\n");
}

static int method_type(int m)
{
    switch (m) {
    case HTTP_GET: return EVHTTP_REQ_GET;
    case HTTP_POST: return EVHTTP_REQ_POST;
    case HTTP_HEAD: return EVHTTP_REQ_HEAD;
    case HTTP_PUT: return EVHTTP_REQ_PUT;
    case HTTP_DELETE: return EVHTTP_REQ_DELETE;
    case HTTP_OPTIONS: return EVHTTP_REQ_OPTIONS;
    case HTTP_TRACE: return EVHTTP_REQ_TRACE;
    case HTTP_PATCH: return EVHTTP_REQ_PATCH;
    default: return -1;
    }
}

static void reply_text(struct sio_http_conn *c, const char *status, const char *text)
{
    char pre[128];
    snprintf(pre, sizeof pre, "Content-Type: text/plain\r\nContent-Length: %zu\r\nVia: " VIA "\r\n",
             strlen(text));
    sio_http_reply(c, status, pre, false, text, strlen(text));
}

static void finish(struct sio_upstream_req *ur)
{
    if (ur->pending)
        *ur->pending = NULL;
    free(ur);
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    struct sio_upstream_req *ur = arg;
    ur->failed = true;
    ur->err = e;
}

static void free_conn(evutil_socket_t fd, short what, void *arg)
{
    evhttp_connection_free(arg);
}

static void on_done(struct evhttp_request *res, void *arg)
{
    struct sio_upstream_req *ur = arg;
    struct sio_http_conn *c = ur->c;
    int code = res ? evhttp_request_get_response_code(res) : 0;
    /* A failed connect (refused, timed out) ends here without on_error and
     * libevent 2.1 does not auto-free the connection then: free it from
     * the loop once this callback is over (every other end auto-frees). */
    if (!ur->failed && code == 0 &&
        event_base_once(ur->base, -1, EV_TIMEOUT, free_conn, ur->conn, NULL) < 0)
        sio_log_warn(topic, "cannot free an upstream connection");
    if (!c)
        goto out;
    if (!res || code < 100 || code > 999 || ur->failed) {
        char msg[600];
        bool timeout = ur->failed && ur->err == EVREQ_HTTP_TIMEOUT;
        bool big = ur->failed && ur->err == EVREQ_HTTP_DATA_TOO_LONG;
        snprintf(msg, sizeof msg, "%s: upstream %s %s\n",
                 timeout ? "Gateway Timeout" : "Bad Gateway", ur->u->url,
                 timeout ? "did not answer in time"
                 : big ? "sent a response over the size limit"
                 : "is unreachable or closed the connection");
        sio_log_debug(topic, "%p: %s", (void *)c, msg);
        reply_text(c, timeout ? "504 Gateway Timeout" : "502 Bad Gateway", msg);
        goto out;
    }
    const char *line = evhttp_request_get_response_code_line(res);
    char status[160];
    snprintf(status, sizeof status, "%d %s", code, line && clean_value(line) ? line : "");
    struct evbuffer *pre = evbuffer_new();
    if (!pre) {
        reply_text(c, "502 Bad Gateway", "Bad Gateway: out of memory\n");
        goto out;
    }
    const char *clen = NULL;
    bool via = false;
    struct evkeyvalq *hs = evhttp_request_get_input_headers(res);
    for (struct evkeyval *kv = hs->tqh_first; kv; kv = kv->next.tqe_next) {
        if (strcasecmp(kv->key, "content-length") == 0)
            clen = kv->value;
        if (hop_by_hop(kv->key) || strcasecmp(kv->key, "date") == 0 ||
            !clean_value(kv->key) || !clean_value(kv->value))
            continue;
        if (strcasecmp(kv->key, "via") == 0) {
            evbuffer_add_printf(pre, "%s: %s, " VIA "\r\n", kv->key, kv->value);
            via = true;
        } else {
            evbuffer_add_printf(pre, "%s: %s\r\n", kv->key, kv->value);
        }
    }
    if (!via)
        evbuffer_add_printf(pre, "Via: " VIA "\r\n");
    struct evbuffer *body = evhttp_request_get_input_buffer(res);
    bool nobody = ur->head || code < 200 || code == 204 || code == 304;
    if (nobody) {
        /* HEAD keeps the upstream's Content-Length: the size a GET would get */
        if (ur->head && clen && clean_value(clen))
            evbuffer_add_printf(pre, "Content-Length: %s\r\n", clen);
        evbuffer_add(pre, "", 1);
        sio_http_reply(c, status, (const char *)evbuffer_pullup(pre, -1), false, NULL, 0);
    } else {
        evbuffer_add(pre, "", 1);
        sio_http_reply_evbuf(c, status, "", (const char *)evbuffer_pullup(pre, -1), body);
    }
    evbuffer_free(pre);
out:
    finish(ur);
}

/* "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1" */
static void addr_ip(const char *addr, char *out, size_t outlen)
{
    const char *s = addr ? addr : "";
    size_t n;
    if (*s == '[') {
        s++;
        n = strcspn(s, "]");
    } else {
        const char *colon = strrchr(s, ':');
        n = colon ? (size_t)(colon - s) : strlen(s);
    }
    snprintf(out, outlen, "%.*s", (int)n, s);
}

void sio_upstream_forward(const struct sio_upstream *u, struct event_base *base,
                          struct sio_http_conn *c, const struct sio_http_req *req,
                          const char *client_addr, struct sio_upstream_req **pending)
{
    *pending = NULL;
    int type = method_type(req->method);
    if (type < 0) {
        reply_text(c, "501 Not Implemented", "Not Implemented\n");
        return;
    }
    struct sio_upstream_req *ur = calloc(1, sizeof *ur);
    struct evhttp_connection *conn = ur ? evhttp_connection_base_new(base, NULL, u->host, u->port)
                                        : NULL;
    struct evhttp_request *r = conn ? evhttp_request_new(on_done, ur) : NULL;
    if (!r) {
        if (conn)
            evhttp_connection_free(conn);
        free(ur);
        reply_text(c, "502 Bad Gateway", "Bad Gateway: out of memory\n");
        return;
    }
    ur->u = u;
    ur->c = c;
    ur->conn = conn;
    ur->base = base;
    ur->head = type == EVHTTP_REQ_HEAD;
    evhttp_connection_set_timeout(conn, SIO_UPSTREAM_TIMEOUT_S);
    evhttp_connection_set_retries(conn, 0);
    evhttp_connection_set_max_body_size(conn, SIO_UPSTREAM_MAX_BODY);
    evhttp_connection_set_max_headers_size(conn, SIO_UPSTREAM_MAX_HEADERS);
    evhttp_request_set_error_cb(r, on_error);

    struct evkeyvalq *out = evhttp_request_get_output_headers(r);
    const struct sio_http_hdr *connhdr = sio_http_header(req, "connection");
    char ip[64];
    addr_ip(client_addr, ip, sizeof ip);
    bool xff = false, proto = false, fhost = false, via = false;
    for (size_t i = 0; i < req->nhdrs; i++) {
        const struct sio_http_hdr *h = &req->hdrs[i];
        if (hop_by_hop(h->name) || (connhdr && in_connection(connhdr->value, h->name)) ||
            !clean_value(h->value))
            continue;
        if (strcmp(h->name, "x-forwarded-for") == 0) {
            char *v = malloc(h->value_len + strlen(ip) + 3);
            if (v) {
                sprintf(v, "%s, %s", h->value, ip);
                evhttp_add_header(out, h->name, v);
                free(v);
            }
            xff = true;
            continue;
        }
        if (strcmp(h->name, "via") == 0) {
            char *v = malloc(h->value_len + sizeof VIA + 2);
            if (v) {
                sprintf(v, "%s, " VIA, h->value);
                evhttp_add_header(out, h->name, v);
                free(v);
            }
            via = true;
            continue;
        }
        proto |= strcmp(h->name, "x-forwarded-proto") == 0;
        fhost |= strcmp(h->name, "x-forwarded-host") == 0;
        evhttp_add_header(out, h->name, h->value);
    }
    if (!xff)
        evhttp_add_header(out, "X-Forwarded-For", ip);
    if (!proto)
        evhttp_add_header(out, "X-Forwarded-Proto", "http");
    const struct sio_http_hdr *host = sio_http_header(req, "host");
    if (!fhost && host && clean_value(host->value))
        evhttp_add_header(out, "X-Forwarded-Host", host->value);
    if (!via)
        evhttp_add_header(out, "Via", VIA);
    evhttp_add_header(out, "Connection", "close");
    if (req->body_len)
        evbuffer_add(evhttp_request_get_output_buffer(r), req->body, req->body_len);

    ur->pending = pending;
    *pending = ur;
    sio_log_debug(topic, "%p: %s %s -> %s", (void *)c, req->method_name, req->url, u->url);
    /* libevent frees the connection once its request is done */
    evhttp_connection_free_on_completion(conn);
    if (evhttp_make_request(conn, r, (enum evhttp_cmd_type)type, req->url) < 0 && *pending == ur) {
        /* not sent and not answered: who frees what is libevent's; drop
         * the answer should on_done still run */
        ur->c = NULL;
        ur->pending = NULL;
        *pending = NULL;
        reply_text(c, "502 Bad Gateway", "Bad Gateway: cannot send the request upstream\n");
    }
}

void sio_upstream_detach(struct sio_upstream_req **pending)
{
    struct sio_upstream_req *ur = pending ? *pending : NULL;
    if (!ur)
        return;
    ur->c = NULL;
    ur->pending = NULL;
    *pending = NULL;
}

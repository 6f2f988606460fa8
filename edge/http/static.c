/* static.c: static files under URL prefixes (see static.h). */
#include "edge/http/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <http_parser.h>
#include <sio/log.h>

SIO_LOG_TOPIC_STATIC(topic, "edge.static");

int sio_static_init(struct sio_static *m, const char *prefix, const char *dir,
                    char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (prefix[0] != '/') {
        snprintf(err, errlen, "static prefix '%s' must start with '/'", prefix);
        return -EINVAL;
    }
    char *root = realpath(dir, NULL);
    struct stat st;
    if (!root || stat(root, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "static dir '%s': %s", dir, root ? "not a directory" : strerror(errno));
        free(root);
        return -EINVAL;
    }
    m->prefix = strdup(prefix);
    if (!m->prefix) {
        free(root);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->prefix_len = strlen(prefix);
    m->root = root;
    return 0;
}

int sio_static_init_file(struct sio_static *m, const char *url, const char *file,
                         const char *ctype, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (url[0] != '/') {
        snprintf(err, errlen, "static URL '%s' must start with '/'", url);
        return -EINVAL;
    }
    if (ctype && (!*ctype || strpbrk(ctype, "\r\n") || strlen(ctype) > 100)) {
        snprintf(err, errlen, "static file '%s': bad content type", file);
        return -EINVAL;
    }
    char *path = realpath(file, NULL);
    struct stat st;
    if (!path || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "static file '%s': %s", file, path ? "not a regular file" : strerror(errno));
        free(path);
        return -EINVAL;
    }
    m->file = path;
    m->prefix = strdup(url);
    /* by the name as configured, not its realpath (python's rule) */
    m->ctype = strdup(ctype ? ctype : sio_static_content_type(file));
    if (!m->prefix || !m->ctype) {
        sio_static_clear(m);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    m->prefix_len = strlen(url);
    return 0;
}

int sio_static_set_default_file(struct sio_static *m, const char *name, char *err, size_t errlen)
{
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
        strlen(name) > 255) {
        snprintf(err, errlen, "bad static default file '%s' (a file name, no '/')", name);
        return -EINVAL;
    }
    char *dup = strdup(name);
    if (!dup) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    free(m->index);
    m->index = dup;
    return 0;
}

void sio_static_clear(struct sio_static *m)
{
    free(m->prefix);
    free(m->root);
    free(m->file);
    free(m->ctype);
    free(m->index);
    memset(m, 0, sizeof *m);
}

const struct sio_static *sio_static_match(const struct sio_static *m, size_t n,
                                          const struct sio_http_req *req)
{
    const struct sio_static *best = NULL;
    for (size_t i = 0; i < n; i++)
        if (m[i].file && req->path_len == m[i].prefix_len &&
            memcmp(req->path, m[i].prefix, req->path_len) == 0)
            return &m[i];
    for (size_t i = 0; i < n; i++) {
        size_t pl = m[i].prefix_len;
        if (m[i].file)
            continue;
        if (req->path_len < pl || memcmp(req->path, m[i].prefix, pl) != 0)
            continue;
        /* "/static" covers "/static" and "/static/...", not "/staticx" */
        if (m[i].prefix[pl - 1] != '/' && req->path_len > pl && req->path[pl] != '/')
            continue;
        if (!best || pl > best->prefix_len)
            best = &m[i];
    }
    return best;
}

const char *sio_static_content_type(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { "html", "text/html" }, { "htm", "text/html" }, { "css", "text/css" },
        { "js", "application/javascript" }, { "mjs", "application/javascript" },
        { "json", "application/json" }, { "map", "application/json" },
        { "txt", "text/plain" }, { "png", "image/png" }, { "jpg", "image/jpeg" },
        { "jpeg", "image/jpeg" }, { "gif", "image/gif" }, { "svg", "image/svg+xml" },
        { "ico", "image/x-icon" },
    };
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode %XX into out (size >= n + 1). False on a bad escape or a NUL. */
static bool url_decode(const char *s, size_t n, char *out)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (i + 2 >= n || hi < 0 || lo < 0)
                return false;
            ch = (char)(hi << 4 | lo);
            i += 2;
        }
        if (ch == 0)
            return false;
        out[j++] = ch;
    }
    out[j] = 0;
    return true;
}

static bool has_dotdot(const char *p)
{
    for (const char *s = p; *s;) {
        while (*s == '/')
            s++;
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return true;
        s += n;
    }
    return false;
}

/* realpath(path) if it is root itself or under it. */
static char *resolve_under(const char *root, const char *path)
{
    char *r = realpath(path, NULL);
    if (!r)
        return NULL;
    size_t rl = strlen(root);
    if (strcmp(r, root) == 0 || (strncmp(r, root, rl) == 0 && (r[rl] == '/' || rl == 1)))
        return r;
    free(r);
    return NULL;
}

static void not_found(struct sio_http_conn *c)
{
    sio_http_reply(c, "404 Not Found", "Content-Type: text/plain\r\nContent-Length: 9\r\n", false,
                   "Not Found", 9);
}

/* Answer req from m. With fallthrough, a missing or refused file or a
 * method other than GET/HEAD gets no reply and false. */
static bool serve(const struct sio_static *m, struct sio_http_conn *c,
                  const struct sio_http_req *req, bool fallthrough)
{
    bool found = true;
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        if (fallthrough)
            return false;
        sio_http_reply(c, "405 Method Not Allowed",
                       "Allow: GET, HEAD\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n",
                       false, "Method Not Allowed", 18);
        return true;
    }
    const char *index = m->index ? m->index : "index.html";
    const char *ctype = m->ctype;
    char *path = NULL;
    char *file = NULL;
    int fd = -1;
    struct stat st;
    if (m->file) {
        file = strdup(m->file);
        if (!file || stat(file, &st) < 0)
            goto nf;
        goto found;
    }
    const char *rest = req->path + m->prefix_len;
    size_t restlen = req->path_len - m->prefix_len;
    size_t rl = strlen(m->root);
    /* root + '/' + decoded rest + '/' + index */
    size_t cap = rl + restlen + strlen(index) + 4;
    path = malloc(cap);
    if (!path)
        goto nf;
    memcpy(path, m->root, rl);
    path[rl] = '/';
    if (!url_decode(rest, restlen, path + rl + 1) || has_dotdot(path + rl + 1)) {
        sio_log_debug(topic, "refused path %.*s", (int)req->path_len, req->path);
        goto nf;
    }
    size_t pl = strlen(path);
    if (path[pl - 1] == '/')
        strcpy(path + pl, index);
    file = resolve_under(m->root, path);
    if (!file || stat(file, &st) < 0)
        goto nf;
    if (S_ISDIR(st.st_mode)) {
        pl = strlen(path);
        path[pl] = '/';
        strcpy(path + pl + 1, index);
        free(file);
        file = resolve_under(m->root, path);
        if (!file || stat(file, &st) < 0)
            goto nf;
    }
found:
    if (!S_ISREG(st.st_mode))
        goto nf;
    char pre[160];
    snprintf(pre, sizeof pre, "Content-Type: %s\r\n", ctype ? ctype : sio_static_content_type(file));
    if (req->method == HTTP_HEAD) {
        char head[220];
        snprintf(head, sizeof head, "%sContent-Length: %lld\r\n", pre, (long long)st.st_size);
        sio_http_reply(c, "200 OK", head, false, NULL, 0);
        goto out;
    }
    fd = open(file, O_RDONLY | O_CLOEXEC);
    struct evbuffer *body = fd >= 0 ? evbuffer_new() : NULL;
    if (!body || (st.st_size > 0 && evbuffer_add_file(body, fd, 0, st.st_size) < 0)) {
        if (body)
            evbuffer_free(body);
        if (fd >= 0)
            close(fd);
        sio_http_reply(c, "500 Internal Server Error", "Content-Length: 0\r\n", false, NULL, 0);
        goto out;
    }
    if (st.st_size == 0)
        close(fd);
    sio_http_reply_evbuf(c, "200 OK", pre, "", body);
    evbuffer_free(body);
    goto out;
nf:
    found = !fallthrough;
    if (found)
        not_found(c);
out:
    free(file);
    free(path);
    return found;
}

void sio_static_serve(const struct sio_static *m, struct sio_http_conn *c,
                      const struct sio_http_req *req)
{
    serve(m, c, req, false);
}

bool sio_static_try(const struct sio_static *m, struct sio_http_conn *c,
                    const struct sio_http_req *req)
{
    return serve(m, c, req, true);
}

/* jobs.c: start Celery jobs from Socket.IO clients (docs/JOBS.md).
 *
 * Namespace "/jobs". Event:
 *   start_job PAYLOAD   enqueue the Celery task `jobs.run` with the arguments
 *                       (sid, namespace, PAYLOAD) and ack {"job_id": ID}, ID
 *                       being the Celery task id; {"error": TEXT} when the
 *                       broker cannot be reached.
 * The task, when done, emits `job_done` to the sid through python-socketio's
 * write-only RedisManager, and `sio server --bridge redis://...` delivers it.
 *
 * The task message is written the way Celery 5 (protocol 2, JSON serializer)
 * puts it on its Redis broker: kombu's JSON envelope with a base64 body,
 * LPUSHed on the queue's list (key "celery"). Environment:
 *   SIO_JOBS_BROKER  redis://[:password@]host[:port][/db]
 *                    (default redis://127.0.0.1:6379/0)
 *   SIO_JOBS_QUEUE   queue name (default "celery")
 * The push is a short blocking call (1 s timeouts) on one connection shared
 * by all shards under a mutex, reconnected when it fails.
 */
#include <sio/plugin.h>

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define TASK_NAME "jobs.run"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static redisContext *conn;        /* under lock */

struct broker {
    char host[256];
    int port;
    int db;
    char password[256];
};

/* redis://[:password@]host[:port][/db]; 0 or -1 when malformed. */
static int parse_url(const char *url, struct broker *b)
{
    memset(b, 0, sizeof *b);
    snprintf(b->host, sizeof b->host, "127.0.0.1");
    b->port = 6379;
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *p = url + 8;
    const char *at = strchr(p, '@');
    if (at) {
        const char *pw = memchr(p, ':', (size_t)(at - p));
        pw = pw ? pw + 1 : p;
        if ((size_t)(at - pw) >= sizeof b->password)
            return -1;
        memcpy(b->password, pw, (size_t)(at - pw));
        p = at + 1;
    }
    const char *end = p + strcspn(p, "/");
    const char *hend = end;
    if (*p == '[') {                        /* [::1]:port */
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return -1;
        if ((size_t)(rb - p - 1) >= sizeof b->host)
            return -1;
        memcpy(b->host, p + 1, (size_t)(rb - p - 1));
        b->host[rb - p - 1] = 0;
        if (rb + 1 < end && rb[1] == ':')
            b->port = atoi(rb + 2);
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (colon) {
            hend = colon;
            b->port = atoi(colon + 1);
        }
        if (hend > p) {
            if ((size_t)(hend - p) >= sizeof b->host)
                return -1;
            memcpy(b->host, p, (size_t)(hend - p));
            b->host[hend - p] = 0;
        }
    }
    if (*end == '/' && end[1])
        b->db = atoi(end + 1);
    return b->port > 0 && b->port < 65536 ? 0 : -1;
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* Connected context or NULL (lock held). */
static redisContext *broker_conn(void)
{
    if (conn && !conn->err)
        return conn;
    if (conn) {
        redisFree(conn);
        conn = NULL;
    }
    struct broker b;
    const char *url = env_or("SIO_JOBS_BROKER", "redis://127.0.0.1:6379/0");
    if (parse_url(url, &b) < 0) {
        fprintf(stderr, "jobs: bad SIO_JOBS_BROKER %s\n", url);
        return NULL;
    }
    struct timeval tv = { 1, 0 };
    redisContext *c = redisConnectWithTimeout(b.host, b.port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    if (b.password[0]) {
        r = redisCommand(c, "AUTH %s", b.password);
        if (!r || r->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(r);
    }
    if (b.db) {
        r = redisCommand(c, "SELECT %d", b.db);
        if (!r || r->type == REDIS_REPLY_ERROR)
            goto fail;
        freeReplyObject(r);
    }
    conn = c;
    return conn;
fail:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return NULL;
}

/* LPUSH queue msg; 0 or -1. Retries once on a fresh connection. */
static int broker_push(const char *queue, const char *msg)
{
    int ok = -1;
    pthread_mutex_lock(&lock);
    for (int attempt = 0; attempt < 2 && ok < 0; attempt++) {
        redisContext *c = broker_conn();
        if (!c)
            continue;
        redisReply *r = redisCommand(c, "LPUSH %s %s", queue, msg);
        if (r && r->type == REDIS_REPLY_INTEGER)
            ok = 0;
        if (r)
            freeReplyObject(r);
        else {                          /* I/O error: drop the connection */
            redisFree(conn);
            conn = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

/* A random (version 4) UUID in its 36-character text form. */
static int uuid4(char out[37])
{
    unsigned char u[16];
    if (getrandom(u, sizeof u, 0) != (ssize_t)sizeof u)
        return -1;
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
             u[12], u[13], u[14], u[15]);
    return 0;
}

/* Standard base64 with padding; a new string (free()) or NULL. */
static char *base64(const char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = (const unsigned char *)s;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}

/* The kombu envelope of a Celery protocol 2 task message (JSON serializer):
 * body = base64([args, kwargs, embed]). A new string or NULL. */
static char *celery_message(const char *task, const char *id, json_t *args, const char *queue)
{
    char reply_to[37], tag[37], host[200], origin[256];
    if (uuid4(reply_to) < 0 || uuid4(tag) < 0)
        return NULL;
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    snprintf(origin, sizeof origin, "sio-jobs%ld@%s", (long)getpid(), host);

    json_t *body = json_pack("[O{}{s:n,s:n,s:n,s:n}]", args,
                             "callbacks", "errbacks", "chain", "chord");
    char *bjson = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char *b64 = bjson ? base64(bjson, strlen(bjson)) : NULL;
    free(bjson);
    /* argsrepr is for display (logs, flower): the arguments as JSON. */
    char *argsrepr = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *msg = NULL;
    if (b64 && argsrepr)
        msg = json_pack(
            "{s:s, s:s, s:s,"
            " s:{s:s, s:s, s:s, s:n, s:n, s:n, s:n, s:n, s:i, s:[nn], s:s, s:n,"
            "    s:s, s:s, s:s, s:b},"
            " s:{s:s, s:s, s:i, s:{s:s, s:s}, s:i, s:s, s:s}}",
            "body", b64,
            "content-encoding", "utf-8",
            "content-type", "application/json",
            "headers",
              "lang", "py", "task", task, "id", id, "shadow", "eta", "expires",
              "group", "group_index", "retries", 0, "timelimit", "root_id", id,
              "parent_id", "argsrepr", argsrepr, "kwargsrepr", "{}",
              "origin", origin, "ignore_result", 0,
            "properties",
              "correlation_id", id, "reply_to", reply_to, "delivery_mode", 2,
              "delivery_info", "exchange", "", "routing_key", queue,
              "priority", 0, "body_encoding", "base64", "delivery_tag", tag);
    free(b64);
    free(argsrepr);
    char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    return s;
}

static json_t *on_start_job(struct sio_ctx *ctx, json_t *args)
{
    json_t *payload = json_array_get(args, 0);
    char id[37];
    if (uuid4(id) < 0)
        return json_pack("{s:s}", "error", "no random bytes");
    json_t *targs = json_pack("[ssO]", sio_ctx_sid(ctx), sio_ctx_nsp(ctx),
                              payload ? payload : json_null());
    const char *queue = env_or("SIO_JOBS_QUEUE", "celery");
    char *msg = targs ? celery_message(TASK_NAME, id, targs, queue) : NULL;
    json_decref(targs);
    int st = msg ? broker_push(queue, msg) : -1;
    free(msg);
    if (st < 0)
        return json_pack("{s:s}", "error", "cannot reach the job broker");
    return json_pack("{s:s}", "job_id", id);
}

static void on_unload(void)
{
    pthread_mutex_lock(&lock);
    if (conn)
        redisFree(conn);
    conn = NULL;
    pthread_mutex_unlock(&lock);
}

SIO_PLUGIN(.name = "jobs", .nsp = "/jobs", .on_unload = on_unload,
           .events = SIO_EVENTS({ "start_job", on_start_job }));

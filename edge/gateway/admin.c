/* admin.c: the Socket.IO Admin UI namespace (docs/ADMIN.md), served by the
 * gateway, for the whole deployment.
 *
 * The gateway owns every socket's state (transport, handshake, rooms), so it
 * serves the admin namespace itself: a CONNECT to it never reaches a worker.
 * What an admin socket must see lives on every gateway (and on every I/O
 * thread, each a gateway of its own on the bus), so the gateways talk over
 * the bus: a gateway asks the hub to republish an envelope on a topic (route
 * kind SIO_ENV_ADMIN; the hub does not decode it). Three kinds of traffic:
 *  - notes to the admin sockets (socket_connected, room_joined, server_stats
 *    ...): an EMIT to the admin namespace published on "*", delivered by
 *    every gateway to its own admin sockets like any other emit;
 *  - the UI's actions (emit, join, leave, _disconnect): the EMIT, JOIN,
 *    LEAVE or DISCONNECT_CMD command a worker would send, published on "*";
 *  - SIO_ENV_ADMIN envelopes between gateways, by reason: "watch" (an admin
 *    socket is connected somewhere: report changes for the next 3 s; sent
 *    every second by each gateway that has one), "query" (an admin socket
 *    wants all_sockets: answer on the asker's gateway id) and "socks" (that
 *    answer). The asker waits ADMIN_QUERY_MS for the answers, then sends one
 *    all_sockets.
 * With nobody watching a gateway sends nothing; the hot path tests one flag
 * (t->admin_watch).
 *
 * Owns: the gateway's admin settings (copies), the per-thread query records.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"
#include "proto/sio.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.admin");

#define ADMIN_QUERY_MS 300      /* how long an all_sockets waits for other gateways */
#define ADMIN_WATCH_MS 3000     /* a "watch" lasts this long */
#define SESSION_ID_LEN 48       /* 16 hex nonce + 32 hex MAC */
#define ADMIN_LOGINS_PER_SEC 5  /* password checks per I/O thread and second: a
                                 * bcrypt check holds the thread for milliseconds
                                 * or more, so a login flood must not stall it */

struct gw_admin_query {
    struct gw_admin_query *next;
    struct gw_thread *t;
    char sid[GW_SID_LEN + 1];   /* the admin socket that asked */
    json_t *socks;
    struct event *ev;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* JSON of a JavaScript Date: ISO 8601, milliseconds, UTC. */
static json_t *date_json(int64_t ms)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char b[40];
    size_t n = strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(b + n, sizeof b - n, ".%03dZ", (int)(ms % 1000));
    return json_string(b);
}

/* ---------- settings ---------- */

static bool is_bcrypt(const char *p)
{
    return p && (strncmp(p, "$2a$", 4) == 0 || strncmp(p, "$2b$", 4) == 0 ||
                 strncmp(p, "$2y$", 4) == 0);
}

int gw_admin_init(struct sio_gateway *gw, char *err, size_t errlen)
{
    const struct sio_gateway_cfg *cfg = &gw->cfg;
    gw->started_ms = wall_ms();
    if (!cfg->admin)
        return 0;
    const char *nsp = cfg->admin_nsp ? cfg->admin_nsp : "/admin";
    if (nsp[0] != '/') {
        snprintf(err, errlen, "bad admin namespace '%s' (must start with '/')", nsp);
        return -EINVAL;
    }
    if (!cfg->admin_no_auth && (!cfg->admin_password || !*cfg->admin_password)) {
        snprintf(err, errlen, "--admin needs a password: set SIO_ADMIN_PASSWORD (plain or a "
                 "bcrypt hash), or pass --admin-no-auth");
        return -EINVAL;
    }
    gw->admin_nsp = strdup(nsp);
    gw->admin_user = strdup(cfg->admin_user && *cfg->admin_user ? cfg->admin_user : "admin");
    gw->admin_password = strdup(cfg->admin_password ? cfg->admin_password : "");
    if (!gw->admin_nsp || !gw->admin_user || !gw->admin_password) {
        snprintf(err, errlen, "gateway: out of memory");
        return -ENOMEM;
    }
    /* the session key comes from the credentials, so that every gateway of
     * the deployment (same settings) accepts the session ids of the others */
    unsigned int kl = sizeof gw->admin_key;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, "sio-admin-session", 18) != 1 ||
        EVP_DigestUpdate(md, gw->admin_user, strlen(gw->admin_user) + 1) != 1 ||
        EVP_DigestUpdate(md, gw->admin_password, strlen(gw->admin_password) + 1) != 1 ||
        EVP_DigestFinal_ex(md, gw->admin_key, &kl) != 1) {
        EVP_MD_CTX_free(md);
        snprintf(err, errlen, "gateway: admin session key: OpenSSL failed");
        return -EINVAL;
    }
    EVP_MD_CTX_free(md);
    /* a copy of the settings' strings is kept: the caller's may go */
    gw->cfg.admin_nsp = gw->admin_nsp;
    gw->cfg.admin_user = gw->admin_user;
    gw->cfg.admin_password = NULL;
    if (cfg->admin_no_auth)
        sio_log_warn(topic, "admin namespace %s has NO authentication (--admin-no-auth): "
                     "anyone who reaches the gateway can watch and act", gw->admin_nsp);
    else
        sio_log_info(topic, "admin namespace %s on (user '%s', %s password)", gw->admin_nsp,
                     gw->admin_user, is_bcrypt(gw->admin_password) ? "bcrypt" : "plain");
    return 0;
}

void gw_admin_clear(struct sio_gateway *gw)
{
    free(gw->admin_nsp);
    free(gw->admin_user);
    if (gw->admin_password)
        OPENSSL_cleanse(gw->admin_password, strlen(gw->admin_password));
    free(gw->admin_password);
    gw->admin_nsp = gw->admin_user = gw->admin_password = NULL;
}

bool gw_admin_nsp(const struct sio_gateway *gw, const char *nsp, size_t len)
{
    return gw->admin_nsp && strlen(gw->admin_nsp) == len && memcmp(gw->admin_nsp, nsp, len) == 0;
}

static bool production(const struct gw_thread *t)
{
    return t->gw->cfg.admin_production;
}

/* ---------- authentication ---------- */

static void session_mac(const struct sio_gateway *gw, const char *nonce, char out[33])
{
    unsigned char mac[32];
    unsigned int ml = sizeof mac;
    HMAC(EVP_sha256(), gw->admin_key, sizeof gw->admin_key, (const unsigned char *)nonce, 16,
         mac, &ml);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
}

static bool session_new(const struct sio_gateway *gw, char out[SESSION_ID_LEN + 1])
{
    unsigned char nonce[8];
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return false;
    for (int i = 0; i < 8; i++)
        sprintf(out + 2 * i, "%02x", nonce[i]);
    session_mac(gw, out, out + 16);
    return true;
}

static bool session_ok(const struct sio_gateway *gw, const char *id)
{
    if (strlen(id) != SESSION_ID_LEN)
        return false;
    char mac[33];
    session_mac(gw, id, mac);
    return CRYPTO_memcmp(mac, id + 16, 32) == 0;
}

static bool password_ok(const struct sio_gateway *gw, const char *user, const char *pass)
{
    if (strcmp(user, gw->admin_user) != 0)
        return false;
    const char *want = gw->admin_password;
    if (!is_bcrypt(want)) {
        size_t a = strlen(pass), b = strlen(want);
        return a == b && CRYPTO_memcmp(pass, want, a) == 0;
    }
    /* crypt_rn (libxcrypt): crypt_r's thread-safe twin that never
     * returns a "*0" failure token as a hash (NULL instead) */
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return false;
    const char *h = crypt_rn(pass, want, cd, (int)sizeof *cd);
    bool ok = h && h[0] != '*' && strcmp(h, want) == 0;
    OPENSSL_cleanse(cd, sizeof *cd);
    free(cd);
    return ok;
}

/* ---------- sending ---------- */

/* An emit of arr (an event array) to the admin namespace: to the admin
 * socket sid of this thread, or (sid NULL) to every admin socket of the
 * deployment. Takes arr. */
static void admin_emit(struct gw_thread *t, const char *sid, json_t *arr)
{
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!text)
        return;
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = (struct sio_str){ t->gw->admin_nsp, strlen(t->gw->admin_nsp) };
    env.data = (struct sio_str){ text, strlen(text) };
    if (sid) {
        env.sid = (struct sio_str){ sid, GW_SID_LEN };
        gw_sio_command(t, &env);
    } else {
        gw_bus_relay(t, SIO_BUS_ALL_TOPIC, &env);
    }
    free(text);
}

static void relay_admin(struct gw_thread *t, const char *tp, const char *reason, const char *sid,
                        const char *data)
{
    struct sio_env env;
    sio_env_init(&env, SIO_ENV_ADMIN);
    env.gw = (struct sio_str){ t->id, SIO_GW_ID_LEN };
    env.nsp = (struct sio_str){ "", 0 };
    env.reason = (struct sio_str){ reason, strlen(reason) };
    if (sid)
        env.sid = (struct sio_str){ sid, strlen(sid) };
    if (data)
        env.data = (struct sio_str){ data, strlen(data) };
    gw_bus_relay(t, tp, &env);
}

/* ---------- what a socket looks like to the UI ---------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A query string part, percent-decoded ('+' is a space), as a JSON string. */
static json_t *qs_string(const char *p, size_t n)
{
    char *b = malloc(n + 1);
    if (!b)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+')
            b[o++] = ' ';
        else if (p[i] == '%' && i + 2 < n &&
                 hexval((unsigned char)p[i + 1]) >= 0 && hexval((unsigned char)p[i + 2]) >= 0) {
            b[o++] = (char)(hexval((unsigned char)p[i + 1]) * 16 + hexval((unsigned char)p[i + 2]));
            i += 2;
        } else
            b[o++] = p[i];
    }
    json_t *s = json_stringn_nocheck(b, o);
    free(b);
    return s;
}

static json_t *query_json(const struct sio_str *q)
{
    json_t *o = json_object();
    const char *p = q->p, *end = q->p ? q->p + q->len : NULL;
    while (o && p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (e > p) {
            json_t *k = qs_string(p, (size_t)((eq ? eq : e) - p));
            json_t *v = eq ? qs_string(eq + 1, (size_t)(e - eq - 1)) : json_string("");
            if (k && v && json_is_string(k))
                json_object_setn_new(o, json_string_value(k), json_string_length(k), v);
            else
                json_decref(v);
            json_decref(k);
        }
        p = amp ? amp + 1 : end;
    }
    return o;
}

static json_t *sock_json(const struct gw_sock *k)
{
    const struct gw_session *s = k->sess;
    const struct sio_gateway *gw = s->t->gw;
    json_t *headers = json_object();
    const char *fwd = NULL;
    size_t fwdl = 0;
    bool xdomain = false;
    for (size_t i = 0; headers && i < s->nheaders; i++) {
        const struct sio_str *n = &s->headers[2 * i], *v = &s->headers[2 * i + 1];
        char name[128];
        size_t nl = n->len < sizeof name - 1 ? n->len : sizeof name - 1;
        for (size_t j = 0; j < nl; j++)
            name[j] = (char)((n->p[j] >= 'A' && n->p[j] <= 'Z') ? n->p[j] + 32 : n->p[j]);
        name[nl] = 0;
        json_object_set_new(headers, name, json_stringn(v->p ? v->p : "", v->len));
        if (!strcmp(name, "origin"))
            xdomain = true;
        if (!strcmp(name, "x-forwarded-for") || (!fwd && !strcmp(name, "cf-connecting-ip"))) {
            fwd = v->p;
            fwdl = v->len;
        }
    }
    /* the address without the port ("ip:port", "[v6]:port") */
    char addr[64];
    snprintf(addr, sizeof addr, "%.*s", (int)s->remote.len, s->remote.p);
    char *colon = strrchr(addr, ':');
    if (colon && (addr[0] != '[' || colon[-1] == ']'))
        *colon = 0;
    if (addr[0] == '[') {
        memmove(addr, addr + 1, strlen(addr));
        char *rb = strchr(addr, ']');
        if (rb)
            *rb = 0;
    }
    char when[80];
    time_t sec = (time_t)(s->issued / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    strftime(when, sizeof when, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
    size_t ul = strlen(gw->path) + 1 + s->query.len + 1;
    char *url = malloc(ul);
    if (url)
        snprintf(url, ul, "%s%s%.*s", gw->path, s->query.len ? "?" : "", (int)s->query.len,
                 s->query.p ? s->query.p : "");
    json_t *rooms = json_array();
    json_array_append_new(rooms, json_stringn(k->sid, GW_SID_LEN));
    for (size_t i = 0; rooms && i < k->nrooms; i++)
        json_array_append_new(rooms, json_stringn(k->rooms[i]->name, k->rooms[i]->name_len));
    json_t *hs = json_pack("{s:o,s:o,s:o,s:I,s:b,s:s,s:s,s:b}",
        "address", fwd ? json_stringn(fwd, fwdl) : json_string(addr),
        "headers", headers ? headers : json_object(),
        "query", query_json(&s->query),
        "issued", (json_int_t)s->issued,
        "secure", gw->tls != NULL,
        "time", when,
        "url", url ? url : "",
        "xdomain", xdomain);
    free(url);
    return json_pack("{s:s%,s:s%,s:s,s:s%,s:{},s:o,s:o}",
        "id", k->sid, (size_t)GW_SID_LEN,
        "clientId", s->sid, (size_t)12,
        "transport", s->ws_transport ? "websocket" : "polling",
        "nsp", k->nsp->name, k->nsp->name_len,
        "data",
        "handshake", hs ? hs : json_object(),
        "rooms", rooms ? rooms : json_array());
}

/* The connected sockets of this thread, every namespace. */
static json_t *all_socks(struct gw_thread *t)
{
    json_t *a = json_array();
    size_t i = 0;
    for (struct sio_map_ent *e = sio_map_next(&t->nsps, NULL, &i); a && e;
         e = sio_map_next(&t->nsps, e, &i)) {
        struct gw_nsp *n = e->val;
        size_t j = 0;
        for (struct sio_map_ent *f = sio_map_next(&n->socks, NULL, &j); f;
             f = sio_map_next(&n->socks, f, &j)) {
            struct gw_sock *k = f->val;
            if (k->connected)
                json_array_append_new(a, sock_json(k));
        }
    }
    return a;
}

/* ---------- watching ---------- */

static void watch(struct gw_thread *t)
{
    if (!t->admin_watch) {
        memset(t->admin_agg, 0, sizeof t->admin_agg);
        t->admin_ticks = 0;
    }
    t->admin_watch = true;
    t->admin_watch_until = gw_now_ms() + ADMIN_WATCH_MS;
}

static void note(struct gw_thread *t, json_t *arr)
{
    admin_emit(t, NULL, arr);
}

void gw_admin_sock_connected(struct gw_sock *k)
{
    struct gw_thread *t = k->sess->t;
    if (production(t))
        return;
    json_t *nsp = json_stringn(k->nsp->name, k->nsp->name_len);
    int64_t now = wall_ms();
    note(t, json_pack("[s,O,s%,s%,o]", "room_joined", nsp, k->sid, (size_t)GW_SID_LEN, k->sid,
                      (size_t)GW_SID_LEN, date_json(now)));
    note(t, json_pack("[s,o,o]", "socket_connected", sock_json(k), date_json(now)));
    json_decref(nsp);
}

void gw_admin_sock_disconnected(struct gw_sock *k, const char *reason)
{
    struct gw_thread *t = k->sess->t;
    if (production(t))
        return;
    /* the reasons a JS server's socket gives for the same thing */
    if (!strcmp(reason, "client disconnect"))
        reason = "client namespace disconnect";
    else if (!strcmp(reason, "server disconnect"))
        reason = "server namespace disconnect";
    note(t, json_pack("[s,s%,s%,s,o]", "socket_disconnected", k->nsp->name, k->nsp->name_len,
                      k->sid, (size_t)GW_SID_LEN, reason, date_json(wall_ms())));
}

void gw_admin_upgraded(struct gw_session *s)
{
    if (production(s->t))
        return;
    for (struct gw_sock *k = s->socks; k; k = k->next_in_sess)
        if (k->connected)
            note(s->t, json_pack("[s,{s:s%,s:s%,s:s}]", "socket_updated", "id", k->sid,
                                 (size_t)GW_SID_LEN, "nsp", k->nsp->name, k->nsp->name_len,
                                 "transport", "websocket"));
}

void gw_admin_room(struct gw_sock *k, const char *room, size_t len, bool joined)
{
    struct gw_thread *t = k->sess->t;
    if (production(t))
        return;
    note(t, json_pack("[s,s%,s%,s%,o]", joined ? "room_joined" : "room_left", k->nsp->name,
                      k->nsp->name_len, room, len, k->sid, (size_t)GW_SID_LEN,
                      date_json(wall_ms())));
}

void gw_admin_event(struct gw_sock *k, const char *data, size_t len, bool sent)
{
    struct gw_thread *t = k->sess->t;
    if (production(t) || k->admin)
        return;
    json_t *args = json_loadb(data, len, JSON_DECODE_ANY, NULL);
    if (!json_is_array(args)) {
        json_decref(args);
        return;
    }
    note(t, json_pack("[s,s%,s%,o,o]", sent ? "event_sent" : "event_received", k->nsp->name,
                      k->nsp->name_len, k->sid, (size_t)GW_SID_LEN, args, date_json(wall_ms())));
}

/* ---------- all_sockets ---------- */

static void query_free(struct gw_admin_query *q)
{
    struct gw_admin_query **pp = &q->t->admin_q;
    while (*pp && *pp != q)
        pp = &(*pp)->next;
    if (*pp)
        *pp = q->next;
    if (q->ev)
        event_free(q->ev);
    json_decref(q->socks);
    free(q);
}

static void query_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_admin_query *q = arg;
    struct gw_thread *t = q->t;
    json_t *socks = json_incref(q->socks);
    char sid[GW_SID_LEN + 1];
    memcpy(sid, q->sid, sizeof sid);
    query_free(q);
    admin_emit(t, sid, json_pack("[s,o]", "all_sockets", socks));
}

void gw_admin_thread_clear(struct gw_thread *t)
{
    while (t->admin_q)
        query_free(t->admin_q);
}

static void query_start(struct gw_sock *k)
{
    struct gw_thread *t = k->sess->t;
    struct gw_admin_query *q = calloc(1, sizeof *q);
    if (!q)
        return;
    q->t = t;
    memcpy(q->sid, k->sid, sizeof q->sid);
    q->socks = json_array();
    q->ev = evtimer_new(t->base, query_done, q);
    const struct timeval tv = { 0, ADMIN_QUERY_MS * 1000 };
    q->next = t->admin_q;
    t->admin_q = q;
    if (!q->socks || !q->ev || evtimer_add(q->ev, &tv) < 0) {
        query_free(q);
        return;
    }
    relay_admin(t, SIO_BUS_ALL_TOPIC, "query", k->sid, NULL);
}

/* ---------- server_stats ---------- */

static void stats(struct gw_thread *t)
{
    static const char *const agg_names[] = { "rawConnection", "rawDisconnection", "packetsIn",
                                             "packetsOut", "bytesIn", "bytesOut" };
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    char id[300];
    if (t->gw->nth > 1)
        snprintf(id, sizeof id, "%s#%d/%u", host, (int)getpid(), t->idx);
    else
        snprintf(id, sizeof id, "%s#%d", host, (int)getpid());
    int64_t now = wall_ms();
    json_t *agg = json_array();
    for (int i = 0; agg && i < 6; i++)
        if (t->admin_agg[i])
            json_array_append_new(agg, json_pack("{s:I,s:s,s:I}", "timestamp",
                                                 (json_int_t)(now - now % 1000), "type",
                                                 agg_names[i], "count",
                                                 (json_int_t)t->admin_agg[i]));
    memset(t->admin_agg, 0, sizeof t->admin_agg);
    size_t polling = 0, i = 0;
    for (struct sio_map_ent *e = sio_map_next(&t->sessions, NULL, &i); e;
         e = sio_map_next(&t->sessions, e, &i))
        if (!((struct gw_session *)e->val)->ws_transport)
            polling++;
    json_t *nsps = json_array();
    i = 0;
    for (struct sio_map_ent *e = sio_map_next(&t->nsps, NULL, &i); nsps && e;
         e = sio_map_next(&t->nsps, e, &i)) {
        struct gw_nsp *n = e->val;
        json_array_append_new(nsps, json_pack("{s:s%,s:I}", "name", n->name, n->name_len,
                                              "socketsCount", (json_int_t)n->socks.n));
    }
    note(t, json_pack("[s,{s:s,s:s,s:i,s:f,s:I,s:I,s:o,s:o}]", "server_stats",
                      "serverId", id, "hostname", host, "pid", (int)getpid(),
                      "uptime", (double)(now - t->gw->started_ms) / 1000.0,
                      "clientsCount", (json_int_t)t->sessions.n,
                      "pollingClientsCount", (json_int_t)polling,
                      "aggregatedEvents", agg ? agg : json_array(),
                      "namespaces", nsps ? nsps : json_array()));
}

void gw_admin_tick(struct gw_thread *t)
{
    struct gw_nsp *n = sio_map_get(&t->nsps, t->gw->admin_nsp, strlen(t->gw->admin_nsp));
    if (n && n->socks.n) {
        watch(t);
        relay_admin(t, SIO_BUS_ALL_TOPIC, "watch", NULL, NULL);
    }
    if (t->admin_watch && gw_now_ms() > t->admin_watch_until) {
        t->admin_watch = false;
        return;
    }
    if (t->admin_watch && t->admin_ticks++ % 2 == 0)
        stats(t);
}

/* ---------- the bus ---------- */

void gw_admin_command(struct gw_thread *t, const struct sio_env *env)
{
    if (!t->gw->cfg.admin)
        return;
    const struct sio_str *r = &env->reason;
    if (r->len == 5 && memcmp(r->p, "watch", 5) == 0) {
        watch(t);
    } else if (r->len == 5 && memcmp(r->p, "query", 5) == 0) {
        watch(t);
        if (!env->gw.p || env->gw.len != SIO_GW_ID_LEN || !env->sid.p || env->sid.len != GW_SID_LEN)
            return;
        char tp[SIO_GW_ID_LEN + 1], sid[GW_SID_LEN + 1];
        memcpy(tp, env->gw.p, SIO_GW_ID_LEN);
        tp[SIO_GW_ID_LEN] = 0;
        memcpy(sid, env->sid.p, GW_SID_LEN);
        sid[GW_SID_LEN] = 0;
        json_t *a = all_socks(t);
        char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        if (text)
            relay_admin(t, tp, "socks", sid, text);
        free(text);
    } else if (r->len == 5 && memcmp(r->p, "socks", 5) == 0) {
        for (struct gw_admin_query *q = t->admin_q; q; q = q->next)
            if (env->sid.len == GW_SID_LEN && memcmp(q->sid, env->sid.p, GW_SID_LEN) == 0) {
                json_t *a = json_loadb(env->data.p ? env->data.p : "", env->data.len, 0, NULL);
                if (json_is_array(a))
                    json_array_extend(q->socks, a);
                json_decref(a);
                break;
            }
    }
}

/* ---------- the admin socket ---------- */

void gw_admin_connect(struct gw_sock *k, const char *auth, size_t len)
{
    struct gw_thread *t = k->sess->t;
    const struct sio_gateway *gw = t->gw;
    k->admin = true;
    bool ok = gw->cfg.admin_no_auth, fresh = false;
    if (!ok) {
        json_t *a = len ? json_loadb(auth, len, 0, NULL) : NULL;
        const char *sid = json_string_value(json_object_get(a, "sessionId"));
        const char *user = json_string_value(json_object_get(a, "username"));
        const char *pass = json_string_value(json_object_get(a, "password"));
        if (sid && session_ok(gw, sid))
            ok = true;
        else if (user && pass && gw_bucket_take(&t->admin_logins, ADMIN_LOGINS_PER_SEC,
                                                gw_now_ms(), false) != 0)
            sio_log_warn(topic, "%.*s: admin login refused unchecked: more than %d password "
                         "checks a second", (int)k->sess->remote.len, k->sess->remote.p,
                         ADMIN_LOGINS_PER_SEC);
        else if (user && pass && password_ok(gw, user, pass))
            ok = fresh = true;
        json_decref(a);
    }
    if (!ok) {
        sio_log_info(topic, "%.*s: admin login refused (invalid credentials)",
                     (int)k->sess->remote.len, k->sess->remote.p);
        static const char refusal[] = "{\"message\":\"invalid credentials\"}";
        gw_sock_send_simple(k, SIO_PKT_CONNECT_ERROR, refusal, sizeof refusal - 1);
        gw_sock_remove(k, NULL);
        return;
    }
    k->connected = true;
    char json[48];
    int jl = snprintf(json, sizeof json, "{\"sid\":\"%s\"}", k->sid);
    gw_sock_send_simple(k, SIO_PKT_CONNECT, json, (size_t)jl);
    if (fresh) {
        char id[SESSION_ID_LEN + 1];
        if (session_new(gw, id))
            admin_emit(t, k->sid, json_pack("[s,s]", "session", id));
    }
    json_t *features = json_array();
    if (!gw->cfg.admin_readonly) {
        static const char *const acts[] = { "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN",
                                            "MLEAVE", "MDISCONNECT" };
        for (size_t i = 0; i < sizeof acts / sizeof *acts; i++)
            json_array_append_new(features, json_string(acts[i]));
    }
    json_array_append_new(features, json_string("AGGREGATED_EVENTS"));
    if (!production(t))
        json_array_append_new(features, json_string("ALL_EVENTS"));
    admin_emit(t, k->sid, json_pack("[s,{s:o}]", "config", "supportedFeatures", features));
    watch(t);
    relay_admin(t, SIO_BUS_ALL_TOPIC, "watch", NULL, NULL);
    if (!production(t)) {
        gw_admin_sock_connected(k);
        query_start(k);
    }
}

static json_t *arg(json_t *a, size_t i)
{
    return json_array_get(a, i);
}

void gw_admin_on_event(struct gw_sock *k, const char *data, size_t len)
{
    struct gw_thread *t = k->sess->t;
    json_t *a = json_loadb(data, len, 0, NULL);
    const char *ev = json_string_value(arg(a, 0));
    const char *nsp = json_string_value(arg(a, 1));
    if (!ev || !nsp) {
        json_decref(a);
        return;
    }
    bool act = !strcmp(ev, "emit") || !strcmp(ev, "join") || !strcmp(ev, "leave") ||
               !strcmp(ev, "_disconnect");
    if (!act || t->gw->cfg.admin_readonly) {
        if (act)
            sio_log_info(topic, "admin action '%s' refused: --admin-readonly", ev);
        json_decref(a);
        return;
    }
    struct sio_env env;
    struct sio_str room, filter;
    char *text = NULL;
    const char *fs = NULL;
    sio_env_init(&env, SIO_ENV_EMIT);
    env.nsp = (struct sio_str){ nsp, strlen(nsp) };
    if (!strcmp(ev, "emit")) {
        /* emit(nsp, filter, event, ...args) */
        fs = json_string_value(arg(a, 2));
        json_t *out = json_array();
        for (size_t i = 3; out && i < json_array_size(a); i++)
            json_array_append(out, arg(a, i));
        if (!json_is_string(arg(a, 3)) || !out || !(text = json_dumps(out, JSON_COMPACT))) {
            json_decref(out);
            json_decref(a);
            return;
        }
        json_decref(out);
        env.data = (struct sio_str){ text, strlen(text) };
    } else if (!strcmp(ev, "_disconnect")) {
        /* _disconnect(nsp, close, filter) */
        env.kind = SIO_ENV_DISCONNECT_CMD;
        env.close_conn = json_is_true(arg(a, 2));
        fs = json_string_value(arg(a, 3));
    } else {
        /* join / leave (nsp, room, filter) */
        const char *rn = json_string_value(arg(a, 2));
        if (!rn) {
            json_decref(a);
            return;
        }
        env.kind = !strcmp(ev, "join") ? SIO_ENV_JOIN : SIO_ENV_LEAVE;
        room = (struct sio_str){ rn, strlen(rn) };
        env.rooms2 = &room;
        env.nrooms2 = 1;
        fs = json_string_value(arg(a, 3));
    }
    if (fs && *fs) {
        filter = (struct sio_str){ fs, strlen(fs) };
        env.rooms = &filter;
        env.nrooms = 1;
    }
    sio_log_info(topic, "admin action %s on %s%s%s", ev, nsp, fs && *fs ? " for " : "",
                 fs && *fs ? fs : "");
    gw_bus_relay(t, SIO_BUS_ALL_TOPIC, &env);
    free(text);
    json_decref(a);
}

/* tls.c: see tls.h.
 *
 * Ownership: struct sio_tls owns one reference to the current default
 * SSL_CTX. That SSL_CTX owns (as ex_data, freed with it) a struct sni_set:
 * the SNI names and one SSL_CTX reference for each. Every SSL holds a
 * reference to the default SSL_CTX it was made from (and, after SNI chose
 * another, to that one too), so a reload that drops sio_tls's reference
 * frees the old contexts only when their last connection is gone.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sio/sio.h>
#include "edge/http/tls.h"

SIO_LOG_TOPIC_STATIC(topic, "edge.tls");

struct sio_tls {
    pthread_mutex_t lock;
    SSL_CTX *cur;               /* new connections use this one */
    /* the configuration, kept for reloads */
    char *cert, *key, *client_ca;
    struct sio_tls_sni *sni;    /* strings owned here */
    size_t nsni;
};

struct sni_set {
    size_t n;
    char **host;
    SSL_CTX **ctx;
};

/* The protocols we speak, in order of preference; "h2" goes first here
 * once the gateway speaks HTTP/2. Wire format: length-prefixed. */
static const unsigned char alpn_protos[] = "\x02h2\x08http/1.1";

static int sni_idx = -1;
static pthread_once_t sni_once = PTHREAD_ONCE_INIT;

static void sni_set_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                         void *argp)
{
    struct sni_set *s = ptr;
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->host[i]);
        SSL_CTX_free(s->ctx[i]);
    }
    free(s->host);
    free(s->ctx);
    free(s);
}

static void sni_index_once(void)
{
    sni_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sni_set_free);
}

/* "WHAT FILE: reason" from OpenSSL's error queue (emptied): its first
 * error, the cause ("no start line", "No such file or directory", "key
 * values mismatch"), not the "PEM lib" that wraps it. */
static int ssl_fail(char *err, size_t errlen, const char *what, const char *file)
{
    unsigned long e = ERR_peek_error();
    char reason[256] = "unknown error";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    snprintf(err, errlen, "tls: %s %s: %s", what, file, reason);
    return -EINVAL;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    /* our preference first: for each of ours, is it among the client's? */
    for (size_t i = 0; i < sizeof alpn_protos - 1; i += 1u + alpn_protos[i]) {
        const unsigned char *ours = alpn_protos + i;
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (j + 1u + in[j] > inlen)
                break;
            if (in[j] == ours[0] && memcmp(in + j + 1, ours + 1, ours[0]) == 0) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* The SNI callback (on the default context): switch to the certificate of
 * the name the client asked for; an unknown name keeps the default. */
static int sni_select(SSL *ssl, int *alert, void *arg)
{
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    struct sni_set *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), sni_idx);
    for (size_t i = 0; s && i < s->n; i++)
        if (strcasecmp(s->host[i], name) == 0) {
            if (!SSL_set_SSL_CTX(ssl, s->ctx[i]))
                return SSL_TLSEXT_ERR_ALERT_FATAL;
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_NOACK;
}

/* One context with cert/key and the common settings. NULL: err is set. */
static SSL_CTX *ctx_make(const char *cert, const char *key, const char *client_ca,
                         char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_fail(err, errlen, "context", "");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* TLS 1.2: forward secrecy and AEAD only; TLS 1.3 suites: OpenSSL's */
    if (!SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20")) {
        ssl_fail(err, errlen, "cipher list", "");
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION);
    /* the bufferevent may offer a retried write from another address */
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    static const unsigned char sid_ctx[] = "sio";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_fail(err, errlen, "certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        ssl_fail(err, errlen, "key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_fail(err, errlen, "key", key);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    if (client_ca) {
        if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
            ssl_fail(err, errlen, "client CA", client_ca);
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(client_ca);
        if (!names) {
            ssl_fail(err, errlen, "client CA", client_ca);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(ctx, names);     /* takes names */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* The default context with its SNI set, from tls's files. */
static SSL_CTX *build(struct sio_tls *tls, char *err, size_t errlen)
{
    pthread_once(&sni_once, sni_index_once);
    if (sni_idx < 0) {
        snprintf(err, errlen, "tls: out of memory");
        return NULL;
    }
    SSL_CTX *def = ctx_make(tls->cert, tls->key, tls->client_ca, err, errlen);
    if (!def)
        return NULL;
    if (!tls->nsni)
        return def;
    struct sni_set *s = calloc(1, sizeof *s);
    if (s) {
        s->host = calloc(tls->nsni, sizeof *s->host);
        s->ctx = calloc(tls->nsni, sizeof *s->ctx);
    }
    if (!s || !s->host || !s->ctx || !SSL_CTX_set_ex_data(def, sni_idx, s)) {
        if (s) {
            free(s->host);
            free(s->ctx);
        }
        free(s);
        SSL_CTX_free(def);
        snprintf(err, errlen, "tls: out of memory");
        return NULL;
    }
    /* s belongs to def from here: freed with it */
    for (size_t i = 0; i < tls->nsni; i++) {
        const struct sio_tls_sni *n = &tls->sni[i];
        SSL_CTX *c = ctx_make(n->cert, n->key, tls->client_ca, err, errlen);
        char *h = c ? strdup(n->host) : NULL;
        if (!c || !h) {
            SSL_CTX_free(c);
            SSL_CTX_free(def);
            if (c)
                snprintf(err, errlen, "tls: out of memory");
            return NULL;
        }
        s->host[s->n] = h;
        s->ctx[s->n++] = c;
    }
    SSL_CTX_set_tlsext_servername_callback(def, sni_select);
    return def;
}

void sio_tls_free(struct sio_tls **tls_p)
{
    struct sio_tls *tls = *tls_p;
    if (!tls)
        return;
    SSL_CTX_free(tls->cur);
    pthread_mutex_destroy(&tls->lock);
    free(tls->cert);
    free(tls->key);
    free(tls->client_ca);
    for (size_t i = 0; i < tls->nsni; i++) {
        free((char *)tls->sni[i].host);
        free((char *)tls->sni[i].cert);
        free((char *)tls->sni[i].key);
    }
    free(tls->sni);
    free(tls);
    *tls_p = NULL;
}

int sio_tls_new(struct sio_tls **out, const struct sio_tls_cfg *cfg, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->cert || !cfg->key) {
        snprintf(err, errlen, "tls: a certificate and a key are required");
        return -EINVAL;
    }
    struct sio_tls *tls = calloc(1, sizeof *tls);
    if (!tls)
        goto nomem;
    if (pthread_mutex_init(&tls->lock, NULL) != 0) {
        free(tls);
        goto nomem;
    }
    tls->cert = strdup(cfg->cert);
    tls->key = strdup(cfg->key);
    tls->client_ca = cfg->client_ca ? strdup(cfg->client_ca) : NULL;
    tls->sni = cfg->nsni ? calloc(cfg->nsni, sizeof *tls->sni) : NULL;
    if (!tls->cert || !tls->key || (cfg->client_ca && !tls->client_ca) ||
        (cfg->nsni && !tls->sni)) {
        sio_tls_free(&tls);
        goto nomem;
    }
    for (size_t i = 0; i < cfg->nsni; i++) {
        struct sio_tls_sni *d = &tls->sni[i];
        d->host = strdup(cfg->sni[i].host);
        d->cert = strdup(cfg->sni[i].cert);
        d->key = strdup(cfg->sni[i].key);
        tls->nsni++;
        if (!d->host || !d->cert || !d->key) {
            sio_tls_free(&tls);
            goto nomem;
        }
    }
    tls->cur = build(tls, err, errlen);
    if (!tls->cur) {
        sio_tls_free(&tls);
        return -EINVAL;
    }
    *out = tls;
    return 0;
nomem:
    snprintf(err, errlen, "tls: out of memory");
    return -ENOMEM;
}

int sio_tls_reload(struct sio_tls *tls, char *err, size_t errlen)
{
    SSL_CTX *ctx = build(tls, err, errlen);
    if (!ctx)
        return -EINVAL;
    pthread_mutex_lock(&tls->lock);
    SSL_CTX *old = tls->cur;
    tls->cur = ctx;
    pthread_mutex_unlock(&tls->lock);
    SSL_CTX_free(old);      /* the connections made with it keep it alive */
    sio_log_info(topic, "certificates reloaded (%s, %zu SNI name%s)", tls->cert, tls->nsni,
                 tls->nsni == 1 ? "" : "s");
    return 0;
}

SSL *sio_tls_ssl_new(struct sio_tls *tls)
{
    pthread_mutex_lock(&tls->lock);
    SSL *ssl = SSL_new(tls->cur);
    pthread_mutex_unlock(&tls->lock);
    return ssl;
}

/* ---- freeing TLS bufferevents ---- */

/* SSLs (with their sockets) waiting for the next loop iteration, per
 * thread, so that a thread that stops frees them too. */
struct reap {
    struct reap *prev, *next;
    SSL *ssl;
};
static _Thread_local struct reap *reaps;

static void ssl_close(SSL *ssl)
{
    BIO *b = SSL_get_wbio(ssl);
    int fd = b ? (int)BIO_get_fd(b, NULL) : -1;
    SSL_free(ssl);
    if (fd >= 0)
        close(fd);
}

static void reap_one(struct reap *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        reaps = r->next;
    if (r->next)
        r->next->prev = r->prev;
    ssl_close(r->ssl);
    free(r);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    reap_one(arg);
}

void sio_tls_bev_free(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (!ssl) {
        bufferevent_free(bev);
        return;
    }
    struct event_base *base = bufferevent_get_base(bev);
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    /* no BEV_OPT_CLOSE_ON_FREE: libevent touches neither ssl nor the
     * socket; the socket's events are deleted when the bufferevent is
     * finalized, at the latest when the libevent callback we may be in
     * returns, before the next iteration */
    bufferevent_free(bev);
    struct reap *r = calloc(1, sizeof *r);
    static const struct timeval now = { 0, 0 };
    if (!r) {
        ssl_close(ssl);     /* out of memory: now, not quite as safe */
        return;
    }
    r->ssl = ssl;
    r->next = reaps;
    if (reaps)
        reaps->prev = r;
    reaps = r;
    if (event_base_once(base, -1, EV_TIMEOUT, reap_cb, r, &now) < 0)
        reap_one(r);
}

void sio_tls_reap_all(void)
{
    while (reaps)
        reap_one(reaps);
}

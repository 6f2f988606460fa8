/* tls.h: the server side of TLS for the gateway (internal), with OpenSSL.
 *
 * A struct sio_tls holds the current SSL_CTX (the default certificate, the
 * SNI certificates, the client-certificate CA, ALPN) and makes one SSL per
 * accepted connection from it (sio_tls_ssl_new, any thread).
 * sio_tls_reload() reads every file again into a new SSL_CTX and swaps it
 * in for the connections that come next; a connection keeps the SSL_CTX it
 * was made with (SSL_CTX is reference counted), so none is dropped.
 *
 * Settings: TLS 1.2 at least; TLS 1.3 with OpenSSL's default suites, TLS
 * 1.2 with ECDHE key exchange and AEAD ciphers only; no renegotiation;
 * ALPN: "h2" first, then "http/1.1" (a client that offers neither gets no ALPN
 * answer and HTTP/1.1 anyway).
 */
#ifndef SIO_EDGE_TLS_H
#define SIO_EDGE_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

struct sio_tls_sni {
    const char *host;       /* a DNS name as the client sends it in SNI */
    const char *cert;       /* PEM: the leaf, then its chain */
    const char *key;        /* PEM private key */
};

struct sio_tls_cfg {
    const char *cert;       /* default certificate chain (PEM), required */
    const char *key;        /* its key (PEM), required */
    const char *client_ca;  /* require a client certificate signed by one of
                             * these (PEM); NULL = no client certificates */
    const struct sio_tls_sni *sni;
    size_t nsni;
};

struct sio_tls;

/* Copies cfg and loads every file. On error err says which file and
 * OpenSSL's reason; returns -EINVAL (-ENOMEM). */
int  sio_tls_new(struct sio_tls **out, const struct sio_tls_cfg *cfg, char *err, size_t errlen);
/* Load the files again and use them for new connections. On error the
 * current certificates stay in use; err says why. */
int  sio_tls_reload(struct sio_tls *tls, char *err, size_t errlen);
/* A server SSL for one new connection (NULL on ENOMEM). Any thread. */
SSL *sio_tls_ssl_new(struct sio_tls *tls);
void sio_tls_free(struct sio_tls **tls_p);

/* Free a bufferevent of the gateway (loop thread). A TLS one is made
 * without BEV_OPT_CLOSE_ON_FREE (so that a connection can change threads
 * with its SSL, see gateway.c handover()): its SSL is freed and its socket
 * closed here, from an event of the next loop iteration, once libevent has
 * left the SSL and deleted the socket's events. Any other bufferevent is
 * freed at once. */
struct bufferevent;
void sio_tls_bev_free(struct bufferevent *bev);
/* On a loop thread that stops: free now what sio_tls_bev_free() left for
 * the next iteration (which will not come). */
void sio_tls_reap_all(void);

#endif

/* peer.h: real Socket.IO peers for the client tests (node servers spawned
 * on loopback, and a canned-response fake HTTP server for bad input). */
#ifndef SIO_TEST_CLIENT_PEER_H
#define SIO_TEST_CLIENT_PEER_H

#include <stdbool.h>
#include <sys/types.h>

struct peer {
    pid_t pid;
    unsigned port;
    char url[64];
};

/* Start "node <script> [args...]" (script relative to the source root;
 * a ".py" script runs with /usr/bin/python3) with --port port (0 = any)
 * and wait up to 15 s for its "listening on http[s]://..." line; p->url is
 * then http or https://127.0.0.1:PORT. Returns 0, or -1 (node or
 * node_modules missing, or it failed). */
int peer_start(struct peer *p, const char *script, unsigned port, const char *const *args);
void peer_stop(struct peer *p);          /* SIGTERM, then SIGKILL; waits */
void peer_kill(struct peer *p);          /* SIGKILL now; waits */
bool peer_available(void);               /* node and tests/interop/node_modules */
bool py_peer_available(void);            /* python3-socketio + python3-aiohttp */

/* A fake server answering each HTTP request (one per connection) with the
 * next canned raw response; the last one repeats. Runs in a thread. */
struct fake;
struct fake *fake_start(const char *const *responses, unsigned *port);
void fake_stop(struct fake *f);

#endif

/* simple.c: the blocking Socket.IO client (sio_simple_*, see <sio/client.h>).
 *
 * Owns a loop thread with its own event_base and an event-driven
 * sio_client on it. The caller's thread hands commands over a mutex-guarded
 * list and wakes the loop with a pipe (so libevent needs no thread support);
 * results and received events come back under the same mutex with a
 * condition variable. A 50 ms tick on the loop refreshes the state the
 * caller can read (connected, transport, finished).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <event2/event.h>
#include <sio/client.h>
#include "client/engine.h"

SIO_LOG_TOPIC_STATIC(topic, "client.simple");

enum cmd_type { CMD_CONNECT, CMD_EMIT, CMD_CALL, CMD_DISCONNECT };

struct cmd {
    enum cmd_type type;
    const char *event;
    json_t *args;
    unsigned timeout_ms;
    bool done;
    int rc;
    json_t *result;
    struct sio_simple *s;
    struct cmd *next;
};

struct inbound {
    char *event;
    json_t *args;
    struct inbound *next;
};

struct sio_simple {
    pthread_t thread;
    bool thread_started;
    struct event_base *base;
    sio_client *c;
    int pipefd[2];
    struct event *cmd_ev, *tick;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct cmd *cmds;                   /* pending, for the loop */
    struct inbound *in_head, *in_tail;
    /* shared state, under lock */
    bool connected, refused, finished, stopping;
    json_t *refuse_data;
    char sid[64];
    char transport[16];
    char *url;
    char *nsp;
    json_t *auth;
    unsigned stop_ticks;
};

static void signal_all(struct sio_simple *s)
{
    pthread_cond_broadcast(&s->cond);
}

/* ---- loop thread ------------------------------------------------------ */

static json_t *on_any(sio_client *c, const char *nsp, const char *event, json_t *args,
                      bool want_ack, void *ud)
{
    struct sio_simple *s = ud;
    struct inbound *in = calloc(1, sizeof *in);
    if (!in || !(in->event = strdup(event))) {
        free(in);
        return NULL;
    }
    in->args = json_incref(args);
    pthread_mutex_lock(&s->lock);
    if (s->in_tail)
        s->in_tail->next = in;
    else
        s->in_head = in;
    s->in_tail = in;
    signal_all(s);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void refresh(struct sio_simple *s)
{
    const char *t = sio_client_transport(s->c);
    const char *sid = sio_client_sid(s->c, s->nsp);
    pthread_mutex_lock(&s->lock);
    snprintf(s->transport, sizeof s->transport, "%s", t ? t : "");
    snprintf(s->sid, sizeof s->sid, "%s", sid ? sid : "");
    s->connected = sio_client_connected(s->c, s->nsp);
    signal_all(s);
    pthread_mutex_unlock(&s->lock);
}

static void on_connect(sio_client *c, const char *nsp, void *ud)
{
    refresh(ud);
}

static void on_connect_error(sio_client *c, const char *nsp, json_t *data, void *ud)
{
    struct sio_simple *s = ud;
    pthread_mutex_lock(&s->lock);
    s->refused = true;
    json_decref(s->refuse_data);
    s->refuse_data = data ? json_incref(data) : json_null();
    signal_all(s);
    pthread_mutex_unlock(&s->lock);
}

static void on_disconnect(sio_client *c, const char *nsp, const char *reason, void *ud)
{
    refresh(ud);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_simple *s = arg;
    refresh(s);
    /* sio_client_wait() semantics without blocking: finished when the client
     * is neither connected nor about to be (connect or reconnect pending). */
    bool finished = sio_client__finished(s->c);
    pthread_mutex_lock(&s->lock);
    s->finished = finished;
    bool stop = s->stopping && (finished || ++s->stop_ticks > 60);
    signal_all(s);
    pthread_mutex_unlock(&s->lock);
    if (stop)
        event_base_loopbreak(s->base);
}

static void ack_cb(sio_client *c, int status, json_t *args, void *ud)
{
    struct cmd *cmd = ud;
    struct sio_simple *s = cmd->s;
    pthread_mutex_lock(&s->lock);
    cmd->rc = status;
    cmd->result = args ? json_incref(args) : NULL;
    cmd->done = true;
    signal_all(s);
    pthread_mutex_unlock(&s->lock);
}

static void run_cmd(struct sio_simple *s, struct cmd *cmd)
{
    int rc = 0;
    switch (cmd->type) {
    case CMD_CONNECT: {
        const char *nss[] = { s->nsp, NULL };
        rc = sio_client_connect(s->c, s->url, nss, s->auth);
        break;
    }
    case CMD_EMIT:
        rc = sio_client_emit(s->c, s->nsp, cmd->event, cmd->args);
        break;
    case CMD_CALL:
        rc = sio_client_emit_ack(s->c, s->nsp, cmd->event, cmd->args, ack_cb, cmd,
                                 cmd->timeout_ms);
        if (rc == 0)
            return;     /* done in ack_cb */
        break;
    case CMD_DISCONNECT:
        sio_client_disconnect(s->c);
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_mutex_unlock(&s->lock);
        break;
    }
    pthread_mutex_lock(&s->lock);
    cmd->rc = rc;
    cmd->done = true;
    signal_all(s);
    pthread_mutex_unlock(&s->lock);
}

static void cmd_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sio_simple *s = arg;
    char drain[64];
    while (read(fd, drain, sizeof drain) > 0)
        ;
    pthread_mutex_lock(&s->lock);
    struct cmd *list = s->cmds;
    s->cmds = NULL;
    pthread_mutex_unlock(&s->lock);
    /* the list is newest first: run in submission order */
    struct cmd *rev = NULL;
    while (list) {
        struct cmd *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        struct cmd *n = rev->next;
        run_cmd(s, rev);
        rev = n;
    }
}

static void *loop_main(void *arg)
{
    /* a write to a connection whose peer is gone must fail with EPIPE,
     * not end the application (SIGPIPE's default action): the simple
     * client's loop thread never takes the signal */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    struct sio_simple *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

/* ---- caller thread ---------------------------------------------------- */

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Submit cmd and wait until the loop has run it (and, for a call, until
 * the ack or its timeout). */
static int submit(struct sio_simple *s, struct cmd *cmd)
{
    cmd->s = s;
    pthread_mutex_lock(&s->lock);
    cmd->next = s->cmds;
    s->cmds = cmd;
    pthread_mutex_unlock(&s->lock);
    if (write(s->pipefd[1], "x", 1) < 0 && errno != EAGAIN)
        return -errno;
    pthread_mutex_lock(&s->lock);
    while (!cmd->done)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    return cmd->rc;
}

static void simple_free(struct sio_simple *s)
{
    if (s->thread_started) {
        struct cmd d = { .type = CMD_DISCONNECT };
        submit(s, &d);
        pthread_join(s->thread, NULL);
    }
    sio_client_destroy(&s->c);
    if (s->cmd_ev)
        event_free(s->cmd_ev);
    if (s->tick)
        event_free(s->tick);
    if (s->base)
        event_base_free(s->base);
    if (s->pipefd[0] >= 0)
        close(s->pipefd[0]);
    if (s->pipefd[1] >= 0)
        close(s->pipefd[1]);
    while (s->in_head) {
        struct inbound *in = s->in_head;
        s->in_head = in->next;
        free(in->event);
        json_decref(in->args);
        free(in);
    }
    json_decref(s->refuse_data);
    json_decref(s->auth);
    free(s->url);
    free(s->nsp);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}

SIO_EXPORT int sio_simple_connect(sio_simple **out, const char *url,
                                  const struct sio_simple_opts *opts, json_t **error_data)
{
    *out = NULL;
    if (error_data)
        *error_data = NULL;
    if (!url)
        return -EINVAL;
    struct sio_simple_opts o = { 0 };
    if (opts)
        o = *opts;
    struct sio_client_opts co;
    if (o.client)
        co = *o.client;
    else
        sio_client_opts_init(&co);
    if (o.transports)
        co.transports = o.transports;
    unsigned wait_ms = o.wait_timeout_ms ? o.wait_timeout_ms : 5000;

    struct sio_simple *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->pipefd[0] = s->pipefd[1] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    int rc = -ENOMEM;
    s->url = strdup(url);
    s->nsp = strdup(o.nsp && *o.nsp ? o.nsp : "/");
    s->auth = o.auth ? json_incref(o.auth) : NULL;
    if (!s->url || !s->nsp)
        goto fail;
    if (pipe2(s->pipefd, O_NONBLOCK | O_CLOEXEC) < 0) {
        rc = -errno;
        goto fail;
    }
    if (!(s->base = event_base_new()))
        goto fail;
    if ((rc = sio_client_new(&s->c, s->base, &co)) < 0)
        goto fail;
    rc = -ENOMEM;
    struct sio_client_namespace nh = {
        .nsp = s->nsp, .on_connect = on_connect, .on_connect_error = on_connect_error,
        .on_disconnect = on_disconnect, .ud = s,
    };
    if (sio_client_on_namespace(s->c, &nh) < 0 ||
        sio_client_on(s->c, "*", "*", on_any, s) < 0)
        goto fail;
    s->cmd_ev = event_new(s->base, s->pipefd[0], EV_READ | EV_PERSIST, cmd_cb, s);
    s->tick = event_new(s->base, -1, EV_PERSIST, tick_cb, s);
    struct timeval tv = { 0, 50000 };
    if (!s->cmd_ev || !s->tick || event_add(s->cmd_ev, NULL) < 0 || event_add(s->tick, &tv) < 0)
        goto fail;
    if ((rc = -pthread_create(&s->thread, NULL, loop_main, s)) < 0)
        goto fail;
    s->thread_started = true;

    struct cmd cmd = { .type = CMD_CONNECT };
    if ((rc = submit(s, &cmd)) < 0)
        goto fail;
    struct timespec dl;
    deadline_in(&dl, wait_ms);
    pthread_mutex_lock(&s->lock);
    rc = 0;
    while (!s->connected && !s->refused && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->cond, &s->lock, &dl);
    bool ok = s->connected, refused = s->refused;
    if (refused && error_data) {
        *error_data = s->refuse_data;
        s->refuse_data = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (!ok) {
        rc = refused ? SIO_ERR_CLOSED : SIO_ERR_TIMEOUT;
        sio_log_debug(topic, "connect to %s failed: %s", url, sio_strerror(rc));
        goto fail;
    }
    *out = s;
    return 0;
fail:
    simple_free(s);
    return rc;
}

SIO_EXPORT const char *sio_simple_sid(sio_simple *s)
{
    pthread_mutex_lock(&s->lock);
    bool ok = s->connected && s->sid[0];
    pthread_mutex_unlock(&s->lock);
    return ok ? s->sid : NULL;
}

SIO_EXPORT const char *sio_simple_transport(sio_simple *s)
{
    pthread_mutex_lock(&s->lock);
    bool ok = s->transport[0];
    pthread_mutex_unlock(&s->lock);
    return ok ? s->transport : NULL;
}

SIO_EXPORT bool sio_simple_connected(sio_simple *s)
{
    pthread_mutex_lock(&s->lock);
    bool ok = s->connected;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

SIO_EXPORT int sio_simple_emit(sio_simple *s, const char *event, json_t *args)
{
    if (!event)
        return -EINVAL;
    struct cmd cmd = { .type = CMD_EMIT, .event = event, .args = args };
    return submit(s, &cmd);
}

SIO_EXPORT int sio_simple_call(sio_simple *s, const char *event, json_t *args,
                               unsigned timeout_ms, json_t **result)
{
    *result = NULL;
    if (!event)
        return -EINVAL;
    struct cmd cmd = { .type = CMD_CALL, .event = event, .args = args,
                       .timeout_ms = timeout_ms };
    int rc = submit(s, &cmd);
    if (rc == 0)
        *result = cmd.result;
    else
        json_decref(cmd.result);
    return rc;
}

SIO_EXPORT int sio_simple_receive(sio_simple *s, char **event, json_t **args,
                                  unsigned timeout_ms)
{
    *event = NULL;
    *args = NULL;
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    while (!s->in_head && !s->finished && rc != ETIMEDOUT) {
        if (timeout_ms)
            rc = pthread_cond_timedwait(&s->cond, &s->lock, &dl);
        else
            pthread_cond_wait(&s->cond, &s->lock);
    }
    struct inbound *in = s->in_head;
    if (in) {
        s->in_head = in->next;
        if (!s->in_head)
            s->in_tail = NULL;
    }
    bool finished = s->finished;
    pthread_mutex_unlock(&s->lock);
    if (!in)
        return finished ? SIO_ERR_CLOSED : SIO_ERR_TIMEOUT;
    *event = in->event;
    *args = in->args;
    free(in);
    return 0;
}

SIO_EXPORT void sio_simple_disconnect(sio_simple **self_p)
{
    struct sio_simple *s = *self_p;
    if (!s)
        return;
    *self_p = NULL;
    simple_free(s);
}

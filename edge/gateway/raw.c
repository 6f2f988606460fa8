/* raw.c: the raw Engine.IO service (cfg->engineio_path), a session kind
 * with no Socket.IO layer (gw_raw_ops, struct gw_session_ops): each
 * message goes to the hub as SIO_ENV_RAW (nsp "", sid = engine sid) and,
 * so that workers can track raw sessions, opening and closing send
 * SIO_ENV_CONNECT / SIO_ENV_DISCONNECT with nsp "" too.
 */
#include <string.h>
#include <sio/sio.h>
#include "edge/gateway/gw.h"

static void env_for(struct gw_session *s, struct sio_env *env, enum sio_env_kind kind)
{
    sio_env_init(env, kind);
    env->gw.p = s->t->id;
    env->gw.len = SIO_GW_ID_LEN;
    env->nsp.p = "";
    env->nsp.len = 0;
    env->sid.p = s->sid;
    env->sid.len = GW_SID_LEN;
}

static void raw_open(struct gw_session *s)
{
    struct sio_env env;
    env_for(s, &env, SIO_ENV_CONNECT);
    env.headers = s->headers;
    env.nheaders = s->nheaders;
    env.query = s->query;
    env.remote = s->remote;
    gw_bus_send(s->t, &env);
}

static void raw_message(struct gw_session *s, bool binary, const uint8_t *data, size_t len)
{
    struct sio_env env;
    env_for(s, &env, SIO_ENV_RAW);
    env.binary = binary;
    env.data.p = (const char *)data;
    env.data.len = len;
    gw_bus_send(s->t, &env);
}

static void raw_close(struct gw_session *s, const char *reason)
{
    struct sio_env env;
    env_for(s, &env, SIO_ENV_DISCONNECT);
    env.reason.p = reason;
    env.reason.len = strlen(reason);
    gw_bus_send(s->t, &env);
}

const struct gw_session_ops gw_raw_ops = {
    .name = "raw",
    .on_open = raw_open,
    .on_message = raw_message,
    .on_close = raw_close,
};

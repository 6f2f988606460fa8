/* capture.h: the commands a bridge's translator hands to the hub, kept
 * for the test to read (each one encoded and decoded again, as the bus
 * would). The includer defines MAXMSG. */
#ifndef SIO_TEST_ADAPTERS_CAPTURE_H
#define SIO_TEST_ADAPTERS_CAPTURE_H

#include <criterion/criterion.h>
#include "base/buf.h"
#include "proto/bus.h"
#include "proto/envelope.h"

struct cmds {
    struct sio_buf raw[MAXMSG];
    struct sio_env env[MAXMSG];
    size_t n;
};

static int capture(void *ud, const char *topic, const struct sio_env *env)
{
    struct cmds *c = ud;
    cr_assert_str_eq(topic, SIO_BUS_ALL_TOPIC);
    cr_assert_lt(c->n, MAXMSG);
    sio_buf_init(&c->raw[c->n]);
    cr_assert_eq(sio_env_encode(env, &c->raw[c->n]), 0);
    cr_assert_eq(sio_env_decode(c->raw[c->n].data, c->raw[c->n].len, &c->env[c->n]), 0);
    c->n++;
    return 0;
}

static void cmds_clear(struct cmds *c)
{
    for (size_t i = 0; i < c->n; i++) {
        sio_env_clear(&c->env[i]);
        sio_buf_clear(&c->raw[i]);
    }
    c->n = 0;
}

#endif

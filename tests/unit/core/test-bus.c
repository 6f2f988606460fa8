/* test-bus.c: the route header and random ids of proto/bus.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "proto/bus.h"
#include "proto/envelope.h"

Test(bus, route_bytes_and_round_trip)
{
    char buf[64];
    int n = sio_bus_route_make(buf, sizeof(buf), SIO_ENV_EVENT, "/chat", 5, "abc", 3);
    cr_assert_eq(n, 10);
    cr_assert_eq(memcmp(buf, "\x02/chat\0abc", 10), 0);

    int kind;
    const char *nsp, *sid;
    size_t nl, sl;
    cr_assert_eq(sio_bus_route_parse(buf, (size_t)n, &kind, &nsp, &nl, &sid, &sl), 0);
    cr_assert_eq(kind, SIO_ENV_EVENT);
    cr_assert_eq(nsp, buf + 1);             /* borrowed */
    cr_assert_eq(nl, 5);
    cr_assert_eq(memcmp(nsp, "/chat", 5), 0);
    cr_assert_eq(sid, buf + 7);
    cr_assert_eq(sl, 3);
}

Test(bus, raw_route_has_empty_namespace)
{
    char buf[32];
    int n = sio_bus_route_make(buf, sizeof(buf), SIO_ENV_RAW, "", 0, "eng1", 4);
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(buf, "\x05\0eng1", 6), 0);
    int kind;
    const char *nsp, *sid;
    size_t nl, sl;
    cr_assert_eq(sio_bus_route_parse(buf, 6, &kind, &nsp, &nl, &sid, &sl), 0);
    cr_assert_eq(kind, SIO_ENV_RAW);
    cr_assert_eq(nl, 0);
    cr_assert_eq(sl, 4);
    /* empty sid, NULL pointers with zero lengths */
    cr_assert_eq(sio_bus_route_make(buf, 2, SIO_ENV_CONNECT, NULL, 0, NULL, 0), 2);
    cr_assert_eq(sio_bus_route_parse(buf, 2, &kind, &nsp, &nl, &sid, &sl), 0);
    cr_assert_eq(kind, SIO_ENV_CONNECT);
    cr_assert_eq(nl, 0);
    cr_assert_eq(sl, 0);
}

Test(bus, route_sid_may_hold_anything)
{
    char buf[32];
    int n = sio_bus_route_make(buf, sizeof(buf), SIO_ENV_DISCONNECT, "/", 1, "a\0b", 3);
    cr_assert_eq(n, 6);
    int kind;
    const char *nsp, *sid;
    size_t nl, sl;
    cr_assert_eq(sio_bus_route_parse(buf, 6, &kind, &nsp, &nl, &sid, &sl), 0);
    cr_assert_eq(nl, 1);
    cr_assert_eq(sl, 3);
    cr_assert_eq(memcmp(sid, "a\0b", 3), 0);
}

Test(bus, route_make_rejects)
{
    char buf[16];
    /* exact fit is fine, one byte short is not */
    cr_assert_eq(sio_bus_route_make(buf, 7, SIO_ENV_EVENT, "/a", 2, "xyz", 3), 7);
    cr_assert_eq(sio_bus_route_make(buf, 6, SIO_ENV_EVENT, "/a", 2, "xyz", 3), -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), 0, "/", 1, "s", 1), -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), 99, "/", 1, "s", 1), -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), 256 + SIO_ENV_EVENT, "/", 1, "s", 1),
                 -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), -1, "/", 1, "s", 1), -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), SIO_ENV_EVENT, "/\0x", 3, "s", 1), -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), SIO_ENV_EVENT, NULL, 1, "s", 1), -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), SIO_ENV_EVENT, "/", 1, NULL, 1), -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), SIO_ENV_EVENT, "/", SIZE_MAX, "s", 1),
                 -EINVAL);
    cr_assert_eq(sio_bus_route_make(buf, sizeof(buf), SIO_ENV_EVENT, "/", 1, "s", SIZE_MAX),
                 -EINVAL);
}

Test(bus, route_parse_rejects)
{
    int kind = 7;
    const char *nsp, *sid;
    size_t nl, sl;
    cr_assert_eq(sio_bus_route_parse(NULL, 0, &kind, &nsp, &nl, &sid, &sl), -EINVAL);
    cr_assert_eq(sio_bus_route_parse("", 0, &kind, &nsp, &nl, &sid, &sl), -EINVAL);
    cr_assert_eq(sio_bus_route_parse("\x02", 1, &kind, &nsp, &nl, &sid, &sl), -EINVAL);
    cr_assert_eq(sio_bus_route_parse("\x02/chat", 6, &kind, &nsp, &nl, &sid, &sl), -EINVAL);
    cr_assert_eq(sio_bus_route_parse("\x00/\0s", 4, &kind, &nsp, &nl, &sid, &sl), -EINVAL);
    cr_assert_eq(sio_bus_route_parse("\x63/\0s", 4, &kind, &nsp, &nl, &sid, &sl), -EINVAL);
    cr_assert_eq(kind, 7, "outputs untouched on error");
}

static bool id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

Test(bus, random_id_alphabet_and_bounds)
{
    char buf[SIO_GW_ID_LEN + 2];
    memset(buf, '#', sizeof(buf));
    sio_random_id(buf + 1, SIO_GW_ID_LEN);
    cr_assert_eq(buf[0], '#');
    cr_assert_eq(buf[SIO_GW_ID_LEN + 1], '#');
    for (int i = 1; i <= SIO_GW_ID_LEN; i++)
        cr_assert(id_char(buf[i]), "char %d is 0x%02x", i, (unsigned char)buf[i]);
    sio_random_id(buf, 0);  /* nothing, no crash */
    cr_assert_eq(buf[0], '#');
}

Test(bus, random_ids_differ_and_cover_the_alphabet)
{
    static char big[20000];
    bool seen[256] = { false };
    sio_random_id(big, sizeof(big));
    for (size_t i = 0; i < sizeof(big); i++) {
        cr_assert(id_char(big[i]));
        seen[(unsigned char)big[i]] = true;
    }
    int distinct = 0;
    for (int i = 0; i < 256; i++)
        distinct += seen[i];
    cr_assert_eq(distinct, 64, "only %d of 64 characters in 20000", distinct);

    char a[20], b[20];
    sio_random_id(a, sizeof(a));
    sio_random_id(b, sizeof(b));
    cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
}

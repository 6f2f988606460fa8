/* test-map.c: the hash map behind the gateway's sockets, rooms and
 * sessions, the hub's sticky routes and the worker's sockets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "base/map.h"

static char vals[20000];

Test(map, put_get_replace_and_delete)
{
    struct sio_map m;
    sio_map_init(&m);
    cr_assert_null(sio_map_get(&m, "a", 1), "an empty map finds nothing");
    cr_assert_null(sio_map_del(&m, "a", 1), "deleting from an empty map is harmless");
    cr_assert_eq(sio_map_put(&m, "room", 4, &vals[1]), 0);
    cr_assert_eq(sio_map_get(&m, "room", 4), &vals[1]);
    cr_assert_null(sio_map_get(&m, "roo", 3), "a prefix is another key");
    cr_assert_null(sio_map_get(&m, "rooms", 5), "a longer key is another key");
    cr_assert_eq(sio_map_put(&m, "room", 4, &vals[2]), 0);
    cr_assert_eq(m.n, 1, "putting an existing key replaces its value");
    cr_assert_eq(sio_map_get(&m, "room", 4), &vals[2]);
    cr_assert_eq(sio_map_del(&m, "room", 4), &vals[2], "delete returns the value");
    cr_assert_null(sio_map_get(&m, "room", 4));
    cr_assert_eq(m.n, 0);
    sio_map_clear(&m);
}

Test(map, keys_are_bytes_and_copied)
{
    struct sio_map m;
    sio_map_init(&m);
    char k[] = { 'a', 0, 'b' };
    cr_assert_eq(sio_map_put(&m, k, 3, &vals[1]), 0);
    cr_assert_eq(sio_map_put(&m, k, 1, &vals[2]), 0);
    cr_assert_eq(sio_map_get(&m, "a\0b", 3), &vals[1], "a NUL inside a key is part of it");
    cr_assert_eq(sio_map_get(&m, "a", 1), &vals[2]);
    k[2] = 'x';     /* the caller's buffer changes: the map kept its own copy */
    cr_assert_eq(sio_map_get(&m, "a\0b", 3), &vals[1]);
    struct sio_map_ent *e = sio_map_find(&m, "a\0b", 3);
    cr_assert_not_null(e);
    cr_assert_eq(e->key[3], 0, "the stored key ends with a NUL");
    e->val = &vals[3];
    cr_assert_eq(sio_map_get(&m, "a\0b", 3), &vals[3], "a found entry's value changes in place");
    cr_assert_eq(sio_map_put(&m, "", 0, &vals[4]), 0);
    cr_assert_eq(sio_map_get(&m, "", 0), &vals[4], "the empty key is a key");
    sio_map_clear(&m);
}

Test(map, twenty_thousand_keys_survive_growth)
{
    struct sio_map m;
    sio_map_init(&m);
    char k[32];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(k, sizeof k, "sid-%d", i);
        cr_assert_eq(sio_map_put(&m, k, (size_t)n, &vals[i]), 0);
    }
    cr_assert_eq(m.n, 20000);
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(k, sizeof k, "sid-%d", i);
        cr_assert_eq(sio_map_get(&m, k, (size_t)n), &vals[i], "key %s", k);
    }
    for (int i = 0; i < 20000; i += 2) {
        int n = snprintf(k, sizeof k, "sid-%d", i);
        cr_assert_eq(sio_map_del(&m, k, (size_t)n), &vals[i]);
    }
    cr_assert_eq(m.n, 10000);
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(k, sizeof k, "sid-%d", i);
        cr_assert_eq(sio_map_get(&m, k, (size_t)n), i % 2 ? &vals[i] : NULL, "key %s", k);
    }
    sio_map_clear(&m);
    cr_assert_eq(m.n, 0);
    cr_assert_null(sio_map_get(&m, "sid-1", 5), "a cleared map is empty and usable");
    cr_assert_eq(sio_map_put(&m, "x", 1, &vals[0]), 0);
    sio_map_clear(&m);
}

Test(map, iteration_visits_every_entry_once)
{
    struct sio_map m;
    sio_map_init(&m);
    size_t i;
    cr_assert_null(sio_map_next(&m, NULL, &i), "nothing to visit in an empty map");
    char k[16];
    for (int j = 0; j < 500; j++) {
        int n = snprintf(k, sizeof k, "%d", j);
        sio_map_put(&m, k, (size_t)n, &vals[j]);
    }
    static int seen[500];
    int count = 0;
    for (struct sio_map_ent *e = sio_map_next(&m, NULL, &i); e; e = sio_map_next(&m, e, &i)) {
        int j = (int)((char *)e->val - vals);
        cr_assert(j >= 0 && j < 500);
        seen[j]++;
        count++;
    }
    cr_assert_eq(count, 500);
    for (int j = 0; j < 500; j++)
        cr_assert_eq(seen[j], 1, "entry %d visited %d times", j, seen[j]);
    sio_map_clear(&m);
}

static bool drop_odd(struct sio_map_ent *e, void *ud)
{
    int *calls = ud;
    (*calls)++;
    return ((char *)e->val - vals) % 2 == 1;
}

Test(map, sweep_removes_what_the_callback_chooses)
{
    struct sio_map m;
    sio_map_init(&m);
    char k[16];
    for (int j = 0; j < 300; j++) {
        int n = snprintf(k, sizeof k, "k%d", j);
        sio_map_put(&m, k, (size_t)n, &vals[j]);
    }
    int calls = 0;
    sio_map_sweep(&m, drop_odd, &calls);
    cr_assert_eq(calls, 300, "every entry is offered once");
    cr_assert_eq(m.n, 150);
    for (int j = 0; j < 300; j++) {
        int n = snprintf(k, sizeof k, "k%d", j);
        cr_assert_eq(sio_map_get(&m, k, (size_t)n), j % 2 ? NULL : &vals[j]);
    }
    sio_map_clear(&m);
}

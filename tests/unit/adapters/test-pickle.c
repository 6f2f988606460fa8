/* test-pickle.c: the restricted pickle decoder (adapters/pickle.c) on the
 * pickles python-socketio 5.7.2 published (fixtures), on pickles that
 * would run code under Python's pickle.loads, and on malformed input. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sio/error.h>
#include <sio/msg.h>
#include "adapters/pickle.h"
#include "fixture.h"

static json_t *decode_ok(const void *buf, size_t len, struct sio_pickle *pk)
{
    char err[256];
    int rc = sio_pickle_decode(buf, len, NULL, pk, err, sizeof err);
    cr_assert_eq(rc, 0, "decode: %d %s", rc, err);
    return pk->value;
}

static void expect_json(const json_t *v, const char *text)
{
    json_t *want = json_loads(text, 0, NULL);
    cr_assert_not_null(want, "bad expected JSON %s", text);
    char *got = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    cr_assert(sio_json_equal(v, want), "got %s, want %s", got, text);
    free(got);
    json_decref(want);
}

Test(pickle, py572_emit_room)
{
    size_t len;
    unsigned char *b = fixture("py572_redis_emit_room.pickle", &len);
    struct sio_pickle pk;
    expect_json(decode_ok(b, len, &pk),
        "{\"method\":\"emit\",\"event\":\"job_done\",\"data\":{\"id\":7},"
        "\"namespace\":\"/jobs\",\"room\":\"someSid\",\"skip_sid\":null,\"callback\":null,"
        "\"host_id\":\"0123456789abcdef0123456789abcdef\"}");
    cr_assert_not(sio_pickle_is_tuple(&pk, json_object_get(pk.value, "data")));
    sio_pickle_clear(&pk);
    free(b);
}

Test(pickle, py572_tuple_and_bytes)
{
    size_t len;
    unsigned char *b = fixture("py572_redis_emit_tuple_bytes_skipsid.pickle", &len);
    struct sio_pickle pk;
    json_t *v = decode_ok(b, len, &pk);
    json_t *data = json_object_get(v, "data");
    cr_assert(json_is_array(data));
    cr_assert(sio_pickle_is_tuple(&pk, data));
    cr_assert_eq(json_array_size(data), 3);
    cr_assert_str_eq(json_string_value(json_array_get(data, 0)), "a");
    cr_assert_eq(json_integer_value(json_array_get(data, 1)), 1);
    const void *p;
    size_t n;
    cr_assert(sio_binary_get(json_array_get(data, 2), &p, &n));
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(p, "\x00\x01\xff", 3), 0);
    cr_assert_str_eq(json_string_value(json_object_get(v, "skip_sid")), "sidX");
    sio_pickle_clear(&pk);
    free(b);
}

Test(pickle, py572_callback_memo_get)
{
    size_t len;
    unsigned char *b = fixture("py572_redis_emit_with_callback.pickle", &len);
    struct sio_pickle pk;
    json_t *v = decode_ok(b, len, &pk);
    expect_json(json_object_get(v, "callback"), "[\"someSid\",\"/jobs\",1]");
    cr_assert(sio_pickle_is_tuple(&pk, json_object_get(v, "callback")));
    sio_pickle_clear(&pk);
    free(b);
}

Test(pickle, every_py572_fixture_and_every_truncation)
{
    static const char *const names[] = {
        "py572_redis_emit_room.pickle", "py572_redis_emit_to_kwarg_ignored.pickle",
        "py572_redis_emit_tuple_bytes_skipsid.pickle", "py572_redis_disconnect.pickle",
        "py572_redis_close_room.pickle", "py572_redis_emit_with_callback.pickle",
        "py572_redis_callback.pickle", "py572_amqp_emit.pickle", "py572_kafka_emit.pickle",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t len;
        unsigned char *b = fixture(names[i], &len);
        struct sio_pickle pk;
        cr_assert(json_is_object(decode_ok(b, len, &pk)), "%s", names[i]);
        cr_assert(json_is_string(json_object_get(pk.value, "method")), "%s", names[i]);
        sio_pickle_clear(&pk);
        for (size_t cut = 0; cut < len; cut++) {
            int rc = sio_pickle_decode(b, cut, NULL, &pk, NULL, 0);
            cr_assert_lt(rc, 0, "%s cut at %zu decoded", names[i], cut);
            cr_assert_null(pk.value);
        }
        free(b);
    }
}

Test(pickle, py572_callback_message)
{
    size_t len;
    unsigned char *b = fixture("py572_redis_callback.pickle", &len);
    struct sio_pickle pk;
    json_t *v = decode_ok(b, len, &pk);
    cr_assert_str_eq(json_string_value(json_object_get(v, "method")), "callback");
    sio_pickle_clear(&pk);
    free(b);
}

#define PWNED "/tmp/sio-pickle-pwned"

/* pickle.dumps(Evil(), protocol=4), Evil.__reduce__ returning
 * (os.system, ('touch /tmp/sio-pickle-pwned',)): Python's pickle.loads
 * runs the command (tests/interop/bridge_test.py checks that too). */
static const unsigned char evil4[] =
    "\x80\x04\x95\x36\x00\x00\x00\x00\x00\x00\x00\x8c\x05\x70\x6f\x73\x69\x78\x94\x8c\x06"
    "\x73\x79\x73\x74\x65\x6d\x94\x93\x94\x8c\x1b\x74\x6f\x75\x63\x68\x20\x2f\x74\x6d\x70"
    "\x2f\x73\x69\x6f\x2d\x70\x69\x63\x6b\x6c\x65\x2d\x70\x77\x6e\x65\x64\x94\x85\x94\x52"
    "\x94\x2e";
/* the same with protocol=0 (GLOBAL 'c' instead of STACK_GLOBAL) */
static const unsigned char evil0[] =
    "cposix\nsystem\np0\n(Vtouch /tmp/sio-pickle-pwned\np1\ntp2\nRp3\n.";
/* a python-socketio emit whose data is that object */
static const unsigned char evil_msg[] =
    "\x80\x04\x95\x8d\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x06\x6d\x65\x74\x68\x6f"
    "\x64\x94\x8c\x04\x65\x6d\x69\x74\x94\x8c\x05\x65\x76\x65\x6e\x74\x94\x8c\x01\x78\x94"
    "\x8c\x04\x64\x61\x74\x61\x94\x8c\x05\x70\x6f\x73\x69\x78\x94\x8c\x06\x73\x79\x73\x74"
    "\x65\x6d\x94\x93\x94\x8c\x1b\x74\x6f\x75\x63\x68\x20\x2f\x74\x6d\x70\x2f\x73\x69\x6f"
    "\x2d\x70\x69\x63\x6b\x6c\x65\x2d\x70\x77\x6e\x65\x64\x94\x85\x94\x52\x94\x8c\x09\x6e"
    "\x61\x6d\x65\x73\x70\x61\x63\x65\x94\x8c\x01\x2f\x94\x8c\x04\x72\x6f\x6f\x6d\x94\x4e"
    "\x8c\x08\x73\x6b\x69\x70\x5f\x73\x69\x64\x94\x4e\x8c\x08\x63\x61\x6c\x6c\x62\x61\x63"
    "\x6b\x94\x4e\x75\x2e";

Test(pickle, malicious_rejected_and_nothing_runs)
{
    const struct { const unsigned char *b; size_t len; const char *op; } cases[] = {
        { evil4, sizeof evil4 - 1, "STACK_GLOBAL" },
        { evil0, sizeof evil0 - 1, "GLOBAL" },
        { evil_msg, sizeof evil_msg - 1, "STACK_GLOBAL" },
    };
    unlink(PWNED);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sio_pickle pk;
        char err[256];
        int rc = sio_pickle_decode(cases[i].b, cases[i].len, NULL, &pk, err, sizeof err);
        cr_assert_eq(rc, -EPERM, "case %zu: %d %s", i, rc, err);
        cr_assert_null(pk.value);
        cr_assert(strstr(err, cases[i].op), "case %zu: %s", i, err);
    }
    usleep(100 * 1000);
    cr_assert_neq(access(PWNED, F_OK), 0, PWNED " exists: something ran");
}

Test(pickle, every_code_opcode_refused)
{
    /* GLOBAL INST OBJ REDUCE BUILD NEWOBJ NEWOBJ_EX STACK_GLOBAL PERSID BINPERSID
     * EXT1 EXT2 EXT4, and text-protocol/other forms we do not take */
    static const unsigned char ops[] = { 'c', 'i', 'o', 'R', 'b', 0x81, 0x92, 0x93, 'P',
        'Q', 0x82, 0x83, 0x84, 'I', 'L', 'F', 'S', 'V', 'p', 'g', 0x8f, 0x90, 0x91, 0x96,
        0x97, 0x98, '2', '0', '1', 'T', 'U', 0x8b };
    for (size_t i = 0; i < sizeof ops; i++) {
        unsigned char b[] = { 0x80, 0x04, 'N', ops[i], '.' };
        struct sio_pickle pk;
        cr_assert_eq(sio_pickle_decode(b, sizeof b, NULL, &pk, NULL, 0), -EPERM,
                     "opcode 0x%02x", ops[i]);
    }
}

Test(pickle, scalars)
{
    /* (None, True, False, -1 (LONG1), -2 (BININT), 65535, 1.5, b'', '') as a list */
    static const unsigned char b[] = "\x80\x02]q\x00(N\x88\x89\x8a\x01\xffJ\xfe\xff\xff\xff"
        "M\xff\xffG\x3f\xf8\x00\x00\x00\x00\x00\x00" "C\x00\x8c\x00\x8a\x00"
        "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80" "e.";
    struct sio_pickle pk;
    json_t *v = decode_ok(b, sizeof b - 1, &pk);
    cr_assert_eq(json_array_size(v), 11);
    cr_assert(json_is_null(json_array_get(v, 0)));
    cr_assert(json_is_true(json_array_get(v, 1)));
    cr_assert(json_is_false(json_array_get(v, 2)));
    cr_assert_eq(json_integer_value(json_array_get(v, 3)), -1);
    cr_assert_eq(json_integer_value(json_array_get(v, 4)), -2);
    cr_assert_eq(json_integer_value(json_array_get(v, 5)), 65535);
    cr_assert_float_eq(json_real_value(json_array_get(v, 6)), 1.5, 1e-12);
    size_t n = 9;
    cr_assert(sio_binary_get(json_array_get(v, 7), NULL, &n));
    cr_assert_eq(n, 0);
    cr_assert_str_eq(json_string_value(json_array_get(v, 8)), "");
    cr_assert_eq(json_integer_value(json_array_get(v, 9)), 0);
    cr_assert_eq(json_integer_value(json_array_get(v, 10)), INT64_MIN);
    sio_pickle_clear(&pk);
}

Test(pickle, malformed)
{
    static const struct { const char *b; size_t len; int rc; } cases[] = {
        { "", 0, SIO_ERR_PROTO },
        { "N", 1, SIO_ERR_PROTO },                          /* no STOP */
        { "N.N", 3, SIO_ERR_PROTO },                        /* bytes after STOP */
        { "NN.", 3, SIO_ERR_PROTO },                        /* two values */
        { ".", 1, SIO_ERR_PROTO },                          /* empty stack */
        { "(.", 2, SIO_ERR_PROTO },                         /* only a MARK */
        { "\x80\x06N.", 4, SIO_ERR_PROTO },                 /* protocol 6 */
        { "\x95\xff\x00\x00\x00\x00\x00\x00\x00N.", 11, SIO_ERR_PROTO },   /* frame too long */
        { "\x8d\xff\xff\xff\xff\xff\xff\xff\x7f.", 10, SIO_ERR_PROTO },    /* str of 2^63 */
        { "X\xff\xff\xff\xff.", 6, SIO_ERR_PROTO },
        { "\x8e\x00\x00\x00\x00\x00\x00\x00\x80.", 10, SIO_ERR_PROTO },    /* bytes of 2^63 */
        { "\x8c\x02\xc3\x28.", 5, SIO_ERR_PROTO },          /* bad UTF-8 */
        { "G\x7f\xf8\x00\x00\x00\x00\x00\x00.", 10, SIO_ERR_PROTO },       /* NaN */
        { "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.", 12, SIO_ERR_TOOBIG },
        { "}K\x01K\x02s.", 7, SIO_ERR_PROTO },              /* int key */
        { "}\x8c\x01\x00K\x02s.", 8, SIO_ERR_PROTO },       /* key with NUL */
        { "K\x01K\x02s.", 6, SIO_ERR_PROTO },               /* SETITEM on an int */
        { "K\x01K\x02" "a.", 6, SIO_ERR_PROTO },            /* APPEND on an int */
        { ")K\x02" "a.", 5, SIO_ERR_PROTO },                /* APPEND on a tuple */
        { "h\x00.", 3, SIO_ERR_PROTO },                     /* unknown memo */
        { "\x94.", 2, SIO_ERR_PROTO },                      /* MEMOIZE on nothing */
        { "Nr\xff\xff\xff\xff.", 7, SIO_ERR_TOOBIG },       /* memo index 2^32-1 */
        { "t.", 2, SIO_ERR_PROTO },                         /* TUPLE without MARK */
        { "\x87.", 2, SIO_ERR_PROTO },                      /* TUPLE3 on empty */
        { "(K\x01\x85.", 5, SIO_ERR_PROTO },                /* TUPLE1 over a MARK ... */
        { "}(K\x01u.", 6, SIO_ERR_PROTO },                  /* odd SETITEMS */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct sio_pickle pk;
        char err[256];
        int rc = sio_pickle_decode(cases[i].b, cases[i].len, NULL, &pk, err, sizeof err);
        cr_assert_eq(rc, cases[i].rc, "case %zu: got %d (%s)", i, rc, err);
        cr_assert_null(pk.value);
    }
}

Test(pickle, depth_limit)
{
    unsigned char b[200];
    size_t n = 0;
    b[n++] = ']';
    for (int i = 0; i < 100; i++)
        b[n++] = 0x85;
    b[n++] = '.';
    struct sio_pickle pk;
    cr_assert_eq(sio_pickle_decode(b, n, NULL, &pk, NULL, 0), SIO_ERR_TOOBIG);
    /* nesting through APPEND: ] ] ] ... a a a */
    n = 0;
    for (int i = 0; i < 60; i++)
        b[n++] = ']';
    for (int i = 0; i < 59; i++)
        b[n++] = 'a';
    b[n++] = '.';
    cr_assert_eq(sio_pickle_decode(b, n, NULL, &pk, NULL, 0), SIO_ERR_TOOBIG);
    struct sio_pickle_limits lim = { .max_depth = 100 };
    cr_assert_eq(sio_pickle_decode(b, n, &lim, &pk, NULL, 0), 0);
    sio_pickle_clear(&pk);
}

Test(pickle, billion_laughs_refused)
{
    /* L0 = [N]*8 memo 0; L1 = [L0]*8 (memo gets) memo 1; ... each level 8x */
    unsigned char b[512];
    size_t n = 0;
    b[n++] = ']';
    b[n++] = '(';
    for (int i = 0; i < 8; i++)
        b[n++] = 'N';
    b[n++] = 'e';
    b[n++] = 'q'; b[n++] = 0;
    for (int lvl = 1; lvl < 10; lvl++) {
        b[n++] = ']';
        b[n++] = '(';
        for (int i = 0; i < 8; i++) {
            b[n++] = 'h';
            b[n++] = (unsigned char)(lvl - 1);
        }
        b[n++] = 'e';
        b[n++] = 'q'; b[n++] = (unsigned char)lvl;
    }
    /* the stack holds 10 lists (the last one 8^9 values): wrap them in one */
    unsigned char full[600];
    size_t m = 0;
    full[m++] = '(';
    memcpy(full + m, b, n);
    m += n;
    full[m++] = 'l';
    full[m++] = '.';
    struct sio_pickle pk;
    cr_assert_eq(sio_pickle_decode(full, m, NULL, &pk, NULL, 0), SIO_ERR_TOOBIG);
}

Test(pickle, memo_self_reference_makes_no_cycle)
{
    /* l = []; l.append(<memo get of l>) -> [[]] here (a copy), never a cycle */
    static const unsigned char b[] = "]\x94h\x00" "a.";
    struct sio_pickle pk;
    expect_json(decode_ok(b, sizeof b - 1, &pk), "[[]]");
    sio_pickle_clear(&pk);
}

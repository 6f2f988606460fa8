/* test-worker.c: the worker runtime and host API with the built echo
 * plugin, behind a real hub and a fake gateway; the plugin loader; and the
 * `sio server` command line. */
#include "fakegw.h"
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sio/error.h>
#include "core/plugin_loader.h"

static struct fgw f;
static char *echo_path;

static void echo_setup(void)
{
    echo_path = fgw_plugin_path("echo/echo.so");
    fgw_start(&f, (const char *const[]){ echo_path }, 1, 2);
}

static void echo_teardown(void)
{
    fgw_stop(&f);
    free(echo_path);
}

static void connect_ok(const char *nsp, const char *sid, const char *auth, const char *want_auth)
{
    fgw_send_kind(&f, SIO_ENV_CONNECT, nsp, sid, -1, auth);
    struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_OK);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(e->sid, sid));
    cr_assert(fgw_str_eq(e->nsp, nsp));
    cr_assert(fgw_str_eq(e->gw, FGW_ID));
    /* the `auth` emit comes after CONNECT_OK, to this socket only */
    e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(e->nsp, nsp));
    cr_assert_eq(e->nrooms, 1);
    cr_assert(fgw_str_eq(e->rooms[0], sid));
    char want[512];
    snprintf(want, sizeof want, "[\"auth\",%s]", want_auth);
    fgw_assert_json(e, want);
}

TestSuite(echo, .init = echo_setup, .fini = echo_teardown, .timeout = 20);

Test(echo, connect_ok_emits_auth)
{
    connect_ok("/", "s1", "{\"token\":\"abc\"}", "{\"token\":\"abc\"}");
    connect_ok("/custom", "s2", NULL, "{}");
}

Test(echo, refused_connect_carries_data)
{
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "r1", -1, "{\"refuse\":{\"why\":\"no\"}}");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(e->sid, "r1"));
    fgw_assert_json(e, "{\"message\":\"Connection rejected by server\",\"data\":{\"why\":\"no\"}}");
    /* a string is the message itself; nothing emitted during on_connect leaks */
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/", "r2", -1, "{\"refuse\":\"go away\"}");
    e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);
    fgw_assert_json(e, "{\"message\":\"go away\"}");
    cr_assert_not(fgw_recv(&f, 200));
}

Test(echo, unknown_namespace)
{
    fgw_send_kind(&f, SIO_ENV_CONNECT, "/nope", "u1", -1, NULL);
    struct sio_env *e = fgw_expect(&f, SIO_ENV_CONNECT_ERR);
    fgw_assert_json(e, "{\"message\":\"Invalid namespace\"}");
}

Test(echo, event_with_ack_is_acked_with_its_args)
{
    connect_ok("/", "a1", NULL, "{}");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a1", 7, "[\"echo\",1,\"two\",{\"3\":[4]}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_ACK);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert_eq(e->id, 7);
    cr_assert(fgw_str_eq(e->sid, "a1"));
    fgw_assert_json(e, "[1,\"two\",{\"3\":[4]}]");
    /* numbers beyond int64 (JS 1e20) do not close the connection */
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a1", 10, "[\"echo\",100000000000000000000]");
    e = fgw_expect(&f, SIO_ENV_ACK);
    json_t *big = json_loadb(e->data.p, e->data.len, JSON_DECODE_INT_AS_REAL, NULL);
    cr_assert_not_null(big);
    cr_assert_float_eq(json_number_value(json_array_get(big, 0)), 1e20, 1e5);
    json_decref(big);
    /* strings may hold NUL (JSON \u0000) */
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a1", 9, "[\"echo\",\"a\\u0000b\"]");
    e = fgw_expect(&f, SIO_ENV_ACK);
    fgw_assert_json(e, "[\"a\\u0000b\"]");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "a1", 8, "[\"message-with-ack\"]");
    e = fgw_expect(&f, SIO_ENV_ACK);
    cr_assert_eq(e->id, 8);
    fgw_assert_json(e, "[]");
}

Test(echo, binary_round_trip)
{
    connect_ok("/", "b1", NULL, "{}");
    static const uint8_t bin0[] = { 0, 1, 2, 255 }, bin1[] = { 'x' };
    struct sio_env_bin bins[2] = { { bin0, sizeof bin0 }, { bin1, sizeof bin1 } };
    struct sio_env ev;
    sio_env_init(&ev, SIO_ENV_EVENT);
    ev.gw = S(FGW_ID);
    ev.nsp = S("/");
    ev.sid = S("b1");
    ev.id = 3;
    ev.data = S("[\"echo\",{\"_placeholder\":true,\"num\":0},{\"k\":{\"_placeholder\":true,\"num\":1}}]");
    ev.bins = bins;
    ev.nbins = 2;
    fgw_send(&f, &ev);
    struct sio_env *e = fgw_expect(&f, SIO_ENV_ACK);
    fgw_assert_json(e, "[{\"_placeholder\":true,\"num\":0},{\"k\":{\"_placeholder\":true,\"num\":1}}]");
    cr_assert_eq(e->nbins, 2);
    cr_assert_eq(e->bins[0].len, sizeof bin0);
    cr_assert_eq(memcmp(e->bins[0].p, bin0, sizeof bin0), 0);
    cr_assert_eq(e->bins[1].len, 1);
    cr_assert_eq(e->bins[1].p[0], 'x');

    /* and through an emit: message -> message-back */
    ev.id = -1;
    ev.data = S("[\"message\",{\"_placeholder\":true,\"num\":0},{\"k\":{\"_placeholder\":true,\"num\":1}}]");
    fgw_send(&f, &ev);
    e = fgw_expect(&f, SIO_ENV_EMIT);
    fgw_assert_json(e, "[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"k\":{\"_placeholder\":true,\"num\":1}}]");
    cr_assert_eq(e->nbins, 2);
    cr_assert_eq(memcmp(e->bins[0].p, bin0, sizeof bin0), 0);
}

Test(echo, message_is_emitted_back)
{
    connect_ok("/", "m1", NULL, "{}");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "m1", -1, "[\"message\",\"hi\",2]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(e->nsp, "/"));
    cr_assert_eq(e->nrooms, 1);
    cr_assert(fgw_str_eq(e->rooms[0], "m1"));
    cr_assert_eq(e->id, -1);
    fgw_assert_json(e, "[\"message-back\",\"hi\",2]");
    cr_assert_not(fgw_recv(&f, 100), "no ack was asked for");
}

Test(echo, bcast_goes_to_the_whole_namespace)
{
    connect_ok("/custom", "c1", NULL, "{}");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/custom", "c1", -1, "[\"bcast\",{\"a\":1}]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert_str_eq(f.topic, "*");
    cr_assert(fgw_str_eq(e->nsp, "/custom"));
    cr_assert_eq(e->nrooms, 0);
    cr_assert_eq(e->nexcept_sids, 0);
    fgw_assert_json(e, "[\"bcast\",{\"a\":1}]");
}

Test(echo, other_events_come_back_under_their_name)
{
    connect_ok("/", "o1", NULL, "{}");
    fgw_send_kind(&f, SIO_ENV_EVENT, "/", "o1", -1, "[\"whatever\",[1,2]]");
    struct sio_env *e = fgw_expect(&f, SIO_ENV_EMIT);
    cr_assert(fgw_str_eq(e->rooms[0], "o1"));
    fgw_assert_json(e, "[\"whatever\",[1,2]]");
}

Test(echo, malformed_event_closes_the_connection)
{
    connect_ok("/", "x1", NULL, "{}");
    const char *bad[] = { "{}", "[]", "[1,2]", "not json" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fgw_send_kind(&f, SIO_ENV_EVENT, "/", "x1", -1, bad[i]);
        struct sio_env *e = fgw_expect(&f, SIO_ENV_DISCONNECT_CMD);
        cr_assert_str_eq(f.topic, FGW_ID);
        cr_assert(fgw_str_eq(e->sid, "x1"));
        cr_assert(e->close_conn);
    }
}

Test(echo, disconnect_forgets_the_socket)
{
    connect_ok("/", "d1", NULL, "{}");
    struct sio_env ev;
    sio_env_init(&ev, SIO_ENV_DISCONNECT);
    ev.gw = S(FGW_ID);
    ev.nsp = S("/");
    ev.sid = S("d1");
    ev.reason = S("client disconnect");
    fgw_send(&f, &ev);
    cr_assert_not(fgw_recv(&f, 100));
    /* reconnecting the same sid works */
    connect_ok("/", "d1", NULL, "{}");
}

Test(echo, raw_messages_are_echoed)
{
    /* the gateway announces a raw session with CONNECT nsp "": no answer */
    fgw_send_kind(&f, SIO_ENV_CONNECT, "", "eng1", -1, NULL);
    cr_assert_not(fgw_recv(&f, 100));
    struct sio_env ev;
    sio_env_init(&ev, SIO_ENV_RAW);
    ev.gw = S(FGW_ID);
    ev.nsp = S("");
    ev.sid = S("eng1");
    ev.data = (struct sio_str){ "\x00\x01\x02", 3 };
    ev.binary = true;
    fgw_send(&f, &ev);
    struct sio_env *e = fgw_expect(&f, SIO_ENV_RAW_SEND);
    cr_assert_str_eq(f.topic, FGW_ID);
    cr_assert(fgw_str_eq(e->sid, "eng1"));
    cr_assert(e->binary);
    cr_assert_eq(e->data.len, 3);
    cr_assert_eq(memcmp(e->data.p, "\x00\x01\x02", 3), 0);
    ev.data = S("hello");
    ev.binary = false;
    fgw_send(&f, &ev);
    e = fgw_expect(&f, SIO_ENV_RAW_SEND);
    cr_assert_not(e->binary);
    cr_assert(fgw_str_eq(e->data, "hello"));
    fgw_send_kind(&f, SIO_ENV_DISCONNECT, "", "eng1", -1, NULL);
    cr_assert_not(fgw_recv(&f, 100));
}

/* ---- plugin loader ---- */

Test(loader, nonexistent_file)
{
    struct sio_loaded_plugin lp;
    char err[512];
    cr_assert_lt(sio__plugin_open("/nonexistent/x.so", &lp, err, sizeof err), 0);
    cr_assert(strncmp(err, "/nonexistent/x.so: cannot open: ", 32) == 0, "%s", err);
}

Test(loader, no_symbol)
{
    char *p = fgw_build_path("tests/unit/core/plugin-nosym.so");
    struct sio_loaded_plugin lp;
    char err[1024], want[1024];
    cr_assert_eq(sio__plugin_open(p, &lp, err, sizeof err), SIO_ERR_ABI);
    snprintf(want, sizeof want, "%s: no sio_plugin_v1 symbol (not a sio plugin?)", p);
    cr_assert_str_eq(err, want);
    free(p);
}

Test(loader, wrong_abi)
{
    char *p = fgw_build_path("tests/unit/core/plugin-badabi.so");
    struct sio_loaded_plugin lp;
    char err[1024], want[1024];
    cr_assert_eq(sio__plugin_open(p, &lp, err, sizeof err), SIO_ERR_ABI);
    snprintf(want, sizeof want, "%s: built for plugin ABI 2, this worker speaks 1", p);
    cr_assert_str_eq(err, want);
    free(p);
}

Test(loader, worker_new_reports_the_failing_plugin)
{
    void *zctx = zmq_ctx_new();
    char *echo = fgw_plugin_path("echo/echo.so");
    char *bad = fgw_build_path("tests/unit/core/plugin-badabi.so");
    const char *paths[] = { echo, bad };
    struct sio_worker_cfg wc = { .zmq_ctx = zctx, .hub_endpoint = "inproc://nohub",
                                 .plugin_paths = paths, .nplugins = 2, .threads = 2 };
    sio_worker *w = NULL;
    char err[1024];
    cr_assert_eq(sio_worker_new(&w, &wc, err, sizeof err), SIO_ERR_ABI);
    cr_assert_null(w);
    cr_assert(strstr(err, "plugin-badabi.so: built for plugin ABI 2"), "%s", err);
    wc.nplugins = 1;
    cr_assert_eq(sio_worker_new(&w, &wc, err, sizeof err), 0, "%s", err);
    sio_worker_destroy(&w);
    cr_assert_null(w);
    free(echo);
    free(bad);
    zmq_ctx_term(zctx);
}

/* ---- sio server command line ---- */

extern char **environ;

/* Run `sio server args...` with stdout/stderr to a file; returns the exit
 * status and the output in out. */
static int run_server(const char *const *args, char *out, size_t cap)
{
    char *sio = fgw_build_path("tools/sio");
    char tmpl[] = "/tmp/sio-test-XXXXXX";
    int fd = mkstemp(tmpl);
    cr_assert_geq(fd, 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    char *argv[32];
    int n = 0;
    argv[n++] = sio;
    argv[n++] = (char *)"server";
    for (; args[n - 2]; n++)
        argv[n] = (char *)args[n - 2];
    argv[n] = NULL;
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, sio, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    ssize_t r = pread(fd, out, cap - 1, 0);
    out[r > 0 ? r : 0] = '\0';
    close(fd);
    unlink(tmpl);
    free(sio);
    cr_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

Test(server, bad_flags_exit_2)
{
    char out[8192];
    char *echo = fgw_plugin_path("echo/echo.so");
    struct { const char *args[6]; const char *msg; } cases[] = {
        { { "--bogus", NULL }, "unknown option '--bogus'" },
        { { "--plugin", echo, "--port", "abc", NULL }, "bad --port 'abc'" },
        { { "--plugin", echo, "--port", "70000", NULL }, "bad --port" },
        { { "--plugin", echo, "--transports", "carrier-pigeon", NULL }, "bad --transports" },
        { { "--plugin", echo, "--workers", "0", NULL }, "bad --workers" },
        { { "--plugin", echo, "--log-level", "loud", NULL }, "bad --log-level" },
        { { "--port", "5000", NULL }, "at least one --plugin" },
        { { "--plugin", NULL }, "--plugin needs a value" },
        { { "--plugin", echo, "extra", NULL }, "unexpected argument 'extra'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(run_server(cases[i].args, out, sizeof out), 2, "case %zu: %s", i, out);
        cr_assert(strncmp(out, "sio server: ", 12) == 0, "case %zu: %s", i, out);
        cr_assert(strstr(out, cases[i].msg), "case %zu: %s", i, out);
        cr_assert(strstr(out, "\nusage: sio server"), "case %zu: usage follows: %s", i, out);
    }
    free(echo);
}

Test(server, missing_or_bad_plugin_exit_1)
{
    char out[8192];
    const char *a1[] = { "--plugin", "/nonexistent/x.so", "--port", "0", NULL };
    cr_assert_eq(run_server(a1, out, sizeof out), 1, "%s", out);
    cr_assert(strncmp(out, "sio server: /nonexistent/x.so: cannot open: ", 44) == 0, "%s", out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
    char *bad = fgw_build_path("tests/unit/core/plugin-badabi.so");
    const char *a2[] = { "--plugin", bad, "--port", "0", NULL };
    cr_assert_eq(run_server(a2, out, sizeof out), 1, "%s", out);
    cr_assert(strstr(out, "built for plugin ABI 2, this worker speaks 1"), "%s", out);
    free(bad);
}

Test(server, other_commands_are_unknown)
{
    char *sio = fgw_build_path("tools/sio");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' frobnicate >/dev/null 2>&1", sio);
    int st = system(cmd);
    cr_assert(WIFEXITED(st));
    cr_assert_eq(WEXITSTATUS(st), 2);
    free(sio);
}

Test(server, starts_prints_listening_and_stops_on_sigterm, .timeout = 20)
{
    char *sio = fgw_build_path("tools/sio");
    char *echo = fgw_plugin_path("echo/echo.so");
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_addclose(&fa, pfd[0]);
    char *argv[] = { sio, (char *)"server", (char *)"--plugin", echo, (char *)"--port", (char *)"0",
                     (char *)"--workers", (char *)"3", NULL };
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, sio, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    char line[256] = "";
    size_t n = 0;
    while (n < sizeof line - 1) {
        ssize_t r = read(pfd[0], line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(pfd[0]);
    cr_assert(strncmp(line, "listening on http://127.0.0.1:", 30) == 0, "got '%s'", line);
    cr_assert(strstr(line, "/socket.io/"), "got '%s'", line);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "killed by signal %d", WTERMSIG(st));
    cr_assert_eq(WEXITSTATUS(st), 0);
    free(sio);
    free(echo);
}

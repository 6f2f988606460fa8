/* opts.c: what the option parsing of every `sio` command shares (opts.h). */
#include "tools/opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sio/log.h>

void sio_opt_begin(int first)
{
    opterr = 0;
    optind = first;
}

__attribute__((format(printf, 3, 0)))
static int vfail(const char *cmd, sio_usage_fn usage, const char *fmt, va_list ap)
{
    fprintf(stderr, "sio %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    if (usage)
        usage(stderr);
    else
        fprintf(stderr, "(sio %s --help for usage)\n", cmd);
    return 2;
}

int sio_opt_fail(const char *cmd, sio_usage_fn usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vfail(cmd, usage, fmt, ap);
    va_end(ap);
    return r;
}

int sio_opt_getopt_fail(const char *cmd, sio_usage_fn usage, int c, char *const *argv)
{
    const char *a = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':')
        return sio_opt_fail(cmd, usage, "%s needs a value", a);
    return sio_opt_fail(cmd, usage, "unknown option '%s'", a);
}

bool sio_opt_num(const char *s, unsigned long long min, unsigned long long max,
                 unsigned long long *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

int sio_opt_level(const char *cmd, sio_usage_fn usage, const char *flag, const char *arg,
                  int *out)
{
    int l = sio_log_level_parse(arg);
    if (l < 0)
        return sio_opt_fail(cmd, usage, "bad %s '%s' (error|warn|info|debug|trace)", flag, arg);
    *out = l;
    return 0;
}

/* opts.h: what the option parsing of every `sio` command shares.
 *
 * Each command keeps its own getopt_long table and usage text; these
 * functions give them one way to fail (`sio CMD: message`, then the usage
 * or a pointer to --help, exit status 2), one number parser and one way to
 * read a log level.
 */
#ifndef SIO_TOOLS_OPTS_H
#define SIO_TOOLS_OPTS_H

#include <stdbool.h>
#include <stdio.h>

/* A command's usage printer. */
typedef void (*sio_usage_fn)(FILE *f);

/* Start getopt_long over argv[first...] (1 for a command's own argv) with
 * no messages of getopt's own: errors come back as ':' or '?'. */
void sio_opt_begin(int first);

/* Print "sio CMD: <message>" on stderr, then the usage (usage given) or a
 * pointer to `sio CMD --help`. Returns 2, the exit status for bad usage. */
__attribute__((format(printf, 3, 4)))
int sio_opt_fail(const char *cmd, sio_usage_fn usage, const char *fmt, ...);

/* getopt_long answered ':' (a value is missing) or anything else (unknown
 * option) for argv[optind - 1]: say which. Returns 2. */
int sio_opt_getopt_fail(const char *cmd, sio_usage_fn usage, int c, char *const *argv);

/* A decimal number in [min, max] (no sign, no trailing characters). */
bool sio_opt_num(const char *s, unsigned long long min, unsigned long long max,
                 unsigned long long *out);

/* A log level for flag (error|warn|info|debug|trace|none) into *out:
 * 0, or 2 after a message. */
int sio_opt_level(const char *cmd, sio_usage_fn usage, const char *flag, const char *arg,
                  int *out);

#endif

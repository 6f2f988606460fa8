/* config.h: `--config FILE` for `sio server` (tools/config.c).
 *
 * The file is one JSON object with one key per long flag, named as the flag
 * without the dashes (docs/SERVER.md, "Config file"). It is turned into
 * flags that go before the command line's, so a flag given on the command
 * line wins; for a repeatable flag, the command line's occurrences replace
 * the file's list.
 */
#ifndef SIO_TOOLS_CONFIG_H
#define SIO_TOOLS_CONFIG_H

#include <getopt.h>
#include <stdbool.h>

struct sio_config_spec {
    const char *cmd;                    /* for messages: "sio server" */
    const struct option *opts;          /* the command's getopt_long table */
    const char *const *repeatable;      /* NULL-terminated: keys taking an array */
    const char *const *maps;            /* of those, keys also taking an object {K: V} -> "K=V" */
    const char *const *lists;           /* NULL-terminated: keys whose array is joined with ',' */
    const char *const *excluded;        /* NULL-terminated: flags that are not keys (help, config) */
};

/* Scan argv for --config FILE (or --config=FILE). Without one, *argv_out =
 * NULL. With one, *argv_out / *argc_out is a new argv: argv[0], the file's
 * flags, then argv[1..] (it stays allocated for the process's life).
 * Returns 0, or 2 after printing "<cmd>: FILE: <what is wrong>" on stderr
 * (unreadable file, bad JSON, unknown key, wrong type). */
int sio_config_argv(const struct sio_config_spec *spec, int argc, char **argv,
                    int *argc_out, char ***argv_out);

/* Split a --static-file value "URL=FILE[:TYPE]" in place. TYPE is taken
 * from after the last ':' only when it is a media type ("type/subtype",
 * optional "; parameters"), so FILE may hold ':' when TYPE is given or
 * when what follows its last ':' is not a media type. False when URL does
 * not start with '/' or FILE is empty. */
bool sio_config_split_static_file(char *arg, const char **url, const char **file,
                                  const char **ctype);

#endif

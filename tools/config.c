/* config.c: `--config FILE` (see config.h). Reads the JSON with jansson
 * and produces "--name" / "--name=value" arguments from its keys:
 *
 *   true                    --name   (false: --no-name, or --name for a
 *                                     "no-name" key, when that flag exists)
 *   "text" or 123           --name=text
 *   [a, b]                  repeatable: --name=a --name=b; list: --name=a,b
 *   {"K": "V"}              maps: --name=K=V
 *   {"K": {"file": F, "content-type": T}}   maps: --name=K=F:T
 */
#include "tools/config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

struct args {
    char **v;
    int n, cap;
};

/* The argv handed out: kept for the process's life (and reachable). */
static char **volatile kept;    /* volatile: the store is not optimised out */

static bool in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static const struct option *find_opt(const struct option *opts, const char *name, size_t len,
                                     bool prefix)
{
    const struct option *hit = NULL;
    for (const struct option *o = opts; o->name; o++) {
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
        if (prefix && strncmp(o->name, name, len) == 0)
            hit = hit ? (const struct option *)-1 : o;  /* ambiguous prefix */
    }
    return hit == (const struct option *)-1 ? NULL : hit;
}

__attribute__((format(printf, 3, 4)))
static int fail(const struct sio_config_spec *spec, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: %s: ", spec->cmd, path);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

static int push(struct args *a, char *s)
{
    if (!s)
        return -1;
    if (a->n + 1 >= a->cap) {
        int cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) {
            free(s);
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
    return 0;
}

__attribute__((format(printf, 2, 3)))
static int pushf(struct args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    return push(a, r < 0 ? NULL : s);
}

/* A scalar value as flag text: a string, or an integer. */
static bool scalar_text(json_t *v, char *buf, size_t len, const char **out)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return true;
    }
    if (json_is_integer(v)) {
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = buf;
        return true;
    }
    return false;
}

/* One key. Returns 0, 2 (reported) or -1 (out of memory). */
static int one_key(const struct sio_config_spec *spec, const char *path, const char *key,
                   json_t *v, const bool *given, struct args *a)
{
    const struct option *o = find_opt(spec->opts, key, strlen(key), false);
    if (!o || in_list(spec->excluded, key))
        return fail(spec, path, "key '%s' is unknown", key);
    char num[32];
    const char *text;
    if (o->has_arg == no_argument) {
        if (!json_is_boolean(v))
            return fail(spec, path, "key '%s' must be true or false", key);
        if (json_is_true(v))
            return pushf(a, "--%s", key);
        char neg[128];
        snprintf(neg, sizeof neg, "no-%s", key);
        if (find_opt(spec->opts, neg, strlen(neg), false))
            return pushf(a, "--%s", neg);
        if (strncmp(key, "no-", 3) == 0 && find_opt(spec->opts, key + 3, strlen(key + 3), false))
            return pushf(a, "--%s", key + 3);
        return 0;   /* false = the default */
    }
    bool rep = in_list(spec->repeatable, key), map = rep && in_list(spec->maps, key);
    bool list = in_list(spec->lists, key);
    if (rep && given[o - spec->opts])
        return 0;   /* the command line's occurrences replace the file's */
    if (scalar_text(v, num, sizeof num, &text))
        return pushf(a, "--%s=%s", key, text);
    if (json_is_array(v) && (rep || list)) {
        size_t i;
        json_t *e;
        char *joined = NULL;
        json_array_foreach(v, i, e) {
            if (!(list ? json_is_string(e) : scalar_text(e, num, sizeof num, &text))) {
                free(joined);
                return fail(spec, path, "key '%s': item %zu must be a string%s", key, i,
                            list ? "" : " or a number");
            }
            if (!list) {
                if (pushf(a, "--%s=%s", key, text) < 0)
                    return -1;
                continue;
            }
            char *j = NULL;
            if (asprintf(&j, "%s%s%s", joined ? joined : "", joined ? "," : "",
                         json_string_value(e)) < 0) {
                free(joined);
                return -1;
            }
            free(joined);
            joined = j;
        }
        if (list) {
            int r = pushf(a, "--%s=%s", key, joined ? joined : "");
            free(joined);
            return r;
        }
        return 0;
    }
    if (json_is_object(v) && map) {
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e) {
            if (json_is_string(e)) {
                if (pushf(a, "--%s=%s=%s", key, k, json_string_value(e)) < 0)
                    return -1;
                continue;
            }
            json_t *file = json_is_object(e) ? json_object_get(e, "file") : NULL;
            json_t *ct = json_is_object(e) ? json_object_get(e, "content-type") : NULL;
            if (!json_is_string(file) || (ct && !json_is_string(ct)) ||
                json_object_size(e) != 1u + (ct != NULL))
                return fail(spec, path, "key '%s': '%s' must be a string or "
                            "{\"file\": FILE, \"content-type\": TYPE}", key, k);
            if (pushf(a, "--%s=%s=%s%s%s", key, k, json_string_value(file), ct ? ":" : "",
                      ct ? json_string_value(ct) : "") < 0)
                return -1;
        }
        return 0;
    }
    return fail(spec, path, "key '%s' must be a string or a number%s", key,
                map ? ", an array of them or an object" : rep ? " or an array of them"
                : list ? " or an array of strings" : "");
}

int sio_config_argv(const struct sio_config_spec *spec, int argc, char **argv,
                    int *argc_out, char ***argv_out)
{
    *argv_out = NULL;
    *argc_out = argc;
    size_t nopts = 0;
    while (spec->opts[nopts].name)
        nopts++;
    bool *given = calloc(nopts + 1, sizeof *given);
    if (!given)
        return fail(spec, "--config", "out of memory");
    const char *path = NULL;
    /* what the command line gives; getopt_long reports its errors later */
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--") == 0)
            break;
        if (strncmp(s, "--", 2) != 0)
            continue;
        s += 2;
        size_t len = strcspn(s, "=");
        const struct option *o = find_opt(spec->opts, s, len, true);
        if (!o)
            continue;
        const char *val = s[len] == '=' ? s + len + 1 : NULL;
        if (o->has_arg == required_argument && !val && i + 1 < argc)
            val = argv[++i];
        given[o - spec->opts] = true;
        if (strcmp(o->name, "config") == 0)
            path = val;
    }
    if (!path) {
        free(given);
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!root) {
        rc = jerr.line > 0 ? fail(spec, path, "line %d column %d: %s", jerr.line, jerr.column,
                                  jerr.text)
                           : fail(spec, path, "%s", jerr.text);
        free(given);
        return rc;
    }
    struct args a = { 0 };
    if (!json_is_object(root)) {
        rc = fail(spec, path, "the top level must be an object of flags");
        goto out;
    }
    if (push(&a, strdup(argv[0])) < 0)
        goto nomem;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        int r = one_key(spec, path, key, v, given, &a);
        if (r < 0)
            goto nomem;
        if (r > 0) {
            rc = r;
            goto out;
        }
    }
    for (int i = 1; i < argc; i++)
        if (push(&a, strdup(argv[i])) < 0)
            goto nomem;
    json_decref(root);
    free(given);
    kept = a.v;
    *argv_out = a.v;
    *argc_out = a.n;
    return 0;
nomem:
    rc = fail(spec, path, "out of memory");
out:
    for (int i = 0; i < a.n; i++)
        free(a.v[i]);
    free(a.v);
    json_decref(root);
    free(given);
    return rc;
}

static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$&^_.+-", c));
}

/* "type/subtype" with token characters, then nothing or ";" and printable text */
static bool media_type(const char *s)
{
    size_t a = 0;
    while (token_char(s[a]))
        a++;
    if (!a || s[a] != '/')
        return false;
    size_t b = a + 1;
    while (token_char(s[b]))
        b++;
    if (b == a + 1)
        return false;
    s += b;
    s += strspn(s, " ");
    if (!*s)
        return true;
    if (*s != ';')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

bool sio_config_split_static_file(char *arg, const char **url, const char **file,
                                  const char **ctype)
{
    char *eq = strchr(arg, '=');
    if (arg[0] != '/' || !eq || !eq[1])
        return false;
    *eq = 0;
    *url = arg;
    *file = eq + 1;
    *ctype = NULL;
    char *colon = strrchr(eq + 1, ':');
    if (colon && colon > eq + 1 && media_type(colon + 1)) {
        *colon = 0;
        *ctype = colon + 1;
    }
    return true;
}

/* log.c: leveled, topic-based logging to stderr (see <sio/log.h>).
 *
 * Topics are registered lazily the first time they are checked, so that
 * sio_log_set_topic_level() can reach topics of plugins loaded later.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sio/sio.h>

/* Not exported (issue 18): a program that has libsio's code in itself
 * and also loads libsio.so would otherwise have two definitions of one
 * exported variable; sio_log_set_level() is the interface. */
static int sio_log_global_level = SIO_LOG_WARN;

#define MAX_RULES 32
static struct { char prefix[64]; int level; } rules[MAX_RULES];
static int nrules;
static pthread_mutex_t rules_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned rules_gen = 1;    /* bumped on change; topics cache by gen */

SIO_EXPORT int sio_log_set_level(enum sio_log_level lvl)
{
    int old = sio_log_global_level;
    sio_log_global_level = (int)lvl;
    return old;
}

SIO_EXPORT int sio_log_level_parse(const char *s)
{
    static const char *const names[] = { "none", "error", "warn", "info", "debug", "trace" };
    for (int i = 0; i < 6; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return SIO_LOG_WARN;
    return -1;
}

SIO_EXPORT void sio_log_set_topic_level(const char *prefix, enum sio_log_level lvl)
{
    pthread_mutex_lock(&rules_lock);
    if (nrules < MAX_RULES) {
        snprintf(rules[nrules].prefix, sizeof rules[nrules].prefix, "%s", prefix);
        rules[nrules].level = (int)lvl;
        nrules++;
        __atomic_add_fetch(&rules_gen, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&rules_lock);
}

static int topic_level(struct sio_log_topic *t)
{
    if (__atomic_load_n(&nrules, __ATOMIC_ACQUIRE) == 0)
        return sio_log_global_level;
    int lvl = -1;
    size_t best = 0;
    pthread_mutex_lock(&rules_lock);
    for (int i = 0; i < nrules; i++) {
        size_t n = strlen(rules[i].prefix);
        if (strncmp(t->name, rules[i].prefix, n) == 0 && n >= best) {
            best = n;
            lvl = rules[i].level;
        }
    }
    pthread_mutex_unlock(&rules_lock);
    return lvl >= 0 ? lvl : sio_log_global_level;
}

SIO_EXPORT bool sio_log_enabled(struct sio_log_topic *t, enum sio_log_level lvl)
{
    int l = t->level >= 0 ? t->level : topic_level(t);
    return (int)lvl <= l;
}

SIO_EXPORT void sio_log_write(struct sio_log_topic *t, enum sio_log_level lvl, const char *fmt, ...)
{
    static const char *const tags[] = { "-", "E", "W", "I", "D", "T" };
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %s %s: ",
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                     tags[lvl <= SIO_LOG_TRACE ? lvl : 0], t->name);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

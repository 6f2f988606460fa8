/* log.h: leveled, topic-based logging to stderr.
 *
 *   SIO_LOG_TOPIC_STATIC(topic, "edge.eio");   // one topic per file
 *   sio_log_debug(topic, "%p: packet type=%c", conn, t);
 *
 * The macros test the level before evaluating their arguments. Thread-safe:
 * each line is written with one write(2).
 */
#ifndef SIO_LOG_H
#define SIO_LOG_H

#include <sio/export.h>

#include <stdarg.h>
#include <stdbool.h>

enum sio_log_level {
    SIO_LOG_NONE = 0, SIO_LOG_ERROR, SIO_LOG_WARN, SIO_LOG_INFO,
    SIO_LOG_DEBUG, SIO_LOG_TRACE,
};

struct sio_log_topic {
    const char *name;
    int level;          /* -1: use the global level */
};

#define SIO_LOG_TOPIC_STATIC(var, nm) \
    static struct sio_log_topic var##_storage = { .name = (nm), .level = -1 }; \
    static struct sio_log_topic *const var = &var##_storage

/* Set the global level; returns the previous one. */
SIO_EXPORT int sio_log_set_level(enum sio_log_level lvl);
/* Parse "error|warn|info|debug|trace|none" (case-insensitive); -1 when unknown. */
SIO_EXPORT int sio_log_level_parse(const char *s);
/* Set the level of every topic whose name starts with prefix (e.g. "edge.eio"). */
SIO_EXPORT void sio_log_set_topic_level(const char *prefix, enum sio_log_level lvl);

SIO_EXPORT __attribute__((format(printf, 3, 4)))
void sio_log_write(struct sio_log_topic *topic, enum sio_log_level lvl, const char *fmt, ...);

SIO_EXPORT
bool sio_log_enabled(struct sio_log_topic *topic, enum sio_log_level lvl);

#define sio_log_at(t, lvl, ...) \
    do { if (sio_log_enabled((t), (lvl))) sio_log_write((t), (lvl), __VA_ARGS__); } while (0)
#define sio_log_error(t, ...) sio_log_at(t, SIO_LOG_ERROR, __VA_ARGS__)
#define sio_log_warn(t, ...)  sio_log_at(t, SIO_LOG_WARN, __VA_ARGS__)
#define sio_log_info(t, ...)  sio_log_at(t, SIO_LOG_INFO, __VA_ARGS__)
#define sio_log_debug(t, ...) sio_log_at(t, SIO_LOG_DEBUG, __VA_ARGS__)
#define sio_log_trace(t, ...) sio_log_at(t, SIO_LOG_TRACE, __VA_ARGS__)

#endif

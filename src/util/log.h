/* Logging: levels, text or JSON lines, to stderr.
 *
 * Every line is formatted into a thread-local buffer and written with one
 * write(2), so lines from different threads never interleave. Safe to call
 * from any thread; not async-signal-safe. */
#ifndef CSOCKS_LOG_H
#define CSOCKS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOGL_TRACE = 0,
	LOGL_DEBUG = 1,
	LOGL_INFO = 2,
	LOGL_WARN = 3,
	LOGL_ERROR = 4,
	LOGL_OFF = 5,
};

enum log_format {
	LOGF_TEXT = 0, /* "2026-11-25T12:00:00.123Z INFO message key=value" */
	LOGF_JSON = 1, /* {"ts":"...","level":"info","msg":"...","key":"value"} */
};

/* A key/value attached to a line. Exactly one of str / num is used:
 * str != NULL means a string, otherwise num. */
struct log_field {
	const char *key;
	const char *str;
	int64_t num;
};

static inline struct log_field log_str(const char *key, const char *v)
{
	return (struct log_field){.key = key, .str = v ? v : "-"};
}
static inline struct log_field log_num(const char *key, int64_t v)
{
	return (struct log_field){.key = key, .str = NULL, .num = v};
}
#define LOG_STR(k, v) log_str((k), (v))
#define LOG_NUM(k, v) log_num((k), (int64_t)(v))

void log_setup(enum log_level level, enum log_format format);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* Redirect output (tests). fd must stay open; default 2. */
void log_set_fd(int fd);

/* "trace".."error", "off"; also "warning". Returns 0, or -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
/* "pretty"/"text"/"compact" -> TEXT, "json" -> JSON. 0 or -1. */
int log_format_parse(const char *s, enum log_format *out);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A message with structured fields (access log, decisions). */
void log_fields(enum log_level level, const char *msg, const struct log_field *f, size_t n);

#endif

#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/strbuf.h"

#define LOG_LINE_MAX 4096

static _Atomic int log_level_cur = LOGL_INFO;
static _Atomic int log_format_cur = LOGF_TEXT;
static _Atomic int log_fd = 2;

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "off"};
static const char *const level_upper[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "OFF"};

void log_setup(enum log_level level, enum log_format format)
{
	atomic_store(&log_level_cur, (int)level);
	atomic_store(&log_format_cur, (int)format);
}

void log_set_level(enum log_level level)
{
	atomic_store(&log_level_cur, (int)level);
}
bool log_enabled(enum log_level level)
{
	return (int)level >= atomic_load(&log_level_cur);
}
void log_set_fd(int fd)
{
	atomic_store(&log_fd, fd);
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOGL_OFF; i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOGL_WARN;
		return 0;
	}
	return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
	if (!strcasecmp(s, "pretty") || !strcasecmp(s, "text") || !strcasecmp(s, "compact") ||
	    !strcasecmp(s, "full")) {
		*out = LOGF_TEXT;
		return 0;
	}
	if (!strcasecmp(s, "json")) {
		*out = LOGF_JSON;
		return 0;
	}
	return -1;
}

/* JSON string body escaping (quotes not included). */
static void lb_json_str(struct strbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			strbuf_add(b, e, 2);
		} else if (c == '\n') {
			strbuf_puts(b, "\\n");
		} else if (c == '\t') {
			strbuf_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			strbuf_printf(b, "\\u%04x", c);
		} else {
			strbuf_add(b, (const char *)&c, 1);
		}
	}
}

/* Text values with spaces, quotes or control bytes are quoted so that a
 * line always splits back into the same fields. */
static void lb_text_val(struct strbuf *b, const char *s)
{
	bool plain = *s != '\0';
	for (const char *q = s; *q; q++) {
		unsigned char c = (unsigned char)*q;
		if (c <= ' ' || c == '"' || c == '=' || c == 0x7f)
			plain = false;
	}
	if (plain) {
		strbuf_puts(b, s);
		return;
	}
	strbuf_add(b, "\"", 1);
	lb_json_str(b, s, strlen(s));
	strbuf_add(b, "\"", 1);
}

static void lb_timestamp(struct strbuf *b)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strbuf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static void lb_json_line(struct strbuf *b, enum log_level level, const char *msg, size_t msglen,
                         const struct log_field *f, size_t n)
{
	strbuf_puts(b, "{\"ts\":\"");
	lb_timestamp(b);
	strbuf_printf(b, "\",\"level\":\"%s\",\"msg\":\"", level_names[level]);
	lb_json_str(b, msg, msglen);
	strbuf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		strbuf_puts(b, ",\"");
		lb_json_str(b, f[i].key, strlen(f[i].key));
		strbuf_puts(b, "\":");
		if (f[i].str) {
			strbuf_add(b, "\"", 1);
			lb_json_str(b, f[i].str, strlen(f[i].str));
			strbuf_add(b, "\"", 1);
		} else {
			strbuf_printf(b, "%lld", (long long)f[i].num);
		}
	}
	strbuf_puts(b, "}");
}

static void log_emit(enum log_level level, const char *msg, const struct log_field *f, size_t n)
{
	static __thread char line[LOG_LINE_MAX];
	struct strbuf b; /* one byte kept for the newline */
	strbuf_init_fixed(&b, line, sizeof(line) - 1);
	bool json = atomic_load(&log_format_cur) == LOGF_JSON;

	if (json) {
		lb_json_line(&b, level, msg, strlen(msg), f, n);
		/* A cut line would be invalid JSON: say so in a shorter one. */
		if (strbuf_failed(&b)) {
			strbuf_init_fixed(&b, line, sizeof(line) - 1);
			lb_json_line(&b, level, msg, strlen(msg) > 512 ? 512 : strlen(msg), NULL,
			             0);
			b.len--; /* reopen the object */
			strbuf_puts(&b, ",\"truncated\":true}");
		}
	} else {
		lb_timestamp(&b);
		strbuf_printf(&b, " %-5s %s", level_upper[level], msg);
		for (size_t i = 0; i < n; i++) {
			strbuf_printf(&b, " %s=", f[i].key);
			if (f[i].str)
				lb_text_val(&b, f[i].str);
			else
				strbuf_printf(&b, "%lld", (long long)f[i].num);
		}
	}
	b.p[b.len++] = '\n';

	int fd = atomic_load(&log_fd);
	size_t off = 0;
	while (off < b.len) {
		ssize_t w = write(fd, b.p + off, b.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(level, msg, NULL, 0);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

#define LOG_LEVEL_FN(name, lvl)                                                                    \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_vmsg(lvl, fmt, ap);                                                            \
		va_end(ap);                                                                        \
	}
LOG_LEVEL_FN(log_debug, LOGL_DEBUG)
LOG_LEVEL_FN(log_info, LOGL_INFO)
LOG_LEVEL_FN(log_warn, LOGL_WARN)
LOG_LEVEL_FN(log_error, LOGL_ERROR)

void log_fields(enum log_level level, const char *msg, const struct log_field *f, size_t n)
{
	if (!log_enabled(level))
		return;
	log_emit(level, msg, f, n);
}

/* The telemetry event log: a bounded in-memory ring of notable operational
 * events (reloads, login lockouts, errors) that GET /api/telemetry/events
 * serves in RustSocks' shape. Any thread may record; recording is a short
 * mutex-held copy, never on a per-byte or per-connection hot path.
 *
 * telemetry_configure() sets the bounds (telemetry.max_events,
 * telemetry.retention_hours) and the switch (telemetry.enabled); before it
 * is called, or while disabled, telemetry_record() does nothing. */
#ifndef CSOCKS_OBS_TELEMETRY_H
#define CSOCKS_OBS_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

enum telemetry_severity {
	TELEMETRY_INFO = 0,
	TELEMETRY_WARNING = 1,
	TELEMETRY_ERROR = 2,
};

#define TELEMETRY_CATEGORY_MAX 32
#define TELEMETRY_MESSAGE_MAX  256

struct telemetry_event {
	int64_t time_us; /* wall clock, microseconds since the epoch */
	enum telemetry_severity severity;
	char category[TELEMETRY_CATEGORY_MAX];
	char message[TELEMETRY_MESSAGE_MAX];
};

/* (Re)size the ring and set the switch. Keeps the newest events that fit.
 * max_events 0 is taken as 1. 0, or -1 with errno (ENOMEM). */
int telemetry_configure(int enabled, uint32_t max_events, uint32_t retention_hours);

/* Append one event (message formatted printf-style, truncated to fit);
 * drops the oldest when full and those older than the retention. */
void telemetry_record(enum telemetry_severity sev, const char *category, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A copy of the retained events, oldest first, recorded at or after
 * since_us (0 = all). *out is malloc'd (free it); *n its length. 0, or -1
 * with errno. */
int telemetry_snapshot(int64_t since_us, struct telemetry_event **out, size_t *n);

/* "info", "warning", "error"; parse returns -1 for anything else. */
const char *telemetry_severity_name(enum telemetry_severity s);
int telemetry_severity_parse(const char *s, enum telemetry_severity *out);

/* Drop every event and the configuration (tests, shutdown). */
void telemetry_reset(void);

#endif

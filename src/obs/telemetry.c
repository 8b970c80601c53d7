/* The telemetry ring (see telemetry.h). */
#include "obs/telemetry.h"

#include "util/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t tm_mu = PTHREAD_MUTEX_INITIALIZER;
static struct telemetry_event *tm_ring; /* capacity tm_cap */
static size_t tm_cap, tm_head, tm_len;  /* head = index of the oldest */
static bool tm_enabled;
static int64_t tm_max_age_us;

static void drop_expired_locked(int64_t now)
{
	while (tm_len && tm_max_age_us > 0 && tm_ring[tm_head].time_us < now - tm_max_age_us) {
		tm_head = (tm_head + 1) % tm_cap;
		tm_len--;
	}
}

int telemetry_configure(int enabled, uint32_t max_events, uint32_t retention_hours)
{
	size_t cap = max_events ? max_events : 1;
	struct telemetry_event *ring = calloc(cap, sizeof(*ring));
	if (!ring)
		return -1;
	pthread_mutex_lock(&tm_mu);
	size_t keep = tm_len < cap ? tm_len : cap, n = 0;
	for (size_t i = tm_len - keep; i < tm_len; i++)
		ring[n++] = tm_ring[(tm_head + i) % tm_cap];
	free(tm_ring);
	tm_ring = ring;
	tm_cap = cap;
	tm_head = 0;
	tm_len = n;
	tm_enabled = enabled != 0;
	tm_max_age_us = (int64_t)retention_hours * 3600 * 1000000;
	pthread_mutex_unlock(&tm_mu);
	return 0;
}

void telemetry_record(enum telemetry_severity sev, const char *category, const char *fmt, ...)
{
	struct telemetry_event ev;
	va_list ap;
	ev.time_us = time_wall_us();
	ev.severity = sev;
	snprintf(ev.category, sizeof(ev.category), "%s", category ? category : "");
	va_start(ap, fmt);
	vsnprintf(ev.message, sizeof(ev.message), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&tm_mu);
	if (tm_enabled && tm_cap) {
		drop_expired_locked(ev.time_us);
		if (tm_len == tm_cap) {
			tm_head = (tm_head + 1) % tm_cap;
			tm_len--;
		}
		tm_ring[(tm_head + tm_len) % tm_cap] = ev;
		tm_len++;
	}
	pthread_mutex_unlock(&tm_mu);
}

int telemetry_snapshot(int64_t since_us, struct telemetry_event **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&tm_mu);
	drop_expired_locked(time_wall_us());
	struct telemetry_event *v = tm_len ? malloc(tm_len * sizeof(*v)) : NULL;
	if (tm_len && !v) {
		pthread_mutex_unlock(&tm_mu);
		errno = ENOMEM;
		return -1;
	}
	size_t k = 0;
	for (size_t i = 0; i < tm_len; i++) {
		const struct telemetry_event *e = &tm_ring[(tm_head + i) % tm_cap];
		if (e->time_us >= since_us)
			v[k++] = *e;
	}
	pthread_mutex_unlock(&tm_mu);
	*out = v;
	*n = k;
	return 0;
}

const char *telemetry_severity_name(enum telemetry_severity s)
{
	switch (s) {
	case TELEMETRY_WARNING:
		return "warning";
	case TELEMETRY_ERROR:
		return "error";
	default:
		return "info";
	}
}

int telemetry_severity_parse(const char *s, enum telemetry_severity *out)
{
	static const char *const names[] = {"info", "warning", "error"};
	for (int i = 0; i < 3; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum telemetry_severity)i;
			return 0;
		}
	}
	return -1;
}

void telemetry_reset(void)
{
	pthread_mutex_lock(&tm_mu);
	free(tm_ring);
	tm_ring = NULL;
	tm_cap = tm_head = tm_len = 0;
	tm_enabled = false;
	tm_max_age_us = 0;
	pthread_mutex_unlock(&tm_mu);
}

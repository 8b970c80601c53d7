#include "session/session_types.h"

#include "util/strutil.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char *const status_names[SESSION_STATUS_COUNT] = {
    [SESSION_ACTIVE] = "active",
    [SESSION_CLOSED] = "closed",
    [SESSION_FAILED] = "failed",
    [SESSION_REJECTED_BY_ACL] = "rejected_by_acl",
};

const char *session_status_name(enum session_status s)
{
	return (unsigned)s < SESSION_STATUS_COUNT ? status_names[s] : "unknown";
}

int session_status_parse(const char *s, enum session_status *out)
{
	for (int i = 0; s && i < SESSION_STATUS_COUNT; i++) {
		if (strcasecmp(s, status_names[i]) == 0) {
			*out = (enum session_status)i;
			return 0;
		}
	}
	return -1;
}

const char *session_protocol_name(enum session_protocol p)
{
	return p == SESSION_PROTO_UDP ? "udp" : "tcp";
}

int session_protocol_parse(const char *s, enum session_protocol *out)
{
	if (s && strcasecmp(s, "tcp") == 0)
		*out = SESSION_PROTO_TCP;
	else if (s && strcasecmp(s, "udp") == 0)
		*out = SESSION_PROTO_UDP;
	else
		return -1;
	return 0;
}

/* ---- Session IDs (UUIDv7) ---- */

static void random_fill(uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (got == len)
		return;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	while (fd >= 0 && got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
		if (n > 0)
			got += (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	CSOCKS_BUG_ON(got != len); /* no entropy source at all */
}

/* The random part of IDs comes from a per-thread pool filled by one
 * getrandom() per 32 IDs instead of one per ID: a worker opens a session
 * per connection. The bytes are the kernel CSPRNG's all the same; each is
 * handed out once and wiped from the pool. (The one fork, privsep's PAM
 * monitor at start, makes no IDs, so no child reuses a parent's pool.) */
#define ID_RANDOM_BYTES 10
#define ID_POOL_IDS     32

static void id_random(uint8_t out[ID_RANDOM_BYTES])
{
	static __thread uint8_t pool[ID_RANDOM_BYTES * ID_POOL_IDS];
	static __thread size_t used = sizeof(pool);
	if (used == sizeof(pool)) {
		random_fill(pool, sizeof(pool));
		used = 0;
	}
	memcpy(out, pool + used, ID_RANDOM_BYTES);
	explicit_bzero(pool + used, ID_RANDOM_BYTES);
	used += ID_RANDOM_BYTES;
}

/* UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then 74 random bits. IDs
 * made later sort later, so the sessions table's primary-key index and the
 * indexes that end in session_id grow at their right edge instead of taking a
 * random page per insert: store_bench doubles its rows/s against v4 IDs. The
 * time prefix tells nothing that start_time does not already. */
void session_id_generate(char out[SESSION_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[16];
	uint64_t ms = (uint64_t)(time_wall_us() / 1000);
	for (int i = 0; i < 6; i++)
		b[i] = (uint8_t)(ms >> (40 - 8 * i));
	id_random(b + 6);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x70); /* version 7 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[b[i] >> 4];
		*p++ = hex[b[i] & 0x0f];
	}
	*p = '\0';
}

/* ---- Records ---- */

static char *dup_into(char **cursor, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *d = *cursor;
	memcpy(d, s, n);
	*cursor += n;
	return d;
}

struct session_record *session_record_dup(const struct session_record *r)
{
	const char *strs[] = {r->user,         r->dest_ip, r->close_reason, r->acl_rule_matched,
	                      r->acl_decision, r->node};
	size_t extra = 0;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		extra += strs[i] ? strlen(strs[i]) + 1 : 0;
	struct session_record *d = xmalloc(sizeof(*d) + extra);
	*d = *r;
	char *cur = (char *)(d + 1);
	d->user = dup_into(&cur, r->user);
	d->dest_ip = dup_into(&cur, r->dest_ip);
	d->close_reason = dup_into(&cur, r->close_reason);
	d->acl_rule_matched = dup_into(&cur, r->acl_rule_matched);
	d->acl_decision = dup_into(&cur, r->acl_decision);
	d->node = dup_into(&cur, r->node);
	return d;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

size_t session_text_sanitize(char *s)
{
	size_t bad = 0;
	unsigned char *p = (unsigned char *)s;
	while (p && *p) {
		size_t n = utf8_seq(p);
		if (n == 0) {
			*p++ = '?';
			bad++;
		} else {
			p += n;
		}
	}
	return bad;
}

struct session_record *session_record_dup_clean(const struct session_record *r)
{
	struct session_record *d = session_record_dup(r);
	/* the strings live in d's own allocation, so they are ours to edit */
	char *strs[] = {(char *)d->user, (char *)d->dest_ip, (char *)d->close_reason,
	                (char *)d->acl_rule_matched, (char *)d->acl_decision};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		session_text_sanitize(strs[i]);
	d->session_id[SESSION_ID_LEN] = '\0';
	if (!d->session_id[0]) /* a row needs a key: never let two share "" */
		session_id_generate(d->session_id);
	d->source_ip[SESSION_IP_MAX - 1] = '\0';
	return d;
}

/* ---- Time ---- */

/* v (>= 0, < 10^n) as exactly n decimal digits at p; returns p + n. */
static char *put_digits(char *p, int v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

void session_time_format(int64_t wall_us, char *buf, size_t size)
{
	int64_t secs = wall_us / 1000000, frac = wall_us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs--;
	}
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	int year = tm.tm_year + 1900;
	if (size < sizeof("YYYY-MM-DDTHH:MM:SS.ffffff+00:00") || year < 0 || year > 9999) {
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00", year,
		         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)frac);
		return;
	}
	/* The same text without vfprintf: the session writer formats two of
	 * these per row, and snprintf was 3% of its time. */
	char *p = buf;
	p = put_digits(p, year, 4);
	*p++ = '-';
	p = put_digits(p, tm.tm_mon + 1, 2);
	*p++ = '-';
	p = put_digits(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, tm.tm_sec, 2);
	*p++ = '.';
	p = put_digits(p, (int)frac, 6);
	memcpy(p, "+00:00", sizeof("+00:00"));
}

/* Exactly n decimal digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
	int x = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

int session_time_parse(const char *s, int64_t *wall_us)
{
	int Y, M, D, h, m, sec;
	const char *p = s;
	if (!s || digits(&p, 4, &Y) || expect(&p, '-') || digits(&p, 2, &M) || expect(&p, '-') ||
	    digits(&p, 2, &D))
		return -1;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -1;
	p++;
	if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &m) || expect(&p, ':') ||
	    digits(&p, 2, &sec))
		return -1;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	int64_t us = 0;
	if (*p == '.') {
		p++;
		int nd = 0;
		int64_t scale = 100000;
		while (isdigit((unsigned char)*p)) {
			if (nd < 6) {
				us += (*p - '0') * scale;
				scale /= 10;
			}
			nd++;
			p++;
		}
		if (nd == 0)
			return -1;
	}
	int off_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om;
		p++;
		if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om))
			return -1;
		off_min = sign * (oh * 60 + om);
	}
	if (*p != '\0')
		return -1;
	struct tm tm = {.tm_year = Y - 1900,
	                .tm_mon = M - 1,
	                .tm_mday = D,
	                .tm_hour = h,
	                .tm_min = m,
	                .tm_sec = sec};
	time_t t = timegm(&tm);
	*wall_us = ((int64_t)t - (int64_t)off_min * 60) * 1000000 + us;
	return 0;
}

/* ---- Queries ---- */

static const struct {
	const char *name;
	enum session_sort sort;
} sort_names[] = {
    {"start_time", SESSION_SORT_START_TIME},
    {"end_time", SESSION_SORT_END_TIME},
    {"duration", SESSION_SORT_DURATION},
    {"duration_secs", SESSION_SORT_DURATION},
    {"duration_seconds", SESSION_SORT_DURATION},
    {"bytes_sent", SESSION_SORT_BYTES_SENT},
    {"bytes_received", SESSION_SORT_BYTES_RECEIVED},
    {"user", SESSION_SORT_USER},
    {"source_ip", SESSION_SORT_SOURCE_IP},
    {"dest_ip", SESSION_SORT_DEST_IP},
    {"dest_port", SESSION_SORT_DEST_PORT},
    {"protocol", SESSION_SORT_PROTOCOL},
    {"status", SESSION_SORT_STATUS},
    {"acl_decision", SESSION_SORT_ACL_DECISION},
};

int session_sort_parse(const char *name, enum session_sort *out)
{
	for (size_t i = 0; name && i < sizeof(sort_names) / sizeof(sort_names[0]); i++) {
		if (strcmp(name, sort_names[i].name) == 0) {
			*out = sort_names[i].sort;
			return 0;
		}
	}
	return -1;
}

void session_page_free(struct session_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->items[i]);
	free(p->items);
	p->items = NULL;
	p->n = 0;
}

void session_stats_free(struct session_stats *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_top_users; i++)
		free(s->top_users[i].user);
	for (size_t i = 0; i < s->n_top_destinations; i++)
		free(s->top_destinations[i].dest_ip);
	s->n_top_users = s->n_top_destinations = 0;
}

/* Prometheus text exposition writer and collector list (see prom.h). */
#include "obs/prom.h"

#include "util/log.h"
#include "util/strutil.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_MAX_FAMILIES 256

struct prom_writer {
	char *buf;
	size_t len, cap;
	char *family; /* current family name, NULL = none / dropped */
	enum prom_type type;
	char *seen[PROM_MAX_FAMILIES]; /* names written this scrape */
	size_t n_seen;
};

struct prom_writer *prom_writer_new(void)
{
	struct prom_writer *w = xcalloc(1, sizeof(*w));
	w->cap = 4096;
	w->buf = xmalloc(w->cap);
	w->buf[0] = '\0';
	return w;
}

void prom_writer_free(struct prom_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_seen; i++)
		free(w->seen[i]);
	free(w->family);
	free(w->buf);
	free(w);
}

const char *prom_writer_text(const struct prom_writer *w, size_t *len)
{
	if (len)
		*len = w->len;
	return w->buf;
}

char *prom_writer_take(struct prom_writer *w, size_t *len)
{
	char *b = w->buf;
	if (len)
		*len = w->len;
	w->cap = 256;
	w->buf = xmalloc(w->cap);
	w->buf[0] = '\0';
	w->len = 0;
	return b;
}

static void put(struct prom_writer *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		while (w->len + n + 1 > w->cap)
			w->cap *= 2;
		w->buf = xrealloc(w->buf, w->cap);
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void puts_(struct prom_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) putf(struct prom_writer *w, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(w, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* HELP text escapes backslash and newline; label values also escape the
 * double quote (exposition format 0.0.4). */
static void put_escaped(struct prom_writer *w, const char *s, bool quote)
{
	const char *run = s;
	for (; *s; s++) {
		const char *rep = NULL;
		if (*s == '\\')
			rep = "\\\\";
		else if (*s == '\n')
			rep = "\\n";
		else if (quote && *s == '"')
			rep = "\\\"";
		if (rep) {
			put(w, run, (size_t)(s - run));
			puts_(w, rep);
			run = s + 1;
		}
	}
	put(w, run, (size_t)(s - run));
}

/* Shortest text that reads back as the same double ("0.005", not
 * "0.0050000000000000001"); Prometheus' spellings for the specials. */
static void format_double(double v, char *buf, size_t size)
{
	if (isnan(v)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	int prec = 1;
	for (; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	/* %g switches to an exponent once the exponent reaches the precision
	 * ("1e+01" for 10); print up to 6 integer digits plainly, as the Go
	 * client does ("10", "7200"), so le labels read naturally. */
	int exp10 = v != 0 ? (int)floor(log10(fabs(v))) : 0;
	if (exp10 >= 0 && exp10 < 6 && prec <= exp10)
		prec = exp10 + 1;
	snprintf(buf, size, "%.*g", prec, v);
}

bool prom_metric_name_valid(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          c == ':' || (p != name && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

bool prom_label_name_valid(const char *name)
{
	if (!name || !*name || strncmp(name, "__", 2) == 0)
		return false;
	for (const char *p = name; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          (p != name && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static const char *type_name(enum prom_type t)
{
	switch (t) {
	case PROM_COUNTER:
		return "counter";
	case PROM_GAUGE:
		return "gauge";
	case PROM_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

int prom_family(struct prom_writer *w, const char *name, const char *help, enum prom_type type)
{
	free(w->family);
	w->family = NULL;
	if (!prom_metric_name_valid(name)) {
		log_warn("metrics: invalid metric name '%s' dropped", name ? name : "(null)");
		return -1;
	}
	for (size_t i = 0; i < w->n_seen; i++) {
		if (strcmp(w->seen[i], name) == 0) {
			log_warn("metrics: family '%s' written twice; second copy dropped", name);
			return -1;
		}
	}
	if (w->n_seen == PROM_MAX_FAMILIES)
		return -1;
	w->seen[w->n_seen++] = xstrdup(name);
	w->family = xstrdup(name);
	w->type = type;
	puts_(w, "# HELP ");
	puts_(w, name);
	puts_(w, " ");
	put_escaped(w, help ? help : "", false);
	puts_(w, "\n# TYPE ");
	puts_(w, name);
	puts_(w, " ");
	puts_(w, type_name(type));
	puts_(w, "\n");
	return 0;
}

static bool labels_valid(const struct prom_label *labels, size_t n, bool histogram)
{
	for (size_t i = 0; i < n; i++) {
		if (!prom_label_name_valid(labels[i].name) ||
		    (histogram && strcmp(labels[i].name, "le") == 0))
			return false;
	}
	return true;
}

/* name{a="x",b="y"[,le="..."]} */
static void put_series(struct prom_writer *w, const char *suffix, const struct prom_label *labels,
                       size_t n, const char *le)
{
	puts_(w, w->family);
	if (suffix)
		puts_(w, suffix);
	if (n == 0 && !le)
		return;
	puts_(w, "{");
	for (size_t i = 0; i < n; i++) {
		if (i)
			puts_(w, ",");
		puts_(w, labels[i].name);
		puts_(w, "=\"");
		put_escaped(w, labels[i].value ? labels[i].value : "", true);
		puts_(w, "\"");
	}
	if (le) {
		if (n)
			puts_(w, ",");
		puts_(w, "le=\"");
		puts_(w, le);
		puts_(w, "\"");
	}
	puts_(w, "}");
}

void prom_sample(struct prom_writer *w, const struct prom_label *labels, size_t n_labels,
                 double value)
{
	char num[40];
	if (!w->family || w->type == PROM_HISTOGRAM || !labels_valid(labels, n_labels, false))
		return;
	put_series(w, NULL, labels, n_labels, NULL);
	format_double(value, num, sizeof(num));
	puts_(w, " ");
	puts_(w, num);
	puts_(w, "\n");
}

void prom_sample_u64(struct prom_writer *w, const struct prom_label *labels, size_t n_labels,
                     uint64_t value)
{
	if (!w->family || w->type == PROM_HISTOGRAM || !labels_valid(labels, n_labels, false))
		return;
	put_series(w, NULL, labels, n_labels, NULL);
	putf(w, " %" PRIu64 "\n", value);
}

void prom_histogram_sample(struct prom_writer *w, const struct prom_label *labels, size_t n_labels,
                           const struct histogram_snapshot *s)
{
	char le[40];
	if (!w->family || w->type != PROM_HISTOGRAM || !labels_valid(labels, n_labels, true))
		return;
	for (size_t i = 0; i <= s->n_bounds; i++) {
		if (i < s->n_bounds)
			format_double(s->bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		put_series(w, "_bucket", labels, n_labels, le);
		putf(w, " %" PRIu64 "\n", s->cumulative[i]);
	}
	char num[40];
	format_double(s->sum, num, sizeof(num));
	put_series(w, "_sum", labels, n_labels, NULL);
	puts_(w, " ");
	puts_(w, num);
	puts_(w, "\n");
	put_series(w, "_count", labels, n_labels, NULL);
	putf(w, " %" PRIu64 "\n", s->cumulative[s->n_bounds]);
}

void prom_counter(struct prom_writer *w, const char *name, const char *help, uint64_t value)
{
	if (prom_family(w, name, help, PROM_COUNTER) == 0)
		prom_sample_u64(w, NULL, 0, value);
}

void prom_gauge(struct prom_writer *w, const char *name, const char *help, double value)
{
	if (prom_family(w, name, help, PROM_GAUGE) == 0)
		prom_sample(w, NULL, 0, value);
}

void prom_histogram(struct prom_writer *w, const char *name, const char *help,
                    const struct histogram_snapshot *s)
{
	if (prom_family(w, name, help, PROM_HISTOGRAM) == 0)
		prom_histogram_sample(w, NULL, 0, s);
}

/* ---- collector list ---- */

#define PROM_MAX_COLLECTORS 64

static pthread_mutex_t collectors_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	prom_collect_fn fn;
	void *arg;
} collectors[PROM_MAX_COLLECTORS];
static size_t n_collectors;

int prom_collector_add(prom_collect_fn fn, void *arg)
{
	int rc = -1;
	pthread_mutex_lock(&collectors_mu);
	if (n_collectors < PROM_MAX_COLLECTORS) {
		collectors[n_collectors].fn = fn;
		collectors[n_collectors].arg = arg;
		n_collectors++;
		rc = 0;
	}
	pthread_mutex_unlock(&collectors_mu);
	return rc;
}

void prom_collector_del(prom_collect_fn fn, void *arg)
{
	pthread_mutex_lock(&collectors_mu);
	for (size_t i = 0; i < n_collectors; i++) {
		if (collectors[i].fn == fn && collectors[i].arg == arg) {
			memmove(&collectors[i], &collectors[i + 1],
			        (n_collectors - i - 1) * sizeof(collectors[0]));
			n_collectors--;
			break;
		}
	}
	pthread_mutex_unlock(&collectors_mu);
}

void prom_collect_all(struct prom_writer *w)
{
	/* Held across the calls so prom_collector_del() cannot return while
	 * a collector it removes is still running. Scrapes are rare and
	 * collectors only read counters. */
	pthread_mutex_lock(&collectors_mu);
	for (size_t i = 0; i < n_collectors; i++)
		collectors[i].fn(w, collectors[i].arg);
	pthread_mutex_unlock(&collectors_mu);
}

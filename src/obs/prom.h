/* Prometheus text exposition, format 0.0.4: a writer and the collector
 * list the /metrics handler runs at scrape time.
 *
 * A family is started with prom_family() (it writes # HELP and # TYPE) and
 * its samples follow with prom_sample*() / prom_histogram_sample(). Every
 * family name may appear once per scrape: a second prom_family() with a name
 * already written returns -1 and the samples that follow it are dropped, so
 * a buggy collector cannot make the whole page unparsable. Invalid metric or
 * label names are rejected the same way.
 *
 * Collectors: a module that owns counters registers
 *   void collect(struct prom_writer *w, void *arg)
 * with prom_collector_add(); the scrape calls every collector in
 * registration order on the admin HTTP thread. A collector reads its
 * counters (summing per-worker copies itself) and writes its families. */
#ifndef CSOCKS_PROM_H
#define CSOCKS_PROM_H

#include "obs/histogram.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum prom_type {
	PROM_COUNTER = 0,
	PROM_GAUGE = 1,
	PROM_HISTOGRAM = 2,
};

struct prom_label {
	const char *name;  /* [a-zA-Z_][a-zA-Z0-9_]*, not "le" for histograms */
	const char *value; /* any UTF-8; escaped on output */
};

struct prom_writer;

struct prom_writer *prom_writer_new(void); /* never NULL (aborts on OOM) */
void prom_writer_free(struct prom_writer *w);
/* The text so far; valid until the next write or free. */
const char *prom_writer_text(const struct prom_writer *w, size_t *len);
/* Hand the buffer to the caller (free()); the writer is left empty. */
char *prom_writer_take(struct prom_writer *w, size_t *len);

/* Start a family. 0, or -1 (invalid name, or already written this scrape). */
int prom_family(struct prom_writer *w, const char *name, const char *help, enum prom_type type);

/* One sample of the current family (counter or gauge). */
void prom_sample(struct prom_writer *w, const struct prom_label *labels, size_t n_labels,
                 double value);
void prom_sample_u64(struct prom_writer *w, const struct prom_label *labels, size_t n_labels,
                     uint64_t value);
/* One labelled series of the current histogram family: _bucket lines with
 * le (cumulative, ending with le="+Inf"), _sum and _count. */
void prom_histogram_sample(struct prom_writer *w, const struct prom_label *labels, size_t n_labels,
                           const struct histogram_snapshot *s);

/* Single-series shorthands: family + one unlabelled sample. */
void prom_counter(struct prom_writer *w, const char *name, const char *help, uint64_t value);
void prom_gauge(struct prom_writer *w, const char *name, const char *help, double value);
void prom_histogram(struct prom_writer *w, const char *name, const char *help,
                    const struct histogram_snapshot *s);

/* Name checks, exposed for tests. */
bool prom_metric_name_valid(const char *name);
bool prom_label_name_valid(const char *name);

/* Collector list (process-wide; thread-safe). add returns 0, or -1 when
 * the list is full (64). del waits for a scrape in progress, so after it
 * returns the collector is not running and arg may be freed. */
typedef void (*prom_collect_fn)(struct prom_writer *w, void *arg);
int prom_collector_add(prom_collect_fn fn, void *arg);
void prom_collector_del(prom_collect_fn fn, void *arg);
/* Run every collector into w (the /metrics handler). */
void prom_collect_all(struct prom_writer *w);

#endif

/* Sustained session-store throughput: how many session rows per second the
 * batch writer commits into SQLite, PostgreSQL and MariaDB.
 *
 *   store_bench [-s SECONDS] [-t THREADS] [-d DIR] [-p POSTGRES_URL] [-m MYSQL_URL]
 *               [-b N,N,...] [-r] [-v] [-P ROWS]
 *
 * Producer threads submit closed-session records as fast as the writer
 * takes them (a full queue makes a producer back off 100 us: this measures
 * the writer, not the queue). After SECONDS the producers stop and the
 * writer drains; rate = rows committed / time from the first submit to the
 * end of the drain. Runs each batch_size of -b (default 100,400;
 * batch_interval_ms 250) for
 * SQLite (a file in DIR, default /tmp) and, when -p or CSOCKS_TEST_PG_URL
 * gives a URL, PostgreSQL, and when -m or CSOCKS_TEST_MYSQL_URL gives one,
 * MariaDB (their `sessions` tables are dropped first!). Also
 * reports the mean cost of one submit seen by a producer. Bounded: every
 * run lasts SECONDS plus the drain (at most 60 s), plus the prefill.
 *
 * -r keeps all of RustSocks' 16 indexes (sessions.rustsocks_indexes);
 * without it the store has csocks' 4. -v varies the rows as real traffic
 * does (200 users, 12,500 destinations, random byte counts and durations)
 * instead of repeating one; -P first writes ROWS such rows (the history a
 * store has after a while; timed apart), so the writer works on a big
 * table instead of an empty one. */
#include "session/session_writer.h"
#include "session/store.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool varied; /* -v */

struct run {
	struct session_writer *w;
	int64_t until_ms;
	_Atomic uint64_t submitted, full, submit_ns;
};

/* xorshift64*: the varied rows' numbers (not security relevant). */
static uint64_t rnd_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ULL;
}

struct vary_buf {
	char user[16], dest[24];
};

/* With -v: one row of a mixed population (names and addresses in b). */
static void vary(struct session_record *rec, struct vary_buf *b, uint64_t *x)
{
	if (!varied)
		return;
	uint64_t v = rnd_next(x);
	snprintf(b->user, sizeof(b->user), "user%u", (unsigned)(v % 200));
	snprintf(b->dest, sizeof(b->dest), "10.%u.%u.%u", (unsigned)(v >> 8) % 50,
	         (unsigned)(v >> 16) % 250, 1 + (unsigned)(v >> 24) % 250);
	rec->user = b->user;
	rec->dest_ip = b->dest;
	rec->dest_port = (v >> 32) % 4 ? 443 : 80;
	rec->source_port = (uint16_t)(1024 + (v >> 40) % 60000);
	v = rnd_next(x);
	rec->bytes_sent = v % 10000000;
	rec->bytes_received = (v >> 24) % 100000000;
	rec->packets_sent = rec->bytes_sent / 1400 + 1;
	rec->packets_received = rec->bytes_received / 1400 + 1;
	rec->duration_secs = (int64_t)((v >> 48) % 3600);
}

/* The row every run starts from (-v then varies user, destination, ports,
 * counters and duration). */
static const struct session_record base_record = {
    .user = "alice",
    .dest_ip = "www.example.com",
    .dest_port = 443,
    .source_ip = "198.51.100.23",
    .source_port = 50123,
    .protocol = SESSION_PROTO_TCP,
    .status = SESSION_CLOSED,
    .close_reason = "client closed",
    .acl_rule_matched = "Allow HTTPS",
    .acl_decision = "allow",
    .bytes_sent = 51234,
    .bytes_received = 1234567,
    .packets_sent = 40,
    .packets_received = 900,
    .duration_secs = 3,
};

static void *producer(void *arg)
{
	struct run *r = arg;
	struct vary_buf vb;
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)&vb;
	struct session_record rec = base_record;
	uint64_t n = 0, full = 0, ns = 0;
	while (time_mono_ms() < r->until_ms) {
		session_id_generate(rec.session_id);
		vary(&rec, &vb, &x);
		rec.start_us = time_wall_us() - rec.duration_secs * 1000000;
		rec.end_us = rec.start_us + rec.duration_secs * 1000000;
		int64_t t0 = time_mono_ns();
		bool ok = session_writer_submit(r->w, &rec);
		ns += (uint64_t)(time_mono_ns() - t0);
		if (ok) {
			n++;
		} else {
			full++;
			usleep(100);
		}
	}
	atomic_fetch_add(&r->submitted, n);
	atomic_fetch_add(&r->full, full);
	atomic_fetch_add(&r->submit_ns, ns);
	return NULL;
}

/* CPU time (user + system, in clock ticks) of this process' threads named
 * csocks-sessdb: the session writer's. */
static uint64_t writer_ticks(void)
{
	uint64_t total = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	// cppcheck-suppress readdirCalled ; readdir_r is deprecated, readdir is safe on our own DIR
	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "", stat[1024];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "csocks-sessdb", 13) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
		stat[n] = '\0';
		/* fields 14 and 15 (utime, stime) follow the ")" that ends comm */
		const char *p = strrchr(stat, ')');
		unsigned long long ut = 0, st = 0;
		if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		                &st) == 2)
			total += ut + st;
	}
	if (d)
		closedir(d);
	return total;
}

static void drop_pg_table(const char *url)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) == CONNECTION_OK)
		PQclear(PQexec(c, "DROP TABLE IF EXISTS sessions, csocks_schema_migrations"));
	PQfinish(c);
}

/* -m: mysql://user:pass@host:port/db (the simple form scripts/mariadb-test.sh prints). */
static void drop_mysql_table(const char *url)
{
	char user[64] = "", pass[64] = "", host[128] = "", db[64] = "";
	unsigned port = 3306;
	const char *p = strstr(url, "://");
	if (!p ||
	    sscanf(p + 3, "%63[^:]:%63[^@]@%127[^:]:%u/%63[^?]", user, pass, host, &port, db) != 5)
		return;
	MYSQL *c = mysql_init(NULL);
	if (c && mysql_real_connect(c, host, user, pass, db, port, NULL, 0))
		mysql_query(c, "DROP TABLE IF EXISTS sessions, csocks_schema_migrations");
	mysql_close(c);
}

/* -P: rows of history before the measured run, written straight into the
 * store in transactions of 5,000, as if from the past hours. */
static int prefill(enum session_storage storage, const char *url, bool rs_indexes, uint64_t rows)
{
	char err[512] = "";
	struct session_store_options so = {.storage = storage,
	                                   .database_url = url,
	                                   .migrate = true,
	                                   .rustsocks_indexes = rs_indexes};
	struct session_store *st = session_store_open(&so, err, sizeof(err));
	if (!st) {
		fprintf(stderr, "store_bench: prefill: %s\n", err);
		return -1;
	}
	enum { CHUNK = 5000 };
	static struct session_record recs[CHUNK];
	static struct vary_buf bufs[CHUNK];
	const struct session_record *ptrs[CHUNK];
	uint64_t x = 0x2545f4914f6cdd1dULL;
	int64_t t0 = time_mono_ms(), now = time_wall_us();
	int rc = STORE_OK;
	for (uint64_t done = 0; done < rows && rc == STORE_OK;) {
		size_t n = rows - done < CHUNK ? (size_t)(rows - done) : CHUNK;
		for (size_t i = 0; i < n; i++) {
			struct session_record *r = &recs[i];
			*r = base_record;
			session_id_generate(r->session_id);
			vary(r, &bufs[i], &x);
			/* one row every 10 ms of the past, oldest first */
			r->start_us = now - (int64_t)(rows - done - i) * 10000;
			r->end_us = r->start_us + r->duration_secs * 1000000;
			ptrs[i] = r;
		}
		rc = session_store_write_batch(st, ptrs, n, err, sizeof(err));
		done += n;
	}
	session_store_close(st);
	if (rc != STORE_OK) {
		fprintf(stderr, "store_bench: prefill: %s\n", err);
		return -1;
	}
	printf("prefill   %llu rows in %.1f s\n", (unsigned long long)rows,
	       (double)(time_mono_ms() - t0) / 1000.0);
	fflush(stdout);
	return 0;
}

static int bench(const char *label, enum session_storage storage, const char *url, uint32_t batch,
                 int seconds, int threads, bool rs_indexes, uint64_t prefilled)
{
	char err[512] = "";
	struct session_writer_options o = {
	    .storage = storage,
	    .database_url = url,
	    .batch_size = batch,
	    .batch_interval_ms = 250,
	    .queue_capacity = 20000,
	    .rustsocks_indexes = rs_indexes,
	};
	struct session_writer *w = session_writer_start_opts(&o, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "store_bench: %s: %s\n", label, err);
		return -1;
	}
	struct run r = {.w = w};
	int64_t t0 = time_mono_ms();
	r.until_ms = t0 + seconds * 1000;
	pthread_t th[64];
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, producer, &r);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	struct session_writer_stats s;
	session_writer_get_stats(w, &s);
	uint64_t queued_at_end = s.queue_depth;
	int64_t t_stop = time_mono_ms();
	session_writer_get_stats(w, &s);
	uint64_t batches_before = s.batches, flush_total = s.flush_total_us,
	         flush_max = s.flush_max_us;
	/* the writer thread ends in stop: take its CPU time just before */
	uint64_t want = atomic_load(&r.submitted);
	while (session_writer_get_stats(w, &s),
	       s.written + s.failed < want && time_mono_ms() < t_stop + 60000)
		usleep(2000);
	uint64_t ticks = writer_ticks();
	session_writer_stop(w, 60000);
	int64_t t1 = time_mono_ms();
	/* count what actually reached the table */
	uint64_t written = 0, active = 0;
	struct session_store_options so = {.storage = storage, .database_url = url};
	struct session_store *st = session_store_open(&so, err, sizeof(err));
	if (!st || session_store_count(st, &active, &written, err, sizeof(err)) != STORE_OK)
		fprintf(stderr, "store_bench: %s: count: %s\n", label, err);
	session_store_close(st);
	written -= written >= prefilled ? prefilled : written;
	if (written != atomic_load(&r.submitted))
		fprintf(stderr, "store_bench: %s: %llu submitted but %llu rows\n", label,
		        (unsigned long long)atomic_load(&r.submitted), (unsigned long long)written);
	double secs = (double)(t1 - t0) / 1000.0;
	uint64_t subs = atomic_load(&r.submitted) + atomic_load(&r.full);
	double cpu_us = (double)ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
	printf("%-9s batch=%-4u idx=%-9s %8llu rows in %5.2f s = %8.0f rows/s, "
	       "writer CPU %.1f us/row  "
	       "(flush mean %.1f ms, max %.1f ms; drain of %llu queued took %.2f s; "
	       "submit mean %.0f ns, %llu full-queue refusals)\n",
	       label, batch, rs_indexes ? "rustsocks" : "csocks", (unsigned long long)written, secs,
	       (double)written / secs, written ? cpu_us / (double)written : 0.0,
	       batches_before ? (double)flush_total / (double)batches_before / 1000.0 : 0.0,
	       (double)flush_max / 1000.0, (unsigned long long)queued_at_end,
	       (double)(t1 - t_stop) / 1000.0,
	       subs ? (double)atomic_load(&r.submit_ns) / (double)subs : 0.0,
	       (unsigned long long)atomic_load(&r.full));
	fflush(stdout);
	return 0;
}

/* "100,400" -> {100, 400}; false on anything else. */
static bool parse_batches(const char *s, uint32_t *out, size_t *n)
{
	size_t k = 0;
	while (*s) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (end == s || v < 1 || v > 100000 || k == 8 || (*end && *end != ','))
			return false;
		out[k++] = (uint32_t)v;
		s = *end ? end + 1 : end;
	}
	*n = k;
	return k > 0;
}

int main(int argc, char **argv)
{
	int seconds = 5, threads = 2, opt;
	const char *dir = "/tmp", *pg = getenv("CSOCKS_TEST_PG_URL");
	const char *my = getenv("CSOCKS_TEST_MYSQL_URL");
	uint32_t batches[8] = {100, 400};
	size_t nbatches = 2;
	bool rs_indexes = false;
	uint64_t prefill_rows = 0;
	while ((opt = getopt(argc, argv, "s:t:d:p:m:b:rvP:")) != -1) {
		switch (opt) {
		case 's':
			seconds = atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'p':
			pg = optarg;
			break;
		case 'm':
			my = optarg;
			break;
		case 'r':
			rs_indexes = true;
			break;
		case 'v':
			varied = true;
			break;
		case 'P': {
			char *end;
			prefill_rows = strtoull(optarg, &end, 10);
			if (*end || prefill_rows > 100000000) {
				fprintf(stderr,
				        "store_bench: -P wants a row count up to 100000000\n");
				return 2;
			}
			break;
		}
		case 'b':
			if (!parse_batches(optarg, batches, &nbatches)) {
				fprintf(stderr, "store_bench: -b wants 1 to 8 sizes in 1..100000, "
				                "comma-separated\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr,
			        "usage: %s [-s SECONDS] [-t THREADS] [-d DIR] [-p PG_URL] [-m "
			        "MYSQL_URL] "
			        "[-b N,N,...] [-r] [-v] [-P ROWS]\n",
			        argv[0]);
			return 2;
		}
	}
	if (seconds < 1 || seconds > 600 || threads < 1 || threads > 64) {
		fprintf(stderr, "store_bench: SECONDS in 1..600, THREADS in 1..64\n");
		return 2;
	}
	log_setup(LOGL_WARN, LOGF_TEXT);
	int rc = 0;
	for (size_t i = 0; i < nbatches; i++) {
		char path[512], url[600];
		snprintf(path, sizeof(path), "%s/csocks-store-bench-%d.db", dir, (int)getpid());
		snprintf(url, sizeof(url), "sqlite://%s", path);
		if (prefill_rows)
			rc |= prefill(STORAGE_SQLITE, url, rs_indexes, prefill_rows);
		rc |= bench("sqlite", STORAGE_SQLITE, url, batches[i], seconds, threads, rs_indexes,
		            prefill_rows);
		char side[600];
		unlink(path);
		snprintf(side, sizeof(side), "%s-wal", path);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", path);
		unlink(side);
	}
	if (pg && *pg) {
		for (size_t i = 0; i < nbatches; i++) {
			drop_pg_table(pg);
			if (prefill_rows)
				rc |= prefill(STORAGE_POSTGRES, pg, rs_indexes, prefill_rows);
			rc |= bench("postgres", STORAGE_POSTGRES, pg, batches[i], seconds, threads,
			            rs_indexes, prefill_rows);
		}
		drop_pg_table(pg);
	} else {
		printf("postgres  skipped (no -p URL and CSOCKS_TEST_PG_URL not set)\n");
	}
	if (my && *my) {
		for (size_t i = 0; i < nbatches; i++) {
			drop_mysql_table(my);
			if (prefill_rows)
				rc |= prefill(STORAGE_MYSQL, my, rs_indexes, prefill_rows);
			rc |= bench("mariadb", STORAGE_MYSQL, my, batches[i], seconds, threads,
			            rs_indexes, prefill_rows);
		}
		drop_mysql_table(my);
	} else {
		printf("mariadb   skipped (no -m URL and CSOCKS_TEST_MYSQL_URL not set)\n");
	}
	return rc ? 1 : 0;
}

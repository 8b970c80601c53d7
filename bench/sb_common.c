/* sb_common.c - see sb_common.h. */
#include "sb_common.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint8_t pattern[SB_IO_CHUNK + SB_PAT_PERIOD];

void sb_u64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

uint64_t sb_u64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void sb_hdr_encode(uint8_t out[SB_HDR_LEN], enum sb_op op, uint64_t count, uint8_t flags)
{
	memcpy(out, "SBT1", 4);
	out[4] = (uint8_t)op;
	out[5] = flags;
	out[6] = out[7] = 0;
	sb_u64_put(out + 8, count);
}

int sb_hdr_decode(const uint8_t in[SB_HDR_LEN], enum sb_op *op, uint64_t *count, uint8_t *flags)
{
	*op = 0;
	*count = 0;
	*flags = 0;
	if (memcmp(in, "SBT1", 4) != 0 || (in[5] & ~(SB_HDR_F_SAMPLE | SB_HDR_F_CLOSE)) || in[6] ||
	    in[7])
		return -1;
	*flags = in[5];
	switch (in[4]) {
	case SB_OP_DOWNLOAD:
	case SB_OP_UPLOAD:
	case SB_OP_ECHO:
	case SB_OP_HOLD:
		break;
	default:
		return -1;
	}
	*op = (enum sb_op)in[4];
	*count = sb_u64_get(in + 8);
	return 0;
}

void sb_pattern_init(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i % SB_PAT_PERIOD);
}

const uint8_t *sb_pattern_at(uint64_t off)
{
	return pattern + off % SB_PAT_PERIOD;
}

bool sb_pattern_ok(const uint8_t *buf, size_t len, uint64_t off)
{
	return len <= SB_IO_CHUNK && memcmp(buf, sb_pattern_at(off), len) == 0;
}

ssize_t sb_recv_pattern(int fd, uint8_t *buf, size_t want, uint64_t off, bool sample,
                        uint32_t *reads, bool *bad)
{
	/* counted per read that returned data: a checked turn that hits
	 * EAGAIN stays the checked turn */
	bool check = !sample || *reads % SB_SAMPLE_EVERY == 0;
	ssize_t n = recv(fd, buf, want, check ? 0 : MSG_TRUNC);
	if (n <= 0)
		return n;
	(*reads)++;
	if (check && !sb_pattern_ok(buf, (size_t)n, off))
		*bad = true;
	return n;
}

uint64_t sb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long sb_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

/* Bucket layout: values below 2^SUB_BITS map to themselves; above, a bucket
 * is (exponent, top SUB_BITS bits below the leading one). */
static unsigned hist_index(uint64_t v)
{
	if (v < (1u << SB_HIST_SUB_BITS))
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
	unsigned sub = (unsigned)(v >> (e - SB_HIST_SUB_BITS)) & ((1u << SB_HIST_SUB_BITS) - 1);
	return ((e - SB_HIST_SUB_BITS + 1) << SB_HIST_SUB_BITS) + sub;
}

static uint64_t hist_upper(unsigned idx)
{
	if (idx < (1u << SB_HIST_SUB_BITS))
		return idx;
	unsigned e = (idx >> SB_HIST_SUB_BITS) + SB_HIST_SUB_BITS - 1;
	uint64_t sub = idx & ((1u << SB_HIST_SUB_BITS) - 1);
	uint64_t lo = (1ull << e) | (sub << (e - SB_HIST_SUB_BITS));
	return lo + (1ull << (e - SB_HIST_SUB_BITS)) - 1;
}

void sb_hist_init(struct sb_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void sb_hist_add(struct sb_hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void sb_hist_merge(struct sb_hist *into, const struct sb_hist *from)
{
	for (unsigned i = 0; i < SB_HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
	into->count += from->count;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t sb_hist_quantile(const struct sb_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (unsigned i = 0; i < SB_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t v = hist_upper(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* ---- /proc readers ---- */

static long status_kib(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v = -1;
	size_t klen = strlen(key);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

static long count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *de;
	// cppcheck-suppress readdirCalled ; readdir_r is deprecated, readdir is safe on our own DIR
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ppid, and the CPU time of pid (all its threads) plus its reaped children:
 * utime + stime + cutime + cstime, in clock ticks. -1 if unreadable. */
static pid_t read_stat(pid_t pid, unsigned long long *ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* comm may contain spaces and parentheses: parse after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	char state;
	int ppid;
	unsigned long long ut = 0, st = 0;
	long long cut = 0, cst = 0;
	/* fields 3 and 4, then 14-17 (utime stime cutime cstime) */
	if (sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &state,
	           &ppid, &ut, &st, &cut, &cst) < 2)
		return -1;
	if (ticks)
		*ticks = ut + st + (unsigned long long)(cut > 0 ? cut : 0) +
		         (unsigned long long)(cst > 0 ? cst : 0);
	return (pid_t)ppid;
}

struct pid_pair {
	pid_t pid, ppid;
};

static void add_one(pid_t pid, struct sb_proc_stat *st)
{
	unsigned long long ticks = 0;
	if (read_stat(pid, &ticks) >= 0)
		st->cpu_s += (double)ticks / (double)sysconf(_SC_CLK_TCK);
	if (st->cpu_only) {
		st->nprocs++;
		return;
	}
	long rss = status_kib(pid, "status", "VmRSS");
	long pss = status_kib(pid, "smaps_rollup", "Pss");
	long fds = count_fds(pid);
	st->rss_kib += rss > 0 ? rss : 0;
	st->pss_kib += pss > 0 ? pss : 0;
	st->fds += fds > 0 ? fds : 0;
	st->nprocs++;
}

int sb_proc_stat_read(pid_t pid, struct sb_proc_stat *st)
{
	bool cpu_only = st->cpu_only;
	memset(st, 0, sizeof(*st));
	st->cpu_only = cpu_only;
	if (status_kib(pid, "status", "VmRSS") < 0)
		return -1;

	/* Snapshot every (pid, ppid), then walk the tree below pid. */
	size_t cap = 1024, n = 0;
	struct pid_pair *all = malloc(cap * sizeof(*all));
	DIR *d = opendir("/proc");
	if (!all || !d) {
		free(all);
		if (d)
			closedir(d);
		return -1;
	}
	struct dirent *de;
	// cppcheck-suppress readdirCalled ; readdir_r is deprecated, readdir is safe on our own DIR
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid_t p = (pid_t)atoi(de->d_name);
		pid_t pp = read_stat(p, NULL);
		if (pp < 0)
			continue;
		if (n == cap) {
			cap *= 2;
			struct pid_pair *na = realloc(all, cap * sizeof(*all));
			if (!na)
				break;
			all = na;
		}
		all[n].pid = p;
		all[n].ppid = pp;
		n++;
	}
	closedir(d);

	/* Breadth-first: queue holds pids whose children are still to add. */
	pid_t *queue = malloc((n + 1) * sizeof(*queue));
	if (!queue) {
		free(all);
		return -1;
	}
	size_t qh = 0, qt = 0;
	queue[qt++] = pid;
	while (qh < qt) {
		pid_t cur = queue[qh++];
		add_one(cur, st);
		for (size_t i = 0; i < n && qt < n + 1; i++)
			if (all[i].ppid == cur && all[i].pid != cur)
				queue[qt++] = all[i].pid;
	}
	free(queue);
	free(all);
	return 0;
}

int sb_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon;
	const char *h = s;
	size_t hl;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (!rb || rb[1] != ':')
			return -1;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -1;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || colon[1] == 0 || p < 0 || p > 65535)
		return -1;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port = (uint16_t)p;
	return 0;
}

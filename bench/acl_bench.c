/* ACL decision cost with 10, 1,000 and 10,000 rules.
 *
 * Each rule set is generated as acl.toml text (a realistic mix: exact
 * domains, "*.suffix" wildcards, a few "api.*.x" patterns, IPv4/IPv6 CIDRs
 * and addresses, single ports, ranges and lists, "*" rules; spread over
 * users and groups, with one large block-list group), then parsed,
 * validated and compiled like a reload. Requests come from a fixed
 * pseudo-random mix: users with and without [[users]] entries, 0-3
 * resolved groups, names (phase 1), names with an address (phase 2) and
 * bare addresses, matching and non-matching.
 *
 * Every decision is timed alone (clock_gettime, its own cost subtracted)
 * for the median and p99; batches of 1,000 give the mean without timer
 * noise. Run time is bounded: a fixed number of samples per size.
 *
 *   ninja -C build src/acl/acl_bench && build/src/acl/acl_bench [samples]
 * (built from src/acl/meson.build; not built by default)
 */
#include "acl/acl_config.h"
#include "acl/acl_config_load.h"
#include "acl/acl_compile.h"
#include "acl/acl_eval.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct text {
	char *p;
	size_t len, cap;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		t->cap = t->cap * 2 + (size_t)n + 1024;
		t->p = realloc(t->p, t->cap);
	}
}

static const char *tlds[] = {"com", "org", "net", "io", "dev"};

static void put_dest(struct text *t)
{
	unsigned k = rnd() % 100;
	if (k < 35)
		put(t, "\"host%u.site%u.%s\"", rnd() % 50, rnd() % 500, tlds[rnd() % 5]);
	else if (k < 65)
		put(t, "\"*.site%u.%s\"", rnd() % 500, tlds[rnd() % 5]);
	else if (k < 68)
		put(t, "\"api.*.site%u.%s\"", rnd() % 500, tlds[rnd() % 5]);
	else if (k < 85)
		put(t, "\"10.%u.%u.0/24\"", rnd() % 256, rnd() % 256);
	else if (k < 90)
		put(t, "\"172.%u.0.0/16\"", 16 + rnd() % 16);
	else if (k < 95)
		put(t, "\"192.0.2.%u\"", rnd() % 256);
	else if (k < 98)
		put(t, "\"2001:db8:%x::/48\"", rnd() % 65536);
	else
		put(t, "\"*\"");
}

static void put_ports(struct text *t)
{
	unsigned k = rnd() % 10;
	if (k < 3)
		put(t, "[\"*\"]");
	else if (k < 6)
		put(t, "[\"%u\"]", (unsigned[]){80, 443, 22, 8080, 5432}[rnd() % 5]);
	else if (k < 8)
		put(t, "[\"8000-9000\", \"443\"]");
	else
		put(t, "[\"80,443,8443\"]");
}

static void put_rule(struct text *t, const char *table, bool block_list)
{
	unsigned nd = block_list ? 1 : 1 + rnd() % 3;
	put(t, "[[%s.rules]]\naction = \"%s\"\ndescription = \"r%u\"\ndestinations = [", table,
	    block_list || rnd() % 3 == 0 ? "block" : "allow", rnd());
	for (unsigned i = 0; i < nd; i++) {
		if (i)
			put(t, ", ");
		if (block_list)
			put(t, "\"%sbad%u.%s\"", rnd() % 2 ? "*." : "", rnd(), tlds[rnd() % 5]);
		else
			put_dest(t);
	}
	put(t, "]\nports = ");
	put_ports(t);
	put(t, "\nprotocols = [\"%s\"]\npriority = %u\n\n",
	    (const char *[]){"tcp", "udp", "both"}[rnd() % 3], 10 * (rnd() % 100));
}

struct shape {
	unsigned users, rules_per_user, groups, rules_per_group, blocklist;
};

/* Generate a file with users*rpu + groups*rpg + blocklist rules. */
static char *gen(const struct shape *sh, size_t *len)
{
	struct text t = {0};
	t.cap = 1 << 16;
	t.p = malloc(t.cap);
	put(&t, "[global]\ndefault_policy = \"block\"\n\n");
	for (unsigned u = 0; u < sh->users; u++) {
		put(&t, "[[users]]\nusername = \"user%u\"\ngroups = [\"group%u\"]\n\n", u,
		    sh->groups ? rnd() % sh->groups : 0);
		for (unsigned r = 0; r < sh->rules_per_user; r++)
			put_rule(&t, "users", false);
	}
	for (unsigned g = 0; g < sh->groups; g++) {
		put(&t, "[[groups]]\nname = \"group%u\"\n\n", g);
		for (unsigned r = 0; r < sh->rules_per_group; r++)
			put_rule(&t, "groups", false);
	}
	if (sh->blocklist) {
		put(&t, "[[groups]]\nname = \"everyone\"\n\n");
		for (unsigned r = 0; r < sh->blocklist; r++)
			put_rule(&t, "groups", true);
	}
	*len = t.len;
	return t.p;
}

#define NREQ 4096

struct req {
	struct acl_request r;
	const char *groups[4];
	char user[32], g[3][32], name[96];
	struct sockaddr_storage ss;
};

static void make_requests(struct req *q, const struct shape *sh)
{
	for (size_t i = 0; i < NREQ; i++) {
		struct req *x = &q[i];
		memset(x, 0, sizeof(*x));
		unsigned users = sh->users ? sh->users : 1;
		snprintf(x->user, sizeof(x->user), "user%u", rnd() % (users + users / 4 + 1));
		x->r.user = x->user;
		unsigned ng = rnd() % 4;
		for (unsigned k = 0; k < ng; k++) {
			if (k == 0 && sh->blocklist)
				snprintf(x->g[k], sizeof(x->g[k]), "EVERYONE");
			else
				snprintf(x->g[k], sizeof(x->g[k]), "Group%u",
				         rnd() % (sh->groups + 5));
			x->groups[k] = x->g[k];
		}
		x->r.groups = x->groups;
		x->r.n_groups = ng;
		unsigned kind = rnd() % 3; /* 0 name, 1 name+addr, 2 addr */
		if (kind != 2) {
			unsigned depth = rnd() % 3;
			snprintf(x->name, sizeof(x->name), "%s%shost%u.site%u.%s",
			         depth > 1 ? "a.b." : "", depth > 0 ? "api." : "", rnd() % 60,
			         rnd() % 600, tlds[rnd() % 5]);
			x->r.domain = x->name;
		}
		if (kind != 0) {
			if (rnd() % 8 == 0) {
				struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&x->ss;
				char ip[64];
				snprintf(ip, sizeof(ip), "2001:db8:%x::%x", rnd() % 65536, rnd());
				in6->sin6_family = AF_INET6;
				inet_pton(AF_INET6, ip, &in6->sin6_addr);
			} else {
				struct sockaddr_in *in = (struct sockaddr_in *)&x->ss;
				in->sin_family = AF_INET;
				in->sin_addr.s_addr =
				    htonl(rnd() % 2 ? (10u << 24) | (rnd() & 0xffffff) : rnd());
			}
			x->r.addr = (const struct sockaddr *)&x->ss;
		}
		x->r.port = (uint16_t)(unsigned[]){80, 443, 22, 8500, 5432, 53}[rnd() % 6];
		x->r.proto = rnd() % 4 ? ACL_PROTO_TCP : ACL_PROTO_UDP;
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int64_t timer_cost(void)
{
	int64_t v[10001];
	for (int i = 0; i < 10001; i++) {
		int64_t t0 = now_ns();
		v[i] = now_ns() - t0;
	}
	qsort(v, 10001, sizeof(v[0]), cmp_i64);
	return v[5000];
}

static void run(const char *label, const struct shape *sh, size_t samples, int64_t tc)
{
	size_t len;
	char *text = gen(sh, &len);
	struct acl_msgs msgs;
	char err[256];
	acl_msgs_init(&msgs);
	int64_t t0 = now_ns();
	struct acl_config *cfg = acl_config_parse(text, len, "bench.toml", &msgs);
	if (!cfg) {
		fprintf(stderr, "generated file invalid: %s\n", msgs.n ? msgs.v[0] : "?");
		exit(1);
	}
	int64_t t1 = now_ns();
	struct acl_snapshot *s = acl_compile(cfg, err, sizeof(err));
	int64_t t2 = now_ns();
	if (!s) {
		fprintf(stderr, "compile: %s\n", err);
		exit(1);
	}
	struct req *q = calloc(NREQ, sizeof(*q));
	make_requests(q, sh);
	struct acl_decision d;
	size_t allowed = 0;

	for (size_t i = 0; i < NREQ; i++) /* warm up */
		acl_evaluate(s, &q[i].r, &d);
	int64_t *v = malloc(samples * sizeof(*v));
	for (size_t i = 0; i < samples; i++) {
		const struct acl_request *r = &q[i % NREQ].r;
		int64_t a = now_ns();
		acl_evaluate(s, r, &d);
		v[i] = now_ns() - a - tc;
		allowed += d.allow;
	}
	qsort(v, samples, sizeof(*v), cmp_i64);
	size_t batches = samples / 1000;
	int64_t b0 = now_ns();
	for (size_t i = 0; i < batches * 1000; i++)
		acl_evaluate(s, &q[i % NREQ].r, &d);
	double mean = (double)(now_ns() - b0) / (double)(batches * 1000);

	printf("%-8s %6zu %6zu %6zu %9.1f %9.1f %9lld %8lld %9.1f %7.0f%%\n", label,
	       acl_snapshot_rule_count(s), cfg->n_users, cfg->n_groups, (double)(t1 - t0) / 1e6,
	       (double)(t2 - t1) / 1e6, (long long)(v[samples / 2] < 0 ? 0 : v[samples / 2]),
	       (long long)(v[samples * 99 / 100] < 0 ? 0 : v[samples * 99 / 100]), mean,
	       100.0 * (double)allowed / (double)samples);
	free(v);
	free(q);
	free(text);
	acl_snapshot_unref(s);
	acl_config_free(cfg);
	acl_msgs_fini(&msgs);
}

int main(int argc, char **argv)
{
	size_t samples = argc > 1 ? strtoul(argv[1], NULL, 10) : 400000;
	if (samples < 1000)
		samples = 1000;
	static const struct shape shapes[] = {
	    {.users = 2, .rules_per_user = 3, .groups = 1, .rules_per_group = 4},
	    {.users = 100,
	     .rules_per_user = 5,
	     .groups = 10,
	     .rules_per_group = 30,
	     .blocklist = 200},
	    {.users = 1000,
	     .rules_per_user = 5,
	     .groups = 40,
	     .rules_per_group = 75,
	     .blocklist = 2000},
	};
	static const char *labels[] = {"10", "1k", "10k"};
	int64_t tc = timer_cost();
	printf("acl_bench: %zu timed decisions per size; clock_gettime cost %lld ns subtracted\n",
	       samples, (long long)tc);
	printf("%-8s %6s %6s %6s %9s %9s %9s %8s %9s %8s\n", "set", "rules", "users", "groups",
	       "parse_ms", "comp_ms", "median_ns", "p99_ns", "mean_ns", "allowed");
	for (size_t i = 0; i < 3; i++)
		run(labels[i], &shapes[i], samples, tc);
	return 0;
}

/* ACL engine tests: matchers, evaluation order, two-phase semantics,
 * validation messages, RustSocks reference files, serialising, CRUD,
 * reload and inotify. Run from tests/unit (data/acl/ holds copies of
 * RustSocks' reference ACL files). */
#include "acl/acl_cli.h"
#include "acl/acl_config.h"
#include "acl/acl_config_load.h"
#include "acl/acl_config_edit.h"
#include "acl/acl_config_write.h"
#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "acl/acl_match.h"
#include "acl/acl_modes.h"
#include "acl/acl_stats.h"
#include "acl/acl_manager.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- allocation counting (not under ASan, which owns malloc) ----------- */

#if defined(__SANITIZE_ADDRESS__)
#define COUNT_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_MALLOC 0
#endif
#endif
#ifndef COUNT_MALLOC
#define COUNT_MALLOC 1
#endif

static atomic_long n_allocs;
#if COUNT_MALLOC
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
void *malloc(size_t n)
{
	atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
	return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
	atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
	return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
	atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
	return __libc_realloc(p, n);
}
void free(void *p)
{
	__libc_free(p);
}
#endif

/* ---- helpers ----------------------------------------------------------- */

static char tmpdir[64];

static void print_msgs(const struct acl_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		fprintf(stderr, "    %s\n", m->v[i]);
}

static struct acl_snapshot *compile_text(const char *toml)
{
	struct acl_msgs m;
	char err[256];
	acl_msgs_init(&m);
	struct acl_config *c = acl_config_parse(toml, strlen(toml), "t.toml", &m);
	if (!c) {
		print_msgs(&m);
		acl_msgs_fini(&m);
		return NULL;
	}
	acl_msgs_fini(&m);
	struct acl_snapshot *s = acl_compile(c, err, sizeof(err));
	if (!s)
		fprintf(stderr, "    compile: %s\n", err);
	acl_config_free(c);
	return s;
}

static struct sockaddr_storage ss_buf;

static const struct sockaddr *sa(const char *ip)
{
	memset(&ss_buf, 0, sizeof(ss_buf));
	if (!ip)
		return NULL;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss_buf;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss_buf;
	if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
	} else {
		fprintf(stderr, "bad test ip %s\n", ip);
		abort();
	}
	return (const struct sockaddr *)&ss_buf;
}

static struct acl_decision last;

/* 1 allow, 0 block; last holds the decision. groups: NULL-terminated. */
static int decide(const struct acl_snapshot *s, const char *user, const char *const *groups,
                  const char *domain, const char *ip, unsigned port, enum acl_proto proto)
{
	size_t ng = 0;
	while (groups && groups[ng])
		ng++;
	struct acl_request r = {.user = user,
	                        .groups = groups,
	                        .n_groups = ng,
	                        .domain = domain,
	                        .addr = sa(ip),
	                        .port = (uint16_t)port,
	                        .proto = proto};
	acl_evaluate(s, &r, &last);
	return last.allow;
}

static const char *last_desc(void)
{
	return last.rule ? last.rule->description : "(default)";
}

static char *write_tmp(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if (cs_write_file_atomic(path, text, strlen(text)) < 0) {
		perror(path);
		abort();
	}
	return xstrdup(path);
}

/* ---- matchers ---------------------------------------------------------- */

static void t_dest_parse(void)
{
	static const struct {
		const char *in;
		int rc;
		int kind;
		const char *canon; /* acl_dest_format, or NULL */
	} cases[] = {
	    {"*", ACL_PARSE_OK, ACL_DEST_ANY, "*"},
	    {"1.2.3.4", ACL_PARSE_OK, ACL_DEST_IP4, "1.2.3.4"},
	    {"0.0.0.0/0", ACL_PARSE_OK, ACL_DEST_IP4, "0.0.0.0/0"},
	    {"10.0.0.0/8", ACL_PARSE_OK, ACL_DEST_IP4, "10.0.0.0/8"},
	    {"10.1.2.3/8", ACL_PARSE_NORMALISED, ACL_DEST_IP4, "10.0.0.0/8"},
	    {"192.168.1.1/32", ACL_PARSE_OK, ACL_DEST_IP4, "192.168.1.1/32"},
	    {"192.168.1.129/25", ACL_PARSE_NORMALISED, ACL_DEST_IP4, "192.168.1.128/25"},
	    {"::1", ACL_PARSE_OK, ACL_DEST_IP6, "::1"},
	    {"2001:db8::/32", ACL_PARSE_OK, ACL_DEST_IP6, "2001:db8::/32"},
	    {"2001:db8::1/32", ACL_PARSE_NORMALISED, ACL_DEST_IP6, "2001:db8::/32"},
	    {"::/0", ACL_PARSE_OK, ACL_DEST_IP6, "::/0"},
	    {"2001:db8::1/128", ACL_PARSE_OK, ACL_DEST_IP6, "2001:db8::1/128"},
	    {"::ffff:1.2.3.4", ACL_PARSE_OK, ACL_DEST_IP4, "1.2.3.4"},
	    {"::ffff:10.0.0.0/104", ACL_PARSE_OK, ACL_DEST_IP4, "10.0.0.0/8"},
	    {"example.com", ACL_PARSE_OK, ACL_DEST_DOMAIN, "example.com"},
	    {"Example.COM.", ACL_PARSE_OK, ACL_DEST_DOMAIN, "example.com"},
	    {"localhost", ACL_PARSE_OK, ACL_DEST_DOMAIN, "localhost"},
	    {"_dmarc.example.com", ACL_PARSE_OK, ACL_DEST_DOMAIN, "_dmarc.example.com"},
	    {"123.example.com", ACL_PARSE_OK, ACL_DEST_DOMAIN, "123.example.com"},
	    {"*.example.com", ACL_PARSE_OK, ACL_DEST_SUFFIX, "*.example.com"},
	    {"*.Example.com.", ACL_PARSE_OK, ACL_DEST_SUFFIX, "*.example.com"},
	    {"api.*.com", ACL_PARSE_OK, ACL_DEST_PATTERN, "api.*.com"},
	    {"*.*.example.com", ACL_PARSE_OK, ACL_DEST_PATTERN, "*.*.example.com"},
	    {"example.*", ACL_PARSE_OK, ACL_DEST_PATTERN, "example.*"},
	    {"", ACL_PARSE_ERROR, 0, NULL},
	    {"1..2.3.4", ACL_PARSE_ERROR, 0, NULL},
	    {"1.2.3", ACL_PARSE_ERROR, 0, NULL},
	    {"1.2.3.4.5", ACL_PARSE_ERROR, 0, NULL},
	    {"256.1.1.1", ACL_PARSE_ERROR, 0, NULL},
	    {"01.2.3.4", ACL_PARSE_ERROR, 0, NULL},
	    {"10.0.0.0/33", ACL_PARSE_ERROR, 0, NULL},
	    {"10.0.0.0/", ACL_PARSE_ERROR, 0, NULL},
	    {"10.0.0.0/08", ACL_PARSE_ERROR, 0, NULL},
	    {"10.0.0.0/8/8", ACL_PARSE_ERROR, 0, NULL},
	    {"2001:db8::/129", ACL_PARSE_ERROR, 0, NULL},
	    {"2001:db8:::1", ACL_PARSE_ERROR, 0, NULL},
	    {"fe80::1%eth0", ACL_PARSE_ERROR, 0, NULL},
	    {"example.com/24", ACL_PARSE_ERROR, 0, NULL},
	    {"exa mple.com", ACL_PARSE_ERROR, 0, NULL},
	    {"example..com", ACL_PARSE_ERROR, 0, NULL},
	    {".example.com", ACL_PARSE_ERROR, 0, NULL},
	    {"example.com..", ACL_PARSE_ERROR, 0, NULL},
	    {"ex*ample.com", ACL_PARSE_OK, ACL_DEST_PATTERN, "ex*ample.com"},
	    {"prod-*.company.com", ACL_PARSE_OK, ACL_DEST_PATTERN, "prod-*.company.com"},
	    {"**.example.com", ACL_PARSE_OK, ACL_DEST_SUFFIX, "**.example.com"},
	    {"**.Example.com.", ACL_PARSE_OK, ACL_DEST_SUFFIX, "**.example.com"},
	    {"a.**.example.com", ACL_PARSE_ERROR, 0, NULL},
	    {"**", ACL_PARSE_ERROR, 0, NULL},
	    {"**.*.example.com", ACL_PARSE_ERROR, 0, NULL},
	    {"e**x.example.com", ACL_PARSE_ERROR, 0, NULL},
	    {"-*.example.com", ACL_PARSE_ERROR, 0, NULL},
	    {"-bad.example.com", ACL_PARSE_ERROR, 0, NULL},
	    {"bad-.example.com", ACL_PARSE_ERROR, 0, NULL},
	    {"ex!ample.com", ACL_PARSE_ERROR, 0, NULL},
	    {"http://example.com", ACL_PARSE_ERROR, 0, NULL},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	     ACL_PARSE_ERROR, 0, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl_dest d;
		char err[256], canon[300];
		int rc = acl_dest_parse(cases[i].in, strlen(cases[i].in), &d, err, sizeof(err));
		if (!CHECK(rc == cases[i].rc)) {
			fprintf(stderr, "    input '%s': rc %d want %d (%s)\n", cases[i].in, rc,
			        cases[i].rc, err);
			continue;
		}
		if (rc == ACL_PARSE_ERROR) {
			CHECK(err[0] != '\0');
			continue;
		}
		CHECK_INT(d.kind, cases[i].kind);
		acl_dest_format(&d, canon, sizeof(canon));
		CHECK_STR(canon, cases[i].canon);
		if (rc == ACL_PARSE_NORMALISED)
			CHECK(strstr(err, "host bits") != NULL);
	}
	/* Not NUL-terminated input: only len bytes are read. */
	struct acl_dest d;
	CHECK_INT(acl_dest_parse("10.0.0.12", 8, &d, NULL, 0), ACL_PARSE_OK);
	CHECK_INT(d.kind, ACL_DEST_IP4);
	CHECK_INT(d.addr[3], 1);
	CHECK_INT(acl_dest_parse("example.com.evil", 11, &d, NULL, 0), ACL_PARSE_OK);
	CHECK_STR(d.name, "example.com");
}

static void t_ip_match(void)
{
	static const struct {
		const char *dest, *ip;
		bool want;
	} cases[] = {
	    {"1.2.3.4", "1.2.3.4", true},
	    {"1.2.3.4", "1.2.3.5", false},
	    {"1.2.3.4", "::ffff:1.2.3.4", true},
	    {"10.0.0.0/8", "10.255.255.255", true},
	    {"10.0.0.0/8", "11.0.0.0", false},
	    {"10.0.0.0/8", "::ffff:10.9.8.7", true},
	    {"172.16.0.0/12", "172.31.255.1", true},
	    {"172.16.0.0/12", "172.32.0.1", false},
	    {"0.0.0.0/0", "203.0.113.9", true},
	    {"0.0.0.0/0", "2001:db8::1", false},
	    {"192.168.1.1/32", "192.168.1.1", true},
	    {"192.168.1.1/32", "192.168.1.2", false},
	    {"192.168.1.128/25", "192.168.1.200", true},
	    {"192.168.1.128/25", "192.168.1.127", false},
	    {"2001:db8::/32", "2001:db8:ffff::1", true},
	    {"2001:db8::/32", "2001:db9::1", false},
	    {"2001:db8::/32", "10.0.0.1", false},
	    {"::/0", "2001:db8::1", true},
	    {"2001:db8::1/128", "2001:db8::1", true},
	    {"2001:db8::1/128", "2001:db8::2", false},
	    {"2001:db8::1", "2001:db8::1", true},
	    {"::ffff:10.0.0.0/104", "10.1.1.1", true},
	    {"*", "10.1.1.1", true},
	    {"example.com", "10.1.1.1", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl_dest d;
		uint8_t a[16];
		CHECK(acl_dest_parse(cases[i].dest, strlen(cases[i].dest), &d, NULL, 0) >= 0);
		int fam = acl_addr_from_sockaddr(sa(cases[i].ip), a);
		if (!CHECK(acl_ip_match(&d, fam, a) == cases[i].want))
			fprintf(stderr, "    %s vs %s\n", cases[i].dest, cases[i].ip);
	}
}

static void t_domain_match(void)
{
	static const struct {
		const char *pat, *name;
		bool want;
	} cases[] = {
	    {"example.com", "example.com", true},
	    {"example.com", "EXAMPLE.com", true},
	    {"example.com", "example.com.", true},
	    {"Example.COM", "example.com", true},
	    {"example.com", "www.example.com", false},
	    {"example.com", "example.co", false},
	    {"example.com", "xexample.com", false},
	    {"*.example.com", "www.example.com", true},
	    {"*.example.com", "a.b.c.example.com", true},
	    {"*.example.com", "WWW.Example.Com.", true},
	    {"*.example.com", "example.com", false},
	    {"*.example.com", "badexample.com", false},
	    {"*.example.com", "example.com.evil.org", false},
	    {"*.example.com", ".example.com", false},
	    {"api.*.com", "api.example.com", true},
	    {"api.*.com", "API.test.com", true},
	    {"api.*.com", "api.a.b.com", false},
	    {"api.*.com", "api.com", false},
	    {"api.*.com", "api.example.org", false},
	    {"api.*.com", "x.api.example.com", false},
	    {"*.*.example.com", "a.b.example.com", true},
	    {"*.*.example.com", "x.a.b.example.com", true},
	    {"*.*.example.com", "b.example.com", false},
	    {"example.*", "example.org", true},
	    {"example.*", "example.co.uk", false},
	    {"*.example.*", "www.example.net", true},
	    {"*.example.*", "example.net", false},
	    {"*", "anything.at.all", true},
	    {"**.example.com", "www.example.com", true},
	    {"**.example.com", "a.b.c.example.com", true},
	    {"**.example.com", "example.com", false},
	    {"prod-*.company.com", "prod-web.company.com", true},
	    {"prod-*.company.com", "PROD-db1.company.com", true},
	    {"prod-*.company.com", "prod-.company.com", true},
	    {"prod-*.company.com", "prod.company.com", false},
	    {"prod-*.company.com", "dev-web.company.com", false},
	    {"prod-*.company.com", "prod-web.x.company.com", false},
	    {"prod-*.company.com", "x.prod-web.company.com", false},
	    {"*-db.company.com", "eu-west-db.company.com", true},
	    {"*-db.company.com", "db.company.com", false},
	    {"a*b*c.example.com", "axxbyyc.example.com", true},
	    {"a*b*c.example.com", "acb.example.com", false},
	    {"*.prod-*.com", "x.prod-1.com", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl_dest d;
		char name[ACL_DOMAIN_MAX + 1];
		CHECK(acl_dest_parse(cases[i].pat, strlen(cases[i].pat), &d, NULL, 0) >= 0);
		int n = acl_domain_normalise(cases[i].name, strlen(cases[i].name), name);
		bool got = n > 0 && acl_domain_match(&d, name, (size_t)n);
		if (!CHECK(got == cases[i].want))
			fprintf(stderr, "    %s vs %s\n", cases[i].pat, cases[i].name);
		/* The compiled engine agrees with the reference matcher. */
		char toml[512];
		snprintf(toml, sizeof(toml),
		         "[[users]]\nusername = \"u\"\n[[users.rules]]\naction = \"allow\"\n"
		         "destinations = [\"%s\"]\nports = [\"*\"]\n",
		         cases[i].pat);
		struct acl_snapshot *s = compile_text(toml);
		if (CHECK(s)) {
			if (!CHECK(decide(s, "u", NULL, cases[i].name, NULL, 80, ACL_PROTO_TCP) ==
			           cases[i].want))
				fprintf(stderr, "    engine: %s vs %s\n", cases[i].pat,
				        cases[i].name);
			acl_snapshot_unref(s);
		}
	}
}

static void t_ports(void)
{
	static const struct {
		const char *in;
		int n; /* ranges, -1 error */
		bool any;
		unsigned yes, no;
	} cases[] = {
	    {"*", 0, true, 1, 0},
	    {"443", 1, false, 443, 444},
	    {"1", 1, false, 1, 2},
	    {"65535", 1, false, 65535, 65534},
	    {"8000-9000", 1, false, 8500, 9001},
	    {"8000-8000", 1, false, 8000, 7999},
	    {"80,443,8080", 3, false, 8080, 81},
	    {"80, 443 ,8080", 3, false, 443, 442},
	    {"22,8000-9000", 2, false, 8999, 23},
	    {"0", -1, false, 0, 0},
	    {"65536", -1, false, 0, 0},
	    {"70000", -1, false, 0, 0},
	    {"9000-8000", -1, false, 0, 0},
	    {"0-10", -1, false, 0, 0},
	    {"", -1, false, 0, 0},
	    {"80,", -1, false, 0, 0},
	    {",80", -1, false, 0, 0},
	    {"80,,443", -1, false, 0, 0},
	    {"http", -1, false, 0, 0},
	    {"-80", -1, false, 0, 0},
	    {"80-", -1, false, 0, 0},
	    {"1-2-3", -1, false, 0, 0},
	    {"+80", -1, false, 0, 0},
	    {"80,*", -1, false, 0, 0},
	    {"123456", -1, false, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl_port_range r[8];
		bool any;
		char err[200];
		int n =
		    acl_ports_parse(cases[i].in, strlen(cases[i].in), r, 8, &any, err, sizeof(err));
		if (!CHECK(n == cases[i].n)) {
			fprintf(stderr, "    ports '%s': %d want %d\n", cases[i].in, n, cases[i].n);
			continue;
		}
		if (n < 0) {
			CHECK(err[0]);
			continue;
		}
		CHECK(any == cases[i].any);
		/* through the engine */
		char toml[512];
		snprintf(toml, sizeof(toml),
		         "[[users]]\nusername = \"u\"\n[[users.rules]]\naction = \"allow\"\n"
		         "destinations = [\"*\"]\nports = [\"%s\"]\n",
		         cases[i].in);
		struct acl_snapshot *s = compile_text(toml);
		if (CHECK(s)) {
			CHECK(decide(s, "u", NULL, "x.org", NULL, cases[i].yes, ACL_PROTO_TCP));
			if (!cases[i].any)
				CHECK(!decide(s, "u", NULL, "x.org", NULL, cases[i].no,
				              ACL_PROTO_TCP));
			acl_snapshot_unref(s);
		}
	}
	/* Several elements, overlapping and adjacent ranges merge correctly. */
	struct acl_snapshot *s = compile_text(
	    "[[users]]\nusername = \"u\"\n[[users.rules]]\naction = \"allow\"\n"
	    "destinations = [\"*\"]\nports = [\"100-200\", \"150-300\", \"301\", \"5,7\"]\n");
	if (CHECK(s)) {
		unsigned yes[] = {5, 7, 100, 250, 300, 301};
		unsigned no[] = {4, 6, 8, 99, 302, 65535};
		for (size_t i = 0; i < 6; i++) {
			CHECK(decide(s, "u", NULL, "x.org", NULL, yes[i], ACL_PROTO_TCP));
			CHECK(!decide(s, "u", NULL, "x.org", NULL, no[i], ACL_PROTO_TCP));
		}
		acl_snapshot_unref(s);
	}
}

static void t_protocols(void)
{
	static const struct {
		const char *protos;
		bool tcp, udp;
	} cases[] = {
	    {"\"tcp\"", true, false}, {"\"udp\"", false, true},         {"\"both\"", true, true},
	    {"\"*\"", true, true},    {"\"tcp\", \"udp\"", true, true},
	};
	unsigned bits;
	CHECK(acl_proto_parse("TCP", 3, &bits) < 0);
	CHECK(acl_proto_parse("icmp", 4, &bits) < 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char toml[512];
		snprintf(toml, sizeof(toml),
		         "[[users]]\nusername = \"u\"\n[[users.rules]]\naction = \"allow\"\n"
		         "destinations = [\"*\"]\nports = [\"*\"]\nprotocols = [%s]\n",
		         cases[i].protos);
		struct acl_snapshot *s = compile_text(toml);
		if (CHECK(s)) {
			CHECK(decide(s, "u", NULL, "a.b", NULL, 1, ACL_PROTO_TCP) == cases[i].tcp);
			CHECK(decide(s, "u", NULL, "a.b", NULL, 1, ACL_PROTO_UDP) == cases[i].udp);
			acl_snapshot_unref(s);
		}
	}
	/* protocols absent = both (RustSocks' default) */
	struct acl_snapshot *s = compile_text("[[users]]\nusername = \"u\"\n[[users.rules]]\n"
	                                      "action = \"allow\"\ndestinations = [\"*\"]\n"
	                                      "ports = [\"*\"]\n");
	if (CHECK(s)) {
		CHECK(decide(s, "u", NULL, "a.b", NULL, 1, ACL_PROTO_UDP));
		acl_snapshot_unref(s);
	}
}

/* ---- evaluation order -------------------------------------------------- */

static const char *ORDER_TOML =
    "[global]\ndefault_policy = \"block\"\n"
    "[[users]]\nusername = \"alice\"\ngroups = [\"staff\"]\n"
    "[[users.rules]]\naction = \"allow\"\ndescription = \"alice high allow\"\n"
    "destinations = [\"*.social.com\"]\nports = [\"*\"]\npriority = 300\n"
    "[[users.rules]]\naction = \"allow\"\ndescription = \"alice eq allow\"\n"
    "destinations = [\"tie.com\"]\nports = [\"*\"]\npriority = 150\n"
    "[[groups]]\nname = \"staff\"\n"
    "[[groups.rules]]\naction = \"block\"\ndescription = \"staff block social\"\n"
    "destinations = [\"*.social.com\", \"tie.com\"]\nports = [\"*\"]\npriority = 150\n"
    "[[groups.rules]]\naction = \"allow\"\ndescription = \"staff allow web\"\n"
    "destinations = [\"*\"]\nports = [\"80\", \"443\"]\nprotocols = [\"tcp\"]\npriority = 100\n"
    "[[groups]]\nname = \"Contractors\"\n"
    "[[groups.rules]]\naction = \"block\"\ndescription = \"contractors block all\"\n"
    "destinations = [\"*\"]\nports = [\"*\"]\npriority = 1000\n";

static void t_order(void)
{
	struct acl_snapshot *s = compile_text(ORDER_TOML);
	if (!CHECK(s))
		return;
	/* A high-priority user ALLOW beats a lower-priority group BLOCK. */
	CHECK(decide(s, "alice", NULL, "www.social.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "alice high allow");
	/* Equal priority: BLOCK wins over ALLOW, whichever owner. */
	CHECK(!decide(s, "alice", NULL, "tie.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "staff block social");
	CHECK_STR(last.rule->owner, "staff");
	CHECK_INT(last.rule->owner_kind, ACL_OWNER_GROUP);
	CHECK_INT(last.rule->priority, 150);
	/* Fall through to a lower rule; then default policy. */
	CHECK(decide(s, "alice", NULL, "example.org", NULL, 80, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "staff allow web");
	CHECK(!decide(s, "alice", NULL, "example.org", NULL, 80, ACL_PROTO_UDP));
	CHECK(last.default_policy && last.rule == NULL);
	CHECK(!decide(s, "alice", NULL, "example.org", NULL, 22, ACL_PROTO_TCP));
	CHECK(last.default_policy);
	/* A resolved group of high priority blocks everything (case-insensitive). */
	const char *g[] = {"CONTRACTORS", NULL};
	CHECK(!decide(s, "alice", g, "www.social.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "contractors block all");
	acl_snapshot_unref(s);

	/* Default policy allow. */
	s = compile_text("[global]\ndefault_policy = \"allow\"\n");
	if (CHECK(s)) {
		CHECK(decide(s, "nobody", NULL, "x.com", NULL, 1, ACL_PROTO_TCP));
		CHECK(last.default_policy);
		CHECK(decide(s, NULL, NULL, NULL, "1.2.3.4", 1, ACL_PROTO_UDP));
		acl_snapshot_unref(s);
	}
	/* No [global] at all: block. */
	s = compile_text("");
	if (CHECK(s)) {
		CHECK(!decide(s, "x", NULL, "x.com", NULL, 1, ACL_PROTO_TCP));
		acl_snapshot_unref(s);
	}
	/* File order breaks full ties, user rules before group rules. */
	s = compile_text("[[users]]\nusername = \"u\"\ngroups = [\"g\"]\n"
	                 "[[users.rules]]\naction = \"allow\"\ndescription = \"u1\"\n"
	                 "destinations = [\"*\"]\nports = [\"*\"]\n"
	                 "[[users.rules]]\naction = \"allow\"\ndescription = \"u2\"\n"
	                 "destinations = [\"*\"]\nports = [\"*\"]\n"
	                 "[[groups]]\nname = \"g\"\n"
	                 "[[groups.rules]]\naction = \"allow\"\ndescription = \"g1\"\n"
	                 "destinations = [\"*\"]\nports = [\"*\"]\n");
	if (CHECK(s)) {
		CHECK(decide(s, "u", NULL, "x.com", NULL, 1, ACL_PROTO_TCP));
		CHECK_STR(last_desc(), "u1");
		CHECK_INT(last.rule->index, 0);
		CHECK(decide(s, "other", (const char *[]){"g", NULL}, "x.com", NULL, 1,
		             ACL_PROTO_TCP));
		CHECK_STR(last_desc(), "g1");
		acl_snapshot_unref(s);
	}
}

static struct acl_snapshot *compile_mode(const char *toml, enum acl_eval_mode mode)
{
	struct acl_msgs m;
	char err[256];
	acl_msgs_init(&m);
	struct acl_config *c = acl_config_parse(toml, strlen(toml), "t.toml", &m);
	acl_msgs_fini(&m);
	if (!c)
		return NULL;
	c->mode = mode;
	struct acl_snapshot *s = acl_compile(c, err, sizeof(err));
	acl_config_free(c);
	return s;
}

/* acl.evaluation = "rustsocks": every BLOCK before any ALLOW, and "*.x" is
 * one label; "**.x" keeps any depth. The same file in priority mode
 * decides the other way, and acl_modes_differ() finds such a request. */
static void t_rustsocks_mode(void)
{
	static const char *toml =
	    "[[users]]\nusername = \"u\"\n"
	    "[[users.rules]]\naction = \"allow\"\ndescription = \"high allow\"\n"
	    "destinations = [\"www.social.com\"]\nports = [\"443\"]\npriority = 500\n"
	    "[[users.rules]]\naction = \"block\"\ndescription = \"low block\"\n"
	    "destinations = [\"*.social.com\"]\nports = [\"*\"]\npriority = 10\n"
	    "[[users.rules]]\naction = \"allow\"\ndescription = \"wild\"\n"
	    "destinations = [\"*.example.com\"]\nports = [\"*\"]\n"
	    "[[users.rules]]\naction = \"allow\"\ndescription = \"deep\"\n"
	    "destinations = [\"**.deep.org\"]\nports = [\"*\"]\n";
	struct acl_snapshot *p = compile_mode(toml, ACL_EVAL_PRIORITY);
	struct acl_snapshot *r = compile_mode(toml, ACL_EVAL_RUSTSOCKS);
	if (!CHECK(p && r))
		goto out;
	CHECK(decide(p, "u", NULL, "www.social.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "high allow");
	CHECK(!decide(r, "u", NULL, "www.social.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "low block");
	CHECK(decide(p, "u", NULL, "a.b.example.com", NULL, 80, ACL_PROTO_TCP));
	CHECK(!decide(r, "u", NULL, "a.b.example.com", NULL, 80, ACL_PROTO_TCP));
	CHECK(last.default_policy);
	CHECK(decide(r, "u", NULL, "a.example.com", NULL, 80, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "wild");
	CHECK(!decide(r, "u", NULL, "example.com", NULL, 80, ACL_PROTO_TCP));
	CHECK(decide(r, "u", NULL, "a.b.c.deep.org", NULL, 80, ACL_PROTO_TCP));
	CHECK(decide(p, "u", NULL, "a.b.c.deep.org", NULL, 80, ACL_PROTO_TCP));
	CHECK_INT(acl_snapshot_config(r)->mode, ACL_EVAL_RUSTSOCKS);

	char ex[1400];
	struct acl_msgs m;
	acl_msgs_init(&m);
	struct acl_config *c = acl_config_parse(toml, strlen(toml), "t.toml", &m);
	if (CHECK(c)) {
		CHECK_INT(acl_modes_differ(c, ex, sizeof(ex)), 1);
		CHECK(strstr(ex, "user 'u'") && strstr(ex, "priority mode: ALLOW") &&
		      strstr(ex, "rustsocks mode: BLOCK"));
		acl_config_free(c);
	}
	/* Only BLOCK rules above ALLOW rules and no one-label wildcards: the
	 * modes agree and no example is reported. */
	static const char *agree =
	    "[[users]]\nusername = \"v\"\n"
	    "[[users.rules]]\naction = \"block\"\ndestinations = [\"a.com\"]\n"
	    "ports = [\"*\"]\npriority = 900\n"
	    "[[users.rules]]\naction = \"allow\"\ndestinations = [\"**.b.com\", \"c.com\"]\n"
	    "ports = [\"*\"]\npriority = 1\n";
	c = acl_config_parse(agree, strlen(agree), "t.toml", &m);
	if (CHECK(c)) {
		CHECK_INT(acl_modes_differ(c, ex, sizeof(ex)), 0);
		acl_config_free(c);
	}
	acl_msgs_fini(&m);
out:
	acl_snapshot_unref(p);
	acl_snapshot_unref(r);
}

static void t_groups(void)
{
	struct acl_snapshot *s =
	    compile_text("[global]\ndefault_policy = \"block\"\n"
	                 "[[users]]\nusername = \"bob\"\ngroups = [\"Dev\", \"directory-only\"]\n"
	                 "[[groups]]\nname = \"dev\"\n"
	                 "[[groups.rules]]\naction = \"allow\"\ndescription = \"dev\"\n"
	                 "destinations = [\"*.dev.corp\"]\nports = [\"*\"]\n"
	                 "[[groups]]\nname = \"Ops@AD.corp\"\n"
	                 "[[groups.rules]]\naction = \"allow\"\ndescription = \"ops\"\n"
	                 "destinations = [\"10.0.0.0/8\"]\nports = [\"22\"]\n");
	if (!CHECK(s))
		return;
	/* static group from the file, matched case-insensitively */
	CHECK(decide(s, "bob", NULL, "a.dev.corp", NULL, 1, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "dev");
	CHECK(!decide(s, "bob", NULL, NULL, "10.1.1.1", 22, ACL_PROTO_TCP));
	/* plus resolved groups */
	const char *ops[] = {"ops@ad.CORP", NULL};
	CHECK(decide(s, "bob", ops, NULL, "10.1.1.1", 22, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "ops");
	/* a user without an entry gets its resolved groups' rules */
	CHECK(decide(s, "carol", ops, NULL, "10.1.1.1", 22, ACL_PROTO_TCP));
	CHECK(!decide(s, "carol", NULL, NULL, "10.1.1.1", 22, ACL_PROTO_TCP));
	const char *many[] = {"x", "y", "DEV", "dev", "ops@ad.corp", "z", NULL};
	CHECK(decide(s, "carol", many, "q.dev.corp", NULL, 5, ACL_PROTO_TCP));
	CHECK(decide(s, "carol", many, NULL, "10.2.3.4", 22, ACL_PROTO_TCP));
	/* usernames are exact */
	CHECK(!decide(s, "BOB", NULL, "a.dev.corp", NULL, 1, ACL_PROTO_TCP));
	acl_snapshot_unref(s);
}

/* ---- two phases -------------------------------------------------------- */

static void t_two_phase(void)
{
	struct acl_snapshot *s = compile_text(
	    "[global]\ndefault_policy = \"allow\"\n"
	    "[[users]]\nusername = \"u\"\n"
	    "[[users.rules]]\naction = \"block\"\ndescription = \"block internal\"\n"
	    "destinations = [\"10.0.0.0/8\", \"fd00::/8\"]\nports = [\"*\"]\npriority = 200\n"
	    "[[users.rules]]\naction = \"allow\"\ndescription = \"trusted name\"\n"
	    "destinations = [\"trusted.corp\"]\nports = [\"*\"]\npriority = 300\n"
	    "[[users.rules]]\naction = \"block\"\ndescription = \"block bad names\"\n"
	    "destinations = [\"*.bad.com\"]\nports = [\"*\"]\npriority = 500\n"
	    "[[users.rules]]\naction = \"block\"\ndescription = \"low name block\"\n"
	    "destinations = [\"low.com\"]\nports = [\"*\"]\npriority = 50\n"
	    "[[users.rules]]\naction = \"allow\"\ndescription = \"allow cdn range\"\n"
	    "destinations = [\"198.51.100.0/24\"]\nports = [\"*\"]\npriority = 100\n");
	if (!CHECK(s))
		return;
	/* Phase 1, a name blocked by the top rule: final. */
	CHECK(!decide(s, "u", NULL, "x.bad.com", NULL, 443, ACL_PROTO_TCP));
	CHECK(!last.provisional);
	/* Phase 1 allows (default); an IP rule outranks the default: provisional. */
	CHECK(decide(s, "u", NULL, "intranet.corp", NULL, 443, ACL_PROTO_TCP));
	CHECK(last.provisional && last.default_policy);
	/* Phase 2: the name resolves into a blocked range -> that address blocked. */
	CHECK(!decide(s, "u", NULL, "intranet.corp", "10.1.2.3", 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "block internal");
	CHECK(decide(s, "u", NULL, "intranet.corp", "203.0.113.5", 443, ACL_PROTO_TCP));
	CHECK(!decide(s, "u", NULL, "intranet.corp", "::ffff:10.9.9.9", 443, ACL_PROTO_TCP));
	CHECK(!decide(s, "u", NULL, "intranet.corp", "fd12::1", 443, ACL_PROTO_TCP));
	/* A higher-priority name ALLOW beats the CIDR BLOCK in phase 2. */
	CHECK(decide(s, "u", NULL, "trusted.corp", NULL, 443, ACL_PROTO_TCP));
	CHECK(!last.provisional);
	CHECK(decide(s, "u", NULL, "trusted.corp", "10.1.2.3", 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "trusted name");
	/* A low-priority name BLOCK outranked by an IP ALLOW is provisional. */
	CHECK(!decide(s, "u", NULL, "low.com", NULL, 443, ACL_PROTO_TCP));
	CHECK(last.provisional);
	CHECK(decide(s, "u", NULL, "low.com", "198.51.100.7", 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "allow cdn range");
	CHECK(!decide(s, "u", NULL, "low.com", "203.0.113.1", 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "low name block");
	/* An IP request: one phase, never provisional. */
	CHECK(!decide(s, "u", NULL, NULL, "10.0.0.1", 80, ACL_PROTO_UDP));
	CHECK(!last.provisional);
	/* An IP literal sent as a name is matched as the address. */
	CHECK(!decide(s, "u", NULL, "10.0.0.1", NULL, 80, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "block internal");
	CHECK(!decide(s, "u", NULL, "[fd00::5]", NULL, 80, ACL_PROTO_TCP));
	acl_snapshot_unref(s);
}

/* ---- validation messages ----------------------------------------------- */

static void t_validation(void)
{
	static const struct {
		const char *toml;
		bool ok;  /* loads (maybe with warnings) */
		int line; /* line of the first message, 0 = no message expected */
		const char *substr;
	} cases[] = {
	    {"[global]\ndefault_policy = \"deny\"\n", false, 2, "unknown default_policy 'deny'"},
	    {"[global]\ndefault_policy = 1\n", false, 2, "expected string, got integer"},
	    {"[global]\nfoo = 1\n", true, 2, "warning: unknown key 'global.foo'"},
	    {"bar = 1\n", true, 1, "warning: unknown key 'bar'"},
	    {"users = 5\n", false, 1, "expected array of tables, got integer"},
	    {"[[users]]\ngroups = []\n", false, 1, "missing 'username'"},
	    {"[[users]]\nusername = 7\n", false, 2, "expected string, got integer"},
	    {"[[users]]\nusername = \"a\"\n[[users]]\nusername = \"a\"\n", false, 3,
	     "duplicate user 'a' (first defined at line 1)"},
	    {"[[groups]]\nname = \"G\"\n[[groups]]\nname = \"g\"\n", false, 3,
	     "duplicate group 'g'"},
	    {"[[users]]\nusername = \"a\"\ngroups = [\"nss-only\"]\n", true, 1,
	     "warning: user 'a': group 'nss-only' is not defined"},
	    {"[[users]]\nusername = \"a\"\ngroups = [1]\n", false, 3,
	     "expected string, got integer"},
	    {"[[users]]\nusername = \"a\"\ncolour = \"red\"\n", true, 3,
	     "warning: unknown key 'colour' in user 'a'"},
	    {"[[users]]\nusername = \"a\"\n\n[[users.rules]]\naction = \"permit\"\n"
	     "destinations = [\"*\"]\nports = [\"*\"]\n",
	     false, 5, "unknown action 'permit'"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\ndestinations = [\"*\"]\n"
	     "ports = [\"*\"]\n",
	     false, 3, "missing 'action'"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\",\n  \"10.0.0.0/33\"]\nports = [\"*\"]\n",
	     false, 6, "bad CIDR '10.0.0.0/33'"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"10.1.0.0/8\"]\nports = [\"*\"]\n",
	     true, 5, "warning: CIDR '10.1.0.0/8' has host bits set; using 10.0.0.0/8"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"300.1.1.1\"]\nports = [\"*\"]\n",
	     false, 5, "bad IPv4 address '300.1.1.1'"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"2001:db8:::1\"]\nports = [\"*\"]\n",
	     false, 5, "bad IPv6 address"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"a b.com\"]\nports = [\"*\"]\n",
	     false, 5, "invalid character ' '"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [\"0\"]\n",
	     false, 6, "bad port '0'"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [\"65536\"]\n",
	     false, 6, "ports are 1..65535"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [\"9000-8000\"]\n",
	     false, 6, "start is greater than end"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [443]\n",
	     false, 6, "'ports'[0]: expected string, got integer"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [\"*\"]\nprotocols = [\"icmp\"]\n",
	     false, 7, "unknown protocol 'icmp'"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [\"*\"]\npriority = \"high\"\n",
	     false, 7, "'priority': expected integer, got string"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [\"*\"]\npriority = -1\n",
	     false, 7, "priority -1 out of range"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\n",
	     true, 3, "warning: rule of user 'a' has no ports"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = []\nports = [\"*\"]\n",
	     true, 3, "warning: rule of user 'a' has no destinations"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [\"*\"]\nprotocols = []\n",
	     true, 3, "warning: rule of user 'a' has no protocols"},
	    {"[[users]]\nusername = \"a\"\n[[users.rules]]\naction = \"allow\"\n"
	     "destinations = [\"*\"]\nports = [\"*\"]\nweight = 3\n",
	     true, 7, "warning: unknown key 'weight' in a rule of user 'a'"},
	    {"[[groups]]\nname = \"g\"\n[[groups.rules]]\naction = \"block\"\n"
	     "destinations = \"*\"\nports = [\"*\"]\n",
	     false, 5, "'destinations': expected array of strings, got string"},
	    {"[global\n", false, 1, "t.toml:1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct acl_msgs m;
		char want[64];
		acl_msgs_init(&m);
		struct acl_config *c =
		    acl_config_parse(cases[i].toml, strlen(cases[i].toml), "t.toml", &m);
		bool ok = CHECK((c != NULL) == cases[i].ok);
		if (CHECK(m.n >= 1)) {
			snprintf(want, sizeof(want), "t.toml:%d:", cases[i].line);
			ok &= CHECK(strncmp(m.v[0], want, strlen(want)) == 0);
			ok &= CHECK(strstr(m.v[0], cases[i].substr) != NULL);
		} else {
			ok = false;
		}
		if (!ok) {
			fprintf(stderr, "    case %zu, want line %d '%s', got:\n", i, cases[i].line,
			        cases[i].substr);
			print_msgs(&m);
		}
		acl_config_free(c);
		acl_msgs_fini(&m);
	}
}

/* ---- RustSocks reference files ----------------------------------------- */

static struct acl_snapshot *load_file(const char *path, size_t *warnings)
{
	struct acl_msgs m;
	char err[256];
	acl_msgs_init(&m);
	struct acl_config *c = acl_config_load(path, &m);
	if (warnings)
		*warnings = m.n_warnings;
	if (!c) {
		print_msgs(&m);
		acl_msgs_fini(&m);
		return NULL;
	}
	acl_msgs_fini(&m);
	struct acl_snapshot *s = acl_compile(c, err, sizeof(err));
	acl_config_free(c);
	return s;
}

static void t_reference_acl(void)
{
	size_t w;
	struct acl_snapshot *s = load_file("data/acl/acl.toml", &w);
	if (!CHECK(s))
		return;
	CHECK_INT(w, 0);
	CHECK_INT(acl_snapshot_rule_count(s), 5);
	CHECK(decide(s, "alice", NULL, "x.dev.company.com", NULL, 8080, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "Dev servers and any port");
	CHECK_STR(last.rule->owner, "developers");
	CHECK(decide(s, "alice", NULL, NULL, "1.2.3.4", 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "Allow HTTPS to all destinations");
	CHECK_STR(last.rule->owner, "alice");
	CHECK(!decide(s, "alice", NULL, NULL, "1.2.3.4", 80, ACL_PROTO_TCP));
	CHECK(last.default_policy);
	CHECK(decide(s, "alice", NULL, "db.prod.company.com", NULL, 22, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "SSH access to production");
	CHECK_INT(last.rule->priority, 200);
	CHECK(decide(s, "alice", NULL, "1.2.3.4", NULL, 22, ACL_PROTO_UDP));
	CHECK_STR(last_desc(), "SSH");
	CHECK(!decide(s, "alice", NULL, "x.dev.company.com", NULL, 8080, ACL_PROTO_UDP));
	CHECK(decide(s, "anonymous", NULL, "anything.example", NULL, 9, ACL_PROTO_UDP));
	CHECK(!decide(s, "mallory", NULL, "anything.example", NULL, 443, ACL_PROTO_TCP));
	acl_snapshot_unref(s);

	s = load_file("data/acl/acl.example.toml", &w);
	if (CHECK(s)) {
		CHECK_INT(w, 0);
		CHECK(decide(s, "alice", NULL, "example.com", NULL, 80, ACL_PROTO_TCP));
		CHECK(!decide(s, "alice", NULL, "example.com", NULL, 22, ACL_PROTO_TCP));
		/* test123 is defined but not alice's group here */
		CHECK(!decide(s, "alice", NULL, "a.prod.company.com", NULL, 22, ACL_PROTO_TCP));
		acl_snapshot_unref(s);
	}
}

static void t_reference_ad(void)
{
	size_t w;
	struct acl_snapshot *s = load_file("data/acl/acl-ad-example.toml", &w);
	if (!CHECK(s))
		return;
	CHECK_INT(w, 0);
	/* The file's own worked example. */
	CHECK(decide(s, "alice@ad.company.com", NULL, "app.dev.company.com", NULL, 443,
	             ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "Developers: Access to dev/staging/test environments");
	CHECK(
	    !decide(s, "alice@ad.company.com", NULL, "www.facebook.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "Employees: Block social media during work hours");
	CHECK(decide(s, "alice@ad.company.com", NULL, "news.bbc.co.uk", NULL, 443, ACL_PROTO_TCP));
	CHECK(decide(s, "alice@ad.company.com", NULL, "db.prod.company.com", NULL, 5432,
	             ACL_PROTO_TCP));
	CHECK_INT(last.rule->priority, 600);
	/* bob (temp) is blocked from the HR subnet, allowed other private ranges */
	CHECK(!decide(s, "bob@ad.company.com", NULL, NULL, "10.10.50.7", 443, ACL_PROTO_TCP));
	CHECK(decide(s, "bob@ad.company.com", NULL, NULL, "10.10.51.7", 443, ACL_PROTO_TCP));
	CHECK(!decide(s, "bob@ad.company.com", NULL, "twitter.com", NULL, 443, ACL_PROTO_TCP));
	/* a directory user with resolved AD groups, case-insensitive */
	const char *g[] = {"domain users", "FINANCE@AD.COMPANY.COM", NULL};
	CHECK(!decide(s, "dave", g, "www.binance.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "Finance: Block cryptocurrency exchanges");
	CHECK(decide(s, "dave", g, "erp.company.com", NULL, 8443, ACL_PROTO_TCP));
	CHECK(decide(s, "dave", g, "example.org", NULL, 443, ACL_PROTO_TCP));
	CHECK(!decide(s, "dave", g, "example.org", NULL, 22, ACL_PROTO_TCP));
	const char *admin[] = {"Domain Admins@ad.company.com", NULL};
	CHECK(decide(s, "root", admin, "www.facebook.com", NULL, 1, ACL_PROTO_UDP));
	acl_snapshot_unref(s);
}

/* Our RustSocks-format fixtures (tests/data/rustsocks/). */
static void t_fixture_acl(void)
{
	size_t w;
	struct acl_snapshot *s = load_file("../data/rustsocks/acl.toml", &w);
	if (!CHECK(s))
		return;
	CHECK_INT(w, 0);
	CHECK_INT(acl_snapshot_rule_count(s), 6);
	CHECK(decide(s, "anonymous", NULL, NULL, "127.0.0.1", 9, ACL_PROTO_UDP));
	CHECK(!decide(s, "anonymous", NULL, NULL, "10.0.0.1", 80, ACL_PROTO_TCP));
	CHECK(last.default_policy);
	CHECK(decide(s, "guest", NULL, NULL, "127.0.0.2", 8080, ACL_PROTO_TCP));
	CHECK(!decide(s, "guest", NULL, NULL, "127.0.0.2", 53, ACL_PROTO_UDP));
	/* carol's own block outranks her group's allow */
	CHECK(!decide(s, "carol", NULL, "mx.build.example.com", NULL, 25, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "carol: no SMTP anywhere");
	CHECK(decide(s, "carol", NULL, "ci.build.example.com", NULL, 8080, ACL_PROTO_TCP));
	CHECK_STR(last.rule->owner, "engineering");
	CHECK(decide(s, "carol", NULL, NULL, "192.0.2.10", 8050, ACL_PROTO_UDP));
	CHECK_INT(last.rule->priority, 200);
	CHECK(!decide(s, "carol", NULL, NULL, "192.0.2.10", 8100, ACL_PROTO_UDP));
	acl_snapshot_unref(s);
}

static void t_fixture_ad_groups(void)
{
	size_t w;
	struct acl_snapshot *s = load_file("../data/rustsocks/examples/acl-ad.toml", &w);
	if (!CHECK(s))
		return;
	CHECK_INT(w, 0);
	const char *dev[] = {"domain users", "developers@AD.company.com", NULL};
	CHECK(decide(s, "erin", dev, "app.dev.company.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "Developers: dev and staging hosts");
	CHECK(!decide(s, "erin", dev, "db.prod.company.com", NULL, 5432, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "Developers: never production databases");
	CHECK(!decide(s, "erin", dev, "example.org", NULL, 443, ACL_PROTO_TCP));
	CHECK(last.default_policy);
	/* the contractor's user entry names its group and narrows it */
	CHECK(decide(s, "contractor@ad.company.com", NULL, "x.staging.company.com", NULL, 22,
	             ACL_PROTO_TCP));
	CHECK(
	    !decide(s, "contractor@ad.company.com", NULL, "github.com", NULL, 443, ACL_PROTO_TCP));
	CHECK_STR(last_desc(), "contractor: no code hosting");
	const char *admin[] = {"Domain Admins@ad.company.com", NULL};
	CHECK(decide(s, "root", admin, "anything.example", NULL, 1, ACL_PROTO_UDP));
	acl_snapshot_unref(s);
}

/* ---- serialising and CRUD ---------------------------------------------- */

static void roundtrip(const char *src)
{
	struct acl_msgs m;
	acl_msgs_init(&m);
	struct acl_config *a = acl_config_load(src, &m);
	if (!CHECK(a)) {
		print_msgs(&m);
		acl_msgs_fini(&m);
		return;
	}
	char *out = write_tmp("roundtrip.toml", "");
	CHECK_INT(acl_config_write(a, out), 0);
	struct acl_msgs m2;
	acl_msgs_init(&m2);
	struct acl_config *b = acl_config_load(out, &m2);
	if (CHECK(b)) {
		CHECK(acl_config_equal(a, b));
		CHECK_INT(m2.n_warnings, 0);
	} else {
		print_msgs(&m2);
	}
	acl_config_free(a);
	acl_config_free(b);
	acl_msgs_fini(&m);
	acl_msgs_fini(&m2);
	free(out);
}

static void t_roundtrip(void)
{
	roundtrip("data/acl/acl.toml");
	roundtrip("data/acl/acl.example.toml");
	roundtrip("data/acl/acl-ad-example.toml");
	roundtrip("../data/rustsocks/acl.toml");
	roundtrip("../data/rustsocks/examples/acl-ad.toml");
	/* strings needing escapes */
	char *p = write_tmp("esc.toml", "[[users]]\nusername = \"we\\\"ird\\\\name\"\n"
	                                "[[users.rules]]\naction = \"block\"\n"
	                                "description = \"tab\\there\\nnewline \\u0001 \\u00e9\"\n"
	                                "destinations = [\"10.1.0.0/8\"]\nports = [\"1-2,5\"]\n"
	                                "protocols = [\"udp\"]\npriority = 4294967295\n");
	roundtrip(p);
	free(p);
}

static void t_crud(void)
{
	struct acl_config *c = acl_config_new();
	char err[256];
	char *dests[] = {"*.example.com", "10.1.2.3/8"};
	char *bad_dests[] = {"1..2.3.4"};
	char *ports[] = {"443"};
	struct acl_rule r = {.action = ACL_ALLOW,
	                     .description = "web",
	                     .destinations = dests,
	                     .n_destinations = 2,
	                     .ports = ports,
	                     .n_ports = 1,
	                     .protocols = ACL_PROTO_TCP,
	                     .priority = 100};
	struct acl_user u = {.username = "alice"};
	struct acl_group g = {.name = "Dev"};

	CHECK_INT(acl_config_user_add(c, &u, err, sizeof(err)), 0);
	CHECK_INT(acl_config_user_add(c, &u, err, sizeof(err)), -EEXIST);
	CHECK_INT(acl_config_group_add(c, &g, err, sizeof(err)), 0);
	struct acl_group g2 = {.name = "DEV"};
	CHECK_INT(acl_config_group_add(c, &g2, err, sizeof(err)), -EEXIST);
	CHECK_INT(acl_config_rule_add(c, ACL_OWNER_USER, "alice", &r, err, sizeof(err)), 0);
	CHECK_STR(c->users[0].rules[0].destinations[1], "10.0.0.0/8"); /* normalised */
	CHECK_INT(acl_config_rule_add(c, ACL_OWNER_GROUP, "dev", &r, err, sizeof(err)), 0);
	/* A second rule with the same destinations and ports is refused. */
	CHECK_INT(acl_config_rule_add(c, ACL_OWNER_USER, "alice", &r, err, sizeof(err)), -EEXIST);
	CHECK(strstr(err, "already exists for user 'alice'") != NULL);
	CHECK_INT((int)c->users[0].n_rules, 1);
	/* A rule for a user or group that does not exist creates it. */
	CHECK_INT(acl_config_rule_add(c, ACL_OWNER_USER, "nobody", &r, err, sizeof(err)), 0);
	CHECK(acl_config_find_user(c, "nobody") && acl_config_find_user(c, "nobody")->n_rules == 1);
	CHECK_INT(acl_config_user_del(c, "nobody"), 0);
	struct acl_rule bad = r;
	bad.destinations = bad_dests;
	bad.n_destinations = 1;
	CHECK_INT(acl_config_rule_add(c, ACL_OWNER_USER, "alice", &bad, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "bad IPv4 address") != NULL);
	r.action = ACL_BLOCK;
	r.description = "replaced";
	CHECK_INT(acl_config_rule_replace(c, ACL_OWNER_USER, "alice", 0, &r, err, sizeof(err)), 0);
	CHECK_STR(c->users[0].rules[0].description, "replaced");
	CHECK_INT(acl_config_rule_replace(c, ACL_OWNER_USER, "alice", 5, &r, err, sizeof(err)),
	          -ENOENT);
	CHECK_INT(acl_config_set_default_policy(c, ACL_ALLOW), 0);
	CHECK_INT(acl_config_validate(c, NULL), 0);

	struct acl_snapshot *s = acl_compile(c, err, sizeof(err));
	if (CHECK(s)) {
		CHECK(!decide(s, "alice", NULL, "www.example.com", NULL, 443, ACL_PROTO_TCP));
		CHECK_STR(last_desc(), "replaced");
		CHECK(decide(s, "alice", NULL, "www.example.com", NULL, 80, ACL_PROTO_TCP));
		CHECK(last.default_policy);
		acl_snapshot_unref(s);
	}
	struct acl_user u2 = {.username = "alice2"};
	CHECK_INT(acl_config_user_replace(c, "alice", &u2, err, sizeof(err)), 0);
	CHECK(acl_config_find_user(c, "alice") == NULL);
	CHECK_INT(c->users[0].n_rules, 0);
	CHECK_INT(acl_config_rule_del(c, ACL_OWNER_GROUP, "Dev", 0), 0);
	CHECK_INT(acl_config_rule_del(c, ACL_OWNER_GROUP, "Dev", 0), -ENOENT);
	CHECK_INT(acl_config_group_del(c, "dEV"), 0);
	CHECK_INT(acl_config_user_del(c, "alice2"), 0);
	CHECK_INT(acl_config_user_del(c, "alice2"), -ENOENT);
	CHECK_INT(c->n_users + c->n_groups, 0);
	acl_config_free(c);
}

/* ---- engine properties ------------------------------------------------- */

static void t_no_alloc(void)
{
	struct acl_snapshot *s = load_file("data/acl/acl-ad-example.toml", NULL);
	if (!CHECK(s))
		return;
	const char *g[] = {"Employees@ad.company.com", "Temps@ad.company.com", "x", NULL};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "::ffff:10.10.50.1", &in6.sin6_addr);
	struct acl_request reqs[] = {
	    {.user = "alice@ad.company.com",
	     .domain = "a.b.dev.company.com",
	     .port = 443,
	     .proto = ACL_PROTO_TCP},
	    {.user = "bob@ad.company.com",
	     .domain = "intranet.company.com",
	     .addr = (const struct sockaddr *)&in6,
	     .port = 80,
	     .proto = ACL_PROTO_UDP},
	    {.user = "zed",
	     .groups = g,
	     .n_groups = 3,
	     .domain = "x.y.z.twitter.com",
	     .port = 1,
	     .proto = ACL_PROTO_TCP},
	    {.user = "zed",
	     .groups = g,
	     .n_groups = 3,
	     .domain = "10.1.1.1",
	     .port = 1,
	     .proto = ACL_PROTO_TCP},
	};
	struct acl_decision d;
	if (COUNT_MALLOC) { /* the counter does see allocations */
		long b0 = atomic_load(&n_allocs);
		void *volatile p = malloc(16);
		CHECK(atomic_load(&n_allocs) == b0 + 1);
		free(p);
	}
	long before = atomic_load(&n_allocs);
	for (int i = 0; i < 1000; i++)
		for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++)
			acl_evaluate(s, &reqs[k], &d);
	CHECK_INT(atomic_load(&n_allocs) - before, 0);
	if (!COUNT_MALLOC)
		printf("    (allocation count not checked under ASan)\n");
	acl_snapshot_unref(s);
}

static void t_refcount_and_counters(void)
{
	struct acl_snapshot *s = compile_text(ORDER_TOML);
	if (!CHECK(s))
		return;
	CHECK(acl_snapshot_ref(s) == s);
	acl_snapshot_unref(s);
	decide(s, "alice", NULL, "tie.com", NULL, 1, ACL_PROTO_TCP);
	acl_snapshot_count(s, &last);
	acl_snapshot_count(s, &last);
	CHECK_INT(acl_snapshot_rule_hits(s, last.rule->id), 2);
	CHECK(acl_snapshot_rule(s, last.rule->id) == last.rule);
	decide(s, "alice", NULL, "nowhere", NULL, 1, ACL_PROTO_UDP);
	acl_snapshot_count(s, &last);
	uint64_t a, b;
	acl_snapshot_default_hits(s, &a, &b);
	CHECK_INT(a, 0);
	CHECK_INT(b, 1);
	char buf[256];
	acl_decision_format(&last, buf, sizeof(buf));
	CHECK_STR(buf, "block by default policy");
	decide(s, "alice", NULL, "tie.com", NULL, 1, ACL_PROTO_TCP);
	acl_decision_format(&last, buf, sizeof(buf));
	CHECK(strstr(buf,
	             "block by group 'staff' rule #0 \"staff block social\" (priority 150, line") ==
	      buf);
	acl_snapshot_unref(s);
}

static void stats_cb(const char *user, uint64_t allowed, uint64_t blocked, void *arg)
{
	uint64_t *sum = arg;
	if (strcmp(user, "alice") == 0) {
		sum[0] += allowed;
		sum[1] += blocked;
	}
	sum[2]++;
}

static void t_stats(void)
{
	struct acl_stats *st = acl_stats_new(2);
	acl_stats_record(st, "alice", true);
	acl_stats_record(st, "alice", false);
	acl_stats_record(st, "alice", true);
	acl_stats_record(st, "bob", true);
	acl_stats_record(st, "carol", false); /* over the cap: "(other)" */
	uint64_t sum[3] = {0};
	acl_stats_foreach_user(st, stats_cb, sum);
	CHECK_INT(sum[0], 2);
	CHECK_INT(sum[1], 1);
	CHECK_INT(sum[2], 3); /* alice, bob, (other) */
	uint64_t a, b;
	acl_stats_totals(st, &a, &b);
	CHECK_INT(a, 3);
	CHECK_INT(b, 2);
	acl_stats_free(st);
}

static unsigned rnd(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 8;
}

/* A big generated rule set agrees with a brute-force evaluation. */
static void t_big_vs_bruteforce(void)
{
	struct acl_config *c = acl_config_new();
	char err[256];
	unsigned seed = 12345;
#define RND() rnd(&seed)
	for (int gi = 0; gi < 20; gi++) {
		char name[32];
		snprintf(name, sizeof(name), "g%d", gi);
		struct acl_group g = {.name = name};
		acl_config_group_add(c, &g, err, sizeof(err));
	}
	for (int i = 0; i < 600; i++) {
		char d[64], p[32];
		char *dp = d, *pp = p;
		switch (RND() % 6) {
		case 0:
			snprintf(d, sizeof(d), "h%u.example.com", RND() % 20);
			break;
		case 1:
			snprintf(d, sizeof(d), "*.d%u.com", RND() % 10);
			break;
		case 2:
			snprintf(d, sizeof(d), "10.%u.0.0/16", RND() % 8);
			break;
		case 3:
			snprintf(d, sizeof(d), "10.%u.%u.0/24", RND() % 8, RND() % 4);
			break;
		case 4:
			snprintf(d, sizeof(d), "api.*.d%u.com", RND() % 10);
			break;
		default:
			snprintf(d, sizeof(d), "*");
			break;
		}
		switch (RND() % 3) {
		case 0:
			snprintf(p, sizeof(p), "*");
			break;
		case 1:
			snprintf(p, sizeof(p), "%u", 1 + RND() % 5);
			break;
		default:
			snprintf(p, sizeof(p), "%u-%u", 1 + RND() % 3, 3 + RND() % 3);
			break;
		}
		struct acl_rule r = {.action = RND() % 2 ? ACL_BLOCK : ACL_ALLOW,
		                     .description = "",
		                     .destinations = &dp,
		                     .n_destinations = 1,
		                     .ports = &pp,
		                     .n_ports = 1,
		                     .protocols = 1 + RND() % 3,
		                     .priority = RND() % 5};
		char owner[32];
		snprintf(owner, sizeof(owner), "g%u", RND() % 20);
		acl_config_rule_add(c, ACL_OWNER_GROUP, owner, &r, err, sizeof(err));
	}
	struct acl_snapshot *s = acl_compile(c, err, sizeof(err));
	if (!CHECK(s)) {
		acl_config_free(c);
		return;
	}
	int mismatches = 0;
	for (int q = 0; q < 3000; q++) {
		char name[64], ip[32], g1[8], g2[8];
		snprintf(g1, sizeof(g1), "g%u", RND() % 20);
		snprintf(g2, sizeof(g2), "G%u", RND() % 20);
		const char *groups[] = {g1, g2, NULL};
		bool by_ip = RND() % 2;
		switch (RND() % 4) {
		case 0:
			snprintf(name, sizeof(name), "h%u.example.com", RND() % 20);
			break;
		case 1:
			snprintf(name, sizeof(name), "x.y.d%u.com", RND() % 10);
			break;
		case 2:
			snprintf(name, sizeof(name), "api.q.d%u.com", RND() % 10);
			break;
		default:
			snprintf(name, sizeof(name), "other.org");
			break;
		}
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", RND() % 8, RND() % 4, RND() % 256);
		unsigned port = 1 + RND() % 6;
		enum acl_proto proto = RND() % 2 ? ACL_PROTO_TCP : ACL_PROTO_UDP;
		decide(s, "nobody", groups, name, by_ip ? ip : NULL, port, proto);
		/* brute force: walk rules in rank order */
		size_t want = acl_snapshot_rule_count(s);
		char lname[ACL_DOMAIN_MAX + 1];
		int ln = acl_domain_normalise(name, strlen(name), lname);
		uint8_t a[16];
		int fam = by_ip ? acl_addr_from_sockaddr(sa(ip), a) : 0;
		for (size_t id = 0;
		     id < acl_snapshot_rule_count(s) && want == acl_snapshot_rule_count(s); id++) {
			const struct acl_rule_view *v = acl_snapshot_rule(s, id);
			if (strcasecmp(v->owner, g1) && strcasecmp(v->owner, g2))
				continue;
			const struct acl_group *gg =
			    acl_config_find_group(acl_snapshot_config(s), v->owner);
			const struct acl_rule *r = &gg->rules[v->index];
			if (!(r->protocols & proto))
				continue;
			bool pm = false;
			for (size_t k = 0; k < r->n_ports && !pm; k++) {
				struct acl_port_range pr[4];
				bool any;
				int n = acl_ports_parse(r->ports[k], strlen(r->ports[k]), pr, 4,
				                        &any, NULL, 0);
				pm = any || (n == 1 && port >= pr[0].lo && port <= pr[0].hi);
			}
			if (!pm)
				continue;
			for (size_t k = 0; k < r->n_destinations; k++) {
				struct acl_dest d;
				acl_dest_parse(r->destinations[k], strlen(r->destinations[k]), &d,
				               NULL, 0);
				if (acl_domain_match(&d, lname, (size_t)ln) ||
				    (fam && acl_ip_match(&d, fam, a)))
					want = id;
			}
		}
		size_t got = last.rule ? last.rule->id : acl_snapshot_rule_count(s);
		if (got != want && mismatches++ < 5)
			fprintf(stderr, "    mismatch %s %s port %u proto %d: got %zu want %zu\n",
			        name, by_ip ? ip : "-", port, proto, got, want);
	}
	CHECK_INT(mismatches, 0);
	acl_snapshot_unref(s);
	acl_config_free(c);
#undef RND
}

/* ---- manager, reload, inotify ------------------------------------------ */

static const char *ALLOW_ALL = "[global]\ndefault_policy = \"allow\"\n";
static const char *BLOCK_ALL = "[global]\ndefault_policy = \"block\"\n";

static int reloads_seen;
static void on_reload(struct acl_snapshot *snap, void *arg)
{
	(void)snap;
	(void)arg;
	reloads_seen++;
}

static bool mgr_allows(struct acl_manager *m)
{
	struct acl_snapshot *s = acl_manager_acquire(m);
	bool ok = decide(s, "u", NULL, "x.com", NULL, 1, ACL_PROTO_TCP);
	acl_manager_record(m, s, "u", &last);
	acl_snapshot_unref(s);
	return ok;
}

static void t_reload(void)
{
	struct acl_msgs m;
	char *path = write_tmp("reload.toml", ALLOW_ALL);
	acl_msgs_init(&m);
	struct acl_manager *mgr = acl_manager_new(path, ACL_EVAL_PRIORITY, &m);
	acl_msgs_fini(&m);
	if (!CHECK(mgr)) {
		free(path);
		return;
	}
	CHECK_INT(acl_manager_on_reload(mgr, on_reload, NULL), 0);
	reloads_seen = 0;
	CHECK(mgr_allows(mgr));
	struct acl_snapshot *held = acl_manager_acquire(mgr);

	free(write_tmp("reload.toml", BLOCK_ALL));
	CHECK_INT(acl_manager_reload(mgr, NULL), 0);
	CHECK(!mgr_allows(mgr));
	CHECK_INT(reloads_seen, 1);
	CHECK_INT(acl_manager_generation(mgr), 2);
	/* the old snapshot stays valid for its holder */
	CHECK(decide(held, "u", NULL, "x.com", NULL, 1, ACL_PROTO_TCP));
	acl_snapshot_unref(held);

	/* an invalid file keeps the old rules and says where */
	free(write_tmp("reload.toml", "[global]\ndefault_policy = \"allow\"\n"
	                              "[[users]]\nusername = \"u\"\n[[users.rules]]\n"
	                              "action = \"allow\"\ndestinations = [\"10.0.0.0/40\"]\n"
	                              "ports = [\"*\"]\n"));
	acl_msgs_init(&m);
	log_setup(LOGL_OFF, LOGF_TEXT);
	CHECK_INT(acl_manager_reload(mgr, &m), -EINVAL);
	log_setup(LOGL_WARN, LOGF_TEXT);
	CHECK(m.n_errors == 1 && strstr(m.v[0], "reload.toml:7:") != NULL);
	acl_msgs_fini(&m);
	CHECK(!mgr_allows(mgr));
	CHECK_INT(reloads_seen, 1);

	/* apply (admin API path): validate, write, swap */
	struct acl_config *c = acl_config_dup(acl_snapshot_config(held = acl_manager_acquire(mgr)));
	acl_snapshot_unref(held);
	acl_config_set_default_policy(c, ACL_ALLOW);
	acl_msgs_init(&m);
	CHECK_INT(acl_manager_apply(mgr, c, &m), 0);
	acl_msgs_fini(&m);
	CHECK(mgr_allows(mgr));
	struct acl_config *back = acl_config_load(path, NULL);
	CHECK(back && acl_config_equal(back, c));
	acl_config_free(back);
	acl_config_free(c);

	uint64_t a, b;
	acl_stats_totals(acl_manager_stats(mgr), &a, &b);
	CHECK_INT(a, 2);
	CHECK_INT(b, 2);
	acl_manager_free(mgr);
	free(path);
}

static bool wait_for(struct acl_manager *m, bool want_allow, int ms)
{
	int64_t end = time_mono_ms() + ms;
	while (time_mono_ms() < end) {
		if (mgr_allows(m) == want_allow)
			return true;
		usleep(10000);
	}
	return false;
}

static void t_inotify(void)
{
	char *path = write_tmp("watch.toml", ALLOW_ALL);
	struct acl_manager *mgr = acl_manager_new(path, ACL_EVAL_PRIORITY, NULL);
	if (!CHECK(mgr)) {
		free(path);
		return;
	}
	log_setup(LOGL_WARN, LOGF_TEXT);
	CHECK_INT(acl_manager_watch_start(mgr, 50), 0);
	CHECK(mgr_allows(mgr));
	/* editor-style save: write a temp file, rename over */
	int64_t t0 = time_mono_ms();
	free(write_tmp("watch.toml", BLOCK_ALL));
	CHECK(wait_for(mgr, false, 2000));
	printf("    reload after atomic rename seen in %lld ms\n",
	       (long long)(time_mono_ms() - t0));
	/* in-place rewrite (IN_CLOSE_WRITE) */
	FILE *f = fopen(path, "w");
	if (CHECK(f)) {
		fputs(ALLOW_ALL, f);
		fclose(f);
		CHECK(wait_for(mgr, true, 2000));
	}
	/* unrelated files in the directory do not matter; a broken save keeps rules */
	free(write_tmp("other.toml", BLOCK_ALL));
	log_setup(LOGL_OFF, LOGF_TEXT);
	free(write_tmp("watch.toml", "[global\n"));
	usleep(300000);
	CHECK(mgr_allows(mgr));
	log_setup(LOGL_WARN, LOGF_TEXT);
	acl_manager_watch_stop(mgr);
	acl_manager_watch_stop(mgr);
	acl_manager_free(mgr);
	free(path);
}

/* ---- CLI ---------------------------------------------------------------- */

static int run_cli(const char *const *args)
{
	char *argv[32];
	int argc = 0;
	for (; args[argc]; argc++)
		argv[argc] = (char *)args[argc];
	argv[argc] = NULL;
	/* keep the test output short */
	int saved_out = dup(1), saved_err = dup(2), null = open("/dev/null", O_WRONLY);
	fflush(stdout);
	dup2(null, 1);
	dup2(null, 2);
	int rc = acl_cli_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	close(null);
	return rc;
}

static void t_cli(void)
{
	char main_cfg[512];
	snprintf(main_cfg, sizeof(main_cfg),
	         "[server]\nport = 1080\n[acl]\nenabled = true\nconfig_file = \"%s/data/acl/"
	         "acl.toml\"\nanonymous_user = \"anonymous\"\n",
	         getcwd((char[256]){0}, 256));
	char *cfg = write_tmp("main.toml", main_cfg);
	char *bad = write_tmp("bad.toml", "[[users]]\nusername = 3\n");
	CHECK_INT(run_cli((const char *[]){"acl", "check", "data/acl/acl.toml", NULL}), 0);
	CHECK_INT(run_cli((const char *[]){"acl", "check", "data/acl/acl-ad-example.toml", NULL}),
	          0);
	CHECK_INT(run_cli((const char *[]){"acl", "check", bad, NULL}), 1);
	CHECK_INT(run_cli((const char *[]){"acl", "check", "data/acl/acl.toml", "--evaluation",
	                                   "rustsocks", NULL}),
	          0);
	CHECK_INT(run_cli((const char *[]){"acl", "check", "data/acl/acl.toml", "--evaluation",
	                                   "bogus", NULL}),
	          1);
	CHECK_INT(run_cli((const char *[]){"acl", "test", "--acl", "data/acl/acl.toml", "--user",
	                                   "alice", "--dest", "x.dev.company.com", "--port", "8080",
	                                   "--evaluation", "nope", NULL}),
	          1);
	CHECK_INT(run_cli((const char *[]){"acl", "check", "/nonexistent/acl.toml", NULL}), 1);
	CHECK_INT(
	    run_cli((const char *[]){"acl", "test", "--acl", "data/acl/acl.toml", "--user", "alice",
	                             "--dest", "x.dev.company.com", "--port", "8080", NULL}),
	    0);
	CHECK_INT(run_cli((const char *[]){"acl", "test", "--acl", "data/acl/acl.toml", "--user",
	                                   "alice", "--dest", "1.2.3.4", "--port", "80", NULL}),
	          2);
	CHECK_INT(run_cli((const char *[]){"acl", "test", "--acl", "data/acl/acl.toml", "--user",
	                                   "alice", "--dest", "x.dev.company.com", "--port", "8080",
	                                   "--proto", "udp", NULL}),
	          2);
	CHECK_INT(run_cli((const char *[]){"acl", "test", "-c", cfg, "--dest", "a.b", "--port", "9",
	                                   NULL}),
	          0); /* anonymous_user from the main config: allowed everything */
	CHECK_INT(run_cli((const char *[]){"acl", "test", "-c", cfg, "--user", "eve", "--group",
	                                   "developers", "--dest", "a.dev.company.com", "--port",
	                                   "1", NULL}),
	          0);
	CHECK_INT(run_cli((const char *[]){"acl", "test", "--dest", "a.b", "--port", "1", NULL}),
	          1);
	CHECK_INT(run_cli((const char *[]){"acl", "test", "--acl", "data/acl/acl.toml", "--dest",
	                                   "a.b", "--port", "70000", NULL}),
	          1);
	CHECK_INT(run_cli((const char *[]){"acl", "frobnicate", NULL}), 1);
	free(cfg);
	free(bad);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_acl.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	log_setup(LOGL_WARN, LOGF_TEXT);
	RUN(t_dest_parse);
	RUN(t_ip_match);
	RUN(t_domain_match);
	RUN(t_ports);
	RUN(t_protocols);
	RUN(t_order);
	RUN(t_rustsocks_mode);
	RUN(t_groups);
	RUN(t_two_phase);
	RUN(t_validation);
	RUN(t_reference_acl);
	RUN(t_reference_ad);
	RUN(t_fixture_acl);
	RUN(t_fixture_ad_groups);
	RUN(t_roundtrip);
	RUN(t_crud);
	RUN(t_no_alloc);
	RUN(t_refcount_and_counters);
	RUN(t_stats);
	RUN(t_big_vs_bruteforce);
	RUN(t_reload);
	RUN(t_inotify);
	RUN(t_cli);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return TEST_END("acl");
}

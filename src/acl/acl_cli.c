#include "acl/acl_cli.h"

#include "acl/acl_config.h"
#include "acl/acl_config_load.h"
#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "acl/acl_match.h"
#include "acl/acl_modes.h"
#include "toml/toml.h"
#include "util/strutil.h"

#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: csocks acl check FILE [--evaluation priority|rustsocks]\n"
	           "       csocks acl test (-c CONFIG | --acl FILE) [--user U] --dest D --port P\n"
	           "                       [--proto tcp|udp] [--group G]...\n"
	           "                       [--evaluation priority|rustsocks]\n");
}

static void print_msgs(const struct acl_msgs *m)
{
	for (size_t i = 0; i < m->n; i++)
		fprintf(stderr, "%s\n", m->v[i]);
}

static size_t count_rules(const struct acl_config *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_users; i++)
		n += c->users[i].n_rules;
	for (size_t i = 0; i < c->n_groups; i++)
		n += c->groups[i].n_rules;
	return n;
}

static int parse_mode(const char *s, enum acl_eval_mode *m)
{
	if (acl_eval_mode_parse(s, m) == 0)
		return 0;
	fprintf(stderr, "csocks acl: bad --evaluation '%s' (priority or rustsocks)\n", s);
	return -1;
}

/* The warning when the two modes decide a request differently. */
static void print_mode_difference(const struct acl_config *cfg)
{
	char ex[1400];
	if (acl_modes_differ(cfg, ex, sizeof(ex)) == 1)
		fprintf(stderr,
		        "warning: acl.evaluation matters for this file: the modes decide "
		        "differently, e.g. %s\n",
		        ex);
}

static int cmd_check(int argc, char **argv)
{
	struct acl_msgs msgs;
	enum acl_eval_mode mode = ACL_EVAL_PRIORITY;
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--evaluation") == 0 && i + 1 < argc) {
			if (parse_mode(argv[++i], &mode) < 0)
				return 1;
		} else if (!file && argv[i][0] != '-') {
			file = argv[i];
		} else {
			usage(stderr);
			return 1;
		}
	}
	if (!file) {
		usage(stderr);
		return 1;
	}
	acl_msgs_init(&msgs);
	struct acl_config *cfg = acl_config_load(file, &msgs);
	print_msgs(&msgs);
	if (!cfg) {
		fprintf(stderr, "%s: invalid (%zu error%s, %zu warning%s)\n", file, msgs.n_errors,
		        msgs.n_errors == 1 ? "" : "s", msgs.n_warnings,
		        msgs.n_warnings == 1 ? "" : "s");
		acl_msgs_fini(&msgs);
		return 1;
	}
	print_mode_difference(cfg);
	printf("%s: OK: %zu users, %zu groups, %zu rules, default policy %s, evaluation %s, "
	       "%zu warning%s\n",
	       file, cfg->n_users, cfg->n_groups, count_rules(cfg),
	       acl_action_name(cfg->default_policy), acl_eval_mode_name(mode), msgs.n_warnings,
	       msgs.n_warnings == 1 ? "" : "s");
	acl_config_free(cfg);
	acl_msgs_fini(&msgs);
	return 0;
}

/* Read [acl] config_file, anonymous_user and evaluation from the main
 * config (an --evaluation given on the command line wins). */
static int read_main_config(const char *path, char **acl_file, char **anon,
                            enum acl_eval_mode *mode, bool mode_set)
{
	char err[512];
	struct toml_value *root = toml_parse_file(path, err, sizeof(err));
	if (!root) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	const struct toml_value *acl = toml_table_get(root, "acl");
	const struct toml_value *f = acl ? toml_table_get(acl, "config_file") : NULL;
	const struct toml_value *a = acl ? toml_table_get(acl, "anonymous_user") : NULL;
	int rc = 0;
	if (!f || f->type != TOML_STRING) {
		fprintf(stderr, "%s: [acl] config_file is not set (or not a string)\n", path);
		rc = -1;
	} else {
		*acl_file = xstrdup(f->u.str.ptr);
	}
	if (a && a->type == TOML_STRING && !*anon)
		*anon = xstrdup(a->u.str.ptr);
	const struct toml_value *e = acl ? toml_table_get(acl, "evaluation") : NULL;
	if (e && !mode_set &&
	    (e->type != TOML_STRING || acl_eval_mode_parse(e->u.str.ptr, mode) < 0)) {
		fprintf(stderr, "%s: [acl] evaluation must be \"priority\" or \"rustsocks\"\n",
		        path);
		rc = -1;
	}
	toml_free(root);
	return rc;
}

struct test_opts {
	const char *config, *acl, *user, *dest, *port, *proto, *evaluation;
	const char **groups;
	size_t n_groups;
};

static int parse_test_opts(int argc, char **argv, struct test_opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"acl", required_argument, NULL, 'a'},
	    {"user", required_argument, NULL, 'u'},   {"dest", required_argument, NULL, 'd'},
	    {"port", required_argument, NULL, 'p'},   {"proto", required_argument, NULL, 't'},
	    {"group", required_argument, NULL, 'g'},  {"evaluation", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	int ch;
	optind = 0; /* full re-initialisation (glibc) */
	opterr = 1;
	o->groups = xcalloc((size_t)argc + 1, sizeof(char *));
	while ((ch = getopt_long(argc, argv, "c:a:u:d:p:t:g:e:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'a':
			o->acl = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'd':
			o->dest = optarg;
			break;
		case 'p':
			o->port = optarg;
			break;
		case 't':
			o->proto = optarg;
			break;
		case 'g':
			o->groups[o->n_groups++] = optarg;
			break;
		case 'e':
			o->evaluation = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc || (!o->config == !o->acl) || !o->dest || !o->port) {
		if (!o->config == !o->acl)
			fprintf(stderr, "acl test: give exactly one of -c CONFIG or --acl FILE\n");
		else if (!o->dest || !o->port)
			fprintf(stderr, "acl test: --dest and --port are required\n");
		usage(stderr);
		return 1;
	}
	return 0;
}

static int build_request(const struct test_opts *o, struct acl_request *r,
                         struct sockaddr_storage *ss)
{
	uint64_t port;
	uint8_t a[16];
	if (cs_parse_u64(o->port, 0, 65535, &port) < 0) {
		fprintf(stderr, "acl test: bad port '%s' (0..65535)\n", o->port);
		return -1;
	}
	r->port = (uint16_t)port;
	r->proto = ACL_PROTO_TCP;
	if (o->proto && strcmp(o->proto, "udp") == 0) {
		r->proto = ACL_PROTO_UDP;
	} else if (o->proto && strcmp(o->proto, "tcp") != 0) {
		fprintf(stderr, "acl test: bad --proto '%s' (tcp or udp)\n", o->proto);
		return -1;
	}
	int fam = acl_ip_literal_parse(o->dest, strlen(o->dest), a);
	memset(ss, 0, sizeof(*ss));
	if (fam == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a, 4);
		r->addr = (const struct sockaddr *)ss;
	} else if (fam == 6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a, 16);
		r->addr = (const struct sockaddr *)ss;
	} else {
		r->domain = o->dest;
	}
	r->groups = o->groups;
	r->n_groups = o->n_groups;
	return 0;
}

static void print_decision(const struct acl_config *cfg, const struct acl_request *r,
                           const char *dest, const char *acl_file, const struct acl_decision *d)
{
	const struct acl_user *u = acl_config_find_user(cfg, r->user);
	printf("acl file: %s\n", acl_file);
	printf("user:     %s%s\n", r->user, u ? "" : " (no [[users]] entry)");
	printf("groups:  ");
	for (size_t i = 0; u && i < u->n_groups; i++)
		printf(" %s%s", u->groups[i],
		       acl_config_find_group(cfg, u->groups[i]) ? "" : "(undefined)");
	for (size_t i = 0; i < r->n_groups; i++)
		printf(" %s%s", r->groups[i],
		       acl_config_find_group(cfg, r->groups[i]) ? "" : "(undefined)");
	printf("%s\n", (u && u->n_groups) || r->n_groups ? "" : " (none)");
	printf("request:  %s %s:%u (%s)\n", r->proto == ACL_PROTO_UDP ? "udp" : "tcp", dest,
	       (unsigned)r->port, r->domain ? "by name, not resolved" : "by address");
	printf("mode:     %s evaluation\n", acl_eval_mode_name(cfg->mode));
	printf("decision: %s\n", d->allow ? "ALLOW" : "BLOCK");
	if (d->rule) {
		const struct acl_rule_view *v = d->rule;
		printf("rule:     %s '%s' rule #%zu \"%s\" (%s, priority %u",
		       acl_owner_kind_name(v->owner_kind), v->owner, v->index, v->description,
		       acl_action_name(v->action), (unsigned)v->priority);
		if (v->line)
			printf(", %s:%d", acl_file, v->line);
		printf(")\n");
	} else {
		printf("rule:     none matched: default policy (%s)\n",
		       acl_action_name(cfg->default_policy));
	}
	if (d->provisional)
		printf("note:     a higher-priority IP/CIDR rule may match once the name is "
		       "resolved; the server re-checks every resolved address\n");
}

static int cmd_test(int argc, char **argv)
{
	struct test_opts o = {0};
	struct acl_request r = {0};
	struct sockaddr_storage ss;
	struct acl_decision d;
	struct acl_msgs msgs;
	char *acl_file = NULL, *anon = NULL, err[256];
	int rc = 1;

	enum acl_eval_mode mode = ACL_EVAL_PRIORITY;
	acl_msgs_init(&msgs);
	if (parse_test_opts(argc, argv, &o) != 0)
		goto out;
	if (o.evaluation && parse_mode(o.evaluation, &mode) < 0)
		goto out;
	if (o.config &&
	    read_main_config(o.config, &acl_file, &anon, &mode, o.evaluation != NULL) < 0)
		goto out;
	if (!acl_file)
		acl_file = xstrdup(o.acl);
	r.user = o.user ? o.user : anon ? anon : "anonymous";
	if (build_request(&o, &r, &ss) < 0)
		goto out;
	struct acl_config *cfg = acl_config_load(acl_file, &msgs);
	print_msgs(&msgs);
	if (!cfg)
		goto out;
	cfg->mode = mode;
	struct acl_snapshot *s = acl_compile(cfg, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "%s: %s\n", acl_file, err);
		acl_config_free(cfg);
		goto out;
	}
	acl_evaluate(s, &r, &d);
	print_decision(acl_snapshot_config(s), &r, o.dest, acl_file, &d);
	rc = d.allow ? 0 : 2;
	acl_snapshot_unref(s);
	acl_config_free(cfg);
out:
	acl_msgs_fini(&msgs);
	free(o.groups);
	free(acl_file);
	free(anon);
	return rc;
}

int acl_cli_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "test") == 0)
		return cmd_test(argc - 1, argv + 1);
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "csocks acl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 1;
}

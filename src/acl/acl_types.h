/* ACL types shared by the loader, the compiler/evaluator, the manager and
 * their callers (connection pipeline, admin API, CLI).
 *
 * Two layers:
 *  - the file model (struct acl_config and below): what acl.toml says, as
 *    strings validated at load time, kept for serialising and CRUD;
 *  - the evaluation interface (struct acl_request / acl_decision /
 *    acl_rule_view): what a compiled snapshot answers (see acl_compile.h).
 */
#ifndef CSOCKS_ACL_TYPES_H
#define CSOCKS_ACL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

enum acl_action {
	ACL_ALLOW = 0,
	ACL_BLOCK = 1,
};

/* Protocol of a request, and bits of a rule's protocol set. */
enum acl_proto {
	ACL_PROTO_TCP = 1,
	ACL_PROTO_UDP = 2,
};
#define ACL_PROTO_BOTH (ACL_PROTO_TCP | ACL_PROTO_UDP)

enum acl_owner_kind {
	ACL_OWNER_USER = 1,
	ACL_OWNER_GROUP = 2,
};

#define ACL_DEFAULT_PRIORITY 100u

/* One rule as written in the file. Strings are owned by the rule. */
struct acl_rule {
	enum acl_action action;
	char *description;   /* never NULL ("" when absent) */
	char **destinations; /* as written; CIDRs with host bits normalised */
	size_t n_destinations;
	char **ports; /* as written: "*", "443", "8000-9000", "80,443" */
	size_t n_ports;
	unsigned protocols; /* ACL_PROTO_* bits; 0 = matches nothing */
	uint32_t priority;  /* higher is evaluated first */
	int line;           /* source line of [[...rules]], 0 if not from a file */
};

struct acl_user {
	char *username; /* compared exactly */
	char **groups;  /* static groups, compared case-insensitively */
	size_t n_groups;
	struct acl_rule *rules;
	size_t n_rules;
	int line;
};

struct acl_group {
	char *name; /* compared case-insensitively (ASCII) */
	struct acl_rule *rules;
	size_t n_rules;
	int line;
};

/* How rules are ordered and how a leading "*." label matches (the main
 * config's acl.evaluation; not part of the ACL file).
 *  PRIORITY:  priority first (a priority-200 ALLOW beats a priority-100
 *             BLOCK); "*.example.com" matches any depth of subdomain.
 *  RUSTSOCKS: every BLOCK rule before any ALLOW rule, then priority, as
 *             RustSocks evaluates; "*.example.com" matches exactly one label.
 * In both, "**.example.com" matches any depth and an inner '*' ("prod-*")
 * matches any run of characters inside one label. */
enum acl_eval_mode {
	ACL_EVAL_PRIORITY = 0,
	ACL_EVAL_RUSTSOCKS = 1,
};

const char *acl_eval_mode_name(enum acl_eval_mode m); /* "priority" / "rustsocks" */
/* "priority" / "rustsocks". Returns 0, or -1 for anything else. */
int acl_eval_mode_parse(const char *s, enum acl_eval_mode *out);

struct acl_config {
	enum acl_action default_policy; /* default ACL_BLOCK */
	enum acl_eval_mode mode;        /* set by whoever compiles, not by the file */
	struct acl_user *users;
	size_t n_users;
	struct acl_group *groups;
	size_t n_groups;
};

/* A rule as the evaluator reports it. Valid while the snapshot that
 * returned it is referenced. */
struct acl_rule_view {
	uint32_t id; /* index in the snapshot's rule table */
	enum acl_owner_kind owner_kind;
	const char *owner; /* username or group name */
	size_t index;      /* position in the owner's rules[] (file order) */
	enum acl_action action;
	uint32_t priority;
	const char *description;
	int line; /* source line, 0 if unknown */
};

/* What is being decided. See acl_eval.h for the two-phase use. */
struct acl_request {
	const char *user;          /* authenticated user or the anonymous_user name */
	const char *const *groups; /* groups resolved at login (NSS), may be NULL */
	size_t n_groups;
	const char *domain;          /* destination name as requested, or NULL */
	const struct sockaddr *addr; /* destination address (requested or resolved), or NULL */
	uint16_t port;
	enum acl_proto proto;
};

struct acl_decision {
	bool allow;
	bool default_policy; /* no rule matched */
	/* Only for a name-only request (domain set, addr NULL): an IP/CIDR rule
	 * that would outrank the rule that decided could still match once the
	 * address is known, so the decision is not final. See acl_eval.h. */
	bool provisional;
	const struct acl_rule_view *rule; /* NULL for the default policy */
};

const char *acl_action_name(enum acl_action a);         /* "allow" / "block" */
const char *acl_owner_kind_name(enum acl_owner_kind k); /* "user" / "group" */

#endif

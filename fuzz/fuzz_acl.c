/* libFuzzer target for the ACL text parsers and the loader.
 *
 * The first input byte picks the target:
 *   0: acl_dest_parse + acl_dest_format round trip, and matching
 *   1: acl_ports_parse
 *   2: acl_config_parse on arbitrary TOML, then compile, evaluate,
 *      serialise, re-parse and compare (round trip must hold)
 * The rest of the input is the text. */
#include "acl/acl_config.h"
#include "acl/acl_config_load.h"
#include "acl/acl_config_write.h"
#include "acl/acl_compile.h"
#include "acl/acl_eval.h"
#include "acl/acl_match.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_dest(const char *s, size_t len)
{
	struct acl_dest d, d2;
	char err[256], canon[300], name[ACL_DOMAIN_MAX + 1];
	if (acl_dest_parse(s, len, &d, err, sizeof(err)) == ACL_PARSE_ERROR)
		return;
	int n = acl_dest_format(&d, canon, sizeof(canon));
	if (n < 0 || (size_t)n >= sizeof(canon))
		abort();
	/* The canonical form parses to the same destination. */
	if (acl_dest_parse(canon, (size_t)n, &d2, NULL, 0) != ACL_PARSE_OK || d2.kind != d.kind ||
	    d2.plen != d.plen || memcmp(d2.addr, d.addr, 16) != 0 || strcmp(d2.name, d.name) != 0)
		abort();
	int nl = acl_domain_normalise(s, len, name);
	if (nl > 0)
		(void)acl_domain_match(&d, name, (size_t)nl);
}

static void fuzz_ports(const char *s, size_t len)
{
	struct acl_port_range r[64];
	bool any;
	char err[256];
	int n = acl_ports_parse(s, len, r, 64, &any, err, sizeof(err));
	for (int i = 0; i < n && i < 64; i++)
		if (r[i].lo == 0 || r[i].lo > r[i].hi)
			abort();
}

static void fuzz_config(const char *s, size_t len)
{
	struct acl_msgs m;
	char err[256];
	acl_msgs_init(&m);
	struct acl_config *c = acl_config_parse(s, len, "fuzz.toml", &m);
	acl_msgs_fini(&m);
	if (!c)
		return;
	struct acl_snapshot *snap = acl_compile(c, err, sizeof(err));
	if (!snap)
		abort(); /* a model that loaded must compile */
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000001)};
	const char *groups[] = {"developers", "ADMINS"};
	for (size_t u = 0; u < c->n_users + 1; u++) {
		struct acl_request r = {.user = u < c->n_users ? c->users[u].username : "nobody",
		                        .groups = groups,
		                        .n_groups = 2,
		                        .domain = "www.example.com",
		                        .port = 443,
		                        .proto = ACL_PROTO_TCP};
		struct acl_decision d;
		acl_evaluate(snap, &r, &d);
		r.addr = (const struct sockaddr *)&in;
		acl_evaluate(snap, &r, &d);
	}
	acl_snapshot_unref(snap);
	size_t tlen;
	char *text = acl_config_to_toml(c, &tlen);
	struct acl_config *c2 = acl_config_parse(text, tlen, "again.toml", NULL);
	if (!c2 || !acl_config_equal(c, c2))
		abort();
	acl_config_free(c2);
	free(text);
	acl_config_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 3) {
	case 0:
		fuzz_dest(s, len);
		break;
	case 1:
		fuzz_ports(s, len);
		break;
	default:
		fuzz_config(s, len);
		break;
	}
	return 0;
}

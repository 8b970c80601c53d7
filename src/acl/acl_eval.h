/* The ACL decision function over a compiled snapshot (acl_compile.h).
 *
 * Which rules apply. The user's own rules (its [[users]] entry, matched by
 * exact name) plus the rules of every group of the user: the static
 * `groups` of that entry and req->groups (resolved at login, e.g. NSS/AD).
 * Group names compare case-insensitively (ASCII), as RustSocks does, so
 * "Developers@AD.company.com" from the directory finds
 * [[groups]] name = "developers@ad.company.com". Groups the file does not
 * define add nothing. A user without a [[users]] entry still gets the rules
 * of its resolved groups.
 *
 * Order. The first rule in evaluation order (acl_compile.h ranks them)
 * whose destination, port and protocol all match decides; none matching ->
 * default_policy.
 *
 * Destination match. A rule destination matches when it matches
 * req->domain (exact / "*.suffix" / pattern with '*' labels; names are
 * compared lower-case without a trailing dot) OR req->addr (IP, CIDR;
 * an IPv4-mapped IPv6 address is matched as IPv4). "*" matches anything.
 * A req->domain that is an IP literal is treated as the address.
 *
 * Two phases (connection pipeline, SOCKS5 CONNECT/UDP with a domain):
 *   1. Before DNS: evaluate with domain set and addr NULL. Only name rules
 *      (and "*") can match. If the result is BLOCK and !provisional, reject
 *      (0x02) without resolving. decision.provisional is set when a rule
 *      with an IP/CIDR destination that outranks the deciding rule (or
 *      any IP/CIDR rule when the default policy decided) passes the port
 *      and protocol test: its answer could change once the address is
 *      known, so resolve and let phase 2 decide.
 *   2. After DNS: evaluate once per resolved address with domain AND addr
 *      set. An address whose decision is BLOCK is dropped from the connect
 *      candidates; if all are dropped, reject (0x02). Because the name is
 *      still given, a higher-priority name ALLOW keeps beating a lower
 *      priority CIDR BLOCK, and a name that resolves into a blocked range
 *      is blocked when the CIDR rule ranks first.
 * A request by IP address has one phase: domain NULL, addr set.
 * Sessions re-checked after a reload use domain + the connected address.
 *
 * Cost. acl_evaluate() allocates nothing and takes no lock. It looks up the
 * user and each resolved group (one hash probe each), then one probe for the
 * exact name, one per suffix of the name and one per IPv4/IPv6 prefix length
 * in use, each shared by all applicable owners (posting lists are merged
 * with the sorted owner set); a small bit filter answers most misses
 * without touching the table. Only "*" rules and inner-wildcard patterns
 * are scanned, and every scan stops at the first rule that cannot beat
 * the best match so far. At most 256 distinct owners (the user entry plus
 * groups the file defines) count per request.
 */
#ifndef CSOCKS_ACL_EVAL_H
#define CSOCKS_ACL_EVAL_H

#include "acl/acl_types.h"

#include <stddef.h>

struct acl_snapshot;

/* Decide. Never allocates, never blocks; out->rule borrows from s. */
void acl_evaluate(const struct acl_snapshot *s, const struct acl_request *r,
                  struct acl_decision *out);

/* "allow by group 'developers' rule #0 \"Dev servers\" (priority 50, line 40)"
 * or "block by default policy". Returns the length as snprintf(). */
int acl_decision_format(const struct acl_decision *d, char *buf, size_t size);

#endif

/* The compiled ACL: an immutable, reference-counted snapshot built from a
 * validated struct acl_config, with its rules in evaluation order and their
 * hit counters. acl_eval.h decides requests against it.
 *
 * Order. Rules are ranked once, at compile time, by cfg->mode
 * (acl_types.h). ACL_EVAL_PRIORITY (the default): priority descending, at
 * equal priority BLOCK before ALLOW, then user rules before group rules,
 * then file order; priority is real, a priority-200 ALLOW beats a
 * priority-100 BLOCK. ACL_EVAL_RUSTSOCKS: every BLOCK rule before any ALLOW
 * rule, then as above (RustSocks' order). The first rule (lowest rank)
 * whose destination, port and protocol all match decides; none matching ->
 * default_policy. The mode also decides what "*.example.com" means.
 */
#ifndef CSOCKS_ACL_COMPILE_H
#define CSOCKS_ACL_COMPILE_H

#include "acl/acl_config.h"
#include "acl/acl_types.h"

#include <stddef.h>
#include <stdint.h>

struct acl_snapshot;

/* Compile a validated model into a new snapshot holding one reference (and
 * its own copy of the model). Returns NULL, with the reason in err, if the
 * model is invalid (it was not validated). Slow path; allocates. */
struct acl_snapshot *acl_compile(const struct acl_config *cfg, char *err, size_t errlen);

/* Reference counting (atomic; any thread). unref(NULL) is a no-op. */
struct acl_snapshot *acl_snapshot_ref(struct acl_snapshot *s);
void acl_snapshot_unref(struct acl_snapshot *s);

/* The model the snapshot was built from (read-only; lives as long as s). */
const struct acl_config *acl_snapshot_config(const struct acl_snapshot *s);

/* Every rule, by id 0..count-1 (ids are ranks: evaluation order). */
size_t acl_snapshot_rule_count(const struct acl_snapshot *s);
const struct acl_rule_view *acl_snapshot_rule(const struct acl_snapshot *s, size_t id);

/* Per-rule hit counters (relaxed atomics; per snapshot, so a reload starts
 * them again). acl_snapshot_count() records one final decision: the rule's
 * hit counter, or the default-policy allow/block counter. */
void acl_snapshot_count(const struct acl_snapshot *s, const struct acl_decision *d);
uint64_t acl_snapshot_rule_hits(const struct acl_snapshot *s, size_t id);
void acl_snapshot_default_hits(const struct acl_snapshot *s, uint64_t *allowed, uint64_t *blocked);

#endif

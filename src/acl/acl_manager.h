/* The ACL manager: owns the current compiled snapshot of one acl.toml,
 * reloads it (on demand, on SIGHUP via the server, or from an inotify
 * watcher thread), counts decisions, and tells subscribers after a swap.
 *
 * Threads. acl_manager_acquire() and acl_manager_record() may be called
 * from any thread at any rate; they take no lock. Reloads (reload, apply,
 * the watcher) are serialised by a mutex and never block acquirers. Reload
 * callbacks run on the reloading thread (the watcher thread, or the caller
 * of reload/apply), after the swap, with no manager lock held except the
 * reload mutex: they may acquire() but must not reload.
 */
#ifndef CSOCKS_ACL_MANAGER_H
#define CSOCKS_ACL_MANAGER_H

#include "acl/acl_config.h"
#include "acl/acl_compile.h"
#include "acl/acl_stats.h"

#include <stdint.h>

struct acl_manager;

/* Load, validate and compile path. Returns NULL if the file is missing or
 * invalid; msgs (may be NULL) receives every error and warning either way.
 * They are not logged (start-up prints them); a one-line summary with the
 * load time is logged at info on success. */
struct acl_manager *acl_manager_new(const char *path, enum acl_eval_mode mode,
                                    struct acl_msgs *msgs);
/* The evaluation mode every snapshot of m is compiled in. */
enum acl_eval_mode acl_manager_mode(const struct acl_manager *m);

/* Stops the watcher if running, drops the snapshot reference. Snapshots
 * acquired earlier stay valid until their holders unref them. */
void acl_manager_free(struct acl_manager *mgr);

/* The current snapshot with one reference for the caller, who unrefs it
 * (acl_snapshot_unref) when the decision or connection is done. Never NULL. */
struct acl_snapshot *acl_manager_acquire(struct acl_manager *mgr);

/* Re-read the file: parse, validate, compile, swap, run callbacks. On
 * failure the old snapshot stays and each "file:line: why" is logged.
 * Warnings and the reload time are logged. msgs (may be NULL) receives the
 * messages too. Returns 0 on swap, -EINVAL if invalid, -errno on I/O. */
int acl_manager_reload(struct acl_manager *mgr, struct acl_msgs *msgs);

/* For the admin API: validate cfg, write it to the file atomically in
 * RustSocks' layout, compile and swap, run callbacks. cfg stays the
 * caller's. Same returns as reload; on error nothing changes. */
int acl_manager_apply(struct acl_manager *mgr, const struct acl_config *cfg, struct acl_msgs *msgs);

/* Called after every successful swap with the new snapshot (borrowed: ref
 * it to keep it). Register before starting the watcher. 0 or -ENOSPC. */
typedef void (*acl_reload_fn)(struct acl_snapshot *snap, void *arg);
int acl_manager_on_reload(struct acl_manager *mgr, acl_reload_fn fn, void *arg);

/* Watch the file's directory (so editors' save-by-rename is seen) and
 * reload debounce_ms after the last change to the file's name. 0 or -errno. */
int acl_manager_watch_start(struct acl_manager *mgr, int debounce_ms);
/* Stop and join the watcher. Idempotent. */
void acl_manager_watch_stop(struct acl_manager *mgr);

/* Count one final decision: per user (kept across reloads) and per rule
 * (in the snapshot that decided). */
void acl_manager_record(struct acl_manager *mgr, const struct acl_snapshot *snap, const char *user,
                        const struct acl_decision *d);
struct acl_stats *acl_manager_stats(struct acl_manager *mgr);

const char *acl_manager_path(const struct acl_manager *mgr);
/* Number of successful loads so far (1 after acl_manager_new). */
uint64_t acl_manager_generation(const struct acl_manager *mgr);

#endif

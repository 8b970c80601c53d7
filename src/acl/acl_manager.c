#include "acl/acl_manager.h"

#include "acl/acl_config_edit.h"
#include "acl/acl_config_load.h"
#include "acl/acl_config_write.h"
#include "util/log.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#define MAX_CALLBACKS   16
#define STATS_MAX_USERS 65536

struct acl_manager {
	char *path;
	enum acl_eval_mode mode; /* every snapshot is compiled in it */
	char *dir;               /* directory watched */
	char *base;              /* file name within dir */
	_Atomic(struct acl_snapshot *) cur;
	/* Acquirers between reading cur and taking their reference. A swapper
	 * waits for this to reach zero before dropping the old snapshot's
	 * reference, so nobody can ref a freed snapshot. The window is a few
	 * instructions, so the wait is short. */
	atomic_uint readers;
	atomic_uint_fast64_t generation;
	pthread_mutex_t reload_lock;
	struct {
		acl_reload_fn fn;
		void *arg;
	} cbs[MAX_CALLBACKS];
	size_t n_cbs;
	struct acl_stats *stats;
	/* watcher */
	bool watching;
	pthread_t thread;
	int inotify_fd;
	int stop_fd;
	int debounce_ms;
};

static void split_path(struct acl_manager *m, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		m->dir = xstrdup(".");
		m->base = xstrdup(path);
	} else {
		m->dir = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
		m->base = xstrdup(slash + 1);
	}
}

static void log_loaded(const char *what, const char *path, const struct acl_snapshot *s,
                       int64_t t0);

struct acl_manager *acl_manager_new(const char *path, enum acl_eval_mode mode,
                                    struct acl_msgs *msgs)
{
	char err[256];
	int64_t t0 = time_mono_us();
	struct acl_config *cfg = acl_config_load(path, msgs);
	if (!cfg)
		return NULL;
	cfg->mode = mode;
	struct acl_snapshot *s = acl_compile(cfg, err, sizeof(err));
	acl_config_free(cfg);
	if (!s) {
		acl_msgs_add(msgs, true, "%s: %s", path, err);
		return NULL;
	}
	struct acl_manager *m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(path);
	m->mode = mode;
	split_path(m, path);
	atomic_init(&m->cur, s);
	atomic_init(&m->readers, 0);
	atomic_init(&m->generation, 1);
	pthread_mutex_init(&m->reload_lock, NULL);
	m->stats = acl_stats_new(STATS_MAX_USERS);
	m->inotify_fd = -1;
	m->stop_fd = -1;
	log_loaded("loaded", path, s, t0);
	return m;
}

enum acl_eval_mode acl_manager_mode(const struct acl_manager *m)
{
	return m->mode;
}

void acl_manager_free(struct acl_manager *m)
{
	if (!m)
		return;
	acl_manager_watch_stop(m);
	acl_snapshot_unref(atomic_load(&m->cur));
	pthread_mutex_destroy(&m->reload_lock);
	acl_stats_free(m->stats);
	free(m->path);
	free(m->dir);
	free(m->base);
	free(m);
}

struct acl_snapshot *acl_manager_acquire(struct acl_manager *m)
{
	atomic_fetch_add(&m->readers, 1);
	struct acl_snapshot *s = atomic_load(&m->cur);
	acl_snapshot_ref(s);
	atomic_fetch_sub_explicit(&m->readers, 1, memory_order_release);
	return s;
}

/* Publish s (taking over its reference) and retire the old snapshot.
 * Called with reload_lock held. */
static void swap_in(struct acl_manager *m, struct acl_snapshot *s)
{
	struct acl_snapshot *old = atomic_exchange(&m->cur, s);
	while (atomic_load(&m->readers) != 0)
		sched_yield();
	acl_snapshot_unref(old);
	atomic_fetch_add(&m->generation, 1);
	for (size_t i = 0; i < m->n_cbs; i++)
		m->cbs[i].fn(s, m->cbs[i].arg);
}

static void log_msgs(const struct acl_msgs *msgs, size_t from)
{
	for (size_t i = from; i < msgs->n; i++) {
		if (msgs->is_error[i])
			log_error("ACL: %s", msgs->v[i]);
		else
			log_warn("ACL: %s", msgs->v[i]);
	}
}

static void log_loaded(const char *what, const char *path, const struct acl_snapshot *s, int64_t t0)
{
	const struct acl_config *c = acl_snapshot_config(s);
	double ms = (double)(time_mono_us() - t0) / 1000.0;
	log_info("ACL %s from %s in %.1f ms: %zu users, %zu groups, %zu rules, default %s, "
	         "evaluation %s",
	         what, path, ms, c->n_users, c->n_groups, acl_snapshot_rule_count(s),
	         acl_action_name(c->default_policy), acl_eval_mode_name(c->mode));
}

int acl_manager_reload(struct acl_manager *m, struct acl_msgs *out)
{
	struct acl_msgs local = {0};
	struct acl_msgs *msgs = out ? out : &local;
	size_t first;
	char err[256];
	int rc = 0;
	int64_t t0 = time_mono_us();

	if (!out)
		acl_msgs_init(&local);
	first = msgs->n;
	pthread_mutex_lock(&m->reload_lock);
	struct acl_config *cfg = acl_config_load(m->path, msgs);
	struct acl_snapshot *s = NULL;
	if (cfg) {
		cfg->mode = m->mode;
		s = acl_compile(cfg, err, sizeof(err));
		if (!s)
			acl_msgs_add(msgs, true, "%s: %s", m->path, err);
		acl_config_free(cfg);
	}
	log_msgs(msgs, first);
	if (s) {
		swap_in(m, s);
		log_loaded("reloaded", m->path, s, t0);
	} else {
		log_error("ACL reload of %s failed; keeping the previous rules", m->path);
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&m->reload_lock);
	if (!out)
		acl_msgs_fini(&local);
	return rc;
}

int acl_manager_apply(struct acl_manager *m, const struct acl_config *cfg, struct acl_msgs *msgs)
{
	char err[256];
	int64_t t0 = time_mono_us();
	if (acl_config_validate(cfg, msgs) > 0)
		return -EINVAL;
	struct acl_config *copy = acl_config_dup(cfg);
	copy->mode = m->mode;
	struct acl_snapshot *s = acl_compile(copy, err, sizeof(err));
	acl_config_free(copy);
	if (!s) {
		acl_msgs_add(msgs, true, "%s", err);
		return -EINVAL;
	}
	pthread_mutex_lock(&m->reload_lock);
	int rc = acl_config_write(cfg, m->path);
	if (rc < 0) {
		acl_msgs_add(msgs, true, "%s: write failed: %s", m->path, strerror(-rc));
		log_error("ACL: writing %s failed: %s", m->path, strerror(-rc));
		acl_snapshot_unref(s);
	} else {
		swap_in(m, s);
		log_loaded("updated", m->path, s, t0);
	}
	pthread_mutex_unlock(&m->reload_lock);
	return rc;
}

int acl_manager_on_reload(struct acl_manager *m, acl_reload_fn fn, void *arg)
{
	int rc = 0;
	pthread_mutex_lock(&m->reload_lock);
	if (m->n_cbs == MAX_CALLBACKS) {
		rc = -ENOSPC;
	} else {
		m->cbs[m->n_cbs].fn = fn;
		m->cbs[m->n_cbs].arg = arg;
		m->n_cbs++;
	}
	pthread_mutex_unlock(&m->reload_lock);
	return rc;
}

/* Drain inotify events; true when one names our file. */
static bool read_events(struct acl_manager *m)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool hit = false;
	for (;;) {
		ssize_t n = read(m->inotify_fd, buf, sizeof(buf));
		if (n <= 0)
			return hit;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			/* Events were lost (reload to be safe), or our file changed. */
			if ((ev->mask & IN_Q_OVERFLOW) ||
			    (ev->len && strcmp(ev->name, m->base) == 0 &&
			     (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE))))
				hit = true;
			p += sizeof(*ev) + ev->len;
		}
	}
}

static void *watch_main(void *arg)
{
	struct acl_manager *m = arg;
	int64_t due = -1;
	for (;;) {
		struct pollfd pfd[2] = {{.fd = m->inotify_fd, .events = POLLIN},
		                        {.fd = m->stop_fd, .events = POLLIN}};
		int timeout = -1;
		if (due >= 0) {
			int64_t left = due - time_mono_ms();
			timeout = left < 0 ? 0 : (int)left;
		}
		int n = poll(pfd, 2, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("ACL watcher: poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && pfd[1].revents)
			break;
		if (n > 0 && (pfd[0].revents & POLLIN) && read_events(m))
			due = time_mono_ms() + m->debounce_ms; /* editors write in bursts */
		if (due >= 0 && time_mono_ms() >= due) {
			due = -1;
			log_info("ACL: %s changed, reloading", m->path);
			acl_manager_reload(m, NULL);
		}
	}
	return NULL;
}

int acl_manager_watch_start(struct acl_manager *m, int debounce_ms)
{
	int rc;
	if (m->watching)
		return 0;
	m->debounce_ms = debounce_ms < 0 ? 0 : debounce_ms;
	m->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->inotify_fd < 0)
		return -errno;
	if (inotify_add_watch(m->inotify_fd, m->dir,
	                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR) < 0)
		goto fail_errno;
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0)
		goto fail_errno;
	rc = pthread_create(&m->thread, NULL, watch_main, m);
	if (rc != 0) {
		errno = rc;
		goto fail_errno;
	}
	m->watching = true;
	log_info("ACL: watching %s for changes", m->path);
	return 0;
fail_errno:
	rc = -errno;
	log_error("ACL: cannot watch %s: %s", m->dir, strerror(errno));
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	close(m->inotify_fd);
	m->stop_fd = m->inotify_fd = -1;
	return rc;
}

void acl_manager_watch_stop(struct acl_manager *m)
{
	uint64_t one = 1;
	if (!m->watching)
		return;
	if (write(m->stop_fd, &one, sizeof(one)) != sizeof(one))
		CSOCKS_BUG_ON(1); /* an eventfd write of 1 cannot fail */
	pthread_join(m->thread, NULL);
	close(m->stop_fd);
	close(m->inotify_fd);
	m->stop_fd = m->inotify_fd = -1;
	m->watching = false;
}

void acl_manager_record(struct acl_manager *m, const struct acl_snapshot *snap, const char *user,
                        const struct acl_decision *d)
{
	acl_stats_record(m->stats, user, d->allow);
	acl_snapshot_count(snap, d);
}

struct acl_stats *acl_manager_stats(struct acl_manager *m)
{
	return m->stats;
}

const char *acl_manager_path(const struct acl_manager *m)
{
	return m->path;
}

uint64_t acl_manager_generation(const struct acl_manager *m)
{
	return atomic_load(&((struct acl_manager *)m)->generation);
}

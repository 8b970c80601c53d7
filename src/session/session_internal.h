/* Internal to src/session/: what the in-memory query engine
 * (session_query.c) needs from the session manager (session_manager.c). */
#ifndef CSOCKS_SESSION_INTERNAL_H
#define CSOCKS_SESSION_INTERNAL_H

#include <stddef.h>

#include "session/session_manager.h"
#include "util/strutil.h"

/* A growing array of owned record copies. */
struct session_rec_vec {
	struct session_record **v;
	size_t n, cap;
};

static inline void session_rec_vec_push(struct session_rec_vec *a, struct session_record *r)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = r;
}

/* Call fn on every record the manager holds: each active session (a
 * snapshot taken under its registry lock), then the closed and rejected
 * history. fn runs with that registry's lock held: it must not call back
 * into the manager. */
void session_manager_foreach(struct session_manager *m,
                             void (*fn)(const struct session_record *, void *), void *arg);

#endif

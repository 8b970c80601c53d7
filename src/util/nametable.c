/* A capped name-keyed table: see nametable.h. */
#include "util/nametable.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "util/strutil.h"

#define MIN_CAP 16

struct slot_hdr {
	char *name; /* NULL = empty slot */
	uint64_t hash;
};

#define PAYLOAD_OFF                                                                                \
	((sizeof(struct slot_hdr) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))

static struct slot_hdr *slot_at(const struct nametable *t, unsigned char *slots, size_t i)
{
	return (struct slot_hdr *)(void *)(slots + i * t->stride);
}

static void *payload(struct slot_hdr *h)
{
	return (unsigned char *)h + PAYLOAD_OFF;
}

void nametable_init(struct nametable *t, size_t esize, size_t max)
{
	size_t a = alignof(max_align_t);
	t->slots = NULL;
	t->cap = t->n = 0;
	t->max = max;
	t->esize = esize;
	t->stride = (PAYLOAD_OFF + esize + a - 1) & ~(a - 1);
}

void nametable_fini(struct nametable *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(slot_at(t, t->slots, i)->name);
	free(t->slots);
	t->slots = NULL;
	t->cap = t->n = 0;
}

void nametable_set_max(struct nametable *t, size_t max)
{
	t->max = max;
}

/* The slot holding name, or the empty slot where it would go (cap > 0). */
static struct slot_hdr *probe(const struct nametable *t, unsigned char *slots, size_t cap,
                              uint64_t h, const char *name)
{
	for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		struct slot_hdr *s = slot_at(t, slots, i);
		if (!s->name || (s->hash == h && strcmp(s->name, name) == 0))
			return s;
	}
}

static void grow(struct nametable *t)
{
	size_t ncap = t->cap ? t->cap * 2 : MIN_CAP;
	unsigned char *ns = xcalloc(ncap, t->stride);
	for (size_t i = 0; i < t->cap; i++) {
		struct slot_hdr *s = slot_at(t, t->slots, i);
		if (s->name)
			memcpy(probe(t, ns, ncap, s->hash, s->name), s, t->stride);
	}
	free(t->slots);
	t->slots = ns;
	t->cap = ncap;
}

void *nametable_find_h(const struct nametable *t, const char *name, uint64_t h)
{
	if (!t->n)
		return NULL;
	struct slot_hdr *s = probe(t, t->slots, t->cap, h, name);
	return s->name ? payload(s) : NULL;
}

enum nametable_result nametable_get_h(struct nametable *t, const char *name, uint64_t h, void **val)
{
	if (t->cap) {
		struct slot_hdr *s = probe(t, t->slots, t->cap, h, name);
		if (s->name) {
			*val = payload(s);
			return NAMETABLE_FOUND;
		}
	}
	if (t->max && t->n >= t->max) {
		*val = NULL;
		return NAMETABLE_FULL;
	}
	if ((t->n + 1) * 2 > t->cap)
		grow(t);
	struct slot_hdr *s = probe(t, t->slots, t->cap, h, name);
	s->name = xstrdup(name);
	s->hash = h;
	memset(payload(s), 0, t->esize);
	t->n++;
	*val = payload(s);
	return NAMETABLE_ADDED;
}

void nametable_remove_entry(struct nametable *t, void *val)
{
	size_t mask = t->cap - 1;
	size_t hole = (size_t)((unsigned char *)val - PAYLOAD_OFF - t->slots) / t->stride;
	struct slot_hdr *s = slot_at(t, t->slots, hole);
	free(s->name);
	s->name = NULL;
	t->n--;
	/* Backward shift: move up every later entry of the run that the hole
	 * now cuts off from its home slot, so probing needs no tombstones. */
	for (size_t i = (hole + 1) & mask;; i = (i + 1) & mask) {
		struct slot_hdr *e = slot_at(t, t->slots, i);
		if (!e->name)
			break;
		size_t home = (size_t)e->hash & mask;
		/* e stays when its home lies cyclically in (hole, i]. */
		if (((i - home) & mask) < ((i - hole) & mask))
			continue;
		memcpy(slot_at(t, t->slots, hole), e, t->stride);
		e->name = NULL;
		hole = i;
	}
}

bool nametable_remove(struct nametable *t, const char *name)
{
	void *val = nametable_find(t, name);
	if (val)
		nametable_remove_entry(t, val);
	return val != NULL;
}

bool nametable_next(const struct nametable *t, size_t *pos, const char **name, void **val)
{
	for (; *pos < t->cap; (*pos)++) {
		struct slot_hdr *s = slot_at(t, t->slots, *pos);
		if (s->name) {
			(*pos)++;
			*name = s->name;
			*val = payload(s);
			return true;
		}
	}
	return false;
}

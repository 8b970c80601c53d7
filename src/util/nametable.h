/* A name-keyed hash table with a cap: the per-user tables (metrics labels,
 * connection slots) in one place.
 *
 * Open addressing with linear probing, kept at most half full; keys are
 * copied on insert and hashed with cs_hash_str (util/hash.h). Every entry
 * carries a payload of the size given at init, zeroed when the entry is
 * added, at a max_align_t boundary. With a cap, inserting a new name past
 * it gives NAMETABLE_FULL and changes nothing, so a caller can fold the
 * overflow into a bucket of its own ("other") and a remote party cycling
 * names cannot grow memory.
 *
 * No locking inside: the caller serialises every call on one table (a
 * mutex, or one owner thread). A payload pointer is valid until the next
 * insert or remove on the table (either may move entries). */
#ifndef CSOCKS_NAMETABLE_H
#define CSOCKS_NAMETABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hash.h"

struct nametable {
	unsigned char *slots; /* cap slots of stride bytes */
	size_t cap;           /* 0 or a power of two */
	size_t n;             /* entries */
	size_t max;           /* cap on entries; 0 = none */
	size_t esize, stride;
};

enum nametable_result {
	NAMETABLE_FOUND, /* name was there */
	NAMETABLE_ADDED, /* name is new; its payload is zeroed */
	NAMETABLE_FULL,  /* name is new and the table holds max entries */
};

/* An empty table (allocates nothing yet) of esize-byte payloads, at most
 * max entries (0 = unbounded). */
void nametable_init(struct nametable *t, size_t esize, size_t max);
/* Free the keys and slots; t is empty again, same esize and max. */
void nametable_fini(struct nametable *t);

/* A new cap. Entries already past it stay; only adding is refused. */
void nametable_set_max(struct nametable *t, size_t max);

/* The calls below take the name's hash as well, for a caller that already
 * has it (one that picks a lock stripe by it, say): h must be
 * nametable_hash(name). The plain forms compute it. */
static inline uint64_t nametable_hash(const char *name)
{
	return cs_hash_str(name);
}

/* The payload of name, or NULL. */
void *nametable_find_h(const struct nametable *t, const char *name, uint64_t h);

/* Find name or add it; *val is its payload (NULL when full). */
enum nametable_result nametable_get_h(struct nametable *t, const char *name, uint64_t h,
                                      void **val);

/* Drop the entry whose payload is val (from find or get, no insert or
 * remove since). */
void nametable_remove_entry(struct nametable *t, void *val);

/* Drop name and its payload. false when it was not there. */
bool nametable_remove(struct nametable *t, const char *name);

static inline void *nametable_find(const struct nametable *t, const char *name)
{
	return nametable_find_h(t, name, nametable_hash(name));
}

static inline enum nametable_result nametable_get(struct nametable *t, const char *name, void **val)
{
	return nametable_get_h(t, name, nametable_hash(name), val);
}

static inline size_t nametable_count(const struct nametable *t)
{
	return t->n;
}

/* Iteration in slot order: start with *pos = 0; each true gives one entry.
 * The table must not change during a walk (payloads may). */
bool nametable_next(const struct nametable *t, size_t *pos, const char **name, void **val);

#endif

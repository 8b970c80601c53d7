/* FNV-1a, 64-bit: the hash of every in-memory table keyed by a name (user,
 * group, host, TOML key, ACL suffix). Names are short and not chosen to
 * collide by a remote party who could see the table's layout, so a simple
 * hash with a final fold (the low bits pick buckets) is enough. */
#ifndef CSOCKS_HASH_H
#define CSOCKS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CS_FNV64_OFFSET 0xcbf29ce484222325ull /* 14695981039346656037 */
#define CS_FNV64_PRIME  0x100000001b3ull

/* One more byte into h (start from CS_FNV64_OFFSET). */
static inline uint64_t cs_hash_step(uint64_t h, uint8_t b)
{
	return (h ^ b) * CS_FNV64_PRIME;
}

/* Fold the high bits into the low ones, which pick buckets. */
static inline uint64_t cs_hash_fold(uint64_t h)
{
	return h ^ (h >> 29);
}

static inline uint64_t cs_hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = CS_FNV64_OFFSET;
	for (size_t i = 0; i < n; i++)
		h = cs_hash_step(h, b[i]);
	return cs_hash_fold(h);
}

static inline uint64_t cs_hash_str(const char *s)
{
	uint64_t h = CS_FNV64_OFFSET;
	for (; *s; s++)
		h = cs_hash_step(h, (uint8_t)*s);
	return cs_hash_fold(h);
}

#endif

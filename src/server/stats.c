#include "server/stats.h"

void stats_sum(struct stats *out, const struct stats *s)
{
	const uint64_t *src = (const uint64_t *)s;
	uint64_t *dst = (uint64_t *)out;
	for (unsigned i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		dst[i] += __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

#include "proxy/tbucket.h"

void tbucket_refill(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
	if (b->last_ns == 0 || now_ns <= b->last_ns) {
		if (b->last_ns == 0)
			b->last_ns = now_ns;
		return;
	}
	uint64_t dt = now_ns - b->last_ns;
	b->last_ns = now_ns;
	/* rate * dt / 1e9 without overflow; capped at what fills the bucket */
	unsigned __int128 add = (unsigned __int128)rate * dt / 1000000000u;
	int64_t room = (int64_t)burst - b->tokens;
	if (room <= 0)
		return;
	b->tokens += add >= (unsigned __int128)room ? room : (int64_t)add;
}

uint64_t tbucket_wait_ns(const struct tbucket *b, uint64_t rate, uint64_t want)
{
	if (b->tokens >= (int64_t)want || rate == 0)
		return 0;
	unsigned __int128 need = (unsigned __int128)((int64_t)want - b->tokens);
	return (uint64_t)((need * 1000000000u + rate - 1) / rate);
}

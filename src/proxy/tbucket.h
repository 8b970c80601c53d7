/* A token bucket: the arithmetic of bandwidth shaping, pure (unit tested in
 * tests/unit/test_qos.c). A bucket may go into debt (a read larger than
 * its tokens), which the next refills pay back. connlimit.c keeps one per
 * user and one global. */
#ifndef CSOCKS_TBUCKET_H
#define CSOCKS_TBUCKET_H

#include <stdint.h>

struct tbucket {
	int64_t tokens; /* bytes; negative = debt */
	uint64_t last_ns;
};

/* Refill b at rate (bytes/s) up to burst for the time since b->last_ns. */
void tbucket_refill(struct tbucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* Nanoseconds until b holds `want` tokens at rate (0 if it does now). */
uint64_t tbucket_wait_ns(const struct tbucket *b, uint64_t rate, uint64_t want);

#endif

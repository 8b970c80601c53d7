/* sb_common.h - shared pieces of socksbench: the target wire header, the
 * payload pattern, clocks, a latency histogram and /proc readers.
 *
 * The bench is deliberately independent of the csocks sources it measures:
 * nothing here includes or links project code.
 */
#ifndef SB_COMMON_H
#define SB_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Target header, sent by the client as the first bytes of every tunnel:
 *   0..3  magic "SBT1"
 *   4     op (enum sb_op)
 *   5     flags (SB_HDR_F_*)
 *   6..7  zero
 *   8..15 count, big-endian (bytes to download / upload / echo; unused for hold)
 */
#define SB_HDR_LEN 16
enum sb_op {
	SB_OP_DOWNLOAD = 'D', /* target sends <count> pattern bytes, then closes */
	SB_OP_UPLOAD = 'U',   /* client sends <count> pattern bytes; once they are in, the
	                         target answers with the 9-byte result and waits for EOF */
	SB_OP_ECHO = 'E',     /* target echoes everything until EOF, then closes
	                         (SB_HDR_F_CLOSE: once <count> bytes are echoed) */
	SB_OP_HOLD = 'H',     /* target sends one byte 'K', then waits for EOF */
};

/* The receiver of the payload (target for UPLOAD, client for DOWNLOAD)
 * checks a sample of it rather than every byte: see sb_recv_pattern. */
#define SB_HDR_F_SAMPLE 0x01
/* Echo: the target closes as soon as <count> bytes are echoed, and the
 * client waits for that EOF. The servers then close first on both legs of
 * a proxied connection, so TIME_WAIT stays on server ports (the target's,
 * the proxy's) and none builds up on ephemeral ports. */
#define SB_HDR_F_CLOSE 0x02

/* Upload result: count received (u64 big-endian) + status byte. */
#define SB_RESULT_LEN 9
enum sb_result_status {
	SB_RES_OK = 0,
	SB_RES_BAD_PATTERN = 1, /* a byte did not match the pattern */
	SB_RES_TOO_FEW = 3,     /* EOF before <count> bytes */
};

void sb_hdr_encode(uint8_t out[SB_HDR_LEN], enum sb_op op, uint64_t count, uint8_t flags);
/* Returns 0 and fills op/count/flags, or -1 on a bad magic, op, flag or
 * padding. */
int sb_hdr_decode(const uint8_t in[SB_HDR_LEN], enum sb_op *op, uint64_t *count, uint8_t *flags);
void sb_u64_put(uint8_t *p, uint64_t v);
uint64_t sb_u64_get(const uint8_t *p);

/* Payload pattern: byte at stream offset i is (i % 251). A prime period keeps
 * a shifted or duplicated chunk from matching by accident; checking it is one
 * memcmp against a precomputed table. */
#define SB_PAT_PERIOD 251
#define SB_IO_CHUNK   (256 * 1024)
/* Call once before starting threads. */
void sb_pattern_init(void);
/* Pointer to at least SB_IO_CHUNK pattern bytes starting at stream offset off. */
const uint8_t *sb_pattern_at(uint64_t off);
/* True when buf[0..len) (len <= SB_IO_CHUNK) is the pattern at offset off. */
bool sb_pattern_ok(const uint8_t *buf, size_t len, uint64_t off);

/* One recv() of at most want (<= SB_IO_CHUNK) bytes of the pattern stream,
 * at stream offset off. Without sample every byte is copied into buf and
 * checked. With sample only every SB_SAMPLE_EVERY-th read (counted in
 * *reads, the first included) is; the others pass MSG_TRUNC, with which
 * Linux TCP drops the bytes without copying them to user space, so the
 * receiver's copy and check stop taking CPU from what is measured.
 * Returns recv()'s result; sets *bad when a checked read did not match. */
#define SB_SAMPLE_EVERY 8
ssize_t sb_recv_pattern(int fd, uint8_t *buf, size_t want, uint64_t off, bool sample,
                        uint32_t *reads, bool *bad);

uint64_t sb_now_ns(void); /* CLOCK_MONOTONIC */

/* Raise RLIMIT_NOFILE soft to hard; returns the new soft limit. */
long sb_raise_nofile(void);

/* Log-linear histogram of nanosecond values, ~1.6 % resolution, fixed size:
 * recording never allocates. */
#define SB_HIST_SUB_BITS 6
#define SB_HIST_BUCKETS  ((64 - SB_HIST_SUB_BITS + 1) << SB_HIST_SUB_BITS)
struct sb_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min;
	uint64_t max;
	uint32_t bucket[SB_HIST_BUCKETS];
};
void sb_hist_init(struct sb_hist *h);
void sb_hist_add(struct sb_hist *h, uint64_t v);
void sb_hist_merge(struct sb_hist *into, const struct sb_hist *from);
/* Value at quantile q (0..1), in ns; the bucket's upper edge, capped at max. */
uint64_t sb_hist_quantile(const struct sb_hist *h, double q);

/* Memory and fds of a process and all its descendants (Dante forks helpers).
 * rss_kib: sum of VmRSS; pss_kib: sum of Pss (smaps_rollup, shares split
 * fairly between forked processes); fds: entries of /proc/<pid>/fd. */
struct sb_proc_stat {
	long rss_kib;
	long pss_kib;
	long fds;
	int nprocs;
	double cpu_s;  /* user + system CPU seconds so far, reaped children included */
	bool cpu_only; /* in: skip the memory and fd readers (cheaper) */
};
/* Sums over pid and every process below it. Returns 0, or -1 if pid does
 * not exist or cannot be read. */
int sb_proc_stat_read(pid_t pid, struct sb_proc_stat *st);

/* Parse "HOST:PORT" (HOST may be "[v6]"); host copied into host[hostlen]. */
int sb_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif

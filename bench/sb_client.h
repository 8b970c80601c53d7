/* sb_client.h - the load-generating side of socksbench: a worker thread with
 * its own epoll loop driving many client connections, each a small state
 * machine: TCP connect -> SOCKS5 greeting -> [RFC 1929 auth] -> CONNECT ->
 * reply -> target header -> the job's transfer.
 *
 * With cfg.direct the SOCKS5 steps are skipped (the loopback baseline).
 */
#ifndef SB_CLIENT_H
#define SB_CLIENT_H

#include "sb_common.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* How a connection can fail; a connection has at most one. */
enum sb_err {
	SB_E_CONNECT, /* socket/connect to the proxy (or target) failed */
	SB_E_CLOSED,  /* peer closed before the step was complete */
	SB_E_IO,      /* read/write error (ECONNRESET, ...) */
	SB_E_PROTO,   /* malformed SOCKS5 message (version, reserved byte, ATYP, length) */
	SB_E_AUTH,    /* method refused (0xFF or unexpected) or RFC 1929 status != 0 */
	SB_E_REPLY,   /* CONNECT reply code != 0 (counted per code in rep[]) */
	SB_E_DATA,    /* target data wrong: byte count, pattern, upload status */
	SB_E_TIMEOUT, /* connection exceeded its time budget */
	SB_E_COUNT
};
const char *sb_err_name(enum sb_err e);

struct sb_client_cfg {
	bool direct;
	struct sockaddr_storage addr; /* proxy, or the target when direct */
	socklen_t addrlen;
	bool have_source; /* bind client sockets to source (port 0) */
	struct sockaddr_storage source;
	socklen_t sourcelen;
	const char *user; /* NULL: offer method 0x00 only; else 0x02 only */
	const char *pass;
	uint8_t req[262]; /* prebuilt SOCKS5 CONNECT request */
	size_t req_len;
};

/* What one worker does. */
struct sb_job {
	enum sb_op op;
	uint64_t count;            /* bytes for DOWNLOAD/UPLOAD, request size for ECHO */
	int nconns;                /* connection slots */
	bool repeat;               /* restart a slot when its connection ends (rate) */
	uint64_t stop_starts_ns;   /* no new connection starts after this (monotonic) */
	uint64_t quota;            /* at most this many starts; 0 = no limit */
	uint64_t hard_deadline_ns; /* everything still open then fails with TIMEOUT */
	uint64_t conn_timeout_ns;  /* per connection budget; 0 = none */
	int window;                /* connections in progress at once; 0 = all slots */
	uint8_t hdr_flags;         /* SB_HDR_F_*: SAMPLE = check a sample of the payload */
};

struct sb_stats {
	uint64_t started;
	uint64_t ok;
	uint64_t bytes; /* payload bytes moved by successful connections */
	uint64_t err[SB_E_COUNT];
	uint64_t rep[256]; /* CONNECT reply codes seen on failure */
	int first_errno;   /* errno of the first SB_E_CONNECT / SB_E_IO */
	uint64_t t_last_ns;
	struct sb_hist hs;  /* connect start -> SOCKS success (direct: TCP connected) */
	struct sb_hist txn; /* connect start -> transfer complete */
};

struct sb_worker;

/* Returns NULL on allocation failure. cfg and job are copied. */
struct sb_worker *sb_worker_new(const struct sb_client_cfg *cfg, const struct sb_job *job);
/* Runs the job on a new thread; returns 0 or -1. */
int sb_worker_start(struct sb_worker *w);
/* Waits for the job to end. For HOLD jobs the established tunnels stay open. */
void sb_worker_join(struct sb_worker *w);
/* Valid after join. */
const struct sb_stats *sb_worker_stats(const struct sb_worker *w);
/* HOLD jobs, after join: how many held tunnels are still open (a non-blocking
 * peek sees neither EOF nor an error). */
int sb_worker_alive(const struct sb_worker *w);
/* Closes every connection and frees w. */
void sb_worker_free(struct sb_worker *w);

#endif

/* Per-worker pool of the carriers a relay direction borrows while bytes are
 * in flight: kernel pipes for splice(2), and plain memory buffers for the
 * copying path (pool exhausted, or an fd that cannot splice).
 *
 * A direction takes a carrier only when it has bytes to move and gives it
 * back when the carrier is empty again, so an idle tunnel holds none: pipes
 * cost two file descriptors each, and fds, not memory, are what runs out
 * first with many idle tunnels.
 * Only empty pipes are pooled; a pipe still holding bytes is closed
 * (pipepool_drop). The number of pipes alive is capped: past the cap
 * pipepool_get_pipe() returns NULL and the caller copies instead.
 *
 * Owned by one worker; no locks. */
#ifndef CSOCKS_PIPEPOOL_H
#define CSOCKS_PIPEPOOL_H

#include <stddef.h>
#include <stdint.h>

#define PIPEPOOL_BUF_SIZE (16 * 1024)
/* Requested capacity of a pipe (F_SETPIPE_SZ); pages are only used while
 * bytes sit in the pipe. A worker's first PIPEPOOL_BIG_PIPES pipes hold
 * PIPEPOOL_PIPE_BIG: a few fast streams then move up to 1 MiB per splice()
 * pair, which cut csocks' CPU per relayed GB by about a third against
 * 256 KiB (bench/compare.sh, proxy CPU s/GB). Later pipes get
 * PIPEPOOL_PIPE_SIZE: an unprivileged user's pipes share
 * fs.pipe-user-pages-soft (64 MiB by default), past which the kernel hands
 * out 2-page pipes, so many concurrent streams are better served by
 * smaller ones. Either way the kernel may refuse; the pipe then keeps the
 * size it has. */
#define PIPEPOOL_PIPE_BIG  (1024 * 1024)
#define PIPEPOOL_PIPE_SIZE (256 * 1024)
#define PIPEPOOL_BIG_PIPES 8

struct pipe_ent {
	int rd, wr;            /* pipe ends */
	uint32_t size;         /* capacity in bytes (F_GETPIPE_SZ) */
	struct pipe_ent *next; /* free-list link while pooled */
};

struct relay_buf {
	struct relay_buf *next; /* free-list link while pooled */
	uint8_t data[PIPEPOOL_BUF_SIZE];
};

struct pipepool {
	struct pipe_ent *free_pipes;
	struct relay_buf *free_bufs;
	uint32_t pipes_alive; /* in use + pooled */
	uint32_t pipes_free;
	uint32_t max_pipes;      /* cap on pipes_alive (0 = never splice) */
	uint32_t max_free_pipes; /* more free pipes than this are closed */
	uint32_t bufs_free;
	uint32_t max_free_bufs;
	uint64_t pipe_failures;    /* pipe2() failures (EMFILE...) */
	uint64_t pipes_undersized; /* pipes the kernel left under PIPEPOOL_PIPE_SIZE */
};

void pipepool_init(struct pipepool *p, uint32_t max_pipes, uint32_t max_free_pipes);
/* Close every pooled pipe and free pooled buffers. In-use carriers must have
 * been returned or dropped. */
void pipepool_fini(struct pipepool *p);

/* Any thread: pipes alive (in use + pooled), pipe2() failures and
 * undersized pipes so far. */
void pipepool_counters(const struct pipepool *p, uint64_t *alive, uint64_t *failures,
                       uint64_t *undersized);

/* An empty pipe, or NULL (cap reached or pipe2 failed): copy instead. */
struct pipe_ent *pipepool_get_pipe(struct pipepool *p);
/* Give back an EMPTY pipe. */
void pipepool_put_pipe(struct pipepool *p, struct pipe_ent *pe);
/* Close a pipe that may still hold bytes (connection aborted). */
void pipepool_drop_pipe(struct pipepool *p, struct pipe_ent *pe);

/* A copy buffer (never NULL: aborts on OOM) / give it back. */
struct relay_buf *pipepool_get_buf(struct pipepool *p);
void pipepool_put_buf(struct pipepool *p, struct relay_buf *b);

#endif

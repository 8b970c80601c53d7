#include "event/pipepool.h"

#include <fcntl.h>
#include <unistd.h>

#include "util/strutil.h"

/* Counters that other threads read (pipepool_counters): the owner writes
 * them with relaxed atomic stores (one writer: no locked instruction), and
 * readers load them atomically. */
static void counter_add(uint32_t *f, int d)
{
	__atomic_store_n(f, (uint32_t)((int64_t)__atomic_load_n(f, __ATOMIC_RELAXED) + d),
	                 __ATOMIC_RELAXED);
}

static void counter_inc64(uint64_t *f)
{
	__atomic_store_n(f, __atomic_load_n(f, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

void pipepool_counters(const struct pipepool *p, uint64_t *alive, uint64_t *failures,
                       uint64_t *undersized)
{
	*alive = __atomic_load_n(&p->pipes_alive, __ATOMIC_RELAXED);
	*failures = __atomic_load_n(&p->pipe_failures, __ATOMIC_RELAXED);
	*undersized = __atomic_load_n(&p->pipes_undersized, __ATOMIC_RELAXED);
}

void pipepool_init(struct pipepool *p, uint32_t max_pipes, uint32_t max_free_pipes)
{
	p->free_pipes = NULL;
	p->free_bufs = NULL;
	p->pipes_alive = p->pipes_free = 0;
	p->max_pipes = max_pipes;
	p->max_free_pipes = max_free_pipes;
	p->bufs_free = 0;
	p->max_free_bufs = 64;
	p->pipe_failures = 0;
	p->pipes_undersized = 0;
}

static void pipe_close(struct pipe_ent *pe)
{
	close(pe->rd);
	close(pe->wr);
	free(pe);
}

void pipepool_fini(struct pipepool *p)
{
	while (p->free_pipes) {
		struct pipe_ent *pe = p->free_pipes;
		p->free_pipes = pe->next;
		pipe_close(pe);
		counter_add(&p->pipes_alive, -1);
	}
	p->pipes_free = 0;
	while (p->free_bufs) {
		struct relay_buf *b = p->free_bufs;
		p->free_bufs = b->next;
		free(b);
	}
	p->bufs_free = 0;
}

struct pipe_ent *pipepool_get_pipe(struct pipepool *p)
{
	struct pipe_ent *pe = p->free_pipes;
	if (pe) {
		p->free_pipes = pe->next;
		p->pipes_free--;
		pe->next = NULL;
		return pe;
	}
	if (p->pipes_alive >= p->max_pipes)
		return NULL;
	int fds[2];
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		counter_inc64(&p->pipe_failures);
		return NULL;
	}
	pe = malloc(sizeof(*pe));
	if (!pe) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	/* A bigger pipe moves more per splice() pair (see pipepool.h). If the
	 * kernel refuses (pipe-user-pages limits), try the smaller size; the
	 * default works too. */
	if (p->pipes_alive >= PIPEPOOL_BIG_PIPES ||
	    fcntl(fds[0], F_SETPIPE_SZ, PIPEPOOL_PIPE_BIG) < 0)
		(void)fcntl(fds[0], F_SETPIPE_SZ, PIPEPOOL_PIPE_SIZE);
	int sz = fcntl(fds[0], F_GETPIPE_SZ);
	pe->size = sz > 0 ? (uint32_t)sz : 4096;
	if (pe->size < PIPEPOOL_PIPE_SIZE)
		counter_inc64(&p->pipes_undersized);
	pe->rd = fds[0];
	pe->wr = fds[1];
	pe->next = NULL;
	counter_add(&p->pipes_alive, 1);
	return pe;
}

void pipepool_put_pipe(struct pipepool *p, struct pipe_ent *pe)
{
	if (p->pipes_free >= p->max_free_pipes) {
		pipepool_drop_pipe(p, pe);
		return;
	}
	pe->next = p->free_pipes;
	p->free_pipes = pe;
	p->pipes_free++;
}

void pipepool_drop_pipe(struct pipepool *p, struct pipe_ent *pe)
{
	CSOCKS_BUG_ON(p->pipes_alive == 0);
	pipe_close(pe);
	counter_add(&p->pipes_alive, -1);
}

struct relay_buf *pipepool_get_buf(struct pipepool *p)
{
	struct relay_buf *b = p->free_bufs;
	if (b) {
		p->free_bufs = b->next;
		p->bufs_free--;
		return b;
	}
	return xmalloc(sizeof(*b));
}

void pipepool_put_buf(struct pipepool *p, struct relay_buf *b)
{
	if (p->bufs_free >= p->max_free_bufs) {
		free(b);
		return;
	}
	b->next = p->free_bufs;
	p->free_bufs = b;
	p->bufs_free++;
}

/* A small pool of threads for blocking authentication work (crypt(3) hash
 * checks now; PAM and group lookups later), so no event loop ever blocks.
 *
 * A job is a struct the caller embeds in its own (larger) request object:
 *   run(job)      on a pool thread; may block for as long as it needs;
 *   complete(job) on the same pool thread right after run: hands the job
 *                 back to its owner, typically by posting it to the owning
 *                 worker's mailbox (worker_post), which wakes that worker.
 * After authpool_submit() the job belongs to the pool until complete() is
 * called, exactly once. The owner must not free it before that; to abandon
 * a job (connection closed), mark it in the owner's own fields and free it
 * when it comes back. */
#ifndef CSOCKS_AUTHPOOL_H
#define CSOCKS_AUTHPOOL_H

#include <stddef.h>

struct auth_job {
	struct auth_job *next; /* queue link, owned by the pool while queued */
	void (*run)(struct auth_job *job);
	void (*complete)(struct auth_job *job);
};

struct authpool;

/* Start nthreads threads (at least 1). NULL with a message in err. */
struct authpool *authpool_new(unsigned nthreads, char *err, size_t errlen);
/* Queue a job. Thread-safe. */
void authpool_submit(struct authpool *p, struct auth_job *job);
/* Run every queued job to completion, then join the threads and free. */
void authpool_free(struct authpool *p);

#endif

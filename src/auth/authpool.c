#include "auth/authpool.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/strutil.h"

struct authpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct auth_job *head, *tail;
	bool stopping;
	unsigned n;
	pthread_t *threads;
};

static void *pool_main(void *arg)
{
	struct authpool *p = arg;
	for (;;) {
		pthread_mutex_lock(&p->mu);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		struct auth_job *j = p->head;
		if (!j) { /* stopping and the queue is empty */
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->next = NULL;
		j->run(j);
		j->complete(j);
	}
}

struct authpool *authpool_new(unsigned nthreads, char *err, size_t errlen)
{
	if (nthreads == 0)
		nthreads = 1;
	struct authpool *p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->threads = xcalloc(nthreads, sizeof(*p->threads));
	for (unsigned i = 0; i < nthreads; i++) {
		int rc = pthread_create(&p->threads[i], NULL, pool_main, p);
		if (rc != 0) {
			snprintf(err, errlen, "auth pool: pthread_create: %s", strerror(rc));
			authpool_free(p);
			return NULL;
		}
		p->n++;
	}
	return p;
}

void authpool_submit(struct authpool *p, struct auth_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->mu);
	CSOCKS_BUG_ON(p->stopping);
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void authpool_free(struct authpool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
}

/* The main side of privilege separation: the pool of links to the
 * monitors and the blocking request/answer call. See privsep_client.h. */
#include "auth/privsep_client.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/privsep_wire.h"
#include "util/log.h"
#include "util/strutil.h"

struct link {
	int fd;       /* -1 once dead */
	pid_t pid;    /* the monitor serving it */
	uint32_t seq; /* last request number */
};

struct privsep {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct link *links;
	unsigned n;
	unsigned *free_stack; /* indexes of idle live links */
	unsigned nfree;
	unsigned nalive;
	uint32_t timeout_ms;
};

static struct privsep *privsep_alloc(unsigned n, uint32_t timeout_ms)
{
	struct privsep *ps = xcalloc(1, sizeof(*ps));
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->cv, NULL);
	ps->links = xcalloc(n, sizeof(*ps->links));
	ps->free_stack = xcalloc(n, sizeof(*ps->free_stack));
	ps->timeout_ms = timeout_ms ? timeout_ms : 30000;
	for (unsigned i = 0; i < n; i++)
		ps->links[i].fd = -1;
	ps->n = n;
	return ps;
}

static void link_set_timeouts(int fd, uint32_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

struct privsep *privsep_new_from_fds(const int *fds, unsigned n, uint32_t timeout_ms)
{
	struct privsep *ps = privsep_alloc(n, timeout_ms);
	for (unsigned i = 0; i < n; i++) {
		link_set_timeouts(fds[i], ps->timeout_ms);
		ps->links[i].fd = fds[i];
		ps->links[i].pid = -1;
		ps->free_stack[ps->nfree++] = i;
		ps->nalive++;
	}
	return ps;
}

struct privsep *privsep_start(const struct privsep_params *p, char *err, size_t errlen)
{
	unsigned n = p->nlinks ? p->nlinks : 1;
	struct privsep *ps = privsep_alloc(n, p->timeout_ms);
	pid_t self = getpid();
	for (unsigned i = 0; i < n; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
			snprintf(err, errlen, "privsep: socketpair: %s", strerror(errno));
			goto fail;
		}
		(void)fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			snprintf(err, errlen, "privsep: fork: %s", strerror(errno));
			close(sv[0]);
			close(sv[1]);
			goto fail;
		}
		if (pid == 0)
			privsep_monitor_main(sv[1], self, p); /* never returns */
		close(sv[1]);
		link_set_timeouts(sv[0], ps->timeout_ms);
		ps->links[i].fd = sv[0];
		ps->links[i].pid = pid;
		ps->free_stack[ps->nfree++] = i;
		ps->nalive++;
	}
	return ps;
fail:
	privsep_free(ps);
	return NULL;
}

void privsep_free(struct privsep *ps)
{
	if (!ps)
		return;
	for (unsigned i = 0; i < ps->n; i++)
		if (ps->links[i].fd >= 0)
			close(ps->links[i].fd);
	for (unsigned i = 0; i < ps->n; i++) {
		if (ps->links[i].pid <= 0)
			continue;
		/* EOF ends an idle monitor at once; one stuck in a PAM module
		 * gets a moment, then SIGKILL. */
		int status;
		pid_t r = 0;
		for (int k = 0; k < 200 && r == 0; k++) {
			r = waitpid(ps->links[i].pid, &status, WNOHANG);
			if (r == 0)
				usleep(10000);
		}
		if (r == 0) {
			kill(ps->links[i].pid, SIGKILL);
			waitpid(ps->links[i].pid, &status, 0);
		}
	}
	pthread_cond_destroy(&ps->cv);
	pthread_mutex_destroy(&ps->mu);
	free(ps->links);
	free(ps->free_stack);
	free(ps);
}

/* An idle live link, or NULL when none is left alive. */
static struct link *link_get(struct privsep *ps)
{
	pthread_mutex_lock(&ps->mu);
	while (ps->nfree == 0 && ps->nalive > 0)
		pthread_cond_wait(&ps->cv, &ps->mu);
	struct link *l = ps->nfree ? &ps->links[ps->free_stack[--ps->nfree]] : NULL;
	pthread_mutex_unlock(&ps->mu);
	return l;
}

/* Give a link back; a broken one is closed and never handed out again. */
static void link_put(struct privsep *ps, struct link *l, bool broken)
{
	pthread_mutex_lock(&ps->mu);
	if (broken) {
		close(l->fd);
		l->fd = -1;
		ps->nalive--;
		log_error("privsep: link to monitor %d closed; %u of %u left", (int)l->pid,
		          ps->nalive, ps->n);
	} else {
		ps->free_stack[ps->nfree++] = (unsigned)(l - ps->links);
	}
	pthread_cond_broadcast(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
}

static void fail_result(struct pam_auth_result *out, const char *why)
{
	memset(out, 0, sizeof(*out));
	out->status = PAM_AUTH_ERROR;
	snprintf(out->reason, sizeof(out->reason), "privsep: %s", why);
}

/* Send req (wiped afterwards by the caller), wait for the answer of type
 * ans, parse it into out. Any failure breaks the link. */
static int call(struct privsep *ps, uint8_t type, struct wr *req, uint8_t ans,
                struct pam_auth_result *out)
{
	struct link *l = link_get(ps);
	if (!l) {
		fail_result(out, "no monitor left");
		return out->status;
	}
	uint32_t seq = ++l->seq;
	struct wr seq_at = {.p = req->p, .cap = 4}; /* the first field is the sequence */
	wr_u32be(&seq_at, seq);
	const char *why = NULL;
	uint8_t buf[PRIVSEP_MSG_MAX];
	uint8_t got_type = 0;
	size_t len = 0;
	int rc = privsep_msg_send(l->fd, type, req->p, wr_result(req));
	if (rc == 0)
		rc = privsep_msg_recv(l->fd, &got_type, buf, sizeof(buf), &len);
	if (rc == -EAGAIN)
		why = "monitor did not answer in time";
	else if (rc == -EPIPE || rc == -ECONNRESET)
		why = "monitor went away";
	else if (rc < 0)
		why = "bad answer framing";
	else if (got_type != ans)
		why = "unexpected answer type";
	if (!why) {
		struct rd r;
		rd_init(&r, buf, len);
		uint32_t aseq;
		uint8_t status = 0;
		memset(out, 0, sizeof(*out));
		if (rd_u32be(&r, &aseq) || aseq != seq)
			why = "answer out of sequence";
		else if (ans == MON_ANS_PING) {
			if (rd_left(&r))
				why = "malformed answer";
			out->status = PAM_AUTH_OK;
		} else if (rd_u8(&r, &status) || status > PAM_AUTH_ERROR ||
		           privsep_rd_str(&r, out->user, 0, PRIVSEP_USER_MAX) ||
		           privsep_rd_str(&r, out->reason, 0, PRIVSEP_REASON_MAX) || rd_left(&r)) {
			why = "malformed answer";
		} else {
			out->status = status;
			if (status == PAM_AUTH_OK && !out->user[0])
				why = "malformed answer";
		}
	}
	link_put(ps, l, why != NULL);
	if (why)
		fail_result(out, why);
	return out->status;
}

int privsep_pam_username(struct privsep *ps, const char *user, const char *pass, const char *rhost,
                         struct pam_auth_result *out)
{
	uint8_t buf[PRIVSEP_MSG_MAX];
	struct wr w;
	wr_init(&w, buf, sizeof(buf));
	if (!user || !*user || !pass) {
		fail_result(out, "no user name or password");
		return out->status;
	}
	wr_u32be(&w, 0);
	privsep_wr_str(&w, user, PRIVSEP_USER_MAX);
	privsep_wr_str(&w, pass, PRIVSEP_PASS_MAX);
	privsep_wr_str(&w, rhost, PRIVSEP_RHOST_MAX);
	if (w.full)
		fail_result(out, "user name, password or address too long");
	else
		call(ps, MON_REQ_PAM_USERNAME, &w, MON_ANS_PAM_USERNAME, out);
	explicit_bzero(buf, sizeof(buf));
	return out->status;
}

int privsep_pam_address(struct privsep *ps, const char *rhost, struct pam_auth_result *out)
{
	uint8_t buf[64 + PRIVSEP_RHOST_MAX];
	struct wr w;
	wr_init(&w, buf, sizeof(buf));
	wr_u32be(&w, 0);
	privsep_wr_str(&w, rhost, PRIVSEP_RHOST_MAX);
	if (w.full || !rhost || !*rhost) {
		fail_result(out, "no client address");
		return out->status;
	}
	return call(ps, MON_REQ_PAM_ADDRESS, &w, MON_ANS_PAM_ADDRESS, out);
}

int privsep_ping(struct privsep *ps)
{
	uint8_t buf[4];
	struct wr w;
	wr_init(&w, buf, sizeof(buf));
	wr_u32be(&w, 0);
	struct pam_auth_result res;
	return call(ps, MON_REQ_PING, &w, MON_ANS_PING, &res) == PAM_AUTH_OK ? 0 : -1;
}

unsigned privsep_links_alive(struct privsep *ps)
{
	pthread_mutex_lock(&ps->mu);
	unsigned n = ps->nalive;
	pthread_mutex_unlock(&ps->mu);
	return n;
}

pid_t privsep_monitor_pid(struct privsep *ps, unsigned i)
{
	return i < ps->n ? ps->links[i].pid : -1;
}

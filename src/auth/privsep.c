#include "auth/privsep.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"
#include "util/strutil.h"

#define USER_MAX   255
#define PASS_MAX   255
#define RHOST_MAX  63
#define REASON_MAX (PAM_AUTH_REASON_MAX - 1)

/* ---- framing ---- */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 1 all read, 0 EOF before the first byte, -EPROTO EOF after it, -errno. */
static int read_all(int fd, uint8_t *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, p + got, n - got, 0);
		if (r == 0)
			return got == 0 ? 0 : -EPROTO;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		got += (size_t)r;
	}
	return 1;
}

int privsep_msg_send(int fd, uint8_t type, const void *payload, size_t len)
{
	if (len + 1 > PRIVSEP_MSG_MAX)
		return -EMSGSIZE;
	uint8_t buf[5 + PRIVSEP_MSG_MAX];
	uint32_t l = (uint32_t)len + 1;
	buf[0] = (uint8_t)(l >> 24);
	buf[1] = (uint8_t)(l >> 16);
	buf[2] = (uint8_t)(l >> 8);
	buf[3] = (uint8_t)l;
	buf[4] = type;
	if (len)
		memcpy(buf + 5, payload, len);
	int rc = write_all(fd, buf, 5 + len);
	explicit_bzero(buf, 5 + len); /* may hold a password */
	return rc;
}

int privsep_msg_recv(int fd, uint8_t *type, void *buf, size_t cap, size_t *len)
{
	uint8_t hdr[5];
	*type = 0;
	*len = 0;
	int rc = read_all(fd, hdr, 4);
	if (rc == 0)
		return -EPIPE;
	if (rc < 0)
		return rc;
	uint32_t l =
	    (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (l == 0 || l > PRIVSEP_MSG_MAX || l - 1 > cap)
		return -EMSGSIZE;
	rc = read_all(fd, hdr + 4, 1);
	if (rc <= 0)
		return rc == 0 ? -EPROTO : rc;
	if (l > 1) {
		rc = read_all(fd, buf, l - 1);
		if (rc <= 0)
			return rc == 0 ? -EPROTO : rc;
	}
	*type = hdr[4];
	*len = l - 1;
	return 0;
}

/* ---- payload building and parsing (bounds checked before every access) ---- */

struct wr {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static void wr_bytes(struct wr *w, const void *d, size_t n)
{
	if (w->overflow || w->cap - w->len < n) {
		w->overflow = true;
		return;
	}
	memcpy(w->p + w->len, d, n);
	w->len += n;
}

static void wr_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	wr_bytes(w, b, 4);
}

static void wr_u8(struct wr *w, uint8_t v)
{
	wr_bytes(w, &v, 1);
}

static void wr_str(struct wr *w, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n > max) {
		w->overflow = true;
		return;
	}
	uint8_t b[2] = {(uint8_t)(n >> 8), (uint8_t)n};
	wr_bytes(w, b, 2);
	wr_bytes(w, s, n);
}

struct rd {
	const uint8_t *p;
	size_t left;
};

static int rd_u32(struct rd *r, uint32_t *v)
{
	*v = 0;
	if (r->left < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static int rd_u8(struct rd *r, uint8_t *v)
{
	*v = 0;
	if (r->left < 1)
		return -1;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 0;
}

/* A string of min..max bytes without NUL into out (max + 1 bytes). */
static int rd_str(struct rd *r, char *out, size_t min, size_t max)
{
	out[0] = '\0';
	if (r->left < 2)
		return -1;
	size_t n = (size_t)r->p[0] << 8 | r->p[1];
	if (n < min || n > max || r->left - 2 < n || memchr(r->p + 2, 0, n))
		return -1;
	memcpy(out, r->p + 2, n);
	out[n] = '\0';
	r->p += 2 + n;
	r->left -= 2 + n;
	return 0;
}

/* ---- the monitor ---- */

#define MON_F_USERNAME 0x1 /* needs allow_username */
#define MON_F_ADDRESS  0x2 /* needs allow_address */

/* A handler answers on fd. 0 done, -1 malformed request or failed answer:
 * the link ends. */
typedef int (*mon_handler)(int fd, const struct privsep_params *p, struct rd *r);

static int answer_pam(int fd, uint8_t type, uint32_t seq, const struct pam_auth_result *res)
{
	uint8_t buf[PRIVSEP_MSG_MAX];
	struct wr w = {.p = buf, .cap = sizeof(buf)};
	wr_u32(&w, seq);
	wr_u8(&w, (uint8_t)res->status);
	wr_str(&w, res->user, USER_MAX);
	wr_str(&w, res->reason, REASON_MAX);
	CSOCKS_BUG_ON(w.overflow);
	return privsep_msg_send(fd, type, buf, w.len) == 0 ? 0 : -1;
}

static int mon_pam_username(int fd, const struct privsep_params *p, struct rd *r)
{
	uint32_t seq;
	char user[USER_MAX + 1], pass[PASS_MAX + 1], rhost[RHOST_MAX + 1];
	int bad = rd_u32(r, &seq) || rd_str(r, user, 1, USER_MAX) || rd_str(r, pass, 0, PASS_MAX) ||
	          rd_str(r, rhost, 0, RHOST_MAX) || r->left;
	struct pam_auth_result res;
	if (!bad)
		pam_auth_username(&p->pam, user, pass, rhost, &res);
	explicit_bzero(pass, sizeof(pass));
	if (bad)
		return -1;
	return answer_pam(fd, MON_ANS_PAM_USERNAME, seq, &res);
}

static int mon_pam_address(int fd, const struct privsep_params *p, struct rd *r)
{
	uint32_t seq;
	char rhost[RHOST_MAX + 1];
	if (rd_u32(r, &seq) || rd_str(r, rhost, 1, RHOST_MAX) || r->left)
		return -1;
	struct pam_auth_result res;
	pam_auth_address(&p->pam, rhost, &res);
	return answer_pam(fd, MON_ANS_PAM_ADDRESS, seq, &res);
}

static int mon_ping(int fd, const struct privsep_params *p, struct rd *r)
{
	(void)p;
	uint32_t seq;
	if (rd_u32(r, &seq) || r->left)
		return -1;
	uint8_t b[4] = {(uint8_t)(seq >> 24), (uint8_t)(seq >> 16), (uint8_t)(seq >> 8),
	                (uint8_t)seq};
	return privsep_msg_send(fd, MON_ANS_PING, b, 4) == 0 ? 0 : -1;
}

static const struct {
	uint8_t type;
	unsigned flags;
	mon_handler fn;
} mon_dispatch[] = {
    {MON_REQ_PAM_USERNAME, MON_F_USERNAME, mon_pam_username},
    {MON_REQ_PAM_ADDRESS, MON_F_ADDRESS, mon_pam_address},
    {MON_REQ_PING, 0, mon_ping},
};

void privsep_monitor_serve(int fd, const struct privsep_params *p)
{
	unsigned permitted =
	    (p->allow_username ? MON_F_USERNAME : 0) | (p->allow_address ? MON_F_ADDRESS : 0);
	uint8_t buf[PRIVSEP_MSG_MAX];
	for (;;) {
		uint8_t type;
		size_t len;
		int rc = privsep_msg_recv(fd, &type, buf, sizeof(buf), &len);
		if (rc == -EPIPE)
			break; /* the main process closed the link */
		if (rc < 0) {
			log_warn("privsep monitor: bad message (%s); closing the link",
			         strerror(-rc));
			break;
		}
		size_t i;
		for (i = 0; i < sizeof(mon_dispatch) / sizeof(mon_dispatch[0]); i++)
			if (mon_dispatch[i].type == type)
				break;
		if (i == sizeof(mon_dispatch) / sizeof(mon_dispatch[0]) ||
		    (mon_dispatch[i].flags & ~permitted)) {
			log_warn("privsep monitor: %s message type %u; closing the link",
			         i == sizeof(mon_dispatch) / sizeof(mon_dispatch[0])
			             ? "unknown"
			             : "unpermitted",
			         type);
			break;
		}
		struct rd r = {.p = buf, .left = len};
		rc = mon_dispatch[i].fn(fd, p, &r);
		explicit_bzero(buf, len);
		if (rc != 0) {
			log_warn("privsep monitor: malformed message type %u; closing the link",
			         type);
			break;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	close(fd);
}

/* ---- the main side ---- */

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

/* Close every fd >= 3 except keep. */
static void close_other_fds(int keep)
{
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range((unsigned)keep + 1, ~0U, 0);
}

static void monitor_main(int fd, pid_t parent, const struct privsep_params *p)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the parent died before prctl */
		_exit(0);
	prctl(PR_SET_NAME, "csocks-monitor");
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	close_other_fds(fd);
	privsep_monitor_serve(fd, p);
	_exit(0);
}

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
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
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
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			snprintf(err, errlen, "privsep: fork: %s", strerror(errno));
			close(sv[0]);
			close(sv[1]);
			goto fail;
		}
		if (pid == 0)
			monitor_main(sv[1], self, p); /* never returns */
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
	req->p[0] = (uint8_t)(seq >> 24); /* the first field is the sequence */
	req->p[1] = (uint8_t)(seq >> 16);
	req->p[2] = (uint8_t)(seq >> 8);
	req->p[3] = (uint8_t)seq;
	const char *why = NULL;
	uint8_t buf[PRIVSEP_MSG_MAX];
	uint8_t got_type;
	size_t len;
	int rc = privsep_msg_send(l->fd, type, req->p, req->len);
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
		struct rd r = {.p = buf, .left = len};
		uint32_t aseq;
		uint8_t status = 0;
		memset(out, 0, sizeof(*out));
		if (rd_u32(&r, &aseq) || aseq != seq)
			why = "answer out of sequence";
		else if (ans == MON_ANS_PING) {
			if (r.left)
				why = "malformed answer";
			out->status = PAM_AUTH_OK;
		} else if (rd_u8(&r, &status) || status > PAM_AUTH_ERROR ||
		           rd_str(&r, out->user, 0, USER_MAX) ||
		           rd_str(&r, out->reason, 0, REASON_MAX) || r.left) {
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
	struct wr w = {.p = buf, .cap = sizeof(buf)};
	if (!user || !*user || !pass) {
		fail_result(out, "no user name or password");
		return out->status;
	}
	wr_u32(&w, 0);
	wr_str(&w, user, USER_MAX);
	wr_str(&w, pass, PASS_MAX);
	wr_str(&w, rhost, RHOST_MAX);
	if (w.overflow)
		fail_result(out, "user name, password or address too long");
	else
		call(ps, MON_REQ_PAM_USERNAME, &w, MON_ANS_PAM_USERNAME, out);
	explicit_bzero(buf, sizeof(buf));
	return out->status;
}

int privsep_pam_address(struct privsep *ps, const char *rhost, struct pam_auth_result *out)
{
	uint8_t buf[64 + RHOST_MAX];
	struct wr w = {.p = buf, .cap = sizeof(buf)};
	wr_u32(&w, 0);
	wr_str(&w, rhost, RHOST_MAX);
	if (w.overflow || !rhost || !*rhost) {
		fail_result(out, "no client address");
		return out->status;
	}
	return call(ps, MON_REQ_PAM_ADDRESS, &w, MON_ANS_PAM_ADDRESS, out);
}

int privsep_ping(struct privsep *ps)
{
	uint8_t buf[4];
	struct wr w = {.p = buf, .cap = sizeof(buf)};
	wr_u32(&w, 0);
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

/* ---- dropping privileges ---- */

static bool parse_id(const char *s, unsigned long *out)
{
	uint64_t v;
	if (cs_parse_u64(s, 0, 0xfffffffeUL, &v) != 0)
		return false;
	*out = (unsigned long)v;
	return true;
}

/* getpwnam_r (or a numeric uid). 0, or -1 with a message. */
static int lookup_user(const char *user, uid_t *uid, gid_t *gid, char *name, size_t namelen,
                       char *err, size_t errlen)
{
	char buf[16384];
	struct passwd pw, *res = NULL;
	unsigned long id;
	int rc = parse_id(user, &id) ? getpwuid_r((uid_t)id, &pw, buf, sizeof(buf), &res)
	                             : getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "server.user \"%s\": %s", user,
		         rc ? strerror(rc) : "no such user");
		return -1;
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	cs_strlcpy(name, pw.pw_name, namelen);
	return 0;
}

static int lookup_group(const char *group, gid_t *gid, char *err, size_t errlen)
{
	char buf[65536];
	struct group gr, *res = NULL;
	unsigned long id;
	int rc = parse_id(group, &id) ? getgrgid_r((gid_t)id, &gr, buf, sizeof(buf), &res)
	                              : getgrnam_r(group, &gr, buf, sizeof(buf), &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "server.group \"%s\": %s", group,
		         rc ? strerror(rc) : "no such group");
		return -1;
	}
	*gid = gr.gr_gid;
	return 0;
}

int privsep_drop_privileges(const char *user, const char *group, char *err, size_t errlen)
{
	if ((!user || !*user) && (!group || !*group))
		return 0;
	uid_t uid = 0;
	gid_t gid = 0;
	char name[256] = "";
	bool have_user = user && *user;
	if (have_user && lookup_user(user, &uid, &gid, name, sizeof(name), err, errlen) != 0)
		return -1;
	if (group && *group && lookup_group(group, &gid, err, errlen) != 0)
		return -1;
	if (have_user && uid == 0) {
		snprintf(err, errlen, "server.user \"%s\" is root: refusing to run as root", user);
		return -1;
	}
	if (geteuid() != 0) {
		/* Already unprivileged: fine only if we already are that user. */
		if ((!have_user || (getuid() == uid && geteuid() == uid)) && getegid() == gid &&
		    getgid() == gid)
			return 0;
		snprintf(err, errlen,
		         "cannot switch to server.user/group (%s/%s): not started as root",
		         have_user ? user : "-", group ? group : "-");
		return -1;
	}
	int rc = have_user ? initgroups(name, gid) : setgroups(1, &gid);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", have_user ? "initgroups" : "setgroups",
		         strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) != 0) {
		snprintf(err, errlen, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
		return -1;
	}
	if (have_user && setresuid(uid, uid, uid) != 0) {
		snprintf(err, errlen, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
		return -1;
	}
	/* Verify: every id changed, and root cannot be regained. */
	uid_t ru = (uid_t)-1, eu = (uid_t)-1, su = (uid_t)-1;
	gid_t rg = (gid_t)-1, eg = (gid_t)-1, sg = (gid_t)-1;
	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || rg != gid ||
	    eg != gid || sg != gid || (have_user && (ru != uid || eu != uid || su != uid))) {
		snprintf(err, errlen, "privilege drop did not stick (uid %u/%u/%u gid %u/%u/%u)",
		         (unsigned)ru, (unsigned)eu, (unsigned)su, (unsigned)rg, (unsigned)eg,
		         (unsigned)sg);
		return -1;
	}
	if (have_user && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "privilege drop did not stick: setuid(0) succeeded");
		return -1;
	}
	if (have_user && gid != 0 && (setgid(0) == 0 || setegid(0) == 0)) {
		snprintf(err, errlen, "privilege drop did not stick: setgid(0) succeeded");
		return -1;
	}
	return 0;
}

/* The monitor: its dispatch table and loop, and the body of the forked
 * process. See privsep_monitor.h. */
#include "auth/privsep_monitor.h"

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

#define MON_F_USERNAME 0x1 /* needs allow_username */

#define MON_F_ADDRESS 0x2 /* needs allow_address */

/* A handler answers on fd. 0 done, -1 malformed request or failed answer:
 * the link ends. */
typedef int (*mon_handler)(int fd, const struct privsep_params *p, struct rd *r);

static int answer_pam(int fd, uint8_t type, uint32_t seq, const struct pam_auth_result *res)
{
	uint8_t buf[PRIVSEP_MSG_MAX];
	struct wr w;
	wr_init(&w, buf, sizeof(buf));
	wr_u32be(&w, seq);
	wr_u8(&w, (uint8_t)res->status);
	privsep_wr_str(&w, res->user, PRIVSEP_USER_MAX);
	privsep_wr_str(&w, res->reason, PRIVSEP_REASON_MAX);
	CSOCKS_BUG_ON(w.full);
	return privsep_msg_send(fd, type, buf, wr_result(&w)) == 0 ? 0 : -1;
}

static int mon_pam_username(int fd, const struct privsep_params *p, struct rd *r)
{
	uint32_t seq;
	char user[PRIVSEP_USER_MAX + 1], pass[PRIVSEP_PASS_MAX + 1], rhost[PRIVSEP_RHOST_MAX + 1];
	int bad = rd_u32be(r, &seq) || privsep_rd_str(r, user, 1, PRIVSEP_USER_MAX) ||
	          privsep_rd_str(r, pass, 0, PRIVSEP_PASS_MAX) ||
	          privsep_rd_str(r, rhost, 0, PRIVSEP_RHOST_MAX) || rd_left(r);
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
	char rhost[PRIVSEP_RHOST_MAX + 1];
	if (rd_u32be(r, &seq) || privsep_rd_str(r, rhost, 1, PRIVSEP_RHOST_MAX) || rd_left(r))
		return -1;
	struct pam_auth_result res;
	pam_auth_address(&p->pam, rhost, &res);
	return answer_pam(fd, MON_ANS_PAM_ADDRESS, seq, &res);
}

static int mon_ping(int fd, const struct privsep_params *p, struct rd *r)
{
	(void)p;
	uint32_t seq;
	if (rd_u32be(r, &seq) || rd_left(r))
		return -1;
	uint8_t b[4];
	struct wr w;
	wr_init(&w, b, sizeof(b));
	wr_u32be(&w, seq);
	return privsep_msg_send(fd, MON_ANS_PING, b, wr_result(&w)) == 0 ? 0 : -1;
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
		struct rd r;
		rd_init(&r, buf, len);
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

/* Close every fd >= 3 except keep. */
static void close_other_fds(int keep)
{
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range((unsigned)keep + 1, ~0U, 0);
}

void privsep_monitor_main(int fd, pid_t parent, const struct privsep_params *p)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent) /* the parent died before prctl */
		_exit(0);
	prctl(PR_SET_NAME, "csocks-monitor");
	(void)signal(SIGINT, SIG_IGN);
	(void)signal(SIGTERM, SIG_IGN);
	(void)signal(SIGHUP, SIG_IGN);
	(void)signal(SIGPIPE, SIG_IGN);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	close_other_fds(fd);
	privsep_monitor_serve(fd, p);
	_exit(0);
}

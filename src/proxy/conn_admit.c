/* Phase ADMIT: connection limits ([qos.connection_limits]) and the start of
 * the session record. */
#include "proxy/conn_internal.h"

#include "config/config.h"
#include "proxy/conn_events.h"
#include "proxy/connlimit.h"
#include "util/log.h"
#include "util/strutil.h"

/* Phase ADMIT: the request passed authentication and the ACL. Take a
 * connection-limit slot when [qos] limits are on (refused: reply 0x02, a
 * rejected session), open the session, and go on to the command's phase. */
enum step conn_ph_admit(struct conn *c)
{
	struct connlimit *lim = c->w->sh->limits;
	if (lim) {
		const char *user = conn_user_name(cfg_of(c), &c->info);
		enum connlimit_result r = connlimit_acquire(lim, user);
		if (r != CONNLIMIT_OK) {
			const char *why = r == CONNLIMIT_USER ? "per-user connection limit reached"
			                                      : "global connection limit reached";
			log_debug("conn %llu: %s: %s", (unsigned long long)c->info.id, user, why);
			c->info.status = CONN_ST_REJECTED;
			c->info.reject = CONN_REJ_LIMIT;
			return conn_fail(c, SOCKS5_REP_NOT_ALLOWED, why);
		}
		c->flags |= CONN_F_LIMIT;
	}
	c->info.status = CONN_ST_ACTIVE;
	c->flags |= CONN_F_OPENED;
	c->session = conn_event_open(c->w->sh->ctx, cfg_of(c), &c->info);
	switch (c->info.cmd) {
	case SOCKS5_CMD_BIND:
		c->phase = CONN_PH_BIND;
		break;
	case SOCKS5_CMD_UDP_ASSOCIATE:
		c->phase = CONN_PH_UDP;
		break;
	default:
		c->phase = CONN_PH_CONNECT;
	}
	return STEP_NEXT;
}

void conn_admit_release(struct conn *c)
{
	if (!(c->flags & CONN_F_LIMIT))
		return;
	connlimit_release(c->w->sh->limits, conn_user_name(cfg_of(c), &c->info));
	c->flags &= (uint8_t)~CONN_F_LIMIT;
}

/* Phase RELAY: bytes both ways through relay.c (splice, or copying when no
 * pipe is to be had), bandwidth shaping ([qos.htb]) before and after each
 * turn, the traffic updates of the session, the idle deadline
 * (server.idle_timeout_secs), and the busy list that gives a tunnel which
 * used up its per-turn budget another turn after the others. */
#include "proxy/conn_internal.h"

#include <errno.h>

#include "config/config.h"
#include "proxy/conn_events.h"
#include "proxy/connlimit.h"
#include "util/strutil.h"
#include "util/timeutil.h"

static void arm_idle(struct conn *c)
{
	uint64_t idle =
	    config_ms(cfg_of(c)->server.idle_timeout_secs, cfg_of(c)->server.idle_timeout_ms);
	if (idle)
		loop_timer_in(c->w->loop, &c->t_phase, idle);
	else
		loop_timer_cancel(c->w->loop, &c->t_phase);
}

/* After the success reply: the tunnel's data phase. */
enum step conn_relay_start(struct conn *c)
{
	/* Bytes the client pipelined after its request go first. */
	if (c->hs_len)
		relay_preload(&c->relay, RELAY_UP, c->hs, c->hs_len);
	c->last_active = loop_now(c->w->loop);
	arm_idle(c);
	c->phase = CONN_PH_RELAY;
	return STEP_NEXT;
}

void conn_relay_sync_counters(struct conn *c)
{
	if (c->info.proto == CONN_PROTO_UDP)
		return; /* udp.c counts datagrams into c->info itself */
	c->info.bytes_up = c->relay.dir[RELAY_UP].bytes;
	c->info.bytes_down = c->relay.dir[RELAY_DOWN].bytes;
	c->info.packets_up = c->relay.dir[RELAY_UP].reads;
	c->info.packets_down = c->relay.dir[RELAY_DOWN].reads;
}

static const char *relay_error_reason(const struct relay *r)
{
	bool client = r->err_end == RELAY_CLIENT;
	switch (r->err) {
	case ECONNRESET:
		return client ? "client reset" : "upstream reset";
	case EPIPE:
		return client ? "client closed" : "upstream closed";
	case ETIMEDOUT:
		return client ? "client timed out" : "upstream timed out";
	}
	return client ? "client error" : "upstream error";
}

void conn_busy_add(struct conn *c)
{
	if (c->flags & CONN_F_BUSY)
		return;
	c->flags |= CONN_F_BUSY;
	c->busy_next = c->w->busy;
	c->w->busy = c;
}

/* Bandwidth shaping ([qos.htb]): before a relay turn, how much the user
 * may read (r->read_cap); after it, charge what was read. 0 from the
 * buckets means wait: *wait_ms is when to try again. */
static bool shaped(const struct conn *c)
{
	const struct connlimit *lim = c->w->sh->limits;
	return (c->flags & CONN_F_LIMIT) && connlimit_shaping(lim);
}

static uint64_t shape(struct conn *c, uint64_t used, uint64_t *wait_ms)
{
	uint64_t wait_ns;
	uint64_t allow = connlimit_bw(c->w->sh->limits, conn_user_name(cfg_of(c), &c->info), used,
	                              (uint64_t)time_mono_ns(), &wait_ns);
	*wait_ms = wait_ns / 1000000 + 1;
	return allow;
}

enum step conn_ph_relay(struct conn *c)
{
	struct relay *r = &c->relay;
	uint64_t reads0 = r->dir[0].reads + r->dir[1].reads;
	uint64_t wait_ms = 0;
	c->action = "relaying";
	if (shaped(c))
		r->read_cap = shape(c, 0, &wait_ms);
	enum relay_status st = relay_run(r, RELAY_BUDGET);
	if (shaped(c)) { /* the last turn's reads are charged too */
		shape(c, r->read_used, &wait_ms);
		if (st == RELAY_CAPPED && !timer_armed(&c->t_shape))
			loop_timer_in(c->w->loop, &c->t_shape, wait_ms);
	}
	uint64_t reads = r->dir[0].reads + r->dir[1].reads;
	if (reads != reads0) {
		c->last_active = loop_now(c->w->loop);
		uint32_t every = cfg_of(c)->sessions.traffic_update_packet_interval;
		if (every && reads - c->traffic_mark >= every) {
			c->traffic_mark = reads;
			conn_relay_sync_counters(c);
			conn_event_traffic(c->session, &c->info);
		}
	}
	switch (st) {
	case RELAY_WAIT:
		return STEP_WAIT;
	case RELAY_BUSY:
		conn_busy_add(c);
		return STEP_WAIT;
	case RELAY_CAPPED: /* the shaping timer (t_shape) runs it again */
		return STEP_WAIT;
	case RELAY_DONE:
		return conn_close_io(c, "closed");
	case RELAY_ERROR:
		return conn_close_io(c, relay_error_reason(r));
	}
	return STEP_WAIT;
}

void conn_run_busy(struct worker *w)
{
	struct conn *c = w->busy;
	w->busy = NULL;
	while (c) {
		struct conn *next = c->busy_next;
		c->busy_next = NULL;
		c->flags &= (uint8_t)~CONN_F_BUSY;
		conn_drive(c);
		c = next;
	}
}

/* t_shape: the buckets have refilled. */
void conn_relay_on_shape(struct timer *t)
{
	struct conn *c = t->data;
	if (c->phase == CONN_PH_RELAY)
		conn_drive(c);
}

/* The idle deadline is not moved on every read (that would be a heap
 * operation per packet): reads stamp last_active and the timer, when it
 * fires, re-arms for the rest. */
enum step conn_timeout_relay(struct conn *c)
{
	uint64_t idle =
	    config_ms(cfg_of(c)->server.idle_timeout_secs, cfg_of(c)->server.idle_timeout_ms);
	uint64_t now = loop_now(c->w->loop);
	if (timer_before(now, c->last_active + idle)) {
		timer_arm(loop_timers(c->w->loop), &c->t_phase, c->last_active + idle);
		return STEP_WAIT;
	}
	return conn_close_io(c, "idle timeout");
}

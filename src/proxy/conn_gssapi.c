/* Phase GSSAPI: SOCKS5 method 0x01 (RFC 1961) after the greeting chose it.
 *
 *   1. context establishment: the client's mtyp 1 tokens, each run through
 *      gss_accept_sec_context on the auth thread pool (the answer comes back
 *      through the worker's mailbox, as for PAM); each output token goes
 *      back in an mtyp 1 message; a failure answers the abort (01 FF).
 *   2. protection-level subnegotiation (mtyp 2): whatever level the client
 *      asks for, csocks grants 0, no per-message protection (docs/
 *      authentication.md: curl, python-gssapi clients and Dante's "clear"
 *      accept it; a client that insists on protection closes).
 * Then the user (the principal's local name) goes on to REQUEST like any
 * authenticated user. Tokens can be up to 64 KiB (an AD ticket with a PAC
 * is often 2-12 KiB), far more than c->hs: the phase has its own buffers,
 * allocated while it runs. */
#include "proxy/conn_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/gssapi.h"
#include "config/config.h"
#include "obs/metrics.h"
#include "protocol/gssapi_frame.h"
#include "util/log.h"
#include "util/strutil.h"

enum gss_state {
	GSS_ST_TOKEN,  /* reading an mtyp 1 message */
	GSS_ST_STEP,   /* gss_accept_sec_context on the auth pool */
	GSS_ST_PROT,   /* reading the mtyp 2 message */
	GSS_ST_DONE,   /* the last answer is queued: REQUEST next */
	GSS_ST_FAILED, /* the abort is queued: close */
};

struct conn_gss {
	struct gssapi_sess *sess; /* NULL while an auth step holds it */
	uint8_t *in;              /* client bytes not parsed yet */
	size_t in_len, in_cap;
	uint8_t *out; /* our messages not sent yet */
	size_t out_len, out_off;
	uint8_t state; /* enum gss_state */
	bool cont;     /* the last step wants another token */
	const char *fail_reason;
};

#define GSS_IN_START 2048
#define GSS_IN_MAX   (GSSAPI_FRAME_HDR + GSSAPI_TOKEN_MAX)

void conn_gssapi_free(struct conn *c)
{
	struct conn_gss *g = c->gss;
	if (!g)
		return;
	gssapi_sess_free(g->sess);
	free(g->in);
	free(g->out);
	free(g);
	c->gss = NULL;
}

void conn_gssapi_settle(struct conn *c, struct auth_task *t)
{
	struct conn_gss *g = c->gss;
	if (!g) { /* cannot happen: the phase outlives its step */
		gssapi_sess_free(t->gss);
	} else {
		gssapi_sess_free(g->sess);
		g->sess = t->gss;
		g->cont = t->outcome == AUTH_OK && t->gss_continue;
	}
	t->gss = NULL;
}

static int gss_queue(struct conn_gss *g, const uint8_t *p, size_t n)
{
	uint8_t *o = realloc(g->out, g->out_len + n);
	if (!o)
		return -1;
	g->out = o;
	memcpy(g->out + g->out_len, p, n);
	g->out_len += n;
	return 0;
}

/* mtyp with tok; or the abort when tok is NULL. */
static int gss_queue_msg(struct conn_gss *g, uint8_t mtyp, const uint8_t *tok, size_t len)
{
	uint8_t h[GSSAPI_FRAME_HDR];
	if (!tok)
		return gss_queue(g, h, gssapi_write_abort(h, sizeof(h)));
	size_t n = gssapi_write_header(h, sizeof(h), mtyp, len);
	if (n == 0 || gss_queue(g, h, n) != 0)
		return -1;
	return gss_queue(g, tok, len);
}

/* 1 all sent, 0 wait for writability, -1 failed (reason set). */
static int gss_flush(struct conn *c)
{
	struct conn_gss *g = c->gss;
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	while (g->out_off < g->out_len) {
		if (!e->can_write)
			return 0;
		ssize_t n = send(e->fd, g->out + g->out_off, g->out_len - g->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			g->out_off += (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			e->can_write = 0;
			return 0;
		} else if (!(n < 0 && errno == EINTR)) {
			conn_close_io(c, "client error while sending");
			return -1;
		}
	}
	g->out_len = g->out_off = 0;
	return 1;
}

static enum step gss_read(struct conn *c)
{
	struct conn_gss *g = c->gss;
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	if (g->in_len == g->in_cap) {
		if (g->in_cap >= GSS_IN_MAX) /* the parser decides before this */
			return conn_fail(c, CONN_REPLY_NONE, "GSSAPI message too long");
		size_t cap = g->in_cap * 4 < GSS_IN_MAX ? g->in_cap * 4 : GSS_IN_MAX;
		uint8_t *p = realloc(g->in, cap);
		if (!p)
			return conn_fail(c, CONN_REPLY_NONE, "out of memory");
		g->in = p;
		g->in_cap = cap;
	}
	if (!e->can_read)
		return STEP_WAIT;
	ssize_t n = recv(e->fd, g->in + g->in_len, g->in_cap - g->in_len, MSG_DONTWAIT);
	if (n > 0) {
		g->in_len += (size_t)n;
		return STEP_NEXT;
	}
	return conn_hs_recv_failed(c, n);
}

static void gss_consume(struct conn_gss *g, size_t n)
{
	memmove(g->in, g->in + n, g->in_len - n);
	g->in_len -= n;
}

/* Refuse: the abort goes out, then the connection closes as an auth
 * rejection (a session with status rejected). */
static void gss_refuse(struct conn *c, const char *why)
{
	struct conn_gss *g = c->gss;
	g->out_len = g->out_off = 0;
	if (gss_queue_msg(g, GSSAPI_MTYP_ABORT, NULL, 0) != 0)
		g->out_len = 0;
	g->fail_reason = why;
	g->state = GSS_ST_FAILED;
}

static enum step gss_rejected(struct conn *c, const char *why)
{
	metrics_auth_failure(AUTH_GSSAPI);
	c->info.user = c->user[0] ? c->user : NULL;
	c->info.status = CONN_ST_REJECTED;
	c->info.reject = CONN_REJ_AUTH;
	return conn_fail(c, CONN_REPLY_NONE, why);
}

static enum step gss_init(struct conn *c)
{
	struct conn_gss *g = calloc(1, sizeof(*g));
	if (!g)
		return conn_fail(c, CONN_REPLY_NONE, "out of memory");
	c->gss = g;
	g->sess = gssapi_sess_new();
	g->in_cap = GSS_IN_START;
	g->in = malloc(g->in_cap);
	if (!g->in)
		return conn_fail(c, CONN_REPLY_NONE, "out of memory");
	/* Bytes the client sent behind its greeting. */
	memcpy(g->in, c->hs, c->hs_len);
	g->in_len = c->hs_len;
	c->hs_len = 0;
	g->state = GSS_ST_TOKEN;
	return STEP_NEXT;
}

/* A whole message is in g->in: act on it. */
static enum step gss_message(struct conn *c, const struct gssapi_frame *f, size_t used)
{
	struct conn_gss *g = c->gss;
	if (f->mtyp == GSSAPI_MTYP_ABORT)
		return gss_rejected(c, "client sent GSSAPI abort");
	if (g->state == GSS_ST_TOKEN) {
		if (f->mtyp != GSSAPI_MTYP_AUTH) {
			gss_refuse(c, "unexpected GSSAPI message");
			return STEP_NEXT;
		}
		if (gssapi_sess_set_input(g->sess, f->token, f->len) != 0)
			return conn_fail(c, CONN_REPLY_NONE, "out of memory");
		gss_consume(g, used);
		g->state = GSS_ST_STEP;
		c->auth_result = 0;
		struct gssapi_sess *s = g->sess;
		g->sess = NULL; /* the step owns it until it comes back */
		return conn_auth_begin_gssapi(c, s);
	}
	/* GSS_ST_PROT */
	if (f->mtyp != GSSAPI_MTYP_PROT) {
		gss_refuse(c, "unexpected GSSAPI message");
		return STEP_NEXT;
	}
	uint8_t asked = 0;
	bool nec = false;
	if (gssapi_sess_prot(g->sess, f->token, f->len, GSSAPI_LEVEL_NONE, &asked, &nec) != 0) {
		if (cfg_of(c)->auth.gssapi.verbose)
			log_info("gssapi: %s", gssapi_sess_detail(g->sess));
		gss_refuse(c, "bad GSSAPI protection-level message");
		return STEP_NEXT;
	}
	size_t olen;
	const uint8_t *o = gssapi_sess_output(g->sess, &olen);
	if (gss_queue_msg(g, GSSAPI_MTYP_PROT, o, olen) != 0)
		return conn_fail(c, CONN_REPLY_NONE, "out of memory");
	if (cfg_of(c)->auth.gssapi.verbose)
		log_info("gssapi: %s asked for protection level %u (%s)%s; granted 0 (none)",
		         gssapi_sess_principal(g->sess), asked, gssapi_level_name(asked),
		         nec ? " unwrapped (NEC)" : "");
	gss_consume(g, used);
	g->state = GSS_ST_DONE;
	return STEP_NEXT;
}

/* The step came back (c->auth_result, g->sess, g->cont are set). */
static enum step gss_step_done(struct conn *c)
{
	struct conn_gss *g = c->gss;
	if (c->auth_result != 1 || !g->sess) {
		gss_refuse(c, c->auth_reason ? c->auth_reason : "GSSAPI authentication failed");
		return STEP_NEXT;
	}
	size_t olen;
	const uint8_t *o = gssapi_sess_output(g->sess, &olen);
	if (olen > 0 && gss_queue_msg(g, GSSAPI_MTYP_AUTH, o, olen) != 0)
		return conn_fail(c, CONN_REPLY_NONE, "out of memory");
	if (g->cont) {
		if (olen == 0) {
			gss_refuse(c, "GSSAPI context stalled");
			return STEP_NEXT;
		}
		g->state = GSS_ST_TOKEN;
	} else {
		g->state = GSS_ST_PROT;
	}
	return STEP_NEXT;
}

/* The subnegotiation is answered: on to the request, with what the client
 * sent behind it. */
static enum step gss_finish(struct conn *c)
{
	struct conn_gss *g = c->gss;
	if (g->in_len > CONN_HS_SIZE)
		return conn_fail(c, CONN_REPLY_NONE, "bad request");
	memcpy(c->hs, g->in, g->in_len);
	c->hs_len = (uint16_t)g->in_len;
	conn_gssapi_free(c);
	c->info.user = c->user[0] ? c->user : NULL;
	c->phase = CONN_PH_REQUEST;
	return STEP_NEXT;
}

enum step conn_ph_gssapi(struct conn *c)
{
	c->action = "GSSAPI authentication";
	if (!c->gss && gss_init(c) != STEP_NEXT)
		return STEP_DONE;
	struct conn_gss *g = c->gss;
	for (;;) {
		if (g->out_off < g->out_len) {
			int r = gss_flush(c);
			if (r < 0)
				return STEP_DONE;
			if (r == 0)
				return STEP_WAIT;
		}
		switch (g->state) {
		case GSS_ST_FAILED:
			return gss_rejected(c, g->fail_reason);
		case GSS_ST_DONE:
			return gss_finish(c);
		case GSS_ST_STEP:
			if (c->auth || c->auth_result == 0)
				return STEP_WAIT; /* the answer will drive us */
			if (gss_step_done(c) != STEP_NEXT)
				return STEP_DONE;
			continue;
		default:
			break;
		}
		struct gssapi_frame f;
		size_t used = 0;
		int r = gssapi_parse_frame(g->in, g->in_len, &f, &used);
		enum step st;
		if (r == PROTO_INCOMPLETE)
			st = gss_read(c);
		else if (r != PROTO_OK) {
			gss_refuse(c, "bad GSSAPI message");
			st = STEP_NEXT;
		} else {
			st = gss_message(c, &f, used);
		}
		if (st != STEP_NEXT)
			return st;
		g = c->gss;
	}
}

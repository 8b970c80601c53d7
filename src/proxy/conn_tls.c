/* Phase TLS (server.tls.enabled): the TLS handshake, between the PROXY
 * header and the client auth tier, driven by the worker's events
 * (SSL_ERROR_WANT_READ / WANT_WRITE clear the readiness flags, the next
 * edge runs it again) under the handshake deadline armed at accept. Every
 * byte after it goes through the SSL: the SOCKS handshake (conn_io.c) and
 * the relay (relay_set_tls). With user_from_client_cert the verified
 * certificate's subject CN becomes the user. */
#include "proxy/conn_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "protocol/sockaddr.h"
#include "proxy/tls.h"
#include "util/log.h"
#include "util/strutil.h"

#define TLS_RECORD_HANDSHAKE 0x16 /* the first byte of every ClientHello */

static void tls_log(const struct conn *c, enum log_level lvl, const char *what, const char *why)
{
	if (!log_enabled(lvl))
		return;
	char peer[SOCKADDR_STR_MAX];
	sockaddr_str(&c->info.client.sa, peer, sizeof(peer));
	log_msg(lvl, "conn %llu: %s from %s%s%s", (unsigned long long)c->info.id, what, peer,
	        why ? ": " : "", why ? why : "");
}

/* Not TLS at all: say what it looks like, count, close without a word. */
static enum step not_tls(struct conn *c, uint8_t b)
{
	const char *what = b == SOCKS5_VERSION ? "plaintext SOCKS5 greeting on the TLS listener"
	                   : b == 0x04         ? "plaintext SOCKS4 request on the TLS listener"
	                                       : "plaintext (not TLS) bytes on the TLS listener";
	tls_log(c, LOGL_WARN, what, "closed");
	tls_server_count_failure(c->w->sh->tls, TLS_FAIL_PLAINTEXT);
	return conn_close_io(c, "plaintext client on the TLS listener");
}

/* The handshake failed: why, in a word for the close reason, and the
 * OpenSSL text for the log. A refused client certificate is an auth
 * refusal: counted as such and recorded as a rejected session. */
static enum step handshake_failed(struct conn *c, int ssl_err)
{
	unsigned long e = ERR_peek_last_error();
	int reason = ERR_GET_REASON(e);
	char why[256];
	bool cert = reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
	            reason == SSL_R_CERTIFICATE_VERIFY_FAILED ||
	            SSL_get_verify_result(c->relay.ssl) != X509_V_OK;
	if ((ssl_err == SSL_ERROR_SYSCALL || ssl_err == SSL_ERROR_ZERO_RETURN) && !e)
		snprintf(why, sizeof(why), "%s",
		         errno ? strerror(errno) : "client closed during the TLS handshake");
	else
		tls_error_text(why, sizeof(why), "TLS handshake failed");
	ERR_clear_error();
	if (cert) {
		tls_server_count_failure(c->w->sh->tls, TLS_FAIL_CLIENT_CERT);
		tls_log(c, LOGL_WARN, "TLS client certificate refused", why);
		c->info.status = CONN_ST_REJECTED;
		c->info.reject = CONN_REJ_AUTH;
		return conn_close_io(c, "tls client certificate refused");
	}
	tls_server_count_failure(c->w->sh->tls, TLS_FAIL_HANDSHAKE);
	tls_log(c, LOGL_INFO, "TLS handshake failed", why);
	return conn_close_io(c, "tls handshake failed");
}

/* Done: the certificate's user, the relay's SSL, on to the auth tiers. */
static enum step handshake_done(struct conn *c)
{
	const struct csocks_config *cfg = cfg_of(c);
	tls_server_count_ok(c->w->sh->tls);
	if (cfg->server.tls.user_from_client_cert) {
		if (tls_peer_user(c->relay.ssl, c->user, sizeof(c->user)) < 0) {
			c->user[0] = 0;
			tls_server_count_failure(c->w->sh->tls, TLS_FAIL_CLIENT_CERT);
			tls_log(c, LOGL_WARN, "TLS client certificate names no user",
			        "no usable subject CN");
			c->info.status = CONN_ST_REJECTED;
			c->info.reject = CONN_REJ_AUTH;
			return conn_close_io(c, "tls client certificate names no user");
		}
		c->info.user = c->user;
		c->flags |= CONN_F_CERT_USER;
	}
	if (log_enabled(LOGL_DEBUG)) {
		const unsigned char *alpn = NULL;
		unsigned alen = 0;
		SSL_get0_alpn_selected(c->relay.ssl, &alpn, &alen);
		log_debug("conn %llu: TLS %s %s%s%.*s%s%s%s", (unsigned long long)c->info.id,
		          SSL_get_version(c->relay.ssl), SSL_get_cipher_name(c->relay.ssl),
		          alen ? " alpn " : "", (int)alen, alpn ? (const char *)alpn : "",
		          SSL_session_reused(c->relay.ssl) ? " resumed" : "",
		          c->user[0] ? " user " : "", c->user[0] ? c->user : "");
	}
	relay_set_tls(&c->relay, c->relay.ssl);
	c->phase = CONN_PH_CLIENT_AUTH;
	return STEP_NEXT;
}

enum step conn_ph_tls(struct conn *c)
{
	struct relay_end *e = &c->relay.end[RELAY_CLIENT];
	c->action = "TLS handshake";
	if (!c->relay.ssl) {
		/* The first byte tells a ClientHello from a plaintext client. */
		uint8_t b;
		if (!e->can_read)
			return STEP_WAIT;
		ssize_t n = recv(e->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n <= 0)
			return conn_hs_recv_failed(c, n);
		if (b != TLS_RECORD_HANDSHAKE)
			return not_tls(c, b);
		c->relay.ssl = tls_server_ssl_new(c->w->sh->tls, e->fd);
		if (!c->relay.ssl)
			return conn_close_io(c, "out of memory (TLS)");
	}
	ERR_clear_error();
	errno = 0;
	int r = SSL_do_handshake(c->relay.ssl);
	if (r == 1)
		return handshake_done(c);
	int se = SSL_get_error(c->relay.ssl, r);
	if (se == SSL_ERROR_WANT_READ) {
		e->can_read = 0;
		return STEP_WAIT;
	}
	if (se == SSL_ERROR_WANT_WRITE) {
		e->can_write = 0;
		return STEP_WAIT;
	}
	return handshake_failed(c, se);
}

enum step conn_tls_timeout(struct conn *c)
{
	tls_server_count_failure(c->w->sh->tls, TLS_FAIL_TIMEOUT);
	tls_log(c, LOGL_INFO, "TLS handshake timeout", NULL);
	return conn_close_io(c, "tls handshake timeout");
}

void conn_tls_close(struct conn *c)
{
	SSL *ssl = c->relay.ssl;
	if (!ssl)
		return;
	/* A finished handshake gets our close_notify (one try: the socket is
	 * closing either way); a failed one has sent its alert already. */
	if (SSL_is_init_finished(ssl) && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
	c->relay.ssl = NULL;
}

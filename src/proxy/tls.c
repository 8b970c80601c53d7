/* SOCKS over TLS, server side: the SSL_CTX of a config snapshot (OpenSSL 3's
 * secure defaults, TLS 1.2/1.3, no renegotiation, tickets on), its reload,
 * the client certificate's user, counters. See tls.h. */
#include "proxy/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config/config.h"
#include "obs/prom.h"
#include "util/log.h"
#include "util/strutil.h"

#define TLS_SESSION_CACHE 2048 /* TLS 1.2 sessions kept for resumption by id */

struct tls_server {
	const struct csocks_config *cfg;
	pthread_mutex_t mu;
	SSL_CTX *ctx;      /* current; SSL_new holds its own reference */
	int64_t not_after; /* current certificate's expiry, Unix seconds */
	enum tls_path path;
	uint64_t ok;                       /* completed handshakes (atomic) */
	uint64_t fail[TLS_FAIL_COUNT];     /* failed ones by cause (atomic) */
	uint64_t reloads, reload_failures; /* (atomic) */
};

const char *tls_error_text(char *buf, size_t size, const char *fallback)
{
	unsigned long e = ERR_get_error();
	unsigned long last = e;
	while (e) { /* the newest one names the cause best */
		last = e;
		e = ERR_get_error();
	}
	if (last)
		ERR_error_string_n(last, buf, size);
	else
		snprintf(buf, size, "%s", fallback);
	return buf;
}

/* "file:line: key: 'path': what OpenSSL said" */
static void file_error(const struct csocks_config *cfg, const char *key, const char *path,
                       char *err, size_t errlen)
{
	char loc[300], why[256];
	tls_error_text(why, sizeof(why), errno ? strerror(errno) : "unreadable");
	snprintf(err, errlen, "%s: %s: '%s': %s", config_key_where(cfg, key, loc, sizeof(loc)), key,
	         path ? path : "", why);
}

/* ALPN: the first of the client's protocols that server.tls.alpn_protocols
 * lists (in the server's order). No match: no ALPN, not a failure. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	const struct csocks_config *cfg = arg;
	for (size_t i = 0; i < cfg->server.tls.n_alpn_protocols; i++) {
		const char *want = cfg->server.tls.alpn_protocols[i];
		size_t wl = strlen(want);
		for (unsigned int k = 0; k < inlen;) {
			unsigned int l = in[k];
			if (k + 1 + l > inlen)
				break;
			if (l == wl && memcmp(in + k + 1, want, l) == 0) {
				*out = in + k + 1;
				*outlen = (unsigned char)l;
				return SSL_TLSEXT_ERR_OK;
			}
			k += 1 + l;
		}
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static int64_t cert_not_after(SSL_CTX *ctx)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	struct tm tm;
	if (!x || ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

static int load_client_ca(SSL_CTX *ctx, const struct csocks_config *cfg, char *err, size_t errlen)
{
	const char *ca = cfg->server.tls.client_ca_path;
	errno = 0;
	if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		file_error(cfg, "server.tls.client_ca_path", ca, err, errlen);
		return -1;
	}
	STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
	if (!names) {
		file_error(cfg, "server.tls.client_ca_path", ca, err, errlen);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, names);
	int mode = SSL_VERIFY_PEER;
	if (cfg->server.tls.require_client_auth)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	return 0;
}

SSL_CTX *tls_ctx_build(const struct csocks_config *cfg, int64_t *not_after, char *err,
                       size_t errlen)
{
	const char *crt = cfg->server.tls.certificate_path, *key = cfg->server.tls.private_key_path;
	const char *mv = cfg->server.tls.min_protocol_version;
	ERR_clear_error();
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		char why[256];
		snprintf(err, errlen, "SSL_CTX_new: %s",
		         tls_error_text(why, sizeof(why), "failed"));
		return NULL;
	}
	int minv = mv && strcmp(mv, "TLS13") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;
	SSL_CTX_set_min_proto_version(ctx, minv);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/* Buffers go back while a tunnel is idle; writes may be partial and
	 * resume from the same bytes at another address (the relay's carrier). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	static const unsigned char sid_ctx[] = "csocks";
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	/* Tickets resume TLS 1.3 and most 1.2 clients statelessly; the cache
	 * (which OpenSSL fills with every 1.2 session) is kept small. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, TLS_SESSION_CACHE);
	errno = 0;
	if (!crt || SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
		file_error(cfg, "server.tls.certificate_path", crt, err, errlen);
		goto fail;
	}
	errno = 0;
	if (!key || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		file_error(cfg, "server.tls.private_key_path", key, err, errlen);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		errno = 0;
		file_error(cfg, "server.tls.private_key_path", key, err, errlen);
		goto fail;
	}
	if (cfg->server.tls.client_ca_path && *cfg->server.tls.client_ca_path &&
	    load_client_ca(ctx, cfg, err, errlen) < 0)
		goto fail;
	if (cfg->server.tls.n_alpn_protocols)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, (void *)cfg);
	if (not_after)
		*not_after = cert_not_after(ctx);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_kernel_has_ulp(const char *ulp_list)
{
	char buf[512];
	if (!ulp_list) {
		int fd = open("/proc/sys/net/ipv4/tcp_available_ulp", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = 0;
		ulp_list = buf;
	}
	for (const char *p = ulp_list; *p;) {
		size_t n = strcspn(p, " \t\n");
		if (n == 3 && memcmp(p, "tls", 3) == 0)
			return 1;
		p += n;
		p += strspn(p, " \t\n");
	}
	return 0;
}

const char *tls_path_name(enum tls_path p)
{
	return p == TLS_PATH_KTLS ? "ktls" : "buffered";
}

struct tls_server *tls_server_new(const struct csocks_config *cfg, char *err, size_t errlen)
{
	struct tls_server *ts = xcalloc(1, sizeof(*ts));
	ts->cfg = cfg;
	pthread_mutex_init(&ts->mu, NULL);
	ts->ctx = tls_ctx_build(cfg, &ts->not_after, err, errlen);
	if (!ts->ctx) {
		tls_server_free(ts);
		return NULL;
	}
	/* kTLS: OpenSSL hands the record layer to the kernel when the tls ULP
	 * is there (CSOCKS_TLS_NO_KTLS=1 forces the buffered path). */
	const char *off = getenv("CSOCKS_TLS_NO_KTLS");
	if (tls_kernel_has_ulp(NULL) && !(off && *off == '1')) {
		ts->path = TLS_PATH_KTLS;
		SSL_CTX_set_options(ts->ctx, SSL_OP_ENABLE_KTLS);
		log_info("tls: relay path ktls (kernel TLS offered: OpenSSL moves records through "
		         "the kernel)");
	} else {
		ts->path = TLS_PATH_BUFFERED;
		log_info("tls: relay path buffered (%s): SSL_read/SSL_write through pooled buffers",
		         off && *off == '1' ? "CSOCKS_TLS_NO_KTLS=1"
		                            : "no kernel tls ULP in tcp_available_ulp");
	}
	log_info("tls: certificate %s, expires %lld, min %s%s", cfg->server.tls.certificate_path,
	         (long long)ts->not_after,
	         cfg->server.tls.min_protocol_version ? cfg->server.tls.min_protocol_version
	                                              : "TLS12",
	         cfg->server.tls.require_client_auth ? ", client certificates required" : "");
	return ts;
}

void tls_server_free(struct tls_server *ts)
{
	if (!ts)
		return;
	SSL_CTX_free(ts->ctx);
	pthread_mutex_destroy(&ts->mu);
	free(ts);
}

int tls_server_reload(struct tls_server *ts, char *err, size_t errlen)
{
	int64_t na = 0;
	SSL_CTX *ctx = tls_ctx_build(ts->cfg, &na, err, errlen);
	if (!ctx) {
		__atomic_fetch_add(&ts->reload_failures, 1, __ATOMIC_RELAXED);
		return -1;
	}
	if (ts->path == TLS_PATH_KTLS)
		SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
	pthread_mutex_lock(&ts->mu);
	SSL_CTX *old = ts->ctx;
	ts->ctx = ctx;
	ts->not_after = na;
	pthread_mutex_unlock(&ts->mu);
	SSL_CTX_free(old); /* live connections hold their own references */
	__atomic_fetch_add(&ts->reloads, 1, __ATOMIC_RELAXED);
	return 0;
}

SSL *tls_server_ssl_new(struct tls_server *ts, int fd)
{
	pthread_mutex_lock(&ts->mu);
	SSL *ssl = SSL_new(ts->ctx);
	pthread_mutex_unlock(&ts->mu);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

enum tls_path tls_server_path(const struct tls_server *ts)
{
	return ts->path;
}

void tls_server_count_ok(struct tls_server *ts)
{
	__atomic_fetch_add(&ts->ok, 1, __ATOMIC_RELAXED);
}

void tls_server_count_failure(struct tls_server *ts, enum tls_fail why)
{
	if (why >= 0 && why < TLS_FAIL_COUNT)
		__atomic_fetch_add(&ts->fail[why], 1, __ATOMIC_RELAXED);
}

int tls_peer_user(SSL *ssl, char *out, size_t cap)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	if (!x || SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	X509_NAME *name = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (i < 0)
		return -1;
	ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8, s);
	int rc = -1;
	if (n > 0 && (size_t)n < cap && memchr(utf8, 0, (size_t)n) == NULL) {
		memcpy(out, utf8, (size_t)n);
		out[n] = 0;
		rc = 0;
	}
	OPENSSL_free(utf8);
	return rc;
}

void tls_server_collect(struct tls_server *ts, struct prom_writer *w)
{
	static const char *const why[TLS_FAIL_COUNT] = {
	    [TLS_FAIL_PLAINTEXT] = "plaintext",
	    [TLS_FAIL_HANDSHAKE] = "handshake",
	    [TLS_FAIL_CLIENT_CERT] = "client_certificate",
	    [TLS_FAIL_TIMEOUT] = "timeout",
	};
	prom_counter(w, "csocks_tls_handshakes_total", "Completed TLS handshakes",
	             __atomic_load_n(&ts->ok, __ATOMIC_RELAXED));
	if (prom_family(w, "csocks_tls_handshake_failures_total",
	                "TLS handshakes that failed, by cause", PROM_COUNTER) == 0)
		for (int i = 0; i < TLS_FAIL_COUNT; i++) {
			struct prom_label l = {"reason", why[i]};
			prom_sample_u64(w, &l, 1, __atomic_load_n(&ts->fail[i], __ATOMIC_RELAXED));
		}
	prom_counter(w, "csocks_tls_reloads_total", "Successful TLS context reloads",
	             __atomic_load_n(&ts->reloads, __ATOMIC_RELAXED));
	prom_counter(w, "csocks_tls_reload_failures_total",
	             "TLS reloads that kept the old context (bad file)",
	             __atomic_load_n(&ts->reload_failures, __ATOMIC_RELAXED));
	pthread_mutex_lock(&ts->mu);
	int64_t na = ts->not_after;
	pthread_mutex_unlock(&ts->mu);
	prom_gauge(w, "csocks_tls_certificate_expiry_seconds",
	           "Seconds until the server certificate expires (negative: expired)",
	           (double)(na - (int64_t)time(NULL)));
	if (prom_family(w, "csocks_tls_relay_path", "The TLS tunnels' data path (1 = in use)",
	                PROM_GAUGE) == 0) {
		struct prom_label l = {"path", tls_path_name(ts->path)};
		prom_sample_u64(w, &l, 1, 1);
	}
}

/* SSL_ERROR_* as the socket calls would say it: EAGAIN for "wait", 0 for
 * the peer's close_notify (or its plain EOF), EPROTO for a TLS error. */
static ssize_t tls_io_result(SSL *ssl, int r)
{
	int e = SSL_get_error(ssl, r);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == 0)
			return 0; /* plain EOF without close_notify */
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

ssize_t tls_io_read(SSL *ssl, void *buf, size_t len, int peek)
{
	size_t got = 0;
	errno = 0;
	int r = peek ? SSL_peek_ex(ssl, buf, len, &got) : SSL_read_ex(ssl, buf, len, &got);
	if (r == 1)
		return (ssize_t)got;
	return tls_io_result(ssl, 0);
}

ssize_t tls_io_write(SSL *ssl, const void *buf, size_t len)
{
	size_t put = 0;
	errno = 0;
	if (SSL_write_ex(ssl, buf, len, &put) == 1)
		return (ssize_t)put;
	ssize_t n = tls_io_result(ssl, 0);
	if (n == 0) {
		errno = EPIPE;
		n = -1;
	}
	return n;
}

int tls_io_wants_other(SSL *ssl, int reading)
{
	return reading ? SSL_want_write(ssl) : SSL_want_read(ssl);
}

int tls_io_shutdown(SSL *ssl)
{
	errno = 0;
	int r = SSL_shutdown(ssl);
	if (r >= 0)
		return 0; /* our close_notify is out (the peer's may come later) */
	ssize_t n = tls_io_result(ssl, r);
	return n < 0 && errno == EAGAIN ? -1 : 0;
}

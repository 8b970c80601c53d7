/* proxy/tls.c: the SSL_CTX built from server.tls (versions, options, the
 * file:line errors for bad files), the kernel ULP check, ALPN and the
 * certificate user over a memory-BIO handshake, and reload keeping the old
 * context when a file is bad. Certificates come from
 * scripts/tls-test-certs.sh (openssl), made once into a temporary folder. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "config/config.h"
#include "event/pipepool.h"
#include "proxy/relay.h"
#include "proxy/tls.h"
#include "test.h"
#include "util/log.h"

static char dir[128];

static int make_certs(void)
{
	const char *root = getenv("CSOCKS_SOURCE_ROOT");
	char cmd[PATH_MAX * 2 + 64];
	snprintf(dir, sizeof(dir), "/tmp/csocks-test-tls-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/scripts/tls-test-certs.sh %s", root ? root : "..", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A config with TLS on: extra TOML lines after the two paths. */
static struct csocks_config *tls_config(const char *cert, const char *key, const char *extra)
{
	char text[8192];
	snprintf(text, sizeof(text),
	         "[server.tls]\nenabled = true\ncertificate_path = \"%s/%s\"\n"
	         "private_key_path = \"%s/%s\"\n%s",
	         dir, cert, dir, key, extra ? extra : "");
	struct config_diag d = {0};
	struct csocks_config *c = config_load_string(text, strlen(text), "t.toml", &d);
	for (size_t i = 0; i < d.n_errors; i++)
		printf("  config: %s\n", d.errors[i]);
	config_diag_free(&d);
	return c;
}

static void t_ulp_list(void)
{
	CHECK(!tls_kernel_has_ulp(""));
	CHECK(!tls_kernel_has_ulp("mptcp\n"));
	CHECK(!tls_kernel_has_ulp("tlsx mptcp"));
	CHECK(tls_kernel_has_ulp("tls"));
	CHECK(tls_kernel_has_ulp("espintcp mptcp tls\n"));
	CHECK(tls_kernel_has_ulp("tls mptcp"));
	CHECK_STR(tls_path_name(TLS_PATH_BUFFERED), "buffered");
	CHECK_STR(tls_path_name(TLS_PATH_KTLS), "ktls");
}

static void t_ctx_defaults(void)
{
	struct csocks_config *c = tls_config("server.pem", "server.key", NULL);
	if (!CHECK(c != NULL))
		return;
	char err[512] = "";
	int64_t na = 0;
	SSL_CTX *ctx = tls_ctx_build(c, &na, err, sizeof(err));
	if (CHECK(ctx != NULL)) {
		CHECK_INT(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
		uint64_t o = SSL_CTX_get_options(ctx);
		CHECK(o & SSL_OP_NO_RENEGOTIATION);
		CHECK(!(o & SSL_OP_NO_TICKET)); /* resumption by tickets */
		CHECK(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
		CHECK(SSL_CTX_get_verify_mode(ctx) == SSL_VERIFY_NONE);
		CHECK(SSL_CTX_sess_get_cache_size(ctx) == 2048);
		/* the helper signs for 825 days */
		int64_t days = (na - (int64_t)time(NULL)) / 86400;
		CHECK(days >= 823 && days <= 825);
		SSL_CTX_free(ctx);
	}
	config_free(c);

	c = tls_config("server.pem", "server.key", "min_protocol_version = \"TLS13\"\n");
	ctx = c ? tls_ctx_build(c, NULL, err, sizeof(err)) : NULL;
	if (CHECK(ctx != NULL))
		CHECK_INT(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	SSL_CTX_free(ctx);
	config_free(c);
}

static void t_ctx_bad_files(void)
{
	char err[512] = "", want[PATH_MAX + 100];
	/* not a certificate: the key's file:line and the path */
	struct csocks_config *c = tls_config("ca.cnf", "server.key", NULL);
	if (CHECK(c != NULL)) {
		CHECK(tls_ctx_build(c, NULL, err, sizeof(err)) == NULL);
		snprintf(want, sizeof(want),
		         "t.toml:3: server.tls.certificate_path: '%s/ca.cnf': ", dir);
		if (!CHECK(strstr(err, want) != NULL))
			printf("  got: %s\n", err);
	}
	config_free(c);
	/* a key that is not the certificate's */
	c = tls_config("server.pem", "alice.key", NULL);
	if (CHECK(c != NULL)) {
		CHECK(tls_ctx_build(c, NULL, err, sizeof(err)) == NULL);
		if (!CHECK(strstr(err, "t.toml:4: server.tls.private_key_path: '") != NULL))
			printf("  got: %s\n", err);
	}
	config_free(c);
	/* a client CA file that holds no certificate */
	char extra[PATH_MAX + 100];
	snprintf(extra, sizeof(extra),
	         "require_client_auth = true\nclient_ca_path = \"%s/ca.cnf\"\n", dir);
	c = tls_config("server.pem", "server.key", extra);
	if (CHECK(c != NULL)) {
		CHECK(tls_ctx_build(c, NULL, err, sizeof(err)) == NULL);
		if (!CHECK(strstr(err, "t.toml:6: server.tls.client_ca_path: '") != NULL))
			printf("  got: %s\n", err);
	}
	config_free(c);
}

/* Run a handshake between a server SSL on sctx and a client over memory
 * BIOs. 1 when both finished, 0 when one failed. */
static int mem_handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL **out_srv)
{
	SSL *s = SSL_new(sctx), *cl = SSL_new(cctx);
	BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
	BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
	SSL_set_bio(s, s_in, s_out);
	SSL_set_bio(cl, c_in, c_out);
	SSL_set_accept_state(s);
	SSL_set_connect_state(cl);
	SSL_set_tlsext_host_name(cl, "localhost");
	int ok = 0;
	for (int i = 0; i < 20; i++) {
		int rc = SSL_do_handshake(cl);
		int rs = SSL_do_handshake(s);
		char buf[16384];
		int n;
		while ((n = BIO_read(c_out, buf, sizeof(buf))) > 0)
			BIO_write(s_in, buf, n);
		while ((n = BIO_read(s_out, buf, sizeof(buf))) > 0)
			BIO_write(c_in, buf, n);
		if (rc == 1 && rs == 1) {
			/* TLS 1.3: the server learns of a bad client cert only now */
			char b;
			SSL_read(s, &b, 1);
			ok = SSL_get_verify_result(s) == X509_V_OK &&
			     SSL_get_error(s, -1) != SSL_ERROR_SSL;
			break;
		}
		if ((rc <= 0 && SSL_get_error(cl, rc) == SSL_ERROR_SSL) ||
		    (rs <= 0 && SSL_get_error(s, rs) == SSL_ERROR_SSL))
			break;
	}
	ERR_clear_error();
	SSL_free(cl);
	if (out_srv)
		*out_srv = s;
	else
		SSL_free(s);
	return ok;
}

static SSL_CTX *client_ctx(const char *cert)
{
	char p[PATH_MAX + 32], k[PATH_MAX + 32];
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	snprintf(p, sizeof(p), "%s/ca.pem", dir);
	SSL_CTX_load_verify_locations(c, p, NULL);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (cert) {
		snprintf(p, sizeof(p), "%s/%s.pem", dir, cert);
		snprintf(k, sizeof(k), "%s/%s.key", dir, cert);
		SSL_CTX_use_certificate_chain_file(c, p);
		SSL_CTX_use_PrivateKey_file(c, k, SSL_FILETYPE_PEM);
	}
	return c;
}

static void t_mtls_and_user(void)
{
	char extra[PATH_MAX + 200], err[512] = "";
	snprintf(extra, sizeof(extra),
	         "require_client_auth = true\nclient_ca_path = \"%s/ca.pem\"\n"
	         "user_from_client_cert = true\nalpn_protocols = [\"socks5\"]\n",
	         dir);
	struct csocks_config *c = tls_config("server.pem", "server.key", extra);
	if (!CHECK(c != NULL))
		return;
	SSL_CTX *sctx = tls_ctx_build(c, NULL, err, sizeof(err));
	if (!CHECK(sctx != NULL)) {
		printf("  %s\n", err);
		config_free(c);
		return;
	}
	CHECK(SSL_CTX_get_verify_mode(sctx) == (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT));

	SSL_CTX *alice = client_ctx("alice");
	static const unsigned char alpn[] = "\x02h2\x06socks5";
	SSL_CTX_set_alpn_protos(alice, alpn, sizeof(alpn) - 1);
	SSL *srv = NULL;
	CHECK(mem_handshake(sctx, alice, &srv) == 1);
	char user[64] = "";
	CHECK_INT(tls_peer_user(srv, user, sizeof(user)), 0);
	CHECK_STR(user, "alice");
	CHECK_INT(tls_peer_user(srv, user, 5), -1); /* does not fit */
	const unsigned char *sel = NULL;
	unsigned sl = 0;
	SSL_get0_alpn_selected(srv, &sel, &sl);
	CHECK(sl == 6 && memcmp(sel, "socks5", 6) == 0);
	SSL_free(srv);

	SSL_CTX *nocn = client_ctx("nocn");
	CHECK(mem_handshake(sctx, nocn, &srv) == 1);
	CHECK_INT(tls_peer_user(srv, user, sizeof(user)), -1);
	SSL_free(srv);

	SSL_CTX *anon = client_ctx(NULL), *other = client_ctx("mallory");
	SSL_CTX *expired = client_ctx("expired");
	CHECK(mem_handshake(sctx, anon, NULL) == 0);
	CHECK(mem_handshake(sctx, other, NULL) == 0);
	CHECK(mem_handshake(sctx, expired, NULL) == 0);
	SSL_CTX_free(alice);
	SSL_CTX_free(nocn);
	SSL_CTX_free(anon);
	SSL_CTX_free(other);
	SSL_CTX_free(expired);
	SSL_CTX_free(sctx);
	config_free(c);
}

static void t_server_reload(void)
{
	char cert[PATH_MAX + 32], cmd[PATH_MAX * 3];
	snprintf(cert, sizeof(cert), "%s/live.pem", dir);
	snprintf(cmd, sizeof(cmd), "cp %s/server.pem %s", dir, cert);
	CHECK(system(cmd) == 0);
	struct csocks_config *c = tls_config("live.pem", "server.key", NULL);
	if (!CHECK(c != NULL))
		return;
	char err[512] = "";
	struct tls_server *ts = tls_server_new(c, err, sizeof(err));
	if (!CHECK(ts != NULL)) {
		config_free(c);
		return;
	}
	CHECK_INT(tls_server_path(ts),
	          tls_kernel_has_ulp(NULL) ? TLS_PATH_KTLS : TLS_PATH_BUFFERED);
	SSL *before = tls_server_ssl_new(ts, -1);
	CHECK(before != NULL);
	CHECK_INT(tls_server_reload(ts, err, sizeof(err)), 0);
	/* a broken file: the old context stays */
	FILE *f = fopen(cert, "w");
	if (CHECK(f != NULL)) {
		fputs("broken\n", f);
		fclose(f);
	}
	CHECK_INT(tls_server_reload(ts, err, sizeof(err)), -1);
	CHECK(strstr(err, "server.tls.certificate_path") != NULL);
	SSL *after = tls_server_ssl_new(ts, -1);
	CHECK(after != NULL);
	if (before && after) /* the old context lives on in its connection */
		CHECK(SSL_get_SSL_CTX(before) != SSL_get_SSL_CTX(after));
	SSL_free(before);
	SSL_free(after);
	tls_server_free(ts);
	config_free(c);
}

/* Two connected non-blocking TCP loopback sockets. */
static void tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(l >= 0);
	CHECK(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(l, 1) == 0);
	CHECK(getsockname(l, (struct sockaddr *)&sa, &len) == 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(connect(*a, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	// cppcheck-suppress nullPointer ; accept4 allows NULL addrlen (gnu.cfg bug)
	*b = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	CHECK(*b >= 0);
	fcntl(*a, F_SETFL, O_NONBLOCK);
	/* As csocks sets on its sockets: without it Nagle holds a short last
	 * segment until the peer's delayed ACK (40 ms), longer than the
	 * bounded loops below take on an idle machine. */
	int one = 1;
	setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

static void relay_turn(struct relay *r)
{
	for (int i = 0; i < 2; i++)
		r->end[i].can_read = r->end[i].can_write = 1;
	(void)relay_run(r, RELAY_BUDGET);
}

/* The TLS relay (relay_set_tls) between a real SSL client and a plain
 * upstream: byte-exact both ways, carriers released when idle, close_notify
 * toward the client after upstream's EOF, the client's close_notify passed
 * on as FIN, byte counters. */
static void t_relay_tls(void)
{
	struct csocks_config *c = tls_config("server.pem", "server.key", NULL);
	char err[512];
	SSL_CTX *sctx = c ? tls_ctx_build(c, NULL, err, sizeof(err)) : NULL;
	if (!CHECK(sctx != NULL)) {
		config_free(c);
		return;
	}
	SSL_CTX *cctx = client_ctx(NULL);
	int cl, px, up_peer, up_px;
	tcp_pair(&cl, &px);
	tcp_pair(&up_peer, &up_px);
	SSL *s = SSL_new(sctx), *k = SSL_new(cctx);
	SSL_set_fd(s, px);
	SSL_set_fd(k, cl);
	SSL_set_accept_state(s);
	SSL_set_connect_state(k);
	int sd = 0, kd = 0;
	for (int i = 0; i < 2000 && !(sd && kd); i++) {
		if (!sd)
			sd = SSL_do_handshake(s) == 1;
		if (!kd)
			kd = SSL_do_handshake(k) == 1;
		if (!(sd && kd))
			usleep(1000);
	}
	CHECK(sd && kd);
	struct pipepool pool;
	pipepool_init(&pool, 64, 64);
	struct relay r;
	relay_init(&r, &pool, px, up_px);
	relay_set_tls(&r, s);

	static uint8_t out[300000], back[300000];
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + (i >> 11));
	/* client -> upstream */
	size_t sent = 0, got = 0;
	for (int i = 0; i < 20000 && got < sizeof(out); i++) {
		if (sent < sizeof(out)) {
			size_t w = 0;
			if (SSL_write_ex(k, out + sent, sizeof(out) - sent, &w) == 1)
				sent += w;
		}
		relay_turn(&r);
		ssize_t n = recv(up_peer, back + got, sizeof(back) - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
	}
	CHECK(got == sizeof(out) && memcmp(out, back, sizeof(out)) == 0);
	/* upstream -> client */
	sent = got = 0;
	memset(back, 0, sizeof(back));
	for (int i = 0; i < 20000 && got < sizeof(out); i++) {
		if (sent < sizeof(out)) {
			ssize_t n = send(up_peer, out + sent, sizeof(out) - sent, MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
		}
		relay_turn(&r);
		size_t n = 0;
		if (SSL_read_ex(k, back + got, sizeof(back) - got, &n) == 1)
			got += n;
	}
	CHECK(got == sizeof(out) && memcmp(out, back, sizeof(out)) == 0);
	ERR_clear_error();
	relay_turn(&r);
	/* idle: no carrier held */
	CHECK(r.dir[0].buf == NULL && r.dir[1].buf == NULL && relay_inflight(&r) == 0);
	CHECK(r.dir[RELAY_UP].bytes == sizeof(out) && r.dir[RELAY_DOWN].bytes == sizeof(out));
	/* upstream's EOF: a close_notify reaches the client, which still sends */
	shutdown(up_peer, SHUT_WR);
	int eof = 0;
	for (int i = 0; i < 2000 && !eof; i++) {
		relay_turn(&r);
		char b;
		size_t n;
		if (SSL_read_ex(k, &b, 1, &n) != 1 && SSL_get_error(k, 0) == SSL_ERROR_ZERO_RETURN)
			eof = 1;
		else
			usleep(500);
	}
	CHECK(eof);
	ERR_clear_error();
	size_t w = 0;
	CHECK(SSL_write_ex(k, "late", 4, &w) == 1 && w == 4);
	SSL_shutdown(k); /* the client's close_notify */
	char late[8] = "";
	ssize_t ln = 0;
	int fin = 0;
	for (int i = 0; i < 2000 && !fin; i++) {
		relay_turn(&r);
		ssize_t n = recv(up_peer, late + ln, sizeof(late) - (size_t)ln, MSG_DONTWAIT);
		if (n > 0)
			ln += n;
		else if (n == 0)
			fin = 1;
		else
			usleep(500);
	}
	CHECK(fin && ln == 4 && memcmp(late, "late", 4) == 0);
	CHECK_INT(relay_run(&r, RELAY_BUDGET), RELAY_DONE);
	relay_release(&r);
	pipepool_fini(&pool);
	SSL_free(s);
	SSL_free(k);
	close(cl);
	close(px);
	close(up_peer);
	close(up_px);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	config_free(c);
}

int main(void)
{
	log_set_level(LOGL_WARN);
	if (make_certs() < 0) {
		printf("cannot make certificates with scripts/tls-test-certs.sh (openssl)\n");
		return 1;
	}
	RUN(t_ulp_list);
	RUN(t_ctx_defaults);
	RUN(t_ctx_bad_files);
	RUN(t_mtls_and_user);
	RUN(t_server_reload);
	RUN(t_relay_tls);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", dir);
	return TEST_END("tls");
}

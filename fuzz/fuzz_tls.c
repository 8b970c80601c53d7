/* libFuzzer target: the server side of csocks' TLS handshake. The input is
 * what a client sends, fed in pieces (the first byte of each piece is its
 * length) into a memory BIO in front of an SSL made from the context
 * proxy/tls.c builds (ALPN callback, client-certificate verification, the
 * options and modes the proxy uses); after a completed handshake the rest
 * goes through tls_io_read, as the relay would read it. A self-signed
 * certificate is made once at start-up, in memory, and written to a
 * temporary folder for tls_ctx_build. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "proxy/tls.h"
#include "util/log.h"

static SSL_CTX *ctx;
static struct csocks_config *cfg;

static int write_pem(const char *dir, char *crt, char *key, size_t size)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	if (!pk || !x)
		return -1;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fuzz", -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_sign(x, pk, EVP_sha256());
	snprintf(crt, size, "%s/c.pem", dir);
	snprintf(key, size, "%s/k.pem", dir);
	FILE *f = fopen(crt, "w");
	if (!f)
		return -1;
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key, "w");
	if (!f)
		return -1;
	PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOGL_ERROR);
	char dir[] = "/tmp/csocks-fuzz-tls-XXXXXX", crt[128], key[128], text[1024];
	if (!mkdtemp(dir) || write_pem(dir, crt, key, sizeof(crt)) < 0)
		abort();
	/* The certificate is its own client CA: client certificates are asked
	 * for and verified (optional: the handshake goes on without one). */
	snprintf(text, sizeof(text),
	         "[server.tls]\nenabled = true\ncertificate_path = \"%s\"\n"
	         "private_key_path = \"%s\"\nclient_ca_path = \"%s\"\n"
	         "alpn_protocols = [\"socks5\", \"x\"]\n",
	         crt, key, crt);
	struct config_diag d = {0};
	cfg = config_load_string(text, strlen(text), "fuzz.toml", &d);
	config_diag_free(&d);
	char err[512];
	ctx = cfg ? tls_ctx_build(cfg, NULL, err, sizeof(err)) : NULL;
	if (!ctx)
		abort();
	unlink(crt);
	unlink(key);
	rmdir(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SSL *s = SSL_new(ctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	BIO_set_mem_eof_return(in, -1); /* empty: "would block", as a socket */
	SSL_set_bio(s, in, out);
	SSL_set_accept_state(s);
	size_t off = 0;
	int done = 0;
	char buf[4096];
	while (off < size) {
		size_t n = data[off++];
		if (n == 0 || n > size - off)
			n = size - off;
		BIO_write(in, data + off, (int)n);
		off += n;
		if (!done) {
			int r = SSL_do_handshake(s);
			if (r == 1)
				done = 1;
			else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
				break;
		}
		if (done) {
			ssize_t got;
			while ((got = tls_io_read(s, buf, sizeof(buf), 0)) > 0)
				(void)tls_io_write(s, buf, (size_t)got);
			if (got == 0)
				break;
		}
		while (BIO_read(out, buf, sizeof(buf)) > 0) /* what we answered */
			;
	}
	if (done) {
		char user[256];
		(void)tls_peer_user(s, user, sizeof(user));
		(void)tls_io_shutdown(s);
	}
	ERR_clear_error();
	SSL_free(s);
	return 0;
}

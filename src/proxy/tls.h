/* SOCKS over TLS, the server side (server.tls.*): the SSL_CTX built from a
 * config snapshot and shared by every worker, its reload, the client
 * certificate's user, and the counters /metrics shows.
 *
 * The current context sits behind a mutex in struct tls_server; a new
 * connection takes an SSL from it (SSL_new holds its own reference on the
 * context), so a reload swaps the pointer and live tunnels keep the context
 * they started with until they close. Thread-safe unless noted. */
#ifndef CSOCKS_TLS_H
#define CSOCKS_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct csocks_config;
struct ssl_st;
struct ssl_ctx_st;
struct prom_writer;

/* How the data of a TLS tunnel moves: through SSL_read/SSL_write into the
 * relay's pooled buffers, or with the kernel doing the record layer. */
enum tls_path { TLS_PATH_BUFFERED = 0, TLS_PATH_KTLS = 1 };

/* Handshake failure causes (tls_server_count_failure). */
enum tls_fail {
	TLS_FAIL_PLAINTEXT,   /* a plaintext client (a SOCKS greeting) */
	TLS_FAIL_HANDSHAKE,   /* protocol error, version, cipher, truncated hello */
	TLS_FAIL_CLIENT_CERT, /* no client certificate or not signed by client_ca_path */
	TLS_FAIL_TIMEOUT,     /* the handshake deadline */
	TLS_FAIL_COUNT
};

struct tls_server;

/* Build the context from cfg->server.tls. NULL with err ("file:line:
 * server.tls.certificate_path: '/p': what OpenSSL said") on failure. cfg
 * is borrowed and must outlive the server (reloads read the same paths). */
struct tls_server *tls_server_new(const struct csocks_config *cfg, char *err, size_t errlen);
void tls_server_free(struct tls_server *ts);
/* Read the certificate, key and CA again; on success new connections use
 * the new context, live ones keep theirs. On failure the old context stays
 * and err says why. 0 or -1. */
int tls_server_reload(struct tls_server *ts, char *err, size_t errlen);
/* An SSL for an accepted socket, server side, on the current context.
 * NULL when out of memory. */
struct ssl_st *tls_server_ssl_new(struct tls_server *ts, int fd);
/* The relay path chosen at start (logged once by tls_server_new). */
enum tls_path tls_server_path(const struct tls_server *ts);
const char *tls_path_name(enum tls_path p);
void tls_server_count_ok(struct tls_server *ts);
void tls_server_count_failure(struct tls_server *ts, enum tls_fail why);
/* The server's /metrics families (the proxy's collector calls this). */
void tls_server_collect(struct tls_server *ts, struct prom_writer *w);

/* I/O on an established SSL in the socket calls' terms: bytes, 0 on EOF
 * (close_notify, or a plain EOF), -1 with errno (EAGAIN: wait for either
 * readiness; EPROTO: a TLS error). tls_io_shutdown sends close_notify: 0
 * done (or nothing more can be done), -1 EAGAIN try again when writable. */
ssize_t tls_io_read(struct ssl_st *ssl, void *buf, size_t len, int peek);
ssize_t tls_io_write(struct ssl_st *ssl, const void *buf, size_t len);
int tls_io_shutdown(struct ssl_st *ssl);
/* After EAGAIN from tls_io_read/_write: 1 when the SSL waits for the other
 * readiness (a read that must write first, or a write that must read). */
int tls_io_wants_other(struct ssl_st *ssl, int reading);

/* Pure helpers (unit-tested). */
/* The context itself; *not_after gets the certificate's expiry (Unix
 * seconds). NULL with err. */
struct ssl_ctx_st *tls_ctx_build(const struct csocks_config *cfg, int64_t *not_after, char *err,
                                 size_t errlen);
/* The verified peer certificate's subject CN into out. 0, or -1 when there
 * is no certificate, no CN, or it does not fit / holds a NUL. */
int tls_peer_user(struct ssl_st *ssl, char *out, size_t cap);
/* Whether the running kernel offers the "tls" TCP ULP (ulp_list: the text
 * of /proc/sys/net/ipv4/tcp_available_ulp, NULL to read it). */
int tls_kernel_has_ulp(const char *ulp_list);
/* The text of the newest OpenSSL error (or fallback) into buf; clears the
 * queue. Returns buf. */
const char *tls_error_text(char *buf, size_t size, const char *fallback);

#endif

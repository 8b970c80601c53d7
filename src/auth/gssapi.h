/* GSSAPI (RFC 1961) with MIT Kerberos: the acceptor side of method 0x01.
 *
 * struct gssapi_acceptor is built once at start, while the process is still
 * root: it copies the keytab (auth.gssapi.keytab_path) into a MEMORY:
 * keytab and acquires acceptor credentials for auth.gssapi.service_name
 * from it, so after server.user drops privileges nothing reads the keytab
 * file again. Thread-safe after creation (MIT's credential handle locks).
 *
 * struct gssapi_sess is one connection's security context. Its owner (one
 * thread at a time) feeds each client token to gssapi_sess_accept (which
 * may block on the replay cache: an auth pool thread runs it), sends the
 * output token, and after the context is complete runs the protection-level
 * subnegotiation with gssapi_sess_prot (cheap: the worker runs it). */
#ifndef CSOCKS_AUTH_GSSAPI_H
#define CSOCKS_AUTH_GSSAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gssapi_acceptor;
struct gssapi_sess;

struct gssapi_params {
	const char *service_name; /* "socks", "socks@host", "socks/host[@REALM]" */
	const char *keytab_path;  /* NULL: krb5's default keytab */
	bool strip_realm;         /* user = auth_to_local name (else the principal) */
	bool verbose;             /* log every step */
};

/* NULL with a message in err (no keytab, no key for the service, ...). */
struct gssapi_acceptor *gssapi_acceptor_new(const struct gssapi_params *p, char *err,
                                            size_t errlen);
void gssapi_acceptor_free(struct gssapi_acceptor *a);
/* How many keys the MEMORY: copy holds (for the start-up log). */
unsigned gssapi_acceptor_keys(const struct gssapi_acceptor *a);

struct gssapi_sess *gssapi_sess_new(void);
void gssapi_sess_free(struct gssapi_sess *s); /* NULL is fine */

/* Copy the client's next context token (1..65535 bytes). -1 on ENOMEM. */
int gssapi_sess_set_input(struct gssapi_sess *s, const uint8_t *tok, size_t len);

enum gssapi_step {
	GSSAPI_STEP_FAILED = -1,  /* refused: send an abort; detail says why */
	GSSAPI_STEP_COMPLETE = 0, /* established: user is set */
	GSSAPI_STEP_CONTINUE = 1, /* send the output token, read another */
};
/* gss_accept_sec_context on the input set last; may block (replay cache).
 * The output token (possibly empty) is in gssapi_sess_output afterwards. On
 * COMPLETE, the user name (see gssapi_params.strip_realm) and the client's
 * full principal are in gssapi_sess_user / gssapi_sess_principal. */
enum gssapi_step gssapi_sess_accept(struct gssapi_acceptor *a, struct gssapi_sess *s);
const uint8_t *gssapi_sess_output(const struct gssapi_sess *s, size_t *len);
const char *gssapi_sess_user(const struct gssapi_sess *s);
const char *gssapi_sess_principal(const struct gssapi_sess *s);
/* Why the last step failed (static or in s; never NULL). */
const char *gssapi_sess_detail(const struct gssapi_sess *s);

/* The protection-level subnegotiation (RFC 1961 section 4, mtyp 2): tok is
 * the client's token, a gss_wrap()ed octet, or the bare octet when it is 1
 * byte long (the NEC/curl --socks5-gssapi-nec variant). *asked is the level
 * the client asked for; the answer, in gssapi_sess_output afterwards, is
 * level `grant` in the same form. 0, or -1 when the token does not unwrap
 * (detail set). */
int gssapi_sess_prot(struct gssapi_sess *s, const uint8_t *tok, size_t len, uint8_t grant,
                     uint8_t *asked, bool *nec);

#endif

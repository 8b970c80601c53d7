#include "auth/gssapi.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/strutil.h"

struct gssapi_acceptor {
	krb5_context kctx;
	krb5_keytab mem; /* the MEMORY: copy; kept open: closing the last
	                  * handle would free it */
	char mem_name[64];
	gss_cred_id_t cred;
	unsigned keys;
	bool strip_realm, verbose;
};

struct gssapi_sess {
	gss_ctx_id_t ctx;
	gss_buffer_desc in;  /* malloc'd copy of the client's token */
	gss_buffer_desc out; /* GSSAPI-allocated, or in_own for the NEC answer */
	bool out_own;        /* out.value is ours (malloc), not GSSAPI's */
	char user[256];
	char principal[256];
	char detail[256];
};

/* "major text: minor text" for logs. */
static void gss_err(char *buf, size_t len, const char *what, OM_uint32 maj, OM_uint32 min)
{
	char majs[128] = "", mins[160] = "";
	OM_uint32 tmp, ctx = 0;
	gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
	if (gss_display_status(&tmp, maj, GSS_C_GSS_CODE, GSS_C_NO_OID, &ctx, &b) ==
	    GSS_S_COMPLETE) {
		snprintf(majs, sizeof(majs), "%.*s", (int)b.length, (const char *)b.value);
		gss_release_buffer(&tmp, &b);
	}
	ctx = 0;
	if (min && gss_display_status(&tmp, min, GSS_C_MECH_CODE, GSS_C_NO_OID, &ctx, &b) ==
	               GSS_S_COMPLETE) {
		snprintf(mins, sizeof(mins), ": %.*s", (int)b.length, (const char *)b.value);
		gss_release_buffer(&tmp, &b);
	}
	snprintf(buf, len, "%s: %s%s", what, majs, mins);
}

/* Whether the keytab principal p (unparsed) serves the acceptor name:
 * "svc" any host, "svc@host" that host, "svc/host[@REALM]" that principal. */
static bool name_matches(const char *service, const char *p)
{
	size_t n = strlen(service);
	const char *at = strchr(service, '@');
	if (strchr(service, '/'))
		return at ? !strcmp(p, service) : !strncmp(p, service, n) && p[n] == '@';
	if (at) {
		size_t sl = (size_t)(at - service), hl = n - sl - 1;
		return !strncmp(p, service, sl) && p[sl] == '/' &&
		       !strncmp(p + sl + 1, at + 1, hl) && p[sl + 1 + hl] == '@';
	}
	return !strncmp(p, service, n) && p[n] == '/';
}

/* Count the entries that serve service in *matching. */
static void kt_match(struct gssapi_acceptor *a, const krb5_keytab_entry *e, const char *service,
                     unsigned *matching)
{
	char *p = NULL;
	if (krb5_unparse_name(a->kctx, e->principal, &p) == 0) {
		if (name_matches(service, p))
			(*matching)++;
		krb5_free_unparsed_name(a->kctx, p);
	}
}

static int kt_copy(struct gssapi_acceptor *a, const char *path, const char *service, char *err,
                   size_t errlen)
{
	unsigned matching = 0;
	krb5_keytab src;
	krb5_error_code rc =
	    path ? krb5_kt_resolve(a->kctx, path, &src) : krb5_kt_default(a->kctx, &src);
	char name[512] = "";
	if (rc == 0)
		krb5_kt_get_name(a->kctx, src, name, sizeof(name));
	else {
		const char *m = krb5_get_error_message(a->kctx, rc);
		snprintf(err, errlen, "auth.gssapi.keytab_path: %s: %s", path ? path : "default",
		         m);
		krb5_free_error_message(a->kctx, m);
		return -1;
	}
	krb5_kt_cursor cur;
	krb5_keytab_entry e;
	rc = krb5_kt_start_seq_get(a->kctx, src, &cur);
	if (rc == 0) {
		while ((rc = krb5_kt_next_entry(a->kctx, src, &e, &cur)) == 0) {
			kt_match(a, &e, service, &matching);
			krb5_error_code arc = krb5_kt_add_entry(a->kctx, a->mem, &e);
			krb5_free_keytab_entry_contents(a->kctx, &e);
			if (arc) {
				rc = arc;
				break;
			}
			a->keys++;
		}
		krb5_kt_end_seq_get(a->kctx, src, &cur);
		if (rc == KRB5_KT_END)
			rc = 0;
	}
	krb5_kt_close(a->kctx, src);
	if (rc) {
		const char *m = krb5_get_error_message(a->kctx, rc);
		snprintf(err, errlen, "auth.gssapi.keytab_path: %s: %s", name, m);
		krb5_free_error_message(a->kctx, m);
		return -1;
	}
	if (a->keys == 0) {
		snprintf(err, errlen, "auth.gssapi.keytab_path: %s: no keys", name);
		return -1;
	}
	/* Checked here rather than left to gss_acquire_cred, whose refusal
	 * says less (and leaks in MIT 1.20). */
	if (matching == 0) {
		snprintf(err, errlen,
		         "auth.gssapi.service_name \"%s\": no key for it in %s (klist -k lists "
		         "the keytab)",
		         service, name);
		return -1;
	}
	return 0;
}

/* The acceptor's name: a principal when it has a '/', else a host-based
 * service ("socks": any host of service socks in the keytab). */
static int acquire(struct gssapi_acceptor *a, const char *service, char *err, size_t errlen)
{
	OM_uint32 maj, min;
	gss_name_t name = GSS_C_NO_NAME;
	gss_buffer_desc nb = {strlen(service), (void *)service};
	gss_OID type =
	    strchr(service, '/') ? (gss_OID)GSS_KRB5_NT_PRINCIPAL_NAME : GSS_C_NT_HOSTBASED_SERVICE;
	maj = gss_import_name(&min, &nb, type, &name);
	if (GSS_ERROR(maj)) {
		gss_err(err, errlen, "auth.gssapi.service_name", maj, min);
		return -1;
	}
	char store_name[80];
	snprintf(store_name, sizeof(store_name), "MEMORY:%s", a->mem_name);
	gss_key_value_element_desc el = {"keytab", store_name};
	gss_key_value_set_desc store = {1, &el};
	gss_OID_set_desc mechs = {1, (gss_OID)gss_mech_krb5};
	maj = gss_acquire_cred_from(&min, name, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store,
	                            &a->cred, NULL, NULL);
	gss_release_name(&min, &name);
	if (GSS_ERROR(maj)) {
		char m[400];
		gss_err(m, sizeof(m), "gss_acquire_cred", maj, min);
		snprintf(err, errlen, "auth.gssapi.service_name \"%s\": %s", service, m);
		return -1;
	}
	return 0;
}

struct gssapi_acceptor *gssapi_acceptor_new(const struct gssapi_params *p, char *err, size_t errlen)
{
	static atomic_uint seq;
	struct gssapi_acceptor *a = xcalloc(1, sizeof(*a));
	a->strip_realm = p->strip_realm;
	a->verbose = p->verbose;
	a->cred = GSS_C_NO_CREDENTIAL;
	krb5_error_code rc = krb5_init_context(&a->kctx);
	if (rc) {
		snprintf(err, errlen, "auth.gssapi: krb5_init_context failed (%d)", (int)rc);
		free(a);
		return NULL;
	}
	snprintf(a->mem_name, sizeof(a->mem_name), "csocks-acceptor-%u", atomic_fetch_add(&seq, 1));
	char mn[80];
	snprintf(mn, sizeof(mn), "MEMORY:%s", a->mem_name);
	rc = krb5_kt_resolve(a->kctx, mn, &a->mem);
	if (rc) {
		snprintf(err, errlen, "auth.gssapi: cannot create %s (%d)", mn, (int)rc);
		krb5_free_context(a->kctx);
		free(a);
		return NULL;
	}
	const char *svc = p->service_name && *p->service_name ? p->service_name : "socks";
	if (kt_copy(a, p->keytab_path, svc, err, errlen) != 0 ||
	    acquire(a, svc, err, errlen) != 0) {
		gssapi_acceptor_free(a);
		return NULL;
	}
	return a;
}

void gssapi_acceptor_free(struct gssapi_acceptor *a)
{
	if (!a)
		return;
	OM_uint32 min;
	if (a->cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&min, &a->cred);
	krb5_kt_close(a->kctx, a->mem);
	krb5_free_context(a->kctx);
	free(a);
}

unsigned gssapi_acceptor_keys(const struct gssapi_acceptor *a)
{
	return a->keys;
}

struct gssapi_sess *gssapi_sess_new(void)
{
	struct gssapi_sess *s = xcalloc(1, sizeof(*s));
	s->ctx = GSS_C_NO_CONTEXT;
	return s;
}

static void out_release(struct gssapi_sess *s)
{
	OM_uint32 min;
	if (s->out_own)
		free(s->out.value);
	else if (s->out.value)
		gss_release_buffer(&min, &s->out);
	s->out.value = NULL;
	s->out.length = 0;
	s->out_own = false;
}

void gssapi_sess_free(struct gssapi_sess *s)
{
	if (!s)
		return;
	OM_uint32 min;
	out_release(s);
	if (s->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&min, &s->ctx, GSS_C_NO_BUFFER);
	free(s->in.value);
	free(s);
}

int gssapi_sess_set_input(struct gssapi_sess *s, const uint8_t *tok, size_t len)
{
	void *v = malloc(len ? len : 1);
	if (!v)
		return -1;
	memcpy(v, tok, len);
	free(s->in.value);
	s->in.value = v;
	s->in.length = len;
	return 0;
}

/* The user name for the client's principal: krb5.conf's auth_to_local
 * (by default: a one-component principal of the default realm becomes its
 * first component) when strip_realm, else (or when there is no local name:
 * another realm) the principal itself. */
static void settle_user(struct gssapi_acceptor *a, struct gssapi_sess *s, gss_name_t src)
{
	OM_uint32 min;
	gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
	s->principal[0] = s->user[0] = '\0';
	if (!GSS_ERROR(gss_display_name(&min, src, &b, NULL))) {
		snprintf(s->principal, sizeof(s->principal), "%.*s", (int)b.length,
		         (const char *)b.value);
		gss_release_buffer(&min, &b);
	}
	if (a->strip_realm && !GSS_ERROR(gss_localname(&min, src, GSS_C_NO_OID, &b))) {
		if (b.length > 0 && b.length < sizeof(s->user) && !memchr(b.value, '\0', b.length))
			snprintf(s->user, sizeof(s->user), "%.*s", (int)b.length,
			         (const char *)b.value);
		gss_release_buffer(&min, &b);
	}
	if (!s->user[0])
		cs_strlcpy(s->user, s->principal, sizeof(s->user));
}

enum gssapi_step gssapi_sess_accept(struct gssapi_acceptor *a, struct gssapi_sess *s)
{
	OM_uint32 maj, min, flags = 0;
	gss_name_t src = GSS_C_NO_NAME;
	out_release(s);
	maj = gss_accept_sec_context(&min, &s->ctx, a->cred, &s->in, GSS_C_NO_CHANNEL_BINDINGS,
	                             &src, NULL, &s->out, &flags, NULL, NULL);
	free(s->in.value);
	s->in.value = NULL;
	s->in.length = 0;
	if (GSS_ERROR(maj)) {
		gss_err(s->detail, sizeof(s->detail), "gss_accept_sec_context", maj, min);
		if (src != GSS_C_NO_NAME)
			gss_release_name(&min, &src);
		if (a->verbose)
			log_info("gssapi: %s", s->detail);
		return GSSAPI_STEP_FAILED;
	}
	if (maj & GSS_S_CONTINUE_NEEDED) {
		if (src != GSS_C_NO_NAME)
			gss_release_name(&min, &src);
		if (a->verbose)
			log_info("gssapi: context continues (%zu-byte token out)", s->out.length);
		return GSSAPI_STEP_CONTINUE;
	}
	settle_user(a, s, src);
	gss_release_name(&min, &src);
	if (!s->user[0]) {
		cs_strlcpy(s->detail, "no client name", sizeof(s->detail));
		return GSSAPI_STEP_FAILED;
	}
	if (a->verbose)
		log_info("gssapi: established for %s (user %s, flags 0x%x, %zu-byte token out)",
		         s->principal, s->user, (unsigned)flags, s->out.length);
	return GSSAPI_STEP_COMPLETE;
}

const uint8_t *gssapi_sess_output(const struct gssapi_sess *s, size_t *len)
{
	*len = s->out.length;
	return s->out.value;
}

const char *gssapi_sess_user(const struct gssapi_sess *s)
{
	return s->user;
}

const char *gssapi_sess_principal(const struct gssapi_sess *s)
{
	return s->principal;
}

const char *gssapi_sess_detail(const struct gssapi_sess *s)
{
	return s->detail[0] ? s->detail : "GSSAPI failure";
}

int gssapi_sess_prot(struct gssapi_sess *s, const uint8_t *tok, size_t len, uint8_t grant,
                     uint8_t *asked, bool *nec)
{
	OM_uint32 maj, min;
	out_release(s);
	*nec = len == 1;
	if (*nec) {
		*asked = tok[0];
		s->out.value = malloc(1);
		if (!s->out.value) {
			cs_strlcpy(s->detail, "out of memory", sizeof(s->detail));
			return -1;
		}
		((uint8_t *)s->out.value)[0] = grant;
		s->out.length = 1;
		s->out_own = true;
		return 0;
	}
	gss_buffer_desc in = {len, (void *)tok}, plain = GSS_C_EMPTY_BUFFER;
	maj = gss_unwrap(&min, s->ctx, &in, &plain, NULL, NULL);
	if (GSS_ERROR(maj)) {
		gss_err(s->detail, sizeof(s->detail), "gss_unwrap", maj, min);
		return -1;
	}
	if (plain.length != 1) {
		snprintf(s->detail, sizeof(s->detail), "protection level token of %zu bytes",
		         plain.length);
		gss_release_buffer(&min, &plain);
		return -1;
	}
	*asked = ((const uint8_t *)plain.value)[0];
	gss_release_buffer(&min, &plain);
	gss_buffer_desc lv = {1, &grant};
	maj = gss_wrap(&min, s->ctx, 0, GSS_C_QOP_DEFAULT, &lv, NULL, &s->out);
	if (GSS_ERROR(maj)) {
		gss_err(s->detail, sizeof(s->detail), "gss_wrap", maj, min);
		return -1;
	}
	return 0;
}

#include "auth/userpass.h"

#include <crypt.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "util/strutil.h"

struct userpass_db {
	const struct csocks_config *cfg;
	char *dummy_hash;     /* NULL when no user has a hash */
	const char *dummy_pw; /* compared against when the user is unknown */
};

struct userpass_db *userpass_db_new(const struct csocks_config *cfg, char *err, size_t errlen)
{
	struct userpass_db *db = xcalloc(1, sizeof(*db));
	db->cfg = cfg;
	db->dummy_pw = "csocks-no-such-user-password";
	for (size_t i = 0; i < cfg->auth.n_users; i++) {
		const struct cfg_user *u = &cfg->auth.users[i];
		if (!u->password_hash)
			continue;
		if (crypt_checksalt(u->password_hash) != CRYPT_SALT_OK) {
			snprintf(err, errlen,
			         "auth.users[%zu] (line %d): password_hash of \"%s\" is not a "
			         "crypt(3) hash this system supports",
			         i, u->line, u->username ? u->username : "");
			userpass_db_free(db);
			return NULL;
		}
		if (!db->dummy_hash) {
			/* Same method and cost as a real user's hash. */
			struct crypt_data *cd = xcalloc(1, sizeof(*cd));
			const char *h = crypt_rn(db->dummy_pw, u->password_hash, cd, sizeof(*cd));
			db->dummy_hash = h ? xstrdup(h) : NULL;
			free(cd);
			if (!db->dummy_hash) {
				snprintf(err, errlen, "auth.users[%zu] (line %d): crypt failed", i,
				         u->line);
				userpass_db_free(db);
				return NULL;
			}
		}
	}
	return db;
}

void userpass_db_free(struct userpass_db *db)
{
	if (!db)
		return;
	free(db->dummy_hash);
	free(db);
}

/* Every entry is compared (no early exit), in constant time per entry. */
static const struct cfg_user *find_user(const struct userpass_db *db, const char *user)
{
	const struct cfg_user *found = NULL;
	for (size_t i = 0; i < db->cfg->auth.n_users; i++) {
		const struct cfg_user *u = &db->cfg->auth.users[i];
		if (u->username && cs_ct_streq(u->username, user) && !found)
			found = u;
	}
	return found;
}

bool userpass_is_slow(const struct userpass_db *db, const char *user)
{
	const struct cfg_user *u = find_user(db, user);
	if (!u)
		return db->dummy_hash != NULL;
	return u->password_hash != NULL;
}

static bool hash_matches(const char *pass, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return false;
	const char *h = crypt_rn(pass, hash, cd, sizeof(*cd));
	bool ok = h && h[0] != '*' && cs_ct_streq(h, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

bool userpass_verify(const struct userpass_db *db, const char *user, const char *pass)
{
	const struct cfg_user *u = find_user(db, user);
	if (!u) {
		/* Spend the same work as for a real user, then fail. */
		if (db->dummy_hash)
			(void)hash_matches(pass, db->dummy_hash);
		else
			(void)cs_ct_streq(pass, db->dummy_pw);
		return false;
	}
	if (u->password_hash)
		return hash_matches(pass, u->password_hash);
	if (u->password)
		return cs_ct_streq(pass, u->password);
	return false;
}

int userpass_hash_password(const char *pw, char *out, size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
		return -1;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -1;
	const char *h = crypt_rn(pw, salt, cd, sizeof(*cd));
	int rc = -1;
	if (h && h[0] != '*' && strlen(h) < outlen) {
		memcpy(out, h, strlen(h) + 1);
		rc = 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

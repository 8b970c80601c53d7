/* Local users ([[auth.users]]) for RFC 1929 username/password.
 *
 * A user has a plaintext `password` (RustSocks compatibility) or a
 * `password_hash` in crypt(3) form (yescrypt "$y$", sha512-crypt "$6$", any
 * method libxcrypt knows). Comparisons run in constant time, and an unknown
 * user costs the same work as a known one: when any user has a hash, the
 * unknown name is checked against a dummy hash made with the same settings,
 * so timing does not reveal which names exist.
 *
 * A hash check costs 10-50 ms of CPU: callers on an event loop must ask
 * userpass_is_slow() and run such checks on the auth thread pool. */
#ifndef CSOCKS_USERPASS_H
#define CSOCKS_USERPASS_H

#include <stdbool.h>
#include <stddef.h>

struct csocks_config;
struct userpass_db;

/* Build from cfg->auth.users (borrowed: cfg must outlive the db). Checks
 * every password_hash is a crypt(3) setting libxcrypt supports. NULL with a
 * message in err ("auth.users[2] (line 14): ...") on failure. */
struct userpass_db *userpass_db_new(const struct csocks_config *cfg, char *err, size_t errlen);
void userpass_db_free(struct userpass_db *db);

/* True when checking `user` means a crypt(3) computation (a known user with
 * a hash, or an unknown user while hashes are configured). Cheap. */
bool userpass_is_slow(const struct userpass_db *db, const char *user);

/* Check credentials. Blocking when userpass_is_slow(); thread-safe (the db
 * is immutable). */
bool userpass_verify(const struct userpass_db *db, const char *user, const char *pass);

/* Hash pw with yescrypt and a fresh salt into out ("$y$..."), for
 * `csocks --hash-password`. 0, or -1 (out too small, no entropy). */
int userpass_hash_password(const char *pw, char *out, size_t outlen);

#endif

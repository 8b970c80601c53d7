/* The configuration schema as data: one row per key, with its type, range,
 * default and a one-line description. The loader, the defaults, the
 * validation of types and ranges, --generate-config and the reference in
 * docs/configuration.md all come from this one table, so they cannot drift
 * apart. Internal to src/config/. */
#ifndef CSOCKS_CONFIG_SCHEMA_H
#define CSOCKS_CONFIG_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

enum cfg_type {
	CT_SECTION = 0,     /* a [table]; off unused */
	CT_BOOL = 1,        /* bool */
	CT_U32 = 2,         /* uint32_t within [min, max] */
	CT_U64 = 3,         /* uint64_t within [min, max] */
	CT_STR = 4,         /* char *, NULL when unset and no default */
	CT_STRLIST = 5,     /* char ** + size_t count right after it */
	CT_AUTH_CLIENT = 6, /* enum auth_method: none | pam.address */
	CT_AUTH_SOCKS = 7,  /* enum auth_method: none | userpass | pam.* | gssapi */
	CT_STORAGE = 8,     /* enum session_storage */
	CT_USERS = 9,       /* [[auth.users]] */
	CT_DASH_USERS = 10, /* [[sessions.dashboard_auth.users]] */
};

struct cfg_field {
	const char *path; /* dotted: "server.bind_port" */
	enum cfg_type type;
	size_t off; /* offset in struct csocks_config */
	uint64_t min, max;
	const char *def; /* default as TOML text, NULL = unset */
	const char *doc; /* one line; "csocks:" prefix marks csocks-only keys */
};

extern const struct cfg_field cfg_schema[];
extern const size_t cfg_schema_len;

const struct cfg_field *cfg_schema_find(const char *path);

#endif

/* Internals shared by the config files: config.c (the model, defaults,
 * diagnostics, the load entry points), config_read.c (TOML values into
 * fields, by the schema table) and config_validate.c (checks across keys,
 * the SQLite folders). Not for use outside src/config/. */
#ifndef CSOCKS_CONFIG_INTERNAL_H
#define CSOCKS_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>

#include "config/config.h"
#include "config/config_schema.h"
#include "toml/toml.h"

struct load_ctx {
	struct csocks_config *cfg;
	struct config_diag *diag;
	const char *file;
};

/* config.c */
void config_diag_error(struct config_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void config_diag_warn(struct config_diag *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void *config_field_ptr(struct csocks_config *cfg, const struct cfg_field *f);
void config_strlist_free(char **list, size_t n);
/* "none", "userpass", ... -> the method (client: only the client tier's);
 * "memory"/"sqlite"/"postgres"/"mariadb"/"mysql" -> the store. 0, or -1 when unknown. */
int config_parse_auth(const char *s, bool client, enum auth_method *out);
int config_parse_storage(const char *s, enum session_storage *out);

/* config_read.c: every key of table t (under prefix) into c->cfg. */
void config_read_table(struct load_ctx *c, const struct toml_value *t, const char *prefix);

/* config_validate.c: a warning at its line for each key that turns on a
 * feature csocks does not have yet. */
void config_warn_unsupported(const struct csocks_config *cfg, struct config_diag *d);

#endif

/* libFuzzer target for the TOML parser: parse, check the error contract,
 * walk the tree through the accessors, free. The input buffer is exactly
 * size bytes, so any read past len is caught by ASan. */
#include "toml/toml.h"

#include <stdint.h>
#include <string.h>

/* Visit every value so the accessors and datetime formatting run on
 * whatever the parser accepted. Depth is bounded by TOML_MAX_DEPTH. */
static void walk(const struct toml_value *v)
{
	char buf[64];

	switch (v->type) {
	case TOML_TABLE:
		for (size_t i = 0; i < toml_table_len(v); i++) {
			const struct toml_kv *kv = toml_table_at(v, i);
			if (kv->key[kv->keylen] != '\0' || kv->line < 1 || kv->col < 1)
				__builtin_trap();
			/* Keys without NULs must be found by name. */
			if (strlen(kv->key) == kv->keylen && toml_table_get_kv(v, kv->key) != kv)
				__builtin_trap();
			walk(kv->val);
		}
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < toml_array_len(v); i++)
			walk(toml_array_at(v, i));
		break;
	case TOML_STRING:
		if (v->u.str.ptr[v->u.str.len] != '\0')
			__builtin_trap();
		break;
	default:
		toml_datetime_format(v, buf, sizeof(buf));
		break;
	}
	if (v->line < 1 || v->col < 1)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct toml_value *root =
	    toml_parse((const char *)data, size, "fuzz.toml", err, sizeof(err));

	if (!root) {
		/* Every failure explains itself as "fuzz.toml:line:col: ...". */
		if (strncmp(err, "fuzz.toml:", 10) != 0)
			__builtin_trap();
		return 0;
	}
	walk(root);
	toml_free(root);
	return 0;
}

/* TOML 1.0 parser: text in, a tree of values out, each value carrying the
 * line and column it came from so that config and ACL loaders can report
 * "file:line: what is wrong" about any key.
 *
 * Ownership: toml_parse*() returns a tree the caller frees with toml_free();
 * every pointer reached through the accessors below borrows from that tree
 * and stays valid until toml_free(). */
#ifndef CSOCKS_TOML_H
#define CSOCKS_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum toml_type {
	TOML_TABLE = 1,
	TOML_ARRAY = 2,
	TOML_STRING = 3,
	TOML_INTEGER = 4,
	TOML_FLOAT = 5,
	TOML_BOOL = 6,
	TOML_DATETIME = 7,       /* offset date-time: 1979-05-27T07:32:00Z */
	TOML_DATETIME_LOCAL = 8, /* 1979-05-27T07:32:00 */
	TOML_DATE_LOCAL = 9,     /* 1979-05-27 */
	TOML_TIME_LOCAL = 10,    /* 07:32:00 */
};

struct toml_datetime {
	int year, month, day;     /* valid when the type has a date */
	int hour, minute, second; /* valid when the type has a time */
	int nanosecond;           /* fractional seconds, 0..999999999 */
	int frac_digits;          /* digits written in the source (0 = none) */
	int offset_minutes;       /* TOML_DATETIME only; 0 for Z */
	bool offset_z;            /* TOML_DATETIME written with Z/z */
};

/* Deepest nesting accepted, counting every table and array level below the
 * root (a.b.c = 1 is depth 3, [[[1]]] under a key is depth 4). Deeper input
 * is an error, so that neither parsing nor freeing can exhaust the stack. */
#define TOML_MAX_DEPTH 100

struct toml_value;

struct toml_kv {
	char *key; /* NUL-terminated; may contain embedded NULs, see keylen */
	size_t keylen;
	int line, col; /* position of the key itself */
	struct toml_value *val;
};

struct toml_value {
	enum toml_type type;
	int line, col; /* where the value starts (for tables: the header or key) */
	union {
		struct {
			char *ptr; /* NUL-terminated, UTF-8; may contain U+0000 */
			size_t len;
		} str;
		int64_t integer;
		double fp;
		bool boolean;
		struct toml_datetime dt;
		struct {
			struct toml_kv *items; /* insertion order */
			size_t len, cap;
		} table;
		struct {
			struct toml_value **items;
			size_t len, cap;
		} array;
	} u;
};

/* Parse len bytes of TOML. filename is used only in messages. On success
 * returns the root table; on failure returns NULL and writes
 * "filename:line:col: message" into err (always NUL-terminated). */
struct toml_value *toml_parse(const char *src, size_t len, const char *filename, char *err,
                              size_t errlen);

/* Read and parse a file. Errors as toml_parse(), including I/O errors
 * ("path: No such file or directory"). */
struct toml_value *toml_parse_file(const char *path, char *err, size_t errlen);

/* Free a tree returned by toml_parse*(). NULL is fine. */
void toml_free(struct toml_value *root);

/* Lookup of a key in a table (exact, byte-wise). NULL when absent or when t
 * is not a table. */
const struct toml_value *toml_table_get(const struct toml_value *t, const char *key);
/* Same, but also returns the key entry (for its line/col). */
const struct toml_kv *toml_table_get_kv(const struct toml_value *t, const char *key);

size_t toml_table_len(const struct toml_value *t);
const struct toml_kv *toml_table_at(const struct toml_value *t, size_t i);
size_t toml_array_len(const struct toml_value *a);
const struct toml_value *toml_array_at(const struct toml_value *a, size_t i);

/* "table", "array", "string", "integer", "float", "boolean", "datetime",
 * "local datetime", "local date", "local time". */
const char *toml_type_name(enum toml_type t);

/* Write v (one of the four date/time types) in RFC 3339 form, e.g.
 * "1979-05-27T07:32:00.5-07:00", with as many fraction digits as the source
 * had (at most 9) and "Z" for a zero offset written as Z. Returns the length
 * that the full text needs, as snprintf() does; buf is always NUL-terminated
 * when size > 0. Returns -1 when v is not a date/time. */
int toml_datetime_format(const struct toml_value *v, char *buf, size_t size);

#endif

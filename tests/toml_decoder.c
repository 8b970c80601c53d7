/* toml-test decoder: reads TOML from a file argument or stdin and prints the
 * tagged JSON that toml-test compares, e.g.
 *   {"port": {"type": "integer", "value": "1080"}}
 * Exit 0 on success; 1 with the parser's message on stderr on failure.
 *
 *   toml-test ./toml_decoder          (or: toml_decoder file.toml)
 */
#include "toml/toml.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON string with the escapes JSON requires; bytes >= 0x80 are copied, the
 * parser guarantees valid UTF-8. */
static void put_json_string(const char *s, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\b':
			fputs("\\b", stdout);
			break;
		case '\f':
			fputs("\\f", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		default:
			if (c < 0x20 || c == 0x7F)
				printf("\\u%04x", c);
			else
				putchar(c);
		}
	}
	putchar('"');
}

static void put_tagged(const char *type, const char *value)
{
	printf("{\"type\": \"%s\", \"value\": ", type);
	put_json_string(value, strlen(value));
	putchar('}');
}

/* Shortest %g form that reads back as the same double. */
static void format_float(double d, char *buf, size_t size)
{
	if (isnan(d)) {
		snprintf(buf, size, "nan");
		return;
	}
	if (isinf(d)) {
		snprintf(buf, size, "%sinf", d < 0 ? "-" : "");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	/* "3" would read as an integer elsewhere: keep it visibly a float. */
	if (!strpbrk(buf, ".e"))
		strncat(buf, ".0", size - strlen(buf) - 1);
}

static const char *tag_name(enum toml_type t)
{
	switch (t) {
	case TOML_DATETIME:
		return "datetime";
	case TOML_DATETIME_LOCAL:
		return "datetime-local";
	case TOML_DATE_LOCAL:
		return "date-local";
	case TOML_TIME_LOCAL:
		return "time-local";
	default:
		return toml_type_name(t);
	}
}

/* Recursion is bounded by TOML_MAX_DEPTH. */
static void put_value(const struct toml_value *v)
{
	char buf[64];

	switch (v->type) {
	case TOML_TABLE:
		putchar('{');
		for (size_t i = 0; i < toml_table_len(v); i++) {
			const struct toml_kv *kv = toml_table_at(v, i);
			if (i)
				fputs(", ", stdout);
			put_json_string(kv->key, kv->keylen);
			fputs(": ", stdout);
			put_value(kv->val);
		}
		putchar('}');
		break;
	case TOML_ARRAY:
		putchar('[');
		for (size_t i = 0; i < toml_array_len(v); i++) {
			if (i)
				fputs(", ", stdout);
			put_value(toml_array_at(v, i));
		}
		putchar(']');
		break;
	case TOML_STRING:
		fputs("{\"type\": \"string\", \"value\": ", stdout);
		put_json_string(v->u.str.ptr, v->u.str.len);
		putchar('}');
		break;
	case TOML_INTEGER:
		snprintf(buf, sizeof(buf), "%lld", (long long)v->u.integer);
		put_tagged("integer", buf);
		break;
	case TOML_FLOAT:
		format_float(v->u.fp, buf, sizeof(buf));
		put_tagged("float", buf);
		break;
	case TOML_BOOL:
		put_tagged("bool", v->u.boolean ? "true" : "false");
		break;
	default:
		toml_datetime_format(v, buf, sizeof(buf));
		put_tagged(tag_name(v->type), buf);
		break;
	}
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/stdin";
	char err[512];
	struct toml_value *root = toml_parse_file(path, err, sizeof(err));

	if (!root) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	put_value(root);
	putchar('\n');
	toml_free(root);
	return 0;
}

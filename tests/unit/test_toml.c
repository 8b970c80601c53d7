/* Unit tests for the TOML parser: values, positions, error messages,
 * accessors, limits, large inputs, and the toml-test conformance suite:
 * the copy Debian ships in golang-github-burntsushi-toml-dev (always; a
 * missing suite is a failure, scripts/deps.sh test installs it) and, when a
 * newer toml-test checkout with its files-toml-1.0.0 list sits beside the
 * source tree, that one too (skipped otherwise). */
#include "toml/toml.h"
#include "test.h"

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Parse a NUL-terminated document; "t.toml" in messages. */
static struct toml_value *parse(const char *src, char *err, size_t errlen)
{
	return toml_parse(src, strlen(src), "t.toml", err, errlen);
}

/* Parse from an exact-size heap copy, so that ASan catches any read past
 * len (a string literal would have its NUL right behind). */
static struct toml_value *parse_exact(const char *src, size_t len, char *err, size_t errlen)
{
	char *copy = malloc(len ? len : 1);
	struct toml_value *root;

	memcpy(copy, src, len);
	root = toml_parse(copy, len, "t.toml", err, errlen);
	free(copy);
	return root;
}

/* The error message for src, or "" when it parsed. Static buffer. */
static const char *error_of(const char *src)
{
	static char err[256];
	struct toml_value *root = parse_exact(src, strlen(src), err, sizeof(err));

	if (root) {
		toml_free(root);
		return "";
	}
	return err;
}

static double elapsed_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------------ */

static void t_scalars(void)
{
	char err[256];
	struct toml_value *r = parse("i = -42\n"
	                             "h = 0xDEAD_beef\n"
	                             "o = 0o755\n"
	                             "b = 0b1010\n"
	                             "min = -9223372036854775808\n"
	                             "max = 9_223_372_036_854_775_807\n"
	                             "f = 6.626e-34\n"
	                             "g = -1_000.5\n"
	                             "pinf = +inf\n"
	                             "ninf = -inf\n"
	                             "nan = nan\n"
	                             "t = true\n"
	                             "fl = false\n"
	                             "s = \"x\"\n",
	                             err, sizeof(err));
	if (!CHECK(r)) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	CHECK_INT(toml_table_get(r, "i")->u.integer, -42);
	CHECK_INT(toml_table_get(r, "h")->u.integer, 0xDEADBEEF);
	CHECK_INT(toml_table_get(r, "o")->u.integer, 0755);
	CHECK_INT(toml_table_get(r, "b")->u.integer, 10);
	CHECK(toml_table_get(r, "min")->u.integer == INT64_MIN);
	CHECK(toml_table_get(r, "max")->u.integer == INT64_MAX);
	CHECK(toml_table_get(r, "f")->u.fp == 6.626e-34);
	CHECK(toml_table_get(r, "g")->u.fp == -1000.5);
	CHECK(isinf(toml_table_get(r, "pinf")->u.fp) && toml_table_get(r, "pinf")->u.fp > 0);
	CHECK(isinf(toml_table_get(r, "ninf")->u.fp) && toml_table_get(r, "ninf")->u.fp < 0);
	CHECK(isnan(toml_table_get(r, "nan")->u.fp));
	CHECK_INT(toml_table_get(r, "t")->type, TOML_BOOL);
	CHECK(toml_table_get(r, "t")->u.boolean);
	CHECK(!toml_table_get(r, "fl")->u.boolean);
	CHECK_INT(toml_table_get(r, "s")->type, TOML_STRING);
	toml_free(r);
}

static void t_strings(void)
{
	char err[256];
	struct toml_value *r = parse("a = \"tab\\there \\\"q\\\" \\\\ \\u00e9 \\U0001F600\"\n"
	                             "b = 'C:\\path\\no escapes'\n"
	                             "c = \"\"\"\nline1\r\nline2\\\n     continued\"\"\"\n"
	                             "d = '''\n raw \\n ''quoted'' '''\n"
	                             "e = \"\"\"two quotes at the end\"\"\"\"\"\n"
	                             "z = \"nul:\\u0000:end\"\n",
	                             err, sizeof(err));
	if (!CHECK(r)) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	CHECK_STR(toml_table_get(r, "a")->u.str.ptr,
	          "tab\there \"q\" \\ \xC3\xA9 \xF0\x9F\x98\x80");
	CHECK_STR(toml_table_get(r, "b")->u.str.ptr, "C:\\path\\no escapes");
	CHECK_STR(toml_table_get(r, "c")->u.str.ptr, "line1\nline2continued");
	CHECK_STR(toml_table_get(r, "d")->u.str.ptr, " raw \\n ''quoted'' ");
	CHECK_STR(toml_table_get(r, "e")->u.str.ptr, "two quotes at the end\"\"");
	const struct toml_value *z = toml_table_get(r, "z");
	CHECK_INT(z->u.str.len, 9);
	CHECK(memcmp(z->u.str.ptr, "nul:\0:end", 10) == 0);
	toml_free(r);
}

static void t_datetimes(void)
{
	char err[256], buf[64];
	struct toml_value *r = parse("odt = 1979-05-27T07:32:00.999999-07:30\n"
	                             "z = 1979-05-27 07:32:00z\n"
	                             "ldt = 1979-05-27T00:32:00.5\n"
	                             "ld = 2024-02-29\n"
	                             "lt = 23:59:60.123456789123\n",
	                             err, sizeof(err));
	if (!CHECK(r)) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	const struct toml_value *v = toml_table_get(r, "odt");
	CHECK_INT(v->type, TOML_DATETIME);
	CHECK_INT(v->u.dt.year, 1979);
	CHECK_INT(v->u.dt.nanosecond, 999999000);
	CHECK_INT(v->u.dt.frac_digits, 6);
	CHECK_INT(v->u.dt.offset_minutes, -450);
	toml_datetime_format(v, buf, sizeof(buf));
	CHECK_STR(buf, "1979-05-27T07:32:00.999999-07:30");
	v = toml_table_get(r, "z");
	CHECK(v->u.dt.offset_z);
	toml_datetime_format(v, buf, sizeof(buf));
	CHECK_STR(buf, "1979-05-27T07:32:00Z");
	v = toml_table_get(r, "ldt");
	CHECK_INT(v->type, TOML_DATETIME_LOCAL);
	toml_datetime_format(v, buf, sizeof(buf));
	CHECK_STR(buf, "1979-05-27T00:32:00.5");
	v = toml_table_get(r, "ld");
	CHECK_INT(v->type, TOML_DATE_LOCAL);
	toml_datetime_format(v, buf, sizeof(buf));
	CHECK_STR(buf, "2024-02-29");
	v = toml_table_get(r, "lt");
	CHECK_INT(v->type, TOML_TIME_LOCAL);
	CHECK_INT(v->u.dt.nanosecond, 123456789); /* extra digits truncated */
	toml_datetime_format(v, buf, sizeof(buf));
	CHECK_STR(buf, "23:59:60.123456789");
	CHECK_INT(toml_datetime_format(toml_table_get(r, "missing"), buf, sizeof(buf)), -1);
	toml_free(r);
}

/* Lines and columns (1-based, in characters) of keys and values. */
static void t_positions(void)
{
	char err[256];
	struct toml_value *r = parse("# comment\n"
	                             "name = \"csocks\"\r\n"
	                             "  \"é\" =   42\n"
	                             "[server]\n"
	                             "listen = [ \"a\",\n"
	                             "           \"b\" ]\n"
	                             "  sub.deep = { x = 1, y = 2 }\n"
	                             "[[rule]]\n"
	                             "[[rule]]\n"
	                             "  action = 'deny'\n",
	                             err, sizeof(err));
	if (!CHECK(r)) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	const struct toml_kv *kv = toml_table_get_kv(r, "name");
	CHECK_INT(kv->line, 2);
	CHECK_INT(kv->col, 1);
	CHECK_INT(kv->val->line, 2);
	CHECK_INT(kv->val->col, 8);
	kv = toml_table_get_kv(r, "\xC3\xA9");
	CHECK_INT(kv->line, 3);
	CHECK_INT(kv->col, 3);
	CHECK_INT(kv->val->col, 11); /* "é" is 3 characters, 4 bytes */

	kv = toml_table_get_kv(r, "server");
	CHECK_INT(kv->line, 4);
	CHECK_INT(kv->col, 2);
	CHECK_INT(kv->val->line, 4); /* a table starts at its header */
	CHECK_INT(kv->val->col, 1);
	const struct toml_value *listen = toml_table_get(kv->val, "listen");
	CHECK_INT(listen->line, 5);
	CHECK_INT(listen->col, 10);
	CHECK_INT(toml_array_at(listen, 1)->line, 6);
	CHECK_INT(toml_array_at(listen, 1)->col, 12);

	const struct toml_kv *sub = toml_table_get_kv(kv->val, "sub");
	CHECK_INT(sub->line, 7);
	CHECK_INT(sub->col, 3);
	const struct toml_kv *deep = toml_table_get_kv(sub->val, "deep");
	CHECK_INT(deep->col, 7);
	CHECK_INT(deep->val->col, 14);
	const struct toml_kv *y = toml_table_get_kv(deep->val, "y");
	CHECK_INT(y->col, 23);
	CHECK_INT(y->val->col, 27);

	const struct toml_value *rules = toml_table_get(r, "rule");
	CHECK_INT(toml_array_len(rules), 2);
	CHECK_INT(rules->line, 8);
	CHECK_INT(toml_array_at(rules, 1)->line, 9);
	kv = toml_table_get_kv(toml_array_at(rules, 1), "action");
	CHECK_INT(kv->line, 10);
	CHECK_INT(kv->col, 3);
	CHECK_INT(kv->val->col, 12);
	toml_free(r);
}

/* A table first created implicitly takes the position of its definition. */
static void t_positions_implicit(void)
{
	char err[256];
	struct toml_value *r = parse("[a.b]\nx = 1\n\n  [a]\ny = 2\n", err, sizeof(err));

	if (!CHECK(r))
		return;
	const struct toml_kv *a = toml_table_get_kv(r, "a");
	CHECK_INT(a->line, 4);
	CHECK_INT(a->col, 4);
	CHECK_INT(a->val->line, 4);
	CHECK_INT(a->val->col, 3);
	const struct toml_kv *b = toml_table_get_kv(a->val, "b");
	CHECK_INT(b->line, 1);
	CHECK_INT(b->col, 4);
	toml_free(r);
}

struct err_case {
	const char *src, *msg;
};

static const struct err_case err_cases[] = {
    {"a = 1\nb = 2\nport 1080\n", "t.toml:3:6: expected '=' after key, found '1'"},
    {"port = 1\nx = 2\nport = 3\n", "t.toml:3:1: duplicate key 'port' (first defined at line 1)"},
    {"[srv]\nport = 1\n\n  port = 2\n",
     "t.toml:4:3: duplicate key 'port' (first defined at line 2)"},
    {"a.b = 1\na.b = 2\n", "t.toml:2:1: duplicate key 'a.b' (first defined at line 1)"},
    {"[a]\nx = 1\n[a]\n", "t.toml:3:1: duplicate table [a] (first defined at line 1)"},
    {"[a]\nb.c = 1\n[a.b]\n",
     "t.toml:3:1: table [a.b] was already defined by dotted keys at line 2"},
    {"[a.b.c]\nz = 9\n[a]\nb.c.t = 1\n",
     "t.toml:4:1: cannot add to table [b] (defined at line 1) with dotted keys"},
    {"a = {x = 1}\na.y = 2\n", "t.toml:2:1: cannot add to inline table 'a' (defined at line 1)"},
    {"a = {x = 1}\n[a.b]\n", "t.toml:2:2: cannot add to inline table 'a' (defined at line 1)"},
    {"a = 1\na.b = 2\n", "t.toml:2:1: key 'a' is already an integer (defined at line 1)"},
    {"a = [1]\n[[a]]\n", "t.toml:2:1: [[a]] conflicts with key 'a' (an array) defined at line 1"},
    {"[[a]]\n[a]\n", "t.toml:2:1: table [a] conflicts with array of tables [[a]] at line 1"},
    {"s = \"abc\n", "t.toml:1:5: unterminated string (newline before the closing quote)"},
    {"s = \"\"\"abc", "t.toml:1:5: unterminated string"},
    {"s = \"a\\qb\"\n", "t.toml:1:7: invalid escape sequence '\\q'"},
    {"s = \"a\\ b\"\n", "t.toml:1:7: invalid escape sequence: backslash followed by ' '"},
    {"s = \"\\uD800\"\n", "t.toml:1:6: escape \\uD800 is not a Unicode scalar value"},
    {"s = \"\\U00110000\"\n", "t.toml:1:6: escape \\U00110000 is not a Unicode scalar value"},
    {"s = \"\\u12\"\n", "t.toml:1:6: \\u escape needs 4 hex digits"},
    {"s = \"a\tb\x01\"\n", "t.toml:1:9: control character U+0001 in string"},
    {"x = 1 # \x7f\n", "t.toml:1:9: control character U+007F in comment"},
    {"x = 1\ry = 2\n", "t.toml:1:6: unexpected U+000D after value (expected a newline)"},
    {"x = 1 2\n", "t.toml:1:7: unexpected '2' after value (expected a newline)"},
    {"x = 012\n", "t.toml:1:5: leading zeros are not allowed in '012'"},
    {"x = 1__2\n", "t.toml:1:5: invalid number '1__2'"},
    {"x = 3.\n", "t.toml:1:5: invalid number '3.'"},
    {"x = 9223372036854775808\n",
     "t.toml:1:5: integer '9223372036854775808' does not fit in 64 bits"},
    {"x = 0x1_0000_0000_0000_0000\n",
     "t.toml:1:5: integer '0x1_0000_0000_0000_0000' does not fit in 64 bits"},
    {"x = -0x1\n", "t.toml:1:5: a sign is not allowed on '-0x1'"},
    {"x = 1e999\n", "t.toml:1:5: float '1e999' is out of range"},
    {"x = +\n", "t.toml:1:5: invalid value '+'"}, /* found by fuzzing: read past token */
    {"x = -", "t.toml:1:5: invalid value '-'"},
    {"x = yes\n", "t.toml:1:5: invalid value 'yes' (strings must be quoted)"},
    {"x =\n", "t.toml:1:4: expected a value, found newline"},
    {"x = 2023-02-29\n",
     "t.toml:1:5: invalid date/time '2023-02-29': day out of range for the month"},
    {"x = 2024-13-01\n", "t.toml:1:5: invalid date/time '2024-13-01': month out of range"},
    {"x = 07:32\n", "t.toml:1:5: invalid date/time '07:32': malformed time (expected HH:MM:SS)"},
    {"x = 1979-05-27T07:32:00+25:00\n",
     "t.toml:1:5: invalid date/time '1979-05-27T07:32:00+25:00': time offset out of range"},
    {"x = [1 2]\n", "t.toml:1:8: expected ',' or ']' in array, found '2'"},
    {"x = [1,\n 2,\n", "t.toml:1:5: unterminated array (no closing ']')"},
    {"x = {a = 1,}\n", "t.toml:1:12: trailing comma in inline table"},
    {"x = {a = 1\n}\n",
     "t.toml:1:11: expected ',' or '}' in inline table, found newline (inline tables must be on "
     "one line)"},
    {"x = {a = 1, a = 2}\n", "t.toml:1:13: duplicate key 'a' (first defined at line 1)"},
    {"[a\n", "t.toml:1:3: expected ']' to close the header, found newline"},
    {"[[a]\n", "t.toml:1:5: expected ']]' to close the header, found newline"},
    {"[a] x = 1\n", "t.toml:1:5: unexpected 'x' after table header (expected a newline)"},
    {"= 1\n", "t.toml:1:1: expected a key, found '='"},
    {"a. = 1\n", "t.toml:1:4: expected a key, found '='"},
    {"\xC3\xA9 = 1\n", "t.toml:1:1: expected a key, found '\xC3\xA9' (U+00E9)"},
    {"\"\"\"k\"\"\" = 1\n", "t.toml:1:1: multi-line strings cannot be keys"},
    {"x = \"\xC3\xA9\xFF\"\n", "t.toml:1:7: invalid UTF-8 (byte 0xFF)"},
    {"x = \"\xED\xA0\x80\"\n", "t.toml:1:6: invalid UTF-8 (byte 0xED)"}, /* surrogate */
    {"x = \"\xC0\xAF\"\n", "t.toml:1:6: invalid UTF-8 (byte 0xC0)"},     /* overlong */
};

static void t_errors(void)
{
	for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const char *got = error_of(err_cases[i].src);
		if (!CHECK(strcmp(got, err_cases[i].msg) == 0))
			fprintf(stderr, "    case %zu: got \"%s\"\n    want \"%s\"\n", i, got,
			        err_cases[i].msg);
	}
}

/* NUL bytes are control characters, and len is the end even when the
 * buffer goes on. */
static void t_embedded_nul(void)
{
	char err[256];
	struct toml_value *r;

	r = parse_exact("a = 1\0b = 2\n", 12, err, sizeof(err));
	CHECK(!r);
	CHECK_STR(err, "t.toml:1:6: unexpected U+0000 after value (expected a newline)");
	r = parse_exact("a = \"x\0\"\n", 9, err, sizeof(err));
	CHECK(!r);
	CHECK_STR(err, "t.toml:1:7: control character U+0000 in string");
	r = parse_exact("\0", 1, err, sizeof(err));
	CHECK(!r);
	CHECK_STR(err, "t.toml:1:1: expected a key, found U+0000");

	r = toml_parse("a = 1\0junk", 5, "t.toml", err, sizeof(err));
	CHECK(r && toml_table_get(r, "a")->u.integer == 1);
	toml_free(r);
	r = parse_exact("a = \"x", 6, err, sizeof(err)); /* ends mid-string */
	CHECK(!r);
	r = parse_exact("", 0, err, sizeof(err));
	CHECK(r && toml_table_len(r) == 0);
	toml_free(r);
	r = toml_parse(NULL, 0, NULL, err, sizeof(err));
	CHECK(r && toml_table_len(r) == 0);
	toml_free(r);
	/* A short error buffer is truncated, never overrun. */
	char tiny[8];
	CHECK(!toml_parse("=", 1, "t.toml", tiny, sizeof(tiny)));
	CHECK_STR(tiny, "t.toml:");
	CHECK(!toml_parse("=", 1, "t.toml", NULL, 0));
}

static void t_accessors(void)
{
	char err[256];
	struct toml_value *r = parse("b = 1\na = [10, \"x\", [true]]\n[t]\n", err, sizeof(err));

	if (!CHECK(r))
		return;
	CHECK_INT(toml_table_len(r), 3);
	CHECK_STR(toml_table_at(r, 0)->key, "b"); /* insertion order */
	CHECK_STR(toml_table_at(r, 1)->key, "a");
	CHECK_STR(toml_table_at(r, 2)->key, "t");
	CHECK(toml_table_at(r, 3) == NULL);
	const struct toml_value *a = toml_table_get(r, "a");
	CHECK_INT(toml_array_len(a), 3);
	CHECK_INT(toml_array_at(a, 0)->u.integer, 10);
	CHECK_INT(toml_array_at(a, 1)->type, TOML_STRING);
	CHECK_INT(toml_array_at(toml_array_at(a, 2), 0)->type, TOML_BOOL);
	CHECK(toml_array_at(a, 3) == NULL);
	CHECK(toml_table_get(r, "nope") == NULL);
	CHECK(toml_table_get(a, "a") == NULL); /* not a table */
	CHECK(toml_table_get(NULL, "a") == NULL);
	CHECK(toml_table_get_kv(r, NULL) == NULL);
	CHECK_INT(toml_table_len(a), 0);
	CHECK_INT(toml_array_len(r), 0);
	CHECK(toml_array_at(NULL, 0) == NULL);
	CHECK(toml_table_at(NULL, 0) == NULL);
	CHECK_INT(toml_table_len(toml_table_get(r, "t")), 0);
	CHECK_STR(toml_type_name(TOML_TABLE), "table");
	CHECK_STR(toml_type_name(TOML_BOOL), "boolean");
	CHECK_STR(toml_type_name(TOML_DATETIME_LOCAL), "local datetime");
	CHECK_STR(toml_type_name(TOML_TIME_LOCAL), "local time");
	toml_free(r);
	toml_free(NULL);
}

static void t_parse_file(void)
{
	char err[256], path[] = "/tmp/test_toml_XXXXXX";
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, "x = 1\ny = \n", 11) == 11);
	close(fd);
	CHECK(!toml_parse_file(path, err, sizeof(err)));
	char want[300];
	snprintf(want, sizeof(want), "%s:2:5: expected a value, found newline", path);
	CHECK_STR(err, want);
	unlink(path);
	CHECK(!toml_parse_file(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: No such file or directory", path);
	CHECK_STR(err, want);
}

/* ------------------------------------------------------------------ */
/* Limits: deep input must be an error, never a stack overflow. */

static char *repeat3(const char *head, const char *open, int n, const char *mid, const char *close)
{
	size_t len = strlen(head) + (strlen(open) + strlen(close)) * (size_t)n + strlen(mid) + 2;
	char *s = malloc(len), *o = s;

	o += sprintf(o, "%s", head);
	for (int i = 0; i < n; i++)
		o += sprintf(o, "%s", open);
	o += sprintf(o, "%s", mid);
	for (int i = 0; i < n; i++)
		o += sprintf(o, "%s", close);
	sprintf(o, "\n");
	return s;
}

static void t_depth(void)
{
	char err[256], *s;
	struct toml_value *r;

	/* a = [[...]]: the key's value is depth 1, so 100 arrays fit. */
	s = repeat3("a = ", "[", TOML_MAX_DEPTH, "", "]");
	r = parse(s, err, sizeof(err));
	CHECK(r);
	toml_free(r);
	free(s);
	s = repeat3("a = ", "[", TOML_MAX_DEPTH + 1, "", "]");
	CHECK(!parse(s, err, sizeof(err)));
	CHECK_STR(err, "t.toml:1:105: nesting too deep (more than 100 levels)");
	free(s);
	s = repeat3("a = ", "[", 128, "", "]");
	CHECK(!parse(s, err, sizeof(err)));
	free(s);
	s = repeat3("a = ", "{b = ", 128, "1", "}");
	CHECK(!parse(s, err, sizeof(err)));
	CHECK(strstr(err, "nesting too deep") != NULL);
	free(s);
	s = repeat3("a = ", "[{b = ", 100000, "1", "}]");
	CHECK(!parse(s, err, sizeof(err)));
	free(s);
	s = repeat3("a = ", "[", 1000000, "", ""); /* unterminated as well */
	CHECK(!parse(s, err, sizeof(err)));
	CHECK(strstr(err, "nesting too deep") != NULL);
	free(s);

	/* Dotted keys and headers nest tables without recursion in the parser,
	 * but toml_free() recurses, so they are bounded too. */
	s = repeat3("", "k.", TOML_MAX_DEPTH - 1, "k = 1", "");
	r = parse(s, err, sizeof(err));
	CHECK(r);
	toml_free(r);
	free(s);
	s = repeat3("", "k.", TOML_MAX_DEPTH, "k = 1", "");
	CHECK(!parse(s, err, sizeof(err)));
	CHECK(strstr(err, "nesting too deep") != NULL);
	free(s);
	s = repeat3("[", "k.", 5000, "k]", "");
	CHECK(!parse(s, err, sizeof(err)));
	CHECK(strstr(err, "nesting too deep") != NULL);
	free(s);
	s = repeat3("[[", "k.", TOML_MAX_DEPTH, "k]]", "");
	CHECK(!parse(s, err, sizeof(err)));
	free(s);
}

/* Big inputs stay linear: many keys, long arrays, long lines, many tables. */
static void t_large(void)
{
	enum { NKEYS = 20000, NELEMS = 200000 };
	size_t cap = (size_t)NELEMS * 12 + 64, len = 0;
	char *s = malloc(cap), err[256], key[32];
	struct timespec t0;
	struct toml_value *r;

	for (int i = 0; i < NKEYS; i++)
		len += (size_t)sprintf(s + len, "key%d = %d\n", i, i);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = toml_parse(s, len, "t.toml", err, sizeof(err));
	printf("    %d keys: %.3f s\n", NKEYS, elapsed_since(&t0));
	if (CHECK(r)) {
		CHECK_INT(toml_table_len(r), NKEYS);
		for (int i = 0; i < NKEYS; i += 7) {
			snprintf(key, sizeof(key), "key%d", i);
			const struct toml_kv *kv = toml_table_get_kv(r, key);
			if (!CHECK(kv && kv->val->u.integer == i && kv->line == i + 1))
				break;
		}
		CHECK(!toml_table_get(r, "key-1"));
	}
	toml_free(r);
	/* The duplicate is found through the index too. */
	len += (size_t)sprintf(s + len, "key12345 = 0\n");
	CHECK(!toml_parse(s, len, "t.toml", err, sizeof(err)));
	CHECK_STR(err, "t.toml:20001:1: duplicate key 'key12345' (first defined at line 12346)");

	/* One long line: positions must not rescan it for every element. */
	len = (size_t)sprintf(s, "a = [");
	for (int i = 0; i < NELEMS; i++)
		len += (size_t)sprintf(s + len, "%d,", i);
	len += (size_t)sprintf(s + len, "]\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = toml_parse(s, len, "t.toml", err, sizeof(err));
	printf("    %d-element array on one line: %.3f s\n", NELEMS, elapsed_since(&t0));
	if (CHECK(r)) {
		const struct toml_value *a = toml_table_get(r, "a");
		CHECK_INT(toml_array_len(a), NELEMS);
		CHECK_INT(toml_array_at(a, NELEMS - 1)->u.integer, NELEMS - 1);
		CHECK_INT(toml_array_at(a, 1000)->col, 6 + 10 * 2 + 90 * 3 + 900 * 4);
	}
	toml_free(r);

	/* Many [[tables]] and many sub-tables of one table. */
	len = 0;
	for (int i = 0; i < NKEYS / 2; i++)
		len += (size_t)sprintf(s + len, "[[r]]\nn = %d\n[t.s%d]\n", i, i);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = toml_parse(s, len, "t.toml", err, sizeof(err));
	printf("    %d headers: %.3f s\n", NKEYS, elapsed_since(&t0));
	if (CHECK(r)) {
		CHECK_INT(toml_array_len(toml_table_get(r, "r")), NKEYS / 2);
		CHECK_INT(toml_table_len(toml_table_get(r, "t")), NKEYS / 2);
	}
	toml_free(r);
	free(s);
}

/* ------------------------------------------------------------------ */
/* toml-test conformance */

/* Where Debian's golang-github-burntsushi-toml-dev puts toml-test's files
 * (valid/ and invalid/); CSOCKS_TOML_TEST_DIR overrides it. */
#define DEBIAN_TOML_TEST "/usr/share/gocode/src/github.com/BurntSushi/toml/internal/toml-test/tests"

/* The newer toml-test checkout with its TOML 1.0 file list, optional:
 * looked for beside the source tree. */
static int find_shared_suite(char *dir, size_t size)
{
	const char *root = getenv("CSOCKS_SOURCE_ROOT");
	char list[600];

	snprintf(dir, size, "%s/../shared/conformance/toml-test", root ? root : "../..");
	snprintf(list, sizeof(list), "%s/files-toml-1.0.0", dir);
	return access(list, R_OK) == 0 ? 0 : -1;
}

/* "1987-07-05T17:45:56.6+13:00" and friends, as the suite writes them. */
static bool parse_expected_dt(enum toml_type type, const char *s, struct toml_datetime *dt)
{
	int n = 0;

	memset(dt, 0, sizeof(*dt));
	if (type != TOML_TIME_LOCAL) {
		if (sscanf(s, "%4d-%2d-%2d%n", &dt->year, &dt->month, &dt->day, &n) != 3)
			return false;
		s += n;
		if (type == TOML_DATE_LOCAL)
			return *s == '\0';
		if (*s != 'T' && *s != 't' && *s != ' ')
			return false;
		s++;
	}
	if (sscanf(s, "%2d:%2d:%2d%n", &dt->hour, &dt->minute, &dt->second, &n) != 3)
		return false;
	s += n;
	if (*s == '.') {
		int scale = 100000000;
		for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
			dt->nanosecond += (*s - '0') * scale;
	}
	if (type != TOML_DATETIME)
		return *s == '\0';
	if (*s == 'Z' || *s == 'z')
		return s[1] == '\0';
	int h, m;
	if ((*s != '+' && *s != '-') || sscanf(s + 1, "%2d:%2d", &h, &m) != 2)
		return false;
	dt->offset_minutes = (*s == '-' ? -1 : 1) * (h * 60 + m);
	return true;
}

static const char *tag_of(enum toml_type t)
{
	switch (t) {
	case TOML_STRING:
		return "string";
	case TOML_INTEGER:
		return "integer";
	case TOML_FLOAT:
		return "float";
	case TOML_BOOL:
		return "bool";
	case TOML_DATETIME:
		return "datetime";
	case TOML_DATETIME_LOCAL:
		return "datetime-local";
	case TOML_DATE_LOCAL:
		return "date-local";
	case TOML_TIME_LOCAL:
		return "time-local";
	default:
		return "?";
	}
}

/* jansson refuses NUL in object keys, so the expected JSON is loaded with
 * every \u0000 escape turned into U+F8FF (a private-use character the suite
 * does not use), and parsed keys and strings are compared with NUL mapped to
 * it too. Same length, so the text is patched in place. */
#define NUL_STANDIN "\xEF\xA3\xBF"

static void hide_nul_escapes(char *json, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (json[i] != '\\')
			continue;
		if (json[i + 1] == 'u' && len - i >= 6 && memcmp(json + i + 2, "0000", 4) == 0)
			memcpy(json + i + 2, "f8ff", 4);
		i++; /* skip the escaped character, so "\\u0000" stays */
	}
}

/* mine (may contain NUL) equals theirs (NUL shown as NUL_STANDIN)? */
static bool same_text(const char *mine, size_t mlen, const char *theirs, size_t tlen)
{
	size_t j = 0;

	for (size_t i = 0; i < mlen; i++) {
		if (mine[i] == '\0') {
			if (tlen - j < 3 || memcmp(theirs + j, NUL_STANDIN, 3) != 0)
				return false;
			j += 3;
		} else if (j >= tlen || theirs[j++] != mine[i]) {
			return false;
		}
	}
	return j == tlen;
}

/* The key as it appears in the loaded JSON; NULL when too long. */
static const char *json_key(const char *key, size_t len, char *buf, size_t size, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (o + 4 > size)
			return NULL;
		if (key[i] == '\0') {
			memcpy(buf + o, NUL_STANDIN, 3);
			o += 3;
		} else {
			buf[o++] = key[i];
		}
	}
	*outlen = o;
	return buf;
}

/* A tagged scalar {"type": ..., "value": "..."} against a parsed value. */
static bool scalar_matches(const struct toml_value *v, json_t *want, char *why, size_t wlen)
{
	const char *type = json_string_value(json_object_get(want, "type"));
	json_t *jv = json_object_get(want, "value");
	const char *s = json_string_value(jv);
	struct toml_datetime dt;

	if (!type || !s || strcmp(type, tag_of(v->type)) != 0) {
		snprintf(why, wlen, "type %s, want %s", tag_of(v->type), type ? type : "?");
		return false;
	}
	switch (v->type) {
	case TOML_STRING:
		if (same_text(v->u.str.ptr, v->u.str.len, s, json_string_length(jv)))
			return true;
		break;
	case TOML_INTEGER:
		if (v->u.integer == strtoll(s, NULL, 10))
			return true;
		break;
	case TOML_FLOAT:
		if (strcmp(s, "nan") == 0 || strcmp(s, "+nan") == 0 || strcmp(s, "-nan") == 0) {
			if (isnan(v->u.fp))
				return true;
		} else if (v->u.fp == strtod(s, NULL) &&
		           signbit(v->u.fp) == signbit(strtod(s, NULL))) {
			return true;
		}
		break;
	case TOML_BOOL:
		if (strcmp(s, v->u.boolean ? "true" : "false") == 0)
			return true;
		break;
	default:
		if (parse_expected_dt(v->type, s, &dt) && dt.year == v->u.dt.year &&
		    dt.month == v->u.dt.month && dt.day == v->u.dt.day && dt.hour == v->u.dt.hour &&
		    dt.minute == v->u.dt.minute && dt.second == v->u.dt.second &&
		    dt.nanosecond == v->u.dt.nanosecond &&
		    dt.offset_minutes == v->u.dt.offset_minutes)
			return true;
		break;
	}
	snprintf(why, wlen, "value differs from \"%s\"", s);
	return false;
}

static bool is_tagged(json_t *j)
{
	return json_is_object(j) && json_object_size(j) == 2 &&
	       json_is_string(json_object_get(j, "type")) &&
	       json_is_string(json_object_get(j, "value"));
}

/* Compare trees; on mismatch, why says where. Depth is bounded by the
 * parser's limit. */
static bool tree_matches(const struct toml_value *v, json_t *want, char *why, size_t wlen)
{
	if (v->line < 1 || v->col < 1) {
		snprintf(why, wlen, "value without a position");
		return false;
	}
	if (is_tagged(want))
		return scalar_matches(v, want, why, wlen);
	if (json_is_array(want)) {
		if (v->type != TOML_ARRAY || toml_array_len(v) != json_array_size(want)) {
			snprintf(why, wlen, "array length differs");
			return false;
		}
		for (size_t i = 0; i < toml_array_len(v); i++)
			if (!tree_matches(toml_array_at(v, i), json_array_get(want, i), why, wlen))
				return false;
		return true;
	}
	if (!json_is_object(want) || v->type != TOML_TABLE ||
	    toml_table_len(v) != json_object_size(want)) {
		snprintf(why, wlen, "table differs (%zu keys, want %zu)", toml_table_len(v),
		         json_object_size(want));
		return false;
	}
	for (size_t i = 0; i < toml_table_len(v); i++) {
		const struct toml_kv *kv = toml_table_at(v, i);
		char kbuf[1024];
		size_t klen = 0;
		const char *k = json_key(kv->key, kv->keylen, kbuf, sizeof(kbuf), &klen);
		json_t *sub = k ? json_object_getn(want, k, klen) : NULL;
		if (!sub) {
			snprintf(why, wlen, "unexpected key '%s'", kv->key);
			return false;
		}
		if (!tree_matches(kv->val, sub, why, wlen))
			return false;
	}
	return true;
}

static char *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* patch, when set, corrects the expected JSON before the comparison. */
static bool check_valid(const char *dir, const char *name, void (*patch)(json_t *), char *why,
                        size_t wlen)
{
	char path[1024], err[512];
	json_error_t jerr;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct toml_value *r = toml_parse_file(path, err, sizeof(err));
	if (!r) {
		snprintf(why, wlen, "%s", err);
		return false;
	}
	snprintf(path + strlen(path) - 5, 6, ".json");
	size_t len = 0;
	char *text = read_whole(path, &len);
	json_t *want = NULL;
	bool ok = false;
	if (text) {
		hide_nul_escapes(text, len);
		want = json_loadb(text, len, 0, &jerr);
	}
	if (!want)
		snprintf(why, wlen, "%s: %s", path, text ? jerr.text : strerror(errno));
	else {
		if (patch)
			patch(want);
		ok = tree_matches(r, want, why, wlen);
	}
	json_decref(want);
	free(text);
	toml_free(r);
	return ok;
}

/* Rejected, with a message that starts "path:line:col: ". */
static bool check_invalid(const char *dir, const char *name, char *why, size_t wlen)
{
	char path[1024], err[512];
	int line, col, n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct toml_value *r = toml_parse_file(path, err, sizeof(err));
	if (r) {
		toml_free(r);
		snprintf(why, wlen, "accepted");
		return false;
	}
	size_t plen = strlen(path);
	if (strncmp(err, path, plen) != 0 ||
	    sscanf(err + plen, ":%d:%d: %n", &line, &col, &n) != 2 || n == 0 || line < 1 ||
	    col < 1 || err[plen + (size_t)n] == '\0') {
		snprintf(why, wlen, "malformed message \"%s\"", err);
		return false;
	}
	return true;
}

/* Cases whose expectation in a suite is wrong by TOML 1.0: the file is
 * still run, against TOML 1.0's verdict, and the reason is printed.
 * V_PATCHED: must parse and match the suite's JSON after patch() corrects
 * it; V_REJECT: must fail with a positioned message. */
enum verdict { V_PATCHED, V_REJECT };
struct override {
	const char *name;
	enum verdict verdict;
	void (*patch)(json_t *want);
	const char *reason;
};

/* TOML 1.0: "-0.0 and +0.0 are valid and should map according to IEEE
 * 754", so -0.0 and -0e0 are negative zero; the older suite wrote "0". */
static void patch_negative_zero(json_t *want)
{
	const char *keys[] = {"signed-neg", "exponent-signed-neg"};

	for (size_t i = 0; i < 2; i++)
		json_object_set_new(json_object_get(want, keys[i]), "value", json_string("-0"));
}

static const struct override DEBIAN_OVERRIDES[] = {
    {"valid/float/zero.toml", V_PATCHED, patch_negative_zero,
     "-0.0 and -0e0 are negative zero, the suite expects +0"},
    {"valid/string/escape-esc.toml", V_REJECT, NULL,
     "\\e is a TOML 1.1 escape; TOML 1.0 reserves every escape it does not list"},
    {NULL, V_REJECT, NULL, NULL},
};

struct tally {
	int valid_ok, valid_bad, invalid_ok, invalid_bad, overridden;
};

/* Run one file (name relative to dir, "valid/..." or "invalid/...") and
 * count it; a failure is a failed check with the file and the reason. */
static void run_case(const char *dir, const char *name, const struct override *ov, struct tally *t)
{
	char why[600];
	bool is_valid = strncmp(name, "valid/", 6) == 0;
	bool ok;

	if (ov && ov->verdict == V_REJECT)
		ok = check_invalid(dir, name, why, sizeof(why));
	else if (is_valid)
		ok = check_valid(dir, name, ov ? ov->patch : NULL, why, sizeof(why));
	else
		ok = check_invalid(dir, name, why, sizeof(why));
	if (ov) {
		t->overridden++;
		printf("    %s: judged by TOML 1.0, %s (%s): %s\n", name,
		       ov->verdict == V_REJECT ? "must be rejected" : "corrected values",
		       ov->reason, ok ? "ok" : "FAILED");
	}
	if (is_valid)
		ok ? t->valid_ok++ : t->valid_bad++;
	else
		ok ? t->invalid_ok++ : t->invalid_bad++;
	if (!ok) {
		CHECK(!"conformance file failed");
		fprintf(stderr, "    %s: %s\n", name, why);
	}
}

static void print_tally(const char *suite, const char *dir, const struct tally *t)
{
	printf("    toml-test %s (%s): valid %d passed, %d failed; invalid %d passed, %d failed",
	       suite, dir, t->valid_ok, t->valid_bad, t->invalid_ok, t->invalid_bad);
	if (t->overridden)
		printf(" (%d judged by TOML 1.0 against the suite)", t->overridden);
	printf("\n");
}

/* The newer suite: every .toml its files-toml-1.0.0 list names. */
static void t_conformance_shared(void)
{
	char dir[512], list[600], name[512];
	struct tally t = {0};

	if (find_shared_suite(dir, sizeof(dir)) < 0) {
		SKIP("no newer toml-test checkout with files-toml-1.0.0 at %s (optional)", dir);
		return;
	}
	snprintf(list, sizeof(list), "%s/files-toml-1.0.0", dir);
	FILE *f = fopen(list, "r");
	CHECK(f);
	if (!f)
		return;
	/* The list also names the .json twins, read alongside their .toml. */
	while (fgets(name, sizeof(name), f)) {
		name[strcspn(name, "\r\n")] = '\0';
		size_t len = strlen(name);
		if (len < 5 || strcmp(name + len - 5, ".toml") != 0)
			continue;
		run_case(dir, name, NULL, &t);
	}
	fclose(f);
	print_tally("files-toml-1.0.0", dir, &t);
	CHECK(t.valid_ok + t.valid_bad > 0 && t.invalid_ok + t.invalid_bad > 0);
}

/* nftw has no user pointer: the walk collects into these. */
static char **walk_names;
static size_t walk_len, walk_cap, walk_prefix;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	size_t len = strlen(path);

	(void)st;
	(void)ftw;
	if (type != FTW_F || len < 5 || strcmp(path + len - 5, ".toml") != 0)
		return 0;
	if (walk_len == walk_cap) {
		walk_cap = walk_cap ? 2 * walk_cap : 256;
		char **grown = realloc(walk_names, walk_cap * sizeof(*walk_names));
		if (!grown)
			abort();
		walk_names = grown;
	}
	walk_names[walk_len++] = strdup(path + walk_prefix);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Debian's (older, 2022) suite has no TOML 1.0 list. It was written for
 * TOML 1.0, so every valid/ and invalid/ .toml file counts; the few cases
 * it gets wrong by TOML 1.0 (a TOML 1.1 escape taken as valid, a lost
 * sign) are DEBIAN_OVERRIDES, run against TOML 1.0's verdict instead, never
 * skipped. The .multi files are toml-test's generator sources, not cases. */
static void t_conformance_debian(void)
{
	const char *dir = getenv("CSOCKS_TOML_TEST_DIR");
	char sub[600];
	struct tally t = {0};

	if (!dir || !*dir)
		dir = DEBIAN_TOML_TEST;
	walk_len = 0;
	walk_prefix = strlen(dir) + 1;
	for (int i = 0; i < 2; i++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, i ? "invalid" : "valid");
		if (!CHECK(nftw(sub, walk_one, 16, FTW_PHYS) == 0)) {
			fprintf(stderr,
			        "    %s: %s (install golang-github-burntsushi-toml-dev: "
			        "scripts/deps.sh test; or set CSOCKS_TOML_TEST_DIR)\n",
			        sub, strerror(errno));
			goto out;
		}
	}
	qsort(walk_names, walk_len, sizeof(*walk_names), cmp_names);
	for (size_t i = 0; i < walk_len; i++) {
		const char *name = walk_names[i];
		const struct override *ov = NULL;
		for (size_t j = 0; DEBIAN_OVERRIDES[j].name; j++)
			if (strcmp(DEBIAN_OVERRIDES[j].name, name) == 0)
				ov = &DEBIAN_OVERRIDES[j];
		run_case(dir, name, ov, &t);
	}
	print_tally("debian golang-github-burntsushi-toml-dev", dir, &t);
	CHECK(t.valid_ok + t.valid_bad > 0 && t.invalid_ok + t.invalid_bad > 0);
	/* Every listed name must exist, so the lists cannot go stale. */
	for (size_t j = 0; DEBIAN_OVERRIDES[j].name; j++) {
		snprintf(sub, sizeof(sub), "%s/%s", dir, DEBIAN_OVERRIDES[j].name);
		if (!CHECK(access(sub, R_OK) == 0))
			fprintf(stderr, "    DEBIAN_OVERRIDES: %s is not in the suite\n", sub);
	}
out:
	for (size_t i = 0; i < walk_len; i++)
		free(walk_names[i]);
	free(walk_names);
	walk_names = NULL;
	walk_len = walk_cap = 0;
}

int main(void)
{
	RUN(t_scalars);
	RUN(t_strings);
	RUN(t_datetimes);
	RUN(t_positions);
	RUN(t_positions_implicit);
	RUN(t_errors);
	RUN(t_embedded_nul);
	RUN(t_accessors);
	RUN(t_parse_file);
	RUN(t_depth);
	RUN(t_large);
	RUN(t_conformance_debian);
	RUN(t_conformance_shared);
	return TEST_END("toml");
}

/* TOML 1.0 parser. See toml.h for the API.
 *
 * One pass over the bytes with a cursor that checks the length before every
 * read; no token stream. The tree is built as the text is read and every node
 * is attached to the tree as soon as it exists, so an error anywhere is
 * cleaned up by freeing the root (plus the one value under construction).
 *
 * Redefinition rules are kept with a few flags per table (struct node): a
 * table is either defined by a [header], created implicitly as a parent of a
 * header, created by dotted keys, or an inline table (frozen). Arrays made by
 * [[headers]] are told apart from literal arrays, which are frozen too.
 *
 * Assumes the C locale for strtod() (the program never calls setlocale). */
#include "toml/toml.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/hash.h"
#include "util/strbuf.h"

/* Tables with more keys than this get a hash index; below it a linear scan
 * is faster and needs no memory. */
#define INDEX_MIN 8

enum node_flags {
	NODE_EXPLICIT = 1 << 0, /* table defined by [header] or [[header]] */
	NODE_DOTTED = 1 << 1,   /* table created by a dotted key (a.b = 1) */
	NODE_FROZEN = 1 << 2,   /* inline table: nothing may be added later */
	NODE_AOT = 1 << 3,      /* array created by [[header]]: may be appended */
};

/* Every value is allocated as a node; toml_value is its first member so the
 * public pointer converts back. */
struct node {
	struct toml_value v;
	unsigned flags; /* enum node_flags */
	int depth;      /* 0 for the root */
	size_t *index;  /* tables only: open addressing, item index + 1, 0 = free */
	size_t index_cap;
};

#define NODE(val) ((struct node *)(void *)(val))

/* A place in the source. Taken when the cursor is there, because locate()
 * is cheap only going forward. */
struct srcpos {
	size_t at; /* byte offset */
	int line, col;
};

struct keypart {
	char *s;
	size_t len;
	struct srcpos pos;
};

struct keypath {
	struct keypart *parts;
	size_t n, cap;
};

struct parser {
	const char *s;
	size_t len, pos;
	const char *filename;
	char *err;
	size_t errlen;
	bool failed;
	/* locate() cache: line and column of byte offset lc_pos. */
	size_t lc_pos;
	int lc_line, lc_col;
	struct node *root, *cur; /* cur: the table key/values go into */
};

/* ------------------------------------------------------------------ */
/* Positions and errors */

static int sat_inc(int v)
{
	return v < INT_MAX ? v + 1 : v;
}

/* Line and column (1-based, in characters) of byte offset at. Positions are
 * asked for in increasing order while parsing, so scanning on from the last
 * answer keeps this linear; going back (only for some errors) rescans. */
static void locate(struct parser *p, size_t at, int *line, int *col)
{
	if (at > p->len)
		at = p->len;
	if (at < p->lc_pos) {
		p->lc_pos = 0;
		p->lc_line = 1;
		p->lc_col = 1;
	}
	for (size_t i = p->lc_pos; i < at; i++) {
		unsigned char c = (unsigned char)p->s[i];
		if (c == '\n') {
			p->lc_line = sat_inc(p->lc_line);
			p->lc_col = 1;
		} else if ((c & 0xC0) != 0x80) {
			p->lc_col = sat_inc(p->lc_col);
		}
	}
	p->lc_pos = at;
	*line = p->lc_line;
	*col = p->lc_col;
}

/* Record the first error only: later ones are consequences of it. */
static void __attribute__((format(printf, 3, 4)))
fail(struct parser *p, size_t at, const char *fmt, ...)
{
	va_list ap;
	int line, col, n;

	if (p->failed)
		return;
	p->failed = true;
	if (!p->err || p->errlen == 0)
		return;
	locate(p, at, &line, &col);
	n = snprintf(p->err, p->errlen, "%s:%d:%d: ", p->filename, line, col);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static struct srcpos here(struct parser *p)
{
	struct srcpos sp = {.at = p->pos};
	locate(p, p->pos, &sp.line, &sp.col);
	return sp;
}

static void fail_oom(struct parser *p)
{
	fail(p, p->pos, "out of memory");
}

/* The character at offset at, for a message: 'x' when printable, else
 * U+XXXX. The input is valid UTF-8 by the time this is called. buf needs
 * DESCRIBE_LEN bytes. */
#define DESCRIBE_LEN 24
static const char *describe_at(const struct parser *p, size_t at, char *buf)
{
	if (at >= p->len)
		return "end of file";
	unsigned char c = (unsigned char)p->s[at];
	size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	if (c == '\n' || (c == '\r' && at + 1 < p->len && p->s[at + 1] == '\n'))
		return "newline";
	if (c >= 0x20 && c < 0x7F) {
		snprintf(buf, DESCRIBE_LEN, "'%c'", c);
	} else if (c < 0x80) {
		snprintf(buf, DESCRIBE_LEN, "U+%04X", c);
	} else if (n <= p->len - at) {
		uint32_t cp = c & (0x7F >> n);
		for (size_t i = 1; i < n; i++)
			cp = (cp << 6) | ((unsigned char)p->s[at + i] & 0x3F);
		snprintf(buf, DESCRIBE_LEN, "'%.*s' (U+%04X)", (int)n, p->s + at, (unsigned)cp);
	} else {
		snprintf(buf, DESCRIBE_LEN, "byte 0x%02X", c);
	}
	return buf;
}

/* "an integer", "a string": type names with their article. */
static const char *a_type(enum toml_type t)
{
	switch (t) {
	case TOML_TABLE:
		return "a table";
	case TOML_ARRAY:
		return "an array";
	case TOML_STRING:
		return "a string";
	case TOML_INTEGER:
		return "an integer";
	case TOML_FLOAT:
		return "a float";
	case TOML_BOOL:
		return "a boolean";
	case TOML_DATETIME:
		return "a datetime";
	case TOML_DATETIME_LOCAL:
		return "a local datetime";
	case TOML_DATE_LOCAL:
		return "a local date";
	case TOML_TIME_LOCAL:
		return "a local time";
	}
	return "a value";
}

static bool is_bare(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Key path as a user would write it, quoting parts that need it, for
 * messages. Truncated with "..." to fit n (>= 8) bytes. */
static void fmt_key(char *buf, size_t n, const struct keypart *parts, size_t count)
{
	size_t o = 0;

#define PUT(ch)                                                                                    \
	do {                                                                                       \
		if (o + 4 >= n)                                                                    \
			goto trunc;                                                                \
		buf[o++] = (ch);                                                                   \
	} while (0)
	for (size_t i = 0; i < count; i++) {
		const struct keypart *k = &parts[i];
		bool bare = k->len > 0;
		for (size_t j = 0; j < k->len && bare; j++)
			bare = is_bare((unsigned char)k->s[j]);
		if (i > 0)
			PUT('.');
		if (!bare)
			PUT('"');
		for (size_t j = 0; j < k->len; j++) {
			unsigned char c = (unsigned char)k->s[j];
			if (c < 0x20 || c == 0x7F) {
				if (o + 10 >= n)
					goto trunc;
				o += (size_t)snprintf(buf + o, n - o, "\\u%04X", c);
			} else {
				if (c == '"' || c == '\\')
					PUT('\\');
				PUT((char)c);
			}
		}
		if (!bare)
			PUT('"');
	}
#undef PUT
	buf[o] = '\0';
	return;
trunc:
	memcpy(buf + o, "...", 4);
}

/* ------------------------------------------------------------------ */
/* Nodes */

static void node_free(struct node *n);

static void table_free_items(struct toml_value *t)
{
	for (size_t i = 0; i < t->u.table.len; i++) {
		free(t->u.table.items[i].key);
		node_free(NODE(t->u.table.items[i].val));
	}
	free(t->u.table.items);
}

/* Recursion is bounded: no node is deeper than TOML_MAX_DEPTH. */
static void node_free(struct node *n)
{
	if (!n)
		return;
	switch (n->v.type) {
	case TOML_TABLE:
		table_free_items(&n->v);
		free(n->index);
		break;
	case TOML_ARRAY:
		for (size_t i = 0; i < n->v.u.array.len; i++)
			node_free(NODE(n->v.u.array.items[i]));
		free(n->v.u.array.items);
		break;
	case TOML_STRING:
		free(n->v.u.str.ptr);
		break;
	default:
		break;
	}
	free(n);
}

void toml_free(struct toml_value *root)
{
	node_free(NODE(root));
}

/* New node starting at sp. NULL with the error set when out of memory or
 * nested too deeply. */
static struct node *node_new(struct parser *p, enum toml_type type, const struct srcpos *sp,
                             int depth)
{
	struct node *n;

	if (depth > TOML_MAX_DEPTH) {
		fail(p, sp->at, "nesting too deep (more than %d levels)", TOML_MAX_DEPTH);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		fail_oom(p);
		return NULL;
	}
	n->v.type = type;
	n->depth = depth;
	n->v.line = sp->line;
	n->v.col = sp->col;
	return n;
}

static uint64_t hash_key(const char *s, size_t len)
{
	return cs_hash_bytes(s, len);
}

static bool key_eq(const struct toml_kv *kv, const char *s, size_t len)
{
	return kv->keylen == len && memcmp(kv->key, s, len) == 0;
}

/* Index of key in table t, or -1. */
static ptrdiff_t table_find(const struct node *t, const char *s, size_t len)
{
	const struct toml_kv *items = t->v.u.table.items;

	if (!t->index) {
		for (size_t i = 0; i < t->v.u.table.len; i++)
			if (key_eq(&items[i], s, len))
				return (ptrdiff_t)i;
		return -1;
	}
	size_t mask = t->index_cap - 1;
	for (size_t h = (size_t)hash_key(s, len) & mask;; h = (h + 1) & mask) {
		size_t slot = t->index[h];
		if (slot == 0)
			return -1;
		if (key_eq(&items[slot - 1], s, len))
			return (ptrdiff_t)(slot - 1);
	}
}

static void index_put(size_t *index, size_t cap, const struct toml_kv *kv, size_t i)
{
	size_t h = (size_t)hash_key(kv->key, kv->keylen) & (cap - 1);
	while (index[h])
		h = (h + 1) & (cap - 1);
	index[h] = i + 1;
}

/* Keep the index at most half full so probes stay short. */
static int index_update(struct node *t)
{
	size_t len = t->v.u.table.len;

	if (len <= INDEX_MIN)
		return 0;
	if (t->index && len * 2 <= t->index_cap) {
		index_put(t->index, t->index_cap, &t->v.u.table.items[len - 1], len - 1);
		return 0;
	}
	size_t cap = t->index_cap ? t->index_cap * 2 : (size_t)4 * INDEX_MIN;
	while (cap < len * 2)
		cap *= 2;
	size_t *index = calloc(cap, sizeof(*index));
	if (!index)
		return -1;
	for (size_t i = 0; i < len; i++)
		index_put(index, cap, &t->v.u.table.items[i], i);
	free(t->index);
	t->index = index;
	t->index_cap = cap;
	return 0;
}

static int grow(void **items, size_t *cap, size_t len, size_t size)
{
	if (len < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 4;
	if (ncap > SIZE_MAX / size)
		return -1;
	void *n = realloc(*items, ncap * size);
	if (!n)
		return -1;
	*items = n;
	*cap = ncap;
	return 0;
}

/* Add key (taking ownership of k->s) = val to table t. The caller has
 * checked that the key is absent. On failure nothing is taken: the caller
 * still owns k->s and val. */
static int table_add(struct parser *p, struct node *t, struct keypart *k, struct node *val)
{
	struct toml_value *tv = &t->v;

	if (grow((void **)&tv->u.table.items, &tv->u.table.cap, tv->u.table.len,
	         sizeof(struct toml_kv)) < 0) {
		fail_oom(p);
		return -1;
	}
	struct toml_kv *kv = &tv->u.table.items[tv->u.table.len++];
	kv->key = k->s;
	kv->keylen = k->len;
	kv->line = k->pos.line;
	kv->col = k->pos.col;
	kv->val = &val->v;
	if (index_update(t) < 0) {
		tv->u.table.len--;
		fail_oom(p);
		return -1;
	}
	k->s = NULL;
	return 0;
}

static int array_push(struct parser *p, struct node *a, struct node *val)
{
	struct toml_value *av = &a->v;

	if (grow((void **)&av->u.array.items, &av->u.array.cap, av->u.array.len,
	         sizeof(struct toml_value *)) < 0) {
		fail_oom(p);
		return -1;
	}
	av->u.array.items[av->u.array.len++] = &val->v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Low-level scanning */

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const struct parser *p, size_t k)
{
	return p->len - p->pos > k ? (unsigned char)p->s[p->pos + k] : -1;
}

static bool is_newline(const struct parser *p)
{
	int c = peek(p);
	return c == '\n' || (c == '\r' && peek_at(p, 1) == '\n');
}

static void skip_newline(struct parser *p)
{
	p->pos += peek(p) == '\r' ? 2 : 1;
}

/* Control characters other than tab are not allowed in strings and
 * comments; newline handling is up to the caller. */
static bool is_control(int c)
{
	return (c >= 0 && c < 0x20 && c != '\t') || c == 0x7F;
}

static void skip_ws(struct parser *p)
{
	int c;
	while ((c = peek(p)) == ' ' || c == '\t')
		p->pos++;
}

/* Skip a comment up to (not including) its newline. 0 or -1. */
static int skip_comment(struct parser *p)
{
	char d[DESCRIBE_LEN];

	if (peek(p) != '#')
		return 0;
	for (p->pos++; p->pos < p->len && !is_newline(p); p->pos++) {
		if (is_control(peek(p))) {
			fail(p, p->pos, "control character %s in comment",
			     describe_at(p, p->pos, d));
			return -1;
		}
	}
	return 0;
}

/* Skip whitespace, comments and newlines (between array elements and
 * between top-level lines). 0 or -1. */
static int skip_blank(struct parser *p)
{
	for (;;) {
		skip_ws(p);
		if (skip_comment(p) < 0)
			return -1;
		if (!is_newline(p))
			return 0;
		skip_newline(p);
	}
}

/* After a key/value or a header: optional whitespace and comment, then a
 * newline or the end of the input. */
static int expect_eol(struct parser *p, const char *after)
{
	char d[DESCRIBE_LEN];

	skip_ws(p);
	if (skip_comment(p) < 0)
		return -1;
	if (p->pos >= p->len)
		return 0;
	if (is_newline(p)) {
		skip_newline(p);
		return 0;
	}
	fail(p, p->pos, "unexpected %s after %s (expected a newline)", describe_at(p, p->pos, d),
	     after);
	return -1;
}

/* Input must be UTF-8 (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF). Checked once up front so the scanners can copy bytes blindly.
 * Returns the offset of the first bad byte, or len. */
static size_t utf8_check(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need;
		uint32_t cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			need = 1, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			need = 2, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return i;
		}
		if (len - i <= need)
			return i;
		for (unsigned k = 1; k <= need; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return i;
		i += need + 1;
	}
	return len;
}

/* ------------------------------------------------------------------ */
/* Strings */

/* Append to a string value; -1 (reported as out of memory) when it cannot
 * grow. */
static int sbuf_add(struct parser *p, struct strbuf *b, const char *s, size_t n)
{
	if (strbuf_add(b, s, n) < 0) {
		fail_oom(p);
		return -1;
	}
	return 0;
}

static int sbuf_add_cp(struct parser *p, struct strbuf *b, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12)), n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18)), n = 4;
	}
	for (size_t i = 1; i < n; i++)
		u[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
	return sbuf_add(p, b, u, n);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* \uXXXX or \UXXXXXXXX with the cursor on the u/U. */
static int unicode_escape(struct parser *p, struct strbuf *b, size_t bs)
{
	unsigned digits = peek(p) == 'u' ? 4 : 8;
	uint32_t cp = 0;

	p->pos++;
	for (unsigned i = 0; i < digits; i++) {
		int h = hexval(peek(p));
		if (h < 0) {
			fail(p, bs, "\\%c escape needs %u hex digits", digits == 4 ? 'u' : 'U',
			     digits);
			return -1;
		}
		cp = (cp << 4) | (uint32_t)h;
		p->pos++;
	}
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		fail(p, bs, "escape \\%c%0*X is not a Unicode scalar value",
		     digits == 4 ? 'u' : 'U', (int)digits, cp);
		return -1;
	}
	return sbuf_add_cp(p, b, cp);
}

/* In a multi-line basic string, a backslash that ends a line removes it and
 * all whitespace and newlines after it. True when the cursor (just after the
 * backslash) is at such a line ending; only spaces/tabs may come first. */
static bool at_line_continuation(const struct parser *p)
{
	size_t i = p->pos;
	while (i < p->len && (p->s[i] == ' ' || p->s[i] == '\t'))
		i++;
	return (i < p->len && p->s[i] == '\n') ||
	       (p->len - i >= 2 && p->s[i] == '\r' && p->s[i + 1] == '\n');
}

/* Escape sequence with the cursor on the backslash. */
static int escape(struct parser *p, struct strbuf *b, bool multiline)
{
	static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
	size_t bs = p->pos;
	char d[DESCRIBE_LEN];
	const char *e;
	int c;

	p->pos++;
	c = peek(p);
	if (c > 0 && (e = strchr(from, c))) {
		p->pos++;
		return sbuf_add(p, b, &to[e - from], 1);
	}
	if (c == 'u' || c == 'U')
		return unicode_escape(p, b, bs);
	if (multiline && at_line_continuation(p)) {
		while (peek(p) == ' ' || peek(p) == '\t' || is_newline(p))
			p->pos++;
		return 0;
	}
	if (c < 0)
		fail(p, bs, "unterminated escape sequence");
	else if (c > 0x20 && c < 0x7F)
		fail(p, bs, "invalid escape sequence '\\%c'", c);
	else
		fail(p, bs, "invalid escape sequence: backslash followed by %s",
		     describe_at(p, p->pos, d));
	return -1;
}

/* Body of any of the four string forms, cursor after the opening quote(s).
 * q is the quote character; escapes only in basic strings. */
static int string_body(struct parser *p, struct strbuf *b, char q, bool multiline, size_t start)
{
	char d[DESCRIBE_LEN];

	for (;;) {
		int c = peek(p);
		if (c < 0) {
			fail(p, start, "unterminated string");
			return -1;
		}
		if (c == q) {
			size_t n = 0;
			while (peek_at(p, n) == q)
				n++;
			if (!multiline) {
				p->pos++;
				return 0;
			}
			if (n >= 3) {
				/* Up to two quotes may sit right before the closing
				 * delimiter; "a"""""" has one too many. */
				if (n > 5) {
					fail(p, p->pos + 5, "too many quotes at end of string");
					return -1;
				}
				if (sbuf_add(p, b, p->s + p->pos, n - 3) < 0)
					return -1;
				p->pos += n;
				return 0;
			}
			if (sbuf_add(p, b, p->s + p->pos, n) < 0)
				return -1;
			p->pos += n;
			continue;
		}
		if (c == '\\' && q == '"') {
			if (escape(p, b, multiline) < 0)
				return -1;
			continue;
		}
		if (multiline && is_newline(p)) {
			/* CRLF is stored as LF: values do not depend on how the
			 * file was saved. */
			skip_newline(p);
			if (sbuf_add(p, b, "\n", 1) < 0)
				return -1;
			continue;
		}
		if (c == '\n' || (c == '\r' && !multiline && is_newline(p))) {
			fail(p, start, "unterminated string (newline before the closing quote)");
			return -1;
		}
		if (is_control(c)) {
			fail(p, p->pos, "control character %s in string",
			     describe_at(p, p->pos, d));
			return -1;
		}
		/* Copy a run of ordinary bytes at once. */
		size_t i = p->pos;
		while (i < p->len && p->s[i] != q && p->s[i] != '\\' && !is_control(p->s[i]))
			i++;
		if (i == p->pos)
			i++;
		if (sbuf_add(p, b, p->s + p->pos, i - p->pos) < 0)
			return -1;
		p->pos = i;
	}
}

/* Any string; cursor on the opening quote. allow_multi is false for keys.
 * The result is NUL-terminated heap memory owned by the caller. */
static int parse_string(struct parser *p, bool allow_multi, char **out, size_t *outlen)
{
	size_t start = p->pos;
	char q = p->s[p->pos];
	bool multi = peek_at(p, 1) == q && peek_at(p, 2) == q;
	struct strbuf b;
	strbuf_init(&b);

	if (multi && !allow_multi) {
		fail(p, start, "multi-line strings cannot be keys");
		return -1;
	}
	p->pos += multi ? 3 : 1;
	if (multi && is_newline(p))
		skip_newline(p); /* a newline right after """ is not content */
	if (sbuf_add(p, &b, "", 0) < 0 || string_body(p, &b, q, multi, start) < 0) {
		strbuf_free(&b);
		return -1;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Keys */

static void keypath_free(struct keypath *kp)
{
	for (size_t i = 0; i < kp->n; i++)
		free(kp->parts[i].s);
	free(kp->parts);
	kp->parts = NULL;
	kp->n = kp->cap = 0;
}

/* One bare or quoted key. */
static int parse_simple_key(struct parser *p, struct keypart *k)
{
	int c = peek(p);
	char d[DESCRIBE_LEN];

	k->pos = here(p);
	if (c == '"' || c == '\'')
		return parse_string(p, false, &k->s, &k->len);
	if (!is_bare(c)) {
		fail(p, p->pos, "expected a key, found %s", describe_at(p, p->pos, d));
		return -1;
	}
	size_t start = p->pos;
	while (is_bare(peek(p)))
		p->pos++;
	k->len = p->pos - start;
	k->s = malloc(k->len + 1);
	if (!k->s) {
		fail_oom(p);
		return -1;
	}
	memcpy(k->s, p->s + start, k->len);
	k->s[k->len] = '\0';
	return 0;
}

/* A dotted key: simple keys separated by dots, whitespace allowed around
 * the dots. On failure kp is freed. */
static int parse_key(struct parser *p, struct keypath *kp)
{
	for (;;) {
		skip_ws(p);
		if (grow((void **)&kp->parts, &kp->cap, kp->n, sizeof(*kp->parts)) < 0) {
			fail_oom(p);
			break;
		}
		struct keypart *k = &kp->parts[kp->n];
		memset(k, 0, sizeof(*k));
		if (parse_simple_key(p, k) < 0)
			break;
		kp->n++;
		skip_ws(p);
		if (peek(p) != '.')
			return 0;
		p->pos++;
	}
	keypath_free(kp);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Tables: walking key paths under the redefinition rules */

static struct node *kv_node(const struct node *t, ptrdiff_t i)
{
	return NODE(t->v.u.table.items[i].val);
}

static int kv_line(const struct node *t, ptrdiff_t i)
{
	return t->v.u.table.items[i].line;
}

/* Create table k in t with the given flags, starting at sp. */
static struct node *add_table(struct parser *p, struct node *t, struct keypart *k,
                              const struct srcpos *sp, unsigned flags)
{
	struct node *n = node_new(p, TOML_TABLE, sp, t->depth + 1);
	if (!n)
		return NULL;
	n->flags = flags;
	if (table_add(p, t, k, n) < 0) {
		node_free(n);
		return NULL;
	}
	return n;
}

/* Explain why the value at kp->parts[i] cannot be used as a table. */
static void fail_not_table(struct parser *p, struct keypath *kp, size_t i, const struct node *v,
                           int line)
{
	char key[128];

	fmt_key(key, sizeof(key), kp->parts, i + 1);
	if (v->v.type == TOML_TABLE && (v->flags & NODE_FROZEN))
		fail(p, kp->parts[i].pos.at, "cannot add to inline table '%s' (defined at line %d)",
		     key, line);
	else if (v->v.type == TOML_TABLE)
		fail(p, kp->parts[i].pos.at,
		     "cannot add to table [%s] (defined at line %d) with dotted keys", key, line);
	else if (v->flags & NODE_AOT)
		fail(p, kp->parts[i].pos.at,
		     "cannot add to array of tables [[%s]] (defined at line %d) with dotted keys",
		     key, line);
	else
		fail(p, kp->parts[i].pos.at, "key '%s' is already %s (defined at line %d)", key,
		     a_type(v->v.type), line);
}

/* Parent of a [header] or [[header]] key: existing tables (not inline ones)
 * and the last table of an array of tables may be entered; missing ones are
 * created implicitly and can be defined by a header later. */
static struct node *header_step(struct parser *p, struct node *t, struct keypath *kp, size_t i)
{
	struct keypart *k = &kp->parts[i];
	ptrdiff_t at = table_find(t, k->s, k->len);

	if (at < 0)
		return add_table(p, t, k, &k->pos, 0);
	struct node *v = kv_node(t, at);
	if (v->v.type == TOML_TABLE && !(v->flags & NODE_FROZEN))
		return v;
	if (v->flags & NODE_AOT)
		return NODE(v->v.u.array.items[v->v.u.array.len - 1]);
	fail_not_table(p, kp, i, v, kv_line(t, at));
	return NULL;
}

/* Parent of a dotted key's last part: only tables that dotted keys created
 * may be entered (extending a [table] from outside its section is not
 * allowed, toml-lang/toml#846). */
static struct node *dotted_step(struct parser *p, struct node *t, struct keypath *kp, size_t i)
{
	struct keypart *k = &kp->parts[i];
	ptrdiff_t at = table_find(t, k->s, k->len);

	if (at < 0)
		return add_table(p, t, k, &k->pos, NODE_DOTTED);
	struct node *v = kv_node(t, at);
	if (v->v.type == TOML_TABLE && (v->flags & NODE_DOTTED) && !(v->flags & NODE_FROZEN))
		return v;
	fail_not_table(p, kp, i, v, kv_line(t, at));
	return NULL;
}

/* [a.b.c]: define table c. An implicitly created one becomes defined here. */
static struct node *define_table(struct parser *p, struct keypath *kp, const struct srcpos *hdr)
{
	struct node *t = p->root;
	char key[128];

	for (size_t i = 0; i + 1 < kp->n; i++)
		if (!(t = header_step(p, t, kp, i)))
			return NULL;
	struct keypart *k = &kp->parts[kp->n - 1];
	ptrdiff_t at = table_find(t, k->s, k->len);
	if (at < 0)
		return add_table(p, t, k, hdr, NODE_EXPLICIT);
	struct node *v = kv_node(t, at);
	int line = kv_line(t, at);
	fmt_key(key, sizeof(key), kp->parts, kp->n);
	if (v->v.type == TOML_TABLE && !v->flags) {
		struct toml_kv *kv = &t->v.u.table.items[at];
		/* From now on messages point at the definition. */
		v->flags = NODE_EXPLICIT;
		v->v.line = hdr->line;
		v->v.col = hdr->col;
		kv->line = k->pos.line;
		kv->col = k->pos.col;
		return v;
	}
	if (v->v.type == TOML_TABLE && (v->flags & NODE_EXPLICIT))
		fail(p, hdr->at, "duplicate table [%s] (first defined at line %d)", key, line);
	else if (v->v.type == TOML_TABLE && (v->flags & NODE_DOTTED))
		fail(p, hdr->at, "table [%s] was already defined by dotted keys at line %d", key,
		     line);
	else if (v->flags & NODE_AOT)
		fail(p, hdr->at, "table [%s] conflicts with array of tables [[%s]] at line %d", key,
		     key, line);
	else
		fail(p, hdr->at, "table [%s] conflicts with key '%s' (%s) defined at line %d", key,
		     key, a_type(v->v.type), line);
	return NULL;
}

/* [[a.b.c]]: append a table to array of tables c. */
static struct node *append_table(struct parser *p, struct keypath *kp, const struct srcpos *hdr)
{
	struct node *t = p->root, *arr, *n;
	char key[128];

	for (size_t i = 0; i + 1 < kp->n; i++)
		if (!(t = header_step(p, t, kp, i)))
			return NULL;
	struct keypart *k = &kp->parts[kp->n - 1];
	ptrdiff_t at = table_find(t, k->s, k->len);
	if (at < 0) {
		if (!(arr = node_new(p, TOML_ARRAY, hdr, t->depth + 1)))
			return NULL;
		arr->flags = NODE_AOT;
		if (table_add(p, t, k, arr) < 0) {
			node_free(arr);
			return NULL;
		}
	} else {
		arr = kv_node(t, at);
		if (!(arr->flags & NODE_AOT)) {
			fmt_key(key, sizeof(key), kp->parts, kp->n);
			fail(p, hdr->at, "[[%s]] conflicts with key '%s' (%s) defined at line %d",
			     key, key, a_type(arr->v.type), kv_line(t, at));
			return NULL;
		}
	}
	if (!(n = node_new(p, TOML_TABLE, hdr, arr->depth + 1)))
		return NULL;
	n->flags = NODE_EXPLICIT;
	if (array_push(p, arr, n) < 0) {
		node_free(n);
		return NULL;
	}
	return n;
}

/* A [table] or [[array of tables]] line; cursor on the first '['. */
static int parse_header(struct parser *p)
{
	struct srcpos hdr = here(p);
	bool aot = peek_at(p, 1) == '[';
	struct keypath kp = {0};
	char d[DESCRIBE_LEN];

	p->pos += aot ? 2 : 1;
	if (parse_key(p, &kp) < 0)
		return -1;
	if (peek(p) != ']' || (aot && peek_at(p, 1) != ']')) {
		size_t at = peek(p) == ']' ? p->pos + 1 : p->pos;
		fail(p, at, "expected '%s' to close the header, found %s", aot ? "]]" : "]",
		     describe_at(p, at, d));
		keypath_free(&kp);
		return -1;
	}
	p->pos += aot ? 2 : 1;
	struct node *t = aot ? append_table(p, &kp, &hdr) : define_table(p, &kp, &hdr);
	keypath_free(&kp);
	if (!t)
		return -1;
	p->cur = t;
	return expect_eol(p, aot ? "array of tables header" : "table header");
}

/* ------------------------------------------------------------------ */
/* Numbers, booleans, dates and times */

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* Characters a number, boolean or date/time may contain. */
static bool is_token_char(int c)
{
	return is_bare(c) || c == '+' || c == '.' || c == ':';
}

/* Digits of the given radix with single underscores between them, from
 * s[*i]; appends the digits (without underscores) to out. Returns the digit
 * count, or -1 on a misplaced underscore. */
static int digit_run(const char *s, size_t n, size_t *i, int radix, char *out, size_t *olen,
                     size_t ocap)
{
	int count = 0;

	while (*i < n) {
		int c = (unsigned char)s[*i], v = hexval(c);
		if (c == '_') {
			if (count == 0 || *i + 1 >= n || hexval((unsigned char)s[*i + 1]) < 0 ||
			    hexval((unsigned char)s[*i + 1]) >= radix)
				return -1;
			(*i)++;
			continue;
		}
		if (v < 0 || v >= radix)
			break;
		if (*olen + 1 < ocap)
			out[(*olen)++] = (char)c;
		count++;
		(*i)++;
	}
	out[*olen] = '\0';
	return count;
}

static struct node *make_int(struct parser *p, const struct srcpos *at, int depth, int64_t v)
{
	struct node *n = node_new(p, TOML_INTEGER, at, depth);
	if (n)
		n->v.u.integer = v;
	return n;
}

static struct node *make_float(struct parser *p, const struct srcpos *at, int depth, double v)
{
	struct node *n = node_new(p, TOML_FLOAT, at, depth);
	if (n)
		n->v.u.fp = v;
	return n;
}

/* Convert digits (no underscores) in radix to an integer within int64. */
static int to_int64(const char *digits, int radix, bool neg, int64_t *out)
{
	uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;

	for (const char *d = digits; *d; d++) {
		uint64_t h = (uint64_t)hexval((unsigned char)*d);
		if (v > (limit - h) / (uint64_t)radix)
			return -1;
		v = v * (uint64_t)radix + h;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* 0x, 0o or 0b integer; tok is the whole token. */
static struct node *parse_radix_int(struct parser *p, const char *tok, size_t n,
                                    const struct srcpos *sp, int depth)
{
	int radix = tok[1] == 'x' ? 16 : tok[1] == 'o' ? 8 : 2;
	size_t at = sp->at;
	char digits[512];
	size_t i = 2, olen = 0;
	int64_t v;

	int count = digit_run(tok, n, &i, radix, digits, &olen, sizeof(digits));
	if (count <= 0 || i != n) {
		fail(p, at, "invalid %s integer '%.*s'",
		     radix == 16  ? "hexadecimal"
		     : radix == 8 ? "octal"
		                  : "binary",
		     (int)n, tok);
		return NULL;
	}
	if (to_int64(digits, radix, false, &v) < 0) {
		fail(p, at, "integer '%.*s' does not fit in 64 bits", (int)n, tok);
		return NULL;
	}
	return make_int(p, sp, depth, v);
}

/* Decimal integer or float, strictly per the grammar: no leading zeros, an
 * underscore only between two digits, digits on both sides of the point. */
static struct node *parse_decimal(struct parser *p, const char *tok, size_t n,
                                  const struct srcpos *sp, int depth)
{
	char buf[512];
	size_t i = 0, olen = 0, at = sp->at;
	bool neg = false, is_float = false;

	if (tok[0] == '+' || tok[0] == '-') {
		neg = tok[0] == '-';
		buf[olen++] = tok[i++];
	}
	size_t int_start = i;
	int count = digit_run(tok, n, &i, 10, buf, &olen, sizeof(buf));
	if (count <= 0)
		goto invalid;
	if (tok[int_start] == '0' && count > 1) {
		fail(p, at, "leading zeros are not allowed in '%.*s'", (int)n, tok);
		return NULL;
	}
	if (i < n && tok[i] == '.') {
		is_float = true;
		buf[olen++] = tok[i++];
		if (i >= n || !is_digit(tok[i]) ||
		    digit_run(tok, n, &i, 10, buf, &olen, sizeof(buf)) <= 0)
			goto invalid;
	}
	if (i < n && (tok[i] == 'e' || tok[i] == 'E')) {
		is_float = true;
		buf[olen++] = tok[i++];
		if (i < n && (tok[i] == '+' || tok[i] == '-'))
			buf[olen++] = tok[i++];
		if (i >= n || !is_digit(tok[i]) ||
		    digit_run(tok, n, &i, 10, buf, &olen, sizeof(buf)) <= 0)
			goto invalid;
	}
	if (i != n)
		goto invalid;
	if (!is_float) {
		int64_t v;
		if (to_int64(buf + (tok[0] == '+' || tok[0] == '-'), 10, neg, &v) < 0) {
			fail(p, at, "integer '%.*s' does not fit in 64 bits", (int)n, tok);
			return NULL;
		}
		return make_int(p, sp, depth, v);
	}
	errno = 0;
	double d = strtod(buf, NULL);
	if (errno == ERANGE && isinf(d)) {
		fail(p, at, "float '%.*s' is out of range", (int)n, tok);
		return NULL;
	}
	return make_float(p, sp, depth, d);
invalid:
	fail(p, at, "invalid number '%.*s'", (int)n > 64 ? 64 : (int)n, tok);
	return NULL;
}

/* Exactly k digits at tok[*i]; -1 if not. */
static int fixed_digits(const char *tok, size_t n, size_t *i, int k)
{
	int v = 0;
	for (int j = 0; j < k; j++, (*i)++) {
		if (*i >= n || !is_digit(tok[*i]))
			return -1;
		v = v * 10 + (tok[*i] - '0');
	}
	return v;
}

static bool expect_char(const char *tok, size_t n, size_t *i, char c)
{
	if (*i >= n || tok[*i] != c)
		return false;
	(*i)++;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* YYYY-MM-DD. Returns NULL on success, else what is wrong. */
static const char *scan_date(const char *tok, size_t n, size_t *i, struct toml_datetime *dt)
{
	if ((dt->year = fixed_digits(tok, n, i, 4)) < 0 || !expect_char(tok, n, i, '-') ||
	    (dt->month = fixed_digits(tok, n, i, 2)) < 0 || !expect_char(tok, n, i, '-') ||
	    (dt->day = fixed_digits(tok, n, i, 2)) < 0)
		return "malformed date (expected YYYY-MM-DD)";
	if (dt->month < 1 || dt->month > 12)
		return "month out of range";
	if (dt->day < 1 || dt->day > days_in_month(dt->year, dt->month))
		return "day out of range for the month";
	return NULL;
}

/* HH:MM:SS[.fraction]. Digits past nanoseconds are dropped, as the spec
 * allows. */
static const char *scan_time(const char *tok, size_t n, size_t *i, struct toml_datetime *dt)
{
	if ((dt->hour = fixed_digits(tok, n, i, 2)) < 0 || !expect_char(tok, n, i, ':') ||
	    (dt->minute = fixed_digits(tok, n, i, 2)) < 0 || !expect_char(tok, n, i, ':') ||
	    (dt->second = fixed_digits(tok, n, i, 2)) < 0)
		return "malformed time (expected HH:MM:SS)";
	if (dt->hour > 23 || dt->minute > 59 || dt->second > 60) /* 60: leap second */
		return "time out of range";
	if (expect_char(tok, n, i, '.')) {
		int scale = 100000000;
		if (*i >= n || !is_digit(tok[*i]))
			return "expected digits after the decimal point";
		for (; *i < n && is_digit(tok[*i]); (*i)++) {
			dt->nanosecond += (tok[*i] - '0') * scale;
			scale /= 10;
			if (dt->frac_digits < INT_MAX)
				dt->frac_digits++;
		}
	}
	return NULL;
}

/* Z or +HH:MM / -HH:MM. */
static const char *scan_offset(const char *tok, size_t n, size_t *i, struct toml_datetime *dt)
{
	if (tok[*i] == 'Z' || tok[*i] == 'z') {
		dt->offset_z = true;
		(*i)++;
		return NULL;
	}
	int sign = tok[*i] == '-' ? -1 : 1, h, m;
	(*i)++;
	if ((h = fixed_digits(tok, n, i, 2)) < 0 || !expect_char(tok, n, i, ':') ||
	    (m = fixed_digits(tok, n, i, 2)) < 0)
		return "malformed time offset (expected Z or +HH:MM)";
	if (h > 23 || m > 59)
		return "time offset out of range";
	dt->offset_minutes = sign * (h * 60 + m);
	return NULL;
}

static struct node *parse_datetime(struct parser *p, const char *tok, size_t n,
                                   const struct srcpos *sp, int depth)
{
	struct toml_datetime dt = {0};
	enum toml_type type;
	const char *why = NULL;
	size_t i = 0;

	if (n > 2 && tok[2] == ':') {
		type = TOML_TIME_LOCAL;
		why = scan_time(tok, n, &i, &dt);
	} else {
		type = TOML_DATE_LOCAL;
		why = scan_date(tok, n, &i, &dt);
		if (!why && i < n && (tok[i] == 'T' || tok[i] == 't' || tok[i] == ' ')) {
			i++;
			type = TOML_DATETIME_LOCAL;
			why = scan_time(tok, n, &i, &dt);
			if (!why && i < n && tok[i] && strchr("Zz+-", tok[i])) {
				type = TOML_DATETIME;
				why = scan_offset(tok, n, &i, &dt);
			}
		}
	}
	if (!why && i != n)
		why = "unexpected characters after date/time";
	if (why) {
		fail(p, sp->at, "invalid date/time '%.*s': %s", (int)n > 64 ? 64 : (int)n, tok,
		     why);
		return NULL;
	}
	struct node *v = node_new(p, type, sp, depth);
	if (v)
		v->v.u.dt = dt;
	return v;
}

static bool token_is(const char *tok, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(tok, word, n) == 0;
}

/* A value that is not a string, array or inline table. The token is the run
 * of characters such values are made of; a date may be followed by a space
 * and a time, which is taken into the token. */
static struct node *parse_scalar(struct parser *p, int depth)
{
	struct srcpos sp = here(p);
	size_t at = sp.at;
	char d[DESCRIBE_LEN];

	while (is_token_char(peek(p)))
		p->pos++;
	if (p->pos - at == 10 && p->s[at + 4] == '-' && peek(p) == ' ' && is_digit(peek_at(p, 1))) {
		p->pos++;
		while (is_token_char(peek(p)))
			p->pos++;
	}
	const char *tok = p->s + at;
	size_t n = p->pos - at;
	int show = n > 64 ? 64 : (int)n;
	if (n == 0) {
		fail(p, at, "expected a value, found %s", describe_at(p, at, d));
		return NULL;
	}
	if (n > 256) { /* keeps the digit buffers of the number parsers small */
		fail(p, at, "value '%.*s...' is too long", show, tok);
		return NULL;
	}
	if (token_is(tok, n, "true") || token_is(tok, n, "false")) {
		struct node *v = node_new(p, TOML_BOOL, &sp, depth);
		if (v)
			v->v.u.boolean = tok[0] == 't';
		return v;
	}
	size_t sign = tok[0] == '+' || tok[0] == '-';
	if (token_is(tok + sign, n - sign, "inf"))
		return make_float(p, &sp, depth, tok[0] == '-' ? -INFINITY : INFINITY);
	if (token_is(tok + sign, n - sign, "nan"))
		return make_float(p, &sp, depth, tok[0] == '-' ? -NAN : NAN);
	if (n >= 3 && is_digit(tok[0]) && is_digit(tok[1]) &&
	    (tok[2] == ':' || (n >= 5 && is_digit(tok[2]) && is_digit(tok[3]) && tok[4] == '-')))
		return parse_datetime(p, tok, n, &sp, depth);
	if (n >= 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'o' || tok[1] == 'b'))
		return parse_radix_int(p, tok, n, &sp, depth);
	if (sign && n >= 3 && tok[1] == '0' && (tok[2] == 'x' || tok[2] == 'o' || tok[2] == 'b')) {
		fail(p, at, "a sign is not allowed on '%.*s'", show, tok);
		return NULL;
	}
	if (sign < n && is_digit(tok[sign])) /* a lone sign is a whole token */
		return parse_decimal(p, tok, n, &sp, depth);
	if ((tok[0] >= 'A' && tok[0] <= 'Z') || (tok[0] >= 'a' && tok[0] <= 'z'))
		fail(p, at, "invalid value '%.*s' (strings must be quoted)", show, tok);
	else
		fail(p, at, "invalid value '%.*s'", show, tok);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Values */

static struct node *parse_value(struct parser *p, int depth);
static int parse_keyval(struct parser *p, struct node *t);

static struct node *parse_string_value(struct parser *p, int depth)
{
	struct srcpos sp = here(p);
	struct node *v = node_new(p, TOML_STRING, &sp, depth);

	if (v && parse_string(p, true, &v->v.u.str.ptr, &v->v.u.str.len) < 0) {
		node_free(v);
		return NULL;
	}
	return v;
}

/* [ values ], newlines and comments allowed, trailing comma allowed. */
static struct node *parse_array(struct parser *p, int depth)
{
	struct srcpos sp = here(p);
	struct node *a = node_new(p, TOML_ARRAY, &sp, depth), *v;
	char d[DESCRIBE_LEN];

	if (!a)
		return NULL;
	p->pos++;
	for (;;) {
		if (skip_blank(p) < 0)
			goto fail;
		if (p->pos >= p->len) {
			fail(p, sp.at, "unterminated array (no closing ']')");
			goto fail;
		}
		if (peek(p) == ']')
			break;
		if (!(v = parse_value(p, depth + 1)))
			goto fail;
		if (array_push(p, a, v) < 0) {
			node_free(v);
			goto fail;
		}
		if (skip_blank(p) < 0)
			goto fail;
		if (peek(p) == ']')
			break;
		if (peek(p) != ',') {
			fail(p, p->pos, "expected ',' or ']' in array, found %s",
			     describe_at(p, p->pos, d));
			goto fail;
		}
		p->pos++;
	}
	p->pos++;
	return a;
fail:
	node_free(a);
	return NULL;
}

/* { k = v, ... } on one line, no trailing comma; frozen once closed. */
static struct node *parse_inline_table(struct parser *p, int depth)
{
	struct srcpos sp = here(p);
	struct node *t = node_new(p, TOML_TABLE, &sp, depth);
	char d[DESCRIBE_LEN];

	if (!t)
		return NULL;
	p->pos++;
	skip_ws(p);
	if (peek(p) == '}') {
		p->pos++;
		t->flags = NODE_FROZEN;
		return t;
	}
	for (;;) {
		if (parse_keyval(p, t) < 0)
			goto fail;
		skip_ws(p);
		if (peek(p) == '}')
			break;
		if (peek(p) != ',') {
			fail(p, p->pos, "expected ',' or '}' in inline table, found %s%s",
			     describe_at(p, p->pos, d),
			     is_newline(p) ? " (inline tables must be on one line)" : "");
			goto fail;
		}
		p->pos++;
		skip_ws(p);
		if (peek(p) == '}') {
			fail(p, p->pos, "trailing comma in inline table");
			goto fail;
		}
	}
	p->pos++;
	t->flags = NODE_FROZEN;
	return t;
fail:
	node_free(t);
	return NULL;
}

static struct node *parse_value(struct parser *p, int depth)
{
	switch (peek(p)) {
	case '"':
	case '\'':
		return parse_string_value(p, depth);
	case '[':
		if (depth > TOML_MAX_DEPTH)
			break;
		return parse_array(p, depth);
	case '{':
		if (depth > TOML_MAX_DEPTH)
			break;
		return parse_inline_table(p, depth);
	default:
		return parse_scalar(p, depth);
	}
	/* Checked here as well as in node_new() so that the recursion stops
	 * before another frame. */
	fail(p, p->pos, "nesting too deep (more than %d levels)", TOML_MAX_DEPTH);
	return NULL;
}

/* key = value into table t (the current section, or an inline table). */
static int parse_keyval(struct parser *p, struct node *t)
{
	struct keypath kp = {0};
	struct node *v;
	char key[128], d[DESCRIBE_LEN];
	int rc = -1;

	if (parse_key(p, &kp) < 0)
		return -1;
	if (peek(p) != '=') {
		fail(p, p->pos, "expected '=' after key, found %s", describe_at(p, p->pos, d));
		goto out;
	}
	p->pos++;
	skip_ws(p);
	for (size_t i = 0; i + 1 < kp.n; i++)
		if (!(t = dotted_step(p, t, &kp, i)))
			goto out;
	struct keypart *k = &kp.parts[kp.n - 1];
	ptrdiff_t at = table_find(t, k->s, k->len);
	if (at >= 0) {
		fmt_key(key, sizeof(key), kp.parts, kp.n);
		fail(p, kp.parts[0].pos.at, "duplicate key '%s' (first defined at line %d)", key,
		     kv_line(t, at));
		goto out;
	}
	if (!(v = parse_value(p, t->depth + 1)))
		goto out;
	if (table_add(p, t, k, v) < 0) {
		node_free(v);
		goto out;
	}
	rc = 0;
out:
	keypath_free(&kp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Documents */

static int parse_document(struct parser *p)
{
	for (;;) {
		if (skip_blank(p) < 0)
			return -1;
		if (p->pos >= p->len)
			return 0;
		if (peek(p) == '[') {
			if (parse_header(p) < 0)
				return -1;
		} else {
			if (parse_keyval(p, p->cur) < 0 || expect_eol(p, "value") < 0)
				return -1;
		}
	}
}

struct toml_value *toml_parse(const char *src, size_t len, const char *filename, char *err,
                              size_t errlen)
{
	struct parser p = {
	    .s = src ? src : "",
	    .len = src ? len : 0,
	    .filename = filename ? filename : "<input>",
	    .err = err,
	    .errlen = errlen,
	    .lc_line = 1,
	    .lc_col = 1,
	};
	size_t bad;

	if (err && errlen)
		err[0] = '\0';
	if (p.len >= 3 && memcmp(p.s, "\xEF\xBB\xBF", 3) == 0)
		p.pos = 3; /* a byte order mark is allowed and ignored */
	if ((bad = utf8_check((const unsigned char *)p.s, p.len)) < p.len) {
		fail(&p, bad, "invalid UTF-8 (byte 0x%02X)", (unsigned char)p.s[bad]);
		return NULL;
	}
	struct srcpos start = here(&p);
	if (!(p.root = node_new(&p, TOML_TABLE, &start, 0)))
		return NULL;
	p.root->flags = NODE_EXPLICIT;
	p.cur = p.root;
	if (parse_document(&p) < 0) {
		node_free(p.root);
		return NULL;
	}
	return &p.root->v;
}

/* Whole file into memory; works for pipes and /dev/stdin too. */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	for (;;) {
		if (n == cap) {
			char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
			if (!nb) {
				free(buf);
				errno = ENOMEM;
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

struct toml_value *toml_parse_file(const char *path, char *err, size_t errlen)
{
	struct toml_value *root;
	size_t len = 0;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !(buf = read_all(fd, &len))) {
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	root = toml_parse(buf, len, path, err, errlen);
	free(buf);
	return root;
}

/* ------------------------------------------------------------------ */
/* Accessors */

const struct toml_kv *toml_table_get_kv(const struct toml_value *t, const char *key)
{
	if (!t || t->type != TOML_TABLE || !key)
		return NULL;
	ptrdiff_t i = table_find((const struct node *)(const void *)t, key, strlen(key));
	return i < 0 ? NULL : &t->u.table.items[i];
}

const struct toml_value *toml_table_get(const struct toml_value *t, const char *key)
{
	const struct toml_kv *kv = toml_table_get_kv(t, key);
	return kv ? kv->val : NULL;
}

size_t toml_table_len(const struct toml_value *t)
{
	return t && t->type == TOML_TABLE ? t->u.table.len : 0;
}

const struct toml_kv *toml_table_at(const struct toml_value *t, size_t i)
{
	return t && t->type == TOML_TABLE && i < t->u.table.len ? &t->u.table.items[i] : NULL;
}

size_t toml_array_len(const struct toml_value *a)
{
	return a && a->type == TOML_ARRAY ? a->u.array.len : 0;
}

const struct toml_value *toml_array_at(const struct toml_value *a, size_t i)
{
	return a && a->type == TOML_ARRAY && i < a->u.array.len ? a->u.array.items[i] : NULL;
}

const char *toml_type_name(enum toml_type t)
{
	switch (t) {
	case TOML_TABLE:
		return "table";
	case TOML_ARRAY:
		return "array";
	case TOML_STRING:
		return "string";
	case TOML_INTEGER:
		return "integer";
	case TOML_FLOAT:
		return "float";
	case TOML_BOOL:
		return "boolean";
	case TOML_DATETIME:
		return "datetime";
	case TOML_DATETIME_LOCAL:
		return "local datetime";
	case TOML_DATE_LOCAL:
		return "local date";
	case TOML_TIME_LOCAL:
		return "local time";
	}
	return "unknown";
}

int toml_datetime_format(const struct toml_value *v, char *buf, size_t size)
{
	const struct toml_datetime *dt;
	char date[16] = "", time[32] = "", off[8] = "";
	const char *sep = "";

	if (!v || v->type < TOML_DATETIME || v->type > TOML_TIME_LOCAL) {
		if (size)
			buf[0] = '\0';
		return -1;
	}
	dt = &v->u.dt;
	if (v->type != TOML_TIME_LOCAL)
		snprintf(date, sizeof(date), "%04d-%02d-%02d", dt->year, dt->month, dt->day);
	if (v->type != TOML_DATE_LOCAL) {
		int digits = dt->frac_digits > 9 ? 9 : dt->frac_digits;
		int n = snprintf(time, sizeof(time), "%02d:%02d:%02d", dt->hour, dt->minute,
		                 dt->second);
		if (digits > 0) {
			int frac = dt->nanosecond;
			for (int i = digits; i < 9; i++)
				frac /= 10;
			snprintf(time + n, sizeof(time) - (size_t)n, ".%0*d", digits, frac);
		}
	}
	if (v->type == TOML_DATETIME || v->type == TOML_DATETIME_LOCAL)
		sep = "T";
	if (v->type == TOML_DATETIME && dt->offset_z) {
		strcpy(off, "Z");
	} else if (v->type == TOML_DATETIME) {
		int m = dt->offset_minutes < 0 ? -dt->offset_minutes : dt->offset_minutes;
		snprintf(off, sizeof(off), "%c%02d:%02d", dt->offset_minutes < 0 ? '-' : '+',
		         m / 60 % 100, m % 60);
	}
	return snprintf(buf, size, "%s%s%s%s", date, sep, time, off);
}

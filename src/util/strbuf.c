#include "util/strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(struct strbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void strbuf_init_fixed(struct strbuf *b, char *buf, size_t cap)
{
	memset(b, 0, sizeof(*b));
	b->p = buf;
	b->cap = cap;
	b->fixed = true;
	buf[0] = '\0';
}

void strbuf_free(struct strbuf *b)
{
	if (!b->fixed)
		free(b->p);
	bool fixed = b->fixed;
	char *p = b->p;
	size_t cap = b->cap;
	memset(b, 0, sizeof(*b));
	if (fixed)
		strbuf_init_fixed(b, p, cap);
}

char *strbuf_take(struct strbuf *b)
{
	char *p = b->failed ? NULL : b->p;
	if (b->failed)
		free(b->p);
	else if (!p)
		p = strdup("");
	memset(b, 0, sizeof(*b));
	return p;
}

/* Room for n more bytes and the NUL; false when there is not (fixed) or it
 * cannot be had (growable). */
static bool strbuf_reserve(struct strbuf *b, size_t n)
{
	if (b->cap - b->len > n)
		return true;
	if (b->fixed || b->failed)
		return false;
	size_t cap = b->cap ? b->cap : 64;
	while (cap - b->len <= n) {
		if (cap > SIZE_MAX / 2)
			return false;
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p)
		return false;
	b->p = p;
	b->cap = cap;
	return true;
}

int strbuf_add(struct strbuf *b, const void *s, size_t n)
{
	int rc = 0;
	if (!strbuf_reserve(b, n)) {
		b->failed = true;
		rc = -1;
		if (!b->fixed || b->cap == 0)
			return rc;
		n = b->cap - 1 - b->len; /* fixed: keep what fits */
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return rc;
}

int strbuf_puts(struct strbuf *b, const char *s)
{
	return strbuf_add(b, s, strlen(s));
}

int strbuf_addc(struct strbuf *b, char c)
{
	return strbuf_add(b, &c, 1);
}

int strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap)
{
	va_list again;
	va_copy(again, ap);
	size_t room = b->cap - b->len;
	int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
	int rc = 0;
	if (n < 0) {
		b->failed = true;
		rc = -1;
	} else if ((size_t)n < room) {
		b->len += (size_t)n;
	} else if (strbuf_reserve(b, (size_t)n)) {
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, again);
		b->len += (size_t)n;
	} else {
		b->failed = true;
		rc = -1;
		if (b->fixed && room) /* vsnprintf kept what fits */
			b->len = b->cap - 1;
		else if (b->p)
			b->p[b->len] = '\0';
	}
	va_end(again);
	return rc;
}

int strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = strbuf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

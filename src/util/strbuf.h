/* A string being built: the one string buffer of the program.
 *
 * Two kinds, one API:
 *   growable (strbuf_init): grows with realloc; if memory runs out it keeps
 *     what it has, stops growing and reports failure from then on;
 *   fixed (strbuf_init_fixed): writes into the caller's array and never
 *     allocates; what does not fit is cut (a log line on the hot path).
 * Either way b->p is NUL-terminated whenever it is not NULL, and b->len is
 * the length without the NUL. Appenders return 0, or -1 when something was
 * dropped (out of memory, or cut); strbuf_failed() says whether anything
 * ever was. */
#ifndef CSOCKS_STRBUF_H
#define CSOCKS_STRBUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *p;     /* the text (NULL for an empty growable buffer) */
	size_t len;  /* bytes in p, without the NUL */
	size_t cap;  /* bytes p can hold, the NUL included */
	bool fixed;  /* p is the caller's: never reallocated or freed */
	bool failed; /* something was dropped */
};

void strbuf_init(struct strbuf *b);
/* buf of cap >= 1 bytes, owned by the caller. */
void strbuf_init_fixed(struct strbuf *b, char *buf, size_t cap);
/* Free a growable buffer's text (a fixed one's stays); b is empty again. */
void strbuf_free(struct strbuf *b);
/* Hand over a growable buffer's text (caller frees; "" when empty; NULL
 * when memory ran out); b is empty again. */
char *strbuf_take(struct strbuf *b);

int strbuf_add(struct strbuf *b, const void *s, size_t n);
int strbuf_puts(struct strbuf *b, const char *s);
int strbuf_addc(struct strbuf *b, char c);
int strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strbuf_vprintf(struct strbuf *b, const char *fmt, va_list ap);

static inline bool strbuf_failed(const struct strbuf *b)
{
	return b->failed;
}

#endif

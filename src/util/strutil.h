/* Small string and memory helpers shared by every module. */
#ifndef CSOCKS_STRUTIL_H
#define CSOCKS_STRUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Abort with file:line when internal state is corrupt. Checked in release
 * builds too: a proxy that limps on with broken invariants is worse than one
 * that restarts. */
#define CSOCKS_BUG_ON(cond) ((cond) ? csocks_bug(__FILE__, __LINE__, #cond) : (void)0)
void csocks_bug(const char *file, int line, const char *what) __attribute__((noreturn));

/* Allocation that cannot fail (aborts with a message on OOM). For start-up
 * and rare paths only. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Copy with truncation; returns strlen(src). dst always NUL-terminated. */
size_t cs_strlcpy(char *dst, const char *src, size_t size);

/* Constant-time comparison: time depends only on the lengths. */
bool cs_ct_memeq(const void *a, size_t alen, const void *b, size_t blen);
bool cs_ct_streq(const char *a, const char *b);

/* Parse a decimal unsigned integer in [min,max] from the whole string. 0/-1. */
int cs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Read a whole file into a NUL-terminated heap buffer (caller frees).
 * Returns NULL and sets errno on failure. */
char *cs_read_file(const char *path, size_t *len_out);

/* Write a file atomically: temp file in the same directory, fsync, rename.
 * Returns 0 or -1 with errno. */
int cs_write_file_atomic(const char *path, const void *data, size_t len);

#endif

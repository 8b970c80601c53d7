/* A tiny unit-test harness. A test is a void function; CHECK* record a
 * failure with file:line and keep going; RUN() runs one test and counts it as
 * passed when none of its checks failed. A test that cannot run here (an
 * optional input is absent) calls SKIP("reason", ...) and returns: RUN()
 * then prints "SKIP: <test>: <reason>" and counts it as skipped, unless a
 * check had already failed. TEST_END() prints
 * "<suite>: N passed, N failed, N skipped" (scripts/test.sh adds these up)
 * and gives main's exit status.
 *
 *   static void t_parse(void) { CHECK_INT(parse("1"), 1); }
 *   int main(void) { RUN(t_parse); return TEST_END("toml"); }
 */
#ifndef CSOCKS_TEST_H
#define CSOCKS_TEST_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int test_failed_checks, test_passed, test_failed, test_skipped;
static char test_skip_reason[512]; /* set by SKIP() in the running test */

static inline int test_check(int ok, const char *expr, const char *file, int line)
{
	if (!ok) {
		test_failed_checks++;
		fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
	}
	return ok;
}

#define CHECK(c) test_check(!!(c), #c, __FILE__, __LINE__)
#define CHECK_INT(a, b)                                                                            \
	do {                                                                                       \
		long long a_ = (long long)(a), b_ = (long long)(b);                                \
		if (!test_check(a_ == b_, #a " == " #b, __FILE__, __LINE__))                       \
			fprintf(stderr, "    got %lld, want %lld\n", a_, b_);                      \
	} while (0)
#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		int ok_ = a_ && b_ && strcmp(a_, b_) == 0;                                         \
		if (!test_check(ok_, #a " == " #b, __FILE__, __LINE__))                            \
			fprintf(stderr, "    got \"%s\", want \"%s\"\n", a_ ? a_ : "(null)",       \
			        b_ ? b_ : "(null)");                                               \
	} while (0)

/* Mark the running test as skipped; the caller returns right after. */
__attribute__((format(printf, 1, 2))) static inline void test_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(test_skip_reason, sizeof(test_skip_reason), fmt, ap);
	va_end(ap);
	if (!test_skip_reason[0])
		snprintf(test_skip_reason, sizeof(test_skip_reason), "(no reason given)");
}
#define SKIP(...) test_skip(__VA_ARGS__)

static inline void test_run(const char *name, void (*fn)(void))
{
	int before = test_failed_checks;
	test_skip_reason[0] = '\0';
	fn();
	if (test_failed_checks == before && test_skip_reason[0]) {
		test_skipped++;
		printf("SKIP: %s: %s\n", name, test_skip_reason);
	} else if (test_failed_checks == before) {
		test_passed++;
		printf("PASS %s\n", name);
	} else {
		test_failed++;
		printf("FAIL %s\n", name);
	}
	fflush(stdout);
}

#define RUN(fn) test_run(#fn, fn)

static inline int test_end(const char *suite)
{
	printf("%s: %d passed, %d failed, %d skipped\n", suite, test_passed, test_failed,
	       test_skipped);
	return test_failed ? 1 : 0;
}
#define TEST_END(suite) test_end(suite)

#endif

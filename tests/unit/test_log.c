/* Logging: level filtering, text and JSON line formats, field quoting. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/strbuf.h"

/* Run fn with logging sent to a pipe; return what was written (static). */
static const char *capture(void (*fn)(void))
{
	static char buf[16384];
	int p[2];
	if (pipe(p) != 0)
		return "";
	log_set_fd(p[1]);
	fn();
	log_set_fd(2);
	close(p[1]);
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void emit_levels(void)
{
	log_debug("hidden %d", 1);
	log_info("shown %d", 2);
	log_error("also shown");
}

static void t_level_filter(void)
{
	log_setup(LOGL_INFO, LOGF_TEXT);
	const char *out = capture(emit_levels);
	CHECK(strstr(out, "hidden") == NULL);
	CHECK(strstr(out, " INFO  shown 2\n") != NULL);
	CHECK(strstr(out, " ERROR also shown\n") != NULL);
}

static void emit_fields(void)
{
	struct log_field f[] = {LOG_STR("user", "alice"), LOG_NUM("bytes", 12345),
	                        LOG_STR("reason", "closed by \"peer\""), LOG_STR("empty", "")};
	log_fields(LOGL_INFO, "session closed", f, 4);
}

static void t_text_fields(void)
{
	log_setup(LOGL_INFO, LOGF_TEXT);
	const char *out = capture(emit_fields);
	CHECK(strstr(out, "session closed user=alice bytes=12345 "
	                  "reason=\"closed by \\\"peer\\\"\" empty=\"\"\n") != NULL);
}

static void t_json_fields(void)
{
	log_setup(LOGL_INFO, LOGF_JSON);
	const char *out = capture(emit_fields);
	json_error_t err;
	json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, &err);
	if (CHECK(j != NULL)) {
		CHECK_STR(json_string_value(json_object_get(j, "level")), "info");
		CHECK_STR(json_string_value(json_object_get(j, "msg")), "session closed");
		CHECK_STR(json_string_value(json_object_get(j, "user")), "alice");
		CHECK_INT(json_integer_value(json_object_get(j, "bytes")), 12345);
		CHECK_STR(json_string_value(json_object_get(j, "reason")), "closed by \"peer\"");
		CHECK(json_string_value(json_object_get(j, "ts")) != NULL);
		json_decref(j);
	}
	log_setup(LOGL_INFO, LOGF_TEXT);
}

static void emit_long(void)
{
	static char big[10000];
	memset(big, 'x', sizeof(big) - 1);
	struct log_field f[] = {LOG_STR("big", big)};
	log_fields(LOGL_WARN, "long\n\"line\"", f, 1);
}

static void t_json_long_line_stays_valid(void)
{
	log_setup(LOGL_INFO, LOGF_JSON);
	const char *out = capture(emit_long);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
	json_error_t err;
	json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, &err);
	if (CHECK(j != NULL)) {
		CHECK_STR(json_string_value(json_object_get(j, "msg")), "long\n\"line\"");
		CHECK(json_is_true(json_object_get(j, "truncated")));
		json_decref(j);
	}
	log_setup(LOGL_INFO, LOGF_TEXT);
}

static void t_parse_names(void)
{
	enum log_level l;
	enum log_format f;
	CHECK(log_level_parse("warn", &l) == 0 && l == LOGL_WARN);
	CHECK(log_level_parse("WARNING", &l) == 0 && l == LOGL_WARN);
	CHECK(log_level_parse("trace", &l) == 0 && l == LOGL_TRACE);
	CHECK(log_level_parse("loud", &l) == -1);
	CHECK(log_format_parse("pretty", &f) == 0 && f == LOGF_TEXT);
	CHECK(log_format_parse("json", &f) == 0 && f == LOGF_JSON);
	CHECK(log_format_parse("xml", &f) == -1);
}

static void t_strbuf_growable(void)
{
	struct strbuf b;
	strbuf_init(&b);
	char *empty = strbuf_take(&b);
	CHECK(empty && *empty == '\0');
	free(empty);
	strbuf_init(&b);
	for (int i = 0; i < 1000; i++)
		CHECK_INT(strbuf_printf(&b, "%04d,", i), 0);
	CHECK_INT((long)b.len, 5000);
	CHECK(strncmp(b.p, "0000,0001,", 10) == 0);
	CHECK_STR(b.p + 4995, "0999,");
	CHECK_INT(strbuf_addc(&b, 'x'), 0);
	CHECK_INT(strbuf_puts(&b, "yz"), 0);
	CHECK_STR(b.p + 5000, "xyz");
	CHECK(!strbuf_failed(&b));
	char *t = strbuf_take(&b);
	CHECK_INT((long)strlen(t), 5003);
	CHECK(b.p == NULL && b.len == 0);
	free(t);
	strbuf_free(&b);
}

static void t_strbuf_fixed_cuts(void)
{
	char buf[8];
	struct strbuf b;
	strbuf_init_fixed(&b, buf, sizeof(buf));
	CHECK_INT(strbuf_puts(&b, "abc"), 0);
	CHECK_INT(strbuf_printf(&b, "%d", 1234), 0);
	CHECK_STR(buf, "abc1234");
	CHECK(!strbuf_failed(&b));
	CHECK_INT(strbuf_addc(&b, 'x'), -1); /* full: cut, flagged */
	CHECK_STR(buf, "abc1234");
	CHECK(strbuf_failed(&b));
	strbuf_init_fixed(&b, buf, sizeof(buf));
	CHECK_INT(strbuf_printf(&b, "%s", "0123456789"), -1);
	CHECK_STR(buf, "0123456");
	CHECK_INT((long)b.len, 7);
	strbuf_init_fixed(&b, buf, sizeof(buf));
	CHECK_INT(strbuf_add(&b, "0123456789", 10), -1);
	CHECK_STR(buf, "0123456");
}

static void t_hash_fnv1a(void)
{
	/* FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; the fold mixes in >> 29. */
	uint64_t h = cs_hash_step(CS_FNV64_OFFSET, 'a');
	CHECK(h == 0xaf63dc4c8601ec8cull);
	CHECK(cs_hash_str("a") == cs_hash_fold(h));
	CHECK(cs_hash_bytes("ab", 2) == cs_hash_str("ab"));
	CHECK(cs_hash_str("") == cs_hash_fold(CS_FNV64_OFFSET));
	CHECK(cs_hash_str("alice") != cs_hash_str("alicf"));
}

int main(void)
{
	RUN(t_level_filter);
	RUN(t_text_fields);
	RUN(t_json_fields);
	RUN(t_json_long_line_stays_valid);
	RUN(t_parse_names);
	RUN(t_strbuf_growable);
	RUN(t_strbuf_fixed_cuts);
	RUN(t_hash_fnv1a);
	return TEST_END("log");
}

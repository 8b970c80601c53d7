/* RustSocks' /api/admin/runtime-config and /api/admin/config-file.
 *
 * Both PUTs rewrite the config file the process was started with: the new
 * text is validated by the same loader as at start (errors come back as
 * file:line JSON), then replaces the file atomically (temporary file in the
 * same folder with the old mode and owner, fsync, rename, fsync of the
 * folder). RustSocks then re-executes itself; csocks does not (a dropped
 * privilege could not bind the port again): the answer says
 * "restarting": false and the new file applies at the next start (SIGHUP
 * reloads only the ACL). GET config-file redacts secrets; a PUT that keeps
 * a redacted placeholder keeps the secret that is in the file. */
#include "api/api_extra.h"

#include "config/config.h"
#include "obs/telemetry.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/strutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a line-level view of a TOML file ---- */

struct kvline {
	char table[256]; /* current [table] or [[array]] header, "" at the root */
	bool array;      /* inside a [[array]] table */
	const char *key; /* key text, keylen bytes */
	size_t keylen;
	const char *val; /* value text up to (not including) a trailing comment */
	size_t vallen;
};

/* End of a TOML scalar value starting at v (a string's closing quote + 1,
 * else the first '#' or the line end), trailing blanks excluded. */
static size_t value_len(const char *v, size_t max)
{
	size_t i = 0;
	if (max && (v[0] == '"' || v[0] == '\'')) {
		char q = v[0];
		for (i = 1; i < max; i++) {
			if (q == '"' && v[i] == '\\') {
				i++;
				continue;
			}
			if (v[i] == q)
				return i + 1;
		}
		return max;
	}
	while (i < max && v[i] != '#')
		i++;
	while (i && (v[i - 1] == ' ' || v[i - 1] == '\t' || v[i - 1] == '\r'))
		i--;
	return i;
}

/* Parse one line (len bytes, no '\n'); updates the table context in kv.
 * true when the line is "key = value". */
static bool parse_line(const char *line, size_t len, struct kvline *kv)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len || line[i] == '#')
		return false;
	if (line[i] == '[') {
		bool arr = i + 1 < len && line[i + 1] == '[';
		size_t s = i + (arr ? 2 : 1), e = s;
		while (e < len && line[e] != ']')
			e++;
		while (s < e && isspace((unsigned char)line[s]))
			s++;
		size_t te = e;
		while (te > s && isspace((unsigned char)line[te - 1]))
			te--;
		snprintf(kv->table, sizeof(kv->table), "%.*s", (int)(te - s), line + s);
		kv->array = arr;
		return false;
	}
	const char *eq = memchr(line + i, '=', len - i);
	if (!eq)
		return false;
	size_t ke = (size_t)(eq - line);
	while (ke > i && (line[ke - 1] == ' ' || line[ke - 1] == '\t'))
		ke--;
	kv->key = line + i;
	kv->keylen = ke - i;
	size_t v = (size_t)(eq - line) + 1;
	while (v < len && (line[v] == ' ' || line[v] == '\t'))
		v++;
	kv->val = line + v;
	kv->vallen = value_len(line + v, len - v);
	return true;
}

/* The dotted name of kv's key ("sessions.dashboard_auth.users.password"). */
static void full_key(const struct kvline *kv, char *out, size_t size)
{
	if (kv->table[0])
		snprintf(out, size, "%s.%.*s", kv->table, (int)kv->keylen, kv->key);
	else
		snprintf(out, size, "%.*s", (int)kv->keylen, kv->key);
}

static bool leaf_is(const struct kvline *kv, const char *name)
{
	const char *k = kv->key;
	size_t kl = kv->keylen;
	const char *dot = memrchr(k, '.', kl);
	if (dot) {
		kl -= (size_t)(dot + 1 - k);
		k = dot + 1;
	}
	return kl == strlen(name) && strncmp(k, name, kl) == 0;
}

/* Secret kinds: 1 = the whole value, 2 = the password of a URL. */
static int secret_kind(const struct kvline *kv)
{
	static const char *const whole[] = {"token", "password", "session_secret", "secret",
	                                    "bind_password"};
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
		if (leaf_is(kv, whole[i]))
			return 1;
	if (leaf_is(kv, "database_url") || leaf_is(kv, "url"))
		return 2;
	return 0;
}

/* In a URL value "scheme://user:pass@host", the span of pass. */
static bool url_password(const char *v, size_t len, size_t *start, size_t *plen)
{
	const char *s = memmem(v, len, "://", 3);
	if (!s)
		return false;
	size_t a = (size_t)(s - v) + 3, at = a;
	while (at < len && v[at] != '@' && v[at] != '/')
		at++;
	if (at >= len || v[at] != '@')
		return false;
	const char *colon = memchr(v + a, ':', at - a);
	if (!colon)
		return false;
	*start = (size_t)(colon - v) + 1;
	*plen = at - *start;
	return *plen > 0;
}

/* Walk text line by line, calling fn for each key line; fn appends the
 * line (possibly changed) to out. */
typedef int (*line_fn)(void *arg, const char *line, size_t len, const struct kvline *kv,
                       struct strbuf *out);

static int walk(const char *text, line_fn fn, void *arg, struct strbuf *out)
{
	struct kvline kv;
	memset(&kv, 0, sizeof(kv));
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		bool is_kv = parse_line(p, len, &kv);
		if (is_kv) {
			if (fn(arg, p, len, &kv, out) != 0)
				return -1;
		} else {
			strbuf_add(out, p, len);
		}
		if (nl)
			strbuf_add(out, "\n", 1);
		p = nl ? nl + 1 : p + len;
	}
	return 0;
}

static int redact_fn(void *arg, const char *line, size_t len, const struct kvline *kv,
                     struct strbuf *out)
{
	(void)arg;
	int k = secret_kind(kv);
	size_t voff = (size_t)(kv->val - line);
	size_t ps, pl;
	if (k == 1 && kv->vallen) {
		strbuf_add(out, line, voff);
		strbuf_printf(out, "\"%s\"", API_REDACTED);
		strbuf_add(out, kv->val + kv->vallen, len - voff - kv->vallen);
	} else if (k == 2 && url_password(kv->val, kv->vallen, &ps, &pl)) {
		strbuf_add(out, line, voff + ps);
		strbuf_printf(out, "%s", API_REDACTED);
		strbuf_add(out, kv->val + ps + pl, len - voff - ps - pl);
	} else {
		strbuf_add(out, line, len);
	}
	return 0;
}

char *api_config_redact(const char *text)
{
	struct strbuf b;
	strbuf_init(&b);
	walk(text, redact_fn, NULL, &b);
	return strbuf_take(&b);
}

/* Secrets of the old file: (full key, occurrence, value text). */
struct secret {
	char key[300];
	int nth;
	char *val;
};
struct secrets {
	struct secret *v;
	size_t n;
	int nth_seen; /* unredact: scratch */
	const char *missing;
	char missing_key[300];
};

static int count_key(const struct secrets *s, const char *key)
{
	int n = 0;
	for (size_t i = 0; i < s->n; i++)
		n += strcmp(s->v[i].key, key) == 0;
	return n;
}

static int collect_fn(void *arg, const char *line, size_t len, const struct kvline *kv,
                      struct strbuf *out)
{
	struct secrets *s = arg;
	(void)line;
	(void)len;
	(void)out;
	if (!secret_kind(kv))
		return 0;
	s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
	struct secret *e = &s->v[s->n];
	full_key(kv, e->key, sizeof(e->key));
	e->nth = count_key(s, e->key);
	e->val = xstrndup(kv->val, kv->vallen);
	s->n++;
	return 0;
}

struct unredact {
	struct secrets *old;
	struct secrets seen; /* keys of the new text so far (values unused) */
};

static int unredact_fn(void *arg, const char *line, size_t len, const struct kvline *kv,
                       struct strbuf *out)
{
	struct unredact *u = arg;
	char key[300];
	if (!secret_kind(kv)) {
		strbuf_add(out, line, len);
		return 0;
	}
	full_key(kv, key, sizeof(key));
	int nth = 0;
	for (size_t i = 0; i < u->seen.n; i++)
		nth += strcmp(u->seen.v[i].key, key) == 0;
	u->seen.v = xrealloc(u->seen.v, (u->seen.n + 1) * sizeof(*u->seen.v));
	cs_strlcpy(u->seen.v[u->seen.n].key, key, sizeof(key));
	u->seen.v[u->seen.n].val = NULL;
	u->seen.n++;
	if (!memmem(kv->val, kv->vallen, API_REDACTED, strlen(API_REDACTED))) {
		strbuf_add(out, line, len);
		return 0;
	}
	for (size_t i = 0; i < u->old->n; i++) {
		const struct secret *e = &u->old->v[i];
		if (e->nth == nth && strcmp(e->key, key) == 0) {
			size_t voff = (size_t)(kv->val - line);
			strbuf_add(out, line, voff);
			strbuf_add(out, e->val, strlen(e->val));
			strbuf_add(out, kv->val + kv->vallen, len - voff - kv->vallen);
			return 0;
		}
	}
	cs_strlcpy(u->old->missing_key, key, sizeof(u->old->missing_key));
	return -1;
}

static void secrets_free(struct secrets *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].val);
	free(s->v);
}

char *api_config_unredact(const char *newtext, const char *oldtext, char *err, size_t errlen)
{
	struct secrets old = {0};
	struct strbuf scratch, out;
	strbuf_init(&scratch);
	strbuf_init(&out);
	walk(oldtext ? oldtext : "", collect_fn, &old, &scratch);
	strbuf_free(&scratch);
	struct unredact u = {.old = &old};
	int rc = walk(newtext, unredact_fn, &u, &out);
	if (rc != 0)
		snprintf(err, errlen,
		         "%s still says \"%s\" but the current file has no value to keep for it",
		         old.missing_key, API_REDACTED);
	secrets_free(&old);
	secrets_free(&u.seen);
	if (rc != 0) {
		strbuf_free(&out);
		return NULL;
	}
	return strbuf_take(&out);
}

/* ---- atomic write ---- */

int api_write_atomic(const char *path, const char *data, size_t len)
{
	char *dcopy = xstrdup(path);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", dirname(dcopy));
	free(dcopy);
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.csocks-XXXXXX", path);
	struct stat st;
	bool have = stat(path, &st) == 0;
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	int saved = 0;
	if (have) {
		if (fchmod(fd, st.st_mode & 07777) != 0)
			saved = errno;
		if (!saved && fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM)
			saved = errno;
	}
	size_t off = 0;
	while (!saved && off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			saved = errno;
		else
			off += (size_t)n;
	}
	if (!saved && fsync(fd) != 0)
		saved = errno;
	if (close(fd) != 0 && !saved)
		saved = errno;
	if (!saved && rename(tmp, path) != 0)
		saved = errno;
	if (saved) {
		unlink(tmp);
		errno = saved;
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* ---- validation, file:line errors ---- */

/* "file:12: text" -> {"file", "line", "message"}; anything else -> message. */
static json_t *diag_json(const char *msg)
{
	const char *p = msg;
	while ((p = strchr(p, ':'))) {
		const char *d = p + 1;
		while (isdigit((unsigned char)*d))
			d++;
		if (d > p + 1 && d[0] == ':') {
			const char *m = d + 1;
			while (*m == ' ')
				m++;
			return json_pack("{s:s%, s:i, s:s}", "file", msg, (size_t)(p - msg), "line",
			                 (int)strtol(p + 1, NULL, 10), "message", m);
		}
		p++;
	}
	return json_pack("{s:n, s:n, s:s}", "file", "line", "message", msg);
}

/* Validate text as the config at path; on errors fill rs (400) and return
 * -1. */
static int validate_text(const char *path, const char *text, struct api_resp *rs)
{
	struct config_diag d = {0};
	struct csocks_config *c = config_load_string(text, strlen(text), path, &d);
	if (c) {
		config_free(c);
		config_diag_free(&d);
		return 0;
	}
	json_t *errs = json_array();
	for (size_t i = 0; i < d.n_errors; i++)
		json_array_append_new(errs, diag_json(d.errors[i]));
	char msg[600];
	snprintf(msg, sizeof(msg), "Invalid configuration: %s",
	         d.n_errors ? d.errors[0] : "the file does not load");
	api_json(rs, 400,
	         json_pack("{s:b, s:s, s:s, s:b, s:o}", "success", 0, "message", msg, "error",
	                   "invalid_config", "restarting", 0, "errors", errs));
	config_diag_free(&d);
	return -1;
}

/* Validate, write, answer RustSocks' ConfigUpdateResponse. */
static void save_config(struct api_state *st, const char *text, bool restart, const char *what,
                        struct api_resp *rs)
{
	const char *path = st->cfg->path;
	if (validate_text(path, text, rs) != 0)
		return;
	pthread_mutex_lock(&st->acl_mu); /* one editor of files at a time */
	int rc = api_write_atomic(path, text, strlen(text));
	int e = errno;
	pthread_mutex_unlock(&st->acl_mu);
	if (rc != 0) {
		api_fail(rs, 500, "write_failed", "Failed to write configuration %s: %s", path,
		         strerror(e));
		return;
	}
	log_info("admin API: %s saved to %s (applies at the next start)", what, path);
	telemetry_record(TELEMETRY_INFO, "config", "%s saved to %s via the API", what, path);
	api_json(rs, 200,
	         json_pack("{s:b, s:s, s:b}", "success", 1, "message",
	                   restart ? "Configuration saved; csocks does not restart itself: "
	                             "restart the service to apply it"
	                           : "Configuration saved; it applies at the next start",
	                   "restarting", 0));
}

static char *read_config(struct api_state *st, struct api_resp *rs)
{
	if (!st->cfg->path) {
		api_json(rs, 400,
		         json_pack("{s:b, s:s, s:s, s:n, s:s, s:b}", "success", 0, "message",
		                   "Server was started without a config file path; editing is "
		                   "disabled",
		                   "error", "no_config_file", "path", "content", "", "editable",
		                   0));
		return NULL;
	}
	size_t len;
	char *text = cs_read_file(st->cfg->path, &len);
	if (!text)
		api_fail(rs, 500, "read_failed", "cannot read %s: %s", st->cfg->path,
		         strerror(errno));
	return text;
}

/* ---- /api/admin/config-file ---- */

static void h_config_get(struct api_state *st, struct api_resp *rs)
{
	char *text = read_config(st, rs);
	if (!text)
		return;
	char *red = api_config_redact(text);
	explicit_bzero(text, strlen(text));
	free(text);
	api_json(
	    rs, 200,
	    json_pack("{s:s, s:s, s:b}", "path", st->cfg->path, "content", red, "editable", 1));
	free(red);
}

/* Only the named keys; 0, or -1 with rs filled (400). */
static int only_keys(json_t *o, const char *const *allowed, const char *where, struct api_resp *rs)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok) {
			api_fail(rs, 400, "unknown_field", "unknown field '%s%s%s'", where,
			         *where ? "." : "", k);
			return -1;
		}
	}
	return 0;
}

static void h_config_put(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	static const char *const keys[] = {"content", "restart", NULL};
	json_t *b = api_body_object(rq, rs);
	if (!b)
		return;
	json_t *jc = json_object_get(b, "content"), *jr = json_object_get(b, "restart");
	if (only_keys(b, keys, "", rs) != 0)
		goto out;
	if (!json_is_string(jc) || (jr && !json_is_boolean(jr))) {
		api_fail(rs, 400, "invalid_request",
		         "body must be {\"content\": string, \"restart\"?: boolean}");
		goto out;
	}
	char *old = read_config(st, rs);
	if (!old)
		goto out;
	char err[512];
	char *text = api_config_unredact(json_string_value(jc), old, err, sizeof(err));
	explicit_bzero(old, strlen(old));
	free(old);
	if (!text) {
		api_fail(rs, 400, "redacted_value", "%s", err);
		goto out;
	}
	save_config(st, text, jr ? json_is_true(jr) : true, "configuration file", rs);
	explicit_bzero(text, strlen(text));
	free(text);
out:
	json_decref(b);
}

/* ---- /api/admin/runtime-config ---- */

enum rt_type { RT_BOOL, RT_U32, RT_PORT, RT_STR, RT_STR_NULL, RT_STORAGE };

struct rt_field {
	const char *section, *name; /* RustSocks' DTO */
	const char *key;            /* csocks/RustSocks config key */
	enum rt_type type;
	size_t off;
};

#define RTF(sec, name, key, type, member)                                                          \
	{                                                                                          \
		sec, name, key, type, offsetof(struct csocks_config, member)                       \
	}
static const struct rt_field rt_fields[] = {
    RTF("server", "bind_address", "server.bind_address", RT_STR, server.bind_address),
    RTF("server", "bind_port", "server.bind_port", RT_PORT, server.bind_port),
    RTF("server", "stats_api_enabled", "sessions.stats_api_enabled", RT_BOOL,
        sessions.stats_api_enabled),
    RTF("server", "stats_api_bind_address", "sessions.stats_api_bind_address", RT_STR,
        sessions.stats_api_bind_address),
    RTF("server", "stats_api_port", "sessions.stats_api_port", RT_PORT, sessions.stats_api_port),
    RTF("server", "dashboard_enabled", "sessions.dashboard_enabled", RT_BOOL,
        sessions.dashboard_enabled),
    RTF("server", "swagger_enabled", "sessions.swagger_enabled", RT_BOOL, sessions.swagger_enabled),
    RTF("pool", "enabled", "server.pool.enabled", RT_BOOL, server.pool.enabled),
    RTF("pool", "max_idle_per_dest", "server.pool.max_idle_per_dest", RT_U32,
        server.pool.max_idle_per_dest),
    RTF("pool", "max_total_idle", "server.pool.max_total_idle", RT_U32, server.pool.max_total_idle),
    RTF("pool", "idle_timeout_secs", "server.pool.idle_timeout_secs", RT_U32,
        server.pool.idle_timeout_secs),
    RTF("pool", "connect_timeout_ms", "server.pool.connect_timeout_ms", RT_U32,
        server.pool.connect_timeout_ms),
    RTF("sessions", "enabled", "sessions.enabled", RT_BOOL, sessions.enabled),
    RTF("sessions", "storage", "sessions.storage", RT_STORAGE, sessions.storage),
    RTF("sessions", "database_url", "sessions.database_url", RT_STR_NULL, sessions.database_url),
    RTF("sessions", "retention_days", "sessions.retention_days", RT_U32, sessions.retention_days),
    RTF("sessions", "cleanup_interval_hours", "sessions.cleanup_interval_hours", RT_U32,
        sessions.cleanup_interval_hours),
    RTF("sessions", "traffic_update_packet_interval", "sessions.traffic_update_packet_interval",
        RT_U32, sessions.traffic_update_packet_interval),
    RTF("sessions", "stats_window_hours", "sessions.stats_window_hours", RT_U32,
        sessions.stats_window_hours),
    RTF("sessions", "base_path", "sessions.base_path", RT_STR, sessions.base_path),
    RTF("metrics", "enabled", "metrics.enabled", RT_BOOL, metrics.enabled),
    RTF("metrics", "storage", "metrics.storage", RT_STR, metrics.storage),
    RTF("metrics", "retention_hours", "metrics.retention_hours", RT_U32, metrics.retention_hours),
    RTF("metrics", "cleanup_interval_hours", "metrics.cleanup_interval_hours", RT_U32,
        metrics.cleanup_interval_hours),
    RTF("metrics", "collection_interval_secs", "metrics.collection_interval_secs", RT_U32,
        metrics.collection_interval_secs),
    RTF("telemetry", "enabled", "telemetry.enabled", RT_BOOL, telemetry.enabled),
    RTF("telemetry", "max_events", "telemetry.max_events", RT_U32, telemetry.max_events),
    RTF("telemetry", "retention_hours", "telemetry.retention_hours", RT_U32,
        telemetry.retention_hours),
};
#define N_RT (sizeof(rt_fields) / sizeof(rt_fields[0]))
static const char *const rt_sections[] = {"server",  "pool",      "sessions",
                                          "metrics", "telemetry", NULL};

static const char *storage_name(int s)
{
	switch (s) {
	case STORAGE_SQLITE:
		return "sqlite";
	case STORAGE_POSTGRES:
		return "postgres";
	default:
		return "memory";
	}
}

static json_t *rt_value(const struct csocks_config *cfg, const struct rt_field *f)
{
	const char *p = (const char *)cfg + f->off;
	switch (f->type) {
	case RT_BOOL:
		return json_boolean(*(const bool *)p);
	case RT_U32:
	case RT_PORT:
		return json_integer(*(const uint32_t *)p);
	case RT_STORAGE:
		return json_string(storage_name(*(const enum session_storage *)p));
	case RT_STR_NULL:
		if (!*(char *const *)p)
			return json_null();
		else {
			/* database_url: never hand out its password */
			const char *v = *(char *const *)p;
			size_t ps, pl;
			if (url_password(v, strlen(v), &ps, &pl)) {
				char buf[1024];
				snprintf(buf, sizeof(buf), "%.*s%s%s", (int)ps, v, API_REDACTED,
				         v + ps + pl);
				return json_string(buf);
			}
			return json_string(v);
		}
	default: {
		const char *v = *(char *const *)p;
		return json_string(v ? v : "");
	}
	}
}

static void h_runtime_get(struct api_state *st, struct api_resp *rs)
{
	json_t *o = json_object();
	json_object_set_new(o, "path", st->cfg->path ? json_string(st->cfg->path) : json_null());
	json_object_set_new(o, "editable", json_boolean(st->cfg->path != NULL));
	for (size_t s = 0; rt_sections[s]; s++) {
		json_t *sec = json_object();
		for (size_t i = 0; i < N_RT; i++)
			if (strcmp(rt_fields[i].section, rt_sections[s]) == 0)
				json_object_set_new(sec, rt_fields[i].name,
				                    rt_value(st->cfg, &rt_fields[i]));
		json_object_set_new(o, rt_sections[s], sec);
	}
	api_json(rs, 200, o);
}

/* TOML literal of a JSON value of field f; NULL with msg when it has the
 * wrong type. malloc'd. */
static char *rt_literal(const struct rt_field *f, json_t *v, char *msg, size_t msize)
{
	switch (f->type) {
	case RT_BOOL:
		if (!json_is_boolean(v))
			break;
		return xstrdup(json_is_true(v) ? "true" : "false");
	case RT_U32:
	case RT_PORT: {
		json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
		json_int_t max = f->type == RT_PORT ? 65535 : (json_int_t)UINT32_MAX;
		if (n < 0 || n > max)
			break;
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)n);
		return xstrdup(buf);
	}
	default: {
		if (!json_is_string(v))
			break;
		if (f->type == RT_STR_NULL && strstr(json_string_value(v), API_REDACTED))
			return xstrdup(""); /* "" = keep what the file says */
		json_t *s = json_string(json_string_value(v));
		char *lit = json_dumps(s, JSON_ENCODE_ANY); /* a TOML basic string too */
		json_decref(s);
		return lit;
	}
	}
	snprintf(msg, msize, "%s.%s must be %s", f->section, f->name,
	         f->type == RT_BOOL   ? "a boolean"
	         : f->type == RT_PORT ? "an integer in 0..65535"
	         : f->type == RT_U32  ? "a non-negative integer"
	                              : "a string");
	return NULL;
}

/* Set key (dotted) to literal in the TOML text: replace its line, or add
 * it under its table's header, or append the table. malloc'd. */
struct setkey {
	const char *key, *lit;
	bool done;
};

static int setkey_fn(void *arg, const char *line, size_t len, const struct kvline *kv,
                     struct strbuf *out)
{
	struct setkey *s = arg;
	char fk[300];
	full_key(kv, fk, sizeof(fk));
	if (!s->done && !kv->array && strcmp(fk, s->key) == 0) {
		size_t voff = (size_t)(kv->val - line);
		strbuf_add(out, line, voff);
		strbuf_add(out, s->lit, strlen(s->lit));
		strbuf_add(out, kv->val + kv->vallen, len - voff - kv->vallen);
		s->done = true;
		return 0;
	}
	strbuf_add(out, line, len);
	return 0;
}

static char *text_set_key(const char *text, const char *key, const char *lit)
{
	struct strbuf b;
	struct setkey s = {key, lit, false};
	strbuf_init(&b);
	walk(text, setkey_fn, &s, &b);
	if (s.done)
		return strbuf_take(&b);
	strbuf_free(&b);
	/* Not in the file: under "[table]" if present, else a new table. */
	const char *dot = strrchr(key, '.');
	char table[256], hdr[300];
	snprintf(table, sizeof(table), "%.*s", (int)(dot - key), key);
	snprintf(hdr, sizeof(hdr), "[%s]", table);
	strbuf_init(&b);
	bool added = false;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		strbuf_add(&b, p, len);
		strbuf_add(&b, "\n", 1);
		size_t t = 0;
		while (t < len && (p[t] == ' ' || p[t] == '\t'))
			t++;
		size_t e = len;
		while (e > t && isspace((unsigned char)p[e - 1]))
			e--;
		if (!added && e - t == strlen(hdr) && strncmp(p + t, hdr, e - t) == 0) {
			strbuf_printf(&b, "%s = %s\n", dot + 1, lit);
			added = true;
		}
		p = nl ? nl + 1 : p + len;
	}
	if (!added)
		strbuf_printf(&b, "\n%s\n%s = %s\n", hdr, dot + 1, lit);
	return strbuf_take(&b);
}

static void h_runtime_put(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	static const char *const top[] = {"server",    "pool",    "sessions", "metrics",
	                                  "telemetry", "restart", NULL};
	json_t *b = api_body_object(rq, rs);
	char *text = NULL, msg[300];
	if (!b)
		return;
	if (only_keys(b, top, "", rs) != 0)
		goto out;
	json_t *jr = json_object_get(b, "restart");
	if (jr && !json_is_boolean(jr)) {
		api_fail(rs, 400, "invalid_request", "restart must be a boolean");
		goto out;
	}
	/* Check every field before touching the text. */
	for (size_t s = 0; rt_sections[s]; s++) {
		json_t *sec = json_object_get(b, rt_sections[s]);
		if (!sec)
			continue;
		if (!json_is_object(sec)) {
			api_fail(rs, 400, "invalid_request", "%s must be an object",
			         rt_sections[s]);
			goto out;
		}
		const char *k;
		json_t *v;
		json_object_foreach(sec, k, v)
		{
			const struct rt_field *f = NULL;
			for (size_t i = 0; i < N_RT; i++)
				if (!strcmp(rt_fields[i].section, rt_sections[s]) &&
				    !strcmp(rt_fields[i].name, k))
					f = &rt_fields[i];
			if (!f) {
				api_fail(rs, 400, "unknown_field", "unknown field '%s.%s'",
				         rt_sections[s], k);
				goto out;
			}
			if (f->type == RT_STR_NULL && json_is_null(v))
				continue;
			char *lit = rt_literal(f, v, msg, sizeof(msg));
			if (!lit) {
				api_fail(rs, 400, "invalid_value", "%s", msg);
				goto out;
			}
			free(lit);
		}
	}
	text = read_config(st, rs);
	if (!text)
		goto out;
	for (size_t i = 0; i < N_RT; i++) {
		const struct rt_field *f = &rt_fields[i];
		json_t *sec = json_object_get(b, f->section);
		json_t *v = sec ? json_object_get(sec, f->name) : NULL;
		if (!v || json_is_null(v))
			continue;
		json_t *cur = rt_value(st->cfg, f);
		bool same = json_equal(cur, v);
		json_decref(cur);
		if (same)
			continue; /* unchanged: leave the file's text alone */
		char *lit = rt_literal(f, v, msg, sizeof(msg));
		if (lit && *lit) {
			char *next = text_set_key(text, f->key, lit);
			free(text);
			text = next;
		}
		free(lit);
	}
	save_config(st, text, jr ? json_is_true(jr) : true, "runtime configuration", rs);
out:
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	json_decref(b);
}

void api_admin_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                      struct api_resp *rs)
{
	switch (m->route) {
	case ROUTE_ADMIN_RUNTIME_GET:
		h_runtime_get(st, rs);
		break;
	case ROUTE_ADMIN_RUNTIME_PUT:
		if (!st->cfg->path)
			read_config(st, rs); /* answers RustSocks' 400 */
		else
			h_runtime_put(st, rq, rs);
		break;
	case ROUTE_ADMIN_CONFIG_GET:
		h_config_get(st, rs);
		break;
	default:
		h_config_put(st, rq, rs);
		break;
	}
}

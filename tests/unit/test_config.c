/* Config loader: defaults, RustSocks' own files, messages with file:line. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "test.h"
#include "util/strutil.h"

static char ref_dir[PATH_MAX];
static char work_dir[PATH_MAX];

static struct csocks_config *load_str(const char *text, struct config_diag *d)
{
	return config_load_string(text, strlen(text), "t.toml", d);
}

/* Whether any message in list contains needle. */
static bool has_msg(char **list, size_t n, const char *needle)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(list[i], needle))
			return true;
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "    message: %s\n", list[i]);
	return false;
}

static void t_defaults_are_rustsocks(void)
{
	struct csocks_config *c = config_new_default();
	CHECK_STR(c->server.bind_address, "127.0.0.1");
	CHECK_INT(c->server.bind_port, 1080);
	CHECK_INT(c->server.max_connections, 1000);
	CHECK_INT(c->auth.socks_method, AUTH_NONE);
	CHECK_INT(c->auth.client_method, AUTH_NONE);
	CHECK_STR(c->auth.pam.username_service, "rustsocks");
	CHECK_STR(c->auth.pam.address_service, "rustsocks-client");
	CHECK_STR(c->auth.pam.default_user, "rhostusr");
	CHECK_STR(c->logging.level, "info");
	CHECK_STR(c->logging.format, "pretty");
	CHECK(!c->acl.enabled);
	CHECK_STR(c->acl.anonymous_user, "anonymous");
	CHECK(!c->sessions.enabled);
	CHECK_INT(c->sessions.storage, STORAGE_MEMORY);
	CHECK_INT(c->sessions.batch_size, 100);
	CHECK_INT(c->sessions.batch_interval_ms, 1000);
	CHECK_INT(c->sessions.retention_days, 90);
	CHECK_INT(c->sessions.traffic_update_packet_interval, 10);
	CHECK_INT(c->sessions.stats_api_port, 9090);
	CHECK_INT(c->server.handshake_timeout_secs, 10);
	CHECK_INT(c->server.connect_timeout_secs, 10);
	CHECK_INT(c->server.idle_timeout_secs, 0);
	CHECK_INT(c->server.udp_timeout_secs, 120);
	CHECK_INT(c->server.bind_timeout_secs, 300);
	CHECK(c->sessions.database_url == NULL);
	config_free(c);
}

/* RustSocks' own files, loaded unchanged from a working directory laid out
 * the way RustSocks expects (config/acl.toml, data/ for the AD example). */
static struct csocks_config *load_ref(const char *rel, struct config_diag *d)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof(path), "%s/%s", ref_dir, rel);
	struct csocks_config *c = config_load(path, d);
	if (!c) {
		fprintf(stderr, "    %s failed to load:\n", rel);
		for (size_t i = 0; i < d->n_errors; i++)
			fprintf(stderr, "    %s\n", d->errors[i]);
	}
	return c;
}

static void t_ref_rustsocks_toml(void)
{
	struct config_diag d;
	struct csocks_config *c = load_ref("rustsocks.toml", &d);
	if (CHECK(c)) {
		CHECK_INT(c->server.max_connections, 10000);
		CHECK(c->server.pool.enabled);
		CHECK_INT(c->server.pool.max_total_idle, 200);
		CHECK_INT(c->auth.n_users, 1);
		CHECK_STR(c->auth.users[0].username, "alice");
		CHECK_STR(c->auth.users[0].password, "secret123");
		CHECK(c->acl.enabled && c->acl.watch);
		CHECK_STR(c->acl.config_file, "config/acl.toml");
		CHECK_INT(c->sessions.storage, STORAGE_SQLITE);
		CHECK_STR(c->sessions.database_url, "sqlite://sessions.db");
		CHECK_INT(c->sessions.batch_size, 400);
		CHECK_INT(c->sessions.batch_interval_ms, 250);
		CHECK_STR(c->sessions.base_path, "/rustsocks");
		CHECK_INT(c->sessions.dashboard_auth.n_users, 1);
		CHECK_INT(c->qos.htb.global_bandwidth_bytes_per_sec, 125000000);
		CHECK_INT(c->qos.connection_limits.max_connections_per_user, 10000);
		CHECK_INT(c->metrics.collection_interval_secs, 5);
		/* Features it turns on that csocks lacks are named, at their line. */
		CHECK(has_msg(d.warnings, d.n_warnings, "rustsocks.toml:12: server.pool.enabled"));
		CHECK(has_msg(d.warnings, d.n_warnings, "qos.enabled: [qos.htb] guaranteed rates"));
		CHECK(has_msg(d.warnings, d.n_warnings, "telemetry.enabled"));
		CHECK(has_msg(d.warnings, d.n_warnings, "sessions.dashboard_enabled"));
	}
	config_free(c);
	config_diag_free(&d);
}

static void t_ref_all_files_load(void)
{
	static const char *const files[] = {
	    "rustsocks.toml",
	    "rustsocks.example.toml",
	    "rustsocks_minimal.toml",
	    "examples/rustsocks-ad.toml",
	    "examples/rustsocks-dashboard-auth.toml",
	    "examples/rustsocks-gssapi.toml",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct config_diag d;
		struct csocks_config *c = load_ref(files[i], &d);
		CHECK(c != NULL);
		printf("  loaded %s (%zu warnings)\n", files[i], d.n_warnings);
		for (size_t w = 0; w < d.n_warnings; w++)
			printf("    warning: %s\n", d.warnings[w]);
		config_free(c);
		config_diag_free(&d);
	}
}

static void t_ref_values(void)
{
	struct config_diag d;
	struct csocks_config *c = load_ref("examples/rustsocks-ad.toml", &d);
	if (CHECK(c)) {
		CHECK_STR(c->server.bind_address, "0.0.0.0");
		CHECK_INT(c->auth.socks_method, AUTH_PAM_USERNAME);
		CHECK(c->auth.pam.verbose);
		CHECK_STR(c->sessions.database_url, "sqlite://data/sessions.db");
		CHECK_INT(c->server.pool.max_idle_per_dest, 4);
	}
	config_free(c);
	config_diag_free(&d);
	c = load_ref("rustsocks_minimal.toml", &d);
	if (CHECK(c)) {
		CHECK_STR(c->logging.level, "warn");
		CHECK(!c->acl.enabled);
		CHECK(!c->sessions.stats_api_enabled);
	}
	config_free(c);
	config_diag_free(&d);
	c = load_ref("examples/rustsocks-gssapi.toml", &d);
	if (CHECK(c)) {
		CHECK_INT(c->auth.socks_method, AUTH_GSSAPI);
		CHECK(has_msg(d.warnings, d.n_warnings, "gssapi"));
	}
	config_free(c);
	config_diag_free(&d);
}

static void t_type_error_has_line(void)
{
	struct config_diag d;
	struct csocks_config *c = load_str("[server]\nbind_address = \"127.0.0.1\"\n"
	                                   "bind_port = \"1080\"\n",
	                                   &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors,
	              "t.toml:3: server.bind_port: expected integer, got string"));
	config_diag_free(&d);
}

static void t_range_error(void)
{
	struct config_diag d;
	struct csocks_config *c = load_str("[server]\nbind_port = 70000\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "t.toml:2: server.bind_port: 70000 is out of range"));
	config_diag_free(&d);
}

static void t_unknown_key_warns(void)
{
	struct config_diag d;
	struct csocks_config *c = load_str("[server]\nbind_port = 1081\nbogus = 1\n"
	                                   "[nosuch]\nx = 1\n",
	                                   &d);
	if (CHECK(c))
		CHECK_INT(c->server.bind_port, 1081);
	CHECK(has_msg(d.warnings, d.n_warnings, "t.toml:3: unknown key 'server.bogus'"));
	CHECK(has_msg(d.warnings, d.n_warnings, "t.toml:4: unknown key 'nosuch'"));
	config_free(c);
	config_diag_free(&d);
}

static void t_syntax_error_has_position(void)
{
	struct config_diag d;
	struct csocks_config *c = load_str("[server]\nbind_port = = 3\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "t.toml:2:"));
	config_diag_free(&d);
}

static void t_cross_key_rules(void)
{
	struct config_diag d;
	struct csocks_config *c = load_str("[auth]\nsocks_method = \"userpass\"\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "t.toml:2: auth.socks_method: \"userpass\" needs"));
	config_diag_free(&d);

	c = load_str("[auth]\nsocks_method = \"kerberos\"\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "unknown method \"kerberos\""));
	config_diag_free(&d);

	c = load_str("[acl]\nenabled = true\nconfig_file = \"/nonexistent/acl.toml\"\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors,
	              "t.toml:3: acl.config_file: '/nonexistent/acl.toml': No such file"));
	config_diag_free(&d);

	c = load_str("[sessions]\nenabled = true\nstorage = \"mariadb\"\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "not supported by csocks"));
	config_diag_free(&d);

	c = load_str("[sessions]\nenabled = true\nstorage = \"sqlite\"\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "sessions.database_url"));
	config_diag_free(&d);

	c = load_str("[server.tls]\nenabled = true\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "t.toml:2: server.tls.enabled: SOCKS over TLS is not"));
	config_diag_free(&d);

	c = load_str("[server]\nbind_address = \"localhost\"\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "t.toml:2: server.bind_address"));
	config_diag_free(&d);

	c = load_str("[[auth.users]]\nusername = \"a\"\npassword_hash = \"plain\"\n", &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "not a crypt(3) string"));
	config_diag_free(&d);

	c = load_str("[[auth.users]]\nusername = \"a\"\npassword = \"x\"\n"
	             "[[auth.users]]\nusername = \"a\"\npassword = \"y\"\n",
	             &d);
	CHECK(c == NULL);
	CHECK(has_msg(d.errors, d.n_errors, "duplicate user 'a' (first at line 1)"));
	config_diag_free(&d);
}

static void t_csocks_keys(void)
{
	struct config_diag d;
	struct csocks_config *c =
	    load_str("[server]\nworker_threads = 3\nhandshake_timeout_secs = 2\nsocks4 = true\n"
	             "[sessions]\nenabled = true\nstorage = \"postgres\"\n"
	             "database_url = \"postgresql://u:p@127.0.0.1:5432/db\"\n"
	             "[api]\ntoken = \"s3cret\"\n"
	             "[[auth.users]]\nusername = \"bob\"\npassword_hash = \"$6$salt$abc\"\n",
	             &d);
	if (CHECK(c)) {
		CHECK_INT(c->server.worker_threads, 3);
		CHECK_INT(c->server.handshake_timeout_secs, 2);
		CHECK(c->server.socks4);
		CHECK_INT(c->sessions.storage, STORAGE_POSTGRES);
		CHECK_STR(c->api.token, "s3cret");
		CHECK_STR(c->auth.users[0].password_hash, "$6$salt$abc");
		CHECK(c->auth.users[0].password == NULL);
	}
	config_free(c);
	config_diag_free(&d);
}

static void t_generated_config_loads(void)
{
	char *text = config_example_text();
	struct config_diag d;
	struct csocks_config *c = config_load_string(text, strlen(text), "gen.toml", &d);
	if (!CHECK(c))
		has_msg(d.errors, d.n_errors, "(show)");
	CHECK_INT(d.n_warnings, 0);
	CHECK(strstr(text, "handshake_timeout_secs = 10") != NULL);
	CHECK(strstr(text, "[qos.connection_limits]") != NULL);
	config_free(c);
	config_diag_free(&d);
	free(text);
}

static void t_sqlite_path(void)
{
	char *p = config_sqlite_path("sqlite://data/s.db");
	CHECK_STR(p, "data/s.db");
	free(p);
	p = config_sqlite_path("sqlite:/var/lib/x.db?mode=rwc");
	CHECK_STR(p, "/var/lib/x.db");
	free(p);
	CHECK(config_sqlite_path("postgresql://x") == NULL);
}

/* A scratch working directory with the files RustSocks' configs point at. */
static void setup_dirs(void)
{
	const char *root = getenv("CSOCKS_SOURCE_ROOT");
	char cmd[PATH_MAX * 5];
	snprintf(ref_dir, sizeof(ref_dir), "%s/../shared/reference/rustsocks-config",
	         root ? root : "../..");
	snprintf(work_dir, sizeof(work_dir), "/tmp/csocks-test-config-XXXXXX");
	CSOCKS_BUG_ON(!mkdtemp(work_dir));
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/config %s/data && cp %s/acl.toml %s/config/",
	         work_dir, work_dir, ref_dir, work_dir);
	CSOCKS_BUG_ON(system(cmd) != 0);
	char *abs = realpath(ref_dir, NULL);
	CSOCKS_BUG_ON(!abs);
	cs_strlcpy(ref_dir, abs, sizeof(ref_dir));
	free(abs);
	CSOCKS_BUG_ON(chdir(work_dir) != 0);
}

int main(void)
{
	setup_dirs();
	RUN(t_defaults_are_rustsocks);
	RUN(t_ref_rustsocks_toml);
	RUN(t_ref_all_files_load);
	RUN(t_ref_values);
	RUN(t_type_error_has_line);
	RUN(t_range_error);
	RUN(t_unknown_key_warns);
	RUN(t_syntax_error_has_position);
	RUN(t_cross_key_rules);
	RUN(t_csocks_keys);
	RUN(t_generated_config_loads);
	RUN(t_sqlite_path);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", work_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", work_dir);
	return TEST_END("config");
}

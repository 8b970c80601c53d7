/* csocks configuration: RustSocks' TOML schema (same sections, keys and
 * defaults) plus csocks' own keys. Loaded in three steps:
 * defaults from one table, the file on top, then validation of the whole
 * result, so no key is checked against a half-loaded config and every
 * message names file:line.
 *
 * A loaded config is immutable and shared read-only by every thread. Strings
 * are owned by the config and freed by config_free(). */
#ifndef CSOCKS_CONFIG_H
#define CSOCKS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum auth_method {
	AUTH_NONE = 0,
	AUTH_USERPASS = 1,     /* [[auth.users]], RFC 1929 */
	AUTH_PAM_USERNAME = 2, /* RFC 1929 credentials checked by PAM */
	AUTH_PAM_ADDRESS = 3,  /* no credentials; client address checked by PAM */
	AUTH_GSSAPI = 4,       /* RFC 1961 (auth/gssapi.h); SOCKS tier only */
};
const char *auth_method_name(enum auth_method m);

enum session_storage {
	STORAGE_MEMORY = 0,
	STORAGE_SQLITE = 1,
	STORAGE_POSTGRES = 2,
	STORAGE_MYSQL = 3, /* MariaDB or MySQL ("mariadb" / "mysql") */
};

struct cfg_user {
	char *username;
	char *password;      /* plaintext (RustSocks compatibility), or NULL */
	char *password_hash; /* crypt(3) string ($y$, $6$, ...), or NULL */
	int line;
};

struct cfg_dash_user {
	char *username;
	char *password;
};

struct csocks_config {
	char *path;     /* file it was loaded from; NULL for built-in defaults */
	int *key_lines; /* internal: source line of each schema key, 0 = default */

	struct {
		char *bind_address;
		uint32_t bind_port;
		uint32_t max_connections;
		/* csocks */
		uint32_t worker_threads; /* 0 = number of online CPUs */
		uint32_t handshake_timeout_secs;
		uint32_t connect_timeout_secs;
		uint32_t idle_timeout_secs; /* 0 = off */
		uint32_t bind_timeout_secs;
		uint32_t udp_timeout_secs;
		uint32_t shutdown_timeout_secs;
		/* The same six in milliseconds: when not 0, each overrides its
		 * _secs key (read them through config_ms). */
		uint32_t handshake_timeout_ms, connect_timeout_ms, idle_timeout_ms;
		uint32_t bind_timeout_ms, udp_timeout_ms, shutdown_timeout_ms;
		uint32_t dns_cache_ttl_secs; /* 0 = no cache */
		char **dns_servers;          /* "ip" or "ip:port"; none = /etc/resolv.conf */
		size_t n_dns_servers;
		bool socks4;
		bool proxy_protocol;
		char *user; /* drop privileges to this user after binding */
		char *group;
		char *pid_file;
		struct {
			bool enabled;
			char *certificate_path;
			char *private_key_path;
			bool require_client_auth;
			char *client_ca_path;
			char **alpn_protocols;
			size_t n_alpn_protocols;
			char *min_protocol_version; /* "TLS12" | "TLS13" */
			bool user_from_client_cert; /* csocks: CN names the user */
		} tls;
		struct {
			bool enabled;
			uint32_t max_idle_per_dest;
			uint32_t max_total_idle;
			uint32_t idle_timeout_secs;
			uint32_t connect_timeout_ms;
		} pool;
	} server;

	struct {
		enum auth_method client_method; /* NONE or PAM_ADDRESS */
		enum auth_method socks_method;
		struct cfg_user *users;
		size_t n_users;
		struct {
			char *username_service;
			char *address_service;
			char *default_user;
			char *default_ruser;
			bool verbose;
			bool verify_service;
		} pam;
		struct {
			char *service_name;
			char *keytab_path;
			char *protection_level;
			bool verbose;
			bool strip_realm; /* csocks */
		} gssapi;
		/* csocks */
		struct {
			bool enabled;
			uint32_t max_attempts;
			uint32_t window_secs;
			uint32_t lockout_secs;
		} throttle;
		uint32_t group_cache_ttl_secs;
		uint32_t threads; /* auth thread pool size */
	} auth;

	struct {
		char *level;
		char *format;
		bool access_log; /* csocks: one line per closed session */
	} logging;

	struct {
		bool enabled;
		char *config_file; /* resolved relative to the working directory */
		bool watch;
		char *anonymous_user;
		char *evaluation; /* csocks: "priority" or "rustsocks" (block-first) */
	} acl;

	struct {
		bool enabled;
		enum session_storage storage;
		char *database_url;
		uint32_t batch_size;
		uint32_t batch_interval_ms;
		uint32_t retention_days;
		uint32_t cleanup_interval_hours;
		uint32_t traffic_update_packet_interval;
		uint32_t stats_window_hours;
		bool stats_api_enabled;
		char *stats_api_bind_address;
		uint32_t stats_api_port;
		bool swagger_enabled;
		bool dashboard_enabled;
		char *base_path;
		/* csocks */
		uint32_t max_history;          /* closed sessions kept in memory */
		uint32_t history_max_age_secs; /* ... and for how long */
		uint32_t queue_capacity;       /* store writer queue bound */
		bool rustsocks_indexes;        /* keep all of RustSocks' session indexes */
		char *node_name;               /* the rows' node column; NULL = hostname */
		char *dashboard_dir;           /* built dashboard; NULL = look beside the binary */
		struct {
			bool enabled;
			bool altcha_enabled;
			char *session_secret;
			uint32_t session_duration_hours;
			struct cfg_dash_user *users;
			size_t n_users;
		} dashboard_auth;
	} sessions;

	struct { /* csocks */
		char *token;
		char *token_file;
		uint32_t max_body_bytes;
	} api;

	struct {
		bool enabled;
		char *storage;
		uint32_t retention_hours;
		uint32_t cleanup_interval_hours;
		uint32_t collection_interval_secs;
		uint32_t max_user_labels; /* csocks: per-user label cardinality cap */
	} metrics;

	struct {
		bool enabled;
		uint32_t max_events;
		uint32_t retention_hours;
	} telemetry;

	struct {
		bool enabled;
		char *algorithm;
		struct {
			uint64_t global_bandwidth_bytes_per_sec;
			uint64_t guaranteed_bandwidth_bytes_per_sec;
			uint64_t max_bandwidth_bytes_per_sec;
			uint64_t burst_size_bytes;
			uint32_t refill_interval_ms;
			bool fair_sharing_enabled;
			uint32_t rebalance_interval_ms;
			uint32_t idle_timeout_secs;
		} htb;
		struct {
			uint32_t max_connections_per_user;
			uint32_t max_connections_global;
		} connection_limits;
	} qos;
};

/* Diagnostics collected while loading: errors make the load fail, warnings
 * (unknown keys, deprecated forms) do not. Each message is
 * "file:line: text". */
struct config_diag {
	char **errors;
	size_t n_errors;
	char **warnings;
	size_t n_warnings;
};
void config_diag_free(struct config_diag *d);

/* A config holding every default. Never NULL. */
struct csocks_config *config_new_default(void);

/* Load path: defaults, then the file, then validation. Returns NULL when
 * there is any error; diag (caller frees with config_diag_free) holds the
 * messages either way. Relative paths inside the file (acl.config_file,
 * sqlite://...) are kept as written: RustSocks resolves them against the
 * working directory, and so do we. */
struct csocks_config *config_load(const char *path, struct config_diag *diag);

/* The same from a string (tests). name is used in messages. */
struct csocks_config *config_load_string(const char *text, size_t len, const char *name,
                                         struct config_diag *diag);

/* Validate cross-key rules after CLI overrides. Appends to diag; 0 or -1. */
int config_validate(const struct csocks_config *cfg, struct config_diag *diag);

void config_free(struct csocks_config *cfg);

/* Replace a string field (CLI overrides). */
void config_set_str(char **field, const char *value);

/* Write a commented example config (every key with its default and a short
 * description) to path. 0, or -1 with errno. */
int config_generate(const char *path);
/* The same text (caller frees; NULL when out of memory). */
char *config_example_text(void);
/* The configuration reference as Markdown tables, one per section (caller
 * frees; NULL when out of memory); docs/configuration.md embeds it. */
char *config_reference_markdown(void);
/* The same reference as man(7) roff (.SS per section, .TP per key), the
 * KEYS section of csocks.toml(5). */
char *config_reference_man(void);

/* The SQLite file path of a "sqlite://path" or "sqlite:path" URL
 * (caller frees), or NULL when url is not an SQLite URL. */
char *config_sqlite_path(const char *url);

/* Every key's effective value as TOML text, in schema order, with the line
 * of cfg->path that set it (0 = default). Credentials (tokens, passwords,
 * secrets, database URLs) come as "(redacted)"; unset keys are left out. */
void config_effective_foreach(const struct csocks_config *cfg,
                              void (*cb)(void *ctx, const char *key, const char *value, int line),
                              void *ctx);
/* "file:line" of key in cfg's file ("file" alone when the key took its
 * default), for errors found after loading (proxy/tls.c). Returns buf. */
const char *config_key_where(const struct csocks_config *cfg, const char *key, char *buf,
                             size_t size);

/* A timeout in milliseconds: the _ms key when it is set (not 0), else the
 * _secs key. config_ms(cfg->server.connect_timeout_secs,
 * cfg->server.connect_timeout_ms). */
static inline uint64_t config_ms(uint32_t secs, uint32_t ms)
{
	return ms ? ms : (uint64_t)secs * 1000u;
}

/* RustSocks creates the SQLite file's parent folders; so do we, at start.
 * The folder that does not exist yet and will be created (caller frees;
 * loc gets the key's "file:line"), or NULL when nothing is missing or
 * sessions do not use SQLite. Creates nothing (--check-config). */
char *config_sqlite_missing_dir(const struct csocks_config *cfg, char *loc, size_t locsize);
/* Create the missing parent folders of the SQLite file, mode 0750, each
 * chowned to uid:gid unless both are -1. 0, or -1 with err =
 * "file:line: sessions.database_url: cannot create directory ...". */
int config_sqlite_create_dirs(const struct csocks_config *cfg, uid_t uid, gid_t gid, char *err,
                              size_t errlen);

#endif

/* Internals of the MariaDB/MySQL store, shared by store_mysql.c
 * (connection, migrations, writes) and store_mysql_read.c (history
 * queries, stats). */
#ifndef CSOCKS_STORE_MYSQL_INTERNAL_H
#define CSOCKS_STORE_MYSQL_INTERNAL_H

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>

#include "session/store_impl.h"
#include "util/strbuf.h"

/* The parts of "mysql://user:pass@host:port/db?socket=/path". */
struct my_url {
	char *user, *pass, *host, *db, *socket;
	unsigned port; /* 0 = the library's default (3306) */
};

struct my_store {
	MYSQL *conn;
	struct my_url url;
};

/* Same order as the other stores' COLUMNS (times are RustSocks' text). */
#define MY_COLUMNS                                                                                 \
	"session_id, \"user\", start_time, end_time, duration_secs, source_ip, source_port, "      \
	"dest_ip, dest_port, protocol, bytes_sent, bytes_received, packets_sent, "                 \
	"packets_received, status, close_reason, acl_rule_matched, acl_decision"

/* Parse url (mysql:// or mariadb://); -1 with a reason in err. */
int my_url_parse(const char *url, struct my_url *out, char *err, size_t errlen);
void my_url_free(struct my_url *u);

/* The last error of the connection, classified into a STORE_* code, with
 * "mysql what: message" in err. */
int my_store_fail(struct my_store *s, const char *what, char *err, size_t errlen);
/* Reconnect when the connection was lost. */
int my_store_ensure_conn(struct my_store *s, char *err, size_t errlen);
/* One statement without a result set (or whose result is discarded). */
int my_store_exec(struct my_store *s, const char *sql, const char *what, char *err, size_t errlen);
/* One statement with a result set; *out (mysql_free_result) when OK. */
int my_store_select(struct my_store *s, const char *sql, MYSQL_RES **out, const char *what,
                    char *err, size_t errlen);
/* Append 'text' quoted and escaped for the connection's character set
 * (NULL -> NULL). */
void my_store_quote(struct my_store *s, struct strbuf *b, const char *text);

int my_store_query(struct session_store *st, const struct session_query *q,
                   struct session_page *out, char *err, size_t errlen);
int my_store_get(struct session_store *st, const char *id, struct session_record **out, char *err,
                 size_t errlen);
int my_store_count(struct session_store *st, uint64_t *active, uint64_t *total, char *err,
                   size_t errlen);
int my_store_stats(struct session_store *st, int64_t since_us, struct session_stats *out, char *err,
                   size_t errlen);

#endif

/* The admin HTTP server (libmicrohttpd): RustSocks' API paths, /metrics and
 * /openapi.json under sessions.base_path, on
 * sessions.stats_api_bind_address:stats_api_port, served by its own small
 * thread pool, never by a proxy worker.
 *
 * Wiring (main.c), after the config is loaded and before workers start:
 *
 *     metrics_init(cfg);                         // hot-path counters
 *     struct api_sources src = { .ctx = ..., .sessions_active = ..., ... };
 *     struct api_server *api = NULL;
 *     if (cfg->sessions.stats_api_enabled) {
 *             char err[256];
 *             api = api_server_start(cfg, &src, err, sizeof(err));
 *             if (!api) { log_error("admin API: %s", err); exit 1; }
 *     }
 *     ... run ...
 *     api_server_stop(api);                      // before freeing sources/cfg
 *
 * cfg must outlive the server; src is copied (its ctx and acl_file must
 * outlive the server). */
#ifndef CSOCKS_API_SERVER_H
#define CSOCKS_API_SERVER_H

#include "api/api_sources.h"
#include "config/config.h"

#include <stddef.h>
#include <stdint.h>

struct api_server;

/* Bind, load the token (api.token or the first line of api.token_file),
 * register the metrics collector, start the metrics history sampler and
 * the HTTP threads. NULL with err ("bind 127.0.0.1:9090: Address already
 * in use", "api.token_file /x: No such file or directory") on failure. */
struct api_server *api_server_start(const struct csocks_config *cfg, const struct api_sources *src,
                                    char *err, size_t errlen);

/* Stop accepting, finish or drop requests in progress, join the threads,
 * free everything. NULL is a no-op. */
void api_server_stop(struct api_server *s);

/* The port actually bound (useful with stats_api_port = 0 in tests). */
uint16_t api_server_port(const struct api_server *s);

#endif

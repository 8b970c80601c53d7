/* The session manager's in-memory query engine (session_manager.h). */
#ifndef CSOCKS_SESSION_QUERY_H
#define CSOCKS_SESSION_QUERY_H

#include <stdint.h>

#include "session/session_manager.h"

/* History and statistics from memory (active + closed + rejected), with the
 * store's semantics (filters, whitelisted sort, paging; window by start
 * time). Used when there is no store. */
void session_manager_query(struct session_manager *m, const struct session_query *q,
                           struct session_page *out);
void session_manager_stats(struct session_manager *m, uint32_t window_hours, int64_t now_us,
                           struct session_stats *out);

#endif

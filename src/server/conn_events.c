/* Default session hooks: nothing yet. The session manager plugs in here. */
#include "server/conn_events.h"

void conn_event_open(const struct conn_info *ci)
{
	(void)ci;
}

void conn_event_traffic(const struct conn_info *ci)
{
	(void)ci;
}

void conn_event_close(const struct conn_info *ci)
{
	(void)ci;
}

void conn_event_rejected(const struct conn_info *ci)
{
	(void)ci;
}

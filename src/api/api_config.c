/* GET /api/config: the effective configuration for the dashboard's
 * Configuration page, credentials redacted (config_effective_foreach). */
#include "api/api_internal.h"

static void add_key(void *ctx, const char *key, const char *value, int line)
{
	json_array_append_new(
	    ctx, json_pack("{s:s, s:s, s:i}", "key", key, "value", value, "line", line));
}

void api_config_handle(struct api_state *st, struct api_resp *rs)
{
	json_t *keys = json_array();
	config_effective_foreach(st->cfg, add_key, keys);
	api_json(rs, 200, json_pack("{s:s?, s:o}", "file", st->cfg->path, "keys", keys));
}

/* GET /openapi.json: an OpenAPI 3.0 description of every route, built from
 * one table so it cannot drift far from the router. */
#include "api/api_internal.h"

#include "csocks_build.h"

#include <string.h>

struct op_def {
	const char *path, *method, *id, *tag, *summary;
	const char *params; /* "name:in:type,..." (in = path|query) or NULL */
	const char *body;   /* components schema name of the request body, or NULL */
	const char *result; /* components schema name of the 200 body, or NULL = object */
};

// clang-format off
static const struct op_def ops[] = {
	{ "/health", "get", "healthCheck", "Health", "Health check (never needs a token)", NULL,
	  NULL, "Health" },
	{ "/metrics", "get", "getMetrics", "Metrics", "Prometheus text exposition (0.0.4)", NULL,
	  NULL, NULL },
	{ "/openapi.json", "get", "getOpenApi", "Health", "This document", NULL, NULL, NULL },
	{ "/api/sessions/active", "get", "getActiveSessions", "Sessions", "Active sessions", NULL,
	  NULL, "SessionList" },
	{ "/api/sessions/history", "get", "getSessionHistory", "Sessions",
	  "Recorded sessions with filters, paging and sort",
	  "user:query:string,hours:query:integer,dest_ip:query:string,status:query:string,"
	  "page:query:integer,page_size:query:integer,sort_by:query:string,sort_dir:query:string",
	  NULL, "SessionPage" },
	{ "/api/sessions/stats", "get", "getSessionStats", "Sessions",
	  "Aggregated statistics over a window", "window_hours:query:integer", NULL,
	  "SessionStats" },
	{ "/api/sessions/{id}", "get", "getSessionDetail", "Sessions", "One session",
	  "id:path:string", NULL, "Session" },
	{ "/api/sessions/{id}/terminate", "post", "terminateSession", "Sessions",
	  "Close an active session", "id:path:string", NULL, "OperationResponse" },
	{ "/api/users/{user}/sessions", "get", "getUserSessions", "Sessions",
	  "A user's active and recorded sessions", "user:path:string", NULL, "SessionList" },
	{ "/api/metrics/history", "get", "getMetricsHistory", "Metrics",
	  "Periodic samples of sessions and bandwidth", NULL, NULL, "MetricsHistory" },
	{ "/api/pool/stats", "get", "getPoolStats", "Metrics", "Upstream connection pool", NULL,
	  NULL, NULL },
	{ "/api/config", "get", "getConfig", "Admin",
	  "csocks: the effective configuration, credentials redacted", NULL, NULL, NULL },
	{ "/api/diagnostics/connectivity", "post", "testConnectivity", "Admin",
	  "TCP connect test from the server to address:port", NULL, NULL, NULL },
	{ "/api/admin/reload-acl", "post", "reloadAcl", "Admin", "Reload the ACL file", NULL, NULL,
	  "OperationResponse" },
	{ "/api/admin/reload-tls", "post", "reloadTls", "Admin",
	  "Reload the TLS certificate, key and client CA (csocks)", NULL, NULL,
	  "OperationResponse" },
	{ "/api/acl/rules", "get", "getAclRules", "ACL", "ACL summary and rules", NULL, NULL,
	  NULL },
	{ "/api/acl/test", "post", "testAclDecision", "ACL", "Explain a decision", NULL,
	  "AclTestRequest", "AclTestResponse" },
	{ "/api/acl/groups", "get", "listGroups", "ACL-Groups", "List groups", NULL, NULL, NULL },
	{ "/api/acl/groups", "post", "createGroup", "ACL-Groups", "Create a group", NULL,
	  "CreateGroupRequest", "OperationResponse" },
	{ "/api/acl/groups/{groupname}", "get", "getGroupDetail", "ACL-Groups", "One group",
	  "groupname:path:string", NULL, NULL },
	{ "/api/acl/groups/{groupname}", "delete", "deleteGroup", "ACL-Groups", "Delete a group",
	  "groupname:path:string", NULL, "OperationResponse" },
	{ "/api/acl/groups/{groupname}/rules", "post", "addGroupRule", "ACL-Groups",
	  "Add a rule to a group", "groupname:path:string", "AclRule", "OperationResponse" },
	{ "/api/acl/groups/{groupname}/rules", "put", "updateGroupRule", "ACL-Groups",
	  "Replace a group rule", "groupname:path:string", "UpdateRuleRequest",
	  "OperationResponse" },
	{ "/api/acl/groups/{groupname}/rules", "delete", "deleteGroupRule", "ACL-Groups",
	  "Delete a group rule", "groupname:path:string", "RuleIdentifier", "OperationResponse" },
	{ "/api/acl/users", "get", "listUsers", "ACL-Users", "List users", NULL, NULL, NULL },
	{ "/api/acl/users", "post", "createUser", "ACL-Users", "Create a user", NULL,
	  "CreateUserRequest", "OperationResponse" },
	{ "/api/acl/users/{username}", "get", "getUserDetail", "ACL-Users", "One user",
	  "username:path:string", NULL, NULL },
	{ "/api/acl/users/{username}", "delete", "deleteUser", "ACL-Users", "Delete a user",
	  "username:path:string", NULL, "OperationResponse" },
	{ "/api/acl/users/{username}/rules", "post", "addUserRule", "ACL-Users",
	  "Add a rule to a user", "username:path:string", "AclRule", "OperationResponse" },
	{ "/api/acl/users/{username}/rules", "put", "updateUserRule", "ACL-Users",
	  "Replace a user rule", "username:path:string", "UpdateRuleRequest",
	  "OperationResponse" },
	{ "/api/acl/users/{username}/rules", "delete", "deleteUserRule", "ACL-Users",
	  "Delete a user rule", "username:path:string", "RuleIdentifier", "OperationResponse" },
	{ "/api/acl/users/{username}/groups", "post", "addUserToGroup", "ACL-Users",
	  "Add a static group to a user", "username:path:string", "UserGroupRequest",
	  "OperationResponse" },
	{ "/api/acl/users/{username}/groups/{groupname}", "delete", "removeUserFromGroup",
	  "ACL-Users", "Remove a static group from a user",
	  "username:path:string,groupname:path:string", NULL, "OperationResponse" },
	{ "/api/acl/global", "get", "getGlobalSettings", "ACL-Global", "Default policy", NULL,
	  NULL, "GlobalSettings" },
	{ "/api/acl/global", "put", "updateGlobalSettings", "ACL-Global", "Set the default policy",
	  NULL, "GlobalSettings", "OperationResponse" },
	{ "/api/acl/search", "post", "searchRules", "ACL-Global", "Search rules", NULL,
	  "RuleSearchRequest", NULL },
	{ "/api/auth/login", "post", "login", "Auth",
	  "Dashboard login (a dashboard_auth user, or the API token as password); sets the "
	  "rustsocks_session cookie", NULL, "LoginRequest", "LoginResponse" },
	{ "/api/auth/logout", "post", "logout", "Auth", "End the cookie session", NULL, NULL,
	  "OperationResponse" },
	{ "/api/auth/check", "get", "checkAuth", "Auth", "Is the session cookie valid?", NULL,
	  NULL, "AuthCheckResponse" },
	{ "/api/auth/altcha-config", "get", "altchaConfig", "Auth",
	  "Altcha proof-of-work: always {\"enabled\": false} in csocks", NULL, NULL,
	  "AltchaConfig" },
	{ "/api/auth/altcha-challenge", "get", "altchaChallenge", "Auth",
	  "Altcha challenge: 404, Altcha is not enabled", NULL, NULL, NULL },
	{ "/api/system/resources", "get", "getSystemResources", "System",
	  "Process and system CPU, memory, file descriptors, threads, uptime", NULL, NULL,
	  "SystemResources" },
	{ "/api/telemetry/events", "get", "getTelemetryEvents", "System",
	  "Recent operational events, newest first",
	  "minutes:query:integer,limit:query:integer,severity:query:string,category:query:string",
	  NULL, "TelemetryEvents" },
	{ "/api/diagnostics/connectivity", "post", "testTcpConnectivity", "System",
	  "TCP connect probe (ACL-checked as the given or anonymous user, rate-limited)", NULL,
	  "ConnectivityTestRequest", "ConnectivityTestResponse" },
	{ "/api/admin/runtime-config", "get", "getRuntimeConfig", "Admin",
	  "The settings RustSocks edits at runtime", NULL, NULL, "RuntimeConfig" },
	{ "/api/admin/runtime-config", "put", "updateRuntimeConfig", "Admin",
	  "Change them in the config file (applies at the next start)", NULL, "RuntimeConfig",
	  "ConfigUpdateResponse" },
	{ "/api/admin/config-file", "get", "getConfigFile", "Admin",
	  "The config file, secrets redacted", NULL, NULL, "ConfigFile" },
	{ "/api/admin/config-file", "put", "updateConfigFile", "Admin",
	  "Validate and atomically replace the config file (applies at the next start)", NULL,
	  "ConfigFileUpdate", "ConfigUpdateResponse" },
	{ "/swagger-ui", "get", "swaggerUi", "Health",
	  "An offline HTML view of this document (sessions.swagger_enabled)", NULL, NULL, NULL },
};
// clang-format on

static json_t *ref(const char *name)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "#/components/schemas/%s", name);
	return json_pack("{s:s}", "$ref", buf);
}

static json_t *json_content(json_t *schema)
{
	return json_pack("{s:{s:o}}", "application/json", "schema", schema);
}

static json_t *params_json(const char *spec)
{
	json_t *a = json_array();
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", spec);
	char *save = NULL;
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char *in = strchr(p, ':');
		if (!in)
			continue;
		*in++ = '\0';
		char *type = strchr(in, ':');
		if (!type)
			continue;
		*type++ = '\0';
		json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", p, "in", in,
		                                   "required", strcmp(in, "path") == 0, "schema",
		                                   "type", type));
	}
	return a;
}

static json_t *operation(const struct op_def *d, bool secured)
{
	json_t *o = json_object();
	json_object_set_new(o, "operationId", json_string(d->id));
	json_object_set_new(o, "summary", json_string(d->summary));
	json_object_set_new(o, "tags", json_pack("[s]", d->tag));
	if (d->params)
		json_object_set_new(o, "parameters", params_json(d->params));
	if (d->body)
		json_object_set_new(
		    o, "requestBody",
		    json_pack("{s:b, s:o}", "required", 1, "content", json_content(ref(d->body))));
	json_t *resp = json_object();
	json_t *ok;
	if (strcmp(d->path, "/metrics") == 0)
		ok = json_pack("{s:s, s:{s:{s:{s:s}}}}", "description", "OK", "content",
		               "text/plain", "schema", "type", "string");
	else
		ok = json_pack("{s:s, s:o}", "description", "OK", "content",
		               json_content(d->result ? ref(d->result)
		                                      : json_pack("{s:s}", "type", "object")));
	json_object_set_new(resp, "200", ok);
	static const char *const errs[][2] = {
	    {"400", "Bad request"},         {"401", "Missing or invalid token"},
	    {"403", "No token configured"}, {"404", "Not found"},
	    {"405", "Method not allowed"},  {"413", "Body too large"},
	    {"500", "Internal error"},      {"503", "Not available"},
	};
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		json_object_set_new(resp, errs[i][0],
		                    json_pack("{s:s, s:o}", "description", errs[i][1], "content",
		                              json_content(ref("Error"))));
	json_object_set_new(o, "responses", resp);
	json_object_set_new(o, "security",
	                    secured ? json_pack("[{s:[]}]", "bearerAuth") : json_array());
	return o;
}

static json_t *obj_schema(const char *props)
{
	/* props: "name:type,..." with type string|integer|boolean|number|
	 * array(string)|nullable string|ref Name */
	json_t *p = json_object();
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", props);
	char *save = NULL;
	for (char *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char *t = strchr(f, ':');
		if (!t)
			continue;
		*t++ = '\0';
		json_t *s;
		if (strcmp(t, "strings") == 0)
			s = json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string");
		else if (strncmp(t, "ref ", 4) == 0)
			s = ref(t + 4);
		else if (strncmp(t, "list ", 5) == 0)
			s = json_pack("{s:s, s:o}", "type", "array", "items", ref(t + 5));
		else if (strncmp(t, "null ", 5) == 0)
			s = json_pack("{s:s, s:b}", "type", t + 5, "nullable", 1);
		else
			s = json_pack("{s:s}", "type", t);
		json_object_set_new(p, f, s);
	}
	return json_pack("{s:s, s:o}", "type", "object", "properties", p);
}

static json_t *schemas(void)
{
	json_t *s = json_object();
	json_object_set_new(s, "Error", obj_schema("error:string"));
	json_object_set_new(s, "Health",
	                    obj_schema("status:string,ready:boolean,version:string,"
	                               "uptime_seconds:integer"));
	json_object_set_new(
	    s, "Session",
	    obj_schema("id:string,user:string,source_ip:string,source_port:integer,"
	               "dest_ip:string,dest_port:integer,protocol:string,status:string,"
	               "acl_decision:string,acl_rule:null string,bytes_sent:integer,"
	               "bytes_received:integer,packets_sent:integer,packets_received:integer,"
	               "start_time:string,end_time:null string,duration_seconds:null integer,"
	               "close_reason:null string"));
	json_object_set_new(s, "SessionList",
	                    json_pack("{s:s, s:o}", "type", "array", "items", ref("Session")));
	json_object_set_new(s, "SessionPage",
	                    obj_schema("data:list Session,total:integer,page:integer,"
	                               "page_size:integer,total_pages:integer"));
	json_object_set_new(
	    s, "SessionStats",
	    obj_schema("window_hours:integer,total_sessions:integer,active_sessions:integer,"
	               "closed_sessions:integer,failed_sessions:integer,"
	               "rejected_sessions:integer,total_bytes_sent:integer,"
	               "total_bytes_received:integer,total_bytes:integer,"
	               "acl_allowed:integer,acl_blocked:integer,top_users:list UserStat,"
	               "top_destinations:list DestinationStat"));
	json_object_set_new(s, "UserStat",
	                    obj_schema("user:string,session_count:integer,bytes_sent:integer,"
	                               "bytes_received:integer"));
	json_object_set_new(s, "DestinationStat",
	                    obj_schema("destination:string,session_count:integer,"
	                               "bytes_sent:integer,bytes_received:integer"));
	json_object_set_new(s, "MetricsSnapshot",
	                    obj_schema("timestamp:string,active_sessions:integer,"
	                               "total_sessions:integer,bandwidth:integer"));
	json_object_set_new(
	    s, "MetricsHistory",
	    json_pack("{s:s, s:o}", "type", "array", "items", ref("MetricsSnapshot")));
	json_object_set_new(s, "OperationResponse", obj_schema("success:boolean,message:string"));
	json_object_set_new(s, "AclRule",
	                    obj_schema("action:string,description:string,destinations:strings,"
	                               "ports:strings,protocols:strings,priority:integer"));
	json_object_set_new(s, "RuleIdentifier", obj_schema("destinations:strings,ports:strings"));
	json_object_set_new(s, "UpdateRuleRequest",
	                    obj_schema("match:ref RuleIdentifier,update:ref AclRule"));
	json_object_set_new(s, "CreateGroupRequest", obj_schema("name:string"));
	json_object_set_new(s, "CreateUserRequest", obj_schema("username:string,groups:strings"));
	json_object_set_new(s, "UserGroupRequest", obj_schema("group:string"));
	json_object_set_new(s, "GlobalSettings", obj_schema("default_policy:string"));
	json_object_set_new(s, "RuleSearchRequest",
	                    obj_schema("destination:string,port:integer,action:string"));
	json_object_set_new(s, "AclTestRequest",
	                    obj_schema("user:string,destination:string,port:integer,"
	                               "protocol:string,groups:strings"));
	json_object_set_new(s, "AclTestResponse",
	                    obj_schema("user:string,destination:string,port:integer,"
	                               "protocol:string,decision:string,matched_rule:null string,"
	                               "default_policy:boolean,provisional:boolean"));
	json_object_set_new(s, "LoginRequest",
	                    obj_schema("username:string,password:string,altcha:null string"));
	json_object_set_new(s, "LoginResponse",
	                    obj_schema("success:boolean,message:string,username:string"));
	json_object_set_new(s, "AuthCheckResponse",
	                    obj_schema("authenticated:boolean,username:string"));
	json_object_set_new(s, "AltchaConfig",
	                    obj_schema("enabled:boolean,challenge_url:null string"));
	json_object_set_new(
	    s, "SystemResources",
	    obj_schema("system_cpu_percent:number,system_ram_percent:number,"
	               "system_ram_total_bytes:integer,system_ram_used_bytes:integer,"
	               "process_cpu_percent:number,process_ram_bytes:integer,"
	               "load_average_1m:number,cpu_count:integer,process_threads:integer,"
	               "process_open_fds:integer,process_max_fds:integer,"
	               "process_uptime_seconds:integer,system_uptime_seconds:integer"));
	json_object_set_new(s, "TelemetryEvent",
	                    obj_schema("timestamp:string,severity:string,category:string,"
	                               "message:string"));
	json_object_set_new(
	    s, "TelemetryEvents",
	    json_pack("{s:s, s:o}", "type", "array", "items", ref("TelemetryEvent")));
	json_object_set_new(s, "ConnectivityTestRequest",
	                    obj_schema("address:string,port:integer,timeout_ms:integer,"
	                               "user:string"));
	json_object_set_new(s, "ConnectivityTestResponse",
	                    obj_schema("address:string,port:integer,success:boolean,"
	                               "latency_ms:null integer,message:string,"
	                               "error:null string"));
	json_object_set_new(s, "RuntimeConfig",
	                    obj_schema("path:null string,editable:boolean,server:object,"
	                               "pool:object,sessions:object,metrics:object,"
	                               "telemetry:object"));
	json_object_set_new(s, "ConfigFile",
	                    obj_schema("path:null string,content:string,editable:boolean"));
	json_object_set_new(s, "ConfigFileUpdate", obj_schema("content:string,restart:boolean"));
	json_object_set_new(s, "ConfigUpdateResponse",
	                    obj_schema("success:boolean,message:string,restarting:boolean"));
	return s;
}

json_t *api_openapi_doc(const struct api_state *st)
{
	json_t *paths = json_object();
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		const struct op_def *d = &ops[i];
		json_t *item = json_object_get(paths, d->path);
		if (!item) {
			item = json_object();
			json_object_set_new(paths, d->path, item);
		}
		bool secured =
		    strcmp(d->path, "/health") != 0 && strcmp(d->path, "/openapi.json") != 0 &&
		    strncmp(d->path, "/api/auth/", 10) != 0 && strcmp(d->path, "/swagger-ui") != 0;
		json_object_set_new(item, d->method, operation(d, secured));
	}
	char url[300];
	snprintf(url, sizeof(url), "%s/", st->base);
	return json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s}], s:o, s:{s:o, s:{s:{s:s, s:s}}}}",
	                 "openapi", "3.0.3", "info", "title", "csocks admin API", "version",
	                 CSOCKS_VERSION, "description",
	                 "RustSocks-compatible admin API of csocks. Every /api/* route and "
	                 "/metrics need 'Authorization: Bearer <token>' when a token is "
	                 "configured; state-changing routes are refused (403) without one.",
	                 "servers", "url", url, "paths", paths, "components", "schemas", schemas(),
	                 "securitySchemes", "bearerAuth", "type", "http", "scheme", "bearer");
}

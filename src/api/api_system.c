/* RustSocks' /api/system/resources (read from /proc), /api/telemetry/events
 * (the obs/telemetry ring), /api/diagnostics/connectivity (a TCP connect
 * probe, ACL-checked and rate-limited) and a self-contained /swagger-ui. */
#include "api/api_extra.h"

#include "obs/telemetry.h"
#include "util/strutil.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- /api/system/resources ---- */

#define CPU_SAMPLE_MS 200 /* as RustSocks: two readings 200 ms apart */

struct cpu_sample {
	unsigned long long total, idle; /* /proc/stat "cpu" line, ticks */
	unsigned long long proc;        /* utime + stime of this process, ticks */
	int64_t mono_us;
};

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Fields after the ")" of /proc/self/stat, split at spaces: field k (1-based
 * as in proc(5)) is words[k - 3]. */
static int self_stat(unsigned long long *ticks, long *threads, unsigned long long *start)
{
	char buf[2048];
	if (read_small("/proc/self/stat", buf, sizeof(buf)) != 0)
		return -1;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	unsigned long long v[40] = {0};
	int k = 0;
	for (char *save = NULL, *t = strtok_r(p, " ", &save); t && k < 40;
	     t = strtok_r(NULL, " ", &save))
		v[k++] = strtoull(t, NULL, 10);
	if (k < 20)
		return -1;
	*ticks = v[14 - 3] + v[15 - 3];
	*threads = (long)v[20 - 3];
	*start = v[22 - 3];
	return 0;
}

static int cpu_read(struct cpu_sample *s)
{
	char buf[512];
	unsigned long long f[8] = {0};
	long thr;
	unsigned long long start;
	if (read_small("/proc/stat", buf, sizeof(buf)) != 0 || strncmp(buf, "cpu ", 4) != 0)
		return -1;
	char *p = buf + 4;
	int nf = 0;
	for (; nf < 8; nf++) {
		char *end;
		f[nf] = strtoull(p, &end, 10);
		if (end == p)
			break;
		p = end;
	}
	if (nf < 4)
		return -1;
	s->total = 0;
	for (int i = 0; i < 8; i++)
		s->total += f[i];
	s->idle = f[3] + f[4];
	if (self_stat(&s->proc, &thr, &start) != 0)
		return -1;
	s->mono_us = time_mono_us();
	return 0;
}

/* "Key:   123 kB" from a /proc file, in bytes; -1 when absent. */
static long long proc_kb(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	if (!p)
		return -1;
	return strtoll(p + strlen(key), NULL, 10) * 1024;
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;
	if (!d)
		return -1;
	// cppcheck-suppress readdirCalled ; this DIR is private to the call
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void h_resources(struct api_resp *rs)
{
	struct cpu_sample a, b;
	char mem[4096], status[4096], buf[256];
	long tck = sysconf(_SC_CLK_TCK);
	if (cpu_read(&a) != 0 || read_small("/proc/meminfo", mem, sizeof(mem)) != 0) {
		api_fail(rs, 500, "proc_unavailable", "cannot read /proc: %s", strerror(errno));
		return;
	}
	struct timespec ts = {0, CPU_SAMPLE_MS * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	if (cpu_read(&b) != 0) {
		api_fail(rs, 500, "proc_unavailable", "cannot read /proc: %s", strerror(errno));
		return;
	}
	double dt_total = (double)(b.total - a.total);
	double sys_cpu =
	    dt_total > 0 ? 100.0 * (dt_total - (double)(b.idle - a.idle)) / dt_total : 0.0;
	double secs = (double)(b.mono_us - a.mono_us) / 1e6;
	/* Percent of one CPU, as RustSocks' sysinfo reports it. */
	double proc_cpu =
	    secs > 0 && tck > 0 ? 100.0 * (double)(b.proc - a.proc) / (double)tck / secs : 0.0;
	long long total = proc_kb(mem, "MemTotal:"), avail = proc_kb(mem, "MemAvailable:");
	long long used = total > 0 && avail >= 0 ? total - avail : 0;
	long long rss = -1;
	if (read_small("/proc/self/status", status, sizeof(status)) == 0)
		rss = proc_kb(status, "VmRSS:");
	unsigned long long ticks, start;
	long threads = 0;
	double sys_up = 0, load1 = 0;
	if (read_small("/proc/uptime", buf, sizeof(buf)) == 0)
		sys_up = strtod(buf, NULL);
	if (read_small("/proc/loadavg", buf, sizeof(buf)) == 0)
		load1 = strtod(buf, NULL);
	double proc_up = 0;
	if (self_stat(&ticks, &threads, &start) == 0 && tck > 0)
		proc_up = sys_up - (double)start / (double)tck;
	struct rlimit rl = {0, 0};
	getrlimit(RLIMIT_NOFILE, &rl);

	json_t *o = json_object();
	json_object_set_new(o, "system_cpu_percent", json_real(sys_cpu));
	json_object_set_new(o, "system_ram_percent",
	                    json_real(total > 0 ? 100.0 * (double)used / (double)total : 0.0));
	json_object_set_new(o, "system_ram_total_bytes", json_integer(total > 0 ? total : 0));
	json_object_set_new(o, "system_ram_used_bytes", json_integer(used));
	json_object_set_new(o, "process_cpu_percent", json_real(proc_cpu));
	json_object_set_new(o, "process_ram_bytes", json_integer(rss > 0 ? rss : 0));
	if (load1 > 0.0) /* RustSocks leaves it out when it is 0 */
		json_object_set_new(o, "load_average_1m", json_real(load1));
	/* csocks additions */
	json_object_set_new(o, "cpu_count", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_set_new(o, "process_threads", json_integer(threads));
	json_object_set_new(o, "process_open_fds", json_integer(count_fds()));
	json_object_set_new(
	    o, "process_max_fds",
	    json_integer(rl.rlim_cur == RLIM_INFINITY ? -1 : (json_int_t)rl.rlim_cur));
	json_object_set_new(o, "process_uptime_seconds", json_integer((json_int_t)proc_up));
	json_object_set_new(o, "system_uptime_seconds", json_integer((json_int_t)sys_up));
	api_json(rs, 200, o);
}

/* ---- /api/telemetry/events ---- */

static void format_time(int64_t us, char *buf, size_t size)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&t, &tm);
	char base[32];
	if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		base[0] = '\0';
	snprintf(buf, size, "%s.%06dZ", base, (int)(us % 1000000));
}

static void h_telemetry(const struct api_req *rq, struct api_resp *rs)
{
	uint32_t minutes = 0, limit = 100;
	int hm = api_query_u32(rq, rs, "minutes", 0, 525600, &minutes);
	if (hm < 0 || api_query_u32(rq, rs, "limit", 0, UINT32_MAX, &limit) < 0)
		return;
	limit = limit < 1 ? 1 : limit > 500 ? 500 : limit; /* RustSocks clamps to 1..500 */
	const char *sev = rq->query ? rq->query(rq->qctx, "severity") : NULL;
	const char *cat = rq->query ? rq->query(rq->qctx, "category") : NULL;
	enum telemetry_severity want = TELEMETRY_INFO;
	if (sev && telemetry_severity_parse(sev, &want) != 0) {
		api_fail(rs, 400, "invalid_severity",
		         "severity must be one of info, warning, error (got '%s')", sev);
		return;
	}
	struct telemetry_event *ev;
	size_t n;
	int64_t since = hm > 0 ? time_wall_us() - (int64_t)minutes * 60 * 1000000 : 0;
	if (telemetry_snapshot(since, &ev, &n) != 0) {
		api_fail(rs, 500, "internal", "out of memory");
		return;
	}
	/* The ring is in recording order: newest first is that order reversed. */
	json_t *arr = json_array();
	for (size_t i = n; i-- > 0 && json_array_size(arr) < limit;) {
		if (sev && ev[i].severity != want)
			continue;
		if (cat && strcasecmp(ev[i].category, cat) != 0)
			continue;
		char ts[48];
		format_time(ev[i].time_us, ts, sizeof(ts));
		json_array_append_new(arr,
		                      json_pack("{s:s, s:s, s:s, s:s}", "timestamp", ts, "severity",
		                                telemetry_severity_name(ev[i].severity), "category",
		                                ev[i].category, "message", ev[i].message));
	}
	free(ev);
	api_json(rs, 200, arr);
}

/* ---- /api/diagnostics/connectivity ---- */

#define PROBE_MAX_TIMEOUT_MS 10000 /* csocks bound (RustSocks: 120000) */
#define PROBE_WINDOW_MS      10000
#define PROBE_PER_WINDOW     10

static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t probe_window_start;
static unsigned probe_count;

/* May one more probe run now? (global: PROBE_PER_WINDOW per window) */
static bool probe_admit(void)
{
	int64_t now = time_mono_ms();
	bool ok;
	pthread_mutex_lock(&probe_mu);
	if (now - probe_window_start >= PROBE_WINDOW_MS) {
		probe_window_start = now;
		probe_count = 0;
	}
	ok = probe_count < PROBE_PER_WINDOW;
	if (ok)
		probe_count++;
	pthread_mutex_unlock(&probe_mu);
	return ok;
}

static void probe_reply(struct api_resp *rs, int status, const char *addr, json_int_t port, bool ok,
                        int64_t latency, const char *msg, const char *err)
{
	json_t *o = json_object();
	json_object_set_new(o, "address", json_string(addr));
	json_object_set_new(o, "port", json_integer(port));
	json_object_set_new(o, "success", json_boolean(ok));
	json_object_set_new(o, "latency_ms", latency >= 0 ? json_integer(latency) : json_null());
	json_object_set_new(o, "message", json_string(msg));
	json_object_set_new(o, "error", err ? json_string(err) : json_null());
	api_json(rs, status, o);
}

/* Connect with a timeout: 0 connected, -ETIMEDOUT, or -errno. */
static int probe_connect(const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (connect(fd, sa, len) != 0) {
		if (errno != EINPROGRESS) {
			rc = -errno;
		} else {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			int64_t deadline = time_mono_ms() + timeout_ms;
			int pr;
			do {
				int64_t left = deadline - time_mono_ms();
				pr = left > 0 ? poll(&p, 1, (int)left) : 0;
			} while (pr < 0 && errno == EINTR);
			if (pr == 0) {
				rc = -ETIMEDOUT;
			} else if (pr < 0) {
				rc = -errno;
			} else {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				rc = -soerr;
			}
		}
	}
	close(fd);
	return rc;
}

static void h_connectivity(struct api_state *st, const struct api_req *rq, struct api_resp *rs)
{
	json_t *b = api_body_object(rq, rs);
	if (!b)
		return;
	json_t *ja = json_object_get(b, "address"), *jp = json_object_get(b, "port"),
	       *jt = json_object_get(b, "timeout_ms"), *ju = json_object_get(b, "user");
	if (!json_is_string(ja) || !json_is_integer(jp) ||
	    (jt && !json_is_integer(jt) && !json_is_null(jt)) ||
	    (ju && !json_is_string(ju) && !json_is_null(ju))) {
		json_decref(b);
		api_fail(rs, 400, "invalid_request",
		         "body must be {\"address\": string, \"port\": integer, \"timeout_ms\"?: "
		         "integer, \"user\"?: string}");
		return;
	}
	char addr[256];
	const char *a = json_string_value(ja);
	while (*a == ' ' || *a == '\t')
		a++;
	cs_strlcpy(addr, a, sizeof(addr));
	size_t al = strlen(addr);
	while (al && (addr[al - 1] == ' ' || addr[al - 1] == '\t'))
		addr[--al] = '\0';
	json_int_t port = json_integer_value(jp);
	json_int_t tmo = json_is_integer(jt) ? json_integer_value(jt) : 3000;
	const char *user = json_is_string(ju) ? json_string_value(ju) : NULL;
	if (!user)
		user = st->cfg->acl.anonymous_user ? st->cfg->acl.anonymous_user : "anonymous";
	char user_copy[128];
	cs_strlcpy(user_copy, user, sizeof(user_copy));
	json_decref(b);
	tmo = tmo < 1 ? 1 : tmo > PROBE_MAX_TIMEOUT_MS ? PROBE_MAX_TIMEOUT_MS : tmo;
	if (!*addr) {
		probe_reply(rs, 400, addr, port, false, -1, "Destination address cannot be empty",
		            "empty_address");
		return;
	}
	if (port < 1 || port > 65535) {
		probe_reply(rs, 400, addr, port, false, -1, "Port must be between 1 and 65535",
		            "invalid_port");
		return;
	}
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		probe_reply(rs, 400, addr, port, false, -1, "Invalid IP address format",
		            "invalid_ip");
		return;
	}
	if (st->src.acl_evaluate) {
		struct acl_request req = {.user = user_copy,
		                          .addr = (struct sockaddr *)&ss,
		                          .port = (uint16_t)port,
		                          .proto = ACL_PROTO_TCP};
		struct api_acl_verdict v;
		char err[256] = "";
		memset(&v, 0, sizeof(v));
		if (st->src.acl_evaluate(st->src.ctx, &req, &v, err, sizeof(err)) != 0) {
			api_fail(rs, 500, "acl_error", "ACL evaluation failed: %s", err);
			return;
		}
		if (!v.allow) {
			char msg[640];
			snprintf(msg, sizeof(msg), "Blocked by ACL for user '%s': %s", user_copy,
			         v.default_policy ? "Default policy" : v.rule_description);
			probe_reply(rs, 403, addr, port, false, -1, msg, "acl_blocked");
			return;
		}
	}
	if (!probe_admit()) {
		probe_reply(rs, 429, addr, port, false, -1,
		            "Too many connectivity probes; at most 10 per 10 seconds",
		            "rate_limited");
		return;
	}
	int64_t t0 = time_mono_ms();
	int rc = probe_connect((struct sockaddr *)&ss, sl, (int)tmo);
	int64_t lat = time_mono_ms() - t0;
	if (rc == 0) {
		probe_reply(rs, 200, addr, port, true, lat, "Connection successful", NULL);
	} else if (rc == -ETIMEDOUT) {
		probe_reply(rs, 200, addr, port, false, tmo, "Connection attempt timed out",
		            "timeout");
	} else {
		char msg[300];
		snprintf(msg, sizeof(msg), "Connection failed: %s", strerror(-rc));
		probe_reply(rs, 200, addr, port, false, lat, msg, strerror(-rc));
	}
}

/* ---- /swagger-ui ---- */

// clang-format off
static const char swagger_html[] =
"<!doctype html><html><head><meta charset=\"utf-8\"><title>csocks API</title>"
"<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
"h2{border-bottom:1px solid #ccc}.op{margin:.4em 0;padding:.4em;border:1px solid #ddd;"
"border-radius:4px}.m{display:inline-block;width:5em;font-weight:bold;text-transform:uppercase}"
".get{color:#1565c0}.post{color:#2e7d32}.put{color:#ef6c00}.delete{color:#c62828}"
"code{background:#f4f4f4}pre{background:#f4f4f4;padding:.5em;overflow:auto;max-height:20em}"
"</style></head><body><h1 id=\"t\">csocks API</h1>"
"<p>Rendered offline from <a id=\"src\" href=\"#\">openapi.json</a>. "
"Bearer token for tries: <input id=\"tok\" type=\"password\" size=\"30\"></p>"
"<div id=\"ops\">loading&hellip;</div><script>\n"
"const base=%s;const spec=base+'/openapi.json';\n"
"document.getElementById('src').href=spec;\n"
"function esc(s){return String(s).replace(/[&<>\"]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','\"':'&quot;'}[c]));}\n"
"async function tryGet(path,out){const h={};const t=document.getElementById('tok').value;"
"if(t)h['Authorization']='Bearer '+t;try{const r=await fetch(base+path,{headers:h});"
"out.textContent=r.status+'\\n'+await r.text();}catch(e){out.textContent=String(e);}}\n"
"fetch(spec).then(r=>r.json()).then(d=>{document.getElementById('t').textContent=d.info.title+' '+d.info.version;"
"const tags={};for(const [p,ms] of Object.entries(d.paths))for(const [m,o] of Object.entries(ms)){"
"const tg=(o.tags&&o.tags[0])||'other';(tags[tg]=tags[tg]||[]).push([p,m,o]);}\n"
"const root=document.getElementById('ops');root.innerHTML='';\n"
"for(const [tg,list] of Object.entries(tags)){const h=document.createElement('h2');h.textContent=tg;root.appendChild(h);"
"for(const [p,m,o] of list){const div=document.createElement('div');div.className='op';"
"div.innerHTML='<span class=\"m '+m+'\">'+m+'</span><code>'+esc(p)+'</code> '+esc(o.summary||'');"
"if(m==='get'&&!p.includes('{')){const b=document.createElement('button');b.textContent='Try';"
"const out=document.createElement('pre');out.hidden=true;b.onclick=()=>{out.hidden=false;tryGet(p,out);};"
"div.appendChild(document.createTextNode(' '));div.appendChild(b);div.appendChild(out);}"
"root.appendChild(div);}}}).catch(e=>{document.getElementById('ops').textContent='cannot load '+spec+': '+e;});\n"
"</script></body></html>\n";
// clang-format on

static void h_swagger(struct api_state *st, struct api_resp *rs)
{
	if (!st->cfg->sessions.swagger_enabled) {
		api_fail(rs, 404, "not_found", "Swagger UI is disabled (sessions.swagger_enabled)");
		return;
	}
	json_t *b = json_string(st->base);
	char *lit = json_dumps(b, JSON_ENCODE_ANY);
	json_decref(b);
	/* The base is a JSON string literal; "</" cannot close the script. */
	if (lit)
		for (char *p = lit; (p = strstr(p, "</")) != NULL;)
			p[1] = '?';
	size_t cap = sizeof(swagger_html) + (lit ? strlen(lit) : 2) + 1;
	char *html = xmalloc(cap);
	int n = snprintf(html, cap, swagger_html, lit ? lit : "\"\"");
	free(lit);
	free(rs->body);
	rs->status = 200;
	rs->content_type = "text/html; charset=utf-8";
	rs->body = html;
	rs->len = n > 0 ? (size_t)n : 0;
}

void api_system_handle(struct api_state *st, const struct api_match *m, const struct api_req *rq,
                       struct api_resp *rs)
{
	switch (m->route) {
	case ROUTE_SYSTEM_RESOURCES:
		h_resources(rs);
		break;
	case ROUTE_TELEMETRY_EVENTS:
		h_telemetry(rq, rs);
		break;
	case ROUTE_DIAG_CONNECTIVITY:
		h_connectivity(st, rq, rs);
		break;
	default:
		h_swagger(st, rs);
		break;
	}
}

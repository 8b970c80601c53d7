/* The dashboard's built files served from memory (see api_static.h). */
#include "api/api_static.h"

#include "api/api_internal.h"
#include "csocks_build.h"
#include "util/hash.h"
#include "util/strutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_MAX_FILES 512
#define STATIC_MAX_BYTES (16u << 20) /* per file */

struct static_file {
	char *path;        /* "/index.html", "/assets/index-1a2b3c.js" */
	const char *ctype; /* static string */
	char *data;
	size_t len;
	char *gz; /* the build's precompressed copy, or NULL */
	size_t gzlen;
	char etag[24];  /* "<16 hex>" with the quotes */
	bool immutable; /* under assets/: the name carries a content hash */
};

struct api_static {
	struct static_file *files;
	size_t n;
};

const char *api_static_content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".mjs", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".json", "application/json"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	    {".ico", "image/x-icon"},
	    {".txt", "text/plain; charset=utf-8"},
	    {".map", "application/json"},
	    {".webmanifest", "application/manifest+json"},
	};
	const char *dot = strrchr(name, '.');
	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

bool api_static_accepts_gzip(const char *ae)
{
	if (!ae)
		return false;
	while (*ae) {
		while (*ae == ' ' || *ae == '\t' || *ae == ',')
			ae++;
		size_t len = strcspn(ae, ",");
		size_t name = strcspn(ae, " \t;,");
		bool match =
		    (name == 4 && strncasecmp(ae, "gzip", 4) == 0) || (name == 1 && ae[0] == '*');
		if (match) {
			/* q=0 (or 0.0, 0.000) refuses it. */
			const char *q = strchr(ae, ';');
			bool zero = false;
			if (q && q < ae + len) {
				q++;
				while (*q == ' ')
					q++;
				if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
					q += 2;
					zero = q[0] == '0' &&
					       strspn(q + 1, ".0") == strcspn(q + 1, " ,;");
				}
			}
			if (!zero)
				return true;
		}
		ae += len;
	}
	return false;
}

static bool has_index(const char *dir)
{
	char p[PATH_MAX];
	struct stat st;
	if ((size_t)snprintf(p, sizeof(p), "%s/index.html", dir) >= sizeof(p))
		return false;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int api_static_find_dir(const char *configured, char *out, size_t size, char *err, size_t errlen)
{
	if (configured && *configured) {
		if (!has_index(configured)) {
			snprintf(err, errlen, "sessions.dashboard_dir %s has no index.html",
			         configured);
			return -1;
		}
		cs_strlcpy(out, configured, size);
		return 0;
	}
	char exe[PATH_MAX], cand[3][PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	size_t nc = 0;
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(cand[nc++], sizeof(cand[0]), "%s/dashboard", exe);
			snprintf(cand[nc++], sizeof(cand[0]), "%s/../dashboard/dist", exe);
		}
	}
	snprintf(cand[nc++], sizeof(cand[0]), "%s", CSOCKS_DASHBOARD_DIR);
	for (size_t i = 0; i < nc; i++) {
		if (has_index(cand[i])) {
			char *real = realpath(cand[i], NULL);
			cs_strlcpy(out, real ? real : cand[i], size);
			free(real);
			return 0;
		}
	}
	snprintf(err, errlen, "no built dashboard (index.html) in %s%s%s%s%s", cand[0],
	         nc > 1 ? ", " : "", nc > 1 ? cand[1] : "", nc > 2 ? ", " : "",
	         nc > 2 ? cand[2] : "");
	return -1;
}

/* A regular file's bytes (no symlinks), at most STATIC_MAX_BYTES. */
static char *read_regular(int dirfd, const char *name, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_BYTES)
		goto out;
	buf = xmalloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0) {
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)r;
	}
	buf[got] = '\0';
	*len = got;
out:
	close(fd);
	return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Add every regular, non-hidden file of dir (prefix "" or "/assets"). */
static int load_dir(struct api_static *s, int dirfd, const char *prefix, char *err, size_t errlen)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		snprintf(err, errlen, "cannot list%s: %s", prefix, strerror(errno));
		return -1;
	}
	struct dirent *e;
	/* Runs once at start, before any HTTP thread; readdir_r is deprecated. */
	// cppcheck-suppress readdirCalled ; one thread, at start
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || ends_with(e->d_name, ".gz"))
			continue;
		size_t len;
		char *data = read_regular(dirfd, e->d_name, &len);
		if (!data)
			continue; /* folders, symlinks, unreadable or huge files */
		if (s->n == STATIC_MAX_FILES) {
			free(data);
			snprintf(err, errlen, "more than %d files", STATIC_MAX_FILES);
			closedir(d);
			return -1;
		}
		s->files = xrealloc(s->files, (s->n + 1) * sizeof(*s->files));
		struct static_file *f = &s->files[s->n++];
		memset(f, 0, sizeof(*f));
		size_t plen = strlen(prefix) + strlen(e->d_name) + 2;
		f->path = xmalloc(plen);
		snprintf(f->path, plen, "%s/%s", prefix, e->d_name);
		f->ctype = api_static_content_type(e->d_name);
		f->data = data;
		f->len = len;
		f->immutable = prefix[0] != '\0';
		snprintf(f->etag, sizeof(f->etag), "\"%016llx\"",
		         (unsigned long long)cs_hash_bytes(data, len));
		char gzname[NAME_MAX + 4];
		if ((size_t)snprintf(gzname, sizeof(gzname), "%s.gz", e->d_name) < sizeof(gzname))
			f->gz = read_regular(dirfd, gzname, &f->gzlen);
	}
	closedir(d);
	return 0;
}

struct api_static *api_static_load(const char *dir, char *err, size_t errlen)
{
	if (!has_index(dir)) {
		snprintf(err, errlen, "%s has no index.html", dir);
		return NULL;
	}
	int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	struct api_static *s = xcalloc(1, sizeof(*s));
	int rc = load_dir(s, top, "", err, errlen);
	int assets = openat(top, "assets", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (rc == 0 && assets >= 0)
		rc = load_dir(s, assets, "/assets", err, errlen);
	if (assets >= 0)
		close(assets);
	close(top);
	if (rc != 0) {
		api_static_free(s);
		return NULL;
	}
	return s;
}

void api_static_free(struct api_static *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->files[i].path);
		free(s->files[i].data);
		free(s->files[i].gz);
	}
	free(s->files);
	free(s);
}

size_t api_static_count(const struct api_static *s)
{
	return s ? s->n : 0;
}

static const struct static_file *find(const struct api_static *s, const char *rel)
{
	if (strcmp(rel, "/") == 0)
		rel = "/index.html";
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->files[i].path, rel) == 0)
			return &s->files[i];
	return NULL;
}

/* If-None-Match lists tag (or is "*")? */
static bool etag_listed(const char *inm, const char *tag)
{
	if (!inm)
		return false;
	if (strcmp(inm, "*") == 0)
		return true;
	size_t tl = strlen(tag);
	for (const char *p = strstr(inm, tag); p; p = strstr(p + 1, tag)) {
		char after = p[tl];
		if (after == '\0' || after == ',' || after == ' ')
			return true;
	}
	return false;
}

static void set_body(struct api_resp *rs, const char *data, size_t len)
{
	free(rs->body);
	rs->body = (char *)data; /* body_borrowed: the table owns it */
	rs->len = len;
	rs->body_borrowed = true;
}

void api_static_handle(const struct api_static *s, const struct api_req *rq, const char *rel,
                       struct api_resp *rs)
{
	if (!s && strcmp(rel, "/") != 0 && strcmp(rel, "/index.html") != 0) {
		api_error(rs, 404, "no such endpoint: %s %s", rq->method, rel);
		return;
	}
	if (!s) {
		api_error(rs, 503,
		          "the dashboard is enabled but its files are missing: build them with "
		          "scripts/build-dashboard.sh (see docs/dashboard.md)");
		return;
	}
	size_t ul = strlen(rq->url);
	if (strcmp(rel, "/") == 0 && ul > 0 && rq->url[ul - 1] != '/' &&
	    ul + 2 <= sizeof(rs->location)) {
		/* "/rustsocks" -> "/rustsocks/": the page's relative URLs need it. */
		api_error(rs, 308, "the dashboard is at %s/", rq->url);
		snprintf(rs->location, sizeof(rs->location), "%s/", rq->url);
		return;
	}
	const struct static_file *f = find(s, rel);
	if (!f) {
		api_error(rs, 404, "no such endpoint or file: %s %s", rq->method, rel);
		return;
	}
	bool gz = f->gz && api_static_accepts_gzip(rq->accept_encoding);
	rs->dashboard = true;
	rs->content_type = f->ctype;
	rs->cache_control = f->immutable ? "public, max-age=31536000, immutable" : "no-cache";
	/* The gzip copy is another representation: its own tag. */
	snprintf(rs->etag, sizeof(rs->etag), "%.*s%s\"", (int)strlen(f->etag) - 1, f->etag,
	         gz ? "-gz" : "");
	rs->content_encoding = gz ? "gzip" : NULL;
	if (etag_listed(rq->if_none_match, rs->etag)) {
		rs->status = 304;
		set_body(rs, "", 0);
		return;
	}
	rs->status = 200;
	if (gz)
		set_body(rs, f->gz, f->gzlen);
	else
		set_body(rs, f->data, f->len);
}

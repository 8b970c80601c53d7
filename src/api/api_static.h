/* The web dashboard's built files (dashboard/dist), read into memory once
 * at start and served by exact path: a request can only ever name a file
 * of that table, so no path reaches the file system (no traversal). */
#ifndef CSOCKS_API_STATIC_H
#define CSOCKS_API_STATIC_H

#include <stdbool.h>
#include <stddef.h>

/* Strict: no inline script or style, nothing from another origin, no
 * framing; forms and <base> only to ourselves. */
#define API_DASHBOARD_CSP                                                                          \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "          \
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                \
	"form-action 'self'; frame-ancestors 'none'"

struct api_static;
struct api_req;
struct api_resp;

/* The folder to serve: configured (sessions.dashboard_dir) when set, else
 * the first of <binary's folder>/dashboard, <binary's folder>/../dashboard/dist
 * (a source tree's build/) and the compile-time CSOCKS_DASHBOARD_DIR that
 * holds an index.html. 0 with out filled, or -1 with err (what was tried). */
int api_static_find_dir(const char *configured, char *out, size_t size, char *err, size_t errlen);

/* Read dir's index.html, other top-level files and assets/ (with their .gz
 * siblings). NULL with err when dir has no index.html or cannot be read. */
struct api_static *api_static_load(const char *dir, char *err, size_t errlen);
void api_static_free(struct api_static *s);
size_t api_static_count(const struct api_static *s);

/* Answer GET/HEAD of rel ("/", "/index.html", "/assets/x-1a2b.js"); with s
 * NULL (the files are missing) "/" is a 503 JSON, the rest 404. url is the path as received, for
 * the redirect of "/base" to "/base/". */
void api_static_handle(const struct api_static *s, const struct api_req *rq, const char *rel,
                       struct api_resp *rs);

/* Does Accept-Encoding allow gzip? (a "gzip" or "*" token whose q is not 0) */
bool api_static_accepts_gzip(const char *accept_encoding);

/* Content-Type for a file name, by extension. */
const char *api_static_content_type(const char *name);

#endif

#include "acl/acl_match.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

const char *acl_action_name(enum acl_action a)
{
	return a == ACL_BLOCK ? "block" : "allow";
}

const char *acl_owner_kind_name(enum acl_owner_kind k)
{
	return k == ACL_OWNER_GROUP ? "group" : "user";
}

const char *acl_eval_mode_name(enum acl_eval_mode m)
{
	return m == ACL_EVAL_RUSTSOCKS ? "rustsocks" : "priority";
}

int acl_eval_mode_parse(const char *s, enum acl_eval_mode *out)
{
	if (strcmp(s, "priority") == 0)
		*out = ACL_EVAL_PRIORITY;
	else if (strcmp(s, "rustsocks") == 0)
		*out = ACL_EVAL_RUSTSOCKS;
	else
		return -1;
	return 0;
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Input quoted for a message: printable ASCII kept, the rest shown as '?',
 * long input cut with "...". */
static const char *quote(const char *s, size_t len, char *buf, size_t size)
{
	size_t o = 0, max = size - 4;
	for (size_t i = 0; i < len && o < max; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[o++] = (char)((c >= 0x20 && c < 0x7f) ? c : '?');
	}
	if (o == max && len > max) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
}

/* Strict dotted quad: four decimal octets 0..255, no empty octets, no
 * leading zeros (which some parsers read as octal), nothing else. */
static bool parse_ip4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	for (int k = 0; k < 4; k++) {
		size_t start = i;
		unsigned val = 0;
		while (i < len && is_digit(s[i]) && i - start < 4) {
			val = val * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		size_t digits = i - start;
		if (digits == 0 || digits > 3 || val > 255 || (digits > 1 && s[start] == '0'))
			return false;
		out[k] = (uint8_t)val;
		if (k < 3) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

static bool is_mapped(const uint8_t a[16])
{
	static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, pfx, 12) == 0;
}

static bool parse_ip6(const char *s, size_t len, uint8_t out[16])
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf) || memchr(s, '%', len))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, out) == 1;
}

int acl_ip_literal_parse(const char *s, size_t len, uint8_t out[16])
{
	uint8_t a[16];
	memset(out, 0, 16);
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (parse_ip4(s, len, out))
		return 4;
	if (!memchr(s, ':', len) || !parse_ip6(s, len, a))
		return 0;
	if (is_mapped(a)) {
		memcpy(out, a + 12, 4);
		return 4;
	}
	memcpy(out, a, 16);
	return 6;
}

int acl_addr_from_sockaddr(const struct sockaddr *sa, uint8_t out[16])
{
	memset(out, 0, 16);
	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		memcpy(out, &in->sin_addr, 4);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		const uint8_t *a = in6->sin6_addr.s6_addr;
		if (is_mapped(a)) {
			memcpy(out, a + 12, 4);
			return 4;
		}
		memcpy(out, a, 16);
		return 6;
	}
	return 0;
}

/* Clear the bits past plen; returns true when any was set. */
static bool mask_host_bits(uint8_t *a, size_t bytes, unsigned plen)
{
	bool had = false;
	for (size_t i = 0; i < bytes; i++) {
		unsigned bit0 = (unsigned)i * 8;
		uint8_t keep;
		if (plen >= bit0 + 8)
			keep = 0xff;
		else if (plen <= bit0)
			keep = 0;
		else
			keep = (uint8_t)(0xff << (8 - (plen - bit0)));
		if (a[i] & (uint8_t)~keep)
			had = true;
		a[i] &= keep;
	}
	return had;
}

static int parse_prefix(const char *s, size_t len, unsigned max, unsigned *out)
{
	unsigned v = 0;
	if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_ip_dest(const char *s, size_t len, bool v6, struct acl_dest *d, char *err,
                         size_t errlen)
{
	char q[80];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	unsigned plen = v6 ? 128 : 32;
	uint8_t a[16] = {0};

	if (!v6 ? !parse_ip4(s, alen, a) : !parse_ip6(s, alen, a)) {
		seterr(err, errlen, "%s '%s'",
		       slash ? (v6 ? "bad IPv6 CIDR" : "bad CIDR")
		             : (v6 ? "bad IPv6 address" : "bad IPv4 address"),
		       quote(s, len, q, sizeof(q)));
		return ACL_PARSE_ERROR;
	}
	if (slash && parse_prefix(slash + 1, len - alen - 1, v6 ? 128 : 32, &plen) < 0) {
		seterr(err, errlen, "bad CIDR '%s': prefix length must be 0..%u",
		       quote(s, len, q, sizeof(q)), v6 ? 128u : 32u);
		return ACL_PARSE_ERROR;
	}
	d->cidr = slash != NULL;
	if (v6 && is_mapped(a) && plen >= 96) {
		/* ::ffff:a.b.c.d[/96+n] is an IPv4 rule: requests are unwrapped too. */
		memmove(a, a + 12, 4);
		memset(a + 4, 0, 12);
		plen -= 96;
		v6 = false;
	}
	d->kind = v6 ? ACL_DEST_IP6 : ACL_DEST_IP4;
	d->plen = (uint8_t)plen;
	memcpy(d->addr, a, 16);
	if (mask_host_bits(d->addr, v6 ? 16 : 4, plen)) {
		char norm[64];
		acl_dest_format(d, norm, sizeof(norm));
		seterr(err, errlen, "CIDR '%s' has host bits set; using %s",
		       quote(s, len, q, sizeof(q)), norm);
		return ACL_PARSE_NORMALISED;
	}
	return ACL_PARSE_OK;
}

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_';
}

static int parse_name_dest(const char *s, size_t len, struct acl_dest *d, char *err, size_t errlen)
{
	char q[80];
	size_t stars = 0, labels = 0, partial = 0;
	bool lead_star = false, dstar = false;

	if (len > 0 && s[len - 1] == '.')
		len--; /* "example.com." is "example.com" */
	if (len == 0 || len > ACL_DOMAIN_MAX) {
		seterr(err, errlen, "bad domain '%s': %s", quote(s, len, q, sizeof(q)),
		       len ? "longer than 253 characters" : "empty");
		return ACL_PARSE_ERROR;
	}
	for (size_t i = 0; i < len;) {
		size_t start = i;
		while (i < len && s[i] != '.')
			i++;
		size_t l = i - start;
		const char *lab = s + start;
		if (l == 0) {
			seterr(err, errlen, "bad domain '%s': empty label",
			       quote(s, len, q, sizeof(q)));
			return ACL_PARSE_ERROR;
		}
		if (l > 63) {
			seterr(err, errlen, "bad domain '%s': label longer than 63 characters",
			       quote(s, len, q, sizeof(q)));
			return ACL_PARSE_ERROR;
		}
		if (l == 2 && lab[0] == '*' && lab[1] == '*') {
			if (labels != 0) {
				seterr(err, errlen,
				       "bad domain '%s': '**' may only be the first label",
				       quote(s, len, q, sizeof(q)));
				return ACL_PARSE_ERROR;
			}
			dstar = true;
			stars++;
			lead_star = true;
		} else if (l == 1 && lab[0] == '*') {
			stars++;
			if (labels == 0)
				lead_star = true;
		} else {
			bool inner = false;
			for (size_t k = 0; k < l; k++) {
				char c = lower(lab[k]);
				if (c == '*') {
					if (k > 0 && lab[k - 1] == '*') {
						seterr(err, errlen,
						       "bad domain '%s': '**' inside a label",
						       quote(s, len, q, sizeof(q)));
						return ACL_PARSE_ERROR;
					}
					inner = true; /* "prod-*": glob inside the label */
					continue;
				}
				if (!label_char(c)) {
					char ch[8];
					unsigned char uc = (unsigned char)c;
					if (uc >= 0x20 && uc < 0x7f)
						snprintf(ch, sizeof(ch), "'%c'", c);
					else
						snprintf(ch, sizeof(ch), "0x%02x", uc);
					seterr(err, errlen, "bad domain '%s': invalid character %s",
					       quote(s, len, q, sizeof(q)), ch);
					return ACL_PARSE_ERROR;
				}
			}
			if (inner)
				partial++;
			if (lab[0] == '-' || lab[l - 1] == '-') {
				seterr(err, errlen,
				       "bad domain '%s': a label may not start or end with '-'",
				       quote(s, len, q, sizeof(q)));
				return ACL_PARSE_ERROR;
			}
		}
		labels++;
		if (i < len)
			i++; /* the dot; a trailing one was stripped, so a label follows */
		if (i == len && s[len - 1] == '.') {
			seterr(err, errlen, "bad domain '%s': empty label",
			       quote(s, len, q, sizeof(q)));
			return ACL_PARSE_ERROR;
		}
	}
	for (size_t i = 0; i < len; i++)
		d->name[i] = lower(s[i]);
	d->name[len] = '\0';
	d->name_len = len;
	d->dstar = dstar;
	if (stars == 0 && partial == 0) {
		d->kind = ACL_DEST_DOMAIN;
	} else if (stars == 1 && partial == 0 && lead_star && labels > 1) {
		size_t skip = dstar ? 3 : 2;
		d->kind = ACL_DEST_SUFFIX;
		memmove(d->name, d->name + skip, len - skip + 1);
		d->name_len = len - skip;
	} else if (dstar) {
		seterr(err, errlen,
		       "bad domain '%s': '**.' is only allowed before a plain name "
		       "(\"**.example.com\")",
		       quote(s, len, q, sizeof(q)));
		return ACL_PARSE_ERROR;
	} else {
		d->kind = ACL_DEST_PATTERN;
	}
	return ACL_PARSE_OK;
}

int acl_dest_parse(const char *s, size_t len, struct acl_dest *d, char *err, size_t errlen)
{
	char q[80];
	bool ip4ish = len > 0;

	memset(d, 0, sizeof(*d));
	if (err && errlen)
		err[0] = '\0';
	if (len == 1 && s[0] == '*') {
		d->kind = ACL_DEST_ANY;
		return ACL_PARSE_OK;
	}
	if (len == 0) {
		seterr(err, errlen, "empty destination");
		return ACL_PARSE_ERROR;
	}
	if (memchr(s, ':', len))
		return parse_ip_dest(s, len, true, d, err, errlen);
	for (size_t i = 0; i < len; i++)
		if (!is_digit(s[i]) && s[i] != '.' && s[i] != '/')
			ip4ish = false;
	if (ip4ish)
		return parse_ip_dest(s, len, false, d, err, errlen);
	if (memchr(s, '/', len)) {
		seterr(err, errlen, "bad CIDR '%s': expected an IP address before '/'",
		       quote(s, len, q, sizeof(q)));
		return ACL_PARSE_ERROR;
	}
	return parse_name_dest(s, len, d, err, errlen);
}

int acl_dest_format(const struct acl_dest *d, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];
	switch (d->kind) {
	case ACL_DEST_ANY:
		return snprintf(buf, size, "*");
	case ACL_DEST_IP4:
	case ACL_DEST_IP6:
		inet_ntop(d->kind == ACL_DEST_IP4 ? AF_INET : AF_INET6, d->addr, a, sizeof(a));
		if (d->cidr)
			return snprintf(buf, size, "%s/%u", a, (unsigned)d->plen);
		return snprintf(buf, size, "%s", a);
	case ACL_DEST_SUFFIX:
		return snprintf(buf, size, "%s.%s", d->dstar ? "**" : "*", d->name);
	case ACL_DEST_DOMAIN:
	case ACL_DEST_PATTERN:
		return snprintf(buf, size, "%s", d->name);
	}
	return snprintf(buf, size, "?");
}

/* Parse a decimal port 1..65535 from the whole of [s, s+len). */
static int parse_port(const char *s, size_t len, unsigned *out)
{
	unsigned v = 0;
	if (len == 0 || len > 5)
		return len > 5 ? -2 : -1;
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -2;
	*out = v;
	return 0;
}

int acl_ports_parse(const char *s, size_t len, struct acl_port_range *out, size_t max, bool *any,
                    char *err, size_t errlen)
{
	char q[80];
	int n = 0;

	*any = false;
	if (err && errlen)
		err[0] = '\0';
	if (len == 1 && s[0] == '*') {
		*any = true;
		return 0;
	}
	if (len == 0) {
		seterr(err, errlen, "empty port");
		return -1;
	}
	for (size_t i = 0; i <= len;) {
		size_t start = i;
		while (i < len && s[i] != ',')
			i++;
		size_t b = start, e = i;
		while (b < e && s[b] == ' ')
			b++;
		while (e > b && s[e - 1] == ' ')
			e--;
		if (b == e) {
			seterr(err, errlen, "bad port list '%s': empty item",
			       quote(s, len, q, sizeof(q)));
			return -1;
		}
		const char *dash = memchr(s + b, '-', e - b);
		unsigned lo = 0, hi = 0; /* set on every path used; -O3 cannot tell */
		int r1, r2 = 0;
		if (dash) {
			r1 = parse_port(s + b, (size_t)(dash - (s + b)), &lo);
			r2 = parse_port(dash + 1, (size_t)(s + e - dash - 1), &hi);
		} else {
			r1 = parse_port(s + b, e - b, &lo);
			hi = lo;
		}
		if (r1 == -2 || r2 == -2) {
			seterr(err, errlen, "bad port '%s': ports are 1..65535",
			       quote(s + b, e - b, q, sizeof(q)));
			return -1;
		}
		if (r1 < 0 || r2 < 0) {
			seterr(err, errlen,
			       "bad port '%s': expected \"*\", N, N-M or a list N,M,...",
			       quote(s + b, e - b, q, sizeof(q)));
			return -1;
		}
		if (lo > hi) {
			seterr(err, errlen, "bad port range '%s': start is greater than end",
			       quote(s + b, e - b, q, sizeof(q)));
			return -1;
		}
		if ((size_t)n < max) {
			out[n].lo = (uint16_t)lo;
			out[n].hi = (uint16_t)hi;
		}
		n++;
		if (i == len)
			break;
		i++; /* the comma */
	}
	return n;
}

int acl_proto_parse(const char *s, size_t len, unsigned *bits)
{
	if (len == 3 && memcmp(s, "tcp", 3) == 0)
		*bits = ACL_PROTO_TCP;
	else if (len == 3 && memcmp(s, "udp", 3) == 0)
		*bits = ACL_PROTO_UDP;
	else if ((len == 4 && memcmp(s, "both", 4) == 0) || (len == 1 && s[0] == '*'))
		*bits = ACL_PROTO_BOTH;
	else
		return -1;
	return 0;
}

int acl_action_parse(const char *s, size_t len, enum acl_action *out)
{
	if (len == 5 && memcmp(s, "allow", 5) == 0)
		*out = ACL_ALLOW;
	else if (len == 5 && memcmp(s, "block", 5) == 0)
		*out = ACL_BLOCK;
	else
		return -1;
	return 0;
}

int acl_domain_normalise(const char *in, size_t len, char *out)
{
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > ACL_DOMAIN_MAX)
		return -1;
	for (size_t i = 0; i < len; i++)
		out[i] = lower(in[i]);
	out[len] = '\0';
	return (int)len;
}

/* Glob of one label: '*' matches any run (possibly empty) of characters.
 * Labels are at most 63 bytes, so the backtracking stays small. */
static bool label_glob(const char *p, size_t pl, const char *n, size_t nl)
{
	size_t i = 0, j = 0, star = (size_t)-1, mark = 0;
	while (j < nl) {
		if (i < pl && p[i] == '*') {
			star = i++;
			mark = j;
		} else if (i < pl && p[i] == n[j]) {
			i++;
			j++;
		} else if (star != (size_t)-1) {
			i = star + 1;
			j = ++mark;
		} else {
			return false;
		}
	}
	while (i < pl && p[i] == '*')
		i++;
	return i == pl;
}

static bool label_match(const char *p, size_t pl, const char *n, size_t nl)
{
	if (pl == 1 && p[0] == '*')
		return true;
	if (memchr(p, '*', pl))
		return label_glob(p, pl, n, nl);
	return pl == nl && memcmp(p, n, pl) == 0;
}

/* Match a pattern label by label from the right. A leading "*" label
 * stands for one or more labels (exactly one when d->lead_one: RustSocks'
 * meaning); any other "*" label for exactly one; a label with an inner '*'
 * is a glob inside that label. */
static bool pattern_match(const struct acl_dest *d, const char *n, size_t nlen)
{
	const char *p = d->name;
	size_t plen = d->name_len;
	bool lead_any = !d->lead_one && plen >= 2 && p[0] == '*' && p[1] == '.';
	size_t stop = lead_any ? 2 : 0;
	size_t i = plen, j = nlen;

	for (;;) {
		size_t ps = i, ns = j;
		while (ps > stop && p[ps - 1] != '.')
			ps--;
		while (ns > 0 && n[ns - 1] != '.')
			ns--;
		size_t pl = i - ps, nl = j - ns;
		if (nl == 0)
			return false;
		if (!label_match(p + ps, pl, n + ns, nl))
			return false;
		if (ps == stop) /* pattern used up: the name must have exactly that
		                   many labels, or more under a leading '*' */
			return lead_any ? ns >= 2 : ns == 0;
		if (ns == 0)
			return false;
		i = ps - 1;
		j = ns - 1;
	}
}

bool acl_domain_match(const struct acl_dest *d, const char *name, size_t len)
{
	switch (d->kind) {
	case ACL_DEST_ANY:
		return true;
	case ACL_DEST_DOMAIN:
		return len == d->name_len && memcmp(name, d->name, len) == 0;
	case ACL_DEST_SUFFIX:
		return len > d->name_len + 1 && name[len - d->name_len - 1] == '.' &&
		       memcmp(name + len - d->name_len, d->name, d->name_len) == 0;
	case ACL_DEST_PATTERN:
		return pattern_match(d, name, len);
	default:
		return false;
	}
}

bool acl_ip_match(const struct acl_dest *d, int family, const uint8_t addr[16])
{
	if (d->kind == ACL_DEST_ANY)
		return true;
	if (!((d->kind == ACL_DEST_IP4 && family == 4) || (d->kind == ACL_DEST_IP6 && family == 6)))
		return false;
	unsigned full = d->plen / 8, rest = d->plen % 8;
	if (memcmp(addr, d->addr, full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));
		if ((addr[full] & m) != d->addr[full])
			return false;
	}
	return true;
}

/* ACL matchers: strict parsers for the destination, port and protocol strings
 * of acl.toml, and the pure matching functions the compiled engine uses.
 *
 * Parsers take (ptr, len), never rely on NUL termination, reject empty
 * octets/labels, out-of-range numbers and trailing junk, and return a third
 * result, ACL_PARSE_NORMALISED, for input that is accepted but rewritten
 * (a CIDR with host bits set) so the loader can warn with file:line.
 * No function here allocates.
 */
#ifndef CSOCKS_ACL_MATCH_H
#define CSOCKS_ACL_MATCH_H

#include "acl/acl_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum acl_parse_result {
	ACL_PARSE_OK = 0,
	ACL_PARSE_NORMALISED = 1, /* accepted; err holds the warning text */
	ACL_PARSE_ERROR = -1,     /* rejected; err holds the reason */
};

/* Longest domain name handled (RFC 1035 text form without the final dot). */
#define ACL_DOMAIN_MAX 253

enum acl_dest_kind {
	ACL_DEST_ANY = 1,     /* "*" */
	ACL_DEST_IP4 = 2,     /* address or CIDR; an address is a /32 */
	ACL_DEST_IP6 = 3,     /* address or CIDR; an address is a /128 */
	ACL_DEST_DOMAIN = 4,  /* exact name */
	ACL_DEST_SUFFIX = 5,  /* "*.example.com", "**.example.com": any depth of
	                         subdomain, not the apex */
	ACL_DEST_PATTERN = 6, /* other wildcards: "api.*.com", "*.*.example.com",
	                         "prod-*.example.com" (glob inside a label) */
};

struct acl_dest {
	enum acl_dest_kind kind;
	bool cidr;        /* IP written with a /prefix */
	bool dstar;       /* SUFFIX written "**." (any depth in every mode) */
	bool lead_one;    /* PATTERN: a leading "*" label is exactly one label
	                     (set by the compiler in RustSocks mode) */
	uint8_t plen;     /* prefix length (IP kinds) */
	uint8_t addr[16]; /* IP kinds: network address, host bits cleared;
	                     IPv4 in the first 4 bytes */
	/* Name kinds: lower case, no trailing dot. DOMAIN: the name; SUFFIX: the
	 * part after "*."; PATTERN: the whole pattern. NUL-terminated. */
	char name[ACL_DOMAIN_MAX + 1];
	size_t name_len;
};

/* Parse one destination string. IPv4-mapped IPv6 ("::ffff:1.2.3.4",
 * "::ffff:0:0/104") becomes IPv4. Returns ACL_PARSE_OK, ACL_PARSE_NORMALISED
 * (CIDR with host bits set; out holds the network) or ACL_PARSE_ERROR. err
 * receives the reason or warning (always NUL-terminated when errlen > 0). */
int acl_dest_parse(const char *s, size_t len, struct acl_dest *out, char *err, size_t errlen);

/* Canonical text of a parsed destination ("10.0.0.0/8", "example.com",
 * "*.example.com"). Returns the length needed, as snprintf(). */
int acl_dest_format(const struct acl_dest *d, char *buf, size_t size);

struct acl_port_range {
	uint16_t lo, hi; /* inclusive */
};

/* Parse one ports string: "*", "443", "8000-9000", "80,443,8080" (items may
 * mix single ports and ranges; spaces around items are allowed). Ports are
 * 1..65535. Writes up to max ranges to out (out may be NULL with max 0 to
 * only validate/count) and sets *any for "*". Returns the number of ranges
 * (0 for "*"), or -1 with err set. */
int acl_ports_parse(const char *s, size_t len, struct acl_port_range *out, size_t max, bool *any,
                    char *err, size_t errlen);

/* "tcp", "udp", "both", "*" (= both). Returns 0 and ACL_PROTO_* bits, or -1. */
int acl_proto_parse(const char *s, size_t len, unsigned *bits);

/* "allow" / "block". Returns 0 or -1. */
int acl_action_parse(const char *s, size_t len, enum acl_action *out);

/* Lower-case a requested name and drop one trailing dot into out (size
 * ACL_DOMAIN_MAX + 1, NUL-terminated). Returns the length, or -1 when the name
 * is empty or too long (such a name matches no domain pattern). */
int acl_domain_normalise(const char *in, size_t len, char *out);

/* Does the normalised name match a DOMAIN, SUFFIX or PATTERN destination? */
bool acl_domain_match(const struct acl_dest *d, const char *name, size_t len);

/* Does the address (family 4 or 6, IPv4 in the first 4 bytes) fall in an
 * IP4/IP6 destination? */
bool acl_ip_match(const struct acl_dest *d, int family, const uint8_t addr[16]);

/* Extract the address of an AF_INET/AF_INET6 sockaddr; an IPv4-mapped IPv6
 * address comes out as IPv4. Returns 4, 6, or 0 for other families/NULL. */
int acl_addr_from_sockaddr(const struct sockaddr *sa, uint8_t out[16]);

/* Parse an IP literal (strict dotted quad, or IPv6 per inet_pton, optionally
 * in [brackets]); mapped IPv6 comes out as IPv4. Returns 4, 6, or 0. */
int acl_ip_literal_parse(const char *s, size_t len, uint8_t out[16]);

#endif

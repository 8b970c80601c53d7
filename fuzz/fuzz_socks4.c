/* libFuzzer target: SOCKS4/4a request parser. Checks the contracts as
 * fuzz_socks5.c does (consumed bounds, final errors, exact round trip). */
#include <stdlib.h>
#include <string.h>

#include "protocol/sockaddr.h"
#include "protocol/socks4.h"

#define ASSERT(c) ((c) ? (void)0 : abort())

static int call(const uint8_t *data, size_t len, struct socks4_request *out, size_t *c)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	memcpy(copy, data, len);
	rc = socks4_parse_request(copy, len, out, c);
	free(copy);
	ASSERT(rc == PROTO_OK || rc == PROTO_INCOMPLETE || rc == PROTO_BAD_VERSION ||
	       rc == PROTO_MALFORMED);
	ASSERT(rc == PROTO_OK ? *c >= 9 && *c <= len && *c <= SOCKS4_REQUEST_MAX : *c == 0);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct socks4_request r, r2;
	struct socks_addr a;
	uint8_t out[SOCKS4_REQUEST_MAX];
	char str[SOCKS_ADDR_STR_MAX];
	size_t c, pc, n;
	int rc = call(data, size, &r, &c);
	size_t cuts[3] = {size / 2, size ? size - 1 : 0, size ? data[size - 1] % (size + 1) : 0};

	for (int i = 0; i < 3; i++) {
		int prc = call(data, cuts[i], &r2, &pc);
		if (prc != PROTO_INCOMPLETE)
			ASSERT(prc == rc && pc == c && memcmp(&r, &r2, sizeof(r)) == 0);
	}
	if (rc != PROTO_OK)
		return 0;
	ASSERT(!r.is_4a || r.domain[0] != '\0');
	n = socks4_write_request(out, sizeof(out), &r);
	ASSERT(n == c && memcmp(out, data, n) == 0);
	socks4_request_to_addr(&r, &a);
	n = socks_addr_str(&a, str, sizeof(str));
	ASSERT(n == strlen(str));
	return 0;
}

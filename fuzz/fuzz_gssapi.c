/* libFuzzer target: the RFC 1961 message framing (protocol/gssapi_frame.h).
 *
 * Besides memory safety (ASan/UBSan) it checks the parser's contract:
 * consumed is 0 unless OK and never past the input; the token lies inside
 * the input; a result other than INCOMPLETE on a prefix is final (the whole
 * input gives the same message); a parsed message re-serialises to exactly
 * its bytes. The input is parsed as a stream of messages, as the connection
 * phase reads them (a client may send its next message behind the last).
 * Every parse reads a heap copy of exactly its length, so a read past len is
 * caught. */
#include <stdlib.h>
#include <string.h>

#include "protocol/gssapi_frame.h"

#define ASSERT(c) ((c) ? (void)0 : abort())

static int parse_copy(const uint8_t *data, size_t len, struct gssapi_frame *f, size_t *c,
                      uint8_t **copy_out)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	int rc = gssapi_parse_frame(copy, len, f, c);
	ASSERT(rc == PROTO_OK || rc == PROTO_INCOMPLETE || rc == PROTO_BAD_VERSION ||
	       rc == PROTO_MALFORMED);
	ASSERT(rc == PROTO_OK ? *c > 0 && *c <= len : *c == 0);
	if (rc == PROTO_OK && f->mtyp != GSSAPI_MTYP_ABORT)
		ASSERT(f->token == copy + GSSAPI_FRAME_HDR && f->len > 0 &&
		       GSSAPI_FRAME_HDR + (size_t)f->len == *c);
	*copy_out = copy;
	return rc;
}

static void check_one(const uint8_t *data, size_t size, size_t *used)
{
	struct gssapi_frame f, pf;
	size_t c, pc;
	uint8_t *copy, *pcopy;
	int rc = parse_copy(data, size, &f, &c, &copy);
	*used = rc == PROTO_OK ? c : 0;
	size_t cuts[2] = {size / 2, size ? size - 1 : 0};
	for (int i = 0; i < 2; i++) {
		int prc = parse_copy(data, cuts[i], &pf, &pc, &pcopy);
		if (prc != PROTO_INCOMPLETE) {
			ASSERT(prc == rc && pc == c && pf.mtyp == f.mtyp && pf.len == f.len);
		}
		free(pcopy);
	}
	if (rc == PROTO_OK) {
		uint8_t out[GSSAPI_FRAME_HDR];
		if (f.mtyp == GSSAPI_MTYP_ABORT) {
			ASSERT(gssapi_write_abort(out, sizeof(out)) == c);
			ASSERT(memcmp(out, data, c) == 0);
		} else {
			ASSERT(gssapi_write_header(out, sizeof(out), f.mtyp, f.len) ==
			       GSSAPI_FRAME_HDR);
			ASSERT(memcmp(out, data, GSSAPI_FRAME_HDR) == 0);
			ASSERT(memcmp(f.token, data + GSSAPI_FRAME_HDR, f.len) == 0);
			ASSERT(gssapi_level_name(f.token[0]) != NULL);
		}
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, used;
	for (int i = 0; i < 64 && off <= size; i++) {
		check_one(data + off, size - off, &used);
		if (used == 0)
			break;
		off += used;
	}
	return 0;
}

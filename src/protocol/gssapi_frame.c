#include "protocol/gssapi_frame.h"

#include <string.h>

int gssapi_parse_frame(const uint8_t *buf, size_t len, struct gssapi_frame *out, size_t *consumed)
{
	memset(out, 0, sizeof(*out));
	*consumed = 0;
	if (len < 1)
		return PROTO_INCOMPLETE;
	if (buf[0] != GSSAPI_FRAME_VERSION)
		return PROTO_BAD_VERSION;
	if (len < 2)
		return PROTO_INCOMPLETE;
	uint8_t mtyp = buf[1];
	if (mtyp == GSSAPI_MTYP_ABORT) {
		out->mtyp = mtyp;
		*consumed = GSSAPI_ABORT_LEN;
		return PROTO_OK;
	}
	if (mtyp != GSSAPI_MTYP_AUTH && mtyp != GSSAPI_MTYP_PROT && mtyp != GSSAPI_MTYP_ENCAP)
		return PROTO_MALFORMED;
	if (len < GSSAPI_FRAME_HDR)
		return PROTO_INCOMPLETE;
	uint16_t tlen = (uint16_t)((buf[2] << 8) | buf[3]);
	if (tlen == 0)
		return PROTO_MALFORMED;
	if (len - GSSAPI_FRAME_HDR < tlen)
		return PROTO_INCOMPLETE;
	out->mtyp = mtyp;
	out->len = tlen;
	out->token = buf + GSSAPI_FRAME_HDR;
	*consumed = GSSAPI_FRAME_HDR + (size_t)tlen;
	return PROTO_OK;
}

size_t gssapi_write_header(uint8_t *out, size_t cap, uint8_t mtyp, size_t token_len)
{
	if (cap < GSSAPI_FRAME_HDR || token_len == 0 || token_len > GSSAPI_TOKEN_MAX ||
	    mtyp < GSSAPI_MTYP_AUTH || mtyp > GSSAPI_MTYP_ENCAP)
		return 0;
	out[0] = GSSAPI_FRAME_VERSION;
	out[1] = mtyp;
	out[2] = (uint8_t)(token_len >> 8);
	out[3] = (uint8_t)token_len;
	return GSSAPI_FRAME_HDR;
}

size_t gssapi_write_abort(uint8_t *out, size_t cap)
{
	if (cap < GSSAPI_ABORT_LEN)
		return 0;
	out[0] = GSSAPI_FRAME_VERSION;
	out[1] = GSSAPI_MTYP_ABORT;
	return GSSAPI_ABORT_LEN;
}

const char *gssapi_level_name(uint8_t level)
{
	switch (level) {
	case GSSAPI_LEVEL_NONE:
		return "none";
	case GSSAPI_LEVEL_INTEGRITY:
		return "integrity";
	case GSSAPI_LEVEL_CONFIDENTIALITY:
		return "confidentiality";
	case GSSAPI_LEVEL_SELECTIVE:
		return "selective";
	}
	return "unknown";
}

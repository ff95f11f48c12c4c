/*
 * range.h - the Range request header (RFC 9110, section 14) against a
 * representation of known size: the one reading of it that GET /chunks
 * (chunkserver/reader.c) and GET /content (chunkserver/gateway.c) share.
 *
 * For: deciding between 200 (no range, or one we ignore), 206 (one
 * satisfiable range) and 416 (a valid header none of whose ranges is
 * satisfiable).  Not for: multipart/byteranges replies (never sent: a
 * header asking for several ranges is ignored, as RFC 9110 allows), or
 * writing the reply.
 *
 * The rules (docs/PROTOCOL.md, "Ranges"):
 *   - the unit is "bytes", in any case; other units are ignored;
 *   - the range set is a comma list (spaces and tabs around commas, empty
 *     elements allowed) of "a-b", "a-" and "-n"; anything else in it, or
 *     "a-b" with b < a, makes the whole header invalid: ignored (200);
 *   - "a-b"/"a-" is satisfiable when a < size; "-n" when n > 0 and the
 *     size is not 0 (a suffix of an empty representation is satisfiable
 *     in RFC 9110's words but no Content-Range can describe it: the
 *     empty whole is sent, 200); numbers too large for 64 bits count as
 *     the largest number;
 *   - one satisfiable range: 206 for it, its end clipped to the size;
 *   - several ranges, any of them satisfiable: ignored (200);
 *   - no satisfiable range: 416, with Content-Range: bytes * / SIZE.
 */
#ifndef GFS_RANGE_H
#define GFS_RANGE_H

#include <stddef.h>
#include <stdint.h>

/* Room for a Content-Range value. */
#define GFS_RANGE_HDR_MAX 80

enum gfs_range {
	GFS_RANGE_NONE,  /* absent, invalid or ignored: 200, whole */
	GFS_RANGE_OK,    /* one range [*first, *last]: 206 */
	GFS_RANGE_BAD,   /* nothing satisfiable: 416 */
};

/* Read header h (NULL when absent) against size; on GFS_RANGE_OK,
 * [*first, *last] is the range, *last < size. */
enum gfs_range gfs_range_parse(const char *h, uint64_t size, uint64_t *first,
			       uint64_t *last);
/* The Content-Range value of a 206 (r GFS_RANGE_OK: "bytes A-B/SIZE")
 * or of a 416 (GFS_RANGE_BAD: "bytes * / SIZE", no spaces) into buf of
 * GFS_RANGE_HDR_MAX bytes. */
void gfs_range_content_range(char *buf, enum gfs_range r, uint64_t first,
			     uint64_t last, uint64_t size);

#endif

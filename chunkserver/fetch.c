/*
 * fetch.c - GET a chunk from a peer with per-block verification (see
 * fetch.h).
 *
 * Blocks are checked in place in libcurl's buffer when they arrive whole
 * and aligned; only a block split across two pieces is copied into the
 * one 64 KiB staging buffer.  Memory: that buffer and the CRC table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "blockcrc.h"
#include "constants.h"
#include "crc32c.h"
#include "fetch.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "path.h"
#include "util.h"

#define META_TIMEOUT_MS 10000
#define STALL_MS 30000

/* One transfer from one source. */
struct xfer {
	uint64_t length;      /* bytes the sink wants */
	uint64_t src_len;     /* bytes the source has */
	uint32_t *crcs;       /* the source's table, owned */
	uint32_t nblocks;
	uint64_t pos;         /* bytes received */
	char *stage;          /* a block split across pieces, owned */
	size_t fill;          /* bytes of it staged */
	uint64_t delivered;   /* bytes given to the sink */
	gfs_fetch_sink sink;
	void *cls;
	enum gfs_err err;     /* why the transfer stopped */
	char why[96];
};

/* The source's CRC table; GFS_OK fills x->src_len, crcs, nblocks. */
static enum gfs_err get_crcs(const struct gfs_fetch_from *from,
			     const char *src, const char *hex,
			     uint64_t version, struct xfer *x, char *msg,
			     size_t msglen)
{
	char *url = gfs_xasprintf("%s%s/chunks/%s?version=%llu&crcs=1", src,
				  GFS_API, hex, (unsigned long long)version);
	char *sig = gfs_auth_sign(from->auth, "GET", url, NULL, 0);
	const char *hdrs[] = { sig, NULL };
	struct gfs_http_opts o = { .timeout_ms = META_TIMEOUT_MS,
				   .headers = hdrs };
	struct gfs_http_reply r = { 0 };
	struct gfs_http *h;
	enum gfs_err err = gfs_http_pool_get(from->pool, META_TIMEOUT_MS, &h);
	json_t *a;
	size_t i;

	if (!err) {
		err = gfs_http_call(h, "GET", url, &o, &r);
		gfs_http_pool_put(from->pool, h);
	}
	a = r.json ? json_object_get(r.json, "crcs") : NULL;
	free(url);
	free(sig);
	if (!err && (gfs_json_u64(r.json, "length", true, &x->src_len) ||
		     x->src_len > GFS_MAX_CHUNK_SIZE || !json_is_array(a) ||
		     json_array_size(a) != GFS_NBLOCKS(x->src_len)))
		err = GFS_EIO;
	if (err) {
		snprintf(msg, msglen, "%s: %s", src,
			 r.message ? r.message : gfs_err_str(err));
		gfs_http_reply_clear(&r);
		return err;
	}
	x->nblocks = GFS_NBLOCKS(x->src_len);
	x->crcs = gfs_xmalloc(4 * (size_t)GFS_MAX(x->nblocks, 1u));
	for (i = 0; i < x->nblocks; i++)
		x->crcs[i] = (uint32_t)json_integer_value(json_array_get(a, i));
	gfs_http_reply_clear(&r);
	return GFS_OK;
}

/* Block b (whole, len bytes at buf) arrived: check it, pass on the part
 * the sink wants. */
static bool take_block(struct xfer *x, uint32_t b, const char *buf,
		       size_t len)
{
	uint64_t at = (uint64_t)b * GFS_BLOCK_SIZE, want;

	if (gfs_crc32c(0, buf, len) != x->crcs[b]) {
		x->err = GFS_ECORRUPT;
		snprintf(x->why, sizeof(x->why), "block %u arrived corrupt", b);
		return false;
	}
	want = x->length > at ? GFS_MIN((uint64_t)len, x->length - at) : 0;
	if (!want)
		return true;
	x->err = x->sink(x->cls, buf, (size_t)want);
	if (x->err) {
		snprintf(x->why, sizeof(x->why), "could not store it: %s",
			 gfs_err_str(x->err));
		return false;
	}
	x->delivered += want;
	return true;
}

static size_t block_len(const struct xfer *x, uint32_t b)
{
	return (size_t)GFS_MIN((uint64_t)GFS_BLOCK_SIZE,
			       x->src_len - (uint64_t)b * GFS_BLOCK_SIZE);
}

/* libcurl's pieces of the body. */
static bool on_piece(void *cls, const char *buf, size_t len)
{
	struct xfer *x = cls;

	while (len) {
		uint32_t b = (uint32_t)(x->pos / GFS_BLOCK_SIZE);
		size_t blen, n;

		if (b >= x->nblocks) {
			x->err = GFS_EIO;
			snprintf(x->why, sizeof(x->why), "more bytes than the "
				 "chunk has");
			return false;
		}
		blen = block_len(x, b);
		if (!x->fill && len >= blen) {  /* whole, in place */
			if (!take_block(x, b, buf, blen))
				return false;
			n = blen;
		} else {
			n = GFS_MIN(len, blen - x->fill);
			memcpy(x->stage + x->fill, buf, n);
			x->fill += n;
			if (x->fill == blen) {
				x->fill = 0;
				if (!take_block(x, b, x->stage, blen))
					return false;
			}
		}
		x->pos += n;
		buf += n;
		len -= n;
	}
	return true;
}

/* Stream the blocks covering [0, x->length) from src. */
static enum gfs_err get_bytes(const struct gfs_fetch_from *from,
			      const char *src, const char *hex,
			      uint64_t version, struct xfer *x, char *msg,
			      size_t msglen)
{
	uint64_t end = GFS_MIN(x->src_len, (uint64_t)GFS_NBLOCKS(x->length) *
						   GFS_BLOCK_SIZE);
	char *url = gfs_xasprintf("%s%s/chunks/%s?version=%llu", src, GFS_API,
				  hex, (unsigned long long)version);
	char *sig = gfs_auth_sign(from->auth, "GET", url, NULL, 0);
	char range[64];
	const char *hdrs[] = { range, sig, NULL };
	struct gfs_http_reply r = { 0 };
	struct gfs_http *h;
	enum gfs_err err = gfs_http_pool_get(from->pool, META_TIMEOUT_MS, &h);

	snprintf(range, sizeof(range), "Range: bytes=0-%llu",
		 (unsigned long long)(end - 1));
	x->stage = gfs_xmalloc(GFS_BLOCK_SIZE);
	if (!err) {
		err = gfs_http_get_stream(h, url, hdrs, STALL_MS, on_piece, x,
					  &r);
		gfs_http_pool_put(from->pool, h);
	}
	free(url);
	free(sig);
	if (x->err)
		err = x->err;
	else if (!err && x->pos != end)
		err = GFS_EIO;
	if (err)
		snprintf(msg, msglen, "%s: %s", src,
			 x->why[0] ? x->why
				   : r.message ? r.message
					       : x->pos != end ? "short reply"
							       : gfs_err_str(err));
	gfs_http_reply_clear(&r);
	return err;
}

static enum gfs_err from_source(const struct gfs_fetch_from *from,
				const char *src, const char *hex,
				uint64_t version, struct xfer *x, char *msg,
				size_t msglen)
{
	enum gfs_err err = get_crcs(from, src, hex, version, x, msg, msglen);

	if (err)
		return err;
	if (x->length == UINT64_MAX)
		x->length = x->src_len;
	if (x->length > x->src_len) {
		snprintf(msg, msglen, "%s: has %llu bytes, %llu wanted", src,
			 (unsigned long long)x->src_len,
			 (unsigned long long)x->length);
		return GFS_EIO;
	}
	return x->length ? get_bytes(from, src, hex, version, x, msg, msglen)
			 : GFS_OK;
}

/* What to say when every source failed: what an answering source said
 * (another version, then absent, then corrupt) beats not answering. */
static int rank(enum gfs_err err)
{
	return err == GFS_ESTALE ? 4 : err == GFS_ENOENT ? 3
	       : err == GFS_ECORRUPT ? 2 : 1;
}

enum gfs_err gfs_fetch_chunk(const struct gfs_fetch_from *from,
			     const char *const *sources, size_t n,
			     uint64_t handle, uint64_t version,
			     uint64_t length, gfs_fetch_sink sink, void *cls,
			     char *msg, size_t msglen)
{
	enum gfs_err err = GFS_ENOENT, best = GFS_ENOENT;
	char hex[17];
	size_t i;

	gfs_handle_fmt(handle, hex);
	snprintf(msg, msglen, "no source for chunk %s", hex);
	for (i = 0; i < n; i++) {
		struct xfer x = { .length = length, .sink = sink, .cls = cls };

		err = from_source(from, sources[i], hex, version, &x, msg,
				  msglen);
		free(x.crcs);
		free(x.stage);
		if (!err || x.delivered)
			return err;  /* done, or too late for another */
		gfs_info("fetch of chunk %s v%llu: %s", hex,
			 (unsigned long long)version, msg);
		if (rank(err) > rank(best) || i == 0)
			best = err;
	}
	return best;
}

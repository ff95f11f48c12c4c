/*
 * reader.c - GET /chunks/HANDLE (see reader.h).
 *
 * Cheap reads: the chunk's view (open fd + CRC table) comes from the
 * store's cache, so a read of a recently used chunk costs no open(2) and
 * no meta read.  A range of up to READ_WHOLE_MAX (a FUSE read) is checked
 * in small steps through a buffer that stays in the CPU cache, then sent
 * from the file with sendfile(2): the bytes in [0, length) of a committed
 * chunk's file never change (writes go past the end or to a copy renamed
 * over it, chunkwrite.c), so what is sent is what was checked.  Longer
 * ranges stream: blocks are read with one pread straight into
 * libmicrohttpd's buffer and checked in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockcrc.h"
#include "chunkserver.h"
#include "chunkstore.h"
#include "constants.h"
#include "json.h"
#include "path.h"
#include "range.h"
#include "reader.h"
#include "util.h"

/* Ranges up to this are checked whole before the reply starts. */
#define READ_WHOLE_MAX (4u << 20)
/* Streams are produced in steps of this (libmicrohttpd's buffer). */
#define STREAM_STEP (1u << 20)
/* Streams ask the kernel for the bytes this far ahead, in steps of
 * PREFETCH_STEP: without it a cold 1 GiB GET took 0.85-3.7 s, with it
 * 0.97-1.21 s (dd: 0.8 s; docs/CHUNKSERVER.md, "Performance"). */
#define PREFETCH_AHEAD (32u << 20)
#define PREFETCH_STEP (8u << 20)

/* The reply for a chunkstore error about handle: corruption as such, a
 * local failure with its errno (the replica is kept: try another). */
static void reply_store_error(struct gfs_req *req, enum gfs_err err,
			      uint64_t handle)
{
	int e = errno;
	char hex[17];

	gfs_handle_fmt(handle, hex);
	if (err == GFS_ECORRUPT)
		gfs_reply_error(req, err, "chunk %s failed its checksum", hex);
	else if (err == GFS_EIO || err == GFS_EUNAVAIL)
		gfs_reply_error(req, err, "chunk %s cannot be read here now: "
				"%s", hex, strerror(e));
	else
		gfs_reply_error(req, err, "chunk %s", hex);
}

/* The view of handle, checked against ?version=; replies on failure. */
static struct gfs_chunk_view *open_view(struct gfs_req *req,
					struct gfs_chunkserver *cs,
					uint64_t handle)
{
	struct gfs_chunk_view *v;
	uint64_t want = 0;
	enum gfs_err err;
	char hex[17];

	gfs_handle_fmt(handle, hex);
	if (gfs_req_arg_u64(req, "version", 0, &want)) {
		gfs_reply_error(req, GFS_EINVAL, "version must be a number");
		return NULL;
	}
	err = gfs_chunkstore_get_view(cs->store, handle, false, &v);
	if (err) {
		reply_store_error(req, err, handle);
		return NULL;
	}
	if (want && v->version != want) {
		gfs_reply_error(req, GFS_ESTALE, "chunk %s is at version %llu",
				hex, (unsigned long long)v->version);
		gfs_chunkstore_put_view(cs->store, v);
		return NULL;
	}
	return v;
}

/* [a, a+len) checked whole, then sent from the file (sendfile). */
static void reply_whole(struct gfs_req *req, struct gfs_chunkserver *cs,
			struct gfs_chunk_view *v, uint64_t a, uint64_t len,
			unsigned status)
{
	uint32_t first = (uint32_t)(a / GFS_BLOCK_SIZE);
	uint32_t last = (uint32_t)((a + len - 1) / GFS_BLOCK_SIZE);
	enum gfs_err err;

	if (!len) {
		gfs_reply_bytes(req, status, "application/octet-stream",
				NULL, 0, false);
		return;
	}
	err = gfs_chunkstore_check_blocks(cs->store, v, first,
					  last - first + 1);
	if (err) {
		reply_store_error(req, err, v->handle);
		return;
	}
	atomic_fetch_add(&cs->counters.get_bytes, len);
	gfs_reply_fd(req, status, "application/octet-stream", v->fd,
		     v->base + a, len);
}

/* A long range being streamed. */
struct stream {
	struct gfs_chunkserver *cs;  /* borrowed */
	struct gfs_chunk_view *v;    /* a reference */
	uint64_t start, end;         /* chunk bytes [start, end) */
	uint64_t hinted;             /* WILLNEED given up to here */
	char *bounce;                /* one block, for unaligned edges */
};

/* Keep the disk PREFETCH_AHEAD ahead of position c: the kernel's own
 * read-ahead alone lets a send-bound reader wait on every window. */
static void prefetch(struct stream *s, uint64_t c)
{
	uint64_t to = GFS_MIN(c + PREFETCH_AHEAD, s->end);

	if (to <= s->hinted || to - s->hinted < PREFETCH_STEP / 2)
		return;
	if (to - s->hinted < PREFETCH_STEP && to < s->end)
		return;
	posix_fadvise(s->v->fd, (off_t)(s->v->base + s->hinted),
		      (off_t)(to - s->hinted),
		      POSIX_FADV_WILLNEED);
	s->hinted = to;
}

/* Whole blocks at c (aligned) straight into buf; 0 when none fits. */
static ssize_t read_direct(struct stream *s, uint64_t c, char *buf,
			   size_t max)
{
	uint64_t avail = s->end - c;
	uint32_t k = (uint32_t)(GFS_MIN((uint64_t)max, avail) /
				GFS_BLOCK_SIZE);
	size_t got;

	if (!k && s->end == s->v->length && avail <= max)
		k = 1; /* the chunk's short last block */
	if (!k)
		return 0;
	if (gfs_chunkstore_read_blocks(s->cs->store, s->v,
				       (uint32_t)(c / GFS_BLOCK_SIZE), k, buf,
				       &got))
		return -2;
	return (ssize_t)got;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	uint64_t c = s->start + pos, off;
	uint32_t b = (uint32_t)(c / GFS_BLOCK_SIZE);
	ssize_t n = 0;
	size_t got;

	if (c >= s->end)
		return -1;
	prefetch(s, c);
	if (c % GFS_BLOCK_SIZE == 0)
		n = read_direct(s, c, buf, max);
	if (!n) {  /* an edge: read its block aside, send the part wanted */
		if (gfs_chunkstore_read_blocks(s->cs->store, s->v, b, 1,
					       s->bounce, &got))
			return -2;
		off = c - (uint64_t)b * GFS_BLOCK_SIZE;
		n = (ssize_t)GFS_MIN(GFS_MIN((uint64_t)max, got - off),
				     s->end - c);
		memcpy(buf, s->bounce + off, (size_t)n);
	}
	if (n > 0)
		atomic_fetch_add(&s->cs->counters.get_bytes, (uint64_t)n);
	return n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;

	gfs_chunkstore_put_view(s->cs->store, s->v);
	free(s->bounce);
	free(s);
}

/* Takes the reference to v. */
static void reply_stream(struct gfs_req *req, struct gfs_chunkserver *cs,
			 struct gfs_chunk_view *v, uint64_t a, uint64_t len,
			 unsigned status)
{
	struct stream *s = gfs_xcalloc(1, sizeof(*s));

	s->cs = cs;
	s->v = v;
	s->start = s->hinted = a;
	s->end = a + len;
	s->bounce = gfs_xmalloc(GFS_BLOCK_SIZE);
	gfs_reply_stream(req, status, "application/octet-stream", len,
			 STREAM_STEP, stream_read, s, stream_free);
}

void gfs_reader_get(struct gfs_req *req, struct gfs_chunkserver *cs,
		    uint64_t handle)
{
	struct gfs_chunk_view *v = open_view(req, cs, handle);
	uint64_t a = 0, b = 0, len = 0;
	unsigned status = 200;
	char hdr[GFS_RANGE_HDR_MAX];
	enum gfs_range r;

	if (!v)
		return;
	r = gfs_range_parse(gfs_req_header(req, "Range"), v->length, &a, &b);
	if (r != GFS_RANGE_NONE) {
		gfs_range_content_range(hdr, r, a, b, v->length);
		gfs_reply_header(req, "Content-Range", hdr);
	}
	switch (r) {
	case GFS_RANGE_BAD:
		gfs_reply_error(req, GFS_ERANGE, "chunk has %llu bytes",
				(unsigned long long)v->length);
		gfs_chunkstore_put_view(cs->store, v);
		return;
	case GFS_RANGE_OK:
		status = 206;
		len = b - a + 1;
		break;
	case GFS_RANGE_NONE:
		len = v->length;
		break;
	}
	atomic_fetch_add(&cs->counters.gets, 1);
	snprintf(hdr, sizeof(hdr), "%llu", (unsigned long long)v->version);
	gfs_reply_header(req, "X-GFS-Version", hdr);
	gfs_reply_header(req, "Accept-Ranges", "bytes");
	if (len <= READ_WHOLE_MAX) {
		reply_whole(req, cs, v, a, len, status);
		gfs_chunkstore_put_view(cs->store, v);
		return;
	}
	reply_stream(req, cs, v, a, len, status);
}

void gfs_reader_crcs(struct gfs_req *req, struct gfs_chunkserver *cs,
		     uint64_t handle)
{
	struct gfs_chunk_view *v = open_view(req, cs, handle);
	json_t *a;
	uint32_t i;

	if (!v)
		return;
	a = json_array();
	for (i = 0; i < v->nblocks; i++)
		json_array_append_new(a, json_integer(v->crcs[i]));
	gfs_reply_json(req, 200, json_pack("{s:o, s:I, s:I, s:i, s:o}",
					   "handle",
					   gfs_json_handle_new(v->handle),
					   "version", (json_int_t)v->version,
					   "length", (json_int_t)v->length,
					   "block_size", GFS_BLOCK_SIZE, "crcs",
					   a));
	gfs_chunkstore_put_view(cs->store, v);
}

/*
 * gateway.c - /content: whole files over plain HTTP, for curl -L users.
 *
 * The master answers /content with a 307 to a live chunkserver, which
 * serves the request here as a client of the cluster: a GET streams the
 * file out of gfs_file_pread() into libmicrohttpd's buffer; a PUT streams
 * the body into gfs_file_pwrite() and commits at the end, so a transfer
 * cut short leaves the previous contents as they were, and no new file.  Memory per request
 * is constant.  The caller's key (Authorization: Bearer) and
 * X-GFS-Client are the identity used with the master, so keys, prefixes
 * and leases apply exactly as they would to the caller; the gateway never
 * acts with the cluster secret for anyone, and reads and writes chunks
 * with the tokens the master gave that key.
 *
 * Invariant: a GET commits to 200/206 only once it knows it can send
 * bytes: every chunk of the range has a replica (gfs_file_readable) and
 * the first HEAD_BYTES were read.  Otherwise the status is the error
 * (502, 503...), never a 200 with a Content-Length and then no body.  A
 * replica failing later, mid-stream, still cuts the connection (the
 * client sees a short body): a status cannot be taken back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "json.h"
#include "log.h"
#include "range.h"
#include "util.h"

#define GET_BLOCK (1u << 20)
/* Bytes of a GET read before its status is sent. */
#define HEAD_BYTES (64u << 10)

struct gfs_gateway {
	struct gfs_client *client; /* shared connections and primary */
};

/* One transfer. */
struct transfer {
	struct gfs_client *as;   /* a view acting as the caller, owned */
	struct gfs_file *f;      /* owned until closed or aborted */
	uint64_t start;          /* first byte (GET ranges) */
	uint64_t off;            /* PUT: bytes written so far */
	char *head;              /* GET: its first bytes, read before the
				  * status; owned, or NULL */
	size_t nhead;            /* bytes in head */
};

struct gfs_gateway *gfs_gateway_new(const char *masters, const char *ca_file)
{
	struct gfs_client_conf cc = { .masters = masters, .max_conns = 64,
				      .ca_file = ca_file };
	struct gfs_gateway *gw = gfs_xcalloc(1, sizeof(*gw));

	gw->client = gfs_client_new(&cc);
	if (!gw->client) {
		free(gw);
		return NULL;
	}
	return gw;
}

void gfs_gateway_free(struct gfs_gateway *gw)
{
	if (!gw)
		return;
	gfs_client_free(gw->client);
	free(gw);
}

static struct transfer *transfer_new(struct gfs_req *req,
				     struct gfs_gateway *gw)
{
	struct transfer *t = gfs_xcalloc(1, sizeof(*t));
	const char *key = gfs_req_header(req, "Authorization");

	if (key && !strncmp(key, "Bearer ", 7))
		key += 7;
	else
		key = NULL;
	t->as = gfs_client_as(gw->client, gfs_req_header(req, "X-GFS-Client"),
			      key);
	return t;
}

static void transfer_free(void *cls)
{
	struct transfer *t = cls;

	if (!t)
		return;
	gfs_file_abort(t->f);
	gfs_client_free(t->as);
	free(t->head);
	free(t);
}

static void reply_failure(struct gfs_req *req, enum gfs_err err)
{
	const char *msg = gfs_client_last_error();

	gfs_reply_error(req, err, "%s", *msg ? msg : "");
}

static ssize_t get_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct transfer *t = cls;
	size_t got = 0;
	enum gfs_err err;

	if (pos < t->nhead) {
		got = GFS_MIN(max, t->nhead - (size_t)pos);
		memcpy(buf, t->head + pos, got);
		return (ssize_t)got;
	}
	err = gfs_file_pread(t->f, buf, max, t->start + pos, &got);
	if (err) {
		gfs_warn("gateway: read failed at %llu: %s",
			 (unsigned long long)(t->start + pos),
			 gfs_err_str(err));
		return -2; /* cut the connection: the client sees a short body */
	}
	return got ? (ssize_t)got : -1;
}

/* Before any status: every chunk of [start, start + len) has a replica,
 * and the first bytes are read into t->head. */
static enum gfs_err read_head(struct transfer *t, uint64_t len)
{
	size_t want = (size_t)GFS_MIN(len, (uint64_t)HEAD_BYTES);
	enum gfs_err err = gfs_file_readable(t->f, t->start, len);

	if (err || !want)
		return err;
	t->head = gfs_xmalloc(want);
	return gfs_file_pread(t->f, t->head, want, t->start, &t->nhead);
}

void gfs_gateway_get(struct gfs_req *req, struct gfs_gateway *gw)
{
	struct transfer *t = transfer_new(req, gw);
	uint64_t size, a = 0, b = 0, len;
	char cr[GFS_RANGE_HDR_MAX];
	enum gfs_range r;
	enum gfs_err err;

	err = gfs_file_open(t->as, req->path, 0, 0, &t->f);
	if (err)
		goto out_fail;
	size = gfs_file_size(t->f);
	r = gfs_range_parse(gfs_req_header(req, "Range"), size, &a, &b);
	if (r != GFS_RANGE_NONE) {
		gfs_range_content_range(cr, r, a, b, size);
		gfs_reply_header(req, "Content-Range", cr);
	}
	if (r == GFS_RANGE_BAD) {
		gfs_reply_error(req, GFS_ERANGE, "file has %llu bytes",
				(unsigned long long)size);
		transfer_free(t);
		return;
	}
	t->start = a;
	len = r == GFS_RANGE_OK ? b - a + 1 : size;
	err = read_head(t, len);
	if (err)
		goto out_fail;
	gfs_reply_stream(req, r == GFS_RANGE_OK ? 206 : 200,
			 "application/octet-stream", len, GET_BLOCK, get_read, t,
			 transfer_free);
	gfs_reply_header(req, "Accept-Ranges", "bytes");
	return;
out_fail:
	reply_failure(req, err);
	transfer_free(t);
}

void gfs_gateway_put_begin(struct gfs_req *req, struct gfs_gateway *gw)
{
	struct transfer *t = transfer_new(req, gw);
	enum gfs_err err;

	req->ctx = t;
	/* a new file appears only when the whole body is in (hidden until
	 * the commit); a cut transfer leaves nothing, or the old file */
	err = gfs_file_open(t->as, req->path,
			    GFS_O_WRITE | GFS_O_CREAT | GFS_O_TRUNC |
				    GFS_O_HIDDEN, 0644, &t->f);
	if (err)
		reply_failure(req, err);
}

void gfs_gateway_put_data(struct gfs_req *req, const char *buf, size_t len)
{
	struct transfer *t = req->ctx;
	enum gfs_err err = gfs_file_pwrite(t->f, buf, len, t->off);

	if (err) {
		reply_failure(req, err);
		return;
	}
	t->off += len;
}

void gfs_gateway_put_end(struct gfs_req *req)
{
	struct transfer *t = req->ctx;
	enum gfs_err err = gfs_file_close(t->f);

	t->f = NULL;
	if (err) {
		reply_failure(req, err);
		return;
	}
	gfs_info("gateway: stored %s (%llu bytes)", req->path,
		 (unsigned long long)t->off);
	gfs_reply_json(req, 201, json_pack("{s:s, s:I}", "path", req->path,
					   "size", (json_int_t)t->off));
}

void gfs_gateway_put_done(struct gfs_req *req)
{
	transfer_free(req->ctx);
	req->ctx = NULL;
}

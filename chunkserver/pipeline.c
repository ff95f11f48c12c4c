/*
 * pipeline.c - PUT /chunks/HANDLE with forwarding (see pipeline.h).
 *
 * Order of work per request:
 *   begin: parse; open the upload to the next replica (its request head
 *          goes out now, so both servers prepare at once); begin the local
 *          write (version check, wait for another writer, clone); a local
 *          refusal is the reply and the upload is cut.
 *   data:  push to the next replica (gfs_upload_push: the bytes are in
 *          curl's buffer or the socket when it returns, and no reply is
 *          waited for), then pwrite + CRC here.  A replica
 *          that fails is dropped from the pipe and reported; the write here
 *          goes on.
 *   end:   end the upload's body (the next replica starts its fsync),
 *          commit here (fsync), then wait for the next replica's reply.
 *   done:  whatever happened, free; an uncommitted write is rolled back
 *          and an unfinished upload is cut (gfs_upload_abort), so that no
 *          replica records a body its sender did not finish.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "chunkserver.h"
#include "chunkstore.h"
#include "chunkwrite.h"
#include "constants.h"
#include "fetch.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "path.h"
#include "pipeline.h"
#include "urllist.h"
#include "util.h"

#define MAX_CHAIN 8          /* replicas after this one */
#define MAX_SOURCES 16       /* clone sources */
#define WAIT_BUSY_MS 30000   /* for an earlier write to the same chunk */
#define STALL_MS 30000       /* the next replica taking no byte */

/* One PUT in progress. */
struct put {
	struct gfs_chunkserver *cs;      /* borrowed */
	struct gfs_chunkwrite_args args;
	char hex[17];
	struct gfs_chunkwrite *w;        /* owned */
	struct gfs_upload *up;           /* to the next replica, owned while
					  * it takes bytes */
	struct gfs_http *h;              /* borrowed from cs->http for up */
	char **chain;                    /* X-GFS-Forward URLs, owned */
	size_t nchain;
	char **sources;                  /* X-GFS-Clone-Sources, owned */
	size_t nsources;
	json_t *replicas;                /* new reference */
	json_t *failed;                  /* new reference */
	char fetch_msg[200];             /* why a clone fetch failed */
	int64_t start_us;                /* monotonic, at begin */
};

/* --- parsing ------------------------------------------------------------ */

static enum gfs_err parse_clone(struct gfs_req *req, struct put *p)
{
	struct gfs_chunkwrite_args *a = &p->args;
	const char *clone = NULL;

	if (gfs_req_arg(req, "clone", &clone))
		return GFS_EINVAL;
	if (!clone)
		return GFS_OK;
	a->clone = true;
	if (!gfs_handle_parse(clone, &a->clone_handle) ||
	    gfs_req_arg_u64(req, "clone_version", 0, &a->clone_version) ||
	    !a->clone_version ||
	    gfs_req_arg_u64(req, "clone_length", UINT64_MAX,
			    &a->clone_length) ||
	    !a->clone_length)
		return GFS_EINVAL;
	return GFS_OK;
}

/* The body size: Content-Length, or -1 for a chunked body. */
static int64_t body_size(struct gfs_req *req)
{
	const char *cl = gfs_req_header(req, "Content-Length");
	uint64_t n;

	if (cl && gfs_parse_u64(cl, &n) && n <= INT64_MAX)
		return (int64_t)n;
	return -1;
}

static enum gfs_err parse_put(struct gfs_req *req, struct put *p,
			      const char **why)
{
	struct gfs_chunkwrite_args *a = &p->args;

	*why = "not a chunk handle (16 hex digits)";
	if (!req->path || !gfs_handle_parse(req->path + 1, &a->handle))
		return GFS_EINVAL;
	gfs_handle_fmt(a->handle, p->hex);
	*why = "version (>= 1) and offset must be decimal numbers";
	if (gfs_req_arg_u64(req, "version", 0, &a->version) || !a->version ||
	    gfs_req_arg_u64(req, "offset", 0, &a->offset))
		return GFS_EINVAL;
	*why = "clone needs a handle, clone_version >= 1, clone_length >= 1";
	if (parse_clone(req, p))
		return GFS_EINVAL;
	a->size = body_size(req);
	*why = "a chunk ends at 1 GiB";
	if (a->offset > GFS_MAX_CHUNK_SIZE ||
	    (a->size > 0 &&
	     (uint64_t)a->size > GFS_MAX_CHUNK_SIZE - a->offset))
		return GFS_ETOOBIG;
	*why = "X-GFS-Forward must list at most 8 http(s):// URLs";
	p->chain = gfs_urllist_split(gfs_req_header(req, GFS_HDR_FORWARD),
				     MAX_CHAIN, &p->nchain);
	if (!p->chain)
		return GFS_EINVAL;
	*why = "X-GFS-Clone-Sources must list at most 16 http(s):// URLs";
	p->sources = gfs_urllist_split(
		gfs_req_header(req, "X-GFS-Clone-Sources"), MAX_SOURCES,
		&p->nsources);
	if (!p->sources)
		return GFS_EINVAL;
	return GFS_OK;
}

/* --- downstream --------------------------------------------------------- */

/* The next replica failed (why): it and the ones after it are reported. */
static void downstream_failed(struct put *p, const char *why)
{
	size_t i;

	gfs_warn("chunk %s v%llu: forward to %s failed: %s", p->hex,
		 (unsigned long long)p->args.version, p->chain[0], why);
	json_array_append_new(p->failed, json_pack("{s:s, s:s}", "url",
						   p->chain[0], "error", why));
	for (i = 1; i < p->nchain; i++) {
		char *e = gfs_xasprintf("not reached: %s failed", p->chain[0]);

		json_array_append_new(p->failed,
				      json_pack("{s:s, s:s}", "url",
						p->chain[i], "error", e));
		free(e);
	}
	atomic_fetch_add(&p->cs->counters.forward_failures, p->nchain);
}

/* Collect the next replica's reply (it has failed, or its body is
 * complete) and drop the upload. */
static void collect_downstream(struct put *p)
{
	struct gfs_http_reply r;
	enum gfs_err err;
	json_t *v;
	size_t i;

	err = gfs_upload_finish(p->up, &r);
	gfs_http_pool_put(p->cs->http, p->h);
	p->up = NULL;
	if (err) {
		downstream_failed(p, r.message ? r.message : gfs_err_str(err));
		gfs_http_reply_clear(&r);
		return;
	}
	json_array_foreach(json_object_get(r.json, "replicas"), i, v)
		if (json_is_string(v))
			json_array_append(p->replicas, v);
	json_array_foreach(json_object_get(r.json, "failed"), i, v)
		if (json_is_object(v))
			json_array_append(p->failed, v);
	gfs_http_reply_clear(&r);
}

/* Cut the upload mid-body: the next replica sees a broken request. */
static void abort_downstream(struct put *p)
{
	if (!p->up)
		return;
	gfs_upload_abort(p->up);
	gfs_http_pool_put(p->cs->http, p->h);
	p->up = NULL;
}

/* The same request for the next replica: canonical query from what was
 * parsed, so nothing unchecked is passed on. */
static char *forward_url(const struct put *p)
{
	const struct gfs_chunkwrite_args *a = &p->args;
	char clone[96] = "", ch[17];

	if (a->clone) {
		gfs_handle_fmt(a->clone_handle, ch);
		snprintf(clone, sizeof(clone), "&clone=%s&clone_version=%llu",
			 ch, (unsigned long long)a->clone_version);
		if (a->clone_length != UINT64_MAX)
			snprintf(clone + strlen(clone),
				 sizeof(clone) - strlen(clone),
				 "&clone_length=%llu",
				 (unsigned long long)a->clone_length);
	}
	return gfs_xasprintf("%s%s/chunks/%s?version=%llu&offset=%llu%s",
			     p->chain[0], GFS_API, p->hex,
			     (unsigned long long)a->version,
			     (unsigned long long)a->offset, clone);
}

/* Open the upload to the next replica; its head goes out while this
 * server prepares its own write. */
static void start_forward(struct gfs_req *req, struct put *p)
{
	char *url, *rest, *hfwd = NULL, *hsrc = NULL, *hcli = NULL;
	char *htok = NULL, *hctok = NULL;
	const char *hdrs[7], *v;
	int n = 0;

	if (!p->nchain)
		return;
	if (!strcmp(p->chain[0], p->cs->url)) {
		downstream_failed(p, "forward loop: that is this server");
		return;
	}
	url = forward_url(p);
	rest = gfs_urllist_join(p->chain, 1);
	if (*rest)
		hdrs[n++] = hfwd = gfs_xasprintf("%s: %s", GFS_HDR_FORWARD,
						 rest);
	if (p->nsources) {
		char *s = gfs_urllist_join(p->sources, 0);

		hdrs[n++] = hsrc = gfs_xasprintf("X-GFS-Clone-Sources: %s", s);
		free(s);
	}
	v = gfs_req_header(req, GFS_HDR_CLIENT);
	if (v && strlen(v) < 256)
		hdrs[n++] = hcli = gfs_xasprintf("%s: %s", GFS_HDR_CLIENT, v);
	/* the client's tokens go on (checked here already): the next
	 * replica checks them too, and the secret never leaves for a URL
	 * the client named */
	v = gfs_req_header(req, GFS_HDR_TOKEN);
	if (v && strlen(v) < GFS_TOKEN_MAX)
		hdrs[n++] = htok = gfs_xasprintf("%s: %s", GFS_HDR_TOKEN, v);
	v = gfs_req_header(req, GFS_HDR_CLONE_TOKEN);
	if (v && strlen(v) < GFS_TOKEN_MAX)
		hdrs[n++] = hctok = gfs_xasprintf("%s: %s",
						  GFS_HDR_CLONE_TOKEN, v);
	hdrs[n++] = "Content-Type: application/octet-stream";
	hdrs[n] = NULL;
	p->h = gfs_http_pool_hold(p->cs->http); /* held for the whole PUT */
	if (gfs_upload_start(&p->up, p->h, "PUT", url, hdrs, p->args.size,
			     STALL_MS)) {
		gfs_http_pool_put(p->cs->http, p->h);
		p->up = NULL;
		downstream_failed(p, "cannot start the upload");
	}
	free(url);
	free(rest);
	free(hfwd);
	free(hsrc);
	free(hcli);
	free(htok);
	free(hctok);
}

/* --- the clone base from elsewhere -------------------------------------- */

static enum gfs_err base_sink(void *cls, const void *buf, size_t len)
{
	return gfs_chunkwrite_base(cls, buf, len);
}

static enum gfs_err fetch_clone(void *cls, uint64_t handle, uint64_t version,
				uint64_t length, struct gfs_chunkwrite *w)
{
	struct put *p = cls;
	struct gfs_fetch_from from = { p->cs->http, p->cs->auth };

	return gfs_fetch_chunk(&from, (const char *const *)p->sources,
			       p->nsources, handle, version, length, base_sink,
			       w, p->fetch_msg, sizeof(p->fetch_msg));
}

/* --- the stream callbacks ------------------------------------------------ */

void gfs_pipeline_begin(struct gfs_req *req)
{
	struct put *p = gfs_xcalloc(1, sizeof(*p));
	const char *why;
	enum gfs_err err;
	char msg[200];

	req->ctx = p;
	p->start_us = gfs_mono_us();
	p->cs = req->app;
	p->replicas = json_pack("[s]", p->cs->url);
	p->failed = json_array();
	err = parse_put(req, p, &why);
	if (err) {
		gfs_reply_error(req, err, "%s", why);
		return;
	}
	start_forward(req, p);
	p->args.wait_ms = WAIT_BUSY_MS;
	if (p->nsources) {
		p->args.fetch = fetch_clone;
		p->args.fetch_cls = p;
	}
	err = gfs_chunkwrite_begin(p->cs->store, &p->args, &p->w, msg,
				   sizeof(msg));
	if (err)
		gfs_reply_error(req, err, "chunk %s: %s", p->hex,
				p->fetch_msg[0] ? p->fetch_msg : msg);
}

void gfs_pipeline_data(struct gfs_req *req, const char *buf, size_t len)
{
	struct put *p = req->ctx;
	enum gfs_err err;

	if (p->up) {
		if (gfs_upload_push(p->up, buf, len))
			collect_downstream(p); /* it answered early, or died */
		else
			atomic_fetch_add(&p->cs->counters.forward_bytes, len);
	}
	err = gfs_chunkwrite_data(p->w, buf, len);
	if (err)
		gfs_reply_error(req, err, "chunk %s: %s", p->hex,
				gfs_chunkwrite_error(p->w));
}

/* --log-level debug: where a PUT's time went, in microseconds from its
 * begin: t[0] the end of its body, t[1] the body's end sent downstream,
 * t[2] the local commit (fsync) done, t[3] the downstream reply in
 * (docs/PERFORMANCE.md reads these lines). */
static void log_time(const struct put *p, const int64_t t[4])
{
	gfs_log(GFS_LOG_DEBUG,
		"time put %s forward=%zu body=%lldus end=%lldus commit=%lldus "
		"downstream=%lldus",
		p->hex, p->nchain, (long long)(t[0] - p->start_us),
		(long long)(t[1] - t[0]), (long long)(t[2] - t[1]),
		(long long)(t[3] - t[2]));
}

/* The latencies of a local write whose commit began at t0 and ended at
 * t1 (us). */
static void count_write(struct put *p, int64_t t0, int64_t t1)
{
	gfs_histo_observe(&p->cs->counters.commit_us, (uint64_t)(t1 - t0));
	gfs_histo_observe(&p->cs->counters.write_us,
			  (uint64_t)(t1 - p->start_us));
}

void gfs_pipeline_end(struct gfs_req *req)
{
	struct put *p = req->ctx;
	uint64_t length = 0;
	enum gfs_err err;
	bool timed = gfs_log_enabled(GFS_LOG_DEBUG);
	int64_t t[4] = { 0 };

	if (timed)
		t[0] = gfs_mono_us();
	if (p->up)
		gfs_upload_end(p->up); /* a failure shows in its reply */
	t[1] = gfs_mono_us();
	err = gfs_chunkwrite_commit(p->w, &length);
	t[2] = gfs_mono_us();
	count_write(p, t[1], t[2]);
	if (err) {
		gfs_reply_error(req, err, "chunk %s: %s", p->hex,
				gfs_chunkwrite_error(p->w));
		return;
	}
	atomic_fetch_add(&p->cs->counters.puts, 1);
	atomic_fetch_add(&p->cs->counters.put_bytes,
			 gfs_chunkwrite_received(p->w));
	if (p->up)
		collect_downstream(p);
	if (timed) {
		t[3] = gfs_mono_us();
		log_time(p, t);
	}
	gfs_reply_json(req, 200, json_pack("{s:s, s:I, s:I, s:O, s:O}",
					   "handle", p->hex, "version",
					   (json_int_t)p->args.version,
					   "length", (json_int_t)length,
					   "replicas", p->replicas, "failed",
					   p->failed));
}

void gfs_pipeline_done(struct gfs_req *req)
{
	struct put *p = req->ctx;

	if (!p)
		return;
	abort_downstream(p);
	gfs_chunkwrite_free(p->w);
	gfs_urllist_free(p->chain);
	gfs_urllist_free(p->sources);
	json_decref(p->replicas);
	json_decref(p->failed);
	free(p);
	req->ctx = NULL;
}

/*
 * routes.c - the chunkserver's whole HTTP API in one table, and the thin
 * handlers behind it: each parses what the URL carries, calls one module,
 * replies.  Chunk handles are only ever taken through gfs_handle_parse().
 *
 * Not for: what the handlers do (pipeline.c, reader.c, chunkstore.c,
 * gateway.c, masterconn.c).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkserver.h"
#include "chunkstore.h"
#include "constants.h"
#include "gateway.h"
#include "httpd.h"
#include "json.h"
#include "masterconn.h"
#include "path.h"
#include "pipeline.h"
#include "reader.h"
#include "replicate.h"
#include "routes.h"
#include "scrub.h"
#include "util.h"

#define DELETE_WAIT_MS 5000

/* The chunk handle of /chunks/HANDLE, or a 400. */
static bool chunk_handle(struct gfs_req *req, uint64_t *h)
{
	if (req->path && gfs_handle_parse(req->path + 1, h))
		return true;
	gfs_reply_error(req, GFS_EINVAL, "not a chunk handle (16 hex digits)");
	return false;
}

/* GET /chunks/HANDLE[?version=V], Range honoured. */
static void get_chunk(struct gfs_req *req)
{
	uint64_t h;

	if (chunk_handle(req, &h))
		gfs_reader_get(req, req->app, h);
}

/* GET /chunks/HANDLE?crcs=1 (ext): the CRC table, for peers copying. */
static void get_chunk_crcs(struct gfs_req *req)
{
	uint64_t h;

	if (chunk_handle(req, &h))
		gfs_reader_crcs(req, req->app, h);
}

/* DELETE /chunks/HANDLE. */
static void delete_chunk(struct gfs_req *req)
{
	struct gfs_chunkserver *cs = req->app;
	enum gfs_err err;
	uint64_t h;

	if (!chunk_handle(req, &h))
		return;
	err = gfs_chunkstore_delete(cs->store, h, DELETE_WAIT_MS);
	if (err)
		gfs_reply_error(req, err, "%s", err == GFS_ESTALE
				? "the chunk is being written" : req->path + 1);
	else
		gfs_reply_json(req, 200, json_object());
}

/* PUT /chunks/HANDLE: pipeline.c. */
static const struct gfs_stream_ops put_chunk_ops = {
	.begin = gfs_pipeline_begin,
	.data = gfs_pipeline_data,
	.end = gfs_pipeline_end,
	.done = gfs_pipeline_done,
};

/* GET /content/PATH: gateway.c. */
static void get_content(struct gfs_req *req)
{
	struct gfs_chunkserver *cs = req->app;

	if (!cs->gateway)
		gfs_reply_error(req, GFS_EUNAVAIL, "gateway not available");
	else
		gfs_gateway_get(req, cs->gateway);
}

/* PUT /content/PATH: gateway.c, streamed. */
static void put_content_begin(struct gfs_req *req)
{
	struct gfs_chunkserver *cs = req->app;

	if (!cs->gateway)
		gfs_reply_error(req, GFS_EUNAVAIL, "gateway not available");
	else
		gfs_gateway_put_begin(req, cs->gateway);
}

static const struct gfs_stream_ops put_content_ops = {
	.begin = put_content_begin,
	.data = gfs_gateway_put_data,
	.end = gfs_gateway_put_end,
	.done = gfs_gateway_put_done,
};

/* GET /status. */
static void get_status(struct gfs_req *req)
{
	struct gfs_chunkserver *cs = req->app;
	struct gfs_chunkstore_space sp;
	json_t *st;

	gfs_chunkstore_space(cs->store, &sp);
	st = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "url",
		       cs->url, "role", "chunkserver", "version", GFS_VERSION,
		       "chunks", (json_int_t)sp.chunks, "used_bytes",
		       (json_int_t)sp.used_bytes, "free_bytes",
		       (json_int_t)sp.free_bytes, "total_bytes",
		       (json_int_t)sp.total_bytes, "uptime_ms",
		       (json_int_t)(gfs_mono_ms() - cs->started_ms));
	gfs_masterconn_describe(cs->masters, st);
	gfs_reply_json(req, 200, st);
}

/* GET /healthz. */
static void get_healthz(struct gfs_req *req)
{
	gfs_reply_json(req, 200, json_pack("{s:b, s:s}", "ok", 1, "role",
					   "chunkserver"));
}

/* One family of one sample, named gfs_chunkserver_NAME. */
#define METRIC(type, name, help, value)                                   \
	gfs_metric_u64(out, "gfs_chunkserver_" name, type, help,           \
		       (uint64_t)(value))

/* What the chunkserver keeps and has done. */
static void metrics_store(struct gfs_chunkserver *cs, FILE *out)
{
	struct gfs_chunkserver_counters *c = &cs->counters;
	struct gfs_chunkstore_stats *ss = gfs_chunkstore_stats(cs->store);
	struct gfs_chunkstore_space sp;
	struct gfs_chunkstore_packs pk;

	gfs_chunkstore_space(cs->store, &sp);
	gfs_chunkstore_packs(cs->store, &pk);
	METRIC("gauge", "chunks", "chunk replicas held", sp.chunks);
	METRIC("gauge", "used_bytes", "bytes of chunk files", sp.used_bytes);
	METRIC("gauge", "free_bytes", "bytes left for chunks", sp.free_bytes);
	METRIC("gauge", "total_bytes", "size of the data file system",
	       sp.total_bytes);
	METRIC("gauge", "packed_chunks", "chunks held as packed records",
	       pk.chunks);
	METRIC("gauge", "packed_bytes", "bytes of packed chunks", pk.bytes);
	METRIC("gauge", "pack_segments", "segment files, the spare included",
	       pk.segments);
	METRIC("gauge", "pack_segment_bytes", "bytes of segment files",
	       pk.disk_bytes);
	METRIC("counter", "puts_total", "chunk writes committed",
	       atomic_load(&c->puts));
	METRIC("counter", "put_bytes_total", "bytes of chunk writes committed",
	       atomic_load(&c->put_bytes));
	METRIC("counter", "forward_bytes_total",
	       "bytes forwarded to the next replica", atomic_load(&c->forward_bytes));
	METRIC("counter", "forward_failures_total",
	       "downstream replicas that failed a write",
	       atomic_load(&c->forward_failures));
	METRIC("counter", "gets_total", "chunk reads answered with data",
	       atomic_load(&c->gets));
	METRIC("counter", "get_bytes_total", "bytes sent by chunk reads",
	       atomic_load(&c->get_bytes));
	METRIC("counter", "verified_bytes_total",
	       "bytes checked against their CRC32C", atomic_load(&ss->bytes_read));
	METRIC("counter", "corrupt_total", "replicas that failed a checksum",
	       atomic_load(&ss->corrupt));
	METRIC("counter", "view_loads_total",
	       "chunk files opened into the cache", atomic_load(&ss->view_loads));
	gfs_metric_head(out, "gfs_chunkserver_chunk_write_seconds", "histogram",
			"chunk PUT from its start to the local commit done");
	gfs_metric_histo(out, "gfs_chunkserver_chunk_write_seconds", "",
			 &c->write_us);
	gfs_metric_head(out, "gfs_chunkserver_chunk_commit_seconds",
			"histogram", "commit of a chunk write (its fsyncs)");
	gfs_metric_histo(out, "gfs_chunkserver_chunk_commit_seconds", "",
			 &c->commit_us);
}

/* Masters, re-replication, scrubbing. */
static void metrics_peers(struct gfs_chunkserver *cs, FILE *out)
{
	struct gfs_masterconn_counts mc;
	struct gfs_replicate_counts rc;
	struct gfs_scrub_counts sc = { 0 };

	gfs_masterconn_counts(cs->masters, &mc);
	gfs_replicate_counts(cs->repl, &rc);
	if (cs->scrub)
		gfs_scrub_counts(cs->scrub, &sc);
	METRIC("counter", "heartbeats_total", "heartbeats a master took",
	       mc.heartbeats);
	METRIC("counter", "heartbeat_failures_total", "heartbeats that failed",
	       mc.failures);
	METRIC("gauge", "epoch", "highest master epoch seen", mc.epoch);
	METRIC("counter", "deletes_ordered_total",
	       "replicas deleted on a master's order", mc.deletes);
	METRIC("counter", "replications_total", "replicas copied from peers",
	       rc.done);
	METRIC("counter", "replication_failures_total",
	       "copies from peers that failed", rc.failed);
	METRIC("counter", "replicated_bytes_total", "bytes copied from peers",
	       rc.bytes);
	METRIC("gauge", "replication_queue", "copies ordered, not yet done",
	       rc.queued);
	METRIC("counter", "scrub_passes_total", "scrubber passes over the store",
	       sc.passes);
	METRIC("counter", "scrubbed_chunks_total", "chunks the scrubber checked",
	       sc.chunks);
	METRIC("counter", "scrubbed_bytes_total", "bytes the scrubber checked",
	       sc.bytes);
}

/* GET /metrics (and /api/v1/metrics): Prometheus text. */
static void get_metrics(struct gfs_req *req)
{
	struct gfs_chunkserver *cs = req->app;
	struct gfs_metrics_text t;
	FILE *out = gfs_metrics_open(&t);

	if (out) {
		metrics_store(cs, out);
		metrics_peers(cs, out);
		gfs_httpd_metrics(cs->httpd, "gfs_chunkserver", out);
	}
	gfs_reply_metrics(req, &t);
}

/*
 * The API.  Earlier lines win: the ?crcs=1 GET before the plain one.
 * Columns after the handlers: the body cap (0: none for GET and DELETE),
 * flags (GFS_ROUTE_INLINE: never blocks, runs in the event loop), and a
 * cap computed per request.  The flags also say who may call (httpd.h;
 * checked before the body): CHUNK a chunk token for that chunk (a read
 * token for GET, a write token for PUT), PASS anyone, the gateway acting
 * with the caller's own key, PUB anyone, CLUSTER the cluster's servers
 * alone (the secret): a replica is deleted on the master's orders.  A
 * chunk PUT takes at most a whole chunk (pipeline.c refuses offset +
 * length past it); a gateway PUT any size.
 */
#define CHUNK GFS_ROUTE_CHUNK
#define PASS GFS_ROUTE_PASS
#define PUB GFS_ROUTE_PUBLIC
#define CLUSTER 0
static const struct gfs_route routes[] = {
	{ "PUT", GFS_API "/chunks/*", NULL, NULL, &put_chunk_ops,
	  GFS_MAX_CHUNK_SIZE, CHUNK, NULL },
	{ "GET", GFS_API "/chunks/*", "crcs", get_chunk_crcs, NULL, 0, CHUNK,
	  NULL },
	{ "GET", GFS_API "/chunks/*", NULL, get_chunk, NULL, 0, CHUNK, NULL },
	{ "DELETE", GFS_API "/chunks/*", NULL, delete_chunk, NULL, 0, CLUSTER,
	  NULL },
	{ "GET", GFS_API "/content/*", NULL, get_content, NULL, 0, PASS,
	  NULL },
	{ "PUT", GFS_API "/content/*", NULL, NULL, &put_content_ops, SIZE_MAX,
	  PASS, NULL },
	{ "GET", GFS_API "/status", NULL, get_status, NULL, 0, PUB, NULL },
	{ "GET", GFS_API "/healthz", NULL, get_healthz, NULL, 0,
	  GFS_ROUTE_INLINE | PUB, NULL },
	{ "GET", GFS_API "/metrics", NULL, get_metrics, NULL, 0, PUB, NULL },
	/* where Prometheus looks by default */
	{ "GET", "/metrics", NULL, get_metrics, NULL, 0, PUB, NULL },
};
#undef CHUNK
#undef PASS
#undef PUB
#undef CLUSTER

struct gfs_httpd *gfs_routes_start(struct gfs_chunkserver *cs,
				   const char *listen)
{
	struct gfs_httpd_sec sec = { .auth = cs->auth,
				     .tls_cert = cs->conf.tls_cert,
				     .tls_key = cs->conf.tls_key };

	return gfs_httpd_start_secure(listen, routes, GFS_ARRAY_SIZE(routes),
				      cs, GFS_HTTPD_BULK, &cs->conf.http, &sec);
}

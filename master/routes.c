/*
 * routes.c - THE route table of gfs-master and its thin handlers.
 *
 * Reading routes[] shows the whole API (docs/PROTOCOL.md "Master").  Each
 * handler: begin() (epoch bookkeeping, X-GFS-Epoch on the reply), parse
 * and check the request, call one ops.c / csmgr.c / oplog.c function,
 * reply.  Nothing here touches the state without the module that owns it.
 *
 * Not for: rules about the namespace, leases or chunks (ops.c), or when a
 * change is durable (ops.c waits before returning).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <uthash.h>

#include "backup.h"
#include "checkpoint.h"
#include "constants.h"
#include "csmgr.h"
#include "election.h"
#include "httpd.h"
#include "json.h"
#include "lease.h"
#include "master.h"
#include "metrics.h"
#include "ops.h"
#include "path.h"
#include "routes.h"
#include "stream.h"
#include "util.h"
#include "webui.h"

/* Bodies of a few fields and URL lists (create, setattr, leases,
 * allocations). */
#define SMALL_BODY (64u << 10)
/* A heartbeat names at most every chunk this master knows of (committed,
 * pending, garbage), as many unknown ones (orphans) and HB_ORPHANS more,
 * HB_ENTRY bytes each (["000000000000002a", 4294967295, 1073741824] is
 * 45), plus HB_FIXED for the rest: 5 MiB for an empty master, 14 MiB with
 * 70,000 chunks. */
#define HB_ENTRY 64
#define HB_ORPHANS 65536
#define HB_FIXED (1u << 20)
/* An extended attribute's body: a 64 KiB value in base64 and the rest. */
#define XATTR_BODY (96u << 10)
#define OPLOG_REPLY_MAX (4u << 20)
#define OPLOG_WAIT_MAX 30000
#define URL_MAX 512

/* Every handler starts here: the reply carries our epoch.  An X-GFS-Epoch
 * request header is never believed (anyone can send one): a master
 * learns of a newer epoch from etcd, or in pair mode from the places
 * marked BELIEVED EPOCH. */
static struct gfs_master *begin(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	char buf[32];

	pthread_mutex_lock(&m->lock);
	snprintf(buf, sizeof(buf), "%" PRIu64, m->epoch);
	pthread_mutex_unlock(&m->lock);
	gfs_reply_header(req, GFS_HDR_EPOCH, buf);
	return m;
}

/* Error reply; 421 names the primary, 423 carries the lease (takes it). */
static void fail(struct gfs_req *req, enum gfs_err err, json_t *lease,
		 const char *what)
{
	struct gfs_master *m = req->app;
	json_t *j;

	if (err == GFS_ENOTPRIMARY) {
		pthread_mutex_lock(&m->lock);
		if (m->primary_url && strcmp(m->primary_url, m->self_url))
			gfs_reply_header(req, GFS_HDR_PRIMARY, m->primary_url);
		pthread_mutex_unlock(&m->lock);
	}
	if (err == GFS_ELEASED && lease) {
		j = json_pack("{s:s+, s:s, s:o}", "error", "leased by another "
			      "client: ", what, "code", gfs_err_code(err),
			      "lease", lease);
		gfs_reply_json(req, gfs_err_http(err), j);
		return;
	}
	json_decref(lease);
	gfs_reply_error(req, err, "%s", what);
}

/* Reply out with status on success, else the error. */
static void reply(struct gfs_req *req, enum gfs_err err, unsigned status,
		  json_t *out, const char *what)
{
	if (err)
		fail(req, err, out, what);
	else
		gfs_reply_json(req, status, out);
}

/* The same, reading *out only after err was computed (argument order). */
static void answer(struct gfs_req *req, enum gfs_err err, unsigned status,
		   json_t **out, const char *what)
{
	reply(req, err, status, *out, what);
}

/* Check a path from the request (what names it in the message); replies
 * 400 and returns false if bad. */
static bool path_ok(struct gfs_req *req, const char *path, const char *what)
{
	enum gfs_err err = path ? gfs_path_check(path, strlen(path))
				: GFS_EINVAL;

	if (err)
		gfs_reply_error(req, err, err == GFS_EILSEQ ? "%s (names are "
				"UTF-8)" : "bad %s", what);
	return !err;
}

/* The request's path, checked; replies 400 and returns NULL if bad. */
static const char *req_path(struct gfs_req *req)
{
	return path_ok(req, req->path, "path") ? req->path : NULL;
}

/* The same, where the root may be meant: routes ending in '/' without
 * a path (a pattern's '*' takes one byte at least) are the root's. */
static const char *req_path_or_root(struct gfs_req *req)
{
	return req->path ? req_path(req) : "/";
}

/*
 * The caller as a lease holder; *ok false (and 400 sent) when
 * X-GFS-Client is too long or not UTF-8.  Without a secret it is
 * X-GFS-Client (NULL: nobody).  With one it is the key's name, and
 * "NAME/ID" when X-GFS-Client says ID: a header tells apart the sessions
 * (mounts) of one key, never one key from another.
 */
static const char *req_client(struct gfs_req *req, bool *ok)
{
	struct gfs_master *m = req->app;
	const char *c = gfs_req_header(req, GFS_HDR_CLIENT), *name, *kept;
	char *holder;

	*ok = !c || (strlen(c) <= GFS_HOLDER_MAX && gfs_text_valid(c));
	if (!*ok && strlen(c) > GFS_HOLDER_MAX)
		gfs_reply_error(req, GFS_EINVAL, "client id longer than %d",
				GFS_HOLDER_MAX);
	else if (!*ok)
		gfs_reply_error(req, GFS_EILSEQ, GFS_HDR_CLIENT " (client "
				"ids are UTF-8)");
	if (!*ok || !gfs_auth_on(m->auth))
		return c && *c ? c : NULL;
	name = gfs_who_name(&req->who);
	if (!c || !*c)
		return name;
	holder = gfs_xasprintf("%s/%s", name, c);
	*ok = strlen(holder) <= GFS_HOLDER_MAX;
	kept = *ok ? gfs_req_keep(req, holder) : NULL;
	if (!*ok)
		gfs_reply_error(req, GFS_EINVAL, "key name and client id "
				"longer than %d", GFS_HOLDER_MAX);
	free(holder);
	return kept;
}

/* 403 unless the caller's key covers path (not only leads to it). */
static bool covered(struct gfs_req *req, const char *path)
{
	if (gfs_who_covers(&req->who, path))
		return true;
	gfs_reply_error(req, GFS_EFORBIDDEN, "outside the key's prefixes");
	return false;
}

/* ---- chunk tokens ---- */

/* Put into chunk object c a token allowing ops on its "handle": for its
 * "version", or for any when any_version (a chunk being written). */
static void add_token(struct gfs_master *m, json_t *c, unsigned ops,
		      bool any_version)
{
	char tok[GFS_TOKEN_MAX];
	uint64_t h = 0, v = 0;

	if (gfs_json_handle(c, "handle", true, &h) ||
	    (!any_version && gfs_json_u64(c, "version", true, &v)))
		return;
	if (gfs_auth_token(m->auth, h, v, ops, tok))
		json_object_set_new(c, "token", json_string(tok));
}

/* Read tokens for every chunk of a file entry.  O(chunks) HMACs, after
 * the master lock. */
static void add_read_tokens(struct gfs_master *m, json_t *entry)
{
	json_t *c;
	size_t i;

	json_array_foreach(json_object_get(entry, "chunks"), i, c)
		add_token(m, c, GFS_TOKEN_READ, false);
}

/* A write (and read-back) token for a fresh allocation. */
static void add_write_token(struct gfs_master *m, json_t *alloc)
{
	if (alloc)
		add_token(m, alloc, GFS_TOKEN_READ | GFS_TOKEN_WRITE, true);
}

/* X-GFS-Request into *id: returns id, or NULL when absent.  *ok false
 * (and 400 sent) when it is not 32 lowercase hex digits. */
static const struct gfs_request_id *req_id(struct gfs_req *req,
					   struct gfs_request_id *id, bool *ok)
{
	const char *h = gfs_req_header(req, GFS_HDR_REQUEST);

	*ok = !h || gfs_request_id_parse(h, id);
	if (!*ok)
		gfs_reply_error(req, GFS_EINVAL, GFS_HDR_REQUEST " must be %d "
				"lowercase hex digits", GFS_REQUEST_HEX);
	return h && *ok ? id : NULL;
}

/* ---- namespace ---- */

/* Whether a listed entry may be shown to w: a file inside its
 * prefixes, a directory inside or on the way to one. */
static bool shown(const struct gfs_who *w, json_t *e, const char *path)
{
	const char *type = "file";

	gfs_json_str(e, "type", false, &type);
	return !strcmp(type, "dir") ? gfs_who_sees(w, path)
				    : gfs_who_covers(w, path);
}

/* Drop from a listing (dir: its directory, or NULL for a prefix
 * listing) what a key limited to prefixes may not see.  O(entries). */
static void hide_unseen(const struct gfs_who *w, json_t *out,
			const char *dir)
{
	json_t *a = json_object_get(out, dir ? "entries" : "files"), *e;
	const char *name;
	char *path;
	size_t i;

	for (i = 0; i < json_array_size(a);) {
		e = json_array_get(a, i);
		name = "";
		gfs_json_str(e, dir ? "name" : "path", false, &name);
		path = dir ? gfs_xasprintf("%s/%s", strcmp(dir, "/") ? dir
					   : "", name)
			   : gfs_xstrdup(name);
		if (shown(w, e, path))
			i++;
		else
			json_array_remove(a, i);
		free(path);
	}
}

#define LIST_PAGE 1000              /* a page's entries when no limit */
#define LIST_PAGE_MAX 10000         /* a larger limit is taken as this */

/* The page a listing asks for (limit=, cursor=) into *q; false (and
 * 400 sent) when they are bad.  Neither: the whole listing. */
static bool list_req(struct gfs_req *req, struct gfs_list_req *q)
{
	uint64_t limit;

	q->cursor = NULL;
	if (gfs_req_arg_u64(req, "limit", UINT64_MAX, &limit) || !limit ||
	    gfs_req_arg(req, "cursor", &q->cursor)) {
		gfs_reply_error(req, GFS_EINVAL, "limit must be a number above "
				"0, cursor a page's next");
		return false;
	}
	if (limit == UINT64_MAX)
		q->limit = q->cursor ? LIST_PAGE : 0;
	else
		q->limit = limit < LIST_PAGE_MAX ? (size_t)limit
						 : LIST_PAGE_MAX;
	return true;
}

static void h_list(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *prefix = NULL, *dir = NULL, *dirs = NULL;
	struct gfs_list_req q;
	json_t *out = NULL;
	enum gfs_err err;

	if (gfs_req_arg(req, "prefix", &prefix) || gfs_req_arg(req, "dir", &dir) ||
	    gfs_req_arg(req, "dirs", &dirs)) {
		gfs_reply_error(req, GFS_EINVAL, "bad prefix or dir");
		return;
	}
	if (!list_req(req, &q))
		return;
	if (dir && !path_ok(req, dir, "dir"))
		return;
	if (prefix && !gfs_text_valid(prefix)) {
		gfs_reply_error(req, GFS_EILSEQ, "prefix (names are UTF-8)");
		return;
	}
	if (dir && !gfs_who_sees(&req->who, dir)) {
		gfs_reply_error(req, GFS_EFORBIDDEN, "outside the key's "
				"prefixes");
		return;
	}
	if (dir)
		err = gfs_ops_list_dir(m, dir, &q, &out);
	else
		err = gfs_ops_list_prefix(m, prefix ? prefix : "/",
					  dirs && !strcmp(dirs, "1"), &q, &out);
	if (!err && req->who.kind == GFS_WHO_KEY)
		hide_unseen(&req->who, out, dir);
	reply(req, err, 200, out, dir ? dir : "");
}

/* Would req_client() take X-GFS-Client (or its absence) without a 400? */
static bool client_ok(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	const char *c = gfs_req_header(req, GFS_HDR_CLIENT);

	if (!c)
		return true;
	if (strlen(c) > GFS_HOLDER_MAX || !gfs_text_valid(c))
		return false;
	return !*c || !gfs_auth_on(m->auth) ||
	       strlen(gfs_who_name(&req->who)) + 1 + strlen(c) <=
		       GFS_HOLDER_MAX;
}

/* h_stat() of a name (?stat=1, what a mount's lookup asks) in the event
 * loop, without the hop to a worker and back: false, with nothing
 * replied, where that would wait or the request is anything else (a
 * full stat, a bad path or client id: the worker answers those). */
static bool stat_now(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	const char *path = req->path ? req->path : "/", *stat = NULL;
	json_t *out;
	enum gfs_err err;
	uint64_t epoch;
	char buf[32];

	if (gfs_req_arg(req, "stat", &stat) || !stat || strcmp(stat, "1") ||
	    gfs_path_check(path, strlen(path)) || !client_ok(req) ||
	    !gfs_ops_stat_now(m, path, &err, &out, &epoch))
		return false;
	if (err && err != GFS_ENOENT) { /* 421 names the primary: locks */
		json_decref(out);
		return false;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64, epoch);
	gfs_reply_header(req, GFS_HDR_EPOCH, buf);
	if (!err && json_object_get(out, "chunk_size") && !covered(req, path))
		json_decref(out);
	else
		reply(req, err, 200, out, path);
	return true;
}

/* GET /files/PATH; /files/ alone (ext): the root's entry. */
static void h_stat(struct gfs_req *req)
{
	struct gfs_master *m;
	const char *path, *stat = NULL, *client;
	json_t *out = NULL;
	enum gfs_err err;
	bool ok, full;

	if (req->in_loop) {
		if (!stat_now(req))
			gfs_req_defer(req);
		return;
	}
	m = begin(req);
	path = req_path_or_root(req);
	if (!path)
		return;
	client = req_client(req, &ok);
	if (!ok)
		return;
	if (gfs_req_arg(req, "stat", &stat)) {
		gfs_reply_error(req, GFS_EINVAL, "bad stat");
		return;
	}
	full = !(stat && !strcmp(stat, "1"));
	err = gfs_ops_stat(m, path, client, full, &out);
	if (err == GFS_EUNAVAIL) {
		gfs_reply_error(req, err, "where the chunks of %s are is not "
				"known yet (chunkservers still reporting): "
				"retry", path);
		return;
	}
	if (!err && !json_object_get(out, "chunk_size")) {
		reply(req, err, 200, out, path); /* a directory */
		return;
	}
	if (!err && !covered(req, path)) {
		json_decref(out);
		return;
	}
	if (!err && full)
		add_read_tokens(m, out);
	reply(req, err, 200, out, path);
}

/* ---- mutations in the event loop ---- */

/* A commit body taken in the event loop at most: parsing more would hold
 * up the loop's other connections (a small file's is about 300 bytes). */
#define NOW_BODY_MAX (16u << 10)

/* A mutation made in the event loop, held until acknowledged (acks.h);
 * req->ctx while held. */
struct held {
	struct gfs_ack ack;     /* acks.c's part */
	struct gfs_req *req;    /* borrowed: released once decided */
	json_t *out;            /* the reply once acknowledged, owned */
	unsigned status;        /* its status: 200 or 201 */
	uint64_t epoch;         /* the master's when the record was made */
	enum gfs_err err;       /* the decision */
};

/* The epoch header, as begin() adds it, from a value read earlier. */
static void epoch_header(struct gfs_req *req, uint64_t epoch)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, epoch);
	gfs_reply_header(req, GFS_HDR_EPOCH, buf);
}

/* Decided (acks.c, any thread): hand the request back to the loop. */
static void held_done(struct gfs_ack *a, enum gfs_err err)
{
	struct held *h = (struct held *)a;

	h->err = err;
	gfs_req_release(h->req); /* h is the loop's from here on */
}

/* Back in the event loop: the reply of a held mutation.  A 421 names
 * the primary only when the master lock is free: the loop never waits
 * for it. */
static void held_reply(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	struct held *h = req->ctx;
	enum gfs_err err = gfs_ops_acked(h->err, &h->out);

	req->ctx = NULL;
	epoch_header(req, h->epoch);
	if (err == GFS_ENOTPRIMARY && !pthread_mutex_trylock(&m->lock)) {
		if (m->primary_url && strcmp(m->primary_url, m->self_url))
			gfs_reply_header(req, GFS_HDR_PRIMARY, m->primary_url);
		pthread_mutex_unlock(&m->lock);
	}
	if (err)
		gfs_reply_error(req, err, "%s", req->path);
	else
		gfs_reply_json(req, h->status, h->out);
	free(h);
}

/*
 * The end of a mutation made in the event loop (gfs_ops_*_now()): an
 * error is answered now, as a worker would (a 421 goes to a worker,
 * which names the primary); a record is waited for off the loop, the
 * request held meanwhile: whoever completes its durability releases it
 * (acks.h), and held_reply() answers.  Takes out.
 */
static void mutation_now(struct gfs_req *req, enum gfs_err err,
			 const struct gfs_ops_now *now, json_t *out,
			 unsigned status)
{
	struct gfs_master *m = req->app;
	struct held *h;

	if (err == GFS_ENOTPRIMARY) {
		json_decref(out);
		gfs_req_defer(req);
		return;
	}
	if (err || !now->seq) {
		epoch_header(req, now->epoch);
		reply(req, err, status, out, req->path);
		return;
	}
	h = gfs_xcalloc(1, sizeof(*h));
	h->req = req;
	h->out = out;
	h->status = status;
	h->epoch = now->epoch;
	h->ack.seq = now->seq;
	h->ack.epoch = gfs_log_enabled(GFS_LOG_DEBUG) ? now->epoch : 0;
	h->ack.done = held_done;
	if (!gfs_req_hold(req, held_reply)) {
		/* the server stops: logged, never acknowledged (a retry with
		 * its request id, elsewhere, gets the first answer) */
		json_decref(out);
		free(h);
		epoch_header(req, now->epoch);
		gfs_reply_error(req, GFS_EUNAVAIL, "stopping");
		return;
	}
	req->ctx = h; /* held first: acks may release it at once */
	gfs_acks_add(&m->acks, &h->ack);
}

/* Is what the plain handler checks (and answers when bad) good, so that
 * the event loop may go on without a reply made: the path, the client
 * id and the request id?  *id the request id, or NULL. */
static bool now_args(struct gfs_req *req, struct gfs_request_id *buf,
		     const struct gfs_request_id **id)
{
	const char *rid = gfs_req_header(req, GFS_HDR_REQUEST);

	*id = NULL;
	if (!req->path || gfs_path_check(req->path, strlen(req->path)) ||
	    !client_ok(req))
		return false;
	if (rid && !gfs_request_id_parse(rid, buf))
		return false;
	*id = rid ? buf : NULL;
	return true;
}

/* PUT /files/PATH in the event loop: a create without "alloc", good
 * arguments, the master lock free; else a worker. */
static void create_now(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	struct gfs_ops_now now = { 0 };
	json_t *body = NULL, *out = NULL;
	enum gfs_err err;

	if (!now_args(req, &buf, &id) ||
	    gfs_json_parse_object_max(req->body, req->body_len,
				      NOW_BODY_MAX, &body)) {
		gfs_req_defer(req);
		return;
	}
	err = gfs_ops_create_now(m, req->path, body, id, &now, &out);
	json_decref(body);
	if (now.busy || err == GFS_EINVAL) { /* the worker says why */
		json_decref(out);
		gfs_req_defer(req);
		return;
	}
	mutation_now(req, err, &now, out, 201);
}

/* DELETE /files/PATH in the event loop: a plain delete (no keep) whose
 * arguments are good and whose master lock is free; else a worker. */
static void delete_now(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	const char *type = NULL, *keep = NULL, *client;
	struct gfs_ops_now now = { 0 };
	json_t *out = NULL;
	enum gfs_err err;
	bool ok;

	if (!now_args(req, &buf, &id) || gfs_req_arg(req, "type", &type) ||
	    gfs_req_arg(req, "keep", &keep) || keep ||
	    (type && strcmp(type, "file") && strcmp(type, "dir"))) {
		gfs_req_defer(req);
		return;
	}
	client = req_client(req, &ok); /* checked: replies nothing */
	err = gfs_ops_delete_now(m, req->path, client, type, id, &now, &out);
	if (now.busy) {
		gfs_req_defer(req);
		return;
	}
	mutation_now(req, err, &now, out, 200);
}

/* POST /files/PATH/commit in the event loop: a small body, good
 * arguments, the master lock free; else a worker. */
static void commit_now(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	struct gfs_ops_now now = { 0 };
	const char *client;
	json_t *body = NULL, *out = NULL;
	enum gfs_err err;
	bool ok, create;

	if (req->body_len > NOW_BODY_MAX || !now_args(req, &buf, &id) ||
	    gfs_json_parse_object_max(req->body, req->body_len,
				      NOW_BODY_MAX, &body)) {
		gfs_req_defer(req);
		return;
	}
	client = req_client(req, &ok); /* checked: replies nothing */
	create = json_object_get(body, "create") != NULL;
	err = create ? gfs_ops_create_commit_now(m, req->path, client, body,
						 id, &now, &out)
		     : gfs_ops_commit_now(m, req->path, client, body, &now,
					  &out);
	json_decref(body);
	if (now.busy) {
		gfs_req_defer(req);
		return;
	}
	if (!err)
		add_read_tokens(m, out);
	mutation_now(req, err, &now, out, create ? 201 : 200);
}

static void h_create(struct gfs_req *req)
{
	struct gfs_master *m;
	const char *path;
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	json_t *body, *out = NULL;
	enum gfs_err err;
	bool ok;

	if (req->in_loop) {
		create_now(req);
		return;
	}
	m = begin(req);
	path = req_path(req);
	if (!path)
		return;
	id = req_id(req, &buf, &ok);
	if (!ok || !(body = gfs_req_json(req)))
		return;
	err = gfs_ops_create(m, path, body, id, &out);
	if (!err)
		add_write_token(m, json_object_get(out, "alloc"));
	reply(req, err, 201, out, path);
	json_decref(body);
}

/* The "other" name a removal's reply gives of an inode that keeps
 * names (kept.h) is left out when the caller's key does not cover it. */
static void unseen_other(struct gfs_req *req, json_t *out)
{
	const char *other = NULL;

	if (!gfs_json_str(out, "other", false, &other) && other &&
	    !gfs_who_covers(&req->who, other))
		json_object_del(out, "other");
}

static void h_delete(struct gfs_req *req)
{
	struct gfs_master *m;
	const char *path, *type = NULL, *client;
	const struct gfs_request_id *id = NULL;
	struct gfs_request_id buf;
	enum gfs_err err;
	json_t *out = NULL;
	uint64_t ttl = 0;
	bool ok;

	if (req->in_loop) {
		delete_now(req);
		return;
	}
	m = begin(req);
	path = req_path(req);
	if (!path)
		return;
	client = req_client(req, &ok);
	if (ok)
		id = req_id(req, &buf, &ok);
	if (!ok)
		return;
	if (gfs_req_arg(req, "type", &type) ||
	    gfs_req_arg_u64(req, "keep", 0, &ttl)) {
		gfs_reply_error(req, GFS_EINVAL, "bad type or keep");
		return;
	}
	if (ttl) { /* the caller has it open: keep it (kept.h) */
		err = gfs_ops_unlink_keep(m, path, client, ttl, id, &out);
		if (!err)
			unseen_other(req, out);
		reply(req, err, 200, out, path);
	} else
		answer(req, gfs_ops_delete(m, path, client, type, id, &out),
		       200, &out, path);
}

/* ---- files unlinked while open (ext) ---- */

/* The id of /kept/ID; replies 400 and returns false if bad. */
static bool kept_id(struct gfs_req *req, uint64_t *kid)
{
	if (req->path && gfs_handle_parse(req->path + 1, kid))
		return true;
	gfs_reply_error(req, GFS_EINVAL, "a kept file is 16 hex digits");
	return false;
}

/* Renew or drop: the id, the caller, one operation. */
static void kept_op(struct gfs_req *req,
		    enum gfs_err (*op)(struct gfs_master *m, uint64_t kid,
				       const char *client, json_t **out))
{
	struct gfs_master *m = begin(req);
	const char *client;
	json_t *out = NULL;
	uint64_t kid;
	bool ok;

	if (!kept_id(req, &kid))
		return;
	client = req_client(req, &ok);
	if (ok)
		answer(req, op(m, kid, client, &out), 200, &out,
		       "no such kept file");
}

static void h_kept_put(struct gfs_req *req)
{
	kept_op(req, gfs_ops_kept_renew);
}

static void h_kept_alloc(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *client;
	json_t *body, *out = NULL;
	enum gfs_err err;
	uint64_t kid;
	bool ok;

	if (!kept_id(req, &kid))
		return;
	client = req_client(req, &ok);
	body = ok ? gfs_req_json(req) : NULL;
	if (!body)
		return;
	err = gfs_ops_kept_alloc(m, kid, client, body, &out);
	if (!err)
		add_write_token(m, out);
	reply(req, err, 200, out, "no such kept file");
	json_decref(body);
}

static void h_kept_delete(struct gfs_req *req)
{
	kept_op(req, gfs_ops_kept_drop);
}

/* The id and the caller of a /kept/ID/xattrs route, and (id not NULL:
 * a change) its request id (*id may be NULL); false once a 4xx went
 * out. */
static bool kept_xattr_args(struct gfs_req *req, uint64_t *kid,
			    const char **client,
			    const struct gfs_request_id **id,
			    struct gfs_request_id *buf)
{
	bool ok;

	if (!kept_id(req, kid))
		return false;
	*client = req_client(req, &ok);
	if (ok && id)
		*id = req_id(req, buf, &ok);
	return ok;
}

static void h_kept_xattr_get(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *client, *name = NULL;
	json_t *out = NULL;
	uint64_t kid;

	if (!kept_xattr_args(req, &kid, &client, NULL, NULL))
		return;
	gfs_req_arg(req, "name", &name);
	answer(req, gfs_ops_kept_xattr_get(m, kid, client, name, &out), 200,
	       &out, name ? name : "no such kept file");
}

static void h_kept_xattr_put(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	const char *client;
	json_t *body, *out = NULL;
	uint64_t kid;

	if (!kept_xattr_args(req, &kid, &client, &id, &buf) ||
	    !(body = gfs_req_json(req)))
		return;
	answer(req, gfs_ops_kept_xattr_set(m, kid, client, body, id, &out),
	       200, &out, "no such kept file");
	json_decref(body);
}

static void h_kept_xattr_delete(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	const char *client, *name = NULL;
	json_t *out = NULL;
	uint64_t kid;

	if (!kept_xattr_args(req, &kid, &client, &id, &buf))
		return;
	if (gfs_req_arg(req, "name", &name) || !name) {
		gfs_reply_error(req, GFS_EINVAL, "name=NAME required");
		return;
	}
	answer(req, gfs_ops_kept_xattr_remove(m, kid, client, name, id, &out),
	       200, &out, name);
}

/* op=rename and op=link: both take to=PATH and a request id; a rename
 * keep=TTL too (the caller has the file it replaces open). */
static void rename_op(struct gfs_req *req, struct gfs_master *m,
		      const char *path, const char *client, bool link)
{
	const char *to = NULL, *ow = NULL;
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	json_t *out = NULL;
	enum gfs_err err;
	uint64_t keep = 0;
	bool ok;

	if (gfs_req_arg(req, "to", &to) || gfs_req_arg(req, "overwrite", &ow) ||
	    gfs_req_arg_u64(req, "keep", 0, &keep) || !to || (link && keep)) {
		gfs_reply_error(req, GFS_EINVAL, link ? "link needs to=PATH"
				: "rename needs to=PATH (and a TTL as keep)");
		return;
	}
	if (!path_ok(req, to, "target path"))
		return;
	id = req_id(req, &buf, &ok);
	if (!ok)
		return;
	if (link)
		err = gfs_ops_link(m, path, to, client, id, &out);
	else
		err = gfs_ops_rename(m, path, to, ow && !strcmp(ow, "1"),
				     keep, client, id, &out);
	if (!err)
		unseen_other(req, out);
	reply(req, err, link ? 201 : 200, out, path);
}

static void h_files_op(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path = req_path_or_root(req), *op = NULL, *client;
	json_t *body, *out = NULL;
	bool ok;

	if (!path)
		return;
	client = req_client(req, &ok);
	if (!ok)
		return;
	gfs_req_arg(req, "op", &op);
	if (op && (!strcmp(op, "rename") || !strcmp(op, "link"))) {
		rename_op(req, m, path, client, !strcmp(op, "link"));
	} else if (op && !strcmp(op, "setattr")) {
		body = gfs_req_json(req);
		if (!body)
			return;
		answer(req, gfs_ops_setattr(m, path, client, body, &out),
		       200, &out, path);
		json_decref(body);
	} else {
		gfs_reply_error(req, GFS_EINVAL, "op must be rename, link or setattr");
	}
}

/* ---- writing ---- */

/* The path, the caller and the JSON body of a POST or PUT; false once
 * a 4xx went out.  *body is a new reference. */
static bool post_args(struct gfs_req *req, const char **path,
		      const char **client, json_t **body)
{
	bool ok;

	*path = req_path(req);
	if (!*path)
		return false;
	*client = req_client(req, &ok);
	return ok && (*body = gfs_req_json(req));
}

/* A write route: path, the caller, a JSON body, one operation; then
 * tokens into its reply. */
static void write_op(struct gfs_req *req,
		     enum gfs_err (*op)(struct gfs_master *m, const char *path,
					const char *client, json_t *body,
					json_t **out),
		     void (*tokens)(struct gfs_master *m, json_t *out))
{
	struct gfs_master *m = begin(req);
	const char *path, *client;
	json_t *body, *out = NULL;
	enum gfs_err err;

	if (!post_args(req, &path, &client, &body))
		return;
	err = op(m, path, client, body, &out);
	if (!err)
		tokens(m, out);
	reply(req, err, 200, out, path);
	json_decref(body);
}

static void h_alloc(struct gfs_req *req)
{
	write_op(req, gfs_ops_alloc, add_write_token);
}

/* A commit; with "create" (ext) a create+commit, 201. */
static void h_commit(struct gfs_req *req)
{
	struct gfs_master *m;
	const char *path, *client;
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	json_t *body, *out = NULL;
	enum gfs_err err;
	bool create, ok;

	if (req->in_loop) {
		commit_now(req);
		return;
	}
	m = begin(req);
	id = req_id(req, &buf, &ok);
	if (!ok || !post_args(req, &path, &client, &body))
		return;
	create = json_object_get(body, "create") != NULL;
	err = create ? gfs_ops_create_commit(m, path, client, body, id, &out)
		     : gfs_ops_commit(m, path, client, body, &out);
	if (!err)
		add_read_tokens(m, out);
	reply(req, err, create ? 201 : 200, out, path);
	json_decref(body);
}

/* POST /chunks (ext): pre-placed chunks for the caller's new files. */
static void h_preplace(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *client;
	json_t *body, *out = NULL, *c;
	enum gfs_err err;
	size_t i;
	bool ok;

	client = req_client(req, &ok);
	body = ok ? gfs_req_json(req) : NULL;
	if (!body)
		return;
	err = gfs_ops_preplace(m, client, body, &out);
	json_array_foreach(err ? NULL : json_object_get(out, "chunks"), i, c)
		add_write_token(m, c);
	reply(req, err, 200, out, "no chunkserver with room");
	json_decref(body);
}

/* POST /files/PATH/tokens (ext): fresh tokens for chunks of a file. */
static void h_tokens(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path, *client;
	json_t *body, *out = NULL, *c;
	enum gfs_err err;
	const char *ops;
	size_t i;

	if (!post_args(req, &path, &client, &body))
		return;
	err = gfs_ops_chunk_grants(m, path, client,
				   json_object_get(body, "handles"),
				   gfs_who_writes(&req->who), &out);
	json_array_foreach(err ? NULL : json_object_get(out, "chunks"), i, c) {
		ops = json_string_value(json_object_get(c, "ops"));
		add_token(m, c, ops && !strcmp(ops, "rw")
			  ? GFS_TOKEN_READ | GFS_TOKEN_WRITE : GFS_TOKEN_READ,
			  false);
	}
	reply(req, err, 200, out, path);
	json_decref(body);
}

/* ---- leases ---- */

static void h_lease_get(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path = req_path(req);
	json_t *out = NULL;

	if (path && covered(req, path))
		answer(req, gfs_ops_lease_get(m, path, &out), 200, &out, path);
}

static bool has_ttl(struct gfs_req *req, json_t *body)
{
	const char *q = NULL;

	return json_object_get(body, "ttl") ||
	       (!gfs_req_arg(req, "ttl", &q) && q);
}

static void h_lease_put(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path = req_path(req), *client;
	json_t *body, *out = NULL;
	uint64_t ttl = 0;
	bool ok;

	if (!path)
		return;
	client = req_client(req, &ok);
	if (!ok || !(body = gfs_req_json(req)))
		return;
	if (gfs_json_u64(body, "ttl", false, &ttl) ||
	    gfs_req_arg_u64(req, "ttl", ttl, &ttl) ||
	    (has_ttl(req, body) && (!ttl || ttl > GFS_LEASE_TTL_MAX_S))) {
		gfs_reply_error(req, GFS_EINVAL, "ttl must be 1..%d",
				GFS_LEASE_TTL_MAX_S);
	} else if (!client) {
		gfs_reply_error(req, GFS_EINVAL, "a lease needs " GFS_HDR_CLIENT);
	} else {
		answer(req, gfs_ops_lease_put(m, path, client, ttl, &out),
		       200, &out, path);
	}
	json_decref(body);
}

static void h_lease_delete(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path = req_path(req), *client;
	const struct gfs_request_id *id = NULL;
	struct gfs_request_id buf;
	json_t *out = NULL;
	bool ok;

	if (!path)
		return;
	client = req_client(req, &ok);
	if (ok)
		id = req_id(req, &buf, &ok);
	if (ok)
		answer(req, gfs_ops_lease_delete(m, path, client, id, &out),
		       200, &out, path);
}

/* ---- extended attributes (ext) ---- */

/* The path of an /xattrs route, checked and covered by the key: the
 * root's attributes are /xattrs/ (the pattern's '*' takes one byte at
 * least); NULL once a 4xx went out. */
static const char *xattr_path(struct gfs_req *req)
{
	const char *path = req_path_or_root(req);

	return path && covered(req, path) ? path : NULL;
}

static void h_xattr_get(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path = xattr_path(req), *name = NULL;
	json_t *out = NULL;

	if (!path)
		return;
	gfs_req_arg(req, "name", &name);
	answer(req, gfs_ops_xattr_get(m, path, name, &out), 200, &out,
	       name ? name : path);
}

static void h_xattr_put(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path = xattr_path(req), *client;
	const struct gfs_request_id *id;
	struct gfs_request_id buf;
	json_t *body, *out = NULL;
	bool ok;

	if (!path)
		return;
	client = req_client(req, &ok);
	body = ok ? gfs_req_json(req) : NULL;
	if (!body)
		return;
	id = req_id(req, &buf, &ok);
	if (ok)
		answer(req, gfs_ops_xattr_set(m, path, client, body, id, &out),
		       200, &out, path);
	json_decref(body);
}

static void h_xattr_delete(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path = xattr_path(req), *client, *name = NULL;
	const struct gfs_request_id *id = NULL;
	struct gfs_request_id buf;
	json_t *out = NULL;
	bool ok;

	if (!path)
		return;
	client = req_client(req, &ok);
	if (ok)
		id = req_id(req, &buf, &ok);
	if (ok && (gfs_req_arg(req, "name", &name) || !name)) {
		gfs_reply_error(req, GFS_EINVAL, "name=NAME required");
		return;
	}
	if (ok)
		answer(req, gfs_ops_xattr_remove(m, path, client, name, id,
						 &out), 200, &out, name);
}

/* ---- gateway redirect ---- */

struct query {
	char *s;       /* "a=1&b=2", malloc'd */
};

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind,
			       const char *key, const char *value)
{
	struct query *q = cls;
	char *k = gfs_url_encode(key, false), *v = NULL, *dec = NULL, *s;

	(void)kind;
	if (value && !gfs_url_decode(value, strlen(value), &dec))
		v = gfs_url_encode(dec, false);
	s = gfs_xasprintf("%s%s%s%s%s", q->s ? q->s : "", q->s ? "&" : "", k,
			  v ? "=" : "", v ? v : "");
	free(q->s);
	q->s = s;
	free(k);
	free(v);
	free(dec);
	return MHD_YES;
}

static void redirect(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *path = req_path(req), *client;
	struct query q = { NULL };
	json_t *lease = NULL;
	enum gfs_err err;
	char *gw = NULL, *loc;
	bool ok;

	if (!path)
		return;
	client = req_client(req, &ok);
	if (!ok)
		return;
	err = gfs_ops_gateway(m, path, client, &gw, &lease);
	if (err) {
		fail(req, err, lease, err == GFS_EUNAVAIL ? "no live chunkserver"
							  : path);
		return;
	}
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
	loc = gfs_xasprintf("%s%s%s%s", gw, req->url, q.s ? "?" : "",
			    q.s ? q.s : "");
	gfs_reply_redirect(req, 307, loc);
	free(loc);
	free(gw);
	free(q.s);
}

/* PUT /content is streamed so that the redirect goes out before any of a
 * large body arrives. */
static void content_end(struct gfs_req *req)
{
	if (!gfs_replied(req))
		redirect(req);
}

static const struct gfs_stream_ops content_put_ops = {
	.begin = redirect, .data = NULL, .end = content_end, .done = NULL,
};

/* ---- chunkservers ---- */

/* The body cap of one heartbeat (runs on a worker, before the body). */
static size_t heartbeat_cap(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	size_t known;

	pthread_mutex_lock(&m->lock);
	known = m->chunks.count + HASH_COUNT(m->chunks.pending) +
		HASH_COUNT(m->chunks.garbage);
	pthread_mutex_unlock(&m->lock);
	return HB_FIXED + HB_ENTRY * (2 * known + HB_ORPHANS);
}

static void h_heartbeat(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	json_t *body = gfs_req_json(req), *orders = NULL;
	struct gfs_heartbeat hb;
	const char *bad;
	char why[320];
	bool want_full = false, stepped = false;
	json_t *reply;

	if (!body)
		return;
	if (gfs_heartbeat_parse(body, &hb, &bad)) {
		gfs_reply_error(req, GFS_EINVAL, "%s", bad);
		goto out_free;
	}
	pthread_mutex_lock(&m->lock);
	/* BELIEVED EPOCH (pair mode): a chunkserver saw a newer primary */
	if (!gfs_master_etcd(m) && m->role == GFS_ROLE_PRIMARY &&
	    hb.epoch > m->epoch &&
	    (!hb.primary || strcmp(hb.primary, m->self_url))) {
		snprintf(why, sizeof(why), "chunkserver %s saw epoch %" PRIu64,
			 hb.url, hb.epoch);
		gfs_backup_step_down(m, why, hb.primary);
		stepped = true;
	} else if (m->role == GFS_ROLE_PRIMARY && m->probation_until) {
		m->probation_until = 0;
		gfs_info("heartbeat from %s shows no newer epoch: probation "
			 "over", hb.url);
	} else {
		gfs_backup_learn_primary(m, hb.epoch, hb.primary);
	}
	gfs_csmgr_heartbeat(m, &hb, m->role == GFS_ROLE_PRIMARY, &orders,
			    &want_full);
	reply = json_pack("{s:I, s:s, s:s?, s:b, s:o}", "epoch",
			  (json_int_t)m->epoch, "role",
			  m->role == GFS_ROLE_PRIMARY ? "primary" : "backup",
			  "primary", m->primary_url, "want_full", want_full,
			  "orders", orders);
	pthread_mutex_unlock(&m->lock);
	if (stepped) {
		json_decref(reply);
		fail(req, GFS_ENOTPRIMARY, NULL, "a newer epoch exists");
	} else {
		gfs_reply_json(req, 200, reply);
	}
out_free:
	gfs_heartbeat_clear(&hb);
	json_decref(body);
}

/* ---- backup replication ---- */

static bool is_primary(struct gfs_master *m)
{
	bool p;

	pthread_mutex_lock(&m->lock);
	p = m->role == GFS_ROLE_PRIMARY;
	pthread_mutex_unlock(&m->lock);
	return p;
}

static void reply_gone(struct gfs_req *req, uint64_t from)
{
	gfs_reply_json(req, 410, json_pack("{s:s, s:s, s:I}", "error",
		"records before this are only in the checkpoint: GET "
		"/checkpoint", "code", "gone", "from", (json_int_t)from));
}

/* A poll's arguments into *q (q->prev_crc may point at *prev_crc); false
 * after an error reply. */
static bool oplog_args(struct gfs_req *req, struct gfs_isr_poll *q,
		       uint32_t *prev_crc)
{
	struct gfs_master *m = begin(req);
	const char *echo;
	uint64_t wait = 1000, crc;

	if (gfs_req_arg_u64(req, "from", 0, &q->from) || !q->from ||
	    gfs_req_arg_u64(req, "wait_ms", 1000, &wait)) {
		gfs_reply_error(req, GFS_EINVAL, "from=SEQ (>= 1) required");
		return false;
	}
	if (!is_primary(m)) {
		fail(req, GFS_ENOTPRIMARY, NULL, "not the primary");
		return false;
	}
	q->url = gfs_req_header(req, GFS_HDR_BACKUP);
	if (q->url && (strlen(q->url) > URL_MAX || !gfs_text_valid(q->url))) {
		gfs_reply_error(req, GFS_EINVAL, "X-GFS-Backup must be a URL");
		return false;
	}
	echo = gfs_req_header(req, GFS_HDR_ECHO);
	if (echo && !gfs_isr_parse_echo(echo, &q->echo)) {
		gfs_reply_error(req, GFS_EINVAL,
				"X-GFS-Echo must be STAMP WINDOW_MS");
		return false;
	}
	if (gfs_req_arg_u64(req, "crc", UINT64_MAX, &crc) ||
	    (crc != UINT64_MAX && crc > UINT32_MAX)) {
		gfs_reply_error(req, GFS_EINVAL, "crc is a 32-bit number");
		return false;
	}
	*prev_crc = (uint32_t)crc;
	q->prev_crc = crc == UINT64_MAX ? NULL : prev_crc;
	q->wait_ms = (int64_t)GFS_MIN(wait, OPLOG_WAIT_MAX);
	return true;
}

/* GET /oplog?...&stream=1 with "Upgrade: gfs-oplog": the same poll,
 * answered with the op-log stream (stream.h). */
static void h_oplog_stream(struct gfs_req *req)
{
	struct gfs_isr_poll q = { 0 };
	const char *up = gfs_req_header(req, "Upgrade");
	uint32_t prev_crc;

	if (!oplog_args(req, &q, &prev_crc))
		return;
	if (!q.url || !up || strcmp(up, GFS_STREAM_PROTO)) {
		gfs_reply_error(req, GFS_EINVAL, "a stream needs X-GFS-Backup "
				"and Upgrade: " GFS_STREAM_PROTO);
		return;
	}
	gfs_stream_serve(req, &q);
}

static void h_oplog(struct gfs_req *req)
{
	struct gfs_master *m = req->app;
	struct gfs_enc out = { 0 };
	struct gfs_isr_poll q = { 0 };
	uint32_t prev_crc;
	enum gfs_err err;
	char buf[32];

	if (!oplog_args(req, &q, &prev_crc))
		return;
	err = gfs_isr_serve(&m->isr, m->log, &q, OPLOG_REPLY_MAX, &out);
	if (err == GFS_ENOENT) {
		reply_gone(req, q.from);
		gfs_enc_free(&out);
		return;
	}
	if (err) {
		gfs_enc_free(&out);
		fail(req, err, NULL, "log fenced");
		return;
	}
	snprintf(buf, sizeof(buf), "%" PRIu64, q.next);
	gfs_reply_header(req, "X-GFS-Seq", buf);
	gfs_reply_header(req, "X-GFS-Attached", q.attached ? "1" : "0");
	if (q.attached) {
		snprintf(buf, sizeof(buf), "%" PRId64, q.read_ms);
		gfs_reply_header(req, GFS_HDR_READ_MS, buf);
	}
	gfs_reply_header(req, GFS_HDR_STAMP, q.stamp);
	pthread_mutex_lock(&m->lock);
	snprintf(buf, sizeof(buf), "%" PRIu64 " %" PRIu64, m->prev_epoch,
		 m->epoch_start);
	pthread_mutex_unlock(&m->lock);
	gfs_reply_header(req, "X-GFS-Epoch-Start", buf);
	gfs_reply_bytes(req, 200, "application/octet-stream", out.buf, out.len,
			true);
}

static void h_checkpoint(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	uint8_t *buf;
	size_t len;
	uint64_t next;
	enum gfs_err err;
	char s[32];

	if (!is_primary(m)) {
		fail(req, GFS_ENOTPRIMARY, NULL, "not the primary");
		return;
	}
	err = gfs_ckpt_read(m, &buf, &len, &next);
	if (err) {
		gfs_reply_error(req, err, "no checkpoint yet: read the log "
				"from 1");
		return;
	}
	snprintf(s, sizeof(s), "%" PRIu64, next);
	gfs_reply_header(req, "X-GFS-Seq", s);
	gfs_reply_bytes(req, 200, "application/octet-stream", buf, len, true);
}

/* ---- health ---- */

/* Pair mode: the primary and its attached backups.  Lock held. */
static json_t *pair_isr_json(struct gfs_master *m)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	size_t i, n = gfs_isr_view(&m->isr, v, GFS_ISR_PEERS);
	json_t *a = json_array();

	if (m->role != GFS_ROLE_PRIMARY)
		return a;
	json_array_append_new(a, json_string(m->self_url));
	for (i = 0; i < n; i++)
		if (v[i].member)
			json_array_append_new(a, json_string(v[i].url));
	return a;
}

/* "leader", "isr" and "in_sync" (this master holds every acknowledged
 * record) as this master knows them.  Lock held. */
static void add_leadership(struct gfs_master *m, json_t *j)
{
	if (gfs_master_etcd(m)) {
		gfs_election_status(m->el, j);
		return;
	}
	json_object_set_new(j, "mode", json_string("pair"));
	json_object_set_new(j, "leader", m->primary_url
		? json_pack("{s:s, s:I}", "url", m->primary_url, "epoch",
			    (json_int_t)m->epoch)
		: json_null());
	json_object_set_new(j, "isr", pair_isr_json(m));
	json_object_set_new(j, "in_sync", json_boolean(
		m->role == GFS_ROLE_BACKUP && m->fw.in_sync));
}

/* The first follower, for "backup": {"url", "attached"}. */
static json_t *first_follower(struct gfs_master *m)
{
	struct gfs_isr_view v[1];

	if (!gfs_isr_view(&m->isr, v, 1))
		return json_pack("{s:n, s:b}", "url", "attached", 0);
	return json_pack("{s:s, s:b}", "url", v[0].url, "attached",
			 v[0].attached);
}

static json_t *status_json(struct gfs_master *m)
{
	struct gfs_oplog_stats st;
	bool leader;
	json_t *j;

	gfs_oplog_stats(m->log, &st);
	pthread_mutex_lock(&m->lock);
	leader = m->role == GFS_ROLE_PRIMARY;
	j = json_pack("{s:s, s:I, s:s, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, "
		      "s:o, s:b, s:I, s:o, s:o}",
		      "role", leader ? "primary" : "backup",
		      "epoch", (json_int_t)m->epoch, "url", m->self_url,
		      "primary", m->primary_url, "chunk_size",
		      (json_int_t)m->conf.chunk_size, "replicas",
		      (json_int_t)m->conf.replicas, "files",
		      (json_int_t)m->ns.nfiles, "dirs", (json_int_t)m->ns.ndirs,
		      "chunks", (json_int_t)m->chunks.count, "under_replicated",
		      (json_int_t)m->cs.under_replicated, "chunkservers",
		      gfs_csmgr_status_json(m), "probation",
		      m->probation_until != 0, "seq", (json_int_t)st.next_seq,
		      "backup", first_follower(m), "followers",
		      leader ? gfs_isr_json(&m->isr, st.next_seq)
			     : json_array());
	add_leadership(m, j);
	json_object_set_new(j, "kept", json_integer((json_int_t)
						    m->ns.kept.count));
	pthread_mutex_unlock(&m->lock);
	return j;
}

/* Client operations served so far: the namespace, leases and content
 * routes (not status, heartbeats or the log).  O(routes). */
static uint64_t ops_total(struct gfs_master *m)
{
	return gfs_httpd_requests(m->httpd, GFS_API "/files") +
	       gfs_httpd_requests(m->httpd, GFS_API "/leases") +
	       gfs_httpd_requests(m->httpd, GFS_API "/content");
}

/* Any page may read it: the web page of one master shows the others. */
static void h_status(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	json_t *j = status_json(m);

	json_object_set_new(j, "ops_total", json_integer((json_int_t)
							 ops_total(m)));
	gfs_reply_header(req, "Access-Control-Allow-Origin", "*");
	gfs_reply_json(req, 200, j);
}

static void h_healthz(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);

	gfs_reply_json(req, 200, json_pack("{s:b, s:s}", "ok", 1, "role",
					   is_primary(m) ? "primary" : "backup"));
}

/* One family of one sample, named gfs_master_NAME. */
#define METRIC(type, name, help, value)                                   \
	gfs_metric_u64(out, "gfs_master_" name, type, help, (uint64_t)(value))

/* The namespace, the chunkservers, the role.  Lock held. */
static void metrics_state(struct gfs_master *m, FILE *out)
{
	unsigned alive = gfs_csmgr_alive_count(m);

	METRIC("gauge", "files", "files in the namespace", m->ns.nfiles);
	METRIC("gauge", "dirs", "explicit directories", m->ns.ndirs);
	METRIC("gauge", "chunks", "chunks known", m->chunks.count);
	gfs_metric_head(out, "gfs_master_chunkservers", "gauge",
			"chunkservers known, by state");
	fprintf(out, "gfs_master_chunkservers{state=\"alive\"} %u\n"
		"gfs_master_chunkservers{state=\"dead\"} %zu\n", alive,
		m->cs.n - alive);
	METRIC("gauge", "under_replicated",
	       "chunks with fewer live replicas than wanted",
	       m->cs.under_replicated);
	METRIC("gauge", "epoch", "this master's epoch", m->epoch);
	METRIC("gauge", "primary", "1 when this master is the primary",
	       m->role == GFS_ROLE_PRIMARY);
}

/* The op log.  Lock not needed (its own). */
static void metrics_oplog(struct gfs_master *m, FILE *out)
{
	struct gfs_oplog_stats st;
	struct gfs_isr_view v[GFS_ISR_PEERS];
	size_t i, n = gfs_isr_view(&m->isr, v, GFS_ISR_PEERS);
	uint64_t by_sender, pushed;
	unsigned attached = 0;

	for (i = 0; i < n; i++)
		attached += v[i].attached;
	gfs_oplog_stats(m->log, &st);
	METRIC("counter", "oplog_records_total", "op-log records appended",
	       st.records);
	METRIC("counter", "oplog_fsyncs_total", "fdatasyncs of the op log",
	       st.fsyncs);
	METRIC("counter", "oplog_bytes_total", "bytes written to the op log",
	       st.bytes);
	METRIC("gauge", "oplog_seq", "sequence number of the next record",
	       st.next_seq);
	METRIC("gauge", "backup_attached",
	       "followers mutations wait for (the backup, in pair mode)",
	       attached);
	gfs_stream_frames(&by_sender, &pushed);
	gfs_metric_head(out, "gfs_master_oplog_stream_frames_total", "counter",
			"record frames sent to streaming followers: pushed "
			"by the group commit as written, or by the stream's "
			"own thread");
	fprintf(out, "gfs_master_oplog_stream_frames_total{by=\"push\"} %"
		PRIu64 "\n", pushed);
	fprintf(out, "gfs_master_oplog_stream_frames_total{by=\"sender\"} %"
		PRIu64 "\n", by_sender);
	gfs_metric_head(out, "gfs_master_oplog_fsync_seconds", "histogram",
			"time of one op-log fdatasync (a group commit)");
	gfs_metric_histo(out, "gfs_master_oplog_fsync_seconds", "",
			 &m->log->fsync_us);
}

/* GET /metrics (and /api/v1/metrics): Prometheus text. */
static void h_metrics(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	struct gfs_metrics_text t;
	FILE *out = gfs_metrics_open(&t);

	if (out) {
		pthread_mutex_lock(&m->lock);
		metrics_state(m, out);
		pthread_mutex_unlock(&m->lock);
		metrics_oplog(m, out);
		gfs_httpd_metrics(m->httpd, "gfs_master", out);
	}
	gfs_reply_metrics(req, &t);
}

/* ---- leadership (ext) ---- */

/* BELIEVED EPOCH (pair mode): the backup that took over tells us its
 * epoch.  Unauthenticated for now: the next step signs it (cluster
 * secret); etcd mode refuses it, epochs come from etcd there. */
static void h_epoch(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	json_t *body = gfs_req_json(req);
	const char *primary = NULL;
	uint64_t epoch = 0;

	if (!body)
		return;
	if (gfs_json_u64(body, "epoch", true, &epoch) ||
	    gfs_json_str(body, "primary", true, &primary) ||
	    strncmp(primary, "http://", 7) || strlen(primary) > 255) {
		gfs_reply_error(req, GFS_EINVAL, "need epoch and primary");
	} else if (gfs_master_etcd(m)) {
		gfs_reply_error(req, GFS_EINVAL, "epochs come from etcd here");
	} else {
		pthread_mutex_lock(&m->lock);
		if (epoch > m->epoch)
			gfs_backup_step_down(m, "the backup took over", primary);
		pthread_mutex_unlock(&m->lock);
		gfs_reply_json(req, 200, json_pack("{s:I}", "epoch",
						   (json_int_t)epoch));
	}
	json_decref(body);
}

static void h_detach(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	const char *url = NULL;

	if (gfs_req_arg(req, "url", &url)) {
		gfs_reply_error(req, GFS_EINVAL, "bad url");
		return;
	}
	reply(req, gfs_backup_detach(m, url), 200, json_object(),
	      gfs_master_etcd(m) ? "the leader detaches silent followers "
				   "itself (etcd mode)" : "not the primary");
}

static void h_promote(struct gfs_req *req)
{
	struct gfs_master *m = begin(req);
	enum gfs_err err = gfs_backup_force_promote(m);

	reply(req, err, 200, json_object(),
	      err == GFS_EEXIST ? "a leader holds the etcd lease: nothing to "
				  "force"
	      : err == GFS_EUNAVAIL ? "cannot promote now (re-syncing, or "
				     "etcd unreachable)"
				   : "promotion failed");
}

/*
 * The API.  Order matters where patterns overlap: the "op" routes come
 * before /chunks and /commit, so POST /files/a/chunks?op=rename renames
 * the file /a/chunks, while POST /files/a/chunks allocates for /a.
 * Columns after the handlers: the body cap (0: none for GET and DELETE),
 * flags, and a cap computed per request.  Every handler takes the master
 * lock, which a checkpoint holds for a while: none runs inline.  The
 * flags also say who may call (httpd.h, checked before the body): PUB
 * anyone, RD a client key, WR a read-write key, both only within the
 * key's prefixes, CLUSTER the other servers alone (the cluster secret).
 */
#define PUB GFS_ROUTE_PUBLIC
#define RD (GFS_ROUTE_READ | GFS_ROUTE_PATH)
#define WR (GFS_ROUTE_WRITE | GFS_ROUTE_PATH)
#define CLUSTER 0
#define ADMIN (GFS_ROUTE_WRITE | GFS_ROUTE_ADMIN)
static const struct gfs_route routes[] = {
	{ "GET", GFS_API "/status", NULL, h_status, NULL, 0, PUB, NULL },
	{ "GET", GFS_API "/healthz", NULL, h_healthz, NULL, 0, PUB, NULL },
	{ "GET", GFS_API "/metrics", NULL, h_metrics, NULL, 0, PUB, NULL },
	/* namespace (a listing is filtered by the key's prefixes) */
	{ "GET", GFS_API "/files", NULL, h_list, NULL, 0, GFS_ROUTE_READ,
	  NULL },
	{ "POST", GFS_API "/files/*", "op", h_files_op, NULL, SMALL_BODY, WR,
	  NULL },
	{ "POST", GFS_API "/files/", "op", h_files_op, NULL, SMALL_BODY, WR,
	  NULL },
	/* writing */
	{ "POST", GFS_API "/files/*/chunks", NULL, h_alloc, NULL, SMALL_BODY,
	  WR, NULL },
	{ "POST", GFS_API "/files/*/commit", NULL, h_commit, NULL,
	  GFS_JSON_MAX, WR | GFS_ROUTE_TRY_INLINE, NULL },
	{ "POST", GFS_API "/files/*/tokens", NULL, h_tokens, NULL, SMALL_BODY,
	  RD, NULL },
	{ "POST", GFS_API "/chunks", NULL, h_preplace, NULL, SMALL_BODY,
	  GFS_ROUTE_WRITE, NULL },
	{ "GET", GFS_API "/files/*", NULL, h_stat, NULL, 0,
	  RD | GFS_ROUTE_TRY_INLINE, NULL },
	{ "GET", GFS_API "/files/", NULL, h_stat, NULL, 0,
	  RD | GFS_ROUTE_TRY_INLINE, NULL },
	{ "PUT", GFS_API "/files/*", NULL, h_create, NULL, SMALL_BODY,
	  WR | GFS_ROUTE_TRY_INLINE, NULL },
	{ "DELETE", GFS_API "/files/*", NULL, h_delete, NULL, 0,
	  WR | GFS_ROUTE_TRY_INLINE, NULL },
	/* leases */
	{ "GET", GFS_API "/leases/*", NULL, h_lease_get, NULL, 0, RD, NULL },
	{ "PUT", GFS_API "/leases/*", NULL, h_lease_put, NULL, SMALL_BODY, WR,
	  NULL },
	{ "DELETE", GFS_API "/leases/*", NULL, h_lease_delete, NULL, 0, WR,
	  NULL },
	/* files unlinked while open (ext): the holder's own; its
	 * attributes first, as /kept/ * would take ID/xattrs */
	{ "GET", GFS_API "/kept/*/xattrs", NULL, h_kept_xattr_get, NULL, 0,
	  GFS_ROUTE_WRITE, NULL },
	{ "PUT", GFS_API "/kept/*/xattrs", NULL, h_kept_xattr_put, NULL,
	  XATTR_BODY, GFS_ROUTE_WRITE, NULL },
	{ "DELETE", GFS_API "/kept/*/xattrs", NULL, h_kept_xattr_delete, NULL,
	  0, GFS_ROUTE_WRITE, NULL },
	{ "PUT", GFS_API "/kept/*", NULL, h_kept_put, NULL, SMALL_BODY,
	  GFS_ROUTE_WRITE, NULL },
	{ "DELETE", GFS_API "/kept/*", NULL, h_kept_delete, NULL, 0,
	  GFS_ROUTE_WRITE, NULL },
	{ "POST", GFS_API "/kept/*/chunks", NULL, h_kept_alloc, NULL,
	  SMALL_BODY, GFS_ROUTE_WRITE, NULL },
	/* extended attributes (ext); /xattrs/ alone: the root's */
	{ "GET", GFS_API "/xattrs/*", NULL, h_xattr_get, NULL, 0, RD, NULL },
	{ "PUT", GFS_API "/xattrs/*", NULL, h_xattr_put, NULL, XATTR_BODY, WR,
	  NULL },
	{ "DELETE", GFS_API "/xattrs/*", NULL, h_xattr_delete, NULL, 0, WR,
	  NULL },
	{ "GET", GFS_API "/xattrs/", NULL, h_xattr_get, NULL, 0, RD, NULL },
	{ "PUT", GFS_API "/xattrs/", NULL, h_xattr_put, NULL, XATTR_BODY, WR,
	  NULL },
	{ "DELETE", GFS_API "/xattrs/", NULL, h_xattr_delete, NULL, 0, WR,
	  NULL },
	/* gateway redirect: the body of a PUT, any size, is never read */
	{ "GET", GFS_API "/content/*", NULL, redirect, NULL, 0, RD, NULL },
	{ "PUT", GFS_API "/content/*", NULL, NULL, &content_put_ops, SIZE_MAX,
	  WR, NULL },
	/* chunkserver reports */
	{ "POST", GFS_API "/heartbeat", NULL, h_heartbeat, NULL, 0, CLUSTER,
	  heartbeat_cap },
	/* backup replication */
	{ "GET", GFS_API "/oplog", "stream", h_oplog_stream, NULL, 0, CLUSTER,
	  NULL },
	{ "GET", GFS_API "/oplog", NULL, h_oplog, NULL, 0, CLUSTER, NULL },
	{ "GET", GFS_API "/checkpoint", NULL, h_checkpoint, NULL, 0, CLUSTER,
	  NULL },
	/* leadership (ext): notices between masters; an operator's
	 * detach and promote need a read-write key to the whole tree */
	{ "POST", GFS_API "/epoch", NULL, h_epoch, NULL, SMALL_BODY, CLUSTER,
	  NULL },
	{ "POST", GFS_API "/detach", NULL, h_detach, NULL, SMALL_BODY, ADMIN,
	  NULL },
	{ "POST", GFS_API "/promote", NULL, h_promote, NULL, SMALL_BODY, ADMIN,
	  NULL },
	/* for people and Prometheus */
	{ "GET", "/", NULL, gfs_webui_get, NULL, 0, GFS_ROUTE_INLINE | PUB,
	  NULL },
	{ "GET", "/ui/*", NULL, gfs_webui_get, NULL, 0,
	  GFS_ROUTE_INLINE | PUB, NULL },
	{ "GET", "/metrics", NULL, h_metrics, NULL, 0, PUB, NULL },
};
#undef PUB
#undef RD
#undef WR
#undef CLUSTER
#undef ADMIN

const struct gfs_route *gfs_routes_table(size_t *n)
{
	*n = GFS_ARRAY_SIZE(routes);
	return routes;
}

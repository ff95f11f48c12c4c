/*
 * ops.c - validated operations; see ops.h.
 *
 * Shape of a mutation: parse what needs no state (outside the lock), then
 * under the lock: writable() (primary, out of probation), look up, check
 * leases and every rule, encode the record, gfs_ops_log() (apply, then
 * append), build the reply; then, without the lock, gfs_ops_wait().
 *
 * The *_now() twins (create, delete, commit) run in the event thread:
 * the lock only if free (lock_for()), and no wait: logged() writes the
 * record ahead and hands its seq back; acks.c decides the wait as
 * wait_durable() would, and gfs_ops_acked() is finish()'s end.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "constants.h"
#include "csmgr.h"
#include "journal.h"
#include "json.h"
#include "lease.h"
#include "log.h"
#include "master.h"
#include "ops.h"
#include "path.h"
#include "util.h"
#include "xattr.h"

#define URL_MAX 512
#define COMMIT_CHUNKS_MAX (1u << 20)
#define GFS_PREPLACE_DEFAULT 8  /* pre-placed chunks a call hands out */
#define GFS_PREPLACE_MAX 64
/* The longest a read waits for chunk locations still being reported (a
 * restarted or promoted master) before it answers 503: the reports
 * window (--probation, 4 s by default) usually ends first; below a
 * client's 10 s call timeout. */
#define LOCATE_WAIT_MS 8000

uint64_t gfs_ops_log(struct gfs_master *m, struct gfs_enc *rec)
{
	uint8_t type = rec->buf[0];
	uint64_t seq;

	if (!gfs_journal_apply(m, rec->buf, rec->len)) {
		gfs_error("bug: a validated record (type %u) does not apply",
			  type);
		abort();
	}
	seq = gfs_oplog_append(m->log, rec->buf, rec->len);
	m->applied_seq = seq + 1;
	/* the ack trace (see finish()): where and when an epoch began */
	if (type == GFS_REC_EPOCH)
		gfs_debug("epoch start epoch=%" PRIu64 " seq=%" PRIu64
			  " mono_ns=%" PRId64, m->epoch, seq, gfs_mono_ns());
	gfs_enc_free(rec);
	if (m->applied_seq - m->ckpt_seq >= m->conf.checkpoint_every)
		pthread_cond_signal(&m->wake);
	return seq;
}

uint64_t gfs_ops_stamp_root(struct gfs_master *m, uint64_t seq)
{
	struct gfs_rec_inode a = { 0 };
	struct gfs_enc rec = { 0 };

	if (m->ns.root->ctime_ns)
		return seq;
	a.atime_ns = a.mtime_ns = a.ctime_ns = gfs_now_ns();
	gfs_rec_attr(&rec, "/", GFS_ATTR_ATIME | GFS_ATTR_MTIME |
		     GFS_ATTR_CTIME, &a);
	return gfs_ops_log(m, &rec);
}

/* Durable here, then on every member of the in-sync set (isr.c);
 * mutation: and acknowledged while this master may acknowledge (*at_ns,
 * unless NULL: when that was decided). */
static enum gfs_err wait_durable(struct gfs_master *m, uint64_t seq,
				 bool mutation, int64_t *at_ns)
{
	int64_t t0 = gfs_log_enabled(GFS_LOG_DEBUG) ? gfs_mono_us() : 0, t1;
	enum gfs_err err;

	if (!gfs_oplog_wait(m->log, seq))
		return GFS_ENOTPRIMARY;
	t1 = t0 ? gfs_mono_us() : 0;
	err = gfs_isr_wait(&m->isr, seq, mutation,
			   gfs_mono_ms() + GFS_ACK_WAIT_MS, at_ns);
	/* where an acknowledgement waited (docs/PERFORMANCE.md) */
	if (t0 && mutation)
		gfs_log(GFS_LOG_DEBUG,
			"time durable seq=%" PRIu64 " log=%lldus isr=%lldus",
			seq, (long long)(t1 - t0),
			(long long)(gfs_mono_us() - t1));
	return err;
}

enum gfs_err gfs_ops_wait(struct gfs_master *m, uint64_t seq)
{
	return wait_durable(m, seq, true, NULL);
}

/* Wait, after a read, until everything it may have seen is durable. */
static enum gfs_err wait_visible(struct gfs_master *m, uint64_t applied,
				 bool primary)
{
	if (primary && applied > 1)
		return wait_durable(m, applied - 1, false, NULL);
	return GFS_OK;
}

/*
 * May this master answer a read now?  Lock held.  Only while nobody else
 * may have acknowledged a change it lacks.  A pair-mode primary: while
 * it could acknowledge a mutation (gfs_isr_writable(): no member
 * silent); a member that went silent may have taken over (this primary
 * was paused, or restarted and resumed).  An etcd leader answers while it
 * is primary, also past its lease when etcd is gone (issue 9: losing etcd
 * stops writes, not reads; it steps down when it learns of another
 * leader, and a leader cut off from etcd alone may answer stale reads
 * until then: docs/MASTER.md).  What the read
 * saw is made durable on every member before it is answered
 * (wait_visible()).  In probation it answers, waiting for reports where
 * it must (locatable()).  A backup only while it holds every
 * acknowledged change: its last poll said it was attached, and was sent
 * less than the read window that answer gave (--backup-detach or less,
 * less drift and margin) ago: the leader acknowledges nothing without us
 * until that long after it answered
 * (gfs_isr_read_until(); an answer held up in the network leaves a
 * shorter window, or none).  Any other backup (catching
 * up, re-syncing, an old primary that just stepped down, one cut off
 * from the primary) may lack changes a client was told are done: the
 * reader goes to the primary (421), or tries the next master (503) when
 * we know no primary.
 */
static enum gfs_err readable(struct gfs_master *m)
{
	if (m->role == GFS_ROLE_PRIMARY)
		return gfs_isr_writable(&m->isr) || gfs_master_etcd(m)
			       ? GFS_OK : GFS_EUNAVAIL;
	if (m->fw.in_sync && !m->fw.resync &&
	    gfs_mono_ms() < m->fw.read_until_ms)
		return GFS_OK;
	return m->primary_url && strcmp(m->primary_url, m->self_url)
		       ? GFS_ENOTPRIMARY : GFS_EUNAVAIL;
}

/* Mutations only on a primary out of probation that can acknowledge
 * them (isr.c: inside its lease, no member silent).  Lock held. */
static enum gfs_err writable(struct gfs_master *m)
{
	if (m->role != GFS_ROLE_PRIMARY)
		return GFS_ENOTPRIMARY;
	if (m->probation_until && gfs_mono_ms() < m->probation_until)
		return GFS_EUNAVAIL;
	if (!gfs_isr_writable(&m->isr))
		return GFS_EUNAVAIL;
	return GFS_OK;
}

/* The node at path as clients see it: a hidden file (an upload not
 * committed yet) is absent.  Lock held. */
static enum gfs_err lookup(struct gfs_master *m, const char *path,
			   struct gfs_node **n)
{
	enum gfs_err err = gfs_ns_lookup(&m->ns, path, n);

	return !err && (*n)->hidden ? GFS_ENOENT : err;
}

/* The entry at path (a hard link's own node) as clients see it.  Lock
 * held. */
static enum gfs_err lookup_entry(struct gfs_master *m, const char *path,
				 struct gfs_node **n)
{
	enum gfs_err err = gfs_ns_lookup_entry(&m->ns, path, n);

	return !err && gfs_ns_inode(*n)->hidden ? GFS_ENOENT : err;
}

static const char *const type_names[] = {
	[GFS_NODE_FILE] = "file", [GFS_NODE_DIR] = "dir",
	[GFS_NODE_SYMLINK] = "symlink", [GFS_NODE_FIFO] = "fifo",
	[GFS_NODE_SOCK] = "socket", [GFS_NODE_CHR] = "char",
	[GFS_NODE_BLK] = "block",
};

/* The type of a create body's "type", or -1. */
static int type_of_name(const char *name)
{
	for (int t = 0; t <= GFS_NODE_BLK; t++)
		if (!strcmp(type_names[t], name))
			return t;
	return -1;
}

/* The size an inode shows: a file's bytes, a symlink's target length. */
static uint64_t inode_size(const struct gfs_node *n)
{
	if (n->type == GFS_NODE_FILE)
		return n->file.size;
	return n->type == GFS_NODE_SYMLINK ? strlen(n->sym.target) : 0;
}

/* The inode fields of an entry (ext): ino, nlink, uid, gid, atime, ctime,
 * and a symlink's target or a device's rdev. */
static void add_inode_json(json_t *j, const struct gfs_node *n)
{
	json_object_set_new(j, "ino", json_integer((json_int_t)n->ino));
	json_object_set_new(j, "nlink", json_integer(gfs_ns_nlink(n)));
	json_object_set_new(j, "uid", json_integer(n->uid));
	json_object_set_new(j, "gid", json_integer(n->gid));
	json_object_set_new(j, "atime_ns", json_integer(n->atime_ns));
	json_object_set_new(j, "ctime_ns", json_integer(n->ctime_ns));
	if (n->type == GFS_NODE_SYMLINK)
		json_object_set_new(j, "target", json_string(n->sym.target));
	if (n->type == GFS_NODE_CHR || n->type == GFS_NODE_BLK)
		json_object_set_new(j, "rdev",
				    json_integer((json_int_t)n->dev.rdev));
}

static json_t *chunks_json(struct gfs_master *m, const struct gfs_node *f)
{
	json_t *a = json_array();
	uint32_t i;

	for (i = 0; i < f->file.nchunks; i++) {
		const struct gfs_chunk *c = gfs_ns_chunks(f)[i];

		json_array_append_new(a, json_pack(
			"{s:I, s:o, s:I, s:I, s:o}", "index",
			(json_int_t)c->index, "handle",
			gfs_json_handle_new(c->handle), "version",
			(json_int_t)c->version, "length", (json_int_t)c->length,
			"replicas", gfs_csmgr_replicas_json(m, c)));
	}
	return a;
}

/* GET /files/PATH entry (full: with chunks).  Lock held. */
static json_t *entry_json(struct gfs_master *m, struct gfs_node *n,
			  const char *path, bool full)
{
	struct gfs_lease *l;
	json_t *j = json_pack("{s:s, s:s, s:I, s:f, s:I}", "path", path,
			      "type", type_names[n->type],
			      "mode", (json_int_t)n->mode, "mtime",
			      (double)n->mtime_ns / 1e9, "mtime_ns",
			      (json_int_t)n->mtime_ns);

	add_inode_json(j, n);
	if (n->type != GFS_NODE_FILE) {
		if (n->type != GFS_NODE_DIR)
			json_object_set_new(j, "size",
					    json_integer((json_int_t)
							 inode_size(n)));
		return j;
	}
	l = gfs_lease_get(n, gfs_lease_now_ms());
	json_object_set_new(j, "size", json_integer((json_int_t)n->file.size));
	json_object_set_new(j, "chunk_size",
			    json_integer(n->file.chunk_size));
	json_object_set_new(j, "lease", l ? gfs_lease_json(l, path)
					  : json_null());
	if (full)
		json_object_set_new(j, "chunks", chunks_json(m, n));
	return j;
}

/* The entry of node after a mutation, by path lookup.  Lock held. */
static json_t *entry_at(struct gfs_master *m, const char *path, bool full)
{
	struct gfs_node *n;

	if (gfs_ns_lookup(&m->ns, path, &n))
		return json_object();
	return entry_json(m, n, path, full);
}

/* The directory holding path (not "/") into buf. */
static void parent_path(const char *path, char buf[GFS_PATH_MAX + 1])
{
	size_t len = (size_t)(strrchr(path, '/') - path);

	len = GFS_MIN(len, (size_t)GFS_PATH_MAX);
	memcpy(buf, path, len);
	buf[len] = '\0';
	if (!len)
		memcpy(buf, "/", 2);
}

/* Append to a: the entry of the directory holding path, unless a names
 * it already or it went with the mutation.  Lock held. */
static void add_parent(struct gfs_master *m, json_t *a, const char *path)
{
	char dir[GFS_PATH_MAX + 1];
	struct gfs_node *n;
	json_t *e;
	size_t i;

	parent_path(path, dir);
	json_array_foreach(a, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "path")), dir))
			return;
	if (!gfs_ns_lookup(&m->ns, dir, &n) && n->type == GFS_NODE_DIR)
		json_array_append_new(a, entry_json(m, n, dir, false));
}

/* "parents" (ext) into a mutation's reply out: the entries of the
 * directories whose names it changed (that of path, and that of to
 * unless NULL), as GET ?stat=1 shows them now, so that a client need
 * not ask for them next (docs/PROTOCOL.md).  Lock held, after the
 * record applied. */
static void add_parents(struct gfs_master *m, json_t *out, const char *path,
			const char *to)
{
	json_t *a;

	if (!json_is_object(out))
		return;
	a = json_array();
	add_parent(m, a, path);
	if (to)
		add_parent(m, a, to);
	json_object_set_new(out, "parents", a);
}

/* GFS_ELEASED with the lease in *out when f is leased by another. */
static enum gfs_err check_lease(struct gfs_node *f, const char *path,
				const char *client, json_t **out)
{
	int64_t now = gfs_lease_now_ms();

	if (f->type != GFS_NODE_FILE || !gfs_lease_blocks(f, client, now))
		return GFS_OK;
	*out = gfs_lease_json(gfs_lease_get(f, now), path);
	return GFS_ELEASED;
}

struct blocker {
	const char *client;
	int64_t now;
};

static bool blocks_cb(void *cls, struct gfs_node *f)
{
	struct blocker *b = cls;

	return gfs_lease_blocks(f, b->client, b->now);
}

/* GFS_ELEASED with the lease in *out when a file below directory n is
 * leased by another: moving the directory would move that file.  O(1)
 * when no lease is held below n (gfs_ns_find_lease()). */
static enum gfs_err check_leases_below(struct gfs_node *n, const char *client,
				       json_t **out)
{
	struct blocker b = { client, gfs_lease_now_ms() };
	char path[GFS_PATH_MAX + 1];
	struct gfs_node *f;

	if (n->type != GFS_NODE_DIR)
		return GFS_OK;
	f = gfs_ns_find_lease(n, blocks_cb, &b);
	if (!f)
		return GFS_OK;
	gfs_ns_path(f, path);
	*out = gfs_lease_json(gfs_lease_get(f, b.now), path);
	return GFS_ELEASED;
}

/*
 * Whether the chunk locations of n can be told now (lock held).  A chunk
 * with bytes and no live location is lost, or not reported yet: a backup
 * (which learns locations from heartbeats only, after the commit it
 * replays) sends the reader to the primary, which knows them from the
 * commit; a primary still hearing reports (restarted or promoted) makes
 * it wait.  Only a chunk no report can bring back is answered without
 * replicas.
 */
static enum gfs_err locatable(struct gfs_master *m, struct gfs_node *n)
{
	bool primary = m->role == GFS_ROLE_PRIMARY;

	if (n->type != GFS_NODE_FILE ||
	    gfs_csmgr_where(m, n, !primary) != GFS_WHERE_COMING)
		return GFS_OK;
	if (primary)
		return GFS_EUNAVAIL;
	return m->primary_url && strcmp(m->primary_url, m->self_url)
		       ? GFS_ENOTPRIMARY : GFS_EUNAVAIL;
}

/* After a GFS_EUNAVAIL of locatable(): wait for a report (lock held)
 * when that can help; false when the answer stands. */
static bool wait_locations(struct gfs_master *m, enum gfs_err err,
			   int64_t deadline)
{
	return err == GFS_EUNAVAIL && m->role == GFS_ROLE_PRIMARY &&
	       gfs_csmgr_wait_report(m, deadline);
}

enum gfs_err gfs_ops_stat(struct gfs_master *m, const char *path,
			  const char *client, bool full, json_t **out)
{
	int64_t deadline = gfs_mono_ms() + LOCATE_WAIT_MS;
	struct gfs_node *n;
	enum gfs_err err, werr;
	uint64_t applied;
	bool primary;

	pthread_mutex_lock(&m->lock);
	do {
		err = readable(m);
		if (!err)
			err = lookup(m, path, &n);
		if (!err && full)
			err = check_lease(n, path, client, out);
		if (!err && full)
			err = locatable(m, n);
	} while (wait_locations(m, err, deadline));
	if (!err)
		*out = entry_json(m, n, path, full);
	applied = m->applied_seq;
	primary = m->role == GFS_ROLE_PRIMARY;
	pthread_mutex_unlock(&m->lock);
	/* a 404 may show a delete that is not durable yet: wait for it too */
	werr = wait_visible(m, applied, primary);
	if (werr)
		err = werr;
	if (err && err != GFS_ELEASED && *out) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/* Is what a read saw (up to applied) durable on every member already?
 * wait_visible() without the wait. */
static bool visible_now(struct gfs_master *m, uint64_t applied, bool primary)
{
	return !primary || applied <= 1 ||
	       (gfs_oplog_durable(m->log, applied - 1) &&
		!gfs_isr_wait(&m->isr, applied - 1, false, 0, NULL));
}

bool gfs_ops_stat_now(struct gfs_master *m, const char *path,
		      enum gfs_err *err, json_t **out, uint64_t *epoch)
{
	struct gfs_node *n;
	uint64_t applied;
	bool primary;

	*out = NULL;
	if (pthread_mutex_trylock(&m->lock))
		return false;
	*err = readable(m);
	if (!*err)
		*err = lookup(m, path, &n);
	if (!*err)
		*out = entry_json(m, n, path, false);
	applied = m->applied_seq;
	primary = m->role == GFS_ROLE_PRIMARY;
	*epoch = m->epoch;
	pthread_mutex_unlock(&m->lock);
	if (visible_now(m, applied, primary))
		return true;
	json_decref(*out);
	*out = NULL;
	return false;
}

/* ---- listing ---- */

/* A listing's reply *out goes out once what it saw is durable. */
static enum gfs_err settle_read(struct gfs_master *m, uint64_t applied,
				bool primary, json_t **out)
{
	enum gfs_err err = wait_visible(m, applied, primary);

	if (err) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/*
 * A listing copies what it shows into a plain array under the lock (about
 * 0.1 us a node) and builds the JSON after dropping it: a million JSON
 * objects built under the lock held it for seconds.  A page (a request
 * with a limit) holds the lock for its own entries only, and for about
 * 8 nodes an entry at most in a prefix listing (directories passed on
 * the way, hidden files).  A whole listing (no limit, as callers before
 * pages asked) stops at LIST_MAX entries (413): its reply would be
 * larger than any client takes, and the lock must not be held for it.
 */
#define LIST_MAX 100000
#define LIST_VISITS 8               /* nodes a prefix page visits / limit */

/* One node as listed. */
struct listed {
	char *name;                 /* path or name, owned */
	char *target;               /* a symlink's, owned, or NULL */
	int64_t mtime_ns, atime_ns, ctime_ns;
	uint64_t size, ino, rdev;
	uint64_t pos;               /* in its directory (gfs_ns_pos()) */
	uint32_t mode, uid, gid, nlink;
	uint8_t type;
};

struct listing {
	struct listed *v;           /* owned */
	size_t n, cap;
	size_t max;                 /* entries taken at most */
};

static void list_add(struct listing *l, struct gfs_node *entry,
		     const char *name, uint64_t pos)
{
	struct gfs_node *n = gfs_ns_inode(entry);
	bool dev = n->type == GFS_NODE_CHR || n->type == GFS_NODE_BLK;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = gfs_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = (struct listed){
		.name = gfs_xstrdup(name), .mtime_ns = n->mtime_ns,
		.target = n->type == GFS_NODE_SYMLINK ?
				  gfs_xstrdup(n->sym.target) : NULL,
		.atime_ns = n->atime_ns, .ctime_ns = n->ctime_ns,
		.size = inode_size(n), .ino = n->ino, .pos = pos,
		.rdev = dev ? n->dev.rdev : 0, .mode = n->mode, .uid = n->uid,
		.gid = n->gid, .nlink = gfs_ns_nlink(n), .type = n->type,
	};
}

static bool prefix_cb(void *cls, struct gfs_node *n, const char *path)
{
	struct listing *l = cls;

	if (!gfs_ns_inode(n)->hidden)
		list_add(l, n, path, 0);
	return l->n < l->max;
}

static int listed_cmp(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->name,
		      ((const struct listed *)b)->name);
}

/* One listed entry as JSON (new reference), its name under key; with
 * pos, its position too. */
static json_t *listed_json(const struct listed *e, const char *key, bool pos)
{
	json_t *o = json_pack(
		"{s:s, s:s, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		key, e->name, "type", type_names[e->type], "size",
		(json_int_t)e->size, "mtime", (double)e->mtime_ns / 1e9,
		"mtime_ns", (json_int_t)e->mtime_ns, "mode", (json_int_t)e->mode,
		"ino", (json_int_t)e->ino, "nlink", (json_int_t)e->nlink, "uid",
		(json_int_t)e->uid, "gid", (json_int_t)e->gid, "atime_ns",
		(json_int_t)e->atime_ns, "ctime_ns", (json_int_t)e->ctime_ns);

	if (e->type == GFS_NODE_CHR || e->type == GFS_NODE_BLK)
		json_object_set_new(o, "rdev", json_integer((json_int_t)e->rdev));
	if (e->target)
		json_object_set_new(o, "target", json_string(e->target));
	if (pos)
		json_object_set_new(o, "pos", json_integer((json_int_t)e->pos));
	return o;
}

/* The listing into a new JSON array, the name under key: a whole one
 * sorted by name (O(n log n)), a page in listing order with positions
 * (pos).  Frees the listing; without the lock. */
static json_t *list_json(struct listing *l, const char *key, bool page,
			 bool pos)
{
	json_t *a = json_array();
	size_t i;

	if (!page && l->n)
		qsort(l->v, l->n, sizeof(*l->v), listed_cmp);
	for (i = 0; i < l->n; i++) {
		json_array_append_new(a, listed_json(&l->v[i], key, pos));
		free(l->v[i].name);
		free(l->v[i].target);
	}
	free(l->v);
	return a;
}

static void list_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].target);
	}
	free(l->v);
}

/* A listing's reply {key: entries, "next": cursor} (cursor may be NULL:
 * no "next"), settled; frees the listing. */
static enum gfs_err list_reply(struct gfs_master *m, struct listing *l,
			       const struct gfs_list_req *q, const char *key,
			       const char *cursor, json_t *out,
			       uint64_t applied, bool primary, json_t **res)
{
	bool dir = !strcmp(key, "name");

	json_object_set_new(out, dir ? "entries" : "files",
			    list_json(l, key, q->limit, dir && q->limit));
	if (cursor)
		json_object_set_new(out, "next", json_string(cursor));
	*res = out;
	return settle_read(m, applied, primary, res);
}

enum gfs_err gfs_ops_list_prefix(struct gfs_master *m, const char *prefix,
				 bool dirs, const struct gfs_list_req *q,
				 json_t **out)
{
	struct listing l = { .max = q->limit ? q->limit : LIST_MAX + 1 };
	size_t budget = q->limit ? q->limit * LIST_VISITS : SIZE_MAX;
	char *next = NULL;
	enum gfs_err err;
	uint64_t applied;
	bool primary;

	pthread_mutex_lock(&m->lock);
	err = readable(m);
	if (!err)
		err = gfs_ns_list_prefix(&m->ns, prefix, dirs, q->cursor,
					 budget, prefix_cb, &l, &next);
	applied = m->applied_seq;
	primary = m->role == GFS_ROLE_PRIMARY;
	pthread_mutex_unlock(&m->lock);
	if (!err && !q->limit && l.n > LIST_MAX)
		err = GFS_ETOOBIG;
	if (err) {
		list_free(&l);
		free(next);
		return err;
	}
	err = list_reply(m, &l, q, "path", q->limit ? next : NULL,
			 json_object(), applied, primary, out);
	free(next);
	return err;
}

/* A directory listing's cursor: the position it goes on from, in
 * lowercase hex (at most GFS_NS_POS_END). */
static bool parse_dir_cursor(const char *c, uint64_t *from)
{
	size_t i;

	*from = 0;
	if (!c)
		return true;
	for (i = 0; c[i]; i++)
		if (i == 16 || !strchr("0123456789abcdef", c[i]))
			return false;
	*from = strtoull(c, NULL, 16);
	return i && *from <= GFS_NS_POS_END;
}

/* The entries of d from position from on (at most l->max, hidden files
 * left out) into l; returns where the next page starts, or
 * GFS_NS_POS_END + 1 at the end.  O(entries read). */
static uint64_t list_kids(struct listing *l, struct gfs_node *d,
			  uint64_t from)
{
	struct gfs_ns_kid *kids;
	bool more;
	size_t i, n = gfs_ns_list_kids(d, from, l->max, &kids, &more);
	uint64_t next = more && n ? kids[n - 1].pos + 1 : GFS_NS_POS_END + 1;

	for (i = 0; i < n; i++)
		if (!gfs_ns_inode(kids[i].node)->hidden)
			list_add(l, kids[i].node, gfs_ns_name(kids[i].node),
				 kids[i].pos);
	free(kids);
	return next;
}

enum gfs_err gfs_ops_list_dir(struct gfs_master *m, const char *dir,
			      const struct gfs_list_req *q, json_t **out)
{
	struct listing l = { .max = q->limit ? q->limit : LIST_MAX };
	struct gfs_node *d;
	enum gfs_err err = GFS_OK;
	uint64_t applied, from, next = GFS_NS_POS_END + 1;
	char *cursor = NULL;
	bool primary;

	if (!parse_dir_cursor(q->cursor, &from))
		return GFS_EINVAL;
	pthread_mutex_lock(&m->lock);
	err = readable(m);
	if (!err)
		err = lookup(m, dir, &d);
	if (!err && d->type != GFS_NODE_DIR)
		err = GFS_ENOTDIR;
	if (!err)
		next = list_kids(&l, d, from);
	applied = m->applied_seq;
	primary = m->role == GFS_ROLE_PRIMARY;
	pthread_mutex_unlock(&m->lock);
	if (!err && !q->limit && next <= GFS_NS_POS_END)
		err = GFS_ETOOBIG;
	if (err) {
		list_free(&l);
		return wait_visible(m, applied, primary) ?: err;
	}
	if (q->limit && next <= GFS_NS_POS_END)
		cursor = gfs_xasprintf("%" PRIx64, next);
	err = list_reply(m, &l, q, "name", cursor,
			 json_pack("{s:s}", "path", dir), applied, primary,
			 out);
	free(cursor);
	return err;
}

/* ---- namespace mutations ---- */

static enum gfs_err parse_mode(json_t *body, uint32_t def, uint32_t *mode)
{
	uint64_t v = def;

	if (gfs_json_u64(body, "mode", false, &v) || v > 07777)
		return GFS_EINVAL;
	*mode = (uint32_t)v;
	return GFS_OK;
}

/* A mutation already applied under request id (this is a retry): *seq
 * is its record, to wait for before answering.  Lock held. */
static bool repeated(struct gfs_master *m, const struct gfs_request_id *id,
		     uint64_t *seq)
{
	const struct gfs_request *r;

	if (!id)
		return false;
	r = gfs_requests_find(&m->requests, id, gfs_now_ns() / 1000000);
	if (r)
		*seq = r->seq;
	return r != NULL;
}

/* A *_now() call starts with nothing done (and may end before any
 * lock, on bad input). */
static void now_reset(struct gfs_ops_now *now)
{
	if (now)
		*now = (struct gfs_ops_now){ 0 };
}

/* Take the master lock, at once or not at all in the event thread (now
 * not NULL: false and now->busy when it is held, as by a checkpoint's
 * fork or a listing). */
static bool lock_for(struct gfs_master *m, struct gfs_ops_now *now)
{
	if (!now) {
		pthread_mutex_lock(&m->lock);
		return true;
	}
	now->busy = pthread_mutex_trylock(&m->lock) != 0;
	now->seq = 0;
	return !now->busy;
}

/* Take the lock for a mutation with request id (may be NULL): whether
 * this master may make it, and *again when it was made already (a
 * retry; *seq is its record).  With now, nothing when the lock is busy
 * (now->busy, the lock not held). */
static enum gfs_err begin_mutation(struct gfs_master *m,
				   const struct gfs_request_id *id,
				   uint64_t *seq, bool *again,
				   struct gfs_ops_now *now)
{
	enum gfs_err err;

	*again = false;
	if (!lock_for(m, now))
		return GFS_OK;
	err = writable(m);
	*again = !err && repeated(m, id, seq);
	return err;
}

/* Start a mutation's record: inside a REQUEST record when it has an id. */
static void rec_begin(struct gfs_enc *rec, const struct gfs_request_id *id)
{
	if (id)
		gfs_rec_request(rec, id, gfs_now_ns() / 1000000);
}

/* The epoch to name in the ack trace (0: not tracing).  The epoch is
 * read before the wait: a master that steps down meanwhile fences its log,
 * so a mutation it still acknowledges was made under this epoch, or the
 * trace shows the bug. */
static uint64_t trace_epoch(struct gfs_master *m)
{
	uint64_t epoch;

	if (!gfs_log_enabled(GFS_LOG_DEBUG))
		return 0;
	pthread_mutex_lock(&m->lock);
	epoch = m->epoch;
	pthread_mutex_unlock(&m->lock);
	return epoch;
}

/* Finish a mutation: wait for seq unless err, drop *out on failure.
 * With --log-level debug, an acknowledged one logs "ack epoch=E seq=S
 * mono_ns=T" (CLOCK_MONOTONIC at the decision, as gfs_isr_wait() read
 * it: a thread stopped between the decision and the log must not show a
 * later time; its reply goes out late, as any reply may, and what it
 * acknowledged is on every member all the same) and gfs_ops_log() logs
 * "epoch start epoch=E seq=S mono_ns=T" for each EPOCH record, so that a
 * test can check that no two masters ever acknowledge in the same span
 * of time, and that nothing acknowledged under an epoch lies at or past
 * the record where a later epoch began (docs/MASTER.md). */
static enum gfs_err finish(struct gfs_master *m, enum gfs_err err,
			   uint64_t seq, json_t **out)
{
	uint64_t epoch = 0;
	int64_t at_ns = 0;

	if (!err && seq) {
		epoch = trace_epoch(m);
		err = wait_durable(m, seq, true, &at_ns);
		if (!err && epoch)
			gfs_log(GFS_LOG_DEBUG, "ack epoch=%" PRIu64 " seq=%"
				PRIu64 " mono_ns=%" PRId64, epoch, seq, at_ns);
	}
	if (err && err != GFS_ELEASED && *out) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

/*
 * End a mutation, the master lock held: with now (the event thread), drop
 * the lock and leave the wait to whoever completes the record's
 * durability (now->seq, now->epoch; routes.c holds the request, acks.c
 * decides, the reply is made with gfs_ops_acked()); the record is
 * written at once (gfs_oplog_write_ahead()).  Without, drop the lock and
 * wait here (finish()).
 */
static enum gfs_err logged(struct gfs_master *m, enum gfs_err err,
			   uint64_t seq, json_t **out, struct gfs_ops_now *now)
{
	if (!now) {
		pthread_mutex_unlock(&m->lock);
		return finish(m, err, seq, out);
	}
	now->seq = err ? 0 : seq;
	now->epoch = m->epoch;
	pthread_mutex_unlock(&m->lock);
	if (now->seq)
		gfs_oplog_write_ahead(m->log);
	return gfs_ops_acked(err, out);
}

enum gfs_err gfs_ops_acked(enum gfs_err err, json_t **out)
{
	if (err && err != GFS_ELEASED && *out) {
		json_decref(*out);
		*out = NULL;
	}
	return err;
}

static void prealloc(struct gfs_master *m, const char *path, json_t *out);

/* Whether path may be created: it is free, or only a hidden file (an
 * upload not committed) holds it.  Lock held. */
static enum gfs_err can_create(struct gfs_master *m, const char *path)
{
	enum gfs_err err = strcmp(path, "/") ? gfs_ns_can_create(&m->ns, path)
					     : GFS_EEXIST;
	struct gfs_node *n;

	if (err == GFS_EEXIST && !gfs_ns_lookup(&m->ns, path, &n) && n->hidden)
		return GFS_OK;
	return err;
}

/* A create body: the new inode's fields (ino left for the lock). */
static enum gfs_err parse_create(json_t *body, struct gfs_master *m,
				 struct gfs_rec_inode *in, bool *alloc)
{
	const char *type = "file", *target = NULL;
	bool hidden = false;
	uint64_t uid = 0, gid = 0, rdev = 0;
	uint32_t mode;
	int t;

	in->mtime_ns = gfs_now_ns();
	*alloc = false;
	if (gfs_json_str(body, "type", false, &type) ||
	    gfs_json_bool(body, "alloc", false, alloc) ||
	    gfs_json_bool(body, "hidden", false, &hidden) ||
	    gfs_json_i64(body, "mtime_ns", false, &in->mtime_ns) ||
	    gfs_json_str(body, "target", false, &target) ||
	    gfs_json_u64(body, "uid", false, &uid) || uid > UINT32_MAX ||
	    gfs_json_u64(body, "gid", false, &gid) || gid > UINT32_MAX ||
	    gfs_json_u64(body, "rdev", false, &rdev) ||
	    (t = type_of_name(type)) < 0)
		return GFS_EINVAL;
	if ((hidden && t != GFS_NODE_FILE) ||
	    (t == GFS_NODE_SYMLINK) != (target != NULL))
		return GFS_EINVAL;
	if (target && (!*target || strlen(target) > GFS_PATH_MAX ||
		       strlen(target) !=
			       json_string_length(json_object_get(body,
								  "target")) ||
		       !gfs_text_valid(target)))
		return GFS_EINVAL;
	if (parse_mode(body, t == GFS_NODE_DIR ? 0755 :
			     t == GFS_NODE_SYMLINK ? 0777 : 0644, &mode))
		return GFS_EINVAL;
	*in = (struct gfs_rec_inode){
		.type = (uint8_t)t,
		.flags = (t == GFS_NODE_DIR ? GFS_MK_EXPLICIT : 0) |
			 (hidden ? GFS_MK_HIDDEN : 0),
		.mode = mode, .uid = (uint32_t)uid, .gid = (uint32_t)gid,
		.atime_ns = in->mtime_ns, .mtime_ns = in->mtime_ns,
		.ctime_ns = in->mtime_ns,
		.chunk_size = t == GFS_NODE_FILE ? (uint32_t)m->conf.chunk_size
						  : 0,
		.rdev = t == GFS_NODE_CHR || t == GFS_NODE_BLK ? rdev : 0,
		.target = target,
	};
	return GFS_OK;
}

enum gfs_err gfs_ops_create_now(struct gfs_master *m, const char *path,
				json_t *body, const struct gfs_request_id *id,
				struct gfs_ops_now *now, json_t **out)
{
	struct gfs_rec_inode in;
	struct gfs_enc rec = { 0 };
	bool alloc, again = false;
	enum gfs_err err = parse_create(body, m, &in, &alloc);
	uint64_t seq = 0;

	now_reset(now);
	if (err)
		return err;
	if (now && alloc) { /* placement: a worker's */
		now->busy = true;
		return GFS_OK;
	}
	err = begin_mutation(m, id, &seq, &again, now);
	if (now && now->busy)
		return GFS_OK;
	if (again)
		*out = entry_at(m, path, false);
	if (!err && !again)
		err = can_create(m, path);
	if (!err && !again) {
		/* a hidden file it replaces goes first: its number is free */
		in.ino = m->ns.next_ino;
		rec_begin(&rec, id);
		gfs_rec_mknode(&rec, path, &in);
		seq = gfs_ops_log(m, &rec);
		*out = entry_at(m, path, false);
		if (in.type == GFS_NODE_FILE && alloc) {
			prealloc(m, path, *out);
			/* its handle's reservation must be durable too */
			seq = GFS_MAX(seq, m->reserve_seq);
		}
	}
	if (!err)
		add_parents(m, *out, path, NULL);
	return logged(m, err, seq, out, now);
}

enum gfs_err gfs_ops_create(struct gfs_master *m, const char *path,
			    json_t *body, const struct gfs_request_id *id,
			    json_t **out)
{
	return gfs_ops_create_now(m, path, body, id, NULL, out);
}

static enum gfs_err check_delete(struct gfs_node *n, const char *type)
{
	if (type && !strcmp(type, "file") && n->type == GFS_NODE_DIR)
		return GFS_EISDIR;
	if (type && !strcmp(type, "dir") && n->type != GFS_NODE_DIR)
		return GFS_ENOTDIR;
	if (n->type == GFS_NODE_DIR && gfs_ns_nkids(n))
		return GFS_ENOTEMPTY;
	return GFS_OK;
}

enum gfs_err gfs_ops_delete_now(struct gfs_master *m, const char *path,
				const char *client, const char *type,
				const struct gfs_request_id *id,
				struct gfs_ops_now *now, json_t **out)
{
	struct gfs_enc rec = { 0 };
	struct gfs_node *n;
	enum gfs_err err;
	uint64_t seq = 0;
	bool again;

	now_reset(now);
	if (!strcmp(path, "/") ||
	    (type && strcmp(type, "file") && strcmp(type, "dir")))
		return GFS_EINVAL;
	err = begin_mutation(m, id, &seq, &again, now);
	if (now && now->busy)
		return GFS_OK;
	if (!err && !again)
		err = lookup_entry(m, path, &n);
	if (!err && !again)
		err = check_delete(n, type);
	if (!err && !again)
		err = check_lease(gfs_ns_inode(n), path, client, out);
	if (!err && !again) {
		rec_begin(&rec, id);
		gfs_rec_delete(&rec, path);
		gfs_rec_time(&rec, gfs_now_ns());
		seq = gfs_ops_log(m, &rec);
	}
	if (!err) {
		*out = json_object();
		add_parents(m, *out, path, NULL);
	}
	return logged(m, err, seq, out, now);
}

enum gfs_err gfs_ops_delete(struct gfs_master *m, const char *path,
			    const char *client, const char *type,
			    const struct gfs_request_id *id, json_t **out)
{
	return gfs_ops_delete_now(m, path, client, type, id, NULL, out);
}

/* Whether entry n and the one at `to` are names of one inode (a rename
 * between them does nothing).  Lock held. */
static bool same_inode_at(struct gfs_master *m, struct gfs_node *n,
			  const char *to)
{
	struct gfs_node *at;

	return !gfs_ns_lookup_entry(&m->ns, to, &at) &&
	       gfs_ns_same_inode(n, at);
}

/* The inode entry n names when another name of it stays once n goes
 * (a hard link), else NULL. */
static struct gfs_node *surviving_inode(struct gfs_node *n)
{
	return n && n->type != GFS_NODE_DIR && !gfs_ns_last_name(n)
		       ? gfs_ns_inode(n) : NULL;
}

/* {"links": the names inode has, "other": the path of one of them}
 * (new), or {} for NULL.  After the removal.  O(depth). */
static json_t *links_json(const struct gfs_node *inode)
{
	char other[GFS_PATH_MAX + 1];

	if (!inode)
		return json_object();
	gfs_ns_path(inode, other);
	return json_pack("{s:I, s:s}", "links", (json_int_t)inode->nlink,
			 "other", other);
}

static json_t *kept_json(uint64_t kid, int64_t expires_ms, uint32_t ttl);

/* A rename's record; with keep_ttl_s (not 0) a victim that is a file's
 * last name is kept for client (kept.h), *kept its reply ({"links"}
 * when another name of the victim stays), else NULL.  The seq to wait
 * for.  Lock held. */
static uint64_t log_rename(struct gfs_master *m, const char *path,
			   const char *to, struct gfs_node *victim,
			   uint64_t keep_ttl_s, const char *client,
			   const struct gfs_request_id *id, json_t **kept)
{
	struct gfs_rec_keep k = {
		.id = m->applied_seq, /* this record's seq: never reused */
		.holder = client, .ttl = (uint32_t)keep_ttl_s,
		.expires_ms = gfs_lease_now_ms() + (int64_t)keep_ttl_s * 1000,
	};
	struct gfs_node *inode = keep_ttl_s ? surviving_inode(victim) : NULL;
	struct gfs_enc rec = { 0 };
	uint64_t seq;

	*kept = NULL;
	rec_begin(&rec, id);
	gfs_rec_rename(&rec, path, to);
	gfs_rec_time(&rec, gfs_now_ns());
	if (keep_ttl_s && victim && gfs_ns_keepable(victim)) {
		gfs_rec_keep(&rec, &k);
		*kept = kept_json(k.id, k.expires_ms, k.ttl);
	}
	seq = gfs_ops_log(m, &rec);
	if (inode) /* another name of the file it replaced stays */
		*kept = links_json(inode);
	return seq;
}

enum gfs_err gfs_ops_rename(struct gfs_master *m, const char *path,
			    const char *to, bool overwrite,
			    uint64_t keep_ttl_s, const char *client,
			    const struct gfs_request_id *id, json_t **out)
{
	struct gfs_node *n, *victim = NULL;
	json_t *kept = NULL;
	enum gfs_err err;
	uint64_t seq = 0;
	bool again;

	if (keep_ttl_s && (!client || keep_ttl_s > GFS_LEASE_TTL_MAX_S))
		return GFS_EINVAL;
	err = begin_mutation(m, id, &seq, &again, NULL);
	if (!err && !again)
		err = lookup_entry(m, path, &n);
	if (!err && !again)
		err = gfs_ns_can_rename(&m->ns, n, to, overwrite, &victim);
	if (!err && !again)
		err = check_lease(gfs_ns_inode(n), path, client, out);
	if (!err && !again)
		err = check_leases_below(n, client, out);
	if (!err && !again && victim)
		err = check_lease(gfs_ns_inode(victim), to, client, out);
	if (!err && !again && !same_inode_at(m, n, to))
		seq = log_rename(m, path, to, victim, keep_ttl_s, client, id,
				 &kept);
	else if (!err && !again && keep_ttl_s)
		/* two names of one inode: nothing changes, and the caller
		 * that has `to` open goes on with it by its names */
		kept = links_json(gfs_ns_inode(n));
	if (!err)
		*out = entry_at(m, to, false);
	if (!err && kept) /* none for a retried request: that one expires */
		json_object_update(*out, kept);
	if (!err)
		add_parents(m, *out, path, to);
	if (kept)
		json_decref(kept);
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

enum gfs_err gfs_ops_link(struct gfs_master *m, const char *path,
			  const char *to, const char *client,
			  const struct gfs_request_id *id, json_t **out)
{
	struct gfs_enc rec = { 0 };
	struct gfs_node *n;
	enum gfs_err err;
	uint64_t seq = 0;
	bool again;

	err = begin_mutation(m, id, &seq, &again, NULL);
	if (!err && !again)
		err = lookup(m, path, &n);
	if (!err && !again && n->type == GFS_NODE_DIR)
		err = GFS_EISDIR;
	if (!err && !again)
		err = check_lease(n, path, client, out);
	if (!err && !again)
		err = can_create(m, to);
	if (!err && !again) {
		rec_begin(&rec, id);
		gfs_rec_link(&rec, path, to, gfs_now_ns());
		seq = gfs_ops_log(m, &rec);
	}
	if (!err) {
		*out = entry_at(m, to, false);
		add_parents(m, *out, to, NULL);
	}
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

/* A setattr body: which fields (GFS_ATTR_*) and their values. */
static enum gfs_err parse_setattr(json_t *body, uint8_t *which,
				  struct gfs_rec_inode *a)
{
	static const struct { const char *key; uint8_t bit; } u32s[] = {
		{ "mode", GFS_ATTR_MODE }, { "uid", GFS_ATTR_UID },
		{ "gid", GFS_ATTR_GID },
	};
	uint64_t v[3] = { 0 };
	size_t i;

	*which = 0;
	for (i = 0; i < 3; i++) {
		if (gfs_json_u64(body, u32s[i].key, false, &v[i]) ||
		    v[i] > (i ? UINT32_MAX : 07777))
			return GFS_EINVAL;
		if (json_object_get(body, u32s[i].key))
			*which |= u32s[i].bit;
	}
	if (gfs_json_i64(body, "atime_ns", false, &a->atime_ns) ||
	    gfs_json_i64(body, "mtime_ns", false, &a->mtime_ns))
		return GFS_EINVAL;
	*which |= json_object_get(body, "atime_ns") ? GFS_ATTR_ATIME : 0;
	*which |= json_object_get(body, "mtime_ns") ? GFS_ATTR_MTIME : 0;
	a->mode = (uint32_t)v[0];
	a->uid = (uint32_t)v[1];
	a->gid = (uint32_t)v[2];
	return GFS_OK;
}

enum gfs_err gfs_ops_setattr(struct gfs_master *m, const char *path,
			     const char *client, json_t *body, json_t **out)
{
	struct gfs_rec_inode a = { 0 };
	struct gfs_enc rec = { 0 };
	uint64_t seq = 0;
	struct gfs_node *n;
	enum gfs_err err;
	uint8_t which;

	if (parse_setattr(body, &which, &a))
		return GFS_EINVAL;
	pthread_mutex_lock(&m->lock);
	err = writable(m);
	if (!err)
		err = lookup(m, path, &n);
	if (!err)
		err = check_lease(n, path, client, out);
	if (!err && which) {
		/* every change of the inode is a change of its ctime */
		a.ctime_ns = gfs_now_ns();
		gfs_rec_attr(&rec, path, which | GFS_ATTR_CTIME, &a);
		seq = gfs_ops_log(m, &rec);
	}
	if (!err)
		*out = entry_at(m, path, false);
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

/* ---- writing ---- */

static bool url_list_ok(json_t *a)
{
	json_t *v;
	size_t i;

	if (!a || json_is_null(a))
		return true;
	if (!json_is_array(a) || json_array_size(a) > 64)
		return false;
	json_array_foreach(a, i, v)
		if (!json_is_string(v) || strlen(json_string_value(v)) > URL_MAX)
			return false;
	return true;
}

static json_t *nonnull(json_t *a)
{
	return a && json_is_array(a) ? a : NULL;
}

/* A new handle, logging a reservation first when the batch ran out. */
static uint64_t new_handle(struct gfs_master *m)
{
	struct gfs_enc rec = { 0 };

	if (gfs_chunks_need_reserve(&m->chunks)) {
		gfs_rec_reserve(&rec, m->chunks.reserved + GFS_HANDLE_BATCH);
		m->reserve_seq = gfs_ops_log(m, &rec);
	}
	return gfs_chunks_take_handle(&m->chunks);
}

/*
 * A new file's first chunk, allocated with the create ("alloc": true): the
 * client writing a small file saves a round trip.  Placed as
 * gfs_ops_alloc() would; when no chunkserver can take it the create
 * succeeds without it.  Lock held.
 */
static void prealloc(struct gfs_master *m, const char *path, json_t *out)
{
	struct gfs_pending placed = { 0 }, *p;
	json_t *reps = NULL;
	struct gfs_node *f;
	uint64_t handle;

	if (gfs_ns_lookup(&m->ns, path, &f) ||
	    gfs_csmgr_place(m, f, 0, NULL, NULL, &reps, &placed))
		return;
	handle = new_handle(m);
	p = gfs_chunks_add_pending(&m->chunks, handle, f->ino, 0,
				   gfs_mono_ms());
	memcpy(p->placed, placed.placed, sizeof(p->placed));
	p->nplaced = placed.nplaced;
	json_object_set_new(out, "alloc",
			    json_pack("{s:i, s:o, s:i, s:o, s:I}", "index", 0,
				      "handle", gfs_json_handle_new(handle),
				      "version", 1, "replicas", reps,
				      "chunk_size",
				      (json_int_t)f->file.chunk_size));
}

/*
 * "replaces": the pending allocation of f a server refused, which the
 * client is placing again: its promised room is free again, so that a
 * burst of refusals does not fill every server on paper until the next
 * heartbeats.  Anything else named there is ignored.  Lock held.
 */
static void give_up(struct gfs_master *m, struct gfs_node *f,
		    const char *client, json_t *body)
{
	struct gfs_pending *p;
	uint64_t h = 0;

	if (gfs_json_handle(body, "replaces", false, &h) || !h)
		return;
	p = gfs_chunks_pending(&m->chunks, h);
	if (!p || !gfs_chunks_pending_for(p, f->ino, client))
		return;
	gfs_csmgr_unplace(m, p->file_id ? f : NULL, p);
	gfs_chunks_del_pending(&m->chunks, p);
}

static enum gfs_err alloc_index(struct gfs_node *f, json_t *body,
				uint32_t *index)
{
	uint64_t i = f->file.nchunks
		? (uint64_t)gfs_ns_chunks(f)[f->file.nchunks - 1]->index + 1 : 0;

	if (gfs_json_u64(body, "index", false, &i) || i >= UINT32_MAX ||
	    i * f->file.chunk_size >= (1ull << 62))
		return GFS_EINVAL;
	*index = (uint32_t)i;
	return GFS_OK;
}

static struct gfs_kept *kept_of(struct gfs_master *m, uint64_t kid,
				const char *client);

/* GFS_EOTHER when body names an "ino" *(ext)* (the inode the caller
 * has open) and path's file f is another one now (the caller's was
 * removed or replaced by another client): its writes must not land in
 * a file it never opened.  Lock held. */
static enum gfs_err same_inode(const struct gfs_node *f, json_t *body)
{
	uint64_t ino = 0;

	if (gfs_json_u64(body, "ino", false, &ino))
		return GFS_EINVAL;
	return ino && ino != f->ino ? GFS_EOTHER : GFS_OK;
}

/* The file an allocation is for: the one at path, or (path NULL) the
 * caller's kept file kid.  Lock held. */
static enum gfs_err alloc_target(struct gfs_master *m, const char *path,
				 uint64_t kid, const char *client,
				 json_t *body, struct gfs_node **f,
				 json_t **out)
{
	struct gfs_kept *k;
	enum gfs_err err;

	if (!path) {
		k = kept_of(m, kid, client);
		*f = k ? k->node : NULL;
		return k ? GFS_OK : GFS_ENOENT;
	}
	err = gfs_ns_lookup(&m->ns, path, f);
	if (!err && (*f)->type != GFS_NODE_FILE)
		err = GFS_EISDIR;
	if (!err)
		err = same_inode(*f, body);
	if (!err)
		err = check_lease(*f, path, client, out);
	return err;
}

static enum gfs_err alloc(struct gfs_master *m, const char *path,
			  uint64_t kid, const char *client, json_t *body,
			  json_t **out)
{
	json_t *near = json_object_get(body, "near"), *reps = NULL;
	json_t *excl = json_object_get(body, "exclude");
	struct gfs_pending placed = { 0 }, *p;
	struct gfs_node *f;
	enum gfs_err err;
	uint32_t index = 0;
	uint64_t handle, wait_seq;

	if (!url_list_ok(near) || !url_list_ok(excl))
		return GFS_EINVAL;
	pthread_mutex_lock(&m->lock);
	err = writable(m);
	if (!err)
		err = alloc_target(m, path, kid, client, body, &f, out);
	if (!err)
		err = alloc_index(f, body, &index);
	if (!err) {
		give_up(m, f, client, body);
		gfs_ns_touch_hidden(&m->ns, f, gfs_mono_ms());
	}
	if (!err)
		err = gfs_csmgr_place(m, f, index, nonnull(near), nonnull(excl),
				      &reps, &placed);
	if (!err) {
		handle = new_handle(m);
		p = gfs_chunks_add_pending(&m->chunks, handle, f->ino, index,
					   gfs_mono_ms());
		memcpy(p->placed, placed.placed, sizeof(p->placed));
		p->nplaced = placed.nplaced;
		*out = json_pack("{s:I, s:o, s:i, s:o, s:I}", "index",
				 (json_int_t)index, "handle",
				 gfs_json_handle_new(handle), "version", 1,
				 "replicas", reps, "chunk_size",
				 (json_int_t)f->file.chunk_size);
	}
	wait_seq = m->reserve_seq;
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, err ? 0 : wait_seq, out);
}

enum gfs_err gfs_ops_alloc(struct gfs_master *m, const char *path,
			   const char *client, json_t *body, json_t **out)
{
	return alloc(m, path, 0, client, body, out);
}

enum gfs_err gfs_ops_kept_alloc(struct gfs_master *m, uint64_t kid,
				const char *client, json_t *body, json_t **out)
{
	return alloc(m, NULL, kid, client, body, out);
}

/*
 * Pre-placed chunks: handles of no file yet, each placed as chunk 0 of a
 * new file would be, pending for the caller (its lease holder) until its
 * new file commits one (a create+commit) or --orphan-grace passes.  No
 * record but the RESERVE that covers them: a handle is never handed out
 * twice (a restarted or promoted primary starts past every reservation),
 * a commit of one after a failover is accepted as any inherited handle
 * is, and what was written to one never committed is an orphan the
 * chunkservers report, collected after --orphan-grace.  Lock held.
 */
static json_t *preplace_one(struct gfs_master *m, const char *client,
			    json_t *exclude)
{
	struct gfs_pending placed = { 0 }, *p;
	json_t *reps = NULL;
	uint64_t handle;

	if (gfs_csmgr_place(m, NULL, 0, NULL, exclude, &reps, &placed))
		return NULL;
	handle = new_handle(m);
	p = gfs_chunks_add_pending(&m->chunks, handle, 0, 0, gfs_mono_ms());
	p->holder = client ? gfs_xstrdup(client) : NULL;
	memcpy(p->placed, placed.placed, sizeof(p->placed));
	p->nplaced = placed.nplaced;
	return json_pack("{s:o, s:i, s:i, s:o}", "handle",
			 gfs_json_handle_new(handle), "index", 0, "version", 1,
			 "replicas", reps);
}

enum gfs_err gfs_ops_preplace(struct gfs_master *m, const char *client,
			      json_t *body, json_t **out)
{
	json_t *excl = json_object_get(body, "exclude"), *a, *one = NULL;
	uint64_t count = GFS_PREPLACE_DEFAULT, wait_seq;
	enum gfs_err err;

	if (gfs_json_u64(body, "count", false, &count) || !count ||
	    count > GFS_PREPLACE_MAX || !url_list_ok(excl))
		return GFS_EINVAL;
	a = json_array();
	pthread_mutex_lock(&m->lock);
	err = writable(m);
	while (!err && json_array_size(a) < count &&
	       (one = preplace_one(m, client, nonnull(excl))))
		json_array_append_new(a, one);
	if (!err && !json_array_size(a))
		err = GFS_ENOSPC;
	if (!err)
		*out = json_pack("{s:O, s:I, s:I}", "chunks", a, "chunk_size",
				 (json_int_t)m->conf.chunk_size, "ttl_ms",
				 (json_int_t)m->conf.orphan_grace_ms);
	json_decref(a);
	wait_seq = m->reserve_seq;
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, err ? 0 : wait_seq, out);
}

/* What handle h of file f may be had for: {"handle", "index", "version",
 * "ops"}, or NULL when it is not f's (or pending and !writer).  Lock
 * held. */
static json_t *grant(struct gfs_master *m, struct gfs_node *f, uint64_t h,
		     const char *client, bool writer)
{
	struct gfs_chunk *c = gfs_chunks_find(&m->chunks, h);
	struct gfs_pending *p;

	if (c && gfs_ns_chunk_at(f, c->index) == c)
		return json_pack("{s:o, s:I, s:I, s:s}", "handle",
				 gfs_json_handle_new(h), "index",
				 (json_int_t)c->index, "version",
				 (json_int_t)c->version, "ops", "r");
	p = c ? NULL : gfs_chunks_pending(&m->chunks, h);
	if (p && gfs_chunks_pending_for(p, f->ino, client) && writer)
		return json_pack("{s:o, s:I, s:i, s:s}", "handle",
				 gfs_json_handle_new(h), "index",
				 (json_int_t)p->index, "version", 0, "ops",
				 "rw");
	return NULL;
}

enum gfs_err gfs_ops_chunk_grants(struct gfs_master *m, const char *path,
				  const char *client, json_t *handles,
				  bool writer, json_t **out)
{
	json_t *a = json_array(), *v, *g;
	struct gfs_node *f;
	enum gfs_err err;
	uint64_t h;
	size_t i;

	if (!json_is_array(handles))
		return GFS_EINVAL;
	json_array_foreach(handles, i, v)
		if (!json_is_string(v) ||
		    !gfs_handle_parse(json_string_value(v), &h))
			return GFS_EINVAL;
	pthread_mutex_lock(&m->lock);
	err = gfs_ns_lookup(&m->ns, path, &f); /* hidden too: an upload */
	if (!err && f->type != GFS_NODE_FILE)
		err = GFS_EISDIR;
	if (!err)
		err = check_lease(f, path, client, out);
	json_array_foreach(handles, i, v) {
		if (err)
			break;
		gfs_handle_parse(json_string_value(v), &h);
		g = grant(m, f, h, client, writer);
		if (g)
			json_array_append_new(a, g);
	}
	pthread_mutex_unlock(&m->lock);
	if (err) {
		json_decref(a);
		return err;
	}
	*out = json_pack("{s:o}", "chunks", a);
	return GFS_OK;
}

/* A commit request, parsed and checked against itself. */
struct commit_req {
	uint64_t size;
	bool has_size;
	int64_t mtime;
	struct gfs_rec_chunk *c;    /* owned */
	json_t **replicas;          /* borrowed from the body */
	uint32_t n;
};

static enum gfs_err parse_commit_chunk(json_t *o, struct gfs_rec_chunk *c,
				       json_t **replicas)
{
	uint64_t index = 0, version = 0, length = 0;

	if (!json_is_object(o) || gfs_json_u64(o, "index", true, &index) ||
	    gfs_json_handle(o, "handle", true, &c->handle) ||
	    gfs_json_u64(o, "version", true, &version) ||
	    gfs_json_u64(o, "length", false, &length) ||
	    index >= UINT32_MAX || !version || version > UINT32_MAX ||
	    length > UINT32_MAX || !url_list_ok(json_object_get(o, "replicas")))
		return GFS_EINVAL;
	c->index = (uint32_t)index;
	c->version = (uint32_t)version;
	c->length = (uint32_t)length;
	*replicas = nonnull(json_object_get(o, "replicas"));
	return GFS_OK;
}

static int rc_index_cmp(const void *a, const void *b)
{
	const struct gfs_rec_chunk *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

static int rc_handle_cmp(const void *a, const void *b)
{
	const struct gfs_rec_chunk *x = a, *y = b;

	return (x->handle > y->handle) - (x->handle < y->handle);
}

/* No index or handle twice.  O(n log n). */
static bool commit_unique(const struct commit_req *r)
{
	struct gfs_rec_chunk *s = gfs_xmalloc((r->n + 1) * sizeof(*s));
	bool ok = true;
	uint32_t i;

	if (!r->n) {
		free(s);
		return true;
	}
	memcpy(s, r->c, r->n * sizeof(*s));
	qsort(s, r->n, sizeof(*s), rc_index_cmp);
	for (i = 1; i < r->n && ok; i++)
		ok = s[i].index != s[i - 1].index;
	qsort(s, r->n, sizeof(*s), rc_handle_cmp);
	for (i = 1; i < r->n && ok; i++)
		ok = s[i].handle != s[i - 1].handle;
	free(s);
	return ok;
}

static enum gfs_err parse_commit(json_t *body, struct commit_req *r)
{
	json_t *a = json_object_get(body, "chunks"), *o;
	size_t i;

	memset(r, 0, sizeof(*r));
	r->mtime = gfs_now_ns();
	r->has_size = json_object_get(body, "size") != NULL;
	if (gfs_json_u64(body, "size", false, &r->size) ||
	    r->size >= (1ull << 62) ||
	    gfs_json_i64(body, "mtime_ns", false, &r->mtime) ||
	    (a && !json_is_null(a) && (!json_is_array(a) ||
				    json_array_size(a) > COMMIT_CHUNKS_MAX)))
		return GFS_EINVAL;
	if (!json_is_array(a))
		return GFS_OK;
	r->c = gfs_xcalloc(json_array_size(a) + 1, sizeof(*r->c));
	r->replicas = gfs_xcalloc(json_array_size(a) + 1, sizeof(json_t *));
	json_array_foreach(a, i, o) {
		if (parse_commit_chunk(o, &r->c[i], &r->replicas[i]))
			return GFS_EINVAL;
		r->n++;
	}
	return commit_unique(r) ? GFS_OK : GFS_EINVAL;
}

/* May handle rc be committed into f (NULL: a file being created) by
 * client?  Lock held. */
static enum gfs_err commit_handle_ok(struct gfs_master *m, struct gfs_node *f,
				     const char *client,
				     const struct gfs_rec_chunk *rc)
{
	struct gfs_chunk *c = gfs_chunks_find(&m->chunks, rc->handle);
	struct gfs_pending *p;

	if (c)
		return f && gfs_ns_chunk_at(f, rc->index) == c &&
		       c->version == rc->version ? GFS_OK : GFS_EINVAL;
	p = gfs_chunks_pending(&m->chunks, rc->handle);
	if (p)
		return gfs_chunks_pending_for(p, f ? f->ino : 0, client)
			       ? GFS_OK : GFS_EINVAL;
	if (rc->handle && rc->handle < m->chunks.inherit_hi &&
	    !gfs_chunks_is_garbage(&m->chunks, rc->handle))
		return GFS_OK;
	return GFS_EINVAL;
}

/* Does commit r fit file f (NULL: a new file of the master's chunk
 * size)?  Lock held. */
static enum gfs_err commit_fits(struct gfs_master *m, struct gfs_node *f,
				const char *client, struct commit_req *r)
{
	uint64_t cs = f ? f->file.chunk_size : m->conf.chunk_size;
	uint32_t i;

	if (!r->has_size)
		r->size = f ? f->file.size : 0;
	/* the largest file: as many chunks as an index can number */
	if (r->size > GFS_MAX_FILE_CHUNKS * cs)
		return GFS_ETOOBIG;
	for (i = 0; i < r->n; i++) {
		if (r->c[i].length > cs || (uint64_t)r->c[i].index * cs >= r->size)
			return GFS_EINVAL;
		if (commit_handle_ok(m, f, client, &r->c[i]))
			return GFS_EINVAL;
	}
	return GFS_OK;
}

/* The replicas a commit names become its chunks' locations.  Lock
 * held, after the record applied. */
static void commit_locs(struct gfs_master *m, const struct commit_req *r,
			uint64_t chunk_size)
{
	uint32_t i;

	for (i = 0; i < r->n; i++)
		if (r->replicas[i])
			gfs_csmgr_commit_locs(m, gfs_chunks_find(&m->chunks,
								 r->c[i].handle),
					      r->replicas[i], chunk_size);
}

enum gfs_err gfs_ops_commit_now(struct gfs_master *m, const char *path,
				const char *client, json_t *body,
				struct gfs_ops_now *now, json_t **out)
{
	struct gfs_enc rec = { 0 };
	struct commit_req r;
	struct gfs_node *f;
	enum gfs_err err = parse_commit(body, &r);
	uint64_t seq = 0;

	now_reset(now);
	if (!lock_for(m, now)) {
		err = GFS_OK;
		goto out_free;
	}
	if (!err)
		err = writable(m);
	if (!err)
		err = gfs_ns_lookup(&m->ns, path, &f);
	if (!err && f->type != GFS_NODE_FILE)
		err = GFS_EISDIR;
	if (!err)
		err = same_inode(f, body);
	if (!err)
		err = check_lease(f, path, client, out);
	if (!err)
		err = commit_fits(m, f, client, &r);
	if (!err) {
		gfs_rec_commit(&rec, path, r.size, r.mtime, r.c, r.n);
		gfs_rec_time(&rec, gfs_now_ns()); /* ctime */
		seq = gfs_ops_log(m, &rec);
		commit_locs(m, &r, f->file.chunk_size);
		*out = entry_at(m, path, true);
	}
	err = logged(m, err, seq, out, now);
out_free:
	free(r.c);
	free(r.replicas);
	return err;
}

enum gfs_err gfs_ops_commit(struct gfs_master *m, const char *path,
			    const char *client, json_t *body, json_t **out)
{
	return gfs_ops_commit_now(m, path, client, body, NULL, out);
}

/* The create of a create+commit: a plain new file. */
static enum gfs_err parse_create_file(json_t *create, struct gfs_master *m,
				      struct gfs_rec_inode *in)
{
	bool alloc;

	if (!json_is_object(create) || parse_create(create, m, in, &alloc) ||
	    in->type != GFS_NODE_FILE || in->flags || alloc)
		return GFS_EINVAL;
	return GFS_OK;
}

enum gfs_err gfs_ops_create_commit_now(struct gfs_master *m,
				       const char *path, const char *client,
				       json_t *body,
				       const struct gfs_request_id *id,
				       struct gfs_ops_now *now, json_t **out)
{
	struct gfs_rec_inode in;
	struct gfs_enc rec = { 0 };
	struct commit_req r = { 0 };
	enum gfs_err err = parse_create_file(json_object_get(body, "create"),
					     m, &in);
	bool again = false;
	uint64_t seq = 0;

	now_reset(now);
	if (!err)
		err = parse_commit(body, &r);
	if (err)
		goto out_free;
	err = begin_mutation(m, id, &seq, &again, now);
	if (now && now->busy)
		goto out_free;
	if (again)
		*out = entry_at(m, path, true);
	if (!err && !again)
		err = can_create(m, path);
	if (!err && !again)
		err = commit_fits(m, NULL, client, &r);
	if (!err && !again) {
		in.ino = m->ns.next_ino;
		in.mtime_ns = r.mtime;
		rec_begin(&rec, id);
		gfs_rec_create_commit(&rec, path, &in, r.size, r.mtime, r.c,
				      r.n, in.ctime_ns);
		seq = gfs_ops_log(m, &rec);
		commit_locs(m, &r, in.chunk_size);
		*out = entry_at(m, path, true);
	}
	if (!err)
		add_parents(m, *out, path, NULL);
	err = logged(m, err, seq, out, now);
out_free:
	free(r.c);
	free(r.replicas);
	return err;
}

enum gfs_err gfs_ops_create_commit(struct gfs_master *m, const char *path,
				   const char *client, json_t *body,
				   const struct gfs_request_id *id,
				   json_t **out)
{
	return gfs_ops_create_commit_now(m, path, client, body, id, NULL,
					 out);
}

/* ---- leases ---- */

enum gfs_err gfs_ops_lease_get(struct gfs_master *m, const char *path,
			       json_t **out)
{
	struct gfs_lease *l = NULL;
	struct gfs_node *f;
	enum gfs_err err;
	uint64_t applied;
	bool primary;

	*out = NULL;
	pthread_mutex_lock(&m->lock);
	err = readable(m);
	if (!err)
		err = lookup(m, path, &f);
	if (!err && f->type == GFS_NODE_FILE)
		l = gfs_lease_get(f, gfs_lease_now_ms());
	if (!err && !l)
		err = GFS_ENOENT;
	if (!err)
		*out = gfs_lease_json(l, path);
	applied = m->applied_seq;
	primary = m->role == GFS_ROLE_PRIMARY;
	pthread_mutex_unlock(&m->lock);
	/* a 404 may show a release or a delete not durable yet, too */
	if (err == GFS_ENOENT)
		return wait_visible(m, applied, primary) ?: err;
	return err ? err : settle_read(m, applied, primary, out);
}

enum gfs_err gfs_ops_lease_put(struct gfs_master *m, const char *path,
			       const char *client, uint64_t ttl_s,
			       json_t **out)
{
	struct gfs_enc rec = { 0 };
	struct gfs_node *f;
	enum gfs_err err;
	uint64_t seq = 0;
	int64_t expires;

	if (!client || !*client || strlen(client) > GFS_HOLDER_MAX ||
	    ttl_s > GFS_LEASE_TTL_MAX_S)
		return GFS_EINVAL;
	if (!ttl_s)
		ttl_s = GFS_LEASE_TTL_S;
	pthread_mutex_lock(&m->lock);
	err = writable(m);
	if (!err)
		err = lookup(m, path, &f);
	if (!err && f->type != GFS_NODE_FILE)
		err = GFS_EISDIR;
	if (!err)
		err = check_lease(f, path, client, out);
	if (!err) {
		expires = gfs_lease_now_ms() + (int64_t)ttl_s * 1000;
		gfs_rec_lease(&rec, path, client, expires, (uint32_t)ttl_s);
		seq = gfs_ops_log(m, &rec);
		*out = gfs_lease_json(f->lease, path);
	}
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

enum gfs_err gfs_ops_lease_delete(struct gfs_master *m, const char *path,
				  const char *client,
				  const struct gfs_request_id *id, json_t **out)
{
	struct gfs_enc rec = { 0 };
	struct gfs_lease *l = NULL;
	struct gfs_node *f;
	enum gfs_err err;
	uint64_t seq = 0;
	bool again;

	err = begin_mutation(m, id, &seq, &again, NULL);
	if (!err && !again)
		err = lookup(m, path, &f);
	if (!err && !again && f->type == GFS_NODE_FILE)
		l = gfs_lease_get(f, gfs_lease_now_ms());
	if (!err && !again && !l)
		err = GFS_ENOENT;
	if (!err && !again)
		err = check_lease(f, path, client, out);
	if (!err && !again) {
		rec_begin(&rec, id);
		gfs_rec_unlease(&rec, path);
		seq = gfs_ops_log(m, &rec);
	}
	if (!err)
		*out = json_object();
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

/* ---- uploads never committed ---- */

#define REAP_PER_TICK 64

void gfs_ops_reap_hidden(struct gfs_master *m, int64_t now_ms)
{
	int64_t cutoff = now_ms - (int64_t)m->conf.orphan_grace_ms;
	char path[GFS_PATH_MAX + 1];
	struct gfs_enc rec = { 0 };
	struct gfs_node *f;
	int n;

	if (writable(m))
		return;
	for (n = 0; n < REAP_PER_TICK; n++) {
		f = gfs_ns_stale_hidden(&m->ns, cutoff);
		if (!f)
			break;
		gfs_ns_path(f, path);
		gfs_info("upload of %s never committed: removed", path);
		gfs_rec_delete(&rec, path);
		gfs_rec_time(&rec, gfs_now_ns());
		gfs_ops_log(m, &rec);
	}
}

/* ---- gateway redirect ---- */

enum gfs_err gfs_ops_gateway(struct gfs_master *m, const char *path,
			     const char *client, char **url, json_t **lease)
{
	int64_t deadline = gfs_mono_ms() + LOCATE_WAIT_MS;
	const char *gw = NULL;
	struct gfs_node *n;
	enum gfs_err err;

	*url = NULL;
	pthread_mutex_lock(&m->lock);
	do {
		err = GFS_OK;
		if (!gfs_ns_lookup(&m->ns, path, &n))
			err = check_lease(n, path, client, lease);
		gw = err ? NULL : gfs_csmgr_pick_gateway(m);
	} while (!err && !gw && gfs_csmgr_reports_pending(m, gfs_mono_ms()) &&
		 gfs_csmgr_wait_report(m, deadline));
	if (gw)
		*url = gfs_xstrdup(gw);
	else if (!err)
		err = GFS_EUNAVAIL;
	pthread_mutex_unlock(&m->lock);
	return err;
}

/* ---- extended attributes ---- */

/* {"name": base64 value, ...} of xs (NULL: none), or only name's (NULL:
 * all).  GFS_ENODATA when name is absent.  Lock held. */
static enum gfs_err xattrs_json(const struct gfs_xattrs *xs, const char *name,
				json_t **out)
{
	json_t *o = json_object();
	uint32_t i;

	for (i = 0; xs && i < xs->n; i++) {
		const struct gfs_xattr *x = &xs->items[i];
		char *b64;

		if (name && strcmp(name, x->name))
			continue;
		b64 = gfs_b64_encode(x->value, x->len);
		json_object_set_new(o, x->name, json_string(b64));
		free(b64);
	}
	if (name && !json_object_size(o)) {
		json_decref(o);
		return GFS_ENODATA;
	}
	*out = o;
	return GFS_OK;
}

/* The inode an attribute call is about: the one at path, or (path
 * NULL) the caller's kept file kid (kept.h).  Lock held. */
static enum gfs_err xattr_target(struct gfs_master *m, const char *path,
				 uint64_t kid, const char *client,
				 struct gfs_node **n)
{
	struct gfs_kept *k;

	if (path)
		return lookup(m, path, n);
	k = kept_of(m, kid, client);
	*n = k ? k->node : NULL;
	return k ? GFS_OK : GFS_ENOENT;
}

/* {"path": path, "xattrs": xs}, or {"kept": kid, ...} (new; takes xs). */
static json_t *xattrs_reply(const char *path, uint64_t kid, json_t *xs)
{
	if (path)
		return json_pack("{s:s, s:o}", "path", path, "xattrs", xs);
	return json_pack("{s:o, s:o}", "kept", gfs_json_handle_new(kid),
			 "xattrs", xs);
}

static enum gfs_err xattr_get(struct gfs_master *m, const char *path,
			      uint64_t kid, const char *client,
			      const char *name, json_t **out)
{
	struct gfs_node *n;
	json_t *xs = NULL;
	enum gfs_err err;
	uint64_t applied;
	bool primary;

	pthread_mutex_lock(&m->lock);
	err = xattr_target(m, path, kid, client, &n);
	if (!err)
		err = xattrs_json(gfs_xattr_of(m->ns.xattrs, n), name, &xs);
	applied = m->applied_seq;
	primary = m->role == GFS_ROLE_PRIMARY;
	pthread_mutex_unlock(&m->lock);
	if (!err) {
		*out = xattrs_reply(path, kid, xs);
		return settle_read(m, applied, primary, out);
	}
	return err;
}

enum gfs_err gfs_ops_xattr_get(struct gfs_master *m, const char *path,
			       const char *name, json_t **out)
{
	return xattr_get(m, path, 0, NULL, name, out);
}

enum gfs_err gfs_ops_kept_xattr_get(struct gfs_master *m, uint64_t kid,
				    const char *client, const char *name,
				    json_t **out)
{
	return xattr_get(m, NULL, kid, client, name, out);
}

/* A change of one attribute: a set (name, value, flag "create": must not
 * exist, "replace": must, NULL: either) or a removal (must exist). */
struct xattr_req {
	const char *name;   /* borrowed */
	char *value;        /* owned */
	size_t len;
	const char *flag;   /* borrowed, or NULL */
	bool remove;
};

static enum gfs_err parse_xattr(json_t *body, struct xattr_req *r)
{
	const char *b64 = NULL;
	enum gfs_err err;

	memset(r, 0, sizeof(*r));
	if (gfs_json_str(body, "name", true, &r->name) ||
	    gfs_json_str(body, "value", true, &b64) ||
	    gfs_json_str(body, "flag", false, &r->flag) ||
	    (r->flag && strcmp(r->flag, "create") &&
	     strcmp(r->flag, "replace")))
		return GFS_EINVAL;
	err = gfs_xattr_check_name(r->name);
	if (err)
		return err;
	r->value = gfs_b64_decode(b64, &r->len);
	if (!r->value)
		return GFS_EINVAL;
	return r->len > GFS_XATTR_VALUE_MAX ? GFS_ETOOBIG : GFS_OK;
}

/* Whether r may be applied to inode n: its flag, the limits.  Lock
 * held. */
static enum gfs_err xattr_fits(struct gfs_master *m, const struct gfs_node *n,
			       const struct xattr_req *r)
{
	const struct gfs_xattrs *xs = gfs_xattr_of(m->ns.xattrs, n);
	bool exists = gfs_xattr_find(xs, r->name) != NULL;

	if (r->remove)
		return exists ? GFS_OK : GFS_ENODATA;
	if (r->flag && !strcmp(r->flag, "create") && exists)
		return GFS_EEXIST;
	if (r->flag && !strcmp(r->flag, "replace") && !exists)
		return GFS_ENODATA;
	return gfs_xattr_can_set(xs, r->name, r->len);
}

/* r's record, about path or (path NULL) kept file kid. */
static void rec_xattr(struct gfs_enc *rec, const char *path, uint64_t kid,
		      const struct xattr_req *r)
{
	if (path && r->remove)
		gfs_rec_xattr_remove(rec, path, r->name);
	else if (path)
		gfs_rec_xattr_set(rec, path, r->name, r->value, r->len);
	else if (r->remove)
		gfs_rec_kept_xattr_remove(rec, kid, r->name);
	else
		gfs_rec_kept_xattr(rec, kid, r->name, r->value, r->len);
	gfs_rec_time(rec, gfs_now_ns()); /* ctime */
}

/* Validate, log and apply r on path (NULL: the caller's kept file kid),
 * then wait until it is durable. */
static enum gfs_err xattr_change(struct gfs_master *m, const char *path,
				 uint64_t kid, const char *client,
				 const struct gfs_request_id *id,
				 const struct xattr_req *r, json_t **out)
{
	struct gfs_enc rec = { 0 };
	struct gfs_node *n;
	enum gfs_err err;
	uint64_t seq = 0;
	bool again;

	err = begin_mutation(m, id, &seq, &again, NULL);
	if (!err && !again)
		err = xattr_target(m, path, kid, client, &n);
	if (!err && !again && path)
		err = check_lease(n, path, client, out);
	if (!err && !again)
		err = xattr_fits(m, n, r);
	if (!err && !again) {
		rec_begin(&rec, id);
		rec_xattr(&rec, path, kid, r);
		seq = gfs_ops_log(m, &rec);
	}
	if (!err)
		*out = json_object();
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

static enum gfs_err xattr_set(struct gfs_master *m, const char *path,
			      uint64_t kid, const char *client, json_t *body,
			      const struct gfs_request_id *id, json_t **out)
{
	struct xattr_req r;
	enum gfs_err err = parse_xattr(body, &r);

	if (!err)
		err = xattr_change(m, path, kid, client, id, &r, out);
	free(r.value);
	return err;
}

enum gfs_err gfs_ops_xattr_set(struct gfs_master *m, const char *path,
			       const char *client, json_t *body,
			       const struct gfs_request_id *id, json_t **out)
{
	return xattr_set(m, path, 0, client, body, id, out);
}

enum gfs_err gfs_ops_kept_xattr_set(struct gfs_master *m, uint64_t kid,
				    const char *client, json_t *body,
				    const struct gfs_request_id *id,
				    json_t **out)
{
	return xattr_set(m, NULL, kid, client, body, id, out);
}

static enum gfs_err xattr_remove(struct gfs_master *m, const char *path,
				 uint64_t kid, const char *client,
				 const char *name,
				 const struct gfs_request_id *id, json_t **out)
{
	struct xattr_req r = { .name = name, .remove = true };
	enum gfs_err err = gfs_xattr_check_name(name);

	return err ? err : xattr_change(m, path, kid, client, id, &r, out);
}

enum gfs_err gfs_ops_xattr_remove(struct gfs_master *m, const char *path,
				  const char *client, const char *name,
				  const struct gfs_request_id *id,
				  json_t **out)
{
	return xattr_remove(m, path, 0, client, name, id, out);
}

enum gfs_err gfs_ops_kept_xattr_remove(struct gfs_master *m, uint64_t kid,
				       const char *client, const char *name,
				       const struct gfs_request_id *id,
				       json_t **out)
{
	return xattr_remove(m, NULL, kid, client, name, id, out);
}

/* ---- files unlinked while open (kept.h) ---- */

/* {"kept": id as 16 hex digits, "expires_ms", "ttl"} (new). */
static json_t *kept_json(uint64_t kid, int64_t expires_ms, uint32_t ttl)
{
	return json_pack("{s:o, s:I, s:I}", "kept", gfs_json_handle_new(kid),
			 "expires_ms", (json_int_t)expires_ms, "ttl",
			 (json_int_t)ttl);
}

enum gfs_err gfs_ops_unlink_keep(struct gfs_master *m, const char *path,
				 const char *client, uint64_t ttl_s,
				 const struct gfs_request_id *id, json_t **out)
{
	int64_t expires = gfs_lease_now_ms() + (int64_t)ttl_s * 1000;
	struct gfs_enc rec = { 0 };
	struct gfs_node *n, *inode;
	enum gfs_err err;
	uint64_t seq = 0, kid;
	bool again;

	if (!client || ttl_s < 1 || ttl_s > GFS_LEASE_TTL_MAX_S)
		return GFS_EINVAL;
	err = begin_mutation(m, id, &seq, &again, NULL);
	if (!err && !again)
		err = lookup_entry(m, path, &n);
	if (!err && !again)
		err = check_delete(n, "file");
	if (!err && !again)
		err = check_lease(gfs_ns_inode(n), path, client, out);
	if (!err && !again && gfs_ns_keepable(n)) {
		kid = m->applied_seq; /* this record's seq: never reused */
		rec_begin(&rec, id);
		gfs_rec_kept(&rec, path, kid, client, expires,
			     (uint32_t)ttl_s, gfs_now_ns());
		seq = gfs_ops_log(m, &rec);
		*out = kept_json(kid, expires, (uint32_t)ttl_s);
	} else if (!err && !again) {
		/* another name stays, or nothing to read: a plain unlink */
		inode = surviving_inode(n);
		rec_begin(&rec, id);
		gfs_rec_delete(&rec, path);
		gfs_rec_time(&rec, gfs_now_ns());
		seq = gfs_ops_log(m, &rec);
		*out = links_json(inode);
	}
	if (!err && again)
		*out = json_object(); /* the id is not remembered: the
				       * kept file expires unrenewed */
	if (!err)
		add_parents(m, *out, path, NULL);
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

/* The kept file kid of client, or NULL.  Lock held. */
static struct gfs_kept *kept_of(struct gfs_master *m, uint64_t kid,
				const char *client)
{
	struct gfs_kept *k = gfs_kept_find(&m->ns.kept, kid);

	return k && client && !strcmp(k->holder, client) ? k : NULL;
}

enum gfs_err gfs_ops_kept_renew(struct gfs_master *m, uint64_t kid,
				const char *client, json_t **out)
{
	struct gfs_enc rec = { 0 };
	struct gfs_kept *k;
	enum gfs_err err;
	int64_t expires;
	uint64_t seq = 0;

	pthread_mutex_lock(&m->lock);
	err = writable(m);
	k = err ? NULL : kept_of(m, kid, client);
	if (!err && !k)
		err = GFS_ENOENT;
	if (!err) {
		expires = gfs_lease_now_ms() + (int64_t)k->ttl * 1000;
		gfs_rec_kept_renew(&rec, kid, expires);
		seq = gfs_ops_log(m, &rec);
		*out = kept_json(kid, expires, k->ttl);
	}
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

enum gfs_err gfs_ops_kept_drop(struct gfs_master *m, uint64_t kid,
			       const char *client, json_t **out)
{
	struct gfs_enc rec = { 0 };
	enum gfs_err err;
	uint64_t seq = 0;

	pthread_mutex_lock(&m->lock);
	err = writable(m);
	if (!err && !kept_of(m, kid, client))
		err = GFS_ENOENT;
	if (!err) {
		gfs_rec_kept_drop(&rec, kid);
		seq = gfs_ops_log(m, &rec);
		*out = json_object();
	}
	pthread_mutex_unlock(&m->lock);
	return finish(m, err, seq, out);
}

void gfs_ops_reap_kept(struct gfs_master *m)
{
	int64_t now = gfs_lease_now_ms();
	struct gfs_enc rec = { 0 };
	struct gfs_kept *k;
	int n;

	if (writable(m))
		return;
	for (n = 0; n < REAP_PER_TICK; n++) {
		k = gfs_kept_expired(&m->ns.kept, now);
		if (!k)
			break;
		gfs_info("kept file %016" PRIx64 " of %s not renewed: its "
			 "chunks go", k->id, k->holder);
		gfs_rec_kept_drop(&rec, k->id);
		gfs_ops_log(m, &rec);
	}
}

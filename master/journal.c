/*
 * journal.c - encode and apply op-log records; see journal.h.
 *
 * Apply functions decode all fields first, then check that the record fits
 * the state, then change it: a record that does not fit changes nothing.
 * Every string of a record (paths, holders, URLs) must be valid UTF-8, as
 * the door (master/routes.c) demands: a live record with another string is
 * refused.  Stored records written before that rule (replay of the data
 * directory, a checkpoint) get each bad byte escaped as %XX instead, with
 * a warning, so the state only ever holds names that replies can carry.
 */
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "constants.h"
#include "csmgr.h"
#include "journal.h"
#include "lease.h"
#include "master.h"
#include "path.h"
#include "util.h"
#include "xattr.h"

void gfs_rec_epoch(struct gfs_enc *e, uint64_t epoch, const char *primary)
{
	gfs_enc_u8(e, GFS_REC_EPOCH);
	gfs_enc_u64(e, epoch);
	gfs_enc_str(e, primary);
}

void gfs_rec_reserve(struct gfs_enc *e, uint64_t limit)
{
	gfs_enc_u8(e, GFS_REC_RESERVE);
	gfs_enc_u64(e, limit);
}

void gfs_rec_create(struct gfs_enc *e, const char *path, uint8_t type,
		    uint32_t mode, int64_t mtime_ns, uint32_t chunk_size)
{
	gfs_enc_u8(e, GFS_REC_CREATE);
	gfs_enc_str(e, path);
	gfs_enc_u8(e, type);
	gfs_enc_u32(e, mode);
	gfs_enc_i64(e, mtime_ns);
	gfs_enc_u32(e, chunk_size);
}

void gfs_rec_delete(struct gfs_enc *e, const char *path)
{
	gfs_enc_u8(e, GFS_REC_DELETE);
	gfs_enc_str(e, path);
}

void gfs_rec_rename(struct gfs_enc *e, const char *from, const char *to)
{
	gfs_enc_u8(e, GFS_REC_RENAME);
	gfs_enc_str(e, from);
	gfs_enc_str(e, to);
}

void gfs_rec_keep(struct gfs_enc *e, const struct gfs_rec_keep *k)
{
	gfs_enc_u64(e, k->id);
	gfs_enc_str(e, k->holder);
	gfs_enc_i64(e, k->expires_ms);
	gfs_enc_u32(e, k->ttl);
}

void gfs_rec_setattr(struct gfs_enc *e, const char *path, uint8_t which,
		     uint32_t mode, int64_t mtime_ns)
{
	gfs_enc_u8(e, GFS_REC_SETATTR);
	gfs_enc_str(e, path);
	gfs_enc_u8(e, which);
	gfs_enc_u32(e, mode);
	gfs_enc_i64(e, mtime_ns);
}

static void enc_chunk(struct gfs_enc *e, uint32_t index, uint64_t handle,
		      uint32_t version, uint32_t length)
{
	gfs_enc_u32(e, index);
	gfs_enc_u64(e, handle);
	gfs_enc_u32(e, version);
	gfs_enc_u32(e, length);
}

/* A COMMIT's fields after its path, up to its optional ctime. */
static void enc_commit(struct gfs_enc *e, uint64_t size, int64_t mtime_ns,
		       const struct gfs_rec_chunk *c, uint32_t n)
{
	uint32_t i;

	gfs_enc_u64(e, size);
	gfs_enc_i64(e, mtime_ns);
	gfs_enc_u32(e, n);
	for (i = 0; i < n; i++)
		enc_chunk(e, c[i].index, c[i].handle, c[i].version,
			  c[i].length);
}

void gfs_rec_commit(struct gfs_enc *e, const char *path, uint64_t size,
		    int64_t mtime_ns, const struct gfs_rec_chunk *c, uint32_t n)
{
	gfs_enc_u8(e, GFS_REC_COMMIT);
	gfs_enc_str(e, path);
	enc_commit(e, size, mtime_ns, c, n);
}

/* A COMMIT's fields after its path, for file's current chunks. */
static void enc_file_chunks(struct gfs_enc *e, const struct gfs_node *file)
{
	uint32_t i;

	gfs_enc_u64(e, file->file.size);
	gfs_enc_i64(e, file->mtime_ns);
	gfs_enc_u32(e, file->file.nchunks);
	for (i = 0; i < file->file.nchunks; i++) {
		const struct gfs_chunk *c = gfs_ns_chunks(file)[i];

		enc_chunk(e, c->index, c->handle, c->version, c->length);
	}
	gfs_rec_time(e, file->ctime_ns);
}

void gfs_rec_commit_file(struct gfs_enc *e, const char *path,
			 const struct gfs_node *file)
{
	gfs_enc_u8(e, GFS_REC_COMMIT);
	gfs_enc_str(e, path);
	enc_file_chunks(e, file);
}

void gfs_rec_kept(struct gfs_enc *e, const char *path, uint64_t id,
		  const char *holder, int64_t expires_ms, uint32_t ttl,
		  int64_t time_ns)
{
	gfs_enc_u8(e, GFS_REC_KEPT);
	gfs_enc_str(e, path);
	gfs_enc_u64(e, id);
	gfs_enc_str(e, holder);
	gfs_enc_i64(e, expires_ms);
	gfs_enc_u32(e, ttl);
	gfs_enc_i64(e, time_ns);
}

void gfs_rec_kept_renew(struct gfs_enc *e, uint64_t id, int64_t expires_ms)
{
	gfs_enc_u8(e, GFS_REC_KEPT_RENEW);
	gfs_enc_u64(e, id);
	gfs_enc_i64(e, expires_ms);
}

void gfs_rec_kept_drop(struct gfs_enc *e, uint64_t id)
{
	gfs_enc_u8(e, GFS_REC_KEPT_DROP);
	gfs_enc_u64(e, id);
}

void gfs_rec_lease(struct gfs_enc *e, const char *path, const char *holder,
		   int64_t expires_ms, uint32_t ttl)
{
	gfs_enc_u8(e, GFS_REC_LEASE);
	gfs_enc_str(e, path);
	gfs_enc_str(e, holder);
	gfs_enc_i64(e, expires_ms);
	gfs_enc_u32(e, ttl);
}

void gfs_rec_unlease(struct gfs_enc *e, const char *path)
{
	gfs_enc_u8(e, GFS_REC_UNLEASE);
	gfs_enc_str(e, path);
}

void gfs_rec_dir(struct gfs_enc *e, const char *path, bool is_explicit,
		 uint32_t mode, int64_t mtime_ns)
{
	gfs_enc_u8(e, GFS_REC_DIR);
	gfs_enc_str(e, path);
	gfs_enc_u8(e, is_explicit);
	gfs_enc_u32(e, mode);
	gfs_enc_i64(e, mtime_ns);
}

void gfs_rec_end(struct gfs_enc *e, uint64_t records)
{
	gfs_enc_u8(e, GFS_REC_END);
	gfs_enc_u64(e, records);
}

/* mode, uid, gid and the three times: in MKNODE and ATTR alike. */
static void enc_attrs(struct gfs_enc *e, const struct gfs_rec_inode *a)
{
	gfs_enc_u32(e, a->mode);
	gfs_enc_u32(e, a->uid);
	gfs_enc_u32(e, a->gid);
	gfs_enc_i64(e, a->atime_ns);
	gfs_enc_i64(e, a->mtime_ns);
	gfs_enc_i64(e, a->ctime_ns);
}

static void dec_attrs(struct gfs_dec *d, struct gfs_rec_inode *a)
{
	a->mode = gfs_dec_u32(d);
	a->uid = gfs_dec_u32(d);
	a->gid = gfs_dec_u32(d);
	a->atime_ns = gfs_dec_i64(d);
	a->mtime_ns = gfs_dec_i64(d);
	a->ctime_ns = gfs_dec_i64(d);
}

/* A MKNODE's fields after its path. */
static void enc_inode(struct gfs_enc *e, const struct gfs_rec_inode *in)
{
	gfs_enc_u8(e, in->type);
	gfs_enc_u8(e, in->flags);
	gfs_enc_u64(e, in->ino);
	enc_attrs(e, in);
	gfs_enc_u32(e, in->chunk_size);
	gfs_enc_u64(e, in->rdev);
	gfs_enc_str(e, in->target ? in->target : "");
}

void gfs_rec_mknode(struct gfs_enc *e, const char *path,
		    const struct gfs_rec_inode *in)
{
	gfs_enc_u8(e, GFS_REC_MKNODE);
	gfs_enc_str(e, path);
	enc_inode(e, in);
}

void gfs_rec_create_commit(struct gfs_enc *e, const char *path,
			   const struct gfs_rec_inode *in, uint64_t size,
			   int64_t mtime_ns, const struct gfs_rec_chunk *c,
			   uint32_t n, int64_t ctime_ns)
{
	gfs_enc_u8(e, GFS_REC_CREATE_COMMIT);
	gfs_enc_str(e, path);
	enc_inode(e, in);
	enc_commit(e, size, mtime_ns, c, n);
	gfs_enc_i64(e, ctime_ns);
}

/* The attributes of node as a record's fields. */
static void inode_of(const struct gfs_node *n, struct gfs_rec_inode *in)
{
	bool dev = n->type == GFS_NODE_CHR || n->type == GFS_NODE_BLK;

	*in = (struct gfs_rec_inode){
		.type = n->type,
		.flags = (n->is_explicit ? GFS_MK_EXPLICIT : 0) |
			 (n->hidden ? GFS_MK_HIDDEN : 0),
		.ino = n->ino, .mode = n->mode, .uid = n->uid, .gid = n->gid,
		.atime_ns = n->atime_ns, .mtime_ns = n->mtime_ns,
		.ctime_ns = n->ctime_ns,
		.chunk_size = n->type == GFS_NODE_FILE ? n->file.chunk_size : 0,
		.rdev = dev ? n->dev.rdev : 0,
		.target = n->type == GFS_NODE_SYMLINK ? n->sym.target : NULL,
	};
}

void gfs_rec_mknode_of(struct gfs_enc *e, const char *path,
		       const struct gfs_node *n)
{
	struct gfs_rec_inode in;

	inode_of(n, &in);
	gfs_rec_mknode(e, path, &in);
}

void gfs_rec_create_commit_of(struct gfs_enc *e, const char *path,
			      const struct gfs_node *file)
{
	struct gfs_rec_inode in;

	inode_of(file, &in);
	gfs_enc_u8(e, GFS_REC_CREATE_COMMIT);
	gfs_enc_str(e, path);
	enc_inode(e, &in);
	enc_file_chunks(e, file);
}

void gfs_rec_kept_file(struct gfs_enc *e, const struct gfs_kept *k)
{
	struct gfs_rec_inode in;

	inode_of(k->node, &in);
	gfs_enc_u8(e, GFS_REC_KEPT_FILE);
	gfs_enc_u64(e, k->id);
	gfs_enc_str(e, k->holder);
	gfs_enc_i64(e, k->expires_ms);
	gfs_enc_u32(e, k->ttl);
	gfs_enc_u64(e, in.ino);
	enc_attrs(e, &in);
	gfs_enc_u32(e, in.chunk_size);
	enc_file_chunks(e, k->node);
}

void gfs_rec_link(struct gfs_enc *e, const char *path, const char *to,
		  int64_t time_ns)
{
	gfs_enc_u8(e, GFS_REC_LINK);
	gfs_enc_str(e, path);
	gfs_enc_str(e, to);
	gfs_enc_i64(e, time_ns);
}

void gfs_rec_attr(struct gfs_enc *e, const char *path, uint8_t which,
		  const struct gfs_rec_inode *a)
{
	gfs_enc_u8(e, GFS_REC_ATTR);
	gfs_enc_str(e, path);
	gfs_enc_u8(e, which);
	enc_attrs(e, a);
}

void gfs_rec_time(struct gfs_enc *e, int64_t time_ns)
{
	gfs_enc_i64(e, time_ns);
}

void gfs_rec_request(struct gfs_enc *e, const struct gfs_request_id *id,
		     int64_t time_ms)
{
	gfs_enc_u8(e, GFS_REC_REQUEST);
	gfs_enc_u64(e, id->hi);
	gfs_enc_u64(e, id->lo);
	gfs_enc_i64(e, time_ms);
}

void gfs_rec_xattr_set(struct gfs_enc *e, const char *path, const char *name,
		       const void *value, size_t len)
{
	gfs_enc_u8(e, GFS_REC_XATTR_SET);
	gfs_enc_str(e, path);
	gfs_enc_str(e, name);
	gfs_enc_blob(e, value, len);
}

void gfs_rec_xattr_remove(struct gfs_enc *e, const char *path,
			  const char *name)
{
	gfs_enc_u8(e, GFS_REC_XATTR_REMOVE);
	gfs_enc_str(e, path);
	gfs_enc_str(e, name);
}

void gfs_rec_xattrs_of(struct gfs_enc *e, const char *path,
		       const struct gfs_xattrs *xs,
		       void (*put)(void *cls), void *cls)
{
	uint32_t i;

	for (i = 0; xs && i < xs->n; i++) {
		gfs_rec_xattr_set(e, path, xs->items[i].name,
				  xs->items[i].value, xs->items[i].len);
		put(cls);
	}
}

void gfs_rec_kept_xattr(struct gfs_enc *e, uint64_t id, const char *name,
			const void *value, size_t len)
{
	gfs_enc_u8(e, GFS_REC_KEPT_XATTR);
	gfs_enc_u64(e, id);
	gfs_enc_str(e, name);
	gfs_enc_blob(e, value, len);
}

void gfs_rec_kept_xattr_remove(struct gfs_enc *e, uint64_t id,
			       const char *name)
{
	gfs_enc_u8(e, GFS_REC_KEPT_XATTR_REMOVE);
	gfs_enc_u64(e, id);
	gfs_enc_str(e, name);
}

void gfs_rec_kept_xattrs(struct gfs_enc *e, const struct gfs_kept *k,
			 const struct gfs_xattrs *xs,
			 void (*put)(void *cls), void *cls)
{
	uint32_t i;

	for (i = 0; xs && i < xs->n; i++) {
		gfs_rec_kept_xattr(e, k->id, xs->items[i].name,
				   xs->items[i].value, xs->items[i].len);
		put(cls);
	}
}

/* ---- apply ---- */

static void drop_cb(void *cls, struct gfs_chunk *c)
{
	struct gfs_master *m = cls;

	gfs_csmgr_drop_chunk(m, c);
	gfs_chunks_remove(&m->chunks, c);
}

/* Remove a name (entry n: a file, an empty directory, a hard link...);
 * with its last name the inode goes, its chunks and lease too.  t (0:
 * none) is the time of the change: the parent's mtime and ctime, and a
 * surviving inode's ctime. */
static void remove_node(struct gfs_master *m, struct gfs_node *n, int64_t t)
{
	struct gfs_node *inode = gfs_ns_inode(n);

	if (t)
		gfs_ns_touch_dir(n->parent, t);
	if (gfs_ns_last_name(n) && n->type == GFS_NODE_FILE)
		gfs_ns_cut_chunks(n, 0, drop_cb, m);
	if (!gfs_ns_remove(&m->ns, n) && t)
		inode->ctime_ns = t;
}

/* The optional trailing time of a record (0 when absent: format 1). */
static int64_t dec_opt_time(struct gfs_dec *d)
{
	return d->p < d->end ? gfs_dec_i64(d) : 0;
}

/*
 * A string field that must be text: new string (caller frees), or NULL and
 * d->bad.  Replaying stored records, a string that is not UTF-8 is escaped
 * (gfs_utf8_escape()) and a warning logged; a live record is refused.
 */
static char *dec_text(struct gfs_master *m, struct gfs_dec *d, size_t max)
{
	char *s = gfs_dec_str(d, max), *esc;

	if (!s || gfs_text_valid(s))
		return s;
	if (!m->replaying) {
		free(s);
		d->bad = true;
		return NULL;
	}
	esc = gfs_utf8_escape(s);
	free(s);
	if (!esc || strlen(esc) > max) {
		gfs_error("a stored record names '%s' with bytes that are not "
			  "UTF-8, too many to escape within %zu bytes",
			  esc ? esc : "?", max);
		free(esc);
		d->bad = true;
		return NULL;
	}
	gfs_warn("a stored record names '%s' with bytes that are not UTF-8: "
		 "kept under that escaped name", esc);
	return esc;
}

static struct gfs_node *find(struct gfs_master *m, const char *path,
			     int type)
{
	struct gfs_node *n;

	if (!path || gfs_ns_lookup(&m->ns, path, &n))
		return NULL;
	return type < 0 || n->type == type ? n : NULL;
}

/* The entry at path (a hard link's own node), or NULL. */
static struct gfs_node *find_entry(struct gfs_master *m, const char *path)
{
	struct gfs_node *n;

	return path && !gfs_ns_lookup_entry(&m->ns, path, &n) ? n : NULL;
}

/* An upload not committed yet (a hidden file) at spot s of path takes
 * no name: a record creating path removes it first, and walks path again
 * only then (the implicit directories above it may have gone too). */
static void take_hidden(struct gfs_master *m, const char *path,
			struct gfs_ns_spot *s)
{
	struct gfs_node *n = gfs_ns_spot_entry(s);

	if (!n || n->type != GFS_NODE_FILE || !n->hidden)
		return;
	remove_node(m, n, 0);
	gfs_ns_locate(&m->ns, path, s);
}

/* Walk path once for a record that creates it (then
 * gfs_ns_spot_can_create(), gfs_ns_create_at()). */
static void locate_new(struct gfs_master *m, const char *path,
		       struct gfs_ns_spot *s)
{
	gfs_ns_locate(&m->ns, path, s);
	take_hidden(m, path, s);
}

static bool apply_epoch(struct gfs_master *m, struct gfs_dec *d)
{
	uint64_t epoch = gfs_dec_u64(d);
	char *primary = dec_text(m, d, GFS_PATH_MAX);

	if (!gfs_dec_done(d)) {
		free(primary);
		return false;
	}
	if (epoch >= m->epoch && primary && *primary) {
		free(m->epoch_owner);
		m->epoch_owner = gfs_xstrdup(primary);
	}
	if (epoch > m->epoch)
		m->epoch = epoch;
	if (primary && *primary && m->replaying) {
		free(m->primary_url);
		m->primary_url = primary;
		primary = NULL;
	}
	free(primary);
	return true;
}

static bool apply_reserve(struct gfs_master *m, struct gfs_dec *d)
{
	uint64_t limit = gfs_dec_u64(d);

	if (!gfs_dec_done(d))
		return false;
	gfs_chunks_reserve(&m->chunks, limit);
	return true;
}

static bool apply_create(struct gfs_master *m, struct gfs_dec *d,
			 const char *path)
{
	uint8_t type = gfs_dec_u8(d);
	uint32_t mode = gfs_dec_u32(d);
	int64_t mtime = gfs_dec_i64(d);
	uint32_t chunk_size = gfs_dec_u32(d);
	struct gfs_ns_spot s;
	struct gfs_node *n;

	if (!gfs_dec_done(d) || type > GFS_CREATE_HIDDEN)
		return false;
	locate_new(m, path, &s);
	if (gfs_ns_spot_can_create(&s))
		return false;
	n = gfs_ns_create_at(&m->ns, &s, type == GFS_NODE_DIR ? GFS_NODE_DIR
							      : GFS_NODE_FILE,
			     mode, mtime, chunk_size, 0);
	if (type == GFS_CREATE_HIDDEN)
		gfs_ns_hide(&m->ns, n, gfs_mono_ms());
	return true;
}

static bool apply_delete(struct gfs_master *m, struct gfs_dec *d,
			 const char *path)
{
	struct gfs_node *n = find_entry(m, path);
	int64_t t = dec_opt_time(d);

	if (!gfs_dec_done(d) || !n || n == m->ns.root ||
	    (n->type == GFS_NODE_DIR && gfs_ns_nkids(n)))
		return false;
	remove_node(m, n, t);
	return true;
}

/* Keep file f (its last name, not hidden) off the tree as kept file
 * k->id, its name gone at t (KEPT, a RENAME's victim). */
static void keep_node(struct gfs_master *m, struct gfs_node *f,
		      const struct gfs_rec_keep *k, int64_t t)
{
	gfs_ns_touch_dir(f->parent, t);
	gfs_lease_clear(f);
	gfs_ns_detach(&m->ns, f);
	f->ctime_ns = t;
	gfs_kept_add(&m->ns.kept, k->id, f, k->holder, k->expires_ms, k->ttl);
}

/* Whether entry f may become kept file id: the last name of a visible
 * file, id new. */
static bool keepable(struct gfs_master *m, struct gfs_node *f, uint64_t id)
{
	return f && gfs_ns_keepable(f) && id &&
	       !gfs_kept_find(&m->ns.kept, id);
}

/* A RENAME's optional keep tail (after its time): *holder new, NULL
 * when the record has none. */
static void dec_keep(struct gfs_master *m, struct gfs_dec *d,
		     struct gfs_rec_keep *k, char **holder)
{
	*holder = NULL;
	if (d->p >= d->end || d->bad)
		return;
	k->id = gfs_dec_u64(d);
	*holder = dec_text(m, d, 4096);
	k->expires_ms = gfs_dec_i64(d);
	k->ttl = gfs_dec_u32(d);
	k->holder = *holder;
}

static bool apply_rename(struct gfs_master *m, struct gfs_dec *d,
			 const char *path)
{
	char *to = dec_text(m, d, GFS_PATH_MAX), *holder;
	int64_t t = dec_opt_time(d);
	struct gfs_rec_keep keep = { 0 };
	struct gfs_node *n, *victim = NULL, *at = NULL;
	bool ok;

	dec_keep(m, d, &keep, &holder);
	n = find_entry(m, path);
	ok = gfs_dec_done(d) && n &&
	     !gfs_ns_can_rename(&m->ns, n, to, true, &victim);
	if (ok && !victim && !gfs_ns_lookup_entry(&m->ns, to, &at) &&
	    gfs_ns_same_inode(n, at))
		goto out; /* onto itself or another name of its inode */
	/* a keep tail keeps the victim, which must be a file's last name */
	ok = ok && (!holder || (t && keepable(m, victim, keep.id)));
	if (!ok)
		goto out;
	if (t)
		gfs_ns_touch_dir(n->parent, t);
	if (holder)
		keep_node(m, victim, &keep, t);
	else if (victim)
		remove_node(m, victim, t);
	gfs_ns_rename(&m->ns, n, to);
	if (t) {
		gfs_ns_touch_dir(n->parent, t);
		gfs_ns_inode(n)->ctime_ns = t;
	}
out:
	free(to);
	free(holder);
	return ok;
}

static bool apply_setattr(struct gfs_master *m, struct gfs_dec *d,
			  const char *path)
{
	uint8_t which = gfs_dec_u8(d);
	uint32_t mode = gfs_dec_u32(d);
	int64_t mtime = gfs_dec_i64(d);
	struct gfs_node *n = find(m, path, -1);

	if (!gfs_dec_done(d) || !n)
		return false;
	if (which & GFS_SET_MODE)
		n->mode = mode;
	if (which & GFS_SET_MTIME) {
		n->mtime_ns = mtime;
		gfs_ns_touch_up(n, mtime);
	}
	return true;
}

/* Shrink or keep file at size: drop whole chunks beyond it, clip the last
 * one's length. */
static void set_size(struct gfs_master *m, struct gfs_node *f, uint64_t size)
{
	uint64_t cs = f->file.chunk_size;
	uint64_t keep = (size + cs - 1) / cs;
	struct gfs_chunk *last;

	gfs_ns_cut_chunks(f, keep > UINT32_MAX ? UINT32_MAX : (uint32_t)keep,
			  drop_cb, m);
	f->file.size = size;
	if (!f->file.nchunks)
		return;
	last = gfs_ns_chunks(f)[f->file.nchunks - 1];
	if ((uint64_t)last->index * cs + last->length > size)
		last->length = (uint32_t)(size - (uint64_t)last->index * cs);
}

/* Check one commit entry against the state: its handle is new or already
 * this file's chunk at that index (f NULL: a file being created, of chunk
 * size cs, has none yet). */
static bool chunk_fits(struct gfs_master *m, struct gfs_node *f, uint64_t cs,
		       const struct gfs_rec_chunk *rc, uint64_t size)
{
	struct gfs_chunk *c = gfs_chunks_find(&m->chunks, rc->handle);

	if (!rc->version || rc->length > cs || rc->index * cs >= size)
		return false;
	return !c || (f && gfs_ns_chunk_at(f, rc->index) == c);
}

static void set_chunk(struct gfs_master *m, struct gfs_node *f,
		      const struct gfs_rec_chunk *rc)
{
	struct gfs_chunk *c = gfs_chunks_find(&m->chunks, rc->handle), *old;
	struct gfs_pending *p = gfs_chunks_pending(&m->chunks, rc->handle);

	if (p)
		gfs_chunks_del_pending(&m->chunks, p);
	if (!c) {
		c = gfs_chunks_add(&m->chunks, rc->handle, rc->version,
				   rc->length, rc->index);
		old = gfs_ns_set_chunk(f, rc->index, c);
		if (old)
			drop_cb(m, old);
	}
	c->version = rc->version;
	c->length = rc->length;
	c->commit_s = m->replaying ? 0 : gfs_master_now_s(m);
	gfs_csmgr_claim_orphan(m, c);
}

#define COMMIT_INLINE 4 /* chunks decoded without a malloc */

/* A COMMIT's fields after its path, decoded.  Release with
 * commit_fields_free(). */
struct commit_fields {
	uint64_t size;
	int64_t mtime, ctime;       /* ctime 0: absent (format 1) */
	uint32_t n;
	struct gfs_rec_chunk *rc;   /* n of them: `in`, or owned */
	struct gfs_rec_chunk in[COMMIT_INLINE];
};

static void commit_fields_free(struct commit_fields *cf)
{
	if (cf->rc != cf->in)
		free(cf->rc);
}

/* Decode them up to the record's end; false when malformed.  The table
 * slots of the first handles are prefetched: the path walk that usually
 * follows overlaps with their cache misses (one a chunk, in a table of
 * millions). */
static bool dec_commit(struct gfs_master *m, struct gfs_dec *d,
		       struct commit_fields *cf)
{
	uint32_t i;
	bool ok;

	cf->size = gfs_dec_u64(d);
	cf->mtime = gfs_dec_i64(d);
	cf->n = gfs_dec_u32(d);
	ok = !d->bad && cf->n <= (size_t)(d->end - d->p) / 20;
	cf->rc = !ok ? NULL : cf->n <= COMMIT_INLINE ? cf->in
		 : gfs_xcalloc(cf->n, sizeof(*cf->rc));
	for (i = 0; ok && i < cf->n; i++) {
		cf->rc[i].index = gfs_dec_u32(d);
		cf->rc[i].handle = gfs_dec_u64(d);
		cf->rc[i].version = gfs_dec_u32(d);
		cf->rc[i].length = gfs_dec_u32(d);
		if (i < COMMIT_INLINE)
			gfs_chunks_prefetch(&m->chunks, cf->rc[i].handle);
	}
	cf->ctime = ok && !d->bad ? dec_opt_time(d) : 0;
	return ok && gfs_dec_done(d);
}

/* Whether every chunk of cf fits file f (NULL: one being created with
 * chunk size cs). */
static bool commit_fits(struct gfs_master *m, struct gfs_node *f,
			uint64_t cs, const struct commit_fields *cf)
{
	uint32_t i;

	for (i = 0; i < cf->n; i++)
		if (!chunk_fits(m, f, cs, &cf->rc[i], cf->size))
			return false;
	return true;
}

static void commit_set(struct gfs_master *m, struct gfs_node *f,
		       const struct commit_fields *cf)
{
	uint32_t i;

	if (f->hidden)
		gfs_ns_show(&m->ns, f); /* the upload is complete */
	for (i = 0; i < cf->n; i++)
		set_chunk(m, f, &cf->rc[i]);
	set_size(m, f, cf->size);
	f->mtime_ns = cf->mtime;
	f->ctime_ns = cf->ctime ? cf->ctime : cf->mtime;
	gfs_ns_touch_up(f, cf->mtime);
}

/* A COMMIT's fields after its path, applied to file f, or to the file
 * at path when f is NULL (found after decoding: dec_commit()). */
static bool apply_chunks(struct gfs_master *m, struct gfs_dec *d,
			 struct gfs_node *f, const char *path)
{
	struct commit_fields cf = { 0 };
	bool ok = dec_commit(m, d, &cf);

	if (ok && !f)
		f = find(m, path, GFS_NODE_FILE);
	ok = ok && f && commit_fits(m, f, f->file.chunk_size, &cf);
	if (ok)
		commit_set(m, f, &cf);
	commit_fields_free(&cf);
	return ok;
}

static bool apply_commit(struct gfs_master *m, struct gfs_dec *d,
			 const char *path)
{
	return apply_chunks(m, d, NULL, path);
}

static bool apply_kept(struct gfs_master *m, struct gfs_dec *d,
		       const char *path)
{
	struct gfs_rec_keep k = { .id = gfs_dec_u64(d) };
	char *holder = dec_text(m, d, 4096);
	int64_t t;
	struct gfs_node *f = find_entry(m, path);
	bool ok;

	k.holder = holder;
	k.expires_ms = gfs_dec_i64(d);
	k.ttl = gfs_dec_u32(d);
	t = gfs_dec_i64(d);
	ok = gfs_dec_done(d) && holder && keepable(m, f, k.id);
	if (ok)
		keep_node(m, f, &k, t);
	free(holder);
	return ok;
}

static bool apply_kept_renew(struct gfs_master *m, struct gfs_dec *d)
{
	struct gfs_kept *k = gfs_kept_find(&m->ns.kept, gfs_dec_u64(d));
	int64_t expires = gfs_dec_i64(d);

	if (!gfs_dec_done(d) || !k)
		return false;
	k->expires_ms = expires;
	return true;
}

static bool apply_kept_drop(struct gfs_master *m, struct gfs_dec *d)
{
	struct gfs_kept *k = gfs_kept_find(&m->ns.kept, gfs_dec_u64(d));
	struct gfs_node *f;

	if (!gfs_dec_done(d) || !k)
		return false;
	f = gfs_kept_remove(&m->ns.kept, k);
	gfs_ns_cut_chunks(f, 0, drop_cb, m);
	gfs_ns_free_detached(&m->ns, f);
	return true;
}

static bool apply_kept_file(struct gfs_master *m, struct gfs_dec *d)
{
	uint64_t id = gfs_dec_u64(d);
	char *holder = dec_text(m, d, 4096);
	int64_t expires = gfs_dec_i64(d);
	uint32_t ttl = gfs_dec_u32(d);
	struct gfs_rec_inode in = { .ino = gfs_dec_u64(d) };
	struct gfs_node *f = NULL;
	bool ok;

	dec_attrs(d, &in);
	in.chunk_size = gfs_dec_u32(d);
	ok = !d->bad && holder && id && in.chunk_size && in.ino >= 2 &&
	     in.mode <= 07777 && !gfs_kept_find(&m->ns.kept, id);
	if (ok) {
		f = gfs_ns_new_detached(&m->ns, in.ino);
		f->mode = (uint16_t)in.mode;
		f->uid = in.uid;
		f->gid = in.gid;
		f->atime_ns = in.atime_ns;
		f->file.chunk_size = in.chunk_size;
		ok = apply_chunks(m, d, f, NULL); /* mtime and ctime */
	}
	if (ok)
		gfs_kept_add(&m->ns.kept, id, f, holder, expires, ttl);
	else if (f)
		gfs_ns_free_detached(&m->ns, f);
	free(holder);
	return ok;
}

static bool apply_lease(struct gfs_master *m, struct gfs_dec *d,
			const char *path)
{
	char *holder = dec_text(m, d, 4096);
	int64_t expires = gfs_dec_i64(d);
	uint32_t ttl = gfs_dec_u32(d);
	struct gfs_node *f = find(m, path, GFS_NODE_FILE);
	bool ok = gfs_dec_done(d) && f && holder && *holder;

	if (ok)
		gfs_lease_set(f, holder, expires, ttl);
	free(holder);
	return ok;
}

static bool apply_unlease(struct gfs_master *m, struct gfs_dec *d,
			  const char *path)
{
	struct gfs_node *f = find(m, path, GFS_NODE_FILE);

	if (!gfs_dec_done(d) || !f)
		return false;
	gfs_lease_clear(f);
	return true;
}

static bool apply_dir(struct gfs_master *m, struct gfs_dec *d,
		      const char *path)
{
	uint8_t is_explicit = gfs_dec_u8(d);
	uint32_t mode = gfs_dec_u32(d);
	int64_t mtime = gfs_dec_i64(d);
	struct gfs_ns_spot s;
	struct gfs_node *n;

	if (!gfs_dec_done(d))
		return false;
	gfs_ns_locate(&m->ns, path, &s);
	n = gfs_ns_spot_entry(&s);
	if (!n) {
		if (gfs_ns_spot_can_create(&s))
			return false;
		n = gfs_ns_create_at(&m->ns, &s, GFS_NODE_DIR, mode, mtime, 0,
				     0);
	}
	if (n->type != GFS_NODE_DIR)
		return false;
	n->is_explicit = is_explicit || n == m->ns.root;
	n->mode = mode;
	n->mtime_ns = n->ctime_ns = n->atime_ns = mtime;
	return true;
}

/* The fields of a MKNODE after its path, more may follow; false when
 * malformed.  *target: new string or NULL (caller frees). */
static bool dec_inode_fields(struct gfs_master *m, struct gfs_dec *d,
			     struct gfs_rec_inode *in, char **target)
{
	in->type = gfs_dec_u8(d);
	in->flags = gfs_dec_u8(d);
	in->ino = gfs_dec_u64(d);
	dec_attrs(d, in);
	in->chunk_size = gfs_dec_u32(d);
	in->rdev = gfs_dec_u64(d);
	if (d->end - d->p >= 4 && !gfs_get_u32(d->p)) {
		d->p += 4; /* no target (all but symlinks): no malloc */
		*target = NULL;
	} else {
		*target = dec_text(m, d, GFS_PATH_MAX);
	}
	if (d->bad || in->ino < 2 || in->type > GFS_NODE_BLK ||
	    in->mode > 07777 ||
	    (in->type == GFS_NODE_FILE && !in->chunk_size))
		return false;
	return (in->type == GFS_NODE_SYMLINK) == (*target && **target);
}

/* The fields of a MKNODE after its path, to the record's end. */
static bool dec_inode(struct gfs_master *m, struct gfs_dec *d,
		      struct gfs_rec_inode *in, char **target)
{
	return dec_inode_fields(m, d, in, target) && gfs_dec_done(d);
}

/* The node of in at spot s (which must be free); takes target. */
static struct gfs_node *make_node(struct gfs_master *m,
				  const struct gfs_ns_spot *s,
				  const struct gfs_rec_inode *in, char *target)
{
	struct gfs_node *n = gfs_ns_create_at(&m->ns, s, in->type, in->mode,
					      in->mtime_ns, in->chunk_size,
					      in->ino);

	n->uid = in->uid;
	n->gid = in->gid;
	n->atime_ns = in->atime_ns;
	n->ctime_ns = in->ctime_ns;
	if (in->type == GFS_NODE_DIR)
		n->is_explicit = !!(in->flags & GFS_MK_EXPLICIT);
	if (in->type == GFS_NODE_SYMLINK)
		n->sym.target = target;
	else
		free(target);
	if (in->type == GFS_NODE_CHR || in->type == GFS_NODE_BLK)
		n->dev.rdev = in->rdev;
	if (in->type == GFS_NODE_FILE && (in->flags & GFS_MK_HIDDEN))
		gfs_ns_hide(&m->ns, n, gfs_mono_ms());
	return n;
}

static bool apply_mknode(struct gfs_master *m, struct gfs_dec *d,
			 const char *path)
{
	struct gfs_rec_inode in;
	char *target = NULL;
	struct gfs_ns_spot s;

	if (!dec_inode(m, d, &in, &target)) {
		free(target);
		return false;
	}
	locate_new(m, path, &s);
	if (gfs_ns_spot_can_create(&s)) {
		free(target);
		return false;
	}
	make_node(m, &s, &in, target);
	return true;
}

/* A new file and its first commit in one record: a MKNODE's fields,
 * then a COMMIT's.  Checked whole before anything changes. */
static bool apply_create_commit(struct gfs_master *m, struct gfs_dec *d,
				const char *path)
{
	struct gfs_rec_inode in;
	struct commit_fields cf = { 0 };
	char *target = NULL;
	struct gfs_ns_spot s;
	bool ok = dec_inode_fields(m, d, &in, &target) &&
		  dec_commit(m, d, &cf) && in.type == GFS_NODE_FILE &&
		  !in.flags;

	if (ok) /* the walk overlaps with the prefetches (dec_commit()) */
		gfs_ns_locate(&m->ns, path, &s);
	ok = ok && commit_fits(m, NULL, in.chunk_size, &cf);
	if (ok)
		take_hidden(m, path, &s);
	ok = ok && !gfs_ns_spot_can_create(&s);
	if (ok)
		commit_set(m, make_node(m, &s, &in, NULL), &cf);
	free(target);
	commit_fields_free(&cf);
	return ok;
}

static bool apply_link(struct gfs_master *m, struct gfs_dec *d,
		       const char *path)
{
	char *to = dec_text(m, d, GFS_PATH_MAX);
	int64_t t = gfs_dec_i64(d);
	struct gfs_node *n = find(m, path, -1);
	bool ok = gfs_dec_done(d) && n && n->type != GFS_NODE_DIR &&
		  !n->hidden && n->nlink < UINT32_MAX &&
		  !gfs_ns_can_create(&m->ns, to);

	if (ok)
		gfs_ns_link(&m->ns, n, to, t);
	free(to);
	return ok;
}

static bool apply_attr(struct gfs_master *m, struct gfs_dec *d,
		       const char *path)
{
	uint8_t which = gfs_dec_u8(d);
	struct gfs_rec_inode a = { 0 };
	struct gfs_node *n = find(m, path, -1);

	dec_attrs(d, &a);
	if (!gfs_dec_done(d) || !n || (which & ~GFS_ATTR_ALL) ||
	    a.mode > 07777)
		return false;
	if (which & GFS_ATTR_MODE)
		n->mode = a.mode;
	if (which & GFS_ATTR_UID)
		n->uid = a.uid;
	if (which & GFS_ATTR_GID)
		n->gid = a.gid;
	if (which & GFS_ATTR_ATIME)
		n->atime_ns = a.atime_ns;
	if (which & GFS_ATTR_MTIME)
		n->mtime_ns = a.mtime_ns; /* exactly: parents stay (POSIX) */
	if (which & GFS_ATTR_CTIME)
		n->ctime_ns = a.ctime_ns;
	return true;
}

/* The name of an XATTR record: new string (caller frees), or NULL and
 * d->bad when it is no user attribute name (xattr.h). */
static char *dec_xattr_name(struct gfs_master *m, struct gfs_dec *d)
{
	char *name = dec_text(m, d, GFS_XATTR_NAME_MAX);

	if (name && gfs_xattr_check_name(name)) {
		free(name);
		d->bad = true;
		return NULL;
	}
	return name;
}

static bool apply_xattr_set(struct gfs_master *m, struct gfs_dec *d,
			    const char *path)
{
	char *name = dec_xattr_name(m, d);
	size_t len = 0;
	const uint8_t *value = gfs_dec_blob(d, GFS_XATTR_VALUE_MAX, &len);
	int64_t t = d->bad ? 0 : dec_opt_time(d);
	struct gfs_node *n = find(m, path, -1);
	bool ok = gfs_dec_done(d) && n && name &&
		  !gfs_xattr_can_set(gfs_xattr_of(m->ns.xattrs, n), name, len);

	if (ok)
		gfs_xattr_set(&m->ns.xattrs, n, name, value, len);
	if (ok && t)
		n->ctime_ns = t;
	free(name);
	return ok;
}

/* An attribute of a kept file set (live, with its ctime) or loaded
 * (checkpoint): the tree has no path to it. */
static bool apply_kept_xattr(struct gfs_master *m, struct gfs_dec *d)
{
	struct gfs_kept *k = gfs_kept_find(&m->ns.kept, gfs_dec_u64(d));
	char *name = dec_xattr_name(m, d);
	size_t len = 0;
	const uint8_t *value = gfs_dec_blob(d, GFS_XATTR_VALUE_MAX, &len);
	int64_t t = d->bad ? 0 : dec_opt_time(d);
	bool ok = gfs_dec_done(d) && k && name &&
		  !gfs_xattr_can_set(gfs_xattr_of(m->ns.xattrs, k->node), name,
				     len);

	if (ok)
		gfs_xattr_set(&m->ns.xattrs, k->node, name, value, len);
	if (ok && t)
		k->node->ctime_ns = t;
	free(name);
	return ok;
}

static bool apply_kept_xattr_remove(struct gfs_master *m, struct gfs_dec *d)
{
	struct gfs_kept *k = gfs_kept_find(&m->ns.kept, gfs_dec_u64(d));
	char *name = dec_xattr_name(m, d);
	int64_t t = d->bad ? 0 : dec_opt_time(d);
	bool ok = gfs_dec_done(d) && k && name &&
		  gfs_xattr_remove(&m->ns.xattrs, k->node, name);

	if (ok && t)
		k->node->ctime_ns = t;
	free(name);
	return ok;
}

static bool apply_xattr_remove(struct gfs_master *m, struct gfs_dec *d,
			       const char *path)
{
	char *name = dec_xattr_name(m, d);
	int64_t t = d->bad ? 0 : dec_opt_time(d);
	struct gfs_node *n = find(m, path, -1);
	bool ok = gfs_dec_done(d) && n && name &&
		  gfs_xattr_remove(&m->ns.xattrs, n, name);

	if (ok && t)
		n->ctime_ns = t;
	free(name);
	return ok;
}

/* Records that name a path, after it. */
static bool apply_path_rec(struct gfs_master *m, uint8_t type,
			   struct gfs_dec *d)
{
	char *path = dec_text(m, d, GFS_PATH_MAX);
	bool ok = false;

	if (!path)
		return false;
	switch (type) {
	case GFS_REC_CREATE: ok = apply_create(m, d, path); break;
	case GFS_REC_DELETE: ok = apply_delete(m, d, path); break;
	case GFS_REC_RENAME: ok = apply_rename(m, d, path); break;
	case GFS_REC_SETATTR: ok = apply_setattr(m, d, path); break;
	case GFS_REC_COMMIT: ok = apply_commit(m, d, path); break;
	case GFS_REC_LEASE: ok = apply_lease(m, d, path); break;
	case GFS_REC_UNLEASE: ok = apply_unlease(m, d, path); break;
	case GFS_REC_DIR: ok = apply_dir(m, d, path); break;
	case GFS_REC_MKNODE: ok = apply_mknode(m, d, path); break;
	case GFS_REC_LINK: ok = apply_link(m, d, path); break;
	case GFS_REC_ATTR: ok = apply_attr(m, d, path); break;
	case GFS_REC_XATTR_SET: ok = apply_xattr_set(m, d, path); break;
	case GFS_REC_XATTR_REMOVE: ok = apply_xattr_remove(m, d, path); break;
	case GFS_REC_KEPT: ok = apply_kept(m, d, path); break;
	case GFS_REC_CREATE_COMMIT:
		ok = apply_create_commit(m, d, path);
		break;
	}
	free(path);
	return ok;
}

/* A mutation with its request id: apply it, then remember the id (with
 * the seq it will be durable at; replayed records are durable). */
static bool apply_request(struct gfs_master *m, struct gfs_dec *d)
{
	struct gfs_request_id id;
	int64_t time_ms;

	id.hi = gfs_dec_u64(d);
	id.lo = gfs_dec_u64(d);
	time_ms = gfs_dec_i64(d);
	if (d->bad)
		return false;
	if (d->p < d->end && (*d->p == GFS_REC_REQUEST ||
			      !gfs_journal_apply(m, d->p,
						 (size_t)(d->end - d->p))))
		return false;
	gfs_requests_add(&m->requests, &id, time_ms,
			 m->replaying ? 0 : m->applied_seq);
	return true;
}

bool gfs_journal_apply(struct gfs_master *m, const uint8_t *body, size_t len)
{
	struct gfs_dec d;
	uint8_t type;

	gfs_dec_init(&d, body, len);
	type = gfs_dec_u8(&d);
	switch (type) {
	case GFS_REC_EPOCH:
		return apply_epoch(m, &d);
	case GFS_REC_RESERVE:
		return apply_reserve(m, &d);
	case GFS_REC_END:
		gfs_dec_u64(&d);
		return gfs_dec_done(&d);
	case GFS_REC_REQUEST:
		return apply_request(m, &d);
	case GFS_REC_KEPT_RENEW:
		return apply_kept_renew(m, &d);
	case GFS_REC_KEPT_DROP:
		return apply_kept_drop(m, &d);
	case GFS_REC_KEPT_FILE:
		return apply_kept_file(m, &d);
	case GFS_REC_KEPT_XATTR:
		return apply_kept_xattr(m, &d);
	case GFS_REC_KEPT_XATTR_REMOVE:
		return apply_kept_xattr_remove(m, &d);
	default:
		return apply_path_rec(m, type, &d);
	}
}

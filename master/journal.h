/*
 * journal.h - what op-log records mean: their encoding and the one
 * function that applies them to the state.
 *
 * For: every state change goes through gfs_journal_apply(), whether it
 * comes from a live mutation (ops.c, after validation), from replay at
 * start-up, from the checkpoint, or from the primary's stream on a
 * backup, so the four can never disagree.  Not for: validation (ops.c
 * checks everything before a record exists) or framing (oplog.c).
 *
 * Record bodies (after the oplog frame), first byte the type:
 *   EPOCH    u64 epoch, str primary
 *   RESERVE  u64 limit            handles < limit may be handed out
 *   CREATE   str path, u8 type, u32 mode, i64 mtime_ns, u32 chunk_size
 *            (type 0 file, 1 directory, 2 hidden file: an upload that
 *            stays invisible until its first COMMIT, see namespace.h)
 *   DELETE   str path [, i64 time_ns]   (removes a name; the inode goes
 *            with its last one; time_ns: the parents' mtime and ctime,
 *            a surviving inode's ctime)
 *   RENAME   str from, str to [, i64 time_ns [, u64 id, str holder,
 *            i64 expires_ms, u32 ttl]]   (replaces `to` if it exists;
 *            time_ns: the inode's ctime, both parents' times; with the
 *            keep tail the replaced file, the last name of a visible
 *            file, is kept as id for holder, as KEPT does: a rename
 *            over a file its holder has open)
 *   SETATTR  str path, u8 which (1 mode, 2 mtime), u32 mode, i64 mtime_ns
 *   COMMIT   str path, u64 size, i64 mtime_ns, u32 n,
 *            n x (u32 index, u64 handle, u32 version, u32 length)
 *            [, i64 ctime_ns]  (without it ctime becomes mtime_ns)
 *   LEASE    str path, str holder, i64 expires_ms, u32 ttl
 *   UNLEASE  str path
 *   DIR      str path, u8 explicit, u32 mode, i64 mtime_ns (checkpoint:
 *            sets a directory's attributes exactly, creating it if needed)
 *   END      u64 records          (checkpoint: the last record)
 *   REQUEST  u64 id_hi, u64 id_lo, i64 time_ms, then the body of the
 *            mutation it carries (CREATE, DELETE, RENAME, UNLEASE...), or
 *            nothing (checkpoint: an id to remember); see requests.h
 *   MKNODE   str path, u8 type (enum gfs_node_type, not LINK), u8 flags
 *            (1 explicit directory, 2 hidden file), u64 ino, u32 mode, u32
 *            uid, u32 gid, i64 atime_ns, i64 mtime_ns, i64 ctime_ns, u32
 *            chunk_size, u64 rdev, str target (symlinks; else "").
 *            Missing parents are made implicit with ino + 1, + 2...
 *   LINK     str path, str to, i64 time_ns   (a further name `to` of
 *            path's inode: link(2))
 *   ATTR     str path, u8 which (GFS_ATTR_*), u32 mode, u32 uid, u32
 *            gid, i64 atime_ns, i64 mtime_ns, i64 ctime_ns
 *   XATTR_SET     str path, str name, u32 len, value[len], [i64
 *                 time_ns]  (set or replace a user extended attribute
 *                 of path's inode, xattr.h; the time is its new ctime,
 *                 absent in checkpoints)
 *   XATTR_REMOVE  str path, str name, [i64 time_ns]
 *   KEPT          str path, u64 id, str holder, i64 expires_ms, u32 ttl,
 *                 i64 time_ns  (the last name of a file its holder has
 *                 open goes: its inode, of link count 0, is kept off
 *                 the tree as id; kept.h)
 *   KEPT_RENEW    u64 id, i64 expires_ms
 *   KEPT_DROP     u64 id          (closed or expired: the inode goes)
 *   KEPT_FILE     u64 id, str holder, i64 expires_ms, u32 ttl, u64 ino,
 *                 u32 mode, u32 uid, u32 gid, i64 atime_ns, i64
 *                 mtime_ns, i64 ctime_ns, u32 chunk_size, then a
 *                 COMMIT's fields after its path (checkpoint: a kept
 *                 file with its chunks)
 *   KEPT_XATTR    u64 id, str name, u32 len, value[len] [, i64
 *                 time_ns]  (set or replace a user extended attribute
 *                 of kept file id, its new ctime; in a checkpoint,
 *                 without the time, after its KEPT_FILE)
 *   KEPT_XATTR_REMOVE  u64 id, str name [, i64 time_ns]
 *   CREATE_COMMIT str path, then a MKNODE's fields after its path (a
 *                 file, flags 0), then a COMMIT's fields after its path
 *                 with its ctime_ns: a new file with its data, in one
 *                 record (the mount's deferred create, PROTOCOL.md)
 * Fields in brackets are absent from records written before they were
 * added (format 1): the record's length tells.  The log and checkpoint
 * headers carry the format (GFS_FORMAT, oplog.h).
 * Requires the master lock.
 */
#ifndef GFS_JOURNAL_H
#define GFS_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "requests.h"

struct gfs_kept;
struct gfs_master;
struct gfs_node;
struct gfs_xattrs;

enum gfs_rec_type {
	GFS_REC_EPOCH = 1,
	GFS_REC_RESERVE = 2,
	GFS_REC_CREATE = 3,
	GFS_REC_DELETE = 4,
	GFS_REC_RENAME = 5,
	GFS_REC_SETATTR = 6,
	GFS_REC_COMMIT = 7,
	GFS_REC_LEASE = 8,
	GFS_REC_UNLEASE = 9,
	GFS_REC_DIR = 10,
	GFS_REC_END = 11,
	GFS_REC_REQUEST = 12,
	GFS_REC_MKNODE = 13,
	GFS_REC_LINK = 14,
	GFS_REC_ATTR = 15,
	GFS_REC_XATTR_SET = 16,
	GFS_REC_XATTR_REMOVE = 17,
	GFS_REC_KEPT = 18,
	GFS_REC_KEPT_RENEW = 19,
	GFS_REC_KEPT_DROP = 20,
	GFS_REC_KEPT_FILE = 21,
	GFS_REC_KEPT_XATTR = 22,
	GFS_REC_CREATE_COMMIT = 23,
	GFS_REC_KEPT_XATTR_REMOVE = 24,
};

/* CREATE type of a hidden file (after GFS_NODE_FILE, GFS_NODE_DIR). */
#define GFS_CREATE_HIDDEN 2

#define GFS_SET_MODE 1
#define GFS_SET_MTIME 2

/* MKNODE flags. */
#define GFS_MK_EXPLICIT 1
#define GFS_MK_HIDDEN 2

/* ATTR which. */
#define GFS_ATTR_MODE 1
#define GFS_ATTR_UID 2
#define GFS_ATTR_GID 4
#define GFS_ATTR_ATIME 8
#define GFS_ATTR_MTIME 16
#define GFS_ATTR_CTIME 32
#define GFS_ATTR_ALL 63

/* The inode of a MKNODE record, or the attributes of an ATTR record. */
struct gfs_rec_inode {
	uint8_t type;               /* enum gfs_node_type */
	uint8_t flags;              /* GFS_MK_* */
	uint64_t ino;
	uint32_t mode, uid, gid;
	int64_t atime_ns, mtime_ns, ctime_ns;
	uint32_t chunk_size;
	uint64_t rdev;
	const char *target;         /* symlinks, borrowed; NULL: "" */
};

/* The keep tail of a RENAME record: kept file id for holder. */
struct gfs_rec_keep {
	uint64_t id;
	const char *holder;         /* borrowed */
	int64_t expires_ms;         /* Unix ms */
	uint32_t ttl;               /* seconds per renewal */
};

/* One chunk of a COMMIT record. */
struct gfs_rec_chunk {
	uint32_t index;
	uint64_t handle;
	uint32_t version;
	uint32_t length;
};

/* Encoders: each appends one record body to e. */
void gfs_rec_epoch(struct gfs_enc *e, uint64_t epoch, const char *primary);
void gfs_rec_reserve(struct gfs_enc *e, uint64_t limit);
void gfs_rec_create(struct gfs_enc *e, const char *path, uint8_t type,
		    uint32_t mode, int64_t mtime_ns, uint32_t chunk_size);
void gfs_rec_delete(struct gfs_enc *e, const char *path);
void gfs_rec_rename(struct gfs_enc *e, const char *from, const char *to);
/* Append the keep tail to a RENAME just encoded into e with its time
 * (gfs_rec_time()). */
void gfs_rec_keep(struct gfs_enc *e, const struct gfs_rec_keep *k);
void gfs_rec_setattr(struct gfs_enc *e, const char *path, uint8_t which,
		     uint32_t mode, int64_t mtime_ns);
void gfs_rec_commit(struct gfs_enc *e, const char *path, uint64_t size,
		    int64_t mtime_ns, const struct gfs_rec_chunk *c, uint32_t n);
/* COMMIT of a file's current chunks (checkpoint). */
void gfs_rec_commit_file(struct gfs_enc *e, const char *path,
			 const struct gfs_node *file);
void gfs_rec_lease(struct gfs_enc *e, const char *path, const char *holder,
		   int64_t expires_ms, uint32_t ttl);
void gfs_rec_unlease(struct gfs_enc *e, const char *path);
void gfs_rec_dir(struct gfs_enc *e, const char *path, bool is_explicit,
		 uint32_t mode, int64_t mtime_ns);
void gfs_rec_end(struct gfs_enc *e, uint64_t records);
void gfs_rec_mknode(struct gfs_enc *e, const char *path,
		    const struct gfs_rec_inode *in);
/* MKNODE of node as it is (checkpoint: exact, times included). */
void gfs_rec_mknode_of(struct gfs_enc *e, const char *path,
		       const struct gfs_node *n);
/* CREATE_COMMIT of a visible file as it is, chunks and times included
 * (checkpoint: one record and one path walk a file instead of MKNODE +
 * COMMIT's two). */
void gfs_rec_create_commit_of(struct gfs_enc *e, const char *path,
			      const struct gfs_node *file);
void gfs_rec_link(struct gfs_enc *e, const char *path, const char *to,
		  int64_t time_ns);
void gfs_rec_create_commit(struct gfs_enc *e, const char *path,
			   const struct gfs_rec_inode *in, uint64_t size,
			   int64_t mtime_ns, const struct gfs_rec_chunk *c,
			   uint32_t n, int64_t ctime_ns);
void gfs_rec_attr(struct gfs_enc *e, const char *path, uint8_t which,
		  const struct gfs_rec_inode *a);
/* Append the optional trailing time of a DELETE, RENAME or COMMIT just
 * encoded into e. */
void gfs_rec_time(struct gfs_enc *e, int64_t time_ns);
void gfs_rec_xattr_set(struct gfs_enc *e, const char *path, const char *name,
		       const void *value, size_t len);
void gfs_rec_xattr_remove(struct gfs_enc *e, const char *path,
			  const char *name);
void gfs_rec_kept(struct gfs_enc *e, const char *path, uint64_t id,
		  const char *holder, int64_t expires_ms, uint32_t ttl,
		  int64_t time_ns);
void gfs_rec_kept_renew(struct gfs_enc *e, uint64_t id, int64_t expires_ms);
void gfs_rec_kept_drop(struct gfs_enc *e, uint64_t id);
/* KEPT_FILE of a kept file (checkpoint). */
void gfs_rec_kept_file(struct gfs_enc *e, const struct gfs_kept *k);
/* KEPT_XATTR and KEPT_XATTR_REMOVE of one attribute of kept file id
 * (then gfs_rec_time() for its ctime, live). */
void gfs_rec_kept_xattr(struct gfs_enc *e, uint64_t id, const char *name,
			const void *value, size_t len);
void gfs_rec_kept_xattr_remove(struct gfs_enc *e, uint64_t id,
			       const char *name);
/* XATTR_SET of every attribute in xs (NULL: none), each handed to
 * put(cls) once encoded into e (checkpoint). */
void gfs_rec_xattrs_of(struct gfs_enc *e, const char *path,
		       const struct gfs_xattrs *xs,
		       void (*put)(void *cls), void *cls);
/* KEPT_XATTR of every attribute of kept file k, as gfs_rec_xattrs_of()
 * (checkpoint, after its KEPT_FILE). */
void gfs_rec_kept_xattrs(struct gfs_enc *e, const struct gfs_kept *k,
			 const struct gfs_xattrs *xs,
			 void (*put)(void *cls), void *cls);
/* The head of a REQUEST record: the mutation's own encoder appends its
 * body after it (or nothing, in a checkpoint). */
void gfs_rec_request(struct gfs_enc *e, const struct gfs_request_id *id,
		     int64_t time_ms);

/* Apply one record body.  False when it is malformed or does not fit
 * the state (corruption, or a bug: validation should have refused it). */
bool gfs_journal_apply(struct gfs_master *m, const uint8_t *body, size_t len);

#endif

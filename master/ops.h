/*
 * ops.h - every master operation, validated, logged and applied.
 *
 * For: the one function per API operation that route handlers call.  A
 * mutation takes the master lock, checks everything (bad input or a
 * refused operation changes nothing), appends its record, applies it,
 * drops the lock and waits until the record is durable (fsync'ed, and
 * acknowledged by an attached backup) before it returns: only then may
 * the handler reply.  Reads wait, too, until what they saw is durable, so
 * nobody ever sees a change that a crash could take back.
 * Not for: HTTP (routes.c parses requests and builds replies) or what a
 * record does to the state (journal.c).
 *
 * Results: GFS_OK with *out a new JSON reference to send, or an error;
 * for GFS_ELEASED *out is the lease object for the error body.
 */
#ifndef GFS_OPS_H
#define GFS_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "codec.h"
#include "err.h"
#include "requests.h"

struct gfs_master;

/* Entry of a file or directory as GET /files/PATH (full: with chunks).
 * With full, a chunk whose locations are not known yet is never
 * answered without replicas: a backup says GFS_ENOTPRIMARY (the primary
 * knows them), a primary still hearing chunkserver reports waits for
 * them (bounded) and then says GFS_EUNAVAIL. */
enum gfs_err gfs_ops_stat(struct gfs_master *m, const char *path,
			  const char *client, bool full, json_t **out);
/* The same without full, for the event loop: false, with nothing done,
 * where it would wait (the lock held by another thread, or what it saw
 * not durable on every member yet); else *err and *out as above, and
 * *epoch the epoch it was read in. */
bool gfs_ops_stat_now(struct gfs_master *m, const char *path,
		      enum gfs_err *err, json_t **out, uint64_t *epoch);
/* A listing asked for: whole, or one page (docs/PROTOCOL.md). */
struct gfs_list_req {
	size_t limit;               /* entries a page holds at most (more
				     * only when names share a position);
				     * 0: the whole listing, sorted by name,
				     * GFS_ETOOBIG past 100,000 entries */
	const char *cursor;         /* a page's "next" to go on from, or
				     * NULL (borrowed); GFS_EINVAL when it
				     * is not one */
};
/* Files (and with dirs, explicit directories) whose path starts with
 * prefix: {"files": [entry...], "next"}. */
enum gfs_err gfs_ops_list_prefix(struct gfs_master *m, const char *prefix,
				 bool dirs, const struct gfs_list_req *q,
				 json_t **out);
/* Directory dir's entries: {"path", "entries": [entry...], "next"}; a
 * page's entries carry their "pos", and a cursor may be made from one
 * (pos + 1 in lowercase hex) to go on after it. */
enum gfs_err gfs_ops_list_dir(struct gfs_master *m, const char *dir,
			      const struct gfs_list_req *q, json_t **out);

/*
 * body: the request's JSON object (borrowed).  id (may be NULL): the
 * request's X-GFS-Request; a mutation already applied under it is not
 * applied again but answered as it was (see requests.h).
 */
enum gfs_err gfs_ops_create(struct gfs_master *m, const char *path,
			    json_t *body, const struct gfs_request_id *id,
			    json_t **out);
enum gfs_err gfs_ops_delete(struct gfs_master *m, const char *path,
			    const char *client, const char *type,
			    const struct gfs_request_id *id, json_t **out);

/*
 * A mutation made in the event thread (routes.c): the *_now() twins of
 * the calls below take the master lock only if it is free, and wait for
 * nothing.  busy: the lock was held, nothing was done (the caller takes
 * the request to a worker).  Else the call returned as the plain one
 * would have before its wait for durability: an error (no record; *out
 * as the plain call leaves it), or GFS_OK with seq, the record to wait
 * for (acks.h; 0: none), epoch the master's then, and *out the reply
 * to give once acknowledged, through gfs_ops_acked().
 */
struct gfs_ops_now {
	bool busy;       /* out: the master lock was busy; nothing done */
	uint64_t seq;    /* out: the record to wait for; 0: none */
	uint64_t epoch;  /* out: read under the lock */
};
/* busy too for a create with "alloc" (placement is a worker's). */
enum gfs_err gfs_ops_create_now(struct gfs_master *m, const char *path,
				json_t *body, const struct gfs_request_id *id,
				struct gfs_ops_now *now, json_t **out);
enum gfs_err gfs_ops_delete_now(struct gfs_master *m, const char *path,
				const char *client, const char *type,
				const struct gfs_request_id *id,
				struct gfs_ops_now *now, json_t **out);
enum gfs_err gfs_ops_commit_now(struct gfs_master *m, const char *path,
				const char *client, json_t *body,
				struct gfs_ops_now *now, json_t **out);
enum gfs_err gfs_ops_create_commit_now(struct gfs_master *m,
				       const char *path, const char *client,
				       json_t *body,
				       const struct gfs_request_id *id,
				       struct gfs_ops_now *now, json_t **out);
/* A mutation's outcome once its wait decided err (GFS_OK: acknowledged):
 * *out is dropped on failure, as the plain calls do; returns err. */
enum gfs_err gfs_ops_acked(enum gfs_err err, json_t **out);
/* keep_ttl_s (not 0): the caller (client) has `to` open; a file it
 * replaces whose last name it was is kept as gfs_ops_unlink_keep()
 * keeps one, and *out has its "kept", "expires_ms" and "ttl" too. */
enum gfs_err gfs_ops_rename(struct gfs_master *m, const char *path,
			    const char *to, bool overwrite,
			    uint64_t keep_ttl_s, const char *client,
			    const struct gfs_request_id *id, json_t **out);
/* A further name `to` of path's inode (link(2)); GFS_EISDIR for a
 * directory. */
enum gfs_err gfs_ops_link(struct gfs_master *m, const char *path,
			  const char *to, const char *client,
			  const struct gfs_request_id *id, json_t **out);
/* body: {"mode"?, "uid"?, "gid"?, "atime_ns"?, "mtime_ns"?}; any change
 * sets ctime. */
enum gfs_err gfs_ops_setattr(struct gfs_master *m, const char *path,
			     const char *client, json_t *body, json_t **out);
enum gfs_err gfs_ops_alloc(struct gfs_master *m, const char *path,
			   const char *client, json_t *body, json_t **out);
enum gfs_err gfs_ops_commit(struct gfs_master *m, const char *path,
			    const char *client, json_t *body, json_t **out);
/*
 * Pre-placed chunks (POST /chunks): body {"count"?: N (1..64, default 8),
 * "exclude"?: [url...]}; *out {"chunks": [{"handle", "index": 0,
 * "version": 1, "replicas"}...], "chunk_size", "ttl_ms"}: fresh handles
 * of no file, placed as a new file's chunk 0, pending for client (the
 * lease holder) until a file of its commits one or ttl_ms (the
 * --orphan-grace) passes.  GFS_ENOSPC when none could be placed.
 */
enum gfs_err gfs_ops_preplace(struct gfs_master *m, const char *client,
			      json_t *body, json_t **out);
/*
 * Create+commit (POST /files/PATH/commit with "create"): a new file at
 * path and its first commit, one record (CREATE_COMMIT).  body: a
 * commit's, plus "create": {"mode"?, "uid"?, "gid"?} as a create's.
 * GFS_EEXIST when path exists (as a create), GFS_EINVAL as a commit
 * (its chunks: pre-placed for client, or inherited from an earlier
 * primary).  Honours request ids.  *out the full entry.
 */
enum gfs_err gfs_ops_create_commit(struct gfs_master *m, const char *path,
				   const char *client, json_t *body,
				   const struct gfs_request_id *id,
				   json_t **out);

/*
 * Of handles (a JSON array of chunk handles), the chunks of path's file
 * the caller may have tokens for: {"chunks": [{"handle", "index",
 * "version", "ops"}...]}, committed ones to read ("r", their version)
 * and, for a writer, the ones allocated for the file and not committed
 * yet ("rw", version 0: any).  Any other handle is left out.  A hidden
 * file (an upload) counts; a lease of another is GFS_ELEASED.
 */
enum gfs_err gfs_ops_chunk_grants(struct gfs_master *m, const char *path,
				  const char *client, json_t *handles,
				  bool writer, json_t **out);

enum gfs_err gfs_ops_lease_get(struct gfs_master *m, const char *path,
			       json_t **out);
/* ttl_s 0: default. */
enum gfs_err gfs_ops_lease_put(struct gfs_master *m, const char *path,
			       const char *client, uint64_t ttl_s,
			       json_t **out);
enum gfs_err gfs_ops_lease_delete(struct gfs_master *m, const char *path,
				  const char *client,
				  const struct gfs_request_id *id, json_t **out);

/*
 * User extended attributes (xattr.h).  Get: {"path", "xattrs": {name:
 * base64 value}}, every attribute or only name's (NULL: all), never
 * refused for a lease; GFS_ENODATA when name is absent.  Set: body
 * {"name", "value" (base64), "flag"?: "create"|"replace"}: GFS_EEXIST
 * (create, present), GFS_ENODATA (replace, absent), GFS_EINVAL (not a
 * user.* name, not base64), GFS_ENAMETOOLONG, GFS_ETOOBIG (value over
 * 64 KiB), GFS_ENOSPC (the node's total over GFS_XATTR_TOTAL_MAX),
 * GFS_ELEASED.  Remove: GFS_ENODATA when absent.  Set and remove honour
 * request ids; *out is {} on success.
 */
enum gfs_err gfs_ops_xattr_get(struct gfs_master *m, const char *path,
			       const char *name, json_t **out);
enum gfs_err gfs_ops_xattr_set(struct gfs_master *m, const char *path,
			       const char *client, json_t *body,
			       const struct gfs_request_id *id, json_t **out);
enum gfs_err gfs_ops_xattr_remove(struct gfs_master *m, const char *path,
				  const char *client, const char *name,
				  const struct gfs_request_id *id,
				  json_t **out);
/* The same for the caller's kept file kid *(ext)*: GFS_ENOENT for
 * anyone but its holder, or when it is gone; get's reply names "kept"
 * instead of "path". */
enum gfs_err gfs_ops_kept_xattr_get(struct gfs_master *m, uint64_t kid,
				    const char *client, const char *name,
				    json_t **out);
enum gfs_err gfs_ops_kept_xattr_set(struct gfs_master *m, uint64_t kid,
				    const char *client, json_t *body,
				    const struct gfs_request_id *id,
				    json_t **out);
enum gfs_err gfs_ops_kept_xattr_remove(struct gfs_master *m, uint64_t kid,
				       const char *client, const char *name,
				       const struct gfs_request_id *id,
				       json_t **out);

/*
 * Files unlinked while open (kept.h).  Unlink-keep: DELETE of a file
 * whose caller (client, the lease holder; required) still has it open:
 * when path is the file's last name, its inode goes off the tree, kept
 * whole for ttl_s seconds (1..86400) unless renewed; *out {"kept": id,
 * "expires_ms", "ttl"}.  Else (another name stays, no regular file) a
 * plain unlink, *out {}; {} too for a retried request id (that one
 * expires).  Renew and drop: the holder's only (GFS_ENOENT for
 * anyone else, or when gone); drop hands the chunks to GC.  Reap: the
 * primary drops kept files that expired, lock held, at most 64 a call,
 * O(kept files) each.
 */
enum gfs_err gfs_ops_unlink_keep(struct gfs_master *m, const char *path,
				 const char *client, uint64_t ttl_s,
				 const struct gfs_request_id *id, json_t **out);
enum gfs_err gfs_ops_kept_renew(struct gfs_master *m, uint64_t kid,
				const char *client, json_t **out);
enum gfs_err gfs_ops_kept_drop(struct gfs_master *m, uint64_t kid,
			       const char *client, json_t **out);
void gfs_ops_reap_kept(struct gfs_master *m);
/* A chunk for the caller's kept file kid, as gfs_ops_alloc() (POST
 * /kept/ID/chunks): its writes go on after the unlink.  Never committed:
 * the allocation stays pending (--orphan-grace). */
enum gfs_err gfs_ops_kept_alloc(struct gfs_master *m, uint64_t kid,
				const char *client, json_t *body, json_t **out);

/* Remove hidden files (uploads created with "hidden": true) that were
 * not committed within --orphan-grace of their creation or last chunk
 * allocation, each through a logged DELETE (so the backup does the same);
 * their chunks become orphans for GC.  Primary only; lock held; at most
 * 64 per call, O(hidden files) each, no wait for the disk. */
void gfs_ops_reap_hidden(struct gfs_master *m, int64_t now_ms);

/* Log and apply a record, lock held; returns its seq.  Aborts when a
 * validated record does not apply (a bug). */
uint64_t gfs_ops_log(struct gfs_master *m, struct gfs_enc *rec);
/* A new leader's first record was seq: when the root was never given
 * times (a new file system), log them as now.  Lock held; returns the
 * last record's seq. */
uint64_t gfs_ops_stamp_root(struct gfs_master *m, uint64_t seq);
/* Wait for seq to be durable; GFS_ENOTPRIMARY when this master stepped
 * down meanwhile (the change must not be acknowledged). */
enum gfs_err gfs_ops_wait(struct gfs_master *m, uint64_t seq);

/* The gateway for a /content redirect of path: a live chunkserver,
 * round robin, into *url (caller frees).  GFS_ELEASED with the lease in
 * *lease when another client holds one; GFS_EUNAVAIL when no chunkserver
 * is alive (after waiting, bounded, while they may still be reporting). */
enum gfs_err gfs_ops_gateway(struct gfs_master *m, const char *path,
			     const char *client, char **url, json_t **lease);

#endif

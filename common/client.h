/*
 * client.h - the one client library: metadata calls to the master and
 * file reads and writes against the chunkservers.  gfs (cli/), gfs-fuse
 * (fuse/) and the chunkserver's /content gateway all use it; nothing else
 * speaks the client side of docs/PROTOCOL.md.
 *
 * A struct gfs_client is shared by all threads of a program.  It finds the
 * primary among the configured masters by itself (following 421 and
 * X-GFS-Primary, retrying while a failover is under way) and keeps
 * connections alive in a pool.
 *
 * A struct gfs_file is an open file: reads go straight to a replica, in
 * ranges, failing over to the next replica; writes stream to the
 * chunkservers as they come, in constant memory, into private chunks that
 * gfs_file_sync() commits (close-to-open: nobody else sees them before).
 * Its functions may be called from several threads at once.
 */
#ifndef GFS_CLIENT_H
#define GFS_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "constants.h"
#include "err.h"

struct gfs_client;
struct gfs_file;

struct gfs_client_conf {
	const char *masters;   /* "http://h:7070,http://h:7071"; copied */
	const char *client_id; /* lease holder id, NULL for nobody; copied */
	const char *key;       /* client key sent to masters (Authorization:
				* Bearer), NULL for none; copied */
	const char *ca_file;   /* PEM certificates trusted over HTTPS, NULL
				* for the system's; copied */
	unsigned max_conns;    /* metadata calls and reads at once, and
				* idle connections kept; default 64 */
	size_t window_bytes;   /* written bytes kept until the replicas
				* acknowledge them, all open files
				* together; default 256 MiB */
	long timeout_ms;       /* one metadata call; default 10 s */
	long failover_ms;      /* keep retrying this long while no primary
				* answers; default 30 s */
	long dir_attrs_ms;     /* gfs_client_stat() of a directory this
				* client's own last mutation changed is
				* answered from that mutation's reply for
				* this long after it (ext "parents"); 0
				* (default): always asks the master */
	long stat_ahead_ms;    /* gfs_client_stat_listed() answers from a
				* listing fetched up to this long ago; 0
				* (default): never.  Shared by the views
				* (gfs_client_as()), as dir_attrs_ms: for
				* a client of one key */
};

/* What stat and readdir report. */
struct gfs_stat {
	bool is_dir;
	uint32_t kind;          /* S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO,
				 * S_IFSOCK, S_IFCHR or S_IFBLK */
	uint64_t size;          /* a symlink's: its target's length */
	int64_t mtime_ns;
	int64_t atime_ns;
	int64_t ctime_ns;
	uint32_t mode;          /* permission bits (07777) */
	uint64_t chunk_size;    /* files only */
	uint64_t ino;           /* the master's inode number, 0: unknown */
	uint32_t nlink;
	uint32_t uid, gid;
	uint64_t rdev;          /* devices */
};

/* A new inode (gfs_client_make()). */
struct gfs_make {
	const char *type;       /* "file", "dir", "symlink", "fifo",
				 * "socket", "char", "block" */
	uint32_t mode;          /* permission bits */
	uint32_t uid, gid;
	uint64_t rdev;          /* devices */
	const char *target;     /* symlinks */
};

/* Attributes to change (gfs_client_setattrs()): each only when its
 * GFS_SET_* bit is in which. */
enum {
	GFS_SETA_MODE = 1, GFS_SETA_UID = 2, GFS_SETA_GID = 4,
	GFS_SETA_ATIME = 8, GFS_SETA_MTIME = 16,
};
struct gfs_setattr {
	unsigned which;
	uint32_t mode, uid, gid;
	int64_t atime_ns, mtime_ns;
};

/* A lease as the master reports it. */
struct gfs_lease {
	char holder[256];
	int64_t expires_ms;     /* Unix milliseconds */
};

/* NULL when conf->masters has no usable URL (logged). */
struct gfs_client *gfs_client_new(const struct gfs_client_conf *conf);
void gfs_client_free(struct gfs_client *c);
/* A view of c acting as client id (NULL: nobody) with client key (NULL:
 * none), sharing its connections and its idea of the primary; free with
 * gfs_client_free().  For the chunkserver gateway, which acts for
 * whoever calls it, with the caller's own key. */
struct gfs_client *gfs_client_as(struct gfs_client *c, const char *id,
				 const char *key);
/* Read a client key from file (the key alone, white space around it
 * ignored) into a new string (caller frees); NULL with a one-line reason
 * in msg. */
char *gfs_client_read_key(const char *file, char *msg, size_t len);
/* The client id, borrowed (may be NULL). */
const char *gfs_client_id(const struct gfs_client *c);

/*
 * A call to the primary master: method on GFS_API + route (route already
 * encoded, e.g. "/files/a%20b?stat=1"), JSON body (borrowed, may be NULL).
 * On success *reply (when not NULL) is the parsed reply object, a new
 * reference.  On an error reply, *reply is the error object if there was
 * one.  The building block of everything below.
 */
enum gfs_err gfs_client_call(struct gfs_client *c, const char *method,
			     const char *route, json_t *body, json_t **reply);

/* The master URLs the client was given, in order (borrowed, valid while
 * c lives); returns their count. */
size_t gfs_client_masters(struct gfs_client *c, const char *const **urls);

/* Namespace operations (paths absolute, validated here first). */
enum gfs_err gfs_client_stat(struct gfs_client *c, const char *path,
			     struct gfs_stat *st);
/* gfs_client_stat() that may answer from the listing of path's directory
 * when stats walk it (common/statahead.c; conf stat_ahead_ms): for a
 * stat whose answer may be that old, never one that must see other
 * clients' changes of now. */
enum gfs_err gfs_client_stat_listed(struct gfs_client *c, const char *path,
				    struct gfs_stat *st);
/* The master's entry for path without chunks (GET /files/PATH?stat=1:
 * size, mtime, mode, lease), never refused for a lease; *entry is a new
 * reference. */
enum gfs_err gfs_client_stat_json(struct gfs_client *c, const char *path,
				  json_t **entry);
/* The master's whole entry for path (GET /files/PATH: size, chunks with
 * handles, versions and replicas, lease); *entry is a new reference.  A
 * download: GFS_ELEASED when another client holds a lease. */
enum gfs_err gfs_client_info(struct gfs_client *c, const char *path,
			     json_t **entry);
/* Entries a listing page holds when the caller names no limit. */
#define GFS_CLIENT_PAGE 1000
/*
 * One page of a listing (docs/PROTOCOL.md "Pages"): directory path's
 * entries (dir: GET /files?dir=, {"path", "entries": [...], "next"}) or
 * the files whose path starts with the string path (GET /files?prefix=,
 * {"files": [...], "next"}), from cursor (a page's "next", or NULL for
 * the first), at most limit (0: GFS_CLIENT_PAGE).  *reply: a new
 * reference; "next" is absent on the last page.
 */
enum gfs_err gfs_client_list_page(struct gfs_client *c, const char *path,
				  bool dir, const char *cursor,
				  unsigned limit, json_t **reply);
/* Fill st from a master file or directory entry (a listing's, or
 * GET /files/PATH's; borrowed). */
void gfs_client_parse_stat(json_t *j, struct gfs_stat *st);
/* Call fn for each entry of that listing (borrowed, valid during the
 * call), a page at a time: one page is held at once, whatever the
 * listing's size.  fn returns false to stop. */
enum gfs_err gfs_client_list_each(struct gfs_client *c, const char *path,
				  bool dir, bool (*fn)(void *cls, json_t *e),
				  void *cls);
/* Call fn for each direct child of dir (gfs_client_list_each()); fn
 * returns false to stop. */
enum gfs_err gfs_client_readdir(struct gfs_client *c, const char *dir,
				bool (*fn)(void *cls, const char *name,
					   const struct gfs_stat *st),
				void *cls);
enum gfs_err gfs_client_mkdir(struct gfs_client *c, const char *path,
			      uint32_t mode);
/* Create an empty file; GFS_EEXIST if the path exists. */
enum gfs_err gfs_client_create(struct gfs_client *c, const char *path,
			       uint32_t mode);
/* Any inode: a directory, a symlink, a FIFO, socket or device node (as
 * metadata), an empty file. */
enum gfs_err gfs_client_make(struct gfs_client *c, const char *path,
			     const struct gfs_make *mk);
/* A further name `to` of path's inode (link(2)). */
enum gfs_err gfs_client_link(struct gfs_client *c, const char *path,
			     const char *to);
/* A symlink's target into buf (NUL-terminated, cut to len - 1);
 * GFS_EINVAL when path is not a symlink. */
enum gfs_err gfs_client_readlink(struct gfs_client *c, const char *path,
				 char *buf, size_t len);
enum gfs_err gfs_client_setattrs(struct gfs_client *c, const char *path,
				 const struct gfs_setattr *a);
enum gfs_err gfs_client_unlink(struct gfs_client *c, const char *path);
/* What the removal of a name of a file this client has open left. */
struct gfs_removal {
	uint64_t kept;    /* the kept file's id, which gfs_client_kept()
			   * renews within its TTL and drops at the last
			   * close; 0: none (nothing to keep, or a retried
			   * call could not learn it) */
	uint32_t links;   /* names its inode still has (another hard link
			   * stayed: nothing kept); 0: none */
	char other[GFS_PATH_MAX + 1]; /* with links: the path of one of
			   * them *(ext)*, "" when the master did not say
			   * (an older one, or outside the key) */
};
/* Unlink a file this client has open, keeping its data *(ext)*. */
enum gfs_err gfs_client_unlink_keep(struct gfs_client *c, const char *path,
				    unsigned ttl_s, struct gfs_removal *out);
/* Renew (drop false) or drop a kept file; *expires_ms (may be NULL) is
 * the new expiry of a renewal.  GFS_ENOENT when it is gone. */
enum gfs_err gfs_client_kept(struct gfs_client *c, uint64_t kept, bool drop,
			     int64_t *expires_ms);
enum gfs_err gfs_client_rmdir(struct gfs_client *c, const char *path);
enum gfs_err gfs_client_rename(struct gfs_client *c, const char *from,
			       const char *to, bool overwrite);
/* Rename over `to`, a file this client has open, keeping its data
 * *(ext)*: *out as gfs_client_unlink_keep() says (all 0 also when `to`
 * did not exist). */
enum gfs_err gfs_client_rename_keep(struct gfs_client *c, const char *from,
				    const char *to, unsigned ttl_s,
				    struct gfs_removal *out);
/* Change mode and/or mtime; NULL leaves that attribute alone. */
enum gfs_err gfs_client_setattr(struct gfs_client *c, const char *path,
				const uint32_t *mode, const int64_t *mtime_ns);
/* Acquire or renew (ttl_s 0: default); *out may be NULL. */
enum gfs_err gfs_client_lease(struct gfs_client *c, const char *path,
			      unsigned ttl_s, struct gfs_lease *out);
enum gfs_err gfs_client_unlease(struct gfs_client *c, const char *path);
/* GFS_ENOENT when there is no lease. */
enum gfs_err gfs_client_lease_info(struct gfs_client *c, const char *path,
				   struct gfs_lease *out);

/* User extended attributes *(ext)*.  *xattrs (new reference) is the
 * object {name: base64 value} of path: every attribute, or name's alone
 * (NULL: all; GFS_ENODATA when absent). */
enum gfs_err gfs_client_xattrs(struct gfs_client *c, const char *path,
			       const char *name, json_t **xattrs);
/* How a set treats an existing attribute (setxattr(2) flags). */
enum gfs_xattr_flag {
	GFS_XATTR_ANY = 0,     /* create or replace */
	GFS_XATTR_CREATE = 1,  /* GFS_EEXIST if present */
	GFS_XATTR_REPLACE = 2, /* GFS_ENODATA if absent */
};
enum gfs_err gfs_client_xattr_set(struct gfs_client *c, const char *path,
				  const char *name, const void *value,
				  size_t len, enum gfs_xattr_flag flag);
/* GFS_ENODATA when absent. */
enum gfs_err gfs_client_xattr_remove(struct gfs_client *c, const char *path,
				     const char *name);
/* The same for a kept file of this client (a file it removed while
 * open: gfs_client_unlink_keep()) *(ext)*. */
enum gfs_err gfs_client_kept_xattrs(struct gfs_client *c, uint64_t kept,
				    const char *name, json_t **xattrs);
enum gfs_err gfs_client_kept_xattr_set(struct gfs_client *c, uint64_t kept,
				       const char *name, const void *value,
				       size_t len, enum gfs_xattr_flag flag);
enum gfs_err gfs_client_kept_xattr_remove(struct gfs_client *c,
					  uint64_t kept, const char *name);

/* gfs_file_open() flags. */
enum {
	GFS_O_WRITE = 1 << 0, /* may write */
	GFS_O_CREAT = 1 << 1, /* create if missing */
	GFS_O_EXCL = 1 << 2,  /* with CREAT: fail with GFS_EEXIST if present */
	GFS_O_TRUNC = 1 << 3, /* start empty (committed at sync) */
	GFS_O_HIDDEN = 1 << 4, /* with CREAT: a file this open creates is
				* invisible to others (not listed, 404)
				* until the first sync commits it, empty or
				* not; never committed, the master removes
				* it.  For whole-file uploads. */
	GFS_O_DEFER = 1 << 5,  /* with CREAT, for a path the caller saw
				* free: when the client holds a pre-placed
				* chunk, the master hears of the file only
				* at its first sync, one create+commit
				* (then GFS_EEXIST if another client took
				* the name and EXCL is set; without EXCL
				* this open took that file).  Until then
				* the file is unborn (gfs_file_unborn()).
				* Otherwise an ordinary create. */
};

/* Open path.  Fetches the chunk map (so a lease held by another client is
 * GFS_ELEASED here).  *out is freed by gfs_file_close(). */
enum gfs_err gfs_file_open(struct gfs_client *c, const char *path, int flags,
			   uint32_t mode, struct gfs_file **out);
/* The same, a file it creates owned by uid and gid. */
enum gfs_err gfs_file_open_as(struct gfs_client *c, const char *path,
			      int flags, uint32_t mode, uint32_t uid,
			      uint32_t gid, struct gfs_file **out);
/* Read up to len bytes at off into buf; *got < len only at end of file.
 * Sees this handle's own uncommitted writes. */
enum gfs_err gfs_file_pread(struct gfs_file *f, void *buf, size_t len,
			    uint64_t off, size_t *got);
/* Whether every chunk holding bytes of [off, off + len) has a replica to
 * read from, as the chunk map says (no I/O): GFS_EIO, with a message
 * naming the chunk, for one with none.  For a reply that must not
 * promise bytes it cannot send (the gateway's 200). */
enum gfs_err gfs_file_readable(struct gfs_file *f, uint64_t off,
			       uint64_t len);
/* Write len bytes at off.  Streams to the chunkservers; nothing is
 * visible to others until gfs_file_sync(). */
enum gfs_err gfs_file_pwrite(struct gfs_file *f, const void *buf, size_t len,
			     uint64_t off);
/* GFS_ETOOBIG past the largest size a file may have (GFS_MAX_FILE_CHUNKS
 * chunks), as for writes. */
enum gfs_err gfs_file_truncate(struct gfs_file *f, uint64_t size);
/* posix_fallocate: GFS_ETOOBIG when size is too large for a file; else,
 * with grow, the size becomes size unless it is larger already. */
enum gfs_err gfs_file_extend(struct gfs_file *f, uint64_t size, bool grow);
/* Make every write so far durable on the chunkservers and commit it with
 * the master.  On failure the committed file is unchanged and the pending
 * writes are dropped. */
enum gfs_err gfs_file_sync(struct gfs_file *f);
/* Re-read the chunk map from the master (after replicas moved). */
enum gfs_err gfs_file_refresh(struct gfs_file *f);
/* The file was renamed: later syncs and refreshes use path (copied). */
void gfs_file_set_path(struct gfs_file *f, const char *path);
/* The file was removed (unlinked, or replaced by a rename) while open:
 * f reads on from the chunks it knows (until the master collects them)
 * and takes writes into the private chunks it holds, but never asks the
 * master again: syncs make writes durable on the chunkservers and commit
 * nothing.  A write that needs a new chunk gets it for kept file kept
 * (POST /kept/ID/chunks), or fails with GFS_ENOENT when kept is 0. */
void gfs_file_unlinked(struct gfs_file *f, uint64_t kept);
/* The modification time the next sync commits (instead of its own
 * time), as set by utimens on an open file; a later write clears it. */
void gfs_file_set_mtime(struct gfs_file *f, int64_t mtime_ns);
/* Attributes as this handle sees them (its own writes included), with no
 * call to the master. */
void gfs_file_stat(struct gfs_file *f, struct gfs_stat *st);
/* Current size as this handle sees it (its own writes included). */
uint64_t gfs_file_size(struct gfs_file *f);
/* True when there are writes not yet committed. */
bool gfs_file_dirty(struct gfs_file *f);
/* Sync when dirty, then free f.  Returns the sync's error. */
enum gfs_err gfs_file_close(struct gfs_file *f);
/* Free f without committing (pending writes are dropped). */
void gfs_file_abort(struct gfs_file *f);
/* True while f was opened with GFS_O_DEFER and the master has not been
 * told of it yet; *since_ms (may be NULL): monotonic ms of the open. */
bool gfs_file_unborn(struct gfs_file *f, int64_t *since_ms);
/* Create an unborn file on the master now (then it is an ordinary open
 * file: writes go on, the next sync commits them): before anything
 * else about its path goes to the master.  GFS_OK when not unborn. */
enum gfs_err gfs_file_materialize(struct gfs_file *f);

/* How far a whole-file transfer is, for a caller that shows it (from
 * another thread): bytes done so far, added as they go (relaxed atomic
 * adds, from any thread of the transfer), and the size when known (a
 * download sets it once the file is open; an upload's caller knows it). */
struct gfs_progress {
	atomic_ullong done;
	atomic_ullong total;
};

/* Whole-file helpers for the CLI: stream fd in or out, constant memory.
 * An upload that does not finish leaves no new file behind (GFS_O_HIDDEN)
 * and an existing one as it was.  p (borrowed, may be NULL) is kept up to
 * date as the bytes move. */
enum gfs_err gfs_client_upload_fd(struct gfs_client *c, int fd,
				  const char *path, uint32_t mode,
				  struct gfs_progress *p);
enum gfs_err gfs_client_download_fd(struct gfs_client *c, const char *path,
				    int fd, struct gfs_progress *p);

/* The last error message a master or chunkserver sent on this thread
 * ("leased by another client: ..."), or "" (borrowed, thread-local). */
const char *gfs_client_last_error(void);

#endif

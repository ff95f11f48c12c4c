/*
 * mount.h - the state of one gfs-fuse mount, shared by its modules.
 *
 * One struct gfs_mount is built in main() and reached from every FUSE
 * operation through fuse_get_context()->private_data (gfs_mount_get()).
 */
#ifndef GFS_FUSE_MOUNT_H
#define GFS_FUSE_MOUNT_H

#define FUSE_USE_VERSION 35

#include <fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <uthash.h>

#include "client.h"

/* A file open in this mount: every open(2) of the same path shares it,
 * so that this mount reads its own writes. */
struct gfs_open_file {
	char *path;              /* hash key, owned */
	struct gfs_file *f;      /* owned; closed with the last opener */
	unsigned opens;          /* FUSE opens not yet released */
	bool unlinked;           /* with m->lock: the path was removed while
				  * open; out of the table (libfuse then
				  * gives its operations a NULL path) */
	uint64_t kept;           /* with m->lock: the master keeps it for
				  * us as this id since the unlink or the
				  * rename over it (0: it does not),
				  * dropped at the last release */
	uint32_t links;          /* with m->lock: names its inode kept
				  * when this one went (another hard
				  * link: nothing kept), as the master
				  * said then; 0: none */
	bool hashed;             /* with m->lock: in m->open (under a
				  * hidden name once removed: ops.c) */
	char *target;            /* with m->lock, owned: the master's path
				  * a file libfuse hid, not removed, commits
				  * to: the name it was hidden from, or
				  * once that went another name its inode
				  * kept (gfs_removal.other), followed
				  * through renames; NULL: path, or none */
	bool attrs_set;          /* with m->lock: attrs changed it since it
				  * was removed (seen through its handles
				  * alone) */
	struct gfs_setattr attrs; /* with m->lock: which, mode, uid, gid,
				   * atime_ns */
	int64_t ctime_ns;        /* with m->lock: of the last of them */
	UT_hash_handle hh;
};

/* A file unlinked while open that the master keeps for this mount
 * (docs/MASTER.md, "Files unlinked while open"), renewed while held. */
struct gfs_held_kept {
	uint64_t id;             /* hash key */
	unsigned holds;          /* open files that hold it */
	int64_t expires_ms;      /* Unix ms, as the master granted */
	UT_hash_handle hh;
};

/* A lease this mount holds and renews. */
struct gfs_held_lease {
	char *path;              /* hash key, owned */
	unsigned ttl_s;
	int64_t expires_ms;      /* Unix ms, as the master granted */
	UT_hash_handle hh;
};

/* What the kernel was last told of each path (seen.c). */
struct gfs_seen_entry;
struct gfs_seen_inode;
struct gfs_seen {
	pthread_mutex_t lock;          /* protects table, inodes */
	struct gfs_seen_entry *table;  /* by path */
	struct gfs_seen_inode *inodes; /* by ino: names of linked inodes */
};

struct gfs_mount {
	struct gfs_client *client;  /* owned */
	char *mountpoint;           /* absolute, owned */
	char *client_id;            /* owned */
	unsigned readahead_kb;      /* kernel read-ahead to set, 0 = leave */
	double attr_timeout;        /* seconds the kernel may cache attrs */
	uid_t uid;                  /* owner shown for every file */
	gid_t gid;
	pthread_mutex_t lock;       /* protects open and leases */
	struct gfs_open_file *open; /* by path */
	struct gfs_held_lease *leases; /* by path */
	struct gfs_held_kept *kept; /* with lock: by id */
	unsigned targeted;          /* with lock: open files in m->open
				     * with a target */
	unsigned keep_ttl_s;        /* TTL of kept files (--keep-ttl) */
	int64_t defer_ms;           /* --defer-create: how long a file
				     * created here may stay unknown to the
				     * master (0: made at open) */
	pthread_t renewer;          /* renews leases while mounted */
	pthread_cond_t wake;        /* with lock: wakes the renewer */
	bool stopping;              /* with lock: the renewer exits */
	bool renewer_started;
	struct gfs_seen seen;       /* attributes the kernel holds */
};

static inline struct gfs_mount *gfs_mount_get(void)
{
	return fuse_get_context()->private_data;
}

/* The FUSE operations table (ops.c). */
extern const struct fuse_operations gfs_fuse_ops;
/* The FUSE opcode (linux/fuse.h) of the request the calling thread
 * serves (main.c). */
uint32_t gfs_fuse_opcode(void);

/* Directory streams (dirstream.c): what readdir reads, a page of the
 * master's listing at a time. */
struct gfs_dirstream;
/* One entry of a stream, borrowed until the stream's next call. */
struct gfs_dirent {
	const char *name;
	struct gfs_stat *gs;        /* the caller may correct it */
	off_t off;                  /* resumes after this entry */
};
struct gfs_dirstream *gfs_dirstream_new(void);
void gfs_dirstream_free(struct gfs_dirstream *d);
/* Start over (offset 0): the files of path unborn here are taken now
 * and listed first; path NULL (a directory removed while open) lists
 * nothing. */
void gfs_dirstream_rewind(struct gfs_mount *m, struct gfs_dirstream *d,
			  const char *path);
/* The entry after offset off (0, or an entry's off; 1 and 2 are "." and
 * ".."), of directory path: 1 with *out set, 0 at the end, or -errno.
 * A call asks the master for a page only when off is not in the one
 * held. */
int gfs_dirstream_next(struct gfs_mount *m, struct gfs_dirstream *d,
		       const char *path, off_t off, struct gfs_dirent *out);

/* Open files (openfiles.c). */
/* Open path (sharing an existing open), honouring O_CREAT/O_EXCL/O_TRUNC
 * in flags; create: FUSE's create (the kernel found no such name), which
 * may be deferred to the first flush (the file is unborn until then);
 * *out is released with gfs_openfiles_release().  *fresh (may
 * be NULL) tells whether the metadata was just read from the master. */
int gfs_openfiles_open(struct gfs_mount *m, const char *path, int flags,
		       mode_t mode, bool create, struct gfs_open_file **out,
		       bool *fresh);
/* Drop one opener; the last one closes (commits) the file.  -errno. */
int gfs_openfiles_release(struct gfs_mount *m, struct gfs_open_file *of);
/* Attributes as an open file of this mount sees them, if path is open. */
bool gfs_openfiles_stat(struct gfs_mount *m, const char *path,
			struct gfs_stat *st);
/* utimensat set path's mtime: a file open at path commits with it (a
 * close after futimens, as cp -a does, keeps it).  False when path is
 * not open here. */
bool gfs_openfiles_set_mtime(struct gfs_mount *m, const char *path,
			     int64_t mtime_ns);
/* Size as seen by an open file of this mount, if path is open. */
bool gfs_openfiles_size(struct gfs_mount *m, const char *path,
			uint64_t *size);
/* Name path went at the master (unlinked, or replaced by a rename; rm,
 * may be NULL: what the master said).  The files open here that commit
 * to path follow: one open at path that libfuse did not hide leaves the
 * table (a later open of path is another file), and every file libfuse
 * hid that commits to path (its target).  When the inode kept another
 * name (rm->links, rm->other) they commit to that from now on; else
 * they are removed: they read on from their handles until the last
 * release and are never committed, rm->kept (the id under which the
 * master keeps the data for us) held until the last release of each
 * (dropped at once when none is open), rm->links the names the inode
 * still has (fstat's link count when the master named none of them).
 * O(open files) while any file is hidden. */
void gfs_openfiles_unlinked(struct gfs_mount *m, const char *path,
			    const struct gfs_removal *rm);
/* Attributes of path when a file open here there is unborn (created
 * here, not yet on the master). */
bool gfs_openfiles_unborn_stat(struct gfs_mount *m, const char *path,
			       struct gfs_stat *st);
/* fn(cls, name, st) for every unborn file open here in directory dir.
 * O(open files). */
void gfs_openfiles_unborn_in(struct gfs_mount *m, const char *dir,
			     bool (*fn)(void *cls, const char *name,
					const struct gfs_stat *st),
			     void *cls);
/* Create on the master every unborn file open here at or below path
 * (NULL: none), before an operation on path goes there.  -errno of the
 * first that failed (EEXIST: another client took an exclusive name).
 * O(open files). */
int gfs_openfiles_materialize(struct gfs_mount *m, const char *path);
/* The same for those unborn for m->defer_ms or more (the renewer: a
 * file open long shows to other clients as it did before deferral). */
void gfs_openfiles_materialize_old(struct gfs_mount *m);
/* Whether a file open in this mount commits to path (open at it, or
 * hidden from it: its target). */
bool gfs_openfiles_is_open(struct gfs_mount *m, const char *path);
/* True when path is the hidden name of a file removed while open here
 * (gfs_openfiles_unlinked()); *kept its kept file (0: none). */
bool gfs_openfiles_removed(struct gfs_mount *m, const char *path,
			   uint64_t *kept);
/* True when of was removed while open; *links the names its inode had
 * left then (gfs_openfiles_unlinked()), *hidden whether libfuse hid it
 * (gfs_openfiles_hide()), *target (may be NULL; a new string, caller
 * frees, or NULL) the path a hidden file not removed commits to. */
bool gfs_openfiles_is_unlinked(struct gfs_mount *m, struct gfs_open_file *of,
			       uint32_t *links, bool *hidden, char **target);
/* libfuse hides path, open here, as hidden (a path whose last name
 * libfuse made up: ops.c), before an unlink of path or a rename over
 * it: its entry moves there, committing to path (its target) until
 * gfs_openfiles_unlinked() of path says otherwise.  False when nothing
 * is open at path. */
bool gfs_openfiles_hide(struct gfs_mount *m, const char *path,
			const char *hidden);
/* The hidden names of the files libfuse hid that commit to a name (a
 * change of any inode's link count or attributes may be theirs), as a
 * new array of *n new strings (caller frees), or NULL.  O(open files)
 * while any is hidden so. */
char **gfs_openfiles_hidden(struct gfs_mount *m, size_t *n);
/* The master's path of hidden name path: the target of a file libfuse
 * hid there that is not removed (a new string, caller frees), or NULL. */
char *gfs_openfiles_target(struct gfs_mount *m, const char *path);
/* The open file at path (one more opener: release it), or NULL. */
struct gfs_open_file *gfs_openfiles_find(struct gfs_mount *m,
					 const char *path);
/* Follow a rename of path (or of a directory above it): files open at
 * it, or hidden ones committing to it. */
void gfs_openfiles_rename(struct gfs_mount *m, const char *from,
			  const char *to);

/* Leases (leases.c). */
int gfs_leases_acquire(struct gfs_mount *m, const char *path, unsigned ttl_s);
int gfs_leases_release(struct gfs_mount *m, const char *path);
void gfs_leases_rename(struct gfs_mount *m, const char *from, const char *to);
/* Hold kept file id (renewed by the renewal thread) once more, or
 * release one hold: at the last, forget it and tell the master to drop
 * it (at once for an id not held). */
void gfs_kept_hold(struct gfs_mount *m, uint64_t id);
void gfs_kept_release(struct gfs_mount *m, uint64_t id);
/* Start and stop the renewal thread (stop releases every kept file). */
void gfs_leases_start(struct gfs_mount *m);
void gfs_leases_stop(struct gfs_mount *m);

/* Attributes told to the kernel (seen.c). */
void gfs_seen_init(struct gfs_seen *s);
void gfs_seen_free(struct gfs_seen *s);
void gfs_seen_note(struct gfs_seen *s, const char *path, uint64_t size,
		   int64_t mtime_ns, uint64_t ino, uint32_t nlink);
/* The other names the kernel was told of for path's inode (a hard link's
 * names), as a new array of *n new strings (caller frees), or NULL. */
char **gfs_seen_others(struct gfs_seen *s, const char *path, size_t *n);
/* True when the kernel was told exactly this size and mtime for path. */
bool gfs_seen_same(struct gfs_seen *s, const char *path, uint64_t size,
		   int64_t mtime_ns);

/* Extended attributes (xattr.c). */
int gfs_xattr_set(const char *path, const char *name, const char *value,
		  size_t size, int flags);
int gfs_xattr_get(const char *path, const char *name, char *value,
		  size_t size);
int gfs_xattr_list(const char *path, char *list, size_t size);
int gfs_xattr_remove(const char *path, const char *name);

/* -errno for an error of the client library. */
static inline int gfs_fuse_errno(enum gfs_err err)
{
	return -gfs_err_errno(err);
}

#endif

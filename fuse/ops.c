/*
 * ops.c - the FUSE operations of gfs-fuse, all wired in gfs_fuse_ops.
 *
 * Each operation is a small static gfs_<op>() that calls the client
 * library and returns 0 or -errno (libfuse's passthrough.c shape).  Paths
 * come from libfuse already absolute ("/a/b"); the client validates them.
 * Files removed while open: libfuse (mounted without hard_remove) keeps
 * a path for them, a hidden name it makes up (".fuse_hidden..." in the
 * same directory), and asks us to rename them there in place of the
 * unlink, or before a rename over them; fstat(2), fchmod(2) and the like
 * then come by that name, with no file handle.  The hidden name is never
 * the master's: an unlink's "rename" is the unlink (keeping the data,
 * kept files), a rename's is nothing until the rename itself, which
 * stays one atomic step at the master; the open file moves to the hidden
 * name (openfiles.c) and serves it.  Only the request's opcode tells the
 * two apart (main.c).  An operation may still get a NULL path, with its
 * file handle, when the directory above a hidden name went too.
 * Every remote call has a deadline inside the client library, so no
 * operation hangs: a lost cluster is EIO or ETIMEDOUT, never a stuck
 * process.
 *
 * Every inode has the master's number (use_ino), owner, link count and
 * times; new ones belong to the caller (fuse_context).  Symlinks, hard
 * links, FIFOs, sockets and device nodes are the master's metadata: the
 * kernel follows symlinks and serves FIFOs and devices itself.  Reads do
 * not move atime (as noatime); utimensat sets it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "constants.h"
#include "json.h"
#include "log.h"
#include "mount.h"
#include "util.h"

#define IO_SIZE (1u << 20) /* reported st_blksize: cp reads and writes
			    * this much at a time */

/* --log-level debug: "time fuse OP PATH USus rc=RC" for the operations
 * of the write path (docs/PERFORMANCE.md reads these lines).  t0 is
 * timing_start()'s: 0 when not timing. */
static int64_t timing_start(void)
{
	return gfs_log_enabled(GFS_LOG_DEBUG) ? gfs_mono_us() : 0;
}

static int timed(const char *op, const char *path, int64_t t0, int rc)
{
	if (t0)
		gfs_log(GFS_LOG_DEBUG, "time fuse %s %s %lldus rc=%d", op,
			path ? path : "-", (long long)(gfs_mono_us() - t0),
			rc);
	return rc;
}

static struct gfs_open_file *open_file(struct fuse_file_info *fi)
{
	return (struct gfs_open_file *)(uintptr_t)fi->fh;
}

static struct timespec ts_of(int64_t ns)
{
	int64_t s = ns / 1000000000, r = ns % 1000000000;

	if (r < 0) { /* before 1970: the remainder is never negative */
		s--;
		r += 1000000000;
	}
	return (struct timespec){ .tv_sec = s, .tv_nsec = r };
}

static void fill_stat(const struct gfs_mount *m, const struct gfs_stat *gs,
		      struct stat *st)
{
	(void)m;
	memset(st, 0, sizeof(*st));
	st->st_ino = gs->ino;
	st->st_mode = (gs->kind ? gs->kind : S_IFREG) | (gs->mode & 07777);
	st->st_nlink = gs->nlink ? gs->nlink : 1;
	st->st_uid = gs->uid;
	st->st_gid = gs->gid;
	st->st_rdev = gs->rdev;
	st->st_size = (off_t)gs->size;
	if (S_ISREG(st->st_mode))
		st->st_blocks = (blkcnt_t)((gs->size + 511) / 512);
	st->st_blksize = IO_SIZE;
	st->st_mtim = ts_of(gs->mtime_ns);
	st->st_atim = ts_of(gs->atime_ns);
	st->st_ctim = ts_of(gs->ctime_ns);
}

/*
 * The inode at path changed (its link count, owner, mode, times): the
 * kernel's attributes of its other names are stale, for it caches them
 * per name.  Call after the change, with the path it was made through
 * (still known to seen.c).
 */
static void invalidate_all(char **paths, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		fuse_invalidate_path(fuse_get_context()->fuse, paths[i]);
		free(paths[i]);
	}
	free(paths);
}

/* The kernel also holds attributes for the hidden names of open files
 * whose inode kept a name: any of them may be path's inode. */
static void others_changed(struct gfs_mount *m, const char *path)
{
	size_t n;
	char **v = gfs_seen_others(&m->seen, path, &n);

	invalidate_all(v, n);
	v = gfs_openfiles_hidden(m, &n);
	invalidate_all(v, n);
}

/* libfuse's name for a file removed while open (see the top):
 * ".fuse_hidden" and 16 hex digits, as libfuse makes them. */
static bool is_hidden(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;

	return base && strlen(base + 1) == 28 &&
	       !strncmp(base + 1, ".fuse_hidden", 12) &&
	       strspn(base + 13, "0123456789abcdef") == 16;
}

/* The master's path of path: for a hidden name, the target of the file
 * libfuse hid there (gfs_openfiles_target()), in *owned (caller frees);
 * else path itself (*owned NULL). */
static const char *master_path(struct gfs_mount *m, const char *path,
			       char **owned)
{
	*owned = path && is_hidden(path) ? gfs_openfiles_target(m, path)
					 : NULL;
	return *owned ? *owned : path;
}

/* Attributes changed through a removed file's handles (no other can see
 * them: the master is not told). */
static void removed_attrs(struct gfs_mount *m, struct gfs_open_file *of,
			  struct gfs_stat *gs)
{
	pthread_mutex_lock(&m->lock);
	if (of->attrs_set) {
		if (of->attrs.which & GFS_SETA_MODE)
			gs->mode = of->attrs.mode;
		if (of->attrs.which & GFS_SETA_UID)
			gs->uid = of->attrs.uid;
		if (of->attrs.which & GFS_SETA_GID)
			gs->gid = of->attrs.gid;
		if (of->attrs.which & GFS_SETA_ATIME)
			gs->atime_ns = of->attrs.atime_ns;
		gs->ctime_ns = of->ctime_ns;
	}
	pthread_mutex_unlock(&m->lock);
}

/* A file libfuse hid that commits to target (its inode kept that
 * name): the master's attributes of the inode now (link count, owner,
 * mode, times: they change through its other names), with this
 * handle's size and mtime (its own writes).  As the handle knows them
 * when target names another inode now or the master is away. */
static void hidden_attrs(struct gfs_mount *m, const char *target,
			 struct gfs_stat *gs)
{
	struct gfs_stat now;

	if (gfs_client_stat(m->client, target, &now) || now.ino != gs->ino)
		return;
	now.size = gs->size;
	now.mtime_ns = gs->mtime_ns;
	now.ctime_ns = GFS_MAX(now.ctime_ns, gs->ctime_ns);
	*gs = now;
}

/* fstat of an open file: its handle knows, our own writes included,
 * even after its path was removed (path NULL or hidden: no links left
 * but for a hard link's others, as the master says now). */
static int getattr_open(struct gfs_mount *m, const char *path,
			struct gfs_open_file *of, struct stat *st)
{
	struct gfs_stat gs;
	char *target;
	uint32_t links;
	bool hidden, gone;

	gfs_file_stat(of->f, &gs);
	gone = gfs_openfiles_is_unlinked(m, of, &links, &hidden, &target);
	if (gone)
		removed_attrs(m, of, &gs);
	if (target)
		hidden_attrs(m, target, &gs);
	free(target);
	fill_stat(m, &gs, st);
	if (gone)
		st->st_nlink = links; /* none but a hard link's others */
	/* libfuse's getattr (not its setattr) takes one off the count of
	 * a node it hid, for the hidden name */
	if (hidden && gfs_fuse_opcode() == FUSE_GETATTR)
		st->st_nlink++;
	if (!hidden && path && !is_hidden(path))
		gfs_seen_note(&m->seen, path, gs.size, gs.mtime_ns, gs.ino,
			      gs.nlink);
	return 0;
}

/* getattr by path (a stat, the kernel's lookup, or its refresh of a
 * directory's attributes it dropped after a change in it: the client
 * library answers that one when this mount made the change,
 * dirattrs.c). */
static int getattr_path(struct gfs_mount *m, const char *path,
			struct stat *st)
{
	struct gfs_open_file *of;
	struct gfs_stat gs;
	enum gfs_err err;

	if (is_hidden(path) && (of = gfs_openfiles_find(m, path))) {
		getattr_open(m, path, of, st);
		gfs_openfiles_release(m, of); /* not the last */
		return 0;
	}
	if (!strcmp(path, "/")) {
		/* the root's own entry, or (a master that cannot say, or
		 * is away) a plain one: the mount must always stat */
		if (gfs_client_stat(m->client, path, &gs)) {
			memset(&gs, 0, sizeof(gs));
			gs.kind = S_IFDIR;
			gs.mode = 0755;
			gs.ino = 1;
			gs.nlink = 2;
		}
		fill_stat(m, &gs, st);
		return 0;
	}
	if (gfs_openfiles_unborn_stat(m, path, &gs)) {
		fill_stat(m, &gs, st); /* created here, not on the master yet */
		return 0;
	}
	err = gfs_client_stat_listed(m->client, path, &gs);
	/* the master is away (stopped, failing over): a file open here is
	 * described by its handle, so fstat and reads go on */
	if ((err == GFS_ETIMEDOUT || err == GFS_EIO || err == GFS_EUNAVAIL) &&
	    gfs_openfiles_stat(m, path, &gs))
		err = GFS_OK;
	if (err)
		return gfs_fuse_errno(err);
	if (gs.kind == S_IFREG)
		gfs_openfiles_size(m, path, &gs.size); /* our own writes */
	gfs_seen_note(&m->seen, path, gs.size, gs.mtime_ns, gs.ino, gs.nlink);
	fill_stat(m, &gs, st);
	return 0;
}

static int gfs_getattr(const char *path, struct stat *st,
		       struct fuse_file_info *fi)
{
	int64_t t0;

	if (fi)
		return getattr_open(gfs_mount_get(), path, open_file(fi), st);
	t0 = timing_start();
	return timed("getattr", path, t0, getattr_path(gfs_mount_get(), path,
						       st));
}

/*
 * A directory is read a page of the master's listing at a time
 * (dirstream.c), every entry filled with an offset the kernel can resume
 * from.  Offsets, not one filler pass: libfuse 3.14 drops the attributes
 * of entries filled without an offset, and the kernel would then look
 * every name up again (a master round trip per file for `ls -l`,
 * `stat *`, `rm *`).
 */
static int gfs_opendir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	fi->fh = (uintptr_t)gfs_dirstream_new();
	return 0;
}

static int gfs_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	gfs_dirstream_free((struct gfs_dirstream *)(uintptr_t)fi->fh);
	return 0;
}

/* Our own writes in the size of a listed file, and what the kernel was
 * told noted (readdirplus hands it the attributes). */
static void note_listed(struct gfs_mount *m, const char *dir,
			struct gfs_dirent *e)
{
	char *p = gfs_xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", e->name);

	gfs_openfiles_size(m, p, &e->gs->size);
	gfs_seen_note(&m->seen, p, e->gs->size, e->gs->mtime_ns, e->gs->ino,
		      e->gs->nlink);
	free(p);
}

static int gfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
		       off_t off, struct fuse_file_info *fi,
		       enum fuse_readdir_flags flags)
{
	struct gfs_mount *m = gfs_mount_get();
	struct gfs_dirstream *d = (struct gfs_dirstream *)(uintptr_t)fi->fh;
	enum fuse_fill_dir_flags plus =
		(flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;
	struct gfs_dirent e;
	struct stat st;
	bool filled = false;
	int rc;

	if (off == 0) /* first call, or rewinddir: a fresh listing */
		gfs_dirstream_rewind(m, d, path);
	if (off < 1 && filler(buf, ".", NULL, 1, 0))
		return 0;
	if (off < 2 && filler(buf, "..", NULL, 2, 0))
		return 0;
	while ((rc = gfs_dirstream_next(m, d, path, off, &e)) > 0) {
		if (plus && e.gs->kind == S_IFREG)
			note_listed(m, path, &e);
		fill_stat(m, e.gs, &st);
		if (filler(buf, e.name, &st, e.off, plus))
			break;
		off = e.off;
		filled = true;
	}
	return rc < 0 && !filled ? rc : 0; /* an error after entries: next call */
}

/* A new inode of the caller (fuse_context). */
static int make(const char *path, const char *type, mode_t mode,
		uint64_t rdev, const char *target)
{
	struct fuse_context *ctx = fuse_get_context();
	struct gfs_make mk = {
		.type = type, .mode = mode & 07777, .uid = (uint32_t)ctx->uid,
		.gid = (uint32_t)ctx->gid, .rdev = rdev, .target = target,
	};

	return gfs_fuse_errno(gfs_client_make(gfs_mount_get()->client, path,
					      &mk));
}

static int gfs_mkdir(const char *path, mode_t mode)
{
	return make(path, "dir", mode, 0, NULL);
}

static int gfs_mknod(const char *path, mode_t mode, dev_t rdev)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return make(path, "file", mode, 0, NULL);
	case S_IFIFO: return make(path, "fifo", mode, 0, NULL);
	case S_IFSOCK: return make(path, "socket", mode, 0, NULL);
	case S_IFCHR: return make(path, "char", mode, rdev, NULL);
	case S_IFBLK: return make(path, "block", mode, rdev, NULL);
	default: return -EINVAL;
	}
}

static int gfs_symlink(const char *target, const char *path)
{
	if (!*target)
		return -ENOENT;
	if (strlen(target) > GFS_PATH_MAX)
		return -ENAMETOOLONG;
	return make(path, "symlink", 0777, 0, target);
}

static int gfs_readlink(const char *path, char *buf, size_t size)
{
	return gfs_fuse_errno(
		gfs_client_readlink(gfs_mount_get()->client, path, buf, size));
}

/* A link from a hidden name (linkat of an open descriptor) links its
 * target. */
static int gfs_link(const char *from, const char *to)
{
	struct gfs_mount *m = gfs_mount_get();
	char *owned;
	const char *at = master_path(m, from, &owned);
	int rc = gfs_openfiles_materialize(m, at);
	enum gfs_err err = rc ? GFS_OK : gfs_client_link(m->client, at, to);

	if (!rc && !err) {
		/* the kernel gives the new name a node of its own: every
		 * name it knows, the one linked from too, holds an old
		 * link count */
		fuse_invalidate_path(fuse_get_context()->fuse, from);
		others_changed(m, at);
	}
	free(owned);
	if (rc)
		return rc;
	return err == GFS_EISDIR ? -EPERM : gfs_fuse_errno(err);
}

static int gfs_rmdir(const char *path)
{
	struct gfs_mount *m = gfs_mount_get();
	int rc = gfs_openfiles_materialize(m, path); /* not empty, then */

	return rc ? rc : gfs_fuse_errno(gfs_client_rmdir(m->client, path));
}

/* An unlink of a file open here asks the master to keep its data until
 * the last close (docs/MASTER.md, "Files unlinked while open"). */
static enum gfs_err unlink_at_master(struct gfs_mount *m, const char *path,
				     struct gfs_removal *rm)
{
	rm->kept = 0;
	rm->links = 0;
	rm->other[0] = '\0';
	if (gfs_openfiles_is_open(m, path))
		return gfs_client_unlink_keep(m->client, path, m->keep_ttl_s,
					      rm);
	return gfs_client_unlink(m->client, path);
}

static int gfs_unlink(const char *path)
{
	struct gfs_mount *m = gfs_mount_get();
	int64_t t0 = timing_start();
	struct gfs_removal rm;
	enum gfs_err err;
	int rc = gfs_openfiles_materialize(m, path);

	if (rc)
		return timed("unlink", path, t0, rc);
	/* after the last release libfuse unlinks a hidden name: the
	 * master has none (ENOENT), but for a file closed while libfuse
	 * hid it, which became a rename at the master (hide()) */
	err = unlink_at_master(m, path, &rm);
	if (err)
		return timed("unlink", path, t0, gfs_fuse_errno(err));
	gfs_openfiles_unlinked(m, path, &rm);
	others_changed(m, path);
	return timed("unlink", path, t0, 0);
}

/* libfuse hides path, a file open here, as hidden (see the top): for an
 * unlink, unlink it (keeping its data, or following the name its inode
 * kept); for a rename over it, nothing yet (the rename does it,
 * atomically).  1: not open here (closed as libfuse hid it), a plain
 * rename. */
static int hide(struct gfs_mount *m, const char *path, const char *hidden)
{
	struct gfs_removal rm;
	enum gfs_err err;

	if (gfs_fuse_opcode() == FUSE_UNLINK) {
		err = unlink_at_master(m, path, &rm);
		if (err)
			return gfs_fuse_errno(err);
		gfs_openfiles_hide(m, path, hidden);
		gfs_openfiles_unlinked(m, path, &rm);
		others_changed(m, path);
		return 0;
	}
	return gfs_openfiles_hide(m, path, hidden) ? 0 : 1;
}

/* A rename over a file open here (libfuse hid it, or it commits there)
 * asks the master to keep the file it replaces until the last close, as
 * an unlink does. */
static enum gfs_err rename_at_master(struct gfs_mount *m, const char *from,
				     const char *to, unsigned int flags,
				     struct gfs_removal *rm)
{
	rm->kept = 0;
	rm->links = 0;
	rm->other[0] = '\0';
	if (!(flags & RENAME_NOREPLACE) && gfs_openfiles_is_open(m, to))
		return gfs_client_rename_keep(m->client, from, to,
					      m->keep_ttl_s, rm);
	return gfs_client_rename(m->client, from, to,
				 !(flags & RENAME_NOREPLACE));
}

static int gfs_rename(const char *from, const char *to, unsigned int flags)
{
	struct gfs_mount *m = gfs_mount_get();
	struct gfs_removal rm;
	int err, rc;

	if (flags & RENAME_EXCHANGE)
		return -EINVAL;
	/* an unborn file is made at the master before it is renamed, or
	 * hidden: a hidden name is never the master's */
	rc = gfs_openfiles_materialize(m, from);
	if (!rc)
		rc = gfs_openfiles_materialize(m, to);
	if (rc)
		return rc;
	if (is_hidden(to) && !flags && strcmp(from, to) &&
	    (err = hide(m, from, to)) <= 0)
		return err;
	/* a file libfuse hid for it commits to `to` until it is replaced
	 * (if the rename fails, it stays so) */
	err = rename_at_master(m, from, to, flags, &rm);
	if (err)
		return gfs_fuse_errno(err);
	if (strcmp(from, to)) {
		/* replaced, if it existed */
		gfs_openfiles_unlinked(m, to, &rm);
		others_changed(m, to);
		others_changed(m, from); /* ctime */
	}
	gfs_openfiles_rename(m, from, to);
	gfs_leases_rename(m, from, to);
	return 0;
}

static int gfs_truncate(const char *path, off_t size,
			struct fuse_file_info *fi)
{
	struct gfs_mount *m = gfs_mount_get();
	struct gfs_open_file *of;
	int rc, rc2;

	if (size < 0)
		return -EINVAL;
	if (fi)
		return gfs_fuse_errno(
			gfs_file_truncate(open_file(fi)->f, (uint64_t)size));
	/* truncate(2) on a path: open, truncate, commit at release */
	rc = gfs_openfiles_open(m, path, O_WRONLY, 0, false, &of, NULL);
	if (rc)
		return rc;
	rc = gfs_fuse_errno(gfs_file_truncate(of->f, (uint64_t)size));
	rc2 = gfs_openfiles_release(m, of);
	return rc ? rc : rc2;
}

/* Change attributes of a file removed while open, reached by its
 * hidden name or handle: only its handles see them.  False when of is
 * not removed. */
static bool set_removed(struct gfs_mount *m, struct gfs_open_file *of,
			const struct gfs_setattr *a)
{
	bool gone;

	pthread_mutex_lock(&m->lock);
	gone = of->unlinked;
	if (gone) {
		of->attrs.which |= a->which;
		if (a->which & GFS_SETA_MODE)
			of->attrs.mode = a->mode;
		if (a->which & GFS_SETA_UID)
			of->attrs.uid = a->uid;
		if (a->which & GFS_SETA_GID)
			of->attrs.gid = a->gid;
		if (a->which & GFS_SETA_ATIME)
			of->attrs.atime_ns = a->atime_ns;
		of->ctime_ns = gfs_now_ns();
		of->attrs_set = true;
	}
	pthread_mutex_unlock(&m->lock);
	return gone;
}

/* Change attributes of path; its other names' cached ones go stale. */
static int setattrs(struct gfs_mount *m, const char *path,
		    const struct gfs_setattr *a)
{
	struct gfs_open_file *of;
	enum gfs_err err;
	char *owned;
	bool done;
	int rc;

	if (is_hidden(path) && (of = gfs_openfiles_find(m, path))) {
		done = set_removed(m, of, a);
		if (done && (a->which & GFS_SETA_MTIME))
			gfs_file_set_mtime(of->f, a->mtime_ns);
		gfs_openfiles_release(m, of); /* not the last */
		if (done)
			return 0;
	}
	path = master_path(m, path, &owned);
	rc = gfs_openfiles_materialize(m, path);
	err = rc ? GFS_OK : gfs_client_setattrs(m->client, path, a);
	if (!rc && !err)
		others_changed(m, path);
	free(owned);
	return rc ? rc : gfs_fuse_errno(err);
}


/* One time of utimensat: UTIME_NOW, UTIME_OMIT (false) or as given. */
static bool utime_of(const struct timespec *tv, int64_t now, int64_t *ns)
{
	if (tv && tv->tv_nsec == UTIME_OMIT)
		return false;
	*ns = !tv || tv->tv_nsec == UTIME_NOW
		      ? now : (int64_t)tv->tv_sec * 1000000000 + tv->tv_nsec;
	return true;
}

static int gfs_utimens(const char *path, const struct timespec tv[2],
		       struct fuse_file_info *fi)
{
	struct gfs_mount *m = gfs_mount_get();
	struct gfs_setattr a = { 0 };
	int64_t now = gfs_now_ns();

	if (utime_of(tv, now, &a.atime_ns))
		a.which |= GFS_SETA_ATIME;
	if (utime_of(tv ? &tv[1] : NULL, now, &a.mtime_ns))
		a.which |= GFS_SETA_MTIME;
	if (!a.which)
		return 0;
	/* the kernel passes fi only now and then (futimens does not): a
	 * file open here under path commits with this mtime too */
	if (fi && (a.which & GFS_SETA_MTIME))
		gfs_file_set_mtime(open_file(fi)->f, a.mtime_ns);
	else if (path && (a.which & GFS_SETA_MTIME))
		gfs_openfiles_set_mtime(m, path, a.mtime_ns);
	if (!path)
		return 0; /* removed while open: nothing to keep */
	return setattrs(m, path, &a);
}

static int gfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct gfs_setattr a = { .which = GFS_SETA_MODE, .mode = mode & 07777 };

	if (!path) /* removed while open, and its directory too */
		return fi ? (set_removed(gfs_mount_get(), open_file(fi), &a), 0)
			  : 0;
	return setattrs(gfs_mount_get(), path, &a);
}

static int gfs_chown(const char *path, uid_t uid, gid_t gid,
		     struct fuse_file_info *fi)
{
	struct gfs_setattr a = { .uid = (uint32_t)uid, .gid = (uint32_t)gid };

	a.which = (uid != (uid_t)-1 ? GFS_SETA_UID : 0) |
		  (gid != (gid_t)-1 ? GFS_SETA_GID : 0);
	if (!path) /* removed while open, and its directory too */
		return fi ? (set_removed(gfs_mount_get(), open_file(fi), &a), 0)
			  : 0;
	return setattrs(gfs_mount_get(), path, &a);
}

/*
 * Close-to-open: a file opened afresh has just had its metadata read from
 * the master.  When that differs from what the kernel was last told (it
 * may cache attributes for attr_timeout), the kernel's attributes are
 * invalidated so that it asks getattr again before it trusts the size.
 */
static int do_open(const char *path, mode_t mode, bool create,
		   struct fuse_file_info *fi)
{
	struct gfs_mount *m = gfs_mount_get();
	struct gfs_open_file *of;
	struct gfs_stat gs;
	bool fresh;
	int rc = gfs_openfiles_open(m, path, fi->flags, mode, create, &of,
				    &fresh);

	if (rc)
		return rc;
	fi->fh = (uint64_t)(uintptr_t)of;
	fi->keep_cache = 0; /* and drop cached pages: re-read from replicas */
	if (fresh) {
		gfs_file_stat(of->f, &gs);
		if (!gfs_seen_same(&m->seen, path, gs.size, gs.mtime_ns))
			fuse_invalidate_path(fuse_get_context()->fuse, path);
	}
	return 0;
}

static int gfs_open(const char *path, struct fuse_file_info *fi)
{
	return do_open(path, 0, false, fi);
}

static int gfs_create(const char *path, mode_t mode,
		      struct fuse_file_info *fi)
{
	int64_t t0 = timing_start();

	fi->flags |= O_CREAT;
	return timed("create", path, t0, do_open(path, mode, true, fi));
}

static int gfs_read(const char *path, char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	size_t got = 0;
	enum gfs_err err;

	(void)path;
	err = gfs_file_pread(open_file(fi)->f, buf, size, (uint64_t)off,
			     &got);
	return err ? gfs_fuse_errno(err) : (int)got;
}

static int gfs_write(const char *path, const char *buf, size_t size,
		     off_t off, struct fuse_file_info *fi)
{
	struct gfs_file *f = open_file(fi)->f;
	int64_t t0 = timing_start();
	enum gfs_err err;

	if (fi->flags & O_APPEND)
		off = (off_t)gfs_file_size(f);
	err = gfs_file_pwrite(f, buf, size, (uint64_t)off);
	return timed("write", path, t0,
		     err ? gfs_fuse_errno(err) : (int)size);
}

/*
 * posix_fallocate(3): the size grows to off + len; holes read as zeros, so
 * nothing is written, and no room is reserved on the chunkservers (a
 * later write may still meet ENOSPC).  Without this op glibc falls back
 * to writing one byte every 4 KiB of the range.  Other modes (punching
 * holes, zeroing ranges) are not supported.
 */
static int gfs_fallocate(const char *path, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	(void)path;
	if (mode & ~FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0)
		return -EINVAL;
	return gfs_fuse_errno(gfs_file_extend(
		open_file(fi)->f, (uint64_t)off + (uint64_t)len,
		!(mode & FALLOC_FL_KEEP_SIZE)));
}

/* close(2) of one descriptor: commit, so that close reports failures. */
static int gfs_flush(const char *path, struct fuse_file_info *fi)
{
	struct gfs_file *f = open_file(fi)->f;
	int64_t t0 = timing_start();

	if (!gfs_file_dirty(f))
		return timed("flush", path, t0, 0);
	return timed("flush", path, t0, gfs_fuse_errno(gfs_file_sync(f)));
}

static int gfs_fsync(const char *path, int datasync,
		     struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	return gfs_fuse_errno(gfs_file_sync(open_file(fi)->f));
}

static int gfs_release(const char *path, struct fuse_file_info *fi)
{
	int64_t t0 = timing_start();

	return timed("release", path, t0,
		     gfs_openfiles_release(gfs_mount_get(), open_file(fi)));
}

/* The live chunkservers' capacity and free space, in bytes of files:
 * each byte is stored --replicas times. */
static void statfs_space(json_t *status, uint64_t *total, uint64_t *avail)
{
	uint64_t replicas = 1;
	json_t *s;
	size_t i;

	*total = *avail = 0;
	json_array_foreach(json_object_get(status, "chunkservers"), i, s) {
		uint64_t t = 0, f = 0;

		if (!json_is_true(json_object_get(s, "alive")))
			continue;
		gfs_json_u64(s, "total_bytes", false, &t);
		gfs_json_u64(s, "free_bytes", false, &f);
		*total += t;
		*avail += f;
	}
	gfs_json_u64(status, "replicas", false, &replicas);
	*total /= replicas ? replicas : 1;
	*avail /= replicas ? replicas : 1;
}

/* df: what the live chunkservers hold and have free, divided by the
 * replica count (what files may still take); df -i: the files and
 * directories in the master (it has no limit on their number: ffree is
 * a large constant). */
static int gfs_statfs(const char *path, struct statvfs *sv)
{
	struct gfs_mount *m = gfs_mount_get();
	uint64_t total, avail, files = 0, dirs = 0;
	json_t *j = NULL;
	enum gfs_err err;

	(void)path;
	err = gfs_client_call(m->client, "GET", "/status", NULL, &j);
	if (err) {
		if (j)
			json_decref(j);
		return gfs_fuse_errno(err);
	}
	statfs_space(j, &total, &avail);
	gfs_json_u64(j, "files", false, &files);
	gfs_json_u64(j, "dirs", false, &dirs);
	json_decref(j);
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = total / 4096;
	sv->f_bfree = avail / 4096;
	sv->f_bavail = avail / 4096;
	sv->f_files = files + dirs + 1 + (1u << 30); /* + 1: the root */
	sv->f_ffree = 1u << 30;
	sv->f_favail = 1u << 30;
	sv->f_namemax = GFS_NAME_MAX;
	return 0;
}

/* The extended attributes of a hidden name are its target's. */
static int gfs_setxattr(const char *path, const char *name, const char *value,
			size_t size, int flags)
{
	char *owned;
	int rc = gfs_xattr_set(master_path(gfs_mount_get(), path, &owned),
			       name, value, size, flags);

	free(owned);
	return rc;
}

static int gfs_getxattr(const char *path, const char *name, char *value,
			size_t size)
{
	char *owned;
	int rc = gfs_xattr_get(master_path(gfs_mount_get(), path, &owned),
			       name, value, size);

	free(owned);
	return rc;
}

static int gfs_listxattr(const char *path, char *list, size_t size)
{
	char *owned;
	int rc = gfs_xattr_list(master_path(gfs_mount_get(), path, &owned),
				list, size);

	free(owned);
	return rc;
}

static int gfs_removexattr(const char *path, const char *name)
{
	char *owned;
	int rc = gfs_xattr_remove(master_path(gfs_mount_get(), path, &owned),
				  name);

	free(owned);
	return rc;
}

/* Raise the kernel's read-ahead for this mount (it defaults to 128 KiB,
 * too little to keep the chunkservers busy).  Needs root; quiet if not.
 * Runs in its own thread: stat() of the mount is answered by our loop. */
static void *tune_readahead(void *arg)
{
	struct gfs_mount *m = arg;
	struct stat st;
	char sys[128], val[32];
	FILE *f;

	if (stat(m->mountpoint, &st) < 0)
		return NULL;
	snprintf(sys, sizeof(sys), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	snprintf(val, sizeof(val), "%u\n", m->readahead_kb);
	f = fopen(sys, "w");
	if (!f) {
		gfs_debug("cannot set read-ahead (%s): not root?", sys);
		return NULL;
	}
	fputs(val, f);
	if (fclose(f) == 0)
		gfs_debug("read-ahead set to %u KiB", m->readahead_kb);
	return NULL;
}

static void *gfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct gfs_mount *m = gfs_mount_get();
	pthread_t t;

	conn->max_write = IO_SIZE;
	conn->max_read = IO_SIZE;
	conn->max_readahead = IO_SIZE;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	cfg->entry_timeout = m->attr_timeout;
	cfg->attr_timeout = m->attr_timeout;
	cfg->negative_timeout = 0;
	cfg->hard_remove = 0; /* hidden names: see the top */
	cfg->use_ino = 1;
	cfg->nullpath_ok = 0;
	if (m->readahead_kb &&
	    pthread_create(&t, NULL, tune_readahead, m) == 0)
		pthread_detach(t);
	gfs_leases_start(m);
	return m;
}

static void gfs_destroy(void *private_data)
{
	gfs_leases_stop(private_data);
}

const struct fuse_operations gfs_fuse_ops = {
	.init = gfs_init,
	.destroy = gfs_destroy,
	.getattr = gfs_getattr,
	.opendir = gfs_opendir,
	.readdir = gfs_readdir,
	.releasedir = gfs_releasedir,
	.mkdir = gfs_mkdir,
	.mknod = gfs_mknod,
	.symlink = gfs_symlink,
	.readlink = gfs_readlink,
	.link = gfs_link,
	.rmdir = gfs_rmdir,
	.unlink = gfs_unlink,
	.rename = gfs_rename,
	.truncate = gfs_truncate,
	.fallocate = gfs_fallocate,
	.utimens = gfs_utimens,
	.chmod = gfs_chmod,
	.chown = gfs_chown,
	.open = gfs_open,
	.create = gfs_create,
	.read = gfs_read,
	.write = gfs_write,
	.flush = gfs_flush,
	.fsync = gfs_fsync,
	.release = gfs_release,
	.statfs = gfs_statfs,
	.setxattr = gfs_setxattr,
	.getxattr = gfs_getxattr,
	.listxattr = gfs_listxattr,
	.removexattr = gfs_removexattr,
};

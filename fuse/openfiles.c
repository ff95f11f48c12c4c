/*
 * openfiles.c - the files open in this mount, shared per path.
 *
 * Every open(2) of a path in this mount shares one struct gfs_file, so a
 * reader in this mount sees what a writer in this mount wrote before it
 * closed, as on a local file system.  Other mounts see it at close
 * (close-to-open).  A fresh open of a file nobody here has open re-reads
 * its metadata from the master.
 *
 * A file whose name goes while open (unlink, or a rename over it) is
 * reached only through its FUSE handles and the hidden name libfuse gave
 * it (ops.c), under which it stays in the table until the last release.
 * When its inode keeps another name (a hard link), it goes on as that
 * name's (its target: it commits there).  Else it is removed: reads go
 * on from its handle (POSIX), nothing is committed.  An unlink
 * or a rename over it in this mount asks the master to keep its data
 * meanwhile (kept files, renewed by leases.c), dropped at the last
 * release.
 *
 * A file created here (not exclusively) is unborn while the client holds
 * a pre-placed chunk for it: the master hears of it only at its first
 * flush, one create+commit (docs/CLIENT.md, "Deferred creates").  Until
 * then this mount answers for it (stat, listings: *_unborn_*), and an
 * operation that the master must see it for (rename, link, unlink,
 * attributes, extended attributes) first makes it there
 * (gfs_openfiles_materialize()), as does the renewer after a second.
 * A hidden file is never unborn: it is made before it is hidden.
 *
 * Invariant: an entry is in the table (hashed) only while opens > 0,
 * under its path, or once removed under its hidden name; m->lock
 * protects the table, the counts and the flags, never held across a
 * network call.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mount.h"
#include "path.h"
#include "util.h"

static int open_flags(int flags, bool create)
{
	int g = GFS_O_WRITE; /* the mount is read-write: any open may write
			      * through a later shared fd */

	if (flags & O_CREAT)
		g |= GFS_O_CREAT;
	/* the kernel creates only a name its lookup did not find; an
	 * exclusive create stays exact against other clients (lock files):
	 * it is made on the master at once */
	if (create && (flags & O_CREAT) && !(flags & O_EXCL))
		g |= GFS_O_DEFER;
	if ((flags & O_CREAT) && (flags & O_EXCL))
		g |= GFS_O_EXCL;
	if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY)
		g |= GFS_O_TRUNC;
	return g;
}

/* Share an existing entry for path, or return NULL. */
static struct gfs_open_file *share(struct gfs_mount *m, const char *path)
{
	struct gfs_open_file *of;

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->open, path, of);
	if (of)
		of->opens++;
	pthread_mutex_unlock(&m->lock);
	return of;
}

int gfs_openfiles_open(struct gfs_mount *m, const char *path, int flags,
		       mode_t mode, bool create, struct gfs_open_file **out,
		       bool *fresh)
{
	struct gfs_open_file *of, *other;
	struct gfs_file *f;
	enum gfs_err err;

	if (fresh)
		*fresh = false;
	of = share(m, path);
	if (of) {
		if ((flags & O_CREAT) && (flags & O_EXCL)) {
			gfs_openfiles_release(m, of);
			return -EEXIST;
		}
		if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
			err = gfs_file_truncate(of->f, 0);
			if (err) {
				gfs_openfiles_release(m, of);
				return gfs_fuse_errno(err);
			}
		}
		*out = of;
		return 0;
	}
	err = gfs_file_open_as(m->client, path,
			       open_flags(flags, create && m->defer_ms), mode,
			       (uint32_t)fuse_get_context()->uid,
			       (uint32_t)fuse_get_context()->gid, &f);
	if (err)
		return gfs_fuse_errno(err);
	of = gfs_xcalloc(1, sizeof(*of));
	of->path = gfs_xstrdup(path);
	of->f = f;
	of->opens = 1;
	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->open, path, other);
	if (other) {
		/* another thread opened it meanwhile: share theirs */
		other->opens++;
		pthread_mutex_unlock(&m->lock);
		gfs_file_abort(f);
		free(of->path);
		free(of);
		*out = other;
		return 0;
	}
	HASH_ADD_KEYPTR(hh, m->open, of->path, strlen(of->path), of);
	of->hashed = true;
	pthread_mutex_unlock(&m->lock);
	*out = of;
	if (fresh)
		*fresh = true;
	return 0;
}

/* of (hashed, or leaving the table) commits to target (copied; NULL:
 * none).  Lock held. */
static void set_target(struct gfs_mount *m, struct gfs_open_file *of,
		       const char *target)
{
	m->targeted += (target != NULL) - (of->target != NULL);
	free(of->target);
	of->target = target ? gfs_xstrdup(target) : NULL;
}

int gfs_openfiles_release(struct gfs_mount *m, struct gfs_open_file *of)
{
	enum gfs_err err;
	bool last;

	uint64_t kept;

	pthread_mutex_lock(&m->lock);
	last = --of->opens == 0;
	if (last && of->hashed)
		HASH_DEL(m->open, of);
	if (last)
		set_target(m, of, NULL);
	kept = of->kept;
	pthread_mutex_unlock(&m->lock);
	if (!last)
		return 0;
	err = gfs_file_close(of->f);
	if (err)
		gfs_warn("closing %s: %s", of->path, gfs_err_str(err));
	if (kept) /* the last close of a file unlinked while open */
		gfs_kept_release(m, kept);
	free(of->path);
	free(of);
	return gfs_fuse_errno(err);
}

bool gfs_openfiles_unborn_stat(struct gfs_mount *m, const char *path,
			       struct gfs_stat *st)
{
	struct gfs_open_file *of = share(m, path);
	bool unborn;

	if (!of)
		return false;
	unborn = gfs_file_unborn(of->f, NULL);
	if (unborn)
		gfs_file_stat(of->f, st);
	gfs_openfiles_release(m, of);
	return unborn;
}

/* Which open files a collect() takes. */
struct pick {
	const char *path;       /* at or below it; or, with dir, in it */
	bool dir;
};

static bool picked(const struct pick *p, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n = strlen(p->path);

	if (!p->dir)
		return gfs_path_is_under(path, p->path);
	if (!strcmp(p->path, "/"))
		return slash == path;
	return (size_t)(slash - path) == n && !strncmp(path, p->path, n);
}

/* The open files p picks, each held (release each), as a new array of
 * *n.  O(open files) under m->lock. */
static struct gfs_open_file **collect(struct gfs_mount *m,
				      const struct pick *p, size_t *n)
{
	struct gfs_open_file *of, *tmp, **v = NULL;

	*n = 0;
	pthread_mutex_lock(&m->lock);
	HASH_ITER(hh, m->open, of, tmp) {
		if (!picked(p, of->path))
			continue;
		v = gfs_xrealloc(v, (*n + 1) * sizeof(*v));
		of->opens++;
		v[(*n)++] = of;
	}
	pthread_mutex_unlock(&m->lock);
	return v;
}

void gfs_openfiles_unborn_in(struct gfs_mount *m, const char *dir,
			     bool (*fn)(void *cls, const char *name,
					const struct gfs_stat *st),
			     void *cls)
{
	struct pick p = { dir, true };
	struct gfs_open_file **v;
	struct gfs_stat st;
	size_t n, i;

	v = collect(m, &p, &n);
	for (i = 0; i < n; i++) {
		if (gfs_file_unborn(v[i]->f, NULL)) {
			gfs_file_stat(v[i]->f, &st);
			fn(cls, strrchr(v[i]->path, '/') + 1, &st);
		}
		gfs_openfiles_release(m, v[i]);
	}
	free(v);
}

/* Make the picked unborn files (unborn for over min_age_ms) on the
 * master.  -errno of the first that failed. */
static int materialize(struct gfs_mount *m, const struct pick *p,
		       int64_t min_age_ms)
{
	struct gfs_open_file **v;
	enum gfs_err err;
	int64_t since;
	size_t n, i;
	int rc = 0;

	v = collect(m, p, &n);
	for (i = 0; i < n; i++) {
		if (gfs_file_unborn(v[i]->f, &since) &&
		    gfs_mono_ms() - since >= min_age_ms) {
			err = gfs_file_materialize(v[i]->f);
			if (err && !rc)
				rc = gfs_fuse_errno(err);
			if (err)
				gfs_warn("creating %s: %s", v[i]->path,
					 gfs_err_str(err));
		}
		gfs_openfiles_release(m, v[i]);
	}
	free(v);
	return rc;
}

int gfs_openfiles_materialize(struct gfs_mount *m, const char *path)
{
	struct pick p = { path, false };

	return path ? materialize(m, &p, 0) : 0;
}

void gfs_openfiles_materialize_old(struct gfs_mount *m)
{
	struct pick p = { "/", false };

	if (m->defer_ms)
		materialize(m, &p, m->defer_ms);
}

bool gfs_openfiles_stat(struct gfs_mount *m, const char *path,
			struct gfs_stat *st)
{
	struct gfs_open_file *of = share(m, path);

	if (!of)
		return false;
	gfs_file_stat(of->f, st);
	gfs_openfiles_release(m, of); /* not the last: no network */
	return true;
}

bool gfs_openfiles_set_mtime(struct gfs_mount *m, const char *path,
			     int64_t mtime_ns)
{
	struct gfs_open_file *of = share(m, path);

	if (!of)
		return false;
	gfs_file_set_mtime(of->f, mtime_ns);
	gfs_openfiles_release(m, of); /* not the last: no network */
	return true;
}

bool gfs_openfiles_size(struct gfs_mount *m, const char *path,
			uint64_t *size)
{
	struct gfs_stat st;

	if (!gfs_openfiles_stat(m, path, &st))
		return false;
	*size = st.size;
	return true;
}

/* Whether a hidden file commits to path.  O(open files) while any is
 * hidden.  Lock held. */
static bool targeted(struct gfs_mount *m, const char *path)
{
	struct gfs_open_file *of, *tmp;

	if (m->targeted)
		HASH_ITER(hh, m->open, of, tmp)
			if (of->target && !strcmp(of->target, path))
				return true;
	return false;
}

bool gfs_openfiles_is_open(struct gfs_mount *m, const char *path)
{
	struct gfs_open_file *of;
	bool open;

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->open, path, of);
	open = of || targeted(m, path);
	pthread_mutex_unlock(&m->lock);
	return open;
}

/* Add of, held, to *v (*n of them).  Lock held. */
static void take(struct gfs_open_file *of, struct gfs_open_file ***v,
		 size_t *n)
{
	*v = gfs_xrealloc(*v, (*n + 1) * sizeof(**v));
	of->opens++;
	(*v)[(*n)++] = of;
}

/* of's name went, as rm (may be NULL) says (gfs_openfiles_unlinked()):
 * on to the name its inode kept, or removed. */
static void follow(struct gfs_mount *m, struct gfs_open_file *of,
		   const struct gfs_removal *rm)
{
	bool on = rm && rm->links && rm->other[0];
	uint64_t kept = rm && !on ? rm->kept : 0;

	if (kept)
		gfs_kept_hold(m, kept);
	pthread_mutex_lock(&m->lock);
	set_target(m, of, on && of->hashed ? rm->other : NULL);
	if (!on) {
		of->unlinked = true;
		of->kept = kept;
		of->links = rm ? rm->links : 0;
	}
	pthread_mutex_unlock(&m->lock);
	if (on)
		gfs_file_set_path(of->f, rm->other);
	else
		gfs_file_unlinked(of->f, kept);
}

void gfs_openfiles_unlinked(struct gfs_mount *m, const char *path,
			    const struct gfs_removal *rm)
{
	struct gfs_open_file *of, *tmp, **v = NULL;
	size_t n = 0, i;

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->open, path, of);
	if (of) {
		HASH_DEL(m->open, of);
		of->hashed = false;
		take(of, &v, &n); /* held while the file's lock is waited
				   * for */
	}
	if (m->targeted)
		HASH_ITER(hh, m->open, of, tmp)
			if (of->target && !strcmp(of->target, path))
				take(of, &v, &n);
	pthread_mutex_unlock(&m->lock);
	for (i = 0; i < n; i++)
		follow(m, v[i], rm);
	if (!n && rm && rm->kept) /* closed meanwhile: nothing to keep */
		gfs_kept_release(m, rm->kept);
	for (i = 0; i < n; i++)
		gfs_openfiles_release(m, v[i]);
	free(v);
}

struct gfs_open_file *gfs_openfiles_find(struct gfs_mount *m,
					 const char *path)
{
	return share(m, path);
}

bool gfs_openfiles_hide(struct gfs_mount *m, const char *path,
			const char *hidden)
{
	struct gfs_open_file *of;

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->open, path, of);
	if (of) {
		HASH_DEL(m->open, of);
		set_target(m, of, path);
		free(of->path);
		of->path = gfs_xstrdup(hidden);
		HASH_ADD_KEYPTR(hh, m->open, of->path, strlen(of->path), of);
	}
	pthread_mutex_unlock(&m->lock);
	return of != NULL;
}

char *gfs_openfiles_target(struct gfs_mount *m, const char *path)
{
	struct gfs_open_file *of;
	char *target = NULL;

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->open, path, of);
	if (of && of->target)
		target = gfs_xstrdup(of->target);
	pthread_mutex_unlock(&m->lock);
	return target;
}

char **gfs_openfiles_hidden(struct gfs_mount *m, size_t *n)
{
	struct gfs_open_file *of, *tmp;
	char **v = NULL;

	*n = 0;
	pthread_mutex_lock(&m->lock);
	if (m->targeted)
		HASH_ITER(hh, m->open, of, tmp) {
			if (!of->target)
				continue;
			v = gfs_xrealloc(v, (*n + 1) * sizeof(*v));
			v[(*n)++] = gfs_xstrdup(of->path);
		}
	pthread_mutex_unlock(&m->lock);
	return v;
}

bool gfs_openfiles_removed(struct gfs_mount *m, const char *path,
			   uint64_t *kept)
{
	struct gfs_open_file *of;
	bool gone;

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->open, path, of);
	gone = of && of->unlinked;
	*kept = gone ? of->kept : 0;
	pthread_mutex_unlock(&m->lock);
	return gone;
}

bool gfs_openfiles_is_unlinked(struct gfs_mount *m, struct gfs_open_file *of,
			       uint32_t *links, bool *hidden, char **target)
{
	bool gone;

	pthread_mutex_lock(&m->lock);
	gone = of->unlinked;
	*links = of->links;
	/* a removed file stays hashed only when hidden, one with a
	 * target is hidden */
	*hidden = (gone && of->hashed) || of->target;
	if (target)
		*target = of->target ? gfs_xstrdup(of->target) : NULL;
	pthread_mutex_unlock(&m->lock);
	return gone;
}

/* *path (owned), at or below a directory flen bytes long that moved to
 * `to`, moves with it. */
static void moved_to(char **path, const char *to, size_t flen)
{
	char *p = gfs_xasprintf("%s%s", to, *path + flen);

	free(*path);
	*path = p;
}

/* O(open files). */
void gfs_openfiles_rename(struct gfs_mount *m, const char *from,
			  const char *to)
{
	struct gfs_open_file *of, *tmp, **moved = NULL;
	size_t flen = strlen(from), n = 0, i;

	pthread_mutex_lock(&m->lock);
	HASH_ITER(hh, m->open, of, tmp) {
		bool key = gfs_path_is_under(of->path, from);
		bool target = of->target &&
			      gfs_path_is_under(of->target, from);

		if (target)
			moved_to(&of->target, to, flen);
		if (key)
			moved_to(&of->path, to, flen);
		if (key || target)
			gfs_file_set_path(of->f, of->target ? of->target
							    : of->path);
		if (!key)
			continue;
		HASH_DEL(m->open, of);
		moved = gfs_xrealloc(moved, (n + 1) * sizeof(*moved));
		moved[n++] = of;
	}
	for (i = 0; i < n; i++)
		HASH_ADD_KEYPTR(hh, m->open, moved[i]->path,
				strlen(moved[i]->path), moved[i]);
	pthread_mutex_unlock(&m->lock);
	free(moved);
}

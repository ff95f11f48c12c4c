/*
 * chunkstore.c - chunk files on disk, the table of them, cached views,
 * quarantine, space accounting and the change log (see chunkstore.h).
 *
 * Invariants:
 * - An entry with version 0 is a placeholder for a chunk being created;
 *   it is always busy and is invisible to readers and reports.
 * - An entry's cached view, when set, is of its current gen and holds one
 *   reference; the entry is then on the LRU list.
 * - Only proof quarantines a replica: a block failing its CRC, a meta
 *   failing its own checks, a data file shorter than its length, files
 *   gone under an idle chunk.  A failure of the system (EMFILE, ENOMEM,
 *   EIO from a read, ...) is an error for that one request (local_err()),
 *   with the replica kept as it is.
 * - A committed chunk's meta (its data file's xattr, else its .meta file:
 *   the precedence of chunkmeta.h) names its version; its data file holds
 *   at least length bytes.  Writers put the meta in place before the data
 *   file is renamed (chunkwrite.c), and view loading opens the data before
 *   reading the meta, so a loader never pairs new data with old CRCs: it
 *   sees the newer meta and waits for the commit instead.  An xattr meta
 *   is read from the open data file itself, so it always describes the
 *   very inode being read.
 * - A packed entry (e->packed) has a live record at e->loc holding its
 *   committed version and no chunk file; whoever clears e->packed kills
 *   that record (take_record(), then gfs_pack_kill() without the lock,
 *   except in a quarantine, which kills it under the lock as it renames
 *   files under it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <uthash.h>

#include "blockcrc.h"
#include "chunkmeta.h"
#include "chunkstore.h"
#include "constants.h"
#include "inodepool.h"
#include "json.h"
#include "pack.h"
#include "log.h"
#include "path.h"
#include "util.h"

#define NSUBDIRS 256
#define DEFAULT_CACHE 256
/* Unnamed inodes kept ready for new chunk files (inodepool.h): enough
 * for a burst of small files between two refills, few enough fds. */
#define INODE_POOL 16
/* How long a loader waits for a commit it saw half done. */
#define COMMIT_WAIT_MS 2000

/* One chunk in the table; every field protected by store->lock. */
struct chunk {
	uint64_t handle;             /* key */
	uint64_t version;            /* committed version; 0: placeholder */
	uint64_t length;             /* committed length */
	uint64_t gen;                /* generation of the committed version */
	bool busy;                   /* a writer or deleter holds it */
	bool doomed;                 /* found corrupt while busy */
	int64_t last_use_ms;         /* monotonic; last read or write */
	bool packed;                 /* the committed version is a record */
	struct gfs_pack_loc loc;     /* where, when packed */
	uint32_t crc;                /* its data's CRC32C, when packed */
	struct gfs_chunk_view *view; /* cached view (one ref) or NULL */
	struct chunk *lru_prev;      /* towards more recently used */
	struct chunk *lru_next;
	UT_hash_handle hh;
};

/* The last change of a handle that heartbeats have to report. */
struct change {
	uint64_t handle;  /* key */
	uint64_t seq;     /* when */
	bool corrupt;     /* it was a removal for corruption */
	UT_hash_handle hh;
};

struct gfs_chunkstore {
	char *dir;                  /* data directory; owned */
	int chunks;                 /* chunks/; owned fd.  Its 256
				     * subdirectories are opened when used,
				     * so that 256 fds are not held for
				     * good (the HTTP server's select()
				     * needs its sockets below 1024) */
	int qdir;                   /* quarantine/; owned fd */
	int lockfd;                 /* .lock, flock'ed; owned */
	unsigned cache_max;         /* views kept cached */
	uint64_t reserve, capacity; /* from the conf */
	atomic_size_t xattr_max;    /* largest meta kept in an xattr, bytes;
				     * 0: none (set at open, dropped to 0 if
				     * the file system refuses xattrs) */
	bool xattr_in_place;        /* an xattr meta may be replaced in
				     * place (set at open) */
	bool syncs;                 /* commits fsync (not --ack-in-memory) */
	struct gfs_inodepool *inodes; /* new chunk files; owned; NULL:
				     * they are created by name */
	struct gfs_pack *pack;      /* packed small chunks; owned; NULL:
				     * packing is off */
	void (*on_corrupt)(void *cls, uint64_t handle); /* see the conf */
	bool (*materialise)(void *cls, struct gfs_chunkstore *s,
			    uint64_t handle); /* the conf's */
	void *cls;
	pthread_mutex_t lock;       /* guards everything below but stats */
	pthread_cond_t cond;        /* broadcast when a chunk stops being
				     * busy or is committed */
	/* protected by lock: */
	struct chunk *table;        /* uthash by handle */
	struct chunk *lru_head;     /* most recently used cached view */
	struct chunk *lru_tail;
	unsigned ncached;           /* views on the LRU list */
	struct change *changes;     /* uthash by handle */
	uint64_t seq;               /* last change number given out */
	uint64_t gen;               /* last commit generation given out */
	uint64_t used;              /* sum of committed lengths */
	uint64_t nchunks;           /* committed chunks */
	uint64_t promised;          /* bytes writers may still write */
	uint64_t pending;           /* bytes writers wrote, not committed */
	struct gfs_chunkstore_stats stats; /* atomics, no lock needed */
};

/* A new fd of handle's directory chunks/<xx> (caller closes), or -1. */
static int open_sub(const struct gfs_chunkstore *s, uint64_t handle)
{
	char name[4];

	snprintf(name, sizeof(name), "%02x", (unsigned)(handle & 0xff));
	return openat(s->chunks, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* The error for a local failure, errno e, that proves nothing about the
 * replica (no fd, no memory, an I/O error, a permission): 503 for what
 * passes (try another replica, or later), 502 for the rest.  Never a
 * reason to quarantine: only a checksum does that (see the top). */
static enum gfs_err local_err(int e)
{
	return e == EMFILE || e == ENFILE || e == ENOMEM || e == EAGAIN ||
			       e == ENOBUFS
		       ? GFS_EUNAVAIL
		       : GFS_EIO;
}

/* --- views ----------------------------------------------------------- */

static void view_unref(struct gfs_chunk_view *v)
{
	if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
		return;
	close(v->fd);
	free(v->crcs);
	free(v);
}

static void lru_unlink(struct gfs_chunkstore *s, struct chunk *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		s->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		s->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push(struct gfs_chunkstore *s, struct chunk *e)
{
	e->lru_prev = NULL;
	e->lru_next = s->lru_head;
	if (s->lru_head)
		s->lru_head->lru_prev = e;
	s->lru_head = e;
	if (!s->lru_tail)
		s->lru_tail = e;
}

/* Drop e's cached view (lock held). */
static void uncache(struct gfs_chunkstore *s, struct chunk *e)
{
	if (!e->view)
		return;
	lru_unlink(s, e);
	view_unref(e->view);
	e->view = NULL;
	s->ncached--;
}

/* Cache v on e (taking one more reference), evicting the least recently
 * used views beyond the cap (lock held). */
static void cache(struct gfs_chunkstore *s, struct chunk *e,
		  struct gfs_chunk_view *v)
{
	atomic_fetch_add(&v->refs, 1);
	e->view = v;
	lru_push(s, e);
	s->ncached++;
	while (s->ncached > s->cache_max && s->lru_tail)
		uncache(s, s->lru_tail);
}

static void touch(struct gfs_chunkstore *s, struct chunk *e)
{
	e->last_use_ms = gfs_mono_ms();
	if (e->view && s->lru_head != e) {
		lru_unlink(s, e);
		lru_push(s, e);
	}
}

/* --- the table and the change log (lock held) ------------------------ */

static struct chunk *find(struct gfs_chunkstore *s, uint64_t handle)
{
	struct chunk *e;

	HASH_FIND(hh, s->table, &handle, sizeof(handle), e);
	return e;
}

static struct chunk *add_entry(struct gfs_chunkstore *s, uint64_t handle)
{
	struct chunk *e = gfs_xcalloc(1, sizeof(*e));

	e->handle = handle;
	e->last_use_ms = gfs_mono_ms();
	HASH_ADD(hh, s->table, handle, sizeof(e->handle), e);
	return e;
}

/* Forget e; a committed one leaves the counters. */
static void drop_entry(struct gfs_chunkstore *s, struct chunk *e)
{
	uncache(s, e);
	if (e->version) {
		s->used -= e->length;
		s->nchunks--;
	}
	HASH_DEL(s->table, e);
	free(e);
}

static void record_change(struct gfs_chunkstore *s, uint64_t handle,
			  bool corrupt)
{
	struct change *c;

	HASH_FIND(hh, s->changes, &handle, sizeof(handle), c);
	if (!c) {
		c = gfs_xcalloc(1, sizeof(*c));
		c->handle = handle;
		HASH_ADD(hh, s->changes, handle, sizeof(c->handle), c);
	}
	c->seq = ++s->seq;
	c->corrupt = corrupt;
}

/* Clear e's packed mark (lock held): true when it had one, with what
 * the caller must gfs_pack_kill() once the lock is dropped. */
static bool take_record(struct chunk *e, struct gfs_pack_loc *loc,
			uint32_t *len)
{
	if (!e->packed)
		return false;
	e->packed = false;
	*loc = e->loc;
	*len = (uint32_t)e->length;
	return true;
}

/* --- quarantine ------------------------------------------------------ */

/* Move handle's data and meta files from dirfd to quarantine/. */
static void quarantine_files(struct gfs_chunkstore *s, int dirfd,
			     uint64_t handle)
{
	char hex[17], src[32], dst[64];
	long long ns = (long long)gfs_now_ns();

	gfs_handle_fmt(handle, hex);
	snprintf(dst, sizeof(dst), "%s.%lld", hex, ns);
	if (renameat(dirfd, hex, s->qdir, dst) < 0 && errno != ENOENT)
		gfs_warn("cannot quarantine %s: %s", hex, strerror(errno));
	snprintf(src, sizeof(src), "%s.meta", hex);
	snprintf(dst, sizeof(dst), "%s.%lld.meta", hex, ns);
	if (renameat(dirfd, src, s->qdir, dst) < 0 && errno != ENOENT)
		gfs_warn("cannot quarantine %s: %s", src, strerror(errno));
}

/* Quarantine e now, or mark it for its writer (lock held).  True when
 * done now (the caller then calls on_corrupt without the lock). */
static bool quarantine_locked(struct gfs_chunkstore *s, struct chunk *e,
			      const char *why)
{
	char hex[17];
	int dirfd;

	gfs_handle_fmt(e->handle, hex);
	if (e->busy) {
		gfs_warn("chunk %s v%llu is corrupt (%s); removed when its "
			 "writer is done", hex, (unsigned long long)e->version,
			 why);
		e->doomed = true;
		return false;
	}
	gfs_warn("chunk %s v%llu is corrupt (%s): quarantined", hex,
		 (unsigned long long)e->version, why);
	if (e->packed) {
		/* its record killed: the bytes stay in the segment until it
		 * is reclaimed */
		gfs_pack_kill(s->pack, &e->loc, (uint32_t)e->length);
		e->packed = false;
	} else {
		dirfd = open_sub(s, e->handle);
		quarantine_files(s, dirfd, e->handle);
		if (dirfd >= 0)
			close(dirfd);
	}
	record_change(s, e->handle, true);
	atomic_fetch_add(&s->stats.corrupt, 1);
	drop_entry(s, e);
	return true;
}

/* Quarantine handle if it is still at generation gen. */
static void quarantine_gen(struct gfs_chunkstore *s, uint64_t handle,
			   uint64_t gen, const char *why)
{
	struct chunk *e;
	bool now = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, handle);
	if (e && e->version && e->gen == gen)
		now = quarantine_locked(s, e, why);
	pthread_mutex_unlock(&s->lock);
	if (now && s->on_corrupt)
		s->on_corrupt(s->cls, handle);
}

void gfs_chunkstore_quarantine(struct gfs_chunkstore *s,
			       const struct gfs_chunk_view *v,
			       const char *why)
{
	quarantine_gen(s, v->handle, v->gen, why);
}

/* --- reading ---------------------------------------------------------- */

/*
 * Load a view of handle at version from disk: open the data file first,
 * then read the meta (see the invariants above).  GFS_ESTALE when the
 * meta is of another version (a commit is under way), GFS_ENOENT when the
 * files are gone (deleted meanwhile), GFS_ECORRUPT when they are provably
 * bad (a meta failing its checks, a data file shorter than its length),
 * local_err() with errno set when the system failed us (EMFILE...).
 */
static enum gfs_err load_view(struct gfs_chunkstore *s, uint64_t handle,
			      uint64_t version, uint64_t gen,
			      struct gfs_chunk_view **out, const char **why)
{
	enum gfs_chunkmeta_home home;
	struct gfs_chunkmeta m;
	struct gfs_chunk_view *v;
	enum gfs_err err;
	struct stat st;
	char hex[17];
	int e = 0, fd, dirfd = open_sub(s, handle);

	gfs_handle_fmt(handle, hex);
	fd = dirfd < 0 ? -1 : openat(dirfd, hex, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		*why = "data file missing";
		if (dirfd >= 0)
			close(dirfd);
		errno = e;
		return e == ENOENT ? GFS_ENOENT : local_err(e);
	}
	err = gfs_chunkmeta_load(dirfd, fd, handle, &m, true, &home);
	e = errno;
	close(dirfd);
	if (err) {
		*why = home == GFS_CHUNKMETA_IN_XATTR ?
			       "meta xattr failing its checks" :
			       "meta file failing its checks";
		if (err == GFS_EIO)
			err = local_err(e);
		goto out_close;
	}
	err = GFS_ESTALE;
	if (m.version != version)
		goto out_free_crcs;
	if (fstat(fd, &st) < 0) {
		e = errno;
		err = local_err(e);
		goto out_free_crcs;
	}
	err = GFS_ECORRUPT;
	*why = "data file shorter than its length";
	if ((uint64_t)st.st_size < m.length)
		goto out_free_crcs;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	v = gfs_xcalloc(1, sizeof(*v));
	v->handle = handle;
	v->version = m.version;
	v->length = m.length;
	v->gen = gen;
	v->fd = fd;
	v->nblocks = m.nblocks;
	v->crcs = m.crcs;
	atomic_init(&v->refs, 1);
	atomic_fetch_add(&s->stats.view_loads, 1);
	*out = v;
	return GFS_OK;
out_free_crcs:
	free(m.crcs);
out_close:
	close(fd);
	errno = e;
	return err;
}

/* A view that could not be loaded for a reason that says nothing about
 * the replica: logged, kept, errno kept for the caller. */
static enum gfs_err not_loaded(uint64_t handle, enum gfs_err err)
{
	int e = errno;
	char hex[17];

	gfs_handle_fmt(handle, hex);
	gfs_warn("chunk %s: cannot load it: %s (kept, not quarantined)", hex,
		 strerror(e));
	errno = e;
	return err;
}

/* Wait (lock held) until handle's generation moves on from gen. */
static void wait_commit(struct gfs_chunkstore *s, uint64_t handle,
			uint64_t gen)
{
	struct timespec ts = gfs_deadline_ts(CLOCK_REALTIME, 20);
	struct chunk *e = find(s, handle);

	if (e && e->gen == gen)
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

/* What a loader needs of an entry, copied under the lock. */
struct wanted {
	uint64_t version, gen, length;
	bool packed;
	struct gfs_pack_loc loc;
	uint32_t crc;
};

/* The entry's cached view with a new reference, or (when there is none)
 * what loading it needs.  Lock held. */
static enum gfs_err lookup_view(struct gfs_chunkstore *s, uint64_t handle,
				struct gfs_chunk_view **out,
				struct wanted *w)
{
	struct chunk *e = find(s, handle);

	if (!e || !e->version)
		return GFS_ENOENT;
	touch(s, e);
	*out = e->view;
	if (e->view)
		atomic_fetch_add(&e->view->refs, 1);
	w->version = e->version;
	w->gen = e->gen;
	w->length = e->length;
	w->packed = e->packed;
	w->loc = e->loc;
	w->crc = e->crc;
	return GFS_OK;
}

static struct gfs_chunk_view *view_new(uint64_t handle, uint64_t version,
				       uint64_t length, uint64_t gen, int fd,
				       uint32_t *crcs);

/* A view of a packed chunk: a new fd of its segment, its one CRC.
 * GFS_ENOENT when the segment is gone (the chunk moved on meanwhile). */
static enum gfs_err load_packed(struct gfs_chunkstore *s, uint64_t handle,
				const struct wanted *w,
				struct gfs_chunk_view **out, const char **why)
{
	int fd = gfs_pack_fd(s->pack, w->loc.seq), e = errno;
	uint32_t *crcs;

	if (fd < 0) {
		*why = "segment missing";
		errno = e;
		return e == ENOENT ? GFS_ENOENT : local_err(e);
	}
	crcs = gfs_xmalloc(sizeof(*crcs));
	crcs[0] = w->crc;
	*out = view_new(handle, w->version, w->length, w->gen, fd, crcs);
	(*out)->base = w->loc.off + GFS_PACK_HEADER;
	(*out)->packed = true;
	atomic_fetch_add(&s->stats.view_loads, 1);
	return GFS_OK;
}

enum gfs_err gfs_chunkstore_get_view(struct gfs_chunkstore *s,
				     uint64_t handle, bool nocache,
				     struct gfs_chunk_view **out)
{
	int64_t deadline = gfs_mono_ms() + COMMIT_WAIT_MS;
	struct gfs_chunk_view *v = NULL;
	struct wanted w;
	uint64_t gen;
	const char *why = NULL;
	enum gfs_err err;
	struct chunk *e;

	for (;;) {
		pthread_mutex_lock(&s->lock);
		err = lookup_view(s, handle, &v, &w);
		pthread_mutex_unlock(&s->lock);
		if (err || v)
			break;
		gen = w.gen;
		err = w.packed ? load_packed(s, handle, &w, &v, &why)
			       : load_view(s, handle, w.version, gen, &v, &why);
		if (err == GFS_ECORRUPT) {
			quarantine_gen(s, handle, gen, why);
			return GFS_ECORRUPT;
		}
		if (err == GFS_EIO || err == GFS_EUNAVAIL)
			return not_loaded(handle, err);
		pthread_mutex_lock(&s->lock);
		e = find(s, handle);
		if ((err == GFS_ENOENT || err == GFS_ESTALE) && e &&
		    e->gen == gen && !e->busy) {
			/* files gone, or a meta of another version, under a
			 * chunk nobody is writing: the disk and the table
			 * disagree (a commit that failed half-way) */
			why = err == GFS_ENOENT ? why : "meta of another version";
			pthread_mutex_unlock(&s->lock);
			quarantine_gen(s, handle, gen, why);
			return GFS_ECORRUPT;
		}
		if (!err && e && e->gen == gen) {
			if (e->view) {          /* another loader won */
				view_unref(v);
				v = e->view;
				atomic_fetch_add(&v->refs, 1);
			} else if (!nocache) {
				cache(s, e, v);
			}
			pthread_mutex_unlock(&s->lock);
			break;
		}
		view_unref(v);
		v = NULL;
		if (gfs_mono_ms() > deadline) {
			pthread_mutex_unlock(&s->lock);
			return GFS_ESTALE;
		}
		wait_commit(s, handle, gen);
		pthread_mutex_unlock(&s->lock);
	}
	*out = v;
	return err;
}

void gfs_chunkstore_put_view(struct gfs_chunkstore *s,
			     struct gfs_chunk_view *v)
{
	(void)s;
	view_unref(v);
}

enum gfs_err gfs_chunkstore_read_blocks(struct gfs_chunkstore *s,
					struct gfs_chunk_view *v,
					uint32_t first, uint32_t n, char *buf,
					size_t *got)
{
	uint64_t off = (uint64_t)first * GFS_BLOCK_SIZE;
	size_t len = (size_t)GFS_MIN((uint64_t)n * GFS_BLOCK_SIZE,
				     v->length - off);
	ssize_t r = gfs_pread_all(v->fd, buf, len, (off_t)(v->base + off));
	uint32_t bad;
	char why[64];

	*got = 0;
	if (r < 0) {
		int e = errno;

		gfs_warn("chunk %016llx: reading block %u: %s (kept, not "
			 "quarantined)", (unsigned long long)v->handle, first,
			 strerror(e));
		errno = e;
		return local_err(e);
	}
	if ((size_t)r < len) {
		snprintf(why, sizeof(why), "data file ends inside block %u",
			 first + (uint32_t)((size_t)r / GFS_BLOCK_SIZE));
		gfs_chunkstore_quarantine(s, v, why);
		return GFS_ECORRUPT;
	}
	bad = gfs_blockcrc_verify(v->crcs, first, buf, len);
	if (bad != UINT32_MAX) {
		snprintf(why, sizeof(why), "block %u fails its CRC32C", bad);
		gfs_chunkstore_quarantine(s, v, why);
		return GFS_ECORRUPT;
	}
	atomic_fetch_add(&s->stats.bytes_read, len);
	*got = len;
	return GFS_OK;
}

/* Blocks checked per read of check_blocks: small enough to stay in the
 * cache between the read and the CRC. */
#define CHECK_BLOCKS 4

enum gfs_err gfs_chunkstore_check_blocks(struct gfs_chunkstore *s,
					 struct gfs_chunk_view *v,
					 uint32_t first, uint32_t n)
{
	char *buf = gfs_xmalloc(CHECK_BLOCKS * GFS_BLOCK_SIZE);
	enum gfs_err err = GFS_OK;
	size_t got;
	int e;

	while (n && !err) {
		uint32_t k = GFS_MIN(n, (uint32_t)CHECK_BLOCKS);

		err = gfs_chunkstore_read_blocks(s, v, first, k, buf, &got);
		first += k;
		n -= k;
	}
	e = errno;
	free(buf);
	errno = e;
	return err;
}

/* --- busy marks ------------------------------------------------------ */

/* Wait (lock held) until handle is not busy or the deadline passes;
 * returns its entry (NULL when absent) or sets *busy. */
static struct chunk *wait_idle(struct gfs_chunkstore *s, uint64_t handle,
			       long wait_ms, bool *busy)
{
	struct timespec ts = gfs_deadline_ts(CLOCK_REALTIME, wait_ms);
	struct chunk *e;

	*busy = false;
	while ((e = find(s, handle)) && e->busy) {
		if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) ==
		    ETIMEDOUT) {
			e = find(s, handle);
			*busy = e && e->busy;
			break;
		}
	}
	return e;
}

enum gfs_err gfs_chunkstore_lock_chunk(struct gfs_chunkstore *s,
				       uint64_t handle, long wait_ms,
				       struct gfs_chunkstore_slot *slot)
{
	struct chunk *e;
	bool busy;

	pthread_mutex_lock(&s->lock);
	e = wait_idle(s, handle, wait_ms, &busy);
	if (busy) {
		pthread_mutex_unlock(&s->lock);
		return GFS_ESTALE;
	}
	if (!e)
		e = add_entry(s, handle);
	e->busy = true;
	e->doomed = false;
	slot->handle = handle;
	slot->existed = e->version != 0;
	slot->version = e->version;
	slot->length = e->length;
	slot->packed = e->packed;
	pthread_mutex_unlock(&s->lock);
	slot->dirfd = open_sub(s, handle);
	if (slot->dirfd < 0) {
		gfs_chunkstore_unlock_chunk(s, handle);
		return GFS_EIO;
	}
	return GFS_OK;
}

void gfs_chunkstore_unlock_chunk(struct gfs_chunkstore *s, uint64_t handle)
{
	struct chunk *e;
	bool now = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, handle);
	if (e) {
		e->busy = false;
		if (!e->version)
			drop_entry(s, e);
		else if (e->doomed)
			now = quarantine_locked(s, e, "found while writing");
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (now && s->on_corrupt)
		s->on_corrupt(s->cls, handle);
}

static struct gfs_chunk_view *view_new(uint64_t handle, uint64_t version,
				       uint64_t length, uint64_t gen, int fd,
				       uint32_t *crcs)
{
	struct gfs_chunk_view *v = gfs_xcalloc(1, sizeof(*v));

	v->handle = handle;
	v->version = version;
	v->length = length;
	v->gen = gen;
	v->fd = fd;
	v->nblocks = GFS_NBLOCKS(length);
	v->crcs = crcs;
	atomic_init(&v->refs, 1);
	return v;
}

/* e (busy, and no version any more: the caller took its old one out of
 * the counts) holds version of length bytes from now on: counted, the
 * busy mark gone, and its waiters and heartbeat told.  Lock held. */
static void publish_locked(struct gfs_chunkstore *s, struct chunk *e,
			   uint64_t version, uint64_t length)
{
	e->version = version;
	e->length = length;
	e->gen = ++s->gen;
	e->busy = false;
	e->last_use_ms = gfs_mono_ms();
	s->used += length;
	s->nchunks++;
	record_change(s, e->handle, false);
	pthread_cond_broadcast(&s->cond);
}

enum gfs_err gfs_chunkstore_commit_chunk(struct gfs_chunkstore *s,
					 uint64_t handle, uint64_t version,
					 uint64_t length, int fd,
					 uint32_t *crcs)
{
	struct gfs_chunk_view *v;
	struct gfs_pack_loc loc;
	struct chunk *e;
	uint32_t rlen;
	bool killed;

	pthread_mutex_lock(&s->lock);
	e = find(s, handle);
	if (!e || !e->busy || e->doomed) {
		pthread_mutex_unlock(&s->lock);
		close(fd);
		free(crcs);
		if (e)  /* doomed: the new files carry the bad blocks too */
			gfs_chunkstore_unlock_chunk(s, handle);
		return e ? GFS_ECORRUPT : GFS_EINTERNAL;
	}
	uncache(s, e);
	killed = take_record(e, &loc, &rlen); /* never: written files */
	if (e->version) {
		s->used -= e->length;
		s->nchunks--;
	}
	publish_locked(s, e, version, length);
	v = view_new(handle, version, length, e->gen, fd, crcs);
	cache(s, e, v);
	view_unref(v);  /* the cache's reference is the one left */
	pthread_mutex_unlock(&s->lock);
	if (killed)
		gfs_pack_kill(s->pack, &loc, rlen);
	atomic_fetch_add(&s->stats.bytes_written, length);
	return GFS_OK;
}

bool gfs_chunkstore_packable(struct gfs_chunkstore *s, uint64_t size)
{
	return s->pack && gfs_pack_fits(s->pack, size);
}

enum gfs_err gfs_chunkstore_commit_packed(struct gfs_chunkstore *s,
					  uint64_t handle, uint64_t version,
					  const void *data, uint32_t len,
					  uint32_t crc)
{
	struct gfs_pack_loc loc;
	enum gfs_err err;
	struct chunk *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, handle);
	err = !e || !e->busy || e->version ? GFS_EINTERNAL : GFS_OK;
	pthread_mutex_unlock(&s->lock);
	if (!err)
		err = gfs_pack_append(s->pack, handle, version, data, len, crc,
				      &loc);
	if (err)
		return err;
	pthread_mutex_lock(&s->lock);
	e = find(s, handle);  /* still ours: busy */
	e->packed = true;
	e->loc = loc;
	e->crc = crc;
	publish_locked(s, e, version, len);
	pthread_mutex_unlock(&s->lock);
	atomic_fetch_add(&s->stats.bytes_written, len);
	return GFS_OK;
}

void gfs_chunkstore_unpack_chunk(struct gfs_chunkstore *s, uint64_t handle,
				 int fd, uint32_t *crcs)
{
	struct gfs_chunk_view *v;
	struct gfs_pack_loc loc;
	struct chunk *e;
	uint32_t len;
	bool killed = false;

	pthread_mutex_lock(&s->lock);
	e = find(s, handle);
	if (e && e->busy)
		killed = take_record(e, &loc, &len);
	if (killed) {
		uncache(s, e);
		e->gen = ++s->gen;
		v = view_new(handle, e->version, e->length, e->gen, fd, crcs);
		cache(s, e, v);
		view_unref(v);
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
	if (killed) {
		gfs_pack_kill(s->pack, &loc, len);
		return;
	}
	close(fd);
	free(crcs);
}

/* --- deleting -------------------------------------------------------- */

static void unlink_files(int dirfd, uint64_t handle)
{
	char hex[17], meta[32];

	gfs_handle_fmt(handle, hex);
	snprintf(meta, sizeof(meta), "%s.meta", hex);
	/* meta file first: a crash in between leaves an orphan data file,
	 * which start-up removes, never a meta without its data (a meta in
	 * the xattr goes with the data file) */
	if (unlinkat(dirfd, meta, 0) < 0 && errno != ENOENT)
		gfs_warn("cannot remove %s: %s", meta, strerror(errno));
	if (unlinkat(dirfd, hex, 0) < 0 && errno != ENOENT)
		gfs_warn("cannot remove %s: %s", hex, strerror(errno));
}

enum gfs_err gfs_chunkstore_delete(struct gfs_chunkstore *s, uint64_t handle,
				   long wait_ms)
{
	struct gfs_pack_loc loc;
	struct chunk *e;
	bool busy, packed;
	uint32_t len;
	int dirfd;

	pthread_mutex_lock(&s->lock);
	e = wait_idle(s, handle, wait_ms, &busy);
	if (busy || !e || !e->version) {
		pthread_mutex_unlock(&s->lock);
		return busy ? GFS_ESTALE : GFS_ENOENT;
	}
	e->busy = true;
	packed = take_record(e, &loc, &len);
	pthread_mutex_unlock(&s->lock);
	if (packed) {
		gfs_pack_kill(s->pack, &loc, len);
	} else if ((dirfd = open_sub(s, handle)) >= 0) {
		unlink_files(dirfd, handle);
		close(dirfd);
	}
	pthread_mutex_lock(&s->lock);
	e = find(s, handle);
	drop_entry(s, e);
	record_change(s, handle, false);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return GFS_OK;
}

/* --- space ----------------------------------------------------------- */

/* Free bytes for new data (lock held): disk free beyond the reserve and
 * the promises, and within the capacity. */
static uint64_t storable(struct gfs_chunkstore *s, uint64_t *total)
{
	struct statvfs sv;
	uint64_t avail = 0, fs_total = 0, fr, taken;

	if (fstatvfs(s->qdir, &sv) == 0) {
		avail = (uint64_t)sv.f_bavail * sv.f_frsize;
		fs_total = (uint64_t)sv.f_blocks * sv.f_frsize;
	}
	fr = avail > s->reserve + s->promised ?
		     avail - s->reserve - s->promised : 0;
	*total = fs_total;
	if (s->capacity) {
		taken = s->used + s->pending + s->promised +
			gfs_pack_overhead(s->pack);
		fr = GFS_MIN(fr, s->capacity > taken ? s->capacity - taken : 0);
		*total = GFS_MIN(fs_total, s->capacity);
	}
	return fr;
}

enum gfs_err gfs_chunkstore_reserve(struct gfs_chunkstore *s, uint64_t bytes)
{
	enum gfs_err err = GFS_OK;
	uint64_t total, fr;

	pthread_mutex_lock(&s->lock);
	fr = storable(s, &total);
	if (fr < bytes || fr == 0)
		err = GFS_EDISKFULL;
	else
		s->promised += bytes;
	pthread_mutex_unlock(&s->lock);
	return err;
}

void gfs_chunkstore_consume(struct gfs_chunkstore *s, uint64_t bytes)
{
	pthread_mutex_lock(&s->lock);
	s->promised -= GFS_MIN(bytes, s->promised);
	s->pending += bytes;
	pthread_mutex_unlock(&s->lock);
}

void gfs_chunkstore_release(struct gfs_chunkstore *s, uint64_t promised,
			    uint64_t written)
{
	pthread_mutex_lock(&s->lock);
	s->promised -= GFS_MIN(promised, s->promised);
	s->pending -= GFS_MIN(written, s->pending);
	pthread_mutex_unlock(&s->lock);
}

void gfs_chunkstore_space(struct gfs_chunkstore *s,
			  struct gfs_chunkstore_space *out)
{
	pthread_mutex_lock(&s->lock);
	out->free_bytes = storable(s, &out->total_bytes);
	out->used_bytes = s->used;
	out->chunks = s->nchunks;
	pthread_mutex_unlock(&s->lock);
}

struct gfs_chunkstore_stats *gfs_chunkstore_stats(struct gfs_chunkstore *s)
{
	return &s->stats;
}

/* --- reporting ------------------------------------------------------- */

static json_t *chunk_triple(const struct chunk *e)
{
	return json_pack("[o, I, I]", gfs_json_handle_new(e->handle),
			 (json_int_t)e->version, (json_int_t)e->length);
}

void gfs_chunkstore_report(struct gfs_chunkstore *s, bool full,
			   uint64_t since, json_t **chunks, json_t **removed,
			   json_t **corrupt, uint64_t *upto)
{
	struct change *c, *ctmp;
	struct chunk *e, *etmp;

	*chunks = json_array();
	*removed = json_array();
	*corrupt = json_array();
	pthread_mutex_lock(&s->lock);
	if (full) {
		HASH_ITER(hh, s->table, e, etmp)
			if (e->version)
				json_array_append_new(*chunks,
						      chunk_triple(e));
	}
	HASH_ITER(hh, s->changes, c, ctmp) {
		if (c->seq <= since)
			continue;
		if (c->corrupt)
			json_array_append_new(*corrupt,
					      gfs_json_handle_new(c->handle));
		if (full)
			continue;
		e = find(s, c->handle);
		if (e && e->version)
			json_array_append_new(*chunks, chunk_triple(e));
		else
			json_array_append_new(*removed,
					      gfs_json_handle_new(c->handle));
	}
	*upto = s->seq;
	pthread_mutex_unlock(&s->lock);
}

void gfs_chunkstore_report_again(struct gfs_chunkstore *s, uint64_t handle)
{
	struct chunk *e;

	pthread_mutex_lock(&s->lock);
	e = find(s, handle);
	if (e && e->version)
		record_change(s, handle, false);
	pthread_mutex_unlock(&s->lock);
}

void gfs_chunkstore_trim_changes(struct gfs_chunkstore *s, uint64_t seq)
{
	struct change *c, *tmp;

	pthread_mutex_lock(&s->lock);
	HASH_ITER(hh, s->changes, c, tmp) {
		if (c->seq <= seq) {
			HASH_DEL(s->changes, c);
			free(c);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

size_t gfs_chunkstore_idle_chunks(struct gfs_chunkstore *s, int64_t idle_ms,
				  uint64_t **out)
{
	int64_t now = gfs_mono_ms();
	struct chunk *e, *tmp;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	*out = gfs_xmalloc(sizeof(**out) * (HASH_COUNT(s->table) + 1));
	HASH_ITER(hh, s->table, e, tmp)
		if (e->version && !e->busy && now - e->last_use_ms >= idle_ms)
			(*out)[n++] = e->handle;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* --- opening: directories, lock, scan --------------------------------- */

static int open_dir(int at, const char *name)
{
	if (mkdirat(at, name, 0755) < 0 && errno != EEXIST)
		return -1;
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static enum gfs_err open_dirs(struct gfs_chunkstore *s)
{
	int top, sub, i;
	char name[4];

	if (gfs_mkdirs(s->dir, 0755) < 0 ||
	    (top = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		gfs_error("cannot open data directory %s: %s", s->dir,
			  strerror(errno));
		return GFS_EIO;
	}
	s->lockfd = openat(top, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		gfs_error("data directory %s is in use by another chunkserver",
			  s->dir);
		close(top);
		return GFS_EEXIST;
	}
	s->chunks = open_dir(top, "chunks");
	s->qdir = open_dir(top, "quarantine");
	for (i = 0; i < NSUBDIRS && s->chunks >= 0; i++) {
		snprintf(name, sizeof(name), "%02x", i);
		sub = open_dir(s->chunks, name);
		if (sub < 0)
			break;
		close(sub);
	}
	close(top);
	if (s->chunks < 0 || s->qdir < 0 || i < NSUBDIRS) {
		gfs_error("cannot create directories in %s: %s", s->dir,
			  strerror(errno));
		return GFS_EIO;
	}
	return GFS_OK;
}

/* What start-up found, for its log lines. */
struct scan_tally {
	uint64_t chunks, bytes, in_files, quarantined, removed, stale, orphans;
	uint64_t unreadable;  /* left in place, not served */
};

/* More data files without any meta than this (and than chunks) are not
 * crash leftovers (a crash leaves one per write under way) but most
 * likely a data directory copied without its xattrs: they are kept. */
#define ORPHAN_LIMIT 64

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

/* Parse "<16 hex>" followed by exactly suffix. */
static bool parse_name(const char *name, const char *suffix, uint64_t *h)
{
	char hex[17];

	if (strlen(name) != GFS_HANDLE_HEX + strlen(suffix) ||
	    strcmp(name + GFS_HANDLE_HEX, suffix))
		return false;
	memcpy(hex, name, GFS_HANDLE_HEX);
	hex[GFS_HANDLE_HEX] = '\0';
	return gfs_handle_parse(hex, h);
}

/* The meta of data file h in dirfd, by chunkmeta.h's precedence, checked
 * against the data file's size.  GFS_ENOENT: it has none (an orphan);
 * GFS_ECORRUPT: provably bad; GFS_EIO (errno set): unreadable now. */
static enum gfs_err scan_load(int dirfd, uint64_t h, struct gfs_chunkmeta *m,
			      enum gfs_chunkmeta_home *home)
{
	enum gfs_err err;
	struct stat st;
	char hex[17];
	int fd, e;

	gfs_handle_fmt(h, hex);
	*home = GFS_CHUNKMETA_IN_FILE;
	fd = openat(dirfd, hex, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return GFS_EIO;
	err = gfs_chunkmeta_load(dirfd, fd, h, m, false, home);
	if (!err && fstat(fd, &st) < 0)
		err = GFS_EIO;
	else if (!err && (uint64_t)st.st_size < m->length)
		err = GFS_ECORRUPT;
	e = errno;
	close(fd);
	errno = e;
	return err;
}

/* Remove the <handle>.meta beside a data file whose xattr rules: it is
 * stale (a crash while the chunk moved between the two homes). */
static void drop_stale_meta(int dirfd, uint64_t h, struct scan_tally *t)
{
	char hex[17], meta[32];

	gfs_handle_fmt(h, hex);
	snprintf(meta, sizeof(meta), "%s.meta", hex);
	if (unlinkat(dirfd, meta, 0) == 0) {
		gfs_info("removed %s (stale: the data file's xattr rules)",
			 meta);
		t->stale++;
	}
}

/* Take in data file h of directory i (first pass). */
static void scan_chunk(struct gfs_chunkstore *s, int i, int dirfd, uint64_t h,
		       struct scan_tally *t)
{
	enum gfs_chunkmeta_home home;
	struct gfs_chunkmeta m;
	struct chunk *e;
	char hex[17];
	enum gfs_err err;

	err = scan_load(dirfd, h, &m, &home);
	if (err == GFS_ENOENT) {
		t->orphans++; /* second pass */
		return;
	}
	gfs_handle_fmt(h, hex);
	if (err == GFS_EIO) {
		gfs_error("chunk %s: cannot read it: %s; left in place, not "
			  "served until a restart reads it", hex,
			  strerror(errno));
		t->unreadable++;
		return;
	}
	if (err || (h & 0xff) != (uint64_t)i) {
		gfs_warn("chunk %s: %s; quarantined", hex,
			 !err ? "misplaced" :
			 home == GFS_CHUNKMETA_IN_XATTR ?
				"meta xattr or data file invalid" :
				"meta or data file invalid");
		quarantine_files(s, dirfd, h);
		t->quarantined++;
		return;
	}
	if (home == GFS_CHUNKMETA_IN_XATTR)
		drop_stale_meta(dirfd, h, t);
	else
		t->in_files++;
	e = add_entry(s, h);
	e->version = m.version;
	e->length = m.length;
	e->gen = ++s->gen;
	s->used += m.length;
	s->nchunks++;
	t->chunks++;
	t->bytes += m.length;
}

/* A <handle>.meta whose data file is gone (first pass, after the data
 * files): quarantined, as the data file's loss is not ours to explain. */
static void scan_lone_meta(struct gfs_chunkstore *s, int dirfd, uint64_t h,
			   const char *name, struct scan_tally *t)
{
	char hex[17];

	gfs_handle_fmt(h, hex);
	if (find(s, h) || faccessat(dirfd, name, F_OK, 0) < 0 ||
	    faccessat(dirfd, hex, F_OK, 0) == 0)
		return;
	gfs_warn("chunk %s: meta without its data file; quarantined", hex);
	quarantine_files(s, dirfd, h);
	t->quarantined++;
}

/* Whether data file h (not in the table) is an orphan: it has no meta at
 * all.  One that could not be read is not (it may be a chunk). */
static bool is_orphan(int dirfd, uint64_t h)
{
	enum gfs_chunkmeta_home home;
	struct gfs_chunkmeta m;

	return scan_load(dirfd, h, &m, &home) == GFS_ENOENT;
}

/* Second pass over a directory: temporaries go, and orphans (data files
 * without any meta: creates that never committed) unless keep_orphans. */
static void scan_leftover(struct gfs_chunkstore *s, int dirfd, const char *name,
			  bool keep_orphans, struct scan_tally *t)
{
	uint64_t h;

	if (ends_with(name, ".tmp") ||
	    (!keep_orphans && parse_name(name, "", &h) && !find(s, h) &&
	     is_orphan(dirfd, h))) {
		if (unlinkat(dirfd, name, 0) == 0) {
			gfs_info("removed %s (left by an interrupted write)",
				 name);
			t->removed++;
		}
	}
}

/* Names in directory fd (a new array of new strings; caller frees). */
static size_t list_dir(int fd, char ***out)
{
	DIR *d = fdopendir(dup(fd));
	struct dirent *de;
	size_t n = 0, cap = 0;

	*out = NULL;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			*out = gfs_xrealloc(*out, cap * sizeof(**out));
		}
		(*out)[n++] = gfs_xstrdup(de->d_name);
	}
	closedir(d);
	return n;
}

static void free_names(char **names, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(names[k]);
	free(names);
}

/* First pass over directory i: the chunks, quarantine, stale metas. */
static void scan_dir(struct gfs_chunkstore *s, int i, struct scan_tally *t)
{
	int dirfd = open_sub(s, (uint64_t)i);
	char **names;
	size_t n, k;
	uint64_t h;

	if (dirfd < 0)
		return;
	n = list_dir(dirfd, &names);
	for (k = 0; k < n; k++)
		if (parse_name(names[k], "", &h))
			scan_chunk(s, i, dirfd, h, t);
	for (k = 0; k < n; k++)
		if (parse_name(names[k], ".meta", &h))
			scan_lone_meta(s, dirfd, h, names[k], t);
	free_names(names, n);
	close(dirfd);
}

/* Second pass over directory i, once all chunks are known. */
static void sweep_dir(struct gfs_chunkstore *s, int i, bool keep_orphans,
		      struct scan_tally *t)
{
	int dirfd = open_sub(s, (uint64_t)i);
	char **names;
	size_t n, k;

	if (dirfd < 0)
		return;
	n = list_dir(dirfd, &names);
	for (k = 0; k < n; k++)
		scan_leftover(s, dirfd, names[k], keep_orphans, t);
	free_names(names, n);
	close(dirfd);
}

/* Read every directory twice: chunks first, then what is left over (the
 * orphan count decides whether orphans may go).  O(files). */
static void scan(struct gfs_chunkstore *s)
{
	struct scan_tally t = { 0 };
	bool keep_orphans;
	int i;

	for (i = 0; i < NSUBDIRS; i++)
		scan_dir(s, i, &t);
	keep_orphans = t.orphans > ORPHAN_LIMIT && t.orphans > t.chunks;
	if (keep_orphans)
		gfs_error("%s: %llu data files have no meta, more than the %llu "
			  "chunks: kept, not removed (was the directory "
			  "copied without its xattrs? cp -a, rsync -X and "
			  "tar --xattrs keep them)", s->dir,
			  (unsigned long long)t.orphans,
			  (unsigned long long)t.chunks);
	for (i = 0; i < NSUBDIRS; i++)
		sweep_dir(s, i, keep_orphans, &t);
	gfs_info("%s: %llu chunks (%llu with a .meta file), %llu bytes; "
		 "%llu quarantined, %llu unreadable, %llu leftovers and %llu "
		 "stale metas removed", s->dir, (unsigned long long)t.chunks,
		 (unsigned long long)t.in_files, (unsigned long long)t.bytes,
		 (unsigned long long)t.quarantined,
		 (unsigned long long)t.unreadable,
		 (unsigned long long)t.removed, (unsigned long long)t.stale);
}

/* Whether xattr metas are replaced in place: the conf's choice, else
 * what the file system keeps whole across a crash (docs/CHUNKSERVER.md,
 * "Crash safety on any file system"). */
static void settle_in_place(struct gfs_chunkstore *s,
			    const struct gfs_chunkstore_conf *conf, int top)
{
	const char *fs;
	bool atomic = gfs_chunkmeta_probe_fs(top, &fs);

	s->xattr_in_place = conf->xattr_in_place ? conf->xattr_in_place > 0
						 : atomic;
	if (s->xattr_in_place)
		gfs_info("%s: on %s: a chunk written again has its xattr "
			 "meta replaced in place%s", s->dir, fs,
			 atomic ? "" : " (as configured)");
	else
		gfs_info("%s: on %s: an xattr replaced in place may be torn "
			 "by a crash, so a chunk written again moves its meta "
			 "to a .meta file (new chunks keep theirs in the "
			 "xattr)%s", s->dir, fs,
			 atomic ? " (as configured)" : "");
}

/* Where metas go: the conf's choice, else what the file system takes. */
static void settle_xattr_max(struct gfs_chunkstore *s,
			     const struct gfs_chunkstore_conf *conf, int top)
{
	size_t max = 0;

	if (!conf->meta_files)
		max = conf->xattr_max ?
			GFS_MIN(conf->xattr_max, GFS_CHUNKMETA_XATTR_LIMIT) :
			gfs_chunkmeta_probe_xattr(top, ".xattr-probe");
	atomic_init(&s->xattr_max, max);
	if (max) {
		gfs_info("%s: metas of chunks up to %llu KiB in xattrs, "
			 "larger ones in .meta files", s->dir,
			 (unsigned long long)((max - gfs_chunkmeta_size(0)) /
					      4 * GFS_BLOCK_SIZE / 1024));
		settle_in_place(s, conf, top);
	} else {
		gfs_info("%s: metas in .meta files (%s)", s->dir,
			 conf->meta_files ? "--meta-files" :
			 "the file system takes no user xattrs");
	}
}

bool gfs_chunkstore_meta_in_xattr(struct gfs_chunkstore *s, uint32_t nblocks)
{
	return gfs_chunkmeta_size(nblocks) <= atomic_load(&s->xattr_max);
}

bool gfs_chunkstore_xattr_in_place(struct gfs_chunkstore *s)
{
	return s->xattr_in_place;
}

int gfs_chunkstore_take_inode(struct gfs_chunkstore *s)
{
	if (!s->inodes) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return gfs_inodepool_take(s->inodes);
}

bool gfs_chunkstore_syncs(struct gfs_chunkstore *s)
{
	return s->syncs;
}

void gfs_chunkstore_no_xattrs(struct gfs_chunkstore *s)
{
	if (atomic_exchange(&s->xattr_max, 0))
		gfs_warn("%s: the file system refuses user xattrs: metas in "
			 ".meta files from now on", s->dir);
}

/* --- packed chunks ------------------------------------------------------ */

/* Replay: take live record r unless a file or an earlier record holds
 * the same handle at a version as new (the rules in chunkstore.h). */
static bool replay_record(void *cls, const struct gfs_pack_rec *r)
{
	struct gfs_chunkstore *s = cls;
	struct chunk *e = find(s, r->handle);
	char hex[17];
	int dirfd;

	if (e && r->version <= e->version)
		return false;  /* stale, or a file of the same version */
	gfs_handle_fmt(r->handle, hex);
	if (e && e->packed) {
		gfs_pack_kill(s->pack, &e->loc, (uint32_t)e->length);
	} else if (e) {
		gfs_warn("chunk %s: v%llu file is older than its packed "
			 "v%llu: removed", hex,
			 (unsigned long long)e->version,
			 (unsigned long long)r->version);
		if ((dirfd = open_sub(s, r->handle)) >= 0) {
			unlink_files(dirfd, r->handle);
			close(dirfd);
		}
	}
	if (e) {
		s->used -= e->length;
		s->nchunks--;
	} else {
		e = add_entry(s, r->handle);
	}
	e->version = r->version;
	e->length = r->length;
	e->packed = true;
	e->loc = r->loc;
	e->crc = r->crc;
	e->gen = ++s->gen;
	s->used += r->length;
	s->nchunks++;
	return true;
}

/* Whether a segment of bytes may be made (the pack's thread). */
static bool pack_room(void *cls, uint64_t bytes)
{
	struct gfs_chunkstore *s = cls;
	uint64_t total, fr;

	pthread_mutex_lock(&s->lock);
	fr = storable(s, &total);
	pthread_mutex_unlock(&s->lock);
	return fr >= bytes;
}

/* Materialise the packed chunks of segment seq (the pack's thread). */
static void pack_reclaim(void *cls, uint64_t seq)
{
	struct gfs_chunkstore *s = cls;
	struct chunk *e, *tmp;
	uint64_t *hs;
	size_t n = 0;

	if (!s->materialise)
		return;
	pthread_mutex_lock(&s->lock);
	hs = gfs_xmalloc(sizeof(*hs) * (HASH_COUNT(s->table) + 1));
	HASH_ITER(hh, s->table, e, tmp)
		if (e->packed && e->loc.seq == seq)
			hs[n++] = e->handle;
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++)
		if (!s->materialise(s->cls, s, hs[i]))
			break;
	free(hs);
}

/* Smallest segment: room for two records of a whole block. */
#define PACK_SEG_MIN (128u << 10)

/* The segment size: the conf's, else GFS_PACK_SEG_SIZE, or 1/256 of the
 * space (the disk, or --capacity when smaller) when that is less, so
 * that the head and the spare never take a small disk's room. */
static uint64_t pack_segment(struct gfs_chunkstore *s,
			     const struct gfs_chunkstore_conf *conf)
{
	uint64_t total, seg;

	if (conf->pack_segment)
		return conf->pack_segment;
	pthread_mutex_lock(&s->lock);
	storable(s, &total);
	pthread_mutex_unlock(&s->lock);
	seg = total / 256 / GFS_BLOCK_SIZE * GFS_BLOCK_SIZE;
	return GFS_MAX(GFS_MIN(seg, (uint64_t)GFS_PACK_SEG_SIZE),
		       (uint64_t)PACK_SEG_MIN);
}

/* Open packs/, take its live records into the table (after the files)
 * and start it.  Packing stays off when packs/ cannot be opened. */
static void open_packs(struct gfs_chunkstore *s,
		       const struct gfs_chunkstore_conf *conf)
{
	struct gfs_pack_conf pc = {
		.label = s->dir, .seg_size = pack_segment(s, conf),
		.max_bytes = conf->pack_max, .syncs = s->syncs,
		.room = pack_room, .reclaim = pack_reclaim, .cls = s,
	};

	if (!conf->pack_max)
		return;
	pc.dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pc.dirfd < 0 || gfs_pack_open(&pc, &s->pack))
		s->pack = NULL;
	if (pc.dirfd >= 0)
		close(pc.dirfd);
	if (!s->pack)
		return;
	gfs_pack_replay(s->pack, replay_record, s);
	gfs_pack_start(s->pack);
}

void gfs_chunkstore_packs(struct gfs_chunkstore *s,
			  struct gfs_chunkstore_packs *out)
{
	struct gfs_pack_stats st = { 0 };

	if (s->pack)
		gfs_pack_stats(s->pack, &st);
	out->chunks = st.live;
	out->bytes = st.live_bytes;
	out->segments = st.segments;
	out->disk_bytes = st.disk_bytes;
}

enum gfs_err gfs_chunkstore_open(const struct gfs_chunkstore_conf *conf,
				 struct gfs_chunkstore **out)
{
	struct gfs_chunkstore *s = gfs_xcalloc(1, sizeof(*s));
	enum gfs_err err;

	s->dir = gfs_xstrdup(conf->dir);
	s->cache_max = conf->cache_max ? conf->cache_max : DEFAULT_CACHE;
	s->reserve = conf->reserve;
	s->syncs = !conf->ack_in_memory;
	if (!s->syncs)
		gfs_warn("%s: --ack-in-memory: writes are acknowledged before "
			 "the disk has them; a power cut of every replica "
			 "within the kernel's writeback delay loses them",
			 s->dir);
	s->capacity = conf->capacity;
	s->on_corrupt = conf->on_corrupt;
	s->materialise = conf->materialise;
	s->cls = conf->cls;
	s->qdir = s->lockfd = s->chunks = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	err = open_dirs(s);
	if (err) {
		gfs_chunkstore_close(s);
		return err;
	}
	settle_xattr_max(s, conf, s->chunks);
	scan(s);
	s->inodes = gfs_inodepool_start(s->chunks, INODE_POOL,
					conf->named_creates, s->dir);
	open_packs(s, conf);  /* last: its thread may write chunk files */
	*out = s;
	return GFS_OK;
}

void gfs_chunkstore_close(struct gfs_chunkstore *s)
{
	struct chunk *e, *etmp;
	struct change *c, *ctmp;

	if (!s)
		return;
	gfs_pack_close(s->pack);  /* first: its thread calls back */
	gfs_inodepool_stop(s->inodes);
	HASH_ITER(hh, s->table, e, etmp)
		drop_entry(s, e);
	HASH_ITER(hh, s->changes, c, ctmp) {
		HASH_DEL(s->changes, c);
		free(c);
	}
	if (s->chunks >= 0)
		close(s->chunks);
	if (s->qdir >= 0)
		close(s->qdir);
	if (s->lockfd >= 0)
		close(s->lockfd);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s->dir);
	free(s);
}

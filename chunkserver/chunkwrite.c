/*
 * chunkwrite.c - a write to a chunk as a transaction (see chunkwrite.h).
 *
 * Modes, chosen in begin from what exists and what was asked:
 *
 *   NEW      no chunk yet: the data file is an unnamed inode taken from
 *            the store's pool (O_TMPFILE, inodepool.h), linked under the
 *            handle's name at commit, its meta set then.  Abort closes
 *            it and the inode is gone.  Where O_TMPFILE does not work
 *            (probed at open) the file is created under its name at
 *            begin instead (create_fresh), and abort unlinks it.
 *   APPEND   the body starts at or past the committed length: written in
 *            place beyond it (bytes past a stale length are cut first so
 *            a gap reads as zeros).  Abort cuts the file back.
 *   COW      the body overwrites committed bytes: a copy <handle>.tmp is
 *            written (copy_file_range of the untouched parts, in-kernel)
 *            and renamed over the data file at commit.  Readers keep the
 *            old inode until then.
 *   CLONE    a new chunk that starts as [0, L) of a chunk held here:
 *            copied like COW into a target made as NEW's, the clone
 *            source's CRCs carried over.
 *   FETCHED  a new chunk whose clone base came from a peer through the
 *            fetch function, into a target made as NEW's, CRCs computed
 *            on arrival.
 *   REPLACE  an existing chunk replaced whole (replication), via .tmp.
 *   PACK     a new chunk (not a clone, not a replace) whose body starts
 *            at 0 and has a known size of at most one block, when the
 *            store packs (pack.h): the body is kept in memory and
 *            committed as one record of a segment, no file at all
 *            (gfs_chunkstore_commit_packed).  When it cannot be packed
 *            now (no spare segment, a full disk, a failed write) the
 *            commit goes on as NEW's with the body from memory.
 *
 * A packed chunk is materialised before any other write to it
 * (materialise(), also gfs_chunkwrite_materialise for the pack's
 * reclaims): its committed version written as NEW writes a file, made
 * durable the same way, published by gfs_chunkstore_unpack_chunk (which
 * kills the record) while this writer still holds the chunk; the write
 * then goes on against the file.
 *
 * CRCs: blocks wholly before or after the written range keep the base's
 * CRCs; the blocks the write touches are recomputed as the bytes pass,
 * starting from the base's bytes at the start of the first block and ending
 * with the base's bytes at the end of the last (the "edges").  Those edge
 * bytes are read from the base and checked against its CRC first, so a bad
 * block is never blessed with a fresh CRC.  When the write starts exactly at
 * the old end, the stored CRC of the old partial block *is* the CRC of the
 * edge, and nothing is read.
 *
 * Durability at commit (make_durable): an unnamed target is first linked
 * under the chunk's name (link_target; a leftover file there, never a
 * chunk of the table, is replaced), before any fsync, so that the
 * file's fsync writes its inode with the link count, data and xattr in
 * one journal commit and the directory's fsync makes the name durable.
 * A crash before the commit leaves no name at all (the file system
 * frees an unnamed inode at mount), or, between the link and the meta,
 * a named file without meta: an orphan that start-up removes, as for a
 * file created by name.  The meta goes into the data file's
 * xattr when it fits (chunkmeta.h) and, for an APPEND, when the file
 * system replaces an xattr atomically (gfs_chunkstore_xattr_in_place);
 * else into <handle>.meta.
 *   xattr: [link]; the bytes written out and waited for; fsetxattr;
 *          fsync(target); for COW/REPLACE the .tmp renamed;
 *          fsync(directory) when a name changed (not for an APPEND).
 *          One journal commit for a new chunk.
 *   file:  [link]; fdatasync(target); meta written to .meta.tmp,
 *          fdatasync'ed and renamed (a chunk that had no meta yet gets
 *          it written in place, one journal commit fewer); for
 *          COW/REPLACE the data .tmp renamed after the meta (see
 *          chunkstore.c's invariants); fsync(directory).
 * With --ack-in-memory (gfs_chunkstore_syncs() false) the same steps run
 * without the waits for the disk (no write-out wait, no fsync or
 * fdatasync of the data, a .meta file or the directory): the reply
 * means the bytes are in this server's page cache.  A power cut before
 * writeback may then leave a meta over bytes that never reached the disk
 * (a checksum failure: quarantined, never served) or no chunk at all.
 * Only then is the version published.  During the body, writeback is
 * started every KICK_BYTES with sync_file_range() so that the final wait
 * is short.  Targets other than an APPEND's are always new inodes (from
 * the pool, or create_fresh), so no xattr but this write's is ever on
 * them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockcrc.h"
#include "chunkmeta.h"
#include "chunkwrite.h"
#include "constants.h"
#include "crc32c.h"
#include "inodepool.h"
#include "log.h"
#include "path.h"
#include "util.h"

/* Start writeback of the body every this many bytes. */
#define KICK_BYTES (8u << 20)
/* Space is reserved in steps of this much for bodies of unknown size. */
#define RESERVE_STEP (8u << 20)

enum mode { MODE_NEW, MODE_APPEND, MODE_COW, MODE_CLONE, MODE_FETCHED,
	    MODE_REPLACE, MODE_PACK };

struct gfs_chunkwrite {
	struct gfs_chunkstore *s;     /* borrowed */
	struct gfs_chunkstore_slot slot; /* the chunk as we found it */
	bool locked;                  /* we are its writer */
	bool committed;
	enum mode mode;
	uint64_t version;             /* being written */
	int fd;                       /* target file, owned until commit */
	uint8_t *body;                /* PACK: the body, size bytes, owned */
	bool tmp;                     /* target is <handle>.tmp */
	bool unnamed;                 /* target has no name yet: an
				       * unnamed inode, linked at commit */
	struct gfs_chunk_view *src;   /* COW/CLONE: where base bytes come
				       * from; APPEND: the old version; ref */
	uint64_t base_len;            /* bytes the chunk has before the body */
	uint32_t *base_crcs;          /* their CRCs, owned */
	uint32_t *crcs;               /* the new table, GFS_MAX_BLOCKS, owned */
	struct gfs_blockcrc bc;       /* filling crcs (or base_crcs while a
				       * fetch fills the base) */
	uint64_t off;                 /* body starts here */
	uint64_t pos;                 /* next body byte goes here */
	int64_t size;                 /* announced body size or -1 */
	uint64_t kicked;              /* writeback started below this */
	uint64_t extent;              /* target file bytes accounted */
	uint64_t promised;            /* reserved, not yet written */
	uint64_t consumed;            /* written, not yet committed */
	char msg[160];                /* why the last call failed */
};

static enum gfs_err fail(struct gfs_chunkwrite *w, enum gfs_err err,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum gfs_err fail(struct gfs_chunkwrite *w, enum gfs_err err,
			 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	return err;
}

static enum gfs_err io_fail(struct gfs_chunkwrite *w, const char *what)
{
	int e = errno;

	if (e == ENOSPC || e == EDQUOT)
		return fail(w, GFS_EDISKFULL, "%s: %s", what, strerror(e));
	return fail(w, GFS_EIO, "%s: %s", what, strerror(e));
}

static void names(uint64_t handle, char hex[17], char tmp[24])
{
	gfs_handle_fmt(handle, hex);
	snprintf(tmp, 24, "%s.tmp", hex);
}

/* --- space ------------------------------------------------------------ */

/* The target file now reaches end: account for it, reserving more when
 * the promise is used up. */
static enum gfs_err grow_to(struct gfs_chunkwrite *w, uint64_t end)
{
	uint64_t g, need, more;

	if (end <= w->extent)
		return GFS_OK;
	g = end - w->extent;
	if (g > w->promised) {
		need = g - w->promised;
		more = GFS_MAX(need, (uint64_t)RESERVE_STEP);
		if (gfs_chunkstore_reserve(w->s, more)) {
			if (more == need || gfs_chunkstore_reserve(w->s, need))
				return fail(w, GFS_EDISKFULL,
					    "no room for %llu more bytes",
					    (unsigned long long)need);
			more = need;
		}
		w->promised += more;
	}
	gfs_chunkstore_consume(w->s, g);
	w->promised -= g;
	w->consumed += g;
	w->extent = end;
	return GFS_OK;
}

/* Reserve what a body of known size needs, before any of it arrives. */
static enum gfs_err reserve_upfront(struct gfs_chunkwrite *w)
{
	uint64_t end = GFS_MAX(w->base_len, w->off), need = 0;

	if (w->size >= 0)
		end = GFS_MAX(end, w->off + (uint64_t)w->size);
	if (end > w->extent + w->promised)
		need = end - w->extent - w->promised;
	if (gfs_chunkstore_reserve(w->s, need))
		return fail(w, GFS_EDISKFULL,
			    "%llu bytes would not leave the reserve free",
			    (unsigned long long)need);
	w->promised += need;
	return GFS_OK;
}

/* --- base bytes -------------------------------------------------------- */

/* Read base block b into buf (verified unless it is our own fetched
 * copy); *len gets its length within the base. */
static enum gfs_err read_base_block(struct gfs_chunkwrite *w, uint32_t b,
				    char *buf, size_t *len)
{
	uint64_t at = (uint64_t)b * GFS_BLOCK_SIZE;
	size_t got;
	enum gfs_err err;
	ssize_t n;

	*len = (size_t)GFS_MIN((uint64_t)GFS_BLOCK_SIZE, w->base_len - at);
	if (w->mode == MODE_FETCHED) {
		n = gfs_pread_all(w->fd, buf, *len, (off_t)at);
		if (n < 0 || (size_t)n < *len)
			return io_fail(w, "reading back the clone base");
		return GFS_OK;
	}
	err = gfs_chunkstore_read_blocks(w->s, w->src, b, 1, buf, &got);
	if (err)
		return fail(w, err, "base chunk block %u %s", b,
			    err == GFS_ECORRUPT ? "is corrupt"
						: strerror(errno));
	return GFS_OK;
}

/* Copy [from, to) of the source file into the target at the same place. */
static enum gfs_err copy_range(struct gfs_chunkwrite *w, uint64_t from,
			       uint64_t to)
{
	loff_t in = (loff_t)(from + w->src->base), out = (loff_t)from;
	static const size_t step = 8u << 20;
	char *buf = NULL;
	enum gfs_err err = GFS_OK;

	while (out < (loff_t)to) {
		size_t n = (size_t)GFS_MIN((uint64_t)step, to - (uint64_t)out);
		ssize_t r = copy_file_range(w->src->fd, &in, w->fd, &out, n, 0);

		if (r > 0)
			continue;
		if (r == 0) {
			err = fail(w, GFS_EIO, "base shorter than its length");
			break;
		}
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP) {
			err = io_fail(w, "copying the base");
			break;
		}
		/* no in-kernel copy here: a plain one */
		if (!buf)
			buf = gfs_xmalloc(step);
		r = gfs_pread_all(w->src->fd, buf, n, in);
		if (r <= 0 || gfs_pwrite_all(w->fd, buf, (size_t)r, out) < 0) {
			err = io_fail(w, "copying the base");
			break;
		}
		in += r;
		out += r;
	}
	free(buf);
	return err ? err : grow_to(w, to);
}

/* The base's CRC table, clipped to base_len (the last block recomputed
 * when a clone takes fewer bytes than its source has). */
static enum gfs_err take_base_crcs(struct gfs_chunkwrite *w)
{
	uint32_t nb = GFS_NBLOCKS(w->base_len), last;
	char *buf;
	size_t len;
	enum gfs_err err;

	w->base_crcs = gfs_xmalloc(4 * (size_t)GFS_MAX(nb, 1u));
	memcpy(w->base_crcs, w->src->crcs, 4 * (size_t)nb);
	if (!nb || w->base_len == w->src->length ||
	    w->base_len % GFS_BLOCK_SIZE == 0)
		return GFS_OK;
	last = nb - 1;
	buf = gfs_xmalloc(GFS_BLOCK_SIZE);
	err = gfs_chunkstore_read_blocks(w->s, w->src, last, 1, buf, &len);
	if (!err)
		w->base_crcs[last] = gfs_crc32c(0, buf,
						w->base_len % GFS_BLOCK_SIZE);
	else
		fail(w, err, "clone source block %u is corrupt", last);
	free(buf);
	return err;
}

/* --- choosing a mode and opening the target --------------------------- */

/* Create dirfd/name as a new, empty inode: never one left by an earlier
 * write, which could carry a meta xattr that would then outrank the meta
 * this write commits (a name still there is unlinked first). */
static int create_fresh(int dirfd, const char *name)
{
	int flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
	int fd = openat(dirfd, name, flags, 0644);

	if (fd < 0 && errno == EEXIST && unlinkat(dirfd, name, 0) == 0)
		fd = openat(dirfd, name, flags, 0644);
	return fd;
}

/* The target of a new chunk (NEW, CLONE, FETCHED): an unnamed inode from
 * the store's pool, else (no O_TMPFILE here, or none could be made) a
 * file created under the chunk's name. */
static int open_new(struct gfs_chunkwrite *w, const char *hex)
{
	w->fd = gfs_chunkstore_take_inode(w->s);
	w->unnamed = w->fd >= 0;
	if (w->fd < 0)
		w->fd = create_fresh(w->slot.dirfd, hex);
	return w->fd;
}

static enum gfs_err open_target(struct gfs_chunkwrite *w)
{
	char hex[17], tmp[24];
	struct stat st;

	names(w->slot.handle, hex, tmp);
	w->tmp = w->mode == MODE_COW || w->mode == MODE_REPLACE;
	if (w->tmp)
		w->fd = create_fresh(w->slot.dirfd, tmp);
	else if (w->mode != MODE_APPEND)
		open_new(w, hex);
	else
		w->fd = openat(w->slot.dirfd, hex, O_RDWR | O_CLOEXEC);
	if (w->fd < 0)
		return io_fail(w, "opening the chunk file");
	if (w->mode != MODE_APPEND)
		return GFS_OK;
	/* bytes past the committed length are leftovers of an aborted
	 * write: cut them so that a gap reads as zeros */
	if (fstat(w->fd, &st) < 0 ||
	    ((uint64_t)st.st_size > w->base_len &&
	     ftruncate(w->fd, (off_t)w->base_len) < 0))
		return io_fail(w, "trimming the chunk file");
	w->extent = w->base_len;
	return GFS_OK;
}

/* Local clone source, or GFS_ENOENT/GFS_ESTALE. */
static enum gfs_err open_clone_source(struct gfs_chunkwrite *w,
				      const struct gfs_chunkwrite_args *a)
{
	enum gfs_err err = gfs_chunkstore_get_view(w->s, a->clone_handle,
						   false, &w->src);

	if (err)
		return err;
	if (w->src->version != a->clone_version) {
		gfs_chunkstore_put_view(w->s, w->src);
		w->src = NULL;
		return GFS_ESTALE;
	}
	w->base_len = GFS_MIN(a->clone_length, w->src->length);
	return GFS_OK;
}

/* A clone whose source is elsewhere: fetch it into the target now. */
static enum gfs_err fetch_base(struct gfs_chunkwrite *w,
			       const struct gfs_chunkwrite_args *a,
			       enum gfs_err local_err)
{
	enum gfs_err err;
	char hex[17];

	gfs_handle_fmt(a->clone_handle, hex);
	if (!a->fetch)
		return fail(w, local_err, "clone source %s v%llu %s", hex,
			    (unsigned long long)a->clone_version,
			    local_err == GFS_ESTALE ? "held at another version"
						    : "not held here");
	w->mode = MODE_FETCHED;
	err = open_target(w);
	if (err)
		return err;
	w->base_crcs = gfs_xmalloc(4 * (size_t)GFS_MAX_BLOCKS);
	gfs_blockcrc_init(&w->bc, w->base_crcs, 0, 0, 0);
	err = a->fetch(a->fetch_cls, a->clone_handle, a->clone_version,
		       a->clone_length, w);
	gfs_blockcrc_finish(&w->bc);
	if (err && !w->msg[0])
		fail(w, err, "cannot fetch clone source %s v%llu", hex,
		     (unsigned long long)a->clone_version);
	if (!err && a->clone_length != UINT64_MAX &&
	    w->base_len != a->clone_length)
		err = fail(w, GFS_EIO, "clone source %s sent %llu of %llu "
			   "bytes", hex, (unsigned long long)w->base_len,
			   (unsigned long long)a->clone_length);
	return err;
}

static enum gfs_err choose_mode(struct gfs_chunkwrite *w,
				const struct gfs_chunkwrite_args *a)
{
	enum gfs_err err;

	if (w->slot.existed) {
		if (a->replace) {
			w->mode = MODE_REPLACE;
			return GFS_OK;
		}
		err = gfs_chunkstore_get_view(w->s, w->slot.handle, false,
					      &w->src);
		if (err)
			return fail(w, err, "the stored chunk is unreadable");
		w->base_len = w->src->length;
		w->mode = a->offset >= w->base_len ? MODE_APPEND : MODE_COW;
		return take_base_crcs(w);
	}
	if (!a->clone) {
		w->mode = !a->replace && a->offset == 0 && a->size >= 0 &&
					  gfs_chunkstore_packable(
						  w->s, (uint64_t)a->size)
				  ? MODE_PACK
				  : MODE_NEW;
		if (w->mode == MODE_PACK)
			w->body = gfs_xmalloc(GFS_MAX((size_t)a->size, 1u));
		return GFS_OK;
	}
	err = open_clone_source(w, a);
	if (err)
		return fetch_base(w, a, err);
	w->mode = MODE_CLONE;
	return take_base_crcs(w);
}

/* --- the CRC builder's start ------------------------------------------ */

/* Point the builder at the first block the write changes (see top). */
static enum gfs_err start_crcs(struct gfs_chunkwrite *w)
{
	uint64_t d = GFS_MIN(w->off, w->base_len);
	uint32_t blk = (uint32_t)(d / GFS_BLOCK_SIZE);
	uint32_t r = (uint32_t)(d % GFS_BLOCK_SIZE);
	enum gfs_err err;
	char *buf;
	size_t len;

	w->crcs = gfs_xmalloc(4 * (size_t)GFS_MAX_BLOCKS);
	if (blk)
		memcpy(w->crcs, w->base_crcs, 4 * (size_t)blk);
	if (r == 0) {
		gfs_blockcrc_init(&w->bc, w->crcs, blk, 0, 0);
	} else if (d == w->base_len) {
		gfs_blockcrc_init(&w->bc, w->crcs, blk, w->base_crcs[blk], r);
	} else {
		buf = gfs_xmalloc(GFS_BLOCK_SIZE);
		err = read_base_block(w, blk, buf, &len);
		if (!err)
			gfs_blockcrc_init(&w->bc, w->crcs, blk,
					  gfs_crc32c(0, buf, r), r);
		free(buf);
		if (err)
			return err;
	}
	if (w->off > w->base_len)
		gfs_blockcrc_feed_zeros(&w->bc, w->off - w->base_len);
	return GFS_OK;
}

/* Copy what precedes the body into a COW/CLONE target. */
static enum gfs_err copy_prefix(struct gfs_chunkwrite *w)
{
	if (w->mode != MODE_COW && w->mode != MODE_CLONE)
		return GFS_OK;
	return copy_range(w, 0, GFS_MIN(w->off, w->base_len));
}

static enum gfs_err check_args(struct gfs_chunkwrite *w,
			       const struct gfs_chunkwrite_args *a)
{
	if (!a->version)
		return fail(w, GFS_EINVAL, "version must be at least 1");
	if (a->offset > GFS_MAX_CHUNK_SIZE ||
	    (a->size > 0 &&
	     (uint64_t)a->size > GFS_MAX_CHUNK_SIZE - a->offset))
		return fail(w, GFS_ETOOBIG, "a chunk ends at %llu bytes",
			    (unsigned long long)GFS_MAX_CHUNK_SIZE);
	if (a->clone && (!a->clone_version || a->clone_length == 0))
		return fail(w, GFS_EINVAL, "clone needs clone_version >= 1 "
			    "and clone_length >= 1");
	return GFS_OK;
}

static enum gfs_err materialise(struct gfs_chunkwrite *w);

static enum gfs_err begin(struct gfs_chunkwrite *w,
			  const struct gfs_chunkwrite_args *a)
{
	enum gfs_err err = check_args(w, a);

	if (err)
		return err;
	err = gfs_chunkstore_lock_chunk(w->s, a->handle, a->wait_ms, &w->slot);
	if (err)
		return fail(w, err, "another write to this chunk is under way");
	w->locked = true;
	if (w->slot.existed && a->version <= w->slot.version)
		return fail(w, GFS_ESTALE, "version %llu is not newer than "
			    "the stored %llu", (unsigned long long)a->version,
			    (unsigned long long)w->slot.version);
	if (w->slot.packed) {
		err = materialise(w);
		if (err)
			return err;
	}
	err = choose_mode(w, a);
	if (!err && w->mode != MODE_FETCHED && w->mode != MODE_PACK)
		err = open_target(w);
	if (!err)
		err = reserve_upfront(w);
	if (!err)
		err = copy_prefix(w);
	if (!err)
		err = start_crcs(w);
	return err;
}

enum gfs_err gfs_chunkwrite_begin(struct gfs_chunkstore *s,
				  const struct gfs_chunkwrite_args *a,
				  struct gfs_chunkwrite **out, char *msg,
				  size_t msglen)
{
	struct gfs_chunkwrite *w = gfs_xcalloc(1, sizeof(*w));
	enum gfs_err err;

	w->s = s;
	w->fd = -1;
	w->slot.dirfd = -1;
	w->version = a->version;
	w->off = w->pos = w->kicked = a->offset;
	w->size = a->size;
	err = begin(w, a);
	if (err) {
		if (msg)
			snprintf(msg, msglen, "%s", w->msg);
		gfs_chunkwrite_free(w);
		*out = NULL;
		return err;
	}
	*out = w;
	return GFS_OK;
}

/* --- the body ---------------------------------------------------------- */

/* Start writeback of what was written since the last kick. */
static void kick(struct gfs_chunkwrite *w)
{
	if (w->pos - w->kicked < KICK_BYTES)
		return;
	sync_file_range(w->fd, (off_t)w->kicked, (off_t)(w->pos - w->kicked),
			SYNC_FILE_RANGE_WRITE);
	w->kicked = w->pos;
}

enum gfs_err gfs_chunkwrite_data(struct gfs_chunkwrite *w, const void *buf,
				 size_t len)
{
	enum gfs_err err;

	w->msg[0] = '\0';
	if (len > GFS_MAX_CHUNK_SIZE - w->pos)
		return fail(w, GFS_ETOOBIG, "a chunk ends at %llu bytes",
			    (unsigned long long)GFS_MAX_CHUNK_SIZE);
	if (w->size >= 0 && w->pos - w->off + len > (uint64_t)w->size)
		return fail(w, GFS_EINVAL, "more bytes than announced");
	err = grow_to(w, w->pos + len);
	if (err)
		return err;
	if (w->mode == MODE_PACK)
		memcpy(w->body + w->pos, buf, len);  /* off is 0 */
	else if (gfs_pwrite_all(w->fd, buf, len, (off_t)w->pos) < 0)
		return io_fail(w, "writing the chunk");
	gfs_blockcrc_feed(&w->bc, buf, len);
	w->pos += len;
	if (w->mode != MODE_PACK)
		kick(w);
	return GFS_OK;
}

enum gfs_err gfs_chunkwrite_base(struct gfs_chunkwrite *w, const void *buf,
				 size_t len)
{
	enum gfs_err err;

	if (len > GFS_MAX_CHUNK_SIZE - w->base_len)
		return fail(w, GFS_ETOOBIG, "clone source too large");
	err = grow_to(w, w->base_len + len);
	if (err)
		return err;
	if (gfs_pwrite_all(w->fd, buf, len, (off_t)w->base_len) < 0)
		return io_fail(w, "writing the clone base");
	gfs_blockcrc_feed(&w->bc, buf, len);
	w->base_len += len;
	return GFS_OK;
}

/* --- commit ------------------------------------------------------------ */

/* Past the body: the base's bytes up to the end of the last touched
 * block go into its CRC, and (COW/CLONE) the rest of the base is copied. */
static enum gfs_err finish_suffix(struct gfs_chunkwrite *w)
{
	uint64_t e = w->pos;
	uint32_t b = (uint32_t)(e / GFS_BLOCK_SIZE), r;
	enum gfs_err err = GFS_OK;
	char *buf;
	size_t len;

	if (e >= w->base_len)
		return GFS_OK;
	r = (uint32_t)(e % GFS_BLOCK_SIZE);
	if (r) {
		buf = gfs_xmalloc(GFS_BLOCK_SIZE);
		err = read_base_block(w, b, buf, &len);
		if (!err)
			gfs_blockcrc_feed(&w->bc, buf + r, len - r);
		free(buf);
	}
	if (!err && (w->mode == MODE_COW || w->mode == MODE_CLONE))
		err = copy_range(w, e, w->base_len);
	return err;
}

/* The complete new table: blocks past the last touched one keep theirs. */
static uint32_t finish_crcs(struct gfs_chunkwrite *w, uint64_t length)
{
	uint32_t nb = GFS_NBLOCKS(length), b;

	gfs_blockcrc_finish(&w->bc);
	for (b = w->bc.next; b < nb; b++)
		w->crcs[b] = w->base_crcs[b];
	return nb;
}

/*
 * Write out the target's dirty bytes and wait until the disk has them,
 * without a journal commit: a meta set after this describes bytes already
 * written, and the one fsync that follows commits the meta with a cache
 * flush that covers those bytes.  So even a crash while that fsync runs
 * (another process's commit can carry our meta early) cannot leave a meta
 * over bytes that never reached the disk: on ext4 (with dioread_nolock the
 * extents are converted, and i_size moved, when this wait ends) the meta's
 * transaction is then no earlier than the one of the bytes' allocation.
 */
static enum gfs_err write_out(struct gfs_chunkwrite *w)
{
	if (sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
			    SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) < 0)
		return io_fail(w, "writing out the chunk");
	return GFS_OK;
}

/* Rename the target <handle>.tmp over <handle>. */
static enum gfs_err rename_target(struct gfs_chunkwrite *w)
{
	char hex[17], tmp[24];

	names(w->slot.handle, hex, tmp);
	if (renameat(w->slot.dirfd, tmp, w->slot.dirfd, hex) < 0)
		return io_fail(w, "renaming the new chunk file");
	w->tmp = false;
	return GFS_OK;
}

/* Drop a <handle>.meta the xattr now outranks (ENOENT is the usual case:
 * only a chunk that had its meta in a file has one).  Not synced: a stale
 * meta file that comes back after a crash is ignored and removed at
 * start-up (chunkmeta.h's precedence). */
static void drop_meta_file(struct gfs_chunkwrite *w)
{
	char hex[17], meta[32];

	gfs_handle_fmt(w->slot.handle, hex);
	snprintf(meta, sizeof(meta), "%s.meta", hex);
	unlinkat(w->slot.dirfd, meta, 0);
}

/*
 * Commit with the meta in the target's xattr.  GFS_ETOOBIG when the file
 * system will not take it, before anything changed: the caller falls back
 * to commit_file().  The commit point is:
 *   NEW, CLONE, FETCHED  the fsync of the new file, linked under its name
 *                        by make_durable before (then the directory fsync
 *                        for its name): one journal commit for the
 *                        inode's link count, data and meta, where a .meta
 *                        file took two;
 *   APPEND               the fsync after fsetxattr, which replaces the old
 *                        value atomically (journaled: meta_in_xattr()
 *                        checked that): a crash leaves the old meta,
 *                        which never covers the appended bytes, or the
 *                        new one over bytes already written out.
 *                        No .meta.tmp, no rename, no directory fsync;
 *   COW, REPLACE         the rename of the .tmp, whose data and xattr are
 *                        fsync'ed first.
 * fsync, not fdatasync: the xattr carries the commit, and an xattr is not
 * needed to read the data, so fdatasync is free to leave it unwritten.
 */
static enum gfs_err commit_xattr(struct gfs_chunkwrite *w,
				 const struct gfs_chunkmeta *m)
{
	bool unsupported, syncs = gfs_chunkstore_syncs(w->s);
	enum gfs_err err = syncs ? write_out(w) : GFS_OK;

	if (err)
		return err;
	err = gfs_chunkmeta_set_xattr(w->fd, m, &unsupported);
	if (err == GFS_ETOOBIG && unsupported)
		gfs_chunkstore_no_xattrs(w->s);
	if (err == GFS_ETOOBIG)
		return err;
	if (err)
		return io_fail(w, "setting the meta xattr");
	if (syncs && fsync(w->fd) < 0)
		return io_fail(w, "fsync of the chunk");
	if (w->tmp) {
		err = rename_target(w);
		if (err)
			return err;
	}
	if (w->slot.existed)
		drop_meta_file(w);
	if (syncs && (w->tmp || !w->slot.existed) &&
	    fsync(w->slot.dirfd) < 0)
		return io_fail(w, "fsync of the chunk directory");
	return GFS_OK;
}

/*
 * Commit with the meta in <handle>.meta (a new target already linked by
 * make_durable; the directory fsync commits its link, which the
 * transaction of the .meta file's creation follows): fdatasync(data); the
 * meta file
 * (replaced through .meta.tmp when the chunk existed, written in place for
 * a new one); the data .tmp renamed after it (see chunkstore.c's
 * invariants); fsync(directory).  An APPEND to a chunk whose meta was in
 * the xattr (it outgrew it) removes the xattr last: until that removal is
 * durable the old xattr meta rules, and the new .meta file, complete and
 * durable by then, is ignored as stale.
 */
static enum gfs_err commit_file(struct gfs_chunkwrite *w,
				const struct gfs_chunkmeta *m)
{
	bool syncs = gfs_chunkstore_syncs(w->s);
	enum gfs_err err;

	if (syncs && fdatasync(w->fd) < 0)
		return io_fail(w, "fdatasync of the chunk");
	err = gfs_chunkmeta_write(w->slot.dirfd, m, w->slot.existed, syncs);
	if (err)
		return fail(w, err, "writing the meta file: %s",
			    strerror(errno));
	if (w->tmp) {
		err = rename_target(w);
		if (err)
			return err;
	}
	if (syncs && fsync(w->slot.dirfd) < 0)
		return io_fail(w, "fsync of the chunk directory");
	if (w->mode != MODE_APPEND)
		return GFS_OK; /* a new inode: it has no xattr */
	err = gfs_chunkmeta_remove_xattr(w->fd);
	if (err == GFS_ENOENT)
		return GFS_OK;
	if (err || (syncs && fsync(w->fd) < 0))
		return io_fail(w, "removing the meta xattr");
	return GFS_OK;
}

/* Whether the meta of this write may go into the target's xattr: it
 * fits, the file system takes xattrs, and the target is a new inode or
 * the file system replaces an xattr atomically (an APPEND writes over
 * the one meta of a committed version: where a crash may tear that, the
 * .meta file's rename keeps the old meta whole until the new one is). */
static bool meta_in_xattr(struct gfs_chunkwrite *w, uint32_t nb)
{
	return gfs_chunkstore_meta_in_xattr(w->s, nb) &&
	       (w->mode != MODE_APPEND || gfs_chunkstore_xattr_in_place(w->s));
}

/* Give an unnamed target its chunk's name (a leftover there is
 * replaced: gfs_inodepool_link).  Done before any fsync, so that the
 * fsync of the file writes the inode with its link, data and xattr, and
 * the directory's fsync the name; until the meta is set the named file
 * is an orphan like any uncommitted one (start-up removes it). */
static enum gfs_err link_target(struct gfs_chunkwrite *w)
{
	char hex[17];

	if (!w->unnamed)
		return GFS_OK;
	gfs_handle_fmt(w->slot.handle, hex);
	if (gfs_inodepool_link(w->fd, w->slot.dirfd, hex) < 0)
		return io_fail(w, "linking the new chunk file");
	w->unnamed = false;
	return GFS_OK;
}

/* Make the written bytes and their meta durable, in the xattr when
 * meta_in_xattr(), else in a .meta file; an unnamed target is linked
 * first. */
static enum gfs_err make_durable(struct gfs_chunkwrite *w, uint64_t length,
				 uint32_t nb)
{
	struct gfs_chunkmeta m = {
		.handle = w->slot.handle, .version = w->version,
		.length = length, .mtime_ns = gfs_now_ns(), .nblocks = nb,
		.crcs = w->crcs,
	};
	enum gfs_err err = link_target(w);

	if (err)
		return err;
	err = GFS_ETOOBIG;
	if (meta_in_xattr(w, nb))
		err = commit_xattr(w, &m);
	if (err == GFS_ETOOBIG)
		err = commit_file(w, &m);
	return err;
}

/*
 * Commit a PACK write as a record (*packed true).  When it could not be
 * packed now (*packed false) the target is a NEW file holding the body,
 * for make_durable.
 */
static enum gfs_err commit_packed(struct gfs_chunkwrite *w, uint64_t len,
				  uint32_t nb, bool *packed)
{
	uint32_t crc = nb ? w->crcs[0] : 0;
	enum gfs_err err;

	*packed = false;
	err = gfs_chunkstore_commit_packed(w->s, w->slot.handle, w->version,
					   w->body, (uint32_t)len, crc);
	if (!err) {
		w->committed = *packed = true;
		w->locked = false;  /* commit_packed released it */
		return GFS_OK;
	}
	if (err != GFS_EUNAVAIL && err != GFS_EIO)
		return fail(w, err, "packing the chunk failed");
	w->mode = MODE_NEW;
	err = open_target(w);
	if (err)
		return err;
	if (gfs_pwrite_all(w->fd, w->body, len, 0) < 0)
		return io_fail(w, "writing the chunk");
	return GFS_OK;
}

/* Discard a materialise's target that never became the chunk. */
static void drop_target(struct gfs_chunkwrite *w)
{
	char hex[17];

	gfs_handle_fmt(w->slot.handle, hex);
	if (w->fd >= 0 && !w->unnamed)
		unlinkat(w->slot.dirfd, hex, 0);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->unnamed = false;
	free(w->crcs);
	w->crcs = NULL;
}

/* Write the packed version as a file (see the top); w holds the chunk. */
static enum gfs_err materialise(struct gfs_chunkwrite *w)
{
	uint64_t version = w->version;
	struct gfs_chunk_view *v;
	char *buf = NULL;
	enum gfs_err err;
	size_t got = 0;

	err = gfs_chunkstore_get_view(w->s, w->slot.handle, false, &v);
	if (err)
		return fail(w, err, "the packed chunk is unreadable");
	buf = gfs_xmalloc(GFS_BLOCK_SIZE);
	if (v->nblocks)
		err = gfs_chunkstore_read_blocks(w->s, v, 0, 1, buf, &got);
	if (err) {
		fail(w, err, "the packed chunk is %s",
		     err == GFS_ECORRUPT ? "corrupt" : strerror(errno));
		goto out;
	}
	w->mode = MODE_NEW;  /* a new file, named and synced as NEW's */
	w->version = v->version;
	w->slot.existed = false;
	err = open_target(w);
	if (!err && gfs_pwrite_all(w->fd, buf, got, 0) < 0)
		err = io_fail(w, "writing the materialised chunk");
	if (!err) {
		w->crcs = gfs_xmalloc(sizeof(*w->crcs));
		w->crcs[0] = v->crcs[0];
		err = make_durable(w, v->length, v->nblocks);
	}
	if (!err) {
		gfs_chunkstore_unpack_chunk(w->s, w->slot.handle, w->fd,
					    w->crcs);
		w->fd = -1;
		w->crcs = NULL;
		w->slot.packed = false;
	} else {
		drop_target(w);
	}
	w->slot.existed = true;
	w->version = version;
out:
	free(buf);
	gfs_chunkstore_put_view(w->s, v);
	return err;
}

enum gfs_err gfs_chunkwrite_materialise(struct gfs_chunkstore *s,
					uint64_t handle, long wait_ms)
{
	struct gfs_chunkwrite *w = gfs_xcalloc(1, sizeof(*w));
	enum gfs_err err;

	w->s = s;
	w->fd = -1;
	w->slot.dirfd = -1;
	err = gfs_chunkstore_lock_chunk(s, handle, wait_ms, &w->slot);
	if (!err) {
		w->locked = true;
		if (w->slot.packed)
			err = materialise(w);
	}
	if (err && err != GFS_ESTALE)  /* busy: its writer materialises */
		gfs_warn("chunk %016llx: not moved out of its pack: %s",
			 (unsigned long long)handle,
			 w->msg[0] ? w->msg : gfs_err_str(err));
	gfs_chunkwrite_free(w);
	return err;
}

enum gfs_err gfs_chunkwrite_commit(struct gfs_chunkwrite *w,
				   uint64_t *length)
{
	bool packed;
	uint64_t len;
	enum gfs_err err;
	uint32_t nb;

	w->msg[0] = '\0';
	if (w->size >= 0 && w->pos - w->off != (uint64_t)w->size)
		return fail(w, GFS_EINVAL, "body ended after %llu of %lld bytes",
			    (unsigned long long)(w->pos - w->off),
			    (long long)w->size);
	err = finish_suffix(w);
	if (err)
		return err;
	len = GFS_MAX(w->base_len, w->pos);
	nb = finish_crcs(w, len);
	if (w->mode == MODE_PACK) {
		err = commit_packed(w, len, nb, &packed);
		if (err || packed) {
			*length = len;
			return err;
		}
	}
	err = make_durable(w, len, nb);
	if (err)
		return err;
	w->crcs = gfs_xrealloc(w->crcs, 4 * (size_t)GFS_MAX(nb, 1u));
	w->committed = true;
	w->locked = false;  /* commit_chunk releases it */
	err = gfs_chunkstore_commit_chunk(w->s, w->slot.handle, w->version,
					  len, w->fd, w->crcs);
	w->fd = -1;
	w->crcs = NULL;
	if (err)
		return fail(w, err, "the chunk was found corrupt meanwhile");
	*length = len;
	return GFS_OK;
}

const char *gfs_chunkwrite_error(const struct gfs_chunkwrite *w)
{
	return w->msg;
}

uint64_t gfs_chunkwrite_received(const struct gfs_chunkwrite *w)
{
	return w->pos - w->off;
}

/* Undo the files of an uncommitted write. */
static void abort_files(struct gfs_chunkwrite *w)
{
	char hex[17], tmp[24];

	names(w->slot.handle, hex, tmp);
	if (w->tmp)
		unlinkat(w->slot.dirfd, tmp, 0);
	else if (w->mode == MODE_APPEND && w->fd >= 0)
		(void)!ftruncate(w->fd, (off_t)w->base_len);
	else if (w->fd >= 0 && !w->slot.existed && !w->unnamed)
		unlinkat(w->slot.dirfd, hex, 0);
	/* an unnamed target goes with its fd */
}

void gfs_chunkwrite_free(struct gfs_chunkwrite *w)
{
	if (!w)
		return;
	if (!w->committed && w->locked)
		abort_files(w);
	if (w->fd >= 0)
		close(w->fd);
	if (w->src)
		gfs_chunkstore_put_view(w->s, w->src);
	if (w->locked)
		gfs_chunkstore_unlock_chunk(w->s, w->slot.handle);
	if (w->slot.dirfd >= 0)
		close(w->slot.dirfd);
	gfs_chunkstore_release(w->s, w->promised, w->consumed);
	free(w->base_crcs);
	free(w->crcs);
	free(w->body);
	free(w);
}

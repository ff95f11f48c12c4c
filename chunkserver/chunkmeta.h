/*
 * chunkmeta.h - a chunk's metadata: its format and its two homes.
 *
 * The meta holds what the raw data file cannot say about itself: the
 * handle, the version, the length and the CRC32C of every 64 KiB block,
 * followed by a CRC32C of all of that, so that a torn or flipped meta is
 * recognised instead of being believed.  Layout (little-endian):
 *
 *     0  magic "GFSCMETA"        8 bytes
 *     8  format (1)              u32
 *    12  block size (65536)      u32
 *    16  handle                  u64
 *    24  version                 u64
 *    32  length                  u64
 *    40  mtime_ns of the write   i64
 *    48  nblocks = ceil(length / block size)   u32
 *    52  reserved (0)            u32
 *    56  crc[nblocks]            u32 each
 *    ..  CRC32C of bytes [0, 56 + 4 * nblocks)   u32
 *
 * The same bytes live in one of two places:
 *
 *   - the extended attribute user.gfs.meta of the data file itself, when
 *     they fit (GFS_CHUNKMETA_XATTR_MAX, chunks up to 61.5 MiB) and the
 *     file system takes user xattrs: one inode per chunk, one fsync per
 *     new chunk, and fsetxattr replaces the value atomically;
 *   - the file <handle>.meta beside it otherwise.  A meta file is replaced
 *     whole (write a temporary, fdatasync, rename), so on disk it is
 *     always one consistent snapshot (or, for a chunk created and never
 *     committed, a torn one that start-up quarantines).
 *
 * Precedence: a data file that has the xattr is described by it, valid
 * or not, and any <handle>.meta beside it is stale (left by a crash
 * between two steps of a move from one home to the other) and never read;
 * only a data file without the xattr is described by <handle>.meta.
 * gfs_chunkmeta_load() is that rule; writers (chunkwrite.c) order their
 * steps so that it always names a complete, durable meta.
 *
 * Not for: the data file's bytes, the in-memory table (chunkstore.c).
 */
#ifndef GFS_CS_CHUNKMETA_H
#define GFS_CS_CHUNKMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define GFS_CHUNKMETA_MAGIC "GFSCMETA"
#define GFS_CHUNKMETA_FORMAT 1u
#define GFS_CHUNKMETA_HEADER 56u
/* The xattr holding the meta in the data file. */
#define GFS_CHUNKMETA_XATTR "user.gfs.meta"
/* Largest meta ever put in the xattr: 985 blocks, chunks up to 61.5 MiB.
 * ext4 keeps one xattr value in one block and refuses (ENOSPC) values
 * above about 4020 bytes with 4 KiB blocks; a 64 MiB chunk's meta (4156
 * bytes) therefore always goes to a file. */
#define GFS_CHUNKMETA_XATTR_MAX 4000u
/* The largest xattr value Linux has (XATTR_SIZE_MAX): what is read. */
#define GFS_CHUNKMETA_XATTR_LIMIT 65536u

/* Where a chunk's meta lives. */
enum gfs_chunkmeta_home {
	GFS_CHUNKMETA_IN_XATTR, /* user.gfs.meta of the data file */
	GFS_CHUNKMETA_IN_FILE,  /* <handle>.meta */
};

struct gfs_chunkmeta {
	uint64_t handle;
	uint64_t version;   /* >= 1 */
	uint64_t length;    /* <= GFS_MAX_CHUNK_SIZE */
	int64_t mtime_ns;   /* when this version was written */
	uint32_t nblocks;   /* GFS_NBLOCKS(length) */
	uint32_t *crcs;     /* nblocks CRCs; see each function for who owns */
};

/* Bytes of the encoded meta of a chunk of nblocks blocks. */
size_t gfs_chunkmeta_size(uint32_t nblocks);

/*
 * Write m as dirfd/<handle>.meta and, with sync, fdatasync it.  With
 * replace, an old meta is kept intact until the new one is whole:
 * <handle>.meta.tmp is written and synced, then renamed over it.  Without
 * (a chunk that never had a meta), the file is written in place, one
 * journal commit fewer; a crash midway leaves a torn meta, which start-up
 * quarantines.  The caller fsyncs dirfd to make the new name durable.
 * m->crcs is borrowed.  (sync false: --ack-in-memory.)
 */
enum gfs_err gfs_chunkmeta_write(int dirfd, const struct gfs_chunkmeta *m,
				 bool replace, bool sync);

/*
 * Read and check dirfd/<handle>.meta.  GFS_ENOENT when there is none,
 * GFS_ECORRUPT when it is torn, flipped, of another handle or otherwise
 * not a meta file we wrote (proof: the only error that may quarantine),
 * GFS_EIO with errno set when the system failed to read it (EMFILE,
 * ENOMEM, EIO...: no proof of anything).  With want_crcs,
 * m->crcs is a new array the caller frees with free(3); otherwise NULL.
 */
enum gfs_err gfs_chunkmeta_read(int dirfd, uint64_t handle,
				struct gfs_chunkmeta *m, bool want_crcs);

/*
 * Set m as the user.gfs.meta xattr of the data file fd, replacing any
 * (atomically: a crash leaves the old value or the new one).  Nothing is
 * synced: the caller fsyncs fd (fsync, not fdatasync: an xattr is not
 * needed to read the data, so fdatasync may leave it in memory).
 * GFS_ETOOBIG when the file system refuses it (no user xattrs, value too
 * large, no room for an xattr block): the caller keeps a .meta file
 * instead; *unsupported is then true when it refuses every user xattr.
 * GFS_EIO otherwise.  m->crcs is borrowed.
 */
enum gfs_err gfs_chunkmeta_set_xattr(int fd, const struct gfs_chunkmeta *m,
				     bool *unsupported);

/* Remove the xattr meta of fd.  GFS_ENOENT when it had none (or the file
 * system has no xattrs), GFS_EIO on a failure. */
enum gfs_err gfs_chunkmeta_remove_xattr(int fd);

/*
 * Read and check the xattr meta of the data file fd of handle, as
 * gfs_chunkmeta_read() does the file: GFS_ENOENT when fd has none,
 * GFS_ECORRUPT when it is not a whole meta of that handle, GFS_EIO.
 */
enum gfs_err gfs_chunkmeta_get_xattr(int fd, uint64_t handle,
				     struct gfs_chunkmeta *m, bool want_crcs);

/*
 * The one authoritative meta of handle, whose data file is open as fd in
 * dirfd (see the precedence at the top): the xattr when fd has one, else
 * dirfd/<handle>.meta.  Errors as gfs_chunkmeta_read(); GFS_ENOENT means
 * neither exists.  *home says which one was read (also on a failure).
 */
enum gfs_err gfs_chunkmeta_load(int dirfd, int fd, uint64_t handle,
				struct gfs_chunkmeta *m, bool want_crcs,
				enum gfs_chunkmeta_home *home);

/*
 * The largest encoded meta (bytes, at most GFS_CHUNKMETA_XATTR_MAX) that
 * the file system of dirfd takes as an xattr, found by trying on a
 * scratch file dirfd/name (removed); 0 when it takes none.  Start-up only.
 */
size_t gfs_chunkmeta_probe_xattr(int dirfd, const char *name);

/*
 * Whether an xattr replaced in place (fsetxattr over an existing value)
 * is, after a crash, either the old value or the new one on a file
 * system of statfs type f_type: true where metadata is journaled (ext3/4
 * with a journal, xfs, reiserfs, jfs) or never overwritten in place
 * (btrfs, zfs, bcachefs), or where nothing survives a crash at all
 * (tmpfs, ramfs).  False for the rest: ext2, ext4 without a journal, and
 * everything not known here.  journal says, for the ext2/3/4 magic,
 * whether that file system has a journal (1), not (0) or unknown (-1).
 * *name (static) names it for the log.
 */
bool gfs_chunkmeta_fs_atomic(unsigned long f_type, int journal,
			     const char **name);
/* gfs_chunkmeta_fs_atomic() for the file system of dirfd: fstatfs, and
 * for ext2/3/4 /sys/fs/ext4/DEV/journal_task ("<none>": no journal).
 * Start-up only. */
bool gfs_chunkmeta_probe_fs(int dirfd, const char **name);

#endif

/*
 * chunkmeta.h - the metadata file kept beside every chunk's data file.
 *
 * <handle>.meta holds what the raw data file cannot say about itself: the
 * handle, the version, the length and the CRC32C of every 64 KiB block,
 * followed by a CRC32C of all of that, so that a torn or flipped meta file
 * is recognised instead of being believed.  Layout (little-endian):
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
 * A meta file is replaced whole (write a temporary, fdatasync, rename), so
 * on disk it is always one consistent snapshot: the old one or the new one
 * (or, for a chunk created and never committed, a torn one that start-up
 * quarantines).
 *
 * Not for: the data file, the in-memory table (chunkstore.c).
 */
#ifndef GFS_CS_CHUNKMETA_H
#define GFS_CS_CHUNKMETA_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define GFS_CHUNKMETA_MAGIC "GFSCMETA"
#define GFS_CHUNKMETA_FORMAT 1u
#define GFS_CHUNKMETA_HEADER 56u

struct gfs_chunkmeta {
	uint64_t handle;
	uint64_t version;   /* >= 1 */
	uint64_t length;    /* <= GFS_MAX_CHUNK_SIZE */
	int64_t mtime_ns;   /* when this version was written */
	uint32_t nblocks;   /* GFS_NBLOCKS(length) */
	uint32_t *crcs;     /* nblocks CRCs; see each function for who owns */
};

/*
 * Write m as dirfd/<handle>.meta and fdatasync it.  With replace, an old
 * meta is kept intact until the new one is whole: <handle>.meta.tmp is
 * written and synced, then renamed over it.  Without (a chunk that never
 * had a meta), the file is written in place, one journal commit fewer; a
 * crash midway leaves a torn meta, which start-up quarantines.  The
 * caller fsyncs dirfd to make the new name durable.  m->crcs is borrowed.
 */
enum gfs_err gfs_chunkmeta_write(int dirfd, const struct gfs_chunkmeta *m,
				 bool replace);

/*
 * Read and check dirfd/<handle>.meta.  GFS_ENOENT when there is none,
 * GFS_ECORRUPT when it is torn, flipped, of another handle or otherwise
 * not a meta file we wrote, GFS_EIO on a read error.  With want_crcs,
 * m->crcs is a new array the caller frees with free(3); otherwise NULL.
 */
enum gfs_err gfs_chunkmeta_read(int dirfd, uint64_t handle,
				struct gfs_chunkmeta *m, bool want_crcs);

#endif

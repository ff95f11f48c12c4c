/*
 * inodepool.h - unnamed inodes made in advance for new chunk files.
 *
 * Creating a named file costs the file system's inode allocator (on ext4
 * 140-335 µs of CPU) on the critical path of every new chunk.  This pool
 * keeps up to a few O_TMPFILE inodes open, made by a background thread in
 * the data directory's chunks/ (the file system of every chunk name); a
 * writer takes one, writes the chunk into it, and links it under its name
 * at commit (gfs_inodepool_link).  An inode never linked vanishes when its
 * fd is closed or the machine stops: an aborted or interrupted write leaves
 * no name behind.
 *
 * For: NEW, CLONE and FETCHED targets of chunkwrite.c.
 * Not for: targets renamed over an existing chunk (<handle>.tmp), appends.
 *
 * Invariants: every fd in the pool is an O_TMPFILE|O_RDWR inode with no
 * name, no data and no xattr; the pool holds at most cap of them.
 *
 * Locking: one mutex guards the pool; it is never held across a system
 * call.  The refill thread waits on a condition with a deadline.
 */
#ifndef GFS_CS_INODEPOOL_H
#define GFS_CS_INODEPOOL_H

#include <stdbool.h>

struct gfs_inodepool;

/* Probe dirfd (borrowed; must outlive the pool): can an O_TMPFILE inode
 * be made there and linked by its /proc/self/fd name?  If so, start a
 * pool of cap inodes with its refill thread and return it; else (or when
 * disabled) log why and return NULL: callers create named files instead.
 * The choice is logged at info with label (the data directory). */
struct gfs_inodepool *gfs_inodepool_start(int dirfd, unsigned cap,
					  bool disabled, const char *label);
/* An fd of a fresh unnamed inode (caller owns it): from the pool, else
 * made now.  -1 with errno when none can be made. */
int gfs_inodepool_take(struct gfs_inodepool *p);
/* Give unnamed inode fd (from take) the name dirfd/name; a name already
 * there (never a committed chunk: a leftover) is replaced.  0 or -1 with
 * errno. */
int gfs_inodepool_link(int fd, int dirfd, const char *name);
/* Stop and join the thread, close the pooled fds, free p (NULL: no-op). */
void gfs_inodepool_stop(struct gfs_inodepool *p);

#endif

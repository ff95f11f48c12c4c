/*
 * window.h - the bytes of a chunk write kept until its replicas
 * acknowledge them, so that a PUT whose first server fails can be sent
 * again elsewhere (common/file.c).
 *
 * A struct gfs_window holds one PUT's bytes in fixed blocks of
 * GFS_WINDOW_BLOCK: one copy in, none out (the blocks are pushed as they
 * are), no allocation per write once blocks circulate.  The blocks come
 * from a struct gfs_window_pool that a client's open files share and
 * that caps the bytes all their windows keep: a window's first block is
 * granted even beyond the budget, so that every writer makes progress;
 * any further one only within it.  Idle blocks are kept for reuse, never
 * more than the budget.
 *
 * Invariants: a window's bytes are contiguous, block i holding bytes
 * [i * GFS_WINDOW_BLOCK, (i + 1) * GFS_WINDOW_BLOCK); blocks lent exceed
 * the budget by at most one per window.
 * Locking: the pool is thread-safe; a window belongs to one writer.
 */
#ifndef GFS_WINDOW_H
#define GFS_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define GFS_WINDOW_BLOCK (256u << 10)

struct gfs_window_pool;

/* One PUT's bytes.  Zeroed is empty. */
struct gfs_window {
	char **blocks;  /* GFS_WINDOW_BLOCK each, from the pool, owned */
	size_t n, cap;  /* blocks held, slots in blocks[] */
	uint64_t len;   /* bytes held */
};

/* A pool lending at most budget bytes of blocks (rounded up to a block;
 * 0: one block), first blocks of windows aside. */
struct gfs_window_pool *gfs_window_pool_new(size_t budget);
/* Free p and its idle blocks; every window must be cleared first. */
void gfs_window_pool_free(struct gfs_window_pool *p);

/* Append up to len bytes of buf to w; returns how many fit: fewer than
 * len (0 included) only when w needs another block and the budget is
 * spent. */
size_t gfs_window_append(struct gfs_window_pool *p, struct gfs_window *w,
			 const void *buf, size_t len);
/* Call fn(cls, piece, n) on the bytes [off, w->len) in order, one piece
 * per block; stops at and returns the first error. */
enum gfs_err gfs_window_each(const struct gfs_window *w, uint64_t off,
			     enum gfs_err (*fn)(void *cls, const char *buf,
						size_t len),
			     void *cls);
/* Give every block of w back to p; w is empty (and may be reused). */
void gfs_window_clear(struct gfs_window_pool *p, struct gfs_window *w);
/* Blocks lent out now, for tests and metrics. */
size_t gfs_window_pool_used(struct gfs_window_pool *p);

#endif

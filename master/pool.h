/*
 * pool.h - fixed-size objects carved from big blocks.
 *
 * For: the master's millions of small objects of one size (namespace
 * nodes, chunks), to which malloc would add 8 to 24 bytes each of header
 * and rounding: a pool object is its size rounded up to 8, and costs
 * nothing else.  A freed object goes on the pool's free list for the next
 * allocation; blocks go back to the system only when the pool is freed,
 * so a namespace that shrank keeps its peak (as malloc's heap mostly
 * does too).
 * Not for: objects of varying size, anything shared between threads.
 *
 * Under AddressSanitizer every object is its own calloc() and free(), so
 * the sanitizers still see overflows, uses after free and leaks (the
 * owner must then free each object before gfs_pool_free_all()).
 *
 * Invariants: objects are 8-byte aligned and zeroed when handed out.
 * Locking: none; the owner's (the master lock).
 */
#ifndef GFS_POOL_H
#define GFS_POOL_H

#include <stddef.h>

struct gfs_pool {
	size_t size;        /* bytes per object, a multiple of 8 */
	void *free;         /* freed objects, linked through their first word */
	void *blocks;       /* owned blocks, linked through their first word */
	char *next;         /* the next unused object of the newest block */
	char *end;          /* the end of the newest block */
	size_t block;       /* bytes of the next block (grows to a cap) */
};

void gfs_pool_init(struct gfs_pool *p, size_t size);
/* A zeroed object, owned by the caller until gfs_pool_put().  Aborts
 * when out of memory, as gfs_xmalloc() does.  O(1). */
void *gfs_pool_get(struct gfs_pool *p);
/* Give obj (from this pool, or NULL) back.  O(1). */
void gfs_pool_put(struct gfs_pool *p, void *obj);
/* Free every block (objects still out included) and empty the pool. */
void gfs_pool_free_all(struct gfs_pool *p);

#endif

/*
 * pool.c - fixed-size objects from big blocks; see pool.h.
 *
 * A block is a header word (the link to the previous block) and then
 * objects back to back; blocks start small (a test's namespace of a few
 * files stays small) and double up to POOL_BLOCK_MAX.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "util.h"

#define POOL_BLOCK_MIN (4u << 10)
#define POOL_BLOCK_MAX (1u << 20)

#if defined(__SANITIZE_ADDRESS__)
#define POOL_MALLOC 1
#else
#define POOL_MALLOC 0
#endif

void gfs_pool_init(struct gfs_pool *p, size_t size)
{
	memset(p, 0, sizeof(*p));
	p->size = (size + 7) & ~(size_t)7;
	p->block = POOL_BLOCK_MIN;
}

/* A new block with room for at least one object. */
static void add_block(struct gfs_pool *p)
{
	size_t len = p->block;
	char *b;

	while (len < sizeof(void *) + p->size)
		len *= 2;
	b = gfs_xmalloc(len);
	*(void **)b = p->blocks;
	p->blocks = b;
	p->next = b + sizeof(void *);
	p->end = b + len;
	if (p->block < POOL_BLOCK_MAX)
		p->block *= 2;
}

void *gfs_pool_get(struct gfs_pool *p)
{
	void *obj;

	if (POOL_MALLOC)
		return gfs_xcalloc(1, p->size);
	if (p->free) {
		obj = p->free;
		p->free = *(void **)obj;
	} else {
		if ((size_t)(p->end - p->next) < p->size)
			add_block(p);
		obj = p->next;
		p->next += p->size;
	}
	return memset(obj, 0, p->size);
}

void gfs_pool_put(struct gfs_pool *p, void *obj)
{
	if (POOL_MALLOC || !obj) {
		free(obj);
		return;
	}
	*(void **)obj = p->free;
	p->free = obj;
}

void gfs_pool_free_all(struct gfs_pool *p)
{
	void *b, *up;

	for (b = p->blocks; b; b = up) {
		up = *(void **)b;
		free(b);
	}
	gfs_pool_init(p, p->size);
}

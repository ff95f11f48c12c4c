/*
 * chunks.c - the chunk table, pending and garbage handles, the handle
 * allocator; see chunks.h.
 *
 * The table is open addressing with linear probing over pointers (8 bytes
 * a slot, at most half full), because uthash would add 56 bytes to each of
 * what may be millions of chunks; removal shifts the following run back
 * instead of leaving tombstones.  A slot's low 3 bits (chunks are 8-byte
 * aligned) hold 3 more bits of the handle's hash, so that a probe reads a
 * chunk of another handle once in 8: a lookup of a new handle (every
 * commit does one) costs one cache miss instead of three.  Chunks come from a pool (pool.h): 40
 * bytes each where malloc would take 48.
 */
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "util.h"

#define TAG_MASK ((uintptr_t)7)

static size_t slot_of(const struct gfs_chunks *t, uint64_t h)
{
	return (size_t)((h * 0x9E3779B97F4A7C15ull) >> 17) & (t->cap - 1);
}

/* Bits of the hash above those slot_of() takes (tables below 2^44). */
static uintptr_t tag_of(uint64_t h)
{
	return (uintptr_t)((h * 0x9E3779B97F4A7C15ull) >> 61);
}

static struct gfs_chunk *chunk_at(const struct gfs_chunks *t, size_t i)
{
	return (struct gfs_chunk *)(t->slots[i] & ~TAG_MASK);
}

void gfs_chunks_init(struct gfs_chunks *t)
{
	memset(t, 0, sizeof(*t));
	t->cap = 1024;
	gfs_pool_init(&t->pool, sizeof(struct gfs_chunk));
	t->slots = gfs_xcalloc(t->cap, sizeof(*t->slots));
	t->next_handle = t->reserved = t->inherit_hi = 1;
}

void gfs_chunks_free(struct gfs_chunks *t)
{
	struct gfs_pending *p, *pt;
	struct gfs_garbage *g, *gt;
	size_t i;

	for (i = 0; i < t->cap; i++)
		gfs_pool_put(&t->pool, chunk_at(t, i));
	gfs_pool_free_all(&t->pool);
	free(t->slots);
	HASH_ITER(hh, t->pending, p, pt)
		gfs_chunks_del_pending(t, p);
	HASH_ITER(hh, t->garbage, g, gt) {
		HASH_DEL(t->garbage, g);
		free(g);
	}
	memset(t, 0, sizeof(*t));
}

struct gfs_chunk *gfs_chunks_find(struct gfs_chunks *t, uint64_t handle)
{
	size_t i = slot_of(t, handle);
	uintptr_t tag = tag_of(handle);

	for (; t->slots[i]; i = (i + 1) & (t->cap - 1))
		if ((t->slots[i] & TAG_MASK) == tag &&
		    chunk_at(t, i)->handle == handle)
			return chunk_at(t, i);
	return NULL;
}

void gfs_chunks_prefetch(const struct gfs_chunks *t, uint64_t handle)
{
	__builtin_prefetch(&t->slots[slot_of(t, handle)]);
}

static void insert_slot(struct gfs_chunks *t, struct gfs_chunk *c)
{
	size_t i = slot_of(t, c->handle);

	while (t->slots[i])
		i = (i + 1) & (t->cap - 1);
	t->slots[i] = (uintptr_t)c | tag_of(c->handle);
}

/* Double the table.  O(count), amortised O(1) per add. */
static void grow(struct gfs_chunks *t)
{
	uintptr_t *old = t->slots;
	size_t i, n = t->cap;

	t->cap *= 2;
	t->slots = gfs_xcalloc(t->cap, sizeof(*t->slots));
	for (i = 0; i < n; i++)
		if (old[i])
			insert_slot(t, (struct gfs_chunk *)(old[i] & ~TAG_MASK));
	free(old);
}

struct gfs_chunk *gfs_chunks_add(struct gfs_chunks *t, uint64_t handle,
				 uint32_t version, uint32_t length,
				 uint32_t index)
{
	struct gfs_chunk *c = gfs_pool_get(&t->pool);

	c->handle = handle;
	c->version = version;
	c->length = length;
	c->index = index;
	if ((t->count + 1) * 2 > t->cap)
		grow(t);
	insert_slot(t, c);
	t->count++;
	return c;
}

void gfs_chunks_remove(struct gfs_chunks *t, struct gfs_chunk *c)
{
	size_t mask = t->cap - 1, i = slot_of(t, c->handle), j, home;

	while (chunk_at(t, i) != c)
		i = (i + 1) & mask;
	t->slots[i] = 0;
	/* Shift back every entry of the run that would no longer be found. */
	for (j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
		home = slot_of(t, chunk_at(t, j)->handle);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			t->slots[j] = 0;
			i = j;
		}
	}
	t->count--;
	gfs_pool_put(&t->pool, c);
}

void gfs_chunks_foreach(struct gfs_chunks *t,
			void (*fn)(void *cls, struct gfs_chunk *c), void *cls)
{
	size_t i;

	for (i = 0; i < t->cap; i++)
		if (t->slots[i])
			fn(cls, chunk_at(t, i));
}

bool gfs_chunks_scan(struct gfs_chunks *t, size_t *cursor, size_t slots,
		     void (*fn)(void *cls, struct gfs_chunk *c), void *cls)
{
	size_t i, end = *cursor + GFS_MIN(slots, t->cap);

	if (end > t->cap)
		end = t->cap;
	for (i = *cursor; i < end; i++)
		if (t->slots[i])
			fn(cls, chunk_at(t, i));
	*cursor = end;
	return end == t->cap;
}

bool gfs_chunk_has_loc(const struct gfs_chunk *c, uint16_t id)
{
	for (unsigned i = 0; i < c->nloc; i++)
		if (c->loc[i] == id)
			return true;
	return false;
}

bool gfs_chunk_add_loc(struct gfs_chunk *c, uint16_t id)
{
	if (c->nloc == GFS_LOC_MAX || gfs_chunk_has_loc(c, id))
		return false;
	c->loc[c->nloc++] = id;
	return true;
}

bool gfs_chunk_del_loc(struct gfs_chunk *c, uint16_t id)
{
	for (unsigned i = 0; i < c->nloc; i++) {
		if (c->loc[i] != id)
			continue;
		memmove(c->loc + i, c->loc + i + 1,
			(c->nloc - i - 1) * sizeof(c->loc[0]));
		c->nloc--;
		return true;
	}
	return false;
}

bool gfs_chunks_need_reserve(const struct gfs_chunks *t)
{
	return t->next_handle >= t->reserved;
}

void gfs_chunks_reserve(struct gfs_chunks *t, uint64_t limit)
{
	if (limit > t->reserved)
		t->reserved = limit;
}

uint64_t gfs_chunks_take_handle(struct gfs_chunks *t)
{
	return t->next_handle++;
}

void gfs_chunks_skip_reserved(struct gfs_chunks *t)
{
	t->next_handle = t->reserved;
	t->inherit_hi = t->reserved;
}

struct gfs_pending *gfs_chunks_add_pending(struct gfs_chunks *t,
					   uint64_t handle, uint64_t file_id,
					   uint32_t index, int64_t now)
{
	struct gfs_pending *p = gfs_xcalloc(1, sizeof(*p));

	p->handle = handle;
	p->file_id = file_id;
	p->index = index;
	p->alloc_ms = now;
	HASH_ADD(hh, t->pending, handle, sizeof(p->handle), p);
	return p;
}

struct gfs_pending *gfs_chunks_pending(struct gfs_chunks *t, uint64_t handle)
{
	struct gfs_pending *p = NULL;

	HASH_FIND(hh, t->pending, &handle, sizeof(handle), p);
	return p;
}

void gfs_chunks_del_pending(struct gfs_chunks *t, struct gfs_pending *p)
{
	HASH_DEL(t->pending, p);
	free(p->holder);
	free(p);
}

bool gfs_chunks_pending_for(const struct gfs_pending *p, uint64_t ino,
			    const char *holder)
{
	if (p->file_id)
		return p->file_id == ino;
	return !p->holder == !holder && (!holder || !strcmp(p->holder, holder));
}

bool gfs_chunks_expire_pending(struct gfs_chunks *t, int64_t now,
			       int64_t max_ms, size_t budget)
{
	struct gfs_pending *p, *tmp;

	HASH_ITER(hh, t->pending, p, tmp) {
		if (now - p->alloc_ms <= max_ms)
			return false;
		if (!budget--)
			return true;
		gfs_chunks_del_pending(t, p);
	}
	return false;
}

void gfs_chunks_add_garbage(struct gfs_chunks *t, uint64_t handle,
			    int64_t now)
{
	struct gfs_garbage *g = NULL;

	HASH_FIND(hh, t->garbage, &handle, sizeof(handle), g);
	if (g)
		return;
	g = gfs_xcalloc(1, sizeof(*g));
	g->handle = handle;
	g->since_ms = now;
	HASH_ADD(hh, t->garbage, handle, sizeof(g->handle), g);
}

bool gfs_chunks_is_garbage(struct gfs_chunks *t, uint64_t handle)
{
	struct gfs_garbage *g = NULL;

	HASH_FIND(hh, t->garbage, &handle, sizeof(handle), g);
	return g != NULL;
}

bool gfs_chunks_expire_garbage(struct gfs_chunks *t, int64_t now,
			       int64_t max_ms, size_t budget)
{
	struct gfs_garbage *g, *tmp;

	HASH_ITER(hh, t->garbage, g, tmp) {
		if (now - g->since_ms <= max_ms)
			return false;
		if (!budget--)
			return true;
		HASH_DEL(t->garbage, g);
		free(g);
	}
	return false;
}

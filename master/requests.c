/*
 * requests.c - the table of recent request ids; see requests.h.
 *
 * A uthash table finds an id; a ring of the same entries in log order
 * says which to forget first.  Entries are malloc'd one by one (their
 * hash handles must not move) and the ring grows by doubling up to max,
 * so an idle master holds nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "requests.h"
#include "util.h"

void gfs_requests_init(struct gfs_requests *r, size_t max, int64_t ttl_ms)
{
	memset(r, 0, sizeof(*r));
	r->max = max ? max : 1;
	r->ttl_ms = ttl_ms;
}

/* Forget the oldest entry. */
static void drop_oldest(struct gfs_requests *r)
{
	struct gfs_request *e = r->fifo[r->head];

	HASH_DELETE(hh, r->by_id, e);
	free(e);
	r->head = (r->head + 1) % r->cap;
	r->n--;
}

void gfs_requests_free(struct gfs_requests *r)
{
	while (r->n)
		drop_oldest(r);
	free(r->fifo);
	gfs_requests_init(r, r->max, r->ttl_ms);
}

/* Room for one more in the ring, keeping its order. */
static void grow(struct gfs_requests *r)
{
	size_t cap = r->cap ? r->cap * 2 : 64, i;
	struct gfs_request **a;

	if (cap > r->max)
		cap = r->max;
	a = gfs_xmalloc(cap * sizeof(*a));
	for (i = 0; i < r->n; i++)
		a[i] = r->fifo[(r->head + i) % r->cap];
	free(r->fifo);
	r->fifo = a;
	r->head = 0;
	r->cap = cap;
}

static struct gfs_request *lookup(struct gfs_requests *r,
				  const struct gfs_request_id *id)
{
	struct gfs_request *e = NULL;

	HASH_FIND(hh, r->by_id, id, sizeof(*id), e);
	return e;
}

void gfs_requests_add(struct gfs_requests *r, const struct gfs_request_id *id,
		      int64_t time_ms, uint64_t seq)
{
	struct gfs_request *e;

	while (r->n && r->fifo[r->head]->time_ms <= time_ms - r->ttl_ms)
		drop_oldest(r);
	if (lookup(r, id))
		return;
	if (r->n == r->max)
		drop_oldest(r);
	if (r->n == r->cap)
		grow(r);
	e = gfs_xcalloc(1, sizeof(*e));
	e->id = *id;
	e->time_ms = time_ms;
	e->seq = seq;
	HASH_ADD(hh, r->by_id, id, sizeof(e->id), e);
	r->fifo[(r->head + r->n) % r->cap] = e;
	r->n++;
}

const struct gfs_request *gfs_requests_find(struct gfs_requests *r,
					    const struct gfs_request_id *id,
					    int64_t now_ms)
{
	struct gfs_request *e = lookup(r, id);

	return e && e->time_ms > now_ms - r->ttl_ms ? e : NULL;
}

void gfs_requests_each(struct gfs_requests *r, int64_t now_ms,
		       void (*fn)(void *cls, const struct gfs_request *req),
		       void *cls)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		struct gfs_request *e = r->fifo[(r->head + i) % r->cap];

		if (e->time_ms > now_ms - r->ttl_ms)
			fn(cls, e);
	}
}

/* One word of 16 lowercase hex digits. */
static bool word(const char *s, uint64_t *out)
{
	char w[17];

	memcpy(w, s, 16);
	w[16] = '\0';
	return gfs_handle_parse(w, out);
}

bool gfs_request_id_parse(const char *s, struct gfs_request_id *out)
{
	if (strnlen(s, GFS_REQUEST_HEX + 1) != GFS_REQUEST_HEX)
		return false;
	return word(s, &out->hi) && word(s + 16, &out->lo);
}

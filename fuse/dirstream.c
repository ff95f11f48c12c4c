/*
 * dirstream.c - a directory as readdir reads it: one page of the master's
 * listing at a time, resumable from any offset it handed out.
 *
 * For: gfs_readdir() (ops.c), which asks for the entry after an offset
 * and fills the kernel's buffer with offsets the kernel may hand back
 * (the next getdents, or telldir/seekdir).  Not for: attributes beyond
 * what the listing carries, directories of other mounts' unborn files.
 *
 * Offsets: 1 ".", 2 "..", 3 + i the i-th file created here and not yet
 * on the master (unborn: listed first, from a snapshot taken at offset
 * 0, and their names skipped in the master's pages), OFF_BASE + pos a
 * master entry at position pos (docs/PROTOCOL.md "Pages": 61 bits of
 * its name's hash).  A position is a function of the name, so
 * an offset stays meaningful however the directory changes: resuming
 * from one lists what has a higher position, and a getdents, a seekdir
 * after a telldir or a rewind never lists an entry twice or skips one
 * that stayed (POSIX readdir).  Two names of one position (1 in 2^61
 * pairs) share an offset; when the kernel's buffer ends between them the
 * second is skipped.
 *
 * Memory: one page (GFS_CLIENT_PAGE entries) and the unborn snapshot,
 * whatever the directory's size.
 *
 * Invariants: items are sorted by pos; they are every entry of the
 * master's listing with a position in [from, next_from) but the unborn
 * names.  Locking: none; the kernel serialises readdir on one handle.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mount.h"
#include "util.h"

#define OFF_BASE ((off_t)1 << 20)   /* of the master's entries */
#define UNBORN_MAX (OFF_BASE - 3)   /* unborn files listed at most */
#define POS_NONE UINT64_MAX          /* no page / no page after it */

struct dir_item {
	char *name;                 /* owned */
	uint64_t pos;               /* master entries; 0 for unborn ones */
	struct gfs_stat gs;
};

struct dir_items {
	struct dir_item *v;         /* owned */
	size_t n, cap;
};

struct gfs_dirstream {
	struct dir_items unborn;    /* the snapshot at offset 0 */
	struct dir_items page;      /* master entries, sorted by pos */
	uint64_t from;              /* the page's first position, or
				     * POS_NONE: no page yet */
	uint64_t next_from;         /* the next page's, POS_NONE: none */
	size_t hint;                /* the item after the last returned */
};

static void items_clear(struct dir_items *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	l->n = 0;
}

static void items_add(struct dir_items *l, const char *name, uint64_t pos,
		      const struct gfs_stat *gs)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = gfs_xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = (struct dir_item){ gfs_xstrdup(name), pos, *gs };
}

static bool unborn_add(void *cls, const char *name, const struct gfs_stat *gs)
{
	struct dir_items *l = cls;

	if (l->n < (size_t)UNBORN_MAX)
		items_add(l, name, 0, gs);
	return true;
}

static bool is_unborn(const struct gfs_dirstream *d, const char *name)
{
	for (size_t i = 0; i < d->unborn.n; i++) /* a handful at most */
		if (!strcmp(d->unborn.v[i].name, name))
			return true;
	return false;
}

struct gfs_dirstream *gfs_dirstream_new(void)
{
	struct gfs_dirstream *d = gfs_xcalloc(1, sizeof(*d));

	d->from = POS_NONE;
	return d;
}

void gfs_dirstream_free(struct gfs_dirstream *d)
{
	if (!d)
		return;
	items_clear(&d->unborn);
	items_clear(&d->page);
	free(d->unborn.v);
	free(d->page.v);
	free(d);
}

void gfs_dirstream_rewind(struct gfs_mount *m, struct gfs_dirstream *d,
			  const char *path)
{
	items_clear(&d->unborn);
	items_clear(&d->page);
	d->from = POS_NONE;
	if (path)
		gfs_openfiles_unborn_in(m, path, unborn_add, &d->unborn);
}

/* The page of path's entries at position from and above into d. */
static enum gfs_err fetch(struct gfs_mount *m, struct gfs_dirstream *d,
			  const char *path, uint64_t from)
{
	char cursor[24];
	const char *next, *name;
	json_t *j = NULL, *e;
	struct gfs_stat gs;
	uint64_t pos;
	enum gfs_err err;
	size_t i;

	snprintf(cursor, sizeof(cursor), "%" PRIx64, from);
	err = gfs_client_list_page(m->client, path, true, from ? cursor : NULL,
				   0, &j);
	if (err)
		return err;
	items_clear(&d->page);
	d->from = from;
	d->hint = 0;
	json_array_foreach(json_object_get(j, "entries"), i, e) {
		if (gfs_json_str(e, "name", true, &name) ||
		    gfs_json_u64(e, "pos", true, &pos) || is_unborn(d, name))
			continue;
		gfs_client_parse_stat(e, &gs);
		items_add(&d->page, name, pos, &gs);
	}
	next = json_string_value(json_object_get(j, "next"));
	d->next_from = next ? strtoull(next, NULL, 16) : POS_NONE;
	if (d->next_from <= from)
		d->next_from = POS_NONE; /* a cursor going back: stop */
	json_decref(j);
	return GFS_OK;
}

/* The first item of the page at position from or above, or NULL (the
 * page covers from).  O(1) reading on, O(log n) after a seek. */
static struct dir_item *page_at(struct gfs_dirstream *d, uint64_t from)
{
	size_t lo = 0, hi = d->page.n, mid;
	struct dir_item *v = d->page.v;

	if (d->hint < d->page.n && v[d->hint].pos >= from &&
	    (!d->hint || v[d->hint - 1].pos < from))
		return &v[d->hint];
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (v[mid].pos < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->page.n ? &v[lo] : NULL;
}

int gfs_dirstream_next(struct gfs_mount *m, struct gfs_dirstream *d,
		       const char *path, off_t off, struct gfs_dirent *out)
{
	uint64_t from = off >= OFF_BASE ? (uint64_t)(off - OFF_BASE) + 1 : 0;
	size_t u = off >= 3 ? (size_t)(off - 3) + 1 : 0;
	struct dir_item *it;
	enum gfs_err err;

	if (off < OFF_BASE && u < d->unborn.n) {
		it = &d->unborn.v[u];
		*out = (struct gfs_dirent){ it->name, &it->gs,
					    (off_t)(3 + u) };
		return 1;
	}
	while (path) {
		if (d->from == POS_NONE || from < d->from ||
		    (d->next_from != POS_NONE && from >= d->next_from)) {
			err = fetch(m, d, path, from);
			if (err)
				return gfs_fuse_errno(err);
		}
		it = page_at(d, from);
		if (it) {
			d->hint = (size_t)(it - d->page.v) + 1;
			*out = (struct gfs_dirent){ it->name, &it->gs,
						    OFF_BASE +
							    (off_t)it->pos };
			return 1;
		}
		if (d->next_from == POS_NONE)
			break;
		from = d->next_from;
	}
	return 0;
}

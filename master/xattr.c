/*
 * xattr.c - user extended attributes of an inode; see xattr.h.
 *
 * An inode's attributes are a small array searched linearly, behind one
 * entry of a uthash table keyed by the inode's pointer: most inodes have
 * none (no entry), those that have some have a few (rsync -X,
 * cp --preserve=xattr copy what a desktop sets: a handful).  The array is
 * bounded by GFS_XATTR_TOTAL_MAX bytes, so at most ~21,000 names of the
 * shortest kind.
 */
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "util.h"
#include "xattr.h"

enum gfs_err gfs_xattr_check_name(const char *name)
{
	size_t len = strlen(name);

	if (len > GFS_XATTR_NAME_MAX)
		return GFS_ENAMETOOLONG;
	if (len <= strlen(GFS_XATTR_PREFIX) ||
	    strncmp(name, GFS_XATTR_PREFIX, strlen(GFS_XATTR_PREFIX)))
		return GFS_EINVAL;
	return gfs_text_valid(name) ? GFS_OK : GFS_EILSEQ;
}

static struct gfs_xattr *find(const struct gfs_xattrs *xs, const char *name)
{
	uint32_t i;

	for (i = 0; xs && i < xs->n; i++)
		if (!strcmp(xs->items[i].name, name))
			return &xs->items[i];
	return NULL;
}

const struct gfs_xattrs *gfs_xattr_of(struct gfs_xattrs *table,
				      const struct gfs_node *inode)
{
	struct gfs_xattrs *xs = NULL;

	HASH_FIND_PTR(table, &inode, xs);
	return xs;
}

static struct gfs_xattrs *entry_of(struct gfs_xattrs *table,
				   const struct gfs_node *inode)
{
	return (struct gfs_xattrs *)gfs_xattr_of(table, inode);
}

static void entry_free(struct gfs_xattrs **table, struct gfs_xattrs *xs)
{
	struct gfs_xattrs *head = *table;
	uint32_t i;

	HASH_DELETE(hh, head, xs);
	*table = head;
	for (i = 0; i < xs->n; i++) {
		free(xs->items[i].name);
		free(xs->items[i].value);
	}
	free(xs->items);
	free(xs);
}

const struct gfs_xattr *gfs_xattr_find(const struct gfs_xattrs *xs,
				       const char *name)
{
	return find(xs, name);
}

enum gfs_err gfs_xattr_can_set(const struct gfs_xattrs *xs, const char *name,
			       size_t len)
{
	const struct gfs_xattr *old = find(xs, name);
	size_t total = xs ? xs->bytes : 0;

	if (len > GFS_XATTR_VALUE_MAX)
		return GFS_ETOOBIG;
	if (old)
		total -= strlen(old->name) + old->len;
	total += strlen(name) + len;
	return total > GFS_XATTR_TOTAL_MAX ? GFS_ENOSPC : GFS_OK;
}

static uint8_t *copy_value(const void *value, size_t len)
{
	uint8_t *v = len ? gfs_xmalloc(len) : NULL;

	if (len)
		memcpy(v, value, len);
	return v;
}

void gfs_xattr_set(struct gfs_xattrs **table, const struct gfs_node *inode,
		   const char *name, const void *value, size_t len)
{
	struct gfs_xattrs *xs = entry_of(*table, inode);
	struct gfs_xattr *x = find(xs, name);

	if (!xs) {
		struct gfs_xattrs *head = *table;

		xs = gfs_xcalloc(1, sizeof(*xs));
		xs->inode = inode;
		HASH_ADD_PTR(head, inode, xs);
		*table = head;
	}
	if (x) {
		xs->bytes -= x->len;
		free(x->value);
	} else {
		xs->items = gfs_xrealloc(xs->items,
					 (xs->n + 1) * sizeof(*xs->items));
		x = &xs->items[xs->n++];
		x->name = gfs_xstrdup(name);
		xs->bytes += (uint32_t)strlen(name);
	}
	x->value = copy_value(value, len);
	x->len = (uint32_t)len;
	xs->bytes += (uint32_t)len;
}

bool gfs_xattr_remove(struct gfs_xattrs **table,
		      const struct gfs_node *inode, const char *name)
{
	struct gfs_xattrs *xs = entry_of(*table, inode);
	struct gfs_xattr *x = find(xs, name);

	if (!x)
		return false;
	xs->bytes -= (uint32_t)strlen(x->name) + x->len;
	free(x->name);
	free(x->value);
	memmove(x, x + 1, (size_t)(&xs->items[xs->n] - (x + 1)) * sizeof(*x));
	if (--xs->n == 0)
		entry_free(table, xs);
	return true;
}

void gfs_xattr_drop(struct gfs_xattrs **table, const struct gfs_node *inode)
{
	struct gfs_xattrs *xs = *table ? entry_of(*table, inode) : NULL;

	if (xs)
		entry_free(table, xs);
}

void gfs_xattr_free_all(struct gfs_xattrs **table)
{
	struct gfs_xattrs *xs, *tmp;

	HASH_ITER(hh, *table, xs, tmp)
		entry_free(table, xs);
	*table = NULL;
}

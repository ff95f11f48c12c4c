/*
 * namespace.c - the tree of files and directories; see namespace.h.
 *
 * Paths are walked component by component without copying: a component is
 * a (pointer, length) pair into the path, looked up in the parent's table.
 *
 * A directory's table is open addressing with linear probing over node
 * pointers, at most 3/4 full and at least 1/8 (else it halves), freed
 * when the directory empties: 8 bytes a slot, about 14 an entry, where a
 * uthash entry took 56 in the node and a bucket table (576 bytes for an
 * empty directory's).  A slot's low 3 bits (nodes are 8-byte aligned)
 * hold 3 bits of the name's hash, so that a probe reads a node of another
 * name once in 8.  Removal shifts the rest of the run back (no
 * tombstones), as chunks.c does.  Nodes come from a pool (pool.h): no
 * malloc header, no rounding.
 */
#include <stdlib.h>
#include <string.h>

#include "chunks.h"
#include "lease.h"
#include "constants.h"
#include "namespace.h"
#include "util.h"
#include "xattr.h"

static void set_name(struct gfs_node *n, const char *name, size_t len)
{
	char *dst;

	if (n->name_len > GFS_NS_INLINE_NAME)
		free(n->nm.ptr);
	n->name_len = (uint8_t)len;
	dst = len > GFS_NS_INLINE_NAME ? (n->nm.ptr = gfs_xmalloc(len + 1))
				       : n->nm.in;
	memcpy(dst, name, len);
	dst[len] = '\0';
}

static struct gfs_node *node_new(struct gfs_ns *ns, const char *name,
				 size_t len, enum gfs_node_type type,
				 uint64_t ino)
{
	struct gfs_node *n = gfs_pool_get(&ns->nodes);

	set_name(n, name, len);
	n->type = (uint8_t)type;
	n->nlink = 1;
	n->last_first = UINT16_MAX;
	gfs_ns_set_ino(ns, n, ino ? ino : ns->next_ino);
	return n;
}

void gfs_ns_set_ino(struct gfs_ns *ns, struct gfs_node *n, uint64_t ino)
{
	n->ino = ino;
	if (ino >= ns->next_ino)
		ns->next_ino = ino + 1;
}

uint32_t gfs_ns_nlink(const struct gfs_node *inode)
{
	return inode->type == GFS_NODE_DIR ? 2 + inode->dir.nsubdirs
					   : inode->nlink;
}

static void node_free(struct gfs_ns *ns, struct gfs_node *n)
{
	gfs_lease_clear(n);
	if (n->type != GFS_NODE_LINK)
		gfs_xattr_drop(&ns->xattrs, n);
	if (n->type == GFS_NODE_FILE && n->file.nchunks > 1)
		free(n->file.chunks);
	if (n->type == GFS_NODE_SYMLINK)
		free(n->sym.target);
	if (n->name_len > GFS_NS_INLINE_NAME)
		free(n->nm.ptr);
	gfs_pool_put(&ns->nodes, n);
}

void gfs_ns_init(struct gfs_ns *ns)
{
	memset(ns, 0, sizeof(*ns));
	gfs_pool_init(&ns->nodes, sizeof(struct gfs_node));
	ns->next_ino = 1;
	ns->root = node_new(ns, "", 0, GFS_NODE_DIR, 1);
	ns->root->mode = 0755;
	ns->root->is_explicit = 1;
}

static void free_tree(struct gfs_ns *ns, struct gfs_node *n)
{
	struct gfs_node *k;
	size_t pos = 0;

	if (n->type == GFS_NODE_DIR) {
		while ((k = gfs_ns_next_kid(n, &pos)))
			free_tree(ns, k);
		free(n->dir.kids);
	}
	node_free(ns, n);
}

static struct gfs_hidden *hidden_of(struct gfs_ns *ns, struct gfs_node *f)
{
	struct gfs_hidden *h = NULL;

	HASH_FIND_PTR(ns->hidden, &f, h);
	return h;
}

void gfs_ns_hide(struct gfs_ns *ns, struct gfs_node *file, int64_t now_ms)
{
	struct gfs_hidden *h = hidden_of(ns, file);

	if (!h) {
		h = gfs_xcalloc(1, sizeof(*h));
		h->node = file;
		HASH_ADD_PTR(ns->hidden, node, h);
	}
	h->since_ms = now_ms;
	file->hidden = 1;
}

void gfs_ns_show(struct gfs_ns *ns, struct gfs_node *file)
{
	struct gfs_hidden *h = hidden_of(ns, file);

	if (h) {
		HASH_DELETE(hh, ns->hidden, h);
		free(h);
	}
	file->hidden = 0;
}

void gfs_ns_touch_hidden(struct gfs_ns *ns, struct gfs_node *file,
			 int64_t now_ms)
{
	struct gfs_hidden *h = hidden_of(ns, file);

	if (h)
		h->since_ms = now_ms;
}

struct gfs_node *gfs_ns_stale_hidden(struct gfs_ns *ns, int64_t cutoff_ms)
{
	struct gfs_hidden *h, *tmp;

	HASH_ITER(hh, ns->hidden, h, tmp)
		if (h->since_ms < cutoff_ms)
			return h->node;
	return NULL;
}

void gfs_ns_free(struct gfs_ns *ns)
{
	struct gfs_hidden *h, *tmp;
	struct gfs_linkset *ls, *ltmp;
	struct gfs_kept *k, *ktmp;

	HASH_ITER(hh, ns->hidden, h, tmp) {
		HASH_DELETE(hh, ns->hidden, h);
		free(h);
	}
	HASH_ITER(hh, ns->links, ls, ltmp) {
		HASH_DELETE(hh, ns->links, ls);
		free(ls->names);
		free(ls);
	}
	HASH_ITER(hh, ns->kept.by_id, k, ktmp)
		node_free(ns, gfs_kept_remove(&ns->kept, k));
	gfs_xattr_free_all(&ns->xattrs);
	if (ns->root)
		free_tree(ns, ns->root);
	gfs_pool_free_all(&ns->nodes);
	memset(ns, 0, sizeof(*ns));
}

/* The next component of *p (which points after a '/'): sets *len and
 * moves *p past it and its '/'.  False at the end. */
static bool next_comp(const char **p, const char **comp, size_t *len)
{
	const char *s = *p, *e;

	if (!*s)
		return false;
	e = strchr(s, '/');
	*comp = s;
	*len = e ? (size_t)(e - s) : strlen(s);
	*p = e ? e + 1 : s + *len;
	return true;
}

/* ---- directory tables ---- */

#define TAG_MASK ((uintptr_t)7)

/* FNV-1a, then a murmur3 finaliser so that every bit of the result
 * depends on every byte (the slot comes from bits 3 and up). */
static uint64_t name_hash(const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (len--) {
		h ^= (unsigned char)*name++;
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static struct gfs_node *slot_node(uintptr_t s)
{
	return (struct gfs_node *)(s & ~TAG_MASK);
}

static size_t kid_mask(const struct gfs_node *dir)
{
	return ((size_t)1 << dir->dir.kbits) - 1;
}

/* Put k into a table of mask + 1 slots (its name absent from it). */
static void slots_put(uintptr_t *slots, size_t mask, struct gfs_node *k)
{
	uint64_t h = name_hash(gfs_ns_name(k), k->name_len);
	size_t i = (size_t)(h >> 3) & mask;

	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = (uintptr_t)k | (uintptr_t)(h & TAG_MASK);
}

/* Rebuild dir's table with 1 << bits slots.  O(entries). */
static void kids_resize(struct gfs_node *dir, unsigned bits)
{
	uintptr_t *old = dir->dir.kids;
	size_t i, n = old ? kid_mask(dir) + 1 : 0;
	size_t mask = ((size_t)1 << bits) - 1;

	dir->dir.kids = gfs_xcalloc(mask + 1, sizeof(*old));
	dir->dir.kbits = (uint8_t)bits;
	for (i = 0; i < n; i++)
		if (old[i])
			slots_put(dir->dir.kids, mask, slot_node(old[i]));
	free(old);
}

static struct gfs_node *kid(const struct gfs_node *dir, const char *name,
			    size_t len)
{
	const uintptr_t *slots = dir->dir.kids;
	uint64_t h;
	size_t mask, i;
	struct gfs_node *k;

	if (!slots)
		return NULL;
	h = name_hash(name, len);
	mask = kid_mask(dir);
	for (i = (size_t)(h >> 3) & mask; slots[i]; i = (i + 1) & mask) {
		if ((slots[i] & TAG_MASK) != (h & TAG_MASK))
			continue;
		k = slot_node(slots[i]);
		if (k->name_len == len && !memcmp(gfs_ns_name(k), name, len))
			return k;
	}
	return NULL;
}

/* Add k (its name absent) to dir's table, growing it past 3/4 full. */
static void kids_add(struct gfs_node *dir, struct gfs_node *k)
{
	size_t cap = dir->dir.kids ? kid_mask(dir) + 1 : 0;

	if (!cap)
		kids_resize(dir, 1);
	else if (((size_t)dir->dir.nkids + 1) * 4 > cap * 3)
		kids_resize(dir, dir->dir.kbits + 1u);
	slots_put(dir->dir.kids, kid_mask(dir), k);
	dir->dir.nkids++;
}

/* Take k out of dir's table: shift back what follows it in its run,
 * shrink the table below 1/8 full, free it when empty. */
static void kids_del(struct gfs_node *dir, struct gfs_node *k)
{
	uintptr_t *slots = dir->dir.kids;
	size_t mask = kid_mask(dir), home, j;
	size_t i = (size_t)(name_hash(gfs_ns_name(k), k->name_len) >> 3) & mask;

	while (slot_node(slots[i]) != k)
		i = (i + 1) & mask;
	slots[i] = 0;
	for (j = (i + 1) & mask; slots[j]; j = (j + 1) & mask) {
		struct gfs_node *o = slot_node(slots[j]);

		home = (size_t)(name_hash(gfs_ns_name(o), o->name_len) >> 3) &
		       mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			slots[i] = slots[j];
			slots[j] = 0;
			i = j;
		}
	}
	if (!--dir->dir.nkids) {
		free(dir->dir.kids);
		dir->dir.kids = NULL;
		dir->dir.kbits = 0;
	} else if (dir->dir.kbits > 1 &&
		   (size_t)dir->dir.nkids * 8 < mask + 1) {
		kids_resize(dir, dir->dir.kbits - 1u);
	}
}

struct gfs_node *gfs_ns_next_kid(const struct gfs_node *dir, size_t *pos)
{
	size_t cap = dir->dir.kids ? kid_mask(dir) + 1 : 0;

	for (; *pos < cap; (*pos)++)
		if (dir->dir.kids[*pos])
			return slot_node(dir->dir.kids[(*pos)++]);
	return NULL;
}

/*
 * Walk as far as path exists.  *out is the deepest existing node, *rest
 * the part of path not found ("" when all of it was).  GFS_ENOTDIR when
 * a file is met before the end.
 */
static enum gfs_err walk(struct gfs_ns *ns, const char *path,
			 struct gfs_node **out, const char **rest)
{
	struct gfs_node *cur = ns->root, *k;
	const char *p = path + 1, *comp, *before;
	size_t len;

	ns->walks++;
	for (before = p; next_comp(&p, &comp, &len); before = p) {
		if (cur->type != GFS_NODE_DIR) {
			*out = cur;
			*rest = before;
			return GFS_ENOTDIR;
		}
		k = kid(cur, comp, len);
		if (!k) {
			*out = cur;
			*rest = before;
			return GFS_OK;
		}
		cur = k;
	}
	*out = cur;
	*rest = p;
	return GFS_OK;
}

enum gfs_err gfs_ns_lookup_entry(struct gfs_ns *ns, const char *path,
				 struct gfs_node **out)
{
	const char *rest;
	enum gfs_err err = walk(ns, path, out, &rest);

	if (err)
		return err;
	return *rest ? GFS_ENOENT : GFS_OK;
}

enum gfs_err gfs_ns_lookup(struct gfs_ns *ns, const char *path,
			   struct gfs_node **out)
{
	enum gfs_err err = gfs_ns_lookup_entry(ns, path, out);

	if (!err)
		*out = gfs_ns_inode(*out);
	return err;
}

void gfs_ns_locate(struct gfs_ns *ns, const char *path, struct gfs_ns_spot *s)
{
	s->err = walk(ns, path, &s->at, &s->rest);
}

enum gfs_err gfs_ns_can_create(struct gfs_ns *ns, const char *path)
{
	struct gfs_ns_spot s;

	gfs_ns_locate(ns, path, &s);
	return gfs_ns_spot_can_create(&s);
}

static void link_kid(struct gfs_ns *ns, struct gfs_node *dir,
		     struct gfs_node *k)
{
	k->parent = dir;
	kids_add(dir, k);
	if (k->type == GFS_NODE_DIR) {
		ns->ndirs++;
		dir->dir.nsubdirs++;
	} else if (k->type != GFS_NODE_LINK) {
		ns->nfiles++;
	}
}

static void unlink_kid(struct gfs_ns *ns, struct gfs_node *k)
{
	kids_del(k->parent, k);
	if (k->type == GFS_NODE_DIR) {
		ns->ndirs--;
		k->parent->dir.nsubdirs--;
	} else if (k->type != GFS_NODE_LINK) {
		ns->nfiles--;
	}
}

/* Make the missing directories of path below `from` (implicit), the last
 * component excepted, numbered from ino on; returns the parent of the
 * last component. */
static struct gfs_node *make_parents(struct gfs_ns *ns, struct gfs_node *from,
				     const char *rest, int64_t t, uint64_t ino,
				     const char **last, size_t *last_len)
{
	const char *p = rest, *comp;
	size_t len;

	next_comp(&p, &comp, &len);
	while (*p) {
		struct gfs_node *d = node_new(ns, comp, len, GFS_NODE_DIR,
					      ino ? ino++ : 0);

		d->mode = 0755;
		d->mtime_ns = d->atime_ns = d->ctime_ns = t;
		link_kid(ns, from, d);
		from = d;
		next_comp(&p, &comp, &len);
	}
	*last = comp;
	*last_len = len;
	return from;
}

struct gfs_node *gfs_ns_create(struct gfs_ns *ns, const char *path,
			       enum gfs_node_type type, uint32_t mode,
			       int64_t mtime_ns, uint32_t chunk_size,
			       uint64_t ino)
{
	struct gfs_ns_spot s;

	gfs_ns_locate(ns, path, &s);
	return gfs_ns_create_at(ns, &s, type, mode, mtime_ns, chunk_size, ino);
}

struct gfs_node *gfs_ns_create_at(struct gfs_ns *ns,
				  const struct gfs_ns_spot *s,
				  enum gfs_node_type type, uint32_t mode,
				  int64_t mtime_ns, uint32_t chunk_size,
				  uint64_t ino)
{
	struct gfs_node *parent, *n;
	const char *name;
	size_t len;

	if (!ino)
		ino = ns->next_ino;
	parent = make_parents(ns, s->at, s->rest, mtime_ns, ino + 1, &name,
			      &len);
	n = node_new(ns, name, len, type, ino);
	n->mode = mode;
	n->mtime_ns = n->atime_ns = n->ctime_ns = mtime_ns;
	n->is_explicit = type == GFS_NODE_DIR;
	if (type == GFS_NODE_FILE)
		n->file.chunk_size = chunk_size;
	link_kid(ns, parent, n);
	gfs_ns_touch_dir(parent, mtime_ns);
	return n;
}

static struct gfs_linkset *linkset_of(struct gfs_ns *ns,
				      struct gfs_node *inode)
{
	struct gfs_linkset *ls = NULL;

	HASH_FIND_PTR(ns->links, &inode, ls);
	return ls;
}

struct gfs_node *gfs_ns_link(struct gfs_ns *ns, struct gfs_node *inode,
			     const char *path, int64_t t)
{
	struct gfs_node *at, *parent, *n;
	struct gfs_linkset *ls = linkset_of(ns, inode);
	const char *rest, *name;
	size_t len;

	walk(ns, path, &at, &rest);
	parent = make_parents(ns, at, rest, t, 0, &name, &len);
	n = gfs_pool_get(&ns->nodes);
	set_name(n, name, len);
	n->type = GFS_NODE_LINK;
	n->link.target = inode;
	link_kid(ns, parent, n);
	if (!ls) {
		ls = gfs_xcalloc(1, sizeof(*ls));
		ls->inode = inode;
		HASH_ADD_PTR(ns->links, inode, ls);
	}
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? 2 * ls->cap : 2;
		ls->names = gfs_xrealloc(ls->names,
					 ls->cap * sizeof(*ls->names));
	}
	ls->names[ls->n++] = n;
	inode->nlink++;
	inode->ctime_ns = t;
	gfs_ns_touch_dir(parent, t);
	return n;
}

/* Take name (a LINK node) out of its inode's link set. */
static void linkset_drop(struct gfs_ns *ns, struct gfs_node *name)
{
	struct gfs_linkset *ls = linkset_of(ns, name->link.target);
	uint32_t i;

	for (i = 0; ls && i < ls->n; i++) {
		if (ls->names[i] != name)
			continue;
		ls->names[i] = ls->names[--ls->n];
		break;
	}
	if (ls && !ls->n) {
		HASH_DELETE(hh, ns->links, ls);
		free(ls->names);
		free(ls);
	}
}

/* Remove implicit directories from dir upwards while they are empty. */
static void prune(struct gfs_ns *ns, struct gfs_node *dir)
{
	while (dir != ns->root && !dir->is_explicit && !dir->dir.nkids) {
		struct gfs_node *up = dir->parent;

		unlink_kid(ns, dir);
		node_free(ns, dir);
		dir = up;
	}
}

/* Put node at (parent, name) in place of what it was: the lease count
 * moves along, implicit directories it leaves empty go. */
static void move_to(struct gfs_ns *ns, struct gfs_node *node,
		    struct gfs_node *parent, const char *name, size_t len);

bool gfs_ns_remove(struct gfs_ns *ns, struct gfs_node *node)
{
	struct gfs_node *parent = node->parent, *other;
	bool gone = node->type != GFS_NODE_LINK;
	struct gfs_linkset *ls;

	if (node->type == GFS_NODE_LINK) {
		node->link.target->nlink--;
		linkset_drop(ns, node);
	} else if (node->nlink > 1 && (ls = linkset_of(ns, node))) {
		/* the inode keeps its node: it takes another name's place */
		other = ls->names[ls->n - 1];
		linkset_drop(ns, other);
		unlink_kid(ns, other);
		node->nlink--;
		move_to(ns, node, other->parent, gfs_ns_name(other),
			other->name_len);
		prune(ns, other->parent);
		node_free(ns, other);
		return false;
	}
	if (node->hidden)
		gfs_ns_show(ns, node);
	unlink_kid(ns, node);
	node_free(ns, node);
	prune(ns, parent);
	return gone;
}

void gfs_ns_detach(struct gfs_ns *ns, struct gfs_node *node)
{
	struct gfs_node *parent = node->parent;

	unlink_kid(ns, node);
	node->parent = NULL;
	node->nlink = 0;
	prune(ns, parent);
}

struct gfs_node *gfs_ns_new_detached(struct gfs_ns *ns, uint64_t ino)
{
	struct gfs_node *n = node_new(ns, "", 0, GFS_NODE_FILE, ino);

	n->nlink = 0;
	return n;
}

void gfs_ns_free_detached(struct gfs_ns *ns, struct gfs_node *node)
{
	node_free(ns, node);
}

static bool is_below(const struct gfs_node *n, const struct gfs_node *dir)
{
	for (; n; n = n->parent)
		if (n == dir)
			return true;
	return false;
}

/* Rules for replacing victim by node (POSIX rename). */
static enum gfs_err can_replace(const struct gfs_node *node,
				const struct gfs_node *victim, bool overwrite)
{
	if (victim->hidden)
		return GFS_OK; /* an upload not committed takes no name */
	if (!overwrite)
		return GFS_EEXIST;
	if (node->type != GFS_NODE_DIR)
		return victim->type != GFS_NODE_DIR ? GFS_OK : GFS_EISDIR;
	if (victim->type != GFS_NODE_DIR)
		return GFS_ENOTDIR;
	return victim->dir.nkids ? GFS_ENOTEMPTY : GFS_OK;
}

/* Length of node's path.  O(depth). */
static size_t path_len(const struct gfs_node *node)
{
	size_t len = 0;

	for (; node->parent; node = node->parent)
		len += 1 + node->name_len;
	return len;
}

/* Length of the longest path below dir, relative to it ("/a/b" is 4).
 * O(subtree). */
static size_t longest_below(const struct gfs_node *dir)
{
	const struct gfs_node *k;
	size_t best = 0, l, pos = 0;

	while ((k = gfs_ns_next_kid(dir, &pos))) {
		l = 1 + (size_t)k->name_len +
		    (k->type == GFS_NODE_DIR ? longest_below(k) : 0);
		if (l > best)
			best = l;
	}
	return best;
}

/* Whether every path below node still fits in GFS_PATH_MAX once node is
 * at `to`.  Only a rename that lengthens the path walks the subtree. */
static bool fits_at(const struct gfs_node *node, const char *to)
{
	size_t len = strlen(to);

	if (node->type != GFS_NODE_DIR || len <= path_len(node))
		return true;
	return len + longest_below(node) <= GFS_PATH_MAX;
}

enum gfs_err gfs_ns_can_rename(struct gfs_ns *ns, struct gfs_node *node,
			       const char *to, bool overwrite,
			       struct gfs_node **victim)
{
	struct gfs_node *at;
	const char *rest;
	enum gfs_err err;

	*victim = NULL;
	if (node == ns->root)
		return GFS_EINVAL;
	if (!fits_at(node, to))
		return GFS_ENAMETOOLONG;
	err = walk(ns, to, &at, &rest);
	if (err)
		return err;
	if (is_below(at, node))
		return at == node && !*rest ? GFS_OK : GFS_EINVAL;
	if (*rest)
		return GFS_OK;
	if (at == ns->root)
		return GFS_EEXIST;
	if (is_below(node, at))
		return overwrite ? GFS_ENOTEMPTY : GFS_EEXIST;
	if (gfs_ns_same_inode(node, at))
		return overwrite ? GFS_OK : GFS_EEXIST; /* rename does nothing */
	err = can_replace(node, at, overwrite);
	if (!err)
		*victim = at;
	return err;
}

/* Lease records at or below node. */
static uint64_t leases_of(const struct gfs_node *node)
{
	if (node->type == GFS_NODE_DIR)
		return node->dir.nleases;
	return node->lease ? 1 : 0;
}

/* Add (or, with minus, take) n to the lease count of node's ancestors. */
static void count_up(struct gfs_node *node, uint64_t n, bool minus)
{
	struct gfs_node *p;

	for (p = node->parent; p && n; p = p->parent)
		p->dir.nleases = (uint32_t)(minus ? p->dir.nleases - n
						  : p->dir.nleases + n);
}

void gfs_ns_count_lease(struct gfs_node *file, int delta)
{
	count_up(file, 1, delta < 0);
}

struct gfs_node *gfs_ns_find_lease(struct gfs_node *dir,
				   bool (*blocks)(void *cls,
						  struct gfs_node *file),
				   void *cls)
{
	struct gfs_node *k, *found;
	size_t pos = 0;

	if (!dir->dir.nleases)
		return NULL;
	while ((k = gfs_ns_next_kid(dir, &pos))) {
		if (k->type != GFS_NODE_DIR) {
			if (k->lease && blocks(cls, k))
				return k;
			continue;
		}
		found = gfs_ns_find_lease(k, blocks, cls);
		if (found)
			return found;
	}
	return NULL;
}

static void move_to(struct gfs_ns *ns, struct gfs_node *node,
		    struct gfs_node *parent, const char *name, size_t len)
{
	struct gfs_node *old_parent = node->parent;

	count_up(node, leases_of(node), true);
	unlink_kid(ns, node);
	set_name(node, name, len);
	link_kid(ns, parent, node);
	count_up(node, leases_of(node), false);
	prune(ns, old_parent);
}

void gfs_ns_rename(struct gfs_ns *ns, struct gfs_node *node, const char *to)
{
	struct gfs_node *at, *parent;
	const char *rest, *name;
	size_t len;

	walk(ns, to, &at, &rest);
	if (!*rest)
		return; /* renamed onto itself, or onto another name of it */
	parent = make_parents(ns, at, rest, gfs_ns_inode(node)->mtime_ns, 0,
			      &name, &len);
	move_to(ns, node, parent, name, len);
	gfs_ns_touch_up(node, gfs_ns_inode(node)->mtime_ns);
}

void gfs_ns_touch_up(struct gfs_node *node, int64_t t)
{
	struct gfs_node *p;

	for (p = node->parent; p; p = p->parent)
		if (p->mtime_ns < t)
			p->mtime_ns = t;
}

void gfs_ns_touch_dir(struct gfs_node *dir, int64_t t)
{
	if (dir->mtime_ns < t)
		dir->mtime_ns = t;
	if (dir->ctime_ns < t)
		dir->ctime_ns = t;
	gfs_ns_touch_up(dir, t);
}

void gfs_ns_path(const struct gfs_node *node, char *buf)
{
	const struct gfs_node *n;
	size_t len = 0, l;

	if (!node->parent) {
		strcpy(buf, "/");
		return;
	}
	for (n = node; n->parent; n = n->parent)
		len += (size_t)n->name_len + 1;
	buf[len] = '\0';
	for (n = node; n->parent; n = n->parent) {
		l = n->name_len;
		len -= l;
		memcpy(buf + len, gfs_ns_name(n), l);
		buf[--len] = '/';
	}
}

struct walk_ctx {
	gfs_ns_fn fn;
	void *cls;
	bool dirs;      /* list explicit directories */
	bool all;       /* every node (gfs_ns_walk) */
	char path[GFS_PATH_MAX + 2];
};

/* Visit n, whose path is already in w->path with length len, and below. */
static void visit(struct walk_ctx *w, struct gfs_node *n, size_t len)
{
	struct gfs_node *k;
	size_t pos = 0;

	if (n->type != GFS_NODE_DIR || w->all || (w->dirs && n->is_explicit))
		w->fn(w->cls, n, w->path);
	if (n->type != GFS_NODE_DIR)
		return;
	while ((k = gfs_ns_next_kid(n, &pos))) {
		size_t l = k->name_len;

		w->path[len] = '/';
		memcpy(w->path + len + 1, gfs_ns_name(k), l + 1);
		visit(w, k, len + 1 + l);
	}
	w->path[len] = '\0';
}

void gfs_ns_list_prefix(struct gfs_ns *ns, const char *prefix, bool dirs,
			gfs_ns_fn fn, void *cls)
{
	struct walk_ctx *w = gfs_xcalloc(1, sizeof(*w));
	struct gfs_node *d = ns->root, *k;
	const char *p = prefix + 1, *slash;
	size_t dlen = 0, l, pos = 0;

	w->fn = fn;
	w->cls = cls;
	w->dirs = dirs;
	if (prefix[0] != '/')
		goto out_free;
	/* Descend while a whole component followed by '/' is in prefix. */
	while ((slash = strchr(p, '/'))) {
		d = kid(d, p, (size_t)(slash - p));
		if (!d || d->type != GFS_NODE_DIR)
			goto out_free;
		w->path[dlen] = '/';
		memcpy(w->path + dlen + 1, p, (size_t)(slash - p));
		dlen += 1 + (size_t)(slash - p);
		p = slash + 1;
	}
	while ((k = gfs_ns_next_kid(d, &pos))) {
		l = k->name_len;
		if (strncmp(gfs_ns_name(k), p, strlen(p)))
			continue;
		w->path[dlen] = '/';
		memcpy(w->path + dlen + 1, gfs_ns_name(k), l + 1);
		visit(w, k, dlen + 1 + l);
		w->path[dlen] = '\0';
	}
out_free:
	free(w);
}

void gfs_ns_walk(struct gfs_node *dir, gfs_ns_fn fn, void *cls)
{
	struct walk_ctx *w = gfs_xcalloc(1, sizeof(*w));
	struct gfs_node *k;
	size_t len, pos = 0;

	w->fn = fn;
	w->cls = cls;
	w->all = true;
	gfs_ns_path(dir, w->path);
	len = dir->parent ? strlen(w->path) : 0;
	while ((k = gfs_ns_next_kid(dir, &pos))) {
		size_t l = k->name_len;

		w->path[len] = '/';
		memcpy(w->path + len + 1, gfs_ns_name(k), l + 1);
		visit(w, k, len + 1 + l);
	}
	free(w);
}

/* Position of index in file's chunk array (where it is or would go). */
static uint32_t chunk_pos(const struct gfs_node *f, uint32_t index)
{
	struct gfs_chunk **a = gfs_ns_chunks(f);
	uint32_t lo = 0, hi = f->file.nchunks;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (a[mid]->index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct gfs_chunk *gfs_ns_chunk_at(const struct gfs_node *file, uint32_t index)
{
	uint32_t i = chunk_pos(file, index);

	if (i < file->file.nchunks && gfs_ns_chunks(file)[i]->index == index)
		return gfs_ns_chunks(file)[i];
	return NULL;
}

/* Room for one more chunk: inline up to one, then a power-of-two array. */
static struct gfs_chunk **grow_chunks(struct gfs_node *f)
{
	uint32_t n = f->file.nchunks;
	struct gfs_chunk **a;

	if (n == 0)
		return (struct gfs_chunk **)&f->file.chunks;
	if (n == 1) {
		a = gfs_xmalloc(2 * sizeof(*a));
		a[0] = (struct gfs_chunk *)f->file.chunks;
		f->file.chunks = a;
		return a;
	}
	if ((n & (n - 1)) == 0)
		f->file.chunks = gfs_xrealloc(f->file.chunks,
					      n * 2 * sizeof(*a));
	return f->file.chunks;
}

struct gfs_chunk *gfs_ns_set_chunk(struct gfs_node *file, uint32_t index,
				   struct gfs_chunk *c)
{
	uint32_t i = chunk_pos(file, index), n = file->file.nchunks;
	struct gfs_chunk **a = gfs_ns_chunks(file), *old;

	if (i < n && a[i]->index == index) {
		old = a[i];
		a[i] = c;
		return old;
	}
	a = grow_chunks(file);
	memmove(a + i + 1, a + i, (n - i) * sizeof(c));
	a[i] = c;
	file->file.nchunks++;
	return NULL;
}

void gfs_ns_cut_chunks(struct gfs_node *file, uint32_t n,
		       void (*drop)(void *cls, struct gfs_chunk *c), void *cls)
{
	uint32_t i = chunk_pos(file, n), k, old = file->file.nchunks;
	struct gfs_chunk **a = gfs_ns_chunks(file), *first;

	for (k = i; k < old; k++)
		drop(cls, a[k]);
	if (old > 1 && i <= 1) {
		first = i ? a[0] : NULL;
		free(a);
		file->file.chunks = (struct gfs_chunk **)first;
	} else if (i == 0) {
		file->file.chunks = NULL;
	}
	file->file.nchunks = i;
}

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
 *
 * Listings page through a directory in the order of its entries'
 * positions: the bits of the hash the home slot is taken from (bits 3
 * and up), reversed (gfs_ns_pos()).  The top kbits of a position are
 * then its home slot's index, reversed, so the entries from a position
 * on are those of the homes in that reversed order from its own on, and
 * a resize keeps the order (home j becomes j or j + cap, one more bit at
 * the bottom of the index, at the end of the reversed one).  A page
 * visits O(its entries) homes, each to the end of its run (gfs_ns_list_kids()),
 * whatever the table's size was when the listing began.  Entries made in
 * listing order (cp -r of a listed directory, a checkpoint loaded) land
 * in homes spread over the table, not in one run as with homes taken
 * from the top bits (a sorted insert into such a table is quadratic: 29 s
 * to load one directory of 200,000).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
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

/* The home slot of hash h in a table of 1 << bits slots. */
static size_t home_of(uint64_t h, unsigned bits)
{
	return (size_t)(h >> 3) & (((size_t)1 << bits) - 1);
}

static uint64_t node_hash(const struct gfs_node *k)
{
	return name_hash(gfs_ns_name(k), k->name_len);
}

/* Put k into a table of 1 << bits slots (its name absent from it). */
static void slots_put(uintptr_t *slots, unsigned bits, struct gfs_node *k)
{
	uint64_t h = node_hash(k);
	size_t mask = ((size_t)1 << bits) - 1, i = home_of(h, bits);

	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = (uintptr_t)k | (uintptr_t)(h & TAG_MASK);
}

/* Rebuild dir's table with 1 << bits slots.  O(entries). */
static void kids_resize(struct gfs_node *dir, unsigned bits)
{
	uintptr_t *old = dir->dir.kids;
	size_t i, n = old ? kid_mask(dir) + 1 : 0;

	dir->dir.kids = gfs_xcalloc((size_t)1 << bits, sizeof(*old));
	dir->dir.kbits = (uint8_t)bits;
	for (i = 0; i < n; i++)
		if (old[i])
			slots_put(dir->dir.kids, bits, slot_node(old[i]));
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
	for (i = home_of(h, dir->dir.kbits); slots[i]; i = (i + 1) & mask) {
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
	slots_put(dir->dir.kids, dir->dir.kbits, k);
	dir->dir.nkids++;
}

/* Take k out of dir's table: shift back what follows it in its run,
 * shrink the table below 1/8 full, free it when empty. */
static void kids_del(struct gfs_node *dir, struct gfs_node *k)
{
	uintptr_t *slots = dir->dir.kids;
	size_t mask = kid_mask(dir), home, j;
	size_t i = home_of(node_hash(k), dir->dir.kbits);

	while (slot_node(slots[i]) != k)
		i = (i + 1) & mask;
	slots[i] = 0;
	for (j = (i + 1) & mask; slots[j]; j = (j + 1) & mask) {
		struct gfs_node *o = slot_node(slots[j]);

		home = home_of(node_hash(o), dir->dir.kbits);
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

/* v with its 64 bits in reverse order. */
static uint64_t bit_reverse(uint64_t v)
{
	v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
	v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
	v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
	return __builtin_bswap64(v);
}

/* The position of an entry of hash h: bits 3..63 reversed. */
static uint64_t hash_pos(uint64_t h)
{
	return bit_reverse(h >> 3) >> 3;
}

uint64_t gfs_ns_pos(const char *name, size_t len)
{
	return hash_pos(name_hash(name, len));
}

static int kid_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct gfs_ns_kid *)a)->pos;
	uint64_t y = ((const struct gfs_ns_kid *)b)->pos;

	return (x > y) - (x < y);
}

/* Sort v[0..n) by position and keep the first max, and those sharing
 * the last one's position.  Returns how many are kept. */
static size_t kids_cut(struct gfs_ns_kid *v, size_t n, size_t max)
{
	size_t m = max;

	if (n > 1)
		qsort(v, n, sizeof(*v), kid_cmp);
	if (n <= max)
		return n;
	while (m < n && v[m].pos == v[m - 1].pos)
		m++;
	return m;
}

/* Append k at pos to the page buffer *v of *n entries and room *room,
 * cutting it to max when it is 2 * max long; *cut: whether it was. */
static void kids_push(struct gfs_ns_kid **v, size_t *n, size_t *room,
		      size_t max, struct gfs_node *k, uint64_t pos, bool *cut)
{
	if (*n >= 2 * max && *n == *room) {
		*n = kids_cut(*v, *n, max);
		*cut = true;
	}
	if (*n == *room) {
		*room = *room ? 2 * *room : max < 64 ? 2 * max : 128;
		*v = gfs_xrealloc(*v, *room * sizeof(**v));
	}
	(*v)[(*n)++] = (struct gfs_ns_kid){ .pos = pos, .node = k };
}

/*
 * Homes are visited in the order of their reversed index, from the one
 * `from` falls in on: each from its slot to the end of its run, taking
 * the entries whose home it is.  Once max are kept, the rest (the homes
 * after) have higher positions.
 */
size_t gfs_ns_list_kids(const struct gfs_node *dir, uint64_t from,
			size_t max, struct gfs_ns_kid **out, bool *more)
{
	size_t cap = dir->dir.kids ? kid_mask(dir) + 1 : 0, n = 0, room = 0;
	unsigned bits = dir->dir.kbits;
	const uintptr_t *slots = dir->dir.kids;
	bool cut = false;
	size_t t, i, home, kept;

	*out = NULL;
	*more = false;
	if (!cap || from >= GFS_NS_POS_END)
		return 0;
	max = max ? max : 1;
	for (t = (size_t)(from >> (61 - bits)); t < cap && n < max; t++) {
		home = (size_t)(bit_reverse(t) >> (64 - bits));
		for (i = home; slots[i]; i = (i + 1) & (cap - 1)) {
			struct gfs_node *k = slot_node(slots[i]);
			uint64_t h = node_hash(k);

			if (home_of(h, bits) == home && hash_pos(h) >= from)
				kids_push(out, &n, &room, max, k, hash_pos(h),
					  &cut);
		}
	}
	kept = kids_cut(*out, n, max);
	*more = cut || kept < n || t < cap;
	return kept;
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
	char path[GFS_PATH_MAX + 2];
};

/* Visit n, whose path is already in w->path with length len, and below. */
static void visit(struct walk_ctx *w, struct gfs_node *n, size_t len)
{
	struct gfs_node *k;
	size_t pos = 0;

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

void gfs_ns_walk(struct gfs_node *dir, gfs_ns_fn fn, void *cls)
{
	struct walk_ctx *w = gfs_xcalloc(1, sizeof(*w));
	struct gfs_node *k;
	size_t len, pos = 0;

	w->fn = fn;
	w->cls = cls;
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

/* ---- prefix listings, a page at a time ---- */

/*
 * A prefix listing's cursor is the positions of the last node visited
 * and of its ancestors below the prefix's directory, top first, in
 * lowercase hex joined by '.': "3a0c1f.2b".  Resuming enters the entries
 * at each of those positions again (the way down to where it stopped)
 * and goes on above them.  No name is in it: a listing filtered for a
 * key shows no name of what it hides, not even in the cursor.
 */
#define LIST_BATCH 64                     /* entries read at a time */
#define CURSOR_DEPTH (GFS_PATH_MAX / 2)   /* components in a path */

struct page_walk {
	gfs_ns_list_fn fn;
	void *cls;
	bool dirs;                  /* show explicit directories */
	bool stopped;
	size_t budget;              /* nodes still to visit */
	char *next;                 /* the cursor once stopped, owned */
	size_t depth;               /* of the current node, below the top */
	uint64_t pos[CURSOR_DEPTH]; /* its path's positions below the top */
	char path[GFS_PATH_MAX + 2];
};

/* The cursor of the current node into w->next; stop the walk. */
static void stop_here(struct page_walk *w)
{
	char *c = gfs_xmalloc(w->depth * 17 + 1), *p = c;
	size_t i;

	for (i = 0; i < w->depth; i++)
		p += sprintf(p, "%s%" PRIx64, i ? "." : "", w->pos[i]);
	*p = '\0';
	w->next = c;
	w->stopped = true;
}

/* Count one visit; stop the walk when the budget is spent. */
static void spend(struct page_walk *w)
{
	if (!--w->budget)
		stop_here(w);
}

/* Positions of a cursor into pos[], their count into *n.  False when it
 * is not one gfs_ns_list_prefix() makes. */
static bool parse_cursor(const char *c, uint64_t *pos, size_t *n)
{
	char *end;

	for (*n = 0; *c; (*n)++) {
		if (*n == CURSOR_DEPTH || !isxdigit((unsigned char)*c) ||
		    isupper((unsigned char)*c))
			return false;
		errno = 0;
		pos[*n] = strtoull(c, &end, 16);
		if (errno || pos[*n] >= GFS_NS_POS_END ||
		    (*end && (*end != '.' || !end[1])))
			return false;
		c = *end ? end + 1 : end;
	}
	return *n > 0;
}

static void walk_dir(struct page_walk *w, struct gfs_node *dir, size_t len,
		     const uint64_t *after, size_t nafter, const char *match);

/* Enter k (an entry of the directory whose path is w->path[0..len)) at
 * position pos: with after, only the way down to the cursor; else visit
 * k and what is below it. */
static void enter(struct page_walk *w, struct gfs_node *k, uint64_t pos,
		  size_t len, const uint64_t *after, size_t nafter)
{
	size_t l = len + 1 + k->name_len;

	w->path[len] = '/';
	memcpy(w->path + len + 1, gfs_ns_name(k), k->name_len + 1u);
	w->pos[w->depth++] = pos;
	if (after) {
		if (k->type == GFS_NODE_DIR)
			walk_dir(w, k, l, nafter ? after : NULL, nafter, NULL);
	} else if ((k->type != GFS_NODE_DIR || (w->dirs && k->is_explicit)) &&
		   !w->fn(w->cls, k, w->path)) {
		stop_here(w);
	} else {
		spend(w);
		if (!w->stopped && k->type == GFS_NODE_DIR)
			walk_dir(w, k, l, NULL, 0, NULL);
	}
	w->depth--;
	w->path[len] = '\0';
}

/* Whether entry k may be listed at the top (its name starts with the
 * prefix's last component). */
static bool matches(const struct gfs_node *k, const char *match)
{
	return !match || !strncmp(gfs_ns_name(k), match, strlen(match));
}

/* The entries of dir (path w->path[0..len)) from position from on, in
 * position order, each entered (or, not matching, counted and passed). */
static void walk_from(struct page_walk *w, struct gfs_node *dir, size_t len,
		      uint64_t from, const char *match)
{
	struct gfs_ns_kid *kids;
	size_t i, n;
	bool more;

	do {
		n = gfs_ns_list_kids(dir, from, LIST_BATCH, &kids, &more);
		for (i = 0; i < n && !w->stopped; i++) {
			if (matches(kids[i].node, match)) {
				enter(w, kids[i].node, kids[i].pos, len, NULL,
				      0);
				continue;
			}
			w->pos[w->depth++] = kids[i].pos;
			spend(w);
			w->depth--;
		}
		from = n ? kids[n - 1].pos + 1 : from;
		free(kids);
	} while (more && !w->stopped);
}

/* Walk dir (path w->path[0..len)), after the cursor's positions when
 * nafter: down the entries at after[0] to resume below them, then on
 * from the next position. */
static void walk_dir(struct page_walk *w, struct gfs_node *dir, size_t len,
		     const uint64_t *after, size_t nafter, const char *match)
{
	struct gfs_ns_kid *kids;
	size_t i, n;
	bool more;

	if (!nafter) {
		walk_from(w, dir, len, 0, match);
		return;
	}
	n = gfs_ns_list_kids(dir, after[0], 1, &kids, &more);
	for (i = 0; i < n && !w->stopped; i++)
		if (kids[i].pos == after[0] && matches(kids[i].node, match))
			enter(w, kids[i].node, kids[i].pos, len, after + 1,
			      nafter - 1);
	free(kids);
	if (!w->stopped)
		walk_from(w, dir, len, after[0] + 1, match);
}

/* The directory holding the prefix's last component (whole components
 * followed by '/' descend), its path into w->path, its length into *len,
 * and that component into *match; NULL when there is none. */
static struct gfs_node *prefix_dir(struct gfs_ns *ns, const char *prefix,
				   struct page_walk *w, size_t *len,
				   const char **match)
{
	struct gfs_node *d = ns->root;
	const char *p = prefix + 1, *slash;
	size_t l;

	*len = 0;
	if (prefix[0] != '/')
		return NULL;
	while ((slash = strchr(p, '/'))) {
		l = (size_t)(slash - p);
		d = kid(d, p, l);
		if (!d || d->type != GFS_NODE_DIR || *len + 1 + l > GFS_PATH_MAX)
			return NULL;
		w->path[*len] = '/';
		memcpy(w->path + *len + 1, p, l);
		*len += 1 + l;
		p = slash + 1;
	}
	w->path[*len] = '\0';
	*match = p;
	return d;
}

enum gfs_err gfs_ns_list_prefix(struct gfs_ns *ns, const char *prefix,
				bool dirs, const char *cursor, size_t budget,
				gfs_ns_list_fn fn, void *cls, char **next)
{
	struct page_walk *w = gfs_xcalloc(1, sizeof(*w));
	uint64_t *after = NULL;
	struct gfs_node *d;
	const char *match = "";
	size_t len, nafter = 0;
	enum gfs_err err = GFS_OK;

	*next = NULL;
	w->fn = fn;
	w->cls = cls;
	w->dirs = dirs;
	w->budget = budget ? budget : 1;
	if (cursor) {
		after = gfs_xmalloc(CURSOR_DEPTH * sizeof(*after));
		if (!parse_cursor(cursor, after, &nafter)) {
			err = GFS_EINVAL;
			goto out_free;
		}
	}
	d = prefix_dir(ns, prefix, w, &len, &match);
	if (d)
		walk_dir(w, d, len, after, nafter, match);
	*next = w->next;
out_free:
	free(after);
	free(w);
	return err;
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

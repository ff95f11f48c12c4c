/*
 * namespace.c - the tree of files and directories; see namespace.h.
 *
 * Paths are walked component by component without copying: a component is
 * a (pointer, length) pair into the path, looked up with HASH_FIND on the
 * parent's table.
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
	struct gfs_node *n = gfs_xcalloc(1, sizeof(*n));

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
	free(n);
}

void gfs_ns_init(struct gfs_ns *ns)
{
	memset(ns, 0, sizeof(*ns));
	ns->next_ino = 1;
	ns->root = node_new(ns, "", 0, GFS_NODE_DIR, 1);
	ns->root->mode = 0755;
	ns->root->is_explicit = 1;
}

static void free_tree(struct gfs_ns *ns, struct gfs_node *n)
{
	struct gfs_node *k, *tmp;

	if (n->type == GFS_NODE_DIR) {
		HASH_ITER(hh, n->dir.kids, k, tmp) {
			HASH_DELETE(hh, n->dir.kids, k);
			free_tree(ns, k);
		}
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

static struct gfs_node *kid(struct gfs_node *dir, const char *name, size_t len)
{
	struct gfs_node *k = NULL;

	HASH_FIND(hh, dir->dir.kids, name, len, k);
	return k;
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

enum gfs_err gfs_ns_can_create(struct gfs_ns *ns, const char *path)
{
	struct gfs_node *n;
	const char *rest;
	enum gfs_err err = walk(ns, path, &n, &rest);

	if (err)
		return err;
	return *rest ? GFS_OK : GFS_EEXIST;
}

static void link_kid(struct gfs_ns *ns, struct gfs_node *dir,
		     struct gfs_node *k)
{
	k->parent = dir;
	HASH_ADD_KEYPTR(hh, dir->dir.kids, gfs_ns_name(k), k->name_len, k);
	if (k->type == GFS_NODE_DIR) {
		ns->ndirs++;
		dir->dir.nsubdirs++;
	} else if (k->type != GFS_NODE_LINK) {
		ns->nfiles++;
	}
}

static void unlink_kid(struct gfs_ns *ns, struct gfs_node *k)
{
	HASH_DELETE(hh, k->parent->dir.kids, k);
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
	struct gfs_node *at, *parent, *n;
	const char *rest, *name;
	size_t len;

	if (!ino)
		ino = ns->next_ino;
	walk(ns, path, &at, &rest);
	parent = make_parents(ns, at, rest, mtime_ns, ino + 1, &name, &len);
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
	n = gfs_xcalloc(1, sizeof(*n));
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
	while (dir != ns->root && !dir->is_explicit && !dir->dir.kids) {
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
	return victim->dir.kids ? GFS_ENOTEMPTY : GFS_OK;
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
	const struct gfs_node *k, *tmp;
	size_t best = 0, l;

	HASH_ITER(hh, dir->dir.kids, k, tmp) {
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
		p->dir.nleases = minus ? p->dir.nleases - n
				       : p->dir.nleases + n;
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
	struct gfs_node *k, *tmp, *found;

	if (!dir->dir.nleases)
		return NULL;
	HASH_ITER(hh, dir->dir.kids, k, tmp) {
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

unsigned gfs_ns_nkids(const struct gfs_node *dir)
{
	return HASH_COUNT(dir->dir.kids);
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
	struct gfs_node *k, *tmp;

	if (n->type != GFS_NODE_DIR || w->all || (w->dirs && n->is_explicit))
		w->fn(w->cls, n, w->path);
	if (n->type != GFS_NODE_DIR)
		return;
	HASH_ITER(hh, n->dir.kids, k, tmp) {
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
	struct gfs_node *d = ns->root, *k, *tmp;
	const char *p = prefix + 1, *slash;
	size_t dlen = 0, l;

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
	HASH_ITER(hh, d->dir.kids, k, tmp) {
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
	struct gfs_node *k, *tmp;
	size_t len;

	w->fn = fn;
	w->cls = cls;
	w->all = true;
	gfs_ns_path(dir, w->path);
	len = dir->parent ? strlen(w->path) : 0;
	HASH_ITER(hh, dir->dir.kids, k, tmp) {
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

/*
 * namespace.h - the tree of inodes and directory entries.
 *
 * For: paths to nodes and back, creating, removing, linking and moving
 * names, listing.  A node is a directory entry with the inode it names:
 * a file (size, times, owner, mode, chunk size, a sorted array of chunk
 * pointers), a directory (its entries in a table keyed by name), a
 * symlink (its target, never followed here), a FIFO, socket or device
 * (metadata only), or a further name of a non-directory inode (a hard
 * link).  Every inode has a stable number, logged with it.  A lookup is
 * O(depth), a directory listing O(children), and a rename moves a whole
 * subtree by relinking one node.
 * Not for: chunk handles, versions or locations (chunks.c owns struct
 * gfs_chunk; a file only points at its chunks), leases beyond the pointer
 * slot, extended attributes beyond dropping an inode's (xattr.c), logging,
 * locking.  Every function needs the master lock.
 *
 * Invariants: the root always exists, is a directory and has inode 1; a
 * directory that is not explicit (made by mkdir) has at least one child
 * and disappears with its last one; a non-directory inode's nlink counts
 * its names (its own node and the LINK nodes in ns->links); a file's
 * chunks are sorted by index, without duplicates; a directory's mtime is
 * at least the newest mtime a create, commit or rename set below it
 * (updated on the way up, never lowered by a removal; utimensat sets it
 * exactly); a directory's nleases counts the files below it whose lease
 * slot is set (kept by gfs_ns_count_lease(), moved with a renamed
 * subtree; a lease is counted at its inode's own name only).
 */
#ifndef GFS_NAMESPACE_H
#define GFS_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "err.h"
#include "kept.h"
#include "pool.h"

struct gfs_chunk;
struct gfs_lease;
struct gfs_xattrs;

enum gfs_node_type {
	GFS_NODE_FILE = 0,
	GFS_NODE_DIR = 1,
	GFS_NODE_SYMLINK = 2,       /* sym.target; never followed here */
	GFS_NODE_FIFO = 3,          /* FIFOs, sockets, devices: metadata */
	GFS_NODE_SOCK = 4,
	GFS_NODE_CHR = 5,           /* dev.rdev */
	GFS_NODE_BLK = 6,
	GFS_NODE_LINK = 7,          /* a further name of link.target's
				     * inode (a hard link), see below */
};

/* Names up to this long (without the NUL) live in the node itself. */
#define GFS_NS_INLINE_NAME 15

/*
 * A node is a directory entry and the inode it names, in one allocation
 * (most inodes have one name).  An inode with several names (link(2),
 * never a directory) is the node of its first name; each further name is
 * a GFS_NODE_LINK node, a bare entry pointing at it, listed in the
 * namespace's link table.  gfs_ns_lookup() answers the inode,
 * gfs_ns_lookup_entry() the entry.  When the inode's own name goes while
 * others remain, the inode node takes over the place of one of them, so
 * pointers to an inode (hidden table, leases, link targets) stay valid.
 */
struct gfs_node {
	struct gfs_node *parent;    /* NULL for the root */
	union {                     /* gfs_ns_name() */
		char *ptr;          /* owned, when name_len > inline */
		char in[GFS_NS_INLINE_NAME + 1];
	} nm;
	int64_t mtime_ns;
	int64_t atime_ns;
	int64_t ctime_ns;
	union {
		struct {
			/* the entries: open addressing by name, 1 << kbits
			 * slots (namespace.c), owned; NULL when there are
			 * none.  Use gfs_ns_next_kid(), gfs_ns_nkids(). */
			uintptr_t *kids;
			uint32_t nkids;
			uint32_t nsubdirs;  /* kids that are directories */
			/* files below (at any depth) holding a lease
			 * record, expired or not: a rename of the
			 * directory looks for a blocking lease only when
			 * this is not 0 (gfs_ns_find_lease()) */
			uint32_t nleases;
			uint8_t kbits;
		} dir;
		struct {
			/* Use gfs_ns_chunks(): [0..nchunks) sorted by
			 * index.  With at most one chunk the pointer is
			 * kept in this slot itself (no malloc for small
			 * files); else it is an owned array.  The chunks
			 * belong to chunks.c. */
			struct gfs_chunk **chunks;
			uint64_t size;
			uint32_t nchunks;
			uint32_t chunk_size;
		} file;
		struct {
			char *target;       /* owned, 1..4095 bytes */
		} sym;
		struct {
			uint64_t rdev;      /* Linux encoding (makedev) */
		} dev;
		struct {
			struct gfs_node *target; /* the inode (not a LINK) */
		} link;
	};
	struct gfs_lease *lease;    /* files: owned by lease.c, or NULL */
	uint64_t ino;               /* stable: logged with the inode */
	uint32_t uid;
	uint32_t gid;
	uint32_t nlink;             /* names of a non-directory inode */
	uint32_t last_alloc;        /* files: index of the last allocation */
	uint16_t last_first;        /* its first replica (server id) */
	uint16_t mode;              /* permission bits (07777) */
	uint8_t name_len;           /* 255 at most (GFS_NAME_MAX) */
	uint8_t type;               /* enum gfs_node_type */
	uint8_t is_explicit;        /* directories made by mkdir */
	uint8_t hidden;             /* files: an upload not committed yet,
				     * invisible to clients (gfs_ns_hide) */
};

/* The node's name (borrowed, NUL-terminated; "" for the root). */
static inline const char *gfs_ns_name(const struct gfs_node *n)
{
	return n->name_len > GFS_NS_INLINE_NAME ? n->nm.ptr : n->nm.in;
}

/* The inode a node names: itself, or a hard link's target. */
static inline struct gfs_node *gfs_ns_inode(struct gfs_node *n)
{
	return n->type == GFS_NODE_LINK ? n->link.target : n;
}

/* The further names of an inode with nlink > 1 (by inode pointer). */
struct gfs_linkset {
	struct gfs_node *inode;     /* hash key */
	struct gfs_node **names;    /* owned array of LINK nodes */
	uint32_t n, cap;
	UT_hash_handle hh;
};

/* A hidden file and since when nothing happened to it. */
struct gfs_hidden {
	struct gfs_node *node;      /* hash key; the node is in the tree */
	int64_t since_ms;           /* monotonic: creation or last alloc */
	UT_hash_handle hh;
};

struct gfs_ns {
	struct gfs_node *root;      /* owned */
	struct gfs_pool nodes;      /* every struct gfs_node, owned */
	uint64_t nfiles;            /* hidden ones included */
	uint64_t ndirs;             /* not counting the root */
	uint64_t next_ino;          /* above every inode number in use */
	struct gfs_hidden *hidden;  /* uthash by node, owned: every file
				     * whose hidden flag is set */
	struct gfs_linkset *links;  /* uthash by inode, owned */
	struct gfs_xattrs *xattrs;  /* uthash by inode, owned (xattr.c):
				     * the inodes with user attributes */
	struct gfs_kept_set kept;     /* files unlinked while open, off the
				     * tree (kept.h), owned */
	uint64_t walks;             /* paths walked so far (tests count
				     * them: a record walks its path once) */
};

void gfs_ns_init(struct gfs_ns *ns);
/* Free every node.  Chunks are not touched (the caller drops them). */
void gfs_ns_free(struct gfs_ns *ns);

/* The inode at path (borrowed until it is removed; a hard link is
 * resolved to its inode).  GFS_ENOENT, or GFS_ENOTDIR when a proper
 * prefix of path is not a directory (symlinks are never followed). */
enum gfs_err gfs_ns_lookup(struct gfs_ns *ns, const char *path,
			   struct gfs_node **out);
/* The entry at path: as gfs_ns_lookup(), but a hard link's own node. */
enum gfs_err gfs_ns_lookup_entry(struct gfs_ns *ns, const char *path,
				 struct gfs_node **out);
/* Whether path could be created: GFS_OK, GFS_EEXIST, GFS_ENOTDIR. */
enum gfs_err gfs_ns_can_create(struct gfs_ns *ns, const char *path);

/*
 * One walk of a path, kept for the calls that follow it, so that a record
 * that looks a path up, checks that it can be created and creates it
 * walks it once (a million files load from a checkpoint in one walk
 * each).  Valid until the tree changes.
 */
struct gfs_ns_spot {
	struct gfs_node *at;        /* the deepest existing entry on it */
	const char *rest;           /* the part of path below `at`, in
				     * path: "" when the whole path exists */
	enum gfs_err err;           /* GFS_ENOTDIR: `at` is no directory
				     * and path goes on below it */
};
/* Walk path (absolute, normalised) as far as it exists.  O(depth). */
void gfs_ns_locate(struct gfs_ns *ns, const char *path, struct gfs_ns_spot *s);
/* The entry a spot found (a hard link's own node), or NULL. */
static inline struct gfs_node *gfs_ns_spot_entry(const struct gfs_ns_spot *s)
{
	return !s->err && !*s->rest ? s->at : NULL;
}
/* gfs_ns_can_create() of the spot's path: GFS_OK, GFS_EEXIST, GFS_ENOTDIR. */
static inline enum gfs_err gfs_ns_spot_can_create(const struct gfs_ns_spot *s)
{
	return s->err ? s->err : *s->rest ? GFS_OK : GFS_EEXIST;
}
/* gfs_ns_create() at a spot that gfs_ns_spot_can_create() allowed (the
 * tree unchanged since it was located). */
struct gfs_node *gfs_ns_create_at(struct gfs_ns *ns,
				  const struct gfs_ns_spot *s,
				  enum gfs_node_type type, uint32_t mode,
				  int64_t mtime_ns, uint32_t chunk_size,
				  uint64_t ino);
/* Create path (gfs_ns_can_create() must have said GFS_OK), with missing
 * parent directories made implicit.  The node gets inode number ino (0:
 * the next free one) and the parents made ino + 1, + 2... in order, so
 * that a record naming ino gives every master the same numbers.  Type
 * is any but GFS_NODE_LINK; a symlink's target is set by the caller.
 * Returns the node (borrowed). */
struct gfs_node *gfs_ns_create(struct gfs_ns *ns, const char *path,
			       enum gfs_node_type type, uint32_t mode,
			       int64_t mtime_ns, uint32_t chunk_size,
			       uint64_t ino);
/* A new name at path (gfs_ns_can_create() said GFS_OK) for inode (not a
 * directory, not hidden): its nlink grows.  Returns the LINK node. */
struct gfs_node *gfs_ns_link(struct gfs_ns *ns, struct gfs_node *inode,
			     const char *path, int64_t t);
/* Remove the entry node (not the root; a directory must be empty).  The
 * inode goes with its last name (its chunk array is freed, not the
 * chunks); while it has others only the name goes.  Implicit parents
 * left empty go too.  True when the inode went. */
bool gfs_ns_remove(struct gfs_ns *ns, struct gfs_node *node);
/* Whether removing entry node takes its inode with it. */
static inline bool gfs_ns_last_name(struct gfs_node *node)
{
	return node->type != GFS_NODE_LINK && node->nlink <= 1;
}
/* Whether removing entry node while a client has it open leaves data
 * to keep (kept.h): it is the last name of a visible file. */
static inline bool gfs_ns_keepable(struct gfs_node *node)
{
	return node->type == GFS_NODE_FILE && gfs_ns_last_name(node) &&
	       !node->hidden;
}
/*
 * Whether node may move to path `to` (POSIX rename rules, overwrite
 * allowing a file to replace a file or a directory an empty directory).
 * *victim is the node that would be replaced, or NULL.  GFS_EINVAL for
 * moving a directory below itself or the root; GFS_ENAMETOOLONG when a
 * path below a directory would outgrow GFS_PATH_MAX (O(subtree) for a
 * rename that makes the directory's path longer, else O(depth)).  Two
 * names of one inode: GFS_OK with *victim NULL, and the rename does
 * nothing (POSIX).
 */
enum gfs_err gfs_ns_can_rename(struct gfs_ns *ns, struct gfs_node *node,
			       const char *to, bool overwrite,
			       struct gfs_node **victim);
/* Move node to `to` (after gfs_ns_can_rename() and after the victim was
 * removed). */
void gfs_ns_rename(struct gfs_ns *ns, struct gfs_node *node, const char *to);
/* Whether entries a and b name the same inode. */
static inline bool gfs_ns_same_inode(struct gfs_node *a, struct gfs_node *b)
{
	return gfs_ns_inode(a) == gfs_ns_inode(b);
}
/* Set a node's inode number (a record or checkpoint names it). */
void gfs_ns_set_ino(struct gfs_ns *ns, struct gfs_node *n, uint64_t ino);
/* A directory's link count: 2 + its subdirectories; else nlink. */
uint32_t gfs_ns_nlink(const struct gfs_node *inode);

/* Take the last name of a file inode (gfs_ns_last_name(), not hidden)
 * off the tree without freeing the inode, as gfs_ns_remove() would
 * (implicit parents left empty go): an inode of link count 0, no longer
 * counted or found by any path (a kept file, kept.h).  Its lease must be
 * cleared first. */
void gfs_ns_detach(struct gfs_ns *ns, struct gfs_node *node);
/* A new file inode ino off the tree, link count 0 (a kept file loaded
 * from a checkpoint; the caller sets its attributes). */
struct gfs_node *gfs_ns_new_detached(struct gfs_ns *ns, uint64_t ino);
/* Free an inode off the tree (its chunk array and extended attributes,
 * not the chunks). */
void gfs_ns_free_detached(struct gfs_ns *ns, struct gfs_node *node);

/* Raise the mtime of node's ancestors to at least t.  O(depth). */
void gfs_ns_touch_up(struct gfs_node *node, int64_t t);
/* An entry of dir was added or removed at t: its mtime and ctime become
 * at least t (and every ancestor's mtime, gfs_ns_touch_up()). */
void gfs_ns_touch_dir(struct gfs_node *dir, int64_t t);
/* Full path of node into buf (at least GFS_PATH_MAX + 1 bytes). */
void gfs_ns_path(const struct gfs_node *node, char *buf);
/* Number of children of a directory.  O(1). */
static inline unsigned gfs_ns_nkids(const struct gfs_node *dir)
{
	return dir->dir.nkids;
}
/* The entries of dir one by one, in no particular order: start with
 * *pos 0; NULL after the last.  The directory must not change
 * meanwhile.  O(1) amortised. */
struct gfs_node *gfs_ns_next_kid(const struct gfs_node *dir, size_t *pos);

/* A file's lease slot was filled (delta 1) or emptied (-1): count it in
 * every directory above it.  O(depth). */
void gfs_ns_count_lease(struct gfs_node *file, int delta);
/* The first file below dir (at any depth) for which blocks(cls, file)
 * is true, or NULL.  Only subtrees whose nleases is not 0 are entered,
 * so the cost is O(kids of the directories on the way to leased files),
 * nothing when no lease is held below dir. */
struct gfs_node *gfs_ns_find_lease(struct gfs_node *dir,
				   bool (*blocks)(void *cls,
						  struct gfs_node *file),
				   void *cls);

/*
 * Hidden files: an upload that must not be seen before its first commit
 * (docs/MASTER.md).  The node is in the tree like any file, so the
 * uploader reaches it by path, but callers treat it as absent for
 * everyone else; a file or directory created or renamed onto its path
 * replaces it (gfs_ns_can_rename() allows that whatever the types).
 * gfs_ns_remove() forgets it.  Each O(1).
 */
void gfs_ns_hide(struct gfs_ns *ns, struct gfs_node *file, int64_t now_ms);
void gfs_ns_show(struct gfs_ns *ns, struct gfs_node *file);
/* Something happened to a hidden file (a chunk allocation). */
void gfs_ns_touch_hidden(struct gfs_ns *ns, struct gfs_node *file,
			 int64_t now_ms);
/* A hidden file untouched since before cutoff_ms, or NULL.  O(hidden). */
struct gfs_node *gfs_ns_stale_hidden(struct gfs_ns *ns, int64_t cutoff_ms);

/*
 * Listing order.  An entry's position in its directory is a 61-bit
 * function of its name alone (bits 3-63 of its hash, reversed: see
 * namespace.c), the same in every master, so a listing resumed from a
 * position (a cursor, a readdir offset) after the directory changed, its
 * table resized or the primary changed goes on where it stopped.
 * Changing the hash breaks listings in progress: it is part of the
 * protocol (docs/PROTOCOL.md).  Two names of one directory share a
 * position once in 2^61 pairs.
 */
#define GFS_NS_POS_END ((uint64_t)1 << 61)   /* above every position */
uint64_t gfs_ns_pos(const char *name, size_t len);

/* An entry as a listing page has it. */
struct gfs_ns_kid {
	uint64_t pos;               /* gfs_ns_pos() of its name */
	struct gfs_node *node;      /* borrowed, while the lock is held */
};

/*
 * A page of dir's entries: those at position from or above, in position
 * order, at most max (>= 1) of them unless more share the last one's
 * position (a page never ends inside a position, so that resuming at
 * out[n - 1].pos + 1 skips nothing).  *out: a new array (caller frees;
 * NULL when nothing is returned).  *more: whether entries may follow.
 * An entry present from the first page to the last is returned exactly
 * once, however the directory changes between pages; one added or
 * removed meanwhile may or may not be.  O(n log n + slots read): about
 * 4/3 homes an entry, each read to the end of its run.
 */
size_t gfs_ns_list_kids(const struct gfs_node *dir, uint64_t from,
			size_t max, struct gfs_ns_kid **out, bool *more);

/* Called for each node a prefix listing shows, with its full path
 * (borrowed); returns whether the listing takes more. */
typedef bool (*gfs_ns_list_fn)(void *cls, struct gfs_node *node,
			       const char *path);
/*
 * A page of the files (and with dirs, the explicit directories) whose
 * path starts with the string prefix: depth first, parents before their
 * children, each directory's entries in position order, starting after
 * the node that cursor names (NULL: from the start).  It stops once fn
 * returned false or budget nodes were visited (shown or not: directories
 * on the way, entries that do not match).  *next: where to go on (a new
 * string, caller frees), or NULL at the end.  GFS_EINVAL for a cursor
 * this did not make.  Pages skip nothing present throughout, but two
 * names in one directory of one position (gfs_ns_pos()) may be listed
 * twice or skipped when a page stopped below them.  O(visited + depth).
 */
enum gfs_err gfs_ns_list_prefix(struct gfs_ns *ns, const char *prefix,
				bool dirs, const char *cursor, size_t budget,
				gfs_ns_list_fn fn, void *cls, char **next);

/* Called for each node walked, with its full path (borrowed). */
typedef void (*gfs_ns_fn)(void *cls, struct gfs_node *node, const char *path);
/* Every node below dir (not dir itself), parents before children.
 * O(subtree). */
void gfs_ns_walk(struct gfs_node *dir, gfs_ns_fn fn, void *cls);

/* The chunk array of a file, valid until it changes. */
static inline struct gfs_chunk **gfs_ns_chunks(const struct gfs_node *f)
{
	return f->file.nchunks <= 1 ? (struct gfs_chunk **)&f->file.chunks
				    : f->file.chunks;
}

/* The chunk of file at index, or NULL (binary search, O(log chunks)). */
struct gfs_chunk *gfs_ns_chunk_at(const struct gfs_node *file, uint32_t index);
/* Set the chunk at index (inserting or replacing; the old one, if any, is
 * returned for the caller to drop).  O(chunks) for an insert in the
 * middle, O(1) amortised at the end. */
struct gfs_chunk *gfs_ns_set_chunk(struct gfs_node *file, uint32_t index,
				   struct gfs_chunk *c);
/* Cut the array to the chunks with index < n; the removed ones are handed
 * to drop(cls, chunk). */
void gfs_ns_cut_chunks(struct gfs_node *file, uint32_t n,
		       void (*drop)(void *cls, struct gfs_chunk *c), void *cls);

#endif

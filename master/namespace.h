/*
 * namespace.h - the tree of files and directories.
 *
 * For: paths to nodes and back, creating, removing and moving nodes,
 * listing.  A node is a file (size, mtime, mode, chunk size, a sorted array
 * of chunk pointers) or a directory (children in a uthash table keyed by
 * name), so a lookup is O(depth), a directory listing O(children), and a
 * rename moves a whole subtree by relinking one node.
 * Not for: chunk handles, versions or locations (chunks.c owns struct
 * gfs_chunk; a file only points at its chunks), leases beyond the pointer
 * slot, logging, locking.  Every function needs the master lock.
 *
 * Invariants: the root always exists and is a directory; a directory that
 * is not explicit (made by mkdir) has at least one child and disappears
 * with its last one; a file's chunks are sorted by index, without
 * duplicates; a directory's mtime is at least the newest mtime ever set
 * below it (updated on the way up, never lowered by a removal); a
 * directory's nleases counts the files below it whose lease slot is set
 * (kept by gfs_ns_count_lease(), moved with a renamed subtree).
 */
#ifndef GFS_NAMESPACE_H
#define GFS_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "err.h"

struct gfs_chunk;
struct gfs_lease;

enum gfs_node_type {
	GFS_NODE_FILE = 0,
	GFS_NODE_DIR = 1,
};

struct gfs_node {
	UT_hash_handle hh;          /* in parent's kids, keyed by name */
	struct gfs_node *parent;    /* NULL for the root */
	char *name;                 /* owned; "" for the root */
	int64_t mtime_ns;
	struct gfs_lease *lease;    /* files: owned by lease.c, or NULL */
	union {
		struct {
			struct gfs_node *kids; /* uthash head, owned */
			/* files below (at any depth) holding a lease
			 * record, expired or not: a rename of the
			 * directory looks for a blocking lease only when
			 * this is not 0 (gfs_ns_find_lease()) */
			uint64_t nleases;
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
	};
	uint64_t id;                /* unique in this process, not logged */
	uint32_t mode;              /* permission bits */
	uint32_t last_alloc;        /* files: index of the last allocation */
	uint16_t last_first;        /* its first replica (server id) */
	uint8_t type;               /* enum gfs_node_type */
	uint8_t is_explicit;        /* directories made by mkdir */
	uint8_t hidden;             /* files: an upload not committed yet,
				     * invisible to clients (gfs_ns_hide) */
};

/* A hidden file and since when nothing happened to it. */
struct gfs_hidden {
	struct gfs_node *node;      /* hash key; the node is in the tree */
	int64_t since_ms;           /* monotonic: creation or last alloc */
	UT_hash_handle hh;
};

struct gfs_ns {
	struct gfs_node *root;      /* owned */
	uint64_t nfiles;            /* hidden ones included */
	uint64_t ndirs;             /* not counting the root */
	uint64_t next_id;
	struct gfs_hidden *hidden;  /* uthash by node, owned: every file
				     * whose hidden flag is set */
};

void gfs_ns_init(struct gfs_ns *ns);
/* Free every node.  Chunks are not touched (the caller drops them). */
void gfs_ns_free(struct gfs_ns *ns);

/* The node at path (borrowed until it is removed).  GFS_ENOENT, or
 * GFS_ENOTDIR when a proper prefix of path is a file. */
enum gfs_err gfs_ns_lookup(struct gfs_ns *ns, const char *path,
			   struct gfs_node **out);
/* Whether path could be created: GFS_OK, GFS_EEXIST, GFS_ENOTDIR. */
enum gfs_err gfs_ns_can_create(struct gfs_ns *ns, const char *path);
/* Create path (gfs_ns_can_create() must have said GFS_OK), with missing
 * parent directories made implicit.  Returns the node (borrowed). */
struct gfs_node *gfs_ns_create(struct gfs_ns *ns, const char *path,
			       enum gfs_node_type type, uint32_t mode,
			       int64_t mtime_ns, uint32_t chunk_size);
/* Unlink node (not the root, a file or an empty directory) and free it;
 * implicit parents left empty go too.  Its chunk array is freed, not the
 * chunks. */
void gfs_ns_remove(struct gfs_ns *ns, struct gfs_node *node);
/*
 * Whether node may move to path `to` (POSIX rename rules, overwrite
 * allowing a file to replace a file or a directory an empty directory).
 * *victim is the node that would be replaced, or NULL.  GFS_EINVAL for
 * moving a directory below itself or the root; GFS_ENAMETOOLONG when a
 * path below a directory would outgrow GFS_PATH_MAX (O(subtree) for a
 * rename that makes the directory's path longer, else O(depth)).
 */
enum gfs_err gfs_ns_can_rename(struct gfs_ns *ns, struct gfs_node *node,
			       const char *to, bool overwrite,
			       struct gfs_node **victim);
/* Move node to `to` (after gfs_ns_can_rename() and after the victim was
 * removed). */
void gfs_ns_rename(struct gfs_ns *ns, struct gfs_node *node, const char *to);

/* Raise the mtime of node's ancestors to at least t.  O(depth). */
void gfs_ns_touch_up(struct gfs_node *node, int64_t t);
/* Full path of node into buf (at least GFS_PATH_MAX + 1 bytes). */
void gfs_ns_path(const struct gfs_node *node, char *buf);
/* Number of children of a directory.  O(1). */
unsigned gfs_ns_nkids(const struct gfs_node *dir);

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

/* Called for each node listed, with its full path (borrowed). */
typedef void (*gfs_ns_fn)(void *cls, struct gfs_node *node, const char *path);
/* Every file (and with dirs, every explicit directory) whose path starts
 * with the string prefix, in no particular order.  O(matches + depth). */
void gfs_ns_list_prefix(struct gfs_ns *ns, const char *prefix, bool dirs,
			gfs_ns_fn fn, void *cls);
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

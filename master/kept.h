/*
 * kept.h - files unlinked while a client holds them open ("kept files",
 * the orphan list of issue 11: "orphan" names unknown chunks here).
 *
 * For: a file whose last name a client removes while it has it open
 * stays whole (its inode, of link count 0, with its chunks and extended
 * attributes) off the tree, as a kept file with an id, held by that
 * client (its lease holder name) until it says it closed it or stops
 * renewing it (a crash): then its chunks go to garbage collection, as a
 * deleted file's do.  POSIX keeps an unlinked file's data until its last
 * close; the client keeps the descriptors, the master the data.  The
 * removal of one of several names of an inode needs no keeping.
 * Not for: logging (journal.c: KEPT, KEPT_RENEW, KEPT_DROP,
 * KEPT_FILE), the decision to reap (ops.c), the tree (namespace.c
 * detaches the node).
 *
 * Invariants: every kept file's node is a file inode with no parent and
 * link count 0, owned by the table; ids are unique and never reused: the
 * primary names a kept file after the op-log sequence number of its KEPT
 * record.  Expiry is by wall clock (Unix ms), as for leases, so a
 * restart or failover does not extend it.  Needs the master lock.
 */
#ifndef GFS_KEPT_H
#define GFS_KEPT_H

#include <stdbool.h>
#include <stdint.h>

#include <uthash.h>

struct gfs_node;

struct gfs_kept {
	uint64_t id;             /* hash key */
	struct gfs_node *node;   /* owned: a file off the tree */
	char *holder;            /* owned: who may renew and release */
	int64_t expires_ms;      /* Unix ms */
	uint32_t ttl;            /* seconds per renewal */
	UT_hash_handle hh;
};

struct gfs_kept_set {
	struct gfs_kept *by_id; /* uthash, owned */
	uint64_t count;
};

/* Keep node (already off the tree) as kept file id.  Holder copied. */
struct gfs_kept *gfs_kept_add(struct gfs_kept_set *t, uint64_t id,
				  struct gfs_node *node, const char *holder,
				  int64_t expires_ms, uint32_t ttl);
/* The kept file id, or NULL.  O(1). */
struct gfs_kept *gfs_kept_find(struct gfs_kept_set *t, uint64_t id);
/* A kept file that expired before now_ms, or NULL.  O(kept files). */
struct gfs_kept *gfs_kept_expired(struct gfs_kept_set *t, int64_t now_ms);
/* Forget o and return its node (the caller drops its chunks and frees
 * it with gfs_ns_free_detached(); gfs_ns_free() frees what is left). */
struct gfs_node *gfs_kept_remove(struct gfs_kept_set *t,
				   struct gfs_kept *o);
/* Call fn for each kept file (checkpoint). */
void gfs_kept_each(struct gfs_kept_set *t,
		     void (*fn)(void *cls, const struct gfs_kept *o),
		     void *cls);

#endif

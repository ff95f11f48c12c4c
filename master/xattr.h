/*
 * xattr.h - user extended attributes of an inode.
 *
 * For: the names and values an inode carries (user.* only), their limits,
 * lookup, set, remove and listing, in a side table keyed by the inode's
 * node (struct gfs_ns's xattrs): most inodes have none and pay nothing,
 * and every name of a hard-linked inode shares them.  Not for: logging
 * (journal.c logs XATTR_SET and XATTR_REMOVE), permission or lease checks
 * (ops.c), the virtual user.gfs.* attributes of a mount (fuse/xattr.c).
 *
 * Invariants: an inode without attributes has no entry in the table (no
 * memory at all); an entry has at least one attribute; names are unique,
 * 6..255 bytes of UTF-8 starting with "user."; a value is 0..65536 bytes;
 * the names and values of one inode add up to at most GFS_XATTR_TOTAL_MAX
 * bytes.  Order is the order of first setting.  Every function needs the
 * master lock.
 */
#ifndef GFS_XATTR_H
#define GFS_XATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "err.h"

struct gfs_node;

/* As ext4: names up to 255 bytes (XATTR_NAME_MAX), values up to 64 KiB
 * (XATTR_SIZE_MAX).  The total per node is ours: ext4 without ea_inode
 * fits one block (4 KiB); this allows two full-size values. */
#define GFS_XATTR_NAME_MAX 255
#define GFS_XATTR_VALUE_MAX 65536
#define GFS_XATTR_TOTAL_MAX (128u << 10)
#define GFS_XATTR_PREFIX "user."

struct gfs_xattr {
	char *name;          /* owned, NUL-terminated */
	uint8_t *value;      /* owned, len bytes (NULL when 0) */
	uint32_t len;
};

/* The attributes of one inode: an entry of the table. */
struct gfs_xattrs {
	const struct gfs_node *inode; /* hash key (never a LINK node) */
	struct gfs_xattr *items; /* owned, [0..n), n >= 1 */
	uint32_t n;
	uint32_t bytes;          /* sum of name and value lengths */
	UT_hash_handle hh;
};

/* GFS_OK when name may be stored: "user." and more, at most 255 bytes,
 * UTF-8; GFS_ENAMETOOLONG, GFS_EINVAL otherwise (GFS_EILSEQ: not UTF-8). */
enum gfs_err gfs_xattr_check_name(const char *name);
/* The attributes of inode in table (borrowed until the next change), or
 * NULL when it has none.  O(1). */
const struct gfs_xattrs *gfs_xattr_of(struct gfs_xattrs *table,
				      const struct gfs_node *inode);
/* The attribute name of xs (NULL: none), or NULL.  O(n). */
const struct gfs_xattr *gfs_xattr_find(const struct gfs_xattrs *xs,
				       const char *name);
/* Whether name = value of len bytes fits: GFS_ETOOBIG for a value over
 * GFS_XATTR_VALUE_MAX, GFS_ENOSPC when the node's total would pass
 * GFS_XATTR_TOTAL_MAX.  O(n). */
enum gfs_err gfs_xattr_can_set(const struct gfs_xattrs *xs, const char *name,
			       size_t len);
/* Set or replace inode's name (name and value copied).  Needs
 * gfs_xattr_can_set() first.  O(n). */
void gfs_xattr_set(struct gfs_xattrs **table, const struct gfs_node *inode,
		   const char *name, const void *value, size_t len);
/* Remove inode's name; false when absent.  The entry goes with the last
 * one. */
bool gfs_xattr_remove(struct gfs_xattrs **table,
		      const struct gfs_node *inode, const char *name);
/* The inode goes: free its attributes, if any.  O(1). */
void gfs_xattr_drop(struct gfs_xattrs **table, const struct gfs_node *inode);
/* Free the whole table and set it to NULL. */
void gfs_xattr_free_all(struct gfs_xattrs **table);

#endif

/*
 * lease.h - exclusive access of one client (holder id) to one file.
 *
 * For: the lease attached to a file node, whether it blocks a caller,
 * and its JSON.  Not for: logging (journal.c logs grants and releases) or
 * HTTP.  Expiry is by wall clock (Unix ms), so a lease replayed after a
 * restart or a failover expires when it would have anyway; an expired
 * lease is treated as absent and overwritten lazily.  Needs the master lock.
 */
#ifndef GFS_LEASE_H
#define GFS_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "namespace.h"

#define GFS_HOLDER_MAX 255

struct gfs_lease {
	char *holder;        /* owned, 1..255 bytes */
	int64_t expires_ms;  /* Unix ms */
	uint32_t ttl;        /* seconds it was granted for */
};

/* Current wall clock in Unix ms. */
int64_t gfs_lease_now_ms(void);
/* The unexpired lease of node, or NULL (borrowed). */
struct gfs_lease *gfs_lease_get(struct gfs_node *node, int64_t now_ms);
/* True when an unexpired lease is held by someone other than client
 * (client NULL is nobody, blocked by any lease). */
bool gfs_lease_blocks(struct gfs_node *node, const char *client,
		      int64_t now_ms);
/* Grant or renew (holder copied). */
void gfs_lease_set(struct gfs_node *node, const char *holder,
		   int64_t expires_ms, uint32_t ttl);
void gfs_lease_clear(struct gfs_node *node);
/* {"path", "holder", "expires_ms", "ttl"} (new reference). */
json_t *gfs_lease_json(const struct gfs_lease *l, const char *path);

#endif

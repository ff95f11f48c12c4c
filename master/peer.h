/*
 * peer.h - GET requests from one master to the other, with the replication
 * headers of the reply (X-GFS-Epoch, X-GFS-Seq, X-GFS-Primary,
 * X-GFS-Attached).
 *
 * For: the backup's /oplog and /checkpoint fetches and the new primary's
 * epoch ping.  common/http.h reports only Location, X-GFS-Primary and
 * X-GFS-Epoch; this needs X-GFS-Seq and X-GFS-Attached too, so it is a
 * thin libcurl easy handle of its own (one per thread, kept alive).
 * Not for: anything a client or chunkserver does (common/).
 */
#ifndef GFS_PEER_H
#define GFS_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct gfs_peer;

struct gfs_peer_reply {
	long status;          /* 0 when no reply came */
	uint8_t *body;        /* owned, NUL-terminated */
	size_t len;
	uint64_t epoch;       /* X-GFS-Epoch, 0 absent */
	uint64_t seq;         /* X-GFS-Seq */
	bool has_seq;
	bool attached;        /* X-GFS-Attached: 1 */
	char primary[512];    /* X-GFS-Primary, "" absent */
};

struct gfs_peer *gfs_peer_new(void);
void gfs_peer_free(struct gfs_peer *p);
void gfs_peer_reply_clear(struct gfs_peer_reply *r);
/* GET url with extra headers ("Name: value", NULL-terminated list or
 * NULL).  A body larger than max fails.  GFS_OK when a reply (any status)
 * arrived; GFS_EUNAVAIL/GFS_ETIMEDOUT/GFS_ETOOBIG otherwise. */
enum gfs_err gfs_peer_get(struct gfs_peer *p, const char *url,
			  const char *const *headers, long timeout_ms,
			  size_t max, struct gfs_peer_reply *r);

#endif

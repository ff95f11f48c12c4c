/*
 * requests.h - ids of recent mutations, so that a retry gets the first
 * answer instead of being applied twice.
 *
 * For: a client sends X-GFS-Request (32 lowercase hex digits, random) with
 * each mutation and the same id with every retry of it.  The master logs
 * the id inside the mutation's record (a REQUEST record wraps it, see
 * journal.h) and remembers it here; a request arriving again with a
 * remembered id is answered as a success once the original record is
 * durable, whatever happened to the connection of the first.  Replay,
 * checkpoints and the backup rebuild the table from the same records, so
 * it survives restarts and failovers.
 * Not for: choosing which routes use ids (ops.c) or parsing headers.
 *
 * Invariants: at most `max` ids, each logged less than `ttl_ms` ago (by
 * the wall clock written in its record); the oldest are forgotten first.
 * Memory: about 100 bytes per id.  Needs the master lock.
 */
#ifndef GFS_REQUESTS_H
#define GFS_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "constants.h"

#define GFS_REQUESTS_MAX 65536
#define GFS_REQUEST_TTL_MS (10 * 60 * 1000)
#define GFS_REQUEST_HEX GFS_REQUEST_ID_HEX

/* 128 random bits, as two words (the hex text is hi then lo). */
struct gfs_request_id {
	uint64_t hi, lo;
};

struct gfs_request {
	struct gfs_request_id id;   /* hash key */
	int64_t time_ms;            /* wall clock of its record */
	uint64_t seq;               /* its record, 0 when known durable */
	UT_hash_handle hh;
};

struct gfs_requests {
	struct gfs_request *by_id;  /* uthash head, owns the entries */
	struct gfs_request **fifo;  /* ring in log order, cap entries */
	size_t head, n, cap;
	size_t max;                 /* ids kept at most */
	int64_t ttl_ms;             /* forgotten this long after logging */
};

void gfs_requests_init(struct gfs_requests *r, size_t max, int64_t ttl_ms);
void gfs_requests_free(struct gfs_requests *r);
/* Remember id, logged at time_ms as record seq (0: durable).  Forgets
 * ids older than ttl_ms before time_ms, and the oldest beyond max.  An
 * id already known is left as it is.  O(1) amortised. */
void gfs_requests_add(struct gfs_requests *r, const struct gfs_request_id *id,
		      int64_t time_ms, uint64_t seq);
/* The entry of id if it was logged less than ttl_ms before now_ms, else
 * NULL (borrowed until the next add).  O(1). */
const struct gfs_request *gfs_requests_find(struct gfs_requests *r,
					    const struct gfs_request_id *id,
					    int64_t now_ms);
/* Call fn for every id younger than ttl_ms at now_ms, oldest first. */
void gfs_requests_each(struct gfs_requests *r, int64_t now_ms,
		       void (*fn)(void *cls, const struct gfs_request *req),
		       void *cls);
/* Parse exactly 32 lowercase hex digits. */
bool gfs_request_id_parse(const char *s, struct gfs_request_id *out);

#endif

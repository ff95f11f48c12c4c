/*
 * csmgr.h - the chunkserver registry: heartbeats, liveness, replica
 * reports, and the orders the master gives (delete, replicate).
 *
 * For: turning heartbeats into replica locations, noticing dead servers,
 * keeping every chunk at the target replica count (copies from a live
 * holder to a live server without it, fewest copies first, at most
 * GFS_COPIES_MAX in flight per server each way; surplus replicas
 * deleted), deleting stale replicas (wrong version), garbage (handles no
 * longer referenced) and orphans (handles never known, after a grace
 * period), choosing servers for new chunks, and /status.
 * Not for: the namespace or logging: nothing here is persisted; after a
 * restart the registry is rebuilt from heartbeats (want_full).
 *
 * Invariants: server ids are indexes into servers[] and never reused;
 * only the locations of a live server that is not stale count (listed,
 * copied from, counted as replicas): a dead server's stay until the sweep
 * strips them or its full report, when it returns, confirms them;
 * s->nchunks is exactly the number of chunks listing s; orders are only
 * given by a primary out of probation.  Every function needs the master
 * lock, and none is O(chunks): the sweep and the GC run in bounded steps
 * (gfs_csmgr_step()).
 */
#ifndef GFS_CSMGR_H
#define GFS_CSMGR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uthash.h>

#include "chunks.h"
#include "err.h"

struct gfs_master;
struct gfs_pending;
struct gfs_chunk;
struct gfs_node;

#define GFS_COPIES_MAX 2       /* replications in flight per server */
#define GFS_DELETE_RESEND_MS 10000
#define GFS_ORDERS_MAX 1000    /* orders per heartbeat reply */

/* A delete order for one server, kept until confirmed or given up. */
struct gfs_cs_delete {
	uint64_t handle;
	int64_t sent_ms;            /* monotonic, 0 = not sent yet */
	uint8_t tries;
	UT_hash_handle hh;
};

struct gfs_cs {
	UT_hash_handle hh;          /* in csmgr.by_url, keyed by url */
	char *url;                  /* owned */
	uint16_t id;
	bool alive;
	bool known;                 /* full inventory received since it
				     * (re)appeared */
	bool stale;                 /* died since its locations were
				     * learned: they count for nothing until
				     * its full report (or the sweep strips
				     * them) */
	int64_t last_hb_ms;         /* monotonic */
	int64_t last_hb_wall_ms;    /* Unix ms, for /status */
	int64_t free_bytes;         /* -1 unknown */
	int64_t total_bytes;
	int64_t used_bytes;
	int64_t promised;           /* bytes of chunks placed here since */
	uint64_t nchunks;           /* locations of committed chunks */
	struct gfs_cs_delete *deletes; /* uthash head, owned */
	unsigned copies_in;         /* replications to it in flight */
	unsigned copies_out;        /* from it */
	char *seen_primary;         /* its view (heartbeat), owned or NULL */
	uint64_t seen_epoch;
	int64_t primary_age_ms;     /* -1 when not reported */
};

/* A replication in flight. */
struct gfs_copy {
	uint64_t handle;
	uint16_t target;
	uint16_t source;            /* the one counted in copies_out */
	int64_t issued_ms;          /* monotonic */
	bool sent;                  /* handed to the target */
	UT_hash_handle hh;
};

/* A reported handle the master does not know (yet): a private chunk
 * being written, whose commit will claim the reports, or a leftover. */
struct gfs_orphan {
	uint64_t handle;
	int64_t first_ms;           /* monotonic, first report */
	uint16_t holders[4];
	uint32_t versions[4];       /* last version each holder reported */
	uint8_t n;
	UT_hash_handle hh;
};

/* Handles short of replicas with the same number of live ones. */
struct gfs_needy {
	uint64_t *handles;          /* owned */
	size_t n, cap;
};

/* Where the re-replication sweep is in the chunk table (csmgr.c). */
struct gfs_sweep {
	bool active;                /* a pass is under way */
	size_t cursor;              /* next slot to visit */
	size_t cap;                 /* table capacity the pass began with */
	int64_t started_ms;         /* monotonic */
	unsigned steps;             /* steps this pass took so far */
	size_t visited;             /* chunks visited this pass */
	uint64_t under, lost;       /* counted so far this pass */
	struct gfs_needy q[GFS_LOC_MAX]; /* by live replicas */
	size_t queued;              /* entries in q[] */
	size_t room;                /* bound on queued, set per pass */
	uint64_t passes;            /* passes completed */
	int64_t pass_ms;            /* how long the last one took */
	size_t step_slots;          /* budget per step; 0: the default */
	int64_t step_us;            /* time limit per step; 0: default */
};

struct gfs_csmgr {
	struct gfs_cs **servers;    /* by id, owned */
	size_t n;
	struct gfs_cs *by_url;      /* uthash over servers[] */
	struct gfs_copy *copies;    /* uthash by handle, owned */
	struct gfs_orphan *orphans; /* uthash by handle, owned */
	unsigned rr;                /* round robin for /content */
	int64_t reports_until;      /* monotonic ms: until then servers may
				     * exist that have not reported yet (a
				     * restarted or promoted master) */
	pthread_cond_t reported;    /* broadcast (master lock) after each
				     * heartbeat: locations may have come */
	uint64_t under_replicated;  /* from the last sweep pass */
	uint64_t lost;              /* chunks with no live replica */
	struct gfs_sweep sweep;
	int64_t last_gc_ms;
	int64_t last_tick_ms;       /* monotonic ms of the last tick, 0: none */
	bool gc_more;               /* a GC round is under way */
};

void gfs_csmgr_init(struct gfs_csmgr *c);
void gfs_csmgr_free(struct gfs_csmgr *c);
/* Forget every location and order (state re-sync); servers stay, with
 * their inventory marked unknown. */
void gfs_csmgr_forget(struct gfs_master *m);

/* A parsed heartbeat (see PROTOCOL "Chunkserver reports"). */
struct gfs_hb_item {
	uint64_t handle;
	uint32_t version;
	uint32_t length;
};

struct gfs_heartbeat {
	const char *url;            /* borrowed from the JSON body */
	const char *primary;        /* borrowed, may be NULL */
	uint64_t epoch;
	int64_t primary_age_ms;     /* -1 absent */
	bool full;
	struct gfs_hb_item *chunks; /* full inventory or added, owned */
	size_t nchunks;
	uint64_t *removed;          /* owned */
	size_t nremoved;
	uint64_t *corrupt;          /* owned */
	size_t ncorrupt;
	uint64_t *copies_failed;    /* ordered copies it gave up, owned */
	size_t ncopies_failed;
	int64_t free_bytes, total_bytes, used_bytes; /* -1 absent */
};

/* Validate body into hb (nothing is applied).  GFS_EINVAL with a message
 * in *why (static) on bad input.  Free with gfs_heartbeat_clear(). */
enum gfs_err gfs_heartbeat_parse(json_t *body, struct gfs_heartbeat *hb,
				 const char **why);
void gfs_heartbeat_clear(struct gfs_heartbeat *hb);
/* Apply hb and build the reply's orders (new reference, an array) and
 * want_full.  Orders only when give_orders. */
void gfs_csmgr_heartbeat(struct gfs_master *m, const struct gfs_heartbeat *hb,
			 bool give_orders, json_t **orders, bool *want_full);

/* Periodic work (tick thread, every tick): dead servers, copy timeouts;
 * starts a pass of the re-replication sweep when none is under way and,
 * every gc interval, a round of GC.  O(servers + copies).  Returns the
 * gap since the last tick when it was a stall of this master (forgiven:
 * servers' silence meanwhile does not count), else 0. */
int64_t gfs_csmgr_tick(struct gfs_master *m, int64_t now);
/* Has the tick not run for so long (over 1 s) that this master must
 * have been stopped meanwhile, the gap not yet forgiven?  Lock held. */
bool gfs_csmgr_stalled(const struct gfs_master *m, int64_t now);
/* One bounded step of the sweep and of the GC (copies are ordered only
 * by a primary, settled and out of probation).  True while either has
 * more to do: call again soon, dropping the lock in between. */
bool gfs_csmgr_step(struct gfs_master *m, int64_t now, bool primary);

/* A committed chunk goes away: delete orders to its holders, garbage. */
void gfs_csmgr_drop_chunk(struct gfs_master *m, struct gfs_chunk *c);
/* c was just committed: the reports of it that came while it was an
 * orphan (written, not yet committed) become locations when their version
 * is the committed one.  This is how a backup, which sees commits only in
 * the log (no replicas there), learns where a new chunk lives. */
void gfs_csmgr_claim_orphan(struct gfs_master *m, struct gfs_chunk *c);
/* Every server's next heartbeat is to be a full inventory (a promoted
 * backup checks what it learned from deltas, a started master has
 * none); locations stay meanwhile.  For one --probation from now (two
 * heartbeat intervals: every live server has reported by then), servers
 * that have not reported at all may still exist. */
void gfs_csmgr_want_inventories(struct gfs_master *m);
/* What is known of where the chunks of a file are. */
enum gfs_csmgr_where {
	GFS_WHERE_KNOWN,    /* every chunk with bytes has a live location */
	GFS_WHERE_COMING,   /* one has none, and a heartbeat may bring it */
	GFS_WHERE_LOST,     /* one has none, and none will come */
};
/* Where file f's chunks are.  A missing location may still come while
 * reports are pending (gfs_csmgr_reports_pending) and, on a master that
 * learns locations from heartbeats only (a backup: by_reports), for
 * --dead-after after the chunk's commit was applied.  O(chunks of f),
 * plus O(servers) when one is missing. */
enum gfs_csmgr_where gfs_csmgr_where(struct gfs_master *m,
				     const struct gfs_node *f, bool by_reports);
/* Whether locations may still be missing because reports are: a live
 * server whose inventory is not in, or the window after a restart or
 * promotion in which a server may not have reported at all.
 * O(servers). */
bool gfs_csmgr_reports_pending(struct gfs_master *m, int64_t now);
/* Wait (master lock held, released meanwhile) for the next heartbeat,
 * until deadline (monotonic ms) or the end of the reports window,
 * whichever comes first.  False, at once, when deadline has passed. */
bool gfs_csmgr_wait_report(struct gfs_master *m, int64_t deadline);
/* The replicas of a commit become locations of c at once (ids of known
 * servers only; unknown URLs are ignored), in the order given.  Each
 * replica's promise for the chunk (chunk_size, made at placement) shrinks
 * to the bytes the chunk really holds. */
void gfs_csmgr_commit_locs(struct gfs_master *m, struct gfs_chunk *c,
			   json_t *replicas, uint64_t chunk_size);
/* Live replica URLs of c as a JSON array (new reference). */
json_t *gfs_csmgr_replicas_json(struct gfs_master *m,
				const struct gfs_chunk *c);
/* Choose up to the replica count of servers for chunk index of file (NULL:
 * a pre-placed chunk of no file yet, of the master's chunk size), near
 * and exclude being JSON arrays of URLs (or NULL).  GFS_ENOSPC when none.
 * *out is a new JSON array of URLs; p (may be NULL) records which servers
 * were promised the room, for gfs_csmgr_unplace(). */
enum gfs_err gfs_csmgr_place(struct gfs_master *m, struct gfs_node *file,
			     uint32_t index, json_t *near, json_t *exclude,
			     json_t **out, struct gfs_pending *p);
/* The client gave up on pending allocation p of file (NULL: pre-placed;
 * a server refused it): the room it was promised is free again. */
void gfs_csmgr_unplace(struct gfs_master *m, struct gfs_node *file,
		       const struct gfs_pending *p);
/* A live server for a /content redirect, round robin; NULL if none
 * (borrowed until the lock is dropped: copy it). */
const char *gfs_csmgr_pick_gateway(struct gfs_master *m);
/* Array of server objects for /status (new reference). */
json_t *gfs_csmgr_status_json(struct gfs_master *m);
unsigned gfs_csmgr_alive_count(struct gfs_master *m);
/* Highest epoch any live chunkserver reported, and its primary. */
uint64_t gfs_csmgr_max_epoch(struct gfs_master *m, const char **primary);

#endif

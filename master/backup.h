/*
 * backup.h - master-to-master replication and role changes: following
 * the leader, the pair's failover rules, and the transitions the
 * election (election.c) asks for.
 *
 * For: the follower thread (poll the leader's /oplog, store and apply
 * each record, re-sync from /checkpoint when told to), becoming leader
 * and stepping down, and, in pair mode (no --etcd), the pair's rules:
 * attaching a caught-up backup, promotion of an attached backup whose
 * primary went silent, the epoch notice to the old primary, and the
 * operator's `gfs detach` and `gfs promote`.  Not for: serving /oplog
 * (isr.c, oplog.c) or anything about etcd (election.c).
 *
 * Pair mode, in short (docs/MASTER.md has it whole).  Two processes
 * cannot tell a dead peer from a cut link, so the pair gives up
 * availability, never safety:
 * - the primary never drops an attached backup by itself: a silent one
 *   blocks acknowledgements (bounded waits answer 503, never an ack)
 *   until it returns or the operator runs `gfs detach`.  The attached
 *   backups are kept in <data>/members, written before one attaches,
 *   so a restarted primary waits for them too;
 * - a backup promotes itself after --failover-timeout of silence only
 *   when its last poll said attached: it holds every acknowledged
 *   record, and the old primary, alive or not, can never acknowledge
 *   again without it.  It starts alone; the old primary comes back as
 *   its backup (it learns the new epoch from the notice or from
 *   chunkserver heartbeats), re-syncs and attaches;
 * - `gfs promote URL` forces a backup up (the primary is gone for good).
 */
#ifndef GFS_BACKUP_H
#define GFS_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct gfs_master;

/* Thread body: follows while backup; as a pair-mode primary, attaches
 * caught-up backups and sends the epoch notice; until stop. */
void *gfs_backup_main(void *arg);

/*
 * Stop leading (why: for the log): stop acknowledging (waiting mutations
 * are answered 421) and follow primary (may be NULL: pair mode then
 * follows the last backup or peer known, etcd mode waits for the
 * election to name one).  Lock held.
 */
void gfs_backup_step_down(struct gfs_master *m, const char *why,
			  const char *primary);

/*
 * Become the leader of epoch with the followers members[0..n) waited for
 * (borrowed URLs), acknowledging until ack_until_ms (monotonic).  Logs
 * EPOCH; returns its seq.  Lock held.
 */
uint64_t gfs_backup_lead(struct gfs_master *m, uint64_t epoch,
			 char *const *members, size_t n, int64_t ack_until_ms);

/* Pair mode, primary at start: the backups it must wait for, from
 * <data>/members.  Lock held. */
void gfs_backup_lead_pair(struct gfs_master *m);

/* BELIEVED EPOCH (pair mode): a chunkserver names primary as the primary
 * of epoch, newer than ours: a backup follows it from now on.  This is
 * how a primary that stepped down and follows nobody finds whom to
 * follow.  Lock held. */
void gfs_backup_learn_primary(struct gfs_master *m, uint64_t epoch,
			      const char *primary);

/* `gfs detach` (pair mode, on the primary): stop waiting for url, or for
 * every backup when url is NULL.  Only for a backup that is stopped for
 * good: it may have promoted itself meanwhile.  GFS_ENOTPRIMARY on a
 * backup, GFS_EINVAL in etcd mode (the leader drops silent followers
 * itself). */
enum gfs_err gfs_backup_detach(struct gfs_master *m, const char *url);
/* `gfs promote URL` (pair mode): become primary now, in sync or not,
 * with a higher epoch.  Acknowledged records the primary had and this
 * master lacks are lost: for a primary that is gone for good. */
enum gfs_err gfs_backup_force_promote(struct gfs_master *m);

/* Is the in-sync marker there (read at start)?  Sets m->fw.complete. */
void gfs_backup_load_marker(struct gfs_master *m);
/* The operator vouches for our log (`gfs promote`): write the marker.
 * Lock held. */
void gfs_backup_vouch(struct gfs_master *m);

/* Pair mode, a backup: this master did not run for gap ms (seen by the
 * tick): the primary's silence meanwhile does not count towards the
 * failover timeout.  Lock held. */
void gfs_backup_forgive_stall(struct gfs_master *m, int64_t now,
			      int64_t gap);

/* Pair mode: did this master log the EPOCH record of its current epoch
 * (or is there none)?  Only then may it lead that epoch.  Lock held or
 * not yet shared. */
bool gfs_backup_owns_epoch(const struct gfs_master *m);

#endif

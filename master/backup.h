/*
 * backup.h - master-to-master replication, failover and epochs.
 *
 * For: the follower thread of a backup (poll the primary's /oplog, store
 * and apply each record, re-sync from /checkpoint when told to), the
 * promotion of an in-sync backup whose primary went silent, the step-down
 * of a primary that meets a higher epoch, and the new primary's epoch ping
 * to the old one.  Not for: serving /oplog (oplog.c, routes.c).
 *
 * The failover protocol, in short (docs/MASTER.md has it whole):
 * - a primary acknowledges a mutation only after an attached backup
 *   polled past its record; a backup attaches when it asks for exactly
 *   the next durable record, and is detached after detach_ms of silence;
 * - every /oplog reply says whether the backup is attached
 *   (X-GFS-Attached); a backup is "in sync" when its last reply said so;
 * - a backup promotes itself (epoch + 1, logged) only when it is in sync,
 *   the primary has not answered for failover_ms, and no live chunkserver
 *   heard from that primary within failover_ms / 2;
 * - a master that sees a higher epoch (heartbeat body, X-GFS-Epoch
 *   request header) while primary steps down: its log is fenced (waiting
 *   mutations are answered 421, never acknowledged), and it re-syncs from
 *   the new primary's checkpoint and log, discarding its own state.
 */
#ifndef GFS_BACKUP_H
#define GFS_BACKUP_H

#include <stdint.h>

struct gfs_master;

/* Thread body: follows while backup, pings while primary, until stop. */
void *gfs_backup_main(void *arg);
/* A higher epoch was seen; step down to follow primary (may be NULL:
 * then the last backup or peer known).  Lock held. */
void gfs_backup_step_down(struct gfs_master *m, uint64_t epoch,
			  const char *primary);
/* A chunkserver names primary as the primary of epoch, newer than ours:
 * a backup follows it from now on.  This is how a primary that stepped
 * down on a bare X-GFS-Epoch header (no X-GFS-Primary: a client call or a
 * chunkserver heartbeat) and so follows nobody, or a backup following a
 * master that was itself replaced, finds whom to follow.  Lock held. */
void gfs_backup_learn_primary(struct gfs_master *m, uint64_t epoch,
			      const char *primary);

#endif

/*
 * election.h - who leads, decided in etcd (--etcd): the leader's lease,
 * the campaign, and the in-sync set kept in etcd.
 *
 * For: etcd mode only.  One thread per master keeps a lease alive,
 * reads who leads, campaigns when nobody does and this master may, and,
 * while leading, renews the lease (which bounds when it may acknowledge)
 * and keeps the in-sync set in etcd in step with its followers.  Not
 * for: replication itself (backup.c follows, isr.c waits) or the pair's
 * rules (backup.c).
 *
 * Keys under --etcd-prefix P (values JSON):
 *   P/leader  {"url", "epoch"}  attached to the leader's lease
 *   P/isr     {"epoch", "members": [url...]}  the in-sync set: the
 *             leader and every follower a mutation must reach before it
 *             is acknowledged; "epoch" is the epoch of the last leader
 *
 * The rules (docs/MASTER.md has them with the reasons):
 * - Campaign = one txn: P/leader absent, and P/isr unchanged since the
 *   candidate read it and saw itself in it (and holds the in-sync
 *   marker: its log lost nothing since); it puts P/leader on its lease
 *   and P/isr with epoch + 1.  So only a member can win, epochs grow
 *   by one per election, and two candidates can never both win.  A
 *   campaign may win unseen (its reply lost, or libcurl sent it again
 *   and the copy lost to it): a follower that reads P/leader on its own
 *   lease takes office as that campaign would have, or revokes the
 *   lease when P/isr or its log is no longer what the campaign wrote.
 * - The leader acknowledges only before ack_until = t_sent + TTL x 0.99 -
 *   100 ms, t_sent being the monotonic time just before it sent the
 *   keep-alive (or grant) etcd last answered: etcd cannot have expired
 *   the lease before t_sent + TTL, and we allow clocks whose rates differ
 *   by up to 1 %, plus 100 ms for the reply to leave.  So a new leader,
 *   elected only once the lease expired, never acknowledges while the old
 *   one still does.
 * - The leader changes P/isr only by a txn that compares P/leader's
 *   create revision to its own and P/isr's mod revision to the last it
 *   wrote.  A follower joins the wait first and etcd's set once it is
 *   attached; a silent one leaves etcd's set first and the wait after:
 *   etcd's set is always within the wait, so every member holds every
 *   acknowledged record.
 * - The leader steps down when its lease is gone or P/leader is not its
 *   key any more; it cannot know before, so it just stops acknowledging
 *   at ack_until while etcd is unreachable, and goes on when etcd
 *   answers again.
 *
 * Locking: the election's own state is its thread's; what /status shows
 * is under el->lock (taken after the master lock, never before).
 */
#ifndef GFS_ELECTION_H
#define GFS_ELECTION_H

#include <jansson.h>

#include "err.h"

struct gfs_master;
struct gfs_election;

/* The election of m (m->conf.etcd, etcd_prefix, etcd_lease_ms); NULL
 * when the endpoint list is bad.  Free with gfs_election_free(). */
struct gfs_election *gfs_election_new(struct gfs_master *m);
void gfs_election_start(struct gfs_election *el);
/* Stop the thread; a leader revokes its lease so that another master
 * need not wait for it to expire. */
void gfs_election_stop(struct gfs_election *el);
void gfs_election_free(struct gfs_election *el);

/* Add "mode", "leader", "isr", "in_sync" and "etcd" to the status object
 * j.  Master lock held. */
void gfs_election_status(struct gfs_election *el, json_t *j);

/*
 * `gfs promote` in etcd mode: when no leader holds P/leader, make this
 * master the only member of P/isr, so that it can campaign: for when
 * every other member is gone for good, or etcd lost its data.  Records
 * acknowledged that this master lacks are lost.  Waits (5 s at most)
 * for the election thread: GFS_OK, GFS_EEXIST when a leader is alive,
 * GFS_EUNAVAIL when etcd did not answer.
 */
enum gfs_err gfs_election_force(struct gfs_election *el);

#endif

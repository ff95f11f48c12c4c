/*
 * isr.h - the in-sync set as the leader keeps it: the followers whose
 * copy of the log a record must reach before a mutation is acknowledged
 * (the members), how far every follower has got, and the wait for them.
 *
 * For: the bookkeeping of followers' /oplog polls (a poll for `from`
 * says the follower holds every record before it, durably), the wait of
 * a mutation or a read until its record is on every member, and the end
 * of acknowledgements when this master may no longer acknowledge: it is
 * not the leader (fenced), or its etcd lease may have run out
 * (ack_until).  Not for: deciding who is a member.  The pair's rules
 * (backup.c) and the election (election.c) decide, make the decision
 * durable where it must be (a file, etcd) and then call
 * gfs_isr_set_member().
 *
 * Invariants (all under isr->lock):
 * - A wait for record seq succeeds only when the set is not fenced and
 *   every member has acked > seq, and, for a mutation, before
 *   ack_until_ms; it then raises acked_hw past seq.  So every record a
 *   client was told about (acknowledged, or seen by a read) is below
 *   acked_hw and on every member of that moment.
 * - A peer is attached when it is a member and its last poll asked for
 *   a seq >= acked_hw: it holds every record ever acknowledged, and no
 *   record will be acknowledged without it while it stays a member.
 *   That is what a follower is told (X-GFS-Attached) and what lets it
 *   take over.  Only its latest poll counts: one that begins asking for
 *   less, or is refused (410: it re-syncs, wiping its log), ends it (a
 *   new process at the URL of an old follower, with an empty data
 *   directory, is not attached because the old one was).
 * - A member is silent when no poll that is a sign of life began or
 *   ended lately, or (pair mode) when the stamp its last live poll echoed
 *   is too old to count on: see "The stamp echo" below.
 *
 * The stamp echo (pair mode, where a follower takes over by its own
 * clock).  Every /oplog reply carries a stamp: this process's id and our
 * monotonic clock when the reply was made (X-GFS-Stamp).  The follower
 * echoes the last stamp it got in its next poll, with its failover window
 * F (X-GFS-Echo), and counts a stamped reply as contact from when it
 * arrived, later than the stamp.  It takes over only after F of its own
 * clock without contact: at least F / (1 + 1 %) of ours after the stamp.
 * So a poll echoing our stamp `at` lets us count on its follower until
 * gfs_isr_life_until() = at + F - 1 % of F - 100 ms, whenever it arrives
 * (a poll delayed in the network, or read after we were stopped, carries
 * an old stamp); a poll echoing another process's stamp, or none, is no
 * sign of life at all.  A mutation is acknowledged only while that time
 * lies ahead for every member, so never once a member may lead.
 *
 * The read window (both modes).  A follower told attached answers reads
 * until gfs_isr_read_until() of its clock: the sending of the poll so
 * answered + w - 1 % - 100 ms, w being the read_ms the answer carries:
 * detach_ms, or less when ack_until comes sooner (etcd: a new leader may
 * act once our lease expired).  A mutation is acknowledged without a
 * follower only once detach_ms of ours passed since we last told it
 * attached: it is silent that long (etcd: dropped), or it left the set
 * otherwise (gfs detach) and that long ago.  A follower's poll is parked
 * at most w/3, so that an idle follower's window never runs out.
 * Lock order: the master lock, then isr->lock; never together with the
 * op log's lock.
 */
#ifndef GFS_ISR_H
#define GFS_ISR_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "codec.h"
#include "err.h"

#define GFS_ISR_PEERS 8  /* followers tracked at once */
#define GFS_ISR_URL_MAX 512 /* longest follower URL (X-GFS-Backup) */
#define GFS_ISR_STAMP_MAX 48 /* X-GFS-Stamp: 16 hex digits, '-', ms */

struct gfs_oplog;

struct gfs_isr_peer {
	char *url;            /* what the follower calls itself, owned */
	uint64_t acked;       /* it holds records < this (its last `from`;
			       * 0 after a refused poll) */
	int polls;            /* its /oplog requests in progress */
	uint64_t asked;       /* polls begun or refused: only the latest
			       * one's end sets `attached` */
	int64_t last_poll_ms; /* monotonic: end of its last poll, or when it
			       * became a member */
	int64_t life_until;   /* monotonic: pair mode, it may take over from
			       * here on (0: no live poll yet) */
	int64_t told_ms;      /* monotonic: end of the last poll that told
			       * it attached (0: none); it may answer reads
			       * until detach_ms after */
	bool member;          /* acknowledgements wait for it */
	bool attached;        /* member, and its last poll was >= acked_hw */
	bool caught_up;       /* its last poll asked for the next record
			       * (all before it fsync'ed here), or for one
			       * past every record acknowledged */
};

struct gfs_isr {
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* progress: polls, members, fence, lease */
	struct gfs_isr_peer peers[GFS_ISR_PEERS]; /* (lock) */
	size_t n;               /* (lock) */
	bool fenced;            /* (lock) not the leader: waits give up */
	int64_t ack_until_ms;   /* (lock) monotonic: no acknowledgement at
				 * or after this (INT64_MAX without etcd) */
	uint64_t acked_hw;      /* (lock) records acknowledged are below */
	int64_t detach_ms;      /* a member silent this long is "silent";
				 * read-only */
	bool echo_life;         /* pair mode: only a poll echoing a recent
				 * stamp is a sign of life; read-only */
	uint64_t stamp_id;      /* this process in our stamps, random, not 0;
				 * read-only */
	/* Called, without the lock, when a wait may now decide otherwise
	 * (members, fence, lease, a poll's acknowledgement; not a stream's
	 * acknowledgement, gfs_isr_ack(): its caller checks itself).  Set
	 * before any follower polls. */
	void (*on_change)(void *cls);
	void *on_change_cls;
};

/* What a poll echoes (X-GFS-Echo: ID-AT WINDOW): the last stamp the
 * follower got, and how long it waits without contact before it takes
 * over.  The same struct holds a stamp (window 0). */
struct gfs_isr_echo {
	uint64_t id;            /* the stamping process; 0: none */
	int64_t at_ms;          /* its monotonic clock in the stamp */
	int64_t window_ms;      /* the follower's failover window */
};

/* One /oplog poll: what it asks (in) and what it is told (out). */
struct gfs_isr_poll {
	const char *url;        /* in: X-GFS-Backup, borrowed; NULL: an
				 * anonymous reader (never counted) */
	uint64_t from;          /* in: the first record it lacks */
	const uint32_t *prev_crc; /* in: its record from-1's CRC, or NULL */
	struct gfs_isr_echo echo; /* in: zero when it echoed nothing */
	int64_t wait_ms;        /* in: for a record to exist */
	uint64_t next;          /* out: the first record not served */
	bool attached;          /* out: X-GFS-Attached */
	int64_t read_ms;        /* out: X-GFS-Read-Ms when attached: nothing
				 * is acknowledged without it for this long
				 * of our clock from the reply's making */
	char stamp[GFS_ISR_STAMP_MAX]; /* out: X-GFS-Stamp */
};

/* What a manager or /status sees of one follower (a copy). */
struct gfs_isr_view {
	char url[GFS_ISR_URL_MAX + 1];
	uint64_t acked;
	bool member, attached, caught_up;
	bool silent;            /* no poll for detach_ms */
	int64_t idle_ms;        /* since its last poll */
};

/* An empty, fenced set (not the leader yet); echo_life: pair mode. */
void gfs_isr_init(struct gfs_isr *isr, int64_t detach_ms, bool echo_life);
void gfs_isr_destroy(struct gfs_isr *isr);

/*
 * Lead from now on: members (n URLs, borrowed) are waited for as if they
 * had just polled at seq 0 (pair mode: silent until they poll with a
 * stamp of ours: a poll before our start proves nothing); every other follower is forgotten; acked_hw
 * starts at next_seq (anything in our log may have been acknowledged by
 * an earlier leader); acknowledgements are allowed until ack_until_ms.
 */
void gfs_isr_lead(struct gfs_isr *isr, char *const *members, size_t n,
		  uint64_t next_seq, int64_t ack_until_ms);
/* Stop leading: every wait gives up now (the mutation is not
 * acknowledged: 421), and so does every later one until gfs_isr_lead(). */
void gfs_isr_fence(struct gfs_isr *isr);
/* Acknowledge nothing from until_ms on (etcd lease: election.c). */
void gfs_isr_set_ack_until(struct gfs_isr *isr, int64_t until_ms);
/*
 * Until when (our monotonic ms) a poll that echoes e, read at now, lets
 * us count on its follower not to take over; 0 when it is no sign of
 * life: e is no stamp of process id (ours), lies in our future, or is
 * too old.  The rule, for any F, is at + F - F x 1 % - 100 ms (isr.h
 * top; docs/MASTER.md).
 */
int64_t gfs_isr_life_until(uint64_t id, const struct gfs_isr_echo *e,
			   int64_t now);
/*
 * Until when (the follower's monotonic ms) a follower that sent at
 * sent_ms a poll whose answer said attached may answer reads: the
 * leader counts on it, and acknowledges nothing without it, until
 * detach_ms of the leader's clock after it made that answer, later than
 * sent_ms.  sent_ms + detach_ms - 1 % - 100 ms (isr.h top;
 * docs/MASTER.md, "The read window"); at or before sent_ms: no reads.
 */
int64_t gfs_isr_read_until(int64_t sent_ms, int64_t detach_ms);
/* Parse "ID-AT" (a stamp) or "ID-AT WINDOW" (an echo) into *e; false
 * (and *e zero) when text is neither. */
bool gfs_isr_parse_echo(const char *text, struct gfs_isr_echo *e);

/*
 * Wait until every member holds record seq (the caller made it durable
 * here first).  mutation: also refuse at or after ack_until, and wait
 * while a follower that left the set may still answer reads (told
 * attached less than detach_ms ago).  GFS_OK,
 * GFS_ENOTPRIMARY when fenced, GFS_EUNAVAIL when deadline_ms (monotonic)
 * passed first.  On GFS_OK, *decided_ns (unless NULL) is the monotonic
 * time the checks that allowed it held at: the clock they read, which a
 * thread stopped right after (SIGSTOP, preemption) reads again later.
 */
enum gfs_err gfs_isr_wait(struct gfs_isr *isr, uint64_t seq, bool mutation,
			  int64_t deadline_ms, int64_t *decided_ns);
/* gfs_isr_wait() for a mutation without the wait: true when decided now
 * (*err GFS_OK, with *decided_ns, GFS_ENOTPRIMARY, or GFS_EUNAVAIL once
 * deadline_ms passed), false when it would go on waiting. */
bool gfs_isr_try(struct gfs_isr *isr, uint64_t seq, int64_t deadline_ms,
		 enum gfs_err *err, int64_t *decided_ns);
/* Set isr->on_change. */
void gfs_isr_on_change(struct gfs_isr *isr, void (*fn)(void *cls), void *cls);
/* Could a mutation logged now be acknowledged soon: leading, inside the
 * lease, and no member silent?  (Refusing before logging keeps records
 * that cannot be acknowledged out of the log.) */
bool gfs_isr_writable(struct gfs_isr *isr);

/*
 * One /oplog poll, whole: check `from` against the log (GFS_ENOENT: the
 * follower must re-sync), count the poll as url's acknowledgement of
 * every record before `from`, serve records as gfs_oplog_serve() does
 * (at most max bytes into out), tell whether url is attached and stamp
 * the reply.  Pair mode: attached only on a poll that is a sign of life;
 * one that echoes no stamp of ours is answered at once (its next poll
 * will), and a live one before the life it gives runs out.
 */
enum gfs_err gfs_isr_serve(struct gfs_isr *isr, struct gfs_oplog *log,
			   struct gfs_isr_poll *poll, size_t max,
			   struct gfs_enc *out);

/*
 * One acknowledgement on an op-log stream (stream.c), whole: what a poll
 * of q->url for q->from that waits for nothing is (gfs_isr_serve()), its
 * records being sent on the stream apart.  The poll begins and ends
 * here: it acknowledges every record before from, says whether url is
 * attached (q->attached, q->read_ms) and stamps the answer (q->stamp).
 * *next_ms: when the next acknowledgement is due, as long as a poll of
 * q->wait_ms would be parked (pace(): the life and read windows it gives
 * must be renewed in time).  GFS_ENOENT: url must re-sync (refused as a
 * poll is); GFS_ENOTPRIMARY: fenced.
 */
enum gfs_err gfs_isr_ack(struct gfs_isr *isr, struct gfs_oplog *log,
			 struct gfs_isr_poll *q, int64_t *next_ms);

/* Make url a member (acknowledgements wait for it from now on) or not.
 * One never seen counts as having just polled (pair mode: as silent
 * until it polls with a recent stamp). */
void gfs_isr_set_member(struct gfs_isr *isr, const char *url, bool member);

/* Copy what is known of up to max followers into out; their count. */
size_t gfs_isr_view(struct gfs_isr *isr, struct gfs_isr_view *out,
		    size_t max);
/* Status: [{"url", "member", "attached", "silent", "acked", "lag",
 * "idle_ms"}]
 * with lag against next_seq (new reference). */
json_t *gfs_isr_json(struct gfs_isr *isr, uint64_t next_seq);

#endif

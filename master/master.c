/*
 * master.c - start-up, the tick thread and shutdown of struct gfs_master.
 *
 * Start-up: load the checkpoint, replay the log records after it (same
 * apply code as live mutations), then become what the flags say: with
 * --etcd a follower until the election (election.c) makes it the leader;
 * else a backup (--backup-of) that follows the primary, or a primary.  A
 * pair-mode primary that starts from existing state is in probation
 * (mutations 503) until a chunkserver heartbeat shows no newer epoch
 * exists, or probation_ms passed, and waits for the backups it had
 * attached (backup.c); a fresh one logs epoch 1 and starts at once.
 *
 * The tick thread runs every 200 ms: dead chunkservers, the end of
 * probation, the start of a re-replication sweep pass and of GC rounds,
 * and checkpoints when checkpoint_every records have accumulated (or at
 * once when a mutation signals `wake`).  The sweep and GC then go on in
 * bounded steps every STEP_MS, each under the lock, the lock dropped in
 * between, until they are done (csmgr.c); a checkpoint is written by a
 * forked child and finished here when it exits (checkpoint.c).  Nothing
 * this thread does under the lock is O(files) or O(chunks) but fork().
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "checkpoint.h"
#include "election.h"
#include "journal.h"
#include "log.h"
#include "master.h"
#include "ops.h"
#include "stream.h"
#include "util.h"

#define TICK_MS 200
#define STEP_MS 5      /* between two steps of the sweep or the GC */
#define CKPT_POLL_MS 20 /* between two looks at a checkpoint writer */

uint32_t gfs_master_now_s(const struct gfs_master *m)
{
	return (uint32_t)((gfs_mono_ms() - m->started_ms) / 1000 + 1);
}

static bool replay_fn(void *cls, uint64_t seq, const uint8_t *body,
		      size_t len)
{
	struct gfs_master *m = cls;

	if (!gfs_journal_apply(m, body, len))
		return false;
	m->applied_seq = seq + 1;
	return true;
}

static enum gfs_err load_state(struct gfs_master *m, bool *fresh)
{
	uint64_t next;
	enum gfs_err err;
	int64_t t0 = gfs_mono_ms();

	m->replaying = true;
	err = gfs_ckpt_load(m, &next);
	m->applied_seq = m->ckpt_seq = next;
	if (!err)
		err = gfs_oplog_open(m->conf.data, next, replay_fn, m, &m->log);
	m->replaying = false;
	if (err)
		return err;
	gfs_stream_push_start(m);
	gfs_oplog_syncer_start(m->log, gfs_acks_synced, &m->acks);
	gfs_acks_start(&m->acks);
	*fresh = m->applied_seq == 1;
	gfs_info("loaded %" PRIu64 " files, %" PRIu64 " chunks, epoch %" PRIu64
		 " (checkpoint at %" PRIu64 ", %" PRIu64 " log records) in %lld"
		 " ms", m->ns.nfiles, (uint64_t)m->chunks.count, m->epoch,
		 next, m->applied_seq - next, (long long)(gfs_mono_ms() - t0));
	return GFS_OK;
}

/* A follower: of --backup-of, or (etcd) of whoever the election names. */
static void become_backup(struct gfs_master *m, bool fresh)
{
	m->role = GFS_ROLE_BACKUP;
	free(m->primary_url);
	m->primary_url = m->conf.backup_of ? gfs_xstrdup(m->conf.backup_of)
					   : NULL;
	m->fw.sync_epoch = fresh ? 0 : m->epoch;
	m->fw.last_contact_ms = gfs_mono_ms();
	gfs_csmgr_want_inventories(m); /* reads go to the primary meanwhile */
	if (gfs_master_etcd(m))
		gfs_info("etcd mode (%s, keys under %s): following until "
			 "elected%s", m->conf.etcd, m->conf.etcd_prefix,
			 m->fw.complete ? "; may campaign" : "");
	else
		gfs_info("backup of %s", m->primary_url);
}

/* Our log ends in an epoch another master logged: never lead it (that
 * master may be leading it now).  Follow it instead; `gfs promote` makes
 * us primary of a new epoch if it is gone for good. */
static void become_standby(struct gfs_master *m)
{
	m->role = GFS_ROLE_BACKUP;
	free(m->primary_url);
	m->primary_url = gfs_xstrdup(m->epoch_owner);
	m->fw.sync_epoch = m->epoch;
	m->fw.last_contact_ms = gfs_mono_ms();
	gfs_csmgr_want_inventories(m);
	gfs_warn("our log ends in epoch %" PRIu64 " of %s, not ours: "
		 "following it, not leading ('gfs promote' if it is gone for "
		 "good)", m->epoch, m->epoch_owner);
}

static void become_primary(struct gfs_master *m, bool fresh)
{
	struct gfs_enc rec = { 0 };
	int64_t now = gfs_mono_ms();

	if (!fresh && !gfs_backup_owns_epoch(m)) {
		become_standby(m);
		return;
	}

	m->role = GFS_ROLE_PRIMARY;
	free(m->primary_url);
	m->primary_url = gfs_xstrdup(m->self_url);
	gfs_chunks_skip_reserved(&m->chunks);
	m->settle_until = now + (int64_t)m->conf.dead_after_ms;
	gfs_backup_lead_pair(m);
	if (fresh) {
		gfs_rec_epoch(&rec, 1, m->self_url);
		gfs_ops_wait(m, gfs_ops_stamp_root(m, gfs_ops_log(m, &rec)));
		gfs_info("primary, new file system, epoch 1");
		return;
	}
	m->probation_until = now + (int64_t)m->conf.probation_ms;
	gfs_csmgr_want_inventories(m); /* reads wait for the reports */
	gfs_info("primary, epoch %" PRIu64 ", in probation for %" PRIu64
		 " ms (until a chunkserver heartbeat)", m->epoch,
		 m->conf.probation_ms);
}

/* Free what gfs_master_open() built (threads stopped, log written). */
static void free_state(struct gfs_master *m)
{
	gfs_election_free(m->el);
	m->el = NULL;
	gfs_acks_stop(&m->acks);
	gfs_oplog_close(m->log); /* its syncer tells acks: stop that first */
	m->log = NULL;
	gfs_acks_destroy(&m->acks);
	gfs_isr_destroy(&m->isr);
	gfs_ns_free(&m->ns);
	gfs_chunks_free(&m->chunks);
	gfs_csmgr_free(&m->cs);
	gfs_requests_free(&m->requests);
	free(m->primary_url);
	m->primary_url = NULL;
	free(m->epoch_owner);
	m->epoch_owner = NULL;
	free(m->peer_url);
	m->peer_url = NULL;
	pthread_cond_destroy(&m->wake);
	pthread_mutex_destroy(&m->lock);
}

enum gfs_err gfs_master_open(struct gfs_master *m)
{
	pthread_condattr_t ca;
	enum gfs_err err;
	bool fresh = false;

	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->wake, &ca);
	pthread_condattr_destroy(&ca);
	m->started_ms = gfs_mono_ms();
	gfs_ns_init(&m->ns);
	gfs_chunks_init(&m->chunks);
	gfs_csmgr_init(&m->cs);
	gfs_requests_init(&m->requests, GFS_REQUESTS_MAX, GFS_REQUEST_TTL_MS);
	gfs_isr_init(&m->isr, (int64_t)m->conf.detach_ms, !gfs_master_etcd(m));
	gfs_acks_init(&m->acks, m);
	gfs_isr_on_change(&m->isr, gfs_acks_kick, &m->acks);
	if (gfs_master_etcd(m) && !(m->el = gfs_election_new(m))) {
		gfs_error("--etcd: expected http:// URLs, got '%s'",
			  m->conf.etcd);
		free_state(m);
		return GFS_EINVAL;
	}
	err = load_state(m, &fresh);
	if (err) {
		free_state(m); /* nothing half-loaded is left behind */
		return err;
	}
	gfs_backup_load_marker(m);
	if (m->conf.backup_of || gfs_master_etcd(m))
		become_backup(m, fresh);
	else
		become_primary(m, fresh);
	return GFS_OK;
}

/* One round under the lock: the periodic work when its time came, then
 * a step of the sweep and the GC.  *more: steps remain; true when a
 * checkpoint is due. */
static bool tick(struct gfs_master *m, int64_t now, bool periodic, bool *more)
{
	int64_t stall;
	bool due;

	pthread_mutex_lock(&m->lock);
	if (periodic && m->probation_until && now >= m->probation_until) {
		m->probation_until = 0;
		gfs_info("probation over: accepting mutations");
	}
	if (periodic) {
		stall = gfs_csmgr_tick(m, now);
		if (stall)
			gfs_backup_forgive_stall(m, now, stall);
		gfs_ops_reap_hidden(m, now);
		gfs_ops_reap_kept(m);
	}
	*more = gfs_csmgr_step(m, now, m->role == GFS_ROLE_PRIMARY);
	due = gfs_ckpt_due(m, now);
	pthread_mutex_unlock(&m->lock);
	return due;
}

/*
 * Sleep until ms from now, or until `wake` is signalled: mutations signal
 * it on every record once checkpoint_every have come since the last
 * checkpoint, which is also so while one is being written or after one
 * failed; then this thread sleeps without listening, so as not to take
 * the lock again after every mutation.
 */
static void pause_ms(struct gfs_master *m, int64_t ms)
{
	struct timespec ts;
	bool listen;

	pthread_mutex_lock(&m->lock);
	listen = m->applied_seq - m->ckpt_seq < m->conf.checkpoint_every;
	ts = gfs_deadline_ts(CLOCK_MONOTONIC, ms);
	if (listen && !atomic_load(&m->stopping))
		pthread_cond_timedwait(&m->wake, &m->lock, &ts);
	pthread_mutex_unlock(&m->lock);
	if (!listen)
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static void *tick_main(void *arg)
{
	struct gfs_master *m = arg;
	int64_t now, next_tick = 0;
	bool more = false, writing;

	while (!atomic_load(&m->stopping)) {
		now = gfs_mono_ms();
		if (tick(m, now, now >= next_tick, &more))
			gfs_ckpt_start(m);
		if (now >= next_tick)
			next_tick = now + TICK_MS;
		writing = gfs_ckpt_poll(m, false) == GFS_EUNAVAIL;
		pause_ms(m, more	? STEP_MS
			    : writing ? GFS_MIN(CKPT_POLL_MS, next_tick - now)
				      : next_tick - now);
	}
	/* a writer dies with the thread that forked it: finish it first */
	gfs_ckpt_poll(m, true);
	return NULL;
}

void gfs_master_start(struct gfs_master *m)
{
	pthread_create(&m->tick_thread, NULL, tick_main, m);
	pthread_create(&m->follow_thread, NULL, gfs_backup_main, m);
	if (m->el)
		gfs_election_start(m->el);
	m->threads = true;
}

void gfs_master_close(struct gfs_master *m)
{
	bool ckpt;

	gfs_election_free(m->el); /* a leader hands over first */
	m->el = NULL;
	atomic_store(&m->stopping, true);
	pthread_mutex_lock(&m->lock);
	pthread_cond_broadcast(&m->wake);
	pthread_mutex_unlock(&m->lock);
	if (m->threads) {
		pthread_join(m->tick_thread, NULL);
		pthread_join(m->follow_thread, NULL);
	}
	pthread_mutex_lock(&m->lock);
	ckpt = !m->fw.resync && m->applied_seq > m->ckpt_seq;
	pthread_mutex_unlock(&m->lock);
	if (ckpt && m->log)
		gfs_ckpt_write(m);
	free_state(m);
}

/*
 * backup.c - follower thread, promotion, step-down; see backup.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "checkpoint.h"
#include "constants.h"
#include "csmgr.h"
#include "journal.h"
#include "log.h"
#include "master.h"
#include "ops.h"
#include "http.h"
#include "util.h"

#define POLL_WAIT_MS 1000
#define POLL_MAX (256u << 20)
#define CKPT_MAX (4ull << 30)
#define PING_EVERY_MS 1000

static void set_str(char **dst, const char *src)
{
	char *s = src ? gfs_xstrdup(src) : NULL;

	free(*dst);
	*dst = s;
}

void gfs_backup_step_down(struct gfs_master *m, uint64_t epoch,
			  const char *primary)
{
	char *backup = gfs_oplog_backup_url(m->log);

	if (m->role != GFS_ROLE_PRIMARY)
		goto out_free;
	if (!primary || !*primary)
		primary = backup ? backup : m->peer_url;
	gfs_warn("epoch %" PRIu64 " is newer than ours (%" PRIu64 "): stepping"
		 " down, following %s", epoch, m->epoch,
		 primary ? primary : "(unknown)");
	m->role = GFS_ROLE_BACKUP;
	set_str(&m->primary_url, primary);
	m->fw.resync = true;
	m->fw.in_sync = false;
	m->fw.last_contact_ms = gfs_mono_ms();
	gfs_oplog_fence(m->log);
out_free:
	free(backup);
}

void gfs_backup_learn_primary(struct gfs_master *m, uint64_t epoch,
			      const char *primary)
{
	if (m->role != GFS_ROLE_BACKUP || !primary || !*primary ||
	    epoch <= m->epoch || !strcmp(primary, m->self_url) ||
	    (m->primary_url && !strcmp(primary, m->primary_url)))
		return;
	gfs_info("following %s, primary of epoch %" PRIu64 " (ours is %"
		 PRIu64 ", following %s)", primary, epoch, m->epoch,
		 m->primary_url ? m->primary_url : "nobody");
	set_str(&m->primary_url, primary);
}

/* Become primary.  Lock held; returns the EPOCH record's seq. */
static uint64_t promote(struct gfs_master *m, uint64_t epoch, bool probation)
{
	struct gfs_enc rec = { 0 };
	int64_t now = gfs_mono_ms();

	m->role = GFS_ROLE_PRIMARY;
	set_str(&m->peer_url, m->primary_url);
	set_str(&m->primary_url, m->self_url);
	gfs_csmgr_want_inventories(m);
	gfs_chunks_skip_reserved(&m->chunks);
	m->settle_until = now + (int64_t)m->conf.dead_after_ms;
	m->probation_until = probation ? now + (int64_t)m->conf.probation_ms
				       : 0;
	if (epoch <= m->epoch)
		return 0;
	gfs_rec_epoch(&rec, epoch, m->self_url);
	return gfs_ops_log(m, &rec);
}

/* The primary is silent: promote when allowed.  Lock held. */
static uint64_t maybe_promote(struct gfs_master *m)
{
	int64_t silent = gfs_mono_ms() - m->fw.last_contact_ms;
	const char *cs_primary;
	uint64_t epoch;

	if (m->role != GFS_ROLE_BACKUP || !m->fw.in_sync ||
	    silent < (int64_t)m->conf.failover_ms)
		return 0;
	if (gfs_csmgr_primary_vouched(m, m->primary_url,
				      (int64_t)m->conf.failover_ms / 2)) {
		gfs_debug("primary silent to us but not to chunkservers");
		return 0;
	}
	epoch = GFS_MAX(m->epoch, m->fw.sync_epoch);
	epoch = GFS_MAX(epoch, gfs_csmgr_max_epoch(m, &cs_primary)) + 1;
	gfs_info("primary %s silent for %" PRId64 " ms: promoted to primary "
		 "with epoch %" PRIu64, m->primary_url ? m->primary_url : "?",
		 silent, epoch);
	return promote(m, epoch, false);
}

static void lost_contact(struct gfs_master *m)
{
	uint64_t seq;

	pthread_mutex_lock(&m->lock);
	seq = maybe_promote(m);
	pthread_mutex_unlock(&m->lock);
	if (seq)
		gfs_ops_wait(m, seq);
}

/* Replace the state by a checkpoint (buf NULL: empty) at next.  Lock held.
 * Disk order: segments gone, then the checkpoint, then a new segment, so
 * that a crash in between leaves an older but consistent state. */
static bool install_state(struct gfs_master *m, const uint8_t *buf,
			  size_t len)
{
	uint64_t next = 1;
	char *path;

	gfs_ns_free(&m->ns);
	gfs_ns_init(&m->ns);
	gfs_chunks_free(&m->chunks);
	gfs_chunks_init(&m->chunks);
	gfs_csmgr_forget(m);
	gfs_requests_free(&m->requests); /* ids of the history dropped */
	m->epoch = 0;
	m->replaying = true;
	if (buf && gfs_ckpt_load_buf(m, buf, len, &next)) {
		m->replaying = false;
		return false;
	}
	m->replaying = false;
	gfs_oplog_wipe(m->log);
	if (buf) {
		gfs_ckpt_store(m, buf, len);
	} else {
		path = gfs_xasprintf("%s/checkpoint", m->conf.data);
		unlink(path);
		free(path);
	}
	gfs_oplog_reset(m->log, next);
	m->applied_seq = m->ckpt_seq = next;
	return true;
}

/* GET url from the other master into *r; false when no reply came. */
static bool peer_get(struct gfs_http *h, const char *url,
		     const char *const *hdrs, long timeout_ms, size_t max,
		     struct gfs_http_reply *r)
{
	struct gfs_http_opts o = { .headers = hdrs, .timeout_ms = timeout_ms,
				   .connect_ms = 1000, .max_reply = max };

	gfs_http_call(h, "GET", url, &o, r);
	return r->status != 0;
}

static bool resync(struct gfs_master *m, struct gfs_http *p, const char *url)
{
	char *u = gfs_xasprintf("%s" GFS_API "/checkpoint", url);
	struct gfs_http_reply r;
	bool ok = false;

	if (!peer_get(p, u, NULL, 120000, CKPT_MAX, &r) ||
	    (r.status != 200 && r.status != 404))
		goto out_free;
	pthread_mutex_lock(&m->lock);
	ok = m->role == GFS_ROLE_BACKUP &&
	     install_state(m, r.status == 200 ? (const uint8_t *)r.body : NULL,
			   r.len);
	if (ok) {
		m->fw.sync_epoch = r.epoch;
		m->fw.resync = false;
		m->fw.in_sync = false;
		m->fw.last_contact_ms = gfs_mono_ms();
		gfs_info("re-synced from %s: %s, next record %" PRIu64, url,
			 r.status == 200 ? "checkpoint" : "empty",
			 m->applied_seq);
	}
	pthread_mutex_unlock(&m->lock);
out_free:
	gfs_http_reply_clear(&r);
	free(u);
	return ok;
}

/* Store and apply the records of one /oplog reply.  Lock held. */
static bool take_records(struct gfs_master *m, const uint8_t *buf, size_t len)
{
	size_t off = 0, n;
	uint64_t seq;

	while (off < len) {
		n = gfs_oplog_check_record(buf + off, len - off, &seq);
		if (!n || seq != m->applied_seq ||
		    gfs_oplog_append_raw(m->log, buf + off, n) ||
		    !gfs_journal_apply(m, buf + off + GFS_OPLOG_HDR,
				       n - GFS_OPLOG_HDR)) {
			gfs_error("bad record %" PRIu64 " from the primary: "
				  "re-syncing", m->applied_seq);
			return false;
		}
		m->applied_seq++;
		off += n;
	}
	return true;
}

/* The polled master says it is not the primary. */
static void not_primary(struct gfs_master *m, const struct gfs_http_reply *r)
{
	const char *named = r->primary ? r->primary : "";
	uint64_t seq = 0;

	pthread_mutex_lock(&m->lock);
	if (m->role == GFS_ROLE_BACKUP && !strcmp(named, m->self_url) &&
	    m->epoch >= r->epoch && !m->fw.resync) {
		gfs_info("%s names us the primary of epoch %" PRIu64
			 ": resuming as primary", m->primary_url, m->epoch);
		seq = promote(m, m->epoch, true);
	} else if (m->role == GFS_ROLE_BACKUP && named[0] &&
		   strcmp(named, m->self_url) &&
		   (!m->primary_url || strcmp(named, m->primary_url))) {
		gfs_info("following %s (named by %s)", named,
			 m->primary_url ? m->primary_url : "nobody");
		set_str(&m->primary_url, named);
	}
	pthread_mutex_unlock(&m->lock);
	if (seq)
		gfs_ops_wait(m, seq);
}

/* The epoch of the reply against what we synced from.  Lock held. */
static bool same_history(struct gfs_master *m, uint64_t epoch)
{
	if (!m->fw.sync_epoch && m->applied_seq == 1)
		m->fw.sync_epoch = epoch;
	if (epoch == m->fw.sync_epoch)
		return true;
	gfs_info("primary epoch %" PRIu64 " differs from ours (%" PRIu64
		 "): re-syncing", epoch, m->fw.sync_epoch);
	m->fw.resync = true;
	return false;
}

static bool poll_once(struct gfs_master *m, struct gfs_http *p,
		      const char *url, uint64_t from)
{
	uint32_t crc;
	/* our last record's checksum: the primary refuses us (410) if its
	 * record of that seq differs, i.e. it lost ours in a crash */
	char *u = gfs_oplog_record_crc(m->log, from - 1, &crc)
			  ? gfs_xasprintf("%s" GFS_API "/oplog?from=%" PRIu64
					  "&wait_ms=%d&crc=%" PRIu32,
					  url, from, POLL_WAIT_MS, crc)
			  : gfs_xasprintf("%s" GFS_API "/oplog?from=%" PRIu64
					  "&wait_ms=%d", url, from,
					  POLL_WAIT_MS);
	char *me = gfs_xasprintf("X-GFS-Backup: %s", m->self_url);
	const char *hdrs[] = { me, NULL };
	struct gfs_http_reply r;
	bool ok = false;
	char att[8];

	if (!peer_get(p, u, hdrs, POLL_WAIT_MS + 4000, POLL_MAX, &r))
		goto out_free;
	if (r.status == 421) {
		not_primary(m, &r);
		goto out_free;
	}
	pthread_mutex_lock(&m->lock);
	if (r.status == 410)
		m->fw.resync = true;
	else if (r.status == 200 && m->role == GFS_ROLE_BACKUP &&
		 same_history(m, r.epoch) && m->applied_seq == from) {
		if (!take_records(m, (const uint8_t *)r.body, r.len))
			m->fw.resync = true;
		m->fw.in_sync =
			gfs_http_reply_header(&r, "X-GFS-Attached", att,
					      sizeof(att)) &&
			!strcmp(att, "1");
		m->fw.last_contact_ms = gfs_mono_ms();
		ok = true;
	}
	pthread_mutex_unlock(&m->lock);
	if (ok)
		gfs_oplog_sync(m->log);
	ok = ok || r.status == 410;
out_free:
	gfs_http_reply_clear(&r);
	free(me);
	free(u);
	return ok;
}

/* Primary: tell the master we took over from that it is not primary. */
static void ping_peer(struct gfs_master *m, struct gfs_http *p)
{
	char *url = NULL, *u, *eh, *ph;
	const char *hdrs[3];
	struct gfs_http_reply r;
	int64_t now = gfs_mono_ms();

	pthread_mutex_lock(&m->lock);
	if (m->peer_url && now - m->fw.last_ping_ms >= PING_EVERY_MS) {
		url = gfs_xstrdup(m->peer_url);
		m->fw.last_ping_ms = now;
	}
	eh = gfs_xasprintf(GFS_HDR_EPOCH ": %" PRIu64, m->epoch);
	pthread_mutex_unlock(&m->lock);
	ph = gfs_xasprintf(GFS_HDR_PRIMARY ": %s", m->self_url);
	hdrs[0] = eh;
	hdrs[1] = ph;
	hdrs[2] = NULL;
	if (url) {
		u = gfs_xasprintf("%s" GFS_API "/healthz", url);
		peer_get(p, u, hdrs, 1000, 1 << 16, &r);
		gfs_http_reply_clear(&r);
		free(u);
	}
	free(url);
	free(eh);
	free(ph);
}

/* One round; false when the caller should pause before the next. */
static bool follow_once(struct gfs_master *m, struct gfs_http *p)
{
	enum gfs_role role;
	char *url;
	bool again, ok;
	uint64_t from;

	pthread_mutex_lock(&m->lock);
	role = m->role;
	url = m->primary_url ? gfs_xstrdup(m->primary_url) : NULL;
	again = m->fw.resync;
	from = m->applied_seq;
	pthread_mutex_unlock(&m->lock);
	if (role == GFS_ROLE_PRIMARY || !url) {
		if (role == GFS_ROLE_PRIMARY)
			ping_peer(m, p);
		free(url);
		return false;
	}
	ok = again ? resync(m, p, url) : poll_once(m, p, url, from);
	if (!ok)
		lost_contact(m);
	free(url);
	return ok;
}

void *gfs_backup_main(void *arg)
{
	struct gfs_master *m = arg;
	struct gfs_http *p = gfs_http_new();

	while (!atomic_load(&m->stopping))
		if (!follow_once(m, p))
			usleep(200 * 1000);
	gfs_http_free(p);
	return NULL;
}

/*
 * backup.c - follower thread, the pair's rules, role changes; see
 * backup.h.
 *
 * Files in the data directory besides the log and the checkpoint:
 *   members   pair mode, primary: the URLs of the attached backups, one
 *             per line; written (atomically, fsync'ed) before a backup
 *             attaches, read when a primary starts or resumes.
 *   in-sync   empty marker: our log lost nothing since we were last
 *             attached or leader.  Written when a poll first says
 *             attached, removed (durably) before a re-sync wipes the
 *             log.  In etcd mode only a master holding it may campaign.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "checkpoint.h"
#include "constants.h"
#include "csmgr.h"
#include "election.h"
#include "journal.h"
#include "log.h"
#include "master.h"
#include "ops.h"
#include "http.h"
#include "stream.h"
#include "util.h"

#define POLL_WAIT_MS 1000
#define POLL_MAX (256u << 20)
#define CKPT_MAX (4ull << 30)
#define NOTICE_EVERY_MS 1000
#define MEMBERS_FILE "members"
#define MARKER_FILE "in-sync"
#define MEMBERS_MAX (GFS_ISR_PEERS * (GFS_ISR_URL_MAX + 1))
#define STREAM_RETRY_MS 1000   /* after a stream ended: poll meanwhile */
#define STREAM_REFUSED_MS 60000 /* after a leader refused one (TLS) */
#define ACKS_OUT 16            /* acknowledgements unanswered, at most */
#define FRAMES_PER_SYNC 16     /* frames taken before one fsync, at most */

static void set_str(char **dst, const char *src)
{
	char *s = src ? gfs_xstrdup(src) : NULL;

	free(*dst);
	*dst = s;
}

/* ---- files ------------------------------------------------------------- */

void gfs_backup_load_marker(struct gfs_master *m)
{
	char *path = gfs_xasprintf("%s/" MARKER_FILE, m->conf.data);
	struct stat st;

	m->fw.complete = stat(path, &st) == 0;
	free(path);
}

/* Write or remove the marker; lock held (a rare fsync). */
static void set_marker(struct gfs_master *m, bool on)
{
	int rc;

	if (m->fw.complete == on)
		return;
	rc = on ? gfs_file_replace(m->conf.data, MARKER_FILE ".tmp",
				   MARKER_FILE, "", 0)
		: gfs_file_remove(m->conf.data, MARKER_FILE);
	if (rc < 0) {
		gfs_error("cannot %s %s/" MARKER_FILE ": %s; stopping",
			  on ? "write" : "remove", m->conf.data,
			  strerror(errno));
		_exit(1); /* memory and disk would disagree on safety */
	}
	m->fw.complete = on;
}

void gfs_backup_vouch(struct gfs_master *m)
{
	set_marker(m, true);
}

/* The members file as an array of n new strings (free each and it). */
static char **members_load(struct gfs_master *m, size_t *n)
{
	char *path = gfs_xasprintf("%s/" MEMBERS_FILE, m->conf.data);
	char line[GFS_ISR_URL_MAX + 2], **urls = NULL;
	FILE *f = fopen(path, "r");

	*n = 0;
	while (f && *n < GFS_ISR_PEERS && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			continue;
		urls = gfs_xrealloc(urls, (*n + 1) * sizeof(*urls));
		urls[(*n)++] = gfs_xstrdup(line);
	}
	if (f)
		fclose(f);
	free(path);
	return urls;
}

static void members_free(char **urls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(urls[i]);
	free(urls);
}

/* Replace the members file by the members of the set, plus add, minus
 * drop (NULL: none; "" drops all).  Lock held.  False when not written. */
static bool members_save(struct gfs_master *m, const char *add,
			 const char *drop)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	size_t i, n = gfs_isr_view(&m->isr, v, GFS_ISR_PEERS);
	char text[MEMBERS_MAX] = "";
	size_t len = 0;

	for (i = 0; i < n; i++)
		if (v[i].member && !(drop && (!*drop || !strcmp(drop, v[i].url))) &&
		    !(add && !strcmp(add, v[i].url)))
			len += (size_t)snprintf(text + len, sizeof(text) - len,
						"%s\n", v[i].url);
	if (add)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s\n",
					add);
	if (gfs_file_replace(m->conf.data, MEMBERS_FILE ".tmp", MEMBERS_FILE,
			     text, GFS_MIN(len, sizeof(text) - 1)) == 0)
		return true;
	gfs_error("cannot write %s/" MEMBERS_FILE ": %s", m->conf.data,
		  strerror(errno));
	return false;
}

/* ---- role changes ------------------------------------------------------ */

bool gfs_backup_owns_epoch(const struct gfs_master *m)
{
	/* a log written before the owner was kept names none: ours */
	return !m->epoch_owner || !strcmp(m->epoch_owner, m->self_url);
}

void gfs_backup_step_down(struct gfs_master *m, const char *why,
			  const char *primary)
{
	struct gfs_isr_view v[1];

	if (m->role != GFS_ROLE_PRIMARY)
		return;
	if ((!primary || !*primary) && !gfs_master_etcd(m))
		primary = gfs_isr_view(&m->isr, v, 1) ? v[0].url : m->peer_url;
	gfs_warn("%s (our epoch is %" PRIu64 "): stepping down, following %s",
		 why, m->epoch, primary && *primary ? primary : "(unknown yet)");
	m->role = GFS_ROLE_BACKUP;
	set_str(&m->primary_url, primary && *primary ? primary : NULL);
	/* pair mode: our log may hold records the new primary never had;
	 * etcd mode: same_history() finds out from the new leader's epoch */
	m->fw.resync = !gfs_master_etcd(m);
	m->fw.in_sync = false;
	m->fw.last_contact_ms = gfs_mono_ms();
	gfs_isr_fence(&m->isr);
}

uint64_t gfs_backup_lead(struct gfs_master *m, uint64_t epoch,
			 char *const *members, size_t n, int64_t ack_until_ms)
{
	struct gfs_enc rec = { 0 };
	int64_t now = gfs_mono_ms();

	if (m->primary_url && strcmp(m->primary_url, m->self_url))
		set_str(&m->peer_url, m->primary_url);
	m->role = GFS_ROLE_PRIMARY;
	set_str(&m->primary_url, m->self_url);
	gfs_csmgr_want_inventories(m);
	gfs_chunks_skip_reserved(&m->chunks);
	m->settle_until = now + (int64_t)m->conf.dead_after_ms;
	m->probation_until = 0;
	m->fw.in_sync = false;
	m->fw.resync = false;
	gfs_isr_lead(&m->isr, members, n, m->applied_seq, ack_until_ms);
	set_marker(m, true);
	if (epoch <= m->epoch)
		return 0;
	m->prev_epoch = m->epoch;
	m->epoch_start = m->applied_seq;
	m->fw.sync_epoch = epoch;
	gfs_rec_epoch(&rec, epoch, m->self_url);
	return gfs_ops_stamp_root(m, gfs_ops_log(m, &rec));
}

void gfs_backup_lead_pair(struct gfs_master *m)
{
	size_t n;
	char **urls = members_load(m, &n);

	gfs_isr_lead(&m->isr, urls, n, m->applied_seq, INT64_MAX);
	if (n)
		gfs_info("waiting for %zu attached backup(s) (%s%s) before "
			 "acknowledging: gfs detach if gone for good", n,
			 urls[0], n > 1 ? ", ..." : "");
	members_free(urls, n);
}

/* Pair mode: promote with epoch (probation: resuming after a restart).
 * Lock held; the EPOCH record's seq. */
static uint64_t promote(struct gfs_master *m, uint64_t epoch, bool resume)
{
	uint64_t seq;

	if (resume) {
		seq = gfs_backup_lead(m, epoch, NULL, 0, INT64_MAX);
		gfs_backup_lead_pair(m);
		m->probation_until = gfs_mono_ms() +
				     (int64_t)m->conf.probation_ms;
		return seq;
	}
	/* the old primary can acknowledge nothing without us: start alone */
	if (!members_save(m, NULL, ""))
		return 0;
	return gfs_backup_lead(m, epoch, NULL, 0, INT64_MAX);
}

static uint64_t next_epoch(struct gfs_master *m)
{
	const char *cs_primary;
	uint64_t epoch = GFS_MAX(m->epoch, m->fw.sync_epoch);

	return GFS_MAX(epoch, gfs_csmgr_max_epoch(m, &cs_primary)) + 1;
}

/* Pair mode: silent too long, but not known to hold every acknowledged
 * record: say so, once per silence.  Lock held. */
static void hold_back(struct gfs_master *m, int64_t silent)
{
	if (m->fw.held_back_ms == m->fw.last_contact_ms)
		return;
	m->fw.held_back_ms = m->fw.last_contact_ms;
	gfs_warn("primary %s silent for %" PRId64 " ms, but our last poll "
		 "did not say we were attached: not taking over ('gfs "
		 "promote' forces it)", m->primary_url ? m->primary_url : "?",
		 silent);
}

void gfs_backup_forgive_stall(struct gfs_master *m, int64_t now,
			      int64_t gap)
{
	if (m->role != GFS_ROLE_BACKUP || gfs_master_etcd(m))
		return;
	gfs_warn("this master did not run for %" PRId64 " ms: the "
		 "primary's silence meanwhile does not count", gap);
	m->fw.last_contact_ms = GFS_MIN(m->fw.last_contact_ms + gap, now);
}

/* Pair mode: the primary is silent; promote when allowed.  Silence is
 * counted only while we ran: right after a stall of ours (the tick has
 * not forgiven it yet) nothing is decided, we poll again first.  Lock
 * held. */
static uint64_t maybe_promote(struct gfs_master *m)
{
	int64_t now = gfs_mono_ms();
	int64_t silent = now - m->fw.last_contact_ms;
	uint64_t epoch;

	if (gfs_master_etcd(m) || m->role != GFS_ROLE_BACKUP ||
	    silent < (int64_t)m->conf.failover_ms ||
	    gfs_csmgr_stalled(m, now))
		return 0;
	if (!m->fw.in_sync) {
		hold_back(m, silent);
		return 0;
	}
	epoch = next_epoch(m);
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
		gfs_oplog_wait(m->log, seq);
}

enum gfs_err gfs_backup_force_promote(struct gfs_master *m)
{
	enum gfs_err err = GFS_OK;
	uint64_t seq = 0, epoch;

	if (gfs_master_etcd(m))
		return gfs_election_force(m->el);
	pthread_mutex_lock(&m->lock);
	if (m->role == GFS_ROLE_BACKUP && m->fw.resync) {
		err = GFS_EUNAVAIL; /* mid re-sync: no state to serve yet */
	} else if (m->role == GFS_ROLE_BACKUP) {
		epoch = next_epoch(m);
		gfs_warn("promoted to primary with epoch %" PRIu64 " by the "
			 "operator (%s)", epoch,
			 m->fw.in_sync ? "in sync" : "NOT in sync: records the "
			 "old primary acknowledged may be lost");
		seq = promote(m, epoch, false);
		err = seq ? GFS_OK : GFS_EIO;
	}
	pthread_mutex_unlock(&m->lock);
	if (seq)
		gfs_oplog_wait(m->log, seq);
	return err;
}

enum gfs_err gfs_backup_detach(struct gfs_master *m, const char *url)
{
	enum gfs_err err = GFS_OK;
	struct gfs_isr_view v[GFS_ISR_PEERS];
	size_t i, n;

	if (gfs_master_etcd(m))
		return GFS_EINVAL;
	pthread_mutex_lock(&m->lock);
	if (m->role != GFS_ROLE_PRIMARY)
		err = GFS_ENOTPRIMARY;
	else if (!members_save(m, NULL, url ? url : ""))
		err = GFS_EIO;
	n = err ? 0 : gfs_isr_view(&m->isr, v, GFS_ISR_PEERS);
	for (i = 0; i < n; i++) {
		if (!v[i].member || (url && strcmp(url, v[i].url)))
			continue;
		gfs_warn("backup %s detached by the operator: acknowledging "
			 "without it", v[i].url);
		gfs_isr_set_member(&m->isr, v[i].url, false);
	}
	pthread_mutex_unlock(&m->lock);
	return err;
}

void gfs_backup_learn_primary(struct gfs_master *m, uint64_t epoch,
			      const char *primary)
{
	if (gfs_master_etcd(m) || m->role != GFS_ROLE_BACKUP || !primary ||
	    !*primary || epoch <= m->epoch || !strcmp(primary, m->self_url) ||
	    (m->primary_url && !strcmp(primary, m->primary_url)))
		return;
	gfs_info("following %s, primary of epoch %" PRIu64 " (ours is %"
		 PRIu64 ", following %s)", primary, epoch, m->epoch,
		 m->primary_url ? m->primary_url : "nobody");
	set_str(&m->primary_url, primary);
}

/* ---- following --------------------------------------------------------- */

/* Replace the state by a checkpoint (buf NULL: empty) at next.  Lock held.
 * Disk order: the marker gone, then the segments, then the checkpoint,
 * then a new segment, so that a crash in between leaves an older but
 * consistent state that may not campaign. */
static bool install_state(struct gfs_master *m, const uint8_t *buf,
			  size_t len)
{
	uint64_t next = 1;
	char *path;

	set_marker(m, false);
	gfs_ns_free(&m->ns);
	gfs_ns_init(&m->ns);
	gfs_chunks_free(&m->chunks);
	gfs_chunks_init(&m->chunks);
	gfs_csmgr_forget(m);
	gfs_requests_free(&m->requests); /* ids of the history dropped */
	m->epoch = 0;
	set_str(&m->epoch_owner, NULL);
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

#define PEER_HDRS 4

/* Call url of the other master into *r, signed with the cluster secret
 * (method, url and body); hdrs has at most PEER_HDRS lines.  False when
 * no reply came. */
static bool peer_call(struct gfs_master *m, struct gfs_http *h,
		      const char *method, const char *url,
		      const char *const *hdrs, const char *body,
		      long timeout_ms, size_t max, struct gfs_http_reply *r)
{
	const char *all[PEER_HDRS + 2];
	size_t len = body ? strlen(body) : 0;
	char *sig = gfs_auth_sign(m->auth, method, url, body, len);
	struct gfs_http_opts o = { .headers = all, .timeout_ms = timeout_ms,
				   .connect_ms = 1000, .max_reply = max,
				   .body = body, .len = len };
	int n = 0;

	for (; hdrs && *hdrs && n < PEER_HDRS; hdrs++)
		all[n++] = *hdrs;
	if (sig)
		all[n++] = sig;
	all[n] = NULL;
	gfs_http_call(h, method, url, &o, r);
	free(sig);
	pthread_mutex_lock(&m->lock);
	if (r->status == 401 && !m->fw.refused)
		gfs_warn("%s refused us (401): is the cluster secret the "
			 "same on both masters?", url);
	m->fw.refused = r->status == 401;
	pthread_mutex_unlock(&m->lock);
	return r->status != 0;
}

static bool resync(struct gfs_master *m, struct gfs_http *p, const char *url)
{
	char *u = gfs_xasprintf("%s" GFS_API "/checkpoint", url);
	struct gfs_http_reply r;
	bool ok = false;

	if (!peer_call(m, p, "GET", u, NULL, NULL, 120000, CKPT_MAX, &r) ||
	    (r.status != 200 && r.status != 404))
		goto out_free;
	pthread_mutex_lock(&m->lock);
	/* never under a campaign that believes our log complete */
	ok = m->role == GFS_ROLE_BACKUP && !m->fw.campaigning &&
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
	/* as ops.c does for the primary: a due checkpoint is taken now, not
	 * at the next tick, so a burst does not pile up in one segment */
	if (m->applied_seq - m->ckpt_seq >= m->conf.checkpoint_every)
		pthread_cond_signal(&m->wake);
	return true;
}

/* The polled master says it is not the primary (pair mode: believe who
 * it names; etcd mode: the election says who leads). */
static void not_primary(struct gfs_master *m, const struct gfs_http_reply *r)
{
	const char *named = r->primary ? r->primary : "";
	uint64_t seq = 0;

	pthread_mutex_lock(&m->lock);
	if (gfs_master_etcd(m) || m->role != GFS_ROLE_BACKUP) {
		/* nothing */
	} else if (!strcmp(named, m->self_url) && m->epoch >= r->epoch &&
		   !m->fw.resync && gfs_backup_owns_epoch(m)) {
		gfs_info("%s names us the primary of epoch %" PRIu64
			 ": resuming as primary", m->primary_url, m->epoch);
		seq = promote(m, m->epoch, true);
	} else if (named[0] && strcmp(named, m->self_url) &&
		   (!m->primary_url || strcmp(named, m->primary_url))) {
		gfs_info("following %s (named by %s)", named,
			 m->primary_url ? m->primary_url : "nobody");
		set_str(&m->primary_url, named);
	}
	pthread_mutex_unlock(&m->lock);
	if (seq)
		gfs_oplog_wait(m->log, seq);
}

/* What the leader's answer to a poll (or a stream's STATUS) says beside
 * the records. */
struct answer {
	uint64_t epoch;         /* the leader's */
	bool has_start;         /* X-GFS-Epoch-Start came: */
	uint64_t prev_epoch;    /* the epoch its log continues */
	uint64_t start;         /* the seq of its EPOCH record */
	bool attached;          /* X-GFS-Attached */
	int64_t read_ms;        /* its read window (read_window()) */
	const char *stamp;      /* X-GFS-Stamp, or NULL */
};

/*
 * Is our log a prefix of the log of the leader that answered a?  Only
 * when it came from the same epoch (pair mode), or (etcd mode, where an
 * epoch is one process's term and its records one stream) from the
 * epoch the leader's own log came from, and ends at or before the
 * leader's EPOCH record (X-GFS-Epoch-Start: PREV_EPOCH START_SEQ).
 * Else we re-sync from its checkpoint.  Lock held.
 */
static bool same_history(struct gfs_master *m, const struct answer *a)
{
	if (!m->fw.sync_epoch && m->applied_seq == 1)
		m->fw.sync_epoch = a->epoch;
	if (a->epoch == m->fw.sync_epoch)
		return true;
	if (gfs_master_etcd(m) && a->has_start &&
	    a->prev_epoch == m->fw.sync_epoch && m->applied_seq <= a->start) {
		gfs_info("leader of epoch %" PRIu64 " continues the log of "
			 "epoch %" PRIu64 " that we hold up to record %" PRIu64
			 ": no re-sync", a->epoch, a->prev_epoch,
			 m->applied_seq);
		m->fw.sync_epoch = a->epoch;
		return true;
	}
	gfs_info("primary epoch %" PRIu64 " differs from ours (%" PRIu64
		 "): re-syncing", a->epoch, m->fw.sync_epoch);
	m->fw.resync = true;
	return false;
}

/* GET /oplog?from=...; NULL-free new string. */
static char *poll_url(struct gfs_master *m, const char *url, uint64_t from)
{
	uint32_t crc;

	/* our last record's checksum: the primary refuses us (410) if its
	 * record of that seq differs, i.e. it lost ours in a crash */
	if (gfs_oplog_record_crc(m->log, from - 1, &crc))
		return gfs_xasprintf("%s" GFS_API "/oplog?from=%" PRIu64
				     "&wait_ms=%d&crc=%" PRIu32, url, from,
				     POLL_WAIT_MS, crc);
	return gfs_xasprintf("%s" GFS_API "/oplog?from=%" PRIu64 "&wait_ms=%d",
			     url, from, POLL_WAIT_MS);
}

/* The primary's stamp on a reply that just came: contact from now (its
 * arrival or later, never its sending), so that the primary, which counts
 * on us until the stamp's time + our failover window (less the drift),
 * counts on us no longer than we wait before we take over.  Lock held. */
static void take_stamp(struct gfs_master *m, const char *stamp)
{
	m->fw.last_contact_ms = gfs_mono_ms();
	if (stamp)
		gfs_isr_parse_echo(stamp, &m->fw.echo);
}

/* How long the leader that sent r promises to acknowledge nothing
 * without us, from when it made r (X-GFS-Read-Ms: its --backup-detach,
 * or less when its etcd lease ends sooner); a leader that does not say
 * (older) promises --backup-detach, which we assume is ours.  Lock
 * held. */
static int64_t read_window(struct gfs_master *m,
			   const struct gfs_http_reply *r)
{
	char h[32];
	int64_t w;
	int n = 0;

	if (gfs_http_reply_header(r, GFS_HDR_READ_MS, h, sizeof(h)) &&
	    sscanf(h, "%" SCNd64 "%n", &w, &n) == 1 && !h[n] && w >= 0)
		return w;
	return (int64_t)m->conf.detach_ms;
}

/* The answer to a poll (or an acknowledgement) sent at sent, records
 * apart: attached or not, and the stamp.  Lock held. */
static void take_answer(struct gfs_master *m, const struct answer *a,
			int64_t sent)
{
	m->fw.in_sync = a->attached;
	/* attached: we hold every record ever acknowledged, and the leader
	 * acknowledges none without us until its read window after it
	 * answered, later than we sent: reads until then (not from the
	 * answer's arrival, which may have been held up) */
	m->fw.read_until_ms = 0;
	if (m->fw.in_sync && !m->fw.resync) {
		set_marker(m, true);
		m->fw.read_until_ms = gfs_isr_read_until(sent, a->read_ms);
	}
	take_stamp(m, a->stamp);
}

/* A poll's reply as an answer (stamp: room for its stamp).  Lock held. */
static void answer_of(struct gfs_master *m, const struct gfs_http_reply *r,
		      struct answer *a, char stamp[GFS_ISR_STAMP_MAX])
{
	char h[64];

	memset(a, 0, sizeof(*a));
	a->epoch = r->epoch;
	a->has_start = gfs_http_reply_header(r, "X-GFS-Epoch-Start", h,
					     sizeof(h)) &&
		       sscanf(h, "%" SCNu64 " %" SCNu64, &a->prev_epoch,
			      &a->start) == 2;
	a->attached = gfs_http_reply_header(r, "X-GFS-Attached", h,
					    sizeof(h)) && !strcmp(h, "1");
	a->read_ms = read_window(m, r);
	if (gfs_http_reply_header(r, GFS_HDR_STAMP, stamp, GFS_ISR_STAMP_MAX))
		a->stamp = stamp;
}

/* Take a 200 reply to a poll for from, sent at sent.  Lock held. */
static bool take_poll(struct gfs_master *m, const struct gfs_http_reply *r,
		      uint64_t from, int64_t sent)
{
	char stamp[GFS_ISR_STAMP_MAX];
	struct answer a;

	answer_of(m, r, &a, stamp);
	if (m->role != GFS_ROLE_BACKUP || !same_history(m, &a) ||
	    m->applied_seq != from)
		return false;
	if (!take_records(m, (const uint8_t *)r->body, r->len))
		m->fw.resync = true;
	take_answer(m, &a, sent);
	return true;
}

/* X-GFS-Echo's text into buf: the last stamp we got and our failover
 * window; false (and "") when none came yet. */
static bool echo_text(struct gfs_master *m, char *buf, size_t size)
{
	bool some;

	pthread_mutex_lock(&m->lock);
	some = m->fw.echo.id != 0;
	snprintf(buf, size, some ? "%016" PRIx64 "-%" PRId64 " %" PRIu64 : "",
		 m->fw.echo.id, m->fw.echo.at_ms, m->conf.failover_ms);
	pthread_mutex_unlock(&m->lock);
	return some;
}

/* X-GFS-Echo (echo_text()), or NULL; new string. */
static char *echo_header(struct gfs_master *m)
{
	char text[GFS_ISR_STAMP_MAX + 24];

	return echo_text(m, text, sizeof(text))
		       ? gfs_xasprintf(GFS_HDR_ECHO ": %s", text)
		       : NULL;
}

static bool poll_once(struct gfs_master *m, struct gfs_http *p,
		      const char *url, uint64_t from)
{
	char *u = poll_url(m, url, from);
	char *me = gfs_xasprintf(GFS_HDR_BACKUP ": %s", m->self_url);
	char *echo = echo_header(m);
	const char *hdrs[] = { me, echo, NULL };
	struct gfs_http_reply r;
	int64_t sent = gfs_mono_ms();
	bool ok = false;

	if (!peer_call(m, p, "GET", u, hdrs, NULL, POLL_WAIT_MS + 4000,
		       POLL_MAX, &r))
		goto out_free;
	if (r.status == 421) {
		not_primary(m, &r);
		goto out_free;
	}
	pthread_mutex_lock(&m->lock);
	/* whatever else it answered, it was alive when it took our poll and
	 * may have counted it as our acknowledgement: its silence starts
	 * later (failing safe: a primary that answers is not failed over) */
	m->fw.last_contact_ms = GFS_MAX(m->fw.last_contact_ms, sent);
	if (r.status == 410)
		m->fw.resync = true;
	else if (r.status == 200)
		ok = take_poll(m, &r, from, sent);
	pthread_mutex_unlock(&m->lock);
	if (ok)
		gfs_oplog_sync(m->log);
	ok = ok || r.status == 410;
out_free:
	gfs_http_reply_clear(&r);
	free(echo);
	free(me);
	free(u);
	return ok;
}

/* ---- following over an op-log stream (stream.h) ------------------------ */

/* Are we still a backup following url, in step with it?  Lock held. */
static bool following_locked(struct gfs_master *m, const char *url)
{
	return m->role == GFS_ROLE_BACKUP && !m->fw.resync && m->primary_url &&
	       !strcmp(m->primary_url, url) && !atomic_load(&m->stopping);
}

static bool following(struct gfs_master *m, const char *url)
{
	bool yes;

	pthread_mutex_lock(&m->lock);
	yes = following_locked(m, url);
	pthread_mutex_unlock(&m->lock);
	return yes;
}

/* Ask url for a stream from record from, as a poll would ask. */
static struct gfs_stream *stream_open(struct gfs_master *m, const char *url,
				      uint64_t from, int *status)
{
	char *poll = poll_url(m, url, from);
	char *u = gfs_xasprintf("%s&stream=1", poll);
	char *me = gfs_xasprintf(GFS_HDR_BACKUP ": %s", m->self_url);
	char *echo = echo_header(m);
	char *sig = gfs_auth_sign(m->auth, "GET", u, NULL, 0);
	const char *hdrs[] = { me, echo ? echo : sig, echo ? sig : NULL,
			       NULL };
	struct gfs_stream *s = gfs_stream_open(u, hdrs, POLL_WAIT_MS + 4000,
					       status);

	free(sig);
	free(echo);
	free(me);
	free(u);
	free(poll);
	return s;
}

/* Our acknowledgement of every record before from (durable here). */
static bool stream_ack(struct gfs_master *m, struct gfs_stream *s,
		       uint64_t from)
{
	struct gfs_stream_ack a = { .from = from };

	a.has_crc = gfs_oplog_record_crc(m->log, from - 1, &a.crc);
	echo_text(m, a.echo, sizeof(a.echo));
	return gfs_stream_send_ack(s, &a);
}

/* A RECORDS frame: store and apply them (take_poll()'s part).  *applied:
 * the record after them. */
static bool stream_records(struct gfs_master *m, const char *url,
			   const uint8_t *p, size_t len, uint64_t *applied)
{
	bool ok;

	pthread_mutex_lock(&m->lock);
	ok = following_locked(m, url);
	if (ok && !take_records(m, p, len)) {
		m->fw.resync = true;
		ok = false;
	}
	*applied = m->applied_seq;
	pthread_mutex_unlock(&m->lock);
	return ok;
}

/* A STATUS frame: the answer to our acknowledgement sent at sent. */
static bool stream_status(struct gfs_master *m, const uint8_t *p, size_t len,
			  int64_t sent, int64_t *next_ms)
{
	struct gfs_stream_status st;
	struct answer a = { 0 };
	bool ok;

	if (!gfs_stream_status_decode(p, len, &st))
		return false;
	a.epoch = st.epoch;
	a.has_start = true;
	a.prev_epoch = st.prev_epoch;
	a.start = st.epoch_start;
	a.attached = st.attached;
	a.read_ms = st.read_ms;
	a.stamp = st.stamp[0] ? st.stamp : NULL;
	*next_ms = st.next_ms;
	pthread_mutex_lock(&m->lock);
	/* as a poll's reply: the leader was alive when it took it */
	m->fw.last_contact_ms = GFS_MAX(m->fw.last_contact_ms, sent);
	ok = m->role == GFS_ROLE_BACKUP && same_history(m, &a);
	if (ok)
		take_answer(m, &a, sent);
	pthread_mutex_unlock(&m->lock);
	return ok;
}

/* When to try a stream again: refused (TLS, or a leader without
 * streams), or after one ended. */
static void stream_later(struct gfs_master *m, int64_t ms)
{
	pthread_mutex_lock(&m->lock);
	m->fw.stream_after_ms = gfs_mono_ms() + ms;
	pthread_mutex_unlock(&m->lock);
}

static bool stream_due(struct gfs_master *m, const char *url)
{
	bool due;

	pthread_mutex_lock(&m->lock);
	due = gfs_mono_ms() >= m->fw.stream_after_ms;
	pthread_mutex_unlock(&m->lock);
	return due && !strncmp(url, "http://", 7);
}

/*
 * Follow url over a stream from record from until it ends.  Each
 * acknowledgement is a poll that waits for nothing; one is sent as soon
 * as records taken are durable, and otherwise when the last answer says
 * (the time a poll would have been parked).  False when an answer did
 * not come in a poll's time (contact lost), as poll_once().
 */
static bool follow_stream(struct gfs_master *m, const char *url,
			  uint64_t from)
{
	int64_t sent[ACKS_OUT], last = gfs_mono_ms(), next_ms = 0, now;
	size_t head = 0, out = 1;
	struct gfs_stream *s;
	const uint8_t *p;
	uint64_t applied = from, acked = from;
	bool ok = true;
	int status, r, wait, frames;
	size_t len;
	char type;

	sent[0] = last;
	s = stream_open(m, url, from, &status);
	if (!s) {
		stream_later(m, status == 200 || status == 400 || status == 404 ||
					status == 501
				? STREAM_REFUSED_MS : STREAM_RETRY_MS);
		return status != 0;
	}
	while (following(m, url)) {
		now = gfs_mono_ms();
		/* records taken are acknowledged once durable; else, with
		 * no answer awaited, when the last answer said */
		if ((applied > acked && out < ACKS_OUT) ||
		    (!out && now - last >= next_ms)) {
			if (applied > acked)
				gfs_oplog_sync(m->log);
			if (!stream_ack(m, s, applied))
				break;
			acked = applied;
			sent[(head + out++) % ACKS_OUT] = last = gfs_mono_ms();
			continue;
		}
		wait = (int)(out ? 100 : GFS_MIN(100, last + next_ms - now));
		frames = 0;
		while (frames++ < FRAMES_PER_SYNC &&
		       (r = gfs_stream_recv(s, wait, &type, &p, &len)) > 0) {
			wait = 0; /* take what came, then one fsync */
			if (type == GFS_FRAME_RECORDS) {
				if (!stream_records(m, url, p, len, &applied))
					goto out;
			} else if (type == GFS_FRAME_STATUS && out) {
				if (!stream_status(m, p, len, sent[head],
						   &next_ms))
					goto out;
				head = (head + 1) % ACKS_OUT;
				out--;
			} else {
				gfs_warn("oplog stream from %s: unexpected "
					 "frame", url);
				goto out;
			}
		}
		if (r < 0)
			break;
		/* nothing came (what arrived while we were stopped is read
		 * first): no answer in a poll's time is lost contact */
		if (!r && out && gfs_mono_ms() - sent[head] > POLL_WAIT_MS + 4000) {
			ok = false;
			break;
		}
	}
out:
	gfs_stream_close(s);
	if (ok && following(m, url))
		stream_later(m, STREAM_RETRY_MS);
	return ok;
}

/* ---- pair mode, as primary --------------------------------------------- */

/* Is url one of our followers, polling now?  Lock held. */
static bool follows_us(struct gfs_master *m, const char *url)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	size_t i, n = gfs_isr_view(&m->isr, v, GFS_ISR_PEERS);

	for (i = 0; i < n; i++)
		if (!strcmp(v[i].url, url) && !v[i].silent)
			return true;
	return false;
}

/* BELIEVED EPOCH, the sender's side: tell the master we took over from
 * that it is not the primary (POST /epoch), until it follows us. */
static void send_notice(struct gfs_master *m, struct gfs_http *p)
{
	char *url = NULL, *u, *body;
	const char *hdrs[] = { "Content-Type: application/json", NULL };
	struct gfs_http_reply r;
	int64_t now = gfs_mono_ms();

	pthread_mutex_lock(&m->lock);
	if (m->peer_url && now - m->fw.last_ping_ms >= NOTICE_EVERY_MS &&
	    !follows_us(m, m->peer_url)) {
		url = gfs_xstrdup(m->peer_url);
		m->fw.last_ping_ms = now;
	}
	body = gfs_xasprintf("{\"epoch\": %" PRIu64 ", \"primary\": \"%s\"}",
			     m->epoch, m->self_url);
	pthread_mutex_unlock(&m->lock);
	if (url) {
		u = gfs_xasprintf("%s" GFS_API "/epoch", url);
		peer_call(m, p, "POST", u, hdrs, body, 1000, 1 << 16, &r);
		gfs_http_reply_clear(&r);
		free(u);
	}
	free(url);
	free(body);
}

/* Attach every backup that caught up: written to the members file
 * first, so that a restarted primary waits for it too. */
static void attach_caught_up(struct gfs_master *m)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	size_t i, n = gfs_isr_view(&m->isr, v, GFS_ISR_PEERS);

	for (i = 0; i < n; i++) {
		if (v[i].member || !v[i].caught_up || v[i].silent)
			continue;
		pthread_mutex_lock(&m->lock);
		if (m->role == GFS_ROLE_PRIMARY && members_save(m, v[i].url,
								NULL)) {
			gfs_info("backup %s attached; replicating "
				 "synchronously", v[i].url);
			gfs_isr_set_member(&m->isr, v[i].url, true);
		}
		pthread_mutex_unlock(&m->lock);
	}
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
		if (role == GFS_ROLE_PRIMARY && !gfs_master_etcd(m)) {
			send_notice(m, p);
			attach_caught_up(m);
		}
		free(url);
		return false;
	}
	ok = again		 ? resync(m, p, url)
	     : stream_due(m, url) ? follow_stream(m, url, from)
				 : poll_once(m, p, url, from);
	if (!ok)
		lost_contact(m);
	free(url);
	return ok;
}

void *gfs_backup_main(void *arg)
{
	struct gfs_master *m = arg;
	struct gfs_http *p = gfs_http_new();

	gfs_http_set_ca(p, m->conf.auth.ca_file);
	while (!atomic_load(&m->stopping))
		if (!follow_once(m, p))
			usleep(200 * 1000);
	gfs_http_free(p);
	return NULL;
}

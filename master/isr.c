/*
 * isr.c - the in-sync set on the leader; see isr.h.
 *
 * A small table of followers (GFS_ISR_PEERS), scanned linearly: a wait
 * checks every member, O(members), which is two or three.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "constants.h"
#include "isr.h"
#include "log.h"
#include "oplog.h"
#include "util.h"

/* How much longer than detach_ms a poll parked in the server may keep a
 * follower from counting as silent. */
#define PARKED_GRACE_MS 2000

/* A random id for our stamps, never 0; without entropy (never on Linux
 * once booted), the clock and our pid still differ between processes. */
static uint64_t new_stamp_id(void)
{
	uint64_t id = 0;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = (uint64_t)gfs_mono_ns() * 2654435761u ^ (uint64_t)getpid();
	return id ? id : 1;
}

void gfs_isr_init(struct gfs_isr *isr, int64_t detach_ms, bool echo_life)
{
	pthread_condattr_t ca;

	memset(isr, 0, sizeof(*isr));
	pthread_mutex_init(&isr->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&isr->cond, &ca);
	pthread_condattr_destroy(&ca);
	isr->fenced = true;
	isr->ack_until_ms = INT64_MAX;
	isr->detach_ms = detach_ms;
	isr->echo_life = echo_life;
	isr->stamp_id = new_stamp_id();
}

/* Tell on_change (outside the lock) that a wait may decide otherwise. */
static void changed(struct gfs_isr *isr)
{
	if (isr->on_change)
		isr->on_change(isr->on_change_cls);
}

static void forget_all(struct gfs_isr *isr)
{
	size_t i;

	for (i = 0; i < isr->n; i++)
		free(isr->peers[i].url);
	isr->n = 0;
}

void gfs_isr_on_change(struct gfs_isr *isr, void (*fn)(void *cls), void *cls)
{
	pthread_mutex_lock(&isr->lock);
	isr->on_change = fn;
	isr->on_change_cls = cls;
	pthread_mutex_unlock(&isr->lock);
}

void gfs_isr_destroy(struct gfs_isr *isr)
{
	forget_all(isr);
	pthread_cond_destroy(&isr->cond);
	pthread_mutex_destroy(&isr->lock);
}

/* The peer named url, or NULL.  Lock held. */
static struct gfs_isr_peer *find(struct gfs_isr *isr, const char *url)
{
	size_t i;

	for (i = 0; i < isr->n; i++)
		if (!strcmp(isr->peers[i].url, url))
			return &isr->peers[i];
	return NULL;
}

/* May p still answer reads, told attached by us lately (its read window,
 * gfs_isr_read_until(), ends before detach_ms of ours after)?  Lock
 * held. */
static bool may_read(const struct gfs_isr *isr, const struct gfs_isr_peer *p,
		     int64_t now)
{
	return p->told_ms && now - p->told_ms <= isr->detach_ms;
}

/* How long (our ms from now) we can promise a follower told attached now
 * that nothing is acknowledged without it: detach_ms (we count it gone
 * no sooner), and no later than ack_until (etcd: a new leader may act
 * once our lease expired, which it does no earlier).  Lock held. */
static int64_t read_window(const struct gfs_isr *isr, int64_t now)
{
	if (isr->ack_until_ms <= now)
		return 0;
	return GFS_MIN(isr->detach_ms, isr->ack_until_ms - now);
}

/* A slot for a new peer: a free one, else the longest idle non-member
 * with no poll in progress and no reads possible; NULL when every slot is busy.  Lock held. */
static struct gfs_isr_peer *slot(struct gfs_isr *isr)
{
	struct gfs_isr_peer *best = NULL, *p;
	int64_t now = gfs_mono_ms();
	size_t i;

	if (isr->n < GFS_ISR_PEERS)
		return &isr->peers[isr->n++];
	for (i = 0; i < isr->n; i++) {
		p = &isr->peers[i];
		if (!p->member && !p->polls && !may_read(isr, p, now) &&
		    (!best || p->last_poll_ms < best->last_poll_ms))
			best = p;
	}
	if (best)
		free(best->url);
	return best;
}

/* Find url, adding it when absent (NULL: the table is full). */
static struct gfs_isr_peer *find_or_add(struct gfs_isr *isr, const char *url)
{
	struct gfs_isr_peer *p = find(isr, url);

	if (p)
		return p;
	p = slot(isr);
	if (!p) {
		gfs_warn("too many followers: %s is served but not tracked",
			 url);
		return NULL;
	}
	memset(p, 0, sizeof(*p));
	p->url = gfs_xstrdup(url);
	p->last_poll_ms = gfs_mono_ms();
	return p;
}

static bool silent(const struct gfs_isr *isr, const struct gfs_isr_peer *p,
		   int64_t now)
{
	int64_t limit = isr->detach_ms + (p->polls ? PARKED_GRACE_MS : 0);

	return now - p->last_poll_ms > limit ||
	       (isr->echo_life && now >= p->life_until);
}

int64_t gfs_isr_life_until(uint64_t id, const struct gfs_isr_echo *e,
			   int64_t now)
{
	int64_t until;

	if (!id || e->id != id || e->at_ms > now || e->window_ms <= 0 ||
	    e->window_ms > INT64_MAX / 2 - e->at_ms)
		return 0;
	until = e->at_ms + e->window_ms -
		e->window_ms * GFS_DRIFT_PERMILLE / 1000 - GFS_ACK_MARGIN_MS;
	return until > now ? until : 0;
}

int64_t gfs_isr_read_until(int64_t sent_ms, int64_t detach_ms)
{
	return sent_ms + detach_ms - detach_ms * GFS_DRIFT_PERMILLE / 1000 -
	       GFS_ACK_MARGIN_MS;
}

bool gfs_isr_parse_echo(const char *text, struct gfs_isr_echo *e)
{
	int n = 0, w = 0;

	memset(e, 0, sizeof(*e));
	if (sscanf(text, "%16" SCNx64 "-%" SCNd64 "%n", &e->id, &e->at_ms,
		   &n) == 2 &&
	    (!text[n] || (sscanf(text + n, " %" SCNd64 "%n", &e->window_ms,
				 &w) == 1 && !text[n + w])) &&
	    e->id && e->at_ms >= 0 && e->window_ms >= 0)
		return true;
	memset(e, 0, sizeof(*e));
	return false;
}

void gfs_isr_lead(struct gfs_isr *isr, char *const *members, size_t n,
		  uint64_t next_seq, int64_t ack_until_ms)
{
	struct gfs_isr_peer *p;
	size_t i;

	pthread_mutex_lock(&isr->lock);
	forget_all(isr);
	for (i = 0; i < n && i < GFS_ISR_PEERS; i++) {
		p = find_or_add(isr, members[i]);
		p->member = true;
	}
	if (n > GFS_ISR_PEERS)
		gfs_error("in-sync set of %zu followers: only %d are waited "
			  "for", n, GFS_ISR_PEERS);
	isr->fenced = false;
	isr->acked_hw = next_seq;
	isr->ack_until_ms = ack_until_ms;
	pthread_cond_broadcast(&isr->cond);
	pthread_mutex_unlock(&isr->lock);
	changed(isr);
}

void gfs_isr_fence(struct gfs_isr *isr)
{
	size_t i;

	pthread_mutex_lock(&isr->lock);
	isr->fenced = true;
	for (i = 0; i < isr->n; i++)
		isr->peers[i].attached = false;
	pthread_cond_broadcast(&isr->cond);
	pthread_mutex_unlock(&isr->lock);
	changed(isr);
}

void gfs_isr_set_ack_until(struct gfs_isr *isr, int64_t until_ms)
{
	pthread_mutex_lock(&isr->lock);
	isr->ack_until_ms = until_ms;
	pthread_cond_broadcast(&isr->cond);
	pthread_mutex_unlock(&isr->lock);
	changed(isr);
}

/* Has every member polled lately (none silent)?  Lock held. */
static bool none_silent(const struct gfs_isr *isr, int64_t now)
{
	size_t i;

	for (i = 0; i < isr->n; i++)
		if (isr->peers[i].member && silent(isr, &isr->peers[i], now))
			return false;
	return true;
}

/* May a follower that acknowledgements no longer wait for (dropped,
 * detached) still answer reads?  Then acknowledging a mutation would
 * let it answer one that misses it.  Lock held. */
static bool reader_left(const struct gfs_isr *isr, int64_t now)
{
	size_t i;

	for (i = 0; i < isr->n; i++)
		if (!isr->peers[i].member && may_read(isr, &isr->peers[i], now))
			return true;
	return false;
}

/* Does every member hold record seq?  Lock held.  O(members). */
static bool all_have(const struct gfs_isr *isr, uint64_t seq)
{
	size_t i;

	for (i = 0; i < isr->n; i++)
		if (isr->peers[i].member && isr->peers[i].acked <= seq)
			return false;
	return true;
}

/* May seq be acknowledged now?  True when that is decided: *err is
 * GFS_OK (and acked_hw moves past seq) or GFS_ENOTPRIMARY (fenced).
 * Lock held. */
static bool decide(struct gfs_isr *isr, uint64_t seq, bool mutation,
		   int64_t now, enum gfs_err *err)
{
	*err = GFS_ENOTPRIMARY;
	if (isr->fenced)
		return true;
	/* a mutation only while no member is silent: a member that stopped
	 * polling may be taking over (pair mode: it waits the failover
	 * timeout, longer than silence takes here); and no follower that
	 * left the set may still answer reads */
	if ((!mutation || (now < isr->ack_until_ms && none_silent(isr, now) &&
			   !reader_left(isr, now))) &&
	    all_have(isr, seq)) {
		isr->acked_hw = GFS_MAX(isr->acked_hw, seq + 1);
		*err = GFS_OK;
		return true;
	}
	return false;
}

enum gfs_err gfs_isr_wait(struct gfs_isr *isr, uint64_t seq, bool mutation,
			  int64_t deadline_ms, int64_t *decided_ns)
{
	enum gfs_err err;
	struct timespec ts;
	int64_t now, now_ns;

	pthread_mutex_lock(&isr->lock);
	for (;;) {
		now_ns = gfs_mono_ns();
		now = now_ns / 1000000;
		if (decide(isr, seq, mutation, now, &err)) {
			if (!err && decided_ns)
				*decided_ns = now_ns;
			break;
		}
		if (now >= deadline_ms) {
			err = GFS_EUNAVAIL;
			break;
		}
		ts = gfs_deadline_ts(CLOCK_MONOTONIC,
				     GFS_MIN(deadline_ms - now, 100));
		pthread_cond_timedwait(&isr->cond, &isr->lock, &ts);
	}
	pthread_mutex_unlock(&isr->lock);
	return err;
}

bool gfs_isr_try(struct gfs_isr *isr, uint64_t seq, int64_t deadline_ms,
		 enum gfs_err *err, int64_t *decided_ns)
{
	int64_t now_ns, now;
	bool done;

	pthread_mutex_lock(&isr->lock);
	now_ns = gfs_mono_ns();
	now = now_ns / 1000000;
	done = decide(isr, seq, true, now, err);
	if (done && !*err)
		*decided_ns = now_ns;
	if (!done && now >= deadline_ms) {
		*err = GFS_EUNAVAIL;
		done = true;
	}
	pthread_mutex_unlock(&isr->lock);
	return done;
}

bool gfs_isr_writable(struct gfs_isr *isr)
{
	int64_t now = gfs_mono_ms();
	bool ok;

	pthread_mutex_lock(&isr->lock);
	ok = !isr->fenced && now < isr->ack_until_ms && none_silent(isr, now);
	pthread_mutex_unlock(&isr->lock);
	return ok;
}

/* Does a poll of p for `from` say it holds every record acknowledged,
 * with none acknowledged without it from now on?  Lock held. */
static bool holds_all(const struct gfs_isr *isr, const struct gfs_isr_peer *p,
		      uint64_t from)
{
	return !isr->fenced && p->member && from >= isr->acked_hw;
}

/* A poll begins: it is url's word for what it holds now (`from`), so
 * what an earlier poll said (of an earlier process at that URL, say,
 * whose data directory was since replaced) no longer counts.  It makes
 * url attached only when it ends: the follower learns it from the reply,
 * and it may not take over before it knows (a status that said attached
 * earlier would promise a failover the follower cannot make).  *until:
 * how long it lets us count on url (gfs_isr_life_until(); INT64_MAX
 * outside pair mode), 0 when it is no sign of life.  Its ticket for
 * poll_end(). */
static uint64_t poll_begin(struct gfs_isr *isr, const struct gfs_isr_poll *q,
			   bool caught_up, int64_t *until)
{
	struct gfs_isr_peer *p;
	uint64_t ticket = 0;
	int64_t now = gfs_mono_ms();

	pthread_mutex_lock(&isr->lock);
	p = find_or_add(isr, q->url);
	*until = isr->echo_life ? gfs_isr_life_until(isr->stamp_id, &q->echo,
						     now)
				: INT64_MAX;
	if (p) {
		p->acked = q->from;
		p->attached = p->attached && holds_all(isr, p, q->from);
		/* at the log's end, or past every acknowledged record: under a
		 * steady stream of writes the end moves while it fetches */
		p->caught_up = caught_up || (!isr->fenced &&
					      q->from >= isr->acked_hw);
		p->polls++;
		if (*until) {
			p->last_poll_ms = now;
			p->life_until = GFS_MAX(p->life_until, *until);
		}
		ticket = ++p->asked;
		pthread_cond_broadcast(&isr->cond);
	}
	pthread_mutex_unlock(&isr->lock);
	return ticket;
}

/* url's poll was refused (410): its log is not a prefix of ours, or
 * ends before our oldest record, so it re-syncs, wiping what it holds.
 * It holds nothing we can count on, whatever it said before.  Not a sign
 * of life either: it is not following yet.  Lock held. */
static void refuse(struct gfs_isr_peer *p)
{
	p->acked = 0;
	p->attached = false;
	p->caught_up = false;
	p->asked++;
}

static void poll_refused(struct gfs_isr *isr, const char *url)
{
	struct gfs_isr_peer *p;

	pthread_mutex_lock(&isr->lock);
	p = find(isr, url);
	if (p)
		refuse(p);
	pthread_mutex_unlock(&isr->lock);
}

/* The poll of ticket ended with err (until: as poll_begin() said); is
 * its follower attached?  Only on a poll that was a sign of life.  Its
 * end is one too while the life it gave lasts (it took long when we
 * were stopped meanwhile; pair mode: its follower may have given it up
 * and taken over since). */
static bool poll_end(struct gfs_isr *isr, struct gfs_isr_poll *q,
		     uint64_t ticket, int64_t until, enum gfs_err err)
{
	struct gfs_isr_peer *p;
	bool attached = false;
	int64_t now = gfs_mono_ms();

	pthread_mutex_lock(&isr->lock);
	p = find(isr, q->url);
	if (p) {
		p->polls -= p->polls > 0;
		if (now < until)
			p->last_poll_ms = now;
		attached = !err && until && holds_all(isr, p, q->from);
		if (attached) { /* it may answer reads from now on */
			p->told_ms = now;
			q->read_ms = read_window(isr, now);
		}
		if (err == GFS_ENOENT)
			refuse(p);
		else if (ticket == p->asked) /* no later poll spoke since */
			p->attached = attached;
	}
	pthread_mutex_unlock(&isr->lock);
	return attached;
}

/* How long a poll may wait for a record.  Pair mode: one that echoes no
 * stamp of ours (the first to us) is answered at once, so that the next
 * poll, echoing our stamp, proves its follower alive; a live one before
 * half of the life it gives has passed, so that the next renews it in
 * time even with a short failover window. */
static int64_t pace_life(const struct gfs_isr *isr,
			 const struct gfs_isr_poll *q, int64_t until)
{
	if (!isr->echo_life || !q->url || until == INT64_MAX)
		return q->wait_ms;
	if (q->echo.id != isr->stamp_id)
		return 0;
	if (!until) /* ours but old: its reply brings a new one */
		return q->wait_ms;
	return GFS_MIN(q->wait_ms, (until - gfs_mono_ms()) / 2);
}

/* pace_life(), and a follower's poll at most a third of the read window
 * its answer may give: the window counts from the poll's sending, so
 * the answer to the next poll must come before the one before runs out,
 * or an idle follower refuses reads part of the time (parked 1 s, with
 * the default 1.5 s window: 60 % of reads refused). */
static int64_t pace(struct gfs_isr *isr, const struct gfs_isr_poll *q,
		    int64_t until)
{
	int64_t wait = pace_life(isr, q, until), window;

	if (!q->url)
		return wait;
	pthread_mutex_lock(&isr->lock);
	window = read_window(isr, gfs_mono_ms());
	pthread_mutex_unlock(&isr->lock);
	/* a window too short to renew gives no reads: no hurry */
	return window / 3 >= 100 ? GFS_MIN(wait, window / 3) : wait;
}

/* The reply's stamp, read after the records: never later than the
 * reply's arrival. */
static void stamp(const struct gfs_isr *isr, struct gfs_isr_poll *q)
{
	snprintf(q->stamp, sizeof(q->stamp), "%016" PRIx64 "-%" PRId64,
		 isr->stamp_id, gfs_mono_ms());
}

enum gfs_err gfs_isr_serve(struct gfs_isr *isr, struct gfs_oplog *log,
			   struct gfs_isr_poll *q, size_t max,
			   struct gfs_enc *out)
{
	enum gfs_err err;
	uint64_t ticket;
	int64_t until;
	bool caught_up;

	q->attached = false;
	q->read_ms = 0;
	q->next = q->from;
	q->stamp[0] = '\0';
	err = gfs_oplog_check_from(log, q->from, q->prev_crc, &caught_up);
	if (err == GFS_ENOENT && q->url)
		poll_refused(isr, q->url);
	if (err)
		return err;
	if (!q->url) {
		err = gfs_oplog_serve(log, q->from, q->prev_crc, q->wait_ms,
				      max, out, &q->next);
	} else {
		ticket = poll_begin(isr, q, caught_up, &until);
		changed(isr); /* an acknowledgement (a stream's: ours) */
		err = gfs_oplog_serve(log, q->from, q->prev_crc,
				      GFS_MAX(pace(isr, q, until), 0), max,
				      out, &q->next);
		q->attached = poll_end(isr, q, ticket, until, err);
	}
	stamp(isr, q);
	return err;
}

enum gfs_err gfs_isr_ack(struct gfs_isr *isr, struct gfs_oplog *log,
			 struct gfs_isr_poll *q, int64_t *next_ms)
{
	enum gfs_err err;
	uint64_t ticket;
	int64_t until;
	bool caught_up, fenced;

	q->attached = false;
	q->read_ms = 0;
	q->next = q->from;
	q->stamp[0] = '\0';
	*next_ms = 0;
	pthread_mutex_lock(&isr->lock);
	fenced = isr->fenced;
	pthread_mutex_unlock(&isr->lock);
	if (fenced) /* a poll would wait in vain; a stream ends */
		return GFS_ENOTPRIMARY;
	err = gfs_oplog_check_from(log, q->from, q->prev_crc, &caught_up);
	if (err == GFS_ENOENT)
		poll_refused(isr, q->url);
	if (err)
		return err;
	ticket = poll_begin(isr, q, caught_up, &until);
	*next_ms = GFS_MAX(pace(isr, q, until), 0);
	q->attached = poll_end(isr, q, ticket, until, GFS_OK);
	stamp(isr, q);
	return GFS_OK;
}

void gfs_isr_set_member(struct gfs_isr *isr, const char *url, bool member)
{
	struct gfs_isr_peer *p;

	pthread_mutex_lock(&isr->lock);
	p = member ? find_or_add(isr, url) : find(isr, url);
	if (p && p->member != member) {
		/* last_poll_ms stays: a silent follower must not look alive */
		p->member = member;
		p->attached = false;
		gfs_info("follower %s %s the in-sync set", url,
			 member ? "joins" : "leaves");
		pthread_cond_broadcast(&isr->cond);
	}
	pthread_mutex_unlock(&isr->lock);
	changed(isr);
}

size_t gfs_isr_view(struct gfs_isr *isr, struct gfs_isr_view *out,
		    size_t max)
{
	int64_t now = gfs_mono_ms();
	size_t i, n;

	pthread_mutex_lock(&isr->lock);
	n = GFS_MIN(isr->n, max);
	for (i = 0; i < n; i++) {
		const struct gfs_isr_peer *p = &isr->peers[i];

		snprintf(out[i].url, sizeof(out[i].url), "%s", p->url);
		out[i].acked = p->acked;
		out[i].member = p->member;
		out[i].attached = p->attached;
		out[i].caught_up = p->caught_up;
		out[i].silent = silent(isr, p, now);
		out[i].idle_ms = p->polls ? 0 : now - p->last_poll_ms;
	}
	pthread_mutex_unlock(&isr->lock);
	return n;
}

json_t *gfs_isr_json(struct gfs_isr *isr, uint64_t next_seq)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	size_t i, n = gfs_isr_view(isr, v, GFS_ISR_PEERS);
	json_t *a = json_array();

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack(
			"{s:s, s:b, s:b, s:b, s:I, s:I, s:I}", "url", v[i].url,
			"member", v[i].member, "attached", v[i].attached,
			"silent", v[i].silent, "acked", (json_int_t)v[i].acked,
			"lag", (json_int_t)(next_seq > v[i].acked
						    ? next_seq - v[i].acked : 0),
			"idle_ms", (json_int_t)v[i].idle_ms));
	return a;
}

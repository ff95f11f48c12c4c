/*
 * isr.c - the in-sync set on the leader; see isr.h.
 *
 * A small table of followers (GFS_ISR_PEERS), scanned linearly: a wait
 * checks every member, O(members), which is two or three.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "isr.h"
#include "log.h"
#include "oplog.h"
#include "util.h"

/* How much longer than detach_ms a poll parked in the server may keep a
 * follower from counting as silent. */
#define PARKED_GRACE_MS 2000
/* The master's tick (every 200 ms) not run for this long: this master
 * was stopped (SIGSTOP, a frozen VM) or starved... */
#define STALL_MS 1000
/* ...and for this long after the tick saw it run again, a poll may be
 * one that waited in a socket meanwhile. */
#define RESUMED_MS 500

void gfs_isr_init(struct gfs_isr *isr, int64_t detach_ms)
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
}

static void forget_all(struct gfs_isr *isr)
{
	size_t i;

	for (i = 0; i < isr->n; i++)
		free(isr->peers[i].url);
	isr->n = 0;
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

/* A slot for a new peer: a free one, else the longest idle non-member
 * with no poll in progress; NULL when every slot is busy.  Lock held. */
static struct gfs_isr_peer *slot(struct gfs_isr *isr)
{
	struct gfs_isr_peer *best = NULL, *p;
	size_t i;

	if (isr->n < GFS_ISR_PEERS)
		return &isr->peers[isr->n++];
	for (i = 0; i < isr->n; i++) {
		p = &isr->peers[i];
		if (!p->member && !p->polls &&
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

	return now - p->last_poll_ms > limit;
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
}

void gfs_isr_set_ack_until(struct gfs_isr *isr, int64_t until_ms)
{
	pthread_mutex_lock(&isr->lock);
	isr->ack_until_ms = until_ms;
	pthread_cond_broadcast(&isr->cond);
	pthread_mutex_unlock(&isr->lock);
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

/* Does every member hold record seq?  Lock held.  O(members). */
static bool all_have(const struct gfs_isr *isr, uint64_t seq)
{
	size_t i;

	for (i = 0; i < isr->n; i++)
		if (isr->peers[i].member && isr->peers[i].acked <= seq)
			return false;
	return true;
}

enum gfs_err gfs_isr_wait(struct gfs_isr *isr, uint64_t seq, bool mutation,
			  int64_t deadline_ms, int64_t *decided_ns)
{
	enum gfs_err err = GFS_OK;
	struct timespec ts;
	int64_t now, now_ns;

	pthread_mutex_lock(&isr->lock);
	for (;;) {
		now_ns = gfs_mono_ns();
		now = now_ns / 1000000;
		if (isr->fenced) {
			err = GFS_ENOTPRIMARY;
			break;
		}
		/* a mutation only while no member is silent: a member that
		 * stopped polling may be taking over (pair mode: it waits
		 * the failover timeout, longer than silence takes here) */
		if ((!mutation || (now < isr->ack_until_ms &&
				   none_silent(isr, now))) &&
		    all_have(isr, seq)) {
			isr->acked_hw = GFS_MAX(isr->acked_hw, seq + 1);
			if (decided_ns)
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

void gfs_isr_note_run(struct gfs_isr *isr, int64_t now)
{
	pthread_mutex_lock(&isr->lock);
	if (isr->ran_ms && now - isr->ran_ms > STALL_MS)
		isr->resumed_ms = now;
	isr->ran_ms = now;
	pthread_mutex_unlock(&isr->lock);
}

/* May a poll that begins now have been sent long ago: did this master
 * just not run (its tick late, or seen late a moment ago)?  A poll that
 * waited in a socket while we were stopped may have been given up by
 * its follower, which may have taken over since: no sign of life.
 * Lock held. */
static bool maybe_stale(const struct gfs_isr *isr, int64_t now)
{
	return (isr->ran_ms && now - isr->ran_ms > STALL_MS) ||
	       (isr->resumed_ms && now - isr->resumed_ms < RESUMED_MS);
}

/* A poll for `from` begins: it is url's word for what it holds now, so
 * what an earlier poll said (of an earlier process at that URL, say,
 * whose data directory was since replaced) no longer counts.  It makes
 * url attached only when it ends: the follower learns it from the reply,
 * and it may not take over before it knows (a status that said attached
 * earlier would promise a failover the follower cannot make).  It is a
 * sign of life unless it may be stale (*live false).  Its ticket for
 * poll_end(). */
static uint64_t poll_begin(struct gfs_isr *isr, const char *url,
			   uint64_t from, bool caught_up, bool *live)
{
	struct gfs_isr_peer *p;
	uint64_t ticket = 0;
	int64_t now = gfs_mono_ms();

	pthread_mutex_lock(&isr->lock);
	p = find_or_add(isr, url);
	*live = !maybe_stale(isr, now);
	if (p) {
		p->acked = from;
		p->attached = p->attached && holds_all(isr, p, from);
		/* at the log's end, or past every acknowledged record: under a
		 * steady stream of writes the end moves while it fetches */
		p->caught_up = caught_up || (!isr->fenced &&
					      from >= isr->acked_hw);
		p->polls++;
		if (*live)
			p->last_poll_ms = now;
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

/* The poll of ticket, for from, ended with err (live: it began as a
 * sign of life); is url attached? */
static bool poll_end(struct gfs_isr *isr, const char *url, uint64_t from,
		     uint64_t ticket, bool live, enum gfs_err err)
{
	struct gfs_isr_peer *p;
	bool attached = false;

	pthread_mutex_lock(&isr->lock);
	p = find(isr, url);
	if (p) {
		p->polls -= p->polls > 0;
		/* a poll that took long (we were stopped meanwhile) may have
		 * been given up by its follower: no sign of life then */
		if (live && gfs_mono_ms() - p->last_poll_ms <=
			    isr->detach_ms + PARKED_GRACE_MS)
			p->last_poll_ms = gfs_mono_ms();
		attached = !err && holds_all(isr, p, from);
		if (err == GFS_ENOENT)
			refuse(p);
		else if (ticket == p->asked) /* no later poll spoke since */
			p->attached = attached;
	}
	pthread_mutex_unlock(&isr->lock);
	return attached;
}

enum gfs_err gfs_isr_serve(struct gfs_isr *isr, struct gfs_oplog *log,
			   const char *url, uint64_t from,
			   const uint32_t *prev_crc, int64_t wait_ms,
			   size_t max, struct gfs_enc *out, uint64_t *next,
			   bool *attached)
{
	enum gfs_err err;
	uint64_t ticket;
	bool caught_up, live;

	*attached = false;
	*next = from;
	err = gfs_oplog_check_from(log, from, prev_crc, &caught_up);
	if (err == GFS_ENOENT && url)
		poll_refused(isr, url);
	if (err)
		return err;
	if (!url)
		return gfs_oplog_serve(log, from, prev_crc, wait_ms, max, out,
				       next);
	ticket = poll_begin(isr, url, from, caught_up, &live);
	err = gfs_oplog_serve(log, from, prev_crc, wait_ms, max, out, next);
	*attached = poll_end(isr, url, from, ticket, live, err);
	return err;
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

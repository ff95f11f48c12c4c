/*
 * pack.c - small chunks in pre-zeroed append-only segments (see pack.h).
 *
 * Group commit, per segment: an appender takes [off, end) under the lock
 * and queues a node for it (the queue is in offset order, as offsets are
 * given out in order), writes its record without the lock, then marks
 * its node done; the done prefix of the queue moves `written`, the end
 * of the contiguous records whose pwrite finished.  A waiter whose end is
 * at or below `written` while no fdatasync runs starts one, covering
 * `written` as it was when it began; when it returns, `durable` moves
 * there and every waiter at or below it is acknowledged.  So a record is
 * acknowledged only when everything before it in its segment is durable,
 * and one fdatasync serves every record written before it began.  A
 * failed write or sync breaks the segment: its waiters fail (their
 * callers write files), no more appends go there.
 *
 * Invariants:
 * - Every segment in segs[] (seq ascending) and the spare is a file of
 *   seg_size bytes, zeros past its records, durable with its name before
 *   it was first used.
 * - Only head is appended to; segments found at open are never head.
 * - seg->live counts its records that are neither killed nor failed
 *   (appends under way included); a segment is removed (unlinked, its fd
 *   closed) only when live is 0, it is not the head, no thread uses its
 *   fd outside the lock (users) and no replay is running.
 *
 * Locking: p->lock guards segs, head, spare, each segment's counters and
 * queue, and stop; disk I/O runs without it (a segment's fd stays open
 * while users > 0).  p->cond wakes appenders (a write done, a sync
 * done), p->wake the thread.  Lock order: chunkstore's lock, then this
 * one; callbacks are made without it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "constants.h"
#include "crc32c.h"
#include "log.h"
#include "pack.h"
#include "path.h"
#include "util.h"

#define MAGIC 0x50534647u      /* "GFSP" */
#define STATE_LIVE 0x4556494cu /* "LIVE" */
#define STATE_DEAD 0x44414544u /* "DEAD" */
/* An appender gives up (and writes a file) after this long. */
#define APPEND_WAIT_MS 30000
/* The thread looks for work at least this often. */
#define TICK_MS 1000
/* A segment with fewer live data bytes than seg_size / MOSTLY_DEAD is
 * reclaimed even under the cap. */
#define MOSTLY_DEAD 4

/* One append in flight, in its segment's queue. */
struct pend {
	uint64_t end;
	bool done, failed;
	struct pend *next;
};

struct seg {
	uint64_t seq;
	int fd;               /* owned, O_RDWR */
	uint64_t alloc;       /* the next record goes here */
	uint64_t written;     /* contiguous end of finished pwrites */
	uint64_t durable;     /* end covered by a finished fdatasync */
	bool syncing;         /* an fdatasync runs */
	bool broken;          /* a write or sync failed: no appends */
	struct pend *qhead, *qtail; /* appends in flight, owned */
	uint64_t live;        /* records neither killed nor failed */
	uint64_t live_bytes;  /* their data bytes */
	unsigned users;       /* threads using fd without the lock */
};

struct gfs_pack {
	int dirfd;                  /* packs/, owned */
	char *label;                /* owned */
	uint64_t seg_size, max_bytes;
	bool syncs;
	bool (*room)(void *cls, uint64_t bytes);
	void (*reclaim)(void *cls, uint64_t seq);
	void *cls;
	void (*write_hook)(void *cls, const struct gfs_pack_loc *loc);
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* appenders */
	pthread_cond_t wake;        /* the thread */
	/* protected by lock: */
	struct seg **segs;          /* seq ascending, owned */
	size_t nsegs, cap;
	struct seg *head;           /* in segs, or NULL */
	struct seg *spare;          /* not in segs, or NULL; owned */
	uint64_t next_seq;
	bool replaying;
	bool stop;
	uint64_t disk_bytes;        /* segment files' bytes, spare too */
	uint64_t live_bytes;        /* data bytes of live records */
	uint64_t live;
};

static uint32_t rd32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static uint64_t rd64(const uint8_t *b)
{
	return (uint64_t)rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

static void wr32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *b, uint64_t v)
{
	wr32(b, (uint32_t)v);
	wr32(b + 4, (uint32_t)(v >> 32));
}

static uint32_t header_crc(const uint8_t *hdr)
{
	return gfs_crc32c(gfs_crc32c(0, hdr, 4), hdr + 8, 36);
}

void gfs_pack_encode_header(uint8_t hdr[GFS_PACK_HEADER],
			    const struct gfs_pack_rec *r, bool live)
{
	wr32(hdr, MAGIC);
	wr32(hdr + 4, live ? STATE_LIVE : STATE_DEAD);
	wr64(hdr + 8, r->loc.seq);
	wr64(hdr + 16, r->handle);
	wr64(hdr + 24, r->version);
	wr32(hdr + 32, r->length);
	wr32(hdr + 36, r->crc);
	wr32(hdr + 40, 0);
	wr32(hdr + 44, header_crc(hdr));
}

bool gfs_pack_decode_header(const uint8_t hdr[GFS_PACK_HEADER], uint64_t seq,
			    struct gfs_pack_rec *r, bool *live)
{
	uint32_t state = rd32(hdr + 4);

	if (rd32(hdr) != MAGIC || rd32(hdr + 44) != header_crc(hdr) ||
	    rd64(hdr + 8) != seq || rd32(hdr + 32) > GFS_BLOCK_SIZE ||
	    !rd64(hdr + 24))
		return false;
	r->loc.seq = seq;
	r->handle = rd64(hdr + 16);
	r->version = rd64(hdr + 24);
	r->length = rd32(hdr + 32);
	r->crc = rd32(hdr + 36);
	/* a state torn while being killed is a kill */
	*live = state == STATE_LIVE;
	return true;
}

/* Bytes a record of len data bytes takes. */
static uint64_t rec_size(uint64_t len)
{
	uint64_t n = GFS_PACK_HEADER + len;

	return (n + GFS_PACK_ALIGN - 1) / GFS_PACK_ALIGN * GFS_PACK_ALIGN;
}

/* --- segments ---------------------------------------------------------- */

static void seg_name(uint64_t seq, char name[17])
{
	gfs_handle_fmt(seq, name);
}

static struct seg *seg_new(uint64_t seq, int fd)
{
	struct seg *s = gfs_xcalloc(1, sizeof(*s));

	s->seq = seq;
	s->fd = fd;
	return s;
}

/* Segment seq in segs (lock held), or NULL. */
static struct seg *seg_find(struct gfs_pack *p, uint64_t seq)
{
	size_t lo = 0, hi = p->nsegs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->segs[mid]->seq == seq)
			return p->segs[mid];
		if (p->segs[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Add s, whose seq is above every other (lock held). */
static void seg_push(struct gfs_pack *p, struct seg *s)
{
	if (p->nsegs == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->segs = gfs_xrealloc(p->segs, p->cap * sizeof(*p->segs));
	}
	p->segs[p->nsegs++] = s;
}

/* Take s out of segs when it may go (invariants; lock held): true when
 * the caller must then seg_destroy() it without the lock. */
static bool seg_release(struct gfs_pack *p, struct seg *s)
{
	size_t i;

	if (s->live || s == p->head || s->users || p->replaying)
		return false;
	for (i = 0; i < p->nsegs && p->segs[i] != s; i++)
		;
	if (i == p->nsegs)
		return false;
	memmove(p->segs + i, p->segs + i + 1,
		(p->nsegs - i - 1) * sizeof(*p->segs));
	p->nsegs--;
	p->disk_bytes -= p->seg_size;
	return true;
}

/* Unlink and free a segment taken out of segs (or never put there). */
static void seg_destroy(struct gfs_pack *p, struct seg *s)
{
	char name[17];
	struct pend *n;

	seg_name(s->seq, name);
	if (unlinkat(p->dirfd, name, 0) < 0 && errno != ENOENT)
		gfs_warn("%s: cannot remove packs/%s: %s", p->label, name,
			 strerror(errno));
	close(s->fd);
	while ((n = s->qhead)) {
		s->qhead = n->next;
		free(n);
	}
	free(s);
}

/* Make segment seq: a file of seg_size written zeros, durable with its
 * name.  NULL (logged) when there is no room or the disk fails. */
static struct seg *seg_make(struct gfs_pack *p, uint64_t seq)
{
	char name[17];
	int fd, e;

	if (p->room && !p->room(p->cls, p->seg_size))
		return NULL;
	seg_name(seq, name);
	fd = openat(p->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
		    0644);
	if (fd < 0)
		goto fail;
	if (gfs_pwrite_zeros(fd, 0, p->seg_size) < 0 || fsync(fd) < 0 ||
	    fsync(p->dirfd) < 0) {
		e = errno;
		close(fd);
		unlinkat(p->dirfd, name, 0);
		errno = e;
		goto fail;
	}
	return seg_new(seq, fd);
fail:
	gfs_warn("%s: cannot make packs/%s: %s (small chunks go to files)",
		 p->label, name, strerror(errno));
	return NULL;
}

/* Make the spare the head (lock held).  *old gets the previous head when
 * it may go (seg_release), for seg_destroy without the lock.  False when
 * no spare is ready. */
static bool switch_head(struct gfs_pack *p, struct seg **old)
{
	struct seg *prev = p->head;

	*old = NULL;
	if (!p->spare)
		return false;
	p->head = p->spare;
	p->spare = NULL;
	seg_push(p, p->head);
	if (prev && seg_release(p, prev))
		*old = prev;
	pthread_cond_signal(&p->wake);
	return true;
}

/* --- append and group commit ------------------------------------------- */

/* Move s->written over the done prefix of the queue (lock held). */
static void advance(struct seg *s)
{
	struct pend *n;

	while ((n = s->qhead) && n->done) {
		if (n->failed)
			s->broken = true;
		if (!s->broken)
			s->written = n->end;
		s->qhead = n->next;
		if (!s->qhead)
			s->qtail = NULL;
		free(n);
	}
}

/* Wait until [.., end) of s is durable, syncing when it is this
 * thread's turn (see the top).  Lock held. */
static enum gfs_err wait_durable(struct gfs_pack *p, struct seg *s,
				 uint64_t end)
{
	struct timespec ts = gfs_deadline_ts(CLOCK_REALTIME, APPEND_WAIT_MS);
	uint64_t target;
	int r;

	for (;;) {
		if (s->durable >= end)
			return GFS_OK;
		if (s->broken) {
			errno = EIO;
			return GFS_EIO;
		}
		if (!s->syncing && s->written >= end) {
			s->syncing = true;
			target = s->written;
			pthread_mutex_unlock(&p->lock);
			r = fdatasync(s->fd);
			pthread_mutex_lock(&p->lock);
			s->syncing = false;
			if (r < 0)
				s->broken = true;
			else if (target > s->durable)
				s->durable = target;
			pthread_cond_broadcast(&p->cond);
			continue;
		}
		if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) ==
		    ETIMEDOUT) {
			errno = ETIMEDOUT;
			return GFS_EIO;
		}
	}
}

/* The head, with rec bytes allocated in it (lock held); NULL when no head
 * has room.  *old as switch_head's. */
static struct seg *allocate(struct gfs_pack *p, uint64_t rec, uint64_t *off,
			    struct seg **old)
{
	struct seg *s = p->head;

	*old = NULL;
	if (p->stop)
		return NULL;
	if (!s || s->broken || s->alloc + rec > p->seg_size) {
		if (!switch_head(p, old))
			return NULL;
		s = p->head;
	}
	*off = s->alloc;
	s->alloc += rec;
	s->users++;
	s->live++;
	return s;
}

/* Queue an append of [off, end) in s (lock held). */
static struct pend *enqueue(struct seg *s, uint64_t end)
{
	struct pend *n = gfs_xcalloc(1, sizeof(*n));

	n->end = end;
	if (s->qtail)
		s->qtail->next = n;
	else
		s->qhead = n;
	s->qtail = n;
	return n;
}

/* Write the record (header, data, zero padding) at off. */
static bool write_record(int fd, const uint8_t *hdr, const void *data,
			 uint32_t len, uint64_t off)
{
	static const uint8_t zeros[GFS_PACK_ALIGN];
	uint64_t rec = rec_size(len);
	struct iovec iov[3] = {
		{ (void *)hdr, GFS_PACK_HEADER },
		{ (void *)data, len },
		{ (void *)zeros, rec - GFS_PACK_HEADER - len },
	};
	ssize_t n;

	do
		n = pwritev(fd, iov, 3, (off_t)off);
	while (n < 0 && errno == EINTR);
	if (n >= 0 && (uint64_t)n != rec)
		errno = EIO;  /* a regular file written short: no space */
	return n >= 0 && (uint64_t)n == rec;
}

enum gfs_err gfs_pack_append(struct gfs_pack *p, uint64_t handle,
			     uint64_t version, const void *data, uint32_t len,
			     uint32_t crc, struct gfs_pack_loc *loc)
{
	struct gfs_pack_rec r = { .handle = handle, .version = version,
				  .length = len, .crc = crc };
	uint8_t hdr[GFS_PACK_HEADER];
	uint64_t rec = rec_size(len), off = 0;
	struct seg *s, *old;
	struct pend *n;
	enum gfs_err err = GFS_OK;
	bool ok;

	if (!gfs_pack_fits(p, len))
		return GFS_EUNAVAIL;
	pthread_mutex_lock(&p->lock);
	s = allocate(p, rec, &off, &old);
	if (!s) {
		pthread_mutex_unlock(&p->lock);
		return GFS_EUNAVAIL;
	}
	s->live_bytes += len;
	p->live++;
	p->live_bytes += len;
	n = enqueue(s, off + rec);
	pthread_mutex_unlock(&p->lock);
	if (old)
		seg_destroy(p, old);
	r.loc.seq = s->seq;
	r.loc.off = off;
	gfs_pack_encode_header(hdr, &r, true);
	ok = write_record(s->fd, hdr, data, len, off);
	if (p->write_hook)
		p->write_hook(p->cls, &r.loc);
	pthread_mutex_lock(&p->lock);
	n->done = true;
	n->failed = !ok;
	advance(s);
	pthread_cond_broadcast(&p->cond);
	if (!ok)
		err = GFS_EIO;
	else if (p->syncs)
		err = wait_durable(p, s, off + rec);
	s->users--;
	pthread_mutex_unlock(&p->lock);
	if (err) {
		int e = errno;

		gfs_warn("%s: packing chunk %016llx into packs/%016llx: %s "
			 "(written to a file instead)", p->label,
			 (unsigned long long)handle,
			 (unsigned long long)s->seq, strerror(e));
		gfs_pack_kill(p, &r.loc, len);
		errno = e;
		return err;
	}
	*loc = r.loc;
	return GFS_OK;
}

void gfs_pack_kill(struct gfs_pack *p, const struct gfs_pack_loc *loc,
		   uint32_t len)
{
	uint8_t dead[4];
	struct seg *s;
	bool drop;

	wr32(dead, STATE_DEAD);
	pthread_mutex_lock(&p->lock);
	s = seg_find(p, loc->seq);
	if (!s || !s->live) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	s->live--;
	s->live_bytes -= GFS_MIN((uint64_t)len, s->live_bytes);
	p->live--;
	p->live_bytes -= GFS_MIN((uint64_t)len, p->live_bytes);
	s->users++;
	pthread_mutex_unlock(&p->lock);
	if (gfs_pwrite_all(s->fd, dead, sizeof(dead), (off_t)loc->off + 4) < 0)
		gfs_warn("%s: cannot mark a record of packs/%016llx dead: %s",
			 p->label, (unsigned long long)loc->seq,
			 strerror(errno));
	pthread_mutex_lock(&p->lock);
	s->users--;
	drop = seg_release(p, s);
	pthread_mutex_unlock(&p->lock);
	if (drop)
		seg_destroy(p, s);
}

int gfs_pack_fd(struct gfs_pack *p, uint64_t seq)
{
	struct seg *s;
	int fd = -1;

	pthread_mutex_lock(&p->lock);
	s = seg_find(p, seq);
	if (s)
		fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
	else
		errno = ENOENT;
	pthread_mutex_unlock(&p->lock);
	return fd;
}

bool gfs_pack_fits(const struct gfs_pack *p, uint64_t len)
{
	return p && len <= GFS_BLOCK_SIZE && rec_size(len) <= p->seg_size;
}

void gfs_pack_stats(struct gfs_pack *p, struct gfs_pack_stats *out)
{
	pthread_mutex_lock(&p->lock);
	out->segments = p->nsegs + (p->spare ? 1 : 0);
	out->disk_bytes = p->disk_bytes;
	out->live = p->live;
	out->live_bytes = p->live_bytes;
	pthread_mutex_unlock(&p->lock);
}

uint64_t gfs_pack_overhead(struct gfs_pack *p)
{
	uint64_t o;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	o = p->disk_bytes > p->live_bytes ? p->disk_bytes - p->live_bytes : 0;
	pthread_mutex_unlock(&p->lock);
	return o;
}

/* --- replay -------------------------------------------------------------- */

static bool all_zero(const uint8_t *b, size_t n)
{
	return !n || (!b[0] && !memcmp(b, b + 1, n - 1));
}

/* Read the next record of s at off into r and data; false at the end of
 * what replay believes (zeros, a torn or foreign record). */
static bool read_record(struct gfs_pack *p, struct seg *s, uint64_t off,
			struct gfs_pack_rec *r, bool *live, uint8_t *data)
{
	uint8_t hdr[GFS_PACK_HEADER];
	ssize_t n;

	if (off + GFS_PACK_HEADER > p->seg_size)
		return false;
	n = gfs_pread_all(s->fd, hdr, sizeof(hdr), (off_t)off);
	if (n != (ssize_t)sizeof(hdr) || all_zero(hdr, sizeof(hdr)))
		return false;
	if (!gfs_pack_decode_header(hdr, s->seq, r, live) ||
	    off + rec_size(r->length) > p->seg_size)
		goto torn;
	r->loc.off = off;
	if (!*live)
		return true;  /* its data may be what killed it: unread */
	n = gfs_pread_all(s->fd, data, r->length, (off_t)off + GFS_PACK_HEADER);
	if (n != (ssize_t)r->length || gfs_crc32c(0, data, r->length) != r->crc)
		goto torn;
	return true;
torn:
	gfs_warn("%s: packs/%016llx ends at a torn record at %llu (the tail "
		 "of a write that was never acknowledged)", p->label,
		 (unsigned long long)s->seq, (unsigned long long)off);
	return false;
}

static void replay_seg(struct gfs_pack *p, struct seg *s,
		       gfs_pack_replay_fn fn, void *cls, uint8_t *data)
{
	struct gfs_pack_rec r;
	uint64_t off = 0;
	bool live;

	while (read_record(p, s, off, &r, &live, data)) {
		off += rec_size(r.length);
		if (!live)
			continue;
		pthread_mutex_lock(&p->lock);
		s->live++;
		s->live_bytes += r.length;
		p->live++;
		p->live_bytes += r.length;
		pthread_mutex_unlock(&p->lock);
		if (!fn(cls, &r))
			gfs_pack_kill(p, &r.loc, r.length);
	}
	s->alloc = s->written = s->durable = off;
}

void gfs_pack_replay(struct gfs_pack *p, gfs_pack_replay_fn fn, void *cls)
{
	uint8_t *data = gfs_xmalloc(GFS_BLOCK_SIZE);

	p->replaying = true;
	for (size_t i = 0; i < p->nsegs; i++)
		replay_seg(p, p->segs[i], fn, cls, data);
	p->replaying = false;
	free(data);
}

/* --- the thread ----------------------------------------------------------- */

/* An old segment to reclaim (lock held): the oldest one past the cap on
 * live bytes in old segments, else the oldest mostly dead one; 0: none. */
static uint64_t pick_victim(struct gfs_pack *p)
{
	uint64_t old_live = 0, mostly_dead = 0;
	size_t i;

	for (i = 0; i < p->nsegs; i++) {
		struct seg *s = p->segs[i];

		if (s == p->head || !s->live)
			continue;
		old_live += s->live_bytes;
		if (!mostly_dead &&
		    s->live_bytes < p->seg_size / MOSTLY_DEAD)
			mostly_dead = s->seq;
	}
	if (old_live <= p->max_bytes)
		return mostly_dead;
	for (i = 0; i < p->nsegs; i++)
		if (p->segs[i] != p->head && p->segs[i]->live)
			return p->segs[i]->seq;
	return 0;
}

/* Make the spare when there is none (lock held; dropped meanwhile). */
static void make_spare(struct gfs_pack *p)
{
	uint64_t seq;
	struct seg *s;

	if (p->spare || p->stop)
		return;
	seq = p->next_seq++;
	pthread_mutex_unlock(&p->lock);
	s = seg_make(p, seq);
	pthread_mutex_lock(&p->lock);
	if (!s)
		return;
	p->spare = s;
	p->disk_bytes += p->seg_size;
}

static void *run(void *arg)
{
	struct gfs_pack *p = arg;
	struct timespec ts;
	uint64_t victim;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		make_spare(p);
		victim = p->stop ? 0 : pick_victim(p);
		if (victim && p->reclaim) {
			pthread_mutex_unlock(&p->lock);
			p->reclaim(p->cls, victim);
			pthread_mutex_lock(&p->lock);
		}
		if (p->stop)
			break;
		/* reclaims are low priority: one segment a tick */
		ts = gfs_deadline_ts(CLOCK_REALTIME, TICK_MS);
		pthread_cond_timedwait(&p->wake, &p->lock, &ts);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* --- open and close --------------------------------------------------------- */

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = *(struct seg *const *)a;
	const struct seg *y = *(struct seg *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Open every packs/<seq> (others are removed: leftovers). */
static enum gfs_err list_segs(struct gfs_pack *p)
{
	DIR *d = fdopendir(dup(p->dirfd));
	struct dirent *de;
	uint64_t seq;
	int fd;

	if (!d)
		return GFS_EIO;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (!gfs_handle_parse(de->d_name, &seq) || !seq) {
			gfs_warn("%s: packs/%s is not a segment: removed",
				 p->label, de->d_name);
			unlinkat(p->dirfd, de->d_name, 0);
			continue;
		}
		fd = openat(p->dirfd, de->d_name, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			gfs_error("%s: cannot open packs/%s: %s", p->label,
				  de->d_name, strerror(errno));
			closedir(d);
			return GFS_EIO;
		}
		seg_push(p, seg_new(seq, fd));
		p->disk_bytes += p->seg_size;
		if (seq >= p->next_seq)
			p->next_seq = seq + 1;
	}
	closedir(d);
	if (p->nsegs)
		qsort(p->segs, p->nsegs, sizeof(*p->segs), cmp_seg);
	return GFS_OK;
}

enum gfs_err gfs_pack_open(const struct gfs_pack_conf *conf,
			   struct gfs_pack **out)
{
	struct gfs_pack *p = gfs_xcalloc(1, sizeof(*p));
	enum gfs_err err;

	p->label = gfs_xstrdup(conf->label ? conf->label : "packs");
	p->seg_size = conf->seg_size ? conf->seg_size : GFS_PACK_SEG_SIZE;
	p->seg_size -= p->seg_size % GFS_PACK_ALIGN;
	p->max_bytes = conf->max_bytes;
	p->syncs = conf->syncs;
	p->room = conf->room;
	p->reclaim = conf->reclaim;
	p->cls = conf->cls;
	p->write_hook = conf->write_hook;
	p->next_seq = 1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_cond_init(&p->wake, NULL);
	if (mkdirat(conf->dirfd, "packs", 0755) < 0 && errno != EEXIST)
		p->dirfd = -1;
	else
		p->dirfd = openat(conf->dirfd, "packs",
				  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dirfd < 0) {
		gfs_error("%s: cannot open packs/: %s", p->label,
			  strerror(errno));
		gfs_pack_close(p);
		return GFS_EIO;
	}
	err = list_segs(p);
	if (err) {
		gfs_pack_close(p);
		return err;
	}
	*out = p;
	return GFS_OK;
}

void gfs_pack_start(struct gfs_pack *p)
{
	struct seg *s, *old;
	size_t i = 0;

	pthread_mutex_lock(&p->lock);
	while (i < p->nsegs) {
		s = p->segs[i];
		if (seg_release(p, s)) {
			pthread_mutex_unlock(&p->lock);
			seg_destroy(p, s);
			pthread_mutex_lock(&p->lock);
		} else {
			i++;
		}
	}
	make_spare(p);
	switch_head(p, &old);
	pthread_mutex_unlock(&p->lock);
	gfs_info("%s: %llu packed chunks in %llu segments of %llu KiB", p->label,
		 (unsigned long long)p->live, (unsigned long long)p->nsegs,
		 (unsigned long long)(p->seg_size >> 10));
	p->started = pthread_create(&p->thread, NULL, run, p) == 0;
}

void gfs_pack_close(struct gfs_pack *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->thread, NULL);
	for (size_t i = 0; i < p->nsegs; i++) {
		struct pend *n;

		close(p->segs[i]->fd);
		while ((n = p->segs[i]->qhead)) {
			p->segs[i]->qhead = n->next;
			free(n);
		}
		free(p->segs[i]);
	}
	if (p->spare) {
		/* never used: it goes, zeros are made again at start */
		seg_destroy(p, p->spare);
	}
	free(p->segs);
	if (p->dirfd >= 0)
		close(p->dirfd);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->wake);
	free(p->label);
	free(p);
}

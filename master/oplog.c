/*
 * oplog.c - append-only segments, group commit, replay and the follower
 * stream; see oplog.h for the format and the invariants.
 *
 * Group commit: gfs_oplog_append() only frames the record into
 * log->pending.  The first thread that then waits in gfs_oplog_wait()
 * becomes the leader: it takes the whole pending buffer, writes it with one
 * pwrite and one fdatasync without holding the lock, and wakes everyone.
 * Threads that arrive while it works queue behind it and the next leader
 * takes all of them at once, so N concurrent mutations cost about two
 * fsyncs, not N.
 *
 * Nothing slow happens under log->lock, which gfs_oplog_append() takes
 * with the master lock held: writes and fsyncs run without it (a leader at
 * a time, `flushing`), so does the creation of a new segment on rotation
 * (its records queue in memory meanwhile), followers' reads (from a
 * dup() of the segment's fd, which outlives the segment's removal) and
 * the directory fsync after old segments are unlinked.
 *
 * Pre-zeroed tail: a segment's file runs GFS_OPLOG_ZERO_AHEAD/2 to
 * 1.5 x GFS_OPLOG_ZERO_AHEAD bytes of written zeros past its records, so
 * that a group commit's pwrite overwrites data inside the file's size and
 * its fdatasync writes data only (no inode update: about 50 us of a
 * 150 us fdatasync here).  A new segment is created with its zeros; when
 * a leader finds less than half a step left after its fdatasync it writes
 * the next step of zeros and fdatasyncs them (`extending`), without the
 * lock and from a dup() of the fd, while later leaders go on writing
 * below the old end.  A leader whose batch would cross the zeroed end
 * waits for an extension in flight (its zeros must not land on records);
 * with none in flight it simply appends.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "log.h"
#include "oplog.h"
#include "path.h"
#include "util.h"

#define SEG_PREFIX "GFSLOG"
#define SEG_HDR 16
#define SECTOR 512 /* the smallest unit a device writes whole */

static void unlink_first(struct gfs_oplog *log, size_t n);

struct gfs_oplog_seg {
	uint64_t base;   /* seq of its first record */
	uint64_t end;    /* seq after its last record (queued ones too) */
	int fd;          /* open read-write */
	uint64_t size;   /* bytes written to the file */
	uint64_t tail;   /* size plus queued bytes: where the next goes */
	uint64_t zend;   /* the file's size: [size, zend) are written zeros
			  * when zend > size */
	uint64_t *offs;  /* offs[i]: offset of record base+i, owned */
	uint32_t *crcs;  /* crcs[i]: its checksum (acknowledgements compare
			  * it without reading the file), owned */
	size_t cap;      /* entries allocated in offs and crcs */
	char *path;      /* owned */
	int format;      /* of its header (GFS_FORMAT for new ones) */
};

int gfs_oplog_format_of(const uint8_t *hdr, const char *prefix)
{
	size_t n = strlen(prefix);
	uint8_t d = hdr[n];

	if (memcmp(hdr, prefix, n))
		return -1;
	return d >= '1' && d <= '9' ? d - '0' : 0;
}

bool gfs_oplog_format_ok(int v, const char *path)
{
	if (v >= GFS_FORMAT_OLDEST && v <= GFS_FORMAT)
		return true;
	gfs_error("%s: data format version %s%d; this gfs-master reads "
		  "versions %d to %d (written by a newer gfs-master?)", path,
		  v > 0 ? "" : "unknown, not ", v > 0 ? v : GFS_FORMAT_OLDEST,
		  GFS_FORMAT_OLDEST, GFS_FORMAT);
	return false;
}

/* The 8 header bytes of a segment of format v. */
static void seg_magic(uint8_t *hdr, int v)
{
	memcpy(hdr, SEG_PREFIX, 6);
	hdr[6] = (uint8_t)('0' + v);
	hdr[7] = '\n';
}

static uint32_t record_crc(uint64_t seq, const uint8_t *body, size_t len)
{
	uint8_t s[8];

	gfs_put_u64(s, seq);
	return gfs_crc32c(gfs_crc32c(0, s, 8), body, len);
}

void gfs_oplog_frame(struct gfs_enc *e, uint64_t seq, const void *body,
		     size_t len)
{
	uint8_t *h = gfs_enc_reserve(e, GFS_OPLOG_HDR + len);

	gfs_put_u32(h, (uint32_t)len);
	gfs_put_u32(h + 4, record_crc(seq, body, len));
	gfs_put_u64(h + 8, seq);
	memcpy(h + GFS_OPLOG_HDR, body, len);
	e->len += GFS_OPLOG_HDR + len;
}

size_t gfs_oplog_check_record(const uint8_t *buf, size_t len, uint64_t *seq)
{
	uint32_t n;

	if (len < GFS_OPLOG_HDR)
		return 0;
	n = gfs_get_u32(buf);
	if (n == 0 || n > GFS_OPLOG_REC_MAX || n > len - GFS_OPLOG_HDR)
		return 0;
	*seq = gfs_get_u64(buf + 8);
	if (gfs_get_u32(buf + 4) != record_crc(*seq, buf + GFS_OPLOG_HDR, n))
		return 0;
	return GFS_OPLOG_HDR + (size_t)n;
}

/* The next record of s is at off, with the header hdr (its checksum). */
static void seg_note(struct gfs_oplog_seg *s, uint64_t off,
		     const uint8_t *hdr)
{
	size_t i = (size_t)(s->end - s->base);

	if (i == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->offs = gfs_xrealloc(s->offs, s->cap * sizeof(*s->offs));
		s->crcs = gfs_xrealloc(s->crcs, s->cap * sizeof(*s->crcs));
	}
	s->offs[i] = off;
	s->crcs[i] = gfs_get_u32(hdr + 4);
	s->end++;
}

static void seg_free(struct gfs_oplog_seg *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->offs);
	free(s->crcs);
	free(s->path);
}

/* Any I/O failure on the log leaves memory ahead of disk: stop at once. */
static void die_io(const char *what, const char *path)
{
	gfs_error("op log %s failed on %s: %s; stopping", what, path,
		  strerror(errno));
	_exit(1);
}

/* A descriptor of s's file for I/O without log->lock (the segment may be
 * rotated, dropped or wiped meanwhile; the dup outlives it).  Stops the
 * process on failure. */
static int seg_dup(const struct gfs_oplog_seg *s)
{
	int fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 0);

	if (fd < 0)
		die_io("dup", s->path);
	return fd;
}

/* Whether buf[0..len) is all zero bytes. */
static bool all_zero(const uint8_t *buf, size_t len)
{
	return !len || (!buf[0] && !memcmp(buf, buf + 1, len - 1));
}

/* The length of buf[0..len) without its trailing zero bytes. */
static size_t nonzero_len(const uint8_t *buf, size_t len)
{
	while (len && !buf[len - 1])
		len--;
	return len;
}

/* Make s's file end in a fresh step of written zeros, durable (no other
 * thread may write it: open).  Stops the process on an I/O error. */
static void seg_zero_ahead(struct gfs_oplog_seg *s)
{
	if (s->zend - s->tail >= GFS_OPLOG_ZERO_AHEAD / 2)
		return;
	if (gfs_pwrite_zeros(s->fd, s->zend, GFS_OPLOG_ZERO_AHEAD) < 0 ||
	    fdatasync(s->fd) < 0)
		die_io("zero-fill", s->path);
	s->zend += GFS_OPLOG_ZERO_AHEAD;
}

/* An empty segment at base, in memory only (fd -1). */
static void seg_init(struct gfs_oplog *log, uint64_t base,
		     struct gfs_oplog_seg *s)
{
	memset(s, 0, sizeof(*s));
	s->base = s->end = base;
	s->path = gfs_xasprintf("%s/log.%016" PRIx64, log->dir, base);
	s->fd = -1;
	s->size = s->tail = SEG_HDR;
	s->zend = SEG_HDR + GFS_OPLOG_ZERO_AHEAD; /* as created */
	s->format = GFS_FORMAT;
}

/* Create s's file with its header and its zeros up to s->zend, and make
 * it durable (fdatasync, then the directory).  A crash in between leaves
 * a file shorter than a header or whose header is zeros: removed at
 * open.  The caller may hold log->lock only when nothing else can run
 * (open, reset).  -1 and errno on failure (nothing left). */
static int seg_file_create(const char *dir, const struct gfs_oplog_seg *s)
{
	uint8_t hdr[SEG_HDR];
	int fd = open(s->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int e;

	if (fd < 0)
		return -1;
	seg_magic(hdr, GFS_FORMAT);
	gfs_put_u64(hdr + 8, s->base);
	if (gfs_pwrite_all(fd, hdr, SEG_HDR, 0) < 0 ||
	    gfs_pwrite_zeros(fd, SEG_HDR, s->zend - SEG_HDR) < 0 ||
	    fdatasync(fd) < 0 || gfs_fsync_dir(dir) < 0) {
		e = errno;
		close(fd);
		unlink(s->path);
		errno = e;
		return -1;
	}
	return fd;
}

/* Create an empty segment starting at base and make it durable. */
static enum gfs_err seg_create(struct gfs_oplog *log, uint64_t base,
			       struct gfs_oplog_seg *s)
{
	seg_init(log, base, s);
	s->fd = seg_file_create(log->dir, s);
	if (s->fd < 0) {
		gfs_error("cannot create %s: %s", s->path, strerror(errno));
		seg_free(s);
		return GFS_EIO;
	}
	return GFS_OK;
}

static struct gfs_oplog_seg *cur_seg(struct gfs_oplog *log)
{
	return &log->segs[log->nsegs - 1];
}

/* The segment that starts at base (lock held; the array may have moved
 * while it was dropped). */
static struct gfs_oplog_seg *seg_at(struct gfs_oplog *log, uint64_t base)
{
	size_t i;

	for (i = log->nsegs; i-- > 0;)
		if (log->segs[i].base == base)
			return &log->segs[i];
	return NULL;
}

static void push_seg(struct gfs_oplog *log, const struct gfs_oplog_seg *s)
{
	log->segs = gfs_xrealloc(log->segs, (log->nsegs + 1) * sizeof(*s));
	log->segs[log->nsegs++] = *s;
}

/* Names of the segments in dir, sorted by base (so by name).  O(files). */
static int seg_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_segments(const char *dir, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	uint64_t base;

	*n = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "log.", 4) || strlen(e->d_name) != 20 ||
		    !gfs_handle_parse(e->d_name + 4, &base))
			continue;
		names = gfs_xrealloc(names, (*n + 1) * sizeof(*names));
		names[(*n)++] = gfs_xstrdup(e->d_name);
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof(*names), seg_cmp);
	return names;
}

/* Read a whole file into a new buffer (caller frees). */
static uint8_t *slurp(int fd, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return NULL;
	buf = gfs_xmalloc((size_t)st.st_size + 1);
	n = gfs_pread_all(fd, buf, (size_t)st.st_size, 0);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

/* The valid-looking records with seq >= min anywhere in buf[off..len):
 * how many, and where the last one ends (*end, off when none).
 * O(bytes) header checks; a checksum only where a header is plausible. */
static uint64_t valid_records_after(const uint8_t *buf, size_t len,
				    size_t off, uint64_t min, size_t *end)
{
	uint64_t seq, count = 0;
	size_t n;

	*end = off;
	while (off + GFS_OPLOG_HDR <= len) {
		uint64_t s = gfs_get_u64(buf + off + 8);

		n = s < min || s - min > (1ull << 32)
			    ? 0
			    : gfs_oplog_check_record(buf + off, len - off, &seq);
		if (!n) {
			off++;
			continue;
		}
		count++;
		off += n;
		*end = off;
	}
	return count;
}

/*
 * Whether buf[bad..end) shows a sector the device never wrote: an
 * aligned SECTOR of zeros, or zeros from bad to its sector's end that
 * hold at least the 4-byte length a written header never has as zero
 * (that sector's head was written with the batch before).  Records are
 * written over zeros, so such a sector inside a batch means the batch
 * was torn by a crash; garbage or bit rot leaves none.
 */
static bool has_unwritten_sector(const uint8_t *buf, size_t bad, size_t end)
{
	size_t off, next = (bad / SECTOR + 1) * SECTOR;

	if (next - bad >= 4 && next <= end && all_zero(buf + bad, next - bad))
		return true;
	for (off = next; off + SECTOR <= end; off += SECTOR)
		if (all_zero(buf + off, SECTOR))
			return true;
	return false;
}

struct scan {
	struct gfs_oplog *log;
	uint64_t from;      /* replay records >= from */
	uint64_t expect;    /* seq the next record must have, 0: any */
	gfs_oplog_fn fn;
	void *cls;
};

/*
 * At a bad point `off` of segment s (not a record, not zeros to the end):
 * whether it is a torn tail to cut.  Anything after a torn record or the
 * zeros where one was never written is the last group commit's batch,
 * written only after the batch before it was fdatasync'ed and never
 * acknowledged, so it can only be torn at the end of the last segment:
 * with nothing valid after it, or with valid-looking records after it
 * and a sector between that the device never wrote (has_unwritten_sector).
 * Anything else is corruption (false, logged).
 */
static bool torn_tail(const struct gfs_oplog_seg *s, const uint8_t *buf,
		      size_t len, size_t off, bool last)
{
	size_t vend;
	uint64_t after = valid_records_after(buf, len, off + 1, s->end, &vend);

	if (last && !after) {
		gfs_warn("op log %s: dropping torn tail of %zu bytes at "
			 "offset %zu (record %" PRIu64 ")", s->path,
			 nonzero_len(buf + off, len - off), off, s->end);
		return true;
	}
	if (last && has_unwritten_sector(buf, off, vend)) {
		gfs_warn("op log %s: dropping a torn last batch at offset %zu "
			 "(record %" PRIu64 "): a sector of it was never "
			 "written; %" PRIu64 " valid-looking records after it "
			 "dropped too", s->path, off, s->end, after);
		return true;
	}
	gfs_error("op log %s is corrupt at offset %zu (record %" PRIu64 ")",
		  s->path, off, s->end);
	return false;
}

/*
 * Parse one segment buffer into s (offsets) and replay its records.  Zero
 * bytes from where a record should start to the end of the file are the
 * segment's pre-zeroed tail, its clean end (any segment).  A torn tail of
 * the last segment (torn_tail) ends it too: *good is where the file must
 * be cut, *torn set.  Anything else is GFS_EIO.
 */
static enum gfs_err scan_segment(struct scan *sc, struct gfs_oplog_seg *s,
				 const uint8_t *buf, size_t len, bool last,
				 size_t *good, bool *torn)
{
	size_t off = SEG_HDR, n;
	uint64_t seq;

	*torn = false;
	while (off < len) {
		n = gfs_oplog_check_record(buf + off, len - off, &seq);
		if (!n || seq != s->end) {
			if (all_zero(buf + off, len - off))
				break;
			if (!torn_tail(s, buf, len, off, last))
				return GFS_EIO;
			*torn = true;
			break;
		}
		if (seq >= sc->from &&
		    !sc->fn(sc->cls, seq, buf + off + GFS_OPLOG_HDR,
			    n - GFS_OPLOG_HDR)) {
			gfs_error("op log %s: record %" PRIu64 " cannot be "
				  "applied", s->path, seq);
			return GFS_EINTERNAL;
		}
		seg_note(s, off, buf + off);
		off += n;
	}
	*good = off > len ? len : off;
	return GFS_OK;
}

/* Open and scan one segment file; on success s is filled. */
static enum gfs_err load_segment(struct scan *sc, const char *name, bool last,
				 struct gfs_oplog_seg *s)
{
	enum gfs_err err = GFS_EIO;
	uint8_t *buf = NULL;
	size_t len = 0, good;
	bool torn, cut;

	memset(s, 0, sizeof(*s));
	s->path = gfs_xasprintf("%s/%s", sc->log->dir, name);
	s->fd = open(s->path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0 || !(buf = slurp(s->fd, &len))) {
		gfs_error("cannot read %s: %s", s->path, strerror(errno));
		goto out_free;
	}
	if (last && (len < SEG_HDR || all_zero(buf, SEG_HDR))) {
		err = GFS_ENOENT; /* its header never made it to disk */
		goto out_free;
	}
	s->format = len < SEG_HDR ? -1 : gfs_oplog_format_of(buf, SEG_PREFIX);
	if (s->format < 0 || (s->format && buf[7] != '\n')) {
		gfs_error("%s is not an op log segment", s->path);
		goto out_free;
	}
	if (!gfs_oplog_format_ok(s->format, s->path))
		goto out_free;
	s->base = s->end = gfs_get_u64(buf + 8);
	if (sc->expect && s->base != sc->expect) {
		gfs_error("op log %s starts at %" PRIu64 ", expected %" PRIu64,
			  s->path, s->base, sc->expect);
		goto out_free;
	}
	err = scan_segment(sc, s, buf, len, last, &good, &torn);
	if (err)
		goto out_free;
	/* a torn tail goes; so do the zeros of a segment but the last (a
	 * crash came before the rotation cut them, trim_locked) */
	cut = torn || (!last && good < len);
	if (cut && (ftruncate(s->fd, (off_t)good) < 0 ||
		    fdatasync(s->fd) < 0)) {
		gfs_error("cannot truncate %s: %s", s->path, strerror(errno));
		err = GFS_EIO;
		goto out_free;
	}
	s->size = s->tail = good;
	s->zend = cut ? good : len;
	sc->expect = s->end;
	free(buf);
	return GFS_OK;
out_free:
	free(buf);
	seg_free(s);
	return err;
}

/* Scan every segment in order; a trailing segment file whose header never
 * made it to disk (shorter than one, or zeros: a crash while it was
 * created) is removed. */
static enum gfs_err load_all(struct scan *sc)
{
	enum gfs_err err = GFS_OK;
	struct gfs_oplog_seg s;
	size_t i, n;
	char **names = list_segments(sc->log->dir, &n);

	for (i = 0; i < n && !err; i++) {
		bool last = i + 1 == n;

		err = load_segment(sc, names[i], last, &s);
		if (!err)
			push_seg(sc->log, &s);
		if (err == GFS_ENOENT) {
			char *p = gfs_xasprintf("%s/%s", sc->log->dir,
						names[i]);

			gfs_warn("removing empty op log segment %s", p);
			unlink(p);
			free(p);
			err = GFS_OK;
		}
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

/* The last segment is of an older format: records go on in a new one
 * (an empty one just gets this format's header), so that no file holds
 * records of two formats and an older master refuses the new ones by
 * their header. */
static enum gfs_err upgrade_last(struct gfs_oplog *log)
{
	struct gfs_oplog_seg *last = cur_seg(log), s;
	uint8_t hdr[8];
	enum gfs_err err;

	if (last->format == GFS_FORMAT)
		return GFS_OK;
	if (last->end == last->base) {
		seg_magic(hdr, GFS_FORMAT);
		if (gfs_pwrite_all(last->fd, hdr, 8, 0) < 0 ||
		    fdatasync(last->fd) < 0) {
			gfs_error("cannot write %s: %s", last->path,
				  strerror(errno));
			return GFS_EIO;
		}
		last->format = GFS_FORMAT;
		return GFS_OK;
	}
	gfs_info("%s is of data format %d: new records go to a segment of "
		 "format %d", last->path, last->format, GFS_FORMAT);
	err = seg_create(log, last->end, &s);
	if (!err)
		push_seg(log, &s);
	return err;
}

enum gfs_err gfs_oplog_open(const char *dir, uint64_t from, gfs_oplog_fn fn,
			    void *cls, struct gfs_oplog **out)
{
	struct gfs_oplog *log = gfs_xcalloc(1, sizeof(*log));
	struct scan sc = { log, from, 0, fn, cls };
	struct gfs_oplog_seg s;
	enum gfs_err err;

	pthread_mutex_init(&log->lock, NULL);
	pthread_cond_init(&log->cond, NULL);
	pthread_cond_init(&log->sync_cond, NULL);
	pthread_cond_init(&log->written_cond, NULL);
	log->dir = gfs_xstrdup(dir);
	if (gfs_mkdirs(dir, 0755) < 0) {
		gfs_error("cannot create %s: %s", dir, strerror(errno));
		err = GFS_EIO;
		goto out_free;
	}
	err = load_all(&sc);
	if (err)
		goto out_free;
	if (log->nsegs && cur_seg(log)->end < from) {
		/* Only after a crash between a checkpoint and the segment
		 * that follows it: everything here is in the checkpoint. */
		gfs_warn("op log ends at %" PRIu64 ", before the checkpoint "
			 "(%" PRIu64 "): starting a new segment",
			 cur_seg(log)->end, from);
		pthread_mutex_lock(&log->lock);
		unlink_first(log, log->nsegs);
		pthread_mutex_unlock(&log->lock);
	}
	if (log->nsegs && log->segs[0].base > from) {
		gfs_error("op log starts at %" PRIu64 ", after the checkpoint "
			  "(%" PRIu64 "): records are missing",
			  log->segs[0].base, from);
		err = GFS_EIO;
		goto out_free;
	}
	err = log->nsegs ? upgrade_last(log) : seg_create(log, from, &s);
	if (err)
		goto out_free;
	if (!log->nsegs)
		push_seg(log, &s);
	seg_zero_ahead(cur_seg(log)); /* a torn tail was cut, or it is short */
	log->next_seq = log->synced_seq = log->written_seq = cur_seg(log)->end;
	*out = log;
	return GFS_OK;
out_free:
	gfs_oplog_close(log);
	return err;
}

/*
 * The current segment has less than half a step of zeros left past what
 * is queued: write the next step and fdatasync it, without the lock and
 * from a dup() of the fd (the segment may be rotated, dropped or wiped
 * meanwhile: then the zeros land in a file no one reads).  Leaders whose
 * batch stays below the old end write meanwhile; one that would cross it
 * waits for `extending` to clear (flush_locked).  Lock held.
 */
static void extend_locked(struct gfs_oplog *log)
{
	struct gfs_oplog_seg *s = cur_seg(log);
	uint64_t from = s->zend, base = s->base, gen = log->gen;
	char *path;
	int fd;

	if (log->extending || log->fenced || s->fd < 0 || s->tail > s->zend ||
	    s->zend - s->tail >= GFS_OPLOG_ZERO_AHEAD / 2)
		return;
	fd = seg_dup(s);
	path = gfs_xstrdup(s->path);
	log->extending = true;
	pthread_mutex_unlock(&log->lock);
	if (gfs_pwrite_zeros(fd, from, GFS_OPLOG_ZERO_AHEAD) < 0 || fdatasync(fd) < 0)
		die_io("zero-fill", path);
	close(fd);
	free(path);
	pthread_mutex_lock(&log->lock);
	s = seg_at(log, base);
	if (s && log->gen == gen && s->zend == from)
		s->zend = from + GFS_OPLOG_ZERO_AHEAD;
	log->extending = false;
	pthread_cond_broadcast(&log->cond);
}

/* A leader's batch between its write and its fdatasync. */
struct flush {
	struct gfs_enc batch;   /* the bytes written, owned */
	uint64_t target;        /* seq after its last record */
	bool rotate;            /* a new segment starts at target */
	struct gfs_oplog_seg next; /* that segment (rotate) */
	char *path;             /* the segment written, owned */
	int fd;                 /* its fd (the segment's own) */
};

/*
 * The first half of a leader's batch: take the queued bytes of the
 * current segment, tell the followers (on_written: they fsync while we
 * write), then write them (without the lock).  With rotate, records
 * appended from now on go to a new segment starting at the next seq.
 * Called with the lock held and !flushing, which stays set until
 * flush_sync().  Returns with the lock held.
 */
static void flush_write(struct gfs_oplog *log, bool rotate, struct flush *f)
{
	uint64_t first, off, base;
	struct gfs_oplog_seg *s;
	gfs_oplog_written_fn told;
	void *told_cls;
	bool taken = false;

	log->flushing = true;
	/* zeros in flight past zend must not land on this batch */
	while (log->extending && cur_seg(log)->tail > cur_seg(log)->zend)
		pthread_cond_wait(&log->cond, &log->lock);
	f->batch = log->pending;
	first = log->written_seq;
	f->target = log->next_seq;
	f->rotate = rotate;
	told = f->batch.len && !log->pending_raw ? log->on_written : NULL;
	told_cls = log->on_written_cls;
	log->pending_raw = false;
	s = cur_seg(log);
	off = s->size;
	base = s->base;
	f->path = gfs_xstrdup(s->path);
	f->fd = s->fd;
	memset(&log->pending, 0, sizeof(log->pending));
	if (rotate) {
		seg_init(log, f->target, &f->next);
		push_seg(log, &f->next);
	}
	pthread_mutex_unlock(&log->lock);
	/* pushed before written: the follower's fdatasync, not ours, is
	 * the longer wait of an acknowledgement.  Its senders read only
	 * below written_seq, so they never send these twice. */
	if (told)
		taken = told(told_cls, first, f->target, f->batch.buf,
			     f->batch.len);
	if (f->batch.len && gfs_pwrite_all(f->fd, f->batch.buf, f->batch.len,
					   (off_t)off) < 0)
		die_io("write", f->path);
	/* written: followers may fetch them while we fsync */
	pthread_mutex_lock(&log->lock);
	s = seg_at(log, base);
	s->size += f->batch.len;
	s->zend = GFS_MAX(s->zend, s->size); /* appended past the zeros */
	log->written_seq = f->target;
	pthread_cond_broadcast(&log->cond);
	/* a stream's sender wakes only for records a push did not take (a
	 * wake-up per batch cost a context switch and the log lock), or
	 * when it may have looked before a push knew of it */
	if ((!taken || log->reader_added) && f->target > first) {
		log->reader_added = false;
		pthread_cond_broadcast(&log->written_cond);
	}
}

/* The second half: fdatasync what flush_write() wrote (and create the
 * new segment's file on rotation), without the lock; then the batch is
 * durable and the next leader may go.  Lock held. */
static void flush_sync(struct gfs_oplog *log, struct flush *f)
{
	int64_t t0;
	int nfd = -1;

	pthread_mutex_unlock(&log->lock);
	t0 = gfs_mono_us();
	if (fdatasync(f->fd) < 0)
		die_io("fdatasync", f->path);
	gfs_histo_observe(&log->fsync_us, (uint64_t)(gfs_mono_us() - t0));
	if (f->rotate && (nfd = seg_file_create(log->dir, &f->next)) < 0)
		die_io("create", f->next.path);
	pthread_mutex_lock(&log->lock);
	if (f->rotate)
		seg_at(log, f->target)->fd = nfd;
	/* the syncer tells of records someone waits for without a wait */
	if (log->sync_want > log->synced_seq)
		pthread_cond_signal(&log->sync_cond);
	log->synced_seq = f->target;
	log->flushing = false;
	log->st.fsyncs++;
	log->st.bytes += f->batch.len;
	pthread_cond_broadcast(&log->cond);
	gfs_enc_free(&f->batch);
	free(f->path);
	extend_locked(log);
}

/*
 * Write and fsync the queued bytes of the current segment.  With rotate,
 * records appended from now on go to a new segment starting at the next
 * seq, whose file is created (and made durable) after the old one's
 * fdatasync; its records wait in memory meanwhile.  Called with the lock
 * held and !flushing; drops the lock while doing I/O.
 */
static void flush_locked(struct gfs_oplog *log, bool rotate)
{
	struct flush f;

	flush_write(log, rotate, &f);
	flush_sync(log, &f);
}

/*
 * The syncer thread (gfs_oplog_syncer_start()): finishes a batch the
 * event thread wrote (gfs_oplog_write_ahead(): its fdatasync), leads the
 * group commit of records wanted durable that no waiter leads, and tells
 * on_synced whenever synced_seq moved (whoever moved it) or the log was
 * wiped.  Telling comes before a new fdatasync: the replies it lets go
 * out need no disk.
 */
static void *syncer_main(void *arg)
{
	struct gfs_oplog *log = arg;
	uint64_t told = 0, told_gen = 0;
	struct flush *f;

	pthread_mutex_lock(&log->lock);
	told = log->synced_seq;
	told_gen = log->gen;
	for (;;) {
		if (told != log->synced_seq || told_gen != log->gen) {
			told = log->synced_seq;
			told_gen = log->gen;
			pthread_mutex_unlock(&log->lock);
			log->on_synced(log->on_synced_cls);
			pthread_mutex_lock(&log->lock);
		} else if (log->handoff) {
			f = log->handoff;
			log->handoff = NULL;
			flush_sync(log, f);
			free(f);
		} else if (log->syncer_stop) {
			break;
		} else if (!log->fenced && !log->flushing &&
			   log->synced_seq < GFS_MIN(log->sync_want,
						     log->next_seq)) {
			flush_locked(log, false);
		} else {
			pthread_cond_wait(&log->sync_cond, &log->lock);
		}
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

void gfs_oplog_syncer_start(struct gfs_oplog *log, gfs_oplog_synced_fn fn,
			    void *cls)
{
	pthread_mutex_lock(&log->lock);
	log->on_synced = fn;
	log->on_synced_cls = cls;
	log->syncer_on = true;
	pthread_mutex_unlock(&log->lock);
	pthread_create(&log->syncer, NULL, syncer_main, log);
}

/* Stop the syncer once it finished a batch handed to it.  No lock. */
static void syncer_stop(struct gfs_oplog *log)
{
	pthread_mutex_lock(&log->lock);
	if (!log->syncer_on) {
		pthread_mutex_unlock(&log->lock);
		return;
	}
	log->syncer_stop = true;
	pthread_cond_signal(&log->sync_cond);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->syncer, NULL);
	pthread_mutex_lock(&log->lock);
	log->syncer_on = false;
	pthread_mutex_unlock(&log->lock);
}

void gfs_oplog_write_ahead(struct gfs_oplog *log)
{
	struct flush *f;

	pthread_mutex_lock(&log->lock);
	log->sync_want = GFS_MAX(log->sync_want, log->next_seq);
	/* never wait here: a leader at work takes these next, and zeros
	 * in flight are the syncer's to wait for */
	if (log->syncer_on && !log->flushing && !log->fenced &&
	    log->pending.len &&
	    !(log->extending && cur_seg(log)->tail > cur_seg(log)->zend)) {
		f = gfs_xcalloc(1, sizeof(*f));
		flush_write(log, false, f); /* drops the lock meanwhile */
		log->handoff = f; /* only now the syncer's */
	}
	pthread_cond_signal(&log->sync_cond);
	pthread_mutex_unlock(&log->lock);
}

bool gfs_oplog_fenced(struct gfs_oplog *log)
{
	bool fenced;

	pthread_mutex_lock(&log->lock);
	fenced = log->fenced;
	pthread_mutex_unlock(&log->lock);
	return fenced;
}

/* Make records < seq fsync'ed (lock held). */
static bool sync_locked(struct gfs_oplog *log, uint64_t seq)
{
	while (log->synced_seq < seq) {
		if (log->fenced)
			return false;
		if (!log->flushing)
			flush_locked(log, false);
		else
			pthread_cond_wait(&log->cond, &log->lock);
	}
	return true;
}

void gfs_oplog_close(struct gfs_oplog *log)
{
	size_t i;

	if (!log)
		return;
	syncer_stop(log);
	if (log->nsegs) {
		pthread_mutex_lock(&log->lock);
		log->on_written = NULL; /* the streams are gone */
		log->fenced = false;
		sync_locked(log, log->next_seq);
		while (log->extending)
			pthread_cond_wait(&log->cond, &log->lock);
		pthread_mutex_unlock(&log->lock);
	}
	for (i = 0; i < log->nsegs; i++)
		seg_free(&log->segs[i]);
	free(log->segs);
	gfs_enc_free(&log->pending);
	free(log->dir);
	pthread_cond_destroy(&log->cond);
	pthread_cond_destroy(&log->sync_cond);
	pthread_cond_destroy(&log->written_cond);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

void gfs_oplog_on_written(struct gfs_oplog *log, gfs_oplog_written_fn fn,
			  void *cls)
{
	pthread_mutex_lock(&log->lock);
	log->on_written = fn;
	log->on_written_cls = cls;
	pthread_mutex_unlock(&log->lock);
}

uint64_t gfs_oplog_append(struct gfs_oplog *log, const void *body, size_t len)
{
	struct gfs_oplog_seg *s;
	uint64_t seq;

	pthread_mutex_lock(&log->lock);
	s = cur_seg(log);
	seq = log->next_seq++;
	gfs_oplog_frame(&log->pending, seq, body, len);
	seg_note(s, s->tail,
		 log->pending.buf + log->pending.len - GFS_OPLOG_HDR - len);
	s->tail += GFS_OPLOG_HDR + len;
	log->st.records++;
	pthread_mutex_unlock(&log->lock);
	return seq;
}

enum gfs_err gfs_oplog_append_raw(struct gfs_oplog *log, const uint8_t *rec,
				  size_t len)
{
	struct gfs_oplog_seg *s;
	uint64_t seq;
	size_t n = gfs_oplog_check_record(rec, len, &seq);

	if (!n || n != len)
		return GFS_EINVAL;
	pthread_mutex_lock(&log->lock);
	if (seq != log->next_seq) {
		pthread_mutex_unlock(&log->lock);
		return GFS_EINVAL;
	}
	s = cur_seg(log);
	log->next_seq++;
	seg_note(s, s->tail, rec);
	gfs_enc_bytes(&log->pending, rec, len);
	log->pending_raw = true;
	s->tail += len;
	log->st.records++;
	pthread_mutex_unlock(&log->lock);
	return GFS_OK;
}

static void timed_wait(struct gfs_oplog *log, pthread_cond_t *c, int64_t ms)
{
	struct timespec ts = gfs_deadline_ts(CLOCK_REALTIME, ms);

	pthread_cond_timedwait(c, &log->lock, &ts);
}

bool gfs_oplog_wait(struct gfs_oplog *log, uint64_t seq)
{
	bool ok;

	pthread_mutex_lock(&log->lock);
	ok = sync_locked(log, seq + 1);
	pthread_mutex_unlock(&log->lock);
	return ok;
}

bool gfs_oplog_durable(struct gfs_oplog *log, uint64_t seq)
{
	bool ok;

	pthread_mutex_lock(&log->lock);
	ok = !log->fenced && log->synced_seq > seq;
	pthread_mutex_unlock(&log->lock);
	return ok;
}

void gfs_oplog_sync(struct gfs_oplog *log)
{
	pthread_mutex_lock(&log->lock);
	while (log->flushing)
		pthread_cond_wait(&log->cond, &log->lock);
	if (log->synced_seq < log->next_seq)
		flush_locked(log, false);
	pthread_mutex_unlock(&log->lock);
}

/* Cut the zeros off the segment at base, no longer the current one, so
 * that it ends with its last record, as a master before the zeros wrote
 * and reads it (it takes zeros only at the end of the last segment).
 * Without the lock, from a dup() of the fd: followers read only below
 * its size.  Lock held. */
static void trim_locked(struct gfs_oplog *log, uint64_t base)
{
	struct gfs_oplog_seg *s;
	uint64_t size, gen = log->gen;
	char *path;
	int fd;

	while (log->extending) /* its zeros would land after the cut */
		pthread_cond_wait(&log->cond, &log->lock);
	s = seg_at(log, base);
	if (!s || s == cur_seg(log) || s->fd < 0 || s->zend == s->size)
		return;
	size = s->size;
	fd = seg_dup(s);
	path = gfs_xstrdup(s->path);
	pthread_mutex_unlock(&log->lock);
	if (ftruncate(fd, (off_t)size) < 0 || fdatasync(fd) < 0)
		die_io("truncate", path);
	close(fd);
	free(path);
	pthread_mutex_lock(&log->lock);
	s = seg_at(log, base);
	if (s && log->gen == gen)
		s->zend = size;
}

void gfs_oplog_rotate(struct gfs_oplog *log)
{
	uint64_t base;

	pthread_mutex_lock(&log->lock);
	while (log->flushing)
		pthread_cond_wait(&log->cond, &log->lock);
	if (!log->fenced && cur_seg(log)->base < log->next_seq) {
		base = cur_seg(log)->base;
		flush_locked(log, true);
		trim_locked(log, base);
	}
	pthread_mutex_unlock(&log->lock);
}

/* Unlink segs[0..n) and take them out of the array into gone[] (caller
 * frees them with seg_free(), without the lock: closing the last fd of
 * an unlinked file frees its blocks).  Lock held. */
static void take_first(struct gfs_oplog *log, size_t n,
		       struct gfs_oplog_seg *gone)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (unlink(log->segs[i].path) < 0)
			gfs_warn("cannot remove %s: %s", log->segs[i].path,
				 strerror(errno));
		gone[i] = log->segs[i];
	}
	if (n)
		memmove(log->segs, log->segs + n,
			(log->nsegs - n) * sizeof(*log->segs));
	log->nsegs -= n;
}

/* Remove segs[0..n) from disk and the array.  Lock held. */
static void unlink_first(struct gfs_oplog *log, size_t n)
{
	struct gfs_oplog_seg *gone = gfs_xcalloc(n + 1, sizeof(*gone));
	size_t i;

	take_first(log, n, gone);
	for (i = 0; i < n; i++)
		seg_free(&gone[i]);
	free(gone);
}

void gfs_oplog_drop_before(struct gfs_oplog *log, uint64_t seq, uint64_t gen)
{
	struct gfs_oplog_seg *gone;
	size_t n = 0, i;

	pthread_mutex_lock(&log->lock);
	while (log->gen == gen && n + 1 < log->nsegs &&
	       log->segs[n].end <= seq)
		n++;
	gone = gfs_xcalloc(n + 1, sizeof(*gone));
	take_first(log, n, gone);
	pthread_mutex_unlock(&log->lock);
	for (i = 0; i < n; i++)
		seg_free(&gone[i]);
	free(gone);
	if (n)
		gfs_fsync_dir(log->dir);
}

uint64_t gfs_oplog_gen(struct gfs_oplog *log)
{
	uint64_t gen;

	pthread_mutex_lock(&log->lock);
	gen = log->gen;
	pthread_mutex_unlock(&log->lock);
	return gen;
}

void gfs_oplog_wipe(struct gfs_oplog *log)
{
	pthread_mutex_lock(&log->lock);
	while (log->flushing)
		pthread_cond_wait(&log->cond, &log->lock);
	gfs_enc_free(&log->pending);
	log->pending_raw = false;
	unlink_first(log, log->nsegs);
	gfs_fsync_dir(log->dir);
	log->gen++;
	log->fenced = true;
	log->sync_want = 0;
	pthread_cond_broadcast(&log->cond);
	pthread_cond_broadcast(&log->written_cond);
	pthread_cond_signal(&log->sync_cond);
	pthread_mutex_unlock(&log->lock);
}

enum gfs_err gfs_oplog_reset(struct gfs_oplog *log, uint64_t base)
{
	struct gfs_oplog_seg s;
	enum gfs_err err;

	gfs_oplog_wipe(log);
	pthread_mutex_lock(&log->lock);
	err = seg_create(log, base, &s);
	if (!err)
		push_seg(log, &s);
	log->next_seq = log->synced_seq = log->written_seq = base;
	log->fenced = err != GFS_OK;
	pthread_cond_broadcast(&log->cond);
	pthread_cond_broadcast(&log->written_cond);
	pthread_mutex_unlock(&log->lock);
	return err;
}

/* The segment holding seq, or NULL.  O(segments). */
static struct gfs_oplog_seg *seg_of(struct gfs_oplog *log, uint64_t seq)
{
	size_t i;

	for (i = 0; i < log->nsegs; i++)
		if (seq >= log->segs[i].base && seq < log->segs[i].end)
			return &log->segs[i];
	return NULL;
}

/* Bytes of a segment file to read without the lock. */
struct span {
	int fd;          /* a dup() of the segment's fd, owned; -1: none */
	uint64_t off;
	uint64_t len;
	uint64_t n;      /* records in it */
};

/* Where records [from, written) of from's segment lie, at most max bytes
 * (at least one record).  Lock held. */
static bool span_of(struct gfs_oplog *log, uint64_t from, size_t max,
		    struct span *sp)
{
	struct gfs_oplog_seg *s = seg_of(log, from);
	uint64_t last, stop;

	sp->fd = -1;
	if (!s || from >= log->written_seq)
		return false;
	last = GFS_MIN(s->end, log->written_seq);
	sp->off = s->offs[from - s->base];
	for (sp->n = 0; from + sp->n < last; sp->n++) {
		stop = from + sp->n + 1 < s->end
			       ? s->offs[from + sp->n + 1 - s->base]
			       : s->size;
		if (sp->n && stop - sp->off > max)
			break;
	}
	stop = from + sp->n < s->end ? s->offs[from + sp->n - s->base]
				     : s->size;
	sp->len = stop - sp->off;
	sp->fd = seg_dup(s);
	return true;
}

/* Read a span into out (no lock) and close its fd. */
static void read_span(struct span *sp, struct gfs_enc *out)
{
	if (gfs_pread_all(sp->fd, gfs_enc_reserve(out, sp->len), sp->len,
			  (off_t)sp->off) != (ssize_t)sp->len)
		die_io("read", "a log segment");
	out->len += sp->len;
	close(sp->fd);
	sp->fd = -1;
}

/* Record seq's checksum into *crc; false when the log holds no such
 * record.  Lock held. */
static bool crc_locked(struct gfs_oplog *log, uint64_t seq, uint32_t *crc)
{
	struct gfs_oplog_seg *s = seg_of(log, seq);

	if (s)
		*crc = s->crcs[seq - s->base];
	return s != NULL;
}

bool gfs_oplog_record_crc(struct gfs_oplog *log, uint64_t seq, uint32_t *crc)
{
	bool ok;

	pthread_mutex_lock(&log->lock);
	ok = crc_locked(log, seq, crc);
	pthread_mutex_unlock(&log->lock);
	return ok;
}

/* The whole check of `from` (gfs_oplog_check_from()), prev_crc that of
 * the follower's record from-1 when it sent one (checked when we still
 * hold that record); returns with the lock held either way. */
static enum gfs_err lock_checked(struct gfs_oplog *log, uint64_t from,
				 const uint32_t *prev_crc)
{
	uint32_t ours;

	pthread_mutex_lock(&log->lock);
	if (!log->nsegs || from < log->segs[0].base || from > log->next_seq)
		return GFS_ENOENT;
	if (prev_crc && from > log->segs[0].base &&
	    (!crc_locked(log, from - 1, &ours) || ours != *prev_crc))
		return GFS_ENOENT; /* not ours: we lost it and reused the seq */
	return GFS_OK;
}

enum gfs_err gfs_oplog_check_from(struct gfs_oplog *log, uint64_t from,
				  const uint32_t *prev_crc, bool *caught_up)
{
	enum gfs_err err = lock_checked(log, from, prev_crc);

	*caught_up = !err && from == log->synced_seq && from == log->next_seq;
	pthread_mutex_unlock(&log->lock);
	return err;
}

enum gfs_err gfs_oplog_serve(struct gfs_oplog *log, uint64_t from,
			     const uint32_t *prev_crc, int64_t wait_ms,
			     size_t max, struct gfs_enc *out, uint64_t *next)
{
	int64_t deadline = gfs_mono_ms() + wait_ms;
	struct span sp = { -1, 0, 0, 0 };
	enum gfs_err err;

	*next = from;
	err = lock_checked(log, from, prev_crc);
	while (!err && log->written_seq <= from && !log->fenced &&
	       gfs_mono_ms() < deadline)
		timed_wait(log, &log->cond,
			   GFS_MIN(100, deadline - gfs_mono_ms() + 1));
	if (!err && log->fenced)
		err = GFS_ENOTPRIMARY;
	else if (!err && span_of(log, from, max, &sp))
		*next = from + sp.n;
	pthread_mutex_unlock(&log->lock);
	if (sp.fd >= 0)
		read_span(&sp, out);
	return err;
}

bool gfs_oplog_wait_written(struct gfs_oplog *log, const _Atomic uint64_t *pos,
			    int64_t wait_ms)
{
	int64_t deadline = gfs_mono_ms() + wait_ms;
	bool some;

	pthread_mutex_lock(&log->lock);
	while (!(some = log->fenced || log->written_seq > atomic_load(pos)) &&
	       gfs_mono_ms() < deadline)
		timed_wait(log, &log->written_cond,
			   GFS_MIN(100, deadline - gfs_mono_ms() + 1));
	pthread_mutex_unlock(&log->lock);
	return some;
}

void gfs_oplog_reader_added(struct gfs_oplog *log)
{
	pthread_mutex_lock(&log->lock);
	log->reader_added = true;
	pthread_mutex_unlock(&log->lock);
}

void gfs_oplog_stats(struct gfs_oplog *log, struct gfs_oplog_stats *st)
{
	pthread_mutex_lock(&log->lock);
	*st = log->st;
	st->next_seq = log->next_seq;
	st->synced = log->synced_seq;
	pthread_mutex_unlock(&log->lock);
}

uint64_t gfs_oplog_next_seq(struct gfs_oplog *log)
{
	uint64_t n;

	pthread_mutex_lock(&log->lock);
	n = log->next_seq;
	pthread_mutex_unlock(&log->lock);
	return n;
}

/*
 * smallwrite - what one small (4 KiB) chunk costs a chunkserver's disk,
 * today and with a write-ahead journal for small chunks.
 *
 *   gfs-smallwrite [-n N] [-r RUNS] [-p P] [-w W] [-b B] MODE DIR
 *
 * MODE, per 4 KiB chunk:
 *   chunk     the syscalls chunkwrite.c makes for a NEW chunk whose meta
 *             fits the xattr, in its order: openat of the handle's
 *             subdirectory, openat O_CREAT|O_EXCL, pwrite, sync_file_range
 *             (write out and wait), fsetxattr of the meta, fsync(file),
 *             fsync(directory), close.
 *   datasync  the same with fdatasync(file) in place of fsync(file).
 *   tmpfile   what chunkwrite.c does since it takes unnamed inodes: the
 *             file is an O_TMPFILE inode from the chunkserver's own pool
 *             (chunkserver/inodepool.c, one per instance, refilled by its
 *             background thread as the server's is), written the same,
 *             then linked under the handle's name (linkat of
 *             /proc/self/fd/N) before fsync(file) and fsync(directory).
 *   journal   one 64-byte header + the 4 KiB appended to one pre-zeroed,
 *             pre-written journal file, then fdatasync: no inode, name or
 *             extent changes, so no file-system journal commit.
 *   group     W writer threads append to one journal; a writer whose
 *             record is not yet durable either runs the one fdatasync
 *             (covering every record written so far) or waits for the
 *             one running (group commit).
 *   batch     what materialising journaled chunks later would cost: the
 *             chunk steps without their fsyncs for B (-b, default 64)
 *             chunks, then fsync of each file (the first commits the
 *             file-system journal for all) and of each directory; the
 *             latency of a chunk is its own steps plus 1/B of the syncs.
 * -p P runs P independent instances at once (own subdirectories, own
 * journal): the three replicas of a chunk, which on a one-disk test box
 * share one disk and one ext4 journal.  N (default 2000) is the number of
 * chunks per run over all threads; each of RUNS (default 3) runs in a
 * fresh directory under DIR, removed afterwards.  Per run it prints the
 * median and p99 latency of one chunk, the chunks per second over the
 * run's wall time and the median of each step; then the medians over the
 * runs.
 *
 * For: choosing whether a small-chunk journal is worth building
 * (docs/PERFORMANCE.md).  Not for: a test of the product (it runs none of
 * its code but the CRC); not run by make test.  Built into build/bench/.
 * Locking: group's journal tail and durable mark under one mutex; every
 * other mode shares nothing between threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../chunkserver/inodepool.h"
#include "crc32c.h"
#include "util.h"

#define SW_CHUNK 4096u
#define SW_HDR 64u
#define SW_REC (SW_HDR + SW_CHUNK)
#define SW_META 60u       /* chunkmeta's 56-byte header + one CRC */
#define SW_MAX_STEPS 9
#define SW_POOL 16        /* inodes made in advance, as the server's */
#define SW_MAX_THREADS 16
#define SW_WAIT_MS 10000  /* a group commit that takes longer is a bug */

enum sw_mode { SW_CHUNK_FSYNC, SW_CHUNK_DATASYNC, SW_JOURNAL, SW_GROUP,
	       SW_BATCH, SW_TMPFILE };
#define SW_MAX_BATCH 256

static const char *const sw_step_names[][SW_MAX_STEPS] = {
	[SW_CHUNK_FSYNC] = { "subdir", "create", "pwrite", "writeout",
			     "xattr", "fsync", "dirsync", "close" },
	[SW_CHUNK_DATASYNC] = { "subdir", "create", "pwrite", "writeout",
				"xattr", "fdatasync", "dirsync", "close" },
	[SW_JOURNAL] = { "pwrite", "fdatasync" },
	[SW_GROUP] = { "pwrite", "commit" },
	[SW_BATCH] = { "subdir", "create", "pwrite", "writeout", "xattr",
		       "fsyncs/B", "dirsyncs/B" },
	[SW_TMPFILE] = { "subdir", "take", "pwrite", "writeout", "xattr",
			 "link", "fsync", "dirsync", "close" },
};
static const int sw_nsteps[] = { 8, 8, 2, 2, 7, 9 };

/* One journal file, shared by a group's writers. */
struct sw_journal {
	int fd;
	pthread_mutex_t mu;
	pthread_cond_t done;     /* durable moved or syncing ended */
	uint64_t tail;           /* bytes written; under mu */
	uint64_t durable;        /* bytes fdatasync'ed; under mu */
	bool syncing;            /* a writer runs fdatasync; under mu */
	uint64_t seq;            /* records; under mu */
	uint64_t fsyncs;         /* fdatasync calls; under mu */
};

/* One thread's work and its timings (all owned by the run). */
struct sw_worker {
	enum sw_mode mode;
	int top;                 /* the instance's directory */
	struct sw_journal *j;    /* borrowed */
	struct gfs_inodepool *pool; /* SW_TMPFILE: borrowed */
	uint64_t first, count;   /* handles first .. first+count-1 */
	int batch;               /* SW_BATCH: chunks per sync round */
	int fds[2 * SW_MAX_BATCH]; /* SW_BATCH: files, then directories */
	int nfds;
	int64_t *lat;            /* count latencies, ns */
	int64_t *steps;          /* count * SW_MAX_STEPS, ns */
	const char *err;         /* what failed, or NULL */
};

static void sw_die(const char *what)
{
	fprintf(stderr, "gfs-smallwrite: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile of v[0..n) (sorts v). */
static int64_t quantile(int64_t *v, size_t n, double q)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	return v[(size_t)(q * (double)(n - 1))];
}

/* --- chunk files, as chunkwrite.c makes them --------------------------- */

static int chunk_one(struct sw_worker *w, uint64_t h, const char *buf,
		     int64_t *st)
{
	unsigned char meta[SW_META];
	char sub[3], hex[17];
	int64_t t = gfs_mono_ns();
	int dirfd, fd, s = 0;
	uint32_t crc;

#define STEP() do { int64_t n_ = gfs_mono_ns(); st[s++] = n_ - t; \
		    t = n_; } while (0)
	snprintf(sub, sizeof(sub), "%02x", (unsigned)(h & 0xff));
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
	dirfd = openat(w->top, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	STEP();
	if (w->mode == SW_TMPFILE)
		fd = dirfd < 0 ? -1 : gfs_inodepool_take(w->pool);
	else
		fd = dirfd < 0 ? -1 : openat(dirfd, hex, O_RDWR | O_CREAT |
					     O_EXCL | O_CLOEXEC, 0644);
	STEP();
	if (fd < 0)
		return w->err = "create", -1;
	crc = gfs_crc32c(0, buf, SW_CHUNK);
	if (gfs_pwrite_all(fd, buf, SW_CHUNK, 0) < 0)
		return w->err = "pwrite", -1;
	STEP();
	if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE |
			    SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) < 0)
		return w->err = "sync_file_range", -1;
	STEP();
	memset(meta, 0, sizeof(meta));
	memcpy(meta, "GFSCMETA", 8);
	memcpy(meta + 8, &h, 8);
	memcpy(meta + 56, &crc, 4);
	if (fsetxattr(fd, "user.gfs.meta", meta, sizeof(meta), 0) < 0)
		return w->err = "fsetxattr", -1;
	STEP();
	if (w->mode == SW_BATCH) {
		w->fds[w->nfds++] = fd;
		w->fds[w->nfds++] = dirfd;
		return 0;
	}
	if (w->mode == SW_TMPFILE) {
		if (gfs_inodepool_link(fd, dirfd, hex) < 0)
			return w->err = "linkat", -1;
		STEP();
	}
	if ((w->mode == SW_CHUNK_FSYNC ? fsync(fd) : fdatasync(fd)) < 0)
		return w->err = "fsync", -1;
	STEP();
	if (fsync(dirfd) < 0)
		return w->err = "fsync of the directory", -1;
	STEP();
	close(fd);
	close(dirfd);
	STEP();
#undef STEP
	return 0;
}

/* --- the journal -------------------------------------------------------- */

/* Header + data of record seq for chunk h into rec (SW_REC bytes). */
static void journal_record(char *rec, const char *buf, uint64_t seq,
			   uint64_t h)
{
	uint32_t len = SW_CHUNK, crc = gfs_crc32c(0, buf, SW_CHUNK);
	uint64_t version = 1, off = 0;

	memset(rec, 0, SW_HDR);
	memcpy(rec, "GFSJ", 4);
	memcpy(rec + 8, &seq, 8);
	memcpy(rec + 16, &h, 8);
	memcpy(rec + 24, &version, 8);
	memcpy(rec + 32, &off, 8);
	memcpy(rec + 40, &len, 4);
	memcpy(rec + 44, &crc, 4);
	crc = gfs_crc32c(0, rec, SW_HDR - 4);
	memcpy(rec + SW_HDR - 4, &crc, 4);
	memcpy(rec + SW_HDR, buf, SW_CHUNK);
}

/* Create DIR/journal of size bytes, written with zeros and synced, so
 * that later writes overwrite allocated, written blocks inside i_size. */
static int journal_open(int top, uint64_t size)
{
	static const char zeros[1 << 16];
	int fd = openat(top, "journal", O_RDWR | O_CREAT | O_EXCL |
			O_CLOEXEC, 0644);
	uint64_t at;

	if (fd < 0)
		return -1;
	for (at = 0; at < size; at += sizeof(zeros))
		if (gfs_pwrite_all(fd, zeros, sizeof(zeros), (off_t)at) < 0)
			return -1;
	if (fsync(fd) < 0 || fsync(top) < 0)
		return -1;
	return fd;
}

static void journal_init(struct sw_journal *j, int fd)
{
	pthread_condattr_t ca;

	memset(j, 0, sizeof(*j));
	j->fd = fd;
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->done, &ca);
	pthread_condattr_destroy(&ca);
}

/* Wait, under j->mu, until the journal is durable up to end: run the
 * fdatasync when none runs, else wait for the one running.  -1 on error
 * or when no commit came within SW_WAIT_MS. */
static int journal_commit(struct sw_journal *j, uint64_t end)
{
	struct timespec dl = gfs_deadline_ts(CLOCK_MONOTONIC, SW_WAIT_MS);
	uint64_t target;
	int rc;

	while (j->durable < end) {
		if (j->syncing) {
			if (pthread_cond_timedwait(&j->done, &j->mu, &dl))
				return -1;
			continue;
		}
		j->syncing = true;
		target = j->tail;
		pthread_mutex_unlock(&j->mu);
		rc = fdatasync(j->fd);
		pthread_mutex_lock(&j->mu);
		j->syncing = false;
		j->fsyncs++;
		if (rc == 0 && target > j->durable)
			j->durable = target;
		pthread_cond_broadcast(&j->done);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* Append chunk h to the journal and wait until it is durable.  The
 * record is written under the mutex so that tail is always the end of
 * complete records (a 4 KiB copy into the page cache, a few µs). */
static int journal_one(struct sw_worker *w, uint64_t h, const char *buf,
		       char *rec, int64_t *st)
{
	struct sw_journal *j = w->j;
	int64_t t = gfs_mono_ns(), n;
	uint64_t end;
	int rc;

	pthread_mutex_lock(&j->mu);
	journal_record(rec, buf, j->seq++, h);
	rc = gfs_pwrite_all(j->fd, rec, SW_REC, (off_t)j->tail);
	if (rc == 0)
		j->tail += SW_REC;
	end = j->tail;
	n = gfs_mono_ns();
	st[0] = n - t;
	if (rc == 0)
		rc = journal_commit(j, end);
	pthread_mutex_unlock(&j->mu);
	st[1] = gfs_mono_ns() - n;
	if (rc < 0)
		w->err = "journal append or commit";
	return rc;
}

/* SW_BATCH: fsync the files, then the directories, of the last chunks
 * (fds holds file, directory pairs); close them.  *files gets the time
 * the files took, ns. */
static int batch_sync(struct sw_worker *w, int64_t *files)
{
	int64_t t = gfs_mono_ns();
	int k, rc = 0;

	for (k = 0; k < w->nfds; k += 2)
		if (fsync(w->fds[k]) < 0)
			rc = -1;
	*files = gfs_mono_ns() - t;
	for (k = 1; k < w->nfds; k += 2)
		if (fsync(w->fds[k]) < 0)
			rc = -1;
	for (k = 0; k < w->nfds; k++)
		close(w->fds[k]);
	w->nfds = 0;
	if (rc < 0)
		w->err = "fsync of a batch";
	return rc;
}

/* --- runs ----------------------------------------------------------------- */

static void *sw_work(void *arg)
{
	struct sw_worker *w = arg;
	char buf[SW_CHUNK], rec[SW_REC];
	uint64_t i, b0 = 0, b;
	int64_t t, per, files;
	int rc;

	for (i = 0; i < w->count; i++) {
		memset(buf, (int)(i & 0xff), sizeof(buf));
		memcpy(buf, &i, sizeof(i));
		t = gfs_mono_ns();
		if (w->mode != SW_JOURNAL && w->mode != SW_GROUP)
			rc = chunk_one(w, w->first + i, buf,
				       w->steps + i * SW_MAX_STEPS);
		else
			rc = journal_one(w, w->first + i, buf, rec,
					 w->steps + i * SW_MAX_STEPS);
		if (rc < 0)
			return NULL;
		w->lat[i] = gfs_mono_ns() - t;
		if (w->mode != SW_BATCH ||
		    (i - b0 + 1 < (uint64_t)w->batch && i + 1 < w->count))
			continue;
		t = gfs_mono_ns();
		if (batch_sync(w, &files) < 0)
			return NULL;
		per = (gfs_mono_ns() - t) / (int64_t)(i - b0 + 1);
		files /= (int64_t)(i - b0 + 1);
		for (b = b0; b <= i; b++) {
			w->lat[b] += per;
			w->steps[b * SW_MAX_STEPS + 5] = files;
			w->steps[b * SW_MAX_STEPS + 6] = per - files;
		}
		b0 = i + 1;
	}
	return NULL;
}

/* A fresh instance directory under run: 256 subdirectories as the
 * chunkstore has, or a journal of room bytes. */
static int instance_dir(int run, int k, enum sw_mode mode, uint64_t room,
			int *jfd)
{
	char name[16];
	int top, i;

	snprintf(name, sizeof(name), "i%d", k);
	if (mkdirat(run, name, 0755) < 0)
		sw_die("mkdir");
	top = openat(run, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		sw_die("open the instance directory");
	*jfd = -1;
	if (mode == SW_JOURNAL || mode == SW_GROUP) {
		*jfd = journal_open(top, room);
		if (*jfd < 0)
			sw_die("pre-zeroing the journal");
		return top;
	}
	for (i = 0; i < 256; i++) {
		snprintf(name, sizeof(name), "%02x", i);
		if (mkdirat(top, name, 0755) < 0)
			sw_die("mkdir");
	}
	if (fsync(top) < 0)
		sw_die("fsync");
	return top;
}

struct sw_conf {
	enum sw_mode mode;
	uint64_t n;
	int runs, par, writers, batch;
	const char *dir;
};

struct sw_result {
	int64_t p50, p99;        /* ns */
	double ops;              /* chunks per second */
	int64_t step[SW_MAX_STEPS]; /* medians, ns */
	double per_sync;         /* chunks per fdatasync (group) */
};

/* nftw callback: remove one file or (emptied) directory. */
static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *f)
{
	(void)st;
	(void)f;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Run c->n chunks in threads: c->par instances of c->writers threads
 * each (writers share their instance's journal in group mode). */
static void sw_run(const struct sw_conf *c, struct sw_result *r)
{
	int nthreads = c->par * c->writers, k, s, top[SW_MAX_THREADS];
	struct gfs_inodepool *pool[SW_MAX_THREADS] = { NULL };
	struct sw_journal j[SW_MAX_THREADS];
	struct sw_worker w[SW_MAX_THREADS];
	pthread_t th[SW_MAX_THREADS];
	uint64_t each = c->n / (uint64_t)nthreads, total = 0, syncs = 0, i;
	char tmpl[4096];
	int64_t *lat, *col, t0, wall;
	int run, jfd;

	snprintf(tmpl, sizeof(tmpl), "%s/smallwrite.XXXXXX", c->dir);
	if (!mkdtemp(tmpl))
		sw_die("mkdtemp");
	run = open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (run < 0)
		sw_die("open");
	for (k = 0; k < c->par; k++) {
		top[k] = instance_dir(run, k, c->mode,
				      (each * (uint64_t)c->writers + 1) *
				      SW_REC, &jfd);
		if (jfd >= 0)
			journal_init(&j[k], jfd);
		if (c->mode == SW_TMPFILE &&
		    !(pool[k] = gfs_inodepool_start(top[k], SW_POOL, false,
						    tmpl)))
			sw_die("no O_TMPFILE here");
	}
	for (k = 0; k < nthreads; k++) {
		w[k] = (struct sw_worker){
			.mode = c->mode, .top = top[k / c->writers],
			.j = &j[k / c->writers], .pool = pool[k / c->writers],
			.first = ((uint64_t)k << 32) + 1, .count = each,
			.batch = c->batch,
			.lat = calloc(each, sizeof(int64_t)),
			.steps = calloc(each * SW_MAX_STEPS, sizeof(int64_t)),
		};
		if (!w[k].lat || !w[k].steps)
			sw_die("calloc");
	}
	t0 = gfs_mono_ns();
	for (k = 0; k < nthreads; k++)
		if (pthread_create(&th[k], NULL, sw_work, &w[k]))
			sw_die("pthread_create");
	for (k = 0; k < nthreads; k++)
		pthread_join(th[k], NULL);
	wall = gfs_mono_ns() - t0;
	for (k = 0; k < nthreads; k++)
		if (w[k].err) {
			fprintf(stderr, "gfs-smallwrite: %s failed: %s\n",
				w[k].err, strerror(errno));
			exit(1);
		}
	lat = malloc(each * (uint64_t)nthreads * sizeof(int64_t));
	col = malloc(each * (uint64_t)nthreads * sizeof(int64_t));
	if (!lat || !col)
		sw_die("malloc");
	for (k = 0; k < nthreads; k++)
		for (i = 0; i < each; i++)
			lat[total++] = w[k].lat[i];
	r->ops = (double)total * 1e9 / (double)wall;
	r->p50 = quantile(lat, total, 0.5);
	r->p99 = quantile(lat, total, 0.99);
	for (s = 0; s < sw_nsteps[c->mode]; s++) {
		uint64_t m = 0;

		for (k = 0; k < nthreads; k++)
			for (i = 0; i < each; i++)
				col[m++] = w[k].steps[i * SW_MAX_STEPS + s];
		r->step[s] = quantile(col, m, 0.5);
	}
	for (k = 0; k < c->par; k++)
		if (c->mode == SW_JOURNAL || c->mode == SW_GROUP) {
			syncs += j[k].fsyncs;
			close(j[k].fd);
		}
	r->per_sync = syncs ? (double)total / (double)syncs : 0;
	for (k = 0; k < nthreads; k++) {
		free(w[k].lat);
		free(w[k].steps);
	}
	free(lat);
	free(col);
	for (k = 0; k < c->par; k++) {
		gfs_inodepool_stop(pool[k]);
		close(top[k]);
	}
	close(run);
	if (nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		fprintf(stderr, "gfs-smallwrite: could not remove %s\n", tmpl);
}

static void sw_print(const struct sw_conf *c, const char *what,
		     const struct sw_result *r)
{
	int s;

	printf("%s: p50 %.0f us  p99 %.0f us  %.0f chunks/s  steps",
	       what, (double)r->p50 / 1e3, (double)r->p99 / 1e3, r->ops);
	for (s = 0; s < sw_nsteps[c->mode]; s++)
		printf(" %s %.0f", sw_step_names[c->mode][s],
		       (double)r->step[s] / 1e3);
	if (r->per_sync > 0)
		printf("  chunks/fdatasync %.2f", r->per_sync);
	printf("\n");
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of each figure over the runs (each figure on its own). */
static void sw_median(struct sw_result *rs, int n, struct sw_result *m)
{
	int64_t v[64];
	double d[64];
	int i, s;

	for (i = 0; i < n; i++)
		v[i] = rs[i].p50;
	m->p50 = quantile(v, (size_t)n, 0.5);
	for (i = 0; i < n; i++)
		v[i] = rs[i].p99;
	m->p99 = quantile(v, (size_t)n, 0.5);
	for (s = 0; s < SW_MAX_STEPS; s++) {
		for (i = 0; i < n; i++)
			v[i] = rs[i].step[s];
		m->step[s] = quantile(v, (size_t)n, 0.5);
	}
	for (i = 0; i < n; i++)
		d[i] = rs[i].ops;
	qsort(d, (size_t)n, sizeof(*d), cmp_dbl);
	m->ops = d[(n - 1) / 2];
	for (i = 0; i < n; i++)
		d[i] = rs[i].per_sync;
	qsort(d, (size_t)n, sizeof(*d), cmp_dbl);
	m->per_sync = d[(n - 1) / 2];
}

static void usage(void)
{
	fprintf(stderr, "usage: gfs-smallwrite [-n N] [-r RUNS] [-p P] "
		"[-w W] [-b B] chunk|datasync|journal|group|batch|tmpfile "
		"DIR\n");
	exit(2);
}

static int parse_small(const char *s, int lo, int hi)
{
	uint64_t v;

	if (!gfs_parse_u64(s, &v) || v < (uint64_t)lo || v > (uint64_t)hi)
		usage();
	return (int)v;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "chunk", "datasync", "journal",
					     "group", "batch", "tmpfile" };
	struct sw_conf c = { .n = 2000, .runs = 3, .par = 1, .writers = 1,
			     .batch = 64 };
	struct sw_result rs[64], m;
	char what[96];
	int o, i;

	while ((o = getopt(argc, argv, "n:r:p:w:b:")) != -1) {
		if (o == 'n')
			c.n = (uint64_t)parse_small(optarg, 1, 1 << 24);
		else if (o == 'r')
			c.runs = parse_small(optarg, 1, 64);
		else if (o == 'p')
			c.par = parse_small(optarg, 1, SW_MAX_THREADS);
		else if (o == 'w')
			c.writers = parse_small(optarg, 1, SW_MAX_THREADS);
		else if (o == 'b')
			c.batch = parse_small(optarg, 1, SW_MAX_BATCH);
		else
			usage();
	}
	if (argc - optind != 2)
		usage();
	for (i = 0; i < 6 && strcmp(argv[optind], modes[i]); i++)
		;
	if (i == 6 || c.par * c.writers > SW_MAX_THREADS ||
	    c.n < (uint64_t)(c.par * c.writers))
		usage();
	c.mode = (enum sw_mode)i;
	if (c.mode != SW_GROUP)
		c.writers = 1;
	c.dir = argv[optind + 1];
	for (i = 0; i < c.runs; i++) {
		sw_run(&c, &rs[i]);
		snprintf(what, sizeof(what), "%s p=%d w=%d n=%llu run %d",
			 modes[c.mode], c.par, c.writers,
			 (unsigned long long)c.n, i + 1);
		sw_print(&c, what, &rs[i]);
		fflush(stdout);
	}
	sw_median(rs, c.runs, &m);
	snprintf(what, sizeof(what), "%s p=%d w=%d n=%llu median of %d",
		 modes[c.mode], c.par, c.writers, (unsigned long long)c.n,
		 c.runs);
	sw_print(&c, what, &m);
	return 0;
}

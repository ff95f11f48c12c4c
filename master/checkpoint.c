/*
 * checkpoint.c - write and load checkpoints; see checkpoint.h.
 *
 * Writing: gfs_ckpt_start() forks under the master lock, so the child's
 * copy of the state is exactly the state at seq `next`; the child
 * (child_main()) streams it as records into checkpoint.tmp, fsyncs and
 * exits with 0 or an errno, and does nothing else: no logging, no locks
 * (the other threads' locks may be held in its copy), only malloc, which
 * glibc keeps usable in the child of a multithreaded fork, and plain
 * system calls.  It closes every descriptor it inherited but stdio, dies
 * with its parent thread (PR_SET_PDEATHSIG), and
 * runs at a lower priority than the master.  Meanwhile the parent rotates
 * the log without the master lock, and the tick thread polls the child
 * (gfs_ckpt_poll()); when it succeeded and the state was not replaced
 * since the fork (the log's generation), checkpoint.tmp is renamed over
 * checkpoint under the lock, the directory is fsync'ed without it, and
 * the segments older than the previous checkpoint are dropped.  A child
 * that fails leaves the old checkpoint and the whole log in place.
 *
 * Not for: deciding when (master.c) or what records mean (journal.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "journal.h"
#include "lease.h"
#include "log.h"
#include "master.h"
#include "util.h"
#include "xattr.h"

#define CKPT_PREFIX "GFSCKPT"
#define CKPT_HDR 16
#define CKPT_TMP "checkpoint.tmp"     /* the child's file */
#define CKPT_RECV "checkpoint.recv"   /* one received from the primary */
#define FLUSH_AT (1u << 20)           /* bytes buffered by the child */
#define SYNC_EVERY (4u << 20)         /* bytes between two write-backs */
#define CHILD_DEADLINE_MS (30 * 60 * 1000)
#define RETRY_MS 10000                /* after a failed checkpoint */
#define POLL_MS 10                    /* waiting for the child */

/* The child's serialiser: records framed into a buffer written out
 * every FLUSH_AT bytes. */
struct writer {
	struct gfs_enc out;     /* framed, not yet written */
	struct gfs_enc rec;     /* scratch: one record body */
	int fd;
	int err;                /* first errno, 0 */
	uint64_t written;       /* bytes in the file */
	uint64_t synced;        /* bytes handed to write-back */
	uint64_t n;             /* records written */
	int64_t now_ms;
	int pass;               /* of the namespace: node_cb() */
	struct gfs_xattrs *xattrs; /* the namespace's (borrowed) */
};

/*
 * Write out what is buffered.  Every SYNC_EVERY bytes the new ones are
 * handed to write-back after waiting for the previous ones, as redis does
 * while it saves (rdb_fsync_range): the dirty pages stay a few MiB, so
 * the final fsync is short and the op log's fdatasyncs (ext4 commits its
 * journal for them, data=ordered) never wait behind a whole checkpoint.
 */
static void drain(struct writer *w)
{
	if (!w->err && gfs_write_all(w->fd, w->out.buf, w->out.len) < 0)
		w->err = errno ? errno : EIO;
	w->written += w->out.len;
	w->out.len = 0;
	if (w->err || w->written - w->synced < SYNC_EVERY)
		return;
	if (sync_file_range(w->fd, (off_t)w->synced,
			    (off_t)(w->written - w->synced),
			    SYNC_FILE_RANGE_WAIT_BEFORE |
				    SYNC_FILE_RANGE_WRITE) < 0)
		w->err = errno;
	w->synced = w->written;
}

static void put(struct writer *w)
{
	gfs_oplog_frame(&w->out, ++w->n, w->rec.buf, w->rec.len);
	w->rec.len = 0;
	if (w->out.len >= FLUSH_AT)
		drain(w);
}

static void put_cb(void *cls)
{
	put(cls);
}

/* Pass 1: every inode at its own name (parents before children), with
 * its extended attributes, chunks and lease.  A visible file with data
 * is one CREATE_COMMIT (one record, one path walk at load); a hidden
 * upload, which has none, a MKNODE. */
static void inode_cb(struct writer *w, struct gfs_node *n, const char *path)
{
	bool data = n->type == GFS_NODE_FILE &&
		    (n->file.nchunks || n->file.size);
	struct gfs_lease *l;

	if (n->type == GFS_NODE_LINK)
		return;
	if (data && !n->hidden)
		gfs_rec_create_commit_of(&w->rec, path, n);
	else
		gfs_rec_mknode_of(&w->rec, path, n);
	put(w);
	gfs_rec_xattrs_of(&w->rec, path, gfs_xattr_of(w->xattrs, n), put_cb,
			  w);
	if (n->type != GFS_NODE_FILE)
		return;
	if (data && n->hidden) {
		gfs_rec_commit_file(&w->rec, path, n);
		put(w);
	}
	l = gfs_lease_get(n, w->now_ms);
	if (l) {
		gfs_rec_lease(&w->rec, path, l->holder, l->expires_ms, l->ttl);
		put(w);
	}
}

/* Pass 2: further names (hard links), with their inode's ctime. */
static void link_cb(struct writer *w, struct gfs_node *n, const char *path)
{
	char target[GFS_PATH_MAX + 1];

	if (n->type != GFS_NODE_LINK)
		return;
	gfs_ns_path(n->link.target, target);
	gfs_rec_link(&w->rec, target, path, n->link.target->ctime_ns);
	put(w);
}

/* Pass 3: directories' times exactly (entries made below them moved
 * them). */
static void dir_times(struct writer *w, struct gfs_node *n, const char *path)
{
	struct gfs_rec_inode a = {
		.mode = n->mode, .uid = n->uid, .gid = n->gid,
		.atime_ns = n->atime_ns, .mtime_ns = n->mtime_ns,
		.ctime_ns = n->ctime_ns,
	};

	gfs_rec_attr(&w->rec, path, GFS_ATTR_ALL, &a);
	put(w);
}

static void node_cb(void *cls, struct gfs_node *n, const char *path)
{
	struct writer *w = cls;

	if (w->pass == 1)
		inode_cb(w, n, path);
	else if (w->pass == 2)
		link_cb(w, n, path);
	else if (n->type == GFS_NODE_DIR)
		dir_times(w, n, path);
}

static void kept_cb(void *cls, const struct gfs_kept *k)
{
	struct writer *w = cls;

	gfs_rec_kept_file(&w->rec, k);
	put(w);
	gfs_rec_kept_xattrs(&w->rec, k, gfs_xattr_of(w->xattrs, k->node),
			    put_cb, w);
}

static void request_cb(void *cls, const struct gfs_request *req)
{
	struct writer *w = cls;

	gfs_rec_request(&w->rec, &req->id, req->time_ms);
	put(w);
}

/* The whole state as checkpoint records into w.  O(nodes + chunks +
 * remembered request ids). */
static void serialise(struct gfs_master *m, struct writer *w, uint64_t next)
{
	uint8_t *h = gfs_enc_reserve(&w->out, CKPT_HDR);

	memcpy(h, CKPT_PREFIX, 7);
	h[7] = (uint8_t)('0' + GFS_FORMAT);
	gfs_put_u64(h + 8, next);
	w->out.len += CKPT_HDR;
	w->now_ms = gfs_lease_now_ms();
	w->xattrs = m->ns.xattrs;
	gfs_rec_epoch(&w->rec, m->epoch,
		      m->epoch_owner ? m->epoch_owner : m->primary_url);
	put(w);
	gfs_rec_reserve(&w->rec, m->chunks.reserved);
	put(w);
	gfs_requests_each(&m->requests, w->now_ms, request_cb, w);
	gfs_kept_each(&m->ns.kept, kept_cb, w);
	for (w->pass = 1; w->pass <= 3; w->pass++)
		gfs_ns_walk(m->ns.root, node_cb, w);
	dir_times(w, m->ns.root, "/");
	gfs_rec_xattrs_of(&w->rec, "/", gfs_xattr_of(m->ns.xattrs, m->ns.root),
			  put_cb, w);
	gfs_rec_end(&w->rec, w->n);
	put(w);
	drain(w);
	gfs_enc_free(&w->rec);
	gfs_enc_free(&w->out);
}

/* Write the state into a new <data>/checkpoint.tmp and fsync it.  0 or
 * an errno.  Runs in the child. */
static int write_tmp(struct gfs_master *m, uint64_t next)
{
	char *tmp = gfs_xasprintf("%s/" CKPT_TMP, m->conf.data);
	struct writer w = { .fd = -1 };

	/* a fresh inode: a writer left over from a crashed master may still
	 * hold the old one */
	if (unlink(tmp) < 0 && errno != ENOENT)
		w.err = errno;
	else if ((w.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
			      0644)) < 0)
		w.err = errno;
	free(tmp);
	if (w.err)
		return w.err;
	serialise(m, &w, next);
	if (!w.err && fsync(w.fd) < 0)
		w.err = errno;
	if (close(w.fd) < 0 && !w.err)
		w.err = errno;
	return w.err;
}

static _Noreturn void child_main(struct gfs_master *m, uint64_t next,
				 pid_t parent)
{
	int err;

	/* Nothing but stdio: a listening socket or a client connection kept
	 * open here would outlive a crashed master (a restart could not
	 * bind its port) or a connection the master closed. */
	close_range(3, ~0u, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(ESRCH);
	setpriority(PRIO_PROCESS, 0, 10);
	err = write_tmp(m, next);
	_exit(err > 0 && err < 256 ? err : err ? EIO : 0);
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * fork() holds the master lock for as long as it copies the page tables
 * (about 10 ms per 250 MiB).  On a busy box the forking thread gets
 * preempted halfway, and every request waits the longer: 15-240 ms where
 * 8 ms would do, with 16 clients on 2 vCPUs.  So it forks at real-time
 * priority (SCHED_FIFO, the lowest level) and goes back at once; the child
 * starts as a normal process (SCHED_RESET_ON_FORK).  Without the right to
 * (CAP_SYS_NICE or RLIMIT_RTPRIO), it forks as it is.
 */
static bool fifo_begin(void)
{
	struct sched_param p = { .sched_priority = 1 };

	return sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &p) == 0;
}

static void fifo_end(bool was)
{
	struct sched_param p = { .sched_priority = 0 };

	if (was)
		sched_setscheduler(0, SCHED_OTHER, &p);
}

bool gfs_ckpt_due(struct gfs_master *m, int64_t now)
{
	return !m->ckpt.child && !m->fw.resync && now >= m->ckpt.retry_ms &&
	       m->applied_seq - m->ckpt_seq >= m->conf.checkpoint_every;
}

enum gfs_err gfs_ckpt_start(struct gfs_master *m)
{
	struct gfs_ckpt *k = &m->ckpt;
	pid_t parent = getpid(), pid;
	int64_t t0;
	bool fifo;

	pthread_mutex_lock(&m->lock);
	if (k->child || m->fw.resync) {
		pthread_mutex_unlock(&m->lock);
		return GFS_EUNAVAIL;
	}
	k->next = m->applied_seq;
	k->prev = m->ckpt_seq;
	k->log_gen = gfs_oplog_gen(m->log);
	fifo = fifo_begin();
	t0 = mono_us();
	pid = fork();
	if (pid == 0)
		child_main(m, k->next, parent);
	k->fork_us = mono_us() - t0;
	fifo_end(fifo);
	k->child = pid > 0 ? pid : 0;
	k->started_ms = gfs_mono_ms();
	if (pid < 0)
		k->retry_ms = k->started_ms + RETRY_MS;
	pthread_mutex_unlock(&m->lock);
	if (pid < 0) {
		gfs_error("checkpoint: cannot fork: %s", strerror(errno));
		return GFS_EIO;
	}
	gfs_oplog_rotate(m->log);
	return GFS_OK;
}

/* Why the writer failed, for the log (static or buf). */
static const char *child_why(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		return strerror(WEXITSTATUS(status));
	snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
	return buf;
}

/* checkpoint.tmp over checkpoint when the writer succeeded (status) and
 * the state was not replaced since the fork (a re-sync stored the
 * primary's); else it goes.  Lock held; a rename is a metadata update, no
 * sync.  0, or an errno (ESTALE: replaced). */
static int rename_locked(struct gfs_master *m, int status)
{
	char *tmp = gfs_xasprintf("%s/" CKPT_TMP, m->conf.data);
	char *dst = gfs_xasprintf("%s/checkpoint", m->conf.data);
	int err = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;

	if (!err && gfs_oplog_gen(m->log) != m->ckpt.log_gen)
		err = ESTALE;
	else if (!err && rename(tmp, dst) < 0)
		err = errno;
	if (err)
		unlink(tmp);
	free(tmp);
	free(dst);
	return err;
}

/* The writer exited with status: put its checkpoint in place. */
static enum gfs_err finish(struct gfs_master *m, int status)
{
	struct gfs_ckpt *k = &m->ckpt;
	int64_t now = gfs_mono_ms();
	char buf[64];
	const char *why = NULL;
	int err;

	pthread_mutex_lock(&m->lock);
	k->child = 0;
	err = rename_locked(m, status);
	pthread_mutex_unlock(&m->lock);
	if (err == ESTALE)
		return GFS_OK; /* the state it saved was replaced meanwhile */
	if (err)
		why = status ? child_why(status, buf, sizeof(buf))
			     : strerror(err);
	else if (gfs_fsync_dir(m->conf.data) < 0)
		why = strerror(errno);
	pthread_mutex_lock(&m->lock);
	if (why)
		k->retry_ms = now + RETRY_MS;
	else if (gfs_oplog_gen(m->log) == k->log_gen)
		m->ckpt_seq = k->next;
	pthread_mutex_unlock(&m->lock);
	if (why) {
		gfs_error("checkpoint at record %" PRIu64 " failed: %s; the "
			  "previous one and the log stay", k->next, why);
		return GFS_EIO;
	}
	k->written++;
	gfs_oplog_drop_before(m->log, k->prev, k->log_gen);
	gfs_info("checkpoint at record %" PRIu64 " (fork %.1f ms under the "
		 "lock, %" PRId64 " ms in all)", k->next,
		 (double)k->fork_us / 1000, now - k->started_ms);
	return GFS_OK;
}

enum gfs_err gfs_ckpt_poll(struct gfs_master *m, bool wait)
{
	struct gfs_ckpt *k = &m->ckpt;
	pid_t pid, r;
	int status = 0;

	pthread_mutex_lock(&m->lock);
	pid = k->child;
	pthread_mutex_unlock(&m->lock);
	if (!pid)
		return GFS_OK;
	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (gfs_mono_ms() - k->started_ms > CHILD_DEADLINE_MS) {
			gfs_error("checkpoint writer %d runs for too long: "
				  "killing it", (int)pid);
			kill(pid, SIGKILL);
			r = waitpid(pid, &status, 0);
			break;
		}
		if (!wait)
			return GFS_EUNAVAIL;
		nanosleep(&(struct timespec){ 0, POLL_MS * 1000000L }, NULL);
	}
	if (r < 0)
		status = ECHILD << 8; /* as if it exited with ECHILD: failed */
	return finish(m, status);
}

enum gfs_err gfs_ckpt_write(struct gfs_master *m)
{
	enum gfs_err err;

	gfs_ckpt_poll(m, true); /* one still running: it finishes first */
	err = gfs_ckpt_start(m);
	return err ? err : gfs_ckpt_poll(m, true);
}

/* Bytes to <data>/name, fsync, rename over checkpoint, fsync dir. */
static enum gfs_err write_file(const char *dir, const char *name,
			       const uint8_t *buf, size_t len)
{
	if (gfs_file_replace(dir, name, "checkpoint", buf, len) == 0)
		return GFS_OK;
	gfs_error("cannot write %s/checkpoint (through %s): %s", dir, name,
		  strerror(errno));
	return GFS_EIO;
}

enum gfs_err gfs_ckpt_load_buf(struct gfs_master *m, const uint8_t *buf,
			       size_t len, uint64_t *next)
{
	size_t off = CKPT_HDR, n;
	uint64_t seq, expect = 1;

	if (len < CKPT_HDR || gfs_oplog_format_of(buf, CKPT_PREFIX) < 0) {
		gfs_error("checkpoint: bad header");
		return GFS_EIO;
	}
	if (!gfs_oplog_format_ok(gfs_oplog_format_of(buf, CKPT_PREFIX), "checkpoint"))
		return GFS_EINVAL;
	*next = gfs_get_u64(buf + 8);
	while (off < len) {
		n = gfs_oplog_check_record(buf + off, len - off, &seq);
		if (!n || seq != expect) {
			gfs_error("checkpoint corrupt at offset %zu", off);
			return GFS_EIO;
		}
		if (!gfs_journal_apply(m, buf + off + GFS_OPLOG_HDR,
				       n - GFS_OPLOG_HDR)) {
			gfs_error("checkpoint record %" PRIu64 " does not apply",
				  seq);
			return GFS_EIO;
		}
		off += n;
		if (buf[off - n + GFS_OPLOG_HDR] == GFS_REC_END)
			return off == len ? GFS_OK : GFS_EIO;
		expect++;
	}
	gfs_error("checkpoint is truncated (no END record)");
	return GFS_EIO;
}

static enum gfs_err slurp(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? GFS_ENOENT : GFS_EIO;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return GFS_EIO;
	}
	*buf = gfs_xmalloc((size_t)st.st_size + 1);
	n = gfs_pread_all(fd, *buf, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size) {
		free(*buf);
		return GFS_EIO;
	}
	*len = (size_t)n;
	return GFS_OK;
}

/* The file at path mapped read-only, its pages read in at once: the
 * page cache itself, no copy into a buffer of ours (a million files'
 * checkpoint is about 190 MB).  *buf is NULL for an empty file. */
static enum gfs_err map_file(const char *path, const uint8_t **buf,
			     size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *p = NULL;

	if (fd < 0)
		return errno == ENOENT ? GFS_ENOENT : GFS_EIO;
	if (fstat(fd, &st) < 0)
		goto out_close;
	if (st.st_size > 0)
		p = mmap(NULL, (size_t)st.st_size, PROT_READ,
			 MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED)
		goto out_close;
	close(fd);
	*buf = p;
	*len = (size_t)st.st_size;
	return GFS_OK;
out_close:
	close(fd);
	return GFS_EIO;
}

enum gfs_err gfs_ckpt_load(struct gfs_master *m, uint64_t *next)
{
	char *path = gfs_xasprintf("%s/checkpoint", m->conf.data);
	const uint8_t *buf = NULL;
	size_t len = 0;
	enum gfs_err err = map_file(path, &buf, &len);

	*next = 1;
	if (err == GFS_ENOENT) {
		err = GFS_OK;
	} else if (err) {
		gfs_error("cannot read %s: %s", path, strerror(errno));
	} else {
		madvise((void *)buf, len, MADV_SEQUENTIAL);
		err = gfs_ckpt_load_buf(m, buf ? buf : (const uint8_t *)"",
					len, next);
		if (err && err != GFS_EINVAL) /* a version: said already */
			gfs_error("%s is corrupt; not starting", path);
	}
	if (buf)
		munmap((void *)buf, len);
	free(path);
	return err;
}

enum gfs_err gfs_ckpt_store(struct gfs_master *m, const uint8_t *buf,
			    size_t len)
{
	return write_file(m->conf.data, CKPT_RECV, buf, len);
}

enum gfs_err gfs_ckpt_read(struct gfs_master *m, uint8_t **buf, size_t *len,
			   uint64_t *next)
{
	char *path = gfs_xasprintf("%s/checkpoint", m->conf.data);
	enum gfs_err err = slurp(path, buf, len);

	free(path);
	if (err)
		return err;
	if (*len < CKPT_HDR) {
		free(*buf);
		return GFS_EIO;
	}
	*next = gfs_get_u64(*buf + 8);
	return GFS_OK;
}

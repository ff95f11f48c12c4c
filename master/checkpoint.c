/*
 * checkpoint.c - write and load checkpoints; see checkpoint.h.
 *
 * Serialising takes the master lock for O(files + chunks) (about 30 ms
 * per 100,000 files); writing and fsyncing happen after it is released,
 * while mutations go on into the new log segment.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "journal.h"
#include "lease.h"
#include "log.h"
#include "master.h"
#include "util.h"

#define CKPT_MAGIC "GFSCKPT1"
#define CKPT_HDR 16

struct writer {
	struct gfs_enc out;     /* the file being built */
	struct gfs_enc rec;     /* scratch: one record body */
	uint64_t n;             /* records written */
	int64_t now_ms;
	bool dirs;              /* second pass: directories */
};

static void put(struct writer *w)
{
	gfs_oplog_frame(&w->out, ++w->n, w->rec.buf, w->rec.len);
	w->rec.len = 0;
}

static void node_cb(void *cls, struct gfs_node *n, const char *path)
{
	struct writer *w = cls;
	struct gfs_lease *l;

	if (w->dirs) {
		if (n->type != GFS_NODE_DIR)
			return;
		gfs_rec_dir(&w->rec, path, n->is_explicit, n->mode,
			    n->mtime_ns);
		put(w);
		return;
	}
	if (n->type != GFS_NODE_FILE)
		return;
	gfs_rec_create(&w->rec, path, n->hidden ? GFS_CREATE_HIDDEN
						: GFS_NODE_FILE,
		       n->mode, n->mtime_ns, n->file.chunk_size);
	put(w);
	if (n->file.nchunks || n->file.size) {
		gfs_rec_commit_file(&w->rec, path, n);
		put(w);
	}
	l = gfs_lease_get(n, w->now_ms);
	if (l) {
		gfs_rec_lease(&w->rec, path, l->holder, l->expires_ms, l->ttl);
		put(w);
	}
}

static void request_cb(void *cls, const struct gfs_request *req)
{
	struct writer *w = cls;

	gfs_rec_request(&w->rec, &req->id, req->time_ms);
	put(w);
}

/* The whole state as checkpoint bytes.  Lock held.  O(nodes + chunks +
 * remembered request ids). */
static void serialise(struct gfs_master *m, struct writer *w, uint64_t next)
{
	uint8_t *h = gfs_enc_reserve(&w->out, CKPT_HDR);

	memcpy(h, CKPT_MAGIC, 8);
	gfs_put_u64(h + 8, next);
	w->out.len += CKPT_HDR;
	w->now_ms = gfs_lease_now_ms();
	gfs_rec_epoch(&w->rec, m->epoch, m->primary_url);
	put(w);
	gfs_rec_reserve(&w->rec, m->chunks.reserved);
	put(w);
	gfs_requests_each(&m->requests, w->now_ms, request_cb, w);
	gfs_ns_walk(m->ns.root, node_cb, w);
	w->dirs = true;
	gfs_rec_dir(&w->rec, "/", true, m->ns.root->mode, m->ns.root->mtime_ns);
	put(w);
	gfs_ns_walk(m->ns.root, node_cb, w);
	gfs_rec_end(&w->rec, w->n);
	put(w);
	gfs_enc_free(&w->rec);
}

/* tmp, fsync, rename, fsync dir. */
static enum gfs_err write_file(const char *dir, const uint8_t *buf, size_t len)
{
	char *tmp = gfs_xasprintf("%s/checkpoint.tmp", dir);
	char *dst = gfs_xasprintf("%s/checkpoint", dir);
	enum gfs_err err = GFS_EIO;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || gfs_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		gfs_error("cannot write %s: %s", tmp, strerror(errno));
		goto out_close;
	}
	if (rename(tmp, dst) < 0 || gfs_fsync_dir(dir) < 0) {
		gfs_error("cannot rename %s: %s", tmp, strerror(errno));
		goto out_close;
	}
	err = GFS_OK;
out_close:
	if (fd >= 0)
		close(fd);
	if (err)
		unlink(tmp);
	free(tmp);
	free(dst);
	return err;
}

enum gfs_err gfs_ckpt_write(struct gfs_master *m)
{
	struct writer w = { 0 };
	uint64_t next, prev, gen;
	int64_t t0 = gfs_mono_ms(), t1;
	enum gfs_err err;

	pthread_mutex_lock(&m->lock);
	if (m->ckpt_busy) {
		pthread_mutex_unlock(&m->lock);
		return GFS_OK;
	}
	m->ckpt_busy = true;
	next = m->applied_seq;
	serialise(m, &w, next);
	gen = gfs_oplog_gen(m->log);
	prev = m->ckpt_seq;
	pthread_mutex_unlock(&m->lock);
	gfs_oplog_rotate(m->log);
	t1 = gfs_mono_ms();
	err = write_file(m->conf.data, w.out.buf, w.out.len);
	pthread_mutex_lock(&m->lock);
	m->ckpt_busy = false;
	if (!err)
		m->ckpt_seq = next;
	pthread_mutex_unlock(&m->lock);
	if (!err) {
		gfs_oplog_drop_before(m->log, prev, gen);
		gfs_info("checkpoint at record %" PRIu64 ": %" PRIu64
			 " records, %zu bytes (%lld ms locked, %lld ms in all)",
			 next, w.n, w.out.len, (long long)(t1 - t0),
			 (long long)(gfs_mono_ms() - t0));
	}
	gfs_enc_free(&w.out);
	return err;
}

enum gfs_err gfs_ckpt_load_buf(struct gfs_master *m, const uint8_t *buf,
			       size_t len, uint64_t *next)
{
	size_t off = CKPT_HDR, n;
	uint64_t seq, expect = 1;

	if (len < CKPT_HDR || memcmp(buf, CKPT_MAGIC, 8)) {
		gfs_error("checkpoint: bad header");
		return GFS_EIO;
	}
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

enum gfs_err gfs_ckpt_load(struct gfs_master *m, uint64_t *next)
{
	char *path = gfs_xasprintf("%s/checkpoint", m->conf.data);
	uint8_t *buf = NULL;
	size_t len = 0;
	enum gfs_err err = slurp(path, &buf, &len);

	*next = 1;
	if (err == GFS_ENOENT) {
		err = GFS_OK;
	} else if (err) {
		gfs_error("cannot read %s: %s", path, strerror(errno));
	} else {
		err = gfs_ckpt_load_buf(m, buf, len, next);
		if (err)
			gfs_error("%s is corrupt; not starting", path);
	}
	free(buf);
	free(path);
	return err;
}

enum gfs_err gfs_ckpt_store(struct gfs_master *m, const uint8_t *buf,
			    size_t len)
{
	return write_file(m->conf.data, buf, len);
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

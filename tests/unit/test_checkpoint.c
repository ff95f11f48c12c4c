/*
 * Tests of master/checkpoint.c: checkpoints written by a forked child
 * from a snapshot of the state, while the master goes on.  A whole
 * master is opened on a temp dir (no threads, no HTTP); "a crash" is the
 * log closed without a checkpoint, then the master opened again.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../master/checkpoint.h"
#include "../../master/journal.h"
#include "../../master/lease.h"
#include "../../master/master.h"
#include "../../master/ops.h"
#include "../../master/xattr.h"
#include "util.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/gfs-ckpt-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(checkpoint, .init = setup, .fini = teardown, .timeout = 120);

static void open_master(struct gfs_master *m)
{
	memset(m, 0, sizeof(*m));
	m->conf.data = dir;
	m->conf.chunk_size = 1 << 20;
	m->conf.replicas = 3;
	m->conf.dead_after_ms = 6000;
	m->conf.failover_ms = 10000;
	m->conf.gc_interval_ms = 5000;
	m->conf.orphan_grace_ms = 3600000;
	m->conf.checkpoint_every = 1000000;
	m->conf.detach_ms = 1500;
	m->self_url = "http://127.0.0.1:1";
	cr_assert_eq(gfs_master_open(m), GFS_OK);
	m->probation_until = 0;
}

/* The log alone survives: no checkpoint at close. */
static void crash_and_reopen(struct gfs_master *m)
{
	gfs_oplog_close(m->log);
	m->log = NULL;
	gfs_master_close(m);
	open_master(m);
}

/* Log and apply one record; wait until it is durable.  Its seq. */
static uint64_t logged(struct gfs_master *m, struct gfs_enc *rec)
{
	uint64_t seq;

	pthread_mutex_lock(&m->lock);
	seq = gfs_ops_log(m, rec);
	pthread_mutex_unlock(&m->lock);
	cr_assert_eq(gfs_ops_wait(m, seq), GFS_OK);
	return seq;
}

static uint64_t create(struct gfs_master *m, const char *path, int type)
{
	struct gfs_enc rec = { 0 };

	gfs_rec_create(&rec, path, (uint8_t)type, 0640, 42, 1 << 20);
	return logged(m, &rec);
}

/* Files, directories, chunks, a lease. */
static void build(struct gfs_master *m, int nfiles)
{
	struct gfs_rec_chunk kc = { 0, 900000, 2, 5000 };
	struct gfs_enc rec = { 0 };
	struct gfs_rec_chunk c[2] = { { 0, 0, 3, 1 << 20 },
				      { 1, 0, 1, 1000 } };
	char path[64];

	create(m, "/empty", GFS_NODE_DIR);
	gfs_rec_reserve(&rec, 1u << 20);
	logged(m, &rec);
	for (int i = 0; i < nfiles; i++) {
		snprintf(path, sizeof(path), "/d%d/f%d", i % 7, i);
		create(m, path, GFS_NODE_FILE);
		c[0].handle = 10 + 2 * (uint64_t)i;
		c[1].handle = 11 + 2 * (uint64_t)i;
		gfs_rec_commit(&rec, path, (1 << 20) + 1000, 7 + i, c, 2);
		logged(m, &rec);
	}
	gfs_rec_lease(&rec, "/d0/f0", "me", gfs_lease_now_ms() + 3600000,
		      3600);
	logged(m, &rec);
	gfs_rec_setattr(&rec, "/d1", GFS_SET_MODE, 0700, 0);
	logged(m, &rec);
	/* extended attributes on a file, a directory and the root, one
	 * replaced, one removed, values with NULs and empty */
	gfs_rec_xattr_set(&rec, "/d0/f0", "user.a", "v\0w", 3);
	logged(m, &rec);
	gfs_rec_xattr_set(&rec, "/d0/f0", "user.empty", "", 0);
	logged(m, &rec);
	gfs_rec_xattr_set(&rec, "/d0/f0", "user.a", "longer", 6);
	logged(m, &rec);
	gfs_rec_xattr_set(&rec, "/d0/f0", "user.gone", "x", 1);
	logged(m, &rec);
	gfs_rec_xattr_remove(&rec, "/d0/f0", "user.gone");
	logged(m, &rec);
	gfs_rec_xattr_set(&rec, "/d1", "user.dir", "d", 1);
	logged(m, &rec);
	gfs_rec_xattr_set(&rec, "/empty", "user.e", "e", 1);
	logged(m, &rec);
	gfs_rec_xattr_set(&rec, "/", "user.root", "r", 1);
	logged(m, &rec);
	/* a hard link shares its inode's attributes */
	gfs_rec_link(&rec, "/d1/f1", "/d1/hl", 5);
	logged(m, &rec);
	gfs_rec_xattr_set(&rec, "/d1/hl", "user.hl", "h", 1);
	logged(m, &rec);
	/* files unlinked while open: one kept and renewed, one dropped */
	create(m, "/k1", GFS_NODE_FILE);
	gfs_rec_commit(&rec, "/k1", 5000, 77, &kc, 1);
	logged(m, &rec);
	gfs_rec_xattr_set(&rec, "/k1", "user.k", "kv", 2);
	logged(m, &rec);
	gfs_rec_kept(&rec, "/k1", 1001, "client-a", 9000000000000, 60,
		     80);
	logged(m, &rec);
	gfs_rec_kept_renew(&rec, 1001, 9000000001000);
	logged(m, &rec);
	create(m, "/k2", GFS_NODE_FILE);
	gfs_rec_kept(&rec, "/k2", 1002, "client-b", 9000000000000, 60,
		     81);
	logged(m, &rec);
	gfs_rec_kept_drop(&rec, 1002);
	logged(m, &rec);
}

/* " name=hex..." for each extended attribute in xs appended to *s. */
static void dump_xattrs(const struct gfs_xattrs *xs, char **s)
{
	char *t;

	for (uint32_t i = 0; xs && i < xs->n; i++) {
		t = gfs_xasprintf("%s %s=", *s, xs->items[i].name);
		free(*s);
		*s = t;
		for (uint32_t j = 0; j < xs->items[i].len; j++) {
			t = gfs_xasprintf("%s%02x", *s, xs->items[i].value[j]);
			free(*s);
			*s = t;
		}
	}
}

struct lines {
	char **v;
	size_t n;
	struct gfs_xattrs *xattrs;
	char *kept; /* the kept files' lines */
};

static void kept_line(void *cls, const struct gfs_kept *k)
{
	struct lines *l = cls;
	struct gfs_chunk *c = gfs_ns_chunk_at(k->node, 0);
	char *t;

	t = gfs_xasprintf("%skept %llu %s %lld %u ino %llu nlink %u ctime "
			  "%lld size %llu mtime %lld [%llx v%u %u]", l->kept,
			  (unsigned long long)k->id, k->holder,
			  (long long)k->expires_ms, k->ttl,
			  (unsigned long long)k->node->ino, k->node->nlink,
			  (long long)k->node->ctime_ns,
			  (unsigned long long)k->node->file.size,
			  (long long)k->node->mtime_ns,
			  c ? (unsigned long long)c->handle : 0ull,
			  c ? c->version : 0, c ? c->length : 0);
	dump_xattrs(gfs_xattr_of(l->xattrs, k->node), &t);
	free(l->kept);
	l->kept = gfs_xasprintf("%s\n", t);
	free(t);
}

static void line_cb(void *cls, struct gfs_node *n, const char *path)
{
	struct lines *l = cls;
	char *s = gfs_xasprintf("%s %d %o %lld", path, n->type, n->mode,
				(long long)n->mtime_ns), *t;

	if (n->type == GFS_NODE_FILE) {
		for (uint32_t i = 0; i < n->file.nchunks; i++) {
			struct gfs_chunk *c = gfs_ns_chunks(n)[i];

			t = gfs_xasprintf("%s [%u %llx v%u %u]", s, c->index,
					  (unsigned long long)c->handle,
					  c->version, c->length);
			free(s);
			s = t;
		}
		t = gfs_xasprintf("%s size %llu lease %s", s,
				  (unsigned long long)n->file.size,
				  n->lease ? n->lease->holder : "-");
		free(s);
		s = t;
	}
	dump_xattrs(gfs_xattr_of(l->xattrs, gfs_ns_inode(n)), &s);
	l->v = gfs_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = s;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The whole namespace as sorted lines, plus the counters. */
static char *dump(struct gfs_master *m)
{
	struct lines l = { NULL, 0, m->ns.xattrs, gfs_xstrdup("") };
	char *s = gfs_xasprintf("files=%llu dirs=%llu chunks=%zu reserved=%llu"
				" epoch=%llu\n",
				(unsigned long long)m->ns.nfiles,
				(unsigned long long)m->ns.ndirs,
				m->chunks.count,
				(unsigned long long)m->chunks.reserved,
				(unsigned long long)m->epoch), *t;

	line_cb(&l, m->ns.root, "/");
	gfs_ns_walk(m->ns.root, line_cb, &l);
	qsort(l.v, l.n, sizeof(*l.v), str_cmp);
	for (size_t i = 0; i < l.n; i++) {
		t = gfs_xasprintf("%s%s\n", s, l.v[i]);
		free(s);
		free(l.v[i]);
		s = t;
	}
	free(l.v);
	gfs_kept_each(&m->ns.kept, kept_line, &l);
	t = gfs_xasprintf("%s%s", s, l.kept);
	free(s);
	free(l.kept);
	return t;
}

static char *path_in(const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* The bytes of a file (caller frees), NULL when absent. */
static char *contents(const char *name, size_t *len)
{
	FILE *f = fopen(path_in(name), "rb");
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(1 << 24);
	*len = fread(buf, 1, 1 << 24, f);
	fclose(f);
	return buf;
}

static int segments(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		n += !strncmp(e->d_name, "log.", 4);
	closedir(d);
	return n;
}

Test(checkpoint, restores_the_state_it_saved)
{
	struct gfs_master m;
	char *before, *after;
	struct stat st;

	open_master(&m);
	build(&m, 50);
	before = dump(&m);
	cr_assert_eq(gfs_ckpt_write(&m), GFS_OK);
	cr_assert_eq(m.ckpt_seq, m.applied_seq);
	cr_assert_neq(stat(path_in("checkpoint.tmp"), &st), 0, "tmp left");
	crash_and_reopen(&m);
	after = dump(&m);
	cr_assert_str_eq(after, before);
	cr_assert_eq(m.ckpt_seq, m.applied_seq, "nothing replayed");
	gfs_master_close(&m);
	free(before);
	free(after);
}

/* Records of each type in the checkpoint file. */
static void count_records(unsigned counts[256])
{
	size_t len = 0, off = 16, n;
	char *buf = contents("checkpoint", &len);
	uint64_t seq;

	cr_assert_not_null(buf);
	memset(counts, 0, 256 * sizeof(*counts));
	while (off < len) {
		n = gfs_oplog_check_record((uint8_t *)buf + off, len - off,
					   &seq);
		cr_assert_gt(n, 0, "bad record at %zu", off);
		counts[(uint8_t)buf[off + GFS_OPLOG_HDR]]++;
		off += n;
	}
	free(buf);
}

/* A file with data is one record of the checkpoint (CREATE_COMMIT, not
 * MKNODE + COMMIT) and its load walks one path a record: a million
 * files load in a million walks.  Every attribute comes back exactly. */
Test(checkpoint, a_file_with_data_is_one_record_and_one_walk)
{
	struct gfs_master m;
	struct gfs_enc rec = { 0 };
	struct gfs_rec_inode a = { .mode = 0604, .uid = 7, .gid = 8,
				   .atime_ns = 9, .ctime_ns = 10 };
	struct gfs_node *f, g;
	unsigned counts[256];
	uint64_t files, dirs;
	char *before, *after;

	open_master(&m);
	build(&m, 200);
	gfs_rec_attr(&rec, "/d2/f2", GFS_ATTR_MODE | GFS_ATTR_UID |
		     GFS_ATTR_GID | GFS_ATTR_ATIME | GFS_ATTR_CTIME, &a);
	logged(&m, &rec);
	cr_assert_eq(gfs_ns_lookup(&m.ns, "/d2/f2", &f), GFS_OK);
	g = *f;
	before = dump(&m);
	cr_assert_eq(gfs_ckpt_write(&m), GFS_OK);
	count_records(counts);
	cr_expect_eq(counts[GFS_REC_CREATE_COMMIT], 200);
	cr_expect_eq(counts[GFS_REC_COMMIT], 0);
	cr_expect_eq(counts[GFS_REC_MKNODE], m.ns.ndirs, "directories only");
	crash_and_reopen(&m);
	after = dump(&m);
	cr_assert_str_eq(after, before);
	files = m.ns.nfiles;
	dirs = m.ns.ndirs;
	/* a record a file, an explicit directory and an ATTR a directory,
	 * a few for leases, links and attributes */
	cr_expect_leq(m.ns.walks, files + 2 * dirs + 16, "%llu walks",
		      (unsigned long long)m.ns.walks);
	cr_assert_eq(gfs_ns_lookup(&m.ns, "/d2/f2", &f), GFS_OK);
	cr_expect_eq(f->ino, g.ino);
	cr_expect_eq(f->mode, 0604);
	cr_expect_eq(f->uid, 7);
	cr_expect_eq(f->gid, 8);
	cr_expect_eq(f->atime_ns, 9);
	cr_expect_eq(f->mtime_ns, g.mtime_ns);
	cr_expect_eq(f->ctime_ns, 10);
	cr_expect_eq(f->file.size, g.file.size);
	cr_expect_eq(f->file.nchunks, 2);
	gfs_master_close(&m);
	gfs_enc_free(&rec);
	free(before);
	free(after);
}

/* A format-2 checkpoint written before files were one CREATE_COMMIT
 * each (MKNODE, then COMMIT with its ctime) still loads the same. */
Test(checkpoint, loads_a_file_written_as_mknode_and_commit)
{
	struct gfs_master m;
	struct gfs_enc out = { 0 }, rec = { 0 };
	struct gfs_rec_inode in = { .type = GFS_NODE_FILE, .ino = 50,
				    .mode = 0640, .uid = 3, .gid = 4,
				    .atime_ns = 5, .mtime_ns = 6,
				    .ctime_ns = 7, .chunk_size = 1 << 20 };
	struct gfs_rec_chunk c = { 0, 77, 2, 1000 };
	uint64_t n = 0;
	struct gfs_node *f;
	FILE *fp;

	gfs_enc_bytes(&out, "GFSCKPT2", 8);
	gfs_enc_u64(&out, 1);
	gfs_rec_epoch(&rec, 1, "http://127.0.0.1:1");
	gfs_oplog_frame(&out, ++n, rec.buf, rec.len);
	rec.len = 0;
	gfs_rec_reserve(&rec, 1024);
	gfs_oplog_frame(&out, ++n, rec.buf, rec.len);
	rec.len = 0;
	gfs_rec_mknode(&rec, "/a/f", &in);
	gfs_oplog_frame(&out, ++n, rec.buf, rec.len);
	rec.len = 0;
	gfs_rec_commit(&rec, "/a/f", 1000, 6, &c, 1);
	gfs_rec_time(&rec, 7);
	gfs_oplog_frame(&out, ++n, rec.buf, rec.len);
	rec.len = 0;
	gfs_rec_end(&rec, n + 1);
	gfs_oplog_frame(&out, ++n, rec.buf, rec.len);
	fp = fopen(path_in("checkpoint"), "wb");
	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(out.buf, 1, out.len, fp), out.len);
	cr_assert_eq(fclose(fp), 0);
	open_master(&m);
	cr_assert_eq(gfs_ns_lookup(&m.ns, "/a/f", &f), GFS_OK);
	cr_expect_eq(f->ino, 50);
	cr_expect_eq(f->uid, 3);
	cr_expect_eq(f->atime_ns, 5);
	cr_expect_eq(f->mtime_ns, 6);
	cr_expect_eq(f->ctime_ns, 7);
	cr_expect_eq(f->file.size, 1000);
	cr_assert_eq(f->file.nchunks, 1);
	cr_expect_eq(gfs_ns_chunks(f)[0]->handle, 77);
	cr_expect_eq(m.chunks.count, 1);
	gfs_master_close(&m);
	gfs_enc_free(&out);
	gfs_enc_free(&rec);
}

Test(checkpoint, extended_attributes_and_kept_files_survive_restarts)
{
	struct gfs_master m;
	char *before, *after;

	open_master(&m);
	build(&m, 3);
	before = dump(&m);
	cr_assert(strstr(before, "/d0/f0 0 640 7 "), "%s", before);
	cr_assert(strstr(before, " user.a=6c6f6e676572 user.empty=\n"),
		  "%s", before);
	cr_assert(strstr(before, "/d1 1 700"), "%s", before);
	cr_assert(strstr(before, " user.dir=64\n"), "%s", before);
	/* the root: its times are its creation's, those of a new file system */
	cr_assert(strstr(before, "\n/ 1 755 "), "%s", before);
	cr_assert(strstr(before, " user.root=72\n"), "%s", before);
	cr_assert_null(strstr(before, "user.gone"));
	cr_assert(strstr(before, "/d1/f1 0 640 "), "%s", before);
	cr_assert(strstr(before, "lease - user.hl=68\n/d1/hl 7 "), "%s",
		  before);
	cr_assert(strstr(before, "kept 1001 client-a 9000000001000 60 ino "),
		  "%s", before);
	cr_assert(strstr(before, " nlink 0 ctime 80 size 5000 mtime 77 "
			 "[dbba0 v2 5000] user.k=6b76\n"),
		  "%s", before);
	cr_assert_null(strstr(before, "/k1"), "a kept file is off the tree");
	cr_assert_null(strstr(before, "1002"), "a dropped one is gone");
	crash_and_reopen(&m); /* the log replayed */
	after = dump(&m);
	cr_assert_str_eq(after, before);
	free(after);
	cr_assert_eq(gfs_ckpt_write(&m), GFS_OK);
	crash_and_reopen(&m); /* the checkpoint loaded */
	after = dump(&m);
	cr_assert_eq(m.ckpt_seq, m.applied_seq, "nothing replayed");
	cr_assert_str_eq(after, before);
	gfs_master_close(&m);
	free(before);
	free(after);
}

/* n more files, in a directory of their own. */
static void grow(struct gfs_master *m, int n)
{
	static int tag;
	char path[64];

	tag++;
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/g%d/f%d", tag, i);
		create(m, path, GFS_NODE_FILE);
	}
}

/* The state letter of process pid in /proc ('T' stopped, 'Z' exited). */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* Set while the next checkpoint writer is to stop itself at its birth. */
static volatile sig_atomic_t stop_at_fork;

static void stop_child(void)
{
	if (stop_at_fork)
		raise(SIGSTOP);
}

static void register_stop_child(void)
{
	pthread_atfork(NULL, NULL, stop_child);
}

/* Start a checkpoint whose writer stops itself as soon as it is forked
 * (a stop sent after gfs_ckpt_start() returned came too late whenever
 * the writer finished first, the parent busy rotating the op log: a
 * flake under load).  False when it was never seen stopped. */
static bool start_and_stop_writer(struct gfs_master *m)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int64_t deadline = gfs_mono_ms() + 20000;
	char st;

	pthread_once(&once, register_stop_child);
	stop_at_fork = 1;
	cr_assert_eq(gfs_ckpt_start(m), GFS_OK);
	stop_at_fork = 0;
	while ((st = proc_state(m->ckpt.child)) != 'T' && st != 'Z' &&
	       gfs_mono_ms() < deadline)
		usleep(1000);
	return st == 'T';
}

/* Whether process pid has a descriptor open on a file named name, and
 * (*other) one on anything but stdio and that file.  Descriptors at or
 * above our RLIMIT_NOFILE are not the program's: valgrind keeps its own
 * there, and lowers the limit it shows us below them. */
static bool holds_file(pid_t pid, const char *name, bool *other)
{
	char fds[64], link[PATH_MAX], target[PATH_MAX];
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	struct dirent *e;
	bool found = false;
	ssize_t n;
	DIR *d;

	getrlimit(RLIMIT_NOFILE, &rl);
	*other = false;
	snprintf(fds, sizeof(fds), "/proc/%d/fd", (int)pid);
	d = opendir(fds);
	if (!d)
		return false;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) <= 2 ||
		    (rlim_t)atoi(e->d_name) >= rl.rlim_cur)
			continue;
		snprintf(link, sizeof(link), "%s/%s", fds, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strstr(target, name))
			found = true;
		else
			*other = true;
	}
	closedir(d);
	return found;
}

Test(checkpoint, the_writer_keeps_no_descriptor_of_the_master)
{
	struct gfs_master m;
	int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool other = false, seen = false;
	int64_t deadline;

	cr_assert_geq(sock, 0);
	open_master(&m);
	build(&m, 50);
	/* A writer seen with its file open has closed everything else (its
	 * table changes only by its own hand); one that ended before it was
	 * seen is tried again with more state. */
	for (int tries = 0; tries < 10 && !seen; tries++) {
		cr_assert_eq(gfs_ckpt_start(&m), GFS_OK);
		deadline = gfs_mono_ms() + 5000;
		while (!(seen = holds_file(m.ckpt.child, "checkpoint.tmp",
					   &other)) &&
		       proc_state(m.ckpt.child) != 'Z' &&
		       gfs_mono_ms() < deadline)
			;
		cr_assert(!seen || !other, "the writer holds a master descriptor");
		cr_assert_eq(gfs_ckpt_poll(&m, true), GFS_OK);
		grow(&m, 200 << tries);
	}
	cr_assert(seen, "never saw a writer with its file open");
	gfs_master_close(&m);
	close(sock);
}

Test(checkpoint, a_mutation_during_the_checkpoint_is_in_the_log_after_it)
{
	struct gfs_master m;
	uint64_t seq;
	char *before, *after;

	open_master(&m);
	build(&m, 50);
	/* the writer is held: the master must go on without it */
	cr_assert(start_and_stop_writer(&m), "no writer could be held");
	cr_assert_eq(pthread_mutex_trylock(&m.lock), 0, "lock held");
	pthread_mutex_unlock(&m.lock);
	seq = create(&m, "/during", GFS_NODE_FILE);
	cr_assert_eq(gfs_ckpt_poll(&m, false), GFS_EUNAVAIL);
	cr_assert_eq(kill(m.ckpt.child, SIGCONT), 0);
	cr_assert_eq(gfs_ckpt_poll(&m, true), GFS_OK);
	cr_assert_leq(m.ckpt_seq, seq, "the checkpoint holds the mutation");
	before = dump(&m);
	crash_and_reopen(&m);
	after = dump(&m);
	cr_assert_str_eq(after, before);
	cr_assert(strstr(after, "/during 0"), "%s", after);
	cr_assert_gt(m.applied_seq, m.ckpt_seq, "replayed from the log");
	gfs_master_close(&m);
	free(before);
	free(after);
}

/* A first checkpoint, more mutations, then a writer that fails in the
 * way fail() arranges: nothing on disk may change but the log's tail. */
static void check_failed_writer(void (*fail)(struct gfs_master *m))
{
	struct gfs_master m;
	char *before, *after, *ck, *ck2;
	size_t len, len2;
	int nseg;

	open_master(&m);
	build(&m, 20);
	cr_assert_eq(gfs_ckpt_write(&m), GFS_OK);
	ck = contents("checkpoint", &len);
	cr_assert_not_null(ck);
	create(&m, "/after", GFS_NODE_FILE);
	create(&m, "/d0/after", GFS_NODE_FILE);
	before = dump(&m);
	nseg = segments();
	fail(&m);
	ck2 = contents("checkpoint", &len2);
	cr_assert_not_null(ck2);
	cr_assert(len2 == len && !memcmp(ck, ck2, len), "checkpoint changed");
	cr_assert_geq(segments(), nseg, "a segment went");
	cr_assert_lt(m.ckpt_seq, m.applied_seq);
	crash_and_reopen(&m);
	after = dump(&m);
	cr_assert_str_eq(after, before);
	gfs_master_close(&m);
	free(before);
	free(after);
	free(ck);
	free(ck2);
}

static void tmp_is_a_directory(struct gfs_master *m)
{
	cr_assert_eq(mkdir(path_in("checkpoint.tmp"), 0755), 0);
	cr_assert_eq(gfs_ckpt_write(m), GFS_EIO);
	cr_assert_eq(rmdir(path_in("checkpoint.tmp")), 0);
}

/* The writer dies of SIGXFSZ at its first write past 16 bytes, the
 * limit it inherits.  (The master writes nothing meanwhile: every record
 * is already written, and the log is rotated first, so that the
 * checkpoint's rotation finds an empty segment and creates no file,
 * whose pre-zeroed tail would pass the limit.) */
static void writer_killed(struct gfs_master *m)
{
	struct rlimit old, lim;

	gfs_oplog_rotate(m->log);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 16;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	cr_assert_eq(gfs_ckpt_start(m), GFS_OK);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	cr_assert_eq(gfs_ckpt_poll(m, true), GFS_EIO);
	cr_assert_neq(access(path_in("checkpoint.tmp"), F_OK), 0, "tmp left");
}

Test(checkpoint, a_writer_that_fails_leaves_the_old_checkpoint_and_the_log)
{
	check_failed_writer(tmp_is_a_directory);
}

Test(checkpoint, a_killed_writer_leaves_the_old_checkpoint_and_the_log)
{
	check_failed_writer(writer_killed);
}

Test(checkpoint, a_failed_one_is_not_retried_at_once)
{
	struct gfs_master m;
	int64_t now = gfs_mono_ms();

	open_master(&m);
	m.conf.checkpoint_every = 2;
	build(&m, 2);
	pthread_mutex_lock(&m.lock);
	cr_assert(gfs_ckpt_due(&m, now));
	pthread_mutex_unlock(&m.lock);
	tmp_is_a_directory(&m);
	pthread_mutex_lock(&m.lock);
	cr_assert(!gfs_ckpt_due(&m, gfs_mono_ms()), "retried at once");
	cr_assert(gfs_ckpt_due(&m, gfs_mono_ms() + 60000));
	pthread_mutex_unlock(&m.lock);
	gfs_master_close(&m);
}

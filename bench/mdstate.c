/*
 * mdstate - a master data directory holding many files, for make bench.
 *
 *   gfs-mdstate [--per-dir N] DIR COUNT URL [REPORT]
 *   gfs-mdstate --load DIR COUNT URL
 *
 * Writes into DIR (which must not hold a master's state yet) a checkpoint
 * of COUNT files /many/dDDDD/fNNNNNNN (N per directory, 1000 unless
 * given: a large N makes the one huge directory listings are tested
 * with), each of one
 * committed 4 KiB chunk with handles 1..COUNT, and the handle reservation
 * above them: what the master at URL holds after COUNT small uploads,
 * loaded in a second or two instead of the minutes COUNT requests take.
 * The state's epoch is URL's (a master leads only an epoch it logged,
 * docs/MASTER.md), so the master that loads DIR must listen on URL.  The state is
 * built through gfs_journal_apply() and written by the master's own
 * checkpoint code, so the file is what a master writes.  REPORT, when
 * given, gets the "chunks" array of a chunkserver's full heartbeat holding
 * every one of those chunks.  Prints the time taken, then loads DIR
 * again as a master does at start-up and prints how long that took and
 * the heap it holds per file (mallinfo2(): every arena, mmap'ed blocks
 * and malloc's own headers counted), before and after the round trip
 * through the checkpoint.  With --load, only loads DIR (written before
 * for COUNT files), to time start-up alone.  The load time is printed
 * as wall and CPU time (this process's, threads included).  Not
 * installed; built into build/bench/.
 */
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../master/checkpoint.h"
#include "../master/journal.h"
#include "../master/master.h"
#include "log.h"
#include "path.h"
#include "util.h"

static bool apply(struct gfs_master *m, struct gfs_enc *rec)
{
	bool ok = gfs_journal_apply(m, rec->buf, rec->len);

	rec->len = 0;
	return ok;
}

/* COUNT files of one chunk each, straight into the state (no log). */
static bool fill(struct gfs_master *m, uint64_t count, uint64_t per_dir)
{
	struct gfs_enc rec = { 0 };
	struct gfs_rec_chunk c = { 0, 0, 1, 4096 };
	char path[64];
	bool ok = true;
	uint64_t i;

	gfs_rec_reserve(&rec, count + 1 + GFS_HANDLE_BATCH);
	ok = apply(m, &rec);
	for (i = 0; ok && i < count; i++) {
		snprintf(path, sizeof(path), "/many/d%04" PRIu64 "/f%07" PRIu64,
			 i / per_dir, i);
		gfs_rec_create(&rec, path, GFS_NODE_FILE, 0644,
			       1700000000000000000 + (int64_t)i, 64 << 20);
		ok = apply(m, &rec);
		c.handle = i + 1;
		gfs_rec_commit(&rec, path, 4096, 1700000000000000000 +
			       (int64_t)i, &c, 1);
		ok = ok && apply(m, &rec);
	}
	gfs_enc_free(&rec);
	return ok;
}

/* Heap bytes in use: malloc'ed (headers included) and mmap'ed. */
static size_t heap(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void conf(struct gfs_master *m, char *dir, char *url)
{
	memset(m, 0, sizeof(*m));
	m->conf.data = dir;
	m->conf.chunk_size = 64 << 20;
	m->conf.replicas = 3;
	m->conf.dead_after_ms = 6000;
	m->conf.gc_interval_ms = 5000;
	m->conf.orphan_grace_ms = 3600000;
	m->conf.checkpoint_every = UINT64_MAX;
	m->conf.detach_ms = 1500;
	m->self_url = url;
}

/* CPU time of this process so far (user + system), in ms. */
static int64_t cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* Load dir as a restarting master does: its heap per file, its time. */
static bool load(char *dir, char *url, uint64_t count)
{
	struct gfs_master m;
	size_t h0;
	int64_t t0, c0;
	bool ok;

	conf(&m, dir, url);
	h0 = heap();
	t0 = gfs_mono_ms();
	c0 = cpu_ms();
	if (gfs_master_open(&m) != GFS_OK)
		return false;
	printf("loaded in %lld ms (CPU %lld ms): %.0f heap bytes per file\n",
	       (long long)(gfs_mono_ms() - t0), (long long)(cpu_ms() - c0),
	       (double)(heap() - h0) / count);
	ok = m.ns.nfiles == count && m.chunks.count == count;
	gfs_master_close(&m);
	return ok;
}

/* [["<handle>", 1, 4096], ...] for handles 1..count into path. */
static bool write_report(const char *path, uint64_t count)
{
	FILE *f = fopen(path, "w");
	char hex[17];
	uint64_t i;

	if (!f)
		return false;
	fputc('[', f);
	for (i = 1; i <= count; i++) {
		gfs_handle_fmt(i, hex);
		fprintf(f, "%s[\"%s\",1,4096]", i > 1 ? "," : "", hex);
	}
	fputc(']', f);
	return fclose(f) == 0;
}

int main(int argc, char **argv)
{
	struct gfs_master m;
	uint64_t count, per_dir = 1000;
	int64_t t0 = gfs_mono_ms();
	size_t h0;
	bool ok;

	if (argc == 5 && !strcmp(argv[1], "--load") &&
	    gfs_parse_u64(argv[3], &count) && count) {
		gfs_log_init("mdstate", GFS_LOG_WARN);
		return load(argv[2], argv[4], count) ? 0 : 1;
	}
	if (argc > 2 && !strcmp(argv[1], "--per-dir")) {
		if (!gfs_parse_u64(argv[2], &per_dir) || !per_dir)
			argc = 0; /* usage */
		argc -= 2;
		argv += 2;
	}
	if (argc < 4 || argc > 5 || !gfs_parse_u64(argv[2], &count)) {
		fprintf(stderr, "usage: gfs-mdstate [--per-dir N] DIR COUNT "
			"URL [REPORT]\n"
			"       gfs-mdstate --load DIR COUNT URL\n");
		return 2;
	}
	gfs_log_init("mdstate", GFS_LOG_WARN);
	conf(&m, argv[1], argv[3]);
	if (gfs_master_open(&m) != GFS_OK)
		return 1;
	pthread_mutex_lock(&m.lock);
	m.replaying = true;
	h0 = heap();
	ok = fill(&m, count, per_dir);
	h0 = heap() - h0;
	m.replaying = false;
	pthread_mutex_unlock(&m.lock);
	ok = ok && gfs_ckpt_write(&m) == GFS_OK;
	gfs_master_close(&m);
	ok = ok && (argc < 5 || write_report(argv[4], count));
	if (!ok) {
		fprintf(stderr, "gfs-mdstate: could not build the state\n");
		return 1;
	}
	printf("%" PRIu64 " files in %lld ms: %.0f heap bytes per file\n",
	       count, (long long)(gfs_mono_ms() - t0),
	       count ? (double)h0 / count : 0.0);
	if (count && !load(argv[1], argv[3], count)) {
		fprintf(stderr, "gfs-mdstate: could not load the state\n");
		return 1;
	}
	return 0;
}

/*
 * mdbench - metadata load for make bench: many threads of the client
 * library creating or looking up files, reporting operations per second.
 *
 *   gfs-mdbench --master URLS [--threads N] create PREFIX COUNT
 *   gfs-mdbench --master URLS [--threads N] files PREFIX COUNT
 *   gfs-mdbench --master URLS [--threads N] [--seconds S] stat PREFIX COUNT
 *
 * create makes empty files (one logged mutation each); files writes 4 KiB
 * files the way a client does (create, allocate, stream to the replicas,
 * commit); stat looks random ones up.
 * Files are PREFIX/dDDD/fNNNNNNN (1000 per directory).  Prints one line:
 * "OP N ops in S s: R ops/s".  Not installed; built into build/bench/.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "util.h"

struct mdb_conf {
	char *master;
	uint64_t threads;
	uint64_t seconds;
	char *config;
};

static const struct gfs_opt mdb_opts[] = {
	{ "master", GFS_OPT_STR, offsetof(struct mdb_conf, master), "URLS",
	  "master URLs" },
	{ "threads", GFS_OPT_U64, offsetof(struct mdb_conf, threads), "N",
	  "concurrent clients (default 8)" },
	{ "seconds", GFS_OPT_U64, offsetof(struct mdb_conf, seconds), "S",
	  "stat: run this long (default 3)" },
	{ "config", GFS_OPT_STR, offsetof(struct mdb_conf, config), "FILE",
	  "options file" },
};

struct mdb {
	struct gfs_client *client;
	const char *prefix;
	uint64_t count;
	enum { MDB_CREATE, MDB_FILES, MDB_STAT } op;
	int64_t deadline_ms;
	atomic_ullong next;     /* next file index to create */
	atomic_ullong done;     /* operations completed */
	atomic_ullong failed;
};

static void name(const struct mdb *b, uint64_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/d%03llu/f%07llu", b->prefix,
		 (unsigned long long)(i / 1000), (unsigned long long)i);
}

/* One 4 KiB file, written and closed as a client does. */
static enum gfs_err small_file(struct gfs_client *c, const char *path)
{
	static const char data[4096];
	struct gfs_file *f;
	enum gfs_err err;

	err = gfs_file_open(c, path, GFS_O_WRITE | GFS_O_CREAT | GFS_O_TRUNC,
			    0644, &f);
	if (err)
		return err;
	err = gfs_file_pwrite(f, data, sizeof(data), 0);
	if (err) {
		gfs_file_abort(f);
		return err;
	}
	return gfs_file_close(f);
}

static void *worker(void *arg)
{
	struct mdb *b = arg;
	uint64_t seed = (uint64_t)(uintptr_t)&seed;
	char path[512];

	for (;;) {
		struct gfs_stat st;
		enum gfs_err err;
		uint64_t i;

		if (b->op != MDB_STAT) {
			i = atomic_fetch_add(&b->next, 1);
			if (i >= b->count)
				break;
			name(b, i, path, sizeof(path));
			err = b->op == MDB_CREATE
				      ? gfs_client_create(b->client, path, 0644)
				      : small_file(b->client, path);
		} else {
			if (gfs_mono_ms() >= b->deadline_ms)
				break;
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			name(b, (seed >> 33) % b->count, path, sizeof(path));
			err = gfs_client_stat(b->client, path, &st);
		}
		atomic_fetch_add(err ? &b->failed : &b->done, 1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct mdb_conf conf = { .threads = 8, .seconds = 3 };
	struct gfs_client_conf cc = { 0 };
	char **pos = gfs_xcalloc((size_t)argc + 1, sizeof(*pos));
	struct mdb b = { 0 };
	pthread_t *t;
	int npos, rc = 0;
	int64_t t0, ms;
	uint64_t i;

	if (!gfs_opts_parse(mdb_opts, GFS_ARRAY_SIZE(mdb_opts), &conf, argc,
			    argv, "gfs-mdbench [OPTIONS] create|files|stat PREFIX COUNT",
			    pos, &npos) ||
	    npos != 3 || !gfs_parse_u64(pos[2], &b.count) || !b.count ||
	    (strcmp(pos[0], "create") && strcmp(pos[0], "files") &&
	     strcmp(pos[0], "stat"))) {
		fprintf(stderr, "usage: gfs-mdbench [--master URLS] "
				"[--threads N] [--seconds S] "
				"create|files|stat PREFIX COUNT\n");
		return 2;
	}
	gfs_log_init("mdbench", GFS_LOG_WARN);
	gfs_http_global_init();
	cc.masters = conf.master ? conf.master : "http://127.0.0.1:7070";
	cc.max_conns = (unsigned)conf.threads + 4;
	b.client = gfs_client_new(&cc);
	if (!b.client)
		return 2;
	b.prefix = pos[1];
	b.op = !strcmp(pos[0], "create")  ? MDB_CREATE
	       : !strcmp(pos[0], "files") ? MDB_FILES
					  : MDB_STAT;
	t = gfs_xcalloc(conf.threads, sizeof(*t));
	t0 = gfs_mono_ms();
	b.deadline_ms = t0 + (int64_t)conf.seconds * 1000;
	for (i = 0; i < conf.threads; i++)
		pthread_create(&t[i], NULL, worker, &b);
	for (i = 0; i < conf.threads; i++)
		pthread_join(t[i], NULL);
	ms = gfs_mono_ms() - t0;
	printf("%s %llu ops in %.2f s: %.0f ops/s (%llu failed)\n", pos[0],
	       (unsigned long long)atomic_load(&b.done), (double)ms / 1000,
	       (double)atomic_load(&b.done) * 1000 / (double)(ms ? ms : 1),
	       (unsigned long long)atomic_load(&b.failed));
	if (atomic_load(&b.failed))
		rc = 1;
	gfs_client_free(b.client);
	gfs_opts_free(mdb_opts, GFS_ARRAY_SIZE(mdb_opts), &conf);
	free(t);
	free(pos);
	return rc;
}

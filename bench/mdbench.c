/*
 * mdbench - metadata load for make bench: many threads of the client
 * library creating or looking up files, reporting operations per second.
 *
 *   gfs-mdbench --master URLS [--threads N] create PREFIX COUNT
 *   gfs-mdbench --master URLS [--threads N] files PREFIX COUNT
 *   gfs-mdbench --master URLS [--threads N] [--seconds S] stat PREFIX COUNT
 *   gfs-mdbench --master URLS [--threads N] [--seconds S] latency PREFIX COUNT
 *
 * create makes empty files (one logged mutation each); files writes 4 KiB
 * files the way a client does (create, allocate, stream to the replicas,
 * commit); stat looks random ones up.
 * Files are PREFIX/dDDD/fNNNNNNN (1000 per directory).  Prints one line:
 * "OP N ops in S s: R ops/s".
 * latency: N threads create files under PREFIX/load (at most COUNT) for S
 * seconds while one more client creates a file under PREFIX/probe and
 * stats it, one after the other, timing each call; prints
 * "latency create p50 A p99 B max C stat p50 D p99 E max F ms (N probes,
 * R load creates/s)".  Not installed; built into build/bench/.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "util.h"

struct mdb_conf {
	char *master;
	char *key_file;
	uint64_t threads;
	uint64_t seconds;
	char *config;
};

static const struct gfs_opt mdb_opts[] = {
	{ "master", GFS_OPT_STR, offsetof(struct mdb_conf, master), "URLS",
	  "master URLs" },
	{ "key-file", GFS_OPT_STR, offsetof(struct mdb_conf, key_file), "FILE",
	  "client key (env GFS_KEY_FILE)" },
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
	enum { MDB_CREATE, MDB_FILES, MDB_STAT, MDB_LATENCY } op;
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
			if (i >= b->count || (b->op == MDB_LATENCY &&
					      gfs_mono_ms() >= b->deadline_ms))
				break;
			name(b, i, path, sizeof(path));
			err = b->op != MDB_FILES
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

/* Latencies of one call, in microseconds. */
struct lat {
	int64_t *us;
	size_t n, cap;
};

static void lat_add(struct lat *l, int64_t us)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->us = gfs_xrealloc(l->us, l->cap * sizeof(*l->us));
	}
	l->us[l->n++] = us;
}

static int64_t us_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int lat_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* "p50 A p99 B max C" in ms; sorts l. */
static void lat_print(const char *what, struct lat *l)
{
	if (!l->n) {
		printf(" %s none", what);
		return;
	}
	qsort(l->us, l->n, sizeof(*l->us), lat_cmp);
	printf(" %s p50 %.2f p99 %.2f max %.2f", what,
	       (double)l->us[l->n / 2] / 1000,
	       (double)l->us[l->n * 99 / 100] / 1000,
	       (double)l->us[l->n - 1] / 1000);
}

/* The one client whose calls are timed: create, then stat, in turn. */
struct probe {
	struct gfs_client *client;  /* borrowed */
	const char *prefix;
	int64_t deadline_ms;
	struct lat create, stat;
	uint64_t failed;
};

static void *probe_main(void *arg)
{
	struct probe *p = arg;
	char path[512];
	struct gfs_stat st;
	uint64_t i;
	int64_t t0;

	for (i = 0; gfs_mono_ms() < p->deadline_ms; i++) {
		snprintf(path, sizeof(path), "%s/probe/d%03llu/f%07llu",
			 p->prefix, (unsigned long long)(i / 1000),
			 (unsigned long long)i);
		t0 = us_now();
		if (gfs_client_create(p->client, path, 0644)) {
			p->failed++;
			continue;
		}
		lat_add(&p->create, us_now() - t0);
		t0 = us_now();
		if (gfs_client_stat(p->client, path, &st))
			p->failed++;
		else
			lat_add(&p->stat, us_now() - t0);
	}
	return NULL;
}

static void print_latency(struct probe *p, const struct mdb *b, int64_t ms)
{
	printf("latency");
	lat_print("create", &p->create);
	lat_print("stat", &p->stat);
	printf(" ms (%zu probes, %.0f load creates/s, %llu failed)\n",
	       p->create.n,
	       (double)atomic_load(&b->done) * 1000 / (double)(ms ? ms : 1),
	       (unsigned long long)(atomic_load(&b->failed) + p->failed));
	free(p->create.us);
	free(p->stat.us);
}

int main(int argc, char **argv)
{
	struct mdb_conf conf = { .threads = 8, .seconds = 3 };
	struct gfs_client_conf cc = { 0 };
	char **pos = gfs_xcalloc((size_t)argc + 1, sizeof(*pos));
	struct mdb b = { 0 };
	struct probe pr = { 0 };
	const char *kf;
	char *key = NULL, msg[300];
	pthread_t *t, pt;
	int npos, rc = 0;
	int64_t t0, ms;
	uint64_t i;

	if (!gfs_opts_parse(mdb_opts, GFS_ARRAY_SIZE(mdb_opts), &conf, argc,
			    argv, "gfs-mdbench [OPTIONS] create|files|stat|latency PREFIX COUNT",
			    pos, &npos) ||
	    npos != 3 || !gfs_parse_u64(pos[2], &b.count) || !b.count ||
	    (strcmp(pos[0], "create") && strcmp(pos[0], "files") &&
	     strcmp(pos[0], "stat") && strcmp(pos[0], "latency"))) {
		fprintf(stderr, "usage: gfs-mdbench [--master URLS] "
				"[--threads N] [--seconds S] "
				"create|files|stat|latency PREFIX COUNT\n");
		return 2;
	}
	gfs_log_init("mdbench", GFS_LOG_WARN);
	gfs_http_global_init();
	cc.masters = conf.master ? conf.master : "http://127.0.0.1:7070";
	cc.max_conns = (unsigned)conf.threads + 5;
	kf = conf.key_file ? conf.key_file : getenv("GFS_KEY_FILE");
	if (kf && !(key = gfs_client_read_key(kf, msg, sizeof(msg)))) {
		fprintf(stderr, "gfs-mdbench: %s\n", msg);
		return 2;
	}
	cc.key = key;
	b.client = gfs_client_new(&cc);
	free(key);
	if (!b.client)
		return 2;
	b.op = !strcmp(pos[0], "create")    ? MDB_CREATE
	       : !strcmp(pos[0], "files")   ? MDB_FILES
	       : !strcmp(pos[0], "latency") ? MDB_LATENCY
					    : MDB_STAT;
	b.prefix = b.op == MDB_LATENCY ? gfs_xasprintf("%s/load", pos[1])
				       : gfs_xstrdup(pos[1]);
	t = gfs_xcalloc(conf.threads, sizeof(*t));
	t0 = gfs_mono_ms();
	b.deadline_ms = t0 + (int64_t)conf.seconds * 1000;
	for (i = 0; i < conf.threads; i++)
		pthread_create(&t[i], NULL, worker, &b);
	if (b.op == MDB_LATENCY) {
		pr.client = b.client;
		pr.prefix = pos[1];
		pr.deadline_ms = b.deadline_ms;
		pthread_create(&pt, NULL, probe_main, &pr);
		pthread_join(pt, NULL);
	}
	for (i = 0; i < conf.threads; i++)
		pthread_join(t[i], NULL);
	ms = gfs_mono_ms() - t0;
	if (b.op == MDB_LATENCY)
		print_latency(&pr, &b, ms);
	else
		printf("%s %llu ops in %.2f s: %.0f ops/s (%llu failed)\n",
		       pos[0], (unsigned long long)atomic_load(&b.done),
		       (double)ms / 1000,
		       (double)atomic_load(&b.done) * 1000 /
			       (double)(ms ? ms : 1),
		       (unsigned long long)atomic_load(&b.failed));
	if (atomic_load(&b.failed) || pr.failed)
		rc = 1;
	free((char *)b.prefix);
	gfs_client_free(b.client);
	gfs_opts_free(mdb_opts, GFS_ARRAY_SIZE(mdb_opts), &conf);
	free(t);
	free(pos);
	return rc;
}

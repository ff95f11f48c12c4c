/*
 * Unit tests for packed chunks through the chunkstore and chunkwrite
 * (chunkserver/pack.h): a small new chunk becomes a record and no file,
 * reads back, survives a reopen; a file and a record of one handle settle
 * by version; a write to a packed chunk materialises it first; a delete
 * and a corrupt record kill it; the pack's reclaim moves chunks to files.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../chunkserver/chunkstore.h"
#include "../../chunkserver/chunkwrite.h"
#include "../../chunkserver/pack.h"
#include "constants.h"
#include "log.h"
#include "path.h"
#include "util.h"

static char dir[64];
static struct gfs_chunkstore *store;
static int corrupt_calls;
static uint64_t pack_max, pack_segment;

static void on_corrupt(void *cls, uint64_t handle)
{
	(void)cls;
	(void)handle;
	corrupt_calls++;
}

static bool materialise(void *cls, struct gfs_chunkstore *s, uint64_t h)
{
	(void)cls;
	return gfs_chunkwrite_materialise(s, h, 0) == GFS_OK;
}

static void open_store(void)
{
	struct gfs_chunkstore_conf conf = {
		.dir = dir, .on_corrupt = on_corrupt, .xattr_in_place = 1,
		.pack_max = pack_max, .pack_segment = pack_segment,
		.materialise = materialise,
	};

	cr_assert_eq(gfs_chunkstore_open(&conf, &store), GFS_OK);
}

static void reopen(void)
{
	gfs_chunkstore_close(store);
	open_store();
}

/* Reopen with packing on (max bytes) or off (0). */
static void reopen_packing(uint64_t max)
{
	pack_max = max;
	reopen();
}

static void setup(void)
{
	gfs_log_init("test", GFS_LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/gfs-chunkpack.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	corrupt_calls = 0;
	pack_max = 1ull << 30;
	pack_segment = 0;
	open_store();
}

static void teardown(void)
{
	char cmd[128];

	gfs_chunkstore_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(chunkpack, .init = setup, .fini = teardown);

static void fill(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)((i * 31 + seed * 7 + (i >> 9)) & 0xff);
}

static enum gfs_err put(uint64_t h, uint64_t version, uint64_t off,
			const char *body, size_t len)
{
	struct gfs_chunkwrite_args a = {
		.handle = h, .version = version, .offset = off,
		.size = (int64_t)len, .wait_ms = 100,
	};
	struct gfs_chunkwrite *w;
	uint64_t length;
	enum gfs_err err;

	err = gfs_chunkwrite_begin(store, &a, &w, NULL, 0);
	if (err)
		return err;
	err = gfs_chunkwrite_data(w, body, len);
	if (!err)
		err = gfs_chunkwrite_commit(w, &length);
	gfs_chunkwrite_free(w);
	return err;
}

/* The chunk's verified bytes equal model[0, len) at version; *packed
 * says whether its view is a record's. */
static void expect_chunk(uint64_t h, const char *model, uint64_t len,
			 uint64_t version, bool packed)
{
	struct gfs_chunk_view *v;
	char *buf = malloc(2 * GFS_BLOCK_SIZE);
	size_t got = 0;

	cr_assert_eq(gfs_chunkstore_get_view(store, h, false, &v), GFS_OK);
	cr_expect_eq(v->length, len);
	cr_expect_eq(v->version, version);
	cr_expect_eq(v->packed, packed);
	if (v->nblocks)
		cr_assert_eq(gfs_chunkstore_read_blocks(store, v, 0,
							v->nblocks, buf, &got),
			     GFS_OK);
	cr_expect_eq(got, len);
	cr_expect(!memcmp(buf, model, len), "chunk bytes differ");
	gfs_chunkstore_put_view(store, v);
	free(buf);
}

static bool has_file(uint64_t h)
{
	char p[256], hex[17];
	struct stat st;

	gfs_handle_fmt(h, hex);
	snprintf(p, sizeof(p), "%s/chunks/%02x/%s", dir, (unsigned)(h & 0xff),
		 hex);
	return stat(p, &st) == 0;
}

static uint64_t packed_chunks(void)
{
	struct gfs_chunkstore_packs pk;

	gfs_chunkstore_packs(store, &pk);
	return pk.chunks;
}

/* Path of the one segment holding chunk h (its view's fd). */
static void segment_of(uint64_t h, char *out, size_t n, uint64_t *base)
{
	struct gfs_chunk_view *v;
	char link[64];
	ssize_t k;

	cr_assert_eq(gfs_chunkstore_get_view(store, h, true, &v), GFS_OK);
	cr_assert(v->packed);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", v->fd);
	k = readlink(link, out, n - 1);
	cr_assert_gt(k, 0);
	out[k] = '\0';
	*base = v->base;
	gfs_chunkstore_put_view(store, v);
}

Test(chunkpack, small_new_chunk_is_a_record_not_a_file)
{
	char body[4096];

	fill(body, sizeof(body), 1);
	cr_assert_eq(put(0x101, 1, 0, body, sizeof(body)), GFS_OK);
	cr_expect(!has_file(0x101));
	cr_expect_eq(packed_chunks(), 1);
	expect_chunk(0x101, body, sizeof(body), 1, true);
	reopen();
	cr_expect(!has_file(0x101));
	expect_chunk(0x101, body, sizeof(body), 1, true);
}

Test(chunkpack, large_or_offset_chunks_stay_files)
{
	char *body = malloc(GFS_BLOCK_SIZE + 1);

	fill(body, GFS_BLOCK_SIZE + 1, 2);
	cr_assert_eq(put(0x102, 1, 0, body, GFS_BLOCK_SIZE + 1), GFS_OK);
	cr_expect(has_file(0x102));
	cr_assert_eq(put(0x103, 1, 10, body, 100), GFS_OK);
	cr_expect(has_file(0x103));
	cr_expect_eq(packed_chunks(), 0);
	free(body);
}

Test(chunkpack, append_materialises_first)
{
	char body[8192];

	fill(body, sizeof(body), 3);
	cr_assert_eq(put(0x104, 1, 0, body, 4096), GFS_OK);
	cr_assert_eq(packed_chunks(), 1);
	cr_assert_eq(put(0x104, 2, 4096, body + 4096, 4096), GFS_OK);
	cr_expect(has_file(0x104));
	cr_expect_eq(packed_chunks(), 0);
	expect_chunk(0x104, body, sizeof(body), 2, false);
	reopen();
	expect_chunk(0x104, body, sizeof(body), 2, false);
	cr_expect_eq(packed_chunks(), 0);
}

Test(chunkpack, overwrite_materialises_first)
{
	char body[4096], model[4096];

	fill(body, sizeof(body), 4);
	memcpy(model, body, sizeof(model));
	memset(model + 100, 'x', 50);
	cr_assert_eq(put(0x105, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(put(0x105, 2, 100, model + 100, 50), GFS_OK);
	expect_chunk(0x105, model, sizeof(model), 2, false);
	reopen();
	expect_chunk(0x105, model, sizeof(model), 2, false);
}

Test(chunkpack, delete_kills_the_record)
{
	char body[1000];

	fill(body, sizeof(body), 5);
	cr_assert_eq(put(0x106, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(gfs_chunkstore_delete(store, 0x106, 100), GFS_OK);
	cr_expect_eq(packed_chunks(), 0);
	reopen();
	cr_expect_eq(packed_chunks(), 0);
	cr_expect_eq(gfs_chunkstore_delete(store, 0x106, 100), GFS_ENOENT);
}

Test(chunkpack, equal_versions_prefer_the_file)
{
	char rec[3000], file[3000];

	fill(rec, sizeof(rec), 6);
	fill(file, sizeof(file), 7);
	cr_assert_eq(put(0x107, 3, 0, rec, sizeof(rec)), GFS_OK);
	reopen_packing(0);  /* packs/ unseen: the handle is free */
	cr_assert_eq(put(0x107, 3, 0, file, sizeof(file)), GFS_OK);
	cr_assert(has_file(0x107));
	reopen_packing(1ull << 30);
	expect_chunk(0x107, file, sizeof(file), 3, false);
	cr_expect_eq(packed_chunks(), 0);
	reopen();  /* the record was killed on disk */
	cr_expect_eq(packed_chunks(), 0);
}

Test(chunkpack, newer_record_beats_the_file)
{
	char rec[3000], file[3000];

	fill(rec, sizeof(rec), 8);
	fill(file, sizeof(file), 9);
	cr_assert_eq(put(0x108, 4, 0, rec, sizeof(rec)), GFS_OK);
	reopen_packing(0);
	cr_assert_eq(put(0x108, 2, 0, file, sizeof(file)), GFS_OK);
	reopen_packing(1ull << 30);
	expect_chunk(0x108, rec, sizeof(rec), 4, true);
	cr_expect(!has_file(0x108));
}

Test(chunkpack, newer_file_beats_the_record)
{
	char rec[3000], file[3000];

	fill(rec, sizeof(rec), 10);
	fill(file, sizeof(file), 11);
	cr_assert_eq(put(0x109, 1, 0, rec, sizeof(rec)), GFS_OK);
	reopen_packing(0);
	cr_assert_eq(put(0x109, 5, 0, file, sizeof(file)), GFS_OK);
	reopen_packing(1ull << 30);
	expect_chunk(0x109, file, sizeof(file), 5, false);
	cr_expect_eq(packed_chunks(), 0);
}

Test(chunkpack, corrupt_record_is_quarantined)
{
	struct gfs_chunk_view *v;
	char body[4096], path[256], buf[GFS_BLOCK_SIZE];
	uint64_t base;
	size_t got;
	int fd;

	fill(body, sizeof(body), 12);
	cr_assert_eq(put(0x10a, 1, 0, body, sizeof(body)), GFS_OK);
	segment_of(0x10a, path, sizeof(path), &base);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "X", 1, (off_t)base + 17), 1);
	close(fd);
	cr_assert_eq(gfs_chunkstore_get_view(store, 0x10a, false, &v), GFS_OK);
	cr_expect_eq(gfs_chunkstore_read_blocks(store, v, 0, 1, buf, &got),
		     GFS_ECORRUPT);
	gfs_chunkstore_put_view(store, v);
	cr_expect_eq(corrupt_calls, 1);
	cr_expect_eq(packed_chunks(), 0);
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x10a, false, &v),
		     GFS_ENOENT);
	cr_assert_eq(put(0x10b, 1, 0, body, sizeof(body)), GFS_OK);
	reopen();  /* the killed record does not hide the one after it */
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x10a, false, &v),
		     GFS_ENOENT);
	expect_chunk(0x10b, body, sizeof(body), 1, true);
}

Test(chunkpack, reclaim_moves_old_records_to_files)
{
	struct gfs_chunkstore_packs pk;
	char body[4000];
	int64_t end;
	uint64_t h;

	pack_segment = 12u << 10;  /* three records */
	reopen_packing(1);
	fill(body, sizeof(body), 13);
	for (h = 0x110; h < 0x113; h++)
		cr_assert_eq(put(h, 1, 0, body, sizeof(body)), GFS_OK);
	end = gfs_mono_ms() + 5000;
	do  /* the spare, made by the pack's thread */
		gfs_chunkstore_packs(store, &pk);
	while (pk.segments < 2 && gfs_mono_ms() < end && !usleep(10000));
	cr_assert_eq(put(0x113, 1, 0, body, sizeof(body)), GFS_OK);
	end = gfs_mono_ms() + 5000;
	do
		gfs_chunkstore_packs(store, &pk);
	while (pk.chunks > 1 && gfs_mono_ms() < end && !usleep(10000));
	cr_assert_eq(pk.chunks, 1, "old segment's chunks not moved out");
	for (h = 0x110; h < 0x113; h++) {
		cr_expect(has_file(h));
		expect_chunk(h, body, sizeof(body), 1, false);
	}
	expect_chunk(0x113, body, sizeof(body), 1, true);
}

/*
 * Unit tests for chunkserver/chunkstore.c, chunkwrite.c and chunkmeta.c:
 * chunks written, read back and verified on a real directory.
 * Every test keeps a model of the bytes the chunk should hold and compares
 * the verified read with it.  Metas live in the data file's xattr unless a
 * test opens the store with meta_files (or the chunk is too large); the
 * tests of the .meta file format do so.  Stores replace xattr metas in
 * place (conf.xattr_in_place = 1) whatever file system /tmp is on,
 * except where a test says otherwise.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../chunkserver/blockcrc.h"
#include "../../chunkserver/chunkmeta.h"
#include "../../chunkserver/chunkstore.h"
#include "../../chunkserver/chunkwrite.h"
#include "crc32c.h"
#include "log.h"
#include "path.h"

static char dir[64];
static struct gfs_chunkstore *store;
static int corrupt_calls;
static bool meta_files;   /* the next open_store(): conf.meta_files */
static size_t xattr_max;  /* and conf.xattr_max */
static int in_place;      /* and conf.xattr_in_place: 1 unless a test
			   * says otherwise, whatever /tmp is on */
static bool named;        /* and conf.named_creates */

static void on_corrupt(void *cls, uint64_t handle)
{
	(void)cls;
	(void)handle;
	corrupt_calls++;
}

static void open_store(uint64_t capacity)
{
	struct gfs_chunkstore_conf conf = {
		.dir = dir, .reserve = 0, .capacity = capacity,
		.on_corrupt = on_corrupt, .meta_files = meta_files,
		.xattr_max = xattr_max, .xattr_in_place = in_place,
		.named_creates = named,
	};

	cr_assert_eq(gfs_chunkstore_open(&conf, &store), GFS_OK);
}

static void setup(void)
{
	gfs_log_init("test", GFS_LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/gfs-chunkstore.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	corrupt_calls = 0;
	meta_files = false;
	xattr_max = 0;
	in_place = 1;
	named = false;
	open_store(0);
}

static void teardown(void)
{
	char cmd[128];

	gfs_chunkstore_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(chunkstore, .init = setup, .fini = teardown);

static void reopen(void)
{
	gfs_chunkstore_close(store);
	open_store(0);
}

/* Reopen with metas in .meta files only (files) or not. */
static void reopen_with(bool files)
{
	meta_files = files;
	reopen();
}

static void fill(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)((i * 31 + seed * 7 + (i >> 9)) & 0xff);
}

/* Write body at offset as version; the result of the whole transaction. */
static enum gfs_err put_args(struct gfs_chunkwrite_args *a, const char *body,
			     size_t len, size_t piece)
{
	struct gfs_chunkwrite *w;
	uint64_t length;
	enum gfs_err err;
	size_t done = 0;

	a->size = (int64_t)len;
	err = gfs_chunkwrite_begin(store, a, &w, NULL, 0);
	if (err)
		return err;
	while (!err && done < len) {
		size_t n = len - done < piece ? len - done : piece;

		err = gfs_chunkwrite_data(w, body + done, n);
		done += n;
	}
	if (!err)
		err = gfs_chunkwrite_commit(w, &length);
	gfs_chunkwrite_free(w);
	return err;
}

static enum gfs_err put(uint64_t h, uint64_t version, uint64_t off,
			const char *body, size_t len)
{
	struct gfs_chunkwrite_args a = {
		.handle = h, .version = version, .offset = off, .wait_ms = 100,
	};

	return put_args(&a, body, len, 7777);
}

/* The chunk's verified bytes (caller frees) and its version. */
static char *read_all(uint64_t h, uint64_t *len, uint64_t *version)
{
	struct gfs_chunk_view *v;
	size_t got;
	char *buf;

	cr_assert_eq(gfs_chunkstore_get_view(store, h, false, &v), GFS_OK);
	buf = malloc((size_t)v->nblocks * GFS_BLOCK_SIZE + 1);
	if (v->nblocks)
		cr_assert_eq(gfs_chunkstore_read_blocks(store, v, 0,
							v->nblocks, buf, &got),
			     GFS_OK);
	*len = v->length;
	if (version)
		*version = v->version;
	gfs_chunkstore_put_view(store, v);
	return buf;
}

static void expect_chunk(uint64_t h, const char *model, uint64_t len,
			 uint64_t version)
{
	uint64_t got_len, got_version;
	char *buf = read_all(h, &got_len, &got_version);

	cr_expect_eq(got_len, len, "length %llu, expected %llu",
		     (unsigned long long)got_len, (unsigned long long)len);
	cr_expect_eq(got_version, version);
	cr_expect(got_len != len || !memcmp(buf, model, len),
		  "chunk bytes differ from the model");
	free(buf);
}

static char *chunk_path(uint64_t h, const char *suffix)
{
	static char p[256];
	char hex[17];

	gfs_handle_fmt(h, hex);
	snprintf(p, sizeof(p), "%s/chunks/%02x/%s%s", dir, (unsigned)(h & 0xff),
		 hex, suffix);
	return p;
}

static void flip_byte(const char *path, off_t at)
{
	int fd = open(path, O_RDWR);
	char c;

	cr_assert(fd >= 0, "open %s", path);
	cr_assert_eq(pread(fd, &c, 1, at), 1);
	c ^= 0x40;
	cr_assert_eq(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

/* chunks/<xx> of h, opened (caller closes). */
static int open_subdir(uint64_t h)
{
	char sub[100];
	int dfd;

	snprintf(sub, sizeof(sub), "%s/chunks/%02x", dir, (unsigned)(h & 0xff));
	dfd = open(sub, O_RDONLY | O_DIRECTORY);
	cr_assert(dfd >= 0);
	return dfd;
}

/* Size of h's xattr meta, -1 when it has none. */
static ssize_t xattr_size(uint64_t h)
{
	return getxattr(chunk_path(h, ""), GFS_CHUNKMETA_XATTR, NULL, 0);
}

static bool has_meta_file(uint64_t h)
{
	return access(chunk_path(h, ".meta"), F_OK) == 0;
}

/* Exactly one home holds h's meta: the xattr (in_xattr) or the file. */
static void expect_home(uint64_t h, bool in_xattr)
{
	cr_expect_eq(xattr_size(h) >= 0, in_xattr, "xattr %s",
		     in_xattr ? "missing" : "present");
	cr_expect_eq(has_meta_file(h), !in_xattr, ".meta file %s",
		     in_xattr ? "present" : "missing");
}

/* Flip one byte of h's xattr meta at offset at; or cut it to cut bytes. */
static void spoil_xattr(uint64_t h, size_t at, ssize_t cut)
{
	unsigned char v[GFS_CHUNKMETA_XATTR_MAX];
	ssize_t n = getxattr(chunk_path(h, ""), GFS_CHUNKMETA_XATTR, v,
			     sizeof(v));

	cr_assert(n > 0 && (size_t)n > at);
	v[at] ^= 0x40;
	cr_assert_eq(setxattr(chunk_path(h, ""), GFS_CHUNKMETA_XATTR, v,
			      cut >= 0 ? (size_t)cut : (size_t)n, 0), 0);
}

static uint64_t count_chunks(void)
{
	struct gfs_chunkstore_space sp;

	gfs_chunkstore_space(store, &sp);
	return sp.chunks;
}

Test(chunkstore, writes_and_reads_back_a_chunk)
{
	static char body[300000];

	fill(body, sizeof(body), 1);
	cr_assert_eq(put(0x2a, 1, 0, body, sizeof(body)), GFS_OK);
	expect_chunk(0x2a, body, sizeof(body), 1);
	cr_expect_eq(count_chunks(), 1);
}

Test(chunkstore, keeps_chunks_across_a_restart)
{
	static char body[70000];

	fill(body, sizeof(body), 2);
	cr_assert_eq(put(0x100, 3, 0, body, sizeof(body)), GFS_OK);
	reopen();
	expect_chunk(0x100, body, sizeof(body), 3);
}

Test(chunkstore, raw_data_file_holds_the_bytes)
{
	static char body[1000], disk[1000];
	int fd;

	fill(body, sizeof(body), 3);
	cr_assert_eq(put(0x55, 1, 0, body, sizeof(body)), GFS_OK);
	fd = open(chunk_path(0x55, ""), O_RDONLY);
	cr_assert(fd >= 0);
	cr_expect_eq(read(fd, disk, sizeof(disk)), (ssize_t)sizeof(disk));
	close(fd);
	cr_expect_arr_eq(disk, body, sizeof(body));
}

Test(chunkstore, flipped_data_byte_is_detected_and_quarantined)
{
	static char body[200000];
	struct gfs_chunk_view *v;
	json_t *chunks, *removed, *corrupt;
	uint64_t upto;
	size_t got;
	char *buf = malloc(4 * GFS_BLOCK_SIZE);

	fill(body, sizeof(body), 4);
	cr_assert_eq(put(0x77, 1, 0, body, sizeof(body)), GFS_OK);
	flip_byte(chunk_path(0x77, ""), 150000);
	cr_assert_eq(gfs_chunkstore_get_view(store, 0x77, false, &v), GFS_OK);
	/* blocks 0 and 1 are fine; block 2 holds byte 150000 */
	cr_expect_eq(gfs_chunkstore_read_blocks(store, v, 0, 2, buf, &got),
		     GFS_OK);
	cr_expect_eq(gfs_chunkstore_read_blocks(store, v, 2, 1, buf, &got),
		     GFS_ECORRUPT);
	gfs_chunkstore_put_view(store, v);
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x77, false, &v),
		     GFS_ENOENT);
	cr_expect_eq(count_chunks(), 0);
	cr_expect_eq(corrupt_calls, 1);
	cr_expect_eq(access(chunk_path(0x77, ""), F_OK), -1);
	gfs_chunkstore_report(store, false, 0, &chunks, &removed, &corrupt,
			      &upto);
	cr_expect_eq(json_array_size(corrupt), 1);
	cr_expect_eq(json_array_size(removed), 1);
	json_decref(chunks);
	json_decref(removed);
	json_decref(corrupt);
	free(buf);
}

/* check_blocks (the path of short GETs sent with sendfile) reads in steps:
 * a bad block past the first step is still found. */
Test(chunkstore, check_blocks_finds_a_bad_block_in_a_later_step)
{
	static char body[400000]; /* 6 blocks and a part */
	struct gfs_chunk_view *v;

	fill(body, sizeof(body), 5);
	cr_assert_eq(put(0x78, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(gfs_chunkstore_get_view(store, 0x78, false, &v), GFS_OK);
	cr_expect_eq(gfs_chunkstore_check_blocks(store, v, 0, 7), GFS_OK);
	gfs_chunkstore_put_view(store, v);

	flip_byte(chunk_path(0x78, ""), 5 * GFS_BLOCK_SIZE + 100);
	cr_assert_eq(gfs_chunkstore_get_view(store, 0x78, false, &v), GFS_OK);
	cr_expect_eq(gfs_chunkstore_check_blocks(store, v, 0, 5), GFS_OK);
	cr_expect_eq(gfs_chunkstore_check_blocks(store, v, 1, 6),
		     GFS_ECORRUPT);
	gfs_chunkstore_put_view(store, v);
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x78, false, &v),
		     GFS_ENOENT);
	cr_expect_eq(corrupt_calls, 1);
}

Test(chunkstore, torn_meta_is_quarantined_at_start)
{
	static char body[100000];

	fill(body, sizeof(body), 5);
	reopen_with(true);
	cr_assert_eq(put(0x81, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(put(0x82, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(truncate(chunk_path(0x81, ".meta"), 40), 0);
	reopen();
	cr_expect_eq(count_chunks(), 1);
	expect_chunk(0x82, body, sizeof(body), 1);
	cr_expect_eq(access(chunk_path(0x81, ""), F_OK), -1,
		     "data of a bad meta is moved away");
}

Test(chunkstore, flipped_meta_byte_is_detected)
{
	static char body[100000];

	fill(body, sizeof(body), 6);
	reopen_with(true);
	cr_assert_eq(put(0x91, 2, 0, body, sizeof(body)), GFS_OK);
	flip_byte(chunk_path(0x91, ".meta"), 60); /* inside the CRC table */
	reopen();
	cr_expect_eq(count_chunks(), 0);
}

Test(chunkstore, meta_read_rejects_another_handles_meta)
{
	static char body[10];
	struct gfs_chunkmeta m;
	char cmd[600];
	int dfd;

	reopen_with(true);
	cr_assert_eq(put(0x0101, 1, 0, body, sizeof(body)), GFS_OK);
	snprintf(cmd, sizeof(cmd), "cp %s ", chunk_path(0x0101, ".meta"));
	strcat(cmd, chunk_path(0x0201, ".meta"));
	cr_assert_eq(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/chunks/01", dir);
	dfd = open(cmd, O_RDONLY | O_DIRECTORY);
	cr_assert(dfd >= 0);
	cr_expect_eq(gfs_chunkmeta_read(dfd, 0x0201, &m, false), GFS_ECORRUPT);
	cr_expect_eq(gfs_chunkmeta_read(dfd, 0x0101, &m, false), GFS_OK);
	cr_expect_eq(gfs_chunkmeta_read(dfd, 0x0301, &m, false), GFS_ENOENT);
	close(dfd);
}

Test(chunkstore, version_must_grow)
{
	static char body[5000];

	fill(body, sizeof(body), 7);
	cr_expect_eq(put(0x10, 0, 0, body, 10), GFS_EINVAL);
	cr_assert_eq(put(0x10, 5, 0, body, 100), GFS_OK);
	cr_expect_eq(put(0x10, 5, 100, body, 100), GFS_ESTALE);
	cr_expect_eq(put(0x10, 4, 100, body, 100), GFS_ESTALE);
	expect_chunk(0x10, body, 100, 5);
	cr_expect_eq(put(0x10, 6, 100, body + 100, 100), GFS_OK);
	expect_chunk(0x10, body, 200, 6);
}

Test(chunkstore, gap_reads_as_zeros)
{
	static char body[100], model[400000];

	fill(body, sizeof(body), 8);
	memcpy(model, body, 100);
	cr_assert_eq(put(0x20, 1, 0, body, 100), GFS_OK);
	memcpy(model + 300000, body, 100);
	cr_assert_eq(put(0x20, 2, 300000, body, 100), GFS_OK);
	expect_chunk(0x20, model, 300100, 2);
	/* a new chunk written at an offset starts with zeros too */
	cr_assert_eq(put(0x21, 1, 70000, body, 100), GFS_OK);
	memset(model, 0, 70000);
	memcpy(model + 70000, body, 100);
	expect_chunk(0x21, model, 70100, 1);
}

Test(chunkstore, gap_over_stale_bytes_reads_as_zeros)
{
	static char body[200000], model[300000];
	struct gfs_chunkwrite_args a = {
		.handle = 0x22, .version = 2, .offset = 1000, .size = -1,
		.wait_ms = 100,
	};
	struct gfs_chunkwrite *w;

	fill(body, sizeof(body), 9);
	cr_assert_eq(put(0x22, 1, 0, body, 1000), GFS_OK);
	/* an aborted append leaves bytes past the length on disk */
	cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_data(w, body, 150000), GFS_OK);
	gfs_chunkwrite_free(w);
	cr_assert_eq(put(0x22, 3, 200000, body, 10), GFS_OK);
	memcpy(model, body, 1000);
	memcpy(model + 200000, body, 10);
	expect_chunk(0x22, model, 200010, 3);
}

Test(chunkstore, append_at_an_unaligned_end_continues_the_block_crc)
{
	static char model[400000];

	fill(model, sizeof(model), 10);
	cr_assert_eq(put(0x30, 1, 0, model, 100001), GFS_OK);
	cr_assert_eq(put(0x30, 2, 100001, model + 100001, 33333), GFS_OK);
	cr_assert_eq(put(0x30, 3, 133334, model + 133334, 1), GFS_OK);
	expect_chunk(0x30, model, 133335, 3);
	reopen();
	expect_chunk(0x30, model, 133335, 3);
}

Test(chunkstore, unaligned_overwrite_fixes_crcs_at_both_edges)
{
	static char model[400000], patch[80000];

	fill(model, sizeof(model), 11);
	fill(patch, sizeof(patch), 12);
	cr_assert_eq(put(0x40, 1, 0, model, 300000), GFS_OK);
	memcpy(model + 70000, patch, 70000);
	cr_assert_eq(put(0x40, 2, 70000, patch, 70000), GFS_OK);
	expect_chunk(0x40, model, 300000, 2);
	/* inside one block, and running past the end */
	memcpy(model + 100, patch, 10);
	cr_assert_eq(put(0x40, 3, 100, patch, 10), GFS_OK);
	memcpy(model + 290000, patch, 20000);
	cr_assert_eq(put(0x40, 4, 290000, patch, 20000), GFS_OK);
	expect_chunk(0x40, model, 310000, 4);
	reopen();
	expect_chunk(0x40, model, 310000, 4);
}

Test(chunkstore, readers_keep_the_old_version_during_an_overwrite)
{
	static char model[200000], patch[1000];
	struct gfs_chunkwrite_args a = {
		.handle = 0x41, .version = 2, .offset = 500, .size = 1000,
		.wait_ms = 100,
	};
	struct gfs_chunkwrite *w;
	uint64_t len;

	fill(model, sizeof(model), 13);
	fill(patch, sizeof(patch), 14);
	cr_assert_eq(put(0x41, 1, 0, model, sizeof(model)), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_data(w, patch, sizeof(patch)), GFS_OK);
	expect_chunk(0x41, model, sizeof(model), 1);
	cr_assert_eq(gfs_chunkwrite_commit(w, &len), GFS_OK);
	gfs_chunkwrite_free(w);
	memcpy(model + 500, patch, sizeof(patch));
	expect_chunk(0x41, model, sizeof(model), 2);
}

Test(chunkstore, aborted_writes_leave_the_previous_version)
{
	static char model[200000], other[200000];
	struct gfs_chunkwrite_args a = {
		.handle = 0x50, .version = 2, .size = -1, .wait_ms = 100,
	};
	struct gfs_chunkwrite *w;
	struct gfs_chunk_view *v;

	fill(model, sizeof(model), 15);
	fill(other, sizeof(other), 16);
	cr_assert_eq(put(0x50, 1, 0, model, 100000), GFS_OK);
	for (uint64_t off = 0; off <= 100000; off += 50000) { /* COW, append */
		a.offset = off;
		cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0),
			     GFS_OK);
		cr_assert_eq(gfs_chunkwrite_data(w, other, 90000), GFS_OK);
		gfs_chunkwrite_free(w);
		expect_chunk(0x50, model, 100000, 1);
	}
	/* a new chunk never written to the end does not exist */
	a.handle = 0x51;
	a.offset = 0;
	cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_data(w, other, 90000), GFS_OK);
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x51, false, &v),
		     GFS_ENOENT);
	gfs_chunkwrite_free(w);
	cr_expect_eq(access(chunk_path(0x51, ""), F_OK), -1);
	reopen();
	expect_chunk(0x50, model, 100000, 1);
	cr_expect_eq(count_chunks(), 1);
}

Test(chunkstore, short_body_is_not_committed)
{
	static char body[1000];
	struct gfs_chunkwrite_args a = {
		.handle = 0x52, .version = 1, .size = 1000, .wait_ms = 100,
	};
	struct gfs_chunkwrite *w;
	uint64_t len;

	cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_data(w, body, 999), GFS_OK);
	cr_expect_eq(gfs_chunkwrite_commit(w, &len), GFS_EINVAL);
	gfs_chunkwrite_free(w);
	cr_expect_eq(count_chunks(), 0);
}

Test(chunkstore, clone_copies_a_prefix_and_overlays_the_body)
{
	static char src[300000], model[300000], patch[5000];
	struct gfs_chunkwrite_args a = {
		.handle = 0x61, .version = 1, .offset = 10000, .clone = true,
		.clone_handle = 0x60, .clone_version = 4,
		.clone_length = 150001, .wait_ms = 100,
	};

	fill(src, sizeof(src), 17);
	fill(patch, sizeof(patch), 18);
	cr_assert_eq(put(0x60, 4, 0, src, 200000), GFS_OK);
	cr_assert_eq(put_args(&a, patch, sizeof(patch), 999), GFS_OK);
	memcpy(model, src, 150001);
	memcpy(model + 10000, patch, sizeof(patch));
	expect_chunk(0x61, model, 150001, 1);
	expect_chunk(0x60, src, 200000, 4);
	/* a clone past the copied length leaves a zero gap */
	a.handle = 0x62;
	a.offset = 160000;
	cr_assert_eq(put_args(&a, patch, 100, 999), GFS_OK);
	memcpy(model, src, 150001);
	memset(model + 150001, 0, 160000 - 150001);
	memcpy(model + 160000, patch, 100);
	expect_chunk(0x62, model, 160100, 1);
	reopen();
	expect_chunk(0x62, model, 160100, 1);
}

Test(chunkstore, clone_needs_its_source_at_that_version)
{
	static char body[100];
	struct gfs_chunkwrite_args a = {
		.handle = 0x71, .version = 1, .clone = true,
		.clone_handle = 0x70, .clone_version = 2,
		.clone_length = 100, .wait_ms = 100,
	};

	cr_expect_eq(put_args(&a, body, 10, 10), GFS_ENOENT);
	cr_assert_eq(put(0x70, 3, 0, body, 100), GFS_OK);
	cr_expect_eq(put_args(&a, body, 10, 10), GFS_ESTALE);
	cr_expect_eq(count_chunks(), 1);
}

/* A "remote" clone source: the bytes of a model, in small pieces. */
static enum gfs_err fake_fetch(void *cls, uint64_t handle, uint64_t version,
			       uint64_t length, struct gfs_chunkwrite *w)
{
	const char *src = cls;
	enum gfs_err err = GFS_OK;

	cr_expect_eq(handle, 0x80);
	cr_expect_eq(version, 9);
	for (uint64_t at = 0; !err && at < length; at += 3000)
		err = gfs_chunkwrite_base(w, src + at,
					  length - at < 3000 ? length - at
							     : 3000);
	return err;
}

Test(chunkstore, clone_from_elsewhere_goes_through_fetch)
{
	static char src[200000], model[200000], patch[20000];
	struct gfs_chunkwrite_args a = {
		.handle = 0x81, .version = 1, .offset = 65000, .clone = true,
		.clone_handle = 0x80, .clone_version = 9,
		.clone_length = 140000, .fetch = fake_fetch, .fetch_cls = src,
		.wait_ms = 100,
	};

	fill(src, sizeof(src), 19);
	fill(patch, sizeof(patch), 20);
	cr_assert_eq(put_args(&a, patch, sizeof(patch), 4096), GFS_OK);
	memcpy(model, src, 140000);
	memcpy(model + 65000, patch, sizeof(patch));
	expect_chunk(0x81, model, 140000, 1);
}

Test(chunkstore, replace_drops_the_old_bytes)
{
	static char body[200000];
	struct gfs_chunkwrite_args a = {
		.handle = 0x90, .version = 7, .replace = true, .wait_ms = 100,
	};

	fill(body, sizeof(body), 21);
	cr_assert_eq(put(0x90, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(put_args(&a, body + 1, 1000, 300), GFS_OK);
	expect_chunk(0x90, body + 1, 1000, 7);
}

Test(chunkstore, offsets_past_the_largest_chunk_are_too_large)
{
	static char body[10];

	cr_expect_eq(put(0xa0, 1, GFS_MAX_CHUNK_SIZE, body, 10), GFS_ETOOBIG);
	cr_expect_eq(put(0xa0, 1, UINT64_MAX - 5, body, 10), GFS_ETOOBIG);
	cr_expect_eq(put(0xa0, 1, GFS_MAX_CHUNK_SIZE - 10, body, 10), GFS_OK);
}

Test(chunkstore, full_capacity_refuses_before_and_during_the_body)
{
	static char body[300000];
	struct gfs_chunkwrite_args a = {
		.handle = 0xb1, .version = 1, .size = -1, .wait_ms = 100,
	};
	struct gfs_chunkwrite *w;
	enum gfs_err err = GFS_OK;

	gfs_chunkstore_close(store);
	open_store(200000);
	cr_expect_eq(put(0xb0, 1, 0, body, 300000), GFS_EDISKFULL);
	cr_expect_eq(put(0xb0, 1, 0, body, 150000), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0), GFS_OK);
	for (int i = 0; i < 10 && !err; i++)
		err = gfs_chunkwrite_data(w, body, 10000);
	cr_expect_eq(err, GFS_EDISKFULL);
	gfs_chunkwrite_free(w);
	cr_expect_eq(count_chunks(), 1);
}

Test(chunkstore, delete_removes_files_and_is_reported)
{
	static char body[100];
	json_t *chunks, *removed, *corrupt;
	uint64_t upto, first;

	cr_assert_eq(put(0xc0, 1, 0, body, 100), GFS_OK);
	cr_assert_eq(put(0xc1, 1, 0, body, 50), GFS_OK);
	gfs_chunkstore_report(store, true, 0, &chunks, &removed, &corrupt,
			      &first);
	cr_expect_eq(json_array_size(chunks), 2);
	json_decref(chunks);
	json_decref(removed);
	json_decref(corrupt);
	cr_expect_eq(gfs_chunkstore_delete(store, 0xc0, 100), GFS_OK);
	cr_expect_eq(gfs_chunkstore_delete(store, 0xc0, 100), GFS_ENOENT);
	cr_expect_eq(access(chunk_path(0xc0, ""), F_OK), -1);
	cr_expect_eq(access(chunk_path(0xc0, ".meta"), F_OK), -1);
	gfs_chunkstore_report(store, false, first, &chunks, &removed,
			      &corrupt, &upto);
	cr_expect_eq(json_array_size(chunks), 0);
	cr_expect_eq(json_array_size(removed), 1);
	cr_expect_str_eq(json_string_value(json_array_get(removed, 0)),
			 "00000000000000c0");
	json_decref(chunks);
	json_decref(removed);
	json_decref(corrupt);
	gfs_chunkstore_trim_changes(store, upto);
	gfs_chunkstore_report(store, false, 0, &chunks, &removed, &corrupt,
			      &upto);
	cr_expect_eq(json_array_size(chunks) + json_array_size(removed), 0);
	json_decref(chunks);
	json_decref(removed);
	json_decref(corrupt);
}

Test(chunkstore, a_second_writer_waits_then_gives_up)
{
	static char body[100];
	struct gfs_chunkwrite_args a = {
		.handle = 0xd0, .version = 1, .size = -1, .wait_ms = 100,
	};
	struct gfs_chunkwrite *w;

	cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0), GFS_OK);
	cr_expect_eq(put(0xd0, 2, 0, body, 10), GFS_ESTALE);
	cr_expect_eq(gfs_chunkstore_delete(store, 0xd0, 50), GFS_ESTALE);
	gfs_chunkwrite_free(w);
	cr_expect_eq(put(0xd0, 2, 0, body, 10), GFS_OK);
}

Test(chunkstore, leftovers_of_a_crash_are_removed_at_start)
{
	static char body[100];
	int fd;

	cr_assert_eq(put(0xe0, 1, 0, body, 100), GFS_OK);
	/* a data file without meta (create interrupted), a .tmp */
	fd = open(chunk_path(0xe1, ""), O_CREAT | O_WRONLY, 0644);
	close(fd);
	fd = open(chunk_path(0xe0, ".tmp"), O_CREAT | O_WRONLY, 0644);
	close(fd);
	reopen();
	cr_expect_eq(access(chunk_path(0xe1, ""), F_OK), -1);
	cr_expect_eq(access(chunk_path(0xe0, ".tmp"), F_OK), -1);
	expect_chunk(0xe0, body, 100, 1);
}

Test(chunkstore, a_second_store_on_the_same_dir_is_refused)
{
	struct gfs_chunkstore_conf conf = { .dir = dir };
	struct gfs_chunkstore *other;

	cr_expect_eq(gfs_chunkstore_open(&conf, &other), GFS_EEXIST);
}

Test(chunkstore, empty_chunk_has_no_blocks)
{
	uint64_t len, version;
	char *buf;

	cr_assert_eq(put(0xf0, 1, 0, NULL, 0), GFS_OK);
	buf = read_all(0xf0, &len, &version);
	cr_expect_eq(len, 0);
	free(buf);
}

Test(chunkstore, a_chunk_whose_files_vanished_is_taken_out)
{
	static char body[1000];
	struct gfs_chunk_view *v;

	cr_assert_eq(put(0x123, 1, 0, body, sizeof(body)), GFS_OK);
	reopen(); /* nothing cached */
	cr_assert_eq(unlink(chunk_path(0x123, "")), 0);
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x123, false, &v),
		     GFS_ECORRUPT);
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x123, false, &v),
		     GFS_ENOENT);
	cr_expect_eq(count_chunks(), 0);
}

Test(chunkstore, a_meta_of_another_version_is_taken_out)
{
	static char body[1000];
	enum gfs_chunkmeta_home home;
	struct gfs_chunk_view *v;
	struct gfs_chunkmeta m;
	bool unsupported;
	int dfd, fd;

	cr_assert_eq(put(0x124, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(put(0x125, 2, 0, body, sizeof(body)), GFS_OK);
	reopen(); /* nothing cached */
	/* the disk says v7, the table v1: a commit that failed half-way */
	dfd = open_subdir(0x124);
	fd = open(chunk_path(0x124, ""), O_RDWR);
	cr_assert(fd >= 0);
	cr_assert_eq(gfs_chunkmeta_load(dfd, fd, 0x124, &m, true, &home),
		     GFS_OK);
	cr_expect_eq(home, GFS_CHUNKMETA_IN_XATTR);
	m.version = 7;
	cr_assert_eq(gfs_chunkmeta_set_xattr(fd, &m, &unsupported), GFS_OK);
	free(m.crcs);
	close(fd);
	close(dfd);
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x124, false, &v),
		     GFS_ECORRUPT);
	cr_expect_eq(count_chunks(), 1);
}

/* --- the two homes of a meta ------------------------------------------ */

/* The chunk's length and version, and its last len bytes against tail
 * (for chunks too large to read whole here). */
static void expect_tail(uint64_t h, uint64_t length, uint64_t version,
			const char *tail, size_t len)
{
	struct gfs_chunk_view *v;
	char *buf = malloc(GFS_BLOCK_SIZE);
	size_t got;

	cr_assert_eq(gfs_chunkstore_get_view(store, h, false, &v), GFS_OK);
	cr_expect_eq(v->length, length);
	cr_expect_eq(v->version, version);
	cr_assert_eq(gfs_chunkstore_read_blocks(store, v, v->nblocks - 1, 1,
						buf, &got), GFS_OK);
	cr_assert(got >= len);
	cr_expect(!memcmp(buf + got - len, tail, len), "tail differs");
	gfs_chunkstore_put_view(store, v);
	free(buf);
}

/* 62 MiB: 992 blocks, a meta of 4028 bytes, past GFS_CHUNKMETA_XATTR_MAX */
#define BIG_OFF (62ull << 20)

Test(chunkstore, a_small_chunk_keeps_its_meta_in_the_xattr)
{
	static char body[4096];

	fill(body, sizeof(body), 30);
	cr_assert_eq(put(0x301, 1, 0, body, sizeof(body)), GFS_OK);
	expect_home(0x301, true);
	cr_expect_eq(xattr_size(0x301), (ssize_t)gfs_chunkmeta_size(1));
	reopen();
	expect_chunk(0x301, body, sizeof(body), 1);
	expect_home(0x301, true);
}

Test(chunkstore, a_chunk_past_61_mib_keeps_its_meta_in_a_file)
{
	static char body[100];

	fill(body, sizeof(body), 31);
	cr_assert(!gfs_chunkstore_meta_in_xattr(store,
					GFS_NBLOCKS(BIG_OFF + 100)));
	cr_assert_eq(put(0x302, 1, BIG_OFF, body, 100), GFS_OK);
	expect_home(0x302, false);
	reopen();
	expect_tail(0x302, BIG_OFF + 100, 1, body, 100);
}

Test(chunkstore, a_chunk_moves_between_homes_as_it_grows_and_shrinks)
{
	static char body[4096];
	struct gfs_chunkwrite_args a = {
		.handle = 0x303, .version = 3, .replace = true, .wait_ms = 100,
	};

	fill(body, sizeof(body), 32);
	cr_assert_eq(put(0x303, 1, 0, body, 4096), GFS_OK);
	expect_home(0x303, true);
	/* an append past the xattr's reach: to a file, xattr removed */
	cr_assert_eq(put(0x303, 2, BIG_OFF, body, 100), GFS_OK);
	expect_home(0x303, false);
	expect_tail(0x303, BIG_OFF + 100, 2, body, 100);
	reopen();
	expect_tail(0x303, BIG_OFF + 100, 2, body, 100);
	/* replaced by a small one: back in the xattr, the file removed */
	cr_assert_eq(put_args(&a, body, 4096, 1000), GFS_OK);
	expect_home(0x303, true);
	expect_chunk(0x303, body, 4096, 3);
	reopen();
	expect_chunk(0x303, body, 4096, 3);
}

Test(chunkstore, chunks_of_meta_files_move_to_the_xattr_when_written)
{
	static char model[200000], other[100000], patch[1000];

	fill(model, sizeof(model), 33);
	fill(patch, sizeof(patch), 34);
	memcpy(other, model, sizeof(other));
	reopen_with(true);
	cr_assert_eq(put(0x304, 1, 0, model, 100000), GFS_OK);
	cr_assert_eq(put(0x305, 1, 0, model, 100000), GFS_OK);
	expect_home(0x304, false);
	reopen_with(false); /* metas written before xattrs still count */
	expect_chunk(0x304, model, 100000, 1);
	expect_home(0x304, false);
	/* an append in place */
	cr_assert_eq(put(0x304, 2, 100000, model + 100000, 5000), GFS_OK);
	expect_home(0x304, true);
	expect_chunk(0x304, model, 105000, 2);
	/* an overwrite (a copy renamed over) */
	memcpy(other + 500, patch, sizeof(patch));
	cr_assert_eq(put(0x305, 2, 500, patch, sizeof(patch)), GFS_OK);
	expect_home(0x305, true);
	reopen();
	expect_chunk(0x304, model, 105000, 2);
	expect_chunk(0x305, other, sizeof(other), 2);
	cr_expect_eq(gfs_chunkstore_delete(store, 0x305, 100), GFS_OK);
	cr_expect_eq(access(chunk_path(0x305, ""), F_OK), -1);
}

/* On a file system that may tear an xattr replaced in place (ext2, ext4
 * without a journal), an APPEND never rewrites the xattr of the version
 * it builds on: the new meta goes to a .meta file, durable before the
 * xattr is removed.  New inodes (a new chunk, an overwrite's copy) still
 * take the xattr. */
Test(chunkstore, where_xattrs_may_tear_an_append_moves_its_meta_to_a_file)
{
	static char model[300000], patch[1000];

	fill(model, sizeof(model), 39);
	fill(patch, sizeof(patch), 40);
	in_place = -1;
	reopen();
	cr_assert(!gfs_chunkstore_xattr_in_place(store));
	cr_assert_eq(put(0x309, 1, 0, model, 100000), GFS_OK);
	expect_home(0x309, true);
	cr_assert_eq(put(0x309, 2, 100000, model + 100000, 5000), GFS_OK);
	expect_home(0x309, false);
	cr_assert_eq(put(0x309, 3, 105000, model + 105000, 7000), GFS_OK);
	expect_home(0x309, false);
	reopen();
	expect_chunk(0x309, model, 112000, 3);
	/* an overwrite is a new inode: back in the xattr */
	memcpy(model + 300, patch, sizeof(patch));
	cr_assert_eq(put(0x309, 4, 300, patch, sizeof(patch)), GFS_OK);
	expect_home(0x309, true);
	reopen();
	expect_chunk(0x309, model, 112000, 4);
}

Test(chunkstore, meta_files_store_keeps_every_meta_in_a_file)
{
	static char body[4096];

	fill(body, sizeof(body), 35);
	reopen_with(true);
	cr_assert(!gfs_chunkstore_meta_in_xattr(store, 1));
	cr_assert_eq(put(0x306, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(put(0x306, 2, 4096, body, 100), GFS_OK);
	expect_home(0x306, false);
	cr_expect_eq(gfs_chunkstore_delete(store, 0x306, 100), GFS_OK);
	cr_expect_eq(access(chunk_path(0x306, ""), F_OK), -1);
	cr_expect(!has_meta_file(0x306));
}

/* A store told it may put larger metas in xattrs than the file system
 * takes (ext4: about 4 KiB) falls back to a file when fsetxattr says so;
 * a file system that takes it (tmpfs) keeps it in the xattr. */
Test(chunkstore, a_refused_xattr_falls_back_to_a_meta_file)
{
	static char body[100];
	bool in_xattr;

	fill(body, sizeof(body), 36);
	xattr_max = GFS_CHUNKMETA_XATTR_LIMIT;
	reopen();
	cr_assert(gfs_chunkstore_meta_in_xattr(store,
					       GFS_NBLOCKS(BIG_OFF + 100)));
	cr_assert_eq(put(0x307, 1, BIG_OFF, body, 100), GFS_OK);
	in_xattr = xattr_size(0x307) >= 0;
	expect_home(0x307, in_xattr);
	cr_assert_eq(put(0x307, 2, BIG_OFF + 100, body, 100), GFS_OK);
	expect_home(0x307, in_xattr);
	reopen();
	expect_tail(0x307, BIG_OFF + 200, 2, body, 100);
}

Test(chunkstore, a_stale_meta_file_beside_an_xattr_is_ignored_and_removed)
{
	static char old[4096], cur[4096];
	enum gfs_chunkmeta_home home;
	struct gfs_chunkmeta m;
	char cmd[600];
	int dfd, fd;

	fill(old, sizeof(old), 37);
	fill(cur, sizeof(cur), 38);
	/* v1 with its meta in a file, kept aside; v2 in the xattr */
	reopen_with(true);
	cr_assert_eq(put(0x308, 1, 0, old, sizeof(old)), GFS_OK);
	snprintf(cmd, sizeof(cmd), "cp %s ", chunk_path(0x308, ".meta"));
	strcat(cmd, dir);
	strcat(cmd, "/old.meta");
	cr_assert_eq(system(cmd), 0);
	reopen_with(false);
	cr_assert_eq(put(0x308, 2, 0, cur, sizeof(cur)), GFS_OK);
	expect_home(0x308, true);
	/* a crash brings the v1 meta file back beside it */
	snprintf(cmd, sizeof(cmd), "cp %s/old.meta ", dir);
	strcat(cmd, chunk_path(0x308, ".meta"));
	cr_assert_eq(system(cmd), 0);
	dfd = open_subdir(0x308);
	fd = open(chunk_path(0x308, ""), O_RDONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(gfs_chunkmeta_load(dfd, fd, 0x308, &m, false, &home),
		     GFS_OK);
	cr_expect_eq(home, GFS_CHUNKMETA_IN_XATTR);
	cr_expect_eq(m.version, 2);
	close(fd);
	close(dfd);
	reopen();
	expect_chunk(0x308, cur, sizeof(cur), 2);
	expect_home(0x308, true);
}

/* An append that outgrows the xattr writes the .meta file, then removes
 * the xattr: a crash in between leaves the old version, whole. */
Test(chunkstore, a_crash_before_the_xattr_goes_keeps_the_old_version)
{
	static char body[4196];
	struct gfs_chunkmeta m = { .handle = 0x309, .version = 2,
				   .length = 4196, .nblocks = 1 };
	uint32_t crc;
	int dfd, fd;

	fill(body, sizeof(body), 39);
	cr_assert_eq(put(0x309, 1, 0, body, 4096), GFS_OK);
	/* the appended bytes and the new meta file are on disk */
	fd = open(chunk_path(0x309, ""), O_WRONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, body + 4096, 100, 4096), 100);
	close(fd);
	crc = gfs_crc32c(0, body, sizeof(body));
	m.crcs = &crc;
	dfd = open_subdir(0x309);
	cr_assert_eq(gfs_chunkmeta_write(dfd, &m, true, true), GFS_OK);
	close(dfd);
	reopen();
	expect_chunk(0x309, body, 4096, 1);
	expect_home(0x309, true);
	/* and the append done again works */
	cr_assert_eq(put(0x309, 2, 4096, body + 4096, 100), GFS_OK);
	expect_chunk(0x309, body, 4196, 2);
}

Test(chunkstore, a_flipped_xattr_byte_is_detected)
{
	static char body[100000];
	struct gfs_chunk_view *v;

	fill(body, sizeof(body), 40);
	cr_assert_eq(put(0x30a, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(put(0x30b, 1, 0, body, sizeof(body)), GFS_OK);
	reopen(); /* nothing cached */
	spoil_xattr(0x30a, 60, -1); /* inside the CRC table */
	cr_expect_eq(gfs_chunkstore_get_view(store, 0x30a, false, &v),
		     GFS_ECORRUPT);
	cr_expect_eq(corrupt_calls, 1);
	cr_expect_eq(access(chunk_path(0x30a, ""), F_OK), -1,
		     "data of a bad xattr is moved away");
	spoil_xattr(0x30b, 30, -1); /* the version */
	reopen();
	cr_expect_eq(count_chunks(), 0);
	cr_expect_eq(access(chunk_path(0x30b, ""), F_OK), -1);
}

Test(chunkstore, a_torn_xattr_is_quarantined_at_start)
{
	static char body[100000];
	char q[200];

	fill(body, sizeof(body), 41);
	cr_assert_eq(put(0x30c, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(put(0x30d, 1, 0, body, sizeof(body)), GFS_OK);
	spoil_xattr(0x30c, 0, 40);
	reopen();
	cr_expect_eq(count_chunks(), 1);
	expect_chunk(0x30d, body, sizeof(body), 1);
	cr_expect_eq(access(chunk_path(0x30c, ""), F_OK), -1);
	snprintf(q, sizeof(q), "ls %s/quarantine | grep -q '^000000000000030c\\.'",
		 dir);
	cr_expect_eq(system(q), 0, "the data file (with its xattr) is kept");
}

/* The xattr rules even when it is bad: a good meta file beside it is
 * never taken instead (it may be of an older version). */
Test(chunkstore, a_bad_xattr_is_not_replaced_by_a_meta_file)
{
	static char body[4096];
	struct gfs_chunkmeta m = { .handle = 0x30e, .version = 1,
				   .length = 4096, .nblocks = 1 };
	uint32_t crc;
	int dfd;

	fill(body, sizeof(body), 42);
	cr_assert_eq(put(0x30e, 1, 0, body, sizeof(body)), GFS_OK);
	crc = gfs_crc32c(0, body, sizeof(body));
	m.crcs = &crc;
	dfd = open_subdir(0x30e);
	cr_assert_eq(gfs_chunkmeta_write(dfd, &m, true, true), GFS_OK);
	close(dfd);
	spoil_xattr(0x30e, 20, -1);
	reopen();
	cr_expect_eq(count_chunks(), 0);
}

Test(chunkstore, an_xattr_of_another_handle_is_rejected)
{
	static char body[10];
	unsigned char v[GFS_CHUNKMETA_XATTR_MAX];
	struct gfs_chunkmeta m;
	ssize_t n;
	int fd;

	cr_assert_eq(put(0x0401, 1, 0, body, sizeof(body)), GFS_OK);
	cr_assert_eq(put(0x0501, 1, 0, body, sizeof(body)), GFS_OK);
	n = getxattr(chunk_path(0x0401, ""), GFS_CHUNKMETA_XATTR, v,
		     sizeof(v));
	cr_assert(n > 0);
	cr_assert_eq(setxattr(chunk_path(0x0501, ""), GFS_CHUNKMETA_XATTR, v,
			      (size_t)n, 0), 0);
	fd = open(chunk_path(0x0501, ""), O_RDONLY);
	cr_assert(fd >= 0);
	cr_expect_eq(gfs_chunkmeta_get_xattr(fd, 0x0501, &m, false),
		     GFS_ECORRUPT);
	cr_expect_eq(gfs_chunkmeta_get_xattr(fd, 0x0401, &m, false), GFS_OK);
	cr_expect_eq(gfs_chunkmeta_remove_xattr(fd), GFS_OK);
	cr_expect_eq(gfs_chunkmeta_get_xattr(fd, 0x0501, &m, false),
		     GFS_ENOENT);
	close(fd);
}

/* A file left under a name a write creates (an unlink that failed) may
 * carry an xattr meta; the write must not inherit it, or that xattr
 * would outrank the .meta file the write commits. */
Test(chunkstore, a_leftover_file_never_lends_its_xattr_to_a_write)
{
	static char body[5000], patch[100];
	struct gfs_chunkmeta m = { .version = 9, .length = 10, .nblocks = 1 };
	uint32_t crc = gfs_crc32c(0, body, 10);
	bool unsupported;
	int fd;

	fill(body, sizeof(body), 43);
	fill(patch, sizeof(patch), 44);
	reopen_with(true);
	cr_assert_eq(put(0x30f, 1, 0, body, sizeof(body)), GFS_OK);
	m.crcs = &crc;
	/* <0x30f>.tmp (an overwrite's copy) and 0x310 (a new chunk) */
	fd = open(chunk_path(0x30f, ".tmp"), O_CREAT | O_WRONLY, 0644);
	m.handle = 0x30f;
	cr_assert(fd >= 0 && pwrite(fd, body, 10, 0) == 10);
	cr_assert_eq(gfs_chunkmeta_set_xattr(fd, &m, &unsupported), GFS_OK);
	close(fd);
	fd = open(chunk_path(0x310, ""), O_CREAT | O_WRONLY, 0644);
	m.handle = 0x310;
	cr_assert(fd >= 0 && pwrite(fd, body, 10, 0) == 10);
	cr_assert_eq(gfs_chunkmeta_set_xattr(fd, &m, &unsupported), GFS_OK);
	close(fd);
	cr_assert_eq(put(0x30f, 2, 100, patch, sizeof(patch)), GFS_OK);
	cr_assert_eq(put(0x310, 1, 0, body, sizeof(body)), GFS_OK);
	expect_home(0x30f, false);
	expect_home(0x310, false);
	reopen();
	memcpy(body + 100, patch, sizeof(patch));
	expect_chunk(0x30f, body, sizeof(body), 2);
	fill(body, sizeof(body), 43);
	expect_chunk(0x310, body, sizeof(body), 1);
}

/* Many data files without any meta are not crash leftovers but likely a
 * directory copied without xattrs: they stay for a person. */
Test(chunkstore, a_flood_of_orphans_is_kept_not_removed)
{
	static char body[100];
	int fd, i;

	cr_assert_eq(put(0x311, 1, 0, body, sizeof(body)), GFS_OK);
	for (i = 0; i < 70; i++) {
		fd = open(chunk_path(0x1000 + (uint64_t)i, ""),
			  O_CREAT | O_WRONLY, 0644);
		cr_assert(fd >= 0);
		close(fd);
	}
	reopen();
	cr_expect_eq(count_chunks(), 1);
	cr_expect_eq(access(chunk_path(0x1000, ""), F_OK), 0);
	cr_expect_eq(access(chunk_path(0x1045, ""), F_OK), 0);
	expect_chunk(0x311, body, sizeof(body), 1);
}

/* Names in h's chunk directory (the chunk's own and any leftover). */
static int names_in_subdir(uint64_t h)
{
	DIR *d = fdopendir(open_subdir(h));
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* A new chunk h written halfway: under its name from the start when the
 * store creates by name (the fallback), else nowhere until its commit
 * (unless a leftover is there: stale); then committed (commit) or
 * aborted. */
static void new_chunk_halfway(uint64_t h, bool commit, bool stale,
			      const char *body, size_t len)
{
	struct gfs_chunkwrite_args a = {
		.handle = h, .version = 1, .size = (int64_t)len,
		.wait_ms = 100,
	};
	struct gfs_chunkwrite *w;
	uint64_t got;

	cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_data(w, body, len), GFS_OK);
	cr_expect_eq(access(chunk_path(h, ""), F_OK) == 0, named || stale,
		     "the new chunk %s a name before its commit",
		     named || stale ? "lacks" : "has");
	if (commit)
		cr_assert_eq(gfs_chunkwrite_commit(w, &got), GFS_OK, "%s",
			     gfs_chunkwrite_error(w));
	gfs_chunkwrite_free(w);
}

/* A committed new chunk is found by its name with its meta, across a
 * restart; an aborted one leaves no file at all. */
static void new_chunks_commit_or_vanish(void)
{
	static char body[70000];

	fill(body, sizeof(body), 45);
	new_chunk_halfway(0x320, true, false, body, sizeof(body));
	expect_home(0x320, true);
	expect_chunk(0x320, body, sizeof(body), 1);
	new_chunk_halfway(0x420, false, false, body, sizeof(body));
	cr_expect_eq(access(chunk_path(0x420, ""), F_OK), -1);
	cr_expect_eq(names_in_subdir(0x420), 1, "a leftover of the abort");
	reopen();
	expect_chunk(0x320, body, sizeof(body), 1);
	cr_expect_eq(count_chunks(), 1);
	cr_expect_eq(names_in_subdir(0x420), 1);
}

Test(chunkstore, a_new_chunk_is_named_only_at_its_commit)
{
	new_chunks_commit_or_vanish();
}

/* The fallback where O_TMPFILE is not to be had: files by name. */
Test(chunkstore, a_store_creating_by_name_commits_and_aborts_new_chunks)
{
	named = true;
	reopen();
	new_chunks_commit_or_vanish();
}

/* A leftover under the chunk's name (a write's file kept by a crash,
 * with a meta xattr of its own) stays until the commit replaces it. */
static void stale_name_is_replaced(void)
{
	static char body[9000], old[10];
	struct gfs_chunkmeta m = { .handle = 0x321, .version = 9,
				   .length = 10, .nblocks = 1 };
	uint32_t crc = gfs_crc32c(0, old, sizeof(old));
	bool unsupported;
	int fd;

	fill(body, sizeof(body), 46);
	m.crcs = &crc;
	fd = open(chunk_path(0x321, ""), O_CREAT | O_WRONLY, 0644);
	cr_assert(fd >= 0 && pwrite(fd, old, 10, 0) == 10);
	cr_assert_eq(gfs_chunkmeta_set_xattr(fd, &m, &unsupported), GFS_OK);
	close(fd);
	new_chunk_halfway(0x321, true, true, body, sizeof(body));
	expect_chunk(0x321, body, sizeof(body), 1);
	expect_home(0x321, true);
	reopen();
	expect_chunk(0x321, body, sizeof(body), 1);
	cr_expect_eq(names_in_subdir(0x321), 1);
}

Test(chunkstore, a_stale_name_at_a_new_chunk_is_replaced)
{
	stale_name_is_replaced();
}

Test(chunkstore, a_store_creating_by_name_replaces_a_stale_name)
{
	named = true;
	reopen();
	stale_name_is_replaced();
}

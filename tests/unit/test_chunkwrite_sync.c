/*
 * Unit tests for the durability of chunkserver/chunkwrite.c's commits: a
 * commit waits for the disk (fsync, fdatasync or a waiting
 * sync_file_range) before it publishes a version, except with
 * --ack-in-memory (struct gfs_chunkstore_conf ack_in_memory), where no
 * commit ever waits for the disk and every chunk still reads back, also
 * after the store is opened again.  The same for a new chunk packed as a
 * record (chunkserver/pack.h): its commit waits for the segment's
 * fdatasync, except with --ack-in-memory.
 *
 * The waits are counted by interposing fsync, fdatasync and
 * sync_file_range (a definition in the test program wins over libc's
 * and passes each call on, dlsym RTLD_NEXT); Criterion runs each test in
 * its own process.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../chunkserver/chunkstore.h"
#include "../../chunkserver/chunkwrite.h"
#include "log.h"
#include "util.h"

#define H 0x77
#define LEN 5000

static char dir[64];
static int disk_waits; /* calls that wait for the disk, since reset */
static int fsyncs;     /* fsync and fdatasync calls, since reset */
static int links;      /* linkat calls, since reset */
static int fsyncs_before_link; /* fsyncs when the last linkat ran */

int fsync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	disk_waits++;
	fsyncs++;
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	disk_waits++;
	fsyncs++;
	return real(fd);
}

int sync_file_range(int fd, off_t off, off_t len, unsigned int flags)
{
	static int (*real)(int, off_t, off_t, unsigned int);

	if (!real)
		real = (int (*)(int, off_t, off_t, unsigned int))dlsym(
			RTLD_NEXT, "sync_file_range");
	if (flags & (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WAIT_AFTER))
		disk_waits++;
	return real(fd, off, len, flags);
}

int linkat(int olddirfd, const char *oldpath, int newdirfd,
	   const char *newpath, int flags)
{
	static int (*real)(int, const char *, int, const char *, int);

	if (!real)
		real = (int (*)(int, const char *, int, const char *, int))
			dlsym(RTLD_NEXT, "linkat");
	links++;
	fsyncs_before_link = fsyncs;
	return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

static struct gfs_chunkstore *open_with(bool in_memory, uint64_t pack_max)
{
	struct gfs_chunkstore_conf conf = { .dir = dir,
					    .ack_in_memory = in_memory,
					    .pack_max = pack_max };
	struct gfs_chunkstore *s;

	cr_assert_eq(gfs_chunkstore_open(&conf, &s), GFS_OK);
	return s;
}

static struct gfs_chunkstore *open_store(bool in_memory)
{
	return open_with(in_memory, 0);
}

/* A store that packs, once its pack's thread has made the spare (whose
 * fsyncs are not a commit's). */
static struct gfs_chunkstore *open_packing(bool in_memory)
{
	struct gfs_chunkstore *s = open_with(in_memory, 1ull << 30);
	struct gfs_chunkstore_packs pk;
	int64_t end = gfs_mono_ms() + 5000;

	do
		gfs_chunkstore_packs(s, &pk);
	while (pk.segments < 2 && gfs_mono_ms() < end && !usleep(10000));
	cr_assert_eq(pk.segments, 2, "no spare segment");
	return s;
}

/* Write body[0..len) at off as version v of chunk H. */
static void put(struct gfs_chunkstore *s, uint64_t v, uint64_t off,
		const char *body, size_t len)
{
	struct gfs_chunkwrite_args a = { .handle = H, .version = v,
					 .offset = off, .wait_ms = 100,
					 .size = (int64_t)len };
	struct gfs_chunkwrite *w;
	uint64_t length;

	cr_assert_eq(gfs_chunkwrite_begin(s, &a, &w, NULL, 0), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_data(w, body, len), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_commit(w, &length), GFS_OK,
		     "%s", gfs_chunkwrite_error(w));
	gfs_chunkwrite_free(w);
}

/* A new chunk, an append to it, and an overwrite (a copy renamed over):
 * the three shapes a client's writes take.  Returns the disk waits of
 * their commits; *expect gets the chunk's bytes. */
static int write_three(struct gfs_chunkstore *s, char expect[2 * LEN])
{
	char body[LEN];
	size_t i;

	for (i = 0; i < LEN; i++)
		body[i] = (char)(i * 13 + 1);
	disk_waits = 0;
	put(s, 1, 0, body, LEN);                 /* NEW */
	put(s, 2, LEN, body, LEN);               /* APPEND */
	put(s, 3, 100, body + 7, 900);           /* COW */
	memcpy(expect, body, LEN);
	memcpy(expect + LEN, body, LEN);
	memcpy(expect + 100, body + 7, 900);
	return disk_waits;
}

/* Chunk H in s is version 3 holding expect. */
static void expect_chunk(struct gfs_chunkstore *s, const char *expect)
{
	struct gfs_chunk_view *v;
	char got[2 * LEN];

	cr_assert_eq(gfs_chunkstore_get_view(s, H, false, &v), GFS_OK);
	cr_expect_eq(v->version, 3);
	cr_expect_eq(v->length, 2 * LEN);
	cr_assert_eq(pread(v->fd, got, sizeof(got), 0), (ssize_t)sizeof(got));
	cr_expect_arr_eq(got, expect, sizeof(got));
	gfs_chunkstore_put_view(s, v);
}

static void setup(void)
{
	gfs_log_init("test", GFS_LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/gfs-cwsync.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(chunkwrite_sync, .init = setup, .fini = teardown);

Test(chunkwrite_sync, a_commit_waits_for_the_disk)
{
	struct gfs_chunkstore *s = open_store(false);
	char expect[2 * LEN];

	cr_expect_geq(write_three(s, expect), 3,
		      "a commit that did not wait for the disk");
	expect_chunk(s, expect);
	gfs_chunkstore_close(s);
}

Test(chunkwrite_sync, ack_in_memory_never_waits_for_the_disk)
{
	struct gfs_chunkstore *s = open_store(true);
	char expect[2 * LEN];

	cr_expect_eq(write_three(s, expect), 0,
		     "--ack-in-memory waited for the disk");
	expect_chunk(s, expect);
	gfs_chunkstore_close(s);
	s = open_store(true); /* a restart reads it back */
	expect_chunk(s, expect);
	gfs_chunkstore_close(s);
}

/* A new chunk's unnamed inode gets its name before any fsync, so that
 * the file's fsync writes the inode with its link, data and xattr and
 * the directory's fsync makes the name durable (chunkwrite.c's top). */
Test(chunkwrite_sync, a_new_chunk_is_linked_before_any_fsync)
{
	struct gfs_chunkstore *s = open_store(false);
	char body[LEN] = { 1 };

	links = fsyncs = 0;
	fsyncs_before_link = -1;
	put(s, 1, 0, body, LEN);
	cr_expect_eq(links, 1, "the new chunk was linked %d times", links);
	cr_expect_eq(fsyncs_before_link, 0);
	cr_expect_geq(fsyncs, 2, "file and directory");
	gfs_chunkstore_close(s);
}

Test(chunkwrite_sync, a_packed_commit_waits_for_the_disk)
{
	struct gfs_chunkstore *s = open_packing(false);
	struct gfs_chunkstore_packs pk;
	char body[LEN] = { 2 };

	disk_waits = 0;
	put(s, 1, 0, body, LEN);
	gfs_chunkstore_packs(s, &pk);
	cr_assert_eq(pk.chunks, 1, "the new chunk was not packed");
	cr_expect_geq(disk_waits, 1, "a packed commit did not wait");
	gfs_chunkstore_close(s);
}

Test(chunkwrite_sync, ack_in_memory_packed_never_waits_for_the_disk)
{
	struct gfs_chunkstore *s = open_packing(true);
	char expect[2 * LEN];

	cr_expect_eq(write_three(s, expect), 0,
		     "--ack-in-memory waited for the disk");
	expect_chunk(s, expect);  /* packed, then materialised by the APPEND */
	gfs_chunkstore_close(s);
	s = open_store(true);
	expect_chunk(s, expect);
	gfs_chunkstore_close(s);
}

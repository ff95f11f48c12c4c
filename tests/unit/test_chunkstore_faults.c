/*
 * Unit tests for chunkserver/chunkstore.c and chunkmeta.c under system
 * failures: only proof of corruption quarantines a replica.  An open
 * that fails with EMFILE or EIO, an xattr read failing with ENOMEM, a
 * block read failing with EIO, at a read or at start-up, is an error for
 * that request and the replica stays exactly as it was.
 *
 * The failures are injected by interposing openat64, pread64 and
 * fgetxattr (what the store calls with _FILE_OFFSET_BITS=64): a
 * definition in the test program wins over libc's, and passes every call
 * it is not told to fail on to the real one (dlsym RTLD_NEXT).  One test
 * hits the real limit instead: RLIMIT_NOFILE, as `prlimit --nofile` sets
 * it, with every descriptor below it taken.  Criterion runs each test in
 * its own process, so neither leaks into another.
 */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../../chunkserver/chunkstore.h"
#include "../../chunkserver/chunkwrite.h"
#include "log.h"
#include "path.h"

#define H 0x1234
#define LEN (3 * 65536 + 100)

static char dir[64];
static char body[LEN];
static struct gfs_chunkstore *store;
static int corrupt_calls;

/* The failures to inject: 0 for none. */
static const char *fail_open_name; /* openat64 of this name */
static int fail_open_errno;
static int fail_pread_errno;       /* every pread64 */
static int fail_getxattr_errno;    /* every fgetxattr */

int openat64(int fd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	int mode = 0;
	va_list ap;

	if (flags & O_CREAT || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	if (fail_open_name && !strcmp(path, fail_open_name)) {
		errno = fail_open_errno;
		return -1;
	}
	if (!real)
		real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT,
								   "openat64");
	return real(fd, path, flags, mode);
}

ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	static ssize_t (*real)(int, void *, size_t, off_t);

	if (fail_pread_errno) {
		errno = fail_pread_errno;
		return -1;
	}
	if (!real)
		real = (ssize_t (*)(int, void *, size_t, off_t))dlsym(
			RTLD_NEXT, "pread64");
	return real(fd, buf, len, off);
}

ssize_t fgetxattr(int fd, const char *name, void *value, size_t size)
{
	static ssize_t (*real)(int, const char *, void *, size_t);

	if (fail_getxattr_errno) {
		errno = fail_getxattr_errno;
		return -1;
	}
	if (!real)
		real = (ssize_t (*)(int, const char *, void *, size_t))dlsym(
			RTLD_NEXT, "fgetxattr");
	return real(fd, name, value, size);
}

static void on_corrupt(void *cls, uint64_t handle)
{
	(void)cls;
	(void)handle;
	corrupt_calls++;
}

static void open_store(bool meta_files)
{
	struct gfs_chunkstore_conf conf = {
		.dir = dir, .on_corrupt = on_corrupt, .meta_files = meta_files,
	};

	cr_assert_eq(gfs_chunkstore_open(&conf, &store), GFS_OK);
}

static void put_chunk(void)
{
	struct gfs_chunkwrite_args a = {
		.handle = H, .version = 1, .offset = 0, .wait_ms = 100,
		.size = LEN,
	};
	struct gfs_chunkwrite *w;
	uint64_t length;

	for (size_t i = 0; i < LEN; i++)
		body[i] = (char)(i * 7 + (i >> 11));
	cr_assert_eq(gfs_chunkwrite_begin(store, &a, &w, NULL, 0), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_data(w, body, LEN), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_commit(w, &length), GFS_OK);
	gfs_chunkwrite_free(w);
}

/* A store holding chunk H, reopened so that no view of it is cached. */
static void setup_with(bool meta_files)
{
	gfs_log_init("test", GFS_LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/gfs-csfaults.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	corrupt_calls = 0;
	open_store(meta_files);
	put_chunk();
	gfs_chunkstore_close(store);
	open_store(meta_files);
}

static void setup(void)
{
	setup_with(false);
}

static void setup_meta_files(void)
{
	setup_with(true);
}

static void teardown(void)
{
	char cmd[128];

	fail_open_name = NULL;
	fail_pread_errno = fail_getxattr_errno = 0;
	gfs_chunkstore_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

TestSuite(chunkstore_faults, .init = setup, .fini = teardown);
/* The same with every meta in a .meta file (--meta-files). */
TestSuite(chunkstore_faults_files, .init = setup_meta_files,
	  .fini = teardown);

static const char *hex_of(uint64_t h, const char *suffix)
{
	static char name[32];
	char hex[17];

	gfs_handle_fmt(h, hex);
	snprintf(name, sizeof(name), "%s%s", hex, suffix);
	return name;
}

/* The replica is whole and in service: in place, not quarantined,
 * counted, reported nowhere as corrupt, and its bytes read back. */
static void expect_intact(void)
{
	struct gfs_chunkstore_space sp;
	struct gfs_chunk_view *v;
	char path[128], cmd[160], *buf;
	struct stat st;
	size_t got;

	snprintf(path, sizeof(path), "%s/chunks/%02x/%s", dir, H & 0xff,
		 hex_of(H, ""));
	cr_expect_eq(stat(path, &st), 0, "data file gone");
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s/quarantine)\"", dir);
	cr_expect_eq(system(cmd), 0, "something was quarantined");
	cr_expect_eq(corrupt_calls, 0, "reported corrupt");
	gfs_chunkstore_space(store, &sp);
	cr_expect_eq(sp.chunks, 1);
	cr_assert_eq(gfs_chunkstore_get_view(store, H, false, &v), GFS_OK);
	buf = malloc((size_t)v->nblocks * 65536);
	cr_assert_eq(gfs_chunkstore_read_blocks(store, v, 0, v->nblocks, buf,
						&got), GFS_OK);
	cr_expect_eq(got, LEN);
	cr_expect(!memcmp(buf, body, LEN), "bytes differ");
	free(buf);
	gfs_chunkstore_put_view(store, v);
}

/* get_view of H fails with want and errno e, and nothing else happens. */
static void expect_view_fails(enum gfs_err want, int e)
{
	struct gfs_chunk_view *v = NULL;

	errno = 0;
	cr_expect_eq(gfs_chunkstore_get_view(store, H, false, &v), want);
	cr_expect_eq(errno, e, "errno %d, expected %d", errno, e);
	fail_open_name = NULL;
	fail_pread_errno = fail_getxattr_errno = 0;
	expect_intact();
}

Test(chunkstore_faults, no_fd_for_the_data_file_keeps_the_replica)
{
	fail_open_name = hex_of(H, "");
	fail_open_errno = EMFILE;
	expect_view_fails(GFS_EUNAVAIL, EMFILE);
}

Test(chunkstore_faults, an_io_error_opening_the_data_file_keeps_it)
{
	fail_open_name = hex_of(H, "");
	fail_open_errno = EIO;
	expect_view_fails(GFS_EIO, EIO);
}

Test(chunkstore_faults, no_fd_for_its_directory_keeps_the_replica)
{
	static char sub[4];

	snprintf(sub, sizeof(sub), "%02x", H & 0xff);
	fail_open_name = sub;
	fail_open_errno = ENFILE;
	expect_view_fails(GFS_EUNAVAIL, ENFILE);
}

Test(chunkstore_faults, an_xattr_read_without_memory_keeps_the_replica)
{
	fail_getxattr_errno = ENOMEM;
	expect_view_fails(GFS_EUNAVAIL, ENOMEM);
}

Test(chunkstore_faults_files, a_meta_file_that_cannot_be_opened_keeps_it)
{
	fail_open_name = hex_of(H, ".meta");
	fail_open_errno = EMFILE;
	expect_view_fails(GFS_EUNAVAIL, EMFILE);
}

Test(chunkstore_faults, a_failed_block_read_keeps_the_replica)
{
	struct gfs_chunk_view *v;
	char *buf = malloc(4 * 65536);
	size_t got;

	cr_assert_eq(gfs_chunkstore_get_view(store, H, false, &v), GFS_OK);
	fail_pread_errno = EIO;
	cr_expect_eq(gfs_chunkstore_read_blocks(store, v, 0, 2, buf, &got),
		     GFS_EIO);
	cr_expect_eq(errno, EIO);
	cr_expect_eq(gfs_chunkstore_check_blocks(store, v, 0, 4), GFS_EIO);
	fail_pread_errno = 0;
	gfs_chunkstore_put_view(store, v);
	free(buf);
	expect_intact();
}

Test(chunkstore_faults, start_up_keeps_a_chunk_it_cannot_read)
{
	struct gfs_chunkstore_space sp;
	struct gfs_chunk_view *v;

	gfs_chunkstore_close(store);
	fail_open_name = hex_of(H, "");
	fail_open_errno = EIO;
	open_store(false);
	fail_open_name = NULL;
	/* not served this time (its meta was not read)... */
	gfs_chunkstore_space(store, &sp);
	cr_expect_eq(sp.chunks, 0);
	cr_expect_eq(gfs_chunkstore_get_view(store, H, false, &v),
		     GFS_ENOENT);
	/* ...neither quarantined nor removed as an orphan: back next time */
	gfs_chunkstore_close(store);
	open_store(false);
	expect_intact();
}

Test(chunkstore_faults, start_up_keeps_a_chunk_whose_xattr_it_cannot_read)
{
	gfs_chunkstore_close(store);
	fail_getxattr_errno = EIO;
	open_store(false);
	fail_getxattr_errno = 0;
	gfs_chunkstore_close(store);
	open_store(false);
	expect_intact();
}

/* The real thing: no descriptor left under RLIMIT_NOFILE. */
Test(chunkstore_faults, a_full_descriptor_table_keeps_the_replica)
{
	struct rlimit rl = { 64, 64 };
	struct gfs_chunk_view *v = NULL;
	int fds[64], n = 0, fd;

	if (getenv("GFS_VALGRIND"))
		cr_skip_test("valgrind keeps RLIMIT_NOFILE for itself");
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (n < 64 && (fd = dup(0)) >= 0)
		fds[n++] = fd;
	cr_assert_eq(errno, EMFILE, "the table did not fill");
	errno = 0;
	cr_expect_eq(gfs_chunkstore_get_view(store, H, false, &v),
		     GFS_EUNAVAIL);
	cr_expect_eq(errno, EMFILE);
	while (n)
		close(fds[--n]);
	expect_intact();
}

/*
 * slow_sync.c - an LD_PRELOAD shim for tests: fsync(2) and fdatasync(2)
 * wait first, as a slow disk would, then sync.
 *
 * For: making the window between a write and its durability wide enough
 * that a test can kill a process inside it and see whether anything was
 * acknowledged before it was durable (test_fuse_durable_close.sh).  Not
 * for: anything but tests.
 *
 * The wait is the number of milliseconds in the file named by
 * GFS_SLOW_SYNC_FILE, read at each call (none when the variable, the file
 * or a number is missing), so a test turns it on and off while its
 * processes run.
 *
 * Invariants: the real call always follows, with its result and errno.
 * Locking: none (no state).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* The wait GFS_SLOW_SYNC_FILE asks for, then none. */
static void slow_sync_wait(void)
{
	const char *name = getenv("GFS_SLOW_SYNC_FILE");
	char buf[16] = { 0 };
	struct timespec ts;
	long ms;
	int fd;

	fd = name ? open(name, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	ms = strtol(buf, NULL, 10);
	if (ms <= 0 || ms > 10000)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0)
		;
}

int fsync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

	slow_sync_wait();
	return real(fd);
}

int fdatasync(int fd)
{
	int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

	slow_sync_wait();
	return real(fd);
}

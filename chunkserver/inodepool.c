/*
 * inodepool.c - unnamed inodes made in advance (see inodepool.h).
 *
 * The pool is a stack of fds.  take() pops one and wakes the refill
 * thread; when the stack is empty it makes an O_TMPFILE inode itself
 * (what the thread would have done), so a writer never waits for the
 * thread.  The thread makes inodes one at a time without the lock and
 * sleeps, with a deadline, while the pool is full; after a failure
 * (EMFILE, ENOSPC, ...) it retries no sooner than RETRY_MS later.
 *
 * Linking: linkat(AT_FDCWD, "/proc/self/fd/N", ..., AT_SYMLINK_FOLLOW)
 * works for any user; linkat(fd, "", ..., AT_EMPTY_PATH) would need
 * CAP_DAC_READ_SEARCH.  The probe at start links and removes one inode,
 * so a kernel or file system without O_TMPFILE (EOPNOTSUPP, EISDIR,
 * EINVAL) or a system without /proc turns the pool off.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inodepool.h"
#include "log.h"
#include "util.h"

/* A refill that failed is retried after this long. */
#define RETRY_MS 1000
/* The thread rechecks for stop at least this often. */
#define IDLE_MS 5000

struct gfs_inodepool {
	int dirfd;               /* borrowed */
	unsigned cap;            /* fds kept at most, >= 1 */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* an fd taken, or stop */
	/* protected by lock: */
	int *fds;                /* [n] owned fds, cap slots */
	unsigned n;
	bool stop;
};

static int make_inode(int dirfd)
{
	return openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
}

int gfs_inodepool_link(int fd, int dirfd, const char *name)
{
	char path[40];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	/* A leftover under the name (an uncommitted write's file, kept by a
	 * crash or a failed unlink; never a chunk of the table, whose writer
	 * we would be): removed, then linked.  A crash in between leaves no
	 * name, as a crash before the commit does.  A link under a temporary
	 * name renamed over it would cost one more directory operation for a
	 * file nobody may read. */
	if (errno != EEXIST || unlinkat(dirfd, name, 0) < 0)
		return -1;
	return linkat(AT_FDCWD, path, dirfd, name, AT_SYMLINK_FOLLOW);
}

/* Whether an O_TMPFILE inode can be made and linked in dirfd; *why says
 * what failed. */
static bool probe(int dirfd, const char **why)
{
	static const char name[] = ".tmpfile-probe";
	int fd = make_inode(dirfd), e;

	if (fd < 0) {
		*why = "O_TMPFILE";
		return false;
	}
	unlinkat(dirfd, name, 0);
	if (gfs_inodepool_link(fd, dirfd, name) < 0) {
		e = errno;
		close(fd);
		errno = e;
		*why = "linkat through /proc/self/fd";
		return false;
	}
	close(fd);
	unlinkat(dirfd, name, 0);
	return true;
}

/* Sleep until an fd was taken or stop, at most ms. */
static void wait_for_room(struct gfs_inodepool *p, int64_t ms)
{
	struct timespec ts = gfs_deadline_ts(CLOCK_REALTIME, ms);

	pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

static void *refill(void *arg)
{
	struct gfs_inodepool *p = arg;
	int fd;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		if (p->n >= p->cap) {
			wait_for_room(p, IDLE_MS);
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		fd = make_inode(p->dirfd);
		pthread_mutex_lock(&p->lock);
		if (fd < 0) {
			wait_for_room(p, RETRY_MS);
		} else if (p->n < p->cap && !p->stop) {
			p->fds[p->n++] = fd;
		} else {
			close(fd);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct gfs_inodepool *gfs_inodepool_start(int dirfd, unsigned cap,
					  bool disabled, const char *label)
{
	struct gfs_inodepool *p;
	const char *why = "disabled";

	if (disabled || !probe(dirfd, &why)) {
		gfs_info("%s: new chunks are created by name (unnamed inodes: "
			 "%s%s%s)", label, why, disabled ? "" : ": ",
			 disabled ? "" : strerror(errno));
		return NULL;
	}
	p = gfs_xcalloc(1, sizeof(*p));
	p->dirfd = dirfd;
	p->cap = cap ? cap : 1;
	p->fds = gfs_xcalloc(p->cap, sizeof(*p->fds));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->thread, NULL, refill, p)) {
		gfs_warn("%s: no thread for unnamed inodes: new chunks are "
			 "created by name", label);
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->cond);
		free(p->fds);
		free(p);
		return NULL;
	}
	gfs_info("%s: new chunks are written to unnamed inodes (O_TMPFILE, "
		 "%u made in advance) and linked at commit", label, p->cap);
	return p;
}

int gfs_inodepool_take(struct gfs_inodepool *p)
{
	int fd = -1;

	pthread_mutex_lock(&p->lock);
	if (p->n)
		fd = p->fds[--p->n];
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return fd >= 0 ? fd : make_inode(p->dirfd);
}

void gfs_inodepool_stop(struct gfs_inodepool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	while (p->n)
		close(p->fds[--p->n]);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->fds);
	free(p);
}

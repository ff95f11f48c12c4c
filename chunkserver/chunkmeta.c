/*
 * chunkmeta.c - encode, write, read and check chunk metas, in a
 * <handle>.meta file or in the data file's user.gfs.meta xattr.
 *
 * Invariant: a meta that gfs_chunkmeta_read() or _get_xattr() accepts was
 * written whole by gfs_chunkmeta_write() or _set_xattr() for that very
 * handle; anything else is GFS_ECORRUPT and never half-believed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "blockcrc.h"
#include "chunkmeta.h"
#include "constants.h"
#include "crc32c.h"
#include "path.h"
#include "util.h"

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static size_t encoded_size(uint32_t nblocks)
{
	return GFS_CHUNKMETA_HEADER + 4u * (size_t)nblocks + 4u;
}

size_t gfs_chunkmeta_size(uint32_t nblocks)
{
	return encoded_size(nblocks);
}

/* The file image of m; caller frees.  *len gets its size. */
static unsigned char *encode(const struct gfs_chunkmeta *m, size_t *len)
{
	size_t n = encoded_size(m->nblocks);
	unsigned char *b = gfs_xcalloc(1, n);
	uint32_t i;

	memcpy(b, GFS_CHUNKMETA_MAGIC, 8);
	put32(b + 8, GFS_CHUNKMETA_FORMAT);
	put32(b + 12, GFS_BLOCK_SIZE);
	put64(b + 16, m->handle);
	put64(b + 24, m->version);
	put64(b + 32, m->length);
	put64(b + 40, (uint64_t)m->mtime_ns);
	put32(b + 48, m->nblocks);
	for (i = 0; i < m->nblocks; i++)
		put32(b + GFS_CHUNKMETA_HEADER + 4 * i, m->crcs[i]);
	put32(b + n - 4, gfs_crc32c(0, b, n - 4));
	*len = n;
	return b;
}

/* Check the image b[0..n) of the meta of handle; fill m (not crcs). */
static enum gfs_err decode_header(const unsigned char *b, size_t n,
				  uint64_t handle, struct gfs_chunkmeta *m)
{
	if (n < encoded_size(0) || memcmp(b, GFS_CHUNKMETA_MAGIC, 8) ||
	    get32(b + 8) != GFS_CHUNKMETA_FORMAT ||
	    get32(b + 12) != GFS_BLOCK_SIZE)
		return GFS_ECORRUPT;
	m->handle = get64(b + 16);
	m->version = get64(b + 24);
	m->length = get64(b + 32);
	m->mtime_ns = (int64_t)get64(b + 40);
	m->nblocks = get32(b + 48);
	m->crcs = NULL;
	if (m->handle != handle || m->version == 0 ||
	    m->length > GFS_MAX_CHUNK_SIZE ||
	    m->nblocks != GFS_NBLOCKS(m->length) ||
	    n != encoded_size(m->nblocks) || get32(b + 52) != 0)
		return GFS_ECORRUPT;
	if (gfs_crc32c(0, b, n - 4) != get32(b + n - 4))
		return GFS_ECORRUPT;
	return GFS_OK;
}

static void meta_names(uint64_t handle, char name[32], char tmp[32])
{
	char hex[17];

	gfs_handle_fmt(handle, hex);
	snprintf(name, 32, "%s.meta", hex);
	if (tmp)
		snprintf(tmp, 32, "%s.meta.tmp", hex);
}

enum gfs_err gfs_chunkmeta_write(int dirfd, const struct gfs_chunkmeta *m,
				 bool replace, bool sync)
{
	char name[32], tmp[32];
	unsigned char *img;
	enum gfs_err err = GFS_OK;
	size_t len;
	int fd;

	meta_names(m->handle, name, tmp);
	if (!replace)
		strcpy(tmp, name); /* written in place: no rename */
	img = encode(m, &len);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno == ENOSPC ? GFS_EDISKFULL : GFS_EIO;
		goto out_free_img;
	}
	if (gfs_write_all(fd, img, len) < 0 || (sync && fdatasync(fd) < 0)) {
		err = errno == ENOSPC ? GFS_EDISKFULL : GFS_EIO;
		goto out_unlink_tmp;
	}
	if (replace && renameat(dirfd, tmp, dirfd, name) < 0) {
		err = GFS_EIO;
		goto out_unlink_tmp;
	}
	goto out_close;
out_unlink_tmp:
	unlinkat(dirfd, tmp, 0);
out_close:
	close(fd);
out_free_img:
	free(img);
	return err;
}

/* Read the whole file dirfd/name into a new buffer (caller frees). */
static enum gfs_err slurp(int dirfd, const char *name, unsigned char **out,
			  size_t *len)
{
	size_t cap = encoded_size(GFS_MAX_BLOCKS) + 1;
	unsigned char *b;
	struct stat st;
	ssize_t n;
	int e, fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? GFS_ENOENT : GFS_EIO;
	if (fstat(fd, &st) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return GFS_EIO;
	}
	if (st.st_size < 0 || (size_t)st.st_size >= cap) {
		close(fd);
		return GFS_ECORRUPT;
	}
	b = gfs_xmalloc((size_t)st.st_size + 1);
	n = gfs_pread_all(fd, b, (size_t)st.st_size + 1, 0);
	e = errno;
	close(fd);
	if (n < 0) {
		free(b);
		errno = e;
		return GFS_EIO;
	}
	*out = b;
	*len = (size_t)n;
	return GFS_OK;
}

/* Check the image b[0..n) and fill m, crcs too when asked (a new array). */
static enum gfs_err decode(const unsigned char *b, size_t n, uint64_t handle,
			   struct gfs_chunkmeta *m, bool want_crcs)
{
	enum gfs_err err = decode_header(b, n, handle, m);
	uint32_t i;

	if (err || !want_crcs)
		return err;
	m->crcs = gfs_xmalloc(4 * (size_t)GFS_MAX(m->nblocks, 1u));
	for (i = 0; i < m->nblocks; i++)
		m->crcs[i] = get32(b + GFS_CHUNKMETA_HEADER + 4 * i);
	return GFS_OK;
}

enum gfs_err gfs_chunkmeta_read(int dirfd, uint64_t handle,
				struct gfs_chunkmeta *m, bool want_crcs)
{
	char name[32];
	unsigned char *b;
	enum gfs_err err;
	size_t len;

	meta_names(handle, name, NULL);
	err = slurp(dirfd, name, &b, &len);
	if (err)
		return err;
	err = decode(b, len, handle, m, want_crcs);
	free(b);
	return err;
}

/* --- the xattr home ---------------------------------------------------- */

/* errno values by which a file system says "not here" to an xattr: none
 * at all, too large for it, no room for its block. */
static bool xattr_refused(int e)
{
	return e == ENOTSUP || e == EOPNOTSUPP || e == ENOSPC || e == E2BIG ||
	       e == ERANGE || e == EDQUOT;
}

enum gfs_err gfs_chunkmeta_set_xattr(int fd, const struct gfs_chunkmeta *m,
				     bool *unsupported)
{
	unsigned char *img;
	enum gfs_err err = GFS_OK;
	size_t len;
	int e;

	*unsupported = false;
	img = encode(m, &len);
	if (fsetxattr(fd, GFS_CHUNKMETA_XATTR, img, len, 0) < 0) {
		e = errno;
		*unsupported = e == ENOTSUP || e == EOPNOTSUPP;
		err = xattr_refused(e) ? GFS_ETOOBIG : GFS_EIO;
		errno = e;
	}
	free(img);
	return err;
}

enum gfs_err gfs_chunkmeta_remove_xattr(int fd)
{
	if (fremovexattr(fd, GFS_CHUNKMETA_XATTR) == 0)
		return GFS_OK;
	if (errno == ENODATA || errno == ENOTSUP || errno == EOPNOTSUPP)
		return GFS_ENOENT;
	return GFS_EIO;
}

/* The xattr meta of fd into a new buffer (caller frees): a value larger
 * than we put there by default is read on a second try, up to the
 * largest an xattr can be. */
static enum gfs_err get_xattr(int fd, unsigned char **out, size_t *len)
{
	size_t cap = GFS_CHUNKMETA_XATTR_MAX;
	unsigned char *b = gfs_xmalloc(cap);
	ssize_t n = fgetxattr(fd, GFS_CHUNKMETA_XATTR, b, cap);

	if (n < 0 && errno == ERANGE) {
		n = fgetxattr(fd, GFS_CHUNKMETA_XATTR, NULL, 0);
		cap = n > 0 && n <= GFS_CHUNKMETA_XATTR_LIMIT ? (size_t)n : 0;
		b = gfs_xrealloc(b, GFS_MAX(cap, 1u));
		n = cap ? fgetxattr(fd, GFS_CHUNKMETA_XATTR, b, cap) : -1;
		if (!cap)
			errno = ERANGE;
	}
	if (n < 0) {
		int e = errno;

		free(b);
		errno = e;
		if (e == ENODATA || e == ENOTSUP || e == EOPNOTSUPP)
			return GFS_ENOENT;
		return e == ERANGE ? GFS_ECORRUPT : GFS_EIO;
	}
	*out = b;
	*len = (size_t)n;
	return GFS_OK;
}

enum gfs_err gfs_chunkmeta_get_xattr(int fd, uint64_t handle,
				     struct gfs_chunkmeta *m, bool want_crcs)
{
	unsigned char *b;
	enum gfs_err err;
	size_t len;

	err = get_xattr(fd, &b, &len);
	if (err)
		return err;
	err = decode(b, len, handle, m, want_crcs);
	free(b);
	return err;
}

enum gfs_err gfs_chunkmeta_load(int dirfd, int fd, uint64_t handle,
				struct gfs_chunkmeta *m, bool want_crcs,
				enum gfs_chunkmeta_home *home)
{
	enum gfs_err err = gfs_chunkmeta_get_xattr(fd, handle, m, want_crcs);

	*home = GFS_CHUNKMETA_IN_XATTR;
	if (err != GFS_ENOENT)
		return err; /* the xattr rules, good or bad */
	*home = GFS_CHUNKMETA_IN_FILE;
	return gfs_chunkmeta_read(dirfd, handle, m, want_crcs);
}

size_t gfs_chunkmeta_probe_xattr(int dirfd, const char *name)
{
	size_t size = GFS_CHUNKMETA_XATTR_MAX;
	unsigned char *b;
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);

	if (fd < 0)
		return 0;
	b = gfs_xcalloc(1, size);
	/* halving down to the smallest meta (an empty chunk's) */
	while (size >= encoded_size(0) &&
	       fsetxattr(fd, GFS_CHUNKMETA_XATTR, b, size, 0) < 0) {
		if (errno != ENOSPC && errno != E2BIG && errno != ERANGE) {
			size = 0;
			break;
		}
		size /= 2;
	}
	if (size < encoded_size(0))
		size = 0;
	free(b);
	close(fd);
	unlinkat(dirfd, name, 0);
	return size;
}

/* --- the file system under the metas ----------------------------------- */

/* Magic numbers <linux/magic.h> does not have. */
#define JFS_MAGIC 0x3153464aUL
#define ZFS_MAGIC 0x2fc12fc1UL
#define BCACHEFS_MAGIC 0xca451a4eUL

bool gfs_chunkmeta_fs_atomic(unsigned long f_type, int journal,
			     const char **name)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} safe[] = {
		{ XFS_SUPER_MAGIC, "xfs (metadata journaled)" },
		{ REISERFS_SUPER_MAGIC, "reiserfs (metadata journaled)" },
		{ JFS_MAGIC, "jfs (metadata journaled)" },
		{ BTRFS_SUPER_MAGIC, "btrfs (copy-on-write)" },
		{ ZFS_MAGIC, "zfs (copy-on-write)" },
		{ BCACHEFS_MAGIC, "bcachefs (copy-on-write)" },
		{ TMPFS_MAGIC, "tmpfs (nothing survives a crash)" },
		{ RAMFS_MAGIC, "ramfs (nothing survives a crash)" },
	};
	size_t i;

	if (f_type == EXT4_SUPER_MAGIC) {
		*name = journal > 0    ? "ext3/ext4 with a journal"
			: journal == 0 ? "ext2/3/4 without a journal"
				       : "ext2/3/4, journal unknown";
		return journal > 0;
	}
	for (i = 0; i < sizeof(safe) / sizeof(safe[0]); i++) {
		if (safe[i].magic == f_type) {
			*name = safe[i].name;
			return true;
		}
	}
	*name = "a file system not known to journal its metadata";
	return false;
}

/* Whether the ext2/3/4 file system of dirfd has a journal: 1, 0, or -1
 * when /sys does not say (no ext4 driver entry, no sysfs). */
static int ext_journal(int dirfd)
{
	char link[PATH_MAX], path[PATH_MAX + 64], buf[32];
	const char *dev;
	struct stat st;
	ssize_t n;
	int fd;

	if (fstat(dirfd, &st) < 0)
		return -1;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u",
		 major(st.st_dev), minor(st.st_dev));
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -1;
	link[n] = '\0';
	dev = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;
	snprintf(path, sizeof(path), "/sys/fs/ext4/%s/journal_task", dev);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strncmp(buf, "<none>", 6) ? 1 : 0;
}

bool gfs_chunkmeta_probe_fs(int dirfd, const char **name)
{
	struct statfs sf;

	if (fstatfs(dirfd, &sf) < 0)
		return gfs_chunkmeta_fs_atomic(0, -1, name);
	return gfs_chunkmeta_fs_atomic(
		(unsigned long)sf.f_type,
		(unsigned long)sf.f_type == EXT4_SUPER_MAGIC ? ext_journal(dirfd)
							     : -1,
		name);
}

/*
 * xattr.c - extended attributes: user.* stored in the master, and the
 * mount's own user.gfs.lease and user.gfs.chunks.
 *
 *   user.gfs.lease   set "1" (default TTL) or "ttl=SECONDS": acquire or
 *                    renew a lease for this mount; remove: release it;
 *                    get: "holder=ID expires=YYYY-MM-DDTHH:MM:SSZ".
 *   user.gfs.chunks  get only: one line per chunk,
 *                    "INDEX HANDLE vVERSION LENGTH URL,URL,URL".
 *   user.*           any other: stored in the master (GET/PUT/DELETE
 *                    /xattrs/PATH), with setxattr(2)'s XATTR_CREATE and
 *                    XATTR_REPLACE; limits in master/xattr.h.
 *
 * A file removed while open here, reached by its hidden name (ops.c),
 * has its stored attributes where the master keeps it (GET/PUT/DELETE
 * /kept/ID/xattrs); one not kept has none (ENOENT).
 *
 * listxattr lists the stored attributes only.  The two user.gfs names
 * are views, not attributes: listed, they would be copied by rsync -X,
 * cp -a and tar --xattrs out of the mount and refused on the way back
 * (as CephFS hides its ceph.* views).  Other namespaces (security.,
 * trusted., system.): ENOTSUP to set or remove, ENODATA to get, without
 * a call to the master (the kernel asks for security.capability before
 * writes).  Values are checked before anything is asked of the master.
 */
#include <errno.h>
#include <linux/limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#include "constants.h"
#include "json.h"
#include "mount.h"
#include "util.h"

#define XATTR_LEASE "user.gfs.lease"
#define XATTR_CHUNKS "user.gfs.chunks"
#define XATTR_USER "user."

/* -errno for a failed call about stored attributes.  A master that has
 * no such route (an older one) is EOPNOTSUPP, never ENOSYS: the kernel
 * takes ENOSYS from a FUSE xattr call as "never again" for the whole
 * mount, every file. */
static int xattr_errno(enum gfs_err err)
{
	if (err == GFS_ENOROUTE || err == GFS_EMETHOD)
		return -EOPNOTSUPP;
	return gfs_fuse_errno(err);
}

/* A name stored in the master: user.* but for the mount's own two. */
static bool stored(const char *name)
{
	return !strncmp(name, XATTR_USER, strlen(XATTR_USER)) &&
	       strcmp(name, XATTR_LEASE) && strcmp(name, XATTR_CHUNKS);
}

/* Where path's attributes are asked for: *kept 0 at the master by
 * path (an unborn file made there first), else the kept file of a file
 * removed while open here.  -errno: ENOENT for a removed file not
 * kept. */
static int stored_at(struct gfs_mount *m, const char *path, uint64_t *kept)
{
	if (!path)
		return -ENOENT;
	if (!gfs_openfiles_removed(m, path, kept))
		return gfs_openfiles_materialize(m, path);
	return *kept ? 0 : -ENOENT;
}

static enum gfs_xattr_flag set_flag(int flags)
{
	if (flags & XATTR_CREATE)
		return GFS_XATTR_CREATE;
	return flags & XATTR_REPLACE ? GFS_XATTR_REPLACE : GFS_XATTR_ANY;
}

/* Parse a lease value: "1" or "ttl=N"; *ttl_s 0 means the default. */
static bool parse_lease_value(const char *value, size_t size, unsigned *ttl_s)
{
	char buf[32];
	uint64_t n;

	while (size && (value[size - 1] == '\n' || value[size - 1] == '\0'))
		size--;
	if (size == 0 || size >= sizeof(buf))
		return false;
	memcpy(buf, value, size);
	buf[size] = '\0';
	*ttl_s = 0;
	if (!strcmp(buf, "1"))
		return true;
	if (strncmp(buf, "ttl=", 4) || !gfs_parse_u64(buf + 4, &n) || n < 1 ||
	    n > GFS_LEASE_TTL_MAX_S)
		return false;
	*ttl_s = (unsigned)n;
	return true;
}

int gfs_xattr_set(const char *path, const char *name, const char *value,
		  size_t size, int flags)
{
	struct gfs_mount *m = gfs_mount_get();
	struct gfs_stat st;
	enum gfs_err err;
	uint64_t kept;
	unsigned ttl;
	int rc = stored_at(m, path, &kept);

	if (rc)
		return rc;
	if (stored(name) && kept)
		return xattr_errno(gfs_client_kept_xattr_set(
			m->client, kept, name, value, size, set_flag(flags)));
	if (stored(name))
		return xattr_errno(gfs_client_xattr_set(
			m->client, path, name, value, size, set_flag(flags)));
	if (strcmp(name, XATTR_LEASE))
		return -ENOTSUP;
	if (!parse_lease_value(value, size, &ttl))
		return -EINVAL;
	err = gfs_client_stat(m->client, path, &st);
	if (err)
		return gfs_fuse_errno(err);
	if (st.is_dir)
		return -EISDIR;
	return gfs_leases_acquire(m, path, ttl);
}

int gfs_xattr_remove(const char *path, const char *name)
{
	struct gfs_mount *m = gfs_mount_get();
	uint64_t kept;
	int rc = stored_at(m, path, &kept);

	if (rc)
		return rc;
	if (stored(name) && kept)
		return xattr_errno(
			gfs_client_kept_xattr_remove(m->client, kept, name));
	if (stored(name))
		return xattr_errno(
			gfs_client_xattr_remove(m->client, path, name));
	if (strcmp(name, XATTR_LEASE))
		return -ENOTSUP;
	return gfs_leases_release(m, path);
}

/* Copy len bytes into value per getxattr(2): size 0 asks for the
 * length. */
static int reply_bytes(const void *text, size_t len, char *value,
		       size_t size)
{
	if (size == 0)
		return (int)len;
	if (size < len)
		return -ERANGE;
	memcpy(value, text, len);
	return (int)len;
}

static int reply(const char *text, char *value, size_t size)
{
	return reply_bytes(text, strlen(text), value, size);
}

/* path's stored attributes, or kept file kept's (not 0): *xs new. */
static enum gfs_err stored_attrs(struct gfs_mount *m, const char *path,
				 uint64_t kept, const char *name, json_t **xs)
{
	return kept ? gfs_client_kept_xattrs(m->client, kept, name, xs)
		    : gfs_client_xattrs(m->client, path, name, xs);
}

/* A stored attribute's value. */
static int get_stored(struct gfs_mount *m, const char *path, uint64_t kept,
		      const char *name, char *value, size_t size)
{
	json_t *xs = NULL;
	enum gfs_err err = stored_attrs(m, path, kept, name, &xs);
	const char *b64 = json_string_value(json_object_get(xs, name));
	char *bytes;
	size_t len = 0;
	int rc;

	if (err)
		return xattr_errno(err);
	bytes = b64 ? gfs_b64_decode(b64, &len) : NULL;
	rc = bytes ? reply_bytes(bytes, len, value, size) : -EIO;
	free(bytes);
	json_decref(xs);
	return rc;
}

static int get_lease(struct gfs_mount *m, const char *path, char *value,
		     size_t size)
{
	struct gfs_lease l;
	enum gfs_err err = gfs_client_lease_info(m->client, path, &l);
	char text[400], when[32];
	time_t t;
	struct tm tm;

	if (err == GFS_ENOENT) {
		struct gfs_stat st;

		/* no lease, or no file? */
		err = gfs_client_stat(m->client, path, &st);
		return err ? gfs_fuse_errno(err) : -ENODATA;
	}
	if (err)
		return gfs_fuse_errno(err);
	t = (time_t)(l.expires_ms / 1000);
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(text, sizeof(text), "holder=%s expires=%s", l.holder, when);
	return reply(text, value, size);
}

/* Write one chunk's line to out. */
static void chunk_line(json_t *c, FILE *out)
{
	const char *handle = "?";
	uint64_t index = 0, version = 0, length = 0;
	json_t *r;
	size_t i;

	gfs_json_str(c, "handle", false, &handle);
	gfs_json_u64(c, "index", false, &index);
	gfs_json_u64(c, "version", false, &version);
	gfs_json_u64(c, "length", false, &length);
	fprintf(out, "%llu %s v%llu %llu ", (unsigned long long)index, handle,
		(unsigned long long)version, (unsigned long long)length);
	json_array_foreach(json_object_get(c, "replicas"), i, r)
		fprintf(out, "%s%s", i ? "," : "", json_string_value(r) ?: "?");
	fputc('\n', out);
}

static int get_chunks(struct gfs_mount *m, const char *path, char *value,
		      size_t size)
{
	json_t *entry = NULL, *chunks, *c;
	enum gfs_err err;
	char *text = NULL;
	size_t i, len = 0;
	FILE *out;
	int rc;

	err = gfs_client_info(m->client, path, &entry);
	if (err) {
		if (entry)
			json_decref(entry);
		return gfs_fuse_errno(err);
	}
	chunks = json_object_get(entry, "chunks");
	if (!chunks) {
		json_decref(entry);
		return -ENODATA; /* a directory */
	}
	out = open_memstream(&text, &len);
	if (!out) {
		json_decref(entry);
		return -ENOMEM;
	}
	json_array_foreach(chunks, i, c)
		chunk_line(c, out);
	fclose(out);
	rc = len > 65536 ? -E2BIG : reply(text, value, size);
	json_decref(entry);
	free(text);
	return rc;
}

int gfs_xattr_get(const char *path, const char *name, char *value,
		  size_t size)
{
	struct gfs_mount *m = gfs_mount_get();
	uint64_t kept = 0;
	int rc = 0;

	if (!path)
		return -ENOENT;
	if (stored(name) || !strcmp(name, XATTR_LEASE) ||
	    !strcmp(name, XATTR_CHUNKS))
		rc = stored_at(m, path, &kept);
	if (rc)
		return rc;
	if (stored(name))
		return get_stored(m, path, kept, name, value, size);
	if (!strcmp(name, XATTR_LEASE))
		return get_lease(m, path, value, size);
	if (!strcmp(name, XATTR_CHUNKS))
		return get_chunks(m, path, value, size);
	return -ENODATA;
}

/* The stored names, NUL-terminated back to back, per listxattr(2). */
int gfs_xattr_list(const char *path, char *list, size_t size)
{
	struct gfs_mount *m = gfs_mount_get();
	json_t *xs = NULL, *v;
	const char *name;
	size_t len = 0, n;
	enum gfs_err err;
	uint64_t kept;
	int rc = stored_at(m, path, &kept);

	if (rc)
		return rc;
	err = stored_attrs(m, path, kept, NULL, &xs);
	if (err)
		return xattr_errno(err);
	json_object_foreach(xs, name, v) {
		n = strlen(name) + 1;
		if (size && len + n > size) {
			json_decref(xs);
			return -ERANGE;
		}
		if (size)
			memcpy(list + len, name, n);
		len += n;
	}
	json_decref(xs);
	return len > XATTR_LIST_MAX ? -E2BIG : (int)len;
}

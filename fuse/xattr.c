/*
 * xattr.c - the user.gfs.* extended attributes.
 *
 *   user.gfs.lease   set "1" (default TTL) or "ttl=SECONDS": acquire or
 *                    renew a lease for this mount; remove: release it;
 *                    get: "holder=ID expires=YYYY-MM-DDTHH:MM:SSZ".
 *   user.gfs.chunks  get only: one line per chunk,
 *                    "INDEX HANDLE vVERSION LENGTH URL,URL,URL".
 *
 * Any other name: ENOTSUP to set (we store no other attributes), ENODATA
 * to get.  Values are checked before anything is asked of the master.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "constants.h"
#include "json.h"
#include "mount.h"
#include "util.h"

#define XATTR_LEASE "user.gfs.lease"
#define XATTR_CHUNKS "user.gfs.chunks"

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
	unsigned ttl;

	(void)flags;
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
	if (strcmp(name, XATTR_LEASE))
		return -ENODATA;
	return gfs_leases_release(gfs_mount_get(), path);
}

/* Copy text into value per getxattr(2): size 0 asks for the length. */
static int reply(const char *text, char *value, size_t size)
{
	size_t len = strlen(text);

	if (size == 0)
		return (int)len;
	if (size < len)
		return -ERANGE;
	memcpy(value, text, len);
	return (int)len;
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

	if (!strcmp(name, XATTR_LEASE))
		return get_lease(m, path, value, size);
	if (!strcmp(name, XATTR_CHUNKS))
		return get_chunks(m, path, value, size);
	return -ENODATA;
}

int gfs_xattr_list(const char *path, char *list, size_t size)
{
	/* NUL-terminated names back to back (the literal's own NUL is not
	 * part of the list) */
	static const char names[] = XATTR_LEASE "\0" XATTR_CHUNKS;
	const size_t len = sizeof(names);
	struct gfs_mount *m = gfs_mount_get();
	struct gfs_stat st;
	enum gfs_err err = gfs_client_stat(m->client, path, &st);

	if (err)
		return gfs_fuse_errno(err);
	if (st.is_dir)
		return 0;
	if (size == 0)
		return (int)len;
	if (size < len)
		return -ERANGE;
	memcpy(list, names, len);
	return (int)len;
}

/*
 * keys.h - the client keys a master accepts (--keys FILE).
 *
 * The file has one key a line, '#' starting a comment:
 *
 *   NAME KEY rw|ro [PREFIX ...]
 *
 * NAME (1-64 of A-Z a-z 0-9 . _ - @) is who the key is: the lease holder
 * and the name in the audit log.  KEY is the secret a client sends as
 * "Authorization: Bearer KEY": 16-256 printable ASCII characters, no
 * spaces.  "ro" keys read, "rw" keys also change.  PREFIXes (absolute
 * paths) limit the key to those subtrees; none means the whole namespace.
 *
 * A struct gfs_keytab is one load of the file, immutable once built and
 * shared by reference: a reload (SIGHUP) builds a new one and requests
 * under way keep the one they started with.  Keys are looked up by their
 * SHA-256, so no comparison runs over the secret itself.
 */
#ifndef GFS_KEYS_H
#define GFS_KEYS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "err.h"

#define GFS_KEY_NAME_MAX 64
#define GFS_KEY_MIN 16
#define GFS_KEY_MAX 256

struct gfs_key {
	char name[GFS_KEY_NAME_MAX + 1];
	bool rw;                     /* may change the file system */
	char **prefixes;             /* owned, nprefixes long; none: all */
	size_t nprefixes;
	uint8_t digest[32];          /* SHA-256 of the key */
	UT_hash_handle hh;           /* by digest */
};

struct gfs_keytab {
	atomic_uint refs;
	struct gfs_key *keys;        /* uthash by digest, owned */
	size_t n;
};

/* Parse the text of a keys file (what names its origin in messages).
 * GFS_OK with *out (one reference, gfs_keytab_unref()), else GFS_EINVAL
 * with a one-line reason in msg (which never quotes a key). */
enum gfs_err gfs_keytab_parse(const char *text, const char *what,
			      struct gfs_keytab **out, char *msg, size_t len);
/* Read and parse file; GFS_EINVAL also when it cannot be read or when
 * others (not owner or group) may read it. */
enum gfs_err gfs_keytab_load(const char *file, struct gfs_keytab **out,
			     char *msg, size_t len);
struct gfs_keytab *gfs_keytab_ref(struct gfs_keytab *t);
void gfs_keytab_unref(struct gfs_keytab *t);

/* The entry of key (the bearer string), borrowed from t; NULL if none. */
const struct gfs_key *gfs_keytab_find(const struct gfs_keytab *t,
				      const char *key);

/* Is path inside one of k's prefixes (so k may change it)? */
bool gfs_key_covers(const struct gfs_key *k, const char *path);
/* Inside one, or a directory on the way to one (so k may list and stat
 * it: "/" and "/home" for a key limited to "/home/alice")? */
bool gfs_key_sees(const struct gfs_key *k, const char *path);

#endif

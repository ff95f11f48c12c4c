/*
 * path.h - file paths and chunk handles as they cross the wire.
 *
 * A path is absolute, '/'-separated, each component 1-255 bytes, never "."
 * or "..", no NUL, valid UTF-8, at most 4096 bytes in all (DESIGN 4).
 * "/" itself names the root directory and is never a file.  Every other
 * string a client sends that is kept, logged or put into JSON (lease
 * holder ids, URLs) must be valid UTF-8 too (gfs_text_valid()).  A chunk
 * handle is 64 bits written as exactly 16 lowercase hex digits; nothing
 * else is accepted as one, so no file name is ever built from client text.
 */
#ifndef GFS_PATH_H
#define GFS_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Check path[0..len) (len counts any embedded NUL as a byte, which fails).
 * GFS_OK, GFS_EINVAL, GFS_ENAMETOOLONG, or GFS_EILSEQ when it is not valid
 * UTF-8.  "/" passes. */
enum gfs_err gfs_path_check(const char *path, size_t len);

/* Whether s[0..len) is valid UTF-8 (as JSON strings must be). */
bool gfs_utf8_valid(const char *s, size_t len);
/* The same for a NUL-terminated string. */
bool gfs_text_valid(const char *s);
/* A copy of s with each byte that is not part of valid UTF-8 written as
 * %XX (uppercase hex); valid text is copied unchanged.  Deterministic, so
 * the same bad name always maps to the same escaped one.  New string,
 * caller frees; NULL when out of memory. */
char *gfs_utf8_escape(const char *s);

/* Decode %XX escapes of enc[0..len) into a new string, *out (caller frees).
 * A decoded NUL or a malformed escape is GFS_EINVAL.  '+' stays '+'. */
enum gfs_err gfs_url_decode(const char *enc, size_t len, char **out);

/* Percent-encode s for a URL path or query value (caller frees).  Keeps
 * unreserved characters and, when keep_slash, '/'. */
char *gfs_url_encode(const char *s, bool keep_slash);

/* A user's name for a remote file: "a/b" means "/a/b".  New string, caller
 * frees; GFS_EINVAL etc. as gfs_path_check. */
enum gfs_err gfs_path_from_user(const char *s, char **out);

/* Last component of path (borrowed pointer into path). */
const char *gfs_path_basename(const char *path);

/* True when path is prefix itself or lies below the directory prefix. */
bool gfs_path_is_under(const char *path, const char *prefix);

/* Write h as 16 lowercase hex digits plus NUL into buf. */
void gfs_handle_fmt(uint64_t h, char buf[17]);
/* Parse exactly 16 lowercase hex digits; false otherwise (uppercase too). */
bool gfs_handle_parse(const char *s, uint64_t *out);

#endif

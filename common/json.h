/*
 * json.h - jansson helpers: parse a capped body into an object, read typed
 * fields with validation, and dump compactly.
 *
 * Reference counts follow jansson's docs: "new reference" means the caller
 * must json_decref() it; "borrowed" means valid while the parent lives.
 */
#ifndef GFS_JSON_H
#define GFS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* Parse buf[0..len) as one JSON object.  *out is a new reference.
 * GFS_ETOOBIG beyond max bytes, GFS_EINVAL for anything but an object.
 * An empty body parses as an empty object. */
enum gfs_err gfs_json_parse_object_max(const char *buf, size_t len,
				       size_t max, json_t **out);
/* The same with max GFS_JSON_MAX. */
enum gfs_err gfs_json_parse_object(const char *buf, size_t len, json_t **out);

/* Typed field access on obj.  Absent keys leave *out untouched and return
 * GFS_OK unless required; a present key of the wrong type or range is
 * GFS_EINVAL. */
enum gfs_err gfs_json_u64(json_t *obj, const char *key, bool required,
			  uint64_t *out);
enum gfs_err gfs_json_i64(json_t *obj, const char *key, bool required,
			  int64_t *out);
enum gfs_err gfs_json_bool(json_t *obj, const char *key, bool required,
			   bool *out);
/* *out is borrowed from obj. */
enum gfs_err gfs_json_str(json_t *obj, const char *key, bool required,
			  const char **out);
/* A 16-hex-digit chunk handle string. */
enum gfs_err gfs_json_handle(json_t *obj, const char *key, bool required,
			     uint64_t *out);

/* Compact text of j (caller frees with free(3)), NULL on allocation failure. */
char *gfs_json_dump(const json_t *j);

/* New string reference holding h as 16 hex digits. */
json_t *gfs_json_handle_new(uint64_t h);

#endif

/*
 * json.c - validated access to JSON request and reply bodies.
 */
#include <stdlib.h>

#include "constants.h"
#include "json.h"
#include "path.h"

enum gfs_err gfs_json_parse_object_max(const char *buf, size_t len,
				       size_t max, json_t **out)
{
	json_error_t jerr;
	json_t *j;

	if (len > max)
		return GFS_ETOOBIG;
	if (len == 0) {
		*out = json_object();
		return *out ? GFS_OK : GFS_EINTERNAL;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return GFS_EINVAL;
	if (!json_is_object(j)) {
		json_decref(j);
		return GFS_EINVAL;
	}
	*out = j;
	return GFS_OK;
}

enum gfs_err gfs_json_parse_object(const char *buf, size_t len, json_t **out)
{
	return gfs_json_parse_object_max(buf, len, GFS_JSON_MAX, out);
}

static enum gfs_err field(json_t *obj, const char *key, bool required,
			  json_t **v)
{
	*v = json_object_get(obj, key);
	if (!*v || json_is_null(*v)) {
		*v = NULL;
		return required ? GFS_EINVAL : GFS_OK;
	}
	return GFS_OK;
}

enum gfs_err gfs_json_u64(json_t *obj, const char *key, bool required,
			  uint64_t *out)
{
	json_t *v;
	enum gfs_err err = field(obj, key, required, &v);

	if (err || !v)
		return err;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return GFS_EINVAL;
	*out = (uint64_t)json_integer_value(v);
	return GFS_OK;
}

enum gfs_err gfs_json_i64(json_t *obj, const char *key, bool required,
			  int64_t *out)
{
	json_t *v;
	enum gfs_err err = field(obj, key, required, &v);

	if (err || !v)
		return err;
	if (!json_is_integer(v))
		return GFS_EINVAL;
	*out = (int64_t)json_integer_value(v);
	return GFS_OK;
}

enum gfs_err gfs_json_bool(json_t *obj, const char *key, bool required,
			   bool *out)
{
	json_t *v;
	enum gfs_err err = field(obj, key, required, &v);

	if (err || !v)
		return err;
	if (!json_is_boolean(v))
		return GFS_EINVAL;
	*out = json_is_true(v);
	return GFS_OK;
}

enum gfs_err gfs_json_str(json_t *obj, const char *key, bool required,
			  const char **out)
{
	json_t *v;
	enum gfs_err err = field(obj, key, required, &v);

	if (err || !v)
		return err;
	if (!json_is_string(v))
		return GFS_EINVAL;
	*out = json_string_value(v);
	return GFS_OK;
}

enum gfs_err gfs_json_handle(json_t *obj, const char *key, bool required,
			     uint64_t *out)
{
	const char *s = NULL;
	enum gfs_err err = gfs_json_str(obj, key, required, &s);

	if (err || !s)
		return err;
	return gfs_handle_parse(s, out) ? GFS_OK : GFS_EINVAL;
}

char *gfs_json_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT);
}

json_t *gfs_json_handle_new(uint64_t h)
{
	char buf[17];

	gfs_handle_fmt(h, buf);
	return json_string(buf);
}

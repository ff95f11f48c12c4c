/*
 * path.c - validation and URL coding of file paths, chunk handle text.
 *
 * Everything here is pure: no allocation beyond the returned strings, no
 * state, so it is tested exhaustively in tests/unit/test_path.c.  UTF-8 is
 * checked by libunistring (u8_check: no overlong forms, no surrogates,
 * nothing above U+10FFFF), the same rules jansson applies to JSON strings,
 * so a name that passes can always be put into a reply.
 */
#include <stdlib.h>
#include <string.h>

#include <unistr.h>

#include "constants.h"
#include "path.h"

bool gfs_utf8_valid(const char *s, size_t len)
{
	return !u8_check((const uint8_t *)s, len);
}

bool gfs_text_valid(const char *s)
{
	return gfs_utf8_valid(s, strlen(s));
}

char *gfs_utf8_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const uint8_t *p = (const uint8_t *)s, *end = p + strlen(s), *bad;
	char *out = malloc((size_t)(end - p) * 3 + 1), *o = out;

	if (!out)
		return NULL;
	while (p < end) {
		bad = u8_check(p, (size_t)(end - p));
		if (!bad)
			bad = end;
		memcpy(o, p, (size_t)(bad - p));
		o += bad - p;
		if (bad == end)
			break;
		*o++ = '%';
		*o++ = hex[*bad >> 4];
		*o++ = hex[*bad & 15];
		p = bad + 1;
	}
	*o = '\0';
	return out;
}

enum gfs_err gfs_path_check(const char *path, size_t len)
{
	size_t i, start;

	if (len == 0 || path[0] != '/')
		return GFS_EINVAL;
	if (len > GFS_PATH_MAX)
		return GFS_ENAMETOOLONG;
	if (memchr(path, '\0', len))
		return GFS_EINVAL;
	if (!gfs_utf8_valid(path, len))
		return GFS_EILSEQ;
	if (len == 1)
		return GFS_OK;
	for (start = 1, i = 1; i <= len; i++) {
		size_t n;

		if (i < len && path[i] != '/')
			continue;
		n = i - start;
		if (n == 0)
			return GFS_EINVAL; /* "//" or a trailing '/' */
		if (n > GFS_NAME_MAX)
			return GFS_ENAMETOOLONG;
		if ((n == 1 && path[start] == '.') ||
		    (n == 2 && path[start] == '.' && path[start + 1] == '.'))
			return GFS_EINVAL;
		start = i + 1;
	}
	return GFS_OK;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum gfs_err gfs_url_decode(const char *enc, size_t len, char **out)
{
	char *s = malloc(len + 1);
	size_t i, n = 0;

	if (!s)
		return GFS_EINTERNAL;
	for (i = 0; i < len; i++) {
		int hi, lo;

		if (enc[i] != '%') {
			if (enc[i] == '\0')
				goto bad;
			s[n++] = enc[i];
			continue;
		}
		if (i + 2 >= len)
			goto bad;
		hi = hexval(enc[i + 1]);
		lo = hexval(enc[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			goto bad;
		s[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	s[n] = '\0';
	*out = s;
	return GFS_OK;
bad:
	free(s);
	return GFS_EINVAL;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
	       c == '~';
}

char *gfs_url_encode(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s), n = 0;
	char *out = malloc(len * 3 + 1);
	const unsigned char *p;

	if (!out)
		return NULL;
	for (p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p) || (keep_slash && *p == '/')) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		}
	}
	out[n] = '\0';
	return out;
}

enum gfs_err gfs_path_from_user(const char *s, char **out)
{
	size_t len = strlen(s);
	enum gfs_err err;
	char *p;

	if (len == 0)
		return GFS_EINVAL;
	p = malloc(len + 2);
	if (!p)
		return GFS_EINTERNAL;
	if (s[0] == '/') {
		memcpy(p, s, len + 1);
	} else {
		p[0] = '/';
		memcpy(p + 1, s, len + 1);
		len++;
	}
	err = gfs_path_check(p, len);
	if (err) {
		free(p);
		return err;
	}
	*out = p;
	return GFS_OK;
}

const char *gfs_path_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

bool gfs_path_is_under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	if (n == 1 && prefix[0] == '/')
		return path[0] == '/';
	return !strncmp(path, prefix, n) && (path[n] == '\0' || path[n] == '/');
}

void gfs_handle_fmt(uint64_t h, char buf[17])
{
	static const char hex[] = "0123456789abcdef";
	int i;

	for (i = 15; i >= 0; i--, h >>= 4)
		buf[i] = hex[h & 15];
	buf[16] = '\0';
}

bool gfs_handle_parse(const char *s, uint64_t *out)
{
	uint64_t h = 0;
	int i;

	for (i = 0; i < GFS_HANDLE_HEX; i++) {
		int v = hexval(s[i]);

		if (v < 0 || (s[i] >= 'A' && s[i] <= 'F'))
			return false;
		h = h << 4 | (uint64_t)v;
	}
	if (s[GFS_HANDLE_HEX] != '\0')
		return false;
	*out = h;
	return true;
}

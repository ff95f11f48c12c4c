/*
 * urllist.c - split and join comma-separated URL lists (see urllist.h).
 */
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "urllist.h"
#include "util.h"

#define URL_MAX 255

/* The entry s[0..len) trimmed into a new string, or NULL when blank. */
static char *entry(const char *s, size_t len)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len > 1 && s[len - 1] == '/')
		len--;
	return len ? strndup(s, len) : NULL;
}

static bool url_ok(const char *u)
{
	size_t scheme = !strncmp(u, "http://", 7)    ? 7
			: !strncmp(u, "https://", 8) ? 8 : 0;

	return strlen(u) <= URL_MAX && scheme && u[scheme] &&
	       !strpbrk(u, " \t\r\n\",") && gfs_text_valid(u);
}

char **gfs_urllist_split(const char *s, size_t max, size_t *n)
{
	char **list = gfs_xcalloc(max + 1, sizeof(*list));
	const char *p = s ? s : "";

	*n = 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		char *e = entry(p, len);

		if (e && (*n == max || !url_ok(e))) {
			free(e);
			gfs_urllist_free(list);
			return NULL;
		}
		if (e)
			list[(*n)++] = e;
		if (!p[len])
			break;
		p += len + 1;
	}
	return list;
}

void gfs_urllist_free(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

char *gfs_urllist_join(char *const *list, size_t from)
{
	size_t len = 1, i;
	char *s;

	for (i = from; list[i]; i++)
		len += strlen(list[i]) + 1;
	s = gfs_xcalloc(1, len);
	for (i = from; list[i]; i++) {
		if (i > from)
			strcat(s, ",");
		strcat(s, list[i]);
	}
	return s;
}

/*
 * urllist.h - comma-separated URL lists as they come in headers
 * (X-GFS-Forward, X-GFS-Clone-Sources) and options (--master, --etcd).
 */
#ifndef GFS_URLLIST_H
#define GFS_URLLIST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Split s at commas into a new NULL-terminated array of new strings,
 * spaces trimmed, blanks and one trailing '/' dropped.  More than max
 * entries, or an entry that is not an http:// or https:// URL of at most 255 bytes,
 * makes it fail (NULL).  *n gets the count.  Free with
 * gfs_urllist_free().  NULL s gives an empty list.
 */
char **gfs_urllist_split(const char *s, size_t max, size_t *n);
void gfs_urllist_free(char **list);
/* "a,b,c" of list[from..] (a new string; "" when empty). */
char *gfs_urllist_join(char *const *list, size_t from);

#endif

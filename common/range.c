/*
 * range.c - the Range request header against a known size (see range.h).
 *
 * Invariant: nothing here allocates; the header is read once, left to
 * right.  O(length of the header).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <strings.h>

#include "range.h"

/* One element of the range set as read. */
struct spec {
	bool suffix;         /* "-n" */
	uint64_t a, b;       /* a-b (b = UINT64_MAX for "a-"), or n in a */
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digits at *p into *out (saturating at UINT64_MAX); false if none. */
static bool digits(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (!is_digit(*s))
		return false;
	for (; is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
	}
	*p = s;
	*out = v;
	return true;
}

/* One range-spec from *p up to a comma or the end (OWS around it
 * skipped); *empty when there is none.  False when it is invalid. */
static bool read_spec(const char **p, struct spec *sp, bool *empty)
{
	const char *s = *p;

	while (is_ows(*s))
		s++;
	*empty = !*s || *s == ',';
	if (!*empty) {
		sp->suffix = *s == '-';
		if (sp->suffix) {
			s++;
			if (!digits(&s, &sp->a))
				return false;
		} else {
			if (!digits(&s, &sp->a) || *s++ != '-')
				return false;
			sp->b = UINT64_MAX;
			if (is_digit(*s) && (!digits(&s, &sp->b) || sp->b < sp->a))
				return false;
		}
	}
	while (is_ows(*s))
		s++;
	if (*s && *s != ',')
		return false;
	*p = *s ? s + 1 : s;
	return true;
}

/* The bytes sp selects of size, into [*first, *last]; false when it is
 * not satisfiable. */
static bool satisfy(const struct spec *sp, uint64_t size, uint64_t *first,
		    uint64_t *last)
{
	if (!size)
		return false;
	if (sp->suffix) {
		if (!sp->a)
			return false;
		*first = sp->a >= size ? 0 : size - sp->a;
		*last = size - 1;
		return true;
	}
	if (sp->a >= size)
		return false;
	*first = sp->a;
	*last = sp->b < size ? sp->b : size - 1;
	return true;
}

enum gfs_range gfs_range_parse(const char *h, uint64_t size, uint64_t *first,
			       uint64_t *last)
{
	unsigned specs = 0, ok = 0;
	bool empty_suffix = false, empty;
	uint64_t a = 0, b = 0;
	struct spec sp;

	if (!h || strncasecmp(h, "bytes=", 6))
		return GFS_RANGE_NONE;
	h += 6;
	while (*h) {
		if (!read_spec(&h, &sp, &empty))
			return GFS_RANGE_NONE;
		if (empty)
			continue;
		specs++;
		if (!size && sp.suffix && sp.a)
			empty_suffix = true;
		else if (satisfy(&sp, size, &a, &b))
			ok++;
	}
	if (!specs || ok > 1 || (!ok && empty_suffix))
		return GFS_RANGE_NONE;
	if (!ok)
		return GFS_RANGE_BAD;
	*first = a;
	*last = b;
	return GFS_RANGE_OK;
}

void gfs_range_content_range(char *buf, enum gfs_range r, uint64_t first,
			     uint64_t last, uint64_t size)
{
	if (r == GFS_RANGE_OK)
		snprintf(buf, GFS_RANGE_HDR_MAX, "bytes %llu-%llu/%llu",
			 (unsigned long long)first, (unsigned long long)last,
			 (unsigned long long)size);
	else
		snprintf(buf, GFS_RANGE_HDR_MAX, "bytes */%llu",
			 (unsigned long long)size);
}

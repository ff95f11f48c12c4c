/*
 * keys.c - parse a keys file into a struct gfs_keytab (see keys.h).
 *
 * Every line is checked before anything is used: one bad line refuses
 * the whole file (at start-up the master does not start; on a reload the
 * old table stays), and the message names the line, never the key.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "keys.h"
#include "path.h"
#include "util.h"

#define FILE_MAX (16u << 20)
#define WORDS_MAX 64

static void say(char *msg, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *msg, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
}

static void key_free(struct gfs_key *k)
{
	size_t i;

	for (i = 0; i < k->nprefixes; i++)
		free(k->prefixes[i]);
	free(k->prefixes);
	free(k);
}

static void tab_free(struct gfs_keytab *t)
{
	struct gfs_key *k, *tmp;

	HASH_ITER(hh, t->keys, k, tmp) {
		HASH_DEL(t->keys, k);
		key_free(k);
	}
	free(t);
}

struct gfs_keytab *gfs_keytab_ref(struct gfs_keytab *t)
{
	if (t)
		atomic_fetch_add(&t->refs, 1);
	return t;
}

void gfs_keytab_unref(struct gfs_keytab *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		tab_free(t);
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > GFS_KEY_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._-@", *s)))
			return false;
	return true;
}

static bool key_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < GFS_KEY_MIN || n > GFS_KEY_MAX)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

/* A prefix as given, without a trailing '/' (but "/" stays); NULL if it
 * is not an absolute path. */
static char *prefix_of(const char *s)
{
	char *p = gfs_xstrdup(s);
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	if (p[0] != '/' || gfs_path_check(p, n)) {
		free(p);
		return NULL;
	}
	return p;
}

/* Split line into words (in place); their count, or -1 if too many. */
static int split(char *line, char **w)
{
	char *save = NULL, *tok;
	int n = 0;

	for (tok = strtok_r(line, " \t\r", &save); tok;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (n == WORDS_MAX)
			return -1;
		w[n++] = tok;
	}
	return n;
}

/* One line's key, or NULL (msg says why). */
static struct gfs_key *parse_line(char **w, int n, char *msg, size_t len)
{
	struct gfs_key *k;
	int i;

	if (n < 3) {
		say(msg, len, "want NAME KEY rw|ro [PREFIX ...]");
		return NULL;
	}
	if (!name_ok(w[0])) {
		say(msg, len, "bad name (1-%d of A-Z a-z 0-9 . _ - @)",
		    GFS_KEY_NAME_MAX);
		return NULL;
	}
	if (!key_ok(w[1])) {
		say(msg, len, "key of %s: %d to %d printable characters",
		    w[0], GFS_KEY_MIN, GFS_KEY_MAX);
		return NULL;
	}
	if (strcmp(w[2], "rw") && strcmp(w[2], "ro")) {
		say(msg, len, "key %s: third word must be rw or ro", w[0]);
		return NULL;
	}
	k = gfs_xcalloc(1, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", w[0]);
	k->rw = !strcmp(w[2], "rw");
	SHA256((const unsigned char *)w[1], strlen(w[1]), k->digest);
	if (n > 3)
		k->prefixes = gfs_xcalloc((size_t)(n - 3), sizeof(char *));
	for (i = 3; i < n; i++) {
		k->prefixes[k->nprefixes] = prefix_of(w[i]);
		if (!k->prefixes[k->nprefixes]) {
			say(msg, len, "key %s: prefix '%s' is not an absolute "
			    "path", w[0], w[i]);
			key_free(k);
			return NULL;
		}
		k->nprefixes++;
	}
	return k;
}

/* Add k to t unless its name or key is there already. */
static bool add(struct gfs_keytab *t, struct gfs_key *k, char *msg,
		size_t len)
{
	struct gfs_key *o, *tmp;

	HASH_FIND(hh, t->keys, k->digest, sizeof(k->digest), o);
	if (o) {
		say(msg, len, "keys %s and %s are the same", o->name, k->name);
		return false;
	}
	HASH_ITER(hh, t->keys, o, tmp) {
		if (!strcmp(o->name, k->name)) {
			say(msg, len, "two keys named %s", k->name);
			return false;
		}
	}
	HASH_ADD(hh, t->keys, digest, sizeof(k->digest), k);
	t->n++;
	return true;
}

enum gfs_err gfs_keytab_parse(const char *text, const char *what,
			      struct gfs_keytab **out, char *msg, size_t len)
{
	struct gfs_keytab *t = gfs_xcalloc(1, sizeof(*t));
	char *copy = gfs_xstrdup(text), *line, *next, *w[WORDS_MAX];
	char why[200];
	struct gfs_key *k;
	unsigned lineno = 0;
	bool ok = true;
	int n;

	atomic_init(&t->refs, 1);
	for (line = copy; line && ok; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (strchr(line, '#'))
			*strchr(line, '#') = '\0';
		n = split(line, w);
		if (!n)
			continue;
		k = n < 0 ? NULL : parse_line(w, n, why, sizeof(why));
		if (n < 0)
			snprintf(why, sizeof(why), "too many prefixes");
		ok = k && add(t, k, why, sizeof(why));
		if (k && !ok)
			key_free(k);
		if (!ok)
			say(msg, len, "%s, line %u: %s", what, lineno, why);
	}
	explicit_bzero(copy, strlen(text));
	free(copy);
	if (!ok) {
		tab_free(t);
		return GFS_EINVAL;
	}
	*out = t;
	return GFS_OK;
}

enum gfs_err gfs_keytab_load(const char *file, struct gfs_keytab **out,
			     char *msg, size_t len)
{
	char *text = NULL;
	size_t n = 0;
	enum gfs_err err;

	if (gfs_read_file(file, FILE_MAX, true, &text, &n, msg, len))
		return GFS_EINVAL;
	err = gfs_keytab_parse(text, file, out, msg, len);
	explicit_bzero(text, n);
	free(text);
	return err;
}

const struct gfs_key *gfs_keytab_find(const struct gfs_keytab *t,
				      const char *key)
{
	uint8_t d[SHA256_DIGEST_LENGTH];
	struct gfs_key *k = NULL;

	if (!t || !key)
		return NULL;
	SHA256((const unsigned char *)key, strlen(key), d);
	HASH_FIND(hh, t->keys, d, sizeof(d), k);
	/* the hash compares digests; this one is for the record */
	return k && !CRYPTO_memcmp(k->digest, d, sizeof(d)) ? k : NULL;
}

bool gfs_key_covers(const struct gfs_key *k, const char *path)
{
	size_t i;

	if (!k->nprefixes)
		return true;
	for (i = 0; i < k->nprefixes; i++)
		if (gfs_path_is_under(path, k->prefixes[i]))
			return true;
	return false;
}

bool gfs_key_sees(const struct gfs_key *k, const char *path)
{
	size_t i;

	if (gfs_key_covers(k, path))
		return true;
	for (i = 0; i < k->nprefixes; i++)
		if (gfs_path_is_under(k->prefixes[i], path))
			return true;
	return false;
}

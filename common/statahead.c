/*
 * statahead.c - the attributes of a directory's files, from one listing,
 * while stats walk that directory name after name.
 *
 * For: `rm *`, `rm -r`, `stat *` and the like in a mount, once the
 * attributes the kernel took from the directory's listing (READDIRPLUS)
 * have expired: each name the walk reaches then costs the kernel a
 * lookup, which without this copy is a master round trip per name
 * (docs/PERFORMANCE.md).  A walk is three stats in a row that missed
 * here, in one directory this client listed in the last LISTED_S; it
 * fetches that directory's listing (at most MAX_ENTRIES names) and
 * answers the names that follow from it.  Not for: directories (their
 * attributes change with every change in them: dirattrs.c), files with
 * more than one name (a change through another name changes them), names
 * not in the listing (a miss goes to the master: no negative answer), or
 * directories bigger than MAX_ENTRIES (a partial listing is a random
 * part of the directory, by position).
 *
 * Invariants: a name is answered only within window_ms of the moment its
 * listing's fetch began (the caller's staleness budget toward other
 * clients).  A stat counts toward a walk only when the master has the
 * name (a lookup before a create is no walk), and a mutation other than
 * removing a name starts the count again (`chmod -R` would otherwise
 * fetch a listing per name).  This client's own changes show at once: every mutation
 * drops what it may touch when it begins and again when it ends (a
 * DELETE of a name: that name, or the whole copy when it names the
 * directory held or one above; any other mutation: the whole copy), and
 * a listing is kept only when no mutation began or ended while it was
 * fetched (gen).  So what is answered shows every change of this client
 * acknowledged before the stat.
 *
 * Memory: one directory's listing, at most MAX_ENTRIES names, and the
 * LISTED directories last listed.  Locking: sa->lock protects everything
 * in struct gfs_statahead; held for hash lookups and string compares,
 * never across a call to the master.  One fetch at a time: misses
 * meanwhile go to the master.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "client_internal.h"
#include "util.h"

#define MAX_ENTRIES 4000      /* names fetched at most (four pages) */
#define WALK_MISSES 3         /* misses in a row in one directory */
#define LISTED 8              /* directories remembered as listed */
#define LISTED_S 60           /* ... for this long */
#define REFUSED_S 10          /* no fetch of a directory too big, or
			       * whose listing failed, for this long */

struct sa_entry {
	char *name;                /* hash key, owned */
	struct gfs_stat st;
	UT_hash_handle hh;
};

struct sa_batch {
	struct sa_entry *names;    /* by name */
	size_t n;
	bool too_big;
};

struct sa_listed {
	char *dir;                 /* owned; NULL: unused */
	int64_t at_us;             /* monotonic: last listed */
	int64_t refused_until_us;  /* monotonic: no fetch before */
};

struct gfs_statahead {
	pthread_mutex_t lock;
	long window_ms;            /* read-only; 0: nothing is kept */
	uint64_t gen;              /* moves at every begin and end */
	char *dir;                 /* the directory held, owned, or NULL */
	struct sa_entry *names;    /* its files with one name */
	int64_t at_us;             /* monotonic: when its fetch began */
	bool fetching;             /* a fetch is under way */
	char *miss_dir;            /* the directory of the last misses */
	unsigned misses;           /* ... in a row */
	struct sa_listed listed[LISTED];
};

static void names_free(struct sa_entry **names)
{
	struct sa_entry *e, *tmp;

	HASH_ITER(hh, *names, e, tmp) {
		HASH_DEL(*names, e);
		free(e->name);
		free(e);
	}
}

static void drop_locked(struct gfs_statahead *sa)
{
	names_free(&sa->names);
	free(sa->dir);
	sa->dir = NULL;
}

struct gfs_statahead *gfs_statahead_new(long window_ms)
{
	struct gfs_statahead *sa = gfs_xcalloc(1, sizeof(*sa));

	pthread_mutex_init(&sa->lock, NULL);
	sa->window_ms = window_ms > 0 ? window_ms : 0;
	return sa;
}

void gfs_statahead_free(struct gfs_statahead *sa)
{
	if (!sa)
		return;
	drop_locked(sa);
	free(sa->miss_dir);
	for (size_t i = 0; i < LISTED; i++)
		free(sa->listed[i].dir);
	pthread_mutex_destroy(&sa->lock);
	free(sa);
}

/* Whether path is dir or below it. */
static bool at_or_below(const char *path, const char *dir)
{
	size_t n = strlen(path);

	if (!strcmp(path, "/"))
		return true;
	return !strncmp(dir, path, n) && (!dir[n] || dir[n] == '/');
}

/* The part of path after its parent directory's, or NULL when path's
 * parent is not dir. */
static const char *name_in(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") && (strncmp(path, dir, n) || path[n] != '/'))
		return NULL;
	path += strcmp(dir, "/") ? n + 1 : 1;
	return *path && !strchr(path, '/') ? path : NULL;
}

/* Drop what a mutation touching path (NULL: anything) may have changed. */
static void touch_locked(struct gfs_statahead *sa, const char *path)
{
	struct sa_entry *e;
	const char *name;

	sa->gen++;
	if (!path)
		sa->misses = 0; /* a walk that changes what it walks (chmod
				 * -R) is not worth a listing per name */
	if (!sa->dir)
		return;
	if (!path || at_or_below(path, sa->dir)) {
		drop_locked(sa);
		return;
	}
	if (!(name = name_in(path, sa->dir)))
		return;
	HASH_FIND_STR(sa->names, name, e);
	if (e) {
		HASH_DEL(sa->names, e);
		free(e->name);
		free(e);
	}
}

void gfs_statahead_touch(struct gfs_statahead *sa, const char *path)
{
	if (!sa->window_ms)
		return;
	pthread_mutex_lock(&sa->lock);
	touch_locked(sa, path);
	pthread_mutex_unlock(&sa->lock);
}

/* The slot of dir among the listed ones, or NULL. */
static struct sa_listed *listed_find(struct gfs_statahead *sa,
				     const char *dir)
{
	for (size_t i = 0; i < LISTED; i++)
		if (sa->listed[i].dir && !strcmp(sa->listed[i].dir, dir))
			return &sa->listed[i];
	return NULL;
}

void gfs_statahead_listed(struct gfs_statahead *sa, const char *dir)
{
	struct sa_listed *l, *oldest;

	if (!sa->window_ms)
		return;
	pthread_mutex_lock(&sa->lock);
	if (!(l = listed_find(sa, dir))) {
		oldest = &sa->listed[0];
		for (size_t i = 1; i < LISTED; i++)
			if (sa->listed[i].at_us < oldest->at_us)
				oldest = &sa->listed[i];
		l = oldest;
		free(l->dir);
		l->dir = gfs_xstrdup(dir);
		l->refused_until_us = 0;
	}
	l->at_us = gfs_mono_us();
	pthread_mutex_unlock(&sa->lock);
}

bool gfs_statahead_find(struct gfs_statahead *sa, const char *path,
			struct gfs_stat *st)
{
	struct sa_entry *e = NULL;
	const char *name;

	if (!sa->window_ms)
		return false;
	pthread_mutex_lock(&sa->lock);
	if (sa->dir && (name = name_in(path, sa->dir)) &&
	    gfs_mono_us() - sa->at_us < (int64_t)sa->window_ms * 1000)
		HASH_FIND_STR(sa->names, name, e);
	if (e)
		*st = e->st;
	pthread_mutex_unlock(&sa->lock);
	return e != NULL;
}

char *gfs_statahead_missed(struct gfs_statahead *sa, const char *path,
			   bool found, uint64_t *ticket)
{
	const char *slash = strrchr(path, '/');
	int64_t now = gfs_mono_us();
	struct sa_listed *l;
	char *dir, *fetch = NULL;

	if (!sa->window_ms || !slash || !slash[1])
		return NULL;
	dir = slash == path ? gfs_xstrdup("/")
			    : gfs_xasprintf("%.*s", (int)(slash - path), path);
	pthread_mutex_lock(&sa->lock);
	if (sa->miss_dir && !strcmp(sa->miss_dir, path)) {
		/* the walk's directory itself (the kernel asks for it
		 * after each change in it): neither in nor out of it */
	} else if (!found) {
		sa->misses = 0; /* a lookup before a create, not a walk */
	} else if (sa->miss_dir && !strcmp(sa->miss_dir, dir)) {
		sa->misses++;
	} else {
		free(sa->miss_dir);
		sa->miss_dir = gfs_xstrdup(dir);
		sa->misses = 1;
	}
	l = listed_find(sa, dir);
	/* the copy held is fresh and has no such file: a fetch would not
	 * have it either */
	if (sa->misses >= WALK_MISSES && !sa->fetching && l &&
	    now - l->at_us < (int64_t)LISTED_S * 1000000 &&
	    now >= l->refused_until_us &&
	    !(sa->dir && !strcmp(sa->dir, dir) &&
	      now - sa->at_us < (int64_t)sa->window_ms * 1000)) {
		sa->fetching = true;
		*ticket = sa->gen;
		fetch = dir;
		dir = NULL;
	}
	pthread_mutex_unlock(&sa->lock);
	free(dir);
	return fetch;
}

struct sa_batch *gfs_statahead_batch_new(void)
{
	return gfs_xcalloc(1, sizeof(struct sa_batch));
}

bool gfs_statahead_batch_add(struct sa_batch *b, const char *name,
			     const struct gfs_stat *st)
{
	struct sa_entry *e;

	if (b->n == MAX_ENTRIES) {
		b->too_big = true;
		return false;
	}
	b->n++;
	if (st->is_dir || st->nlink != 1)
		return true; /* counted, never answered */
	HASH_FIND_STR(b->names, name, e);
	if (e)
		return true; /* (a master lists a name once) */
	e = gfs_xcalloc(1, sizeof(*e));
	e->name = gfs_xstrdup(name);
	e->st = *st;
	HASH_ADD_KEYPTR(hh, b->names, e->name, strlen(e->name), e);
	return true;
}

void gfs_statahead_fetched(struct gfs_statahead *sa, const char *dir,
			   uint64_t ticket, int64_t began_us,
			   struct sa_batch *b, bool listed)
{
	struct sa_listed *l;

	pthread_mutex_lock(&sa->lock);
	sa->fetching = false;
	if (listed && !b->too_big && sa->gen == ticket) {
		drop_locked(sa);
		sa->dir = gfs_xstrdup(dir);
		sa->names = b->names;
		sa->at_us = began_us;
		b->names = NULL;
	} else if ((l = listed_find(sa, dir))) {
		/* too big or failed: not again soon; changed meanwhile
		 * (mutations under way): not within the window */
		l->refused_until_us = gfs_mono_us() +
			(!listed || b->too_big ? (int64_t)REFUSED_S * 1000000
					       : (int64_t)sa->window_ms * 1000);
	}
	pthread_mutex_unlock(&sa->lock);
	names_free(&b->names);
	free(b);
}

/*
 * Unit tests for common/statahead.c: a walk of a listed directory's names
 * fetches its listing once, the listing answers its files with one name
 * within the window only, and this client's own mutations drop what they
 * may have changed, begun or ended while the listing was fetched.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "client_internal.h"
#include "util.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* A file's attributes: mode 0600 + i, size i, one name. */
static struct gfs_stat file_st(unsigned i)
{
	struct gfs_stat st = { .kind = S_IFREG, .mode = 0600 + i, .size = i,
			       .ino = 100 + i, .nlink = 1 };

	return st;
}

/* Three stats of dir's files that went to the master: the third makes a
 * walk.  The dir to fetch (a new string) or NULL. */
static char *walk(struct gfs_statahead *sa, const char *dir, uint64_t *ticket)
{
	char path[64], *fetch = NULL;

	for (unsigned i = 0; i < 3 && !fetch; i++) {
		snprintf(path, sizeof(path), "%s/miss%u", dir, i);
		fetch = gfs_statahead_missed(sa, path, true, ticket);
	}
	return fetch;
}

/* Fetch dir's listing: files f0..f(n-1) (as many as a batch takes),
 * then a directory "sub" and a file with two names "linked". */
static void fetch_files(struct gfs_statahead *sa, const char *dir,
			uint64_t ticket, unsigned n)
{
	struct sa_batch *b = gfs_statahead_batch_new();
	struct gfs_stat st;
	char name[32];

	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		st = file_st(i);
		if (!gfs_statahead_batch_add(b, name, &st))
			break;
	}
	st = (struct gfs_stat){ .is_dir = true, .kind = S_IFDIR, .nlink = 2 };
	gfs_statahead_batch_add(b, "sub", &st);
	st = file_st(7);
	st.nlink = 2;
	gfs_statahead_batch_add(b, "linked", &st);
	gfs_statahead_fetched(sa, dir, ticket, gfs_mono_us(), b, true);
}

/* A statahead holding the listing of n files of directory d. */
static struct gfs_statahead *held_of(const char *d, long window_ms,
				     unsigned n)
{
	struct gfs_statahead *sa = gfs_statahead_new(window_ms);
	uint64_t ticket;
	char *dir;

	gfs_statahead_listed(sa, d);
	dir = walk(sa, d, &ticket);
	cr_assert_str_eq(dir, d);
	fetch_files(sa, dir, ticket, n);
	free(dir);
	return sa;
}

static struct gfs_statahead *held(long window_ms, unsigned n)
{
	return held_of("/d", window_ms, n);
}

Test(statahead, a_walk_of_a_listed_directory_fetches_and_is_answered)
{
	struct gfs_statahead *sa = held(60000, 10);
	struct gfs_stat st;

	cr_assert(gfs_statahead_find(sa, "/d/f3", &st));
	cr_assert_eq(st.mode, 0603);
	cr_assert_eq(st.size, 3);
	cr_assert_eq(st.ino, 103);
	cr_assert(gfs_statahead_find(sa, "/d/f9", &st));
	cr_assert_not(gfs_statahead_find(sa, "/d/f10", &st), "not listed");
	cr_assert_not(gfs_statahead_find(sa, "/d/sub", &st), "a directory");
	cr_assert_not(gfs_statahead_find(sa, "/d/linked", &st), "two names");
	cr_assert_not(gfs_statahead_find(sa, "/e/f3", &st), "another dir");
	cr_assert_not(gfs_statahead_find(sa, "/d/f3/x", &st), "below");
	cr_assert_not(gfs_statahead_find(sa, "/d", &st), "the dir itself");
	gfs_statahead_free(sa);
}

Test(statahead, the_root_is_a_directory_like_any)
{
	struct gfs_statahead *sa = gfs_statahead_new(60000);
	struct gfs_stat st;
	uint64_t ticket;
	char *dir;

	gfs_statahead_listed(sa, "/");
	dir = walk(sa, "", &ticket); /* "/miss0"... */
	cr_assert_str_eq(dir, "/");
	fetch_files(sa, dir, ticket, 2);
	free(dir);
	cr_assert(gfs_statahead_find(sa, "/f1", &st));
	cr_assert_not(gfs_statahead_find(sa, "/d/f1", &st));
	gfs_statahead_free(sa);
}

Test(statahead, no_walk_in_a_directory_not_listed)
{
	struct gfs_statahead *sa = gfs_statahead_new(60000);
	uint64_t ticket;

	gfs_statahead_listed(sa, "/e");
	cr_assert_null(walk(sa, "/d", &ticket));
	gfs_statahead_free(sa);
}

Test(statahead, misses_elsewhere_break_a_walk_but_its_directory_does_not)
{
	struct gfs_statahead *sa = gfs_statahead_new(60000);
	uint64_t ticket;
	char *dir;

	gfs_statahead_listed(sa, "/d");
	cr_assert_null(gfs_statahead_missed(sa, "/d/a", true, &ticket));
	cr_assert_null(gfs_statahead_missed(sa, "/e/b", true, &ticket));
	cr_assert_null(gfs_statahead_missed(sa, "/d/c", true, &ticket));
	cr_assert_null(gfs_statahead_missed(sa, "/d/e", true, &ticket));
	/* the kernel asks for the directory after each unlink in it */
	cr_assert_null(gfs_statahead_missed(sa, "/d", true, &ticket));
	dir = gfs_statahead_missed(sa, "/d/f", true, &ticket);
	cr_assert_str_eq(dir, "/d");
	free(dir);
	gfs_statahead_free(sa);
}

Test(statahead, one_fetch_at_a_time)
{
	struct gfs_statahead *sa = gfs_statahead_new(60000);
	uint64_t ticket, other;
	char *dir;

	gfs_statahead_listed(sa, "/d");
	dir = walk(sa, "/d", &ticket);
	cr_assert_not_null(dir);
	cr_assert_null(gfs_statahead_missed(sa, "/d/x", true, &other));
	fetch_files(sa, dir, ticket, 1);
	free(dir);
	gfs_statahead_free(sa);
}

Test(statahead, nothing_past_the_window_then_a_new_fetch)
{
	struct gfs_statahead *sa = held(50, 4);
	struct gfs_stat st;
	uint64_t ticket;
	char *dir;

	cr_assert(gfs_statahead_find(sa, "/d/f1", &st));
	/* fresh and without the name: a fetch would not have it either */
	cr_assert_null(gfs_statahead_missed(sa, "/d/none", true, &ticket));
	sleep_ms(80);
	cr_assert_not(gfs_statahead_find(sa, "/d/f1", &st));
	/* the walk goes on: its next miss fetches again */
	dir = gfs_statahead_missed(sa, "/d/f1", true, &ticket);
	cr_assert_str_eq(dir, "/d");
	fetch_files(sa, dir, ticket, 4);
	free(dir);
	cr_assert(gfs_statahead_find(sa, "/d/f1", &st));
	gfs_statahead_free(sa);
}

Test(statahead, a_window_of_zero_keeps_nothing)
{
	struct gfs_statahead *sa = gfs_statahead_new(0);
	uint64_t ticket;

	gfs_statahead_listed(sa, "/d");
	cr_assert_null(walk(sa, "/d", &ticket));
	gfs_statahead_free(sa);
}

Test(statahead, removing_a_name_drops_that_name_alone)
{
	struct gfs_statahead *sa = held(60000, 4);
	struct gfs_stat st;

	gfs_statahead_touch(sa, "/d/f1"); /* a DELETE begins */
	cr_assert_not(gfs_statahead_find(sa, "/d/f1", &st));
	cr_assert(gfs_statahead_find(sa, "/d/f2", &st));
	gfs_statahead_touch(sa, "/d/f1"); /* and ends */
	gfs_statahead_touch(sa, "/e/f2"); /* another directory's */
	gfs_statahead_touch(sa, "/d/sub/f2"); /* below one of its own */
	cr_assert(gfs_statahead_find(sa, "/d/f2", &st));
	cr_assert(gfs_statahead_find(sa, "/d/f3", &st));
	gfs_statahead_free(sa);
}

Test(statahead, removing_the_directory_or_above_drops_all)
{
	const char *above[] = { "/d", "/", NULL };
	struct gfs_statahead *sa;
	struct gfs_stat st;

	for (const char **p = above; *p; p++) {
		sa = held(60000, 4);
		gfs_statahead_touch(sa, *p);
		cr_assert_not(gfs_statahead_find(sa, "/d/f2", &st), "%s", *p);
		gfs_statahead_free(sa);
	}
	/* "/d" is not above "/dd" */
	sa = held_of("/dd", 60000, 4);
	gfs_statahead_touch(sa, "/d");
	cr_assert(gfs_statahead_find(sa, "/dd/f2", &st));
	gfs_statahead_free(sa);
}

Test(statahead, any_other_mutation_drops_all)
{
	struct gfs_statahead *sa = held(60000, 4);
	struct gfs_stat st;

	gfs_statahead_touch(sa, NULL);
	cr_assert_not(gfs_statahead_find(sa, "/d/f2", &st));
	gfs_statahead_free(sa);
}

Test(statahead, a_listing_that_a_mutation_overlapped_is_not_kept)
{
	struct gfs_statahead *sa = gfs_statahead_new(60000);
	struct gfs_stat st;
	uint64_t ticket;
	char *dir;

	gfs_statahead_listed(sa, "/d");
	dir = walk(sa, "/d", &ticket);
	gfs_statahead_touch(sa, "/d/f1"); /* begins or ends meanwhile */
	fetch_files(sa, dir, ticket, 4);
	cr_assert_not(gfs_statahead_find(sa, "/d/f2", &st));
	/* and the directory waits a window before it is fetched again */
	cr_assert_null(gfs_statahead_missed(sa, "/d/f2", true, &ticket));
	free(dir);
	gfs_statahead_free(sa);
}

Test(statahead, a_directory_too_big_or_failing_is_not_fetched_again_soon)
{
	struct gfs_statahead *sa = gfs_statahead_new(60000);
	struct sa_batch *b;
	struct gfs_stat st;
	uint64_t ticket;
	char *dir;

	gfs_statahead_listed(sa, "/d");
	dir = walk(sa, "/d", &ticket);
	fetch_files(sa, dir, ticket, 100000); /* stops at the most kept */
	free(dir);
	cr_assert_not(gfs_statahead_find(sa, "/d/f2", &st));
	cr_assert_null(walk(sa, "/d", &ticket));

	gfs_statahead_listed(sa, "/e");
	dir = walk(sa, "/e", &ticket);
	cr_assert_str_eq(dir, "/e");
	b = gfs_statahead_batch_new();
	st = file_st(1);
	gfs_statahead_batch_add(b, "f1", &st);
	gfs_statahead_fetched(sa, dir, ticket, gfs_mono_us(), b, false);
	free(dir);
	cr_assert_not(gfs_statahead_find(sa, "/e/f1", &st));
	cr_assert_null(walk(sa, "/e", &ticket));
	gfs_statahead_free(sa);
}

Test(statahead, lookups_of_names_not_there_make_no_walk)
{
	struct gfs_statahead *sa = gfs_statahead_new(60000);
	uint64_t ticket;
	char *dir;

	gfs_statahead_listed(sa, "/d");
	/* split: each new name is looked up, then created and committed */
	for (unsigned i = 0; i < 10; i++) {
		cr_assert_null(gfs_statahead_missed(sa, "/d/new", false,
						    &ticket));
		gfs_statahead_touch(sa, NULL);
	}
	/* a name the master has in between does not make one either */
	cr_assert_null(gfs_statahead_missed(sa, "/d/a", true, &ticket));
	cr_assert_null(gfs_statahead_missed(sa, "/d/b", false, &ticket));
	cr_assert_null(gfs_statahead_missed(sa, "/d/c", true, &ticket));
	cr_assert_null(gfs_statahead_missed(sa, "/d/e", true, &ticket));
	dir = gfs_statahead_missed(sa, "/d/f", true, &ticket);
	cr_assert_str_eq(dir, "/d");
	free(dir);
	gfs_statahead_free(sa);
}

Test(statahead, a_change_other_than_a_removal_starts_the_count_again)
{
	struct gfs_statahead *sa = gfs_statahead_new(60000);
	uint64_t ticket;
	char *dir;

	gfs_statahead_listed(sa, "/d");
	/* chmod -R: a stat, then a change, name after name */
	for (unsigned i = 0; i < 10; i++) {
		cr_assert_null(gfs_statahead_missed(sa, "/d/a", true,
						    &ticket));
		gfs_statahead_touch(sa, NULL);
	}
	/* rm: a stat, then a removal of that name */
	cr_assert_null(gfs_statahead_missed(sa, "/d/a", true, &ticket));
	gfs_statahead_touch(sa, "/d/a");
	cr_assert_null(gfs_statahead_missed(sa, "/d/b", true, &ticket));
	gfs_statahead_touch(sa, "/d/b");
	dir = gfs_statahead_missed(sa, "/d/c", true, &ticket);
	cr_assert_str_eq(dir, "/d");
	free(dir);
	gfs_statahead_free(sa);
}

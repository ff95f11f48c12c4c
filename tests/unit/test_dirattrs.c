/*
 * Unit tests for common/dirattrs.c: the directory attributes a client's
 * own last mutation brought back are served within the window only, and
 * never once another mutation of the client that overlapped it, or came
 * after it, has ended.
 */
#include <criterion/criterion.h>
#include <time.h>

#include "client_internal.h"
#include "json.h"

/* A reply of a mutation whose parents are dirs (mode 0700 + i, i = 0..),
 * "/d0", "/d1"... */
static json_t *reply_of(unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < n; i++)
		json_array_append_new(a, json_pack(
			"{s:s+, s:s, s:i, s:I, s:i}", "path", "/d",
			i ? "1" : "0", "type", "dir", "mode", 0700 + i,
			"mtime_ns", (json_int_t)1000 + i, "nlink", 2 + i));
	return json_pack("{s:o}", "parents", a);
}

/* One mutation, begun and ended with reply (taken). */
static void mutate(struct gfs_dirattrs *d, json_t *reply)
{
	gfs_dirattrs_end(d, gfs_dirattrs_begin(d), reply);
	json_decref(reply);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

Test(dirattrs, serves_the_parents_of_the_last_mutation)
{
	struct gfs_dirattrs *d = gfs_dirattrs_new(60000);
	struct gfs_stat st;

	mutate(d, reply_of(2));
	cr_assert(gfs_dirattrs_find(d, "/d0", &st));
	cr_assert(st.is_dir);
	cr_assert_eq(st.mode, 0700);
	cr_assert_eq(st.mtime_ns, 1000);
	cr_assert_eq(st.nlink, 2);
	cr_assert(gfs_dirattrs_find(d, "/d1", &st));
	cr_assert_eq(st.mode, 0701);
	cr_assert_not(gfs_dirattrs_find(d, "/d", &st));
	cr_assert_not(gfs_dirattrs_find(d, "/d2", &st));
	gfs_dirattrs_free(d);
}

Test(dirattrs, nothing_past_the_window)
{
	struct gfs_dirattrs *d = gfs_dirattrs_new(20);
	struct gfs_stat st;

	mutate(d, reply_of(1));
	cr_assert(gfs_dirattrs_find(d, "/d0", &st));
	sleep_ms(40);
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	gfs_dirattrs_free(d);
}

Test(dirattrs, a_window_of_zero_keeps_nothing)
{
	struct gfs_dirattrs *d = gfs_dirattrs_new(0);
	struct gfs_stat st;

	mutate(d, reply_of(1));
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	gfs_dirattrs_free(d);
}

Test(dirattrs, a_mutation_begun_drops_what_was_kept)
{
	struct gfs_dirattrs *d = gfs_dirattrs_new(60000);
	struct gfs_stat st;
	uint64_t t;

	mutate(d, reply_of(1));
	t = gfs_dirattrs_begin(d);
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	gfs_dirattrs_end(d, t, NULL); /* it failed */
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	gfs_dirattrs_free(d);
}

Test(dirattrs, nothing_kept_once_an_overlapping_mutation_ends)
{
	struct gfs_dirattrs *d = gfs_dirattrs_new(60000);
	json_t *ra = reply_of(1), *rb = reply_of(1);
	struct gfs_stat st;
	uint64_t a, b;

	/* b began while a was under way and ended first: b's reply may
	 * predate a's change, which is fine while a is not acknowledged,
	 * but not once it is */
	a = gfs_dirattrs_begin(d);
	b = gfs_dirattrs_begin(d);
	gfs_dirattrs_end(d, b, rb);
	cr_assert(gfs_dirattrs_find(d, "/d0", &st));
	gfs_dirattrs_end(d, a, ra);
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	/* a began first, b after it, a ended first: a's reply predates
	 * b's change, and b's may predate a's */
	a = gfs_dirattrs_begin(d);
	b = gfs_dirattrs_begin(d);
	gfs_dirattrs_end(d, a, ra);
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	gfs_dirattrs_end(d, b, rb);
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	/* a ended (storing nothing) while b was under way: b's reply may
	 * have been made before a's change */
	a = gfs_dirattrs_begin(d);
	b = gfs_dirattrs_begin(d);
	gfs_dirattrs_end(d, a, NULL);
	gfs_dirattrs_end(d, b, rb);
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	json_decref(ra);
	json_decref(rb);
	gfs_dirattrs_free(d);
}

Test(dirattrs, a_later_mutation_without_parents_drops_them)
{
	struct gfs_dirattrs *d = gfs_dirattrs_new(60000);
	struct gfs_stat st;

	mutate(d, reply_of(1));
	mutate(d, json_object()); /* a setattr, a commit: no parents */
	cr_assert_not(gfs_dirattrs_find(d, "/d0", &st));
	gfs_dirattrs_free(d);
}

Test(dirattrs, only_directories_are_kept)
{
	struct gfs_dirattrs *d = gfs_dirattrs_new(60000);
	struct gfs_stat st;

	mutate(d, json_pack("{s:[{s:s, s:s}]}", "parents", "path", "/f",
			    "type", "file"));
	cr_assert_not(gfs_dirattrs_find(d, "/f", &st));
	gfs_dirattrs_free(d);
}

/*
 * Unit tests for master/namespace.c: the tree of files and directories.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../master/chunks.h"
#include "../../master/lease.h"
#include "../../master/namespace.h"

static struct gfs_ns ns;

static void setup(void)
{
	gfs_ns_init(&ns);
}

static void teardown(void)
{
	gfs_ns_free(&ns);
}

TestSuite(namespace, .init = setup, .fini = teardown);

static struct gfs_node *mk(const char *path, enum gfs_node_type t)
{
	cr_assert_eq(gfs_ns_can_create(&ns, path), GFS_OK, "%s", path);
	return gfs_ns_create(&ns, path, t, 0644, 10, 1 << 20, 0);
}

static bool exists(const char *path)
{
	struct gfs_node *n;

	return gfs_ns_lookup(&ns, path, &n) == GFS_OK;
}

Test(namespace, creates_implicit_parents)
{
	struct gfs_node *n;

	mk("/a/b/c", GFS_NODE_FILE);
	cr_assert_eq(gfs_ns_lookup(&ns, "/a/b", &n), GFS_OK);
	cr_assert_eq(n->type, GFS_NODE_DIR);
	cr_assert_not(n->is_explicit);
	cr_assert_eq(ns.nfiles, 1);
	cr_assert_eq(ns.ndirs, 2);
}

Test(namespace, refuses_paths_through_a_file)
{
	struct gfs_node *n;

	mk("/f", GFS_NODE_FILE);
	cr_assert_eq(gfs_ns_can_create(&ns, "/f/x"), GFS_ENOTDIR);
	cr_assert_eq(gfs_ns_lookup(&ns, "/f/x", &n), GFS_ENOTDIR);
	cr_assert_eq(gfs_ns_can_create(&ns, "/f"), GFS_EEXIST);
}

Test(namespace, removes_implicit_parents_with_the_last_file)
{
	struct gfs_node *n;

	mk("/keep", GFS_NODE_DIR);
	mk("/keep/a/b/f", GFS_NODE_FILE);
	gfs_ns_lookup(&ns, "/keep/a/b/f", &n);
	gfs_ns_remove(&ns, n);
	cr_assert_not(exists("/keep/a"));
	cr_assert(exists("/keep"), "explicit directories stay");
	cr_assert_eq(ns.ndirs, 1);
}

Test(namespace, renames_a_subtree_atomically)
{
	struct gfs_node *d, *victim, *f;
	char path[4100];

	mk("/x/y/f1", GFS_NODE_FILE);
	mk("/x/y/z/f2", GFS_NODE_FILE);
	gfs_ns_lookup(&ns, "/x/y", &d);
	cr_assert_eq(gfs_ns_can_rename(&ns, d, "/q/r", false, &victim), GFS_OK);
	gfs_ns_rename(&ns, d, "/q/r");
	cr_assert(exists("/q/r/z/f2"));
	cr_assert_not(exists("/x"), "the emptied implicit parent goes");
	gfs_ns_lookup(&ns, "/q/r/z/f2", &f);
	gfs_ns_path(f, path);
	cr_assert_str_eq(path, "/q/r/z/f2");
}

Test(namespace, refuses_to_move_a_directory_below_itself)
{
	struct gfs_node *d, *victim;

	mk("/d/f", GFS_NODE_FILE);
	gfs_ns_lookup(&ns, "/d", &d);
	cr_assert_eq(gfs_ns_can_rename(&ns, d, "/d/e", false, &victim),
		     GFS_EINVAL);
}

Test(namespace, overwrites_like_posix_rename)
{
	struct gfs_node *f, *d, *victim;

	mk("/f1", GFS_NODE_FILE);
	mk("/f2", GFS_NODE_FILE);
	mk("/d/x", GFS_NODE_FILE);
	mk("/e", GFS_NODE_DIR);
	gfs_ns_lookup(&ns, "/f1", &f);
	gfs_ns_lookup(&ns, "/e", &d);
	cr_assert_eq(gfs_ns_can_rename(&ns, f, "/f2", false, &victim),
		     GFS_EEXIST);
	cr_assert_eq(gfs_ns_can_rename(&ns, f, "/f2", true, &victim), GFS_OK);
	cr_assert_not_null(victim);
	cr_assert_eq(gfs_ns_can_rename(&ns, f, "/e", true, &victim),
		     GFS_EISDIR);
	cr_assert_eq(gfs_ns_can_rename(&ns, d, "/f2", true, &victim),
		     GFS_ENOTDIR);
	cr_assert_eq(gfs_ns_can_rename(&ns, d, "/d", true, &victim),
		     GFS_ENOTEMPTY);
}

static bool count_cb(void *cls, struct gfs_node *n, const char *path)
{
	(void)n;
	(void)path;
	(*(int *)cls)++;
	return true;
}

/* Every node a whole prefix listing shows. */
static int count_prefix(const char *prefix)
{
	char *next = NULL;
	int n = 0;

	cr_assert_eq(gfs_ns_list_prefix(&ns, prefix, false, NULL, SIZE_MAX,
					count_cb, &n, &next), GFS_OK);
	cr_assert_null(next, "a whole listing has no next page");
	return n;
}

Test(namespace, lists_by_string_prefix)
{
	mk("/logs/a", GFS_NODE_FILE);
	mk("/logs2/b", GFS_NODE_FILE);
	mk("/other", GFS_NODE_FILE);
	mk("/logs/sub/c", GFS_NODE_FILE);
	cr_assert_eq(count_prefix("/logs"), 3);
	cr_assert_eq(count_prefix("/logs/"), 2);
	cr_assert_eq(count_prefix("/nothing/"), 0);
}

/* ---- listings a page at a time ---- */

#define SEEN_MAX 20000

/* Names seen by a paged listing, and how often. */
struct seen {
	char *name[SEEN_MAX];
	int times[SEEN_MAX];
	size_t n;
};

static void seen_add(struct seen *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			break;
	if (i == s->n) {
		cr_assert_lt(s->n, SEEN_MAX);
		s->name[s->n++] = strdup(name);
	}
	s->times[i]++;
}

static int seen_times(const struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return s->times[i];
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->name[i]);
}

/* One page of dir's entries from *from on, into s; false at the end. */
static bool page_of(struct gfs_node *dir, uint64_t *from, size_t max,
		    struct seen *s)
{
	struct gfs_ns_kid *kids;
	bool more;
	size_t i, n = gfs_ns_list_kids(dir, *from, max, &kids, &more);

	cr_assert_leq(n, max, "no two names here share a position");
	for (i = 0; i < n; i++) {
		cr_assert_eq(kids[i].pos, gfs_ns_pos(gfs_ns_name(kids[i].node),
						     kids[i].node->name_len));
		cr_assert_geq(kids[i].pos, *from);
		cr_assert(i == 0 || kids[i].pos > kids[i - 1].pos,
			  "a page is in position order");
		seen_add(s, gfs_ns_name(kids[i].node));
	}
	if (n)
		*from = kids[n - 1].pos + 1;
	free(kids);
	return more;
}

static void mkf(const char *fmt, int i)
{
	char path[64];

	snprintf(path, sizeof(path), fmt, i);
	mk(path, GFS_NODE_FILE);
}

static void rmf(const char *fmt, int i)
{
	char path[64];
	struct gfs_node *n;

	snprintf(path, sizeof(path), fmt, i);
	cr_assert_eq(gfs_ns_lookup_entry(&ns, path, &n), GFS_OK, "%s", path);
	gfs_ns_remove(&ns, n);
}

Test(namespace, pages_list_every_entry_once_in_position_order)
{
	struct seen *s = calloc(1, sizeof(*s));
	struct gfs_node *d;
	uint64_t from = 0;
	int i, pages = 0;

	for (i = 0; i < 1000; i++)
		mkf("/d/f%d", i);
	cr_assert_eq(gfs_ns_lookup(&ns, "/d", &d), GFS_OK);
	while (page_of(d, &from, 7, s))
		pages++;
	cr_assert_eq(s->n, 1000);
	for (i = 0; i < (int)s->n; i++)
		cr_assert_eq(s->times[i], 1, "%s listed %d times", s->name[i],
			     s->times[i]);
	cr_assert_geq(pages, 1000 / 7, "pages of 7 at most");
	seen_free(s);
	free(s);
}

/*
 * POSIX readdir: what is there from the first page to the last is listed
 * exactly once, whatever happens between pages: here names come and go
 * by the hundred, and the table doubles twice and halves twice.
 */
Test(namespace, pages_survive_adds_removes_and_resizes_between_them)
{
	struct seen *s = calloc(1, sizeof(*s));
	struct gfs_node *d;
	uint64_t from = 0;
	uint8_t bits0, bits_max = 0, bits_min = 255;
	int i, page = 0, added = 0, temp = 500;
	bool more = true;

	for (i = 0; i < 500; i++)
		mkf("/d/keep%d", i);
	for (i = 0; i < temp; i++)
		mkf("/d/temp%d", i);
	cr_assert_eq(gfs_ns_lookup(&ns, "/d", &d), GFS_OK);
	bits0 = d->dir.kbits;
	while (more) {
		more = page_of(d, &from, 40, s);
		page++;
		if (page == 2 || page == 3) { /* grow: 4x the entries */
			for (i = 0; i < 1500; i++)
				mkf("/d/new%d", added++);
		} else if (page == 5 || page == 6) { /* shrink again */
			for (i = 0; i < 1500; i++)
				rmf("/d/new%d", --added);
		} else if (temp > 0 && page % 2) {
			rmf("/d/temp%d", --temp);
			mkf("/d/new%d", added++);
		}
		bits_max = d->dir.kbits > bits_max ? d->dir.kbits : bits_max;
		bits_min = d->dir.kbits < bits_min ? d->dir.kbits : bits_min;
	}
	cr_assert_geq(bits_max, bits0 + 2, "the table grew (%u -> %u)", bits0,
		      bits_max);
	cr_assert_leq(bits_min, bits_max - 2, "and shrank (%u)", bits_min);
	for (i = 0; i < 500; i++) {
		char name[32];

		snprintf(name, sizeof(name), "keep%d", i);
		cr_assert_eq(seen_times(s, name), 1, "%s listed %d times", name,
			     seen_times(s, name));
	}
	for (i = 0; i < (int)s->n; i++)
		cr_assert_eq(s->times[i], 1, "%s listed twice", s->name[i]);
	seen_free(s);
	free(s);
}

Test(namespace, a_page_from_the_end_is_empty)
{
	struct gfs_ns_kid *kids;
	struct gfs_node *d;
	bool more;

	mk("/d/a", GFS_NODE_FILE);
	cr_assert_eq(gfs_ns_lookup(&ns, "/d", &d), GFS_OK);
	cr_assert_eq(gfs_ns_list_kids(d, GFS_NS_POS_END, 10, &kids, &more), 0);
	cr_assert_not(more);
	cr_assert_eq(gfs_ns_list_kids(d, 0, 10, &kids, &more), 1);
	cr_assert_not(more);
	free(kids);
}

/* Takes at most s->limit paths a page (struct prefix_page). */
struct prefix_page {
	struct seen *seen;
	size_t limit, n;
};

static bool prefix_page_cb(void *cls, struct gfs_node *n, const char *path)
{
	struct prefix_page *p = cls;

	(void)n;
	seen_add(p->seen, path);
	return ++p->n < p->limit;
}

/* A prefix listing of a tree, a few entries a page, while files are
 * made and removed in the directories already passed, being walked and
 * still ahead: the files there throughout are listed once each. */
Test(namespace, prefix_pages_list_what_stays_once)
{
	struct seen *s = calloc(1, sizeof(*s));
	struct prefix_page p = { .seen = s, .limit = 5 };
	char *cursor = NULL, *next, path[64];
	int i, j, pages = 0, extra = 0;

	for (i = 0; i < 20; i++)
		for (j = 0; j < 15; j++) {
			snprintf(path, sizeof(path), "/t/d%d/f%d", i, j);
			mk(path, GFS_NODE_FILE);
		}
	mk("/t/d3/sub/deep", GFS_NODE_FILE);
	mk("/u/other", GFS_NODE_FILE);
	do {
		p.n = 0;
		cr_assert_eq(gfs_ns_list_prefix(&ns, "/t/", false, cursor, 50,
						prefix_page_cb, &p, &next),
			     GFS_OK);
		free(cursor);
		cursor = next;
		cr_assert_leq(p.n, p.limit);
		for (i = 0; i < 20; i += 3) { /* churn everywhere */
			snprintf(path, sizeof(path), "/t/d%d/x%d", i, extra);
			mk(path, GFS_NODE_FILE);
		}
		for (i = 0; extra >= 2 && i < 20; i += 3) {
			snprintf(path, sizeof(path), "/t/d%d/x%d", i, extra - 2);
			rmf(path, 0);
		}
		extra++;
		pages++;
	} while (cursor);
	for (i = 0; i < 20; i++)
		for (j = 0; j < 15; j++) {
			snprintf(path, sizeof(path), "/t/d%d/f%d", i, j);
			cr_assert_eq(seen_times(s, path), 1, "%s", path);
		}
	cr_assert_eq(seen_times(s, "/t/d3/sub/deep"), 1);
	cr_assert_eq(seen_times(s, "/u/other"), 0);
	for (i = 0; i < (int)s->n; i++)
		cr_assert_eq(s->times[i], 1, "%s listed twice", s->name[i]);
	cr_assert_geq(pages, 300 / 5);
	seen_free(s);
	free(s);
}

Test(namespace, a_prefix_page_stops_at_its_budget_and_goes_on)
{
	char *next = NULL, *next2 = NULL;
	int n = 0;

	mk("/a/b/c/f", GFS_NODE_FILE);
	mk("/a/b/c/g", GFS_NODE_FILE);
	cr_assert_eq(gfs_ns_list_prefix(&ns, "/a/", false, NULL, 2, count_cb,
					&n, &next), GFS_OK);
	cr_assert_eq(n, 0, "two directories on the way, nothing shown");
	cr_assert_not_null(next);
	cr_assert_eq(gfs_ns_list_prefix(&ns, "/a/", false, next, SIZE_MAX,
					count_cb, &n, &next2), GFS_OK);
	cr_assert_eq(n, 2, "both files below where it stopped");
	cr_assert_null(next2);
	free(next);
}

Test(namespace, refuses_a_cursor_it_did_not_make)
{
	const char *bad[] = { "", "x", "1..2", "1.", ".1", "4000000000000000",
			      "A", "1/2", "11111111111111111" };
	char *next;
	int n = 0;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(gfs_ns_list_prefix(&ns, "/", false, bad[i], 10,
						count_cb, &n, &next),
			     GFS_EINVAL, "%s", bad[i]);
}

Test(namespace, propagates_mtime_to_parents)
{
	struct gfs_node *d, *f;

	mk("/p/f", GFS_NODE_FILE);
	gfs_ns_lookup(&ns, "/p/f", &f);
	f->mtime_ns = 99;
	gfs_ns_touch_up(f, 99);
	gfs_ns_lookup(&ns, "/p", &d);
	cr_assert_eq(d->mtime_ns, 99);
}

static void no_drop(void *cls, struct gfs_chunk *c)
{
	(void)c;
	(*(int *)cls)++;
}

Test(namespace, keeps_chunks_sorted_inline_or_in_an_array)
{
	struct gfs_chunk c[3] = { { .index = 2 }, { .index = 0 },
				  { .index = 1 } };
	struct gfs_node *f = mk("/f", GFS_NODE_FILE);
	int dropped = 0;

	for (int i = 0; i < 3; i++)
		cr_assert_null(gfs_ns_set_chunk(f, c[i].index, &c[i]));
	cr_assert_eq(f->file.nchunks, 3);
	for (uint32_t i = 0; i < 3; i++)
		cr_assert_eq(gfs_ns_chunks(f)[i]->index, i);
	gfs_ns_cut_chunks(f, 1, no_drop, &dropped);
	cr_assert_eq(dropped, 2);
	cr_assert_eq(gfs_ns_chunk_at(f, 0), &c[1], "back to the inline slot");
	gfs_ns_cut_chunks(f, 0, no_drop, &dropped);
	cr_assert_eq(f->file.nchunks, 0);
	cr_assert_null(gfs_ns_chunk_at(f, 0));
}

static bool any_cb(void *cls, struct gfs_node *f)
{
	(void)cls;
	(void)f;
	return true;
}

static struct gfs_node *at(const char *path)
{
	struct gfs_node *n = NULL;

	cr_assert_eq(gfs_ns_lookup(&ns, path, &n), GFS_OK, "%s", path);
	return n;
}

Test(namespace, counts_leases_below_each_directory)
{
	struct gfs_node *f = mk("/a/b/f", GFS_NODE_FILE);

	mk("/a/c/g", GFS_NODE_FILE);
	gfs_lease_set(f, "h", 1ll << 50, 60);
	cr_expect_eq(ns.root->dir.nleases, 1);
	cr_expect_eq(at("/a")->dir.nleases, 1);
	cr_expect_eq(at("/a/c")->dir.nleases, 0);
	cr_expect_eq(gfs_ns_find_lease(at("/a"), any_cb, NULL), f);
	cr_expect_null(gfs_ns_find_lease(at("/a/c"), any_cb, NULL));
	/* the count moves with the subtree */
	gfs_ns_rename(&ns, at("/a/b"), "/x/y");
	cr_expect_eq(at("/a")->dir.nleases, 0);
	cr_expect_eq(at("/x")->dir.nleases, 1);
	cr_expect_eq(gfs_ns_find_lease(at("/x"), any_cb, NULL), f);
	gfs_lease_clear(f);
	cr_expect_eq(at("/x")->dir.nleases, 0);
	cr_expect_eq(ns.root->dir.nleases, 0);
	/* and goes with the file */
	gfs_lease_set(f, "h", 1ll << 50, 60);
	gfs_ns_remove(&ns, f);
	cr_expect_eq(ns.root->dir.nleases, 0);
}

/* A rename must not give a file below the directory a path longer than
 * 4096 bytes (the listing and the checkpoint build paths in buffers of
 * that size). */
Test(namespace, refuses_a_rename_that_makes_a_path_too_long)
{
	char deep[4100], to[4100];
	struct gfs_node *victim, *d;
	size_t n = 0;

	n += (size_t)sprintf(deep + n, "/a");
	while (n < 3900)
		n += (size_t)sprintf(deep + n, "/%0200d", (int)n);
	sprintf(deep + n, "/f");
	mk(deep, GFS_NODE_FILE);
	d = at("/a");
	memset(to, 'x', 300);
	to[0] = '/';
	to[300] = '\0';
	cr_expect_eq(gfs_ns_can_rename(&ns, d, to, false, &victim),
		     GFS_ENAMETOOLONG);
	cr_expect_eq(gfs_ns_can_rename(&ns, d, "/b", false, &victim), GFS_OK);
}

Test(namespace, numbers_inodes_and_their_implicit_parents_from_ino)
{
	struct gfs_node *f, *d;

	f = gfs_ns_create(&ns, "/a/b/f", GFS_NODE_FILE, 0644, 1, 1 << 20, 40);
	cr_assert_eq(f->ino, 40);
	gfs_ns_lookup(&ns, "/a", &d);
	cr_assert_eq(d->ino, 41, "parents are numbered after the node");
	gfs_ns_lookup(&ns, "/a/b", &d);
	cr_assert_eq(d->ino, 42);
	cr_assert_eq(ns.next_ino, 43);
	cr_assert_eq(gfs_ns_nlink(d), 2);
	gfs_ns_lookup(&ns, "/a", &d);
	cr_assert_eq(gfs_ns_nlink(d), 3, "2 + one subdirectory");
}

Test(namespace, a_hard_link_names_the_same_inode_until_its_last_name_goes)
{
	struct gfs_node *f, *n, *l;
	char path[64];

	f = mk("/d1/f", GFS_NODE_FILE);
	f->file.size = 77;
	l = gfs_ns_link(&ns, f, "/d2/g", 5);
	cr_assert_eq(l->type, GFS_NODE_LINK);
	cr_assert_eq(f->nlink, 2);
	cr_assert_eq(ns.nfiles, 1, "one inode, two names");
	cr_assert_eq(gfs_ns_lookup(&ns, "/d2/g", &n), GFS_OK);
	cr_assert_eq(n, f, "lookup answers the inode");
	cr_assert_eq(gfs_ns_lookup_entry(&ns, "/d2/g", &n), GFS_OK);
	cr_assert_eq(n, l);
	/* the inode's own name goes: the node takes the other name's place */
	gfs_ns_lookup_entry(&ns, "/d1/f", &n);
	cr_assert_not(gfs_ns_last_name(n));
	cr_assert_not(gfs_ns_remove(&ns, n), "the inode stays");
	cr_assert_not(exists("/d1/f"));
	cr_assert_not(exists("/d1"), "its implicit parent went");
	cr_assert_eq(gfs_ns_lookup_entry(&ns, "/d2/g", &n), GFS_OK);
	cr_assert_eq(n, f, "same node, same pointer");
	cr_assert_eq(f->nlink, 1);
	cr_assert_eq(f->file.size, 77);
	gfs_ns_path(f, path);
	cr_assert_str_eq(path, "/d2/g");
	cr_assert(gfs_ns_last_name(f));
	cr_assert(gfs_ns_remove(&ns, f), "the last name takes the inode");
	cr_assert_eq(ns.nfiles, 0);
	cr_assert_null(ns.links);
}

Test(namespace, removing_a_link_keeps_the_inode_and_rename_between_names_does_nothing)
{
	struct gfs_node *f, *l, *victim;

	f = mk("/f", GFS_NODE_FILE);
	l = gfs_ns_link(&ns, f, "/g", 5);
	gfs_ns_link(&ns, f, "/h", 6);
	cr_assert_eq(f->nlink, 3);
	cr_assert_eq(gfs_ns_can_rename(&ns, l, "/f", true, &victim), GFS_OK);
	cr_assert_null(victim, "two names of one inode: nothing replaced");
	cr_assert_not(gfs_ns_remove(&ns, l));
	cr_assert_eq(f->nlink, 2);
	cr_assert(exists("/f"));
	cr_assert(exists("/h"));
	cr_assert_not(exists("/g"));
}

Test(namespace, long_names_live_outside_the_node)
{
	struct gfs_node *f, *victim;
	char path[64];

	f = mk("/short", GFS_NODE_FILE);
	cr_assert_eq(gfs_ns_can_rename(&ns, f, "/a-name-longer-than-sixteen",
				       false, &victim), GFS_OK);
	gfs_ns_rename(&ns, f, "/a-name-longer-than-sixteen");
	gfs_ns_path(f, path);
	cr_assert_str_eq(path, "/a-name-longer-than-sixteen");
	gfs_ns_rename(&ns, f, "/s");
	cr_assert(exists("/s"));
	cr_assert_str_eq(gfs_ns_name(f), "s");
}

/* Every entry of dir, counted through gfs_ns_next_kid(). */
static unsigned count_kids(const struct gfs_node *dir)
{
	unsigned n = 0;
	size_t pos = 0;

	while (gfs_ns_next_kid(dir, &pos))
		n++;
	return n;
}

/* /d/ and a short name, or a long one (stored outside the node). */
static void kid_path(char *path, unsigned i)
{
	sprintf(path, "/d/%s%u", i % 3 ? "f" : "a-long-name-outside-a-node-",
		i);
}

/* A directory's table grows, finds every name after removals in the
 * middle of probe runs (the run shifts back), shrinks, and goes with the
 * last entry. */
Test(namespace, a_directory_table_grows_shrinks_and_finds_every_name)
{
	enum { N = 5000 };
	struct gfs_node *d, *n;
	char path[64];
	unsigned i;

	for (i = 0; i < N; i++) {
		kid_path(path, i);
		mk(path, GFS_NODE_FILE);
	}
	cr_assert_eq(gfs_ns_lookup(&ns, "/d", &d), GFS_OK);
	d->is_explicit = 1;
	cr_assert_eq(gfs_ns_nkids(d), N);
	cr_assert_eq(count_kids(d), N);
	cr_assert_leq(1u << d->dir.kbits, 4u * N / 3 * 2);
	for (i = 0; i < N; i += 2) {
		kid_path(path, i);
		cr_assert_eq(gfs_ns_lookup(&ns, path, &n), GFS_OK, "%s", path);
		gfs_ns_remove(&ns, n);
	}
	for (i = 0; i < N; i++) {
		kid_path(path, i);
		cr_assert_eq(exists(path), i % 2 == 1, "%s", path);
	}
	cr_assert_eq(count_kids(d), N / 2);
	for (i = 1; i < N - 10; i += 2) {
		kid_path(path, i);
		cr_assert_eq(gfs_ns_lookup(&ns, path, &n), GFS_OK, "%s", path);
		gfs_ns_remove(&ns, n);
	}
	cr_assert_eq(gfs_ns_nkids(d), 5);
	cr_assert_leq(1u << d->dir.kbits, 64, "shrank to %u slots",
		      1u << d->dir.kbits);
	for (i = N - 9; i < N; i += 2) {
		kid_path(path, i);
		cr_assert(exists(path), "%s", path);
		cr_assert_eq(gfs_ns_lookup(&ns, path, &n), GFS_OK);
		gfs_ns_remove(&ns, n);
	}
	cr_assert_eq(gfs_ns_nkids(d), 0);
	cr_assert_null(d->dir.kids);
	cr_assert_eq(ns.nfiles, 0);
}

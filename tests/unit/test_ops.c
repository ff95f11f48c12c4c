/*
 * Tests of master/ops.c that need a large namespace: listings, whose
 * cost under the master lock grows with what they match.  The state is
 * built in memory through gfs_journal_apply() (no log, no threads).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../master/journal.h"
#include "../../master/master.h"
#include "../../master/ops.h"
#include "util.h"

static struct gfs_master m;

static void setup(void)
{
	memset(&m, 0, sizeof(m));
	m.conf.chunk_size = 1 << 20;
	m.conf.replicas = 3;
	m.role = GFS_ROLE_BACKUP; /* reads wait for nothing */
	pthread_mutex_init(&m.lock, NULL);
	gfs_ns_init(&m.ns);
	gfs_chunks_init(&m.chunks);
	gfs_csmgr_init(&m.cs);
}

static void teardown(void)
{
	gfs_csmgr_free(&m.cs);
	gfs_chunks_free(&m.chunks);
	gfs_ns_free(&m.ns);
	pthread_mutex_destroy(&m.lock);
}

TestSuite(ops, .init = setup, .fini = teardown, .timeout = 60);

/* n empty files /big/dDDD/fNNNNNN. */
static void files(int n)
{
	struct gfs_enc rec = { 0 };
	char path[64];

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/big/d%03d/f%06d", i / 1000, i);
		gfs_rec_create(&rec, path, GFS_NODE_FILE, 0644, i, 1 << 20);
		cr_assert(gfs_journal_apply(&m, rec.buf, rec.len));
		rec.len = 0;
	}
	gfs_enc_free(&rec);
}

Test(ops, a_prefix_listing_of_more_than_100000_files_is_refused)
{
	json_t *out = NULL;

	files(100001);
	cr_expect_eq(gfs_ops_list_prefix(&m, "/", false, &out), GFS_ETOOBIG);
	cr_expect_null(out);
	cr_assert_eq(gfs_ops_list_prefix(&m, "/big/d05", false, &out), GFS_OK);
	cr_expect_eq(json_array_size(json_object_get(out, "files")), 10000);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(
				 json_object_get(out, "files"), 0), "path")),
			 "/big/d050/f050000", "sorted by path");
	json_decref(out);
}

Test(ops, a_directory_listing_is_sorted_and_complete)
{
	json_t *out = NULL, *e;

	files(2500);
	cr_assert_eq(gfs_ops_list_dir(&m, "/big/d001", &out), GFS_OK);
	e = json_object_get(out, "entries");
	cr_assert_eq(json_array_size(e), 1000);
	for (size_t i = 1; i < json_array_size(e); i++)
		cr_assert_lt(strcmp(json_string_value(json_object_get(
					    json_array_get(e, i - 1), "name")),
				    json_string_value(json_object_get(
					    json_array_get(e, i), "name"))),
			     0);
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(e, 0),
							"mtime_ns")),
		     1000);
	json_decref(out);
}

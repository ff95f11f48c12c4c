/*
 * Unit tests for master/chunks.c (the handle table, locations, handle
 * reservations) and master/placement.c (choosing servers).
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "../../master/chunks.h"
#include "../../master/placement.h"

TestSuite(chunks);

Test(chunks, finds_every_handle_after_many_removals)
{
	struct gfs_chunks t;
	uint64_t h;

	gfs_chunks_init(&t);
	for (h = 1; h <= 20000; h++)
		gfs_chunks_add(&t, h * 7919, 1, 0, 0);
	for (h = 1; h <= 20000; h += 2)
		gfs_chunks_remove(&t, gfs_chunks_find(&t, h * 7919));
	cr_assert_eq(t.count, 10000);
	for (h = 1; h <= 20000; h++) {
		struct gfs_chunk *c = gfs_chunks_find(&t, h * 7919);

		if (h % 2)
			cr_assert_null(c, "%llu", (unsigned long long)h);
		else
			cr_assert(c && c->handle == h * 7919);
	}
	gfs_chunks_free(&t);
}

Test(chunks, keeps_locations_distinct)
{
	struct gfs_chunk c = { 0 };

	cr_assert(gfs_chunk_add_loc(&c, 3));
	cr_assert_not(gfs_chunk_add_loc(&c, 3));
	cr_assert(gfs_chunk_add_loc(&c, 1));
	cr_assert(gfs_chunk_del_loc(&c, 3));
	cr_assert_eq(c.nloc, 1);
	cr_assert_eq(c.loc[0], 1);
}

Test(chunks, hands_out_handles_only_inside_a_reservation)
{
	struct gfs_chunks t;

	gfs_chunks_init(&t);
	cr_assert(gfs_chunks_need_reserve(&t));
	gfs_chunks_reserve(&t, 1 + GFS_HANDLE_BATCH);
	cr_assert_eq(gfs_chunks_take_handle(&t), 1);
	gfs_chunks_skip_reserved(&t);
	cr_assert(gfs_chunks_need_reserve(&t), "a restart skips the batch");
	cr_assert_eq(t.inherit_hi, 1 + GFS_HANDLE_BATCH);
	gfs_chunks_free(&t);
}

Test(chunks, places_on_the_most_free_servers_first)
{
	struct gfs_place_cand c[] = {
		{ 0, -1, 100 }, { 1, -1, 300 }, { 2, -1, 200 }, { 3, -1, 50 },
	};
	uint16_t out[3];

	cr_assert_eq(gfs_place_pick(c, 4, 3, UINT16_MAX, out), 3);
	cr_assert_eq(out[0], 1);
	cr_assert_eq(out[1], 2);
	cr_assert_eq(out[2], 0);
}

Test(chunks, starts_consecutive_chunks_on_different_servers)
{
	struct gfs_place_cand c[] = {
		{ 0, -1, 100 }, { 1, -1, 300 }, { 2, -1, 200 },
	};
	uint16_t out[3];

	cr_assert_eq(gfs_place_pick(c, 3, 3, 1, out), 3);
	cr_assert_neq(out[0], 1);
	cr_assert_eq(gfs_place_pick(c, 3, 1, 1, out), 1);
	cr_assert_neq(out[0], 1, "even with one replica");
}

Test(chunks, prefers_near_servers)
{
	struct gfs_place_cand c[] = {
		{ 0, -1, 900 }, { 1, 0, 10 }, { 2, -1, 200 },
	};
	uint16_t out[2];

	cr_assert_eq(gfs_place_pick(c, 3, 2, UINT16_MAX, out), 2);
	cr_assert_eq(out[0], 1);
	cr_assert_eq(out[1], 0);
}

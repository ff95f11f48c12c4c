/*
 * Unit tests for master/isr.c: what a mutation waits for, when a
 * follower counts as attached, and when nothing may be acknowledged.
 * Polls go through gfs_isr_serve() against a real op log in a temp dir.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../master/isr.h"
#include "../../master/oplog.h"
#include "util.h"

static char dir[64];
static struct gfs_oplog *log_;
static struct gfs_isr isr;

static bool none(void *cls, uint64_t seq, const uint8_t *b, size_t n)
{
	(void)cls;
	(void)seq;
	(void)b;
	(void)n;
	return true;
}

static void setup(void)
{
	strcpy(dir, "/tmp/gfs-isr-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(gfs_oplog_open(dir, 1, none, NULL, &log_), GFS_OK);
	gfs_isr_init(&isr, 300);
}

static void teardown(void)
{
	char cmd[96];

	gfs_isr_destroy(&isr);
	gfs_oplog_close(log_);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(isr, .init = setup, .fini = teardown, .timeout = 30);

/* Append a durable record; its seq. */
static uint64_t record(void)
{
	uint64_t seq = gfs_oplog_append(log_, "r", 1);

	cr_assert(gfs_oplog_wait(log_, seq));
	return seq;
}

/* One poll of url for `from` (no wait); whether it was attached. */
static bool poll(const char *url, uint64_t from)
{
	struct gfs_enc out = { 0 };
	uint64_t next;
	bool attached;

	cr_assert_eq(gfs_isr_serve(&isr, log_, url, from, NULL, 0, 1 << 20,
				   &out, &next, &attached), GFS_OK);
	gfs_enc_free(&out);
	return attached;
}

static enum gfs_err wait_ms(uint64_t seq, bool mutation, int64_t ms)
{
	return gfs_isr_wait(&isr, seq, mutation, gfs_mono_ms() + ms, NULL);
}

Test(isr, a_mutation_waits_for_every_member)
{
	char *members[] = { "http://b", "http://c" };
	uint64_t seq;

	gfs_isr_lead(&isr, members, 2, 1, INT64_MAX);
	seq = record();
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL, "nobody has it");
	poll("http://b", seq + 1);
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL, "c lacks it");
	poll("http://c", seq + 1);
	cr_expect_eq(wait_ms(seq, true, 50), GFS_OK);
	/* a follower that is not a member is never waited for */
	poll("http://d", 1);
	cr_expect_eq(wait_ms(seq, true, 50), GFS_OK);
}

Test(isr, nothing_is_acknowledged_once_fenced)
{
	uint64_t seq;

	cr_expect_eq(wait_ms(1, true, 50), GFS_ENOTPRIMARY, "not leading yet");
	gfs_isr_lead(&isr, NULL, 0, 1, INT64_MAX);
	seq = record();
	cr_expect_eq(wait_ms(seq, true, 50), GFS_OK, "alone: at once");
	gfs_isr_fence(&isr);
	cr_expect_eq(wait_ms(seq, true, 50), GFS_ENOTPRIMARY);
	cr_expect_not(gfs_isr_writable(&isr));
}

Test(isr, the_lease_bounds_acknowledgements_not_reads)
{
	uint64_t seq;

	gfs_isr_lead(&isr, NULL, 0, 1, gfs_mono_ms() - 1);
	seq = record();
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL, "lease over");
	cr_expect_not(gfs_isr_writable(&isr));
	cr_expect_eq(wait_ms(seq, false, 50), GFS_OK, "a read may go on");
	gfs_isr_set_ack_until(&isr, INT64_MAX); /* renewed */
	cr_expect_eq(wait_ms(seq, true, 50), GFS_OK);
	cr_expect(gfs_isr_writable(&isr));
}

Test(isr, attached_only_past_every_acknowledged_record)
{
	uint64_t seq;

	gfs_isr_lead(&isr, NULL, 0, 1, INT64_MAX);
	seq = record();
	cr_assert_eq(wait_ms(seq, true, 50), GFS_OK);
	/* b caught up at seq, then became a member: it lacks nothing
	 * acknowledged only once it asks for seq + 1 */
	cr_expect_not(poll("http://b", seq), "not a member yet");
	gfs_isr_set_member(&isr, "http://b", true);
	cr_expect_not(poll("http://b", seq), "record seq was acknowledged");
	cr_expect(poll("http://b", seq + 1));
	/* it went back (a re-sync): not attached until past again */
	cr_expect_not(poll("http://b", 1));
}

/* A poll that is refused (410) as this one, for a record past the log's
 * end, of a follower whose log is not a prefix of ours. */
static void refused_poll(const char *url, uint64_t from)
{
	struct gfs_enc out = { 0 };
	uint64_t next;
	bool attached;

	cr_assert_eq(gfs_isr_serve(&isr, log_, url, from, NULL, 0, 1 << 20,
				   &out, &next, &attached), GFS_ENOENT);
	cr_expect_not(attached);
	gfs_enc_free(&out);
}

Test(isr, a_follower_replaced_at_its_url_is_not_attached)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	char *members[] = { "http://b" };
	uint64_t seq;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	seq = record();
	cr_assert(poll("http://b", seq + 1));
	cr_assert_eq(wait_ms(seq, true, 50), GFS_OK);
	/* a new process at b's URL, with another history: refused, and
	 * nothing the old one said counts any more */
	refused_poll("http://b", seq + 5);
	cr_assert_eq(gfs_isr_view(&isr, v, GFS_ISR_PEERS), 1);
	cr_expect_not(v[0].attached, "the old b's attachment still shows");
	cr_expect_eq(v[0].acked, 0, "what the old b held still counts");
	cr_expect_not(v[0].caught_up);
	cr_expect(v[0].member, "b stays waited for");
	/* it re-synced and asks again: attached from its first poll on */
	cr_expect(poll("http://b", seq + 1));
}

Test(isr, a_poll_read_after_a_stall_is_no_sign_of_life)
{
	char *members[] = { "http://b" };
	uint64_t seq;
	int64_t t;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	seq = record();
	usleep(400 * 1000); /* detach_ms is 300: b is silent */
	cr_assert_not(gfs_isr_writable(&isr));
	/* the tick last ran 1.5 s ago: we were stopped, and b's poll may
	 * have waited in a socket all that time */
	t = gfs_mono_ms();
	gfs_isr_note_run(&isr, t - 1500);
	poll("http://b", seq + 1);
	cr_expect_not(gfs_isr_writable(&isr), "a poll read in a stall");
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL,
		     "acknowledged on a poll read in a stall");
	/* the tick runs again: right after, still maybe one from before */
	gfs_isr_note_run(&isr, t);
	poll("http://b", seq + 1);
	cr_expect_not(gfs_isr_writable(&isr), "a poll read at the resume");
	/* well after the resume: alive again */
	gfs_isr_note_run(&isr, t + 200);
	usleep(600 * 1000);
	poll("http://b", seq + 1);
	cr_expect(gfs_isr_writable(&isr));
	cr_expect_eq(wait_ms(seq, true, 50), GFS_OK);
}

Test(isr, a_silent_member_blocks_writes_and_stays_silent)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	char *members[] = { "http://b" };

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	cr_expect(gfs_isr_writable(&isr), "a new member counts as alive");
	usleep(400 * 1000); /* detach_ms is 300 */
	cr_expect_not(gfs_isr_writable(&isr));
	gfs_isr_set_member(&isr, "http://b", false);
	cr_expect(gfs_isr_writable(&isr));
	cr_assert_eq(gfs_isr_view(&isr, v, GFS_ISR_PEERS), 1);
	cr_expect(v[0].silent, "leaving the set made it look alive");
	cr_expect_not(v[0].member);
}

Test(isr, a_poll_reports_caught_up_and_lag)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	uint64_t seq;
	json_t *j;

	gfs_isr_lead(&isr, NULL, 0, 1, INT64_MAX);
	seq = record();
	cr_assert_eq(wait_ms(seq, true, 50), GFS_OK);
	poll("http://b", seq);
	cr_assert_eq(gfs_isr_view(&isr, v, GFS_ISR_PEERS), 1);
	cr_expect_not(v[0].caught_up, "it lacks an acknowledged record");
	/* past every acknowledged record, behind the log's end (a record
	 * not acknowledged yet): caught up all the same */
	record();
	poll("http://b", seq + 1);
	gfs_isr_view(&isr, v, GFS_ISR_PEERS);
	cr_expect(v[0].caught_up);
	j = gfs_isr_json(&isr, seq + 3);
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(j, 0),
							"lag")), 2);
	json_decref(j);
}

Test(isr, followers_beyond_the_table_are_served_untracked)
{
	char url[32];

	gfs_isr_lead(&isr, NULL, 0, 1, INT64_MAX);
	for (int i = 0; i < GFS_ISR_PEERS; i++) {
		snprintf(url, sizeof(url), "http://m%d", i);
		gfs_isr_set_member(&isr, url, true);
	}
	/* every slot holds a member: the newcomer is served, not tracked */
	cr_expect_not(poll("http://late", 1));
	gfs_isr_set_member(&isr, "http://m0", false);
	poll("http://late", 1); /* evicts the non-member */
	cr_expect_eq(gfs_isr_view(&isr, (struct gfs_isr_view[GFS_ISR_PEERS]){ 0 },
				  GFS_ISR_PEERS), GFS_ISR_PEERS);
}

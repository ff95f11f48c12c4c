/*
 * Unit tests for master/isr.c: what a mutation waits for, when a
 * follower counts as attached, when a poll is a sign of life (the stamp
 * echo) and when nothing may be acknowledged.  Polls go through
 * gfs_isr_serve() against a real op log in a temp dir, in pair mode: as
 * a follower would, poll() echoes the stamp of its url's last reply.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../master/isr.h"
#include "../../master/oplog.h"
#include "constants.h"
#include "util.h"

#define WINDOW_MS 10000 /* the followers' failover window */

static char dir[64];
static struct gfs_oplog *log_;
static struct gfs_isr isr;
static struct {
	char url[32];
	struct gfs_isr_echo stamp; /* of its last reply */
} echoes[4];

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
	gfs_isr_init(&isr, 300, true);
	memset(echoes, 0, sizeof(echoes));
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

/* url's slot in echoes[]: the stamp its follower echoes. */
static struct gfs_isr_echo *echo_of(const char *url)
{
	size_t i;

	for (i = 0; i < 4 && echoes[i].url[0]; i++)
		if (!strcmp(echoes[i].url, url))
			return &echoes[i].stamp;
	cr_assert_lt(i, 4);
	snprintf(echoes[i].url, sizeof(echoes[i].url), "%s", url);
	return &echoes[i].stamp;
}

/* One poll of url for `from` echoing e (wait wait_ms); err and whether
 * it was attached; url's follower keeps the reply's stamp. */
static enum gfs_err poll_with(const char *url, uint64_t from,
			      const struct gfs_isr_echo *e, int64_t wait,
			      bool *attached)
{
	struct gfs_isr_poll q = { .url = url, .from = from, .echo = *e,
				  .wait_ms = wait };
	struct gfs_enc out = { 0 };
	enum gfs_err err = gfs_isr_serve(&isr, log_, &q, 1 << 20, &out);

	if (!err)
		cr_assert(gfs_isr_parse_echo(q.stamp, echo_of(url)));
	*attached = q.attached;
	gfs_enc_free(&out);
	return err;
}

/* One poll of url for `from` (no wait), as its follower polls: echoing
 * the last stamp it got (none yet: one poll first, to get one); whether
 * it was attached. */
static bool poll(const char *url, uint64_t from)
{
	struct gfs_isr_echo e;
	bool attached;

	if (!echo_of(url)->id)
		poll_with(url, from, &(struct gfs_isr_echo){ 0 }, 0, &attached);
	e = *echo_of(url);
	e.window_ms = WINDOW_MS;
	cr_assert_eq(poll_with(url, from, &e, 0, &attached), GFS_OK);
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
	bool attached;

	cr_assert_eq(poll_with(url, from, echo_of(url), 0, &attached),
		     GFS_ENOENT);
	cr_expect_not(attached);
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

/* The decision: how long a poll's echo lets the leader count on its
 * follower, on a fake clock. */
Test(isr, an_echo_of_ours_counts_for_the_window_less_drift_and_margin)
{
	struct gfs_isr_echo e = { .id = 42, .at_ms = 1000,
				  .window_ms = WINDOW_MS };
	int64_t until = 1000 + WINDOW_MS - WINDOW_MS / 100 - 100;

	cr_expect_eq(gfs_isr_life_until(42, &e, 1000), until, "fresh");
	cr_expect_eq(gfs_isr_life_until(42, &e, until - 1), until);
	cr_expect_eq(gfs_isr_life_until(42, &e, until), 0, "ran out");
}

Test(isr, a_delayed_poll_with_an_old_echo_is_no_sign_of_life)
{
	struct gfs_isr_echo e = { .id = 42, .at_ms = 1000,
				  .window_ms = WINDOW_MS };

	/* sent right after the stamp came, read 12 s later */
	cr_expect_eq(gfs_isr_life_until(42, &e, 1000 + 12000), 0);
	/* read after 9 s: counts, but only until the same time */
	cr_expect_eq(gfs_isr_life_until(42, &e, 1000 + 9000),
		     gfs_isr_life_until(42, &e, 1000));
}

Test(isr, an_echo_of_another_primary_is_no_sign_of_life)
{
	struct gfs_isr_echo e = { .id = 43, .at_ms = 1000,
				  .window_ms = WINDOW_MS };

	cr_expect_eq(gfs_isr_life_until(42, &e, 1000), 0, "another id");
	e.id = 0;
	cr_expect_eq(gfs_isr_life_until(42, &e, 1000), 0, "no echo");
	e.id = 42;
	cr_expect_eq(gfs_isr_life_until(42, &e, 999), 0, "from our future");
	e.window_ms = 0;
	cr_expect_eq(gfs_isr_life_until(42, &e, 1000), 0, "no window");
	e.window_ms = INT64_MAX;
	cr_expect_eq(gfs_isr_life_until(42, &e, 1000), 0, "overflow");
}

/* The inequality (isr.h, docs/MASTER.md): the follower got the stamp d
 * ms after it was made (d >= 0: it arrives after it is made), counts
 * contact from then and takes over after WINDOW of its own clock, which
 * runs at a rate within 1 % of ours; the leader acknowledges only before
 * gfs_isr_life_until().  Nowhere may both happen at once. */
Test(isr, no_instant_where_leader_acknowledges_and_follower_took_over)
{
	static const int64_t windows[] = { 1500, 3000, 10000, 60000 };
	static const double rates[] = { 0.99, 0.995, 1.0, 1.005, 1.01 };
	struct gfs_isr_echo e = { .id = 7, .at_ms = 5000 };
	int64_t until, d;
	double takeover;

	for (size_t w = 0; w < sizeof(windows) / sizeof(*windows); w++) {
		e.window_ms = windows[w];
		until = gfs_isr_life_until(7, &e, e.at_ms);
		for (size_t r = 0; r < sizeof(rates) / sizeof(*rates); r++)
			for (d = 0; d <= 20000; d += 250) {
				/* our time when its clock has run WINDOW
				 * since the arrival */
				takeover = (double)(e.at_ms + d) +
					   (double)e.window_ms / rates[r];
				cr_expect_leq((double)until, takeover,
					      "window %lld, rate %.3f, delay "
					      "%lld", (long long)e.window_ms,
					      rates[r], (long long)d);
			}
	}
}

Test(isr, stamps_and_echoes_parse_back)
{
	struct gfs_isr_echo e;

	cr_expect(gfs_isr_parse_echo("000000000000002a-1234", &e));
	cr_expect(e.id == 42 && e.at_ms == 1234 && e.window_ms == 0);
	cr_expect(gfs_isr_parse_echo("000000000000002a-1234 10000", &e));
	cr_expect_eq(e.window_ms, 10000);
	cr_expect_not(gfs_isr_parse_echo("2a-1234 10000 x", &e));
	cr_expect_eq(e.id, 0, "a bad echo leaves no id");
	cr_expect_not(gfs_isr_parse_echo("0-1234", &e), "id 0");
	cr_expect_not(gfs_isr_parse_echo("2a--5", &e));
	cr_expect_not(gfs_isr_parse_echo("2a-5 -1", &e));
	cr_expect_not(gfs_isr_parse_echo("", &e));
}

/* Through gfs_isr_serve(): only a poll echoing a recent stamp of ours
 * keeps a member alive, lets us acknowledge and attaches it. */
Test(isr, a_poll_echoing_no_recent_stamp_of_ours_is_no_sign_of_life)
{
	char *members[] = { "http://b" };
	struct gfs_isr_echo old, other;
	uint64_t seq;
	int64_t t0;
	bool attached;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	cr_expect_not(gfs_isr_writable(&isr), "a member not heard yet");
	seq = record();
	/* its first poll (no stamp to echo): answered at once, although
	 * at the log's end it would wait; no life, not attached */
	t0 = gfs_mono_ms();
	cr_assert_eq(poll_with("http://b", seq + 1, &(struct gfs_isr_echo){ 0 },
			       2000, &attached), GFS_OK);
	cr_expect_lt(gfs_mono_ms() - t0, 1000, "it waited for a record");
	cr_expect_not(attached);
	cr_expect_not(gfs_isr_writable(&isr));
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL);
	/* delayed in the network: it echoes a stamp of ours 20 s old */
	old = *echo_of("http://b");
	old.at_ms -= 20000;
	old.window_ms = WINDOW_MS;
	cr_assert_eq(poll_with("http://b", seq + 1, &old, 0, &attached),
		     GFS_OK);
	cr_expect_not(attached, "attached by a delayed poll");
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL,
		     "acknowledged on a delayed poll");
	/* a fresh stamp, but of another primary */
	other = *echo_of("http://b");
	other.id ^= 1;
	other.window_ms = WINDOW_MS;
	cr_assert_eq(poll_with("http://b", seq + 1, &other, 0, &attached),
		     GFS_OK);
	cr_expect_not(attached, "attached on another primary's stamp");
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL);
	/* the stamp of our last reply: alive, attached, acknowledged */
	cr_expect(poll("http://b", seq + 1));
	cr_expect(gfs_isr_writable(&isr));
	cr_expect_eq(wait_ms(seq, true, 50), GFS_OK);
}

/* A stamp counts only for its follower's window: a member whose polls
 * go on arriving (within detach_ms, 300 here) but all echo one stamp
 * (their replies are held up) is silent once that stamp ran out. */
Test(isr, a_member_is_silent_when_its_echo_runs_out)
{
	char *members[] = { "http://b" };
	struct gfs_isr_echo e = { 0 };
	bool attached;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	poll_with("http://b", 1, &e, 0, &attached); /* gets a stamp */
	e = *echo_of("http://b");
	e.window_ms = 250; /* life: 250 - 2 - 100 ms after the stamp */
	cr_assert_eq(poll_with("http://b", 1, &e, 0, &attached), GFS_OK);
	cr_expect(attached);
	cr_expect(gfs_isr_writable(&isr));
	usleep(200 * 1000);
	cr_assert_eq(poll_with("http://b", 1, &e, 0, &attached), GFS_OK);
	cr_expect_not(gfs_isr_writable(&isr), "alive past the stamp's life");
	cr_expect_not(attached);
}

/* The read window of a follower told attached (isr.h, docs/MASTER.md
 * "The read window"), on fake clocks: it counts from the poll's
 * sending, so an answer held up on its way leaves a shorter window, or
 * none; the rule before (from the answer's arrival) gave every answer
 * a whole --backup-detach. */
Test(isr, a_delayed_answer_gives_a_shorter_read_window_or_none)
{
	const int64_t d = 1500, sent = 100000;
	int64_t until = gfs_isr_read_until(sent, d), arrived;

	cr_expect_eq(until, sent + d - d / 100 - 100);
	/* prompt: nearly the whole window */
	arrived = sent + 5;
	cr_expect_eq(until - arrived, 1380);
	/* held up 1 s: what is left of it */
	arrived = sent + 1000;
	cr_expect_eq(until - arrived, 385);
	cr_expect_lt(until - arrived, d, "as long as before");
	/* held up past it: no reads at all */
	arrived = sent + 3000;
	cr_expect_leq(until, arrived, "reads on a 3 s old answer");
	/* a window shorter than the margin gives none */
	cr_expect_leq(gfs_isr_read_until(sent, 100), sent);
}

/* The inequality: the leader acknowledges without the follower only
 * after detach_ms of its own clock (rate within 1 % of the follower's)
 * from the answer that told it attached, which it made at or after the
 * poll's sending; the follower's reads end before, for any delay. */
Test(isr, no_instant_where_a_dropped_follower_still_reads)
{
	static const int64_t windows[] = { 300, 1500, 2000, 10000 };
	static const double rates[] = { 0.99, 0.995, 1.0, 1.005, 1.01 };
	const int64_t sent = 5000;
	int64_t until, made;
	double drop;

	for (size_t w = 0; w < sizeof(windows) / sizeof(*windows); w++) {
		until = gfs_isr_read_until(sent, windows[w]);
		for (size_t r = 0; r < sizeof(rates) / sizeof(*rates); r++)
			for (made = sent; made <= sent + 20000; made += 250) {
				/* our time when its clock ran detach_ms
				 * since it made the answer */
				drop = (double)made +
				       (double)windows[w] / rates[r];
				cr_expect_lt((double)until, drop,
					     "window %lld, rate %.3f, answer "
					     "made %lld ms after the poll",
					     (long long)windows[w], rates[r],
					     (long long)(made - sent));
			}
	}
}

/* A follower told attached that leaves the set (gfs detach; etcd mode
 * drops only silent ones) may answer reads for detach_ms (300 here)
 * more: nothing is acknowledged without it until then. */
Test(isr, no_acknowledgement_without_a_follower_that_may_still_read)
{
	char *members[] = { "http://b" };
	uint64_t seq;
	int64_t t0;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	seq = record();
	cr_assert(poll("http://b", seq + 1), "told attached");
	t0 = gfs_mono_ms();
	gfs_isr_set_member(&isr, "http://b", false);
	seq = record();
	cr_expect_eq(wait_ms(seq, true, 100), GFS_EUNAVAIL,
		     "acknowledged while the follower may read");
	cr_expect_eq(wait_ms(seq, false, 50), GFS_OK, "a read waits not");
	cr_expect_eq(wait_ms(seq, true, 2000), GFS_OK);
	cr_expect_geq(gfs_mono_ms() - t0, 300, "before its window ended");
	/* one never told attached leaves at once */
	gfs_isr_set_member(&isr, "http://c", true);
	gfs_isr_set_member(&isr, "http://c", false);
	seq = record();
	cr_expect_eq(wait_ms(seq, true, 50), GFS_OK);
}

Test(isr, a_silent_member_blocks_writes_and_stays_silent)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	char *members[] = { "http://b" };

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	poll("http://b", 1);
	cr_expect(gfs_isr_writable(&isr), "a member that polls is alive");
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

/* One live poll of url for from, parked up to wait ms; the reply. */
static struct gfs_isr_poll live_poll(const char *url, uint64_t from,
				     int64_t wait)
{
	struct gfs_isr_poll q = { .url = url, .from = from, .wait_ms = wait };
	struct gfs_enc out = { 0 };

	poll(url, from); /* a stamp of ours to echo */
	q.echo = *echo_of(url);
	q.echo.window_ms = WINDOW_MS;
	cr_assert_eq(gfs_isr_serve(&isr, log_, &q, 1 << 20, &out), GFS_OK);
	gfs_enc_free(&out);
	return q;
}

/* The read window an answer gives (X-GFS-Read-Ms): detach_ms (300 here),
 * less when acknowledgements end sooner (etcd: a new leader may act once
 * our lease is gone), none when they ended; none when not attached. */
Test(isr, an_attached_answer_says_how_long_its_follower_may_read)
{
	char *members[] = { "http://b" };
	struct gfs_isr_poll q;
	uint64_t seq;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	seq = record();
	q = live_poll("http://b", seq + 1, 0);
	cr_expect(q.attached);
	cr_expect_eq(q.read_ms, 300);
	gfs_isr_set_ack_until(&isr, gfs_mono_ms() + 120);
	q = live_poll("http://b", seq + 1, 0);
	cr_expect(q.attached);
	cr_expect(q.read_ms > 0 && q.read_ms <= 120,
		  "a window past the lease: %lld ms", (long long)q.read_ms);
	gfs_isr_set_ack_until(&isr, gfs_mono_ms() - 1);
	q = live_poll("http://b", seq + 1, 0);
	cr_expect_eq(q.read_ms, 0, "a window after the lease ended");
	gfs_isr_set_ack_until(&isr, INT64_MAX);
	cr_assert_eq(wait_ms(seq, true, 50), GFS_OK);
	q = live_poll("http://b", seq, 0); /* lacks an acknowledged one */
	cr_expect_not(q.attached);
	cr_expect_eq(q.read_ms, 0, "a window for one not attached");
}

/* A follower's poll is parked at most a third of the read window, so
 * that the next answer comes before the window (counted from the
 * sending of the poll before) ends: an idle follower reads all along.
 * Parked 1 s (what it asks), it would have none for most of each
 * second. */
Test(isr, a_poll_is_parked_a_third_of_the_read_window_at_most)
{
	char *members[] = { "http://b" };
	struct gfs_isr_poll q;
	uint64_t seq;
	int64_t t0, took;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	seq = record();
	t0 = gfs_mono_ms();
	q = live_poll("http://b", seq + 1, 1000);
	took = gfs_mono_ms() - t0;
	cr_expect(q.attached);
	cr_expect(took >= 90 && took < 250, "parked %lld ms, window 300",
		  (long long)took);
	cr_expect_lt(took, gfs_isr_read_until(0, q.read_ms),
		     "the answer came after the window it renews");
}

/* The echo of url's follower: the last stamp it got, its window. */
static struct gfs_isr_echo *live_echo(const char *url)
{
	static struct gfs_isr_echo e;

	e = *echo_of(url);
	e.window_ms = WINDOW_MS;
	return &e;
}

/* One acknowledgement on an op-log stream of url for `from` echoing e;
 * url's follower keeps the answer's stamp. */
static enum gfs_err ack_with(const char *url, uint64_t from,
			     const uint32_t *crc, const struct gfs_isr_echo *e,
			     struct gfs_isr_poll *q, int64_t *next_ms)
{
	enum gfs_err err;

	*q = (struct gfs_isr_poll){ .url = url, .from = from, .echo = *e,
				    .prev_crc = crc, .wait_ms = 1000 };
	err = gfs_isr_ack(&isr, log_, q, next_ms);
	if (!err)
		cr_assert(gfs_isr_parse_echo(q->stamp, echo_of(url)));
	return err;
}

Test(isr, an_acknowledgement_is_a_poll_that_waits_for_nothing)
{
	char *members[] = { "http://b" };
	struct gfs_isr_poll q;
	int64_t next, t0;
	uint64_t seq;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	seq = record();
	/* the first echoes no stamp of ours: no sign of life, answered
	 * with "again at once" so that the next one is */
	cr_assert_eq(ack_with("http://b", seq + 1, NULL,
			      &(struct gfs_isr_echo){ 0 }, &q, &next), GFS_OK);
	cr_expect_eq(next, 0);
	cr_expect_not(q.attached, "no sign of life yet");
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL, "b is silent");
	t0 = gfs_mono_ms();
	cr_assert_eq(ack_with("http://b", seq + 1, NULL, live_echo("http://b"),
			      &q, &next), GFS_OK);
	cr_expect_lt(gfs_mono_ms() - t0, 50, "it waited for a record");
	cr_expect(q.attached);
	cr_expect_gt(q.read_ms, 0);
	/* due again as a poll would be parked: a third of the window */
	cr_expect_gt(next, 0);
	cr_expect_leq(next, 300 / 3);
	cr_expect_eq(wait_ms(seq, true, 50), GFS_OK);
	/* one for less (a re-sync) ends the attachment, as a poll does */
	cr_assert_eq(ack_with("http://b", 1, NULL, live_echo("http://b"), &q,
			      &next), GFS_OK);
	cr_expect_not(q.attached);
}

Test(isr, an_acknowledgement_is_refused_as_a_poll_is)
{
	struct gfs_isr_view v[GFS_ISR_PEERS];
	char *members[] = { "http://b" };
	struct gfs_isr_poll q;
	uint32_t crc, bad;
	uint64_t seq;
	int64_t next;

	gfs_isr_lead(&isr, members, 1, 1, INT64_MAX);
	seq = record();
	cr_assert(poll("http://b", seq + 1));
	cr_assert(gfs_oplog_record_crc(log_, seq, &crc));
	bad = crc ^ 1;
	/* another history at b's URL: refused, and what it said is gone */
	cr_expect_eq(ack_with("http://b", seq + 1, &bad, live_echo("http://b"),
			      &q, &next), GFS_ENOENT);
	cr_assert_eq(gfs_isr_view(&isr, v, GFS_ISR_PEERS), 1);
	cr_expect_eq(v[0].acked, 0);
	cr_expect_not(v[0].attached);
	cr_expect_eq(wait_ms(seq, true, 50), GFS_EUNAVAIL);
	/* the right checksum: taken */
	cr_expect_eq(ack_with("http://b", seq + 1, &crc, live_echo("http://b"),
			      &q, &next), GFS_OK);
	cr_expect(q.attached);
	/* fenced: the stream ends */
	gfs_isr_fence(&isr);
	cr_expect_eq(ack_with("http://b", seq + 1, &crc, live_echo("http://b"),
			      &q, &next), GFS_ENOTPRIMARY);
}

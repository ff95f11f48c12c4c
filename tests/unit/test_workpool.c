/*
 * Unit tests for common/workpool.c: threads grow with the jobs that wait,
 * shrink when idle, and a drained pool runs what it is given in place.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "util.h"
#include "workpool.h"

/* A job that blocks until released, as a handler waiting on a peer. */
struct blocker {
	struct gfs_job job;
	atomic_int *running;
	atomic_int *release;
	pthread_t ran_on;
};

static void block_run(struct gfs_job *job)
{
	struct blocker *b = (struct blocker *)job;

	b->ran_on = pthread_self();
	atomic_fetch_add(b->running, 1);
	while (!atomic_load(b->release))
		usleep(1000);
	atomic_fetch_sub(b->running, 1);
}

static bool wait_until(atomic_int *v, int want, int ms)
{
	int64_t end = gfs_mono_ms() + ms;

	while (atomic_load(v) != want && gfs_mono_ms() < end)
		usleep(1000);
	return atomic_load(v) == want;
}

Test(workpool, every_waiting_job_gets_a_thread_and_idle_ones_exit)
{
	struct gfs_workpool *p = gfs_workpool_new(64, 2, 200);
	static struct blocker b[40];
	atomic_int running = 0, release = 0;
	int i;

	for (i = 0; i < 40; i++) {
		b[i].job.run = block_run;
		b[i].running = &running;
		b[i].release = &release;
		cr_assert(gfs_workpool_reserve(p));
		gfs_workpool_submit(p, &b[i].job);
	}
	/* all 40 block at once: none waits for another to finish */
	cr_expect(wait_until(&running, 40, 5000), "%d running",
		  atomic_load(&running));
	cr_expect_eq(gfs_workpool_threads(p), 40);
	atomic_store(&release, 1);
	cr_expect(wait_until(&running, 0, 5000));
	for (i = 0; i < 500 && gfs_workpool_threads(p) > 2; i++)
		usleep(10 * 1000); /* idle for 200 ms, they go */
	cr_expect_eq(gfs_workpool_threads(p), 2, "idle threads stayed");
	gfs_workpool_free(p);
}

Test(workpool, a_drained_pool_runs_jobs_in_place)
{
	struct gfs_workpool *p = gfs_workpool_new(4, 0, 200);
	atomic_int running = 0, release = 1;
	struct blocker b = { .job.run = block_run, .running = &running,
			     .release = &release };

	gfs_workpool_drain(p);
	cr_expect_not(gfs_workpool_reserve(p));
	gfs_workpool_run(p, &b.job);
	cr_expect(pthread_equal(b.ran_on, pthread_self()));
	gfs_workpool_free(p);
}

/* Tests of common/metrics.c: histogram buckets and the text format. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* The text of a histogram h named "t_seconds" with labels. */
static char *histo_text(const struct gfs_histo *h, const char *labels)
{
	struct gfs_metrics_text t;
	size_t len;
	char *s;

	cr_assert_not_null(gfs_metrics_open(&t));
	gfs_metric_head(t.f, "t_seconds", "histogram", "test");
	gfs_metric_histo(t.f, "t_seconds", labels, h);
	s = gfs_metrics_take(&t, &len);
	cr_assert_not_null(s);
	cr_assert_eq(strlen(s), len);
	return s;
}

Test(metrics, histogram_buckets_are_cumulative)
{
	struct gfs_histo h = { 0 };
	char *s;

	gfs_histo_observe(&h, 50);       /* <= 100 us */
	gfs_histo_observe(&h, 100);      /* on the bound: same bucket */
	gfs_histo_observe(&h, 3000);     /* <= 5 ms */
	gfs_histo_observe(&h, 60000000); /* past 10 s: +Inf only */
	s = histo_text(&h, "");
	cr_expect_not_null(strstr(s, "# HELP t_seconds test\n"
				     "# TYPE t_seconds histogram\n"), "%s", s);
	cr_expect_not_null(strstr(s, "t_seconds_bucket{le=\"0.0001\"} 2\n"),
			   "%s", s);
	cr_expect_not_null(strstr(s, "t_seconds_bucket{le=\"0.0025\"} 2\n"),
			   "%s", s);
	cr_expect_not_null(strstr(s, "t_seconds_bucket{le=\"0.005\"} 3\n"),
			   "%s", s);
	cr_expect_not_null(strstr(s, "t_seconds_bucket{le=\"10\"} 3\n"), "%s",
			   s);
	cr_expect_not_null(strstr(s, "t_seconds_bucket{le=\"+Inf\"} 4\n"),
			   "%s", s);
	cr_expect_not_null(strstr(s, "t_seconds_sum 60.003150\n"), "%s", s);
	cr_expect_not_null(strstr(s, "t_seconds_count 4\n"), "%s", s);
	free(s);
}

Test(metrics, labels_come_before_le)
{
	struct gfs_histo h = { 0 };
	char *s;

	gfs_histo_observe(&h, 1);
	s = histo_text(&h, "route=\"/a\"");
	cr_expect_not_null(strstr(s, "t_seconds_bucket{route=\"/a\",le=\"+Inf\"} 1\n"),
			   "%s", s);
	cr_expect_not_null(strstr(s, "t_seconds_count{route=\"/a\"} 1\n"),
			   "%s", s);
	free(s);
}

Test(metrics, a_sample_has_help_and_type)
{
	struct gfs_metrics_text t;
	size_t len;
	char *s;

	gfs_metric_u64(gfs_metrics_open(&t), "t_total", "counter", "things",
		       42);
	s = gfs_metrics_take(&t, &len);
	cr_expect_str_eq(s, "# HELP t_total things\n# TYPE t_total counter\n"
			    "t_total 42\n");
	free(s);
}

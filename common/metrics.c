/*
 * metrics.c - Prometheus histograms and text (see metrics.h).
 *
 * For: the bucket scheme and the exposition format.  Not for: which
 * families a server has.
 *
 * Invariants: bounds[] is sorted; a histogram's buckets are written
 * cumulative, ending with le="+Inf" equal to _count.
 */
#include <stdlib.h>

#include "metrics.h"

/* Upper bounds of the finite buckets, in microseconds. */
static const uint64_t bounds[GFS_HISTO_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

void gfs_histo_observe(struct gfs_histo *h, uint64_t us)
{
	unsigned i = 0;

	while (i < GFS_HISTO_BUCKETS && us > bounds[i])
		i++;
	atomic_fetch_add_explicit(&h->n[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void gfs_metric_head(FILE *out, const char *name, const char *type,
		     const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void gfs_metric_u64(FILE *out, const char *name, const char *type,
		    const char *help, uint64_t value)
{
	gfs_metric_head(out, name, type, help);
	fprintf(out, "%s %llu\n", name, (unsigned long long)value);
}

void gfs_metric_histo(FILE *out, const char *name, const char *labels,
		      const struct gfs_histo *h)
{
	const char *sep = *labels ? "," : "";
	unsigned long n, total = 0;
	unsigned i;

	for (i = 0; i < GFS_HISTO_BUCKETS; i++) {
		n = atomic_load_explicit(&h->n[i], memory_order_relaxed);
		total += n;
		fprintf(out, "%s_bucket{%s%sle=\"%g\"} %lu\n", name, labels,
			sep, (double)bounds[i] / 1e6, total);
	}
	total += atomic_load_explicit(&h->n[i], memory_order_relaxed);
	fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels, sep,
		total);
	fprintf(out, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels,
		*labels ? "}" : "",
		(double)atomic_load_explicit(&h->sum_us,
					     memory_order_relaxed) / 1e6);
	fprintf(out, "%s_count%s%s%s %lu\n", name, *labels ? "{" : "", labels,
		*labels ? "}" : "", total);
}

FILE *gfs_metrics_open(struct gfs_metrics_text *t)
{
	t->buf = NULL;
	t->len = 0;
	t->f = open_memstream(&t->buf, &t->len);
	return t->f;
}

char *gfs_metrics_take(struct gfs_metrics_text *t, size_t *len)
{
	char *s;

	if (!t->f || fclose(t->f)) {
		free(t->buf);
		t->buf = NULL;
		*len = 0;
		return NULL;
	}
	s = t->buf;
	*len = t->len;
	t->buf = NULL;
	t->f = NULL;
	return s;
}

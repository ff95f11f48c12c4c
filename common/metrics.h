/*
 * metrics.h - Prometheus text exposition: latency histograms kept with
 * atomic counters, and the writer of families with HELP and TYPE.
 *
 * For: every server's /metrics.  Not for: deciding what is measured (each
 * server's routes file lists its families).
 *
 * Invariants: a struct gfs_histo is updated with relaxed atomic adds only
 * (no lock, no allocation: safe on any hot path, from any thread); a
 * scrape reads each counter once, so a scrape that races an observation
 * may see the count and the sum of different moments, as Prometheus
 * clients allow.  Every family written here has a "# HELP" and a
 * "# TYPE" line before its samples (promtool check metrics).
 *
 * Locking: none.
 */
#ifndef GFS_METRICS_H
#define GFS_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* Finite buckets of every histogram, in seconds: 100 us to 10 s. */
#define GFS_HISTO_BUCKETS 16

/* A latency histogram: counts per bucket (not cumulative; the last one is
 * +Inf) and the summed microseconds.  Zeroed memory is an empty one. */
struct gfs_histo {
	atomic_ulong n[GFS_HISTO_BUCKETS + 1];
	atomic_ulong sum_us;
};

/* Count one observation of us microseconds: a scan of 16 bounds and two
 * relaxed atomic adds. */
void gfs_histo_observe(struct gfs_histo *h, uint64_t us);

/* "# HELP name help" and "# TYPE name type" (type: counter, gauge,
 * histogram). */
void gfs_metric_head(FILE *out, const char *name, const char *type,
		     const char *help);
/* A family of one unlabelled sample: its head, then "name value". */
void gfs_metric_u64(FILE *out, const char *name, const char *type,
		    const char *help, uint64_t value);
/* The samples of one histogram (_bucket with le, _sum in seconds,
 * _count) under name, with labels ("" or `route="x"`, no braces) put
 * before le.  The head is the caller's, once per family. */
void gfs_metric_histo(FILE *out, const char *name, const char *labels,
		      const struct gfs_histo *h);

/*
 * Text being built for a reply: gfs_metrics_open() gives a stream
 * (open_memstream(3)) that grows as it is written; gfs_metrics_take()
 * closes it and hands over the text (caller frees with free(3)), NULL
 * when memory ran out.
 */
struct gfs_metrics_text {
	FILE *f;     /* NULL when it could not be opened */
	char *buf;   /* the stream's buffer, owned */
	size_t len;
};
FILE *gfs_metrics_open(struct gfs_metrics_text *t);
char *gfs_metrics_take(struct gfs_metrics_text *t, size_t *len);

#endif

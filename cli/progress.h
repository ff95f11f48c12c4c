/*
 * progress.h - a progress bar for gfs upload and download, on stderr.
 */
#ifndef GFS_CLI_PROGRESS_H
#define GFS_CLI_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"

/* A bar being drawn (or not: see gfs_progress_start). */
struct gfs_cli_progress {
	struct gfs_progress count;  /* the transfer adds to it */
	const char *what;           /* "upload /a", borrowed */
	int64_t start_ms;           /* monotonic */
	pthread_t thread;           /* draws every DRAW_MS */
	pthread_mutex_t lock;       /* over stop, with wake */
	pthread_cond_t wake;
	bool stop;                  /* (lock) */
	bool on;                    /* the thread runs */
};

/* Start drawing "what" on stderr when show is set and stderr is a
 * terminal; otherwise p only counts.  total: the size when known, else
 * 0 (a download learns it). */
void gfs_progress_start(struct gfs_cli_progress *p, const char *what,
			uint64_t total, bool show);
/* Stop drawing and clear the line (the caller prints the outcome). */
void gfs_progress_stop(struct gfs_cli_progress *p);
/* The bar's text for done of total bytes after ms milliseconds, into buf
 * ("12.0 MiB / 100.0 MiB  12%  34.5 MiB/s  ETA 0:03"); exposed for the
 * tests. */
void gfs_progress_format(char *buf, size_t len, uint64_t done,
			 uint64_t total, int64_t ms);

#endif

/*
 * cli.h - what the modules of gfs (the command line) share: exit
 * statuses, the failure message, and the commands that print a lot.
 */
#ifndef GFS_CLI_H
#define GFS_CLI_H

#include <stdbool.h>

#include <jansson.h>

#include "client.h"
#include "err.h"

/* Exit statuses, one per kind of failure (gfs(1), EXIT STATUS). */
enum gfs_cli_exit {
	GFS_EXIT_OK = 0,
	GFS_EXIT_FAILED = 1,   /* anything else (a bug, a refused request) */
	GFS_EXIT_USAGE = 2,    /* bad option, command, argument or path */
	GFS_EXIT_NOTFOUND = 3, /* no such file (remote or local) */
	GFS_EXIT_EXISTS = 4,   /* exists, is or is not a directory, not
				* empty: the namespace is in the way */
	GFS_EXIT_LEASED = 5,   /* another client holds a lease */
	GFS_EXIT_UNAVAIL = 6,  /* no master or primary reachable, not enough
				* chunkservers, timed out: try later */
	GFS_EXIT_IO = 7,       /* a local file, a disk or a chunkserver
				* failed, or data was corrupt */
};

/* The exit status for err. */
int gfs_cli_exit_code(enum gfs_err err);
/* Report a failed operation on stderr, "gfs: VERB WHAT: message" (the
 * message the master or library gave, else err's), and return its exit
 * status. */
int gfs_cli_failed(const char *verb, const char *what, enum gfs_err err);
/* Report a failed local operation ("gfs: VERB WHAT: strerror"), and
 * return its exit status (GFS_EXIT_NOTFOUND for ENOENT, else IO). */
int gfs_cli_failed_local(const char *verb, const char *what, int errnum);

/* gfs stat: entry (GET ?stat=1) as stat(1) shows a file, then the
 * chunks of info (the whole entry, or NULL with why). */
void gfs_cli_print_stat(json_t *entry, json_t *info, const char *why);
/* gfs status: every master (those the client was given, and those
 * their status names), then the cluster as the primary sees it; JSON
 * with as_json.  Returns an exit status. */
int gfs_cli_status(struct gfs_client *c, bool as_json);

#endif

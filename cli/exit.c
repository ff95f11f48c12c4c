/*
 * exit.c - exit statuses and failure messages of gfs.
 *
 * For: telling failures apart to a script (the status) and a person (one
 * line on stderr).  Not for: deciding what failed.
 *
 * Invariants: the switch names every enum gfs_err and has no default, so
 * a new error does not build until it has a status.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int gfs_cli_exit_code(enum gfs_err err)
{
	switch (err) {
	case GFS_OK:
		return GFS_EXIT_OK;
	case GFS_EINVAL:
	case GFS_ENAMETOOLONG:
	case GFS_EILSEQ:
		return GFS_EXIT_USAGE;
	case GFS_ENOENT:
	case GFS_ENODATA:     /* no such extended attribute */
	case GFS_EOTHER:      /* the path names another file now */
		return GFS_EXIT_NOTFOUND;
	case GFS_EEXIST:
	case GFS_EISDIR:
	case GFS_ENOTDIR:
	case GFS_ENOTEMPTY:
		return GFS_EXIT_EXISTS;
	case GFS_ELEASED:
		return GFS_EXIT_LEASED;
	case GFS_ENOTPRIMARY:
	case GFS_EUNAVAIL:
	case GFS_ENOSPC:
	case GFS_ETIMEDOUT:
		return GFS_EXIT_UNAVAIL;
	case GFS_EIO:
	case GFS_ECORRUPT:
	case GFS_EDISKFULL:
	case GFS_ESTALE:
		return GFS_EXIT_IO;
	case GFS_ENOROUTE:
	case GFS_EMETHOD:
	case GFS_ETOOBIG:
	case GFS_ERANGE:
	case GFS_EINTERNAL:
	case GFS_EUNAUTH:     /* no key, a wrong one: a refused request */
	case GFS_EFORBIDDEN:
	case GFS_ETOKEN:
		return GFS_EXIT_FAILED;
	}
	return GFS_EXIT_FAILED;
}

int gfs_cli_failed(const char *verb, const char *what, enum gfs_err err)
{
	const char *msg = gfs_client_last_error();

	if (!*msg)
		msg = gfs_err_str(err);
	fprintf(stderr, "gfs: %s%s%s: %s\n", verb, *what ? " " : "", what,
		msg);
	return gfs_cli_exit_code(err);
}

int gfs_cli_failed_local(const char *verb, const char *what, int errnum)
{
	fprintf(stderr, "gfs: %s %s: %s\n", verb, what, strerror(errnum));
	return errnum == ENOENT ? GFS_EXIT_NOTFOUND : GFS_EXIT_IO;
}

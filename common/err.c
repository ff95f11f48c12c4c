/*
 * err.c - map enum gfs_err to HTTP status, JSON code, errno and message.
 *
 * The switches have no default on purpose: adding an error without mapping
 * it everywhere fails the build.
 */
#include <errno.h>
#include <string.h>

#include "err.h"

unsigned gfs_err_http(enum gfs_err err)
{
	switch (err) {
	case GFS_OK: return 200;
	case GFS_EINVAL: return 400;
	case GFS_ENAMETOOLONG: return 400;
	case GFS_EILSEQ: return 400;
	case GFS_ENOENT: return 404;
	case GFS_ENOROUTE: return 404;
	case GFS_EMETHOD: return 405;
	case GFS_EEXIST: return 409;
	case GFS_EISDIR: return 409;
	case GFS_ENOTDIR: return 409;
	case GFS_ENOTEMPTY: return 409;
	case GFS_ESTALE: return 409;
	case GFS_EUNAUTH: return 401;
	case GFS_EFORBIDDEN: return 403;
	case GFS_ETOKEN: return 403;
	case GFS_ETOOBIG: return 413;
	case GFS_ERANGE: return 416;
	case GFS_ENOTPRIMARY: return 421;
	case GFS_ELEASED: return 423;
	case GFS_EINTERNAL: return 500;
	case GFS_EIO: return 502;
	case GFS_EUNAVAIL: return 503;
	case GFS_ENOSPC: return 503;
	case GFS_ECORRUPT: return 503;
	case GFS_ETIMEDOUT: return 504;
	case GFS_EDISKFULL: return 507;
	case GFS_ENODATA: return 404;
	case GFS_EOTHER: return 409;
	}
	return 500;
}

const char *gfs_err_code(enum gfs_err err)
{
	switch (err) {
	case GFS_OK: return "ok";
	case GFS_EINVAL: return "bad_request";
	case GFS_ENAMETOOLONG: return "name_too_long";
	case GFS_EILSEQ: return "bad_request";
	case GFS_ENOENT: return "not_found";
	case GFS_ENOROUTE: return "no_route";
	case GFS_EMETHOD: return "method_not_allowed";
	case GFS_EEXIST: return "exists";
	case GFS_EISDIR: return "is_directory";
	case GFS_ENOTDIR: return "not_directory";
	case GFS_ENOTEMPTY: return "not_empty";
	case GFS_ESTALE: return "stale_version";
	case GFS_EUNAUTH: return "unauthorized";
	case GFS_EFORBIDDEN: return "forbidden";
	case GFS_ETOKEN: return "bad_token";
	case GFS_ETOOBIG: return "too_large";
	case GFS_ERANGE: return "bad_range";
	case GFS_ENOTPRIMARY: return "not_primary";
	case GFS_ELEASED: return "leased";
	case GFS_EINTERNAL: return "internal";
	case GFS_EIO: return "io_error";
	case GFS_EUNAVAIL: return "unavailable";
	case GFS_ENOSPC: return "no_space";
	case GFS_ECORRUPT: return "corrupt";
	case GFS_ETIMEDOUT: return "timeout";
	case GFS_EDISKFULL: return "disk_full";
	case GFS_ENODATA: return "no_attribute";
	case GFS_EOTHER: return "other_inode";
	}
	return "internal";
}

int gfs_err_errno(enum gfs_err err)
{
	switch (err) {
	case GFS_OK: return 0;
	case GFS_EINVAL: return EINVAL;
	case GFS_ENAMETOOLONG: return ENAMETOOLONG;
	case GFS_EILSEQ: return EILSEQ;
	case GFS_ENOENT: return ENOENT;
	case GFS_ENOROUTE: return ENOSYS;
	case GFS_EMETHOD: return ENOSYS;
	case GFS_EEXIST: return EEXIST;
	case GFS_EISDIR: return EISDIR;
	case GFS_ENOTDIR: return ENOTDIR;
	case GFS_ENOTEMPTY: return ENOTEMPTY;
	case GFS_ESTALE: return EIO;
	case GFS_EUNAUTH: return EACCES;
	case GFS_EFORBIDDEN: return EACCES;
	case GFS_ETOKEN: return EACCES;
	case GFS_ETOOBIG: return EFBIG;
	case GFS_ERANGE: return EINVAL;
	case GFS_ENOTPRIMARY: return EAGAIN;
	case GFS_ELEASED: return EBUSY;
	case GFS_EINTERNAL: return EIO;
	case GFS_EIO: return EIO;
	case GFS_EUNAVAIL: return EIO;
	case GFS_ENOSPC: return ENOSPC;
	case GFS_ECORRUPT: return EIO;
	case GFS_ETIMEDOUT: return ETIMEDOUT;
	case GFS_EDISKFULL: return ENOSPC;
	case GFS_ENODATA: return ENODATA;
	case GFS_EOTHER: return ESTALE;
	}
	return EIO;
}

const char *gfs_err_str(enum gfs_err err)
{
	switch (err) {
	case GFS_OK: return "ok";
	case GFS_EINVAL: return "bad request";
	case GFS_ENAMETOOLONG: return "name too long";
	case GFS_EILSEQ: return "not valid UTF-8";
	case GFS_ENOENT: return "no such file";
	case GFS_ENOROUTE: return "no such route";
	case GFS_EMETHOD: return "method not allowed";
	case GFS_EEXIST: return "already exists";
	case GFS_EISDIR: return "is a directory";
	case GFS_ENOTDIR: return "not a directory";
	case GFS_ENOTEMPTY: return "directory not empty";
	case GFS_ESTALE: return "stale chunk version";
	case GFS_EUNAUTH: return "not authenticated (no key, or a wrong one)";
	case GFS_EFORBIDDEN: return "not allowed with this key";
	case GFS_ETOKEN: return "chunk token refused";
	case GFS_ETOOBIG: return "too large";
	case GFS_ERANGE: return "range not satisfiable";
	case GFS_ENOTPRIMARY: return "not the primary master";
	case GFS_ELEASED: return "leased by another client";
	case GFS_EINTERNAL: return "internal error";
	case GFS_EIO: return "input/output error";
	case GFS_EUNAVAIL: return "service unavailable";
	case GFS_ENOSPC: return "not enough chunkservers with free space";
	case GFS_ECORRUPT: return "replica failed its checksum";
	case GFS_ETIMEDOUT: return "timed out";
	case GFS_EDISKFULL: return "disk full";
	case GFS_ENODATA: return "no such attribute";
	case GFS_EOTHER: return "the path names another file now";
	}
	return "internal error";
}

enum gfs_err gfs_err_from_code(const char *code, unsigned http_status)
{
	/* GFS_EILSEQ shares "bad_request" with GFS_EINVAL: a client sees
	 * it as GFS_EINVAL (it checks names itself before sending them). */
	static const enum gfs_err all[] = {
		GFS_EINVAL, GFS_ENAMETOOLONG, GFS_ENOENT, GFS_ENOROUTE,
		GFS_EMETHOD, GFS_EEXIST, GFS_EISDIR, GFS_ENOTDIR,
		GFS_ENOTEMPTY, GFS_ESTALE, GFS_EUNAUTH, GFS_EFORBIDDEN,
		GFS_ETOKEN, GFS_ETOOBIG, GFS_ERANGE,
		GFS_ENOTPRIMARY, GFS_ELEASED, GFS_EINTERNAL, GFS_EIO,
		GFS_EUNAVAIL, GFS_ENOSPC, GFS_ECORRUPT, GFS_ETIMEDOUT,
		GFS_EDISKFULL, GFS_ENODATA, GFS_EOTHER,
	};
	size_t i;

	if (http_status >= 200 && http_status < 300)
		return GFS_OK;
	if (code)
		for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			if (!strcmp(code, gfs_err_code(all[i])))
				return all[i];
	switch (http_status) {
	case 400: return GFS_EINVAL;
	case 404: return GFS_ENOENT;
	case 401: return GFS_EUNAUTH;
	case 403: return GFS_EFORBIDDEN;
	case 405: return GFS_EMETHOD;
	case 409: return GFS_EEXIST;
	case 413: return GFS_ETOOBIG;
	case 416: return GFS_ERANGE;
	case 421: return GFS_ENOTPRIMARY;
	case 423: return GFS_ELEASED;
	case 503: return GFS_EUNAVAIL;
	case 504: return GFS_ETIMEDOUT;
	case 507: return GFS_EDISKFULL;
	default: return http_status >= 500 ? GFS_EIO : GFS_EINVAL;
	}
}

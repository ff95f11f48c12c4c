/*
 * err.h - the one error type of the project.
 *
 * Every action returns an enum gfs_err.  err.c maps each value to its HTTP
 * status, its JSON "code" string, an errno for FUSE and a message for
 * people, in switches without a default so that -Wall -Werror complains
 * when a value is added and not mapped.
 */
#ifndef GFS_ERR_H
#define GFS_ERR_H

enum gfs_err {
	GFS_OK = 0,
	GFS_EINVAL,       /* 400 bad input */
	GFS_ENAMETOOLONG, /* 400 a path component or path is too long */
	GFS_EILSEQ,       /* 400 a name or id is not valid UTF-8 (JSON code
			   * "bad_request", errno EILSEQ) */
	GFS_ENOENT,       /* 404 no such file, chunk or lease */
	GFS_ENOROUTE,     /* 404 no such route */
	GFS_EMETHOD,      /* 405 method not allowed on this route */
	GFS_EEXIST,       /* 409 already exists */
	GFS_EISDIR,       /* 409 is a directory */
	GFS_ENOTDIR,      /* 409 a path component is a file */
	GFS_ENOTEMPTY,    /* 409 directory not empty */
	GFS_ESTALE,       /* 409 wrong chunk version */
	GFS_EUNAUTH,      /* 401 no credentials, or wrong ones */
	GFS_EFORBIDDEN,   /* 403 the credentials do not allow this */
	GFS_ETOKEN,       /* 403 a chunk token that does not allow this
			   * request (expired, another chunk, version or
			   * operation, bad signature): ask for a new one */
	GFS_ETOOBIG,      /* 413 body or value too large */
	GFS_ERANGE,       /* 416 range not satisfiable */
	GFS_ENOTPRIMARY,  /* 421 not the primary master */
	GFS_ELEASED,      /* 423 locked by another client's lease */
	GFS_EINTERNAL,    /* 500 a bug */
	GFS_EIO,          /* 502 a peer failed or sent garbage */
	GFS_EUNAVAIL,     /* 503 no primary reachable, or starting up */
	GFS_ENOSPC,       /* 503 not enough live chunkservers with room */
	GFS_ECORRUPT,     /* 503 replica failed its checksum */
	GFS_ETIMEDOUT,    /* 504 a peer did not answer in time */
	GFS_EDISKFULL,    /* 507 this chunkserver's disk is full */
	GFS_ENODATA,      /* 404 no such extended attribute (JSON code
			   * "no_attribute", errno ENODATA) */
	GFS_EOTHER,       /* 409 the path names another inode than the
			   * caller's open file now (JSON code
			   * "other_inode", errno ESTALE) *(ext)* */
};

/* HTTP status code for err (200 for GFS_OK). */
unsigned gfs_err_http(enum gfs_err err);
/* Stable machine-readable name, used as the JSON "code" ("not_found"). */
const char *gfs_err_code(enum gfs_err err);
/* Positive errno value for FUSE (0 for GFS_OK). */
int gfs_err_errno(enum gfs_err err);
/* One-line human message ("no such file"). */
const char *gfs_err_str(enum gfs_err err);
/* Inverse of gfs_err_code(); NULL or unknown codes map by HTTP status. */
enum gfs_err gfs_err_from_code(const char *code, unsigned http_status);

#endif

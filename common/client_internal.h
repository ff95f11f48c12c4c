/*
 * client_internal.h - what client.c (master calls) and file.c (file I/O)
 * share.  Not for use outside the client library.
 */
#ifndef GFS_CLIENT_INTERNAL_H
#define GFS_CLIENT_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "http.h"
#include "token.h"
#include "window.h"

/* State shared by a client and its gfs_client_as() views. */
struct gfs_client_shared {
	char **masters;          /* configured master URLs, owned */
	size_t nmasters;
	pthread_mutex_t lock;    /* protects the five fields below */
	size_t current;          /* index of the master believed primary */
	char *named_primary;     /* a primary named by a 421 that is not in
				  * masters, owned, or NULL */
	uint64_t epoch;          /* highest epoch seen */
	unsigned refs;           /* the client and its views */
	uint64_t req_next;       /* counter of X-GFS-Request ids */
	uint64_t req_seed[2];    /* random base of the ids, read-only */
	struct gfs_http_pool *pool; /* connections to masters and
				     * chunkservers, thread-safe */
	struct gfs_window_pool *window; /* bytes of writes not yet
					 * acknowledged, thread-safe */
	long timeout_ms;         /* one metadata call */
	long failover_ms;        /* retry window while no primary answers */
	char **urls;             /* interned chunkserver URLs, protected by
				  * lock, freed with the client */
	size_t nurls;
	struct gfs_dirattrs *dirattrs; /* directories our last mutation
					* changed, owned, thread-safe */
	struct gfs_statahead *statahead; /* the files of a directory
					  * stats walk, owned,
					  * thread-safe */
};

struct gfs_preplace;

struct gfs_client {
	struct gfs_client_shared *sh;
	char *id;                /* lease holder, owned, or NULL */
	char *auth;              /* "Authorization: Bearer KEY", owned, or
				  * NULL */
	struct gfs_preplace *pre; /* pre-placed chunks for this holder's
				   * new files, owned (preplace.c) */
};

/* A pre-placed chunk (POST /chunks): chunk 0 of a new file to be. */
#define GFS_PREPLACED_MAX 8
struct gfs_preplaced {
	uint64_t handle;
	unsigned nreplicas;
	const char *replicas[GFS_PREPLACED_MAX]; /* interned URLs */
	char token[GFS_TOKEN_MAX];  /* read-write, or "" (no secret) */
	uint64_t chunk_size;        /* of the files the master creates */
	int64_t use_by_ms;          /* monotonic: committed before then */
};

struct gfs_preplace *gfs_preplace_new(void);
void gfs_preplace_free(struct gfs_preplace *p);
/* A pre-placed chunk for a new file of c into *out, from the batch c
 * holds (refilled with one POST /chunks when empty).  False when there
 * is none (an old master, no room): create the file on the master. */
bool gfs_preplace_take(struct gfs_client *c, struct gfs_preplaced *out);

/*
 * The attributes of the directories this client's own last mutation
 * changed (dirattrs.c), kept window_ms (0: nothing is kept, and every
 * call below returns at once).  gfs_client_call() brackets every
 * mutation with begin, which returns its ticket, and end, with its reply
 * (borrowed; NULL when it failed), whose "parents" are kept when no
 * other mutation began or ended meanwhile.  find copies path's kept
 * attributes into *st while they are younger than the window.
 */
struct gfs_dirattrs;
struct gfs_dirattrs *gfs_dirattrs_new(long window_ms);
void gfs_dirattrs_free(struct gfs_dirattrs *d);
uint64_t gfs_dirattrs_begin(struct gfs_dirattrs *d);
void gfs_dirattrs_end(struct gfs_dirattrs *d, uint64_t ticket,
		      json_t *reply);
bool gfs_dirattrs_find(struct gfs_dirattrs *d, const char *path,
		       struct gfs_stat *st);

/*
 * The attributes of the files of a directory that stats walk, from its
 * listing (statahead.c), kept window_ms (0: nothing is kept, and every
 * call below returns at once).  gfs_client_call() calls touch with what
 * a mutation may change (a path: that name and what is below it; NULL:
 * anything) when it begins and when it ends; gfs_client_list_page()
 * calls listed for the first page of a directory's listing.  find
 * copies path's attributes into *st while they are younger than the
 * window.  missed counts a stat that went to the master instead (found:
 * the master had the name); when it makes a walk, for the names that
 * follow, it returns the directory to fetch (a new string) and
 * its ticket: the caller lists it into a batch (batch_add returns false
 * past the most it keeps) and hands the batch to fetched (which frees
 * it), with the time the fetch began and whether the listing came.
 */
struct gfs_statahead;
struct sa_batch;
struct gfs_statahead *gfs_statahead_new(long window_ms);
void gfs_statahead_free(struct gfs_statahead *sa);
void gfs_statahead_touch(struct gfs_statahead *sa, const char *path);
void gfs_statahead_listed(struct gfs_statahead *sa, const char *dir);
bool gfs_statahead_find(struct gfs_statahead *sa, const char *path,
			struct gfs_stat *st);
char *gfs_statahead_missed(struct gfs_statahead *sa, const char *path,
			   bool found, uint64_t *ticket);
struct sa_batch *gfs_statahead_batch_new(void);
bool gfs_statahead_batch_add(struct sa_batch *b, const char *name,
			     const struct gfs_stat *st);
void gfs_statahead_fetched(struct gfs_statahead *sa, const char *dir,
			   uint64_t ticket, int64_t began_us,
			   struct sa_batch *b, bool listed);

/* The stable copy of a chunkserver URL (interned for the client's life). */
const char *gfs_client_intern(struct gfs_client *c, const char *url);

/* Highest master epoch seen. */
uint64_t gfs_client_epoch(struct gfs_client *c);

/* "/WHAT/encoded/path" + suffix (caller frees). */
char *gfs_client_route(const char *what, const char *path,
		       const char *suffix);

/* Remember msg (or err's message) as this thread's last error. */
void gfs_client_set_error(enum gfs_err err, const char *msg);
/* The same for an answer of the server at url: "msg (from url)", so that
 * a person sees who refused. */
void gfs_client_set_error_from(enum gfs_err err, const char *msg,
			       const char *url);

#endif

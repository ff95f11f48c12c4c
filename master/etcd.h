/*
 * etcd.h - the few etcd v3 calls the masters need, spoken over etcd's
 * JSON gateway (plain HTTP/1.1: common/http.c, jansson, base64 from
 * libcrypto).
 *
 * For: reading one key, a compare-and-swap transaction (compares of a
 * key's create or mod revision, then puts), and leases (grant, keep
 * alive, revoke).  Not for: watches (the election polls, see
 * election.c), or anything else etcd offers.
 *
 * Several endpoints ("http://a:2379,http://b:2379"): a call goes to the
 * endpoint that answered last; when that one gives no answer, or says it
 * cannot serve (no leader, timed out inside etcd), the next one is tried
 * with what is left of the call's deadline, until each was tried once.
 * Every call has a deadline: the timeout given to gfs_etcd_new(), shared
 * between the endpoints still to try.
 *
 * Wire facts (etcd 3.4): POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant,
 * /v3/lease/keepalive, /v3/lease/revoke; keys and values base64; 64-bit
 * numbers as JSON strings; members equal to zero are left out (a missing
 * "kvs" is an absent key, a missing "TTL" in a keep-alive reply a lease
 * that no longer exists).
 *
 * Locking: none; a struct gfs_etcd belongs to one thread at a time.
 */
#ifndef GFS_ETCD_H
#define GFS_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct gfs_etcd;

/* One key as read. */
struct gfs_etcd_kv {
	char *value;        /* owned, NUL-terminated; NULL when absent */
	size_t len;         /* bytes of value */
	int64_t create_rev; /* revision that created it; 0 when absent */
	int64_t mod_rev;    /* revision of its last change; 0 when absent */
	int64_t lease;      /* lease it is attached to, 0 none */
};

/* What a compare of a transaction looks at; the result must be EQUAL. */
enum gfs_etcd_target {
	GFS_ETCD_CREATE,    /* the key's create revision (0: absent) */
	GFS_ETCD_MOD,       /* the key's mod revision */
};

struct gfs_etcd_cmp {
	const char *key;    /* borrowed */
	enum gfs_etcd_target target;
	int64_t rev;
};

struct gfs_etcd_put {
	const char *key;    /* borrowed */
	const char *value;  /* borrowed, NUL-terminated */
	int64_t lease;      /* 0: none */
};

/* A client of the endpoints in urls (comma-separated http:// URLs, at
 * most 16); every call ends within timeout_ms.  NULL when the list is
 * bad.  Free with gfs_etcd_free(). */
struct gfs_etcd *gfs_etcd_new(const char *urls, long timeout_ms);
void gfs_etcd_free(struct gfs_etcd *e);
/* The endpoint the next call goes to (borrowed, valid until the next
 * call). */
const char *gfs_etcd_endpoint(const struct gfs_etcd *e);

/* Read key into *kv (cleared first; value NULL when absent).  *rev, when
 * not NULL, gets the store's revision at the read. */
enum gfs_err gfs_etcd_get(struct gfs_etcd *e, const char *key,
			  struct gfs_etcd_kv *kv, int64_t *rev);
/* Release what kv owns. */
void gfs_etcd_kv_clear(struct gfs_etcd_kv *kv);

/*
 * If every compare holds, apply every put, atomically.  *ok tells whether
 * they held; *rev (may be NULL) is the store's revision after the
 * transaction: for a key created by one of the puts, its create revision.
 */
enum gfs_err gfs_etcd_txn(struct gfs_etcd *e, const struct gfs_etcd_cmp *cmp,
			  size_t ncmp, const struct gfs_etcd_put *put,
			  size_t nput, bool *ok, int64_t *rev);

/* A new lease of ttl_s seconds; *ttl_s_out is what etcd granted (it
 * raises a TTL below its minimum). */
enum gfs_err gfs_etcd_grant(struct gfs_etcd *e, int64_t ttl_s, int64_t *id,
			    int64_t *ttl_s_out);
/* Renew lease id: *ttl_s_out is its TTL again.  GFS_ENOENT when the
 * lease has expired or was revoked (it is gone for good). */
enum gfs_err gfs_etcd_keepalive(struct gfs_etcd *e, int64_t id,
				int64_t *ttl_s_out);
/* Revoke lease id (its keys are deleted); GFS_OK when it was gone. */
enum gfs_err gfs_etcd_revoke(struct gfs_etcd *e, int64_t id);

#endif

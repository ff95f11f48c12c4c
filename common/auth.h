/*
 * auth.h - who may call a server, and the proof servers give each other.
 *
 * Three kinds of credentials (docs/PROTOCOL.md, "Security"):
 *  - the cluster secret (--secret-file, the same file on every server):
 *    a server proves it on each call to another one with an HMAC of the
 *    request, never the secret itself:
 *      Authorization: GFS1 TIME NONCE BODY_SHA256 MAC
 *    checked for a clock skew of at most GFS_AUTH_SKEW_S and a nonce not
 *    seen before (a replay is refused);
 *  - client keys (--keys, on masters; keys.h): "Authorization: Bearer
 *    KEY", read-only or read-write, maybe limited to path prefixes;
 *  - chunk tokens (token.h), signed by the master with a key derived
 *    from the secret and checked by chunkservers: X-GFS-Token, and
 *    X-GFS-Clone-Token for the source of a copy-on-write clone.
 *
 * Each route says who may call it with GFS_ROUTE_* flags (httpd.h);
 * httpd.c asks gfs_auth_admit() once per request, before the body, so a
 * refused request changes nothing and its body is never read.  Without a
 * secret a server admits everyone (loopback only, or --insecure: see
 * gfs_auth_may_listen()).
 *
 * Not for: TLS (httpd.c, http.c), or what a key may do with a particular
 * file beyond its prefixes (the master's routes: leases, listings).
 *
 * Locking: the key table and the nonce cache are under a->lock; a request
 * keeps a reference to the key table it was admitted with.
 */
#ifndef GFS_AUTH_H
#define GFS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "constants.h"
#include "err.h"
#include "keys.h"
#include "token.h"

struct gfs_req;
struct gfs_auth;

/* Most a request's time may differ from ours, seconds. */
#define GFS_AUTH_SKEW_S 60
/* Default life of a chunk token, milliseconds. */
#define GFS_TOKEN_TTL_MS (3600u * 1000)


/* Settings (the servers' option tables fill these; strings owned by
 * the table, gfs_opts_free()). */
struct gfs_auth_conf {
	char *secret_file;      /* --secret-file; NULL: no secret */
	char *keys_file;        /* --keys (masters); NULL: none */
	uint64_t token_ttl_ms;  /* life of the tokens a master signs */
	bool private_status;    /* /status, /healthz, /metrics need a key */
	bool insecure;          /* may listen beyond loopback unprotected */
	char *ca_file;          /* --ca-file: PEM certificates trusted when
				 * calling other servers over HTTPS */
};

/* Who a request comes from, as admitted. */
enum gfs_who_kind {
	GFS_WHO_NOBODY,         /* no credentials (or no secret here) */
	GFS_WHO_CLUSTER,        /* a server of the cluster */
	GFS_WHO_KEY,            /* a client key */
	GFS_WHO_TOKEN,          /* a chunk token */
};

struct gfs_who {
	enum gfs_who_kind kind;
	const struct gfs_key *key;  /* GFS_WHO_KEY: borrowed from tab */
	struct gfs_keytab *tab;     /* a reference while key is used */
	uint8_t body_sha[32];       /* GFS_WHO_CLUSTER: the signed body */
};

/*
 * Read the secret (and keys) of c; NULL with a one-line reason in msg
 * when a file is missing, bad, or open to others.  A conf without a
 * secret gives an auth that admits everyone.
 */
struct gfs_auth *gfs_auth_new(const struct gfs_auth_conf *c, char *msg,
			      size_t len);
void gfs_auth_free(struct gfs_auth *a);
/* Is there a secret (so requests are checked)? */
bool gfs_auth_on(const struct gfs_auth *a);
/* Read the keys file again (SIGHUP); a bad file keeps the keys in use
 * and says why in msg. */
enum gfs_err gfs_auth_reload(struct gfs_auth *a, char *msg, size_t len);

/*
 * May the request use its route (req->route->flags), from what its
 * header says?  Called by httpd.c before the body, once req->path is
 * decoded.  GFS_OK with req->who filled, else GFS_EUNAUTH (401: no or
 * wrong credentials), GFS_EFORBIDDEN (403: not with this key),
 * GFS_ETOKEN (403: the chunk token does not allow it) or GFS_EINVAL,
 * with *why for the reply (never a secret).
 */
enum gfs_err gfs_auth_admit(struct gfs_auth *a, struct gfs_req *req,
			    const char **why);
/* For a request admitted as GFS_WHO_CLUSTER: does its whole body match
 * the digest it was signed with?  O(body). */
bool gfs_auth_body_ok(const struct gfs_req *req);
/* Release what a gfs_who holds. */
void gfs_who_clear(struct gfs_who *w);
/* The name for logs and lease holders: the key's name, "cluster",
 * "token", or "-". */
const char *gfs_who_name(const struct gfs_who *w);
/* May it change the file system (a rw key, the cluster, or no secret)? */
bool gfs_who_writes(const struct gfs_who *w);
/* May it list or stat path (gfs_key_sees())? */
bool gfs_who_sees(const struct gfs_who *w, const char *path);
/* May it read or change what is at path (gfs_key_covers())? */
bool gfs_who_covers(const struct gfs_who *w, const char *path);

/* A token for handle (version 0: any) allowing ops, living the
 * configured time; false (and out empty) without a secret. */
bool gfs_auth_token(const struct gfs_auth *a, uint64_t handle,
		    uint64_t version, unsigned ops, char out[GFS_TOKEN_MAX]);

/* The header line proving the secret on a call to url with method and
 * body (may be NULL): "Authorization: GFS1 ...", new string (caller
 * frees); NULL without a secret. */
char *gfs_auth_sign(const struct gfs_auth *a, const char *method,
		    const char *url, const void *body, size_t len);

/*
 * Protected by default: prog may listen on host ("" or a wildcard:
 * everywhere) unless that reaches beyond loopback without a secret (and,
 * when needs_keys, a keys file) and without --insecure.  False after
 * printing what to do.
 */
bool gfs_auth_may_listen(const char *prog, const char *host,
			 const struct gfs_auth_conf *c, bool needs_keys);

#endif

/*
 * token.h - chunk access tokens, as HDFS block access tokens: the master
 * signs what one client may do with one chunk until when; a chunkserver
 * checks the signature itself, with no call to the master.
 *
 * A token is text (docs/PROTOCOL.md, "Security"):
 *
 *   g1.HANDLE.VERSION.OPS.EXPIRES.MAC
 *
 * HANDLE 16 lowercase hex digits, VERSION decimal (0: any version), OPS
 * "r", "w" or "rw", EXPIRES Unix seconds, MAC the first 16 bytes of
 * HMAC-SHA256(key, every byte before the last '.') in lowercase hex.  The
 * key is derived from the cluster secret (auth.c), never the secret
 * itself.  Signing and checking are one HMAC of under 60 bytes (about a
 * microsecond): once per request, never per block.
 *
 * Not for: who may have a token (the master's routes decide) or where it
 * travels (X-GFS-Token, X-GFS-Clone-Token; auth.c).
 */
#ifndef GFS_TOKEN_H
#define GFS_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

#define GFS_TOKEN_MAX 112    /* a token's text with its NUL, at most */
#define GFS_TOKEN_KEY 32     /* bytes of the signing key */

/* Operations a token allows (bits). */
#define GFS_TOKEN_READ 1u    /* GET the chunk (data or CRCs), clone it */
#define GFS_TOKEN_WRITE 2u   /* PUT the chunk */

struct gfs_token {
	uint64_t handle;
	uint64_t version;        /* the version it reads; 0: any */
	unsigned ops;            /* GFS_TOKEN_* */
	int64_t expires_s;       /* Unix seconds */
};

/* Write t signed with key into out (always fits). */
void gfs_token_sign(const uint8_t key[GFS_TOKEN_KEY],
		    const struct gfs_token *t, char out[GFS_TOKEN_MAX]);

/* Parse s and check its signature against key in constant time: GFS_OK
 * with *t filled, else GFS_ETOKEN (malformed or forged).  The expiry and
 * what it allows are for gfs_token_allows(). */
enum gfs_err gfs_token_parse(const uint8_t key[GFS_TOKEN_KEY], const char *s,
			     struct gfs_token *t);

/* Does t allow op (one GFS_TOKEN_* bit) on chunk handle at version
 * (0: the request names none) at now_s?  A token of a given version
 * allows only that version.  *why says what is wrong when not. */
bool gfs_token_allows(const struct gfs_token *t, uint64_t handle,
		      uint64_t version, unsigned op, int64_t now_s,
		      const char **why);

/* The expiry written in a token, without checking it (clients renew
 * before it); 0 when s is not a token. */
int64_t gfs_token_expires(const char *s);

#endif

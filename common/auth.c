/*
 * auth.c - admit requests by their credentials, sign calls between
 * servers, sign chunk tokens (see auth.h).
 *
 * Keys derived from the secret S, so that no message ever carries S and
 * the two uses cannot be confused:
 *   requests  HMAC-SHA256(S, "gfs request v1")
 *   tokens    HMAC-SHA256(S, "gfs chunk token v1")
 * A signed request's MAC covers
 *   "GFS1\n" METHOD "\n" TARGET "\n" TIME "\n" NONCE "\n" BODY_SHA256
 * where TARGET is the path and query exactly as sent.  The nonce cache
 * keeps every nonce for twice the skew after it was seen (a request
 * could not be accepted later than that), in arrival order, so expiry is
 * O(expired); it holds at most NONCES_MAX, dropping the oldest (logged):
 * only requests that carried a valid MAC get in, i.e. the cluster's own.
 *
 * Crypto is OpenSSL's: HMAC, SHA-256, RAND_bytes, CRYPTO_memcmp.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <uthash.h>

#include "auth.h"
#include "httpd.h"
#include "log.h"
#include "path.h"
#include "util.h"

#define SECRET_MIN 16
#define SECRET_MAX 4096
#define NONCE_BYTES 16
#define NONCES_MAX (1u << 20)
#define PROOF_SCHEME "GFS1 "
#define BEARER "Bearer "

struct nonce {
	uint8_t id[NONCE_BYTES];
	int64_t until_ms;           /* monotonic: forgotten after this */
	struct nonce *next;         /* arrival order */
	UT_hash_handle hh;
};

struct gfs_auth {
	bool on;                    /* a secret was given */
	uint8_t req_key[32];        /* signs requests */
	uint8_t tok_key[32];        /* signs chunk tokens */
	int64_t token_ttl_s;
	bool private_status;
	char *keys_file;            /* owned, or NULL */
	pthread_mutex_t lock;
	struct gfs_keytab *keys;    /* (lock) a reference, or NULL */
	struct nonce *nonces;       /* (lock) uthash by id */
	struct nonce *oldest, *newest; /* (lock) arrival order */
	size_t nnonces;             /* (lock) */
	bool warned_full;           /* (lock) */
};

/* ---- set-up -------------------------------------------------------------- */

static void derive(const char *secret, size_t len, const char *label,
		   uint8_t out[32])
{
	unsigned n = 0;

	HMAC(EVP_sha256(), secret, (int)len, (const uint8_t *)label,
	     strlen(label), out, &n);
}

/* The secret file, trimmed of surrounding white space, into the two
 * derived keys. */
static bool load_secret(struct gfs_auth *a, const char *file, char *msg,
			size_t len)
{
	char *text = NULL, *s, *e;
	size_t n = 0;
	bool ok = false;

	if (gfs_read_file(file, SECRET_MAX, true, &text, &n, msg, len))
		return false;
	for (s = text; *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'; s++)
		;
	for (e = s + strlen(s); e > s && (e[-1] == ' ' || e[-1] == '\t' ||
					  e[-1] == '\n' || e[-1] == '\r'); e--)
		;
	if (e - s < SECRET_MIN) {
		snprintf(msg, len, "%s: a secret of at least %d characters is "
			 "needed (make one with: head -c 32 /dev/urandom | "
			 "base64 > %s)", file, SECRET_MIN, file);
	} else {
		derive(s, (size_t)(e - s), "gfs request v1", a->req_key);
		derive(s, (size_t)(e - s), "gfs chunk token v1", a->tok_key);
		ok = true;
	}
	explicit_bzero(text, n);
	free(text);
	return ok;
}

struct gfs_auth *gfs_auth_new(const struct gfs_auth_conf *c, char *msg,
			      size_t len)
{
	struct gfs_auth *a = gfs_xcalloc(1, sizeof(*a));

	pthread_mutex_init(&a->lock, NULL);
	a->private_status = c->private_status;
	a->token_ttl_s = (int64_t)((c->token_ttl_ms ? c->token_ttl_ms
						     : GFS_TOKEN_TTL_MS) + 999) / 1000;
	if (c->keys_file && !c->secret_file) {
		snprintf(msg, len, "--keys needs --secret-file (the chunk "
			 "tokens given to keys are signed with it)");
		goto out_fail;
	}
	if (c->secret_file && !load_secret(a, c->secret_file, msg, len))
		goto out_fail;
	a->on = c->secret_file != NULL;
	if (c->keys_file) {
		a->keys_file = gfs_xstrdup(c->keys_file);
		if (gfs_keytab_load(a->keys_file, &a->keys, msg, len))
			goto out_fail;
	}
	return a;
out_fail:
	gfs_auth_free(a);
	return NULL;
}

void gfs_auth_free(struct gfs_auth *a)
{
	struct nonce *n, *tmp;

	if (!a)
		return;
	HASH_ITER(hh, a->nonces, n, tmp) {
		HASH_DEL(a->nonces, n);
		free(n);
	}
	gfs_keytab_unref(a->keys);
	free(a->keys_file);
	explicit_bzero(a->req_key, sizeof(a->req_key));
	explicit_bzero(a->tok_key, sizeof(a->tok_key));
	pthread_mutex_destroy(&a->lock);
	free(a);
}

bool gfs_auth_on(const struct gfs_auth *a)
{
	return a && a->on;
}

enum gfs_err gfs_auth_reload(struct gfs_auth *a, char *msg, size_t len)
{
	struct gfs_keytab *t = NULL, *old;

	if (!a->keys_file) {
		snprintf(msg, len, "no keys file to reload");
		return GFS_OK;
	}
	if (gfs_keytab_load(a->keys_file, &t, msg, len))
		return GFS_EINVAL;
	pthread_mutex_lock(&a->lock);
	old = a->keys;
	a->keys = t;
	pthread_mutex_unlock(&a->lock);
	gfs_keytab_unref(old);
	snprintf(msg, len, "%zu keys from %s", t->n, a->keys_file);
	return GFS_OK;
}

/* ---- signed requests ----------------------------------------------------- */

/* The path and query of url (after scheme and authority). */
static const char *target_of(const char *url)
{
	const char *p = strstr(url, "://");

	p = p ? strchr(p + 3, '/') : url;
	return p ? p : "/";
}

static void proof_mac(const struct gfs_auth *a, const char *method,
		      const char *target, const char *t, const char *nonce,
		      const char *sha, uint8_t out[32])
{
	char *text = gfs_xasprintf("GFS1\n%s\n%s\n%s\n%s\n%s", method, target,
				   t, nonce, sha);
	unsigned n = 0;

	HMAC(EVP_sha256(), a->req_key, sizeof(a->req_key),
	     (const uint8_t *)text, strlen(text), out, &n);
	free(text);
}

char *gfs_auth_sign(const struct gfs_auth *a, const char *method,
		    const char *url, const void *body, size_t len)
{
	uint8_t nonce[NONCE_BYTES], sha[32], mac[32];
	char t[24], nh[2 * NONCE_BYTES + 1], sh[65], mh[65];

	if (!gfs_auth_on(a))
		return NULL;
	if (RAND_bytes(nonce, sizeof(nonce)) != 1) {
		gfs_error("auth: no random bytes for a nonce");
		abort(); /* never on Linux once booted */
	}
	SHA256(body ? body : (const void *)"", body ? len : 0, sha);
	snprintf(t, sizeof(t), "%" PRId64, gfs_now_ns() / 1000000000);
	gfs_hex_fmt(nonce, sizeof(nonce), nh);
	gfs_hex_fmt(sha, sizeof(sha), sh);
	proof_mac(a, method, target_of(url), t, nh, sh, mac);
	gfs_hex_fmt(mac, sizeof(mac), mh);
	return gfs_xasprintf("Authorization: " PROOF_SCHEME "%s %s %s %s", t,
			     nh, sh, mh);
}

/* Forget nonces past their time; then true if id was seen, else it is
 * remembered.  Under a->lock.  O(expired). */
static bool replayed(struct gfs_auth *a, const uint8_t id[NONCE_BYTES],
		     int64_t now)
{
	struct nonce *n;

	while (a->oldest && (a->oldest->until_ms <= now ||
			     a->nnonces >= NONCES_MAX)) {
		if (a->oldest->until_ms > now && !a->warned_full) {
			gfs_warn("auth: %u signed requests within %d s: the "
				 "oldest nonces are forgotten early",
				 NONCES_MAX, 2 * GFS_AUTH_SKEW_S);
			a->warned_full = true;
		}
		n = a->oldest;
		a->oldest = n->next;
		HASH_DEL(a->nonces, n);
		free(n);
		a->nnonces--;
	}
	if (!a->oldest)
		a->newest = NULL;
	HASH_FIND(hh, a->nonces, id, NONCE_BYTES, n);
	if (n)
		return true;
	n = gfs_xcalloc(1, sizeof(*n));
	memcpy(n->id, id, NONCE_BYTES);
	n->until_ms = now + 2000 * GFS_AUTH_SKEW_S;
	HASH_ADD(hh, a->nonces, id, NONCE_BYTES, n);
	if (a->newest)
		a->newest->next = n;
	else
		a->oldest = n;
	a->newest = n;
	a->nnonces++;
	return false;
}

/* The four words of a proof: TIME NONCE SHA MAC. */
struct proof {
	char t[24];
	char nonce[2 * NONCE_BYTES + 1];
	char sha[65];
	uint8_t mac[32];
};

static bool proof_parse(const char *s, struct proof *p)
{
	char mh[65];
	uint64_t t;

	if (sscanf(s, "%23s %32s %64s %64s", p->t, p->nonce, p->sha, mh) != 4 ||
	    strlen(p->nonce) != 2 * NONCE_BYTES || strlen(p->sha) != 64 ||
	    strlen(mh) != 64 || !gfs_parse_u64(p->t, &t) ||
	    !gfs_hex_parse(mh, 64, p->mac))
		return false;
	return true;
}

/* A request signed with the secret: good MAC, time, fresh nonce. */
static enum gfs_err check_proof(struct gfs_auth *a, struct gfs_req *req,
				const char *s, const char **why)
{
	struct proof p;
	uint8_t want[32], id[NONCE_BYTES];
	uint64_t t;
	int64_t now = gfs_now_ns() / 1000000000;
	bool again;

	*why = "malformed request signature";
	if (!proof_parse(s, &p) || !gfs_hex_parse(p.nonce, 2 * NONCE_BYTES, id) ||
	    !gfs_hex_parse(p.sha, 64, req->who.body_sha))
		return GFS_EUNAUTH;
	proof_mac(a, req->method, req->target, p.t, p.nonce, p.sha, want);
	*why = "request signature does not match (another secret?)";
	if (CRYPTO_memcmp(want, p.mac, sizeof(want)))
		return GFS_EUNAUTH;
	gfs_parse_u64(p.t, &t);
	*why = "request signed at a time too far from ours (clocks?)";
	if (t > (uint64_t)(now + GFS_AUTH_SKEW_S) ||
	    (int64_t)t < now - GFS_AUTH_SKEW_S)
		return GFS_EUNAUTH;
	pthread_mutex_lock(&a->lock);
	again = replayed(a, id, gfs_mono_ms());
	pthread_mutex_unlock(&a->lock);
	*why = "request replayed";
	if (again)
		return GFS_EUNAUTH;
	*why = NULL;
	req->who.kind = GFS_WHO_CLUSTER;
	return GFS_OK;
}

/* Is a body coming (Content-Length above 0, or chunked)? */
static bool has_body(struct gfs_req *req)
{
	const char *cl = gfs_req_header(req, "Content-Length");
	const char *te = gfs_req_header(req, "Transfer-Encoding");

	return (te && strcasestr(te, "chunked")) || (cl && strcmp(cl, "0"));
}

bool gfs_auth_body_ok(const struct gfs_req *req)
{
	uint8_t sha[32];

	SHA256((const uint8_t *)(req->body ? req->body : ""),
	       req->body ? req->body_len : 0, sha);
	return !CRYPTO_memcmp(sha, req->who.body_sha, sizeof(sha));
}

/* ---- chunk tokens -------------------------------------------------------- */

bool gfs_auth_token(const struct gfs_auth *a, uint64_t handle,
		    uint64_t version, unsigned ops, char out[GFS_TOKEN_MAX])
{
	struct gfs_token t = { handle, version, ops,
			       gfs_now_ns() / 1000000000 + a->token_ttl_s };

	out[0] = '\0';
	if (!gfs_auth_on(a))
		return false;
	gfs_token_sign(a->tok_key, &t, out);
	return true;
}

/* The token in header hdr allows op on handle at version? */
static enum gfs_err check_token(struct gfs_auth *a, struct gfs_req *req,
				const char *hdr, uint64_t handle,
				uint64_t version, unsigned op,
				const char **why)
{
	const char *s = gfs_req_header(req, hdr);
	struct gfs_token t;

	*why = "forged or malformed chunk token";
	if (gfs_token_parse(a->tok_key, s, &t))
		return GFS_ETOKEN;
	return gfs_token_allows(&t, handle, version, op,
				gfs_now_ns() / 1000000000, why)
		       ? GFS_OK : GFS_ETOKEN;
}

/* A chunk route: GET needs a read token, PUT a write token (and a read
 * token of the clone source), DELETE the secret. */
static enum gfs_err check_chunk(struct gfs_auth *a, struct gfs_req *req,
				const char **why)
{
	bool put = !strcmp(req->method, "PUT");
	uint64_t h, v = 0, ch, cv = 0;
	const char *clone = NULL;
	enum gfs_err err;

	*why = "this needs the cluster secret";
	if (strcmp(req->method, "GET") && strcmp(req->method, "HEAD") && !put)
		return GFS_EUNAUTH;
	*why = "this needs a chunk token (" GFS_HDR_TOKEN ") or the cluster "
	       "secret";
	if (!gfs_req_header(req, GFS_HDR_TOKEN))
		return GFS_EUNAUTH;
	*why = "not a chunk handle (16 hex digits)";
	if (!req->path || !gfs_handle_parse(req->path + 1, &h) ||
	    gfs_req_arg_u64(req, "version", 0, &v) ||
	    gfs_req_arg(req, "clone", &clone) ||
	    gfs_req_arg_u64(req, "clone_version", 0, &cv))
		return GFS_EINVAL;
	err = check_token(a, req, GFS_HDR_TOKEN, h, v,
			  put ? GFS_TOKEN_WRITE : GFS_TOKEN_READ, why);
	if (!err && put && clone) {
		*why = "a clone needs a token of its source ("
		       GFS_HDR_CLONE_TOKEN ")";
		if (!gfs_handle_parse(clone, &ch))
			return GFS_EINVAL;
		err = check_token(a, req, GFS_HDR_CLONE_TOKEN, ch, cv,
				  GFS_TOKEN_READ, why);
	}
	if (!err)
		req->who.kind = GFS_WHO_TOKEN;
	return err;
}

/* ---- client keys --------------------------------------------------------- */

/* The paths the request names, against the key's prefixes. */
static bool paths_ok(struct gfs_req *req, const struct gfs_key *k)
{
	bool read = !strcmp(req->method, "GET") || !strcmp(req->method,
							      "HEAD");
	/* a path route without a path is the root's (/files/, /xattrs/) */
	const char *path = req->path ? req->path : "/", *to = NULL;

	if (!(read ? gfs_key_sees(k, path) : gfs_key_covers(k, path)))
		return false;
	if (gfs_req_arg(req, "to", &to) || (to && !gfs_key_covers(k, to)))
		return false;
	return true;
}

static enum gfs_err check_key(struct gfs_auth *a, struct gfs_req *req,
			      const char *h, const char **why)
{
	unsigned fl = req->route->flags;
	const struct gfs_key *k = NULL;

	*why = "only the cluster's servers may call this (it needs the "
	       "cluster secret)";
	if (!(fl & (GFS_ROUTE_PUBLIC | GFS_ROUTE_READ | GFS_ROUTE_WRITE)))
		return GFS_EUNAUTH;
	*why = "this needs a key (Authorization: Bearer KEY)";
	if (!h || strncmp(h, BEARER, strlen(BEARER)))
		return GFS_EUNAUTH;
	pthread_mutex_lock(&a->lock);
	req->who.tab = gfs_keytab_ref(a->keys);
	pthread_mutex_unlock(&a->lock);
	k = gfs_keytab_find(req->who.tab, h + strlen(BEARER));
	*why = "unknown key";
	if (!k)
		return GFS_EUNAUTH;
	req->who.kind = GFS_WHO_KEY;
	req->who.key = k;
	*why = "read-only key";
	if ((fl & GFS_ROUTE_WRITE) && !k->rw)
		return GFS_EFORBIDDEN;
	*why = "outside the key's prefixes";
	if ((fl & GFS_ROUTE_PATH) && !paths_ok(req, k))
		return GFS_EFORBIDDEN;
	*why = "a key limited to prefixes cannot act on the whole cluster";
	if ((fl & GFS_ROUTE_ADMIN) && k->nprefixes)
		return GFS_EFORBIDDEN;
	*why = NULL;
	return GFS_OK;
}

enum gfs_err gfs_auth_admit(struct gfs_auth *a, struct gfs_req *req,
			    const char **why)
{
	const char *h = gfs_req_header(req, "Authorization");
	unsigned fl = req->route->flags;
	bool open = false;
	enum gfs_err err;

	*why = NULL;
	if (!gfs_auth_on(a))
		return GFS_OK;
	open = (fl & GFS_ROUTE_PUBLIC) && !a->private_status;
	if (h && !strncmp(h, PROOF_SCHEME, strlen(PROOF_SCHEME))) {
		err = check_proof(a, req, h + strlen(PROOF_SCHEME), why);
		if (!err && req->route->stream && has_body(req)) {
			*why = "a signed request's body must be whole";
			err = GFS_EUNAUTH;
		}
		if (err)
			req->who.kind = GFS_WHO_NOBODY;
		return err && !open ? err : GFS_OK;
	}
	if (open || (fl & GFS_ROUTE_PASS))
		return GFS_OK;
	if (fl & GFS_ROUTE_CHUNK)
		return check_chunk(a, req, why);
	return check_key(a, req, h, why);
}

void gfs_who_clear(struct gfs_who *w)
{
	gfs_keytab_unref(w->tab);
	memset(w, 0, sizeof(*w));
}

const char *gfs_who_name(const struct gfs_who *w)
{
	switch (w->kind) {
	case GFS_WHO_NOBODY: return "-";
	case GFS_WHO_CLUSTER: return "cluster";
	case GFS_WHO_KEY: return w->key->name;
	case GFS_WHO_TOKEN: return "token";
	}
	return "-";
}

bool gfs_who_writes(const struct gfs_who *w)
{
	return w->kind != GFS_WHO_KEY || w->key->rw;
}

bool gfs_who_sees(const struct gfs_who *w, const char *path)
{
	return w->kind != GFS_WHO_KEY || gfs_key_sees(w->key, path);
}

bool gfs_who_covers(const struct gfs_who *w, const char *path)
{
	return w->kind != GFS_WHO_KEY || gfs_key_covers(w->key, path);
}

/* ---- protected by default ------------------------------------------------ */

static bool loopback(const struct sockaddr *sa)
{
	const struct in6_addr *a6;

	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr)
			>> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6))
		return a6->s6_addr[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(a6);
}

/* Does host name only loopback addresses? */
static bool host_is_loopback(const char *host)
{
	struct addrinfo hints = { 0 }, *ai, *p;
	bool all = true;

	if (!host || !*host)
		return false; /* every address */
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &ai))
		return false;
	for (p = ai; p; p = p->ai_next)
		all = all && loopback(p->ai_addr);
	freeaddrinfo(ai);
	return all;
}

bool gfs_auth_may_listen(const char *prog, const char *host,
			 const struct gfs_auth_conf *c, bool needs_keys)
{
	bool protected = c->secret_file && (!needs_keys || c->keys_file);

	if (protected || c->insecure || host_is_loopback(host))
		return true;
	fprintf(stderr,
		"%s: refusing to listen on %s without %s: anyone who can "
		"reach it could read and change every file.\n"
		"  Give --secret-file FILE (the same file on every server of "
		"the cluster; make one with\n"
		"  'head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE')"
		"%s,\n  or --insecure to serve without protection anyway.\n",
		prog, *host ? host : "every address",
		needs_keys ? "--secret-file and --keys" : "--secret-file",
		needs_keys ? " and --keys FILE (lines 'NAME KEY rw|ro "
			     "[PREFIX...]': who may use the file system)"
			   : "");
	return false;
}

/*
 * token.c - sign, parse and check chunk access tokens (see token.h).
 *
 * The crypto is OpenSSL's (HMAC-SHA256, CRYPTO_memcmp); this file only
 * lays out the text.  The MAC covers the exact bytes of the text before
 * it, so parsing needs to be strict only about what it reads back.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "path.h"
#include "token.h"
#include "util.h"

#define PREFIX "g1."
#define MAC_BYTES 16             /* HMAC-SHA256 cut to 128 bits */

static const char *ops_name(unsigned ops)
{
	switch (ops & (GFS_TOKEN_READ | GFS_TOKEN_WRITE)) {
	case GFS_TOKEN_READ: return "r";
	case GFS_TOKEN_WRITE: return "w";
	case GFS_TOKEN_READ | GFS_TOKEN_WRITE: return "rw";
	}
	return "-";
}

static bool ops_parse(const char *s, size_t n, unsigned *ops)
{
	if (n == 1 && s[0] == 'r')
		*ops = GFS_TOKEN_READ;
	else if (n == 1 && s[0] == 'w')
		*ops = GFS_TOKEN_WRITE;
	else if (n == 2 && s[0] == 'r' && s[1] == 'w')
		*ops = GFS_TOKEN_READ | GFS_TOKEN_WRITE;
	else
		return false;
	return true;
}

/* The MAC of text[0..len) in hex (2 * MAC_BYTES digits and a NUL). */
static void mac_hex(const uint8_t key[GFS_TOKEN_KEY], const char *text,
		    size_t len, char out[2 * MAC_BYTES + 1])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	HMAC(EVP_sha256(), key, GFS_TOKEN_KEY, (const uint8_t *)text, len, md,
	     &mdlen);
	gfs_hex_fmt(md, MAC_BYTES, out);
}

void gfs_token_sign(const uint8_t key[GFS_TOKEN_KEY],
		    const struct gfs_token *t, char out[GFS_TOKEN_MAX])
{
	char h[17];
	int n;

	gfs_handle_fmt(t->handle, h);
	n = snprintf(out, GFS_TOKEN_MAX, PREFIX "%s.%" PRIu64 ".%s.%" PRId64,
		     h, t->version, ops_name(t->ops), t->expires_s);
	out[n] = '.';
	mac_hex(key, out, (size_t)n, out + n + 1);
}

/* The next '.'-separated field of *s (up to end) into [*f, *f + *n). */
static bool field(const char **s, const char *end, const char **f,
		  size_t *n)
{
	const char *dot = memchr(*s, '.', (size_t)(end - *s));

	if (!dot)
		return false;
	*f = *s;
	*n = (size_t)(dot - *s);
	*s = dot + 1;
	return *n > 0 && *n < 24;
}

static bool dec(const char *f, size_t n, uint64_t *out)
{
	char buf[24];

	memcpy(buf, f, n);
	buf[n] = '\0';
	return gfs_parse_u64(buf, out);
}

/* Read the fields before the MAC into *t; *mac points at the MAC. */
static bool layout(const char *s, struct gfs_token *t, const char **mac)
{
	const char *p = s + strlen(PREFIX), *end = s + strlen(s), *f;
	char h[17];
	uint64_t exp;
	size_t n;

	if (strncmp(s, PREFIX, strlen(PREFIX)) || end - s >= GFS_TOKEN_MAX)
		return false;
	if (!field(&p, end, &f, &n) || n != 16)
		return false;
	memcpy(h, f, 16);
	h[16] = '\0';
	if (!gfs_handle_parse(h, &t->handle) ||
	    !field(&p, end, &f, &n) || !dec(f, n, &t->version) ||
	    !field(&p, end, &f, &n) || !ops_parse(f, n, &t->ops) ||
	    !field(&p, end, &f, &n) || !dec(f, n, &exp) || exp > INT64_MAX)
		return false;
	t->expires_s = (int64_t)exp;
	*mac = p;
	return strlen(p) == 2 * MAC_BYTES;
}

enum gfs_err gfs_token_parse(const uint8_t key[GFS_TOKEN_KEY], const char *s,
			     struct gfs_token *t)
{
	char want[2 * MAC_BYTES + 1];
	const char *mac;

	memset(t, 0, sizeof(*t));
	if (!s || !layout(s, t, &mac))
		return GFS_ETOKEN;
	mac_hex(key, s, (size_t)(mac - 1 - s), want);
	if (CRYPTO_memcmp(want, mac, 2 * MAC_BYTES))
		return GFS_ETOKEN;
	return GFS_OK;
}

bool gfs_token_allows(const struct gfs_token *t, uint64_t handle,
		      uint64_t version, unsigned op, int64_t now_s,
		      const char **why)
{
	*why = NULL;
	if (t->handle != handle)
		*why = "the token is for another chunk";
	else if (!(t->ops & op))
		*why = op == GFS_TOKEN_WRITE ? "the token does not allow writing"
					     : "the token does not allow reading";
	else if (t->version && t->version != version)
		*why = "the token is for another version";
	else if (now_s >= t->expires_s)
		*why = "the token has expired";
	return *why == NULL;
}

int64_t gfs_token_expires(const char *s)
{
	struct gfs_token t;
	const char *mac;

	return s && layout(s, &t, &mac) ? t.expires_s : 0;
}

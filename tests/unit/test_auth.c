/*
 * Unit tests for common/token.c, common/keys.c and common/auth.c: chunk
 * tokens, the keys file, and a live server admitting requests by the
 * flags of their routes (over loopback, through common/http.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "http.h"
#include "httpd.h"
#include "json.h"
#include "keys.h"
#include "token.h"
#include "util.h"

#define RO_KEY "ro-key-0123456789abcdef"
#define RW_KEY "rw-key-0123456789abcdef"
#define PRE_KEY "prefix-key-0123456789abcdef"

static const uint8_t key_a[GFS_TOKEN_KEY] = { 1, 2, 3 };
static const uint8_t key_b[GFS_TOKEN_KEY] = { 3, 2, 1 };

/* ---- tokens ------------------------------------------------------------- */

static struct gfs_token tok(uint64_t h, uint64_t v, unsigned ops, int64_t exp)
{
	struct gfs_token t = { h, v, ops, exp };

	return t;
}

Test(token, round_trips)
{
	struct gfs_token t = tok(0x2a, 3, GFS_TOKEN_READ, 2000000000), u;
	char s[GFS_TOKEN_MAX];

	gfs_token_sign(key_a, &t, s);
	cr_assert_eq(strncmp(s, "g1.000000000000002a.3.r.2000000000.", 35), 0,
		     "%s", s);
	cr_assert_eq(gfs_token_parse(key_a, s, &u), GFS_OK);
	cr_assert(u.handle == 0x2a && u.version == 3 &&
		  u.ops == GFS_TOKEN_READ && u.expires_s == 2000000000);
	cr_assert_eq(gfs_token_expires(s), 2000000000);
}

Test(token, longest_fits)
{
	struct gfs_token t = tok(UINT64_MAX, UINT64_MAX,
				 GFS_TOKEN_READ | GFS_TOKEN_WRITE, INT64_MAX), u;
	char s[GFS_TOKEN_MAX];

	gfs_token_sign(key_a, &t, s);
	cr_assert_lt(strlen(s), GFS_TOKEN_MAX);
	cr_assert_eq(gfs_token_parse(key_a, s, &u), GFS_OK);
	cr_assert_eq(u.version, UINT64_MAX);
}

Test(token, refuses_another_key_and_any_change)
{
	struct gfs_token t = tok(0x2a, 3, GFS_TOKEN_READ, 2000000000), u;
	char s[GFS_TOKEN_MAX], m[GFS_TOKEN_MAX];
	size_t i;

	gfs_token_sign(key_a, &t, s);
	cr_assert_eq(gfs_token_parse(key_b, s, &u), GFS_ETOKEN);
	/* every single character changed: refused */
	for (i = 0; s[i]; i++) {
		strcpy(m, s);
		m[i] = m[i] == '1' ? '2' : '1';
		cr_assert_eq(gfs_token_parse(key_a, m, &u), GFS_ETOKEN,
			     "accepted %s", m);
	}
	/* "r" made "rw" by hand */
	strcpy(m, s);
	memmove(strstr(m, ".r.") + 3, strstr(m, ".r.") + 2,
		strlen(strstr(m, ".r.") + 2) + 1);
	strstr(m, ".r.")[2] = 'w';
	cr_assert_eq(gfs_token_parse(key_a, m, &u), GFS_ETOKEN, "%s", m);
	cr_assert_eq(gfs_token_parse(key_a, "", &u), GFS_ETOKEN);
	cr_assert_eq(gfs_token_parse(key_a, NULL, &u), GFS_ETOKEN);
	cr_assert_eq(gfs_token_parse(key_a, "g1.", &u), GFS_ETOKEN);
}

Test(token, allows_only_what_it_names)
{
	struct gfs_token t = tok(0x2a, 3, GFS_TOKEN_READ, 1000);
	struct gfs_token any = tok(0x2a, 0, GFS_TOKEN_READ | GFS_TOKEN_WRITE,
				   1000);
	const char *why;

	cr_assert(gfs_token_allows(&t, 0x2a, 3, GFS_TOKEN_READ, 999, &why));
	cr_assert_not(gfs_token_allows(&t, 0x2a, 3, GFS_TOKEN_READ, 1000,
				       &why));
	cr_assert_str_eq(why, "the token has expired");
	cr_assert_not(gfs_token_allows(&t, 0x2b, 3, GFS_TOKEN_READ, 1, &why));
	cr_assert_str_eq(why, "the token is for another chunk");
	cr_assert_not(gfs_token_allows(&t, 0x2a, 4, GFS_TOKEN_READ, 1, &why));
	cr_assert_not(gfs_token_allows(&t, 0x2a, 0, GFS_TOKEN_READ, 1, &why));
	cr_assert_str_eq(why, "the token is for another version");
	cr_assert_not(gfs_token_allows(&t, 0x2a, 3, GFS_TOKEN_WRITE, 1, &why));
	cr_assert_str_eq(why, "the token does not allow writing");
	cr_assert(gfs_token_allows(&any, 0x2a, 7, GFS_TOKEN_WRITE, 1, &why));
	cr_assert(gfs_token_allows(&any, 0x2a, 0, GFS_TOKEN_READ, 1, &why));
}

/* ---- keys --------------------------------------------------------------- */

static struct gfs_keytab *parse(const char *text, char *msg)
{
	struct gfs_keytab *t = NULL;

	msg[0] = '\0';
	if (gfs_keytab_parse(text, "keys", &t, msg, 200))
		return NULL;
	return t;
}

Test(keys, parses_names_modes_and_prefixes)
{
	char msg[200];
	struct gfs_keytab *t = parse("# who\n\nalice " RW_KEY " rw /home/alice/ "
				     "/tmp\nbob " RO_KEY " ro  # reads\n", msg);
	const struct gfs_key *k;

	cr_assert_not_null(t, "%s", msg);
	cr_assert_eq(t->n, 2);
	k = gfs_keytab_find(t, RW_KEY);
	cr_assert_not_null(k);
	cr_assert_str_eq(k->name, "alice");
	cr_assert(k->rw);
	cr_assert_eq(k->nprefixes, 2);
	cr_assert_str_eq(k->prefixes[0], "/home/alice");
	k = gfs_keytab_find(t, RO_KEY);
	cr_assert_str_eq(k->name, "bob");
	cr_assert_not(k->rw);
	cr_assert_null(gfs_keytab_find(t, "rw-key-0123456789abcdeX"));
	cr_assert_null(gfs_keytab_find(t, ""));
	gfs_keytab_unref(t);
}

Test(keys, refuses_bad_lines_without_quoting_keys)
{
	static const char *bad[] = {
		"alice " RW_KEY "\n",                 /* no mode */
		"alice short rw\n",                   /* key too short */
		"al/ice " RW_KEY " rw\n",             /* bad name */
		"alice " RW_KEY " rx\n",              /* bad mode */
		"alice " RW_KEY " rw home\n",         /* relative prefix */
		"alice " RW_KEY " rw /a/../b\n",      /* not a path */
		"a " RW_KEY " rw\nb " RW_KEY " ro\n", /* one key twice */
		"a " RW_KEY " rw\na " RO_KEY " ro\n", /* one name twice */
	};
	char msg[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_null(parse(bad[i], msg), "accepted %s", bad[i]);
		cr_assert(strstr(msg, "keys, line "), "%s", msg);
		cr_assert_null(strstr(msg, "0123456789abcdef"), "%s", msg);
	}
}

Test(keys, prefixes_cover_below_and_see_above)
{
	char msg[200];
	struct gfs_keytab *t = parse("a " RW_KEY " rw /home/alice\n"
				     "b " RO_KEY " ro\n", msg);
	const struct gfs_key *k = gfs_keytab_find(t, RW_KEY);

	cr_assert(gfs_key_covers(k, "/home/alice"));
	cr_assert(gfs_key_covers(k, "/home/alice/x/y"));
	cr_assert_not(gfs_key_covers(k, "/home/alicex"));
	cr_assert_not(gfs_key_covers(k, "/home"));
	cr_assert_not(gfs_key_covers(k, "/"));
	cr_assert(gfs_key_sees(k, "/home"));
	cr_assert(gfs_key_sees(k, "/"));
	cr_assert_not(gfs_key_sees(k, "/homer"));
	cr_assert_not(gfs_key_sees(k, "/etc"));
	k = gfs_keytab_find(t, RO_KEY);
	cr_assert(gfs_key_covers(k, "/anything"));
	gfs_keytab_unref(t);
}

/* ---- a server admitting requests ---------------------------------------- */

static void hello(struct gfs_req *req)
{
	gfs_reply_json(req, 200, json_pack("{s:s}", "who",
					   gfs_who_name(&req->who)));
}

static void body_len(struct gfs_req *req)
{
	gfs_reply_json(req, 200, json_pack("{s:I}", "len",
					   (json_int_t)req->body_len));
}

static const struct gfs_route routes[] = {
	{ "GET", "/pub", NULL, hello, NULL, 0, GFS_ROUTE_PUBLIC, NULL },
	{ "GET", "/files/*", NULL, hello, NULL, 0,
	  GFS_ROUTE_READ | GFS_ROUTE_PATH, NULL },
	{ "PUT", "/files/*", NULL, hello, NULL, 0,
	  GFS_ROUTE_WRITE | GFS_ROUTE_PATH, NULL },
	{ "POST", "/internal", NULL, body_len, NULL, 0, 0, NULL },
	{ "GET", "/chunks/*", NULL, hello, NULL, 0, GFS_ROUTE_CHUNK, NULL },
	{ "PUT", "/chunks/*", NULL, hello, NULL, 0, GFS_ROUTE_CHUNK, NULL },
};

struct fixture {
	char dir[64];
	char secret[96], other[96], keys[96];
	struct gfs_auth *auth, *wrong;
	struct gfs_httpd *srv;
	struct gfs_http *cli;
	char base[64];
};

static struct fixture fx;

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static struct gfs_auth *auth_of(const char *secret, const char *keys,
				bool private)
{
	struct gfs_auth_conf c = { .secret_file = (char *)secret,
				   .keys_file = (char *)keys,
				   .private_status = private };
	char msg[300];
	struct gfs_auth *a = gfs_auth_new(&c, msg, sizeof(msg));

	cr_assert_not_null(a, "%s", msg);
	return a;
}

static void start(bool private)
{
	struct gfs_httpd_sec sec = { 0 };

	gfs_http_global_init();
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/gfs-auth.XXXXXX");
	cr_assert_not_null(mkdtemp(fx.dir));
	snprintf(fx.secret, sizeof(fx.secret), "%s/secret", fx.dir);
	snprintf(fx.other, sizeof(fx.other), "%s/other", fx.dir);
	snprintf(fx.keys, sizeof(fx.keys), "%s/keys", fx.dir);
	write_file(fx.secret, "the cluster secret, long enough\n", 0600);
	write_file(fx.other, "another secret, long enough too\n", 0600);
	write_file(fx.keys, "ro " RO_KEY " ro\nrw " RW_KEY " rw\n"
		   "pre " PRE_KEY " rw /home/p\n", 0640);
	fx.auth = auth_of(fx.secret, fx.keys, private);
	fx.wrong = auth_of(fx.other, NULL, false);
	sec.auth = fx.auth;
	fx.srv = gfs_httpd_start_secure("127.0.0.1:0", routes,
					sizeof(routes) / sizeof(routes[0]),
					NULL, 0, NULL, &sec);
	cr_assert_not_null(fx.srv);
	snprintf(fx.base, sizeof(fx.base), "http://127.0.0.1:%u",
		 gfs_httpd_port(fx.srv));
	fx.cli = gfs_http_new();
}

static void setup(void)
{
	start(false);
}

static void setup_private(void)
{
	start(true);
}

static void teardown(void)
{
	char cmd[128];

	gfs_http_free(fx.cli);
	gfs_httpd_stop(fx.srv);
	gfs_auth_free(fx.auth);
	gfs_auth_free(fx.wrong);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx.dir);
	cr_assert_eq(system(cmd), 0);
}

/* The status of method path with header lines h (NULL-terminated). */
static unsigned call(const char *method, const char *path,
		     const char *const *h, const char *body)
{
	struct gfs_http_opts o = { .headers = h, .body = body,
				   .len = body ? strlen(body) : 0 };
	struct gfs_http_reply r;
	char *url = gfs_xasprintf("%s%s", fx.base, path);
	unsigned status;

	gfs_http_call(fx.cli, method, url, &o, &r);
	status = r.status;
	gfs_http_reply_clear(&r);
	free(url);
	return status;
}

static unsigned with_key(const char *method, const char *path,
			 const char *key)
{
	char h[128];
	const char *hs[] = { h, NULL };

	snprintf(h, sizeof(h), "Authorization: Bearer %s", key);
	return call(method, path, hs, NULL);
}

/* method path signed by a (the body signed is sbody, sent is body). */
static unsigned signed_call(struct gfs_auth *a, const char *method,
			    const char *path, const char *sbody,
			    const char *body, char **sig_out)
{
	char *url = gfs_xasprintf("%s%s", fx.base, path);
	char *sig = gfs_auth_sign(a, method, url, sbody,
				  sbody ? strlen(sbody) : 0);
	const char *hs[] = { sig, NULL };
	unsigned s = call(method, path, hs, body);

	free(url);
	if (sig_out)
		*sig_out = sig;
	else
		free(sig);
	return s;
}

TestSuite(admit, .init = setup, .fini = teardown);

Test(admit, keys_by_route)
{
	cr_assert_eq(call("GET", "/pub", NULL, NULL), 200);
	cr_assert_eq(call("GET", "/files/a", NULL, NULL), 401);
	cr_assert_eq(with_key("GET", "/files/a", "not-a-key-0123456789"), 401);
	cr_assert_eq(with_key("GET", "/files/a", RO_KEY), 200);
	cr_assert_eq(with_key("PUT", "/files/a", RO_KEY), 403);
	cr_assert_eq(with_key("PUT", "/files/a", RW_KEY), 200);
	cr_assert_eq(with_key("POST", "/internal", RW_KEY), 401);
	cr_assert_eq(with_key("GET", "/chunks/000000000000002a", RW_KEY), 401);
}

Test(admit, prefix_keys)
{
	cr_assert_eq(with_key("PUT", "/files/home/p/x", PRE_KEY), 200);
	cr_assert_eq(with_key("PUT", "/files/home/px", PRE_KEY), 403);
	cr_assert_eq(with_key("PUT", "/files/home", PRE_KEY), 403);
	cr_assert_eq(with_key("GET", "/files/home", PRE_KEY), 200);
	cr_assert_eq(with_key("GET", "/files/etc", PRE_KEY), 403);
	cr_assert_eq(with_key("PUT", "/files/home/p/x?to=/etc/x", PRE_KEY),
		     403);
	cr_assert_eq(with_key("PUT", "/files/home/p/x?to=/home/p/y", PRE_KEY),
		     200);
}

Test(admit, signed_requests)
{
	char *sig = NULL;
	const char *hs[2] = { NULL, NULL };

	cr_assert_eq(signed_call(fx.auth, "POST", "/internal", "{}", "{}",
				 &sig), 200);
	hs[0] = sig; /* the same request again: a replay */
	cr_assert_eq(call("POST", "/internal", hs, "{}"), 401);
	free(sig);
	cr_assert_eq(signed_call(fx.auth, "POST", "/internal", "{}",
				 "{\"x\":1}", NULL), 401);
	cr_assert_eq(signed_call(fx.auth, "POST", "/internal?a=1", "{}",
				 "{}", NULL), 200);
	cr_assert_eq(signed_call(fx.wrong, "POST", "/internal", "{}", "{}",
				 NULL), 401);
	cr_assert_eq(signed_call(fx.auth, "GET", "/files/x", NULL, NULL,
				 NULL), 200);
	cr_assert_eq(signed_call(fx.auth, "GET", "/chunks/000000000000002a",
				 NULL, NULL, NULL), 200);
}

Test(admit, signed_for_another_target_or_time)
{
	char *url = gfs_xasprintf("%s/internal?a=1", fx.base);
	char *sig = gfs_auth_sign(fx.auth, "POST", url, NULL, 0), *old;
	const char *hs[] = { sig, NULL };
	char *t, num[32];

	cr_assert_eq(call("POST", "/internal?a=2", hs, NULL), 401);
	cr_assert_eq(call("PUT", "/internal?a=1", hs, NULL), 405);
	/* its time changed by hand: refused (the MAC covers it) */
	old = gfs_xstrdup(sig);
	t = old + strlen("Authorization: GFS1 ");
	snprintf(num, sizeof(num), "%010lld", atoll(t) - 120);
	memcpy(t, num, 10); /* (the time has 10 digits until 2286) */
	hs[0] = old;
	cr_assert_eq(call("POST", "/internal?a=1", hs, NULL), 401);
	free(old);
	free(sig);
	free(url);
}

Test(admit, chunk_tokens)
{
	char t[GFS_TOKEN_MAX], h[GFS_TOKEN_MAX + 32];
	const char *hs[] = { h, NULL };

	cr_assert(gfs_auth_token(fx.auth, 0x2a, 3, GFS_TOKEN_READ, t));
	snprintf(h, sizeof(h), "X-GFS-Token: %s", t);
	cr_assert_eq(call("GET", "/chunks/000000000000002a?version=3", hs,
			  NULL), 200);
	cr_assert_eq(call("GET", "/chunks/000000000000002a?version=4", hs,
			  NULL), 403);
	cr_assert_eq(call("GET", "/chunks/000000000000002a", hs, NULL), 403);
	cr_assert_eq(call("GET", "/chunks/000000000000002b?version=3", hs,
			  NULL), 403);
	cr_assert_eq(call("PUT", "/chunks/000000000000002a?version=3", hs,
			  NULL), 403);
	cr_assert(gfs_auth_token(fx.wrong, 0x2a, 3, GFS_TOKEN_READ, t));
	snprintf(h, sizeof(h), "X-GFS-Token: %s", t);
	cr_assert_eq(call("GET", "/chunks/000000000000002a?version=3", hs,
			  NULL), 403);
	cr_assert_eq(call("GET", "/chunks/000000000000002a?version=3", NULL,
			  NULL), 401);
}

Test(admit, clone_needs_a_read_token_of_its_source)
{
	char t[GFS_TOKEN_MAX], c[GFS_TOKEN_MAX];
	char h1[GFS_TOKEN_MAX + 32], h2[GFS_TOKEN_MAX + 32];
	const char *one[] = { h1, NULL }, *two[] = { h1, h2, NULL };
	const char *u = "/chunks/000000000000002a?version=1&clone="
			"0000000000000007&clone_version=2";

	cr_assert(gfs_auth_token(fx.auth, 0x2a, 0,
				 GFS_TOKEN_READ | GFS_TOKEN_WRITE, t));
	snprintf(h1, sizeof(h1), "X-GFS-Token: %s", t);
	cr_assert_eq(call("PUT", u, one, NULL), 403);
	cr_assert(gfs_auth_token(fx.auth, 7, 1, GFS_TOKEN_READ, c));
	snprintf(h2, sizeof(h2), "X-GFS-Clone-Token: %s", c);
	cr_assert_eq(call("PUT", u, two, NULL), 403);
	cr_assert(gfs_auth_token(fx.auth, 7, 2, GFS_TOKEN_READ, c));
	snprintf(h2, sizeof(h2), "X-GFS-Clone-Token: %s", c);
	cr_assert_eq(call("PUT", u, two, NULL), 200);
}

Test(admit, reloads_keys)
{
	char msg[300];

	cr_assert_eq(with_key("GET", "/files/a", "new-key-0123456789abcdef"),
		     401);
	write_file(fx.keys, "new new-key-0123456789abcdef ro\n", 0600);
	cr_assert_eq(gfs_auth_reload(fx.auth, msg, sizeof(msg)), GFS_OK,
		     "%s", msg);
	cr_assert_eq(with_key("GET", "/files/a", "new-key-0123456789abcdef"),
		     200);
	cr_assert_eq(with_key("GET", "/files/a", RO_KEY), 401);
	write_file(fx.keys, "broken\n", 0600);
	cr_assert_neq(gfs_auth_reload(fx.auth, msg, sizeof(msg)), GFS_OK);
	cr_assert_eq(with_key("GET", "/files/a", "new-key-0123456789abcdef"),
		     200, "a bad file dropped the keys in use");
}

Test(admit, refuses_secrets_others_may_read)
{
	struct gfs_auth_conf c = { .secret_file = fx.secret };
	char msg[300];

	chmod(fx.secret, 0604);
	cr_assert_null(gfs_auth_new(&c, msg, sizeof(msg)));
	cr_assert(strstr(msg, "chmod o-rwx"), "%s", msg);
}

TestSuite(private_status, .init = setup_private, .fini = teardown);

Test(private_status, needs_a_key)
{
	cr_assert_eq(call("GET", "/pub", NULL, NULL), 401);
	cr_assert_eq(with_key("GET", "/pub", RO_KEY), 200);
	cr_assert_eq(signed_call(fx.auth, "GET", "/pub", NULL, NULL, NULL),
		     200);
}

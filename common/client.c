/*
 * client.c - metadata calls to the primary master, with failover.
 *
 * Fencing: the client keeps the highest epoch any master's reply carried
 * and ignores the reply of a master with a lower one, as if it had said
 * 421 (a primary that was replaced and does not know it yet).
 *
 * Finding the primary: the client keeps the index of the master that last
 * answered as primary.  A refused connection, a 421 (with X-GFS-Primary
 * naming the primary when the master knows it) or a 503 "unavailable"
 * (a master in probation or promoting) moves it to the next candidate;
 * after a full round without an answer it waits a little and tries again,
 * until conf->failover_ms has passed.  A call the master refused is
 * tried again elsewhere; so is any call whose connection broke: reads,
 * commits, setattr and chunk allocations are idempotent, and every other
 * mutation carries an X-GFS-Request id, the same in every attempt, which
 * the master remembers in its log, so a mutation that did land the first
 * time is answered as it was instead of being applied again (docs/
 * PROTOCOL.md, "Request ids").
 *
 * File reading and writing live in file.c; this file is the master side.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/random.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client.h"
#include "client_internal.h"
#include "constants.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "path.h"
#include "util.h"

/* The last error message a peer sent on this thread (like errno). */
static __thread char last_error[512];

const char *gfs_client_last_error(void)
{
	return last_error;
}

void gfs_client_set_error(enum gfs_err err, const char *msg)
{
	if (msg && *msg)
		snprintf(last_error, sizeof(last_error), "%s", msg);
	else
		snprintf(last_error, sizeof(last_error), "%s",
			 gfs_err_str(err));
}

void gfs_client_set_error_from(enum gfs_err err, const char *msg,
			       const char *url)
{
	snprintf(last_error, sizeof(last_error), "%.300s (from %.200s)",
		 msg && *msg ? msg : gfs_err_str(err), url);
}

static char **split_urls(const char *list, size_t *n)
{
	char *copy = gfs_xstrdup(list), *save = NULL, *tok;
	char **urls = NULL;

	*n = 0;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t len;

		while (*tok == ' ')
			tok++;
		len = strlen(tok);
		while (len && (tok[len - 1] == '/' || tok[len - 1] == ' '))
			tok[--len] = '\0';
		if (!len)
			continue;
		urls = gfs_xrealloc(urls, (*n + 1) * sizeof(*urls));
		urls[(*n)++] = strncmp(tok, "http://", 7) &&
					       strncmp(tok, "https://", 8)
				       ? gfs_xasprintf("http://%s", tok)
				       : gfs_xstrdup(tok);
	}
	free(copy);
	return urls;
}

/* Fill seed with random bits; without entropy (never on Linux once
 * booted), time, process and address still tell this client apart. */
static void seed_request_ids(uint64_t seed[2])
{
	ssize_t got;

	do
		got = getrandom(seed, 2 * sizeof(*seed), 0);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)(2 * sizeof(*seed))) {
		seed[0] = (uint64_t)gfs_now_ns();
		seed[1] = (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)seed;
	}
}

/* The header line for key, or NULL (no key). */
static char *auth_header(const char *key)
{
	return key && *key ? gfs_xasprintf("Authorization: Bearer %s", key)
			   : NULL;
}

struct gfs_client *gfs_client_new(const struct gfs_client_conf *conf)
{
	struct gfs_client_shared *sh;
	struct gfs_client *c;

	sh = gfs_xcalloc(1, sizeof(*sh));
	sh->masters = split_urls(conf->masters ? conf->masters : "",
				 &sh->nmasters);
	if (!sh->nmasters) {
		gfs_error("no master URL given");
		free(sh->masters);
		free(sh);
		return NULL;
	}
	pthread_mutex_init(&sh->lock, NULL);
	seed_request_ids(sh->req_seed);
	sh->refs = 1;
	sh->pool = gfs_http_pool_new(conf->max_conns ? conf->max_conns : 64);
	sh->window = gfs_window_pool_new(conf->window_bytes
						 ? conf->window_bytes
						 : (size_t)256 << 20);
	gfs_http_pool_set_ca(sh->pool, conf->ca_file);
	sh->timeout_ms = conf->timeout_ms ? conf->timeout_ms : 10000;
	sh->failover_ms = conf->failover_ms ? conf->failover_ms : 30000;
	sh->dirattrs = gfs_dirattrs_new(conf->dir_attrs_ms);
	sh->statahead = gfs_statahead_new(conf->stat_ahead_ms);
	c = gfs_xcalloc(1, sizeof(*c));
	c->sh = sh;
	c->id = conf->client_id ? gfs_xstrdup(conf->client_id) : NULL;
	c->auth = auth_header(conf->key);
	c->pre = gfs_preplace_new();
	return c;
}

struct gfs_client *gfs_client_as(struct gfs_client *c, const char *id,
				 const char *key)
{
	struct gfs_client *v = gfs_xcalloc(1, sizeof(*v));

	pthread_mutex_lock(&c->sh->lock);
	c->sh->refs++;
	pthread_mutex_unlock(&c->sh->lock);
	v->sh = c->sh;
	v->id = id ? gfs_xstrdup(id) : NULL;
	v->auth = auth_header(key);
	v->pre = gfs_preplace_new();
	return v;
}

char *gfs_client_read_key(const char *file, char *msg, size_t len)
{
	char *text = NULL, *s, *e, *key = NULL;
	size_t n = 0;

	if (gfs_read_file(file, 4096, false, &text, &n, msg, len))
		return NULL;
	for (s = text; *s && strchr(" \t\r\n", *s); s++)
		;
	for (e = s; *e && !strchr(" \t\r\n", *e); e++)
		;
	if (e == s || e[strspn(e, " \t\r\n")])
		snprintf(msg, len, "%s: want one key (and nothing else)", file);
	else
		key = gfs_xasprintf("%.*s", (int)(e - s), s);
	explicit_bzero(text, n);
	free(text);
	return key;
}

void gfs_client_free(struct gfs_client *c)
{
	struct gfs_client_shared *sh;
	unsigned refs;
	size_t i;

	if (!c)
		return;
	sh = c->sh;
	pthread_mutex_lock(&sh->lock);
	refs = --sh->refs;
	pthread_mutex_unlock(&sh->lock);
	free(c->id);
	if (c->auth)
		explicit_bzero(c->auth, strlen(c->auth));
	free(c->auth);
	gfs_preplace_free(c->pre);
	free(c);
	if (refs)
		return;
	for (i = 0; i < sh->nmasters; i++)
		free(sh->masters[i]);
	free(sh->masters);
	free(sh->named_primary);
	for (i = 0; i < sh->nurls; i++)
		free(sh->urls[i]);
	free(sh->urls);
	gfs_http_pool_free(sh->pool);
	gfs_window_pool_free(sh->window);
	gfs_dirattrs_free(sh->dirattrs);
	gfs_statahead_free(sh->statahead);
	pthread_mutex_destroy(&sh->lock);
	free(sh);
}

const char *gfs_client_intern(struct gfs_client *c, const char *url)
{
	struct gfs_client_shared *sh = c->sh;
	const char *found = NULL;
	size_t i;

	pthread_mutex_lock(&sh->lock);
	for (i = 0; i < sh->nurls && !found; i++)
		if (!strcmp(sh->urls[i], url))
			found = sh->urls[i];
	if (!found) {
		sh->urls = gfs_xrealloc(sh->urls,
					(sh->nurls + 1) * sizeof(*sh->urls));
		found = sh->urls[sh->nurls++] = gfs_xstrdup(url);
	}
	pthread_mutex_unlock(&sh->lock);
	return found;
}

const char *gfs_client_id(const struct gfs_client *c)
{
	return c->id;
}

/* The master to try now, copied into buf. */
static void current_master(struct gfs_client_shared *sh, char *buf,
			   size_t len)
{
	pthread_mutex_lock(&sh->lock);
	snprintf(buf, len, "%s",
		 sh->named_primary ? sh->named_primary
				   : sh->masters[sh->current % sh->nmasters]);
	pthread_mutex_unlock(&sh->lock);
}

/* The master at url did not serve us: move on, to named if it named one. */
static void next_master(struct gfs_client_shared *sh, const char *url,
			const char *named)
{
	pthread_mutex_lock(&sh->lock);
	if (sh->named_primary && !strcmp(sh->named_primary, url)) {
		free(sh->named_primary);
		sh->named_primary = NULL;
	} else if (!strcmp(sh->masters[sh->current % sh->nmasters], url)) {
		sh->current = (sh->current + 1) % sh->nmasters;
	}
	if (named && *named && strcmp(named, url)) {
		size_t i;

		for (i = 0; i < sh->nmasters; i++)
			if (!strcmp(sh->masters[i], named))
				break;
		free(sh->named_primary);
		sh->named_primary = NULL;
		if (i < sh->nmasters)
			sh->current = i;
		else
			sh->named_primary = gfs_xstrdup(named);
	}
	pthread_mutex_unlock(&sh->lock);
}

/* Take in the epoch of a master's reply; false when it is lower than one
 * seen before: that master was replaced and its answer must not count. */
static bool note_epoch(struct gfs_client_shared *sh, uint64_t epoch)
{
	bool current;

	pthread_mutex_lock(&sh->lock);
	current = epoch >= sh->epoch;
	if (epoch > sh->epoch)
		sh->epoch = epoch;
	pthread_mutex_unlock(&sh->lock);
	return current;
}

size_t gfs_client_masters(struct gfs_client *c, const char *const **urls)
{
	*urls = (const char *const *)c->sh->masters;
	return c->sh->nmasters;
}

uint64_t gfs_client_epoch(struct gfs_client *c)
{
	uint64_t e;

	pthread_mutex_lock(&c->sh->lock);
	e = c->sh->epoch;
	pthread_mutex_unlock(&c->sh->lock);
	return e;
}

/* Did the master refuse the call, so that trying elsewhere is safe? */
static bool refused(enum gfs_err err, const struct gfs_http_reply *r)
{
	if (err == GFS_EUNAVAIL && r->status == 0)
		return true; /* no connection */
	if (err == GFS_ENOTPRIMARY)
		return true;
	return err == GFS_EUNAVAIL && r->status == 503;
}

/* A fresh request id for a mutation into buf: the client's 128 random
 * bits (from getrandom once, at gfs_client_new()) plus a counter, as 32
 * lowercase hex digits: unique without a system call per call. */
static void new_request_id(struct gfs_client_shared *sh,
			   char buf[GFS_REQUEST_ID_HEX + 1])
{
	uint64_t n;

	pthread_mutex_lock(&sh->lock);
	n = sh->req_next++;
	pthread_mutex_unlock(&sh->lock);
	snprintf(buf, GFS_REQUEST_ID_HEX + 1, "%016llx%016llx",
		 (unsigned long long)sh->req_seed[0],
		 (unsigned long long)(sh->req_seed[1] + n));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static const char no_conn_msg[] = "no free connection for a call to the "
				  "master";

/* No connection came free in time: *r says so, and no master is to blame
 * (the call is not tried elsewhere). */
static enum gfs_err no_connection(struct gfs_http_reply *r)
{
	r->err = GFS_ETIMEDOUT;
	r->message = no_conn_msg;
	return r->err;
}

/* One attempt against url; fills *r.  reqh: the X-GFS-Request header
 * line, or NULL.  A connection is borrowed for this attempt alone, so
 * that calls waiting for one get theirs between attempts. */
static enum gfs_err attempt(struct gfs_client *c, const char *base,
			    const char *method, const char *route,
			    const char *body, const char *reqh,
			    struct gfs_http_reply *r)
{
	struct gfs_client_shared *sh = c->sh;
	char url[GFS_PATH_MAX * 3 + 512], idh[300], eph[64];
	const char *hdrs[6];
	struct gfs_http_opts o = { 0 };
	struct gfs_http *h;
	enum gfs_err err;
	int n = 0;

	snprintf(url, sizeof(url), "%s%s%s", base, GFS_API, route);
	if (c->id) {
		snprintf(idh, sizeof(idh), "%s: %s", GFS_HDR_CLIENT, c->id);
		hdrs[n++] = idh;
	}
	if (c->auth)
		hdrs[n++] = c->auth;
	snprintf(eph, sizeof(eph), "%s: %llu", GFS_HDR_EPOCH,
		 (unsigned long long)gfs_client_epoch(c));
	hdrs[n++] = eph;
	if (reqh)
		hdrs[n++] = reqh;
	if (body)
		hdrs[n++] = "Content-Type: application/json";
	hdrs[n] = NULL;
	o.headers = hdrs;
	o.body = body;
	o.len = body ? strlen(body) : 0;
	o.timeout_ms = sh->timeout_ms;
	o.connect_ms = 2000;
	if (gfs_http_pool_get(sh->pool, sh->timeout_ms, &h))
		return no_connection(r);
	err = gfs_http_call(h, method, url, &o, r);
	gfs_http_pool_put(sh->pool, h);
	if (r->epoch && !note_epoch(sh, r->epoch)) {
		gfs_debug("%s answered with epoch %llu, older than one seen: "
			  "ignored", base, (unsigned long long)r->epoch);
		json_decref(r->json);
		r->json = NULL;
		r->message = NULL;
		free(r->primary); /* it knows no better who leads */
		r->primary = NULL;
		return GFS_ENOTPRIMARY;
	}
	return err;
}

/* What each master answered during one call (the last answer of each),
 * for the message of a call that found no primary. */
#define TRIED_MAX 8
struct tried {
	size_t n;
	char url[TRIED_MAX][512];
	char why[TRIED_MAX][112];
	bool answered;            /* some master replied (421, 503) */
};

static void tried_note(struct tried *t, const char *base, enum gfs_err err,
		       const struct gfs_http_reply *r)
{
	size_t i;

	for (i = 0; i < t->n && strcmp(t->url[i], base); i++)
		;
	if (i == TRIED_MAX)
		return;
	if (i == t->n)
		snprintf(t->url[t->n++], sizeof(t->url[0]), "%s", base);
	if (r->status)
		snprintf(t->why[i], sizeof(t->why[0]), "%u %s", r->status,
			 r->message ? r->message : gfs_err_str(err));
	else
		snprintf(t->why[i], sizeof(t->why[0]), "%s",
			 r->failure[0] ? r->failure : gfs_err_str(err));
	t->answered |= r->status != 0;
}

/* "cannot reach a master at A, B: connection refused; is gfs-master
 * running? set --master or GFS_MASTER", or with each answer after its
 * URL when they differ. */
static void tried_report(const struct tried *t, enum gfs_err err)
{
	char msg[512];
	size_t i, len, same = 1;
	int n;

	for (i = 1; i < t->n; i++)
		same += !strcmp(t->why[i], t->why[0]);
	n = snprintf(msg, sizeof(msg), "cannot reach %s master at ",
		     t->answered ? "the primary" : "a");
	for (i = 0; i < t->n && n > 0 && (size_t)n < sizeof(msg); i++) {
		len = (size_t)n;
		n += snprintf(msg + len, sizeof(msg) - len, same == t->n
			      ? "%s%s" : "%s%s (%s)", i ? ", " : "",
			      t->url[i], t->why[i]);
	}
	len = GFS_MIN((size_t)GFS_MAX(n, 0), sizeof(msg) - 1);
	snprintf(msg + len, sizeof(msg) - len, "%s%s; %s",
		 same == t->n ? ": " : "", same == t->n ? t->why[0] : "",
		 t->answered ? "a failover may be under way: try again, or "
			       "see gfs status"
			     : "is gfs-master running? set --master or "
			       "GFS_MASTER");
	gfs_client_set_error(err, msg);
}

/* gfs_client_call(), for a mutation that changes touched and what is
 * below it alone (NULL: it may change anything). */
static enum gfs_err call(struct gfs_client *c, const char *method,
			 const char *route, json_t *body, json_t **reply,
			 const char *touched)
{
	struct gfs_client_shared *sh = c->sh;
	int64_t deadline = gfs_mono_ms() + sh->failover_ms;
	char *text = body ? gfs_json_dump(body) : NULL;
	char reqh[sizeof(GFS_HDR_REQUEST) + GFS_REQUEST_ID_HEX + 2];
	bool mutation = strcmp(method, "GET") != 0;
	struct gfs_http_reply r = { 0 };
	struct tried t = { 0 };
	enum gfs_err err;
	unsigned tries = 0;
	uint64_t ticket = 0;
	char base[512]; /* the master asked last */

	if (reply)
		*reply = NULL;
	if (mutation) {
		memcpy(reqh, GFS_HDR_REQUEST ": ", sizeof(GFS_HDR_REQUEST) + 1);
		new_request_id(sh, reqh + sizeof(GFS_HDR_REQUEST) + 1);
		ticket = gfs_dirattrs_begin(sh->dirattrs);
		gfs_statahead_touch(sh->statahead, touched);
	}
	for (;;) {
		current_master(sh, base, sizeof(base));
		gfs_http_reply_clear(&r);
		err = attempt(c, base, method, route, text,
			      mutation ? reqh : NULL, &r);
		tries++;
		if (!err || r.message == no_conn_msg || r.untrusted)
			break; /* (a certificate stays what it is) */
		/* refused, or the connection broke: safe to ask again */
		if (!refused(err, &r) && r.status != 0)
			break;
		tried_note(&t, base, err, &r);
		next_master(sh, base,
			    err == GFS_ENOTPRIMARY ? r.primary : NULL);
		if (gfs_mono_ms() > deadline)
			break;
		if (tries % sh->nmasters == 0)
			sleep_ms(tries < 20 ? 50 : 250);
	}
	free(text);
	if (mutation) {
		gfs_dirattrs_end(sh->dirattrs, ticket, err ? NULL : r.json);
		gfs_statahead_touch(sh->statahead, touched);
	}
	if (err && (refused(err, &r) || !r.status))
		tried_report(&t, err);
	else if (err)
		gfs_client_set_error_from(err, r.message, base);
	if (reply && r.json) {
		*reply = r.json;
		r.json = NULL;
	}
	gfs_http_reply_clear(&r);
	return err;
}

enum gfs_err gfs_client_call(struct gfs_client *c, const char *method,
			     const char *route, json_t *body, json_t **reply)
{
	return call(c, method, route, body, reply, NULL);
}

/* "/files" + encoded path + suffix, for a route. */
char *gfs_client_route(const char *what, const char *path,
		       const char *suffix)
{
	char *enc = gfs_url_encode(path, true);
	char *route = gfs_xasprintf("/%s%s%s", what,
				    strcmp(path, "/") ? enc : "/",
				    suffix ? suffix : "");

	free(enc);
	return route;
}

static enum gfs_err checked(const char *path)
{
	return gfs_path_check(path, strlen(path));
}

/* Call the master about path; route = what + path + suffix. */
static enum gfs_err path_call(struct gfs_client *c, const char *method,
			      const char *what, const char *path,
			      const char *suffix, json_t *body,
			      json_t **reply)
{
	enum gfs_err err = checked(path);
	char *route;

	if (reply)
		*reply = NULL;
	if (err) {
		gfs_client_set_error(err, NULL);
		if (body)
			json_decref(body);
		return err;
	}
	route = gfs_client_route(what, path, suffix);
	/* removing a name changes no other file's attributes (a file with
	 * more names is never in the statahead) */
	err = call(c, method, route, body, reply,
		   !strcmp(method, "DELETE") && !strcmp(what, "files")
			   ? path : NULL);
	free(route);
	if (body)
		json_decref(body);
	return err;
}

void gfs_client_parse_stat(json_t *j, struct gfs_stat *st)
{
	const char *type = "file";
	uint64_t u = 0;
	int64_t t = 0;

	static const struct { const char *name; uint32_t kind; } kinds[] = {
		{ "dir", S_IFDIR }, { "symlink", S_IFLNK }, { "fifo", S_IFIFO },
		{ "socket", S_IFSOCK }, { "char", S_IFCHR },
		{ "block", S_IFBLK },
	};
	size_t i;

	memset(st, 0, sizeof(*st));
	gfs_json_str(j, "type", false, &type);
	st->kind = S_IFREG;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(type, kinds[i].name))
			st->kind = kinds[i].kind;
	st->is_dir = st->kind == S_IFDIR;
	gfs_json_u64(j, "size", false, &st->size);
	gfs_json_i64(j, "mtime_ns", false, &t);
	st->mtime_ns = t;
	/* masters before inodes sent neither: mtime stands in */
	st->atime_ns = st->ctime_ns = t;
	gfs_json_i64(j, "atime_ns", false, &st->atime_ns);
	gfs_json_i64(j, "ctime_ns", false, &st->ctime_ns);
	if (!gfs_json_u64(j, "mode", false, &u))
		st->mode = (uint32_t)u & 07777;
	gfs_json_u64(j, "chunk_size", false, &st->chunk_size);
	gfs_json_u64(j, "ino", false, &st->ino);
	st->nlink = st->is_dir ? 2 : 1;
	if (!gfs_json_u64(j, "nlink", false, &u))
		st->nlink = (uint32_t)u;
	if (!gfs_json_u64(j, "uid", false, &u))
		st->uid = (uint32_t)u;
	if (!gfs_json_u64(j, "gid", false, &u))
		st->gid = (uint32_t)u;
	gfs_json_u64(j, "rdev", false, &st->rdev);
}

enum gfs_err gfs_client_stat_json(struct gfs_client *c, const char *path,
				  json_t **entry)
{
	return path_call(c, "GET", "files", path, "?stat=1", NULL, entry);
}

enum gfs_err gfs_client_stat(struct gfs_client *c, const char *path,
			     struct gfs_stat *st)
{
	json_t *j = NULL;
	enum gfs_err err;

	if (gfs_dirattrs_find(c->sh->dirattrs, path, st))
		return GFS_OK; /* as our own last mutation left it */
	err = gfs_client_stat_json(c, path, &j);

	if (!err)
		gfs_client_parse_stat(j, st);
	if (j)
		json_decref(j);
	return err;
}

/* gfs_client_list_each()'s call while the statahead fetches. */
static bool statahead_entry(void *cls, json_t *e)
{
	const char *name = NULL;
	struct gfs_stat st;

	if (gfs_json_str(e, "name", true, &name))
		return true;
	gfs_client_parse_stat(e, &st);
	return gfs_statahead_batch_add(cls, name, &st);
}

enum gfs_err gfs_client_stat_listed(struct gfs_client *c, const char *path,
				    struct gfs_stat *st)
{
	struct gfs_statahead *sa = c->sh->statahead;
	struct sa_batch *b;
	enum gfs_err err;
	uint64_t ticket;
	int64_t began;
	char *dir;

	if (gfs_dirattrs_find(c->sh->dirattrs, path, st) ||
	    gfs_statahead_find(sa, path, st))
		return GFS_OK;
	err = gfs_client_stat(c, path, st);
	if (err && err != GFS_ENOENT)
		return err;
	if ((dir = gfs_statahead_missed(sa, path, !err, &ticket))) {
		/* a walk: the listing answers the names that follow */
		began = gfs_mono_us();
		b = gfs_statahead_batch_new();
		gfs_statahead_fetched(sa, dir, ticket, began, b,
				      !gfs_client_list_each(c, dir, true,
							    statahead_entry,
							    b));
		free(dir);
	}
	return err;
}

enum gfs_err gfs_client_info(struct gfs_client *c, const char *path,
			     json_t **entry)
{
	return path_call(c, "GET", "files", path, NULL, NULL, entry);
}

enum gfs_err gfs_client_list_page(struct gfs_client *c, const char *path,
				  bool dir, const char *cursor,
				  unsigned limit, json_t **reply)
{
	enum gfs_err err = dir ? checked(path) : GFS_OK;
	char *enc, *cur = NULL, *route;

	*reply = NULL;
	if (err)
		return err;
	if (dir && !cursor)
		gfs_statahead_listed(c->sh->statahead, path);
	enc = gfs_url_encode(path, false);
	if (cursor)
		cur = gfs_url_encode(cursor, false);
	route = gfs_xasprintf("/files?%s=%s&limit=%u%s%s", dir ? "dir" : "prefix",
			      enc, limit ? limit : GFS_CLIENT_PAGE,
			      cur ? "&cursor=" : "", cur ? cur : "");
	free(enc);
	free(cur);
	err = gfs_client_call(c, "GET", route, NULL, reply);
	free(route);
	if (!err && !json_is_array(json_object_get(*reply, dir ? "entries"
								 : "files")))
		err = GFS_EIO;
	if (err && *reply) {
		json_decref(*reply);
		*reply = NULL;
	}
	return err;
}

enum gfs_err gfs_client_list_each(struct gfs_client *c, const char *path,
				  bool dir, bool (*fn)(void *cls, json_t *e),
				  void *cls)
{
	json_t *j, *e;
	char *cursor = NULL;
	const char *next;
	enum gfs_err err;
	bool go = true;
	size_t i;

	do {
		err = gfs_client_list_page(c, path, dir, cursor, 0, &j);
		free(cursor);
		cursor = NULL;
		if (err)
			break;
		json_array_foreach(json_object_get(j, dir ? "entries" : "files"),
				   i, e)
			if (go && !fn(cls, e))
				go = false;
		next = json_string_value(json_object_get(j, "next"));
		cursor = go && next ? gfs_xstrdup(next) : NULL;
		json_decref(j);
	} while (cursor);
	return err;
}

/* gfs_client_readdir()'s call for one entry. */
struct readdir_ctx {
	bool (*fn)(void *cls, const char *name, const struct gfs_stat *st);
	void *cls;
};

static bool readdir_entry(void *cls, json_t *e)
{
	struct readdir_ctx *r = cls;
	const char *name = NULL;
	struct gfs_stat st;

	if (gfs_json_str(e, "name", true, &name))
		return true;
	gfs_client_parse_stat(e, &st);
	return r->fn(r->cls, name, &st);
}

enum gfs_err gfs_client_readdir(struct gfs_client *c, const char *dir,
				bool (*fn)(void *cls, const char *name,
					   const struct gfs_stat *st),
				void *cls)
{
	struct readdir_ctx r = { fn, cls };

	return gfs_client_list_each(c, dir, true, readdir_entry, &r);
}

static enum gfs_err make(struct gfs_client *c, const char *path,
			 const char *type, uint32_t mode)
{
	json_t *j = NULL;
	enum gfs_err err = path_call(c, "PUT", "files", path, NULL,
				     json_pack("{s:s, s:i}", "type", type,
					       "mode", (int)(mode & 07777)),
				     &j);

	if (j)
		json_decref(j);
	return err;
}

enum gfs_err gfs_client_mkdir(struct gfs_client *c, const char *path,
			      uint32_t mode)
{
	return make(c, path, "dir", mode);
}

enum gfs_err gfs_client_create(struct gfs_client *c, const char *path,
			       uint32_t mode)
{
	return make(c, path, "file", mode);
}

static enum gfs_err simple(struct gfs_client *c, const char *method,
			   const char *what, const char *path,
			   const char *suffix, json_t *body)
{
	json_t *j = NULL;
	enum gfs_err err = path_call(c, method, what, path, suffix, body, &j);

	if (j)
		json_decref(j);
	return err;
}

enum gfs_err gfs_client_make(struct gfs_client *c, const char *path,
			     const struct gfs_make *mk)
{
	json_t *body = json_pack("{s:s, s:i, s:I, s:I}", "type", mk->type,
				 "mode", (int)(mk->mode & 07777), "uid",
				 (json_int_t)mk->uid, "gid",
				 (json_int_t)mk->gid);

	if (mk->rdev)
		json_object_set_new(body, "rdev",
				    json_integer((json_int_t)mk->rdev));
	if (mk->target)
		json_object_set_new(body, "target", json_string(mk->target));
	return simple(c, "PUT", "files", path, NULL, body);
}

/* A call on path naming a second path in to=: op=rename, op=link, with
 * more arguments ("&a=b...", or ""); *out (new; may be NULL: dropped)
 * the reply. */
static enum gfs_err two_paths(struct gfs_client *c, const char *path,
			      const char *op, const char *to,
			      const char *more, json_t **out)
{
	enum gfs_err err = checked(to);
	char *enc, *suffix;
	json_t *j = NULL;

	if (err) {
		gfs_client_set_error(err, NULL);
		return err;
	}
	enc = gfs_url_encode(to, false);
	suffix = gfs_xasprintf("?op=%s&to=%s%s", op, enc, more);
	err = path_call(c, "POST", "files", path, suffix, NULL, &j);
	free(enc);
	free(suffix);
	if (out)
		*out = j;
	else if (j)
		json_decref(j);
	return err;
}

enum gfs_err gfs_client_link(struct gfs_client *c, const char *path,
			     const char *to)
{
	return two_paths(c, path, "link", to, "", NULL);
}

enum gfs_err gfs_client_readlink(struct gfs_client *c, const char *path,
				 char *buf, size_t len)
{
	json_t *j = NULL;
	const char *target = NULL;
	enum gfs_err err = gfs_client_stat_json(c, path, &j);

	if (!err && gfs_json_str(j, "target", true, &target))
		err = GFS_EINVAL;
	if (!err && len)
		snprintf(buf, len, "%s", target);
	if (j)
		json_decref(j);
	return err;
}

enum gfs_err gfs_client_setattrs(struct gfs_client *c, const char *path,
				 const struct gfs_setattr *a)
{
	json_t *body = json_object();

	if (a->which & GFS_SETA_MODE)
		json_object_set_new(body, "mode",
				    json_integer((json_int_t)(a->mode & 07777)));
	if (a->which & GFS_SETA_UID)
		json_object_set_new(body, "uid", json_integer(a->uid));
	if (a->which & GFS_SETA_GID)
		json_object_set_new(body, "gid", json_integer(a->gid));
	if (a->which & GFS_SETA_ATIME)
		json_object_set_new(body, "atime_ns",
				    json_integer((json_int_t)a->atime_ns));
	if (a->which & GFS_SETA_MTIME)
		json_object_set_new(body, "mtime_ns",
				    json_integer((json_int_t)a->mtime_ns));
	return simple(c, "POST", "files", path, "?op=setattr", body);
}

enum gfs_err gfs_client_unlink(struct gfs_client *c, const char *path)
{
	return simple(c, "DELETE", "files", path, "?type=file", NULL);
}

enum gfs_err gfs_client_rmdir(struct gfs_client *c, const char *path)
{
	return simple(c, "DELETE", "files", path, "?type=dir", NULL);
}

enum gfs_err gfs_client_rename(struct gfs_client *c, const char *from,
			       const char *to, bool overwrite)
{
	return two_paths(c, from, "rename", to,
			 overwrite ? "&overwrite=1" : "", NULL);
}

/* What a removal's reply j (taken; may be NULL) of a call that ended
 * with err says: the kept file in "kept", the names left in "links"
 * (each 0 when absent) and one of them in "other".  err, or GFS_EIO when j names them badly. */
static enum gfs_err removal_of_reply(enum gfs_err err, json_t *j,
				     struct gfs_removal *r)
{
	uint64_t links = 0;
	const char *other;

	r->kept = 0;
	r->links = 0;
	r->other[0] = '\0';
	if (!err && json_object_get(j, "kept") &&
	    gfs_json_handle(j, "kept", true, &r->kept))
		err = GFS_EIO;
	if (!err && (gfs_json_u64(j, "links", false, &links) ||
		     links > UINT32_MAX))
		err = GFS_EIO;
	r->links = err ? 0 : (uint32_t)links;
	if (!err && r->links && (other = json_string_value(
					 json_object_get(j, "other"))) &&
	    !gfs_path_check(other, strlen(other)))
		snprintf(r->other, sizeof(r->other), "%s", other);
	if (j)
		json_decref(j);
	return err;
}

enum gfs_err gfs_client_rename_keep(struct gfs_client *c, const char *from,
				    const char *to, unsigned ttl_s,
				    struct gfs_removal *out)
{
	char more[48];
	json_t *j = NULL;
	enum gfs_err err;

	snprintf(more, sizeof(more), "&overwrite=1&keep=%u", ttl_s);
	err = two_paths(c, from, "rename", to, more, &j);
	return removal_of_reply(err, j, out);
}

enum gfs_err gfs_client_setattr(struct gfs_client *c, const char *path,
				const uint32_t *mode, const int64_t *mtime_ns)
{
	struct gfs_setattr a = {
		.which = (mode ? GFS_SETA_MODE : 0) |
			 (mtime_ns ? GFS_SETA_MTIME : 0),
		.mode = mode ? *mode : 0, .mtime_ns = mtime_ns ? *mtime_ns : 0,
	};

	return gfs_client_setattrs(c, path, &a);
}

static void parse_lease(json_t *j, struct gfs_lease *out)
{
	const char *holder = "";
	int64_t exp = 0;

	if (!out)
		return;
	gfs_json_str(j, "holder", false, &holder);
	gfs_json_i64(j, "expires_ms", false, &exp);
	snprintf(out->holder, sizeof(out->holder), "%s", holder);
	out->expires_ms = exp;
}

enum gfs_err gfs_client_lease(struct gfs_client *c, const char *path,
			      unsigned ttl_s, struct gfs_lease *out)
{
	char suffix[64] = "";
	json_t *j = NULL;
	enum gfs_err err;

	if (ttl_s)
		snprintf(suffix, sizeof(suffix), "?ttl=%u", ttl_s);
	err = path_call(c, "PUT", "leases", path, suffix, NULL, &j);
	if (!err)
		parse_lease(j, out);
	if (j)
		json_decref(j);
	return err;
}

enum gfs_err gfs_client_unlease(struct gfs_client *c, const char *path)
{
	return simple(c, "DELETE", "leases", path, NULL, NULL);
}

enum gfs_err gfs_client_lease_info(struct gfs_client *c, const char *path,
				   struct gfs_lease *out)
{
	json_t *j = NULL;
	enum gfs_err err = path_call(c, "GET", "leases", path, NULL, NULL, &j);

	if (!err)
		parse_lease(j, out);
	if (j)
		json_decref(j);
	return err;
}

/* "?name=NAME", URL-encoded (caller frees). */
static char *name_arg(const char *name)
{
	char *enc = gfs_url_encode(name, false), *s;

	s = gfs_xasprintf("?name=%s", enc);
	free(enc);
	return s;
}

/* A call about path's attributes, or (path NULL) kept file kept's;
 * route = the xattrs route + suffix (may be NULL).  Takes body. */
static enum gfs_err xattr_call(struct gfs_client *c, const char *method,
			       const char *path, uint64_t kept,
			       const char *suffix, json_t *body,
			       json_t **reply)
{
	enum gfs_err err;
	char *route;

	if (path)
		return path_call(c, method, "xattrs", path, suffix, body,
				 reply);
	*reply = NULL;
	route = gfs_xasprintf("/kept/%016" PRIx64 "/xattrs%s", kept,
			      suffix ? suffix : "");
	err = gfs_client_call(c, method, route, body, reply);
	free(route);
	if (body)
		json_decref(body);
	return err;
}

static enum gfs_err xattrs_of(struct gfs_client *c, const char *path,
			      uint64_t kept, const char *name,
			      json_t **xattrs)
{
	char *suffix = name ? name_arg(name) : NULL;
	json_t *j = NULL;
	enum gfs_err err = xattr_call(c, "GET", path, kept, suffix, NULL, &j);

	*xattrs = NULL;
	if (!err) {
		*xattrs = json_incref(json_object_get(j, "xattrs"));
		if (!json_is_object(*xattrs))
			err = GFS_EIO;
	}
	if (err && *xattrs) {
		json_decref(*xattrs);
		*xattrs = NULL;
	}
	if (j)
		json_decref(j);
	free(suffix);
	return err;
}

static enum gfs_err xattr_set(struct gfs_client *c, const char *path,
			      uint64_t kept, const char *name,
			      const void *value, size_t len,
			      enum gfs_xattr_flag flag)
{
	char *b64 = gfs_b64_encode(value, len);
	json_t *body = json_pack("{s:s, s:s}", "name", name, "value", b64);
	json_t *j = NULL;
	enum gfs_err err;

	free(b64);
	if (!body) { /* name is not UTF-8 */
		gfs_client_set_error(GFS_EILSEQ, NULL);
		return GFS_EILSEQ;
	}
	if (flag != GFS_XATTR_ANY)
		json_object_set_new(body, "flag", json_string(
			flag == GFS_XATTR_CREATE ? "create" : "replace"));
	err = xattr_call(c, "PUT", path, kept, NULL, body, &j);
	if (j)
		json_decref(j);
	return err;
}

static enum gfs_err xattr_remove(struct gfs_client *c, const char *path,
				 uint64_t kept, const char *name)
{
	char *suffix = name_arg(name);
	json_t *j = NULL;
	enum gfs_err err = xattr_call(c, "DELETE", path, kept, suffix, NULL,
				      &j);

	if (j)
		json_decref(j);
	free(suffix);
	return err;
}

enum gfs_err gfs_client_xattrs(struct gfs_client *c, const char *path,
			       const char *name, json_t **xattrs)
{
	return xattrs_of(c, path, 0, name, xattrs);
}

enum gfs_err gfs_client_xattr_set(struct gfs_client *c, const char *path,
				  const char *name, const void *value,
				  size_t len, enum gfs_xattr_flag flag)
{
	return xattr_set(c, path, 0, name, value, len, flag);
}

enum gfs_err gfs_client_xattr_remove(struct gfs_client *c, const char *path,
				     const char *name)
{
	return xattr_remove(c, path, 0, name);
}

enum gfs_err gfs_client_kept_xattrs(struct gfs_client *c, uint64_t kept,
				    const char *name, json_t **xattrs)
{
	return xattrs_of(c, NULL, kept, name, xattrs);
}

enum gfs_err gfs_client_kept_xattr_set(struct gfs_client *c, uint64_t kept,
				       const char *name, const void *value,
				       size_t len, enum gfs_xattr_flag flag)
{
	return xattr_set(c, NULL, kept, name, value, len, flag);
}

enum gfs_err gfs_client_kept_xattr_remove(struct gfs_client *c,
					  uint64_t kept, const char *name)
{
	return xattr_remove(c, NULL, kept, name);
}

enum gfs_err gfs_client_unlink_keep(struct gfs_client *c, const char *path,
				    unsigned ttl_s, struct gfs_removal *out)
{
	char suffix[32];
	json_t *j = NULL;
	enum gfs_err err;

	snprintf(suffix, sizeof(suffix), "?keep=%u", ttl_s);
	err = path_call(c, "DELETE", "files", path, suffix, NULL, &j);
	return removal_of_reply(err, j, out);
}

enum gfs_err gfs_client_kept(struct gfs_client *c, uint64_t kept, bool drop,
			     int64_t *expires_ms)
{
	char route[48];
	json_t *j = NULL;
	enum gfs_err err;

	snprintf(route, sizeof(route), "/kept/%016" PRIx64, kept);
	err = gfs_client_call(c, drop ? "DELETE" : "PUT", route, NULL, &j);
	if (!err && expires_ms)
		gfs_json_i64(j, "expires_ms", false, expires_ms);
	if (j)
		json_decref(j);
	return err;
}

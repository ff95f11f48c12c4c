/*
 * etcd.c - etcd v3 over its JSON gateway; see etcd.h.
 *
 * Each call builds a small JSON request, POSTs it to the current
 * endpoint, and reads the reply.  A reply counts as an answer when it is
 * a JSON object from etcd (2xx, or an error etcd itself reports, such as
 * "lease not found"); no connection, a timeout, or an error that says
 * this member cannot serve now (gRPC UNAVAILABLE, DEADLINE_EXCEEDED: a
 * member cut off from its quorum) moves on to the next endpoint.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "etcd.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "urllist.h"
#include "util.h"

#define ETCD_MAX_ENDPOINTS 16
#define ETCD_REPLY_MAX (1u << 20)
#define GRPC_DEADLINE_EXCEEDED 4
#define GRPC_NOT_FOUND 5
#define GRPC_UNAVAILABLE 14

struct gfs_etcd {
	char **urls;           /* endpoints, owned (urllist) */
	size_t n;
	size_t cur;            /* the one that answered last */
	long timeout_ms;       /* deadline of one call */
	struct gfs_http *http; /* owned */
};

struct gfs_etcd *gfs_etcd_new(const char *urls, long timeout_ms)
{
	struct gfs_etcd *e;
	size_t n;
	char **list = gfs_urllist_split(urls, ETCD_MAX_ENDPOINTS, &n);

	if (!list || !n) {
		gfs_urllist_free(list);
		return NULL;
	}
	e = gfs_xcalloc(1, sizeof(*e));
	e->urls = list;
	e->n = n;
	e->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	e->http = gfs_http_new();
	return e;
}

void gfs_etcd_free(struct gfs_etcd *e)
{
	if (!e)
		return;
	gfs_urllist_free(e->urls);
	gfs_http_free(e->http);
	free(e);
}

const char *gfs_etcd_endpoint(const struct gfs_etcd *e)
{
	return e->urls[e->cur];
}

/* ---- encoding ---------------------------------------------------------- */

static json_t *b64_json(const char *s)
{
	char *b = gfs_b64_encode(s, strlen(s));
	json_t *j = json_string(b);

	free(b);
	return j;
}

static json_t *int64_json(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

/* A 64-bit member: etcd writes them as strings, absent when zero. */
static int64_t int64_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	return 0;
}

/* ---- calls ------------------------------------------------------------- */

/* Did endpoint give an answer we can use (true), or should the next one
 * be asked? */
static bool answered(enum gfs_err err, const struct gfs_http_reply *r)
{
	int64_t code;

	if (!r->status || !r->json)
		return false;
	if (r->status < 500 && !err)
		return true;
	code = int64_of(r->json, "code");
	return code != GRPC_UNAVAILABLE && code != GRPC_DEADLINE_EXCEEDED &&
	       r->status != 503 && r->status != 504;
}

/*
 * POST body (taken) to route; *out is the reply object (new reference).
 * GFS_EUNAVAIL when no endpoint answered in time, GFS_ENOENT when etcd
 * said NotFound, GFS_EIO for any other error it reported.
 */
static enum gfs_err call(struct gfs_etcd *e, const char *route, json_t *body,
			 json_t **out)
{
	const char *hdrs[] = { "Content-Type: application/json", NULL };
	int64_t deadline = gfs_mono_ms() + e->timeout_ms;
	char *text = gfs_json_dump(body);
	struct gfs_http_reply r = { 0 };
	enum gfs_err err = GFS_EUNAVAIL;
	size_t i;

	json_decref(body);
	*out = NULL;
	for (i = 0; i < e->n; i++) {
		int64_t left = deadline - gfs_mono_ms();
		struct gfs_http_opts o = {
			.headers = hdrs, .body = text, .len = strlen(text),
			.max_reply = ETCD_REPLY_MAX,
		};
		char *url;

		if (left <= 0)
			break;
		o.timeout_ms = GFS_MAX(1, left / (int64_t)(e->n - i));
		o.connect_ms = o.timeout_ms;
		url = gfs_xasprintf("%s%s", e->urls[e->cur], route);
		err = gfs_http_call(e->http, "POST", url, &o, &r);
		free(url);
		if (answered(err, &r))
			break;
		gfs_debug("etcd %s%s: no answer (%s)", e->urls[e->cur], route,
			  r.message ? r.message : gfs_err_str(err));
		e->cur = (e->cur + 1) % e->n;
		err = GFS_EUNAVAIL;
		gfs_http_reply_clear(&r);
	}
	if (r.json && err) {
		err = int64_of(r.json, "code") == GRPC_NOT_FOUND ? GFS_ENOENT
								 : GFS_EIO;
		gfs_debug("etcd %s: %s", route, r.message ? r.message : "?");
	}
	if (!err) {
		*out = r.json;
		r.json = NULL;
	}
	gfs_http_reply_clear(&r);
	free(text);
	return err;
}

static int64_t header_rev(json_t *reply)
{
	return int64_of(json_object_get(reply, "header"), "revision");
}

void gfs_etcd_kv_clear(struct gfs_etcd_kv *kv)
{
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

enum gfs_err gfs_etcd_get(struct gfs_etcd *e, const char *key,
			  struct gfs_etcd_kv *kv, int64_t *rev)
{
	json_t *reply, *first;
	const char *v;
	enum gfs_err err;

	memset(kv, 0, sizeof(*kv));
	err = call(e, "/v3/kv/range", json_pack("{s:o}", "key", b64_json(key)),
		   &reply);
	if (err)
		return err;
	if (rev)
		*rev = header_rev(reply);
	first = json_array_get(json_object_get(reply, "kvs"), 0);
	if (first) {
		v = json_string_value(json_object_get(first, "value"));
		kv->value = gfs_b64_decode(v ? v : "", &kv->len);
		kv->create_rev = int64_of(first, "create_revision");
		kv->mod_rev = int64_of(first, "mod_revision");
		kv->lease = int64_of(first, "lease");
		if (!kv->value)
			err = GFS_EIO;
	}
	json_decref(reply);
	return err;
}

static json_t *cmp_json(const struct gfs_etcd_cmp *c)
{
	bool create = c->target == GFS_ETCD_CREATE;

	/* result EQUAL is etcd's zero value: left out */
	return json_pack("{s:s, s:o, s:o}", "target", create ? "CREATE" : "MOD",
			 "key", b64_json(c->key),
			 create ? "create_revision" : "mod_revision",
			 int64_json(c->rev));
}

static json_t *put_json(const struct gfs_etcd_put *p)
{
	json_t *req = json_pack("{s:o, s:o}", "key", b64_json(p->key), "value",
				b64_json(p->value));

	if (p->lease)
		json_object_set_new(req, "lease", int64_json(p->lease));
	return json_pack("{s:o}", "request_put", req);
}

enum gfs_err gfs_etcd_txn(struct gfs_etcd *e, const struct gfs_etcd_cmp *cmp,
			  size_t ncmp, const struct gfs_etcd_put *put,
			  size_t nput, bool *ok, int64_t *rev)
{
	json_t *cmps = json_array(), *puts = json_array(), *reply;
	enum gfs_err err;
	size_t i;

	for (i = 0; i < ncmp; i++)
		json_array_append_new(cmps, cmp_json(&cmp[i]));
	for (i = 0; i < nput; i++)
		json_array_append_new(puts, put_json(&put[i]));
	*ok = false;
	err = call(e, "/v3/kv/txn", json_pack("{s:o, s:o}", "compare", cmps,
					      "success", puts), &reply);
	if (err)
		return err;
	*ok = json_is_true(json_object_get(reply, "succeeded"));
	if (rev)
		*rev = header_rev(reply);
	json_decref(reply);
	return GFS_OK;
}

enum gfs_err gfs_etcd_grant(struct gfs_etcd *e, int64_t ttl_s, int64_t *id,
			    int64_t *ttl_s_out)
{
	json_t *reply;
	enum gfs_err err = call(e, "/v3/lease/grant",
				json_pack("{s:o}", "TTL", int64_json(ttl_s)),
				&reply);

	if (err)
		return err;
	*id = int64_of(reply, "ID");
	*ttl_s_out = int64_of(reply, "TTL");
	json_decref(reply);
	return *id && *ttl_s_out > 0 ? GFS_OK : GFS_EIO;
}

enum gfs_err gfs_etcd_keepalive(struct gfs_etcd *e, int64_t id,
				int64_t *ttl_s_out)
{
	json_t *reply;
	enum gfs_err err = call(e, "/v3/lease/keepalive",
				json_pack("{s:o}", "ID", int64_json(id)),
				&reply);

	if (err)
		return err;
	/* one message of the stream: {"result": {"ID", "TTL"}} */
	*ttl_s_out = int64_of(json_object_get(reply, "result"), "TTL");
	json_decref(reply);
	return *ttl_s_out > 0 ? GFS_OK : GFS_ENOENT;
}

enum gfs_err gfs_etcd_revoke(struct gfs_etcd *e, int64_t id)
{
	json_t *reply;
	enum gfs_err err = call(e, "/v3/lease/revoke",
				json_pack("{s:o}", "ID", int64_json(id)),
				&reply);

	if (err == GFS_ENOENT)
		return GFS_OK;
	if (!err)
		json_decref(reply);
	return err;
}

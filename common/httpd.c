/*
 * httpd.c - route table dispatch over libmicrohttpd.
 *
 * libmicrohttpd calls on_request() several times per request: once with
 * the headers, once per piece of body, once at the end.  The first call
 * matches a route and builds a struct gfs_req; the others feed the body to
 * the route and, at the end, run it.  Replies are made by handlers and
 * queued here, because libmicrohttpd only takes a response before the body
 * starts or after it ends: an error found mid-body is kept, the rest of the
 * body is read and dropped, and the error is sent at the end.
 *
 * URL decoding is ours, not libmicrohttpd's (its unescaper is replaced by
 * the identity), so that "%00" in a path is a 400 and not a silently
 * shortened name.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "constants.h"
#include "httpd.h"
#include "json.h"
#include "log.h"
#include "path.h"
#include "util.h"

/* A decoded query value, freed with the request. */
struct gfs_req_str {
	struct gfs_req_str *next;
	char s[];
};

/* A header to add to the reply. */
struct gfs_req_hdr {
	struct gfs_req_hdr *next;
	char *name;
	char *value;
};

/* Counters of one route, for /metrics. */
struct route_stats {
	atomic_ulong requests;   /* replies sent */
	atomic_ulong errors;     /* replies with status >= 400 */
	atomic_ulong usec;       /* summed handler time */
};

struct gfs_httpd {
	struct MHD_Daemon *mhd;
	const struct gfs_route *routes; /* borrowed, usually a const table */
	size_t nroutes;
	struct route_stats *stats;  /* one per route, plus unmatched last */
	void *app;
	uint16_t port;
};

/* libmicrohttpd's unescaper, replaced: we decode paths and values ourselves. */
static size_t identity_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

/* Match url against pattern; on a '*' match, star and star_len give the part. */
static bool pattern_match(const char *pattern, const char *url,
			  const char **star, size_t *star_len)
{
	const char *p = strchr(pattern, '*');
	size_t pre, post, len = strlen(url);

	*star = NULL;
	*star_len = 0;
	if (!p)
		return !strcmp(pattern, url);
	pre = (size_t)(p - pattern);
	post = strlen(p + 1);
	if (len < pre + post + 1 || strncmp(url, pattern, pre) ||
	    strcmp(url + len - post, p + 1))
		return false;
	*star = url + pre;
	*star_len = len - pre - post;
	return true;
}

static bool has_arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name) !=
	       NULL;
}

/*
 * Find the route for method and url.  *err is GFS_ENOROUTE when no pattern
 * matches and GFS_EMETHOD when one matches with another method.  O(routes).
 */
static const struct gfs_route *find_route(struct gfs_httpd *h,
					  struct MHD_Connection *c,
					  const char *method, const char *url,
					  const char **star, size_t *star_len,
					  enum gfs_err *err)
{
	size_t i;

	*err = GFS_ENOROUTE;
	for (i = 0; i < h->nroutes; i++) {
		const struct gfs_route *r = &h->routes[i];

		if (!pattern_match(r->pattern, url, star, star_len))
			continue;
		if (r->query && !has_arg(c, r->query))
			continue;
		if (strcmp(r->method, method)) {
			*err = GFS_EMETHOD;
			continue;
		}
		return r;
	}
	return NULL;
}

static void req_free(struct gfs_req *req)
{
	while (req->strs) {
		struct gfs_req_str *s = req->strs;

		req->strs = s->next;
		free(s);
	}
	while (req->hdrs) {
		struct gfs_req_hdr *hd = req->hdrs;

		req->hdrs = hd->next;
		free(hd->name);
		free(hd->value);
		free(hd);
	}
	if (req->resp)
		MHD_destroy_response(req->resp);
	free(req->path);
	free(req->body);
	free(req);
}

static struct route_stats *stats_of(struct gfs_httpd *h,
				    const struct gfs_route *r)
{
	return &h->stats[r ? (size_t)(r - h->routes) : h->nroutes];
}

/* Hand the reply to libmicrohttpd, once; MHD_NO closes the connection. */
static enum MHD_Result queue_reply(struct gfs_req *req)
{
	struct gfs_req_hdr *hd;
	enum MHD_Result rc;

	if (!req->resp) {
		gfs_error("bug: %s %s made no reply", req->method, req->url);
		gfs_reply_error(req, GFS_EINTERNAL, "handler made no reply");
		if (!req->resp)
			return MHD_NO;
	}
	for (hd = req->hdrs; hd; hd = hd->next)
		MHD_add_response_header(req->resp, hd->name, hd->value);
	rc = MHD_queue_response(req->conn, req->status, req->resp);
	req->queued = true;
	return rc;
}

/* First call for a request: route it, maybe refuse it before its body. */
static enum MHD_Result begin_request(struct gfs_httpd *h,
				     struct MHD_Connection *c,
				     const char *url, const char *method,
				     void **con_cls)
{
	struct gfs_req *req = gfs_xcalloc(1, sizeof(*req));
	const char *star, *clen;
	size_t star_len;
	enum gfs_err err;

	req->app = h->app;
	req->conn = c;
	req->method = method;
	req->url = url;
	req->start_ms = gfs_mono_ms();
	*con_cls = req;
	req->route = find_route(h, c, method, url, &star, &star_len, &err);
	if (!req->route) {
		gfs_reply_error(req, err, "%s %s", method, url);
		return queue_reply(req);
	}
	if (star) {
		char *dec;

		err = gfs_url_decode(star, star_len, &dec);
		if (err) {
			gfs_reply_error(req, err, "malformed URL path");
			return queue_reply(req);
		}
		req->path = gfs_xasprintf("/%s", dec);
		free(dec);
	}
	if (req->route->stream) {
		if (req->route->stream->begin)
			req->route->stream->begin(req);
		return req->resp ? queue_reply(req) : MHD_YES;
	}
	clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen) {
		uint64_t n, max = req->route->body_max ? req->route->body_max
						       : GFS_JSON_MAX;

		if (!gfs_parse_u64(clen, &n) || n > max) {
			gfs_reply_error(req, GFS_ETOOBIG,
					"body larger than %llu bytes",
					(unsigned long long)max);
			return queue_reply(req);
		}
	}
	return MHD_YES;
}

/* A piece of body: buffer it or pass it on. */
static void take_body(struct gfs_req *req, const char *data, size_t len)
{
	size_t max;

	req->body_seen += len;
	if (req->discard || req->resp)
		return;
	if (req->route->stream) {
		req->route->stream->data(req, data, len);
		if (req->resp)
			req->discard = true;
		return;
	}
	max = req->route->body_max ? req->route->body_max : GFS_JSON_MAX;
	if (req->body_len + len > max) {
		gfs_reply_error(req, GFS_ETOOBIG, "body larger than %zu bytes",
				max);
		req->discard = true;
		return;
	}
	req->body = gfs_xrealloc(req->body, req->body_len + len + 1);
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct gfs_req *req = *con_cls;

	(void)version;
	if (!req)
		return begin_request(cls, c, url, method, con_cls);
	if (req->queued) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		take_body(req, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!req->resp) {
		if (req->route->stream)
			req->route->stream->end(req);
		else
			req->route->handle(req);
	}
	return queue_reply(req);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct gfs_httpd *h = cls;
	struct gfs_req *req = *con_cls;
	struct route_stats *st;
	int64_t ms;

	(void)c;
	if (!req)
		return;
	ms = gfs_mono_ms() - req->start_ms;
	st = stats_of(h, req->route);
	atomic_fetch_add(&st->requests, 1);
	atomic_fetch_add(&st->usec, (unsigned long)ms * 1000);
	if (req->status >= 400 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		atomic_fetch_add(&st->errors, 1);
	gfs_debug("%s %s %u %lldms%s", req->method, req->url, req->status,
		  (long long)ms,
		  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (aborted)");
	if (req->route && req->route->stream && req->route->stream->done)
		req->route->stream->done(req);
	req_free(req);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	gfs_debug("httpd: %s", msg);
}

/* Split "ADDR:PORT", "[V6]:PORT" or ":PORT" and resolve ADDR. */
static bool parse_listen(const char *listen, struct sockaddr_storage *ss,
			 socklen_t *sslen)
{
	char host[256] = GFS_DEFAULT_HOST, *colon;
	const char *port;
	struct addrinfo hints = { 0 }, *ai;
	uint64_t p;

	if (strlen(listen) >= sizeof(host))
		return false;
	colon = strrchr(listen, ':');
	if (!colon)
		return false;
	port = colon + 1;
	if (colon > listen) {
		const char *a = listen, *e = colon;

		if (*a == '[' && e[-1] == ']') {
			a++;
			e--;
		}
		memcpy(host, a, (size_t)(e - a));
		host[e - a] = '\0';
	}
	if (!gfs_parse_u64(port, &p) || p > 65535)
		return false;
	hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai))
		return false;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

struct gfs_httpd *gfs_httpd_start(const char *listen,
				  const struct gfs_route *routes, size_t n,
				  void *app, size_t conn_memory)
{
	struct gfs_httpd *h = gfs_xcalloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	socklen_t sslen;
	/* poll(), not select(): a descriptor above 1023 must still work */
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;

	if (!parse_listen(listen, &ss, &sslen)) {
		gfs_error("cannot parse listen address '%s'", listen);
		free(h);
		return NULL;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	gfs_raise_nofile(); /* a descriptor per connection */
	h->routes = routes;
	h->nroutes = n;
	h->app = app;
	h->stats = gfs_xcalloc(n + 1, sizeof(*h->stats));
	h->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		conn_memory ? conn_memory : (size_t)GFS_HTTPD_SMALL,
		MHD_OPTION_CONNECTION_LIMIT, 1024u,
		MHD_OPTION_CONNECTION_TIMEOUT, 120u,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_UNESCAPE_CALLBACK, identity_unescape, NULL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_END);
	if (!h->mhd) {
		gfs_error("cannot listen on %s (address in use?)", listen);
		free(h->stats);
		free(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	return h;
}

void gfs_httpd_stop(struct gfs_httpd *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	free(h->stats);
	free(h);
}

uint16_t gfs_httpd_port(const struct gfs_httpd *h)
{
	return h->port;
}

void gfs_httpd_metrics(struct gfs_httpd *h, const char *prefix, char **buf)
{
	size_t i;

	gfs_appendf(buf, "# TYPE %s_http_requests_total counter\n", prefix);
	gfs_appendf(buf, "# TYPE %s_http_errors_total counter\n", prefix);
	gfs_appendf(buf, "# TYPE %s_http_seconds_total counter\n", prefix);
	for (i = 0; i <= h->nroutes; i++) {
		struct route_stats *st = &h->stats[i];
		const char *m = i < h->nroutes ? h->routes[i].method : "any";
		const char *p = i < h->nroutes ? h->routes[i].pattern : "none";
		unsigned long n = atomic_load(&st->requests);

		if (!n)
			continue;
		gfs_appendf(buf,
			"%s_http_requests_total{method=\"%s\",route=\"%s\"} %lu\n"
			"%s_http_errors_total{method=\"%s\",route=\"%s\"} %lu\n"
			"%s_http_seconds_total{method=\"%s\",route=\"%s\"} %.6f\n",
			prefix, m, p, n, prefix, m, p,
			atomic_load(&st->errors), prefix, m, p,
			(double)atomic_load(&st->usec) / 1e6);
	}
}

const char *gfs_req_header(struct gfs_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

enum gfs_err gfs_req_arg(struct gfs_req *req, const char *name,
			 const char **out)
{
	const char *raw = MHD_lookup_connection_value(
		req->conn, MHD_GET_ARGUMENT_KIND, name);
	struct gfs_req_str *s;
	enum gfs_err err;
	char *dec;

	*out = NULL;
	if (!raw)
		return GFS_OK;
	err = gfs_url_decode(raw, strlen(raw), &dec);
	if (err)
		return err;
	s = gfs_xmalloc(sizeof(*s) + strlen(dec) + 1);
	strcpy(s->s, dec);
	free(dec);
	s->next = req->strs;
	req->strs = s;
	*out = s->s;
	return GFS_OK;
}

enum gfs_err gfs_req_arg_u64(struct gfs_req *req, const char *name,
			     uint64_t def, uint64_t *out)
{
	const char *v;
	enum gfs_err err = gfs_req_arg(req, name, &v);

	if (err)
		return err;
	if (!v) {
		*out = def;
		return GFS_OK;
	}
	return gfs_parse_u64(v, out) ? GFS_OK : GFS_EINVAL;
}

json_t *gfs_req_json(struct gfs_req *req)
{
	json_t *j;
	enum gfs_err err = gfs_json_parse_object_max(
		req->body, req->body_len,
		req->route->body_max ? req->route->body_max : GFS_JSON_MAX, &j);

	if (err) {
		gfs_reply_error(req, err, "body is not a JSON object");
		return NULL;
	}
	return j;
}

void gfs_req_peer(struct gfs_req *req, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(buf, len, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  buf, (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
			  (socklen_t)len);
}

bool gfs_replied(const struct gfs_req *req)
{
	return req->resp != NULL;
}

/* Install resp as the reply unless one exists (then it is a bug). */
static void set_reply(struct gfs_req *req, unsigned status,
		      struct MHD_Response *resp, const char *type)
{
	if (!resp) {
		gfs_error("cannot build a reply for %s %s", req->method,
			  req->url);
		return;
	}
	if (req->resp) {
		gfs_error("bug: second reply to %s %s", req->method, req->url);
		MHD_destroy_response(resp);
		return;
	}
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					type);
	req->resp = resp;
	req->status = status;
}

void gfs_reply_bytes(struct gfs_req *req, unsigned status, const char *type,
		     void *buf, size_t len, bool take)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, buf, take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);

	if (!r && take)
		free(buf);
	set_reply(req, status, r, type);
}

void gfs_reply_fd(struct gfs_req *req, unsigned status, const char *type,
		  int fd, uint64_t off, uint64_t len)
{
	struct MHD_Response *r = NULL;
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (dup >= 0) {
		r = MHD_create_response_from_fd_at_offset64(len, dup, off);
		if (!r)
			close(dup);
	}
	set_reply(req, status, r, type);
}

void gfs_reply_json(struct gfs_req *req, unsigned status, json_t *body)
{
	char *text = gfs_json_dump(body);
	size_t len;

	json_decref(body);
	if (!text) {
		gfs_error("cannot encode a JSON reply");
		return;
	}
	len = strlen(text);
	text[len] = '\n'; /* replaces the NUL: the reply is text plus '\n' */
	gfs_reply_bytes(req, status, "application/json", text, len + 1, true);
}

void gfs_reply_error(struct gfs_req *req, enum gfs_err err,
		     const char *fmt, ...)
{
	char detail[512], msg[600], *safe;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s%s%s", gfs_err_str(err),
		 detail[0] ? ": " : "", detail);
	/* the detail may quote a client's bytes, or be cut inside a
	 * character: JSON takes only UTF-8 */
	safe = gfs_text_valid(msg) ? NULL : gfs_utf8_escape(msg);
	gfs_reply_json(req, gfs_err_http(err),
		       json_pack("{s:s, s:s}", "error", safe ? safe : msg,
				 "code", gfs_err_code(err)));
	free(safe);
}

void gfs_reply_redirect(struct gfs_req *req, unsigned status,
			const char *location)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
	set_reply(req, status, r, NULL);
}

/* Adapter from our read callback to libmicrohttpd's. */
struct stream_reply {
	ssize_t (*read)(void *cls, uint64_t pos, char *buf, size_t max);
	void (*free_cls)(void *cls);
	void *cls;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_reply *s = cls;
	ssize_t n = s->read(s->cls, pos, buf, max);

	if (n == -1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n;
}

static void stream_free(void *cls)
{
	struct stream_reply *s = cls;

	if (s->free_cls)
		s->free_cls(s->cls);
	free(s);
}

void gfs_reply_stream(struct gfs_req *req, unsigned status, const char *type,
		      uint64_t size, size_t block,
		      ssize_t (*read)(void *cls, uint64_t pos, char *buf,
				      size_t max),
		      void *cls, void (*free_cls)(void *cls))
{
	struct stream_reply *s = gfs_xmalloc(sizeof(*s));
	struct MHD_Response *r;

	s->read = read;
	s->free_cls = free_cls;
	s->cls = cls;
	r = MHD_create_response_from_callback(
		size == UINT64_MAX ? MHD_SIZE_UNKNOWN : size, block,
		stream_read, s, stream_free);
	if (!r)
		stream_free(s);
	set_reply(req, status, r, type);
}

void gfs_reply_header(struct gfs_req *req, const char *name,
		      const char *value)
{
	struct gfs_req_hdr *hd = gfs_xmalloc(sizeof(*hd));

	hd->name = gfs_xstrdup(name);
	hd->value = gfs_xstrdup(value);
	hd->next = req->hdrs;
	req->hdrs = hd;
}

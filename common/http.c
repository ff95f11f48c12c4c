/*
 * http.c - libcurl behind gfs_http_call(), ranged GETs into the caller's
 * buffer, streamed GETs, and push-style uploads.
 *
 * Every transfer runs through the handle's own multi handle (run() below),
 * which owns the connection cache: a call, a ranged read and an upload on
 * the same struct gfs_http all reuse the same kept-alive connections.
 *
 * The pool (bottom of the file) lends handles for one call, capped and
 * with a deadline on the wait, or to hold across calls, uncapped: see
 * http.h for why the two differ.
 *
 * Replies land in one of three places, chosen per transfer (enum sink):
 * a growable buffer capped by max_reply, the caller's fixed buffer, or the
 * caller's sink function.  Non-2xx replies always go to the growable
 * buffer, so their JSON error reaches the caller whatever the mode.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "constants.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_MS 3000L
#define DEFAULT_MAX_REPLY (64u << 20)
#define RECV_BUFFER (512L << 10)
#define SEND_BUFFER (1L << 20)
#define MAX_HEADERS (16u << 10)  /* header bytes kept per reply */
/* A kept-alive connection idle longer is not reused: servers close theirs
 * after 60 s (--http-idle-timeout), and a request sent just as the server
 * closes would fail instead of opening a fresh connection. */
#define MAX_IDLE_S 45L
#define EXPECT_BODY_MIN (1 << 20) /* bodies up to this go without 100-continue */
/* A sized body pushed whole and shorter than this goes behind the headers
 * in the request's own send: curl appends post fields to the request when
 * they are under its MAX_INITIAL_POST_SIZE (64 KiB). */
#define INLINE_BODY_MAX (64u << 10)

enum sink {
	SINK_GROW,   /* reply.body grows up to max_reply */
	SINK_FIXED,  /* fixed_buf[0..fixed_len) */
	SINK_FUNC,   /* sink_fn(sink_cls, ...) */
};

struct gfs_http {
	CURL *easy;
	CURLM *multi;
	struct curl_slist *hdrs;     /* request headers of this transfer */
	struct gfs_http_reply *reply; /* where this transfer's reply goes */
	enum sink sink;
	size_t max_reply;
	char *fixed_buf;             /* SINK_FIXED */
	size_t fixed_len, fixed_got;
	bool (*sink_fn)(void *cls, const char *buf, size_t len);
	void *sink_cls;
	bool too_big;                /* reply exceeded max_reply */
	bool sink_stop;              /* sink_fn said stop */
	bool held;                   /* lent by gfs_http_pool_hold() */
	const char *method;          /* of this transfer, for the debug
				      * timing line; borrowed (a literal) */
	char *ca_file;               /* trusted for HTTPS, owned, or NULL */
	struct gfs_http *next;       /* pool free list */
};

/* State of a push-style upload, on top of a busy struct gfs_http. */
struct gfs_upload {
	struct gfs_http *h;
	struct gfs_http_reply reply;
	const char *pending;   /* bytes the read callback still has to take */
	size_t pending_len;
	uint64_t sent;         /* bytes pushed */
	int64_t size;          /* announced body size, -1 chunked */
	bool ended;            /* no more body */
	bool eof_given;        /* read callback returned 0 */
	bool paused;           /* read callback returned PAUSE */
	bool begun;            /* handed to curl (upload_begin()) */
	bool done;             /* transfer complete (reply or failure) */
	CURLcode result;       /* of the transfer, once done */
};

struct gfs_http_pool {
	pthread_mutex_t lock;   /* protects the fields below */
	pthread_cond_t cond;    /* a call's handle came back (monotonic) */
	struct gfs_http *free;  /* idle handles, LIFO */
	unsigned nfree;         /* handles in free, at most max */
	unsigned calls, max;    /* handles out for calls, the cap on them */
	char *ca_file;          /* given to each new handle; owned; set
				 * before the first handle is lent */
};

void gfs_http_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void gfs_http_reply_clear(struct gfs_http_reply *r)
{
	free(r->headers);
	free(r->body);
	free(r->location);
	free(r->primary);
	if (r->json)
		json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

struct gfs_http *gfs_http_new(void)
{
	struct gfs_http *h = gfs_xcalloc(1, sizeof(*h));

	h->easy = curl_easy_init();
	h->multi = curl_multi_init();
	if (!h->easy || !h->multi) {
		gfs_error("curl: cannot create a handle");
		abort();
	}
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, 16L);
	return h;
}

void gfs_http_free(struct gfs_http *h)
{
	if (!h)
		return;
	curl_slist_free_all(h->hdrs);
	curl_easy_cleanup(h->easy);
	curl_multi_cleanup(h->multi);
	free(h->ca_file);
	free(h);
}

void gfs_http_set_ca(struct gfs_http *h, const char *ca_file)
{
	free(h->ca_file);
	h->ca_file = ca_file ? gfs_xstrdup(ca_file) : NULL;
}

static size_t grow(struct gfs_http *h, const char *data, size_t n)
{
	struct gfs_http_reply *r = h->reply;

	if (r->len + n > h->max_reply) {
		h->too_big = true;
		return 0;
	}
	r->body = gfs_xrealloc(r->body, r->len + n + 1);
	memcpy(r->body + r->len, data, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *cls)
{
	struct gfs_http *h = cls;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
	if (h->sink == SINK_GROW || status < 200 || status >= 300)
		return grow(h, data, n);
	if (h->sink == SINK_FIXED) {
		if (n > h->fixed_len - h->fixed_got) {
			h->too_big = true;
			return 0;
		}
		memcpy(h->fixed_buf + h->fixed_got, data, n);
		h->fixed_got += n;
		return n;
	}
	if (!h->sink_fn(h->sink_cls, data, n)) {
		h->sink_stop = true;
		return 0;
	}
	return n;
}

/* Copy the value of "Name: value\r\n" when name matches. */
static char *header_value(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);
	const char *v, *e = line + n;

	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return NULL;
	for (v = line + k + 1; v < e && (*v == ' ' || *v == '\t'); v++)
		;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
		e--;
	return strndup(v, (size_t)(e - v));
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *cls)
{
	struct gfs_http *h = cls;
	struct gfs_http_reply *r = h->reply;
	size_t n = size * nmemb;
	char *v;

	if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
		/* a new status line (after a 100 Continue): start over */
		free(r->location);
		free(r->primary);
		free(r->headers);
		r->location = r->primary = r->headers = NULL;
		r->headers_len = 0;
		r->epoch = 0;
		return n;
	}
	if (r->headers_len + n <= MAX_HEADERS) {
		r->headers = gfs_xrealloc(r->headers, r->headers_len + n + 1);
		memcpy(r->headers + r->headers_len, line, n);
		r->headers_len += n;
		r->headers[r->headers_len] = '\0';
	}
	if ((v = header_value(line, n, "Location"))) {
		free(r->location);
		r->location = v;
	} else if ((v = header_value(line, n, GFS_HDR_PRIMARY))) {
		free(r->primary);
		r->primary = v;
	} else if ((v = header_value(line, n, GFS_HDR_EPOCH))) {
		uint64_t e;

		if (gfs_parse_u64(v, &e))
			r->epoch = e;
		free(v);
	}
	return n;
}

bool gfs_http_reply_header(const struct gfs_http_reply *r, const char *name,
			   char *buf, size_t len)
{
	const char *line = r->headers, *end = line + r->headers_len;

	while (line && line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line + 1) : (size_t)(end - line);
		char *v = header_value(line, n, name);

		if (v) {
			snprintf(buf, len, "%s", v);
			free(v);
			return true;
		}
		line += n;
	}
	return false;
}

/* Reset the handle and set what every transfer has. */
static void prepare(struct gfs_http *h, const char *method, const char *url,
		    const char *const *headers, long timeout_ms,
		    long connect_ms, struct gfs_http_reply *reply)
{
	CURL *e = h->easy;

	curl_easy_reset(e);
	curl_slist_free_all(h->hdrs);
	h->hdrs = NULL;
	for (; headers && *headers; headers++)
		h->hdrs = curl_slist_append(h->hdrs, *headers);
	memset(reply, 0, sizeof(*reply));
	h->reply = reply;
	h->method = method;
	h->too_big = h->sink_stop = false;
	h->sink = SINK_GROW;
	h->max_reply = DEFAULT_MAX_REPLY;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, MAX_IDLE_S);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
	if (timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 connect_ms > 0 ? connect_ms : DEFAULT_CONNECT_MS);
	if (!strcmp(method, "GET"))
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	if (h->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
}

static enum gfs_err curl_err(struct gfs_http *h, CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return GFS_OK;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return GFS_EUNAVAIL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		gfs_warn("TLS: %s", curl_easy_strerror(rc));
		h->reply->untrusted = true;
		h->reply->message = curl_easy_strerror(rc);
		return GFS_EIO;
	case CURLE_OPERATION_TIMEDOUT:
		return GFS_ETIMEDOUT;
	case CURLE_WRITE_ERROR:
		return h->too_big ? GFS_ETOOBIG : GFS_EIO;
	default:
		return GFS_EIO;
	}
}

/* --log-level debug: "time http METHOD URL STATUS USus", the whole
 * transfer as curl timed it (docs/PERFORMANCE.md reads these lines). */
static void log_time(struct gfs_http *h, long status)
{
	curl_off_t us = 0;
	char *url = NULL;

	if (!gfs_log_enabled(GFS_LOG_DEBUG))
		return;
	curl_easy_getinfo(h->easy, CURLINFO_TOTAL_TIME_T, &us);
	curl_easy_getinfo(h->easy, CURLINFO_EFFECTIVE_URL, &url);
	gfs_log(GFS_LOG_DEBUG, "time http %s %s %ld %ldus", h->method,
		url ? url : "?", status, (long)us);
}

/* Why no reply came, for people: the system's word when there is one
 * ("connection refused"), else curl's. */
static void name_failure(struct gfs_http *h, CURLcode rc,
			 struct gfs_http_reply *r)
{
	long os = 0;

	curl_easy_getinfo(h->easy, CURLINFO_OS_ERRNO, &os);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(r->failure, sizeof(r->failure), "timed out");
	else if (rc == CURLE_COULDNT_RESOLVE_HOST)
		snprintf(r->failure, sizeof(r->failure), "unknown host");
	else if (os)
		snprintf(r->failure, sizeof(r->failure), "%s",
			 strerror((int)os));
	else
		snprintf(r->failure, sizeof(r->failure), "%s",
			 curl_easy_strerror(rc));
	r->failure[0] = (char)tolower((unsigned char)r->failure[0]);
}

/* Fill in status, err, json and message once a transfer completed. */
static enum gfs_err finish_reply(struct gfs_http *h, CURLcode rc)
{
	struct gfs_http_reply *r = h->reply;
	const char *code = NULL;
	long status = 0;

	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
	log_time(h, status);
	r->status = (unsigned)status;
	if (r->body && r->len &&
	    gfs_json_parse_object(r->body, r->len, &r->json) == GFS_OK) {
		gfs_json_str(r->json, "code", false, &code);
		gfs_json_str(r->json, "error", false, &r->message);
	}
	if (rc != CURLE_OK) {
		/* a refused or failed transfer: the reply, if any, is partial */
		r->err = curl_err(h, rc);
		if (!status)
			name_failure(h, rc, r);
		if (status >= 300 && !h->too_big)
			r->err = gfs_err_from_code(code, r->status);
		return r->err;
	}
	r->err = gfs_err_from_code(code, r->status);
	return r->err;
}

/* Poll until the running transfer completes; its curl result. */
static CURLcode run(struct gfs_http *h)
{
	CURLcode rc = CURLE_OK;
	int running = 1;

	curl_multi_add_handle(h->multi, h->easy);
	for (;;) {
		CURLMsg *msg;
		int left;

		curl_multi_perform(h->multi, &running);
		while ((msg = curl_multi_info_read(h->multi, &left)))
			if (msg->msg == CURLMSG_DONE)
				rc = msg->data.result;
		if (!running)
			break;
		curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
	}
	curl_multi_remove_handle(h->multi, h->easy);
	return rc;
}

enum gfs_err gfs_http_call(struct gfs_http *h, const char *method,
			   const char *url, const struct gfs_http_opts *o,
			   struct gfs_http_reply *out)
{
	static const struct gfs_http_opts none;

	if (!o)
		o = &none;
	prepare(h, method, url, o->headers,
		o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS,
		o->connect_ms, out);
	if (o->max_reply)
		h->max_reply = o->max_reply;
	if (o->body) {
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)o->len);
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, o->body);
	} else if (strcmp(method, "GET") && strcmp(method, "DELETE")) {
		/* PUT/POST without a body: send Content-Length: 0 */
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, "");
	}
	return finish_reply(h, run(h));
}

enum gfs_err gfs_http_get_range(struct gfs_http *h, const char *url,
				const char *const *headers, uint64_t off,
				size_t len, char *buf, size_t *got,
				long timeout_ms, struct gfs_http_reply *err_out)
{
	struct gfs_http_reply reply;
	enum gfs_err err;
	char range[64];

	*got = 0;
	if (len == 0)
		return GFS_OK;
	prepare(h, "GET", url, headers,
		timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS, 0, &reply);
	snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	curl_easy_setopt(h->easy, CURLOPT_RANGE, range);
	h->sink = SINK_FIXED;
	h->fixed_buf = buf;
	h->fixed_len = len;
	h->fixed_got = 0;
	err = finish_reply(h, run(h));
	if (reply.status == 416)
		err = GFS_OK;
	else if (!err)
		*got = h->fixed_got;
	if (err_out)
		*err_out = reply;
	else
		gfs_http_reply_clear(&reply);
	return err;
}

enum gfs_err gfs_http_get_stream(struct gfs_http *h, const char *url,
				 const char *const *headers, long stall_ms,
				 bool (*sink)(void *cls, const char *buf,
					      size_t len),
				 void *cls, struct gfs_http_reply *out)
{
	prepare(h, "GET", url, headers, 0, 0, out);
	curl_easy_setopt(h->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h->easy, CURLOPT_LOW_SPEED_TIME,
			 (stall_ms > 0 ? stall_ms : DEFAULT_TIMEOUT_MS) / 1000 + 1);
	h->sink = SINK_FUNC;
	h->sink_fn = sink;
	h->sink_cls = cls;
	return finish_reply(h, run(h));
}

/* curl asks for body bytes: hand over what push() offered, or pause. */
static size_t on_read(char *dst, size_t size, size_t nmemb, void *cls)
{
	struct gfs_upload *up = cls;
	size_t n = size * nmemb;

	if (!up->pending_len) {
		if (up->ended) {
			up->eof_given = true;
			return 0;
		}
		up->paused = true;
		return CURL_READFUNC_PAUSE;
	}
	if (n > up->pending_len)
		n = up->pending_len;
	memcpy(dst, up->pending, n);
	up->pending += n;
	up->pending_len -= n;
	return n;
}

enum gfs_err gfs_upload_start(struct gfs_upload **out, struct gfs_http *h,
			      const char *method, const char *url,
			      const char *const *headers, int64_t size,
			      long stall_ms)
{
	struct gfs_upload *up = gfs_xcalloc(1, sizeof(*up));
	CURL *e = h->easy;

	up->h = h;
	up->size = size;
	prepare(h, method, url, headers, 0, 0, &up->reply);
	/* curl sends "Expect: 100-continue" with every PUT: a round trip
	 * per hop before the body moves.  A small body of known size goes
	 * at once; a peer refusing it just reads and drops it. */
	if (size >= 0 && size <= EXPECT_BODY_MIN) {
		h->hdrs = curl_slist_append(h->hdrs, "Expect:");
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
	}
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
			 (stall_ms > 0 ? stall_ms : DEFAULT_TIMEOUT_MS) / 1000 + 1);
	*out = up;
	return GFS_OK;
}

/* Hand the transfer to curl with the first piece of its body, buf[0..len)
 * (or at its end, with none).  A small body of announced size given whole
 * goes as post fields, which curl copies behind the headers: one send,
 * so the peer wakes once for the request instead of twice (head, then
 * body: a wake-up on the other vCPU costs tens of us here).  Any other
 * body is read from the callback as it is pushed. */
static void upload_begin(struct gfs_upload *up, const void *buf, size_t len)
{
	CURL *e = up->h->easy;

	up->begun = true;
	if (up->size >= 0 && (uint64_t)up->size == len &&
	    len < INLINE_BODY_MAX) {
		/* post fields make the request a POST, an upload a PUT: the
		 * method on the wire stays the custom one prepare() set */
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)len);
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, len ? buf : "");
		up->ended = true;
	} else {
		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, up);
		curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, SEND_BUFFER);
		if (up->size >= 0)
			curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)up->size);
	}
	curl_multi_add_handle(up->h->multi, e);
}

/* Run curl once, without waiting; note completion. */
static void upload_perform(struct gfs_upload *up)
{
	struct gfs_http *h = up->h;
	CURLMsg *msg;
	int running, left;

	curl_multi_perform(h->multi, &running);
	while ((msg = curl_multi_info_read(h->multi, &left))) {
		if (msg->msg == CURLMSG_DONE) {
			up->done = true;
			up->result = msg->data.result;
		}
	}
	if (!running)
		up->done = true;
}

/* Run curl once; then, unless done, wait up to wait_ms for activity. */
static void upload_step(struct gfs_upload *up, int wait_ms)
{
	upload_perform(up);
	if (!up->done && wait_ms)
		curl_multi_poll(up->h->multi, NULL, 0, wait_ms, NULL);
}

static void upload_resume(struct gfs_upload *up)
{
	if (up->paused) {
		up->paused = false;
		curl_easy_pause(up->h->easy, CURLPAUSE_CONT);
	}
}

enum gfs_err gfs_upload_push(struct gfs_upload *up, const void *buf,
			     size_t len)
{
	if (up->done || up->ended)
		return up->done ? GFS_EIO : GFS_EINTERNAL;
	if (!up->begun) {
		upload_begin(up, buf, len);
		if (up->ended) { /* curl has the bytes: send them */
			up->sent = len;
			upload_perform(up);
			return up->done && up->result != CURLE_OK ? GFS_EIO
								: GFS_OK;
		}
	}
	up->pending = buf;
	up->pending_len = len;
	upload_resume(up);
	/* Until curl has taken the bytes, and no longer: once they are in
	 * its send buffer, a wait for the socket would be a wait for the
	 * reply when the body was all sent (the peer's fsync and its
	 * downstream's, for a chunk PUT). */
	for (;;) {
		upload_perform(up);
		if (!up->pending_len || up->done)
			break;
		curl_multi_poll(up->h->multi, NULL, 0, 1000, NULL);
	}
	if (up->done) {
		up->pending_len = 0;
		return GFS_EIO; /* the peer answered (or failed) early */
	}
	up->sent += len;
	return GFS_OK;
}

enum gfs_err gfs_upload_end(struct gfs_upload *up)
{
	curl_off_t out = 0;

	if (!up->begun)
		upload_begin(up, "", 0);
	up->ended = true;
	upload_resume(up);
	/* Until curl has taken the end of the body and sent everything.  A
	 * body of announced size ends with its last byte: curl never asks
	 * the read callback for the end of it. */
	while (!up->done) {
		bool all_read = up->eof_given ||
				(up->size >= 0 && up->sent == (uint64_t)up->size);

		upload_step(up, 0);
		curl_easy_getinfo(up->h->easy, CURLINFO_SIZE_UPLOAD_T, &out);
		if (all_read && (uint64_t)out >= up->sent)
			break;
		upload_step(up, 100);
	}
	return GFS_OK;
}

enum gfs_err gfs_upload_finish(struct gfs_upload *up,
			       struct gfs_http_reply *out)
{
	struct gfs_http *h = up->h;
	enum gfs_err err;

	if (!up->ended)
		gfs_upload_end(up);
	while (!up->done)
		upload_step(up, 1000);
	curl_multi_remove_handle(h->multi, h->easy);
	err = finish_reply(h, up->result);
	*out = up->reply;
	free(up);
	return err;
}

void gfs_upload_abort(struct gfs_upload *up)
{
	struct gfs_http *h = up->h;

	/* Removed mid-transfer, the easy handle's connection is closed
	 * there and then: no wait for the peer or for curl's buffer. */
	if (up->begun)
		curl_multi_remove_handle(h->multi, h->easy);
	gfs_http_reply_clear(&up->reply);
	free(up);
}

uint64_t gfs_upload_sent(const struct gfs_upload *up)
{
	return up->sent;
}

bool gfs_upload_poll(struct gfs_upload *up)
{
	if (!up->begun)
		return false; /* nothing sent yet, so no reply */
	if (!up->done)
		upload_step(up, 0);
	return up->done;
}

struct gfs_http_pool *gfs_http_pool_new(unsigned max)
{
	struct gfs_http_pool *p = gfs_xcalloc(1, sizeof(*p));
	pthread_condattr_t ca;

	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	p->max = max ? max : 64;
	return p;
}

void gfs_http_pool_free(struct gfs_http_pool *p)
{
	if (!p)
		return;
	while (p->free) {
		struct gfs_http *h = p->free;

		p->free = h->next;
		gfs_http_free(h);
	}
	free(p->ca_file);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

/* A new handle trusting the pool's CA file. */
static struct gfs_http *new_handle(const struct gfs_http_pool *p)
{
	struct gfs_http *h = gfs_http_new();

	gfs_http_set_ca(h, p->ca_file);
	return h;
}

/* An idle handle, or NULL (lock held). */
static struct gfs_http *take_idle(struct gfs_http_pool *p)
{
	struct gfs_http *h = p->free;

	if (h) {
		p->free = h->next;
		p->nfree--;
	}
	return h;
}

enum gfs_err gfs_http_pool_get(struct gfs_http_pool *p, long wait_ms,
			       struct gfs_http **out)
{
	struct timespec ts = gfs_deadline_ts(CLOCK_MONOTONIC,
					     wait_ms > 0 ? wait_ms : 0);
	struct gfs_http *h = NULL;
	unsigned busy;
	bool lent;
	int rc = 0;

	pthread_mutex_lock(&p->lock);
	while (p->calls >= p->max && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&p->cond, &p->lock, &ts);
	lent = p->calls < p->max;
	if (lent) {
		p->calls++;
		h = take_idle(p);
	}
	busy = p->calls;
	pthread_mutex_unlock(&p->lock);
	*out = NULL;
	if (!lent) {
		gfs_warn("no free connection for %ld ms (%u calls under way)",
			 wait_ms, busy);
		return GFS_ETIMEDOUT;
	}
	*out = h ? h : new_handle(p);
	(*out)->held = false;
	return GFS_OK;
}

struct gfs_http *gfs_http_pool_hold(struct gfs_http_pool *p)
{
	struct gfs_http *h;

	pthread_mutex_lock(&p->lock);
	h = take_idle(p);
	pthread_mutex_unlock(&p->lock);
	if (!h)
		h = new_handle(p);
	h->held = true;
	return h;
}

void gfs_http_pool_set_ca(struct gfs_http_pool *p, const char *ca_file)
{
	free(p->ca_file);
	p->ca_file = ca_file ? gfs_xstrdup(ca_file) : NULL;
}

void gfs_http_pool_put(struct gfs_http_pool *p, struct gfs_http *h)
{
	bool keep;

	pthread_mutex_lock(&p->lock);
	if (!h->held) {
		p->calls--;
		pthread_cond_signal(&p->cond);
	}
	keep = p->nfree < p->max;
	if (keep) {
		h->next = p->free;
		p->free = h;
		p->nfree++;
	}
	pthread_mutex_unlock(&p->lock);
	if (!keep)
		gfs_http_free(h);
}

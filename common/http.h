/*
 * http.h - the HTTP client under every program: libcurl, kept-alive
 * connections, deadlines on every call, bodies streamed in both ways.
 *
 * A struct gfs_http is one curl easy handle driven through its own multi
 * handle, so that its connection cache survives from call to call and the
 * same handle can either run a whole request or be fed an upload piece by
 * piece (struct gfs_upload).  It is not thread-safe: a thread borrows one
 * from a struct gfs_http_pool, uses it, gives it back.
 */
#ifndef GFS_HTTP_H
#define GFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "err.h"

struct gfs_http;
struct gfs_http_pool;

/* What came back from a peer. */
struct gfs_http_reply {
	unsigned status;      /* HTTP status, 0 when no reply arrived */
	enum gfs_err err;     /* GFS_OK for 2xx, else from status and "code" */
	char *body;           /* reply body, NUL-terminated, owned; may be NULL */
	size_t len;
	json_t *json;         /* body parsed when it is a JSON object (new
			       * reference) or NULL */
	const char *message;  /* the "error" member, borrowed from json */
	char *location;       /* Location header, owned, or NULL */
	char *primary;        /* X-GFS-Primary header, owned, or NULL */
	uint64_t epoch;       /* X-GFS-Epoch header, 0 when absent */
	char *headers;        /* every header line of the reply, owned */
	size_t headers_len;
	bool untrusted;       /* TLS failed: the peer's certificate (or our
			       * CA file) did not check out; asking again
			       * cannot help */
	char failure[96];     /* why no reply came ("connection refused",
			       * "timed out"), "" when one did */
};

/* Copy the value of reply header name (any case) into buf; false when
 * the reply has no such header. */
bool gfs_http_reply_header(const struct gfs_http_reply *r, const char *name,
			   char *buf, size_t len);

/* Release what r owns and zero it. */
void gfs_http_reply_clear(struct gfs_http_reply *r);

/* Options of one call.  Zeroed fields take defaults. */
struct gfs_http_opts {
	const char *const *headers; /* NULL-terminated "Name: value" lines */
	const void *body;           /* request body, or NULL */
	size_t len;
	long timeout_ms;            /* whole call; default 30 s */
	long connect_ms;            /* connecting; default 3 s */
	size_t max_reply;           /* cap on the reply body; default 64 MiB */
};

struct gfs_http *gfs_http_new(void);
void gfs_http_free(struct gfs_http *h);
/* Trust the PEM certificates in ca_file (copied; NULL: the system's)
 * for https:// URLs. */
void gfs_http_set_ca(struct gfs_http *h, const char *ca_file);

/*
 * Run one request and collect the whole reply in *out (cleared first).
 * Returns the transport error (GFS_EUNAVAIL when the peer refuses or is
 * unreachable, GFS_ETIMEDOUT, GFS_ETOOBIG, GFS_EIO) or, when a reply
 * arrived, out->err.
 */
enum gfs_err gfs_http_call(struct gfs_http *h, const char *method,
			   const char *url, const struct gfs_http_opts *o,
			   struct gfs_http_reply *out);

/*
 * GET url with "Range: bytes=off-(off+len-1)" straight into buf.  *got is
 * the byte count received (may be short at the end of the resource).  A
 * 416 is GFS_OK with *got == 0.  Error replies land in *err_out when it is
 * not NULL (cleared first).
 */
enum gfs_err gfs_http_get_range(struct gfs_http *h, const char *url,
				const char *const *headers, uint64_t off,
				size_t len, char *buf, size_t *got,
				long timeout_ms, struct gfs_http_reply *err_out);

/*
 * GET url and hand each piece of the body to sink(cls, buf, len), which
 * returns false to stop (the call then fails with GFS_EIO unless sink set
 * something else via its own state).  Error replies (non-2xx) are
 * collected in *out instead of being passed to sink.  stall_ms bounds
 * how long no byte may arrive.
 */
enum gfs_err gfs_http_get_stream(struct gfs_http *h, const char *url,
				 const char *const *headers, long stall_ms,
				 bool (*sink)(void *cls, const char *buf,
					      size_t len),
				 void *cls, struct gfs_http_reply *out);

/*
 * An upload whose body the caller pushes piece by piece; the bytes are in
 * curl's send buffer or the socket when gfs_upload_push() returns (no
 * copy is kept beyond curl's own send buffer, and the next push or the end
 * sends what is left there first), so memory stays flat whatever the
 * size.  Neither a push nor the end waits for the reply: a chunkserver
 * forwarding a PUT fsyncs its own copy while the next replica fsyncs its.
 */
struct gfs_upload;

/* Start method (PUT) to url on h, which stays busy until
 * gfs_upload_finish().  size is the body length, or -1 for chunked. */
enum gfs_err gfs_upload_start(struct gfs_upload **out, struct gfs_http *h,
			      const char *method, const char *url,
			      const char *const *headers, int64_t size,
			      long stall_ms);
/* Send buf[0..len).  An error reply from the peer ends the upload early:
 * the error is returned and gfs_upload_finish() gives the reply. */
enum gfs_err gfs_upload_push(struct gfs_upload *up, const void *buf,
			     size_t len);
/* No more body: send what is buffered and the end of the body, without
 * waiting for the reply. */
enum gfs_err gfs_upload_end(struct gfs_upload *up);
/* End the body if not done, wait for the reply (*out), free up and hand
 * h back.  Returns the transport error or out->err. */
enum gfs_err gfs_upload_finish(struct gfs_upload *up,
			       struct gfs_http_reply *out);
/* Give up: the connection is cut at once, mid-body, so the peer sees an
 * incomplete request (never a complete, shorter one); frees up and hands
 * h back.  For a forwarder whose own sender vanished, or a writer that
 * drops what it wrote. */
void gfs_upload_abort(struct gfs_upload *up);
/* Bytes pushed so far. */
uint64_t gfs_upload_sent(const struct gfs_upload *up);
/* Whether the transfer is over (a reply came, or it failed), without
 * waiting: after gfs_upload_end(), true means gfs_upload_finish() will
 * not block. */
bool gfs_upload_poll(struct gfs_upload *up);

/*
 * A pool of handles for threads to borrow, LIFO so that recently used
 * (connected) handles are handed out first.  Two kinds of borrow:
 *
 *  - for one call (gfs_http_pool_get): at most max at once; a borrower
 *    waits for one to come back, but never beyond its deadline.  Whoever
 *    borrows for a call gives it back before borrowing again, so a wait
 *    ends when some call ends (each has its own timeout).
 *  - held across calls (gfs_http_pool_hold), such as a PUT streamed over
 *    many writes: never waits and does not count against max, so that a
 *    holder can still make calls (a writer holding its stream while it
 *    asks the master for its next chunk).  Holders are bounded by their
 *    owners: two per file being written, one per forwarded PUT.
 *
 * At most max idle handles are kept; others are freed when given back.
 */
struct gfs_http_pool *gfs_http_pool_new(unsigned max);
void gfs_http_pool_free(struct gfs_http_pool *p);
/* Borrow a handle for one call into *out, waiting at most wait_ms for
 * one; GFS_ETIMEDOUT when none came back in time. */
enum gfs_err gfs_http_pool_get(struct gfs_http_pool *p, long wait_ms,
			       struct gfs_http **out);
/* Borrow a handle to hold across calls; never waits. */
struct gfs_http *gfs_http_pool_hold(struct gfs_http_pool *p);
/* gfs_http_set_ca() for every handle the pool makes; call before the
 * first handle is lent. */
void gfs_http_pool_set_ca(struct gfs_http_pool *p, const char *ca_file);
/* Give back a handle of either kind. */
void gfs_http_pool_put(struct gfs_http_pool *p, struct gfs_http *h);

/* curl_global_init(); call once in main() before any thread starts. */
void gfs_http_global_init(void);

#endif

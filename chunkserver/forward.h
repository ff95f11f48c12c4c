/*
 * forward.h - the link from one replica to the next in a write pipeline:
 * a PUT whose body is pushed piece by piece as it arrives, and which can be
 * abandoned half-way.
 *
 * Why not common/http.c's gfs_upload: an upload there can only end by
 * sending the end of its body, so when our own client vanishes mid-body a
 * chunked forward would reach the next replica as a complete, shorter
 * write and be committed there (and a sized one stalls until its timeout).
 * Here gfs_forward_abort() closes the socket with the body unfinished, so
 * the next replica sees a broken request and records nothing, at once.  It
 * also sends each piece straight from the caller's buffer (writev, no
 * copy into a library buffer), which is one memory copy fewer per byte at
 * every hop.
 *
 * Scope: HTTP/1.1 to our own chunkservers only: "http://" URLs, replies
 * with Content-Length (or closed), JSON bodies up to 16 KiB.
 *
 * Connections are kept alive in a struct gfs_forward_pool shared by all
 * threads (mutex inside); a struct gfs_forward belongs to one thread.
 */
#ifndef GFS_CS_FORWARD_H
#define GFS_CS_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"

struct gfs_forward_pool;
struct gfs_forward;

struct gfs_forward_pool *gfs_forward_pool_new(void);
/* Close every idle connection and free p. */
void gfs_forward_pool_free(struct gfs_forward_pool *p);

/*
 * Start "PUT target" (a path with query) on base ("http://host:port"):
 * connect (or reuse a kept-alive connection) and send the request head
 * with "Expect: 100-continue" and the extra header lines (NULL-terminated
 * "Name: value", borrowed).  size is the body length, or -1 for chunked.
 * Does not wait for the peer.  On error *out is NULL and msg says why.
 */
enum gfs_err gfs_forward_start(struct gfs_forward_pool *p, const char *base,
			       const char *target, const char *const *headers,
			       int64_t size, struct gfs_forward **out,
			       char *msg, size_t msglen);
/*
 * Send the next len bytes of the body.  Before the first byte it waits (up
 * to a second, as curl does) for "100 Continue" or an early reply.  An
 * error means the peer failed or answered early; gfs_forward_finish() then
 * gives its reply (or the transport error).
 */
enum gfs_err gfs_forward_push(struct gfs_forward *f, const void *buf,
			      size_t len);
/* The body is complete: send its end, without waiting for the reply. */
enum gfs_err gfs_forward_end(struct gfs_forward *f);
/*
 * Wait up to timeout_ms for the reply, into *out (clear it with
 * gfs_http_reply_clear()), and free f; the connection is kept for reuse
 * when it can be.  Returns the transport error or out->err; a transport
 * error also fills out->json/out->message as if the peer had said it.
 */
enum gfs_err gfs_forward_finish(struct gfs_forward *f, long timeout_ms,
				struct gfs_http_reply *out);
/* Why f failed ("" when it did not); borrowed from f. */
const char *gfs_forward_error(const struct gfs_forward *f);
/* Give up: close the connection with the body unfinished, free f. */
void gfs_forward_abort(struct gfs_forward *f);

#endif

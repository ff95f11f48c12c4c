/*
 * httpd.h - the HTTP server of every program: libmicrohttpd behind a
 * declarative route table.
 *
 * A server is a table of struct gfs_route, as redisCommandTable or
 * fuse_operations are: reading it shows the whole API.  A route either takes
 * its body whole (capped, 413 beyond) and calls .handle once, or streams it
 * through struct gfs_stream_ops, piece by piece, in constant memory.
 *
 * Sockets live in one event loop (libmicrohttpd's epoll thread); handlers,
 * stream callbacks and the read callbacks of streamed replies run on an
 * elastic pool of worker threads while their connection is suspended, so
 * they may block on disk or on a peer (unless the route is
 * GFS_ROUTE_INLINE).  Every peer has deadlines (struct gfs_httpd_limits).
 * A handler answers exactly once with one of the gfs_reply_*() calls; the
 * wrapper queues the answer.  HEAD is served by the GET route, without
 * the body.  Errors are always JSON: {"error": "message", "code":
 * "not_found"}.  A handler may instead switch its connection to another
 * protocol (gfs_reply_upgrade()), run by a function on a thread of its
 * own.
 */
#ifndef GFS_HTTPD_H
#define GFS_HTTPD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "auth.h"
#include "err.h"

struct gfs_req;
struct gfs_httpd;
struct MHD_Connection;
struct MHD_Response;
struct gfs_metrics_text;

/* Callbacks of a route whose body is streamed.  Each runs on a worker
 * (unless the route is GFS_ROUTE_INLINE), one at a time per request. */
struct gfs_stream_ops {
	/* Before any body byte.  Replying here refuses the body (a client
	 * that sent "Expect: 100-continue" then sends none of it).  A body
	 * whose Content-Length is 64 KiB or less is read whole first, and
	 * begin runs with data and end, in one worker job (a refusal is
	 * then sent after the body). */
	void (*begin)(struct gfs_req *req);
	/* Each piece of the body, in order.  Replying here (an error) makes
	 * the wrapper discard the rest of the body, then send the reply.
	 * It runs while the connection goes on reading the next pieces, and
	 * the peer may vanish meanwhile: use req->ctx, req->app, req->path
	 * and the replies only, never the request's headers or arguments
	 * (take what is needed in begin). */
	void (*data)(struct gfs_req *req, const char *buf, size_t len);
	/* After the last byte, unless a reply was already made; must reply. */
	void (*end)(struct gfs_req *req);
	/* When the request is over, whatever happened: free req->ctx here.
	 * Runs on a worker: right after end (or after the refusal of a
	 * finished body) in the same job, unless the reply is streamed;
	 * else after the connection moved on.  Only req->ctx, req->app and
	 * req->path are valid here. */
	void (*done)(struct gfs_req *req);
};

/* Route flags. */
/* The handler never blocks (no lock that is held long, no disk, no peer):
 * it runs in the event loop, without the hop to a worker. */
#define GFS_ROUTE_INLINE 1u
/* A whole-body route whose handler is tried in the event loop first
 * (req->in_loop): it answers there when it can without blocking, else
 * it calls gfs_req_defer() before any reply and runs again on a worker.
 * For reads usually answered from memory at once: the hop to a worker
 * and back costs two thread wake-ups, tens of microseconds each. */
#define GFS_ROUTE_TRY_INLINE (1u << 8)
/*
 * Who may call a route, when the server has a secret (auth.h).  The
 * cluster's own servers (a request signed with the secret) may call every
 * route; a route with none of these bits is theirs alone.  A refusal is
 * 401 or 403 before any of the body is read.
 */
#define GFS_ROUTE_PUBLIC (1u << 1) /* anyone (a key or the secret with
				    * --private-status) */
#define GFS_ROUTE_READ (1u << 2)   /* a client key, read-only or not */
#define GFS_ROUTE_WRITE (1u << 3)  /* a read-write client key */
#define GFS_ROUTE_CHUNK (1u << 4)  /* a chunk token for the handle the '*'
				    * names (X-GFS-Token) */
#define GFS_ROUTE_PASS (1u << 5)   /* anyone: the handler passes the
				    * caller's key on to a master */
/* The '*' match (and a "to" argument) are file system paths that a key
 * limited to prefixes must cover (GET: or lead to). */
#define GFS_ROUTE_PATH (1u << 6)
/* With GFS_ROUTE_WRITE: a read-write key without prefixes (the whole
 * namespace), for what concerns the whole cluster (detach, promote). */
#define GFS_ROUTE_ADMIN (1u << 7)

/* One line of a server's API. */
struct gfs_route {
	const char *method;  /* "GET", "PUT", "POST", "DELETE" */
	/* Exact path, or a path with one '*' that matches one or more
	 * characters; what it matches is URL-decoded into req->path with a
	 * leading '/'.  Text after the '*' must end the URL. */
	const char *pattern;
	/* When set, the route matches only if this query argument exists. */
	const char *query;
	/* Whole-body handler (body capped at body_max), or NULL ... */
	void (*handle)(struct gfs_req *req);
	/* ... a streamed body. */
	const struct gfs_stream_ops *stream;
	/*
	 * Cap on the body, refused with 413 before any of it when
	 * Content-Length says more, and as it arrives for a chunked one.
	 * 0: none for GET, HEAD and DELETE, GFS_JSON_MAX otherwise.  A
	 * streamed route names its own (SIZE_MAX: any size).
	 */
	size_t body_max;
	unsigned flags;       /* GFS_ROUTE_* */
	/* A whole-body route whose cap depends on the server's state: called
	 * on a worker before the body, its result replaces body_max. */
	size_t (*body_cap)(struct gfs_req *req);
};

/* A request being served.  Lives until the connection's reply is sent
 * (and its route's done callback ran). */
struct gfs_req {
	void *app;                    /* the server's owner, borrowed */
	struct MHD_Connection *conn;  /* borrowed */
	const struct gfs_route *route; /* matched route, borrowed */
	const char *method;           /* borrowed from libmicrohttpd */
	const char *url;              /* raw URL path, borrowed */
	const char *target;           /* the request target as sent: path
				       * and query, still encoded; owned by
				       * the wrapper */
	char *path;                   /* decoded '*' match with a leading '/',
				       * or NULL; owned by the wrapper */
	char *body;                   /* whole body, NUL-terminated; owned */
	size_t body_len;
	uint64_t body_seen;           /* bytes of body received so far */
	void *ctx;                    /* a stream handler's own state */
	int64_t start_ms;             /* monotonic arrival time */
	/* The reply, once made: */
	struct MHD_Response *resp;
	unsigned status;
	bool queued;                  /* handed to libmicrohttpd */
	bool discard;                 /* error replied; drop the rest of body */
	struct gfs_req_str *strs;     /* decoded query values to free */
	struct gfs_req_hdr *hdrs;     /* headers to add to the reply */
	struct gfs_who who;           /* who it is (auth.h), once admitted */
	bool in_loop;                 /* GFS_ROUTE_TRY_INLINE's try in the
				       * event loop: must not block */
};

/*
 * Start serving routes[0..n) on listen ("ADDR:PORT", "[ADDR6]:PORT" or
 * ":PORT"; port 0 picks a free one).  app is passed to handlers as
 * req->app.  conn_memory is libmicrohttpd's memory per connection (0:
 * GFS_HTTPD_SMALL): it bounds the pieces a streamed body arrives in, and
 * libmicrohttpd zeroes it before every request on a kept-alive
 * connection, so a server of small requests wants it small.  NULL on
 * failure (logged).
 */
#define GFS_HTTPD_SMALL (64u << 10)
#define GFS_HTTPD_BULK (128u << 10)
struct gfs_httpd *gfs_httpd_start(const char *listen,
				  const struct gfs_route *routes, size_t n,
				  void *app, size_t conn_memory);

/*
 * What a peer may take; zero fields take the defaults in brackets.  The
 * bounds are cut by closing the connection (counted in /metrics as
 * <prefix>_http_cut_total{why=...}).
 */
struct gfs_httpd_limits {
	uint64_t max_conns;    /* connections at once [4096] */
	uint64_t max_per_peer; /* connections from one address [512] */
	uint64_t idle_ms;      /* no request under way (kept alive, or no
				* request line yet) [60 s] */
	uint64_t header_ms;    /* request line to the end of the header
				* [10 s] */
	uint64_t stall_ms;     /* a body being received or a reply being
				* sent must move min_rate bytes a second,
				* over each window of this long spent
				* waiting for the peer [30 s] */
	uint64_t min_rate;     /* bytes per second [1 KiB] */
};

/* The options of struct gfs_httpd_limits for a struct gfs_opt table (see
 * options.h), off being the offset of the struct in the config. */
#define GFS_HTTPD_OPTS(off)                                                \
	{ "http-max-conns", GFS_OPT_U64,                                   \
	  (off) + offsetof(struct gfs_httpd_limits, max_conns), "N",       \
	  "HTTP connections at once (4096)" },                             \
	{ "http-max-per-peer", GFS_OPT_U64,                                \
	  (off) + offsetof(struct gfs_httpd_limits, max_per_peer), "N",    \
	  "HTTP connections from one address (512)" },                     \
	{ "http-idle-timeout", GFS_OPT_MS,                                 \
	  (off) + offsetof(struct gfs_httpd_limits, idle_ms), "TIME",      \
	  "close an HTTP connection with no request this long (60s)" },    \
	{ "http-header-timeout", GFS_OPT_MS,                               \
	  (off) + offsetof(struct gfs_httpd_limits, header_ms), "TIME",    \
	  "a request header must be complete this long after its first "   \
	  "line (10s)" },                                                  \
	{ "http-stall-timeout", GFS_OPT_MS,                                \
	  (off) + offsetof(struct gfs_httpd_limits, stall_ms), "TIME",     \
	  "window over which a body or reply must move --http-min-rate "   \
	  "(30s)" },                                                       \
	{ "http-min-rate", GFS_OPT_SIZE,                                   \
	  (off) + offsetof(struct gfs_httpd_limits, min_rate), "BYTES",    \
	  "slowest body or reply, per second (1KiB)" }

/* gfs_httpd_start() with limits (NULL: all defaults). */
struct gfs_httpd *gfs_httpd_start_with(const char *listen,
				       const struct gfs_route *routes,
				       size_t n, void *app, size_t conn_memory,
				       const struct gfs_httpd_limits *lim);

/* Who may come in, and how. */
struct gfs_httpd_sec {
	struct gfs_auth *auth;   /* borrowed, outlives the server; NULL:
				  * everyone */
	const char *tls_cert;    /* PEM files: serve HTTPS only; NULL: */
	const char *tls_key;     /* plain HTTP */
	bool audit;              /* log every call of a GFS_ROUTE_WRITE
				  * route, with who made it, and every
				  * refusal (info) */
};

/* The options of a server's struct gfs_httpd_sec and struct
 * gfs_auth_conf, for a struct gfs_opt table: off_tls is the offset of
 * two char * (cert, key), off_auth of the struct gfs_auth_conf. */
#define GFS_HTTPD_SEC_OPTS(off_cert, off_key, off_auth)                    \
	{ "secret-file", GFS_OPT_STR,                                      \
	  (off_auth) + offsetof(struct gfs_auth_conf, secret_file), "FILE", \
	  "the cluster secret, the same on every server (needed to listen " \
	  "beyond loopback)" },                                            \
	{ "insecure", GFS_OPT_FLAG,                                        \
	  (off_auth) + offsetof(struct gfs_auth_conf, insecure), NULL,     \
	  "listen beyond loopback without a secret: anyone may do "       \
	  "anything" },                                                    \
	{ "private-status", GFS_OPT_FLAG,                                  \
	  (off_auth) + offsetof(struct gfs_auth_conf, private_status),     \
	  NULL, "/status, /healthz and /metrics need a key too" },         \
	{ "tls-cert", GFS_OPT_STR, (off_cert), "FILE",                     \
	  "serve HTTPS with this PEM certificate (with --tls-key)" },      \
	{ "tls-key", GFS_OPT_STR, (off_key), "FILE",                       \
	  "the PEM private key of --tls-cert" },                           \
	{ "ca-file", GFS_OPT_STR,                                          \
	  (off_auth) + offsetof(struct gfs_auth_conf, ca_file), "FILE",    \
	  "PEM certificates to trust when calling other servers over "    \
	  "HTTPS (default: the system's)" }

/* gfs_httpd_start_with() with credentials checked and maybe TLS. */
struct gfs_httpd *gfs_httpd_start_secure(const char *listen,
					 const struct gfs_route *routes,
					 size_t n, void *app,
					 size_t conn_memory,
					 const struct gfs_httpd_limits *lim,
					 const struct gfs_httpd_sec *sec);
/* Stop accepting, wait for running handlers, free everything. */
void gfs_httpd_stop(struct gfs_httpd *h);
/* The port actually bound (useful with port 0). */
uint16_t gfs_httpd_port(const struct gfs_httpd *h);
/* Write the Prometheus families of the HTTP side, each name starting
 * with prefix ("gfs_master"), to out: connections, connections held by a
 * job, workers, jobs queued or running, connections cut, bytes received
 * and sent, replies by status, and per route the requests, errors and a
 * latency histogram.  O(routes). */
void gfs_httpd_metrics(struct gfs_httpd *h, const char *prefix, FILE *out);
/* Requests served so far by the routes whose pattern starts with prefix
 * (GFS_API "/files"); O(routes). */
uint64_t gfs_httpd_requests(struct gfs_httpd *h, const char *prefix);

/* Request header value (case-insensitive name), borrowed; NULL if absent. */
const char *gfs_req_header(struct gfs_req *req, const char *name);
/* A copy of s that lives as long as the request (borrowed). */
const char *gfs_req_keep(struct gfs_req *req, const char *s);
/* Query argument, URL-decoded, borrowed until the request ends.  GFS_OK
 * with *out = NULL when absent; GFS_EINVAL when malformed (%00, bad %). */
enum gfs_err gfs_req_arg(struct gfs_req *req, const char *name,
			 const char **out);
/* Query argument as a decimal u64; *out = def when absent. */
enum gfs_err gfs_req_arg_u64(struct gfs_req *req, const char *name,
			     uint64_t def, uint64_t *out);
/* The body parsed as a JSON object (new reference); replies 400/413 and
 * returns NULL when it is not one. */
json_t *gfs_req_json(struct gfs_req *req);
/* Address of the peer as text ("127.0.0.1"), into buf. */
void gfs_req_peer(struct gfs_req *req, char *buf, size_t len);
/* In a GFS_ROUTE_TRY_INLINE handler's try in the event loop
 * (req->in_loop), before any reply: it would block, so run it again on
 * a worker once it returns. */
void gfs_req_defer(struct gfs_req *req);
/*
 * In a GFS_ROUTE_TRY_INLINE handler's try in the event loop, before any
 * reply: make no reply now, and keep the connection suspended until
 * gfs_req_release(); then resumed(req) runs in the event loop and must
 * reply (it runs also when the peer left meanwhile, when the request
 * ends: free what the owner kept there).  Call it before handing req to
 * whoever will release it (that
 * may happen at once, on another thread).  gfs_httpd_stop() waits for
 * every held request to be released: its owner must release it within
 * a deadline of its own.  False, and nothing held, once the server
 * stops: the handler must answer or defer.
 */
bool gfs_req_hold(struct gfs_req *req, void (*resumed)(struct gfs_req *req));
/* Release a held request, from any thread, once: req is the event
 * loop's again (do not touch it, nor anything it owns, after). */
void gfs_req_release(struct gfs_req *req);

/* Replies.  Exactly one per request; a second one is a bug (logged). */
/* JSON body; takes the reference to body. */
void gfs_reply_json(struct gfs_req *req, unsigned status, json_t *body);
/* {"error": message, "code": gfs_err_code(err)} with gfs_err_http(err). */
void gfs_reply_error(struct gfs_req *req, enum gfs_err err,
		     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Arbitrary bytes.  With take, buf is ours and freed with free(3);
 * otherwise it must stay valid (static) until the reply is sent. */
void gfs_reply_bytes(struct gfs_req *req, unsigned status, const char *type,
		     void *buf, size_t len, bool take);
/* len bytes of the file fd from offset off, sent with sendfile(2).  fd
 * stays the caller's: a duplicate is kept until the reply is sent. */
void gfs_reply_fd(struct gfs_req *req, unsigned status, const char *type,
		  int fd, uint64_t off, uint64_t len);
/* A redirect (307, 301, ...) to location (copied). */
void gfs_reply_redirect(struct gfs_req *req, unsigned status,
			const char *location);
/*
 * A streamed body of size bytes (UINT64_MAX: unknown, sent chunked).
 * read(cls, pos, buf, max) fills buf and returns the count, 0 never,
 * -1 at the end (unknown size), -2 to abort the connection on error; it
 * runs on a worker (unless the route is GFS_ROUTE_INLINE) writing straight
 * into libmicrohttpd's buffer, so it may block.  free_cls(cls) runs on a
 * worker when the reply is done.  A HEAD request never calls read.
 */
void gfs_reply_stream(struct gfs_req *req, unsigned status, const char *type,
		      uint64_t size, size_t block,
		      ssize_t (*read)(void *cls, uint64_t pos, char *buf,
				      size_t max),
		      void *cls, void (*free_cls)(void *cls));
/*
 * Upgrades (HTTP/1.1 "101 Switching Protocols"): after the 101 the
 * connection speaks another protocol, on its raw socket, until one side
 * closes it.  The server's deadlines (struct gfs_httpd_limits) do not
 * apply to it, nor does the wake-up of a peer gone unseen: the function
 * watches its peer itself (a read deadline, keep-alive frames).  It
 * counts in <prefix>_http_connections until it closes and in
 * <prefix>_http_upgraded while its function runs; the request counts in
 * the route's requests and latency when the 101 is sent.
 * gfs_httpd_stop() shuts every upgraded socket down (reads see the end,
 * writes fail) and waits for every function to return: a function must
 * return soon after its socket ends (one that waits on something else,
 * say for records to send, must also look at its socket within a
 * bound), and must not wait for anything the stop waits for (a job of
 * the same server).
 */
/* An upgraded connection's body: runs on a thread of its own, with the
 * connected socket (blocking mode; libmicrohttpd owns it: never close it)
 * and the bytes the peer sent after its request head (extra, extra_len,
 * maybe 0).  When it returns the connection is closed and free_arg(arg)
 * runs.  extra is borrowed until it returns.  The socket may be shut
 * down (shutdown(2)), not closed.  Write with send(2) and MSG_NOSIGNAL
 * (a peer gone is then EPIPE, not SIGPIPE).  Nagle's algorithm is on
 * (libmicrohttpd clears TCP_NODELAY before the switch): set TCP_NODELAY
 * for small frames that must leave at once.  The request is the event
 * loop's again: arg must not point into it (copy what fn needs from its
 * headers and arguments in the handler). */
typedef void (*gfs_upgrade_fn)(void *arg, int fd, const char *extra,
			       size_t extra_len);
/*
 * Reply 101 Switching Protocols with "Upgrade: proto" (and Connection:
 * Upgrade); once it is sent, run fn(arg, ...) on a new thread.  arg is
 * freed with free_arg (may be NULL) in every case: after fn returns, or
 * when the 101 is never sent (the peer went away, the server stops).  On
 * a server with TLS it replies 501 with a JSON error instead and frees
 * arg.  Like every gfs_reply_*: once per request, from the handler.
 *
 * Refused with 400 (a JSON error, arg freed, no fn) when the request is
 * HTTP/1.0, or has no Upgrade header naming proto (one element of its
 * comma list, any case): libmicrohttpd 0.9.75 checks
 * neither (it would send the 101 to a client that asked for nothing, and
 * close an HTTP/1.0 connection without a reply).  A 101 sent while the
 * server stops runs no fn: the socket is closed and arg freed.  The
 * request's body, if any, is read before the handler runs: extra holds
 * only what came after it.
 */
void gfs_reply_upgrade(struct gfs_req *req, const char *proto,
		       gfs_upgrade_fn fn, void *arg,
		       void (*free_arg)(void *arg));
/* 200 with the text of t (metrics.h), closed here; 500 when it ran out
 * of memory. */
void gfs_reply_metrics(struct gfs_req *req, struct gfs_metrics_text *t);
/* Add a header to the reply (before or after making it); copied. */
void gfs_reply_header(struct gfs_req *req, const char *name,
		      const char *value);
/* True once a reply was made. */
bool gfs_replied(const struct gfs_req *req);

#endif

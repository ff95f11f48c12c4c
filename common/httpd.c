/*
 * httpd.c - route table dispatch over libmicrohttpd: one event loop for
 * the sockets, an elastic worker pool for the handlers, deadlines for the
 * peers.
 *
 * For: every server's HTTP side.  Not for: what a route does.
 *
 * Threads and who touches what:
 *  - libmicrohttpd's event threads (EVENT_THREADS, each an epoll loop over
 *    its share of the connections) accept, read headers and bodies and
 *    send replies, and call on_request() several times per
 *    request: once with the headers, once per piece of body, once at the
 *    end.  The first call matches a route and builds a struct req (made
 *    when the request line arrived, for the header deadline); the others
 *    feed the body and, at the end, run the route.  An idle or slow socket
 *    costs a descriptor and its libmicrohttpd memory, never a thread.
 *  - Work that may block (a stream's begin/data/end, a handler, a read
 *    callback of a streamed reply, a stream's done) is a job on the worker
 *    pool (workpool.c).  While it runs the connection is suspended
 *    (MHD_suspend_connection), so only the worker touches the request; the
 *    worker resumes it at the end and libmicrohttpd calls us again, in the
 *    event thread, where the result is taken (a reply is queued, the next
 *    piece of body comes).  Routes flagged GFS_ROUTE_INLINE skip the hop;
 *    a GFS_ROUTE_TRY_INLINE handler is tried in the event thread first
 *    and takes the hop only when it asks (gfs_req_defer()), or holds
 *    the request (gfs_req_hold(): a mutation applied and logged there,
 *    waiting for its durability): the connection stays suspended
 *    until the handler's owner, on any thread, releases it
 *    (gfs_req_release()); the reply is then made by the handler's
 *    resumed callback, in the event thread.  libmicrohttpd's resume may
 *    be called from any thread (the daemon has an ITC, as for workers).
 *  - A streamed body is staged: the event thread copies each piece into
 *    the request's fill buffer and goes on reading; a worker (the pump)
 *    swaps it for its own and hands it to the route, in pieces of up to
 *    STAGE_MAX, while the next one fills.  The connection is suspended
 *    only when the fill buffer is full, and at the end of the body until
 *    the pump is done.  One copy per byte buys reading and writing at
 *    once and a thread hop per STAGE_MAX instead of per read(2) (handing
 *    each piece over where it lies in libmicrohttpd's buffer cost 2.5
 *    times the CPU of the old server on a PUT, in context switches).
 *    A small body (Content-Length up to SMALL_BODY) is staged whole
 *    before the route's begin, which then runs in the same job as the
 *    data and the end: one hop per request instead of two.
 *    A streamed reply's read callback writes straight into the
 *    response's own buffer, which stays put while suspended.
 *  - The reaper thread closes connections past their deadlines (struct
 *    gfs_httpd_limits) with shutdown(2); libmicrohttpd then sees the
 *    socket end and cleans up as for any peer that went away.  It also
 *    wakes the connections whose peer went away without libmicrohttpd
 *    seeing it (reap_gone()), so a cut is noticed within REAP_MS.
 *  - An upgraded connection (gfs_reply_upgrade(), 101 Switching
 *    Protocols) leaves HTTP: once the 101 is sent libmicrohttpd calls
 *    on_upgrade() in the event thread, which starts a thread of the
 *    connection's own for the route's function and returns.  The reaper
 *    leaves such a connection alone (struct conn's upgraded): its life is
 *    the function's.  When the function returns its thread hands the
 *    socket back (MHD_UPGRADE_ACTION_CLOSE); only then does libmicrohttpd
 *    end the request (on_completed(), "completed") and close the
 *    connection (on_connection()), so the request and connection records
 *    outlive the function.  The 101 is counted in /metrics when it is
 *    sent, not when the connection ends hours later.
 *
 * Why workers cannot deadlock across servers: a chunkserver's PUT job
 * forwards to the next chunkserver's PUT job, so a fixed pool could fill
 * with jobs that each wait for a job of a full pool elsewhere.  Every job
 * belongs to one suspended connection (one job per connection at a time)
 * or is a short clean-up, so the pool is allowed as many threads as there
 * may be connections: no job ever waits for a worker, only for the peer
 * it talks to, and every such wait has its own deadline.  Threads exist
 * only while jobs run (idle ones exit), and the per-address cap bounds
 * how many one peer can make run.
 *
 * Replies are made by handlers and queued here, because libmicrohttpd only
 * takes a response before the body starts or after it ends: an error
 * found mid-body is kept, the rest of the body is read and dropped (up to
 * the route's cap plus DISCARD_MAX), and the error is sent at the end.
 *
 * URL decoding is ours, not libmicrohttpd's (its unescaper is replaced by
 * the identity), so that "%00" in a path is a 400 and not a silently
 * shortened name.
 *
 * Locking: h->conns_lock over the connection records (struct conn: list,
 * phase, deadlines), the reaper's wake-ups and the upgraded connections
 * whose functions run (h->upgrades); the pool has its own.  A
 * struct req is touched by the event thread, or by the one worker running
 * its job while the connection is suspended, never by both at once (a
 * held request's owner touches none of it but r->h, r->cn and the
 * connection, fixed at its start); only
 * the staging fields are shared with the pump, under r->mu (taken before
 * libmicrohttpd's own lock in suspend and resume, by both sides).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>
#include <linux/tcp.h>
#include <microhttpd.h>

#include "constants.h"
#include "httpd.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "util.h"
#include "workpool.h"

/* Defaults of struct gfs_httpd_limits. */
#define DEF_MAX_CONNS 4096
#define DEF_MAX_PER_PEER 512
#define DEF_IDLE_MS 60000
#define DEF_HEADER_MS 10000
#define DEF_STALL_MS 30000
#define DEF_MIN_RATE 1024
/* Descriptors kept for everything but connections (files, peers). */
#define NOFILE_SPARE 1024
/* libmicrohttpd's own inactivity timeout, a backstop behind the reaper. */
#define MHD_TIMEOUT_S 300
/* libmicrohttpd event threads (each with its own epoll set). */
#ifndef EVENT_THREADS
#define EVENT_THREADS 2
#endif
/* How often the reaper looks. */
#define REAP_MS 250
/* Body read and dropped after an error reply, beyond the route's cap,
 * before the connection is closed instead. */
#define DISCARD_MAX (4u << 20)
/* A staged body is handed to the route in pieces of up to STAGE_MAX; the
 * pump starts once PUMP_MIN bytes wait (or the body ended). */
#define STAGE_MAX (512u << 10)
#define PUMP_MIN (128u << 10)
/* A staged body whose Content-Length is at most SMALL_BODY is taken whole
 * before the route's begin, which then runs in the job of its data and
 * end: one hop to a worker per request instead of two.  Below PUMP_MIN,
 * so no pump starts before the end. */
#define SMALL_BODY (64u << 10)
_Static_assert(SMALL_BODY < PUMP_MIN, "a small body is never pumped");
/* Worker threads kept when idle, and how long an idle one lives. */
#define WORKERS_KEEP 4
#define WORKER_IDLE_MS 10000
/* Largest PEM file taken for TLS. */
#define TLS_FILE_MAX (1u << 20)
/* How often a stop that waits for upgraded connections says so. */
#define UPGRADE_LOG_MS 5000

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
	struct gfs_histo latency; /* request line to the reply's last byte */
};

/* Statuses counted one by one; others count as STATUS_N - 1 ("other"). */
#define STATUS_N 600

/* Why the reaper closed a connection (CUT_GONE: the peer had, and the
 * event loop had not seen it; see reap_gone()). */
enum cut_why { CUT_IDLE, CUT_HEADER, CUT_STALL, CUT_GONE, CUT_N };
static const char *const cut_names[CUT_N] = { "idle", "header", "stall",
					      "gone" };

/* Where a connection is, for its deadline. */
enum phase {
	PHASE_IDLE,    /* no request under way: idle_ms from since */
	PHASE_HEADER,  /* request line in, header not: header_ms from since */
	PHASE_BODY,    /* taking a body: bytes received must move */
	PHASE_REPLY,   /* sending a reply: bytes acknowledged must move */
};

/* One TCP connection (libmicrohttpd's socket context). */
struct conn {
	struct conn *prev, *next;  /* (conns_lock) h->conns */
	int fd;                    /* the socket */
	enum phase phase;          /* (conns_lock) */
	int64_t since;             /* (conns_lock) mono ms the phase began */
	bool paused;               /* (conns_lock) a job runs: no deadline */
	bool cut;                  /* (conns_lock) shut down by the reaper */
	bool gone;                 /* (conns_lock) woken: its peer left */
	int64_t wait_since;        /* (conns_lock) waiting for the peer since
				    * (when not paused) */
	int64_t waited;            /* (conns_lock) ms waited in this window
				    * before wait_since */
	uint64_t base;             /* (conns_lock) bytes moved at the window's
				    * start; UINT64_MAX: not read yet */
	bool upgraded;             /* (conns_lock) handed to an upgrade's
				    * function for good: no deadline, never
				    * cut nor woken */
};

/* An upgraded connection's function and what it needs (gfs_reply_upgrade()):
 * the request's until the 101 is sent, then its thread's. */
struct upgrade {
	struct upgrade *prev, *next; /* (conns_lock) h->upgrades, while the
				      * function may use fd */
	struct gfs_httpd *h;        /* borrowed */
	gfs_upgrade_fn fn;
	void *arg;                  /* owned: free_arg(arg) when done */
	void (*free_arg)(void *arg); /* or NULL */
	struct MHD_UpgradeResponseHandle *urh; /* libmicrohttpd's, once sent */
	int fd;                     /* libmicrohttpd's socket, once sent */
	char *extra;                /* bytes read past the request, owned */
	size_t extra_len;
};

struct gfs_httpd {
	struct MHD_Daemon *mhd;
	const struct gfs_route *routes; /* borrowed, usually a const table */
	size_t nroutes;
	struct route_stats *stats;  /* one per route, plus unmatched last */
	void *app;
	uint16_t port;
	size_t conn_memory;         /* libmicrohttpd's pool per connection */
	struct gfs_httpd_limits lim; /* defaults filled in */
	struct gfs_workpool *pool;  /* owned */
	pthread_mutex_t conns_lock;
	pthread_cond_t reaper_wake; /* stopping */
	struct conn *conns;         /* (conns_lock) every open connection */
	unsigned nconns;            /* (conns_lock) */
	unsigned nheld;             /* (conns_lock) of them paused for a job */
	bool stopping;              /* (conns_lock) the reaper leaves, no
				     * upgrade starts */
	struct upgrade *upgrades;   /* (conns_lock) functions that may use
				     * their sockets */
	unsigned nupgrades;         /* (conns_lock) upgrades not yet handed
				     * back (in upgrades, or closing) */
	pthread_cond_t upgrades_gone; /* nupgrades fell */
	unsigned nparked;           /* (conns_lock) requests held by an
				     * owner (gfs_req_hold()), not released */
	bool parking_closed;        /* (conns_lock) stopping: none is held
				     * from now on */
	pthread_cond_t parked_gone; /* nparked fell to 0 */
	pthread_t reaper;
	bool reaper_started;
	struct pollfd *gone_pfd;    /* the reaper's: sockets to look at, */
	struct conn **gone_cn;      /* whose connections, */
	size_t gone_cap;            /* room in both */
	atomic_ulong cuts[CUT_N];   /* connections cut, by why */
	struct gfs_auth *auth;      /* borrowed; NULL: everyone comes in */
	bool audit;                 /* log writes and refusals */
	char *tls_cert, *tls_key;   /* PEM text, owned, or NULL: plain */
	atomic_ulong status[STATUS_N]; /* replies by HTTP status */
	atomic_ulong bytes_in;      /* request bodies received */
	atomic_ulong bytes_out;     /* reply bodies handed to the sockets */
};

/* What a request has a worker do. */
enum job_kind {
	JOB_PREPARE,  /* before the body: stream begin, or the body cap */
	JOB_PUMP,     /* staged body to the route, until the stage is empty */
	JOB_HANDLE,   /* after the body: the handler, or the stream's end */
	JOB_DONE,     /* after the request: stream done, then free */
};

/* Where a request is, as seen by the event thread. */
enum step {
	STEP_NEW,      /* header complete: route it */
	STEP_PREPARE,  /* waiting for JOB_PREPARE */
	STEP_BODY,     /* taking the body, then the handler */
	STEP_QUEUED,   /* reply handed to libmicrohttpd */
};

/* Why a connection waits for the pump of its staged body. */
enum park {
	PARK_NONE,
	PARK_ROOM,    /* the fill buffer is full */
	PARK_END,     /* the body ended: the route must have all of it */
};

/* A request: what handlers see, and ours. */
struct req {
	struct gfs_req pub;        /* first: handlers get &r->pub */
	struct gfs_httpd *h;       /* borrowed */
	struct conn *cn;           /* borrowed, lives with the connection */
	struct gfs_job job;        /* the request's one job */
	enum job_kind kind;        /* of job */
	enum step step;
	bool waiting;              /* suspended for job, resume not seen yet
				    * (event thread only) */
	bool handled;              /* the handler or end ran */
	bool deferred;             /* its try in the loop asked for a worker
				    * (GFS_ROUTE_TRY_INLINE) */
	/* Held by its handler's owner (gfs_req_hold()): run in the event
	 * thread once resumed, to make the reply.  Event thread only. */
	void (*resumed)(struct gfs_req *req);
	bool done_ran;             /* the stream's done ran (after end) */
	bool chunked;              /* Transfer-Encoding: chunked */
	bool over;                 /* the body passed body_max: 413 */
	bool begin_late;           /* small body: begin runs with its end */
	uint64_t length;           /* Content-Length; UINT64_MAX: none */
	size_t body_max;           /* this request's cap */
	/* A staged body, shared with the pump: */
	pthread_mutex_t mu;
	char *fill;                /* (mu) STAGE_MAX, owned: being filled */
	size_t fill_len;           /* (mu) */
	char *spare;               /* the pump's buffer, owned */
	bool pumping;              /* (mu) a pump job is queued or running */
	enum park parked;          /* (mu) suspended for the pump */
	bool failed;               /* (mu) the route replied mid-body */
	bool orphan;               /* (mu) the request ended while pumping:
				    * the pump frees it */
	struct stream_reply *stream; /* the streamed reply, if any: ours
				      * until queued, then the response's */
	char *target;              /* the request line's target, owned */
	int64_t start_us;          /* monotonic arrival time */
	uint64_t out_len;          /* body of a buffer or file reply */
	bool http11;               /* not HTTP/1.0: may be upgraded */
	struct upgrade *up;        /* a 101 made and not sent yet: owned */
	bool upgraded;             /* the 101 went out (and was counted) */
};

static struct req *req_of(struct gfs_req *pub)
{
	return (struct req *)pub;
}

/* ---- deadlines ---------------------------------------------------------- */

/* Enter phase p; under no lock (takes conns_lock). */
static void conn_enter(struct gfs_httpd *h, struct conn *cn, enum phase p)
{
	int64_t now = gfs_mono_ms();

	if (!cn)
		return;
	pthread_mutex_lock(&h->conns_lock);
	cn->phase = p;
	cn->since = cn->wait_since = now;
	cn->waited = 0;
	cn->base = UINT64_MAX;
	pthread_mutex_unlock(&h->conns_lock);
}

/* A job starts (paused: its time is ours, not the peer's) or ends. */
static void conn_pause(struct gfs_httpd *h, struct conn *cn, bool paused)
{
	int64_t now = gfs_mono_ms();

	if (!cn)
		return;
	pthread_mutex_lock(&h->conns_lock);
	if (paused)
		cn->waited += now - cn->wait_since;
	else
		cn->wait_since = now;
	if (paused != cn->paused)
		h->nheld += paused ? 1u : -1u;
	cn->paused = paused;
	pthread_mutex_unlock(&h->conns_lock);
}

/* Bytes received (PHASE_BODY) or acknowledged (PHASE_REPLY) so far on
 * the socket, from the kernel; UINT64_MAX when it will not say. */
static uint64_t conn_moved(const struct conn *cn)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(cn->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) +
		  sizeof(ti.tcpi_bytes_received))
		return UINT64_MAX;
	return cn->phase == PHASE_BODY ? ti.tcpi_bytes_received
				       : ti.tcpi_bytes_acked;
}

/* Has a body or reply moved too little over a window of waiting?  Starts
 * the next window when it moved enough.  Under conns_lock. */
static bool conn_stalled(struct gfs_httpd *h, struct conn *cn, int64_t now)
{
	int64_t waited = cn->waited + (now - cn->wait_since);
	uint64_t moved;

	if (cn->base == UINT64_MAX) {
		cn->base = conn_moved(cn);
		cn->waited = 0;
		cn->wait_since = now;
		return false;
	}
	if (waited < (int64_t)h->lim.stall_ms)
		return false;
	moved = conn_moved(cn);
	if (moved == UINT64_MAX)
		return false;
	if (moved - cn->base < h->lim.min_rate * (uint64_t)waited / 1000)
		return true;
	cn->base = moved;
	cn->waited = 0;
	cn->wait_since = now;
	return false;
}

/* Why cn must go now, or CUT_N.  Under conns_lock.  O(1), plus a
 * getsockopt for a body or reply. */
static enum cut_why conn_verdict(struct gfs_httpd *h, struct conn *cn,
				 int64_t now)
{
	if (cn->cut || cn->paused || cn->upgraded)
		return CUT_N;
	switch (cn->phase) {
	case PHASE_IDLE:
		return now - cn->since >= (int64_t)h->lim.idle_ms ? CUT_IDLE
								 : CUT_N;
	case PHASE_HEADER:
		return now - cn->since >= (int64_t)h->lim.header_ms
			       ? CUT_HEADER : CUT_N;
	case PHASE_BODY:
	case PHASE_REPLY:
		return conn_stalled(h, cn, now) ? CUT_STALL : CUT_N;
	}
	return CUT_N;
}

/* Is cn a socket whose peer may have gone unseen: libmicrohttpd holds it
 * (no job, no upgrade) and waits to read from it?  Under conns_lock. */
static bool gone_candidate(const struct conn *cn)
{
	return cn->fd >= 0 && !cn->cut && !cn->paused && !cn->upgraded &&
	       cn->phase != PHASE_REPLY;
}

/*
 * Wake the connections whose peer went away unseen.  libmicrohttpd 0.9.75
 * watches a socket edge-triggered and takes a short read for "drained": a
 * FIN that came with the last bytes of a request, or right behind them
 * before the event thread looked, raises no edge of its own, so the end is
 * seen only when something else wakes the connection (a body cut short: the
 * stall deadline, 30 s on).  A peer whose end has come (POLLRDHUP, or
 * POLLHUP for a reset) and all of whose bytes were read (SIOCINQ 0) can send
 * nothing more; shutdown(SHUT_RD) then changes nothing a reader can see, but
 * wakes the socket's waiters: libmicrohttpd reads, gets the end and closes
 * as for any peer that went away (the request ends aborted, a streamed
 * body's done runs without its end).  A suspended connection is skipped:
 * resuming it reads it again.  While a reply goes out, libmicrohttpd does
 * not read; it does once the reply is done, and the connection is idle then.
 *
 * Rejected: libmicrohttpd's poll(2) loop, level-triggered, sees every end at
 * once but walks every connection on every turn (a 256 MiB PUT took 2.1
 * times as long beside 1,000 idle connections); a check after each piece of
 * body costs a syscall per piece and misses the header and idle phases.  One
 * poll(2) over the candidates per pass, under conns_lock (a record, and so
 * its descriptor, cannot go meanwhile).  The deadlines still hold for a
 * connection woken (and woken again) in vain.  Returns how many were woken
 * for the first time.
 */
static unsigned reap_gone(struct gfs_httpd *h)
{
	struct conn *cn;
	unsigned woken = 0;
	size_t n = 0, i;
	int inq;

	if (h->gone_cap < h->nconns) {
		h->gone_cap = h->nconns * 2u;
		h->gone_pfd = gfs_xrealloc(h->gone_pfd,
					   h->gone_cap * sizeof(*h->gone_pfd));
		h->gone_cn = gfs_xrealloc(h->gone_cn,
					  h->gone_cap * sizeof(*h->gone_cn));
	}
	for (cn = h->conns; cn; cn = cn->next) {
		if (!gone_candidate(cn))
			continue;
		h->gone_pfd[n] = (struct pollfd){ .fd = cn->fd,
						  .events = POLLRDHUP };
		h->gone_cn[n++] = cn;
	}
	if (!n || poll(h->gone_pfd, n, 0) <= 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (!(h->gone_pfd[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) ||
		    ioctl(h->gone_pfd[i].fd, SIOCINQ, &inq) || inq)
			continue;
		shutdown(h->gone_pfd[i].fd, SHUT_RD);
		woken += !h->gone_cn[i]->gone;
		h->gone_cn[i]->gone = true;
	}
	return woken;
}

/* One pass over every connection.  O(connections); under conns_lock, so
 * a record cannot be freed (nor its descriptor closed) meanwhile. */
static void reap_once(struct gfs_httpd *h)
{
	unsigned n[CUT_N] = { 0 };
	int64_t now = gfs_mono_ms();
	struct conn *cn;
	int i;

	for (cn = h->conns; cn; cn = cn->next) {
		enum cut_why why = conn_verdict(h, cn, now);

		if (why == CUT_N)
			continue;
		shutdown(cn->fd, SHUT_RDWR);
		cn->cut = true;
		n[why]++;
		atomic_fetch_add(&h->cuts[why], 1);
	}
	n[CUT_GONE] = reap_gone(h);
	atomic_fetch_add(&h->cuts[CUT_GONE], n[CUT_GONE]);
	for (i = 0; i < CUT_GONE; i++)
		if (n[i])
			gfs_info("httpd: closed %u connections past the %s "
				 "deadline", n[i], cut_names[i]);
	if (n[CUT_GONE])
		gfs_debug("httpd: %u peers went away unseen", n[CUT_GONE]);
}

static void *reaper(void *arg)
{
	struct gfs_httpd *h = arg;
	struct timespec ts;

	pthread_mutex_lock(&h->conns_lock);
	while (!h->stopping) {
		ts = gfs_deadline_ts(CLOCK_MONOTONIC, REAP_MS);
		pthread_cond_timedwait(&h->reaper_wake, &h->conns_lock, &ts);
		if (!h->stopping)
			reap_once(h);
	}
	pthread_mutex_unlock(&h->conns_lock);
	return NULL;
}

/* libmicrohttpd: a connection opens or closes (before its descriptor is
 * closed). */
static void on_connection(void *cls, struct MHD_Connection *c,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct gfs_httpd *h = cls;
	const union MHD_ConnectionInfo *ci;
	struct conn *cn = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(c,
					     MHD_CONNECTION_INFO_CONNECTION_FD);
		cn = gfs_xcalloc(1, sizeof(*cn));
		cn->fd = ci ? ci->connect_fd : -1;
		cn->phase = PHASE_IDLE;
		cn->since = gfs_mono_ms();
		pthread_mutex_lock(&h->conns_lock);
		cn->next = h->conns;
		if (h->conns)
			h->conns->prev = cn;
		h->conns = cn;
		h->nconns++;
		pthread_mutex_unlock(&h->conns_lock);
		*socket_context = cn;
		return;
	}
	if (!cn)
		return;
	pthread_mutex_lock(&h->conns_lock);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		h->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	h->nconns--;
	h->nheld -= cn->paused;
	pthread_mutex_unlock(&h->conns_lock);
	free(cn);
	*socket_context = NULL;
}

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* ---- routing ------------------------------------------------------------ */

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
 * Find the route for method and url (HEAD takes the GET route).  *err is
 * GFS_ENOROUTE when no pattern matches and GFS_EMETHOD when one matches
 * with another method.  O(routes).
 */
static const struct gfs_route *find_route(struct gfs_httpd *h,
					  struct MHD_Connection *c,
					  const char *method, const char *url,
					  const char **star, size_t *star_len,
					  enum gfs_err *err)
{
	size_t i;

	if (!strcmp(method, "HEAD"))
		method = "GET";
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

static void upgrade_free(struct upgrade *u);

static void req_free(struct req *r)
{
	struct gfs_req *req = &r->pub;

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
	if (r->up) /* the 101 was never sent */
		upgrade_free(r->up);
	gfs_who_clear(&req->who);
	free(r->target);
	free(req->path);
	free(req->body);
	free(r->fill);
	free(r->spare);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static struct route_stats *stats_of(struct gfs_httpd *h,
				    const struct gfs_route *r)
{
	return &h->stats[r ? (size_t)(r - h->routes) : h->nroutes];
}

static void stream_attach(struct stream_reply *s, struct req *r);

/* Hand the reply to libmicrohttpd, once; MHD_NO closes the connection. */
static enum MHD_Result queue_reply(struct req *r)
{
	struct gfs_req *req = &r->pub;
	struct gfs_req_hdr *hd;

	if (!req->resp) {
		gfs_error("bug: %s %s made no reply", req->method, req->url);
		gfs_reply_error(req, GFS_EINTERNAL, "handler made no reply");
		if (!req->resp)
			return MHD_NO;
	}
	for (hd = req->hdrs; hd; hd = hd->next)
		MHD_add_response_header(req->resp, hd->name, hd->value);
	if (r->stream)
		stream_attach(r->stream, r);
	r->step = STEP_QUEUED;
	req->queued = true;
	conn_enter(r->h, r->cn, PHASE_REPLY);
	return MHD_queue_response(req->conn, req->status, req->resp);
}

/* Reply err now (before the body, or at its end) and queue it. */
static enum MHD_Result refuse(struct req *r, enum gfs_err err,
			      const char *msg)
{
	gfs_reply_error(&r->pub, err, "%s", msg);
	if (err == GFS_EUNAUTH)
		gfs_reply_header(&r->pub, "WWW-Authenticate",
				 "Bearer realm=\"gfs\"");
	return queue_reply(r);
}

/* ---- jobs --------------------------------------------------------------- */

static void pump(struct req *r);

/* After a stream's end (or its refusal at the end of the body) nothing of
 * the stream runs but done: run it in the same job, rather than wake a
 * worker for it once the reply is sent.  Not when the reply is streamed
 * (its reads may use req->ctx until it is sent). */
static void done_early(struct req *r)
{
	const struct gfs_stream_ops *ops = r->pub.route->stream;

	if (!ops || !ops->done || r->stream)
		return;
	ops->done(&r->pub);
	r->done_ran = true;
}

/* The work of r->kind, on a worker (or inline). */
static void run_kind(struct req *r)
{
	struct gfs_req *req = &r->pub;
	const struct gfs_route *rt = req->route;

	switch (r->kind) {
	case JOB_PREPARE:
		if (rt->stream)
			rt->stream->begin(req);
		else
			r->body_max = rt->body_cap(req);
		break;
	case JOB_PUMP:
		pump(r); /* may free r */
		break;
	case JOB_HANDLE:
		if (r->begin_late) /* a small body, all here */
			rt->stream->begin(req);
		if (r->fill_len && !req->resp) /* the end of a staged body */
			rt->stream->data(req, r->fill, r->fill_len);
		r->fill_len = 0;
		if (!req->resp) {
			if (rt->stream)
				rt->stream->end(req);
			else
				rt->handle(req);
		}
		r->handled = true;
		done_early(r);
		break;
	case JOB_DONE:
		if (rt->stream->done)
			rt->stream->done(req);
		req_free(r);
		break;
	}
}

/* A request's job on a worker: do it, then hand the connection back. */
static void run_job(struct gfs_job *job)
{
	struct req *r = (struct req *)((char *)job - offsetof(struct req, job));
	struct MHD_Connection *c = r->pub.conn;

	if (r->kind == JOB_DONE || r->kind == JOB_PUMP) {
		run_kind(r); /* may free r; resumes by itself */
		return;
	}
	run_kind(r);
	conn_pause(r->h, r->cn, false); /* the peer's turn again */
	/* From here on r belongs to the event thread again. */
	MHD_resume_connection(c);
}

enum defer { RAN_HERE, QUEUED, REFUSED };

enum tried { ANSWERED, HELD, TAKE_HOP };

/* A GFS_ROUTE_TRY_INLINE handler's try in the event loop: did it answer,
 * hold the request for a later reply (gfs_req_hold(): the connection is
 * suspended already, and r may be resumed by its owner at any time), or
 * ask for a worker (then nothing of its run counts)? */
static enum tried tried_here(struct req *r)
{
	r->pub.in_loop = true;
	run_kind(r);
	r->pub.in_loop = false;
	if (r->resumed)
		return HELD;
	if (!r->deferred)
		return ANSWERED;
	if (r->pub.resp) { /* a reply and a deferral: the reply stands */
		gfs_error("bug: %s %s replied, then deferred", r->pub.method,
			  r->pub.url);
		return ANSWERED;
	}
	r->deferred = false;
	r->handled = false;
	return TAKE_HOP;
}

/* Do kind now (an inline route, or a handler that could answer in the
 * loop) or on a worker, the connection suspended until it is done.
 * REFUSED while the server stops. */
static enum defer defer(struct req *r, enum job_kind kind)
{
	unsigned flags = r->pub.route->flags;

	r->kind = kind;
	if (flags & GFS_ROUTE_INLINE) {
		run_kind(r);
		return RAN_HERE;
	}
	if (kind == JOB_HANDLE && (flags & GFS_ROUTE_TRY_INLINE) &&
	    !r->pub.route->stream) {
		switch (tried_here(r)) {
		case ANSWERED:
			return RAN_HERE;
		case HELD:
			return QUEUED;
		case TAKE_HOP:
			break;
		}
	}
	if (!gfs_workpool_reserve(r->h->pool))
		return REFUSED;
	conn_pause(r->h, r->cn, true);
	r->waiting = true;
	/* Suspend before the job exists: it may end at once and resume. */
	MHD_suspend_connection(r->pub.conn);
	gfs_workpool_submit(r->h->pool, &r->job);
	return QUEUED;
}

/* MHD_YES when the job ran here, after calling then. */
static enum MHD_Result deferred(struct req *r, enum job_kind kind,
				enum MHD_Result (*then)(struct req *r))
{
	switch (defer(r, kind)) {
	case RAN_HERE:
		return then ? then(r) : MHD_YES;
	case QUEUED:
		return MHD_YES;
	case REFUSED:
		return MHD_NO;
	}
	return MHD_NO;
}

/* ---- the request, step by step ------------------------------------------ */

/* libmicrohttpd: the request line arrived.  Returns the request's state
 * (its *con_cls): the header deadline starts now. */
static void *on_request_line(void *cls, const char *uri,
			     struct MHD_Connection *c)
{
	struct gfs_httpd *h = cls;
	struct req *r = gfs_xcalloc(1, sizeof(*r));

	r->target = gfs_xstrdup(uri ? uri : "/");
	r->pub.target = r->target;
	r->h = h;
	r->cn = conn_of(c);
	r->job.run = run_job;
	pthread_mutex_init(&r->mu, NULL);
	r->pub.app = h->app;
	r->pub.conn = c;
	r->start_us = gfs_mono_us();
	r->pub.start_ms = r->start_us / 1000;
	r->length = UINT64_MAX;
	conn_enter(h, r->cn, PHASE_HEADER);
	return r;
}

/* The body cap of r's route before any prepare job. */
static size_t default_cap(const struct gfs_route *rt)
{
	if (rt->body_max)
		return rt->body_max;
	if (!strcmp(rt->method, "GET") || !strcmp(rt->method, "DELETE"))
		return 0;
	return GFS_JSON_MAX;
}

/* Content-Length against the cap, before any of the body. */
static enum MHD_Result check_length(struct req *r)
{
	const char *clen = MHD_lookup_connection_value(
		r->pub.conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(
		r->pub.conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	char msg[64];
	uint64_t n;

	r->chunked = te && strcasestr(te, "chunked");
	if (!clen || r->chunked)
		return MHD_YES;
	if (!gfs_parse_u64(clen, &n))
		return refuse(r, GFS_EINVAL, "Content-Length is not a number");
	r->length = n;
	if (n <= r->body_max)
		return MHD_YES;
	snprintf(msg, sizeof(msg), "body larger than %zu bytes", r->body_max);
	return refuse(r, GFS_ETOOBIG, msg);
}

/* After JOB_PREPARE: refused, or on to the body. */
static enum MHD_Result prepared(struct req *r)
{
	r->step = STEP_BODY;
	if (r->pub.resp)
		return queue_reply(r);
	return r->pub.route->stream ? MHD_YES : check_length(r);
}

static bool small_body(const struct req *r);

/* First call for a request: route it, maybe refuse it before its body. */
static enum MHD_Result route_request(struct req *r, const char *url,
				     const char *method)
{
	const struct gfs_route *rt;
	const char *star, *why;
	size_t star_len;
	enum gfs_err err;
	enum MHD_Result rc;
	char *dec;

	r->pub.method = method;
	r->pub.url = url;
	r->step = STEP_BODY;
	conn_enter(r->h, r->cn, PHASE_BODY);
	rt = find_route(r->h, r->pub.conn, method, url, &star, &star_len,
			&err);
	r->pub.route = rt;
	if (!rt)
		return refuse(r, err, url);
	if (star) {
		err = gfs_url_decode(star, star_len, &dec);
		if (err)
			return refuse(r, err, "malformed URL path");
		r->pub.path = gfs_xasprintf("/%s", dec);
		free(dec);
	}
	err = gfs_auth_admit(r->h->auth, &r->pub, &why);
	if (err)
		return refuse(r, err, why);
	r->body_max = default_cap(rt);
	rc = check_length(r);
	if (rc == MHD_NO || r->pub.resp)
		return rc;
	if (rt->stream ? !rt->stream->begin : !rt->body_cap)
		return MHD_YES;
	r->begin_late = small_body(r);
	if (r->begin_late)
		return MHD_YES;
	r->step = STEP_PREPARE;
	return deferred(r, JOB_PREPARE, prepared);
}

/* Append a piece of a whole body. */
static void take_whole(struct req *r, const char *data, size_t len)
{
	struct gfs_req *req = &r->pub;

	req->body = gfs_xrealloc(req->body, req->body_len + len + 1);
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
}

/* Has a body that is being dropped gone more than DISCARD_MAX past cap?
 * (Then the connection is closed instead.) */
static bool too_far(uint64_t seen, size_t cap)
{
	return seen > DISCARD_MAX && seen - DISCARD_MAX > cap;
}

/* Is r's body staged for a pump? */
static bool staged(const struct req *r)
{
	const struct gfs_route *rt = r->pub.route;

	return rt->stream && rt->stream->data &&
	       !(rt->flags & GFS_ROUTE_INLINE);
}

static enum MHD_Result stage(struct req *r, const char *data, size_t *size);

/* May r's begin wait for its whole body (staged, and small)? */
static bool small_body(const struct req *r)
{
	return staged(r) && r->length <= SMALL_BODY;
}

/* A piece of body: buffer it, stage it, or drop it. */
static enum MHD_Result take_piece(struct req *r, const char *data,
				  size_t *size)
{
	struct gfs_req *req = &r->pub;
	size_t len = *size;

	*size = 0;
	req->body_seen += len;
	if (req->body_seen > r->body_max)
		r->over = true; /* 413 at the end */
	if (r->over || req->discard)
		return too_far(req->body_seen - len, r->body_max) ? MHD_NO
								  : MHD_YES;
	if (staged(r)) {
		*size = len;
		return stage(r, data, size);
	}
	if (req->resp) /* refused before the body */
		return MHD_YES;
	if (!req->route->stream) {
		take_whole(r, data, len);
		return MHD_YES;
	}
	if (req->route->stream->data) {  /* inline */
		req->route->stream->data(req, data, len);
		req->discard = req->resp != NULL;
	}
	return MHD_YES;
}

/* ---- a staged body ----------------------------------------------------- */

/* Park the connection until the pump made room or ended.  Under r->mu. */
static void park(struct req *r, enum park why)
{
	r->parked = why;
	r->waiting = true;
	conn_pause(r->h, r->cn, true);
	MHD_suspend_connection(r->pub.conn);
}

/* Start the pump unless it runs.  Under r->mu; false while stopping. */
static bool pump_start(struct req *r)
{
	if (r->pumping)
		return true;
	if (!gfs_workpool_reserve(r->h->pool))
		return false;
	r->pumping = true;
	r->kind = JOB_PUMP;
	gfs_workpool_submit(r->h->pool, &r->job);
	return true;
}

/*
 * A piece of a streamed body into the fill buffer (event thread).  What
 * does not fit stays in libmicrohttpd's buffer (*size left), the
 * connection parked until the pump has made room.
 */
static enum MHD_Result stage(struct req *r, const char *data, size_t *size)
{
	enum MHD_Result rc = MHD_YES;
	size_t n;

	pthread_mutex_lock(&r->mu);
	if (r->failed) {
		r->pub.discard = true; /* the route replied: drop the rest */
		*size = 0;
		goto out_unlock;
	}
	if (!r->fill)
		r->fill = gfs_xmalloc(STAGE_MAX);
	n = GFS_MIN(*size, STAGE_MAX - r->fill_len);
	memcpy(r->fill + r->fill_len, data, n);
	r->fill_len += n;
	*size -= n;
	r->pub.body_seen -= *size; /* counted again when it comes back */
	if ((r->fill_len >= PUMP_MIN || *size) && !pump_start(r))
		rc = MHD_NO;
	else if (*size)
		park(r, PARK_ROOM);
out_unlock:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* At the end of a streamed body: true once no pump runs (what is left in
 * the fill buffer goes to the route in the same job as its end); else
 * the connection is parked until the pump ends (event thread). */
static bool pump_done(struct req *r)
{
	bool done;

	pthread_mutex_lock(&r->mu);
	if (r->failed)
		r->fill_len = 0;
	done = !r->pumping;
	if (!done)
		park(r, PARK_END);
	pthread_mutex_unlock(&r->mu);
	return done;
}

/* Resume a connection parked for why (or any, PARK_NONE).  Under r->mu. */
static void unpark(struct req *r, enum park why)
{
	if (!r->parked || (why && r->parked != why))
		return;
	r->parked = PARK_NONE;
	conn_pause(r->h, r->cn, false);
	MHD_resume_connection(r->pub.conn);
}

/* The pump (a worker): hand the staged body to the route until none is
 * left; then resume a parked connection, or free an orphaned request. */
static void pump(struct req *r)
{
	struct gfs_req *req = &r->pub;
	char *buf;
	size_t len;

	pthread_mutex_lock(&r->mu);
	while (r->fill_len && !r->orphan && !r->failed) {
		buf = r->fill;
		len = r->fill_len;
		r->fill = r->spare;
		r->fill_len = 0;
		unpark(r, PARK_ROOM); /* the next fill has room */
		pthread_mutex_unlock(&r->mu);
		req->route->stream->data(req, buf, len);
		r->spare = buf;
		pthread_mutex_lock(&r->mu);
		r->failed = req->resp != NULL;
	}
	r->fill_len = 0;
	r->pumping = false;
	if (r->orphan) {
		pthread_mutex_unlock(&r->mu);
		r->kind = JOB_DONE;
		run_kind(r); /* done, free */
		return;
	}
	unpark(r, PARK_NONE);
	pthread_mutex_unlock(&r->mu);
}

/* The body is complete: run the route, then queue its reply. */
static enum MHD_Result finish(struct req *r)
{
	void (*resumed)(struct gfs_req *req) = r->resumed;

	if (r->pub.route && staged(r) && !r->handled && !pump_done(r))
		return MHD_YES; /* parked until the staged body is taken */
	if (resumed) { /* released by its owner: the reply is made here */
		r->resumed = NULL;
		resumed(&r->pub);
	}
	if (r->over && !r->pub.resp)
		gfs_reply_error(&r->pub, GFS_ETOOBIG,
				"body larger than %zu bytes", r->body_max);
	if (!r->pub.resp && !r->handled && r->pub.who.kind == GFS_WHO_CLUSTER &&
	    !r->pub.route->stream && !gfs_auth_body_ok(&r->pub))
		return refuse(r, GFS_EUNAUTH, "the body is not the one signed");
	if (r->pub.resp || r->handled)
		return queue_reply(r);
	return deferred(r, JOB_HANDLE, queue_reply);
}

static bool suspended(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_CONNECTION_SUSPENDED);

	return ci && ci->suspended == MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct req *r = *con_cls;

	if (!r)
		r = *con_cls = on_request_line(cls, url, c);
	if (r->waiting) {
		if (suspended(c))
			return MHD_YES; /* more body while a job runs: later */
		r->waiting = false;
	}
	switch (r->step) {
	case STEP_NEW:
		r->http11 = strcmp(version, MHD_HTTP_VERSION_1_0) != 0;
		return route_request(r, url, method);
	case STEP_PREPARE:
		return prepared(r);
	case STEP_BODY:
		break;
	case STEP_QUEUED:
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size)
		return take_piece(r, upload_data, upload_data_size);
	return finish(r);
}

/* Is r for the audit trail: a call of a write route, or a refusal? */
static bool audited(const struct req *r)
{
	return (r->pub.route && (r->pub.route->flags & GFS_ROUTE_WRITE)) ||
	       r->pub.status == 401 || r->pub.status == 403;
}

/* "audit: NAME METHOD TARGET STATUS": who did what, and how it ended.
 * The target is as sent (percent-encoded); a byte that could fake a log
 * line is shown as '?'. */
static void audit(const struct req *r, bool complete)
{
	char t[600];
	size_t i;

	snprintf(t, sizeof(t), "%s", r->target);
	for (i = 0; t[i]; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] >= 0x7f)
			t[i] = '?';
	gfs_info("audit: %s %s %s %u%s%s", gfs_who_name(&r->pub.who),
		 r->pub.method, t, r->pub.status,
		 complete ? "" : " (aborted)",
		 r->pub.status == 401 || r->pub.status == 403 ? " refused"
							      : "");
}

/* Count a finished request in /metrics: relaxed atomic adds, no lock.
 * Returns its duration in ms (for the log). */
static int64_t count_request(struct gfs_httpd *h, struct req *r, bool ok)
{
	struct route_stats *st = stats_of(h, r->pub.route);
	int64_t us = gfs_mono_us() - r->start_us;
	unsigned status = r->pub.status;

	atomic_fetch_add_explicit(&st->requests, 1, memory_order_relaxed);
	if (status >= 400 || !ok)
		atomic_fetch_add_explicit(&st->errors, 1,
					  memory_order_relaxed);
	gfs_histo_observe(&st->latency, us > 0 ? (uint64_t)us : 0);
	atomic_fetch_add_explicit(&h->status[status < STATUS_N ? status
						   : STATUS_N - 1],
				  1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->bytes_in, r->pub.body_seen,
				  memory_order_relaxed);
	if (r->out_len && r->pub.method && strcmp(r->pub.method, "HEAD"))
		atomic_fetch_add_explicit(&h->bytes_out, r->out_len,
					  memory_order_relaxed);
	return us / 1000;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct gfs_httpd *h = cls;
	struct req *r = *con_cls;
	const struct gfs_route *rt;
	int64_t ms;

	if (!r)
		return;
	*con_cls = NULL;
	(void)c;
	conn_enter(h, r->cn, PHASE_IDLE);
	rt = r->pub.route;
	if (r->upgraded) /* counted when its 101 went out */
		ms = (gfs_mono_us() - r->start_us) / 1000;
	else
		ms = count_request(h, r,
				   toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	if (r->pub.method && h->audit && audited(r))
		audit(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	else if (r->pub.method)
		gfs_debug("%s %s %u %lldms%s", r->pub.method, r->pub.url,
			  r->pub.status, (long long)ms,
			  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK
				  ? "" : " (aborted)");
	if (r->resumed) { /* released, and its peer left before the reply */
		void (*resumed)(struct gfs_req *req) = r->resumed;

		r->resumed = NULL;
		resumed(&r->pub); /* the owner's state goes; the reply too */
	}
	r->pub.method = r->pub.url = NULL; /* libmicrohttpd's, going */
	pthread_mutex_lock(&r->mu);
	r->orphan = r->pumping;
	pthread_mutex_unlock(&r->mu);
	if (r->orphan)
		return; /* the pump frees it */
	r->pub.conn = NULL;
	if (rt && rt->stream && rt->stream->done && !r->done_ran) {
		r->kind = JOB_DONE;
		gfs_workpool_run(h->pool, &r->job);
		return;
	}
	req_free(r);
}

/* ---- upgraded connections ----------------------------------------------- */

/* Free u and its argument (free_arg runs here).  Its socket is not ours. */
static void upgrade_free(struct upgrade *u)
{
	if (u->free_arg)
		u->free_arg(u->arg);
	free(u->extra);
	free(u);
}

/* Enter u in h->upgrades, unless the server stops.  Under conns_lock. */
static bool upgrade_link(struct gfs_httpd *h, struct upgrade *u)
{
	if (h->stopping)
		return false;
	u->prev = NULL;
	u->next = h->upgrades;
	if (h->upgrades)
		h->upgrades->prev = u;
	h->upgrades = u;
	h->nupgrades++;
	return true;
}

/* Take u out of h->upgrades: nothing shuts its socket down any more.
 * Under conns_lock. */
static void upgrade_unlink(struct gfs_httpd *h, struct upgrade *u)
{
	if (u->prev)
		u->prev->next = u->next;
	else
		h->upgrades = u->next;
	if (u->next)
		u->next->prev = u->prev;
}

/*
 * The function is done (or never ran): hand the socket back to
 * libmicrohttpd, which closes it (and then ends the request and the
 * connection in its event thread), free u, and only then let a stop that
 * waits go on: libmicrohttpd must not stop before the handle is used.
 */
static void upgrade_end(struct upgrade *u)
{
	struct gfs_httpd *h = u->h;

	pthread_mutex_lock(&h->conns_lock);
	upgrade_unlink(h, u); /* before the descriptor can be closed */
	pthread_mutex_unlock(&h->conns_lock);
	MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
	upgrade_free(u);
	pthread_mutex_lock(&h->conns_lock);
	h->nupgrades--;
	pthread_cond_broadcast(&h->upgrades_gone);
	pthread_mutex_unlock(&h->conns_lock);
}

/* An upgraded connection's thread: the function, on a blocking socket. */
static void *upgrade_run(void *arg)
{
	struct upgrade *u = arg;
	int fl = fcntl(u->fd, F_GETFL);

	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(u->fd, F_SETFL, fl & ~O_NONBLOCK);
	u->fn(u->arg, u->fd, u->extra, u->extra_len);
	upgrade_end(u);
	return NULL;
}

/* Start u's thread (detached: upgrade_end() is what a stop waits for). */
static bool upgrade_start(struct upgrade *u)
{
	pthread_attr_t a;
	pthread_t t;
	bool ok;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	ok = pthread_create(&t, &a, upgrade_run, u) == 0;
	pthread_attr_destroy(&a);
	return ok;
}

/* Mark the connection as the upgrade's: the reaper leaves it alone. */
static void conn_upgrade(struct gfs_httpd *h, struct conn *cn)
{
	if (!cn)
		return;
	pthread_mutex_lock(&h->conns_lock);
	cn->upgraded = true;
	pthread_mutex_unlock(&h->conns_lock);
}

/* Give u its socket, libmicrohttpd's handle, and a copy of the bytes read
 * past the request (libmicrohttpd's buffer is not for another thread). */
static void upgrade_bind(struct upgrade *u, int fd,
			 struct MHD_UpgradeResponseHandle *urh,
			 const char *extra, size_t extra_len)
{
	u->fd = fd;
	u->urh = urh;
	if (!extra_len)
		return;
	u->extra = gfs_xmalloc(extra_len);
	memcpy(u->extra, extra, extra_len);
	u->extra_len = extra_len;
}

/*
 * libmicrohttpd: the 101 of r (con_cls) was sent, the socket is u's (cls).
 * In the event thread: only starts u's thread.  While the server stops,
 * or when no thread can be had, the function never runs: the socket is
 * handed back at once and the argument freed.
 */
static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls,
		       const char *extra, size_t extra_len, MHD_socket sock,
		       struct MHD_UpgradeResponseHandle *urh)
{
	struct upgrade *u = cls;
	struct req *r = con_cls;
	struct gfs_httpd *h = u->h;
	bool linked;

	(void)c;
	r->up = NULL; /* u is its thread's now */
	r->upgraded = true;
	count_request(h, r, true);
	conn_upgrade(h, r->cn);
	upgrade_bind(u, sock, urh, extra, extra_len);
	pthread_mutex_lock(&h->conns_lock);
	linked = upgrade_link(h, u);
	pthread_mutex_unlock(&h->conns_lock);
	if (linked && upgrade_start(u))
		return;
	if (linked) {
		gfs_error("httpd: no thread for an upgraded connection");
		upgrade_end(u);
		return;
	}
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	upgrade_free(u);
}

/*
 * Shut every upgraded socket down, so that its function sees the end,
 * and wait until every function returned and its socket was handed back.
 * No new one starts (h->stopping).  Under conns_lock.  A function that
 * does not return holds the stop: said every UPGRADE_LOG_MS.
 */
static void upgrades_stop(struct gfs_httpd *h)
{
	struct upgrade *u;
	struct timespec ts;

	for (u = h->upgrades; u; u = u->next)
		shutdown(u->fd, SHUT_RDWR);
	while (h->nupgrades) {
		ts = gfs_deadline_ts(CLOCK_MONOTONIC, UPGRADE_LOG_MS);
		if (pthread_cond_timedwait(&h->upgrades_gone, &h->conns_lock,
					   &ts) == ETIMEDOUT)
			gfs_warn("httpd: stopping: %u upgraded connections "
				 "still open", h->nupgrades);
	}
}

/* Wait until every request held by an owner (gfs_req_hold()) was
 * released: libmicrohttpd must not stop with one suspended.  The owners
 * answer within their own deadlines.  Under conns_lock. */
static void parked_stop(struct gfs_httpd *h)
{
	struct timespec ts;

	h->parking_closed = true;
	while (h->nparked) {
		ts = gfs_deadline_ts(CLOCK_MONOTONIC, UPGRADE_LOG_MS);
		if (pthread_cond_timedwait(&h->parked_gone, &h->conns_lock,
					   &ts) == ETIMEDOUT)
			gfs_warn("httpd: stopping: %u held requests not "
				 "answered yet", h->nparked);
	}
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

static void or_default(uint64_t *v, uint64_t def)
{
	if (!*v)
		*v = def;
}

/* Fill the zero fields of lim with the defaults; fit max_conns in the
 * descriptors we may open. */
static void limits_fill(struct gfs_httpd_limits *l)
{
	struct rlimit rl;

	or_default(&l->max_conns, DEF_MAX_CONNS);
	or_default(&l->max_per_peer, DEF_MAX_PER_PEER);
	or_default(&l->idle_ms, DEF_IDLE_MS);
	or_default(&l->header_ms, DEF_HEADER_MS);
	or_default(&l->stall_ms, DEF_STALL_MS);
	or_default(&l->min_rate, DEF_MIN_RATE);
	gfs_raise_nofile(); /* a descriptor per connection */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    l->max_conns + NOFILE_SPARE > rl.rlim_cur) {
		l->max_conns = rl.rlim_cur > 2 * NOFILE_SPARE
				       ? rl.rlim_cur - NOFILE_SPARE
				       : rl.rlim_cur / 2;
		gfs_warn("httpd: at most %llu connections (open files limit "
			 "%llu)", (unsigned long long)l->max_conns,
			 (unsigned long long)rl.rlim_cur);
	}
	l->max_per_peer = GFS_MIN(l->max_per_peer, l->max_conns);
}

static struct MHD_Daemon *daemon_start(struct gfs_httpd *h,
				       const struct sockaddr_storage *ss)
{
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
			 MHD_USE_ERROR_LOG;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (ss->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (h->tls_cert)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, h,
		MHD_OPTION_ARRAY, h->tls_cert ? tls : tls + 2,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->conn_memory,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->lim.max_conns,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)h->lim.max_per_peer,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MHD_TIMEOUT_S,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)EVENT_THREADS,
		MHD_OPTION_UNESCAPE_CALLBACK, identity_unescape, NULL,
		MHD_OPTION_URI_LOG_CALLBACK, on_request_line, h,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_END);
}

/* Free h before its locks and pool exist. */
static void httpd_free_early(struct gfs_httpd *h)
{
	if (h->tls_key)
		explicit_bzero(h->tls_key, strlen(h->tls_key));
	free(h->tls_key);
	free(h->tls_cert);
	free(h);
}

static void httpd_free(struct gfs_httpd *h)
{
	free(h->gone_pfd);
	free(h->gone_cn);
	gfs_workpool_free(h->pool);
	pthread_mutex_destroy(&h->conns_lock);
	pthread_cond_destroy(&h->reaper_wake);
	pthread_cond_destroy(&h->upgrades_gone);
	pthread_cond_destroy(&h->parked_gone);
	free(h->stats);
	httpd_free_early(h);
}

/* Read the PEM certificate and key of sec into h; false (logged) when
 * one is missing or unreadable. */
static bool load_tls(struct gfs_httpd *h, const struct gfs_httpd_sec *sec)
{
	char msg[300];
	size_t n;

	if (!sec || (!sec->tls_cert && !sec->tls_key))
		return true;
	if (!sec->tls_cert || !sec->tls_key) {
		gfs_error("TLS needs both --tls-cert and --tls-key");
		return false;
	}
	if (gfs_read_file(sec->tls_cert, TLS_FILE_MAX, false, &h->tls_cert,
			  &n, msg, sizeof(msg)) ||
	    gfs_read_file(sec->tls_key, TLS_FILE_MAX, true, &h->tls_key, &n,
			  msg, sizeof(msg))) {
		gfs_error("TLS: %s", msg);
		return false;
	}
	return true;
}

struct gfs_httpd *gfs_httpd_start_with(const char *listen,
				       const struct gfs_route *routes,
				       size_t n, void *app, size_t conn_memory,
				       const struct gfs_httpd_limits *lim)
{
	return gfs_httpd_start_secure(listen, routes, n, app, conn_memory, lim,
				      NULL);
}

struct gfs_httpd *gfs_httpd_start_secure(const char *listen,
					 const struct gfs_route *routes,
					 size_t n, void *app,
					 size_t conn_memory,
					 const struct gfs_httpd_limits *lim,
					 const struct gfs_httpd_sec *sec)
{
	struct gfs_httpd *h = gfs_xcalloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	socklen_t sslen;
	pthread_condattr_t ca;
	const union MHD_DaemonInfo *info;

	if (!parse_listen(listen, &ss, &sslen)) {
		gfs_error("cannot parse listen address '%s'", listen);
		free(h);
		return NULL;
	}
	if (!load_tls(h, sec)) {
		httpd_free_early(h);
		return NULL;
	}
	if (sec) {
		h->auth = sec->auth;
		h->audit = sec->audit;
	}
	if (lim)
		h->lim = *lim;
	limits_fill(&h->lim);
	h->routes = routes;
	h->nroutes = n;
	h->app = app;
	h->conn_memory = conn_memory ? conn_memory : (size_t)GFS_HTTPD_SMALL;
	h->stats = gfs_xcalloc(n + 1, sizeof(*h->stats));
	h->pool = gfs_workpool_new((unsigned)h->lim.max_conns, WORKERS_KEEP,
				   WORKER_IDLE_MS);
	pthread_mutex_init(&h->conns_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->reaper_wake, &ca);
	pthread_cond_init(&h->upgrades_gone, &ca);
	pthread_cond_init(&h->parked_gone, &ca);
	pthread_condattr_destroy(&ca);
	h->mhd = daemon_start(h, &ss);
	if (!h->mhd) {
		gfs_error("cannot listen on %s (address in use?)", listen);
		httpd_free(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	h->reaper_started = !pthread_create(&h->reaper, NULL, reaper, h);
	if (!h->reaper_started)
		gfs_warn("httpd: no reaper thread: peers have no deadlines");
	return h;
}

struct gfs_httpd *gfs_httpd_start(const char *listen,
				  const struct gfs_route *routes, size_t n,
				  void *app, size_t conn_memory)
{
	return gfs_httpd_start_with(listen, routes, n, app, conn_memory, NULL);
}

/*
 * Order matters: upgraded connections are shut down and their functions
 * waited for, and no new one starts (libmicrohttpd would otherwise close
 * their sockets under them, and free the handles their threads use);
 * running jobs finish (they resume their connections; libmicrohttpd must
 * not stop with one suspended), and no new one starts (a resumed request
 * that wants another is closed instead); then libmicrohttpd closes every
 * connection, whose done callbacks run here; then the pool's threads go.
 */
void gfs_httpd_stop(struct gfs_httpd *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->conns_lock);
	h->stopping = true;
	pthread_cond_signal(&h->reaper_wake);
	upgrades_stop(h);
	pthread_mutex_unlock(&h->conns_lock);
	if (h->reaper_started)
		pthread_join(h->reaper, NULL);
	gfs_workpool_drain(h->pool);
	pthread_mutex_lock(&h->conns_lock);
	parked_stop(h);
	pthread_mutex_unlock(&h->conns_lock);
	MHD_stop_daemon(h->mhd);
	httpd_free(h);
}

uint16_t gfs_httpd_port(const struct gfs_httpd *h)
{
	return h->port;
}

/* Connections, workers, jobs, cuts, bytes. */
static void metrics_conns(struct gfs_httpd *h, const char *prefix,
			  FILE *out)
{
	char name[128];
	unsigned n, held, upgraded;
	int i;

	pthread_mutex_lock(&h->conns_lock);
	n = h->nconns;
	held = h->nheld;
	upgraded = h->nupgrades;
	pthread_mutex_unlock(&h->conns_lock);
	snprintf(name, sizeof(name), "%s_http_connections", prefix);
	gfs_metric_u64(out, name, "gauge", "open HTTP connections", n);
	snprintf(name, sizeof(name), "%s_http_held", prefix);
	gfs_metric_u64(out, name, "gauge", "connections waiting for a job",
		       held);
	snprintf(name, sizeof(name), "%s_http_upgraded", prefix);
	gfs_metric_u64(out, name, "gauge", "connections switched to another "
		       "protocol (101), whose function runs", upgraded);
	snprintf(name, sizeof(name), "%s_http_workers", prefix);
	gfs_metric_u64(out, name, "gauge", "threads running request jobs",
		       gfs_workpool_threads(h->pool));
	snprintf(name, sizeof(name), "%s_http_jobs", prefix);
	gfs_metric_u64(out, name, "gauge", "request jobs queued or running",
		       gfs_workpool_jobs(h->pool));
	snprintf(name, sizeof(name), "%s_http_cut_total", prefix);
	gfs_metric_head(out, name, "counter", "connections closed for "
			"missing a deadline or gone, by which one");
	for (i = 0; i < CUT_N; i++)
		fprintf(out, "%s{why=\"%s\"} %lu\n", name, cut_names[i],
			atomic_load(&h->cuts[i]));
	snprintf(name, sizeof(name), "%s_http_received_bytes_total", prefix);
	gfs_metric_u64(out, name, "counter", "bytes of request bodies "
		       "received", atomic_load(&h->bytes_in));
	snprintf(name, sizeof(name), "%s_http_sent_bytes_total", prefix);
	gfs_metric_u64(out, name, "counter", "bytes of reply bodies sent",
		       atomic_load(&h->bytes_out));
}

/* Replies by status: every status seen, errors (4xx, 5xx) included. */
static void metrics_status(struct gfs_httpd *h, const char *prefix,
			   FILE *out)
{
	unsigned long n;
	unsigned i;

	fprintf(out, "# HELP %s_http_replies_total replies sent, by HTTP "
		"status (4xx and 5xx are the errors)\n"
		"# TYPE %s_http_replies_total counter\n", prefix, prefix);
	for (i = 0; i < STATUS_N; i++) {
		n = atomic_load_explicit(&h->status[i], memory_order_relaxed);
		if (n)
			fprintf(out, "%s_http_replies_total{status=\"%u\"} "
				"%lu\n", prefix, i, n);
	}
}

/* Per route: requests, errors and the latency histogram. */
static void metrics_routes(struct gfs_httpd *h, const char *prefix,
			   FILE *out)
{
	char name[128], labels[320];
	size_t i;

	fprintf(out, "# HELP %s_http_requests_total requests served, by "
		"route\n# TYPE %s_http_requests_total counter\n",
		prefix, prefix);
	fprintf(out, "# HELP %s_http_errors_total replies with a status of "
		"400 or more, or cut short, by route\n"
		"# TYPE %s_http_errors_total counter\n", prefix, prefix);
	for (i = 0; i <= h->nroutes; i++) {
		struct route_stats *st = &h->stats[i];
		const char *m = i < h->nroutes ? h->routes[i].method : "any";
		const char *p = i < h->nroutes ? h->routes[i].pattern : "none";

		fprintf(out, "%s_http_requests_total{method=\"%s\",route="
			"\"%s\"} %lu\n%s_http_errors_total{method=\"%s\","
			"route=\"%s\"} %lu\n", prefix, m, p,
			atomic_load(&st->requests), prefix, m, p,
			atomic_load(&st->errors));
	}
	snprintf(name, sizeof(name), "%s_http_request_seconds", prefix);
	gfs_metric_head(out, name, "histogram", "time from a request's "
			"first line to its reply's last byte, by route");
	for (i = 0; i <= h->nroutes; i++) {
		snprintf(labels, sizeof(labels),
			 "method=\"%s\",route=\"%s\"",
			 i < h->nroutes ? h->routes[i].method : "any",
			 i < h->nroutes ? h->routes[i].pattern : "none");
		gfs_metric_histo(out, name, labels, &h->stats[i].latency);
	}
}

void gfs_httpd_metrics(struct gfs_httpd *h, const char *prefix, FILE *out)
{
	metrics_conns(h, prefix, out);
	metrics_status(h, prefix, out);
	metrics_routes(h, prefix, out);
}

uint64_t gfs_httpd_requests(struct gfs_httpd *h, const char *prefix)
{
	size_t i, len = strlen(prefix);
	uint64_t n = 0;

	for (i = 0; i < h->nroutes; i++)
		if (!strncmp(h->routes[i].pattern, prefix, len))
			n += atomic_load_explicit(&h->stats[i].requests,
						  memory_order_relaxed);
	return n;
}

void gfs_reply_metrics(struct gfs_req *req, struct gfs_metrics_text *t)
{
	size_t len;
	char *text = gfs_metrics_take(t, &len);

	if (!text) {
		gfs_reply_error(req, GFS_EINTERNAL, "out of memory");
		return;
	}
	gfs_reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8",
			text, len, true);
}

const char *gfs_req_header(struct gfs_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *gfs_req_keep(struct gfs_req *req, const char *s)
{
	struct gfs_req_str *k = gfs_xmalloc(sizeof(*k) + strlen(s) + 1);

	strcpy(k->s, s);
	k->next = req->strs;
	req->strs = k;
	return k->s;
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

void gfs_req_defer(struct gfs_req *req)
{
	struct req *r = (struct req *)req;

	if (!req->in_loop) {
		gfs_error("bug: %s %s deferred outside the event loop",
			  req->method, req->url);
		return;
	}
	r->deferred = true;
}

bool gfs_req_hold(struct gfs_req *req, void (*resumed)(struct gfs_req *req))
{
	struct req *r = (struct req *)req;
	bool closed;

	if (!req->in_loop || r->resumed || req->resp || r->deferred) {
		gfs_error("bug: %s %s held outside the event loop, or twice",
			  req->method, req->url);
		abort();
	}
	pthread_mutex_lock(&r->h->conns_lock);
	closed = r->h->parking_closed;
	r->h->nparked += !closed;
	pthread_mutex_unlock(&r->h->conns_lock);
	if (closed)
		return false;
	r->resumed = resumed;
	conn_pause(r->h, r->cn, true);
	r->waiting = true;
	/* before the owner may know of it: it may release at once */
	MHD_suspend_connection(req->conn);
	return true;
}

void gfs_req_release(struct gfs_req *req)
{
	struct req *r = (struct req *)req;
	struct gfs_httpd *h = r->h;

	conn_pause(h, r->cn, false); /* the peer's turn again */
	/* From here on r belongs to the event thread again. */
	MHD_resume_connection(req->conn);
	pthread_mutex_lock(&h->conns_lock);
	if (!--h->nparked)
		pthread_cond_broadcast(&h->parked_gone);
	pthread_mutex_unlock(&h->conns_lock);
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
	if (req->resp == r)
		req_of(req)->out_len = len;
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
	if (r && req->resp == r)
		req_of(req)->out_len = len;
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

/*
 * Adapter from our read callback to libmicrohttpd's.  For a reply of known
 * size libmicrohttpd passes its response's own buffer, which nothing else
 * touches until the callback returned a count; so the callback suspends
 * the connection, returns 0 ("nothing yet") and a worker fills that
 * buffer; when the connection is resumed libmicrohttpd asks again for the
 * same position and gets the count.  (A chunked reply's buffer is the
 * connection's; it too stays put while suspended.  The position, buffer
 * and size are checked anyway: on a mismatch the read is done again.)
 */
struct stream_reply {
	ssize_t (*read)(void *cls, uint64_t pos, char *buf, size_t max);
	void (*free_cls)(void *cls);
	void *cls;
	struct gfs_httpd *h;          /* borrowed */
	struct gfs_job job;           /* the read, then the free */
	/* Set when queued (stream_attach), borrowed from the request: */
	struct MHD_Connection *conn;
	struct conn *cn;
	bool inline_route;
	/* The read under way or done (ready): */
	uint64_t pos;
	char *buf;
	size_t max;
	ssize_t got;
	bool ready;
};

static void stream_attach(struct stream_reply *s, struct req *r)
{
	s->conn = r->pub.conn;
	s->cn = r->cn;
	s->inline_route = r->pub.route &&
			  (r->pub.route->flags & GFS_ROUTE_INLINE);
	r->stream = NULL; /* the response's now */
}

/* A read callback's result for libmicrohttpd; bytes counted as sent. */
static ssize_t stream_result(struct stream_reply *s, ssize_t n)
{
	if (n == -1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n <= 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	atomic_fetch_add_explicit(&s->h->bytes_out, (unsigned long)n,
				  memory_order_relaxed);
	return n;
}

/* The read, on a worker. */
static void stream_read_job(struct gfs_job *job)
{
	struct stream_reply *s =
		(struct stream_reply *)((char *)job -
					offsetof(struct stream_reply, job));
	struct MHD_Connection *c = s->conn;

	s->got = s->read(s->cls, s->pos, s->buf, s->max);
	s->ready = true;
	conn_pause(s->h, s->cn, false);
	MHD_resume_connection(c);
}

/* libmicrohttpd wants bytes at pos (event thread). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_reply *s = cls;

	if (s->ready) {
		s->ready = false;
		if (s->pos == pos && s->buf == buf && s->max == max)
			return stream_result(s, s->got);
	}
	if (s->inline_route || !s->conn)
		return stream_result(s, s->read(s->cls, pos, buf, max));
	if (!gfs_workpool_reserve(s->h->pool))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	s->pos = pos;
	s->buf = buf;
	s->max = max;
	s->job.run = stream_read_job;
	conn_pause(s->h, s->cn, true);
	MHD_suspend_connection(s->conn);
	gfs_workpool_submit(s->h->pool, &s->job);
	return 0;
}

static void stream_free_job(struct gfs_job *job)
{
	struct stream_reply *s =
		(struct stream_reply *)((char *)job -
					offsetof(struct stream_reply, job));

	s->free_cls(s->cls);
	free(s);
}

/* libmicrohttpd is done with the reply: free on a worker (free_cls may
 * block, e.g. a gateway closing its file). */
static void stream_free(void *cls)
{
	struct stream_reply *s = cls;

	if (!s->free_cls) {
		free(s);
		return;
	}
	s->job.run = stream_free_job;
	gfs_workpool_run(s->h->pool, &s->job);
}

void gfs_reply_stream(struct gfs_req *req, unsigned status, const char *type,
		      uint64_t size, size_t block,
		      ssize_t (*read)(void *cls, uint64_t pos, char *buf,
				      size_t max),
		      void *cls, void (*free_cls)(void *cls))
{
	struct stream_reply *s = gfs_xcalloc(1, sizeof(*s));
	struct MHD_Response *r;

	s->read = read;
	s->free_cls = free_cls;
	s->cls = cls;
	s->h = req_of(req)->h;
	r = MHD_create_response_from_callback(
		size == UINT64_MAX ? MHD_SIZE_UNKNOWN : size, block,
		stream_read, s, stream_free);
	if (!r) {
		if (free_cls)
			free_cls(cls);
		free(s);
	}
	set_reply(req, status, r, type);
	if (req->resp == r && r)
		req_of(req)->stream = s;
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

/* Does the comma list (a header's value) hold token, in any case? */
static bool lists_token(const char *list, const char *token)
{
	size_t n = strlen(token), len;
	const char *p = list;

	while (*p) {
		p += strspn(p, " \t,");
		len = strcspn(p, ",");
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && !strncasecmp(p, token, n))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* Refuse an upgrade of req to proto that cannot be made (a JSON error
 * reply): true when it did. */
static bool upgrade_refuse(struct gfs_req *req, const char *proto)
{
	struct req *r = req_of(req);
	const char *asked = gfs_req_header(req, MHD_HTTP_HEADER_UPGRADE);

	if (r->h->tls_cert) { /* libmicrohttpd would relay TLS itself */
		gfs_reply_json(req, 501, json_pack("{s:s, s:s}", "error",
			       "no protocol upgrade over TLS", "code",
			       "not_implemented"));
		return true;
	}
	if (!r->http11) {
		gfs_reply_error(req, GFS_EINVAL, "an upgrade needs HTTP/1.1");
		return true;
	}
	if (!asked || !lists_token(asked, proto)) {
		gfs_reply_error(req, GFS_EINVAL, "no \"Upgrade: %s\" header",
				proto);
		return true;
	}
	return false;
}

/* A 101 response that hands the socket to on_upgrade(u).  libmicrohttpd
 * adds "Connection: Upgrade" itself. */
static struct MHD_Response *upgrade_response(struct upgrade *u,
					     const char *proto)
{
	struct MHD_Response *resp =
		MHD_create_response_for_upgrade(on_upgrade, u);

	if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE,
					    proto) != MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return resp;
}

void gfs_reply_upgrade(struct gfs_req *req, const char *proto,
		       gfs_upgrade_fn fn, void *arg,
		       void (*free_arg)(void *arg))
{
	struct upgrade *u;
	struct MHD_Response *resp;

	if (upgrade_refuse(req, proto)) {
		if (free_arg)
			free_arg(arg);
		return;
	}
	u = gfs_xcalloc(1, sizeof(*u));
	u->h = req_of(req)->h;
	u->fn = fn;
	u->arg = arg;
	u->free_arg = free_arg;
	u->fd = -1;
	resp = upgrade_response(u, proto);
	if (resp && !req->resp)
		req_of(req)->up = u; /* until on_upgrade(), or req_free() */
	set_reply(req, 101, resp, NULL);
	if (req_of(req)->up != u) /* no reply, or a second one */
		upgrade_free(u);
}

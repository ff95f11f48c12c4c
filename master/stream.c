/*
 * stream.c - the op-log stream (stream.h): the leader's two threads per
 * stream, and the follower's connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <curl/curl.h>

#include "codec.h"
#include "httpd.h"
#include "log.h"
#include "master.h"
#include "oplog.h"
#include "stream.h"
#include "util.h"

#define FRAME_HDR 5                 /* u32 length, u8 type */
#define RECORDS_MAX (4u << 20)      /* a RECORDS frame, as a poll's body */
#define FRAME_MAX (256u << 20)      /* the most a follower takes: a poll's
				     * (one record may be larger than
				     * RECORDS_MAX) */
#define STREAMS_MAX 16              /* streams served at once */
#define ACK_MAX 256                 /* the most the leader takes */
#define SERVE_WAIT_MS 100           /* the sender's look at `stop` */
#define SEND_TIMEOUT_MS 5000        /* a peer that reads nothing */
#define SILENT_MS 30000             /* a follower that acknowledges nothing */
#define HEAD_MAX 8192               /* the 101 answer's head */

/* ---- both sides ------------------------------------------------------- */

static bool write_all(int fd, const struct iovec *iov, int n)
{
	struct iovec v[2];
	ssize_t w;
	int i;

	memcpy(v, iov, (size_t)n * sizeof(*v));
	for (i = 0; i < n;) {
		struct msghdr mh = { .msg_iov = v + i,
				     .msg_iovlen = (size_t)(n - i) };

		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		while (i < n && (size_t)w >= v[i].iov_len)
			w -= (ssize_t)v[i++].iov_len;
		if (i < n) {
			v[i].iov_base = (char *)v[i].iov_base + w;
			v[i].iov_len -= (size_t)w;
		}
	}
	return true;
}

/* One frame as two pieces: v[0] its header (in hdr), v[1] the payload. */
static void frame_iov(uint8_t hdr[FRAME_HDR], struct iovec v[2], char type,
		      const void *p, size_t len)
{
	gfs_put_u32(hdr, (uint32_t)len);
	hdr[4] = (uint8_t)type;
	v[0] = (struct iovec){ hdr, FRAME_HDR };
	v[1] = (struct iovec){ (void *)p, len };
}

static bool send_frame(int fd, char type, const void *p, size_t len)
{
	uint8_t hdr[FRAME_HDR];
	struct iovec v[2];

	frame_iov(hdr, v, type, p, len);
	return write_all(fd, v, len ? 2 : 1);
}

/* Blocking, with these timeouts, and every frame sent at once (small
 * frames waiting for Nagle and a delayed ACK would cost 40 ms each). */
static void set_socket(int fd, long recv_ms, long send_ms)
{
	struct timeval r = { recv_ms / 1000, (recv_ms % 1000) * 1000 };
	struct timeval s = { send_ms / 1000, (send_ms % 1000) * 1000 };
	int fl = fcntl(fd, F_GETFL), one = 1;

	if (fl >= 0 && (fl & O_NONBLOCK))
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, sizeof(r));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s, sizeof(s));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Received bytes not yet taken as frames. */
struct rbuf {
	uint8_t *buf;
	size_t off, len, cap;
};

/* A whole frame at the front of b: 1 (and its parts, consumed), 0 (more
 * bytes needed), -1 (longer than max). */
static int take_frame(struct rbuf *b, size_t max, char *type,
		      const uint8_t **payload, size_t *len)
{
	size_t n;

	if (b->len - b->off < FRAME_HDR)
		return 0;
	n = gfs_get_u32(b->buf + b->off);
	if (n > max)
		return -1;
	if (b->len - b->off < FRAME_HDR + n)
		return 0;
	*type = (char)b->buf[b->off + 4];
	*payload = b->buf + b->off + FRAME_HDR;
	*len = n;
	b->off += FRAME_HDR + n;
	return 1;
}

/* Read what fd has (at least one byte, waiting as its SO_RCVTIMEO or the
 * poll before says): > 0, 0 at the end, < 0 on error (EAGAIN: none). */
static ssize_t fill(struct rbuf *b, int fd)
{
	ssize_t n;

	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->off && b->cap - b->len < 65536) {
		memmove(b->buf, b->buf + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->cap - b->len < 65536) {
		b->cap = GFS_MAX(b->cap * 2, b->len + 65536);
		b->buf = gfs_xrealloc(b->buf, b->cap);
	}
	do
		n = recv(fd, b->buf + b->len, b->cap - b->len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		b->len += (size_t)n;
	return n;
}

static void rbuf_put(struct rbuf *b, const void *p, size_t n)
{
	if (!n)
		return;
	b->buf = gfs_xrealloc(b->buf, b->len + n);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->cap = b->len;
}

/* ---- the leader's side ------------------------------------------------- */

static atomic_int streams; /* served now: two threads each */
static atomic_ulong frames_sent[2]; /* RECORDS frames: by the sender, pushed */

struct serve {
	struct gfs_master *m;
	int fd;
	uint64_t epoch;            /* of the leader that took the stream */
	struct gfs_isr_poll q;     /* the last acknowledgement, as a poll */
	char *url;                 /* q.url */
	uint32_t crc;              /* *q.prev_crc */
	pthread_mutex_t wmu;       /* one frame out at a time, and pos */
	atomic_bool stop;
	_Atomic uint64_t pos;      /* the next record to send (written
				    * under wmu; the sender's wait reads it
				    * without) */
	int sndbuf;                /* the socket's send buffer, bytes */
	pthread_t sender;
	struct serve *next;        /* (serves_mu) in serves */
};

/* The streams whose senders run, for push_written(). */
static pthread_mutex_t serves_mu = PTHREAD_MUTEX_INITIALIZER;
static struct serve *serves;

static void serve_free(void *arg)
{
	struct serve *s = arg;

	pthread_mutex_destroy(&s->wmu);
	free(s->url);
	free(s);
	atomic_fetch_sub(&streams, 1);
}

static bool serve_send(struct serve *s, char type, const void *p, size_t n)
{
	bool ok;

	pthread_mutex_lock(&s->wmu);
	ok = !atomic_load(&s->stop) && send_frame(s->fd, type, p, n);
	pthread_mutex_unlock(&s->wmu);
	return ok;
}

/* Still the leader that took the stream?  Then every record it logged so
 * far is its own.  (A master that stepped down may go on appending the
 * next leader's records, or wipe its log: never sent here.) */
static bool leading(struct serve *s, uint64_t *prev_epoch, uint64_t *start)
{
	struct gfs_master *m = s->m;
	bool ok;

	pthread_mutex_lock(&m->lock);
	ok = m->role == GFS_ROLE_PRIMARY && m->epoch == s->epoch &&
	     !atomic_load(&m->stopping);
	if (prev_epoch) {
		*prev_epoch = m->prev_epoch;
		*start = m->epoch_start;
	}
	pthread_mutex_unlock(&m->lock);
	return ok;
}

/* Take s->q as a poll that waits for nothing and send its STATUS. */
static bool answer(struct serve *s)
{
	struct gfs_enc e = { 0 };
	uint64_t prev = 0, start = 0;
	int64_t next_ms;
	enum gfs_err err;
	bool ok;

	err = gfs_isr_ack(&s->m->isr, s->m->log, &s->q, &next_ms);
	/* mutations held for this acknowledgement are answered from here,
	 * before the status goes back (acks.h) */
	gfs_acks_check(&s->m->acks);
	if (err) {
		gfs_debug("oplog stream of %s: %s at %" PRIu64 ": closed",
			  s->url, gfs_err_code(err), s->q.from);
		return false;
	}
	if (!leading(s, &prev, &start))
		return false;
	gfs_enc_u8(&e, s->q.attached);
	gfs_enc_i64(&e, s->q.read_ms);
	gfs_enc_str(&e, s->q.stamp);
	gfs_enc_u64(&e, s->epoch);
	gfs_enc_u64(&e, prev);
	gfs_enc_u64(&e, start);
	gfs_enc_i64(&e, next_ms);
	ok = serve_send(s, GFS_FRAME_STATUS, e.buf, e.len);
	gfs_enc_free(&e);
	return ok;
}

/* An ACK payload into s->q; false when malformed. */
static bool take_ack(struct serve *s, const uint8_t *p, size_t len)
{
	struct gfs_dec d;
	char *echo;
	bool has_crc, ok;

	gfs_dec_init(&d, p, len);
	s->q.from = gfs_dec_u64(&d);
	has_crc = gfs_dec_u8(&d);
	s->crc = gfs_dec_u32(&d);
	echo = gfs_dec_str(&d, GFS_ISR_STAMP_MAX + 24);
	memset(&s->q.echo, 0, sizeof(s->q.echo));
	ok = gfs_dec_done(&d) && echo && s->q.from &&
	     (!echo[0] || gfs_isr_parse_echo(echo, &s->q.echo));
	s->q.prev_crc = has_crc ? &s->crc : NULL;
	free(echo);
	return ok;
}

/* Send records [from, next) in out unless a push sent them meanwhile
 * (s->pos moved on: the caller looks again from there). */
static bool send_records(struct serve *s, uint64_t from, uint64_t next,
			 const struct gfs_enc *out)
{
	bool ok = true;

	pthread_mutex_lock(&s->wmu);
	if (atomic_load(&s->stop))
		ok = false;
	else if (s->pos == from) {
		ok = send_frame(s->fd, GFS_FRAME_RECORDS, out->buf, out->len);
		if (ok) {
			s->pos = next;
			atomic_fetch_add(&frames_sent[0], 1);
		}
	}
	pthread_mutex_unlock(&s->wmu);
	return ok;
}

/* Send every record from s->pos on as it is written, unless the group
 * commit's leader pushed it first (push_written()): then the sender
 * reads nothing. */
static void *sender(void *arg)
{
	struct serve *s = arg;
	struct gfs_enc out = { 0 };
	uint64_t from, next;
	enum gfs_err err;

	while (!atomic_load(&s->stop)) {
		if (!gfs_oplog_wait_written(s->m->log, &s->pos, SERVE_WAIT_MS))
			continue;
		pthread_mutex_lock(&s->wmu);
		from = s->pos;
		pthread_mutex_unlock(&s->wmu);
		out.len = 0;
		err = gfs_oplog_serve(s->m->log, from, NULL, 0, RECORDS_MAX,
				      &out, &next);
		if (err || (next > from &&
			    (!leading(s, NULL, NULL) ||
			     !send_records(s, from, next, &out))))
			break;
	}
	gfs_enc_free(&out);
	atomic_store(&s->stop, true);
	shutdown(s->fd, SHUT_RDWR); /* the receiver's read ends */
	return NULL;
}

enum push { PUSHED, NO_ROOM, BROKEN };

/* One RECORDS frame of recs[0..len) without waiting: NO_ROOM (nothing
 * sent) when the bytes not yet acknowledged by the peer plus the frame
 * pass a quarter of the send buffer as it was at the start (the kernel
 * counts each segment's overhead too: well below, a small frame goes
 * out whole); BROKEN when it went out in part, or not at all for another
 * reason than room (the peer is gone, or the stream's framing would be
 * lost: it must end).  wmu held. */
static enum push push_frame(struct serve *s, const uint8_t *recs, size_t len)
{
	uint8_t hdr[FRAME_HDR];
	struct iovec v[2];
	struct msghdr mh = { .msg_iov = v, .msg_iovlen = 2 };
	int queued = 0;
	ssize_t w;

	if (ioctl(s->fd, SIOCOUTQ, &queued) < 0 || queued < 0 ||
	    (size_t)s->sndbuf / 4 < (size_t)queued + sizeof(hdr) + len)
		return NO_ROOM;
	frame_iov(hdr, v, GFS_FRAME_RECORDS, recs, len);
	do
		w = sendmsg(s->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return NO_ROOM;
	return w == (ssize_t)(sizeof(hdr) + len) ? PUSHED : BROKEN;
}

/*
 * The group commit's leader is about to write records [first, end) of
 * m's own (gfs_oplog_on_written()): send them to every follower waiting
 * for exactly them now, rather than wake each stream's sender to read
 * them back from the file (a thread hop on the path of every
 * acknowledged mutation).  Only records this master appended itself
 * come here, so a master that stepped down never pushes another
 * leader's.  Never waits: a stream whose sender is mid-frame, or whose
 * socket has no room, is left to its sender.
 */
static bool push_written(void *cls, uint64_t first, uint64_t end,
			 const uint8_t *recs, size_t len)
{
	struct gfs_master *m = cls;
	struct serve *s;
	bool all = true;

	if (len > RECORDS_MAX)
		return false; /* the senders read it back */
	pthread_mutex_lock(&serves_mu);
	for (s = serves; s; s = s->next) {
		if (s->m != m || atomic_load(&s->stop))
			continue;
		if (pthread_mutex_trylock(&s->wmu)) {
			all = false; /* its sender is at work: it looks again */
			continue;
		}
		if (s->pos == first && !atomic_load(&s->stop)) {
			switch (push_frame(s, recs, len)) {
			case PUSHED:
				s->pos = end;
				atomic_fetch_add(&frames_sent[1], 1);
				break;
			case NO_ROOM:
				all = false;
				break;
			case BROKEN:
				gfs_info("oplog stream of %s: a pushed frame "
					 "did not go out whole: closed",
					 s->url);
				atomic_store(&s->stop, true);
				shutdown(s->fd, SHUT_RDWR);
				all = false; /* its sender sees stop at once */
				break;
			}
		} else if (s->pos < end) {
			all = false; /* behind: its sender catches up */
		}
		pthread_mutex_unlock(&s->wmu);
	}
	pthread_mutex_unlock(&serves_mu);
	return all;
}

void gfs_stream_push_start(struct gfs_master *m)
{
	gfs_oplog_on_written(m->log, push_written, m);
}

void gfs_stream_frames(uint64_t *by_sender, uint64_t *pushed)
{
	*by_sender = atomic_load(&frames_sent[0]);
	*pushed = atomic_load(&frames_sent[1]);
}

static void serves_add(struct serve *s)
{
	pthread_mutex_lock(&serves_mu);
	s->next = serves;
	serves = s;
	pthread_mutex_unlock(&serves_mu);
}

static void serves_remove(struct serve *s)
{
	struct serve **p;

	pthread_mutex_lock(&serves_mu);
	for (p = &serves; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	pthread_mutex_unlock(&serves_mu);
}

/* The receiver: the upgraded connection's thread (gfs_upgrade_fn). */
static void serve_main(void *arg, int fd, const char *extra, size_t extra_len)
{
	struct serve *s = arg;
	struct rbuf b = { 0 };
	const uint8_t *p;
	size_t len;
	int64_t heard = gfs_mono_ms();
	ssize_t n;
	socklen_t sl = sizeof(s->sndbuf);
	char type;
	int r;

	s->fd = fd;
	set_socket(fd, SERVE_WAIT_MS * 2, SEND_TIMEOUT_MS);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s->sndbuf, &sl) < 0)
		s->sndbuf = 0; /* nothing pushed: the sender sends all */
	if (!answer(s))
		return;
	s->pos = s->q.from;
	/* pushed to from now on, before its sender first looks: a batch
	 * told before and written after that look wakes it all the same */
	serves_add(s);
	gfs_oplog_reader_added(s->m->log);
	if (pthread_create(&s->sender, NULL, sender, s)) {
		gfs_error("oplog stream: no thread");
		serves_remove(s);
		return;
	}
	gfs_info("oplog stream of %s from record %" PRIu64, s->url, s->pos);
	rbuf_put(&b, extra, extra_len);
	while (!atomic_load(&s->stop)) {
		r = take_frame(&b, ACK_MAX, &type, &p, &len);
		if (r < 0 || (r > 0 && (type != GFS_FRAME_ACK ||
					!take_ack(s, p, len) || !answer(s))))
			break;
		if (r > 0) {
			heard = gfs_mono_ms();
			continue;
		}
		n = fill(&b, fd);
		if (!n || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
		    gfs_mono_ms() - heard > SILENT_MS)
			break;
	}
	atomic_store(&s->stop, true);
	serves_remove(s);
	shutdown(fd, SHUT_RDWR);
	pthread_join(s->sender, NULL);
	gfs_info("oplog stream of %s ended at record %" PRIu64, s->url,
		 s->pos);
	free(b.buf);
}

void gfs_stream_serve(struct gfs_req *req, const struct gfs_isr_poll *first)
{
	struct gfs_master *m = req->app;
	struct serve *s;

	if (atomic_fetch_add(&streams, 1) >= STREAMS_MAX) {
		atomic_fetch_sub(&streams, 1);
		gfs_reply_error(req, GFS_EUNAVAIL, "%d op-log streams served "
				"already: poll", STREAMS_MAX);
		return;
	}
	s = gfs_xcalloc(1, sizeof(*s));
	s->m = m;
	s->fd = -1;
	s->q = *first;
	s->url = gfs_xstrdup(first->url);
	s->q.url = s->url;
	if (first->prev_crc) {
		s->crc = *first->prev_crc;
		s->q.prev_crc = &s->crc;
	}
	pthread_mutex_init(&s->wmu, NULL);
	pthread_mutex_lock(&m->lock);
	s->epoch = m->epoch;
	pthread_mutex_unlock(&m->lock);
	gfs_reply_upgrade(req, GFS_STREAM_PROTO, serve_main, s, serve_free);
}

/* ---- the follower's side ----------------------------------------------- */

struct gfs_stream {
	int fd;
	struct rbuf b;
};

/* A connected socket to url's host and port (curl resolves and
 * connects; we keep a duplicate of its socket); -1 on failure. */
static int connect_to(const char *url, long timeout_ms)
{
	CURL *c = curl_easy_init();
	curl_socket_t sock = CURL_SOCKET_BAD;
	int fd = -1;

	if (!c)
		return -1;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_PROXY, ""); /* masters talk directly */
	if (curl_easy_perform(c) == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK &&
	    sock != CURL_SOCKET_BAD)
		fd = fcntl(sock, F_DUPFD_CLOEXEC, 0);
	curl_easy_cleanup(c);
	return fd;
}

/* The request head for url with hdrs; new string, NULL when url is not
 * an http:// URL. */
static char *request_head(const char *url, const char *const *hdrs)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	char *head = NULL, *more;

	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) ||
	    curl_url_get(u, CURLUPART_QUERY, &query, 0))
		goto out;
	head = gfs_xasprintf("GET %s?%s HTTP/1.1\r\nHost: %s:%s\r\n"
			     "Connection: Upgrade\r\nUpgrade: "
			     GFS_STREAM_PROTO "\r\n", path, query, host, port);
	for (; hdrs && *hdrs; hdrs++) {
		more = gfs_xasprintf("%s%s\r\n", head, *hdrs);
		free(head);
		head = more;
	}
	more = gfs_xasprintf("%s\r\n", head);
	free(head);
	head = more;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return head;
}

/* Read the answer's head; its status (0: none, or not HTTP), and what
 * came after it into b. */
static int read_head(struct gfs_stream *s)
{
	char *end;
	int status = 0;

	for (;;) {
		end = s->b.len ? memmem(s->b.buf, s->b.len, "\r\n\r\n", 4)
			       : NULL;
		if (end)
			break;
		if (s->b.len >= HEAD_MAX || fill(&s->b, s->fd) <= 0)
			return 0;
	}
	*end = '\0';
	if (sscanf((char *)s->b.buf, "HTTP/1.%*d %d", &status) != 1)
		return 0;
	s->b.off = (size_t)(end + 4 - (char *)s->b.buf);
	return status;
}

struct gfs_stream *gfs_stream_open(const char *url, const char *const *hdrs,
				   long timeout_ms, int *status)
{
	struct gfs_stream *s;
	char *head = request_head(url, hdrs);
	struct iovec v;

	*status = 0;
	if (!head)
		return NULL;
	s = gfs_xcalloc(1, sizeof(*s));
	s->fd = connect_to(url, timeout_ms);
	v = (struct iovec){ head, strlen(head) };
	if (s->fd >= 0) {
		set_socket(s->fd, timeout_ms, SEND_TIMEOUT_MS);
		if (write_all(s->fd, &v, 1))
			*status = read_head(s);
	}
	free(head);
	if (*status != 101) {
		gfs_stream_close(s);
		return NULL;
	}
	return s;
}

void gfs_stream_close(struct gfs_stream *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->b.buf);
	free(s);
}

int gfs_stream_recv(struct gfs_stream *s, int timeout_ms, char *type,
		    const uint8_t **payload, size_t *len)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	int64_t until = gfs_mono_ms() + timeout_ms;
	int64_t left;
	ssize_t n;
	int r;

	for (;;) {
		r = take_frame(&s->b, FRAME_MAX, type, payload, len);
		if (r)
			return r;
		left = until - gfs_mono_ms();
		r = poll(&pfd, 1, (int)GFS_MAX(left, 0));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (!r)
			return 0;
		n = fill(&s->b, s->fd);
		if (!n || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return -1;
	}
}

bool gfs_stream_send_ack(struct gfs_stream *s, const struct gfs_stream_ack *a)
{
	struct gfs_enc e = { 0 };
	bool ok;

	gfs_enc_u64(&e, a->from);
	gfs_enc_u8(&e, a->has_crc);
	gfs_enc_u32(&e, a->has_crc ? a->crc : 0);
	gfs_enc_str(&e, a->echo);
	ok = send_frame(s->fd, GFS_FRAME_ACK, e.buf, e.len);
	gfs_enc_free(&e);
	return ok;
}

bool gfs_stream_status_decode(const uint8_t *p, size_t len,
			      struct gfs_stream_status *st)
{
	struct gfs_dec d;
	char *stamp;

	memset(st, 0, sizeof(*st));
	gfs_dec_init(&d, p, len);
	st->attached = gfs_dec_u8(&d);
	st->read_ms = gfs_dec_i64(&d);
	stamp = gfs_dec_str(&d, GFS_ISR_STAMP_MAX - 1);
	st->epoch = gfs_dec_u64(&d);
	st->prev_epoch = gfs_dec_u64(&d);
	st->epoch_start = gfs_dec_u64(&d);
	st->next_ms = gfs_dec_i64(&d);
	if (stamp)
		snprintf(st->stamp, sizeof(st->stamp), "%s", stamp);
	free(stamp);
	return gfs_dec_done(&d) && stamp && st->read_ms >= 0 &&
	       st->next_ms >= 0;
}

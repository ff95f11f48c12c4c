/*
 * forward.c - pushed PUTs to the next replica over plain sockets (see
 * forward.h for why not libcurl).
 *
 * A forward is: connect (or take a kept-alive socket), send the request
 * head, wait briefly for "100 Continue" before the first body byte, send
 * each piece with writev (chunked framing around it when the size is
 * unknown), send the end, read the reply.  Abort is close(2).
 *
 * Invariants: a socket in the pool has no request in flight and no unread
 * bytes; a struct gfs_forward's rbuf holds bytes read from the peer and not
 * yet parsed (a reply head, then its body).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "forward.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define CONNECT_MS 2000
#define STALL_MS 30000       /* a peer taking no byte for this long */
#define CONTINUE_MS 1000     /* wait for "100 Continue" at most this */
#define MAX_IDLE 32          /* kept-alive sockets, all peers together */
#define IDLE_MS 50000        /* below the servers' 120 s idle timeout */
#define KEY_MAX 300

/* A kept-alive socket. */
struct conn {
	int fd;
	char key[KEY_MAX];      /* "host:port" */
	int64_t idle_since;     /* monotonic ms */
	struct conn *next;
};

struct gfs_forward_pool {
	pthread_mutex_t lock;
	struct conn *idle;      /* most recent first; protected by lock */
	unsigned nidle;
};

/* What a reply head said. */
struct head {
	unsigned status;
	int64_t clen;           /* Content-Length, -1 when absent */
	bool close;             /* the peer closes after it */
};

struct gfs_forward {
	struct gfs_forward_pool *pool; /* borrowed */
	int fd;                  /* owned */
	char key[KEY_MAX];
	char host[256], port[8];
	char *head;              /* request head, owned; kept for a retry on
				  * a stale kept-alive socket */
	size_t head_len;
	bool reused;             /* the socket came from the pool */
	bool chunked;
	int64_t size;
	uint64_t sent;           /* body bytes sent */
	bool continued;          /* may send the body */
	bool ended;
	bool early;              /* a reply came before the body was done */
	struct head reply;       /* the early reply's head */
	char rbuf[16384];        /* bytes from the peer not yet parsed; a
				  * reply must fit */
	size_t rlen;
	char msg[160];           /* why it failed */
};

static enum gfs_err fail(struct gfs_forward *f, enum gfs_err err,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum gfs_err fail(struct gfs_forward *f, enum gfs_err err,
			 const char *fmt, ...)
{
	va_list ap;

	if (f->msg[0])
		return err; /* keep the first cause */
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	return err;
}

/* --- the pool ---------------------------------------------------------- */

struct gfs_forward_pool *gfs_forward_pool_new(void)
{
	struct gfs_forward_pool *p = gfs_xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void gfs_forward_pool_free(struct gfs_forward_pool *p)
{
	if (!p)
		return;
	while (p->idle) {
		struct conn *c = p->idle;

		p->idle = c->next;
		close(c->fd);
		free(c);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* True when an idle socket is still open (no FIN, no stray bytes). */
static bool still_open(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* A kept-alive socket to key, or -1.  O(idle sockets). */
static int pool_take(struct gfs_forward_pool *p, const char *key)
{
	struct conn **pc, *c;
	int64_t now = gfs_mono_ms();
	int fd = -1;

	pthread_mutex_lock(&p->lock);
	for (pc = &p->idle; (c = *pc);) {
		bool stale = now - c->idle_since > IDLE_MS;

		if (!stale && (fd >= 0 || strcmp(c->key, key))) {
			pc = &c->next;
			continue;
		}
		*pc = c->next;
		p->nidle--;
		if (!stale && still_open(c->fd))
			fd = c->fd;
		else
			close(c->fd);
		free(c);
	}
	pthread_mutex_unlock(&p->lock);
	return fd;
}

static void pool_put(struct gfs_forward_pool *p, const char *key, int fd)
{
	struct conn *c;

	pthread_mutex_lock(&p->lock);
	if (p->nidle >= MAX_IDLE) {
		pthread_mutex_unlock(&p->lock);
		close(fd);
		return;
	}
	c = gfs_xcalloc(1, sizeof(*c));
	c->fd = fd;
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->idle_since = gfs_mono_ms();
	c->next = p->idle;
	p->idle = c;
	p->nidle++;
	pthread_mutex_unlock(&p->lock);
}

/* --- connecting -------------------------------------------------------- */

/* "http://host[:port][/]" into host and port. */
static bool parse_base(const char *base, char host[256], char port[8])
{
	const char *h, *end, *colon = NULL;
	size_t n;

	if (strncmp(base, "http://", 7))
		return false;
	h = base + 7;
	end = h + strcspn(h, "/");
	if (*end && end[1])
		return false; /* a path: not a chunkserver base URL */
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));

		if (!rb)
			return false;
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (!colon && rb + 1 != end)
			return false;
		n = (size_t)(rb - h - 1);
		h++;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		n = (size_t)((colon ? colon : end) - h);
	}
	if (!n || n >= 256)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789.-_:") != n)
		return false; /* it goes into a Host header: no tricks */
	n = colon ? (size_t)(end - colon - 1) : 0;
	if (colon && (!n || n >= 8))
		return false;
	snprintf(port, 8, "%.*s", colon ? (int)n : 2, colon ? colon + 1 : "80");
	return strspn(port, "0123456789") == strlen(port);
}

static bool wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left;
	int r;

	for (;;) {
		left = deadline - gfs_mono_ms();
		if (left < 0)
			left = 0;
		r = poll(&pfd, 1, (int)GFS_MIN(left, (int64_t)INT32_MAX));
		if (r > 0)
			return true;
		if (r == 0 || errno != EINTR)
			return false;
	}
}

/* Connect to one address with a deadline; the socket ends up blocking
 * with a send stall timeout. */
static int dial_one(const struct addrinfo *ai)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
			SOCK_NONBLOCK, 0);
	struct timeval tv = { .tv_sec = STALL_MS / 1000 };
	int one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS ||
		    !wait_fd(fd, POLLOUT, gfs_mono_ms() + CONNECT_MS) ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
		    soerr) {
			if (soerr)
				errno = soerr;
			else if (errno == EINPROGRESS)
				errno = ETIMEDOUT;
			close(fd);
			return -1;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static enum gfs_err dial(struct gfs_forward *f)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
	int rc = getaddrinfo(f->host, f->port, &hints, &ai);

	if (rc)
		return fail(f, GFS_EUNAVAIL, "cannot resolve %s: %s", f->host,
			    gai_strerror(rc));
	f->fd = -1;
	for (a = ai; a && f->fd < 0; a = a->ai_next)
		f->fd = dial_one(a);
	freeaddrinfo(ai);
	if (f->fd < 0)
		return fail(f, errno == ETIMEDOUT ? GFS_ETIMEDOUT
						   : GFS_EUNAVAIL,
			    "cannot connect to %s: %s", f->key,
			    strerror(errno));
	f->reused = false;
	return GFS_OK;
}

/* --- sending ----------------------------------------------------------- */

/* Send every byte of iov[0..n) (modified); false on failure. */
static bool send_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };

	while (mh.msg_iovlen) {
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		while (mh.msg_iovlen && (size_t)w >= mh.msg_iov->iov_len) {
			w -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + w;
			mh.msg_iov->iov_len -= (size_t)w;
		}
	}
	return true;
}

static enum gfs_err send_head(struct gfs_forward *f)
{
	struct iovec iov = { .iov_base = f->head, .iov_len = f->head_len };

	if (!send_iov(f->fd, &iov, 1))
		return fail(f, GFS_EIO, "sending to %s: %s", f->key,
			    strerror(errno));
	return GFS_OK;
}

static char *build_head(struct gfs_forward *f, const char *target,
			const char *const *headers)
{
	size_t cap = 512 + strlen(target), len;
	char *h, clen[64];

	for (const char *const *p = headers; p && *p; p++)
		cap += strlen(*p) + 2;
	h = gfs_xmalloc(cap);
	if (f->chunked)
		snprintf(clen, sizeof(clen), "Transfer-Encoding: chunked");
	else
		snprintf(clen, sizeof(clen), "Content-Length: %lld",
			 (long long)f->size);
	len = (size_t)snprintf(h, cap,
			       "PUT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
			       "Expect: 100-continue\r\n",
			       target, f->key, clen);
	for (const char *const *p = headers; p && *p; p++)
		len += (size_t)snprintf(h + len, cap - len, "%s\r\n", *p);
	len += (size_t)snprintf(h + len, cap - len, "\r\n");
	f->head_len = len;
	return h;
}

enum gfs_err gfs_forward_start(struct gfs_forward_pool *p, const char *base,
			       const char *target, const char *const *headers,
			       int64_t size, struct gfs_forward **out,
			       char *msg, size_t msglen)
{
	struct gfs_forward *f = gfs_xcalloc(1, sizeof(*f));
	enum gfs_err err = GFS_OK;

	f->pool = p;
	f->fd = -1;
	f->size = size;
	f->chunked = size < 0;
	*out = NULL;
	if (!parse_base(base, f->host, f->port)) {
		err = fail(f, GFS_EINVAL, "not a chunkserver URL: %.100s",
			   base);
		goto out_fail;
	}
	snprintf(f->key, sizeof(f->key), "%s:%s", f->host, f->port);
	if (strchr(f->host, ':'))
		snprintf(f->key, sizeof(f->key), "[%s]:%s", f->host, f->port);
	f->head = build_head(f, target, headers);
	f->fd = pool_take(p, f->key);
	f->reused = f->fd >= 0;
	if (f->fd < 0)
		err = dial(f);
	if (!err)
		err = send_head(f);
	if (!err) {
		*out = f;
		return GFS_OK;
	}
out_fail:
	snprintf(msg, msglen, "%s", f->msg);
	gfs_forward_abort(f);
	return err;
}

/* --- reading replies --------------------------------------------------- */

static void parse_header_line(const char *line, size_t n, struct head *h)
{
	static const char cl[] = "content-length:", co[] = "connection:";
	char v[64];

	if (n > sizeof(cl) - 1 && !strncasecmp(line, cl, sizeof(cl) - 1)) {
		long long x = -1;

		snprintf(v, sizeof(v), "%.*s", (int)(n - sizeof(cl) + 1),
			 line + sizeof(cl) - 1);
		if (sscanf(v, " %lld", &x) == 1 && x >= 0)
			h->clen = x;
	} else if (n > sizeof(co) - 1 &&
		   !strncasecmp(line, co, sizeof(co) - 1)) {
		snprintf(v, sizeof(v), "%.*s", (int)(n - sizeof(co) + 1),
			 line + sizeof(co) - 1);
		if (strcasestr(v, "close"))
			h->close = true;
	}
}

/* Parse the head rbuf[0..len) (ending in an empty line) into h. */
static bool parse_head(const char *buf, size_t len, struct head *h)
{
	const char *p = buf, *end = buf + len, *eol;
	unsigned minor = 0, status = 0;

	memset(h, 0, sizeof(*h));
	h->clen = -1;
	if (sscanf(buf, "HTTP/1.%u %3u", &minor, &status) != 2 || status < 100)
		return false;
	h->status = status;
	h->close = minor == 0;
	while ((eol = memmem(p, (size_t)(end - p), "\r\n", 2))) {
		if (p != buf)
			parse_header_line(p, (size_t)(eol - p), h);
		p = eol + 2;
	}
	return true;
}

/* Read more bytes into rbuf before deadline; false on EOF/error. */
static enum gfs_err fill(struct gfs_forward *f, int64_t deadline)
{
	ssize_t n;

	if (f->rlen == sizeof(f->rbuf))
		return fail(f, GFS_EIO, "reply head from %s too large", f->key);
	if (!wait_fd(f->fd, POLLIN, deadline))
		return fail(f, GFS_ETIMEDOUT, "no reply from %s", f->key);
	do
		n = recv(f->fd, f->rbuf + f->rlen, sizeof(f->rbuf) - f->rlen,
			 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return fail(f, GFS_EIO, "%s closed the connection%s%s",
			    f->key, n < 0 ? ": " : "",
			    n < 0 ? strerror(errno) : "");
	f->rlen += (size_t)n;
	return GFS_OK;
}

/* Read one reply head (1xx ones included) and consume it from rbuf. */
static enum gfs_err read_head(struct gfs_forward *f, int64_t deadline,
			      struct head *h)
{
	char *e;
	size_t n;
	enum gfs_err err;

	while (!(e = memmem(f->rbuf, f->rlen, "\r\n\r\n", 4))) {
		err = fill(f, deadline);
		if (err)
			return err;
	}
	n = (size_t)(e - f->rbuf) + 4;
	if (!parse_head(f->rbuf, n, h))
		return fail(f, GFS_EIO, "garbled reply from %s", f->key);
	memmove(f->rbuf, f->rbuf + n, f->rlen - n);
	f->rlen -= n;
	return GFS_OK;
}

/* Before the first body byte: "100 Continue", an early reply, or a
 * second of silence (then the body goes anyway, as curl does). */
static enum gfs_err await_continue(struct gfs_forward *f)
{
	enum gfs_err err;

	f->continued = true;
	if (!wait_fd(f->fd, POLLIN, gfs_mono_ms() + CONTINUE_MS))
		return GFS_OK;
	err = read_head(f, gfs_mono_ms() + STALL_MS, &f->reply);
	if (err)
		return err;
	if (f->reply.status == 100)
		return GFS_OK;
	f->early = true;
	return fail(f, GFS_EIO, "%s answered %u before the body", f->key,
		    f->reply.status);
}

/* A kept-alive socket that turns out dead before any body byte: dial
 * again and resend the head, once. */
static enum gfs_err retry_fresh(struct gfs_forward *f)
{
	enum gfs_err err;

	close(f->fd);
	f->fd = -1;
	f->rlen = 0;
	f->msg[0] = '\0';
	err = dial(f);
	if (!err)
		err = send_head(f);
	if (!err)
		err = await_continue(f);
	return err;
}

enum gfs_err gfs_forward_push(struct gfs_forward *f, const void *buf,
			      size_t len)
{
	struct iovec iov[3];
	char pre[24];
	int n = 0;
	enum gfs_err err;

	if (f->early || f->msg[0])
		return GFS_EIO;
	if (!f->continued) {
		err = await_continue(f);
		if (err && f->reused && !f->early)
			err = retry_fresh(f);
		if (err)
			return err;
	}
	if (!len)
		return GFS_OK;
	if (f->chunked) {
		iov[n].iov_base = pre;
		iov[n++].iov_len = (size_t)snprintf(pre, sizeof(pre), "%zx\r\n",
						    len);
	}
	iov[n].iov_base = (void *)buf;
	iov[n++].iov_len = len;
	if (f->chunked) {
		iov[n].iov_base = (void *)"\r\n";
		iov[n++].iov_len = 2;
	}
	if (!send_iov(f->fd, iov, n)) {
		err = fail(f, errno == EAGAIN ? GFS_ETIMEDOUT : GFS_EIO,
			   "sending to %s: %s", f->key,
			   errno == EAGAIN ? "stalled" : strerror(errno));
		/* it may have answered before closing */
		if (wait_fd(f->fd, POLLIN, gfs_mono_ms() + 100) &&
		    read_head(f, gfs_mono_ms() + 100, &f->reply) == GFS_OK)
			f->early = true;
		return err;
	}
	f->sent += len;
	return GFS_OK;
}

enum gfs_err gfs_forward_end(struct gfs_forward *f)
{
	struct iovec iov = { .iov_base = (void *)"0\r\n\r\n", .iov_len = 5 };
	enum gfs_err err;

	if (f->early || f->msg[0])
		return GFS_EIO;
	if (!f->continued) {
		err = gfs_forward_push(f, NULL, 0); /* waits for 100 */
		if (err)
			return err;
	}
	f->ended = true;
	if (!f->chunked) {
		if ((int64_t)f->sent != f->size)
			return fail(f, GFS_EINTERNAL, "body of %lld bytes "
				    "ended after %llu", (long long)f->size,
				    (unsigned long long)f->sent);
		return GFS_OK;
	}
	if (!send_iov(f->fd, &iov, 1))
		return fail(f, GFS_EIO, "sending to %s: %s", f->key,
			    strerror(errno));
	return GFS_OK;
}

/* Read the reply body of head h into out->body (it must fit rbuf). */
static enum gfs_err read_body(struct gfs_forward *f, const struct head *h,
			      int64_t deadline, struct gfs_http_reply *out)
{
	size_t want = h->clen >= 0 ? (size_t)h->clen : sizeof(f->rbuf);
	enum gfs_err err;

	if (h->clen > (int64_t)sizeof(f->rbuf))
		return fail(f, GFS_ETOOBIG, "reply from %s too large", f->key);
	while (f->rlen < want) {
		err = fill(f, deadline);
		if (err && h->clen < 0) {
			f->msg[0] = '\0'; /* closed: that ends the body */
			break;
		}
		if (err)
			return err;
	}
	out->len = GFS_MIN(want, f->rlen);
	out->body = gfs_xmalloc(out->len + 1);
	memcpy(out->body, f->rbuf, out->len);
	out->body[out->len] = '\0';
	memmove(f->rbuf, f->rbuf + out->len, f->rlen - out->len);
	f->rlen -= out->len;
	return GFS_OK;
}

static void fill_reply(const struct head *h, struct gfs_http_reply *out)
{
	const char *code = NULL;

	out->status = h->status;
	if (out->len &&
	    gfs_json_parse_object(out->body, out->len, &out->json) == GFS_OK) {
		gfs_json_str(out->json, "code", false, &code);
		gfs_json_str(out->json, "error", false, &out->message);
	}
	out->err = h->status >= 200 && h->status < 300
			   ? GFS_OK
			   : gfs_err_from_code(code, h->status);
}

enum gfs_err gfs_forward_finish(struct gfs_forward *f, long timeout_ms,
				struct gfs_http_reply *out)
{
	int64_t deadline = gfs_mono_ms() + timeout_ms;
	struct head h = f->reply;
	enum gfs_err err = GFS_OK;

	memset(out, 0, sizeof(*out));
	if (!f->early && (!f->ended || f->msg[0])) {
		err = f->msg[0] ? GFS_EIO : fail(f, GFS_EINTERNAL,
						  "finished before its end");
		goto out_abort;
	}
	while (!f->early && !err) {
		err = read_head(f, deadline, &h);
		if (!err && h.status >= 200)
			break;
	}
	if (!err)
		err = read_body(f, &h, deadline, out);
	if (err)
		goto out_abort;
	fill_reply(&h, out);
	if (!f->early && !h.close && h.clen >= 0 && !f->rlen) {
		pool_put(f->pool, f->key, f->fd);
		f->fd = -1;
	}
	gfs_forward_abort(f);
	return out->err;
out_abort:
	/* a transport failure reads like an error reply, message included */
	gfs_http_reply_clear(out);
	out->err = err;
	out->json = json_pack("{s:s, s:s}", "error",
			      f->msg[0] ? f->msg : gfs_err_str(err), "code",
			      gfs_err_code(err));
	gfs_json_str(out->json, "error", false, &out->message);
	gfs_forward_abort(f);
	return err;
}

const char *gfs_forward_error(const struct gfs_forward *f)
{
	return f->msg;
}

void gfs_forward_abort(struct gfs_forward *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f->head);
	free(f);
}

/*
 * peer.c - master-to-master GETs over libcurl; see peer.h.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "peer.h"
#include "util.h"

struct gfs_peer {
	CURL *curl;           /* kept between calls for keep-alive */
};

struct sink {
	struct gfs_peer_reply *r;
	size_t max;
	bool too_big;
};

struct gfs_peer *gfs_peer_new(void)
{
	struct gfs_peer *p = gfs_xcalloc(1, sizeof(*p));

	p->curl = curl_easy_init();
	return p;
}

void gfs_peer_free(struct gfs_peer *p)
{
	if (!p)
		return;
	curl_easy_cleanup(p->curl);
	free(p);
}

void gfs_peer_reply_clear(struct gfs_peer_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
	struct sink *s = cls;
	struct gfs_peer_reply *r = s->r;
	size_t len = size * n;

	if (r->len + len > s->max) {
		s->too_big = true;
		return 0;
	}
	r->body = gfs_xrealloc(r->body, r->len + len + 1);
	memcpy(r->body + r->len, data, len);
	r->len += len;
	r->body[r->len] = '\0';
	return len;
}

/* Value of header line hdr when it is `name: value`, else NULL. */
static const char *header_value(const char *hdr, size_t len, const char *name,
				char *buf, size_t bufsz)
{
	size_t n = strlen(name), vlen;
	const char *v;

	if (len <= n + 1 || strncasecmp(hdr, name, n) || hdr[n] != ':')
		return NULL;
	v = hdr + n + 1;
	while (v < hdr + len && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(hdr + len - v);
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
		vlen--;
	if (vlen >= bufsz)
		vlen = bufsz - 1;
	memcpy(buf, v, vlen);
	buf[vlen] = '\0';
	return buf;
}

static size_t on_header(char *data, size_t size, size_t n, void *cls)
{
	struct sink *s = cls;
	struct gfs_peer_reply *r = s->r;
	size_t len = size * n;
	char v[512];

	if (header_value(data, len, "X-GFS-Epoch", v, sizeof(v)))
		gfs_parse_u64(v, &r->epoch);
	else if (header_value(data, len, "X-GFS-Seq", v, sizeof(v)))
		r->has_seq = gfs_parse_u64(v, &r->seq);
	else if (header_value(data, len, "X-GFS-Attached", v, sizeof(v)))
		r->attached = !strcmp(v, "1");
	else if (header_value(data, len, "X-GFS-Primary", v, sizeof(v)))
		strcpy(r->primary, v);
	return len;
}

enum gfs_err gfs_peer_get(struct gfs_peer *p, const char *url,
			  const char *const *headers, long timeout_ms,
			  size_t max, struct gfs_peer_reply *r)
{
	struct curl_slist *hl = NULL;
	struct sink s = { r, max, false };
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	for (; headers && *headers; headers++)
		hl = curl_slist_append(hl, *headers);
	curl_easy_reset(p->curl);
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(p->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(p->curl, CURLOPT_HEADERDATA, &s);
	rc = curl_easy_perform(p->curl);
	curl_slist_free_all(hl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &r->status);
		return GFS_OK;
	}
	r->status = 0;
	if (s.too_big)
		return GFS_ETOOBIG;
	return rc == CURLE_OPERATION_TIMEDOUT ? GFS_ETIMEDOUT : GFS_EUNAVAIL;
}

/*
 * codec.c - little-endian record encoding; see codec.h.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "util.h"

void gfs_enc_free(struct gfs_enc *e)
{
	free(e->buf);
	e->buf = NULL;
	e->len = e->cap = 0;
}

uint8_t *gfs_enc_reserve(struct gfs_enc *e, size_t n)
{
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 256;

		while (cap < e->len + n)
			cap *= 2;
		e->buf = gfs_xrealloc(e->buf, cap);
		e->cap = cap;
	}
	return e->buf + e->len;
}

void gfs_enc_bytes(struct gfs_enc *e, const void *p, size_t n)
{
	if (!n)
		return;
	memcpy(gfs_enc_reserve(e, n), p, n);
	e->len += n;
}

void gfs_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void gfs_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t gfs_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t gfs_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

void gfs_enc_u8(struct gfs_enc *e, uint8_t v)
{
	gfs_enc_bytes(e, &v, 1);
}

void gfs_enc_u32(struct gfs_enc *e, uint32_t v)
{
	gfs_put_u32(gfs_enc_reserve(e, 4), v);
	e->len += 4;
}

void gfs_enc_u64(struct gfs_enc *e, uint64_t v)
{
	gfs_put_u64(gfs_enc_reserve(e, 8), v);
	e->len += 8;
}

void gfs_enc_i64(struct gfs_enc *e, int64_t v)
{
	gfs_enc_u64(e, (uint64_t)v);
}

void gfs_enc_str(struct gfs_enc *e, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	gfs_enc_u32(e, (uint32_t)n);
	gfs_enc_bytes(e, s, n);
}

void gfs_enc_blob(struct gfs_enc *e, const void *p, size_t len)
{
	gfs_enc_u32(e, (uint32_t)len);
	gfs_enc_bytes(e, p, len);
}

void gfs_dec_init(struct gfs_dec *d, const void *buf, size_t len)
{
	d->p = buf;
	d->end = d->p + len;
	d->bad = false;
}

/* Borrow n bytes, or NULL (and d->bad) when fewer are left. */
static const uint8_t *take(struct gfs_dec *d, size_t n)
{
	const uint8_t *p = d->p;

	if (d->bad || (size_t)(d->end - d->p) < n) {
		d->bad = true;
		return NULL;
	}
	d->p += n;
	return p;
}

uint8_t gfs_dec_u8(struct gfs_dec *d)
{
	const uint8_t *p = take(d, 1);

	return p ? *p : 0;
}

uint32_t gfs_dec_u32(struct gfs_dec *d)
{
	const uint8_t *p = take(d, 4);

	return p ? gfs_get_u32(p) : 0;
}

uint64_t gfs_dec_u64(struct gfs_dec *d)
{
	const uint8_t *p = take(d, 8);

	return p ? gfs_get_u64(p) : 0;
}

int64_t gfs_dec_i64(struct gfs_dec *d)
{
	return (int64_t)gfs_dec_u64(d);
}

char *gfs_dec_str(struct gfs_dec *d, size_t max)
{
	uint32_t n = gfs_dec_u32(d);
	const uint8_t *p;
	char *s;

	if (d->bad || n > max) {
		d->bad = true;
		return NULL;
	}
	p = take(d, n);
	if (!p || memchr(p, '\0', n)) {
		d->bad = true;
		return NULL;
	}
	s = gfs_xmalloc((size_t)n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

const uint8_t *gfs_dec_blob(struct gfs_dec *d, size_t max, size_t *len)
{
	uint32_t n = gfs_dec_u32(d);
	const uint8_t *p;

	if (d->bad || n > max) {
		d->bad = true;
		return NULL;
	}
	p = take(d, n);
	*len = n;
	return p;
}

bool gfs_dec_done(const struct gfs_dec *d)
{
	return !d->bad && d->p == d->end;
}

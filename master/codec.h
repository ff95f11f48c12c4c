/*
 * codec.h - little-endian binary encoding of op-log and checkpoint records.
 *
 * For: turning record fields into bytes (struct gfs_enc, a growing buffer)
 * and back (struct gfs_dec, a bounded reader).  Not for: framing, sequence
 * numbers or checksums (oplog.c does those) or the meaning of the fields
 * (journal.c).
 *
 * Invariants: a decoder never reads past its end; the first short read sets
 * dec->bad and every later read returns zeros, so a caller may decode a
 * whole record and test dec->bad once at the end.
 */
#ifndef GFS_CODEC_H
#define GFS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer.  Zero-initialise; free buf with free(3) or
 * gfs_enc_free(). */
struct gfs_enc {
	uint8_t *buf; /* owned */
	size_t len;   /* bytes used */
	size_t cap;   /* bytes allocated */
};

void gfs_enc_free(struct gfs_enc *e);
/* Make room for n more bytes; returns a pointer to them (len unchanged). */
uint8_t *gfs_enc_reserve(struct gfs_enc *e, size_t n);
void gfs_enc_bytes(struct gfs_enc *e, const void *p, size_t n);
void gfs_enc_u8(struct gfs_enc *e, uint8_t v);
void gfs_enc_u32(struct gfs_enc *e, uint32_t v);
void gfs_enc_u64(struct gfs_enc *e, uint64_t v);
void gfs_enc_i64(struct gfs_enc *e, int64_t v);
/* A string as u32 length + bytes (no NUL). */
void gfs_enc_str(struct gfs_enc *e, const char *s);
/* u32 length, then len bytes (any bytes, NULs included). */
void gfs_enc_blob(struct gfs_enc *e, const void *p, size_t len);

/* Put/get fixed-width values at p (for headers written in place). */
void gfs_put_u32(uint8_t *p, uint32_t v);
void gfs_put_u64(uint8_t *p, uint64_t v);
uint32_t gfs_get_u32(const uint8_t *p);
uint64_t gfs_get_u64(const uint8_t *p);

/* A reader over borrowed bytes. */
struct gfs_dec {
	const uint8_t *p;   /* next byte, borrowed */
	const uint8_t *end; /* one past the last byte */
	bool bad;           /* a read ran past the end or a string was bad */
};

void gfs_dec_init(struct gfs_dec *d, const void *buf, size_t len);
uint8_t gfs_dec_u8(struct gfs_dec *d);
uint32_t gfs_dec_u32(struct gfs_dec *d);
uint64_t gfs_dec_u64(struct gfs_dec *d);
int64_t gfs_dec_i64(struct gfs_dec *d);
/* A string written by gfs_enc_str, copied into a new NUL-terminated
 * string (caller frees); NULL and d->bad on error or embedded NUL, or
 * when longer than max. */
char *gfs_dec_str(struct gfs_dec *d, size_t max);
/* A blob written by gfs_enc_blob: *len bytes borrowed from the buffer
 * (NULL and d->bad when longer than max or past the end). */
const uint8_t *gfs_dec_blob(struct gfs_dec *d, size_t max, size_t *len);
/* True when every byte was consumed and nothing went wrong. */
bool gfs_dec_done(const struct gfs_dec *d);

#endif

/*
 * util.h - small helpers every program needs: clocks, number parsing,
 * whole-buffer I/O that retries short reads and writes.
 */
#ifndef GFS_UTIL_H
#define GFS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define GFS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GFS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GFS_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Wall clock, nanoseconds since the epoch. */
int64_t gfs_now_ns(void);
/* Monotonic clock in milliseconds (for deadlines and timeouts). */
int64_t gfs_mono_ms(void);
/* The same clock in nanoseconds (CLOCK_MONOTONIC: one clock for every
 * process on a machine, so their traces can be put side by side). */
int64_t gfs_mono_ns(void);
/* Monotonic clock in microseconds (for latencies). */
int64_t gfs_mono_us(void);
/* Clock clk now plus ms (>= 0), for pthread_cond_timedwait. */
struct timespec gfs_deadline_ts(clockid_t clk, int64_t ms);

/* Parse a byte count: digits with an optional K/M/G/T suffix, powers of
 * 1024, "KiB"/"MiB"/"KB"/"k" spellings accepted.  False on garbage or
 * overflow. */
bool gfs_parse_size(const char *s, uint64_t *out);
/* Parse a non-negative decimal integer that fits in uint64_t exactly. */
bool gfs_parse_u64(const char *s, uint64_t *out);
/* Parse a duration: a number with optional "ms" or "s" (default seconds),
 * into milliseconds; seconds may have up to 3 decimals ("0.3"). */
bool gfs_parse_duration_ms(const char *s, uint64_t *out);

/* write(2)/pwrite(2)/pread(2) until done; retry EINTR.  pread returns
 * bytes read (short only at end of file) or -1. */
int gfs_write_all(int fd, const void *buf, size_t len);
int gfs_pwrite_all(int fd, const void *buf, size_t len, off_t off);
ssize_t gfs_pread_all(int fd, void *buf, size_t len, off_t off);
/* Write len zero bytes at off (no sync): 0, or -1 and errno. */
int gfs_pwrite_zeros(int fd, uint64_t off, uint64_t len);

/* Raise the soft limit on open files to the hard limit (servers keep a
 * descriptor per connection and per cached chunk). */
void gfs_raise_nofile(void);
/* mkdir -p; 0 or -1 with errno. */
int gfs_mkdirs(const char *path, mode_t mode);
/* fsync the directory at path; 0 or -1 with errno. */
int gfs_fsync_dir(const char *path);
/* Make dir/name hold buf[0..len) durably and atomically (write
 * dir/tmpname, fsync, rename over name, fsync dir): after a crash it holds
 * the old contents or the new.  0 or -1 with errno. */
int gfs_file_replace(const char *dir, const char *tmpname, const char *name,
		     const void *buf, size_t len);
/* Remove dir/name durably (fsync dir); absent is fine.  0 or -1. */
int gfs_file_remove(const char *dir, const char *name);

/* Read the whole file at path, at most max bytes, into a new
 * NUL-terminated buffer *out (caller frees; *len without the NUL).  With
 * private, a file that others (not its owner or its group) may read or
 * write is refused: it holds a secret.  0, or -1 with a one-line reason
 * in msg. */
int gfs_read_file(const char *path, size_t max, bool private, char **out,
		  size_t *len, char *msg, size_t msglen);

/* New string: base64 of buf[0..len) (caller frees). */
char *gfs_b64_encode(const void *buf, size_t len);
/* New buffer of the bytes of base64 text s, NUL-terminated after *len
 * bytes (caller frees); NULL when s is not base64. */
char *gfs_b64_decode(const char *s, size_t *len);

/* Write b[0..n) as 2n lowercase hex digits and a NUL into out. */
void gfs_hex_fmt(const uint8_t *b, size_t n, char *out);
/* Read exactly digits (even) lowercase hex digits of s into out
 * (digits / 2 bytes); false at any other character. */
bool gfs_hex_parse(const char *s, size_t digits, uint8_t *out);

/* Allocation that aborts on failure: for the small, bounded allocations
 * whose failure leaves nothing sensible to do. */
void *gfs_xmalloc(size_t n);
void *gfs_xcalloc(size_t n, size_t size);
void *gfs_xrealloc(void *p, size_t n);
char *gfs_xstrdup(const char *s);
char *gfs_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Append formatted text to the malloc'd string *buf (NULL: empty), growing
 * it; O(length of *buf) per call, for short texts such as /metrics. */
void gfs_appendf(char **buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif

/*
 * util.c - clocks, number parsing and retrying I/O helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "util.h"

int64_t gfs_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t gfs_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t gfs_mono_ms(void)
{
	return gfs_mono_ns() / 1000000;
}

int64_t gfs_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec gfs_deadline_ts(clockid_t clk, int64_t ms)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

bool gfs_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static bool split_number(const char *s, uint64_t *num, const char **unit)
{
	char digits[32];
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (n + 1 >= sizeof(digits))
			return false;
		digits[n] = s[n];
		n++;
	}
	digits[n] = '\0';
	*unit = s + n;
	return gfs_parse_u64(digits, num);
}

bool gfs_parse_size(const char *s, uint64_t *out)
{
	static const char *const units[] = { "", "k", "m", "g", "t" };
	const char *unit;
	uint64_t v;
	size_t i;

	if (!s || !split_number(s, &v, &unit))
		return false;
	for (i = 0; i < GFS_ARRAY_SIZE(units); i++) {
		size_t shift = 10 * i;
		bool match;

		if (i == 0) {
			match = !strcasecmp(unit, "") || !strcasecmp(unit, "b");
		} else {
			match = !strncasecmp(unit, units[i], 1) &&
				(!unit[1] || !strcasecmp(unit + 1, "b") ||
				 !strcasecmp(unit + 1, "ib"));
		}
		if (!match)
			continue;
		if (shift && v > (UINT64_MAX >> shift))
			return false;
		*out = v << shift;
		return true;
	}
	return false;
}

bool gfs_parse_duration_ms(const char *s, uint64_t *out)
{
	const char *unit;
	uint64_t v, frac = 0;
	int digits = 0;

	if (!s || !split_number(s, &v, &unit))
		return false;
	if (!strcmp(unit, "ms")) {
		*out = v;
		return true;
	}
	if (*unit == '.') {     /* seconds to the millisecond: "0.3", "1.5s" */
		for (unit++; *unit >= '0' && *unit <= '9'; unit++) {
			if (++digits > 3)
				return false;
			frac = frac * 10 + (uint64_t)(*unit - '0');
		}
		if (!digits)
			return false;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (strcmp(unit, "") && strcmp(unit, "s"))
		return false;
	if (v > (UINT64_MAX - frac) / 1000)
		return false;
	*out = v * 1000 + frac;
	return true;
}

int gfs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int gfs_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int gfs_pwrite_zeros(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[64 << 10];
	size_t n;

	for (; len; off += n, len -= n) {
		n = (size_t)GFS_MIN(len, sizeof(zeros));
		if (gfs_pwrite_all(fd, zeros, n, (off_t)off) < 0)
			return -1;
	}
	return 0;
}

ssize_t gfs_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, off + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

void gfs_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int gfs_mkdirs(const char *path, mode_t mode)
{
	char *p = gfs_xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; ; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

int gfs_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

int gfs_file_replace(const char *dir, const char *tmpname, const char *name,
		     const void *buf, size_t len)
{
	char *tmp = gfs_xasprintf("%s/%s", dir, tmpname);
	char *dst = gfs_xasprintf("%s/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = -1, saved;

	if (fd >= 0 && gfs_write_all(fd, buf, len) == 0 && fsync(fd) == 0 &&
	    rename(tmp, dst) == 0 && gfs_fsync_dir(dir) == 0)
		rc = 0;
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(dst);
	errno = saved;
	return rc;
}

int gfs_file_remove(const char *dir, const char *name)
{
	char *path = gfs_xasprintf("%s/%s", dir, name);
	int rc = unlink(path);

	free(path);
	if (rc < 0 && errno != ENOENT)
		return -1;
	return gfs_fsync_dir(dir);
}

/* Is fd's file open to others (not its owner or group), or not a
 * regular file?  Says why in msg. */
static bool not_private(int fd, const char *path, char *msg, size_t len)
{
	struct stat st;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(msg, len, "%s: not a regular file", path);
		return true;
	}
	if (st.st_mode & 007) {
		snprintf(msg, len, "%s: others may read it (chmod o-rwx %s)",
			 path, path);
		return true;
	}
	return false;
}

int gfs_read_file(const char *path, size_t max, bool private, char **out,
		  size_t *len, char *msg, size_t msglen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	ssize_t n = 0;
	size_t got = 0;

	*out = NULL;
	*len = 0;
	if (fd < 0) {
		snprintf(msg, msglen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (private && not_private(fd, path, msg, msglen))
		goto out_fail;
	buf = gfs_xmalloc(max + 1);
	while (got <= max && (n = read(fd, buf + got, max + 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	if (n < 0 || got > max) {
		snprintf(msg, msglen, "%s: %s", path,
			 n < 0 ? strerror(errno) : "too large");
		goto out_fail;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
out_fail:
	if (buf)
		explicit_bzero(buf, max + 1);
	free(buf);
	close(fd);
	return -1;
}

static void *check(void *p)
{
	if (!p) {
		fputs("FATAL: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *gfs_xmalloc(size_t n)
{
	return check(malloc(n ? n : 1));
}

void *gfs_xcalloc(size_t n, size_t size)
{
	return check(calloc(n ? n : 1, size ? size : 1));
}

void *gfs_xrealloc(void *p, size_t n)
{
	return check(realloc(p, n ? n : 1));
}

char *gfs_xstrdup(const char *s)
{
	return check(strdup(s));
}

static char *vxasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		check(NULL);
	return s;
}

char *gfs_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vxasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void gfs_appendf(char **buf, const char *fmt, ...)
{
	size_t old = *buf ? strlen(*buf) : 0, n;
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = vxasprintf(fmt, ap);
	va_end(ap);
	n = strlen(s);
	*buf = gfs_xrealloc(*buf, old + n + 1);
	memcpy(*buf + old, s, n + 1);
	free(s);
}

void gfs_hex_fmt(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

bool gfs_hex_parse(const char *s, size_t digits, uint8_t *out)
{
	size_t i;

	for (i = 0; i < digits; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return false;
		if (i % 2)
			out[i / 2] = (uint8_t)(out[i / 2] << 4 | v);
		else
			out[i / 2] = (uint8_t)v;
	}
	return true;
}

/* New string: base64 of buf[0..len). */
char *gfs_b64_encode(const void *buf, size_t len)
{
	char *out = gfs_xmalloc(4 * ((len + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *)out, buf, (int)len);
	return out;
}

/* New NUL-terminated buffer: the bytes of base64 text s; NULL if bad. */
char *gfs_b64_decode(const char *s, size_t *len)
{
	size_t n = strlen(s), pad = 0;
	char *out;
	int got;

	if (n % 4)
		return NULL;
	out = gfs_xmalloc(n / 4 * 3 + 1);
	got = n ? EVP_DecodeBlock((unsigned char *)out,
				  (const unsigned char *)s, (int)n) : 0;
	if (got < 0) {
		free(out);
		return NULL;
	}
	while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
		pad++;
	*len = (size_t)got - pad;
	out[*len] = '\0';
	return out;
}

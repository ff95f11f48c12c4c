/*
 * log.c - stderr logging, one line per event, written with one write(2) so
 * that lines from concurrent threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Set once by main() before threads start; read-only afterwards. */
static struct {
	const char *component;
	enum gfs_log_level level;
} log_conf = { "gfs", GFS_LOG_INFO };

static const char *const level_names[] = {
	[GFS_LOG_ERROR] = "ERROR",
	[GFS_LOG_WARN] = "WARN",
	[GFS_LOG_INFO] = "INFO",
	[GFS_LOG_DEBUG] = "DEBUG",
};

void gfs_log_init(const char *component, enum gfs_log_level level)
{
	log_conf.component = component;
	log_conf.level = level;
}

bool gfs_log_parse_level(const char *s, enum gfs_log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcasecmp(s, level_names[i])) {
			*out = (enum gfs_log_level)i;
			return true;
		}
	}
	if (!strcasecmp(s, "warning")) {
		*out = GFS_LOG_WARN;
		return true;
	}
	return false;
}

bool gfs_log_enabled(enum gfs_log_level level)
{
	return level <= log_conf.level;
}

void gfs_log(enum gfs_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	if (!gfs_log_enabled(level))
		return;
	n = snprintf(line, sizeof(line), "%s %s: ", level_names[level],
		     log_conf.component);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return; /* nowhere left to report it */
}

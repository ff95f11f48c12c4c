/*
 * log.h - one line per event on stderr: "LEVEL component: message".
 *
 * The component (the program's name) and the threshold are set once by
 * main() before any thread starts and only read afterwards; that pair is
 * the one piece of process-wide state outside a struct passed down.
 */
#ifndef GFS_LOG_H
#define GFS_LOG_H

#include <stdbool.h>

enum gfs_log_level {
	GFS_LOG_ERROR,
	GFS_LOG_WARN,
	GFS_LOG_INFO,
	GFS_LOG_DEBUG,
};

/* Set the component name (borrowed, must outlive the process) and level. */
void gfs_log_init(const char *component, enum gfs_log_level level);
/* Parse "error", "warn", "info" or "debug"; false if none of them. */
bool gfs_log_parse_level(const char *s, enum gfs_log_level *out);
bool gfs_log_enabled(enum gfs_log_level level);
void gfs_log(enum gfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define gfs_error(...) gfs_log(GFS_LOG_ERROR, __VA_ARGS__)
#define gfs_warn(...) gfs_log(GFS_LOG_WARN, __VA_ARGS__)
#define gfs_info(...) gfs_log(GFS_LOG_INFO, __VA_ARGS__)
#define gfs_debug(...)                                  \
	do {                                            \
		if (gfs_log_enabled(GFS_LOG_DEBUG))     \
			gfs_log(GFS_LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#endif

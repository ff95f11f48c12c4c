/*
 * options.h - command-line flags and config files from one table.
 *
 * A program describes its options once, as a table of struct gfs_opt that
 * point into its config struct; gfs_opts_parse() fills the struct from
 * "--config FILE" (lines "name = value", '#' comments) and then from the
 * command line, which wins.  --help prints the table, --version the
 * version; both exit 0.
 */
#ifndef GFS_OPTIONS_H
#define GFS_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

enum gfs_opt_type {
	GFS_OPT_STR,      /* char *, owned by the config (gfs_opts_free) */
	GFS_OPT_SIZE,     /* uint64_t bytes, "64MiB" accepted */
	GFS_OPT_U64,      /* uint64_t */
	GFS_OPT_MS,       /* uint64_t milliseconds, "10s" or "500ms" */
	GFS_OPT_FLAG,     /* bool, set by the bare flag */
	GFS_OPT_LOGLEVEL, /* enum gfs_log_level */
};

struct gfs_opt {
	const char *name;       /* "listen": --listen, and the config key */
	enum gfs_opt_type type;
	size_t off;             /* offsetof() the field in the config struct */
	const char *arg;        /* placeholder in --help ("ADDR:PORT") */
	const char *help;       /* one line */
};

/*
 * Fill conf from opts[0..n) given argv.  Arguments that are not options
 * are returned in order in pos[0..*npos) (pointers into argv; pos must
 * have room for argc entries).  usage is the synopsis line for --help.
 * Returns false after printing a one-line error for a bad option.
 */
bool gfs_opts_parse(const struct gfs_opt *opts, size_t n, void *conf,
		    int argc, char **argv, const char *usage, char **pos,
		    int *npos);
/* Print "usage: USAGE", then one line per option ("  --name ARG  help")
 * and --help and --version, on stdout: what --help shows.  The layout is
 * read by packaging/gen-conf.sh, which writes the config files from it. */
void gfs_opts_print_help(const struct gfs_opt *opts, size_t n,
			 const char *usage);
/* Free the strings gfs_opts_parse() stored in conf. */
void gfs_opts_free(const struct gfs_opt *opts, size_t n, void *conf);

#endif

/*
 * cmdline.h - gfs-fuse's command line, as a person types it and as
 * mount(8) passes it from /etc/fstab.
 *
 *   gfs-fuse [--master URLS] [-f] [-o OPTS] MOUNTPOINT        by hand
 *   gfs-fuse SOURCE MOUNTPOINT -o rw,master=URL,URL,dev,suid  by mount.fuse3
 *
 * Our settings come from the option table of cmdline.c, read by
 * gfs_opts_parse() (so --config FILE and "name = value" files work as in
 * every program), and are taken in three spellings: --name VALUE,
 * --name=VALUE and -o name=VALUE (with '_' for '-': client_id=).  Whatever
 * else is on the line (-f, -d, -s, -o allow_other, ...) is libfuse's.
 */
#ifndef GFS_FUSE_CMDLINE_H
#define GFS_FUSE_CMDLINE_H

#include <stdbool.h>
#include <stdint.h>

#include <fuse_opt.h>

#include "log.h"

struct gfs_fuse_conf {
	char *master;             /* --master URLS, owned; NULL: env/default */
	char *client_id;          /* --client-id ID, owned; NULL: default */
	char *key_file;           /* --key-file FILE, owned; NULL: env */
	char *ca_file;            /* --ca-file FILE, owned; NULL: env */
	uint64_t readahead_kb;    /* --readahead-kb: kernel read-ahead */
	uint64_t attr_timeout_ms; /* --attr-timeout: kernel attribute cache */
	uint64_t master_timeout_ms;   /* one master call; 0: the library's */
	uint64_t failover_timeout_ms; /* retry window; 0: the library's */
	uint64_t keep_ttl_ms;     /* --keep-ttl: files unlinked while open */
	uint64_t defer_create_ms; /* --defer-create: 0 creates at open */
	enum gfs_log_level log_level;
	char *config;             /* --config FILE, owned (gfs_opts_parse) */
	char *source;             /* fstab's first field, owned; NULL if none */
};

enum gfs_cmdline_result {
	GFS_CMDLINE_MOUNT,    /* conf and lib are ready: mount */
	GFS_CMDLINE_HELP,     /* --help or -h: print gfs_cmdline_print_help() */
	GFS_CMDLINE_VERSION,  /* --version or -V */
	GFS_CMDLINE_BAD,      /* a one-line error was printed */
};

/* Fill conf with the defaults. */
void gfs_cmdline_defaults(struct gfs_fuse_conf *conf);

/*
 * Parse argv into conf (settings file first, then the command line) and
 * lib: argv[0], libfuse's options, and the mountpoint last, ready for
 * fuse_parse_cmdline().  A source naming URLs ("http://m1:7070,...") is
 * the master list unless --master or -o master= says otherwise; any
 * other source ("gfs") only names the mount.  lib must be empty
 * (FUSE_ARGS_INIT(0, NULL)); the caller frees it with
 * fuse_opt_free_args() and conf with gfs_cmdline_free(), whatever the
 * result.
 */
enum gfs_cmdline_result gfs_cmdline_parse(int argc, char **argv,
					  struct gfs_fuse_conf *conf,
					  struct fuse_args *lib);

/* Print our part of --help: usage, every setting, what mount(8) passes. */
void gfs_cmdline_print_help(void);

/* Free the strings in conf. */
void gfs_cmdline_free(struct gfs_fuse_conf *conf);

#endif

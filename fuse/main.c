/*
 * gfs-fuse - mount the cluster.
 *
 *   gfs-fuse [--master URLS] [-f] [-o OPTS] [SOURCE] MOUNTPOINT
 *
 * The command line (ours, libfuse's, and what mount.fuse3 passes for an
 * /etc/fstab line of type fuse.gfs) is read by cmdline.c; docs/CLIENT.md
 * lists the settings.  Everything libfuse knows (-f, -d, -s, -o
 * allow_other, ...) is left to it.  A MOUNTPOINT of /dev/fd/N is a
 * /dev/fuse descriptor already mounted by mount.fuse3's drop_privileges.
 * Unmount with umount or fusermount3 -u MOUNTPOINT; SIGTERM/SIGINT
 * unmount too.
 */
#include <errno.h>
#include <limits.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cmdline.h"
#include "constants.h"
#include "http.h"
#include "log.h"
#include "mount.h"
#include <fuse_lowlevel.h>
#include "util.h"

static void print_help(struct fuse_args *args)
{
	gfs_cmdline_print_help();
	printf("libfuse options:\n");
	fuse_cmdline_help();
	fuse_lib_help(args);
}

/* Take libfuse's command-line options (mountpoint, -f, -s, -d) out of
 * args.  libfuse made the mountpoint absolute (or kept /dev/fd/N). */
static int parse_cmdline(struct fuse_args *args,
			 struct fuse_cmdline_opts *cmd, char **mountpoint)
{
	if (fuse_parse_cmdline(args, cmd) != 0)
		return -1;
	if (!cmd->mountpoint) {
		fprintf(stderr, "gfs-fuse: no mountpoint (try --help)\n");
		return -1;
	}
	*mountpoint = gfs_xstrdup(cmd->mountpoint);
	return 0;
}

/*
 * The opcode of the request this thread serves.  libfuse's path API runs
 * an unlink of an open file and a rename over one through the same call,
 * a rename of it to a hidden name (ops.c, "Files removed while open"),
 * and only the request's opcode tells the two apart.  libfuse reads a
 * request and serves it on the same thread, so the read below, which
 * sees the request's header first, notes it for that thread.
 */
static __thread uint32_t request_opcode;

uint32_t gfs_fuse_opcode(void)
{
	return request_opcode;
}

static ssize_t read_request(int fd, void *buf, size_t len, void *userdata)
{
	ssize_t n = read(fd, buf, len);

	(void)userdata;
	request_opcode = n >= (ssize_t)sizeof(struct fuse_in_header)
				 ? ((struct fuse_in_header *)buf)->opcode : 0;
	return n;
}

static ssize_t write_reply(int fd, struct iovec *iov, int count,
			   void *userdata)
{
	(void)userdata;
	return writev(fd, iov, count);
}

/* Read requests with read_request().  No splice: libfuse would read a
 * request's header out of a pipe, out of our sight (and it copies a
 * spliced write's data out of the pipe anyway: ops.c has no write_buf). */
static int watch_opcodes(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
		.read = read_request,
		.writev = write_reply,
	};

	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

/* Mount and serve until unmounted or signalled; 0 on a clean exit. */
static int serve(struct fuse_args *args, struct fuse_cmdline_opts *cmd,
		 struct gfs_mount *m)
{
	struct fuse_loop_config loop = { .clone_fd = 0,
					 .max_idle_threads = 16 };
	struct fuse_session *se;
	struct fuse *fuse;
	int rc = 1;

	fuse = fuse_new(args, &gfs_fuse_ops, sizeof(gfs_fuse_ops), m);
	if (!fuse)
		return 1;
	if (fuse_mount(fuse, m->mountpoint) != 0)
		goto out_destroy;
	if (fuse_daemonize(cmd->foreground) != 0)
		goto out_unmount;
	se = fuse_get_session(fuse);
	if (watch_opcodes(se) != 0)
		goto out_unmount;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_unmount;
	gfs_info("mounted %s as %s", m->mountpoint, m->client_id);
	rc = cmd->singlethread ? fuse_loop(fuse) : fuse_loop_mt(fuse, &loop);
	fuse_remove_signal_handlers(se);
	/* Shutting down already: a second SIGTERM (fusermount3 -u and then
	 * kill, as scripts do) must not cut the cleanup that gives our
	 * leases back. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
out_unmount:
	fuse_unmount(fuse);
out_destroy:
	fuse_destroy(fuse);
	return rc ? 1 : 0;
}

static char *default_client_id(const char *mountpoint)
{
	char host[256] = "localhost";

	gethostname(host, sizeof(host) - 1);
	return gfs_xasprintf("%s:%s", host, mountpoint);
}

/* The option, else the environment variable env (borrowed; may be
 * NULL). */
static const char *opt_or_env(const char *opt, const char *env)
{
	const char *v = getenv(env);

	return opt ? opt : v && *v ? v : NULL;
}

/*
 * The part of --attr-timeout that the attributes of a directory this
 * mount just changed may spend in the client library (dirattrs.c) before
 * the kernel's getattr that follows the change takes them; the kernel is
 * told the rest (kernel_attr_timeout()), so no attribute it shows is
 * older than --attr-timeout, as without the library's copy.  0 turns the
 * copy off.
 */
static uint64_t dir_attrs_ms(const struct gfs_fuse_conf *conf)
{
	return conf->attr_timeout_ms / 50;
}

/*
 * The part of --attr-timeout that a file's attributes may spend in the
 * client library's statahead (statahead.c: the listing that a walk of a
 * directory's names, `rm *` or `rm -r`, fetched when the kernel's copies
 * from READDIRPLUS had expired) before the kernel's lookup takes them.
 * It is the larger of the library's two parts, and a path's attributes
 * pass through one of them at most: the kernel is told the rest.
 */
static uint64_t stat_ahead_ms(const struct gfs_fuse_conf *conf)
{
	return conf->attr_timeout_ms / 4;
}

/* Seconds the kernel may cache attributes and names. */
static double kernel_attr_timeout(const struct gfs_fuse_conf *conf)
{
	return (double)(conf->attr_timeout_ms - stat_ahead_ms(conf)) / 1000.0;
}

static struct gfs_client *connect_client(struct gfs_fuse_conf *conf,
					 const char *id)
{
	struct gfs_client_conf cc = { 0 };
	const char *masters = conf->master ? conf->master : getenv("GFS_MASTER");
	const char *kf = opt_or_env(conf->key_file, "GFS_KEY_FILE");
	struct gfs_client *c;
	char *key = NULL, msg[300];

	if (kf && !(key = gfs_client_read_key(kf, msg, sizeof(msg)))) {
		fprintf(stderr, "gfs-fuse: %s\n", msg);
		return NULL;
	}
	cc.key = key;
	cc.ca_file = opt_or_env(conf->ca_file, "GFS_CA_FILE");

	cc.masters = masters ? masters
			     : "http://" GFS_DEFAULT_HOST ":7070,"
			       "http://" GFS_DEFAULT_HOST ":7071";
	cc.client_id = id;
	cc.max_conns = 128;
	cc.timeout_ms = (long)conf->master_timeout_ms;
	cc.failover_ms = (long)conf->failover_timeout_ms;
	cc.dir_attrs_ms = (long)GFS_MIN(dir_attrs_ms(conf), LONG_MAX);
	cc.stat_ahead_ms = (long)GFS_MIN(stat_ahead_ms(conf), LONG_MAX);
	c = gfs_client_new(&cc);
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
	return c;
}

/* "-omax_read=...,fsname=SOURCE,subtype=gfs": the fstab source (or
 * "gfs") names the mount in /proc/mounts, as mount(8) expects. */
static char *mount_opts(const struct gfs_fuse_conf *conf)
{
	char *fsname = gfs_xasprintf("fsname=%s",
				     conf->source ? conf->source : "gfs");
	/* default_permissions: the kernel checks every access against the
	 * mode, owner and group we report, as for a local file system, so
	 * that with allow_other several users share one mount safely */
	char *opts = gfs_xstrdup("-omax_read=1048576,subtype=gfs,"
				 "default_permissions");

	fuse_opt_add_opt_escaped(&opts, fsname);
	free(fsname);
	return opts;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct gfs_fuse_conf conf;
	struct fuse_cmdline_opts cmd = { 0 };
	struct gfs_mount m = { 0 };
	char *opts = NULL;
	int rc = -1;

	gfs_cmdline_defaults(&conf);
	switch (gfs_cmdline_parse(argc, argv, &conf, &args)) {
	case GFS_CMDLINE_MOUNT:
		break;
	case GFS_CMDLINE_HELP:
		print_help(&args);
		rc = 0;
		goto out;
	case GFS_CMDLINE_VERSION:
		printf("gfs-fuse %s (libfuse %s)\n", GFS_VERSION,
		       fuse_pkgversion());
		rc = 0;
		goto out;
	case GFS_CMDLINE_BAD:
		goto out;
	}
	rc = parse_cmdline(&args, &cmd, &m.mountpoint);
	if (rc)
		goto out;
	gfs_log_init("fuse", conf.log_level);
	gfs_http_global_init();
	gfs_raise_nofile();
	m.client_id = conf.client_id ? gfs_xstrdup(conf.client_id)
				     : default_client_id(m.mountpoint);
	m.client = connect_client(&conf, m.client_id);
	if (!m.client) {
		rc = -1;
		goto out;
	}
	m.readahead_kb = (unsigned)GFS_MIN(conf.readahead_kb, UINT_MAX);
	m.attr_timeout = kernel_attr_timeout(&conf);
	m.keep_ttl_s = (unsigned)GFS_MAX(GFS_MIN(conf.keep_ttl_ms / 1000,
						 GFS_LEASE_TTL_MAX_S), 1);
	m.defer_ms = (int64_t)GFS_MIN(conf.defer_create_ms, INT64_MAX);
	m.uid = getuid();
	m.gid = getgid();
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.wake, NULL);
	gfs_seen_init(&m.seen);
	opts = mount_opts(&conf);
	fuse_opt_add_arg(&args, opts);
	rc = serve(&args, &cmd, &m);
	gfs_info("unmounted %s", m.mountpoint);
	gfs_seen_free(&m.seen);
	gfs_client_free(m.client);
out:
	fuse_opt_free_args(&args);
	free(opts);
	free(cmd.mountpoint);
	free(m.client_id);
	free(m.mountpoint);
	gfs_cmdline_free(&conf);
	return rc < 0 ? 2 : rc;
}

/*
 * gfs-fuse - mount the cluster.
 *
 *   gfs-fuse [--master URLS] [-f] [-o OPTS] MOUNTPOINT
 *
 * Our own options (taken out before libfuse sees the rest):
 *   --master URLS, -o master=URLS   masters (env GFS_MASTER)
 *   -o client_id=ID                 lease holder (default HOSTNAME:MOUNTPOINT)
 *   -o readahead_kb=N               kernel read-ahead (default 8192)
 *   -o attr_timeout=S               attribute cache seconds (default 1)
 *   -o master_timeout=S             one master call (default 10)
 *   -o failover_timeout=S           retry window with no primary (default 30)
 *   --log-level LEVEL
 * Everything else (-f, -d, -s, -o allow_other, ...) is libfuse's.
 * Unmount with fusermount3 -u MOUNTPOINT; SIGTERM/SIGINT unmount too.
 */
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "constants.h"
#include "http.h"
#include "log.h"
#include "mount.h"
#include <fuse_lowlevel.h>
#include "util.h"

struct fuse_conf {
	char *master;
	char *client_id;
	char *log_level;
	unsigned readahead_kb;
	double attr_timeout;
	double master_timeout;   /* seconds, 0: the library's default */
	double failover_timeout; /* seconds, 0: the library's default */
	int version;
};

#define OPT(t, f) { t, offsetof(struct fuse_conf, f), 1 }

static const struct fuse_opt fuse_conf_opts[] = {
	OPT("--master=%s", master),
	OPT("--master %s", master),
	OPT("master=%s", master),
	OPT("client_id=%s", client_id),
	OPT("--client-id=%s", client_id),
	OPT("--client-id %s", client_id),
	OPT("--log-level=%s", log_level),
	OPT("--log-level %s", log_level),
	OPT("readahead_kb=%u", readahead_kb),
	OPT("attr_timeout=%lf", attr_timeout),
	OPT("master_timeout=%lf", master_timeout),
	OPT("failover_timeout=%lf", failover_timeout),
	OPT("--version", version),
	OPT("-V", version),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [--master URLS] [-f] [-o OPTS] MOUNTPOINT\n\n"
	       "gfs options:\n"
	       "  --master URLS          master URLs, comma-separated "
	       "(env GFS_MASTER)\n"
	       "  -o client_id=ID        lease holder id "
	       "(default HOSTNAME:MOUNTPOINT)\n"
	       "  -o readahead_kb=N      kernel read-ahead in KiB "
	       "(default 8192)\n"
	       "  -o attr_timeout=S      attribute cache in seconds "
	       "(default 1)\n"
	       "  -o master_timeout=S    one call to the master "
	       "(default 10)\n"
	       "  -o failover_timeout=S  keep retrying while no master "
	       "answers (default 30)\n"
	       "  --log-level LEVEL      error, warn, info, debug\n\n",
	       prog);
}

/* Take libfuse's command-line options (mountpoint, -f, -s, -d) out of
 * args.  Returns 0, 1 after printing help, -1 on error. */
static int parse_cmdline(struct fuse_args *args,
			 struct fuse_cmdline_opts *cmd, char **mountpoint)
{
	if (fuse_parse_cmdline(args, cmd) != 0)
		return -1;
	if (cmd->show_help) {
		usage(args->argv[0]);
		fuse_lib_help(args);
		return 1;
	}
	if (!cmd->mountpoint) {
		fprintf(stderr, "gfs-fuse: no mountpoint (try --help)\n");
		return -1;
	}
	*mountpoint = realpath(cmd->mountpoint, NULL);
	if (!*mountpoint) {
		fprintf(stderr, "gfs-fuse: bad mountpoint %s\n",
			cmd->mountpoint);
		return -1;
	}
	return 0;
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

static struct gfs_client *connect_client(struct fuse_conf *conf,
					 const char *id)
{
	struct gfs_client_conf cc = { 0 };
	const char *masters = conf->master ? conf->master : getenv("GFS_MASTER");

	cc.masters = masters ? masters
			     : "http://" GFS_DEFAULT_HOST ":7070,"
			       "http://" GFS_DEFAULT_HOST ":7071";
	cc.client_id = id;
	cc.max_conns = 128;
	cc.timeout_ms = (long)(conf->master_timeout * 1000);
	cc.failover_ms = (long)(conf->failover_timeout * 1000);
	return gfs_client_new(&cc);
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_conf conf = { .readahead_kb = 8192, .attr_timeout = 1.0 };
	struct fuse_cmdline_opts cmd = { 0 };
	struct gfs_mount m = { 0 };
	enum gfs_log_level level = GFS_LOG_INFO;
	int rc;

	if (fuse_opt_parse(&args, &conf, fuse_conf_opts, NULL) != 0)
		return 2;
	if (conf.version) {
		printf("gfs-fuse %s (libfuse %s)\n", GFS_VERSION,
		       fuse_pkgversion());
		return 0;
	}
	if (conf.attr_timeout < 0 || conf.master_timeout < 0 ||
	    conf.failover_timeout < 0) {
		fprintf(stderr, "gfs-fuse: timeouts cannot be negative\n");
		return 2;
	}
	if (conf.log_level && !gfs_log_parse_level(conf.log_level, &level)) {
		fprintf(stderr, "gfs-fuse: bad --log-level %s\n",
			conf.log_level);
		return 2;
	}
	rc = parse_cmdline(&args, &cmd, &m.mountpoint);
	if (rc)
		goto out;
	gfs_log_init("fuse", level);
	gfs_http_global_init();
	gfs_raise_nofile();
	m.client_id = conf.client_id ? strdup(conf.client_id)
				     : default_client_id(m.mountpoint);
	m.client = connect_client(&conf, m.client_id);
	if (!m.client) {
		rc = -1;
		goto out;
	}
	m.readahead_kb = conf.readahead_kb;
	m.attr_timeout = conf.attr_timeout;
	m.uid = getuid();
	m.gid = getgid();
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.wake, NULL);
	gfs_seen_init(&m.seen);
	fuse_opt_add_arg(&args, "-omax_read=1048576,fsname=gfs,subtype=gfs");
	rc = serve(&args, &cmd, &m);
	gfs_info("unmounted %s", m.mountpoint);
	gfs_seen_free(&m.seen);
	gfs_client_free(m.client);
out:
	fuse_opt_free_args(&args);
	free(cmd.mountpoint);
	free(m.client_id);
	free(m.mountpoint);
	free(conf.master);
	free(conf.client_id);
	free(conf.log_level);
	return rc < 0 ? 2 : rc;
}

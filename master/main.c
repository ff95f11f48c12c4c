/*
 * gfs-master - the metadata server: namespace, chunk map, leases, op log.
 *
 *   gfs-master [--listen ADDR:PORT] [--data DIR] [--backup-of URL]
 *              [--etcd URLS [--etcd-prefix /gfs/NAME]]
 *              [--chunk-size BYTES] [--replicas N] [--config FILE] ...
 *
 * main() reads the flags into struct gfs_master_conf (one option table),
 * loads the state (checkpoint + log), starts the HTTP server on the route
 * table of routes.c and the master's threads, and waits for SIGTERM or
 * SIGINT; then it stops the server, writes a checkpoint, closes the log
 * and exits 0.  docs/MASTER.md is the tour of master/.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "constants.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "master.h"
#include "options.h"
#include "path.h"
#include "routes.h"
#include "util.h"

/* The global mutable state: set by the signal handler. */
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested; /* SIGHUP: keys again */

#define C(f) offsetof(struct gfs_master_conf, f)
static const struct gfs_opt options[] = {
	{ "listen", GFS_OPT_STR, C(listen), "ADDR:PORT",
	  "address to serve on (127.0.0.1:7070, or :7071 as a backup)" },
	{ "data", GFS_OPT_STR, C(data), "DIR",
	  "directory for the op log and checkpoints (./gfs-master-data)" },
	{ "backup-of", GFS_OPT_STR, C(backup_of), "URL",
	  "start as the backup of the primary at URL" },
	{ "advertise", GFS_OPT_STR, C(advertise), "URL",
	  "own URL as others reach it (default from --listen)" },
	{ "chunk-size", GFS_OPT_SIZE, C(chunk_size), "BYTES",
	  "chunk size of new files, a multiple of 64KiB up to 1GiB (64MiB)" },
	{ "replicas", GFS_OPT_U64, C(replicas), "N",
	  "replicas per chunk, 1..7 (3)" },
	{ "dead-after", GFS_OPT_MS, C(dead_after_ms), "TIME",
	  "a chunkserver without heartbeat this long is dead (6s)" },
	{ "failover-timeout", GFS_OPT_MS, C(failover_ms), "TIME",
	  "a backup promotes itself after the primary is silent this long "
	  "(10s)" },
	{ "gc-interval", GFS_OPT_MS, C(gc_interval_ms), "TIME",
	  "how often garbage and orphan chunks are swept (5s)" },
	{ "orphan-grace", GFS_OPT_MS, C(orphan_grace_ms), "TIME",
	  "unknown chunks reported by chunkservers live this long (1h)" },
	{ "checkpoint-every", GFS_OPT_U64, C(checkpoint_every), "N",
	  "write a checkpoint every N log records (100000)" },
	{ "probation", GFS_OPT_MS, C(probation_ms), "TIME",
	  "a restarted primary refuses mutations this long unless a "
	  "heartbeat comes first (4s)" },
	{ "backup-detach", GFS_OPT_MS, C(detach_ms), "TIME",
	  "a follower silent this long: etcd mode drops it from the in-sync "
	  "set, pair mode refuses writes until it is back (1500ms)" },
	{ "etcd", GFS_OPT_STR, C(etcd), "URLS",
	  "elect the leader in etcd at URLS (comma-separated); all masters "
	  "equal, no --backup-of" },
	{ "etcd-prefix", GFS_OPT_STR, C(etcd_prefix), "PATH",
	  "etcd keys of this file system live under PATH (/gfs/default)" },
	{ "etcd-lease", GFS_OPT_MS, C(etcd_lease_ms), "TIME",
	  "TTL of the leader's etcd lease, whole seconds (5s)" },
	GFS_HTTPD_OPTS(C(http)),
	GFS_HTTPD_SEC_OPTS(C(tls_cert), C(tls_key), C(auth)),
	{ "keys", GFS_OPT_STR, C(auth.keys_file), "FILE",
	  "client keys, lines 'NAME KEY rw|ro [PREFIX ...]' (reread on "
	  "SIGHUP; needed with --secret-file)" },
	{ "token-ttl", GFS_OPT_MS, C(auth.token_ttl_ms), "TIME",
	  "life of the chunk tokens handed to clients (1h)" },
	{ "log-level", GFS_OPT_LOGLEVEL, C(log_level), "LEVEL",
	  "error, warn, info or debug (info)" },
	{ "config", GFS_OPT_STR, C(config), "FILE",
	  "read 'name = value' settings from FILE first" },
};
#undef C

static void defaults(struct gfs_master_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->chunk_size = GFS_DEFAULT_CHUNK_SIZE;
	c->replicas = GFS_DEFAULT_REPLICAS;
	c->dead_after_ms = GFS_DEAD_AFTER_MS;
	c->failover_ms = GFS_FAILOVER_MS;
	c->gc_interval_ms = 5000;
	c->orphan_grace_ms = 3600 * 1000;
	c->checkpoint_every = 100000;
	c->probation_ms = 2 * GFS_HEARTBEAT_MS;
	c->detach_ms = 1500;
	c->etcd_lease_ms = 5000;
	c->auth.token_ttl_ms = GFS_TOKEN_TTL_MS;
	c->log_level = GFS_LOG_INFO;
}

/* Protected by default: beyond loopback only with a secret and keys. */
static bool listen_guarded(const struct gfs_master_conf *c)
{
	char host[256] = "";
	const char *colon = strrchr(c->listen, ':');
	size_t n = colon ? (size_t)(colon - c->listen) : 0;

	if (n && n < sizeof(host)) {
		memcpy(host, c->listen, n);
		host[n] = '\0';
	}
	if (host[0] == '[' && n > 1 && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	return gfs_auth_may_listen("gfs-master", host, &c->auth, true);
}

/* Fill what the flags left out; false (printed) on a bad value. */
static bool finish_conf(struct gfs_master_conf *c)
{
	if (!c->chunk_size || c->chunk_size % GFS_BLOCK_SIZE ||
	    c->chunk_size > GFS_MAX_CHUNK_SIZE) {
		fprintf(stderr, "gfs-master: --chunk-size must be a multiple "
			"of 64KiB, at most 1GiB\n");
		return false;
	}
	if (c->replicas < 1 || c->replicas > GFS_LOC_MAX) {
		fprintf(stderr, "gfs-master: --replicas must be 1..%d\n",
			GFS_LOC_MAX);
		return false;
	}
	if (!c->checkpoint_every || !c->dead_after_ms || !c->failover_ms ||
	    !c->gc_interval_ms) {
		fprintf(stderr, "gfs-master: --checkpoint-every, --dead-after, "
			"--failover-timeout and --gc-interval must be > 0\n");
		return false;
	}
	if ((c->advertise && !gfs_text_valid(c->advertise)) ||
	    (c->backup_of && !gfs_text_valid(c->backup_of)) ||
	    (c->etcd && !gfs_text_valid(c->etcd)) ||
	    (c->etcd_prefix && !gfs_text_valid(c->etcd_prefix))) {
		/* they go into the log and into JSON replies */
		fprintf(stderr, "gfs-master: --advertise, --backup-of, --etcd "
			"and --etcd-prefix must be UTF-8\n");
		return false;
	}
	if (c->etcd && c->backup_of) {
		fprintf(stderr, "gfs-master: --etcd and --backup-of exclude "
			"each other (etcd elects the leader)\n");
		return false;
	}
	if (c->etcd_lease_ms < 1000 || c->etcd_lease_ms % 1000 ||
	    !c->detach_ms) {
		fprintf(stderr, "gfs-master: --etcd-lease must be whole "
			"seconds, at least 1s; --backup-detach > 0\n");
		return false;
	}
	if (!c->etcd_prefix)
		c->etcd_prefix = gfs_xstrdup("/gfs/default");
	if (!c->listen)
		c->listen = gfs_xasprintf("%s:%d", GFS_DEFAULT_HOST,
					  c->backup_of ? GFS_BACKUP_PORT
						       : GFS_MASTER_PORT);
	if (!c->data)
		c->data = gfs_xstrdup("gfs-master-data");
	if (c->auth.token_ttl_ms < 10000) {
		fprintf(stderr, "gfs-master: --token-ttl must be 10s or "
			"more\n");
		return false;
	}
	return listen_guarded(c);
}

/* http://HOST:PORT from --listen, the host name for a wildcard. */
static char *advertise_url(const struct gfs_master_conf *c, uint16_t port)
{
	char host[256] = GFS_DEFAULT_HOST;
	const char *colon = strrchr(c->listen, ':');
	size_t n = colon ? (size_t)(colon - c->listen) : 0;

	if (c->advertise)
		return gfs_xstrdup(c->advertise);
	if (n && n < sizeof(host)) {
		memcpy(host, c->listen, n);
		host[n] = '\0';
	}
	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "[::]") || !host[0])
		gethostname(host, sizeof(host) - 1);
	return gfs_xasprintf("%s://%s:%u", c->tls_cert ? "https" : "http",
			     host, port);
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

static void trap_signals(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void reload_keys(struct gfs_master *m)
{
	char msg[300];

	if (gfs_auth_reload(m->auth, msg, sizeof(msg)))
		gfs_error("SIGHUP: keys not reloaded, the old ones stay: %s",
			  msg);
	else
		gfs_info("SIGHUP: %s", msg);
}

static int serve(struct gfs_master *m)
{
	struct gfs_httpd_sec sec = { .auth = m->auth,
				     .tls_cert = m->conf.tls_cert,
				     .tls_key = m->conf.tls_key,
				     .audit = true };
	const struct gfs_route *routes;
	size_t n;

	routes = gfs_routes_table(&n);
	m->httpd = gfs_httpd_start_secure(m->conf.listen, routes, n, m,
					  GFS_HTTPD_SMALL, &m->conf.http, &sec);
	if (!m->httpd)
		return 1;
	if (!m->conf.advertise && m->self_url &&
	    strstr(m->conf.listen, ":0") == m->conf.listen +
		    strlen(m->conf.listen) - 2) {
		free(m->self_url);
		m->self_url = advertise_url(&m->conf,
					    gfs_httpd_port(m->httpd));
	}
	gfs_master_start(m);
	gfs_info("listening on %s as %s", m->conf.listen, m->self_url);
	while (!stop_requested) {
		usleep(100 * 1000);
		if (reload_requested) {
			reload_requested = 0;
			reload_keys(m);
		}
	}
	gfs_info("stopping");
	gfs_httpd_stop(m->httpd);
	m->httpd = NULL;
	return 0;
}

static uint16_t listen_port(const char *listen)
{
	const char *colon = strrchr(listen, ':');
	uint64_t p = 0;

	if (colon)
		gfs_parse_u64(colon + 1, &p);
	return (uint16_t)p;
}

int main(int argc, char **argv)
{
	struct gfs_master *m = gfs_xcalloc(1, sizeof(*m));
	char **pos = gfs_xcalloc((size_t)argc + 1, sizeof(char *));
	int npos = 0, rc = 1;
	char msg[400];

	defaults(&m->conf);
	if (!gfs_opts_parse(options, GFS_ARRAY_SIZE(options), &m->conf, argc,
			    argv, "gfs-master [OPTIONS]", pos, &npos) ||
	    !finish_conf(&m->conf))
		goto out_free;
	if (npos) {
		fprintf(stderr, "gfs-master: unexpected argument '%s'\n", pos[0]);
		goto out_free;
	}
	gfs_log_init("master", m->conf.log_level);
	m->auth = gfs_auth_new(&m->conf.auth, msg, sizeof(msg));
	if (!m->auth) {
		fprintf(stderr, "gfs-master: %s\n", msg);
		goto out_free;
	}
	if (!gfs_auth_on(m->auth))
		gfs_warn("no --secret-file: anyone who can reach %s may do "
			 "anything", m->conf.listen);
	gfs_http_global_init();
	trap_signals();
	m->self_url = advertise_url(&m->conf, listen_port(m->conf.listen));
	if (gfs_master_open(m)) {
		gfs_error("cannot load the state in %s; not starting",
			  m->conf.data);
		goto out_free;
	}
	rc = serve(m);
	gfs_master_close(m);
	gfs_info("stopped");
out_free:
	gfs_auth_free(m->auth);
	free(m->self_url);
	gfs_opts_free(options, GFS_ARRAY_SIZE(options), &m->conf);
	free(m);
	free(pos);
	return rc;
}

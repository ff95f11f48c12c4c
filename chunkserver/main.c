/*
 * main.c - gfs-chunkserver: options, start-up, signals, shutdown.
 *
 *   gfs-chunkserver [--listen ADDR] [--data DIR] [--master URLS]
 *                   [--advertise URL] [OPTIONS] PORT
 *
 * Start-up order (each needs the ones before it):
 *   options, log            everything logs
 *   chunkstore              scan the data directory (quarantine, orphans)
 *   connection pool         forwards, peer GETs
 *   replicate               masterconn hands it orders
 *   masterconn              heartbeats; needs the store and replicate
 *   scrub                   needs the store; reports through masterconn
 *   gateway                 /content; optional
 *   httpd (routes)          last: from here on requests arrive
 * Shutdown runs the same list backwards, each part stopping its threads
 * before anything is freed.  SIGINT/SIGTERM are taken with sigwait() in
 * this thread (blocked everywhere else), so no handler and no flag.
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "chunkserver.h"
#include "chunkstore.h"
#include "chunkwrite.h"
#include "constants.h"
#include "gateway.h"
#include "http.h"
#include "httpd.h"
#include "log.h"
#include "masterconn.h"
#include "options.h"
#include "replicate.h"
#include "routes.h"
#include "scrub.h"
#include "util.h"

#define DEFAULT_MASTERS "http://127.0.0.1:7070,http://127.0.0.1:7071"
#define REPLICATION_WORKERS 2
#define HTTP_POOL 256          /* fetches at once; forwards hold theirs */

#define OPT(name, type, field, arg, help) \
	{ name, type, offsetof(struct gfs_chunkserver_conf, field), arg, help }

static const struct gfs_opt opts[] = {
	OPT("listen", GFS_OPT_STR, listen, "ADDR",
	    "address to listen on (default 127.0.0.1; ADDR:PORT also taken)"),
	OPT("port", GFS_OPT_U64, port, "PORT",
	    "port (default 7080); same as the PORT argument"),
	OPT("data", GFS_OPT_STR, data, "DIR",
	    "data directory (default var/chunkserver-PORT)"),
	OPT("master", GFS_OPT_STR, master, "URLS",
	    "comma-separated master URLs, \"\" for none (env GFS_MASTER; "
	    "default http://127.0.0.1:7070,http://127.0.0.1:7071)"),
	OPT("advertise", GFS_OPT_STR, advertise, "URL",
	    "URL registered with the masters (default http://LISTEN:PORT)"),
	OPT("heartbeat-interval", GFS_OPT_MS, heartbeat_ms, "TIME",
	    "time between heartbeats (default 2s)"),
	OPT("reserve", GFS_OPT_SIZE, reserve, "BYTES",
	    "free space kept back; writes that would use it get 507 "
	    "(default 64MiB)"),
	OPT("capacity", GFS_OPT_SIZE, capacity, "BYTES",
	    "most bytes to store and advertise (default: the disk)"),
	OPT("scrub-interval", GFS_OPT_MS, scrub_interval_ms, "TIME",
	    "time between scrub passes over idle chunks, 0 off "
	    "(default 21600s)"),
	OPT("scrub-rate", GFS_OPT_SIZE, scrub_rate, "BYTES",
	    "scrub reads per second (default 16MiB)"),
	OPT("cache-chunks", GFS_OPT_U64, cache_chunks, "N",
	    "chunks kept open with their CRC tables (default 256)"),
	OPT("meta-files", GFS_OPT_FLAG, meta_files, NULL,
	    "keep every chunk's meta in a <handle>.meta file, never in the "
	    "data file's xattr (default: the xattr when it fits)"),
	OPT("pack-max", GFS_OPT_SIZE, pack_max, "BYTES",
	    "keep new chunks of at most 64 KiB as records in pre-zeroed "
	    "segment files, up to BYTES of them in full segments; 0 off "
	    "(default 256MiB)"),
	OPT("ack-in-memory", GFS_OPT_FLAG, ack_in_memory, NULL,
	    "acknowledge a write when its bytes are in memory, before the "
	    "disk has them (GFS's and HDFS's durability; default: after "
	    "fsync)"),
	GFS_HTTPD_OPTS(offsetof(struct gfs_chunkserver_conf, http)),
	GFS_HTTPD_SEC_OPTS(offsetof(struct gfs_chunkserver_conf, tls_cert),
			   offsetof(struct gfs_chunkserver_conf, tls_key),
			   offsetof(struct gfs_chunkserver_conf, auth)),
	OPT("log-level", GFS_OPT_LOGLEVEL, log_level, "LEVEL",
	    "error, warn, info (default) or debug"),
	OPT("config", GFS_OPT_STR, config, "FILE",
	    "read 'name = value' options from FILE first"),
};

static const char usage[] =
	"gfs-chunkserver [--listen ADDR] [--data DIR] [--master URLS] "
	"[--advertise URL] [OPTIONS] PORT";

static void set_defaults(struct gfs_chunkserver_conf *c)
{
	const char *env = getenv("GFS_MASTER");

	c->listen = gfs_xstrdup(GFS_DEFAULT_HOST);
	c->master = gfs_xstrdup(env && *env ? env : DEFAULT_MASTERS);
	c->heartbeat_ms = GFS_HEARTBEAT_MS;
	c->reserve = 64ull << 20;
	c->scrub_interval_ms = 6ull * 3600 * 1000;
	c->scrub_rate = 16ull << 20;
	c->cache_chunks = 256;
	c->pack_max = 256ull << 20;
	c->log_level = GFS_LOG_INFO;
}

/* --listen: "ADDR", "ADDR:PORT", "[V6]" or "[V6]:PORT" into host (no
 * brackets) and, when given, the port. */
static bool split_listen(const char *s, char host[256], uint64_t *port)
{
	const char *colon = NULL, *h = s, *end;

	if (*s == '[') {
		end = strchr(s, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
		h = s + 1;
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		end = colon ? colon : s + strlen(s);
	}
	if (end == h || (size_t)(end - h) >= 256)
		return false;
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	return !colon || (gfs_parse_u64(colon + 1, port) && *port <= 65535);
}

/* PORT from the arguments and options; false (after a message) when
 * they disagree or make no sense. */
static bool settle_port(struct gfs_chunkserver_conf *c, char **pos, int npos,
			uint64_t listen_port)
{
	uint64_t p = c->port;

	if (npos > 1) {
		fprintf(stderr, "one PORT argument expected (try --help)\n");
		return false;
	}
	if (npos == 1 && !gfs_parse_u64(pos[0], &p)) {
		fprintf(stderr, "bad PORT '%s'\n", pos[0]);
		return false;
	}
	if (!p)
		p = listen_port;
	if ((c->port && p != c->port) || (listen_port && p != listen_port)) {
		fprintf(stderr, "conflicting ports given\n");
		return false;
	}
	if (!p)
		p = GFS_CHUNKSERVER_PORT;
	if (p > 65535) {
		fprintf(stderr, "bad port %llu\n", (unsigned long long)p);
		return false;
	}
	c->port = p;
	return true;
}

/* The URL others reach us at: --advertise, else from --listen (a
 * wildcard address is replaced by the host name). */
static char *advertised_url(const struct gfs_chunkserver_conf *c,
			    const char *host)
{
	char name[256];
	size_t n;

	if (c->advertise) {
		n = strlen(c->advertise);
		while (n > 1 && c->advertise[n - 1] == '/')
			n--;
		return gfs_xasprintf("%.*s", (int)n, c->advertise);
	}
	if (!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) {
		if (gethostname(name, sizeof(name)) < 0)
			snprintf(name, sizeof(name), "localhost");
		name[sizeof(name) - 1] = '\0';
		host = name;
	}
	if (strchr(host, ':'))
		return gfs_xasprintf("%s://[%s]:%llu", c->tls_cert ? "https"
				     : "http", host,
				     (unsigned long long)c->port);
	return gfs_xasprintf("%s://%s:%llu", c->tls_cert ? "https" : "http",
			     host, (unsigned long long)c->port);
}

static bool configure(struct gfs_chunkserver *cs, int argc, char **argv,
		      char **listen)
{
	struct gfs_chunkserver_conf *c = &cs->conf;
	char **pos = gfs_xcalloc((size_t)argc + 1, sizeof(*pos)), host[256];
	uint64_t lport = 0;
	int npos = 0;
	bool ok;

	set_defaults(c);
	ok = gfs_opts_parse(opts, GFS_ARRAY_SIZE(opts), c, argc, argv, usage,
			    pos, &npos);
	if (ok && !split_listen(c->listen, host, &lport)) {
		fprintf(stderr, "bad --listen '%s'\n", c->listen);
		ok = false;
	}
	ok = ok && settle_port(c, pos, npos, lport);
	free(pos);
	if (ok && c->heartbeat_ms < 100) {
		fprintf(stderr, "--heartbeat-interval: at least 100ms\n");
		ok = false;
	}
	ok = ok && gfs_auth_may_listen("gfs-chunkserver", host, &c->auth,
				       false);
	if (!ok)
		return false;
	if (!c->data)
		c->data = gfs_xasprintf("var/chunkserver-%llu",
					(unsigned long long)c->port);
	cs->url = advertised_url(c, host);
	*listen = gfs_xasprintf(strchr(host, ':') ? "[%s]:%llu" : "%s:%llu",
				host, (unsigned long long)c->port);
	return true;
}

/* Open files: 256 chunk directories, --cache-chunks views and a socket
 * or two per connection outgrow the usual soft limit of 1024; take what
 * the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The store found a corrupt replica: tell the masters now. */
static void on_corrupt(void *cls, uint64_t handle)
{
	struct gfs_chunkserver *cs = cls;

	(void)handle;
	if (cs->masters)
		gfs_masterconn_kick(cs->masters);
}

/* A copy the primary ordered failed: tell it now. */
static void on_copy_failed(void *cls)
{
	struct gfs_chunkserver *cs = cls;

	if (cs->masters)
		gfs_masterconn_kick(cs->masters);
}

/* The store's packs want a chunk moved out into a file. */
static bool materialise(void *cls, struct gfs_chunkstore *s, uint64_t handle)
{
	enum gfs_err err = gfs_chunkwrite_materialise(s, handle, 0);

	(void)cls;
	return !err || err == GFS_ESTALE || err == GFS_ENOENT ||
	       err == GFS_ECORRUPT;  /* that chunk only: go on */
}

static bool start(struct gfs_chunkserver *cs, const char *listen)
{
	struct gfs_chunkstore_conf sc = {
		.dir = cs->conf.data, .cache_max = (unsigned)cs->conf.cache_chunks,
		.reserve = cs->conf.reserve, .capacity = cs->conf.capacity,
		.meta_files = cs->conf.meta_files,
		.ack_in_memory = cs->conf.ack_in_memory,
		.pack_max = cs->conf.pack_max,
		.on_corrupt = on_corrupt, .materialise = materialise,
		.cls = cs,
	};

	char msg[400];

	cs->started_ms = gfs_mono_ms();
	cs->auth = gfs_auth_new(&cs->conf.auth, msg, sizeof(msg));
	if (!cs->auth) {
		gfs_error("%s", msg);
		return false;
	}
	if (!gfs_auth_on(cs->auth))
		gfs_warn("no --secret-file: anyone who can reach this server "
			 "may read, write and delete its chunks");
	if (gfs_chunkstore_open(&sc, &cs->store))
		return false;
	cs->http = gfs_http_pool_new(HTTP_POOL);
	gfs_http_pool_set_ca(cs->http, cs->conf.auth.ca_file);
	cs->repl = gfs_replicate_start(cs, REPLICATION_WORKERS,
					on_copy_failed, cs);
	cs->masters = gfs_masterconn_start(cs);
	if (!cs->masters)
		return false;
	if (cs->conf.scrub_interval_ms)
		cs->scrub = gfs_scrub_start(cs->store,
					    cs->conf.scrub_interval_ms,
					    cs->conf.scrub_rate);
	cs->gateway = cs->conf.master[0]
			      ? gfs_gateway_new(cs->conf.master,
						cs->conf.auth.ca_file)
			      : NULL;
	if (!cs->gateway && cs->conf.master[0])
		gfs_warn("no /content gateway: the client library refused "
			 "--master '%s'", cs->conf.master);
	cs->httpd = gfs_routes_start(cs, listen);
	return cs->httpd != NULL;
}

/* Stop every thread, then free; safe on a half-started cs. */
static void stop(struct gfs_chunkserver *cs)
{
	gfs_httpd_stop(cs->httpd);
	gfs_scrub_stop(cs->scrub);
	gfs_masterconn_stop(cs->masters);
	gfs_replicate_stop(cs->repl);
	gfs_gateway_free(cs->gateway);
	gfs_scrub_free(cs->scrub);
	gfs_masterconn_free(cs->masters);
	cs->masters = NULL;
	gfs_replicate_free(cs->repl);
	gfs_http_pool_free(cs->http);
	gfs_chunkstore_close(cs->store);
	gfs_auth_free(cs->auth);
}

int main(int argc, char **argv)
{
	struct gfs_chunkserver cs = { 0 };
	struct gfs_chunkstore_space sp;
	char *listen = NULL;
	sigset_t sigs;
	int sig = 0, rc = 1;

	if (!configure(&cs, argc, argv, &listen))
		goto out_free_conf;
	gfs_log_init("gfs-chunkserver", cs.conf.log_level);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	gfs_http_global_init();
	raise_fd_limit();
	if (!start(&cs, listen))
		goto out_stop;
	gfs_chunkstore_space(cs.store, &sp);
	gfs_info("serving %s on %s as %s: %llu chunks, %llu bytes free; "
		 "masters %s", cs.conf.data, listen, cs.url,
		 (unsigned long long)sp.chunks,
		 (unsigned long long)sp.free_bytes, cs.conf.master);
	while (sigwait(&sigs, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
		;
	gfs_info("%s: shutting down", strsignal(sig));
	rc = 0;
out_stop:
	stop(&cs);
	if (!rc)
		gfs_info("stopped");
out_free_conf:
	gfs_opts_free(opts, GFS_ARRAY_SIZE(opts), &cs.conf);
	free(cs.url);
	free(listen);
	return rc;
}

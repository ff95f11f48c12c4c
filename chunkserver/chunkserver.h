/*
 * chunkserver.h - struct gfs_chunkserver: everything one gfs-chunkserver
 * process has, built in main() and passed down (as the HTTP server's app
 * pointer, and to each module's constructor).
 *
 * Module map (docs/CHUNKSERVER.md has the tour):
 *   main.c        options, start-up order, signals, shutdown
 *   routes.c      THE route table and its thin handlers
 *   chunkstore.c  chunk files, the table, views, quarantine, space
 *   chunkmeta.c   the meta format, in an xattr or a <handle>.meta file
 *   blockcrc.c    per-block CRC32C tables
 *   chunkwrite.c  one write to one chunk, as a transaction
 *   pipeline.c    PUT /chunks: streamed write + forwarding downstream
 *   reader.c      GET /chunks: ranges, verification, streaming
 *   fetch.c       GET a chunk from a peer, verifying its blocks
 *   masterconn.c  heartbeats to the masters, epochs, orders
 *   replicate.c   background copies ordered by the primary
 *   scrub.c       background verification of idle chunks
 *   gateway.c     /content for curl -L users (client library)
 */
#ifndef GFS_CS_CHUNKSERVER_H
#define GFS_CS_CHUNKSERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"

struct gfs_chunkstore;
struct gfs_masterconn;
struct gfs_replicate;
struct gfs_scrub;
struct gfs_gateway;
struct gfs_http_pool;
struct gfs_httpd;

/* Options (main.c's table fills these; strings owned, gfs_opts_free). */
struct gfs_chunkserver_conf {
	char *listen;                 /* ADDR or ADDR:PORT */
	uint64_t port;                /* --port, or the positional PORT */
	char *data;                   /* data directory */
	char *master;                 /* comma-separated master URLs */
	char *advertise;              /* URL registered with the masters */
	uint64_t heartbeat_ms;
	uint64_t reserve;             /* free bytes kept back */
	uint64_t capacity;            /* cap on bytes stored; 0 none */
	uint64_t scrub_interval_ms;   /* between two full passes; 0 off */
	uint64_t scrub_rate;          /* bytes per second */
	uint64_t cache_chunks;        /* views (fd + CRCs) kept open */
	bool meta_files;              /* metas in .meta files, never in
				       * xattrs */
	bool ack_in_memory;           /* acknowledge writes before the disk
				       * has them (docs/CHUNKSERVER.md) */
	uint64_t pack_max;            /* --pack-max: live bytes of packed
				       * small chunks in full segments; 0:
				       * no packing */
	struct gfs_httpd_limits http; /* --http-* (zero: defaults) */
	struct gfs_auth_conf auth;    /* --secret-file, --insecure, ... */
	char *tls_cert;               /* --tls-cert, --tls-key: HTTPS */
	char *tls_key;
	enum gfs_log_level log_level;
	char *config;                 /* --config FILE (read by options.c) */
};

/* Counters for /metrics; atomics, no lock. */
struct gfs_chunkserver_counters {
	atomic_ullong puts;            /* PUTs committed here */
	atomic_ullong put_bytes;       /* body bytes of those */
	atomic_ullong forward_bytes;   /* body bytes sent downstream */
	atomic_ullong forward_failures;/* downstream replicas that failed */
	atomic_ullong gets;            /* GETs answered with data */
	atomic_ullong get_bytes;       /* bytes sent by them */
	struct gfs_histo write_us;     /* chunk PUT: first byte taken to
					* the local commit done */
	struct gfs_histo commit_us;    /* the commit alone (fsyncs) */
};

struct gfs_chunkserver {
	struct gfs_chunkserver_conf conf;
	char *url;                      /* advertised base URL, owned */
	int64_t started_ms;             /* monotonic */
	struct gfs_chunkstore *store;   /* owned */
	struct gfs_http_pool *http;     /* forwards to next replicas and
					 * GETs from peers */
	struct gfs_masterconn *masters; /* owned */
	struct gfs_replicate *repl;     /* owned */
	struct gfs_scrub *scrub;        /* owned, NULL when off */
	struct gfs_gateway *gateway;    /* owned, NULL when unavailable */
	struct gfs_httpd *httpd;        /* owned */
	struct gfs_auth *auth;          /* owned: checks tokens, signs
					 * calls to masters and peers */
	struct gfs_chunkserver_counters counters;
};

#endif

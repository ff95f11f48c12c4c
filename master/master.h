/*
 * master.h - struct gfs_master, the whole state of a gfs-master process.
 *
 * Built once in main() and passed to every module (req->app in handlers).
 * Nothing else is global except the stop flag of main.c.
 *
 * Locking: `lock` (the master lock) protects every field marked (lock):
 * the namespace, the chunk table, the chunkserver registry, the role and
 * the epoch.  Handlers hold it only while they validate, log (queue) and
 * apply; they wait for the fsync and the backup without it.  Lock order:
 * lock, then the op log's own lock.
 */
#ifndef GFS_MASTER_H
#define GFS_MASTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "checkpoint.h"
#include "chunks.h"
#include "csmgr.h"
#include "httpd.h"
#include "log.h"
#include "acks.h"
#include "isr.h"
#include "namespace.h"
#include "oplog.h"
#include "requests.h"

struct gfs_httpd;
struct gfs_http_pool;
struct gfs_election;

/* A mutation (or a read of what is not durable yet) waits this long at
 * most for the in-sync set, then is answered 503: a client's call
 * (10 s) gets an answer and can try elsewhere. */
#define GFS_ACK_WAIT_MS 5000

enum gfs_role {
	GFS_ROLE_PRIMARY,
	GFS_ROLE_BACKUP,
};

/* Settings: flags and --config (see the table in main.c).  Read-only once
 * the master runs.  Durations in ms. */
struct gfs_master_conf {
	char *config;               /* --config FILE (scanned by options.c) */
	char *listen;               /* ADDR:PORT, owned */
	char *data;                 /* data directory, owned */
	char *backup_of;            /* primary URL when starting as backup */
	char *advertise;            /* own URL as others reach it */
	uint64_t chunk_size;
	uint64_t replicas;
	uint64_t dead_after_ms;     /* chunkserver dead without heartbeat */
	uint64_t failover_ms;       /* backup promotes after this silence */
	uint64_t gc_interval_ms;    /* garbage/orphan sweep period */
	uint64_t orphan_grace_ms;   /* unknown chunks live this long */
	uint64_t checkpoint_every;  /* records between checkpoints */
	uint64_t probation_ms;      /* restarted primary waits this long */
	uint64_t detach_ms;         /* a follower silent this long is
				     * silent (etcd: leaves the set) */
	char *etcd;                 /* --etcd endpoints; NULL: pair mode */
	char *etcd_prefix;          /* keys live under this */
	uint64_t etcd_lease_ms;     /* TTL of the leader's lease */
	struct gfs_httpd_limits http; /* --http-* (zero: defaults) */
	struct gfs_auth_conf auth;  /* --secret-file, --keys, ... */
	char *tls_cert;             /* --tls-cert, --tls-key: serve HTTPS */
	char *tls_key;
	enum gfs_log_level log_level;
};

/* What the backup side knows about following the primary (lock). */
struct gfs_follow {
	uint64_t sync_epoch;        /* epoch of the primary synced from */
	bool resync;                /* fetch the checkpoint next */
	bool in_sync;               /* last poll: attached */
	bool complete;              /* the marker file <data>/in-sync: our
				     * log lost nothing since we were last
				     * attached or leader (etcd mode: may
				     * campaign) */
	bool campaigning;           /* etcd: a campaign counts on our log
				     * as it is: no re-sync until it ends */
	int64_t last_contact_ms;    /* monotonic, last answer from primary:
				     * a stamped one's arrival, another's
				     * request's sending */
	int64_t read_until_ms;      /* monotonic: we answer reads before
				     * this (gfs_isr_read_until() of the
				     * sending of the last poll answered
				     * attached; 0: none) */
	struct gfs_isr_echo echo;   /* the primary's stamp that came with the
				     * answer of last_contact_ms or before:
				     * echoed in our next poll */
	int64_t held_back_ms;       /* pair: last_contact_ms when we last
				     * logged not taking over */
	int64_t last_ping_ms;       /* primary: last epoch ping to old one */
	bool refused;               /* the other master's last answer was
				     * 401 (logged once) */
	int64_t stream_after_ms;    /* monotonic: follow over an op-log
				     * stream no sooner (stream.h) */
};

struct gfs_master {
	struct gfs_master_conf conf;
	char *self_url;             /* advertised URL, owned */
	pthread_mutex_t lock;       /* the master lock */
	pthread_cond_t wake;        /* tick thread: checkpoint or stop now */

	enum gfs_role role;         /* (lock) */
	uint64_t epoch;             /* (lock) */
	uint64_t prev_epoch;        /* (lock) leader: the epoch of the records
				     * before epoch_start */
	uint64_t epoch_start;       /* (lock) leader: seq of its EPOCH record */
	char *primary_url;          /* (lock) the primary as known; owned */
	char *epoch_owner;          /* (lock) the master that logged the
				     * EPOCH record of `epoch` (only it may
				     * lead that epoch); owned, NULL: none */
	char *peer_url;             /* (lock) the master we took over from,
				     * pinged with our epoch; owned */
	int64_t probation_until;    /* (lock) mono ms; mutations 503 before */
	int64_t settle_until;       /* (lock) mono ms; no re-replication
				     * before (inventories arriving) */
	int64_t started_ms;         /* monotonic start time */

	struct gfs_ns ns;           /* (lock) */
	struct gfs_chunks chunks;   /* (lock) */
	struct gfs_csmgr cs;        /* (lock) */
	struct gfs_requests requests; /* (lock) recent request ids */
	struct gfs_oplog *log;      /* owned; own lock */
	struct gfs_isr isr;         /* followers a mutation waits for; own
				     * lock */
	struct gfs_acks acks;       /* mutations made in the event thread,
				     * waiting to be acknowledged; own lock */
	struct gfs_election *el;    /* etcd mode: the election, owned */
	uint64_t applied_seq;       /* (lock) next seq to apply */
	uint64_t ckpt_seq;          /* (lock) next seq of the last checkpoint */
	struct gfs_ckpt ckpt;       /* (lock) the one being written */
	uint64_t reserve_seq;       /* (lock) seq of the last RESERVE record */
	bool replaying;             /* (lock) apply without side effects */
	struct gfs_follow fw;       /* (lock) */

	struct gfs_auth *auth;      /* owned; who may call, tokens */
	struct gfs_httpd *httpd;    /* owned */
	struct gfs_http_pool *http; /* outgoing calls, owned */
	pthread_t tick_thread;
	pthread_t follow_thread;
	bool threads;               /* the threads were started */
	atomic_bool stopping;
};

/* Is leadership decided by etcd (--etcd), not by the pair's rules? */
static inline bool gfs_master_etcd(const struct gfs_master *m)
{
	return m->conf.etcd != NULL;
}

/* Monotonic seconds since start (chunk commit times). */
uint32_t gfs_master_now_s(const struct gfs_master *m);



/* Load the state from conf.data (checkpoint + log replay) and take the
 * role the flags ask for.  Logs why on failure. */
enum gfs_err gfs_master_open(struct gfs_master *m);
/* Start the tick and follower threads. */
void gfs_master_start(struct gfs_master *m);
/* Stop the threads, checkpoint, close the log, free the state. */
void gfs_master_close(struct gfs_master *m);
#endif

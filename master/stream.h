/*
 * stream.h - the op-log stream: how a follower gets the leader's records
 * and acknowledges them on one connection of its own, without a request
 * per round.
 *
 * For: the transport.  A follower that polls GET /oplog pays, per
 * record acknowledged, two HTTP requests' thread hand-offs on the leader
 * (a worker wakes for the record, the event thread for the reply; the
 * event thread for the next poll, a worker for it) and a request's
 * set-up on itself: about 190 of the 260 us between the leader's write
 * of a record and the follower's acknowledgement reaching it (docs/
 * PERFORMANCE.md).  A stream is a poll turned into a connection: the
 * follower asks `GET /oplog?from=N&crc=C&wait_ms=W&stream=1` with
 * "Upgrade: gfs-oplog"; the leader answers 101 and from then on
 *  - sends every record from N on as soon as it is written (RECORDS):
 *    the group commit's leader pushes the batch it just wrote to every
 *    stream waiting for exactly it, before its fdatasync; a thread of
 *    the stream's own sends the rest (a catch-up, a batch pushed to no
 *    one, or one that did not fit the socket at once), read back from
 *    the file;
 *  - takes each acknowledgement (ACK: from, crc, echo) exactly as a poll
 *    for `from` that waits for nothing (gfs_isr_ack()), and answers it
 *    with a STATUS: attached, read window, stamp, epoch, and when the next
 *    acknowledgement is due (the time a poll would have been parked).
 * The request itself is the first acknowledgement.  Nothing about the
 * in-sync set changes: isr.h's rules hold per acknowledgement as they
 * hold per poll, and every failure (a refusal, fencing, a step down, a
 * record that does not follow, silence) closes the stream; the follower
 * then polls once, which gives the answer a poll gives (410, 421, no
 * reply), and tries a stream again a second later.  With TLS the leader
 * answers 501 and the follower keeps polling.
 *
 * Frames, both ways: u32 length of the payload, u8 type, payload
 * (codec.h's little-endian encoding):
 *   'R' records, as a poll's body;
 *   'S' u8 attached, i64 read_ms, str stamp, u64 epoch, u64 prev_epoch,
 *       u64 epoch_start, i64 next_ms;
 *   'A' u64 from, u8 has_crc, u32 crc, str echo ("" or X-GFS-Echo's
 *       text).
 * Not for: what the records mean (journal.c), when a follower may take
 * over or answer reads (backup.c, isr.h).
 */
#ifndef GFS_STREAM_H
#define GFS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isr.h"

#define GFS_STREAM_PROTO "gfs-oplog"
#define GFS_FRAME_RECORDS 'R'
#define GFS_FRAME_STATUS 'S'
#define GFS_FRAME_ACK 'A'

struct gfs_req;
struct gfs_master;

/* A STATUS frame: the answer to one acknowledgement. */
struct gfs_stream_status {
	bool attached;
	int64_t read_ms;
	char stamp[GFS_ISR_STAMP_MAX];
	uint64_t epoch, prev_epoch, epoch_start;
	int64_t next_ms;        /* acknowledge again within this */
};

/* An ACK frame. */
struct gfs_stream_ack {
	uint64_t from;
	bool has_crc;
	uint32_t crc;
	char echo[GFS_ISR_STAMP_MAX + 24]; /* X-GFS-Echo's text, or "" */
};

/*
 * The leader's side: answer req (a checked /oplog?stream=1 from a
 * follower, first: its poll, url and prev_crc copied) with 101 and serve
 * the stream on threads of its own until it ends.
 */
void gfs_stream_serve(struct gfs_req *req, const struct gfs_isr_poll *first);
/* Push m's own records to its streams as its log writes them (once,
 * after the log is open and before any mutation). */
void gfs_stream_push_start(struct gfs_master *m);
/* RECORDS frames sent so far by the streams' own threads, and pushed. */
void gfs_stream_frames(uint64_t *by_sender, uint64_t *pushed);

/* The follower's side: one open stream. */
struct gfs_stream;

/*
 * Connect to url (http://, the whole /oplog?...&stream=1 URL) and ask
 * for the upgrade with the header lines hdrs (NULL-terminated: X-GFS-
 * Backup, X-GFS-Echo, Authorization).  NULL when it failed; *status is
 * then the status of the answer, 0 when none came within timeout_ms.
 */
struct gfs_stream *gfs_stream_open(const char *url, const char *const *hdrs,
				   long timeout_ms, int *status);
void gfs_stream_close(struct gfs_stream *s);
/*
 * The next frame, waiting at most timeout_ms: 1 and *type, *payload
 * (valid until the next call), *len; 0 when none came; -1 when the
 * stream ended (closed, broken, or a frame too large or malformed).
 */
int gfs_stream_recv(struct gfs_stream *s, int timeout_ms, char *type,
		    const uint8_t **payload, size_t *len);
bool gfs_stream_send_ack(struct gfs_stream *s, const struct gfs_stream_ack *a);
/* Decode a STATUS payload; false when malformed. */
bool gfs_stream_status_decode(const uint8_t *p, size_t len,
			      struct gfs_stream_status *st);

#endif

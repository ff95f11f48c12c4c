/*
 * file.c - reading and writing files: struct gfs_file.
 *
 * Reads: the chunk map comes from the master at open; a read takes a
 * snapshot of the chunk under the lock and does the ranged GET without it,
 * so concurrent reads (kernel read-ahead) run in parallel.  Replicas are
 * tried in order; when all fail the map is fetched again once (replicas
 * move when servers die) and the read retried.
 *
 * Writes never touch a committed chunk (docs/PROTOCOL.md, "Data model").
 * The first write to chunk i in a session makes a private chunk: a fresh
 * handle from the master, cloned on the replicas from the committed chunk
 * when there is one.  Bytes stream to the replica pipeline through one
 * PUT for as long as writes stay sequential within the chunk; a jump or the
 * end of the chunk ends that PUT (its reply is collected later, while the
 * next one streams) and starts another with the next version.
 * gfs_file_sync() waits for the replies and commits the private chunks and
 * the new size in one master call; afterwards they are committed and the
 * next write clones again.
 *
 * A PUT whose first server fails is placed again (place_again()) and sent
 * once more: its bytes stay at hand until its replicas acknowledge them,
 * read again from the file being uploaded (gfs_client_upload_fd), or else
 * kept in a window (common/window.c) whose blocks a client-wide budget
 * lends.  See docs/CLIENT.md, "When a chunkserver fails under a write".
 *
 * Invariants: a chunk's bytes beyond its recorded length are never read;
 * a private chunk whose replicas hold more than its length (after a
 * truncate) is cloned afresh before a write that would expose them; the
 * committed bytes at or past the lowest size since the last commit
 * (f->cut) are never read or cloned, and the commit first cuts the file
 * there when it grew again, so a shrink and a regrowth read zeros.  A
 * PUT goes only to replicas that acknowledged every earlier PUT to its
 * chunk (the next PUT to a chunk waits for the previous one's reply).
 * Every byte written since the last acknowledged PUT of each stream can
 * be sent again.
 *
 * Locking: f->lock protects everything in struct gfs_file.  Network I/O
 * for writes happens under it (writes to one file are serialised anyway);
 * reads drop it for the transfer.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "client_internal.h"
#include "constants.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "path.h"
#include "token.h"
#include "util.h"

#define MAX_REPLICAS 8
#define STALL_MS 30000L     /* a chunk transfer that makes no progress */
#define READ_TIMEOUT_MS 60000L
#define SMALL_WRITE (256u << 10) /* held back to go out as one sized PUT */
#define MAX_PLACEMENTS 8    /* of one PUT whose first server fails */
#define SOURCE_STEP (1u << 20) /* read again from the source at a time */
/* A token is renewed half-way through its life, but not sooner than
 * this (when our clock says it is nearly gone already: clocks differ). */
#define TOKEN_MIN_LIFE_MS 1000

/* A chunk as this handle knows it. */
struct chunk {
	uint64_t index;         /* its place in the file */
	uint64_t handle;        /* 0: none (a stream's base, f->first) */
	uint64_t version;
	uint64_t length;        /* bytes [0, length) are data */
	uint64_t disk_length;   /* private chunks: bytes on the replicas */
	unsigned nreplicas;
	const char *replicas[MAX_REPLICAS]; /* interned URLs */
	char token[GFS_TOKEN_MAX]; /* what the master lets us do with it
				    * (X-GFS-Token), or "" (no secret) */
	int64_t renew_ms;       /* monotonic: ask for a fresh token from then */
};

/*
 * The chunks of a file that exist, sorted by index: a sparse file costs
 * what it holds, never its size (a truncate to a petabyte, or one byte
 * written at a huge offset, adds no entry for the holes).  Lookups are
 * O(log n); an insert is O(n) (a memmove), and writes come in order.
 */
struct chunk_map {
	struct chunk *v;        /* sorted by index, owned */
	size_t n, cap;
};

/*
 * The PUT of a stream: one upload down the replica chain (X-GFS-Forward),
 * or, for a body sent whole and small (sized, at most SMALL_WRITE), one
 * upload to each replica at once.  The replicas then take the body and
 * fsync it side by side, and the reply comes from each straight back:
 * no replica waits for the body to be relayed to it or for its
 * downstream's answer to be relayed back (docs/CLIENT.md, "Small
 * bodies go to every replica at once").  The chain stays for bodies
 * that stream, where it keeps the client's bandwidth to one copy.
 */
struct put {
	unsigned n;                          /* uploads open; 0: none; more
					      * than 1: one per replica */
	struct gfs_upload *up[MAX_REPLICAS]; /* owned */
	struct gfs_http *h[MAX_REPLICAS];    /* held from the pool */
};

/*
 * One PUT to a private chunk.  Its first bytes are held back (up to
 * SMALL_WRITE) so that a small write goes out as one sized PUT when the
 * stream ends (no chunked encoding, no 100-continue round trip); a stream
 * that outgrows that is opened chunked and fed directly.  Every byte of
 * it stays at hand until its replicas acknowledge it: in win, or in the
 * file being uploaded (f->src_fd), to be sent again if its first server
 * fails.
 */
struct stream {
	bool active;            /* a stream exists (planned) */
	struct put put;         /* its PUT, once opened */
	uint64_t index;         /* chunk index */
	uint64_t start, next;   /* chunk offsets: first byte, next byte */
	uint64_t sent;          /* chunk offset: bytes before it are in up */
	uint64_t version;       /* of this PUT */
	struct chunk target;    /* the private chunk being written */
	bool cloned;            /* target starts as a clone of base */
	struct chunk base;      /* clone source */
	uint64_t clone_length;
	struct gfs_window win;  /* bytes [start, next), unless f->src_fd */
	unsigned placements;    /* times placed again after a failure */
	uint64_t lost_version;  /* base is a private chunk whose replicas
				 * may hold this version instead (rebase()) */
};

struct gfs_file {
	struct gfs_client *c;
	char *path;
	pthread_mutex_t lock;   /* protects everything below */
	int flags;
	uint64_t chunk_size;
	uint64_t size;          /* committed size */
	uint32_t mode;          /* as the master last said */
	int64_t entry_mtime_ns; /* as the master last said */
	struct gfs_stat entry;  /* the rest it said: owner, ino, times */
	struct chunk_map chunks; /* committed chunks */
	struct chunk_map dirty; /* private chunks */
	uint64_t wsize;         /* size as this handle sees it */
	bool changed;           /* something to commit */
	struct stream cur;      /* the PUT being fed */
	struct stream prev;     /* a PUT whose body ended, reply pending */
	enum gfs_err werr;      /* a failed write: sync reports it */
	int64_t mtime_ns;       /* mtime for the next commit, 0: now */
	struct chunk first;     /* chunk 0 allocated with the create, unused
				 * yet (handle 0: none) */
	bool unlinked;          /* the path is gone: never ask the master
				 * about it */
	bool unborn;            /* created here, not yet on the master (a
				 * deferred create): its first sync creates
				 * and commits it in one call */
	int64_t unborn_ms;      /* monotonic: when it was opened so */
	uint64_t kept;          /* unlinked: the master keeps it for us as
				 * this id (0: not), new chunks come from
				 * there */
	uint64_t cut;           /* lowest size since the last commit, or
				 * UINT64_MAX: committed bytes past it are
				 * gone */
	json_t *avoid;          /* servers that failed a write of this
				 * file since its last commit (new ref) */
	int src_fd;             /* the file being uploaded, to read written
				 * bytes again from, or -1 (borrowed) */
	uint64_t src_base;      /* offset in src_fd of this file's byte 0 */
	bool src_failed;        /* reading src_fd again failed */
};

/* Snapshot of a chunk for a read, taken under the lock. */
struct read_ref {
	uint64_t handle, version, length;
	unsigned nreplicas;
	const char *replicas[MAX_REPLICAS];
	char token[GFS_TOKEN_MAX];
};

/* Keep token tok (NULL: none) for ch, and when to renew it: half-way
 * through the life it has by our clock. */
static void take_token(struct chunk *ch, const char *tok)
{
	int64_t life = 0;

	snprintf(ch->token, sizeof(ch->token), "%s", tok ? tok : "");
	if (tok)
		life = gfs_token_expires(tok) * 1000 - gfs_now_ns() / 1000000;
	ch->renew_ms = gfs_mono_ms() + (life > 2 * TOKEN_MIN_LIFE_MS
					? life / 2 : TOKEN_MIN_LIFE_MS);
}

static void parse_chunk(struct gfs_client *c, json_t *j, struct chunk *ch)
{
	const char *tok = NULL;
	json_t *r;
	size_t i;

	memset(ch, 0, sizeof(*ch));
	gfs_json_handle(j, "handle", false, &ch->handle);
	gfs_json_u64(j, "version", false, &ch->version);
	gfs_json_u64(j, "length", false, &ch->length);
	gfs_json_str(j, "token", false, &tok);
	take_token(ch, tok);
	ch->disk_length = ch->length;
	json_array_foreach(json_object_get(j, "replicas"), i, r) {
		if (json_is_string(r) && ch->nreplicas < MAX_REPLICAS)
			ch->replicas[ch->nreplicas++] =
				gfs_client_intern(c, json_string_value(r));
	}
}

/* Position of index in m: where it is or would go.  O(log n). */
static size_t map_pos(const struct chunk_map *m, uint64_t index)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The chunk at index, or NULL. */
static const struct chunk *map_find(const struct chunk_map *m, uint64_t index)
{
	size_t i = map_pos(m, index);

	return i < m->n && m->v[i].index == index ? &m->v[i] : NULL;
}

/* Make *ch (copied) the chunk at index. */
static void map_set(struct chunk_map *m, uint64_t index, const struct chunk *ch)
{
	size_t i = map_pos(m, index);

	if (i == m->n || m->v[i].index != index) {
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 4;
			m->v = gfs_xrealloc(m->v, m->cap * sizeof(*m->v));
		}
		memmove(m->v + i + 1, m->v + i, (m->n - i) * sizeof(*m->v));
		m->n++;
	}
	m->v[i] = *ch;
	m->v[i].index = index;
}

/* Drop every chunk at or beyond index. */
static void map_cut(struct chunk_map *m, uint64_t index)
{
	m->n = map_pos(m, index);
}

static void map_clear(struct chunk_map *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* Replace the committed map with the master's entry j. */
static enum gfs_err load_entry(struct gfs_file *f, json_t *j)
{
	struct gfs_stat st;
	uint64_t n;
	json_t *e;
	size_t i;

	gfs_client_parse_stat(j, &st);
	if (st.is_dir)
		return GFS_EISDIR;
	if (st.kind != S_IFREG) {
		/* a symlink, FIFO, socket or device: metadata, no data */
		gfs_client_set_error(GFS_EINVAL, st.kind == S_IFLNK
			? "a symbolic link (not followed): not a regular file"
			: "not a regular file");
		return GFS_EINVAL;
	}
	if (!st.chunk_size || st.chunk_size % GFS_BLOCK_SIZE)
		return GFS_EIO;
	f->chunk_size = st.chunk_size;
	f->size = st.size;
	f->mode = st.mode;
	f->entry_mtime_ns = st.mtime_ns;
	f->entry = st;
	n = (st.size + st.chunk_size - 1) / st.chunk_size;
	map_clear(&f->chunks);
	json_array_foreach(json_object_get(j, "chunks"), i, e) {
		uint64_t idx = UINT64_MAX;
		struct chunk ch;

		gfs_json_u64(e, "index", true, &idx);
		parse_chunk(f->c, e, &ch);
		if (idx < n && ch.handle)
			map_set(&f->chunks, idx, &ch);
	}
	return GFS_OK;
}

static enum gfs_err fetch_entry(struct gfs_file *f)
{
	char *route;
	json_t *j = NULL;
	enum gfs_err err;

	if (f->unlinked || f->unborn)
		return GFS_EIO; /* its path may name another file now, or
				 * none yet */
	route = gfs_client_route("files", f->path, NULL);
	err = gfs_client_call(f->c, "GET", route, NULL, &j);
	free(route);
	if (!err)
		err = load_entry(f, j);
	if (j)
		json_decref(j);
	return err;
}

/* ---- chunk tokens ------------------------------------------------------ */

/* tok for ch when ch is chunk handle. */
static void token_into(struct chunk *ch, uint64_t handle, const char *tok)
{
	if (ch->handle == handle)
		take_token(ch, tok);
}

static void map_token(struct chunk_map *m, uint64_t index, uint64_t handle,
		      const char *tok)
{
	size_t i = map_pos(m, index);

	if (i < m->n && m->v[i].index == index)
		token_into(&m->v[i], handle, tok);
}

/* A fresh token for handle, wherever this file keeps that chunk. */
static void set_token(struct gfs_file *f, uint64_t index, uint64_t handle,
		      const char *tok)
{
	map_token(&f->chunks, index, handle, tok);
	map_token(&f->dirty, index, handle, tok);
	token_into(&f->cur.target, handle, tok);
	token_into(&f->cur.base, handle, tok);
	token_into(&f->prev.target, handle, tok);
	token_into(&f->prev.base, handle, tok);
	token_into(&f->first, handle, tok);
}

/*
 * Fresh tokens for chunks handles[0..n) from the master (POST
 * /files/PATH/tokens).  A file whose path is gone keeps the ones it has:
 * they serve until they expire.  Lock held.
 */
static enum gfs_err renew_tokens(struct gfs_file *f, const uint64_t *handles,
				 size_t n)
{
	json_t *body = json_object(), *a = json_array(), *j = NULL, *c;
	const char *tok;
	enum gfs_err err;
	uint64_t h, idx;
	char *route;
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, gfs_json_handle_new(handles[i]));
	json_object_set_new(body, "handles", a);
	route = gfs_client_route("files", f->path, "/tokens");
	err = f->unlinked || f->unborn
		      ? GFS_OK /* what it holds serves until it expires */
		      : gfs_client_call(f->c, "POST", route, body, &j);
	json_array_foreach(err ? NULL : json_object_get(j, "chunks"), i, c) {
		tok = NULL;
		if (!gfs_json_handle(c, "handle", true, &h) &&
		    !gfs_json_u64(c, "index", true, &idx) &&
		    !gfs_json_str(c, "token", true, &tok))
			set_token(f, idx, h, tok);
	}
	free(route);
	json_decref(body);
	if (j)
		json_decref(j);
	return err;
}

static bool token_due(const struct chunk *ch)
{
	return ch->handle && ch->token[0] && gfs_mono_ms() >= ch->renew_ms;
}

/* Renew the tokens of a and b (may be NULL) that are half-way through
 * their life.  Lock held. */
static enum gfs_err fresh_tokens(struct gfs_file *f, const struct chunk *a,
				 const struct chunk *b)
{
	uint64_t h[2];
	size_t n = 0;

	if (a && token_due(a))
		h[n++] = a->handle;
	if (b && token_due(b))
		h[n++] = b->handle;
	return n ? renew_tokens(f, h, n) : GFS_OK;
}

/* "Name: token" of ch into buf, or NULL without a token. */
static const char *token_header(const char *name, const char *tok,
				char *buf, size_t len)
{
	if (!tok[0])
		return NULL;
	snprintf(buf, len, "%s: %s", name, tok);
	return buf;
}

/* Create path; on success *entry is the master's new entry. */
static enum gfs_err create_entry(struct gfs_client *c, const char *path,
				 uint32_t mode, uint32_t uid, uint32_t gid,
				 bool hidden, bool alloc, json_t **entry)
{
	char *route = gfs_client_route("files", path, NULL);
	json_t *body = json_pack("{s:s, s:i, s:b, s:b, s:I, s:I}", "type",
				 "file", "mode", (int)(mode & 07777), "alloc",
				 alloc, "hidden", hidden, "uid",
				 (json_int_t)uid, "gid", (json_int_t)gid);
	enum gfs_err err = gfs_client_call(c, "PUT", route, body, entry);

	free(route);
	json_decref(body);
	return err;
}

/* An inode number for a file the master has not numbered yet: unique
 * here, never one of the master's (they count up from 1). */
static uint64_t unborn_ino(uint64_t handle)
{
	return (1ull << 63) | handle;
}

/*
 * A new file of path that only this handle knows of (a deferred create):
 * empty, owned by uid and gid, its chunk 0 the pre-placed chunk pre.  The
 * first sync creates and commits it in one master call (create_commit()),
 * and anything that needs the master to know it first makes it there
 * (materialize()).
 */
static struct gfs_file *open_unborn(struct gfs_client *c, const char *path,
				    int flags, uint32_t mode, uint32_t uid,
				    uint32_t gid, const struct gfs_preplaced *pre)
{
	struct gfs_file *f = gfs_xcalloc(1, sizeof(*f));
	int64_t now = gfs_now_ns();

	f->c = c;
	f->path = gfs_xstrdup(path);
	f->flags = flags;
	f->avoid = json_array();
	f->src_fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	f->chunk_size = pre->chunk_size;
	f->mode = mode & 07777;
	f->entry_mtime_ns = now;
	f->entry = (struct gfs_stat){
		.kind = S_IFREG, .mtime_ns = now, .atime_ns = now,
		.ctime_ns = now, .mode = f->mode,
		.chunk_size = pre->chunk_size, .ino = unborn_ino(pre->handle),
		.nlink = 1, .uid = uid, .gid = gid,
	};
	f->first.handle = pre->handle;
	f->first.nreplicas = pre->nreplicas;
	memcpy(f->first.replicas, pre->replicas, sizeof(pre->replicas));
	take_token(&f->first, pre->token[0] ? pre->token : NULL);
	f->cut = UINT64_MAX;
	f->changed = true; /* created at the first sync, empty or not */
	f->unborn = true;
	f->unborn_ms = gfs_mono_ms();
	return f;
}

/*
 * Tell the master of an unborn file now: create it (today's two-round
 * path from here on).  A name another client took meanwhile is
 * GFS_EEXIST for an exclusive open; otherwise this handle opened that
 * file, and its writes replace what it held (as after O_TRUNC).  Lock
 * held.
 */
static enum gfs_err materialize(struct gfs_file *f)
{
	json_t *created = NULL;
	enum gfs_err err;

	if (!f->unborn)
		return GFS_OK;
	err = create_entry(f->c, f->path, f->mode, f->entry.uid, f->entry.gid,
			   false, false, &created);
	f->unborn = false;
	if (!err) {
		err = load_entry(f, created);
	} else if (err == GFS_EEXIST && !(f->flags & GFS_O_EXCL)) {
		err = fetch_entry(f);
		f->cut = 0;
	}
	if (created)
		json_decref(created);
	if (err)
		f->unborn = true;
	return err;
}

bool gfs_file_unborn(struct gfs_file *f, int64_t *since_ms)
{
	bool u;

	pthread_mutex_lock(&f->lock);
	u = f->unborn;
	if (u && since_ms)
		*since_ms = f->unborn_ms;
	pthread_mutex_unlock(&f->lock);
	return u;
}

enum gfs_err gfs_file_materialize(struct gfs_file *f)
{
	enum gfs_err err;

	pthread_mutex_lock(&f->lock);
	err = materialize(f);
	pthread_mutex_unlock(&f->lock);
	return err;
}

enum gfs_err gfs_file_open(struct gfs_client *c, const char *path, int flags,
			   uint32_t mode, struct gfs_file **out)
{
	return gfs_file_open_as(c, path, flags, mode, 0, 0, out);
}

enum gfs_err gfs_file_open_as(struct gfs_client *c, const char *path,
			      int flags, uint32_t mode, uint32_t uid,
			      uint32_t gid, struct gfs_file **out)
{
	struct gfs_file *f;
	json_t *created = NULL;
	enum gfs_err err = gfs_path_check(path, strlen(path));
	struct gfs_preplaced pre;
	bool made = false;

	*out = NULL;
	if (err)
		return err;
	if (!strcmp(path, "/"))
		return GFS_EISDIR;
	if ((flags & GFS_O_CREAT) && (flags & GFS_O_DEFER) &&
	    !(flags & GFS_O_HIDDEN) && gfs_preplace_take(c, &pre)) {
		*out = open_unborn(c, path, flags, mode, uid, gid, &pre);
		return GFS_OK;
	}
	if (flags & GFS_O_CREAT) {
		/* a create whose connection broke is asked again with the
		 * same request id (client.c): it happens exactly once */
		err = create_entry(c, path, mode, uid, gid,
				   flags & GFS_O_HIDDEN, true, &created);
		if (err && !(err == GFS_EEXIST && !(flags & GFS_O_EXCL))) {
			if (created)
				json_decref(created);
			return err;
		}
		made = !err && created;
	}
	f = gfs_xcalloc(1, sizeof(*f));
	f->c = c;
	f->path = gfs_xstrdup(path);
	f->flags = flags;
	f->avoid = json_array();
	f->src_fd = -1;
	pthread_mutex_init(&f->lock, NULL);
	/* A file we just made is empty: its entry says all there is, and
	 * may carry its first chunk's allocation. */
	if (made) {
		err = load_entry(f, created);
		if (!err && json_is_object(json_object_get(created, "alloc")))
			parse_chunk(c, json_object_get(created, "alloc"),
				    &f->first);
	} else {
		err = fetch_entry(f);
	}
	if (created)
		json_decref(created);
	if (err) {
		gfs_file_abort(f);
		return err;
	}
	f->wsize = f->size;
	f->cut = UINT64_MAX;
	if ((flags & GFS_O_TRUNC) && f->size) {
		f->wsize = f->cut = 0;
		f->changed = true;
	}
	/* a hidden new file appears at its first commit, even empty */
	if (made && (flags & GFS_O_HIDDEN))
		f->changed = true;
	*out = f;
	return GFS_OK;
}

void gfs_file_set_path(struct gfs_file *f, const char *path)
{
	char *copy = gfs_xstrdup(path);

	pthread_mutex_lock(&f->lock);
	free(f->path);
	f->path = copy;
	pthread_mutex_unlock(&f->lock);
}

void gfs_file_unlinked(struct gfs_file *f, uint64_t kept)
{
	pthread_mutex_lock(&f->lock);
	f->unlinked = true;
	f->kept = kept;
	pthread_mutex_unlock(&f->lock);
}

void gfs_file_set_mtime(struct gfs_file *f, int64_t mtime_ns)
{
	pthread_mutex_lock(&f->lock);
	f->mtime_ns = mtime_ns;
	pthread_mutex_unlock(&f->lock);
}

void gfs_file_stat(struct gfs_file *f, struct gfs_stat *st)
{
	pthread_mutex_lock(&f->lock);
	*st = f->entry;
	st->kind = S_IFREG;
	st->is_dir = false;
	st->nlink = st->nlink ? st->nlink : 1;
	st->size = f->wsize;
	st->mode = f->mode;
	st->chunk_size = f->chunk_size;
	st->mtime_ns = f->mtime_ns	 ? f->mtime_ns
		       : f->changed ? gfs_now_ns()
				    : f->entry_mtime_ns;
	if (f->changed || f->mtime_ns) /* the commit moves ctime to now */
		st->ctime_ns = gfs_now_ns();
	pthread_mutex_unlock(&f->lock);
}

uint64_t gfs_file_size(struct gfs_file *f)
{
	uint64_t s;

	pthread_mutex_lock(&f->lock);
	s = f->wsize;
	pthread_mutex_unlock(&f->lock);
	return s;
}

bool gfs_file_dirty(struct gfs_file *f)
{
	bool d;

	pthread_mutex_lock(&f->lock);
	d = f->changed || f->cur.active || f->prev.active;
	pthread_mutex_unlock(&f->lock);
	return d;
}

/* ---- writing ---------------------------------------------------------- */

/* The committed chunk at index, unless a truncate since the last commit
 * cut it off. */
static const struct chunk *committed(struct gfs_file *f, uint64_t index)
{
	if (index >= f->cut / f->chunk_size + (f->cut % f->chunk_size != 0))
		return NULL;
	return map_find(&f->chunks, index);
}

/* Bytes of committed chunk ch that are still data (before f->cut). */
static uint64_t committed_length(struct gfs_file *f, const struct chunk *ch)
{
	uint64_t start = ch->index * f->chunk_size;

	return f->cut - start < ch->length ? f->cut - start : ch->length;
}

static const struct chunk *dirty_at(struct gfs_file *f, uint64_t index)
{
	return map_find(&f->dirty, index);
}

static json_t *url_array(const struct chunk *ch)
{
	json_t *a = json_array();
	unsigned i;

	for (i = 0; ch && i < ch->nreplicas; i++)
		json_array_append_new(a, json_string(ch->replicas[i]));
	return a;
}

/* body (returned) names the inode f has open, so that the master
 * refuses the call when f's path names another one now (GFS_EOTHER: a
 * removed or replaced file's writes never land in a file it did not
 * open) *(ext)*.  Not for an unborn file: it has no number yet. */
static json_t *with_ino(struct gfs_file *f, json_t *body)
{
	if (!f->unborn && f->entry.ino)
		json_object_set_new(body, "ino",
				    json_integer((json_int_t)f->entry.ino));
	return body;
}

/* Ask the master for a fresh private chunk for index, away from the
 * servers this file saw fail.  A handle already in *out is one given up
 * ("replaces"), so that the room promised for it is free again. */
static enum gfs_err allocate(struct gfs_file *f, uint64_t index,
			     const struct chunk *near, struct chunk *out)
{
	char *route;
	json_t *body, *j = NULL;
	enum gfs_err err;

	if (f->unlinked && !f->kept)
		return GFS_ENOENT; /* its path may name another file now */
	err = materialize(f); /* a second chunk, or a failed server */
	if (err)
		return err;
	if (f->unlinked)
		route = gfs_xasprintf("/kept/%016" PRIx64 "/chunks", f->kept);
	else
		route = gfs_client_route("files", f->path, "/chunks");
	body = json_pack("{s:I, s:o, s:O}", "index", (json_int_t)index,
			 "near", url_array(near), "exclude", f->avoid);
	if (!f->unlinked)
		with_ino(f, body);
	if (out->handle)
		json_object_set_new(body, "replaces",
				    gfs_json_handle_new(out->handle));
	err = gfs_client_call(f->c, "POST", route, body, &j);
	free(route);
	json_decref(body);
	if (!err) {
		parse_chunk(f->c, j, out);
		out->version = 0;
		out->length = out->disk_length = 0;
		if (!out->handle || !out->nreplicas)
			err = GFS_EIO;
	}
	if (j)
		json_decref(j);
	return err;
}

/* The largest size f may have: the master numbers chunks in 32 bits. */
static uint64_t max_size(const struct gfs_file *f)
{
	return GFS_MAX_FILE_CHUNKS * f->chunk_size;
}

/* Bytes of chunk index within the size this handle sees. */
static uint64_t visible(struct gfs_file *f, uint64_t index)
{
	uint64_t start = index * f->chunk_size;

	return f->wsize > start ? GFS_MIN(f->wsize - start, f->chunk_size) : 0;
}

/*
 * Make f->cur a stream for a write at chunk offset off of index: on into
 * the private chunk, or into a new one from the master (cloned from the
 * committed chunk, or from the private one when it holds bytes beyond its
 * length below off).  Nothing is sent to a chunkserver yet.
 */
static enum gfs_err plan_stream(struct gfs_file *f, uint64_t index,
				uint64_t off)
{
	const struct chunk *d = dirty_at(f, index), *base;
	struct stream *s = &f->cur;
	enum gfs_err err;

	memset(s, 0, sizeof(*s));
	s->index = index;
	s->start = s->next = s->sent = off;
	if (d && !(off > d->length && d->disk_length > d->length)) {
		s->target = *d;
		s->version = d->version + 1;
		s->active = true;
		return GFS_OK;
	}
	base = d ? d : committed(f, index);
	s->version = 1;
	if (base) {
		s->clone_length = GFS_MIN(d ? d->length
					    : committed_length(f, base),
					  visible(f, index));
		s->cloned = s->clone_length > 0;
		s->base = *base;
	}
	if (index == 0 && !base && f->first.handle && f->first.nreplicas) {
		s->target = f->first; /* allocated with the create */
		f->first.handle = 0;
		err = GFS_OK;
	} else {
		err = allocate(f, index, base, &s->target);
	}
	/* the clone's bytes are data of the new chunk */
	s->target.length = s->target.disk_length = s->clone_length;
	s->active = !err;
	return err;
}

static char *put_url(const struct stream *s, const char *replica)
{
	char h[17], b[17];

	gfs_handle_fmt(s->target.handle, h);
	if (!s->cloned)
		return gfs_xasprintf("%s%s/chunks/%s?version=%llu&offset=%llu",
				     replica, GFS_API, h,
				     (unsigned long long)s->version,
				     (unsigned long long)s->start);
	gfs_handle_fmt(s->base.handle, b);
	return gfs_xasprintf("%s%s/chunks/%s?version=%llu&offset=%llu"
			     "&clone=%s&clone_version=%llu&clone_length=%llu",
			     replica, GFS_API, h,
			     (unsigned long long)s->version,
			     (unsigned long long)s->start, b,
			     (unsigned long long)s->base.version,
			     (unsigned long long)s->clone_length);
}

/* "Name: a,b,c" of urls[from..n), or NULL when empty (caller frees). */
static char *url_header(const char *name, const char *const *urls,
			unsigned from, unsigned n)
{
	size_t len = strlen(name) + 3;
	unsigned i;
	char *s;

	if (from >= n)
		return NULL;
	for (i = from; i < n; i++)
		len += strlen(urls[i]) + 1;
	s = gfs_xmalloc(len);
	strcpy(s, name);
	strcat(s, ": ");
	for (i = from; i < n; i++) {
		strcat(s, urls[i]);
		if (i + 1 < n)
			strcat(s, ",");
	}
	return s;
}

/* Open upload i of p: method PUT to url, held from the pool. */
static void put_add(struct gfs_file *f, struct put *p, const char *url,
		    const char *const *hdrs, int64_t size)
{
	unsigned i = p->n++;

	p->h[i] = gfs_http_pool_hold(f->c->sh->pool);
	gfs_upload_start(&p->up[i], p->h[i], "PUT", url, hdrs, size,
			 STALL_MS);
}

/* Start the PUT of s: size bytes, or chunked when size < 0, renewing
 * its tokens first when they are half-way through their life: to every
 * replica at once when the body is small and sized, else down the chain
 * from the first.  Its handles are held from the pool until the PUT is
 * collected or cut. */
static enum gfs_err start_put(struct gfs_file *f, struct stream *s,
			      int64_t size)
{
	const struct chunk *t = &s->target;
	char *url, *fwd = NULL, *src, idh[300], th[GFS_TOKEN_MAX + 32];
	char ch[GFS_TOKEN_MAX + 32];
	const char *hdrs[7];
	enum gfs_err err;
	unsigned i;
	bool fan;
	int n = 0;

	err = fresh_tokens(f, t, s->cloned ? &s->base : NULL);
	if (err)
		return err;
	fan = size >= 0 && size <= SMALL_WRITE && t->nreplicas > 1;
	if (token_header(GFS_HDR_TOKEN, t->token, th, sizeof(th)))
		hdrs[n++] = th;
	if (s->cloned && token_header(GFS_HDR_CLONE_TOKEN, s->base.token, ch,
				      sizeof(ch)))
		hdrs[n++] = ch;
	if (!fan)
		fwd = url_header(GFS_HDR_FORWARD, t->replicas, 1,
				 t->nreplicas);
	src = s->cloned ? url_header("X-GFS-Clone-Sources", s->base.replicas,
				     0, s->base.nreplicas)
			: NULL;
	if (fwd)
		hdrs[n++] = fwd;
	if (src)
		hdrs[n++] = src;
	if (f->c->id) {
		snprintf(idh, sizeof(idh), "%s: %s", GFS_HDR_CLIENT, f->c->id);
		hdrs[n++] = idh;
	}
	hdrs[n++] = "Content-Type: application/octet-stream";
	hdrs[n] = NULL;
	for (i = 0; i < (fan ? t->nreplicas : 1); i++) {
		url = put_url(s, t->replicas[i]);
		put_add(f, &s->put, url, hdrs, size);
		free(url);
	}
	free(fwd);
	free(src);
	return GFS_OK;
}

/* Push buf[0..len) to every upload of p.  A chain fails with its head;
 * a fan-out only when every replica failed (the others' answers, errors
 * all, are collected later). */
static enum gfs_err put_push(struct put *p, const void *buf, size_t len)
{
	enum gfs_err err = GFS_OK, first = GFS_OK;
	unsigned i, ok = 0;

	for (i = 0; i < p->n; i++) {
		err = gfs_upload_push(p->up[i], buf, len);
		if (!err)
			ok++;
		else if (!first)
			first = err;
	}
	return ok ? GFS_OK : first;
}

/* End the body of every upload of p, without waiting for the replies. */
static void put_end(struct put *p)
{
	unsigned i;

	for (i = 0; i < p->n; i++)
		gfs_upload_end(p->up[i]);
}

/* Whether every upload of p is over (its reply in), without waiting. */
static bool put_poll(struct put *p)
{
	unsigned i;
	bool done = true;

	for (i = 0; i < p->n; i++)
		done = gfs_upload_poll(p->up[i]) && done;
	return done;
}

/* Cut every upload of p (no replica takes a short body) and give the
 * handles back. */
static void put_abort(struct gfs_file *f, struct put *p)
{
	unsigned i;

	for (i = 0; i < p->n; i++) {
		gfs_upload_abort(p->up[i]);
		gfs_http_pool_put(f->c->sh->pool, p->h[i]);
	}
	memset(p, 0, sizeof(*p));
}

static enum gfs_err push_piece(void *cls, const char *buf, size_t len)
{
	return put_push(cls, buf, len);
}

/* Read [s->sent, s->next) of s again from the file being uploaded and
 * push it.  A short read (the file shrank) is the source's failure. */
static enum gfs_err push_source(struct gfs_file *f, struct stream *s)
{
	uint64_t at = s->sent, base = f->src_base + s->index * f->chunk_size;
	size_t step = (size_t)GFS_MIN(s->next - at, (uint64_t)SOURCE_STEP);
	char *buf = gfs_xmalloc(step ? step : 1);
	enum gfs_err err = GFS_OK;

	while (at < s->next && !err) {
		size_t n = (size_t)GFS_MIN(s->next - at, (uint64_t)step);

		if (gfs_pread_all(f->src_fd, buf, n, (off_t)(base + at)) !=
		    (ssize_t)n) {
			f->src_failed = true;
			err = GFS_EIO;
			gfs_client_set_error(err, "cannot read the file "
						  "being uploaded again");
			break;
		}
		err = put_push(&s->put, buf, n);
		at += n;
	}
	free(buf);
	return err;
}

/* Push the bytes of s not in its PUT yet, [s->sent, s->next), from its
 * window or read again from the source. */
static enum gfs_err push_kept(struct gfs_file *f, struct stream *s)
{
	enum gfs_err err;

	if (f->src_fd >= 0)
		err = push_source(f, s);
	else
		err = gfs_window_each(&s->win, s->sent - s->start, push_piece,
				      &s->put);
	if (!err)
		s->sent = s->next;
	return err;
}

/* Add to ch the replicas of got it does not name yet. */
static void add_replicas(struct chunk *ch, const struct chunk *got)
{
	unsigned i, j;

	for (i = 0; i < got->nreplicas; i++) {
		for (j = 0; j < ch->nreplicas; j++)
			if (ch->replicas[j] == got->replicas[i])
				break; /* interned: equal URLs, equal pointers */
		if (j == ch->nreplicas && ch->nreplicas < MAX_REPLICAS)
			ch->replicas[ch->nreplicas++] = got->replicas[i];
	}
}

/* Wait for the reply to upload i of the PUT of s and give its handle
 * back; on success add the replicas that hold the bytes to ch and set
 * *len to the chunk's length on them. */
static enum gfs_err collect_one(struct gfs_file *f, struct stream *s,
				unsigned i, struct chunk *ch, uint64_t *len)
{
	const char *url = s->target.replicas[s->put.n > 1 ? i : 0];
	struct gfs_http_reply r;
	enum gfs_err err = gfs_upload_finish(s->put.up[i], &r);
	struct chunk got;

	gfs_http_pool_put(f->c->sh->pool, s->put.h[i]);
	if (!err) {
		parse_chunk(f->c, r.json, &got);
		gfs_json_u64(r.json, "length", true, len);
		if (got.handle != s->target.handle || !got.nreplicas)
			err = GFS_EIO;
		else
			add_replicas(ch, &got);
	}
	if (err) {
		gfs_client_set_error_from(err, r.message, url);
		gfs_warn("write to chunk %016llx of %s through %s failed: %s",
			 (unsigned long long)s->target.handle, f->path, url,
			 gfs_client_last_error());
	}
	gfs_http_reply_clear(&r);
	return err;
}

/* Wait for the replies to the PUT of s (its body ended) and give its
 * handles back; on success *ch is the chunk as its replicas now hold it.
 * A chain fails when its head does (a failure further down only leaves
 * the replica out of the reply); a fan-out when every replica does. */
static enum gfs_err collect(struct gfs_file *f, struct stream *s,
			    struct chunk *ch)
{
	enum gfs_err err = GFS_OK, first = GFS_OK;
	uint64_t len = 0;
	unsigned i, ok = 0;

	*ch = s->target;
	ch->nreplicas = 0;
	for (i = 0; i < s->put.n; i++) {
		err = collect_one(f, s, i, ch, &len);
		if (!err)
			ok++;
		else if (!first)
			first = err;
	}
	memset(&s->put, 0, sizeof(s->put));
	err = ok ? GFS_OK : first;
	if (err)
		*ch = s->target;
	ch->version = s->version;
	ch->disk_length = len;
	ch->length = GFS_MAX(s->target.length, s->next);
	return err;
}

/* Close the PUT of s, which failed with err: collect the peer's answer
 * when the transfer is over (its error is the one to act on), else cut
 * it, so that no replica takes a short body as complete. */
static enum gfs_err close_failed(struct gfs_file *f, struct stream *s,
				 enum gfs_err err)
{
	struct chunk ch;

	if (!s->put.n)
		return err;
	if (put_poll(&s->put)) {
		enum gfs_err e = collect(f, s, &ch);

		return e ? e : err;
	}
	put_abort(f, &s->put);
	return err;
}

/* Open the PUT of s and send every byte of it: sized (the body is then
 * complete) or chunked (more may follow).  On failure it is closed. */
static enum gfs_err try_put(struct gfs_file *f, struct stream *s, bool sized)
{
	enum gfs_err err;

	s->sent = s->start;
	err = start_put(f, s, sized ? (int64_t)(s->next - s->start) : -1);
	if (!err)
		err = push_kept(f, s);
	return err ? close_failed(f, s, err) : GFS_OK;
}

/* Keep the writes of this file away from url. */
static void avoid(struct gfs_file *f, const char *url)
{
	json_t *v;
	size_t i;

	json_array_foreach(f->avoid, i, v)
		if (!strcmp(json_string_value(v), url))
			return;
	json_array_append_new(f->avoid, json_string(url));
}

/* Drop from ch the replicas this file keeps away from. */
static void drop_avoided(struct gfs_file *f, struct chunk *ch)
{
	unsigned i, n = 0;
	json_t *v;
	size_t k;

	for (i = 0; i < ch->nreplicas; i++) {
		bool bad = false;

		json_array_foreach(f->avoid, k, v)
			bad = bad || !strcmp(json_string_value(v),
					     ch->replicas[i]);
		if (!bad)
			ch->replicas[n++] = ch->replicas[i];
	}
	ch->nreplicas = n;
}

/*
 * What a new chunk for s is cloned from.  A first PUT to a private chunk
 * (version 1) keeps its base: the committed chunk, or none.  A later one
 * builds on bytes that only the private chunk's replicas hold, as they
 * acknowledged them (dirty[]): its new chunk is cloned from those.  If
 * they committed the failed PUT after all (its reply was lost), they
 * hold its version instead and refuse the clone as stale; the next try
 * clones that version (the same bytes, and the PUT writes its own again).
 */
static void rebase(struct gfs_file *f, struct stream *s, enum gfs_err why)
{
	const struct chunk *d = dirty_at(f, s->index);

	if (s->version > 1 && d) {
		s->base = *d;
		s->lost_version = s->version;
		s->clone_length = d->length;
		s->cloned = d->length > 0;
		s->version = 1;
		gfs_info("chunk %llu of %s starts again from the %llu bytes "
			 "its replicas acknowledged",
			 (unsigned long long)s->index, f->path,
			 (unsigned long long)d->length);
	} else if (why == GFS_ESTALE && s->lost_version) {
		s->base.version = s->lost_version;
		s->lost_version = 0;
	}
	drop_avoided(f, &s->base);
}

/* Whether another server may do what this one failed to: not when the
 * source failed, nor when the request itself was wrong. */
static bool worth_placing_again(const struct gfs_file *f, enum gfs_err err)
{
	return !f->src_failed && err != GFS_EINVAL && err != GFS_ETOOBIG &&
	       err != GFS_ERANGE;
}

/*
 * The PUT of s failed at its head with err and is closed (a failure
 * further down the pipeline only shortens the replica list of a reply).
 * Place s again, away from that server, and send every byte of it once
 * more from the window or the source, up to MAX_PLACEMENTS times.  A
 * refused token is renewed first and the PUT sent to the same place once.
 * On success the PUT is open, its body complete when sized.
 */
static enum gfs_err place_again(struct gfs_file *f, struct stream *s,
				enum gfs_err err, bool sized)
{
	bool renewed = false;

	while (err && worth_placing_again(f, err) &&
	       s->placements < MAX_PLACEMENTS) {
		if (err == GFS_ETOKEN && !renewed) {
			/* expired by the servers' clock (ours differs):
			 * renew once and send it to the same place */
			renewed = true;
			s->target.renew_ms = s->base.renew_ms = 0;
			err = try_put(f, s, sized);
			continue;
		}
		s->placements++;
		gfs_info("placing %llu bytes of chunk %llu of %s again, away "
			 "from %s",
			 (unsigned long long)(s->next - s->start),
			 (unsigned long long)s->index, f->path,
			 s->target.replicas[0]);
		avoid(f, s->target.replicas[0]);
		rebase(f, s, err);
		err = allocate(f, s->index, s->cloned ? &s->base : NULL,
			       &s->target);
		if (err)
			break;
		s->target.length = s->target.disk_length = s->clone_length;
		err = try_put(f, s, sized);
	}
	return err;
}

/* Open the PUT of s with all its bytes, placing it again if need be. */
static enum gfs_err open_put(struct gfs_file *f, struct stream *s, bool sized)
{
	return place_again(f, s, try_put(f, s, sized), sized);
}

/* Forget s: its PUT is cut and its bytes go. */
static void stream_clear(struct gfs_file *f, struct stream *s)
{
	put_abort(f, &s->put);
	gfs_window_clear(f->c->sh->window, &s->win);
	memset(s, 0, sizeof(*s));
}

/* Collect the reply of s, placing it again while its head fails, and
 * record its chunk as dirty.  Its bytes are no longer kept. */
static enum gfs_err finish_stream(struct gfs_file *f, struct stream *s)
{
	struct chunk ch;
	enum gfs_err err;

	if (!s->active)
		return GFS_OK;
	while ((err = collect(f, s, &ch))) {
		err = place_again(f, s, err, true);
		if (err)
			break;
		put_end(&s->put);
	}
	if (!err)
		map_set(&f->dirty, s->index, &ch);
	stream_clear(f, s);
	return err;
}

/* End the body of f->cur, which becomes f->prev: its reply is collected
 * later, while the next PUT streams.  Bytes still held back go out first
 * as one sized PUT. */
static enum gfs_err end_stream(struct gfs_file *f)
{
	enum gfs_err err = finish_stream(f, &f->prev), err2 = GFS_OK;
	struct stream *s = &f->cur;

	if (!s->active)
		return err;
	if (!s->put.n)
		err2 = open_put(f, s, true);
	if (err2) {
		stream_clear(f, s);
		return err2;
	}
	put_end(&s->put);
	f->prev = *s;
	memset(s, 0, sizeof(*s));
	return err;
}

/* Wait for every stream of the file. */
static enum gfs_err drain(struct gfs_file *f)
{
	enum gfs_err err = end_stream(f), err2;

	err2 = finish_stream(f, &f->prev);
	return err ? err : err2;
}

/* The window of f->cur cannot grow (the client's budget is spent):
 * collect f->prev, whose bytes then go; when it has none, end f->cur
 * where it is and go on in a new PUT, so that its reply frees its bytes
 * (the price: a PUT, and its fsync, per window instead of per chunk). */
static enum gfs_err make_room(struct gfs_file *f)
{
	uint64_t index = f->cur.index, off = f->cur.next;
	enum gfs_err err;

	if (f->prev.active)
		return finish_stream(f, &f->prev);
	err = drain(f);
	return err ? err : plan_stream(f, index, off);
}

/* Send n bytes at buf, the last n of s: held back while s is small,
 * else into its PUT, opened first when need be. */
static enum gfs_err send(struct gfs_file *f, struct stream *s, const char *buf,
			 size_t n)
{
	enum gfs_err err;

	if (!s->put.n && s->next - s->start <= SMALL_WRITE)
		return GFS_OK;
	if (!s->put.n)
		return open_put(f, s, false);
	err = put_push(&s->put, buf, n);
	if (!err) {
		s->sent = s->next;
		return GFS_OK;
	}
	return place_again(f, s, close_failed(f, s, err), false);
}

/* Collect f->prev if its reply is in, so that its bytes go early. */
static enum gfs_err reap_prev(struct gfs_file *f)
{
	if (!f->prev.active || !f->prev.win.n || !put_poll(&f->prev.put))
		return GFS_OK;
	return finish_stream(f, &f->prev);
}

/* Keep buf[0..len) for a resend (copied into the window, unless the
 * source can be read again) and send it. */
static enum gfs_err feed(struct gfs_file *f, const char *buf, size_t len)
{
	enum gfs_err err = GFS_OK;

	while (len && !err) {
		struct stream *s = &f->cur;
		size_t n = f->src_fd >= 0 ? len
					  : gfs_window_append(f->c->sh->window,
							      &s->win, buf,
							      len);

		if (!n) {
			err = make_room(f);
			continue;
		}
		s->next += n;
		err = send(f, s, buf, n);
		buf += n;
		len -= n;
	}
	return err ? err : reap_prev(f);
}

/* Write buf into chunk index at chunk offset off (within one chunk). */
static enum gfs_err write_piece(struct gfs_file *f, uint64_t index,
				uint64_t off, const char *buf, size_t len)
{
	enum gfs_err err;

	if (f->cur.active && f->cur.index == index && f->cur.next == off)
		return feed(f, buf, len);
	err = end_stream(f);
	if (!err && f->prev.active && f->prev.index == index)
		err = finish_stream(f, &f->prev); /* versions in order */
	if (!err)
		err = plan_stream(f, index, off);
	if (!err)
		err = feed(f, buf, len);
	return err;
}

enum gfs_err gfs_file_pwrite(struct gfs_file *f, const void *buf, size_t len,
			     uint64_t off)
{
	const char *p = buf;
	enum gfs_err err = GFS_OK;

	if (!(f->flags & GFS_O_WRITE))
		return GFS_EINVAL;
	if (off + len < off || off + len > max_size(f))
		return GFS_ETOOBIG;
	pthread_mutex_lock(&f->lock);
	if (f->werr) {
		err = f->werr;
		goto out_unlock;
	}
	while (len) {
		uint64_t index = off / f->chunk_size;
		uint64_t coff = off % f->chunk_size;
		size_t n = (size_t)GFS_MIN((uint64_t)len, f->chunk_size - coff);

		err = write_piece(f, index, coff, p, n);
		if (err) {
			f->werr = err;
			break;
		}
		p += n;
		off += n;
		len -= n;
		if (off > f->wsize)
			f->wsize = off;
		f->changed = true;
		f->mtime_ns = 0;
	}
out_unlock:
	pthread_mutex_unlock(&f->lock);
	return err;
}

/* Set the size (grow_only: unless it is larger already). */
static enum gfs_err resize(struct gfs_file *f, uint64_t size, bool grow_only)
{
	enum gfs_err err;
	struct chunk *d;

	if (!(f->flags & GFS_O_WRITE))
		return GFS_EINVAL;
	if (size > max_size(f))
		return GFS_ETOOBIG;
	pthread_mutex_lock(&f->lock);
	if (grow_only && size <= f->wsize) {
		err = GFS_OK;
		goto out_unlock;
	}
	if (size < f->cut)
		f->cut = size;
	err = f->werr ? f->werr : drain(f);
	if (err) {
		f->werr = err;
		goto out_unlock;
	}
	/* private chunks past the end are dropped (GC reclaims them); the
	 * last one is clipped */
	map_cut(&f->dirty, (size + f->chunk_size - 1) / f->chunk_size);
	d = f->dirty.n ? &f->dirty.v[f->dirty.n - 1] : NULL;
	if (d && d->length > size - d->index * f->chunk_size)
		d->length = size - d->index * f->chunk_size;
	f->wsize = size;
	f->changed = true;
out_unlock:
	pthread_mutex_unlock(&f->lock);
	return err;
}

enum gfs_err gfs_file_truncate(struct gfs_file *f, uint64_t size)
{
	return resize(f, size, false);
}

enum gfs_err gfs_file_extend(struct gfs_file *f, uint64_t size, bool grow)
{
	if (!grow)
		return size > max_size(f) ? GFS_ETOOBIG : GFS_OK;
	return resize(f, size, true);
}

/* The commit body: the new size and every private chunk. */
static json_t *commit_body(struct gfs_file *f)
{
	json_t *chunks = json_array();
	size_t i;

	for (i = 0; i < f->dirty.n; i++) {
		const struct chunk *d = &f->dirty.v[i];

		json_array_append_new(
			chunks,
			json_pack("{s:I, s:o, s:I, s:I, s:o}", "index",
				  (json_int_t)d->index, "handle",
				  gfs_json_handle_new(d->handle), "version",
				  (json_int_t)d->version, "length",
				  (json_int_t)d->length, "replicas",
				  url_array(d)));
	}
	return with_ino(f, json_pack("{s:I, s:o, s:I}", "size",
				     (json_int_t)f->wsize, "chunks", chunks,
				     "mtime_ns",
				     (json_int_t)(f->mtime_ns ? f->mtime_ns
							      : gfs_now_ns())));
}

/* Forget uncommitted writes (after a failure). */
static void drop_pending(struct gfs_file *f)
{
	/* cut, not ended: the replicas must not take a short body */
	stream_clear(f, &f->cur);
	stream_clear(f, &f->prev);
	map_clear(&f->dirty);
	f->wsize = f->size;
	f->cut = UINT64_MAX;
	f->changed = false;
	f->werr = GFS_OK;
}

/*
 * Shrunk, then grown again: would the commit of the new size keep old
 * bytes under it?  So when a committed chunk holds data past f->cut, below
 * the new size, and no private chunk replaces it; the master must then
 * cut the file at f->cut first (one commit takes one size).  Not so for
 * an O_TRUNC and a rewrite (cp over a file): every chunk is replaced.
 * O(committed chunks past the cut).
 */
static bool old_bytes_under(struct gfs_file *f)
{
	size_t i;

	if (f->cut >= f->size || f->wsize <= f->cut)
		return false;
	for (i = map_pos(&f->chunks, f->cut / f->chunk_size);
	     i < f->chunks.n; i++) {
		const struct chunk *c = &f->chunks.v[i];
		uint64_t start = c->index * f->chunk_size;

		if (start >= f->wsize)
			break;
		if (start + c->length > f->cut && !dirty_at(f, c->index))
			return true;
	}
	return false;
}

/* POST body as the file's commit and take the master's new entry. */
static enum gfs_err commit(struct gfs_file *f, json_t *body)
{
	char *route = gfs_client_route("files", f->path, "/commit");
	json_t *j = NULL;
	enum gfs_err err = gfs_client_call(f->c, "POST", route, body, &j);

	free(route);
	json_decref(body);
	if (!err)
		err = load_entry(f, j);
	if (j)
		json_decref(j);
	return err;
}

/*
 * The first sync of an unborn file: one call creates it with what was
 * written (POST /files/PATH/commit with "create"), *done when that
 * committed.  A master that predates it (404), or a name another client
 * took meanwhile (409, unless the open was exclusive: then GFS_EEXIST),
 * leaves the file to materialize() and the caller's plain commit.  Lock
 * held.
 */
static enum gfs_err create_commit(struct gfs_file *f, bool *done)
{
	char *route = gfs_client_route("files", f->path, "/commit");
	json_t *body = commit_body(f), *j = NULL;
	enum gfs_err err;

	json_object_set_new(body, "create",
			    json_pack("{s:i, s:I, s:I}", "mode", (int)f->mode,
				      "uid", (json_int_t)f->entry.uid, "gid",
				      (json_int_t)f->entry.gid));
	err = gfs_client_call(f->c, "POST", route, body, &j);
	free(route);
	json_decref(body);
	if (!err && !json_object_get(j, "chunks"))
		err = GFS_ENOENT; /* not a commit's entry: an old master */
	if (!err) {
		f->unborn = false;
		*done = true;
		err = load_entry(f, j);
	} else if (err == GFS_ENOENT ||
		   (err == GFS_EEXIST && !(f->flags & GFS_O_EXCL))) {
		err = materialize(f);
	}
	if (j)
		json_decref(j);
	return err;
}

enum gfs_err gfs_file_sync(struct gfs_file *f)
{
	enum gfs_err err;

	bool done = false;

	pthread_mutex_lock(&f->lock);
	err = f->werr ? f->werr : drain(f);
	if (err || !f->changed || f->unlinked)
		goto out; /* a removed file is never committed (resurrected) */
	if (f->unborn)
		err = create_commit(f, &done);
	if (!err && !done && old_bytes_under(f))
		err = commit(f, with_ino(f, json_pack(
					"{s:I, s:[], s:I}", "size",
					(json_int_t)f->cut, "chunks",
					"mtime_ns", (json_int_t)gfs_now_ns())));
	if (!err && !done)
		err = commit(f, commit_body(f));
	if (!err) {
		map_clear(&f->dirty);
		f->wsize = f->size;
		f->cut = UINT64_MAX;
		f->changed = false;
		f->mtime_ns = 0;
		json_array_clear(f->avoid);
	}
out:
	if (err)
		drop_pending(f);
	pthread_mutex_unlock(&f->lock);
	return err;
}

/* ---- reading ---------------------------------------------------------- */

/* Snapshot of the chunk that serves index, or handle 0 for a hole.  A
 * private chunk being streamed is finished first so that it is readable. */
static enum gfs_err read_ref(struct gfs_file *f, uint64_t index, bool renew,
			     struct read_ref *ref)
{
	const struct chunk *ch;
	enum gfs_err err = GFS_OK;

	memset(ref, 0, sizeof(*ref));
	if ((f->cur.active && f->cur.index == index) ||
	    (f->prev.active && f->prev.index == index)) {
		err = drain(f);
		if (err) {
			f->werr = err;
			return err;
		}
	}
	ch = dirty_at(f, index);
	if (ch) {
		ref->length = ch->length;
	} else {
		ch = committed(f, index);
		if (!ch)
			return GFS_OK;
		ref->length = committed_length(f, ch);
	}
	/* renewed in place: ch stays valid.  A renewal that fails when not
	 * forced leaves a token that serves half its life yet. */
	if (renew || token_due(ch))
		err = renew_tokens(f, &ch->handle, 1);
	if (err && renew)
		return err;
	ref->handle = ch->handle;
	ref->version = ch->version;
	ref->nreplicas = ch->nreplicas;
	memcpy(ref->replicas, ch->replicas, sizeof(ref->replicas));
	memcpy(ref->token, ch->token, sizeof(ref->token));
	return GFS_OK;
}

/* A handle for one read from the pool, waiting no longer than a call. */
static enum gfs_err borrow(struct gfs_file *f, struct gfs_http **h)
{
	enum gfs_err err = gfs_http_pool_get(f->c->sh->pool,
					     f->c->sh->timeout_ms, h);

	if (err)
		gfs_client_set_error(err, "no free connection for a read");
	return err;
}

/* GET [off, off+len) of the chunk from one replica into buf, on h. */
static enum gfs_err read_replica(struct gfs_http *h, const char *replica,
				 const struct read_ref *ref, uint64_t off,
				 size_t len, char *buf)
{
	struct gfs_http_reply r;
	char hex[17], *url, th[GFS_TOKEN_MAX + 32];
	const char *hdrs[2] = { NULL, NULL };
	enum gfs_err err;
	size_t got = 0;

	gfs_handle_fmt(ref->handle, hex);
	url = gfs_xasprintf("%s%s/chunks/%s?version=%llu", replica, GFS_API,
			    hex, (unsigned long long)ref->version);
	hdrs[0] = token_header(GFS_HDR_TOKEN, ref->token, th, sizeof(th));
	err = gfs_http_get_range(h, url, hdrs, off, len, buf, &got,
				 READ_TIMEOUT_MS, &r);
	if (!err && got != len)
		err = GFS_EIO; /* a replica shorter than the chunk's length */
	if (err)
		gfs_info("read of chunk %s from %s failed: %s", hex, replica,
			 r.message ? r.message : gfs_err_str(err));
	if (err == GFS_ENOENT || err == GFS_ESTALE)
		err = GFS_EIO; /* the replica lost or replaced it: a failed
				* replica, not a missing file */
	gfs_http_reply_clear(&r);
	free(url);
	return err;
}

/* GFS_EIO, with a message naming it, for a chunk with no replica. */
static enum gfs_err no_replica(const struct read_ref *ref, uint64_t index)
{
	char hex[17], msg[96];

	gfs_handle_fmt(ref->handle, hex);
	snprintf(msg, sizeof(msg), "chunk %s (index %llu) has no live replica",
		 hex, (unsigned long long)index);
	gfs_client_set_error(GFS_EIO, msg);
	return GFS_EIO;
}

/* Fill buf[0..len) from chunk offset off: data, then zeros past length. */
static enum gfs_err read_chunk(struct gfs_file *f, const struct read_ref *ref,
			       uint64_t index, uint64_t off, size_t len,
			       char *buf)
{
	size_t data = off < ref->length
			      ? (size_t)GFS_MIN((uint64_t)len, ref->length - off)
			      : 0;
	enum gfs_err err = GFS_EIO;
	struct gfs_http *h;
	unsigned i;

	memset(buf + data, 0, len - data);
	if (!data)
		return GFS_OK;
	if (!ref->nreplicas)
		return no_replica(ref, index);
	if (borrow(f, &h))
		return GFS_ETIMEDOUT;
	for (i = 0; i < ref->nreplicas; i++) {
		const char *rep = ref->replicas[(index + i) % ref->nreplicas];

		err = read_replica(h, rep, ref, off, data, buf);
		if (!err || err == GFS_ETOKEN)
			break; /* (every replica would refuse the token) */
	}
	gfs_http_pool_put(f->c->sh->pool, h);
	return err;
}

enum gfs_err gfs_file_pread(struct gfs_file *f, void *buf, size_t len,
			    uint64_t off, size_t *got)
{
	char *p = buf;
	enum gfs_err err = GFS_OK;
	uint64_t size;

	*got = 0;
	pthread_mutex_lock(&f->lock);
	size = f->wsize;
	pthread_mutex_unlock(&f->lock);
	if (off >= size)
		return GFS_OK;
	len = (size_t)GFS_MIN((uint64_t)len, size - off);
	while (len) {
		uint64_t index = off / f->chunk_size, coff = off % f->chunk_size;
		size_t n = (size_t)GFS_MIN((uint64_t)len, f->chunk_size - coff);
		struct read_ref ref;
		int attempt;
		bool stale;

		/* again once: with the map read anew when replicas failed,
		 * with a fresh token when it was refused */
		for (attempt = 0; attempt < 2; attempt++) {
			stale = attempt && err == GFS_ETOKEN;
			pthread_mutex_lock(&f->lock);
			err = attempt && !stale ? fetch_entry(f) : GFS_OK;
			if (!err)
				err = read_ref(f, index, stale, &ref);
			pthread_mutex_unlock(&f->lock);
			if (!err)
				err = read_chunk(f, &ref, index, coff, n, p);
			if (err != GFS_EIO && err != GFS_ETOKEN)
				break;
		}
		if (err)
			return err;
		p += n;
		off += n;
		len -= n;
		*got += n;
	}
	return GFS_OK;
}

/* Whether chunk index has data in chunk bytes [from, to) and nowhere to
 * read it from.  Lock held. */
static bool unreadable(struct gfs_file *f, uint64_t index, uint64_t from,
		       struct read_ref *ref)
{
	const struct chunk *ch = dirty_at(f, index);

	if (!ch)
		ch = committed(f, index);
	if (!ch || ch->length <= from || ch->nreplicas)
		return false;
	ref->handle = ch->handle;
	return true;
}

enum gfs_err gfs_file_readable(struct gfs_file *f, uint64_t off,
			       uint64_t len)
{
	enum gfs_err err = GFS_OK;
	struct read_ref ref = { 0 };
	uint64_t end, i;

	pthread_mutex_lock(&f->lock);
	end = GFS_MIN(f->wsize, off + GFS_MIN(len, UINT64_MAX - off));
	for (i = off / f->chunk_size; off < end && !err &&
	     i * f->chunk_size < end; i++) {
		uint64_t from = i * f->chunk_size < off
					? off - i * f->chunk_size : 0;

		if (unreadable(f, i, from, &ref))
			err = no_replica(&ref, i);
	}
	pthread_mutex_unlock(&f->lock);
	return err;
}

enum gfs_err gfs_file_refresh(struct gfs_file *f)
{
	enum gfs_err err;

	pthread_mutex_lock(&f->lock);
	err = fetch_entry(f);
	if (!err && !f->changed)
		f->wsize = f->size;
	pthread_mutex_unlock(&f->lock);
	return err;
}

void gfs_file_abort(struct gfs_file *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	drop_pending(f);
	pthread_mutex_unlock(&f->lock);
	pthread_mutex_destroy(&f->lock);
	json_decref(f->avoid);
	map_clear(&f->chunks);
	free(f->path);
	free(f);
}

enum gfs_err gfs_file_close(struct gfs_file *f)
{
	enum gfs_err err = GFS_OK;

	if (!f)
		return GFS_OK;
	if (f->flags & GFS_O_WRITE)
		err = gfs_file_sync(f);
	gfs_file_abort(f);
	return err;
}

/* ---- whole files -------------------------------------------------------- */

#define COPY_BUF (4u << 20)

/* A regular file being uploaded from its current offset on can be read
 * again: f keeps none of the bytes it sends (no window, no copy). */
static void use_source(struct gfs_file *f, int fd)
{
	off_t pos = lseek(fd, 0, SEEK_CUR);
	struct stat st;

	if (pos >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode)) {
		f->src_fd = fd;
		f->src_base = (uint64_t)pos;
	}
}

enum gfs_err gfs_client_upload_fd(struct gfs_client *c, int fd,
				  const char *path, uint32_t mode,
				  struct gfs_progress *p)
{
	struct gfs_file *f;
	enum gfs_err err;
	uint64_t off = 0;
	char *buf;

	err = gfs_file_open(c, path, GFS_O_WRITE | GFS_O_CREAT | GFS_O_TRUNC |
				    GFS_O_HIDDEN, mode, &f);
	if (err)
		return err;
	use_source(f, fd);
	buf = gfs_xmalloc(COPY_BUF);
	for (;;) {
		ssize_t n = read(fd, buf, COPY_BUF);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = GFS_EIO;
			gfs_client_set_error(err, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		err = gfs_file_pwrite(f, buf, (size_t)n, off);
		if (err)
			break;
		off += (uint64_t)n;
		if (p)
			atomic_fetch_add_explicit(&p->done, (uint64_t)n,
						  memory_order_relaxed);
	}
	free(buf);
	if (err) {
		gfs_file_abort(f);
		return err;
	}
	return gfs_file_close(f);
}

/* Where a download goes: fd, written in order, or at positions when the
 * file's byte 0 is at offset base (>= 0). */
struct out {
	int fd;
	int64_t base;
	struct gfs_progress *p;  /* bytes written are added here, or NULL */
};

static int out_write(const struct out *o, const void *buf, size_t len,
		     uint64_t off)
{
	int rc = o->base < 0 ? gfs_write_all(o->fd, buf, len)
			     : gfs_pwrite_all(o->fd, buf, len,
					      (off_t)(o->base + (int64_t)off));

	if (!rc && o->p)
		atomic_fetch_add_explicit(&o->p->done, len,
					  memory_order_relaxed);
	return rc;
}

/* A streamed chunk going out: where it stands. */
struct fd_sink {
	const struct out *o;
	uint64_t at;       /* file offset of the chunk's byte 0 */
	uint64_t got;      /* bytes of the chunk written so far */
	uint64_t want;     /* bytes of the chunk to write */
	int error;         /* errno of a failed write, or 0 */
};

static bool to_fd(void *cls, const char *buf, size_t len)
{
	struct fd_sink *k = cls;

	if (len > k->want - k->got) {
		k->error = EPROTO; /* more than asked for */
		return false;
	}
	if (out_write(k->o, buf, len, k->at + k->got) < 0) {
		k->error = errno;
		return false;
	}
	k->got += len;
	return true;
}

/* Write n zero bytes at file offset off. */
static int write_zeros(const struct out *o, uint64_t off, uint64_t n)
{
	static const char zeros[65536];

	while (n) {
		size_t k = (size_t)GFS_MIN(n, (uint64_t)sizeof(zeros));

		if (out_write(o, zeros, k, off) < 0)
			return -1;
		n -= k;
		off += k;
	}
	return 0;
}

/*
 * Stream bytes [*got, want) of chunk index out, one GET for the rest of
 * it (the chunkserver reads ahead and verifies as it sends), going on with
 * the next replica from the byte reached when one fails mid-way.  *got
 * says how far it came.
 */
static enum gfs_err stream_chunk(struct gfs_file *f, const struct read_ref *ref,
				 uint64_t index, uint64_t want,
				 const struct out *o, uint64_t *got)
{
	struct fd_sink k = { o, index * f->chunk_size, *got, want, 0 };
	enum gfs_err err = GFS_EIO;
	struct gfs_http *h;
	unsigned i;

	if (!ref->nreplicas && k.got < want)
		return no_replica(ref, index);
	if (borrow(f, &h))
		return GFS_ETIMEDOUT;
	for (i = 0; i < ref->nreplicas && k.got < want && !k.error &&
		    err != GFS_ETOKEN; i++) {
		const char *rep = ref->replicas[(index + i) % ref->nreplicas];
		struct gfs_http_reply r;
		char hex[17], range[80], *url, th[GFS_TOKEN_MAX + 32];
		const char *hdrs[3] = { range, NULL, NULL };

		hdrs[1] = token_header(GFS_HDR_TOKEN, ref->token, th,
				       sizeof(th));
		gfs_handle_fmt(ref->handle, hex);
		url = gfs_xasprintf("%s%s/chunks/%s?version=%llu", rep,
				    GFS_API, hex,
				    (unsigned long long)ref->version);
		snprintf(range, sizeof(range), "Range: bytes=%llu-%llu",
			 (unsigned long long)k.got,
			 (unsigned long long)(want - 1));
		err = gfs_http_get_stream(h, url, hdrs, STALL_MS, to_fd, &k,
					  &r);
		if (!err && k.got < want)
			err = GFS_EIO;
		if (err)
			gfs_info("read of chunk %s from %s stopped at %llu: %s",
				 hex, rep, (unsigned long long)k.got,
				 r.message ? r.message : gfs_err_str(err));
		gfs_http_reply_clear(&r);
		free(url);
	}
	gfs_http_pool_put(f->c->sh->pool, h);
	*got = k.got;
	if (k.error) {
		gfs_client_set_error(GFS_EIO, strerror(k.error));
		return GFS_EIO;
	}
	return k.got == want ? GFS_OK : err;
}

/* Chunk index of f out: its data, then zeros up to the chunk's end in the
 * file.  When every replica fails, the chunk map is read again once
 * (replicas move when servers die; tokens expire) and the copy goes on
 * where it stopped, provided the chunk is still the same one. */
static enum gfs_err download_chunk(struct gfs_file *f, uint64_t index,
				   const struct out *o)
{
	uint64_t span = visible(f, index), data = 0, got = 0;
	struct read_ref ref, again;
	enum gfs_err err;

	pthread_mutex_lock(&f->lock);
	err = read_ref(f, index, false, &ref);
	pthread_mutex_unlock(&f->lock);
	if (!err && ref.handle) {
		data = GFS_MIN(ref.length, span);
		err = stream_chunk(f, &ref, index, data, o, &got);
	}
	if ((err == GFS_EIO || err == GFS_ETOKEN) && got < data) {
		pthread_mutex_lock(&f->lock);
		err = fetch_entry(f);
		if (!err)
			err = read_ref(f, index, false, &again);
		pthread_mutex_unlock(&f->lock);
		if (!err && (again.handle != ref.handle ||
			     again.version != ref.version))
			err = GFS_EIO; /* the file changed under the copy */
		if (!err)
			err = stream_chunk(f, &again, index, data, o, &got);
	}
	if (!err && write_zeros(o, index * f->chunk_size + data,
				span - data) < 0) {
		gfs_client_set_error(GFS_EIO, strerror(errno));
		err = GFS_EIO;
	}
	return err;
}

/* Chunks fetched at once when the output can be written at positions: on
 * a shared disk, two streams keep it busier than one. */
#define DOWNLOAD_STREAMS 2

/* A download shared by its worker threads. */
struct download {
	struct gfs_file *f;
	struct out o;
	uint64_t nchunks;
	pthread_mutex_t lock;   /* protects the three below */
	uint64_t next;          /* next chunk to take */
	enum gfs_err err;       /* the first failure */
	char msg[512];          /* its message */
};

static void *download_worker(void *arg)
{
	struct download *d = arg;

	for (;;) {
		enum gfs_err err;
		uint64_t i;

		pthread_mutex_lock(&d->lock);
		i = d->err ? d->nchunks : d->next++;
		pthread_mutex_unlock(&d->lock);
		if (i >= d->nchunks)
			break;
		err = download_chunk(d->f, i, &d->o);
		if (!err)
			continue;
		pthread_mutex_lock(&d->lock);
		if (!d->err) {
			d->err = err;
			snprintf(d->msg, sizeof(d->msg), "%s",
				 gfs_client_last_error());
		}
		pthread_mutex_unlock(&d->lock);
	}
	return NULL;
}

enum gfs_err gfs_client_download_fd(struct gfs_client *c, const char *path,
				    int fd, struct gfs_progress *p)
{
	struct download d = { .o = { fd, -1, p } };
	pthread_t t[DOWNLOAD_STREAMS - 1];
	unsigned nt = 0, i;
	off_t pos = lseek(fd, 0, SEEK_CUR);
	uint64_t size;
	enum gfs_err err;

	err = gfs_file_open(c, path, 0, 0, &d.f);
	if (err)
		return err;
	size = gfs_file_size(d.f);
	if (p)
		atomic_store(&p->total, size);
	d.nchunks = (size + d.f->chunk_size - 1) / d.f->chunk_size;
	pthread_mutex_init(&d.lock, NULL);
	if (pos >= 0 && d.nchunks > 1) {
		d.o.base = pos; /* positional: chunks may land in any order */
		for (; nt < DOWNLOAD_STREAMS - 1; nt++)
			if (pthread_create(&t[nt], NULL, download_worker, &d))
				break;
	}
	download_worker(&d); /* this thread is one of the streams */
	for (i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	if (d.err)
		gfs_client_set_error(d.err, d.msg);
	else if (d.o.base >= 0 && lseek(fd, pos + (off_t)size, SEEK_SET) < 0)
		d.err = GFS_EIO;
	pthread_mutex_destroy(&d.lock);
	gfs_file_abort(d.f);
	return d.err;
}

/*
 * constants.h - every number the programs agree on, in one place.
 *
 * Ports, sizes and timings shared by the master, the chunkservers and the
 * clients (the seed's constants.py).  A value that only one program uses
 * lives with that program; a value two programs must agree on lives here.
 */
#ifndef GFS_CONSTANTS_H
#define GFS_CONSTANTS_H

#define GFS_VERSION "0.1.0"

/* Default ports: primary master, backup master, chunkservers 7080-7083. */
#define GFS_MASTER_PORT 7070
#define GFS_BACKUP_PORT 7071
#define GFS_CHUNKSERVER_PORT 7080
#define GFS_DEFAULT_HOST "127.0.0.1"

/* Every route lives under this prefix. */
#define GFS_API "/api/v1"

/* Chunks are split into checksum blocks of this size (CRC32C each). */
#define GFS_BLOCK_SIZE (64u * 1024u)
#define GFS_DEFAULT_CHUNK_SIZE (64ull * 1024 * 1024)
/* Largest chunk size a master accepts (keeps a chunk's checksum table small). */
#define GFS_MAX_CHUNK_SIZE (1024ull * 1024 * 1024)
#define GFS_DEFAULT_REPLICAS 3
/* Chunk indices are 32-bit (index < this), so a file is at most this many
 * chunks: 4 PiB with 1 MiB chunks, 256 PiB with the default 64 MiB.
 * Clients refuse a larger size or write with EFBIG. */
#define GFS_MAX_FILE_CHUNKS 0xffffffffull

/* Namespace limits (DESIGN 4). */
#define GFS_NAME_MAX 255
#define GFS_PATH_MAX 4096

/* A chunk handle is 64 bits, printed as exactly this many hex digits. */
#define GFS_HANDLE_HEX 16

/* Leases (DESIGN 4). */
#define GFS_LEASE_TTL_S 60
#define GFS_LEASE_TTL_MAX_S 86400

/* Liveness: chunkservers heartbeat this often; the master marks a server
 * dead after this long without one (the seed checks every 6 s). */
#define GFS_HEARTBEAT_MS 2000
#define GFS_DEAD_AFTER_MS 6000
/* The backup promotes itself after the primary is silent this long. */
#define GFS_FAILOVER_MS 10000
/* A time one master measured, counted on by another (an etcd lease, a
 * follower's failover window): clock rates may differ by 1 %, and a reply
 * may leave up to 100 ms after the check that allowed it. */
#define GFS_DRIFT_PERMILLE 10
#define GFS_ACK_MARGIN_MS 100

/* Caps on anything read from the network (413 beyond them). */
#define GFS_JSON_MAX (8u * 1024 * 1024)

/* HTTP headers of the protocol. */
#define GFS_HDR_CLIENT "X-GFS-Client"
#define GFS_HDR_EPOCH "X-GFS-Epoch"
#define GFS_HDR_PRIMARY "X-GFS-Primary"
#define GFS_HDR_FORWARD "X-GFS-Forward"
#define GFS_HDR_REQUEST "X-GFS-Request" /* id of a mutation, for retries */
#define GFS_REQUEST_ID_HEX 32 /* its length: 128 bits in lowercase hex */
#define GFS_HDR_BACKUP "X-GFS-Backup"
#define GFS_HDR_STAMP "X-GFS-Stamp" /* an /oplog reply: leader's id-clock */
#define GFS_HDR_ECHO "X-GFS-Echo"   /* a poll: the last stamp, its window */
#define GFS_HDR_READ_MS "X-GFS-Read-Ms" /* an /oplog reply: read window */
#define GFS_HDR_TOKEN "X-GFS-Token"             /* chunk access token */
#define GFS_HDR_CLONE_TOKEN "X-GFS-Clone-Token" /* ... of a clone's source */

#endif

/*
 * reader.h - GET /api/v1/chunks/HANDLE: verified bytes of a chunk.
 *
 * Every 64 KiB block is checked against its CRC32C before any byte of it
 * is sent.  Ranges up to READ_WHOLE_MAX (4 MiB) are read and checked whole
 * before the reply, so a bad block is a clean 503 "corrupt"; longer ones
 * stream in 1 MiB steps and a bad block cuts the connection (the client
 * sees a short body).  Either way the replica is quarantined and reported.
 */
#ifndef GFS_CS_READER_H
#define GFS_CS_READER_H

#include <stdint.h>

#include "httpd.h"

struct gfs_chunkserver;

/* Reply to GET /chunks/HANDLE[?version=V] with Range honoured. */
void gfs_reader_get(struct gfs_req *req, struct gfs_chunkserver *cs,
		    uint64_t handle);
/* Reply to GET /chunks/HANDLE?crcs=1[&version=V] (ext): {"handle",
 * "version", "length", "block_size", "crcs": [u32...]}. */
void gfs_reader_crcs(struct gfs_req *req, struct gfs_chunkserver *cs,
		     uint64_t handle);

#endif

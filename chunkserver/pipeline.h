/*
 * pipeline.h - PUT /api/v1/chunks/HANDLE: write a chunk here while the
 * same bytes stream on to the next replicas named in X-GFS-Forward.
 *
 * The four functions are the route's struct gfs_stream_ops (routes.c).
 * Each body piece is, in the thread that received it: pushed to the next
 * replica (gfs_upload_push, common/http.c), written with pwrite and CRC'd
 * (chunkwrite.c).  No copy is kept, so memory stays flat whatever the
 * size.  The reply comes
 * after this server's bytes are durable and the next replica answered:
 *
 *   {"handle", "version", "length", "replicas": [self, downstream...],
 *    "failed": [{"url", "error"}...]}
 *
 * A downstream failure never fails this server's own write; it lands in
 * "failed" (with the replicas after it, which it could not reach).
 */
#ifndef GFS_CS_PIPELINE_H
#define GFS_CS_PIPELINE_H

#include <stddef.h>

#include "httpd.h"

void gfs_pipeline_begin(struct gfs_req *req);
void gfs_pipeline_data(struct gfs_req *req, const char *buf, size_t len);
void gfs_pipeline_end(struct gfs_req *req);
void gfs_pipeline_done(struct gfs_req *req);

#endif

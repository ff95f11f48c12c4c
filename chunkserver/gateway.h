/*
 * gateway.h - the /content gateway of a chunkserver: whole files in and
 * out of the cluster for plain HTTP clients (curl -L), through the one
 * client library, acting as whoever calls (its key and X-GFS-Client).
 */
#ifndef GFS_CHUNKSERVER_GATEWAY_H
#define GFS_CHUNKSERVER_GATEWAY_H

#include "client.h"
#include "httpd.h"

struct gfs_gateway;

/* A gateway talking to masters (comma-separated URLs), trusting
 * ca_file (NULL: the system's) over HTTPS; NULL on error. */
struct gfs_gateway *gfs_gateway_new(const char *masters, const char *ca_file);
void gfs_gateway_free(struct gfs_gateway *gw);

/* GET /content/PATH: the file's bytes, Range honoured. */
void gfs_gateway_get(struct gfs_req *req, struct gfs_gateway *gw);

/* PUT /content/PATH, streamed: create or replace the file. */
void gfs_gateway_put_begin(struct gfs_req *req, struct gfs_gateway *gw);
void gfs_gateway_put_data(struct gfs_req *req, const char *buf, size_t len);
void gfs_gateway_put_end(struct gfs_req *req);
void gfs_gateway_put_done(struct gfs_req *req);

#endif

/*
 * routes.h - the chunkserver's HTTP API: one route table (routes.c).
 */
#ifndef GFS_CS_ROUTES_H
#define GFS_CS_ROUTES_H

struct gfs_chunkserver;
struct gfs_httpd;

/* Serve the route table on listen ("ADDR:PORT") with cs (borrowed until
 * gfs_httpd_stop() of the result) as the app.  NULL when it cannot
 * listen (logged). */
struct gfs_httpd *gfs_routes_start(struct gfs_chunkserver *cs,
				   const char *listen);

#endif

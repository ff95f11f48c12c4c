/*
 * routes.h - the master's HTTP API: one route table (routes.c).
 */
#ifndef GFS_ROUTES_H
#define GFS_ROUTES_H

#include <stddef.h>

struct gfs_route;

/* The table and its length (borrowed, static). */
const struct gfs_route *gfs_routes_table(size_t *n);

#endif

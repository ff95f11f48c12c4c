/*
 * webui.h - the master's web page: HTML, CSS and JavaScript built into the
 * binary (master/web/), served at / and /ui/.
 */
#ifndef GFS_WEBUI_H
#define GFS_WEBUI_H

struct gfs_req;

/* GET / and GET /ui/NAME: the page and its files, 404 for other names.
 * Never blocks (a route may be GFS_ROUTE_INLINE). */
void gfs_webui_get(struct gfs_req *req);

#endif

/*
 * webui.c - the master's web page, built into the binary.
 *
 * For: serving master/web/ (index.html, gfs.css, gfs.js) as they were at
 * build time: the assembler's .incbin copies each file into .rodata, so
 * the program needs no installed files and the page fetches nothing from
 * anywhere but the masters.  Not for: what the page shows (gfs.js reads
 * /api/v1/status and /api/v1/files like any client).
 *
 * Invariants: each asset is its bytes followed by one NUL (not served);
 * the Makefile rebuilds this object when a file under master/web/
 * changes (.incbin paths are relative to the top of the tree, where make
 * runs).
 */
#include <string.h>

#include "httpd.h"
#include "webui.h"

/* name[] .. name_end[]: the bytes of file. */
#define ASSET(name, file)                                                   \
	__asm__(".pushsection .rodata\n"                                   \
		".balign 16\n" #name ":\n"                                \
		".incbin \"" file "\"\n" #name "_end:\n"                   \
		".byte 0\n.popsection\n");                                \
	extern const char name[], name##_end[]

ASSET(gfs_webui_index, "master/web/index.html");
ASSET(gfs_webui_css, "master/web/gfs.css");
ASSET(gfs_webui_js, "master/web/gfs.js");

/* What is served, by path. */
static const struct asset {
	const char *path;   /* "/" for the page, "/NAME" under /ui */
	const char *type;
	const char *start, *end;
} assets[] = {
	{ "/", "text/html; charset=utf-8", gfs_webui_index,
	  gfs_webui_index_end },
	{ "/gfs.css", "text/css; charset=utf-8", gfs_webui_css,
	  gfs_webui_css_end },
	{ "/gfs.js", "text/javascript; charset=utf-8", gfs_webui_js,
	  gfs_webui_js_end },
};

void gfs_webui_get(struct gfs_req *req)
{
	const char *want = req->path ? req->path : "/";
	size_t i;

	for (i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
		const struct asset *a = &assets[i];

		if (strcmp(a->path, want))
			continue;
		gfs_reply_header(req, "Cache-Control", "no-cache");
		gfs_reply_bytes(req, 200, a->type, (void *)a->start,
				(size_t)(a->end - a->start), false);
		return;
	}
	gfs_reply_error(req, GFS_ENOENT, "no such page: %s", want);
}

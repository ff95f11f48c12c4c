/*
 * lease.c - file leases; see lease.h.
 */
#include <stdlib.h>
#include <string.h>

#include "lease.h"
#include "util.h"

int64_t gfs_lease_now_ms(void)
{
	return gfs_now_ns() / 1000000;
}

struct gfs_lease *gfs_lease_get(struct gfs_node *node, int64_t now_ms)
{
	struct gfs_lease *l = node->lease;

	return l && l->expires_ms > now_ms ? l : NULL;
}

bool gfs_lease_blocks(struct gfs_node *node, const char *client,
		      int64_t now_ms)
{
	struct gfs_lease *l = gfs_lease_get(node, now_ms);

	return l && (!client || strcmp(client, l->holder));
}

void gfs_lease_set(struct gfs_node *node, const char *holder,
		   int64_t expires_ms, uint32_t ttl)
{
	struct gfs_lease *l = node->lease;

	if (!l) {
		l = gfs_xcalloc(1, sizeof(*l));
		node->lease = l;
		gfs_ns_count_lease(node, 1);
	}
	if (!l->holder || strcmp(l->holder, holder)) {
		free(l->holder);
		l->holder = gfs_xstrdup(holder);
	}
	l->expires_ms = expires_ms;
	l->ttl = ttl;
}

void gfs_lease_clear(struct gfs_node *node)
{
	if (!node->lease)
		return;
	gfs_ns_count_lease(node, -1);
	free(node->lease->holder);
	free(node->lease);
	node->lease = NULL;
}

json_t *gfs_lease_json(const struct gfs_lease *l, const char *path)
{
	return json_pack("{s:s, s:s, s:I, s:I}", "path", path, "holder",
			 l->holder, "expires_ms", (json_int_t)l->expires_ms,
			 "ttl", (json_int_t)l->ttl);
}

/*
 * status.c - gfs status: every master with its role, epoch and lag, then
 * the cluster as the primary sees it.
 *
 * For: asking each master for its own /status (the primary through the
 * client library, which finds it; the others one by one, with short
 * deadlines) and printing them.  Not for: deciding who leads: the
 * masters say.
 *
 * The masters shown are those the client was given (--master,
 * GFS_MASTER) and those any status names (its primary, backup, leader,
 * in-sync set, followers), at most MASTERS_MAX.  A master's lag is what
 * the leader reports for it as a follower, else the difference of the
 * op-log sequence numbers.  Then the primary's view of leadership: the
 * leader, the in-sync set and each follower's lag, SILENT for one that
 * stopped asking while writes wait for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "constants.h"
#include "http.h"

#define MASTERS_MAX 16
#define ASK_MS 2000

static void add_url(json_t *urls, json_t *u)
{
	json_t *v;
	size_t i;

	if (!json_is_string(u) || json_array_size(urls) >= MASTERS_MAX)
		return;
	json_array_foreach(urls, i, v)
		if (json_equal(u, v))
			return;
	json_array_append(urls, u);
}

/* The masters st names besides itself. */
static void add_named(json_t *urls, json_t *st)
{
	json_t *v;
	size_t i;

	add_url(urls, json_object_get(st, "url"));
	add_url(urls, json_object_get(st, "primary"));
	add_url(urls, json_object_get(json_object_get(st, "backup"), "url"));
	add_url(urls, json_object_get(json_object_get(st, "leader"), "url"));
	json_array_foreach(json_object_get(st, "isr"), i, v)
		add_url(urls, v);
	json_array_foreach(json_object_get(st, "followers"), i, v)
		add_url(urls, json_object_get(v, "url"));
}

/* GET url/api/v1/status of that master alone: a new reference, or NULL
 * with why ("connection refused", "503 starting up"). */
static json_t *status_of(struct gfs_http *h, const char *url, char *why,
			 size_t len)
{
	struct gfs_http_opts o = { .timeout_ms = ASK_MS,
				   .connect_ms = ASK_MS };
	struct gfs_http_reply r = { 0 };
	char full[600];
	json_t *j = NULL;

	snprintf(full, sizeof(full), "%s%s/status", url, GFS_API);
	if (gfs_http_call(h, "GET", full, &o, &r) == GFS_OK && r.json) {
		j = json_incref(r.json);
	} else if (r.status) {
		snprintf(why, len, "%u %s", r.status,
			 r.message ? r.message : gfs_err_str(r.err));
	} else {
		snprintf(why, len, "%s", r.failure[0] ? r.failure
						      : "no answer");
	}
	gfs_http_reply_clear(&r);
	return j;
}

/* Records url is behind the primary p: what p says of it as a follower,
 * else the difference of the sequence numbers. */
static json_int_t lag_of(json_t *p, json_t *st, const char *url)
{
	json_int_t ps = json_integer_value(json_object_get(p, "seq"));
	json_int_t ss = json_integer_value(json_object_get(st, "seq"));
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(p, "followers"), i, f) {
		const char *u = json_string_value(json_object_get(f, "url"));

		if (u && !strcmp(u, url) && json_object_get(f, "lag"))
			return json_integer_value(json_object_get(f, "lag"));
	}
	return ps > ss ? ps - ss : 0;
}

/* One row per master: {url, role, epoch, seq, lag} or {url, error};
 * *leader: the status of the master that says it is the primary (new
 * reference; p's own when it is, NULL when none answered so). */
static json_t *masters_json(struct gfs_client *c, json_t *p, json_t **leader)
{
	const char *const *given;
	size_t n = gfs_client_masters(c, &given), i;
	struct gfs_http *h = gfs_http_new();
	json_t *urls = json_array(), *rows = json_array(), *u;

	add_named(urls, p);
	for (i = 0; i < n; i++) {
		u = json_string(given[i]);
		add_url(urls, u);
		json_decref(u);
	}
	json_array_foreach(urls, i, u) {
		const char *url = json_string_value(u);
		bool self = json_equal(u, json_object_get(p, "url"));
		char why[128] = "";
		json_t *st = self ? json_incref(p)
				  : status_of(h, url, why, sizeof(why));

		if (!st) {
			json_array_append_new(rows, json_pack(
				"{s:s, s:s}", "url", url, "error", why));
			continue;
		}
		add_named(urls, st); /* grows the loop, up to MASTERS_MAX */
		if (!*leader && json_is_string(json_object_get(st, "role")) &&
		    !strcmp(json_string_value(json_object_get(st, "role")),
			    "primary"))
			*leader = json_incref(st);
		json_array_append_new(rows, json_pack(
			"{s:s, s:O?, s:O?, s:O?, s:I}", "url", url, "role",
			json_object_get(st, "role"), "epoch",
			json_object_get(st, "epoch"), "seq",
			json_object_get(st, "seq"), "lag",
			self ? 0 : lag_of(p, st, url)));
		json_decref(st);
	}
	json_decref(urls);
	gfs_http_free(h);
	return rows;
}

static void print_masters(json_t *rows)
{
	json_t *m;
	size_t i;

	printf("masters:\n");
	json_array_foreach(rows, i, m) {
		const char *err = json_string_value(json_object_get(m, "error"));

		if (err) {
			printf("  %-28s unreachable: %s\n",
			       json_string_value(json_object_get(m, "url")), err);
			continue;
		}
		printf("  %-28s %-8s epoch %-4lld seq %-8lld lag %lld\n",
		       json_string_value(json_object_get(m, "url")),
		       json_string_value(json_object_get(m, "role")) ?: "?",
		       json_integer_value(json_object_get(m, "epoch")),
		       json_integer_value(json_object_get(m, "seq")),
		       json_integer_value(json_object_get(m, "lag")));
	}
}

static void print_cluster(json_t *j)
{
	json_t *s;
	size_t i;

	printf("cluster (as %s sees it): %lld files, %lld chunks, "
	       "%lld under-replicated\nchunkservers:\n",
	       json_string_value(json_object_get(j, "url")) ?: "the primary",
	       json_integer_value(json_object_get(j, "files")),
	       json_integer_value(json_object_get(j, "chunks")),
	       json_integer_value(json_object_get(j, "under_replicated")));
	json_array_foreach(json_object_get(j, "chunkservers"), i, s)
		printf("  %-28s %-5s %8lld chunks %10lld MiB used %10lld MiB "
		       "free\n",
		       json_string_value(json_object_get(s, "url")) ?: "?",
		       json_is_true(json_object_get(s, "alive")) ? "alive"
								 : "DEAD",
		       json_integer_value(json_object_get(s, "chunks")),
		       json_integer_value(json_object_get(s, "used_bytes")) >>
			       20,
		       json_integer_value(json_object_get(s, "free_bytes")) >>
			       20);
}

/* The leader, its epoch, the in-sync set, each follower's lag. */
static void print_leadership(json_t *j)
{
	json_t *leader = json_object_get(j, "leader"), *f, *u;
	size_t i;

	printf("leader %s, epoch %lld (%s mode); in-sync set:",
	       json_string_value(json_object_get(leader, "url")) ?: "unknown",
	       json_integer_value(json_object_get(leader, "epoch")),
	       json_string_value(json_object_get(j, "mode")) ?: "?");
	json_array_foreach(json_object_get(j, "isr"), i, u)
		printf(" %s", json_string_value(u) ?: "?");
	printf("\n");
	json_array_foreach(json_object_get(j, "followers"), i, f)
		printf("  follower %-28s %8lld records behind, %s\n",
		       json_string_value(json_object_get(f, "url")) ?: "?",
		       json_integer_value(json_object_get(f, "lag")),
		       json_is_true(json_object_get(f, "silent")) &&
				       json_is_true(json_object_get(f, "member"))
			       ? "SILENT, writes wait for it"
		       : json_is_true(json_object_get(f, "attached"))
			       ? "attached"
		       : json_is_true(json_object_get(f, "member"))
			       ? "member, catching up" : "not in the set");
}

int gfs_cli_status(struct gfs_client *c, bool as_json)
{
	json_t *j = NULL, *rows, *leader = NULL;
	enum gfs_err err;
	char *text;

	err = gfs_client_call(c, "GET", "/status", NULL, &j);
	if (err) {
		if (j)
			json_decref(j);
		return gfs_cli_failed("status", "", err);
	}
	rows = masters_json(c, j, &leader);
	if (as_json) {
		json_object_set_new(j, "masters", rows);
		text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (text)
			puts(text);
		free(text);
	} else {
		print_masters(rows);
		/* the leader knows its followers and their lag */
		print_leadership(leader ? leader : j);
		print_cluster(j);
		json_decref(rows);
	}
	if (leader)
		json_decref(leader);
	json_decref(j);
	return GFS_EXIT_OK;
}

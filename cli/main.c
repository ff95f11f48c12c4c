/*
 * gfs - the command-line client.
 *
 *   gfs [--master URLS] [--client-id ID] [--key-file FILE] COMMAND ARGS
 *
 * Every command is a row of the commands[] table below and one small
 * function calling the client library (common/client.h).  With no command,
 * gfs reads the seed's commands ("upload file_name", "download file_name",
 * "lease file_name", "unlease file_name", and the others) from stdin, one
 * per line, and carries on after a failed one; the exit status is then
 * non-zero if any failed.
 *
 * Errors are one line on stderr ("gfs: download /a: no such file") and an
 * exit status that says what kind of failure it was (cli.h, gfs(1));
 * nothing is left half-written locally (downloads go to a temporary file
 * renamed into place).  upload and download draw a progress bar on
 * stderr when it is a terminal (progress.c), unless --quiet.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "constants.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "options.h"
#include "path.h"
#include "progress.h"
#include "util.h"

struct cli_conf {
	char *master;            /* --master URLS */
	char *client_id;         /* --client-id ID */
	char *key_file;          /* --key-file FILE */
	char *ca_file;           /* --ca-file FILE */
	uint64_t ttl_ms;         /* --ttl for lease */
	bool json;               /* --json output for stat/status/ls */
	bool recursive;          /* --recursive: ls lists by prefix */
	bool quiet;              /* --quiet: no progress bar */
	uint64_t failover_ms;    /* --failover-timeout */
	enum gfs_log_level log_level;
	char *config;            /* --config (read by gfs_opts_parse) */
};

static const struct gfs_opt cli_opts[] = {
	{ "master", GFS_OPT_STR, offsetof(struct cli_conf, master), "URLS",
	  "master URLs, comma-separated (env GFS_MASTER)" },
	{ "client-id", GFS_OPT_STR, offsetof(struct cli_conf, client_id), "ID",
	  "lease holder id (env GFS_CLIENT_ID, default USER@HOSTNAME)" },
	{ "key-file", GFS_OPT_STR, offsetof(struct cli_conf, key_file), "FILE",
	  "the client key to use (env GFS_KEY_FILE)" },
	{ "ca-file", GFS_OPT_STR, offsetof(struct cli_conf, ca_file), "FILE",
	  "PEM certificates to trust over HTTPS (env GFS_CA_FILE)" },
	{ "ttl", GFS_OPT_MS, offsetof(struct cli_conf, ttl_ms), "SECONDS",
	  "lease: time to live (default 60)" },
	{ "json", GFS_OPT_FLAG, offsetof(struct cli_conf, json), NULL,
	  "ls, stat, status: print the master's JSON" },
	{ "recursive", GFS_OPT_FLAG, offsetof(struct cli_conf, recursive),
	  NULL, "ls: every file whose path starts with PREFIX, flat" },
	{ "failover-timeout", GFS_OPT_MS,
	  offsetof(struct cli_conf, failover_ms), "TIME",
	  "keep trying this long while no primary answers (30s)" },
	{ "quiet", GFS_OPT_FLAG, offsetof(struct cli_conf, quiet), NULL,
	  "upload, download: no progress bar on a terminal" },
	{ "log-level", GFS_OPT_LOGLEVEL, offsetof(struct cli_conf, log_level),
	  "LEVEL", "error, warn, info or debug (default warn)" },
	{ "config", GFS_OPT_STR, offsetof(struct cli_conf, config), "FILE",
	  "read options from FILE (name = value lines)" },
};

/* What every command gets. */
struct cli {
	struct gfs_client *client;
	struct cli_conf *conf;
	const struct gfs_client_conf *cc; /* what client was made with */
};

/* One line of the command table.  run returns an exit status. */
struct command {
	const char *name;
	int min_args, max_args;
	int (*run)(struct cli *cli, char **argv, int argc);
	const char *usage;
	const char *help;        /* one line, for --help */
};

static int failed(const char *verb, const char *what, enum gfs_err err)
{
	return gfs_cli_failed(verb, what, err);
}

/* A user's remote name, with a leading '/' added; NULL after an error. */
static char *remote(const char *verb, const char *name)
{
	enum gfs_err err;
	char *path;

	err = gfs_path_from_user(name, &path);
	if (err) {
		fprintf(stderr, "gfs: %s %s: invalid path (%s)\n", verb, name,
			gfs_err_str(err));
		return NULL; /* the caller exits with GFS_EXIT_USAGE */
	}
	return path;
}

static int cmd_upload(struct cli *cli, char **argv, int argc)
{
	const char *local = argv[0];
	char *path = remote("upload", argc > 1 ? argv[1]
					       : gfs_path_basename(local));
	struct gfs_cli_progress bar;
	struct stat st;
	enum gfs_err err;
	int fd, rc = GFS_EXIT_IO;

	if (!path)
		return GFS_EXIT_USAGE;
	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = gfs_cli_failed_local("upload", local, errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "gfs: upload %s: not a regular file\n", local);
		rc = GFS_EXIT_USAGE;
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	gfs_progress_start(&bar, path, (uint64_t)st.st_size, !cli->conf->quiet);
	err = gfs_client_upload_fd(cli->client, fd, path, st.st_mode & 0777,
				   &bar.count);
	gfs_progress_stop(&bar);
	if (err) {
		rc = failed("upload", path, err);
		goto out;
	}
	printf("uploaded %s to %s (%lld bytes)\n", local, path,
	       (long long)st.st_size);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* Where a download of path to local (a file, a directory or absent) goes;
 * caller frees. */
static char *download_target(const char *path, const char *local)
{
	struct stat st;

	if (!local)
		return gfs_xstrdup(gfs_path_basename(path));
	if (stat(local, &st) == 0 && S_ISDIR(st.st_mode))
		return gfs_xasprintf("%s/%s", local, gfs_path_basename(path));
	return gfs_xstrdup(local);
}

/* Download path into fd, with a progress bar unless quiet. */
static enum gfs_err download_to(struct cli *cli, const char *path, int fd)
{
	struct gfs_cli_progress bar;
	enum gfs_err err;

	gfs_progress_start(&bar, path, 0, !cli->conf->quiet);
	err = gfs_client_download_fd(cli->client, path, fd, &bar.count);
	gfs_progress_stop(&bar);
	return err;
}

static int cmd_download(struct cli *cli, char **argv, int argc)
{
	char *path = remote("download", argv[0]), *dest = NULL, *tmp = NULL;
	enum gfs_err err;
	int fd = -1, rc = GFS_EXIT_IO;

	if (!path)
		return GFS_EXIT_USAGE;
	if (argc > 1 && !strcmp(argv[1], "-")) {
		err = download_to(cli, path, STDOUT_FILENO);
		rc = err ? failed("download", path, err) : 0;
		goto out;
	}
	dest = download_target(path, argc > 1 ? argv[1] : NULL);
	tmp = gfs_xasprintf("%s.gfs-part.%d", dest, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = gfs_cli_failed_local("download", dest, errno);
		goto out;
	}
	err = download_to(cli, path, fd);
	if (err) {
		rc = failed("download", path, err);
		goto out_unlink;
	}
	if (fsync(fd) < 0 || rename(tmp, dest) < 0) {
		rc = gfs_cli_failed_local("download", dest, errno);
		goto out_unlink;
	}
	printf("downloaded %s to %s\n", path, dest);
	rc = 0;
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dest);
	free(path);
	return rc;
}

static void format_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static int cmd_lease(struct cli *cli, char **argv, int argc)
{
	char *path = remote("lease", argv[0]), when[64];
	struct gfs_lease l;
	enum gfs_err err;

	int rc;

	(void)argc;
	if (!path)
		return GFS_EXIT_USAGE;
	err = gfs_client_lease(cli->client, path,
			       (unsigned)(cli->conf->ttl_ms / 1000), &l);
	if (err) {
		rc = failed("lease", path, err);
		free(path);
		return rc;
	}
	format_time(l.expires_ms, when, sizeof(when));
	printf("leased %s to %s until %s\n", path, l.holder, when);
	free(path);
	return 0;
}

static int cmd_unlease(struct cli *cli, char **argv, int argc)
{
	char *path = remote("unlease", argv[0]);
	enum gfs_err err;

	int rc;

	(void)argc;
	if (!path)
		return GFS_EXIT_USAGE;
	err = gfs_client_unlease(cli->client, path);
	if (err) {
		rc = failed("unlease", path, err);
		free(path);
		return rc;
	}
	printf("released the lease on %s\n", path);
	free(path);
	return 0;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s)
		puts(s);
	free(s);
}

/* One line of ls: size, mtime, path (a directory's with a '/', a
 * symlink's with its target). */
static void print_entry(json_t *e, const char *path)
{
	const char *type = "file", *target = NULL;
	uint64_t size = 0;
	int64_t mt = 0;
	char when[64];

	gfs_json_str(e, "type", false, &type);
	gfs_json_str(e, "target", false, &target);
	gfs_json_u64(e, "size", false, &size);
	gfs_json_i64(e, "mtime_ns", false, &mt);
	format_time(mt / 1000000, when, sizeof(when));
	printf("%12llu  %s  %s%s%s%s\n", (unsigned long long)size, when, path,
	       strcmp(path, "/") && !strcmp(type, "dir") ? "/" : "",
	       target ? " -> " : "", target ? target : "");
}

/* What ls prints entries with, page after page. */
struct ls_out {
	const char *dir;            /* ls DIR: names are relative to it;
				     * NULL: --recursive, full paths */
	bool json;                  /* one JSON array, written as it comes */
	size_t n;                   /* entries printed */
};

/* One entry of a listing page: a line, or an element of the array. */
static bool ls_entry(void *cls, json_t *e)
{
	struct ls_out *o = cls;
	const char *name = "?";
	char *s, *path;

	if (o->json) {
		s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n  %s", o->n ? "," : "", s ? s : "null");
		free(s);
	} else if (!o->dir) {
		gfs_json_str(e, "path", false, &name);
		print_entry(e, name);
	} else {
		gfs_json_str(e, "name", false, &name);
		path = gfs_xasprintf("%s/%s", strcmp(o->dir, "/") ? o->dir : "",
				     name);
		print_entry(e, path);
		free(path);
	}
	o->n++;
	return true;
}

/*
 * ls DIR (its entries, by full path) or ls --recursive PREFIX (and ls of
 * a path that does not exist: a string prefix, as ls always took; every
 * file below, flat), printed as the pages come: memory is one page's,
 * whatever the listing's size, and lines come in listing order (not
 * sorted: pipe through sort).  --json writes {"path", "entries": [...]}
 * or the array of files, as a whole listing's reply has them.
 */
static int ls_stream(struct cli *cli, const char *p, bool dir)
{
	struct ls_out o = { dir ? p : NULL, cli->conf->json, 0 };
	enum gfs_err err;
	json_t *js = json_string(p);
	char *enc = NULL;

	if (o.json && dir) {
		enc = json_dumps(js, JSON_ENCODE_ANY);
		printf("{\"path\": %s, \"entries\": [", enc ? enc : "null");
	} else if (o.json) {
		printf("[");
	}
	err = gfs_client_list_each(cli->client, p, dir, ls_entry, &o);
	if (o.json)
		printf("\n%s\n", dir ? "]}" : "]");
	free(enc);
	json_decref(js);
	if (err)
		return failed("ls", p, err);
	return 0;
}

static int cmd_ls(struct cli *cli, char **argv, int argc)
{
	const char *prefix = argc ? argv[0] : "/";
	char *p = prefix[0] == '/' ? gfs_xstrdup(prefix)
				   : gfs_xasprintf("/%s", prefix);
	const char *type = NULL;
	json_t *st = NULL;
	enum gfs_err err = GFS_ENOENT;
	int rc;

	if (!cli->conf->recursive && !strcmp(p, "/")) {
		err = GFS_OK; /* no route stats the root: a directory */
		type = "dir";
	} else if (!cli->conf->recursive) {
		err = gfs_client_stat_json(cli->client, p, &st);
	}
	if (!err && st)
		gfs_json_str(st, "type", false, &type);
	if (err == GFS_ENOENT || err == GFS_EINVAL || err == GFS_ENOTDIR) {
		rc = ls_stream(cli, p, false);
	} else if (err) {
		rc = failed("ls", p, err);
	} else if (type && !strcmp(type, "dir")) {
		rc = ls_stream(cli, p, true);
	} else {
		if (cli->conf->json)
			print_json(st);
		else
			print_entry(st, p);
		rc = 0;
	}
	if (st)
		json_decref(st);
	free(p);
	return rc;
}

/* The chunks of path for gfs stat: NULL with why when they cannot be
 * shown (a lease of another client hides them: that GET is a read). */
static json_t *stat_chunks(struct cli *cli, const char *path, char *why,
			   size_t len)
{
	json_t *info = NULL;
	enum gfs_err err = gfs_client_info(cli->client, path, &info);

	if (!err)
		return info;
	if (info)
		json_decref(info);
	snprintf(why, len, "%s", *gfs_client_last_error()
					 ? gfs_client_last_error()
					 : gfs_err_str(err));
	return NULL;
}

static int cmd_stat(struct cli *cli, char **argv, int argc)
{
	char *path = remote("stat", argv[0]), why[600] = "";
	json_t *j = NULL, *info = NULL;
	enum gfs_err err;

	(void)argc;
	if (!path)
		return GFS_EXIT_USAGE;
	/* metadata, never a download: a lease does not block it */
	err = gfs_client_stat_json(cli->client, path, &j);
	if (err) {
		free(path);
		if (j)
			json_decref(j);
		return failed("stat", argv[0], err);
	}
	if (cli->conf->json) {
		print_json(j);
	} else {
		if (json_is_string(json_object_get(j, "type")) &&
		    strcmp(json_string_value(json_object_get(j, "type")),
			   "dir"))
			info = stat_chunks(cli, path, why, sizeof(why));
		gfs_cli_print_stat(j, info, why);
	}
	if (info)
		json_decref(info);
	json_decref(j);
	free(path);
	return GFS_EXIT_OK;
}

static int cmd_rm(struct cli *cli, char **argv, int argc)
{
	int rc = 0, i;

	for (i = 0; i < argc; i++) {
		char *path = remote("rm", argv[i]);
		enum gfs_err err;

		if (!path) {
			rc = GFS_EXIT_USAGE;
			continue;
		}
		err = gfs_client_unlink(cli->client, path);
		if (err)
			rc = failed("rm", path, err);
		free(path);
	}
	return rc;
}

static int cmd_mv(struct cli *cli, char **argv, int argc)
{
	char *from = remote("mv", argv[0]), *to = remote("mv", argv[1]);
	int rc = GFS_EXIT_USAGE;

	(void)argc;
	if (from && to) {
		enum gfs_err err = gfs_client_rename(cli->client, from, to,
						     false);

		rc = err ? failed("mv", from, err) : GFS_EXIT_OK;
	}
	free(from);
	free(to);
	return rc;
}

/* A client of the master at url alone, with our key and CA file, giving
 * up after failover_ms; NULL for a bad URL. */
static struct gfs_client *one_master(const struct cli *cli, const char *url,
				     long failover_ms)
{
	struct gfs_client_conf cc = *cli->cc;

	cc.masters = url;
	cc.failover_ms = failover_ms;
	return gfs_client_new(&cc);
}

static int cmd_status(struct cli *cli, char **argv, int argc)
{
	(void)argv;
	(void)argc;
	return gfs_cli_status(cli->client, cli->conf->json);
}

/* gfs detach [URL]: the primary stops waiting for a dead backup. */
static int cmd_detach(struct cli *cli, char **argv, int argc)
{
	char *enc = argc ? gfs_url_encode(argv[0], false) : NULL;
	char *route = gfs_xasprintf("/detach%s%s", enc ? "?url=" : "",
				    enc ? enc : "");
	json_t *j = NULL;
	enum gfs_err err = gfs_client_call(cli->client, "POST", route, NULL,
					   &j);
	int rc = err ? failed("detach", argc ? argv[0] : "", err)
		     : GFS_EXIT_OK;

	if (j)
		json_decref(j);
	free(route);
	free(enc);
	return rc;
}

/* gfs promote URL: that master takes over now (the primary is gone). */
static int cmd_promote(struct cli *cli, char **argv, int argc)
{
	struct gfs_client *one = one_master(cli, argv[0], 3000);
	json_t *j = NULL;
	enum gfs_err err;

	(void)argc;
	if (!one) {
		fprintf(stderr, "gfs: promote: bad URL '%s'\n", argv[0]);
		return GFS_EXIT_USAGE;
	}
	err = gfs_client_call(one, "POST", "/promote", NULL, &j);
	if (j)
		json_decref(j);
	gfs_client_free(one);
	return err ? failed("promote", argv[0], err) : GFS_EXIT_OK;
}

/* Print name="text", or name=0sBASE64 for a value that is not text
 * (getfattr's forms). */
static void print_xattr(const char *name, const char *b64)
{
	size_t len = 0, i;
	char *v = gfs_b64_decode(b64, &len);
	bool text = v && gfs_text_valid(v) && strlen(v) == len;

	for (i = 0; text && i < len; i++)
		text = (unsigned char)v[i] >= 0x20 && v[i] != '"' &&
		       v[i] != '\\' && v[i] != 0x7f;
	if (text)
		printf("%s=\"%s\"\n", name, v);
	else
		printf("%s=0s%s\n", name, b64);
	free(v);
}

/* xattr PATH: every attribute; xattr PATH NAME: its value, as stored;
 * xattr PATH NAME VALUE: set it. */
static int cmd_xattr(struct cli *cli, char **argv, int argc)
{
	char *path = remote("xattr", argv[0]), *v = NULL;
	json_t *xs = NULL, *b;
	const char *name;
	enum gfs_err err;
	size_t len = 0;
	int rc = GFS_EXIT_OK;

	if (!path)
		return GFS_EXIT_USAGE;
	if (argc == 3)
		err = gfs_client_xattr_set(cli->client, path, argv[1], argv[2],
					   strlen(argv[2]), GFS_XATTR_ANY);
	else
		err = gfs_client_xattrs(cli->client, path,
					argc == 2 ? argv[1] : NULL, &xs);
	if (err)
		rc = failed("xattr", path, err);
	else if (argc == 2)
		v = gfs_b64_decode(json_string_value(json_object_get(
					   xs, argv[1])) ?: "", &len);
	if (v)
		fwrite(v, 1, len, stdout);
	if (!err && argc == 1)
		json_object_foreach(xs, name, b)
			print_xattr(name, json_string_value(b) ?: "");
	if (xs)
		json_decref(xs);
	free(v);
	free(path);
	return rc;
}

static int cmd_rmxattr(struct cli *cli, char **argv, int argc)
{
	char *path = remote("rmxattr", argv[0]);
	enum gfs_err err;

	(void)argc;
	if (!path)
		return GFS_EXIT_USAGE;
	err = gfs_client_xattr_remove(cli->client, path, argv[1]);
	free(path);
	return err ? failed("rmxattr", argv[0], err) : GFS_EXIT_OK;
}

static const struct command commands[] = {
	{ "upload", 1, 2, cmd_upload, "upload LOCAL [REMOTE]",
	  "store a local file (as /BASENAME by default)" },
	{ "download", 1, 2, cmd_download, "download REMOTE [LOCAL|-]",
	  "fetch a file (into ./BASENAME by default, - for stdout)" },
	{ "lease", 1, 1, cmd_lease, "lease PATH [--ttl S]",
	  "take or renew the exclusive lease on a file" },
	{ "unlease", 1, 1, cmd_unlease, "unlease PATH",
	  "give the lease back" },
	{ "ls", 0, 1, cmd_ls, "ls [PATH]",
	  "list a directory's entries (--recursive: every file whose "
	  "path starts with PATH, flat)" },
	{ "stat", 1, 1, cmd_stat, "stat PATH",
	  "show a file's size, mode, time, lease, chunks and replicas" },
	{ "rm", 1, INT_MAX, cmd_rm, "rm PATH...", "remove files" },
	{ "mv", 2, 2, cmd_mv, "mv OLD NEW", "rename a file or directory" },
	{ "xattr", 1, 3, cmd_xattr, "xattr PATH [NAME [VALUE]]",
	  "list the extended attributes, print one's value, or set one" },
	{ "rmxattr", 2, 2, cmd_rmxattr, "rmxattr PATH NAME",
	  "remove an extended attribute" },
	{ "status", 0, 0, cmd_status, "status",
	  "show every master, the chunkservers and the cluster's counts" },
	{ "detach", 0, 1, cmd_detach, "detach [BACKUP_URL]",
	  "make the primary stop waiting for a backup gone for good" },
	{ "promote", 1, 1, cmd_promote, "promote MASTER_URL",
	  "make that master the primary now (the primary is gone for good)" },
};

static int run(struct cli *cli, char **argv, int argc)
{
	size_t i;

	for (i = 0; i < GFS_ARRAY_SIZE(commands); i++) {
		const struct command *c = &commands[i];

		if (strcmp(argv[0], c->name))
			continue;
		if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
			fprintf(stderr, "gfs: usage: gfs %s\n", c->usage);
			return GFS_EXIT_USAGE;
		}
		return c->run(cli, argv + 1, argc - 1);
	}
	fprintf(stderr, "gfs: unknown command '%s' (try gfs --help)\n",
		argv[0]);
	return GFS_EXIT_USAGE;
}

/* The seed's mode: one command per line on stdin; the exit status is
 * the last failure's. */
static int run_stdin(struct cli *cli)
{
	char line[8192];
	int rc = 0, r;

	while (fgets(line, sizeof(line), stdin)) {
		char *words[8], *save = NULL, *w;
		int n = 0;

		for (w = strtok_r(line, " \t\r\n", &save); w && n < 8;
		     w = strtok_r(NULL, " \t\r\n", &save))
			words[n++] = w;
		if (!n || words[0][0] == '#')
			continue;
		if (!strcmp(words[0], "exit") || !strcmp(words[0], "quit"))
			break;
		r = run(cli, words, n);
		if (r)
			rc = r;
		fflush(stdout);
	}
	return rc;
}

/* *opt from the environment variable env when the flag left it unset. */
static void take_env(char **opt, const char *env)
{
	const char *v = getenv(env);

	if (!*opt && v && *v)
		*opt = gfs_xstrdup(v);
}

/* The synopsis and the commands, one line each, for --help (caller
 * frees). */
static char *usage_text(void)
{
	char *text = NULL;
	size_t i;

	gfs_appendf(&text, "gfs [OPTIONS] COMMAND [ARGS], or commands on "
		    "stdin, one a line\n\ncommands:\n");
	for (i = 0; i < GFS_ARRAY_SIZE(commands); i++)
		gfs_appendf(&text, "  %-26s %s\n", commands[i].usage,
			    commands[i].help);
	gfs_appendf(&text, "\nexit status: 0 ok, 1 other failure, 2 usage, "
		    "3 not found, 4 exists, 5 leased, 6 unavailable, 7 I/O");
	return text;
}

static char *default_client_id(void)
{
	const char *env = getenv("GFS_CLIENT_ID"), *user = getenv("USER");
	char host[256] = "localhost";

	if (env && *env)
		return gfs_xstrdup(env);
	gethostname(host, sizeof(host) - 1);
	if (!user || !*user)
		user = getuid() == 0 ? "root" : "user";
	return gfs_xasprintf("%s@%s", user, host);
}

int main(int argc, char **argv)
{
	struct cli_conf conf = { .log_level = GFS_LOG_WARN,
				 .ttl_ms = GFS_LEASE_TTL_S * 1000 };
	struct gfs_client_conf cc = { 0 };
	char **pos = gfs_xcalloc((size_t)argc + 1, sizeof(*pos));
	struct cli cli = { .conf = &conf, .cc = &cc };
	char *key = NULL, msg[300];
	char *usage;
	int npos, rc;

	usage = usage_text();
	if (!gfs_opts_parse(cli_opts, GFS_ARRAY_SIZE(cli_opts), &conf, argc,
			    argv, usage, pos, &npos)) {
		gfs_opts_free(cli_opts, GFS_ARRAY_SIZE(cli_opts), &conf);
		free(pos);
		free(usage);
		return GFS_EXIT_USAGE;
	}
	if (npos == 0 && isatty(STDIN_FILENO))
		printf("usage: %s\n(reading commands from stdin; Ctrl-D "
		       "ends)\n", usage);
	free(usage);
	gfs_log_init("gfs", conf.log_level);
	gfs_http_global_init();
	if (!conf.master)
		conf.master = gfs_xstrdup(getenv("GFS_MASTER") ?: "http://"
					  GFS_DEFAULT_HOST ":7070,http://"
					  GFS_DEFAULT_HOST ":7071");
	if (!conf.client_id)
		conf.client_id = default_client_id();
	take_env(&conf.key_file, "GFS_KEY_FILE");
	take_env(&conf.ca_file, "GFS_CA_FILE");
	if (conf.key_file) {
		key = gfs_client_read_key(conf.key_file, msg, sizeof(msg));
		if (!key) {
			fprintf(stderr, "gfs: %s\n", msg);
			rc = 2;
			goto out_free;
		}
	}
	cc.masters = conf.master;
	cc.client_id = conf.client_id;
	cc.key = key;
	cc.ca_file = conf.ca_file;
	cc.failover_ms = (long)conf.failover_ms;
	cli.client = gfs_client_new(&cc);
	if (!cli.client) {
		fprintf(stderr, "gfs: no usable master URL in '%s' (set "
			"--master or GFS_MASTER to URLs such as "
			"http://m1:7070,http://m2:7071)\n", conf.master);
		rc = GFS_EXIT_USAGE;
	} else {
		rc = npos ? run(&cli, pos, npos) : run_stdin(&cli);
	}
	gfs_client_free(cli.client);
out_free:
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
	gfs_opts_free(cli_opts, GFS_ARRAY_SIZE(cli_opts), &conf);
	free(pos);
	return rc;
}

/*
 * cmdline.c - split gfs-fuse's command line into our settings and
 * libfuse's arguments.
 *
 * For: the command line of gfs-fuse, typed by a person or passed by
 * mount.fuse3(8) for an /etc/fstab line (SOURCE MOUNTPOINT -o OPTS).
 * Not for: what libfuse does with its own options (mount flags, -f, -d),
 * nor reading config files (common/options.c does that).
 *
 * Invariants: every setting of cmdline_opts[] reaches gfs_opts_parse() as
 * one "--name=value" word built here, so a setting means the same on the
 * command line, after -o and in a --config file, and the command line
 * wins over the file.  mount(8), mount.fuse3 and libfuse all split options
 * at every comma: a piece that starts with a URL scheme right after
 * master= (or after such a piece) continues the master list, so that
 * "master=http://m1:7070,http://m2:7070" in fstab means both masters.
 * Backslash escapes ("\,") are kept for libfuse and removed from ours.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "options.h"
#include "util.h"

#define C(f) offsetof(struct gfs_fuse_conf, f)
static const struct gfs_opt cmdline_opts[] = {
	{ "master", GFS_OPT_STR, C(master), "URLS",
	  "master URLs, comma-separated (env GFS_MASTER; default "
	  "http://127.0.0.1:7070,http://127.0.0.1:7071)" },
	{ "client-id", GFS_OPT_STR, C(client_id), "ID",
	  "lease holder id (default HOSTNAME:MOUNTPOINT)" },
	{ "key-file", GFS_OPT_STR, C(key_file), "FILE",
	  "the client key, sent as Authorization: Bearer (env GFS_KEY_FILE)" },
	{ "ca-file", GFS_OPT_STR, C(ca_file), "FILE",
	  "PEM certificates to trust over HTTPS (env GFS_CA_FILE)" },
	{ "readahead-kb", GFS_OPT_U64, C(readahead_kb), "N",
	  "kernel read-ahead in KiB, 0 leaves the kernel's (8192)" },
	{ "attr-timeout", GFS_OPT_MS, C(attr_timeout_ms), "TIME",
	  "how long attributes and names may be cached (1s)" },
	{ "master-timeout", GFS_OPT_MS, C(master_timeout_ms), "TIME",
	  "one call to the master gives up after this long (10s)" },
	{ "failover-timeout", GFS_OPT_MS, C(failover_timeout_ms), "TIME",
	  "calls keep retrying this long while no master answers (30s)" },
	{ "keep-ttl", GFS_OPT_MS, C(keep_ttl_ms), "TIME",
	  "a file unlinked while open here is kept this long after the "
	  "last renewal, should this mount die (60s)" },
	{ "defer-create", GFS_OPT_MS, C(defer_create_ms), "TIME",
	  "a file created here (not O_EXCL) reaches the master at its "
	  "first flush, in one call, unless open longer than this (1s); "
	  "0: at open, as O_EXCL" },
	{ "log-level", GFS_OPT_LOGLEVEL, C(log_level), "LEVEL",
	  "error, warn, info or debug (info)" },
	{ "config", GFS_OPT_STR, C(config), "FILE",
	  "read 'name = value' settings from FILE first" },
};
#undef C

#define USAGE "gfs-fuse [OPTIONS] [SOURCE] MOUNTPOINT"

/* What the command line is split into while it is read. */
struct split {
	char **words;          /* argv for gfs_opts_parse: [0] the program,
				* then "--name=value"; owned, NULL-ended */
	int nwords;
	const char **fuse_args; /* libfuse's own words (-f, -d), borrowed */
	int nfuse_args;
	char *fuse_opts;       /* libfuse's -o options, comma-joined; owned */
	const char *nonopt[2]; /* SOURCE and MOUNTPOINT, borrowed from argv */
	int nnonopt;
	bool help, version, bad;
	bool in_master;        /* the last -o piece was master= or a URL
				* continuing it (words[nwords - 1]) */
};

/* Append w (taken) to the words. */
static void add_word(struct split *sp, char *w)
{
	sp->words = gfs_xrealloc(sp->words,
				 ((size_t)sp->nwords + 2) * sizeof(char *));
	sp->words[sp->nwords++] = w;
	sp->words[sp->nwords] = NULL;
}

/* The setting called name[0..len), '_' standing for '-'; NULL if none. */
static const struct gfs_opt *find_opt(const char *name, size_t len)
{
	size_t i, j;

	for (i = 0; i < GFS_ARRAY_SIZE(cmdline_opts); i++) {
		const char *o = cmdline_opts[i].name;

		if (strlen(o) != len)
			continue;
		for (j = 0; j < len; j++)
			if (o[j] != name[j] && !(o[j] == '-' && name[j] == '_'))
				break;
		if (j == len)
			return &cmdline_opts[i];
	}
	return NULL;
}

/* "scheme://...": a URL rather than an option or a name. */
static bool is_url(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

	return n > 0 && !strncmp(s + n, "://", 3);
}

/* s without its backslash escapes; caller frees. */
static char *unescape(const char *s)
{
	char *out = gfs_xmalloc(strlen(s) + 1), *d = out;

	for (; *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		*d++ = *s;
	}
	*d = '\0';
	return out;
}

/* "--name=value" (value unescaped), or "--name" for a bare flag. */
static char *make_word(const struct gfs_opt *o, const char *value)
{
	char *v, *w;

	if (!value)
		return gfs_xasprintf("--%s%s", o->name,
				     o->type == GFS_OPT_FLAG ? "" : "=");
	v = unescape(value);
	w = gfs_xasprintf("--%s=%s", o->name, v);
	free(v);
	return w;
}

/* One piece of an -o group: ours becomes a word, the rest is libfuse's. */
static void take_piece(struct split *sp, const char *piece)
{
	const char *eq = strchr(piece, '=');
	const struct gfs_opt *o;
	char *joined;

	if (sp->in_master && is_url(piece)) {
		joined = gfs_xasprintf("%s,%s", sp->words[sp->nwords - 1],
				       piece);
		free(sp->words[sp->nwords - 1]);
		sp->words[sp->nwords - 1] = joined;
		return;
	}
	o = find_opt(piece, eq ? (size_t)(eq - piece) : strlen(piece));
	sp->in_master = o && !strcmp(o->name, "master");
	if (o) {
		add_word(sp, make_word(o, eq ? eq + 1 : NULL));
		return;
	}
	if (!*piece)
		return;
	joined = gfs_xasprintf("%s%s%s", sp->fuse_opts ? sp->fuse_opts : "",
			       sp->fuse_opts ? "," : "", piece);
	free(sp->fuse_opts);
	sp->fuse_opts = joined;
}

/* An -o group, split at the commas that are not escaped. */
static void take_group(struct split *sp, const char *group)
{
	char *copy = gfs_xstrdup(group), *start = copy, *s;

	sp->in_master = false;
	for (s = copy;; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (*s != ',' && *s)
			continue;
		if (!*s) {
			take_piece(sp, start);
			break;
		}
		*s = '\0';
		take_piece(sp, start);
		start = s + 1;
	}
	free(copy);
}

/* argv[*i] starts with "--": ours (maybe with the next word as its
 * value), --help, --version, or unknown (gfs_opts_parse says so). */
static void take_long(struct split *sp, int argc, char **argv, int *i)
{
	const char *a = argv[*i] + 2, *eq = strchr(a, '=');
	const struct gfs_opt *o;

	if (!strcmp(a, "help")) {
		sp->help = true;
		return;
	}
	if (!strcmp(a, "version")) {
		sp->version = true;
		return;
	}
	o = find_opt(a, eq ? (size_t)(eq - a) : strlen(a));
	if (o && !eq && o->type != GFS_OPT_FLAG && *i + 1 < argc)
		add_word(sp, make_word(o, argv[++*i]));
	else if (o)
		add_word(sp, make_word(o, eq ? eq + 1 : NULL));
	else
		add_word(sp, gfs_xstrdup(argv[*i]));
}

/* argv[*i] starts with one '-': -o, -h, -V or one of libfuse's. */
static void take_short(struct split *sp, int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (!strcmp(a, "-h")) {
		sp->help = true;
	} else if (!strcmp(a, "-V")) {
		sp->version = true;
	} else if (!strcmp(a, "-o") && *i + 1 < argc) {
		take_group(sp, argv[++*i]);
	} else if (!strcmp(a, "-o")) {
		fprintf(stderr, "gfs-fuse: -o needs options (try --help)\n");
		sp->bad = true;
	} else if (!strncmp(a, "-o", 2)) {
		take_group(sp, a + 2);
	} else {
		sp->fuse_args[sp->nfuse_args++] = a;
	}
}

static void take_nonopt(struct split *sp, const char *a)
{
	if (sp->nnonopt == 2) {
		fprintf(stderr, "gfs-fuse: unexpected argument '%s': give "
			"[SOURCE] MOUNTPOINT (try --help)\n", a);
		sp->bad = true;
		return;
	}
	sp->nonopt[sp->nnonopt++] = a;
}

static void split_argv(struct split *sp, int argc, char **argv)
{
	bool only_nonopts = false;
	int i;

	for (i = 1; i < argc && !sp->bad; i++) {
		const char *a = argv[i];

		if (only_nonopts || a[0] != '-' || !a[1])
			take_nonopt(sp, a);
		else if (!strcmp(a, "--"))
			only_nonopts = true;
		else if (a[1] == '-')
			take_long(sp, argc, argv, &i);
		else
			take_short(sp, argc, argv, &i);
	}
}

/* The source is the master list when it names URLs: as if --master had
 * come first, so that any master setting on the line wins. */
static void take_source(struct split *sp, struct gfs_fuse_conf *conf)
{
	if (sp->nnonopt < 2)
		return;
	conf->source = gfs_xstrdup(sp->nonopt[0]);
	if (!is_url(conf->source))
		return;
	add_word(sp, NULL);
	memmove(&sp->words[2], &sp->words[1],
		((size_t)sp->nwords - 2) * sizeof(char *));
	sp->words[1] = gfs_xasprintf("--master=%s", conf->source);
}

/* libfuse's arguments: the program, its words, -o OPTS, the mountpoint. */
static void fill_lib(const struct split *sp, struct fuse_args *lib)
{
	int i;

	fuse_opt_add_arg(lib, sp->words[0]);
	for (i = 0; i < sp->nfuse_args; i++)
		fuse_opt_add_arg(lib, sp->fuse_args[i]);
	if (sp->fuse_opts) {
		fuse_opt_add_arg(lib, "-o");
		fuse_opt_add_arg(lib, sp->fuse_opts);
	}
	fuse_opt_add_arg(lib, sp->nonopt[sp->nnonopt - 1]);
}

static void free_split(struct split *sp)
{
	int i;

	for (i = 0; i < sp->nwords; i++)
		free(sp->words[i]);
	free(sp->words);
	free(sp->fuse_args);
	free(sp->fuse_opts);
}

void gfs_cmdline_defaults(struct gfs_fuse_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->readahead_kb = 8192;
	conf->attr_timeout_ms = 1000;
	conf->keep_ttl_ms = 60000;
	conf->defer_create_ms = 1000;
	conf->log_level = GFS_LOG_INFO;
}

enum gfs_cmdline_result gfs_cmdline_parse(int argc, char **argv,
					  struct gfs_fuse_conf *conf,
					  struct fuse_args *lib)
{
	struct split sp = { 0 };
	enum gfs_cmdline_result rc = GFS_CMDLINE_BAD;
	char **pos;
	int npos;

	sp.fuse_args = gfs_xcalloc((size_t)argc + 1, sizeof(char *));
	add_word(&sp, gfs_xstrdup(argc ? argv[0] : "gfs-fuse"));
	split_argv(&sp, argc, argv);
	if (sp.bad)
		goto out;
	rc = sp.help ? GFS_CMDLINE_HELP : GFS_CMDLINE_VERSION;
	if (sp.help || sp.version)
		goto out;
	rc = GFS_CMDLINE_BAD;
	if (!sp.nnonopt) {
		fprintf(stderr, "gfs-fuse: no mountpoint (try --help)\n");
		goto out;
	}
	take_source(&sp, conf);
	pos = gfs_xcalloc((size_t)sp.nwords + 1, sizeof(char *));
	if (gfs_opts_parse(cmdline_opts, GFS_ARRAY_SIZE(cmdline_opts), conf,
			   sp.nwords, sp.words, USAGE, pos, &npos)) {
		fill_lib(&sp, lib);
		rc = GFS_CMDLINE_MOUNT;
	}
	free(pos);
out:
	free_split(&sp);
	return rc;
}

void gfs_cmdline_print_help(void)
{
	gfs_opts_print_help(cmdline_opts, GFS_ARRAY_SIZE(cmdline_opts), USAGE);
	printf("\nEvery setting is also taken as -o name=value ('_' may stand "
	       "for '-'), as mount(8)\npasses the options of an /etc/fstab "
	       "line of type fuse.gfs (see mount.fuse.gfs(8)).\nSOURCE, the "
	       "first field of that line, names the mount; URLs there are the "
	       "masters.\n\n");
}

void gfs_cmdline_free(struct gfs_fuse_conf *conf)
{
	gfs_opts_free(cmdline_opts, GFS_ARRAY_SIZE(cmdline_opts), conf);
	free(conf->source);
	conf->source = NULL;
}

/*
 * options.c - parse flags and config files against a struct gfs_opt table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "log.h"
#include "options.h"
#include "util.h"

static const struct gfs_opt *find(const struct gfs_opt *opts, size_t n,
				  const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(opts[i].name) == len &&
		    !strncmp(opts[i].name, name, len))
			return &opts[i];
	return NULL;
}

/* Store value into conf's field for o; false on a malformed value. */
static bool set(const struct gfs_opt *o, void *conf, const char *value)
{
	char *field = (char *)conf + o->off;

	switch (o->type) {
	case GFS_OPT_STR:
		free(*(char **)field);
		*(char **)field = gfs_xstrdup(value);
		return true;
	case GFS_OPT_SIZE:
		return gfs_parse_size(value, (uint64_t *)field);
	case GFS_OPT_U64:
		return gfs_parse_u64(value, (uint64_t *)field);
	case GFS_OPT_MS:
		return gfs_parse_duration_ms(value, (uint64_t *)field);
	case GFS_OPT_FLAG:
		if (!strcmp(value, "1") || !strcmp(value, "true") ||
		    !strcmp(value, "yes")) {
			*(bool *)field = true;
			return true;
		}
		if (!strcmp(value, "0") || !strcmp(value, "false") ||
		    !strcmp(value, "no")) {
			*(bool *)field = false;
			return true;
		}
		return false;
	case GFS_OPT_LOGLEVEL:
		return gfs_log_parse_level(value, (enum gfs_log_level *)field);
	}
	return false;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			 e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* A mistake in the flags or the config file: one line on stderr that
 * starts with the program's name, as every other failure of a program. */
static void complain(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void complain(const char *prog, const char *fmt, ...)
{
	const char *slash = strrchr(prog, '/');
	va_list ap;

	fprintf(stderr, "%s: ", slash ? slash + 1 : prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool load_file(const struct gfs_opt *opts, size_t n, void *conf,
		      const char *prog, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	unsigned lineno = 0;
	bool ok = true;

	if (!f) {
		complain(prog, "cannot read config %s: %s", path,
			 strerror(errno));
		return false;
	}
	while (ok && fgets(line, sizeof(line), f)) {
		char *s = trim(line), *eq, *key, *val;
		const struct gfs_opt *o;

		lineno++;
		if (!*s || *s == '#')
			continue;
		eq = strchr(s, '=');
		if (!eq) {
			complain(prog, "%s:%u: expected 'name = value'", path,
				 lineno);
			ok = false;
			break;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		o = find(opts, n, key, strlen(key));
		if (!o || !strcmp(key, "config")) {
			complain(prog, "%s:%u: unknown setting '%s'", path,
				 lineno, key);
			ok = false;
		} else if (!set(o, conf, val)) {
			complain(prog, "%s:%u: bad value for %s: '%s'", path,
				 lineno, key, val);
			ok = false;
		}
	}
	fclose(f);
	return ok;
}

void gfs_opts_print_help(const struct gfs_opt *opts, size_t n,
			 const char *usage)
{
	size_t i;

	printf("usage: %s\n\noptions:\n", usage);
	for (i = 0; i < n; i++) {
		char flag[64];

		snprintf(flag, sizeof(flag), "--%s%s%s", opts[i].name,
			 opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
		printf("  %-28s %s\n", flag, opts[i].help);
	}
	printf("  %-28s %s\n  %-28s %s\n", "--help", "show this help",
	       "--version", "show the version");
}

/* The value of --config, scanned before anything else. */
static const char *config_path(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			return argv[i + 1];
		if (!strncmp(argv[i], "--config=", 9))
			return argv[i] + 9;
	}
	return NULL;
}

bool gfs_opts_parse(const struct gfs_opt *opts, size_t n, void *conf,
		    int argc, char **argv, const char *usage, char **pos,
		    int *npos)
{
	const char *cfg = config_path(argc, argv);
	bool only_pos = false;
	int i;

	*npos = 0;
	if (cfg && !load_file(opts, n, conf, argv[0], cfg))
		return false;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *value;
		const struct gfs_opt *o;
		size_t len;

		if (only_pos || a[0] != '-' || a[1] != '-' || !a[2]) {
			if (!only_pos && !strcmp(a, "--")) {
				only_pos = true;
				continue;
			}
			pos[(*npos)++] = argv[i];
			continue;
		}
		a += 2;
		if (!strcmp(a, "help")) {
			gfs_opts_print_help(opts, n, usage);
			exit(0);
		}
		if (!strcmp(a, "version")) {
			printf("%s %s\n", argv[0], GFS_VERSION);
			exit(0);
		}
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		o = find(opts, n, a, len);
		if (!o) {
			complain(argv[0], "unknown option --%.*s (try --help)",
				 (int)len, a);
			return false;
		}
		if (o->type == GFS_OPT_FLAG && !eq) {
			value = "1";
		} else if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			complain(argv[0], "option --%s needs a value", o->name);
			return false;
		}
		if (strcmp(o->name, "config") && !set(o, conf, value)) {
			complain(argv[0], "bad value for --%s: '%s'", o->name,
				 value);
			return false;
		}
	}
	return true;
}

void gfs_opts_free(const struct gfs_opt *opts, size_t n, void *conf)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (opts[i].type == GFS_OPT_STR) {
			char **field = (char **)((char *)conf + opts[i].off);

			free(*field);
			*field = NULL;
		}
	}
}

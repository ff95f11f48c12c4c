/* Unit tests for fuse/cmdline.c: gfs-fuse's command line, typed and as
 * mount.fuse3 passes it from /etc/fstab. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../fuse/cmdline.h"

struct parsed {
	enum gfs_cmdline_result rc;
	struct gfs_fuse_conf conf;
	struct fuse_args lib;
};

/* Parse the NULL-ended words after "gfs-fuse". */
static void parse(struct parsed *p, const char *const *words)
{
	char *argv[32] = { "gfs-fuse" };
	int argc = 1;

	while (*words)
		argv[argc++] = (char *)*words++;
	gfs_cmdline_defaults(&p->conf);
	p->lib = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	p->rc = gfs_cmdline_parse(argc, argv, &p->conf, &p->lib);
}

static void done(struct parsed *p)
{
	fuse_opt_free_args(&p->lib);
	gfs_cmdline_free(&p->conf);
}

/* libfuse's words joined by spaces, after the program. */
static char *lib_line(const struct parsed *p)
{
	static char line[1024];
	int i;

	line[0] = '\0';
	for (i = 1; i < p->lib.argc; i++) {
		if (i > 1)
			strcat(line, " ");
		strcat(line, p->lib.argv[i]);
	}
	return line;
}

Test(cmdline, takes_what_mount_fuse3_passes_for_an_fstab_line)
{
	struct parsed p;

	parse(&p, (const char *[]){ "gfs", "/mnt/gfs", "-o",
		   "rw,master=http://m1:7070,http://m2:7070,dev,suid", NULL });
	cr_assert_eq(p.rc, GFS_CMDLINE_MOUNT);
	cr_expect_str_eq(p.conf.master, "http://m1:7070,http://m2:7070");
	cr_expect_str_eq(p.conf.source, "gfs");
	cr_expect_str_eq(lib_line(&p), "-o rw,dev,suid /mnt/gfs");
	done(&p);
}

Test(cmdline, takes_urls_in_the_source_as_the_masters)
{
	struct parsed p;

	parse(&p, (const char *[]){ "http://a:1,https://b:2", "/mnt/x",
		   "-o", "rw", NULL });
	cr_assert_eq(p.rc, GFS_CMDLINE_MOUNT);
	cr_expect_str_eq(p.conf.master, "http://a:1,https://b:2");
	cr_expect_str_eq(lib_line(&p), "-o rw /mnt/x");
	done(&p);

	parse(&p, (const char *[]){ "http://a:1", "/mnt/x", "-o",
		   "master=http://c:3", NULL });
	cr_assert_eq(p.rc, GFS_CMDLINE_MOUNT);
	cr_expect_str_eq(p.conf.master, "http://c:3", "master= wins");
	done(&p);
}

Test(cmdline, takes_long_flags_in_both_spellings)
{
	struct parsed p;

	parse(&p, (const char *[]){ "--master", "http://a:1", "-f",
		   "--client-id=me", "--readahead-kb", "16", "--attr-timeout",
		   "250ms", "--log-level=debug", "/mnt/x", NULL });
	cr_assert_eq(p.rc, GFS_CMDLINE_MOUNT);
	cr_expect_str_eq(p.conf.master, "http://a:1");
	cr_expect_str_eq(p.conf.client_id, "me");
	cr_expect_eq(p.conf.readahead_kb, 16);
	cr_expect_eq(p.conf.attr_timeout_ms, 250);
	cr_expect_eq(p.conf.log_level, GFS_LOG_DEBUG);
	cr_expect_null(p.conf.source);
	cr_expect_str_eq(lib_line(&p), "-f /mnt/x");
	done(&p);
}

Test(cmdline, takes_settings_after_o_with_underscores)
{
	struct parsed p;

	parse(&p, (const char *[]){ "-oclient_id=a\\,b,allow_other",
		   "-o", "readahead_kb=0,attr-timeout=2,debug", "-o",
		   "master_timeout=0.3,failover_timeout=1", "/m", NULL });
	cr_assert_eq(p.rc, GFS_CMDLINE_MOUNT);
	cr_expect_str_eq(p.conf.client_id, "a,b", "escape removed");
	cr_expect_eq(p.conf.readahead_kb, 0);
	cr_expect_eq(p.conf.attr_timeout_ms, 2000);
	cr_expect_eq(p.conf.master_timeout_ms, 300);
	cr_expect_eq(p.conf.failover_timeout_ms, 1000);
	cr_expect_str_eq(lib_line(&p), "-o allow_other,debug /m");
	done(&p);
}

Test(cmdline, keeps_escaped_commas_of_libfuse_options)
{
	struct parsed p;

	parse(&p, (const char *[]){ "-o", "fsname=a\\,b,ro", "/m", NULL });
	cr_assert_eq(p.rc, GFS_CMDLINE_MOUNT);
	cr_expect_str_eq(lib_line(&p), "-o fsname=a\\,b,ro /m");
	done(&p);
}

Test(cmdline, reads_a_config_file_that_the_line_overrides)
{
	char path[] = "/tmp/gfs-cmdline-XXXXXX", *word;
	struct parsed p;
	FILE *f;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	fputs("# a comment\nmaster = http://f:1,http://g:2\n"
	      "client-id = fromfile\nreadahead-kb = 64\n", f);
	fclose(f);
	word = NULL;
	cr_assert_neq(asprintf(&word, "config=%s,client_id=fromline", path),
		      -1);
	parse(&p, (const char *[]){ "gfs", "/m", "-o", word, NULL });
	cr_assert_eq(p.rc, GFS_CMDLINE_MOUNT);
	cr_expect_str_eq(p.conf.master, "http://f:1,http://g:2");
	cr_expect_str_eq(p.conf.client_id, "fromline");
	cr_expect_eq(p.conf.readahead_kb, 64);
	done(&p);

	parse(&p, (const char *[]){ "--config", path, "/m", NULL });
	cr_assert_eq(p.rc, GFS_CMDLINE_MOUNT);
	cr_expect_str_eq(p.conf.client_id, "fromfile");
	done(&p);
	free(word);
	unlink(path);
}

Test(cmdline, refuses_bad_lines)
{
	const char *const *bad[] = {
		(const char *[]){ NULL },                      /* no mountpoint */
		(const char *[]){ "a", "b", "c", NULL },       /* three */
		(const char *[]){ "--nope", "/m", NULL },      /* unknown */
		(const char *[]){ "-o", "readahead_kb=x", "/m", NULL },
		(const char *[]){ "--attr-timeout", "1h", "/m", NULL },
		(const char *[]){ "--config", "/nonexistent/x", "/m", NULL },
		(const char *[]){ "/m", "-o", NULL },
	};
	struct parsed p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(&p, bad[i]);
		cr_expect_eq(p.rc, GFS_CMDLINE_BAD, "line %zu", i);
		done(&p);
	}
}

Test(cmdline, tells_help_and_version)
{
	struct parsed p;

	parse(&p, (const char *[]){ "--help", NULL });
	cr_expect_eq(p.rc, GFS_CMDLINE_HELP);
	done(&p);
	parse(&p, (const char *[]){ "/m", "-V", NULL });
	cr_expect_eq(p.rc, GFS_CMDLINE_VERSION);
	done(&p);
}

/* Unit tests for common/path.c: path rules, URL coding, handles. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

static enum gfs_err check(const char *p)
{
	return gfs_path_check(p, strlen(p));
}

Test(path, accepts_plain_absolute_paths)
{
	cr_expect_eq(check("/"), GFS_OK);
	cr_expect_eq(check("/a"), GFS_OK);
	cr_expect_eq(check("/logs/2026/a.txt"), GFS_OK);
	cr_expect_eq(check("/.hidden/..x/x.."), GFS_OK);
}

Test(path, rejects_relative_empty_dot_and_dotdot)
{
	cr_expect_eq(check(""), GFS_EINVAL);
	cr_expect_eq(check("a"), GFS_EINVAL);
	cr_expect_eq(check("/a//b"), GFS_EINVAL);
	cr_expect_eq(check("/a/"), GFS_EINVAL);
	cr_expect_eq(check("/a/./b"), GFS_EINVAL);
	cr_expect_eq(check("/a/../b"), GFS_EINVAL);
	cr_expect_eq(check("/.."), GFS_EINVAL);
}

Test(path, rejects_embedded_nul)
{
	cr_expect_eq(gfs_path_check("/a\0b", 4), GFS_EINVAL);
}

Test(path, limits_component_and_total_length)
{
	char p[5000];

	p[0] = '/';
	memset(p + 1, 'x', 255);
	p[256] = '\0';
	cr_expect_eq(check(p), GFS_OK);
	p[256] = 'x';
	p[257] = '\0';
	cr_expect_eq(check(p), GFS_ENAMETOOLONG);
	for (int i = 0; i < 4999; i++)
		p[i] = (i % 100 == 0) ? '/' : 'y';
	p[4999] = '\0';
	cr_expect_eq(check(p), GFS_ENAMETOOLONG);
	p[4096] = '\0';
	cr_expect_eq(check(p), GFS_OK);
}

Test(path, url_decode_rejects_nul_and_bad_escapes)
{
	char *s = NULL;

	cr_assert_eq(gfs_url_decode("a%20b%2Fc+", 10, &s), GFS_OK);
	cr_expect_str_eq(s, "a b/c+");
	free(s);
	cr_expect_eq(gfs_url_decode("a%00b", 5, &s), GFS_EINVAL);
	cr_expect_eq(gfs_url_decode("a%2", 3, &s), GFS_EINVAL);
	cr_expect_eq(gfs_url_decode("a%zz", 4, &s), GFS_EINVAL);
}

Test(path, url_encode_round_trips)
{
	const char *in = "/dir with space/ü+%&?#x";
	char *enc = gfs_url_encode(in, true), *dec = NULL;

	cr_expect_null(strpbrk(enc, " +&?#"));
	cr_assert_eq(gfs_url_decode(enc, strlen(enc), &dec), GFS_OK);
	cr_expect_str_eq(dec, in);
	free(enc);
	free(dec);
	enc = gfs_url_encode("a/b", false);
	cr_expect_str_eq(enc, "a%2Fb");
	free(enc);
}

Test(path, user_names_get_a_leading_slash)
{
	char *p = NULL;

	cr_assert_eq(gfs_path_from_user("file_name", &p), GFS_OK);
	cr_expect_str_eq(p, "/file_name");
	free(p);
	cr_assert_eq(gfs_path_from_user("/a/b", &p), GFS_OK);
	cr_expect_str_eq(p, "/a/b");
	free(p);
	cr_expect_eq(gfs_path_from_user("../etc", &p), GFS_EINVAL);
	cr_expect_eq(gfs_path_from_user("", &p), GFS_EINVAL);
}

Test(path, handles_are_exactly_sixteen_hex_digits)
{
	uint64_t h = 0;
	char buf[17];

	gfs_handle_fmt(0x00ab00cd00ef0012ull, buf);
	cr_expect_str_eq(buf, "00ab00cd00ef0012");
	cr_expect(gfs_handle_parse("00ab00cd00ef0012", &h));
	cr_expect_eq(h, 0x00ab00cd00ef0012ull);
	cr_expect_not(gfs_handle_parse("00AB00cd00ef0012", &h));
	cr_expect_not(gfs_handle_parse("00ab00cd00ef001F", &h));
	cr_expect_not(gfs_handle_parse("00ab00cd00ef001", &h));
	cr_expect_not(gfs_handle_parse("00ab00cd00ef00123", &h));
	cr_expect_not(gfs_handle_parse("../../etc/passwd", &h));
	cr_expect_not(gfs_handle_parse("00ab00cd00ef001g", &h));
}

Test(path, names_must_be_utf8)
{
	cr_expect_eq(check("/caf\xc3\xa9/\xe2\x82\xac"), GFS_OK);
	cr_expect_eq(check("/\xff"), GFS_EILSEQ);
	cr_expect_eq(check("/a\xc3"), GFS_EILSEQ);         /* cut short */
	cr_expect_eq(check("/\xc0\xaf"), GFS_EILSEQ);      /* overlong '/' */
	cr_expect_eq(check("/\xed\xa0\x80"), GFS_EILSEQ); /* surrogate */
	cr_expect_eq(check("/\xf4\x90\x80\x80"), GFS_EILSEQ); /* > U+10FFFF */
	cr_expect(gfs_text_valid("user@host \xf0\x9f\x98\x80"));
	cr_expect_not(gfs_text_valid("user\xfe"));
}

Test(path, escape_keeps_text_and_writes_bad_bytes_as_hex)
{
	char *s = gfs_utf8_escape("/a\xff\xc3\xa9/\xc3");

	cr_assert_not_null(s);
	cr_expect_str_eq(s, "/a%FF\xc3\xa9/%C3");
	cr_expect(gfs_text_valid(s));
	free(s);
	s = gfs_utf8_escape("/plain");
	cr_expect_str_eq(s, "/plain");
	free(s);
}

Test(path, basename_and_under)
{
	cr_expect_str_eq(gfs_path_basename("/a/b/c.txt"), "c.txt");
	cr_expect(gfs_path_is_under("/a/b", "/a"));
	cr_expect(gfs_path_is_under("/a", "/a"));
	cr_expect_not(gfs_path_is_under("/ab", "/a"));
	cr_expect(gfs_path_is_under("/x", "/"));
}

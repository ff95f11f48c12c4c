/*
 * Unit tests for master/xattr.c: a node's user extended attributes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../master/xattr.h"

TestSuite(xattr, .timeout = 10);

Test(xattr, only_user_names_of_at_most_255_bytes_are_stored)
{
	char name[300];

	cr_assert_eq(gfs_xattr_check_name("user.a"), GFS_OK);
	cr_assert_eq(gfs_xattr_check_name("user."), GFS_EINVAL);
	cr_assert_eq(gfs_xattr_check_name("trusted.a"), GFS_EINVAL);
	cr_assert_eq(gfs_xattr_check_name("security.selinux"), GFS_EINVAL);
	cr_assert_eq(gfs_xattr_check_name("user.\xff"), GFS_EILSEQ);
	memset(name, 'x', sizeof(name));
	memcpy(name, "user.", 5);
	name[255] = '\0';
	cr_assert_eq(gfs_xattr_check_name(name), GFS_OK);
	name[255] = 'x';
	name[256] = '\0';
	cr_assert_eq(gfs_xattr_check_name(name), GFS_ENAMETOOLONG);
}

Test(xattr, set_replace_and_remove_keep_the_count_of_bytes)
{
	struct gfs_xattrs *table = NULL;
	const struct gfs_xattrs *xs;
	const struct gfs_xattr *x;
	const struct gfs_node *ino = (const struct gfs_node *)&table;

	gfs_xattr_set(&table, ino, "user.a", "12345", 5);
	gfs_xattr_set(&table, ino, "user.b", "", 0);
	xs = gfs_xattr_of(table, ino);
	cr_assert_eq(xs->n, 2);
	cr_assert_eq(xs->bytes, 6 + 5 + 6);
	gfs_xattr_set(&table, ino, "user.a", "x\0y", 3);
	x = gfs_xattr_find(xs, "user.a");
	cr_assert_not_null(x);
	cr_assert_eq(x->len, 3);
	cr_assert_eq(memcmp(x->value, "x\0y", 3), 0);
	cr_assert_eq(xs->bytes, 6 + 3 + 6);
	cr_assert_eq(xs->n, 2);
	cr_assert(gfs_xattr_remove(&table, ino, "user.a"));
	cr_assert_not(gfs_xattr_remove(&table, ino, "user.a"));
	cr_assert_null(gfs_xattr_find(xs, "user.a"));
	cr_assert_str_eq(xs->items[0].name, "user.b");
	cr_assert(gfs_xattr_remove(&table, ino, "user.b"));
	cr_assert_null(table, "the last removal frees everything");
}

Test(xattr, values_and_totals_have_limits)
{
	struct gfs_xattrs *table = NULL;
	const struct gfs_xattrs *xs = NULL;
	const struct gfs_node *ino = (const struct gfs_node *)&table;
	static char big[GFS_XATTR_VALUE_MAX + 1];

	cr_assert_eq(gfs_xattr_can_set(xs, "user.a", GFS_XATTR_VALUE_MAX),
		     GFS_OK);
	cr_assert_eq(gfs_xattr_can_set(xs, "user.a", GFS_XATTR_VALUE_MAX + 1),
		     GFS_ETOOBIG);
	gfs_xattr_set(&table, ino, "user.a", big, GFS_XATTR_VALUE_MAX);
	gfs_xattr_set(&table, ino, "user.b", big, GFS_XATTR_VALUE_MAX - 12);
	xs = gfs_xattr_of(table, ino);
	cr_assert_eq(xs->bytes, GFS_XATTR_TOTAL_MAX);
	cr_assert_eq(gfs_xattr_can_set(xs, "user.c", 0), GFS_ENOSPC);
	/* replacing counts the old value as gone */
	cr_assert_eq(gfs_xattr_can_set(xs, "user.b", GFS_XATTR_VALUE_MAX - 12),
		     GFS_OK);
	cr_assert_eq(gfs_xattr_can_set(xs, "user.b", GFS_XATTR_VALUE_MAX - 11),
		     GFS_ENOSPC);
	gfs_xattr_free_all(&table);
	cr_assert_null(table);
}

Test(xattr, inodes_have_their_own_and_drop_frees_them)
{
	struct gfs_xattrs *table = NULL;
	int a = 0, b = 0;
	const struct gfs_node *ia = (const void *)&a, *ib = (const void *)&b;

	gfs_xattr_set(&table, ia, "user.x", "1", 1);
	gfs_xattr_set(&table, ib, "user.x", "22", 2);
	cr_assert_eq(gfs_xattr_find(gfs_xattr_of(table, ia), "user.x")->len, 1);
	cr_assert_eq(gfs_xattr_find(gfs_xattr_of(table, ib), "user.x")->len, 2);
	gfs_xattr_drop(&table, ia);
	cr_assert_null(gfs_xattr_of(table, ia));
	cr_assert_not_null(gfs_xattr_of(table, ib));
	gfs_xattr_drop(&table, ia);
	gfs_xattr_free_all(&table);
	cr_assert_null(table);
}

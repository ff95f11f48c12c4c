/*
 * Unit tests for chunkserver/chunkmeta.c's reading of the file system
 * under the metas: where an xattr replaced in place survives a crash
 * whole (docs/CHUNKSERVER.md, "Crash safety on any file system").  The
 * meta format itself is tested through the store in test_chunkstore.c.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "../../chunkserver/chunkmeta.h"

static bool atomic(unsigned long type, int journal)
{
	const char *name = NULL;
	bool a = gfs_chunkmeta_fs_atomic(type, journal, &name);

	cr_expect(name && *name, "no name for 0x%lx", type);
	return a;
}

Test(chunkmeta, ext4_replaces_xattrs_atomically_only_with_a_journal)
{
	cr_expect(atomic(EXT4_SUPER_MAGIC, 1));
	cr_expect(!atomic(EXT4_SUPER_MAGIC, 0), "ext4 without a journal");
	cr_expect(!atomic(EXT4_SUPER_MAGIC, -1), "journal unknown");
}

Test(chunkmeta, journaled_and_copy_on_write_file_systems_are_atomic)
{
	cr_expect(atomic(XFS_SUPER_MAGIC, -1));
	cr_expect(atomic(BTRFS_SUPER_MAGIC, -1));
	cr_expect(atomic(REISERFS_SUPER_MAGIC, -1));
	cr_expect(atomic(0x2fc12fc1UL, -1), "zfs");
}

Test(chunkmeta, memory_file_systems_leave_nothing_to_tear)
{
	cr_expect(atomic(TMPFS_MAGIC, -1));
	cr_expect(atomic(RAMFS_MAGIC, -1));
}

Test(chunkmeta, unknown_file_systems_are_not_trusted)
{
	cr_expect(!atomic(0, -1));
	cr_expect(!atomic(MSDOS_SUPER_MAGIC, -1));
	cr_expect(!atomic(NFS_SUPER_MAGIC, -1));
	cr_expect(!atomic(OVERLAYFS_SUPER_MAGIC, -1), "overlay: depends");
	cr_expect(!atomic(F2FS_SUPER_MAGIC, -1));
}

/* The probe on a real tmpfs (root only; skipped otherwise). */
Test(chunkmeta, probe_reads_the_mounted_file_system)
{
	char dir[] = "/tmp/gfs-chunkmeta.XXXXXX";
	const char *name = NULL;
	bool a;
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	if (mount("tmpfs", dir, "tmpfs", 0, "size=1m") < 0) {
		rmdir(dir);
		cr_skip_test("cannot mount a tmpfs here");
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	a = fd >= 0 && gfs_chunkmeta_probe_fs(fd, &name);
	if (fd >= 0)
		close(fd);
	umount(dir);
	rmdir(dir);
	cr_expect(a);
	cr_expect(name && strstr(name, "tmpfs"), "named %s", name);
}

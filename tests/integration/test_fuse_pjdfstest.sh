#!/usr/bin/env bash
# pjdfstest files that used to kill gfs-fuse, plus a sample of the suite,
# on a mount (tests/integration/pjdfstest.sh; `make pjdfstest` runs it
# all): gfs-fuse lives throughout, and the files that killed it now pass:
#   truncate/12.t, ftruncate/12.t  truncate to 999999999999999 bytes
#                                  (the chunk map was an array of its size)
#   unlink/14.t                    read, write and fstat an open file
#                                  after its unlink
set -uo pipefail
here=$(dirname "$0")
out=$(bash "$here/pjdfstest.sh" truncate/12.t ftruncate/12.t unlink/14.t \
	open/00.t mkdir/00.t rmdir/00.t 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "FAIL: gfs-fuse died or hung under pjdfstest"; exit 1; }
count() { # DIR passed|failed
	echo "$out" | awk -v d="$1" -v w="$2" '$1 == d { for (i = 2; i < NF; i++) if ($(i + 1) == w) print $i }'
}
[ "$(count truncate passed)/$(count truncate failed)" = 3/0 ] ||
	{ echo "FAIL: truncate/12.t"; exit 1; }
[ "$(count ftruncate passed)/$(count ftruncate failed)" = 3/0 ] ||
	{ echo "FAIL: ftruncate/12.t"; exit 1; }
[ "$(count unlink passed)/$(count unlink failed)" = 7/0 ] ||
	{ echo "FAIL: unlink/14.t"; exit 1; }
echo "ok"

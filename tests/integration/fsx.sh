#!/usr/bin/env bash
# fsx.sh - run fsx (tests/fsx, vendored) on one file of a real mount.
#
#   GFS_BIN=build/bin FSX=build/fsx/fsx \
#       bash tests/integration/fsx.sh [FSX_ARGS...]
#
# Starts a cluster of three chunkservers with 1 MiB chunks and a mount
# (lib.sh), and runs fsx as root on one file in the mount with the options
# below plus FSX_ARGS (-N operations, -S seed, ...).  fsx checks every
# read against the data it wrote and the size after every operation, and
# stops at the first difference.  Prints the operations done and the time.
#
# Exit status: 0 when fsx finished without a difference; 1 when it found
# one (its log of the last operations, the .fsxlog and the expected
# content .fsxgood are printed or kept in the test's temp dir with KEEP=1),
# failed a system call, or overran FSX_TIMEOUT seconds (default 3600).
#
# Options (fsx -h):
#   -l 8 MiB -o 256 KiB  the file spans eight chunks and an operation up to
#                        a quarter of one, so writes, reads, truncates and
#                        mapped pages cross chunk boundaries often
#   -c 40                close and reopen the file one operation in 40:
#                        close commits (flush), open re-reads the size
#   -q                   print only failures
# Left on: read, write, mapped read and write (mmap(2) of the mount: the
# mount does not use direct_io), truncate, fallocate with mode 0 and with
# FALLOC_FL_KEEP_SIZE (fuse/ops.c supports both), copy_file_range (the
# kernel copies through read and write when the mount has no op for it).
# Turned off, as the mount answers EOPNOTSUPP (or the kernel has no way to
# ask it) and a file system may refuse them:
#   -H -z -C -I -u  punch hole, zero range, collapse range, insert range,
#                   unshare range (fallocate modes fuse/ops.c refuses)
#   -J -B -0        clone, dedupe and exchange range (ioctls the mount
#                   does not implement)
#   -a              atomic writes (RWF_ATOMIC: FUSE has none)
# fsx also probes for these at start and turns off what fails; it does so
# for RWF_DONTCACHE reads and writes (FUSE has none) without an option.
. "$(dirname "$0")/lib.sh"

: "${FSX:=$GFS_BIN/../fsx/fsx}"
[ -x "$FSX" ] || fail "$FSX missing (make build/fsx/fsx)"
FSX=$(cd "$(dirname "$FSX")" && pwd)/$(basename "$FSX")

start_cluster 3 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M"
FUSE_PID=${PIDS[-1]}

mkdir -p "$T/fsx"
args=(-q -l $((8 << 20)) -o $((256 << 10)) -c 40
	-H -z -C -I -u -J -B -0 -a -P "$T/fsx" "$@" "$M/fsx.file")
log "fsx ${args[*]}"
start=$SECONDS
timeout --kill-after=10 "${FSX_TIMEOUT:-3600}" "$FSX" "${args[@]}" \
	>"$T/fsx.out" 2>&1
rc=$?
secs=$((SECONDS - start))
if [ $rc -ne 0 ]; then
	tail -n 60 "$T/fsx.out" >&2
	kill -0 "$FUSE_PID" 2>/dev/null || log "gfs-fuse died"
	fail "fsx failed (status $rc) after ${secs}s"
fi
# "All N operations completed A-OK!"
ops=$(sed -n 's/^All \([0-9]*\) operations completed A-OK!$/\1/p' "$T/fsx.out")
[ -n "$ops" ] || { cat "$T/fsx.out" >&2; fail "fsx did not report completion"; }
kill -0 "$FUSE_PID" 2>/dev/null || fail "gfs-fuse died"
grep -v '^All .* A-OK!$' "$T/fsx.out" >&2 || true
echo "fsx: $ops operations, no mismatch, ${secs}s"

#!/usr/bin/env bash
# Sizes a user types cost nothing in proportion: truncate to ~1 PB, one
# byte written at 1 TB - 1 and at 1 PiB - 1 (dd seek=), fallocate; all
# work as sparse files (holes read as zeros) with gfs-fuse's memory flat.
# Beyond the largest file (2^32 - 1 chunks: 4 PiB - 1 MiB with 1 MiB
# chunks) truncate, write and fallocate fail with EFBIG.  A file shrunk
# and grown again reads zeros where its old bytes were.  Before: the
# chunk maps were arrays as long as the size, and truncate -s
# 999999999999999 killed gfs-fuse (out of memory).
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB
M=$T/mnt
mount_fuse "$M"
FUSE_PID=${PIDS[-1]}
cd "$T"
MAX=$(( (2**32 - 1) * 2**20 ))

touch "$M/big" || fail "touch"
truncate -s 999999999999999 "$M/big" || fail "truncate to 999999999999999"
assert_eq "$(stat -c %s "$M/big")" 999999999999999 "size after truncate"
assert_eq "$(tail -c 4 "$M/big" | od -An -tx1 | tr -d ' ')" 00000000 "a hole's tail"
truncate -s 10 "$M/big" || fail "truncate back"
assert_eq "$(stat -c %s "$M/big")" 10 "size after shrinking"

# one byte at 1 TB - 1 and at 1 PiB - 1, through dd seek=
for off in $((2**40 - 1)) $((2**50 - 1)); do
	printf x | dd of="$M/sparse$off" bs=1 seek=$off conv=notrunc status=none ||
		fail "dd seek=$off"
	assert_eq "$(stat -c %s "$M/sparse$off")" $((off + 1)) "size of sparse$off"
	assert_eq "$(tail -c 1 "$M/sparse$off")" x "last byte of sparse$off"
	assert_eq "$(head -c 3 "$M/sparse$off" | od -An -tx1 | tr -d ' ')" 000000 \
		"first bytes of sparse$off"
done
# the map of a sparse file read back from the master is sparse too
assert_eq "$(getfattr -n user.gfs.chunks --only-values "$M/sparse$((2**50 - 1))" | wc -l)" 1 \
	"chunks of the 1 PiB sparse file"

# the largest size works, one byte more is EFBIG
truncate -s $MAX "$M/max" || fail "truncate to the largest size"
out=$(truncate -s $((MAX + 1)) "$M/max" 2>&1) && fail "truncate past the largest size"
echo "$out" | grep -q "File too large" || fail "truncate past the largest size: $out"
assert_eq "$(stat -c %s "$M/max")" $MAX "size after a refused truncate"
printf y | dd of="$M/max" bs=1 seek=$((MAX - 1)) conv=notrunc status=none ||
	fail "write of the last byte"
out=$(printf z | dd of="$M/max" bs=1 seek=$MAX conv=notrunc status=none 2>&1) &&
	fail "write past the largest size"
echo "$out" | grep -q "File too large" || fail "write past the largest size: $out"
assert_eq "$(tail -c 1 "$M/max")" y "last byte of the largest file"

# fallocate grows the size (holes read as zeros), EFBIG past the largest
fallocate -l 5000000 "$M/falloc" || fail "fallocate"
assert_eq "$(stat -c %s "$M/falloc")" 5000000 "size after fallocate"
fallocate -o 0 -l 100 "$M/falloc" || fail "fallocate inside the file"
assert_eq "$(stat -c %s "$M/falloc")" 5000000 "fallocate inside must not shrink"
cmp -n 5000000 "$M/falloc" /dev/zero || fail "fallocated bytes are not zeros"
out=$(fallocate -l $((MAX + 1)) "$M/falloc" 2>&1) && fail "fallocate past the largest size"
echo "$out" | grep -q "File too large" || fail "fallocate past the largest size: $out"
fallocate -p -o 0 -l 100 "$M/falloc" 2>/dev/null && fail "punching holes is not supported"

# shrink, then grow: the old bytes never come back (read back in place,
# and after the close, which commits), also through O_TRUNC
random_file orig $((5 << 19))
cp orig "$M/shrink" || fail "cp shrink"
cp orig "$M/otrunc" || fail "cp otrunc"
perl -e '
use strict; use Fcntl;
my ($f, $g) = @ARGV;
sub fail { print "FAIL: @_\n"; exit 1 }
sub pread { my ($h, $len, $off) = @_; my $b = "";
	sysseek($h, $off, 0); defined sysread($h, $b, $len) or fail "read: $!"; $b }
sysopen(my $h, $f, O_RDWR) or fail "open: $!";
truncate($h, 100) or fail "shrink: $!";
truncate($h, 5 << 19) or fail "grow: $!";
pread($h, (5 << 19) - 100, 100) eq "\0" x ((5 << 19) - 100) or fail "old bytes after shrink and grow";
sysseek($h, 3 << 19, 0); syswrite($h, "X" x 10) == 10 or fail "write: $!";
pread($h, 20, (3 << 19) - 5) eq ("\0" x 5) . ("X" x 10) . ("\0" x 5) or fail "old bytes around a write";
close $h or fail "close: $!";
sysopen($h, $g, O_RDWR | O_TRUNC) or fail "open O_TRUNC: $!";
syswrite($h, "abc") == 3 or fail "write after O_TRUNC";
truncate($h, 2 << 20) or fail "grow after O_TRUNC: $!";
close $h or fail "close: $!";
print "ok\n";
' "$M/shrink" "$M/otrunc" | grep -q "^ok" || fail "shrink and grow"
head -c 100 orig >want
truncate -s $((5 << 19)) want
printf XXXXXXXXXX | dd of=want bs=1 seek=$((3 << 19)) conv=notrunc status=none
assert_same_file want "$M/shrink" "shrunk and grown file after its close"
printf abc >want
truncate -s $((2 << 20)) want
assert_same_file want "$M/otrunc" "O_TRUNC, then grown"

# memory stayed flat: nothing was allocated in proportion to these sizes
# (not under make asan: its shadow memory counts too)
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$FUSE_PID/status")
[ "${GFS_ASAN:-0}" = 1 ] || [ "$hwm" -lt $((96 * 1024)) ] ||
	fail "gfs-fuse peaked at ${hwm} KiB"
kill -0 "$FUSE_PID" || fail "gfs-fuse died"
log "ok (gfs-fuse peak RSS ${hwm} KiB)"

#!/usr/bin/env bash
# The mount against a hostile program: names of 255 and 256 bytes, names
# that are not UTF-8 (EILSEQ), huge offsets for pread and pwrite, racing
# O_APPEND writers, many files open at once, listings while the files go,
# huge xattr values.  Every call returns an errno or works; gfs-fuse lives.
. "$(dirname "$0")/lib.sh"

start_cluster 3 --chunk-size 1MiB --replicas 1
M=$T/mnt
mount_fuse "$M"
FUSE_PID=${PIDS[-1]}
cd "$T"
alive() { kill -0 "$FUSE_PID" || fail "gfs-fuse died ($1)"; log "$1: ok"; }

# ---- names of 255 and 256 bytes
n255=$(printf 'a%.0s' $(seq 1 255))
n256=${n255}b
echo hello >"$M/$n255" || fail "create a 255-byte name"
assert_eq "$(cat "$M/$n255")" hello "read a 255-byte name"
ls "$M" | grep -qx "$n255" || fail "a 255-byte name is not listed"
mkdir "$M/d$n255" 2>/dev/null && fail "mkdir of a 256-byte name"
mkdir "$M/${n255%a}" || fail "mkdir of a 254-byte name"
mv "$M/$n255" "$M/${n255%a}/$n255" || fail "rename to a 255-byte name"
for op in "touch $M/$n256" "mkdir $M/$n256" "mv $M/${n255%a}/$n255 $M/$n256"; do
	out=$($op 2>&1) && fail "$op worked"
	echo "$out" | grep -q "File name too long" || fail "$op: $out"
done
assert_eq "$(cat "$M/${n255%a}/$n255")" hello "the file after refused renames"
alive names

# ---- names that are not UTF-8: EILSEQ, nothing made
for bad in $'\xff' $'caf\xe9' $'\xc0\xaf' $'\xed\xa0\x80'; do
	for op in touch mkdir; do
		out=$($op "$M/$bad" 2>&1) && fail "$op of a non-UTF-8 name worked"
		echo "$out" | grep -q "Invalid or incomplete multibyte" ||
			fail "$op of a non-UTF-8 name: $out"
	done
	out=$(mv "$M/${n255%a}/$n255" "$M/$bad" 2>&1) && fail "rename to a non-UTF-8 name"
	echo "$out" | grep -q "Invalid or incomplete multibyte" ||
		fail "rename to a non-UTF-8 name: $out"
	[ -e "$M/$bad" ] && fail "a non-UTF-8 name exists"
done
echo ok >"$M/café ☃" || fail "a UTF-8 name"
assert_eq "$(cat "$M/café ☃")" ok "a UTF-8 name"
ls "$M" >/dev/null || fail "ls after non-UTF-8 names"
alive "non-UTF-8 names"

# ---- huge offsets: EFBIG past the largest file, holes and EOF read empty
echo data >"$M/off"
perl -e '
use strict; use Fcntl; use POSIX qw(EFBIG EINVAL);
my $f = shift; $| = 1;
sub fail { print "FAIL: @_\n"; exit 1 }
sysopen(my $h, $f, O_RDWR) or fail "open";
for my $off (4611686018427387904, 9223372036854775806) {
	sysseek($h, $off, 0) or fail "seek to $off: $!";
	defined syswrite($h, "x") and fail "a write at $off worked";
	$! == EFBIG || $! == EINVAL or fail "write at $off: $!";
	sysseek($h, $off, 0) or fail "seek to $off: $!";
	my $b; my $n = sysread($h, $b, 1);
	defined $n && $n == 0 or fail "read at $off: " . ($n // $!);
}
print "offsets ok\n";
' "$M/off" >"$T/off.out"; grep -q "^offsets ok" "$T/off.out" || fail "huge offsets: $(cat "$T/off.out")"
assert_eq "$(cat "$M/off")" data "the file after huge offsets"
alive offsets

# ---- O_APPEND: writers racing in one mount lose no line
perl -e '
use strict; use Fcntl;
my ($f, $procs, $lines) = @ARGV;
for my $p (1 .. $procs) {
	next if fork;
	sysopen(my $h, $f, O_WRONLY | O_APPEND | O_CREAT, 0644) or die "open: $!";
	for my $i (1 .. $lines) {
		my $l = sprintf("%02d-%04d-%s\n", $p, $i, "x" x 80);
		syswrite($h, $l) == length $l or die "write: $!";
	}
	close $h or die "close: $!";
	exit 0;
}
my $bad = 0;
while (wait() > 0) { $bad++ if $? }
exit($bad ? 1 : 0);
' "$M/append" 4 250 || fail "an appender failed"
assert_eq "$(wc -l <"$M/append")" 1000 "lines appended"
assert_eq "$(sort -u "$M/append" | grep -c '^[0-9][0-9]-[0-9]\{4\}-x\{80\}$')" 1000 \
	"distinct whole lines appended"
# short appends through the shell: open, write, close (a commit each)
appenders=()
for p in 1 2 3; do
	(for i in $(seq 1 40); do echo "$p-$i" >>"$M/append2"; done) &
	appenders+=($!)
done
for p in "${appenders[@]}"; do wait "$p" || fail "a shell appender failed"; done
assert_eq "$(sort -u "$M/append2" | wc -l)" 120 "lines appended by the shell"
alive "O_APPEND"

# ---- many files open at once
mkdir "$M/many"
perl -e '
use strict; use Fcntl;
my ($d, $n) = @ARGV; my @h;
for my $i (1 .. $n) {
	sysopen($h[$i], "$d/f$i", O_RDWR | O_CREAT, 0644) or die "open $i: $!";
}
for my $i (1 .. $n) { syswrite($h[$i], "file $i\n") or die "write $i: $!" }
for my $i (1 .. $n) { close $h[$i] or die "close $i: $!" }
' "$M/many" 600 || fail "600 files open at once"
assert_eq "$(cat "$M/many/f600")" "file 600" "the last of many files"
assert_eq "$(ls "$M/many" | wc -l)" 600 "many files listed"
alive "many open files"

# ---- listings while the files go
(
	for i in $(seq 1 60); do ls -f "$M/many" >/dev/null 2>&1; ls -l "$M/many" >/dev/null 2>&1; done
) &
lister=$!
find "$M/many" -type f -delete || fail "deleting while listing"
wait "$lister"
rmdir "$M/many" || fail "rmdir after deleting while listing"
alive "listings during deletes"

# ---- huge xattr values
big=$(head -c 70000 /dev/zero | tr '\0' 1)
out=$(setfattr -n user.gfs.lease -v "$big" "$M/off" 2>&1) && fail "a 70000-byte xattr value"
out=$(setfattr -n user.gfs.lease -v "${big:0:65536}" "$M/off" 2>&1) &&
	fail "a 64 KiB lease value"
echo "$out" | grep -q "Invalid argument" || fail "a 64 KiB lease value: $out"
out=$(setfattr -n user.other -v "$big" "$M/off" 2>&1) && fail "a 70000-byte user.other"
setfattr -n user.other -v "${big:0:65536}" "$M/off" || fail "a 64 KiB user.other"
assert_eq "$(getfattr --only-values -n user.other "$M/off" | wc -c)" 65536 "64 KiB read back"
out=$(setfattr -n user.gfs.lease -v ttl=99999999999999999999999 "$M/off" 2>&1) &&
	fail "a huge lease TTL"
# a chunk list past 64 KiB: E2BIG, not a truncated or huge reply
perl -e '
use strict; use Fcntl;
sysopen(my $h, shift, O_WRONLY | O_CREAT, 0644) or die "open: $!";
for my $i (0 .. 1399) { sysseek($h, $i * 1048576, 0); syswrite($h, "x") or die "write: $!" }
close $h or die "close: $!";
' "$M/chunky" || fail "writing 1400 chunks"
out=$(getfattr -n user.gfs.chunks --only-values "$M/chunky" 2>&1) && fail "a 75 KB chunk list"
echo "$out" | grep -q "Argument list too long" || fail "a long chunk list: $out"
getfattr -d "$M/chunky" >/dev/null 2>&1
alive "xattrs"
log "ok"

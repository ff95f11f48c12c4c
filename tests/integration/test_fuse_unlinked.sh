#!/usr/bin/env bash
# A file removed while open (unlink, or a rename over it) stays readable
# through its descriptors until the last close (POSIX), writes into what
# it holds work, ftruncate works, and nothing of it
# comes back: not at its old path, not over a new file made there.  An
# unlinked one is kept by the master meanwhile: a write that needs a new
# chunk gets one, and its chunks are no garbage for chunkservers that
# restart and report them (test_fuse_unlinked_kept.sh: past heartbeats,
# the last close and a crash); a directory removed while open lists
# nothing.  Heartbeats are 5 minutes apart here.  Before: gfs-fuse died
# at the first read after the unlink (libfuse gives a NULL path).
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB --dead-after 600s
start_chunkservers 3 --heartbeat-interval 300s
M=$T/mnt
mount_fuse "$M"
FUSE_PID=${PIDS[-1]}
cd "$T"
random_file old $((3 << 20))
cp old "$M/old" || fail "cp old"
cp old "$M/old2" || fail "cp old2"
echo A-contents >"$M/same" || fail "same"
echo T-contents >"$M/tgt" || fail "tgt"
echo S-contents >"$M/src" || fail "src"
mkdir "$M/d" || fail "mkdir"
cp old "$M/gcd" || fail "gcd"
gcd_handles=$(getfattr -n user.gfs.chunks --only-values "$M/gcd" | awk '{ print $2 }')
[ -n "$gcd_handles" ] || fail "no chunks listed for gcd"

perl -e '
use strict; use Fcntl; use POSIX qw(ENOENT);
my ($m, $root, @gcd) = @ARGV;
$| = 1;
sub fail { print "FAIL: @_\n"; exit 1 }
sub pread { my ($fh, $len, $off) = @_; my $b = "";
	sysseek($fh, $off, 0) or fail "seek"; my $n = sysread($fh, $b, $len);
	defined $n or fail "read: $!"; return $b }
sub pwrite { my ($fh, $data, $off) = @_;
	sysseek($fh, $off, 0) or fail "seek"; return syswrite($fh, $data) }

# removed first, read last: after the chunkservers dropped its chunks
sysopen(my $g, "$m/gcd", O_RDONLY) or fail "open gcd: $!";
unlink "$m/gcd" or fail "unlink gcd";

# a committed file of 3 chunks reads whole after its unlink
sysopen(my $o, "$m/old", O_RDONLY) or fail "open old";
unlink "$m/old" or fail "unlink old";
open(my $out, ">", "old.read") or fail "old.read";
my $b; while (sysread($o, $b, 65536)) { print $out $b } close $out;
close $o;

# a new file: its writes read back after the unlink, in place
sysopen(my $n, "$m/new", O_RDWR | O_CREAT | O_EXCL, 0644) or fail "create new";
pwrite($n, "hello world", 0) == 11 or fail "write new";
unlink "$m/new" or fail "unlink new";
pread($n, 100, 0) eq "hello world" or fail "read after unlink";
pwrite($n, " again", 11) == 6 or fail "write after unlink: $!";
pread($n, 100, 0) eq "hello world again" or fail "read own write after unlink";
truncate($n, 5) or fail "ftruncate after unlink: $!";
pread($n, 100, 0) eq "hello" or fail "read after ftruncate";
# fstat, fchmod, futimes: the kernel sends these without the handle, by
# the hidden name libfuse gave the removed file
chmod(0600, $n) or fail "fchmod after unlink: $!";
utime(undef, undef, $n) or fail "futimes after unlink: $!";
my @st = stat($n) or fail "fstat after unlink: $!";
($st[2] & 07777) == 0600 && $st[3] == 0 or fail "fstat after unlink: mode or nlink";
close $n or fail "close new: $!";
-e "$m/new" and fail "new came back after its last close";

# a new file made at the removed path is not touched by the old handle
sysopen(my $s, "$m/same", O_RDWR) or fail "open same";
unlink "$m/same" or fail "unlink same";
open(my $s2, ">", "$m/same") or fail "recreate same"; print $s2 "B-contents\n"; close $s2;
truncate($s, 1) or fail "ftruncate old same";
close $s;

# a rename over an open file: the old descriptor keeps the old file
sysopen(my $t, "$m/tgt", O_RDWR) or fail "open tgt";
rename("$m/src", "$m/tgt") or fail "rename over tgt";
pread($t, 100, 0) eq "T-contents\n" or fail "replaced file reads the new one";
truncate($t, 0) or fail "ftruncate replaced";
close $t;

# a write that needs a new chunk from the master gets it for the kept
# file, and reads back; the rest reads on
sysopen(my $w, "$m/old2", O_RDWR) or fail "open old2";
unlink "$m/old2" or fail "unlink old2";
pwrite($w, "x", 5) == 1 or fail "a write needing a new chunk: $!";
pread($w, 1, 5) eq "x" or fail "read of a write after unlink";
length(pread($w, 4096, 2 << 20)) == 4096 or fail "read after a write";
close $w;

# a directory removed while open lists nothing
opendir(my $d, "$m/d") or fail "opendir";
rmdir "$m/d" or fail "rmdir";
my @names = grep { $_ ne "." && $_ ne ".." } readdir($d);
@names == 0 or fail "removed directory lists @names";
closedir $d;

# the master keeps gcd while it is open: its chunks are no garbage for
# chunkservers that restart and report them
print "gc-wait\n";
my $until = time + 60;
until (-e "$root/restarted") {
	time < $until or fail "the chunkservers never restarted";
	select(undef, undef, undef, 0.1);
}
open(my $src, "<", "$root/old") or fail "old"; sysread($src, my $want, 4096);
pread($g, 4096, 0) eq $want or fail "gcd after the chunkservers restarted";
close $g;
print "perl ok\n";
' "$M" "$T" $gcd_handles >"$T/perl.out" &
perl_pid=$!
# (or the checks failed and perl is gone)
at_gc() { grep -q "^gc-wait" "$T/perl.out" || ! kill -0 "$perl_pid"; }
wait_for 60 "the checks before the collection" at_gc
for i in 0 1 2; do
	kill9 "${CS_PIDS[$i]}"
	start_chunkserver "$i" --heartbeat-interval 300s
done
touch "$T/restarted"
wait "$perl_pid"
cat "$T/perl.out"
grep -q "^perl ok" "$T/perl.out" || fail "$(cat "$T/perl.out")"
kill -0 "$FUSE_PID" || fail "gfs-fuse died"
assert_same_file old old.read "the unlinked file's contents"
assert_eq "$(cat "$M/same")" B-contents "the file made at a removed path"
assert_eq "$(cat "$M/tgt")" S-contents "the file renamed over an open one"
[ -e "$M/old" ] || [ -e "$M/old2" ] && fail "an unlinked file came back"
gfs stat /new >/dev/null 2>&1 && fail "the master knows the unlinked new file"
log "ok"

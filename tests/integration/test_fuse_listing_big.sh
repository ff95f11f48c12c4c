#!/usr/bin/env bash
# A directory of 200,000 entries (LISTING_N) listed through `gfs ls` and
# through the mount (`ls -f`): every entry once, and the peak memory of
# each side (master, gfs, gfs-fuse) grows by less than LISTING_MAX_MB
# while listing.  The state comes from gfs-mdstate (bench/mdstate.c), so
# the test does not wait for 200,000 creates.
# Before: each side held the whole listing at once (a JSON array of every
# entry in the master, the client, the CLI and the mount), about 10x the
# bound here for 200,000 entries (figures in the commit that added this).
. "$(dirname "$0")/lib.sh"
export T
MDSTATE=$GFS_BIN/../bench/gfs-mdstate
[ -x "$MDSTATE" ] || fail "no $MDSTATE (make $(basename "$(dirname "$GFS_BIN")")/bench/gfs-mdstate)"
N=${LISTING_N:-200000}
MAX_KB=$((${LISTING_MAX_MB:-50} * 1024))
# AddressSanitizer keeps freed memory in quarantine: peaks mean nothing
[ "${GFS_ASAN:-0}" = 1 ] && MAX_KB=$((1 << 30))

start_master --probation 500ms
kill -TERM "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null
rm -rf "$T/master" && mkdir -p "$T/master"
"$MDSTATE" --per-dir "$N" "$T/master" "$N" "$MASTER_URL" >/dev/null ||
	fail "gfs-mdstate"
restart_master --probation 500ms
M=$T/mnt
mount_fuse "$M"
D=/many/d0000

# kB of a process's status field (VmHWM: peak resident set)
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# forget a process's peak: VmHWM restarts from its resident set now
reset_peak() { echo 5 >"/proc/$1/clear_refs"; }
# growth of pid's peak over its resident set when reset_peak ran
grown_kb() { echo $(($(status_kb "$1" VmHWM) - $2)); }

reset_peak "$MASTER_PID"
m0=$(status_kb "$MASTER_PID" VmRSS)
t0=$(date +%s%N)
/usr/bin/time -f %M -o "$T/gfs.kb" "$GFS_BIN/gfs" --master "$MASTERS" ls "$D" \
	>"$T/ls.txt" || fail "gfs ls $D"
t1=$(date +%s%N)
assert_eq "$(wc -l <"$T/ls.txt")" "$N" "gfs ls: lines"
assert_eq "$(awk '{ print $NF }' "$T/ls.txt" | sort -u | wc -l)" "$N" \
	"gfs ls: distinct names"
gfs_kb=$(cat "$T/gfs.kb")
master_kb=$(grown_kb "$MASTER_PID" "$m0")
log "gfs ls of $N entries: $(((t1 - t0) / 1000000)) ms, gfs peak ${gfs_kb} kB," \
	"master peak +${master_kb} kB"
[ "$gfs_kb" -lt "$MAX_KB" ] || fail "gfs ls peak ${gfs_kb} kB"
[ "$master_kb" -lt "$MAX_KB" ] || fail "master peak +${master_kb} kB for gfs ls"

FUSE_PID=$(pgrep -f "gfs-fuse --master $MASTERS -f $M\$" | head -1)
[ -n "$FUSE_PID" ] || fail "no gfs-fuse process"
reset_peak "$MASTER_PID"
reset_peak "$FUSE_PID"
m0=$(status_kb "$MASTER_PID" VmRSS)
f0=$(status_kb "$FUSE_PID" VmRSS)
t0=$(date +%s%N)
ls -f "$M$D" >"$T/lsf.txt" || fail "ls -f through the mount"
t1=$(date +%s%N)
# ls -f lists . and .. too
assert_eq "$(wc -l <"$T/lsf.txt")" $((N + 2)) "ls -f: lines"
assert_eq "$(sort -u "$T/lsf.txt" | wc -l)" $((N + 2)) "ls -f: distinct names"
fuse_kb=$(grown_kb "$FUSE_PID" "$f0")
master_kb=$(grown_kb "$MASTER_PID" "$m0")
log "ls -f of $N entries: $(((t1 - t0) / 1000000)) ms, gfs-fuse peak" \
	"+${fuse_kb} kB, master peak +${master_kb} kB"
[ "$fuse_kb" -lt "$MAX_KB" ] || fail "gfs-fuse peak +${fuse_kb} kB"
[ "$master_kb" -lt "$MAX_KB" ] || fail "master peak +${master_kb} kB for ls -f"

# POSIX readdir through the mount across pages: telldir/seekdir come back
# to the same entry, and while a reader is half way, names come and go:
# every name there throughout is read exactly once.
churn() {
	local i
	for i in $(seq 1 50); do
		curl -sf -X PUT "$MASTER_URL/api/v1/files$D/new$i" -o /dev/null || return 1
		curl -sf -X DELETE "$MASTER_URL/api/v1/files$D/f$(printf %07d "$i")" -o /dev/null || return 1
	done
}
export -f churn
export MASTER_URL D
perl -e '
	my ($dir, $half) = @ARGV;
	opendir(my $d, $dir) or die "opendir: $!";
	my (%seen, @names);
	for (1 .. $half) { my $n = readdir($d); die "short" unless defined $n; push @names, $n; }
	my $t = telldir($d);
	my @a = map { scalar readdir($d) } 1 .. 10;
	seekdir($d, $t);
	my @b = map { scalar readdir($d) } 1 .. 10;
	die "seekdir: @a != @b" unless "@a" eq "@b";
	seekdir($d, $t);
	system("bash", "-c", "churn") == 0 or die "churn";
	while (defined(my $n = readdir($d))) { push @names, $n; }
	$seen{$_}++ for @names;
	my @twice = grep { $seen{$_} > 1 } keys %seen;
	die "listed twice: @twice[0..4]" if @twice;
	open(my $o, ">", "$ENV{T}/names") or die; print $o "$_
" for @names;
' "$M$D" $((N / 2)) || fail "readdir with seekdir and churn"
# every original name not removed (f0000001..50 went) was read
missing=$(seq -f 'f%07g' 51 $((N - 1)) | sort | comm -23 - <(sort "$T/names") | head -3)
[ -z "$missing" ] || fail "names there throughout not read: $missing"
log "ok: $N entries listed once each, memory bounded on every side"

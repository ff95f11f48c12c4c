#!/usr/bin/env bash
# rmwalk.sh - where `rm f*` spends its time in make bench's small-file
# round: NFILES files of 4 KiB made with split, a stat round and a read
# round after drop_caches (as bench/bench.sh), then `rm -f f*` timed.
# Printed per round: rm's wall time; how many of rm's lstats reached the
# master as GET /files/P?stat=1, and how many listing pages the mount
# fetched (the glob's, and the statahead's: common/statahead.c); the
# summed time of the mount's getattrs of the files and of its unlinks.
#
# usage: bench/rmwalk.sh BINDIR [NFILES] [ROUNDS]   (default 2000, 3)
# Compare builds by running it for each, interleaved (the VM is noisy).
set -uo pipefail
GFS_BIN=${1:?usage: rmwalk.sh BINDIR [NFILES] [ROUNDS]}
N=${2:-2000}
ROUNDS=${3:-3}
export GFS_BIN
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/integration/lib.sh"
. "$HERE/lib.sh"

start_master
start_backup
start_chunkservers 3
A=$T/a
mount_fuse "$A" --log-level debug
L=$T/fuse-a.log
mkdir "$A/small" || fail "mkdir in the mount"
head -c $((N * 4096)) /dev/urandom >"$T/small.src"
# sum WHAT FROM: the time of the mount's WHAT lines after line FROM
sum() {
	tail -n +"$2" "$L" | grep -o "time fuse $1 [0-9]*us" |
		awk '{ s += $NF + 0 } END { printf "%d ms over %d", s / 1000, NR }'
}
for ((r = 1; r <= ROUNDS; r++)); do
	cd "$A/small" || fail "cd"
	split -b 4096 -a 5 -d "$T/small.src" f || fail "split"
	drop_caches
	stat -c '' f* >/dev/null || fail "stat"
	drop_caches
	cat f* >/dev/null || fail "read"
	sha256sum f* >/dev/null || fail "sha256sum"
	from=$(($(wc -l <"$L") + 1))
	t0=$(now)
	rm -f f* || fail "rm"
	t1=$(now)
	cd "$T" || fail "cd"
	stats=$(tail -n +"$from" "$L" | grep -c 'time http GET [^ ]*/files/small/f[0-9]*?stat=1 ')
	pages=$(tail -n +"$from" "$L" | grep -c 'time http GET [^ ]*/files?dir=')
	echo "round $r: rm $(secs "$t0" "$t1") s ($(awk -v s="$(secs "$t0" "$t1")" -v n="$N" 'BEGIN { printf "%d", n / s }') files/s);" \
		"$stats stats, $pages listing pages; getattr $(sum 'getattr /small/f[0-9]*' "$from"); unlink $(sum 'unlink /small/f[0-9]*' "$from")"
done

#!/usr/bin/env bash
# breakdown.sh - where the time of one small file goes: a cluster like
# make bench's (primary + backup master, 4 chunkservers, 3 replicas), every
# program at --log-level debug, NFILES files of 4 KiB created one after
# another through the mount with split (as bench.sh and the peers' scripts
# do), then removed with rm; bench/breakdown.py turns the programs' "time"
# lines into the median of each step, and adds what this machine charges
# any file system for a step (bench/floor.py: fdatasync, a FUSE request)
# and the floor of a durable delete (docs/PERFORMANCE.md).
#
# usage: bench/breakdown.sh BINDIR [NFILES]   (default 200)
# env:   BENCH_CS_ARGS: more chunkserver flags (--ack-in-memory)
# Debug logging costs a little itself (a line per step): compare the wall
# time per file with make bench's small-file figure.
set -uo pipefail
GFS_BIN=${1:?usage: breakdown.sh BINDIR [NFILES]}
N=${2:-200}
export GFS_BIN
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/integration/lib.sh"
. "$HERE/lib.sh"

start_master --log-level debug
start_backup --log-level debug
# shellcheck disable=SC2086
start_chunkservers 4 --log-level debug ${BENCH_CS_ARGS:-}
M=$T/mnt
mount_fuse "$M" --log-level debug
head -c $((N * 4096)) /dev/urandom >"$T/small.src"
mkdir "$M/bd" || fail "mkdir in the mount"
cd "$M/bd" || fail "cd $M/bd"
t0=$(now)
split -b 4096 -a 5 -d "$T/small.src" f || fail "split into the mount"
t1=$(now)
CREATE_S=$(secs "$t0" "$t1")
t0=$(now)
rm -f f* || fail "rm in the mount"
t1=$(now)
DELETE_S=$(secs "$t0" "$t1")
# what this machine charges any file system per step (floor.py)
echo x >"$M/bd/floor" || fail "write $M/bd/floor"
python3 "$HERE/floor.py" "$T" "$M/bd/floor" "$T/floor.json" ||
	fail "floor.py"
cd "$T" || fail "cd $T"
mkdir -p "$T/logs"
cp "$T/master.log" "$T/logs/master.log"
cp "$T/fuse-mnt.log" "$T/logs/fuse.log"
cp "$T"/cs*.log "$T/logs/"
python3 "$HERE/breakdown.py" "$T/logs" "$N" "$CREATE_S" "$DELETE_S" \
	"$T/floor.json" ||
	fail "breakdown.py"

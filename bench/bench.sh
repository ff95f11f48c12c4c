#!/usr/bin/env bash
# bench.sh - make bench: throughput and metadata figures of a local cluster
# (primary + backup master, 4 chunkservers, 3 replicas, 64 MiB chunks),
# each printed beside a baseline measured in the same run on the same disk:
#
#   upload / FUSE write   vs the same bytes written 3x locally (dd conv=fsync)
#   download / FUSE read  vs one local read, both after drop_caches
#   small files (FUSE)    vs the same create/stat/read/delete on local disk
#   metadata              creates and lookups per second (no baseline)
#   master restart        time to serve again with 100,000 files, RSS/file
#
# The method of the small-file and FUSE figures is the one of
# ../shared/bench/peer-*.sh (split -b 4096, dd bs=1M), so that the ratios
# compare with MooseFS and GlusterFS run on the same machine.
#
# usage: bench/bench.sh BINDIR BENCHDIR
# env:   BENCH_SIZE (default 1G), BENCH_FILES (default 2000),
#        BENCH_MDFILES (default 100000)
set -uo pipefail
GFS_BIN=${1:?usage: bench.sh BINDIR BENCHDIR}
BENCH_BIN=${2:?usage: bench.sh BINDIR BENCHDIR}
export GFS_BIN
. "$(dirname "$0")/../tests/integration/lib.sh"

SIZE=${BENCH_SIZE:-1G}
NFILES=${BENCH_FILES:-2000}
MDFILES=${BENCH_MDFILES:-100000}
BYTES=$(numfmt --from=iec "${SIZE%B}")
MIB=$((BYTES >> 20))
ROWS=()

now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b - a}'; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
mibs() { awk -v m="$MIB" -v s="$1" 'BEGIN{printf "%.1f", m / s}'; }
fps() { awk -v n="$2" -v s="$1" 'BEGIN{printf "%.0f", n / s}'; }
row() { ROWS+=("$(printf '| %-44s | %10s | %10s | %6s |' "$1" "$2" "$3" \
	"$(awk -v a="$2" -v b="$3" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')")"); }
rss_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

log "cluster: master + backup + 4 chunkservers, 64 MiB chunks, 3 replicas"
start_master
start_backup
start_chunkservers 4
M=$T/mnt
mount_fuse "$M"
cd "$T"
log "generating $MIB MiB of random data"
head -c "$BYTES" /dev/urandom >src.bin
SRC_SHA=$(sha src.bin)

# ---- baselines
drop_caches; cat src.bin >/dev/null
t0=$(now)
for c in 1 2 3; do dd if=src.bin of="local$c" bs=1M conv=fsync status=none; done
t1=$(now); W_LOCAL=$(secs "$t0" "$t1")
rm -f local2 local3
drop_caches
t0=$(now); dd if=local1 of=/dev/null bs=1M status=none; t1=$(now)
R_LOCAL=$(secs "$t0" "$t1")
rm -f local1

# ---- gfs upload / download
drop_caches; cat src.bin >/dev/null
t0=$(now)
/usr/bin/time -f %M -o upload.rss "$GFS_BIN/gfs" --master "$MASTERS" upload src.bin /big.bin >/dev/null ||
	fail "upload"
t1=$(now); W_GFS=$(secs "$t0" "$t1")
drop_caches
t0=$(now)
/usr/bin/time -f %M -o download.rss "$GFS_BIN/gfs" --master "$MASTERS" download /big.bin - >down.bin ||
	fail "download"
t1=$(now); R_GFS=$(secs "$t0" "$t1")
[ "$(sha down.bin)" = "$SRC_SHA" ] || fail "download differs"
rm -f down.bin
CS_RSS=0
for p in "${CS_PIDS[@]}"; do r=$(rss_kb "$p"); [ "$r" -gt "$CS_RSS" ] && CS_RSS=$r; done
"$GFS_BIN/gfs" --master "$MASTERS" rm /big.bin

# ---- FUSE: the peers' method
drop_caches; cat src.bin >/dev/null
t0=$(now); dd if=src.bin of="$M/big.bin" bs=1M conv=fsync status=none || fail "dd into the mount"
t1=$(now); W_FUSE=$(secs "$t0" "$t1")
drop_caches
t0=$(now); dd if="$M/big.bin" of=/dev/null bs=1M status=none || fail "dd out of the mount"
t1=$(now); R_FUSE=$(secs "$t0" "$t1")
drop_caches
[ "$(sha "$M/big.bin")" = "$SRC_SHA" ] || fail "FUSE read differs"
rm -f "$M/big.bin"

# ---- small files, local then through the mount
head -c $((NFILES * 4096)) /dev/urandom >small.src
small() { # small DIR KEY
	local d=$1 k=$2 t0 t1
	mkdir -p "$d" && cd "$d" || fail "cd $d"
	sync; cat "$T/small.src" >/dev/null
	t0=$(now); split -b 4096 -a 5 -d "$T/small.src" f || fail "create in $d"; t1=$(now)
	eval "C_$k=$(secs "$t0" "$t1")"
	[ -s "$T/small.sha" ] || sha256sum f* >"$T/small.sha"
	drop_caches
	t0=$(now); stat -c '' f* >/dev/null || fail "stat in $d"; t1=$(now)
	eval "S_$k=$(secs "$t0" "$t1")"
	drop_caches
	t0=$(now); cat f* >/dev/null || fail "read in $d"; t1=$(now)
	eval "RD_$k=$(secs "$t0" "$t1")"
	sha256sum --quiet -c "$T/small.sha" || fail "small files differ in $d"
	t0=$(now); rm -f f* || fail "delete in $d"; t1=$(now)
	eval "D_$k=$(secs "$t0" "$t1")"
	cd "$T"
}
small "$T/localsmall" local
small "$M/small" gfs

# ---- metadata: creates and lookups
MD=$("$BENCH_BIN/gfs-mdbench" --master "$MASTERS" --threads 16 create /md 20000) || fail "mdbench create"
MD_CREATE=$(echo "$MD" | sed 's/.*: \([0-9]*\) ops.*/\1/')
MD=$("$BENCH_BIN/gfs-mdbench" --master "$MASTERS" --threads 16 --seconds 3 stat /md 20000) ||
	fail "mdbench stat"
MD_STAT=$(echo "$MD" | sed 's/.*: \([0-9]*\) ops.*/\1/')

# ---- master with MDFILES files: memory per file and restart time
fusermount3 -u "$M"
RSS0=$(rss_kb "$MASTER_PID")
"$BENCH_BIN/gfs-mdbench" --master "$MASTERS" --threads 16 create /many "$MDFILES" >/dev/null ||
	fail "creating $MDFILES files"
RSS1=$(rss_kb "$MASTER_PID")
PER_FILE=$(( (RSS1 - RSS0) * 1024 / MDFILES ))
kill9 "$MASTER_PID"
t0=$(now)
restart_master
t1=$(now); RESTART_CRASH=$(secs "$t0" "$t1")
kill -TERM "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null
t0=$(now)
restart_master
t1=$(now); RESTART_CLEAN=$(secs "$t0" "$t1")

# ---- report
row "upload ${MIB} MiB, MiB/s (local: 3x dd fsync)" "$(mibs "$W_GFS")" "$(mibs "$W_LOCAL")"
row "download ${MIB} MiB cold, MiB/s (local: dd)" "$(mibs "$R_GFS")" "$(mibs "$R_LOCAL")"
row "FUSE dd write ${MIB} MiB, MiB/s (local: 3x)" "$(mibs "$W_FUSE")" "$(mibs "$W_LOCAL")"
row "FUSE dd read ${MIB} MiB cold, MiB/s" "$(mibs "$R_FUSE")" "$(mibs "$R_LOCAL")"
row "FUSE vs gfs: write, MiB/s" "$(mibs "$W_FUSE")" "$(mibs "$W_GFS")"
row "FUSE vs gfs: read, MiB/s" "$(mibs "$R_FUSE")" "$(mibs "$R_GFS")"
row "small create+write (FUSE), files/s" "$(fps "$C_gfs" "$NFILES")" "$(fps "$C_local" "$NFILES")"
row "small stat cold (FUSE), files/s" "$(fps "$S_gfs" "$NFILES")" "$(fps "$S_local" "$NFILES")"
row "small read cold (FUSE), files/s" "$(fps "$RD_gfs" "$NFILES")" "$(fps "$RD_local" "$NFILES")"
row "small delete (FUSE), files/s" "$(fps "$D_gfs" "$NFILES")" "$(fps "$D_local" "$NFILES")"
echo
echo "GFS bench: $(nproc) cores, ${MIB} MiB file, $NFILES x 4 KiB files, temp dir on $(df -PT "$T" | awk 'NR==2{print $1" ("$2")"}')"
echo
printf '| %-44s | %10s | %10s | %6s |\n' metric gfs baseline ratio
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..8})"
printf '%s\n' "${ROWS[@]}"
echo
echo "metadata (16 client threads): $MD_CREATE creates/s, $MD_STAT lookups/s"
echo "memory: gfs upload max RSS $(cat upload.rss) KiB, download $(cat download.rss) KiB, chunkserver max RSS ${CS_RSS} KiB (file: ${MIB} MiB)"
echo "master: $PER_FILE bytes of RSS per empty file ($MDFILES files);" \
	"restart serving again in ${RESTART_CRASH}s after kill -9, ${RESTART_CLEAN}s after a clean stop"

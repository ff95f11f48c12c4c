#!/usr/bin/env bash
# bench.sh - make bench: throughput and metadata figures of a local cluster
# (primary + backup master, 4 chunkservers, 3 replicas, 64 MiB chunks),
# each printed beside a baseline measured in the same run on the same disk:
#
#   upload / FUSE write   vs the same bytes written 3x locally (dd conv=fsync)
#   download / FUSE read  vs one local read, both after drop_caches
#   FUSE cp in / out      vs gfs upload / download of the same file
#                         (download into a local file, as cp writes one)
#   small files (FUSE)    vs the same create/stat/read/delete on local disk
#                         (BENCH_REPEAT rounds, medians)
#   metadata              creates and lookups per second (no baseline)
#   master restart        time to serve again with 100,000 files, RSS/file
#   master latency        p50/p99/max of create and stat while 16 clients
#                         create, with 1,000,000 files vs an empty master
#                         (bench/master.sh, its own masters)
#   small-file breakdown  the median of every step of one 4 KiB
#                         create+write+close and one delete through the
#                         mount (bench/breakdown.sh, its own cluster, at
#                         --log-level debug; docs/PERFORMANCE.md)
#
# The method of the small-file and FUSE figures is the one of
# ../shared/bench/peer-*.sh (split -b 4096, dd bs=1M), so that the ratios
# compare with MooseFS and GlusterFS run on the same machine.
#
# usage: bench/bench.sh BINDIR BENCHDIR
# env:   BENCH_SIZE (default 1G), BENCH_FILES (default 2000),
#        BENCH_CS_ARGS (more chunkserver flags: --ack-in-memory for the
#        opt-in durability of docs/PERFORMANCE.md; breakdown.sh too),
#        BENCH_MDFILES (default 100000), BENCH_REPEAT (default 3: the
#        transfers run this many times and the median is reported, since
#        a shared virtual disk varies by 2x from one minute to the next)
set -uo pipefail
GFS_BIN=${1:?usage: bench.sh BINDIR BENCHDIR}
BENCH_BIN=${2:?usage: bench.sh BINDIR BENCHDIR}
export GFS_BIN
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../tests/integration/lib.sh"
. "$HERE/lib.sh"

SIZE=${BENCH_SIZE:-1G}
NFILES=${BENCH_FILES:-2000}
MDFILES=${BENCH_MDFILES:-100000}
REPEAT=${BENCH_REPEAT:-3}
BYTES=$(numfmt --from=iec "${SIZE%B}")
MIB=$((BYTES >> 20))
ROWS=()

mibs() { awk -v m="$MIB" -v s="$1" 'BEGIN{printf "%.1f", m / s}'; }
fps() { awk -v n="$2" -v s="$1" 'BEGIN{printf "%.0f", n / s}'; }
row() { ROWS+=("$(printf '| %-44s | %10s | %10s | %6s |' "$1" "$2" "$3" \
	"$(awk -v a="$2" -v b="$3" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }')")"); }
hwm_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
declare -A R   # R[key] = per-round seconds, space-separated
add() { R[$1]="${R[$1]:-}${R[$1]:+ }$2"; }
median() { tr ' ' '\n' <<<"${R[$1]}" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
timed() { # timed KEY COMMAND...: run, add its seconds to R[KEY]
	local k=$1 t0 t1
	shift
	t0=$(now)
	"$@" || fail "$k: $*"
	t1=$(now)
	add "$k" "$(secs "$t0" "$t1")"
}

log "cluster: master + backup + 4 chunkservers, 64 MiB chunks, 3 replicas"
start_master
start_backup
# shellcheck disable=SC2086
start_chunkservers 4 ${BENCH_CS_ARGS:-}
M=$T/mnt
mount_fuse "$M"
cd "$T"
log "generating $MIB MiB of random data"
head -c "$BYTES" /dev/urandom >src.bin
SRC_SHA=$(sha src.bin)

gfs_cli() { "$GFS_BIN/gfs" --master "$MASTERS" "$@"; }
local3() { for c in 1 2 3; do dd if=src.bin of="local$c" bs=1M conv=fsync status=none || return 1; done; }
warm_src() { drop_caches; cat src.bin >/dev/null; }
download_null() {
	/usr/bin/time -f %M -o download.rss "$GFS_BIN/gfs" --master "$MASTERS" \
		download /big.bin - >/dev/null
}
# (stdout, not a name: the CLI fsyncs a named target before renaming it
# into place, and cp does not sync either)
download_file() { gfs_cli download /big.bin - >down.bin; }

gfs_rounds() { # the gfs command: upload, then download cold
	warm_src
	timed w_gfs /usr/bin/time -f %M -o upload.rss "$GFS_BIN/gfs" --master "$MASTERS" upload src.bin /big.bin
	drop_caches
	timed r_gfs download_null
	# and into a local file, as cp out of the mount does
	drop_caches
	timed d_gfs download_file
	if [ "$round" = 1 ]; then
		[ "$(sha down.bin)" = "$SRC_SHA" ] || fail "download differs"
	fi
	rm -f down.bin
	gfs_cli rm /big.bin
}
fuse_rounds() { # the mount, with the peers' method
	warm_src
	timed w_fuse dd if=src.bin of="$M/big.bin" bs=1M conv=fsync status=none
	drop_caches
	timed r_fuse dd if="$M/big.bin" of=/dev/null bs=1M status=none
	if [ "$round" = 1 ]; then
		drop_caches
		[ "$(sha "$M/big.bin")" = "$SRC_SHA" ] || fail "FUSE read differs"
	fi
	rm -f "$M/big.bin"
	# and cp in and out, as a user would (close commits: durable)
	warm_src
	timed c_in cp src.bin "$M/cp.bin"
	drop_caches
	timed c_out cp "$M/cp.bin" cp.out
	rm -f "$M/cp.bin" cp.out
}

# The shared disk slows down after a few GiB of writes and recovers when
# idle, so the order of the gfs and FUSE phases alternates from round to
# round: neither always runs on a tired disk.
for ((round = 1; round <= REPEAT; round++)); do
	log "round $round/$REPEAT"
	# baselines: the bytes written 3x with fsync, and read once cold
	warm_src
	timed w_local local3
	rm -f local2 local3
	drop_caches
	timed r_local dd if=local1 of=/dev/null bs=1M status=none
	rm -f local1
	if ((round % 2)); then gfs_rounds; fuse_rounds; else fuse_rounds; gfs_rounds; fi
done
CS_RSS=0
for p in "${CS_PIDS[@]}"; do r=$(hwm_kb "$p"); [ "$r" -gt "$CS_RSS" ] && CS_RSS=$r; done
FUSE_RSS=$(hwm_kb "$(pgrep -f "gfs-fuse.*$M" | head -1)")

# ---- small files, local then through the mount
head -c $((NFILES * 4096)) /dev/urandom >small.src
small() { # small DIR KEY: one round into R[sc_KEY], R[ss_KEY]...
	local d=$1 k=$2 t0 t1
	mkdir -p "$d" && cd "$d" || fail "cd $d"
	sync; cat "$T/small.src" >/dev/null
	t0=$(now); split -b 4096 -a 5 -d "$T/small.src" f || fail "create in $d"; t1=$(now)
	add "sc_$k" "$(secs "$t0" "$t1")"
	[ -s "$T/small.sha" ] || sha256sum f* >"$T/small.sha"
	drop_caches
	t0=$(now); stat -c '' f* >/dev/null || fail "stat in $d"; t1=$(now)
	add "ss_$k" "$(secs "$t0" "$t1")"
	drop_caches
	t0=$(now); cat f* >/dev/null || fail "read in $d"; t1=$(now)
	add "sr_$k" "$(secs "$t0" "$t1")"
	sha256sum --quiet -c "$T/small.sha" || fail "small files differ in $d"
	t0=$(now); rm -f f* || fail "delete in $d"; t1=$(now)
	add "sd_$k" "$(secs "$t0" "$t1")"
	cd "$T"
}
# as many rounds as the transfers (the peers' scripts: -r), medians
for ((i = 1; i <= REPEAT; i++)); do
	small "$T/localsmall" local
	small "$M/small" gfs
done
for k in local gfs; do
	eval "C_$k=$(median "sc_$k") S_$k=$(median "ss_$k")"
	eval "RD_$k=$(median "sr_$k") D_$k=$(median "sd_$k")"
done

# ---- metadata: creates and lookups
MD=$("$BENCH_BIN/gfs-mdbench" --master "$MASTERS" --threads 16 create /md 20000) || fail "mdbench create"
MD_CREATE=$(echo "$MD" | sed 's/.*: \([0-9]*\) ops.*/\1/')
MD=$("$BENCH_BIN/gfs-mdbench" --master "$MASTERS" --threads 16 --seconds 3 stat /md 20000) ||
	fail "mdbench stat"
MD_STAT=$(echo "$MD" | sed 's/.*: \([0-9]*\) ops.*/\1/')
MD=$("$BENCH_BIN/gfs-mdbench" --master "$MASTERS" --threads 1 files /f1 500) || fail "mdbench files"
MD_FILES1=$(echo "$MD" | sed 's/.*: \([0-9]*\) ops.*/\1/')
MD=$("$BENCH_BIN/gfs-mdbench" --master "$MASTERS" --threads 16 files /f16 2000) || fail "mdbench files"
MD_FILES16=$(echo "$MD" | sed 's/.*: \([0-9]*\) ops.*/\1/')

# ---- master with MDFILES files: memory per file and restart time
fusermount3 -u "$M"
RSS0=$(rss_kb "$MASTER_PID")
"$BENCH_BIN/gfs-mdbench" --master "$MASTERS" --threads 16 create /many "$MDFILES" >/dev/null ||
	fail "creating $MDFILES files"
RSS1=$(rss_kb "$MASTER_PID")
PER_FILE=$(( (RSS1 - RSS0) * 1024 / MDFILES ))
TOTAL=$(curl -sf "$MASTER_URL/api/v1/status" | grep -o '"files":[0-9]*' | cut -d: -f2)
serving() { [ "$(curl -sf --max-time 1 "$MASTER_URL/api/v1/status" | grep -o '"files":[0-9]*' | cut -d: -f2)" = "$TOTAL" ]; }
kill9 "$MASTER_PID"
t0=$(now)
restart_master
wait_for 30 "the master to serve $TOTAL files" serving
t1=$(now); RESTART_CRASH=$(secs "$t0" "$t1")
kill -TERM "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null
t0=$(now)
restart_master
wait_for 30 "the master to serve $TOTAL files" serving
t1=$(now); RESTART_CLEAN=$(secs "$t0" "$t1")

# ---- report
W_LOCAL=$(median w_local); R_LOCAL=$(median r_local)
W_GFS=$(median w_gfs); R_GFS=$(median r_gfs)
W_FUSE=$(median w_fuse); R_FUSE=$(median r_fuse)
row "upload ${MIB} MiB, MiB/s (local: 3x dd fsync)" "$(mibs "$W_GFS")" "$(mibs "$W_LOCAL")"
row "download ${MIB} MiB cold, MiB/s (local: dd)" "$(mibs "$R_GFS")" "$(mibs "$R_LOCAL")"
row "FUSE dd write ${MIB} MiB, MiB/s (local: 3x)" "$(mibs "$W_FUSE")" "$(mibs "$W_LOCAL")"
row "FUSE dd read ${MIB} MiB cold, MiB/s" "$(mibs "$R_FUSE")" "$(mibs "$R_LOCAL")"
row "FUSE cp in ${MIB} MiB, MiB/s (local: 3x)" "$(mibs "$(median c_in)")" "$(mibs "$W_LOCAL")"
row "FUSE cp out ${MIB} MiB cold, MiB/s" "$(mibs "$(median c_out)")" "$(mibs "$R_LOCAL")"
row "FUSE write vs gfs upload, MiB/s" "$(mibs "$W_FUSE")" "$(mibs "$W_GFS")"
row "FUSE read vs gfs download, MiB/s" "$(mibs "$R_FUSE")" "$(mibs "$R_GFS")"
row "FUSE cp in vs gfs upload, MiB/s" "$(mibs "$(median c_in)")" "$(mibs "$W_GFS")"
row "FUSE cp out vs gfs download to a file" "$(mibs "$(median c_out)")" "$(mibs "$(median d_gfs)")"
row "small create+write (FUSE), files/s" "$(fps "$C_gfs" "$NFILES")" "$(fps "$C_local" "$NFILES")"
row "small stat cold (FUSE), files/s" "$(fps "$S_gfs" "$NFILES")" "$(fps "$S_local" "$NFILES")"
row "small read cold (FUSE), files/s" "$(fps "$RD_gfs" "$NFILES")" "$(fps "$RD_local" "$NFILES")"
row "small delete (FUSE), files/s" "$(fps "$D_gfs" "$NFILES")" "$(fps "$D_local" "$NFILES")"
echo
echo "GFS bench: $(nproc) cores, ${MIB} MiB file (median of $REPEAT rounds), $NFILES x 4 KiB files," \
	"temp dir on $(df -PT "$T" | awk 'NR==2{print $1" ("$2")"}')"
echo
printf '| %-44s | %10s | %10s | %6s |\n' metric gfs baseline ratio
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..12})" "$(printf -- '-%.0s' {1..8})"
printf '%s\n' "${ROWS[@]}"
echo
echo "per-round seconds: upload [${R[w_gfs]}] download [${R[r_gfs]}] download to a file [${R[d_gfs]}]" \
	"FUSE write [${R[w_fuse]}]" \
	"FUSE read [${R[r_fuse]}] cp in [${R[c_in]}] cp out [${R[c_out]}]" \
	"local 3x write [${R[w_local]}] local read [${R[r_local]}]"
echo "small-file rounds, seconds: create [${R[sc_gfs]}] delete [${R[sd_gfs]}]" \
	"local create [${R[sc_local]}] local delete [${R[sd_local]}]"
echo "metadata: $MD_CREATE creates/s and $MD_STAT lookups/s (16 threads);" \
	"4 KiB files through the client library: $MD_FILES1/s (1 thread), $MD_FILES16/s (16 threads)"
echo "memory (max RSS, ${MIB} MiB file): gfs upload $(cat upload.rss) KiB, download $(cat download.rss) KiB," \
	"chunkserver ${CS_RSS} KiB, gfs-fuse ${FUSE_RSS:-?} KiB"
echo "master: $PER_FILE bytes of RSS per empty file ($MDFILES files); serving all $TOTAL files again" \
	"${RESTART_CRASH}s after kill -9, ${RESTART_CLEAN}s after a clean stop"

# ---- where one small file's time goes
echo
bash "$HERE/breakdown.sh" "$GFS_BIN" || fail "bench/breakdown.sh"

# ---- master latency under load, empty and with a million files
bash "$HERE/master.sh" "$GFS_BIN" "$BENCH_BIN" || fail "bench/master.sh"

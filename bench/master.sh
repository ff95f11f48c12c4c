#!/usr/bin/env bash
# master.sh - how long one client waits for the master while it is busy:
# p50/p99/max latency of create and of stat from one client while 16
# others create files, (a) with an empty master and (b) with BENCH_MANY
# (1,000,000) files of one chunk each, every chunk reported by 3
# chunkservers, and the ratio b/a.  Both run with --checkpoint-every
# BENCH_CKPT, so checkpoints run during the measurement (b: of the whole
# namespace), and the re-replication sweep runs as always.  A standalone
# primary (no backup, no real chunkservers: three heartbeat loops stand in
# for them), so what is measured is the master's locks, not replication.
#
# The 1M-file state is written by gfs-mdstate (a generated checkpoint, in
# about 2 s) rather than by a million requests.  Also printed: the
# master's load time (start to serving) and RSS with it, the heap bytes
# per file gfs-mdstate measured in-process (mallinfo2: malloc headers,
# every table; the goal is under 200), and how many checkpoints ran.
#
# usage: bench/master.sh BINDIR BENCHDIR
# env:   BENCH_MANY (1000000), BENCH_LAT_SECONDS (10), BENCH_CKPT (20000)
set -uo pipefail
GFS_BIN=${1:?usage: master.sh BINDIR BENCHDIR}
BENCH_BIN=${2:?usage: master.sh BINDIR BENCHDIR}
export GFS_BIN
. "$(dirname "$0")/../tests/integration/lib.sh"
. "$(dirname "$0")/lib.sh"

MANY=${BENCH_MANY:-1000000}
SECS=${BENCH_LAT_SECONDS:-10}
CKPT=${BENCH_CKPT:-20000}
CS=(http://127.0.0.1:9 http://127.0.0.1:10 http://127.0.0.1:11)

rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
checkpoints() { grep -c "checkpoint at record" "$T/master.log"; }

# heartbeat URL [CHUNKS-FILE]: one heartbeat; with a file, a full report
# of the chunks array in it.
heartbeat() {
	local f
	f=$(mktemp "$T/hb.XXXXXX")
	{
		printf '{"url":"%s","free_bytes":1000000000000' "$1"
		if [ -n "${2:-}" ]; then printf ',"full":true,"chunks":'; cat "$2"; fi
		printf '}'
	} >"$f"
	cluster_curl POST "$MASTER_URL/api/v1/heartbeat" -f -o /dev/null \
		--max-time 120 --data-binary "@$f"
	rm -f "$f"
}
# Keep the three stand-ins alive (their inventories do not change).
beat_loop() { while :; do for u in "${CS[@]}"; do heartbeat "$u"; done; sleep 1; done; }

# measure NAME: the latency run against the master at MASTER_URL.
measure() {
	local c0 out
	c0=$(checkpoints)
	out=$("$BENCH_BIN/gfs-mdbench" --master "$MASTER_URL" --threads 16 \
		--seconds "$SECS" latency "/lat" 100000000) || fail "mdbench latency ($1): $out"
	eval "LAT_$1=\$out"
	eval "CK_$1=$(($(checkpoints) - c0))"
}
# field LINE WHAT STAT: e.g. field "$LAT_empty" create p99
field() { sed -n "s/.* $2 p50 \([0-9.]*\) p99 \([0-9.]*\) max \([0-9.]*\).*/\1 \2 \3/p" <<<"$1" |
	awk -v s="$3" '{print s == "p50" ? $1 : s == "p99" ? $2 : $3}'; }

# (a) an empty master
start_master --checkpoint-every "$CKPT"
echo '[]' >"$T/none.json"
for u in "${CS[@]}"; do heartbeat "$u" "$T/none.json" || fail "heartbeat"; done
beat_loop & PIDS+=($!); BEAT=$!
measure empty
kill "$BEAT"; wait "$BEAT" 2>/dev/null
kill -TERM "$MASTER_PID"; wait "$MASTER_PID" 2>/dev/null

# (b) MANY files and chunks
rm -rf "$T/master" && mkdir -p "$T/master"
t0=$(now)
MDSTATE=$("$BENCH_BIN/gfs-mdstate" "$T/master" "$MANY" "$MASTER_URL" "$T/report.json") ||
	fail "gfs-mdstate"
HEAP=$(sed -n 's/^loaded in \([0-9]*\) ms (CPU \([0-9]*\) ms): \([0-9]*\) heap bytes per file$/\3 heap bytes per file (in-process load \1 ms, CPU \2 ms)/p' <<<"$MDSTATE")
t1=$(now); GEN=$(secs "$t0" "$t1")
t0=$(now)
restart_master --checkpoint-every "$CKPT"
LOAD=$(secs "$t0" "$(now)")
RSS=$(rss_kb "$MASTER_PID")
t0=$(now)
for u in "${CS[@]}"; do heartbeat "$u" "$T/report.json" || fail "full report of $MANY chunks"; done
REPORTS=$(secs "$t0" "$(now)")
rm -f "$T/report.json"
writable() { [ "$(http_status PUT "$MASTER_URL/api/v1/files/ready")" = 201 ]; }
wait_for 30 "the loaded master to take a create" writable
beat_loop & PIDS+=($!); BEAT=$!
measure many
kill "$BEAT"; wait "$BEAT" 2>/dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
echo "master latency, one client while 16 create (ms; checkpoints every $CKPT records, sweep on):"
printf '| %-22s | %8s | %8s | %8s | %8s | %8s | %8s |\n' "" "create50" "create99" "createmx" \
	"stat50" "stat99" "statmx"
for k in empty many; do
	line=LAT_$k
	printf '| %-22s | %8s | %8s | %8s | %8s | %8s | %8s |\n' \
		"$([ $k = empty ] && echo "empty master" || echo "$MANY files")" \
		"$(field "${!line}" create p50)" "$(field "${!line}" create p99)" \
		"$(field "${!line}" create max)" "$(field "${!line}" stat p50)" \
		"$(field "${!line}" stat p99)" "$(field "${!line}" stat max)"
done
printf '| %-22s | %8s | %8s | %8s | %8s | %8s | %8s |\n' "ratio" \
	"$(ratio "$(field "$LAT_many" create p50)" "$(field "$LAT_empty" create p50)")" \
	"$(ratio "$(field "$LAT_many" create p99)" "$(field "$LAT_empty" create p99)")" \
	"$(ratio "$(field "$LAT_many" create max)" "$(field "$LAT_empty" create max)")" \
	"$(ratio "$(field "$LAT_many" stat p50)" "$(field "$LAT_empty" stat p50)")" \
	"$(ratio "$(field "$LAT_many" stat p99)" "$(field "$LAT_empty" stat p99)")" \
	"$(ratio "$(field "$LAT_many" stat max)" "$(field "$LAT_empty" stat max)")"
echo "empty: $LAT_empty; $CK_empty checkpoints"
echo "$MANY files: $LAT_many; $CK_many checkpoints"
echo "$MANY files: state generated in ${GEN}s, loaded in ${LOAD}s, master RSS $((RSS / 1024)) MiB" \
	"($((RSS * 1024 / MANY)) bytes per file + chunk), 3 full reports of $MANY chunks in ${REPORTS}s"
echo "$MANY files of one chunk: ${HEAP:-? (gfs-mdstate said: $MDSTATE)}"
grep -h "sweep pass\|checkpoint at record" "$T/master.log" | tail -n 4 | sed 's/^/    /'

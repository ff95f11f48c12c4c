#!/usr/bin/env bash
# run.sh - run every tests/integration/test_*.sh (or those matching $1),
# each in its own process with its own cluster; report and fail if any did.
#
# Tests run GFS_IT_JOBS at a time (default 2): most of a test's time is
# spent waiting on fsyncs, timeouts and restarts, not on the CPU, and every
# test has its own ports, temp dir and namespaces.  A test whose file has a
# line `# gfs-it: serial` (it measures time, or loads the machine on
# purpose) runs alone, after the others.
set -uo pipefail
cd "$(dirname "$0")"
: "${GFS_BIN:?GFS_BIN must name the directory holding the programs}"
export GFS_BIN
filter=${1:-}
jobs=${GFS_IT_JOBS:-2}
pass=0 failed=()
out=$(mktemp -d "${TMPDIR:-/tmp}/gfs-it-out.XXXXXX")
trap 'rm -rf "$out"' EXIT

# run_one TEST: run it, leave its status and seconds in $out/TEST.{rc,secs}
run_one() {
	local t=$1 start=$SECONDS rc=0
	timeout --kill-after=10 "${GFS_IT_TIMEOUT:-300}" bash "$t" \
		>"$out/$t.log" 2>&1 || rc=$?
	echo "$((SECONDS - start))" >"$out/$t.secs"
	echo "$rc" >"$out/$t.rc"
}

# report TEST: print its line (and its output's tail if it failed)
report() {
	local t=$1
	if [ "$(cat "$out/$t.rc")" = 0 ]; then
		pass=$((pass + 1))
		echo "ok   $t ($(cat "$out/$t.secs")s)"
	else
		failed+=("$t")
		echo "FAIL $t ($(cat "$out/$t.secs")s)"
		# the test's own verdict first: server logs may bury it
		grep -m 3 'FAIL: ' "$out/$t.log" | sed 's/^/  > /'
		sed 's/^/    /' "$out/$t.log" | tail -n 60
	fi
}

# The long ones start first, longest first (seconds each on the 2-core
# VM, two at a time): started last, one of them would run alone at the
# end with the other slot idle (master_stopped, which mostly waits, goes
# between chaos and the 1 GiB copy, so that those two do not start
# together).
# A test not listed starts after these, in name order; the list orders,
# it selects nothing.
LONG_FIRST=(
	test_chaos.sh                   # 47
	test_fuse_master_stopped.sh     # 38
	test_fuse_copy.sh               # 41
	test_netns_etcd.sh              # 32
	test_netns_pair.sh              # 26
	test_master_oplog_stream.sh     # 26
	test_master_pair_pause.sh       # 23
	test_fault_chunkserver_death.sh # 22
	test_etcd_master.sh             # 22
	test_ops_docs.sh                # 21
	test_fuse_listing_big.sh        # 20
	test_fuse_durable_close.sh      # 20
	test_master_pair_stale_read.sh  # 19
	test_master_idle_follower_reads.sh # 19
	test_master_checkpoint_crash.sh # 19
	test_fuse_fsx.sh                # 19
	test_master_read_resumed.sh     # 18
	test_fault_gc.sh                # 18
	test_master_pair_replace.sh     # 17
	test_fault_checkpoint.sh        # 17
)
parallel=() serial=()
for t in "${LONG_FIRST[@]}" test_*.sh; do
	[ -e "$t" ] || continue
	[ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
	[[ " ${parallel[*]} ${serial[*]} " == *" $t "* ]] && continue
	if grep -q '^# gfs-it: serial' "$t"; then
		serial+=("$t")
	else
		parallel+=("$t")
	fi
done

# Reported in start order, each as soon as it and those before it are done.
next=0
for t in "${parallel[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	run_one "$t" &
	while [ "$next" -lt "${#parallel[@]}" ] &&
		[ -e "$out/${parallel[$next]}.rc" ]; do
		report "${parallel[$next]}"
		next=$((next + 1))
	done
done
wait
while [ "$next" -lt "${#parallel[@]}" ]; do
	report "${parallel[$next]}"
	next=$((next + 1))
done
for t in "${serial[@]}"; do
	run_one "$t"
	report "$t"
done
echo "integration: $pass passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]

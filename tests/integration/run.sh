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
		sed 's/^/    /' "$out/$t.log" | tail -n 60
	fi
}

parallel=() serial=()
for t in test_*.sh; do
	[ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
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

#!/usr/bin/env bash
# run.sh - run every tests/integration/test_*.sh (or those matching $1),
# each in its own process with its own cluster; report and fail if any did.
set -uo pipefail
cd "$(dirname "$0")"
: "${GFS_BIN:?GFS_BIN must name the directory holding the programs}"
export GFS_BIN
filter=${1:-}
pass=0 failed=()
out=$(mktemp "${TMPDIR:-/tmp}/gfs-it-out.XXXXXX")
trap 'rm -f "$out"' EXIT
for t in test_*.sh; do
	[ -n "$filter" ] && [[ "$t" != *"$filter"* ]] && continue
	start=$SECONDS
	if timeout --kill-after=10 "${GFS_IT_TIMEOUT:-300}" bash "$t" >"$out" 2>&1; then
		pass=$((pass + 1))
		echo "ok   $t ($((SECONDS - start))s)"
	else
		failed+=("$t")
		echo "FAIL $t ($((SECONDS - start))s)"
		sed 's/^/    /' "$out" | tail -n 60
	fi
done
echo "integration: $pass passed, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]

#!/usr/bin/env bash
# pjdfstest.sh - run pjdfstest (tests/pjdfstest, vendored) on a real mount.
#
#   GFS_BIN=build/bin PJDFSTEST=build/pjdfstest \
#       bash tests/integration/pjdfstest.sh [TEST...]
#
# Starts a cluster and a mount (lib.sh), runs `prove -r` as root inside the
# mount over the whole suite, or over TEST... (paths under the suite's
# tests/, such as unlink/14.t or chmod), several files at a time, and prints
# passed and failed counts per directory and in total.  A test whose run
# stopped early counts its missing cases as failed.
#
# Exit status: 0 when gfs-fuse lived and answered throughout, whatever the
# pass rate (symlinks, hard links and owners are not implemented); 1 when
# it died, or the mount stopped answering (a watchdog stats the mount every
# second, each with a 20 s deadline, and stops the run), or the run
# overran PJDFSTEST_TIMEOUT seconds (default 600).  Nothing is fetched.
# PJDFSTEST_LOG, when set, keeps prove's whole output there.
# PJDFSTEST_JOBS test files run at once (default 4: they sleep a lot).
# The mount is `-o allow_other` (PJDFSTEST_MOUNT_OPTS), as a shared mount
# would be: the suite's cases run as other users (-u/-g), and without it
# the kernel refuses them all before the permission checks they test
# (gfs-fuse always mounts with default_permissions).
. "$(dirname "$0")/lib.sh"

: "${PJDFSTEST:=$GFS_BIN/../pjdfstest}"
: "${PJDFSTEST_JOBS:=4}"
: "${PJDFSTEST_MOUNT_OPTS:=-o allow_other}"
PJDFSTEST=$(cd "$PJDFSTEST" && pwd) || fail "no built pjdfstest (make pjdfstest-bin)"
[ -x "$PJDFSTEST/pjdfstest" ] || fail "$PJDFSTEST/pjdfstest missing (make pjdfstest-bin)"
[ "$(id -u)" = 0 ] || fail "pjdfstest needs root"

start_cluster 3 --chunk-size 1MiB
M=$T/mnt
# shellcheck disable=SC2086 # options, split on purpose
mount_fuse "$M" $PJDFSTEST_MOUNT_OPTS
FUSE_PID=${PIDS[-1]}

# Every test file, sorted: the same order every run.
todo=()
dirs=()
for t in "$@"; do dirs+=("$PJDFSTEST/tests/$t"); done
[ ${#dirs[@]} -gt 0 ] || dirs=("$PJDFSTEST/tests")
while IFS= read -r f; do todo+=("$f"); done < <(
	find "${dirs[@]}" -name '*.t' | sort)
[ ${#todo[@]} -gt 0 ] || fail "no pjdfstest files match: $*"

# The mount answers when a stat of it returns within the deadline and
# gfs-fuse is alive.
mount_answers() {
	kill -0 "$FUSE_PID" 2>/dev/null && timeout 20 stat -f "$M" >/dev/null 2>&1
}

# prove FILE...: run them (in their own process group, so that a stop
# ends them all), watching the mount; sets problem.
problem=""
deadline=$((SECONDS + ${PJDFSTEST_TIMEOUT:-600}))
run_prove() {
	local pid
	(cd "$M" && exec setsid prove -r -v -j"$PJDFSTEST_JOBS" "$@") >>"$T/prove.out" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if ! mount_answers; then
			problem="the mount stopped answering (gfs-fuse $(kill -0 "$FUSE_PID" 2>/dev/null && echo alive || echo dead))"
		elif [ $SECONDS -ge $deadline ]; then
			problem="the run overran ${PJDFSTEST_TIMEOUT:-600}s"
		fi
		if [ -n "$problem" ]; then
			kill -TERM -- "-$pid" 2>/dev/null
			break
		fi
		sleep 1
	done
	wait "$pid" 2>/dev/null
}

# A test file that says "Bail out!" stops prove (utimensat/09.t does, as
# atime is not kept): run what did not start yet again, until all have.
start=$SECONDS
: >"$T/prove.out"
while [ ${#todo[@]} -gt 0 ] && [ -z "$problem" ]; do
	run_prove "${todo[@]}"
	left=()
	for f in "${todo[@]}"; do
		grep -qF "$f ." "$T/prove.out" || left+=("$f")
	done
	[ ${#left[@]} -lt ${#todo[@]} ] || break
	todo=("${left[@]}")
done
[ -z "${PJDFSTEST_LOG:-}" ] || cp "$T/prove.out" "$PJDFSTEST_LOG"
[ -n "$problem" ] || mount_answers || problem="gfs-fuse died at the end of the run"

# Count per directory: "ok N" passes (a TODO too), "not ok N" fails unless
# marked TODO, and cases a file planned ("1..N") but never reported fail.
awk -v root="$PJDFSTEST/tests/" '
function close_file() {
	if (file != "" && planned > seen)
		fail[dir] += planned - seen
	file = ""
}
# the line naming a test (stray stderr with no newline may precede it)
(at = index($0, root)) && / \.+ ?$/ {
	close_file()
	file = substr($0, at + length(root))
	sub(/ .*/, "", file)
	dir = file
	sub(/\/.*/, "", dir)
	if (!(dir in pass)) { pass[dir] = 0; fail[dir] = 0; order[n++] = dir }
	planned = 0; seen = 0
	next
}
file == "" { next }
/^1\.\.[0-9]+/ { planned = substr($1, 4) + 0; next }
/^ok [0-9]+/ { pass[dir]++; seen++; next }
/^not ok [0-9]+/ { seen++; if ($0 ~ /# TODO/) pass[dir]++; else fail[dir]++; next }
END {
	close_file()
	for (i = 0; i < n; i++) {
		d = order[i]
		printf "%-16s %5d passed %5d failed\n", d, pass[d],
			fail[d] | "sort"
		tp += pass[d]; tf += fail[d]
	}
	close("sort")
	printf "pjdfstest: %d passed, %d failed\n", tp, tf
}' "$T/prove.out"
log "pjdfstest ran $((SECONDS - start))s"
if [ -n "$problem" ]; then
	tail -n 20 "$T/prove.out" >&2
	fail "$problem"
fi

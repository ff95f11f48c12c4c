#!/usr/bin/env bash
# 64 writers crossing a chunk boundary together through one client: every
# file completes and reads back identical, and the client still answers
# metadata calls while they hold their streams.  Each writer holds a
# connection for its stream while it asks the master for its next chunk;
# a pool that counted those against its cap and waited for a free
# connection without end made 64 writers through one chunkserver's
# gateway (a pool of 64) wait on each other for ever.  Every wait here
# has a deadline, so a hang is a failure.
#
# Each writer sends exactly chunk 0 (its PUT then open), says it is
# ready, waits for the go, then sends the rest (chunk 1), so that
# they all cross the boundary at once.
. "$(dirname "$0")/lib.sh"

N=64
P1=$((1 << 20))
start_master --chunk-size 1MiB
start_chunkservers 4
M=$T/mnt
mount_fuse "$M"
cd "$T"
mkdir src ready
for ((i = 0; i < N; i++)); do random_file "src/f$i" $(((3 << 19) + i * 4096)); done

# writer I TAG: file I to stdout in two parts, with the barrier between
writer() {
	local i=$1 t=$2 n
	head -c "$P1" "src/f$i" || return 1
	touch "ready/$t$i"
	for ((n = 0; n < 6000; n++)); do [ -e "go$t" ] && break; sleep 0.01 >/dev/null; done
	[ -e "go$t" ] || return 1
	tail -c +$((P1 + 1)) "src/f$i"
}
all_ready() { [ "$(find ready -name "$1*" | wc -l)" -eq "$N" ]; }
# run TAG: wait until the N writers of TAG are ready, then let them go
run() {
	local t=$1 p
	wait_for 60 "$N writers ($t) past their first chunk" all_ready "$t"
	# the client still answers the master calls of others
	timeout 20 ls "$M" >/dev/null || fail "listing the mount with $N writers ($t) open"
	touch "go$t"
	for p in "${pids[@]}"; do wait "$p" || fail "a writer ($t) failed or hung (status $?)"; done
}
same() { # same TAG: every file of TAG reads back identical
	local i
	for ((i = 0; i < N; i++)); do assert_same_file "$M/$1$i" "src/f$i" "$1$i"; done
}

log "$N writers into the mount"
pids=()
for ((i = 0; i < N; i++)); do
	timeout 60 bash -c "$(declare -f writer); P1=$P1; writer $i m >'$M/m$i'" &
	pids+=($!)
done
run m
same m

log "$N uploads through one chunkserver's gateway"
GW=${CS_URLS[0]}/api/v1/content
pids=()
for ((i = 0; i < N; i++)); do
	writer "$i" g | curl -sf --max-time 60 -T - "$GW/g$i" -o /dev/null &
	pids+=($!)
done
run g
same g
log "ok"

#!/usr/bin/env bash
# A primary answers reads only while it could acknowledge a write: one
# that resumes may have been replaced meanwhile.  Here: m1 is killed, m2
# takes over (epoch 2) and acknowledges the removal of /f and an upload
# of /g, then m2 is paused (SIGSTOP) before any chunkserver heard of
# epoch 2 (they heartbeat every two minutes here).  m1 restarts as
# primary of epoch 1, waiting for its member m2 before it acknowledges
# anything; its state is the one before the failover, so a read it
# answered would show /f and no /g.  It answers 503 instead (a JSON
# error), and a client goes on to m2 once m2 runs again.
. "$(dirname "$0")/lib.sh"
MARGS=(--chunk-size 1MiB --failover-timeout 3s --dead-after 300s --probation 2s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
start_chunkservers 3 --heartbeat-interval 120s
M1=$MASTER_URL M2=$BACKUP_URL

status_of() { curl -sf --max-time 2 "$1/api/v1/status"; }
is() { status_of "$1" | jq -e --arg r "$2" '.role == $r' >/dev/null; }
follows() { # follows LEADER FOLLOWER: attached, in both views
	status_of "$1" | jq -e --arg u "$2" \
		'.followers[] | select(.url == $u) | .attached' >/dev/null &&
		status_of "$2" | jq -e '.in_sync' >/dev/null
}
wait_for 20 "m2 attached" follows "$M1" "$M2"
wait_for 20 "m2 hears the chunkservers" alive_at_least "$M2" 3
random_file "$T/old" 1000
random_file "$T/new" 2000
gfs upload "$T/old" /f >/dev/null || fail "upload /f"

kill9 "$MASTER_PID"
wait_for 30 "m2 primary" is "$M2" primary
gfs rm /f >/dev/null || fail "rm /f on m2"
gfs upload "$T/new" /g >/dev/null || fail "upload /g on m2"
kill -STOP "$BACKUP_PID"
for u in "${CS_URLS[@]}"; do
	e=$(status_of "$u" | jq .epoch)
	[ "$e" = 1 ] || fail "setup: chunkserver $u knows epoch $e already"
done

# m1 holds the state of before the failover: no answer.  Each refusal
# comes after the master's own bounded waits (up to 13 s), so the six
# GETs are sent at once, each checked alone (m2 stays paused until all
# are answered).
check_reads() {
	local routes=("files/f?stat=1" "files/g?stat=1" files/f \
		"files?prefix=/" "files?dir=/" leases/f) pids=() i code
	status_of "$M1" | jq -e '.role == "primary" and .epoch == 1' \
		>/dev/null || fail "setup: m1 not primary of epoch 1"
	for i in "${!routes[@]}"; do
		curl -s -o "$T/body.$i" -w '%{http_code}' --max-time 20 \
			"$M1/api/v1/${routes[$i]}" >"$T/code.$i" &
		pids+=("$!")
	done
	for i in "${!routes[@]}"; do
		wait "${pids[$i]}"
		code=$(cat "$T/code.$i")
		[ "$code" = 503 ] || fail "m1, maybe replaced, answered GET" \
			"${routes[$i]}: $code $(head -c 300 "$T/body.$i")"
		jq -e '.error | strings' "$T/body.$i" >/dev/null ||
			fail "GET ${routes[$i]}: 503 without a JSON error"
	done
}
restart_master "${MARGS[@]}"
wait_for 20 "m1 waits for m2" grep -q "waiting for 1 attached backup" \
	"$T/master.log"
check_reads

kill -CONT "$BACKUP_PID"
# a client tries the next master
size=$(gfs stat --json /g | jq .size)
assert_eq "$size" 2000 "the client sees /g"
gfs download /g - | cmp -s - "$T/new" || fail "/g reads back wrong"
gfs stat /f >/dev/null 2>&1 && fail "the client sees the removed /f"
log ok

#!/usr/bin/env bash
# A backup answers reads only while it holds every acknowledged change
# (make chaos, CHAOS_ISSUE9: a read through the CLI got the old content
# of a file whose overwrite had been acknowledged).  Here: the primary m1
# is killed, m2 takes over and a file is overwritten; m1 comes back, learns
# the new epoch from the chunkservers and steps down, but cannot re-sync
# yet (m2 is stopped): its state is the old one, and a read it answered
# would show the old file.  It sends readers to m2 (421) instead, and
# answers them again once it follows m2, attached.
. "$(dirname "$0")/lib.sh"
MARGS=(--chunk-size 1MiB --failover-timeout 3s --dead-after 3s --probation 2s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
start_chunkservers 3 --heartbeat-interval 500ms
M1=$MASTER_URL M2=$BACKUP_URL

status_of() { curl -sf --max-time 2 "$1/api/v1/status"; }
is() { status_of "$1" | jq -e --arg r "$2" '.role == $r' >/dev/null; }
follows() { # follows LEADER FOLLOWER: attached, in both views
	status_of "$1" | jq -e --arg u "$2" \
		'.followers[] | select(.url == $u) | .attached' >/dev/null &&
		status_of "$2" | jq -e '.in_sync' >/dev/null
}
wait_for 20 "m2 attached" follows "$M1" "$M2"
random_file "$T/old" 1000
random_file "$T/new" 2000
gfs upload "$T/old" /f >/dev/null || fail "upload /f"

kill9 "$MASTER_PID"
wait_for 20 "m2 primary" is "$M2" primary
gfs upload "$T/new" /f >/dev/null || fail "overwrite /f on m2"
gfs upload "$T/new" /g >/dev/null || fail "upload /g on m2"

# m1 learns of epoch 2 from the chunkservers: they must have heard of it
# (m2 heartbeats every 500 ms; the uploads can be quicker than that)
knows_epoch2() {
	local u
	for u in "${CS_URLS[@]}"; do
		status_of "$u" | jq -e '.epoch >= 2' >/dev/null || return 1
	done
}
wait_for 20 "chunkservers know epoch 2" knows_epoch2
kill -STOP "$BACKUP_PID"
restart_master "${MARGS[@]}"
wait_for 20 "m1 stepped down" is "$M1" backup
# m1 holds the state of before the failover until it re-syncs from m2
for route in files/f "files?prefix=/" "files?dir=/" leases/f; do
	code=$(curl -s -D "$T/hdrs" -o "$T/body" -w '%{http_code}' --max-time 10 \
		"$M1/api/v1/$route")
	[ "$code" = 421 ] || fail "m1, not re-synced, answered GET $route: $code $(head -c 300 "$T/body")"
	grep -qi "^X-GFS-Primary: $M2" "$T/hdrs" || fail "GET $route: 421 without m2 named"
done
kill -CONT "$BACKUP_PID"
wait_for 30 "m1 following m2" follows "$M2" "$M1"
size=$(curl -sf --max-time 10 "$M1/api/v1/files/f?stat=1" | jq .size)
assert_eq "$size" 2000 "m1, attached, reads the overwrite"
gfs download /f - | cmp -s - "$T/new" || fail "/f reads back wrong"
log ok

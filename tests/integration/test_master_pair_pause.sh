#!/usr/bin/env bash
# Pair mode: a backup counts the primary's silence only while it runs
# (issue 9, chaos seed 3274686689).  The backup is stopped (SIGSTOP) for
# longer than the failover timeout while the primary is alive.  Before
# the fix it promoted the moment it resumed (the primary "silent" for its
# own pause) beside the primary; now it polls again first, finds the
# primary, and stays its backup.  Done twice, 5.5 s and 6.5 s: past the
# backup's poll timeout (5 s), so that its poll fails on resuming.
. "$(dirname "$0")/lib.sh"
MARGS=(--chunk-size 1MiB --failover-timeout 3s --dead-after 3s --probation 2s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
start_chunkservers 3 --heartbeat-interval 500ms
P=$MASTER_URL/api/v1; B=$BACKUP_URL/api/v1
role() { curl -sf --max-time 2 "$1/status" | jq -r .role; }
attached() { curl -sf --max-time 2 "$1/status" | jq -e '.backup.attached' >/dev/null; }
writable() { [ "$(http_status PUT "$1/files/$2")" = 201 ]; }
for round in 1 2; do
	wait_for 15 "backup attached" attached "$P"
	wait_for 10 "primary takes creates" writable "$P" "before-$round"
	kill -STOP "$BACKUP_PID"
	sleep "$((4 + round)).5"
	kill -CONT "$BACKUP_PID"
	# the failover timeout (3 s) again, and more: never promoted
	deadline=$(( $(date +%s) + 5 ))
	while [ "$(date +%s)" -lt "$deadline" ]; do
		r=$(role "$B")
		[ "$r" = primary ] && fail "round $round: the backup promoted after its own pause"
		[ "$(role "$P")" = primary ] || fail "round $round: the primary stepped down"
		sleep 0.2
	done
	wait_for 15 "primary takes creates again" writable "$P" "after-$round"
	log "round $round: the backup stayed a backup"
done
log ok

#!/usr/bin/env bash
# Pair mode: a master never leads an epoch another master logged (issue 9,
# found by tests/integration/chaos.py).
#
# m0 (no --backup-of) is killed, m1 (--backup-of m0) promotes to epoch 2,
# m0 restarted follows m1.  Then m0 is killed and restarted once more: its
# log now ends in m1's epoch 2.  Before the fix its probation ended at the
# first heartbeat ("no newer epoch") and it was primary of epoch 2 beside
# m1, both taking creates.  Now it follows m1 again, refuses creates, and
# m1 goes on taking them.
. "$(dirname "$0")/lib.sh"
MARGS=(--chunk-size 1MiB --failover-timeout 3s --dead-after 3s --probation 2s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
start_chunkservers 3 --heartbeat-interval 500ms
P=$MASTER_URL/api/v1; B=$BACKUP_URL/api/v1
role() { curl -sf --max-time 2 "$1/status" | jq -r .role; }
is() { [ "$(role "$1")" = "$2" ]; }
attached() { curl -sf --max-time 2 "$1/status" | jq -e '.backup.attached' >/dev/null; }
writable() { [ "$(http_status PUT "$1/files/$2")" = 201 ]; }
wait_for 10 "backup attached" attached "$P"
kill9 "$MASTER_PID"
wait_for 15 "backup promoted" is "$B" primary
restart_master "${MARGS[@]}"
wait_for 20 "old primary follows" is "$P" backup
wait_for 20 "old primary attached" attached "$B"
log "m0 follows m1; now kill -9 and restart m0"
kill9 "$MASTER_PID"
restart_master "${MARGS[@]}"
wait_for 20 "m0 attached again" attached "$B"
# past m0's probation (2 s) and several heartbeats: m0 must still refuse
deadline=$(( $(date +%s) + 5 ))
i=0
while [ "$(date +%s)" -lt "$deadline" ]; do
	i=$((i + 1))
	is "$P" backup || fail "m0 is $(role "$P") beside m1"
	c0=$(http_status PUT "$P/files/split-m0-$i")
	[ "$c0" = 201 ] && fail "m0 took a create beside m1"
	wait_for 10 "m1 takes creates" writable "$B" "split-m1-$i"
	sleep 0.3
done
log "ok: m0 follows m1 after $i rounds, m1 alone takes creates"

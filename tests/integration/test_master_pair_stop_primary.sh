#!/usr/bin/env bash
# Pair mode: the primary acknowledges nothing once the backup may be
# taking over (issue 9: no two masters acknowledge in overlapping time).
# The primary is stopped (SIGSTOP) with creates waiting, long enough for
# the backup to promote, then resumed.  The ack trace (--log-level
# debug, CLOCK_MONOTONIC shared by both processes on this host) must
# show no acknowledgement of epoch 1 decided after epoch 2 began, and
# none of a record at or past epoch 2's EPOCH record; the old primary
# must follow the new one.  (An acknowledgement decided just before the
# stop is sent after it: its trace carries the time of the decision.)
. "$(dirname "$0")/lib.sh"
MARGS=(--chunk-size 1MiB --failover-timeout 3s --dead-after 3s --probation 2s
	--log-level debug)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
start_chunkservers 3 --heartbeat-interval 500ms
P=$MASTER_URL/api/v1; B=$BACKUP_URL/api/v1
role() { curl -sf --max-time 2 "$1/status" | jq -r .role; }
is() { [ "$(role "$1")" = "$2" ]; }
attached() { curl -sf --max-time 2 "$1/status" | jq -e '.backup.attached' >/dev/null; }
acked() { grep -c 'ack epoch=1 ' "$T/master.log"; }
acked_over() { [ "$(acked)" -gt "$1" ]; }
wait_for 10 "backup attached" attached "$P"
for k in 1 2 3 4; do
	( i=0; while :; do i=$((i + 1))
		curl -s -o /dev/null --max-time 8 -X PUT "$P/files/c$k-$i"
	done ) &
	PIDS+=($!)
done
wait_for 10 "creates acknowledged" acked_over 20
kill -STOP "$MASTER_PID"
wait_for 15 "backup promoted" is "$B" primary
sleep 1
kill -CONT "$MASTER_PID"
wait_for 20 "old primary follows" is "$P" backup
start=$(grep -h 'epoch start epoch=2' "$T/backup.log" | sed 's/.*mono_ns=//' | head -1)
[ -n "$start" ] || fail "no epoch 2 in the backup's trace"
late=$(grep -h 'ack epoch=1 ' "$T/master.log" | sed 's/.*mono_ns=//' |
	awk -v s="$start" '$1 >= s' | wc -l)
log "$(acked) acknowledged under epoch 1, $late of them after epoch 2 began"
[ "$late" = 0 ] || fail "the old primary acknowledged $late mutations after epoch 2 began"
# and none that the new primary lacks: all lie before its EPOCH record
first=$(grep -h 'epoch start epoch=2' "$T/backup.log" | sed 's/.* seq=\([0-9]*\).*/\1/' | head -1)
beyond=$(grep -h 'ack epoch=1 ' "$T/master.log" | sed 's/.* seq=\([0-9]*\).*/\1/' |
	awk -v s="$first" '$1 >= s' | wc -l)
[ "$beyond" = 0 ] || fail "$beyond mutations acknowledged under epoch 1 at or past record $first, where epoch 2 began"
log ok

#!/usr/bin/env bash
# Issue 9 (masters that never split), found by tests/integration/chaos.py:
# not run by `make test` (run.sh runs test_*.sh only) and expected to fail
# until the election is fixed; run it with
#   GFS_BIN=$PWD/build/bin bash tests/integration/repro_pair_split.sh
#
# Pair mode: m0 (no --backup-of) is killed, m1 (--backup-of m0) promotes
# to epoch 2, m0 restarted with its own arguments follows m1 as it should.
# Then m0 is killed and restarted once more: its log now ends in m1's
# epoch 2, its probation ends at the first heartbeat (which shows epoch 2,
# "no newer epoch"), and it is primary of epoch 2 beside m1.  Both take
# creates from then on; whatever each acknowledges is lost when one of
# them steps down.  Exits 1 ("both masters take creates") while the bug
# is there, 0 once one of them refuses.
. "$(dirname "$0")/lib.sh"
MARGS=(--chunk-size 1MiB --failover-timeout 3s --dead-after 3s --probation 2s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
start_chunkservers 3 --heartbeat-interval 500ms
P=$MASTER_URL/api/v1; B=$BACKUP_URL/api/v1
role() { curl -sf --max-time 2 "$1/status" | jq -r .role; }
is() { [ "$(role "$1")" = "$2" ]; }
attached() { curl -sf "$1/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached "$P"
kill9 "$MASTER_PID"
wait_for 15 "backup promoted" is "$B" primary
restart_master "${MARGS[@]}"
wait_for 20 "old primary follows" is "$P" backup
wait_for 20 "old primary attached" attached "$B"
log "m0 follows m1; now kill -9 and restart m0"
kill9 "$MASTER_PID"
restart_master "${MARGS[@]}"
for i in $(seq 1 60); do
	log "m0 $(role "$P") $(curl -sf "$P/status" | jq -c '{epoch,probation}')  m1 $(role "$B") $(curl -sf "$B/status" | jq -c '{epoch}')"
	c0=$(http_status PUT "$P/files/split-m0-$i"); c1=$(http_status PUT "$B/files/split-m1-$i")
	log "creates: m0 $c0 m1 $c1"
	[ "$c0" = 201 ] && [ "$c1" = 201 ] && fail "both masters take creates"
	sleep 0.5
done
log "ok"

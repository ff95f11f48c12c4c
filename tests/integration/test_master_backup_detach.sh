#!/usr/bin/env bash
# A backup that dies is detached and the primary goes on alone; when it
# comes back it catches up (from the checkpoint when the log moved on)
# and attaches again.  Without any chunkserver, a primary that took over
# pings the old one with its epoch, which then steps down.
. "$(dirname "$0")/lib.sh"

start_master --checkpoint-every 20
start_backup --checkpoint-every 20 --failover-timeout 2s
P=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached
curl -sf -X PUT "$P/files/one" >/dev/null || fail create

kill9 "$BACKUP_PID"
start=$SECONDS
[ "$(http_status PUT "$P/files/two")" = 201 ] || fail "create without the backup"
[ $((SECONDS - start)) -le 5 ] || fail "the dead backup held a mutation $((SECONDS - start)) s"
for i in $(seq 1 50); do curl -sf -X PUT "$P/files/more$i" >/dev/null || fail "more$i"; done

BPORT=${BACKUP_URL##*:}
"$GFS_BIN/gfs-master" --listen "127.0.0.1:$BPORT" --data "$T/backup" \
	--backup-of "$MASTER_URL" --failover-timeout 2s >>"$T/backup.log" 2>&1 &
BACKUP_PID=$!
PIDS+=("$BACKUP_PID")
wait_for 15 "backup attached again" attached
assert_eq "$(curl -sf "$B/files?prefix=/" | jq '.files | length')" 52 "backup caught up"

# Failover without chunkservers, then the ping makes the old one step down.
in_sync() { curl -sf "$B/status" | jq -e '.in_sync' >/dev/null; }
wait_for 10 "backup knows it is in sync" in_sync
kill -STOP "$MASTER_PID"
promoted() { curl -sf "$B/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for 15 "backup promoted" promoted
kill -CONT "$MASTER_PID"
stepped() { curl -sf "$P/status" | jq -e '.role == "backup"' >/dev/null; }
wait_for 10 "old primary stepped down" stepped
assert_eq "$(http_status PUT "$P/files/split")" 421 "old primary refuses writes"
grep -q "stepping down" "$T/master.log" || fail "step-down not logged"
log "ok"

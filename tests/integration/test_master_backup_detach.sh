#!/usr/bin/env bash
# Pair mode: a primary never drops its attached backup by itself.  A dead
# backup blocks acknowledgements (503 after a bounded wait, never a 201
# the backup lacks) until the operator runs `gfs detach`; then the
# primary goes on alone.  The backup, back, catches up (from the
# checkpoint when the log moved on) and attaches again, and a restarted
# primary still waits for it.  Without any chunkserver, a backup that
# took over tells the old primary, which steps down.
. "$(dirname "$0")/lib.sh"

start_master --checkpoint-every 20 --probation 500ms
start_backup --checkpoint-every 20 --failover-timeout 2s
P=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
BPORT=${BACKUP_URL##*:}
attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached
curl -sf -X PUT "$P/files/one" >/dev/null || fail create
restart_backup() {
	# shellcheck disable=SC2046
	"$GFS_BIN/gfs-master" --listen "127.0.0.1:$BPORT" --data "$T/backup" \
		--backup-of "$MASTER_URL" --failover-timeout 2s $(master_auth) \
		>>"$T/backup.log" 2>&1 &
	BACKUP_PID=$!
	PIDS+=("$BACKUP_PID")
}

# The backup dies: once it is silent, nothing is acknowledged without
# it (refused at once; a mutation caught waiting gets 503 after a bounded
# wait, isr/a_mutation_waits_for_every_member).
kill9 "$BACKUP_PID"
silent() { curl -sf "$P/status" | jq -e '.followers[0].silent' >/dev/null; }
wait_for 10 "the backup silent" silent
for f in two three; do
	assert_eq "$(http_status PUT "$P/files/$f")" 503 "create of $f without the attached backup"
done
gfs status | grep -q "http://127.0.0.1:$BPORT" || fail "gfs status does not show the backup"
gfs detach >/dev/null || fail "gfs detach"
grep -q "detached by the operator" "$T/master.log" || fail "detach not logged"
for i in $(seq 1 50); do curl -sf -X PUT "$P/files/more$i" >/dev/null || fail "more$i"; done

restart_backup
wait_for 15 "backup attached again" attached
assert_eq "$(curl -sf "$B/files?prefix=/more" | jq '.files | length')" 50 "backup caught up"
[ "$(curl -sf "$B/files/one?stat=1" | jq -r .path)" = /one ] || fail "backup lost /one"

# The primary remembers its attached backup across a restart.
kill9 "$BACKUP_PID"
kill -TERM "$MASTER_PID"
wait "$MASTER_PID"
restart_master --checkpoint-every 20 --probation 500ms
grep -q "waiting for 1 attached backup" "$T/master.log" || fail "restart forgot the backup"
# past the probation, and the backup silent: the 503 below is the
# backup's, not probation's, and comes at once
no_probation() { curl -sf "$P/status" | jq -e '.probation == false and .followers[0].silent' >/dev/null; }
wait_for 10 "probation over, the backup silent" no_probation
gfs status | grep -q "SILENT" || fail "gfs status does not show the silent backup"
# (a refused create may still take effect: only an acknowledgement counts)
assert_eq "$(http_status PUT "$P/files/refused")" 503 "create without the backup after a restart"
restart_backup
wait_for 15 "backup attached after the restart" attached
assert_eq "$(http_status PUT "$P/files/after-restart")" 201 "create with the backup back"

# Failover without chunkservers, then the notice makes the old one step down.
in_sync() { curl -sf "$B/status" | jq -e '.in_sync' >/dev/null; }
wait_for 10 "backup knows it is in sync" in_sync
kill -STOP "$MASTER_PID"
promoted() { curl -sf "$B/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for 15 "backup promoted" promoted
kill -CONT "$MASTER_PID"
stepped() { curl -sf "$P/status" | jq -e '.role == "backup"' >/dev/null; }
wait_for 10 "old primary stepped down" stepped
assert_eq "$(http_status PUT "$P/files/split")" 421 "old primary refuses writes"
grep -q "the backup took over" "$T/master.log" || fail "step-down not logged"
assert_eq "$(http_status PUT "$B/files/new")" 201 "the promoted backup starts alone"
log "ok"

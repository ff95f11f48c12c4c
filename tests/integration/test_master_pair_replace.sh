#!/usr/bin/env bash
# Pair mode, the runbook's steps (docs/operations.md: the backup master's
# host replaced, then failover): the backup m2 is replaced by one with an
# empty data directory at the same URL, then the primary m1 is stopped,
# m2 takes over, m1 is started again and follows it; then the same the
# other way round with kill -9.  After every step every acknowledged
# file is on every master that says it holds them all, and:
#   - the old m2's attachment does not outlive it: the new one, which
#     holds nothing yet, is not shown attached (a runbook that waits for
#     "attached" and then stops m1 would wait for a failover that the
#     new m2, rightly, never makes);
#   - a new m2 that has not caught up never takes over, whatever the
#     primary's silence;
#   - a restarted old primary attaches to the new one within a deadline.
. "$(dirname "$0")/lib.sh"
MARGS=(--chunk-size 1MiB --failover-timeout 3s --dead-after 3s --probation 2s
	--checkpoint-every 8)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
start_chunkservers 3 --heartbeat-interval 500ms
M1=$MASTER_URL M2=$BACKUP_URL
ACKED=$T/acked # "path size" of every acknowledged file

status_of() { curl -sf --max-time 2 "$1/api/v1/status"; }
is() { status_of "$1" | jq -e --arg r "$2" '.role == $r' >/dev/null; }
# follows LEADER FOLLOWER: the leader waits for the follower and calls it
# attached, and the follower says it holds every acknowledged record.
follows() {
	status_of "$1" | jq -e --arg u "$2" \
		'.followers[] | select(.url == $u) | .attached' >/dev/null &&
		status_of "$2" | jq -e '.in_sync' >/dev/null
}
# shown_attached LEADER FOLLOWER: what `gfs status` would print.
shown_attached() {
	status_of "$1" | jq -e --arg u "$2" \
		'.followers[] | select(.url == $u) | .attached' >/dev/null
}
put() { # put NAME BYTES: upload /d/NAME; recorded once acknowledged
	random_file "$T/$1" "$2"
	gfs upload "$T/$1" "/d/$1" >/dev/null || fail "upload $1"
	echo "/d/$1 $2" >>"$ACKED"
}
create() { # create NAME: an empty file, recorded once acknowledged
	local code
	code=$(http_status PUT "$1/api/v1/files/d/$2")
	[ "$code" = 201 ] || fail "create $2 on $1: $code"
	echo "/d/$2 0" >>"$ACKED"
}
# holds_all URL: that master lists exactly the acknowledged files, sizes
# included.
holds_all() {
	diff <(sort "$ACKED") <(curl -sf --max-time 5 "$1/api/v1/files?prefix=/d/" |
		jq -r '.files[] | "\(.path) \(.size)"' | sort) >&2
}
assert_holds_all() { holds_all "$1" || fail "$2: $1 lacks acknowledged files"; }
# reads_all: every uploaded file reads back byte for byte.
reads_all() {
	local p s
	while read -r p s; do
		[ "$s" -gt 0 ] || continue
		gfs download "$p" - | cmp -s - "$T/${p#/d/}" || fail "$p reads back wrong"
	done <"$ACKED"
}
checkpoints() { grep -c 'checkpoint at record' "$T/master.log"; }
checkpointed_twice() { [ "$(checkpoints)" -ge 2 ]; }

wait_for 20 "m2 attached" follows "$M1" "$M2"
put big $((1536 << 10))
put small 100
i=0
# two checkpoints: m1's log no longer starts at record 1
until checkpointed_twice; do
	i=$((i + 1))
	[ $i -le 200 ] || fail "no two checkpoints after 200 creates"
	create "$M1" "e$i"
done
assert_holds_all "$M1" "before the replacement"
assert_holds_all "$M2" "before the replacement (synchronous)"

log "m2 replaced by one with an empty data directory"
kill -TERM "$BACKUP_PID" && wait "$BACKUP_PID"
rm -rf "$T/backup" && mkdir "$T/backup"
# The new m2's first poll, played here: refused (m1's log begins after
# record 1), and from then on the old m2's attachment is gone.
code=$(cluster_curl GET "$M1/api/v1/oplog?from=1&wait_ms=0" \
	-H "X-GFS-Backup: $M2" -o /dev/null -w '%{http_code}')
assert_eq "$code" 410 "an empty follower's first poll"
! shown_attached "$M1" "$M2" || fail "m1 shows the replaced m2 attached"

# While m1 is stopped the new m2 cannot catch up: it must not take over.
kill -STOP "$MASTER_PID"
held=$(grep -c 'not taking over' "$T/backup.log")
"$GFS_BIN/gfs-master" --listen "127.0.0.1:${M2##*:}" --data "$T/backup" \
	--backup-of "$M1" $(master_auth) "${MARGS[@]}" >>"$T/backup.log" 2>&1 &
BACKUP_PID=$!
PIDS+=("$BACKUP_PID")
wait_for 10 "the new m2" http_ok "$M2/api/v1/healthz"
held_back() { [ "$(grep -c 'not taking over' "$T/backup.log")" -gt "$held" ]; }
wait_for 20 "the new m2 to decide on m1's silence" held_back
is "$M2" backup || fail "a backup that holds nothing took over"
kill -CONT "$MASTER_PID"
wait_for 30 "the new m2 attached" follows "$M1" "$M2"
assert_holds_all "$M2" "the new m2, attached"

log "failover: m1 stopped"
kill -TERM "$MASTER_PID" && wait "$MASTER_PID"
wait_for 20 "m2 primary" is "$M2" primary
assert_holds_all "$M2" "m2 promoted"
reads_all
put after1 3000
create "$M2" after1e

log "m1 started again"
restart_master "${MARGS[@]}"
wait_for 30 "m1 following m2" follows "$M2" "$M1"
assert_holds_all "$M1" "m1 re-synced"
create "$M2" after2e
assert_holds_all "$M1" "m1 following synchronously"

log "failover: m2 killed"
kill9 "$BACKUP_PID"
wait_for 20 "m1 primary" is "$M1" primary
assert_holds_all "$M1" "m1 promoted"
create "$M1" after3e
"$GFS_BIN/gfs-master" --listen "127.0.0.1:${M2##*:}" --data "$T/backup" \
	--backup-of "$M1" $(master_auth) "${MARGS[@]}" >>"$T/backup.log" 2>&1 &
BACKUP_PID=$!
PIDS+=("$BACKUP_PID")
wait_for 30 "m2 following m1" follows "$M1" "$M2"
assert_holds_all "$M2" "m2 re-synced"
reads_all
log ok

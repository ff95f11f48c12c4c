#!/usr/bin/env bash
# Failover with every timing at its default (failover timeout 10 s,
# heartbeats every 2 s): a cp through the mount and a gfs upload started
# right after kill -9 of the primary block until the backup has taken
# over, then succeed - the clients' 30 s failover window covers the
# default timeout with room to spare.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB
start_backup --chunk-size 1MiB
start_chunkservers 4
M=$T/mnt
mount_fuse "$M"
P=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached
in_sync() { curl -sf "$B/status" | jq -e '.in_sync' >/dev/null; }
wait_for 10 "backup in sync" in_sync
cd "$T"
random_file before $((3 << 20))
cp before "$M/before" || fail "cp before the kill"

random_file during $((5 << 19))
kill9 "$MASTER_PID"
killed=$SECONDS
cp during "$M/during" || fail "cp during the failover"
took=$((SECONDS - killed))
gfs upload before /uploaded >/dev/null || fail "upload during the failover"
assert_eq "$(curl -sf "$B/status" | jq -r .role)" primary "the backup took over"
log "cp blocked $took s; promoted after $(grep -o 'silent for [0-9]* ms' "$T/backup.log")"
# It did wait for the failover: no primary existed for about 10 s.
[ "$took" -ge 8 ] || fail "cp finished in $took s: it cannot have waited for a promotion"
[ "$took" -le 25 ] || fail "cp took $took s"

assert_same_file "$M/during" during "file written during the failover"
assert_same_file "$M/before" before "file written before the failover"
MASTERS=$BACKUP_URL
gfs download /uploaded "$T/back" >/dev/null || fail "download"
assert_same_file "$T/back" before "upload during the failover"
log "ok"

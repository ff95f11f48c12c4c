#!/usr/bin/env bash
# Primary + backup: the backup follows synchronously, serves reads,
# answers mutations 421; when the primary dies the backup promotes itself
# with a higher epoch and has every acknowledged change; the old primary,
# restarted, learns the new epoch from a chunkserver heartbeat and steps
# down instead of accepting writes.
. "$(dirname "$0")/lib.sh"

start_master --failover-timeout 2s --probation 3s
start_backup --failover-timeout 2s --probation 3s
P=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
hb() { # hb MASTER_API EPOCH PRIMARY
	cluster_post "$1/heartbeat" "{\"url\":\"http://127.0.0.1:9001\",\"full\":true,\"chunks\":[],\"free_bytes\":100000000000,\"epoch\":$2,\"primary\":\"$3\",\"primary_age_ms\":99999}"
}
hb "$P" 1 "$MASTER_URL" >/dev/null
hb "$B" 1 "$MASTER_URL" >/dev/null

attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached
for i in $(seq 1 30); do
	[ "$(http_status PUT "$P/files/d/f$i")" = 201 ] || fail "create f$i"
done
# Synchronous: the backup has every acknowledged create at once.
assert_eq "$(curl -sf "$B/files?prefix=/d/" | jq '.files | length')" 30 "backup has every create"
assert_eq "$(curl -sf "$B/status" | jq -r .role)" backup
assert_eq "$(http_status PUT "$B/files/nope")" 421 "mutation on the backup"
curl -s -D - -o /dev/null -X PUT "$B/files/nope" | grep -i "^X-GFS-Primary: $MASTER_URL" >/dev/null || fail "421 names the primary"

kill9 "$MASTER_PID"
promoted() { curl -sf "$B/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for 15 "backup promoted" promoted
assert_eq "$(curl -sf "$B/status" | jq .epoch)" 2 "epoch after failover"
assert_eq "$(curl -sf "$B/files?prefix=/d/" | jq '.files | length')" 30 "nothing lost"
assert_eq "$(http_status PUT "$B/files/d/after")" 201 "the new primary takes writes"
grep -q "promoted to primary with epoch 2" "$T/backup.log" || fail "promotion not logged"

# The old primary comes back (no --backup-of): probation, then a
# chunkserver tells it about epoch 2 and it steps down and re-syncs.
restart_master --failover-timeout 2s --probation 30s
# In probation (503), or already stepped down by the new primary's ping
# (421): either way it does not take the write.
code=$(http_status PUT "$P/files/d/split")
[ "$code" = 503 ] || [ "$code" = 421 ] || fail "restarted old primary took a write: $code"
# (The new primary's epoch ping may get there first: then it is a backup
# already and answers the heartbeat without orders.)
reply=$(hb "$P" 2 "$BACKUP_URL")
case "$(jq -r '.code // .role' <<<"$reply")" in
not_primary | backup) ;;
*) fail "heartbeat with a newer epoch answered: $reply" ;;
esac
resynced() { curl -sf "$P/files?prefix=/d/" | jq -e '.files | length == 31' >/dev/null; }
wait_for 15 "old primary re-synced" resynced
assert_eq "$(curl -sf "$P/status" | jq -r .role)" backup
assert_eq "$(http_status PUT "$P/files/d/split")" 421 "no second primary"
assert_eq "$(http_status GET "$B/files/d/split")" 404
log "ok"

#!/usr/bin/env bash
# A forged X-GFS-Epoch (or X-GFS-Primary) request header changes nothing:
# a lone master goes on taking writes, a primary keeps its role and its
# backup, and the epoch in every reply stays what it was.  (Masters learn
# of newer epochs only from etcd, or in pair mode from the backup that
# took over and from chunkserver heartbeats.)
. "$(dirname "$0")/lib.sh"

start_master
P=$MASTER_URL/api/v1
epoch() { curl -sf "$1/status" | jq .epoch; }
e0=$(epoch "$P")
for route in healthz status files; do
	curl -s -o /dev/null -H 'X-GFS-Epoch: 999999' "$P/$route" || fail "GET /$route"
done
curl -s -o /dev/null -X PUT -H 'X-GFS-Epoch: 999999' \
	-H 'X-GFS-Primary: http://127.0.0.1:1' "$P/files/forged"
assert_eq "$(curl -sf "$P/status" | jq -r .role)" primary "a lone master after forged epochs"
assert_eq "$(http_status PUT "$P/files/a")" 201 "create after forged epochs"
assert_eq "$(epoch "$P")" "$e0" "epoch after forged epochs"
curl -s -D "$T/h" -o /dev/null -H 'X-GFS-Epoch: 999999' "$P/healthz"
grep -qi "^X-GFS-Epoch: $e0" "$T/h" || fail "reply epoch moved: $(cat "$T/h")"

# With a backup: neither side moves.
start_backup
B=$BACKUP_URL/api/v1
attached() { curl -sf "$P/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached
for u in "$P" "$B"; do
	curl -s -o /dev/null -H 'X-GFS-Epoch: 999999' \
		-H "X-GFS-Primary: $BACKUP_URL" "$u/healthz"
done
assert_eq "$(curl -sf "$P/status" | jq -r .role)" primary "primary after forged epochs"
assert_eq "$(curl -sf "$B/status" | jq -r .role)" backup "backup after forged epochs"
assert_eq "$(http_status PUT "$P/files/b")" 201 "create with the backup attached"
attached || fail "the backup was detached"
assert_eq "$(curl -sf "$B/files/b?stat=1" | jq -r .path)" /b "the backup has it"
log "ok"

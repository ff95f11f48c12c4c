#!/usr/bin/env bash
# A master that cannot show it holds every acknowledged record never
# takes over by itself; `gfs promote URL` makes it take over.
# - Pair: a backup whose last poll did not say "attached" (here: it never
#   reached its primary) stays a backup past --failover-timeout.
# - etcd: a master outside the in-sync set does not campaign when the
#   leader is gone.
. "$(dirname "$0")/lib.sh"

# ---- the pair -----------------------------------------------------------
start_master --probation 500ms
assert_eq "$(http_status PUT "$MASTER_URL/api/v1/files/one")" 201 "create on the primary"
kill9 "$MASTER_PID"
start_backup --failover-timeout 1s
B=$BACKUP_URL/api/v1
wait_for 10 "the backup to decline taking over" grep -q "not taking over" "$T/backup.log"
assert_eq "$(curl -sf "$B/status" | jq -r .role)" backup "a backup never attached, its primary silent"
assert_eq "$(http_status PUT "$B/files/two")" 421 "a create on that backup"
MASTERS=$BACKUP_URL gfs promote "$BACKUP_URL" >/dev/null || fail "gfs promote (pair)"
assert_eq "$(curl -sf "$B/status" | jq -r .role)" primary "the promoted backup"
grep -q "promoted to primary .* by the operator (NOT in sync" "$T/backup.log" ||
	fail "the forced promotion is not logged as such"
wait_for 10 "the promoted backup to take writes" eval '[ "$(http_status PUT "$B/files/two")" = 201 ]'
assert_eq "$(MASTERS=$BACKUP_URL gfs promote http://127.0.0.1:1 2>&1 >/dev/null | wc -l)" 1 "a promote of nothing: one line"
kill9 "$BACKUP_PID"

# ---- etcd ---------------------------------------------------------------
start_etcd
start_etcd_master m1 --etcd-lease 2s
leads() { curl -sf "${EM_URL[$1]}/api/v1/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for 20 "m1 to lead" leads m1
assert_eq "$(http_status PUT "${EM_URL[m1]}/api/v1/files/one")" 201 "create on m1 alone"
kill9 "${EM_PID[m1]}"
start_etcd_master m2 --etcd-lease 2s
wait_for 15 "m2 to decline campaigning" grep -q "not in the in-sync set: not campaigning" "$T/m2.log"
leads m2 && fail "m2, outside the in-sync set, leads"
MASTERS=${EM_URL[m2]} gfs promote "${EM_URL[m2]}" >/dev/null || fail "gfs promote (etcd)"
wait_for 15 "m2 to lead after gfs promote" leads m2
wait_for 10 "m2 to take writes" eval '[ "$(http_status PUT "${EM_URL[m2]}/api/v1/files/two")" = 201 ]'
log "ok"

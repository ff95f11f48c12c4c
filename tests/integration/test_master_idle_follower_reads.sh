#!/usr/bin/env bash
# An idle follower that holds every acknowledged change answers reads
# all along, in pair mode and in etcd mode, every timing at its default
# (--backup-detach 1.5 s).  Its read window counts from the sending of
# the poll whose answer said attached (docs/MASTER.md, "The read
# window"), so a poll parked at the leader must come back well before
# the window of the one before it ends; else the follower refuses reads
# (421) part of the time although nothing changed.
#
# For each mode: one file created on the leader, the follower answers
# it once (its first attached answer), then a read of it from the
# follower every 50 ms for 5 s, each one 200.
. "$(dirname "$0")/lib.sh"

# reads_all_along URL NAME: 100 reads of URL, 50 ms apart; every one must
# be answered 200, the first refusal fails the test.
reads_all_along() {
	local url=$1 name=$2 i st
	for ((i = 0; i < 100; i++)); do
		st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")
		[ "$st" = 200 ] || fail "$name: read $i of an idle follower answered $st"
		sleep 0.05
	done
	log "$name: 100 reads of an idle follower, all answered"
}

reads() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" = 200 ]; }

# ---- pair mode ------------------------------------------------------------
start_master
start_backup
attached() { curl -sf --max-time 2 "$MASTER_URL/api/v1/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 20 "backup attached" attached
assert_eq "$(http_status PUT "$MASTER_URL/api/v1/files/idle")" 201 "create on the primary"
wait_for 10 "the backup answering reads" reads "$BACKUP_URL/api/v1/files/idle?stat=1"
reads_all_along "$BACKUP_URL/api/v1/files/idle?stat=1" "pair mode"

# ---- etcd mode ------------------------------------------------------------
if ! command -v etcd >/dev/null; then
	log "etcd not installed: etcd mode not checked"
	log ok
	exit 0
fi
start_etcd
start_etcd_master e1
start_etcd_master e2
isr2() { L=$(etcd_leader) && curl -sf --max-time 2 "${EM_URL[$L]}/api/v1/status" | jq -e '.isr | length == 2' >/dev/null; }
wait_for 30 "a leader with both in sync" isr2
F=e1; [ "$L" = e1 ] && F=e2
assert_eq "$(http_status PUT "${EM_URL[$L]}/api/v1/files/idle")" 201 "create on the leader"
wait_for 10 "the follower answering reads" reads "${EM_URL[$F]}/api/v1/files/idle?stat=1"
reads_all_along "${EM_URL[$F]}/api/v1/files/idle?stat=1" "etcd mode"
log ok

#!/usr/bin/env bash
# Masters that never split (issue 9), pair mode (no etcd): a primary and
# its backup, four chunkservers and two clients, each in its own network
# namespace; links cut with iptables; the clients create and upload
# every 200 ms all along.  The pair gives up availability, never safety:
# 1. {primary, client a, c0, c1} | {backup, client b, c2, c3}: the
#    primary can acknowledge nothing without its backup; the backup,
#    attached, takes over after --failover-timeout.  Healed: the old
#    primary steps down and attaches to the new one.
# 2. Only the two masters cut from each other: the same, the other way.
# 3. SIGSTOP the backup for 2 s: nothing is acknowledged meanwhile; kill
#    -9 the primary, SIGCONT the backup: it takes over.
# Then: every acknowledged create and upload is there, byte for byte,
# and no two epochs acknowledged in overlapping time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/split_lib.sh"

ns_setup
declare -A URL PID
split_masters
# shellcheck disable=SC2207
MARGS=(--chunk-size 1MiB --dead-after 3s --failover-timeout 3s --probation 1s
	$(master_auth))
mkdir -p "$T/m1" "$T/m2"
ns_start m1 "$T/m1.log" "$GFS_BIN/gfs-master" --listen "$(ns_ip m1):7070" \
	--data "$T/m1" "${MARGS[@]}"
PID[m1]=$NS_PID
ns_start m2 "$T/m2.log" "$GFS_BIN/gfs-master" --listen "$(ns_ip m2):7070" \
	--data "$T/m2" --backup-of "${URL[m1]}" "${MARGS[@]}"
PID[m2]=$NS_PID
split_chunkservers 4

mark() { local m; for m in m1 m2; do echo "==== $(date +%T.%N) $*" >>"$T/$m.log"; done; log "$*"; }
status() { ns_curl "$1" "${URL[$1]}/api/v1/status"; }
is_primary() { status "$1" | jq -e '.role == "primary"' >/dev/null; }
epoch_of() { status "$1" | jq .epoch; }
# pair_ok P B: P primary with B attached
pair_ok() { is_primary "$1" && status "$1" | jq -e '.backup.attached' >/dev/null && status "$2" | jq -e '.in_sync' >/dev/null; }
alive4() { status "$1" | jq -e '[.chunkservers[] | select(.alive)] | length == 4' >/dev/null; }
wait_for 30 "the backup attached" pair_ok m1 m2
wait_for 20 "4 live chunkservers" alive4 m1
split_clients a b
grows() { [ "$(split_acks "$1")" -ge "$2" ] && [ "$(split_uploads "$1")" -ge "$3" ]; }
wait_for 30 "writes from both clients" eval 'grows a 3 2 && grows b 3 2'

# ---- 1. primary and backup on two sides ------------------------------
E0=$(epoch_of m1)
mark "partition 1: m1 cl-a c0 c1 | m2 cl-b c2 c3"
ns_partition "m1 cl-a c0 c1" "m2 cl-b c2 c3"
cut=$(date +%s%N)
promoted() { is_primary "$1" && [ "$(epoch_of "$1")" -gt "$2" ]; }
wait_for 30 "m2 to take over" promoted m2 "$E0"
E1=$(epoch_of m2)
wait_for 30 "client b writing at epoch $E1" eval '[ "$(split_acks b "$E1")" -ge 3 ]'
late=$(awk -v e="$E0" -v t="$cut" '$2 == e && $1 > t' "$T"/acks.* | wc -l)
assert_eq "$late" 0 "creates the cut-off primary acknowledged"
ns_heal_all
mark "healed; m2 primary with epoch $E1"
wait_for 30 "m1 attached to m2" pair_ok m2 m1

# ---- 2. the two masters cut from each other only ---------------------
mark "partition 2: m2 | m1"
ns_partition "m2" "m1"
wait_for 30 "m1 to take over" promoted m1 "$E1"
E2=$(epoch_of m1)
since=$(date +%s%N)
wait_for 30 "both clients writing at epoch $E2" eval '[ "$(split_acks a "$E2")" -ge 3 ] && [ "$(split_acks b "$E2")" -ge 3 ]'
ns_heal_all
mark "healed; m1 primary with epoch $E2"
wait_for 30 "m2 attached to m1" pair_ok m1 m2

# ---- 3. the backup paused, the primary killed -----------------------
kill -STOP "${PID[m2]}"
paused=$(date +%s%N)
mark "SIGSTOP m2"
sleep 2 # the pause itself (a GC, a stalled disk)
kill9 "${PID[m1]}"
killed=$(date +%s%N)
kill -CONT "${PID[m2]}"
mark "kill -9 m1; SIGCONT m2"
# a 503 takes up to the bounded wait: give the clients' last tries time
# to end before counting (no acknowledgement may come from m1 now)
during=$(awk -v a="$paused" -v b="$killed" '$1 > a + 5e8 && $1 < b' "$T"/acks.* "$T"/uploads.* | wc -l)
assert_eq "$during" 0 "writes acknowledged while the backup was stopped"
wait_for 30 "m2 to take over" promoted m2 "$E2"
wait_for 30 "writes after the failover" eval '[ $(($(split_acks_since a "$killed") + $(split_acks_since b "$killed"))) -ge 3 ]'

split_stop_clients
log "creates acknowledged: a $(split_acks a), b $(split_acks b); uploads: a $(split_uploads a), b $(split_uploads b)"
split_verify cl-a "${URL[m2]}"
split_no_overlap
log "ok"

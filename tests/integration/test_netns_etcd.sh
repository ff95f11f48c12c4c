#!/usr/bin/env bash
# Masters that never split (issue 9), with etcd: three masters, a
# three-member etcd, four chunkservers and two clients, each in its own
# network namespace on one bridge; links cut with iptables.  The clients
# create and upload every 200 ms all along.
#
# 1. Partition: {leader, client a, c0, c1, e1} | {the other two masters,
#    client b, c2, c3, e2, e3}.  The old leader loses etcd's quorum and
#    stops acknowledging; side b elects a leader and goes on.  Healed.
# 2. Only the leader cut from the other masters: it drops them from the
#    in-sync set (etcd says it still leads) and goes on; they cannot be
#    elected.  Healed: they catch up and rejoin.
# 3. SIGSTOP a follower (a GC pause, a stalled disk): it is dropped, the
#    writes go on; kill -9 the leader; SIGCONT the follower: the other
#    follower, which has every acknowledged write, takes over - never
#    the paused one.
# Then: every acknowledged create and upload is there, byte for byte,
# and no two epochs acknowledged in overlapping time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/split_lib.sh"

LEASE=2s
ns_setup
for e in e1 e2 e3; do ns_add "$e"; done
cluster=""
for e in e1 e2 e3; do cluster+="${cluster:+,}$e=http://$(ns_ip $e):2380"; done
ETCD_URLS=""
for e in e1 e2 e3; do
	ip=$(ns_ip $e)
	ETCD_URLS+="${ETCD_URLS:+,}http://$ip:2379"
	ns_start "$e" "$T/$e.log" etcd --name "$e" --data-dir "$T/$e" \
		--listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
		--listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--heartbeat-interval 50 --election-timeout 500
done
for e in e1 e2 e3; do
	wait_for 20 "etcd $e" ns_exec "$e" curl -sf --max-time 1 "http://$(ns_ip $e):2379/health"
done

MS=(m1 m2 m3)
declare -A URL PID
SPLIT_MASTERS=""
for m in "${MS[@]}"; do
	ns_add "$m"
	URL[$m]=http://$(ns_ip "$m"):7070
	SPLIT_MASTERS+="${SPLIT_MASTERS:+,}${URL[$m]}"
done
start_m() {
	mkdir -p "$T/$1"
	# shellcheck disable=SC2046
	ns_start "$1" "$T/$1.log" "$GFS_BIN/gfs-master" --listen "$(ns_ip "$1"):7070" \
		--data "$T/$1" --etcd "$ETCD_URLS" --etcd-lease $LEASE --backup-detach 2s \
		--chunk-size 1MiB --dead-after 3s $(master_auth)
	PID[$1]=$NS_PID
}
for m in "${MS[@]}"; do start_m "$m"; done
split_chunkservers 4

# mark TEXT: a line in every master's log (to read them against the test).
mark() { local m; for m in "${MS[@]}"; do echo "==== $(date +%T.%N) $*" >>"$T/$m.log"; done; log "$*"; }
# status M: the status of master M, asked from inside its namespace.
status() { ns_curl "$1" "${URL[$1]}/api/v1/status"; }
# leader_seen_by M: the master M says leads (by our name m1..m3).
name_of() { local m; for m in "${MS[@]}"; do [ "${URL[$m]}" != "$1" ] || echo "$m"; done; }
leader_seen_by() { name_of "$(status "$1" | jq -r '.leader.url // empty')"; }
is_leader() { status "$1" | jq -e '.role == "primary"' >/dev/null; }
isr_size() { status "$1" | jq '.isr | length'; }
full_set() { [ "$(isr_size "$1")" = "${2:-3}" ] && is_leader "$1"; }
epoch_of() { status "$1" | jq .epoch; }
alive4() { status "$1" | jq -e '[.chunkservers[] | select(.alive)] | length == 4' >/dev/null; }
some_leader() { L=$(leader_seen_by m1) && [ -n "$L" ] && is_leader "$L"; }

wait_for 30 "a leader" some_leader
wait_for 20 "every master in the in-sync set" full_set "$L"
wait_for 20 "4 live chunkservers" alive4 "$L"
mark "leader $L, epoch $(epoch_of "$L")"
split_clients a b
grows() { [ "$(split_acks "$1")" -ge "$2" ] && [ "$(split_uploads "$1")" -ge "$3" ]; }
wait_for 30 "writes from both clients" eval 'grows a 3 2 && grows b 3 2'

# ---- 1. the leader, with a minority of etcd, cut from the rest -------
OLD=$L
E0=$(epoch_of "$OLD")
OTHERS=()
for m in "${MS[@]}"; do [ "$m" != "$OLD" ] && OTHERS+=("$m"); done
mark "partition 1: $OLD (epoch $E0) with e1 | ${OTHERS[*]} with e2 e3"
ns_partition "e1 $OLD cl-a c0 c1" "e2 e3 ${OTHERS[*]} cl-b c2 c3"
cut=$(date +%s%N)
mark "partition 1 in place"
new_leader_b() {
	local m
	for m in "${OTHERS[@]}"; do
		is_leader "$m" && [ "$(epoch_of "$m")" -gt "$E0" ] && { NEW=$m; return 0; }
	done
	return 1
}
wait_for 30 "a leader on side b" new_leader_b
E1=$(epoch_of "$NEW")
wait_for 30 "side b writing at epoch $E1" eval '[ "$(split_acks b "$E1")" -ge 3 ]'
# the old leader acknowledged nothing after its lease could have expired
late=$(awk -v e="$E0" -v t="$cut" -v l="${LEASE%s}" '$2 == e && $1 > t + l * 1e9' "$T"/acks.* | wc -l)
assert_eq "$late" 0 "acknowledgements of epoch $E0 later than the lease after the cut"
ns_heal_all
mark "healed; $NEW leads with epoch $E1"
stepped() { ! is_leader "$OLD" && [ "$(leader_seen_by "$OLD")" = "$NEW" ]; }
wait_for 30 "$OLD to follow $NEW" stepped
wait_for 30 "all three in the in-sync set again" full_set "$NEW"

# ---- 2. only the leader cut from the other masters ------------------
L=$NEW
FOL=()
for m in "${MS[@]}"; do [ "$m" != "$L" ] && FOL+=("$m"); done
mark "partition 2: $L cut from ${FOL[*]} only"
ns_partition "$L" "${FOL[*]}"
wait_for 30 "$L to go on alone" full_set "$L" 1
since=$(date +%s%N)
wait_for 30 "writes on both sides" eval '[ "$(split_acks_since a "$since")" -ge 3 ] && [ "$(split_acks_since b "$since")" -ge 3 ]'
for m in "${FOL[@]}"; do ! is_leader "$m" || fail "$m was elected without being in sync"; done
ns_heal_all
wait_for 30 "the followers back in the in-sync set" full_set "$L"

# ---- 3. a paused follower, then the leader killed --------------------
PAUSED=${FOL[0]} HEIR=${FOL[1]}
kill -STOP "${PID[$PAUSED]}"
mark "SIGSTOP $PAUSED"
wait_for 30 "$PAUSED dropped from the in-sync set" full_set "$L" 2
uploads() { echo $(($(split_uploads a) + $(split_uploads b))); }
u0=$(uploads)
wait_for 30 "5 uploads without $PAUSED" eval '[ "$(uploads)" -ge $((u0 + 5)) ]'
elected0=$(grep -c "elected leader" "$T/$PAUSED.log")
kill9 "${PID[$L]}"
killed=$SECONDS
since=$(date +%s%N)
kill -CONT "${PID[$PAUSED]}"
mark "kill -9 $L; SIGCONT $PAUSED"
heir_leads() { is_leader "$HEIR"; }
wait_for 30 "$HEIR to take over" heir_leads
log "$HEIR leads after $((SECONDS - killed)) s"
wait_for 30 "writes after the failover" eval '[ $(($(split_acks_since a "$since") + $(split_acks_since b "$since"))) -ge 3 ]'
! is_leader "$PAUSED" || fail "the paused follower leads"
assert_eq "$(grep -c "elected leader" "$T/$PAUSED.log")" "$elected0" "elections the paused follower won"

split_stop_clients
log "creates acknowledged: a $(split_acks a), b $(split_acks b); uploads: a $(split_uploads a), b $(split_uploads b)"
split_verify cl-a "${URL[$HEIR]}"
split_no_overlap
log "ok"

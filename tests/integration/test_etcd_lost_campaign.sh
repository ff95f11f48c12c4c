#!/usr/bin/env bash
# A follower's campaign goes through to etcd but its reply is lost (a
# proxy between it and etcd cuts it, or holds it past the call's
# deadline, as when etcd's disk stalls): P/leader then names the
# follower, on its lease, though it did not take office.  It must find
# out and lead (it alone can: the key lives as long as its lease), not go
# on following the dead leader and answering 421 for as long as it keeps
# the lease alive.
# - cut: libcurl sends the txn again on a fresh connection, which finds
#   P/leader taken (by us) and says we lost;
# - held: the call times out ("etcd does not answer").
. "$(dirname "$0")/lib.sh"

start_etcd
role_of() { curl -sf "${EM_URL[$1]}/api/v1/status" | jq -r .role; }
leads() { [ "$(role_of "$1")" = primary ]; }
in_sync() { curl -sf "${EM_URL[$1]}/api/v1/status" | jq -e '.isr | length == 2' >/dev/null; }

# fail_over LEADER FOLLOWER MARKER [--hold MS]: FOLLOWER (re)started
# behind a proxy that loses (or holds back) the reply to its first txn,
# which is its campaign (a follower writes nothing else to etcd); once
# it is in sync, kill -9 of LEADER: FOLLOWER must lead, with what LEADER
# acknowledged, and say why.
fail_over() {
	local leader=$1 follower=$2 marker=$3
	shift 3
	drop_reply "$@" "${ETCD_URL##*:}" '/v3/kv/txn' "$marker"
	ETCD_URL=http://127.0.0.1:$PROXY_PORT start_etcd_master "$follower" --etcd-lease 2
	wait_for 30 "$follower in the in-sync set" in_sync "$leader"
	assert_eq "$(http_status PUT "${EM_URL[$leader]}/api/v1/files/before-$leader")" 201 \
		"create on $leader"
	kill9 "${EM_PID[$leader]}"
	wait_for 20 "the reply of $follower's campaign to be lost" test -e "$marker"
	wait_for 10 "$follower to lead after its campaign's lost reply" leads "$follower"
	assert_eq "$(http_status PUT "${EM_URL[$follower]}/api/v1/files/after-$follower")" 201 \
		"create on $follower"
	assert_eq "$(http_status GET "${EM_URL[$follower]}/api/v1/files/before-$leader?stat=1")" 200 \
		"a create $leader acknowledged before the kill"
	grep -q "reply was lost: taking office" "$T/$follower.log" ||
		fail "$follower does not say it took office after a lost reply"
}

start_etcd_master m1 --etcd-lease 2
wait_for 20 "m1 to lead" leads m1
# cut: the txn is sent again on a fresh connection and finds the key taken
fail_over m1 m2 "$T/dropped"
# held past the call's deadline: "etcd does not answer"
fail_over m2 m1 "$T/held" --hold 1500
grep -q "our campaign for epoch .* got no answer" "$T/m1.log" ||
	fail "m1's campaign did not time out"
for f in before-m1 after-m2 before-m2 after-m1; do
	assert_eq "$(http_status GET "${EM_URL[m1]}/api/v1/files/$f?stat=1")" 200 "/$f on m1"
done
log "ok"

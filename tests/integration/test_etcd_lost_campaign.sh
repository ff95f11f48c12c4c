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
pport=$(free_port)
# m2 writes nothing to etcd as a follower: its first txn is its campaign
python3 "$(dirname "$0")/dropreply.py" "$pport" "${ETCD_URL##*:}" \
	'/v3/kv/txn' "$T/dropped" >>"$T/proxy.log" 2>&1 &
PIDS+=("$!")
wait_for 30 "proxy" bash -c "exec 3<>/dev/tcp/127.0.0.1/$pport"
start_etcd_master m1 --etcd-lease 2
role_of() { curl -sf "${EM_URL[$1]}/api/v1/status" | jq -r .role; }
leads() { [ "$(role_of "$1")" = primary ]; }
wait_for 20 "m1 to lead" leads m1
ETCD_URL=http://127.0.0.1:$pport start_etcd_master m2 --etcd-lease 2
both() { curl -sf "${EM_URL[m1]}/api/v1/status" | jq -e '.isr | length == 2' >/dev/null; }
wait_for 20 "m2 in the in-sync set" both
assert_eq "$(http_status PUT "${EM_URL[m1]}/api/v1/files/before")" 201 "create before the kill"

kill9 "${EM_PID[m1]}"
wait_for 20 "the reply of m2's campaign to be lost" test -e "$T/dropped"
wait_for 10 "m2 to lead after its campaign's lost reply" leads m2
assert_eq "$(http_status PUT "${EM_URL[m2]}/api/v1/files/after")" 201 "create on m2"
assert_eq "$(http_status GET "${EM_URL[m2]}/api/v1/files/before?stat=1")" 200 "a create acknowledged before the kill"
grep -q "reply was lost: taking office" "$T/m2.log" ||
	fail "m2 does not say it took office after a lost reply"

# ---- held: m1 back as m2's follower, through a proxy that holds -------
pport=$(free_port)
python3 "$(dirname "$0")/dropreply.py" --hold 1500 "$pport" "${ETCD_URL##*:}" \
	'/v3/kv/txn' "$T/held" >>"$T/proxy.log" 2>&1 &
PIDS+=("$!")
wait_for 30 "proxy" bash -c "exec 3<>/dev/tcp/127.0.0.1/$pport"
ETCD_URL=http://127.0.0.1:$pport start_etcd_master m1 --etcd-lease 2
isr2() { curl -sf "${EM_URL[m2]}/api/v1/status" | jq -e '.isr | length == 2' >/dev/null; }
wait_for 30 "m1 back in the in-sync set" isr2
assert_eq "$(http_status PUT "${EM_URL[m2]}/api/v1/files/second")" 201 "create before the second kill"
kill9 "${EM_PID[m2]}"
wait_for 20 "the reply of m1's campaign to be held back" test -e "$T/held"
wait_for 10 "m1 to lead after its campaign timed out" leads m1
assert_eq "$(http_status PUT "${EM_URL[m1]}/api/v1/files/third")" 201 "create on m1"
for f in before after second; do
	assert_eq "$(http_status GET "${EM_URL[m1]}/api/v1/files/$f?stat=1")" 200 "/$f on m1"
done
grep -q "our campaign for epoch .* got no answer" "$T/m1.log" ||
	fail "m1's campaign did not time out"
grep -q "reply was lost: taking office" "$T/m1.log" ||
	fail "m1 does not say it took office after a lost reply"
log "ok"

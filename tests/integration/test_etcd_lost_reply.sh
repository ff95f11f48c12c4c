#!/usr/bin/env bash
# The leader's write of the in-sync set goes through to etcd but its
# reply is lost (a proxy between the leader and etcd cuts it): the
# leader's retry finds P/isr moved under it, re-reads it, and from then
# on reports what etcd holds, in /status and `gfs status`, without
# writing it again.
. "$(dirname "$0")/lib.sh"

start_etcd
# the first compare on a mod revision is the first write of P/isr after
# the bootstrap (which creates it): the follower's addition
drop_reply "${ETCD_URL##*:}" '"MOD"' "$T/dropped"
REAL_ETCD=$ETCD_URL
ETCD_URL=http://127.0.0.1:$PROXY_PORT start_etcd_master m1
leads() { curl -sf "${EM_URL[m1]}/api/v1/status" | jq -e '.role == "primary"' >/dev/null; }
wait_for 20 "m1 to lead" leads
ETCD_URL=$REAL_ETCD start_etcd_master m2
wait_for 20 "the reply of the in-sync set's write to be lost" test -e "$T/dropped"

# what etcd holds under the default prefix
# (curl -q: no client key for etcd, which would take it for its own token)
etcd_isr() {
	curl -q -sf "$REAL_ETCD/v3/kv/range" -d "{\"key\": \"$(printf /gfs/default/isr | base64)\"}" |
		jq -r '.kvs[0].value // empty' | base64 -d | jq -c '.members | sort'
}
both='["'${EM_URL[m1]}'","'${EM_URL[m2]}'"]'
both=$(jq -c sort <<<"$both")
in_etcd() { [ "$(etcd_isr)" = "$both" ]; }
wait_for 10 "both masters in etcd's in-sync set" in_etcd
shown() { [ "$(curl -sf "${EM_URL[m1]}/api/v1/status" | jq -c '.isr | sort')" = "$both" ]; }
wait_for 10 "the leader to show what etcd holds" shown
MASTERS=${EM_URL[m1]} gfs status | grep -q "in-sync set:.*${EM_URL[m2]}" ||
	fail "gfs status does not show the follower in the in-sync set"
writes=$(grep -c "attached: in the in-sync set" "$T/m1.log")
assert_eq "$writes" 0 "in-sync set writes the leader believes succeeded"
log "ok"

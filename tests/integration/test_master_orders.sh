#!/usr/bin/env bash
# The orders a master gives simulated chunkservers in heartbeat replies:
# a dead server's chunks are re-replicated, a returning server's stale
# replica and surplus copies are deleted, deleted files' chunks are
# deleted at the next heartbeat, orphans after the grace period.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB --replicas 2 --dead-after 4s \
	--gc-interval 500ms --orphan-grace 2s
A=$MASTER_URL/api/v1
cs() { echo "http://127.0.0.1:900$1"; }
# hb N JSON_EXTRA: heartbeat of server N; prints the reply.
hb() {
	cluster_post "$A/heartbeat" \
		"{\"url\":\"$(cs "$1")\",\"free_bytes\":$((100000000000 - $1))${2:+,$2}}" -f
}
for n in 1 2 3; do hb $n '"full":true,"chunks":[]' >/dev/null || fail "hb $n"; done

curl -sf -X PUT "$A/files/f" >/dev/null
h=$(curl -sf -X POST "$A/files/f/chunks" -d '{}' | jq -r .handle)
reps=$(curl -sf -X POST "$A/files/f/commit" -d "{\"size\":10,\"chunks\":[{\"index\":0,\"handle\":\"$h\",\"version\":2,\"length\":10,\"replicas\":[\"$(cs 1)\",\"$(cs 2)\"]}]}" | jq -r '.chunks[0].replicas | length')
assert_eq "$reps" 2 "commit records replicas"

# Server 2 stops heartbeating: dead, and 3 is told to copy from 1.
dead() { curl -sf "$A/status" | jq -e '[.chunkservers[] | select(.alive)] | length == 2' >/dev/null; }
# Every reply to server 3 is kept: orders may come in any of them.
keep_alive() { hb 1 >/dev/null; hb 3 >>"$T/replies3"; }
wait_for 20 "server 2 dead" bash -c "$(declare -f hb cs keep_alive dead); A=$A; T=$T; keep_alive; dead"
grep -q "chunkserver $(cs 2) is dead" "$T/master.log" || fail "death not logged"
assert_eq "$(curl -sf "$A/status" | jq .under_replicated)" 1
got_order() { jq -s -e --arg h "$h" 'map(.orders[]) | any(.op == "replicate" and .handle == $h and .sources[0] == "http://127.0.0.1:9001")' "$T/replies3" >/dev/null; }
wait_for 10 "replicate order to server 3" bash -c "$(declare -f hb cs got_order keep_alive); A=$A; h=$h; T=$T; keep_alive; got_order"
hb 3 "\"added\":[[\"$h\",2,10]]" >/dev/null
assert_eq "$(curl -sf "$A/files/f" | jq -r '.chunks[0].replicas | length')" 2 "copy counted"

# Server 2 returns with an old version: want_full, then its stale copy goes.
assert_eq "$(hb 2 | jq .want_full)" true "unknown inventory"
# (A report soon after the commit may predate it: wait out that grace.)
stale_gone() {
	hb 1 >/dev/null
	hb 3 >/dev/null
	hb 2 "\"full\":true,\"chunks\":[[\"$h\",1,10]]" | jq -e --arg h "$h" '.orders[] | select(.op == "delete" and .handle == $h)' >/dev/null
}
wait_for 10 "stale replica deleted" bash -c "$(declare -f hb cs stale_gone); A=$A; h=$h; stale_gone"

# Deleting the file: every holder is told at its next heartbeat.
curl -sf -X DELETE "$A/files/f" >/dev/null
for n in 1 3; do
	hb $n | jq -e --arg h "$h" '.orders[] | select(.op == "delete" and .handle == $h)' >/dev/null ||
		fail "server $n not told to delete"
done

# An orphan (never known) goes after the grace period, not before.
hb 1 '"added":[["00000000deadbeef",1,5]]' | jq -e '.orders | length == 0' >/dev/null || fail "orphan deleted at once"
orphan_gone() { hb 1 | jq -e '.orders[] | select(.handle == "00000000deadbeef")' >/dev/null; }
wait_for 10 "orphan deleted" bash -c "$(declare -f hb cs orphan_gone); A=$A; hb 3 >/dev/null; orphan_gone"
log "ok"

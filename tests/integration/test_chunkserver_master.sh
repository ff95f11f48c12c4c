#!/usr/bin/env bash
# Real chunkservers with a real master: their heartbeats register them and
# report their chunks; when one dies, the primary's replicate orders make
# the others copy its chunks (verified block by block) until every chunk
# has its replicas again; a replica found corrupt is reported at once and
# replaced the same way.  The file reads back byte for byte throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/chunkserver_lib.sh"

start_master --chunk-size 1MiB --replicas 2 --dead-after 1500ms
for i in 0 1 2 3; do start_chunkserver $i --heartbeat-interval 200ms; done
wait_for 10 "4 live chunkservers" alive_at_least "$MASTER_URL" 4
A=$MASTER_URL/api/v1

random_file "$T/f" $((7 << 19))   # 3.5 chunks
gfs upload "$T/f" /f || fail "upload"
total_chunks() {
	local n=0 i c
	for i in "$@"; do
		c=$(status_num "$i" chunks)
		n=$((n + ${c:-0}))
	done
	echo $n
}
assert_eq "$(total_chunks 0 1 2 3)" 8 "4 chunks x 2 replicas on the servers"

# the master hears of every replica through the heartbeats
master_counts() {
	curl -sf "$A/status" | jq '[.chunkservers[] | select(.alive) | .chunks] | add'
}
wait_for 10 "heartbeats to report 8 replicas" test "$(master_counts)" = 8

# a server dies: its chunks are copied elsewhere by order of the primary
victim=$(curl -sf "$A/files/f" | jq -r '.chunks[0].replicas[0]')
for i in 0 1 2 3; do [ "${CS_URLS[$i]}" = "$victim" ] && v=$i; done
kill9 "${CS_PIDS[$v]}"
live=()
for i in 0 1 2 3; do [ $i != $v ] && live+=($i); done
fully_replicated() {
	curl -sf "$A/files/f" | jq -e --arg dead "$victim" \
		'[.chunks[] | (.replicas | length == 2) and (index($dead) | not)] | all' \
		>/dev/null &&
		[ "$(total_chunks "${live[@]}")" = 8 ]
}
wait_for 30 "re-replication after a death" fully_replicated
grep -q "replicated chunk" "$T"/cs*.log || fail "no server logged a replication"
gfs download /f "$T/back" || fail "download"
assert_same_file "$T/back" "$T/f" "file after re-replication"

# a corrupt replica: 503 to the reader, reported, replaced
h=$(curl -sf "$A/files/f" | jq -r '.chunks[1].handle')
holder=$(curl -sf "$A/files/f" | jq -r '.chunks[1].replicas[0]')
for i in "${live[@]}"; do [ "${CS_URLS[$i]}" = "$holder" ] && c=$i; done
flip_byte "$(data_file $c "$h")" 1000
expect_error 503 corrupt "GET of the corrupt replica" "$(chunk_url $c "$h")"
wait_for 10 "the master to hear of it" \
	grep -q "reports replica $h corrupt" "$T/master.log"
# (the master may well copy it back onto the server that lost it)
slice "$T/f" $((1 << 20)) $((1 << 20)) >"$T/chunk1"
replaced() {
	local r
	[ "$(curl -sf "$A/files/f" | jq '.chunks[1].replicas | length')" = 2 ] || return 1
	for r in $(curl -sf "$A/files/f" | jq -r '.chunks[1].replicas[]'); do
		curl -sf "$r/api/v1/chunks/$h" | cmp -s - "$T/chunk1" || return 1
	done
}
wait_for 30 "the corrupt replica to be replaced" replaced
gfs download /f "$T/back2" || fail "download after the corruption"
assert_same_file "$T/back2" "$T/f" "file after the corruption"
log "ok"

#!/usr/bin/env bash
# A 200 MiB file with 64 MiB chunks: 4 chunks, each on 3 distinct
# chunkservers, consecutive chunks starting on different servers;
# it reads back identical through gfs and curl -L.
. "$(dirname "$0")/lib.sh"

start_cluster 4 --chunk-size 64MiB
cd "$T"
random_file big.bin $((200 << 20))
gfs upload big.bin /big.bin >/dev/null || fail "upload"
curl -sf "$MASTER_URL/api/v1/files/big.bin" >info.json || fail "file info"
nchunks=$(grep -o '"handle"' info.json | wc -l)
assert_eq "$nchunks" 4 "chunk count"
# one line per chunk: its replica list
grep -o '"replicas":\[[^]]*\]' info.json | sed 's/"replicas":\[//; s/\]//; s/"//g' >replicas.txt
assert_eq "$(wc -l <replicas.txt)" 4 "replica lists"
prev_first=""
while IFS= read -r line; do
	IFS=, read -ra r <<<"$line"
	assert_eq "${#r[@]}" 3 "replicas of a chunk"
	distinct=$(printf '%s\n' "${r[@]}" | sort -u | wc -l)
	assert_eq "$distinct" 3 "distinct replicas of a chunk"
	[ "${r[0]}" != "$prev_first" ] || fail "consecutive chunks start on ${r[0]}"
	prev_first=${r[0]}
done <replicas.txt
gfs download /big.bin big.out >/dev/null || fail "download"
assert_same_file big.bin big.out "gfs download"
curl -sf --location-trusted "$MASTER_URL/api/v1/content/big.bin" -o big.curl || fail "curl download"
assert_same_file big.bin big.curl "curl download"
log "ok"

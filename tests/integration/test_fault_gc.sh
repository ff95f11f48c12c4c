#!/usr/bin/env bash
# Deleting 100 files: with the default timings (heartbeats every 2 s, GC
# every 5 s) every file of their chunks disappears from every
# chunkserver's disk within 30 s, and the chunks of the files kept stay.
. "$(dirname "$0")/lib.sh"

start_cluster 4 --chunk-size 1MiB
A=$MASTER_URL/api/v1
cd "$T"
mkdir src
for i in $(seq 1 105); do
	head -c $(((i * 15013) % 1500000)) /dev/urandom >"src/g$i"
	echo "upload src/g$i"
done >cmds
gfs <cmds >/dev/null || fail "uploads"
assert_eq "$(curl -sf "$A/files?prefix=/g" | jq '.files | length')" 105 "files uploaded"

handles_of() { for f in "$@"; do curl -sf "$A/files/$f" | jq -r '.chunks[].handle'; done; }
doomed=$(handles_of $(seq -f g%g 1 100) | sort -u)
kept=$(handles_of $(seq -f g%g 101 105) | sort -u)
# every file under the servers' chunks/ (data, metas, temporaries)
disk_files() { find "$T"/cs[0-3]/chunks -type f -printf '%f\n'; }
# and every live packed record (small chunks: pack_records.py)
packed() {
	local c
	for c in "$T"/cs[0-3]; do
		python3 "$IT_DIR/pack_records.py" "$c" | cut -d' ' -f1
	done
}
on_disk() { { disk_files | cut -c1-16; packed; } | sort -u; }
present() { comm -12 <(on_disk) <(sort <<<"$1"); }
log "$(wc -w <<<"$doomed") chunks to delete, $(disk_files | wc -l) files on the disks"
assert_eq "$(present "$doomed" | wc -l)" "$(wc -w <<<"$doomed")" "every doomed chunk is on disk first"

seq -f "rm /g%g" 1 100 | gfs >/dev/null || fail "rm"
deleted=$SECONDS
gone() { [ -z "$(present "$doomed")" ]; }
wait_for 30 "the deleted files' chunks to leave every disk" gone
log "all gone from the disks $((SECONDS - deleted)) s after the rm"
assert_eq "$(present "$kept" | wc -l)" "$(wc -w <<<"$kept")" "chunks of the files kept"
for i in $(seq 101 105); do
	gfs download "/g$i" back >/dev/null || fail "download g$i"
	assert_same_file back "src/g$i" "g$i after the GC"
done
# the servers agree: only the kept chunks' replicas remain
total=$(curl -sf "$A/status" | jq '[.chunkservers[].chunks] | add')
assert_eq "$total" "$(($(wc -w <<<"$kept") * 3))" "replicas the master counts"
log "ok"

#!/usr/bin/env bash
# kill -9 the master during a stream of creates and commits from several
# writers; after a restart every acknowledged operation is there and
# nothing half-done is visible.
. "$(dirname "$0")/lib.sh"

start_master --chunk-size 1MiB --dead-after 60s
A=$MASTER_URL/api/v1
hb() {
	cluster_post "$A/heartbeat" '{"url":"http://127.0.0.1:9001","full":true,"chunks":[],"free_bytes":100000000000}' -f
}
hb >/dev/null || fail heartbeat

# writer W: create, allocate, commit, forever; acknowledged steps are
# appended to $T/acked.W ("create PATH" / "commit PATH SIZE HANDLE").
writer() {
	local w=$1 n=0 p h size
	while :; do
		n=$((n + 1))
		p="/w$w/f$n"
		[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$A/files$p")" = 201 ] || continue
		echo "create $p" >>"$T/acked.$w"
		h=$(curl -sf -X POST "$A/files$p/chunks" -d '{"index":0}' | jq -r .handle) || continue
		[ -n "$h" ] && [ "$h" != null ] || continue
		size=$((n * 7 + w))
		[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$A/files$p/commit" \
			-d "{\"size\":$size,\"chunks\":[{\"index\":0,\"handle\":\"$h\",\"version\":1,\"length\":$size}]}")" = 200 ] || continue
		echo "commit $p $size $h" >>"$T/acked.$w"
	done
}
WP=()
for w in 1 2 3 4; do writer $w & WP+=($!); PIDS+=($!); done
wait_for 20 "some commits" bash -c "cat $T/acked.* 2>/dev/null | grep -c commit | grep -qv '^[0-9]\$\|^[0-4][0-9]\$'"
kill9 "$MASTER_PID"
for p in "${WP[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
n_acked=$(cat "$T"/acked.* | wc -l)
log "killed the master after $n_acked acknowledged operations"

restart_master --chunk-size 1MiB --dead-after 60s
hb >/dev/null || fail "heartbeat after restart"
curl -sf "$A/files?prefix=/" >"$T/listing" || fail listing
# Every acknowledged create exists; every acknowledged commit has its size
# and handle.
while read -r op p size h; do
	case $op in
	create) jq -e --arg p "$p" '.files[] | select(.path == $p)' "$T/listing" >/dev/null ||
		fail "acknowledged create $p lost" ;;
	commit) got=$(curl -sf "$A/files$p" | jq -r '"\(.size) \(.chunks[0].handle)"')
		assert_eq "$got" "$size $h" "acknowledged commit of $p" ;;
	esac
done < <(cat "$T"/acked.*)
# Nothing half-done: every file is either empty without chunks or holds
# exactly one chunk whose length is its size.
bad=$(for p in $(jq -r '.files[].path' "$T/listing"); do
	curl -sf "$A/files$p" >"$T/one" || echo "$p(unreadable)"
	jq -r 'select(((.size == 0 and (.chunks|length) == 0) or ((.chunks|length) == 1 and .chunks[0].length == .size)) | not) | .path' "$T/one" ||
		echo "$p(bad reply)"
done)
[ "$(jq '.files | length' "$T/listing")" -ge "$(grep -hc create "$T"/acked.* | paste -sd+ | bc)" ] || fail "fewer files than acknowledged creates"
[ -z "$bad" ] || fail "half-done files: $bad"
grep -q "dropping torn tail" "$T/master.log" && log "(a torn tail was dropped)"
log "ok: $n_acked acknowledged operations survived"

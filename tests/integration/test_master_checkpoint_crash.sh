#!/usr/bin/env bash
# kill -9 of the master while a checkpoint is being written (by a forked
# child, which is caught and held stopped first, so the kill surely lands
# mid-checkpoint): the writer dies with the master, and after a restart
# every acknowledged operation is there.  A later checkpoint succeeds over
# the writer's leftover file, and a second crash restores from it.
# (--checkpoint-every 1: with writers running, a checkpoint of the 1,000
# files is being written most of the time.)
. "$(dirname "$0")/lib.sh"

MARGS=(--chunk-size 1MiB --checkpoint-every 1 --dead-after 60s)
start_master "${MARGS[@]}"
A=$MASTER_URL/api/v1
hb() {
	cluster_post "$A/heartbeat" '{"url":"http://127.0.0.1:9001","full":true,"chunks":[],"free_bytes":100000000000}' -f
}
hb >/dev/null || fail heartbeat

# Enough files that a checkpoint takes a little while.
printf 'url = "%s"\noutput = /dev/null\n' $(seq -f "$A/files/base/f%g" 1 1000) |
	curl -s --parallel --parallel-max 16 -X PUT -w '%{http_code}\n' -K - 2>/dev/null |
	grep -c '^201$' | grep -qx 1000 || fail "creating 1000 files"

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
start_writers() { WP=(); for w in 1 2 3 4; do writer $w & WP+=($!); PIDS+=($!); done; }
stop_writers() { for p in "${WP[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }

# The master's only children are checkpoint writers: hold one stopped.
catch_writer() {
	local c
	for c in $(pgrep -P "$MASTER_PID"); do
		kill -STOP "$c" 2>/dev/null || continue
		if grep -q '^State:.*stopped' "/proc/$c/status" 2>/dev/null; then
			echo "$c" >"$T/writer"
			return 0
		fi
	done
	return 1
}
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:.*zombie' "/proc/$1/status"; }

# Every acknowledged create exists; every acknowledged commit has its size
# and handle.
check_acked() {
	local op p size h got
	curl -sf "$A/files?prefix=/w" >"$T/listing" || fail listing
	while read -r op p size h; do
		case $op in
		create) jq -e --arg p "$p" '.files[] | select(.path == $p)' "$T/listing" >/dev/null ||
			fail "acknowledged create $p lost" ;;
		commit) got=$(curl -sf "$A/files$p" | jq -r '"\(.size) \(.chunks[0].handle)"')
			assert_eq "$got" "$size $h" "acknowledged commit of $p" ;;
		esac
	done < <(cat "$T"/acked.*)
	assert_eq "$(curl -sf "$A/files?prefix=/base/" | jq '.files | length')" 1000 "base files"
}

start_writers
wait_for 30 "a checkpoint writer to catch" catch_writer
CHILD=$(cat "$T/writer")
kill9 "$MASTER_PID"
stop_writers
wait_for 5 "the writer to die with its master" gone "$CHILD"
log "killed the master during a checkpoint, after $(cat "$T"/acked.* | wc -l) acknowledged operations"

restart_master "${MARGS[@]}"
hb >/dev/null || fail "heartbeat after restart"
check_acked
log "all acknowledged operations survived; $(ls "$T/master" | tr '\n' ' ')"

# A checkpoint after the restart completes, and a crash restores from it.
done_before=$(grep -c "checkpoint at record" "$T/master.log")
start_writers
wait_for 30 "a checkpoint after the restart" \
	bash -c "[ \$(grep -c 'checkpoint at record' '$T/master.log') -gt $done_before ]"
stop_writers
[ ! -e "$T/master/checkpoint.tmp" ] || grep -q "checkpoint at record" "$T/master.log" ||
	fail "leftover checkpoint.tmp"
kill9 "$MASTER_PID"
restart_master "${MARGS[@]}"
hb >/dev/null || fail "heartbeat after the second restart"
check_acked
grep "loaded" "$T/master.log" | tail -n1 >&2
log "ok"

#!/usr/bin/env bash
# Mutations made in the event thread (a plain PUT, DELETE, commit:
# docs/MASTER.md "HTTP server") are acknowledged by whichever thread
# completes their durability, never before, never not at all:
#   - a DELETE logged just before the backup is stopped (SIGSTOP) is
#     answered 503 once the in-sync set's deadline (5 s) passed, as a
#     worker's wait answers: not 200 (the backup lacks it), and not never
#     (and one whose client gave up meanwhile is ended too);
#   - nor is one answered before the primary's own fdatasync, made slow
#     (slow_sync.c) while the backup's is not;
#   - sixteen clients deleting at once share fdatasyncs (group commit:
#     fewer fsyncs than records, from /metrics);
#   - several writers create, commit and delete files while the backup is
#     stopped for longer than that deadline and resumed; no call hangs,
#     and after kill -9 of the primary every acknowledged commit and
#     delete is in the op logs of both masters (oplog_records.py).
. "$(dirname "$0")/lib.sh"
MARGS=(--chunk-size 1MiB --failover-timeout 60s --dead-after 60s
	--checkpoint-every 10000000)
# the primary's syncs wait as many ms as $T/slow.master says (none yet)
cc -shared -fPIC -o "$T/slow_sync.so" "$(dirname "$0")/slow_sync.c" -ldl ||
	fail "cannot build slow_sync.so"
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
LD_PRELOAD=$T/slow_sync.so GFS_SLOW_SYNC_FILE=$T/slow.master \
	start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
A=$MASTER_URL/api/v1
RECORDS=$(dirname "$0")/oplog_records.py
hb() {
	cluster_post "$A/heartbeat" '{"url":"http://127.0.0.1:9001","full":true,"chunks":[],"free_bytes":100000000000}' -f
}
attached() { curl -sf --max-time 2 "$A/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 15 "backup attached" attached
wait_for 10 "heartbeat taken" hb
wait_for 10 "out of probation" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X PUT '$A/files/probe')\" = 201 ]"

# 1. one DELETE held while the backup is stopped: 503 at the deadline
[ "$(http_status PUT "$A/files/held")" = 201 ] || fail "create /held"
[ "$(http_status PUT "$A/files/gone")" = 201 ] || fail "create /gone"
kill -STOP "$BACKUP_PID"
# one whose client gives up first: released and ended all the same
curl -s -o /dev/null --max-time 1 -X DELETE "$A/files/gone"
out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 15 \
	-X DELETE "$A/files/held")
kill -CONT "$BACKUP_PID"
read -r code secs <<<"$out"
log "DELETE while the backup is stopped: $code after $secs s"
assert_eq "$code" 503 "a DELETE the backup never acknowledged"
awk -v s="$secs" 'BEGIN { exit !(s >= 4.5 && s < 9) }' ||
	fail "the held DELETE was answered after $secs s, not at the 5 s deadline"
wait_for 15 "backup attached again" attached

# 1b. nor before the primary's own fdatasync, however late (1.5 s here)
created() { [ "$(http_status PUT "$A/files/$1")" = 201 ]; }
wait_for 15 "writable again (create /slow)" created slow
echo 1500 >"$T/slow.master"
out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 15 \
	-X DELETE "$A/files/slow")
echo 0 >"$T/slow.master"
read -r code secs <<<"$out"
log "DELETE while the primary's fdatasync takes 1.5 s: $code after $secs s"
assert_eq "$code" 200 "a DELETE with a slow disk"
awk -v s="$secs" 'BEGIN { exit !(s >= 1.4) }' ||
	fail "the DELETE was acknowledged after $secs s, before its fdatasync"

# 2. sixteen clients deleting at once share fdatasyncs
for i in $(seq 1 16); do mkdir -p "$T/urls"; : >"$T/urls/$i"; done
for c in $(seq 1 16); do
	for i in $(seq 1 40); do
		curl -s -o /dev/null -X PUT "$A/files/g$c/f$i"
		printf 'url = "%s"\noutput = "/dev/null"\n' "$A/files/g$c/f$i" >>"$T/urls/$c"
	done
done
metric() { curl -s "$A/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
f0=$(metric gfs_master_oplog_fsyncs_total); r0=$(metric gfs_master_oplog_records_total)
GP=()
for c in $(seq 1 16); do
	curl -s -X DELETE -K "$T/urls/$c" & GP+=($!)
done
for p in "${GP[@]}"; do wait "$p"; done
f1=$(metric gfs_master_oplog_fsyncs_total); r1=$(metric gfs_master_oplog_records_total)
log "16 clients: $((r1 - r0)) records in $((f1 - f0)) fsyncs"
[ $((r1 - r0)) -ge 600 ] || fail "only $((r1 - r0)) records for 640 deletes"
[ $(((f1 - f0) * 10)) -le $(((r1 - r0) * 7)) ] ||
	fail "$((f1 - f0)) fsyncs for $((r1 - r0)) records: no group commit"
# 3. writers through a pause longer than the deadline, then kill -9
# writer W: create (worker), alloc, commit and delete (event thread);
# "commit P" / "delete P" go to acked.W when answered 2xx, and every
# call's status and time to calls.W.
call() { # METHOD URL [DATA]: prints the status; logs it
	local o
	o=$(curl -s -o "$T/body.$w" -w '%{http_code} %{time_total}' --max-time 12 \
		-X "$1" ${3:+-d "$3"} "$2")
	echo "$1 $o" >>"$T/calls.$w"
	echo "${o%% *}"
}
writer() {
	local n=0 p h size
	w=$1
	while :; do
		n=$((n + 1))
		p="/w$w/f$n"
		[ "$(call PUT "$A/files$p")" = 201 ] || continue
		[ "$(call POST "$A/files$p/chunks" '{"index":0}')" = 200 ] || continue
		h=$(jq -r .handle "$T/body.$w")
		size=$((n * 7 + w))
		[ "$(call POST "$A/files$p/commit" \
			"{\"size\":$size,\"chunks\":[{\"index\":0,\"handle\":\"$h\",\"version\":1,\"length\":$size}]}")" = 200 ] || continue
		echo "commit $p" >>"$T/acked.$w"
		if [ $((n % 2)) = 0 ]; then
			[ "$(call DELETE "$A/files$p")" = 200 ] &&
				echo "delete $p" >>"$T/acked.$w"
		fi
	done
}
WP=()
for w in 1 2 3 4; do writer $w & WP+=($!); PIDS+=($!); done
acked() { cat "$T"/acked.* 2>/dev/null | wc -l; }
wait_for 20 "some acknowledged mutations" bash -c "[ \$(cat $T/acked.* 2>/dev/null | wc -l) -ge 40 ]"
kill -STOP "$BACKUP_PID"
sleep 7
kill -CONT "$BACKUP_PID"
before=$(acked)
wait_for 60 "mutations acknowledged after the pause" bash -c "[ \$(cat $T/acked.* 2>/dev/null | wc -l) -ge $((before + 20)) ]"
kill9 "$MASTER_PID"
for p in "${WP[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
kill9 "$BACKUP_PID"
log "$(acked) acknowledged commits and deletes"
hung=$(cat "$T"/calls.* | awk '$3 >= 11' | head -5)
[ -z "$hung" ] || fail "calls not answered in time: $hung"
cat "$T"/calls.* | awk '$2 == 503 && $3 >= 4' |
	grep -q . || fail "no mutation waited for the stopped backup until the deadline"
for d in master backup; do
	python3 "$RECORDS" "$T/$d" | awk '{ print $2, $3 }' | sort -u >"$T/records.$d" ||
		fail "reading the op log of the $d"
done
miss=$(cat "$T"/acked.* | sed 's/^commit /COMMIT /; s/^delete /DELETE /' | sort -u |
	while read -r op p; do
		for d in master backup; do
			grep -qxF "$op $p" "$T/records.$d" || echo "$d lacks $op $p"
		done
	done | head -5)
[ -z "$miss" ] || fail "acknowledged but not in both logs: $miss"

log ok

#!/usr/bin/env bash
# The op log is bounded by checkpoints: after ~5000 mutations with
# --checkpoint-every 200, the log segments on the primary's and the
# backup's disks stay a few records long; kill -9 of the primary and a
# restart from checkpoint + log tail restores exactly the same state.
. "$(dirname "$0")/lib.sh"

MARGS=(--chunk-size 1MiB --checkpoint-every 200 --failover-timeout 60s --dead-after 3s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
A=$MASTER_URL/api/v1
B=$BACKUP_URL/api/v1
hb() {
	cluster_post "$A/heartbeat" '{"url":"http://127.0.0.1:9001","full":true,"chunks":[],"free_bytes":100000000000}' -f
}
hb >/dev/null || fail heartbeat
attached() { curl -sf "$A/status" | jq -e '.backup.attached' >/dev/null; }
wait_for 10 "backup attached" attached

# curl_all METHOD EXPECTED URL...: every request in parallel batches
# over kept-alive connections; fails unless each answers EXPECTED.
curl_all() {
	local m=$1 want=$2 bad
	shift 2
	bad=$(printf 'url = "%s"\noutput = /dev/null\n' "$@" |
		curl -s --parallel --parallel-max 16 -w '%{http_code}\n' \
			-X "$m" -H 'X-GFS-Client: tester' -K - 2>/dev/null |
		grep -cv "^$want\$")
	[ "$bad" = 0 ] || fail "$bad of $# $m requests did not answer $want"
}
urls() { local p; for p in "$@"; do echo "$A/files$p"; done; }
curl_all PUT 201 $(urls $(seq -f /d%02g 0 29 | while read -r d; do seq -f "$d/f%g" 1 100; done))
curl_all DELETE 200 $(urls $(seq -f /d%02g 0 29 | while read -r d; do seq -f "$d/f%g" 1 2 100; done))
curl_all PUT 201 $(urls $(seq -f /d%02g 0 9 | while read -r d; do seq -f "$d/g%g" 1 10; done))
curl_all POST 200 $(for i in $(seq 1 9); do echo "$A/files/d0$i/f2?op=rename&to=/moved/m$i"; done)
curl -sf -X PUT -H 'X-GFS-Client: tester' "$A/leases/moved/m1?ttl=3600" >/dev/null || fail lease
for i in $(seq 1 50); do
	p=/c/file$i
	hb >/dev/null || fail "heartbeat" # the fake chunkserver stays alive
	curl -sf -X PUT "$A/files$p" >/dev/null || fail "create $p"
	h=$(curl -sf -X POST "$A/files$p/chunks" -d '{"index":0}' | jq -r .handle)
	curl -sf -X POST "$A/files$p/commit" -d "{\"size\":$((i * 1000)),\"chunks\":[{\"index\":0,\"handle\":\"$h\",\"version\":2,\"length\":$((i * 1000))}]}" >/dev/null ||
		fail "commit $p"
done
# The bursts above come faster than checkpoints are written, so one
# segment may hold many checkpoints' worth; the next two checkpoints drop
# it.  One request at a time: each interval is then 200 records.
printf 'url = "%s"\noutput = /dev/null\n' $(seq -f "$A/files/s/f%g" 1 450) |
	curl -sf -X PUT -H 'X-GFS-Client: tester' -K - || fail "serial creates"
seq=$(curl -sf "$A/status" | jq .seq)
log "$seq log records written"
[ "$seq" -gt 4000 ] || fail "only $seq records: the test needs more"

# the bytes of the segments' headers and records, not of their files
# (each is longer by its pre-written zeros, docs/MASTER.md)
log_bytes() { python3 "$(dirname "$0")/oplog_records.py" --bytes "$1"; }
segments() { ls "$1" | grep -c '^log\.'; }
bounded() { [ "$(log_bytes "$1")" -lt $((64 << 10)) ] && [ "$(segments "$1")" -le 3 ]; }
for d in master backup; do
	wait_for 10 "$d's log to be cut by a checkpoint" bounded "$T/$d"
	log "$d: $(segments "$T/$d") log segments, $(log_bytes "$T/$d") bytes; checkpoint $(wc -c <"$T/$d/checkpoint") bytes"
done

# The state as a client sees it: the listing, and every committed chunk.
state() {
	curl -sf "$1/files?prefix=/" | jq -c '.files[] | [.path, .size, .mtime_ns, .mode]'
	for i in $(seq 1 50); do
		curl -sf "$1/files/c/file$i" | jq -c '[.path, (.chunks[] | [.index, .handle, .version, .length])]'
	done
	curl -sf "$1/leases/moved/m1" | jq -c '[.holder, .expires_ms]'
}
state "$A" >"$T/before"
assert_eq "$(curl -sf "$A/files?prefix=/" | jq '.files | length')" $((30 * 50 + 100 + 50 + 450)) \
	"files before the restart"
# The backup sends readers of a chunk it cannot locate to the primary
# (421) until no heartbeat can bring its replicas (--dead-after after the
# commit); these chunks have none anywhere, and then it says so.
backup_agrees() { state "$B" >"$T/backup_state" && cmp -s "$T/backup_state" "$T/before"; }
wait_for 15 "the backup's state to be the primary's" backup_agrees

kill9 "$BACKUP_PID"
kill9 "$MASTER_PID"
start=$(date +%s%N)
restart_master "${MARGS[@]}"
log "restarted in $((($(date +%s%N) - start) / 1000000)) ms"
# The restarted primary waits for the backup it had attached, which is
# gone for good here: the operator says so.
MASTERS=$MASTER_URL gfs detach || fail "gfs detach"
grep "loaded" "$T/master.log" | tail -n1 >&2
state "$A" >"$T/after"
assert_same_file "$T/after" "$T/before" "the state after kill -9 and restart"
hb >/dev/null || fail "heartbeat after restart"
ready() { [ "$(http_status PUT "$A/files/after")" = 201 ]; }
wait_for 10 "the restarted primary to take a create" ready
log "ok"

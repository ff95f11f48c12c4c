#!/usr/bin/env bash
# The op-log stream (master/stream.h): the backup follows the primary
# over one upgraded connection.  A stream read from outside holds every
# record in order, read back or pushed as written; streams that break the protocol are closed and change
# nothing, and one that reads nothing holds nothing up; what a mutation's
# acknowledgement waited for is on the backup's disk when the primary is
# killed (kill -9) right after it.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
MARGS=(--chunk-size 1MiB --failover-timeout 2s)
start_master "${MARGS[@]}"
start_backup "${MARGS[@]}"
P=$MASTER_URL/api/v1; B=$BACKUP_URL/api/v1
attached() { curl -sf --max-time 2 "$P/status" | jq -e '.backup.attached' >/dev/null; }
seq_of() { curl -sf --max-time 2 "$1/status" | jq -r .seq; }
same_seq() { [ "$(seq_of "$P")" = "$(seq_of "$B")" ]; }
role() { curl -sf --max-time 2 "$1/status" | jq -r .role; }
created() { [ "$(http_status PUT "$P/files/$1")" = 201 ] || fail "create $1"; }
# oplog_stream.py MODE [ARG], signed as a server of the cluster
stream() {
	local f=http://127.0.0.1:9/$1
	GFS_AUTH_LINE=$([ "$GFS_AUTH" = 1 ] && gfs_sign "$SECRET_FILE" GET \
		"$MASTER_URL/api/v1/oplog?from=1&wait_ms=1000&stream=1") \
		timeout 20 python3 "$HERE/oplog_stream.py" "$MASTER_URL" "$f" "$@"
}
wait_for 15 "backup attached" attached
wait_for 10 "the backup follows over a stream" \
	grep -q "oplog stream of $BACKUP_URL from record" "$T/master.log"

# asked badly: a JSON 400 (401 unsigned), no upgrade
up=(-H 'Connection: Upgrade' -H 'Upgrade: gfs-oplog')
code=$(curl -s -o "$T/r.json" -w '%{http_code}' "${up[@]}" \
	-H 'X-GFS-Backup: http://x' "$P/oplog?from=1&stream=1")
[ "$code" = 401 ] || fail "an unsigned stream: $code"
code=$(cluster_curl GET "$P/oplog?from=1&stream=1" -o "$T/r.json" \
	-w '%{http_code}' "${up[@]}")
[ "$code" = 400 ] && jq -e .error "$T/r.json" >/dev/null ||
	fail "a stream without X-GFS-Backup: $code $(cat "$T/r.json")"
code=$(cluster_curl GET "$P/oplog?from=1&stream=1" -o "$T/r.json" \
	-w '%{http_code}' -H 'X-GFS-Backup: http://x')
[ "$code" = 400 ] || fail "a stream without Upgrade: $code"
code=$(cluster_curl GET "$P/oplog?from=1&stream=1" -o /dev/null \
	-w '%{http_code}' "${up[@]}" -H $'X-GFS-Backup: http://\xff\xfe')
[ "$code" = 400 ] || fail "a stream named by bytes that are not UTF-8: $code"
code=$(cluster_curl GET "$P/oplog?from=0&stream=1" -o /dev/null \
	-w '%{http_code}' "${up[@]}" -H 'X-GFS-Backup: http://x')
[ "$code" = 400 ] || fail "a stream from record 0: $code"

# frames no follower sends: the primary closes the stream, and goes on
for mode in garbage badack huge beyond; do
	out=$(stream "$mode") || fail "$mode: $out"
	[ "$out" = closed ] || fail "$mode: the stream stayed open: $out"
done
grep -q "oplog stream of http://127.0.0.1:9/garbage" "$T/master.log" ||
	fail "the garbage stream was never served"

# a stream that reads nothing while 200 files are created: no hold-up
stream mute 5 >"$T/mute.out" 2>&1 &
MUTE=$!
for i in $(seq 1 200); do created "m$i"; done
wait "$MUTE" || fail "the mute stream: $(cat "$T/mute.out")"
attached || fail "the backup is no longer attached"

# read from outside: every record so far, in order, CRCs checked
n=$(seq_of "$P")
out=$(stream read "$n") || fail "reading the stream: $out"
[[ "$out" == "records $((n - 1)) "* ]] || fail "read from outside: $out"
wait_for 10 "the backup holds every record" same_seq

# read from outside while records are made: the stream's own thread
# catches it up, then the group commit pushes each batch as it writes it;
# the two hand over with every record in order, CRCs checked
n=$(seq_of "$P")
reads() { grep -c "oplog stream of http://127.0.0.1:9/read from" "$T/master.log"; }
r0=$(reads)
stream read $((n + 100)) >"$T/live.out" 2>&1 &
LIVE=$!
wait_for 10 "the live reader streams" eval '[ "$(reads)" -gt "$r0" ]'
for ((i = 1; i <= 300 && $(seq_of "$P") < n + 100; i++)); do
	created "l$i"
done
wait "$LIVE" || fail "reading the stream live: $(cat "$T/live.out")"
[[ "$(cat "$T/live.out")" == "records $((n + 99)) "* ]] ||
	fail "read live: $(cat "$T/live.out")"
pushed=$(cluster_curl GET "$MASTER_URL/metrics" |
	sed -n 's/^gfs_master_oplog_stream_frames_total{by="push"} //p')
[ "${pushed:-0}" -gt 0 ] || fail "no record was pushed as written"

# acknowledged means on the backup's disk: kill -9 right after the last
for i in $(seq 1 30); do created "k$i"; done
kill -9 "$MASTER_PID"
wait_for 20 "the backup took over" eval '[ "$(role "$B")" = primary ]'
for f in $(seq -f 'k%g' 1 30) m198 m199 m200; do
	[ "$(http_status GET "$B/files/$f?stat=1")" = 200 ] ||
		fail "$f, acknowledged, is not on the backup that took over"
done
log ok

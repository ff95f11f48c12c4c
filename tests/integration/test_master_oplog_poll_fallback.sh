#!/usr/bin/env bash
# A backup whose primary does not speak the op-log stream (an older
# master: old_master.py no-stream answers the stream's request as
# one does, 200) follows it by polling /oplog, as before streams: it attaches, and
# mutations are acknowledged with it; it asks for a stream again only
# after a minute.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
start_master --chunk-size 1MiB
PPORT=$(free_port)
echo no-stream >"$T/mode"
python3 "$HERE/old_master.py" "$PPORT" "${MASTER_URL##*:}" "$T/mode" \
	"$T/proxy.log" &
PIDS+=("$!")
wait_for 10 "the proxy" http_ok "http://127.0.0.1:$PPORT/api/v1/healthz"
REAL=$MASTER_URL
MASTER_URL=http://127.0.0.1:$PPORT
start_backup --chunk-size 1MiB
MASTER_URL=$REAL
P=$MASTER_URL/api/v1; B=$BACKUP_URL/api/v1
attached() { curl -sf --max-time 2 "$P/status" | jq -e '.backup.attached' >/dev/null; }
seq_of() { curl -sf --max-time 2 "$1/status" | jq -r .seq; }
same_seq() { [ "$(seq_of "$P")" = "$(seq_of "$B")" ]; }
polls() { [ "$(grep -c '^GET /api/v1/oplog$' "$T/proxy.log")" -ge "$1" ]; }
wait_for 15 "backup attached" attached
for i in $(seq 1 20); do
	[ "$(http_status PUT "$P/files/f$i")" = 201 ] || fail "create f$i"
done
wait_for 10 "the backup holds every record" same_seq
grep -q '^GET /api/v1/oplog stream (answered here)$' "$T/proxy.log" ||
	fail "the backup never asked for a stream"
n=$(grep -c '^GET /api/v1/oplog$' "$T/proxy.log")
wait_for 10 "the backup goes on polling" polls $((n + 3))
[ "$(grep -c 'stream (answered here)' "$T/proxy.log")" = 1 ] ||
	fail "asked for a stream again within the minute"
grep -q "oplog stream of" "$T/master.log" && fail "the primary served a stream"
log ok
